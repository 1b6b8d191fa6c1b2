//! Test support for chatvault, outside the library: the one model of a
//! store's behaviour ([`ops`]'s `model`), and the harness that applies
//! operation sequences to a real store and to the model and compares every
//! result. Only the public API is used. Three users run it: the property
//! test (tests/model.rs, operations from proptest), the `ops` fuzz target
//! (fuzz/fuzz_targets/ops.rs, operations decoded from fuzz input) and the
//! corpus replay (tests/fuzz_corpus.rs).

#![forbid(unsafe_code)]

pub mod ops;
