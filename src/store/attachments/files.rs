//! The directory of attachment files beside the store
//! (docs/ATTACHMENTS.md, "Where the bytes live"): creating a file under an
//! exclusive lock, unlinking, and finding and removing orphans.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use crate::error::{Error, Result};
use crate::format::attachment::BLOB_ID_LEN;
use crate::store::{Store, sidecar};

/// A blob id.
pub(crate) type BlobId = [u8; BLOB_ID_LEN];

/// The directory of a store's attachment files.
pub(crate) fn dir_of(store_path: &Path) -> PathBuf {
    sidecar(store_path, "-attachments")
}

/// The file name of a blob: its id in lower-case hex.
pub(crate) fn name_of(blob: &BlobId) -> String {
    blob.iter().map(|b| format!("{b:02x}")).collect()
}

/// The blob id a file name stands for, if it is one (32 lower-case hex digits).
pub(crate) fn parse_name(name: &str) -> Option<BlobId> {
    if name.len() != 2 * BLOB_ID_LEN
        || !name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; BLOB_ID_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(name.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// An I/O error of the attachment files, as the store reports it: a full
/// device is [`Error::StorageFull`].
pub(crate) fn io_error(e: std::io::Error) -> Error {
    if e.kind() == ErrorKind::StorageFull || e.kind() == ErrorKind::QuotaExceeded {
        Error::StorageFull
    } else {
        Error::Io(e)
    }
}

/// Creates the directory (owner only) if it does not exist.
fn ensure_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error)
}

/// Syncs the directory, so a file created or removed in it stays so after
/// a power loss. (Not possible, and not needed, on Windows.)
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates the file of `blob` (which must not exist), owner-only, and
/// locks it exclusively: no sweep removes it while the lock is held.
/// Checks after locking that the path still names it (a sweep that locked
/// it first may have removed it: then `None`, and the caller draws
/// another id).
pub(crate) fn create_locked(store_path: &Path, blob: &BlobId) -> Result<Option<(File, PathBuf)>> {
    let dir = dir_of(store_path);
    ensure_dir(&dir)?;
    let path = dir.join(name_of(blob));
    let mut open = OpenOptions::new();
    open.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = match open.open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    file.lock().map_err(io_error)?;
    if !same_file(&file, &path) {
        return Ok(None);
    }
    Ok(Some((file, path)))
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// Opens the file of `blob` for reading.
pub(crate) fn open(store_path: &Path, blob: &BlobId) -> std::io::Result<File> {
    File::open(dir_of(store_path).join(name_of(blob)))
}

/// Removes the files of `blobs` (a missing one counts as removed) and
/// syncs the directory. Every file is tried; the first error is returned.
pub(crate) fn unlink(store_path: &Path, blobs: &[BlobId]) -> Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let dir = dir_of(store_path);
    let mut result = Ok(());
    for blob in blobs {
        match std::fs::remove_file(dir.join(name_of(blob))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                if result.is_ok() {
                    result = Err(io_error(e));
                }
            }
        }
    }
    result.and(sync_dir(&dir))
}

/// A file in the directory that no attachment row names.
pub(crate) struct Orphan {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
}

/// The blob files no row names, and the other entries of the directory
/// (which chatvault never makes) by name. A missing directory has none.
pub(crate) fn orphans(store: &Store) -> Result<(Vec<Orphan>, Vec<PathBuf>)> {
    let dir = dir_of(store.base_path());
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io_error(e)),
    };
    let named: HashSet<Vec<u8>> = store.read(|ctx| {
        let mut stmt = ctx.conn.prepare_cached("SELECT file FROM attachment WHERE typeof(file) = 'blob'")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    })?;
    let (mut orphans, mut strangers) = (Vec::new(), Vec::new());
    for entry in entries {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        // Only regular files are attachment files: a directory, FIFO or
        // symlink chatvault never made is reported, never opened or removed.
        let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        match entry.file_name().to_str().and_then(parse_name) {
            Some(blob) if regular && !named.contains(&blob[..]) => {
                let bytes = entry.metadata().map_or(0, |m| m.len());
                orphans.push(Orphan { path, bytes });
            }
            Some(_) if regular => {}
            _ => strangers.push(path),
        }
    }
    Ok((orphans, strangers))
}

/// Removes the orphan files: each only if no writer holds it locked (one
/// being written) and no import of this handle waits to commit it, and,
/// once locked, only if still no row names it (its writer may have
/// committed meanwhile: writers unlock after the commit). A file that
/// cannot be removed is skipped (`verify` goes on reporting it). Returns
/// how many files and bytes were removed.
pub(crate) fn sweep(store: &Store) -> Result<(u64, u64)> {
    let (orphans, _) = orphans(store)?;
    let (mut files, mut bytes) = (0u64, 0u64);
    for orphan in orphans {
        let Some(blob) = orphan.path.file_name().and_then(|n| n.to_str()).and_then(parse_name) else {
            continue;
        };
        if store.pending_blobs().contains(&blob) {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).open(&orphan.path) else { continue };
        if !file.metadata().is_ok_and(|m| m.is_file()) || file.try_lock().is_err() {
            continue;
        }
        let named = store.read(|ctx| {
            Ok(ctx
                .conn
                .prepare_cached("SELECT 1 FROM attachment WHERE file = ?1")?
                .query_row([&blob[..]], |_| Ok(()))
                .optional()?
                .is_some())
        })?;
        if !named && std::fs::remove_file(&orphan.path).is_ok() {
            files += 1;
            bytes = bytes.saturating_add(orphan.bytes);
        }
        drop(file);
    }
    if files > 0 {
        sync_dir(&dir_of(store.base_path()))?;
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        let blob = [0x01, 0xAB, 0xFF, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        assert_eq!(name_of(&blob), "01abff000102030405060708090a0b0c");
        assert_eq!(parse_name(&name_of(&blob)), Some(blob));
        for bad in [
            "",
            "01ABFF000102030405060708090a0b0c",
            "01abff000102030405060708090a0b0",
            "x1abff000102030405060708090a0b0c",
            "01abff000102030405060708090a0b0c.tmp",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
