//! `export`, `import` and `inspect`: archives, and plaintext exports.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chatvault::archive::{ArchiveProgress, inspect as inspect_archive};
use chatvault::{ExportOptions, HtmlOptions, ImportOptions, LocalZone, Plaintext};
use serde_json::{Value, json};

use crate::cli::{ArchiveArgs, ExportArgs, ExportFormat};
use crate::failure::{CliResult, Failure};
use crate::{Ctx, keys, output, progress};

pub fn export(ctx: &Ctx, args: &ExportArgs) -> CliResult<()> {
    let path = &args.archive.path;
    refuse_store_files(ctx, args, path)?;
    let format = args.chosen_format();
    if format != ExportFormat::Archive && !args.plaintext {
        let why = if args.format.is_none() { " (chosen from the file name)" } else { "" };
        return Err(Failure::user(format!(
            "a {} export{why} is NOT encrypted: anyone who gets {} can read every message in it. \
             Pass --plaintext to accept that, or export an encrypted archive (--format archive)",
            if format == ExportFormat::Jsonl { "jsonl" } else { "html" },
            path.display()
        )));
    }
    if let Some(note) = args.format_mismatch() {
        warn!("chatvault: note: {note}");
    }
    let store = ctx.open()?;
    let ids = args
        .conversations
        .iter()
        .map(|name| ctx.conversation(&store, name))
        .collect::<CliResult<Vec<_>>>()?;
    match format {
        ExportFormat::Archive => {
            let key = keys::for_archive(args.archive.archive_key_file.as_deref(), true)?;
            let bar = progress::messages("exporting");
            let mut options = ExportOptions::with_key(key).on_progress(track(&bar));
            if !ids.is_empty() {
                options = options.conversations(ids);
            }
            let report = store.export_to_file(path, &options)?;
            bar.finish_and_clear();
            if ctx.json {
                output::print_json(&json!({
                    "archive": path,
                    "conversations": report.conversations,
                    "messages": report.messages,
                    "attachments": report.attachments,
                    "bytes": report.bytes,
                }));
            } else {
                say!(
                    "Exported {}, {} and {} to {} ({}).",
                    output::plural(report.conversations, "conversation"),
                    output::plural(report.messages, "message"),
                    output::plural(report.attachments, "attachment"),
                    path.display(),
                    output::bytes(report.bytes)
                );
            }
        }
        ExportFormat::Jsonl => {
            refuse_existing(path, args.force)?;
            let only = (!ids.is_empty()).then_some(ids.as_slice());
            let n = store.export_json_lines_to_file(path, only, Plaintext::Accept)?;
            plaintext_done(ctx, path, n, std::slice::from_ref(path), &[]);
        }
        ExportFormat::Html => {
            let options = html_options(ctx, args.force);
            let into_dir = path.is_dir() || path.as_os_str().as_encoded_bytes().ends_with(b"/");
            let report = match ids.as_slice() {
                [c] if !into_dir => {
                    refuse_existing(path, args.force)?;
                    store.export_html_to_file_with(*c, path, &options, Plaintext::Accept)?
                }
                _ if !into_dir => {
                    return Err(Failure::user(format!(
                        "an html export of {} goes to a directory, with an index page: give a directory \
                         path ending in / (e.g. {}/), or exactly one --conversation for a single page",
                        if ids.is_empty() { "every conversation" } else { "several conversations" },
                        path.with_extension("").display()
                    )));
                }
                _ => {
                    refuse_store_files(ctx, args, &path.join("index.html"))?;
                    refuse_existing(&path.join("index.html"), args.force)?;
                    let only = (!ids.is_empty()).then_some(ids.as_slice());
                    store.export_html_to_dir(path, only, &options, Plaintext::Accept)?
                }
            };
            let files: Vec<PathBuf> = report.index.iter().chain(&report.pages).cloned().collect();
            let first = files.first().cloned().unwrap_or_else(|| path.clone());
            plaintext_done(ctx, &first, report.messages, &files, &report.attachment_dirs);
        }
    }
    Ok(())
}

