//! The archive reader on arbitrary input: raw archive bytes, or an arbitrary
//! body sealed into a valid archive so the record parser is reached
//! (`chatvault::archive::__fuzz::run`). It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chatvault::archive::__fuzz::run(data);
});
