//! Imports arbitrary archives (as the `archive` target builds them) into
//! one store that lives as long as the fuzzer, so later inputs merge into
//! what earlier ones left; after every import the store must pass
//! `verify`, and nothing may panic.
#![no_main]

use std::sync::OnceLock;

use chatvault::{Store, StoreKey};
use libfuzzer_sys::fuzz_target;

static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store =
            Store::create(dir.path().join("fuzz.chatvault"), StoreKey::raw([1; 32])).expect("a store");
        (dir, store)
    });
    if let Err(e) = chatvault::archive::__fuzz::import_into(store, data) {
        panic!("{e}");
    }
});
