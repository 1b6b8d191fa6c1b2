//! Plaintext exports for people: JSON Lines and HTML (docs/FORMAT.md,
//! "Plaintext exports").
//!
//! Everything else in the crate keeps what the user wrote encrypted; these
//! functions deliberately write it out in the clear, so each takes a
//! [`Plaintext::Accept`] token that makes the choice visible at the call
//! site. The exports are not archives and cannot be imported.
//!
//! Messages are read a page at a time ([`EXPORT_PAGE`] messages), so memory
//! stays bounded whatever a conversation's size. Expired and deleted
//! messages are not exported. Each page is a separate read, so messages
//! appended to a conversation while it is being exported may or may not be
//! included, but the order is always oldest first.
//!
//! Attachments (docs/ATTACHMENTS.md) are listed with their messages; only
//! [`Store::export_html_to_file`] writes their content out, into files
//! beside the page.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Missing, Result};
use crate::ids::{ConversationId, MessageId};
use crate::store::Store;
use crate::types::{Attachment, Conversation, Message, Page};

/// The explicit consent to write messages to disk unencrypted.
///
/// [`Store::export_json_lines`], [`Store::export_html`] and their `_to_file`
/// variants take this token so that writing plaintext is always a visible,
/// explicit choice of the caller. Their output is **not encrypted**: anyone
/// who gets hold of the file (a backup, a synced folder, another app with
/// storage access) can read every exported message, and deleting the
/// conversation from the store does not delete the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plaintext {
    /// "I accept that the output is unencrypted and readable by anyone who
    /// gets the file."
    Accept,
}

/// How many messages an export reads at a time.
const EXPORT_PAGE: usize = 500;

impl Store {
    /// Writes messages to `out` as JSON Lines, unencrypted: one JSON object
    /// per message, one per line (`\n`-terminated), and returns how many
    /// messages were written.
    ///
    /// `conversations` lists the conversations to export, in that order (a
    /// conversation listed twice is exported twice); `None` exports every
    /// conversation in ascending id order. Every listed conversation is
    /// looked up before anything is written, so an unknown one fails with
    /// [`crate::Error::NotFound`] and writes nothing. Within a
    /// conversation, messages come oldest first; expired and deleted
    /// messages are left out.
    ///
    /// Each object has exactly these keys:
    ///
    /// | key | value |
    /// |---|---|
    /// | `conversation` | the [`ConversationId`] as a number |
    /// | `conversation_title` | string |
    /// | `conversation_external_id` | string or `null` |
    /// | `id` | the [`MessageId`] as a string, as `Display` writes it (`12/345`) |
    /// | `external_id` | string or `null` |
    /// | `sender` | string |
    /// | `time` | when it was sent: RFC 3339, UTC, milliseconds (`2023-11-14T22:13:20.000Z`) |
    /// | `text` | string |
    /// | `reply_to` | the replied-to [`MessageId`] as a string, or `null` |
    /// | `edited_at` | RFC 3339 or `null` |
    /// | `expires_at` | RFC 3339 or `null` |
    /// | `attachments` | an array, empty if it has none, in the order they were written |
    ///
    /// Each attachment is an object with exactly the keys `id` (the
    /// [`crate::AttachmentId`] as a number), `media_type` (string),
    /// `file_name` (string or `null`), `byte_len` (its content's length, a
    /// number) and `removed` (`true` once the storage manager removed its
    /// content). Their metadata only: the content of attachments is not
    /// in a JSON Lines export.
    ///
    /// Times before year 0000 or after 9999 are clamped to
    /// `0000-01-01T00:00:00.000Z` and `9999-12-31T23:59:59.999Z`. A
    /// message's opaque `extra` data and an attachment's `app_data` are not
    /// exported.
    ///
    /// `out` is written a message at a time and flushed at the end. If an
    /// error occurs part-way, what was written so far is incomplete;
    /// [`Store::export_json_lines_to_file`] never leaves such a file behind.
    pub fn export_json_lines(
        &self,
        out: &mut impl Write,
        conversations: Option<&[ConversationId]>,
        consent: Plaintext,
    ) -> Result<u64> {
        let Plaintext::Accept = consent;
        let convs = self.export_list(conversations)?;
        let mut line = String::new();
        let mut written = 0u64;
        for conv in &convs {
            // The conversation's part of every line, escaped once.
            let mut prefix = String::from("{\"conversation\":");
            push_display(&mut prefix, conv.id.get());
            prefix.push_str(",\"conversation_title\":");
            json_string(&mut prefix, &conv.title);
            prefix.push_str(",\"conversation_external_id\":");
            json_opt_string(&mut prefix, conv.external_id.as_deref());

            written += self.for_each_message(conv.id, |m, attachments| {
                line.clear();
                line.push_str(&prefix);
                json_message(&mut line, m, attachments);
                out.write_all(line.as_bytes())?;
                Ok(())
            })?;
        }
        out.flush()?;
        Ok(written)
    }

