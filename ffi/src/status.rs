//! Status codes, the per-thread error message, and the panic boundary every
//! exported function runs inside.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use chatvault::Error;

/// What a chatvault function did. `CHATVAULT_STATUS_OK` (0) is success;
/// every other value is an error, described for the calling thread by
/// `chatvault_last_error_message()`.
///
/// The numbers are part of the ABI: they never change, and a retired one is
/// never reused. New codes may be added; treat an unknown one as an error.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum chatvault_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL (or a pointer was NULL with a
    /// nonzero length).
    NullArgument = 1,
    /// Text given to the library is not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument is invalid; the message says which and why.
    InvalidArgument = 3,
    /// An input exceeds a documented size limit, or a count the store
    /// format bounds is used up (sequence numbers in a conversation,
    /// conversation ids in a store); the message says which.
    TooLarge = 4,
    /// The conversation, message or attachment does not exist (or no longer
    /// exists: deleted, or its message expired), an attachment's content was
    /// removed (`chatvault_clear_attachments`), or no conversation has the
    /// external id looked up.
    NotFound = 5,
    /// A conversation with this external id already exists.
    ConversationExists = 6,
    /// The key or passphrase does not open this store or archive.
    WrongKey = 7,
    /// There is no store at the path given to open.
    NoSuchStore = 8,
    /// Create found a file already at the path.
    AlreadyExists = 9,
    /// The file is not a chatvault store.
    NotAStore = 10,
    /// The store was written by a newer chatvault: upgrade the library.
    UnsupportedVersion = 11,
    /// A sealed value failed authentication: the store was modified or
    /// damaged. Run `chatvault_store_verify`. A chunk of an attachment's
    /// content that fails gives this too, and never its bytes.
    AuthenticationFailed = 12,
    /// The store is damaged in a way authentication cannot explain.
    Corrupt = 13,
    /// The device is out of space; the write was rolled back. Free space and retry.
    StorageFull = 14,
    /// Another process held the database lock past the busy timeout; retry later.
    Busy = 15,
    /// The change committed, but removed data could not be scrubbed from the
    /// write-ahead log yet: call `chatvault_store_scrub` later.
    ScrubIncomplete = 16,
    /// The file given to import is not a chatvault archive.
    NotAnArchive = 17,
    /// The archive was made by a newer chatvault: upgrade the library.
    UnsupportedArchiveVersion = 18,
    /// Part of the archive failed authentication (modified, reordered,
    /// spliced or cut); nothing was imported.
    ArchiveTampered = 19,
    /// The archive ends before its final chunk; nothing was imported.
    ArchiveTruncated = 20,
    /// The archive authenticated but breaks the format's rules; nothing was imported.
    ArchiveCorrupt = 21,
    /// A file-system error.
    Io = 22,
    /// An SQLite error that is none of the above.
    Database = 23,
    /// The operating system's random generator failed.
    Random = 24,
    /// chatvault panicked: a bug. The store is still usable; please report it.
    Panic = 25,
    /// An error this version of the C API has no code for yet.
    Unknown = 26,
    /// The store's or archive's passphrase header asks for more Argon2id
    /// work than the library allows (at most 256 MiB, 16 passes, 8 lanes,
    /// and 512 MiB of memory times passes): the header was forged or
    /// damaged. Refused before any key derivation.
    KdfTooCostly = 27,
    /// Another handle or process rotated the store's master key
    /// (`chatvault_store_rotate_master_key`) and this handle, opened with
    /// the old key, cannot follow: close it and open the store again with
    /// its current (new) key.
    MasterKeyRotated = 28,
    /// The file's schema (its tables, indexes, triggers or views) was
    /// modified outside chatvault: the store cannot be trusted and does not
    /// open. Restore it from a backup or an archive.
    SchemaModified = 29,
    /// `chatvault_store_close` was called while attachment writers made
    /// from the handle (`chatvault_attachment_begin`) are still open:
    /// nothing was closed and the handle stays valid. Finish or abort the
    /// writers, then close it again.
    StoreInUse = 30,
    /// The progress callback asked to stop (`CHATVAULT_PROGRESS_STOP`): an
    /// import changed nothing, an export or inspection left no file, a
    /// compaction kept the transactions it had committed (the store is
    /// valid; call it again to go on).
    Cancelled = 31,
}

