//! The store handle: create, open, close, change key, scrub, stats, version.

use std::ffi::c_char;
use std::mem::MaybeUninit;

use chatvault::Store;

use crate::raw;
use crate::status::{Failure, chatvault_status, guard};
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

/// The store behind a handle, or `NullArgument`.
pub(crate) fn store(s: Option<&chatvault_store>) -> Result<&Store, Failure> {
    s.map(|s| &s.store).ok_or_else(|| Failure::null("store"))
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
    key: Option<&chatvault_key>,
    out: Option<&mut MaybeUninit<*mut chatvault_store>>,
) -> chatvault_status {
    guard(|| {
        let out = out.ok_or_else(|| Failure::null("out"))?;
        // SAFETY: the caller's promise: `path` valid for `path_len` bytes,
        // `key`'s bytes valid for its length.
        let (path, key) =
            unsafe { (raw::path(path, path_len)?, raw::key(key.ok_or_else(|| Failure::null("key"))?)?) };
        let store = Store::create(path, key)?;
        out.write(raw::handle_out(chatvault_store { store }));
        Ok(())
    })
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
    key: Option<&chatvault_key>,
    out: Option<&mut MaybeUninit<*mut chatvault_store>>,
) -> chatvault_status {
    guard(|| {
        let out = out.ok_or_else(|| Failure::null("out"))?;
        // SAFETY: the caller's promise: `path` valid for `path_len` bytes,
        // `key`'s bytes valid for its length.
        let (path, key) =
            unsafe { (raw::path(path, path_len)?, raw::key(key.ok_or_else(|| Failure::null("key"))?)?) };
        let store = Store::open(path, key)?;
        out.write(raw::handle_out(chatvault_store { store }));
        Ok(())
    })
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
    store: Option<&chatvault_store>,
    key: Option<&chatvault_key>,
) -> chatvault_status {
    guard(|| {
        let store = self::store(store)?;
        // SAFETY: the caller's promise: `key`'s bytes valid for its length.
        let key = unsafe { raw::key(key.ok_or_else(|| Failure::null("key"))?) }?;
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
pub unsafe extern "C" fn chatvault_store_scrub(store: Option<&chatvault_store>) -> chatvault_status {
    guard(|| Ok(self::store(store)?.scrub()?))
}

/// Writes figures about the store to `*out`, from plaintext columns only.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_stats(
    store: Option<&chatvault_store>,
    out: Option<&mut MaybeUninit<chatvault_stats>>,
) -> chatvault_status {
    guard(|| {
        let store = self::store(store)?;
        let out = out.ok_or_else(|| Failure::null("out"))?;
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
