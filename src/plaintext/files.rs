//! The files an HTML export writes, complete or not at all: its pages
//! (each written to a temporary file beside its place and put there once
//! every page is written, or none), its attachments' content (a temporary
//! directory renamed to `<page stem>_files`) under names no sender can turn
//! into a path or into a page a browser runs, and, for a replacing export,
//! the removal of what an earlier export at the same place left.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Missing, Result};
use crate::store::Store;
use crate::types::Attachment;

/// The longest file name, in bytes, that a page may have: the limit of
/// the common file systems (ext4, XFS, Btrfs, F2FS; APFS and NTFS count
/// 255 characters or UTF-16 units, never fewer than 255 bytes' worth).
const MAX_FILE_NAME_BYTES: usize = 255;

/// The page files of an HTML export. [`PageFiles::create`] opens a
/// temporary file (mode 0600 on Unix) beside each page's place;
/// [`PageFiles::commit`] puts them all in place, or none. Dropped before
/// that, it removes every temporary file it made.
pub(super) struct PageFiles {
    /// The store's database, never written over.
    store: PathBuf,
    /// Whether a file already at a page's place may be replaced.
    replace: bool,
    /// (temporary file, place), in the order they were made.
    pending: Vec<(PathBuf, PathBuf)>,
    committed: bool,
    /// Called with each place just before its page is put there: tests
    /// make a file appear there (another program racing the export).
    #[cfg(test)]
    before_placing: Option<PlacingHook>,
}

/// What tests run just before a page is put in place, with its place.
#[cfg(test)]
type PlacingHook = Box<dyn FnMut(&Path)>;

impl PageFiles {
    pub(super) fn new(store: &Path, replace: bool) -> Self {
        PageFiles {
            store: store.to_path_buf(),
            replace,
            pending: Vec::new(),
            committed: false,
            #[cfg(test)]
            before_placing: None,
        }
    }

    /// Fails if a page cannot go to `place`: the store's own file, a name
    /// longer than file systems allow, a directory, or (unless replacing)
    /// anything already there.
    pub(super) fn check(&self, place: &Path) -> Result<()> {
        if crate::atomic::is_store_file(place, &self.store) {
            return Err(Error::invalid(format!(
                "{} is this store's own file: write the export to another path",
                place.display()
            )));
        }
        let name = place
            .file_name()
            .ok_or_else(|| Error::invalid(format!("{} does not name a file", place.display())))?;
        if name.len() > MAX_FILE_NAME_BYTES {
            return Err(Error::invalid(format!(
                "the page name {} is {} bytes long, more than the {MAX_FILE_NAME_BYTES} bytes file systems \
                 allow in a name: export to a shorter name",
                place.display(),
                name.len()
            )));
        }
        match place.symlink_metadata() {
            Ok(m) if m.is_dir() => Err(Error::invalid(format!(
                "{} is a directory: a page never replaces one; remove it, or export to another path",
                place.display()
            ))),
            Ok(_) if !self.replace => Err(already_exists(place)),
            _ => Ok(()),
        }
    }

    /// A new temporary file for the page that goes to `place`.
    pub(super) fn create(&mut self, place: &Path) -> Result<BufWriter<fs::File>> {
        self.check(place)?;
        let dir = parent_of(place);
        let name = place
            .file_name()
            .ok_or_else(|| Error::invalid(format!("{} does not name a file", place.display())))?;
        let (f, tmp) = crate::atomic::create_temporary(&dir, name)?;
        self.pending.push((tmp, place.to_path_buf()));
        Ok(BufWriter::with_capacity(64 << 10, f))
    }

    /// Flushes and syncs a page [`PageFiles::create`] opened.
    pub(super) fn finish(page: BufWriter<fs::File>) -> Result<()> {
        let file = page.into_inner().map_err(|e| Error::from(e.into_error()))?;
        file.sync_all()?;
        Ok(())
    }

