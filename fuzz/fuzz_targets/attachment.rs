//! The attachment chunk reader (`chatvault::__fuzz::attachment`): a sealed
//! stream changed as the input says, read at the ranges it names; every
//! read returns the original bytes or fails as tampering or damage, and
//! nothing may panic.
#![no_main]

use chatvault::__fuzz::attachment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = attachment::run(data) {
        panic!("{e}");
    }
});
