//! Identifiers handed out by the store.

use std::fmt;
use std::str::FromStr;

/// Identifies a conversation within one store. Never reused, even after the
/// conversation is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(u64);

impl ConversationId {
    /// Rebuilds an id from [`ConversationId::get`]'s value (for example one an
    /// app saved). An id that names no conversation is reported as
    /// [`crate::Error::NotFound`] when used.
    pub const fn from_raw(raw: u64) -> Self {
        ConversationId(raw)
    }

    /// The id as a number, for storing in an app's own tables.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The SQLite row id, if the id fits in one.
    pub(crate) fn row(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies a message: its conversation and its sequence number there.
///
/// Sequence numbers start at 1, grow by one per appended message, and are
/// never reused, so ids order messages within a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    conversation: ConversationId,
    seq: u64,
}

impl MessageId {
    /// Builds an id from its two parts.
    pub const fn new(conversation: ConversationId, seq: u64) -> Self {
        MessageId { conversation, seq }
    }

    /// The conversation the message belongs to.
    pub const fn conversation(self) -> ConversationId {
        self.conversation
    }

    /// The message's sequence number within its conversation.
    pub const fn seq(self) -> u64 {
        self.seq
    }
}

impl fmt::Display for MessageId {
    /// Formats as `conversation/seq`, e.g. `12/345`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.conversation, self.seq)
    }
}

impl FromStr for MessageId {
    type Err = crate::Error;

    /// Parses the `conversation/seq` form that `Display` writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::Error::invalid(format!("{s:?} is not a message id (conversation/seq)"));
        let (c, q) = s.split_once('/').ok_or_else(bad)?;
        let c = c.parse().map_err(|_| bad())?;
        let q = q.parse().map_err(|_| bad())?;
        Ok(MessageId::new(ConversationId(c), q))
    }
}

/// Identifies an attachment within one store. Never reused, even after
/// the attachment is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttachmentId(u64);

impl AttachmentId {
    /// Rebuilds an id from [`AttachmentId::get`]'s value. An id that names
    /// no attachment is reported as [`crate::Error::NotFound`] when used.
    pub const fn from_raw(raw: u64) -> Self {
        AttachmentId(raw)
    }

    /// The id as a number, for storing in an app's own tables.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The SQLite row id, if the id fits in one.
    pub(crate) fn row(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }
}

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A conversation key's epoch. A conversation starts at epoch 0; each key
/// rotation moves it to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyEpoch(u32);

impl KeyEpoch {
    /// The first epoch of every conversation.
    pub const FIRST: KeyEpoch = KeyEpoch(0);

    /// The epoch as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn from_column(v: i64) -> Option<Self> {
        u32::try_from(v).ok().map(KeyEpoch)
    }

    pub(crate) fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(KeyEpoch)
    }
}

impl fmt::Display for KeyEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
