//! The store format is a promise: docs/DESIGN.md specifies it, committed
//! stores pin it (tests/vectors/store-v1.sql, written by chatvault 0.1.0 in
//! format 1; tests/vectors/store-v2.sql, written in format 2;
//! tests/vectors/store-v3.sql, format 3, with an imported conversation and a
//! master key rotated once; tests/vectors/store-v4.sql, the same content
//! in format 4; tests/vectors/store-v5.sql, the same content in format
//! 5, with the search filters of docs/SEARCH.md; and tests/vectors/store-v6.sql,
//! the same content in format 6 with attachments, docs/ATTACHMENTS.md), and an independent reader
//! (tests/common/spec.rs, written from the document alone) checks that the
//! committed stores open with today's code (the older ones upgraded to
//! today's format), that they decode by the document before and after, and
//! that today's code writes what the document says, a master-key rotation
//! under way included.
//!
//! To regenerate the format-6 vector after a deliberate change to what it
//! holds: `CHATVAULT_REGENERATE=1 cargo test --test format_spec -- --ignored`. The format-1 to
//! format-5 vectors are never regenerated: today's code cannot write those
//! formats, and stores that older versions wrote must keep opening. On the
//! next format change (which also bumps the format version), freeze
//! store-v6.sql in the same way and make the ignored test write the new
//! format's vector.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use std::io::Read;

use chatvault::{
    AttachmentFilter, AttachmentId, AttachmentPage, Clock, CompactOptions, ConversationId,
    ConversationSummary, Error, ExportOptions, ImportOptions, Message, MessageId, NewAttachment,
    NewConversation, NewMessage, Page, RotateOptions, SearchQuery, Store, StoreKey, StoreOptions,
};
use common::dump;
use common::spec::{
    self, CODEC_STORED, CODEC_ZSTD, ENVELOPE_V1, ENVELOPE_V2, Envelope, FRAME_HEADER, KIND_META,
    KIND_NEXT_MASTER, KIND_SEGMENT, Meta, Place, Root, SpecStore, Subkeys,
};

const VECTOR_V1: &str = include_str!("vectors/store-v1.sql");
const VECTOR_V2: &str = include_str!("vectors/store-v2.sql");
const VECTOR_V3: &str = include_str!("vectors/store-v3.sql");
const VECTOR_V4: &str = include_str!("vectors/store-v4.sql");
const VECTOR_V5: &str = include_str!("vectors/store-v5.sql");
const VECTOR_V6: &str = include_str!("vectors/store-v6.sql");
const PASSPHRASE: &str = "chatvault format vector";
/// The key of the archive [`source_archive`] writes.
const ARCHIVE_KEY: [u8; 32] = [0xA5; 32];

/// The clock the format-2 and format-3 vectors were built with, and are
/// read with (2025-06-15T15:06:40Z).
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

