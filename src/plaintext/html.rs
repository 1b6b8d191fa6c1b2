//! The HTML export (docs/EXPORT.md, "HTML"): a conversation as pages of
//! messages under a heading per local day, in the time zone the caller
//! gives, with the user's own messages told apart, replies quoted and
//! linked, and an index page when several conversations are exported.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{AttachmentFiles, PageFiles, Shown, Stale, human_bytes, percent_encode, remove_stale};
use super::{Civil, Plaintext, push_display};
use crate::error::{Error, Missing, Result};
use crate::ids::{AttachmentId, ConversationId, MessageId};
use crate::store::Store;
use crate::types::{Attachment, Conversation, Message};

/// A time zone's offset from UTC and its name at one instant, as an
/// [`HtmlOptions::zone`] function returns it: `LocalZone { offset_seconds:
/// 3600, name: "CET".into() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalZone {
    /// Seconds east of UTC (west is negative), within ±24 hours.
    pub offset_seconds: i32,
    /// What people call it (`CET`, `CEST`, `PST`); empty to show the
    /// offset alone.
    pub name: String,
}

impl LocalZone {
    /// UTC, named `UTC`.
    pub fn utc() -> Self {
        LocalZone { offset_seconds: 0, name: "UTC".into() }
    }

    /// `CET (UTC+01:00)`, or `UTC+01:00` without a name; an offset with
    /// seconds (local mean time, before 1900) shows them: `UTC+00:09:21`.
    fn label(&self) -> String {
        let off = self.offset_seconds.clamp(-MAX_OFFSET, MAX_OFFSET);
        let sign = if off < 0 { '-' } else { '+' };
        let abs = off.unsigned_abs();
        let mut offset = format!("UTC{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60);
        if !abs.is_multiple_of(60) {
            offset.push_str(&format!(":{:02}", abs % 60));
        }
        if self.name.is_empty() || self.name == "UTC" && off == 0 {
            if off == 0 { "UTC".into() } else { offset }
        } else {
            format!("{} ({offset})", self.name)
        }
    }

    /// `ms` moved by this zone's offset (the local wall clock as if UTC).
    fn local(&self, ms: i64) -> Civil {
        let off = i64::from(self.offset_seconds.clamp(-MAX_OFFSET, MAX_OFFSET)) * 1000;
        Civil::from_ms(ms.saturating_add(off))
    }
}

/// The largest offset honoured, in seconds (24 hours); larger ones are clamped.
const MAX_OFFSET: i32 = 86_400;

type ZoneFn = dyn Fn(i64) -> LocalZone + Send + Sync;

/// How an HTML export is written: the time zone its times are shown in,
/// who "me" is, how many messages a page holds, and whether existing files
/// may be replaced.
///
/// ```
/// # use chatvault::{HtmlOptions, LocalZone};
/// let options = HtmlOptions::new()
///     .me("me")
///     .zone(|_ms| LocalZone { offset_seconds: 3600, name: "CET".into() })
///     .messages_per_page(2000);
/// ```
#[derive(Clone)]
pub struct HtmlOptions {
    zone: Option<Arc<ZoneFn>>,
    me: Option<String>,
    messages_per_page: usize,
    replace_existing: bool,
}

impl fmt::Debug for HtmlOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtmlOptions")
            .field("zone", &self.zone.as_ref().map(|_| "fn"))
            .field("me", &self.me)
            .field("messages_per_page", &self.messages_per_page)
            .field("replace_existing", &self.replace_existing)
            .finish()
    }
}

impl Default for HtmlOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl HtmlOptions {
    /// How many messages a page holds unless [`HtmlOptions::messages_per_page`] says otherwise.
    pub const DEFAULT_MESSAGES_PER_PAGE: usize = 5000;

    /// Times in UTC, nobody's messages marked as one's own,
    /// [`HtmlOptions::DEFAULT_MESSAGES_PER_PAGE`] messages a page, and no
    /// existing file replaced.
    pub fn new() -> Self {
        HtmlOptions {
            zone: None,
            me: None,
            messages_per_page: Self::DEFAULT_MESSAGES_PER_PAGE,
            replace_existing: false,
        }
    }

    /// Shows times in the zone `zone` returns for each instant
    /// (milliseconds since the Unix epoch), so a zone whose offset changes
    /// (daylight saving time) is followed inside a conversation. The
    /// library has no time-zone database: the caller has one (the CLI uses
    /// the system's through `jiff`).
    pub fn zone(mut self, zone: impl Fn(i64) -> LocalZone + Send + Sync + 'static) -> Self {
        self.zone = Some(Arc::new(zone));
        self
    }

    /// Shows the messages whose sender is exactly `sender` as the user's
    /// own (class `me`, on the right).
    pub fn me(mut self, sender: impl Into<String>) -> Self {
        self.me = Some(sender.into());
        self
    }

    /// Splits a conversation of more than `n` messages into pages of `n`
    /// (at least 1) when written to files. A stream
    /// ([`Store::export_html_with`]) is always one page.
    pub fn messages_per_page(mut self, n: usize) -> Self {
        self.messages_per_page = n.max(1);
        self
    }

