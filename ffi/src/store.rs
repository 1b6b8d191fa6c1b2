//! The store handle: create, open, close, change key, rotate the master
//! key, scrub, vacuum, stats, version.

use std::ffi::c_char;

use std::sync::Arc;
use std::time::Duration;

use chatvault::{Durability, KdfParams, RotateOptions, Store, StoreOptions};

use crate::raw;
use crate::status::{Failure, chatvault_status, guard};
use crate::types::{
    chatvault_durability, chatvault_kdf_params, chatvault_key, chatvault_rotate_options,
    chatvault_rotation_report, chatvault_stats, chatvault_store, chatvault_store_options,
};

/// The library's version, e.g. "0.1.0": a static NUL-terminated string that
/// must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn chatvault_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The body of create and open.
///
/// # Safety
/// As `chatvault_store_open_with`.
unsafe fn open_with(
    create: bool,
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    options: *const chatvault_store_options,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length.
        let (out, path, options) = unsafe {
            (raw::out(out, "out")?, raw::path(path, path_len)?, raw::optional_input(options, "options")?)
        };
        // SAFETY: the caller's promise: `options->kdf` NULL or valid, and
        // `options->now_ms` callable with `clock_ctx` until the store is closed.
        let (options, kdf) = unsafe { options.map(|o| store_options(o)).transpose()? }.unwrap_or_default();
        if kdf.is_some() && !create {
            return Err(Failure::invalid(
                "options->kdf is for creating a store: an existing store's header holds its Argon2id \
                 parameters (to change them, change its key with chatvault_store_change_key_with)",
            ));
        }
        // SAFETY: the caller's promise: the key's bytes valid for its length.
        let key = unsafe { raw::key_with(key, "key", kdf)? };
        let f = if create { Store::create_with } else { Store::open_with };
        // UTF-8 (`raw::path` checked); one with a NUL byte, which no file
        // system accepts, would fail to open before this is used.
        let text = std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default();
        out.write(raw::handle_out(chatvault_store { store: Arc::new(f(path, key, options)?), path: text }));
        Ok(())
    })
}

/// The library's options from C's, and the Argon2id parameters for a new
/// store's passphrase.
///
/// # Safety
/// `o.kdf` is NULL or valid; `o.now_ms`, if set, may be called with
/// `o.clock_ctx` from any thread until the store is closed.
unsafe fn store_options(o: chatvault_store_options) -> Result<(StoreOptions, Option<KdfParams>), Failure> {
    let durability = match o.durability {
        d if d == chatvault_durability::Full as u32 => Durability::Full,
        d if d == chatvault_durability::Normal as u32 => Durability::Normal,
        other => {
            return Err(Failure::invalid(format!(
                "durability {other} is neither CHATVAULT_DURABILITY_FULL (0) nor CHATVAULT_DURABILITY_NORMAL (1)"
            )));
        }
    };
    let mut options = StoreOptions { durability, ..StoreOptions::default() };
    if raw::flag(o.has_busy_timeout, "has_busy_timeout")? {
        options.busy_timeout = Duration::from_millis(o.busy_timeout_ms);
    }
    if raw::flag(o.has_max_size, "has_max_size")? {
        options.max_size_bytes = Some(o.max_size_bytes);
    }
    if raw::flag(o.has_max_kdf, "has_max_kdf")? {
        options.max_kdf = KdfParams {
            memory_kib: o.max_kdf_memory_kib,
            iterations: o.max_kdf_iterations,
            parallelism: o.max_kdf_parallelism,
        };
    }
    if let Some(now_ms) = o.now_ms {
        // SAFETY: forwarded from this function's contract.
        options.clock = unsafe { raw::clock(now_ms, o.clock_ctx) };
    }
    // SAFETY: forwarded from this function's contract.
    let kdf = unsafe { raw::kdf_params(o.kdf, "options->kdf") }?;
    Ok((options, kdf))
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
    unsafe { open_with(true, path, path_len, key, std::ptr::null(), out) }
}

