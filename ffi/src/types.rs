//! The `#[repr(C)]` values that cross the boundary, and the opaque handles.
//! Inputs are read by `raw`; outputs are built by `raw` and freed by the
//! `chatvault_*_free` functions. No field is a Rust enum: numbers from C
//! are checked, never transmuted; the enums here give C their names.
//!
//! Every struct but the small fixed values (`chatvault_str`,
//! `chatvault_bytes`, `chatvault_key`, `chatvault_message_id`,
//! `chatvault_search_cursor`, `chatvault_match_range`) begins with
//! `struct_size` and only ever gains fields at its end (`abi`). A struct
//! never holds another versioned struct by value, only by pointer, so
//! that one growing never moves the fields of another.
//!
//! The handles: a store (its `Store` shared with the attachment writers
//! made from it, so that closing it can tell whether any is open), an
//! attachment writer (which borrows that `Store`, kept alive beside it),
//! and an attachment reader (which owns everything it reads).

use std::ffi::{c_char, c_void};
use std::mem::offset_of;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatvault::{AttachmentId, AttachmentReader, AttachmentWriter, MessageId, NewAttachment, Store};

use crate::abi::Versioned;
use crate::status::Failure;

/// UTF-8 text with an explicit length in bytes.
///
/// As an input it need not be NUL-terminated; `ptr` may be NULL only when
/// `len` is 0: the empty text, or "none" in fields documented as optional
/// (NULL with a nonzero length is `CHATVAULT_STATUS_NULL_ARGUMENT`).
///
/// As an output it is NUL-terminated (at `ptr[len]`) as well, but the text
/// itself may contain NUL bytes: `len` is the truth. An optional output that
/// is absent has `ptr` NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_str {
    /// The first byte.
    pub ptr: *const c_char,
    /// The number of bytes, not counting any NUL terminator.
    pub len: usize,
}

impl chatvault_str {
    pub(crate) const NONE: chatvault_str = chatvault_str { ptr: std::ptr::null(), len: 0 };
}

/// An open store. Create one with `chatvault_store_create` or
/// `chatvault_store_open`, close it with `chatvault_store_close`.
///
/// A store handle may be used from several threads at once: writes are
/// serialised inside the library and reads run in parallel. It must not be
/// closed while another call on it is running, and cannot be while an
/// attachment writer made from it is open (`CHATVAULT_STATUS_STORE_IN_USE`).
pub struct chatvault_store {
    /// Shared only with the attachment writers made from this handle: one
    /// count per open writer.
    pub(crate) store: Arc<Store>,
    /// The path it was opened at, NUL-terminated, for `chatvault_store_path`.
    pub(crate) path: std::ffi::CString,
}

/// Bytes with an explicit length; `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_bytes {
    /// The first byte.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

impl chatvault_bytes {
    pub(crate) const NONE: chatvault_bytes = chatvault_bytes { ptr: std::ptr::null(), len: 0 };
}

/// How the bytes of a `chatvault_key` are to be read.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum chatvault_key_kind {
    /// 32 raw key bytes, kept by the app in the iOS Keychain or Android
    /// Keystore. No key derivation runs. Recommended.
    Raw = 1,
    /// A UTF-8 passphrase, stretched with Argon2id (19 MiB, 2 passes) when a
    /// store or archive is created: opening takes a noticeable fraction of a
    /// second.
    Passphrase = 2,
}

/// A store or archive key: `kind` is a `chatvault_key_kind`. A fixed
/// layout (no `struct_size`): a new way to give a key is a new kind.
///
/// The library copies the key into memory it wipes after use; wipe your
/// own copy once the call returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_key {
    /// `CHATVAULT_KEY_KIND_RAW` or `CHATVAULT_KEY_KIND_PASSPHRASE`.
    pub kind: u32,
    /// The 32 key bytes, or the passphrase's UTF-8 bytes.
    pub bytes: *const u8,
    /// 32 for a raw key; the passphrase's length in bytes.
    pub len: usize,
}

/// What a progress callback returns: go on, or stop the operation, which
/// then fails with `CHATVAULT_STATUS_CANCELLED` (any value other than
/// `CHATVAULT_PROGRESS_CONTINUE` stops it).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum chatvault_progress {
    /// Go on.
    Continue = 0,
    /// Stop, cleanly: see each operation for what a stop leaves.
    Stop = 1,
}

/// When commits are durable (`chatvault_store_options.durability`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum chatvault_durability {
    /// Every commit is synced before it returns: an acknowledged write
    /// survives a crash of the app and of the device. The default.
    Full = 0,
    /// Commits survive a crash of the app; a power loss or OS crash may
    /// roll back the last few. Faster on slow flash.
    Normal = 1,
}

/// Settings for `chatvault_store_create_with` and `chatvault_store_open_with`.
/// Start from `CHATVAULT_INIT(chatvault_store_options)`: every field 0 is
/// the default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_store_options {
    /// `sizeof(chatvault_store_options)`.
    pub struct_size: u32,
    /// A `chatvault_durability`; `CHATVAULT_DURABILITY_FULL` (0) by default.
    pub durability: u32,
    /// 1: wait at most `busy_timeout_ms` for another process's lock before
    /// failing with `CHATVAULT_STATUS_BUSY`; 0: the default (5 seconds).
    pub has_busy_timeout: u8,
    /// Milliseconds.
    pub busy_timeout_ms: u64,
    /// 1: the database file never grows past `max_size_bytes` (rounded down
    /// to whole 4 KiB pages): a write that would need more fails with
    /// `CHATVAULT_STATUS_STORAGE_FULL` and changes nothing. 0: no limit.
    pub has_max_size: u8,
    /// Bytes.
    pub max_size_bytes: u64,
    /// 1: a passphrase store's header may ask for at most this much
    /// Argon2id work at open (below the library's ceiling, which is the
    /// default); a header asking for more fails with
    /// `CHATVAULT_STATUS_KDF_TOO_COSTLY`. For memory-tight app extensions.
    pub has_max_kdf: u8,
    /// KiB of memory.
    pub max_kdf_memory_kib: u32,
    /// Passes.
    pub max_kdf_iterations: u32,
    /// Lanes.
    pub max_kdf_parallelism: u32,
    /// Create only: the Argon2id cost of a passphrase `key` (NULL: the
    /// default, 19 MiB and 2 passes). Refused for a raw key, and by open
    /// (a store's header holds its own).
    pub kdf: *const chatvault_kdf_params,
    /// A clock for the store's timestamps (message expiry, `created_at`
    /// defaults, read marks), milliseconds since the Unix epoch; NULL: the
    /// system clock. Called with `clock_ctx` from whichever thread a call
    /// on the store runs on, possibly several at once: it must be
    /// thread-safe, must not call chatvault, and `clock_ctx` must stay
    /// valid until the store is closed.
    pub now_ms: chatvault_clock_fn,
    /// Passed to `now_ms`.
    pub clock_ctx: *mut c_void,
}

/// A store's clock: milliseconds since the Unix epoch.
pub type chatvault_clock_fn = Option<unsafe extern "C" fn(ctx: *mut c_void) -> i64>;

