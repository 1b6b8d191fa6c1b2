//! Round trips of the public API: stores, keys, conversations, messages,
//! paging, edits, deletes, dedup, limits and errors.

mod common;

use chatvault::{
    ConversationId, ConversationUpdate, Error, KdfParams, Message, MessageId, Missing, NewConversation,
    NewMessage, Page, Store, StoreKey, limits,
};
use common::{KEY, TestStore, msg};

const TEXTS: &[&str] = &[
    "hello, world",
    "bonjour, ça va ? très bien, merci",
    "你好，今天晚上一起吃饭吗？",
    "🎉🎂 joyeux anniversaire ! 生日快乐 🥳",
    "Ünïcödé ñ ß ø å — “quotes” ‘and’ dashes",
    "",
    "emoji family 👨‍👩‍👧‍👦 and flags 🇫🇷🇨🇳",
];

fn text(i: usize) -> String {
    format!("{} #{i}", TEXTS[i % TEXTS.len()])
}

#[test]
fn create_then_open_round_trips_everything() {
    let mut t = TestStore::new();
    let c = t
        .create_conversation(NewConversation {
            external_id: Some("wxid_alice".into()),
            title: "Alice 爱丽丝 🌸".into(),
            members: vec!["me".into(), "alice".into()],
            app_data: vec![0, 1, 2, 255],
            created_at_ms: Some(1_600_000_000_000),
            retention_ms: None,
        })
        .unwrap();
    let first = t
        .append(
            c,
            NewMessage {
                external_id: Some("srv-1".into()),
                sender: "alice".into(),
                sent_at_ms: 1_700_000_000_000,
                text: "bonjour 你好".into(),
                extra: vec![9, 9, 9],
                expires_at_ms: None,
                ..Default::default()
            },
        )
        .unwrap();
    let reply = t
        .append(
            c,
            NewMessage {
                sender: "me".into(),
                sent_at_ms: 1_700_000_000_500,
                text: "salut 👋".into(),
                reply_to: Some(first),
                ..Default::default()
            },
        )
        .unwrap();
    t.reopen();

    let conv = t.conversation(c).unwrap();
    assert_eq!(conv.id, c);
    assert_eq!(conv.external_id.as_deref(), Some("wxid_alice"));
    assert_eq!(conv.title, "Alice 爱丽丝 🌸");
    assert_eq!(conv.members, vec!["me", "alice"]);
    assert_eq!(conv.app_data, vec![0, 1, 2, 255]);
    assert_eq!(conv.created_at_ms, 1_600_000_000_000);
    assert_eq!(conv.read_up_to, None);
    assert_eq!(conv.message_count, 2);
    assert_eq!(t.find_conversation("wxid_alice").unwrap(), Some(c));
    assert_eq!(t.find_conversation("wxid_bob").unwrap(), None);

    let m = t.message(first).unwrap();
    assert_eq!(
        m,
        Message {
            id: first,
            external_id: Some("srv-1".into()),
            sender: "alice".into(),
            sent_at_ms: 1_700_000_000_000,
            text: "bonjour 你好".into(),
            reply_to: None,
            edited_at_ms: None,
            extra: vec![9, 9, 9],
            expires_at_ms: None,
        }
    );
    let r = t.message(reply).unwrap();
    assert_eq!(r.reply_to, Some(first));
    assert_eq!(r.text, "salut 👋");
    assert_eq!(first.seq() + 1, reply.seq());
}

