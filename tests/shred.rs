//! Deletion that leaves nothing readable behind, even where SQLite's
//! `secure_delete` does not reach (docs/DESIGN.md, "Deletion and
//! scrubbing"; SECURITY.md, "Deletion"). SQLite leaves copies of moved rows
//! in the unallocated space of rebalanced pages. chatvault rebuilds its key
//! table whenever it destroys keys, so no piece of a deleted conversation's
//! key survives and any leftover piece of its data is unreadable; and
//! `vacuum` removes every leftover piece of anything.
//!
//! The workload is the one the audit used: 300 conversations with
//! interleaved appends (and key rotations, which insert key rows in the
//! middle of the key table), deleting every 7th.

mod common;

use std::collections::HashSet;

use chatvault::{CompactOptions, ConversationId, MessageId, Page, StoreKey};
use common::{TestStore, disk_bytes, msg, plant_in_free_space};

/// 300 conversations, appended to in interleaved rounds with texts of
/// random length, some batches, and rotations spread over them.
fn interleaved() -> (TestStore, Vec<ConversationId>, Vec<MessageId>) {
    let t = TestStore::new();
    let convs: Vec<_> = (0..300).map(|i| t.new_conv(&format!("c{i}"))).collect();
    let mut x: u64 = 0x5EED;
    let mut ids = Vec::new();
    for round in 0..24 {
        for (i, &c) in convs.iter().enumerate() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            if (x >> 33).is_multiple_of(3) {
                continue;
            }
            let len = ((x >> 40) % 120) as usize;
            ids.push(t.append(c, msg("s", &format!("r{round} c{i} {}", "w".repeat(len)))).unwrap());
        }
        if round % 4 == 3 {
            let batch: Vec<_> =
                convs.iter().step_by(3).map(|&c| (c, msg("b", &format!("batch {round}")))).collect();
            ids.extend(t.append_batch(&batch).unwrap());
        }
        // Rotations insert key rows in the middle of the key table.
        for &c in convs.iter().skip(round % 5).step_by(5) {
            t.rotate_conversation_key(c).unwrap();
        }
    }
    (t, convs, ids)
}

/// Every 16-byte window of the values `sql` selects for `id`.
fn windows(t: &TestStore, sql: &str, id: i64, into: &mut HashSet<[u8; 16]>) {
    let conn = t.raw_sql();
    let mut stmt = conn.prepare(sql).unwrap();
    for v in stmt.query_map([id], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
        for w in v.unwrap().windows(16) {
            into.insert(w.try_into().unwrap());
        }
    }
}

/// How many windows of `set` occur in `bytes`.
fn found(bytes: &[u8], set: &HashSet<[u8; 16]>) -> usize {
    bytes.windows(16).filter(|w| set.contains(*w)).count()
}

#[test]
fn deleting_every_seventh_of_300_interleaved_conversations_leaves_no_piece_of_their_keys() {
    let (t, convs, _) = interleaved();
    let doomed: Vec<_> = convs.iter().copied().step_by(7).collect();
    let (mut keys, mut data) = (HashSet::new(), HashSet::new());
    for &c in &doomed {
        let id = c.get() as i64;
        windows(&t, "SELECT wrapped FROM conversation_key WHERE conversation = ?1", id, &mut keys);
        for sql in [
            "SELECT body FROM segment WHERE conversation = ?1",
            "SELECT meta FROM conversation WHERE id = ?1",
            "SELECT ext_hash FROM conversation WHERE id = ?1",
            "SELECT ext_hash FROM message_ref WHERE conversation = ?1",
            "SELECT ext_hash FROM recent_ref WHERE conversation = ?1",
        ] {
            windows(&t, sql, id, &mut data);
        }
    }
    let before = disk_bytes(&t.path);
    assert!(found(&before, &keys) > 0 && found(&before, &data) > 0, "the test can fail");

    for &c in &doomed {
        t.delete_conversation(c).unwrap();
    }
    // Not a piece of any deleted key, in the file or the WAL: whatever else
    // of these conversations survives in free page space is unreadable.
    let after = disk_bytes(&t.path);
    assert_eq!(found(&after, &keys), 0, "a piece of a deleted conversation key survived");
    let leftover = found(&after, &data);

    // A vacuum leaves no piece of anything deleted.
    t.vacuum().unwrap();
    let vacuumed = disk_bytes(&t.path);
    assert_eq!(found(&vacuumed, &keys) + found(&vacuumed, &data), 0, "a piece survived the vacuum");
    assert!(t.verify().unwrap().is_ok());
    eprintln!("pieces of deleted data in free page space before the vacuum: {leftover}");
}

#[test]
fn a_vacuum_removes_every_piece_of_deleted_and_edited_messages() {
    let (t, _, ids) = interleaved();
    let doomed: Vec<_> = ids.iter().copied().step_by(11).collect();
    let mut old = HashSet::new();
    for &m in &doomed {
        let conn = t.raw_sql();
        let body: Vec<u8> = conn
            .query_row(
                "SELECT body FROM segment WHERE conversation = ?1 AND first_seq <= ?2
                 ORDER BY first_seq DESC LIMIT 1",
                [m.conversation().get() as i64, m.seq() as i64],
                |r| r.get(0),
            )
            .unwrap();
        for w in body.windows(16) {
            old.insert(<[u8; 16]>::try_from(w).unwrap());
        }
    }
    for (i, &m) in doomed.iter().enumerate() {
        if i % 2 == 0 {
            t.delete_message(m).unwrap();
        } else {
            t.edit_message(m, "edited").unwrap();
        }
    }
    // Pieces of the old segments may survive in free page space (sealed
    // under keys that are alive: SECURITY.md says so) until a vacuum.
    let leftover = found(&disk_bytes(&t.path), &old);
    t.vacuum().unwrap();
    assert_eq!(found(&disk_bytes(&t.path), &old), 0, "a piece of an old segment survived the vacuum");
    assert!(t.verify().unwrap().is_ok());
    assert_eq!(t.message(doomed[1]).unwrap().text, "edited");
    assert!(
        t.messages(doomed[0].conversation(), Page::oldest(1000)).unwrap().iter().all(|m| m.id != doomed[0])
    );
    eprintln!("pieces of old segments in free page space before the vacuum: {leftover}");
}

