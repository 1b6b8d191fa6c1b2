//! The C ABI of chatvault, for apps that embed the store through FFI: Swift
//! imports `include/chatvault.h` directly, Kotlin reaches it through JNI,
//! and anything with a C foreign-function interface can load the library.
//!
//! The conventions every function follows (repeated in the header):
//!
//! * Every function returns a [`chatvault_status`]; `CHATVAULT_STATUS_OK`
//!   is 0. Numbers are stable and never reused. On failure,
//!   [`chatvault_last_error_message`] describes it for the calling thread.
//! * Outputs are written through out-pointers, and only on success.
//! * A NULL pointer where one is required gives
//!   `CHATVAULT_STATUS_NULL_ARGUMENT`, never a crash. A pointer that is not
//!   NULL must be valid for its length.
//! * Text crosses as UTF-8 with an explicit length (it need not be
//!   NUL-terminated); invalid UTF-8 gives `CHATVAULT_STATUS_INVALID_UTF8`.
//!   Text the library returns is NUL-terminated as well, for convenience.
//! * Memory the library returns is freed by the matching `chatvault_*_free`
//!   function, which accepts NULL. Everything it points into lives until
//!   that call.
//! * A `chatvault_store` may be used from several threads at once; closing
//!   it must wait until no other call on it is running, and is refused
//!   (`CHATVAULT_STATUS_STORE_IN_USE`, the handle left valid) while an
//!   attachment writer made from it is open.
//! * No panic crosses the boundary: one becomes `CHATVAULT_STATUS_PANIC`.
//! * Every struct but a few small fixed values begins with `struct_size`
//!   and only gains fields at its end, at or after the previous version's
//!   `sizeof` (never in its trailing padding); the library checks the size
//!   a caller gives, refusing one that ends inside a field (`abi` holds the
//!   rule and its one implementation).
//! * Callbacks (progress, zone, clock) must return normally: no C++
//!   exception or `longjmp` may leave one across the library's frames.
//! * The store's clock is trusted: absurd values (`i64::MAX`) make expiry
//!   act on them, expiring every message with a retention or an expiry.
//! * Optional values carry a `has_*` flag (0 or 1) beside them, and every
//!   code-valued field has a C enum.
//! * A progress callback that returns nonzero stops its operation, which
//!   fails with `CHATVAULT_STATUS_CANCELLED`, all or nothing.
//!
//! The modules, bottom up, each using only those below it: `status`
//! (codes, the per-thread message and the panic boundary), `abi` (the
//! struct-size rule), `types` (the `#[repr(C)]` values and the opaque
//! handles: the store, and the attachment writer and reader), `raw` (every raw pointer read, allocated
//! or freed, each helper an `unsafe fn` stating what it relies on), and the
//! exported functions by the noun they act on: `store`, `conversation`,
//! `message`, `maintenance`, `search`, `attachment`, and `text` (the
//! plaintext shapes: JSON, RFC 3339, safe file names).

#![allow(non_camel_case_types)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// The order here is the header's order.
mod status;

mod abi;
mod types;

mod store;

mod conversation;

mod message;

mod maintenance;

mod search;

mod attachment;

mod text;

mod raw;

pub use attachment::*;
pub use conversation::*;
pub use maintenance::*;
pub use message::*;
pub use search::*;
pub use status::{chatvault_last_error_message, chatvault_status, chatvault_status_name};
pub use store::*;
pub use text::*;
pub use types::*;