    /// [`Store::export_json_lines`] into the file at `path`, unencrypted.
    ///
    /// The export is written to a temporary file beside `path` (mode 0600 on
    /// Unix), synced, and renamed over `path` only once it is complete: an
    /// interrupted or failed export leaves no file at `path` (or the one that
    /// was there before), never a partial one that looks complete.
    pub fn export_json_lines_to_file(
        &self,
        path: impl AsRef<Path>,
        conversations: Option<&[ConversationId]>,
        consent: Plaintext,
    ) -> Result<u64> {
        self.write_file(path.as_ref(), |w| self.export_json_lines(w, conversations, consent))
    }

    /// Writes conversation `c` to `out` as one self-contained HTML5 page,
    /// unencrypted, and returns how many messages it lists.
    ///
    /// The page is UTF-8, with an inline style sheet and no script or
    /// external resource (a Content Security Policy forbids both, and lets
    /// images come only from the page's own origin or local files: the
    /// attachments [`Store::export_html_to_file`] writes beside it). Its title
    /// is the conversation's title; it lists the messages oldest first, each
    /// with its sender, time (UTC), text (line breaks kept), an "edited" mark
    /// if it was edited, and a link to the message it replies to. Each
    /// message is an element with the anchor `m<seq>` (for message `12/345`,
    /// `#m345`). Every string from the store is escaped; C0 control
    /// characters other than tab, line feed and carriage return, which HTML
    /// does not allow, are shown as U+FFFD. Expired and deleted messages are
    /// left out.
    ///
    /// A message's attachments are listed under it by name, media type and
    /// size, those whose content the storage manager removed marked
    /// "(removed)". Their content is not written: a stream has nowhere to put
    /// it. [`Store::export_html_to_file`] writes it in files beside the page.
    ///
    /// `out` is written a message at a time and flushed at the end. If an
    /// error occurs part-way, what was written so far is incomplete;
    /// [`Store::export_html_to_file`] never leaves such a file behind.
    pub fn export_html(&self, c: ConversationId, out: &mut impl Write, consent: Plaintext) -> Result<u64> {
        let Plaintext::Accept = consent;
        self.write_html(c, out, None)
    }

    /// [`Store::export_html`] into the file at `path`, unencrypted, written
    /// as [`Store::export_json_lines_to_file`] writes: complete or not at
    /// all; and with the content of the conversation's attachments.
    ///
    /// Each attachment whose content is still in the store is written,
    /// **unencrypted as the page is**, into a directory beside the page
    /// named after it: `<file stem>_files`, so `chat.html` gets
    /// `chat_files/`. The directory (mode 0700 on Unix) holds one file per
    /// attachment (mode 0600), named `<attachment id>-<file name>`, where the
    /// stored file name is never used as a path: every character but
    /// letters, digits, `-`, `_` and `.` becomes `_`, leading and trailing
    /// dots are dropped and the length is bounded, so the name stays inside
    /// the directory whatever the name in the store was (an attachment
    /// without a name is `<id>-attachment.<extension of its media type>`).
    /// The page links each file, and shows `image/*` attachments inline
    /// with `<img>` (its Content Security Policy allows images from the
    /// page's own origin and from local files, and still no script and no
    /// remote resource). An attachment whose content was removed is
    /// listed as "(removed)", with no file. The directory is made only if
    /// there is a file to put in it.
    ///
    /// The files are written in a temporary directory beside the page,
    /// each synced, and that directory is renamed into place just before
    /// the page is: a failed or interrupted export leaves neither the page
    /// nor the directory (the files written so far are removed), and a
    /// complete page never links a file that is not there. An existing
    /// directory of that name is never replaced or written into: if there
    /// is one, the export fails (remove it, or export to another path) and
    /// changes nothing.
    pub fn export_html_to_file(
        &self,
        c: ConversationId,
        path: impl AsRef<Path>,
        consent: Plaintext,
    ) -> Result<u64> {
        let Plaintext::Accept = consent;
        let path = path.as_ref();
        let mut files = AttachmentFiles::beside(path)?;
        let written = self.write_file(path, |w| {
            let n = self.write_html(c, w, Some(&mut files))?;
            files.put_in_place()?;
            Ok(n)
        })?;
        files.keep();
        Ok(written)
    }

