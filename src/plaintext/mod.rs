//! Plaintext exports for people: JSON Lines and HTML (docs/EXPORT.md).
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
//! The modules: `json` (the one JSON shape of a message, a conversation
//! and an attachment, also behind [`Message::to_json`]), `html` (pages,
//! paging, the index), `files` (the files an HTML export writes, complete
//! or not at all).

mod files;
mod html;
mod json;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::ids::ConversationId;
use crate::store::Store;
use crate::types::{Attachment, Conversation, Message, Page};

pub use html::{HtmlExport, HtmlOptions, LocalZone};

/// The explicit consent to write messages to disk unencrypted.
///
/// [`Store::export_json_lines`], [`Store::export_html`] and their variants
/// take this token so that writing plaintext is always a visible,
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
    /// Writes conversations to `out` as JSON Lines, unencrypted, and
    /// returns how many messages were written.
    ///
    /// Each conversation is one line holding the conversation's object
    /// ([`Conversation::to_json`]), followed by one line per message
    /// ([`Message::to_json`] with its attachments' metadata, never their
    /// content), oldest first; every line ends with `\n`. docs/EXPORT.md
    /// defines every field; an object's `type` (`"conversation"` or
    /// `"message"`) says which it is.
    ///
    /// `conversations` lists the conversations to export, in that order (a
    /// conversation listed twice is exported twice); `None` exports every
    /// conversation in ascending id order. Every listed conversation is
    /// looked up before anything is written, so an unknown one fails with
    /// [`crate::Error::NotFound`] and writes nothing. Expired and deleted
    /// messages are left out.
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
            line.clear();
            json::conversation(&mut line, conv);
            line.push('\n');
            out.write_all(line.as_bytes())?;
            written += self.for_each_message(conv.id, |m, attachments| {
                line.clear();
                json::message(&mut line, m, Some(attachments));
                line.push('\n');
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
    /// was there before), never a partial one that looks complete. A file
    /// already at `path` is replaced: a caller that must not replace one
    /// checks first (the CLI refuses unless `--force`).
    pub fn export_json_lines_to_file(
        &self,
        path: impl AsRef<Path>,
        conversations: Option<&[ConversationId]>,
        consent: Plaintext,
    ) -> Result<u64> {
        self.write_file(path.as_ref(), |w| self.export_json_lines(w, conversations, consent))
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

/// Appends `v`'s `Display` form.
fn push_display(buf: &mut String, v: impl fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(buf, "{v}");
}

/// `0000-01-01T00:00:00.000Z` in milliseconds since the Unix epoch.
const MIN_MS: i64 = -62_167_219_200_000;
/// `9999-12-31T23:59:59.999Z` in milliseconds since the Unix epoch.
const MAX_MS: i64 = 253_402_300_799_999;
const MS_PER_DAY: i64 = 86_400_000;

/// A UTC time broken into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    /// Days since 1970-01-01 (negative before).
    days: i64,
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
            days,
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
        let Civil { year, month, day, hour, minute, second, milli, .. } = self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
    }

    /// Days since 1970-01-01 (negative before).
    fn days(self) -> i64 {
        self.days
    }
}

impl Plaintext {
    /// Formats milliseconds since the Unix epoch as RFC 3339 in UTC with
    /// milliseconds, e.g. `2023-11-14T22:13:20.000Z`: the one time format
    /// of every JSON object and HTML `datetime` a plaintext export writes
    /// (docs/EXPORT.md), here for callers that write times beside them
    /// (the CLI's JSON output).
    ///
    /// RFC 3339 has four-digit years only, so times before year 0000 or
    /// after 9999 are clamped to `0000-01-01T00:00:00.000Z` and
    /// `9999-12-31T23:59:59.999Z`: every `i64` gives a valid time.
    ///
    /// ```
    /// # use chatvault::Plaintext;
    /// assert_eq!(Plaintext::rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    /// assert_eq!(Plaintext::rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
    /// ```
    pub fn rfc3339_ms(ms: i64) -> String {
        Civil::from_ms(ms).rfc3339()
    }
}

/// [`Plaintext::rfc3339_ms`].
fn rfc3339(ms: i64) -> String {
    Plaintext::rfc3339_ms(ms)
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
}
