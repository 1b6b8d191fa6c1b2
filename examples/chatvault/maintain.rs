//! `compact`, `verify`, `stats`, `passwd` and `rotate`: looking after a store.

use std::path::Path;
use std::time::Duration;

use chatvault::CompactOptions;
use serde_json::{Value, json};

use crate::cli::PasswdArgs;
use crate::failure::{CliResult, Failure, committed};
use crate::{Ctx, keys, output, progress};

pub fn compact(ctx: &Ctx, time_budget: Option<u64>) -> CliResult<()> {
    let store = ctx.open()?;
    let bar = progress::conversations("compacting");
    let tracker = bar.clone();
    let mut options = CompactOptions::default().on_progress(move |p| {
        tracker.set_length(p.conversations_total);
        tracker.set_position(p.conversations_done);
    });
    if let Some(secs) = time_budget {
        options = options.time_budget(Duration::from_secs(secs));
    }
    let report = store.compact(&options)?;
    bar.finish_and_clear();
    let skipped: Vec<u64> = report.conversations_skipped.iter().map(|c| c.get()).collect();
    if ctx.json {
        output::print_json(&json!({
            "conversations_compacted": report.conversations_compacted,
            "segments_rewritten": report.segments_rewritten,
            "segments_written": report.segments_written,
            "messages_expired": report.messages_expired,
            "keys_destroyed": report.keys_destroyed,
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "work_remains": report.work_remains,
            "conversations_skipped": skipped,
        }));
    } else {
        say!(
            "Compacted {} conversations: {} segments rewritten as {}, {} expired messages and {} old keys destroyed.",
            report.conversations_compacted,
            report.segments_rewritten,
            report.segments_written,
            report.messages_expired,
            report.keys_destroyed
        );
        say!("Size: {} -> {}.", output::bytes(report.bytes_before), output::bytes(report.bytes_after));
        if report.work_remains {
            say!("The time budget ran out: run compact again to continue.");
        }
    }
    if !skipped.is_empty() {
        return Err(Failure::data(format!(
            "{} damaged conversations were left alone ({skipped:?}): run `chatvault verify`",
            skipped.len()
        )));
    }
    Ok(())
}

pub fn verify(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.open()?;
    let bar = indicatif::ProgressBar::new_spinner().with_message("verifying every sealed value");
    bar.enable_steady_tick(Duration::from_millis(120));
    let report = store.verify()?;
    bar.finish_and_clear();
    if ctx.json {
        let problems: Vec<Value> = report
            .problems
            .iter()
            .map(|p| {
                json!({
                    "kind": format!("{:?}", p.kind),
                    "conversation": p.conversation.map(|c| c.get()),
                    "seqs": p.seqs,
                    "epoch": p.epoch.map(|e| e.get()),
                    "detail": p.detail,
                })
            })
            .collect();
        output::print_json(&json!({
            "ok": report.is_ok(),
            "conversations": report.conversations,
            "segments": report.segments,
            "messages": report.messages,
            "problems": problems,
        }));
    } else {
        for p in &report.problems {
            say!("problem: {p}");
        }
        say!(
            "Checked {} conversations, {} segments, {} messages: {}.",
            report.conversations,
            report.segments,
            report.messages,
            if report.is_ok() {
                "no problems".to_owned()
            } else {
                format!("{} problems", report.problems.len())
            }
        );
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure::data(format!(
            "verify found {} problems: the store was modified or damaged",
            report.problems.len()
        )))
    }
}