    /// The HTML page of `c` into `out`; with `files`, each attachment's
    /// content is written there and linked.
    fn write_html(
        &self,
        c: ConversationId,
        out: &mut impl Write,
        mut files: Option<&mut AttachmentFiles>,
    ) -> Result<u64> {
        let conv = self.conversation(c)?;
        let mut buf = String::new();
        html_head(&mut buf, &conv);
        out.write_all(buf.as_bytes())?;
        let written = self.for_each_message(c, |m, attachments| {
            buf.clear();
            html_message(&mut buf, c, m);
            for a in attachments {
                let shown = match files.as_deref_mut() {
                    Some(files) if a.removed_at_ms.is_none() => files.write(self, a)?,
                    Some(_) => Shown::Removed,
                    None if a.removed_at_ms.is_some() => Shown::Removed,
                    None => Shown::Listed,
                };
                html_attachment(&mut buf, a, &shown);
            }
            buf.push_str("</li>\n");
            out.write_all(buf.as_bytes())?;
            Ok(())
        })?;
        buf.clear();
        html_tail(&mut buf, written);
        out.write_all(buf.as_bytes())?;
        out.flush()?;
        Ok(written)
    }

    /// The conversations to export, in order, looked up before anything is
    /// written.
    fn export_list(&self, conversations: Option<&[ConversationId]>) -> Result<Vec<Conversation>> {
        match conversations {
            Some(ids) => ids.iter().map(|&c| self.conversation(c)).collect(),
            None => self.conversation_ids()?.into_iter().map(|c| self.conversation(c)).collect(),
        }
    }

    /// Calls `f` on every message of `c`, oldest first, with its attachments
    /// (in the order they were written), reading [`EXPORT_PAGE`] messages at
    /// a time; returns how many there were.
    fn for_each_message(
        &self,
        c: ConversationId,
        mut f: impl FnMut(&Message, &[Attachment]) -> Result<()>,
    ) -> Result<u64> {
        let mut count = 0u64;
        let mut page = Page::oldest(EXPORT_PAGE);
        loop {
            let messages = self.messages(c, page)?;
            let mut attachments = self.page_attachments(c, &messages)?;
            for m in &messages {
                let of_m = attachments.remove(&m.id.seq()).unwrap_or_default();
                f(m, &of_m)?;
                count += 1;
            }
            match messages.last() {
                // A short page is the end of the conversation.
                Some(last) if messages.len() >= EXPORT_PAGE => page = Page::after(last.id, EXPORT_PAGE),
                _ => return Ok(count),
            }
        }
    }

    /// The attachments of a page of `c`'s messages (oldest first), by
    /// sequence number, in one read.
    fn page_attachments(
        &self,
        c: ConversationId,
        page: &[Message],
    ) -> Result<BTreeMap<u64, Vec<Attachment>>> {
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(BTreeMap::new());
        };
        let mut all = self.attachments_between(c, first.id.seq(), last.id.seq())?;
        let on_page: BTreeSet<u64> = page.iter().map(|m| m.id.seq()).collect();
        all.retain(|seq, _| on_page.contains(seq));
        Ok(all)
    }
}

/// How the HTML page shows an attachment.
enum Shown {
    /// By name and size (a streamed page).
    Listed,
    /// Its content was removed.
    Removed,
    /// Written beside the page: the link to it, relative to the page.
    Linked(String),
}