/// Every segment row's plaintext columns, by (conversation, first_seq).
fn segment_columns(path: &Path) -> Vec<(i64, i64, i64, i64, i64, Option<i64>)> {
    rusqlite::Connection::open(path)
        .unwrap()
        .prepare(
            "SELECT conversation, first_seq, last_seq, epoch, count, expires_at FROM segment
             ORDER BY conversation, first_seq",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
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

/// Every conversation's `activity`: (id, activity), by id.
fn activities(path: &Path) -> Vec<(u64, i64)> {
    rusqlite::Connection::open(path)
        .unwrap()
        .prepare("SELECT id, activity FROM conversation ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// "Upgrading", 2 -> 3: `conversation.activity` renumbered 1, 2, 3... in
/// (activity, id) order. Takes and returns (id, activity), by id.
fn renumbered(before: &[(u64, i64)]) -> Vec<(u64, i64)> {
    let mut order: Vec<(i64, u64)> = before.iter().map(|&(id, a)| (a, id)).collect();
    order.sort_unstable();
    let mut after: Vec<(u64, i64)> =
        order.iter().enumerate().map(|(i, &(_, id))| (id, i as i64 + 1)).collect();
    after.sort_unstable();
    after
}

/// The schema shape of a store created today, in format 6.
fn fresh_shape(dir: &Path) -> Vec<String> {
    let fresh = dir.join("fresh-for-shape.chatvault");
    drop(Store::create(&fresh, StoreKey::raw([1; 32])).unwrap());
    let out = shape(&fresh);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    out
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
            // The API does not show it.
            origin: None,
        };
        assert_eq!(Meta { origin: None, ..spec.meta(id) }, expected);
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

/// "Keyed hashes" and "External-id index", by the document, for one
/// conversation: `ext_hash` is the hash of its external id, else of its
/// origin, else NULL (none of the stores checked here has a conversation a
/// format-2 import created); no hash is indexed twice; an entry whose
/// message is still on disk is that message's hash; and every message on
/// disk with an external id is indexed (with `content_refs`, every message:
/// stores written before content hashes have none).
fn check_index(spec: &SpecStore, conv: u64, content_refs: bool) {
    let ext_hash = spec.ext_hash(conv);
    assert!(
        spec.expected_ext_hashes(conv).iter().any(|h| h.map(|h| h.to_vec()) == ext_hash),
        "conversation {conv}: ext_hash"
    );
    let on_disk: BTreeMap<u64, spec::StoredMessage> = spec.messages(conv).into_iter().collect();
    let refs = spec.refs(conv);
    let hashes: HashSet<&[u8]> = refs.iter().map(|(h, _)| &h[..]).collect();
    assert_eq!(hashes.len(), refs.len(), "conversation {conv}: a hash indexed twice: {refs:?}");
    for (h, seq) in &refs {
        if let Some(m) = on_disk.get(seq) {
            assert!(
                spec.index_hashes(conv, m).iter().any(|x| x[..] == h[..]),
                "conversation {conv}: the entry of message {seq}"
            );
        }
    }
    for (seq, m) in &on_disk {
        if content_refs || m.external_id.is_some() {
            let indexed = spec.index_hashes(conv, m).iter().any(|h| hashes.contains(&h[..]));
            assert!(indexed, "conversation {conv}: message {seq} is not indexed");
        }
    }
}

/// "Master-key rotation", step 2: the `message_ref` rows a moved
/// conversation gets, one per message a read still shows at [`NOW`] (its
/// segments hold it and it has not expired; the lowest sequence number for
/// equal hashes), by seq.
fn rotated_refs(spec: &SpecStore, conv: u64) -> Vec<(Vec<u8>, u64)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (seq, m) in spec.messages(conv) {
        if m.expires_at_ms.is_some_and(|t| t <= NOW) {
            continue;
        }
        let h = spec.index_hash(conv, &m);
        if seen.insert(h) {
            out.push((h.to_vec(), seq));
        }
    }
    out
}

/// After a rotation, the old master key M opens no conversation key in the
/// file, and none of its keyed hashes is in it.
fn old_master_opens_nothing(spec: &SpecStore, old_master: &[u8; 32]) {
    let old = Subkeys::derive(old_master, &spec.store_id);
    for conv in spec.conversation_ids() {
        for epoch in spec.key_epochs(conv) {
            let wrapped = spec.wrapped_key(conv, epoch);
            assert!(
                spec::open(&old.wrap, &spec.store_id, &Place::key(conv, epoch), &wrapped).is_none(),
                "the old wrap key opens key ({conv}, {epoch})"
            );
        }
        let meta = spec.meta(conv);
        if let Some(ext) = &meta.external_id {
            let old_hash = old.hash(&[b"conversation\0", ext.as_bytes()]);
            assert_ne!(spec.ext_hash(conv).as_deref(), Some(&old_hash[..]), "conversation {conv}");
        }
        for (seq, m) in spec.messages(conv) {
            let old_hash = match &m.external_id {
                Some(ext) => old.hash(&[b"message\0", &conv.to_be_bytes(), ext.as_bytes()]),
                None => {
                    let len = (m.sender.len() as u64).to_be_bytes();
                    let sent = m.sent_at_ms.to_be_bytes();
                    old.hash(&[b"content\0", &conv.to_be_bytes(), &len, m.sender.as_bytes(), &sent])
                }
            };
            assert!(
                spec.refs(conv).iter().all(|(h, _)| h[..] != old_hash),
                "message ({conv}, {seq}) is indexed under the old id key"
            );
        }
    }
}

/// "Sealed values": every framed record (kinds 3 and 4) is padded to its
/// Padmé length and compressed only when that is shorter; returns the
/// frames of the metadata and of the segments.
fn check_frames(all: &[Envelope]) -> (Vec<spec::Frame>, Vec<spec::Frame>) {
    let frames = |kind: u8| -> Vec<spec::Frame> {
        all.iter()
            .filter(|e| e.place.kind == kind)
            .map(|e| e.frame.expect("kinds 3 and 4 in envelope version 2 are framed"))
            .collect()
    };
    let (meta, segments) = (frames(KIND_META), frames(KIND_SEGMENT));
    for f in meta.iter().chain(&segments) {
        assert_eq!(f.len as u64, spec::padme((FRAME_HEADER + f.payload_len) as u64), "{f:?}");
        assert!(f.codec == CODEC_STORED || f.payload_len < f.record_len, "zstd only when shorter: {f:?}");
    }
    assert!(meta.iter().all(|f| f.codec == CODEC_STORED), "metadata is written with codec 0");
    (meta, segments)
}

/// An archive of a store with one conversation without external id, made
/// with [`ARCHIVE_KEY`]; and that store's id.
fn source_archive(dir: &Path) -> (Vec<u8>, [u8; 16]) {
    let path = dir.join("source.chatvault");
    let store = Store::create_with(&path, StoreKey::raw([0x5C; 32]), fixed_clock()).unwrap();
    let c = store
        .create_conversation(NewConversation {
            title: "Imported 导入".into(),
            members: vec!["me".into(), "bob".into()],
            created_at_ms: Some(1_600_000_000_002),
            ..Default::default()
        })
        .unwrap();
    let first = store
        .append(
            c,
            NewMessage {
                sender: "bob".into(),
                sent_at_ms: SENT + 100,
                text: "from the archive".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let with_id = NewMessage {
        external_id: Some("arch-2".into()),
        sender: "me".into(),
        sent_at_ms: SENT + 101,
        text: "with an id".into(),
        ..Default::default()
    };
    store.append(c, with_id).unwrap();
    store.mark_read(c, first).unwrap();
    let mut archive = Vec::new();
    store.export(&mut archive, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    store.close().unwrap();
    let source = SpecStore::open(&path, Root::Raw([0x5C; 32])).store_id;
    (archive, source)
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
            origin: None,
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
    assert_eq!(
        (spec.format, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (1, 0, true, false)
    );
    check_spec_v1(&spec, 1, 2);
    for c in [1, 2] {
        check_index(&spec, c, false);
    }
    assert_eq!(activities(&path), [(1, 3), (2, 6)], "every append took a new stamp");
}

/// The columns and index the upgrades to format 3 add, as [`shape`] shows them.
const ADDED_BY_UPGRADES: [&str; 7] = [
    "conversation.compacted_through INTEGER notnull=true default=Some(\"0\") pk=0",
    "segment.expires_at INTEGER notnull=false default=None pk=0",
    "CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL",
    "store.master_gen INTEGER notnull=true default=Some(\"0\") pk=0",
    "store.next_master BLOB notnull=false default=None pk=0",
    "store.rotated_through INTEGER notnull=false default=None pk=0",
    "store.key_rebuild_owed INTEGER notnull=true default=Some(\"0\") pk=0",
];

#[test]
fn committed_format_1_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V1, dir.path(), "v1.chatvault");
    let sealed = sealed_values(&path);
    let activity = activities(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 1, "only a holder of the key upgrades the file");

    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!(user_version(&path), 6, "upgraded through formats 2, 3, 4 and 5 to format 6");
    check_api_v1(&store);
    assert!(store.verify().unwrap().is_ok());

    // The schema is format 4's: the new columns and index exist, as a fresh
    // store has them (ALTER TABLE wrote its own SQL text, so compare what
    // SQLite understands, not the text).
    let upgraded = shape(&path);
    assert_eq!(upgraded, fresh_shape(dir.path()));
    for new in ADDED_BY_UPGRADES {
        assert!(upgraded.iter().any(|s| s == new), "missing after the upgrade: {new}");
    }

    // No sealed value was rewritten, and the document still reads them.
    assert_eq!(sealed_values(&path), sealed, "the upgrade rewrote a sealed value");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(
        (spec.format, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (6, 0, true, false)
    );
    // The activity stamps, renumbered in their order.
    assert_eq!(activities(&path), renumbered(&activity));
    assert_eq!(activities(&path), [(1, 1), (2, 2)]);
    check_spec_v1(&spec, 1, 2);
    for c in [1, 2] {
        assert_eq!(spec.conversation(c).compacted_through, 0);
        assert!(spec.segment_rows(c).iter().all(|s| s.expires_at.is_none()));
        check_index(&spec, c, false);
    }
    drop(spec);

    // Writing and compacting replace format-1 segments with version-2 ones.
    let alice = ConversationId::from_raw(1);
    let later =
        NewMessage { text: "after the upgrade".into(), expires_at_ms: Some(YEAR_2100), ..Default::default() };
    store.append(alice, later).unwrap();
    assert_eq!(activities(&path), [(1, 3), (2, 2)], "an append takes MAX(activity) + 1");
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 1, "the group's epoch-0 key");
    assert!(store.verify().unwrap().is_ok());
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    for c in [1, 2] {
        for seg in spec.segment_rows(c) {
            let rec = spec.open_segment(c, &seg);
            assert!(rec.version == ENVELOPE_V2 && rec.frame.is_some(), "segment ({c}, {})", seg.first);
        }
        check_index(&spec, c, false);
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

/// Builds the format-2 vector's content (the start of the format-3
/// vector's too), with the clock at [`NOW`]. Keys and nonces are random, so
/// the bytes differ on every run, but the content is fixed.
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

/// Alice's conversation as [`build`] (and what followed) left it, through
/// the public API: `expected` its visible messages; re-delivering each of
/// `redelivered` returns the existing message.
fn check_api_alice(
    store: &Store,
    expected: Vec<(u64, String, i64, Option<i64>)>,
    redelivered: &[(&str, u64)],
) -> ConversationId {
    let alice = store.find_conversation("wxid_alice").unwrap().expect("alice");
    let conv = store.conversation(alice).unwrap();
    assert_eq!(conv.title, "Alice 爱丽丝");
    assert_eq!(conv.members, ["me", "alice"]);
    assert_eq!(conv.app_data, [1, 2, 3]);
    assert_eq!(conv.created_at_ms, 1_600_000_000_000);
    assert_eq!(conv.read_up_to, Some(MessageId::new(alice, 3)));
    assert_eq!((conv.retention_ms, conv.message_count), (None, expected.len() as u64));
    let msgs = store.messages(alice, Page::latest(10)).unwrap();
    let view: Vec<_> =
        msgs.iter().map(|m| (m.id.seq(), m.text.clone(), m.sent_at_ms, m.expires_at_ms)).collect();
    assert_eq!(view, expected);
    assert_eq!(msgs[0].external_id.as_deref(), Some("srv-1"));
    assert_eq!((msgs[0].sender.as_str(), msgs[0].extra.as_slice()), ("alice", &[7][..]));
    assert_eq!(msgs[1].edited_at_ms, Some(NOW));
    assert_eq!(msgs[2].reply_to, Some(msgs[0].id));
    // Re-delivery returns the existing id, and brings back neither the
    // deleted nor the expired message.
    for &(ext, seq) in redelivered {
        let again = store.append(alice, NewMessage { external_id: Some(ext.into()), ..Default::default() });
        assert_eq!(again.unwrap(), MessageId::new(alice, seq), "{ext}");
    }
    assert!(not_found(store, MessageId::new(alice, 4)) && not_found(store, MessageId::new(alice, 6)));
    alice
}

/// The group as [`build`] left it, through the public API.
fn check_api_group(store: &Store, g: &ConversationSummary) {
    assert_eq!(g.conversation.title, "Group");
    let group = g.conversation.id;
    assert_eq!((g.conversation.retention_ms, g.conversation.message_count), (Some(RETENTION), 13));
    assert_eq!(g.conversation.read_up_to, Some(MessageId::new(group, 15)));
    assert_eq!(g.unread_count, 0, "the expired message after the read marker does not count");
    assert_eq!(g.last_message.as_ref().map(|m| m.id.seq()), Some(15), "nor is it the last message");
    let msgs = store.messages(group, Page::oldest(100)).unwrap();
    let view: Vec<_> =
        msgs.iter().map(|m| (m.id.seq(), m.text.clone(), m.sent_at_ms, m.expires_at_ms)).collect();
    assert_eq!(view, group_expected());
    for gone in [3, 14, 16] {
        assert!(not_found(store, MessageId::new(group, gone)), "group message {gone}");
    }
    let before_16 = store.messages(group, Page::before(MessageId::new(group, 17), 1)).unwrap();
    assert_eq!(before_16[0].id.seq(), 15);
}

/// What [`build`] stored, through the public API, with the clock at [`NOW`].
fn check_api_v2(store: &Store) {
    let alice = check_api_alice(store, alice_expected(), &[("srv-1", 1), ("srv-gone", 6)]);
    let list = store.conversations().unwrap();
    assert_eq!(list.len(), 2);
    let (g, a) = (&list[0], &list[1]);
    assert_eq!((g.conversation.title.as_str(), a.conversation.id), ("Group", alice), "by activity");
    check_api_group(store, g);
    assert_eq!((a.unread_count, a.last_message.as_ref().map(|m| m.id.seq())), (2, Some(7)));
    assert!(store.verify().unwrap().is_ok());
}

/// Alice's metadata as [`build`] writes it.
fn alice_meta() -> Meta {
    Meta {
        external_id: Some("wxid_alice".into()),
        title: "Alice 爱丽丝".into(),
        members: vec!["me".into(), "alice".into()],
        app_data: vec![1, 2, 3],
        created_at_ms: 1_600_000_000_000,
        read_up_to: Some(3),
        retention_ms: None,
        origin: None,
    }
}

/// The group's metadata as [`build`] writes it.
fn group_meta() -> Meta {
    Meta {
        external_id: None,
        title: "Group".into(),
        members: vec![],
        app_data: vec![],
        created_at_ms: 1_600_000_000_001,
        read_up_to: Some(15),
        retention_ms: Some(RETENTION),
        origin: None,
    }
}

/// A conversation's segment rows, each with the codec of its frame:
/// (first, last, epoch, count, expires_at, codec).
fn segment_view(spec: &SpecStore, c: u64) -> Vec<(u64, u64, u32, u64, Option<i64>, u8)> {
    spec.segment_rows(c)
        .iter()
        .map(|s| {
            (s.first, s.last, s.epoch, s.count, s.expires_at, spec.open_segment(c, s).frame.unwrap().codec)
        })
        .collect()
}

/// A conversation's messages on disk: (seq, text, sent_at_ms, expires_at_ms).
fn message_view(spec: &SpecStore, c: u64) -> Vec<(u64, String, i64, Option<i64>)> {
    spec.messages(c).into_iter().map(|(seq, m)| (seq, m.text, m.sent_at_ms, m.expires_at_ms)).collect()
}

/// The group's messages on disk after [`build`], the expired one included.
fn group_on_disk() -> Vec<(u64, String, i64, Option<i64>)> {
    let mut v = group_expected();
    v.push((16, "expired on disk".into(), SENT, Some(PAST)));
    v
}

/// The group's segment rows after [`build`]: `newest_alone` as for
/// [`check_spec_v2`].
fn group_rows(newest_alone: bool) -> Vec<(u64, u64, u32, u64, Option<i64>, u8)> {
    let r = RETENTION as i64;
    let mut rows = if newest_alone {
        vec![(1, 12, 1, 11, Some(SENT + r + 1), CODEC_ZSTD), (13, 13, 1, 1, Some(YEAR_2100), CODEC_STORED)]
    } else {
        vec![(1, 13, 1, 12, Some(YEAR_2100), CODEC_ZSTD)]
    };
    rows.extend([(15, 15, 1, 1, Some(SENT + r), CODEC_STORED), (16, 16, 1, 1, Some(PAST), CODEC_STORED)]);
    rows
}

/// What [`build`] stored, by the document's rules alone, in a store of any
/// format from 2 on (the caller checks which).
/// `content_refs`: the store was written by code that indexes messages
/// without external id by content (the committed vector predates it).
/// `newest_alone`: compaction wrote each conversation's newest message in
/// a segment of its own (today's code; the committed vectors predate it).
fn check_spec_v2(spec: &SpecStore, alice: u64, group: u64, content_refs: bool, newest_alone: bool) {
    assert!(spec.format >= 2);
    // Every value is envelope version 2; metadata and segments are framed,
    // padded to Padmé lengths, and compressed only when that is shorter.
    let all = spec.read_all();
    assert!(all.iter().all(|e| e.version == ENVELOPE_V2), "{all:?}");
    let (meta_frames, segment_frames) = check_frames(&all);
    let segments = if newest_alone { 7 } else { 5 };
    assert_eq!((meta_frames.len(), segment_frames.len()), (2, segments), "two metadata, and the segments");
    let frames: Vec<_> = meta_frames.iter().chain(&segment_frames).collect();
    assert!(frames.iter().any(|f| f.codec == CODEC_STORED) && frames.iter().any(|f| f.codec == CODEC_ZSTD));
    assert!(frames.iter().any(|f| f.len > FRAME_HEADER + f.payload_len), "some frames carry padding");

    assert_eq!(spec.meta(alice), alice_meta());
    assert_eq!(spec.meta(group), group_meta());

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
    let alice_rows = segment_view(spec, alice);
    if newest_alone {
        // Compaction packs all but the conversation's newest message, which
        // gets a segment of its own (compressed only when that is shorter).
        assert_eq!(
            alice_rows,
            [
                (1, 3, 0, 3, None, CODEC_STORED),
                (5, 5, 0, 1, Some(YEAR_2100), CODEC_STORED),
                (7, 7, 0, 1, None, CODEC_STORED)
            ]
        );
        assert_eq!(segment_view(spec, group), group_rows(true));
    } else {
        assert_eq!(alice_rows.len(), 2);
        let (first, last, epoch, count, expires_at, _) = alice_rows[0];
        assert_eq!((first, last, epoch, count, expires_at), (1, 5, 0, 4, Some(YEAR_2100)), "compacted");
        assert_eq!(alice_rows[1], (7, 7, 0, 1, None, CODEC_STORED), "appends write codec 0");
        assert_eq!(segment_view(spec, group), group_rows(false));
    }

    // The messages, expired ones still on disk included.
    assert_eq!(message_view(spec, alice), alice_expected());
    assert_eq!(message_view(spec, group), group_on_disk());
    let msgs = spec.messages(alice);
    assert_eq!(msgs[0].1.external_id.as_deref(), Some("srv-1"));
    assert_eq!((msgs[0].1.sender.as_str(), msgs[0].1.extra.as_slice()), ("alice", &[7][..]));
    assert_eq!((msgs[1].1.edited_at_ms, msgs[2].1.reply_to), (Some(NOW), Some(1)));

    // Keyed hashes: the conversation's, and both message references (the
    // expired message's stays).
    assert_eq!(spec.ext_hash(alice).as_deref(), Some(&spec.hash(&[b"conversation\0", b"wxid_alice"])[..]));
    assert_eq!(spec.ext_hash(group), None);
    let hash = |ext: &[u8]| spec.hash(&[b"message\0", &alice.to_be_bytes(), ext]).to_vec();
    // A message without external id is indexed by sender and time; the first
    // message with a given pair keeps the entry, and a delete does not remove it.
    let content = |c: u64, sender: &str, sent: i64| {
        let len = (sender.len() as u64).to_be_bytes();
        let parts: [&[u8]; 5] =
            [b"content\0", &c.to_be_bytes(), &len, sender.as_bytes(), &sent.to_be_bytes()];
        spec.hash(&parts).to_vec()
    };
    for c in [alice, group] {
        check_index(spec, c, content_refs);
    }
    if !content_refs {
        assert_eq!(spec.refs(alice), [(hash(b"srv-1"), 1), (hash(b"srv-gone"), 6)]);
        assert!(spec.refs(group).is_empty());
        return;
    }
    assert_eq!(
        spec.refs(alice),
        [(hash(b"srv-1"), 1), (content(alice, "me", SENT), 2), (hash(b"srv-gone"), 6)],
        "seqs 3, 4, 5 and 7 share seq 2's sender and time"
    );
    let mut group_refs: Vec<(Vec<u8>, u64)> =
        (1..=12).map(|i| (content(group, "me", SENT + i), i as u64)).collect();
    group_refs.push((content(group, "me", SENT), 13));
    assert_eq!(spec.refs(group), group_refs);
}

#[test]
fn committed_format_2_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V2, dir.path(), "v2.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(
        (spec.format, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (2, 0, true, false)
    );
    assert_eq!(activities(&path), [(1, 10), (2, 12)], "every append took a new stamp");
    let kdf: (i64, u32, u32, u32) = spec
        .conn
        .query_row("SELECT kdf, kdf_m_kib, kdf_t, kdf_p FROM store", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(kdf, (1, 19_456, 2, 1));
    check_spec_v2(&spec, 1, 2, false, false);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

#[test]
fn committed_format_2_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V2, dir.path(), "v2.chatvault");
    let sealed = sealed_values(&path);
    let activity = activities(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 2, "only a holder of the key upgrades the file");

    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!(user_version(&path), 6);
    let upgraded = shape(&path);
    assert_eq!(upgraded, fresh_shape(dir.path()), "the schema is format 6's");
    for new in &ADDED_BY_UPGRADES[3..] {
        assert!(upgraded.iter().any(|s| s == new), "missing after the upgrade: {new}");
    }
    // No sealed value was rewritten, and the document still reads them.
    assert_eq!(sealed_values(&path), sealed, "the upgrade rewrote a sealed value");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(
        (spec.format, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (6, 0, true, false)
    );
    assert_eq!(activities(&path), renumbered(&activity));
    assert_eq!(activities(&path), [(1, 1), (2, 2)]);
    check_spec_v2(&spec, 1, 2, false, false);
    drop(spec);
    check_api_v2(&store);

    // Compaction removes the expired message from disk; reads are unchanged.
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.messages_expired, report.keys_destroyed), (1, 0));
    check_api_v2(&store);
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert!(spec.messages(2).iter().all(|(seq, _)| *seq != 16));
    assert_eq!(spec.conversation(2).message_count, 13);
    for c in [1, 2] {
        assert!(spec.segment_rows(c).iter().all(|s| s.expires_at.is_none_or(|t| t > NOW)));
        check_index(&spec, c, false);
    }
    agree(&spec, &store, NOW);
}

/// "Upgrading", 2 -> 3: the stamps are renumbered in (activity, id)
/// order (ties by id), and the conversation list follows them, most recent
/// first. (The stamps are plaintext: set here before the upgrade.)
#[test]
fn the_upgrade_to_format_3_renumbers_activity_in_activity_and_id_order() {
    for (stamps, expected) in [([12, 5], [2, 1]), ([9, 9], [1, 2]), ([1, 1_000_000], [1, 2])] {
        let dir = tempfile::tempdir().unwrap();
        let path = load(VECTOR_V2, dir.path(), "v2.chatvault");
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (id, stamp) in [1, 2].into_iter().zip(stamps) {
            conn.execute("UPDATE conversation SET activity = ?2 WHERE id = ?1", [id, stamp]).unwrap();
        }
        drop(conn);
        let before = activities(&path);
        let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
        assert_eq!(user_version(&path), 6);
        let after = activities(&path);
        assert_eq!(after, renumbered(&before), "{stamps:?}");
        assert_eq!(after, [(1, expected[0]), (2, expected[1])], "{stamps:?}");
        let mut most_recent_first = after.clone();
        most_recent_first.sort_by_key(|&(_, a)| std::cmp::Reverse(a));
        let listed: Vec<u64> =
            store.conversations().unwrap().iter().map(|s| s.conversation.id.get()).collect();
        assert_eq!(listed, most_recent_first.iter().map(|&(id, _)| id).collect::<Vec<_>>(), "{stamps:?}");
    }
}

// ---------------------------------------------------------------- format 3

/// What the format-3 vector adds to [`build`]'s content, with the clock at
/// [`NOW`]: conversation 3 imported from `archive` (from
/// [`source_archive`]: no external id, so its metadata has an `origin`),
/// then a master-key rotation (to `key`, the store's key again or a new
/// one), then messages written under the new master key.
fn build_v3(store: &Store, archive: &[u8], key: StoreKey) {
    let report = store.import(archive, &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!((report.conversations_created, report.messages_added), (1, 2));
    let imported = ConversationId::from_raw(3);
    assert_eq!(store.conversation(imported).unwrap().external_id, None);

    let rotation = store.rotate_master_key(key).unwrap();
    // Alice's srv-gone (compacted away) and the group's seq 3 (deleted)
    // cannot be indexed again.
    assert_eq!(
        (rotation.conversations, rotation.references, rotation.references_dropped),
        (3, 2 + 12 + 2, 2),
        "{rotation:?}"
    );

    let alice = ConversationId::from_raw(1);
    let after = NewMessage {
        external_id: Some("srv-after".into()),
        sender: "alice".into(),
        sent_at_ms: SENT + 200,
        text: "after the master-key rotation".into(),
        ..Default::default()
    };
    assert_eq!(store.append(alice, after).unwrap(), MessageId::new(alice, 8));
    let reply = NewMessage {
        sender: "me".into(),
        sent_at_ms: SENT,
        text: "a reply after the rotation".into(),
        ..Default::default()
    };
    assert_eq!(store.append(imported, reply).unwrap(), MessageId::new(imported, 3));
}

/// Alice's visible messages after [`build_v3`].
fn alice_expected_v3() -> Vec<(u64, String, i64, Option<i64>)> {
    let mut v = alice_expected();
    v.push((8, "after the master-key rotation".into(), SENT + 200, None));
    v
}

/// The imported conversation's messages after [`build_v3`].
fn imported_expected() -> Vec<(u64, String, i64, Option<i64>)> {
    vec![
        (1, "from the archive".into(), SENT + 100, None),
        (2, "with an id".into(), SENT + 101, None),
        (3, "a reply after the rotation".into(), SENT, None),
    ]
}

/// What [`build`] and [`build_v3`] stored, through the public API, with the
/// clock at [`NOW`].
fn check_api_v3(store: &Store) {
    let alice = check_api_alice(store, alice_expected_v3(), &[("srv-1", 1), ("srv-after", 8)]);
    let list = store.conversations().unwrap();
    assert_eq!(list.len(), 3);
    let (i, a, g) = (&list[0], &list[1], &list[2]);
    assert_eq!(
        (i.conversation.title.as_str(), a.conversation.id, g.conversation.title.as_str()),
        ("Imported 导入", alice, "Group"),
        "by activity"
    );
    check_api_group(store, g);
    assert_eq!((a.unread_count, a.last_message.as_ref().map(|m| m.id.seq())), (3, Some(8)));

    let imported = i.conversation.clone();
    let c = imported.id;
    assert_eq!(c, ConversationId::from_raw(3));
    assert_eq!((imported.external_id, imported.members), (None, vec!["me".to_string(), "bob".into()]));
    assert_eq!((imported.created_at_ms, imported.retention_ms), (1_600_000_000_002, None));
    assert_eq!((imported.read_up_to, imported.message_count), (Some(MessageId::new(c, 1)), 3));
    assert_eq!((i.unread_count, i.last_message.as_ref().map(|m| m.id.seq())), (2, Some(3)));
    let msgs = store.messages(c, Page::oldest(10)).unwrap();
    let view: Vec<_> =
        msgs.iter().map(|m| (m.id.seq(), m.text.clone(), m.sent_at_ms, m.expires_at_ms)).collect();
    assert_eq!(view, imported_expected());
    assert_eq!((msgs[0].sender.as_str(), msgs[1].external_id.as_deref()), ("bob", Some("arch-2")));
    let again = store.append(c, NewMessage { external_id: Some("arch-2".into()), ..Default::default() });
    assert_eq!(again.unwrap(), MessageId::new(c, 2), "indexed under the new id key");
    assert!(store.verify().unwrap().is_ok());
}

/// What [`build`] and [`build_v3`] stored, by the document's rules alone.
/// `source`: the id of the store the archive came from, if known.
/// `newest_alone`: as for [`check_spec_v2`].
fn check_spec_v3(spec: &SpecStore, source: Option<[u8; 16]>, newest_alone: bool) {
    let (alice, group, imported) = (1, 2, 3);
    assert!(spec.format >= 3);
    assert_eq!((spec.master_gen, spec.next.is_none()), (1, true), "rotated once, and finished");
    assert!(!spec.key_rebuild_owed, "compaction and the rotation rebuilt the key table");
    assert_eq!(spec.conversation_ids(), [alice, group, imported]);
    // "Activity order": a new conversation and an append to one that is not
    // the most recent take MAX(activity) + 1; appends to the most recent
    // one, and the rotation, take none.
    let activity: Vec<i64> =
        [alice, group, imported].iter().map(|&c| spec.conversation(c).activity).collect();
    assert_eq!(activity, [6, 4, 7]);

    let all = spec.read_all();
    assert!(all.iter().all(|e| e.version == ENVELOPE_V2), "{all:?}");
    assert!(all.iter().all(|e| e.place.kind != KIND_NEXT_MASTER));
    let (meta_frames, segment_frames) = check_frames(&all);
    let segments = if newest_alone { 10 } else { 8 };
    assert_eq!((meta_frames.len(), segment_frames.len()), (3, segments), "three metadata, and the segments");

    // Metadata, resealed under the new epochs; the imported conversation's
    // has its origin.
    assert_eq!(spec.meta(alice), alice_meta());
    assert_eq!(spec.meta(group), group_meta());
    let meta = spec.meta(imported);
    let origin = meta.origin.expect("an imported conversation without external id has an origin");
    assert_eq!(origin.id, 1, "its id in the source store");
    assert_ne!(origin.store, spec.store_id);
    if let Some(source) = source {
        assert_eq!(origin.store, source);
    }
    assert_eq!(
        meta,
        Meta {
            external_id: None,
            title: "Imported 导入".into(),
            members: vec!["me".into(), "bob".into()],
            app_data: vec![],
            created_at_ms: 1_600_000_000_002,
            read_up_to: Some(1),
            retention_ms: None,
            origin: Some(origin),
        }
    );
    assert!(spec.meta_record(imported).frame.unwrap().record_len > 16, "origin follows the seven fields");

    // The rotation started a new key epoch in every conversation; segments
    // written before stay under their old epochs, whose keys it rewrapped.
    let row = |c: u64| {
        let r = spec.conversation(c);
        (r.epoch, r.next_seq, r.message_count, r.compacted_through)
    };
    assert_eq!(row(alice), (1, 9, 6, 6));
    assert_eq!(row(group), (2, 17, 14, 14));
    assert_eq!(row(imported), (1, 4, 3, 0));
    assert_eq!(
        [spec.key_epochs(alice), spec.key_epochs(group), spec.key_epochs(imported)],
        [vec![0, 1], vec![1, 2], vec![0, 1]]
    );
    let alice_rows = segment_view(spec, alice);
    if newest_alone {
        assert_eq!(
            alice_rows,
            [
                (1, 3, 0, 3, None, CODEC_STORED),
                (5, 5, 0, 1, Some(YEAR_2100), CODEC_STORED),
                (7, 7, 0, 1, None, CODEC_STORED),
                (8, 8, 1, 1, None, CODEC_STORED)
            ]
        );
        assert_eq!(segment_view(spec, group), group_rows(true));
    } else {
        assert_eq!(alice_rows.len(), 3);
        let (first, last, epoch, count, expires_at, _) = alice_rows[0];
        assert_eq!((first, last, epoch, count, expires_at), (1, 5, 0, 4, Some(YEAR_2100)));
        assert_eq!(alice_rows[1..], [(7, 7, 0, 1, None, CODEC_STORED), (8, 8, 1, 1, None, CODEC_STORED)]);
        assert_eq!(segment_view(spec, group), group_rows(false));
    }
    let imported_rows: Vec<_> =
        segment_view(spec, imported).into_iter().map(|s| (s.0, s.1, s.2, s.3, s.4)).collect();
    assert_eq!(imported_rows, [(1, 2, 0, 2, None), (3, 3, 1, 1, None)]);

    assert_eq!(message_view(spec, alice), alice_expected_v3());
    assert_eq!(message_view(spec, group), group_on_disk());
    assert_eq!(message_view(spec, imported), imported_expected());

    // Keyed hashes, all under the new master key's id key: recomputed by
    // the rotation (into message_ref, without the entries of messages no
    // longer on disk), and appended since (into recent_ref).
    for c in [alice, group, imported] {
        check_index(spec, c, true);
    }
    assert_eq!(spec.ext_hash(alice).as_deref(), Some(&spec.conversation_hash(alice, "wxid_alice")[..]));
    assert_eq!(spec.ext_hash(group), None);
    assert_eq!(spec.ext_hash(imported).as_deref(), Some(&spec.origin_hash(imported, &origin)[..]));
    let rows = |c: u64, expected: Vec<([u8; 16], u64)>| {
        let expected: Vec<(Vec<u8>, u64)> = expected.into_iter().map(|(h, s)| (h.to_vec(), s)).collect();
        assert_eq!(spec.index(c), expected, "the index of conversation {c}");
    };
    rows(
        alice,
        vec![
            (spec.message_hash(alice, "srv-1"), 1),
            (spec.content_hash(alice, "me", SENT), 2),
            (spec.message_hash(alice, "srv-after"), 8),
        ],
    );
    let mut group_refs: Vec<_> =
        (1..=12).filter(|&i| i != 3).map(|i| (spec.content_hash(group, "me", SENT + i), i as u64)).collect();
    group_refs.push((spec.content_hash(group, "me", SENT), 13));
    rows(group, group_refs);
    rows(
        imported,
        vec![
            (spec.content_hash(imported, "bob", SENT + 100), 1),
            (spec.message_hash(imported, "arch-2"), 2),
            (spec.content_hash(imported, "me", SENT), 3),
        ],
    );
}

#[test]
fn committed_format_3_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V3, dir.path(), "v3.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    let kdf: (i64, u32, u32, u32) = spec
        .conn
        .query_row("SELECT kdf, kdf_m_kib, kdf_t, kdf_p FROM store", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(kdf, (1, 19_456, 2, 1));
    check_spec_v3(&spec, None, false);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

#[test]
fn committed_format_3_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V3, dir.path(), "v3.chatvault");
    let sealed = sealed_values(&path);
    let rows = segment_columns(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 3, "only a holder of the key upgrades the file");
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    // "Upgrading", 3 -> 4: the segment table rebuilt with its key, the
    // schema exactly a fresh store's (the upgrade writes the same SQL
    // text), every row and sealed value as it was.
    assert_eq!(user_version(&path), 6);
    assert_eq!(schema(&path), schema(&load(VECTOR_V6, dir.path(), "v6.chatvault")));
    assert_eq!(sealed_values(&path), sealed, "the upgrade rewrote a sealed value");
    assert_eq!(segment_columns(&path), rows);
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 6);
    check_spec_v3(&spec, None, false);
    drop(spec);
    check_api_v3(&store);
    assert!(store.verify().unwrap().is_ok());

    // The rotation dropped the entry of srv-gone (expired and compacted
    // away before it): a re-delivery is stored again.
    let alice = ConversationId::from_raw(1);
    let gone = store.append(alice, NewMessage { external_id: Some("srv-gone".into()), ..Default::default() });
    assert_eq!(gone.unwrap(), MessageId::new(alice, 9));

    // Compaction reseals the segments written before the rotation under
    // the new epochs, and destroys the old keys.
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.messages_expired, report.keys_destroyed), (1, 3));
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    for c in spec.conversation_ids() {
        let epoch = spec.conversation(c).epoch;
        assert_eq!(spec.key_epochs(c), [epoch], "conversation {c}");
        assert!(spec.segment_rows(c).iter().all(|s| s.epoch == epoch), "conversation {c}");
        check_index(&spec, c, true);
    }
    agree(&spec, &store, NOW);
}

// ---------------------------------------------------------------- format 4

/// The format-4 vector holds what the format-3 one does (written by
/// today's code: the newest message of a compacted run alone), in the
/// segment table keyed by its rowid.
#[test]
fn committed_format_4_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V4, dir.path(), "v4.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 4);
    check_spec_v3(&spec, None, true);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

/// "Upgrading", 4 -> 5: the search filters' table, one row without a
/// filter per segment; searches are complete before the backfill, which
/// then gives every segment the filter the document describes.
#[test]
fn committed_format_4_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V4, dir.path(), "v4.chatvault");
    let sealed = sealed_values(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 4, "only a holder of the key upgrades the file");
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!(user_version(&path), 6);
    assert_eq!(schema(&path), schema(&load(VECTOR_V6, dir.path(), "v6.chatvault")));
    assert_eq!(sealed_values(&path), sealed, "the upgrade rewrote a sealed value");
    check_api_v3(&store);
    assert!(store.verify().unwrap().is_ok());
    let stats = store.stats().unwrap();
    assert!(stats.segments > 0);
    assert_eq!(stats.segments_unindexed, stats.segments);

    // A search before the backfill opens every segment, and says so.
    let query = SearchQuery::new("hi");
    let before = store.search(&query).unwrap();
    assert_eq!(before.unindexed_segments, stats.segments);
    let report = store.index_for_search(None).unwrap();
    assert_eq!((report.segments_indexed, report.segments_remaining), (stats.segments, 0));
    let after = store.search(&query).unwrap();
    assert_eq!((&after.hits, after.unindexed_segments), (&before.hits, 0));
    assert_eq!(store.stats().unwrap().segments_unindexed, 0);
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    check_spec_v3(&spec, None, true);
    assert_eq!(check_filters(&spec), stats.segments, "every segment has its filter");
}

