//! `browse`: an interactive terminal browser over a store.
//!
//! A conversation list (title, last message, unread count) beside a
//! history pane that pages lazily in both directions: it holds a bounded
//! window of messages ([`app::MAX_WINDOW`]) and fetches pages at its edges,
//! so a conversation of any size is never loaded whole. `?` lists the keys:
//! search, a jump to a date, following a reply and back. Browsing changes
//! nothing in the store but the read marker, when `m` marks a conversation
//! read.
//!
//! [`app::App`] holds the state and handles keys; [`view`] draws it. Both
//! work on any ratatui backend, so the tests drive them on a `TestBackend`.

mod app;
mod view;

#[cfg(test)]
mod tests;

use chatvault::Store;
use jiff::tz::TimeZone;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::failure::{CliResult, Failure};
pub use app::App;

/// Runs the browser in the terminal until the user quits. The terminal is
/// restored on exit, on error, and (by ratatui's panic hook) on panic.
pub fn run(store: &Store, tz: TimeZone) -> CliResult<()> {
    let mut app = App::new(store, tz)?;
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(Failure::user(format!("cannot set up the terminal: {e}")));
        }
    };
    let result = event_loop(&mut terminal, &mut app);
    ratatui::restore();
    result.map_err(|e| Failure::user(format!("terminal error: {e}")))
}

fn event_loop(terminal: &mut DefaultTerminal, app: &mut App<'_>) -> std::io::Result<()> {
    while !app.quit {
        terminal.draw(|frame| view::draw(app, frame))?;
        if let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
        {
            app.handle_key(key);
        }
    }
    Ok(())
}