/// The attachment files of [`Store::export_html_to_file`]: a temporary
/// directory beside the page, made when the first file is written and
/// renamed to `<page stem>_files` once every file is. Unless
/// [`AttachmentFiles::keep`] is called, dropping it removes the files it
/// wrote and its directory.
struct AttachmentFiles {
    /// The page's directory.
    parent: PathBuf,
    /// `<page stem>_files`.
    name: OsString,
    /// The temporary directory, once made.
    tmp: Option<PathBuf>,
    /// The names of the files written.
    written: Vec<String>,
    /// Whether the directory was renamed into place.
    placed: bool,
    kept: bool,
}

impl AttachmentFiles {
    fn beside(page: &Path) -> Result<Self> {
        let parent = match page.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = page
            .file_stem()
            .ok_or_else(|| Error::invalid(format!("{} does not name a file", page.display())))?;
        let mut name = stem.to_os_string();
        name.push("_files");
        Ok(AttachmentFiles { parent, name, tmp: None, written: Vec::new(), placed: false, kept: false })
    }

    fn target(&self) -> PathBuf {
        self.parent.join(&self.name)
    }

    /// Writes `a`'s content into the directory; `Removed` if it was removed
    /// since it was listed.
    fn write(&mut self, store: &Store, a: &Attachment) -> Result<Shown> {
        let mut reader = match store.open_attachment(a.id) {
            Ok(r) => r,
            Err(Error::NotFound(Missing::Attachment(_))) => return Ok(Shown::Removed),
            Err(e) => return Err(e),
        };
        let dir = self.dir()?;
        let name = safe_file_name(a);
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
            let n = reader.read_at(at, &mut buf)?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])?;
            at += n as u64;
        }
        file.sync_all()?;
        let mut href = String::new();
        percent_encode(&mut href, self.name.as_encoded_bytes());
        href.push('/');
        percent_encode(&mut href, name.as_bytes());
        Ok(Shown::Linked(href))
    }

    /// The temporary directory, made on first use. An existing directory
    /// where it is to go fails the export before any file is written.
    fn dir(&mut self) -> Result<PathBuf> {
        if let Some(d) = &self.tmp {
            return Ok(d.clone());
        }
        self.refuse_existing()?;
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..16 {
            let mut tag = [0u8; 8];
            crate::crypto::fill_random(&rng, &mut tag)?;
            let mut tmp_name = OsString::from(".");
            tmp_name.push(&self.name);
            tmp_name.push(format!(".{}.tmp", u64::from_le_bytes(tag)));
            let tmp = self.parent.join(tmp_name);
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
    fn put_in_place(&mut self) -> Result<()> {
        let Some(tmp) = &self.tmp else { return Ok(()) };
        if let Ok(d) = fs::File::open(tmp) {
            let _ = d.sync_all();
        }
        self.refuse_existing()?;
        fs::rename(tmp, self.target())?;
        self.placed = true;
        Ok(())
    }

    /// The export is complete: keep the files.
    fn keep(mut self) {
        self.kept = true;
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

/// Longest sanitised file name kept, in characters (before the id prefix).
const MAX_NAME_CHARS: usize = 96;

/// `<id>-<name>` for `a`'s file in an HTML export's directory: a single
/// path component whatever the stored name (docs on
/// [`Store::export_html_to_file`]).
fn safe_file_name(a: &Attachment) -> String {
    let cleaned: String = a
        .file_name
        .as_deref()
        .unwrap_or("")
        .chars()
        .map(|ch| if ch.is_alphanumeric() || matches!(ch, '-' | '_' | '.') { ch } else { '_' })
        .collect();
    let cleaned = cleaned.trim_matches('.');
    let name = if cleaned.is_empty() || cleaned.chars().all(|ch| ch == '_') {
        format!("attachment.{}", a.file_extension().unwrap_or("bin"))
    } else if cleaned.chars().count() > MAX_NAME_CHARS {
        // Keep a short extension, shorten the rest.
        let ext = cleaned.rsplit_once('.').map(|(_, e)| e).filter(|e| (1..=10).contains(&e.chars().count()));
        let keep = MAX_NAME_CHARS - ext.map_or(0, |e| e.chars().count() + 1);
        let mut short: String = cleaned.chars().take(keep).collect();
        if let Some(ext) = ext {
            short.push('.');
            short.push_str(ext);
        }
        short
    } else {
        cleaned.to_owned()
    };
    format!("{}-{name}", a.id)
}

/// Appends `bytes` percent-encoded for a URL path segment: everything but
/// ASCII letters, digits, `-`, `.`, `_` and `~` as `%XX`.
fn percent_encode(buf: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            buf.push(char::from(b));
        } else {
            let _ = write!(buf, "%{b:02X}");
        }
    }
}

/// A byte count for people: `512 B`, `12.3 KiB`, `1.2 MiB`.
fn human_bytes(n: u64) -> String {
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
    format!("{v:.1} {}", UNITS[unit])
}

/// Appends `v`'s `Display` form.
fn push_display(buf: &mut String, v: impl fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(buf, "{v}");
}

/// Appends the rest of a message's JSON object (after the conversation
/// fields), closing brace and newline included.
fn json_message(buf: &mut String, m: &Message, attachments: &[Attachment]) {
    buf.push_str(",\"id\":");
    json_display(buf, m.id);
    buf.push_str(",\"external_id\":");
    json_opt_string(buf, m.external_id.as_deref());
    buf.push_str(",\"sender\":");
    json_string(buf, &m.sender);
    buf.push_str(",\"time\":\"");
    buf.push_str(&rfc3339(m.sent_at_ms));
    buf.push_str("\",\"text\":");
    json_string(buf, &m.text);
    buf.push_str(",\"reply_to\":");
    match m.reply_to {
        Some(r) => json_display(buf, r),
        None => buf.push_str("null"),
    }
    buf.push_str(",\"edited_at\":");
    json_opt_time(buf, m.edited_at_ms);
    buf.push_str(",\"expires_at\":");
    json_opt_time(buf, m.expires_at_ms);
    buf.push_str(",\"attachments\":[");
    for (i, a) in attachments.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        buf.push_str("{\"id\":");
        push_display(buf, a.id.get());
        buf.push_str(",\"media_type\":");
        json_string(buf, &a.media_type);
        buf.push_str(",\"file_name\":");
        json_opt_string(buf, a.file_name.as_deref());
        buf.push_str(",\"byte_len\":");
        push_display(buf, a.byte_len);
        buf.push_str(",\"removed\":");
        buf.push_str(if a.removed_at_ms.is_some() { "true" } else { "false" });
        buf.push('}');
    }
    buf.push_str("]}\n");
}

