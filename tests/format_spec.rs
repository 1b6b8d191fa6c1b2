//! The store format is a promise: docs/DESIGN.md specifies it, committed
//! stores pin it (tests/vectors/store-v1.sql, written by chatvault 0.1.0 in
//! format 1, and tests/vectors/store-v2.sql, format 2), and an independent
//! reader (tests/common/spec.rs, written from the document alone) checks
//! that the committed stores open with today's code, that they decode by
//! the document, and that today's code writes what the document says.
//!
//! To regenerate the format-2 vector after a deliberate format change (which
//! also bumps the format version): `cargo test --test format_spec -- --ignored`.
//! The format-1 vector is never regenerated: today's code cannot write
//! format 1, and stores 0.1.0 wrote must keep opening.

mod common;

use std::path::{Path, PathBuf};

use chatvault::{
    Clock, CompactOptions, ConversationId, Error, Message, MessageId, NewConversation, NewMessage, Page,
    Store, StoreKey, StoreOptions,
};
use common::dump;
use common::spec::{
    self, CODEC_STORED, CODEC_ZSTD, ENVELOPE_V1, ENVELOPE_V2, FRAME_HEADER, KIND_META, KIND_SEGMENT, Meta,
    Root, SpecStore,
};

const VECTOR_V1: &str = include_str!("vectors/store-v1.sql");
const VECTOR_V2: &str = include_str!("vectors/store-v2.sql");
const PASSPHRASE: &str = "chatvault format vector";

/// The clock the format-2 vector was built with, and is read with
/// (2025-06-15T15:06:40Z).
const NOW: i64 = 1_750_000_000_000;
/// An expiry already past at [`NOW`].
const PAST: i64 = NOW - 1;
/// 2100-01-01T00:00:00Z: an expiry still ahead.
const YEAR_2100: i64 = 4_102_444_800_000;
/// An expiry later than the group's retention allows.
const LATER: i64 = 9_000_000_000_000;
/// The group's retention: 100 years, so messages it dates stay visible.
const RETENTION: u64 = 100 * 365 * 86_400_000;
/// `sent_at_ms` of most messages.
const SENT: i64 = 1_700_000_001_000;

fn fixed_clock() -> StoreOptions {
    StoreOptions { clock: Clock::new(|| NOW), ..Default::default() }
}

fn load(sql: &str, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    dump::load(sql, &path);
    path
}

fn user_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

