//! `attach`, `attachments`, `save`, `usage`, `clear-media` and
//! `delete-attachment`: photos, voice notes and files (docs/ATTACHMENTS.md).

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use chatvault::{
    Attachment, AttachmentFilter, AttachmentId, AttachmentPage, ConversationId, Error as StoreError, Missing,
    NewAttachment, Store,
};
use serde_json::{Value, json};

use crate::cli::{AttachmentsArgs, ClearMediaArgs};
use crate::failure::{CliResult, Failure, committed};
use crate::{Ctx, keys, output};

/// The media type `attach` gives a file named `name` when `--media-type`
/// is not given: from its extension, else `application/octet-stream`.
pub fn media_type_for(name: &str) -> &'static str {
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => String::new(),
    };
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// An attachment named on the command line that is not there (or whose
/// message expired).
fn missing(id: AttachmentId) -> Failure {
    Failure::user(format!("no attachment {id} in this store (list them with `attachments`)"))
}

/// Reads an attachment's metadata, a missing one said as such.
fn lookup(store: &Store, id: AttachmentId) -> CliResult<Attachment> {
    match store.attachment(id) {
        Ok(a) => Ok(a),
        Err(StoreError::NotFound(Missing::Attachment(_))) => Err(missing(id)),
        Err(e) => Err(e.into()),
    }
}

/// Streams a file (or standard input) into a new attachment of a message.
pub fn attach(
    ctx: &Ctx,
    message: &str,
    file: &Path,
    media_type: Option<String>,
    name: Option<String>,
) -> CliResult<()> {
    let store = ctx.open()?;
    let m = ctx.message(&store, message)?;
    let stdin = file == Path::new("-");
    let name = name
        .or_else(|| (!stdin).then(|| file.file_name().map(|n| n.to_string_lossy().into_owned())).flatten());
    let media_type = media_type.unwrap_or_else(|| media_type_for(name.as_deref().unwrap_or("")).to_owned());
    if media_type.trim().is_empty() {
        return Err(Failure::user("--media-type is empty"));
    }
    let mut source: Box<dyn Read> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            File::open(file).map_err(|e| Failure::user(format!("cannot open {}: {e}", file.display())))?;
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Failure::user(format!("{} is a directory: attach a file", file.display())));
        }
        Box::new(BufReader::with_capacity(64 << 10, f))
    };
    // The message is looked up first, so a wrong one fails before a byte is read.
    store.message(m)?;
    let new = NewAttachment { media_type, file_name: name, app_data: Vec::new() };
    let mut writer = store.attach(m, new)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::user(format!("cannot read {}: {e}", file.display()))),
        };
        writer.write_all(&buf[..n]).map_err(write_error)?;
    }
    let id = writer.finish()?;
    let a = store.attachment(id)?;
    if ctx.json {
        output::print_json(&output::attachment_json(&a));
    } else {
        say!(
            "Attached {} ({}, {}) to {m} as attachment {id}.",
            output::attachment_name(&a),
            output::one_line(&a.media_type),
            output::bytes(a.byte_len)
        );
    }
    Ok(())
}

/// An error of the attachment writer: the library's own error when it
/// carries one (a full disk, a size limit), else the I/O error.
fn write_error(e: std::io::Error) -> Failure {
    match e.downcast::<StoreError>() {
        Ok(e) => e.into(),
        Err(e) => Failure::user(format!("cannot store the attachment: {e}")),
    }
}

