//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpora (tests/fuzz_corpus.rs), so both run exactly the
//! same code. Not part of the API: no stability promise.
//!
//! * [`segment`]: segment plaintexts and envelopes, through the record
//!   decoders and, sealed into a real store, through every read path.
//! * [`conversation`]: the same for conversation metadata.
//! * [`search`]: the search filter decoder, the matching rules, and a
//!   search over a forged filter.
//! * [`attachment`]: the attachment chunk reader over changed streams.
//!
//! The harness that needs only the public API (arbitrary sequences of
//! store operations against a model) is not here: it is the
//! `chatvault-testkit` crate (testkit/).
//!
//! Each entry point returns `Err` with a description when the store
//! disagrees with what the input must produce; the fuzz targets panic on
//! it, the replay test fails. Nothing here panics on its own.

pub mod attachment;
pub mod conversation;
mod input;
pub use input::Input;
pub mod search;
pub mod segment;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::Error;
use crate::types::{Clock, Durability, StoreOptions};
use crate::{Store, StoreKey};

/// The raw key of the stores the harnesses create.
pub const KEY: [u8; 32] = [0x3C; 32];

/// The time the harnesses' store clocks start at (2023-11-14), in
/// milliseconds since the Unix epoch.
pub const START_MS: i64 = 1_700_000_000_000;

/// Options for a harness store: commits synced only as far as a process
/// crash needs (the fuzzers commit a lot), and a clock read from `clock`.
pub fn options(clock: &Arc<AtomicI64>) -> StoreOptions {
    let clock = Arc::clone(clock);
    StoreOptions {
        durability: Durability::Normal,
        clock: Clock::new(move || clock.load(Ordering::SeqCst)),
        ..StoreOptions::default()
    }
}

/// Creates the store the [`segment`] and [`conversation`] harnesses run in
/// (one per process, reused across inputs), on a clock fixed at
/// [`START_MS`].
pub fn create_store(path: impl AsRef<Path>) -> crate::Result<Store> {
    Store::create_with(path, StoreKey::raw(KEY), options(&Arc::new(AtomicI64::new(START_MS))))
}

/// Sets the largest write to a conversation whose external-id index state
/// is not cached that goes to `message_ref` directly (docs/DESIGN.md,
/// "External-id index"); 0 makes every write load and cache the state, so
/// a harness with small batches covers that mode too.
pub fn set_index_direct_max(store: &Store, n: usize) {
    store.recent_refs().set_direct_max(n);
}

/// A short name for an error's variant, for comparing outcomes.
pub fn kind(e: &Error) -> &'static str {
    match e {
        Error::NotFound(_) => "NotFound",
        Error::InvalidArgument(_) => "InvalidArgument",
        Error::ConversationExists(_) => "ConversationExists",
        Error::TooLarge { .. } => "TooLarge",
        Error::LimitReached { .. } => "LimitReached",
        Error::WrongKey => "WrongKey",
        Error::Authentication { .. } => "Authentication",
        Error::Corrupt { .. } => "Corrupt",
        _ => "other",
    }
}

/// `Err` describing a mismatch unless `ok`.
pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}
