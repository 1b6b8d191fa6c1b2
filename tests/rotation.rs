//! Master-key rotation revokes an old root key (docs/DESIGN.md, "Master-key
//! rotation"; SECURITY.md, "If a key leaked"). The attack, reproduced: the
//! attacker keeps a copy of the `store` row from before the key changed and
//! knows the old root key (a leaked passphrase). Against `change_key` alone
//! that opens everything written afterwards; after `rotate_master_key` it
//! opens nothing written or rewrapped since.

mod common;

use std::path::{Path, PathBuf};

use chatvault::{
    CompactOptions, ConversationId, Error, ExportOptions, ImportOptions, MessageId, NewConversation,
    NewMessage, Page, RotateOptions, Store, StoreKey,
};
use common::{KEY, contains, disk_bytes, msg};

const NEW_KEY: [u8; 32] = [0x77; 32];

fn ext_msg(ext: &str, text: &str) -> NewMessage {
    NewMessage { external_id: Some(ext.into()), ..msg("alice", text) }
}

/// A store with three conversations (one imported without external id),
/// messages with and without external ids, a deleted one.
fn populated(dir: &Path) -> (PathBuf, Store, Vec<ConversationId>) {
    let path = dir.join("s.chatvault");
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    let a = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_alice".into()),
            title: "Alice".into(),
            ..Default::default()
        })
        .unwrap();
    let b = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_bob".into()),
            title: "Bob".into(),
            ..Default::default()
        })
        .unwrap();
    for i in 0..30 {
        store.append(a, ext_msg(&format!("srv-a-{i}"), &format!("to alice {i}"))).unwrap();
        store.append(b, msg("bob", &format!("no id {i}"))).unwrap();
    }
    store.delete_message(MessageId::new(a, 7)).unwrap();

    // A conversation without external id, imported from another store.
    let source = Store::create(dir.join("source"), StoreKey::raw([3; 32])).unwrap();
    let s = source
        .create_conversation(NewConversation { title: "Imported".into(), ..Default::default() })
        .unwrap();
    source.append(s, ext_msg("imp-1", "imported message")).unwrap();
    let archive = dir.join("archive");
    source.export_to_file(&archive, &ExportOptions::raw_key([4; 32])).unwrap();
    store.import_from_file(&archive, &ImportOptions::raw_key([4; 32])).unwrap();
    let convs = imported_conversations(&store).into_iter().chain([a, b]).collect();
    (path, store, convs)
}

/// The conversations an import created without external id.
fn imported_conversations(store: &Store) -> Vec<ConversationId> {
    store
        .conversations()
        .unwrap()
        .into_iter()
        .filter(|s| s.conversation.external_id.is_none())
        .map(|s| s.conversation.id)
        .collect()
}

/// The `store` row's values, to put back later as an attacker would.
fn store_row(path: &Path) -> Vec<rusqlite::types::Value> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master FROM store", [], |r| {
        (0..7).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect()
    })
    .unwrap()
}

/// A copy of the store's file with its `store` row replaced by `row`.
fn with_old_row(path: &Path, row: &[rusqlite::types::Value], copy: &Path) {
    std::fs::copy(path, copy).unwrap();
    let conn = rusqlite::Connection::open(copy).unwrap();
    conn.execute(
        "UPDATE store SET store_id = ?1, kdf = ?2, kdf_salt = ?3, kdf_m_kib = ?4, kdf_t = ?5, kdf_p = ?6,
           master = ?7, master_gen = 0",
        rusqlite::params_from_iter(row.iter()),
    )
    .unwrap();
}

/// The first transaction of a rotation to `key` (or the next one of a
/// rotation under way): a rotation left under way.
fn one_transaction(store: &Store, key: [u8; 32]) -> chatvault::RotationReport {
    store.rotate_master_key_with(StoreKey::raw(key), &RotateOptions::default().transaction_budget(1)).unwrap()
}

#[test]
fn change_key_alone_does_not_revoke_the_old_key() {
    // The attack on the old advice ("to rotate the key, call change_key"):
    // it still works, and is documented as such.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    let old_row = store_row(&path);
    store.change_key(StoreKey::raw(NEW_KEY)).unwrap();
    store.rotate_all_keys().unwrap();
    let later = store.append(convs[1], msg("alice", "written after change_key")).unwrap();
    store.compact(&CompactOptions::default()).unwrap();
    store.close().unwrap();
    let copy = dir.path().join("attacker.chatvault");
    with_old_row(&path, &old_row, &copy);
    let attacker = Store::open(&copy, StoreKey::raw(KEY)).unwrap();
    assert_eq!(attacker.message(later).unwrap().text, "written after change_key");
}