    /// Puts every page in place, or none: checks every place first (so a
    /// directory or, unless replacing, a file at any of them fails before
    /// a page moves), then moves the pages there, the first made last (the
    /// entry page appears once the pages it links to are there).
    ///
    /// Unless replacing, a page is hard-linked to its place, which fails
    /// if anything appeared there since the check, then its temporary name
    /// is removed; on a file system without hard links (FAT), the place is
    /// checked once more and the page renamed there. When replacing, it is
    /// renamed over what is there.
    ///
    /// If putting a page in place fails, the pages this call already put
    /// in place are removed again, so no page of this export is left. When
    /// replacing, the files they replaced are gone all the same: their old
    /// content cannot be brought back.
    pub(super) fn commit(mut self) -> Result<()> {
        for (_, place) in &self.pending {
            self.check(place)?;
        }
        let mut placed: Vec<PathBuf> = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for (tmp, place) in pending.iter().rev() {
            #[cfg(test)]
            if let Some(hook) = self.before_placing.as_mut() {
                hook(place);
            }
            result = self.place(tmp, place, &mut placed);
            if result.is_err() {
                break;
            }
        }
        // Back under the drop guard: on failure it removes every temporary
        // file not yet moved.
        self.pending = pending;
        if let Err(e) = result {
            for page in &placed {
                let _ = fs::remove_file(page);
            }
            return Err(e);
        }
        // Make the renames durable; not every platform can open a
        // directory, and the pages are already synced, so a failure here
        // is ignored.
        let mut dirs: Vec<PathBuf> = placed.iter().map(|p| parent_of(p)).collect();
        dirs.dedup();
        for dir in dirs {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.committed = true;
        Ok(())
    }

    /// Moves the page at `tmp` to `place` (see [`PageFiles::commit`]),
    /// adding `place` to `placed` as soon as the page is there.
    fn place(&self, tmp: &Path, place: &Path, placed: &mut Vec<PathBuf>) -> Result<()> {
        if self.replace {
            fs::rename(tmp, place)?;
            placed.push(place.to_path_buf());
            return Ok(());
        }
        match fs::hard_link(tmp, place) {
            Ok(()) => {
                placed.push(place.to_path_buf());
                fs::remove_file(tmp)?;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(already_exists(place)),
            Err(_) => {
                // No hard links here: check and rename, which leaves a
                // moment in which a file made at `place` is replaced.
                if place.symlink_metadata().is_ok() {
                    return Err(already_exists(place));
                }
                fs::rename(tmp, place)?;
                placed.push(place.to_path_buf());
                Ok(())
            }
        }
    }
}

/// The error for a page whose place is taken and may not be replaced.
fn already_exists(place: &Path) -> Error {
    Error::invalid(format!(
        "{} already exists and an export does not replace it: remove it, export to another path, or \
         ask for it to be replaced",
        place.display()
    ))
}

impl Drop for PageFiles {
    fn drop(&mut self) {
        if !self.committed {
            for (tmp, _) in &self.pending {
                let _ = fs::remove_file(tmp);
            }
        }
    }
}

/// The directory `path` is in (`.` for a bare name).
pub(super) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What an entry of a directory is to a replacing export
/// ([`remove_stale`]).
pub(super) enum Stale {
    /// A page of an earlier export at this place that this one did not write.
    Page,
    /// An attachment directory of an earlier export that this one did not make.
    AttachmentDir,
}

/// After a replacing export has put its pages in place: removes from
/// `dir` what an earlier export at the same place left that this one did
/// not write, so no page or attachment of a message deleted since stays
/// beside it. `stale` names the entries that are: only names of the
/// export's own naming pattern that this export did not write. Of those,
/// only regular files are removed as pages, and an attachment directory
/// only if everything in it is a file named as the export names
/// attachments (`<id>-<name>`); anything else is left alone. Returns what
/// was removed.
pub(super) fn remove_stale(dir: &Path, stale: impl Fn(&OsStr) -> Option<Stale>) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = fs::read_dir(parent_of_dir(dir)).map_err(|e| stale_error(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| stale_error(dir, e))?;
        if let Some(kind) = stale(&entry.file_name()) {
            found.push((dir.join(entry.file_name()), kind));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in found {
        let Ok(meta) = path.symlink_metadata() else { continue };
        let gone = match kind {
            Stale::Page if meta.is_file() => fs::remove_file(&path).map(|()| true),
            Stale::AttachmentDir if meta.is_dir() => remove_attachment_dir(&path),
            _ => Ok(false),
        };
        if gone.map_err(|e| stale_error(&path, e))? {
            removed.push(path);
        }
    }
    Ok(removed)
}

/// `dir` itself, or `.` when empty (a bare page name's directory).
fn parent_of_dir(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() { Path::new(".") } else { dir }
}

/// Removes an earlier export's attachment directory if it holds nothing
/// but attachment files; whether it did.
fn remove_attachment_dir(dir: &Path) -> std::io::Result<bool> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ours = is_attachment_file_name(&entry.file_name()) && entry.file_type()?.is_file();
        if !ours {
            return Ok(false);
        }
        files.push(entry.path());
    }
    for f in files {
        fs::remove_file(f)?;
    }
    fs::remove_dir(dir)?;
    Ok(true)
}

/// Whether `name` is named as an export names an attachment's file:
/// `<digits>-<name>`, the name not starting with a dot.
fn is_attachment_file_name(name: &OsStr) -> bool {
    let b = name.as_encoded_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    match b.get(digits..) {
        Some([b'-', first, ..]) => digits > 0 && *first != b'.',
        _ => false,
    }
}

fn stale_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!(
            "the export is complete, but {} of an earlier export could not be removed: {e}; remove it by hand",
            path.display()
        ),
    ))
}

