//! The store handle: create, open, close, change key, rotate the master
//! key, scrub, vacuum, stats, version.

use std::ffi::c_char;

use std::path::PathBuf;
use std::sync::Arc;

use chatvault::{RotateOptions, Store, StoreKey};

use crate::raw;
use crate::status::{chatvault_status, guard};
use crate::types::{chatvault_key, chatvault_rotation_report, chatvault_stats, chatvault_store};

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
        out.write(raw::handle_out(chatvault_store { store: Arc::new(f(path, key)?) }));
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
/// the handle, which must not be used again, whatever the status, with one
/// exception: while attachment writers made from the handle are open
/// (`chatvault_attachment_begin`), it fails with
/// `CHATVAULT_STATUS_STORE_IN_USE`, closes nothing, and the handle stays
/// valid: finish or abort the writers, then close it. (Attachment readers
/// need no handle: they may stay open.) Like `free`, it accepts NULL (and
/// returns `CHATVAULT_STATUS_OK`).
///
/// # Safety
/// `store` is NULL or a handle from create or open that no other thread is
/// using, not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_close(store: *mut chatvault_store) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: a live handle, used by no one else.
        match unsafe { raw::store_take(store) }? {
            Some(store) => Ok(store.close()?),
            None => Ok(()),
        }
    })
}

/// Protects the store with a new key or passphrase. The old wrapping of the
/// master key is scrubbed from the file and the write-ahead log.
///
/// This does not revoke the old key: the master key stays the same, so
/// whoever has the old key and a copy of the file made before can still
/// read it. If a key or passphrase leaked, use
/// `chatvault_store_rotate_master_key` instead.
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

/// Rotates the master key, for when the store's key or passphrase leaked:
/// afterwards the old key, with any copy of the file's header, opens
/// nothing written or rewrapped since. It draws a new master key, rewraps
/// every conversation key under it, starts a new key epoch in every
/// conversation, recomputes the keyed hashes of external ids, and seals the
/// new master key under `key`, the new root key. Revoking a leaked key
/// takes two more calls, both required: `chatvault_store_compact`, which
/// reseals older messages under the new epochs and destroys the old
/// conversation keys, then `chatvault_store_vacuum`, which removes the
/// pieces of values sealed under those old keys that compaction leaves in
/// the file's free space (someone who copied the file before holds those
/// keys). Copies of the file made before stay readable with the old key:
/// nothing can reach those.
///
/// Its first transaction makes `key` the ONLY key that opens the store,
/// even if the rotation goes no further: from then on the old key gives
/// `CHATVAULT_STATUS_WRONG_KEY`. So keep `key` (in the Keychain or
/// Keystore, as a pending key) BEFORE calling, and make it the current key
/// as soon as the call returns, finished or not. If the app is killed
/// during the first call, try the current key at the next launch, then the
/// pending one.
///
/// It runs in many short transactions, so other calls on the store go on
/// meanwhile. `max_transactions` stops it after that many (at least one
/// runs); 0 runs it to the end. Writes what it did to `*out`. While
/// `out->finished` is 0, the rotation is under way: open the store with
/// `key` and call this again with the SAME `key` to continue. A call with
/// another key while a rotation is under way first finishes that rotation
/// under the store's current key, then rotates again to the key given
/// (`out->finished` is about that last rotation); if `max_transactions`
/// runs out before the second rotation begins, the key given does not open
/// the store yet.
///
/// `CHATVAULT_STATUS_SCRUB_INCOMPLETE` means a rotation finished but the
/// old wrapping could not be scrubbed from the write-ahead log yet: call
/// `chatvault_store_scrub` later. Called with the key of the rotation under
/// way (or with none under way), that rotation is the one to `key`, which
/// alone opens the store now.
///
/// Other handles on the same store that were opened with the old key fail
/// with `CHATVAULT_STATUS_MASTER_KEY_ROTATED` once they need a conversation
/// key the rotation moved: close them and open the store again with `key`.
///
/// # Safety
/// `store`, `key` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_rotate_master_key(
    store: *const chatvault_store,
    key: *const chatvault_key,
    max_transactions: u64,
    out: *mut chatvault_rotation_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out, key) = unsafe { (raw::store(store)?, raw::out(out, "out")?, raw::key(key, "key")?) };
        let mut options = RotateOptions::default();
        if max_transactions != 0 {
            options = options.transaction_budget(max_transactions);
        }
        let r = store.rotate_master_key_with(key, &options)?;
        out.write(chatvault_rotation_report {
            conversations: r.conversations,
            references: r.references,
            references_dropped: r.references_dropped,
            transactions: r.transactions,
            conversations_damaged: r.conversations_damaged.len() as u64,
            finished: u8::from(r.finished),
            key_in_force: u8::from(r.key_in_force),
        });
        Ok(())
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

/// Rewrites the whole database file from its live rows (SQLite's
/// `VACUUM`), then scrubs: afterwards no piece of anything deleted survives
/// in the file or the write-ahead log, including the leftovers that SQLite
/// leaves in the free space of pages it rearranges. Deleting a conversation
/// already destroys its key; this also removes pieces of deleted or edited
/// messages in conversations that still exist.
///
/// It reads and writes the whole file and needs free disk space and memory
/// about the size of the file; other writes wait until it is done. Run it
/// in a maintenance window: after deleting what must not be recoverable,
/// and after the compaction that follows a master-key rotation, where it is
/// a required step of revoking a leaked key (see
/// `chatvault_store_rotate_master_key`).
/// `CHATVAULT_STATUS_SCRUB_INCOMPLETE` means the file was rewritten but the
/// write-ahead log not yet emptied: call `chatvault_store_scrub` later.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_vacuum(store: *const chatvault_store) -> chatvault_status {
    // SAFETY: the caller's promise: NULL or a live handle.
    guard(|| Ok(unsafe { raw::store(store) }?.vacuum()?))
}

/// Writes figures about the store to `*out`, from plaintext columns (and
/// the attachment directory's listing) only.
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
            attachments: s.attachments,
            attachment_bytes: s.attachment_bytes,
            attachments_in_files: s.attachments_in_files,
            orphan_files: s.orphan_files,
            orphan_file_bytes: s.orphan_file_bytes,
        });
        Ok(())
    })
}