/// Refuses to write an export (of any format, with or without --force)
/// over the store's own files: the store, its write-ahead log, its key files
/// (`<store>.key`, `<store>.key.new`, `--key-file`, `--archive-key-file`),
/// or anything in its directory of attachment files.
fn refuse_store_files(ctx: &Ctx, args: &ExportArgs, path: &Path) -> CliResult<()> {
    let store = &ctx.store_path;
    let beside = |suffix: &str| {
        let mut s = store.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut own: Vec<PathBuf> = vec![store.clone(), beside("-wal"), beside("-shm")];
    own.extend([keys::beside(store), keys::pending(store)]);
    own.extend(ctx.key_file.iter().cloned());
    own.extend(args.archive.archive_key_file.iter().cloned());
    let refuse = |what: &Path| {
        Failure::user(format!(
            "{} is {}, not a place for an export: choose another path",
            path.display(),
            if what == path {
                "one of the store's own files".to_owned()
            } else {
                format!("{} of the store", what.display())
            }
        ))
    };
    if let Some(f) = own.iter().find(|f| keys::same_path(path, f)) {
        return Err(refuse(f));
    }
    let attachments = beside("-attachments");
    if let (Some(dir), Some(to)) = (keys::resolve(&attachments), keys::resolve(path))
        && to.starts_with(&dir)
    {
        return Err(Failure::user(format!(
            "{} is in {}, the store's attachment files: choose another path",
            path.display(),
            attachments.display()
        )));
    }
    Ok(())
}

/// Refuses to write a plaintext export over a file already at `path`,
/// unless `force`; never over a directory.
fn refuse_existing(path: &Path, force: bool) -> CliResult<()> {
    if path.is_dir() {
        return Err(Failure::user(format!(
            "{} is a directory: give a file name for this export",
            path.display()
        )));
    }
    if !force && path.symlink_metadata().is_ok() {
        return Err(Failure::user(format!(
            "{} already exists and was left as it is: pass --force to replace it, or choose another path",
            path.display()
        )));
    }
    Ok(())
}

/// How the HTML export is written: times in the local time zone (the
/// system's, or $TZ), "me" told apart, files replaced only with --force.
fn html_options(ctx: &Ctx, force: bool) -> HtmlOptions {
    let tz = ctx.tz.clone();
    HtmlOptions::new().me(crate::cli::ME).replace_existing(force).zone(move |ms| {
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(t) => {
                let info = tz.to_offset_info(t);
                LocalZone { offset_seconds: info.offset().seconds(), name: info.abbreviation().to_string() }
            }
            Err(_) => LocalZone::utc(),
        }
    })
}

/// Reports a plaintext export: `first` is the file to open (the index, or
/// the first page), `files` every file written.
fn plaintext_done(ctx: &Ctx, first: &Path, messages: u64, files: &[PathBuf], attachments: &[PathBuf]) {
    if ctx.json {
        output::print_json(&json!({
            "file": first,
            "files": files,
            "messages": messages,
            "attachments_dir": attachments.first(),
            "attachments_dirs": attachments,
            "encrypted": false,
        }));
        return;
    }
    let mut what = format!("Wrote {} to {}", output::plural(messages, "message"), first.display());
    if files.len() > 1 {
        what.push_str(&format!(" ({} files in all)", files.len()));
    }
    match attachments {
        [] => say!("{what} (NOT encrypted: keep it safe, delete it when done)."),
        [dir] => say!(
            "{what} and their attachments to {} (NOT encrypted: keep them safe, delete them when done).",
            dir.display()
        ),
        dirs => say!(
            "{what} and their attachments to {} directories beside it (NOT encrypted: keep them safe, delete \
             them when done).",
            dirs.len()
        ),
    }
}