    /// Whether a file already where a page (or the index) goes is replaced
    /// (`true`) or fails the export before anything is written (`false`,
    /// the default). An existing attachment directory is never replaced.
    ///
    /// A replacing export also removes what an earlier export at the same
    /// place left that it does not write, so that no page or attachment of
    /// a message deleted since stays beside it: pages named as its own
    /// later pages (`<stem>-N.<ext>` beyond its last), in a directory export
    /// the `conversation-N…html` pages it did not write, and attachment
    /// directories (`<stem>_files`, `conversation-N_files`) it did not make,
    /// each only if it holds nothing but files named as attachments
    /// (`<id>-<name>`). Nothing else is touched; [`HtmlExport::removed`]
    /// lists what was removed.
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    fn zone_at(&self, ms: i64) -> LocalZone {
        match &self.zone {
            Some(f) => f(ms),
            None => LocalZone::utc(),
        }
    }
}

/// What an HTML export to files wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HtmlExport {
    /// Conversations exported.
    pub conversations: u64,
    /// Messages exported.
    pub messages: u64,
    /// Every page written, conversation by conversation, each
    /// conversation's first page first.
    pub pages: Vec<PathBuf>,
    /// The index page, if one was written ([`Store::export_html_to_dir`]).
    pub index: Option<PathBuf>,
    /// The attachment directories made (one per conversation that has an
    /// attachment with content).
    pub attachment_dirs: Vec<PathBuf>,
    /// The attachments whose content could not be read because it failed
    /// authentication (the store's copy was modified or damaged; `verify`
    /// finds it): marked "damaged" on their page, no file written.
    pub damaged_attachments: Vec<AttachmentId>,
    /// What a replacing export removed of an earlier export at the same
    /// place ([`HtmlOptions::replace_existing`]): pages and attachment
    /// directories it did not write again.
    pub removed: Vec<PathBuf>,
}

impl Store {
    /// Writes conversation `c` to `out` as one self-contained HTML5 page,
    /// unencrypted, with the default [`HtmlOptions`] (times in UTC), and
    /// returns how many messages it lists: [`Store::export_html_with`].
    pub fn export_html(&self, c: ConversationId, out: &mut impl Write, consent: Plaintext) -> Result<u64> {
        self.export_html_with(c, out, &HtmlOptions::new(), consent)
    }

    /// Writes conversation `c` to `out` as one self-contained HTML5 page,
    /// unencrypted, and returns how many messages it lists.
    ///
    /// docs/EXPORT.md describes the page: UTF-8, an inline style sheet and
    /// no script or remote resource (a Content Security Policy forbids
    /// both); a heading per local day; each message an `<li id="m-SEQ">`
    /// with its sender, its local time (`<time datetime="…Z">`), its text
    /// (line breaks kept), "edited" and "disappears" marks, and for a reply
    /// a quote of the replied-to message linked to its anchor. Every string
    /// from the store is escaped; C0 control characters other than tab,
    /// line feed and carriage return are shown as U+FFFD. Expired and
    /// deleted messages are left out.
    ///
    /// A stream is always one page, whatever
    /// [`HtmlOptions::messages_per_page`] says. Attachments are listed
    /// under their messages by name, media type and size, without content:
    /// a stream has nowhere to put it ([`Store::export_html_to_file_with`]
    /// writes it).
    ///
    /// `out` is written a message at a time and flushed at the end. If an
    /// error occurs part-way, what was written so far is incomplete.
    pub fn export_html_with(
        &self,
        c: ConversationId,
        out: &mut impl Write,
        options: &HtmlOptions,
        consent: Plaintext,
    ) -> Result<u64> {
        let Plaintext::Accept = consent;
        let conv = self.conversation(c)?;
        let mut sink = Sink::Stream(out);
        let written = self.write_conversation(&conv, &mut sink, None, options, usize::MAX, None)?;
        if let Sink::Stream(out) = sink {
            out.flush()?;
        }
        Ok(written.messages)
    }

    /// [`Store::export_html_to_file_with`] with the default
    /// [`HtmlOptions`] except that files already at the pages' paths are
    /// replaced, as this function always did; returns how many messages
    /// were written.
    pub fn export_html_to_file(
        &self,
        c: ConversationId,
        path: impl AsRef<Path>,
        consent: Plaintext,
    ) -> Result<u64> {
        let options = HtmlOptions::new().replace_existing(true);
        Ok(self.export_html_to_file_with(c, path, &options, consent)?.messages)
    }

