//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chatvault::{Clock, ConversationId, NewConversation, NewMessage, Store, StoreKey, StoreOptions};
use tempfile::TempDir;

pub mod child;
pub mod dump;
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

/// The bytes of the database file and its WAL (missing files read as empty).
pub fn disk_bytes(path: &Path) -> Vec<u8> {
    let mut all = std::fs::read(path).unwrap_or_default();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    all.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
    all
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
