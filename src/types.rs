//! The values the public API takes and returns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ids::{ConversationId, MessageId};

/// `Debug` of a value holding the user's words: its length, never its
/// content (SECURITY.md, "Secrets in memory").
pub(crate) struct Len<'a, T: ?Sized>(pub(crate) &'a T);

impl fmt::Debug for Len<'_, str> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl fmt::Debug for Len<'_, [u8]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl fmt::Debug for Len<'_, [String]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} items>", self.0.len())
    }
}

impl fmt::Debug for Len<'_, Option<String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "Some(<{} bytes>)", s.len()),
            None => f.write_str("None"),
        }
    }
}

/// Size limits, checked before anything is written (docs/DESIGN.md, "Limits").
pub mod limits {
    /// Largest message: text, sender, external id and extra together.
    pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
    /// Largest external id (conversation or message).
    pub const MAX_EXTERNAL_ID_BYTES: usize = 1 << 10;
    /// Largest conversation metadata: title, members, external id and app data together.
    pub const MAX_METADATA_BYTES: usize = 1 << 20;
    /// `append_batch` starts a new segment rather than grow one past this
    /// much plaintext.
    pub const MAX_SEGMENT_PLAINTEXT: usize = 64 << 10;
    /// Largest attachment: 64 GiB, past any phone's media, and small
    /// enough that every offset and count of its chunks fits in 64 bits.
    pub const MAX_ATTACHMENT_BYTES: u64 = 64 << 30;
    /// Largest media type, file name and app data of one attachment, together.
    pub const MAX_ATTACHMENT_META_BYTES: usize = 64 << 10;
}

/// A conversation to create.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewConversation {
    /// The app's id for it (a chat or group id). Unique in the store; the
    /// store keeps only a keyed hash of it in the clear.
    pub external_id: Option<String>,
    /// Its display title.
    pub title: String,
    /// Member ids or names.
    pub members: Vec<String>,
    /// Opaque app data, sealed with the conversation.
    pub app_data: Vec<u8>,
    /// Creation time in milliseconds since the Unix epoch; `None` means now.
    pub created_at_ms: Option<i64>,
    /// Disappearing messages: every message appended while this is set
    /// expires this many milliseconds after its `sent_at_ms`.
    pub retention_ms: Option<u64>,
}

/// Changes to a conversation's metadata; `None` fields stay as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConversationUpdate {
    /// A new title.
    pub title: Option<String>,
    /// A new member list.
    pub members: Option<Vec<String>>,
    /// New app data.
    pub app_data: Option<Vec<u8>>,
    /// A new retention: `Some(None)` turns disappearing messages off. It
    /// applies to messages appended from now on.
    pub retention_ms: Option<Option<u64>>,
}

/// A conversation's metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The app's id for it.
    pub external_id: Option<String>,
    /// Its title.
    pub title: String,
    /// Its members.
    pub members: Vec<String>,
    /// Opaque app data.
    pub app_data: Vec<u8>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// The last message marked read, if any.
    pub read_up_to: Option<MessageId>,
    /// How many messages it holds (expired ones excluded).
    pub message_count: u64,
    /// Its disappearing-message retention, if set.
    pub retention_ms: Option<u64>,
}

/// A line of the conversation list: [`crate::Store::conversations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The conversation.
    pub conversation: Conversation,
    /// Its newest message, if it has any.
    pub last_message: Option<Message>,
    /// Messages after the read marker (all of them if none was marked read).
    pub unread_count: u64,
}

/// A message to append.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// The server's or sender's id for it. Appending an external id the
    /// conversation already has returns the existing message's id and stores
    /// nothing: sync retries are safe.
    pub external_id: Option<String>,
    /// Who sent it.
    pub sender: String,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
    /// Its text.
    pub text: String,
    /// The message it replies to, in the same conversation.
    pub reply_to: Option<MessageId>,
    /// Opaque app data (attachment references, reactions, ...).
    pub extra: Vec<u8>,
    /// When it disappears, milliseconds since the Unix epoch. The
    /// conversation's retention may set an earlier time.
    pub expires_at_ms: Option<i64>,
}

/// A stored message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// The server's or sender's id for it.
    pub external_id: Option<String>,
    /// Who sent it.
    pub sender: String,
    /// When it was sent, milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
    /// Its text.
    pub text: String,
    /// The message it replies to.
    pub reply_to: Option<MessageId>,
    /// When its text was last edited, milliseconds since the Unix epoch.
    pub edited_at_ms: Option<i64>,
    /// Opaque app data.
    pub extra: Vec<u8>,
    /// When it disappears, milliseconds since the Unix epoch.
    pub expires_at_ms: Option<i64>,
}

