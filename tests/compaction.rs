//! Compaction, expiry, key rotation, verify and stats.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatvault::{
    CompactOptions, ConversationId, ConversationUpdate, Error, Message, MessageId, NewConversation,
    NewMessage, Page, ProblemKind,
};
use common::spec::{Root, SpecStore};
use common::{KEY, TestStore, contains, disk_bytes, msg};

fn all(t: &TestStore, c: ConversationId) -> Vec<Message> {
    t.messages(c, Page::oldest(1_000_000)).unwrap()
}

fn segment_count(t: &TestStore, c: ConversationId) -> i64 {
    t.raw_sql()
        .query_row("SELECT COUNT(*) FROM segment WHERE conversation = ?1", [c.get() as i64], |r| r.get(0))
        .unwrap()
}

/// Sealed segment bodies of `c` that hold any of `seqs`.
fn bodies_holding(t: &TestStore, c: ConversationId, seqs: &[u64]) -> Vec<Vec<u8>> {
    let conn = t.raw_sql();
    let mut stmt =
        conn.prepare("SELECT first_seq, last_seq, body FROM segment WHERE conversation = ?1").unwrap();
    stmt.query_map([c.get() as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .filter(|(a, b, _)| seqs.iter().any(|&s| (*a as u64..=*b as u64).contains(&s)))
        .map(|(_, _, body)| body)
        .collect()
}

/// Whether any 16-byte piece of `sealed` (past its header) is in `disk`.
fn any_piece_on_disk(disk: &[u8], sealed: &[u8]) -> bool {
    sealed[13..].chunks_exact(16).any(|piece| contains(disk, piece))
}

fn fill(t: &TestStore, c: ConversationId, n: usize, tag: &str) -> Vec<MessageId> {
    (0..n)
        .map(|i| {
            t.append(c, msg("alice", &format!("{tag} {i} bonjour 你好 🙂 the quick brown fox"))).unwrap()
        })
        .collect()
}

#[test]
fn compaction_merges_and_compresses_without_changing_any_message() {
    let mut t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let ids = fill(&t, a, 300, "single");
    let batch: Vec<_> = (0..400).map(|i| (a, msg("bob", &format!("batched {i} message text")))).collect();
    t.append_batch(&batch).unwrap();
    t.edit_message(ids[10], "edited 编辑").unwrap();
    t.delete_message(ids[20]).unwrap();
    fill(&t, b, 5, "b");
    t.mark_read(a, ids[100]).unwrap();
    let (before_a, before_b) = (all(&t, a), all(&t, b));
    let summary_before = t.conversations().unwrap();
    let segments_before = segment_count(&t, a);
    // 299 single appends (one deleted), and the batch in segments of at most 64.
    let batch_segments = 400_u64.div_ceil(64);
    assert_eq!(segments_before, 299 + batch_segments as i64);

    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.conversations_compacted, 2);
    // 300 single appends less the one deleted, the batch's segments, and b's five.
    assert_eq!(report.segments_rewritten, 299 + batch_segments + 5);
    assert!(!report.work_remains);
    assert_eq!(report.messages_expired, 0);
    let after = segment_count(&t, a);
    // 698 messages at 64 per segment, and the newest alone (so that the
    // conversation list reads it without unpacking the others).
    assert_eq!(after, 698_u64.div_ceil(64) as i64 + 1);
    assert_eq!(report.segments_written, after as u64 + 2, "and b's four, and its newest");
    let newest: i64 = t
        .raw_sql()
        .query_row(
            "SELECT count FROM segment WHERE conversation = ?1 ORDER BY first_seq DESC LIMIT 1",
            [a.get() as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(newest, 1);
    assert!(report.bytes_after < report.bytes_before, "{report:?}");

    assert_eq!(all(&t, a), before_a);
    assert_eq!(all(&t, b), before_b);
    assert_eq!(t.conversations().unwrap(), summary_before);
    t.reopen();
    assert_eq!(all(&t, a), before_a);
    assert!(t.verify().unwrap().is_ok());

    // Compacted segments are compressed: a 64-message segment is far
    // smaller than its messages' text.
    let conn = t.raw_sql();
    let (len, count): (i64, i64) = conn
        .query_row(
            "SELECT length(body), count FROM segment WHERE conversation = ?1 AND count = 64 LIMIT 1",
            [a.get() as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(len < count * 40, "64 messages of ~50 bytes of text sealed in {len} bytes");

    // Nothing left to do; a second run changes nothing.
    let again = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!((again.segments_rewritten, again.conversations_compacted), (0, 0));
    assert_eq!(segment_count(&t, a), after);

    // New appends after compaction are merged into the last, partly filled
    // segment, with the one that held the newest message alone.
    fill(&t, a, 3, "later");
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.segments_rewritten, 5, "three new ones, the newest alone, and the partly filled one");
    assert_eq!(segment_count(&t, a), after);
    assert_eq!(all(&t, a).len(), 702);
}

#[test]
fn pages_read_the_same_across_compacted_segments() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let ids = fill(&t, c, 500, "m");
    for id in ids.iter().step_by(7) {
        t.delete_message(*id).unwrap();
    }
    let pages = |t: &TestStore| {
        let mut out = Vec::new();
        for anchor in [ids[0], ids[63], ids[64], ids[200], ids[499]] {
            out.push(t.messages(c, Page::before(anchor, 50)).unwrap());
            out.push(t.messages(c, Page::after(anchor, 50)).unwrap());
        }
        out.push(t.messages(c, Page::latest(50)).unwrap());
        out.push(t.messages(c, Page::oldest(50)).unwrap());
        out
    };
    let before = pages(&t);
    t.compact(&CompactOptions::default().targets(16, 1 << 20)).unwrap();
    assert_eq!(pages(&t), before);
    t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(pages(&t), before);
}

#[test]
fn expired_messages_vanish_from_reads_at_once_and_from_disk_when_compacted() {
    let t = TestStore::new();
    let now = t.now();
    let c = t.new_conv("c");
    let keep = t.append(c, msg("a", "stays forever")).unwrap();
    let own = t
        .append(c, NewMessage { expires_at_ms: Some(now + 5_000), ..msg("a", "ExpiringOnItsOwnMarker") })
        .unwrap();
    // Retention applies to messages appended while it is set.
    t.update_conversation(c, ConversationUpdate { retention_ms: Some(Some(60_000)), ..Default::default() })
        .unwrap();
    assert_eq!(t.conversation(c).unwrap().retention_ms, Some(60_000));
    let retained = t.append(c, NewMessage { sent_at_ms: now, ..msg("a", "RetainedMarker") }).unwrap();
    assert_eq!(t.message(retained).unwrap().expires_at_ms, Some(now + 60_000));
    // An own expiry later than the retention's is cut to the retention's.
    let both = t
        .append(c, NewMessage { sent_at_ms: now, expires_at_ms: Some(now + 900_000), ..msg("a", "both") })
        .unwrap();
    assert_eq!(t.message(both).unwrap().expires_at_ms, Some(now + 60_000));
    t.update_conversation(c, ConversationUpdate { retention_ms: Some(None), ..Default::default() }).unwrap();
    let late = t.append(c, NewMessage { sent_at_ms: now, ..msg("a", "after retention off") }).unwrap();
    assert_eq!(t.message(late).unwrap().expires_at_ms, None);
    t.mark_read(c, keep).unwrap();
    assert_eq!(t.conversation(c).unwrap().message_count, 5);

    // Five seconds later the first expiring message is gone from every read.
    t.advance(5_000);
    assert!(matches!(t.message(own), Err(Error::NotFound(_))));
    assert!(matches!(t.edit_message(own, "x"), Err(Error::NotFound(_))));
    assert!(matches!(t.delete_message(own), Err(Error::NotFound(_))));
    let seqs: Vec<u64> = all(&t, c).iter().map(|m| m.id.seq()).collect();
    assert_eq!(seqs, [keep.seq(), retained.seq(), both.seq(), late.seq()]);
    let info = t.conversation(c).unwrap();
    assert_eq!(info.message_count, 4);
    let summary = &t.conversations().unwrap()[0];
    assert_eq!(summary.unread_count, 3);

    // A minute later, the retained ones too; the last message is what is left.
    t.advance(60_000);
    assert_eq!(all(&t, c).iter().map(|m| m.id).collect::<Vec<_>>(), [keep, late]);
    let summary = &t.conversations().unwrap()[0];
    assert_eq!((summary.unread_count, summary.conversation.message_count), (1, 2));
    assert_eq!(summary.last_message.as_ref().map(|m| m.id), Some(late));
    // Re-delivering an expired message does not bring it back.
    let ext = t
        .append(
            c,
            NewMessage { external_id: Some("srv-9".into()), expires_at_ms: Some(0), ..msg("a", "gone") },
        )
        .unwrap();
    assert!(matches!(t.message(ext), Err(Error::NotFound(_))));
    assert_eq!(
        t.append(c, NewMessage { external_id: Some("srv-9".into()), ..msg("a", "gone") }).unwrap(),
        ext
    );
    assert!(matches!(t.message(ext), Err(Error::NotFound(_))));

    // Compaction removes them from disk.
    let expired_bodies = bodies_holding(&t, c, &[own.seq(), retained.seq(), both.seq(), ext.seq()]);
    assert_eq!(expired_bodies.len(), 4);
    let stats = t.stats().unwrap();
    assert_eq!((stats.segments_with_expired, stats.messages), (4, 6));
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.messages_expired, 4);
    let stats = t.stats().unwrap();
    assert_eq!((stats.segments_with_expired, stats.messages), (0, 2));
    let disk = disk_bytes(&t.path);
    for body in &expired_bodies {
        assert!(!any_piece_on_disk(&disk, body), "an expired segment's ciphertext survived compaction");
    }
    assert_eq!(all(&t, c).iter().map(|m| m.id).collect::<Vec<_>>(), [keep, late]);
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn rotation_reseals_everything_and_destroys_old_keys() {
    let mut t = TestStore::new();
    let c = t.new_conv("c");
    let d = t.new_conv("d");
    fill(&t, c, 40, "epoch0");
    fill(&t, d, 10, "d");
    t.rotate_conversation_key(c).unwrap();
    fill(&t, c, 10, "epoch1");
    assert_eq!(t.rotate_all_keys().unwrap(), 2);
    fill(&t, c, 5, "epoch2");
    let before = (all(&t, c), all(&t, d));
    let stats = t.stats().unwrap();
    let keys: Vec<(u32, u64)> = stats.epochs.iter().map(|e| (e.epoch, e.keys)).collect();
    assert_eq!(keys, [(0, 2), (1, 2), (2, 1)]);

    // The old keys, wrapped and unwrapped, and the old segments.
    t.close();
    let spec = SpecStore::open(&t.path, Root::Raw(KEY));
    let old_keys = [
        spec.conversation_key(c.get(), 0),
        spec.conversation_key(c.get(), 1),
        spec.conversation_key(d.get(), 0),
    ];
    let old_wrapped =
        [spec.wrapped_key(c.get(), 0), spec.wrapped_key(c.get(), 1), spec.wrapped_key(d.get(), 0)];
    drop(spec);
    t.reopen();
    let old_bodies = bodies_holding(&t, c, &(1..=50).collect::<Vec<_>>());

    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 3);
    assert_eq!((all(&t, c), all(&t, d)), before);
    let stats = t.stats().unwrap();
    let epochs: Vec<(u32, u64, u64, u64)> =
        stats.epochs.iter().map(|e| (e.epoch, e.current_for, e.keys, e.segments)).collect();
    assert_eq!(epochs, [(1, 1, 1, 2), (2, 1, 1, 2)], "only current keys remain, every segment under them");

    let disk = disk_bytes(&t.path);
    for (key, wrapped) in old_keys.iter().zip(&old_wrapped) {
        assert!(!contains(&disk, key), "a destroyed key is on disk");
        assert!(!contains(&disk, &wrapped[13..]), "a destroyed key's wrapping is on disk");
    }
    for body in &old_bodies {
        assert!(!any_piece_on_disk(&disk, body), "an old-epoch segment survived");
    }
    t.reopen();
    assert_eq!((all(&t, c), all(&t, d)), before);
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn keys_near_their_seal_limit_rotate_and_compaction_retires_them() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let first = t.append(c, msg("a", "before")).unwrap();
    // 2^32 − 2^20 seals is the limit: the key is at it.
    t.raw_sql()
        .execute(
            "UPDATE conversation SET seals = ?1 WHERE id = ?2",
            [(1i64 << 32) - (1 << 20), c.get() as i64],
        )
        .unwrap();
    let second = t.append(c, msg("a", "after")).unwrap();
    let epochs: Vec<u32> = t.stats().unwrap().epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [0, 1], "the append started a new epoch");
    assert_eq!(t.compact(&CompactOptions::default()).unwrap().keys_destroyed, 1);
    assert_eq!(all(&t, c).iter().map(|m| m.id).collect::<Vec<_>>(), [first, second]);
}

#[test]
fn budgets_stop_compaction_and_the_next_call_continues() {
    let t = TestStore::new();
    let convs: Vec<_> = (0..6).map(|i| t.new_conv(&format!("c{i}"))).collect();
    for &c in &convs {
        fill(&t, c, 30, "x");
    }
    let want: Vec<_> = convs.iter().map(|&c| all(&t, c)).collect();

    // A zero time budget or a raised cancel flag does nothing, and says so.
    let none = t.compact(&CompactOptions::default().time_budget(Duration::ZERO)).unwrap();
    assert!(none.work_remains && none.segments_rewritten == 0);
    let flag = Arc::new(AtomicBool::new(true));
    let none = t.compact(&CompactOptions::default().cancel_flag(Arc::clone(&flag))).unwrap();
    assert!(none.work_remains && none.segments_rewritten == 0);

    // A segment budget stops it part way (after the transaction that
    // crossed the budget); repeated calls finish the job.
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut total = 0;
    let mut rounds = 0;
    loop {
        let (calls2, seen2) = (Arc::clone(&calls), Arc::clone(&seen));
        let options = CompactOptions::default().segment_budget(40).on_progress(move |p| {
            calls2.fetch_add(1, Ordering::Relaxed);
            seen2.lock().unwrap().push((rounds, p.conversations_done, p.segments_rewritten));
        });
        let report = t.compact(&options).unwrap();
        assert!(report.segments_rewritten <= 40 + 30, "{report:?}");
        total += report.segments_rewritten;
        rounds += 1;
        for (i, &c) in convs.iter().enumerate() {
            assert_eq!(all(&t, c), want[i], "readers see every message between rounds");
        }
        if !report.work_remains {
            break;
        }
        assert!(rounds < 20);
    }
    assert_eq!(total, 6 * 30);
    assert!(rounds >= 4, "a budget of 40 over 180 segments takes several calls, took {rounds}");
    assert!(calls.load(Ordering::Relaxed) >= 6);
    let seen = seen.lock().unwrap();
    assert!(
        seen.windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2 && w[0] != w[1]),
        "progress only grows within a call: {seen:?}"
    );
    assert_eq!(t.stats().unwrap().segments_uncompacted, 0);

    // The cancel flag, lowered, lets it run; nothing is left.
    flag.store(false, Ordering::Relaxed);
    let rest = t.compact(&CompactOptions::default().cancel_flag(flag)).unwrap();
    assert!(!rest.work_remains && rest.segments_rewritten == 0);
}

