//! A property test: random sequences of operations run against the store and
//! against a plain in-memory model, with every read compared after each step,
//! and reopens, expiry (a clock the test moves), key rotations and
//! compaction (with small targets and budgets, so it often stops midway)
//! interleaved at random points.

mod common;

use std::collections::{BTreeMap, HashMap};

use chatvault::{
    CompactOptions, ConversationId, ConversationUpdate, Error, MessageId, NewConversation, NewMessage, Page,
};
use common::TestStore;
use proptest::prelude::*;

const TEXTS: &[&str] =
    &["hi", "bonjour ça va", "你好世界", "🙂🎉", "", "a longer message with some words in it"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        ext: Option<u8>,
    },
    Append {
        conv: usize,
        ext: Option<u8>,
        text: usize,
        ttl: Option<u8>,
    },
    Batch {
        items: Vec<(usize, Option<u8>, usize)>,
    },
    SetRetention {
        conv: usize,
        ttl: Option<u8>,
    },
    Advance {
        secs: u8,
    },
    Compact {
        target: usize,
        budget: Option<u8>,
    },
    RotateAll,
    Edit {
        conv: usize,
        msg: usize,
        text: usize,
    },
    Delete {
        conv: usize,
        msg: usize,
    },
    DeleteConversation {
        conv: usize,
    },
    MarkRead {
        conv: usize,
        msg: usize,
    },
    Rotate {
        conv: usize,
    },
    Reopen,
    /// Export the whole store and import the archive into the store itself:
    /// every conversation and message matches, so nothing may change.
    SelfImport,
}