/// Every table's and index's SQL text, by name.
fn schema(path: &Path) -> Vec<String> {
    rusqlite::Connection::open(path)
        .unwrap()
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The schema as SQLite understands it, whatever its SQL text: every
/// column (name, type, NOT NULL, default, key) and every index's SQL.
fn shape(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out: Vec<String> = conn
        .prepare(
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk
             FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid",
        )
        .unwrap()
        .query_map([], |r| {
            let (t, c, ty): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (nn, dflt, pk): (bool, Option<String>, i64) = (r.get(3)?, r.get(4)?, r.get(5)?);
            Ok(format!("{t}.{c} {ty} notnull={nn} default={dflt:?} pk={pk}"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let indexes = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    out.extend(indexes);
    out
}

/// Every sealed value in the file, in key order.
fn sealed_values(path: &Path) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT master FROM store",
        "SELECT wrapped FROM conversation_key ORDER BY conversation, epoch",
        "SELECT meta FROM conversation ORDER BY id",
        "SELECT body FROM segment ORDER BY conversation, first_seq",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        out.extend(stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap().map(Result::unwrap));
    }
    out
}

fn not_found(store: &Store, m: MessageId) -> bool {
    matches!(store.message(m), Err(Error::NotFound(_)))
}

/// The spec reader and the API see the same conversations and, at `now`,
/// the same messages.
fn agree(spec: &SpecStore, store: &Store, now: i64) {
    let ids = spec.conversation_ids();
    let mut listed: Vec<u64> =
        store.conversations().unwrap().iter().map(|s| s.conversation.id.get()).collect();
    listed.sort_unstable();
    assert_eq!(ids, listed);
    for id in ids {
        let c = ConversationId::from_raw(id);
        let conv = store.conversation(c).unwrap();
        let expected = Meta {
            external_id: conv.external_id.clone(),
            title: conv.title.clone(),
            members: conv.members.clone(),
            app_data: conv.app_data.clone(),
            created_at_ms: conv.created_at_ms,
            read_up_to: conv.read_up_to.map(MessageId::seq),
            retention_ms: conv.retention_ms,
        };
        assert_eq!(spec.meta(id), expected);
        let on_disk = spec.messages(id);
        assert_eq!(
            spec.conversation(id).message_count,
            on_disk.len() as u64,
            "message_count is the sum of count"
        );
        let live: Vec<Message> = on_disk
            .into_iter()
            .filter(|(_, m)| m.expires_at_ms.is_none_or(|t| t > now))
            .map(|(seq, m)| Message {
                id: MessageId::new(c, seq),
                external_id: m.external_id,
                sender: m.sender,
                sent_at_ms: m.sent_at_ms,
                text: m.text,
                reply_to: m.reply_to.map(|r| MessageId::new(c, r)),
                edited_at_ms: m.edited_at_ms,
                extra: m.extra,
                expires_at_ms: m.expires_at_ms,
            })
            .collect();
        assert_eq!(conv.message_count, live.len() as u64);
        assert_eq!(store.messages(c, Page::oldest(10_000)).unwrap(), live);
    }
}

// ---------------------------------------------------------------- format 1

/// What the format-1 vector holds (written by 0.1.0), through today's API.
fn check_api_v1(store: &Store) {
    let alice = store.find_conversation("wxid_alice").unwrap().expect("alice");
    let conv = store.conversation(alice).unwrap();
    assert_eq!(conv.title, "Alice 爱丽丝");
    assert_eq!(conv.members, ["me", "alice"]);
    assert_eq!(conv.app_data, [1, 2, 3]);
    assert_eq!(conv.created_at_ms, 1_600_000_000_000);
    assert_eq!(conv.read_up_to, Some(MessageId::new(alice, 3)));
    assert_eq!((conv.retention_ms, conv.message_count), (None, 3));
    let msgs = store.messages(alice, Page::latest(10)).unwrap();
    let texts: Vec<_> = msgs.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["bonjour 你好 👋", "deux", "three"]);
    assert_eq!(msgs[0].external_id.as_deref(), Some("srv-1"));
    assert_eq!(msgs[0].extra, [7]);
    assert!(msgs[1].edited_at_ms.is_some());
    assert_eq!(msgs[2].reply_to, Some(msgs[0].id));
    assert!(msgs.iter().all(|m| m.expires_at_ms.is_none()));
    let again = store.append(alice, NewMessage { external_id: Some("srv-1".into()), ..Default::default() });
    assert_eq!(again.unwrap(), msgs[0].id, "the external-id index works");

    let list = store.conversations().unwrap();
    let group = list.iter().find(|s| s.conversation.title == "Group").expect("group").conversation.id;
    let texts: Vec<_> =
        store.messages(group, Page::latest(10)).unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["before rotation", "after rotation"]);
}

/// What the format-1 vector holds, by the document's rules alone: every
/// value in envelope version 1, records unframed and without the format-2
/// fields.
fn check_spec_v1(spec: &SpecStore, alice: u64, group: u64) {
    for e in spec.read_all() {
        assert_eq!((e.version, e.frame), (ENVELOPE_V1, None), "{:?}", e.place);
    }
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
            retention_ms: None,
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

#[test]
fn committed_format_1_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V1, dir.path(), "v1.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 1);
    check_spec_v1(&spec, 1, 2);
}

#[test]
fn committed_format_1_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V1, dir.path(), "v1.chatvault");
    let sealed = sealed_values(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 1, "only a holder of the key upgrades the file");

    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!(user_version(&path), 2);
    check_api_v1(&store);
    assert!(store.verify().unwrap().is_ok());

    // The schema is format 2's: the new columns and index exist, as a fresh
    // store has them.
    let fresh = dir.path().join("fresh.chatvault");
    drop(Store::create(&fresh, StoreKey::raw([1; 32])).unwrap());
    let upgraded = shape(&path);
    assert_eq!(upgraded, shape(&fresh));
    for new in [
        "conversation.compacted_through INTEGER notnull=true default=Some(\"0\") pk=0",
        "segment.expires_at INTEGER notnull=false default=None pk=0",
        "CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL",
    ] {
        assert!(upgraded.iter().any(|s| s == new), "missing after the upgrade: {new}");
    }

    // No sealed value was rewritten, and the document still reads them.
    assert_eq!(sealed_values(&path), sealed, "the upgrade rewrote a sealed value");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 2);
    check_spec_v1(&spec, 1, 2);
    for c in [1, 2] {
        assert_eq!(spec.conversation(c).compacted_through, 0);
        assert!(spec.segment_rows(c).iter().all(|s| s.expires_at.is_none()));
    }
    drop(spec);

    // Writing and compacting replace format-1 segments with version-2 ones.
    let alice = ConversationId::from_raw(1);
    let later =
        NewMessage { text: "after the upgrade".into(), expires_at_ms: Some(YEAR_2100), ..Default::default() };
    store.append(alice, later).unwrap();
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 1, "the group's epoch-0 key");
    assert!(store.verify().unwrap().is_ok());
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    for c in [1, 2] {
        for seg in spec.segment_rows(c) {
            let rec = spec.open_segment(c, &seg);
            assert!(rec.version == ENVELOPE_V2 && rec.frame.is_some(), "segment ({c}, {})", seg.first);
        }
    }
    let alice_msgs: Vec<_> =
        spec.messages(1).into_iter().map(|(seq, m)| (seq, m.text, m.expires_at_ms)).collect();
    assert_eq!(
        alice_msgs,
        [
            (1, "bonjour 你好 👋".to_string(), None),
            (2, "deux".into(), None),
            (3, "three".into(), None),
            (5, "after the upgrade".into(), Some(YEAR_2100))
        ]
    );
    assert_eq!(spec.key_epochs(2), [1]);
    agree(&spec, &store, NOW);
}

