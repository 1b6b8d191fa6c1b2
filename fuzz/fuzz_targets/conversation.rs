//! Conversation metadata plaintexts and envelopes: through the decoder on
//! its own, then sealed into a conversation of one store that lives as
//! long as the fuzzer and read back, updated, marked read and exported
//! (`chatvault::__fuzz::conversation`). Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use chatvault::__fuzz::{conversation, create_store};
use chatvault::Store;
use libfuzzer_sys::fuzz_target;

static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = create_store(dir.path().join("conversation.chatvault")).expect("a store");
        (dir, store)
    });
    if let Err(e) = conversation::run(store, data) {
        panic!("{e}");
    }
});
