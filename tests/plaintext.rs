//! Plaintext exports: JSON Lines and HTML (docs/FORMAT.md, "Plaintext exports"),
//! with attachments: their metadata in JSON Lines, and in an HTML export to
//! a file, their content in files beside the page.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chatvault::{
    AttachmentFilter, AttachmentId, ConversationId, Error, HtmlOptions, Message, MessageId, Missing,
    NewAttachment, NewConversation, NewMessage, Page, Plaintext, Store,
};
use common::TestStore;
use serde_json::Value;

const T0: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20.000Z

/// Texts that need escaping in JSON, in HTML, or both.
const TRICKY: &[&str] = &[
    "plain ascii",
    "quotes \" and 'single' and backslash \\ and \\\" together",
    "line one\nline two\r\nline three\ttabbed",
    "controls: \u{0}\u{1}\u{8}\u{b}\u{c}\u{1b}\u{1f}\u{7f} end",
    "bonjour 你好 こんにちは 안녕하세요 Привет مرحبا שלום नमस्ते",
    "emoji 👋🏽 👨‍👩‍👧‍👦 🇫🇷 and astral 𝄞",
    "</script><script>alert('x')</script>",
    "<img src=x onerror=alert(1)> & &amp; &lt; <!-- comment --> ]]>",
    "separators \u{2028} \u{2029} and bom \u{feff}",
    "",
];

fn all_messages(store: &Store, c: ConversationId) -> Vec<Message> {
    let mut all = Vec::new();
    let mut page = Page::oldest(1000);
    loop {
        let got = store.messages(c, page).expect("messages");
        let Some(last) = got.last().map(|m| m.id) else { break };
        all.extend(got);
        page = Page::after(last, 1000);
    }
    all
}

fn json_export(store: &Store, conversations: Option<&[ConversationId]>) -> (u64, String) {
    let mut out = Vec::new();
    let n = store.export_json_lines(&mut out, conversations, Plaintext::Accept).expect("export");
    (n, String::from_utf8(out).expect("export is UTF-8"))
}

fn html_export(store: &Store, c: ConversationId) -> (u64, String) {
    let mut out = Vec::new();
    let n = store.export_html(c, &mut out, Plaintext::Accept).expect("export");
    (n, String::from_utf8(out).expect("export is UTF-8"))
}

/// The keys of a message line (docs/EXPORT.md).
const MESSAGE_KEYS: &[&str] = &[
    "type",
    "id",
    "conversation",
    "seq",
    "external_id",
    "sender",
    "sent_at",
    "sent_at_ms",
    "text",
    "reply_to",
    "edited_at",
    "expires_at",
    "attachments",
];

/// The keys of an attachment (docs/EXPORT.md).
const ATTACHMENT_KEYS: &[&str] =
    &["type", "id", "message", "media_type", "file_name", "byte_len", "created_at", "removed", "removed_at"];

/// The keys of a conversation line (docs/EXPORT.md).
const CONVERSATION_KEYS: &[&str] = &[
    "type",
    "id",
    "external_id",
    "title",
    "members",
    "created_at",
    "message_count",
    "read_up_to",
    "retention_ms",
];

/// Every line of a JSON Lines export, parsed; checks the line structure: a
/// conversation line, then that conversation's message lines, each with
/// exactly its type's keys.
fn parse_all_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    assert!(text.is_empty() || text.ends_with('\n'), "the last line is terminated");
    let message_keys: BTreeSet<&str> = MESSAGE_KEYS.iter().copied().collect();
    let conversation_keys: BTreeSet<&str> = CONVERSATION_KEYS.iter().copied().collect();
    let mut current = None;
    text.lines()
        .map(|line| {
            assert!(!line.contains('\r'), "a raw carriage return in {line:?}");
            assert!(!line.chars().any(|c| (c as u32) < 0x20), "a raw control character in {line:?}");
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => {
                    let got: BTreeSet<&str> = map.keys().map(String::as_str).collect();
                    match map["type"].as_str() {
                        Some("conversation") => {
                            assert_eq!(got, conversation_keys, "the keys of {line}");
                            current = map["id"].as_u64();
                        }
                        Some("message") => {
                            assert_eq!(got, message_keys, "the keys of {line}");
                            assert!(current.is_some(), "a message before any conversation line: {line}");
                            assert_eq!(
                                map["conversation"].as_u64(),
                                current,
                                "under its conversation: {line}"
                            );
                        }
                        other => panic!("a line of type {other:?}: {line}"),
                    }
                    map
                }
                other => panic!("{line:?} is not a JSON object: {other:?}"),
            }
        })
        .collect()
}

