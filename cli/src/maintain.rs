//! `compact`, `verify`, `stats`, `passwd`, `rotate` and `vacuum`: looking
//! after a store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chatvault::{CompactOptions, RotateOptions, RotationReport, Store, StoreKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{DEFAULT_STORE, PasswdArgs};
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
    let started = std::time::Instant::now();
    let report = store.compact(&options)?;
    bar.finish_and_clear();
    // Segments of an upgraded store without a search filter get one
    // (docs/SEARCH.md), in what remains of the budget.
    let left = time_budget.map(|secs| Duration::from_secs(secs).saturating_sub(started.elapsed()));
    let index = if left.is_some_and(|l| l.is_zero()) { None } else { Some(store.index_for_search(left)?) };
    let skipped: Vec<u64> = report.conversations_skipped.iter().map(|c| c.get()).collect();
    if ctx.json {
        output::print_json(&json!({
            "segments_indexed_for_search": index.map_or(0, |i| i.segments_indexed),
            "segments_left_unindexed": index.map(|i| i.segments_remaining),
            "segments_not_indexed_damaged": index.map(|i| i.segments_skipped),
            "conversations_compacted": report.conversations_compacted,
            "segments_rewritten": report.segments_rewritten,
            "segments_written": report.segments_written,
            "messages_expired": report.messages_expired,
            "keys_destroyed": report.keys_destroyed,
            "attachments_expired": report.attachments_expired,
            "orphan_files_removed": report.orphan_files_removed,
            "bytes_before": report.bytes_before,
            "bytes_after": report.bytes_after,
            "work_remains": report.work_remains,
            "conversations_skipped": skipped,
        }));
    } else {
        say!(
            "Compacted {}: {} rewritten as {}, {} and {} destroyed.",
            output::plural(report.conversations_compacted, "conversation"),
            output::plural(report.segments_rewritten, "segment"),
            report.segments_written,
            output::plural(report.messages_expired, "expired message"),
            output::plural(report.keys_destroyed, "old key")
        );
        if report.attachments_expired > 0 || report.orphan_files_removed > 0 {
            say!(
                "Attachments: {} of expired messages removed, {} (left by an interrupted write) removed.",
                report.attachments_expired,
                output::plural(report.orphan_files_removed, "orphan file")
            );
        }
        say!("Size: {} -> {}.", output::bytes(report.bytes_before), output::bytes(report.bytes_after));
        if let Some(i) = index.filter(|i| i.segments_indexed > 0) {
            say!(
                "Search index: {} indexed, {} left.",
                output::plural(i.segments_indexed, "segment"),
                i.segments_remaining
            );
        }
        if let Some(i) = index.filter(|i| i.segments_skipped > 0) {
            say!(
                "{} could not be read to index them (searches still open them): run `chatvault verify`.",
                output::plural(i.segments_skipped, "segment")
            );
        }
        let unfinished = index.is_none_or(|i| i.segments_remaining > i.segments_skipped);
        if report.work_remains || (time_budget.is_some() && unfinished) {
            say!("The time budget ran out: run compact again to continue.");
        }
    }
    if !skipped.is_empty() {
        return Err(Failure::data(format!(
            "{} left alone ({skipped:?}): run `chatvault verify`",
            output::plural(skipped.len() as u64, "damaged conversation")
        )));
    }
    Ok(())
}

