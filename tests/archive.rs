//! Archives: round trips, merges, and every way an archive can be attacked
//! (docs/FORMAT.md). Each failing import must leave the store unchanged.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chatvault::archive::{self, ArchiveProgress};
use chatvault::{
    ConversationId, ConversationUpdate, Error, ExportOptions, ImportOptions, MessageId, NewConversation,
    NewMessage, Page, Store,
};
use common::{KEY, TestStore, dump};

const ARCHIVE_KEY: [u8; 32] = [0x5A; 32];
const HEADER: usize = 120;

/// A conversation and its messages as a user sees them, without store ids.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConvView {
    external_id: Option<String>,
    title: String,
    members: Vec<String>,
    app_data: Vec<u8>,
    created_at_ms: i64,
    read_up_to: Option<u64>,
    message_count: u64,
    retention_ms: Option<u64>,
    messages: Vec<MsgView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MsgView {
    seq: u64,
    external_id: Option<String>,
    sender: String,
    sent_at_ms: i64,
    text: String,
    reply_to: Option<u64>,
    edited_at_ms: Option<i64>,
    extra: Vec<u8>,
    expires_at_ms: Option<i64>,
}

/// Every message of `c`, oldest first, paging through the store.
fn all_messages(store: &Store, c: ConversationId) -> Vec<MsgView> {
    let mut out = Vec::new();
    let mut page = store.messages(c, Page::oldest(100)).unwrap();
    while let Some(last) = page.last().map(|m| m.id) {
        out.extend(page.into_iter().map(|m| MsgView {
            seq: m.id.seq(),
            external_id: m.external_id,
            sender: m.sender,
            sent_at_ms: m.sent_at_ms,
            text: m.text,
            reply_to: m.reply_to.map(MessageId::seq),
            edited_at_ms: m.edited_at_ms,
            extra: m.extra,
            expires_at_ms: m.expires_at_ms,
        }));
        page = store.messages(c, Page::after(last, 100)).unwrap();
    }
    out
}

fn view(store: &Store, c: ConversationId) -> ConvView {
    let conv = store.conversation(c).unwrap();
    ConvView {
        external_id: conv.external_id,
        title: conv.title,
        members: conv.members,
        app_data: conv.app_data,
        created_at_ms: conv.created_at_ms,
        read_up_to: conv.read_up_to.map(MessageId::seq),
        message_count: conv.message_count,
        retention_ms: conv.retention_ms,
        messages: all_messages(store, c),
    }
}

/// Every conversation, keyed by title (titles are unique in these tests).
fn snapshot(store: &Store) -> BTreeMap<String, ConvView> {
    store
        .conversations()
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = view(store, s.conversation.id);
            (v.title.clone(), v)
        })
        .collect()
}

fn text(i: u64) -> String {
    match i % 5 {
        0 => format!("message {i}: see you at 8"),
        1 => format!("消息 {i}：明天见"),
        2 => format!("à bientôt {i} 👋"),
        3 => format!("{i} \"quoted\", back\\slash\nnew line"),
        _ => "x".repeat((i % 700) as usize + 1),
    }
}

/// A store with three conversations: one with external ids, replies,
/// edits, a deletion and a read marker; one without an external id; one
/// with retention and an expired message.
fn populate(store: &TestStore) -> [ConversationId; 3] {
    let a = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_alice".into()),
            title: "Alice".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![1, 2, 3],
            created_at_ms: Some(1_600_000_000_000),
            ..Default::default()
        })
        .unwrap();
    let batch: Vec<(ConversationId, NewMessage)> = (1..=300u64)
        .map(|i| {
            let m = NewMessage {
                external_id: (i % 3 != 0).then(|| format!("srv-{i}")),
                sender: if i % 2 == 0 { "me".into() } else { "alice".into() },
                sent_at_ms: 1_700_000_000_000 + i as i64 * 1000,
                text: text(i),
                reply_to: (i > 10 && i % 7 == 0).then(|| MessageId::new(a, i - 5)),
                extra: if i % 11 == 0 { vec![i as u8; 5] } else { vec![] },
                ..Default::default()
            };
            (a, m)
        })
        .collect();
    for chunk in batch.chunks(50) {
        store.append_batch(chunk).unwrap();
    }
    store.edit_message(MessageId::new(a, 12), "edited ✏️").unwrap();
    store.delete_message(MessageId::new(a, 13)).unwrap();
    store.mark_read(a, MessageId::new(a, 250)).unwrap();

    let b = store
        .create_conversation(NewConversation { title: "No external id".into(), ..Default::default() })
        .unwrap();
    for i in 1..=40 {
        store.append(b, common::msg("bob", &text(i))).unwrap();
    }

    let c = store
        .create_conversation(NewConversation {
            external_id: Some("group-9".into()),
            title: "Group".into(),
            retention_ms: Some(3_600_000),
            ..Default::default()
        })
        .unwrap();
    let now = store.now();
    store
        .append(
            c,
            NewMessage {
                sender: "x".into(),
                sent_at_ms: now - 7_200_000,
                text: "gone".into(),
                ..Default::default()
            },
        )
        .unwrap();
    store
        .append(
            c,
            NewMessage {
                sender: "y".into(),
                sent_at_ms: now,
                text: "still here".into(),
                ..Default::default()
            },
        )
        .unwrap();
    [a, b, c]
}

fn export(store: &Store, options: &ExportOptions) -> Vec<u8> {
    let mut out = Vec::new();
    store.export(&mut out, options).unwrap();
    out
}

fn raw() -> ImportOptions {
    ImportOptions::raw_key(ARCHIVE_KEY)
}

fn small_chunks() -> ExportOptions {
    ExportOptions::raw_key(ARCHIVE_KEY).chunk_size(1024).unwrap()
}

#[test]
fn round_trip_into_a_new_store_keeps_every_conversation_and_message() {
    let src = TestStore::new();
    populate(&src);
    let before = snapshot(&src);
    assert_eq!(before["Group"].messages.len(), 1, "the expired message is hidden");

    for options in
        [ExportOptions::raw_key(ARCHIVE_KEY), small_chunks(), ExportOptions::passphrase("correct horse")]
    {
        let bytes = export(&src, &options);
        let dst = TestStore::new();
        let key = if matches!(options_kind(&options), Kind::Passphrase) {
            ImportOptions::passphrase("correct horse")
        } else {
            raw()
        };
        let report = dst.import(&bytes[..], &key).unwrap();
        assert_eq!((report.conversations_created, report.conversations_matched), (3, 0));
        assert_eq!(report.messages_added, 299 + 40 + 1);
        assert_eq!(report.bytes, bytes.len() as u64);
        assert_eq!(snapshot(&dst), before);
        assert!(dst.verify().unwrap().is_ok());
        // The ids the app saved for conversations differ; messages keep their sequence numbers.
        let a = dst.find_conversation("wxid_alice").unwrap().unwrap();
        assert_eq!(dst.message(MessageId::new(a, 12)).unwrap().text, "edited ✏️");
        // Deduplication by external id carries over to later appends.
        let again = NewMessage { external_id: Some("srv-1".into()), ..Default::default() };
        assert_eq!(dst.append(a, again).unwrap(), MessageId::new(a, 1));
        // New messages continue after the source's last sequence number.
        assert_eq!(dst.append(a, common::msg("me", "new")).unwrap().seq(), 301);
    }
}

