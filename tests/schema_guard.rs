//! The store trusts a file only if its schema is exactly chatvault's
//! (docs/DESIGN.md, "Schema check"). The attack this stops, reproduced:
//! `BEFORE DELETE` triggers planted on `conversation_key` and `segment`
//! copy every deleted row into a hidden table, so deletions return Ok while
//! keeping everything they deleted.

mod common;

use chatvault::{Error, NewConversation, Page, ProblemKind, Store, StoreKey};
use common::{KEY, TestStore, msg};

/// A store with two conversations of a few messages each, closed.
fn store_with_messages() -> TestStore {
    let mut t = TestStore::new();
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    for i in 0..5 {
        t.append(a, msg("s", &format!("a{i}"))).unwrap();
        t.append(b, msg("s", &format!("b{i}"))).unwrap();
    }
    t.close();
    t
}

const PLANTED_TRIGGERS: &str = "
CREATE TABLE keep_keys (conversation, epoch, wrapped);
CREATE TABLE keep_segments (conversation, first_seq, body);
CREATE TRIGGER keep_key BEFORE DELETE ON conversation_key BEGIN
  INSERT INTO keep_keys VALUES (old.conversation, old.epoch, old.wrapped);
END;
CREATE TRIGGER keep_segment BEFORE DELETE ON segment BEGIN
  INSERT INTO keep_segments VALUES (old.conversation, old.first_seq, old.body);
END;";

fn refused(t: &TestStore) -> String {
    match Store::open(&t.path, StoreKey::raw(KEY)) {
        Err(Error::SchemaModified { detail }) => detail,
        Err(e) => panic!("refused with the wrong error: {e}"),
        Ok(_) => panic!("a modified schema was accepted"),
    }
}

#[test]
fn planted_triggers_that_keep_deleted_rows_are_refused_at_open() {
    let t = store_with_messages();
    t.raw_sql().execute_batch(PLANTED_TRIGGERS).unwrap();
    let detail = refused(&t);
    for name in ["keep_keys", "keep_segments", "keep_key", "keep_segment"] {
        assert!(detail.contains(name), "{name} not named in {detail:?}");
    }
}

#[test]
fn a_planted_view_extra_table_or_index_is_refused() {
    for (what, sql) in [
        ("view", "CREATE VIEW everything AS SELECT * FROM segment"),
        // Planner statistics, to steer the store's queries.
        ("table", "ANALYZE"),
        ("table", "CREATE TABLE shadow (x)"),
        ("index", "CREATE INDEX bodies ON segment (body)"),
    ] {
        let t = store_with_messages();
        t.raw_sql().execute_batch(sql).unwrap();
        let detail = refused(&t);
        assert!(detail.contains(&format!("unexpected {what}")), "{sql}: {detail}");
    }
}

#[test]
fn an_altered_or_missing_index_is_refused() {
    // Same name, other columns: an index that keeps more than it should.
    let t = store_with_messages();
    t.raw_sql()
        .execute_batch(
            "DROP INDEX segment_expiry;
             CREATE INDEX segment_expiry ON segment (conversation, body) WHERE expires_at IS NOT NULL;",
        )
        .unwrap();
    assert!(refused(&t).contains("index segment_expiry was altered"));

    let t = store_with_messages();
    t.raw_sql().execute_batch("DROP INDEX conversation_by_activity").unwrap();
    assert!(refused(&t).contains("index conversation_by_activity is missing"));
}

#[test]
fn an_altered_table_is_refused() {
    // A constraint dropped, by editing the schema text directly.
    let t = store_with_messages();
    let conn = t.raw_sql();
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
    let changed = conn
        .execute(
            "UPDATE sqlite_schema SET sql = replace(sql, 'meta      BLOB    NOT NULL', 'meta      BLOB')
             WHERE name = 'conversation'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    conn.execute_batch(&format!("PRAGMA schema_version = {}", version + 1)).unwrap();
    drop(conn);
    assert!(refused(&t).contains("table conversation was altered"));
}

#[test]
fn an_unmodified_store_opens_and_verifies_clean() {
    let mut t = store_with_messages();
    t.reopen();
    let report = t.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn verify_reports_a_schema_changed_while_the_store_is_open() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    t.append(c, msg("s", "x")).unwrap();
    t.raw_sql().execute_batch(PLANTED_TRIGGERS).unwrap();
    let report = t.verify().unwrap();
    let schema: Vec<_> = report.problems.iter().filter(|p| p.kind == ProblemKind::Schema).collect();
    assert_eq!(schema.len(), 4, "{:?}", report.problems);
    assert!(schema.iter().any(|p| p.detail.contains("unexpected trigger keep_key")));
}

#[test]
fn triggers_never_run_on_the_stores_connections() {
    // Even planted after the check (by another process, while the store is
    // open), a trigger does not fire: the store turns triggers off.
    let t = TestStore::new();
    let c = t.new_conv("doomed");
    let keep = t.create_conversation(NewConversation::default()).unwrap();
    for i in 0..10 {
        t.append(c, msg("s", &format!("m{i}"))).unwrap();
    }
    t.append(keep, msg("s", "kept")).unwrap();
    t.append(keep, msg("s", "kept too")).unwrap();
    t.raw_sql().execute_batch(PLANTED_TRIGGERS).unwrap();
    t.delete_conversation(c).unwrap();
    let ids: Vec<_> = t.messages(keep, Page::latest(5)).unwrap().into_iter().map(|m| m.id).collect();
    t.delete_message(ids[0]).unwrap();
    let conn = t.raw_sql();
    let kept = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    };
    assert_eq!((kept("keep_keys"), kept("keep_segments")), (0, 0), "a planted trigger ran");
    // The same triggers do fire on an ordinary connection: the test can fail.
    conn.execute("DELETE FROM segment WHERE conversation = ?1", [keep.get() as i64]).unwrap();
    assert!(kept("keep_segments") > 0);
}
