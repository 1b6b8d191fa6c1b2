//! The one JSON shape of a message, a conversation and an attachment
//! (docs/EXPORT.md), written without serde: by the JSON Lines export and,
//! through [`Message::to_json`] and its siblings, by anything else that
//! shows them as JSON (the CLI's `--json`), so field names and time formats
//! agree everywhere.

use std::fmt::Write as _;

use super::{push_display, rfc3339};
use crate::types::{Attachment, Conversation, Message};

impl Message {
    /// This message as one JSON object, in the shape docs/EXPORT.md
    /// defines (the shape of a line of [`crate::Store::export_json_lines`]).
    ///
    /// `attachments` are the message's attachments (in the order they were
    /// written): with `Some`, the object has an `attachments` array (empty
    /// if it has none); with `None` (the caller did not read them), it has
    /// no `attachments` key at all, never an empty array that would claim
    /// there are none.
    pub fn to_json(&self, attachments: Option<&[Attachment]>) -> String {
        let mut buf = String::new();
        message(&mut buf, self, attachments);
        buf
    }
}

impl Conversation {
    /// This conversation as one JSON object, in the shape docs/EXPORT.md
    /// defines (a conversation line of a JSON Lines export). Its opaque
    /// `app_data` is not included.
    pub fn to_json(&self) -> String {
        let mut buf = String::new();
        conversation(&mut buf, self);
        buf
    }
}

impl Attachment {
    /// This attachment's metadata as one JSON object, in the shape
    /// docs/EXPORT.md defines (an element of a message's `attachments`).
    /// Its opaque `app_data` and its content are not included.
    pub fn to_json(&self) -> String {
        let mut buf = String::new();
        attachment(&mut buf, self);
        buf
    }
}

/// Appends a conversation's object (no line break).
pub(super) fn conversation(buf: &mut String, c: &Conversation) {
    buf.push_str("{\"type\":\"conversation\",\"id\":");
    push_display(buf, c.id.get());
    buf.push_str(",\"external_id\":");
    opt_string(buf, c.external_id.as_deref());
    buf.push_str(",\"title\":");
    string(buf, &c.title);
    buf.push_str(",\"members\":[");
    for (i, m) in c.members.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        string(buf, m);
    }
    buf.push_str("],\"created_at\":");
    time(buf, c.created_at_ms);
    buf.push_str(",\"message_count\":");
    push_display(buf, c.message_count);
    buf.push_str(",\"read_up_to\":");
    opt_display(buf, c.read_up_to);
    buf.push_str(",\"retention_ms\":");
    match c.retention_ms {
        Some(r) => push_display(buf, r),
        None => buf.push_str("null"),
    }
    buf.push('}');
}

/// Appends a message's object (no line break).
pub(super) fn message(buf: &mut String, m: &Message, attachments: Option<&[Attachment]>) {
    buf.push_str("{\"type\":\"message\",\"id\":");
    opt_display(buf, Some(m.id));
    buf.push_str(",\"conversation\":");
    push_display(buf, m.id.conversation().get());
    buf.push_str(",\"seq\":");
    push_display(buf, m.id.seq());
    buf.push_str(",\"external_id\":");
    opt_string(buf, m.external_id.as_deref());
    buf.push_str(",\"sender\":");
    string(buf, &m.sender);
    buf.push_str(",\"sent_at\":");
    time(buf, m.sent_at_ms);
    buf.push_str(",\"sent_at_ms\":");
    push_display(buf, m.sent_at_ms);
    buf.push_str(",\"text\":");
    string(buf, &m.text);
    buf.push_str(",\"reply_to\":");
    opt_display(buf, m.reply_to);
    buf.push_str(",\"edited_at\":");
    opt_time(buf, m.edited_at_ms);
    buf.push_str(",\"expires_at\":");
    opt_time(buf, m.expires_at_ms);
    if let Some(attachments) = attachments {
        buf.push_str(",\"attachments\":[");
        for (i, a) in attachments.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            attachment(buf, a);
        }
        buf.push(']');
    }
    buf.push('}');
}

/// Appends an attachment's object.
pub(super) fn attachment(buf: &mut String, a: &Attachment) {
    buf.push_str("{\"type\":\"attachment\",\"id\":");
    push_display(buf, a.id.get());
    buf.push_str(",\"message\":");
    opt_display(buf, Some(a.message));
    buf.push_str(",\"media_type\":");
    string(buf, &a.media_type);
    buf.push_str(",\"file_name\":");
    opt_string(buf, a.file_name.as_deref());
    buf.push_str(",\"byte_len\":");
    push_display(buf, a.byte_len);
    buf.push_str(",\"created_at\":");
    time(buf, a.created_at_ms);
    buf.push_str(",\"removed\":");
    buf.push_str(if a.removed_at_ms.is_some() { "true" } else { "false" });
    buf.push_str(",\"removed_at\":");
    opt_time(buf, a.removed_at_ms);
    buf.push('}');
}

/// Appends a value's `Display` form as a JSON string, or `null`; only for
/// values whose `Display` needs no escaping (ids: digits and a slash).
fn opt_display(buf: &mut String, v: Option<impl std::fmt::Display>) {
    match v {
        Some(v) => {
            buf.push('"');
            push_display(buf, v);
            buf.push('"');
        }
        None => buf.push_str("null"),
    }
}

fn time(buf: &mut String, ms: i64) {
    buf.push('"');
    buf.push_str(&rfc3339(ms));
    buf.push('"');
}

fn opt_time(buf: &mut String, ms: Option<i64>) {
    match ms {
        Some(ms) => time(buf, ms),
        None => buf.push_str("null"),
    }
}

fn opt_string(buf: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(buf, s),
        None => buf.push_str("null"),
    }
}

/// Appends `s` as a JSON string (RFC 8259): quote and backslash escaped,
/// control characters below U+0020 as `\n`, `\r`, `\t`, `\b`, `\f` or
/// `\u00XX`, everything else as UTF-8.
pub(super) fn string(buf: &mut String, s: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{0}i\u{1f}j\u{7f}k é 你好 👋 </script> \u{2028}");
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0000i\\u001fj\u{7f}k é 你好 👋 </script> \u{2028}\""
        );
    }
}