enum Kind {
    Raw,
    Passphrase,
}

fn options_kind(o: &ExportOptions) -> Kind {
    if format!("{o:?}").contains("Passphrase") { Kind::Passphrase } else { Kind::Raw }
}

#[test]
fn a_subset_exports_only_the_chosen_conversations() {
    let src = TestStore::new();
    let [a, _, c] = populate(&src);
    let bytes = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY).conversations([c, a]));
    let summary = archive::inspect(&bytes[..], &raw()).unwrap();
    let titles: Vec<&str> = summary.conversations.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Group", "Alice"], "in the order chosen");
    assert_eq!(summary.messages, 1 + 299);
    let dst = TestStore::new();
    dst.import(&bytes[..], &raw()).unwrap();
    let all = snapshot(&src);
    let got = snapshot(&dst);
    assert_eq!(got.len(), 2);
    assert_eq!(got["Alice"], all["Alice"]);
    assert_eq!(got["Group"], all["Group"]);

    let missing = ConversationId::from_raw(999);
    let err = src.export(Vec::new(), &ExportOptions::raw_key(ARCHIVE_KEY).conversations([missing]));
    assert!(matches!(err, Err(Error::NotFound(_))), "{err:?}");
    let twice = src.export(Vec::new(), &ExportOptions::raw_key(ARCHIVE_KEY).conversations([a, a]));
    assert!(matches!(twice, Err(Error::InvalidArgument(_))), "{twice:?}");
}

#[test]
fn importing_twice_or_into_the_source_adds_nothing() {
    let src = TestStore::new();
    populate(&src);
    let bytes = export(&src, &small_chunks());
    let before = snapshot(&src);

    let again = src.import(&bytes[..], &raw()).unwrap();
    assert_eq!((again.conversations_created, again.conversations_matched), (0, 3));
    assert_eq!(again.messages_added, 0);
    assert_eq!(
        snapshot(&src),
        before,
        "the source is unchanged, the conversation without an external id included"
    );

    let dst = TestStore::new();
    dst.import(&bytes[..], &raw()).unwrap();
    let second = dst.import(&bytes[..], &raw()).unwrap();
    assert_eq!((second.conversations_created, second.messages_added), (0, 0));
    assert_eq!(second.messages_skipped, 299 + 40 + 1);
    assert_eq!(snapshot(&dst), before);
    assert!(dst.verify().unwrap().is_ok());
}

#[test]
fn merging_into_a_store_that_holds_part_of_the_data() {
    let src = TestStore::new();
    let [a, b, _] = populate(&src);
    let first = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY));

    // The destination restores the first backup, then lives its own life.
    let dst = TestStore::new();
    dst.import(&first[..], &raw()).unwrap();
    let da = dst.find_conversation("wxid_alice").unwrap().unwrap();
    dst.delete_message(MessageId::new(da, 20)).unwrap(); // deleted here: stays deleted
    let own = dst.new_conv("Only here");
    dst.append(own, common::msg("me", "local")).unwrap();

    // The source goes on too.
    for i in 301..=320u64 {
        let ext = (i % 2 == 0).then(|| format!("srv-{i}"));
        src.append(a, NewMessage { external_id: ext, ..common::msg("alice", &text(i)) }).unwrap();
    }
    src.append(b, common::msg("bob", "later")).unwrap();
    src.mark_read(a, MessageId::new(a, 310)).unwrap();
    src.update_conversation(
        a,
        ConversationUpdate { title: Some("Alice (renamed)".into()), ..Default::default() },
    )
    .unwrap();
    let second = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY));

    let report = dst.import(&second[..], &raw()).unwrap();
    assert_eq!((report.conversations_created, report.conversations_matched), (0, 3));
    assert_eq!(report.messages_added, 20 + 1);

    let want = snapshot(&src);
    let got = snapshot(&dst);
    let got_a = &got["Alice"];
    assert_eq!(got_a.title, "Alice", "a matched conversation keeps the store's metadata");
    let mut expected_a = want["Alice (renamed)"].messages.clone();
    expected_a.retain(|m| m.seq != 20);
    assert_eq!(got_a.messages, expected_a, "everything once, the local deletion kept");
    assert_eq!(got_a.read_up_to, Some(310), "the read marker moved forward");
    assert_eq!(got["No external id"].messages, want["No external id"].messages);
    assert_eq!(got["Only here"].messages.len(), 1);
    assert!(dst.verify().unwrap().is_ok());

    // And once more: nothing new.
    let third = dst.import(&second[..], &raw()).unwrap();
    assert_eq!(third.messages_added, 0);
    assert_eq!(snapshot(&dst), got);
}

#[test]
fn a_message_whose_place_is_taken_moves_and_replies_follow_it() {
    let src = TestStore::new();
    let c = src.new_conv("Moves");
    let m1 = src.append(c, NewMessage { external_id: Some("e1".into()), ..common::msg("a", "one") }).unwrap();
    src.append(
        c,
        NewMessage { external_id: Some("e2".into()), reply_to: Some(m1), ..common::msg("a", "two") },
    )
    .unwrap();
    let bytes = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY));

    // Another device has the same conversation with different messages at seqs 1 and 2.
    let dst = TestStore::new();
    let d = dst.new_conv("Moves");
    dst.append(d, NewMessage { external_id: Some("x1".into()), ..common::msg("b", "mine 1") }).unwrap();
    dst.append(d, NewMessage { external_id: Some("x2".into()), ..common::msg("b", "mine 2") }).unwrap();
    let report = dst.import(&bytes[..], &raw()).unwrap();
    assert_eq!(report.messages_added, 2);
    let got = all_messages(&dst, d);
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["mine 1", "mine 2", "one", "two"]);
    assert_eq!(got[3].reply_to, Some(3), "the reply follows the message it replies to");
}