/// Every segment's filter row read by the document ("Schema (format 5)");
/// returns how many have a filter.
fn check_filters(spec: &SpecStore) -> u64 {
    let mut filters = 0;
    for c in spec.conversation_ids() {
        for seg in spec.segment_rows(c) {
            filters += u64::from(spec.filter_record(c, &seg).is_some());
        }
    }
    filters
}

// ---------------------------------------------------------------- format 5

/// The format-5 vector holds what the format-4 one does, each segment with
/// its search filter.
#[test]
fn committed_format_5_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V5, dir.path(), "v5.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 5);
    check_spec_v3(&spec, None, true);
    let segments: usize = spec.conversation_ids().iter().map(|c| spec.segment_rows(*c).len()).sum();
    assert_eq!(check_filters(&spec), segments as u64);
    assert!(spec.read_all().iter().any(|e| e.place.kind == spec::KIND_FILTER));
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

/// "Upgrading", 5 -> 6: the attachments' table, empty; nothing sealed changes.
#[test]
fn committed_format_5_store_opens_with_todays_code_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V5, dir.path(), "v5.chatvault");
    let sealed = sealed_values(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    assert_eq!(user_version(&path), 5, "only a holder of the key upgrades the file");
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!(user_version(&path), 6);
    assert_eq!(schema(&path), schema(&load(VECTOR_V6, dir.path(), "v6.chatvault")));
    assert_eq!(sealed_values(&path), sealed);
    check_api_v3(&store);
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.stats().unwrap().segments_unindexed, 0);
    // Attachments work at once.
    let alice = ConversationId::from_raw(1);
    let newest = store.messages(alice, Page::latest(1)).unwrap()[0].id;
    let a = store.attach_from(newest, thumbnail(), &mut &b"after the upgrade"[..]).unwrap();
    assert_eq!(store.attachment(a).unwrap().byte_len, 17);
    assert!(store.verify().unwrap().is_ok());
}