#[test]
fn after_rotation_the_old_row_and_old_key_open_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    let old_row = store_row(&path);
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    assert_eq!(report.conversations, 3);
    // 30 external ids and 1 content hash per distinct (sender, time) in a,
    // one in b (every message there has the same sender and time), one in
    // the imported one; the deleted message's entry is dropped.
    assert_eq!((report.references, report.references_dropped), (29 + 1 + 1, 1));
    let later = store.append(convs[1], msg("alice", "written after the rotation")).unwrap();
    store.close().unwrap();

    let copy = dir.path().join("attacker.chatvault");
    with_old_row(&path, &old_row, &copy);
    // The old root key still opens the old master key: the header is as
    // it was. But that master key opens nothing in the file.
    let attacker = Store::open(&copy, StoreKey::raw(KEY)).unwrap();
    assert!(matches!(attacker.message(later), Err(Error::Authentication { .. })));
    for &c in &convs {
        assert!(matches!(attacker.messages(c, Page::latest(5)), Err(Error::Authentication { .. })), "{c}");
        assert!(matches!(attacker.conversation(c), Err(Error::Authentication { .. })), "{c}");
    }
    // Its id key finds no keyed hash either.
    assert_eq!(attacker.find_conversation("wxid_alice").unwrap(), None);
    let report = attacker.verify().unwrap();
    let keys = report.problems.iter().filter(|p| p.detail.contains("conversation key")).count();
    assert!(keys >= 6, "every conversation key (two epochs each) fails: {:?}", report.problems);
    drop(attacker);

    // The new key opens the real file and everything in it.
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert_eq!(store.message(later).unwrap().text, "written after the rotation");
    assert!(store.verify().unwrap().is_ok());
    assert!(matches!(Store::open(&path, StoreKey::raw(KEY)), Err(Error::WrongKey)));
}

#[test]
fn lookups_and_deduplication_work_under_the_new_id_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, store, convs) = populated(dir.path());
    let (imported, a, b) = (convs[0], convs[1], convs[2]);
    store.rotate_master_key(StoreKey::passphrase("a new passphrase")).unwrap();

    assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(a));
    assert!(matches!(
        store.create_conversation(NewConversation { external_id: Some("wxid_bob".into()), ..Default::default() }),
        Err(Error::ConversationExists(c)) if c == b
    ));
    // A re-delivered message is recognised...
    assert_eq!(store.append(a, ext_msg("srv-a-3", "again")).unwrap(), MessageId::new(a, 4));
    // ...but one deleted before the rotation is not: its entry is gone.
    assert_eq!(store.append(a, ext_msg("srv-a-6", "again")).unwrap(), MessageId::new(a, 31));
    // The imported conversation is still matched by its origin.
    let source = Store::open(dir.path().join("source"), StoreKey::raw([3; 32])).unwrap();
    let report = store.import(&source_archive(&source)[..], &ImportOptions::raw_key([4; 32]));
    let report = report.unwrap();
    assert_eq!(
        (report.conversations_matched, report.conversations_created, report.messages_added),
        (1, 0, 0)
    );
    assert_eq!(store.messages(imported, Page::latest(10)).unwrap().len(), 1);
    assert!(store.verify().unwrap().is_ok());
}

fn source_archive(source: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    source.export(&mut out, &ExportOptions::raw_key([4; 32])).unwrap();
    out
}

#[test]
fn no_copy_of_an_old_wrapping_or_keyed_hash_survives_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = populated(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let values = |sql: &str| -> Vec<Vec<u8>> {
        conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let wrappings = values("SELECT wrapped FROM conversation_key");
    let hashes = [
        values("SELECT ext_hash FROM conversation WHERE ext_hash IS NOT NULL"),
        values("SELECT ext_hash FROM recent_ref"),
        values("SELECT ext_hash FROM message_ref"),
    ]
    .concat();
    assert!(wrappings.len() == 3 && hashes.len() > 30);
    let before = disk_bytes(&path);
    assert!(wrappings.iter().all(|w| contains(&before, &w[13..29])), "the test can fail");
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    let after = disk_bytes(&path);
    // The key table is rebuilt: no piece of an old wrapping anywhere.
    for w in &wrappings {
        assert!(w.chunks_exact(16).all(|p| !contains(&after, p)), "an old wrapping survived");
    }
    // Keyed hashes under the old id key may linger in free page space until
    // a vacuum (SECURITY.md); after one, none does.
    store.vacuum().unwrap();
    let vacuumed = disk_bytes(&path);
    for h in &hashes {
        assert!(!contains(&vacuumed, h), "an old keyed hash survived the vacuum");
    }
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn an_interrupted_rotation_switches_to_the_new_key_at_once_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    // Enough segments in the first conversation for a step to stop after it.
    for i in 0..260 {
        store.append(convs[1], msg("alice", &format!("more {i}"))).unwrap();
    }
    let stale = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    // Begin, and move one conversation.
    let report = store
        .rotate_master_key_with(StoreKey::raw(NEW_KEY), &RotateOptions::default().transaction_budget(2))
        .unwrap();
    assert!(!report.finished);
    assert_eq!(report.conversations, 1);
    // Everything works meanwhile: reads, writes, lookups on both sides.
    for &c in &convs {
        store.append(c, msg("x", "during the rotation")).unwrap();
        store.messages(c, Page::latest(3)).unwrap();
    }
    assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(convs[1]));
    assert_eq!(store.append(convs[1], ext_msg("srv-a-2", "again")).unwrap().seq(), 3);
    let late = store
        .create_conversation(NewConversation { external_id: Some("wxid_late".into()), ..Default::default() })
        .unwrap();
    store.append(late, ext_msg("late-1", "created during the rotation")).unwrap();
    assert!(store.verify().unwrap().is_ok());
    // A handle opened with the old key cannot follow a moved conversation.
    assert!(matches!(stale.messages(convs[1], Page::latest(1)), Err(Error::MasterKeyRotated)));
    drop(stale);
    store.close().unwrap();

    // From the first transaction on, only the new key opens it: a copy
    // taken now is closed to whoever holds the old key.
    assert!(matches!(Store::open(&path, StoreKey::raw(KEY)), Err(Error::WrongKey)));
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.verify().unwrap().is_ok());
    // Another handle, opened now, follows the rest of the rotation.
    let other = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    assert_eq!(report.conversations, 3, "the two left and the one created meanwhile");
    assert_eq!(other.find_conversation("wxid_late").unwrap(), Some(late));
    assert_eq!(other.messages(late, Page::latest(5)).unwrap().len(), 1);
    other.append(late, msg("x", "from the other handle")).unwrap();
    assert_eq!(store.append(late, ext_msg("late-1", "again")).unwrap().seq(), 1);
    store.close().unwrap();
    drop(other);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.messages(late, Page::latest(5)).unwrap().len(), 2);
}

