//! The one error type every chatvault operation returns.

use std::fmt;
use std::path::PathBuf;

use crate::ids::{AttachmentId, ConversationId, MessageId};

/// The result type of every fallible chatvault operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in chatvault.
///
/// Variants keep distinct what a caller handles differently: a wrong key, a
/// store that was tampered with ([`Error::Authentication`]), a store that is
/// damaged ([`Error::Corrupt`]), a full disk, a busy database, and mistakes in
/// the call itself. No variant ever carries key material or message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key or passphrase does not open this store or archive.
    #[error("wrong key or passphrase (or the key header of the store or archive was tampered with)")]
    WrongKey,

    /// A store's or archive's header asks for more Argon2id work than this
    /// device is allowed to do ([`crate::StoreOptions::max_kdf`],
    /// [`crate::ImportOptions::max_kdf`], and at most
    /// [`crate::KdfParams::MAX`]). Refused before any key derivation: the
    /// header was forged or damaged, or made on a device allowed more.
    #[error(
        "the key-derivation parameters in the header (Argon2id m = {} KiB, t = {}, p = {}) exceed what this device allows (m <= {} KiB, t <= {}, p <= {}, m x t <= {} KiB): the header was forged or damaged, or the file was made with a higher cost; nothing was derived (raise the limit only for a file you trust, up to KdfParams::MAX)",
        .found.memory_kib, .found.iterations, .found.parallelism,
        .limit.memory_kib, .limit.iterations, .limit.parallelism, crate::KdfParams::MAX_WORK_KIB
    )]
    KdfTooCostly {
        /// The parameters the header asks for.
        found: crate::KdfParams,
        /// The limit in force.
        limit: crate::KdfParams,
    },

    /// Another handle or process rotated the store's master key since this
    /// handle was opened, and this handle cannot follow: it no longer holds
    /// a key that opens the store.
    #[error(
        "the store's master key was rotated by another handle or process since this one was opened: close this handle and open the store again with its current key"
    )]
    MasterKeyRotated,

    /// The file's schema (tables, indexes, triggers, views) is not exactly
    /// chatvault's: something other than chatvault modified the file.
    /// Refused at open, because an added trigger or table could keep a copy
    /// of what the store deletes.
    #[error(
        "the store's schema was modified outside chatvault ({detail}): the file cannot be trusted; restore it from a backup or an archive"
    )]
    SchemaModified {
        /// What differs, by object name.
        detail: String,
    },

    /// The data given to an import or an inspection is not a chatvault archive.
    #[error("this is not a chatvault archive (its first bytes are not an archive header)")]
    NotAnArchive,

    /// The archive was made by a newer chatvault.
    #[error("archive version {found} is newer than this chatvault reads ({supported}): upgrade chatvault")]
    UnsupportedArchiveVersion {
        /// The version in the archive's header.
        found: u16,
        /// The newest archive version this build reads.
        supported: u16,
    },

    /// Part of an archive failed authentication: it was modified, its
    /// chunks were reordered, duplicated or dropped, a chunk came from
    /// another archive, bytes were appended, or it was cut inside a chunk.
    /// Nothing was imported.
    #[error("{} failed authentication: the archive was modified, reordered, spliced or cut; nothing was imported (make the archive again from its source)", .chunk.map_or_else(|| "the archive header".to_owned(), |i| format!("archive chunk {i}")))]
    ArchiveTampered {
        /// The chunk that failed (counting from 0), or `None` for the header.
        chunk: Option<u64>,
    },

    /// The archive ends before its final chunk: it was cut short, for
    /// example by an interrupted copy. Nothing was imported.
    #[error(
        "the archive is incomplete: it ends after {chunks} whole chunks, before its final chunk (copy it again from its source); nothing was imported"
    )]
    ArchiveTruncated {
        /// How many chunks were read and authenticated.
        chunks: u64,
    },

    /// The archive authenticated but its contents break the format's rules
    /// (docs/FORMAT.md): only a faulty program holding the archive's key
    /// could have written it. Also a header field out of range.
    #[error("the archive is invalid: {detail}; nothing was imported")]
    ArchiveCorrupt {
        /// The rule it broke.
        detail: String,
    },

    /// The file exists but is not a chatvault store.
    #[error("{path} is not a chatvault store")]
    NotAStore {
        /// The file that was opened.
        path: PathBuf,
    },

    /// There is no store at the path given to [`crate::Store::open`].
    #[error("no chatvault store at {path}: create one with Store::create")]
    NoSuchStore {
        /// The path that was opened.
        path: PathBuf,
    },

    /// [`crate::Store::create`] found a file already at the path.
    #[error("{path} already exists: open it with Store::open, or choose another path")]
    AlreadyExists {
        /// The path that was given.
        path: PathBuf,
    },

    /// The store was written by a newer chatvault whose format this one cannot read.
    #[error(
        "store format version {found} is newer than this chatvault supports ({supported}): upgrade chatvault"
    )]
    UnsupportedVersion {
        /// The format version found in the file.
        found: u32,
        /// The newest format version this build reads.
        supported: u32,
    },

    /// A sealed value failed authentication: the file was modified, a value
    /// was moved to another place, or the disk corrupted it.
    #[error("{record} failed authentication: the store was modified or damaged (run verify)")]
    Authentication {
        /// Which sealed record failed.
        record: RecordRef,
    },

    /// The store's structure is damaged in a way authentication cannot explain
    /// (a missing key row, an impossible sequence range, out-of-range settings).
    #[error("the store is damaged: {detail} (in {record})")]
    Corrupt {
        /// Where the damage was found.
        record: RecordRef,
        /// What was wrong.
        detail: String,
    },

    /// A conversation or message does not exist (or no longer exists).
    #[error("{0} not found")]
    NotFound(Missing),

    /// A conversation with this external id already exists.
    #[error("a conversation with this external id already exists ({0}): use find_conversation to get it")]
    ConversationExists(ConversationId),

    /// An input exceeds a documented size limit.
    #[error("{what} is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },

    /// A count the format bounds is used up: sequence numbers in one
    /// conversation (below 2^32) or conversation ids in one store (below
    /// 2^31), docs/DESIGN.md "Limits". Nothing was written.
    #[error(
        "{what} reached the store format's limit of {limit} (docs/DESIGN.md, \"Limits\"); nothing was written: continue in a new conversation, or export the store and import it into a new one"
    )]
    LimitReached {
        /// What ran out.
        what: &'static str,
        /// The limit.
        limit: u64,
    },

    /// An argument is invalid; the message says which and why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The device is out of space, or the database file reached
    /// [`crate::StoreOptions::max_size_bytes`]. The write was rolled back:
    /// the store is unchanged, readable and consistent, and deletes still
    /// work. Free space (delete conversations or messages, compact, or
    /// raise the limit) and retry.
    #[error(
        "storage is full (the device, or the store's max_size_bytes limit): the write was rolled back and the store is unchanged; free space by deleting conversations or messages or by compacting, or raise max_size_bytes, then retry"
    )]
    StorageFull,

    /// Another process (or another connection to the same file) held the
    /// database lock for longer than the busy timeout.
    #[error("the store is locked by another connection: retry later or raise the busy timeout")]
    Busy,

    /// The change was committed, but the WAL could not be emptied afterwards
    /// (because another process kept a read open, an export of this store
    /// is running, or the checkpoint's I/O failed), so removed data may
    /// linger there. After an
    /// export the scrub runs by itself when it ends; otherwise call
    /// [`crate::Store::scrub`] later, which reports the underlying error if
    /// it fails again.
    #[error(
        "the change was committed, but the write-ahead log could not be scrubbed yet (another process is reading the store, an export is running (its end scrubs it), or writing the store's files failed): call Store::scrub() later, which reports the cause if it fails again"
    )]
    ScrubIncomplete,

    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,

    /// The caller stopped the operation (an export's or import's
    /// `cancel_flag`): an import changed nothing, an export to a file left
    /// no file (an export to a writer left what it had written so far).
    #[error(
        "the operation was cancelled by its caller: an import changed nothing, an export to a file left no file; run it again to do it"
    )]
    Cancelled,

    /// A file-system error: reading or writing the store's files (SQLite's
    /// `SQLITE_IOERR`), an archive or an export failed. A write that fails
    /// so is rolled back, unless the failure came while making a commit
    /// durable: then it may or may not be saved. Check the device and retry.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// An error reported by SQLite that is none of the above.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn corrupt(record: RecordRef, detail: impl Into<String>) -> Self {
        Error::Corrupt { record, detail: detail.into() }
    }
}