// ---------------------------------------------------------------- format 6

fn thumbnail() -> NewAttachment {
    NewAttachment {
        media_type: "image/png".into(),
        file_name: Some("thumb.png".into()),
        app_data: b"32x32".to_vec(),
    }
}

/// What the format-6 vector adds to the format-5 one: two inline
/// attachments on Alice's newest message, the second one cleared by the
/// storage manager (a stub: metadata kept, content and key gone).
fn build_v6(store: &Store) -> (AttachmentId, AttachmentId) {
    let alice = ConversationId::from_raw(1);
    let newest = store.messages(alice, Page::latest(1)).unwrap()[0].id;
    let kept = store.attach_from(newest, thumbnail(), &mut &b"a tiny picture of a cat"[..]).unwrap();
    let cleared = NewAttachment { media_type: "video/mp4".into(), file_name: None, app_data: vec![] };
    let cleared = store.attach_from(newest, cleared, &mut &[7u8; 1000][..]).unwrap();
    let report = store
        .clear_attachments(&AttachmentFilter {
            media_type_prefix: Some("video/".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.attachments, 1);
    (kept, cleared)
}

/// The format-6 vector's attachments, by the document.
fn check_spec_v6(spec: &SpecStore) {
    let rows = spec.attachment_rows(1);
    assert_eq!(rows.len(), 2);
    let (_, kept) = spec.attachment_record(&rows[0]);
    assert_eq!(
        (kept.value.media_type.as_str(), kept.value.file_name.as_deref(), kept.value.byte_len),
        ("image/png", Some("thumb.png"), 23)
    );
    assert_eq!(spec.attachment_content(&rows[0], Path::new("/nonexistent")), b"a tiny picture of a cat");
    let (_, cleared) = spec.attachment_record(&rows[1]);
    assert_eq!(
        (cleared.value.key, cleared.value.byte_len, cleared.value.removed_at_ms),
        (None, 1000, Some(NOW))
    );
}

#[test]
fn committed_format_6_store_decodes_by_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V6, dir.path(), "v6.chatvault");
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    assert_eq!(spec.format, 6);
    check_spec_v3(&spec, None, true);
    check_spec_v6(&spec);
    assert!(spec.read_all().iter().any(|e| e.place.kind == spec::KIND_ATTACHMENT));
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

#[test]
fn committed_format_6_store_opens_with_todays_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V6, dir.path(), "v6.chatvault");
    let sealed = sealed_values(&path);
    let text = schema(&path);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    assert_eq!((user_version(&path), schema(&path)), (6, text), "nothing to upgrade");
    assert_eq!(sealed_values(&path), sealed);
    check_api_v3(&store);
    assert!(store.verify().unwrap().is_ok());
    let alice = ConversationId::from_raw(1);
    let gallery = store.attachments(alice, AttachmentPage::newest(10)).unwrap();
    assert_eq!(gallery.len(), 2);
    let mut content = Vec::new();
    store.open_attachment(gallery[1].id).unwrap().read_to_end(&mut content).unwrap();
    assert_eq!(content, b"a tiny picture of a cat");
    assert_eq!(gallery[0].removed_at_ms, Some(NOW));
}