#[test]
fn resuming_with_another_key_finishes_the_rotation_under_way_then_rotates_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    one_transaction(&store, [9; 32]);
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    assert_eq!(report.conversations, 6, "every conversation moved twice");
    store.close().unwrap();
    for old in [KEY, [9; 32]] {
        assert!(matches!(Store::open(&path, StoreKey::raw(old)), Err(Error::WrongKey)));
    }
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert_eq!(store.messages(convs[1], Page::latest(100)).unwrap().len(), 29);
    assert!(store.verify().unwrap().is_ok());
}

/// Copies a rotation under way (the master key bound to it, the next
/// master key, the progress) from the `store` row at `from` into `to`, as
/// an attacker who holds `to`'s current key can.
fn plant_rotation(from: &Path, to: &Path) {
    let (generation, next, through) = rotation_columns(from);
    let master: Vec<u8> = rusqlite::Connection::open(from)
        .unwrap()
        .query_row("SELECT master FROM store", [], |r| r.get(0))
        .unwrap();
    rusqlite::Connection::open(to)
        .unwrap()
        .execute(
            "UPDATE store SET master = ?1, master_gen = ?2, next_master = ?3, rotated_through = ?4",
            rusqlite::params![master, generation, next, through],
        )
        .unwrap();
}

/// The values of the `store` row an attacker can plant: the rotation columns.
fn rotation_columns(path: &Path) -> (i64, Option<Vec<u8>>, Option<i64>) {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT master_gen, next_master, rotated_through FROM store", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
}

#[test]
fn a_rotation_planted_with_the_old_key_never_becomes_the_stores_master_key() {
    // The attacker knows the old key KEY and can write the file. On a copy,
    // they begin a rotation (its next master key sealed under KEY), and on a
    // second copy finish it under a key of their own, so they hold a header
    // that opens that next master key. They plant the first copy's rotation
    // columns in the victim's file.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.close().unwrap();
    let (a1, a2) = (dir.path().join("attacker-1"), dir.path().join("attacker-2"));
    std::fs::copy(&path, &a1).unwrap();
    let attacker = Store::open(&a1, StoreKey::raw(KEY)).unwrap();
    one_transaction(&attacker, KEY);
    attacker.close().unwrap();
    std::fs::copy(&a1, &a2).unwrap();
    let attacker = Store::open(&a2, StoreKey::raw(KEY)).unwrap();
    attacker.rotate_master_key(StoreKey::raw(KEY)).unwrap();
    attacker.close().unwrap();
    let attacker_row = store_row(&a2);
    plant_rotation(&a1, &path);

    // The victim, whose key leaked, opens with it (nothing looks wrong),
    // cannot change the key while a rotation is under way (that would vouch
    // for it), and rotates to a new one.
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert!(matches!(store.change_key(StoreKey::raw(NEW_KEY)), Err(Error::InvalidArgument(_))));
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    let later = store.append(convs[1], msg("alice", "written after the rotation")).unwrap();
    store.compact(&CompactOptions::default()).unwrap();
    store.close().unwrap();

    // The attacker's header opens the planted next master key, which opens
    // nothing: the victim's rotation drew a master key of its own.
    let copy = dir.path().join("attacker-3");
    with_old_row(&path, &attacker_row, &copy);
    rusqlite::Connection::open(&copy).unwrap().execute("UPDATE store SET master_gen = 1", []).unwrap();
    let attacker = Store::open(&copy, StoreKey::raw(KEY)).unwrap();
    assert!(matches!(attacker.message(later), Err(Error::Authentication { .. })));
    assert_eq!(attacker.find_conversation("wxid_alice").unwrap(), None);
}

#[test]
fn a_copy_taken_during_a_rotation_opens_nothing_with_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    let copy = dir.path().join("mid-rotation");
    store.close().unwrap();
    std::fs::copy(&path, &copy).unwrap();
    assert!(matches!(Store::open(&copy, StoreKey::raw(KEY)), Err(Error::WrongKey)));
    // Nor does its header put into the finished store.
    let mid_row = store_row(&copy);
    let (generation, next, through) = rotation_columns(&copy);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    let later = store.append(convs[1], msg("alice", "later")).unwrap();
    store.close().unwrap();
    let attacker = dir.path().join("attacker");
    with_old_row(&path, &mid_row, &attacker);
    rusqlite::Connection::open(&attacker)
        .unwrap()
        .execute(
            "UPDATE store SET master_gen = ?1, next_master = ?2, rotated_through = ?3",
            rusqlite::params![generation, next, through],
        )
        .unwrap();
    assert!(matches!(Store::open(&attacker, StoreKey::raw(KEY)), Err(Error::WrongKey)));
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert_eq!(store.message(later).unwrap().text, "later");
}