// ---------------------------------------------------------------- format 2

/// Builds the format-2 vector's content, with the clock at [`NOW`]. Keys and
/// nonces are random, so the bytes differ on every run, but the content is
/// fixed.
fn build(store: &Store) {
    let alice = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_alice".into()),
            title: "Alice 爱丽丝".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![1, 2, 3],
            created_at_ms: Some(1_600_000_000_000),
            retention_ms: None,
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
                expires_at_ms: None,
            },
        )
        .unwrap();
    let mk = |text: &str, expires_at_ms| NewMessage {
        sender: "me".into(),
        sent_at_ms: SENT,
        text: text.into(),
        expires_at_ms,
        ..Default::default()
    };
    let three = NewMessage { reply_to: Some(m1), ..mk("three", None) };
    let batch =
        store.append_batch(&[(alice, mk("two", None)), (alice, three), (alice, mk("four", None))]).unwrap();
    store.edit_message(batch[0], "deux").unwrap();
    store.delete_message(batch[2]).unwrap();
    store.mark_read(alice, batch[1]).unwrap();
    store.append(alice, mk("see you in 2100", Some(YEAR_2100))).unwrap();
    let gone = NewMessage { external_id: Some("srv-gone".into()), ..mk("already gone", Some(PAST)) };
    let gone = store.append(alice, gone).unwrap();
    assert!(not_found(store, gone), "an expired message is gone for reads at once");

    let group = store
        .create_conversation(NewConversation {
            title: "Group".into(),
            created_at_ms: Some(1_600_000_000_001),
            retention_ms: Some(RETENTION),
            ..Default::default()
        })
        .unwrap();
    let chatter: Vec<_> = (1..=12)
        .map(|i| {
            let text = format!("ephemeral {i}: the same words again and again");
            let own = (i == 12).then_some(LATER);
            (group, NewMessage { sent_at_ms: SENT + i, ..mk(&text, own) })
        })
        .collect();
    store.append_batch(&chatter).unwrap();
    store.rotate_conversation_key(group).unwrap();
    store.append(group, mk("until 2100", Some(YEAR_2100))).unwrap();
    store.append(group, mk("gone before compaction", Some(PAST))).unwrap();

    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.messages_expired, report.keys_destroyed), (2, 1));

    // After compaction: a delete in a compacted segment, and appends.
    store.delete_message(MessageId::new(group, 3)).unwrap();
    store.append(alice, mk("after compaction", None)).unwrap();
    let kept = store.append(group, mk("after compaction", None)).unwrap();
    store.append(group, mk("expired on disk", Some(PAST))).unwrap();
    store.mark_read(group, kept).unwrap();
}

