//! Importing an archive (docs/FORMAT.md, "Importing"): in one transaction,
//! committed only once the whole archive has verified, and matched against
//! what the store already holds so nothing is added twice.

use std::io::Read;
use std::path::Path;

use super::attachments::{self, ContentWriter, PendingContent};
use super::conversations::{ConvState, check_meta, find_by_external_id, find_by_origin, insert_conversation};
use super::messages::expiry;
use super::refs::{RECENT_MIN, Refs};
use super::segments::{self, Keys, Limits, OpenSegment, Packer};
use super::{Ctx, Store};
use crate::archive::{ArchiveReader, ImportOptions, ImportReport, Item, Reporter};
use crate::error::Result;
use crate::format::archive::{AttachmentRecord, ConversationRecord, MessageRecord};
use crate::format::frame;
use crate::format::records::{ConversationMeta, Origin, StoredMessage};
use crate::ids::{ConversationId, MessageId};
use crate::maintenance::CompactOptions;

impl Store {
    /// Imports an archive made by [`Store::export`], verifying it as it
    /// streams. Nothing becomes visible until the final chunk has
    /// authenticated: any failure (a wrong key, tampering, a cut-short
    /// archive, a full disk) leaves the store exactly as it was.
    ///
    /// Importing is idempotent: conversations and messages the store
    /// already has are matched and skipped (docs/FORMAT.md, "Importing"),
    /// so importing the same archive twice, or one that overlaps the store,
    /// adds nothing twice. The store's writes wait while an import runs;
    /// reads go on. `input` and the progress callback run inside the
    /// import's write transaction: they must not call into this store.
    pub fn import(&self, input: impl Read, options: &ImportOptions) -> Result<ImportReport> {
        // Argon2id and the header checks run before the write lock is taken.
        let mut archive = ArchiveReader::open(input, &options.key, &options.max_kdf)?;
        let totals = (archive.header().conversations, archive.header().messages);
        let mut reporter = Reporter::new(options.progress.clone(), options.cancel.clone(), totals);
        // Attachment content sealed by the import: its files are removed
        // unless the transaction commits.
        let mut sealed = Vec::new();
        let result = self.write(|ctx| import_in(ctx, &mut archive, &mut reporter, &mut sealed));
        // As for one attachment (`attachments::settle`): kept unless the
        // transaction surely rolled back.
        let keep =
            matches!(result, Ok(_) | Err(crate::error::Error::Io(_) | crate::error::Error::ScrubIncomplete));
        for s in sealed {
            s.settle(self, keep);
        }
        let report = result?;
        // Committed: too late to cancel.
        reporter.report(report.bytes, totals, true);
        Ok(report)
    }

    /// [`Store::import`] from the archive file at `path`. A file that cannot
    /// be opened is [`crate::Error::Io`], with a message naming it.
    pub fn import_from_file(&self, path: impl AsRef<Path>, options: &ImportOptions) -> Result<ImportReport> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot open the archive {}: {e}", path.display()))
        })?;
        self.import(file, options)
    }
}

/// A conversation being imported.
struct Target {
    state: ConvState,
    /// Whether the store had it before the import.
    matched: bool,
    /// The store conversation's `next_seq` before the import.
    base_next: u64,
    /// Its retention, applied to messages added to a matched conversation
    /// as an append would.
    retention_ms: Option<u64>,
    archived_next: u64,
    refs: Option<Refs>,
    /// Where the archive's sequence numbers landed in the store.
    places: Places,
    /// The store segment last opened to compare a message at the same place.
    cursor: Option<OpenSegment>,
    pending: Vec<StoredMessage>,
    pending_first: u64,
    /// Where `pending` must be flushed: imported segments are packed as
    /// compaction packs them.
    packer: Packer,
    added: u64,
    read_marker: Option<u64>,
}

struct Importer<'s> {
    report: ImportReport,
    source_store: [u8; 16],
    compressor: Option<zstd::bulk::Compressor<'static>>,
    current: Option<Target>,
    /// The attachment whose content is being read.
    attachment: Option<Incoming>,
    /// Content stored so far, kept by the caller once the import commits.
    sealed: &'s mut Vec<PendingContent>,
    /// The attachments the store had on the message last imported into,
    /// for matching: each matches one archived attachment at most.
    existing: Option<(MessageId, Vec<attachments::Identity>)>,
}