#[test]
fn a_tampered_rotated_through_loses_no_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    store.close().unwrap();
    // Claims every conversation moved, though none was.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET rotated_through = 1000000", [])
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    // Reads still find each key under the master key it is really under.
    for &c in &convs {
        store.messages(c, Page::latest(1)).unwrap();
    }
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    assert_eq!(report.conversations, 3, "the final check moved what was left behind");
    assert!(report.conversations_damaged.is_empty());
    store.close().unwrap();
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.messages(convs[1], Page::latest(100)).unwrap().len(), 29);
    assert_eq!(store.find_conversation("wxid_bob").unwrap(), Some(convs[2]));
}

#[test]
fn a_damaged_conversation_does_not_block_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE conversation_key SET wrapped = zeroblob(61) WHERE conversation = ?1",
        [convs[2].get() as i64],
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    assert_eq!(report.conversations_damaged, vec![convs[2]]);
    // The others moved whole.
    assert_eq!(store.messages(convs[1], Page::latest(100)).unwrap().len(), 29);
    assert_eq!(store.messages(convs[0], Page::latest(100)).unwrap().len(), 1);
    let problems = store.verify().unwrap().problems;
    assert!(
        !problems.is_empty() && problems.iter().all(|p| p.conversation == Some(convs[2])),
        "{problems:?}"
    );
}

#[test]
fn after_rotation_compaction_and_vacuum_no_piece_sealed_under_an_old_key_remains() {
    // The attacker copied the files before the rotation, so with the old
    // key they hold every old conversation key: no value sealed under one
    // may survive anywhere, not even a piece in free page space.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    for round in 0..6 {
        for &c in &convs {
            store.append(c, msg("s", &format!("round {round} {}", "w".repeat(round * 17)))).unwrap();
        }
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut old: Vec<Vec<u8>> = Vec::new();
    for sql in
        ["SELECT body FROM segment", "SELECT meta FROM conversation", "SELECT wrapped FROM conversation_key"]
    {
        old.extend(conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap));
    }
    drop(conn);
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    store.compact(&CompactOptions::default()).unwrap();
    store.vacuum().unwrap();
    let bytes = disk_bytes(&path);
    for v in &old {
        // Past the version byte and nonce: the ciphertext itself.
        assert!(
            v[13..].chunks_exact(16).all(|p| !contains(&bytes, p)),
            "a piece of an old sealed value survived"
        );
    }
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_handle_that_missed_the_rotation_says_to_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    let stale = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    // Its next write rereads the header, and cannot follow.
    assert!(matches!(stale.append(convs[1], msg("x", "y")), Err(Error::MasterKeyRotated)));
    // Reads of keys it had not unwrapped fail the same way.
    assert!(matches!(stale.messages(convs[0], Page::latest(1)), Err(Error::MasterKeyRotated)));
    assert!(matches!(stale.change_key(StoreKey::raw([5; 32])), Err(Error::MasterKeyRotated)));
    // The store itself is intact.
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn compaction_after_rotation_destroys_every_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, store, _) = populated(dir.path());
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    let stats = store.stats().unwrap();
    assert!(stats.epochs.iter().any(|e| e.keys > e.current_for), "old epochs remain until compaction");
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 3);
    let stats = store.stats().unwrap();
    assert!(stats.epochs.iter().all(|e| e.keys == e.current_for), "{:?}", stats.epochs);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_header_copied_during_a_rotation_does_not_open_without_its_rotation() {
    // The master key's seal during a rotation is bound to it: the `store`
    // row copied then, put back after the rotation finished without its
    // next master key, would make the store use the old master key again.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    let mid = store_row(&path);
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE store SET store_id = ?1, kdf = ?2, kdf_salt = ?3, kdf_m_kib = ?4, kdf_t = ?5, kdf_p = ?6, master = ?7",
        rusqlite::params_from_iter(mid.iter()),
    )
    .unwrap();
    drop(conn);
    assert!(matches!(Store::open(&path, StoreKey::raw(NEW_KEY)), Err(Error::WrongKey)));
}

