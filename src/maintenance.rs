//! The values compaction, verification and statistics take and return.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::ids::{ConversationId, KeyEpoch};

/// A progress callback for [`crate::Store::compact`].
pub type ProgressFn = Arc<dyn Fn(&CompactProgress) + Send + Sync>;

/// Settings for [`crate::Store::compact`]. The default runs to completion
/// with the default segment targets.
#[derive(Clone)]
pub struct CompactOptions {
    /// Largest number of messages in a segment compaction writes (default 64).
    pub target_messages: usize,
    /// Largest record plaintext, before compression, of a segment compaction
    /// writes (default 32 KiB); a larger single message gets its own segment.
    pub target_bytes: usize,
    /// Stop starting new transactions after this long. A transaction in
    /// progress finishes first (each handles at most 256 segments).
    pub time_budget: Option<Duration>,
    /// Stop after rewriting about this many existing segments.
    pub segment_budget: Option<u64>,
    /// Set it to `true` (from any thread) to stop after the current transaction.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Called after each transaction commits.
    pub progress: Option<ProgressFn>,
}

impl CompactOptions {
    /// Largest accepted `target_messages`.
    pub const MAX_TARGET_MESSAGES: usize = 65_536;
    /// Largest accepted `target_bytes`.
    pub const MAX_TARGET_BYTES: usize = 1 << 20;

    /// Stops starting new work after `budget`.
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = Some(budget);
        self
    }

    /// Stops after rewriting about `segments` existing segments.
    pub fn segment_budget(mut self, segments: u64) -> Self {
        self.segment_budget = Some(segments);
        self
    }

    /// Stops when `flag` becomes `true`.
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Reports progress to `f` after each transaction.
    pub fn on_progress(mut self, f: impl Fn(&CompactProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Segment targets: at most `messages` messages and `bytes` of plaintext.
    pub fn targets(mut self, messages: usize, bytes: usize) -> Self {
        self.target_messages = messages;
        self.target_bytes = bytes;
        self
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            target_messages: 64,
            target_bytes: 32 << 10,
            time_budget: None,
            segment_budget: None,
            cancel: None,
            progress: None,
        }
    }
}

impl fmt::Debug for CompactOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactOptions")
            .field("target_messages", &self.target_messages)
            .field("target_bytes", &self.target_bytes)
            .field("time_budget", &self.time_budget)
            .field("segment_budget", &self.segment_budget)
            .field("cancel", &self.cancel.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Where a compaction is, passed to [`CompactOptions::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactProgress {
    /// Conversations finished so far.
    pub conversations_done: u64,
    /// Conversations that had work when compaction started.
    pub conversations_total: u64,
    /// Existing segments rewritten so far.
    pub segments_rewritten: u64,
}

/// What [`crate::Store::compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// Conversations whose work was finished.
    pub conversations_compacted: u64,
    /// Existing segments rewritten (merged, resealed or stripped of expired messages).
    pub segments_rewritten: u64,
    /// Segments written in their place.
    pub segments_written: u64,
    /// Expired messages removed from disk.
    pub messages_expired: u64,
    /// Old-epoch conversation keys destroyed.
    pub keys_destroyed: u64,
    /// Attachments of expired messages removed, files included.
    pub attachments_expired: u64,
    /// Attachment files no row named (left by a crash while one was
    /// written) removed.
    pub orphan_files_removed: u64,
    /// Database and WAL bytes before compaction.
    pub bytes_before: u64,
    /// Database and WAL bytes after compaction (and its scrub).
    pub bytes_after: u64,
    /// Whether work is left because a budget ran out or it was cancelled:
    /// call `compact` again to continue.
    pub work_remains: bool,
    /// Conversations left alone because a sealed value in them does not open
    /// or is damaged: their expired messages and old keys stay until they
    /// are repaired or deleted. [`crate::Store::verify`] says what is wrong.
    pub conversations_skipped: Vec<ConversationId>,
}

/// What [`crate::Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Conversations checked.
    pub conversations: u64,
    /// Segments checked.
    pub segments: u64,
    /// Messages in the segments checked.
    pub messages: u64,
    /// Attachments checked (each chunk of each authenticated).
    pub attachments: u64,
    /// Every problem found, in the order found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One problem [`crate::Store::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The conversation it is in, if any.
    pub conversation: Option<ConversationId>,
    /// The sequence range it concerns, if any.
    pub seqs: Option<(u64, u64)>,
    /// The key epoch it concerns, if any.
    pub epoch: Option<KeyEpoch>,
    /// A description, without any secret or message content.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(c) = self.conversation {
            write!(f, " in conversation {c}")?;
        }
        if let Some(e) = self.epoch {
            write!(f, " (key epoch {})", e.get())?;
        }
        if let Some((a, b)) = self.seqs {
            write!(f, ", messages {a}..={b}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// The kinds of problem [`crate::Store::verify`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// SQLite's `integrity_check` reported damage to the file itself.
    Integrity,
    /// A sealed value does not open with its key at its place: modified,
    /// moved, or damaged.
    Authentication,
    /// A value opened but its contents or plaintext columns are impossible.
    Corrupt,
    /// Two segments' sequence ranges overlap, or a range passes `next_seq`.
    Overlap,
    /// A key a segment or the conversation needs is missing.
    MissingKey,
    /// A row belongs to a conversation that does not exist.
    Orphan,
    /// A stored count disagrees with what the segments hold.
    CountMismatch,
    /// The schema is not exactly chatvault's: a table, index, trigger or
    /// view was added, removed or altered outside chatvault.
    Schema,
}

/// Settings for [`crate::Store::rotate_master_key_with`]. The default runs
/// the rotation to its end.
#[derive(Clone, Default)]
pub struct RotateOptions {
    /// Stop starting new transactions after this long: the rotation stays
    /// under way (the store keeps working, opened with the new key once the
    /// first transaction ran) until a later call with that key finishes it.
    pub time_budget: Option<Duration>,
    /// Stop after this many transactions (at least one is run).
    pub transaction_budget: Option<u64>,
    /// Set it to `true` (from any thread) to stop after the current transaction.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl RotateOptions {
    /// Stops starting new transactions after `budget`.
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = Some(budget);
        self
    }

    /// Stops after `transactions` transactions.
    pub fn transaction_budget(mut self, transactions: u64) -> Self {
        self.transaction_budget = Some(transactions);
        self
    }

    /// Stops when `flag` becomes `true`.
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
    }
}

