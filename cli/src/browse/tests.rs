//! The browser against ratatui's TestBackend: rendering and key handling.

use chatvault::{
    AttachmentFilter, ConversationId, MessageId, NewAttachment, NewConversation, NewMessage, Store, StoreKey,
};
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use unicode_width::UnicodeWidthStr;

use super::app::{App, FETCH, Focus, MAX_WINDOW};
use super::view;

const BIG: u64 = 5_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    big: ConversationId,
}

/// Three conversations: "Big" with 5,000 messages (the oldest activity),
/// "Empty", and "Small" with three messages, the newest and two unread.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::create(dir.path().join("b.chatvault"), StoreKey::raw([9; 32])).expect("create");
    let conv = |title: &str| {
        store
            .create_conversation(NewConversation { title: title.into(), ..Default::default() })
            .expect("conversation")
    };
    let big = conv("Big");
    let batch: Vec<_> = (1..=BIG)
        .map(|i| {
            let text = format!("message number {i}");
            (
                big,
                NewMessage {
                    sender: "alice".into(),
                    sent_at_ms: 1_600_000_000_000 + i as i64,
                    text,
                    ..Default::default()
                },
            )
        })
        .collect();
    for chunk in batch.chunks(1000) {
        store.append_batch(chunk).expect("append");
    }
    store.mark_read(big, MessageId::new(big, BIG)).expect("read");
    conv("Empty");
    let small = conv("Small");
    for (i, text) in ["bonjour", "你好 👋", "line one\nline two"].into_iter().enumerate() {
        let m = NewMessage {
            sender: "bob".into(),
            sent_at_ms: 1_700_000_000_000 + i as i64,
            text: text.into(),
            ..Default::default()
        };
        let id = store.append(small, m).expect("append");
        if i == 0 {
            store.mark_read(small, id).expect("read");
        }
    }
    Fixture { _dir: dir, store, big }
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(110, 30)).expect("terminal")
}

fn render(app: &mut App<'_>, t: &mut Terminal<TestBackend>) -> Vec<String> {
    t.draw(|f| view::draw(app, f)).expect("draw");
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            let mut line = String::new();
            let mut x = 0;
            while x < buf.area.width {
                let symbol = buf[(x, y)].symbol();
                line.push_str(symbol);
                // A wide character covers the next cell too.
                x += u16::try_from(UnicodeWidthStr::width(symbol)).unwrap_or(1).max(1);
            }
            line
        })
        .collect()
}

fn press(app: &mut App<'_>, t: &mut Terminal<TestBackend>, code: KeyCode) -> Vec<String> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    render(app, t)
}

/// The sequence numbers of the history rows on screen, top to bottom.
fn visible_seqs(app: &App<'_>) -> Vec<u64> {
    let h = app.history.as_ref().expect("a conversation is open");
    h.window.iter().skip(h.top).take(app.rows).map(|m| m.id.seq()).collect()
}

fn open<'a>(fx: &'a Fixture, title: &str) -> (App<'a>, Terminal<TestBackend>) {
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    render(&mut app, &mut t);
    let i = app.list.iter().position(|s| s.conversation.title == title).expect("listed");
    for _ in 0..i {
        press(&mut app, &mut t, KeyCode::Down);
    }
    press(&mut app, &mut t, KeyCode::Enter);
    (app, t)
}

#[test]
fn the_list_shows_titles_last_messages_and_unread_counts() {
    let fx = fixture();
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("Conversations (3)"), "{screen}");
    // Most recent first: Small (with its last message and 2 unread), then Empty, then Big.
    let row = |title: &str| screen.lines().position(|l| l.contains(title)).expect(title);
    assert!(row("Small") < row("Empty") && row("Empty") < row("Big"), "{screen}");
    assert!(screen.lines().nth(row("Small")).is_some_and(|l| l.contains("▶ Small  2 unread")), "{screen}");
    assert!(screen.contains("bob: line one line two"), "line breaks shown as spaces: {screen}");
    assert!(screen.contains("(no messages)"), "{screen}");
    assert!(screen.contains("alice: message number 5000"), "{screen}");
    assert!(
        screen.lines().nth(row("Big")).is_some_and(|l| !l.contains("unread")),
        "Big is all read: {screen}"
    );
    assert!(screen.contains("Select a conversation and press Enter"), "{screen}");

    let screen = press(&mut app, &mut t, KeyCode::Down).join("\n");
    assert!(screen.lines().any(|l| l.contains("▶ Empty")), "Down moves the selection: {screen}");
    press(&mut app, &mut t, KeyCode::Down);
    let screen = press(&mut app, &mut t, KeyCode::Down).join("\n");
    assert!(screen.lines().any(|l| l.contains("▶ Big")), "the selection stops at the end: {screen}");
    assert_eq!(app.selected, 2);
    assert!(app.history.is_none(), "moving in the list opens nothing");
}