impl chatvault_status {
    /// Every status, in order of number.
    #[cfg(test)]
    pub(crate) const ALL: [chatvault_status; 32] = {
        use chatvault_status as S;
        [
            S::Ok,
            S::NullArgument,
            S::InvalidUtf8,
            S::InvalidArgument,
            S::TooLarge,
            S::NotFound,
            S::ConversationExists,
            S::WrongKey,
            S::NoSuchStore,
            S::AlreadyExists,
            S::NotAStore,
            S::UnsupportedVersion,
            S::AuthenticationFailed,
            S::Corrupt,
            S::StorageFull,
            S::Busy,
            S::ScrubIncomplete,
            S::NotAnArchive,
            S::UnsupportedArchiveVersion,
            S::ArchiveTampered,
            S::ArchiveTruncated,
            S::ArchiveCorrupt,
            S::Io,
            S::Database,
            S::Random,
            S::Panic,
            S::Unknown,
            S::KdfTooCostly,
            S::MasterKeyRotated,
            S::SchemaModified,
            S::StoreInUse,
            S::Cancelled,
        ]
    };
}

/// The status and message of a failed call.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) status: chatvault_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: chatvault_status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(chatvault_status::NullArgument, format!("{what} is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(chatvault_status::InvalidArgument, message)
    }

    /// An error from an `std::io` trait: the chatvault error inside it, if
    /// it carries one (the attachment writer wraps them so), else an I/O error.
    pub(crate) fn from_io(e: std::io::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(e) => e.into(),
            Err(e) => Error::Io(e).into(),
        }
    }

    /// The same failure, reported again by a later call.
    pub(crate) fn again(&self) -> Self {
        Failure::new(
            self.status,
            format!("an earlier write to this attachment writer failed: {}", self.message),
        )
    }

    /// The same failure, reported by the call that ends the writer.
    pub(crate) fn stored_nothing(&self) -> Self {
        let again = self.again();
        Failure::new(again.status, format!("{}; nothing was stored", again.message))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        use chatvault_status as S;
        let status = match &e {
            Error::WrongKey => S::WrongKey,
            Error::KdfTooCostly { .. } => S::KdfTooCostly,
            Error::MasterKeyRotated => S::MasterKeyRotated,
            Error::SchemaModified { .. } => S::SchemaModified,
            Error::NotAnArchive => S::NotAnArchive,
            Error::UnsupportedArchiveVersion { .. } => S::UnsupportedArchiveVersion,
            Error::ArchiveTampered { .. } => S::ArchiveTampered,
            Error::ArchiveTruncated { .. } => S::ArchiveTruncated,
            Error::ArchiveCorrupt { .. } => S::ArchiveCorrupt,
            Error::NotAStore { .. } => S::NotAStore,
            Error::NoSuchStore { .. } => S::NoSuchStore,
            Error::AlreadyExists { .. } => S::AlreadyExists,
            Error::UnsupportedVersion { .. } => S::UnsupportedVersion,
            Error::Authentication { .. } => S::AuthenticationFailed,
            Error::Corrupt { .. } => S::Corrupt,
            Error::NotFound(_) => S::NotFound,
            Error::ConversationExists(_) => S::ConversationExists,
            Error::TooLarge { .. } | Error::LimitReached { .. } => S::TooLarge,
            Error::InvalidArgument(_) => S::InvalidArgument,
            Error::StorageFull => S::StorageFull,
            Error::Busy => S::Busy,
            Error::ScrubIncomplete => S::ScrubIncomplete,
            Error::Random => S::Random,
            Error::Io(_) => S::Io,
            Error::Database(_) => S::Database,
            Error::Cancelled => S::Cancelled,
            _ => S::Unknown,
        };
        // The C API's own name for the fix, where the core's message names a Rust method.
        let message = match &e {
            Error::ScrubIncomplete => "the change was committed, but the write-ahead log could not be \
                scrubbed yet (another process is reading the store, an export is running, or writing the \
                store's files failed): call chatvault_store_scrub() later, which reports the cause if it \
                fails again"
                .to_owned(),
            Error::NoSuchStore { path } => {
                format!("no chatvault store at {}: create one with chatvault_store_create", path.display())
            }
            Error::AlreadyExists { path } => format!(
                "{} already exists: open it with chatvault_store_open, or choose another path",
                path.display()
            ),
            // The limit is the library's ceiling, or the caller's
            // `max_kdf` (chatvault_store_options), whichever is lower.
            Error::KdfTooCostly { found, limit } => format!(
                "the key-derivation parameters in the header (Argon2id m = {} KiB, t = {}, p = {}) exceed \
                 what this library allows (m <= {} KiB, t <= {}, p <= {}, m x t <= {} KiB): the header was \
                 forged or damaged; nothing was derived",
                found.memory_kib,
                found.iterations,
                found.parallelism,
                limit.memory_kib,
                limit.iterations,
                limit.parallelism,
                chatvault::KdfParams::MAX_WORK_KIB
            ),
            Error::MasterKeyRotated => "the store's master key was rotated by another handle or process \
                since this one was opened: close this handle with chatvault_store_close and open the store \
                again with its current key"
                .to_owned(),
            Error::Cancelled => "the progress callback asked to stop: nothing was imported, no archive \
                or export file was left, or (for a compaction) the transactions committed so far stay and \
                the store is valid; call it again to do the rest"
                .to_owned(),
            Error::ConversationExists(c) => format!(
                "a conversation with this external id already exists ({c}): use \
                 chatvault_conversation_find to get it"
            ),
            _ => e.to_string(),
        };
        Failure { status, message }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // A thread being torn down has no message to keep.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = c);
}

