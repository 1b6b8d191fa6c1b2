//! Drawing the browser: conversation list, history pane, message detail
//! and status line.

use chatvault::{Attachment, Message, MessageId};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::app::{ATTACHMENT_LINES, App, Focus, History, lines_for};
use crate::output::{self, one_line};

/// Height of the pane showing the selected message in full.
const DETAIL_ROWS: u16 = 6;

pub fn draw(app: &mut App<'_>, frame: &mut Frame<'_>) {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(main);
    if app.focus == Focus::Search {
        draw_search(app, frame, left);
    } else {
        draw_list(app, frame, left);
    }
    draw_history(app, frame, right);
    draw_status(app, frame, status);
    if app.help {
        draw_help(frame, main);
    }
}

/// Every key, by where it works.
const HELP: &[(&str, &str)] = &[
    ("Conversation list", ""),
    ("↑↓ j k, PgUp PgDn", "select a conversation"),
    ("Home End g G", "the first, the last"),
    ("Enter → l", "open it"),
    ("Tab", "to the open conversation"),
    ("m", "mark it read"),
    ("r", "read the list again"),
    ("Conversation", ""),
    ("↑↓ j k", "select a message"),
    ("PgUp PgDn b f Space", "a page older, newer"),
    ("Home End g G", "the oldest, the newest message"),
    ("d", "go to a date (YYYY-MM-DD)"),
    ("Enter", "go to the message it replies to"),
    ("Backspace", "back to the reply"),
    ("m", "mark the conversation read"),
    ("← h Esc Tab", "back to the list"),
    ("Anywhere", ""),
    ("/", "search every conversation (Esc closes it)"),
    ("?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit"),
];

/// The help screen, over the panes.
fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|&(keys, what)| {
            if what.is_empty() {
                Line::styled(keys, Style::default().add_modifier(Modifier::BOLD))
            } else {
                Line::from(vec![
                    Span::styled(format!("  {keys:<22}"), Style::default().fg(Color::Cyan)),
                    Span::raw(what),
                ])
            }
        })
        .collect();
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX).min(area.height);
    let width = 66.min(area.width);
    let popup =
        Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(" Keys (any key closes) ");
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn focused(is: bool) -> Style {
    if is { Style::default().fg(Color::Cyan) } else { Style::default().fg(Color::DarkGray) }
}