/// Lists attachments: a message's, a conversation's gallery (newest
/// message first, paged with `--before`), or the store's (most recently
/// stored first).
pub fn list(ctx: &Ctx, args: &AttachmentsArgs) -> CliResult<()> {
    let store = ctx.open()?;
    let prefix = args.media_type.as_deref();
    let of_type = |a: &Attachment| prefix.is_none_or(|p| a.media_type.starts_with(p));
    let mut more = None;
    let items: Vec<Attachment> = if let Some(m) = &args.message {
        let m = ctx.message(&store, m)?;
        if let Some(name) = &args.conversation {
            let c = ctx.conversation(&store, name)?;
            if c != m.conversation() {
                return Err(Failure::user(format!("message {m} is not in conversation {}", c.get())));
            }
        }
        store.message(m)?;
        let mut all: Vec<Attachment> = store.message_attachments(m)?.into_iter().filter(of_type).collect();
        if all.len() > args.limit {
            more = Some(format!("{} more: raise --limit", all.len() - args.limit));
            all.truncate(args.limit);
        }
        all
    } else if let Some(name) = &args.conversation {
        let c = ctx.conversation(&store, name)?;
        let mut page = AttachmentPage::newest(args.limit.saturating_add(1));
        if let Some(p) = prefix {
            page = page.media_type(p);
        }
        if let Some(before) = args.before {
            let before = AttachmentId::from_raw(before);
            let a = lookup(&store, before)?;
            if a.message.conversation() != c {
                return Err(Failure::user(format!("attachment {before} is not in conversation {}", c.get())));
            }
            page = page.before(before);
        }
        let mut got = store.attachments(c, page)?;
        if got.len() > args.limit {
            got.truncate(args.limit);
            more = got.last().map(|a| format!("older: --before {}", a.id));
        }
        got
    } else {
        let mut all = Vec::new();
        for c in with_attachments(&store)? {
            let mut page = AttachmentPage::newest(args.limit.saturating_add(1));
            if let Some(p) = prefix {
                page = page.media_type(p);
            }
            all.extend(store.attachments(c, page)?);
        }
        all.sort_by_key(|a| std::cmp::Reverse((a.created_at_ms, a.id)));
        if all.len() > args.limit {
            all.truncate(args.limit);
            more = Some("more: raise --limit, or name a conversation and page with --before".to_owned());
        }
        all
    };
    if ctx.json {
        output::print_json(&Value::Array(items.iter().map(output::attachment_json).collect()));
        return Ok(());
    }
    if items.is_empty() {
        say!("No attachments. Add one with `chatvault attach <conversation/seq> <file>`.");
        return Ok(());
    }
    table(ctx, &items);
    if let Some(more) = more {
        say!("({more})");
    }
    Ok(())
}

/// The conversations that have attachments, largest first (read without
/// decrypting anything).
fn with_attachments(store: &Store) -> CliResult<Vec<ConversationId>> {
    Ok(store.storage_usage()?.into_iter().filter(|u| u.attachments > 0).map(|u| u.conversation).collect())
}

/// Prints attachments as a table.
fn table(ctx: &Ctx, items: &[Attachment]) {
    say!(
        "{:>7}  {:<12} {} {} {:>10}  {:<16}  state",
        "id",
        "message",
        output::fit("media type", 18),
        output::fit("name", 28),
        "size",
        "stored"
    );
    for a in items {
        let state = match a.removed_at_ms {
            Some(t) => format!("removed {}", output::time(t, &ctx.tz)),
            None => String::new(),
        };
        let line = format!(
            "{:>7}  {:<12} {} {} {:>10}  {:<16}  {state}",
            a.id.get(),
            a.message.to_string(),
            output::fit(&a.media_type, 18),
            output::fit(&output::attachment_name(a), 28),
            output::bytes(a.byte_len),
            output::time(a.created_at_ms, &ctx.tz),
        );
        say!("{}", line.trim_end());
    }
}

/// The name `save` writes an attachment under by default: the HTML
/// export's ([`Attachment::file_name_for_disk`]), its file name as one path
/// component (anything but letters, digits, `-`, `_` and `.` replaced,
/// outer dots dropped, at most 150 bytes), else `attachment-<id>` with the
/// extension of its media type.
pub fn default_file_name(a: &Attachment) -> String {
    a.file_name_for_disk()
}