/// What [`Error::NotFound`] could not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// A conversation.
    Conversation(ConversationId),
    /// A message.
    Message(MessageId),
    /// An attachment, or its content (removed by the storage manager).
    Attachment(AttachmentId),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Conversation(c) => write!(f, "conversation {c}"),
            Missing::Message(m) => write!(f, "message {m}"),
            Missing::Attachment(a) => write!(f, "attachment {a}"),
        }
    }
}

/// The kinds of sealed record a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// The master key, sealed under the root key.
    MasterKey,
    /// A conversation key, sealed under the wrap key.
    ConversationKey,
    /// A conversation's metadata.
    ConversationMeta,
    /// A segment of messages.
    Segment,
    /// The store's header row (plaintext settings).
    Header,
    /// The external-id index (keyed hashes, in the clear).
    ExternalIdIndex,
    /// The database file's own structure (SQLite pages), below any record.
    DatabaseFile,
    /// The next master key, sealed under the root key while a master-key
    /// rotation is under way.
    NextMasterKey,
    /// The database schema: its tables, indexes, triggers and views.
    Schema,
    /// A segment's search filter (docs/SEARCH.md).
    SegmentFilter,
    /// An attachment's metadata and key (docs/ATTACHMENTS.md); `seqs` is
    /// `(attachment id, message sequence number)`.
    Attachment,
    /// A chunk of an attachment's content, or its file; `seqs` is
    /// `(attachment id, chunk index)`.
    AttachmentContent,
}