/// Argon2id cost parameters, for a new passphrase (a store's or an
/// archive's) or as a ceiling on what an archive may ask for. A new
/// passphrase's must be at least 19 MiB, 2 passes, 1 lane, and at most 256
/// MiB, 16 passes, 8 lanes, with memory times passes at most 512 MiB
/// (`CHATVAULT_STATUS_INVALID_ARGUMENT` otherwise).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_kdf_params {
    /// `sizeof(chatvault_kdf_params)`.
    pub struct_size: u32,
    /// KiB of memory.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// How `chatvault_store_export_with` writes an archive. Every field 0 is
/// its default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_export_options {
    /// `sizeof(chatvault_export_options)`.
    pub struct_size: u32,
    /// The Argon2id cost of a passphrase `archive_key` (NULL: the default);
    /// refused for a raw key.
    pub kdf: *const chatvault_kdf_params,
    /// The body's chunk size in bytes: a power of two from 1024 to 1048576;
    /// 0 for the default (65536). Smaller chunks cost 16 bytes of tag each.
    pub chunk_size: u64,
}

/// How `chatvault_store_import_with` and `chatvault_archive_inspect_with`
/// read an archive. Every field 0 is its default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_import_options {
    /// `sizeof(chatvault_import_options)`.
    pub struct_size: u32,
    /// The most Argon2id work the archive's header may ask for (NULL: the
    /// library's ceiling); a header asking for more fails with
    /// `CHATVAULT_STATUS_KDF_TOO_COSTLY` before any key derivation.
    pub max_kdf: *const chatvault_kdf_params,
}

/// A message id: its conversation and its sequence number there (from 1).
/// A fixed layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct chatvault_message_id {
    /// The conversation's id.
    pub conversation: u64,
    /// The message's sequence number in the conversation; 1 is the first.
    pub seq: u64,
}

/// A conversation to create. Required: `struct_size` and `title` (fields
/// from `app_data` on may be left out by a smaller `struct_size`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_conversation {
    /// `sizeof(chatvault_new_conversation)`.
    pub struct_size: u32,
    /// Optional: the app's id for it, unique in the store (`{NULL, 0}` for none).
    pub external_id: chatvault_str,
    /// Its display title.
    pub title: chatvault_str,
    /// Member ids or names: `members_len` texts (`members` may be NULL when 0).
    pub members: *const chatvault_str,
    /// How many members.
    pub members_len: usize,
    /// Opaque app data, sealed with the conversation.
    pub app_data: chatvault_bytes,
    /// 1: created at `created_at_ms`; 0: now.
    pub has_created_at: u8,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// 1: disappearing messages: messages appended later expire
    /// `retention_ms` milliseconds after they were sent. 0: they never do.
    pub has_retention: u8,
    /// Milliseconds.
    pub retention_ms: u64,
}

/// Changes to a conversation: see `chatvault_conversation_update`. Each
/// `has_*` (or `set_retention`) flag 1 changes its field; 0 leaves it as
/// it is. Flags other than 0 and 1 are refused.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation_changes {
    /// `sizeof(chatvault_conversation_changes)`.
    pub struct_size: u32,
    /// 1: a new title.
    pub has_title: u8,
    /// The title (UTF-8).
    pub title: chatvault_str,
    /// 1: a new member list.
    pub has_members: u8,
    /// `members_len` member texts.
    pub members: *const chatvault_str,
    /// How many.
    pub members_len: usize,
    /// 1: new app data.
    pub has_app_data: u8,
    /// The app data.
    pub app_data: chatvault_bytes,
    /// 1: change the retention, to `retention_ms` if `has_retention` is 1,
    /// or off (messages never disappear) if it is 0. It applies to messages
    /// appended from then on.
    pub set_retention: u8,
    /// See `set_retention`.
    pub has_retention: u8,
    /// Milliseconds.
    pub retention_ms: u64,
}

/// A message to append. Required: `struct_size`, `sender`, `text` and
/// `sent_at_ms` (fields from `has_reply_to` on may be left out).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_message {
    /// `sizeof(chatvault_new_message)`.
    pub struct_size: u32,
    /// Optional: the server's or sender's id for it (`{NULL, 0}` for none).
    /// Appending an external id the conversation already has returns that
    /// message's id and stores nothing, so sync retries are safe.
    pub external_id: chatvault_str,
    /// Who sent it.
    pub sender: chatvault_str,
    /// Its text.
    pub text: chatvault_str,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
    /// 1: it replies to message `reply_to_seq` of the same conversation.
    pub has_reply_to: u8,
    /// The sequence number of the message it replies to.
    pub reply_to_seq: u64,
    /// Opaque app data (attachment references, reactions, ...).
    pub extra: chatvault_bytes,
    /// 1: it disappears at `expires_at_ms`; 0: never (unless the
    /// conversation's retention says otherwise).
    pub has_expires_at: u8,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

/// One entry of `chatvault_message_append_batch`; the array's stride is
/// `entries[0].struct_size`, which every entry must repeat.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_batch_entry {
    /// `sizeof(chatvault_batch_entry)`.
    pub struct_size: u32,
    /// The conversation to append to.
    pub conversation: u64,
    /// The message (its own `struct_size` set).
    pub message: *const chatvault_new_message,
}

/// A stored message. Owned by the page, conversation list, search page or
/// `chatvault_message` allocation it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_message {
    /// The library's `sizeof(chatvault_message)`: a field exists if it ends
    /// within it.
    pub struct_size: u32,
    /// Its id.
    pub id: chatvault_message_id,
    /// The server's or sender's id for it; `ptr` NULL if none.
    pub external_id: chatvault_str,
    /// Who sent it.
    pub sender: chatvault_str,
    /// Its text.
    pub text: chatvault_str,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
    /// 1 if its text was edited, last at `edited_at_ms`.
    pub has_edited_at: u8,
    /// Milliseconds since the Unix epoch.
    pub edited_at_ms: i64,
    /// 1 if it disappears, at `expires_at_ms`.
    pub has_expires_at: u8,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// 1 if it replies to message `reply_to_seq` of the same conversation.
    pub has_reply_to: u8,
    /// The sequence number of the message it replies to.
    pub reply_to_seq: u64,
    /// Opaque app data.
    pub extra: chatvault_bytes,
}

/// A page of messages, oldest first. Free it with `chatvault_message_page_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_message_page {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` messages (a valid pointer even when `len` is 0), at a stride
    /// of `items[0].struct_size` (`CHATVAULT_ITEM`).
    pub items: *const chatvault_message,
    /// How many.
    pub len: usize,
}

/// A conversation's metadata. Owned by the list or `chatvault_conversation`
/// allocation it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation {
    /// The library's `sizeof(chatvault_conversation)`.
    pub struct_size: u32,
    /// Its id (never 0, never reused).
    pub id: u64,
    /// The app's id for it; `ptr` NULL if none.
    pub external_id: chatvault_str,
    /// Its title.
    pub title: chatvault_str,
    /// `members_len` member texts.
    pub members: *const chatvault_str,
    /// How many members.
    pub members_len: usize,
    /// Opaque app data.
    pub app_data: chatvault_bytes,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// 1 if a message was marked read: the last one is `read_up_to_seq`.
    pub has_read_up_to: u8,
    /// Its sequence number.
    pub read_up_to_seq: u64,
    /// How many messages it holds (expired ones excluded).
    pub message_count: u64,
    /// 1 if messages appended to it disappear `retention_ms` after they were sent.
    pub has_retention: u8,
    /// Milliseconds.
    pub retention_ms: u64,
}