    /// Writes conversation `c` as HTML pages at `path`, unencrypted, with
    /// the content of its attachments beside them.
    ///
    /// Up to [`HtmlOptions::messages_per_page`] messages go to `path`; a
    /// longer conversation continues in `<stem>-2.<ext>`, `<stem>-3.<ext>`…
    /// beside it (`chat.html`, `chat-2.html`), each page linking the
    /// previous and the next. A reply links the replied-to message's anchor
    /// on whichever page holds it. A page name (or `<stem>_files`, when
    /// there are attachments) longer than 255 bytes fails the export with
    /// an error saying so, before anything is put in place.
    ///
    /// Each attachment whose content is still in the store is written,
    /// **unencrypted as the page is**, into a directory beside the page
    /// named `<stem>_files` (mode 0700 on Unix), one file per attachment
    /// (mode 0600), named `<attachment id>-<file name>`, where the stored
    /// file name is never used as a path: it is cleaned as
    /// [`Attachment::file_name_for_disk`] cleans it (every character but
    /// letters, digits, `-`, `_` and `.` becomes `_`, leading and trailing
    /// dots are dropped, and it is cut to 150 bytes of UTF-8; an attachment
    /// without a name is `<id>-attachment.<extension of its media type>`).
    /// The page links
    /// each file and shows images of inert types (PNG, JPEG, GIF, WebP,
    /// AVIF, BMP) inline with `<img>`. A file a browser might run as a page
    /// (an extension such as `.html`, `.svg`, `.js`, or none, or any not
    /// on a list of inert types: images, audio, video, PDF, text, office
    /// documents without macros) is written with an extension added
    /// (`x.html.txt`, `x.bin`), so opening it from the page shows its
    /// source or downloads it, never runs it. An attachment whose content
    /// was removed is listed as "(removed)"; one whose content fails
    /// authentication (modified or damaged in the store) as "(damaged)",
    /// without a file, and the export goes on ([`HtmlExport::damaged_attachments`]).
    /// The directory is made only if there is a file to put in it.
    ///
    /// Complete or not at all: the pages and files are written to
    /// temporary files and a temporary directory beside them, each synced,
    /// and put in place once everything is written (the directory first,
    /// `path` last). A failed or interrupted export leaves no page and no
    /// attachment file of its own. An existing attachment directory is
    /// never replaced or written into: the export fails and changes
    /// nothing. A file already at a page's path fails the export too,
    /// unless [`HtmlOptions::replace_existing`]; a file that appears there
    /// while the pages are put in place is never replaced (on file systems
    /// with hard links). A directory at a page's path always fails it,
    /// before anything is put in place. When replacing, a failure while
    /// the pages are put in place (an I/O error) removes the pages already
    /// put in place, but the files they replaced are gone: their old
    /// content is not restored. A successful replacing export removes the
    /// later pages and the attachment directory of an earlier export at
    /// `path` that it did not write ([`HtmlOptions::replace_existing`]).
    pub fn export_html_to_file_with(
        &self,
        c: ConversationId,
        path: impl AsRef<Path>,
        options: &HtmlOptions,
        consent: Plaintext,
    ) -> Result<HtmlExport> {
        let Plaintext::Accept = consent;
        let path = path.as_ref();
        let conv = self.conversation(c)?;
        let names = PageNames::of(path)?;
        let mut pages = PageFiles::new(self.base_path(), options.replace_existing);
        pages.check(path)?;
        let mut files = AttachmentFiles::beside(path)?;
        let mut sink: Sink<'_, std::io::Sink> =
            Sink::Files { pages: &mut pages, names: &names, current: None, written: Vec::new() };
        let written = self.write_conversation(
            &conv,
            &mut sink,
            Some(&mut files),
            options,
            options.messages_per_page,
            None,
        )?;
        let Sink::Files { written: page_paths, .. } = sink else {
            return Err(Error::invalid("an HTML export lost its pages"));
        };
        files.put_in_place()?;
        pages.commit()?;
        let damaged_attachments = files.damaged().to_vec();
        let files_name = files.name().to_os_string();
        let dir = files.keep();
        let mut report = HtmlExport {
            conversations: 1,
            messages: written.messages,
            pages: page_paths,
            index: None,
            attachment_dirs: dir.into_iter().collect(),
            damaged_attachments,
            removed: Vec::new(),
        };
        if options.replace_existing {
            let made_dir = !report.attachment_dirs.is_empty();
            let last = report.pages.len();
            report.removed = remove_stale(&names.dir, |name| {
                if names.page_of(name).is_some_and(|n| n > last) {
                    Some(Stale::Page)
                } else if name == files_name && !made_dir {
                    Some(Stale::AttachmentDir)
                } else {
                    None
                }
            })?;
        }
        Ok(report)
    }

    /// Writes conversations as HTML pages into the directory `dir`,
    /// unencrypted, with an index page: `dir/index.html` links each
    /// conversation's first page, with its title, its number of messages
    /// and pages and the local dates of its first and last message.
    ///
    /// Conversation `N`'s pages are `dir/conversation-N.html` (then
    /// `conversation-N-2.html`…, as [`Store::export_html_to_file_with`]
    /// pages them), its attachments in `dir/conversation-N_files/`; each
    /// page links back to the index. `conversations` lists the
    /// conversations in the index's order (one listed twice is exported
    /// once); `None` exports every conversation in ascending id order. Every
    /// listed conversation is looked up before anything is written, so an
    /// unknown one fails with [`crate::Error::NotFound`].
    ///
    /// `dir` is made (mode 0700 on Unix) if it does not exist. Complete or
    /// not at all, as [`Store::export_html_to_file_with`]: every page, the
    /// index last, is put in place only once all are written. A successful
    /// replacing export removes the `conversation-N.html` and
    /// `conversation-N-K.html` pages and `conversation-N_files` directories
    /// in `dir` that it did not write ([`HtmlOptions::replace_existing`]),
    /// so the directory holds this export and nothing of an earlier one.
    pub fn export_html_to_dir(
        &self,
        dir: impl AsRef<Path>,
        conversations: Option<&[ConversationId]>,
        options: &HtmlOptions,
        consent: Plaintext,
    ) -> Result<HtmlExport> {
        let Plaintext::Accept = consent;
        let dir = dir.as_ref();
        let mut convs = self.export_list(conversations)?;
        let mut seen = std::collections::BTreeSet::new();
        convs.retain(|c| seen.insert(c.id));
        let made_dir = make_dir(dir)?;
        let result = self.write_dir(dir, &convs, options);
        if result.is_err() && made_dir {
            let _ = std::fs::remove_dir(dir);
        }
        result
    }

