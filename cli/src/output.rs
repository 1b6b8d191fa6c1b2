//! Printing: human tables, JSON, times, and text cut to a display width.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

use chatvault::{Attachment, Conversation, ConversationSummary, Message};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use unicode_truncate::UnicodeTruncateStr;

/// Why stdout stopped taking output, once it has: `None` for a closed
/// pipe, which is no error.
static STOPPED: OnceLock<Option<String>> = OnceLock::new();

/// Writes a line to stdout (the `say!` macro). When stdout is a closed
/// pipe (`chatvault convs | head`), the rest of the output is dropped and
/// the command goes on to its end, so that the store is closed as usual
/// (no write-ahead log left behind) and the program ends quietly with
/// success, instead of panicking as `println!` would. Any other write error
/// is kept for [`write_error`], and the command fails once it has finished.
pub fn emit(args: fmt::Arguments<'_>) {
    if STOPPED.get().is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        let why = (e.kind() != std::io::ErrorKind::BrokenPipe).then(|| e.to_string());
        let _ = STOPPED.set(why);
    }
}

/// Records that stdout is a closed pipe, found by a command that writes to
/// it otherwise than through [`emit`]: the rest of the output is dropped.
pub fn pipe_closed() {
    let _ = STOPPED.set(None);
}

/// Writes a line to stderr (the `warn!` macro): unlike `eprintln!`, a closed
/// stderr does not panic; the line is lost.
pub fn warn(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// The error that stopped the output, if one did (a closed pipe is none).
pub fn write_error() -> Option<&'static str> {
    STOPPED.get().and_then(|why| why.as_deref())
}