/// Writes an attachment's content to a file, a directory, or stdout (`-`).
pub fn save(ctx: &Ctx, id: u64, output: Option<&Path>, force: bool) -> CliResult<()> {
    let id = AttachmentId::from_raw(id);
    let to_stdout = output == Some(Path::new("-"));
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Failure::user(
            "standard output is a terminal: redirect it (`> file`), or give a file to save to",
        ));
    }
    let store = ctx.open()?;
    let a = lookup(&store, id)?;
    if let Some(t) = a.removed_at_ms {
        return Err(Failure::user(format!(
            "the content of attachment {id} ({}) was removed on {} to free space: only its name and size \
             remain",
            output::attachment_name(&a),
            output::time(t, &ctx.tz)
        )));
    }
    let mut reader = match store.open_attachment(id) {
        Ok(r) => r,
        Err(StoreError::NotFound(Missing::Attachment(_))) => return Err(missing(id)),
        Err(e) => return Err(e.into()),
    };
    if to_stdout {
        // A closed pipe (`save 7 - | head -c 10`) stops the writing, and
        // the command ends with success once the store is closed as usual,
        // like any other output (see [`output::emit`]).
        let closed = std::cell::Cell::new(false);
        let failed = |e: std::io::Error| {
            closed.set(e.kind() == std::io::ErrorKind::BrokenPipe);
            Failure::user(format!("cannot write to standard output: {e}"))
        };
        let mut out = std::io::stdout().lock();
        let written =
            copy(&mut reader, &mut out, failed).and_then(|n| out.flush().map(|()| n).map_err(failed));
        return match written {
            Ok(n) => check_length(&a, n),
            Err(_) if closed.get() => {
                output::pipe_closed();
                Ok(())
            }
            Err(f) => Err(f),
        };
    }
    let dest = match output {
        None => PathBuf::from(default_file_name(&a)),
        Some(p) if p.is_dir() => p.join(default_file_name(&a)),
        Some(p) => p.to_owned(),
    };
    let exists = |p: &Path| p.symlink_metadata().is_ok();
    if exists(&dest) && !force {
        return Err(Failure::user(format!(
            "{} already exists: pass --force to replace it, or give another path",
            dest.display()
        )));
    }
    if dest.is_dir() {
        return Err(Failure::user(format!("{} is a directory", dest.display())));
    }
    // Into a temporary file beside it, renamed into place once complete:
    // a failed save (a damaged attachment) leaves no partial file.
    let (file, tmp) = temporary_beside(&dest)?;
    let written = (|| {
        let mut w = std::io::BufWriter::with_capacity(64 << 10, &file);
        let n = copy(&mut reader, &mut w, |e| Failure::user(format!("cannot write {}: {e}", tmp.display())))?;
        w.flush()?;
        drop(w);
        check_length(&a, n)?;
        file.sync_all()?;
        if exists(&dest) && !force {
            return Err(Failure::user(format!("{} appeared meanwhile: nothing replaced", dest.display())));
        }
        std::fs::rename(&tmp, &dest)
            .map_err(|e| Failure::user(format!("cannot write {}: {e}", dest.display())))?;
        keys::sync_parent(&dest);
        Ok(n)
    })();
    let n = match written {
        Ok(n) => n,
        Err(f) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(f);
        }
    };
    if ctx.json {
        let mut v = output::attachment_json(&a);
        v["path"] = json!(dest);
        v["bytes_written"] = json!(n);
        output::print_json(&v);
    } else {
        say!(
            "Saved attachment {id} ({}, {}) to {} (readable by you only).",
            output::attachment_name(&a),
            output::bytes(n),
            dest.display()
        );
    }
    Ok(())
}

/// Copies an attachment's content, decrypting a chunk at a time; a chunk
/// that fails authentication is the library's error (a data error).
fn copy(
    reader: &mut chatvault::AttachmentReader,
    out: &mut impl Write,
    write_failed: impl Fn(std::io::Error) -> Failure,
) -> CliResult<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let n = reader.read_at(at, &mut buf)?;
        if n == 0 {
            return Ok(at);
        }
        out.write_all(&buf[..n]).map_err(&write_failed)?;
        at += n as u64;
    }
}

fn check_length(a: &Attachment, n: u64) -> CliResult<()> {
    if n == a.byte_len {
        Ok(())
    } else {
        Err(Failure::data(format!("attachment {} gave {n} bytes where it holds {}", a.id, a.byte_len)))
    }
}