/// How the HTML page shows an attachment.
pub(super) enum Shown {
    /// By name and size (a streamed page).
    Listed,
    /// Its content was removed.
    Removed,
    /// Its content could not be read: it failed authentication (the
    /// store's file of it was modified or damaged), so no file was written.
    Damaged,
    /// Written beside the page: the link to it, relative to the page, and
    /// whether the page may show it inline (an image of an inert type).
    Linked { href: String, inline: bool },
}

/// The attachment files of [`Store::export_html_to_file`] and its variants: a temporary
/// directory beside the page, made when the first file is written and
/// renamed to `<page stem>_files` once every file is. Unless
/// [`AttachmentFiles::keep`] is called, dropping it removes the files it
/// wrote and its directory.
pub(super) struct AttachmentFiles {
    /// The page's directory.
    parent: PathBuf,
    /// `<page stem>_files`.
    name: OsString,
    /// The temporary directory, once made.
    tmp: Option<PathBuf>,
    /// The names of the files written.
    written: Vec<String>,
    /// The attachments whose content could not be read.
    damaged: Vec<crate::ids::AttachmentId>,
    /// Whether the directory was renamed into place.
    placed: bool,
    kept: bool,
}

impl AttachmentFiles {
    pub(super) fn beside(page: &Path) -> Result<Self> {
        // As given (empty for a bare name), so the directory reported is
        // named as the page was.
        let parent = page.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = page
            .file_stem()
            .ok_or_else(|| Error::invalid(format!("{} does not name a file", page.display())))?;
        let mut name = stem.to_os_string();
        name.push("_files");
        Ok(AttachmentFiles {
            parent,
            name,
            tmp: None,
            written: Vec::new(),
            damaged: Vec::new(),
            placed: false,
            kept: false,
        })
    }

    /// `<page stem>_files`, the directory's name.
    pub(super) fn name(&self) -> &OsStr {
        &self.name
    }

    fn target(&self) -> PathBuf {
        self.parent.join(&self.name)
    }

