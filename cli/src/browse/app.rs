//! The browser's state and its key handling.

use std::collections::{HashMap, VecDeque};

use chatvault::{Attachment, ConversationSummary, Message, MessageId, Page, SearchHit, SearchQuery, Store};
use jiff::tz::TimeZone;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::failure::CliResult;

/// Messages fetched at a time at either edge of the window.
pub const FETCH: usize = 200;
/// Most messages the history window holds; pages beyond it are dropped
/// from the far side and fetched again when scrolled back to.
pub const MAX_WINDOW: usize = 5 * FETCH;
/// Most messages whose attachments are remembered; past it, the cache is
/// emptied and refilled as messages come on screen.
pub const MAX_ATTACHMENT_CACHE: usize = 2 * MAX_WINDOW;
/// Attachment lines shown under a message; more are summed up in one line.
pub const ATTACHMENT_LINES: usize = 3;

/// Messages per fetch: a page, and at least a screenful.
fn fetch_size(rows: usize) -> usize {
    FETCH.max(rows)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    History,
    /// The search pane: typing a query, or choosing among its hits.
    Search,
}

/// Search hits shown at once (the newest first).
pub const SEARCH_HITS: usize = 100;

/// The search pane's state.
pub struct Search {
    /// The query being typed or last run.
    pub(super) input: String,
    /// Whether keys go to the query (else they move among the hits).
    pub(super) typing: bool,
    /// The last run's hits, and the selected one.
    pub(super) hits: Vec<SearchHit>,
    pub(super) selected: usize,
    /// Whether the last run stopped at [`SEARCH_HITS`] with more to find.
    pub(super) more: bool,
    /// Where to go back to on Esc.
    pub(super) from: Focus,
}

pub struct App<'s> {
    pub(super) store: &'s Store,
    pub(super) tz: TimeZone,
    pub(super) list: Vec<ConversationSummary>,
    pub(super) selected: usize,
    pub(super) focus: Focus,
    pub(super) history: Option<History>,
    pub(super) search: Option<Search>,
    /// The last error, shown in the status line until the next key.
    pub(super) error: Option<String>,
    /// What the last key did, when it is not on screen otherwise ("marked
    /// read"), shown in the status line until the next key.
    pub(super) note: Option<String>,
    /// Whether the help screen is shown, over everything.
    pub(super) help: bool,
    /// A date being typed, to jump to in the open conversation (`d`).
    pub(super) date: Option<String>,
    /// The messages followed replies came from, most recent last: where
    /// Backspace goes back to.
    pub(super) back: Vec<MessageId>,
    /// History rows visible at the last draw (a page).
    pub(super) rows: usize,
    /// Conversation-list rows visible at the last draw.
    pub(super) list_rows: usize,
    /// The attachments of messages that have been on screen, read one
    /// message at a time as they come into view (never a whole
    /// conversation's).
    pub(super) attachments: HashMap<MessageId, Vec<Attachment>>,
    pub quit: bool,
}

/// The open conversation: a contiguous window of its messages, oldest first.
pub struct History {
    pub(super) title: String,
    pub(super) total: u64,
    pub(super) conversation: chatvault::ConversationId,
    pub(super) window: VecDeque<Message>,
    /// Whether the window reaches the conversation's oldest message.
    pub(super) at_oldest: bool,
    /// Whether the window reaches its newest message.
    pub(super) at_newest: bool,
    /// The selected message, an index into `window`.
    pub(super) cursor: usize,
    /// The first visible message, an index into `window`.
    pub(super) top: usize,
    /// Messages that fit on screen at the last draw (fewer than its rows
    /// when some show attachment lines): what a page moves by.
    pub(super) shown: Option<usize>,
}