/// Names a sealed record in an error, without revealing anything secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    /// The kind of record.
    pub kind: RecordKind,
    /// Its conversation, if it belongs to one.
    pub conversation: Option<ConversationId>,
    /// The key epoch it is sealed under (0 where not applicable).
    pub epoch: u32,
    /// The sequence range it holds, for segments.
    pub seqs: Option<(u64, u64)>,
}

impl RecordRef {
    pub(crate) fn header() -> Self {
        Self::store(RecordKind::Header)
    }

    pub(crate) fn store(kind: RecordKind) -> Self {
        RecordRef { kind, conversation: None, epoch: 0, seqs: None }
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            RecordKind::MasterKey => "the master key",
            RecordKind::ConversationKey => "a conversation key",
            RecordKind::ConversationMeta => "conversation metadata",
            RecordKind::Segment => "a message segment",
            RecordKind::Header => "the store header",
            RecordKind::ExternalIdIndex => "the external-id index",
            RecordKind::DatabaseFile => "the database file's pages",
            RecordKind::NextMasterKey => "the next master key",
            RecordKind::Schema => "the database schema",
            RecordKind::SegmentFilter => "the search filter of a segment",
            RecordKind::Attachment => "the metadata of an attachment",
            RecordKind::AttachmentContent => "the content of an attachment",
        };
        f.write_str(name)?;
        if let Some(c) = self.conversation {
            write!(f, " of conversation {c} (key epoch {})", self.epoch)?;
        }
        match (self.kind, self.seqs) {
            (RecordKind::Attachment, Some((id, seq))) => write!(f, ", attachment {id} of message {seq}")?,
            (RecordKind::AttachmentContent, Some((id, chunk))) => {
                write!(f, ", attachment {id}, chunk {chunk}")?
            }
            (_, Some((first, last))) => write!(f, ", messages {first}..={last}")?,
            (_, None) => {}
        }
        Ok(())
    }
}

/// An SQLite error that chatvault does not map to a more specific variant.
///
/// Opaque so that chatvault's API does not depend on rusqlite's version.
#[derive(Debug)]
pub struct DatabaseError(rusqlite::Error);

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// SQLite's I/O error, as an [`std::io::Error`] whose message says which
/// call failed and what to do, with SQLite's error as its source.
#[derive(Debug)]
struct StorageIo {
    call: &'static str,
    advice: &'static str,
    code: std::ffi::c_int,
    source: rusqlite::Error,
}

impl fmt::Display for StorageIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (SQLite extended code {}): the operation did not complete (if the failure came while \
             committing, it may still have been saved); {}, then retry",
            self.call, self.code, self.advice
        )
    }
}

impl std::error::Error for StorageIo {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn storage_io_error(code: std::ffi::c_int, source: rusqlite::Error) -> std::io::Error {
    use rusqlite::ffi;
    const DEVICE: &str = "check the device and free space";
    let (call, advice) = match code {
        ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ => ("reading the store's files failed", DEVICE),
        ffi::SQLITE_IOERR_WRITE => ("writing the store's files failed", DEVICE),
        ffi::SQLITE_IOERR_FSYNC | ffi::SQLITE_IOERR_DIR_FSYNC => {
            ("flushing the store's files to the device failed", DEVICE)
        }
        ffi::SQLITE_IOERR_TRUNCATE => ("truncating the store's files failed", DEVICE),
        ffi::SQLITE_IOERR_DELETE | ffi::SQLITE_IOERR_DELETE_NOENT => {
            ("deleting a file of the store failed", DEVICE)
        }
        ffi::SQLITE_IOERR_NOMEM => ("SQLite ran out of memory", "free memory"),
        ffi::SQLITE_IOERR_LOCK
        | ffi::SQLITE_IOERR_RDLOCK
        | ffi::SQLITE_IOERR_UNLOCK
        | ffi::SQLITE_IOERR_CHECKRESERVEDLOCK
        | ffi::SQLITE_IOERR_SHMLOCK
        | ffi::SQLITE_IOERR_SHMOPEN
        | ffi::SQLITE_IOERR_SHMSIZE
        | ffi::SQLITE_IOERR_SHMMAP => (
            "locking the store's files or mapping its shared-memory index failed",
            "check that the directory is on a local file system that supports locks",
        ),
        _ => ("the device reported an error", DEVICE),
    };
    std::io::Error::other(StorageIo { call, advice, code, source })
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::DiskFull => return Error::StorageFull,
                ErrorCode::SystemIoFailure => {
                    let code = f.extended_code;
                    return Error::Io(storage_io_error(code, e));
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return Error::Busy,
                ErrorCode::DatabaseCorrupt => {
                    return Error::corrupt(
                        RecordRef::store(RecordKind::DatabaseFile),
                        "SQLite reports the file malformed; restore it from a backup or an archive",
                    );
                }
                _ => {}
            }
        }
        Error::Database(DatabaseError(e))
    }
}