#[test]
fn enter_opens_the_newest_page_and_the_detail_pane_shows_the_selected_message() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Big");
    assert_eq!(app.focus, Focus::History);
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains(" Big · 5000 messages "), "{screen}");
    let seqs = visible_seqs(&app);
    assert_eq!(seqs.len(), app.rows, "the pane is full");
    assert_eq!(seqs.last(), Some(&BIG), "the newest message is at the bottom");
    assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "consecutive, oldest first: {seqs:?}");
    assert!(screen.contains("   5000 2020-09-13 12:26 alice: message number 5000"), "{screen}");
    assert!(screen.contains(&format!("{}/5000 · alice · 2020-09-13 12:26", fx.big)), "detail pane: {screen}");
    assert!(screen.contains("message 5000 ·") && screen.contains("last message"), "status line: {screen}");
    assert_eq!(
        app.history.as_ref().map(|h| h.window.len()),
        Some(FETCH),
        "one page loaded, not the conversation"
    );

    let screen = press(&mut app, &mut t, KeyCode::Up).join("\n");
    assert!(screen.contains("message 4999 ·"), "{screen}");
    assert!(screen.contains("last message"), "the end is still on screen: {screen}");
    assert_eq!(visible_seqs(&app).last(), Some(&BIG), "moving the selection inside the view does not scroll");
}

#[test]
fn page_up_walks_thousands_of_messages_to_the_oldest_with_a_bounded_window() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Big");
    let page = (app.rows - 1) as u64;
    let mut tops = vec![visible_seqs(&app)[0]];
    let mut presses = 0;
    while tops.last() != Some(&1) {
        press(&mut app, &mut t, KeyCode::PageUp);
        presses += 1;
        assert!(presses < 1000, "PageUp never reached the oldest message");
        let h = app.history.as_ref().expect("open");
        assert!(h.window.len() <= MAX_WINDOW, "window grew to {} messages", h.window.len());
        let seqs = visible_seqs(&app);
        assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "a gap or disorder on screen: {seqs:?}");
        tops.push(seqs[0]);
    }
    assert!(tops.windows(2).all(|w| w[1] < w[0]), "every PageUp moves up: {tops:?}");
    let first_top = BIG + 1 - app.rows as u64;
    assert_eq!(presses, (first_top - 1).div_ceil(page), "one screen (less a row of overlap) per press");
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("      1 2020-09-13 12:26 alice: message number 1"), "{screen}");
    assert!(screen.contains("first message") && !screen.contains("message 1 ·"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::PageUp).join("\n");
    assert_eq!(visible_seqs(&app)[0], 1);
    assert!(screen.contains("message 1 ·"), "PageUp at the top selects the first message: {screen}");

    // And back down, again through fetched pages.
    let mut presses = 0;
    while visible_seqs(&app).last() != Some(&BIG) {
        press(&mut app, &mut t, KeyCode::PageDown);
        presses += 1;
        assert!(presses < 1000, "PageDown never reached the newest message");
        assert!(app.history.as_ref().is_some_and(|h| h.window.len() <= MAX_WINDOW));
    }
    assert!(render(&mut app, &mut t).join("\n").contains("last message"));
}