/// A line of the conversation list.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation_summary {
    /// The library's `sizeof(chatvault_conversation_summary)`.
    pub struct_size: u32,
    /// The conversation (never NULL).
    pub conversation: *const chatvault_conversation,
    /// Its newest message; NULL if it has none.
    pub last_message: *const chatvault_message,
    /// Messages after the read marker (all of them if none was marked read).
    pub unread_count: u64,
}

/// The conversation list, most recently active first. Free it with
/// `chatvault_conversation_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_conversation_list {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` summaries (a valid pointer even when `len` is 0), at a stride
    /// of `items[0].struct_size`.
    pub items: *const chatvault_conversation_summary,
    /// How many.
    pub len: usize,
}

/// Settings for `chatvault_store_compact`; pass NULL for the defaults (run
/// to completion, default segment targets). Every field 0 is its default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_compact_options {
    /// `sizeof(chatvault_compact_options)`.
    pub struct_size: u32,
    /// Stop starting new transactions after this many milliseconds; 0 for no limit.
    pub time_budget_ms: u64,
    /// Stop after rewriting about this many segments; 0 for no limit.
    pub segment_budget: u64,
    /// Largest number of messages in a segment compaction writes, at most
    /// 65536; 0 for the default (64). Smaller segments leak less through
    /// their compressed length (SECURITY.md), at some cost in size.
    pub target_messages: u64,
    /// Largest plaintext, in bytes before compression, of a segment
    /// compaction writes, at most 1 MiB; 0 for the default (32 KiB).
    pub target_bytes: u64,
}

/// Where a compaction is.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_compact_progress {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// Conversations finished so far.
    pub conversations_done: u64,
    /// Conversations that had work when compaction started.
    pub conversations_total: u64,
    /// Existing segments rewritten so far.
    pub segments_rewritten: u64,
}

/// Called after each compaction transaction commits, on the thread that
/// called `chatvault_store_compact`, with the `user_data` given to it. The
/// progress is valid only during the call. Return
/// `CHATVAULT_PROGRESS_CONTINUE` (0) to go on, anything else to stop after
/// the current transaction: the compaction then fails with
/// `CHATVAULT_STATUS_CANCELLED`, keeping the transactions committed so far
/// (the store is valid; call it again to go on). It must not call
/// chatvault functions on the same store.
pub type chatvault_compact_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, progress: *const chatvault_compact_progress) -> i32>;

/// What `chatvault_store_compact` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_compact_report {
    /// `sizeof(chatvault_compact_report)`, set by the caller.
    pub struct_size: u32,
    /// Conversations whose work was finished.
    pub conversations_compacted: u64,
    /// Existing segments rewritten.
    pub segments_rewritten: u64,
    /// Segments written in their place.
    pub segments_written: u64,
    /// Expired messages removed from disk.
    pub messages_expired: u64,
    /// Old-epoch conversation keys destroyed.
    pub keys_destroyed: u64,
    /// Database and WAL bytes before.
    pub bytes_before: u64,
    /// Database and WAL bytes after.
    pub bytes_after: u64,
    /// Conversations left alone because something in them does not open;
    /// `chatvault_store_verify` says what.
    pub conversations_skipped: u64,
    /// 1 if a budget ran out: call again to continue.
    pub work_remains: u8,
    /// Attachments of expired messages removed, their files included.
    pub attachments_expired: u64,
    /// Attachment files no attachment named (left by a crash while one was
    /// written) removed.
    pub orphan_files_removed: u64,
}

/// Settings for `chatvault_store_rotate_master_key`; NULL for the defaults
/// (run to the end).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_rotate_options {
    /// `sizeof(chatvault_rotate_options)`.
    pub struct_size: u32,
    /// Stop after this many transactions (at least one runs); 0 for no limit.
    pub max_transactions: u64,
    /// Stop starting new transactions after this many milliseconds; 0 for no limit.
    pub time_budget_ms: u64,
    /// The Argon2id cost of a passphrase `key` (NULL: the default); refused
    /// for a raw key.
    pub kdf: *const chatvault_kdf_params,
}

/// What `chatvault_store_rotate_master_key` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_rotation_report {
    /// `sizeof(chatvault_rotation_report)`, set by the caller.
    pub struct_size: u32,
    /// Conversations this call moved to a new master key (a rotation
    /// resumed after an interruption counts only those it moved itself; a
    /// conversation moved twice, by the rotation under way and then by the
    /// one to `key`, counts twice).
    pub conversations: u64,
    /// External-id index entries recomputed under the new key.
    pub references: u64,
    /// Index entries of deleted or expired messages, which cannot be
    /// recomputed: dropped, so a re-delivery of such a message is stored again.
    pub references_dropped: u64,
    /// Write transactions it took.
    pub transactions: u64,
    /// Conversations with a key, metadata or segment that did not open
    /// (damage). They were moved as far as they could be, and never stop
    /// the rotation; `chatvault_store_verify` says what is wrong.
    pub conversations_damaged: u64,
    /// 1 if the rotation to `key` finished: the old master key is gone and
    /// only `key` opens the store. 0 if a budget ran out first: call again
    /// with the same `key` to continue.
    pub finished: u8,
    /// 1 if `key` is now the store's key: the rotation to it began (or `key`
    /// already was, resuming). 0 only if the call stopped before that
    /// (a budget ran out while it finished a rotation to another key that
    /// was under way): the store's key is unchanged, and `key` opens
    /// nothing yet.
    pub key_in_force: u8,
}

/// How far an export, import or inspection has got.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_archive_progress {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// Archive bytes written or read so far.
    pub bytes: u64,
    /// Conversations written or read so far.
    pub conversations: u64,
    /// Messages written or read so far.
    pub messages: u64,
    /// Conversations in the whole archive.
    pub total_conversations: u64,
    /// Messages in the whole archive.
    pub total_messages: u64,
}

/// Called at the start, about every 64 KiB, and at the end of an export,
/// import or inspection, on the calling thread, with the `user_data` given
/// to it. The progress is valid only during the call. Return
/// `CHATVAULT_PROGRESS_CONTINUE` (0) to go on, anything else to stop: the
/// call then fails with `CHATVAULT_STATUS_CANCELLED`, having imported
/// nothing, or left no archive file. (An import's last call comes after it
/// committed: its answer is ignored.) It must not call chatvault functions
/// on the same store.
pub type chatvault_archive_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, progress: *const chatvault_archive_progress) -> i32>;

/// What `chatvault_store_export` wrote.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_export_report {
    /// `sizeof(chatvault_export_report)`, set by the caller.
    pub struct_size: u32,
    /// Conversations in the archive.
    pub conversations: u64,
    /// Messages in the archive (expired ones are left out).
    pub messages: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// Attachments in the archive (those of expired messages left out;
    /// removed ones as metadata only).
    pub attachments: u64,
}

/// What `chatvault_store_import` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_import_report {
    /// `sizeof(chatvault_import_report)`, set by the caller.
    pub struct_size: u32,
    /// Conversations the store did not have, created.
    pub conversations_created: u64,
    /// Conversations the store had already.
    pub conversations_matched: u64,
    /// Messages added.
    pub messages_added: u64,
    /// Messages the store had already, or that had expired: not added.
    pub messages_skipped: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// Attachments added.
    pub attachments_added: u64,
    /// Attachments the store had already, or whose message was not added.
    pub attachments_skipped: u64,
}

