//! The `#[repr(C)]` values that cross the boundary. Inputs are read by
//! `raw`; outputs are built by `raw` and freed by the `chatvault_*_free`
//! functions. No field is a Rust enum: numbers from C are checked, never
//! transmuted.

use std::ffi::{c_char, c_void};

use chatvault::Store;

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
/// closed while another call on it is running.
pub struct chatvault_store {
    pub(crate) store: Store,
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
