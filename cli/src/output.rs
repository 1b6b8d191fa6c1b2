//! Printing: human tables, JSON, times, and text cut to a display width.

use std::fmt;
use std::io::Write;

use chatvault::{Attachment, Conversation, ConversationSummary, Message};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};
use unicode_width::UnicodeWidthChar;

/// Writes a line to stdout (the `say!` macro). When stdout is a closed
/// pipe (`chatvault convs | head`), the program ends quietly with success
/// instead of panicking as `println!` would.
pub fn emit(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("chatvault: cannot write the output: {e}");
        std::process::exit(i32::from(crate::failure::USER_ERROR));
    }
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

/// `ms` since the Unix epoch in RFC 3339, UTC (JSON output).
pub fn rfc3339(ms: i64) -> Value {
    Timestamp::from_millisecond(ms).map_or(Value::Null, |t| Value::String(t.to_string()))
}

/// `s` on one line, cut with `…` to at most `width` terminal columns and
/// padded with spaces to exactly `width`.
pub fn fit(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let s = one_line(s);
    let total: usize = s.chars().map(column_width).sum();
    let budget = if total > width { width.saturating_sub(1) } else { width };
    for ch in s.chars() {
        let w = column_width(ch);
        if used + w > budget {
            break;
        }
        out.push(ch);
        used += w;
    }
    if total > width && width > 0 {
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

fn column_width(ch: char) -> usize {
    ch.width().unwrap_or(0)
}

pub fn conversation_json(c: &Conversation) -> Value {
    json!({
        "id": c.id.get(),
        "external_id": c.external_id,
        "title": c.title,
        "members": c.members,
        "created_at": rfc3339(c.created_at_ms),
        "message_count": c.message_count,
        "read_up_to": c.read_up_to.map(|m| m.to_string()),
        "retention_ms": c.retention_ms,
    })
}

pub fn message_json(m: &Message) -> Value {
    json!({
        "id": m.id.to_string(),
        "seq": m.id.seq(),
        "external_id": m.external_id,
        "sender": m.sender,
        "sent_at": rfc3339(m.sent_at_ms),
        "text": m.text,
        "reply_to": m.reply_to.map(|r| r.to_string()),
        "edited_at": m.edited_at_ms.map(rfc3339),
        "expires_at": m.expires_at_ms.map(rfc3339),
    })
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

pub fn attachment_json(a: &Attachment) -> Value {
    json!({
        "id": a.id.get(),
        "message": a.message.to_string(),
        "conversation": a.message.conversation().get(),
        "media_type": a.media_type,
        "file_name": a.file_name,
        "byte_len": a.byte_len,
        "created_at": rfc3339(a.created_at_ms),
        "removed": a.removed_at_ms.is_some(),
        "removed_at": a.removed_at_ms.map(rfc3339),
    })
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

/// A count in bytes, for people.
pub fn bytes(n: u64) -> String {
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
        assert_eq!(rfc3339(1_700_000_000_000), json!("2023-11-14T22:13:20Z"));
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
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
        assert_eq!(attachment_line(&a), "📎 IMG_0001.jpg · image/jpeg · 1.2 MiB");
        a.removed_at_ms = Some(1_700_000_100_000);
        a.file_name = Some("evil\u{1b}[2J.jpg".into());
        assert_eq!(attachment_line(&a), "📎 evil [2J.jpg · image/jpeg · 1.2 MiB (removed)");
        a.file_name = None;
        assert_eq!(attachment_name(&a), "attachment 17");
        let v = attachment_json(&a);
        assert_eq!(
            (v["id"].clone(), v["message"].clone(), v["removed"].clone()),
            (json!(17), json!("3/120"), json!(true))
        );
    }
}