fn op() -> impl Strategy<Value = Op> {
    let ext = proptest::option::of(0u8..6);
    let text = 0..TEXTS.len();
    prop_oneof![
        2 => ext.clone().prop_map(|ext| Op::Create { ext }),
        6 => (any::<usize>(), ext.clone(), text.clone(), proptest::option::weighted(0.2, 1u8..20))
            .prop_map(|(conv, ext, text, ttl)| Op::Append { conv, ext, text, ttl }),
        3 => proptest::collection::vec((any::<usize>(), ext, text.clone()), 0..12).prop_map(|items| Op::Batch { items }),
        2 => (any::<usize>(), any::<usize>(), text).prop_map(|(conv, msg, text)| Op::Edit { conv, msg, text }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(conv, msg)| Op::Delete { conv, msg }),
        1 => any::<usize>().prop_map(|conv| Op::DeleteConversation { conv }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(conv, msg)| Op::MarkRead { conv, msg }),
        1 => any::<usize>().prop_map(|conv| Op::Rotate { conv }),
        1 => Just(Op::Reopen),
        1 => (any::<usize>(), proptest::option::of(1u8..20)).prop_map(|(conv, ttl)| Op::SetRetention { conv, ttl }),
        1 => (0u8..15).prop_map(|secs| Op::Advance { secs }),
        2 => (1usize..5, proptest::option::of(1u8..4)).prop_map(|(target, budget)| Op::Compact { target, budget }),
        1 => Just(Op::RotateAll),
        1 => Just(Op::SelfImport),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct ModelMsg {
    text: String,
    ext: Option<String>,
    edited: bool,
    expires: Option<i64>,
}

impl ModelMsg {
    fn live(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

#[derive(Debug, Default)]
struct ModelConv {
    ext: Option<String>,
    messages: BTreeMap<u64, ModelMsg>,
    refs: HashMap<String, u64>,
    next_seq: u64,
    read_up_to: Option<u64>,
    activity: u64,
    retention_ms: Option<u64>,
}

impl ModelConv {
    /// The messages reads see at `now`.
    fn live(&self, now: i64) -> impl DoubleEndedIterator<Item = (&u64, &ModelMsg)> {
        self.messages.iter().filter(move |(_, m)| m.live(now))
    }
}

#[derive(Default)]
struct Model {
    /// Every conversation ever created, in order; deleted ones stay as `None`.
    convs: Vec<(ConversationId, Option<ModelConv>)>,
    clock: u64,
    /// The store clock, in milliseconds.
    now: i64,
}

impl Model {
    fn pick(&self, i: usize) -> Option<usize> {
        (!self.convs.is_empty()).then(|| i % self.convs.len())
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Applies the appends of one conversation, as the store does: dedup by
    /// external id, then new sequence numbers. Returns the expected ids.
    fn append(&mut self, ci: usize, items: &[(Option<u8>, usize, Option<u8>)]) -> Option<Vec<u64>> {
        let stamp = self.clock + 1;
        let now = self.now;
        let conv = self.convs[ci].1.as_mut()?;
        let mut seqs = Vec::new();
        let mut fresh = false;
        for (ext, text, ttl) in items {
            let ext = ext.map(|e| format!("m{e}"));
            if let Some(e) = &ext
                && let Some(&seq) = conv.refs.get(e)
            {
                seqs.push(seq);
                continue;
            }
            let seq = conv.next_seq;
            conv.next_seq += 1;
            if let Some(e) = &ext {
                conv.refs.insert(e.clone(), seq);
            }
            let own = ttl.map(|t| now + i64::from(t) * 1000);
            let by_retention = conv.retention_ms.map(|r| now + r as i64);
            let expires = [own, by_retention].into_iter().flatten().min();
            conv.messages.insert(seq, ModelMsg { text: TEXTS[*text].into(), ext, edited: false, expires });
            seqs.push(seq);
            fresh = true;
        }
        if fresh {
            conv.activity = stamp;
            self.clock = stamp;
        }
        Some(seqs)
    }
}

/// A message sent at `now`, expiring `ttl` seconds later if given.
fn new_message(ext: Option<u8>, text: usize, now: i64, ttl: Option<u8>) -> NewMessage {
    NewMessage {
        external_id: ext.map(|e| format!("m{e}")),
        sender: "s".into(),
        sent_at_ms: now,
        text: TEXTS[text].into(),
        expires_at_ms: ttl.map(|t| now + i64::from(t) * 1000),
        ..Default::default()
    }
}

fn nth_message(conv: &ModelConv, i: usize) -> Option<u64> {
    // Usually a live message; sometimes one past the end or a deleted one.
    if conv.next_seq <= 1 {
        return None;
    }
    Some(1 + (i as u64 % (conv.next_seq - 1 + 1)))
}

fn check(t: &TestStore, model: &Model) {
    for (c, conv) in &model.convs {
        let Some(conv) = conv else {
            assert!(matches!(t.conversation(*c), Err(Error::NotFound(_))));
            continue;
        };
        let all = t.messages(*c, Page::latest(10_000)).unwrap();
        let got: Vec<(u64, ModelMsg)> = all
            .iter()
            .map(|m| {
                (
                    m.id.seq(),
                    ModelMsg {
                        text: m.text.clone(),
                        ext: m.external_id.clone(),
                        edited: m.edited_at_ms.is_some(),
                        expires: m.expires_at_ms,
                    },
                )
            })
            .collect();
        let want: Vec<(u64, ModelMsg)> = conv.live(model.now).map(|(s, m)| (*s, m.clone())).collect();
        assert_eq!(got, want);
        // Paging 3 at a time, both ways, gives the same messages.
        let mut back = Vec::new();
        let mut page = t.messages(*c, Page::latest(3)).unwrap();
        while let Some(first) = page.first().map(|m| m.id) {
            back.splice(0..0, page);
            page = t.messages(*c, Page::before(first, 3)).unwrap();
        }
        assert_eq!(back, all);
        let mut fwd = Vec::new();
        let mut page = t.messages(*c, Page::oldest(3)).unwrap();
        while let Some(last) = page.last().map(|m| m.id) {
            fwd.extend(page);
            page = t.messages(*c, Page::after(last, 3)).unwrap();
        }
        assert_eq!(fwd, all);

        let info = t.conversation(*c).unwrap();
        assert_eq!(info.message_count, conv.live(model.now).count() as u64);
        assert_eq!(info.retention_ms, conv.retention_ms);
        assert_eq!(info.read_up_to.map(|m| m.seq()), conv.read_up_to);
        assert_eq!(info.external_id, conv.ext);
        if let Some(ext) = &conv.ext {
            assert_eq!(t.find_conversation(ext).unwrap(), Some(*c));
        }
    }
    // The list: live conversations, most recent activity first, with unread
    // counts and last messages.
    let list = t.conversations().unwrap();
    let mut live: Vec<(&ConversationId, &ModelConv)> =
        model.convs.iter().filter_map(|(c, m)| m.as_ref().map(|m| (c, m))).collect();
    live.sort_by_key(|(c, m)| std::cmp::Reverse((m.activity, **c)));
    assert_eq!(
        list.iter().map(|s| s.conversation.id).collect::<Vec<_>>(),
        live.iter().map(|(c, _)| **c).collect::<Vec<_>>()
    );
    for (s, (_, m)) in list.iter().zip(&live) {
        let unread = m.live(model.now).filter(|&(&seq, _)| m.read_up_to.is_none_or(|r| seq > r)).count();
        assert_eq!(s.unread_count, unread as u64);
        assert_eq!(
            s.last_message.as_ref().map(|l| l.id.seq()),
            m.live(model.now).next_back().map(|(s, _)| *s)
        );
    }
}

fn run(ops: Vec<Op>) {
    let mut t = TestStore::new();
    let mut model = Model { now: t.now(), ..Model::default() };
    for op in ops {
        match op {
            Op::Create { ext } => {
                let ext = ext.map(|e| format!("c{e}"));
                let taken = model
                    .convs
                    .iter()
                    .find(|(_, m)| m.as_ref().is_some_and(|m| m.ext.is_some() && m.ext == ext));
                let r =
                    t.create_conversation(NewConversation { external_id: ext.clone(), ..Default::default() });
                match taken {
                    Some((existing, _)) => {
                        assert!(matches!(r, Err(Error::ConversationExists(id)) if id == *existing))
                    }
                    None => {
                        let activity = model.tick();
                        model.convs.push((
                            r.unwrap(),
                            Some(ModelConv { ext, next_seq: 1, activity, ..Default::default() }),
                        ));
                    }
                }
            }
            Op::Append { conv, ext, text, ttl } => {
                let Some(ci) = model.pick(conv) else { continue };
                let c = model.convs[ci].0;
                let r = t.append(c, new_message(ext, text, model.now, ttl));
                match model.append(ci, &[(ext, text, ttl)]) {
                    Some(seqs) => assert_eq!(r.unwrap(), MessageId::new(c, seqs[0])),
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::Batch { items } => {
                let items: Vec<(usize, Option<u8>, usize)> =
                    items.into_iter().filter_map(|(c, e, x)| model.pick(c).map(|ci| (ci, e, x))).collect();
                let batch: Vec<_> = items
                    .iter()
                    .map(|&(ci, e, x)| (model.convs[ci].0, new_message(e, x, model.now, None)))
                    .collect();
                let r = t.append_batch(&batch);
                if items.iter().any(|(ci, _, _)| model.convs[*ci].1.is_none()) {
                    assert!(matches!(r, Err(Error::NotFound(_))));
                    continue;
                }
                let ids = r.unwrap();
                // Conversations in order of first appearance.
                let mut order: Vec<usize> = Vec::new();
                for (ci, _, _) in &items {
                    if !order.contains(ci) {
                        order.push(*ci);
                    }
                }
                let mut expected = vec![0u64; items.len()];
                for ci in order {
                    let idx: Vec<usize> = (0..items.len()).filter(|&i| items[i].0 == ci).collect();
                    let mine: Vec<_> = idx.iter().map(|&i| (items[i].1, items[i].2, None)).collect();
                    for (i, seq) in idx.into_iter().zip(model.append(ci, &mine).unwrap()) {
                        expected[i] = seq;
                    }
                }
                assert_eq!(ids.iter().map(|m| m.seq()).collect::<Vec<_>>(), expected);
            }
            Op::Edit { conv, msg, text } => {
                let Some(ci) = model.pick(conv) else { continue };
                let c = model.convs[ci].0;
                let Some(seq) = model.convs[ci].1.as_ref().and_then(|m| nth_message(m, msg)) else {
                    continue;
                };
                let r = t.edit_message(MessageId::new(c, seq), TEXTS[text]);
                let now = model.now;
                match model.convs[ci]
                    .1
                    .as_mut()
                    .and_then(|m| m.messages.get_mut(&seq))
                    .filter(|m| m.live(now))
                {
                    Some(m) => {
                        r.unwrap();
                        m.text = TEXTS[text].into();
                        m.edited = true;
                    }
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::Delete { conv, msg } => {
                let Some(ci) = model.pick(conv) else { continue };
                let c = model.convs[ci].0;
                let Some(seq) = model.convs[ci].1.as_ref().and_then(|m| nth_message(m, msg)) else {
                    continue;
                };
                let r = t.delete_message(MessageId::new(c, seq));
                let now = model.now;
                let conv = model.convs[ci].1.as_mut();
                match conv.filter(|m| m.messages.get(&seq).is_some_and(|m| m.live(now))) {
                    Some(m) => {
                        r.unwrap();
                        m.messages.remove(&seq);
                    }
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::DeleteConversation { conv } => {
                let Some(ci) = model.pick(conv) else { continue };
                let r = t.delete_conversation(model.convs[ci].0);
                match model.convs[ci].1.take() {
                    Some(_) => r.unwrap(),
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::MarkRead { conv, msg } => {
                let Some(ci) = model.pick(conv) else { continue };
                let c = model.convs[ci].0;
                let Some(seq) = model.convs[ci].1.as_ref().and_then(|m| nth_message(m, msg)) else {
                    continue;
                };
                let r = t.mark_read(c, MessageId::new(c, seq));
                let Some(m) = model.convs[ci].1.as_mut() else {
                    assert!(matches!(r, Err(Error::NotFound(_))));
                    continue;
                };
                if seq < m.next_seq {
                    r.unwrap();
                    m.read_up_to = Some(m.read_up_to.map_or(seq, |old| old.max(seq)));
                } else {
                    assert!(matches!(r, Err(Error::NotFound(_))));
                }
            }
            Op::Rotate { conv } => {
                let Some(ci) = model.pick(conv) else { continue };
                let r = t.rotate_conversation_key(model.convs[ci].0);
                match &model.convs[ci].1 {
                    Some(_) => drop(r.unwrap()),
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::Reopen => t.reopen(),
            Op::SetRetention { conv, ttl } => {
                let Some(ci) = model.pick(conv) else { continue };
                let retention_ms = ttl.map(|t| u64::from(t) * 1000);
                let update = ConversationUpdate { retention_ms: Some(retention_ms), ..Default::default() };
                let r = t.update_conversation(model.convs[ci].0, update);
                match model.convs[ci].1.as_mut() {
                    Some(m) => {
                        r.unwrap();
                        m.retention_ms = retention_ms;
                    }
                    None => assert!(matches!(r, Err(Error::NotFound(_)))),
                }
            }
            Op::Advance { secs } => {
                t.advance(i64::from(secs) * 1000);
                model.now += i64::from(secs) * 1000;
            }
            Op::Compact { target, budget } => {
                let mut options = CompactOptions::default().targets(target, 1 << 20);
                if let Some(b) = budget {
                    options = options.segment_budget(u64::from(b));
                }
                let report = t.compact(&options).unwrap();
                // A budgeted compaction stops early only at its budget (no
                // time budget or cancel flag here).
                if let Some(b) = budget {
                    assert!(
                        !report.work_remains || report.segments_rewritten >= u64::from(b),
                        "stopped with work left under its budget of {b}: {report:?}"
                    );
                }
                if budget.is_none() {
                    assert!(!report.work_remains);
                    assert_eq!(
                        t.compact(&options).unwrap().segments_rewritten,
                        0,
                        "a finished compaction has nothing left"
                    );
                    let stats = t.stats().unwrap();
                    assert_eq!(stats.segments_uncompacted, 0);
                    assert_eq!(stats.segments_with_expired, 0);
                    assert!(
                        stats.epochs.iter().all(|e| e.keys == e.current_for),
                        "old keys destroyed: {:?}",
                        stats.epochs
                    );
                }
                let verify = t.verify().unwrap();
                assert!(verify.is_ok(), "{:?}", verify.problems);
            }
            Op::RotateAll => {
                let live = model.convs.iter().filter(|(_, m)| m.is_some()).count();
                assert_eq!(t.rotate_all_keys().unwrap(), live as u64);
            }
            Op::SelfImport => {
                let key = [3u8; 32];
                let mut archive = Vec::new();
                let exported = t.export(&mut archive, &chatvault::ExportOptions::raw_key(key)).unwrap();
                let live = model.convs.iter().filter(|(_, m)| m.is_some()).count();
                assert_eq!(exported.conversations, live as u64);
                let report = t.import(&archive[..], &chatvault::ImportOptions::raw_key(key)).unwrap();
                assert_eq!((report.conversations_created, report.messages_added), (0, 0), "{report:?}");
                assert_eq!(report.messages_skipped, exported.messages);
            }
        }
        check(&t, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