/// `chatvault_store_create` with `options` (durability, busy timeout,
/// size limit, Argon2id ceiling); NULL is the defaults.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `key`, `options` and `out` are
/// NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_create_with(
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    options: *const chatvault_store_options,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { open_with(true, path, path_len, key, options, out) }
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
    unsafe { open_with(false, path, path_len, key, std::ptr::null(), out) }
}

/// `chatvault_store_open` with `options` (durability, busy timeout, size
/// limit, Argon2id ceiling: they hold for this handle only); NULL is the
/// defaults.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `key`, `options` and `out` are
/// NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_open_with(
    path: *const c_char,
    path_len: usize,
    key: *const chatvault_key,
    options: *const chatvault_store_options,
    out: *mut *mut chatvault_store,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { open_with(false, path, path_len, key, options, out) }
}

/// Writes the path the store was opened at (UTF-8, as given to create or
/// open) to `*out`: NUL-terminated, owned by the handle and valid until it
/// is closed.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_path(
    store: *const chatvault_store,
    out: *mut crate::types::chatvault_str,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (handle, out) = unsafe { (raw::arg(store, "store")?, raw::out(out, "out")?) };
        let bytes = handle.path.as_bytes();
        out.write(crate::types::chatvault_str { ptr: handle.path.as_ptr(), len: bytes.len() });
        Ok(())
    })
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

/// `chatvault_store_change_key` with the Argon2id cost of a new passphrase
/// (`kdf`; NULL is the default, as `chatvault_store_change_key`). A `kdf`
/// with a raw key, or outside the bounds `chatvault_kdf_params` states,
/// fails with `CHATVAULT_STATUS_INVALID_ARGUMENT` and changes nothing.
///
/// # Safety
/// `store`, `key` and `kdf` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_change_key_with(
    store: *const chatvault_store,
    key: *const chatvault_key,
    kdf: *const chatvault_kdf_params,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, key) = unsafe {
            let kdf = raw::kdf_params(kdf, "kdf")?;
            (raw::store(store)?, raw::key_with(key, "key", kdf)?)
        };
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
/// meanwhile. `options` (NULL: run to the end) may stop it after
/// `max_transactions` transactions (at least one runs) or `time_budget_ms`.
/// Writes what it did to `*out`. While
/// `out->finished` is 0, the rotation is under way: open the store with
/// `key` and call this again with the SAME `key` to continue. A call with
/// another key while a rotation is under way first finishes that rotation
/// under the store's current key, then rotates again to the key given
/// (`out->finished` is about that last rotation); if a budget runs out
/// before the second rotation begins, the key given does not open the
/// store yet (`out->key_in_force` is 0).
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
/// `store`, `key`, `options` and `out` are NULL or valid; `out->struct_size` is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_rotate_master_key(
    store: *const chatvault_store,
    key: *const chatvault_key,
    options: *const chatvault_rotate_options,
    out: *mut chatvault_rotation_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out, o) = unsafe {
            (raw::store(store)?, raw::out_struct(out, "out")?, raw::optional_input(options, "options")?)
        };
        // SAFETY: the caller's promise: `options->kdf` NULL or valid, the
        // key's bytes valid for its length.
        let key = unsafe {
            let kdf = o.map(|o| raw::kdf_params(o.kdf, "options->kdf")).transpose()?.flatten();
            raw::key_with(key, "key", kdf)?
        };
        let mut options = RotateOptions::default();
        if let Some(o) = o {
            if o.max_transactions != 0 {
                options = options.transaction_budget(o.max_transactions);
            }
            if o.time_budget_ms != 0 {
                options = options.time_budget(Duration::from_millis(o.time_budget_ms));
            }
        }
        let r = store.rotate_master_key_with(key, &options)?;
        out.write(chatvault_rotation_report {
            struct_size: 0,
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
/// `store` and `out` are NULL or valid; `out->struct_size` is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_stats(
    store: *const chatvault_store,
    out: *mut chatvault_stats,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out_struct(out, "out")?) };
        let s = store.stats()?;
        out.write(chatvault_stats {
            struct_size: 0,
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