/// Runs an exported function's body: a failure becomes its status and the
/// thread's message, a panic becomes `Panic`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> chatvault_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => chatvault_status::Ok,
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(_) => {
            set_last_error(
                "internal error: chatvault panicked (a bug: please report it); the store is still usable",
            );
            chatvault_status::Panic
        }
    }
}

/// The message of the most recent call on this thread that failed: UTF-8,
/// NUL-terminated, never NULL (empty if no call on this thread has failed).
/// It names no key, passphrase or message text.
///
/// The library owns the string: do not free it. It stays valid until the
/// next chatvault call on this thread that fails, or until the thread ends;
/// copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn chatvault_last_error_message() -> *const c_char {
    catch_unwind(|| LAST_ERROR.try_with(|l| l.borrow().as_ptr()).ok())
        .ok()
        .flatten()
        .unwrap_or_else(|| c"".as_ptr())
}

/// The name of a status code, e.g. "CHATVAULT_STATUS_WRONG_KEY", for logs:
/// a static NUL-terminated string that must not be freed.
/// "CHATVAULT_STATUS_UNKNOWN" for a number this version does not know.
#[unsafe(no_mangle)]
pub extern "C" fn chatvault_status_name(status: u32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"CHATVAULT_STATUS_OK",
        1 => c"CHATVAULT_STATUS_NULL_ARGUMENT",
        2 => c"CHATVAULT_STATUS_INVALID_UTF8",
        3 => c"CHATVAULT_STATUS_INVALID_ARGUMENT",
        4 => c"CHATVAULT_STATUS_TOO_LARGE",
        5 => c"CHATVAULT_STATUS_NOT_FOUND",
        6 => c"CHATVAULT_STATUS_CONVERSATION_EXISTS",
        7 => c"CHATVAULT_STATUS_WRONG_KEY",
        8 => c"CHATVAULT_STATUS_NO_SUCH_STORE",
        9 => c"CHATVAULT_STATUS_ALREADY_EXISTS",
        10 => c"CHATVAULT_STATUS_NOT_A_STORE",
        11 => c"CHATVAULT_STATUS_UNSUPPORTED_VERSION",
        12 => c"CHATVAULT_STATUS_AUTHENTICATION_FAILED",
        13 => c"CHATVAULT_STATUS_CORRUPT",
        14 => c"CHATVAULT_STATUS_STORAGE_FULL",
        15 => c"CHATVAULT_STATUS_BUSY",
        16 => c"CHATVAULT_STATUS_SCRUB_INCOMPLETE",
        17 => c"CHATVAULT_STATUS_NOT_AN_ARCHIVE",
        18 => c"CHATVAULT_STATUS_UNSUPPORTED_ARCHIVE_VERSION",
        19 => c"CHATVAULT_STATUS_ARCHIVE_TAMPERED",
        20 => c"CHATVAULT_STATUS_ARCHIVE_TRUNCATED",
        21 => c"CHATVAULT_STATUS_ARCHIVE_CORRUPT",
        22 => c"CHATVAULT_STATUS_IO",
        23 => c"CHATVAULT_STATUS_DATABASE",
        24 => c"CHATVAULT_STATUS_RANDOM",
        25 => c"CHATVAULT_STATUS_PANIC",
        27 => c"CHATVAULT_STATUS_KDF_TOO_COSTLY",
        28 => c"CHATVAULT_STATUS_MASTER_KEY_ROTATED",
        29 => c"CHATVAULT_STATUS_SCHEMA_MODIFIED",
        30 => c"CHATVAULT_STATUS_STORE_IN_USE",
        31 => c"CHATVAULT_STATUS_CANCELLED",
        _ => c"CHATVAULT_STATUS_UNKNOWN",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        // SAFETY: chatvault_last_error_message returns a valid NUL-terminated
        // string that lives until the next failing call on this thread.
        unsafe { CStr::from_ptr(chatvault_last_error_message()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, chatvault_status::Panic);
        assert!(last().contains("panicked"), "{}", last());
    }

    #[test]
    fn a_failure_sets_the_threads_message_and_success_keeps_it() {
        assert_eq!(guard(|| Err(Failure::null("path"))), chatvault_status::NullArgument);
        assert_eq!(last(), "path is NULL");
        assert_eq!(guard(|| Ok(())), chatvault_status::Ok);
        assert_eq!(last(), "path is NULL");
        let other = std::thread::spawn(last).join().unwrap();
        assert_eq!(other, "", "another thread has its own message");
    }

    /// Where a status should sit in `ALL`: no wildcard, so a new variant
    /// does not compile until it is added here (and to `ALL`).
    fn position(s: chatvault_status) -> usize {
        use chatvault_status as S;
        let n = match s {
            S::Ok => 0,
            S::NullArgument => 1,
            S::InvalidUtf8 => 2,
            S::InvalidArgument => 3,
            S::TooLarge => 4,
            S::NotFound => 5,
            S::ConversationExists => 6,
            S::WrongKey => 7,
            S::NoSuchStore => 8,
            S::AlreadyExists => 9,
            S::NotAStore => 10,
            S::UnsupportedVersion => 11,
            S::AuthenticationFailed => 12,
            S::Corrupt => 13,
            S::StorageFull => 14,
            S::Busy => 15,
            S::ScrubIncomplete => 16,
            S::NotAnArchive => 17,
            S::UnsupportedArchiveVersion => 18,
            S::ArchiveTampered => 19,
            S::ArchiveTruncated => 20,
            S::ArchiveCorrupt => 21,
            S::Io => 22,
            S::Database => 23,
            S::Random => 24,
            S::Panic => 25,
            S::Unknown => 26,
            S::KdfTooCostly => 27,
            S::MasterKeyRotated => 28,
            S::SchemaModified => 29,
            S::StoreInUse => 30,
            S::Cancelled => 31,
        };
        assert_eq!(chatvault_status::ALL.get(n), Some(&s), "{s:?} is missing from ALL");
        n
    }

    #[test]
    fn every_status_is_named_after_its_variant() {
        assert_eq!(chatvault_status::ALL.len(), position(chatvault_status::Cancelled) + 1);
        for (n, status) in chatvault_status::ALL.into_iter().enumerate() {
            assert_eq!(position(status), n, "{status:?} is out of order");
            assert_eq!(status as usize, n, "{status:?} is numbered out of order");
            let mut expected = "CHATVAULT_STATUS".to_owned();
            for ch in format!("{status:?}").chars() {
                if ch.is_uppercase() {
                    expected.push('_');
                }
                expected.push(ch.to_ascii_uppercase());
            }
            // SAFETY: chatvault_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(chatvault_status_name(status as u32)) };
            assert_eq!(name.to_str().unwrap(), expected);
        }
        // SAFETY: as above.
        let past = unsafe { CStr::from_ptr(chatvault_status_name(1000)) };
        assert_eq!(past, c"CHATVAULT_STATUS_UNKNOWN");
    }

    #[test]
    fn attachment_errors_have_their_statuses() {
        use chatvault::{AttachmentId, ConversationId, Missing, RecordKind, RecordRef};
        let f = Failure::from(Error::NotFound(Missing::Attachment(AttachmentId::from_raw(7))));
        assert_eq!(f.status, chatvault_status::NotFound);
        assert!(f.message.contains("attachment 7"), "{}", f.message);
        for (kind, named) in [
            (RecordKind::Attachment, "attachment 7 of message 2"),
            (RecordKind::AttachmentContent, "attachment 7, chunk 2"),
        ] {
            let record = RecordRef {
                kind,
                conversation: Some(ConversationId::from_raw(3)),
                epoch: 0,
                seqs: Some((7, 2)),
            };
            let f = Failure::from(Error::Authentication { record });
            assert_eq!(f.status, chatvault_status::AuthenticationFailed);
            assert!(f.message.contains(named), "{}", f.message);
            let f = Failure::from(Error::Corrupt { record, detail: "the padding is not zero".into() });
            assert_eq!(f.status, chatvault_status::Corrupt);
        }
        // What the attachment writer's std::io::Write reports: the chatvault
        // error it carries, or an I/O error.
        let f = Failure::from_io(std::io::Error::other(Error::StorageFull));
        assert_eq!(f.status, chatvault_status::StorageFull);
        let f = Failure::from_io(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"));
        assert_eq!(f.status, chatvault_status::Io);
        assert!(f.message.contains("denied"), "{}", f.message);
        let again = f.stored_nothing();
        assert_eq!(again.status, chatvault_status::Io);
        assert!(again.message.contains("earlier write") && again.message.ends_with("nothing was stored"));
    }

    #[test]
    fn error_messages_name_the_c_functions() {
        let f = Failure::from(Error::ScrubIncomplete);
        assert_eq!(f.status, chatvault_status::ScrubIncomplete);
        assert!(f.message.contains("chatvault_store_scrub()"));
        assert!(!f.message.contains("Store::"));
        let f = Failure::from(Error::MasterKeyRotated);
        assert_eq!(f.status, chatvault_status::MasterKeyRotated);
        assert!(f.message.contains("chatvault_store_close"), "{}", f.message);
        let over = chatvault::KdfParams { memory_kib: 1 << 20, iterations: 2, parallelism: 1 };
        let f = Failure::from(Error::KdfTooCostly { found: over, limit: chatvault::KdfParams::MAX });
        assert_eq!(f.status, chatvault_status::KdfTooCostly);
        assert!(f.message.contains("1048576 KiB") && !f.message.contains("KdfParams"), "{}", f.message);
        let f = Failure::from(Error::SchemaModified { detail: "trigger t added".into() });
        assert_eq!(f.status, chatvault_status::SchemaModified);
        assert!(f.message.contains("trigger t added"), "{}", f.message);
    }
}
