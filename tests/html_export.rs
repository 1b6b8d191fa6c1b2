//! The HTML export read as a browser reads it (an HTML5 parser, no
//! screenshot): day headings in the caller's time zone, local times with the
//! exact instant kept, the user's own messages told apart, replies quoted and
//! linked to anchors that exist (across pages), page splitting with previous
//! and next links, the index page, escaping, files never replaced unless
//! asked and nothing of an earlier export left when they are, pages put in
//! place all or none, long names from senders, and attachments a browser
//! would run written as text (docs/EXPORT.md, "HTML").

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chatvault::{
    ConversationId, HtmlOptions, LocalZone, MessageId, NewAttachment, NewConversation, NewMessage, Plaintext,
};
use common::TestStore;
use scraper::{ElementRef, Html, Selector};

/// 2023-11-14T22:13:20.000Z, a Tuesday.
const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("a selector")
}

fn text_of(e: ElementRef<'_>) -> String {
    e.text().collect()
}

fn stream(ts: &TestStore, c: ConversationId, options: &HtmlOptions) -> Html {
    let mut out = Vec::new();
    ts.export_html_with(c, &mut out, options, Plaintext::Accept).expect("export");
    Html::parse_document(&String::from_utf8(out).expect("UTF-8"))
}

fn read(path: &Path) -> Html {
    Html::parse_document(&std::fs::read_to_string(path).expect("a page"))
}

fn attach(ts: &TestStore, m: MessageId, media_type: &str, name: &str, data: &[u8]) {
    let new =
        NewAttachment { media_type: media_type.into(), file_name: Some(name.into()), app_data: Vec::new() };
    ts.attach_from(m, new, &mut &data[..]).expect("attach");
}

fn send(ts: &TestStore, c: ConversationId, sender: &str, at: i64, text: &str) -> MessageId {
    ts.append(c, NewMessage { sent_at_ms: at, ..common::msg(sender, text) }).expect("append")
}

/// Central European time with a daylight-saving switch: CET (UTC+01:00)
/// before `switch`, CEST (UTC+02:00) from it.
fn cet_until(switch: i64) -> impl Fn(i64) -> LocalZone + Send + Sync + 'static {
    move |ms| {
        if ms < switch {
            LocalZone { offset_seconds: 3600, name: "CET".into() }
        } else {
            LocalZone { offset_seconds: 7200, name: "CEST".into() }
        }
    }
}