/// The message lines of a JSON Lines export (structure checked).
fn parse_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    parse_all_lines(text).into_iter().filter(|l| l["type"] == "message").collect()
}

/// The conversation lines of a JSON Lines export (structure checked).
fn conversation_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    parse_all_lines(text).into_iter().filter(|l| l["type"] == "conversation").collect()
}

fn str_or_null(v: &Value) -> Option<&str> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => panic!("{other:?} is neither a string nor null"),
    }
}

/// Sets the store clock to `ms`.
fn set_clock(ts: &TestStore, ms: i64) {
    ts.clock.store(ms, Ordering::SeqCst);
}

#[test]
fn json_lines_round_trip_through_serde_json() {
    let ts = TestStore::new();
    set_clock(&ts, T0);
    let title = "Café \"Ölé\" \\ <b>team</b>\n👋 你好";
    let c = ts
        .create_conversation(NewConversation {
            external_id: Some("grp\"1\\\n</script>".into()),
            title: title.into(),
            ..Default::default()
        })
        .unwrap();
    let plain = ts.new_conv("plain"); // has an external id
    let no_ext = ts
        .create_conversation(NewConversation { title: "no external id".into(), ..Default::default() })
        .unwrap();

    let mut ids = Vec::new();
    for (i, text) in TRICKY.iter().enumerate() {
        let reply_to = ids.first().copied().filter(|_| i % 3 == 2);
        let id = ts
            .append(
                c,
                NewMessage {
                    external_id: (i % 2 == 0).then(|| format!("srv-{i} \"q\" \\ \u{1}")),
                    sender: format!("sender {i} «{}»", TRICKY[(i + 1) % TRICKY.len()]),
                    sent_at_ms: T0 + i as i64 * 1001,
                    text: (*text).into(),
                    reply_to,
                    extra: vec![1, 2, 3],
                    expires_at_ms: (i % 4 == 1).then_some(T0 + 86_400_000),
                },
            )
            .unwrap();
        ids.push(id);
    }
    set_clock(&ts, T0 + 5_123);
    ts.edit_message(ids[3], "edited: \"new\"\n\u{0}").unwrap();
    ts.append(plain, common::msg("bob", "hi")).unwrap();
    ts.append(no_ext, common::msg("carol", "yo")).unwrap();

    let (n, text) = json_export(&ts, Some(&[c]));
    let lines = parse_lines(&text);
    let stored = all_messages(&ts, c);
    assert_eq!(n, stored.len() as u64);
    assert_eq!(lines.len(), stored.len());
    assert_eq!(stored.len(), TRICKY.len());
    let convs = conversation_lines(&text);
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["id"].as_u64(), Some(c.get()));
    assert_eq!(convs[0]["title"].as_str(), Some(title));
    assert_eq!(str_or_null(&convs[0]["external_id"]), Some("grp\"1\\\n</script>"));
    assert_eq!(convs[0]["created_at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(convs[0]["message_count"].as_u64(), Some(TRICKY.len() as u64));
    for (line, m) in lines.iter().zip(&stored) {
        assert_eq!(line["conversation"].as_u64(), Some(c.get()));
        assert_eq!(line["seq"].as_u64(), Some(m.id.seq()));
        assert_eq!(line["sent_at_ms"].as_i64(), Some(m.sent_at_ms));
        assert_eq!(line["id"].as_str(), Some(m.id.to_string().as_str()));
        assert_eq!(line["id"].as_str().and_then(|s| s.parse().ok()), Some(m.id));
        assert_eq!(str_or_null(&line["external_id"]), m.external_id.as_deref());
        assert_eq!(line["sender"].as_str(), Some(m.sender.as_str()));
        assert_eq!(line["text"].as_str(), Some(m.text.as_str()));
        assert_eq!(str_or_null(&line["reply_to"]), m.reply_to.map(|r| r.to_string()).as_deref());
        assert_eq!(str_or_null(&line["edited_at"]).is_some(), m.edited_at_ms.is_some());
        assert_eq!(str_or_null(&line["expires_at"]).is_some(), m.expires_at_ms.is_some());
    }

    // Times: RFC 3339, UTC, milliseconds.
    assert_eq!(lines[0]["sent_at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(lines[1]["sent_at"], "2023-11-14T22:13:21.001Z");
    assert_eq!(lines[1]["expires_at"], "2023-11-15T22:13:20.000Z");
    assert_eq!(lines[3]["edited_at"], "2023-11-14T22:13:25.123Z");
    assert_eq!(lines[3]["text"], "edited: \"new\"\n\u{0}");
    assert_eq!(lines[2]["reply_to"], ids[0].to_string());
    assert_eq!(lines[0]["edited_at"], Value::Null);
    assert_eq!(lines[1]["external_id"], Value::Null);

    // The whole store: the other conversations too, with null external ids.
    let (n, text) = json_export(&ts, None);
    let lines = parse_lines(&text);
    assert_eq!(n, TRICKY.len() as u64 + 2);
    let last = lines.last().unwrap();
    assert_eq!(last["conversation"].as_u64(), Some(no_ext.get()));
    assert_eq!(last["text"], "yo");
    let convs = conversation_lines(&text);
    assert_eq!(convs.len(), 3);
    assert_eq!(convs[2]["id"].as_u64(), Some(no_ext.get()));
    assert_eq!(convs[2]["external_id"], Value::Null);
}

#[test]
fn json_lines_keep_order_across_many_pages() {
    let ts = TestStore::new();
    let big = ts.new_conv("big");
    let small = ts.new_conv("small");
    // Interleaved batches, so segments of both conversations alternate.
    for batch in 0..12 {
        let mut msgs = Vec::new();
        for i in 0..100 {
            let k = batch * 100 + i;
            msgs.push((big, NewMessage { sent_at_ms: T0 + k, ..common::msg("a", &format!("big {k}")) }));
        }
        for i in 0..3 {
            msgs.push((small, common::msg("b", &format!("small {}", batch * 3 + i))));
        }
        ts.append_batch(&msgs).unwrap();
    }
    // A hole at a page boundary and one inside a page.
    let stored = all_messages(&ts, big);
    ts.delete_message(stored[499].id).unwrap();
    ts.delete_message(stored[500].id).unwrap();
    ts.delete_message(stored[777].id).unwrap();

    let (n, text) = json_export(&ts, None);
    let lines = parse_lines(&text);
    assert_eq!(n, 1_197 + 36);
    assert_eq!(lines.len() as u64, n);

    let convs: Vec<u64> = lines.iter().map(|l| l["conversation"].as_u64().unwrap()).collect();
    assert!(convs.windows(2).all(|w| w[0] <= w[1]), "conversations in ascending id order");
    assert_eq!(convs.iter().filter(|&&c| c == big.get()).count(), 1_197);

    let expected: Vec<String> =
        (0..1200).filter(|k| ![499, 500, 777].contains(k)).map(|k| format!("big {k}")).collect();
    let got: Vec<&str> = lines[..1_197].iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(got, expected);
    let seqs: Vec<u64> = lines[..1_197]
        .iter()
        .map(|l| l["id"].as_str().unwrap().parse::<chatvault::MessageId>().unwrap().seq())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let small_texts: Vec<&str> = lines[1_197..].iter().map(|l| l["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..36).map(|k| format!("small {k}")).collect();
    assert_eq!(small_texts, expected);

    // The HTML export pages the same way.
    let (n, html) = html_export(&ts, big);
    assert_eq!(n, 1_197);
    assert_eq!(html.matches("<li class=\"msg\" id=\"m-").count(), 1_197);
    let first = html.find("big 0<").unwrap();
    let mid = html.find("big 501<").unwrap();
    let end = html.find("big 1199<").unwrap();
    assert!(first < mid && mid < end);
    assert!(!html.contains("big 777<"));
    assert!(html.contains("1197 messages"));
}

#[test]
fn json_lines_export_only_the_listed_conversations_in_order() {
    let ts = TestStore::new();
    let a = ts.new_conv("a");
    let b = ts.new_conv("b");
    let c = ts.new_conv("c");
    for (conv, n) in [(a, 2), (b, 3), (c, 4)] {
        for i in 0..n {
            ts.append(conv, common::msg("x", &format!("{i}"))).unwrap();
        }
    }
    let (n, text) = json_export(&ts, Some(&[c, a]));
    let lines = parse_lines(&text);
    assert_eq!(n, 6);
    let convs: Vec<u64> = lines.iter().map(|l| l["conversation"].as_u64().unwrap()).collect();
    assert_eq!(convs, [c.get(), c.get(), c.get(), c.get(), a.get(), a.get()]);
    let conv_lines = conversation_lines(&text);
    assert_eq!(conv_lines.iter().map(|l| l["id"].as_u64().unwrap()).collect::<Vec<_>>(), [c.get(), a.get()]);
    assert_eq!(conv_lines[1]["title"], "a");
    assert_eq!(conv_lines[1]["external_id"], "ext-a");

    let (n, text) = json_export(&ts, Some(&[]));
    assert_eq!((n, text.as_str()), (0, ""));
    // A conversation without messages is still a line.
    let empty = ts.new_conv("empty");
    let (n, text) = json_export(&ts, Some(&[empty]));
    assert_eq!((n, conversation_lines(&text).len(), parse_lines(&text).len()), (0, 1, 0));
    ts.delete_conversation(empty).unwrap();

    // An unknown conversation fails before anything is written.
    ts.delete_conversation(b).unwrap();
    let mut out = Vec::new();
    let err = ts.export_json_lines(&mut out, Some(&[a, b]), Plaintext::Accept).unwrap_err();
    assert!(matches!(err, Error::NotFound(Missing::Conversation(x)) if x == b), "{err:?}");
    assert!(out.is_empty());
    let mut out = Vec::new();
    let gone = ConversationId::from_raw(999);
    assert!(matches!(ts.export_html(gone, &mut out, Plaintext::Accept), Err(Error::NotFound(_))));
    assert!(out.is_empty());

    // Without a list: the remaining conversations, ascending.
    let (n, text) = json_export(&ts, None);
    let convs: Vec<u64> = parse_lines(&text).iter().map(|l| l["conversation"].as_u64().unwrap()).collect();
    assert_eq!(n, 6);
    assert_eq!(convs, [a.get(), a.get(), c.get(), c.get(), c.get(), c.get()]);
}

#[test]
fn expired_and_deleted_messages_are_not_exported() {
    let ts = TestStore::new();
    set_clock(&ts, T0);
    let c = ts.new_conv("c");
    let keep = ts.append(c, common::msg("a", "kept message")).unwrap();
    ts.append(c, NewMessage { expires_at_ms: Some(T0 + 1_000), ..common::msg("a", "expiring message") })
        .unwrap();
    let deleted = ts.append(c, common::msg("a", "deleted message")).unwrap();
    let later = ts
        .append(c, NewMessage { expires_at_ms: Some(T0 + 10_000_000), ..common::msg("a", "not yet expired") })
        .unwrap();
    ts.delete_message(deleted).unwrap();
    set_clock(&ts, T0 + 2_000);

    let (n, text) = json_export(&ts, None);
    assert_eq!(n, 2);
    let lines = parse_lines(&text);
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [keep.to_string(), later.to_string()]);
    assert!(!text.contains("expiring message") && !text.contains("deleted message"));

    let (n, html) = html_export(&ts, c);
    assert_eq!(n, 2);
    assert!(html.contains("kept message") && html.contains("not yet expired"));
    assert!(!html.contains("expiring message") && !html.contains("deleted message"));
    assert!(!html.contains("id=\"m-2\"") && !html.contains("id=\"m-3\""));

    // Past the second expiry, only one remains.
    set_clock(&ts, T0 + 10_000_000);
    assert_eq!(json_export(&ts, None).0, 1);
    assert_eq!(html_export(&ts, c).0, 1);
}

#[test]
fn html_escapes_every_string() {
    let ts = TestStore::new();
    let c = ts
        .create_conversation(NewConversation {
            title: "<script>alert(\"title\")</script> & co".into(),
            members: vec!["<b>eve</b>".into(), "o'neil".into()],
            ..Default::default()
        })
        .unwrap();
    for (i, text) in TRICKY.iter().enumerate() {
        ts.append(c, common::msg(&format!("<script>sender{i}</script>\"'"), text)).unwrap();
    }
    let (n, html) = html_export(&ts, c);
    assert_eq!(n, TRICKY.len() as u64);

    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "no script element, from the page or from the data");
    assert!(!lower.contains("<img"));
    assert!(!lower.contains("<b>"));
    assert!(!html.contains("<!-- comment"));
    assert!(html.contains("<title>&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; co</title>"));
    assert!(html.contains("&lt;b&gt;eve&lt;/b&gt;, o&#39;neil"));
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &amp;amp; &amp;lt;"));
    assert!(html.contains("&lt;script&gt;sender0&lt;/script&gt;&quot;&#39;"));
    assert!(html.contains("quotes &quot; and &#39;single&#39; and backslash \\ and \\&quot; together"));
    // Text keeps its line breaks (shown by the style) and its Unicode.
    assert!(html.contains("line one\nline two\r\nline three\ttabbed"));
    assert!(html.contains("bonjour 你好 こんにちは 안녕하세요 Привет مرحبا שלום नमस्ते"));
    assert!(html.contains("emoji 👋🏽 👨‍👩‍👧‍👦 🇫🇷 and astral 𝄞"));
    // Control characters HTML does not allow are replaced.
    assert!(html.contains("controls: \u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd} end"));
    assert!(!html.chars().any(|ch| (ch as u32) < 0x20 && !matches!(ch, '\t' | '\n' | '\r')));
}

#[test]
fn html_is_a_self_contained_page_with_anchors() {
    let ts = TestStore::new();
    set_clock(&ts, T0);
    let c = ts.new_conv("Team");
    let first = ts.append(c, common::msg("alice", "first\nsecond line")).unwrap();
    ts.append(c, NewMessage { reply_to: Some(first), ..common::msg("bob", "a reply") }).unwrap();
    let third = ts.append(c, common::msg("carol", "to edit")).unwrap();
    ts.edit_message(third, "edited text").unwrap();

    let (n, html) = html_export(&ts, c);
    assert_eq!(n, 3);
    assert!(html.starts_with("<!DOCTYPE html>\n"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("<title>Team</title>"));
    assert!(html.contains("<style>") && html.contains("white-space:pre-wrap"));
    assert!(html.trim_end().ends_with("</html>"));
    for seq in 1..=3 {
        assert!(html.contains(&format!("<li class=\"msg\" id=\"m-{seq}\">")), "anchor m-{seq}");
    }
    assert!(html.contains("<a href=\"#m-1\">"));
    assert!(html.contains(
        "<time datetime=\"2023-11-14T22:13:20.000Z\" title=\"Tuesday 14 November 2023 22:13:20 UTC\">22:13</time>"
    ));
    assert!(html.contains("first\nsecond line"));
    assert_eq!(html.matches("class=\"edited\"").count(), 1);
    let edited = html.find("class=\"edited\"").unwrap();
    assert!(html.find("id=\"m-3\"").unwrap() < edited);

    // Self-contained: no script, no external resource of any kind.
    let lower = html.to_lowercase();
    for bad in ["<script", "<link", "<iframe", "<img", "<object", "<embed", "src=", "url(", "@import", "//"] {
        assert!(!lower.contains(bad), "found {bad:?}");
    }
    for (i, _) in lower.match_indices("href=") {
        assert!(lower[i..].starts_with("href=\"#m-"), "a non-local link at {i}");
    }
    assert!(!lower.contains("http:") && !lower.contains("https:"));
}

#[test]
fn to_file_exports_leave_exactly_one_complete_file() {
    let ts = TestStore::new();
    let a = ts.new_conv("a");
    let b = ts.new_conv("b");
    for i in 0..700 {
        ts.append(a, common::msg("x", &format!("a{i}"))).unwrap();
    }
    ts.append(b, common::msg("y", "b0")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };

    let jsonl = dir.path().join("export.jsonl");
    std::fs::write(&jsonl, "an older export").unwrap();
    let n = ts.export_json_lines_to_file(&jsonl, None, Plaintext::Accept).unwrap();
    assert_eq!(n, 701);
    assert_eq!(listing(), ["export.jsonl"]);
    let on_disk = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(on_disk, json_export(&ts, None).1);
    assert_eq!(parse_lines(&on_disk).len(), 701);

    let html = dir.path().join("a.html");
    let n = ts.export_html_to_file(a, &html, Plaintext::Accept).unwrap();
    assert_eq!(n, 700);
    assert_eq!(listing(), ["a.html", "export.jsonl"]);
    let on_disk = std::fs::read_to_string(&html).unwrap();
    assert_eq!(on_disk, html_export(&ts, a).1);
    assert!(on_disk.ends_with("</html>\n"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&html).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a plaintext export is readable by its owner only");
    }

    // A failed export leaves no file and no temporary behind, and keeps the old one.
    let gone = ConversationId::from_raw(999);
    assert!(ts.export_html_to_file(gone, dir.path().join("gone.html"), Plaintext::Accept).is_err());
    assert!(ts.export_json_lines_to_file(&jsonl, Some(&[a, gone]), Plaintext::Accept).is_err());
    assert_eq!(listing(), ["a.html", "export.jsonl"]);
    assert_eq!(parse_lines(&std::fs::read_to_string(&jsonl).unwrap()).len(), 701);
}

#[test]
fn empty_exports() {
    let ts = TestStore::new();
    assert_eq!(json_export(&ts, None), (0, String::new()));
    let c = ts.new_conv("empty");
    let (n, text) = json_export(&ts, None);
    assert_eq!((n, conversation_lines(&text).len(), parse_lines(&text).len()), (0, 1, 0));
    let (n, html) = html_export(&ts, c);
    assert_eq!(n, 0);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("No messages.") && html.contains("0 messages") && !html.contains("<ol>"));
}

/// Bytes that differ at every offset, of length `len`.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

fn attach(store: &Store, m: MessageId, media_type: &str, name: Option<&str>, data: &[u8]) -> AttachmentId {
    let new = NewAttachment {
        media_type: media_type.into(),
        file_name: name.map(Into::into),
        app_data: b"w=640".to_vec(),
    };
    store.attach_from(m, new, &mut &data[..]).expect("attach")
}

/// `%XX` sequences decoded (the links of the HTML export).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("a percent escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The values of every `attr="..."` in `html`, in order.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// A conversation with an inline image, a large image (in a file in the
/// store) under a hostile name, a PDF without a name, and a video whose
/// content the storage manager removed.
struct WithAttachments {
    ts: TestStore,
    c: ConversationId,
    small: (AttachmentId, Vec<u8>),
    large: (AttachmentId, Vec<u8>),
    pdf: (AttachmentId, Vec<u8>),
    video: AttachmentId,
}

fn with_attachments() -> WithAttachments {
    let ts = TestStore::new();
    let c = ts.new_conv("Photos");
    let m1 = ts.append(c, common::msg("alice", "look")).unwrap();
    let m2 = ts.append(c, common::msg("bob", "no attachment here")).unwrap();
    let m3 = ts.append(c, common::msg("bob", "a big one, a document and a clip")).unwrap();
    let _ = m2;
    let small = content(1, 5_000);
    let large = content(2, 300_000);
    let pdf = content(3, 70_000);
    let small_id = attach(&ts, m1, "image/png", Some("IMG <1> \"x\".png"), &small);
    let large_id = attach(&ts, m3, "image/jpeg", Some("../../etc/passwd"), &large);
    let pdf_id = attach(&ts, m3, "application/pdf", None, &pdf);
    let video = attach(&ts, m3, "video/mp4", Some("clip.mp4"), &content(4, 90_000));
    let report = ts
        .clear_attachments(&AttachmentFilter {
            media_type_prefix: Some("video/".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.attachments, 1);
    WithAttachments { ts, c, small: (small_id, small), large: (large_id, large), pdf: (pdf_id, pdf), video }
}

#[test]
fn json_lines_carry_each_message_s_attachments_metadata() {
    let w = with_attachments();
    let (n, text) = json_export(&w.ts, Some(&[w.c]));
    assert_eq!(n, 3);
    let lines = parse_lines(&text);
    assert_eq!(lines[1]["attachments"], serde_json::json!([]));
    let first = lines[0]["attachments"].as_array().expect("an array");
    assert_eq!(first.len(), 1);
    let a = &first[0];
    assert_eq!(
        (&a["type"], &a["id"], &a["message"], &a["media_type"], &a["file_name"], &a["byte_len"]),
        (
            &serde_json::json!("attachment"),
            &serde_json::json!(w.small.0.get()),
            &serde_json::json!(lines[0]["id"]),
            &serde_json::json!("image/png"),
            &serde_json::json!("IMG <1> \"x\".png"),
            &serde_json::json!(5_000)
        )
    );
    assert_eq!((&a["removed"], &a["removed_at"]), (&serde_json::json!(false), &Value::Null));
    assert!(a["created_at"].as_str().is_some_and(|t| t.len() == 24 && t.ends_with('Z')), "{a}");
    let third = lines[2]["attachments"].as_array().expect("an array");
    let ids: Vec<u64> = third.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [w.large.0.get(), w.pdf.0.get(), w.video.get()], "in the order written");
    assert_eq!(third[1]["file_name"], Value::Null);
    assert_eq!(third[1]["byte_len"], 70_000);
    assert_eq!(third[2]["removed"], true);
    assert!(third[2]["removed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(third[2]["byte_len"], 90_000, "a removed attachment keeps its size");
    for a in third {
        let keys: BTreeSet<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ATTACHMENT_KEYS.iter().copied().collect::<BTreeSet<_>>());
    }
}

#[test]
fn a_streamed_html_page_lists_attachments_without_links() {
    let w = with_attachments();
    let (n, html) = html_export(&w.ts, w.c);
    assert_eq!(n, 3);
    assert!(html.contains("📎 IMG &lt;1&gt; &quot;x&quot;.png · image/png · 4.88 KiB</div>"), "{html}");
    assert!(html.contains("📎 ../../etc/passwd · image/jpeg · 292.97 KiB</div>"), "{html}");
    assert!(html.contains(&format!("📎 attachment {} · application/pdf · 68.36 KiB", w.pdf.0)), "{html}");
    assert!(html.contains("clip.mp4 · video/mp4 · 87.89 KiB (removed)"), "{html}");
    let lower = html.to_lowercase();
    assert!(!lower.contains("<img") && !lower.contains("src=\""), "nothing to show inline: {html}");
    for (i, _) in lower.match_indices("href=") {
        assert!(lower[i..].starts_with("href=\"#m"), "only anchors in a streamed page");
    }
}

#[test]
fn html_to_a_file_writes_attachments_beside_the_page_and_shows_images_inline() {
    let w = with_attachments();
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    let n = w.ts.export_html_to_file(w.c, &page, Plaintext::Accept).unwrap();
    assert_eq!(n, 3);
    assert_eq!(names_in(out.path()), ["chat.html", "chat_files"], "the page and its directory, nothing else");
    let files = out.path().join("chat_files");
    let html = std::fs::read_to_string(&page).unwrap();

    // Every image shown inline is a file of the directory with the exact bytes.
    let srcs = attribute_values(&html, "src");
    assert_eq!(srcs.len(), 2, "the two images: {html}");
    let expected = [&w.small, &w.large];
    for (src, (id, bytes)) in srcs.iter().zip(expected) {
        let rel = String::from_utf8(percent_decode(src)).unwrap();
        let (dir, name) = rel.split_once('/').expect("dir/name");
        assert_eq!(dir, "chat_files");
        assert!(!name.contains('/') && !name.contains('\\') && !name.starts_with('.'), "{name}");
        assert!(name.starts_with(&format!("{id}-")), "{name}");
        let path = out.path().join(dir).join(name);
        assert_eq!(&std::fs::read(&path).unwrap(), bytes, "{name}");
    }
    // The hostile name stayed inside the directory, as one plain name.
    let on_disk = names_in(&files);
    // Its extension is no inert type's, so its media type's is added.
    let large_name = format!("{}-_.._etc_passwd.jpg", w.large.0);
    assert_eq!(
        on_disk,
        {
            let mut v = vec![
                format!("{}-IMG__1___x_.png", w.small.0),
                large_name.clone(),
                format!("{}-attachment.pdf", w.pdf.0),
            ];
            v.sort();
            v
        },
        "one file per attachment with content, the removed one has none"
    );
    assert!(std::fs::metadata(files.join(&large_name)).unwrap().is_file());
    // Every link points into the directory or at a message, and each file is linked.
    let hrefs: Vec<String> = attribute_values(&html, "href")
        .into_iter()
        .filter(|h| !h.starts_with("#m"))
        .map(|h| String::from_utf8(percent_decode(h)).unwrap())
        .collect();
    for name in &on_disk {
        assert!(hrefs.contains(&format!("chat_files/{name}")), "{name} is linked: {hrefs:?}");
    }
    assert!(hrefs.iter().all(|h| h.starts_with("chat_files/") && !h[11..].contains('/')), "{hrefs:?}");
    assert_eq!(
        std::fs::read(files.join(format!("{}-attachment.pdf", w.pdf.0))).unwrap(),
        w.pdf.1,
        "a document is written too, and linked, not shown"
    );
    assert!(html.contains("alt=\"IMG &lt;1&gt; &quot;x&quot;.png\""), "{html}");
    assert!(html.contains("clip.mp4 · video/mp4 · 87.89 KiB (removed)"), "{html}");
    assert!(html.contains("img-src 'self' file:"), "the policy lets the page show its own images");
    assert!(!html.to_lowercase().contains("<script"));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files), 0o700, "the directory is its owner's only");
        for name in &on_disk {
            assert_eq!(mode(&files.join(name)), 0o600, "{name} is plaintext: its owner's only");
        }
    }

    // Again to the same page: the directory is there, so nothing changes.
    let before = std::fs::read(&page).unwrap();
    let err = w.ts.export_html_to_file(w.c, &page, Plaintext::Accept).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&page).unwrap(), before);
    assert_eq!(names_in(out.path()), ["chat.html", "chat_files"]);
    assert_eq!(names_in(&files), on_disk);

    // A conversation without attachments gets no directory.
    let plain = w.ts.new_conv("plain");
    w.ts.append(plain, common::msg("x", "text only")).unwrap();
    w.ts.export_html_to_file(plain, out.path().join("plain.html"), Plaintext::Accept).unwrap();
    assert_eq!(names_in(out.path()), ["chat.html", "chat_files", "plain.html"]);
}