/// One conversation of an archive: see `chatvault_archive_inspect`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_archived_conversation {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// The app's id for it; `ptr` NULL if none.
    pub external_id: chatvault_str,
    /// Its title.
    pub title: chatvault_str,
    /// How many messages the archive holds for it.
    pub messages: u64,
    /// 1 if it holds messages, sent from `first_sent_ms` to `last_sent_ms`.
    pub has_sent_between: u8,
    /// The earliest `sent_at_ms`.
    pub first_sent_ms: i64,
    /// The latest `sent_at_ms`.
    pub last_sent_ms: i64,
    /// How many attachments the archive holds for it.
    pub attachments: u64,
}

/// What an archive holds: see `chatvault_archive_inspect`. Free it with
/// `chatvault_archive_summary_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_archive_summary {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// The archive format version.
    pub version: u32,
    /// A `chatvault_key_kind`: what protects it.
    pub key_kind: u32,
    /// The chatvault version that wrote it.
    pub chatvault_version: chatvault_str,
    /// When it was written, by the writer's clock (ms since the Unix epoch).
    pub exported_at_ms: i64,
    /// `conversations_len` conversations, in archive order, at a stride of
    /// `conversations[0].struct_size`.
    pub conversations: *const chatvault_archived_conversation,
    /// How many.
    pub conversations_len: usize,
    /// Messages in all.
    pub messages: u64,
    /// Attachments in all.
    pub attachments: u64,
    /// Bytes of attachment content.
    pub attachment_bytes: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One problem `chatvault_store_verify` found.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_problem {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// A `chatvault_problem_kind`.
    pub kind: u32,
    /// 1 if it is in conversation `conversation`.
    pub has_conversation: u8,
    /// The conversation.
    pub conversation: u64,
    /// 1 if it concerns sequence numbers `first_seq` to `last_seq`. For a
    /// problem with an attachment (`detail` names it), `first_seq` is the
    /// attachment's id and `last_seq` its message's sequence number.
    pub has_seqs: u8,
    /// See `has_seqs`.
    pub first_seq: u64,
    /// See `has_seqs`.
    pub last_seq: u64,
    /// 1 if it concerns key epoch `epoch`.
    pub has_epoch: u8,
    /// The key epoch.
    pub epoch: u32,
    /// A description, without any secret or message content.
    pub detail: chatvault_str,
}
/// The kinds of `chatvault_problem`. New kinds may be added; treat an
/// unknown one as damage.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum chatvault_problem_kind {
    /// A kind this version of the C API has no number for yet.
    Other = 0,
    /// SQLite's integrity check reported damage to the file itself.
    Integrity = 1,
    /// A sealed value does not open with its key at its place.
    Authentication = 2,
    /// A value opened but its contents are impossible.
    Corrupt = 3,
    /// Two segments' sequence ranges overlap.
    Overlap = 4,
    /// A key a segment or the conversation needs is missing.
    MissingKey = 5,
    /// A row belongs to a conversation that does not exist.
    Orphan = 6,
    /// A stored count disagrees with what the segments hold.
    CountMismatch = 7,
    /// The schema is not exactly chatvault's: a table, index, trigger or
    /// view was added, removed or altered outside chatvault.
    Schema = 8,
}

/// What `chatvault_store_verify` found. Free it with `chatvault_verify_report_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_verify_report {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// Conversations checked.
    pub conversations: u64,
    /// Segments checked.
    pub segments: u64,
    /// Messages in the segments checked.
    pub messages: u64,
    /// `problems_len` problems, in the order found, at a stride of
    /// `problems[0].struct_size`; none means the store is sound.
    pub problems: *const chatvault_problem,
    /// How many problems.
    pub problems_len: usize,
    /// Attachments checked (every chunk of each authenticated).
    pub attachments: u64,
}

/// Figures about a store, from plaintext columns only (nothing is decrypted).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_stats {
    /// `sizeof(chatvault_stats)`, set by the caller.
    pub struct_size: u32,
    /// Conversations.
    pub conversations: u64,
    /// Messages held, including expired ones compaction has not removed yet.
    pub messages: u64,
    /// Segments.
    pub segments: u64,
    /// Segments written since their conversation was last compacted.
    pub segments_uncompacted: u64,
    /// Bytes of sealed segment bodies.
    pub segment_bytes: u64,
    /// Size of the database file.
    pub file_bytes: u64,
    /// Size of the write-ahead log.
    pub wal_bytes: u64,
    /// Free pages in the file, which a scrub returns to the file system.
    pub reclaimable_bytes: u64,
    /// Attachments (those whose content was removed included).
    pub attachments: u64,
    /// Stored bytes of attachment content, inline (in the database file)
    /// and in files beside it.
    pub attachment_bytes: u64,
    /// Attachments whose content is in a file beside the store.
    pub attachments_in_files: u64,
    /// Files in the attachment directory that no attachment names (left by
    /// a crash while one was written): `chatvault_store_compact` removes them.
    pub orphan_files: u64,
    /// Their bytes.
    pub orphan_file_bytes: u64,
}

/// What `chatvault_index_for_search` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_index_report {
    /// `sizeof(chatvault_index_report)`, set by the caller.
    pub struct_size: u32,
    /// Segments given a search filter by this call.
    pub segments_indexed: u64,
    /// Segments still without one (0: the index is complete).
    pub segments_remaining: u64,
    /// Segments that could not be read (damaged: `chatvault_store_verify`
    /// reports them), skipped.
    pub segments_skipped: u64,
}

/// Where a page of search hits ended: the last hit's send time and id.
/// Hits are ordered by (send time, conversation, sequence number), newest
/// first. A fixed layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_search_cursor {
    /// The last hit's `sent_at_ms`.
    pub sent_at_ms: i64,
    /// The last hit's id.
    pub message: chatvault_message_id,
}

/// A search: see `chatvault_search`. Required: `struct_size` and `text`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_search_query {
    /// `sizeof(chatvault_search_query)`.
    pub struct_size: u32,
    /// The words to find (UTF-8).
    pub text: chatvault_str,
    /// 1: only conversation `conversation`; 0: the whole store.
    pub has_conversation: u8,
    /// The conversation.
    pub conversation: u64,
    /// Only messages from this sender (exact); `{NULL, 0}` for any.
    pub sender: chatvault_str,
    /// 1: only messages sent at or after `from_ms` (ms since the Unix epoch).
    pub has_from: u8,
    /// See `has_from`.
    pub from_ms: i64,
    /// 1: only messages sent before `until_ms`.
    pub has_until: u8,
    /// See `has_until`.
    pub until_ms: i64,
    /// At most this many hits; 0 for 50.
    pub limit: usize,
    /// 1: the page after `after` (the previous page's `next`); 0: the first page.
    pub has_after: u8,
    /// See `has_after`.
    pub after: chatvault_search_cursor,
}

/// A byte range `[start, end)` of a hit's text that matched. A fixed layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct chatvault_match_range {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A text the library made (JSON, a time, a file name): free it with
/// `chatvault_text_free`. Its bytes are wiped when freed.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_text {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// The text: UTF-8, NUL-terminated.
    pub text: chatvault_str,
}