    fn write_dir(&self, dir: &Path, convs: &[Conversation], options: &HtmlOptions) -> Result<HtmlExport> {
        let mut pages = PageFiles::new(self.base_path(), options.replace_existing);
        let index_path = dir.join(INDEX);
        pages.check(&index_path)?;
        let mut index = pages.create(&index_path)?;
        let mut all_files = Vec::new();
        let mut report = HtmlExport { index: Some(index_path), ..HtmlExport::default() };
        let mut entries = Vec::new();
        for conv in convs {
            let first = dir.join(format!("conversation-{}.html", conv.id.get()));
            let names = PageNames::of(&first)?;
            pages.check(&first)?;
            let mut files = AttachmentFiles::beside(&first)?;
            let mut sink: Sink<'_, std::io::Sink> =
                Sink::Files { pages: &mut pages, names: &names, current: None, written: Vec::new() };
            let written = self.write_conversation(
                conv,
                &mut sink,
                Some(&mut files),
                options,
                options.messages_per_page,
                Some(INDEX),
            )?;
            if let Sink::Files { written: paths, .. } = sink {
                report.pages.extend(paths);
            }
            report.messages += written.messages;
            report.conversations += 1;
            entries.push((conv, names.href(1), written));
            all_files.push(files);
        }
        let mut buf = String::new();
        index_page(&mut buf, &entries, options);
        index.write_all(buf.as_bytes())?;
        PageFiles::finish(index)?;
        for files in &mut all_files {
            files.put_in_place()?;
        }
        pages.commit()?;
        for files in &all_files {
            report.damaged_attachments.extend_from_slice(files.damaged());
        }
        report.attachment_dirs = all_files.into_iter().filter_map(AttachmentFiles::keep).collect();
        if options.replace_existing {
            let written: BTreeSet<&OsStr> =
                report.pages.iter().chain(&report.attachment_dirs).filter_map(|p| p.file_name()).collect();
            report.removed = remove_stale(dir, |name| {
                let kind = directory_export_entry(name)?;
                (!written.contains(name)).then_some(kind)
            })?;
        }
        Ok(report)
    }

    /// Writes conversation `conv` into `sink`, starting a new page after
    /// every `per_page` messages; with `files`, each attachment's content is
    /// written there and linked; with `index`, each page links it.
    fn write_conversation(
        &self,
        conv: &Conversation,
        sink: &mut Sink<'_, impl Write>,
        mut files: Option<&mut AttachmentFiles>,
        options: &HtmlOptions,
        per_page: usize,
        index: Option<&str>,
    ) -> Result<Written> {
        let c = conv.id;
        let mut state = PageState::default();
        let mut buf = String::new();
        let mut recent = Recent::default();
        let messages = self.for_each_message(c, |m, attachments| {
            buf.clear();
            if state.page == 0 || state.on_page >= per_page {
                if state.page > 0 {
                    let (prev, next) = (sink.href(state.page - 1), sink.href(state.page + 1));
                    page_end(&mut buf, state.day.is_some(), prev.as_deref(), next.as_deref(), None);
                    sink.write(&buf)?;
                    sink.end()?;
                    buf.clear();
                }
                state.page += 1;
                state.on_page = 0;
                state.day = None;
                state.page_starts.push(m.id.seq());
                sink.start(state.page)?;
                page_head(&mut buf, conv, state.page, index);
                page_nav(&mut buf, sink.href(state.page - 1).as_deref(), None, state.page);
            }
            let zone = options.zone_at(m.sent_at_ms);
            let local = zone.local(m.sent_at_ms);
            let day = local.days();
            if state.day.as_ref().is_none_or(|(d, _)| *d != day) {
                if state.day.is_some() {
                    buf.push_str("</ol>\n");
                }
                day_heading(&mut buf, local, &zone);
                buf.push_str("<ol>\n");
                state.day = Some((day, zone.clone()));
            }
            let day_zone = state.day.as_ref().map(|(_, z)| z);
            let mine = options.me.as_deref() == Some(m.sender.as_str());
            message_head(&mut buf, m, mine, &zone, day_zone, options);
            if let Some(r) = m.reply_to {
                let quoted = self.quoted(c, r, &recent)?;
                let href = match &quoted {
                    Some(_) if r.seq() < m.id.seq() => {
                        let page = state.page_starts.partition_point(|&s| s <= r.seq());
                        (page > 0).then(|| {
                            let on = if page == state.page {
                                String::new()
                            } else {
                                sink.href(page).unwrap_or_default()
                            };
                            format!("{on}#m-{}", r.seq())
                        })
                    }
                    _ => None,
                };
                reply(&mut buf, c, r, quoted.as_ref(), href.as_deref());
            }
            buf.push_str("<div class=\"text\">");
            html_escape(&mut buf, &m.text);
            buf.push_str("</div>\n");
            for a in attachments {
                let shown = match files.as_deref_mut() {
                    Some(files) if a.removed_at_ms.is_none() => files.write(self, a)?,
                    Some(_) => Shown::Removed,
                    None if a.removed_at_ms.is_some() => Shown::Removed,
                    None => Shown::Listed,
                };
                attachment(&mut buf, a, &shown);
            }
            buf.push_str("</li>\n");
            sink.write(&buf)?;
            recent.remember(m);
            state.on_page += 1;
            // The earliest and latest times, which need not be the first
            // and last messages' (times come from the senders' clocks).
            state.first_ms = Some(state.first_ms.map_or(m.sent_at_ms, |t| t.min(m.sent_at_ms)));
            state.last_ms = Some(state.last_ms.map_or(m.sent_at_ms, |t| t.max(m.sent_at_ms)));
            Ok(())
        })?;
        buf.clear();
        if state.page == 0 {
            state.page = 1;
            sink.start(1)?;
            page_head(&mut buf, conv, 1, index);
            buf.push_str("<p class=\"note\">No messages.</p>\n");
        }
        page_end(&mut buf, state.day.is_some(), sink.href(state.page - 1).as_deref(), None, Some(messages));
        sink.write(&buf)?;
        sink.end()?;
        Ok(Written { messages, pages: state.page, first_ms: state.first_ms, last_ms: state.last_ms })
    }