/// A new file `.<name>.<n>.part` beside `dest`, readable by its owner only.
fn temporary_beside(dest: &Path) -> CliResult<(File, PathBuf)> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name =
        dest.file_name().ok_or_else(|| Failure::user(format!("{} does not name a file", dest.display())))?;
    for n in 0..100u32 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{n}.part", std::process::id()));
        let tmp = dir.join(tmp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Failure::user(format!("cannot write in {}: {e}", dir.display()))),
        }
    }
    Err(Failure::user(format!("cannot create a temporary file in {}", dir.display())))
}

/// Per conversation: bytes of text and of attachments, largest first.
pub fn usage(ctx: &Ctx, limit: Option<usize>) -> CliResult<()> {
    let store = ctx.open()?;
    let all = store.storage_usage()?;
    let (text, att, count) = all.iter().fold((0u64, 0u64, 0u64), |(t, a, n), u| {
        (t.saturating_add(u.text_bytes), a.saturating_add(u.attachment_bytes), n + u.attachments)
    });
    let shown = &all[..limit.unwrap_or(all.len()).min(all.len())];
    let titles =
        shown.iter().map(|u| Ok(store.conversation(u.conversation)?.title)).collect::<CliResult<Vec<_>>>()?;
    if ctx.json {
        let rows: Vec<Value> = shown
            .iter()
            .zip(&titles)
            .map(|(u, title)| {
                json!({
                    "conversation": u.conversation.get(),
                    "title": title,
                    "text_bytes": u.text_bytes,
                    "attachment_bytes": u.attachment_bytes,
                    "attachments": u.attachments,
                })
            })
            .collect();
        output::print_json(&json!({
            "conversations": rows,
            "total": {
                "conversations": all.len(),
                "text_bytes": text,
                "attachment_bytes": att,
                "attachments": count,
            },
        }));
        return Ok(());
    }
    if all.is_empty() {
        say!("No conversations.");
        return Ok(());
    }
    say!("{:>5}  {} {:>10} {:>12} {:>11}", "id", output::fit("title", 24), "text", "attachments", "count");
    for (u, title) in shown.iter().zip(&titles) {
        say!(
            "{:>5}  {} {:>10} {:>12} {:>11}",
            u.conversation.get(),
            output::fit(title, 24),
            output::bytes(u.text_bytes),
            output::bytes(u.attachment_bytes),
            u.attachments
        );
    }
    if shown.len() < all.len() {
        say!("{:>5}  ({} more)", "", output::plural((all.len() - shown.len()) as u64, "conversation"));
    }
    say!(
        "{:>5}  {} {:>10} {:>12} {:>11}",
        "",
        output::fit(&format!("total ({})", output::plural(all.len() as u64, "conversation")), 24),
        output::bytes(text),
        output::bytes(att),
        count
    );
    Ok(())
}

/// `--older-than`: a number and a unit (s, m, h, d, w), in milliseconds.
pub fn parse_duration(s: &str) -> CliResult<i64> {
    let bad = || {
        Failure::user(format!(
            "{s:?} is not a duration: write a number and a unit, s, m, h, d or w (e.g. 30d, 12h)"
        ))
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).ok_or_else(|| Failure::user(format!("{s:?} is too long a duration")))
}

