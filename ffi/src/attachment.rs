//! Attachments (docs/ATTACHMENTS.md): streaming writes, ranged reads,
//! metadata and the gallery, deletion, and the storage manager (clearing
//! by filter, usage by conversation).
//!
//! A writer borrows its store: the writer handle keeps a count of the
//! store handle's `Store`, and `chatvault_store_close` refuses while any is
//! held (`CHATVAULT_STATUS_STORE_IN_USE`), so no writer outlives its store.
//! A reader owns everything it reads and needs no store at all.

use std::ffi::c_char;

use chatvault::{AttachmentId, AttachmentPage, ConversationId, MessageId};
use zeroize::Zeroize;

use crate::raw;
use crate::status::{Failure, chatvault_status, guard};
use crate::types::{
    chatvault_attachment, chatvault_attachment_filter, chatvault_attachment_list,
    chatvault_attachment_reader, chatvault_attachment_writer, chatvault_clear_report, chatvault_message_id,
    chatvault_new_attachment, chatvault_storage_usage_list, chatvault_store,
};

fn message(m: chatvault_message_id) -> MessageId {
    MessageId::new(ConversationId::from_raw(m.conversation), m.seq)
}

/// Starts writing an attachment of message `message` and writes the
/// writer's handle to `*out`. Write the content with
/// `chatvault_attachment_write`, in pieces of any size, then store it with
/// `chatvault_attachment_finish`, or drop it with
/// `chatvault_attachment_abort`. Memory stays at one 64 KiB chunk whatever
/// the size; content past 64 KiB goes to a file beside the store
/// (`<store path>-attachments/`), sealed chunk by chunk, and is synced
/// before the attachment is stored.
///
/// The writer keeps the store open: `chatvault_store_close` fails with
/// `CHATVAULT_STATUS_STORE_IN_USE` (and closes nothing) until every writer
/// made from the handle is finished or aborted. Other calls on the store
/// go on meanwhile, from any thread.
///
/// Fails with `CHATVAULT_STATUS_NOT_FOUND` if the conversation does not
/// exist (the message itself is checked by `chatvault_attachment_finish`),
/// and `CHATVAULT_STATUS_TOO_LARGE` if the media type, file name and app
/// data together pass 64 KiB.
///
/// # Safety
/// `store`, `attachment` and `out` are NULL or valid; every pointer in
/// `attachment` is NULL or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_begin(
    store: *const chatvault_store,
    message: chatvault_message_id,
    attachment: *const chatvault_new_attachment,
    out: *mut *mut chatvault_attachment_writer,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid for their lengths.
        let (store, out, new) =
            unsafe { (raw::shared_store(store)?, raw::out(out, "out")?, raw::new_attachment(attachment)?) };
        let writer = chatvault_attachment_writer::begin(store, self::message(message), new)?;
        out.write(raw::handle_out(writer));
        Ok(())
    })
}

/// Appends `len` bytes at `data` to the attachment's content (`data` may be
/// NULL when `len` is 0).
///
/// A failure other than `CHATVAULT_STATUS_NULL_ARGUMENT` or
/// `CHATVAULT_STATUS_TOO_LARGE` (content past the limit of 64 GiB, refused
/// before anything is written) ends the writer: what it wrote is removed,
/// and every later write, and `chatvault_attachment_finish`, fails with the
/// same status. It still has to be freed (finish or abort).
///
/// # Safety
/// `writer` is NULL or a live writer handle; `data` is NULL or valid for
/// `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_write(
    writer: *mut chatvault_attachment_writer,
    data: *const u8,
    len: usize,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: `writer` NULL or live, `data` valid for `len` bytes.
        let (writer, data) =
            unsafe { (raw::arg(writer.cast_const(), "writer")?, raw::data(data, len, "data")?) };
        writer.write(data)
    })
}

/// Stores the attachment and writes its id to `*out_id`: pads and seals the
/// last chunk, syncs the file, then stores the attachment's row and sealed
/// metadata in one transaction. It is readable and listed from then on.
///
/// The writer is freed whatever the status, even
/// `CHATVAULT_STATUS_NULL_ARGUMENT` for a NULL `out_id`; on failure nothing
/// is stored and what was written is removed. Fails with
/// `CHATVAULT_STATUS_NOT_FOUND` if the message does not exist (or expired,
/// or was deleted meanwhile), and with the status of an earlier write that
/// failed.
///
/// # Safety
/// `writer` is NULL or a live writer handle that no other thread is using,
/// not used again; `out_id` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_finish(
    writer: *mut chatvault_attachment_writer,
    out_id: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: NULL or a live handle, not used again.
        let writer = unsafe { raw::handle_take(writer) }.ok_or_else(|| Failure::null("writer"))?;
        // SAFETY: the caller's promise: NULL or valid. Checked after the
        // writer is taken, so it is freed whatever this says.
        let out_id = unsafe { raw::out(out_id, "out_id") }?;
        out_id.write(writer.finish()?.get());
        Ok(())
    })
}

