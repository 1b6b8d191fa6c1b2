//! Messages: append, batch append, pages, get, edit, delete, mark read.

use std::ffi::c_char;

use chatvault::{ConversationId, MessageId, Page};

use crate::raw::{self, message_id};
use crate::status::{chatvault_status, guard};
use crate::types::chatvault_store;
use crate::types::{
    chatvault_batch_entry, chatvault_message, chatvault_message_id, chatvault_message_page,
    chatvault_new_message, chatvault_str,
};

fn id(m: chatvault_message_id) -> MessageId {
    MessageId::new(ConversationId::from_raw(m.conversation), m.seq)
}

/// Appends a message to conversation `conversation` and writes its id to
/// `*out_id`. If the message's external id is already in the conversation,
/// writes that message's id and stores nothing.
///
/// # Safety
/// `store`, `message` and `out_id` are NULL or valid; every pointer in
/// `message` is NULL or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_append(
    store: *const chatvault_store,
    conversation: u64,
    message: *const chatvault_new_message,
    out_id: *mut chatvault_message_id,
) -> chatvault_status {
    guard(|| {
        let c = ConversationId::from_raw(conversation);
        // SAFETY: the caller's promise: pointers NULL or valid for their lengths.
        let (store, out_id, new) =
            unsafe { (raw::store(store)?, raw::out(out_id, "out_id")?, raw::new_message(c, message)?) };
        out_id.write(message_id(store.append(c, new)?));
        Ok(())
    })
}

/// Appends `len` messages, to any conversations, in one transaction: all or
/// none are stored. Writes their ids, in input order, to `out_ids`, which
/// has room for `len`.
///
/// # Safety
/// `entries` is valid for `len` entries (every pointer in them NULL or
/// valid for its length) and `out_ids` for `len` ids; `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_append_batch(
    store: *const chatvault_store,
    entries: *const chatvault_batch_entry,
    len: usize,
    out_ids: *mut chatvault_message_id,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: `entries` valid for `len` entries
        // (their pointers NULL or valid for their lengths), `out_ids` for
        // `len` ids, `store` NULL or valid.
        let (store, out_ids, batch) = unsafe {
            (raw::store(store)?, raw::out_array(out_ids, len, "out_ids")?, raw::batch(entries, len)?)
        };
        let ids: Vec<chatvault_message_id> =
            store.append_batch(&batch)?.into_iter().map(message_id).collect();
        out_ids.write(&ids);
        Ok(())
    })
}

/// # Safety
/// As the `chatvault_message_page_*` functions.
unsafe fn page(
    store: *const chatvault_store,
    c: u64,
    page: Page,
    out: *mut *mut chatvault_message_page,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let messages = store.messages(ConversationId::from_raw(c), page)?;
        out.write(raw::page_out(&messages));
        Ok(())
    })
}

/// Writes the newest `limit` messages of `conversation`, oldest first, to
/// `*out`; free the page with `chatvault_message_page_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_page_latest(
    store: *const chatvault_store,
    conversation: u64,
    limit: usize,
    out: *mut *mut chatvault_message_page,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { page(store, conversation, Page::latest(limit), out) }
}

/// Writes the oldest `limit` messages of `conversation` to `*out`; free the
/// page with `chatvault_message_page_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_page_oldest(
    store: *const chatvault_store,
    conversation: u64,
    limit: usize,
    out: *mut *mut chatvault_message_page,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { page(store, conversation, Page::oldest(limit), out) }
}

/// Writes up to `limit` messages just before `before` (which need not still
/// exist), oldest first, to `*out`; free the page with
/// `chatvault_message_page_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_page_before(
    store: *const chatvault_store,
    before: chatvault_message_id,
    limit: usize,
    out: *mut *mut chatvault_message_page,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { page(store, before.conversation, Page::before(id(before), limit), out) }
}

/// Writes up to `limit` messages just after `after` (which need not still
/// exist), oldest first, to `*out`; free the page with
/// `chatvault_message_page_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_page_after(
    store: *const chatvault_store,
    after: chatvault_message_id,
    limit: usize,
    out: *mut *mut chatvault_message_page,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { page(store, after.conversation, Page::after(id(after), limit), out) }
}

