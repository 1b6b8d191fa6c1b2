//! Segment rows: reading, opening and writing them. A segment holds one or
//! more consecutive messages of one conversation, sealed together; nothing
//! above this module knows how messages are grouped.

use rusqlite::{OptionalExtension, Row, params};

use super::{Ctx, row};
use crate::crypto::Aead;
use crate::error::{Error, Missing, RecordKind, RecordRef, Result};
use crate::format::envelope::Place;
use crate::format::records::{self, StoredMessage};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::types::Message;

/// The columns every segment query selects, in [`SegmentRow::from_row`]'s order.
pub(crate) const COLUMNS: &str = "first_seq, last_seq, epoch, count, body";

/// A segment row as read from disk (still sealed).
pub(crate) struct SegmentRow {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) epoch: KeyEpoch,
    pub(crate) count: u64,
    pub(crate) body: Vec<u8>,
}

impl SegmentRow {
    pub(crate) fn from_row(c: ConversationId, r: &Row<'_>) -> Result<Self> {
        let rec = RecordRef { kind: RecordKind::Segment, conversation: Some(c), epoch: 0, seqs: None };
        let first = row::uint(r, 0, rec)?;
        let last = row::uint(r, 1, rec)?;
        let epoch = row::epoch(r, 2, rec)?;
        let count = row::uint(r, 3, rec)?;
        let body = row::blob(r, 4, rec)?;
        Ok(SegmentRow { first, last, epoch, count, body })
    }

    pub(crate) fn place(&self, c: ConversationId) -> Place {
        Place::segment(c, self.epoch, self.first, self.last)
    }

    pub(crate) fn contains(&self, seq: u64) -> bool {
        (self.first..=self.last).contains(&seq)
    }
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

    pub(crate) fn position(&self, seq: u64) -> Option<usize> {
        let offset = seq.checked_sub(self.first)?;
        self.messages.binary_search_by_key(&offset, |m| m.offset).ok()
    }

    /// Turns the segment's messages into API messages, without copying.
    pub(crate) fn into_messages(self, c: ConversationId) -> impl DoubleEndedIterator<Item = Message> {
        let first = self.first;
        self.messages.into_iter().map(move |m| Message {
            id: MessageId::new(c, first + m.offset),
            external_id: m.external_id,
            sender: m.sender,
            sent_at_ms: m.sent_at_ms,
            text: m.text,
            reply_to: m.reply_to.map(|r| MessageId::new(c, r)),
            edited_at_ms: m.edited_at_ms,
            extra: m.extra,
        })
    }
}

/// The AEADs one operation needs, by epoch, so a page spanning many
/// segments builds each key schedule once.
pub(crate) struct Keys {
    c: ConversationId,
    by_epoch: Vec<(KeyEpoch, Aead)>,
}

impl Keys {
    pub(crate) fn new(c: ConversationId) -> Self {
        Keys { c, by_epoch: Vec::new() }
    }

    pub(crate) fn get(&mut self, ctx: &mut Ctx<'_>, epoch: KeyEpoch) -> Result<&Aead> {
        let i = match self.by_epoch.iter().position(|(e, _)| *e == epoch) {
            Some(i) => i,
            None => {
                self.by_epoch.push((epoch, ctx.aead(self.c, epoch)?));
                self.by_epoch.len() - 1
            }
        };
        Ok(&self.by_epoch[i].1)
    }

