//! Messages: appending, paging, editing and deleting.

use rusqlite::params;

use super::conversations::{ConvState, check_external_id};
use super::refs::Refs;
use super::segments::{self, Keys, Limits, Packer, SegmentRow};
use super::{Ctx, Store, row};
use crate::error::{Error, Missing, Result};
use crate::format::frame;
use crate::format::records::{self, StoredMessage};
use crate::ids::{ConversationId, MessageId};
use crate::types::{Anchor, Message, NewMessage, Page, limits};

/// Checks a message against the size limits and its conversation.
fn check_message(c: ConversationId, m: &NewMessage) -> Result<()> {
    if let Some(id) = &m.external_id {
        check_external_id(id)?;
    }
    let len = m.text.len() + m.sender.len() + m.extra.len() + m.external_id.as_ref().map_or(0, String::len);
    if len > limits::MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge { what: "message", len, limit: limits::MAX_MESSAGE_BYTES });
    }
    if let Some(r) = m.reply_to
        && r.conversation() != c
    {
        return Err(Error::invalid(format!("message replies to {r}, which is not in conversation {c}")));
    }
    Ok(())
}

/// Plaintext size of a message as stored, for grouping into segments.
fn approx_len(m: &NewMessage) -> usize {
    records::approx_len(&m.text, &m.sender, &m.extra, m.external_id.as_deref())
}