#[test]
fn bad_targets_are_rejected() {
    let t = TestStore::new();
    for (m, b) in [(0, 1024), (64, 0), (100_000, 1024), (64, 2 << 20)] {
        assert!(matches!(
            t.compact(&CompactOptions::default().targets(m, b)),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn verify_names_every_problem_instead_of_stopping_at_the_first() {
    let mut t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let e = t.new_conv("e");
    fill(&t, a, 5, "a");
    fill(&t, b, 5, "b");
    fill(&t, e, 2, "e");
    t.rotate_conversation_key(e).unwrap();
    fill(&t, e, 2, "e1");
    let clean = t.verify().unwrap();
    assert!(clean.is_ok(), "{:?}", clean.problems);
    assert_eq!((clean.conversations, clean.segments, clean.messages), (3, 14, 14));

    let conn = t.raw_sql();
    let (ai, bi, ei) = (a.get() as i64, b.get() as i64, e.get() as i64);
    // a: a flipped byte in segment 2, and a message count off by one.
    conn.execute(
        "UPDATE segment SET body = CAST(substr(body, 1, 20)
           || CASE WHEN substr(body, 21, 1) = x'00' THEN x'01' ELSE x'00' END
           || substr(body, 22) AS BLOB)
         WHERE conversation = ?1 AND first_seq = 2",
        [ai],
    )
    .unwrap();
    conn.execute("UPDATE conversation SET message_count = 6 WHERE id = ?1", [ai]).unwrap();
    // b: segment 3 stretched over segment 4.
    conn.execute("UPDATE segment SET last_seq = 4 WHERE conversation = ?1 AND first_seq = 3", [bi]).unwrap();
    // e: the epoch-0 key is gone.
    conn.execute("DELETE FROM conversation_key WHERE conversation = ?1 AND epoch = 0", [ei]).unwrap();
    // An orphan segment of a conversation that does not exist.
    conn.execute(
        "INSERT INTO segment (id, conversation, first_seq, last_seq, epoch, count, body)
         VALUES (999 * 4294967296 + 1, 999, 1, 1, 0, 1, x'00')",
        [],
    )
    .unwrap();
    drop(conn);

    let report = t.verify().unwrap();
    type Found = (ProblemKind, Option<u64>, Option<(u64, u64)>);
    let found: Vec<Found> =
        report.problems.iter().map(|p| (p.kind, p.conversation.map(|c| c.get()), p.seqs)).collect();
    let has = |kind, conv: u64, seqs| found.contains(&(kind, Some(conv), seqs));
    assert!(has(ProblemKind::Orphan, 999, None), "{found:?}");
    assert!(has(ProblemKind::Authentication, a.get(), Some((2, 2))), "{found:?}");
    assert!(has(ProblemKind::CountMismatch, a.get(), None), "{found:?}");
    assert!(has(ProblemKind::Overlap, b.get(), Some((4, 4))), "{found:?}");
    assert!(has(ProblemKind::Authentication, b.get(), Some((3, 4))), "{found:?}");
    assert!(has(ProblemKind::MissingKey, e.get(), Some((1, 1))), "{found:?}");
    assert!(has(ProblemKind::MissingKey, e.get(), Some((2, 2))), "{found:?}");
    assert_eq!(found.len(), 7, "{:#?}", report.problems);
    for p in &report.problems {
        assert!(!p.to_string().is_empty());
    }
    // Compaction skips the damaged conversations (with a fresh key cache, so
    // e's missing key is not found in memory) and compacts the rest.
    t.reopen();
    let f = t.new_conv("f");
    fill(&t, f, 3, "f");
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.conversations_compacted, report.segments_written), (1, 2), "{report:?}");
    assert_eq!(report.conversations_skipped, [a, b, e], "the damaged ones are named");
}

#[test]
fn stats_count_without_decrypting() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    fill(&t, c, 10, "x");
    t.append(c, NewMessage { expires_at_ms: Some(0), ..msg("a", "expired") }).unwrap();
    let s = t.stats().unwrap();
    assert_eq!((s.conversations, s.messages, s.segments), (1, 11, 11));
    assert_eq!((s.segments_uncompacted, s.segments_with_expired), (11, 1));
    assert!(s.file_bytes > 0 && s.segment_bytes > 0);
    t.compact(&CompactOptions::default()).unwrap();
    let s = t.stats().unwrap();
    assert_eq!((s.messages, s.segments, s.segments_uncompacted, s.segments_with_expired), (10, 2, 0, 0));
    assert_eq!(s.reclaimable_bytes, 0, "compaction's scrub returned free pages");
    assert_eq!(s.wal_bytes, 0, "compaction's scrub emptied the WAL");

    // With every key and sealed value destroyed, the figures are the same:
    // nothing was decrypted to get them.
    let conn = t.raw_sql();
    conn.execute_batch("DELETE FROM conversation_key; UPDATE segment SET body = x'00'; UPDATE conversation SET meta = x'00';")
        .unwrap();
    drop(conn);
    let mut t = t;
    t.reopen();
    let again = t.stats().unwrap();
    assert_eq!((again.conversations, again.messages, again.segments, again.epochs.len()), (1, 10, 2, 1));
    assert!(t.conversation(c).is_err(), "the store itself cannot read anything now");
}

#[test]
fn edits_that_grow_a_segment_past_the_decompression_limit_stay_readable() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let ids =
        t.append_batch(&(0..6).map(|i| (c, msg("a", &format!("small {i}")))).collect::<Vec<_>>()).unwrap();
    let big = "a".repeat(1_000_000);
    for &id in &ids[..5] {
        t.edit_message(id, &big).unwrap();
    }
    let all = all(&t, c);
    assert_eq!(all.len(), 6);
    assert!(all[..5].iter().all(|m| m.text == big));
    t.rotate_conversation_key(c).unwrap();
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert!(report.conversations_skipped.is_empty());
    assert_eq!(self::all(&t, c), all);
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn creating_with_a_retention_applies_it() {
    let t = TestStore::new();
    let c = t
        .create_conversation(NewConversation {
            title: "secret".into(),
            retention_ms: Some(1_000),
            ..Default::default()
        })
        .unwrap();
    let m = t.append(c, NewMessage { sent_at_ms: t.now(), ..msg("a", "poof") }).unwrap();
    assert!(t.message(m).is_ok());
    t.advance(1_000);
    assert!(matches!(t.message(m), Err(Error::NotFound(_))));
    assert!(t.conversations().unwrap()[0].last_message.is_none());
}
