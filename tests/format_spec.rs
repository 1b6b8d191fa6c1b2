//! The store format is a promise: docs/DESIGN.md specifies it, a committed
//! store (tests/vectors/store-v1.sql) pins it, and an independent reader
//! (tests/common/spec.rs, written from the document alone) checks both that
//! the committed store opens with today's code and that today's code writes
//! what the document says.
//!
//! To regenerate the vector after a deliberate format change (which also
//! bumps the format version): `cargo test --test format_spec -- --ignored`.

mod common;

use chatvault::{ConversationId, MessageId, NewConversation, NewMessage, Page, Store, StoreKey};
use common::dump;
use common::spec::{Meta, Root, SpecStore};

const VECTOR: &str = include_str!("vectors/store-v1.sql");
const PASSPHRASE: &str = "chatvault format vector";

/// Builds the vector's content. Keys and nonces are random, so the bytes
/// differ on every run, but the content is fixed.
fn build(store: &Store) {
    let alice = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_alice".into()),
            title: "Alice 爱丽丝".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![1, 2, 3],
            created_at_ms: Some(1_600_000_000_000),
        })
        .unwrap();
    let m1 = store
        .append(
            alice,
            NewMessage {
                external_id: Some("srv-1".into()),
                sender: "alice".into(),
                sent_at_ms: 1_700_000_000_000,
                text: "bonjour 你好 👋".into(),
                reply_to: None,
                extra: vec![7],
            },
        )
        .unwrap();
    let mk = |text: &str, reply_to| NewMessage {
        sender: "me".into(),
        sent_at_ms: 1_700_000_001_000,
        text: text.into(),
        reply_to,
        ..Default::default()
    };
    let batch = store
        .append_batch(&[(alice, mk("two", None)), (alice, mk("three", Some(m1))), (alice, mk("four", None))])
        .unwrap();
    store.edit_message(batch[0], "deux").unwrap();
    store.delete_message(batch[2]).unwrap();
    store.mark_read(alice, batch[1]).unwrap();

    let group = store
        .create_conversation(NewConversation {
            title: "Group".into(),
            created_at_ms: Some(1_600_000_000_001),
            ..Default::default()
        })
        .unwrap();
    store.append(group, mk("before rotation", None)).unwrap();
    store.rotate_conversation_key(group).unwrap();
    store.append(group, mk("after rotation", None)).unwrap();
}

/// What [`build`] stored, checked through the public API.
fn check_api(store: &Store) {
    let alice = store.find_conversation("wxid_alice").unwrap().expect("alice");
    let conv = store.conversation(alice).unwrap();
    assert_eq!(conv.title, "Alice 爱丽丝");
    assert_eq!(conv.members, ["me", "alice"]);
    assert_eq!(conv.app_data, [1, 2, 3]);
    assert_eq!(conv.created_at_ms, 1_600_000_000_000);
    assert_eq!(conv.read_up_to, Some(MessageId::new(alice, 3)));
    let msgs = store.messages(alice, Page::latest(10)).unwrap();
    let texts: Vec<_> = msgs.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["bonjour 你好 👋", "deux", "three"]);
    assert_eq!(msgs[0].external_id.as_deref(), Some("srv-1"));
    assert_eq!(msgs[0].extra, [7]);
    assert!(msgs[1].edited_at_ms.is_some());
    assert_eq!(msgs[2].reply_to, Some(msgs[0].id));
    let again = store.append(alice, NewMessage { external_id: Some("srv-1".into()), ..Default::default() });
    assert_eq!(again.unwrap(), msgs[0].id, "the external-id index works");

    let list = store.conversations().unwrap();
    let group = list.iter().find(|s| s.conversation.title == "Group").expect("group").conversation.id;
    let texts: Vec<_> =
        store.messages(group, Page::latest(10)).unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["before rotation", "after rotation"]);
}

/// What [`build`] stored, checked by the document's rules alone.
fn check_spec(spec: &SpecStore, alice: u64, group: u64) {
    let meta = spec.meta(alice);
    assert_eq!(
        meta,
        Meta {
            external_id: Some("wxid_alice".into()),
            title: "Alice 爱丽丝".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![1, 2, 3],
            created_at_ms: 1_600_000_000_000,
            read_up_to: Some(3),
        }
    );
    let msgs = spec.messages(alice);
    let seqs: Vec<_> = msgs.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(msgs[0].1.text, "bonjour 你好 👋");
    assert_eq!(msgs[0].1.external_id.as_deref(), Some("srv-1"));
    assert_eq!(msgs[1].1.text, "deux");
    assert_eq!(msgs[2].1.reply_to, Some(1));

    let segs = spec.segments(alice);
    assert_eq!(segs.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(), [(1, 1), (2, 4)]);

    let conv_hash: Vec<u8> = spec
        .conn
        .query_row("SELECT ext_hash FROM conversation WHERE id = ?1", [alice as i64], |r| r.get(0))
        .unwrap();
    assert_eq!(conv_hash, spec.hash(&[b"conversation\0", b"wxid_alice"]));
    let (msg_hash, seq): (Vec<u8>, i64) = spec
        .conn
        .query_row(
            "SELECT ext_hash, seq FROM recent_ref WHERE conversation = ?1
             UNION ALL SELECT ext_hash, seq FROM message_ref WHERE conversation = ?1",
            [alice as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(msg_hash, spec.hash(&[b"message\0", &alice.to_be_bytes(), b"srv-1"]));
    assert_eq!(seq, 1);

    let epochs: Vec<u32> = spec.segments(group).iter().map(|s| s.2).collect();
    assert_eq!(epochs, [0, 1]);
    assert_eq!(spec.meta(group).title, "Group");
    let texts: Vec<_> = spec.messages(group).into_iter().map(|(_, m)| m.text).collect();
    assert_eq!(texts, ["before rotation", "after rotation"]);
}

fn schema(path: &std::path::Path) -> Vec<String> {
    rusqlite::Connection::open(path)
        .unwrap()
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn committed_format_1_store_opens_with_todays_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.chatvault");
    dump::load(VECTOR, &path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(chatvault::Error::WrongKey)));
    let store = Store::open(&path, StoreKey::passphrase(PASSPHRASE)).unwrap();
    check_api(&store);
}

#[test]
fn committed_format_1_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.chatvault");
    dump::load(VECTOR, &path);
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    check_spec(&spec, 1, 2);
}

#[test]
fn todays_code_writes_what_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.chatvault");
    let key = [0x5A; 32];
    let store = Store::create(&path, StoreKey::raw(key)).unwrap();
    build(&store);
    check_api(&store);
    let spec = SpecStore::open(&path, Root::Raw(key));
    check_spec(&spec, 1, 2);
    drop(spec);
    drop(store);

    // Same schema as the committed format-1 store.
    let vector = dir.path().join("vector.chatvault");
    dump::load(VECTOR, &vector);
    assert_eq!(schema(&path), schema(&vector), "the schema changed: that is a new format version");
    let _ = ConversationId::from_raw(0);
}

#[test]
#[ignore = "writes tests/vectors/store-v1.sql; run only on a deliberate format change"]
fn regenerate_store_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.chatvault");
    let store = Store::create(&path, StoreKey::passphrase(PASSPHRASE)).unwrap();
    build(&store);
    store.close().unwrap();
    let header = "-- chatvault store format 1: a test vector (see tests/format_spec.rs).\n\
                  -- Passphrase: \"chatvault format vector\", Argon2id m=19456 KiB, t=2, p=1.\n";
    let out = format!("{header}{}", dump::dump(&path));
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/store-v1.sql"), out).unwrap();
}
