//! `init`, `new`, `send`, `edit` and `delete`: changing a store.

use chatvault::{NewConversation, NewMessage, Store};
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

pub fn edit(ctx: &Ctx, message: &str, text: &str) -> CliResult<()> {
    let m = crate::message_id(message)?;
    let store = ctx.open()?;
    committed(store.edit_message(m, text))?;
    if ctx.json {
        output::print_json(&output::message_json(&store.message(m)?));
    } else {
        say!("Edited {m}; its old text is scrubbed from disk.");
    }
    Ok(())
}

/// Deletes a message (`conversation/seq`) or a whole conversation.
pub fn delete(ctx: &Ctx, target: &str, yes: bool) -> CliResult<()> {
    let store = ctx.open()?;
    if target.contains('/') {
        let m = crate::message_id(target)?;
        committed(store.delete_message(m))?;
        if ctx.json {
            output::print_json(&json!({ "deleted": m.to_string() }));
        } else {
            say!("Deleted {m}; its text is scrubbed from disk.");
        }
        return Ok(());
    }
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