/// The large image's file in the store, with one bit of its content flipped.
fn tamper_with_the_large_image(w: &WithAttachments) {
    let store_files = std::path::PathBuf::from(format!("{}-attachments", w.ts.path.display()));
    let stored: Vec<_> = std::fs::read_dir(&store_files).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(stored.len(), 2, "the large image and the PDF are in files");
    let sizes: Vec<u64> = stored.iter().map(|p| std::fs::metadata(p).unwrap().len()).collect();
    let large = &stored[if sizes[0] > sizes[1] { 0 } else { 1 }];
    let mut bytes = std::fs::read(large).unwrap();
    bytes[100] ^= 1;
    std::fs::write(large, &bytes).unwrap();
}

#[test]
fn a_failed_html_export_leaves_no_page_no_directory_and_no_attachment_file() {
    let w = with_attachments();
    // The first page (with the small image, written to the attachment
    // directory) is written, then the second cannot be: a directory is
    // where it goes.
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("chat-2.html")).unwrap();
    let options = HtmlOptions::new().messages_per_page(1).replace_existing(true);
    let err =
        w.ts.export_html_to_file_with(w.c, out.path().join("chat.html"), &options, Plaintext::Accept)
            .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(
        names_in(out.path()),
        ["chat-2.html"],
        "no page, no directory, no temporary: {:?}",
        names_in(out.path())
    );
    assert_eq!(names_in(&out.path().join("chat-2.html")), Vec::<String>::new());
}

