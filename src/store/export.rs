//! Exporting conversations to an archive (docs/FORMAT.md).

use std::io::Write;
use std::path::Path;

use rusqlite::params;

use super::attachments;
use super::conversations::{ConvState, all_conversations};
use super::segments::{self, Keys, SegmentRow};
use super::{Ctx, Store};
use crate::archive::{
    ArchiveWriter, ExportOptions, ExportReport, Prepared, Reporter, check_conversation, check_message,
};
use crate::error::{Error, RecordRef, Result};
use crate::format::FORMAT_VERSION;
use crate::format::archive::{
    AttachmentRecord, Bytes, ConversationRecord, MAX_ATTACHMENT_DATA, MessageRecord, Record,
};
use crate::format::envelope::Place;
use crate::ids::ConversationId;

impl Store {
    /// Writes an archive of the store (or of the conversations `options`
    /// chooses) to `out`, from one consistent snapshot. Expired messages
    /// are left out. Memory stays bounded whatever the store's size.
    ///
    /// The store stays usable while this runs, writes included, but the
    /// export's snapshot keeps the WAL from being emptied: operations that
    /// delete data commit and then report [`crate::Error::ScrubIncomplete`]
    /// at once, and the scrub they owe runs when the last export finishes.
    /// `out` and the progress callback must not call into this store.
    ///
    /// `out` receives a partial archive if this fails; use
    /// [`Store::export_to_file`] to write a file that appears only once complete.
    pub fn export(&self, out: impl Write, options: &ExportOptions) -> Result<ExportReport> {
        // Argon2id runs before the snapshot is taken.
        let prepared = Prepared::new(&options.key)?;
        self.read_long(|ctx| export_in(ctx, out, prepared, options))
    }

    /// [`Store::export`] to a file: written to a temporary file beside
    /// `path`, synced, then renamed over `path`, so an interrupted export
    /// never leaves a file that looks complete. A path naming the store's own
    /// database (or its `-wal`, `-shm` or `-journal` file) is refused with
    /// [`Error::InvalidArgument`].
    pub fn export_to_file(&self, path: impl AsRef<Path>, options: &ExportOptions) -> Result<ExportReport> {
        self.write_file(path.as_ref(), |w| self.export(w, options))
    }
}

