//! Tamper evidence: any change to a sealed value, or moving one to another
//! place, makes the read that needs it fail with an authentication error:
//! never wrong data, never a panic.

mod common;

use chatvault::{ConversationId, Error, MessageId, Page, RecordKind, Store, StoreKey};
use common::{KEY, TestStore, msg};
use rusqlite::params;

/// A store with two conversations, each with single-message and batch segments.
fn fixture() -> (TestStore, ConversationId, ConversationId, Vec<MessageId>) {
    let t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let mut ids = Vec::new();
    for c in [a, b] {
        ids.push(t.append(c, msg("alice", "one")).unwrap());
        ids.extend(t.append_batch(&[(c, msg("bob", "two")), (c, msg("carol", "three 三"))]).unwrap());
        ids.push(t.append(c, msg("dave", "four ✓")).unwrap());
    }
    t.mark_read(a, ids[1]).unwrap();
    (t, a, b, ids)
}

fn flip_each_byte(t: &TestStore, sql_get: &str, sql_set: &str, key: &[i64], mut check: impl FnMut(usize)) {
    let raw = t.raw_sql();
    let original: Vec<u8> = raw.query_row(sql_get, rusqlite::params_from_iter(key), |r| r.get(0)).unwrap();
    assert!(original.len() > 29, "a sealed value holds at least its envelope");
    for i in 0..original.len() {
        let mut bad = original.clone();
        bad[i] ^= 0x01;
        let mut p: Vec<rusqlite::types::Value> = vec![bad.into()];
        p.extend(key.iter().map(|k| (*k).into()));
        raw.execute(sql_set, rusqlite::params_from_iter(p)).unwrap();
        check(i);
    }
    let mut p: Vec<rusqlite::types::Value> = vec![original.into()];
    p.extend(key.iter().map(|k| (*k).into()));
    raw.execute(sql_set, rusqlite::params_from_iter(p)).unwrap();
}

fn is_auth(r: &Result<impl std::fmt::Debug, Error>, kind: RecordKind) -> bool {
    matches!(r, Err(Error::Authentication { record }) if record.kind == kind)
}

#[test]
fn flipping_any_byte_of_any_segment_fails_authentication() {
    let (t, a, b, ids) = fixture();
    let segments: Vec<(i64, i64)> = t
        .raw_sql()
        .prepare("SELECT conversation, first_seq FROM segment")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(segments.len(), 6);
    for (conv, first) in segments {
        let c = ConversationId::from_raw(conv as u64);
        let m = MessageId::new(c, first as u64);
        flip_each_byte(
            &t,
            "SELECT body FROM segment WHERE conversation = ?1 AND first_seq = ?2",
            "UPDATE segment SET body = ?1 WHERE conversation = ?2 AND first_seq = ?3",
            &[conv, first],
            |i| {
                let page = t.messages(c, Page::latest(10));
                assert!(is_auth(&page, RecordKind::Segment), "byte {i}: {page:?}");
                let one = t.message(m);
                assert!(is_auth(&one, RecordKind::Segment), "byte {i}: {one:?}");
                if first == 4 {
                    // The last segment feeds the conversation list.
                    assert!(is_auth(&t.conversations(), RecordKind::Segment), "byte {i}");
                }
            },
        );
    }
    // Restored: everything reads again.
    for id in ids {
        t.message(id).unwrap();
    }
    let _ = (a, b);
}