#[test]
fn during_a_rotation_writes_go_under_keys_only_the_new_master_key_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    // Begun, nothing moved: every conversation's current key is still
    // wrapped under the old master key.
    one_transaction(&store, NEW_KEY);
    let epoch = |c: ConversationId| -> i64 {
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT epoch FROM conversation WHERE id = ?1", [c.get() as i64], |r| r.get(0))
            .unwrap()
    };
    let before = epoch(convs[2]);
    let m = store.append(convs[2], msg("bob", "written during the rotation")).unwrap();
    assert_eq!(epoch(convs[2]), before + 1, "a new epoch before anything is sealed");
    let late = store.create_conversation(NewConversation::default()).unwrap();
    store.append(late, msg("x", "in a conversation created during the rotation")).unwrap();
    store.close().unwrap();

    // The reader of the document, with the new root key: the new epoch's
    // key and the new conversation's key open under the next master key's
    // wrap key, not the current one's.
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY));
    let next = spec.next.as_ref().expect("a rotation under way").subkeys.wrap;
    let current = spec.current().wrap;
    for (c, e) in [(convs[2].get(), (before + 1) as u32), (late.get(), 0)] {
        let wrapped = spec.wrapped_key(c, e);
        let place = common::spec::Place::key(c, e);
        assert!(common::spec::open(&next, &spec.store_id, &place, &wrapped).is_some());
        assert!(
            common::spec::open(&current, &spec.store_id, &place, &wrapped).is_none(),
            "{c} under the old key"
        );
    }
    drop(spec);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert_eq!(store.message(m).unwrap().text, "written during the rotation");
    assert!(store.verify().unwrap().is_ok());
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn damage_of_any_kind_never_blocks_the_rotation() {
    for (i, damage) in [
        "UPDATE conversation SET seals = -1 WHERE id = {b}",
        "UPDATE conversation SET next_seq = 'x' WHERE id = {b}",
        "UPDATE conversation_key SET wrapped = 'not a blob' WHERE conversation = {b}",
        "INSERT INTO conversation_key VALUES ({b}, -1, zeroblob(61))",
        "INSERT INTO conversation_key VALUES (-5, 0, zeroblob(61))",
        "INSERT INTO conversation_key VALUES ({b}, 1, zeroblob(61))",
        // The highest epoch out of range, the one above the current taken.
        "INSERT INTO conversation_key VALUES ({b}, 1, zeroblob(61)); \
         INSERT INTO conversation_key VALUES ({b}, 4294967296, zeroblob(61))",
        // A deleted conversation's key rows, put back from an older copy.
        "INSERT INTO conversation_key SELECT 999, epoch, wrapped FROM conversation_key WHERE conversation = {b}",
        "UPDATE store SET key_rebuild_owed = 'x'",
    ]
    .iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let (path, store, convs) = populated(dir.path());
        store.close().unwrap();
        let sql = damage.replace("{b}", &convs[2].get().to_string());
        rusqlite::Connection::open(&path).unwrap().execute_batch(&sql).unwrap();
        let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
        let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap_or_else(|e| panic!("{i}: {sql}: {e}"));
        assert!(report.finished, "{sql}");
        assert_eq!(store.messages(convs[1], Page::latest(100)).unwrap().len(), 29, "{sql}");
        store.compact(&CompactOptions::default()).unwrap_or_else(|e| panic!("{sql}: compact: {e}"));
        store.vacuum().unwrap_or_else(|e| panic!("{sql}: vacuum: {e}"));
        let report = store.verify().unwrap();
        assert!(report.problems.iter().all(|p| p.conversation != Some(convs[1])), "{sql}: {:?}", report.problems);
    }
}

#[test]
fn a_write_never_goes_back_to_an_older_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    // Another connection puts back a rotation of the generation before.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET master_gen = 0, next_master = randomblob(61), rotated_through = 0", [])
        .unwrap();
    assert!(matches!(store.append(convs[1], msg("x", "y")), Err(Error::MasterKeyRotated)));
    assert!(matches!(store.create_conversation(NewConversation::default()), Err(Error::MasterKeyRotated)));
}

#[test]
fn a_raised_rotated_through_still_moves_a_few_conversations_per_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    let convs: Vec<_> =
        (0..12).map(|_| store.create_conversation(NewConversation::default()).unwrap()).collect();
    for &c in &convs {
        for i in 0..60 {
            store.append(c, msg("s", &format!("{i}"))).unwrap();
        }
    }
    one_transaction(&store, NEW_KEY);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET rotated_through = 1000000", [])
        .unwrap();
    let report = one_transaction(&store, NEW_KEY);
    assert!(!report.finished);
    assert!(report.conversations > 0 && report.conversations < 12, "{report:?}");
    let report = store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap();
    assert!(report.finished);
    for &c in &convs {
        assert_eq!(store.messages(c, Page::latest(100)).unwrap().len(), 60);
    }
    assert!(store.verify().unwrap().is_ok());
}

/// What an attacker who knows master key `wrap`'s wrap key and the
/// conversation's current key can do: plant a key `kx` of their own at
/// `epoch`, make it the conversation's current epoch, and reseal its
/// metadata under it.
fn plant_key(
    path: &Path,
    spec: &common::spec::SpecStore,
    c: ConversationId,
    epoch: u32,
    wrap: &[u8; 32],
) -> [u8; 32] {
    use common::spec::{Place, open, seal};
    let c = c.get();
    let current = spec.conversation(c).epoch;
    let sealed_meta: Vec<u8> =
        spec.conn.query_row("SELECT meta FROM conversation WHERE id = ?1", [c as i64], |r| r.get(0)).unwrap();
    let (_, meta) =
        open(&spec.conversation_key(c, current), &spec.store_id, &Place::meta(c, current), &sealed_meta)
            .expect("the attacker opens the metadata");
    let kx = common::spec::random_key();
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO conversation_key (conversation, epoch, wrapped) VALUES (?1, ?2, ?3)",
        rusqlite::params![c as i64, epoch, seal(wrap, &spec.store_id, &Place::key(c, epoch), &kx)],
    )
    .unwrap();
    conn.execute(
        "UPDATE conversation SET epoch = ?2, seals = 0, meta = ?3 WHERE id = ?1",
        rusqlite::params![c as i64, epoch, seal(&kx, &spec.store_id, &Place::meta(c, epoch), &meta)],
    )
    .unwrap();
    kx
}

/// The segments of `c` that open under `key`.
fn segments_under(path: &Path, c: ConversationId, key: &[u8; 32]) -> usize {
    let spec = common::spec::SpecStore::open(path, common::spec::Root::Raw(NEW_KEY));
    spec.segments(c.get())
        .iter()
        .filter(|(first, last, epoch, body)| {
            let place = common::spec::Place::segment(c.get(), *epoch, *first, *last);
            common::spec::open(key, &spec.store_id, &place, body).is_some()
        })
        .count()
}

