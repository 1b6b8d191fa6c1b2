//! Segment plaintexts and envelopes: through the record decoders on their
//! own, then sealed into the segment rows of one store that lives as long
//! as the fuzzer and read back through every read path
//! (`chatvault::__fuzz::segment`). A valid layout must read back exactly
//! and pass `verify`; a damaged one must fail as damage; nothing may panic.
#![no_main]

use std::sync::OnceLock;

use chatvault::__fuzz::{create_store, segment};
use chatvault::Store;
use libfuzzer_sys::fuzz_target;

static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = create_store(dir.path().join("segment.chatvault")).expect("a store");
        (dir, store)
    });
    if let Err(e) = segment::run(store, data) {
        panic!("{e}");
    }
});
