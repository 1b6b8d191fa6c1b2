//! Plaintext exports: JSON Lines and HTML (docs/FORMAT.md, "Plaintext exports").

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use chatvault::{
    ConversationId, Error, Message, Missing, NewConversation, NewMessage, Page, Plaintext, Store,
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

/// Every line of a JSON Lines export, parsed; checks the line structure.
fn parse_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    assert!(text.is_empty() || text.ends_with('\n'), "the last line is terminated");
    let keys: BTreeSet<&str> = [
        "conversation",
        "conversation_title",
        "conversation_external_id",
        "id",
        "external_id",
        "sender",
        "time",
        "text",
        "reply_to",
        "edited_at",
        "expires_at",
    ]
    .into_iter()
    .collect();
    text.lines()
        .map(|line| {
            assert!(!line.contains('\r'), "a raw carriage return in {line:?}");
            assert!(!line.chars().any(|c| (c as u32) < 0x20), "a raw control character in {line:?}");
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => {
                    let got: BTreeSet<&str> = map.keys().map(String::as_str).collect();
                    assert_eq!(got, keys, "the keys of {line}");
                    map
                }
                other => panic!("{line:?} is not a JSON object: {other:?}"),
            }
        })
        .collect()
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
    for (line, m) in lines.iter().zip(&stored) {
        assert_eq!(line["conversation"].as_u64(), Some(c.get()));
        assert_eq!(line["conversation_title"].as_str(), Some(title));
        assert_eq!(str_or_null(&line["conversation_external_id"]), Some("grp\"1\\\n</script>"));
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
    assert_eq!(lines[0]["time"], "2023-11-14T22:13:20.000Z");
    assert_eq!(lines[1]["time"], "2023-11-14T22:13:21.001Z");
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
    assert_eq!(last["conversation_external_id"], Value::Null);
    assert_eq!(last["text"], "yo");
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
    assert_eq!(html.matches("<li id=\"m").count(), 1_197);
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
    assert_eq!(lines[4]["conversation_title"], "a");
    assert_eq!(lines[4]["conversation_external_id"], "ext-a");

    let (n, text) = json_export(&ts, Some(&[]));
    assert_eq!((n, text.as_str()), (0, ""));

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
    assert!(!html.contains("id=\"m2\"") && !html.contains("id=\"m3\""));

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
    assert!(
        html.contains("<li id=\"m1\">") && html.contains("<li id=\"m2\">") && html.contains("<li id=\"m3\">")
    );
    assert!(html.contains("<a href=\"#m1\">"));
    assert!(html.contains("<time datetime=\"2023-11-14T22:13:20.000Z\">2023-11-14 22:13:20 UTC</time>"));
    assert!(html.contains("first\nsecond line"));
    assert_eq!(html.matches("(edited)").count(), 1);
    let edited = html.find("(edited)").unwrap();
    assert!(html.find("<li id=\"m3\">").unwrap() < edited);

    // Self-contained: no script, no external resource of any kind.
    let lower = html.to_lowercase();
    for bad in ["<script", "<link", "<iframe", "<img", "<object", "<embed", "src=", "url(", "@import", "//"] {
        assert!(!lower.contains(bad), "found {bad:?}");
    }
    for (i, _) in lower.match_indices("href=") {
        assert!(lower[i..].starts_with("href=\"#m"), "a non-local link at {i}");
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
    assert_eq!(json_export(&ts, None), (0, String::new()));
    let (n, html) = html_export(&ts, c);
    assert_eq!(n, 0);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("<ol>\n</ol>") && html.contains("0 messages"));
}