/// "The segment table's key": a segment whose `id` does not match its
/// conversation and first sequence number (a forged file need not keep the
/// schema's `CHECK`) is reported by `verify` and refused by reads, and a
/// format-3 store with a segment beyond format 4's limits is refused at
/// open, unchanged.
#[test]
fn a_segment_off_its_key_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = load(VECTOR_V4, dir.path(), "v4.chatvault");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON;
         UPDATE segment SET id = id + 100 WHERE conversation = 2 AND first_seq = 15;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.detail.contains("has an id that does not match")),
        "{:?}",
        report.problems
    );
    let group = ConversationId::from_raw(2);
    assert!(matches!(store.messages(group, Page::latest(50)), Err(Error::Corrupt { .. })));
    drop(store);
    // A key column that is not even an integer is reported, not an error.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON;
         UPDATE segment SET first_seq = 'x' WHERE conversation = 1 AND first_seq = 1;",
    )
    .unwrap();
    drop(conn);
    let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.detail.contains("starting at 'x' has an id that does not match")),
        "{:?}",
        report.problems
    );

    // A format 3 store beyond format 4's limits (a sequence number from an
    // import of an earlier format's archive) or altered by hand is refused
    // before anything changes, with the error that says which.
    let beyond = "a limit";
    for (i, (change, expected)) in [
        ("UPDATE segment SET first_seq = 4294967296 WHERE conversation = 2 AND first_seq = 15", beyond),
        ("UPDATE segment SET last_seq = 4294967296 WHERE conversation = 2 AND first_seq = 15", beyond),
        ("UPDATE conversation SET next_seq = 4294967297 WHERE id = 2", beyond),
        ("UPDATE segment SET conversation = 2147483648 WHERE conversation = 2 AND first_seq = 15", beyond),
        ("UPDATE segment SET first_seq = 'x' WHERE conversation = 2 AND first_seq = 15", "corrupt"),
        ("UPDATE segment SET first_seq = -1 WHERE conversation = 2 AND first_seq = 15", "corrupt"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = load(VECTOR_V3, dir.path(), &format!("v3-{i}.chatvault"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(conn.execute(change, []).unwrap(), 1, "{change}");
        drop(conn);
        let sealed = sealed_values(&path);
        let err = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap_err();
        match expected {
            "corrupt" => assert!(matches!(err, Error::Corrupt { .. }), "{change}: {err}"),
            _ => assert!(matches!(err, Error::LimitReached { .. }), "{change}: {err}"),
        }
        assert_eq!((user_version(&path), sealed_values(&path)), (3, sealed), "{change}: left as it was");
    }
}

// ---------------------------------------------------------- master-key rotation

/// A store upgraded from format 1 or 2 rotates its master key: every
/// conversation key is rewrapped (format-1 ones into version-2 envelopes),
/// every keyed hash recomputed, messages without external id indexed by
/// content for the first time; the document reads it all with the new root
/// key, and the old master key opens nothing.
#[test]
fn upgraded_stores_rotate_their_master_key() {
    for (vector, name) in [(VECTOR_V1, "v1"), (VECTOR_V2, "v2")] {
        let dir = tempfile::tempdir().unwrap();
        let path = load(vector, dir.path(), &format!("{name}.chatvault"));
        let before = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
        let old_master = before.master;
        let epochs: Vec<u32> =
            before.conversation_ids().iter().map(|&c| before.conversation(c).epoch).collect();
        let messages: Vec<_> = before.conversation_ids().iter().map(|&c| before.messages(c)).collect();
        let old_wrapped: Vec<Vec<u8>> = before
            .conversation_ids()
            .into_iter()
            .flat_map(|c| before.key_epochs(c).into_iter().map(move |e| (c, e)))
            .map(|(c, e)| before.wrapped_key(c, e))
            .collect();
        drop(before);
        let disk = common::disk_bytes(&path);
        assert!(old_wrapped.iter().all(|w| common::contains(&disk, &w[13..])), "{name}: the check can fail");

        let new_key = [0x3C; 32];
        let store = Store::open_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
        let report = store.rotate_master_key(StoreKey::raw(new_key)).unwrap();
        assert_eq!(report.conversations, 2, "{name}");
        assert!(store.verify().unwrap().is_ok(), "{name}");
        drop(store);

        let spec = SpecStore::open(&path, Root::Raw(new_key));
        assert_eq!((spec.format, spec.master_gen, spec.next.is_none()), (6, 1, true), "{name}");
        assert_ne!(spec.master, old_master, "{name}: a new master key");
        let all = spec.read_all();
        assert!(
            all.iter()
                .filter(|e| e.place.kind == spec::KIND_CONVERSATION_KEY)
                .all(|e| e.version == ENVELOPE_V2),
            "{name}: every key rewrapped"
        );
        for (i, c) in spec.conversation_ids().into_iter().enumerate() {
            assert_eq!(spec.conversation(c).epoch, epochs[i] + 1, "{name}: a new epoch in conversation {c}");
            assert_eq!(spec.messages(c), messages[i], "{name}: conversation {c}'s messages");
            check_index(&spec, c, true);
            assert_eq!(spec.index_rows("message_ref", c), rotated_refs(&spec, c), "{name}: conversation {c}");
            assert!(spec.index_rows("recent_ref", c).is_empty(), "{name}: conversation {c}");
        }
        old_master_opens_nothing(&spec, &old_master);
        // "Finish" rebuilt the key table and scrubbed: no piece of a
        // wrapping under M's wrap key is left in the file or the WAL.
        let disk = common::disk_bytes(&path);
        for wrapped in &old_wrapped {
            for piece in wrapped[13..].chunks(16) {
                assert!(!common::contains(&disk, piece), "{name}: a piece of an old wrapping survived");
            }
        }

        assert!(matches!(Store::open(&path, StoreKey::passphrase(PASSPHRASE)), Err(Error::WrongKey)));
        let store = Store::open_with(&path, StoreKey::raw(new_key), fixed_clock()).unwrap();
        assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(ConversationId::from_raw(1)));
        agree(&spec, &store, NOW);
    }
}

/// "Record plaintexts": kinds 1 and 5 are sealed under the root key (the
/// reader opened both with the store's): neither opens under `old_root`,
/// and kind 5 does not open under the current master key either.
fn only_the_root_key_opens_the_master_keys(spec: &SpecStore, old_root: &[u8; 32]) {
    let (master, next): (Vec<u8>, Option<Vec<u8>>) = spec
        .conn
        .query_row("SELECT master, next_master FROM store WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let id = &spec.store_id;
    // During a rotation kind 1 is bound to it ("Associated data").
    let master_place = if next.is_some() { Place::master_pending(spec.master_gen) } else { Place::master() };
    assert!(spec::open(&spec.root, id, &master_place, &master).is_some());
    assert!(spec::open(old_root, id, &master_place, &master).is_none(), "the old root key opens kind 1");
    if next.is_some() {
        assert!(
            spec::open(&spec.root, id, &Place::master(), &master).is_none(),
            "kind 1 opens without its rotation"
        );
    }
    if let Some(next) = next {
        let place = Place::next_master(spec.master_gen);
        assert!(spec::open(&spec.root, id, &place, &next).is_some());
        assert!(spec::open(old_root, id, &place, &next).is_none(), "the old root key opens kind 5");
        assert!(spec::open(&spec.master, id, &place, &next).is_none(), "kind 5 opens under the master key");
    }
}

/// `store.kdf_salt`.
fn kdf_salt(path: &Path) -> Option<Vec<u8>> {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT kdf_salt FROM store WHERE id = 1", [], |r| r.get(0))
        .unwrap()
}

/// A rotation under way, made by hand from the document ("Begin": the
/// current master key M resealed under the new root key K1 as kind 1, the
/// next one M' sealed under K1 as kind 5; then step 2 for conversation 1),
/// opens and works with chatvault under K1 alone, which then finishes it
/// with the M' the document's side drew: library and document agree on
/// kinds 1 and 5, the keys that seal them, their associated data, and which
/// subkeys each conversation uses.
#[test]
fn a_rotation_under_way_follows_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.chatvault");
    let (old_key, new_key) = ([0x11; 32], [0x22; 32]);
    let (archive, _) = source_archive(dir.path());
    let store = Store::create_with(&path, StoreKey::raw(old_key), fixed_clock()).unwrap();
    build(&store);
    store.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    store.close().unwrap();

    // Step 1, "Begin", in one transaction: `master` = M sealed under K1
    // (kind 1; K1 is a raw key, as K0 is, so the KDF columns stay NULL),
    // `next_master` = M' sealed under K1 (kind 5, first_seq master_gen + 1),
    // rotated_through = 0. Then step 2 for conversation 1 (whose keys and
    // keyed hashes are all this test moves; the new epoch a rotation also
    // starts is not needed to read it).
    let spec = SpecStore::open(&path, Root::Raw(old_key));
    assert_eq!((spec.format, spec.master_gen, spec.next.is_none()), (6, 0, true));
    let old_master = spec.master;
    let next = spec::random_key();
    let moved = Subkeys::derive(&next, &spec.store_id);
    let alice = 1;
    let keys: Vec<(u32, [u8; 32])> =
        spec.key_epochs(alice).into_iter().map(|e| (e, spec.conversation_key(alice, e))).collect();
    let alice_msgs = spec.messages(alice);
    let sealed_master =
        spec::seal(&new_key, &spec.store_id, &Place::master_pending(spec.master_gen), &spec.master);
    let sealed_next = spec::seal(&new_key, &spec.store_id, &Place::next_master(spec.master_gen), &next);
    assert_eq!(Place::next_master(0).first, 1);
    let mut refs: Vec<([u8; 16], u64)> = Vec::new();
    for (seq, m) in &alice_msgs {
        if m.expires_at_ms.is_some_and(|t| t <= NOW) {
            continue;
        }
        let h = match &m.external_id {
            Some(ext) => moved.hash(&[b"message\0", &alice.to_be_bytes(), ext.as_bytes()]),
            None => {
                let len = (m.sender.len() as u64).to_be_bytes();
                let sent = m.sent_at_ms.to_be_bytes();
                moved.hash(&[b"content\0", &alice.to_be_bytes(), &len, m.sender.as_bytes(), &sent])
            }
        };
        if refs.iter().all(|(seen, _)| *seen != h) {
            refs.push((h, *seq));
        }
    }
    let conn = &spec.conn;
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn.execute(
        "UPDATE store SET master = ?1, next_master = ?2, rotated_through = 0 WHERE id = 1",
        rusqlite::params![sealed_master, sealed_next],
    )
    .unwrap();
    conn.execute_batch("COMMIT; BEGIN IMMEDIATE").unwrap();
    for (epoch, key) in &keys {
        let wrapped = spec::seal(&moved.wrap, &spec.store_id, &Place::key(alice, *epoch), key);
        conn.execute(
            "UPDATE conversation_key SET wrapped = ?3 WHERE conversation = ?1 AND epoch = ?2",
            rusqlite::params![alice as i64, epoch, wrapped],
        )
        .unwrap();
    }
    let ext_hash = moved.hash(&[b"conversation\0", b"wxid_alice"]);
    conn.execute(
        "UPDATE conversation SET ext_hash = ?1 WHERE id = ?2",
        rusqlite::params![&ext_hash[..], alice as i64],
    )
    .unwrap();
    conn.execute("DELETE FROM recent_ref WHERE conversation = ?1", [alice as i64]).unwrap();
    conn.execute("DELETE FROM message_ref WHERE conversation = ?1", [alice as i64]).unwrap();
    for (h, seq) in &refs {
        conn.execute(
            "INSERT INTO message_ref (conversation, ext_hash, seq) VALUES (?1, ?2, ?3)",
            rusqlite::params![alice as i64, &h[..], *seq as i64],
        )
        .unwrap();
    }
    conn.execute("UPDATE store SET rotated_through = ?1 WHERE id = 1", [alice as i64]).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    drop(spec);

    // The document reads the store under way with K1: M and M' both from
    // it, conversation 1 through M''s subkeys, the others through M's.
    let spec = SpecStore::open(&path, Root::Raw(new_key));
    assert_eq!((spec.master, spec.master_gen), (old_master, 0));
    let n = spec.next.expect("a rotation under way");
    assert_eq!((n.master, n.version, n.rotated_through), (next, ENVELOPE_V2, 1));
    assert_eq!(
        (spec.subkeys_for(1), spec.subkeys_for(2), spec.subkeys_for(3)),
        (moved, spec.current(), spec.current())
    );
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    let all = spec.read_all();
    assert!(all.iter().any(|e| e.place == Place::next_master(0)), "kind 5 is read");
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
    }
    drop(spec);

    // chatvault opens it with K1 only, and works: lookups by external id
    // and origin, re-deliveries, new messages and a new conversation, each
    // under the subkeys the document says.
    assert!(matches!(Store::open(&path, StoreKey::raw(old_key)), Err(Error::WrongKey)));
    let store = Store::open_with(&path, StoreKey::raw(new_key), fixed_clock()).unwrap();
    assert!(store.verify().unwrap().is_ok());
    let a = ConversationId::from_raw(alice);
    assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(a));
    let again = store.append(a, NewMessage { external_id: Some("srv-1".into()), ..Default::default() });
    assert_eq!(again.unwrap(), MessageId::new(a, 1));
    let pending = |ext: &str| NewMessage {
        external_id: Some(ext.into()),
        sender: "me".into(),
        sent_at_ms: SENT + 300,
        text: format!("while the rotation is under way: {ext}"),
        ..Default::default()
    };
    assert_eq!(store.append(a, pending("p-1")).unwrap(), MessageId::new(a, 8));
    let group = ConversationId::from_raw(2);
    assert_eq!(store.append(group, pending("p-2")).unwrap(), MessageId::new(group, 17));
    let newcomer = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_newcomer".into()),
            title: "Newcomer".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(newcomer, ConversationId::from_raw(4), "above rotated_through: under M");
    store.append(newcomer, pending("p-4")).unwrap();
    let report = store.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!((report.conversations_matched, report.messages_added), (1, 0), "found by its origin");
    assert!(store.verify().unwrap().is_ok());

    let spec = SpecStore::open(&path, Root::Raw(new_key));
    assert_eq!(spec.subkeys_for(4), spec.current());
    assert_eq!(spec.index(alice).last().unwrap(), &(spec.message_hash(alice, "p-1").to_vec(), 8));
    assert_eq!(spec.message_hash(alice, "p-1"), moved.hash(&[b"message\0", &alice.to_be_bytes(), b"p-1"]));
    // Keyed hashes written during the rotation are under M' whatever the
    // conversation's keys are under: conversation 2 has not moved, and the
    // newcomer's keys are under M, but its hashes are M''s.
    let p2 = moved.hash(&[b"message\0", &2u64.to_be_bytes(), b"p-2"]);
    assert_eq!(spec.index(2).last().unwrap(), &(p2.to_vec(), 17));
    assert_eq!(spec.ext_hash(4).as_deref(), Some(&moved.hash(&[b"conversation\0", b"wxid_newcomer"])[..]));
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    spec.read_all();
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
    }
    agree(&spec, &store, NOW);
    drop(spec);

    // chatvault finishes the rotation (K1 is the store's key: it resumes)
    // with the M' the document's side recorded, moving the conversations
    // above rotated_through, and seals M' under K1.
    let report = store.rotate_master_key(StoreKey::raw(new_key)).unwrap();
    assert!(report.finished, "{report:?}");
    assert_eq!(report.conversations, 3, "conversations 2, 3 and 4: 1 had moved");
    assert!(report.conversations_damaged.is_empty(), "{report:?}");
    assert!(store.verify().unwrap().is_ok());
    drop(store);

    let spec = SpecStore::open(&path, Root::Raw(new_key));
    assert_eq!((spec.master, spec.master_gen, spec.next.is_none()), (next, 1, true));
    assert_eq!(spec.current(), moved);
    assert!(!spec.key_rebuild_owed);
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    spec.read_all();
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
        if c != alice {
            assert_eq!(spec.index_rows("message_ref", c), rotated_refs(&spec, c), "conversation {c}");
            assert!(spec.index_rows("recent_ref", c).is_empty(), "conversation {c}");
        }
    }
    old_master_opens_nothing(&spec, &old_master);

    assert!(matches!(Store::open(&path, StoreKey::raw(old_key)), Err(Error::WrongKey)));
    let store = Store::open_with(&path, StoreKey::raw(new_key), fixed_clock()).unwrap();
    assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(a));
    assert_eq!(store.find_conversation("wxid_newcomer").unwrap(), Some(newcomer));
    agree(&spec, &store, NOW);
}

