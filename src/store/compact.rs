//! Compaction (docs/DESIGN.md, "Compaction"): merging small segments into
//! compressed ones, dropping expired messages, resealing old key epochs and
//! destroying their keys, in short transactions, then scrubbing.

use std::time::Instant;

use rusqlite::params;

use super::conversations::{ConvState, conversation_id};
use super::segments::{self, Keys, Limits, OpenSegment, Packer, SegmentRow, select_segments};
use super::{Ctx, Store, row, sidecar};
use crate::error::{Error, Result};
use crate::format::frame;
use crate::format::records::StoredMessage;
use crate::ids::{ConversationId, KeyEpoch};
use crate::maintenance::{CompactOptions, CompactProgress, CompactReport};

/// Most existing segments one transaction rewrites.
const STEP_SEGMENTS: usize = 256;
/// Most sealed bytes one transaction reads (at least one segment is read).
const STEP_BYTES: usize = 4 << 20;

/// What one transaction did.
#[derive(Default)]
struct Step {
    rewritten: u64,
    written: u64,
    expired: u64,
    attachments_expired: u64,
    keys_destroyed: u64,
    /// The conversation has no work left.
    done: bool,
}

/// Per-conversation position between transactions.
struct Cursor {
    c: ConversationId,
    /// Next `first_seq` to look at among already-compacted segments.
    old_from: u64,
}

impl Store {
    /// Compacts the store: merges small segments into compressed segments of
    /// the target size, removes expired messages from disk, reseals segments
    /// of old key epochs under the current key and destroys the old keys
    /// (not while a master-key rotation is under way: the first compaction
    /// after it finishes does), then scrubs the file and the WAL.
    ///
    /// Each conversation is compacted in short transactions (at most 256
    /// segments each), so reads and writes carry on meanwhile and a crash
    /// loses nothing; a later call continues where this one stopped. With a
    /// budget or a cancel flag, the report's `work_remains` says whether to
    /// call again.
    ///
    /// A conversation that cannot be compacted because it is damaged is
    /// skipped (run [`Store::verify`] to see why); the others are compacted.
    /// Like the deleting operations, this returns [`Error::ScrubIncomplete`]
    /// if another process kept the WAL from being emptied.
    pub fn compact(&self, options: &CompactOptions) -> Result<CompactReport> {
        check_targets(options)?;
        let started = Instant::now();
        let mut report = CompactReport { bytes_before: self.bytes_on_disk(), ..CompactReport::default() };
        let todo = self.read(conversations_with_work)?;
        let total = todo.len() as u64;
        let mut compressor = frame::compressor();
        let mut changed = false;

        'conversations: for c in todo {
            let mut cursor = Cursor { c, old_from: 0 };
            loop {
                let over_time = options.time_budget.is_some_and(|b| started.elapsed() >= b);
                let over_segments = options.segment_budget.is_some_and(|b| report.segments_rewritten >= b);
                if over_time || over_segments || options.cancelled() {
                    report.work_remains = true;
                    break 'conversations;
                }
                let step =
                    match self.write(|ctx| compact_step(ctx, &mut cursor, options, compressor.as_mut())) {
                        Ok(step) => step,
                        // Deleted meanwhile: nothing to do.
                        Err(Error::NotFound(_)) => break,
                        // Damaged: leave it, say so, carry on with the others.
                        Err(Error::Authentication { .. } | Error::Corrupt { .. }) => {
                            report.conversations_skipped.push(c);
                            break;
                        }
                        Err(e) => {
                            // Scrub what committed before the failure, if possible.
                            if changed {
                                let _ = self.scrub();
                            }
                            return Err(e);
                        }
                    };
                changed |= step.rewritten > 0 || step.keys_destroyed > 0 || step.attachments_expired > 0;
                report.attachments_expired += step.attachments_expired;
                report.segments_rewritten += step.rewritten;
                report.segments_written += step.written;
                report.messages_expired += step.expired;
                report.keys_destroyed += step.keys_destroyed;
                if step.done {
                    report.conversations_compacted += 1;
                }
                if let Some(progress) = &options.progress {
                    progress(&CompactProgress {
                        conversations_done: report.conversations_compacted,
                        conversations_total: total,
                        segments_rewritten: report.segments_rewritten,
                    });
                }
                if step.done {
                    break;
                }
            }
        }
        // Attachment files no row names: a crash while one was written,
        // or an unlink that failed. (Before the scrub, which sweeps too.)
        // Its error waits until the rebuild and the scrub below have run.
        let swept = self.sweep_attachment_files();
        report.orphan_files_removed = swept.as_ref().map_or(0, |(files, _)| *files);
        // No copy of a destroyed key may survive in the key table's pages:
        // the rebuild owed since the transaction that deleted key rows (of
        // this compaction, or of one that a crash or an error cut short).
        match self.pay_key_rebuild() {
            Ok(rebuilt) => changed |= rebuilt,
            Err(e) => {
                let _ = self.scrub();
                return Err(e);
            }
        }
        if changed {
            match self.scrub() {
                // An export is running: the scrub runs when it ends.
                Err(Error::ScrubIncomplete) if self.scrub_is_owed() => {}
                other => other?,
            }
        }
        swept?;
        report.bytes_after = self.bytes_on_disk();
        Ok(report)
    }

    /// Bytes of the database file and its WAL.
    pub(crate) fn bytes_on_disk(&self) -> u64 {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        size(&self.path) + size(&sidecar(&self.path, "-wal"))
    }
}