impl<'s> App<'s> {
    pub fn new(store: &'s Store, tz: TimeZone) -> CliResult<Self> {
        Ok(App {
            store,
            tz,
            list: store.conversations()?,
            selected: 0,
            focus: Focus::List,
            history: None,
            search: None,
            error: None,
            note: None,
            help: false,
            date: None,
            back: Vec::new(),
            rows: 20,
            list_rows: 10,
            attachments: HashMap::new(),
            quit: false,
        })
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        self.error = None;
        self.note = None;
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        // The help screen: q quits, any other key closes it.
        if self.help {
            self.quit = key.code == KeyCode::Char('q');
            self.help = false;
            return;
        }
        if self.date.is_some() {
            if let Err(e) = self.date_key(key.code) {
                self.error = Some(e.message);
            }
            return;
        }
        let typing = self.focus == Focus::Search && self.search.as_ref().is_some_and(|s| s.typing);
        if key.code == KeyCode::Char('q') && !typing {
            self.quit = true;
            return;
        }
        if key.code == KeyCode::Char('?') && !typing {
            self.help = true;
            return;
        }
        if key.code == KeyCode::Char('/') && !typing {
            let from = if self.focus == Focus::Search { Focus::List } else { self.focus };
            let input = self.search.take().map(|s| s.input).unwrap_or_default();
            self.search =
                Some(Search { input, typing: true, hits: Vec::new(), selected: 0, more: false, from });
            self.focus = Focus::Search;
            return;
        }
        let result = match self.focus {
            Focus::List => self.list_key(key.code),
            Focus::History => self.history_key(key.code),
            Focus::Search => self.search_key(key.code),
        };
        if let Err(e) = result {
            self.error = Some(e.message);
        }
    }