/// The byte ranges of a text that matched a query, from
/// `chatvault_search_matches`. Free it with `chatvault_match_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_match_list {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` ranges of the text, sorted and disjoint (a valid pointer even
    /// when `len` is 0).
    pub ranges: *const chatvault_match_range,
    /// How many.
    pub len: usize,
}

/// One message that matched. Owned by its page.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_search_hit {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// The message.
    pub message: *const chatvault_message,
    /// `ranges_len` ranges of `message->text`, sorted and disjoint.
    pub ranges: *const chatvault_match_range,
    /// How many.
    pub ranges_len: usize,
}

/// A page of search hits, newest first. Free it with
/// `chatvault_search_page_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_search_page {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` hits (a valid pointer even when `len` is 0), at a stride of
    /// `items[0].struct_size`.
    pub items: *const chatvault_search_hit,
    /// How many.
    pub len: usize,
    /// 1 if there may be a next page: pass `next` as the next query's
    /// `after` (with `has_after` 1).
    pub has_next: u8,
    /// See `has_next`.
    pub next: chatvault_search_cursor,
    /// Segments the search opened whole because the store was upgraded and
    /// `chatvault_index_for_search` has not reached them yet (the results
    /// are complete, the search slower).
    pub unindexed_segments: u64,
}

/// An attachment to write: see `chatvault_attachment_begin`. Required:
/// `struct_size` and `media_type`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_attachment {
    /// `sizeof(chatvault_new_attachment)`.
    pub struct_size: u32,
    /// Its media type, e.g. "image/jpeg" (the gallery and the storage
    /// manager select by its prefix, e.g. "image/").
    pub media_type: chatvault_str,
    /// Optional: the file name the user sees (`{NULL, 0}` for none).
    pub file_name: chatvault_str,
    /// Opaque app data, sealed with it: dimensions, duration, a blurhash.
    pub app_data: chatvault_bytes,
}

/// A stored attachment's metadata. Owned by the list or
/// `chatvault_attachment` allocation it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_attachment {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// Its id (never 0, never reused).
    pub id: u64,
    /// The message it belongs to.
    pub message: chatvault_message_id,
    /// Its media type.
    pub media_type: chatvault_str,
    /// Its file name; `ptr` NULL if it was given none.
    pub file_name: chatvault_str,
    /// Its content's length in bytes (what it was, if the content was removed).
    pub byte_len: u64,
    /// Opaque app data.
    pub app_data: chatvault_bytes,
    /// When it was written, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// 1 if `chatvault_clear_attachments` removed its content, at
    /// `removed_at_ms`. Removed content cannot be opened
    /// (`CHATVAULT_STATUS_NOT_FOUND`); the metadata stays so the message
    /// can show what was there.
    pub has_removed_at: u8,
    /// Milliseconds since the Unix epoch.
    pub removed_at_ms: i64,
}

/// Attachments: a message's, or a page of a conversation's gallery. Free it
/// with `chatvault_attachment_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_attachment_list {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` attachments (a valid pointer even when `len` is 0), at a
    /// stride of `items[0].struct_size`.
    pub items: *const chatvault_attachment,
    /// How many.
    pub len: usize,
}

/// Which attachments `chatvault_clear_attachments` removes the content of:
/// every condition whose `has_*` flag is 1 must hold; a flag of 0 ignores
/// its value. Flags other than 0 and 1 are refused. All flags 0 matches
/// every attachment in the store.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_attachment_filter {
    /// `sizeof(chatvault_attachment_filter)`.
    pub struct_size: u32,
    /// 1: only in conversation `conversation`.
    pub has_conversation: u8,
    /// The conversation.
    pub conversation: u64,
    /// 1: only media types starting with `media_type_prefix` ("image/", "video/").
    pub has_media_type_prefix: u8,
    /// The prefix (UTF-8).
    pub media_type_prefix: chatvault_str,
    /// 1: only attachments written before `created_before_ms`.
    pub has_created_before: u8,
    /// Milliseconds since the Unix epoch.
    pub created_before_ms: i64,
    /// 1: only attachments of at least `min_bytes` bytes.
    pub has_min_bytes: u8,
    /// The smallest length, in bytes of content.
    pub min_bytes: u64,
}

/// What `chatvault_clear_attachments` removed.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_clear_report {
    /// `sizeof(chatvault_clear_report)`, set by the caller.
    pub struct_size: u32,
    /// Attachments whose content was removed.
    pub attachments: u64,
    /// Bytes of stored content removed.
    pub bytes: u64,
}

/// What one conversation takes on disk.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation_usage {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// The conversation.
    pub conversation: u64,
    /// Sealed bytes of its messages, search filters and metadata.
    pub text_bytes: u64,
    /// Stored bytes of its attachments' content.
    pub attachment_bytes: u64,
    /// Its attachments (those whose content was removed included).
    pub attachments: u64,
}

/// What each conversation takes on disk, largest first. Free it with
/// `chatvault_storage_usage_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_storage_usage_list {
    /// The library's size of this struct.
    pub struct_size: u32,
    /// `len` conversations (a valid pointer even when `len` is 0), at a
    /// stride of `items[0].struct_size`.
    pub items: *const chatvault_conversation_usage,
    /// How many.
    pub len: usize,
}

/// How an HTML export is written: see `chatvault_store_export_html_with`.
/// Every field 0 is its default (times in UTC, nobody's messages shown as
/// one's own, 5000 messages a page, no existing page replaced).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_html_options {
    /// `sizeof(chatvault_html_options)`.
    pub struct_size: u32,
    /// Messages whose sender is exactly this are shown as the user's own;
    /// `{NULL, 0}` for none.
    pub me: chatvault_str,
    /// A conversation of more messages than this is split into pages of
    /// this many; 0 for the default (5000).
    pub messages_per_page: u64,
    /// 1: show times at `zone_offset_seconds` east of UTC, named
    /// `zone_name` (e.g. "CET"; `{NULL, 0}` to show the offset alone); 0:
    /// in UTC. One offset for the whole export: the library has no
    /// time-zone database.
    pub has_zone: u8,
    /// Seconds east of UTC (west negative), within ±24 hours.
    pub zone_offset_seconds: i32,
    /// The zone's name.
    pub zone_name: chatvault_str,
    /// 1: a file already where a page or the index goes is replaced; 0: the
    /// export fails before writing anything. An existing attachment
    /// directory is never replaced.
    pub replace_existing: u8,
    /// The zone at each instant (NULL: `has_zone`'s fixed offset, or UTC),
    /// so that an offset that changes (summer time) is followed; set
    /// either this or `has_zone`, not both. Called with `zone_ctx` on the
    /// calling thread during the export.
    pub zone: chatvault_zone_fn,
    /// Passed to `zone`.
    pub zone_ctx: *mut c_void,
}

/// The time zone at the instant `ms` (milliseconds since the Unix epoch):
/// write its offset in seconds east of UTC to `*offset_seconds` (within ±24
/// hours; larger ones are clamped), and its name (UTF-8, e.g. "CEST"), at
/// most `name_cap` bytes, to `name`, and its length to `*name_len` (0, or
/// a name too long or not UTF-8, shows the offset alone). Both outputs
/// start at 0. It must not call chatvault.
pub type chatvault_zone_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        ms: i64,
        offset_seconds: *mut i32,
        name: *mut c_char,
        name_cap: usize,
        name_len: *mut usize,
    ),