/// The wrapped keys of conversation `c`.
fn wrapped_keys(t: &TestStore, c: ConversationId) -> Vec<Vec<u8>> {
    let conn = t.raw_sql();
    let mut stmt = conn.prepare("SELECT wrapped FROM conversation_key WHERE conversation = ?1").unwrap();
    stmt.query_map([c.get() as i64], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// Key rows are all about the same size, so SQLite rarely leaves copies of
/// them behind in the workload above; when it does (a page rebuilt after a
/// failed in-place edit), the copy sits in a page's unallocated space.
/// Planted there, as SQLite would leave it, a copy of a conversation's
/// wrapped key is gone once the conversation is deleted, compaction
/// destroyed the key, or a master-key rotation rewrapped it.
#[test]
fn a_copy_of_a_key_left_in_free_page_space_does_not_survive_its_destruction() {
    // Deleting the conversation.
    let mut t = TestStore::new();
    let convs: Vec<_> = (0..120).map(|i| t.new_conv(&format!("c{i}"))).collect();
    for &c in &convs {
        t.append(c, msg("s", "hello")).unwrap();
    }
    let doomed = convs[60];
    let key = wrapped_keys(&t, doomed).remove(0);
    t.close();
    plant_in_free_space(&t.path, "conversation_key", &key);
    t.reopen();
    assert!(common::contains(&disk_bytes(&t.path), &key), "planted twice: the row and its copy");
    t.delete_conversation(doomed).unwrap();
    assert!(!common::contains(&disk_bytes(&t.path), &key[13..29]), "the copy survived the delete");

    // Compaction destroying an old epoch's key.
    let c = convs[10];
    let old = wrapped_keys(&t, c).remove(0);
    t.rotate_conversation_key(c).unwrap();
    t.close();
    plant_in_free_space(&t.path, "conversation_key", &old);
    t.reopen();
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert!(report.keys_destroyed >= 1);
    assert!(!common::contains(&disk_bytes(&t.path), &old[13..29]), "the copy survived compaction");

    // A master-key rotation rewrapping every key (a small store: one page of
    // keys, which the rotation's few new rows do not fill).
    let mut t = TestStore::new();
    let convs: Vec<_> = (0..3).map(|i| t.new_conv(&format!("c{i}"))).collect();
    let current = wrapped_keys(&t, convs[1]).remove(0);
    t.close();
    plant_in_free_space(&t.path, "conversation_key", &current);
    t.reopen();
    t.rotate_master_key(StoreKey::raw([8; 32])).unwrap();
    assert!(
        !common::contains(&disk_bytes(&t.path), &current[13..29]),
        "the old wrapping survived the rotation"
    );
}

/// Compaction destroys old keys in its steps and rebuilds the key table
/// once, at its end. If a step fails after one that destroyed a key (here:
/// another connection holds the write lock), the rebuild is owed, in the
/// file, and the next compaction pays it.
#[test]
fn a_key_table_rebuild_cut_short_is_owed_and_paid_by_the_next_compaction() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let options =
        chatvault::StoreOptions { busy_timeout: std::time::Duration::from_millis(50), ..Default::default() };
    let store = chatvault::Store::create_with(&path, StoreKey::raw(common::KEY), options.clone()).unwrap();
    let convs: Vec<_> =
        (0..3).map(|_| store.create_conversation(chatvault::NewConversation::default()).unwrap()).collect();
    for &c in &convs {
        store.append(c, msg("s", "hello")).unwrap();
    }
    let old = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row(
            "SELECT wrapped FROM conversation_key WHERE conversation = ?1",
            [convs[0].get() as i64],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
    };
    for &c in &convs {
        store.rotate_conversation_key(c).unwrap();
    }
    store.close().unwrap();
    plant_in_free_space(&path, "conversation_key", &old);
    let store = chatvault::Store::open_with(&path, StoreKey::raw(common::KEY), options).unwrap();

    // After the first step (which destroyed the first conversation's old
    // key), another connection takes the write lock: the next step fails.
    let blocker: Arc<Mutex<Option<rusqlite::Connection>>> = Arc::default();
    let held = Arc::clone(&blocker);
    let lock_path = path.clone();
    let compact = CompactOptions::default().on_progress(move |_| {
        let mut held = held.lock().unwrap();
        if held.is_none() {
            let conn = rusqlite::Connection::open(&lock_path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            *held = Some(conn);
        }
    });
    assert!(matches!(store.compact(&compact), Err(chatvault::Error::Busy)));
    let owed = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .unwrap()
            .query_row("SELECT key_rebuild_owed FROM store", [], |r| r.get(0))
            .unwrap()
    };
    blocker.lock().unwrap().take();
    assert_eq!(owed(&path), 1, "the step that destroyed a key left the rebuild owed");
    assert!(common::contains(&disk_bytes(&path), &old[13..29]), "the copy is still there");

    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 2, "the other two conversations' old keys");
    assert_eq!(owed(&path), 0);
    assert!(!common::contains(&disk_bytes(&path), &old[13..29]), "the copy survived the next compaction");
}