#[test]
fn inspect_reports_contents_and_progress_is_reported() {
    let src = TestStore::new();
    populate(&src);
    let calls = Arc::new(Mutex::new(Vec::<ArchiveProgress>::new()));
    let seen = Arc::clone(&calls);
    let options = small_chunks().on_progress(move |p| seen.lock().unwrap().push(*p));
    let mut bytes = Vec::new();
    let report = src.export(&mut bytes, &options).unwrap();
    assert_eq!((report.conversations, report.messages, report.bytes), (3, 340, bytes.len() as u64));
    let calls = calls.lock().unwrap().clone();
    assert!(calls.len() >= 2, "{} progress calls", calls.len());
    assert!(calls.windows(2).all(|w| w[0].bytes <= w[1].bytes && w[0].messages <= w[1].messages));
    let last = calls.last().unwrap();
    assert_eq!((last.bytes, last.messages, last.total_messages), (bytes.len() as u64, 340, 340));

    let ticks = Arc::new(AtomicU64::new(0));
    let t = Arc::clone(&ticks);
    let summary = archive::inspect(
        &bytes[..],
        &raw().on_progress(move |_| {
            t.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .unwrap();
    assert!(ticks.load(Ordering::Relaxed) >= 1);
    assert_eq!(summary.version, archive::ARCHIVE_VERSION);
    assert!(!summary.passphrase);
    assert_eq!(summary.messages, 340);
    let alice = &summary.conversations[0];
    assert_eq!((alice.title.as_str(), alice.messages), ("Alice", 299));
    assert_eq!(alice.sent_between_ms, Some((1_700_000_001_000, 1_700_000_300_000)));
}

#[test]
fn export_to_file_appears_only_when_complete() {
    let src = TestStore::new();
    let [a, ..] = populate(&src);
    let out = src.dir.path().join("backup.cvarchive");
    let report = src.export_to_file(&out, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), report.bytes);
    let good = std::fs::read(&out).unwrap();

    // Damage a segment of Alice's, so the next export fails part-way through.
    src.raw_sql()
        .execute(
            "UPDATE segment SET body = zeroblob(length(body)) WHERE conversation = ?1
             AND first_seq = (SELECT MAX(first_seq) FROM segment WHERE conversation = ?1)",
            [a.get() as i64],
        )
        .unwrap();
    let failed = src.export_to_file(&out, &ExportOptions::raw_key(ARCHIVE_KEY));
    assert!(matches!(failed, Err(Error::Authentication { .. })), "{failed:?}");
    assert_eq!(std::fs::read(&out).unwrap(), good, "the earlier archive is untouched");
    let stray: Vec<_> = std::fs::read_dir(src.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "no temporary file left: {stray:?}");
}

#[test]
fn import_from_file_reads_the_archive_and_names_a_missing_one() {
    let src = TestStore::new();
    populate(&src);
    let path = src.dir.path().join("backup.cvarchive");
    let exported = src.export_to_file(&path, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    let dst = TestStore::new();
    let report = dst.import_from_file(&path, &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    assert_eq!((report.messages_added, report.bytes), (exported.messages, exported.bytes));
    let missing =
        dst.import_from_file(src.dir.path().join("nope.cvarchive"), &ImportOptions::raw_key(ARCHIVE_KEY));
    assert!(matches!(&missing, Err(Error::Io(e)) if e.to_string().contains("nope.cvarchive")), "{missing:?}");
}

#[test]
fn exports_to_a_file_never_replace_the_store_itself() {
    let src = TestStore::new();
    populate(&src);
    let db = src.path().to_path_buf();
    let via_dot = db.parent().unwrap().join(".").join(db.file_name().unwrap());
    let wal = db.with_file_name(format!("{}-wal", db.file_name().unwrap().to_string_lossy()));
    let before = src.stats().unwrap().messages;
    for target in [&db, &via_dot, &wal] {
        let archive = src.export_to_file(target, &ExportOptions::raw_key(ARCHIVE_KEY));
        assert!(matches!(&archive, Err(Error::InvalidArgument(m)) if m.contains("own file")), "{archive:?}");
        let jsonl = src.export_json_lines_to_file(target, None, chatvault::Plaintext::Accept);
        assert!(matches!(jsonl, Err(Error::InvalidArgument(_))), "{jsonl:?}");
    }
    assert_eq!(src.stats().unwrap().messages, before);
    assert!(src.verify().unwrap().is_ok());
}

// ---- Attacks -------------------------------------------------------------

/// An archive of a few 1 KiB chunks.
fn small_archive() -> (TestStore, Vec<u8>) {
    let src = TestStore::new();
    let c = src.new_conv("Small");
    for i in 0..70 {
        src.append(c, common::msg("s", &format!("short message {i} 你好"))).unwrap();
    }
    let bytes = export(&src, &small_chunks());
    (src, bytes)
}

const CHUNK: usize = 1024 + 16;

fn chunk_count(bytes: &[u8]) -> usize {
    (bytes.len() - HEADER).div_ceil(CHUNK)
}

/// Imports `bytes` into `store`, which must stay exactly as it was.
fn import_fails(store: &TestStore, bytes: &[u8], key: &ImportOptions) -> Error {
    let before = dump::dump(&store.path);
    let err = store.import(bytes, key).expect_err("the import must fail");
    assert_eq!(dump::dump(&store.path), before, "a failed import changed the store ({err})");
    err
}

/// The error expected from flipping a bit of byte `i` of a valid raw-key archive.
fn expected_flip(i: usize, flipped: &[u8]) -> &'static str {
    match i {
        0..8 => "NotAnArchive",
        8..10 => {
            let v = u16::from_be_bytes([flipped[8], flipped[9]]);
            match v {
                0 => "ArchiveCorrupt",
                v if v > archive::ARCHIVE_VERSION => "UnsupportedArchiveVersion",
                // A version this build reads, under the MAC.
                _ => "ArchiveTampered(header)",
            }
        }
        10 | 12..24 => "ArchiveCorrupt",
        11 => {
            if (10..=20).contains(&flipped[11]) {
                "ArchiveTampered(header)"
            } else {
                "ArchiveCorrupt"
            }
        }
        24..56 | 72..88 => "WrongKey",
        56..72 | 88..120 => "ArchiveTampered(header)",
        _ => "ArchiveTampered(chunk)",
    }
}

fn name(e: &Error) -> &'static str {
    match e {
        Error::NotAnArchive => "NotAnArchive",
        Error::UnsupportedArchiveVersion { .. } => "UnsupportedArchiveVersion",
        Error::ArchiveCorrupt { .. } => "ArchiveCorrupt",
        Error::ArchiveTampered { chunk: None } => "ArchiveTampered(header)",
        Error::ArchiveTampered { chunk: Some(_) } => "ArchiveTampered(chunk)",
        Error::ArchiveTruncated { .. } => "ArchiveTruncated",
        Error::WrongKey => "WrongKey",
        _ => "other",
    }
}

#[test]
fn every_single_bit_flip_is_caught_and_named() {
    let (_src, bytes) = small_archive();
    assert!(chunk_count(&bytes) >= 3, "{} chunks", chunk_count(&bytes));
    let dst = TestStore::new();
    let own = dst.new_conv("Existing");
    dst.append(own, common::msg("me", "keep me")).unwrap();
    let before = dump::dump(&dst.path);
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            let err = dst.import(&flipped[..], &raw()).expect_err("a flipped archive must not import");
            let want = expected_flip(i, &flipped);
            assert_eq!(name(&err), want, "byte {i} bit {bit}: {err}");
            if let Error::ArchiveTampered { chunk: Some(k) } = err {
                assert_eq!(k as usize, (i - HEADER) / CHUNK, "byte {i}: the chunk that holds it");
            }
        }
    }
    assert_eq!(dump::dump(&dst.path), before, "no failed import changed the store");
}