pub fn stats(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.open()?;
    let s = store.stats()?;
    if ctx.json {
        let epochs: Vec<Value> = s
            .epochs
            .iter()
            .map(|e| json!({ "epoch": e.epoch, "current_for": e.current_for, "keys": e.keys, "segments": e.segments }))
            .collect();
        output::print_json(&json!({
            "conversations": s.conversations,
            "messages": s.messages,
            "segments": s.segments,
            "segments_uncompacted": s.segments_uncompacted,
            "segments_with_expired": s.segments_with_expired,
            "segment_bytes": s.segment_bytes,
            "file_bytes": s.file_bytes,
            "wal_bytes": s.wal_bytes,
            "reclaimable_bytes": s.reclaimable_bytes,
            "epochs": epochs,
        }));
        return Ok(());
    }
    let rows: [(&str, String); 9] = [
        ("conversations", s.conversations.to_string()),
        ("messages", s.messages.to_string()),
        ("segments", s.segments.to_string()),
        ("  not yet compacted", s.segments_uncompacted.to_string()),
        ("  holding expired messages", s.segments_with_expired.to_string()),
        ("sealed segment bytes", output::bytes(s.segment_bytes)),
        ("database file", output::bytes(s.file_bytes)),
        ("write-ahead log", output::bytes(s.wal_bytes)),
        ("reclaimable", output::bytes(s.reclaimable_bytes)),
    ];
    for (label, value) in rows {
        say!("{label:<28} {value}");
    }
    say!("{:<28} {:>10} {:>8} {:>10}", "key epoch", "current for", "keys", "segments");
    for e in &s.epochs {
        say!("{:<28} {:>10} {:>8} {:>10}", e.epoch, e.current_for, e.keys, e.segments);
    }
    Ok(())
}

/// Protects the store with a new key: a key file (`--new-key-file`), a
/// passphrase (`--new-passphrase`), or by default a fresh random key that
/// replaces the key file beside the store.
pub fn passwd(ctx: &Ctx, args: &PasswdArgs) -> CliResult<()> {
    let (store, source) = ctx.open_with_source()?;
    let path = &ctx.store_path;
    let beside = keys::beside(path);
    let (now, new_file) = if let Some(p) = &args.new_key_file {
        let key = if p.exists() { keys::read(p)? } else { keys::create(p)? };
        committed(store.change_key(key))?;
        (format!("the key in {}", p.display()), Some(p.clone()))
    } else if args.new_passphrase {
        committed(store.change_key(keys::new_passphrase()?))?;
        ("a passphrase".to_owned(), None)
    } else {
        // The new key is written (and synced) beside the old one before the
        // store changes, so a crash in between leaves both on disk. The store
        // opened with its current key, so a file an interrupted passwd left
        // here is not its key.
        let pending = keys::pending(path);
        if pending.exists() {
            std::fs::remove_file(&pending)
                .map_err(|e| Failure::user(format!("cannot remove {}: {e}", pending.display())))?;
        }
        committed(store.change_key(keys::create(&pending)?))?;
        std::fs::rename(&pending, &beside).map_err(|e| {
            Failure::user(format!(
                "the store now opens with the key in {}, but it could not be renamed to {}: {e}",
                pending.display(),
                beside.display()
            ))
        })?;
        keys::sync_parent(&beside);
        (format!("a new random key in {}", beside.display()), Some(beside.clone()))
    };
    // The key file beside the store is tried before a prompt; holding the
    // old key, it would only get in the way (and open old copies).
    let old_was_beside = source == keys::Source::File(beside.clone());
    if old_was_beside && !new_file.as_deref().is_some_and(|f| same_file(f, &beside)) {
        std::fs::remove_file(&beside).map_err(|e| {
            Failure::user(format!(
                "the key changed, but the old key file {} could not be removed: {e}",
                beside.display()
            ))
        })?;
        keys::sync_parent(&beside);
    }
    if ctx.json {
        output::print_json(&json!({ "store": path, "key": now }));
    } else {
        say!("{} is now protected by {now}; the old wrapping is scrubbed from disk.", path.display());
    }
    Ok(())
}

/// Whether two paths name the same file; `true` when that cannot be told,
/// so that a key file is never removed on a guess.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => true,
    }
}

pub fn rotate(ctx: &Ctx, conversation: Option<&str>) -> CliResult<()> {
    let store = ctx.open()?;
    match conversation {
        Some(name) => {
            let c = ctx.conversation(&store, name)?;
            let epoch = store.rotate_conversation_key(c)?;
            if ctx.json {
                output::print_json(&json!({ "conversation": c.get(), "epoch": epoch.get() }));
            } else {
                say!("Conversation {} now seals new messages under key epoch {}.", c.get(), epoch.get());
            }
        }
        None => {
            let n = store.rotate_all_keys()?;
            if ctx.json {
                output::print_json(&json!({ "conversations_rotated": n }));
            } else {
                say!("Started a new key epoch in {n} conversations.");
            }
        }
    }
    if !ctx.json {
        say!("Run `chatvault compact` to reseal older messages and destroy the old keys.");
    }
    Ok(())
}