/// Frees a writer without storing anything: what it wrote is removed.
/// NULL does nothing.
///
/// # Safety
/// `writer` is NULL or a live writer handle that no other thread is using,
/// and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_abort(writer: *mut chatvault_attachment_writer) {
    guard(|| {
        // SAFETY: the caller's promise.
        drop(unsafe { raw::handle_take(writer) });
        Ok(())
    });
}

/// Opens attachment `id`'s content for reading and writes the reader's
/// handle to `*out`; close it with `chatvault_attachment_close`.
///
/// The reader owns what it needs (the content's key, an open file or the
/// bytes): it does not keep the store open, and keeps working after the
/// store is closed or the attachment deleted (as an open file does), so
/// close readers when the user deletes what they show. Fails with
/// `CHATVAULT_STATUS_NOT_FOUND` if the attachment does not exist, its
/// message expired, or its content was removed.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_open(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_attachment_reader,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let reader = store.open_attachment(AttachmentId::from_raw(id))?;
        out.write(raw::handle_out(chatvault_attachment_reader::new(reader)));
        Ok(())
    })
}

/// Writes the length of the reader's content, in bytes, to `*out_len`.
///
/// # Safety
/// `reader` is NULL or a live reader handle; `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_length(
    reader: *const chatvault_attachment_reader,
    out_len: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (reader, out_len) = unsafe { (raw::arg(reader, "reader")?, raw::out(out_len, "out_len")?) };
        out_len.write(reader.lock().len());
        Ok(())
    })
}

/// Writes to `*out` how many chunks `reader` has decrypted so far: a read
/// decrypts only the chunks its range spans, and none the reader decrypted
/// last (a test of how much work a read costs, or a cache's).
///
/// # Safety
/// `reader` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_chunks_decrypted(
    reader: *const chatvault_attachment_reader,
    out: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (reader, out) = unsafe { (raw::arg(reader, "reader")?, raw::out(out, "out")?) };
        out.write(reader.lock().chunks_decrypted());
        Ok(())
    })
}

/// Reads the content from byte `offset` into `buf`, filling it: writes
/// `min(cap, length - offset)` bytes and that count to `*out_n` (0 at or
/// past the end). Only the 64 KiB chunks the range spans are read and
/// decrypted, each authenticated on its own.
///
/// A chunk that fails authentication (the file was modified, cut, or
/// swapped) fails the call with `CHATVAULT_STATUS_AUTHENTICATION_FAILED`
/// and never gives its bytes: on any failure `*out_n` is left untouched
/// and the bytes of `buf` the call would have filled are zeroed, even
/// those of chunks that did authenticate. A reader may be used from several
/// threads at once; their reads are serialised.
///
/// # Safety
/// `reader` is NULL or a live reader handle; `buf` is NULL (only when `cap`
/// is 0) or valid for writes of `cap` bytes; `out_n` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_read_at(
    reader: *const chatvault_attachment_reader,
    offset: u64,
    buf: *mut u8,
    cap: usize,
    out_n: *mut usize,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `buf` for `cap` bytes.
        let (reader, out_n, buf) = unsafe {
            (raw::arg(reader, "reader")?, raw::out(out_n, "out_n")?, raw::out_buffer(buf, cap, "buf")?)
        };
        let mut reader = reader.lock();
        let left = reader.len().saturating_sub(offset);
        let n = usize::try_from(left).map_or(buf.cap(), |left| left.min(buf.cap()));
        let buf = buf.zeroed(n);
        let mut done = 0;
        while done < n {
            match reader.read_at(offset + done as u64, &mut buf[done..]) {
                Ok(0) => break,
                Ok(k) => done += k,
                Err(e) => {
                    buf.zeroize();
                    return Err(e.into());
                }
            }
        }
        out_n.write(done);
        Ok(())
    })
}

/// Closes a reader; NULL does nothing.
///
/// # Safety
/// `reader` is NULL or a live reader handle that no other thread is using,
/// and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_close(reader: *mut chatvault_attachment_reader) {
    guard(|| {
        // SAFETY: the caller's promise.
        drop(unsafe { raw::handle_take(reader) });
        Ok(())
    });
}

/// Writes attachment `id`'s metadata to `*out`; free it with
/// `chatvault_attachment_free`. An attachment whose content was removed is
/// found, with `removed_at_ms` set; one whose message expired is not.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_get(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_attachment,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let a = store.attachment(AttachmentId::from_raw(id))?;
        out.write(raw::attachment_out(&a));
        Ok(())
    })
}

/// Frees what `chatvault_attachment_get` returned; NULL does nothing. Never
/// pass it an attachment inside a list.
///
/// # Safety
/// `attachment` is NULL or came from `chatvault_attachment_get`, and is not
/// used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_free(attachment: *mut chatvault_attachment) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::attachment_free(attachment) };
        Ok(())
    });
}

