//! `Store::verify` (docs/DESIGN.md, "Verification"): opens every sealed
//! value and cross-checks the plaintext columns, reporting every problem
//! rather than stopping at the first.

use rusqlite::{OptionalExtension, params};

use super::conversations::{ConvState, conversation_id, open_meta_with};
use super::segments::{self, Keys, SegmentRow, select_segments};
use super::{Ctx, Store, row};
use crate::crypto::Aead;
use crate::error::{Error, Result};
use crate::format::envelope::Place;
use crate::format::records::StoredMessage;
use crate::ids::{ConversationId, KeyEpoch};
use crate::maintenance::{Problem, ProblemKind, VerifyReport};
use crate::search::filter::FilterRecord;

/// Most `integrity_check` messages reported.
const MAX_INTEGRITY_MESSAGES: i64 = 100;

/// Tables whose rows belong to a conversation.
const CHILD_TABLES: [&str; 5] = ["segment", "conversation_key", "recent_ref", "message_ref", "attachment"];

impl Store {
    /// Checks the whole store and reports every problem found: SQLite's
    /// integrity check; every key, metadata and segment opening with its key
    /// at its place; segment contents matching their plaintext columns;
    /// sequence ranges not overlapping; counts; keys for every epoch in use;
    /// rows of conversations that do not exist; every segment's search
    /// filter matching its messages.
    ///
    /// Each conversation is checked in its own read transaction, so writers
    /// carry on meanwhile. Keys are unwrapped from the file, not taken from
    /// the in-memory cache. A problem is a finding, not an error: the result
    /// is `Err` only if the check itself could not run.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let ids = self.read(|ctx| {
            whole_store(ctx, &mut report.problems)?;
            let ids: Vec<i64> = ctx
                .conn
                .prepare_cached("SELECT id FROM conversation ORDER BY id")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(ids)
        })?;
        for id in ids {
            let c = match conversation_id(id) {
                Ok(c) => c,
                Err(e) => {
                    report.problems.push(problem(ProblemKind::Corrupt, None, None, None, e.to_string()));
                    continue;
                }
            };
            report.conversations = report.conversations.saturating_add(1);
            self.read(|ctx| conversation(ctx, c, &mut report))?;
        }
        // Attachment files no row names (docs/ATTACHMENTS.md, "Writing"):
        // `compact` and `scrub` remove them.
        let (orphans, strangers) = super::attachments::orphan_files(self)?;
        let orphans = orphans.into_iter().map(|o| {
            format!(
                "the attachment file {} ({} bytes) belongs to no attachment (left by a crash while it was written, \
                 or being written now); compact removes it",
                o.path.display(),
                o.bytes
            )
        });
        let strangers = strangers.into_iter().map(|path| {
            format!("{} is not an attachment file: chatvault did not put it in its directory", path.display())
        });
        for detail in orphans.chain(strangers) {
            report.problems.push(problem(ProblemKind::Orphan, None, None, None, detail));
        }
        Ok(report)
    }
}

fn problem(
    kind: ProblemKind,
    conversation: Option<ConversationId>,
    seqs: Option<(u64, u64)>,
    epoch: Option<KeyEpoch>,
    detail: impl Into<String>,
) -> Problem {
    Problem { kind, conversation, seqs, epoch, detail: detail.into() }
}

/// Turns an error about stored data into a problem; other errors (I/O,
/// SQLite) stop the verification.
fn as_problem(e: Error, c: Option<ConversationId>, seqs: Option<(u64, u64)>) -> Result<Problem> {
    match e {
        Error::Authentication { record } => Ok(problem(
            ProblemKind::Authentication,
            c,
            seqs.or(record.seqs),
            KeyEpoch::from_column(i64::from(record.epoch)),
            format!("{record} does not open"),
        )),
        Error::Corrupt { record, detail } => Ok(problem(
            ProblemKind::Corrupt,
            c,
            seqs.or(record.seqs),
            KeyEpoch::from_column(i64::from(record.epoch)),
            format!("{detail} (in {record})"),
        )),
        other => Err(other),
    }
}