/// The visible messages [`build`] leaves: (seq, text, sent_at_ms, expires_at_ms).
fn alice_expected() -> Vec<(u64, String, i64, Option<i64>)> {
    vec![
        (1, "bonjour 你好 👋".into(), 1_700_000_000_000, None),
        (2, "deux".into(), SENT, None),
        (3, "three".into(), SENT, None),
        (5, "see you in 2100".into(), SENT, Some(YEAR_2100)),
        (7, "after compaction".into(), SENT, None),
    ]
}

/// As [`alice_expected`]: retention dates what has no earlier expiry of its own.
fn group_expected() -> Vec<(u64, String, i64, Option<i64>)> {
    let r = RETENTION as i64;
    let mut v: Vec<_> = (1..=12u64)
        .filter(|&i| i != 3)
        .map(|i| {
            let sent = SENT + i as i64;
            (i, format!("ephemeral {i}: the same words again and again"), sent, Some(sent + r))
        })
        .collect();
    v.push((13, "until 2100".into(), SENT, Some(YEAR_2100)));
    v.push((15, "after compaction".into(), SENT, Some(SENT + r)));
    v
}

/// What [`build`] stored, through the public API, with the clock at [`NOW`].
fn check_api_v2(store: &Store) {
    let alice = store.find_conversation("wxid_alice").unwrap().expect("alice");
    let conv = store.conversation(alice).unwrap();
    assert_eq!(conv.title, "Alice 爱丽丝");
    assert_eq!(conv.members, ["me", "alice"]);
    assert_eq!(conv.app_data, [1, 2, 3]);
    assert_eq!(conv.created_at_ms, 1_600_000_000_000);
    assert_eq!(conv.read_up_to, Some(MessageId::new(alice, 3)));
    assert_eq!((conv.retention_ms, conv.message_count), (None, 5));
    let msgs = store.messages(alice, Page::latest(10)).unwrap();
    let view: Vec<_> =
        msgs.iter().map(|m| (m.id.seq(), m.text.clone(), m.sent_at_ms, m.expires_at_ms)).collect();
    assert_eq!(view, alice_expected());
    assert_eq!(msgs[0].external_id.as_deref(), Some("srv-1"));
    assert_eq!((msgs[0].sender.as_str(), msgs[0].extra.as_slice()), ("alice", &[7][..]));
    assert_eq!(msgs[1].edited_at_ms, Some(NOW));
    assert_eq!(msgs[2].reply_to, Some(msgs[0].id));
    // Re-delivery returns the existing id and brings back neither the
    // deleted nor the expired message.
    for (ext, seq) in [("srv-1", 1), ("srv-gone", 6)] {
        let again = store.append(alice, NewMessage { external_id: Some(ext.into()), ..Default::default() });
        assert_eq!(again.unwrap(), MessageId::new(alice, seq), "{ext}");
    }
    assert!(not_found(store, MessageId::new(alice, 4)) && not_found(store, MessageId::new(alice, 6)));

    let list = store.conversations().unwrap();
    assert_eq!(list.len(), 2);
    let (g, a) = (&list[0], &list[1]);
    assert_eq!((g.conversation.title.as_str(), a.conversation.id), ("Group", alice), "by activity");
    let group = g.conversation.id;
    assert_eq!((g.conversation.retention_ms, g.conversation.message_count), (Some(RETENTION), 13));
    assert_eq!(g.conversation.read_up_to, Some(MessageId::new(group, 15)));
    assert_eq!(g.unread_count, 0, "the expired message after the read marker does not count");
    assert_eq!(g.last_message.as_ref().map(|m| m.id.seq()), Some(15), "nor is it the last message");
    assert_eq!((a.unread_count, a.last_message.as_ref().map(|m| m.id.seq())), (2, Some(7)));
    let msgs = store.messages(group, Page::oldest(100)).unwrap();
    let view: Vec<_> =
        msgs.iter().map(|m| (m.id.seq(), m.text.clone(), m.sent_at_ms, m.expires_at_ms)).collect();
    assert_eq!(view, group_expected());
    for gone in [3, 14, 16] {
        assert!(not_found(store, MessageId::new(group, gone)), "group message {gone}");
    }
    let before_16 = store.messages(group, Page::before(MessageId::new(group, 17), 1)).unwrap();
    assert_eq!(before_16[0].id.seq(), 15);
    assert!(store.verify().unwrap().is_ok());
}