/// `--larger-than`: bytes, or a number with K, M, G or T (KB, KiB, ...),
/// powers of 1024.
pub fn parse_size(s: &str) -> CliResult<u64> {
    let bad = || {
        Failure::user(format!(
            "{s:?} is not a size: write bytes, or a number with K, M or G (e.g. 500K, 5MB)"
        ))
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    if let Ok(whole) = n.parse::<u64>() {
        return whole.checked_mul(1 << shift).ok_or_else(bad);
    }
    let v: f64 = n.parse().map_err(|_| bad())?;
    let bytes = v * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// The storage manager: removes the content of matching attachments.
pub fn clear_media(ctx: &Ctx, args: &ClearMediaArgs) -> CliResult<()> {
    let older = args.older_than.as_deref().map(parse_duration).transpose()?;
    let larger = args.larger_than.as_deref().map(parse_size).transpose()?;
    if !args.yes && !args.dry_run && !keys::can_prompt() {
        return Err(Failure::user(
            "removing attachments' content cannot be undone: pass --yes to confirm (or --dry-run to see what \
             would be removed)",
        ));
    }
    let store = ctx.open()?;
    let conversation = args.conversation.as_deref().map(|c| ctx.conversation_exact(&store, c)).transpose()?;
    // The conversation it was taken to name, said in the question and the
    // output (with --yes too).
    let named = conversation.map(|c| store.conversation(c)).transpose()?;
    let scope = named
        .as_ref()
        .map_or(String::new(), |c| format!(" of conversation {} {:?}", c.id, output::one_line(&c.title)));
    let scope_json = named.as_ref().map(|c| json!({ "id": c.id.get(), "title": c.title }));
    let now = chatvault::Clock::system().now_ms();
    let filter = AttachmentFilter {
        conversation,
        media_type_prefix: args.media_type.clone(),
        created_before_ms: older.map(|ms| now.saturating_sub(ms)),
        // "Larger than" N: at least N + 1 bytes.
        min_bytes: larger.map(|n| n.saturating_add(1)),
    };
    if args.dry_run || !args.yes {
        let matching = matching(&store, &filter)?;
        let bytes: u64 = matching.iter().map(|a| a.byte_len).sum();
        let mut convs: Vec<ConversationId> = matching.iter().map(|a| a.message.conversation()).collect();
        convs.sort_unstable();
        convs.dedup();
        if args.dry_run {
            if ctx.json {
                output::print_json(&json!({
                    "dry_run": true,
                    "conversation": scope_json,
                    "attachments": matching.len(),
                    "bytes": bytes,
                    "matching": matching.iter().map(output::attachment_json).collect::<Vec<_>>(),
                }));
            } else {
                if !matching.is_empty() {
                    table(ctx, &matching);
                }
                say!(
                    "Would remove the content of {}{scope} ({}) in {}; nothing was removed (--dry-run).",
                    output::plural(matching.len() as u64, "attachment"),
                    output::bytes(bytes),
                    output::plural(convs.len() as u64, "conversation")
                );
            }
            return Ok(());
        }
        if matching.is_empty() {
            if ctx.json {
                output::print_json(&json!({ "attachments": 0, "bytes": 0 }));
            } else {
                say!("No attachment matches: nothing removed.");
            }
            return Ok(());
        }
        let question = format!(
            "Remove the content of {}{scope} ({}) in {}? Their messages, names and sizes stay; the content \
             cannot be recovered.",
            output::plural(matching.len() as u64, "attachment"),
            output::bytes(bytes),
            output::plural(convs.len() as u64, "conversation")
        );
        if !crate::confirm(&question)? {
            return Err(Failure::user("nothing removed"));
        }
    }
    let report = committed(store.clear_attachments(&filter))?;
    if ctx.json {
        output::print_json(&json!({
            "conversation": scope_json,
            "attachments": report.map(|r| r.attachments),
            "bytes": report.map(|r| r.bytes),
        }));
    } else {
        match report {
            Some(r) if r.attachments == 0 => say!("No attachment{scope} matches: nothing removed."),
            Some(r) => say!(
                "Removed the content of {}{scope}, freeing {}; their messages still show what was there.",
                output::plural(r.attachments, "attachment"),
                output::bytes(r.bytes)
            ),
            None => say!("Removed the content of the matching attachments{scope}."),
        }
    }
    Ok(())
}

/// What `clear_attachments(filter)` would remove, by the same rules:
/// content not yet removed, of a media type starting with the prefix,
/// stored before the time, of at least the size.
fn matching(store: &Store, filter: &AttachmentFilter) -> CliResult<Vec<Attachment>> {
    let convs = match filter.conversation {
        Some(c) => vec![c],
        None => with_attachments(store)?,
    };
    let mut out = Vec::new();
    for c in convs {
        let mut page = AttachmentPage::newest(usize::MAX);
        if let Some(p) = &filter.media_type_prefix {
            page = page.media_type(p.clone());
        }
        out.extend(store.attachments(c, page)?.into_iter().filter(|a| {
            a.removed_at_ms.is_none()
                && filter.created_before_ms.is_none_or(|t| a.created_at_ms < t)
                && filter.min_bytes.is_none_or(|n| a.byte_len >= n)
        }));
    }
    Ok(out)
}

/// Deletes one attachment, keeping its message.
pub fn delete(ctx: &Ctx, id: u64) -> CliResult<()> {
    let id = AttachmentId::from_raw(id);
    let store = ctx.open()?;
    let a = lookup(&store, id)?;
    committed(store.delete_attachment(id))?;
    if ctx.json {
        output::print_json(&json!({ "deleted": id.get(), "message": a.message.to_string() }));
    } else {
        say!(
            "Deleted attachment {id} ({}) of message {}; its bytes are scrubbed from disk.",
            output::attachment_name(&a),
            a.message
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(media_type_for("IMG_0001.JPG"), "image/jpeg");
        assert_eq!(media_type_for("a.b.jpeg"), "image/jpeg");
        assert_eq!(media_type_for("voice.m4a"), "audio/mp4");
        assert_eq!(media_type_for("clip.mov"), "video/quicktime");
        assert_eq!(media_type_for("doc.pdf"), "application/pdf");
        assert_eq!(media_type_for("notes"), "application/octet-stream");
        assert_eq!(media_type_for("archive.tar.gz"), "application/octet-stream");
        assert_eq!(media_type_for(""), "application/octet-stream");
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("30d").ok(), Some(30 * 86_400_000));
        assert_eq!(parse_duration("12h").ok(), Some(12 * 3_600_000));
        assert_eq!(parse_duration("2w").ok(), Some(14 * 86_400_000));
        assert_eq!(parse_duration("90s").ok(), Some(90_000));
        assert_eq!(parse_duration("5 min").ok(), Some(300_000));
        for bad in ["30", "d", "-1d", "1.5d", "3y", "", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_size("1024").ok(), Some(1024));
        assert_eq!(parse_size("500K").ok(), Some(500 << 10));
        assert_eq!(parse_size("5MB").ok(), Some(5 << 20));
        assert_eq!(parse_size("5 MiB").ok(), Some(5 << 20));
        assert_eq!(parse_size("1.5g").ok(), Some(3 << 29));
        assert_eq!(parse_size("0").ok(), Some(0));
        for bad in ["", "MB", "5 PB", "-5M", "1e3", "99999999999T", "1.2.3K"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    fn named(name: Option<&str>, media_type: &str) -> String {
        default_file_name(&Attachment {
            id: AttachmentId::from_raw(9),
            message: chatvault::MessageId::new(ConversationId::from_raw(1), 1),
            media_type: media_type.into(),
            file_name: name.map(Into::into),
            byte_len: 0,
            app_data: Vec::new(),
            created_at_ms: 0,
            removed_at_ms: None,
        })
    }

    #[test]
    fn default_names_stay_in_the_directory() {
        assert_eq!(named(Some("IMG 0001.jpg"), "image/jpeg"), "IMG_0001.jpg");
        assert_eq!(named(Some("../../etc/passwd"), "text/plain"), "_.._etc_passwd");
        assert_eq!(named(Some(".."), "image/png"), "attachment-9.png");
        assert_eq!(named(Some("/"), "x/y"), "attachment-9");
        assert_eq!(named(Some(".bashrc"), "x/y"), "bashrc");
        assert_eq!(named(Some("C:\\x\\y.txt"), "x/y"), "C__x_y.txt");
        assert_eq!(named(Some("a\u{202e}gnp.exe"), "x/y"), "a_gnp.exe");
        assert_eq!(named(None, "audio/ogg"), "attachment-9.ogg");
        let long = named(Some(&"é".repeat(300)), "x/y");
        assert!(long.len() <= 150 && long.starts_with("éé"), "{long}");
        for name in ["..", "../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "...", ". .", "\n"] {
            let got = named(Some(name), "x/y");
            assert_eq!(Path::new(&got).components().count(), 1, "{name:?}: {got:?}");
            assert!(!got.starts_with('.') && !got.contains('/'), "{name:?}: {got:?}");
        }
    }
}
