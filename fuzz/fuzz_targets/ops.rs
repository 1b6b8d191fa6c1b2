//! Arbitrary operation sequences (at most 64, with reopens, key changes,
//! expiry, compaction, exports and imports) on a new store and on an
//! in-memory model, every result compared (`chatvault_testkit::ops`, the
//! model the property test tests/model.rs uses too).
//! Each input gets a fresh store in the same directory.
#![no_main]

use std::sync::OnceLock;

use chatvault_testkit::ops;
use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    if let Err(e) = ops::run(dir.path(), data) {
        panic!("{e}");
    }
});