#[test]
fn a_key_planted_under_the_old_master_key_during_a_rotation_never_seals() {
    // The attacker holds the old root key, so the master key M in force
    // until the rotation finishes. While it is under way they plant a key
    // of their own, wrapped under M, as the current epoch of a conversation
    // not moved yet.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    store.close().unwrap();
    let b = convs[2];
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY));
    assert!(spec.next.as_ref().is_some_and(|n| n.rotated_through < b.get()), "b not moved yet");
    let planted = spec.conversation(b.get()).epoch + 1;
    let kx = plant_key(&path, &spec, b, planted, &spec.current().wrap);
    drop(spec);

    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    let m = store.append(b, msg("bob", "after the plant")).unwrap();
    assert_eq!(store.message(m).unwrap().text, "after the plant");
    store.close().unwrap();
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY));
    assert_eq!(spec.conversation(b.get()).epoch, planted + 1, "a new epoch above the planted one");
    assert_ne!(spec.conversation_key(b.get(), planted + 1), kx);
    drop(spec);
    assert_eq!(segments_under(&path, b, &kx), 0, "nothing sealed under the planted key");

    // At the top of the epoch range there is no epoch above: the write is
    // refused rather than sealed under the planted key.
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY));
    let a = convs[1];
    let kx = plant_key(&path, &spec, a, u32::MAX, &spec.current().wrap);
    drop(spec);
    let rows = |path: &Path| -> (i64, Vec<u8>) {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT (SELECT COUNT(*) FROM segment WHERE conversation = ?1), meta FROM conversation WHERE id = ?1",
                [a.get() as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let before = rows(&path);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    match store.append(a, msg("alice", "refused")) {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("exhausted"), "{e}"),
        other => panic!("{other:?}"),
    }
    store.close().unwrap();
    assert_eq!(rows(&path), before, "no segment added, the metadata not resealed");
    assert_eq!(segments_under(&path, a, &kx), 0, "nothing sealed under the planted key");
}

/// After the rotation the attacker cannot open the current metadata (its
/// key is under M′): what they can plant opens nothing, so the write fails
/// on the metadata, before anything is sealed.
#[test]
fn a_key_planted_under_the_old_master_key_after_a_rotation_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.close().unwrap();
    // A copy from before: the attacker's knowledge of M.
    let old = dir.path().join("old");
    std::fs::copy(&path, &old).unwrap();
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    store.close().unwrap();
    let b = convs[2];
    let old_spec = common::spec::SpecStore::open(&old, common::spec::Root::Raw(KEY));
    let epoch =
        common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY)).conversation(b.get()).epoch;
    // The attacker cannot open the current metadata (its key is under M'),
    // so they plant the metadata of the old copy, under a key of their own.
    let kx = plant_key(&path, &old_spec, b, epoch + 1, &old_spec.current().wrap);
    drop(old_spec);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.append(b, msg("bob", "x")).is_err(), "the planted key does not open under M'");
    assert!(!store.verify().unwrap().is_ok());
    store.close().unwrap();
    assert_eq!(segments_under(&path, b, &kx), 0);
}

/// A conversation whose epoch and metadata a rollback can put back to
/// what they were before a finished master-key rotation (whose keys it
/// retired).
struct RolledBack {
    path: PathBuf,
    b: ConversationId,
    old_epoch: u32,
    old_meta: Vec<u8>,
    /// The key of `old_epoch`.
    k_old: [u8; 32],
    /// The epoch after the rotation.
    current: u32,
}

impl RolledBack {
    /// A populated store, its third conversation's epoch and metadata
    /// noted, then a finished rotation to `NEW_KEY`.
    fn rotated(dir: &Path) -> RolledBack {
        let (path, store, convs) = populated(dir);
        store.close().unwrap();
        let b = convs[2];
        let (old_meta, old_epoch): (Vec<u8>, u32) = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT meta, epoch FROM conversation WHERE id = ?1", [b.get() as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let k_old = common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY))
            .conversation_key(b.get(), old_epoch);
        let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
        assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
        store.close().unwrap();
        let current = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY))
            .conversation(b.get())
            .epoch;
        assert!(current > old_epoch);
        RolledBack { path, b, old_epoch, old_meta, k_old, current }
    }

    /// Rolled back: the old epoch and its metadata, put back from a copy.
    fn roll_back(&self) {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .execute(
                "UPDATE conversation SET epoch = ?2, meta = ?3 WHERE id = ?1",
                rusqlite::params![self.b.get() as i64, self.old_epoch, self.old_meta],
            )
            .unwrap();
    }
}

#[test]
fn an_epoch_rolled_back_to_a_retired_key_starts_a_new_epoch() {
    // After a rotation the old epochs' keys are retired: rewrapped under the
    // new master key, marked so that nothing is sealed under them again.
    let dir = tempfile::tempdir().unwrap();
    let t = RolledBack::rotated(dir.path());
    let (path, b, current) = (&t.path, t.b, t.current);

    let spec = common::spec::SpecStore::open(path, common::spec::Root::Raw(NEW_KEY));
    let wrap = spec.current().wrap;
    for epoch in spec.key_epochs(b.get()) {
        let wrapped = spec.wrapped_key(b.get(), epoch);
        let plain =
            common::spec::open(&wrap, &spec.store_id, &common::spec::Place::key(b.get(), epoch), &wrapped);
        let retired = common::spec::open(
            &wrap,
            &spec.store_id,
            &common::spec::Place::retired_key(b.get(), epoch),
            &wrapped,
        );
        assert_eq!(plain.is_some(), epoch == current, "epoch {epoch} of {current}");
        assert_eq!(retired.is_some(), epoch != current, "epoch {epoch} of {current}");
    }
    drop(spec);

    t.roll_back();
    let store = Store::open(path, StoreKey::raw(NEW_KEY)).unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.conversation == Some(b) && p.detail.contains("retired")),
        "{:?}",
        report.problems
    );
    store.append(b, msg("bob", "after the rollback")).unwrap();
    store.close().unwrap();
    let spec = common::spec::SpecStore::open(path, common::spec::Root::Raw(NEW_KEY));
    assert_eq!(spec.conversation(b.get()).epoch, current + 1, "above every key row, not old_epoch + 1");
    drop(spec);
    assert_eq!(segments_under(path, b, &t.k_old), 30, "only the segments sealed before the rotation");
}

