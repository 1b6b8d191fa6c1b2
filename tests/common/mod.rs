//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chatvault::{Clock, ConversationId, NewConversation, NewMessage, Store, StoreKey, StoreOptions};
use tempfile::TempDir;

pub mod attachment_model;
pub mod child;
pub mod dump;
pub mod mixed;
pub mod spec;

pub const KEY: [u8; 32] = [0x42; 32];

/// A store in a fresh temporary directory, opened with [`KEY`], on a clock
/// the test controls (starting at the real time). Derefs to the [`Store`].
pub struct TestStore {
    pub dir: TempDir,
    pub path: PathBuf,
    pub clock: Arc<AtomicI64>,
    store: Option<Store>,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test.chatvault");
        let clock = Arc::new(AtomicI64::new(Clock::system().now_ms()));
        let store = Store::create_with(&path, StoreKey::raw(KEY), options(&clock)).expect("create");
        TestStore { dir, path, clock, store: Some(store) }
    }

    /// Closes the store (checkpointing its WAL) and opens it again.
    pub fn reopen(&mut self) {
        if let Some(s) = self.store.take() {
            s.close().expect("close");
        }
        self.store =
            Some(Store::open_with(&self.path, StoreKey::raw(KEY), options(&self.clock)).expect("reopen"));
    }

    /// The store clock's time.
    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Moves the store's clock forward.
    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    /// Closes the store; it stays closed until [`TestStore::reopen`].
    pub fn close(&mut self) {
        if let Some(s) = self.store.take() {
            s.close().expect("close");
        }
    }

    pub fn new_conv(&self, title: &str) -> ConversationId {
        self.create_conversation(NewConversation {
            external_id: Some(format!("ext-{title}")),
            title: title.into(),
            ..Default::default()
        })
        .expect("create conversation")
    }

    /// A direct SQLite connection to the store file, for tests that inspect
    /// or tamper with rows.
    pub fn raw_sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("open raw")
    }
}

/// Whether a `regenerate_*` test may rewrite the committed files it makes
/// (`CHATVAULT_REGENERATE=1`): never as a side effect of
/// `cargo test -- --include-ignored`, while other tests read those files.
pub fn regenerating(what: &str) -> bool {
    let on = std::env::var_os("CHATVAULT_REGENERATE").is_some_and(|v| v == "1");
    if !on {
        eprintln!("{what} left as committed: set CHATVAULT_REGENERATE=1 to rewrite it");
    }
    on
}

/// Store options whose clock reads `clock`.
pub fn options(clock: &Arc<AtomicI64>) -> StoreOptions {
    let clock = Arc::clone(clock);
    StoreOptions { clock: Clock::new(move || clock.load(Ordering::SeqCst)), ..StoreOptions::default() }
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("store is closed")
    }
}

pub fn msg(sender: &str, text: &str) -> NewMessage {
    NewMessage {
        sender: sender.into(),
        sent_at_ms: 1_700_000_000_000,
        text: text.into(),
        ..Default::default()
    }
}

/// The bytes of the database file and its WAL (a missing WAL reads as empty).
pub fn disk_bytes(path: &Path) -> Vec<u8> {
    // A wrong path must fail the test, not read as an empty (clean) file.
    let mut all = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(all.starts_with(b"SQLite format 3\0"), "{} is not a database", path.display());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    all.extend(optional_file(&PathBuf::from(wal)));
    all
}

/// The bytes of a file SQLite may not have made (a WAL, a shared-memory
/// file): empty if it does not exist, any other error fails the test.
pub fn optional_file(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes `bytes` into the unallocated space of a leaf page of `table` in
/// the (closed, checkpointed) database at `path`, as SQLite's rebalancing
/// leaves copies of moved cells there (docs/DESIGN.md, "Deletion and
/// scrubbing"). Returns the page it wrote to; panics if no leaf page of
/// `table` has room.
pub fn plant_in_free_space(path: &Path, table: &str, bytes: &[u8]) -> u32 {
    use std::io::{Seek, SeekFrom, Write};
    let conn = rusqlite::Connection::open(path).expect("open raw");
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("page size");
    let page_size = page_size as u64;
    let pages: Vec<u32> = conn
        .prepare("SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = 'leaf' ORDER BY pageno")
        .expect("dbstat")
        .query_map([table], |r| r.get(0))
        .expect("dbstat rows")
        .collect::<Result<_, _>>()
        .expect("dbstat values");
    drop(conn);
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open file");
    for page in pages {
        let start = (u64::from(page) - 1) * page_size;
        let header = if page == 1 { 100 } else { 0 };
        let mut head = [0u8; 8];
        file.seek(SeekFrom::Start(start + header)).expect("seek");
        std::io::Read::read_exact(&mut file, &mut head).expect("read page header");
        // A leaf page: 8-byte header, then 2-byte cell pointers; the cell
        // content area starts at the offset in bytes 5 and 6.
        let cells = u64::from(u16::from_be_bytes([head[3], head[4]]));
        let content = u64::from(u16::from_be_bytes([head[5], head[6]]));
        let gap_start = header + 8 + 2 * cells;
        if content >= gap_start + bytes.len() as u64 {
            file.seek(SeekFrom::Start(start + gap_start)).expect("seek");
            file.write_all(bytes).expect("write");
            file.sync_all().expect("sync");
            return page;
        }
    }
    panic!("no leaf page of {table} has {} free bytes", bytes.len());
}
