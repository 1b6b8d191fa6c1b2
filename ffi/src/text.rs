//! The library's plaintext shapes, for an app that shows or shares what it
//! holds: a message, conversation or attachment as the JSON object of
//! docs/EXPORT.md, a time as RFC 3339, an attachment's safe file name.
//! Each is a `chatvault_text` the caller frees.

use chatvault::{AttachmentId, ConversationId, MessageId, Plaintext};

use crate::raw;
use crate::status::{chatvault_status, guard};
use crate::types::{chatvault_message_id, chatvault_store, chatvault_text};

/// Writes `ms` (milliseconds since the Unix epoch) as RFC 3339 in UTC with
/// milliseconds, e.g. "2023-11-14T22:13:20.123Z", to `*out`, as every
/// export writes times; years before 0 or after 9999 are clamped. Free it
/// with `chatvault_text_free`.
///
/// # Safety
/// `out` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_rfc3339(ms: i64, out: *mut *mut chatvault_text) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: NULL or valid.
        let out = unsafe { raw::out(out, "out")? };
        out.write(raw::text_out(&Plaintext::rfc3339_ms(ms)));
        Ok(())
    })
}

/// Writes message `id` as one JSON object (a line of the JSON Lines
/// export, docs/EXPORT.md) to `*out`. With `with_attachments` 1 it has an
/// `attachments` array (the message's attachments' metadata, empty if
/// none); with 0, no `attachments` key. Free it with `chatvault_text_free`.
/// It holds the message's text unencrypted: show or share it only as the
/// user asked.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_message_json(
    store: *const chatvault_store,
    id: chatvault_message_id,
    with_attachments: u8,
    out: *mut *mut chatvault_text,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let with_attachments = raw::flag(with_attachments, "with_attachments")?;
        let id = MessageId::new(ConversationId::from_raw(id.conversation), id.seq);
        let m = store.message(id)?;
        let attachments = if with_attachments { Some(store.message_attachments(id)?) } else { None };
        out.write(raw::text_out(&m.to_json(attachments.as_deref())));
        Ok(())
    })
}

/// Writes conversation `id` as one JSON object (docs/EXPORT.md; its
/// `app_data` left out) to `*out`. Free it with `chatvault_text_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_conversation_json(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_text,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { store_text(store, out, |store| Ok(store.conversation(ConversationId::from_raw(id))?.to_json())) }
}

/// Writes attachment `id`'s metadata as one JSON object (docs/EXPORT.md;
/// its `app_data` and content left out) to `*out`. Free it with
/// `chatvault_text_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_json(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_text,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe { store_text(store, out, |store| Ok(store.attachment(AttachmentId::from_raw(id))?.to_json())) }
}

/// Writes the name under which attachment `id` is safe to save on disk to
/// `*out`, by the exports' rule: its file name with every character but
/// letters, digits, `-`, `_` and `.` replaced by `_` (so no directory
/// part), or `attachment-<id>.<ext>` from its media type when it has none.
/// Free it with `chatvault_text_free`.
///
/// # Safety
/// `store` and `out` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_attachment_file_name(
    store: *const chatvault_store,
    id: u64,
    out: *mut *mut chatvault_text,
) -> chatvault_status {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        store_text(store, out, |store| Ok(store.attachment(AttachmentId::from_raw(id))?.file_name_for_disk()))
    }
}

/// Writes the text `make` draws from the store to `*out`: the one body of
/// the functions above that read one item and show it.
///
/// # Safety
/// `store` and `out` are NULL or valid.
unsafe fn store_text(
    store: *const chatvault_store,
    out: *mut *mut chatvault_text,
    make: impl FnOnce(&chatvault::Store) -> chatvault::Result<String>,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out, "out")?) };
        let text = make(store)?;
        out.write(raw::text_out(&text));
        Ok(())
    })
}

/// Frees a text; NULL does nothing.
///
/// # Safety
/// `text` is NULL or came from a function of this library that returns a
/// `chatvault_text`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_text_free(text: *mut chatvault_text) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::text_free(text) };
        Ok(())
    });
}