#[test]
fn truncation_anywhere_is_caught() {
    let (_src, bytes) = small_archive();
    let dst = TestStore::new();
    let n = chunk_count(&bytes);
    // Nothing at all is no archive; the start of one, cut inside its
    // header, is a truncated archive (an interrupted copy).
    assert!(matches!(import_fails(&dst, &bytes[..0], &raw()), Error::NotAnArchive));
    for cut in [1, 8, 60, HEADER - 1] {
        let err = import_fails(&dst, &bytes[..cut], &raw());
        assert!(matches!(err, Error::ArchiveTruncated { chunks: 0 }), "cut at {cut}: {err:?}");
    }
    for k in 0..n {
        let boundary = HEADER + k * CHUNK;
        let err = import_fails(&dst, &bytes[..boundary], &raw());
        assert!(
            matches!(err, Error::ArchiveTruncated { chunks } if chunks == k as u64),
            "boundary {k}: {err}"
        );
        for inside in [1, 16, 17, CHUNK / 2, CHUNK - 1] {
            let cut = boundary + inside;
            if cut >= bytes.len() {
                continue;
            }
            let err = import_fails(&dst, &bytes[..cut], &raw());
            let ok = match err {
                Error::ArchiveTruncated { chunks } => inside <= 16 && chunks == k as u64,
                Error::ArchiveTampered { chunk: Some(c) } => inside > 16 && c == k as u64,
                _ => false,
            };
            assert!(ok, "cut {inside} bytes into chunk {k}: {err}");
        }
    }
    let err = import_fails(&dst, &bytes[..bytes.len() - 1], &raw());
    assert!(matches!(err, Error::ArchiveTampered { chunk: Some(c) } if c as usize == n - 1), "{err}");
}

fn chunks(bytes: &[u8]) -> Vec<&[u8]> {
    bytes[HEADER..].chunks(CHUNK).collect()
}

#[test]
fn reordered_duplicated_dropped_and_appended_chunks_are_caught() {
    let (_src, bytes) = small_archive();
    let dst = TestStore::new();
    let head = &bytes[..HEADER];
    let c = chunks(&bytes);
    let build = |parts: &[&[u8]]| [&[head][..], parts].concat().concat();
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        ("swapped 0 and 1", build(&[c[1], c[0], c[2], &c[3..].concat()]), 0),
        ("swapped 1 and 2", build(&[c[0], c[2], c[1], &c[3..].concat()]), 1),
        ("duplicated 1", build(&[c[0], c[1], c[1], &c[2..].concat()]), 2),
        ("dropped 1", build(&[c[0], &c[2..].concat()]), 1),
        ("final chunk moved first", build(&[c[c.len() - 1], &c[..c.len() - 1].concat()]), 0),
        ("a byte appended", [&bytes[..], &[0u8]].concat(), (c.len() - 1) as u64),
        ("a chunk appended", [&bytes[..], c[0]].concat(), (c.len() - 1) as u64),
    ];
    for (what, archive, chunk) in cases {
        let err = import_fails(&dst, &archive, &raw());
        assert!(matches!(err, Error::ArchiveTampered { chunk: Some(k) } if k == chunk), "{what}: {err}");
    }
}

#[test]
fn chunks_and_headers_from_another_archive_are_caught() {
    let (src, one) = small_archive();
    let two = export(&src, &small_chunks()); // same store, same key, another salt
    assert_eq!(one.len(), two.len());
    assert_ne!(one[HEADER..], two[HEADER..], "a fresh salt and key for every archive");
    let dst = TestStore::new();
    let spliced =
        [&one[..HEADER + CHUNK], &two[HEADER + CHUNK..HEADER + 2 * CHUNK], &one[HEADER + 2 * CHUNK..]]
            .concat();
    let err = import_fails(&dst, &spliced, &raw());
    assert!(matches!(err, Error::ArchiveTampered { chunk: Some(1) }), "{err}");
    let other_header = [&two[..HEADER], &one[HEADER..]].concat();
    let err = import_fails(&dst, &other_header, &raw());
    assert!(matches!(err, Error::ArchiveTampered { chunk: Some(0) }), "{err}");
}

#[test]
fn wrong_keys_and_newer_versions_are_named() {
    let src = TestStore::new();
    let c = src.new_conv("Keys");
    src.append(c, common::msg("a", "hello")).unwrap();
    let pass = export(&src, &ExportOptions::passphrase("right"));
    let dst = TestStore::new();
    assert!(matches!(import_fails(&dst, &pass, &ImportOptions::passphrase("wrong")), Error::WrongKey));
    assert!(matches!(import_fails(&dst, &pass, &raw()), Error::WrongKey));
    let rawk = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY));
    assert!(matches!(import_fails(&dst, &rawk, &ImportOptions::raw_key([1; 32])), Error::WrongKey));
    assert!(matches!(import_fails(&dst, &rawk, &ImportOptions::passphrase("x")), Error::WrongKey));

    let mut newer = rawk.clone();
    newer[8..10].copy_from_slice(&3u16.to_be_bytes());
    let err = import_fails(&dst, &newer, &raw());
    assert!(matches!(err, Error::UnsupportedArchiveVersion { found: 3, supported: 2 }), "{err}");
    assert!(err.to_string().contains("upgrade chatvault"));
    assert!(matches!(archive::inspect(&newer[..], &raw()), Err(Error::UnsupportedArchiveVersion { .. })));
    assert!(matches!(import_fails(&dst, b"SQLite format 3\0 and more bytes", &raw()), Error::NotAnArchive));
    // The same store key is no archive key: archives do not depend on the store's keys.
    assert!(matches!(import_fails(&dst, &rawk, &ImportOptions::raw_key(KEY)), Error::WrongKey));
}

#[test]
fn a_failed_import_leaves_a_populated_store_exactly_as_it_was() {
    let src = TestStore::new();
    let [sa, ..] = populate(&src);
    let more: Vec<_> =
        (0..1500).map(|i| (sa, common::msg("alice", &format!("{i} {}", "y".repeat(100))))).collect();
    src.append_batch(&more).unwrap();
    let bytes = export(&src, &small_chunks());
    let dst = TestStore::new();
    let [a, ..] = populate(&dst); // overlapping data, so the import would change things
    dst.append(a, common::msg("me", "local only")).unwrap();
    let before = snapshot(&dst);
    // Cut before the final chunk: every record but the last chunk's authenticates
    // and is written inside the import's transaction, which then rolls back.
    let cut = HEADER + (chunk_count(&bytes) - 1) * CHUNK;
    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    let key = raw().on_progress(move |p| {
        s.fetch_max(p.messages, Ordering::Relaxed);
    });
    assert!(matches!(import_fails(&dst, &bytes[..cut], &key), Error::ArchiveTruncated { .. }));
    assert!(seen.load(Ordering::Relaxed) > 1000, "most messages were imported, then rolled back");
    assert_eq!(snapshot(&dst), before);
    // The store works normally afterwards, deduplication included.
    let again = NewMessage { external_id: Some("srv-1".into()), ..Default::default() };
    assert_eq!(dst.append(a, again).unwrap().seq(), 1);
    assert!(dst.verify().unwrap().is_ok());
}

