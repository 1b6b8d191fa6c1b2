//! Applies operations to the store and the model, and compares.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::model::{MConv, Model, message};
use super::{Msg, Op, Outcome, PageKind, Text};
use chatvault::__fuzz::{START_MS, ensure, kind, options, set_index_direct_max};
use chatvault::archive::inspect;
use chatvault::{
    CompactOptions, ConversationId, ConversationUpdate, Error, ExportOptions, ImportOptions, Message,
    MessageId, NewConversation, NewMessage, Page, RotateOptions, Store, StoreKey,
};

const SENDERS: [&str; 4] = ["", "alice", "鲍勃", "carol 🙂"];
const TEXTS: [&str; 6] =
    ["hi", "bonjour ça va", "你好世界", "🙂🎉", "", "a longer message with some words in it"];
/// External ids of conversations: `c0`..`c5`.
const CONVERSATION_IDS: u8 = 6;
/// External ids of messages: `m0`..`m7`.
const MESSAGE_IDS: u8 = 8;
const ARCHIVE_KEY: [u8; 32] = [0x77; 32];
/// The store key byte the harness starts with (the key is 32 copies).
const FIRST_KEY: u8 = 0x3C;

pub(super) struct Harness {
    dir: PathBuf,
    path: PathBuf,
    clock: Arc<AtomicI64>,
    store: Option<Store>,
    key: u8,
    /// Keys the store had since it was last opened: opening with them must fail.
    retired_keys: Vec<u8>,
    model: Model,
    outcome: Outcome,
    /// Every write loads and caches the external-id index state (no direct
    /// mode), so that runs with small batches cover both modes.
    cached_index: bool,
}

