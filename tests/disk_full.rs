//! A full disk, simulated with `StoreOptions::max_size_bytes` (SQLite's
//! `max_page_count`): every kind of write past the limit fails with exactly
//! `Error::StorageFull` and changes nothing; the store stays readable,
//! consistent and reopenable; deletes still work while it is full; and once
//! space is freed (by deleting, by compacting, or by reopening with a larger
//! limit), writes succeed again.
//!
//! The stores are a few hundred KiB, filled with `Durability::Normal` (the
//! limit does not depend on it), so the whole file runs in about a second.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatvault::{
    CompactOptions, ConversationId, ConversationUpdate, Durability, Error, ExportOptions, ImportOptions,
    MessageId, NewConversation, NewMessage, Page, Store, StoreKey, StoreOptions,
};
use common::KEY;

/// Not a multiple of the page size: the file must stay under it, so the
/// limit rounds down to 48 pages of 4 KiB.
const LIMIT: u64 = 200_000;
const ARCHIVE_KEY: [u8; 32] = [0x5A; 32];

fn limited(limit: u64) -> StoreOptions {
    StoreOptions { max_size_bytes: Some(limit), durability: Durability::Normal, ..StoreOptions::default() }
}

/// What the store must hold: every acknowledged message, by conversation.
type Acked = BTreeMap<ConversationId, BTreeMap<u64, String>>;

fn text(tag: &str, i: usize, len: usize) -> String {
    let mut s = format!("{tag} {i} ");
    while s.len() < len {
        s.push_str(&format!("{:x}", (i * 2_654_435_761 + s.len()) % 65_521));
    }
    s
}

fn msg(text: String, external_id: Option<String>) -> NewMessage {
    NewMessage { external_id, sender: "s".into(), sent_at_ms: 1_700_000_000_000, text, ..Default::default() }
}

fn new_conv(store: &Store, title: &str) -> ConversationId {
    store.create_conversation(NewConversation { title: title.into(), ..Default::default() }).unwrap()
}

/// Appends `len`-byte messages to `convs` in turn until an append fails,
/// which must be with `StorageFull`. Records what was acknowledged.
fn fill(store: &Store, convs: &[ConversationId], len: usize, acked: &mut Acked) {
    for i in 0..10_000 {
        let c = convs[i % convs.len()];
        let t = text("fill", i, len);
        match store.append(c, msg(t.clone(), None)) {
            Ok(id) => {
                acked.entry(c).or_default().insert(id.seq(), t);
            }
            Err(Error::StorageFull) => return,
            Err(e) => panic!("append {i} failed with {e:?}, not StorageFull"),
        }
    }
    panic!("the store never filled up");
}

/// The store holds exactly `acked`, counts agree, and `verify` passes.
fn assert_holds(store: &Store, acked: &Acked) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "verify found {:#?}", report.problems);
    let ids: Vec<ConversationId> = store.conversations().unwrap().iter().map(|s| s.conversation.id).collect();
    let mut want_ids: Vec<ConversationId> = acked.keys().copied().collect();
    want_ids.sort_by_key(|c| std::cmp::Reverse(c.get()));
    let mut got_ids = ids.clone();
    got_ids.sort_by_key(|c| std::cmp::Reverse(c.get()));
    assert_eq!(got_ids, want_ids, "conversations");
    for (&c, want) in acked {
        let got: BTreeMap<u64, String> = store
            .messages(c, Page::oldest(usize::MAX))
            .unwrap()
            .into_iter()
            .map(|m| (m.id.seq(), m.text))
            .collect();
        assert_eq!(&got, want, "messages of conversation {c}");
        assert_eq!(store.conversation(c).unwrap().message_count, want.len() as u64);
    }
}

