//! The search filter decoder, the matching rules and a search over a
//! forged filter (`chatvault::__fuzz::search`): accepted filters
//! round-trip, a matching text's filter holds every probe of the query,
//! and a forged filter makes a search answer or fail as damage; nothing
//! may panic.
#![no_main]

use std::sync::OnceLock;

use chatvault::__fuzz::{create_store, search};
use chatvault::Store;
use libfuzzer_sys::fuzz_target;

static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = create_store(dir.path().join("search.chatvault")).expect("a store");
        (dir, store)
    });
    if let Err(e) = search::run(store, data) {
        panic!("{e}");
    }
});
