//! Compaction, verification, archives (export, import and inspection of a
//! file), and the plaintext exports (JSON Lines and HTML).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatvault::{CompactOptions, ConversationId, ExportOptions, ImportOptions, Plaintext};

use crate::raw;
use crate::status::{Failure, chatvault_status, guard};
use crate::types::chatvault_store;
use crate::types::{
    chatvault_archive_progress_fn, chatvault_archive_summary, chatvault_compact_options,
    chatvault_compact_progress_fn, chatvault_compact_report, chatvault_export_options,
    chatvault_export_report, chatvault_html_options, chatvault_html_report, chatvault_import_options,
    chatvault_import_report, chatvault_key, chatvault_verify_report,
};

/// The failure of an operation its progress callback stopped.
fn cancelled() -> Failure {
    chatvault::Error::Cancelled.into()
}

/// Compacts the store: merges and compresses segments, drops expired
/// messages and their attachments, reseals old key epochs and destroys
/// their keys, removes attachment files no attachment names, then scrubs.
/// `options` may be NULL (run to completion, default segment targets);
/// `progress` may be NULL. Writes what it did to `*out`; if `work_remains`
/// is set, a budget ran out: call it again later.
///
/// If `progress` returns `CHATVAULT_PROGRESS_STOP`, compaction stops after
/// the current transaction and fails with `CHATVAULT_STATUS_CANCELLED`,
/// `*out` untouched: what committed before stays (each transaction leaves
/// the store valid), the rest is left for the next call. A STOP after the
/// last transaction stops nothing: the call succeeds and writes `*out`.
///
/// # Safety
/// `store`, `options` and `out` are NULL or valid (`out->struct_size`
/// set); `progress`, if not NULL, may be called with `user_data` on this
/// thread until this returns.
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
        let (store, out, options) = unsafe {
            (raw::store(store)?, raw::out_struct(out, "out")?, raw::optional_input(options, "options")?)
        };
        let mut compact = CompactOptions::default();
        if let Some(o) = options {
            if o.time_budget_ms != 0 {
                compact = compact.time_budget(Duration::from_millis(o.time_budget_ms));
            }
            if o.segment_budget != 0 {
                compact = compact.segment_budget(o.segment_budget);
            }
            let messages = match o.target_messages {
                0 => compact.target_messages,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            let bytes = match o.target_bytes {
                0 => compact.target_bytes,
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
            compact = compact.targets(messages, bytes);
        }
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(callback) = progress {
            // SAFETY: the caller's promise: the callback may be called with
            // user_data on this thread until this returns.
            let on_progress = unsafe { raw::compact_progress(callback, user_data, Arc::clone(&stop)) };
            compact = compact.cancel_flag(Arc::clone(&stop)).on_progress(on_progress);
        }
        let r = store.compact(&compact)?;
        // A STOP on the last call, after the final step, stopped nothing:
        // the compaction finished, and says so.
        if stop.load(Ordering::SeqCst) && r.work_remains {
            return Err(cancelled());
        }
        out.write(chatvault_compact_report {
            struct_size: 0,
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

/// A progress callback as the library takes it, and the flag its STOP sets.
///
/// # Safety
/// `progress`, if not NULL, may be called with `user_data` on this thread
/// until the operation returns.
unsafe fn archive_callback(
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
) -> (Arc<AtomicBool>, Option<impl Fn(&chatvault::archive::ArchiveProgress) + Send + Sync + 'static>) {
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: forwarded from this function's contract.
    let f = progress.map(|callback| unsafe { raw::archive_progress(callback, user_data, Arc::clone(&stop)) });
    (stop, f)
}

/// The library's import options from C's key and options.
///
/// # Safety
/// `key` and `options` (and its `max_kdf`) are NULL or valid.
unsafe fn import_options(
    key: *const chatvault_key,
    options: *const chatvault_import_options,
) -> Result<ImportOptions, Failure> {
    // SAFETY: forwarded from this function's contract.
    let (key, o) = unsafe { (raw::key(key, "archive_key")?, raw::optional_input(options, "options")?) };
    let mut options = ImportOptions::with_key(key);
    // SAFETY: forwarded from this function's contract.
    let max = unsafe { o.map(|o| raw::kdf_params(o.max_kdf, "options->max_kdf")).transpose()? };
    if let Some(max) = max.flatten() {
        options = options.max_kdf(max);
    }
    Ok(options)
}

/// Exports conversations to an encrypted archive at `path` (UTF-8,
/// `path_len` bytes), protected by `archive_key` (its own key or passphrase,
/// not the store's). `conversations` lists `conversations_len` ids to export,
/// in order; a length of 0 exports every conversation. The file appears only
/// when complete (it is written to a temporary name, synced, and renamed
/// over `path`); the store's own files are refused with
/// `CHATVAULT_STATUS_INVALID_ARGUMENT`. Writes what it wrote to `*out`.
///
/// If `progress` returns `CHATVAULT_PROGRESS_STOP`, the export stops and
/// fails with `CHATVAULT_STATUS_CANCELLED`: no file is left at `path` (a
/// file that was there before stays as it was).
///
/// # Safety
/// `path` is valid for `path_len` bytes and `conversations` for
/// `conversations_len` ids; `store`, `archive_key` and `out` are
/// NULL or valid (`out->struct_size` set); `progress`, if not NULL, may be
/// called with `user_data` on this thread until this returns.
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
    // SAFETY: forwarded from this function's contract (no options).
    unsafe {
        chatvault_store_export_with(
            store,
            path,
            path_len,
            archive_key,
            std::ptr::null(),
            conversations,
            conversations_len,
            progress,
            user_data,
            out,
        )
    }
}

/// `chatvault_store_export` with `options` (the Argon2id cost of a
/// passphrase `archive_key`, the chunk size); NULL is the defaults. A bad
/// option fails with `CHATVAULT_STATUS_INVALID_ARGUMENT` before any file
/// is written.
///
/// # Safety
/// As `chatvault_store_export`; `options` is NULL or valid, and so is its
/// `kdf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export_with(
    store: *const chatvault_store,
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    options: *const chatvault_export_options,
    conversations: *const u64,
    conversations_len: usize,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut chatvault_export_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length, `conversations`
        // for `conversations_len` ids, `options->kdf` NULL or valid.
        let (store, out, path, o, key, ids) = unsafe {
            let o = raw::optional_input(options, "options")?;
            let kdf = o.map(|o| raw::kdf_params(o.kdf, "options->kdf")).transpose()?.flatten();
            (
                raw::store(store)?,
                raw::out_struct(out, "out")?,
                raw::path(path, path_len)?,
                o,
                raw::key_with(archive_key, "archive_key", kdf)?,
                raw::ids(conversations, conversations_len)?,
            )
        };
        let mut options = ExportOptions::with_key(key);
        if let Some(size) = o.map(|o| o.chunk_size).filter(|&s| s != 0) {
            options = options.chunk_size(usize::try_from(size).unwrap_or(usize::MAX))?;
        }
        if !ids.is_empty() {
            options = options.conversations(ids.iter().map(|&c| ConversationId::from_raw(c)));
        }
        // SAFETY: the caller's promise: the callback may be called with
        // user_data on this thread until this returns.
        let (stop, on_progress) = unsafe { archive_callback(progress, user_data) };
        if let Some(f) = on_progress {
            options = options.on_progress(f).cancel_flag(stop);
        }
        let r = store.export_to_file(path, &options)?;
        out.write(chatvault_export_report {
            struct_size: 0,
            conversations: r.conversations,
            messages: r.messages,
            bytes: r.bytes,
            attachments: r.attachments,
        });
        Ok(())
    })
}