fn whole_store(ctx: &mut Ctx<'_>, problems: &mut Vec<Problem>) -> Result<()> {
    for detail in super::schema_check::differences(ctx.conn)? {
        problems.push(problem(ProblemKind::Schema, None, None, None, detail));
    }
    // A rotation under way: its next master key must open.
    if let Err(e) = ctx.refresh_masters() {
        problems.push(as_problem(e, None, None)?);
    }
    let messages: Vec<String> = ctx
        .conn
        .prepare(&format!("PRAGMA integrity_check({MAX_INTEGRITY_MESSAGES})"))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for m in messages.into_iter().filter(|m| m != "ok") {
        problems.push(problem(ProblemKind::Integrity, None, None, None, m));
    }
    for table in CHILD_TABLES {
        let orphans: Vec<i64> = ctx
            .conn
            .prepare(&format!(
                "SELECT DISTINCT conversation FROM {table}
                 WHERE conversation NOT IN (SELECT id FROM conversation) ORDER BY conversation"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in orphans {
            let c = u64::try_from(id).ok().map(ConversationId::from_raw);
            problems.push(problem(
                ProblemKind::Orphan,
                c,
                None,
                None,
                format!("{table} rows belong to conversation {id}, which does not exist"),
            ));
        }
    }
    // Search filters without their segment.
    let orphans: Vec<i64> = ctx
        .conn
        .prepare("SELECT id FROM segment_filter WHERE id NOT IN (SELECT id FROM segment) ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in orphans {
        let c = u64::try_from(id >> 32).ok().map(ConversationId::from_raw);
        problems.push(problem(
            ProblemKind::Orphan,
            c,
            None,
            None,
            format!("a search filter row ({id}) has no segment"),
        ));
    }
    // Format 4's key (a forged file need not keep the schema's CHECK).
    // Quoted: a forged row's columns need not be integers.
    let unkeyed: Vec<(String, String)> = ctx
        .conn
        .prepare(
            "SELECT quote(conversation), quote(first_seq) FROM segment
             WHERE first_seq NOT BETWEEN 0 AND 4294967295 OR id IS NOT conversation * 4294967296 + first_seq
             ORDER BY conversation, first_seq",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, first) in unkeyed {
        let c = id.parse::<u64>().ok().map(ConversationId::from_raw);
        problems.push(problem(
            ProblemKind::Corrupt,
            c,
            None,
            None,
            format!(
                "the segment of conversation {id} starting at {first} has an id that does not match its conversation and first sequence number"
            ),
        ));
    }
    Ok(())
}

/// A filter row's `last_seq`, `epoch` (each `None` if not an integer),
/// `filter` (`None` if not a blob: NULL until indexed), and whether the
/// filter is a blob or NULL at all.
type FilterColumns = (Option<i64>, Option<i64>, Option<Vec<u8>>, bool);

/// Checks a segment's search filter row (docs/SEARCH.md): present, naming
/// the segment's range and epoch, and, unless the backfill has not reached
/// it, opening to exactly the filter of the segment's messages.
fn check_filter(
    ctx: &mut Ctx<'_>,
    keys: &mut Keys,
    (first, last, epoch): (u64, u64, KeyEpoch),
    messages: &[StoredMessage],
) -> Result<Option<Problem>> {
    let c = keys.conversation();
    let (some, range) = (Some(c), Some((first, last)));
    let row: Option<FilterColumns> = ctx
        .conn
        .prepare_cached("SELECT last_seq, epoch, filter, typeof(filter) IN ('null', 'blob') FROM segment_filter WHERE id = ?1")?
        .query_row([segments::key(c, first)?], |r| {
            Ok((
                r.get_ref(0)?.as_i64().ok(),
                r.get_ref(1)?.as_i64().ok(),
                r.get_ref(2)?.as_blob().ok().map(<[u8]>::to_vec),
                r.get::<_, bool>(3)?,
            ))
        })
        .optional()?;
    let Some((row_last, row_epoch, sealed, blob_or_null)) = row else {
        return Ok(Some(problem(
            ProblemKind::Corrupt,
            some,
            range,
            Some(epoch),
            "the segment has no search filter row",
        )));
    };
    if !blob_or_null {
        // Searches fail on it.
        return Ok(Some(problem(
            ProblemKind::Corrupt,
            some,
            range,
            Some(epoch),
            "the segment's search filter is neither a sealed filter nor NULL",
        )));
    }
    if row_last != i64::try_from(last).ok() || row_epoch != Some(i64::from(epoch.get())) {
        return Ok(Some(problem(
            ProblemKind::Corrupt,
            some,
            range,
            Some(epoch),
            "the segment's search filter row names another range or key epoch",
        )));
    }
    let Some(sealed) = sealed else { return Ok(None) };
    let place = Place::segment_filter(c, epoch, first, last);
    match super::search::open_filter(ctx, keys, place, sealed, |v| v.to_record()) {
        Ok(filter) => {
            let want = FilterRecord::of_messages(messages.iter().map(|m| (m.text.as_str(), m.sent_at_ms)));
            Ok((filter != want).then(|| {
                problem(
                    ProblemKind::Corrupt,
                    some,
                    range,
                    Some(epoch),
                    "the segment's search filter does not match its messages",
                )
            }))
        }
        Err(e) => as_problem(e, some, range).map(Some),
    }
}

/// Checks one conversation: keys, metadata, segments, counts, index rows.
fn conversation(ctx: &mut Ctx<'_>, c: ConversationId, report: &mut VerifyReport) -> Result<()> {
    let some = Some(c);
    let state = match ConvState::load(ctx, c) {
        Ok(s) => s,
        // Deleted since the list was read.
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => {
            report.problems.push(as_problem(e, some, None)?);
            return Ok(());
        }
    };
    let c_i = row::sql_int(c.get())?;
    // The master keys as this snapshot has them.
    ctx.refresh_masters()?;

    // Keys, unwrapped from their rows.
    let rec = crate::format::envelope::Place::conversation_key(c, state.epoch).record();
    let mut wrapped = Vec::new();
    for key_row in super::conversations::wrapped_keys(ctx, c)? {
        match key_row {
            Ok(w) => wrapped.push(w),
            Err(e) => report.problems.push(as_problem(e, some, None)?),
        }
    }
    let mut aeads: Vec<(KeyEpoch, Aead)> = Vec::new();
    for (epoch, w) in wrapped {
        if epoch > state.epoch {
            // Never written so: a new epoch's key row and the epoch change
            // commit together, above every row.
            report.problems.push(problem(
                ProblemKind::Corrupt,
                some,
                None,
                Some(epoch),
                "a key epoch above the conversation's current one (the epoch was rolled back, or the row added); \
                 compaction leaves it",
            ));
        }
        // During a master-key rotation a key may be under either master key
        // (new keys go under the next one before their conversation moves).
        let masters = ctx.masters();
        let sealer = ctx.store.sealer();
        let first = masters.for_conversation(c).open_conversation_key(sealer, c, epoch, w.clone());
        let unwrapped = match (first, masters.other_for(c)) {
            (Err(e), Some(other)) => other.open_conversation_key(sealer, c, epoch, w).map_err(|_| e),
            (result, _) => result,
        };
        match unwrapped {
            Ok((key, sealable)) => {
                if epoch == state.epoch && !sealable {
                    // A rotation retired it; only a rollback of the
                    // conversation's epoch makes it current again.
                    report.problems.push(problem(
                        ProblemKind::Corrupt,
                        some,
                        None,
                        Some(epoch),
                        "the current key epoch's key was retired by a master-key rotation (the epoch was rolled \
                         back); the next write starts a new epoch",
                    ));
                }
                aeads.push((epoch, Aead::new(&key)));
            }
            Err(e) => report.problems.push(as_problem(e, some, None)?),
        }
    }

    // Metadata, under the current epoch.
    match aeads.iter().find(|(e, _)| *e == state.epoch) {
        None => report.problems.push(problem(
            ProblemKind::MissingKey,
            some,
            None,
            Some(state.epoch),
            "the conversation's current key epoch has no key",
        )),
        Some((_, aead)) => {
            let sealed: Option<Vec<u8>> = ctx
                .conn
                .prepare("SELECT meta FROM conversation WHERE id = ?1")?
                .query_row([c_i], |r| Ok(r.get_ref(0)?.as_blob().ok().map(<[u8]>::to_vec)))?;
            let opened = match sealed {
                Some(sealed) => open_meta_with(ctx, aead, c, state.epoch, sealed).map(drop),
                None => Err(Error::corrupt(rec, "metadata is not a blob")),
            };
            if let Err(e) = opened {
                report.problems.push(as_problem(e, some, None)?);
            }
        }
    }
    let have_key: Vec<KeyEpoch> = aeads.iter().map(|(e, _)| *e).collect();
    let mut keys = Keys::fixed(c, aeads);

    // Segments, in order.
    let conn = ctx.conn;
    let mut stmt = conn.prepare(select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id"))?;
    let (lo, hi) = segments::span(c);
    let mut rows = stmt.query(params![lo, hi])?;
    let mut previous_last: Option<u64> = None;
    let mut counted: u64 = 0;
    // The messages the segments hold, for their attachments.
    let mut seqs = std::collections::BTreeSet::new();
    while let Some(r) = rows.next()? {
        let seg = match SegmentRow::from_row(c, r) {
            Ok(seg) => seg,
            Err(e) => {
                report.problems.push(as_problem(e, some, None)?);
                continue;
            }
        };
        report.segments = report.segments.saturating_add(1);
        let range = Some((seg.first, seg.last));
        if previous_last.is_some_and(|p| seg.first <= p) {
            report.problems.push(problem(
                ProblemKind::Overlap,
                some,
                range,
                None,
                "overlaps the previous segment's range",
            ));
        }
        if seg.last >= state.next_seq {
            report.problems.push(problem(
                ProblemKind::Overlap,
                some,
                range,
                None,
                format!("ends past the next sequence number {}", state.next_seq),
            ));
        }
        previous_last = Some(previous_last.map_or(seg.last, |p| p.max(seg.last)));
        // Counts come from disk: a tampered one must not overflow.
        counted = counted.saturating_add(seg.count);
        if !have_key.contains(&seg.epoch) {
            report.problems.push(problem(
                ProblemKind::MissingKey,
                some,
                range,
                Some(seg.epoch),
                "the segment's key epoch has no key",
            ));
            continue;
        }
        let (first, last, epoch) = (seg.first, seg.last, seg.epoch);
        match keys.open(ctx, seg) {
            Ok(open) => {
                report.messages = report.messages.saturating_add(open.messages.len() as u64);
                seqs.extend(open.messages.iter().map(|m| first + m.offset));
                if let Some(detail) = check_filter(ctx, &mut keys, (first, last, epoch), &open.messages)? {
                    report.problems.push(detail);
                }
            }
            Err(e) => report.problems.push(as_problem(e, some, range)?),
        }
    }
    if counted != state.message_count {
        report.problems.push(problem(
            ProblemKind::CountMismatch,
            some,
            None,
            None,
            format!("message_count is {}, the segments hold {counted}", state.message_count),
        ));
    }

    drop(rows);
    drop(stmt);

    // Attachments: each of a message the segments hold, its metadata
    // opening at its place and agreeing with its columns, every chunk
    // authenticating (docs/ATTACHMENTS.md, "Verification").
    let messages_of: Vec<(i64, i64)> = conn
        .prepare("SELECT id, seq FROM attachment WHERE conversation = ?1 ORDER BY id")?
        .query_map([c_i], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    report.attachments = report.attachments.saturating_add(messages_of.len() as u64);
    for (id, seq) in messages_of {
        if u64::try_from(seq).is_ok_and(|s| !seqs.contains(&s)) || seq < 0 {
            report.problems.push(problem(
                ProblemKind::Orphan,
                some,
                u64::try_from(id).ok().zip(u64::try_from(seq).ok()),
                None,
                format!("attachment {id} belongs to message {c}/{seq}, which does not exist"),
            ));
        }
    }
    for (at, e) in super::attachments::check_conversation(ctx, &mut keys, c)? {
        report.problems.push(as_problem(e, some, at)?);
    }

    // Index rows pointing past the conversation's end.
    for table in ["recent_ref", "message_ref"] {
        let past: i64 = conn
            .prepare(&format!("SELECT COUNT(*) FROM {table} WHERE conversation = ?1 AND seq >= ?2"))?
            .query_row(params![c_i, row::sql_int(state.next_seq)?], |r| r.get(0))?;
        if past > 0 {
            report.problems.push(problem(
                ProblemKind::Corrupt,
                some,
                None,
                None,
                format!("{past} {table} rows point past the next sequence number {}", state.next_seq),
            ));
        }
    }
    Ok(())
}