#[test]
fn days_and_times_are_local_in_the_zone_given() {
    let ts = TestStore::new();
    let c = ts.new_conv("Paris");
    // 2023-11-14 22:13:20 UTC is 23:13 in CET: still the 14th.
    send(&ts, c, "alice", T0, "evening");
    // 23:30 UTC is 00:30 CET: the 15th locally, though still the 14th in UTC.
    send(&ts, c, "bob", T0 + 77 * 60_000, "after local midnight");
    // Later on the 15th, after the zone switched to CEST.
    let switch = T0 + 10 * HOUR;
    send(&ts, c, "alice", switch - HOUR, "before the switch");
    send(&ts, c, "bob", switch + HOUR, "after the switch");
    // Two days later.
    send(&ts, c, "alice", T0 + 40 * HOUR, "two days on");

    let doc = stream(&ts, c, &HtmlOptions::new().zone(cet_until(switch)));
    let days: Vec<String> = doc.select(&sel("h2.day")).map(text_of).collect();
    assert_eq!(
        days,
        [
            "Tuesday 14 November 2023 CET (UTC+01:00)",
            "Wednesday 15 November 2023 CET (UTC+01:00)",
            "Thursday 16 November 2023 CEST (UTC+02:00)",
        ]
    );
    let day_dates: Vec<&str> =
        doc.select(&sel("h2.day time")).map(|t| t.value().attr("datetime").unwrap_or_default()).collect();
    assert_eq!(day_dates, ["2023-11-14", "2023-11-15", "2023-11-16"]);

    // Each message: local HH:MM shown, the exact UTC instant in `datetime`,
    // the date, seconds and zone in `title`; under its local day.
    let items: Vec<ElementRef<'_>> = doc.select(&sel("li.msg")).collect();
    let shown: Vec<(String, String, String)> = items
        .iter()
        .map(|li| {
            let t = li.select(&sel(".head > time")).next().expect("a time");
            (
                text_of(t),
                t.value().attr("datetime").unwrap_or_default().to_owned(),
                t.value().attr("title").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        shown[0],
        (
            "23:13".into(),
            "2023-11-14T22:13:20.000Z".into(),
            "Tuesday 14 November 2023 23:13:20 CET (UTC+01:00)".into()
        )
    );
    assert_eq!(shown[1].0, "00:30");
    assert_eq!(shown[1].1, "2023-11-14T23:30:20.000Z");
    assert_eq!(shown[2].0, "08:13");
    assert_eq!(
        shown[3],
        (
            "11:13".into(),
            "2023-11-15T09:13:20.000Z".into(),
            "Wednesday 15 November 2023 11:13:20 CEST (UTC+02:00)".into()
        )
    );
    assert_eq!(shown[4].0, "16:13");
    // The day that began in CET names CEST at the message after the switch.
    let zone_marks: Vec<String> =
        items.iter().map(|li| li.select(&sel(".head > .zone")).map(text_of).collect()).collect();
    assert_eq!(zone_marks, ["", "", "", "CEST (UTC+02:00)", ""]);

    // Which heading each message is under: the last one before it.
    let order: Vec<String> = doc
        .select(&sel("h2.day, li.msg"))
        .map(|e| {
            if e.value().name() == "h2" {
                "day".to_owned()
            } else {
                text_of(e.select(&sel(".text")).next().unwrap())
            }
        })
        .collect();
    assert_eq!(
        order,
        [
            "day",
            "evening",
            "day",
            "after local midnight",
            "before the switch",
            "after the switch",
            "day",
            "two days on"
        ]
    );

    // Without a zone: UTC, named so; the 23:30 UTC message stays on the 14th.
    let doc = stream(&ts, c, &HtmlOptions::new());
    let days: Vec<String> = doc.select(&sel("h2.day")).map(text_of).collect();
    assert_eq!(
        days,
        ["Tuesday 14 November 2023 UTC", "Wednesday 15 November 2023 UTC", "Thursday 16 November 2023 UTC"]
    );
    let first = doc.select(&sel("li.msg .head > time")).next().unwrap();
    assert_eq!(text_of(first), "22:13");
}

#[test]
fn own_messages_are_told_apart() {
    let ts = TestStore::new();
    let c = ts.new_conv("Chat");
    send(&ts, c, "me", T0, "mine");
    send(&ts, c, "alice", T0 + 1, "hers");
    send(&ts, c, "me ", T0 + 2, "someone else's, named almost like me");
    send(&ts, c, "me", T0 + 3, "mine again");
    let classes = |doc: &Html| -> Vec<bool> {
        doc.select(&sel("li.msg")).map(|li| li.value().classes().any(|k| k == "me")).collect()
    };
    let doc = stream(&ts, c, &HtmlOptions::new().me("me"));
    assert_eq!(classes(&doc), [true, false, false, true]);
    assert_eq!(doc.select(&sel("li.msg.me .text")).map(text_of).collect::<Vec<_>>(), ["mine", "mine again"]);
    // The style sheet sets them apart.
    let style: String = doc.select(&sel("style")).map(text_of).collect();
    assert!(style.contains("li.msg.me{"), "{style}");
    // Without `me`, nobody's.
    assert_eq!(classes(&stream(&ts, c, &HtmlOptions::new())), [false; 4]);
}

/// Every page of a paged export at `first`, by file name: `chat.html`,
/// `chat-2.html`, …, as many as there are.
fn pages(dir: &Path, stem: &str) -> BTreeMap<String, Html> {
    let mut out = BTreeMap::new();
    for k in 1.. {
        let name = if k == 1 { format!("{stem}.html") } else { format!("{stem}-{k}.html") };
        let path = dir.join(&name);
        if !path.exists() {
            break;
        }
        out.insert(name, read(&path));
    }
    out
}

/// The anchors (`id`s) of every page.
fn anchors(pages: &BTreeMap<String, Html>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (name, doc) in pages {
        for e in doc.select(&sel("[id]")) {
            out.insert((name.clone(), e.value().attr("id").unwrap_or_default().to_owned()));
        }
    }
    out
}

#[test]
fn large_conversations_are_paged_and_replies_link_across_pages() {
    let ts = TestStore::new();
    let c = ts.new_conv("Long");
    let mut ids = Vec::new();
    for i in 0..35 {
        let reply_to = match i {
            // On the same page, on the previous page, three pages back.
            3 => Some(ids[1]),
            12 => Some(ids[8]),
            // The first message of its page.
            25 => Some(ids[10]),
            33 => Some(ids[2]),
            _ => None,
        };
        let text = format!(
            "message {i} {}",
            if i == 2 { "with a rather long text ".repeat(10) } else { String::new() }
        );
        let id = ts
            .append(
                c,
                NewMessage { sent_at_ms: T0 + i * 60_000, reply_to, ..common::msg(&format!("s{i}"), &text) },
            )
            .unwrap();
        ids.push(id);
    }
    // A reply to a message deleted since: quoted as gone, not linked.
    let gone = send(&ts, c, "x", T0 + 40 * 60_000, "to be deleted");
    ts.append(
        c,
        NewMessage {
            sent_at_ms: T0 + 41 * 60_000,
            reply_to: Some(gone),
            ..common::msg("y", "reply to gone")
        },
    )
    .unwrap();
    ts.delete_message(gone).unwrap();

    let out = tempfile::tempdir().unwrap();
    let first = out.path().join("chat.html");
    let report = ts
        .export_html_to_file_with(c, &first, &HtmlOptions::new().messages_per_page(10), Plaintext::Accept)
        .expect("export");
    assert_eq!(report.messages, 36);
    let pages = pages(out.path(), "chat");
    let names: Vec<&str> = pages.keys().map(String::as_str).collect();
    assert_eq!(names, ["chat-2.html", "chat-3.html", "chat-4.html", "chat.html"]);
    let ordered = ["chat.html", "chat-2.html", "chat-3.html", "chat-4.html"];
    assert_eq!(report.pages, ordered.iter().map(|n| first.with_file_name(n)).collect::<Vec<_>>());
    assert!(report.index.is_none() && report.attachment_dirs.is_empty());

    // 10, 10, 10 and 6 messages; each page starts with a day heading.
    for (k, name) in ordered.iter().enumerate() {
        let doc = &pages[*name];
        let count = doc.select(&sel("li.msg")).count();
        assert_eq!(count, if k == 3 { 6 } else { 10 }, "{name}");
        let first_child = doc.select(&sel("h2.day, li.msg")).next().unwrap();
        assert_eq!(first_child.value().name(), "h2", "{name} starts with its day");
        // Previous and next links: to the neighbours that exist.
        let rel = |r: &str| -> BTreeSet<String> {
            doc.select(&sel(&format!("a[rel={r}]")))
                .map(|a| a.value().attr("href").unwrap().to_owned())
                .collect()
        };
        let prev: BTreeSet<String> = k.checked_sub(1).map(|p| ordered[p].to_owned()).into_iter().collect();
        let next: BTreeSet<String> = ordered.get(k + 1).map(|n| (*n).to_owned()).into_iter().collect();
        assert_eq!((rel("prev"), rel("next")), (prev, next), "{name}");
    }
    // The count is on the last page.
    assert_eq!(pages["chat-4.html"].select(&sel("footer")).map(text_of).collect::<String>(), "36 messages");

    // Every reply link resolves to an anchor on the page it names, and the
    // anchor is the replied-to message, whose sender the quote names.
    let anchors = anchors(&pages);
    let mut links = Vec::new();
    for name in ordered {
        for quote in pages[name].select(&sel("blockquote.reply")) {
            let reply_li = quote.parent().and_then(ElementRef::wrap).unwrap();
            let from = reply_li.value().attr("id").unwrap().to_owned();
            match quote.select(&sel("a")).next() {
                Some(a) => {
                    let href = a.value().attr("href").unwrap();
                    let (file, anchor) = href.split_once('#').unwrap();
                    let file = if file.is_empty() { name } else { file };
                    assert!(anchors.contains(&(file.to_owned(), anchor.to_owned())), "{href} from {name}");
                    let target = pages[file].select(&sel(&format!("li#{anchor} .sender"))).next().unwrap();
                    assert_eq!(text_of(a), format!("↩ {}", text_of(target)));
                    links.push((name, from, href.to_owned()));
                }
                None => links.push((name, from, text_of(quote))),
            }
        }
    }
    assert_eq!(
        links,
        [
            ("chat.html", "m-4".into(), "#m-2".into()),
            ("chat-2.html", "m-13".into(), "chat.html#m-9".into()),
            ("chat-3.html", "m-26".into(), "chat-2.html#m-11".into()),
            ("chat-4.html", "m-34".into(), "chat.html#m-3".into()),
            ("chat-4.html", "m-37".into(), "↩ a message that is no longer here".into()),
        ]
    );
    // The quote is an excerpt: one line, cut with an ellipsis.
    let quoted: String = pages["chat-4.html"].select(&sel("li#m-34 blockquote p")).map(text_of).collect();
    assert!(quoted.starts_with("message 2 with a rather long text") && quoted.ends_with('…'), "{quoted}");
    assert!(quoted.chars().count() <= 101, "{quoted}");

    // A stream is one page whatever the option says, links all local.
    let doc = stream(&ts, c, &HtmlOptions::new().messages_per_page(10));
    assert_eq!(doc.select(&sel("li.msg")).count(), 36);
    assert_eq!(doc.select(&sel("a[rel]")).count(), 0);
    let hrefs: Vec<&str> =
        doc.select(&sel("blockquote a")).map(|a| a.value().attr("href").unwrap()).collect();
    assert_eq!(hrefs, ["#m-2", "#m-9", "#m-11", "#m-3"]);
}

#[test]
fn an_index_page_links_every_conversation() {
    let ts = TestStore::new();
    let a = ts.new_conv("Alpha");
    let b = ts.new_conv("Beta <b>");
    let empty = ts.new_conv("Nobody");
    for i in 0..25 {
        send(&ts, a, "me", T0 + i * HOUR, &format!("a{i}"));
    }
    let m = send(&ts, b, "bob", T0, "with a picture");
    attach(&ts, m, "image/png", "p.png", b"not really a png");

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    let options = HtmlOptions::new().messages_per_page(20).me("me");
    let report =
        ts.export_html_to_dir(&dir, Some(&[b, a, empty, b]), &options, Plaintext::Accept).expect("export");
    assert_eq!((report.conversations, report.messages), (3, 26));
    assert_eq!(report.index.as_deref(), Some(dir.join("index.html").as_path()));
    assert_eq!(report.attachment_dirs, [dir.join(format!("conversation-{}_files", b.get()))]);

    let index = read(&dir.join("index.html"));
    let entries: Vec<(String, String)> = index
        .select(&sel("ul.index > li > a"))
        .map(|a| (a.value().attr("href").unwrap().to_owned(), text_of(a)))
        .collect();
    assert_eq!(
        entries,
        [
            (format!("conversation-{}.html", b.get()), "Beta <b>".to_owned()),
            (format!("conversation-{}.html", a.get()), "Alpha".to_owned()),
            (format!("conversation-{}.html", empty.get()), "Nobody".to_owned()),
        ],
        "in the order asked, each once"
    );
    let notes: Vec<String> = index.select(&sel("ul.index > li .note")).map(text_of).collect();
    assert_eq!(notes[1], "· 25 messages on 2 pages · 2023-11-14 to 2023-11-15");
    assert_eq!(notes[2], "· 0 messages");
    // Each linked page exists and links back to the index; the second page of
    // a too.
    for (href, title) in &entries {
        let page = read(&dir.join(href));
        assert_eq!(page.select(&sel("h1")).map(text_of).collect::<String>(), *title);
        let back: Vec<&str> = page.select(&sel("a.index")).map(|a| a.value().attr("href").unwrap()).collect();
        assert_eq!(back, ["index.html"]);
    }
    let second = read(&dir.join(format!("conversation-{}-2.html", a.get())));
    assert_eq!(second.select(&sel("li.msg.me")).count(), 5);
    assert_eq!(second.select(&sel("a.index")).count(), 1);
    // The attachment is beside its page, linked from it.
    let page_b = read(&dir.join(format!("conversation-{}.html", b.get())));
    let img = page_b.select(&sel(".att img")).next().unwrap().value().attr("src").unwrap().to_owned();
    assert!(dir.join(&img).is_file(), "{img}");

    // Nothing else in the directory: no temporary file left.
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut expected = vec![
        format!("conversation-{}-2.html", a.get()),
        format!("conversation-{}.html", a.get()),
        format!("conversation-{}.html", b.get()),
        format!("conversation-{}_files", b.get()),
        format!("conversation-{}.html", empty.get()),
        "index.html".to_owned(),
    ];
    expected.sort();
    assert_eq!(names, expected);

    // Again into the same directory: nothing replaced without asking.
    let before = std::fs::read(dir.join("index.html")).unwrap();
    let err = ts.export_html_to_dir(&dir, Some(&[a]), &HtmlOptions::new(), Plaintext::Accept).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(dir.join("index.html")).unwrap(), before);
    // Allowed to replace: done (a's pages and the index), and what the
    // earlier export wrote that this one does not is gone: a's second page
    // (one page now), b's and the empty conversation's pages, b's
    // attachments. Anything not named as the export names its files stays.
    for other in ["notes.txt", "conversation-1.html.bak", "conversation-x.html", "my-conversation-2.html"] {
        std::fs::write(dir.join(other), "mine").unwrap();
    }
    std::fs::create_dir(dir.join("conversation-999_files")).unwrap();
    std::fs::write(dir.join("conversation-999_files").join("mine.txt"), "mine").unwrap();
    let report = ts
        .export_html_to_dir(&dir, Some(&[a]), &HtmlOptions::new().replace_existing(true), Plaintext::Accept)
        .expect("replacing");
    assert_eq!(read(&dir.join("index.html")).select(&sel("ul.index > li")).count(), 1);
    let mut removed: Vec<String> =
        report.removed.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
    removed.sort();
    let mut expected_removed = vec![
        format!("conversation-{}-2.html", a.get()),
        format!("conversation-{}.html", b.get()),
        format!("conversation-{}_files", b.get()),
        format!("conversation-{}.html", empty.get()),
    ];
    expected_removed.sort();
    assert_eq!(removed, expected_removed);
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut expected = vec![
        format!("conversation-{}.html", a.get()),
        "conversation-1.html.bak".to_owned(),
        "conversation-999_files".to_owned(),
        "conversation-x.html".to_owned(),
        "index.html".to_owned(),
        "my-conversation-2.html".to_owned(),
        "notes.txt".to_owned(),
    ];
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn every_string_is_escaped_and_no_script_runs() {
    const EVIL: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>&amp;\"";
    let ts = TestStore::new();
    let c = ts
        .create_conversation(NewConversation {
            title: format!("title {EVIL}"),
            members: vec![format!("member {EVIL}")],
            ..Default::default()
        })
        .unwrap();
    let first = send(&ts, c, &format!("sender {EVIL}"), T0, &format!("text {EVIL}"));
    let reply = ts
        .append(
            c,
            NewMessage {
                reply_to: Some(first),
                sent_at_ms: T0 + 1,
                ..common::msg("me", &format!("reply {EVIL}"))
            },
        )
        .unwrap();
    attach(&ts, reply, "text/plain", &format!("file {EVIL}.txt"), b"content");
    let zone = |_ms: i64| LocalZone { offset_seconds: 0, name: format!("zone {EVIL}") };

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("all");
    ts.export_html_to_dir(&dir, None, &HtmlOptions::new().zone(zone), Plaintext::Accept).expect("export");
    let page = read(&dir.join(format!("conversation-{}.html", c.get())));
    let index = read(&dir.join("index.html"));
    for doc in [&page, &index] {
        assert_eq!(
            doc.select(&sel("script, img[onerror], img[src=x]")).count(),
            0,
            "no element from the data"
        );
    }
    // The parser gives back exactly the strings stored: escaped, not dropped.
    let texts = |s: &str| page.select(&sel(s)).map(text_of).collect::<Vec<_>>();
    assert_eq!(page.select(&sel("title")).map(text_of).collect::<String>(), format!("title {EVIL}"));
    assert_eq!(texts("h1"), [format!("title {EVIL}")]);
    assert_eq!(texts("header .note")[0], format!("Members: member {EVIL}"));
    assert_eq!(texts("li.msg .head > .sender"), [format!("sender {EVIL}"), "me".to_owned()]);
    assert_eq!(texts("li.msg .text"), [format!("text {EVIL}"), format!("reply {EVIL}")]);
    assert_eq!(texts("blockquote .sender"), [format!("sender {EVIL}")]);
    assert_eq!(texts("blockquote p"), [format!("text {EVIL}")]);
    assert_eq!(texts("h2.day .zone"), [format!("zone {EVIL} (UTC+00:00)")]);
    let att = texts(".att a");
    assert_eq!(att, [format!("file {EVIL}.txt")]);
    assert_eq!(index.select(&sel("ul.index a")).map(text_of).collect::<String>(), format!("title {EVIL}"));
    let time_title =
        page.select(&sel("li.msg time")).next().unwrap().value().attr("title").unwrap().to_owned();
    assert!(time_title.ends_with(&format!("zone {EVIL} (UTC+00:00)")), "{time_title}");
}

#[test]
fn a_page_is_not_written_over_an_existing_file_unless_asked() {
    let ts = TestStore::new();
    let c = ts.new_conv("c");
    for i in 0..5 {
        send(&ts, c, "a", T0 + i, &format!("m{i}"));
    }
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    // The first page, then a later page, already there.
    for existing in ["chat.html", "chat-3.html"] {
        let path = out.path().join(existing);
        std::fs::write(&path, "keep me").unwrap();
        let options = HtmlOptions::new().messages_per_page(2);
        let err = ts.export_html_to_file_with(c, &page, &options, Plaintext::Accept).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
        let mut names: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [existing], "nothing else written, no temporary file left");
        // Asked to: replaced.
        let report = ts
            .export_html_to_file_with(c, &page, &options.clone().replace_existing(true), Plaintext::Accept)
            .expect("replace");
        assert_eq!(report.pages.len(), 3);
        assert!(std::fs::read_to_string(&path).unwrap().contains("<!DOCTYPE html>"));
        for p in &report.pages {
            std::fs::remove_file(p).unwrap();
        }
    }
    // Never the store's own file, even allowed to replace files.
    let store_file = ts.path.clone();
    let everything = HtmlOptions::new().replace_existing(true);
    let err = ts.export_html_to_file_with(c, &store_file, &everything, Plaintext::Accept).unwrap_err();
    assert!(matches!(&err, chatvault::Error::InvalidArgument(m) if m.contains("own file")), "{err:?}");
    let wal = store_file.with_file_name("test.chatvault-wal");
    assert!(ts.export_html_to_file_with(c, &wal, &everything, Plaintext::Accept).is_err());
    assert_eq!(ts.messages(c, chatvault::Page::oldest(10)).unwrap().len(), 5, "the store is intact");

    // The streaming-era function keeps replacing, as documented.
    std::fs::write(&page, "old").unwrap();
    assert_eq!(ts.export_html_to_file(c, &page, Plaintext::Accept).unwrap(), 5);
    assert!(std::fs::read_to_string(&page).unwrap().contains("m4"));
}

#[test]
fn a_forced_export_leaves_no_page_of_deleted_messages() {
    let ts = TestStore::new();
    let c = ts.new_conv("c");
    let ids: Vec<MessageId> = (0..6).map(|i| send(&ts, c, "a", T0 + i, &format!("m{i}"))).collect();
    let m = ids[5];
    attach(&ts, m, "image/png", "p.png", b"picture");
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    let options = HtmlOptions::new().messages_per_page(2).replace_existing(true);
    let first = ts.export_html_to_file_with(c, &page, &options, Plaintext::Accept).expect("export");
    assert_eq!(first.pages.len(), 3);
    assert!(first.removed.is_empty());
    assert!(std::fs::read_to_string(out.path().join("chat-3.html")).unwrap().contains("m5"));
    // Files of the same names that are not this export's pages.
    for other in ["chat-notes.html", "chat-03.html", "chat-4.htm", "chat-4.html.bak"] {
        std::fs::write(out.path().join(other), "mine").unwrap();
    }

    // The last two messages go (one with the picture), and the export is
    // done again over the first.
    ts.delete_messages(&ids[4..]).unwrap();
    let again = ts.export_html_to_file_with(c, &page, &options, Plaintext::Accept).expect("export");
    assert_eq!(again.pages.len(), 2);
    assert_eq!(again.removed, [out.path().join("chat-3.html"), out.path().join("chat_files")]);
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["chat-03.html", "chat-2.html", "chat-4.htm", "chat-4.html.bak", "chat-notes.html", "chat.html"]
    );
    for (_, doc) in pages(out.path(), "chat") {
        let texts: Vec<String> = doc.select(&sel("li.msg .text")).map(text_of).collect();
        assert!(!texts.iter().any(|t| t == "m4" || t == "m5"), "{texts:?}");
    }
}

