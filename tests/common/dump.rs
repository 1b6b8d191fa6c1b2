//! Writes a store as SQL text and loads it back: committed test vectors are
//! SQL, so they diff well and carry no binary database file.

use std::fmt::Write;
use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

const TABLES: &[&str] = &[
    "store",
    "conversation",
    "conversation_key",
    "segment",
    "segment_filter",
    "attachment",
    "recent_ref",
    "message_ref",
    "sqlite_sequence",
];

pub fn dump(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    let mut out = String::new();
    for pragma in ["application_id", "user_version"] {
        let v: i64 = conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0)).unwrap();
        writeln!(out, "PRAGMA {pragma} = {v};").unwrap();
    }
    let mut stmt = conn
        .prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )
        .unwrap();
    for sql in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        writeln!(out, "{};", sql.unwrap()).unwrap();
    }
    for table in TABLES {
        // Tables of later formats are absent from earlier ones.
        let exists: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)", [table], |r| r.get(0))
            .unwrap();
        if !exists {
            continue;
        }
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let values: Vec<String> = (0..n)
                .map(|i| match row.get_ref(i).unwrap() {
                    ValueRef::Null => "NULL".into(),
                    ValueRef::Integer(v) => v.to_string(),
                    ValueRef::Real(v) => v.to_string(),
                    ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
                    ValueRef::Blob(b) => {
                        format!("X'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                    }
                })
                .collect();
            writeln!(out, "INSERT INTO {table} VALUES ({});", values.join(", ")).unwrap();
        }
    }
    out
}

/// Creates a database at `path` from [`dump`]'s output, with the settings a
/// store is created with.
pub fn load(sql: &str, path: &Path) {
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;").unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(sql).unwrap();
    tx.commit().unwrap();
}