#[test]
fn a_new_epoch_never_takes_over_a_row_above_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.close().unwrap();
    let b = convs[2];
    let epoch =
        common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY)).conversation(b.get()).epoch;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO conversation_key VALUES (?1, ?2, zeroblob(61))",
            rusqlite::params![b.get() as i64, epoch + 1],
        )
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert_eq!(store.rotate_conversation_key(b).unwrap().get(), epoch + 2);
    store.append(b, msg("bob", "under the new epoch")).unwrap();
    store.close().unwrap();
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY));
    assert_eq!(spec.wrapped_key(b.get(), epoch + 1), vec![0; 61], "the row above is left as it was");
    assert_eq!(spec.messages(b.get()).len(), 31);
}

#[test]
fn a_conversation_created_under_a_raised_rotated_through_is_found_after_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET rotated_through = 1000000", [])
        .unwrap();
    let late = store
        .create_conversation(NewConversation { external_id: Some("wxid_late".into()), ..Default::default() })
        .unwrap();
    assert_eq!(store.find_conversation("wxid_late").unwrap(), Some(late));
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    assert_eq!(store.find_conversation("wxid_late").unwrap(), Some(late));
    assert!(store.find_conversation("wxid_alice").unwrap().is_some());
    assert!(store.verify().unwrap().is_ok());
}

/// The keyed hash `old` (subkeys of a master key from before) gives `ext`
/// as a message external id of conversation `c`, and whether it is in `c`'s
/// index.
fn old_message_hash_indexed(path: &Path, old: &common::spec::Subkeys, c: ConversationId, ext: &str) -> bool {
    let h = old.hash(&[b"message\0", &c.get().to_be_bytes(), ext.as_bytes()]);
    let spec = common::spec::SpecStore::open(path, common::spec::Root::Raw(NEW_KEY));
    spec.refs(c.get()).iter().any(|(hash, _)| hash[..] == h[..])
}

fn ext_hash_of(path: &Path, c: ConversationId) -> Option<Vec<u8>> {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT ext_hash FROM conversation WHERE id = ?1", [c.get() as i64], |r| r.get(0))
        .unwrap()
}

#[test]
fn hashes_written_during_a_rotation_are_under_the_new_id_key_whatever_rotated_through_says() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    one_transaction(&store, NEW_KEY);
    let late = store
        .create_conversation(NewConversation {
            external_id: Some("wxid_secret".into()),
            ..Default::default()
        })
        .unwrap();
    store.append(late, ext_msg("srv-secret-1", "written during the rotation")).unwrap();
    let b = convs[2];
    store.append(b, ext_msg("srv-b-during", "to a conversation not moved yet")).unwrap();
    // Deduplication still finds messages indexed before the rotation began.
    let a = convs[1];
    let first = store.messages(a, Page::latest(1000)).unwrap()[0].id;
    assert_eq!(store.append(a, ext_msg("srv-a-0", "again")).unwrap(), first);
    store.close().unwrap();
    let old = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY)).current();
    // Raised past every conversation: none of them is moved by step 2.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET rotated_through = 1000000", [])
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    assert_eq!(store.find_conversation("wxid_secret").unwrap(), Some(late));
    assert_eq!(store.append(late, ext_msg("srv-secret-1", "again")).unwrap().seq(), 1, "deduplicated");
    assert!(store.verify().unwrap().is_ok());
    store.close().unwrap();
    let conv_h = old.hash(&[b"conversation\0", b"wxid_secret"]);
    assert_ne!(ext_hash_of(&path, late).as_deref(), Some(&conv_h[..]));
    assert!(!old_message_hash_indexed(&path, &old, late, "srv-secret-1"));
    assert!(!old_message_hash_indexed(&path, &old, b, "srv-b-during"));
}

#[test]
fn compaction_during_a_rotation_keeps_the_key_rows_the_rotation_finds_conversations_by() {
    // A conversation not moved yet, written to (a new epoch under M′) and
    // compacted (its old segments resealed under it) during the rotation:
    // if compaction destroyed its old keys, none of its rows would be
    // under M any more, and a raised `rotated_through` would leave its
    // index under M's id key.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.close().unwrap();
    let old_spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY));
    let old = old_spec.current();
    drop(old_spec);
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    one_transaction(&store, NEW_KEY);
    let a = convs[1];
    store.append(a, ext_msg("srv-a-during", "during")).unwrap();
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 0, "{report:?}");
    assert!(old_message_hash_indexed(&path, &old, a, "srv-a-3"), "indexed before the rotation");
    store.close().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET rotated_through = 1000000", [])
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    assert_eq!(store.find_conversation("wxid_alice").unwrap(), Some(a));
    assert!(store.verify().unwrap().is_ok());
    assert!(store.compact(&CompactOptions::default()).unwrap().keys_destroyed > 0, "after the rotation");
    store.close().unwrap();
    for ext in ["srv-a-3", "srv-a-during"] {
        assert!(!old_message_hash_indexed(&path, &old, a, ext), "{ext}");
    }
    let conv_h = old.hash(&[b"conversation\0", b"wxid_alice"]);
    assert_ne!(ext_hash_of(&path, a).as_deref(), Some(&conv_h[..]));
}

