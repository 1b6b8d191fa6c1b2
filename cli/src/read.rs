//! `convs` and `show`: reading a store.

use chatvault::{MessageId, Page, Store};
use serde_json::Value;

use crate::Ctx;
use crate::failure::CliResult;
use crate::output::{self, fit};

/// Columns of the external id in the conversation list.
const EXTERNAL_ID_WIDTH: usize = 14;

/// Lists conversations, most recently active first, with the three names
/// a command takes them by: id, external id and title.
pub fn convs(ctx: &Ctx, store: &Store, limit: Option<usize>) -> CliResult<()> {
    let list = match limit {
        Some(n) => store.recent_conversations(n)?,
        None => store.conversations()?,
    };
    if ctx.json {
        output::print_json(&Value::Array(list.iter().map(output::summary_json).collect()));
        return Ok(());
    }
    if list.is_empty() {
        say!("No conversations. Add one with `chatvault new <title>`.");
        return Ok(());
    }
    say!(
        "{:>5}  {} {} {:>8} {:>6}  {:<16}  last message",
        "id",
        fit("external id", EXTERNAL_ID_WIDTH),
        fit("title", 24),
        "messages",
        "unread",
        "last active"
    );
    for s in &list {
        let c = &s.conversation;
        let (when, last) = match &s.last_message {
            Some(m) => (output::time(m.sent_at_ms, &ctx.tz), format!("{}: {}", m.sender, m.text)),
            None => (String::new(), String::new()),
        };
        say!(
            "{:>5}  {} {} {:>8} {:>6}  {:<16}  {}",
            c.id.get(),
            fit(c.external_id.as_deref().unwrap_or("-"), EXTERNAL_ID_WIDTH),
            fit(&c.title, 24),
            c.message_count,
            s.unread_count,
            when,
            fit(&last, 48).trim_end()
        );
    }
    Ok(())
}

/// Which page `show` prints.
pub struct Window {
    pub limit: usize,
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub oldest: bool,
}

/// Prints a page of a conversation, oldest first.
pub fn show(ctx: &Ctx, conversation: &str, w: Window) -> CliResult<()> {
    let store = ctx.open()?;
    let c = ctx.conversation(&store, conversation)?;
    let page = match (w.before, w.after) {
        (Some(b), _) => Page::before(MessageId::new(c, b), w.limit),
        (None, Some(a)) => Page::after(MessageId::new(c, a), w.limit),
        (None, None) if w.oldest => Page::oldest(w.limit),
        (None, None) => Page::latest(w.limit),
    };
    let info = store.conversation(c)?;
    let messages = store.messages(c, page)?;
    // One short read per message on the page (no attachment is decrypted
    // but these messages').
    let attachments =
        messages.iter().map(|m| Ok(store.message_attachments(m.id)?)).collect::<CliResult<Vec<_>>>()?;
    if ctx.json {
        let mut v = output::conversation_json(&info);
        v["messages"] = Value::Array(
            messages
                .iter()
                .zip(&attachments)
                .map(|(m, a)| {
                    let mut v = output::message_json(m);
                    v["attachments"] = Value::Array(a.iter().map(output::attachment_json).collect());
                    v
                })
                .collect(),
        );
        output::print_json(&v);
        return Ok(());
    }
    say!(
        "{} · conversation {} · {}",
        output::one_line(&info.title),
        c.get(),
        output::plural(info.message_count, "message")
    );
    if messages.is_empty() {
        say!("(no messages here)");
    }
    let width = messages
        .iter()
        .map(|m| unicode_width::UnicodeWidthStr::width(m.sender.as_str()))
        .max()
        .unwrap_or(0)
        .min(16);
    for (m, attached) in messages.iter().zip(&attachments) {
        say!("{}", output::message_line(m, &ctx.tz, width));
        for a in attached {
            say!("{:>7}  {:>16}  {}", "", format!("#{}", a.id), output::attachment_line(a));
        }
    }
    // Hints only for pages there are.
    if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
        let older = !store.messages(c, Page::before(first.id, 1))?.is_empty();
        let newer = !store.messages(c, Page::after(last.id, 1))?.is_empty();
        let hint = match (older, newer) {
            (true, true) => {
                Some(format!("older: --before {}, newer: --after {}", first.id.seq(), last.id.seq()))
            }
            (true, false) => Some(format!("older: --before {}", first.id.seq())),
            (false, true) => Some(format!("newer: --after {}", last.id.seq())),
            (false, false) => None,
        };
        if let Some(hint) = hint {
            say!("({hint})");
        }
    }
    Ok(())
}
