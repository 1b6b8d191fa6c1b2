//! `demo`: a realistic store built from the shared corpus generator.
//!
//! A few hundred conversations with a skewed size distribution (the largest
//! hold tens of thousands of messages), many senders, English, French and
//! Chinese text with emoji, replies, edits, deletions, unread messages, and
//! timestamps spread over years. The most recently active conversations
//! have photos of a few sizes (one of them full HD, in a file beside the
//! store) and voice notes, generated here ([`media`]); one photo's content
//! was removed, as the storage manager does. The same seed builds the
//! same content.

mod media;

use std::time::Instant;

use chatvault::{
    AttachmentFilter, ConversationId, MessageId, NewAttachment, NewConversation, NewMessage, Store,
};
use chatvault_corpus::{ConversationSpec, Rng};
use serde_json::json;

use crate::cli::{DEFAULT_STORE, DemoArgs, ME};
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
    // The most recently active conversations, most recent first, with
    // their last messages: the media go there.
    let mut recent: Vec<(ConversationId, Vec<MessageId>)> = Vec::new();
    let first_recent = specs.len().saturating_sub(MEDIA_PLAN.len());
    for (i, spec) in specs.iter().enumerate() {
        let c = store.create_conversation(NewConversation {
            external_id: Some(spec.external_id.clone()),
            title: spec.title.clone(),
            members: spec.members.clone(),
            created_at_ms: Some(spec.created_at_ms),
            ..Default::default()
        })?;
        let (ids, last_own) = fill(&store, c, spec, &bar)?;
        let (e, d) = touch(&store, c, &ids, last_own, &mut rng)?;
        edited += e;
        deleted += d;
        if i >= first_recent {
            recent.insert(0, (c, ids[ids.len().saturating_sub(MEDIA_WINDOW)..].to_vec()));
        }
    }
    bar.finish_and_clear();
    let media = add_media(&store, &recent, args.seed)?;
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
            "attachments": media.attachments,
            "attachment_bytes": media.bytes,
            "attachments_removed": media.removed,
            "file_bytes": file_bytes,
            "seed": args.seed,
        }));
        return Ok(());
    }
    say!(
        "Built {} in {:.1} s: {}, {} ({} edited, {} deleted), {} ({}, {} removed), {} on disk ({source}).",
        path.display(),
        elapsed.as_secs_f64(),
        output::plural(specs.len() as u64, "conversation"),
        output::plural(args.messages as u64, "message"),
        edited,
        deleted,
        output::plural(media.attachments, "attachment"),
        output::bytes(media.bytes),
        media.removed,
        output::bytes(file_bytes)
    );
    say!(
        "Largest conversations: {} messages; English, French, Chinese, Japanese and Korean with emoji, 2019 \
         onwards (seed {}).\n",
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
    say!("  {command}{store_flag} attachments");
    say!("  {command} --help");
    Ok(())
}