fn check_targets(options: &CompactOptions) -> Result<()> {
    if !(1..=CompactOptions::MAX_TARGET_MESSAGES).contains(&options.target_messages) {
        return Err(Error::invalid(format!(
            "target_messages must be 1..={}, not {}",
            CompactOptions::MAX_TARGET_MESSAGES,
            options.target_messages
        )));
    }
    if !(1..=CompactOptions::MAX_TARGET_BYTES).contains(&options.target_bytes) {
        return Err(Error::invalid(format!(
            "target_bytes must be 1..={}, not {}",
            CompactOptions::MAX_TARGET_BYTES,
            options.target_bytes
        )));
    }
    Ok(())
}

/// Conversations with work, from plaintext columns: segments appended since
/// the last compaction, expired segments, or keys of other epochs (older
/// ones to destroy; a row above the current epoch means the epoch was
/// rolled back, which the step's sealing check finds).
fn conversations_with_work(ctx: &mut Ctx<'_>) -> Result<Vec<ConversationId>> {
    let ids: Vec<i64> = ctx
        .conn
        .prepare_cached(
            "SELECT c.id FROM conversation c WHERE
               EXISTS (SELECT 1 FROM segment s WHERE s.id > c.id * 4294967296 + MIN(c.compacted_through, 4294967295)
                                                   AND s.id <= c.id * 4294967296 + 4294967295)
               OR EXISTS (SELECT 1 FROM segment s WHERE s.conversation = c.id AND s.expires_at <= ?1)
               OR EXISTS (SELECT 1 FROM conversation_key k WHERE k.conversation = c.id AND k.epoch != c.epoch)
               OR EXISTS (SELECT 1 FROM attachment a WHERE a.conversation = c.id AND a.expires_at <= ?1)
             ORDER BY c.id",
        )?
        .query_map([ctx.now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.into_iter().map(conversation_id).collect()
}

/// Records that `c`'s segments up to sequence number `through` are
/// compacted (0: none are, so the next compaction looks at all of them).
pub(crate) fn set_compacted_through(ctx: &Ctx<'_>, c: ConversationId, through: u64) -> Result<()> {
    ctx.conn
        .prepare_cached("UPDATE conversation SET compacted_through = ?2 WHERE id = ?1")?
        .execute(params![row::sql_int(c.get())?, row::sql_int(through)?])?;
    Ok(())
}

fn compacted_through(ctx: &Ctx<'_>, c: ConversationId) -> Result<u64> {
    let rec = crate::format::envelope::Place::conversation_meta(c, KeyEpoch::FIRST).record();
    ctx.conn
        .prepare_cached("SELECT compacted_through FROM conversation WHERE id = ?1")?
        .query_row([row::sql_int(c.get())?], |r| Ok(row::uint(r, 0, rec)))?
}

/// One transaction of work on one conversation: old segments that need
/// resealing or expiring first, then the segments appended since the last
/// compaction; then destroys keys no segment uses.
fn compact_step(
    ctx: &mut Ctx<'_>,
    cursor: &mut Cursor,
    options: &CompactOptions,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Result<Step> {
    let c = cursor.c;
    let mut state = ConvState::load(ctx, c)?;
    // Resealing moves segments to the current epoch and destroys the
    // others: only if new values may be sealed under it. If not (a key
    // retired by a master-key rotation, or under the old master key during
    // one), a new epoch first; if that fails (an epoch rolled back under
    // metadata sealed later), the conversation is skipped and nothing is
    // destroyed.
    if ctx.sealing_key(c, state.epoch)?.is_none() {
        state.rotate(ctx)?;
        state.save(ctx, false)?;
    }
    let through = compacted_through(ctx, c)?;
    let mut step = Step::default();

    let old = old_segments_needing_work(ctx, &state, cursor.old_from, through)?;
    if let Some(last) = old.last() {
        cursor.old_from = last.first.saturating_add(1);
        rewrite_in_place(ctx, &mut state, old, compressor, &mut step)?;
    } else {
        // The compacted part is done for this call: later steps skip it.
        cursor.old_from = through.saturating_add(1);
        let tail = tail_run(ctx, c, through, options)?;
        if let Some(last) = tail.last() {
            let new_through = last.last.max(through);
            merge_run(ctx, &mut state, tail, options, compressor, &mut step)?;
            set_compacted_through(ctx, c, new_through)?;
        } else {
            step.done = true;
        }
    }
    if step.done {
        // The attachments: those of expired messages go (their files after
        // the commit), and metadata under older epochs moves to the
        // current one, so those keys can be destroyed below.
        step.attachments_expired = super::attachments::remove_expired(ctx, c)?;
        super::attachments::reseal_old_epochs(ctx, &mut state)?;
    }
    state.message_count = state.message_count.saturating_sub(step.expired);
    state.save(ctx, false)?;
    step.keys_destroyed = destroy_unused_keys(ctx, &state)?;
    Ok(step)
}

/// Reads segment rows from a query, stopping at `STEP_SEGMENTS` rows or
/// `STEP_BYTES` of sealed bodies.
fn collect_rows(
    c: ConversationId,
    rows: &mut rusqlite::Rows<'_>,
    mut out: Vec<SegmentRow>,
) -> Result<Vec<SegmentRow>> {
    let mut bytes: usize = out.iter().map(|s| s.body.len()).sum();
    while out.len() < STEP_SEGMENTS && (out.is_empty() || bytes < STEP_BYTES) {
        let Some(r) = rows.next()? else { break };
        let seg = SegmentRow::from_row(c, r)?;
        bytes += seg.body.len();
        out.push(seg);
    }
    Ok(out)
}

/// Already-compacted segments (`first_seq` in `from..=through`) under an
/// older epoch or holding expired messages.
fn old_segments_needing_work(
    ctx: &Ctx<'_>,
    state: &ConvState,
    from: u64,
    through: u64,
) -> Result<Vec<SegmentRow>> {
    let c = state.id;
    if from >= segments::SEQ_LIMIT {
        // Past every storable first sequence number (`key_at` would clamp it
        // to the last one): nothing.
        return Ok(Vec::new());
    }
    let mut stmt = ctx.conn.prepare_cached(select_segments!(
        "WHERE id BETWEEN ?1 AND ?2 AND (epoch < ?3 OR expires_at <= ?4)
         ORDER BY id"
    ))?;
    let mut rows = stmt.query(params![
        segments::key_at(c, from),
        segments::key_at(c, through),
        state.epoch.get(),
        ctx.now
    ])?;
    collect_rows(c, &mut rows, Vec::new())
}

/// The segments appended since the last compaction (up to a step's worth),
/// preceded by the last compacted segment if it has room for more (fewer
/// messages than the target, and a sealed size below the byte target).
fn tail_run(
    ctx: &Ctx<'_>,
    c: ConversationId,
    through: u64,
    options: &CompactOptions,
) -> Result<Vec<SegmentRow>> {
    let mut stmt = ctx.conn.prepare_cached(select_segments!("WHERE id > ?1 AND id <= ?2 ORDER BY id"))?;
    let mut rows = stmt.query(params![segments::key_at(c, through), segments::span(c).1])?;
    let Some(first) = rows.next()? else { return Ok(Vec::new()) };
    let first = SegmentRow::from_row(c, first)?;
    let room = |p: &SegmentRow| Limits::compacted(options).has_room(p.count, p.body.len());
    let previous = segments::at_or_before(ctx, c, through)?.filter(room);
    // If that is the newest message alone (see `merge_run`), the packed
    // segment before it joins too, so that it fills up over compactions.
    let before = match &previous {
        Some(p) if p.count == 1 => match p.first.checked_sub(1) {
            Some(seq) => segments::at_or_before(ctx, c, seq)?.filter(room),
            None => None,
        },
        _ => None,
    };
    let mut run: Vec<SegmentRow> = before.into_iter().chain(previous).collect();
    run.push(first);
    collect_rows(c, &mut rows, run)
}

/// Opens a segment and drops its expired messages; counts them in `step`.
fn open_live(ctx: &mut Ctx<'_>, keys: &mut Keys, seg: SegmentRow, step: &mut Step) -> Result<OpenSegment> {
    let mut open = keys.open(ctx, seg)?;
    let before = open.messages.len();
    let now = ctx.now;
    open.messages.retain(|m| !m.expired(now));
    step.expired += (before - open.messages.len()) as u64;
    step.rewritten += 1;
    Ok(open)
}

/// Reseals each segment under the current epoch without its expired
/// messages, keeping its range (or deletes it if nothing is left).
fn rewrite_in_place(
    ctx: &mut Ctx<'_>,
    state: &mut ConvState,
    segs: Vec<SegmentRow>,
    mut compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    step: &mut Step,
) -> Result<()> {
    let c = state.id;
    let mut keys = Keys::new(c);
    for seg in segs {
        let open = open_live(ctx, &mut keys, seg, step)?;
        if open.messages.is_empty() {
            segments::remove(ctx, c, open.first)?;
            continue;
        }
        let aead = state.reserve_seals(ctx, segments::SEALS_PER_SEGMENT)?;
        let range = (open.first, open.last);
        let sealed =
            segments::seal(ctx, &aead, c, state.epoch, range, &open.messages, compressor.as_deref_mut())?;
        segments::update(ctx, c, &sealed)?;
        step.written += 1;
    }
    Ok(())
}

/// Replaces a run of consecutive segments with segments packed to the
/// targets, compressed and sealed under the current epoch.
fn merge_run(
    ctx: &mut Ctx<'_>,
    state: &mut ConvState,
    run: Vec<SegmentRow>,
    options: &CompactOptions,
    mut compressor: Option<&mut zstd::bulk::Compressor<'static>>,
    step: &mut Step,
) -> Result<()> {
    let c = state.id;
    let mut keys = Keys::new(c);
    // (seq, message) in sequence order.
    let mut live: Vec<(u64, StoredMessage)> = Vec::new();
    for seg in run {
        let first = seg.first;
        let open = open_live(ctx, &mut keys, seg, step)?;
        segments::remove(ctx, c, first)?;
        let base = open.first;
        live.extend(open.messages.into_iter().map(|m| (base + m.offset, m)));
    }
    // A sound store's ranges never overlap, but rows restored from an older
    // copy of the file authenticate and can: leave such a conversation alone.
    if let Some(w) = live.windows(2).find(|w| w[0].0 >= w[1].0) {
        let place = crate::format::envelope::Place::segment(c, state.epoch, w[1].0, w[0].0);
        return Err(Error::corrupt(place.record(), "segment ranges overlap (run verify)"));
    }
    // The conversation's newest message gets a segment of its own, so the
    // conversation list reads one small row for it rather than
    // decompressing a whole packed segment (docs/DESIGN.md, "Compaction").
    let newest_alone = match live.last() {
        Some(&(newest, _)) => !segments::any_after(ctx, c, newest)?,
        None => false,
    };
    let packed = live.len().saturating_sub(usize::from(newest_alone));
    let mut chunks =
        Packer::sizes(Limits::compacted(options), live.iter().take(packed).map(|(_, m)| m.approx_len()));
    if newest_alone {
        chunks.push(1);
    }
    if chunks.is_empty() {
        return Ok(());
    }
    let aead = state.reserve_seals(ctx, (chunks.len() as u64).saturating_mul(segments::SEALS_PER_SEGMENT))?;
    let mut rest = live;
    for len in chunks.into_iter().rev() {
        // Split from the end so each chunk is moved, not cloned.
        let chunk = rest.split_off(rest.len() - len);
        let (Some(&(first, _)), Some(&(last, _))) = (chunk.first(), chunk.last()) else { continue };
        let messages: Vec<StoredMessage> =
            chunk.into_iter().map(|(seq, m)| StoredMessage { offset: seq - first, ..m }).collect();
        let sealed =
            segments::seal(ctx, &aead, c, state.epoch, (first, last), &messages, compressor.as_deref_mut())?;
        segments::insert(ctx, c, &sealed)?;
        step.written += 1;
    }
    Ok(())
}

/// Deletes the key rows of epochs older than the current one that no
/// segment uses; returns how many. A row above the current epoch is left
/// (`verify` reports it): the epoch was rolled back, and that key may be
/// the one the metadata and newest segments are under.
///
/// While a master-key rotation is under way it destroys nothing: a
/// conversation keeps a key row under the old master key until the
/// rotation moves it, so the rotation finds every conversation whose keyed
/// hashes are still under the old id key, whatever the file's
/// `rotated_through` says. The first compaction after it destroys them.
fn destroy_unused_keys(ctx: &mut Ctx<'_>, state: &ConvState) -> Result<u64> {
    if ctx.masters().next().is_some() {
        return Ok(0);
    }
    let c_i = row::sql_int(state.id.get())?;
    let rec = crate::format::envelope::Place::conversation_key(state.id, state.epoch).record();
    let (lo, hi) = segments::span(state.id);
    let unused: Vec<KeyEpoch> = ctx
        .conn
        .prepare_cached(
            "SELECT epoch FROM conversation_key k WHERE conversation = ?1 AND epoch < ?2
               AND NOT EXISTS (SELECT 1 FROM segment s WHERE s.id BETWEEN ?3 AND ?4 AND s.epoch = k.epoch)
               AND NOT EXISTS (SELECT 1 FROM attachment a WHERE a.conversation = ?1 AND a.epoch = k.epoch)",
        )?
        .query_map(params![c_i, state.epoch.get(), lo, hi], |r| Ok(row::epoch(r, 0, rec)))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .collect::<Result<_>>()?;
    for &epoch in &unused {
        ctx.conn
            .prepare_cached("DELETE FROM conversation_key WHERE conversation = ?1 AND epoch = ?2")?
            .execute(params![c_i, epoch.get()])?;
        ctx.after_commit_destroy_key(state.id, epoch);
    }
    if !unused.is_empty() {
        super::shred::owe_key_rebuild(ctx)?;
    }
    Ok(unused.len() as u64)
}