// ---- Committed vectors -------------------------------------------------------

/// The committed archive vectors: version 1 (frozen: made by the code of
/// archive format 1, they must keep importing) and version 2.
const VECTOR_DIRS: [&str; 2] = [
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/archive-v1"),
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/archive-v2"),
];
/// Where `regenerate_archive_vectors` writes: the current version's.
const VECTORS: &str = VECTOR_DIRS[1];
const VECTOR_PASSPHRASE: &str = "chatvault archive vector";

/// A line per conversation and message: the expected contents of the valid vector.
fn describe(store: &Store) -> String {
    let ids: BTreeMap<String, ConversationId> = store
        .conversations()
        .unwrap()
        .into_iter()
        .map(|s| (s.conversation.title.clone(), s.conversation.id))
        .collect();
    let mut out = String::new();
    for (title, c) in snapshot(store) {
        out.push_str(&format!(
            "conversation ext={:?} title={:?} members={:?} app_data={:?} created={} read={:?} count={} retention={:?}\n",
            c.external_id, c.title, c.members, c.app_data, c.created_at_ms, c.read_up_to, c.message_count, c.retention_ms
        ));
        for m in c.messages {
            out.push_str(&format!(
                "  message seq={} ext={:?} sender={:?} sent={} text={:?} reply={:?} edited={:?} extra={:?} expires={:?}\n",
                m.seq, m.external_id, m.sender, m.sent_at_ms, m.text, m.reply_to, m.edited_at_ms, m.extra, m.expires_at_ms
            ));
            // Archive version 2: its attachments (none in version 1).
            for a in store.message_attachments(MessageId::new(ids[&title], m.seq)).unwrap() {
                let mut content = Vec::new();
                if a.removed_at_ms.is_none() {
                    std::io::Read::read_to_end(&mut store.open_attachment(a.id).unwrap(), &mut content)
                        .unwrap();
                }
                out.push_str(&format!(
                    "    attachment type={:?} name={:?} len={} app_data={:?} created={} removed={} content={:?}\n",
                    a.media_type,
                    a.file_name,
                    a.byte_len,
                    a.app_data,
                    a.created_at_ms,
                    a.removed_at_ms.is_some(),
                    String::from_utf8_lossy(&content[..content.len().min(40)])
                ));
            }
        }
    }
    out
}

/// The expected outcome of each vector of `dir`, from MANIFEST: `file key outcome`.
fn manifest(dir: &str) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(Path::new(dir).join("MANIFEST")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.splitn(3, ' ').collect();
            (parts[0].to_owned(), parts[1].to_owned(), parts[2].trim().to_owned())
        })
        .collect()
}

fn vector_key(key: &str) -> ImportOptions {
    match key {
        "passphrase" => ImportOptions::passphrase(VECTOR_PASSPHRASE),
        "wrong-passphrase" => ImportOptions::passphrase("not the vector passphrase"),
        other => panic!("unknown key {other} in MANIFEST"),
    }
}

#[test]
fn committed_vectors_import_or_fail_as_their_manifest_says() {
    for dir in VECTOR_DIRS {
        check_vectors(dir);
    }
}

fn check_vectors(dir: &str) {
    let entries = manifest(dir);
    assert!(entries.len() >= 8, "a vector for every failure class");
    for (file, key, outcome) in entries {
        let bytes = std::fs::read(Path::new(dir).join(&file)).unwrap();
        let dst = TestStore::new();
        if outcome == "ok" {
            dst.import(&bytes[..], &vector_key(&key)).unwrap();
            let expected = std::fs::read_to_string(Path::new(dir).join("valid.expected")).unwrap();
            assert_eq!(describe(&dst), expected, "{file}: contents");
            assert!(dst.verify().unwrap().is_ok());
        } else {
            let err = import_fails(&dst, &bytes, &vector_key(&key));
            let got = match &err {
                Error::ArchiveTampered { chunk: Some(k) } => format!("ArchiveTampered(chunk {k})"),
                Error::ArchiveTruncated { chunks } => format!("ArchiveTruncated({chunks})"),
                other => name(other).to_owned(),
            };
            assert_eq!(got, outcome, "{file}: {err}");
        }
    }
}