fn assert_full<T: std::fmt::Debug>(what: &str, r: chatvault::Result<T>) {
    match r {
        Err(Error::StorageFull) => {}
        other => panic!("{what} past the size limit returned {other:?}, not Err(StorageFull)"),
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// An archive of two conversations holding about `bytes` of messages,
/// written from a store without a limit.
fn archive(dir: &Path, bytes: usize) -> PathBuf {
    let source = Store::create(dir.join("source.chatvault"), StoreKey::raw([9; 32])).unwrap();
    for k in 0..2 {
        let c = source
            .create_conversation(NewConversation {
                external_id: Some(format!("imported-{k}")),
                title: format!("imported {k}"),
                ..Default::default()
            })
            .unwrap();
        let batch: Vec<_> =
            (0..bytes / 2 / 1000).map(|i| (c, msg(text("imported", i, 1000), None))).collect();
        source.append_batch(&batch).unwrap();
    }
    let path = dir.join("archive.cvarchive");
    source.export_to_file(&path, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    path
}

#[test]
fn every_write_past_the_limit_fails_with_storage_full_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.chatvault");
    let archive = archive(dir.path(), 300_000);
    let store = Store::create_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    let (a, b) = (new_conv(&store, "a"), new_conv(&store, "b"));
    let mut acked = Acked::new();
    fill(&store, &[a, b], 1000, &mut acked);
    let held: usize = acked.values().map(BTreeMap::len).sum();
    assert!(held > 20, "the limit held only {held} messages");
    assert_holds(&store, &acked);

    assert_full("an append", store.append(a, msg(text("one", 0, 4000), Some("one".into()))));
    let batch: Vec<(ConversationId, NewMessage)> =
        (0..12).map(|i| ([a, b][i % 2], msg(text("batch", i, 1500), Some(format!("batch-{i}"))))).collect();
    assert_full("a batch", store.append_batch(&batch));
    let edited = MessageId::new(a, *acked[&a].keys().next().unwrap());
    assert_full("an edit", store.edit_message(edited, &text("edit", 0, 60_000)));
    assert!(store.message(edited).unwrap().edited_at_ms.is_none());
    let big = vec![7u8; 100_000];
    assert_full(
        "a new conversation",
        store.create_conversation(NewConversation { app_data: big.clone(), ..Default::default() }),
    );
    assert_full(
        "a metadata update",
        store.update_conversation(b, ConversationUpdate { app_data: Some(big), ..Default::default() }),
    );
    assert!(store.conversation(b).unwrap().app_data.is_empty());
    assert_full("an import", store.import_from_file(&archive, &ImportOptions::raw_key(ARCHIVE_KEY)));
    assert_holds(&store, &acked);

    // Reopened, it holds the same, and the file is within the limit.
    store.close().unwrap();
    assert!(file_len(&path) <= LIMIT, "file is {} bytes, over {LIMIT}", file_len(&path));
    let store = Store::open_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    assert_holds(&store, &acked);
    assert_full("an append after reopening", store.append(b, msg(text("again", 0, 4000), None)));
}

#[test]
fn deletes_work_while_full_and_free_space_for_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.chatvault");
    let store = Store::create_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    let (a, b) = (new_conv(&store, "a"), new_conv(&store, "b"));
    let mut acked = Acked::new();
    // One segment of several messages, then single-message segments.
    let first: Vec<_> = (0..6).map(|i| (a, msg(text("first", i, 1000), None))).collect();
    for (id, (_, m)) in store.append_batch(&first).unwrap().into_iter().zip(first) {
        acked.entry(a).or_default().insert(id.seq(), m.text);
    }
    fill(&store, &[a, b], 1000, &mut acked);
    let batch: Vec<(ConversationId, NewMessage)> =
        (0..8).map(|i| (a, msg(text("batch", i, 1500), Some(format!("batch-{i}"))))).collect();
    assert_full("a batch", store.append_batch(&batch));

    // Deleting messages (out of a shared segment, which is resealed, and a
    // segment of its own) and a conversation works at the limit.
    let last_a = *acked[&a].keys().next_back().unwrap();
    for seq in [2, last_a - 2] {
        store.delete_message(MessageId::new(a, seq)).unwrap();
        acked.get_mut(&a).unwrap().remove(&seq);
    }
    assert_holds(&store, &acked);
    store.delete_conversation(b).unwrap();
    acked.remove(&b);
    assert_holds(&store, &acked);

    // The failed batch left nothing behind: not its sequence numbers, nor
    // its external ids (which would make a retry return ids of nothing).
    let ids = store.append_batch(&batch).unwrap();
    let want: Vec<u64> = (last_a + 1..=last_a + 8).collect();
    assert_eq!(ids.iter().map(|m| m.seq()).collect::<Vec<_>>(), want);
    for ((_, m), id) in batch.iter().zip(&ids) {
        acked.get_mut(&a).unwrap().insert(id.seq(), m.text.clone());
    }
    assert_holds(&store, &acked);
    // And the space is bounded again.
    fill(&store, &[a], 1000, &mut acked);
    assert_holds(&store, &acked);
    store.close().unwrap();
    assert!(file_len(&path) <= LIMIT);
}

#[test]
fn compaction_at_the_limit_frees_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.chatvault");
    let store = Store::create_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    let a = new_conv(&store, "a");
    let mut acked = Acked::new();
    // Small single-message segments, as appends write them: compaction
    // merges and compresses them into far fewer pages.
    fill(&store, &[a], 300, &mut acked);
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert!(report.segments_rewritten > 0 && !report.work_remains);
    assert_holds(&store, &acked);
    let before = acked[&a].len();
    fill(&store, &[a], 300, &mut acked);
    assert!(
        acked[&a].len() > before + 10,
        "compaction freed room for only {} messages",
        acked[&a].len() - before
    );
    assert_holds(&store, &acked);
}