/// Which messages of a conversation to read. A page is always returned
/// oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub(crate) anchor: Anchor,
    pub(crate) limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Latest,
    Oldest,
    Before(MessageId),
    After(MessageId),
}

impl Page {
    /// The newest `limit` messages.
    pub fn latest(limit: usize) -> Self {
        Page { anchor: Anchor::Latest, limit }
    }

    /// The oldest `limit` messages.
    pub fn oldest(limit: usize) -> Self {
        Page { anchor: Anchor::Oldest, limit }
    }

    /// Up to `limit` messages just before `m` (which need not still exist).
    pub fn before(m: MessageId, limit: usize) -> Self {
        Page { anchor: Anchor::Before(m), limit }
    }

    /// Up to `limit` messages just after `m` (which need not still exist).
    pub fn after(m: MessageId, limit: usize) -> Self {
        Page { anchor: Anchor::After(m), limit }
    }
}

/// When a committed write is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every commit is synced to storage before it returns: an acknowledged
    /// write survives a crash of the app and of the device (SQLite
    /// `synchronous = FULL`).
    #[default]
    Full,
    /// Commits survive a crash of the app; a power loss or OS crash may roll
    /// back the last few (SQLite `synchronous = NORMAL` in WAL mode). Faster
    /// on slow flash.
    Normal,
}

/// The wall clock the store reads for expiry and edit times, in
/// milliseconds since the Unix epoch. The system clock by default; tests and
/// apps with a trusted server time can supply their own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }))
    }

    /// A clock that calls `now_ms`.
    pub fn new(now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now_ms))
    }

    /// The current time, milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Settings for opening or creating a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long an operation waits for another process's lock before failing
    /// with [`crate::Error::Busy`].
    pub busy_timeout: Duration,
    /// When commits are durable.
    pub durability: Durability,
    /// The clock that decides when messages expire.
    pub clock: Clock,
    /// The database file never grows beyond this many bytes (rounded down
    /// to whole database pages, 4 KiB each): a write that would need more
    /// fails with [`crate::Error::StorageFull`] and changes nothing, while
    /// reads, deletes and compaction go on. `None` (the default) sets no
    /// limit beyond the device's free space.
    ///
    /// The write-ahead log beside the file is not counted: it holds recent
    /// changes until they are checkpointed into the file (which every
    /// delete, compaction and `close` does). If the file is already larger
    /// when the store is opened, it cannot grow past its size at that time,
    /// and the limit applies again once deletes or compaction have shrunk
    /// it below.
    pub max_size_bytes: Option<u64>,
    /// The most Argon2id work a passphrase store's header may ask for at
    /// open (default and ceiling: [`crate::KdfParams::MAX`]). A header
    /// asking for more is refused with [`crate::Error::KdfTooCostly`]
    /// before any key derivation. Lower it where memory is tight (an iOS
    /// app extension, say).
    pub max_kdf: crate::KdfParams,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            durability: Durability::Full,
            clock: Clock::system(),
            max_size_bytes: None,
            max_kdf: crate::KdfParams::MAX,
        }
    }
}

impl fmt::Debug for NewConversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConversation")
            .field("external_id", &Len(&self.external_id))
            .field("title", &Len(self.title.as_str()))
            .field("members", &Len(self.members.as_slice()))
            .field("app_data", &Len(self.app_data.as_slice()))
            .field("created_at_ms", &self.created_at_ms)
            .field("retention_ms", &self.retention_ms)
            .finish()
    }
}

impl fmt::Debug for ConversationUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConversationUpdate")
            .field("title", &self.title.as_deref().map(Len))
            .field("members", &self.members.as_deref().map(Len))
            .field("app_data", &self.app_data.as_deref().map(Len))
            .field("retention_ms", &self.retention_ms)
            .finish()
    }
}

impl fmt::Debug for Conversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("id", &self.id)
            .field("external_id", &Len(&self.external_id))
            .field("title", &Len(self.title.as_str()))
            .field("members", &Len(self.members.as_slice()))
            .field("app_data", &Len(self.app_data.as_slice()))
            .field("created_at_ms", &self.created_at_ms)
            .field("read_up_to", &self.read_up_to)
            .field("message_count", &self.message_count)
            .field("retention_ms", &self.retention_ms)
            .finish()
    }
}

