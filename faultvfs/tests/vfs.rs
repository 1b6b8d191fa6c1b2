//! The VFS itself: faults reach SQLite as the errors they stand for, and a
//! power cycle keeps exactly what was synced.

use chatvault_faultvfs::{self as vfs, Fault, IoKind, Loss};
use rusqlite::Connection;

fn open(path: &std::path::Path, sync: &str) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE IF NOT EXISTS t (x TEXT);"
    ))
    .unwrap();
    c
}

fn rows(path: &std::path::Path) -> Vec<String> {
    let c = Connection::open(path).unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let mut st = c.prepare("SELECT x FROM t ORDER BY rowid").unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

// One test: the VFS's state is global to the process.
#[test]
fn faults_and_power_cycles() {
    vfs::install();
    let dir = tempfile::tempdir().unwrap();

    // An I/O error on a write fails that statement only.
    let a = dir.path().join("a.db");
    let c = open(&a, "FULL");
    vfs::arm(Fault::Error { on: IoKind::Write, nth: 1 });
    let err = c.execute("INSERT INTO t VALUES ('lost')", []).unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::SystemIoFailure), "{err}");
    assert_eq!(vfs::disarm().map(|f| f.kind), Some(IoKind::Write));
    c.execute("INSERT INTO t VALUES ('kept')", []).unwrap();
    // A full disk.
    vfs::arm(Fault::DiskFull { nth: 1 });
    let err = c.execute("INSERT INTO t VALUES ('full')", []).unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull), "{err}");
    vfs::disarm();
    drop(c);
    assert_eq!(rows(&a), ["kept"]);

    // With synchronous = FULL a commit is synced: a power loss after it
    // keeps it, and loses the transaction it cut.
    let b = dir.path().join("b.db");
    let c = open(&b, "FULL");
    c.execute("INSERT INTO t VALUES ('synced')", []).unwrap();
    vfs::arm(Fault::PowerLoss { nth: 2 });
    c.execute("INSERT INTO t VALUES ('cut')", []).unwrap_err();
    assert!(c.execute("INSERT INTO t VALUES ('after')", []).is_err(), "the power is off");
    drop(c);
    vfs::power_cycle(Loss::Unsynced).unwrap();
    assert_eq!(rows(&b), ["synced"]);

    // With synchronous = OFF nothing is synced: a power loss loses commits
    // the connection acknowledged (the harness must be able to see that).
    let d = dir.path().join("d.db");
    let c = open(&d, "FULL");
    c.execute("INSERT INTO t VALUES ('first')", []).unwrap();
    c.execute_batch("PRAGMA synchronous = OFF").unwrap();
    c.execute("INSERT INTO t VALUES ('unsynced')", []).unwrap();
    vfs::arm(Fault::PowerLoss { nth: 1 });
    c.execute("INSERT INTO t VALUES ('cut')", []).unwrap_err();
    drop(c);
    let undone = vfs::power_cycle(Loss::Unsynced).unwrap();
    assert!(undone.changes > 0);
    assert_eq!(rows(&d), ["first"]);

    // A torn prefix of unsynced writes: SQLite's WAL checksums refuse the
    // torn frame, so the database is intact.
    let e = dir.path().join("e.db");
    let c = open(&e, "FULL");
    c.execute("INSERT INTO t VALUES ('one')", []).unwrap();
    c.execute_batch("PRAGMA synchronous = OFF").unwrap();
    c.execute("INSERT INTO t VALUES (?)", ["x".repeat(20_000)]).unwrap();
    vfs::arm(Fault::PowerLoss { nth: 1 });
    let _ = c.execute("INSERT INTO t VALUES ('cut')", []);
    drop(c);
    let undone = vfs::power_cycle(Loss::Prefix { keep_per_mille: 500, torn_sectors: 3 }).unwrap();
    assert_eq!(undone.torn, 1, "{undone:?}");
    assert_eq!(rows(&e), ["one"]);
}
