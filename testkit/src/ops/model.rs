//! The in-memory model of a store: plain maps, and the documented rules
//! (docs/DESIGN.md, docs/FORMAT.md) written out directly, each once. The
//! ops harness compares the store against it operation by operation; the
//! crash and fault tests (tests/common/mixed.rs) predict with it what a
//! recovered store must show.

use std::collections::{BTreeMap, HashMap};

use chatvault::{Conversation, ConversationId, Message, MessageId, NewMessage};

/// A message as the model holds it.
#[derive(Debug, Clone)]
pub struct MMsg {
    pub ext: Option<String>,
    pub sender: String,
    pub sent_at: i64,
    pub text: String,
    pub reply_to: Option<u64>,
    pub edited_at: Option<i64>,
    pub extra: Vec<u8>,
    pub expires: Option<i64>,
}

impl MMsg {
    pub fn live(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

/// A conversation as the model holds it.
#[derive(Debug, Clone, Default)]
pub struct MConv {
    pub ext: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at: i64,
    pub retention: Option<u64>,
    pub messages: BTreeMap<u64, MMsg>,
    /// External ids ever appended (deleted messages keep theirs).
    pub refs: HashMap<String, u64>,
    pub next_seq: u64,
    pub read_up_to: Option<u64>,
    /// Ordering stamp of the last append that stored something.
    pub activity: u64,
    pub epoch: u32,
}

impl MConv {
    /// Messages the reads see at `now`, in order.
    pub fn live(&self, now: i64) -> impl DoubleEndedIterator<Item = (u64, &MMsg)> {
        self.messages.iter().filter(move |(_, m)| m.live(now)).map(|(s, m)| (*s, m))
    }

    /// The API view, with conversation id `c`.
    pub fn conversation(&self, c: ConversationId, now: i64) -> Conversation {
        Conversation {
            id: c,
            external_id: self.ext.clone(),
            title: self.title.clone(),
            members: self.members.clone(),
            app_data: self.app_data.clone(),
            created_at_ms: self.created_at,
            read_up_to: self.read_up_to.map(|r| MessageId::new(c, r)),
            message_count: self.live(now).count() as u64,
            retention_ms: self.retention,
        }
    }

    /// The live messages, as the API returns them.
    pub fn messages(&self, c: ConversationId, now: i64) -> Vec<Message> {
        self.live(now).map(|(seq, m)| message(c, seq, m)).collect()
    }

    /// Live messages after the read marker.
    pub fn unread(&self, now: i64) -> u64 {
        self.live(now).filter(|&(s, _)| self.read_up_to.is_none_or(|r| s > r)).count() as u64
    }

    /// Applies the appends of one conversation as the store does: an
    /// external id it has (or had) returns the existing message; a reply
    /// must point at an earlier sequence number. All or nothing: returns
    /// the ids, or the kind of error, leaving `self` unchanged on error.
    pub fn append(
        &mut self,
        c: ConversationId,
        msgs: &[&NewMessage],
    ) -> Result<(Vec<MessageId>, bool), &'static str> {
        let mut next = self.next_seq;
        let mut new_refs: Vec<(String, u64)> = Vec::new();
        let mut fresh: Vec<(u64, &NewMessage)> = Vec::new();
        let mut ids = Vec::new();
        for &m in msgs {
            if let Some(e) = &m.external_id {
                let known = self
                    .refs
                    .get(e)
                    .copied()
                    .or_else(|| new_refs.iter().find(|(x, _)| x == e).map(|(_, s)| *s));
                if let Some(seq) = known {
                    ids.push(MessageId::new(c, seq));
                    continue;
                }
                new_refs.push((e.clone(), next));
            }
            if let Some(r) = m.reply_to
                && (r.seq() == 0 || r.seq() >= next)
            {
                return Err("InvalidArgument");
            }
            ids.push(MessageId::new(c, next));
            fresh.push((next, m));
            next += 1;
        }
        self.next_seq = next;
        self.refs.extend(new_refs);
        for (seq, m) in &fresh {
            self.messages.insert(
                *seq,
                MMsg {
                    ext: m.external_id.clone(),
                    sender: m.sender.clone(),
                    sent_at: m.sent_at_ms,
                    text: m.text.clone(),
                    reply_to: m.reply_to.map(MessageId::seq),
                    edited_at: None,
                    extra: m.extra.clone(),
                    expires: expiry(m.expires_at_ms, m.sent_at_ms, self.retention),
                },
            );
        }
        Ok((ids, !fresh.is_empty()))
    }

    /// Edits live message `seq` at `now`; `Err` (the error kind) if there
    /// is none.
    pub fn edit(&mut self, seq: u64, text: String, now: i64) -> Result<(), &'static str> {
        let m = self.messages.get_mut(&seq).filter(|m| m.live(now)).ok_or("NotFound")?;
        m.text = text;
        m.edited_at = Some(now);
        Ok(())
    }

