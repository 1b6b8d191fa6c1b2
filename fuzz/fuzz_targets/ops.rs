//! Arbitrary operation sequences (at most 64, with reopens, key changes,
//! expiry, compaction, exports and imports) on a new store and on an
//! in-memory model, every result compared (`chatvault::__fuzz::ops`).
//! Each input gets a fresh store in the same directory.
#![no_main]

use std::sync::OnceLock;

use chatvault::__fuzz::ops;
use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    if let Err(e) = ops::run(dir.path(), data) {
        panic!("{e}");
    }
});
