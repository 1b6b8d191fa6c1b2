//! Segment rows: reading, opening and writing them. A segment holds one or
//! more consecutive messages of one conversation, sealed together; nothing
//! above this module knows how messages are grouped.

use rusqlite::{OptionalExtension, Row, params};

use super::{Ctx, row};
use crate::crypto::Aead;
use crate::error::{Error, Missing, RecordKind, RecordRef, Result};
use crate::format::envelope::Place;
use crate::format::records::{self, MessageView, StoredMessage};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::maintenance::CompactOptions;
use crate::search::filter::FilterRecord;
use crate::types::Message;

/// The columns every segment query selects, in [`SegmentRow::from_row`]'s order.
macro_rules! segment_columns {
    () => {
        "first_seq, last_seq, epoch, count, body, expires_at, id"
    };
}

/// `SELECT` of [`segment_columns!`] `FROM segment`, then `$tail`, built at compile
/// time: the statement cache is looked up by the text on every call, and
/// formatting it each time was a measurable part of a list line.
macro_rules! select_segments {
    ($tail:literal) => {
        concat!("SELECT ", $crate::store::segments::segment_columns!(), " FROM segment ", $tail)
    };
}
pub(crate) use {segment_columns, select_segments};

/// Sequence numbers are below this (format 4: `segment.id` holds the
/// conversation in its upper 32 bits and the first sequence number in the
/// lower; docs/DESIGN.md, "The segment table's key").
pub(crate) const SEQ_LIMIT: u64 = 1 << 32;
/// Conversation ids are below this (format 4), so every key is positive.
pub(crate) const CONVERSATION_LIMIT: u64 = 1 << 31;

/// `segment.id` of `c`'s segment starting at `first`; `LimitReached` past
/// the format's limits.
pub(crate) fn key(c: ConversationId, first: u64) -> Result<i64> {
    if c.get() >= CONVERSATION_LIMIT || c.get() == 0 {
        return Err(Error::LimitReached { what: "conversation ids", limit: CONVERSATION_LIMIT });
    }
    if first >= SEQ_LIMIT {
        return Err(Error::LimitReached { what: "sequence numbers in a conversation", limit: SEQ_LIMIT });
    }
    // Both below 2^31 and 2^32: the sum is below 2^63.
    row::sql_int((c.get() << 32) | first)
}

/// The lowest and highest `segment.id` conversation `c` can have, for
/// `WHERE id BETWEEN ?lo AND ?hi`; an empty range for an id no segment
/// can have.
pub(crate) fn span(c: ConversationId) -> (i64, i64) {
    match key(c, 0) {
        Ok(lo) => (lo, lo | 0xFFFF_FFFF),
        Err(_) => (1, 0),
    }
}

/// `segment.id` of `c`'s sequence number `seq`, clamped into `c`'s span:
/// for comparisons (`id <= ?`), where a sequence number past the limit
/// sorts after all of `c`'s.
pub(crate) fn key_at(c: ConversationId, seq: u64) -> i64 {
    let (lo, hi) = span(c);
    i64::try_from(seq).map_or(hi, |s| lo.saturating_add(s).min(hi))
}

/// How large a segment may grow: at most `messages` messages and `bytes`
/// of plaintext ([`StoredMessage::approx_len`]), except that a message
/// larger than `bytes` makes a segment of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub messages: usize,
    pub bytes: usize,
}

impl Limits {
    /// Segments written by appends: at most 64 messages (compaction's
    /// default target). A page decodes whole segments, so a sync burst of
    /// thousands of messages into one conversation is written as segments
    /// of this size rather than one 64 KiB segment: a page of 50 then
    /// decodes at most two segments (128 messages), before compaction as
    /// after.
    pub(crate) const APPEND: Limits =
        Limits { messages: 64, bytes: crate::types::limits::MAX_SEGMENT_PLAINTEXT };

    /// Segments as a compaction with `options` writes them (and an import,
    /// with the default options).
    pub(crate) fn compacted(options: &CompactOptions) -> Limits {
        Limits { messages: options.target_messages, bytes: options.target_bytes }
    }

    /// Whether a segment of `count` messages and `sealed_len` sealed bytes
    /// is worth reopening to merge the messages after it into (compaction
    /// does, for the last one it wrote): sealed bytes are compressed, so
    /// this errs toward reopening, and the [`Packer`] decides where the
    /// merged segments end.
    pub(crate) fn has_room(&self, count: u64, sealed_len: usize) -> bool {
        usize::try_from(count).is_ok_and(|n| n < self.messages) && sealed_len < self.bytes
    }
}

