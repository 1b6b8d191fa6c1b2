//! Where keys come from: key files, the environment, and prompts.
//!
//! A store's key is the first of: `--key-file`, `$CHATVAULT_PASSPHRASE`, the
//! key file beside the store (`<store>.key`, which `init` and `demo` write:
//! 32 random bytes, mode 0600), a passphrase prompt without echo (only in a
//! terminal). An archive's key is the first of `--archive-key-file`,
//! `$CHATVAULT_ARCHIVE_PASSPHRASE`, a prompt.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chatvault::StoreKey;
use zeroize::Zeroizing;

use crate::failure::{CliResult, Failure};

pub const PASSPHRASE_ENV: &str = "CHATVAULT_PASSPHRASE";
pub const NEW_PASSPHRASE_ENV: &str = "CHATVAULT_NEW_PASSPHRASE";
pub const ARCHIVE_PASSPHRASE_ENV: &str = "CHATVAULT_ARCHIVE_PASSPHRASE";

/// Where a key came from, for messages ("wrong key … (key from …)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env(&'static str),
    Prompt,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "key from {}", p.display()),
            Source::Env(var) => write!(f, "passphrase from ${var}"),
            Source::Prompt => f.write_str("passphrase typed at the prompt"),
        }
    }
}

/// `<store>.key`.
pub fn beside(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".key");
    PathBuf::from(s)
}

/// `<store>.key.new`, where `passwd` writes a new key before the store
/// switches to it.
pub fn pending(store: &Path) -> PathBuf {
    let mut s = beside(store).into_os_string();
    s.push(".new");
    PathBuf::from(s)
}

/// The key that opens the existing store at `store`.
pub fn for_store(store: &Path, key_file: Option<&Path>) -> CliResult<(StoreKey, Source)> {
    if let Some(p) = key_file {
        return Ok((read(p)?, Source::File(p.to_owned())));
    }
    if let Some(k) = env_passphrase(PASSPHRASE_ENV)? {
        return Ok((k, Source::Env(PASSPHRASE_ENV)));
    }
    let p = beside(store);
    if p.exists() {
        return Ok((read(&p)?, Source::File(p)));
    }
    if can_prompt() {
        let k = prompt(&format!("Passphrase for {}: ", store.display()), false)?;
        return Ok((k, Source::Prompt));
    }
    Err(Failure::user(format!(
        "no key for {}: pass --key-file, set ${PASSPHRASE_ENV}, or keep its key in {}",
        store.display(),
        p.display()
    )))
}

/// The key for a store about to be created at `store`: the same sources in
/// the same order, except that a missing `--key-file` is written with a
/// fresh random key, `passphrase` asks for one at a prompt, and otherwise
/// a new key file is written beside the store.
pub fn for_new_store(
    store: &Path,
    key_file: Option<&Path>,
    passphrase: bool,
) -> CliResult<(StoreKey, Source)> {
    if let Some(p) = key_file {
        let key = if p.exists() { read(p)? } else { create(p)? };
        return Ok((key, Source::File(p.to_owned())));
    }
    if let Some(k) = env_passphrase(PASSPHRASE_ENV)? {
        return Ok((k, Source::Env(PASSPHRASE_ENV)));
    }
    if passphrase {
        if !can_prompt() {
            return Err(Failure::user(format!(
                "--passphrase needs a terminal to type it in (or set ${PASSPHRASE_ENV})"
            )));
        }
        return Ok((prompt(&format!("New passphrase for {}: ", store.display()), true)?, Source::Prompt));
    }
    let p = beside(store);
    let key = if p.exists() { read(&p)? } else { create(&p)? };
    Ok((key, Source::File(p)))
}

/// The key of an archive: `--archive-key-file`, `$CHATVAULT_ARCHIVE_PASSPHRASE`,
/// or a prompt (twice when `confirm`, for a new archive).
pub fn for_archive(key_file: Option<&Path>, confirm: bool) -> CliResult<StoreKey> {
    if let Some(p) = key_file {
        return read(p);
    }
    if let Some(k) = env_passphrase(ARCHIVE_PASSPHRASE_ENV)? {
        return Ok(k);
    }
    if can_prompt() {
        return prompt("Archive passphrase: ", confirm);
    }
    Err(Failure::user(format!("no archive key: pass --archive-key-file or set ${ARCHIVE_PASSPHRASE_ENV}")))
}

/// A new passphrase for `passwd`: `$CHATVAULT_NEW_PASSPHRASE`, or typed
/// twice. The text itself, since `passwd --rotate` hands it to the library
/// more than once.
pub fn new_passphrase() -> CliResult<Zeroizing<String>> {
    if let Some(p) = env_text(NEW_PASSPHRASE_ENV)? {
        return Ok(p);
    }
    if can_prompt() {
        return prompt_text("New passphrase: ", true);
    }
    Err(Failure::user(format!("no new passphrase: set ${NEW_PASSPHRASE_ENV} or run in a terminal")))
}

fn env_passphrase(var: &'static str) -> CliResult<Option<StoreKey>> {
    Ok(env_text(var)?.map(|p| StoreKey::passphrase(p.as_str())))
}

