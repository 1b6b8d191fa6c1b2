//! The store handle: create, open, close, change key, scrub, stats, version.

use std::ffi::c_char;

use std::path::PathBuf;

use chatvault::{Store, StoreKey};

use crate::raw;
use crate::status::{chatvault_status, guard};
use crate::types::{chatvault_key, chatvault_stats};

/// An open store. Create one with `chatvault_store_create` or
/// `chatvault_store_open`, close it with `chatvault_store_close`.
///
/// A store handle may be used from several threads at once: writes are
/// serialised inside the library and reads run in parallel. It must not be
/// closed while another call on it is running.
pub struct chatvault_store {
    pub(crate) store: Store,
}

/// The library's version, e.g. "0.1.0": a static NUL-terminated string that
/// must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn chatvault_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The body of create and open, which differ only in `f`.
///
/// # Safety
/// As `chatvault_store_open`.
unsafe fn open_with(
    f: fn(PathBuf, StoreKey) -> chatvault::Result<Store>,
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length.
        let (out, path, key) =
            unsafe { (raw::out(out, "out")?, raw::path(path, path_len)?, raw::key(key, "key")?) };
        out.write(raw::handle_out(chatvault_store { store: f(path, key)? }));
        Ok(())
    })
}

/// Creates a new, empty store at `path` (UTF-8, `path_len` bytes), protected
/// by `key`, and writes its handle to `*out`.
///
/// Fails with `CHATVAULT_STATUS_ALREADY_EXISTS` if a file is at `path`.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `key` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_create(
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { open_with(Store::create, path, path_len, key, out) }
}

/// Opens the store at `path` (UTF-8, `path_len` bytes) with `key`, and
/// writes its handle to `*out`.
///
/// Fails with `CHATVAULT_STATUS_WRONG_KEY` if the key does not open it and
/// `CHATVAULT_STATUS_NO_SUCH_STORE` if there is none.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `key` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_open(
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { open_with(Store::open, path, path_len, key, out) }
}

/// Closes a store: checkpoints and removes its write-ahead log, and frees
/// the handle, which must not be used again, whatever the status. Like
/// `free`, it accepts NULL (and returns `CHATVAULT_STATUS_OK`).
///
/// # Safety
/// `store` is NULL or a handle from create or open that no other thread is
/// using, not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_close(store: *mut chatvault_store) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: a live handle, used by no one else.
        match unsafe { raw::handle_take(store) } {
            Some(handle) => Ok(handle.store.close()?),
            None => Ok(()),
        }
    })
}

/// Protects the store with a new key or passphrase. The old wrapping of the
/// master key is scrubbed from the file and the write-ahead log.
///
/// # Safety
/// `store` and `key` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_change_key(
    store: *const chatvault_store,
    key: *const chatvault_key,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, key) = unsafe { (raw::store(store)?, raw::key(key, "key")?) };
        Ok(store.change_key(key)?)
    })
}

/// Removes every trace of deleted data from the file and the write-ahead
/// log. Deleting calls already do this; call it after one of them returned
/// `CHATVAULT_STATUS_SCRUB_INCOMPLETE`.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_scrub(store: *const chatvault_store) -> chatvault_status {
    // SAFETY: the caller's promise: NULL or a live handle.
    guard(|| Ok(unsafe { raw::store(store) }?.scrub()?))
}

/// Writes figures about the store to `*out`, from plaintext columns only.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_stats(
    store: *const chatvault_store,
    out: *mut chatvault_stats,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let s = store.stats()?;
        out.write(chatvault_stats {
            conversations: s.conversations,
            messages: s.messages,
            segments: s.segments,
            segments_uncompacted: s.segments_uncompacted,
            segment_bytes: s.segment_bytes,
            file_bytes: s.file_bytes,
            wal_bytes: s.wal_bytes,
            reclaimable_bytes: s.reclaimable_bytes,
        });
        Ok(())
    })
}