#[test]
fn store_errors_at_create_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.chatvault");

    assert!(matches!(Store::open(&path, StoreKey::raw(KEY)), Err(Error::NoSuchStore { .. })));
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    assert!(matches!(Store::create(&path, StoreKey::raw(KEY)), Err(Error::AlreadyExists { .. })));
    drop(store);

    assert!(matches!(Store::open(&path, StoreKey::raw([1; 32])), Err(Error::WrongKey)));
    assert!(matches!(Store::open(&path, StoreKey::passphrase("guess")), Err(Error::WrongKey)));
    Store::open(&path, StoreKey::raw(KEY)).unwrap();

    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"this is not a database, just some bytes of text, long enough to look like one")
        .unwrap();
    assert!(matches!(Store::open(&junk, StoreKey::raw(KEY)), Err(Error::NotAStore { .. })));
    assert!(matches!(Store::open(dir.path(), StoreKey::raw(KEY)), Err(Error::NotAStore { .. })));

    let other = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert!(matches!(Store::open(&other, StoreKey::raw(KEY)), Err(Error::NotAStore { .. })));

    // A store written by a future format.
    let future = chatvault::FORMAT_VERSION + 1;
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", future).unwrap();
    match Store::open(&path, StoreKey::raw(KEY)) {
        Err(Error::UnsupportedVersion { found, supported })
            if (found, supported) == (future, chatvault::FORMAT_VERSION) => {}
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }

    assert!(matches!(StoreKey::raw_from_slice(&[0; 31]), Err(Error::InvalidArgument(_))));
    let weak = KdfParams { memory_kib: 1024, ..KdfParams::default() };
    assert!(matches!(
        Store::create(dir.path().join("weak"), StoreKey::passphrase_with_params("pw", weak)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!dir.path().join("weak").exists(), "a failed create leaves nothing behind");
    assert!(matches!(
        Store::create(dir.path().join("empty"), StoreKey::passphrase("")),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn passphrase_stores_and_key_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.chatvault");
    let store = Store::create(&path, StoreKey::passphrase("correct horse")).unwrap();
    let c = store.create_conversation(NewConversation { title: "t".into(), ..Default::default() }).unwrap();
    let m = store.append(c, msg("a", "kept across key changes")).unwrap();
    drop(store);

    assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong horse")), Err(Error::WrongKey)));
    assert!(matches!(Store::open(&path, StoreKey::raw(KEY)), Err(Error::WrongKey)));
    let store = Store::open(&path, StoreKey::passphrase("correct horse")).unwrap();

    store.change_key(StoreKey::raw(KEY)).unwrap();
    drop(store);
    assert!(matches!(Store::open(&path, StoreKey::passphrase("correct horse")), Err(Error::WrongKey)));
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    assert_eq!(store.message(m).unwrap().text, "kept across key changes");

    let stronger = KdfParams { memory_kib: 32 * 1024, iterations: 3, parallelism: 1 };
    store.change_key(StoreKey::passphrase_with_params("battery staple", stronger)).unwrap();
    drop(store);
    assert!(matches!(Store::open(&path, StoreKey::raw(KEY)), Err(Error::WrongKey)));
    let store = Store::open(&path, StoreKey::passphrase("battery staple")).unwrap();
    assert_eq!(store.message(m).unwrap().text, "kept across key changes");
    let (m_kib, t): (i64, i64) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT kdf_m_kib, kdf_t FROM store", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((m_kib, t), (32 * 1024, 3), "the new parameters are stored in the file");
}

#[test]
fn ten_thousand_messages_page_both_ways() {
    let t = TestStore::new();
    let c = t.new_conv("big");
    // Mixed grouping: single appends and batches of different sizes.
    let mut ids = Vec::new();
    let mut i = 0;
    while i < 10_000 {
        if i % 1000 < 10 {
            ids.push(t.append(c, msg("s", &text(i))).unwrap());
            i += 1;
        } else {
            let n = 1 + (i % 97);
            let batch: Vec<_> = (i..i + n).map(|k| (c, msg("s", &text(k)))).collect();
            ids.extend(t.append_batch(&batch).unwrap());
            i += n;
        }
    }
    let total = ids.len();
    assert_eq!(t.conversation(c).unwrap().message_count, total as u64);

    // Backwards from the newest, 50 at a time.
    let mut seen = Vec::new();
    let mut page = t.messages(c, Page::latest(50)).unwrap();
    while !page.is_empty() {
        assert!(page.windows(2).all(|w| w[0].id < w[1].id), "pages are oldest first");
        let oldest = page[0].id;
        seen.splice(0..0, page);
        page = t.messages(c, Page::before(oldest, 50)).unwrap();
    }
    assert_eq!(seen.len(), total);
    for (k, m) in seen.iter().enumerate() {
        assert_eq!(m.id, ids[k]);
        assert_eq!(m.text, text(k));
    }

    // Forwards from the oldest, 73 at a time.
    let mut forward = t.messages(c, Page::oldest(73)).unwrap();
    let mut all = Vec::new();
    while !forward.is_empty() {
        let newest = forward[forward.len() - 1].id;
        all.extend(forward);
        forward = t.messages(c, Page::after(newest, 73)).unwrap();
    }
    assert_eq!(all, seen);

    // Pages around a point in the middle.
    let mid = ids[5_000];
    let before = t.messages(c, Page::before(mid, 3)).unwrap();
    assert_eq!(before.iter().map(|m| m.id).collect::<Vec<_>>(), ids[4_997..5_000]);
    let after = t.messages(c, Page::after(mid, 3)).unwrap();
    assert_eq!(after.iter().map(|m| m.id).collect::<Vec<_>>(), ids[5_001..5_004]);
    assert_eq!(t.messages(c, Page::latest(0)).unwrap(), vec![]);
    assert_eq!(t.messages(c, Page::latest(20_000)).unwrap().len(), total);
}

#[test]
fn batches_span_conversations_and_split_large_segments() {
    let t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let batch = vec![
        (a, msg("x", "a1")),
        (b, msg("y", "b1")),
        (a, msg("x", "a2")),
        (b, msg("y", "b2")),
        (a, msg("x", "a3")),
    ];
    let ids = t.append_batch(&batch).unwrap();
    assert_eq!(ids.len(), 5);
    for (id, (c, m)) in ids.iter().zip(&batch) {
        assert_eq!(id.conversation(), *c);
        assert_eq!(t.message(*id).unwrap().text, m.text);
    }
    let texts = |c| t.messages(c, Page::latest(10)).unwrap().into_iter().map(|m| m.text).collect::<Vec<_>>();
    assert_eq!(texts(a), ["a1", "a2", "a3"]);
    assert_eq!(texts(b), ["b1", "b2"]);
    let segments = |c: ConversationId| -> i64 {
        t.raw_sql()
            .query_row("SELECT COUNT(*) FROM segment WHERE conversation = ?1", [c.get() as i64], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((segments(a), segments(b)), (1, 1), "one segment per conversation per batch");

    // 200 messages of 1 KiB: over 64 KiB of plaintext, so several segments.
    let big: Vec<_> = (0..200).map(|i| (b, msg("y", &format!("{i:04}{}", "z".repeat(1020))))).collect();
    t.append_batch(&big).unwrap();
    let n = segments(b);
    assert!((4..=6).contains(&n), "expected the 200 KiB batch split at 64 KiB, got {} segments", n - 1);
    let page = t.messages(b, Page::latest(300)).unwrap();
    assert_eq!(page.len(), 202);
    assert!(page[2..].iter().enumerate().all(|(i, m)| m.text.starts_with(&format!("{i:04}"))));

    // An invalid message anywhere means nothing of the batch is stored.
    let bad = vec![(a, msg("x", "fine")), (ConversationId::from_raw(999), msg("x", "nowhere"))];
    assert!(matches!(t.append_batch(&bad), Err(Error::NotFound(Missing::Conversation(_)))));
    assert_eq!(texts(a), ["a1", "a2", "a3"]);
    assert_eq!(t.append_batch(&[]).unwrap(), vec![]);
}

#[test]
fn external_ids_deduplicate_appends() {
    let t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let with_ext = |ext: &str, text: &str| NewMessage { external_id: Some(ext.into()), ..msg("s", text) };
    let m1 = t.append(a, with_ext("srv-1", "first")).unwrap();
    assert_eq!(t.append(a, with_ext("srv-1", "retry")).unwrap(), m1);
    // The same external id in another conversation is another message.
    let other = t.append(b, with_ext("srv-1", "elsewhere")).unwrap();
    assert_ne!(other, m1);

    let ids = t
        .append_batch(&[
            (a, with_ext("srv-2", "second")),
            (a, with_ext("srv-1", "retry again")),
            (a, with_ext("srv-2", "duplicate within the batch")),
            (a, msg("s", "no external id")),
        ])
        .unwrap();
    assert_eq!(ids[1], m1);
    assert_eq!(ids[2], ids[0]);
    let texts: Vec<_> = t.messages(a, Page::latest(10)).unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["first", "second", "no external id"]);
    assert_eq!(t.conversation(a).unwrap().message_count, 3);

    // A deleted message stays deleted when a sync delivers it again.
    t.delete_message(m1).unwrap();
    assert_eq!(t.append(a, with_ext("srv-1", "resurrected?")).unwrap(), m1);
    assert!(matches!(t.message(m1), Err(Error::NotFound(Missing::Message(_)))));

    // Conversations deduplicate by external id too.
    assert!(matches!(
        t.create_conversation(NewConversation {
            external_id: Some("ext-a".into()),
            ..Default::default()
        }),
        Err(Error::ConversationExists(id)) if id == a
    ));
}

#[test]
fn external_ids_deduplicate_across_the_recent_and_settled_index() {
    // More messages than the recent index holds, so references move to the
    // hash-ordered table part-way; dedup must see both, across reopens.
    let mut t = TestStore::new();
    let c = t.new_conv("c");
    let with_ext =
        |i: usize| NewMessage { external_id: Some(format!("srv-{i}")), ..msg("s", &format!("m{i}")) };
    let mut ids = Vec::new();
    for chunk in (0..9_000).collect::<Vec<_>>().chunks(700) {
        let batch: Vec<_> = chunk.iter().map(|&i| (c, with_ext(i))).collect();
        ids.extend(t.append_batch(&batch).unwrap());
    }
    let count = |table: &str| -> i64 {
        t.raw_sql().query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    };
    assert!(count("message_ref") >= 4096, "references moved to the settled table");
    assert!(count("recent_ref") > 0, "the newest references are still recent");
    assert_eq!(count("message_ref") + count("recent_ref"), 9_000);
    for round in 0..2 {
        // Every id, old or recent, in a batch and alone, dedups.
        let again: Vec<_> = (0..9_000).step_by(7).map(|i| (c, with_ext(i))).collect();
        let got = t.append_batch(&again).unwrap();
        let want: Vec<_> = (0..9_000).step_by(7).map(|i| ids[i]).collect();
        assert_eq!(got, want, "round {round}");
        assert_eq!(t.append(c, with_ext(8_999)).unwrap(), ids[8_999]);
        assert_eq!(t.append(c, with_ext(3)).unwrap(), ids[3]);
        t.reopen();
    }
    assert_eq!(t.conversation(c).unwrap().message_count, 9_000);
    let new = t.append(c, with_ext(9_000)).unwrap();
    assert_eq!(new.seq(), 9_001);

    // Another handle on the same file sees references this one added.
    let other = Store::open(&t.path, StoreKey::raw(KEY)).unwrap();
    assert_eq!(other.append(c, with_ext(9_000)).unwrap(), new);
    let newer = other.append(c, with_ext(9_001)).unwrap();
    assert_eq!(t.append(c, with_ext(9_001)).unwrap(), newer);
}

#[test]
fn edits_and_deletes_rewrite_one_segment() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let batch: Vec<_> = (0..10).map(|i| (c, msg("s", &text(i)))).collect();
    let ids = t.append_batch(&batch).unwrap();
    let single = t.append(c, msg("s", "single")).unwrap();

    t.edit_message(ids[3], "édité ✏️").unwrap();
    let edited = t.message(ids[3]).unwrap();
    assert_eq!(edited.text, "édité ✏️");
    assert!(edited.edited_at_ms.is_some());
    assert_eq!(edited.sender, "s");

    t.delete_message(ids[5]).unwrap();
    assert!(matches!(t.message(ids[5]), Err(Error::NotFound(Missing::Message(m))) if m == ids[5]));
    assert!(matches!(t.delete_message(ids[5]), Err(Error::NotFound(_))));
    assert!(matches!(t.edit_message(ids[5], "x"), Err(Error::NotFound(_))));

    t.delete_message(single).unwrap();
    let rows: i64 = t.raw_sql().query_row("SELECT COUNT(*) FROM segment", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the emptied single-message segment is gone");

    let page = t.messages(c, Page::latest(20)).unwrap();
    let expected: Vec<MessageId> = ids.iter().copied().filter(|&m| m != ids[5]).collect();
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), expected);
    assert_eq!(t.conversation(c).unwrap().message_count, 9);
    // Paging across the gap.
    let before = t.messages(c, Page::before(ids[7], 2)).unwrap();
    assert_eq!(before.iter().map(|m| m.id).collect::<Vec<_>>(), vec![ids[4], ids[6]]);
    let after = t.messages(c, Page::after(ids[5], 1)).unwrap();
    assert_eq!(after[0].id, ids[6]);

    // New messages never reuse a deleted sequence number.
    let next = t.append(c, msg("s", "after deletes")).unwrap();
    assert_eq!(next.seq(), single.seq() + 1);

    for id in &expected {
        t.delete_message(*id).unwrap();
    }
    assert_eq!(t.messages(c, Page::latest(20)).unwrap().len(), 1);
}

#[test]
fn conversation_list_orders_by_activity_with_unread_counts() {
    let mut t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let c = t.new_conv("c");
    let a_msgs: Vec<_> = (0..5).map(|i| t.append(a, msg("s", &format!("a{i}"))).unwrap()).collect();
    t.append(b, msg("s", "b0")).unwrap();
    let batch: Vec<_> = (0..6).map(|i| (a, msg("s", &format!("a{}", 5 + i)))).collect();
    let a_batch = t.append_batch(&batch).unwrap();

    let list = t.conversations().unwrap();
    let order: Vec<_> = list.iter().map(|s| s.conversation.id).collect();
    assert_eq!(order, vec![a, b, c], "most recently active first; an empty conversation by creation");
    assert_eq!(list[0].last_message.as_ref().unwrap().text, "a10");
    assert_eq!(list[0].unread_count, 11);
    assert_eq!(list[2].last_message, None);
    assert_eq!(list[2].unread_count, 0);

    t.mark_read(a, a_msgs[2]).unwrap();
    assert_eq!(t.conversations().unwrap()[0].unread_count, 8);
    // Inside the batch's segment.
    t.mark_read(a, a_batch[2]).unwrap();
    assert_eq!(t.conversations().unwrap()[0].unread_count, 3);
    // Markers only move forward.
    t.mark_read(a, a_msgs[0]).unwrap();
    assert_eq!(t.conversation(a).unwrap().read_up_to, Some(a_batch[2]));
    t.delete_message(a_batch[4]).unwrap();
    t.reopen();
    let list = t.recent_conversations(2).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].unread_count, 2);

    t.append(c, msg("s", "c0")).unwrap();
    let order: Vec<_> = t.conversations().unwrap().iter().map(|s| s.conversation.id).collect();
    assert_eq!(order, vec![c, a, b]);

    assert!(matches!(t.mark_read(a, MessageId::new(b, 1)), Err(Error::InvalidArgument(_))));
    assert!(matches!(t.mark_read(a, MessageId::new(a, 999)), Err(Error::NotFound(_))));
}