/// When a message appended now expires: its own expiry, or its send time
/// plus the conversation's retention, whichever is earlier.
pub(crate) fn expiry(expires_at_ms: Option<i64>, sent_at_ms: i64, retention_ms: Option<u64>) -> Option<i64> {
    let by_retention = retention_ms.map(|r| sent_at_ms.saturating_add(i64::try_from(r).unwrap_or(i64::MAX)));
    match (expires_at_ms, by_retention) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn stored(offset: u64, m: &NewMessage, retention_ms: Option<u64>) -> StoredMessage {
    StoredMessage {
        offset,
        external_id: m.external_id.clone(),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at_ms,
        text: m.text.clone(),
        reply_to: m.reply_to.map(MessageId::seq),
        edited_at_ms: None,
        extra: m.extra.clone(),
        expires_at_ms: expiry(m.expires_at_ms, m.sent_at_ms, retention_ms),
    }
}

/// Appends the messages of one conversation from a batch: dedups them,
/// assigns sequence numbers, seals them into segments of bounded size, and
/// saves the conversation's state once. Returns one id per input message.
fn append_to(ctx: &mut Ctx<'_>, c: ConversationId, msgs: &[&NewMessage]) -> Result<Vec<MessageId>> {
    let mut state = ConvState::load(ctx, c)?;
    let mut ids = Vec::with_capacity(msgs.len());
    let mut fresh: Vec<(u64, &NewMessage)> = Vec::with_capacity(msgs.len());
    let mut refs = None;
    for &m in msgs {
        if let Some(ext) = &m.external_id {
            let refs = match &mut refs {
                Some(r) => r,
                None => refs.insert(Refs::begin(ctx, c)?),
            };
            let hashes = ctx.masters().hashes_for(c, |k| k.message_hash(c, ext));
            if let Some(seq) = refs.find_either(ctx, hashes)? {
                ids.push(MessageId::new(c, seq));
                continue;
            }
            refs.add(ctx, hashes.0, state.next_seq)?;
        }
        if let Some(r) = m.reply_to
            && (r.seq() == 0 || r.seq() >= state.next_seq)
        {
            return Err(Error::invalid(format!(
                "message replies to {r}, which comes after it or does not exist"
            )));
        }
        if m.external_id.is_none() {
            // Known by sender and time, so an archive that carries it back
            // from another store does not add it twice (docs/FORMAT.md,
            // "Importing"). The first message with that sender and time keeps it.
            let refs = match &mut refs {
                Some(r) => r,
                None => refs.insert(Refs::begin(ctx, c)?),
            };
            let hashes = ctx.masters().hashes_for(c, |k| k.content_hash(c, &m.sender, m.sent_at_ms));
            if refs.find_either(ctx, hashes)?.is_none() {
                refs.add(ctx, hashes.0, state.next_seq)?;
            }
        }
        ids.push(MessageId::new(c, state.next_seq));
        fresh.push((state.next_seq, m));
        state.next_seq += 1;
    }
    if let Some(refs) = refs {
        refs.finish(ctx)?;
    }
    if fresh.is_empty() {
        return Ok(ids);
    }

    let mut groups: Vec<&[(u64, &NewMessage)]> = Vec::new();
    let mut rest = &fresh[..];
    for n in Packer::sizes(Limits::APPEND, fresh.iter().map(|(_, m)| approx_len(m))) {
        let (group, after) = rest.split_at(n.min(rest.len()));
        groups.push(group);
        rest = after;
    }

    let retention = state.meta(ctx)?.retention_ms;
    let aead = state.reserve_seals(ctx, groups.len() as u64)?;
    for group in groups {
        let (Some((first, _)), Some((last, _))) = (group.first(), group.last()) else {
            continue;
        };
        let body: Vec<StoredMessage> =
            group.iter().map(|(seq, m)| stored(seq - first, m, retention)).collect();
        let sealed = segments::seal(ctx, &aead, c, state.epoch, (*first, *last), &body, None)?;
        segments::insert(ctx, c, &sealed)?;
    }
    state.message_count += fresh.len() as u64;
    state.save(ctx, true)?;
    Ok(ids)
}

impl Store {
    /// Appends a message to conversation `c` and returns its id.
    ///
    /// If `msg` has an external id the conversation already holds (or held:
    /// deleted messages count), this returns that message's id and stores
    /// nothing.
    pub fn append(&self, c: ConversationId, msg: NewMessage) -> Result<MessageId> {
        check_message(c, &msg)?;
        let ids = self.write(|ctx| append_to(ctx, c, &[&msg]))?;
        ids.into_iter().next().ok_or_else(|| Error::invalid("append produced no id"))
    }

    /// Appends many messages, to any conversations, in one transaction: all
    /// or none are stored. Each conversation gets one segment per batch (more
    /// if it gets more than 64 messages or 64 KiB). Returns ids in input order.
    pub fn append_batch(&self, batch: &[(ConversationId, NewMessage)]) -> Result<Vec<MessageId>> {
        for (c, m) in batch {
            check_message(*c, m)?;
        }
        // Group by conversation, keeping each conversation's input order and
        // the conversations in order of first appearance.
        let mut order: Vec<(ConversationId, Vec<usize>)> = Vec::new();
        for (i, (c, _)) in batch.iter().enumerate() {
            match order.iter_mut().find(|(oc, _)| oc == c) {
                Some((_, idx)) => idx.push(i),
                None => order.push((*c, vec![i])),
            }
        }
        self.write(|ctx| {
            let mut ids = vec![MessageId::new(ConversationId::from_raw(0), 0); batch.len()];
            for (c, idx) in &order {
                let msgs: Vec<&NewMessage> = idx.iter().map(|&i| &batch[i].1).collect();
                for (&i, id) in idx.iter().zip(append_to(ctx, *c, &msgs)?) {
                    ids[i] = id;
                }
            }
            Ok(ids)
        })
    }

    /// One message.
    pub fn message(&self, m: MessageId) -> Result<Message> {
        let c = m.conversation();
        let not_found = || Error::NotFound(Missing::Message(m));
        self.read(|ctx| {
            let seg = segments::containing(ctx, c, m.seq())?.ok_or_else(not_found)?;
            let rec = seg.place(c).record();
            let now = ctx.now;
            // Only the one message is copied out of the segment.
            Keys::new(c).open_view(ctx, seg, |first, views| {
                let v = views.iter().find(|v| first + v.offset == m.seq() && !v.expired(now));
                let v = v.ok_or_else(not_found)?;
                segments::view_to_message(c, first, v)
                    .ok_or_else(|| Error::corrupt(rec, "a string is not UTF-8"))
            })
        })
    }

    /// A page of a conversation's messages, oldest first. Decrypts only the
    /// segments the page needs.
    pub fn messages(&self, c: ConversationId, page: Page) -> Result<Vec<Message>> {
        if let Anchor::Before(m) | Anchor::After(m) = page.anchor
            && m.conversation() != c
        {
            return Err(Error::invalid(format!("message {m} is not in conversation {c}")));
        }
        self.read(|ctx| {
            let page = read_page(ctx, c, page)?;
            if page.is_empty() {
                // No segments: is there a conversation at all?
                ConvState::load(ctx, c)?;
            }
            Ok(page)
        })
    }

    /// Replaces a message's text and stamps it edited. The old text is
    /// scrubbed from the file and the WAL before this returns.
    pub fn edit_message(&self, m: MessageId, text: &str) -> Result<()> {
        self.rewrite_message(m, |msgs, pos, now| {
            let msg = msgs.get_mut(pos).ok_or(Error::NotFound(Missing::Message(m)))?;
            let len = text.len()
                + msg.sender.len()
                + msg.extra.len()
                + msg.external_id.as_ref().map_or(0, String::len);
            if len > limits::MAX_MESSAGE_BYTES {
                return Err(Error::TooLarge { what: "message", len, limit: limits::MAX_MESSAGE_BYTES });
            }
            msg.text = text.to_owned();
            msg.edited_at_ms = Some(now);
            Ok(None)
        })
    }

    /// Deletes a message. Its content is removed from its segment (not
    /// flagged) and scrubbed from the file and the WAL before this returns;
    /// afterwards [`Store::message`] reports [`Error::NotFound`].
    pub fn delete_message(&self, m: MessageId) -> Result<()> {
        self.rewrite_message(m, |msgs, pos, _| {
            if pos >= msgs.len() {
                return Err(Error::NotFound(Missing::Message(m)));
            }
            Ok(Some(msgs.remove(pos)))
        })
    }

    /// Opens the segment holding `m`, lets `change` modify its messages
    /// (returning the one it removed, if any), and reseals it under the current key,
    /// compressed, or deletes the row if it became empty. Then scrubs.
    fn rewrite_message(
        &self,
        m: MessageId,
        change: impl FnOnce(&mut Vec<StoredMessage>, usize, i64) -> Result<Option<StoredMessage>>,
    ) -> Result<()> {
        let c = m.conversation();
        self.write(|ctx| {
            let mut state = ConvState::load(ctx, c)?;
            let (mut open, pos) = segments::open_containing(ctx, m)?;
            let removed = change(&mut open.messages, pos, ctx.now)?;
            if open.messages.is_empty() {
                segments::remove(ctx, c, open.first)?;
            } else {
                let aead = state.reserve_seals(ctx, 1)?;
                let range = (open.first, open.last);
                let mut compressor = frame::compressor();
                let sealed =
                    segments::seal(ctx, &aead, c, state.epoch, range, &open.messages, compressor.as_mut())?;
                segments::update(ctx, c, &sealed)?;
            }
            if removed.is_some() {
                // Its external-id or content entry in the index stays, so
                // no archive brings it back (docs/FORMAT.md, "Importing").
                state.message_count = state.message_count.saturating_sub(1);
            }
            state.save(ctx, false)?;
            ctx.request_scrub();
            Ok(())
        })
    }
}

/// Reads one page. Walks segments away from the anchor, decrypting each,
/// until the page is full. Expired messages are skipped.
pub(crate) fn read_page(ctx: &mut Ctx<'_>, c: ConversationId, page: Page) -> Result<Vec<Message>> {
    if page.limit == 0 {
        return Ok(Vec::new());
    }
    let row_id = row::sql_int(c.get())?;
    let cols = segments::COLUMNS;
    // (sql, the bound seq if the query has one, descending)
    let (sql, bound, descending): (String, Option<i64>, bool) = match page.anchor {
        Anchor::Latest => (
            format!("SELECT {cols} FROM segment WHERE conversation = ?1 ORDER BY first_seq DESC"),
            None,
            true,
        ),
        Anchor::Oldest => (
            format!("SELECT {cols} FROM segment WHERE conversation = ?1 ORDER BY first_seq ASC"),
            None,
            false,
        ),
        Anchor::Before(m) => (
            format!("SELECT {cols} FROM segment WHERE conversation = ?1 AND first_seq < ?2 ORDER BY first_seq DESC"),
            Some(seq_bound(m.seq())),
            true,
        ),
        Anchor::After(m) => (
            format!(
                "SELECT {cols} FROM segment WHERE conversation = ?1 AND first_seq >=
                   COALESCE((SELECT MAX(first_seq) FROM segment WHERE conversation = ?1 AND first_seq <= ?2), 0)
                 ORDER BY first_seq ASC"
            ),
            Some(seq_bound(m.seq())),
            false,
        ),
    };
    let wanted = |seq: u64| match page.anchor {
        Anchor::Latest | Anchor::Oldest => true,
        Anchor::Before(m) => seq < m.seq(),
        Anchor::After(m) => seq > m.seq(),
    };

    let mut keys = Keys::new(c);
    let mut out: Vec<Message> = Vec::with_capacity(page.limit.min(1024));
    let conn = ctx.conn;
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = match bound {
        Some(bound) => stmt.query(params![row_id, bound])?,
        None => stmt.query(params![row_id])?,
    };
    while out.len() < page.limit {
        let Some(r) = rows.next()? else { break };
        let seg = SegmentRow::from_row(c, r)?;
        let rec = seg.place(c).record();
        let take = page.limit - out.len();
        let now = ctx.now;
        // Only the messages the page returns are copied out.
        keys.open_view(ctx, seg, |first, views| {
            let selected = views.iter().filter(|v| !v.expired(now) && wanted(first + v.offset));
            let convert = |v| {
                segments::view_to_message(c, first, v)
                    .ok_or_else(|| Error::corrupt(rec, "a string is not UTF-8"))
            };
            if descending {
                for v in selected.rev().take(take) {
                    out.push(convert(v)?);
                }
            } else {
                for v in selected.take(take) {
                    out.push(convert(v)?);
                }
            }
            Ok(())
        })?;
    }
    if descending {
        out.reverse();
    }
    Ok(out)
}

/// A sequence number as an SQL bound; those past `i64::MAX` clamp (no row
/// holds them).
fn seq_bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}
