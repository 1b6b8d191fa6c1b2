//! What a command that fails reports: a one-line message and an exit code.

use std::fmt;

/// Exit code of a usage or user error: bad arguments, no such store,
/// conversation, message or file.
pub const USER_ERROR: u8 = 1;
/// Exit code of a data error: wrong key or passphrase, a tampered or
/// damaged store or archive, or problems `verify` found.
pub const DATA_ERROR: u8 = 2;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub type CliResult<T> = Result<T, Failure>;

impl Failure {
    pub fn user(message: impl Into<String>) -> Self {
        Failure { code: USER_ERROR, message: message.into() }
    }

    pub fn data(message: impl Into<String>) -> Self {
        Failure { code: DATA_ERROR, message: message.into() }
    }

    /// Adds what was being done when it failed.
    pub fn hint(mut self, hint: impl fmt::Display) -> Self {
        self.message = format!("{} ({hint})", self.message);
        self
    }
}

/// The result of a change that scrubs the file and the WAL before it
/// returns. `ScrubIncomplete` means the change was committed but another
/// process's read kept the WAL from being emptied: a warning, not a
/// failure, since the command did what was asked.
pub fn committed<T>(result: chatvault::Result<T>) -> CliResult<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(chatvault::Error::ScrubIncomplete) => {
            eprintln!(
                "chatvault: warning: done, but another process is reading the store, so the old data could not be \
                 scrubbed from the write-ahead log yet; run `chatvault compact` when it has finished"
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<chatvault::Error> for Failure {
    fn from(e: chatvault::Error) -> Self {
        use chatvault::Error as E;
        let code = match e {
            E::WrongKey
            | E::NotAnArchive
            | E::UnsupportedArchiveVersion { .. }
            | E::ArchiveTampered { .. }
            | E::ArchiveTruncated { .. }
            | E::ArchiveCorrupt { .. }
            | E::NotAStore { .. }
            | E::UnsupportedVersion { .. }
            | E::Authentication { .. }
            | E::Corrupt { .. } => DATA_ERROR,
            _ => USER_ERROR,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::user(format!("I/O error: {e}"))
    }
}
