//! Conversations: create, find, get, list, update, rotate keys, delete.

use std::ffi::c_char;

use chatvault::ConversationId;

use crate::raw;
use crate::status::{Failure, chatvault_status, guard};
use crate::types::chatvault_store;
use crate::types::{
    chatvault_conversation, chatvault_conversation_changes, chatvault_conversation_list,
    chatvault_new_conversation,
};

/// Creates a conversation with a fresh key and writes its id to `*out_id`.
///
/// Fails with `CHATVAULT_STATUS_CONVERSATION_EXISTS` if one has the same
/// external id (find it with `chatvault_conversation_find`).
///
/// # Safety
/// `store`, `conversation` and `out_id` are NULL or valid; every pointer in
/// `conversation` is NULL or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_create(
    store: *const chatvault_store,
    conversation: *const chatvault_new_conversation,
    out_id: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid for their lengths.
        let (store, out_id, new) = unsafe {
            (raw::store(store)?, raw::out(out_id, "out_id")?, raw::new_conversation(conversation)?)
        };
        out_id.write(store.create_conversation(new)?.get());
        Ok(())
    })
}

/// Finds the conversation with the app's `external_id` (UTF-8,
/// `external_id_len` bytes) and writes its id to `*out_id`;
/// `CHATVAULT_STATUS_NOT_FOUND` if there is none.
///
/// # Safety
/// `external_id` is valid for `external_id_len` bytes; `store` and `out_id`
/// are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_find(
    store: *const chatvault_store,
    external_id: *const c_char,
    external_id_len: usize,
    out_id: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, `external_id`
        // for `external_id_len` bytes.
        let (store, out_id, external_id) = unsafe {
            (
                raw::store(store)?,
                raw::out(out_id, "out_id")?,
                raw::text(external_id, external_id_len, "external_id")?,
            )
        };
        let found = store.find_conversation(external_id)?.ok_or_else(|| {
            Failure::new(chatvault_status::NotFound, "no conversation has this external id")
        })?;
        out_id.write(found.get());
        Ok(())
    })
}

/// Writes conversation `id`'s metadata to `*out`; free it with
/// `chatvault_conversation_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_get(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_conversation,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let c = store.conversation(ConversationId::from_raw(id))?;
        out.write(raw::conversation_out(&c));
        Ok(())
    })
}

/// Frees what `chatvault_conversation_get` returned; NULL does nothing.
///
/// # Safety
/// `conversation` is NULL or came from `chatvault_conversation_get`, and is
/// not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_free(conversation: *mut chatvault_conversation) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::conversation_free(conversation) };
        Ok(())
    });
}

/// Writes the conversation list to `*out`: the `limit` most recently active
/// conversations (all of them if `limit` is 0), each with its newest
/// message and unread count. Free it with `chatvault_conversation_list_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_list_get(
    store: *const chatvault_store,
    limit: usize,
    out: *mut *mut chatvault_conversation_list,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let list = if limit == 0 { store.conversations()? } else { store.recent_conversations(limit)? };
        out.write(raw::conversation_list_out(&list));
        Ok(())
    })
}

/// Frees what `chatvault_conversation_list_get` returned; NULL does nothing.
///
/// # Safety
/// `list` is NULL or came from `chatvault_conversation_list_get`, and is not
/// used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_list_free(list: *mut chatvault_conversation_list) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::conversation_list_free(list) };
        Ok(())
    });
}

/// Changes a conversation's title, members, app data or retention (each
/// `has_*` flag of `update` says whether to change its field), in one
/// transaction. A new retention applies to messages appended from then on.
///
/// # Safety
/// `store` and `update` are NULL or valid; every pointer in `update` is
/// NULL or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_update(
    store: *const chatvault_store,
    id: u64,
    update: *const chatvault_conversation_changes,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid for their lengths.
        let (store, update) = unsafe { (raw::store(store)?, raw::conversation_update(update)?) };
        Ok(store.update_conversation(ConversationId::from_raw(id), update)?)
    })
}

/// Starts a new key epoch in conversation `id`: messages appended from now
/// on are sealed under a fresh key, and the next compaction reseals older
/// ones and destroys the old keys (SECURITY.md). Writes the new epoch to
/// `*out_epoch`.
///
/// # Safety
/// `store` and `out_epoch` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_rotate_key(
    store: *const chatvault_store,
    id: u64,
    out_epoch: *mut u32,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out_epoch, "out_epoch")?) };
        out.write(store.rotate_conversation_key(ConversationId::from_raw(id))?.get());
        Ok(())
    })
}

/// `chatvault_conversation_rotate_key` for every conversation, in one
/// transaction; writes how many were rotated to `*out_count`.
///
/// # Safety
/// `store` and `out_count` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_store_rotate_all_keys(
    store: *const chatvault_store,
    out_count: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out_count, "out_count")?) };
        out.write(store.rotate_all_keys()?);
        Ok(())
    })
}

/// Deletes a conversation: its key is destroyed and its messages are
/// scrubbed from the file and the write-ahead log before this returns.
///
/// # Safety
/// `store` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_delete(
    store: *const chatvault_store,
    id: u64,
) -> chatvault_status {
    // SAFETY: the caller's promise: NULL or a live handle.
    guard(|| Ok(unsafe { raw::store(store) }?.delete_conversation(ConversationId::from_raw(id))?))
}