pub fn import(ctx: &Ctx, args: &ArchiveArgs) -> CliResult<()> {
    let file = open_archive(args)?;
    let store = ctx.open()?;
    let key = keys::for_archive(args.archive_key_file.as_deref(), false)?;
    let bar = progress::messages("importing");
    let report = store.import(file, &ImportOptions::with_key(key).on_progress(track(&bar)))?;
    bar.finish_and_clear();
    if ctx.json {
        output::print_json(&json!({
            "conversations_created": report.conversations_created,
            "conversations_matched": report.conversations_matched,
            "messages_added": report.messages_added,
            "messages_skipped": report.messages_skipped,
            "attachments_added": report.attachments_added,
            "attachments_skipped": report.attachments_skipped,
            "bytes": report.bytes,
        }));
    } else {
        say!(
            "Imported {}: {} added, {} already here or expired; {} added, {} already here or of messages \
             not added; {} created, {} matched.",
            args.path.display(),
            output::plural(report.messages_added, "message"),
            report.messages_skipped,
            output::plural(report.attachments_added, "attachment"),
            report.attachments_skipped,
            output::plural(report.conversations_created, "conversation"),
            report.conversations_matched
        );
    }
    Ok(())
}

pub fn inspect(ctx: &Ctx, args: &ArchiveArgs) -> CliResult<()> {
    let file = open_archive(args)?;
    let key = keys::for_archive(args.archive_key_file.as_deref(), false)?;
    let bar = progress::messages("checking");
    let summary = inspect_archive(file, &ImportOptions::with_key(key).on_progress(track(&bar)))?;
    bar.finish_and_clear();
    let span = |range: Option<(i64, i64)>| range.map(|(a, b)| (output::rfc3339(a), output::rfc3339(b)));
    if ctx.json {
        let conversations: Vec<Value> = summary
            .conversations
            .iter()
            .map(|c| {
                let (first, last) = span(c.sent_between_ms).unzip();
                json!({
                    "external_id": c.external_id,
                    "title": c.title,
                    "messages": c.messages,
                    "attachments": c.attachments,
                    "first_sent_at": first,
                    "last_sent_at": last,
                })
            })
            .collect();
        output::print_json(&json!({
            "version": summary.version,
            "passphrase": summary.passphrase,
            "chatvault_version": summary.chatvault_version,
            "exported_at": output::rfc3339(summary.exported_at_ms),
            "messages": summary.messages,
            "attachments": summary.attachments,
            "attachment_bytes": summary.attachment_bytes,
            "bytes": summary.bytes,
            "conversations": conversations,
        }));
        return Ok(());
    }
    say!(
        "{}: a valid archive (format {}, {}), written by chatvault {} on {}.",
        args.path.display(),
        summary.version,
        if summary.passphrase { "passphrase" } else { "raw key" },
        summary.chatvault_version,
        output::time(summary.exported_at_ms, &ctx.tz)
    );
    say!(
        "{}, {}, {} ({} of content), {}; every chunk authenticated.",
        output::plural(summary.conversations.len() as u64, "conversation"),
        output::plural(summary.messages, "message"),
        output::plural(summary.attachments, "attachment"),
        output::bytes(summary.attachment_bytes),
        output::bytes(summary.bytes)
    );
    say!(
        "{} {:>8} {:>11}  {:<16}  {:<16}",
        output::fit("title", 24),
        "messages",
        "attachments",
        "first",
        "last"
    );
    for c in &summary.conversations {
        let (first, last) = c
            .sent_between_ms
            .map(|(a, b)| (output::time(a, &ctx.tz), output::time(b, &ctx.tz)))
            .unwrap_or_default();
        say!(
            "{} {:>8} {:>11}  {first:<16}  {last:<16}",
            output::fit(&c.title, 24),
            c.messages,
            c.attachments
        );
    }
    Ok(())
}

fn open_archive(args: &ArchiveArgs) -> CliResult<BufReader<File>> {
    File::open(&args.path)
        .map(BufReader::new)
        .map_err(|e| Failure::user(format!("cannot open archive {}: {e}", args.path.display())))
}

/// A progress callback that moves `bar` along the archive's messages.
fn track(bar: &indicatif::ProgressBar) -> impl Fn(&ArchiveProgress) + Send + Sync + 'static {
    let bar = bar.clone();
    move |p| {
        bar.set_length(p.total_messages);
        bar.set_position(p.messages);
    }
}