fn export_in(
    ctx: &mut Ctx<'_>,
    out: impl Write,
    prepared: Prepared,
    options: &ExportOptions,
) -> Result<ExportReport> {
    let ids = chosen(ctx, options.conversations.as_deref())?;
    let mut total_messages = 0u64;
    for &c in &ids {
        let (lo, hi) = segments::span(c);
        let stored: i64 = ctx
            .conn
            .prepare_cached("SELECT COALESCE(SUM(count), 0) FROM segment WHERE id BETWEEN ?1 AND ?2")?
            .query_row(params![lo, hi], |r| r.get(0))?;
        let (expired, _) = segments::expired_counts(ctx, c, None)?;
        // Counts come from disk: a tampered one must not overflow.
        total_messages =
            total_messages.saturating_add(u64::try_from(stored).unwrap_or(0).saturating_sub(expired));
    }
    let totals = (ids.len() as u64, total_messages);
    let mut w = ArchiveWriter::create(out, prepared, options.chunk_shift, totals)?;
    let mut reporter = Reporter::new(options.progress.clone(), options.cancel.clone(), totals);
    w.record(&Record::Store {
        chatvault_version: env!("CARGO_PKG_VERSION").to_owned(),
        source_format: FORMAT_VERSION,
        source_store: *ctx.store.sealer().store_id(),
        exported_at_ms: ctx.now,
    })?;
    let (mut conversations, mut messages, mut attachments) = (0u64, 0u64, 0u64);
    for &c in &ids {
        let state = ConvState::load(ctx, c)?;
        let meta = state.meta(ctx)?;
        let record = ConversationRecord {
            source_id: c.get(),
            external_id: meta.external_id,
            title: meta.title,
            members: meta.members,
            app_data: meta.app_data,
            created_at_ms: meta.created_at_ms,
            retention_ms: meta.retention_ms,
            next_seq: state.next_seq,
        };
        let rec = Place::conversation_meta(c, state.epoch).record();
        check_conversation(&record).map_err(|e| unexportable(rec, e))?;
        w.record(&Record::Conversation(record))?;
        conversations = conversations.saturating_add(1);
        let conn = ctx.conn;
        let mut stmt =
            conn.prepare_cached(segments::select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id"))?;
        let (lo, hi) = segments::span(c);
        let mut rows = stmt.query(params![lo, hi])?;
        let mut keys = Keys::new(c);
        let mut last_exported = 0;
        while let Some(r) = rows.next()? {
            let seg = SegmentRow::from_row(c, r)?;
            let rec = seg.place(c).record();
            let now = ctx.now;
            keys.open_view(ctx, seg, |first, views| {
                for v in views.iter().filter(|v| !v.expired(now)) {
                    let m = v.to_owned().ok_or_else(|| Error::corrupt(rec, "a string is not UTF-8"))?;
                    let seq = first + m.offset;
                    let record = MessageRecord {
                        seq,
                        external_id: m.external_id,
                        sender: m.sender,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        // Appends once accepted any reply target; one that is
                        // not an earlier message points nowhere.
                        reply_to: m.reply_to.filter(|&r| r != 0 && r < seq),
                        edited_at_ms: m.edited_at_ms,
                        extra: m.extra,
                        expires_at_ms: m.expires_at_ms,
                    };
                    check_message(&record).map_err(|e| unexportable(rec, e))?;
                    w.record(&Record::Message(record))?;
                    messages = messages.saturating_add(1);
                    last_exported = seq;
                }
                Ok(())
            })?;
            reporter.tick(w.written(), (conversations, messages), false)?;
        }
        drop(rows);
        drop(stmt);
        attachments += export_attachments(ctx, &mut w, c, last_exported)?;
        // As for replies: a marker the store could not have set (0, or
        // past the end, which reads as everything read) is written as the
        // reader accepts it, so the archive stays importable.
        let marker = meta.read_up_to.map(|r| r.min(state.next_seq.saturating_sub(1)));
        if let Some(read_up_to) = marker.filter(|&r| r > 0) {
            w.record(&Record::ReadMarker { read_up_to })?;
        }
        reporter.tick(w.written(), (conversations, messages), false)?;
    }
    if messages != total_messages {
        return Err(Error::corrupt(
            crate::error::RecordRef::store(crate::error::RecordKind::Segment),
            "segment counts disagree with the messages they hold (run verify)",
        ));
    }
    let (_, bytes) = w.finish()?;
    reporter.tick(bytes, (conversations, messages), true)?;
    Ok(ExportReport { conversations, messages, attachments, bytes })
}

/// Attachments read per query: a few dozen rows of metadata at a time.
const EXPORT_ATTACHMENT_BATCH: usize = 64;

/// Writes conversation `c`'s attachments of the messages exported (up to
/// `last_seq`), each followed by its content in pieces of at most 64 KiB
/// (docs/FORMAT.md, "Records"). Memory: one batch of metadata and one
/// chunk. Returns how many.
fn export_attachments<W: Write>(
    ctx: &mut Ctx<'_>,
    w: &mut ArchiveWriter<W>,
    c: ConversationId,
    last_seq: u64,
) -> Result<u64> {
    let mut after = (0, 0);
    let mut count = 0u64;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; MAX_ATTACHMENT_DATA]);
    loop {
        let batch = attachments::for_export(ctx, c, last_seq, after, EXPORT_ATTACHMENT_BATCH)?;
        let Some((last_id, last)) = batch.last() else { return Ok(count) };
        after = (last.message_seq, *last_id);
        for (_, a) in batch {
            let m = &a.meta;
            w.record(&Record::Attachment(AttachmentRecord {
                message_seq: a.message_seq,
                media_type: m.media_type.clone(),
                file_name: m.file_name.clone(),
                app_data: m.app_data.clone(),
                created_at_ms: m.created_at_ms,
                removed_at_ms: m.removed_at_ms,
                byte_len: m.byte_len,
            }))?;
            if let Some(mut reader) = a.content {
                let mut at = 0u64;
                while at < m.byte_len {
                    let n = reader.read_at(at, &mut buf)?;
                    if n == 0 {
                        return Err(Error::corrupt(
                            crate::error::RecordRef::store(crate::error::RecordKind::AttachmentContent),
                            "an attachment's content ends before its length",
                        ));
                    }
                    w.record(&Record::AttachmentData(Bytes(buf[..n].to_vec())))?;
                    at += n as u64;
                }
            }
            count += 1;
        }
    }
}

/// What stands in a record that no reader would accept (stored data past
/// the limits the store keeps when writing): a damaged store, not an
/// archive that fails on import.
fn unexportable(rec: RecordRef, e: Error) -> Error {
    match e {
        Error::ArchiveCorrupt { detail } => Error::corrupt(rec, format!("{detail}: it cannot be exported")),
        other => other,
    }
}

/// The conversations to export: those asked for (each existing, none
/// twice), or all of them by id.
fn chosen(ctx: &Ctx<'_>, asked: Option<&[ConversationId]>) -> Result<Vec<ConversationId>> {
    match asked {
        Some(ids) => {
            let mut seen = std::collections::HashSet::new();
            for &c in ids {
                if !seen.insert(c) {
                    return Err(Error::invalid(format!("conversation {c} is chosen twice")));
                }
                ConvState::load(ctx, c)?;
            }
            Ok(ids.to_vec())
        }
        None => all_conversations(ctx),
    }
}