#[test]
fn a_directory_where_a_page_goes_fails_the_export_before_any_page_is_written() {
    let ts = TestStore::new();
    let c = ts.new_conv("c");
    for i in 0..5 {
        send(&ts, c, "a", T0 + i, &format!("m{i}"));
    }
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("chat-2.html")).unwrap();
    let options = HtmlOptions::new().messages_per_page(2).replace_existing(true);
    let err = ts
        .export_html_to_file_with(c, out.path().join("chat.html"), &options, Plaintext::Accept)
        .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["chat-2.html"], "no page (not chat-3.html either), no temporary file");
}

#[test]
fn long_names_from_a_chat_partner_still_export() {
    let ts = TestStore::new();
    let c = ts.new_conv("c");
    let m = send(&ts, c, "bob", T0, "files with long names");
    // 100 ideographs: 300 bytes of UTF-8, more than a file name may hold.
    let long = format!("{}.jpg", "照".repeat(100));
    attach(&ts, m, "image/jpeg", &long, b"jpeg");
    attach(&ts, m, "application/pdf", &"é".repeat(200), b"pdf");
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    let report =
        ts.export_html_to_file_with(c, &page, &HtmlOptions::new(), Plaintext::Accept).expect("export");
    let dir = &report.attachment_dirs[0];
    let mut on_disk: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    on_disk.sort();
    assert_eq!(on_disk.len(), 2);
    assert!(on_disk.iter().all(|n| n.len() <= 200), "{on_disk:?}");
    assert!(on_disk.iter().any(|n| n.ends_with("照照.jpg")), "{on_disk:?}");
    // Each is linked, and the image shown.
    let doc = read(&page);
    let hrefs: BTreeSet<String> =
        doc.select(&sel(".att a[href]")).map(|a| a.value().attr("href").unwrap().to_owned()).collect();
    assert_eq!(hrefs.len(), 2);
    assert_eq!(doc.select(&sel(".att img")).count(), 1);

    // A page name longer than a file name may be: a clear error, nothing written.
    let too_long = out.path().join(format!("{}.html", "照".repeat(90)));
    let err = ts.export_html_to_file_with(c, &too_long, &HtmlOptions::new(), Plaintext::Accept).unwrap_err();
    assert!(err.to_string().contains("the page name") && err.to_string().contains("bytes long"), "{err}");
    // A page name that fits, but not its attachment directory's
    // (`<stem>_files`): as clear, and nothing written.
    let dir_too_long = out.path().join(format!("{}x.html", "照".repeat(83)));
    assert_eq!(dir_too_long.file_name().unwrap().len(), 255);
    let err =
        ts.export_html_to_file_with(c, &dir_too_long, &HtmlOptions::new(), Plaintext::Accept).unwrap_err();
    assert!(err.to_string().contains("attachment directory name"), "{err}");
    // The longest that fits (a 249-byte stem: 255 bytes of directory name)
    // exports, temporary files and all.
    let longest = out.path().join(format!("{}.html", "照".repeat(83)));
    let report =
        ts.export_html_to_file_with(c, &longest, &HtmlOptions::new(), Plaintext::Accept).expect("longest");
    assert_eq!(report.attachment_dirs[0].file_name().unwrap().len(), 255);
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "chat.html, chat_files and the longest's: {names:?}");
}

