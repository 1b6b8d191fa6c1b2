//! Which layout for the `segment` table: `WITHOUT ROWID` keyed by
//! (conversation, first_seq), with or without a covering index for counts,
//! a rowid table with a covering index, or (format 4) a rowid table whose
//! rowid is the key, conversation * 2^32 + first_seq, with the body last.
//! Measured on plain SQLite with the store's settings and segment-sized
//! random blobs (150 bytes: one message; 2,900 bytes: a compacted segment
//! of short lines; 4 KiB); docs/DESIGN.md records the choice. Run:
//! `cargo bench --bench schema`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};

const LAYOUTS: [(&str, &str); 4] = [
    (
        "without_rowid",
        "CREATE TABLE segment (conversation INTEGER NOT NULL, first_seq INTEGER NOT NULL,
           last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL, count INTEGER NOT NULL, body BLOB NOT NULL,
           PRIMARY KEY (conversation, first_seq)) WITHOUT ROWID;",
    ),
    (
        "without_rowid_count_index",
        "CREATE TABLE segment (conversation INTEGER NOT NULL, first_seq INTEGER NOT NULL,
           last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL, count INTEGER NOT NULL, body BLOB NOT NULL,
           PRIMARY KEY (conversation, first_seq)) WITHOUT ROWID;
         CREATE INDEX segment_count ON segment (conversation, first_seq, count);",
    ),
    (
        "rowid_covering_index",
        "CREATE TABLE segment (id INTEGER PRIMARY KEY, conversation INTEGER NOT NULL, first_seq INTEGER NOT NULL,
           last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL, count INTEGER NOT NULL, body BLOB NOT NULL);
         CREATE UNIQUE INDEX segment_seq ON segment (conversation, first_seq, last_seq, epoch, count);",
    ),
    (
        "rowid_is_key",
        "CREATE TABLE segment (id INTEGER PRIMARY KEY, conversation INTEGER NOT NULL, first_seq INTEGER NOT NULL,
           last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL, count INTEGER NOT NULL, body BLOB NOT NULL);",
    ),
];

/// The queries of each layout, binding ?1 = conversation and ?2 = a
/// sequence number: a page of the newest 50, the count of messages after
/// ?2, and the segment holding ?2. The `rowid_is_key` layout seeks by one
/// range of its rowid: SQLite uses one lower and one upper bound on a
/// rowid, so each query gives exactly those.
fn queries(layout: &str) -> [&'static str; 3] {
    if layout == "rowid_is_key" {
        [
            "SELECT first_seq, last_seq, epoch, count, body FROM segment
             WHERE id BETWEEN ?1 * 4294967296 AND ?1 * 4294967296 + 4294967295 ORDER BY id DESC LIMIT 50",
            "SELECT COALESCE(SUM(count), 0) FROM segment
             WHERE id > ?1 * 4294967296 + ?2 AND id <= ?1 * 4294967296 + 4294967295",
            "SELECT first_seq, last_seq, epoch, count, body FROM segment
             WHERE id BETWEEN ?1 * 4294967296 AND ?1 * 4294967296 + ?2 ORDER BY id DESC LIMIT 1",
        ]
    } else {
        [
            "SELECT first_seq, last_seq, epoch, count, body FROM segment
             WHERE conversation = ?1 ORDER BY first_seq DESC LIMIT 50",
            "SELECT COALESCE(SUM(count), 0) FROM segment WHERE conversation = ?1 AND first_seq > ?2",
            "SELECT first_seq, last_seq, epoch, count, body FROM segment
             WHERE conversation = ?1 AND first_seq <= ?2 ORDER BY first_seq DESC LIMIT 1",
        ]
    }
}

const CONVERSATIONS: i64 = 20;

fn body(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn setup(dir: &std::path::Path, ddl: &str) -> Connection {
    let conn = Connection::open(dir.join("db")).unwrap();
    conn.execute_batch(
        "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA secure_delete = ON;",
    )
    .unwrap();
    conn.execute_batch(ddl).unwrap();
    conn
}

/// Appends `n` segments of `len` bytes round-robin over the conversations,
/// `per_tx` per transaction.
fn fill(conn: &Connection, keyed: bool, start: i64, n: i64, len: usize, per_tx: i64) {
    let mut i = 0;
    while i < n {
        conn.execute_batch("BEGIN").unwrap();
        let mut stmt = conn
            .prepare_cached(if keyed {
                "INSERT INTO segment (id, conversation, first_seq, last_seq, epoch, count, body)
                 VALUES (?1 * 4294967296 + ?2, ?1, ?2, ?2, 0, 1, ?3)"
            } else {
                "INSERT INTO segment (conversation, first_seq, last_seq, epoch, count, body) VALUES (?1, ?2, ?2, 0, 1, ?3)"
            })
            .unwrap();
        for _ in 0..per_tx.min(n - i) {
            let k = start + i;
            stmt.execute(params![k % CONVERSATIONS, k / CONVERSATIONS + 1, body(len, k as u64)]).unwrap();
            i += 1;
        }
        drop(stmt);
        conn.execute_batch("COMMIT").unwrap();
    }
}

fn bench(c: &mut Criterion) {
    for len in [150usize, 2900, 4096] {
        let mut g = c.benchmark_group(format!("segment_{len}B"));
        g.sample_size(10);
        for (name, ddl) in LAYOUTS {
            let keyed = name == "rowid_is_key";
            let [page, unread, seek] = queries(name);
            // Single appends onto a store that already holds 20,000 segments.
            g.bench_function(format!("{name}/append_100_single"), |b| {
                b.iter_batched(
                    || {
                        let dir = tempfile::tempdir().unwrap();
                        let conn = setup(dir.path(), ddl);
                        fill(&conn, keyed, 0, 20_000, len, 1000);
                        (dir, conn)
                    },
                    |(dir, conn)| {
                        fill(&conn, keyed, 20_000, 100, len, 1);
                        (dir, conn)
                    },
                    BatchSize::PerIteration,
                )
            });
            let dir = tempfile::tempdir().unwrap();
            let conn = setup(dir.path(), ddl);
            fill(&conn, keyed, 0, 20_000, len, 1000);
            g.bench_function(format!("{name}/page_latest_50"), |b| {
                let mut stmt = conn.prepare(page).unwrap();
                b.iter(|| {
                    let n: usize = stmt
                        .query_map([7], |r| Ok(r.get_ref(4)?.as_blob()?.len()))
                        .unwrap()
                        .map(|x| x.unwrap())
                        .sum();
                    assert_eq!(n, 50 * len);
                })
            });
            g.bench_function(format!("{name}/unread_sum_500"), |b| {
                let mut stmt = conn.prepare(unread).unwrap();
                b.iter(|| {
                    let n: i64 = stmt.query_row(params![7, 500], |r| r.get(0)).unwrap();
                    assert_eq!(n, 500);
                })
            });
            // The segment holding a message: what an edit, a delete, a
            // reply lookup or a page from a given message seeks first.
            g.bench_function(format!("{name}/seek_100"), |b| {
                let mut stmt = conn.prepare(seek).unwrap();
                b.iter(|| {
                    for i in 0..100i64 {
                        let seq = 1 + (i * 7919) % 1000;
                        let got: i64 = stmt.query_row(params![7, seq], |r| r.get(0)).unwrap();
                        assert_eq!(got, seq);
                    }
                })
            });
            let size = std::fs::metadata(dir.path().join("db")).unwrap().len()
                + std::fs::metadata(dir.path().join("db-wal")).map_or(0, |m| m.len());
            eprintln!("{len}B {name}: {size} bytes on disk for 20,000 segments");
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
