//! Search over the sealed segment filters (docs/SEARCH.md, "Searching"),
//! and the backfill that gives filters to the segments of an upgraded
//! store.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Row, params};

use super::segments::{self, Keys, SegmentRow, select_segments};
use super::{Ctx, Store, row};
use crate::error::{Error, RecordKind, RecordRef, Result};
use crate::format::envelope::{self, Place};
use crate::format::{frame, records};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::search::filter::{self, FilterRecord, FilterView};
use crate::search::text::Query;
use crate::search::{IndexReport, SearchCursor, SearchHit, SearchPage, SearchQuery};

/// Segments [`Store::index_for_search`] gives filters to per transaction.
const INDEX_STEP: usize = 256;

/// A filter row as read: its segment's place, and the sealed filter (none
/// for a segment not indexed yet).
struct FilterRow {
    c: ConversationId,
    first: u64,
    last: u64,
    epoch: KeyEpoch,
    filter: Option<Vec<u8>>,
}

impl FilterRow {
    fn from_row(r: &Row<'_>) -> Result<FilterRow> {
        let rec = RecordRef { kind: RecordKind::SegmentFilter, conversation: None, epoch: 0, seqs: None };
        let id = row::uint(r, 0, rec)?;
        if id >> 32 == 0 {
            return Err(Error::corrupt(rec, "a filter row of conversation 0"));
        }
        let c = ConversationId::from_raw(id >> 32);
        let rec = RecordRef { conversation: Some(c), ..rec };
        Ok(FilterRow {
            c,
            first: id & 0xFFFF_FFFF,
            last: row::uint(r, 1, rec)?,
            epoch: row::epoch(r, 2, rec)?,
            filter: match r.get_ref(3)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(row::blob(r, 3, rec)?),
            },
        })
    }

    fn place(&self) -> Place {
        Place::segment_filter(self.c, self.epoch, self.first, self.last)
    }
}

/// Opens a sealed filter, checks it, and passes it (borrowed) to `f`.
pub(super) fn open_filter<R>(
    ctx: &mut Ctx<'_>,
    keys: &mut Keys,
    place: Place,
    sealed: Vec<u8>,
    f: impl FnOnce(FilterView<'_>) -> R,
) -> Result<R> {
    let aead = keys.get(ctx, place.epoch)?;
    let (version, plain) = ctx.store.sealer().open(aead, place, sealed)?;
    let corrupt = |e| Error::corrupt(place.record(), e);
    if version != envelope::VERSION {
        return Err(corrupt("a filter in an envelope of format 1"));
    }
    let record = frame::unframe(&plain).map_err(corrupt)?;
    let filter: FilterView<'_> =
        records::decode(record.bytes()).ok_or_else(|| corrupt("the filter does not decode"))?;
    filter.check().map_err(corrupt)?;
    Ok(f(filter))
}

/// The ordering key of a hit: newest first means largest first.
type HitKey = (i64, MessageId);

/// A hit in the heap, ordered by its key (the heap keeps the smallest on
/// top, through `Reverse`, so it can drop it for a newer one).
struct Ranked(HitKey, SearchHit);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl Store {
    /// Finds messages by their words, newest first (docs/SEARCH.md): in the
    /// whole store or one conversation, optionally from one sender and in
    /// a time range, a page at a time. Expired messages are never found.
    ///
    /// Memory is bounded by the page and by 16 bytes per segment whose
    /// filter may match, whatever the store's size.
    ///
    /// # Errors
    /// `InvalidArgument` if the text has no word to look for (empty, or
    /// only punctuation) or the limit is too large; `NotFound` if the
    /// conversation does not exist.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchPage> {
        let query = Query::parse(&q.text).ok_or_else(|| {
            Error::invalid(
                "the search has no word to look for: give letters, digits, CJK characters or emoji",
            )
        })?;
        let limit = match q.limit {
            0 => SearchQuery::DEFAULT_LIMIT,
            n if n > SearchQuery::MAX_LIMIT => {
                return Err(Error::invalid(format!(
                    "a search page holds at most {} hits, not {n}",
                    SearchQuery::MAX_LIMIT
                )));
            }
            n => n,
        };
        let probes = filter::probes(&query);
        self.read(|ctx| search_in(ctx, q, &query, &probes, limit))
    }

    /// Gives search filters to the segments of an upgraded store that have
    /// none yet, [`INDEX_STEP`] segments per transaction, in id order,
    /// until every one has been tried or `time_budget` has passed (checked
    /// between transactions). Resumable: call it again to go on; a crash
    /// loses at most the transaction under way. A segment that cannot be
    /// read (damaged: `verify` says how) is skipped and left without a
    /// filter, so searches still open it. Searches are complete before it
    /// finishes, only slower (see [`SearchPage::unindexed_segments`]).
    ///
    /// A filter is sealed under its segment's key epoch, as its segment is,
    /// even if a master-key rotation has retired that key since: it tells
    /// less than the segment sealed under the same key (docs/SEARCH.md).
    pub fn index_for_search(&self, time_budget: Option<Duration>) -> Result<IndexReport> {
        let started = Instant::now();
        let mut report = IndexReport::default();
        let mut after = 0i64;
        loop {
            let step = self.write(|ctx| index_step(ctx, after, INDEX_STEP))?;
            report.segments_indexed += step.indexed;
            report.segments_skipped += step.skipped;
            let Some(last) = step.last else { break };
            after = last;
            if time_budget.is_some_and(|b| started.elapsed() >= b) {
                break;
            }
        }
        report.segments_remaining = self.read(|ctx| unindexed(ctx))?;
        Ok(report)
    }
}

