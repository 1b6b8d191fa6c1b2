//! The `#[repr(C)]` values that cross the boundary, and the opaque handles.
//! Inputs are read by `raw`; outputs are built by `raw` and freed by the
//! `chatvault_*_free` functions. No field is a Rust enum: numbers from C
//! are checked, never transmuted.
//!
//! The handles: a store (its `Store` shared with the attachment writers
//! made from it, so that closing it can tell whether any is open), an
//! attachment writer (which borrows that `Store`, kept alive beside it),
//! and an attachment reader (which owns everything it reads).

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatvault::{AttachmentId, AttachmentReader, AttachmentWriter, MessageId, NewAttachment, Store};

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

/// A store or archive key: `kind` is a `chatvault_key_kind`.
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

/// A message id: its conversation and its sequence number there (from 1).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct chatvault_message_id {
    /// The conversation's id.
    pub conversation: u64,
    /// The message's sequence number in the conversation; 1 is the first.
    pub seq: u64,
}

/// A conversation to create.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_conversation {
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
    /// Creation time in milliseconds since the Unix epoch; 0 means now.
    pub created_at_ms: i64,
    /// Disappearing messages: messages appended later expire this many
    /// milliseconds after they were sent; 0 means they never do.
    pub retention_ms: u64,
}

/// A message to append.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_message {
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
    /// The sequence number of the message it replies to, in the same
    /// conversation; 0 if it is not a reply.
    pub reply_to_seq: u64,
    /// Opaque app data (attachment references, reactions, ...).
    pub extra: chatvault_bytes,
    /// When it disappears, milliseconds since the Unix epoch; 0 means never.
    pub expires_at_ms: i64,
}

/// One entry of `chatvault_message_append_batch`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_batch_entry {
    /// The conversation to append to.
    pub conversation: u64,
    /// The message.
    pub message: chatvault_new_message,
}

/// A stored message. Owned by the page, conversation list or
/// `chatvault_message` allocation it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_message {
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
    /// When its text was last edited, milliseconds since the Unix epoch; 0 if never.
    pub edited_at_ms: i64,
    /// When it disappears, milliseconds since the Unix epoch; 0 if never.
    pub expires_at_ms: i64,
    /// The sequence number of the message it replies to, in the same
    /// conversation; 0 if it is not a reply.
    pub reply_to_seq: u64,
    /// Opaque app data.
    pub extra: chatvault_bytes,
}

/// A page of messages, oldest first. Free it with `chatvault_message_page_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_message_page {
    /// `len` messages (a valid pointer even when `len` is 0).
    pub items: *const chatvault_message,
    /// How many.
    pub len: usize,
}

/// A conversation's metadata. Owned by the list or `chatvault_conversation`
/// allocation it came from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation {
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
    /// The sequence number of the last message marked read; 0 if none.
    pub read_up_to_seq: u64,
    /// How many messages it holds (expired ones excluded).
    pub message_count: u64,
    /// Its disappearing-message retention in milliseconds; 0 if none.
    pub retention_ms: u64,
}

/// A line of the conversation list.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_conversation_summary {
    /// The conversation.
    pub conversation: chatvault_conversation,
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
    /// `len` summaries (a valid pointer even when `len` is 0).
    pub items: *const chatvault_conversation_summary,
    /// How many.
    pub len: usize,
}

/// Settings for `chatvault_store_compact`; pass NULL for the defaults (run
/// to completion).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_compact_options {
    /// Stop starting new transactions after this many milliseconds; 0 for no limit.
    pub time_budget_ms: u64,
    /// Stop after rewriting about this many segments; 0 for no limit.
    pub segment_budget: u64,
}

/// Where a compaction is.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_compact_progress {
    /// Conversations finished so far.
    pub conversations_done: u64,
    /// Conversations that had work when compaction started.
    pub conversations_total: u64,
    /// Existing segments rewritten so far.
    pub segments_rewritten: u64,
}

/// Called after each compaction transaction commits, on the thread that
/// called `chatvault_store_compact`, with the `user_data` given to it. The
/// progress is valid only during the call. Return 0 to go on, anything else
/// to stop after the current transaction (the report then says
/// `work_remains`). It must not call chatvault functions on the same store.
pub type chatvault_compact_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, progress: *const chatvault_compact_progress) -> i32>;

/// What `chatvault_store_compact` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_compact_report {
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
    /// 1 if a budget ran out or the callback stopped it: call again to continue.
    pub work_remains: u8,
    /// Attachments of expired messages removed, their files included.
    pub attachments_expired: u64,
    /// Attachment files no attachment named (left by a crash while one was
    /// written) removed.
    pub orphan_files_removed: u64,
}

