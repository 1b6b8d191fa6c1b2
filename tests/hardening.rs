//! Smaller promises of SECURITY.md, each with the test that would catch
//! its violation: counts read from disk never overflow (these tests run
//! with overflow checks on, as `cargo test` and debug app builds do), the
//! store's files are readable by their owner only, `Debug` never prints
//! the user's words, activity stamps reveal order only, and the counts
//! format 4's segment key bounds stop with an error that changes nothing.

mod common;

use chatvault::{
    ConversationUpdate, Error, ExportOptions, Message, NewConversation, NewMessage, Page, ProblemKind, Store,
    StoreKey,
};
use common::{KEY, TestStore, msg};

#[test]
fn counts_from_disk_near_the_maximum_do_not_overflow() {
    let t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    for i in 0..3 {
        t.append(a, msg("s", &format!("a{i}"))).unwrap();
        t.append(b, msg("s", &format!("b{i}"))).unwrap();
    }
    // Tampered counts whose sum passes i64::MAX and u64::MAX.
    t.raw_sql()
        .execute_batch(&format!(
            "UPDATE segment SET count = {max}; UPDATE conversation SET message_count = {max};",
            max = i64::MAX
        ))
        .unwrap();
    let report = t.verify().unwrap();
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::CountMismatch), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::Authentication));
    // Export, the list and stats fail cleanly or succeed; none panics.
    let mut out = Vec::new();
    assert!(t.export(&mut out, &ExportOptions::raw_key([1; 32])).is_err());
    let _ = t.conversations();
    let _ = t.stats();
    let _ = t.conversation(a);
}

/// docs/DESIGN.md, "Limits" (format 4): conversation ids stay below 2^31
/// and sequence numbers below 2^32; past either, the write is refused with
/// `LimitReached` and nothing of it is stored.
#[test]
fn the_segment_keys_limits_refuse_the_write_whole() {
    let t = TestStore::new();
    let a = t.new_conv("a");
    t.raw_sql()
        .execute("UPDATE sqlite_sequence SET seq = 2147483646 WHERE name = 'conversation'", [])
        .unwrap();
    let last = t.new_conv("last");
    assert_eq!(last.get(), (1 << 31) - 1);
    t.append(last, msg("s", "the last conversation works")).unwrap();
    let over = t.create_conversation(NewConversation { title: "one too many".into(), ..Default::default() });
    assert!(matches!(over, Err(Error::LimitReached { .. })), "{over:?}");
    assert_eq!(t.conversations().unwrap().len(), 2, "nothing was created");

    // Sequence numbers: the last one is written, the next batch is refused whole.
    t.raw_sql()
        .execute("UPDATE conversation SET next_seq = 4294967294 WHERE id = ?1", [a.get() as i64])
        .unwrap();
    let id = t.append(a, msg("s", "second to last")).unwrap();
    assert_eq!(id.seq(), (1 << 32) - 2);
    let batch: Vec<_> = ["last", "one too many"].iter().map(|m| (a, msg("s", m))).collect();
    let over = t.append_batch(&batch);
    assert!(matches!(over, Err(Error::LimitReached { .. })), "{over:?}");
    assert_eq!(t.messages(a, Page::latest(10)).unwrap().len(), 1, "nothing of the batch was stored");
    assert_eq!(t.append(a, msg("s", "last")).unwrap().seq(), (1 << 32) - 1);
    assert!(matches!(t.append(a, msg("s", "over")), Err(Error::LimitReached { .. })));
    assert!(t.verify().unwrap().is_ok());
}

#[cfg(unix)]
#[test]
fn store_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestStore::new();
    let c = t.new_conv("c");
    t.append(c, msg("s", "x")).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", t.path.display());
        let mode = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path}: {e}")).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{path} has mode {:o}", mode & 0o777);
    }
}

#[cfg(unix)]
#[test]
fn opening_a_store_readable_by_others_makes_it_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut t = TestStore::new();
    t.close();
    std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    t.reopen();
    let mode = std::fs::metadata(&t.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn debug_output_shows_lengths_not_words() {
    let secret = "TheSecretWordsOfTheUser";
    let new = NewMessage {
        external_id: Some(secret.into()),
        sender: secret.into(),
        text: secret.into(),
        extra: secret.as_bytes().to_vec(),
        ..Default::default()
    };
    let t = TestStore::new();
    let c = t
        .create_conversation(NewConversation {
            external_id: Some(secret.into()),
            title: secret.into(),
            members: vec![secret.into()],
            app_data: secret.as_bytes().to_vec(),
            ..Default::default()
        })
        .unwrap();
    let m = t.append(c, new.clone()).unwrap();
    let message: Message = t.message(m).unwrap();
    let update = ConversationUpdate { title: Some(secret.into()), ..Default::default() };
    let printed = [
        format!("{new:?}"),
        format!("{message:?}"),
        format!("{:?}", t.conversation(c).unwrap()),
        format!("{:?}", t.conversations().unwrap()),
        format!("{update:?}"),
        format!("{:?}", NewConversation { title: secret.into(), ..Default::default() }),
    ];
    let mut archive = Vec::new();
    t.export(&mut archive, &ExportOptions::raw_key([1; 32])).unwrap();
    let summary =
        chatvault::archive::inspect(&archive[..], &chatvault::ImportOptions::raw_key([1; 32])).unwrap();
    for p in printed.iter().chain([&format!("{summary:?}")]) {
        assert!(!p.contains("Secret"), "the user's words in Debug output: {p}");
        assert!(p.contains("bytes"), "lengths are shown: {p}");
    }
}

#[test]
fn activity_stamps_reveal_order_not_how_many_messages_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    let a = store.create_conversation(NewConversation::default()).unwrap();
    let b = store.create_conversation(NewConversation::default()).unwrap();
    let activity = |c: chatvault::ConversationId| -> i64 {
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT activity FROM conversation WHERE id = ?1", [c.get() as i64], |r| r.get(0))
            .unwrap()
    };
    store.append(a, msg("s", "first")).unwrap();
    let start = activity(a);
    // A burst into the most recent conversation moves nothing.
    for i in 0..100 {
        store.append(a, msg("s", &format!("burst {i}"))).unwrap();
    }
    store.append_batch(&[(a, msg("s", "batched"))]).unwrap();
    assert_eq!(activity(a), start);
    store.append(b, msg("s", "b")).unwrap();
    assert_eq!(activity(b), start + 1, "one step per change of the most recent conversation");
    store.append(a, msg("s", "back")).unwrap();
    assert_eq!(activity(a), start + 2);
    let list: Vec<_> = store.conversations().unwrap().into_iter().map(|s| s.conversation.id).collect();
    assert_eq!(list, vec![a, b]);
    assert_eq!(store.messages(a, Page::latest(1)).unwrap()[0].text, "back");
}
