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

fn configure(conn: &Connection, options: &StoreOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA secure_delete = ON;
         PRAGMA synchronous = {sync};
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = OFF;
         PRAGMA trusted_schema = OFF;
         PRAGMA cell_size_check = ON;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
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

    pub(crate) fn get(&self) -> Result<Pooled<'_>> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(c) => c,
            None => open(&self.path, &self.options)?,
        };
        Ok(Pooled { pool: self, conn: Some(conn) })
    }
}

/// A reader connection on loan from the pool; returned when dropped.
pub(crate) struct Pooled<'a> {
    pool: &'a ReaderPool,
    conn: Option<Connection>,
}

impl Pooled<'_> {
    pub(crate) fn conn(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
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