/// Imports the archive at `path` (UTF-8, `path_len` bytes), opened with
/// `archive_key`: all or nothing, in one transaction, and importing the same
/// archive twice adds nothing twice. Writes what it did to `*out`.
///
/// If `progress` returns `CHATVAULT_PROGRESS_STOP` before the end, the
/// import fails with `CHATVAULT_STATUS_CANCELLED` and its transaction is
/// rolled back: the store is exactly as it was (no conversation, message,
/// attachment or read marker of the archive was added). The last call of
/// `progress`, made after the import committed, cannot stop it.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `store`, `archive_key` and `out` are
/// NULL or valid (`out->struct_size` set); `progress`, if not NULL, may be
/// called with `user_data` on this thread until this returns.
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
    // SAFETY: forwarded from this function's contract (no options).
    unsafe {
        chatvault_store_import_with(
            store,
            path,
            path_len,
            archive_key,
            std::ptr::null(),
            progress,
            user_data,
            out,
        )
    }
}

/// `chatvault_store_import` with `options` (a lower ceiling on the
/// Argon2id work the archive may ask for); NULL is the defaults.
///
/// # Safety
/// As `chatvault_store_import`; `options` is NULL or valid, and so is its
/// `max_kdf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_import_with(
    store: *const chatvault_store,
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    options: *const chatvault_import_options,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut chatvault_import_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length.
        let (store, out, path, options) = unsafe {
            (
                raw::store(store)?,
                raw::out_struct(out, "out")?,
                raw::path(path, path_len)?,
                import_options(archive_key, options)?,
            )
        };
        let mut options = options;
        // SAFETY: the caller's promise: the callback may be called with
        // user_data on this thread until this returns.
        let (stop, on_progress) = unsafe { archive_callback(progress, user_data) };
        if let Some(f) = on_progress {
            options = options.on_progress(f).cancel_flag(stop);
        }
        let r = store.import_from_file(path, &options)?;
        out.write(chatvault_import_report {
            struct_size: 0,
            conversations_created: r.conversations_created,
            conversations_matched: r.conversations_matched,
            messages_added: r.messages_added,
            messages_skipped: r.messages_skipped,
            bytes: r.bytes,
            attachments_added: r.attachments_added,
            attachments_skipped: r.attachments_skipped,
        });
        Ok(())
    })
}