#[test]
fn a_store_row_put_back_from_during_a_rotation_revives_nothing_under_the_old_id_key() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, _) = populated(dir.path());
    store.close().unwrap();
    let old = common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY)).current();
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    store
        .rotate_master_key_with(StoreKey::raw(NEW_KEY), &RotateOptions::default().transaction_budget(2))
        .unwrap();
    store.close().unwrap();
    let snapshot: Vec<rusqlite::types::Value> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT master, master_gen, next_master, rotated_through FROM store", [], |r| {
            (0..4).map(|i| r.get(i)).collect()
        })
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    store.compact(&CompactOptions::default()).unwrap();
    store.vacuum().unwrap();
    store.close().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE store SET master = ?1, master_gen = ?2, next_master = ?3, rotated_through = ?4",
            rusqlite::params_from_iter(snapshot),
        )
        .unwrap();
    // It opens, as mid-rotation (a store row is not versioned against the
    // rest of the file), but what is written now is under M′ only.
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    let c = store
        .create_conversation(NewConversation { external_id: Some("wxid_after".into()), ..Default::default() })
        .unwrap();
    store.append(c, ext_msg("srv-after-1", "after")).unwrap();
    assert_eq!(store.find_conversation("wxid_after").unwrap(), Some(c));
    store.close().unwrap();
    let conv_h = old.hash(&[b"conversation\0", b"wxid_after"]);
    assert_ne!(ext_hash_of(&path, c).as_deref(), Some(&conv_h[..]));
    assert!(!old_message_hash_indexed(&path, &old, c, "srv-after-1"));
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    assert_eq!(store.find_conversation("wxid_after").unwrap(), Some(c));
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn compaction_never_destroys_the_key_above_a_rolled_back_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    store.compact(&CompactOptions::default()).unwrap();
    store.close().unwrap();
    let b = convs[2];
    let spec = common::spec::SpecStore::open(&path, common::spec::Root::Raw(KEY));
    let e = spec.conversation(b.get()).epoch;
    let k_old = spec.conversation_key(b.get(), e);
    drop(spec);
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert!(store.rotate_master_key(StoreKey::raw(NEW_KEY)).unwrap().finished);
    store.close().unwrap();
    // The rotation started epoch e + 1, which holds only the metadata; the
    // segments are under the retired key of e. Rolled back to e:
    let set_epoch = |epoch: u32| {
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE conversation SET epoch = ?2 WHERE id = ?1",
                rusqlite::params![b.get() as i64, epoch],
            )
            .unwrap();
    };
    set_epoch(e);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert!(report.conversations_skipped.contains(&b), "{report:?}");
    let problems = store.verify().unwrap().problems;
    assert!(problems.iter().any(|p| p.conversation == Some(b) && p.detail.contains("above")), "{problems:?}");
    store.close().unwrap();
    let epochs = common::spec::SpecStore::open(&path, common::spec::Root::Raw(NEW_KEY)).key_epochs(b.get());
    assert!(epochs.contains(&(e + 1)), "the key the metadata is under survives: {epochs:?}");

    // Undone, the conversation compacts: nothing left under the old key.
    set_epoch(e + 1);
    let store = Store::open(&path, StoreKey::raw(NEW_KEY)).unwrap();
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert!(report.conversations_skipped.is_empty(), "{report:?}");
    assert_eq!(store.messages(b, Page::latest(100)).unwrap().len(), 30);
    assert!(store.verify().unwrap().is_ok());
    store.close().unwrap();
    assert_eq!(segments_under(&path, b, &k_old), 0);
}

#[test]
fn compaction_of_an_epoch_rolled_back_to_a_retired_key_starts_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let t = RolledBack::rotated(dir.path());
    let (path, b, current, k_old) = (&t.path, t.b, t.current, t.k_old);
    t.roll_back();
    let store = Store::open(path, StoreKey::raw(NEW_KEY)).unwrap();
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert!(report.conversations_skipped.is_empty(), "{report:?}");
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.messages(b, Page::latest(100)).unwrap().len(), 30);
    store.close().unwrap();
    let spec = common::spec::SpecStore::open(path, common::spec::Root::Raw(NEW_KEY));
    assert_eq!(spec.key_epochs(b.get()), vec![current + 1]);
    drop(spec);
    assert_eq!(segments_under(path, b, &k_old), 0);
}

#[test]
fn compaction_never_destroys_the_key_above_an_epoch_rolled_back_to_a_live_key() {
    // No master-key rotation: the epoch rolled back is one whose key may
    // still be sealed under, and the key above it is the metadata's.
    let dir = tempfile::tempdir().unwrap();
    let (path, store, convs) = populated(dir.path());
    let b = convs[2];
    let e = store.rotate_conversation_key(b).unwrap().get();
    store.close().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE conversation SET epoch = ?2 WHERE id = ?1", rusqlite::params![b.get() as i64, e - 1])
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    store.compact(&CompactOptions::default()).unwrap();
    assert!(!store.verify().unwrap().is_ok());
    store.close().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE conversation SET epoch = ?2 WHERE id = ?1", rusqlite::params![b.get() as i64, e])
        .unwrap();
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert_eq!(store.conversation(b).unwrap().title, "Bob", "the metadata's key survived");
    assert!(store.verify().unwrap().is_ok());
}
