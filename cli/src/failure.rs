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
        // A message that already ends in parentheses (the library's
        // wrong-key message does) gets the hint after a semicolon, not a
        // second pair next to the first.
        self.message = if self.message.ends_with(')') {
            format!("{}; {hint}", self.message)
        } else {
            format!("{} ({hint})", self.message)
        };
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
            warn!(
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
            | E::SchemaModified { .. }
            | E::NotAnArchive
            | E::UnsupportedArchiveVersion { .. }
            | E::ArchiveTampered { .. }
            | E::ArchiveTruncated { .. }
            | E::ArchiveCorrupt { .. }
            | E::NotAStore { .. }
            | E::UnsupportedVersion { .. }
            | E::Authentication { .. }
            | E::Corrupt { .. } => DATA_ERROR,
            // The library's message names the Rust option that raises the
            // limit; the CLI has none (its limit is the library's ceiling).
            E::KdfTooCostly { found, .. } => {
                return Failure::data(format!(
                    "the passphrase header of the store or archive asks for more key-derivation work (Argon2id \
                     m = {} KiB, t = {}, p = {}) than chatvault allows: the header was forged or damaged, or the \
                     file was made with a higher cost; nothing was derived",
                    found.memory_kib, found.iterations, found.parallelism
                ));
            }
            // Like Busy, another process got in the way: nothing is wrong
            // with the data, and running the command again settles it.
            E::MasterKeyRotated => {
                return Failure::user(
                    "the store's master key was rotated by another process while this command ran: run it \
                     again with the store's current key",
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chatvault::{Error, KdfParams};

    #[test]
    fn each_error_has_its_exit_code() {
        let costly = KdfParams { memory_kib: 1 << 20, iterations: 2, parallelism: 1 };
        let f = Failure::from(Error::KdfTooCostly { found: costly, limit: KdfParams::MAX });
        assert_eq!(f.code, DATA_ERROR);
        assert!(f.message.contains("1048576 KiB") && !f.message.contains("KdfParams"), "{f}");
        let f = Failure::from(Error::SchemaModified { detail: "trigger keep added".into() });
        assert_eq!(f.code, DATA_ERROR);
        assert!(f.message.contains("trigger keep added"), "{f}");
        let f = Failure::from(Error::MasterKeyRotated);
        assert_eq!(f.code, USER_ERROR);
        assert!(f.message.contains("run it again"), "{f}");
        assert_eq!(Failure::from(Error::WrongKey).code, DATA_ERROR);
        assert_eq!(Failure::from(Error::Busy).code, USER_ERROR);
    }
}