/// Reads the archive at `path` (UTF-8, `path_len` bytes) to its end with
/// `archive_key`, verifying every chunk and record, and writes what it
/// holds to `*out` without importing anything (no store is needed); free
/// it with `chatvault_archive_summary_free`. Fails as an import would
/// (`CHATVAULT_STATUS_WRONG_KEY`, `CHATVAULT_STATUS_ARCHIVE_TAMPERED`,
/// `CHATVAULT_STATUS_ARCHIVE_TRUNCATED`, ...); `progress` returning
/// `CHATVAULT_PROGRESS_STOP` fails it with `CHATVAULT_STATUS_CANCELLED`.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `archive_key` and `out` are NULL
/// or valid; `progress`, if not NULL, may be called with `user_data` on
/// this thread until this returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_archive_inspect(
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut *mut chatvault_archive_summary,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract (no options).
    unsafe {
        chatvault_archive_inspect_with(
            path,
            path_len,
            archive_key,
            std::ptr::null(),
            progress,
            user_data,
            out,
        )
    }
}

/// `chatvault_archive_inspect` with `options` (a lower ceiling on the
/// Argon2id work the archive may ask for); NULL is the defaults.
///
/// # Safety
/// As `chatvault_archive_inspect`; `options` is NULL or valid, and so is
/// its `max_kdf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_archive_inspect_with(
    path: *const c_char,
    path_len: usize,
    archive_key: *const chatvault_key,
    options: *const chatvault_import_options,
    progress: chatvault_archive_progress_fn,
    user_data: *mut c_void,
    out: *mut *mut chatvault_archive_summary,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the key's bytes for its length.
        let (out, path, options) = unsafe {
            (raw::out(out, "out")?, raw::path(path, path_len)?, import_options(archive_key, options)?)
        };
        let mut options = options;
        // SAFETY: the caller's promise: the callback may be called with
        // user_data on this thread until this returns.
        let (stop, on_progress) = unsafe { archive_callback(progress, user_data) };
        if let Some(f) = on_progress {
            options = options.on_progress(f).cancel_flag(stop);
        }
        let file = std::fs::File::open(&path).map_err(|e| {
            chatvault::Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot open the archive {}: {e}", path.display()),
            ))
        })?;
        let summary = chatvault::archive::inspect(std::io::BufReader::new(file), &options)?;
        out.write(raw::archive_summary_out(&summary));
        Ok(())
    })
}

/// Frees what `chatvault_archive_inspect` returned; NULL does nothing.
///
/// # Safety
/// `summary` is NULL or came from `chatvault_archive_inspect`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_archive_summary_free(summary: *mut chatvault_archive_summary) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::archive_summary_free(summary) };
        Ok(())
    });
}

/// Writes conversations to `path` (UTF-8, `path_len` bytes) as JSON Lines,
/// one message a line, UNENCRYPTED: for the user's own explicit "export
/// as text" only (the encrypted archive, `chatvault_store_export`, is
/// for moving a store). `conversations` lists `conversations_len` ids, in
/// order; 0 exports every conversation. The file appears complete or not
/// at all (mode 0600 on Unix). Writes how many messages it wrote to
/// `*out_messages`. The line format is the library's
/// (`Store::export_json_lines`, docs/MOBILE.md).
///
/// # Safety
/// `path` is valid for `path_len` bytes and `conversations` for
/// `conversations_len` ids; `store` and `out_messages` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export_json_lines(
    store: *const chatvault_store,
    path: *const c_char,
    path_len: usize,
    conversations: *const u64,
    conversations_len: usize,
    out_messages: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, `conversations` for `conversations_len` ids.
        let (store, out, path, ids) = unsafe {
            (
                raw::store(store)?,
                raw::out(out_messages, "out_messages")?,
                raw::path(path, path_len)?,
                raw::ids(conversations, conversations_len)?,
            )
        };
        let ids: Vec<ConversationId> = ids.iter().map(|&c| ConversationId::from_raw(c)).collect();
        let chosen = (!ids.is_empty()).then_some(ids.as_slice());
        out.write(store.export_json_lines_to_file(path, chosen, Plaintext::Accept)?);
        Ok(())
    })
}