pub fn verify(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.open()?;
    let bar = progress::spinner("verifying every sealed value");
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
            "attachments": report.attachments,
            "problems": problems,
        }));
    } else {
        for p in &report.problems {
            say!("problem: {p}");
        }
        say!(
            "Checked {}, {}, {}, {}: {}.",
            output::plural(report.conversations, "conversation"),
            output::plural(report.segments, "segment"),
            output::plural(report.messages, "message"),
            output::plural(report.attachments, "attachment"),
            if report.is_ok() {
                "no problems".to_owned()
            } else {
                output::plural(report.problems.len() as u64, "problem")
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
            "filter_bytes": s.filter_bytes,
            "segments_unindexed": s.segments_unindexed,
            "attachments": s.attachments,
            "attachment_bytes": s.attachment_bytes,
            "attachments_in_files": s.attachments_in_files,
            "orphan_files": s.orphan_files,
            "orphan_file_bytes": s.orphan_file_bytes,
            "file_bytes": s.file_bytes,
            "wal_bytes": s.wal_bytes,
            "reclaimable_bytes": s.reclaimable_bytes,
            "epochs": epochs,
        }));
        return Ok(());
    }
    let rows: [(&str, String); 15] = [
        ("conversations", s.conversations.to_string()),
        ("messages", s.messages.to_string()),
        ("segments", s.segments.to_string()),
        ("  not yet compacted", s.segments_uncompacted.to_string()),
        ("  holding expired messages", s.segments_with_expired.to_string()),
        ("sealed segment bytes", output::bytes(s.segment_bytes)),
        ("sealed search filter bytes", output::bytes(s.filter_bytes)),
        ("  segments not yet indexed", s.segments_unindexed.to_string()),
        ("attachments", s.attachments.to_string()),
        ("  in files beside the store", s.attachments_in_files.to_string()),
        ("sealed attachment bytes", output::bytes(s.attachment_bytes)),
        ("orphan attachment files", format!("{} ({})", s.orphan_files, output::bytes(s.orphan_file_bytes))),
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

/// The new key `passwd` protects the store with. Kept as its source, not as
/// a [`StoreKey`], because it is handed to the library twice: to change or
/// rotate, then to find out whether it opens the store.
enum NewKey {
    /// A key file: `--new-key-file`, or `<store>.key.new` by default.
    File(PathBuf),
    /// `--new-passphrase`.
    Passphrase(Zeroizing<String>),
}

impl NewKey {
    fn key(&self) -> CliResult<StoreKey> {
        match self {
            NewKey::File(p) => keys::read(p),
            NewKey::Passphrase(p) => Ok(StoreKey::passphrase(p.as_str())),
        }
    }

    /// Whether it opens the store at `path` now; `None` if that cannot be
    /// told (the store did not open, for another reason than a wrong key).
    fn opens(&self, path: &Path) -> Option<bool> {
        match Store::open(path, self.key().ok()?) {
            Ok(store) => {
                let _ = store.close();
                Some(true)
            }
            Err(chatvault::Error::WrongKey) => Some(false),
            Err(_) => None,
        }
    }
}

/// What `passwd` did to the store.
enum Outcome {
    /// `change_key`: the new key protects the same master key.
    Changed,
    /// `rotate_master_key`: `None` when a rotation finished but the scrub
    /// is owed (the library then reports no figures).
    Rotated(Option<RotationReport>),
}

/// Protects the store with a new key: a key file (`--new-key-file`), a
/// passphrase (`--new-passphrase`), or by default a fresh random key that
/// replaces the key file beside the store. With `--rotate`, under a new
/// master key too (`Store::rotate_master_key`), which revokes the old key.
///
/// A rotation's first transaction makes the new key the only one that opens
/// the store, whether or not the rotation then finishes: the key files are
/// put in place as soon as the call returns (or fails), according to which
/// key opens the store then, and an unfinished rotation is resumed by
/// running `passwd --rotate` again with the new key as both the store's key
/// and the new one.
pub fn passwd(ctx: &Ctx, args: &PasswdArgs) -> CliResult<()> {
    let (store, mut source) = ctx.open_with_source()?;
    let path = &ctx.store_path;
    let beside = keys::beside(path);
    let pending = keys::pending(path);
    let cannot_rename = |e: std::io::Error| {
        Failure::user(format!(
            "the store now opens with the key in {}, but it could not be renamed to {}: {e}",
            pending.display(),
            beside.display()
        ))
    };
    // The store opened with the key an interrupted passwd left beside it,
    // which that passwd did not get to move into place: do it now.
    if pending.exists() && matches!(&source, keys::Source::File(p) if same_file(p, &pending)) {
        std::fs::rename(&pending, &beside).map_err(cannot_rename)?;
        keys::sync_parent(&beside);
        source = keys::Source::File(beside.clone());
    }
    // Any new key is on disk (synced) before the store changes, so a crash
    // in between leaves both keys there.
    let (new, now) = if let Some(p) = &args.new_key_file {
        // `<store>.key.new` is where passwd draws keys, and removes them
        // from: the new key would not stay there. (`<store>.key` may hold
        // it: that file is never removed when it is the new key's, below.)
        if keys::same_path(p, &pending) {
            return Err(Failure::user(format!(
                "--new-key-file {} is {}, where passwd draws a new key and removes it from: keep the new key \
                 in another file (or leave --new-key-file out for a new random key in {})",
                p.display(),
                pending.display(),
                beside.display()
            )));
        }
        if !p.exists() {
            keys::create(p)?;
        }
        (NewKey::File(p.clone()), format!("the key in {}", p.display()))
    } else if args.new_passphrase {
        (NewKey::Passphrase(keys::new_passphrase()?), "a passphrase".to_owned())
    } else {
        // The store opened with another key, so a file an interrupted
        // passwd left here is not its key.
        if pending.exists() {
            std::fs::remove_file(&pending)
                .map_err(|e| Failure::user(format!("cannot remove {}: {e}", pending.display())))?;
        }
        keys::create(&pending)?;
        (NewKey::File(pending.clone()), format!("a new random key in {}", beside.display()))
    };
    let by_default = args.new_key_file.is_none() && !args.new_passphrase;
    // Where the new key is once in place.
    let new_file = match &new {
        NewKey::File(_) if by_default => Some(beside.clone()),
        NewKey::File(p) => Some(p.clone()),
        NewKey::Passphrase(_) => None,
    };
    let key = new.key()?;
    let result = if args.rotate {
        let mut options = RotateOptions::default();
        if let Some(secs) = args.time_budget {
            options = options.time_budget(Duration::from_secs(secs));
        }
        if let Some(n) = args.max_transactions {
            options = options.transaction_budget(n);
        }
        let spinner = progress::spinner("rotating the master key");
        let result = committed(store.rotate_master_key_with(key, &options));
        spinner.finish_and_clear();
        result.map(Outcome::Rotated)
    } else {
        committed(store.change_key(key)).map(|_| Outcome::Changed)
    };
    // Which key opens the store now. A key change that committed, or a
    // rotation that finished, put the new key in force. So did a rotation's
    // first transaction, whatever came after it (a budget, an error), unless
    // the call began by finishing a rotation to another key that was under
    // way: then ask the file.
    let in_force = match &result {
        Ok(Outcome::Changed) => Some(true),
        Ok(Outcome::Rotated(Some(r))) if r.finished => Some(true),
        _ => new.opens(path),
    };
    drop(store);
    let old_was_beside = source == keys::Source::File(beside.clone());
    // Whether the old key file beside the store was removed.
    let mut removed_beside = false;
    match in_force {
        Some(true) => {
            if by_default {
                std::fs::rename(&pending, &beside).map_err(cannot_rename)?;
                keys::sync_parent(&beside);
            } else if old_was_beside && !new_file.as_deref().is_some_and(|f| keys::same_path(f, &beside)) {
                // The key file beside the store is where later commands look
                // first, before a prompt; holding the old key, which opens
                // nothing in the store any more, it would only get in the
                // way. The new key is not copied there: a key kept in another
                // file (`--new-key-file`) stays only there, and later
                // commands are told to name it. Never removed when it is
                // the new key's file (`keys::same_path` says so when it
                // cannot tell).
                std::fs::remove_file(&beside).map_err(|e| {
                    Failure::user(format!(
                        "the key changed, but the old key file {} could not be removed: {e}",
                        beside.display()
                    ))
                })?;
                keys::sync_parent(&beside);
                removed_beside = true;
            }
        }
        // The new key opens nothing: a later run draws its own.
        Some(false) if by_default => {
            std::fs::remove_file(&pending)
                .map_err(|e| Failure::user(format!("cannot remove {}: {e}", pending.display())))?;
            keys::sync_parent(&pending);
        }
        // Both keys stay on disk; opening with the wrong one names the other.
        Some(false) | None => {}
    }
    // `--key-file` for a command to open the store with the key in `f`:
    // needed unless `f` is the file beside the store and no passphrase in
    // the environment comes before it.
    let key_flag = |f: &Path| -> Option<PathBuf> {
        let found_beside = known_same_file(f, &beside) && std::env::var_os(keys::PASSPHRASE_ENV).is_none();
        (!found_beside).then(|| f.to_owned())
    };
    let new_key_file = new_file.as_deref().and_then(key_flag);
    let new_key_file = new_key_file.as_deref();
    let old_key_file = match &source {
        keys::Source::File(f) => key_flag(f),
        _ => None,
    };
    let old_key_file = old_key_file.as_deref();
    let resume = match &new {
        NewKey::File(_) => format!(
            "`{}`",
            command(
                ctx,
                new_key_file,
                &format!("passwd --rotate --new-key-file {}", display(new_file.as_deref()))
            )
        ),
        NewKey::Passphrase(_) => format!(
            "`{}` with the new passphrase both as the store's (${}, or at the prompt) and as the new one (${}, \
             or at the prompt)",
            command(ctx, None, "passwd --rotate --new-passphrase"),
            keys::PASSPHRASE_ENV,
            keys::NEW_PASSPHRASE_ENV
        ),
    };
    let outcome = result.map_err(|f| match (in_force, args.rotate) {
        (Some(true), true) => f.hint(format_args!(
            "{} now opens only with {now}: run {resume} to finish the rotation",
            path.display()
        )),
        (Some(true), false) => f.hint(format_args!("{} now opens only with {now}", path.display())),
        (Some(false), _) => {
            f.hint(format_args!("{} still opens with its current key ({source})", path.display()))
        }
        (None, _) => f.hint(format_args!(
            "{} opens with its current key ({source}) or, if that fails, with {now}",
            path.display()
        )),
    })?;
    // How later commands open the store, once the new key is in force.
    let later = (in_force == Some(true)).then(|| {
        let removed = if removed_beside {
            format!("The old key file {} was removed. ", beside.display())
        } else {
            String::new()
        };
        match (&new, new_key_file) {
            (NewKey::File(_), Some(f)) => Some(format!(
                "{removed}The new key is only in {}, not beside the store: later commands must name it, as in `{}`.",
                f.display(),
                command(ctx, Some(f), "convs")
            )),
            (NewKey::Passphrase(_), _) => Some(format!(
                "{removed}Later commands take the new passphrase from ${} or ask for it at a prompt.",
                keys::PASSPHRASE_ENV
            )),
            (NewKey::File(_), None) => None,
        }
    });
    let later = later.flatten();
    let report = match outcome {
        Outcome::Changed => {
            if ctx.json {
                output::print_json(&json!({
                    "store": path,
                    "key": now,
                    "key_file": new_key_file,
                    "old_key_file_removed": removed_beside,
                }));
            } else {
                say!("{} is now protected by {now}; the old wrapping is scrubbed from disk.", path.display());
                say!(
                    "Copies of the file made before still open with the old key: if it leaked, use `passwd --rotate`."
                );
                if let Some(l) = &later {
                    say!("{l}");
                }
            }
            return Ok(());
        }
        Outcome::Rotated(report) => report,
    };
    // Without figures (the scrub is owed), a rotation finished: the one to
    // the new key if it is in force, else one under way to another.
    let finished = report.as_ref().map_or(in_force == Some(true), |r| r.finished);
    let mut damaged: Vec<u64> =
        report.iter().flat_map(|r| r.conversations_damaged.iter().map(|c| c.get())).collect();
    damaged.sort_unstable();
    damaged.dedup();
    if ctx.json {
        output::print_json(&json!({
            "store": path,
            "key": (in_force == Some(true)).then_some(&now),
            "finished": finished,
            "conversations": report.as_ref().map(|r| r.conversations),
            "references": report.as_ref().map(|r| r.references),
            "references_dropped": report.as_ref().map(|r| r.references_dropped),
            "transactions": report.as_ref().map(|r| r.transactions),
            "conversations_damaged": report.as_ref().map(|_| &damaged),
            "key_file": (in_force == Some(true)).then_some(new_key_file).flatten(),
            "old_key_file_removed": removed_beside,
        }));
    } else {
        if let Some(r) = &report {
            say!(
                "Moved {} to a new master key in {}: {} recomputed, {} of deleted or expired messages \
                 dropped.",
                output::plural(r.conversations, "conversation"),
                output::plural(r.transactions, "transaction"),
                output::plural(r.references, "external-id reference"),
                r.references_dropped
            );
        }
        let next = format!(
            "`{}` to reseal older messages under new keys and destroy the old ones, then `{}` to remove what \
             is left of them from the file's free space{}: the old key is revoked only once both have run",
            command(ctx, new_key_file, "compact"),
            command(ctx, new_key_file, "vacuum"),
            if matches!(new, NewKey::Passphrase(_)) { ", both with the new passphrase" } else { "" }
        );
        match in_force {
            Some(true) if finished => {
                say!(
                    "{} is now protected by {now}, under a new master key: the old key opens nothing written or \
                     rewrapped since (copies of the file made before still open with it).",
                    path.display()
                );
                say!("Next, run {next}.");
            }
            Some(true) => {
                say!(
                    "The rotation is not finished, but {} already opens only with {now}, no longer with the old key.",
                    path.display()
                );
                say!("Run {resume} to finish it with the same new key. Then run {next}.");
            }
            Some(false) => {
                say!(
                    "The rotation to the new key has not begun{}: {} still opens only with its current key \
                     ({source}). Run `{}` again to go on.",
                    if report.as_ref().is_some_and(|r| r.transactions > 0) {
                        " (this run went into finishing the rotation already under way, to the current key)"
                    } else {
                        ""
                    },
                    path.display(),
                    command(ctx, old_key_file, &passwd_args(args))
                );
            }
            None => {
                say!(
                    "{} opens with its current key ({source}) or, if that fails, with {now}: run `{}` again with \
                     the one that opens it.",
                    path.display(),
                    command(ctx, old_key_file, &passwd_args(args))
                );
            }
        }
        if let Some(l) = &later {
            say!("{l}");
        }
    }
    if !damaged.is_empty() {
        return Err(Failure::data(format!(
            "{} moved to the new master key as far as they could be ({damaged:?}): \
             run `chatvault verify`",
            output::plural(damaged.len() as u64, "damaged conversation")
        )));
    }
    Ok(())
}

/// `chatvault [--store …] [--key-file …] <rest>`, as the user would type it
/// to run `rest` on this store.
fn command(ctx: &Ctx, key_file: Option<&Path>, rest: &str) -> String {
    let mut c = "chatvault".to_owned();
    if ctx.store_path != Path::new(DEFAULT_STORE) {
        c.push_str(&format!(" --store {}", ctx.store_path.display()));
    }
    if let Some(k) = key_file {
        c.push_str(&format!(" --key-file {}", k.display()));
    }
    format!("{c} {rest}")
}

/// `passwd --rotate` and how this run named its new key.
fn passwd_args(args: &PasswdArgs) -> String {
    match (&args.new_key_file, args.new_passphrase) {
        (Some(p), _) => format!("passwd --rotate --new-key-file {}", p.display()),
        (None, true) => "passwd --rotate --new-passphrase".to_owned(),
        (None, false) => "passwd --rotate".to_owned(),
    }
}

fn display(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string()).unwrap_or_default()
}