    /// The sender and an excerpt of message `r`, which a message of `c`
    /// replies to; `None` if it is not in `c` or no longer there.
    fn quoted(&self, c: ConversationId, r: MessageId, recent: &Recent) -> Result<Option<(String, String)>> {
        if r.conversation() != c {
            return Ok(None);
        }
        if let Some(q) = recent.0.get(&r.seq()) {
            return Ok(Some(q.clone()));
        }
        match self.message(r) {
            Ok(m) => Ok(Some((m.sender, excerpt(&m.text)))),
            Err(Error::NotFound(Missing::Message(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The index page's file name in [`Store::export_html_to_dir`].
const INDEX: &str = "index.html";

/// Makes `dir` (mode 0700 on Unix) if it does not exist; whether it did.
fn make_dir(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Error::invalid(format!("cannot make the directory {} for an HTML export: {e}", dir.display()))
    })?;
    Ok(true)
}

/// What writing one conversation produced.
struct Written {
    messages: u64,
    pages: usize,
    /// The earliest message time.
    first_ms: Option<i64>,
    /// The latest message time.
    last_ms: Option<i64>,
}

/// Where the writing of a conversation is.
#[derive(Default)]
struct PageState {
    /// Pages started (the current page's number, from 1).
    page: usize,
    /// Messages on the current page.
    on_page: usize,
    /// The first sequence number of each page started.
    page_starts: Vec<u64>,
    /// The current local day (days since 1970-01-01) and the zone its heading named.
    day: Option<(i64, LocalZone)>,
    /// The earliest message time so far.
    first_ms: Option<i64>,
    /// The latest message time so far.
    last_ms: Option<i64>,
}

/// The sender and excerpt of the latest messages written, so quoting the
/// message a reply answers rarely needs a read.
#[derive(Default)]
struct Recent(BTreeMap<u64, (String, String)>);

impl Recent {
    const KEEP: usize = 2048;

    fn remember(&mut self, m: &Message) {
        self.0.insert(m.id.seq(), (m.sender.clone(), excerpt(&m.text)));
        if self.0.len() > Self::KEEP {
            self.0.pop_first();
        }
    }
}

/// Characters of a replied-to message quoted under the reply.
const EXCERPT_CHARS: usize = 100;

/// `text` on one line, cut to [`EXCERPT_CHARS`] with `…`.
fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > EXCERPT_CHARS {
            break;
        }
    }
    if out.chars().count() > EXCERPT_CHARS {
        out = out.chars().take(EXCERPT_CHARS).collect::<String>().trim_end().to_owned();
        out.push('…');
    }
    out
}

/// The file names of a conversation's pages: `<stem>.<ext>`, then
/// `<stem>-2.<ext>`…
struct PageNames {
    dir: PathBuf,
    stem: OsString,
    ext: Option<OsString>,
}

impl PageNames {
    fn of(first: &Path) -> Result<Self> {
        let stem = first
            .file_stem()
            .ok_or_else(|| Error::invalid(format!("{} does not name a file", first.display())))?;
        // The directory as given (empty for a bare name), so the paths
        // reported are named as the caller named the first page.
        let dir = first.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(PageNames { dir, stem: stem.to_owned(), ext: first.extension().map(ToOwned::to_owned) })
    }

    fn file_name(&self, page: usize) -> OsString {
        let mut name = self.stem.clone();
        if page > 1 {
            name.push(format!("-{page}"));
        }
        if let Some(ext) = &self.ext {
            name.push(".");
            name.push(ext);
        }
        name
    }

    fn path(&self, page: usize) -> PathBuf {
        self.dir.join(self.file_name(page))
    }

    /// Which later page (2 or more) `name` is the file name of, if any.
    fn page_of(&self, name: &OsStr) -> Option<usize> {
        let rest = name.as_encoded_bytes().strip_prefix(self.stem.as_encoded_bytes())?.strip_prefix(b"-")?;
        let digits = match &self.ext {
            Some(ext) => rest.strip_suffix(ext.as_encoded_bytes())?.strip_suffix(b".")?,
            None => rest,
        };
        let n = decimal(digits)?;
        (n >= 2).then_some(n)
    }

    /// The link to page `page` from a page beside it.
    fn href(&self, page: usize) -> String {
        let mut href = String::new();
        percent_encode(&mut href, self.file_name(page).as_encoded_bytes());
        href
    }
}

/// `digits` as a number if it is one written as [`PageNames`] writes
/// numbers: ASCII digits without a leading zero.
fn decimal(digits: &[u8]) -> Option<usize> {
    if digits.first().is_none_or(|&d| d == b'0') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What `name` is in a directory export's naming: a page
/// (`conversation-N.html`, `conversation-N-K.html`) or an attachment
/// directory (`conversation-N_files`); `None` for anything else.
fn directory_export_entry(name: &OsStr) -> Option<Stale> {
    let rest = name.as_encoded_bytes().strip_prefix(b"conversation-")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (id, after) = rest.split_at_checked(digits)?;
    decimal(id)?;
    if after == b".html" {
        return Some(Stale::Page);
    }
    if after == b"_files" {
        return Some(Stale::AttachmentDir);
    }
    let page = after.strip_prefix(b"-")?.strip_suffix(b".html")?;
    (decimal(page)? >= 2).then_some(Stale::Page)
}

/// Where pages go: one stream, or files.
enum Sink<'a, W: Write> {
    Stream(&'a mut W),
    Files {
        pages: &'a mut PageFiles,
        names: &'a PageNames,
        current: Option<std::io::BufWriter<std::fs::File>>,
        /// The pages started, in order.
        written: Vec<PathBuf>,
    },
}

impl<W: Write> Sink<'_, W> {
    fn start(&mut self, page: usize) -> Result<()> {
        if let Sink::Files { pages, names, current, written } = self {
            let path = names.path(page);
            *current = Some(pages.create(&path)?);
            written.push(path);
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> Result<()> {
        match self {
            Sink::Stream(out) => out.write_all(s.as_bytes())?,
            Sink::Files { current: Some(out), .. } => out.write_all(s.as_bytes())?,
            Sink::Files { current: None, .. } => {
                return Err(Error::invalid("an HTML page was written before it began"));
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        if let Sink::Files { current, .. } = self
            && let Some(page) = current.take()
        {
            PageFiles::finish(page)?;
        }
        Ok(())
    }

    /// The link to page `page` (from 1), if pages are files and it is one.
    fn href(&self, page: usize) -> Option<String> {
        match self {
            Sink::Files { names, .. } if page >= 1 => Some(names.href(page)),
            _ => None,
        }
    }
}

const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0 auto;max-width:46em;padding:1em;color:#1b1b1b;background:#fafafa}\
header{border-bottom:1px solid #ddd;margin-bottom:1em}\
h1{font-size:1.4em;margin:.2em 0}\
h2.day{font-size:.9em;font-weight:600;text-align:center;color:#555;margin:1.2em 0 .4em}\
h2.day .zone{font-weight:400;color:#777}\
.note{color:#666;font-size:.85em}\
nav{font-size:.85em;margin:.6em 0;display:flex;gap:1em}\
ol{list-style:none;margin:0;padding:0}\
li.msg{background:#fff;border:1px solid #e4e4e4;border-radius:6px;margin:.5em 12% .5em 0;padding:.5em .75em}\
li.msg.me{background:#e7f0fd;border-color:#c9dcf7;margin:.5em 0 .5em 12%}\
li:target{border-color:#3a7bd5;box-shadow:0 0 0 2px #3a7bd533}\
.head{font-size:.85em;color:#555}\
.sender{font-weight:600;color:#1b1b1b}\
.edited,.expires{font-style:italic}\
.reply{font-size:.85em;border-left:3px solid #bbb;padding-left:.5em;margin:.25em 0;color:#444}\
.reply p{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}\
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin-top:.25em}\
a{color:#3a7bd5}\
.att{font-size:.85em;color:#555;margin-top:.35em}\
.att img{display:block;max-width:100%;max-height:24em;border-radius:4px;margin-bottom:.2em}\
.removed,.damaged{font-style:italic;color:#888}\
ul.index{padding-left:1.2em}\
footer{color:#666;font-size:.85em;margin-top:1em}";

/// The document's start, up to and including `<body>`.
fn document_head(buf: &mut String, title: &str) {
    buf.push_str(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    html_escape(buf, title);
    buf.push_str("</title>\n<style>");
    buf.push_str(STYLE);
    buf.push_str("</style>\n</head>\n<body>\n");
}

/// A conversation page's start, up to its first day heading.
fn page_head(buf: &mut String, conv: &Conversation, page: usize, index: Option<&str>) {
    let mut title = conv.title.clone();
    if page > 1 {
        title.push_str(&format!(" (page {page})"));
    }
    document_head(buf, &title);
    buf.push_str("<header>\n");
    if let Some(index) = index {
        buf.push_str("<nav><a class=\"index\" href=\"");
        buf.push_str(index);
        buf.push_str("\">↑ All conversations</a></nav>\n");
    }
    buf.push_str("<h1>");
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
    buf.push_str(
        ". Times are local, in the time zone each day's heading names; point at one for its date, \
         seconds and offset.</p>\n</header>\n",
    );
}

/// Links to the previous and next pages (those there are), and the page's number.
fn page_nav(buf: &mut String, prev: Option<&str>, next: Option<&str>, page: usize) {
    if prev.is_none() && next.is_none() {
        return;
    }
    buf.push_str("<nav class=\"pages\">");
    if let Some(prev) = prev {
        buf.push_str("<a rel=\"prev\" href=\"");
        buf.push_str(prev);
        buf.push_str("\">← Earlier messages</a>");
    }
    if page > 0 {
        buf.push_str("<span>Page ");
        push_display(buf, page);
        buf.push_str("</span>");
    }
    if let Some(next) = next {
        buf.push_str("<a rel=\"next\" href=\"");
        buf.push_str(next);
        buf.push_str("\">Later messages →</a>");
    }
    buf.push_str("</nav>\n");
}

/// A page's end: closes the day's list if one is open, then the page
/// links and the document.
/// The last page says how many messages the conversation has (`total`).
fn page_end(buf: &mut String, list_open: bool, prev: Option<&str>, next: Option<&str>, total: Option<u64>) {
    if list_open {
        buf.push_str("</ol>\n");
    }
    page_nav(buf, prev, next, 0);
    if let Some(n) = total {
        buf.push_str("<footer>");
        push_display(buf, n);
        buf.push_str(if n == 1 { " message" } else { " messages" });
        buf.push_str("</footer>\n");
    }
    buf.push_str("</body>\n</html>\n");
}

/// `Tuesday 14 November 2023`.
fn long_date(t: Civil) -> String {
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    // 1970-01-01 was a Thursday.
    let weekday = DAYS.get(usize::try_from(t.days().rem_euclid(7)).unwrap_or(0)).copied().unwrap_or("");
    let month = MONTHS.get(usize::try_from(t.month - 1).unwrap_or(0)).copied().unwrap_or("");
    format!("{weekday} {} {month} {:04}", t.day, t.year)
}

/// A day's heading: its local date and the zone its times are in.
fn day_heading(buf: &mut String, local: Civil, zone: &LocalZone) {
    buf.push_str("<h2 class=\"day\"><time datetime=\"");
    buf.push_str(&format!("{:04}-{:02}-{:02}", local.year, local.month, local.day));
    buf.push_str("\">");
    buf.push_str(&long_date(local));
    buf.push_str("</time> <span class=\"zone\">");
    html_escape(buf, &zone.label());
    buf.push_str("</span></h2>\n");
}

/// `<time>` for an instant: local `HH:MM`, the exact UTC instant in
/// `datetime`, the local date, seconds and zone in `title`.
fn time(buf: &mut String, ms: i64, zone: &LocalZone) {
    let local = zone.local(ms);
    buf.push_str("<time datetime=\"");
    buf.push_str(&Civil::from_ms(ms).rfc3339());
    buf.push_str("\" title=\"");
    buf.push_str(&format!("{} {:02}:{:02}:{:02} ", long_date(local), local.hour, local.minute, local.second));
    html_escape(buf, &zone.label());
    buf.push_str("\">");
    buf.push_str(&format!("{:02}:{:02}", local.hour, local.minute));
    buf.push_str("</time>");
}

/// A message's item up to its reply quote: anchor, class, sender, time and marks.
fn message_head(
    buf: &mut String,
    m: &Message,
    mine: bool,
    zone: &LocalZone,
    day_zone: Option<&LocalZone>,
    options: &HtmlOptions,
) {
    buf.push_str("<li class=\"");
    buf.push_str(if mine { "msg me" } else { "msg" });
    buf.push_str("\" id=\"m-");
    push_display(buf, m.id.seq());
    buf.push_str("\">\n<div class=\"head\"><span class=\"sender\">");
    html_escape(buf, &m.sender);
    buf.push_str("</span> ");
    time(buf, m.sent_at_ms, zone);
    if day_zone.is_some_and(|d| d != zone) {
        // The zone changed since the day's heading (daylight saving time).
        buf.push_str(" <span class=\"zone\">");
        html_escape(buf, &zone.label());
        buf.push_str("</span>");
    }
    if let Some(e) = m.edited_at_ms {
        buf.push_str(" <span class=\"edited\">(edited ");
        time(buf, e, &options.zone_at(e));
        buf.push_str(")</span>");
    }
    if let Some(e) = m.expires_at_ms {
        buf.push_str(" <span class=\"expires\">(disappears ");
        time(buf, e, &options.zone_at(e));
        buf.push_str(")</span>");
    }
    buf.push_str("</div>\n");
}

/// The quote of the message `r` a message replies to, linked when `href` is known.
fn reply(
    buf: &mut String,
    c: ConversationId,
    r: MessageId,
    quoted: Option<&(String, String)>,
    href: Option<&str>,
) {
    buf.push_str("<blockquote class=\"reply\">");
    match quoted {
        Some((sender, text)) => {
            match href {
                Some(href) => {
                    buf.push_str("<a href=\"");
                    html_escape(buf, href);
                    buf.push_str("\">↩ <span class=\"sender\">");
                    html_escape(buf, sender);
                    buf.push_str("</span></a>");
                }
                None => {
                    buf.push_str("↩ <span class=\"sender\">");
                    html_escape(buf, sender);
                    buf.push_str("</span>");
                }
            }
            buf.push_str("<p>");
            html_escape(buf, text);
            buf.push_str("</p>");
        }
        None if r.conversation() != c => {
            buf.push_str("↩ a message in another conversation (");
            push_display(buf, r);
            buf.push(')');
        }
        None => buf.push_str("↩ a message that is no longer here"),
    }
    buf.push_str("</blockquote>\n");
}

/// One attachment of a message: an image inline and a link when its file
/// was written, else its name, media type and size.
fn attachment(buf: &mut String, a: &Attachment, shown: &Shown) {
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
        Shown::Linked { href, inline } => {
            buf.push_str("<div class=\"att\">");
            if *inline {
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
        Shown::Damaged => {
            buf.push_str("<div class=\"att damaged\">📎 ");
            label(buf);
            details(buf);
            buf.push_str(" (damaged: its content in the store failed authentication)");
        }
    }
    buf.push_str("</div>\n");
}

/// The index page of [`Store::export_html_to_dir`].
fn index_page(buf: &mut String, entries: &[(&Conversation, String, Written)], options: &HtmlOptions) {
    document_head(buf, "Exported conversations");
    buf.push_str("<header>\n<h1>Exported conversations</h1>\n<p class=\"note\">Unencrypted export of ");
    push_display(buf, entries.len());
    buf.push_str(if entries.len() == 1 { " conversation" } else { " conversations" });
    buf.push_str(". Dates are local.</p>\n</header>\n<ul class=\"index\">\n");
    let date = |ms: i64| {
        let t = options.zone_at(ms).local(ms);
        format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
    };
    for (conv, href, written) in entries {
        buf.push_str("<li><a href=\"");
        buf.push_str(href);
        buf.push_str("\">");
        html_escape(buf, &conv.title);
        buf.push_str("</a> <span class=\"note\">· ");
        push_display(buf, written.messages);
        buf.push_str(if written.messages == 1 { " message" } else { " messages" });
        if written.pages > 1 {
            buf.push_str(" on ");
            push_display(buf, written.pages);
            buf.push_str(" pages");
        }
        if let (Some(first), Some(last)) = (written.first_ms, written.last_ms) {
            buf.push_str(" · ");
            buf.push_str(&date(first));
            buf.push_str(" to ");
            buf.push_str(&date(last));
        }
        buf.push_str("</span></li>\n");
    }
    buf.push_str("</ul>\n</body>\n</html>\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_labelled_with_their_offset() {
        assert_eq!(LocalZone::utc().label(), "UTC");
        assert_eq!(LocalZone { offset_seconds: 3600, name: "CET".into() }.label(), "CET (UTC+01:00)");
        assert_eq!(LocalZone { offset_seconds: -34_200, name: String::new() }.label(), "UTC-09:30");
        // Local mean time: Amsterdam until 1937 (+00:19:32), Paris until 1911 (+00:09:21).
        assert_eq!(LocalZone { offset_seconds: 1172, name: "AMT".into() }.label(), "AMT (UTC+00:19:32)");
        assert_eq!(LocalZone { offset_seconds: -561, name: String::new() }.label(), "UTC-00:09:21");
        assert_eq!(long_date(Civil::from_ms(1_700_000_000_000)), "Tuesday 14 November 2023");
        assert_eq!(long_date(Civil::from_ms(0)), "Thursday 1 January 1970");
    }

    #[test]
    fn only_the_export_s_own_names_are_its_pages() {
        let names = PageNames::of(Path::new("out/chat.html")).unwrap();
        let page = |n: &str| names.page_of(OsStr::new(n));
        assert_eq!((page("chat-2.html"), page("chat-17.html")), (Some(2), Some(17)));
        for other in ["chat.html", "chat-1.html", "chat-02.html", "chat-2.htm", "chat-x.html", "chat-.html"] {
            assert_eq!(page(other), None, "{other}");
        }
        assert_eq!(page("chat-2-2.html"), None);
        assert_eq!(page("achat-2.html"), None);
        let bare = PageNames::of(Path::new("notes")).unwrap();
        assert_eq!(bare.page_of(OsStr::new("notes-3")), Some(3));
        assert_eq!(bare.page_of(OsStr::new("notes-3.html")), None);

        let entry = |n: &str| directory_export_entry(OsStr::new(n));
        assert!(matches!(entry("conversation-7.html"), Some(Stale::Page)));
        assert!(matches!(entry("conversation-7-2.html"), Some(Stale::Page)));
        assert!(matches!(entry("conversation-7_files"), Some(Stale::AttachmentDir)));
        for other in [
            "index.html",
            "conversation-.html",
            "conversation-07.html",
            "conversation-7-1.html",
            "conversation-7.htm",
            "conversation-7-2_files",
            "conversation-x.html",
            "my conversation-7.html",
            "conversation-7.html.bak",
        ] {
            assert!(entry(other).is_none(), "{other}");
        }
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt("a\n b\t c"), "a b c");
        let long = excerpt(&"word ".repeat(100));
        assert!(long.ends_with('…') && long.chars().count() <= EXCERPT_CHARS + 1, "{long}");
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