/// Appends a conversation's messages in sync-sized batches and returns their
/// ids, and the index of the last one the user (`me`) sent.
fn fill(
    store: &Store,
    c: ConversationId,
    spec: &ConversationSpec,
    bar: &indicatif::ProgressBar,
) -> CliResult<(Vec<MessageId>, Option<usize>)> {
    let mut ids: Vec<MessageId> = Vec::with_capacity(spec.messages);
    let mut last_own = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut stream = chatvault_corpus::messages(spec).peekable();
    while stream.peek().is_some() {
        batch.clear();
        for m in stream.by_ref().take(BATCH) {
            let reply_to = m.reply_to.and_then(|i| ids.get(i).copied());
            if m.sender == ME {
                last_own = Some(ids.len() + batch.len());
            }
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
    Ok((ids, last_own))
}

/// What a user would have done to a conversation: edited and deleted a
/// message in some; read all of most, all but the last few of many, and
/// fallen further behind in a few, but always read up to their own last
/// message (`last_own`, an index into `ids`), as a chat app marks it when
/// they send it.
fn touch(
    store: &Store,
    c: ConversationId,
    ids: &[MessageId],
    last_own: Option<usize>,
    rng: &mut Rng,
) -> CliResult<(u64, u64)> {
    let (mut edited, mut deleted) = (0, 0);
    if ids.len() > 50 && rng.chance(0.3) {
        if let Some(&m) = ids.get(ids.len() / 2) {
            // The edit marker is shown by whatever displays it, not written
            // into the text.
            store.edit_message(m, "see you there ✔ — à demain 明天见")?;
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
    let read = ids.len().checked_sub(unread + 1).max(last_own);
    if let Some(&m) = read.and_then(|i| ids.get(i)) {
        store.mark_read(c, m)?;
    }
    Ok((edited, deleted))
}

/// The media each of the most recently active conversations gets, most
/// recent first.
const MEDIA_PLAN: [&[Media]; 6] = [
    &[Media::FullHd, Media::Photo, Media::Small, Media::Voice],
    &[Media::Photo, Media::Small, Media::Small, Media::Voice],
    &[Media::Photo, Media::Small, Media::Voice],
    &[Media::Small, Media::Small, Media::Voice],
    &[Media::RemovedPhoto, Media::Small, Media::Voice],
    &[Media::Small, Media::Voice],
];

/// Media go to one of a conversation's last this many messages.
const MEDIA_WINDOW: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// 1920 × 1080, about 6 MB: in a file beside the store.
    FullHd,
    /// 640 × 480, about 900 KB: in a file.
    Photo,
    /// A photo of 640 × 480 whose content is then removed, as the storage
    /// manager does: its message shows it was there.
    RemovedPhoto,
    /// 96 × 96, 27 KB: inline in the database.
    Small,
    /// Two seconds of telephone-quality sound, 32 KB: inline.
    Voice,
}

/// What [`add_media`] stored.
struct MediaReport {
    attachments: u64,
    bytes: u64,
    removed: u64,
}

/// Gives the most recently active conversations (most recent first, with
/// their last messages) the media of [`MEDIA_PLAN`], each on one of their
/// last messages, drawn from `seed`.
fn add_media(
    store: &Store,
    recent: &[(ConversationId, Vec<MessageId>)],
    seed: u64,
) -> CliResult<MediaReport> {
    // Its own generator, so the messages are the same as without media.
    let mut rng = Rng::new(seed ^ 0x006d_6564_6961);
    let mut report = MediaReport { attachments: 0, bytes: 0, removed: 0 };
    let mut photo_number = 1000 + rng.below(8000);
    let mut voice_number = 1 + rng.below(90);
    for ((c, ids), plan) in recent.iter().zip(MEDIA_PLAN) {
        if ids.is_empty() {
            continue;
        }
        for &kind in plan {
            let m = ids[rng.below(ids.len() as u64) as usize];
            let (file_name, media_type, app_data) = match kind {
                Media::Voice => {
                    voice_number += 1;
                    (format!("Voice note {voice_number:03}.wav"), "audio/wav", "{\"ms\":2000}".to_owned())
                }
                _ => {
                    photo_number += 1;
                    let (w, h) = dimensions(kind);
                    let prefix = if kind == Media::FullHd { "PANO" } else { "IMG" };
                    (
                        format!("{prefix}_{photo_number:04}.bmp"),
                        "image/bmp",
                        format!("{{\"w\":{w},\"h\":{h}}}"),
                    )
                }
            };
            let new = NewAttachment {
                media_type: media_type.to_owned(),
                file_name: Some(file_name),
                app_data: app_data.into_bytes(),
            };
            let mut writer = store.attach(m, new)?;
            let written = match kind {
                Media::Voice => media::write_wav(&mut writer, 2000, &mut rng),
                _ => {
                    let (w, h) = dimensions(kind);
                    media::write_bmp(&mut writer, w, h, &mut rng)
                }
            };
            let bytes = written.map_err(|e| match e.downcast::<chatvault::Error>() {
                Ok(e) => Failure::from(e),
                Err(e) => Failure::user(format!("cannot store the demo's media: {e}")),
            })?;
            writer.finish()?;
            report.attachments += 1;
            report.bytes += bytes;
            if kind == Media::RemovedPhoto {
                let cleared = store.clear_attachments(&AttachmentFilter {
                    conversation: Some(*c),
                    media_type_prefix: Some("image/".into()),
                    min_bytes: Some(media::bmp_len(640, 480)),
                    ..Default::default()
                })?;
                report.removed += cleared.attachments;
            }
        }
    }
    Ok(report)
}

/// The width and height of a picture.
fn dimensions(kind: Media) -> (u32, u32) {
    match kind {
        Media::FullHd => (1920, 1080),
        Media::Photo | Media::RemovedPhoto => (640, 480),
        Media::Small | Media::Voice => (96, 96),
    }
}