    /// Deletes live message `seq`; `Err` (the error kind) if there is none.
    pub fn delete(&mut self, seq: u64, now: i64) -> Result<(), &'static str> {
        if !self.messages.get(&seq).is_some_and(|m| m.live(now)) {
            return Err("NotFound");
        }
        self.messages.remove(&seq);
        Ok(())
    }

    /// Moves the read marker up to `seq` (never back); `Err` (the error
    /// kind) unless `seq` was handed out.
    pub fn mark_read(&mut self, seq: u64) -> Result<(), &'static str> {
        if seq == 0 || seq >= self.next_seq {
            return Err("NotFound");
        }
        self.read_up_to = Some(self.read_up_to.map_or(seq, |r| r.max(seq)));
        Ok(())
    }

    /// A master-key rotation moved this conversation: a new key epoch, and
    /// the external ids of messages it no longer shows (deleted, expired)
    /// are forgotten: their index entries cannot be recomputed
    /// (docs/DESIGN.md).
    pub fn master_rotated(&mut self, now: i64) {
        self.epoch += 1;
        let messages = &self.messages;
        self.refs.retain(|_, seq| messages.get(seq).is_some_and(|msg| msg.live(now)));
    }
}

/// When a message appended now expires: its own expiry or its send time
/// plus the retention, whichever is earlier.
pub fn expiry(own: Option<i64>, sent_at: i64, retention: Option<u64>) -> Option<i64> {
    let by_retention = retention.map(|r| sent_at.saturating_add(i64::try_from(r).unwrap_or(i64::MAX)));
    match (own, by_retention) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The API view of a model message at `seq` of `c`.
pub fn message(c: ConversationId, seq: u64, m: &MMsg) -> Message {
    Message {
        id: MessageId::new(c, seq),
        external_id: m.ext.clone(),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at,
        text: m.text.clone(),
        reply_to: m.reply_to.map(|r| MessageId::new(c, r)),
        edited_at_ms: m.edited_at,
        extra: m.extra.clone(),
        expires_at_ms: m.expires,
    }
}

/// The whole model.
#[derive(Debug, Default)]
pub struct Model {
    /// Every conversation ever created, in order; deleted ones are `None`.
    pub convs: Vec<(ConversationId, Option<MConv>)>,
    /// The last activity stamp handed out.
    pub activity: u64,
    /// The store clock.
    pub now: i64,
    /// A master-key rotation under way: the last conversation it moved (0
    /// for none yet).
    pub rotated_through: Option<u64>,
    /// A master-key rotation ran: epochs are no longer counted exactly.
    pub master_rotated: bool,
}

impl Model {
    /// The index of conversation number `i` (wrapping), if any exist.
    pub fn pick(&self, i: u8) -> Option<usize> {
        (!self.convs.is_empty()).then(|| usize::from(i) % self.convs.len())
    }

    pub fn live(&self) -> impl Iterator<Item = (ConversationId, &MConv)> {
        self.convs.iter().filter_map(|(c, m)| m.as_ref().map(|m| (*c, m)))
    }

    /// A master-key rotation moved `moved` more conversations (all that
    /// were left, if `finished`): each starts a new key epoch and forgets
    /// the external ids of messages it no longer shows (deleted, expired):
    /// their index entries cannot be recomputed (docs/DESIGN.md).
    pub fn rotate_master(&mut self, moved: u64, finished: bool) -> Result<(), String> {
        let from = self.rotated_through.unwrap_or(0);
        let now = self.now;
        let mut left = moved;
        let mut last = from;
        for (c, m) in self.convs.iter_mut().filter(|(c, m)| m.is_some() && c.get() > from) {
            if left == 0 && !finished {
                break;
            }
            let Some(m) = m else { continue };
            m.master_rotated(now);
            last = c.get();
            left = left.saturating_sub(1);
        }
        if left > 0 && !finished {
            return Err(format!("the rotation moved {moved} conversations, more than were left"));
        }
        self.rotated_through = if finished { None } else { Some(last) };
        self.master_rotated = true;
        Ok(())
    }

    /// A new activity stamp, later than every earlier one.
    pub fn stamp(&mut self) -> u64 {
        self.activity += 1;
        self.activity
    }

    /// The live conversation with external id `ext`.
    pub fn find(&self, ext: &str) -> Option<ConversationId> {
        self.live().find(|(_, m)| m.ext.as_deref() == Some(ext)).map(|(c, _)| c)
    }

    /// The conversation list: most recent activity first (then higher id).
    pub fn list(&self) -> Vec<(ConversationId, &MConv)> {
        let mut live: Vec<_> = self.live().collect();
        live.sort_by_key(|(c, m)| std::cmp::Reverse((m.activity, *c)));
        live
    }
}
