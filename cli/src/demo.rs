//! `demo`: a realistic store built from the shared corpus generator.
//!
//! A few hundred conversations with a skewed size distribution (the largest
//! hold tens of thousands of messages), many senders, English, French and
//! Chinese text with emoji, replies, edits, deletions, unread messages, and
//! timestamps spread over years. The same seed builds the same content.

use std::time::Instant;

use chatvault::{ConversationId, MessageId, NewConversation, NewMessage, Store};
use chatvault_corpus::{ConversationSpec, Rng};
use serde_json::json;

use crate::cli::{DEFAULT_STORE, DemoArgs};
use crate::failure::{CliResult, Failure};
use crate::{Ctx, keys, output, progress, read};

/// Messages appended per transaction, as a sync would deliver them.
const BATCH: usize = 500;
/// Bounds on `--conversations` and `--messages`.
const MAX_CONVERSATIONS: usize = 1_000_000;
const MAX_MESSAGES: usize = 1_000_000_000;

pub fn run(ctx: &Ctx, args: &DemoArgs) -> CliResult<()> {
    let path = &ctx.store_path;
    if !(1..=MAX_CONVERSATIONS).contains(&args.conversations) || args.messages > MAX_MESSAGES {
        return Err(Failure::user(format!(
            "demo builds 1 to {MAX_CONVERSATIONS} conversations and at most {MAX_MESSAGES} messages"
        )));
    }
    if path.exists() {
        if !args.force {
            return Err(Failure::user(format!(
                "{} already exists: pass --force to replace it (its conversations and its key file are deleted)",
                path.display()
            )));
        }
        crate::remove_store_files(path)?;
        let _ = std::fs::remove_file(keys::beside(path));
    }
    let (key, source) = keys::for_new_store(path, ctx.key_file.as_deref(), false)?;
    let started = Instant::now();
    let store = Store::create(path, key)?;
    let mut specs = chatvault_corpus::conversations(args.seed, args.conversations, args.messages);
    // Filled in the order their last messages arrived, so that the store's
    // "most recently active" order matches their last messages' times.
    specs.sort_by_cached_key(|s| chatvault_corpus::messages(s).last().map(|m| m.sent_at_ms));
    let bar = progress::messages("building");
    bar.set_length(args.messages as u64);
    let mut rng = Rng::new(args.seed);
    let mut edited = 0;
    let mut deleted = 0;
    for spec in &specs {
        let c = store.create_conversation(NewConversation {
            external_id: Some(spec.external_id.clone()),
            title: spec.title.clone(),
            members: spec.members.clone(),
            created_at_ms: Some(spec.created_at_ms),
            ..Default::default()
        })?;
        let ids = fill(&store, c, spec, &bar)?;
        let (e, d) = touch(&store, c, &ids, &mut rng)?;
        edited += e;
        deleted += d;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let mut sizes: Vec<usize> = specs.iter().map(|s| s.messages).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let largest: Vec<usize> = sizes.iter().take(3).copied().collect();
    let file_bytes = store.stats()?.file_bytes;
    if ctx.json {
        output::print_json(&json!({
            "store": path,
            "key": source.to_string(),
            "conversations": specs.len(),
            "messages": args.messages,
            "edited": edited,
            "deleted": deleted,
            "largest_conversations": largest,
            "file_bytes": file_bytes,
            "seed": args.seed,
        }));
        return Ok(());
    }
    say!(
        "Built {} in {:.1} s: {} conversations, {} messages ({} edited, {} deleted), {} on disk ({source}).",
        path.display(),
        elapsed.as_secs_f64(),
        specs.len(),
        args.messages,
        edited,
        deleted,
        output::bytes(file_bytes)
    );
    say!(
        "Largest conversations: {} messages; English, French and Chinese with emoji, 2019 onwards (seed {}).\n",
        largest.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
        args.seed
    );
    read::convs(ctx, &store, Some(10))?;
    let store_flag = if path == std::path::Path::new(DEFAULT_STORE) {
        String::new()
    } else {
        format!(" --store {}", path.display())
    };
    // The command as the user ran it: through `cargo run` in this workspace
    // (which names the package it runs in CARGO_PKG_NAME), or installed as
    // `chatvault` (also when something else cargo started runs it).
    let command = if std::env::var("CARGO_PKG_NAME").is_ok_and(|p| p == env!("CARGO_PKG_NAME")) {
        "cargo run --release -p chatvault-cli --"
    } else {
        "chatvault"
    };
    say!("\nBrowse it:");
    say!("  {command}{store_flag} browse");
    say!("  {command}{store_flag} show <id> --limit 20");
    say!("  {command} --help");
    Ok(())
}

/// Appends a conversation's messages in sync-sized batches and returns their ids.
fn fill(
    store: &Store,
    c: ConversationId,
    spec: &ConversationSpec,
    bar: &indicatif::ProgressBar,
) -> CliResult<Vec<MessageId>> {
    let mut ids: Vec<MessageId> = Vec::with_capacity(spec.messages);
    let mut batch = Vec::with_capacity(BATCH);
    let mut stream = chatvault_corpus::messages(spec).peekable();
    while stream.peek().is_some() {
        batch.clear();
        for m in stream.by_ref().take(BATCH) {
            let reply_to = m.reply_to.and_then(|i| ids.get(i).copied());
            batch.push((
                c,
                NewMessage {
                    external_id: Some(m.external_id),
                    sender: m.sender,
                    sent_at_ms: m.sent_at_ms,
                    text: m.text,
                    reply_to,
                    ..Default::default()
                },
            ));
        }
        ids.extend(store.append_batch(&batch)?);
        bar.inc(batch.len() as u64);
    }
    Ok(ids)
}

/// What a user would have done to a conversation: edited and deleted a
/// message in some; read all of most, all but the last few of many, and
/// fallen further behind in a few.
fn touch(store: &Store, c: ConversationId, ids: &[MessageId], rng: &mut Rng) -> CliResult<(u64, u64)> {
    let (mut edited, mut deleted) = (0, 0);
    if ids.len() > 50 && rng.chance(0.3) {
        if let Some(&m) = ids.get(ids.len() / 2) {
            store.edit_message(m, "(edited) see you there ✔ — à demain 明天见")?;
            edited += 1;
        }
        if let Some(&m) = ids.get(ids.len() / 3) {
            store.delete_message(m)?;
            deleted += 1;
        }
    }
    let unread = match rng.below(10) {
        0..=4 => 0,
        5..=8 => 1 + rng.below(12),
        _ => 20 + rng.below(200),
    } as usize;
    if let Some(&m) = ids.len().checked_sub(unread + 1).and_then(|i| ids.get(i)) {
        store.mark_read(c, m)?;
    }
    Ok((edited, deleted))
}
