//! `export`, `import` and `inspect`: archives, and plaintext exports.

use std::fs::File;
use std::io::BufReader;

use chatvault::archive::{ArchiveProgress, inspect as inspect_archive};
use chatvault::{ExportOptions, ImportOptions, Plaintext};
use serde_json::{Value, json};

use crate::cli::{ArchiveArgs, ExportArgs, ExportFormat};
use crate::failure::{CliResult, Failure};
use crate::{Ctx, keys, output, progress};

pub fn export(ctx: &Ctx, args: &ExportArgs) -> CliResult<()> {
    let path = &args.archive.path;
    if args.format != ExportFormat::Archive && !args.plaintext {
        return Err(Failure::user(format!(
            "a {} export is NOT encrypted: anyone who gets {} can read every message in it. \
             Pass --plaintext to accept that, or export an encrypted archive (the default format)",
            if args.format == ExportFormat::Jsonl { "jsonl" } else { "html" },
            path.display()
        )));
    }
    let store = ctx.open()?;
    let ids = args
        .conversations
        .iter()
        .map(|name| ctx.conversation(&store, name))
        .collect::<CliResult<Vec<_>>>()?;
    match args.format {
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
                    "Exported {} conversations, {} messages and {} attachments to {} ({}).",
                    report.conversations,
                    report.messages,
                    report.attachments,
                    path.display(),
                    output::bytes(report.bytes)
                );
            }
        }
        ExportFormat::Jsonl => {
            let only = (!ids.is_empty()).then_some(ids.as_slice());
            let n = store.export_json_lines_to_file(path, only, Plaintext::Accept)?;
            plaintext_done(ctx, path, n, None);
        }
        ExportFormat::Html => {
            let [c] = ids.as_slice() else {
                return Err(Failure::user(
                    "an html export holds one conversation: pass exactly one --conversation",
                ));
            };
            // The attachments go to `<stem>_files` beside the page
            // (`Store::export_html_to_file`), made only if there are any.
            let files = path.file_stem().map(|stem| {
                let mut name = stem.to_owned();
                name.push("_files");
                path.with_file_name(name)
            });
            let existed = files.as_deref().is_some_and(|f| f.symlink_metadata().is_ok());
            let n = store.export_html_to_file(*c, path, Plaintext::Accept)?;
            let files = files.filter(|f| !existed && f.is_dir());
            plaintext_done(ctx, path, n, files.as_deref());
        }
    }
    Ok(())
}

fn plaintext_done(ctx: &Ctx, path: &std::path::Path, messages: u64, attachments: Option<&std::path::Path>) {
    if ctx.json {
        output::print_json(&json!({
            "file": path,
            "messages": messages,
            "attachments_dir": attachments,
            "encrypted": false,
        }));
    } else if let Some(dir) = attachments {
        say!(
            "Wrote {messages} messages to {} and their attachments to {} (NOT encrypted: keep them safe, delete \
             them when done).",
            path.display(),
            dir.display()
        );
    } else {
        say!(
            "Wrote {messages} messages to {} (NOT encrypted: keep it safe, delete it when done).",
            path.display()
        );
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
            "Imported {}: {} messages added, {} already here or expired; {} attachments added, {} already here \
             or of messages not added; {} conversations created, {} matched.",
            args.path.display(),
            report.messages_added,
            report.messages_skipped,
            report.attachments_added,
            report.attachments_skipped,
            report.conversations_created,
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
        "{} conversations, {} messages, {} attachments ({} of content), {}; every chunk authenticated.",
        summary.conversations.len(),
        summary.messages,
        summary.attachments,
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