/// A rotation chatvault left under way (a transaction budget) reads by the
/// document with the new root key K1 alone. After "Begin": `master` holds
/// the current master key M and `next_master` the next one M', both
/// sealed under K1 (K1's KDF columns, a fresh salt), rotated_through 0,
/// and neither opens under the old root key K0, of which no wrapping is
/// left in the file. After two more transactions: conversations 1 and 2
/// moved (each step takes conversations until it has read 256 segments)
/// and through M''s subkeys, conversation 3 through M's. Then the
/// rotation finishes with K1 (a fresh salt again).
#[test]
fn a_rotation_left_under_way_by_chatvault_follows_the_document() {
    const NEW_PASSPHRASE: &str = "the rotation's new passphrase";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("left-under-way.chatvault");
    let old_key = [0x44; 32];
    let new_key = || StoreKey::passphrase(NEW_PASSPHRASE);
    let (archive, _) = source_archive(dir.path());
    let store = Store::create_with(&path, StoreKey::raw(old_key), fixed_clock()).unwrap();
    build(&store);
    store.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    // 256 more segments in conversations 1 and 2 each, so that a step of
    // the rotation moves one of them alone.
    let (alice, group) = (ConversationId::from_raw(1), ConversationId::from_raw(2));
    for i in 0..256i64 {
        let m = |ext: &str| NewMessage {
            external_id: Some(format!("{ext}-{i}")),
            sender: "me".into(),
            sent_at_ms: SENT + 1_000 + i,
            text: format!("bulk {i}"),
            ..Default::default()
        };
        store.append_batch(&[(alice, m("a")), (group, m("g"))]).unwrap();
    }
    let before = SpecStore::open(&path, Root::Raw(old_key));
    assert_eq!((before.segment_rows(1).len(), before.segment_rows(2).len()), (259, 260));
    let old_master = before.master;
    let epochs: Vec<u32> = [1, 2, 3].iter().map(|&c| before.conversation(c).epoch).collect();
    let old_ext_hash_3 = before.ext_hash(3);
    drop(before);
    let old_sealed_master = sealed_values(&path).swap_remove(0);

    // "Begin" alone.
    let budget = |n| RotateOptions::default().transaction_budget(n);
    let report = store.rotate_master_key_with(new_key(), &budget(1)).unwrap();
    assert_eq!((report.finished, report.transactions, report.conversations), (false, 1, 0), "{report:?}");
    assert!(report.conversations_damaged.is_empty(), "{report:?}");
    assert!(matches!(Store::open(&path, StoreKey::raw(old_key)), Err(Error::WrongKey)), "only K1 opens it");

    let spec = SpecStore::open(&path, Root::Passphrase(NEW_PASSPHRASE));
    let kdf: (i64, u32, u32, u32) = spec
        .conn
        .query_row("SELECT kdf, kdf_m_kib, kdf_t, kdf_p FROM store", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(kdf, (1, 19_456, 2, 1), "K1's KDF columns");
    let salt_at_begin = kdf_salt(&path).expect("a passphrase's salt");
    assert_eq!((spec.format, spec.master_gen, spec.master), (6, 0, old_master), "M, sealed under K1");
    let n = spec.next.expect("a rotation under way");
    assert_eq!((n.version, n.rotated_through), (ENVELOPE_V2, 0));
    assert_ne!(n.master, old_master);
    let next = n.master;
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    let all = spec.read_all();
    assert!(all.iter().any(|e| e.place == Place::next_master(0)), "kind 5 is read");
    for c in spec.conversation_ids() {
        assert_eq!(spec.subkeys_for(c), spec.current(), "conversation {c} not moved yet");
        check_index(&spec, c, true);
    }
    drop(spec);
    // Then the scrub: no piece of M's wrapping under K0 is left.
    let disk = common::disk_bytes(&path);
    for piece in old_sealed_master[13..].chunks(16) {
        assert!(!common::contains(&disk, piece), "a piece of M's wrapping under K0 survived");
    }

    // Two more transactions: conversation 1, then conversation 2.
    let report = store.rotate_master_key_with(new_key(), &budget(2)).unwrap();
    assert_eq!((report.finished, report.transactions, report.conversations), (false, 2, 2), "{report:?}");
    assert!(report.conversations_damaged.is_empty(), "{report:?}");

    let spec = SpecStore::open(&path, Root::Passphrase(NEW_PASSPHRASE));
    assert_eq!((spec.master, spec.master_gen), (old_master, 0));
    let n = spec.next.expect("still under way");
    assert_eq!((n.master, n.rotated_through), (next, 2));
    assert_eq!(kdf_salt(&path).unwrap(), salt_at_begin, "the header is rewritten at Begin and Finish only");
    assert_eq!(
        (spec.subkeys_for(1), spec.subkeys_for(2), spec.subkeys_for(3)),
        (n.subkeys, n.subkeys, spec.current())
    );
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    spec.read_all();
    let old = Subkeys::derive(&old_master, &spec.store_id);
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
        let moved = c <= 2;
        let epoch = spec.conversation(c).epoch;
        assert_eq!(
            epoch,
            epochs[c as usize - 1] + u32::from(moved),
            "conversation {c}: a new epoch if moved"
        );
        for e in spec.key_epochs(c) {
            let opens_under_m =
                spec::open(&old.wrap, &spec.store_id, &Place::key(c, e), &spec.wrapped_key(c, e)).is_some();
            assert_eq!(opens_under_m, !moved, "key ({c}, {e})");
        }
        if moved {
            assert_eq!(spec.index_rows("message_ref", c), rotated_refs(&spec, c), "conversation {c}");
            assert!(spec.index_rows("recent_ref", c).is_empty(), "conversation {c}");
        }
    }
    assert_eq!(spec.ext_hash(3), old_ext_hash_3, "conversation 3 not moved: its origin hash under M");

    // Both handles work meanwhile, under the subkeys the document says.
    let other = Store::open_with(&path, new_key(), fixed_clock()).unwrap();
    assert!(other.verify().unwrap().is_ok());
    agree(&spec, &other, NOW);
    drop(spec);
    let imported = ConversationId::from_raw(3);
    let late = |ext: &str| NewMessage {
        external_id: Some(ext.into()),
        sender: "me".into(),
        sent_at_ms: SENT + 400,
        text: format!("while the rotation is left under way: {ext}"),
        ..Default::default()
    };
    assert_eq!(store.append(alice, late("l-1")).unwrap(), MessageId::new(alice, 8 + 256));
    assert_eq!(other.append(imported, late("l-3")).unwrap(), MessageId::new(imported, 3));
    assert_eq!(other.find_conversation("wxid_alice").unwrap(), Some(alice));
    let report = other.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!((report.conversations_matched, report.messages_added), (1, 0), "found by its origin");
    drop(other);
    let spec = SpecStore::open(&path, Root::Passphrase(NEW_PASSPHRASE));
    assert_eq!(
        spec.index(1).last().unwrap(),
        &(n.subkeys.hash(&[b"message\0", &1u64.to_be_bytes(), b"l-1"]).to_vec(), 264)
    );
    // Conversation 3 has not moved, but a hash written now is under M'.
    let under_next = n.subkeys.hash(&[b"message\0", &3u64.to_be_bytes(), b"l-3"]);
    assert_eq!(spec.index(3).last().unwrap(), &(under_next.to_vec(), 3));
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
    }
    drop(spec);

    // "Finish": conversation 3 moves, M' sealed under K1 with a fresh salt.
    let report = store.rotate_master_key(new_key()).unwrap();
    assert!(report.finished, "{report:?}");
    assert_eq!(report.conversations, 1, "{report:?}");
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    let spec = SpecStore::open(&path, Root::Passphrase(NEW_PASSPHRASE));
    assert_eq!(
        (spec.master, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (next, 1, true, false)
    );
    assert_ne!(kdf_salt(&path).unwrap(), salt_at_begin, "a fresh salt at Finish");
    only_the_root_key_opens_the_master_keys(&spec, &old_key);
    spec.read_all();
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
    }
    assert_eq!(spec.index_rows("message_ref", 3), rotated_refs(&spec, 3));
    old_master_opens_nothing(&spec, &old_master);
    assert!(matches!(Store::open(&path, StoreKey::raw(old_key)), Err(Error::WrongKey)));
    let store = Store::open_with(&path, new_key(), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

/// "Master-key rotation": a rotation someone else began (as a holder of
/// the store's root key K0 can: a next master key of their choosing,
/// sealed as kind 5 under K0) never becomes the master key of a store
/// whose owner rotates to a new key K1: chatvault finishes it under K0,
/// then rotates again, from a new master key, to K1.
#[test]
fn a_rotation_to_another_key_does_not_adopt_the_one_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planted.chatvault");
    let (k0, k1) = ([0x55; 32], [0x66; 32]);
    let store = Store::create_with(&path, StoreKey::raw(k0), fixed_clock()).unwrap();
    build(&store);
    store.close().unwrap();

    let spec = SpecStore::open(&path, Root::Raw(k0));
    let (old_master, chosen) = (spec.master, spec::random_key());
    let sealed = spec::seal(&k0, &spec.store_id, &Place::next_master(0), &chosen);
    // Whoever has k0 can bind the master key to their rotation too.
    let rebound = spec::seal(&k0, &spec.store_id, &Place::master_pending(0), &spec.master);
    spec.conn.execute("UPDATE store SET master = ?1 WHERE id = 1", [&rebound]).unwrap();
    spec.conn
        .execute("UPDATE store SET next_master = ?1, rotated_through = 0 WHERE id = 1", [&sealed])
        .unwrap();
    drop(spec);
    let spec = SpecStore::open(&path, Root::Raw(k0));
    assert_eq!(spec.next.map(|n| (n.master, n.rotated_through)), Some((chosen, 0)));
    drop(spec);

    let store = Store::open_with(&path, StoreKey::raw(k0), fixed_clock()).unwrap();
    assert!(store.verify().unwrap().is_ok());
    let report = store.rotate_master_key(StoreKey::raw(k1)).unwrap();
    assert!(report.finished, "{report:?}");
    assert_eq!(report.conversations, 4, "both conversations, in both rotations: {report:?}");
    assert!(store.verify().unwrap().is_ok());
    drop(store);

    let spec = SpecStore::open(&path, Root::Raw(k1));
    assert_eq!((spec.master_gen, spec.next.is_none()), (2, true), "the one under way finished, then another");
    assert!(spec.master != chosen && spec.master != old_master);
    only_the_root_key_opens_the_master_keys(&spec, &k0);
    spec.read_all();
    for c in spec.conversation_ids() {
        check_index(&spec, c, true);
    }
    old_master_opens_nothing(&spec, &chosen);
    old_master_opens_nothing(&spec, &old_master);
    assert!(matches!(Store::open(&path, StoreKey::raw(k0)), Err(Error::WrongKey)));
    let store = Store::open_with(&path, StoreKey::raw(k1), fixed_clock()).unwrap();
    agree(&spec, &store, NOW);
}