/// What [`build`] stored, by the document's rules alone.
/// `content_refs`: the store was written by code that indexes messages
/// without external id by content (the committed vector predates it).
fn check_spec_v2(spec: &SpecStore, alice: u64, group: u64, content_refs: bool) {
    assert_eq!(spec.format, 2);
    // Every value is envelope version 2; metadata and segments are framed,
    // padded to Padmé lengths, and compressed only when that is shorter.
    let all = spec.read_all();
    assert!(all.iter().all(|e| e.version == ENVELOPE_V2), "{all:?}");
    let framed: Vec<_> = all.iter().filter(|e| matches!(e.place.kind, KIND_META | KIND_SEGMENT)).collect();
    assert_eq!(framed.len(), 2 + 5, "two metadata and five segments");
    let frames: Vec<_> = framed.iter().map(|e| e.frame.expect("kinds 3 and 4 are framed")).collect();
    for f in &frames {
        assert_eq!(f.len as u64, spec::padme((FRAME_HEADER + f.payload_len) as u64), "{f:?}");
        assert!(f.codec == CODEC_STORED || f.payload_len < f.record_len, "zstd only when shorter: {f:?}");
    }
    assert!(frames.iter().any(|f| f.codec == CODEC_STORED) && frames.iter().any(|f| f.codec == CODEC_ZSTD));
    assert!(frames.iter().any(|f| f.len > FRAME_HEADER + f.payload_len), "some frames carry padding");

    assert_eq!(
        spec.meta(alice),
        Meta {
            external_id: Some("wxid_alice".into()),
            title: "Alice 爱丽丝".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![1, 2, 3],
            created_at_ms: 1_600_000_000_000,
            read_up_to: Some(3),
            retention_ms: None,
        }
    );
    assert_eq!(
        spec.meta(group),
        Meta {
            external_id: None,
            title: "Group".into(),
            members: vec![],
            app_data: vec![],
            created_at_ms: 1_600_000_000_001,
            read_up_to: Some(15),
            retention_ms: Some(RETENTION),
        }
    );

    // Structure in the clear: epochs, surviving keys, counts (expired
    // messages still on disk included), compaction marks, segment rows.
    let (a, g) = (spec.conversation(alice), spec.conversation(group));
    assert_eq!((a.epoch, a.next_seq, a.message_count, a.compacted_through), (0, 8, 5, 6));
    assert_eq!((g.epoch, g.next_seq, g.message_count, g.compacted_through), (1, 17, 14, 14));
    assert_eq!(
        (spec.key_epochs(alice), spec.key_epochs(group)),
        (vec![0], vec![1]),
        "epoch 0 of the group destroyed"
    );
    let rows = |c: u64| -> Vec<_> {
        spec.segment_rows(c)
            .iter()
            .map(|s| {
                (
                    s.first,
                    s.last,
                    s.epoch,
                    s.count,
                    s.expires_at,
                    spec.open_segment(c, s).frame.unwrap().codec,
                )
            })
            .collect()
    };
    let alice_rows = rows(alice);
    assert_eq!(alice_rows.len(), 2);
    let (first, last, epoch, count, expires_at, _) = alice_rows[0];
    assert_eq!((first, last, epoch, count, expires_at), (1, 5, 0, 4, Some(YEAR_2100)), "compacted");
    assert_eq!(alice_rows[1], (7, 7, 0, 1, None, CODEC_STORED), "appends write codec 0");
    let r = RETENTION as i64;
    assert_eq!(
        rows(group),
        [
            (1, 13, 1, 12, Some(YEAR_2100), CODEC_ZSTD),
            (15, 15, 1, 1, Some(SENT + r), CODEC_STORED),
            (16, 16, 1, 1, Some(PAST), CODEC_STORED),
        ]
    );

    // The messages, expired ones still on disk included.
    let view = |c: u64| -> Vec<_> {
        spec.messages(c).into_iter().map(|(seq, m)| (seq, m.text, m.sent_at_ms, m.expires_at_ms)).collect()
    };
    assert_eq!(view(alice), alice_expected());
    let mut group_on_disk = group_expected();
    group_on_disk.push((16, "expired on disk".into(), SENT, Some(PAST)));
    assert_eq!(view(group), group_on_disk);
    let msgs = spec.messages(alice);
    assert_eq!(msgs[0].1.external_id.as_deref(), Some("srv-1"));
    assert_eq!((msgs[0].1.sender.as_str(), msgs[0].1.extra.as_slice()), ("alice", &[7][..]));
    assert_eq!((msgs[1].1.edited_at_ms, msgs[2].1.reply_to), (Some(NOW), Some(1)));

    // Keyed hashes: the conversation's, and both message references (the
    // expired message's stays).
    let conv_hash: Option<Vec<u8>> = spec
        .conn
        .query_row("SELECT ext_hash FROM conversation WHERE id = ?1", [alice as i64], |r| r.get(0))
        .unwrap();
    assert_eq!(conv_hash.as_deref(), Some(&spec.hash(&[b"conversation\0", b"wxid_alice"])[..]));
    let refs = |c: u64| -> Vec<(Vec<u8>, i64)> {
        spec.conn
            .prepare(
                "SELECT ext_hash, seq FROM recent_ref WHERE conversation = ?1
                 UNION ALL SELECT ext_hash, seq FROM message_ref WHERE conversation = ?1 ORDER BY seq",
            )
            .unwrap()
            .query_map([c as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let hash = |ext: &[u8]| spec.hash(&[b"message\0", &alice.to_be_bytes(), ext]).to_vec();
    // A message without external id is indexed by sender and time; the first
    // message with a given pair keeps the entry, and a delete does not remove it.
    let content = |c: u64, sender: &str, sent: i64| {
        let len = (sender.len() as u64).to_be_bytes();
        let parts: [&[u8]; 5] =
            [b"content\0", &c.to_be_bytes(), &len, sender.as_bytes(), &sent.to_be_bytes()];
        spec.hash(&parts).to_vec()
    };
    if !content_refs {
        assert_eq!(refs(alice), [(hash(b"srv-1"), 1), (hash(b"srv-gone"), 6)]);
        assert!(refs(group).is_empty());
        return;
    }
    assert_eq!(
        refs(alice),
        [(hash(b"srv-1"), 1), (content(alice, "me", SENT), 2), (hash(b"srv-gone"), 6)],
        "seqs 3, 4, 5 and 7 share seq 2's sender and time"
    );
    let mut group_refs: Vec<(Vec<u8>, i64)> = (1..=12).map(|i| (content(group, "me", SENT + i), i)).collect();
    group_refs.push((content(group, "me", SENT), 13));
    assert_eq!(refs(group), group_refs);
}

#[test]
fn committed_format_2_store_opens_with_todays_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V2, dir.path(), "v2.chatvault");
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    check_api_v2(&store);
    assert_eq!(user_version(&path), 2);

    // Compaction removes the expired message from disk; reads are unchanged.
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.messages_expired, report.keys_destroyed), (1, 0));
    check_api_v2(&store);
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert!(spec.messages(2).iter().all(|(seq, _)| *seq != 16));
    assert_eq!(spec.conversation(2).message_count, 13);
    for c in [1, 2] {
        assert!(spec.segment_rows(c).iter().all(|s| s.expires_at.is_none_or(|t| t > NOW)));
    }
    agree(&spec, &store, NOW);
}