/// `n` and a noun, the noun plural unless `n` is one: "1 message",
/// "3 messages", "0 messages".
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `s` for a terminal: line breaks and other control characters (escape
/// sequences an imported message could carry) become spaces, and emoji
/// presentation selectors (U+FE0F), whose width terminals disagree on, are
/// dropped so that columns stay aligned.
pub fn one_line(s: &str) -> String {
    s.chars().filter(|&c| c != '\u{FE0F}').map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &Value) {
    say!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM` in `tz`.
pub fn time(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => format!("@{ms}ms"),
    }
}

/// `ms` since the Unix epoch in RFC 3339, UTC, with milliseconds
/// (`2023-11-14T22:13:20.000Z`): the time format of every JSON object
/// (docs/EXPORT.md), for the times the library's objects do not carry.
/// The library's own formatter, so both agree on every value (years
/// outside 0000-9999 clamped, as in the library's exports).
pub fn rfc3339(ms: i64) -> Value {
    Value::String(chatvault::Plaintext::rfc3339_ms(ms))
}

/// `s` on one line, cut with `…` to at most `width` terminal columns and
/// padded with spaces to exactly `width`.
pub fn fit(s: &str, width: usize) -> String {
    let s = one_line(s);
    let (whole, whole_width) = s.unicode_truncate(width);
    let mut out = String::with_capacity(s.len().min(4 * width) + 3);
    let used = if whole.len() == s.len() {
        out.push_str(whole);
        whole_width
    } else if width == 0 {
        0
    } else {
        // Cut whole characters (grapheme clusters) to leave a column for `…`.
        let (kept, kept_width) = s.unicode_truncate(width - 1);
        out.push_str(kept);
        out.push('…');
        kept_width + 1
    };
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// An object the library wrote in the one JSON shape (docs/EXPORT.md), as
/// a value to print or extend. The library writes valid JSON; were it ever
/// not to, `null` is printed rather than a made-up object.
fn library_json(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

/// A conversation as JSON: [`Conversation::to_json`], the shape of a
/// conversation line of a JSON Lines export.
pub fn conversation_json(c: &Conversation) -> Value {
    library_json(&c.to_json())
}

/// A message as JSON without its attachments (no `attachments` key):
/// [`Message::to_json`], the shape of a message line of a JSON Lines export
/// (where one lists them, `attachments` is an array of [`attachment_json`]).
pub fn message_json(m: &Message) -> Value {
    library_json(&m.to_json(None))
}

pub fn summary_json(s: &ConversationSummary) -> Value {
    let mut v = conversation_json(&s.conversation);
    v["unread_count"] = json!(s.unread_count);
    v["last_message"] = s.last_message.as_ref().map_or(Value::Null, message_json);
    v
}

/// One line of `show`: sequence number, time, sender, text and markers.
pub fn message_line(m: &Message, tz: &TimeZone, sender_width: usize) -> String {
    let mut line = format!(
        "{:>7}  {}  {} {}",
        m.id.seq(),
        time(m.sent_at_ms, tz),
        fit(&m.sender, sender_width),
        one_line(&m.text)
    );
    if let Some(r) = m.reply_to {
        line.push_str(&format!("  ↩ {}", r.seq()));
    }
    if m.edited_at_ms.is_some() {
        line.push_str("  (edited)");
    }
    line
}

/// An attachment's metadata as JSON: [`Attachment::to_json`], the shape
/// of an element of a message's `attachments`.
pub fn attachment_json(a: &Attachment) -> Value {
    library_json(&a.to_json())
}

/// The name an attachment is shown with: its file name, else `attachment <id>`.
pub fn attachment_name(a: &Attachment) -> String {
    match &a.file_name {
        Some(name) => one_line(name),
        None => format!("attachment {}", a.id),
    }
}

/// One line for an attachment under its message:
/// `📎 IMG_0001.jpg · image/jpeg · 1.2 MiB`, and `(removed)` once its
/// content was removed.
pub fn attachment_line(a: &Attachment) -> String {
    let mut line = format!("📎 {} · {} · {}", attachment_name(a), one_line(&a.media_type), bytes(a.byte_len));
    if a.removed_at_ms.is_some() {
        line.push_str(" (removed)");
    }
    line
}

/// A count in bytes, for people, in powers of 1024 (`--larger-than` reads
/// them the same way): "512 B", "1.20 MiB".
pub fn bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_counts_terminal_columns() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        // Chinese characters and most emoji take two columns.
        assert_eq!(fit("你好世界", 5), "你好…");
        assert_eq!(fit("你好", 4), "你好");
        assert_eq!(fit("a\nb", 3), "a b");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("\u{1b}]0;title\u{7}", 10), " ]0;title ");
        assert_eq!(one_line("❤\u{FE0F} ok\r\n"), "❤ ok  ");
    }

    #[test]
    fn times_and_sizes_read_well() {
        assert_eq!(time(1_700_000_000_000, &TimeZone::UTC), "2023-11-14 22:13");
        assert_eq!(rfc3339(1_700_000_000_000), json!("2023-11-14T22:13:20.000Z"));
        assert_eq!(rfc3339(1_700_000_000_123), json!("2023-11-14T22:13:20.123Z"));
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.00 MiB");
        assert_eq!(bytes(1_258_291), "1.20 MiB");
        // One time format with the library's JSON, to the extremes.
        assert_eq!(rfc3339(i64::MAX), json!("9999-12-31T23:59:59.999Z"));
        assert_eq!(rfc3339(i64::MIN), json!("0000-01-01T00:00:00.000Z"));
    }

    #[test]
    fn attachment_lines_name_type_size_and_removal() {
        let mut a = Attachment {
            id: chatvault::AttachmentId::from_raw(17),
            message: chatvault::MessageId::new(chatvault::ConversationId::from_raw(3), 120),
            media_type: "image/jpeg".into(),
            file_name: Some("IMG_0001.jpg".into()),
            byte_len: 1_258_291,
            app_data: Vec::new(),
            created_at_ms: 1_700_000_000_000,
            removed_at_ms: None,
        };
        assert_eq!(attachment_line(&a), "📎 IMG_0001.jpg · image/jpeg · 1.20 MiB");
        a.removed_at_ms = Some(1_700_000_100_000);
        a.file_name = Some("evil\u{1b}[2J.jpg".into());
        assert_eq!(attachment_line(&a), "📎 evil [2J.jpg · image/jpeg · 1.20 MiB (removed)");
        a.file_name = None;
        assert_eq!(attachment_name(&a), "attachment 17");
        let v = attachment_json(&a);
        assert_eq!(
            (v["id"].clone(), v["message"].clone(), v["removed"].clone()),
            (json!(17), json!("3/120"), json!(true))
        );
    }
}