#[test]
fn home_and_end_jump_to_the_oldest_and_newest_messages() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Big");
    let screen = press(&mut app, &mut t, KeyCode::Home).join("\n");
    assert_eq!(visible_seqs(&app)[0], 1);
    assert!(screen.contains("message 1 ·") && screen.contains("first message"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::Up).join("\n");
    assert!(screen.contains("message 1 ·"), "Up stops at the oldest: {screen}");
    let screen = press(&mut app, &mut t, KeyCode::End).join("\n");
    assert_eq!(visible_seqs(&app).last(), Some(&BIG));
    assert!(screen.contains("message 5000 ·"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::Down).join("\n");
    assert!(screen.contains("message 5000 ·"), "Down stops at the newest: {screen}");
}

#[test]
fn paging_skips_deleted_messages_and_visits_every_other_one_once() {
    let fx = fixture();
    let gone: Vec<u64> = vec![1, 2, 199, 200, 201, 2500, 4999];
    for &seq in &gone {
        fx.store.delete_message(MessageId::new(fx.big, seq)).expect("delete");
    }
    let (mut app, mut t) = open(&fx, "Big");
    press(&mut app, &mut t, KeyCode::Home);
    let mut seen =
        vec![app.history.as_ref().and_then(|h| h.selected()).map(|m| m.id.seq()).expect("selected")];
    loop {
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        let seq = app.history.as_ref().and_then(|h| h.selected()).map(|m| m.id.seq()).expect("selected");
        if Some(&seq) == seen.last() {
            break;
        }
        seen.push(seq);
    }
    let expected: Vec<u64> = (1..=BIG).filter(|s| !gone.contains(s)).collect();
    assert_eq!(seen, expected);
}

#[test]
fn left_goes_back_to_the_list_and_q_quits() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Small");
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("bob: 你好 👋"), "{screen}");
    assert!(screen.contains("line one line two"), "a row stays one line: {screen}");
    assert!(
        screen.contains("Small · 3 messages")
            && screen.contains("first message")
            && screen.contains("last message")
    );
    let screen = press(&mut app, &mut t, KeyCode::Left).join("\n");
    assert_eq!(app.focus, Focus::List);
    assert!(screen.contains("Enter open"), "the status line shows the list's keys: {screen}");
    assert!(screen.contains("Small · 3 messages"), "the history stays on screen: {screen}");
    assert!(!app.quit);
    press(&mut app, &mut t, KeyCode::Char('q'));
    assert!(app.quit);

    let (mut app, mut t) = open(&fx, "Small");
    app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit, "Ctrl-C quits from the history too");
    render(&mut app, &mut t);
}

#[test]
fn an_empty_conversation_and_an_empty_store_render() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Empty");
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("(no messages)") && screen.contains(" no messages · 0 of 0 loaded"), "{screen}");
    for key in [KeyCode::Up, KeyCode::PageUp, KeyCode::Home, KeyCode::End, KeyCode::PageDown, KeyCode::Down] {
        press(&mut app, &mut t, key);
    }
    assert!(app.error.is_none());

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::create(dir.path().join("e.chatvault"), StoreKey::raw([1; 32])).expect("create");
    let mut app = App::new(&store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("No conversations."), "{screen}");
    for key in [KeyCode::Down, KeyCode::Enter, KeyCode::End, KeyCode::Tab] {
        press(&mut app, &mut t, key);
    }
    assert!(app.history.is_none() && app.error.is_none());
}

#[test]
fn a_store_error_is_shown_in_the_status_line() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Big");
    fx.store.delete_conversation(fx.big).expect("delete");
    let screen = press(&mut app, &mut t, KeyCode::Home).join("\n");
    assert!(screen.contains("error: conversation") && screen.contains("not found"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::Left).join("\n");
    assert!(!screen.contains("error:"), "the next key clears it: {screen}");
}

#[test]
fn tiny_terminals_render_without_panicking() {
    let fx = fixture();
    for (w, h) in [(1, 1), (2, 3), (12, 5), (30, 9), (200, 4)] {
        let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        render(&mut app, &mut t);
        for key in
            [KeyCode::End, KeyCode::Enter, KeyCode::PageUp, KeyCode::Up, KeyCode::Home, KeyCode::PageDown]
        {
            press(&mut app, &mut t, key);
        }
        assert!(app.history.is_some() && app.error.is_none(), "{w}x{h}");
        assert!(app.rows >= 1);
    }
}

#[test]
fn a_tall_terminal_fills_its_pane_when_a_conversation_opens() {
    let fx = fixture();
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = Terminal::new(TestBackend::new(100, 600)).expect("terminal");
    render(&mut app, &mut t);
    press(&mut app, &mut t, KeyCode::End);
    press(&mut app, &mut t, KeyCode::Enter);
    assert!(app.rows > FETCH, "more rows than a fetch: {}", app.rows);
    let seqs = visible_seqs(&app);
    assert_eq!(seqs.len(), app.rows, "the pane is full");
    assert_eq!(seqs.last(), Some(&BIG));
    press(&mut app, &mut t, KeyCode::PageUp);
    assert_eq!(visible_seqs(&app).len(), app.rows);
    assert!(app.history.as_ref().is_some_and(|h| h.window.len() <= 3 * app.rows));
}