#[test]
fn attachments_a_browser_would_run_are_written_as_text_and_never_shown() {
    let ts = TestStore::new();
    let c = ts.new_conv("c");
    let m = send(&ts, c, "mallory", T0, "open these");
    let script = b"<script>alert(document.cookie)</script>";
    attach(&ts, m, "text/html", "x.html", script);
    attach(
        &ts,
        m,
        "image/svg+xml",
        "x.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
    );
    attach(&ts, m, "application/xhtml+xml", "x.xhtml", script);
    attach(&ts, m, "image/png", "x.html", b"not a png");
    attach(&ts, m, "application/octet-stream", "payload", b"?");
    attach(&ts, m, "image/png", "fine.png", b"png");
    let out = tempfile::tempdir().unwrap();
    let page = out.path().join("chat.html");
    let report =
        ts.export_html_to_file_with(c, &page, &HtmlOptions::new(), Plaintext::Accept).expect("export");
    let doc = read(&page);
    // The links by name (not those around the images).
    let hrefs: Vec<String> = doc
        .select(&sel(".att > a[href]"))
        .filter(|a| a.select(&sel("img")).next().is_none())
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    let ends: Vec<&str> = hrefs.iter().map(|h| h.rsplit_once('-').unwrap().1).collect();
    assert_eq!(ends, ["x.html.txt", "x.svg.txt", "x.xhtml.txt", "x.html.png", "payload.bin", "fine.png"]);
    let inline: Vec<&str> = doc.select(&sel(".att img")).map(|i| i.value().attr("src").unwrap()).collect();
    assert_eq!(inline.len(), 2, "the two PNGs, never the SVG: {inline:?}");
    assert!(inline.iter().all(|s| s.ends_with(".png")), "{inline:?}");
    // The files are there under those names, with their content.
    let dir = &report.attachment_dirs[0];
    let html = hrefs[0].split_once('/').unwrap().1;
    assert_eq!(std::fs::read(dir.join(html)).unwrap(), script);
    for name in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()) {
        let ext = name.rsplit_once('.').unwrap().1;
        assert!(["txt", "png", "bin"].contains(&ext), "{name}");
    }
}

#[test]
fn the_index_dates_span_the_earliest_to_the_latest_message() {
    let ts = TestStore::new();
    let c = ts.new_conv("clocks");
    // Sent in this order, with times from senders' clocks that disagree.
    send(&ts, c, "a", T0 + 48 * HOUR, "middle");
    send(&ts, c, "b", T0 + 96 * HOUR, "latest");
    send(&ts, c, "a", T0, "earliest");
    send(&ts, c, "b", T0 + 24 * HOUR, "last sent");
    let out = tempfile::tempdir().unwrap();
    ts.export_html_to_dir(out.path().join("x"), None, &HtmlOptions::new(), Plaintext::Accept)
        .expect("export");
    let index = read(&out.path().join("x").join("index.html"));
    let note: String = index.select(&sel("ul.index > li .note")).map(text_of).collect();
    assert_eq!(note, "· 4 messages · 2023-11-14 to 2023-11-18");
}