>;

/// What an HTML export to files wrote.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_html_report {
    /// `sizeof(chatvault_html_report)`, set by the caller.
    pub struct_size: u32,
    /// Conversations exported.
    pub conversations: u64,
    /// Messages exported.
    pub messages: u64,
    /// Pages written (the index not counted).
    pub pages: u64,
    /// 1 if an index page was written.
    pub has_index: u8,
    /// Attachment directories made.
    pub attachment_dirs: u64,
}

/// The library's `struct_size` of a struct it hands out.
pub(crate) const fn size_of_u32<T>() -> u32 {
    size_of::<T>() as u32
}

/// The size of the field `_field` picks out (for [`Versioned::FIELDS`]).
const fn field_size<T, F>(_field: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// The versioned structs a caller fills in or receives a report in, each
/// with every field in order (the list must name them all: the pattern
/// below fails to compile otherwise), the smallest `struct_size` accepted
/// and its defaults.
macro_rules! versioned {
    ($($t:ident [$($f:ident),* $(,)?]: min $min:expr, $defaults:expr;)*) => {$(
        // SAFETY: repr(C), `struct_size: u32` first, every field an
        // integer, a raw pointer, a nullable function pointer (an
        // `Option<extern fn>`: zero bytes are `None`, any others a
        // pointer the caller promised is a function) or a struct of those.
        unsafe impl Versioned for $t {
            const NAME: &'static str = stringify!($t);
            const MIN_SIZE: usize = $min;
            const FIELDS: &'static [(usize, usize)] =
                &[$((offset_of!($t, $f), field_size(|v: &$t| &v.$f))),*];
            fn defaults() -> Self {
                $defaults
            }
        }
        // Every field is listed: a field added to the struct but not to
        // the list above fails to compile here.
        const _: fn($t) = |v: $t| {
            let $t { $($f: _),* } = v;
        };
    )*};
}

versioned! {
    chatvault_store_options [struct_size, durability, has_busy_timeout, busy_timeout_ms, has_max_size, max_size_bytes, has_max_kdf, max_kdf_memory_kib, max_kdf_iterations, max_kdf_parallelism, kdf, now_ms, clock_ctx]: min offset_of!(chatvault_store_options, durability), chatvault_store_options {
        struct_size: size_of_u32::<Self>(), durability: 0, has_busy_timeout: 0, busy_timeout_ms: 0,
        has_max_size: 0, max_size_bytes: 0, has_max_kdf: 0, max_kdf_memory_kib: 0,
        max_kdf_iterations: 0, max_kdf_parallelism: 0, kdf: std::ptr::null(), now_ms: None,
        clock_ctx: std::ptr::null_mut(),
    };
    chatvault_kdf_params [struct_size, memory_kib, iterations, parallelism]: min size_of::<chatvault_kdf_params>(), chatvault_kdf_params {
        struct_size: size_of_u32::<Self>(), memory_kib: 0, iterations: 0, parallelism: 0,
    };
    chatvault_export_options [struct_size, kdf, chunk_size]: min offset_of!(chatvault_export_options, kdf), chatvault_export_options {
        struct_size: size_of_u32::<Self>(), kdf: std::ptr::null(), chunk_size: 0,
    };
    chatvault_import_options [struct_size, max_kdf]: min offset_of!(chatvault_import_options, max_kdf), chatvault_import_options {
        struct_size: size_of_u32::<Self>(), max_kdf: std::ptr::null(),
    };
    chatvault_new_conversation [struct_size, external_id, title, members, members_len, app_data, has_created_at, created_at_ms, has_retention, retention_ms]: min offset_of!(chatvault_new_conversation, app_data), chatvault_new_conversation {
        struct_size: size_of_u32::<Self>(), external_id: chatvault_str::NONE, title: chatvault_str::NONE,
        members: std::ptr::null(), members_len: 0, app_data: chatvault_bytes::NONE, has_created_at: 0,
        created_at_ms: 0, has_retention: 0, retention_ms: 0,
    };
    chatvault_conversation_changes [struct_size, has_title, title, has_members, members, members_len, has_app_data, app_data, set_retention, has_retention, retention_ms]: min offset_of!(chatvault_conversation_changes, has_title), chatvault_conversation_changes {
        struct_size: size_of_u32::<Self>(), has_title: 0, title: chatvault_str::NONE, has_members: 0,
        members: std::ptr::null(), members_len: 0, has_app_data: 0, app_data: chatvault_bytes::NONE,
        set_retention: 0, has_retention: 0, retention_ms: 0,
    };
    chatvault_new_message [struct_size, external_id, sender, text, sent_at_ms, has_reply_to, reply_to_seq, extra, has_expires_at, expires_at_ms]: min offset_of!(chatvault_new_message, has_reply_to), chatvault_new_message {
        struct_size: size_of_u32::<Self>(), external_id: chatvault_str::NONE, sender: chatvault_str::NONE,
        text: chatvault_str::NONE, sent_at_ms: 0, has_reply_to: 0, reply_to_seq: 0,
        extra: chatvault_bytes::NONE, has_expires_at: 0, expires_at_ms: 0,
    };
    chatvault_batch_entry [struct_size, conversation, message]: min size_of::<chatvault_batch_entry>(), chatvault_batch_entry {
        struct_size: size_of_u32::<Self>(), conversation: 0, message: std::ptr::null(),
    };
    chatvault_compact_options [struct_size, time_budget_ms, segment_budget, target_messages, target_bytes]: min offset_of!(chatvault_compact_options, time_budget_ms), chatvault_compact_options {
        struct_size: size_of_u32::<Self>(), time_budget_ms: 0, segment_budget: 0, target_messages: 0,
        target_bytes: 0,
    };
    chatvault_rotate_options [struct_size, max_transactions, time_budget_ms, kdf]: min offset_of!(chatvault_rotate_options, max_transactions), chatvault_rotate_options {
        struct_size: size_of_u32::<Self>(), max_transactions: 0, time_budget_ms: 0, kdf: std::ptr::null(),
    };
    chatvault_search_query [struct_size, text, has_conversation, conversation, sender, has_from, from_ms, has_until, until_ms, limit, has_after, after]: min offset_of!(chatvault_search_query, has_conversation), chatvault_search_query {
        struct_size: size_of_u32::<Self>(), text: chatvault_str::NONE, has_conversation: 0, conversation: 0,
        sender: chatvault_str::NONE, has_from: 0, from_ms: 0, has_until: 0, until_ms: 0, limit: 0,
        has_after: 0, after: chatvault_search_cursor { sent_at_ms: 0, message: chatvault_message_id { conversation: 0, seq: 0 } },
    };
    chatvault_new_attachment [struct_size, media_type, file_name, app_data]: min offset_of!(chatvault_new_attachment, file_name), chatvault_new_attachment {
        struct_size: size_of_u32::<Self>(), media_type: chatvault_str::NONE, file_name: chatvault_str::NONE,
        app_data: chatvault_bytes::NONE,
    };
    chatvault_attachment_filter [struct_size, has_conversation, conversation, has_media_type_prefix, media_type_prefix, has_created_before, created_before_ms, has_min_bytes, min_bytes]: min offset_of!(chatvault_attachment_filter, has_conversation), chatvault_attachment_filter {
        struct_size: size_of_u32::<Self>(), has_conversation: 0, conversation: 0, has_media_type_prefix: 0,
        media_type_prefix: chatvault_str::NONE, has_created_before: 0, created_before_ms: 0,
        has_min_bytes: 0, min_bytes: 0,
    };
    chatvault_html_options [struct_size, me, messages_per_page, has_zone, zone_offset_seconds, zone_name, replace_existing, zone, zone_ctx]: min offset_of!(chatvault_html_options, me), chatvault_html_options {
        struct_size: size_of_u32::<Self>(), me: chatvault_str::NONE, messages_per_page: 0, has_zone: 0,
        zone_offset_seconds: 0, zone_name: chatvault_str::NONE, replace_existing: 0, zone: None,
        zone_ctx: std::ptr::null_mut(),
    };
    chatvault_html_report [struct_size, conversations, messages, pages, has_index, attachment_dirs]: min offset_of!(chatvault_html_report, conversations), Self::default();
    chatvault_compact_report [struct_size, conversations_compacted, segments_rewritten, segments_written, messages_expired, keys_destroyed, bytes_before, bytes_after, conversations_skipped, work_remains, attachments_expired, orphan_files_removed]: min offset_of!(chatvault_compact_report, conversations_compacted), Self::default();
    chatvault_rotation_report [struct_size, conversations, references, references_dropped, transactions, conversations_damaged, finished, key_in_force]: min offset_of!(chatvault_rotation_report, conversations), Self::default();
    chatvault_export_report [struct_size, conversations, messages, bytes, attachments]: min offset_of!(chatvault_export_report, conversations), Self::default();
    chatvault_import_report [struct_size, conversations_created, conversations_matched, messages_added, messages_skipped, bytes, attachments_added, attachments_skipped]: min offset_of!(chatvault_import_report, conversations_created), Self::default();
    chatvault_stats [struct_size, conversations, messages, segments, segments_uncompacted, segment_bytes, file_bytes, wal_bytes, reclaimable_bytes, attachments, attachment_bytes, attachments_in_files, orphan_files, orphan_file_bytes]: min offset_of!(chatvault_stats, conversations), Self::default();
    chatvault_index_report [struct_size, segments_indexed, segments_remaining, segments_skipped]: min offset_of!(chatvault_index_report, segments_indexed), Self::default();
    chatvault_clear_report [struct_size, attachments, bytes]: min offset_of!(chatvault_clear_report, attachments), Self::default();
}

/// An attachment being written. `chatvault_attachment_begin` makes one;
/// `chatvault_attachment_finish` stores what was written and
/// `chatvault_attachment_abort` drops it, and either frees the handle.
///
/// It keeps its store open: `chatvault_store_close` refuses with
/// `CHATVAULT_STATUS_STORE_IN_USE` while a writer made from that handle is
/// open. A writer is meant for one thread at a time (calls from several are
/// serialised, their bytes in the order the calls ran); it may move between
/// threads.
pub struct chatvault_attachment_writer {
    state: Mutex<WriterState>,
}

/// A writer and the store it borrows.
///
/// Invariant: `writer` borrows the `Store` in `store`'s allocation (its
/// `'static` is a lie told to the type system), so it never leaves this
/// struct except to be consumed while the struct is alive (`finish`), and
/// it is declared before `store`, so it is dropped first.
struct WriterState {
    /// `None` once a write failed: the writer was dropped then, which
    /// removed what it had written.
    writer: Option<AttachmentWriter<'static>>,
    /// The failure that ended it, repeated by every later call.
    failed: Option<Failure>,
    /// Bytes written so far.
    written: u64,
    /// One count of the store handle's `Arc`, for as long as the writer lives.
    #[expect(dead_code, reason = "held for the count it keeps, never read")]
    store: Arc<Store>,
}

impl chatvault_attachment_writer {
    /// Starts writing an attachment of message `m` to `store`.
    pub(crate) fn begin(store: &Arc<Store>, m: MessageId, new: NewAttachment) -> Result<Self, Failure> {
        let store = Arc::clone(store);
        // SAFETY: the Store lives in the Arc's allocation, which never moves
        // and is not freed while a count is held; `store`, holding one, goes
        // into the same WriterState as the writer, which is dropped (or
        // consumed, in `finish`) before it (see WriterState). Store is Sync,
        // so sharing it with the writer on any thread is sound.
        let shared: &'static Store = unsafe { &*Arc::as_ptr(&store) };
        let writer = shared.attach(m, new)?;
        let state = WriterState { writer: Some(writer), failed: None, written: 0, store };
        Ok(chatvault_attachment_writer { state: Mutex::new(state) })
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            state.end_after_panic();
            state
        })
    }

    /// Appends `data` to the content. A failure ends the writer: what it
    /// wrote is removed, and every later call fails the same way.
    pub(crate) fn write(&self, data: &[u8]) -> Result<(), Failure> {
        use std::io::Write;
        let mut state = self.lock();
        if let Some(f) = &state.failed {
            return Err(f.again());
        }
        let len = data.len() as u64;
        let limit = chatvault::limits::MAX_ATTACHMENT_BYTES;
        if state.written.saturating_add(len) > limit {
            // Refused before anything is written: the writer goes on.
            return Err(Failure::new(
                crate::status::chatvault_status::TooLarge,
                format!(
                    "an attachment is at most {limit} bytes; {} were written and {len} more were given",
                    state.written
                ),
            ));
        }
        let Some(writer) = state.writer.as_mut() else {
            return Err(Failure::invalid("the attachment writer is finished"));
        };
        match writer.write_all(data) {
            Ok(()) => {
                state.written += len;
                Ok(())
            }
            Err(e) => {
                let failure = Failure::from_io(e);
                state.writer = None;
                state.failed = Some(failure.clone());
                Err(failure)
            }
        }
    }

    /// Stores the attachment (the writer is consumed whatever happens).
    pub(crate) fn finish(self) -> Result<AttachmentId, Failure> {
        let mut state = self.state.into_inner().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            state.end_after_panic();
            state
        });
        if let Some(f) = &state.failed {
            return Err(f.stored_nothing());
        }
        let writer =
            state.writer.take().ok_or_else(|| Failure::invalid("the attachment writer is finished"))?;
        // Consumed here, while `state.store` still holds the Store.
        Ok(writer.finish()?)
    }
}

