//! SQLite connections: opening and configuring them, and the reader pool.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::types::{Durability, StoreOptions};

/// Idle reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// Opens a connection to an existing database file and applies the
/// per-connection settings of docs/DESIGN.md ("Schema").
pub(crate) fn open(path: &Path, options: &StoreOptions) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| at_open(path, e))?;
    configure(&conn, options).map_err(|e| at_open(path, e))?;
    Ok(conn)
}

/// The writer's page cache, in KiB (SQLite's default is 2,000). A batch
/// touches a leaf of the segment table, the external-id index and the
/// conversation table per conversation it writes to; with the default cache
/// a sync burst over hundreds of conversations reads most of those pages
/// back from the file on every batch. Readers keep the default.
const WRITER_CACHE_KIB: u32 = 8 << 10;

/// Opens the writer connection: as [`open`], with a larger page cache.
pub(crate) fn open_writer(path: &Path, options: &StoreOptions) -> Result<Connection> {
    let conn = open(path, options)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};")).map_err(|e| at_open(path, e))?;
    Ok(conn)
}

fn configure(conn: &Connection, options: &StoreOptions) -> rusqlite::Result<()> {
    // First, before any statement reads the schema: the store uses no
    // triggers and no views, so turned off, a planted one cannot run even
    // if the schema check were ever missed; defensive mode refuses SQL
    // that could corrupt the file (writable_schema and the like); and
    // functions named in the schema are not trusted.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    // The query planner stability guarantee: a statement's plan never
    // depends on the values bound to it. Without it SQLite marks any
    // statement with a `column = ?` term to be re-prepared when its
    // bindings are cleared, which rusqlite's statement cache does on every
    // reuse: each cached statement was parsed and planned again on every
    // call (a sixth of a page read's time).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.busy_timeout(options.busy_timeout)?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA trusted_schema = OFF;
         PRAGMA cell_size_check = ON;
         PRAGMA secure_delete = ON;
         PRAGMA synchronous = {sync};
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = OFF;"
    ))?;
    limit_size(conn, options.max_size_bytes)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// SQLite's largest `max_page_count`.
const MAX_PAGE_COUNT: u64 = 0xFFFF_FFFE;

/// Applies [`StoreOptions::max_size_bytes`] as `PRAGMA max_page_count`:
/// whole pages, rounded down (at least one). SQLite raises the count to the
/// file's current size if that is larger, so this is applied again after a
/// scrub has shrunk the file. Writes past it fail with `SQLITE_FULL`, that
/// is `Error::StorageFull`.
pub(crate) fn limit_size(conn: &Connection, max_size_bytes: Option<u64>) -> rusqlite::Result<()> {
    let Some(max) = max_size_bytes else { return Ok(()) };
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    // SQLite's page sizes are powers of two from 512 to 65,536.
    let page_size = u64::try_from(page_size).unwrap_or(4096).max(512);
    let pages = (max / page_size).clamp(1, MAX_PAGE_COUNT);
    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// Maps an error met while opening: a file SQLite cannot read as a database
/// is not a store.
pub(crate) fn at_open(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => Error::NotAStore { path: path.to_path_buf() },
        _ => e.into(),
    }
}

/// Reader connections, opened on demand and kept for reuse.
pub(crate) struct ReaderPool {
    path: PathBuf,
    options: StoreOptions,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf, options: StoreOptions) -> Self {
        ReaderPool { path, options, idle: Mutex::new(Vec::new()) }
    }

    /// An idle reader, or a new one.
    pub(crate) fn get(&self) -> Result<Pooled<'_>> {
        match self.idle() {
            Some(p) => Ok(p),
            None => self.open(),
        }
    }

    /// An idle reader, if there is one.
    pub(crate) fn idle(&self) -> Option<Pooled<'_>> {
        let conn = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()?;
        Some(Pooled { pool: self, conn: Some(conn) })
    }

    /// A new reader, which joins the pool when returned.
    pub(crate) fn open(&self) -> Result<Pooled<'_>> {
        Ok(Pooled { pool: self, conn: Some(open(&self.path, &self.options)?) })
    }
}

/// A reader connection on loan from the pool; returned when dropped.
pub(crate) struct Pooled<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Pooled<'_> {
    pub(crate) fn conn(&mut self) -> Result<&mut Connection> {
        self.conn.as_mut().ok_or_else(|| Error::invalid("reader connection already returned"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        // A connection whose read transaction could not be ended would pin an
        // old snapshot: close it rather than reuse it.
        if let Some(conn) = self.conn.take().filter(Connection::is_autocommit) {
            let mut idle = self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    /// A cached statement with a `column = ?` term is reused as prepared:
    /// without the query planner stability guarantee, SQLite re-prepares it
    /// after every reuse from rusqlite's cache (which clears its bindings).
    #[test]
    fn cached_statements_are_not_prepared_again_on_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE t (a INTEGER, b INTEGER, c TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
                 INSERT INTO t VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z');",
            )
            .unwrap();
        let conn = open(&path, &StoreOptions::default()).unwrap();
        let sql = "SELECT c FROM t WHERE a = ?1 AND c = ?2 ORDER BY b DESC";
        for (a, c) in [(1, "x"), (0, "y"), (1, "y"), (2, "z"), (1, "x")] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let _: Vec<String> =
                stmt.query_map(rusqlite::params![a, c], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
            assert_eq!(
                stmt.get_status(StatementStatus::RePrepare),
                0,
                "re-prepared after binding ({a}, {c})"
            );
        }
    }
}