/// Rewrites the whole file (`Store::vacuum`), so no piece of deleted data
/// survives in the free space of its pages.
pub fn vacuum(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.open()?;
    let size = |store: &Store| -> CliResult<u64> {
        let s = store.stats()?;
        Ok(s.file_bytes.saturating_add(s.wal_bytes))
    };
    let before = size(&store)?;
    let spinner = progress::spinner("rewriting the whole file");
    let result = committed(store.vacuum());
    spinner.finish_and_clear();
    let scrubbed = result?.is_some();
    let after = size(&store)?;
    if ctx.json {
        output::print_json(&json!({ "bytes_before": before, "bytes_after": after, "scrubbed": scrubbed }));
    } else {
        say!("Rewrote {}: {} -> {}.", ctx.store_path.display(), output::bytes(before), output::bytes(after));
        if scrubbed {
            say!("No piece of deleted data remains in the file or its write-ahead log.");
        }
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

/// Whether two paths name the same existing file; `false` when that cannot
/// be told (one of them is missing, say).
fn known_same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn rotate(ctx: &Ctx, conversation: Option<&str>) -> CliResult<()> {
    let store = ctx.open()?;
    match conversation {
        Some(name) => {
            let c = ctx.conversation_exact(&store, name)?;
            let title = store.conversation(c)?.title;
            let epoch = store.rotate_conversation_key(c)?;
            if ctx.json {
                output::print_json(&json!({ "conversation": c.get(), "title": title, "epoch": epoch.get() }));
            } else {
                say!(
                    "Conversation {} {:?} now seals new messages under key epoch {}.",
                    c.get(),
                    output::one_line(&title),
                    epoch.get()
                );
            }
        }
        None => {
            let n = store.rotate_all_keys()?;
            if ctx.json {
                output::print_json(&json!({ "conversations_rotated": n }));
            } else {
                say!("Started a new key epoch in {}.", output::plural(n, "conversation"));
            }
        }
    }
    if !ctx.json {
        say!("Run `chatvault compact` to reseal older messages and destroy the old keys.");
    }
    Ok(())
}