#[test]
fn a_damaged_attachment_is_marked_and_the_export_goes_on() {
    let w = with_attachments();
    tamper_with_the_large_image(&w);
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    let report =
        w.ts.export_html_to_file_with(w.c, &page, &HtmlOptions::new(), Plaintext::Accept).expect("exported");
    assert_eq!(report.messages, 3);
    assert_eq!(report.damaged_attachments, [w.large.0]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(
            "<div class=\"att damaged\">📎 ../../etc/passwd · image/jpeg · 292.97 KiB (damaged: its content in \
             the store failed authentication)</div>"
        ),
        "{html}"
    );
    // The others are written whole; nothing of the damaged one.
    let files = out.path().join("chat_files");
    assert_eq!(
        names_in(&files),
        [format!("{}-IMG__1___x_.png", w.small.0), format!("{}-attachment.pdf", w.pdf.0)]
    );
    assert_eq!(std::fs::read(files.join(format!("{}-attachment.pdf", w.pdf.0))).unwrap(), w.pdf.1);
    assert_eq!(attribute_values(&html, "src").len(), 1, "only the small image is shown: {html}");
}

#[test]
fn a_page_whose_only_attachment_is_damaged_gets_no_attachment_directory() {
    let ts = TestStore::new();
    let c = ts.new_conv("one");
    let m = ts.append(c, common::msg("bob", "a big one")).unwrap();
    let id = attach(&ts, m, "image/jpeg", Some("big.jpg"), &content(5, 300_000));
    let store_files = std::path::PathBuf::from(format!("{}-attachments", ts.path.display()));
    let stored: Vec<_> = std::fs::read_dir(&store_files).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(stored.len(), 1, "the image is in a file");
    let mut bytes = std::fs::read(&stored[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&stored[0], &bytes).unwrap();

    let out = tempfile::tempdir().unwrap();
    let report = ts
        .export_html_to_file_with(c, out.path().join("chat.html"), &HtmlOptions::new(), Plaintext::Accept)
        .expect("exported");
    assert_eq!(report.damaged_attachments, [id]);
    assert!(report.attachment_dirs.is_empty());
    assert_eq!(names_in(out.path()), ["chat.html"], "no empty directory, no temporary one");
}

#[test]
fn one_time_format_for_every_value() {
    // The library's formatter, public for the CLI's JSON: years outside
    // 0000-9999 clamp at both ends.
    assert_eq!(Plaintext::rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(Plaintext::rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
    assert_eq!(Plaintext::rfc3339_ms(253_402_300_800_000), "9999-12-31T23:59:59.999Z", "year 10000");
    assert_eq!(Plaintext::rfc3339_ms(i64::MIN), "0000-01-01T00:00:00.000Z");
    assert_eq!(Plaintext::rfc3339_ms(-62_167_219_200_001), "0000-01-01T00:00:00.000Z", "year -1");
    // A message's times in JSON Lines are the same.
    let ts = TestStore::new();
    let c = ts.new_conv("far");
    for at in [i64::MAX, i64::MIN, 253_402_300_800_000] {
        ts.append(c, NewMessage { sent_at_ms: at, ..common::msg("x", "far") }).unwrap();
    }
    let (_, text) = json_export(&ts, Some(&[c]));
    let sent: Vec<String> =
        parse_lines(&text).iter().map(|m| m["sent_at"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> =
        [i64::MAX, i64::MIN, 253_402_300_800_000].iter().map(|&t| Plaintext::rfc3339_ms(t)).collect();
    let mut sorted = sent.clone();
    sorted.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(sorted, expected_sorted);
}