#[test]
fn r_reloads_the_list_and_the_open_conversation_sees_new_messages() {
    let fx = fixture();
    let (mut app, mut t) = open(&fx, "Small");
    let small = app.history.as_ref().map(|h| h.conversation).expect("open");
    let m = NewMessage {
        sender: "carol".into(),
        sent_at_ms: 1_800_000_000_000,
        text: "late news".into(),
        ..Default::default()
    };
    fx.store.append(small, m).expect("append");
    press(&mut app, &mut t, KeyCode::Down);
    assert!(!render(&mut app, &mut t).join("\n").contains("late news"), "not seen before a reload");
    press(&mut app, &mut t, KeyCode::Left);
    press(&mut app, &mut t, KeyCode::End);
    let screen = press(&mut app, &mut t, KeyCode::Char('r')).join("\n");
    assert!(screen.contains("carol: late news") && screen.contains("3 unread"), "{screen}");
    assert_eq!(app.selected, 2, "the selection stays in range");
    press(&mut app, &mut t, KeyCode::Tab);
    let screen = press(&mut app, &mut t, KeyCode::Down).join("\n");
    assert!(screen.contains("Small · 4 messages") && screen.contains("carol: late news"), "{screen}");
}

#[test]
fn slash_searches_and_a_hit_opens_its_conversation_at_the_message() {
    let fx = fixture();
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    render(&mut app, &mut t);
    press(&mut app, &mut t, KeyCode::Char('/'));
    assert_eq!(app.focus, Focus::Search);
    // Typed keys go to the query, `q` included.
    for c in "number 2500q".chars() {
        press(&mut app, &mut t, KeyCode::Char(c));
    }
    assert!(!app.quit);
    press(&mut app, &mut t, KeyCode::Backspace);
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert!(screen.contains("Search: 1 hit "), "{screen}");
    assert!(screen.contains("message number 2500"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert_eq!(app.focus, Focus::History);
    let h = app.history.as_ref().expect("opened");
    assert_eq!(h.conversation, fx.big);
    assert_eq!(h.selected().map(|m| m.id.seq()), Some(2500));
    assert!(visible_seqs(&app).contains(&2500));
    assert!(screen.contains("message 2500 ·"), "{screen}");
    // Scrolling on from the hit fetches both ways.
    press(&mut app, &mut t, KeyCode::End);
    assert_eq!(app.history.as_ref().and_then(|h| h.selected()).map(|m| m.id.seq()), Some(BIG));

    // CJK, and a query with no hit; Esc goes back.
    press(&mut app, &mut t, KeyCode::Char('/'));
    while app.search.as_ref().is_some_and(|s| !s.input.is_empty()) {
        press(&mut app, &mut t, KeyCode::Backspace);
    }
    press(&mut app, &mut t, KeyCode::Char('你'));
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert!(screen.contains("Search: 1 hit ") && screen.contains("Small"), "{screen}");
    press(&mut app, &mut t, KeyCode::Char('e'));
    press(&mut app, &mut t, KeyCode::Char('x'));
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert!(screen.contains("No messages match"), "{screen}");
    press(&mut app, &mut t, KeyCode::Esc);
    assert_eq!(app.focus, Focus::History);
    assert!(app.search.is_none());
}

/// A conversation "Media" of 300 messages, each with an attachment of
/// 1.2 MiB (content of a few bytes would do for the list, but the size
/// shown is the stored one), except: message 300 has five, message 299
/// none, and message 298's content was removed.
fn media_fixture() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::create(dir.path().join("m.chatvault"), StoreKey::raw([5; 32])).expect("create");
    let c = store
        .create_conversation(NewConversation { title: "Media".into(), ..Default::default() })
        .expect("conversation");
    let batch: Vec<_> = (1..=300)
        .map(|i| {
            let m = NewMessage {
                sender: "ann".into(),
                sent_at_ms: 1_700_000_000_000 + i,
                text: format!("photo {i}"),
                ..Default::default()
            };
            (c, m)
        })
        .collect();
    store.append_batch(&batch).expect("append");
    let attach = |seq: u64, name: &str, media_type: &str, len: usize| {
        let new = NewAttachment {
            media_type: media_type.into(),
            file_name: Some(name.into()),
            app_data: Vec::new(),
        };
        let data = vec![7u8; len];
        store.attach_from(MessageId::new(c, seq), new, &mut &data[..]).expect("attach")
    };
    for seq in 1..=298 {
        attach(seq, &format!("IMG_{seq:04}.jpg"), "image/jpeg", 1000 + seq as usize);
    }
    for i in 0..5 {
        attach(300, &format!("scan-{i}.pdf"), "application/pdf", 2048);
    }
    store
        .clear_attachments(&AttachmentFilter {
            min_bytes: Some(1298),
            media_type_prefix: Some("image/".into()),
            ..Default::default()
        })
        .expect("clear");
    (dir, store)
}

fn open_only(store: &Store) -> (App<'_>, Terminal<TestBackend>) {
    let mut app = App::new(store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    render(&mut app, &mut t);
    press(&mut app, &mut t, KeyCode::Enter);
    (app, t)
}

#[test]
fn attachments_show_under_their_messages_and_in_the_detail_pane() {
    let (_dir, store) = media_fixture();
    let (mut app, mut t) = open_only(&store);
    let screen = render(&mut app, &mut t).join("\n");
    // The newest message is selected, with its five attachments: three lines and a sum.
    assert!(screen.contains("photo 300"), "{screen}");
    assert!(screen.contains("📎 scan-0.pdf · application/pdf · 2.00 KiB"), "{screen}");
    assert!(screen.contains("📎 scan-2.pdf") && !screen.contains("📎 scan-3.pdf ·"), "{screen}");
    assert!(screen.contains("📎 … and 2 more"), "{screen}");
    assert!(screen.contains("📎 IMG_0298.jpg · image/jpeg · 1.27 KiB (removed)"), "{screen}");
    assert!(screen.contains("📎 IMG_0297.jpg · image/jpeg · 1.27 KiB"), "{screen}");
    assert!(!screen.contains("IMG_0297.jpg · image/jpeg · 1.27 KiB (removed)"), "{screen}");
    // The detail pane lists every attachment of the selected message, with its id.
    let detail = screen.lines().skip_while(|l| !l.contains("Message")).collect::<Vec<_>>().join("\n");
    assert!(detail.contains("scan-0.pdf"), "{detail}");
    assert!(screen.contains("last message"), "the end is on screen: {screen}");
    // Only the messages on screen had their attachments read.
    assert!(app.attachments.len() <= app.rows + 1, "{} read for {} rows", app.attachments.len(), app.rows);
    let h = app.history.as_ref().expect("open");
    assert!(h.window.len() > 2 * app.rows, "a larger window was loaded");
}

#[test]
fn paging_through_messages_with_attachments_shows_every_message() {
    let (_dir, store) = media_fixture();
    let (mut app, mut t) = open_only(&store);
    let mut seen = std::collections::BTreeSet::new();
    let mut presses = 0;
    loop {
        let screen = render(&mut app, &mut t);
        // The messages in the history pane: right of the list's border
        // (the detail pane's text has no "ann: ").
        let on_screen: Vec<u64> = screen
            .iter()
            .filter_map(|l| {
                let (_, pane) = l.split_once("││")?;
                let at = pane.find("ann: photo ")? + "ann: photo ".len();
                let l = pane;
                l[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
            })
            .collect();
        assert!(on_screen.windows(2).all(|w| w[0] + 1 == w[1]), "in order, no gap: {on_screen:?}");
        seen.extend(on_screen.iter().copied());
        let h = app.history.as_ref().expect("open");
        let selected = h.selected().map(|m| m.id.seq()).expect("a selection");
        assert!(on_screen.contains(&selected), "selected {selected} off screen: {on_screen:?}");
        if h.top == 0 && h.at_oldest {
            break;
        }
        press(&mut app, &mut t, KeyCode::PageUp);
        presses += 1;
        assert!(presses < 300, "PageUp never reached the oldest message");
    }
    let missing: Vec<u64> = (1..=300).filter(|n| !seen.contains(n)).collect();
    assert!(missing.is_empty(), "never on screen: {missing:?}");
    assert!(presses > 300 / app.rows, "pages of fewer messages than rows: {presses} presses");

    // Down, one message at a time to the newest: the selection and all its
    // attachment lines stay on screen.
    for _ in 0..300 {
        let screen = press(&mut app, &mut t, KeyCode::Down);
        let h = app.history.as_ref().expect("open");
        let seq = h.selected().map(|m| m.id.seq()).expect("a selection");
        let row = screen
            .iter()
            .position(|l| l.split_once("││").is_some_and(|(_, p)| p.contains(&format!("ann: photo {seq} "))))
            .unwrap_or_else(|| panic!("{seq} off screen:\n{}", screen.join("\n")));
        let below = &screen[row + 1..];
        if (1..=298).contains(&seq) {
            assert!(below[0].contains(&format!("IMG_{seq:04}.jpg")), "{seq}: {}", screen.join("\n"));
        }
    }
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("message 300 ·") && screen.contains("📎 … and 2 more"), "{screen}");
}

/// Noon UTC on 2024-01-01 plus `days`.
fn day_ms(days: i64) -> i64 {
    1_704_110_400_000 + days * 86_400_000
}

/// A conversation "Days" of 100 messages, one a day from 2024-01-01
/// (message n on day n - 1), where message 100 replies to message 3 and
/// message 99 to message 5, which is deleted; and the fixture's other
/// conversations.
fn days_fixture() -> (Fixture, ConversationId) {
    let fx = fixture();
    let c = fx
        .store
        .create_conversation(NewConversation { title: "Days".into(), ..Default::default() })
        .expect("conversation");
    for n in 1..=100u64 {
        let reply_to = match n {
            100 => Some(MessageId::new(c, 3)),
            99 => Some(MessageId::new(c, 5)),
            _ => None,
        };
        let m = NewMessage {
            sender: "dana".into(),
            sent_at_ms: day_ms(n as i64 - 1),
            text: format!("day {n}"),
            reply_to,
            ..Default::default()
        };
        fx.store.append(c, m).expect("append");
    }
    fx.store.delete_message(MessageId::new(c, 5)).expect("delete");
    (fx, c)
}

fn selected_seq(app: &App<'_>) -> Option<u64> {
    app.history.as_ref().and_then(|h| h.selected()).map(|m| m.id.seq())
}

fn type_text(app: &mut App<'_>, t: &mut Terminal<TestBackend>, text: &str) -> Vec<String> {
    let mut screen = Vec::new();
    for c in text.chars() {
        screen = press(app, t, KeyCode::Char(c));
    }
    screen
}

#[test]
fn the_status_line_tells_sequence_numbers_from_counts() {
    let (fx, _) = days_fixture();
    // Conversation "Days" holds 99 messages numbered up to 100.
    let (mut app, mut t) = open(&fx, "Days");
    let screen = render(&mut app, &mut t).join("\n");
    assert_eq!(selected_seq(&app), Some(100));
    let status = screen.lines().last().unwrap_or_default().to_owned();
    assert!(status.contains("message 100 ·"), "{status}");
    // A sequence number is never put over a count ("#100 of 99").
    assert!(status.starts_with(" message 100 · "), "{status}");
    assert!(status.contains("–100 on screen · 99 of 99 loaded"), "{status}");
    assert!(!status.contains('#'), "{status}");
}

#[test]
fn esc_in_the_list_does_not_quit_and_question_mark_shows_the_keys() {
    let fx = fixture();
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    render(&mut app, &mut t);
    press(&mut app, &mut t, KeyCode::Esc);
    assert!(!app.quit, "Esc in the list does not quit");
    let screen = press(&mut app, &mut t, KeyCode::Char('?')).join("\n");
    assert!(app.help);
    assert!(
        screen.contains("Keys") && screen.contains("go to a date") && screen.contains("mark it read"),
        "{screen}"
    );
    // Any key closes it (and does nothing else); q quits from it.
    let screen = press(&mut app, &mut t, KeyCode::Esc).join("\n");
    assert!(!app.help && !app.quit && !screen.contains("go to a date"), "{screen}");
    press(&mut app, &mut t, KeyCode::Char('?'));
    press(&mut app, &mut t, KeyCode::Down);
    assert!(!app.help && app.selected == 0, "the key that closes help does nothing else");
    press(&mut app, &mut t, KeyCode::Char('?'));
    press(&mut app, &mut t, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn m_marks_the_selected_or_open_conversation_read() {
    let fx = fixture();
    let mut app = App::new(&fx.store, TimeZone::UTC).expect("app");
    let mut t = terminal();
    let screen = render(&mut app, &mut t).join("\n");
    assert!(screen.contains("2 unread"), "{screen}");
    assert_eq!(app.list[0].conversation.title, "Small");
    let screen = press(&mut app, &mut t, KeyCode::Char('m')).join("\n");
    assert!(!screen.contains("unread") || !screen.contains("2 unread"), "{screen}");
    assert!(screen.contains("marked read up to"), "{screen}");
    let small = fx.store.conversations().expect("list");
    let small = small.iter().find(|s| s.conversation.title == "Small").expect("Small");
    assert_eq!(small.unread_count, 0, "the store's read marker moved");

    // From the open conversation too.
    let (fx, c) = days_fixture();
    let unread = |fx: &Fixture| {
        fx.store
            .conversations()
            .expect("list")
            .into_iter()
            .find(|s| s.conversation.id == c)
            .map(|s| s.unread_count)
    };
    assert_eq!(unread(&fx), Some(99));
    let (mut app, mut t) = open(&fx, "Days");
    press(&mut app, &mut t, KeyCode::Char('m'));
    assert_eq!(unread(&fx), Some(0));
    assert_eq!(app.focus, Focus::History);
}

#[test]
fn d_jumps_to_the_first_message_of_a_date() {
    let (fx, _) = days_fixture();
    let (mut app, mut t) = open(&fx, "Days");
    press(&mut app, &mut t, KeyCode::Char('d'));
    // Typed keys go to the date, q included.
    let screen = type_text(&mut app, &mut t, "2024-02-10").join("\n");
    assert!(screen.contains("go to date: 2024-02-10"), "{screen}");
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    // 2024-02-10 is day 40 from 2024-01-01: message 41.
    assert_eq!(selected_seq(&app), Some(41), "{screen}");
    assert!(screen.contains("day 41"), "{screen}");
    // The deleted message 5 is skipped: the first on 2024-01-05 is 6.
    press(&mut app, &mut t, KeyCode::Char('d'));
    type_text(&mut app, &mut t, "2024-01-05");
    press(&mut app, &mut t, KeyCode::Enter);
    assert_eq!(selected_seq(&app), Some(6));
    // Before the first message: the first; after the last: the newest, said.
    press(&mut app, &mut t, KeyCode::Char('d'));
    type_text(&mut app, &mut t, "2020-01-01");
    press(&mut app, &mut t, KeyCode::Enter);
    assert_eq!(selected_seq(&app), Some(1));
    press(&mut app, &mut t, KeyCode::Char('d'));
    type_text(&mut app, &mut t, "2030-01-01");
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert_eq!(selected_seq(&app), Some(100));
    assert!(screen.contains("no message on or after 2030-01-01"), "{screen}");
    // A bad date is an error in the status line; Esc cancels a date.
    press(&mut app, &mut t, KeyCode::Char('d'));
    type_text(&mut app, &mut t, "qq");
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert!(screen.contains("error:") && screen.contains("is not a date"), "{screen}");
    assert!(!app.quit);
    press(&mut app, &mut t, KeyCode::Char('d'));
    press(&mut app, &mut t, KeyCode::Esc);
    assert!(app.date.is_none() && app.focus == Focus::History);
}

#[test]
fn enter_follows_a_reply_and_backspace_comes_back() {
    let (fx, _) = days_fixture();
    let (mut app, mut t) = open(&fx, "Days");
    assert_eq!(selected_seq(&app), Some(100));
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert_eq!(selected_seq(&app), Some(3), "{screen}");
    assert!(screen.contains("day 3"), "{screen}");
    // Message 3 is not a reply: Enter stays.
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert_eq!(selected_seq(&app), Some(3));
    assert!(screen.contains("not a reply"), "{screen}");
    press(&mut app, &mut t, KeyCode::Backspace);
    assert_eq!(selected_seq(&app), Some(100), "back to the reply");
    let screen = press(&mut app, &mut t, KeyCode::Backspace).join("\n");
    assert_eq!(selected_seq(&app), Some(100));
    assert!(screen.contains("nothing to go back to"), "{screen}");
    // Message 99 replies to the deleted message 5.
    press(&mut app, &mut t, KeyCode::Up);
    let screen = press(&mut app, &mut t, KeyCode::Enter).join("\n");
    assert_eq!(selected_seq(&app), Some(99));
    assert!(screen.contains("was deleted"), "{screen}");
}