/// Frees a page; NULL does nothing. Its messages must not be used afterwards.
///
/// # Safety
/// `page` is NULL or came from a `chatvault_message_page_*` function, and is
/// not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_page_free(page: *mut chatvault_message_page) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::page_free(page) };
        Ok(())
    });
}

/// Writes message `id` to `*out`; free it with `chatvault_message_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_get(
    store: *const chatvault_store,
    id: chatvault_message_id,
    out: *mut *mut chatvault_message,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let m = store.message(self::id(id))?;
        out.write(raw::message_out(&m));
        Ok(())
    })
}

/// Frees what `chatvault_message_get` returned; NULL does nothing. Never
/// pass it a message inside a page or a conversation list.
///
/// # Safety
/// `message` is NULL or came from `chatvault_message_get`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_free(message: *mut chatvault_message) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::message_free(message) };
        Ok(())
    });
}

/// Replaces a message's text (UTF-8, `text_len` bytes) and stamps it edited.
/// The old text is scrubbed from the file and the write-ahead log.
///
/// # Safety
/// `text` is valid for `text_len` bytes (or NULL when it is 0); `store` is
/// NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_edit(
    store: *const chatvault_store,
    id: chatvault_message_id,
    text: *const c_char,
    text_len: usize,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: `store` NULL or valid, `text` valid for `text_len` bytes.
        let (store, text) = unsafe { (raw::store(store)?, raw::text(text, text_len, "text")?) };
        Ok(store.edit_message(self::id(id), text)?)
    })
}

/// Deletes a message; its content is scrubbed from the file and the
/// write-ahead log before this returns.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_delete(
    store: *const chatvault_store,
    id: chatvault_message_id,
) -> chatvault_status {
    // SAFETY: the caller's promise: NULL or a live handle.
    guard(|| Ok(unsafe { raw::store(store) }?.delete_message(self::id(id))?))
}

/// Edits `count` messages in one transaction with one scrub: message
/// `ids[i]` gets text `texts[i]` (UTF-8). All change or none: a missing or
/// expired message fails the call with `CHATVAULT_STATUS_NOT_FOUND`, a
/// message named twice with `CHATVAULT_STATUS_INVALID_ARGUMENT`, a text
/// that would make its message too large with `CHATVAULT_STATUS_TOO_LARGE`,
/// and nothing is edited.
/// The old texts are scrubbed from the file and the write-ahead log before
/// this returns.
///
/// # Safety
/// `ids` and `texts` are NULL (only when `count` is 0) or valid for `count`
/// elements, each text valid for its length; `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_messages_edit(
    store: *const chatvault_store,
    ids: *const chatvault_message_id,
    texts: *const chatvault_str,
    count: usize,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: `store` NULL or valid, the arrays valid for `count` elements.
        let (store, ids, texts) = unsafe {
            (raw::store(store)?, raw::message_ids(ids, count)?, raw::texts(texts, count, "texts")?)
        };
        let edits: Vec<(MessageId, &str)> = ids.into_iter().zip(texts).collect();
        Ok(store.edit_messages(&edits)?)
    })
}

/// Deletes `count` messages in one transaction with one scrub: all or none
/// (a missing or expired message fails the call with
/// `CHATVAULT_STATUS_NOT_FOUND` and deletes nothing); a message named twice
/// is deleted once. Their content
/// is scrubbed from the file and the write-ahead log before this returns.
///
/// # Safety
/// `ids` is NULL (only when `count` is 0) or valid for `count` elements;
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_messages_delete(
    store: *const chatvault_store,
    ids: *const chatvault_message_id,
    count: usize,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: `store` NULL or valid, `ids` valid for `count` elements.
        let (store, ids) = unsafe { (raw::store(store)?, raw::message_ids(ids, count)?) };
        Ok(store.delete_messages(&ids)?)
    })
}

/// Marks message `id`, and every earlier one in its conversation, read.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_mark_read(
    store: *const chatvault_store,
    id: chatvault_message_id,
) -> chatvault_status {
    guard(|| {
        let id = self::id(id);
        // SAFETY: the caller's promise: NULL or a live handle.
        Ok(unsafe { raw::store(store) }?.mark_read(id.conversation(), id)?)
    })
}