    /// Opens a segment row and checks its contents against its plaintext
    /// columns: offsets increasing and inside the range, count matching.
    pub(crate) fn open(&mut self, ctx: &mut Ctx<'_>, seg: SegmentRow) -> Result<OpenSegment> {
        let place = seg.place(self.c);
        if seg.first > seg.last || seg.count == 0 {
            return Err(Error::corrupt(place.record(), "impossible sequence range or count"));
        }
        let aead = self.get(ctx, seg.epoch)?;
        let plain = ctx.store.sealer().open(aead, place, seg.body)?;
        let messages: Vec<StoredMessage> = records::decode(&plain)
            .ok_or_else(|| Error::corrupt(place.record(), "segment does not decode"))?;
        let span = seg.last - seg.first;
        let ordered = messages.windows(2).all(|w| w[0].offset < w[1].offset);
        let inside = messages.last().is_some_and(|m| m.offset <= span);
        if !ordered || !inside {
            return Err(Error::corrupt(place.record(), "messages out of order or outside the range"));
        }
        if messages.len() as u64 != seg.count {
            // The count column is not part of the associated data; a mismatch
            // means it was changed.
            return Err(Error::Authentication { record: place.record() });
        }
        Ok(OpenSegment { first: seg.first, last: seg.last, messages })
    }
}

/// The segment holding `seq`, if any.
pub(crate) fn containing(ctx: &Ctx<'_>, c: ConversationId, seq: u64) -> Result<Option<SegmentRow>> {
    let (Some(row_id), Ok(seq_i)) = (c.row(), i64::try_from(seq)) else {
        return Ok(None);
    };
    let seg = ctx
        .conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM segment WHERE conversation = ?1 AND first_seq <= ?2
             ORDER BY first_seq DESC LIMIT 1"
        ))?
        .query_row(params![row_id, seq_i], |r| Ok(SegmentRow::from_row(c, r)))
        .optional()?
        .transpose()?;
    Ok(seg.filter(|s| s.contains(seq)))
}

/// Finds and opens the segment holding message `m`; `NotFound` if there is none.
pub(crate) fn open_containing(ctx: &mut Ctx<'_>, m: MessageId) -> Result<(OpenSegment, usize)> {
    let c = m.conversation();
    let not_found = || Error::NotFound(Missing::Message(m));
    let seg = containing(ctx, c, m.seq())?.ok_or_else(not_found)?;
    let open = Keys::new(c).open(ctx, seg)?;
    let pos = open.position(m.seq()).ok_or_else(not_found)?;
    Ok((open, pos))
}

/// Seals `messages` (offsets relative to `first`) as a segment of `c`.
pub(crate) fn seal(
    ctx: &Ctx<'_>,
    aead: &Aead,
    c: ConversationId,
    epoch: KeyEpoch,
    (first, last): (u64, u64),
    messages: &[StoredMessage],
) -> Result<Vec<u8>> {
    let plain = records::encode(messages).ok_or_else(|| Error::invalid("messages cannot be encoded"))?;
    ctx.store.sealer().seal(aead, Place::segment(c, epoch, first, last), &plain)
}

pub(crate) fn insert(
    ctx: &Ctx<'_>,
    c: ConversationId,
    (first, last): (u64, u64),
    epoch: KeyEpoch,
    count: usize,
    body: &[u8],
) -> Result<()> {
    ctx.conn
        .prepare_cached(
            "INSERT INTO segment (conversation, first_seq, last_seq, epoch, count, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            row::sql_int(c.get())?,
            row::sql_int(first)?,
            row::sql_int(last)?,
            epoch.get(),
            row::sql_int(count as u64)?,
            body
        ])?;
    Ok(())
}

/// Rewrites a segment in place (same range), or deletes it if it became empty.
pub(crate) fn rewrite(
    ctx: &Ctx<'_>,
    c: ConversationId,
    first: u64,
    epoch: KeyEpoch,
    count: usize,
    body: Option<&[u8]>,
) -> Result<()> {
    let (c_i, first_i) = (row::sql_int(c.get())?, row::sql_int(first)?);
    match body {
        Some(body) => ctx
            .conn
            .prepare_cached(
                "UPDATE segment SET epoch = ?3, count = ?4, body = ?5
                 WHERE conversation = ?1 AND first_seq = ?2",
            )?
            .execute(params![c_i, first_i, epoch.get(), row::sql_int(count as u64)?, body])?,
        None => ctx
            .conn
            .prepare_cached("DELETE FROM segment WHERE conversation = ?1 AND first_seq = ?2")?
            .execute(params![c_i, first_i])?,
    };
    Ok(())
}