#[test]
fn committed_format_2_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V2, dir.path(), "v2.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    let kdf: (i64, u32, u32, u32) = spec
        .conn
        .query_row("SELECT kdf, kdf_m_kib, kdf_t, kdf_p FROM store", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(kdf, (1, 19_456, 2, 1));
    check_spec_v2(&spec, 1, 2, false);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

#[test]
fn todays_code_writes_what_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.chatvault");
    let key = [0x5A; 32];
    let store = Store::create_with(&path, StoreKey::raw(key), fixed_clock()).unwrap();
    build(&store);
    check_api_v2(&store);
    let spec = SpecStore::open(&path, Root::Raw(key));
    check_spec_v2(&spec, 1, 2, true);
    agree(&spec, &store, NOW);
    drop(spec);
    drop(store);

    // Same schema as the committed format-2 store.
    let vector = load(VECTOR_V2, dir.path(), "v2.chatvault");
    assert_eq!(schema(&path), schema(&vector), "the schema changed: that is a new format version");
}

#[test]
fn padme_and_frames_follow_the_document() {
    // "Record plaintexts": the document's examples and bound.
    for (l, p) in [(0, 0), (1, 1), (5, 5), (100, 104), (1_000, 1_024), (5_000, 5_120)] {
        assert_eq!(spec::padme(l), p, "padme({l})");
    }
    assert!((2..200_000u64).all(|l| spec::padme(l) >= l && (spec::padme(l) - l) * 100 <= 12 * l));

    // The reader rejects what the document says a reader rejects.
    let frame = |codec: u8, payload: &[u8]| {
        let mut f = vec![codec];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(spec::padme(f.len() as u64) as usize, 0);
        f
    };
    let record = "the same words again and again ".repeat(20).into_bytes();
    let z = zstd::bulk::compress(&record, 3).unwrap();
    let (good, _) = spec::unframe(&frame(CODEC_ZSTD, &z)).unwrap();
    assert_eq!((good.codec, good.payload_len, good.record_len), (CODEC_ZSTD, z.len(), record.len()));
    assert_eq!(spec::unframe(&frame(CODEC_STORED, &record)).unwrap().1, record);

    assert_eq!(spec::unframe(&frame(2, &record)).err(), Some("unknown codec"));
    let mut past_end = frame(CODEC_STORED, &record);
    past_end[4] += 100;
    assert_eq!(spec::unframe(&past_end).err(), Some("n past the end"));
    let mut dirty = frame(CODEC_STORED, &record[..100]);
    assert!(dirty.len() > 105, "padded");
    *dirty.last_mut().unwrap() = 1;
    assert_eq!(spec::unframe(&dirty).err(), Some("non-zero padding"));
    let mut long = frame(CODEC_STORED, &record[..100]);
    long.push(0);
    assert_eq!(spec::unframe(&long).err(), Some("total length is not padme(5 + n)"));

    let mut c = zstd::bulk::Compressor::new(3).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false)).unwrap();
    let sizeless = c.compress(&record).unwrap();
    assert_eq!(spec::unframe(&frame(CODEC_ZSTD, &sizeless)).err(), Some("zstd frame without a content size"));
    let huge = zstd::bulk::compress(&vec![0; (4 << 20) + 1], 3).unwrap();
    assert_eq!(spec::unframe(&frame(CODEC_ZSTD, &huge)).err(), Some("zstd frame declares more than 4 MiB"));
    let two = [z.clone(), z.clone()].concat();
    assert_eq!(spec::unframe(&frame(CODEC_ZSTD, &two)).err(), Some("payload is not one zstd frame"));
}

#[test]
#[ignore = "writes tests/vectors/store-v2.sql; run only on a deliberate format change"]
fn regenerate_format_2_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.chatvault");
    let store = Store::create_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    build(&store);
    store.close().unwrap();
    let header = "-- chatvault store format 2: a test vector (see tests/format_spec.rs).\n\
                  -- Passphrase: \"chatvault format vector\", Argon2id m=19456 KiB, t=2, p=1.\n\
                  -- Built with the clock at 1750000000000 ms; read it with that clock.\n";
    let out = format!("{header}{}", dump::dump(&path));
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/store-v2.sql"), out).unwrap();
}
