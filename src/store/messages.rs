//! Messages: appending, paging, editing and deleting.

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;

use super::conversations::{ConvState, check_external_id};
use super::refs::Refs;
use super::segments::{self, Keys, Limits, OpenSegment, Packer, SegmentRow, select_segments};
use super::{Ctx, SHORT_READ_MAX, Store};
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
                None => refs.insert(Refs::begin(ctx, c, msgs.len())?),
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
                None => refs.insert(Refs::begin(ctx, c, msgs.len())?),
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
    let aead = state.reserve_seals(ctx, (groups.len() as u64).saturating_mul(segments::SEALS_PER_SEGMENT))?;
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
        let mut slot: HashMap<ConversationId, usize> = HashMap::new();
        for (i, (c, _)) in batch.iter().enumerate() {
            let k = *slot.entry(*c).or_insert_with(|| {
                order.push((*c, Vec::new()));
                order.len() - 1
            });
            if let Some((_, idx)) = order.get_mut(k) {
                idx.push(i);
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
        self.read_short(|ctx| {
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
        let read = |ctx: &mut Ctx<'_>| {
            let page = read_page(ctx, &mut Keys::new(c), page)?;
            if page.is_empty() {
                // No segments: is there a conversation at all?
                ConvState::load(ctx, c)?;
            }
            Ok(page)
        };
        if page.limit <= SHORT_READ_MAX { self.read_short(read) } else { self.read(read) }
    }

    /// Replaces a message's text and stamps it edited. The old text is
    /// scrubbed from the file and the WAL before this returns.
    pub fn edit_message(&self, m: MessageId, text: &str) -> Result<()> {
        self.edit_messages(&[(m, text)])
    }

    /// Edits many messages, in any conversations, in one transaction and
    /// with one scrub: all are changed or none (the first message that is
    /// missing, expired or would become too large fails the whole call).
    /// Each segment concerned is opened and resealed once. A message named
    /// twice is refused ([`Error::InvalidArgument`]): which text should win?
    pub fn edit_messages<S: AsRef<str>>(&self, edits: &[(MessageId, S)]) -> Result<()> {
        let mut changes = BTreeMap::new();
        for (m, text) in edits {
            let text = text.as_ref();
            if changes.insert(*m, Change::Edit(text)).is_some() {
                return Err(Error::invalid(format!("message {m} is edited twice in one call")));
            }
        }
        self.rewrite_messages(&changes)
    }

    /// Deletes a message. Its content is removed from its segment (not
    /// flagged) and scrubbed from the file and the WAL before this returns;
    /// afterwards [`Store::message`] reports [`Error::NotFound`].
    pub fn delete_message(&self, m: MessageId) -> Result<()> {
        self.delete_messages(&[m])
    }

    /// Deletes many messages, in any conversations, in one transaction and
    /// with one scrub: all are deleted or none (a missing or expired
    /// message fails the whole call with [`Error::NotFound`]). A message
    /// named more than once is deleted once.
    pub fn delete_messages(&self, ids: &[MessageId]) -> Result<()> {
        let changes: BTreeMap<MessageId, Change<'_>> = ids.iter().map(|m| (*m, Change::Delete)).collect();
        self.rewrite_messages(&changes)
    }

    /// Applies `changes` (ordered by conversation, then sequence number) in
    /// one write: each segment holding a changed message is opened once,
    /// changed, and resealed under its conversation's current key,
    /// compressed, or removed if it became empty. Then one scrub.
    fn rewrite_messages(&self, changes: &BTreeMap<MessageId, Change<'_>>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.write(|ctx| {
            let mut compressor = frame::compressor();
            // The conversation being changed, its keys, and its segment open now.
            let mut state: Option<(ConvState, Keys)> = None;
            let mut open: Option<OpenSegment> = None;
            for (&m, change) in changes {
                let c = m.conversation();
                if state.as_ref().is_none_or(|(s, _)| s.id != c) {
                    if let Some((mut done, _)) = state.take() {
                        if let Some(seg) = open.take() {
                            reseal(ctx, &mut done, seg, compressor.as_mut())?;
                        }
                        done.save(ctx, false)?;
                    }
                    state = Some((ConvState::load(ctx, c)?, Keys::new(c)));
                }
                let Some((st, keys)) = state.as_mut() else { continue };
                if open.as_ref().is_some_and(|seg| !seg.covers(m.seq()))
                    && let Some(seg) = open.take()
                {
                    reseal(ctx, st, seg, compressor.as_mut())?;
                }
                let seg = match &mut open {
                    Some(seg) => seg,
                    None => open.insert(segments::open_holding(ctx, keys, m)?),
                };
                let not_found = || Error::NotFound(Missing::Message(m));
                let pos = seg.position(m.seq()).ok_or_else(not_found)?;
                match change {
                    Change::Edit(text) => {
                        let msg = seg.messages.get_mut(pos).ok_or_else(not_found)?;
                        if msg.expired(ctx.now) {
                            return Err(not_found());
                        }
                        let len = text.len()
                            + msg.sender.len()
                            + msg.extra.len()
                            + msg.external_id.as_ref().map_or(0, String::len);
                        if len > limits::MAX_MESSAGE_BYTES {
                            return Err(Error::TooLarge {
                                what: "message",
                                len,
                                limit: limits::MAX_MESSAGE_BYTES,
                            });
                        }
                        (*text).clone_into(&mut msg.text);
                        msg.edited_at_ms = Some(ctx.now);
                    }
                    Change::Delete => {
                        if seg.messages.get(pos).is_none_or(|msg| msg.expired(ctx.now)) {
                            return Err(not_found());
                        }
                        seg.messages.remove(pos);
                        // Its attachments go with it; their files after the commit.
                        super::attachments::remove_for_message(ctx, c, m.seq())?;
                        // Its external-id or content entry in the index stays, so
                        // no archive brings it back (docs/FORMAT.md, "Importing").
                        st.message_count = st.message_count.saturating_sub(1);
                    }
                }
            }
            if let Some((mut done, _)) = state {
                if let Some(seg) = open {
                    reseal(ctx, &mut done, seg, compressor.as_mut())?;
                }
                done.save(ctx, false)?;
            }
            ctx.request_scrub();
            Ok(())
        })
    }
}

