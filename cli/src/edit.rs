//! `init`, `new`, `send`, `edit` and `delete`: changing a store.

use chatvault::{MessageId, NewConversation, NewMessage, Page, Store};
use serde_json::json;

use crate::cli::ME;
use crate::failure::{CliResult, Failure, committed};
use crate::names::{self, Target};
use crate::{Ctx, keys, output};

/// Creates an empty store.
pub fn init(ctx: &Ctx, passphrase: bool) -> CliResult<()> {
    let path = &ctx.store_path;
    if path.exists() {
        return Err(Failure::user(format!(
            "{} already exists: open it, or choose another --store",
            path.display()
        )));
    }
    let (key, source) = keys::for_new_store(path, ctx.key_file.as_deref(), passphrase)?;
    Store::create(path, key)?.close()?;
    if ctx.json {
        output::print_json(&json!({ "store": path, "key": source.to_string() }));
    } else {
        say!("Created {} ({source}).", path.display());
        say!("Add a conversation: chatvault new <title>");
    }
    Ok(())
}

pub fn new_conversation(
    ctx: &Ctx,
    title: String,
    external_id: Option<String>,
    members: Vec<String>,
    retention_secs: Option<u64>,
) -> CliResult<()> {
    let store = ctx.open()?;
    let retention_ms = retention_secs
        .map(|s| s.checked_mul(1000).ok_or_else(|| Failure::user("--retention is too large")))
        .transpose()?;
    let c = store.create_conversation(NewConversation {
        external_id,
        title,
        members,
        retention_ms,
        ..Default::default()
    })?;
    if ctx.json {
        output::print_json(&output::conversation_json(&store.conversation(c)?));
    } else {
        say!("Created conversation {}.", c.get());
    }
    Ok(())
}