fn env_text(var: &'static str) -> CliResult<Option<Zeroizing<String>>> {
    match std::env::var(var) {
        Ok(p) if p.is_empty() => Err(Failure::user(format!("${var} is set but empty"))),
        Ok(p) => Ok(Some(Zeroizing::new(p))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::user(format!("${var} is not valid UTF-8"))),
    }
}

/// Whether a person is there to type a passphrase.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt(label: &str, confirm: bool) -> CliResult<StoreKey> {
    Ok(StoreKey::passphrase(prompt_text(label, confirm)?.as_str()))
}

fn prompt_text(label: &str, confirm: bool) -> CliResult<Zeroizing<String>> {
    let read = |label: &str| {
        rpassword::prompt_password(label)
            .map(Zeroizing::new)
            .map_err(|e| Failure::user(format!("cannot read the passphrase: {e}")))
    };
    let first = read(label)?;
    if first.is_empty() {
        return Err(Failure::user("the passphrase is empty"));
    }
    if confirm && read("Again: ")? != first {
        return Err(Failure::user("the two passphrases differ"));
    }
    Ok(first)
}

/// Reads a key file: 32 raw bytes, or 64 hex characters (whitespace around
/// them is ignored).
pub fn read(path: &Path) -> CliResult<StoreKey> {
    parse(&read_bytes(path)?).ok_or_else(|| not_a_key(path))
}

fn not_a_key(path: &Path) -> Failure {
    Failure::user(format!("key file {} must hold 32 raw bytes or 64 hex characters", path.display()))
}

/// A key file's bytes.
fn read_bytes(path: &Path) -> CliResult<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Failure::user(format!("cannot read key file {}: {e}", path.display()));
    // Read a little more than the largest key file, so that a huge file or
    // a device is refused instead of read whole.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE + 1));
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE as u64 + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    Ok(bytes)
}

/// The longest key file: 64 hex characters with some whitespace around.
const MAX_KEY_FILE: usize = 256;

fn parse(bytes: &[u8]) -> Option<StoreKey> {
    StoreKey::raw_from_slice(raw_key(bytes)?.as_slice()).ok()
}

/// The 32 bytes of a key file's content: raw, or 64 hex characters.
fn raw_key(bytes: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut raw = Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        raw.copy_from_slice(bytes);
    } else {
        hex::decode_to_slice(bytes.trim_ascii(), raw.as_mut_slice()).ok()?;
    }
    Some(raw)
}

/// Writes 32 fresh random bytes to a new file at `path`, readable only by
/// its owner, and returns them as a key.
pub fn create(path: &Path) -> CliResult<StoreKey> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut_slice())
        .map_err(|_| Failure::user("the system random generator failed"))?;
    write_new(path, bytes.as_slice())?;
    StoreKey::raw_from_slice(bytes.as_slice()).map_err(Failure::from)
}

/// Whether `a` and `b` name the same file, whether or not it exists yet:
/// the same path once symbolic links and `.`/`..` are resolved (in the
/// directory, for a file not there yet), or the same file under two hard
/// links.
pub fn same_path(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        if (x.dev(), x.ino()) == (y.dev(), y.ino()) {
            return true;
        }
    }
    match (resolve(a), resolve(b)) {
        (Some(x), Some(y)) => x == y,
        // Not to be told apart: the same, so that nothing is removed on a
        // guess.
        _ => true,
    }
}

/// `p` as an absolute path with symbolic links and `.`/`..` resolved, as
/// far as it exists (the part that does not yet is appended as written);
/// `None` if not even the current directory can be resolved.
pub fn resolve(p: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        let existing = if at.as_os_str().is_empty() { Path::new(".") } else { at };
        if let Ok(c) = std::fs::canonicalize(existing) {
            return Some(rest.iter().rev().fold(c, |c, part: &&std::ffi::OsStr| c.join(part)));
        }
        rest.push(at.file_name()?);
        at = at.parent()?;
    }
}

/// Writes `bytes` to a new file at `path`, readable only by its owner, and
/// makes it durable.
fn write_new(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let cannot = |e: std::io::Error| Failure::user(format!("cannot write key file {}: {e}", path.display()));
    let mut f = opts.open(path).map_err(cannot)?;
    if let Err(e) = f.write_all(bytes).and_then(|()| f.sync_all()) {
        // A partial key file would open nothing and stand in the way of the
        // next attempt: this run created it, so it goes.
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(cannot(e));
    }
    sync_parent(path);
    Ok(())
}

/// Makes a file's creation, rename or removal durable by syncing its
/// directory (best effort: not every platform can open a directory).
pub fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_hold_raw_or_hex_keys() {
        assert!(parse(&[7u8; 32]).is_some());
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
        assert!(parse(hex.as_bytes()).is_some());
        assert!(parse(&[7u8; 31]).is_none());
        assert!(parse(&hex.as_bytes()[..63]).is_none());
        assert!(
            parse("zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".as_bytes()).is_none()
        );
        // A multibyte character must not split into a bogus hex pair.
        let split = format!("é{}", "0".repeat(62));
        assert_eq!(split.len(), 64);
        assert!(parse(split.as_bytes()).is_none());
        // from_str_radix alone would take "+0" as a hex byte.
        assert!(parse("+0".repeat(32).as_bytes()).is_none());
    }
}
