//! Writing a file so that it appears complete or not at all.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `path` through `write`: into a new temporary file beside it, which
/// is synced and then renamed over `path` (and the directory synced) only if
/// `write` succeeds. An interrupted or failed write leaves no file at `path`
/// (or the old one), and the temporary file is removed on failure, and on
/// a panic as the stack unwinds (the C API turns panics into a status; a
/// plaintext export's temporary file must not outlive one).
pub(crate) fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> Result<T>,
) -> Result<T> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name =
        path.file_name().ok_or_else(|| Error::invalid(format!("{} does not name a file", path.display())))?;
    let (file, tmp) = create_temporary(&dir, name)?;
    let mut pending = RemoveOnDrop(Some(tmp.clone()));
    let result = (|| {
        let syncing = BackgroundSync::start(&file)?;
        let mut out = BufWriter::with_capacity(64 << 10, &file);
        let value = write(&mut out);
        let flushed = out.flush();
        drop(out);
        syncing.stop()?;
        let value = value?;
        flushed?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        pending.0 = None;
        // Make the rename itself durable; not every platform can open a
        // directory, and the data is already synced, so a failure here is ignored.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(value)
    })();
    drop(pending);
    result
}

/// Removes the file it names when dropped, unless it was taken.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Syncs a file being written from another thread, every
/// [`BackgroundSync::EVERY`], so the device writes while the writer
/// encrypts: the final `sync_all` then has little left to wait for (a
/// 100 MB attachment written at 0.72x of a plain file's speed without
/// it, 0.84x to 0.93x with it: BENCHMARKS.md, "Attachments").
pub(crate) struct BackgroundSync {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl BackgroundSync {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(10);

    pub(crate) fn start(file: &File) -> std::io::Result<Self> {
        let file = file.try_clone()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                file.sync_data()?;
            }
            Ok(())
        });
        Ok(BackgroundSync { stop, thread })
    }

    /// Stops syncing; the first error a sync met, if any.
    pub(crate) fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_else(|_| Err(std::io::Error::other("a background sync panicked")))
    }
}

/// Whether `path` names the database at `store` or one of SQLite's files
/// beside it (`-wal`, `-shm`, `-journal`), through any symlinks or
/// relative components: a rename over one of those would destroy the store.
pub(crate) fn is_store_file(path: &Path, store: &Path) -> bool {
    let target = match path.canonicalize() {
        Ok(p) => p,
        Err(_) => {
            let parent = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            match (parent.canonicalize(), path.file_name()) {
                (Ok(dir), Some(name)) => dir.join(name),
                _ => return false,
            }
        }
    };
    let db = store.canonicalize().unwrap_or_else(|_| store.to_path_buf());
    ["", "-wal", "-shm", "-journal"].iter().any(|suffix| {
        let mut own = db.clone().into_os_string();
        own.push(suffix);
        target == Path::new(&own)
    })
}

/// The most of a name a temporary name repeats, in bytes: with the 26
/// bytes it adds, a temporary name stays under the 255 bytes file systems
/// allow whatever the name it stands for.
const TEMPORARY_NAME_KEEPS: usize = 128;

/// A fresh name `.<name>.<random>.tmp` for a temporary file or directory
/// beside `name`; of a name longer than [`TEMPORARY_NAME_KEEPS`] bytes,
/// only its start (cut at a character boundary), so that the temporary
/// file can be made wherever its final name fits.
pub(crate) fn temporary_name(rng: &ring::rand::SystemRandom, name: &OsStr) -> Result<OsString> {
    let mut tag = [0u8; 8];
    crate::crypto::fill_random(rng, &mut tag)?;
    let mut file_name = OsString::from(".");
    if name.len() <= TEMPORARY_NAME_KEEPS {
        file_name.push(name);
    } else {
        let lossy = name.to_string_lossy();
        let mut end = TEMPORARY_NAME_KEEPS;
        while !lossy.is_char_boundary(end) {
            end -= 1;
        }
        file_name.push(lossy.get(..end).unwrap_or_default());
    }
    file_name.push(format!(".{}.tmp", u64::from_le_bytes(tag)));
    Ok(file_name)
}

/// Creates `.<name>.<random>.tmp` in `dir` (mode 0600 on Unix: it may be a
/// plaintext export), failing rather than reusing a file.
pub(crate) fn create_temporary(dir: &Path, name: &OsStr) -> Result<(File, PathBuf)> {
    let rng = ring::rand::SystemRandom::new();
    for _ in 0..16 {
        let tmp = dir.join(temporary_name(&rng, name)?);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::invalid(format!("could not create a temporary file in {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let caught = std::panic::catch_unwind(|| {
            let _ = write_atomically(&path, |w| -> Result<()> {
                w.write_all(b"plaintext")?;
                panic!("a bug in the middle of an export");
            });
        });
        assert!(caught.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no file, no temporary left");
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_a_good_one_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let failed: Result<()> = write_atomically(&path, |w| {
            w.write_all(b"partial")?;
            Err(Error::invalid("stop"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no file, no temporary left");
        write_atomically(&path, |w| Ok(w.write_all(b"one")?)).unwrap();
        write_atomically(&path, |w| Ok(w.write_all(b"two")?)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_name_as_long_as_file_systems_allow_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        // 85 ideographs: 255 bytes of UTF-8, the longest name ext4 takes.
        let path = dir.path().join("照".repeat(85));
        write_atomically(&path, |w| Ok(w.write_all(b"long")?)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"long");
        let rng = ring::rand::SystemRandom::new();
        let tmp = temporary_name(&rng, OsStr::new(&"照".repeat(85))).unwrap();
        let tmp = tmp.to_str().unwrap();
        assert!(tmp.starts_with(&format!(".{}", "照".repeat(42))) && tmp.ends_with(".tmp"), "{tmp}");
        assert!(tmp.len() <= TEMPORARY_NAME_KEEPS + 26, "{}", tmp.len());
        let short = temporary_name(&rng, OsStr::new("chat.html")).unwrap();
        assert!(
            short.to_str().unwrap().starts_with(".chat.html.") && short.to_str().unwrap().ends_with(".tmp")
        );
    }
}