#[test]
#[ignore = "with CHATVAULT_REGENERATE=1, writes tests/vectors/archive-v2; run only on a deliberate format change"]
fn regenerate_archive_vectors() {
    if !common::regenerating("tests/vectors/archive-v2") {
        return;
    }
    let src = TestStore::new();
    let c = src
        .create_conversation(NewConversation {
            external_id: Some("wxid_vector".into()),
            title: "Vector".into(),
            members: vec!["me".into(), "ana".into()],
            app_data: vec![7],
            created_at_ms: Some(1_650_000_000_000),
            ..Default::default()
        })
        .unwrap();
    for i in 1..=60u64 {
        let m = NewMessage {
            external_id: (i % 2 == 1).then(|| format!("v-{i}")),
            sender: if i % 3 == 0 { "me".into() } else { "ana".into() },
            sent_at_ms: 1_650_000_000_000 + i as i64 * 60_000,
            text: text(i),
            reply_to: (i == 30).then(|| MessageId::new(c, 29)),
            ..Default::default()
        };
        src.append(c, m).unwrap();
    }
    src.edit_message(MessageId::new(c, 5), "corrigé").unwrap();
    src.delete_message(MessageId::new(c, 6)).unwrap();
    src.mark_read(c, MessageId::new(c, 50)).unwrap();
    let d = src
        .create_conversation(NewConversation { title: "Note to self".into(), ..Default::default() })
        .unwrap();
    let milk = src.append(d, common::msg("me", "buy milk 🥛")).unwrap();
    // Version 2: attachments, one cleared by the storage manager.
    let photo = chatvault::NewAttachment {
        media_type: "image/bmp".into(),
        file_name: Some("milk.bmp".into()),
        app_data: b"2x1".to_vec(),
    };
    src.attach_from(milk, photo, &mut &b"BM a very small picture"[..]).unwrap();
    let note = chatvault::NewAttachment { media_type: "audio/ogg".into(), ..Default::default() };
    src.attach_from(MessageId::new(c, 7), note, &mut &[1u8; 3000][..]).unwrap();
    src.clear_attachments(&chatvault::AttachmentFilter {
        media_type_prefix: Some("audio/".into()),
        ..Default::default()
    })
    .unwrap();

    let options = ExportOptions::passphrase(VECTOR_PASSPHRASE).chunk_size(1024).unwrap();
    let valid = export(&src, &options);
    let other = export(&src, &options);
    let n = chunk_count(&valid);
    assert!(n >= 4);
    let cs = chunks(&valid);
    let head = &valid[..HEADER];
    let dir = Path::new(VECTORS);
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    write("valid.cvarchive", &valid);
    let mut flipped = valid.clone();
    flipped[HEADER + CHUNK + 100] ^= 0x10;
    write("bit-flip.cvarchive", &flipped);
    write("truncated-at-boundary.cvarchive", &valid[..HEADER + 2 * CHUNK]);
    write("truncated-mid-chunk.cvarchive", &valid[..HEADER + 2 * CHUNK + 500]);
    write("swapped-chunks.cvarchive", &[head, cs[1], cs[0], &cs[2..].concat()].concat());
    write(
        "spliced-chunk.cvarchive",
        &[&valid[..HEADER + CHUNK], &other[HEADER + CHUNK..HEADER + 2 * CHUNK], &valid[HEADER + 2 * CHUNK..]]
            .concat(),
    );
    let mut newer = valid.clone();
    newer[8..10].copy_from_slice(&3u16.to_be_bytes());
    write("newer-version.cvarchive", &newer);
    let mut header = valid.clone();
    header[60] ^= 1; // the conversation count
    write("header-modified.cvarchive", &header);
    write("appended.cvarchive", &[&valid[..], b"more"].concat());

    let dst = TestStore::new();
    dst.import(&valid[..], &ImportOptions::passphrase(VECTOR_PASSPHRASE)).unwrap();
    write("valid.expected", describe(&dst).as_bytes());
    let last = n - 1;
    let manifest = format!(
        "# chatvault archive format 2 test vectors (docs/FORMAT.md), made by\n\
         # `CHATVAULT_REGENERATE=1 cargo test --test archive -- --ignored regenerate_archive_vectors`.\n\
         # Passphrase of every vector: \"{VECTOR_PASSPHRASE}\" (Argon2id m=19456 KiB, t=2, p=1); 1 KiB chunks.\n\
         # Columns: file, key, expected outcome (\"ok\": imports to valid.expected).\n\
         valid.cvarchive passphrase ok\n\
         valid.cvarchive wrong-passphrase WrongKey\n\
         bit-flip.cvarchive passphrase ArchiveTampered(chunk 1)\n\
         truncated-at-boundary.cvarchive passphrase ArchiveTruncated(2)\n\
         truncated-mid-chunk.cvarchive passphrase ArchiveTampered(chunk 2)\n\
         swapped-chunks.cvarchive passphrase ArchiveTampered(chunk 0)\n\
         spliced-chunk.cvarchive passphrase ArchiveTampered(chunk 1)\n\
         newer-version.cvarchive passphrase UnsupportedArchiveVersion\n\
         header-modified.cvarchive passphrase ArchiveTampered(header)\n\
         appended.cvarchive passphrase ArchiveTampered(chunk {last})\n"
    );
    write("MANIFEST", manifest.as_bytes());
}

// ---- Matching across stores ---------------------------------------------------

#[test]
fn a_conversation_without_external_id_is_not_duplicated_through_a_second_store() {
    let a = TestStore::new();
    let note =
        a.create_conversation(NewConversation { title: "Notes".into(), ..Default::default() }).unwrap();
    a.append(note, common::msg("me", "one")).unwrap();
    let from_a = export(&a, &ExportOptions::raw_key(ARCHIVE_KEY));

    let b = TestStore::new();
    b.import(&from_a[..], &raw()).unwrap();
    assert_eq!(b.import(&from_a[..], &raw()).unwrap().conversations_created, 0, "matched by origin");
    // B's own archive of the imported conversation, back into B.
    let from_b = export(&b, &ExportOptions::raw_key(ARCHIVE_KEY));
    let again = b.import(&from_b[..], &raw()).unwrap();
    assert_eq!((again.conversations_created, again.messages_added), (0, 0), "{again:?}");
    assert_eq!(b.conversations().unwrap().len(), 1);
}

#[test]
fn messages_without_external_ids_from_another_device_are_added_not_dropped() {
    // Two devices hold "chat" (same external id) with different local messages.
    let a = TestStore::new();
    let ca = a.new_conv("chat");
    for (i, t) in ["a1", "a2", "a3"].into_iter().enumerate() {
        a.append(ca, NewMessage { sent_at_ms: 1_700_000_000_000 + i as i64, ..common::msg("ann", t) })
            .unwrap();
    }
    let b = TestStore::new();
    let cb = b.new_conv("chat");
    for t in ["b1", "b2", "b3"] {
        b.append(cb, NewMessage { sent_at_ms: 1_600_000_000_000, ..common::msg("bob", t) }).unwrap();
    }
    let report = b.import(&export(&a, &ExportOptions::raw_key(ARCHIVE_KEY))[..], &raw()).unwrap();
    assert_eq!((report.messages_added, report.messages_skipped), (3, 0));
    let texts: Vec<String> = all_messages(&b, cb).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["b1", "b2", "b3", "a1", "a2", "a3"]);
    // Again: their places hold other messages, so they are matched by
    // sender and time, remembered when they were added.
    let again = b.import(&export(&a, &ExportOptions::raw_key(ARCHIVE_KEY))[..], &raw()).unwrap();
    assert_eq!((again.messages_added, again.messages_skipped), (0, 3));
    assert_eq!(all_messages(&b, cb).len(), 6);
}

#[test]
fn a_matched_conversation_applies_its_own_retention_to_imported_messages() {
    let src = TestStore::new();
    let c = src.new_conv("Ephemeral");
    let now = src.now();
    src.append(c, NewMessage { sent_at_ms: now, external_id: Some("m1".into()), ..common::msg("a", "hi") })
        .unwrap();
    let bytes = export(&src, &ExportOptions::raw_key(ARCHIVE_KEY));

    let dst = TestStore::new();
    let d = dst
        .create_conversation(NewConversation {
            external_id: Some("ext-Ephemeral".into()),
            title: "Ephemeral".into(),
            retention_ms: Some(60_000),
            ..Default::default()
        })
        .unwrap();
    dst.import(&bytes[..], &raw()).unwrap();
    let got = all_messages(&dst, d);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].expires_at_ms, Some(now + 60_000), "as an append here would have set");
    dst.advance(60_001);
    assert!(all_messages(&dst, d).is_empty());
}

#[test]
fn replies_must_point_at_an_earlier_message() {
    let s = TestStore::new();
    let c = s.new_conv("Replies");
    let first = s.append(c, common::msg("a", "one")).unwrap();
    for bad in [MessageId::new(c, 0), MessageId::new(c, 2), MessageId::new(c, u64::MAX)] {
        let m = NewMessage { reply_to: Some(bad), ..common::msg("a", "bad") };
        assert!(matches!(s.append(c, m), Err(Error::InvalidArgument(_))), "{bad}");
    }
    let ok = NewMessage { reply_to: Some(first), ..common::msg("a", "two") };
    assert_eq!(s.append(c, ok).unwrap().seq(), 2);
}