/// The one rule for grouping messages into segments, used by appends,
/// compaction and import: consecutive messages, a segment closed before the
/// message that would take it past its [`Limits`].
#[derive(Debug)]
pub(crate) struct Packer {
    limits: Limits,
    count: usize,
    bytes: usize,
}

impl Packer {
    pub(crate) fn new(limits: Limits) -> Self {
        Packer { limits, count: 0, bytes: 0 }
    }

    /// Adds the next message, of `len` plaintext bytes. True if it begins
    /// a new segment because the one in progress is full (never for the
    /// first message).
    pub(crate) fn add(&mut self, len: usize) -> bool {
        let full = self.count > 0
            && (self.count >= self.limits.messages || self.bytes.saturating_add(len) > self.limits.bytes);
        if full {
            (self.count, self.bytes) = (0, 0);
        }
        self.count += 1;
        self.bytes = self.bytes.saturating_add(len);
        full
    }

    /// The sizes, in messages, of the consecutive segments that messages of
    /// plaintext lengths `lens` make.
    pub(crate) fn sizes(limits: Limits, lens: impl IntoIterator<Item = usize>) -> Vec<usize> {
        let mut packer = Packer::new(limits);
        let mut sizes: Vec<usize> = Vec::new();
        for len in lens {
            // `add` first: every message goes through the packer.
            if packer.add(len) || sizes.is_empty() {
                sizes.push(1);
            } else if let Some(last) = sizes.last_mut() {
                *last += 1;
            }
        }
        sizes
    }
}

/// A segment row as read from disk (still sealed).
pub(crate) struct SegmentRow {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) epoch: KeyEpoch,
    pub(crate) count: u64,
    pub(crate) body: Vec<u8>,
    /// The earliest expiry of its messages, in the clear.
    pub(crate) expires_at: Option<i64>,
}

impl SegmentRow {
    pub(crate) fn from_row(c: ConversationId, r: &Row<'_>) -> Result<Self> {
        let rec = RecordRef { kind: RecordKind::Segment, conversation: Some(c), epoch: 0, seqs: None };
        let first = row::uint(r, 0, rec)?;
        let last = row::uint(r, 1, rec)?;
        let epoch = row::epoch(r, 2, rec)?;
        let count = row::uint(r, 3, rec)?;
        let body = row::blob(r, 4, rec)?;
        let expires_at = row::opt_int(r, 5, rec)?;
        // A forged file need not keep the schema's CHECK.
        let id: i64 = r.get(6)?;
        if key(c, first).ok() != Some(id) {
            return Err(Error::corrupt(
                rec,
                "its id does not match its conversation and first sequence number",
            ));
        }
        Ok(SegmentRow { first, last, epoch, count, body, expires_at })
    }

    pub(crate) fn place(&self, c: ConversationId) -> Place {
        Place::segment(c, self.epoch, self.first, self.last)
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        (self.first..=self.last).contains(&seq)
    }
}

/// The earliest expiry among `messages`: a segment's `expires_at` column.
pub(crate) fn earliest_expiry(messages: &[StoredMessage]) -> Option<i64> {
    messages.iter().filter_map(|m| m.expires_at_ms).min()
}

/// Decrypted messages of one segment, with their sequence numbers.
pub(crate) struct OpenSegment {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) messages: Vec<StoredMessage>,
}

impl OpenSegment {
    pub(crate) fn seq_of(&self, m: &StoredMessage) -> u64 {
        // Checked against `last` when the segment was opened.
        self.first + m.offset
    }

    /// Whether `seq` is inside this segment's range.
    pub(crate) fn covers(&self, seq: u64) -> bool {
        (self.first..=self.last).contains(&seq)
    }

    pub(crate) fn position(&self, seq: u64) -> Option<usize> {
        let offset = seq.checked_sub(self.first)?;
        self.messages.binary_search_by_key(&offset, |m| m.offset).ok()
    }
}

/// The AEADs one operation needs, by epoch, so a page spanning many
/// segments builds each key schedule once.
pub(crate) struct Keys {
    c: ConversationId,
    by_epoch: Vec<(KeyEpoch, Aead)>,
    /// Only the keys given: never the cache or the key table.
    fixed: bool,
}

impl Keys {
    pub(crate) fn new(c: ConversationId) -> Self {
        Keys { c, by_epoch: Vec::new(), fixed: false }
    }