    fn list_key(&mut self, code: KeyCode) -> CliResult<()> {
        let last = self.list.len().saturating_sub(1);
        let page = (self.list_rows / 2).max(1);
        match code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
            KeyCode::PageDown => self.selected = (self.selected + page).min(last),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => self.open_selected()?,
            KeyCode::Tab if self.history.is_some() => self.focus = Focus::History,
            KeyCode::Char('r') => self.reload()?,
            KeyCode::Char('m') => {
                if let Some(c) = self.list.get(self.selected).map(|s| s.conversation.id) {
                    self.mark_read(c)?;
                }
            }
            // Esc closes what is open over the list; the list itself stays
            // (q quits).
            _ => {}
        }
        Ok(())
    }

    fn history_key(&mut self, code: KeyCode) -> CliResult<()> {
        let store = self.store;
        let rows = self.rows.max(1);
        let Some(h) = self.history.as_mut() else {
            self.focus = Focus::List;
            return Ok(());
        };
        let page = h.shown.unwrap_or(rows).min(rows).saturating_sub(1).max(1) as isize;
        match code {
            KeyCode::Up | KeyCode::Char('k') => h.move_by(store, -1, rows, false)?,
            KeyCode::Down | KeyCode::Char('j') => h.move_by(store, 1, rows, false)?,
            KeyCode::PageUp | KeyCode::Char('b') => h.move_by(store, -page, rows, true)?,
            KeyCode::PageDown | KeyCode::Char('f') | KeyCode::Char(' ') => {
                h.move_by(store, page, rows, true)?
            }
            KeyCode::Home | KeyCode::Char('g') => h.jump(store, true, rows)?,
            KeyCode::End | KeyCode::Char('G') => h.jump(store, false, rows)?,
            KeyCode::Left | KeyCode::Char('h') | KeyCode::Esc | KeyCode::Tab => self.focus = Focus::List,
            KeyCode::Char('d') => self.date = Some(String::new()),
            KeyCode::Char('m') => {
                let c = h.conversation;
                self.mark_read(c)?;
            }
            KeyCode::Enter => self.follow_reply()?,
            KeyCode::Backspace => {
                if let Some(m) = self.back.pop() {
                    self.open_at(m)?;
                } else {
                    self.note = Some("no reply was followed: nothing to go back to".to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Keys while a date is typed: the date, then Enter to go to the first
    /// message sent on or after that day (local time), Esc to cancel.
    fn date_key(&mut self, code: KeyCode) -> CliResult<()> {
        let Some(input) = self.date.as_mut() else {
            return Ok(());
        };
        match code {
            KeyCode::Char(c) => input.push(c),
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Esc => self.date = None,
            KeyCode::Enter => {
                let text = self.date.take().unwrap_or_default();
                let ms = crate::search::day_start(&self.tz, text.trim())?;
                self.jump_to_time(ms, text.trim())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Opens the open conversation at its first message sent at or after
    /// `ms` (the newest, if all are older), found by a binary search over
    /// sequence numbers: a few short reads, whatever its length.
    fn jump_to_time(&mut self, ms: i64, day: &str) -> CliResult<()> {
        let Some(c) = self.history.as_ref().map(|h| h.conversation) else {
            return Ok(());
        };
        let store = self.store;
        // The first message numbered after `seq`.
        let first_after = |seq: u64| -> CliResult<Option<Message>> {
            let page = if seq == 0 { Page::oldest(1) } else { Page::after(MessageId::new(c, seq), 1) };
            Ok(store.messages(c, page)?.pop())
        };
        let Some(newest) = store.messages(c, Page::latest(1))?.pop() else {
            self.note = Some("no messages here".to_owned());
            return Ok(());
        };
        let target = if newest.sent_at_ms < ms {
            self.note = Some(format!("no message on or after {day}: the newest is selected"));
            newest.id
        } else {
            // The first message after `lo` is older than `ms`; the first after
            // `hi` is not.
            let (mut lo, mut hi) = (0, newest.id.seq().saturating_sub(1));
            if first_after(0)?.is_some_and(|m| m.sent_at_ms >= ms) {
                hi = 0;
            }
            while hi > lo + 1 {
                let mid = lo + (hi - lo) / 2;
                if first_after(mid)?.is_some_and(|m| m.sent_at_ms >= ms) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            first_after(hi)?.map_or(newest.id, |m| m.id)
        };
        self.open_at(target)
    }

    /// Opens the message the selected one replies to, remembering where to
    /// come back to.
    fn follow_reply(&mut self) -> CliResult<()> {
        let Some(m) = self.history.as_ref().and_then(History::selected) else {
            return Ok(());
        };
        let (from, Some(to)) = (m.id, m.reply_to) else {
            self.note = Some("this message is not a reply".to_owned());
            return Ok(());
        };
        match self.store.message(to) {
            Ok(_) => {}
            Err(chatvault::Error::NotFound(_)) => {
                self.note = Some(format!("the message it replies to ({to}) was deleted or has expired"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        self.open_at(to)?;
        self.back.push(from);
        self.note = Some("Backspace goes back to the reply".to_owned());
        Ok(())
    }

    /// Marks conversation `c` read up to its newest message, and reads the
    /// list again for its unread counts.
    fn mark_read(&mut self, c: chatvault::ConversationId) -> CliResult<()> {
        let Some(newest) = self.store.messages(c, Page::latest(1))?.pop() else {
            self.note = Some("no messages to mark read".to_owned());
            return Ok(());
        };
        self.store.mark_read(c, newest.id)?;
        let selected = self.list.get(self.selected).map(|s| s.conversation.id);
        self.list = self.store.conversations()?;
        self.selected = selected
            .and_then(|id| self.list.iter().position(|s| s.conversation.id == id))
            .unwrap_or(0)
            .min(self.list.len().saturating_sub(1));
        self.note = Some(format!("marked read up to {}", newest.id));
        Ok(())
    }

    fn search_key(&mut self, code: KeyCode) -> CliResult<()> {
        let Some(search) = self.search.as_mut() else {
            self.focus = Focus::List;
            return Ok(());
        };
        if search.typing {
            match code {
                KeyCode::Char(c) => search.input.push(c),
                KeyCode::Backspace => {
                    search.input.pop();
                }
                KeyCode::Esc => {
                    self.focus = search.from;
                    self.search = None;
                }
                KeyCode::Enter if !search.input.trim().is_empty() => {
                    let page =
                        self.store.search(&SearchQuery::new(search.input.clone()).limit(SEARCH_HITS))?;
                    search.more = page.next.is_some();
                    search.hits = page.hits;
                    search.selected = 0;
                    search.typing = false;
                }
                _ => {}
            }
            return Ok(());
        }
        let last = search.hits.len().saturating_sub(1);
        match code {
            KeyCode::Up | KeyCode::Char('k') => search.selected = search.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => search.selected = (search.selected + 1).min(last),
            KeyCode::Home | KeyCode::Char('g') => search.selected = 0,
            KeyCode::End | KeyCode::Char('G') => search.selected = last,
            KeyCode::Backspace | KeyCode::Char('e') => search.typing = true,
            KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => {
                self.focus = search.from;
                self.search = None;
            }
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if let Some(id) = search.hits.get(search.selected).map(|h| h.message.id) {
                    self.open_at(id)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Opens `m`'s conversation with `m` selected (a search hit).
    fn open_at(&mut self, m: MessageId) -> CliResult<()> {
        let c = m.conversation();
        let info = self.store.conversation(c)?;
        if let Some(i) = self.list.iter().position(|s| s.conversation.id == c) {
            self.selected = i;
        }
        let rows = self.rows.max(1);
        let n = fetch_size(rows);
        // The page ending at the hit, and the one after it.
        let mut window: VecDeque<Message> =
            self.store.messages(c, Page::before(MessageId::new(c, m.seq().saturating_add(1)), n))?.into();
        let at_oldest = window.len() < n;
        let after = self.store.messages(c, Page::after(m, n))?;
        let at_newest = after.len() < n;
        let cursor = window.iter().position(|x| x.id == m).unwrap_or(window.len().saturating_sub(1));
        window.extend(after);
        let mut h = History {
            title: info.title.clone(),
            total: info.message_count,
            conversation: c,
            window,
            at_oldest,
            at_newest,
            cursor,
            top: cursor.saturating_sub(rows / 2),
            shown: None,
        };
        h.scroll_into_view(rows);
        self.history = Some(h);
        self.focus = Focus::History;
        Ok(())
    }

    /// Reads the conversation list again (and the open conversation's
    /// count; newer messages are fetched when scrolled to).
    fn reload(&mut self) -> CliResult<()> {
        self.attachments.clear();
        self.list = self.store.conversations()?;
        self.selected = self.selected.min(self.list.len().saturating_sub(1));
        if let Some(h) = self.history.as_mut() {
            h.total = self.store.conversation(h.conversation)?.message_count;
            h.at_newest = false;
        }
        Ok(())
    }

    fn open_selected(&mut self) -> CliResult<()> {
        let Some(summary) = self.list.get(self.selected) else {
            return Ok(());
        };
        self.back.clear();
        let c = &summary.conversation;
        let mut h = History {
            title: c.title.clone(),
            total: c.message_count,
            conversation: c.id,
            window: VecDeque::new(),
            at_oldest: false,
            at_newest: true,
            cursor: 0,
            top: 0,
            shown: None,
        };
        h.jump(self.store, false, self.rows.max(1))?;
        self.history = Some(h);
        self.focus = Focus::History;
        Ok(())
    }

    /// The attachments of `m`, read once and remembered. An error (a
    /// damaged attachment) is shown in the status line, and the message
    /// shown without them.
    pub(super) fn attachments_of(&mut self, m: MessageId) -> &[Attachment] {
        if !self.attachments.contains_key(&m) {
            if self.attachments.len() >= MAX_ATTACHMENT_CACHE {
                self.attachments.clear();
            }
            let found = match self.store.message_attachments(m) {
                Ok(found) => found,
                Err(e) => {
                    self.error = Some(crate::failure::Failure::from(e).message);
                    Vec::new()
                }
            };
            self.attachments.insert(m, found);
        }
        self.attachments.get(&m).map_or(&[], Vec::as_slice)
    }
}

/// Screen lines a message takes: its own, and one per attachment up to
/// [`ATTACHMENT_LINES`], and one summing up the rest.
pub fn lines_for(attachments: usize) -> usize {
    1 + if attachments > ATTACHMENT_LINES { ATTACHMENT_LINES + 1 } else { attachments }
}

impl History {
    /// Replaces the window with the oldest (`oldest`) or newest page.
    fn jump(&mut self, store: &Store, oldest: bool, rows: usize) -> CliResult<()> {
        let c = self.conversation;
        let n = fetch_size(rows);
        let page = store.messages(c, if oldest { Page::oldest(n) } else { Page::latest(n) })?;
        let whole = page.len() < n;
        self.window = page.into();
        self.at_oldest = oldest || whole;
        self.at_newest = !oldest || whole;
        self.total = store.conversation(c)?.message_count;
        self.cursor = if oldest { 0 } else { self.window.len().saturating_sub(1) };
        self.top = 0;
        self.scroll_into_view(rows);
        Ok(())
    }

    /// Moves the selection by `delta` messages (and, when `scroll`, the
    /// view with it, as paging does), fetching pages at the window's edges
    /// as needed and dropping pages far from the view.
    fn move_by(&mut self, store: &Store, delta: isize, rows: usize, scroll: bool) -> CliResult<()> {
        let mut target = self.cursor as isize + delta;
        let mut top = self.top as isize + if scroll { delta } else { 0 };
        while target < 0 && !self.at_oldest {
            let n = self.fetch_older(store, rows)? as isize;
            target += n;
            top += n;
        }
        while target >= self.window.len() as isize && !self.at_newest {
            self.fetch_newer(store, rows)?;
        }
        let last = self.window.len().saturating_sub(1) as isize;
        self.cursor = target.clamp(0, last.max(0)) as usize;
        let last_top = self.window.len().saturating_sub(rows) as isize;
        self.top = top.clamp(0, last_top.max(0)) as usize;
        self.scroll_into_view(rows);
        // Fetch ahead when the view nears an edge of the window, so the
        // next page is ready and the ends of the conversation are known
        // by the time they are on screen.
        if self.top < rows && !self.at_oldest {
            self.fetch_older(store, rows)?;
        }
        if self.top + 2 * rows > self.window.len() && !self.at_newest {
            self.fetch_newer(store, rows)?;
        }
        self.trim(rows);
        Ok(())
    }

    /// Prepends the page before the window; returns how many messages came.
    fn fetch_older(&mut self, store: &Store, rows: usize) -> CliResult<usize> {
        let Some(first) = self.window.front() else {
            self.at_oldest = true;
            return Ok(0);
        };
        let size = fetch_size(rows);
        let page = store.messages(self.conversation, Page::before(first.id, size))?;
        let n = page.len();
        self.at_oldest = n < size;
        for m in page.into_iter().rev() {
            self.window.push_front(m);
        }
        self.cursor += n;
        self.top += n;
        Ok(n)
    }

    /// Appends the page after the window.
    fn fetch_newer(&mut self, store: &Store, rows: usize) -> CliResult<()> {
        let Some(last) = self.window.back() else {
            self.at_newest = true;
            return Ok(());
        };
        let size = fetch_size(rows);
        let page = store.messages(self.conversation, Page::after(last.id, size))?;
        self.at_newest = page.len() < size;
        self.window.extend(page);
        Ok(())
    }

    fn scroll_into_view(&mut self, rows: usize) {
        if self.cursor < self.top {
            self.top = self.cursor;
        } else if self.cursor >= self.top + rows {
            self.top = self.cursor + 1 - rows;
        }
    }

    /// Drops messages from whichever side is further from the view until
    /// the window is within its bound.
    fn trim(&mut self, rows: usize) {
        let bound = MAX_WINDOW.max(3 * fetch_size(rows));
        while self.window.len() > bound {
            let above = self.top;
            let below = self.window.len().saturating_sub(self.top + rows);
            if above >= below {
                self.window.pop_front();
                self.top -= 1;
                self.cursor -= 1;
                self.at_oldest = false;
            } else {
                self.window.pop_back();
                self.at_newest = false;
            }
        }
    }

    /// The selected message.
    pub(super) fn selected(&self) -> Option<&Message> {
        self.window.get(self.cursor)
    }
}
