//! Compaction, verification, and archives (export and import to a file).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chatvault::{CompactOptions, ConversationId, ExportOptions, ImportOptions};

use crate::raw;
use crate::status::{chatvault_status, guard};
use crate::types::chatvault_store;
use crate::types::{
    chatvault_archive_progress_fn, chatvault_compact_options, chatvault_compact_progress_fn,
    chatvault_compact_report, chatvault_export_report, chatvault_import_report, chatvault_key,
    chatvault_verify_report,
};

/// Compacts the store: merges and compresses segments, drops expired
/// messages and their attachments, reseals old key epochs and destroys
/// their keys, removes attachment files no attachment names, then scrubs.
/// `options` may be NULL (run to completion); `progress` may be NULL. Writes
/// what it did to `*out`; if `work_remains` is set, call it again later.
///
/// # Safety
/// `store`, `options` and `out` are NULL or valid; `progress`, if not NULL,
/// may be called with `user_data` on this thread until this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_compact(
    store: *const chatvault_store,
    options: *const chatvault_compact_options,
    progress: chatvault_compact_progress_fn,
    user_data: *mut c_void,
    out: *mut chatvault_compact_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out, options) =
            unsafe { (raw::store(store)?, raw::out(out, "out")?, raw::optional_arg(options, "options")?) };
        let options = options.copied().unwrap_or_default();
        let mut compact = CompactOptions::default();
        if options.time_budget_ms != 0 {
            compact = compact.time_budget(Duration::from_millis(options.time_budget_ms));
        }
        if options.segment_budget != 0 {
            compact = compact.segment_budget(options.segment_budget);
        }
        if let Some(callback) = progress {
            let stop = Arc::new(AtomicBool::new(false));
            // SAFETY: the caller's promise: the callback may be called with
            // user_data on this thread until this returns.
            let on_progress = unsafe { raw::compact_progress(callback, user_data, Arc::clone(&stop)) };
            compact = compact.cancel_flag(stop).on_progress(on_progress);
        }
        let r = store.compact(&compact)?;
        out.write(chatvault_compact_report {
            conversations_compacted: r.conversations_compacted,
            segments_rewritten: r.segments_rewritten,
            segments_written: r.segments_written,
            messages_expired: r.messages_expired,
            keys_destroyed: r.keys_destroyed,
            bytes_before: r.bytes_before,
            bytes_after: r.bytes_after,
            conversations_skipped: r.conversations_skipped.len() as u64,
            work_remains: u8::from(r.work_remains),
            attachments_expired: r.attachments_expired,
            orphan_files_removed: r.orphan_files_removed,
        });
        Ok(())
    })
}

/// Checks every sealed value and the file's structure, and writes what it
/// found to `*out` (no problems means the store is sound); free it with
/// `chatvault_verify_report_free`. Damage is reported in the report, not as
/// a status.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_verify(
    store: *const chatvault_store,
    out: *mut *mut chatvault_verify_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let report = store.verify()?;
        out.write(raw::verify_report_out(&report));
        Ok(())
    })
}

/// Frees what `chatvault_store_verify` returned; NULL does nothing.
///
/// # Safety
/// `report` is NULL or came from `chatvault_store_verify`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_verify_report_free(report: *mut chatvault_verify_report) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::verify_report_free(report) };
        Ok(())
    });
}

/// Exports conversations to an encrypted archive at `path` (UTF-8,
/// `path_len` bytes), protected by `archive_key` (its own key or passphrase,
/// not the store's). `conversations` lists `conversations_len` ids to export,
/// in order; a length of 0 exports every conversation. The file appears only
/// when complete (it is written to a temporary name, synced, and renamed
/// over `path`); the store's own files are refused with
/// `CHATVAULT_STATUS_INVALID_ARGUMENT`. Writes what it wrote to `*out`.
///
/// # Safety
/// `path` is valid for `path_len` bytes and `conversations` for
/// `conversations_len` ids; `store`, `archive_key` and `out` are
/// NULL or valid; `progress`, if not NULL, may be called with `user_data` on
/// this thread until this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export(
    store: *const chatvault_store,
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    conversations: *const u64,
    conversations_len: usize,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut chatvault_export_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length, `conversations`
        // for `conversations_len` ids.
        let (store, out, path, key, ids) = unsafe {
            (
                raw::store(store)?,
                raw::out(out, "out")?,
                raw::path(path, path_len)?,
                raw::key(archive_key, "archive_key")?,
                raw::ids(conversations, conversations_len)?,
            )
        };
        let mut options = ExportOptions::with_key(key);
        if !ids.is_empty() {
            options = options.conversations(ids.iter().map(|&c| ConversationId::from_raw(c)));
        }
        if let Some(callback) = progress {
            // SAFETY: the caller's promise: the callback may be called with
            // user_data on this thread until this returns.
            options = options.on_progress(unsafe { raw::archive_progress(callback, user_data) });
        }
        let r = store.export_to_file(path, &options)?;
        out.write(chatvault_export_report {
            conversations: r.conversations,
            messages: r.messages,
            bytes: r.bytes,
        });
        Ok(())
    })
}

/// Imports the archive at `path` (UTF-8, `path_len` bytes), opened with
/// `archive_key`: all or nothing, and importing the same archive twice adds
/// nothing twice. Writes what it did to `*out`.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `store`, `archive_key` and `out` are
/// NULL or valid; `progress`, if not NULL, may be called with `user_data` on
/// this thread until this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_import(
    store: *const chatvault_store,
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut chatvault_import_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length.
        let (store, out, path, key) = unsafe {
            (
                raw::store(store)?,
                raw::out(out, "out")?,
                raw::path(path, path_len)?,
                raw::key(archive_key, "archive_key")?,
            )
        };
        let mut options = ImportOptions::with_key(key);
        if let Some(callback) = progress {
            // SAFETY: the caller's promise: the callback may be called with
            // user_data on this thread until this returns.
            options = options.on_progress(unsafe { raw::archive_progress(callback, user_data) });
        }
        let r = store.import_from_file(path, &options)?;
        out.write(chatvault_import_report {
            conversations_created: r.conversations_created,
            conversations_matched: r.conversations_matched,
            messages_added: r.messages_added,
            messages_skipped: r.messages_skipped,
            bytes: r.bytes,
        });
        Ok(())
    })
}