#[test]
fn reopening_with_a_larger_limit_lets_writes_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.chatvault");
    let store = Store::create_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    let a = new_conv(&store, "a");
    let mut acked = Acked::new();
    fill(&store, &[a], 1000, &mut acked);
    store.close().unwrap();
    let store = Store::open_with(&path, StoreKey::raw(KEY), limited(2 * LIMIT)).unwrap();
    assert_holds(&store, &acked);
    let t = text("more", 0, 1000);
    let id = store.append(a, msg(t.clone(), None)).unwrap();
    acked.get_mut(&a).unwrap().insert(id.seq(), t);
    assert_holds(&store, &acked);
}

#[test]
fn a_store_opened_over_its_limit_stays_readable_and_then_keeps_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.chatvault");
    let mut acked = Acked::new();
    let (big, small) = {
        let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
        let (big, small) = (new_conv(&store, "big"), new_conv(&store, "small"));
        for (c, n) in [(big, 400), (small, 20)] {
            let batch: Vec<_> = (0..n).map(|i| (c, msg(text("before", i, 1000), None))).collect();
            for (id, (_, m)) in store.append_batch(&batch).unwrap().into_iter().zip(batch) {
                acked.entry(c).or_default().insert(id.seq(), m.text);
            }
        }
        store.close().unwrap();
        (big, small)
    };
    assert!(file_len(&path) > 2 * LIMIT);
    let store = Store::open_with(&path, StoreKey::raw(KEY), limited(LIMIT)).unwrap();
    assert_holds(&store, &acked);
    // It cannot grow...
    fill(&store, &[small], 1000, &mut acked);
    // ...and once deleting shrank it, the limit holds again.
    store.delete_conversation(big).unwrap();
    acked.remove(&big);
    fill(&store, &[small], 1000, &mut acked);
    assert_holds(&store, &acked);
    store.close().unwrap();
    assert!(file_len(&path) <= LIMIT, "file is {} bytes, over {LIMIT}", file_len(&path));
}

#[test]
fn a_limit_too_small_for_an_empty_store_fails_create_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.chatvault");
    assert_full("creating a store", Store::create_with(&path, StoreKey::raw(KEY), limited(8192)));
    assert!(!path.exists());
}

#[test]
fn storage_full_says_how_to_free_space() {
    let message = Error::StorageFull.to_string();
    for hint in ["rolled back", "deleting conversations or messages", "compacting", "max_size_bytes"] {
        assert!(message.contains(hint), "{message:?} does not mention {hint:?}");
    }
}