/// docs/SEARCH.md: a search filter with any byte changed fails to open
/// (a search over it is an authentication error naming the filter, never a
/// wrong or missing hit), and `verify` reports it.
#[test]
fn flipping_any_byte_of_any_search_filter_fails_authentication() {
    let (t, a, _, _) = fixture();
    let filters: Vec<i64> = t
        .raw_sql()
        .prepare("SELECT id FROM segment_filter ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(filters.len(), 6);
    let query = chatvault::SearchQuery::new("three");
    let want = t.search(&query).unwrap();
    assert_eq!(want.hits.len(), 2);
    for id in filters {
        flip_each_byte(
            &t,
            "SELECT filter FROM segment_filter WHERE id = ?1",
            "UPDATE segment_filter SET filter = ?1 WHERE id = ?2",
            &[id],
            |i| {
                let found = t.search(&query);
                assert!(is_auth(&found, RecordKind::SegmentFilter), "byte {i}: {found:?}");
                if i % 16 == 0 {
                    assert!(!t.verify().unwrap().is_ok(), "byte {i}: verify passes");
                }
            },
        );
    }
    // Restored: the same hits again.
    assert_eq!(t.search(&query).unwrap(), want);
    let _ = a;
}

#[test]
fn flipping_any_byte_of_metadata_or_keys_fails() {
    let (t, a, _b, ids) = fixture();
    let ai = a.get() as i64;
    flip_each_byte(
        &t,
        "SELECT meta FROM conversation WHERE id = ?1",
        "UPDATE conversation SET meta = ?1 WHERE id = ?2",
        &[ai],
        |i| {
            let r = t.conversation(a);
            assert!(is_auth(&r, RecordKind::ConversationMeta), "byte {i}: {r:?}");
            assert!(is_auth(&t.conversations(), RecordKind::ConversationMeta), "byte {i}");
        },
    );

    // Conversation keys are cached once unwrapped: open a fresh store per flip.
    flip_each_byte(
        &t,
        "SELECT wrapped FROM conversation_key WHERE conversation = ?1 AND epoch = 0",
        "UPDATE conversation_key SET wrapped = ?1 WHERE conversation = ?2 AND epoch = 0",
        &[ai],
        |i| {
            let fresh = Store::open(&t.path, StoreKey::raw(KEY)).unwrap();
            let r = fresh.message(ids[0]);
            assert!(is_auth(&r, RecordKind::ConversationKey), "byte {i}: {r:?}");
        },
    );

    // The master key: a store whose key header was changed does not open.
    flip_each_byte(
        &t,
        "SELECT master FROM store WHERE id = ?1",
        "UPDATE store SET master = ?1 WHERE id = ?2",
        &[1],
        |i| {
            let r = Store::open(&t.path, StoreKey::raw(KEY));
            assert!(matches!(r, Err(Error::WrongKey)), "byte {i}: {r:?}");
        },
    );
    Store::open(&t.path, StoreKey::raw(KEY)).unwrap().message(ids[0]).unwrap();
}

#[test]
fn sealed_values_moved_to_another_place_fail_to_open() {
    let (t, a, b, _ids) = fixture();
    let (ai, bi) = (a.get() as i64, b.get() as i64);
    let raw = t.raw_sql();
    let body = |c: i64, f: i64| -> Vec<u8> {
        raw.query_row(
            "SELECT body FROM segment WHERE conversation = ?1 AND first_seq = ?2",
            params![c, f],
            |r| r.get(0),
        )
        .unwrap()
    };
    let set = |c: i64, f: i64, v: &[u8]| {
        raw.execute(
            "UPDATE segment SET body = ?3 WHERE conversation = ?1 AND first_seq = ?2",
            params![c, f, v],
        )
        .unwrap();
    };
    let assert_auth = |c: ConversationId, seq: u64, why: &str| {
        let r = t.message(MessageId::new(c, seq));
        assert!(is_auth(&r, RecordKind::Segment), "{why}: {r:?}");
    };

    // Same position (seq 1, one message each), other conversation.
    let (a1, b1) = (body(ai, 1), body(bi, 1));
    set(ai, 1, &b1);
    set(bi, 1, &a1);
    assert_auth(a, 1, "swapped between conversations");
    assert_auth(b, 1, "swapped between conversations");
    set(ai, 1, &a1);
    set(bi, 1, &b1);

    // Same conversation, other position (two one-message segments).
    let a4 = body(ai, 4);
    set(ai, 1, &a4);
    set(ai, 4, &a1);
    assert_auth(a, 1, "swapped between positions");
    assert_auth(a, 4, "swapped between positions");
    set(ai, 1, &a1);
    set(ai, 4, &a4);

    // The plaintext columns around a value are bound to it too; each case
    // on a fresh fixture.
    for (sql, to_b, why) in [
        (
            "UPDATE segment SET id = id + 1, first_seq = 5, last_seq = 5 WHERE conversation = {a} AND first_seq = 4",
            false,
            "moved",
        ),
        (
            "UPDATE segment SET last_seq = 5 WHERE conversation = {a} AND first_seq = 4",
            false,
            "range widened",
        ),
        ("UPDATE segment SET count = 2 WHERE conversation = {a} AND first_seq = 4", false, "count changed"),
        (
            "DELETE FROM segment WHERE conversation = {b} AND first_seq = 4;
             UPDATE segment SET id = {b} * 4294967296 + 4, conversation = {b} WHERE conversation = {a} AND first_seq = 4;",
            true,
            "re-homed to another conversation",
        ),
    ] {
        let (t, a, b, _) = fixture();
        let sql = sql.replace("{a}", &a.get().to_string()).replace("{b}", &b.get().to_string());
        t.raw_sql().execute_batch(&sql).unwrap();
        let page = t.messages(if to_b { b } else { a }, Page::latest(10));
        assert!(is_auth(&page, RecordKind::Segment), "{why}: {page:?}");
    }

    // Metadata and wrapped keys swapped between conversations.
    for (get, put) in [
        ("SELECT meta FROM conversation WHERE id = ?1", "UPDATE conversation SET meta = ?2 WHERE id = ?1"),
        (
            "SELECT wrapped FROM conversation_key WHERE conversation = ?1",
            "UPDATE conversation_key SET wrapped = ?2 WHERE conversation = ?1",
        ),
    ] {
        let va: Vec<u8> = raw.query_row(get, [ai], |r| r.get(0)).unwrap();
        let vb: Vec<u8> = raw.query_row(get, [bi], |r| r.get(0)).unwrap();
        raw.execute(put, params![ai, vb]).unwrap();
        raw.execute(put, params![bi, va]).unwrap();
        let fresh = Store::open(&t.path, StoreKey::raw(KEY)).unwrap();
        let r = fresh.conversation(a);
        assert!(matches!(r, Err(Error::Authentication { .. })), "{get}: {r:?}");
        raw.execute(put, params![ai, va]).unwrap();
        raw.execute(put, params![bi, vb]).unwrap();
    }
    t.conversation(a).unwrap();
}

#[test]
fn garbage_in_plaintext_columns_is_an_error_not_a_panic() {
    // (change, read that must fail, whether it is an authentication failure
    // rather than damage)
    const PAGE: bool = true;
    const CONV: bool = false;
    for (sql, read_page, auth) in [
        ("UPDATE segment SET body = 'text, not a blob'", PAGE, false),
        ("UPDATE segment SET body = x''", PAGE, true),
        ("UPDATE segment SET epoch = -1", PAGE, false),
        ("UPDATE segment SET epoch = 7", PAGE, false),
        ("UPDATE segment SET first_seq = -5 WHERE first_seq = 1", PAGE, false),
        ("UPDATE segment SET count = 0", PAGE, false),
        ("UPDATE conversation SET epoch = 'x'", CONV, false),
        ("UPDATE conversation SET meta = 42", CONV, false),
        ("UPDATE conversation SET next_seq = -1", CONV, false),
        ("UPDATE conversation_key SET wrapped = x'00'", PAGE, true),
    ] {
        let (t, a, _b, ids) = fixture();
        // A forger need not keep the schema's CHECK (format 4's key).
        t.raw_sql().execute_batch(&format!("PRAGMA ignore_check_constraints = ON; {sql}")).unwrap();
        let fresh = Store::open(&t.path, StoreKey::raw(KEY)).unwrap();
        let err =
            if read_page { fresh.messages(a, Page::latest(10)).err() } else { fresh.conversation(a).err() };
        match (err, auth) {
            (Some(Error::Authentication { .. }), true) | (Some(Error::Corrupt { .. }), false) => {}
            (other, _) => {
                panic!("{sql}: expected {}, got {other:?}", if auth { "Authentication" } else { "Corrupt" })
            }
        }
        // Everything else that touches the damage fails the same way, or
        // succeeds; nothing panics.
        for r in
            [fresh.message(ids[0]).err(), fresh.conversations().err(), fresh.append(a, msg("x", "y")).err()]
                .into_iter()
                .flatten()
        {
            assert!(matches!(r, Error::Authentication { .. } | Error::Corrupt { .. }), "{sql}: {r:?}");
        }
    }
    for sql in [
        "UPDATE store SET kdf = 1, kdf_salt = x'00', kdf_m_kib = 99999999999, kdf_t = 2, kdf_p = 1",
        "UPDATE store SET kdf = 7",
        "UPDATE store SET store_id = x'01'",
        "UPDATE store SET next_master = x'02', rotated_through = NULL",
        "UPDATE store SET master_gen = -1",
        "DELETE FROM store",
    ] {
        let (t, _, _, _) = fixture();
        t.raw_sql().execute_batch(sql).unwrap();
        let r = Store::open(&t.path, StoreKey::passphrase("pw"));
        assert!(matches!(r, Err(Error::Corrupt { .. })), "{sql}: {r:?}");
    }
    // Parameters past the ceiling: refused as too costly, before deriving.
    let (t, _, _, _) = fixture();
    t.raw_sql()
        .execute_batch(
            "UPDATE store SET kdf = 1, kdf_salt = zeroblob(16), kdf_m_kib = 4294967295, kdf_t = 2, kdf_p = 1",
        )
        .unwrap();
    let r = Store::open(&t.path, StoreKey::passphrase("pw"));
    assert!(matches!(r, Err(Error::KdfTooCostly { .. })), "{r:?}");
    // A rotation under way planted beside a master key not bound to it: the
    // master key's seal does not open (a tampered key header is WrongKey).
    let (t, _, _, _) = fixture();
    t.raw_sql().execute_batch("UPDATE store SET next_master = zeroblob(61), rotated_through = 0").unwrap();
    let r = Store::open(&t.path, StoreKey::raw(KEY));
    assert!(matches!(r, Err(Error::WrongKey)), "{r:?}");
}

#[test]
fn damage_to_sqlite_pages_below_the_records_is_corrupt_not_a_database_error() {
    let mut t = TestStore::new();
    let c = t.new_conv("big");
    for chunk in 0..40 {
        let batch: Vec<_> =
            (0..100).map(|i| (c, msg("alice", &format!("message {chunk}/{i} padding padding")))).collect();
        t.append_batch(&batch).unwrap();
    }
    t.close();
    let mut bytes = std::fs::read(&t.path).unwrap();
    let page = 4096;
    assert!(bytes.len() / page > 12, "the store spans many pages");
    for p in (4..bytes.len() / page).step_by(2) {
        bytes[p * page..(p + 1) * page].fill(0xA5);
    }
    std::fs::write(&t.path, &bytes).unwrap();
    let result = Store::open(&t.path, StoreKey::raw(KEY)).and_then(|s| s.messages(c, Page::oldest(10_000)));
    match result {
        Err(Error::Corrupt { record, .. }) => assert_eq!(record.kind, RecordKind::DatabaseFile),
        other => panic!("expected Corrupt in the database file, got {other:?}"),
    }
}