/// Appends a message id as a JSON string (its `Display` form needs no
/// escaping: digits and a slash).
fn json_display(buf: &mut String, id: MessageId) {
    buf.push('"');
    push_display(buf, id);
    buf.push('"');
}

fn json_opt_time(buf: &mut String, ms: Option<i64>) {
    match ms {
        Some(ms) => {
            buf.push('"');
            buf.push_str(&rfc3339(ms));
            buf.push('"');
        }
        None => buf.push_str("null"),
    }
}

fn json_opt_string(buf: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_string(buf, s),
        None => buf.push_str("null"),
    }
}

/// Appends `s` as a JSON string (RFC 8259): quote and backslash escaped,
/// control characters below U+0020 as `\n`, `\r`, `\t`, `\b`, `\f` or
/// `\u00XX`, everything else as UTF-8.
fn json_string(buf: &mut String, s: &str) {
    buf.reserve(s.len() + 2);
    buf.push('"');
    for ch in s.chars() {
        match ch {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            '\u{08}' => buf.push_str("\\b"),
            '\u{0c}' => buf.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", u32::from(c));
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// Appends `s` escaped for HTML text and attribute values: `&`, `<`, `>`,
/// `"` and `'` as character references, and C0 controls other than tab,
/// line feed and carriage return (not allowed in HTML) as U+FFFD.
fn html_escape(buf: &mut String, s: &str) {
    buf.reserve(s.len());
    for ch in s.chars() {
        match ch {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '"' => buf.push_str("&quot;"),
            '\'' => buf.push_str("&#39;"),
            '\t' | '\n' | '\r' => buf.push(ch),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => buf.push('\u{fffd}'),
            c => buf.push(c),
        }
    }
}

const HTML_STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0 auto;max-width:46em;padding:1em;color:#1b1b1b;background:#fafafa}\
header{border-bottom:1px solid #ddd;margin-bottom:1em}\
h1{font-size:1.4em;margin:.2em 0}\
.note{color:#666;font-size:.85em}\
ol{list-style:none;margin:0;padding:0}\
li{background:#fff;border:1px solid #e4e4e4;border-radius:6px;margin:.5em 0;padding:.5em .75em}\
li:target{border-color:#3a7bd5;box-shadow:0 0 0 2px #3a7bd533}\
.head{font-size:.85em;color:#555}\
.sender{font-weight:600;color:#1b1b1b}\
.edited,.expires{font-style:italic}\
.reply{font-size:.85em;border-left:3px solid #ccc;padding-left:.5em;margin:.25em 0}\
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin-top:.25em}\
a{color:#3a7bd5}\
.att{font-size:.85em;color:#555;margin-top:.35em}\
.att img{display:block;max-width:100%;max-height:24em;border-radius:4px;margin-bottom:.2em}\
.removed{font-style:italic;color:#888}\
footer{color:#666;font-size:.85em;margin-top:1em}";

/// Appends the page up to the opening of the message list.
fn html_head(buf: &mut String, conv: &Conversation) {
    buf.push_str(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    html_escape(buf, &conv.title);
    buf.push_str("</title>\n<style>");
    buf.push_str(HTML_STYLE);
    buf.push_str("</style>\n</head>\n<body>\n<header>\n<h1>");
    html_escape(buf, &conv.title);
    buf.push_str("</h1>\n");
    if !conv.members.is_empty() {
        buf.push_str("<p class=\"note\">Members: ");
        for (i, member) in conv.members.iter().enumerate() {
            if i > 0 {
                buf.push_str(", ");
            }
            html_escape(buf, member);
        }
        buf.push_str("</p>\n");
    }
    buf.push_str("<p class=\"note\">Unencrypted export of conversation ");
    push_display(buf, conv.id);
    buf.push_str(". Times are UTC.</p>\n</header>\n<ol>\n");
}

/// Appends one message's list item, up to its attachments: the caller
/// closes it.
fn html_message(buf: &mut String, c: ConversationId, m: &Message) {
    buf.push_str("<li id=\"m");
    push_display(buf, m.id.seq());
    buf.push_str("\">\n<div class=\"head\"><span class=\"sender\">");
    html_escape(buf, &m.sender);
    buf.push_str("</span> ");
    html_time(buf, m.sent_at_ms);
    if let Some(e) = m.edited_at_ms {
        buf.push_str(" <span class=\"edited\" title=\"edited ");
        buf.push_str(&Civil::from_ms(e).display());
        buf.push_str("\">(edited)</span>");
    }
    if let Some(e) = m.expires_at_ms {
        buf.push_str(" <span class=\"expires\">(disappears ");
        buf.push_str(&Civil::from_ms(e).display());
        buf.push_str(")</span>");
    }
    buf.push_str("</div>\n");
    if let Some(r) = m.reply_to {
        buf.push_str("<div class=\"reply\">in reply to ");
        if r.conversation() == c {
            buf.push_str("<a href=\"#m");
            push_display(buf, r.seq());
            buf.push_str("\">message ");
            push_display(buf, r.seq());
            buf.push_str("</a>");
        } else {
            buf.push_str("message ");
            push_display(buf, r);
        }
        buf.push_str("</div>\n");
    }
    buf.push_str("<div class=\"text\">");
    html_escape(buf, &m.text);
    buf.push_str("</div>\n");
}

/// Appends one attachment of a message: an image inline and a link when
/// its file was written, else its name, media type and size.
fn html_attachment(buf: &mut String, a: &Attachment, shown: &Shown) {
    let label = |buf: &mut String| match &a.file_name {
        Some(name) => html_escape(buf, name),
        None => {
            buf.push_str("attachment ");
            push_display(buf, a.id);
        }
    };
    let details = |buf: &mut String| {
        buf.push_str(" · ");
        html_escape(buf, &a.media_type);
        buf.push_str(" · ");
        buf.push_str(&human_bytes(a.byte_len));
    };
    match shown {
        Shown::Linked(href) => {
            buf.push_str("<div class=\"att\">");
            if a.media_type.to_ascii_lowercase().starts_with("image/") {
                buf.push_str("<a href=\"");
                buf.push_str(href);
                buf.push_str("\"><img src=\"");
                buf.push_str(href);
                buf.push_str("\" alt=\"");
                label(buf);
                buf.push_str("\"></a>");
            }
            buf.push_str("📎 <a href=\"");
            buf.push_str(href);
            buf.push_str("\">");
            label(buf);
            buf.push_str("</a>");
            details(buf);
        }
        Shown::Listed => {
            buf.push_str("<div class=\"att\">📎 ");
            label(buf);
            details(buf);
        }
        Shown::Removed => {
            buf.push_str("<div class=\"att removed\">📎 ");
            label(buf);
            details(buf);
            buf.push_str(" (removed)");
        }
    }
    buf.push_str("</div>\n");
}

fn html_time(buf: &mut String, ms: i64) {
    let t = Civil::from_ms(ms);
    buf.push_str("<time datetime=\"");
    buf.push_str(&t.rfc3339());
    buf.push_str("\">");
    buf.push_str(&t.display());
    buf.push_str("</time>");
}

/// Appends the end of the page.
fn html_tail(buf: &mut String, count: u64) {
    buf.push_str("</ol>\n<footer>");
    push_display(buf, count);
    buf.push_str(if count == 1 { " message" } else { " messages" });
    buf.push_str("</footer>\n</body>\n</html>\n");
}

/// `0000-01-01T00:00:00.000Z` in milliseconds since the Unix epoch.
const MIN_MS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in milliseconds since the Unix epoch.
const MAX_MS: i64 = 253_402_300_799_999;
const MS_PER_DAY: i64 = 86_400_000;

/// A UTC time broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

impl Civil {
    /// Breaks `ms` (milliseconds since the Unix epoch, proleptic Gregorian
    /// calendar) into fields, clamped to years 0000 through 9999.
    fn from_ms(ms: i64) -> Civil {
        let ms = ms.clamp(MIN_MS, MAX_MS);
        let days = ms.div_euclid(MS_PER_DAY);
        let in_day = ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1000 % 60,
            milli: in_day % 1000,
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn rfc3339(self) -> String {
        let Civil { year, month, day, hour, minute, second, milli } = self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
    }

    /// `YYYY-MM-DD HH:MM:SS UTC`, for people.
    fn display(self) -> String {
        let Civil { year, month, day, hour, minute, second, .. } = self;
        format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
    }
}

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC with
/// milliseconds, e.g. `2023-11-14T22:13:20.000Z`. RFC 3339 has four-digit
/// years only, so times before year 0000 or after 9999 are clamped to
/// `0000-01-01T00:00:00.000Z` and `9999-12-31T23:59:59.999Z`.
fn rfc3339(ms: i64) -> String {
    Civil::from_ms(ms).rfc3339()
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian (year, month,
/// day) of `days` since 1970-01-01 (negative before). Exact for any `days`
/// whose year fits comfortably in an `i64`; callers pass days within
/// years 0000..=9999.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097); // 400-year eras
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-86_400_000), "1969-12-31T00:00:00.000Z");
        assert_eq!(rfc3339(-86_400_001), "1969-12-30T23:59:59.999Z");
        // 2024-02-29 (a leap day) and the days around it.
        assert_eq!(rfc3339(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_164_800_000 - 1), "2024-02-28T23:59:59.999Z");
        assert_eq!(rfc3339(1_709_251_200_000), "2024-03-01T00:00:00.000Z");
        // 2000 is a leap year (divisible by 400), 1900 is not.
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-2_203_891_200_000), "1900-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(-2_203_891_200_001), "1900-02-28T23:59:59.999Z");
        assert_eq!(rfc3339(-12_219_292_800_000), "1582-10-15T00:00:00.000Z");
        assert_eq!(rfc3339(946_684_799_999), "1999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_range_ends_and_clamping() {
        assert_eq!(rfc3339(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(MAX_MS - 999), "9999-12-31T23:59:59.000Z");
        assert_eq!(rfc3339(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(MIN_MS + 1), "0000-01-01T00:00:00.001Z");
        // Year 0 is a leap year in the proleptic Gregorian calendar.
        assert_eq!(rfc3339(MIN_MS + 59 * MS_PER_DAY), "0000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(MAX_MS + 1), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(MIN_MS - 1), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn civil_from_days_matches_a_day_by_day_walk() {
        // Walk forward from 1600-01-01 for 800 years, one day at a time,
        // counting the calendar by hand.
        let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = |y: i64, m: i64| match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = -135_140; // 1600-01-01
        let (mut y, mut m, mut d) = (1600, 1, 1);
        while y < 2400 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            days += 1;
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{0}i\u{1f}j\u{7f}k é 你好 👋 </script> \u{2028}");
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0000i\\u001fj\u{7f}k é 你好 👋 </script> \u{2028}\""
        );
    }

    fn named(id: u64, name: Option<&str>, media_type: &str) -> String {
        safe_file_name(&Attachment {
            id: crate::AttachmentId::from_raw(id),
            message: MessageId::new(ConversationId::from_raw(1), 1),
            media_type: media_type.into(),
            file_name: name.map(Into::into),
            byte_len: 0,
            app_data: Vec::new(),
            created_at_ms: 0,
            removed_at_ms: None,
        })
    }

    #[test]
    fn attachment_file_names_are_one_safe_path_component() {
        assert_eq!(named(7, Some("IMG_0001.jpg"), "image/jpeg"), "7-IMG_0001.jpg");
        assert_eq!(named(7, Some("../../etc/passwd"), "text/plain"), "7-_.._etc_passwd");
        assert_eq!(named(7, Some(".."), "image/png"), "7-attachment.png");
        assert_eq!(named(7, Some("/"), "image/png"), "7-attachment.png");
        assert_eq!(named(7, Some(".hidden"), "x/y"), "7-hidden");
        assert_eq!(named(7, Some("a/b\\c:d*e?.txt"), "text/plain"), "7-a_b_c_d_e_.txt");
        assert_eq!(named(7, Some("C:\\Windows\\x.dll"), "x/y"), "7-C__Windows_x.dll");
        assert_eq!(named(7, Some("\u{202e}gnp.exe"), "x/y"), "7-_gnp.exe", "no bidi override");
        assert_eq!(named(7, Some("a\u{0}b\nc"), "x/y"), "7-a_b_c");
        assert_eq!(named(7, Some("照片 2024.jpg"), "image/jpeg"), "7-照片_2024.jpg");
        assert_eq!(named(7, None, "application/pdf"), "7-attachment.pdf");
        assert_eq!(named(7, Some(""), "audio/ogg; codecs=opus"), "7-attachment.ogg");
        assert_eq!(named(7, None, "weird"), "7-attachment.bin");
        let long = named(7, Some(&format!("{}.jpeg", "x".repeat(500))), "image/jpeg");
        assert_eq!(long.chars().count(), 2 + MAX_NAME_CHARS);
        assert!(long.ends_with("xx.jpeg"), "{long}");
        for name in ["..", "../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "...", ". ."] {
            let got = named(3, Some(name), "x/y");
            assert!(!got.contains('/') && !got.contains('\\') && !got.starts_with('.'), "{name:?}: {got:?}");
            assert_eq!(std::path::Path::new(&got).components().count(), 1, "{name:?}: {got:?}");
        }
    }

    #[test]
    fn links_are_percent_encoded_and_sizes_read_well() {
        let mut s = String::new();
        percent_encode(&mut s, "my chat #1?_files/é".as_bytes());
        assert_eq!(s, "my%20chat%20%231%3F_files%2F%C3%A9");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(6_220_854), "5.9 MiB");
    }

    #[test]
    fn html_strings_are_escaped() {
        let mut s = String::new();
        html_escape(&mut s, "<script>alert('x' & \"y\")</script>\n\ttab\u{0}\u{1b}é👋");
        assert_eq!(
            s,
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;\n\ttab\u{fffd}\u{fffd}é👋"
        );
    }
}