/// Removes a store's files, if there are any.
fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn text(t: &Text) -> String {
    match t {
        Text::Table(i) => TEXTS[usize::from(*i) % TEXTS.len()].to_owned(),
        Text::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn names(n: u8) -> Vec<String> {
    (0..n % 3).map(|i| SENDERS[usize::from(i + 1) % SENDERS.len()].to_owned()).collect()
}

/// `Err` unless `r` failed with an error of kind `want`.
fn refused<T: Debug>(r: Result<T, Error>, want: &str) -> Result<(), String> {
    match r {
        Err(e) if kind(&e) == want => Ok(()),
        other => Err(format!("expected {want}, got {:?}", other.map_err(|e| e.to_string()))),
    }
}

/// The value of `r`, or `Err` saying what failed.
fn ok<T>(r: Result<T, Error>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

impl Harness {
    pub(super) fn new(dir: &Path, cached_index: bool) -> Result<Self, String> {
        let path = dir.join("ops.chatvault");
        remove_store(&path);
        let clock = Arc::new(AtomicI64::new(START_MS));
        let store = Store::create_with(&path, StoreKey::raw([FIRST_KEY; 32]), options(&clock))
            .map_err(|e| format!("cannot create the store: {e}"))?;
        if cached_index {
            set_index_direct_max(&store, 0);
        }
        Ok(Harness {
            dir: dir.to_path_buf(),
            path,
            clock,
            store: Some(store),
            key: FIRST_KEY,
            retired_keys: Vec::new(),
            model: Model { now: START_MS, ..Model::default() },
            outcome: Outcome::default(),
            cached_index,
        })
    }

    fn store(&self) -> Result<&Store, String> {
        self.store.as_ref().ok_or_else(|| "the store is closed".to_owned())
    }

    /// The last full check, then closes the store and removes its files.
    pub(super) fn finish(mut self) -> Result<Outcome, String> {
        self.check_all()?;
        self.outcome.messages = self.model.live().map(|(_, m)| m.live(self.model.now).count()).sum();
        if let Some(store) = self.store.take() {
            ok(store.close(), "close")?;
        }
        remove_store(&self.path);
        Ok(self.outcome)
    }

    /// A sequence number of conversation `ci`: any up to one past its end.
    fn seq(&self, ci: usize, msg: u8) -> u64 {
        match &self.model.convs[ci].1 {
            Some(conv) => u64::from(msg) % (conv.next_seq + 1),
            None => u64::from(msg),
        }
    }

    fn new_message(&self, c: ConversationId, m: &Msg) -> NewMessage {
        let sent_at = self.model.now - i64::from(m.age_secs) * 1000;
        NewMessage {
            external_id: m.ext.map(|e| format!("m{}", e % MESSAGE_IDS)),
            sender: SENDERS[usize::from(m.sender) % SENDERS.len()].to_owned(),
            sent_at_ms: sent_at,
            text: text(&m.text),
            reply_to: m.reply.checked_sub(1).map(|r| MessageId::new(c, u64::from(r))),
            extra: vec![m.extra; usize::from(m.extra % 4)],
            expires_at_ms: m.ttl_secs.map(|t| sent_at + i64::from(t) * 1000),
        }
    }

    pub(super) fn apply(&mut self, op: &Op) -> Result<(), String> {
        let now = self.model.now;
        match op {
            Op::Create { ext, title, members, retention_secs, age_days } => {
                let ext = ext.map(|e| format!("c{}", e % CONVERSATION_IDS));
                let created_at = age_days.map(|d| START_MS - i64::from(d) * 86_400_000);
                let new = NewConversation {
                    external_id: ext.clone(),
                    title: text(title),
                    members: names(*members),
                    app_data: Vec::new(),
                    created_at_ms: created_at,
                    retention_ms: retention_secs.map(|s| u64::from(s) * 1000),
                };
                let conv = MConv {
                    ext: ext.clone(),
                    title: new.title.clone(),
                    members: new.members.clone(),
                    created_at: created_at.unwrap_or(now),
                    retention: new.retention_ms,
                    next_seq: 1,
                    ..MConv::default()
                };
                let r = self.store()?.create_conversation(new);
                match ext.as_deref().and_then(|e| self.model.find(e)) {
                    Some(existing) => {
                        ensure(matches!(r, Err(Error::ConversationExists(id)) if id == existing), || {
                            format!("a second conversation with one external id gave {r:?}")
                        })?;
                        self.outcome.refused += 1;
                    }
                    None => {
                        let c = ok(r, "create_conversation")?;
                        // Ids are never reused: one more than every id handed out.
                        let want = ConversationId::from_raw(self.model.convs.len() as u64 + 1);
                        ensure(c == want, || format!("new conversation {c}, expected {want}"))?;
                        let activity = self.model.stamp();
                        self.model.convs.push((c, Some(MConv { activity, ..conv })));
                        self.outcome.succeeded += 1;
                        self.check_conv(self.model.convs.len() - 1)?;
                    }
                }
            }
            Op::Append { conv, msg } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let c = self.model.convs[ci].0;
                let m = self.new_message(c, msg);
                let r = self.store()?.append(c, m.clone());
                let Some(conv) = &self.model.convs[ci].1 else {
                    self.outcome.refused += 1;
                    return refused(r, "NotFound");
                };
                let mut next = conv.clone();
                match next.append(c, &[&m]) {
                    Ok((ids, fresh)) => {
                        let id = ok(r, "append")?;
                        ensure(Some(&id) == ids.first(), || format!("append gave {id}, expected {ids:?}"))?;
                        if fresh {
                            next.activity = self.model.stamp();
                        }
                        self.model.convs[ci].1 = Some(next);
                        self.outcome.succeeded += 1;
                    }
                    Err(want) => {
                        refused(r, want)?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::Batch { items } => self.batch(items)?,
            Op::Edit { conv, msg, text: t } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let (c, seq) = (self.model.convs[ci].0, self.seq(ci, *msg));
                let new_text = text(t);
                let r = self.store()?.edit_message(MessageId::new(c, seq), &new_text);
                match self.model.convs[ci]
                    .1
                    .as_mut()
                    .ok_or("NotFound")
                    .and_then(|m| m.edit(seq, new_text, now))
                {
                    Ok(()) => {
                        ok(r, "edit_message")?;
                        self.outcome.succeeded += 1;
                    }
                    Err(want) => {
                        refused(r, want)?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::DeleteMessage { conv, msg } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let (c, seq) = (self.model.convs[ci].0, self.seq(ci, *msg));
                let r = self.store()?.delete_message(MessageId::new(c, seq));
                match self.model.convs[ci].1.as_mut().ok_or("NotFound").and_then(|m| m.delete(seq, now)) {
                    Ok(()) => {
                        ok(r, "delete_message")?;
                        self.outcome.succeeded += 1;
                    }
                    Err(want) => {
                        refused(r, want)?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::DeleteConversation { conv } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let r = self.store()?.delete_conversation(self.model.convs[ci].0);
                match self.model.convs[ci].1.take() {
                    Some(_) => {
                        ok(r, "delete_conversation")?;
                        self.outcome.succeeded += 1;
                    }
                    None => {
                        refused(r, "NotFound")?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::MarkRead { conv, msg } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let (c, seq) = (self.model.convs[ci].0, self.seq(ci, *msg));
                let r = self.store()?.mark_read(c, MessageId::new(c, seq));
                match self.model.convs[ci].1.as_mut().ok_or("NotFound").and_then(|m| m.mark_read(seq)) {
                    Ok(()) => {
                        ok(r, "mark_read")?;
                        self.outcome.succeeded += 1;
                    }
                    Err(want) => {
                        refused(r, want)?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::Read { conv, page, anchor, limit } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let c = self.model.convs[ci].0;
                let anchor = if *anchor == u8::MAX { u64::MAX } else { self.seq(ci, *anchor) };
                let limit = usize::from(*limit % 21);
                let a = MessageId::new(c, anchor);
                let request = match page {
                    PageKind::Latest => Page::latest(limit),
                    PageKind::Oldest => Page::oldest(limit),
                    PageKind::Before => Page::before(a, limit),
                    PageKind::After => Page::after(a, limit),
                };
                let r = self.store()?.messages(c, request);
                let Some(conv) = &self.model.convs[ci].1 else {
                    self.outcome.refused += 1;
                    return refused(r, "NotFound");
                };
                let all = conv.messages(c, now);
                let want: Vec<Message> = match page {
                    PageKind::Latest => all[all.len().saturating_sub(limit)..].to_vec(),
                    PageKind::Oldest => all.into_iter().take(limit).collect(),
                    PageKind::Before => {
                        let before: Vec<Message> = all.into_iter().filter(|m| m.id.seq() < anchor).collect();
                        before[before.len().saturating_sub(limit)..].to_vec()
                    }
                    PageKind::After => all.into_iter().filter(|m| m.id.seq() > anchor).take(limit).collect(),
                };
                let got = ok(r, "a page")?;
                ensure(got == want, || format!("page {:?}, expected {:?}", ids(&got), ids(&want)))?;
                self.outcome.succeeded += 1;
            }
            Op::Get { conv, msg } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let (c, seq) = (self.model.convs[ci].0, self.seq(ci, *msg));
                let r = self.store()?.message(MessageId::new(c, seq));
                let found = self.model.convs[ci].1.as_ref().and_then(|m| m.messages.get(&seq));
                match found.filter(|m| m.live(now)) {
                    Some(m) => {
                        let got = ok(r, "message")?;
                        let want = message(c, seq, m);
                        ensure(got == want, || format!("message {got:?}, expected {want:?}"))?;
                        self.outcome.succeeded += 1;
                    }
                    None => {
                        refused(r, "NotFound")?;
                        self.outcome.refused += 1;
                    }
                }
            }
            Op::Update { conv, title, members, app_data, retention } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let update = ConversationUpdate {
                    title: title.as_ref().map(text),
                    members: members.map(names),
                    app_data: app_data.map(|v| vec![v; usize::from(v % 5)]),
                    retention_ms: match retention {
                        0 => None,
                        1 => Some(None),
                        n => Some(Some(u64::from(n - 2) * 1000)),
                    },
                };
                let r = self.store()?.update_conversation(self.model.convs[ci].0, update.clone());
                match self.model.convs[ci].1.as_mut() {
                    Some(m) => {
                        ok(r, "update_conversation")?;
                        if let Some(t) = update.title {
                            m.title = t;
                        }
                        if let Some(v) = update.members {
                            m.members = v;
                        }
                        if let Some(v) = update.app_data {
                            m.app_data = v;
                        }
                        if let Some(v) = update.retention_ms {
                            m.retention = v;
                        }
                        self.outcome.succeeded += 1;
                    }
                    None => {
                        refused(r, "NotFound")?;
                        self.outcome.refused += 1;
                    }
                }
                self.check_conv(ci)?;
            }
            Op::Advance { secs } => {
                let ms = i64::from(*secs) * 1000;
                self.clock.fetch_add(ms, Ordering::SeqCst);
                self.model.now += ms;
            }
            Op::Compact { target, budget } => self.compact(*target, *budget)?,
            Op::Rotate { conv } => {
                let Some(ci) = self.model.pick(*conv) else { return Ok(()) };
                let r = self.store()?.rotate_conversation_key(self.model.convs[ci].0);
                match self.model.convs[ci].1.as_mut() {
                    Some(m) => {
                        let epoch = ok(r, "rotate_conversation_key")?;
                        // Once a master-key rotation ran, writes during it
                        // may have started epochs the model does not count
                        // (docs/DESIGN.md): then only "later" is checked.
                        let want = m.epoch + 1;
                        let exact = !self.model.master_rotated;
                        ensure(
                            epoch.get() == want || (!exact && epoch.get() > want.saturating_sub(2)),
                            || format!("rotated to epoch {epoch}, not {want}"),
                        )?;
                        m.epoch = epoch.get();
                        self.outcome.succeeded += 1;
                    }
                    None => {
                        refused(r, "NotFound")?;
                        self.outcome.refused += 1;
                    }
                }
            }
            Op::RotateAll => {
                let n = ok(self.store()?.rotate_all_keys(), "rotate_all_keys")?;
                let live = self.model.live().count() as u64;
                ensure(n == live, || format!("rotated {n} conversations of {live}"))?;
                for (_, m) in &mut self.model.convs {
                    if let Some(m) = m {
                        m.epoch += 1;
                    }
                }
                self.outcome.succeeded += 1;
                self.check_all()?;
            }
            Op::Reopen { close } => self.reopen(*close)?,
            Op::ChangeKey { key } => {
                let r = self.store()?.change_key(StoreKey::raw([*key; 32]));
                if self.model.rotated_through.is_some() {
                    // Refused while a master-key rotation is under way.
                    self.outcome.refused += 1;
                    return refused(r, "InvalidArgument");
                }
                ok(r, "change_key")?;
                if *key != self.key {
                    self.retired_keys.push(self.key);
                    self.key = *key;
                }
                self.outcome.succeeded += 1;
            }
            Op::RotateMaster { key, budget } => {
                let mut options = RotateOptions::default();
                if let Some(b) = budget {
                    options = options.transaction_budget(1 + u64::from(b % 3));
                }
                // A rotation under way is resumed with the store's key (its
                // first transaction made the new key the store's key);
                // otherwise the first transaction does that now.
                let pending = self.model.rotated_through.is_some();
                let key = if pending { self.key } else { *key };
                let r = self.store()?.rotate_master_key_with(StoreKey::raw([key; 32]), &options);
                let report = ok(r, "rotate_master_key")?;
                if budget.is_none() {
                    ensure(report.finished, || "an unbounded rotation did not finish".into())?;
                }
                ensure(report.conversations_damaged.is_empty(), || format!("damage reported: {report:?}"))?;
                self.model.rotate_master(report.conversations, report.finished)?;
                if key != self.key {
                    self.retired_keys.push(self.key);
                    self.key = key;
                }
                if report.finished {
                    self.outcome.master_rotations.0 += 1;
                } else {
                    self.outcome.master_rotations.1 += 1;
                }
                self.outcome.succeeded += 1;
                self.check_all()?;
            }
            Op::SelfImport => self.self_import()?,
            Op::ExportFresh => self.export_fresh()?,
            Op::List { limit } => self.check_list(limit.map(|l| usize::from(l % 5)))?,
            Op::Find { ext } => {
                let ext = format!("c{}", ext % CONVERSATION_IDS);
                let got = ok(self.store()?.find_conversation(&ext), "find_conversation")?;
                let want = self.model.find(&ext);
                ensure(got == want, || format!("find {ext} gave {got:?}, expected {want:?}"))?;
            }
            Op::Verify => self.verify()?,
            Op::EditMany { items } => {
                let items: Vec<(usize, u64, String)> = items
                    .iter()
                    .filter_map(|(conv, msg, t)| {
                        let ci = self.model.pick(*conv)?;
                        Some((ci, self.seq(ci, *msg), text(t)))
                    })
                    .collect();
                let edits: Vec<(MessageId, &str)> = items
                    .iter()
                    .map(|(ci, seq, t)| (MessageId::new(self.model.convs[*ci].0, *seq), t.as_str()))
                    .collect();
                let r = self.store()?.edit_messages(&edits);
                let mut seen = std::collections::BTreeSet::new();
                let want = if edits.iter().all(|(m, _)| seen.insert(*m)) {
                    self.rewrite_many(items.iter().map(|(ci, seq, t)| (*ci, *seq, Some(t.clone()))), now)
                } else {
                    Err("InvalidArgument")
                };
                self.rewrote_many(r, want, "edit_messages", items.iter().map(|(ci, ..)| *ci))?;
            }
            Op::DeleteMany { items } => {
                let items: Vec<(usize, u64)> = items
                    .iter()
                    .filter_map(|(conv, msg)| {
                        let ci = self.model.pick(*conv)?;
                        Some((ci, self.seq(ci, *msg)))
                    })
                    .collect();
                let ids: Vec<MessageId> =
                    items.iter().map(|(ci, seq)| MessageId::new(self.model.convs[*ci].0, *seq)).collect();
                let r = self.store()?.delete_messages(&ids);
                // A message named twice is deleted once.
                let unique: std::collections::BTreeSet<(usize, u64)> = items.iter().copied().collect();
                let want = self.rewrite_many(unique.into_iter().map(|(ci, seq)| (ci, seq, None)), now);
                self.rewrote_many(r, want, "delete_messages", items.iter().map(|(ci, _)| *ci))?;
            }
        }
        Ok(())
    }

    /// Applies edits (`Some` text) and deletes (`None`) to the model, all
    /// or nothing: the conversations as they would be, or the error kind
    /// the first failing one gives.
    fn rewrite_many(
        &self,
        items: impl Iterator<Item = (usize, u64, Option<String>)>,
        now: i64,
    ) -> Result<Vec<(usize, MConv)>, &'static str> {
        let mut staged: Vec<(usize, MConv)> = Vec::new();
        for (ci, seq, change) in items {
            let i = match staged.iter().position(|(s, _)| *s == ci) {
                Some(i) => i,
                None => {
                    let conv = self.model.convs[ci].1.clone().ok_or("NotFound")?;
                    staged.push((ci, conv));
                    staged.len() - 1
                }
            };
            let conv = &mut staged[i].1;
            match change {
                Some(text) => conv.edit(seq, text, now)?,
                None => conv.delete(seq, now)?,
            }
        }
        Ok(staged)
    }

    /// Checks a batch edit or delete against the model's answer, and
    /// keeps the model's changes if it succeeded.
    fn rewrote_many(
        &mut self,
        r: Result<(), Error>,
        want: Result<Vec<(usize, MConv)>, &'static str>,
        what: &str,
        touched: impl Iterator<Item = usize>,
    ) -> Result<(), String> {
        match want {
            Ok(staged) => {
                ok(r, what)?;
                for (ci, conv) in staged {
                    self.model.convs[ci].1 = Some(conv);
                }
                self.outcome.succeeded += 1;
            }
            Err(want) => {
                refused(r, want)?;
                self.outcome.refused += 1;
            }
        }
        for ci in touched.collect::<std::collections::BTreeSet<_>>() {
            self.check_conv(ci)?;
        }
        Ok(())
    }

    fn batch(&mut self, items: &[(u8, Msg)]) -> Result<(), String> {
        let items: Vec<(usize, NewMessage)> = items
            .iter()
            .filter_map(|(conv, msg)| {
                let ci = self.model.pick(*conv)?;
                Some((ci, self.new_message(self.model.convs[ci].0, msg)))
            })
            .collect();
        let batch: Vec<(ConversationId, NewMessage)> =
            items.iter().map(|(ci, m)| (self.model.convs[*ci].0, m.clone())).collect();
        let r = self.store()?.append_batch(&batch);

        // Conversations in order of first appearance, each all or nothing,
        // the first error failing the whole batch.
        let mut order: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, (ci, _)) in items.iter().enumerate() {
            match order.iter_mut().find(|(o, _)| o == ci) {
                Some((_, idx)) => idx.push(i),
                None => order.push((*ci, vec![i])),
            }
        }
        let mut ids = vec![MessageId::new(ConversationId::from_raw(0), 0); items.len()];
        let mut staged: Vec<(usize, MConv, bool)> = Vec::new();
        for (ci, idx) in &order {
            let (c, conv) = &self.model.convs[*ci];
            let Some(conv) = conv else {
                self.outcome.refused += 1;
                return refused(r, "NotFound");
            };
            let mut next = conv.clone();
            let msgs: Vec<&NewMessage> = idx.iter().map(|&i| &items[i].1).collect();
            match next.append(*c, &msgs) {
                Ok((got, fresh)) => {
                    for (&i, id) in idx.iter().zip(got) {
                        ids[i] = id;
                    }
                    staged.push((*ci, next, fresh));
                }
                Err(want) => {
                    self.outcome.refused += 1;
                    refused(r, want)?;
                    // Nothing of the batch was stored.
                    for (ci, _) in &order {
                        self.check_conv(*ci)?;
                    }
                    return Ok(());
                }
            }
        }
        let got = ok(r, "append_batch")?;
        ensure(got == ids, || format!("append_batch gave {got:?}, expected {ids:?}"))?;
        for (ci, mut next, fresh) in staged {
            if fresh {
                next.activity = self.model.stamp();
            }
            self.model.convs[ci].1 = Some(next);
            self.check_conv(ci)?;
        }
        self.outcome.succeeded += 1;
        Ok(())
    }

    fn compact(&mut self, target: u8, budget: Option<u8>) -> Result<(), String> {
        let mut options = CompactOptions::default().targets(1 + usize::from(target % 6), 1 << 20);
        if let Some(b) = budget {
            options = options.segment_budget(1 + u64::from(b % 4));
        }
        let report = ok(self.store()?.compact(&options), "compact")?;
        ensure(report.conversations_skipped.is_empty(), || format!("compaction skipped {report:?}"))?;
        if budget.is_none() {
            ensure(!report.work_remains, || "an unbounded compaction left work".into())?;
            let again = ok(self.store()?.compact(&options), "a second compact")?;
            ensure(again.segments_rewritten == 0, || format!("a finished compaction had more: {again:?}"))?;
            let stats = ok(self.store()?.stats(), "stats")?;
            ensure(stats.segments_uncompacted == 0 && stats.segments_with_expired == 0, || {
                format!("compaction left work: {stats:?}")
            })?;
            // While a master-key rotation is under way compaction destroys
            // no key (the rotation finds conversations by them); after it,
            // every key but the current epoch's.
            let under_way = self.model.rotated_through.is_some();
            ensure(under_way || stats.epochs.iter().all(|e| e.keys == e.current_for), || {
                format!("old keys survived compaction: {:?}", stats.epochs)
            })?;
        }
        self.outcome.compactions += 1;
        self.outcome.succeeded += 1;
        self.check_all()
    }

    fn reopen(&mut self, close: bool) -> Result<(), String> {
        if let Some(store) = self.store.take() {
            if close {
                ok(store.close(), "close")?;
            } else {
                drop(store);
            }
        }
        for &old in self.retired_keys.iter().filter(|&&k| k != self.key) {
            let r = Store::open_with(&self.path, StoreKey::raw([old; 32]), options(&self.clock));
            refused(r, "WrongKey").map_err(|e| format!("opening with a replaced key: {e}"))?;
        }
        self.retired_keys.clear();
        let store =
            ok(Store::open_with(&self.path, StoreKey::raw([self.key; 32]), options(&self.clock)), "reopen")?;
        if self.cached_index {
            set_index_direct_max(&store, 0);
        }
        self.store = Some(store);
        self.outcome.reopens += 1;
        self.check_all()
    }

    /// Exports the whole store, checking the report against the model.
    fn export(&self) -> Result<(Vec<u8>, u64), String> {
        let mut archive = Vec::new();
        let report = ok(self.store()?.export(&mut archive, &ExportOptions::raw_key(ARCHIVE_KEY)), "export")?;
        let now = self.model.now;
        let live = self.model.live().count() as u64;
        let messages: u64 = self.model.live().map(|(_, m)| m.live(now).count() as u64).sum();
        ensure(report.conversations == live && report.messages == messages, || {
            format!("exported {report:?}, expected {live} conversations and {messages} messages")
        })?;
        let summary = ok(inspect(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)), "inspect")?;
        ensure(summary.messages == messages && summary.conversations.len() as u64 == live, || {
            format!(
                "the archive holds {} messages in {} conversations",
                summary.messages,
                summary.conversations.len()
            )
        })?;
        Ok((archive, messages))
    }

    /// Everything matches what the store holds: the import adds nothing.
    fn self_import(&mut self) -> Result<(), String> {
        let (archive, messages) = self.export()?;
        let report = ok(self.store()?.import(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)), "import")?;
        let live = self.model.live().count() as u64;
        ensure(
            report.conversations_created == 0
                && report.messages_added == 0
                && report.conversations_matched == live
                && report.messages_skipped == messages,
            || format!("importing the store into itself changed it: {report:?}"),
        )?;
        self.outcome.imports += 1;
        self.outcome.succeeded += 1;
        self.check_all()
    }

    /// A new store gets the same conversations and messages: replies to
    /// messages the archive lacks point nowhere, and read markers land on
    /// the last message at or before them.
    fn export_fresh(&mut self) -> Result<(), String> {
        let (archive, messages) = self.export()?;
        let path = self.dir.join("fresh.chatvault");
        remove_store(&path);
        let fresh = Store::create_with(&path, StoreKey::raw([0x55; 32]), options(&self.clock));
        let fresh = ok(fresh, "creating a second store")?;
        let result = self.compare_fresh(&fresh, &archive, messages);
        let closed = fresh.close();
        remove_store(&path);
        result?;
        ok(closed, "closing the second store")?;
        self.outcome.imports += 1;
        self.outcome.succeeded += 1;
        Ok(())
    }

    fn compare_fresh(&self, fresh: &Store, archive: &[u8], messages: u64) -> Result<(), String> {
        let now = self.model.now;
        let report =
            ok(fresh.import(archive, &ImportOptions::raw_key(ARCHIVE_KEY)), "import into a new store")?;
        let live: Vec<(ConversationId, &MConv)> = self.model.live().collect();
        ensure(
            report.conversations_created == live.len() as u64 && report.messages_added == messages,
            || format!("import into a new store: {report:?}"),
        )?;
        let mut list = ok(fresh.conversations(), "the new store's list")?;
        list.sort_by_key(|s| s.conversation.id);
        ensure(list.len() == live.len(), || format!("{} conversations, not {}", list.len(), live.len()))?;
        // Created in archive order, which is id order.
        for (line, (_, m)) in list.iter().zip(&live) {
            let c = line.conversation.id;
            let landed = m.read_up_to.and_then(|r| m.live(now).map(|(s, _)| s).rfind(|&s| s <= r));
            let mut want = m.conversation(c, now);
            want.read_up_to = landed.map(|s| MessageId::new(c, s));
            ensure(line.conversation == want, || {
                format!("imported {:?}, expected {want:?}", line.conversation)
            })?;
            let got = ok(fresh.messages(c, Page::latest(usize::MAX)), "a page of the new store")?;
            let want: Vec<Message> = m
                .live(now)
                .map(|(seq, msg)| {
                    let mut msg = msg.clone();
                    msg.reply_to = msg.reply_to.filter(|r| m.messages.get(r).is_some_and(|t| t.live(now)));
                    message(c, seq, &msg)
                })
                .collect();
            ensure(got == want, || format!("imported messages {:?}, expected {:?}", got, want))?;
        }
        let verify = ok(fresh.verify(), "verify of the new store")?;
        ensure(verify.is_ok(), || format!("the new store fails verify: {:?}", verify.problems))
    }

    /// A conversation reads as the model has it (or is gone).
    fn check_conv(&self, ci: usize) -> Result<(), String> {
        let now = self.model.now;
        let (c, conv) = &self.model.convs[ci];
        let store = self.store()?;
        let Some(conv) = conv else {
            return refused(store.conversation(*c), "NotFound");
        };
        let got = ok(store.conversation(*c), "conversation")?;
        let want = conv.conversation(*c, now);
        ensure(got == want, || format!("conversation {got:?}, expected {want:?}"))?;
        let got = ok(store.messages(*c, Page::latest(usize::MAX)), "a page")?;
        let want = conv.messages(*c, now);
        ensure(got == want, || format!("messages {got:?}, expected {want:?}"))
    }

    /// The conversation list (or its first `limit` lines) as the model has it.
    fn check_list(&self, limit: Option<usize>) -> Result<(), String> {
        let now = self.model.now;
        let store = self.store()?;
        let got = match limit {
            Some(l) => ok(store.recent_conversations(l), "recent_conversations")?,
            None => ok(store.conversations(), "conversations")?,
        };
        let mut want = self.model.list();
        want.truncate(limit.unwrap_or(usize::MAX));
        let order: Vec<ConversationId> = want.iter().map(|(c, _)| *c).collect();
        let got_order: Vec<ConversationId> = got.iter().map(|s| s.conversation.id).collect();
        ensure(got_order == order, || format!("list order {got_order:?}, expected {order:?}"))?;
        for (line, (c, m)) in got.iter().zip(&want) {
            ensure(line.conversation == m.conversation(*c, now), || {
                format!("list line {:?}", line.conversation)
            })?;
            ensure(line.unread_count == m.unread(now), || {
                format!("unread {} in {c}, expected {}", line.unread_count, m.unread(now))
            })?;
            let last = m.live(now).next_back().map(|(s, msg)| message(*c, s, msg));
            ensure(line.last_message == last, || format!("last message of {c}: {:?}", line.last_message))?;
        }
        Ok(())
    }

    fn verify(&self) -> Result<(), String> {
        let report = ok(self.store()?.verify(), "verify")?;
        ensure(report.is_ok(), || format!("verify found {:?}", report.problems))
    }

    /// Everything: each conversation, the list, every external id, `verify`.
    fn check_all(&self) -> Result<(), String> {
        for ci in 0..self.model.convs.len() {
            self.check_conv(ci)?;
        }
        self.check_list(None)?;
        for e in 0..CONVERSATION_IDS {
            let ext = format!("c{e}");
            let got = ok(self.store()?.find_conversation(&ext), "find_conversation")?;
            ensure(got == self.model.find(&ext), || format!("find {ext} gave {got:?}"))?;
        }
        self.verify()
    }
}

/// The ids of a page, for messages.
fn ids(page: &[Message]) -> Vec<MessageId> {
    page.iter().map(|m| m.id).collect()
}