impl fmt::Debug for RotateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotateOptions")
            .field("time_budget", &self.time_budget)
            .field("transaction_budget", &self.transaction_budget)
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

/// What [`crate::Store::rotate_master_key`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// Whether the rotation finished: the new master key is the current one.
    /// If not, a later call with the same key finishes it.
    pub finished: bool,
    /// Whether the key given is now the store's key: true once the rotation
    /// to it began (or if it was already the store's key, resuming). False
    /// only if the call stopped (a budget, the cancel flag) before that,
    /// while it finished a rotation to another key that was under way: then
    /// the store's key is unchanged, and the key given opens nothing.
    pub key_in_force: bool,
    /// Conversations this call moved to the new master key (a rotation
    /// resumed after an interruption counts only those it moved itself).
    pub conversations: u64,
    /// External-id index entries recomputed under the new id key.
    pub references: u64,
    /// Index entries of deleted or expired messages, which cannot be
    /// recomputed: dropped, so a re-delivery of such a message is stored again.
    pub references_dropped: u64,
    /// Write transactions it took.
    pub transactions: u64,
    /// Conversations with a key, their metadata or a segment that did not
    /// open (damage: run [`crate::Store::verify`]). They were moved as far
    /// as they could be; what did not open was left as it was.
    pub conversations_damaged: Vec<ConversationId>,
}

/// Figures about a store, from plaintext columns only (nothing is decrypted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Conversations.
    pub conversations: u64,
    /// Messages held, including expired ones compaction has not removed yet.
    pub messages: u64,
    /// Segment rows.
    pub segments: u64,
    /// Segments written since their conversation was last compacted.
    pub segments_uncompacted: u64,
    /// Segments holding at least one expired message.
    pub segments_with_expired: u64,
    /// Bytes of sealed segment bodies.
    pub segment_bytes: u64,
    /// Bytes of sealed search filters (docs/SEARCH.md).
    pub filter_bytes: u64,
    /// Segments of an upgraded store not given a search filter yet
    /// ([`crate::Store::index_for_search`]).
    pub segments_unindexed: u64,
    /// Attachments (those whose content was removed included).
    pub attachments: u64,
    /// Stored bytes of attachment content, inline and in files.
    pub attachment_bytes: u64,
    /// Attachments whose content is in a file beside the store.
    pub attachments_in_files: u64,
    /// Files in the attachment directory that no attachment names (a
    /// crash while one was written): `compact` removes them.
    pub orphan_files: u64,
    /// Their bytes.
    pub orphan_file_bytes: u64,
    /// Size of the database file.
    pub file_bytes: u64,
    /// Size of the write-ahead log.
    pub wal_bytes: u64,
    /// Free pages in the database file, which a scrub returns to the file system.
    pub reclaimable_bytes: u64,
    /// Per key epoch number, across conversations.
    pub epochs: Vec<EpochStats>,
}

/// Keys and segments at one key epoch number, across conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EpochStats {
    /// The epoch.
    pub epoch: u32,
    /// Conversations whose current epoch this is.
    pub current_for: u64,
    /// Conversation keys stored at this epoch.
    pub keys: u64,
    /// Segments sealed under this epoch.
    pub segments: u64,
}