impl WriterState {
    /// A panic inside a write left a writer whose content is unknown: it
    /// is dropped (removing what it wrote), and every later call fails.
    fn end_after_panic(&mut self) {
        if self.failed.is_none() {
            self.writer = None;
            self.failed = Some(Failure::new(
                crate::status::chatvault_status::Panic,
                "a write to this attachment writer panicked (a bug: please report it)",
            ));
        }
    }
}

/// An attachment's content, open for reading any range: see
/// `chatvault_attachment_open`. It owns everything it reads (its key, its
/// file or bytes): it needs no store handle, and outlives a closed one. It
/// may be used from several threads at once (reads are serialised).
pub struct chatvault_attachment_reader {
    reader: Mutex<AttachmentReader>,
}

impl chatvault_attachment_reader {
    pub(crate) fn new(reader: AttachmentReader) -> Self {
        chatvault_attachment_reader { reader: Mutex::new(reader) }
    }

    /// The reader, for one call. A panic during an earlier read left at
    /// worst an empty chunk cache, which the next read refills.
    pub(crate) fn lock(&self) -> MutexGuard<'_, AttachmentReader> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handles move between threads (an app's I/O queues) and are shared
/// by them; this fails to compile if a library change made that unsound.
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<chatvault_store>();
    send_and_sync::<chatvault_attachment_writer>();
    send_and_sync::<chatvault_attachment_reader>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Versioned;

    /// Every published struct's size on a 64-bit target, as the header
    /// declares it today. A change that moves a layout (a field inserted,
    /// removed, resized or put into trailing padding) fails here: a struct
    /// only ever grows by fields appended at or after its previous
    /// `sizeof`, and then this table gains the new size deliberately.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn published_struct_sizes_are_frozen() {
        macro_rules! frozen {
            ($t:ident) => {
                (stringify!($t), size_of::<$t>())
            };
        }
        let now = [
            frozen!(chatvault_str),
            frozen!(chatvault_bytes),
            frozen!(chatvault_key),
            frozen!(chatvault_store_options),
            frozen!(chatvault_kdf_params),
            frozen!(chatvault_export_options),
            frozen!(chatvault_import_options),
            frozen!(chatvault_message_id),
            frozen!(chatvault_new_conversation),
            frozen!(chatvault_conversation_changes),
            frozen!(chatvault_new_message),
            frozen!(chatvault_batch_entry),
            frozen!(chatvault_message),
            frozen!(chatvault_message_page),
            frozen!(chatvault_conversation),
            frozen!(chatvault_conversation_summary),
            frozen!(chatvault_conversation_list),
            frozen!(chatvault_compact_options),
            frozen!(chatvault_compact_progress),
            frozen!(chatvault_compact_report),
            frozen!(chatvault_rotate_options),
            frozen!(chatvault_rotation_report),
            frozen!(chatvault_archive_progress),
            frozen!(chatvault_export_report),
            frozen!(chatvault_import_report),
            frozen!(chatvault_archived_conversation),
            frozen!(chatvault_archive_summary),
            frozen!(chatvault_problem),
            frozen!(chatvault_verify_report),
            frozen!(chatvault_stats),
            frozen!(chatvault_index_report),
            frozen!(chatvault_search_cursor),
            frozen!(chatvault_search_query),
            frozen!(chatvault_match_range),
            frozen!(chatvault_text),
            frozen!(chatvault_match_list),
            frozen!(chatvault_search_hit),
            frozen!(chatvault_search_page),
            frozen!(chatvault_new_attachment),
            frozen!(chatvault_attachment),
            frozen!(chatvault_attachment_list),
            frozen!(chatvault_attachment_filter),
            frozen!(chatvault_clear_report),
            frozen!(chatvault_conversation_usage),
            frozen!(chatvault_storage_usage_list),
            frozen!(chatvault_html_options),
            frozen!(chatvault_html_report),
        ];
        let frozen: &[(&str, usize)] = &[
            ("chatvault_str", 16),
            ("chatvault_bytes", 16),
            ("chatvault_key", 24),
            ("chatvault_store_options", 80),
            ("chatvault_kdf_params", 16),
            ("chatvault_export_options", 24),
            ("chatvault_import_options", 16),
            ("chatvault_message_id", 16),
            ("chatvault_new_conversation", 104),
            ("chatvault_conversation_changes", 88),
            ("chatvault_new_message", 112),
            ("chatvault_batch_entry", 24),
            ("chatvault_message", 144),
            ("chatvault_message_page", 24),
            ("chatvault_conversation", 128),
            ("chatvault_conversation_summary", 32),
            ("chatvault_conversation_list", 24),
            ("chatvault_compact_options", 40),
            ("chatvault_compact_progress", 32),
            ("chatvault_compact_report", 96),
            ("chatvault_rotate_options", 32),
            ("chatvault_rotation_report", 56),
            ("chatvault_archive_progress", 48),
            ("chatvault_export_report", 40),
            ("chatvault_import_report", 64),
            ("chatvault_archived_conversation", 80),
            ("chatvault_archive_summary", 88),
            ("chatvault_problem", 72),
            ("chatvault_verify_report", 56),
            ("chatvault_stats", 112),
            ("chatvault_index_report", 32),
            ("chatvault_search_cursor", 24),
            ("chatvault_search_query", 128),
            ("chatvault_match_range", 16),
            ("chatvault_text", 24),
            ("chatvault_match_list", 24),
            ("chatvault_search_hit", 32),
            ("chatvault_search_page", 64),
            ("chatvault_new_attachment", 56),
            ("chatvault_attachment", 112),
            ("chatvault_attachment_list", 24),
            ("chatvault_attachment_filter", 72),
            ("chatvault_clear_report", 24),
            ("chatvault_conversation_usage", 40),
            ("chatvault_storage_usage_list", 24),
            ("chatvault_html_options", 80),
            ("chatvault_html_report", 48),
        ];
        assert_eq!(now.len(), frozen.len());
        for ((name, size), (frozen_name, frozen_size)) in now.iter().zip(frozen) {
            assert_eq!(name, frozen_name);
            assert_eq!(size, frozen_size, "sizeof({name}) changed: a published layout moved");
        }
    }

    /// Each versioned struct's field list covers it, in order: it starts
    /// with `struct_size`, fields do not overlap, the gaps are padding
    /// (smaller than the next field's alignment), and `MIN_SIZE` is a
    /// field boundary.
    #[test]
    fn versioned_field_lists_describe_their_structs() {
        fn check<T: Versioned>() {
            let name = T::NAME;
            let fields = T::FIELDS;
            assert_eq!(fields.first(), Some(&(0, 4)), "{name}: struct_size first");
            let mut end = 0;
            for &(at, len) in fields {
                assert!(at >= end && at - end < 8, "{name}: field at {at} after {end}");
                end = at + len;
            }
            assert!(end <= size_of::<T>() && size_of::<T>() - end < align_of::<T>(), "{name}: tail");
            assert!(
                fields.iter().any(|&(at, len)| at == T::MIN_SIZE || at + len == T::MIN_SIZE),
                "{name}: MIN_SIZE on a boundary"
            );
        }
        check::<chatvault_store_options>();
        check::<chatvault_kdf_params>();
        check::<chatvault_export_options>();
        check::<chatvault_import_options>();
        check::<chatvault_new_conversation>();
        check::<chatvault_conversation_changes>();
        check::<chatvault_new_message>();
        check::<chatvault_batch_entry>();
        check::<chatvault_compact_options>();
        check::<chatvault_rotate_options>();
        check::<chatvault_search_query>();
        check::<chatvault_new_attachment>();
        check::<chatvault_attachment_filter>();
        check::<chatvault_html_options>();
        check::<chatvault_html_report>();
        check::<chatvault_compact_report>();
        check::<chatvault_rotation_report>();
        check::<chatvault_export_report>();
        check::<chatvault_import_report>();
        check::<chatvault_stats>();
        check::<chatvault_index_report>();
        check::<chatvault_clear_report>();
    }
}