/// An attachment of the archive being imported.
struct Incoming {
    record: AttachmentRecord,
    /// Where it goes: its message in the store, that message's expiry, and
    /// the content so far. `None`: skipped (its message was not added, or
    /// the store has it already); its content is read and dropped.
    into: Option<(u64, Option<i64>, ContentWriter)>,
}

fn import_in<R: Read>(
    ctx: &mut Ctx<'_>,
    archive: &mut ArchiveReader<R>,
    reporter: &mut Reporter,
    sealed: &mut Vec<PendingContent>,
) -> Result<ImportReport> {
    let mut imp = Importer {
        report: ImportReport::default(),
        source_store: archive.source().store,
        compressor: frame::compressor(),
        current: None,
        attachment: None,
        sealed,
        existing: None,
    };
    while let Some(item) = archive.next()? {
        match item {
            Item::Conversation(rec) => {
                imp.finish_conversation(ctx)?;
                imp.current = Some(imp.begin_conversation(ctx, rec)?);
            }
            Item::Message(m) => imp.message(ctx, m)?,
            Item::ReadMarker(r) => {
                if let Some(t) = &mut imp.current {
                    t.read_marker = t.places.at_or_before(r);
                }
            }
            Item::Attachment(a) => imp.begin_attachment(ctx, a)?,
            Item::AttachmentData(d) => imp.attachment_data(ctx, &d)?,
        }
        reporter.tick(archive.bytes_read(), archive.counts(), false)?;
    }
    imp.finish_conversation(ctx)?;
    imp.report.bytes = archive.bytes_read();
    Ok(imp.report)
}