pub fn send(
    ctx: &Ctx,
    conversation: &str,
    text: String,
    sender: String,
    reply_to: Option<u64>,
    external_id: Option<String>,
) -> CliResult<()> {
    let store = ctx.open()?;
    let c = ctx.conversation(&store, conversation)?;
    let now = chatvault::Clock::system().now_ms();
    // With an external id the conversation already holds (or held: deleted
    // and expired messages count), `append` returns that message and stores
    // nothing. Told apart by the state before: a stored message is numbered
    // after every message visible before; and where messages can expire (a
    // retention), one that expired at once is told from an old one by the
    // store's count of messages, which counts it until `compact` runs.
    let retention = store.conversation(c)?.retention_ms;
    let newest_before = store.messages(c, Page::latest(1))?.pop().map(|m| m.id.seq());
    let count = |store: &Store| -> CliResult<u64> { Ok(store.stats()?.messages) };
    let count_before = match (&external_id, retention) {
        (Some(_), Some(_)) => Some(count(&store)?),
        _ => None,
    };
    let own = sender == ME;
    let m = store.append(
        c,
        NewMessage {
            external_id: external_id.clone(),
            sender,
            sent_at_ms: now,
            text,
            reply_to: reply_to.map(|seq| chatvault::MessageId::new(c, seq)),
            ..Default::default()
        },
    )?;
    let found = match store.message(m) {
        Ok(message) => Some(message),
        // Deleted or expired.
        Err(chatvault::Error::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let stored = match (&external_id, count_before) {
        (None, _) => true,
        (Some(_), Some(before)) => count(&store)? > before,
        (Some(_), None) => found.is_some() && newest_before.is_none_or(|newest| m.seq() > newest),
    };
    if let (false, Some(ext)) = (stored, &external_id) {
        if ctx.json {
            output::print_json(
                &json!({ "stored": false, "duplicate_of": m.to_string(), "external_id": ext }),
            );
        } else {
            say!(
                "Not stored: conversation {} already has a message with external id {:?} ({m}), so this one is a \
                 duplicate and nothing was sent.",
                c.get(),
                output::one_line(ext)
            );
        }
        return Ok(());
    }
    let Some(message) = found else {
        // Stored, but older than the conversation's retention already.
        if ctx.json {
            output::print_json(&json!({ "stored": true, "id": m.to_string(), "expired": true }));
        } else {
            say!(
                "Sent {m}, but it is already older than conversation {}'s retention, so it expired at once: it \
                 shows nowhere and `compact` removes it.",
                c.get()
            );
        }
        return Ok(());
    };
    // Your own message is not unread: sending it marks the conversation
    // read up to it.
    if own {
        store.mark_read(c, m)?;
    }
    if ctx.json {
        output::print_json(&output::message_json(&message));
    } else {
        say!("Sent {m}.");
    }
    Ok(())
}

/// Marks a conversation read up to its newest message, or up to `up_to`.
pub fn mark_read(ctx: &Ctx, conversation: &str, up_to: Option<u64>) -> CliResult<()> {
    let store = ctx.open()?;
    let c = ctx.conversation(&store, conversation)?;
    let target = match up_to {
        Some(seq) => Some(store.message(MessageId::new(c, seq))?.id),
        None => store.messages(c, Page::latest(1))?.pop().map(|m| m.id),
    };
    if let Some(m) = target {
        store.mark_read(c, m)?;
    }
    let info = store.conversation(c)?;
    let unread =
        store.conversations()?.into_iter().find(|s| s.conversation.id == c).map_or(0, |s| s.unread_count);
    if ctx.json {
        let mut v = output::conversation_json(&info);
        v["unread_count"] = json!(unread);
        output::print_json(&v);
    } else if let Some(m) = info.read_up_to {
        say!(
            "{} (conversation {}) is read up to {m}; {} unread.",
            output::one_line(&info.title),
            c.get(),
            output::plural(unread, "message")
        );
    } else {
        say!("{} (conversation {}) has no messages to mark read.", output::one_line(&info.title), c.get());
    }
    Ok(())
}

pub fn edit(ctx: &Ctx, messages: &[String], text: &str) -> CliResult<()> {
    let store = ctx.open()?;
    // `edit 3/1 3/2` (or `edit david/1 david/2`) would otherwise set 3/1's
    // text to "3/2".
    if text.parse::<MessageId>().is_ok() || ctx.message(&store, text).is_ok() {
        return Err(Failure::user(format!(
            "the new text {text:?} names a message: give the text last, after the messages (a text that only \
             names a message cannot be set)"
        )));
    }
    let ids = messages.iter().map(|m| ctx.message(&store, m)).collect::<CliResult<Vec<_>>>()?;
    let edits: Vec<(MessageId, &str)> = ids.iter().map(|&m| (m, text)).collect();
    committed(store.edit_messages(&edits))?;
    if ctx.json {
        let edited = ids
            .iter()
            .map(|&m| Ok(output::message_json(&store.message(m)?)))
            .collect::<CliResult<Vec<_>>>()?;
        match edited.as_slice() {
            [one] => output::print_json(one),
            _ => output::print_json(&json!(edited)),
        }
    } else {
        say!("Edited {}; the old text is scrubbed from disk.", list(&ids));
    }
    Ok(())
}

/// "3/1", "3/1 and 3/2", "3/1, 3/2 and 4/7".
fn list(ids: &[MessageId]) -> String {
    let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Deletes messages (`conversation/seq`) or a whole conversation, each
/// named whole ([`names::target`]): never by the start of a title.
pub fn delete(ctx: &Ctx, targets: &[String], yes: bool) -> CliResult<()> {
    let store = ctx.open()?;
    let named = targets.iter().map(|t| names::target(&store, t)).collect::<CliResult<Vec<_>>>()?;
    let c = match named.as_slice() {
        [Target::Conversation(c)] => *c,
        _ => {
            let mut ids = Vec::with_capacity(named.len());
            for (t, n) in targets.iter().zip(&named) {
                match n {
                    Target::Message(m) => ids.push(*m),
                    Target::Conversation(_) => {
                        return Err(Failure::user(format!(
                            "{t:?} names a conversation: delete a whole conversation on its own, messages as \
                             conversation/seq"
                        )));
                    }
                }
            }
            // Named twice, deleted (and reported) once.
            let mut seen = std::collections::HashSet::new();
            ids.retain(|m| seen.insert(*m));
            committed(store.delete_messages(&ids))?;
            if ctx.json {
                let deleted: Vec<String> = ids.iter().map(ToString::to_string).collect();
                match deleted.as_slice() {
                    [one] => output::print_json(&json!({ "deleted": one })),
                    _ => output::print_json(&json!({ "deleted": deleted })),
                }
            } else {
                say!("Deleted {}; the text is scrubbed from disk.", list(&ids));
            }
            return Ok(());
        }
    };
    let info = store.conversation(c)?;
    // The conversation the name was taken to mean, in the question and in
    // the output (with --yes too).
    let which = format!("conversation {} {:?}", c.get(), output::one_line(&info.title));
    if !yes {
        if !keys::can_prompt() {
            return Err(Failure::user(format!(
                "deleting {which} destroys its key and every message: pass --yes to confirm"
            )));
        }
        let question = format!(
            "Delete {which} ({}) and destroy its key? This cannot be undone.",
            output::plural(info.message_count, "message")
        );
        if !crate::confirm(&question)? {
            return Err(Failure::user("nothing deleted"));
        }
    }
    committed(store.delete_conversation(c))?;
    if ctx.json {
        output::print_json(
            &json!({ "deleted": c.get(), "title": info.title, "messages": info.message_count }),
        );
    } else {
        say!(
            "Deleted {which} ({}); its key and bytes are gone from the file and the WAL.",
            output::plural(info.message_count, "message")
        );
    }
    Ok(())
}