/// A postcard varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A body of Store, one Conversation with no messages, and End.
fn body_with_next_seq(ext: &str, next_seq: u64) -> Vec<u8> {
    let mut store = vec![0];
    string("0.1.0", &mut store);
    varint(2, &mut store);
    store.extend_from_slice(&[9; 16]);
    varint(0, &mut store);
    let mut conv = vec![1];
    varint(1, &mut conv); // source id
    conv.push(1);
    string(ext, &mut conv);
    string("Crafted", &mut conv);
    conv.extend_from_slice(&[0, 0]); // no members, no app data
    varint(0, &mut conv); // created at
    conv.push(0); // no retention
    varint(next_seq, &mut conv);
    let mut body = Vec::new();
    for record in [store, conv, vec![4]] {
        body.extend_from_slice(&(record.len() as u32).to_be_bytes());
        body.extend_from_slice(&record);
    }
    body
}

#[test]
fn an_archive_cannot_push_a_conversation_past_its_last_sequence_number() {
    use chatvault::archive::__fuzz;
    let dst = TestStore::new();
    let key = ImportOptions::raw_key(__fuzz::KEY);
    // The bound is the store's own: sequence numbers below 2^32.
    // Past it but within what earlier formats allowed: too large, not corrupt.
    let too_far = __fuzz::seal(&body_with_next_seq("crafted", (1 << 32) + 1), (1, 0)).unwrap();
    let err = import_fails(&dst, &too_far, &key);
    assert!(matches!(err, Error::LimitReached { .. }), "{err}");
    let absurd = __fuzz::seal(&body_with_next_seq("crafted", (1 << 62) + 1), (1, 0)).unwrap();
    let err = import_fails(&dst, &absurd, &key);
    assert!(matches!(err, Error::ArchiveCorrupt { .. }), "{err}");
    // Below the bound, a created conversation keeps it and appends work
    // up to the last sequence number.
    let near = __fuzz::seal(&body_with_next_seq("crafted", (1 << 32) - 1), (1, 0)).unwrap();
    dst.import(&near[..], &key).unwrap();
    let c = dst.find_conversation("crafted").unwrap().unwrap();
    assert_eq!(dst.append(c, common::msg("a", "last")).unwrap().seq(), (1 << 32) - 1);
    let full = dst.append(c, common::msg("a", "one too many"));
    assert!(matches!(full, Err(Error::LimitReached { .. })), "{full:?}");
    assert_eq!(dst.messages(c, chatvault::Page::latest(5)).unwrap().len(), 1, "nothing was written");
    // At the bound itself: a conversation that is full.
    let at_bound = __fuzz::seal(&body_with_next_seq("crafted-full", 1 << 32), (1, 0)).unwrap();
    dst.import(&at_bound[..], &key).unwrap();
    let c = dst.find_conversation("crafted-full").unwrap().unwrap();
    assert!(matches!(dst.append(c, common::msg("a", "after")), Err(Error::LimitReached { .. })));
    // A matched conversation does not take the archive's number at all.
    let own = dst.new_conv("Mine");
    dst.append(own, common::msg("a", "one")).unwrap();
    let matched = __fuzz::seal(&body_with_next_seq("ext-Mine", 1 << 32), (1, 0)).unwrap();
    dst.import(&matched[..], &key).unwrap();
    assert_eq!(dst.append(own, common::msg("a", "two")).unwrap().seq(), 2);
}

/// Writes whatever it is given, but stops at its first write until told to go on.
struct Paused {
    started: Option<std::sync::mpsc::Sender<()>>,
    go: std::sync::mpsc::Receiver<()>,
}