    /// Exactly these keys (verification unwraps them itself, bypassing the cache).
    pub(crate) fn fixed(c: ConversationId, by_epoch: Vec<(KeyEpoch, Aead)>) -> Self {
        Keys { c, by_epoch, fixed: true }
    }

    pub(crate) fn conversation(&self) -> ConversationId {
        self.c
    }

    pub(crate) fn get(&mut self, ctx: &mut Ctx<'_>, epoch: KeyEpoch) -> Result<&Aead> {
        let i = match self.by_epoch.iter().position(|(e, _)| *e == epoch) {
            Some(i) => i,
            None if self.fixed => {
                let rec = Place::conversation_key(self.c, epoch).record();
                return Err(Error::corrupt(rec, "the key for this epoch is missing"));
            }
            None => {
                self.by_epoch.push((epoch, ctx.aead(self.c, epoch)?));
                self.by_epoch.len() - 1
            }
        };
        Ok(&self.by_epoch[i].1)
    }

    /// Opens a segment row, checks its contents against its plaintext
    /// columns (offsets increasing and inside the range, count and earliest
    /// expiry matching), and passes its messages, borrowed, to `f` with the
    /// segment's first sequence number.
    pub(crate) fn open_view<R>(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: SegmentRow,
        f: impl FnOnce(u64, &[MessageView<'_>]) -> Result<R>,
    ) -> Result<R> {
        let place = seg.place(self.c);
        if seg.first > seg.last || seg.count == 0 {
            return Err(Error::corrupt(place.record(), "impossible sequence range or count"));
        }
        let aead = self.get(ctx, seg.epoch)?;
        let (version, plain) = ctx.store.sealer().open(aead, place, seg.body)?;
        let corrupt = |e| Error::corrupt(place.record(), e);
        let record = records::segment_record(version, &plain).map_err(corrupt)?;
        let messages = records::decode_segment_view(version, record.bytes()).map_err(corrupt)?;
        let span = seg.last - seg.first;
        let ordered = messages.windows(2).all(|w| w[0].offset < w[1].offset);
        let inside = messages.last().is_some_and(|m| m.offset <= span);
        if !ordered || !inside {
            return Err(corrupt("messages out of order or outside the range"));
        }
        let earliest = messages.iter().filter_map(|m| m.expires_at_ms).min();
        if messages.len() as u64 != seg.count || earliest != seg.expires_at {
            // The count and expiry columns are not part of the associated
            // data; a mismatch means they were changed.
            return Err(Error::Authentication { record: place.record() });
        }
        f(seg.first, &messages)
    }

    /// Opens a segment row (checked as [`Keys::open_view`]) into owned messages.
    pub(crate) fn open(&mut self, ctx: &mut Ctx<'_>, seg: SegmentRow) -> Result<OpenSegment> {
        let (first, last, rec) = (seg.first, seg.last, seg.place(self.c).record());
        let messages = self.open_view(ctx, seg, |_, views| {
            views
                .iter()
                .map(|v| v.to_owned().ok_or_else(|| Error::corrupt(rec, "a string is not UTF-8")))
                .collect()
        })?;
        Ok(OpenSegment { first, last, messages })
    }
}

/// An API message from a borrowed one at `first + offset`; `None` if a
/// string is not UTF-8.
pub(crate) fn view_to_message(c: ConversationId, first: u64, v: &MessageView<'_>) -> Option<Message> {
    let m = v.to_owned()?;
    Some(Message {
        id: MessageId::new(c, first + m.offset),
        external_id: m.external_id,
        sender: m.sender,
        sent_at_ms: m.sent_at_ms,
        text: m.text,
        reply_to: m.reply_to.map(|r| MessageId::new(c, r)),
        edited_at_ms: m.edited_at_ms,
        extra: m.extra,
        expires_at_ms: m.expires_at_ms,
    })
}

/// The last segment of `c` starting at or before `seq`, if any.
pub(crate) fn at_or_before(ctx: &Ctx<'_>, c: ConversationId, seq: u64) -> Result<Option<SegmentRow>> {
    ctx.conn
        .prepare_cached(select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC LIMIT 1"))?
        .query_row(params![span(c).0, key_at(c, seq)], |r| Ok(SegmentRow::from_row(c, r)))
        .optional()?
        .transpose()
}

/// Whether `c` has a segment starting after `seq`.
pub(crate) fn any_after(ctx: &Ctx<'_>, c: ConversationId, seq: u64) -> Result<bool> {
    Ok(ctx
        .conn
        .prepare_cached("SELECT 1 FROM segment WHERE id > ?1 AND id <= ?2 LIMIT 1")?
        .query_row(params![key_at(c, seq), span(c).1], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The segment holding `seq`, if any.
pub(crate) fn containing(ctx: &Ctx<'_>, c: ConversationId, seq: u64) -> Result<Option<SegmentRow>> {
    Ok(at_or_before(ctx, c, seq)?.filter(|s| s.contains(seq)))
}

/// Finds and opens the segment whose range holds message `m`; `NotFound`
/// if there is none. (The message itself may be gone from it: see
/// [`OpenSegment::position`].)
pub(crate) fn open_holding(ctx: &mut Ctx<'_>, keys: &mut Keys, m: MessageId) -> Result<OpenSegment> {
    let seg = containing(ctx, m.conversation(), m.seq())?.ok_or(Error::NotFound(Missing::Message(m)))?;
    keys.open(ctx, seg)
}

/// Values sealed under the conversation key per segment written: its body
/// and its search filter (docs/SEARCH.md). Seals are counted per key
/// (docs/DESIGN.md, "Sealed values").
pub(crate) const SEALS_PER_SEGMENT: u64 = 2;

/// A segment ready to store: its range, epoch, messages, sealed body and
/// sealed search filter.
pub(crate) struct Sealed {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) epoch: KeyEpoch,
    pub(crate) count: usize,
    pub(crate) expires_at: Option<i64>,
    pub(crate) body: Vec<u8>,
    /// `None`: written without a filter (a search opens it whatever it
    /// looks for; `Store::index_for_search` gives it one).
    pub(crate) filter: Option<Vec<u8>>,
}

/// Seals `messages` (offsets relative to `first`) as a segment of `c`,
/// compressed with `compressor` if given.
pub(crate) fn seal(
    ctx: &Ctx<'_>,
    aead: &Aead,
    c: ConversationId,
    epoch: KeyEpoch,
    (first, last): (u64, u64),
    messages: &[StoredMessage],
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Result<Sealed> {
    let plain = records::seal_plaintext(messages, compressor)
        .ok_or_else(|| Error::invalid("messages cannot be encoded"))?;
    let body = ctx.store.sealer().seal(aead, Place::segment(c, epoch, first, last), &plain)?;
    let record = FilterRecord::of_messages(messages.iter().map(|m| (m.text.as_str(), m.sent_at_ms)));
    let filter = Some(seal_filter(ctx, aead, Place::segment_filter(c, epoch, first, last), &record)?);
    Ok(Sealed {
        first,
        last,
        epoch,
        count: messages.len(),
        expires_at: earliest_expiry(messages),
        body,
        filter,
    })
}

/// Seals a segment's search filter (docs/SEARCH.md, "The filter record").
pub(crate) fn seal_filter(
    ctx: &Ctx<'_>,
    aead: &Aead,
    place: Place,
    record: &FilterRecord,
) -> Result<Vec<u8>> {
    let plain =
        records::seal_plaintext(record, None).ok_or_else(|| Error::invalid("a filter cannot be encoded"))?;
    ctx.store.sealer().seal(aead, place, &plain)
}

/// Writes (or replaces) the search filter row of `c`'s segment `(first, last)`.
pub(crate) fn put_filter(
    ctx: &Ctx<'_>,
    c: ConversationId,
    (first, last): (u64, u64),
    epoch: KeyEpoch,
    filter: Option<&[u8]>,
) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT OR REPLACE INTO segment_filter (id, last_seq, epoch, filter) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![key(c, first)?, row::sql_int(last)?, epoch.get(), filter])?;
    Ok(())
}

pub(crate) fn insert(ctx: &Ctx<'_>, c: ConversationId, seg: &Sealed) -> Result<()> {
    // Every sequence number a segment holds is below the limit, not only
    // its first (which its key holds).
    key(c, seg.last)?;
    ctx.conn
        .prepare_cached(
            "INSERT INTO segment (id, conversation, first_seq, last_seq, epoch, count, body, expires_at)
             VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            row::sql_int(c.get())?,
            row::sql_int(seg.first)?,
            row::sql_int(seg.last)?,
            seg.epoch.get(),
            row::sql_int(seg.count as u64)?,
            seg.body,
            seg.expires_at,
            key(c, seg.first)?,
        ])?;
    put_filter(ctx, c, (seg.first, seg.last), seg.epoch, seg.filter.as_deref())
}

/// Rewrites a segment in place (same range). The old row goes before the
/// new one is written, so the new body reuses the pages the old one freed:
/// an `UPDATE` writes the new body before freeing the old, so resealing a
/// segment that spills onto overflow pages would fail with `StorageFull`
/// in a full store even when the new body is smaller, and deleting a
/// message must work there (docs/DESIGN.md, "Limits").
pub(crate) fn update(ctx: &Ctx<'_>, c: ConversationId, seg: &Sealed) -> Result<()> {
    remove(ctx, c, seg.first)?;
    insert(ctx, c, seg)
}

/// Deletes every segment of `c`.
pub(crate) fn remove_all(ctx: &Ctx<'_>, c: ConversationId) -> Result<()> {
    let (lo, hi) = span(c);
    ctx.conn.prepare_cached("DELETE FROM segment WHERE id BETWEEN ?1 AND ?2")?.execute(params![lo, hi])?;
    ctx.conn
        .prepare_cached("DELETE FROM segment_filter WHERE id BETWEEN ?1 AND ?2")?
        .execute(params![lo, hi])?;
    Ok(())
}

/// Deletes the segment starting at `first`.
pub(crate) fn remove(ctx: &Ctx<'_>, c: ConversationId, first: u64) -> Result<()> {
    let id = key(c, first)?;
    ctx.conn.prepare_cached("DELETE FROM segment WHERE id = ?1")?.execute([id])?;
    ctx.conn.prepare_cached("DELETE FROM segment_filter WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// How many of `c`'s messages have expired but are still on disk, in all
/// and after sequence number `after`: the segments whose `expires_at` has
/// passed are opened and counted.
pub(crate) fn expired_counts(ctx: &mut Ctx<'_>, c: ConversationId, after: Option<u64>) -> Result<(u64, u64)> {
    let rows: Vec<SegmentRow> = ctx
        .conn
        .prepare_cached(select_segments!("WHERE conversation = ?1 AND expires_at <= ?2"))?
        .query_map(params![row::sql_int(c.get())?, ctx.now], |r| Ok(SegmentRow::from_row(c, r)))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .collect::<Result<_>>()?;
    let (mut all, mut later) = (0, 0);
    let mut keys = Keys::new(c);
    for seg in rows {
        let open = keys.open(ctx, seg)?;
        for m in open.messages.iter().filter(|m| m.expired(ctx.now)) {
            all += 1;
            if after.is_none_or(|a| open.seq_of(m) > a) {
                later += 1;
            }
        }
    }
    Ok((all, later))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_respects_both_limits() {
        let limits = |messages, bytes| Limits { messages, bytes };
        assert_eq!(Packer::sizes(limits(64, 1 << 20), [40; 130]), vec![64, 64, 2]);
        // 100 bytes fit two messages of 40.
        assert_eq!(Packer::sizes(limits(64, 100), [40; 5]), vec![2, 2, 1]);
        // Exactly at the byte limit still fits.
        assert_eq!(Packer::sizes(limits(64, 80), [40; 4]), vec![2, 2]);
        // A message over the byte limit goes alone.
        assert_eq!(Packer::sizes(limits(64, 100), [40, 532, 40]), vec![1, 1, 1]);
        assert!(Packer::sizes(limits(64, 100), []).is_empty());
        // Lengths near usize::MAX saturate rather than overflow.
        assert_eq!(Packer::sizes(limits(64, 100), [usize::MAX, usize::MAX, 1]), vec![1, 1, 1]);
    }

    #[test]
    fn the_streaming_packer_closes_where_the_sizes_do() {
        let lens = [10, 300, 20, 20, 20, 90, 5, 5, 5, 5, 5, 5, 5];
        let limits = Limits { messages: 4, bytes: 100 };
        let mut packer = Packer::new(limits);
        let starts: Vec<usize> =
            lens.iter().enumerate().filter(|&(_, &len)| packer.add(len)).map(|(i, _)| i).collect();
        let mut at = 0;
        let from_sizes: Vec<usize> = Packer::sizes(limits, lens)
            .iter()
            .map(|n| {
                at += n;
                at
            })
            .filter(|&i| i < lens.len())
            .collect();
        assert_eq!(starts, from_sizes);
        assert_eq!(starts, vec![1, 2, 5, 8, 12]);
    }
}