/// Writes message `message`'s attachments, in the order they were written,
/// to `*out`; free the list with `chatvault_attachment_list_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_attachments(
    store: *const chatvault_store,
    message: chatvault_message_id,
    out: *mut *mut chatvault_attachment_list,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let list = store.message_attachments(self::message(message))?;
        out.write(raw::attachment_list_out(&list));
        Ok(())
    })
}

/// Writes a page of conversation `conversation`'s attachments to `*out`,
/// newest message first (a chat's media gallery); free it with
/// `chatvault_attachment_list_free`. At most `limit` (0: all of them);
/// only media types starting with `media_type_prefix` (UTF-8,
/// `media_type_prefix_len` bytes; NULL with length 0 for any), e.g.
/// "image/"; and, if `has_before` is 1, only those listed after attachment
/// `before` (the last item of the previous page; `has_before` 0 for the
/// first page).
///
/// Fails with `CHATVAULT_STATUS_NOT_FOUND` for an unknown conversation or
/// `before`, and `CHATVAULT_STATUS_INVALID_ARGUMENT` if `before` is in
/// another conversation.
///
/// # Safety
/// `media_type_prefix` is NULL (with length 0) or valid for
/// `media_type_prefix_len` bytes; `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachments(
    store: *const chatvault_store,
    conversation: u64,
    limit: usize,
    media_type_prefix: *const c_char,
    media_type_prefix_len: usize,
    has_before: u8,
    before: u64,
    out: *mut *mut chatvault_attachment_list,
) -> chatvault_status {
    guard(|| {
        let has_before = raw::flag(has_before, "has_before")?;
        // SAFETY: the caller's promise: pointers NULL or valid, the prefix
        // for its length.
        let (store, out, prefix) = unsafe {
            (
                raw::store(store)?,
                raw::out(out, "out")?,
                raw::optional_text_arg(media_type_prefix, media_type_prefix_len, "media_type_prefix")?,
            )
        };
        let mut page = AttachmentPage::newest(if limit == 0 { usize::MAX } else { limit });
        if let Some(prefix) = prefix {
            page = page.media_type(prefix);
        }
        if has_before {
            page = page.before(AttachmentId::from_raw(before));
        }
        let list = store.attachments(ConversationId::from_raw(conversation), page)?;
        out.write(raw::attachment_list_out(&list));
        Ok(())
    })
}

/// Frees what `chatvault_message_attachments` or `chatvault_attachments`
/// returned; NULL does nothing.
///
/// # Safety
/// `list` is NULL or came from one of those functions, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_list_free(list: *mut chatvault_attachment_list) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::attachment_list_free(list) };
        Ok(())
    });
}

/// Deletes an attachment, keeping its message: its row is scrubbed from
/// the file and the write-ahead log, and its file removed, before this
/// returns. (Deleting a message or a conversation deletes its attachments
/// the same way.) Readers open on it keep working until closed.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_delete(
    store: *const chatvault_store,
    id: u64,
) -> chatvault_status {
    // SAFETY: the caller's promise: NULL or a live handle.
    guard(|| Ok(unsafe { raw::store(store) }?.delete_attachment(AttachmentId::from_raw(id))?))
}

/// The storage manager: removes the content of every attachment `filter`
/// matches, keeping its message and its metadata (with `removed_at_ms`
/// set, so the chat can show what was there), and writes what it removed
/// to `*out`. Files are removed and rows scrubbed before this returns.
/// A filter with every flag 0 clears every attachment in the store.
///
/// # Safety
/// `store`, `filter` and `out` are NULL or valid; the prefix in `filter` is
/// NULL (with length 0) or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_clear_attachments(
    store: *const chatvault_store,
    filter: *const chatvault_attachment_filter,
    out: *mut chatvault_clear_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, the prefix for its length.
        let (store, out, filter) =
            unsafe { (raw::store(store)?, raw::out_struct(out, "out")?, raw::attachment_filter(filter)?) };
        let r = store.clear_attachments(&filter)?;
        out.write(chatvault_clear_report { struct_size: 0, attachments: r.attachments, bytes: r.bytes });
        Ok(())
    })
}

/// Writes what each conversation takes on disk, text and attachments
/// apart, largest first (the storage-management screen), to `*out`; free
/// it with `chatvault_storage_usage_free`. Nothing is decrypted.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_storage_usage(
    store: *const chatvault_store,
    out: *mut *mut chatvault_storage_usage_list,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let usage = store.storage_usage()?;
        out.write(raw::storage_usage_out(&usage));
        Ok(())
    })
}

/// Frees what `chatvault_storage_usage` returned; NULL does nothing.
///
/// # Safety
/// `usage` is NULL or came from `chatvault_storage_usage`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_storage_usage_free(usage: *mut chatvault_storage_usage_list) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::storage_usage_free(usage) };
        Ok(())
    });
}