/// Segments without a filter yet.
pub(super) fn unindexed(ctx: &Ctx<'_>) -> Result<u64> {
    let n: i64 = ctx
        .conn
        .prepare_cached("SELECT COUNT(*) FROM segment_filter WHERE filter IS NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// What one step of the backfill did.
struct Step {
    indexed: u64,
    skipped: u64,
    /// The last row id it looked at; `None` when none was left.
    last: Option<i64>,
}

/// Builds the filters of up to `max` segments without one, after row `after`.
fn index_step(ctx: &mut Ctx<'_>, after: i64, max: usize) -> Result<Step> {
    let todo: Vec<(i64, Result<FilterRow>)> = {
        let mut stmt = ctx.conn.prepare_cached(
            "SELECT id, last_seq, epoch, filter FROM segment_filter
             WHERE filter IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, i64::try_from(max).unwrap_or(i64::MAX)], |r| {
            Ok((r.get::<_, i64>(0)?, FilterRow::from_row(r)))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut step = Step { indexed: 0, skipped: 0, last: todo.last().map(|(id, _)| *id) };
    let mut keys: Option<Keys> = None;
    for (_, row) in todo {
        match index_one(ctx, &mut keys, row) {
            Ok(true) => step.indexed += 1,
            Ok(false) => step.skipped += 1,
            // Damage is for `verify` to report; the backfill goes on.
            Err(Error::Authentication { .. } | Error::Corrupt { .. } | Error::NotFound(_)) => {
                step.skipped += 1
            }
            Err(other) => return Err(other),
        }
    }
    Ok(step)
}

/// Builds and writes one segment's filter; `false` if the row has no
/// segment.
fn index_one(ctx: &mut Ctx<'_>, keys: &mut Option<Keys>, row: Result<FilterRow>) -> Result<bool> {
    let f = row?;
    let Some(seg) = read_segment(ctx, f.c, f.first)? else {
        // A filter row without its segment: verify reports it.
        return Ok(false);
    };
    if keys.as_ref().is_none_or(|k| k.conversation() != f.c) {
        *keys = Some(Keys::new(f.c));
    }
    let Some(keys) = keys.as_mut() else { return Ok(false) };
    let (first, last, epoch) = (seg.first, seg.last, seg.epoch);
    let rec = seg.place(f.c).record();
    let record = keys.open_view(ctx, seg, |_, views| {
        let mut texts = Vec::with_capacity(views.len());
        for v in views {
            let text =
                std::str::from_utf8(v.text).map_err(|_| Error::corrupt(rec, "a string is not UTF-8"))?;
            texts.push((text, v.sent_at_ms));
        }
        Ok(FilterRecord::of_messages(texts))
    })?;
    let aead = keys.get(ctx, epoch)?;
    let sealed = segments::seal_filter(ctx, aead, Place::segment_filter(f.c, epoch, first, last), &record)?;
    segments::put_filter(ctx, f.c, (first, last), epoch, Some(&sealed))?;
    Ok(true)
}

/// The segment row of `c` starting at `first`, if there is one.
fn read_segment(ctx: &Ctx<'_>, c: ConversationId, first: u64) -> Result<Option<SegmentRow>> {
    ctx.conn
        .prepare_cached(select_segments!("WHERE id = ?1"))?
        .query_row([segments::key(c, first)?], |r| Ok(SegmentRow::from_row(c, r)))
        .optional()?
        .transpose()
}

/// One search, in one read transaction.
fn search_in(
    ctx: &mut Ctx<'_>,
    q: &SearchQuery,
    query: &Query,
    probes: &[u64],
    limit: usize,
) -> Result<SearchPage> {
    let (lo, hi) = match q.conversation {
        Some(c) => {
            super::conversations::ConvState::load(ctx, c)?;
            segments::span(c)
        }
        None => (1, i64::MAX),
    };
    let cursor: Option<HitKey> = q.after.map(|a| (a.sent_at_ms, a.message));
    // 1. The segments whose filter may match, with their newest time.
    let mut candidates: Vec<(i64, ConversationId, u64)> = Vec::new();
    let mut unindexed_segments = 0;
    {
        let mut stmt = ctx.conn.prepare_cached(
            "SELECT id, last_seq, epoch, filter FROM segment_filter WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![lo, hi])?;
        let mut keys: Option<Keys> = None;
        while let Some(r) = rows.next()? {
            let f = FilterRow::from_row(r)?;
            let place = f.place();
            let Some(sealed) = f.filter else {
                unindexed_segments += 1;
                candidates.push((i64::MAX, f.c, f.first));
                continue;
            };
            if keys.as_ref().is_none_or(|k| k.conversation() != f.c) {
                keys = Some(Keys::new(f.c));
            }
            let Some(keys) = keys.as_mut() else { continue };
            let newest = open_filter(ctx, keys, place, sealed, |record| {
                let too_old = q.from_ms.is_some_and(|from| record.newest_ms < from);
                let too_new = q.until_ms.is_some_and(|until| record.oldest_ms >= until)
                    || cursor.is_some_and(|(at, _)| record.oldest_ms > at);
                (!too_old && !too_new && record.may_hold_all(probes)).then_some(record.newest_ms)
            })?;
            if let Some(newest) = newest {
                candidates.push((newest, f.c, f.first));
            }
        }
    }
    // 2. Open them newest first, until no segment left can hold a hit
    //    newer than the page's oldest.
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    let mut heap: BinaryHeap<Reverse<Ranked>> = BinaryHeap::with_capacity(limit + 1);
    let mut keys: Option<Keys> = None;
    for (newest, c, first) in candidates {
        if heap.len() >= limit && heap.peek().is_some_and(|Reverse(worst)| newest < worst.0.0) {
            break;
        }
        let Some(seg) = read_segment(ctx, c, first)? else { continue };
        if keys.as_ref().is_none_or(|k| k.conversation() != c) {
            keys = Some(Keys::new(c));
        }
        let Some(keys) = keys.as_mut() else { continue };
        let now = ctx.now;
        let rec = seg.place(c).record();
        keys.open_view(ctx, seg, |first, views| {
            for v in views {
                if v.expired(now) {
                    continue;
                }
                let key: HitKey = (v.sent_at_ms, MessageId::new(c, first.saturating_add(v.offset)));
                let in_time = q.from_ms.is_none_or(|from| v.sent_at_ms >= from)
                    && q.until_ms.is_none_or(|until| v.sent_at_ms < until)
                    && cursor.is_none_or(|cur| key < cur);
                if !in_time
                    || heap.len() >= limit && heap.peek().is_some_and(|Reverse(worst)| key <= worst.0)
                    || q.sender.as_deref().is_some_and(|s| s.as_bytes() != v.sender)
                {
                    continue;
                }
                let Ok(text) = std::str::from_utf8(v.text) else {
                    return Err(Error::corrupt(rec, "a string is not UTF-8"));
                };
                let Some(ranges) = query.matches(text) else { continue };
                let message = segments::view_to_message(c, first, v)
                    .ok_or_else(|| Error::corrupt(rec, "a string is not UTF-8"))?;
                heap.push(Reverse(Ranked(key, SearchHit { message, ranges })));
                if heap.len() > limit {
                    heap.pop();
                }
            }
            Ok(())
        })?;
    }
    let mut hits: Vec<Ranked> = heap.into_iter().map(|Reverse(r)| r).collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    let next = if hits.len() >= limit {
        hits.last().map(|Ranked((sent_at_ms, message), _)| SearchCursor {
            sent_at_ms: *sent_at_ms,
            message: *message,
        })
    } else {
        None
    };
    Ok(SearchPage { hits: hits.into_iter().map(|Ranked(_, hit)| hit).collect(), next, unindexed_segments })
}

/// For the search fuzz harness: appends `text` to `c` and replaces its
/// segment's filter with `plain` sealed, with the real key, at that
/// segment's place (an authentic filter with arbitrary contents).
#[cfg(feature = "fuzzing")]
pub(crate) fn forge_filter(store: &Store, c: ConversationId, text: &str, plain: &[u8]) -> Result<()> {
    let text: String = text.chars().take(1000).collect();
    let m = store.append(c, crate::types::NewMessage { text, ..Default::default() })?;
    store.write(|ctx| {
        let seg = segments::containing(ctx, c, m.seq())?
            .ok_or(Error::NotFound(crate::error::Missing::Message(m)))?;
        let mut keys = Keys::new(c);
        let place = Place::segment_filter(c, seg.epoch, seg.first, seg.last);
        let aead = keys.get(ctx, seg.epoch)?;
        let sealed = ctx.store.sealer().seal(aead, place, plain)?;
        segments::put_filter(ctx, c, (seg.first, seg.last), seg.epoch, Some(&sealed))
    })
}