// ---------------------------------------------------------------- today's code

#[test]
fn todays_code_writes_what_the_document_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.chatvault");
    let key = [0x5A; 32];
    let store = Store::create_with(&path, StoreKey::raw(key), fixed_clock()).unwrap();
    build(&store);
    check_api_v2(&store);
    let spec = SpecStore::open(&path, Root::Raw(key));
    assert_eq!(
        (spec.format, spec.master_gen, spec.next.is_none(), spec.key_rebuild_owed),
        (6, 0, true, false)
    );
    assert_eq!(
        activities(&path),
        [(1, 3), (2, 4)],
        "stamps only on a change of the most recent conversation"
    );
    check_spec_v2(&spec, 1, 2, true, true);
    agree(&spec, &store, NOW);
    let old_master = spec.master;
    drop(spec);

    let (archive, source) = source_archive(dir.path());
    build_v3(&store, &archive, StoreKey::raw(key));
    check_api_v3(&store);
    let spec = SpecStore::open(&path, Root::Raw(key));
    check_spec_v3(&spec, Some(source), true);
    old_master_opens_nothing(&spec, &old_master);
    agree(&spec, &store, NOW);
    drop(spec);

    // The origin's hash, recomputed by the rotation, still finds the
    // imported conversation.
    let report = store.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!(
        (report.conversations_created, report.conversations_matched, report.messages_added),
        (0, 1, 0)
    );
    drop(store);

    // Same schema, to the letter, as the committed format-6 store.
    let vector = load(VECTOR_V6, dir.path(), "v6.chatvault");
    assert_eq!(schema(&path), schema(&vector), "the schema changed: that is a new format version");
}