/// One change of [`Store::rewrite_messages`].
enum Change<'a> {
    Edit(&'a str),
    Delete,
}

/// Writes back a segment an edit or delete changed: resealed in place under
/// the conversation's current key (compressed when shorter), or removed
/// if no message is left in it.
fn reseal(
    ctx: &mut Ctx<'_>,
    state: &mut ConvState,
    seg: OpenSegment,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Result<()> {
    let c = state.id;
    if seg.messages.is_empty() {
        return segments::remove(ctx, c, seg.first);
    }
    let aead = state.reserve_seals(ctx, segments::SEALS_PER_SEGMENT)?;
    let sealed =
        segments::seal(ctx, &aead, c, state.epoch, (seg.first, seg.last), &seg.messages, compressor)?;
    segments::update(ctx, c, &sealed)
}

/// Reads one page. Walks segments away from the anchor, decrypting each,
/// until the page is full. Expired messages are skipped.
pub(crate) fn read_page(ctx: &mut Ctx<'_>, keys: &mut Keys, page: Page) -> Result<Vec<Message>> {
    let c = keys.conversation();
    if page.limit == 0 {
        return Ok(Vec::new());
    }
    let (lo, hi) = segments::span(c);
    // (sql over c's keys ?1 to ?2, descending); ?2 narrowed for `Before`.
    const DESCENDING: &str = select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC");
    let (sql, hi, descending): (&str, i64, bool) = match page.anchor {
        Anchor::Latest => (DESCENDING, hi, true),
        Anchor::Oldest => (select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id ASC"), hi, false),
        // Segments starting before m.
        Anchor::Before(m) => (
            DESCENDING,
            if m.seq() >= segments::SEQ_LIMIT { hi } else { segments::key_at(c, m.seq()).saturating_sub(1) },
            true,
        ),
        // The segment holding m (or the last before it), and those after.
        Anchor::After(_) => (
            select_segments!(
                "WHERE id BETWEEN COALESCE((SELECT MAX(id) FROM segment WHERE id BETWEEN ?1 AND ?3), ?1) AND ?2
                 ORDER BY id ASC"
            ),
            hi,
            false,
        ),
    };
    let wanted = |seq: u64| match page.anchor {
        Anchor::Latest | Anchor::Oldest => true,
        Anchor::Before(m) => seq < m.seq(),
        Anchor::After(m) => seq > m.seq(),
    };

    let mut out: Vec<Message> = Vec::with_capacity(page.limit.min(1024));
    let conn = ctx.conn;
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = match page.anchor {
        Anchor::After(m) => stmt.query(params![lo, hi, segments::key_at(c, m.seq())])?,
        _ => stmt.query(params![lo, hi])?,
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