#[test]
fn update_rotate_and_delete_conversations() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let old = t.append(c, msg("s", "before rotation")).unwrap();
    t.update_conversation(
        c,
        ConversationUpdate {
            title: Some("renamed 改名".into()),
            members: Some(vec!["x".into()]),
            app_data: None,
            retention_ms: None,
        },
    )
    .unwrap();
    let epoch = t.rotate_conversation_key(c).unwrap();
    assert_eq!(epoch.get(), 1);
    let new = t.append(c, msg("s", "after rotation")).unwrap();
    let conv = t.conversation(c).unwrap();
    assert_eq!((conv.title.as_str(), conv.members.as_slice()), ("renamed 改名", &["x".to_string()][..]));
    assert_eq!(t.message(old).unwrap().text, "before rotation");
    assert_eq!(t.message(new).unwrap().text, "after rotation");
    let epochs: Vec<i64> = t
        .raw_sql()
        .prepare("SELECT epoch FROM segment ORDER BY first_seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(epochs, vec![0, 1]);
    // An edit reseals the old segment under the current epoch.
    t.edit_message(old, "edited after rotation").unwrap();
    let epoch0: i64 =
        t.raw_sql().query_row("SELECT epoch FROM segment WHERE first_seq = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(epoch0, 1);

    t.delete_conversation(c).unwrap();
    assert!(matches!(t.conversation(c), Err(Error::NotFound(Missing::Conversation(_)))));
    assert!(matches!(t.message(new), Err(Error::NotFound(_))));
    assert!(matches!(t.messages(c, Page::latest(5)), Err(Error::NotFound(_))));
    assert!(matches!(t.append(c, msg("s", "x")), Err(Error::NotFound(_))));
    assert!(matches!(t.delete_conversation(c), Err(Error::NotFound(_))));
    assert_eq!(t.find_conversation("ext-c").unwrap(), None);
    for table in ["segment", "conversation_key", "recent_ref", "message_ref", "conversation"] {
        let n: i64 =
            t.raw_sql().query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{table} still has rows");
    }
    // Ids are never reused.
    let d = t.new_conv("d");
    assert!(d > c);
}

#[test]
fn seal_limit_starts_a_new_epoch() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let m = t.append(c, msg("s", "old key")).unwrap();
    t.raw_sql().execute("UPDATE conversation SET seals = (1 << 32) - (1 << 20)", []).unwrap();
    let n = t.append(c, msg("s", "new key")).unwrap();
    let (epoch, seals): (i64, i64) = t
        .raw_sql()
        .query_row("SELECT epoch, seals FROM conversation", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(epoch, 1, "a key at its seal limit is replaced before the next seal");
    assert_eq!(seals, 3, "the metadata reseal, and the new segment's body and search filter");
    assert_eq!(t.message(m).unwrap().text, "old key");
    assert_eq!(t.message(n).unwrap().text, "new key");
}

#[test]
fn limits_and_bad_arguments_are_errors_and_write_nothing() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let d = t.new_conv("d");
    let huge = "x".repeat(limits::MAX_MESSAGE_BYTES + 1);
    assert!(matches!(t.append(c, msg("s", &huge)), Err(Error::TooLarge { what: "message", .. })));
    let ok = t.append(c, msg("s", &"y".repeat(limits::MAX_MESSAGE_BYTES - 1))).unwrap();
    assert!(matches!(t.edit_message(ok, &huge), Err(Error::TooLarge { .. })));
    let long_id = "i".repeat(limits::MAX_EXTERNAL_ID_BYTES + 1);
    assert!(matches!(
        t.append(c, NewMessage { external_id: Some(long_id.clone()), ..msg("s", "x") }),
        Err(Error::TooLarge { what: "external id", .. })
    ));
    assert!(matches!(t.find_conversation(&long_id), Err(Error::TooLarge { .. })));
    assert!(matches!(
        t.create_conversation(NewConversation { title: huge.clone(), ..Default::default() }),
        Err(Error::TooLarge { what: "conversation metadata", .. })
    ));
    assert!(matches!(
        t.append(c, NewMessage { reply_to: Some(MessageId::new(d, 1)), ..msg("s", "x") }),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(t.append(ConversationId::from_raw(u64::MAX), msg("s", "x")), Err(Error::NotFound(_))));
    assert!(matches!(t.messages(c, Page::before(MessageId::new(d, 1), 5)), Err(Error::InvalidArgument(_))));
    assert!(matches!(t.message(MessageId::new(c, u64::MAX)), Err(Error::NotFound(_))));
    assert!(matches!(t.message(MessageId::new(c, 0)), Err(Error::NotFound(_))));
    assert_eq!(t.messages(c, Page::after(MessageId::new(c, u64::MAX), 5)).unwrap(), vec![]);
    assert_eq!(t.conversation(c).unwrap().message_count, 1);
}

#[test]
fn errors_name_no_secrets_and_keys_do_not_print() {
    let key = StoreKey::passphrase("hunter2-secret");
    let shown = format!("{key:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let raw = format!("{:?}", StoreKey::raw([0xAB; 32]));
    assert!(!raw.to_lowercase().contains("ab, ") && !raw.contains("171"), "{raw}");
    let t = TestStore::new();
    let shown = format!("{:?}", *t);
    assert!(!shown.contains("66, 66"), "{shown}");

    // Real errors from a damaged store name the record, not its contents.
    let c = t
        .create_conversation(NewConversation {
            external_id: Some("SecretExternalId".into()),
            title: "SecretTitle".into(),
            ..Default::default()
        })
        .unwrap();
    let m = t.append(c, msg("SecretSender", "SecretText")).unwrap();
    let raw = t.raw_sql();
    let mut body: Vec<u8> = raw.query_row("SELECT body FROM segment", [], |r| r.get(0)).unwrap();
    body[20] ^= 0xFF;
    raw.execute("UPDATE segment SET body = ?1", [body]).unwrap();
    raw.execute("UPDATE conversation SET next_seq = -1", []).unwrap();
    let auth = t.message(m).unwrap_err();
    assert!(matches!(auth, Error::Authentication { .. }), "{auth:?}");
    let corrupt = t.conversation(c).unwrap_err();
    assert!(matches!(corrupt, Error::Corrupt { .. }), "{corrupt:?}");
    for e in [auth, corrupt] {
        assert!(e.to_string().contains(&format!("conversation {c}")), "names the record: {e}");
        for shown in [e.to_string(), format!("{e:?}")] {
            for secret in ["Secret", "66, 66", "4242"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}