/// docs/DESIGN.md, "Schema": the tables and indexes it gives are those of a
/// store created today, up to comments and white space.
#[test]
fn the_schema_is_the_documents() {
    let design = include_str!("../docs/DESIGN.md");
    let start =
        design.find("```sql\nCREATE TABLE store").expect("the schema in docs/DESIGN.md") + "```sql\n".len();
    let block = &design[start..start + design[start..].find("```").unwrap()];
    // Comments out, white space collapsed, none next to punctuation.
    let normalise = |sql: &str| -> String {
        let text: Vec<&str> = sql.lines().map(|l| l.split("--").next().unwrap()).collect();
        let mut out = text.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        for p in ["(", ")", ","] {
            out = out.replace(&format!(" {p}"), p).replace(&format!("{p} "), p);
        }
        out
    };
    let mut documented: Vec<String> =
        normalise(block).split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    documented.sort();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.chatvault");
    drop(Store::create(&path, StoreKey::raw([1; 32])).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut actual: Vec<String> = conn
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| normalise(&s.unwrap()))
        .collect();
    actual.sort();
    assert_eq!(documented, actual);
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, chatvault::FORMAT_VERSION);
    assert!(design.contains(&format!("Format version: **{version}**")));
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
#[ignore = "with CHATVAULT_REGENERATE=1, writes tests/vectors/store-v6.sql; run only on a deliberate change to what it holds"]
fn regenerate_format_6_vector() {
    if !common::regenerating("tests/vectors/store-v6.sql") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vector.chatvault");
    let (archive, _) = source_archive(dir.path());
    let store = Store::create_with(&path, StoreKey::passphrase(PASSPHRASE), fixed_clock()).unwrap();
    build(&store);
    build_v3(&store, &archive, StoreKey::passphrase(PASSPHRASE));
    check_api_v3(&store);
    build_v6(&store);
    store.close().unwrap();
    let spec = SpecStore::open(&path, Root::Passphrase(PASSPHRASE));
    check_spec_v3(&spec, None, true);
    assert!(check_filters(&spec) > 0);
    check_spec_v6(&spec);
    drop(spec);
    let header = "-- chatvault store format 6: a test vector (see tests/format_spec.rs).\n\
                  -- Passphrase: \"chatvault format vector\", Argon2id m=19456 KiB, t=2, p=1.\n\
                  -- Built with the clock at 1750000000000 ms; read it with that clock.\n\
                  -- Conversation 3 was imported from an archive; the master key was rotated\n\
                  -- once (to the same passphrase) before the last two messages were written.\n\
                  -- Alice's newest message has two inline attachments, the second cleared.\n";
    let out = format!("{header}{}", dump::dump(&path));
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/store-v6.sql"), out).unwrap();
}