    /// Writes `a`'s content into the directory; `Removed` if it was removed
    /// since it was listed, `Damaged` (and no file) if its content fails
    /// authentication.
    pub(super) fn write(&mut self, store: &Store, a: &Attachment) -> Result<Shown> {
        let mut reader = match store.open_attachment(a.id) {
            Ok(r) => r,
            Err(Error::NotFound(Missing::Attachment(_))) => return Ok(Shown::Removed),
            Err(e) if is_damage(&e) => {
                self.damaged.push(a.id);
                return Ok(Shown::Damaged);
            }
            Err(e) => return Err(e),
        };
        let dir = self.dir()?;
        let name = export_file_name(a);
        let path = dir.join(&name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        self.written.push(name.clone());
        let mut buf = vec![0u8; 64 << 10];
        let mut at = 0u64;
        loop {
            let n = match reader.read_at(at, &mut buf) {
                Ok(n) => n,
                Err(e) if is_damage(&e) => {
                    // What was written of it goes: a file cut short where
                    // the damage is would pass for the attachment.
                    drop(file);
                    fs::remove_file(&path)?;
                    self.written.pop();
                    self.damaged.push(a.id);
                    return Ok(Shown::Damaged);
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            file.write_all(buf.get(..n).unwrap_or_default())?;
            at += n as u64;
        }
        file.sync_all()?;
        let mut href = String::new();
        percent_encode(&mut href, self.name.as_encoded_bytes());
        href.push('/');
        percent_encode(&mut href, name.as_bytes());
        Ok(Shown::Linked { href, inline: shows_inline(a, &name) })
    }

    /// The attachments whose content could not be read (authentication
    /// failed), in the order met.
    pub(super) fn damaged(&self) -> &[crate::ids::AttachmentId] {
        &self.damaged
    }

    /// The temporary directory, made on first use. An existing directory
    /// where it is to go fails the export before any file is written.
    fn dir(&mut self) -> Result<PathBuf> {
        if let Some(d) = &self.tmp {
            return Ok(d.clone());
        }
        self.refuse_existing()?;
        if self.name.len() > MAX_FILE_NAME_BYTES {
            return Err(Error::invalid(format!(
                "the attachment directory name {} is {} bytes long, more than the {MAX_FILE_NAME_BYTES} bytes \
                 file systems allow in a name: export to a shorter page name",
                self.target().display(),
                self.name.len()
            )));
        }
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..16 {
            let tmp = self.parent.join(crate::atomic::temporary_name(&rng, &self.name)?);
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&tmp) {
                Ok(()) => {
                    self.tmp = Some(tmp.clone());
                    return Ok(tmp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::invalid(format!("could not create a temporary directory in {}", self.parent.display())))
    }

    fn refuse_existing(&self) -> Result<()> {
        let target = self.target();
        if target.symlink_metadata().is_ok() {
            return Err(Error::invalid(format!(
                "{} already exists: the attachments of an HTML export go there, and an existing directory is \
                 never replaced; remove it, or export to another path",
                target.display()
            )));
        }
        Ok(())
    }

    /// Syncs the directory and renames it into place (if a file was written).
    pub(super) fn put_in_place(&mut self) -> Result<()> {
        let Some(tmp) = &self.tmp else { return Ok(()) };
        if self.written.is_empty() {
            // Made for attachments that all turned out damaged: no directory.
            fs::remove_dir(tmp)?;
            self.tmp = None;
            return Ok(());
        }
        if let Ok(d) = fs::File::open(tmp) {
            let _ = d.sync_all();
        }
        self.refuse_existing()?;
        fs::rename(tmp, self.target())?;
        self.placed = true;
        Ok(())
    }

    /// The export is complete: keep the files; the directory, if one was
    /// made.
    pub(super) fn keep(mut self) -> Option<PathBuf> {
        self.kept = true;
        self.placed.then(|| self.target())
    }
}

impl Drop for AttachmentFiles {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let dir = match (&self.tmp, self.placed) {
            (Some(_), true) => self.target(),
            (Some(tmp), false) => tmp.clone(),
            (None, _) => return,
        };
        // Only what this export wrote: never anything else that came to be there.
        for name in &self.written {
            let _ = fs::remove_file(dir.join(name));
        }
        let _ = fs::remove_dir(&dir);
    }
}

/// Whether `e`, met reading an attachment, means its stored content is
/// damaged (or was tampered with) rather than that reading failed.
fn is_damage(e: &Error) -> bool {
    matches!(e, Error::Authentication { .. } | Error::Corrupt { .. })
}

/// The longest cleaned file name kept, in UTF-8 bytes: with an export's
/// `<id>-` prefix (at most 21 bytes) and an added extension (at most 5),
/// well under the 255 bytes file systems allow in a name, and leaving
/// room for a temporary name's additions (26 bytes).
const MAX_NAME_BYTES: usize = 150;

/// The longest extension kept when a long name is shortened, in characters.
const MAX_EXTENSION_CHARS: usize = 10;

impl Attachment {
    /// A name to write this attachment's content under: its file name
    /// made one safe path component on every common file system, or
    /// `attachment-<id>` with the extension of its media type when it has
    /// none left (or no name).
    ///
    /// The stored name comes from whoever sent the attachment, so it is
    /// never used as a path: every character but letters, digits, `-`,
    /// `_` and `.` becomes `_` (separators, `..`, drive letters, control
    /// and bidirectional formatting characters go with it), leading and
    /// trailing dots are dropped, and a name longer than 150 bytes of
    /// UTF-8 is shortened at a character boundary, keeping its extension.
    /// The HTML export names its files `<id>-` and this cleaned name.
    ///
    /// ```
    /// # use chatvault::{Attachment, AttachmentId, ConversationId, MessageId};
    /// # let mut a = Attachment {
    /// #     id: AttachmentId::from_raw(7),
    /// #     message: MessageId::new(ConversationId::from_raw(1), 1),
    /// #     media_type: "image/png".into(),
    /// #     file_name: None,
    /// #     byte_len: 0,
    /// #     app_data: Vec::new(),
    /// #     created_at_ms: 0,
    /// #     removed_at_ms: None,
    /// # };
    /// a.file_name = Some("../../photo 1.png".into());
    /// assert_eq!(a.file_name_for_disk(), "_.._photo_1.png");
    /// a.file_name = None;
    /// assert_eq!(a.file_name_for_disk(), "attachment-7.png");
    /// ```
    pub fn file_name_for_disk(&self) -> String {
        match cleaned_name(self) {
            Some(name) => name,
            None => match self.file_extension() {
                Some(ext) => format!("attachment-{}.{ext}", self.id),
                None => format!("attachment-{}", self.id),
            },
        }
    }
}

/// `a`'s file name cleaned ([`Attachment::file_name_for_disk`]), `None` if
/// nothing of it is left.
fn cleaned_name(a: &Attachment) -> Option<String> {
    let cleaned: String = a
        .file_name
        .as_deref()
        .unwrap_or("")
        .chars()
        .map(|ch| if ch.is_alphanumeric() || matches!(ch, '-' | '_' | '.') { ch } else { '_' })
        .collect();
    let cleaned = cleaned.trim_matches('.');
    if cleaned.is_empty() || cleaned.chars().all(|ch| ch == '_') {
        return None;
    }
    if cleaned.len() <= MAX_NAME_BYTES {
        return Some(cleaned.to_owned());
    }
    // Keep a short extension, shorten the rest.
    let ext = cleaned
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| (1..=MAX_EXTENSION_CHARS).contains(&e.chars().count()));
    let keep = MAX_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut end = keep.min(cleaned.len());
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    let mut short = cleaned.get(..end).unwrap_or_default().trim_end_matches('.').to_owned();
    if let Some(ext) = ext {
        short.push('.');
        short.push_str(ext);
    }
    Some(short)
}

/// Extensions of files a browser opening them from the page shows or
/// plays without running anything, or hands to another program as a
/// document (lower case): images (not SVG, which can hold scripts), audio
/// and video, PDF, plain text, office documents without macros, ZIP, and
/// `.bin`, what this module adds to anything else (only ever downloaded).
const INERT_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "avif", "bmp", "heic", "heif", "tif", "tiff", "mp3", "m4a", "aac",
    "ogg", "oga", "opus", "wav", "flac", "amr", "weba", "mp4", "m4v", "mov", "webm", "ogv", "3gp", "mkv",
    "pdf", "txt", "docx", "xlsx", "pptx", "odt", "ods", "odp", "zip", "bin",
];

/// Image extensions a page shows inline with `<img>`.
const INLINE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp", "avif", "bmp"];

/// The extension of `name` (after its last dot), lower case.
fn extension(name: &str) -> Option<String> {
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

/// `<id>-<name>` for `a`'s file in an HTML export's directory: a single
/// path component whatever the stored name (docs on
/// [`Store::export_html_to_file_with`]). A name whose extension is not
/// one of [`INERT_EXTENSIONS`] (`.html`, `.svg`, `.js`, none at all, …:
/// content a browser might run, with the page's file access and without
/// its Content Security Policy) gets one added: its media type's if that
/// is an inert type's ([`Attachment::file_extension`] knows only those),
/// else `.txt` if it is text, so a browser shows its source, else `.bin`,
/// so a browser only ever downloads it.
fn export_file_name(a: &Attachment) -> String {
    let base = match cleaned_name(a) {
        Some(name) => name,
        None => format!("attachment.{}", a.file_extension().unwrap_or("bin")),
    };
    let mut name = format!("{}-{base}", a.id);
    let ext = extension(&base);
    if !ext.as_deref().is_some_and(|e| INERT_EXTENSIONS.contains(&e)) {
        let essence = a.media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let textual = essence.starts_with("text/")
            || essence.ends_with("+xml")
            || matches!(essence.as_str(), "application/xml" | "application/javascript" | "application/json")
            || ext.as_deref().is_some_and(|e| {
                matches!(e, "html" | "htm" | "xhtml" | "xht" | "svg" | "xml" | "xsl" | "xslt" | "js" | "mjs")
            });
        name.push('.');
        name.push_str(match a.file_extension() {
            Some(known) if INERT_EXTENSIONS.contains(&known) => known,
            _ if textual => "txt",
            _ => "bin",
        });
    }
    name
}

/// Whether the page shows `a`, written as `name`, inline: an image of an
/// inert type (never SVG), by both its media type and its file's name.
fn shows_inline(a: &Attachment, name: &str) -> bool {
    a.media_type.trim_start().to_ascii_lowercase().starts_with("image/")
        && extension(name).is_some_and(|e| INLINE_EXTENSIONS.contains(&e.as_str()))
}

/// Appends `bytes` percent-encoded for a URL path segment: everything but
/// ASCII letters, digits, `-`, `.`, `_` and `~` as `%XX`.
pub(super) fn percent_encode(buf: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            buf.push(char::from(b));
        } else {
            let _ = write!(buf, "%{b:02X}");
        }
    }
}

/// A byte count for people: `512 B`, `12.34 KiB`, `1.20 MiB` (as the CLI
/// writes sizes, through indicatif's `BinaryBytes`).
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConversationId, MessageId};

    fn attachment(id: u64, name: Option<&str>, media_type: &str) -> Attachment {
        Attachment {
            id: crate::AttachmentId::from_raw(id),
            message: MessageId::new(ConversationId::from_raw(1), 1),
            media_type: media_type.into(),
            file_name: name.map(Into::into),
            byte_len: 0,
            app_data: Vec::new(),
            created_at_ms: 0,
            removed_at_ms: None,
        }
    }

    fn named(id: u64, name: Option<&str>, media_type: &str) -> String {
        export_file_name(&attachment(id, name, media_type))
    }

    #[test]
    fn attachment_file_names_are_one_safe_path_component() {
        assert_eq!(named(7, Some("IMG_0001.jpg"), "image/jpeg"), "7-IMG_0001.jpg");
        assert_eq!(named(7, Some("../../etc/passwd"), "text/plain"), "7-_.._etc_passwd.txt");
        assert_eq!(named(7, Some(".."), "image/png"), "7-attachment.png");
        assert_eq!(named(7, Some("/"), "image/png"), "7-attachment.png");
        assert_eq!(named(7, Some(".hidden"), "x/y"), "7-hidden.bin");
        assert_eq!(named(7, Some("a/b\\c:d*e?.txt"), "text/plain"), "7-a_b_c_d_e_.txt");
        assert_eq!(named(7, Some("C:\\Windows\\x.dll"), "x/y"), "7-C__Windows_x.dll.bin");
        assert_eq!(named(7, Some("\u{202e}gnp.exe"), "x/y"), "7-_gnp.exe.bin", "no bidi override");
        assert_eq!(named(7, Some("a\u{0}b\nc"), "x/y"), "7-a_b_c.bin");
        assert_eq!(named(7, Some("照片 2024.jpg"), "image/jpeg"), "7-照片_2024.jpg");
        assert_eq!(named(7, None, "application/pdf"), "7-attachment.pdf");
        assert_eq!(named(7, Some(""), "audio/ogg; codecs=opus"), "7-attachment.ogg");
        assert_eq!(named(7, None, "weird"), "7-attachment.bin");
        let long = named(7, Some(&format!("{}.jpeg", "x".repeat(500))), "image/jpeg");
        assert_eq!(long.len(), 2 + MAX_NAME_BYTES);
        assert!(long.ends_with("xx.jpeg"), "{long}");
        for name in ["..", "../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "...", ". ."] {
            let got = named(3, Some(name), "x/y");
            assert!(!got.contains('/') && !got.contains('\\') && !got.starts_with('.'), "{name:?}: {got:?}");
            assert_eq!(std::path::Path::new(&got).components().count(), 1, "{name:?}: {got:?}");
        }
    }

    /// A chat partner's long name: 100 ideographs (300 bytes of UTF-8),
    /// 4-byte emoji, accents, with and without an extension, under the
    /// largest id. Every name is cut by bytes at a character boundary,
    /// keeps its extension, and is a name a file system accepts.
    #[test]
    fn long_names_are_cut_by_bytes_and_fit_a_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            format!("{}.jpg", "照".repeat(100)),
            "照".repeat(100),
            format!("{}.png", "👋".repeat(80)),
            format!("{}.pdf", "é".repeat(200)),
            format!("a{}", ".b".repeat(200)),
            format!("{}.{}", "x".repeat(10), "照".repeat(100)),
        ];
        for name in &cases {
            for media_type in ["image/jpeg", "text/html", "x/y"] {
                let a = attachment(u64::MAX, Some(name), media_type);
                let cleaned = a.file_name_for_disk();
                assert!(cleaned.len() <= MAX_NAME_BYTES, "{} bytes: {cleaned}", cleaned.len());
                let on_disk = export_file_name(&a);
                assert!(on_disk.len() <= 200, "{} bytes: {on_disk}", on_disk.len());
                if let Some(ext) = name.rsplit_once('.').map(|(_, e)| e).filter(|e| e.chars().count() <= 10) {
                    assert!(cleaned.ends_with(&format!(".{ext}")), "{cleaned} keeps .{ext}");
                }
                // The file system takes it, and a temporary name beside it.
                std::fs::write(dir.path().join(&on_disk), b"x").unwrap();
                let rng = ring::rand::SystemRandom::new();
                let tmp = crate::atomic::temporary_name(&rng, OsStr::new(&on_disk)).unwrap();
                std::fs::write(dir.path().join(tmp), b"x").unwrap();
            }
        }
        let cjk = attachment(7, Some(&format!("{}.jpg", "照".repeat(100))), "image/jpeg");
        assert_eq!(cjk.file_name_for_disk(), format!("{}.jpg", "照".repeat(48)), "148 bytes");
    }

    #[test]
    fn the_public_cleaner_names_every_attachment() {
        let a = |name: Option<&str>, media_type: &str| attachment(9, name, media_type).file_name_for_disk();
        assert_eq!(a(Some("IMG 0001.jpg"), "image/jpeg"), "IMG_0001.jpg");
        assert_eq!(a(Some("../../etc/passwd"), "text/plain"), "_.._etc_passwd");
        assert_eq!(a(Some(".."), "image/png"), "attachment-9.png");
        assert_eq!(a(Some("/"), "x/y"), "attachment-9");
        assert_eq!(a(Some(".bashrc"), "x/y"), "bashrc");
        assert_eq!(a(Some("a\u{202e}gnp.exe"), "x/y"), "a_gnp.exe");
        assert_eq!(a(None, "audio/ogg"), "attachment-9.ogg");
        assert_eq!(a(Some(&"é".repeat(300)), "x/y").len(), MAX_NAME_BYTES);
        for name in ["..", "../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "...", ". .", "\n"] {
            let got = a(Some(name), "x/y");
            assert_eq!(Path::new(&got).components().count(), 1, "{name:?}: {got:?}");
            assert!(!got.starts_with('.') && !got.contains('/'), "{name:?}: {got:?}");
        }
    }

    /// Content a browser would run (or sniff) is never written under a
    /// name it opens as a page, and never shown inline.
    #[test]
    fn active_content_gets_an_inert_name_and_is_not_shown_inline() {
        for (name, media_type, expected) in [
            ("x.html", "text/html", "7-x.html.txt"),
            ("x.HTM", "text/html", "7-x.HTM.txt"),
            ("x.xhtml", "application/xhtml+xml", "7-x.xhtml.txt"),
            ("x.svg", "image/svg+xml", "7-x.svg.txt"),
            ("x.xml", "application/octet-stream", "7-x.xml.txt"),
            ("x.js", "application/javascript", "7-x.js.txt"),
            ("x.mjs", "x/y", "7-x.mjs.txt"),
            ("x.shtml", "x/y", "7-x.shtml.bin"),
            ("x", "x/y", "7-x.bin"),
            ("notes", "text/plain", "7-notes.txt"),
            // The media type's extension, when it has one: the page shows it.
            ("evil.html", "image/png", "7-evil.html.png"),
            ("photo", "image/jpeg", "7-photo.jpg"),
            // Inert already: kept.
            ("x.png", "text/html", "7-x.png"),
            ("song.mp3", "audio/mpeg", "7-song.mp3"),
            ("doc.pdf", "application/pdf", "7-doc.pdf"),
        ] {
            let a = attachment(7, Some(name), media_type);
            let on_disk = export_file_name(&a);
            assert_eq!(on_disk, expected, "{name} ({media_type})");
            let ext = extension(&on_disk).unwrap();
            assert!(INERT_EXTENSIONS.contains(&ext.as_str()), "{on_disk}");
        }
        let inline = |name: &str, media_type: &str| {
            let a = attachment(7, Some(name), media_type);
            shows_inline(&a, &export_file_name(&a))
        };
        assert!(inline("p.png", "image/png"));
        assert!(inline("p.JPG", "image/jpeg"));
        assert!(inline("p", "image/webp"));
        assert!(!inline("p.svg", "image/svg+xml"), "SVG can hold scripts");
        assert!(!inline("p.png", "text/html"), "not an image by its type");
        assert!(!inline("p.heic", "image/heic"), "not shown by most browsers: linked");
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    /// Three pages written and ready to be put in place in `dir`.
    fn three_pages(dir: &Path, replace: bool) -> PageFiles {
        let mut pages = PageFiles::new(&dir.join("store.chatvault"), replace);
        for name in ["chat.html", "chat-2.html", "chat-3.html"] {
            let mut page = pages.create(&dir.join(name)).unwrap();
            page.write_all(name.as_bytes()).unwrap();
            PageFiles::finish(page).unwrap();
        }
        pages
    }

    #[test]
    fn a_file_made_at_a_place_during_the_commit_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut pages = three_pages(dir.path(), false);
        // Another program makes chat-2.html after the checks, just before
        // the export puts its page there (chat-3.html is already in place).
        pages.before_placing = Some(Box::new(|place: &Path| {
            if place.ends_with("chat-2.html") {
                fs::write(place, "theirs").unwrap();
            }
        }));
        let err = pages.commit().unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read_to_string(dir.path().join("chat-2.html")).unwrap(), "theirs");
        assert_eq!(names_in(dir.path()), ["chat-2.html"], "no page of the export, no temporary file");
    }

    #[test]
    fn a_failure_part_way_through_the_commit_leaves_no_page() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("chat.html"), "old first page").unwrap();
        let mut pages = three_pages(dir.path(), true);
        // chat-3.html goes in place, then chat-2.html cannot: a non-empty
        // directory appeared there.
        pages.before_placing = Some(Box::new(|place: &Path| {
            if place.ends_with("chat-2.html") {
                fs::create_dir(place).unwrap();
                fs::write(place.join("x"), "x").unwrap();
            }
        }));
        assert!(pages.commit().is_err());
        assert_eq!(names_in(dir.path()), ["chat-2.html", "chat.html"], "chat-3.html removed again");
        assert_eq!(fs::read_to_string(dir.path().join("chat.html")).unwrap(), "old first page");
        assert!(dir.path().join("chat-2.html").is_dir());

        // Without a race, everything goes in place.
        fs::remove_dir_all(dir.path().join("chat-2.html")).unwrap();
        three_pages(dir.path(), true).commit().unwrap();
        assert_eq!(names_in(dir.path()), ["chat-2.html", "chat-3.html", "chat.html"]);
        assert_eq!(fs::read_to_string(dir.path().join("chat-3.html")).unwrap(), "chat-3.html");
    }

    #[test]
    fn pages_never_go_over_a_directory_or_under_too_long_a_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("chat-2.html")).unwrap();
        let mut pages = PageFiles::new(&dir.path().join("store.chatvault"), true);
        let err = pages.create(&dir.path().join("chat-2.html")).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let long = format!("{}.html", "照".repeat(84)); // 257 bytes
        let err = pages.create(&dir.path().join(&long)).unwrap_err();
        assert!(err.to_string().contains("257 bytes long"), "{err}");
        // 255 bytes: the page and its temporary file fit.
        let longest = format!("{}x.html", "照".repeat(83));
        assert_eq!(longest.len(), 255);
        let page = pages.create(&dir.path().join(&longest)).unwrap();
        PageFiles::finish(page).unwrap();
        pages.commit().unwrap();
        assert_eq!(names_in(dir.path()), ["chat-2.html".to_owned(), longest]);
    }

    #[test]
    fn only_attachment_directories_of_the_export_s_own_naming_are_removed() {
        assert!(is_attachment_file_name(OsStr::new("12-a.png")));
        assert!(is_attachment_file_name(OsStr::new("1-_x")));
        for other in ["-a.png", "12", "12-", "12-.hidden", "a-12", "notes.txt"] {
            assert!(!is_attachment_file_name(OsStr::new(other)), "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours_files");
        let mixed = dir.path().join("mixed_files");
        for d in [&ours, &mixed] {
            fs::create_dir(d).unwrap();
            fs::write(d.join("7-a.png"), "a").unwrap();
        }
        fs::write(mixed.join("my notes.txt"), "keep").unwrap();
        fs::write(dir.path().join("page-2.html"), "old").unwrap();
        fs::create_dir(dir.path().join("page-3.html")).unwrap();
        let removed = remove_stale(dir.path(), |name| match name.to_str() {
            Some("ours_files" | "mixed_files") => Some(Stale::AttachmentDir),
            Some("page-2.html" | "page-3.html") => Some(Stale::Page),
            _ => None,
        })
        .unwrap();
        assert_eq!(removed, [dir.path().join("ours_files"), dir.path().join("page-2.html")]);
        assert_eq!(names_in(dir.path()), ["mixed_files", "page-3.html"], "anything else is left alone");
        assert_eq!(names_in(&mixed), ["7-a.png", "my notes.txt"]);
    }

    #[test]
    fn links_are_percent_encoded_and_sizes_read_well() {
        let mut s = String::new();
        percent_encode(&mut s, "my chat #1?_files/é".as_bytes());
        assert_eq!(s, "my%20chat%20%231%3F_files%2F%C3%A9");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(6_220_854), "5.93 MiB");
    }
}