fn draw_list(app: &mut App<'_>, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(focused(app.focus == Focus::List))
        .title(format!(" Conversations ({}) ", app.list.len()));
    app.list_rows = usize::from(area.height.saturating_sub(2) / 2);
    if app.list.is_empty() {
        let hint = Paragraph::new("No conversations.\nAdd one with `chatvault new`.").block(block);
        frame.render_widget(hint, area);
        return;
    }
    let items: Vec<ListItem<'_>> = app
        .list
        .iter()
        .map(|s| {
            let c = &s.conversation;
            let mut head =
                vec![Span::styled(one_line(&c.title), Style::default().add_modifier(Modifier::BOLD))];
            if s.unread_count > 0 {
                head.push(Span::styled(
                    format!("  {} unread", s.unread_count),
                    Style::default().fg(Color::Yellow),
                ));
            }
            let last = s
                .last_message
                .as_ref()
                .map(|m| format!("  {}: {}", one_line(&m.sender), one_line(&m.text)))
                .unwrap_or_else(|| "  (no messages)".to_owned());
            ListItem::new(Text::from(vec![
                Line::from(head),
                Line::styled(last, Style::default().fg(Color::Gray)),
            ]))
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_symbol("▶ ")
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(list, area, &mut state);
}

/// The search pane: the query being typed, then its hits, newest first,
/// each with its conversation and the words that matched in bold.
fn draw_search(app: &mut App<'_>, frame: &mut Frame<'_>, area: Rect) {
    let Some(search) = app.search.as_ref() else { return };
    let title = if search.typing {
        " Search ".to_owned()
    } else {
        format!(
            " Search: {}{} ",
            output::plural(search.hits.len() as u64, "hit"),
            if search.more { "+" } else { "" }
        )
    };
    let block = Block::default().borders(Borders::ALL).border_style(focused(true)).title(title);
    let [input_area, hits_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(block.inner(area));
    frame.render_widget(block, area);
    let cursor = if search.typing { "▏" } else { "" };
    frame.render_widget(Paragraph::new(format!("/{}{cursor}", one_line(&search.input))), input_area);
    if search.typing {
        return;
    }
    if search.hits.is_empty() {
        frame.render_widget(Paragraph::new("No messages match."), hits_area);
        return;
    }
    let title_of = |c: chatvault::ConversationId| {
        app.list
            .iter()
            .find(|s| s.conversation.id == c)
            .map_or_else(|| c.to_string(), |s| one_line(&s.conversation.title))
    };
    let items: Vec<ListItem<'_>> = search
        .hits
        .iter()
        .map(|h| {
            let m = &h.message;
            let head = format!(
                "{} · {} · {}",
                title_of(m.id.conversation()),
                output::time(m.sent_at_ms, &app.tz),
                one_line(&m.sender)
            );
            let mut text = vec![Span::raw("  ")];
            let mut at = 0;
            for r in &h.ranges {
                if let (Some(before), Some(hit)) = (m.text.get(at..r.start), m.text.get(r.clone())) {
                    text.push(Span::raw(one_line(before)));
                    text.push(Span::styled(
                        one_line(hit),
                        Style::default().add_modifier(Modifier::BOLD).fg(Color::Yellow),
                    ));
                    at = r.end;
                }
            }
            text.push(Span::raw(one_line(m.text.get(at..).unwrap_or(""))));
            ListItem::new(Text::from(vec![
                Line::styled(head, Style::default().fg(Color::Gray)),
                Line::from(text),
            ]))
        })
        .collect();
    let list = List::new(items)
        .highlight_symbol("▶ ")
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(search.selected));
    frame.render_stateful_widget(list, hits_area, &mut state);
}

fn draw_history(app: &mut App<'_>, frame: &mut Frame<'_>, area: Rect) {
    let style = focused(app.focus == Focus::History);
    let [rows_area, detail_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(DETAIL_ROWS)]).areas(area);
    let rows = usize::from(rows_area.height.saturating_sub(2)).max(1);
    app.rows = rows;
    let Some(h) = app.history.as_mut() else {
        let hint = Paragraph::new("Select a conversation and press Enter.")
            .block(Block::default().borders(Borders::ALL).border_style(style).title(" History "));
        frame.render_widget(hint, area);
        return;
    };
    // After a resize: keep the selection in view, and the pane full.
    if h.cursor >= h.top + rows {
        h.top = h.cursor + 1 - rows;
    }
    h.top = h.top.min(h.window.len().saturating_sub(rows));
    let (top, cursor) = (h.top, h.cursor);
    let ids: Vec<MessageId> = h.window.iter().map(|m| m.id).collect();
    let (top, shown) = fit_attachment_lines(app, &ids, top, cursor, rows);
    let Some(h) = app.history.as_mut() else { return };
    h.top = top;
    h.shown = Some(shown);
    let Some(h) = app.history.as_ref() else { return };
    let block = Block::default().borders(Borders::ALL).border_style(style).title(format!(
        " {} · {} ",
        one_line(&h.title),
        output::plural(h.total, "message")
    ));
    let none = Vec::new();
    let attached = |m: &Message| app.attachments.get(&m.id).unwrap_or(&none);
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(rows);
    for (i, m) in h.window.iter().enumerate().skip(h.top) {
        if lines.len() >= rows {
            break;
        }
        let line = Line::from(message_line(m, &app.tz));
        lines.push(if i == h.cursor {
            line.style(Style::default().add_modifier(Modifier::REVERSED))
        } else {
            line
        });
        let list = attached(m);
        let dim = Style::default().fg(Color::Gray);
        let shown = if list.len() > ATTACHMENT_LINES { ATTACHMENT_LINES } else { list.len() };
        for a in &list[..shown] {
            lines.push(Line::styled(format!("{:>8}{}", "", output::attachment_line(a)), dim));
        }
        if list.len() > shown {
            lines.push(Line::styled(format!("{:>8}📎 … and {} more", "", list.len() - shown), dim));
        }
    }
    lines.truncate(rows);
    let body = if lines.is_empty() { Paragraph::new("(no messages)") } else { Paragraph::new(lines) };
    frame.render_widget(body.block(block), rows_area);
    let detail = h.selected().map(|m| detail_text(m, attached(m), &app.tz)).unwrap_or_default();
    let detail = Paragraph::new(detail)
        .wrap(Wrap { trim: false })
        .block(Block::default().borders(Borders::ALL).border_style(style).title(" Message "));
    frame.render_widget(detail, detail_area);
}

/// Where the view starts, so that the selected message and its attachment
/// lines are on screen (and the pane full at the end of the window), and
/// how many messages then fit whole. Reads the attachments of the messages
/// that come on screen, and of no other.
fn fit_attachment_lines(
    app: &mut App<'_>,
    ids: &[MessageId],
    mut top: usize,
    cursor: usize,
    rows: usize,
) -> (usize, usize) {
    let height = |app: &mut App<'_>, i: usize| lines_for(app.attachments_of(ids[i]).len());
    if ids.is_empty() {
        return (0, 0);
    }
    let cursor = cursor.min(ids.len() - 1);
    // Down from the top until the selection's last line is on screen.
    let mut used: usize = (top..=cursor).map(|i| height(app, i)).sum();
    while top < cursor && used > rows {
        used -= height(app, top);
        top += 1;
    }
    // The rest of the pane, below the selection.
    let mut end = cursor + 1;
    while end < ids.len() && used < rows {
        used += height(app, end);
        end += 1;
    }
    // At the end of the window with room to spare: fill it from above.
    while end == ids.len() && top > 0 && used + height(app, top - 1) <= rows {
        top -= 1;
        used += height(app, top);
    }
    // Messages whose every line fits.
    let mut whole = 0;
    let mut lines = 0;
    for i in top..ids.len() {
        lines += height(app, i);
        if lines > rows {
            break;
        }
        whole += 1;
    }
    (top, whole.max(1))
}

fn message_line(m: &Message, tz: &jiff::tz::TimeZone) -> String {
    let mut s = format!(
        "{:>7} {} {}: {}",
        m.id.seq(),
        output::time(m.sent_at_ms, tz),
        one_line(&m.sender),
        one_line(&m.text)
    );
    if let Some(r) = m.reply_to {
        s.push_str(&format!("  ↩{}", r.seq()));
    }
    if m.edited_at_ms.is_some() {
        s.push_str("  (edited)");
    }
    s
}

fn detail_text(m: &Message, attachments: &[Attachment], tz: &jiff::tz::TimeZone) -> String {
    let mut head = format!("{} · {} · {}", m.id, one_line(&m.sender), output::time(m.sent_at_ms, tz));
    if let Some(r) = m.reply_to {
        head.push_str(&format!(" · reply to {r}"));
    }
    if let Some(e) = m.edited_at_ms {
        head.push_str(&format!(" · edited {}", output::time(e, tz)));
    }
    let mut text = format!("{head}\n{}", m.text.replace(|c: char| c.is_control() && c != '\n', " "));
    for a in attachments {
        text.push_str(&format!("\n#{} {}", a.id, output::attachment_line(a)));
    }
    text
}

fn draw_status(app: &App<'_>, frame: &mut Frame<'_>, area: Rect) {
    let line = if let Some(e) = &app.error {
        Line::styled(format!(" error: {e}"), Style::default().fg(Color::Red))
    } else if let Some(date) = &app.date {
        Line::from(vec![
            Span::styled(format!(" go to date: {}▏", one_line(date)), Style::default().fg(Color::Cyan)),
            Span::raw(" │ YYYY-MM-DD · Enter go · Esc cancel"),
        ])
    } else if let Some(note) = &app.note {
        Line::styled(format!(" {note}"), Style::default().fg(Color::Yellow))
    } else {
        let keys = match app.focus {
            Focus::List => "↑↓ select · Enter open · m mark read · / search · ? help · q quit",
            Focus::History => {
                "↑↓ PgUp PgDn · Enter follow reply · d date · m mark read · ← list · ? help · q quit"
            }
            Focus::Search if app.search.as_ref().is_some_and(|s| s.typing) => {
                "type words (CJK or any language) · Enter search · Esc cancel"
            }
            Focus::Search => "↑↓ select · Enter open at the message · e edit the query · Esc back · q quit",
        };
        let mut spans = Vec::new();
        if let Some(h) = &app.history {
            spans.push(Span::styled(position(h, app.rows), Style::default().fg(Color::Cyan)));
            spans.push(Span::raw(" │"));
        }
        spans.push(Span::raw(format!(" {keys}")));
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// Where the view is: the selected message and the messages on screen, by
/// sequence number (numbers, not positions: deleted messages leave gaps),
/// then how many of the conversation's messages are loaded (counts), and
/// whether its first or last message is on screen.
fn position(h: &History, rows: usize) -> String {
    let on_screen = h.shown.unwrap_or(rows).min(rows).max(1);
    let first = h.window.get(h.top).map(|m| m.id.seq());
    let end = (h.top + on_screen).min(h.window.len());
    let last = end.checked_sub(1).filter(|&i| i >= h.top).and_then(|i| h.window.get(i)).map(|m| m.id.seq());
    let mut s = match (h.selected(), first, last) {
        (Some(m), Some(first), Some(last)) => {
            format!(" message {} · {first}–{last} on screen", m.id.seq())
        }
        _ => String::from(" no messages"),
    };
    s.push_str(&format!(" · {} of {} loaded", h.window.len(), h.total));
    if h.at_oldest && h.top == 0 {
        s.push_str(" · first message");
    }
    if h.at_newest && h.top + h.shown.unwrap_or(rows).min(rows) >= h.window.len() {
        s.push_str(" · last message");
    }
    s
}
