//! `init`, `new`, `send`, `edit` and `delete`: changing a store.

use chatvault::{MessageId, NewConversation, NewMessage, Store};
use serde_json::json;

use crate::failure::{CliResult, Failure, committed};
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
    let m = store.append(
        c,
        NewMessage {
            external_id,
            sender,
            sent_at_ms: now,
            text,
            reply_to: reply_to.map(|seq| chatvault::MessageId::new(c, seq)),
            ..Default::default()
        },
    )?;
    if ctx.json {
        output::print_json(&output::message_json(&store.message(m)?));
    } else {
        say!("Sent {m}.");
    }
    Ok(())
}

pub fn edit(ctx: &Ctx, messages: &[String], text: &str) -> CliResult<()> {
    if text.parse::<MessageId>().is_ok() {
        // `edit 3/1 3/2` would otherwise set 3/1's text to "3/2".
        return Err(Failure::user(format!(
            "the new text {text:?} is a message id: give the text last, after the messages (a text that is only a message id cannot be set)"
        )));
    }
    let ids = messages.iter().map(|m| crate::message_id(m)).collect::<CliResult<Vec<_>>>()?;
    let store = ctx.open()?;
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

/// Deletes messages (`conversation/seq`) or a whole conversation.
pub fn delete(ctx: &Ctx, targets: &[String], yes: bool) -> CliResult<()> {
    let store = ctx.open()?;
    let target = match targets {
        [one] if !one.contains('/') => one,
        _ => {
            if let Some(c) = targets.iter().find(|t| !t.contains('/')) {
                return Err(Failure::user(format!(
                    "{c:?} names a conversation: delete a whole conversation on its own, messages as conversation/seq"
                )));
            }
            let mut ids = targets.iter().map(|m| crate::message_id(m)).collect::<CliResult<Vec<_>>>()?;
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
    let c = ctx.conversation(&store, target)?;
    let info = store.conversation(c)?;
    if !yes {
        if !keys::can_prompt() {
            return Err(Failure::user(format!(
                "deleting conversation {} destroys its key and every message: pass --yes to confirm",
                c.get()
            )));
        }
        let question = format!(
            "Delete {:?} ({} messages) and destroy its key? This cannot be undone.",
            info.title, info.message_count
        );
        if !crate::confirm(&question)? {
            return Err(Failure::user("nothing deleted"));
        }
    }
    committed(store.delete_conversation(c))?;
    if ctx.json {
        output::print_json(&json!({ "deleted": c.get(), "messages": info.message_count }));
    } else {
        say!(
            "Deleted conversation {} ({} messages); its key and bytes are gone from the file and the WAL.",
            c.get(),
            info.message_count
        );
    }
    Ok(())
}