/// Writes conversation `conversation` to `path` (UTF-8, `path_len` bytes)
/// as one self-contained HTML page, UNENCRYPTED, with the content of its
/// attachments in a directory beside it (`<stem>_files`): for the user's
/// own explicit "export as a web page" only. The page and the directory
/// appear complete or not at all; an existing directory of that name is
/// never written into (the call fails and changes nothing). Writes how
/// many messages it lists to `*out_messages`.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `store` and `out_messages` are
/// NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export_html(
    store: *const chatvault_store,
    conversation: u64,
    path: *const c_char,
    path_len: usize,
    out_messages: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for `path_len` bytes.
        let (store, out, path) = unsafe {
            (raw::store(store)?, raw::out(out_messages, "out_messages")?, raw::path(path, path_len)?)
        };
        let c = ConversationId::from_raw(conversation);
        out.write(store.export_html_to_file(c, path, Plaintext::Accept)?);
        Ok(())
    })
}

/// The C report of an HTML export to files.
fn html_report(e: &chatvault::HtmlExport) -> chatvault_html_report {
    chatvault_html_report {
        struct_size: 0,
        conversations: e.conversations,
        messages: e.messages,
        pages: e.pages.len() as u64,
        has_index: u8::from(e.index.is_some()),
        attachment_dirs: e.attachment_dirs.len() as u64,
    }
}

/// `chatvault_store_export_html` with `options` (NULL: the defaults, but
/// no existing page replaced): a conversation longer than
/// `messages_per_page` is split into pages (`chat.html`, `chat-2.html`, ...),
/// times shown in the zone given, the user's own messages told apart.
/// UNENCRYPTED, for the user's explicit choice only; complete or not at
/// all. Writes what it wrote to `*out`.
///
/// # Safety
/// `path` is valid for `path_len` bytes; `store`, `options` and `out` are
/// NULL or valid (`out->struct_size` set), the texts in `options` valid
/// for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export_html_with(
    store: *const chatvault_store,
    conversation: u64,
    path: *const c_char,
    path_len: usize,
    options: *const chatvault_html_options,
    out: *mut chatvault_html_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `path` for
        // `path_len` bytes, the texts in `options` for their lengths.
        let (store, out, path, options) = unsafe {
            (
                raw::store(store)?,
                raw::out_struct(out, "out")?,
                raw::path(path, path_len)?,
                raw::html_options(options)?,
            )
        };
        let c = ConversationId::from_raw(conversation);
        let e = store.export_html_to_file_with(c, path, &options, Plaintext::Accept)?;
        out.write(html_report(&e));
        Ok(())
    })
}

/// Writes conversations as HTML pages into the directory `dir` (UTF-8,
/// `dir_len` bytes; made if missing), UNENCRYPTED, with an index page
/// (`dir/index.html`) linking each conversation's first page; pages are
/// `dir/conversation-N.html` (`-2`, `-3`, ... when split), attachments in
/// `dir/conversation-N_files/`. `conversations` lists `conversations_len`
/// ids in the index's order; 0 exports every conversation. `options` as
/// `chatvault_store_export_html_with`. Complete or not at all. Writes
/// what it wrote to `*out`.
///
/// # Safety
/// `dir` is valid for `dir_len` bytes and `conversations` for
/// `conversations_len` ids; `store`, `options` and `out` are NULL or valid
/// (`out->struct_size` set).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_export_html_dir(
    store: *const chatvault_store,
    dir: *const c_char,
    dir_len: usize,
    conversations: *const u64,
    conversations_len: usize,
    options: *const chatvault_html_options,
    out: *mut chatvault_html_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `dir` for
        // `dir_len` bytes, `conversations` for `conversations_len` ids.
        let (store, out, dir, ids, options) = unsafe {
            (
                raw::store(store)?,
                raw::out_struct(out, "out")?,
                raw::path(dir, dir_len)?,
                raw::ids(conversations, conversations_len)?,
                raw::html_options(options)?,
            )
        };
        let ids: Vec<ConversationId> = ids.iter().map(|&c| ConversationId::from_raw(c)).collect();
        let chosen = (!ids.is_empty()).then_some(ids.as_slice());
        let e = store.export_html_to_dir(dir, chosen, &options, Plaintext::Accept)?;
        out.write(html_report(&e));
        Ok(())
    })
}