/// What `chatvault_store_rotate_master_key` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_rotation_report {
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
    /// only `key` opens the store. 0 if `max_transactions` ran out first:
    /// call again with the same `key` to continue.
    pub finished: u8,
    /// 1 if `key` is now the store's key: the rotation to it began (or `key`
    /// already was, resuming). 0 only if the call stopped before that
    /// (`max_transactions` ran out while it finished a rotation to another
    /// key that was under way): the store's key is unchanged, and `key`
    /// opens nothing yet.
    pub key_in_force: u8,
}

/// How far an export or import has got.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_archive_progress {
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

/// Called at the start, about every 64 KiB, and at the end of an export or
/// import, on the calling thread, with the `user_data` given to it. The
/// progress is valid only during the call. It must not call chatvault
/// functions on the same store.
pub type chatvault_archive_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, progress: *const chatvault_archive_progress)>;

/// What `chatvault_store_export` wrote.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_export_report {
    /// Conversations in the archive.
    pub conversations: u64,
    /// Messages in the archive (expired ones are left out).
    pub messages: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
}

/// What `chatvault_store_import` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_import_report {
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
}

/// One problem `chatvault_store_verify` found.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_problem {
    /// A `chatvault_problem_kind`.
    pub kind: u32,
    /// The conversation it is in; 0 if none.
    pub conversation: u64,
    /// The first and last sequence numbers it concerns; both 0 if none.
    /// For a problem with an attachment (`detail` names it), `first_seq` is
    /// the attachment's id and `last_seq` its message's sequence number.
    pub first_seq: u64,
    /// See `first_seq`.
    pub last_seq: u64,
    /// The key epoch it concerns; -1 if none.
    pub epoch: i64,
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
    /// Conversations checked.
    pub conversations: u64,
    /// Segments checked.
    pub segments: u64,
    /// Messages in the segments checked.
    pub messages: u64,
    /// `problems_len` problems, in the order found; none means the store is sound.
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

/// Where a page of search hits ended: the last hit's send time and id.
/// Hits are ordered by (send time, conversation, sequence number), newest
/// first; `message.conversation` 0 means none (no cursor, or no next page).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_search_cursor {
    /// The last hit's `sent_at_ms`.
    pub sent_at_ms: i64,
    /// The last hit's id; conversation 0 for none.
    pub message: chatvault_message_id,
}

/// A search: see `chatvault_search`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_search_query {
    /// The words to find (UTF-8).
    pub text: chatvault_str,
    /// Only this conversation; 0 for the whole store.
    pub conversation: u64,
    /// Only messages from this sender (exact); `{NULL, 0}` for any.
    pub sender: chatvault_str,
    /// Only messages sent at or after this time (ms since the Unix epoch);
    /// `INT64_MIN` for no lower bound.
    pub from_ms: i64,
    /// Only messages sent before this time; `INT64_MAX` for no upper bound.
    pub until_ms: i64,
    /// At most this many hits; 0 for 50.
    pub limit: usize,
    /// The page after this cursor (the previous page's `next`); conversation
    /// 0 for the first page.
    pub after: chatvault_search_cursor,
}

/// A byte range `[start, end)` of a hit's text that matched.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct chatvault_match_range {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// One message that matched. Owned by its page.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_search_hit {
    /// The message.
    pub message: chatvault_message,
    /// `ranges_len` ranges of `message.text`, sorted and disjoint.
    pub ranges: *const chatvault_match_range,
    /// How many.
    pub ranges_len: usize,
}

/// A page of search hits, newest first. Free it with
/// `chatvault_search_page_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_search_page {
    /// `len` hits (a valid pointer even when `len` is 0).
    pub items: *const chatvault_search_hit,
    /// How many.
    pub len: usize,
    /// Pass it as the next query's `after`; conversation 0 when there is no
    /// next page.
    pub next: chatvault_search_cursor,
    /// Segments the search opened whole because the store was upgraded and
    /// `chatvault_index_for_search` has not reached them yet (the results
    /// are complete, the search slower).
    pub unindexed_segments: u64,
}

/// An attachment to write: see `chatvault_attachment_begin`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct chatvault_new_attachment {
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
    /// When `chatvault_clear_attachments` removed its content, milliseconds
    /// since the Unix epoch; 0 if the content is there. Removed content
    /// cannot be opened (`CHATVAULT_STATUS_NOT_FOUND`); the metadata stays
    /// so the message can show what was there.
    pub removed_at_ms: i64,
}

/// Attachments: a message's, or a page of a conversation's gallery. Free it
/// with `chatvault_attachment_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct chatvault_attachment_list {
    /// `len` attachments (a valid pointer even when `len` is 0).
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
    /// Attachments whose content was removed.
    pub attachments: u64,
    /// Bytes of stored content removed.
    pub bytes: u64,
}

/// What one conversation takes on disk.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct chatvault_conversation_usage {
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
    /// `len` conversations (a valid pointer even when `len` is 0).
    pub items: *const chatvault_conversation_usage,
    /// How many.
    pub len: usize,
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