impl Importer<'_> {
    /// An attachment record: where its message landed, unless the store
    /// has it already there (docs/FORMAT.md, "Importing").
    fn begin_attachment(&mut self, ctx: &mut Ctx<'_>, record: AttachmentRecord) -> Result<()> {
        let Some(t) = &mut self.current else { return Ok(()) };
        // Every message of the conversation came before its attachments:
        // write them, so the messages can be found.
        flush(ctx, t, self.compressor.as_mut())?;
        let target = t.places.exact(record.message_seq).map(|seq| MessageId::new(t.state.id, seq));
        let expires_at = match target {
            Some(m) => match attachments::message_expiry(ctx, m) {
                Ok(e) => Some((m, e)),
                Err(crate::error::Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let meta = new_meta(&record);
        let into = match expires_at {
            Some((m, e)) => {
                if self.existing.as_ref().is_none_or(|(em, _)| *em != m) {
                    self.existing = Some((m, attachments::identities(ctx, m)?));
                }
                let identity = attachments::identity(&meta, record.byte_len);
                let known = self.existing.as_mut().map(|(_, list)| list);
                match known
                    .and_then(|list| list.iter().position(|i| *i == identity).map(|at| list.swap_remove(at)))
                {
                    Some(_) => None,
                    None => Some((m.seq(), e)),
                }
            }
            None => None,
        };
        let Some((seq, expires_at)) = into else {
            self.report.attachments_skipped += 1;
            self.attachment = Some(Incoming { record, into: None });
            return Ok(());
        };
        if record.removed_at_ms.is_some() {
            attachments::insert_in(ctx, &mut t.state, seq, &meta, expires_at, Err(record.byte_len))?;
            self.report.attachments_added += 1;
            return Ok(());
        }
        let writer = ContentWriter::new(ctx.store, t.state.id)?;
        self.attachment = Some(Incoming { record, into: Some((seq, expires_at, writer)) });
        // An empty attachment has no content records to wait for.
        self.attachment_data(ctx, &[])
    }

    /// A piece of the current attachment's content; the last one stores it.
    fn attachment_data(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<()> {
        let (Some(t), Some(incoming)) = (&mut self.current, &mut self.attachment) else { return Ok(()) };
        let Some((_, _, writer)) = &mut incoming.into else { return Ok(()) };
        writer.write_all(data)?;
        if writer.len() < incoming.record.byte_len {
            return Ok(());
        }
        let Some(Incoming { record, into: Some((seq, expires_at, writer)) }) = self.attachment.take() else {
            return Ok(());
        };
        let sealed = writer.finish()?;
        attachments::insert_in(ctx, &mut t.state, seq, &new_meta(&record), expires_at, Ok(&sealed))?;
        self.sealed.push(sealed.into_pending(ctx.store));
        self.report.attachments_added += 1;
        Ok(())
    }

    /// Finds the store's conversation for `rec`, or creates one.
    fn begin_conversation(&mut self, ctx: &mut Ctx<'_>, rec: ConversationRecord) -> Result<Target> {
        let mut found = match &rec.external_id {
            Some(ext) => find_by_external_id(ctx, ext)?,
            None => find_by_origin(ctx, &self.source_store, rec.source_id)?,
        };
        if found.is_none() && rec.external_id.is_none() && &self.source_store == ctx.store.sealer().store_id()
        {
            // Exported from this very store: its own conversation, if it is still there.
            found = own_conversation(ctx, rec.source_id)?;
        }
        let matched = found.is_some();
        let (state, retention_ms) = match found {
            Some(c) => {
                self.report.conversations_matched += 1;
                let state = ConvState::load(ctx, c)?;
                let retention = state.meta(ctx)?.retention_ms;
                (state, retention)
            }
            None => {
                let origin = rec
                    .external_id
                    .is_none()
                    .then_some(Origin { store: self.source_store, id: rec.source_id });
                let meta = ConversationMeta {
                    external_id: rec.external_id,
                    title: rec.title,
                    members: rec.members,
                    app_data: rec.app_data,
                    created_at_ms: rec.created_at_ms,
                    read_up_to: None,
                    retention_ms: rec.retention_ms,
                    // Kept so a master-key rotation can compute its keyed
                    // hash again (an external id does that by itself).
                    origin,
                };
                check_meta(&meta)?;
                self.report.conversations_created += 1;
                (insert_conversation(ctx, &meta)?, None)
            }
        };
        Ok(Target {
            matched,
            base_next: state.next_seq,
            retention_ms,
            state,
            archived_next: rec.next_seq,
            refs: None,
            places: Places::default(),
            cursor: None,
            pending: Vec::new(),
            pending_first: 0,
            packer: Packer::new(Limits::compacted(&CompactOptions::default())),
            added: 0,
            read_marker: None,
        })
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, m: MessageRecord) -> Result<()> {
        let Some(t) = &mut self.current else {
            return Ok(());
        };
        let c = t.state.id;
        // The index key it is known by, and whether a message already known
        // by it is this one (always, for an external id; for sender and
        // time, only in a conversation the store had before).
        let (hashes, dedup) = match &m.external_id {
            Some(ext) => (ctx.masters().hashes_for(c, |k| k.message_hash(c, ext)), true),
            None => {
                if t.matched && m.seq < t.base_next && at_place(ctx, t, &m)? == Place::Same {
                    t.places.note(m.seq, m.seq);
                    self.report.messages_skipped += 1;
                    return Ok(());
                }
                (ctx.masters().hashes_for(c, |k| k.content_hash(c, &m.sender, m.sent_at_ms)), t.matched)
            }
        };
        let refs = match &mut t.refs {
            Some(r) => r,
            None => t.refs.insert(Refs::begin(ctx, c, usize::MAX)?),
        };
        let known = refs.find_either(ctx, hashes)?;
        if let (Some(existing), true) = (known, dedup)
            && (m.external_id.is_some() || same_text(ctx, t, existing, &m)?)
        {
            t.places.note(m.seq, existing);
            self.report.messages_skipped += 1;
            return Ok(());
        }
        let hash = known.is_none().then_some(hashes.0);
        let expires_at_ms = expiry(m.expires_at_ms, m.sent_at_ms, t.retention_ms);
        if expires_at_ms.is_some_and(|e| e <= ctx.now) {
            self.report.messages_skipped += 1;
            return Ok(());
        }
        let seq = m.seq.max(t.state.next_seq);
        t.places.note(m.seq, seq);
        if let (Some(hash), Some(refs)) = (hash, &mut t.refs) {
            refs.add(ctx, hash, seq)?;
            if refs.staged() >= RECENT_MIN {
                refs.settle(ctx)?;
            }
        }
        let stored = StoredMessage {
            offset: 0,
            external_id: m.external_id,
            sender: m.sender,
            sent_at_ms: m.sent_at_ms,
            text: m.text,
            reply_to: m.reply_to.and_then(|r| t.places.exact(r)),
            edited_at_ms: m.edited_at_ms,
            extra: m.extra,
            expires_at_ms,
        };
        if t.packer.add(stored.approx_len()) {
            flush(ctx, t, self.compressor.as_mut())?;
        }
        if t.pending.is_empty() {
            t.pending_first = seq;
        }
        t.pending.push(StoredMessage { offset: seq - t.pending_first, ..stored });
        t.state.next_seq = seq + 1;
        t.added += 1;
        self.report.messages_added += 1;
        Ok(())
    }

    /// Writes what is left of the current conversation, and its state.
    fn finish_conversation(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        let Some(mut t) = self.current.take() else {
            return Ok(());
        };
        flush(ctx, &mut t, self.compressor.as_mut())?;
        if let Some(refs) = &mut t.refs {
            // Not handed to the cache: `Refs::begin` took the conversation's
            // entry out, so the next write reloads it from disk.
            refs.settle(ctx)?;
        }
        if !t.matched {
            // Keep the source's gaps at the end, so new messages never reuse
            // the numbers of messages deleted there.
            t.state.next_seq = t.state.next_seq.max(t.archived_next);
        }
        t.state.message_count += t.added;
        if let Some(marker) = t.read_marker.filter(|&r| r < t.state.next_seq) {
            let mut meta = t.state.meta(ctx)?;
            if meta.read_up_to.is_none_or(|r| r < marker) {
                meta.read_up_to = Some(marker);
                t.state.set_meta(ctx, &meta)?;
            }
        }
        t.state.save(ctx, t.added > 0)
    }
}

/// An archived attachment's metadata, as the store keeps it.
fn new_meta(r: &AttachmentRecord) -> attachments::NewMeta<'_> {
    attachments::NewMeta {
        media_type: &r.media_type,
        file_name: r.file_name.as_deref(),
        app_data: &r.app_data,
        created_at_ms: r.created_at_ms,
        removed_at_ms: r.removed_at_ms,
    }
}

/// Seals the pending messages as one segment.
fn flush(
    ctx: &mut Ctx<'_>,
    t: &mut Target,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Result<()> {
    let Some(last) = t.pending.last().map(|m| t.pending_first + m.offset) else {
        return Ok(());
    };
    let aead = t.state.reserve_seals(ctx, segments::SEALS_PER_SEGMENT)?;
    let c = t.state.id;
    let sealed =
        segments::seal(ctx, &aead, c, t.state.epoch, (t.pending_first, last), &t.pending, compressor)?;
    segments::insert(ctx, c, &sealed)?;
    t.pending.clear();
    Ok(())
}

/// Conversation `id` of this store, if it exists and has no external id
/// (an imported one keeps its origin's hash in `ext_hash`, so the sealed
/// metadata decides).
fn own_conversation(ctx: &mut Ctx<'_>, id: u64) -> Result<Option<ConversationId>> {
    let c = ConversationId::from_raw(id);
    let state = match ConvState::load(ctx, c) {
        Ok(s) => s,
        Err(crate::error::Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(state.meta(ctx)?.external_id.is_none().then_some(c))
}

/// What the store's conversation holds at an archive message's place.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// A message from the same sender at the same time: this one.
    Same,
    /// Another message: the two conversations numbered theirs apart.
    Other,
    /// Nothing (a gap, or a message deleted here).
    Empty,
}

fn at_place(ctx: &mut Ctx<'_>, t: &mut Target, m: &MessageRecord) -> Result<Place> {
    Ok(match stored_at(ctx, t, m.seq)? {
        Some(h) if h.sender == m.sender && h.sent_at_ms == m.sent_at_ms => Place::Same,
        Some(_) => Place::Other,
        None => Place::Empty,
    })
}

/// Whether the store's message at `seq`, found by `m`'s sender and time,
/// is `m`: the same text (or either was edited), or gone (deleted here).
/// Two messages from one sender in one millisecond share an index entry;
/// this keeps the second from being taken for the first.
fn same_text(ctx: &mut Ctx<'_>, t: &mut Target, seq: u64, m: &MessageRecord) -> Result<bool> {
    Ok(match stored_at(ctx, t, seq)? {
        Some(h) => h.text == m.text || h.edited_at_ms.is_some() || m.edited_at_ms.is_some(),
        None => true,
    })
}

/// The store's message at `seq` in the conversation being imported into,
/// through a cursor over one opened segment.
fn stored_at<'t>(ctx: &mut Ctx<'_>, t: &'t mut Target, seq: u64) -> Result<Option<&'t StoredMessage>> {
    let c = t.state.id;
    if !t.pending.is_empty() && seq >= t.pending_first {
        // Added by this import, not yet written.
        let offset = seq - t.pending_first;
        return Ok(t.pending.iter().find(|p| p.offset == offset));
    }
    if !t.cursor.as_ref().is_some_and(|o| (o.first..=o.last).contains(&seq)) {
        t.cursor = match segments::containing(ctx, c, seq)? {
            Some(seg) => Some(Keys::new(c).open(ctx, seg)?),
            None => None,
        };
    }
    Ok(t.cursor.as_ref().and_then(|o| o.position(seq).and_then(|i| o.messages.get(i))))
}

/// Where the archive's sequence numbers of one conversation landed in the
/// store: runs of consecutive archive numbers that moved by the same
/// amount. An import that appends after a store's own messages moves them
/// all by one amount, so this grows only with the gaps in the archive
/// (deleted or expired messages) and the places where the amount changes.
#[derive(Default)]
struct Places {
    /// (first archive seq, last archive seq, store seq - archive seq), in order.
    runs: Vec<(u64, u64, i128)>,
}

impl Places {
    /// Archive message `from` is at `to` in the store.
    fn note(&mut self, from: u64, to: u64) {
        let delta = i128::from(to) - i128::from(from);
        match self.runs.last_mut() {
            Some((_, last, d)) if *d == delta && last.checked_add(1) == Some(from) => *last = from,
            _ => self.runs.push((from, from, delta)),
        }
    }

    /// The run holding archive seq `r`, or the last one before it.
    fn run(&self, r: u64) -> Option<(u64, u64, i128)> {
        let i = self.runs.partition_point(|(first, _, _)| *first <= r);
        self.runs.get(i.checked_sub(1)?).copied()
    }

    /// Where archive message `r` (a reply target) is in the store; `None`
    /// if the archive did not hold it (deleted or expired at the source).
    fn exact(&self, r: u64) -> Option<u64> {
        let (_, last, delta) = self.run(r)?;
        if r > last {
            return None;
        }
        u64::try_from(i128::from(r) + delta).ok()
    }

    /// Where a read marker on archive seq `r` lands: on `r`'s message, or
    /// on the last message before the gap it falls in.
    fn at_or_before(&self, r: u64) -> Option<u64> {
        let (_, last, delta) = self.run(r)?;
        u64::try_from(i128::from(r.min(last)) + delta).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Places;

    #[test]
    fn places_merge_runs_and_keep_gaps_apart() {
        let mut p = Places::default();
        for s in 1..=5 {
            p.note(s, s); // already there
        }
        for s in [7, 8, 10] {
            p.note(s, s + 3); // appended after three local messages
        }
        p.note(11, 2); // matched by external id elsewhere
        assert_eq!(p.runs, [(1, 5, 0), (7, 8, 3), (10, 10, 3), (11, 11, -9)]);
        assert_eq!(p.exact(3), Some(3));
        assert_eq!(p.exact(6), None, "a reply to a message the archive lacks has no target");
        assert_eq!(p.at_or_before(6), Some(5), "a marker in a gap lands on the message before");
        assert_eq!(p.exact(9), None);
        assert_eq!(p.at_or_before(9), Some(11));
        assert_eq!(p.exact(10), Some(13));
        assert_eq!(p.exact(11), Some(2));
        assert_eq!(p.exact(0), None);
        assert_eq!(p.at_or_before(0), None);
    }
}