impl std::io::Write for Paused {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(s) = self.started.take() {
            s.send(()).unwrap();
            self.go.recv().unwrap();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts an export of `store` on another thread and returns once it is
/// writing, paused; send on the returned channel to let it finish.
fn paused_export(
    store: &Arc<TestStore>,
) -> (std::thread::JoinHandle<chatvault::archive::ExportReport>, std::sync::mpsc::Sender<()>) {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let store = Arc::clone(store);
    let exporting = std::thread::spawn(move || {
        let out = Paused { started: Some(started_tx), go: go_rx };
        store.export(out, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap()
    });
    started.recv().unwrap();
    (exporting, go)
}

fn wal_len(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(0, |m| m.len())
}

#[test]
fn deletes_during_an_export_owe_their_scrub_until_it_ends() {
    let store = Arc::new(TestStore::new());
    let [a, ..] = populate(&store);
    let (exporting, go) = paused_export(&store);
    let deleted = store.delete_message(MessageId::new(a, 5));
    assert!(matches!(deleted, Err(Error::ScrubIncomplete)), "{deleted:?}");
    assert!(matches!(store.message(MessageId::new(a, 5)), Err(Error::NotFound(_))), "committed");
    go.send(()).unwrap();
    let report = exporting.join().unwrap();
    assert_eq!(report.messages, 340, "the export's snapshot predates the delete");
    assert_eq!(wal_len(&store.path), 0, "the owed scrub ran when the export ended");
}

/// `n` messages without external ids from `sender`, at distinct times.
fn local(store: &TestStore, c: ConversationId, sender: &str, n: i64) {
    for i in 0..n {
        let m =
            NewMessage { sent_at_ms: 1_700_000_000_000 + i, ..common::msg(sender, &format!("{sender} {i}")) };
        store.append(c, m).unwrap();
    }
}

fn texts(store: &Store, c: ConversationId) -> Vec<String> {
    let mut t: Vec<String> = all_messages(store, c).into_iter().map(|m| m.text).collect();
    t.sort();
    t
}

#[test]
fn two_devices_syncing_back_and_forth_converge_without_duplicates() {
    let a = TestStore::new();
    let ca = a.new_conv("chat");
    local(&a, ca, "ann", 3);
    let b = TestStore::new();
    let cb = b.new_conv("chat");
    local(&b, cb, "bob", 5);
    for round in 0..3 {
        let from_b = export(&b, &ExportOptions::raw_key(ARCHIVE_KEY));
        a.import(&from_b[..], &raw()).unwrap();
        a.import(&from_b[..], &raw()).unwrap(); // twice: nothing more
        let from_a = export(&a, &ExportOptions::raw_key(ARCHIVE_KEY));
        b.import(&from_a[..], &raw()).unwrap();
        assert_eq!(all_messages(&a, ca).len(), 8, "round {round}");
        assert_eq!(texts(&a, ca), texts(&b, cb), "round {round}");
    }
    assert!(a.verify().unwrap().is_ok() && b.verify().unwrap().is_ok());
}

#[test]
fn a_reply_to_a_message_the_archive_lacks_points_nowhere() {
    let src = TestStore::new();
    let c = src.new_conv("Replies");
    local(&src, c, "ann", 2);
    let reply = NewMessage {
        reply_to: Some(MessageId::new(c, 2)),
        sent_at_ms: 1_700_000_000_100,
        ..common::msg("ann", "re")
    };
    src.append(c, reply).unwrap();
    src.delete_message(MessageId::new(c, 2)).unwrap();
    let dst = TestStore::new();
    let d = dst.new_conv("Replies");
    local(&dst, d, "bob", 5);
    dst.import(&export(&src, &ExportOptions::raw_key(ARCHIVE_KEY))[..], &raw()).unwrap();
    let got = all_messages(&dst, d);
    let re = got.iter().find(|m| m.text == "re").unwrap();
    assert_eq!(re.reply_to, None, "not some other message");
}

#[test]
fn compaction_during_an_export_succeeds_and_owes_its_scrub() {
    let store = Arc::new(TestStore::new());
    populate(&store);
    let (exporting, go) = paused_export(&store);
    let report = store.compact(&chatvault::CompactOptions::default()).unwrap();
    assert!(report.segments_rewritten > 0);
    go.send(()).unwrap();
    exporting.join().unwrap();
    assert_eq!(wal_len(&store.path), 0, "scrubbed when the export ended");
}

#[test]
fn messages_sharing_sender_and_time_are_not_merged_into_one() {
    let src = TestStore::new();
    let c = src.new_conv("Same time");
    for i in 0..5 {
        src.append(c, NewMessage { sent_at_ms: 0, ..common::msg("sys", &format!("notice {i}")) }).unwrap();
    }
    let dst = TestStore::new();
    let d = dst.new_conv("Same time");
    local(&dst, d, "bob", 2);
    let report = dst.import(&export(&src, &ExportOptions::raw_key(ARCHIVE_KEY))[..], &raw()).unwrap();
    assert_eq!(report.messages_added, 5, "five different messages, all kept");
    assert_eq!(all_messages(&dst, d).len(), 7);
}

/// A cancel flag the progress callback raises at its `n`th call, and how
/// many calls it saw.
fn stop_at(
    n: u64,
) -> (Arc<std::sync::atomic::AtomicBool>, Arc<AtomicU64>, impl Fn(&ArchiveProgress) + Send + Sync) {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let (f, c) = (Arc::clone(&flag), Arc::clone(&calls));
    let callback = move |_: &ArchiveProgress| {
        if c.fetch_add(1, Ordering::SeqCst) + 1 >= n {
            f.store(true, Ordering::SeqCst);
        }
    };
    (flag, calls, callback)
}

/// `populate`, and enough more (about 400 KiB of archive) that progress
/// is reported several times mid-way.
fn populate_large(store: &TestStore) {
    populate(store);
    let c = store.new_conv("large");
    let batch: Vec<(ConversationId, NewMessage)> = (0..2000u64)
        .map(|i| (c, common::msg("me", &format!("{i:>6} {}", "lorem ipsum ".repeat(16)))))
        .collect();
    store.append_batch(&batch).unwrap();
}

#[test]
fn a_cancelled_export_to_a_file_leaves_no_file_and_the_old_one_untouched() {
    let src = TestStore::new();
    populate_large(&src);
    let out = src.dir.path().join("backup.cvarchive");
    for n in [1, 2, 4] {
        let (flag, calls, callback) = stop_at(n);
        let options = small_chunks().on_progress(callback).cancel_flag(flag);
        let result = src.export_to_file(&out, &options);
        assert!(matches!(result, Err(Error::Cancelled)), "stopped at call {n}: {result:?}");
        assert_eq!(calls.load(Ordering::SeqCst), n, "it stopped at the call that asked");
        assert!(!out.exists(), "no archive after a cancel at call {n}");
    }
    let good = src.export_to_file(&out, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    let before = std::fs::read(&out).unwrap();
    assert_eq!(before.len() as u64, good.bytes);
    let (flag, _, callback) = stop_at(1);
    let result = src.export_to_file(&out, &small_chunks().on_progress(callback).cancel_flag(flag));
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(std::fs::read(&out).unwrap(), before, "the earlier archive is untouched");
    let stray = std::fs::read_dir(src.dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(stray, 0, "no temporary file left");
    // A flag raised before the export starts stops it too.
    let raised = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let other = src.dir.path().join("never.cvarchive");
    let result = src.export_to_file(&other, &ExportOptions::raw_key(ARCHIVE_KEY).cancel_flag(raised));
    assert!(matches!(result, Err(Error::Cancelled)) && !other.exists(), "{result:?}");
}

#[test]
fn a_cancelled_import_leaves_the_store_exactly_as_it_was() {
    let src = TestStore::new();
    populate_large(&src);
    let bytes = export(&src, &small_chunks());
    // Into an empty store, and into one that holds part of the data (an
    // import matches and merges: none of that may be left half done).
    let dst = TestStore::new();
    let half = TestStore::new();
    let partial = export(&src, &small_chunks().conversations([ConversationId::from_raw(2)]));
    half.import(&partial[..], &raw()).unwrap();
    for store in [&dst, &half] {
        let before = snapshot(store);
        let stats_before = store.stats().unwrap();
        let mut n = 1;
        while n <= 4 {
            let (flag, calls, callback) = stop_at(n);
            let result = store.import(&bytes[..], &raw().on_progress(callback).cancel_flag(flag));
            if calls.load(Ordering::SeqCst) < n {
                // The archive reported fewer times before it committed: past the end.
                break;
            }
            assert!(matches!(result, Err(Error::Cancelled)), "stopped at call {n}: {result:?}");
            assert_eq!(snapshot(store), before, "cancelled at call {n}: nothing imported");
            let stats = store.stats().unwrap();
            assert_eq!(
                (stats.conversations, stats.messages),
                (stats_before.conversations, stats_before.messages)
            );
            n += 1;
        }
        assert!(n > 4, "the archive reported {n} times: too few to cancel mid-way");
        assert!(store.verify().unwrap().is_ok());
    }
    // Uncancelled, the same import goes through; the flag is not read after
    // the commit, so a stop asked at the last call is too late.
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    store_counting(&dst, &bytes, c);
    let total = calls.load(Ordering::SeqCst);
    let again = TestStore::new();
    let (flag, _, callback) = stop_at(total);
    let report = again.import(&bytes[..], &raw().on_progress(callback).cancel_flag(flag)).unwrap();
    assert_eq!(report.messages_added, 2340);
    assert_eq!(snapshot(&again), snapshot(&dst));
}

fn store_counting(store: &Store, bytes: &[u8], calls: Arc<AtomicU64>) {
    let report = store
        .import(
            bytes,
            &raw().on_progress(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    assert_eq!(report.messages_added, 2340);
}

#[test]
fn a_cancelled_inspection_fails_with_cancelled() {
    let src = TestStore::new();
    populate(&src);
    let bytes = export(&src, &small_chunks());
    let (flag, calls, callback) = stop_at(2);
    let result = archive::inspect(&bytes[..], &raw().on_progress(callback).cancel_flag(flag));
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