impl fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMessage")
            .field("external_id", &Len(&self.external_id))
            .field("sender", &Len(self.sender.as_str()))
            .field("sent_at_ms", &self.sent_at_ms)
            .field("text", &Len(self.text.as_str()))
            .field("reply_to", &self.reply_to)
            .field("extra", &Len(self.extra.as_slice()))
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("external_id", &Len(&self.external_id))
            .field("sender", &Len(self.sender.as_str()))
            .field("sent_at_ms", &self.sent_at_ms)
            .field("text", &Len(self.text.as_str()))
            .field("reply_to", &self.reply_to)
            .field("edited_at_ms", &self.edited_at_ms)
            .field("extra", &Len(self.extra.as_slice()))
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// An attachment to write: [`crate::Store::attach`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewAttachment {
    /// Its media type, e.g. `image/jpeg` (the media gallery and the
    /// storage manager select by its prefix, e.g. `image/`).
    pub media_type: String,
    /// The file name the user sees, if any.
    pub file_name: Option<String>,
    /// Opaque app data: dimensions, duration, a blurhash.
    pub app_data: Vec<u8>,
}

impl fmt::Debug for NewAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAttachment")
            .field("media_type", &Len(self.media_type.as_str()))
            .field("file_name", &Len(&self.file_name))
            .field("app_data", &Len(self.app_data.as_slice()))
            .finish()
    }
}

/// A stored attachment's metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its id.
    pub id: crate::AttachmentId,
    /// The message it belongs to.
    pub message: MessageId,
    /// Its media type.
    pub media_type: String,
    /// Its file name, if it was given one.
    pub file_name: Option<String>,
    /// Its content's length in bytes.
    pub byte_len: u64,
    /// Opaque app data.
    pub app_data: Vec<u8>,
    /// When it was written, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When [`crate::Store::clear_attachments`] removed its content, if it
    /// did: the metadata stays so the message can say what was there.
    pub removed_at_ms: Option<i64>,
}

impl Attachment {
    /// The usual file extension of its media type (`jpg` for
    /// `image/jpeg`), for naming a file that holds it; `None` for a type
    /// this table does not know.
    pub fn file_extension(&self) -> Option<&'static str> {
        let essence = self.media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/gif" => "gif",
            "image/webp" => "webp",
            "image/bmp" => "bmp",
            "image/heic" => "heic",
            "video/mp4" => "mp4",
            "video/quicktime" => "mov",
            "audio/mp4" => "m4a",
            "audio/mpeg" => "mp3",
            "audio/ogg" => "ogg",
            "audio/wav" | "audio/x-wav" => "wav",
            "application/pdf" => "pdf",
            "text/plain" => "txt",
            _ => return None,
        })
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .field("message", &self.message)
            .field("media_type", &Len(self.media_type.as_str()))
            .field("file_name", &Len(&self.file_name))
            .field("byte_len", &self.byte_len)
            .field("created_at_ms", &self.created_at_ms)
            .field("removed_at_ms", &self.removed_at_ms)
            .finish_non_exhaustive()
    }
}

/// Which of a conversation's attachments to list, newest message first:
/// [`crate::Store::attachments`] (a chat's media gallery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPage {
    pub(crate) media_type_prefix: Option<String>,
    pub(crate) before: Option<crate::AttachmentId>,
    pub(crate) limit: usize,
}

impl AttachmentPage {
    /// The newest `limit` attachments.
    pub fn newest(limit: usize) -> Self {
        AttachmentPage { media_type_prefix: None, before: None, limit }
    }

    /// Only those whose media type starts with `prefix` (`image/`, `video/`).
    pub fn media_type(mut self, prefix: impl Into<String>) -> Self {
        self.media_type_prefix = Some(prefix.into());
        self
    }

    /// Only those listed after `a` in this order (the next page).
    pub fn before(mut self, a: crate::AttachmentId) -> Self {
        self.before = Some(a);
        self
    }
}

/// Which attachments [`crate::Store::clear_attachments`] removes the
/// content of; every field set must match. The default matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentFilter {
    /// Only in this conversation.
    pub conversation: Option<ConversationId>,
    /// Only media types starting with this (`image/`, `video/`).
    pub media_type_prefix: Option<String>,
    /// Only attachments written before this time (ms since the Unix epoch).
    pub created_before_ms: Option<i64>,
    /// Only attachments of at least this many bytes.
    pub min_bytes: Option<u64>,
}

/// What [`crate::Store::clear_attachments`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClearReport {
    /// Attachments whose content was removed.
    pub attachments: u64,
    /// Bytes of stored content removed.
    pub bytes: u64,
}

/// What one conversation takes on disk: [`crate::Store::storage_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConversationUsage {
    /// The conversation.
    pub conversation: ConversationId,
    /// Sealed bytes of its messages, search filters and metadata.
    pub text_bytes: u64,
    /// Stored bytes of its attachments' content.
    pub attachment_bytes: u64,
    /// Its attachments (those whose content was removed included).
    pub attachments: u64,
}
