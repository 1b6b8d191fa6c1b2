//! A workload of attachment writes and deletes and a model of what the
//! store must show after each, shared by tests/attachment_faults.rs (I/O
//! errors, full disks and power losses injected into the database) and
//! tests/attachment_crash.rs (a child process killed with SIGKILL).
//!
//! After an interruption the store must show either the state before the
//! operation in flight or the state after it, never a mix; `verify` may
//! report attachment files no row names (the file of an attachment whose
//! row never committed, or whose row was deleted and its file not yet
//! removed), which `compact` must then remove, and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chatvault::{
    AttachmentFilter, AttachmentId, CompactOptions, ConversationId, MessageId, NewAttachment,
    NewConversation, NewMessage, ProblemKind, Store,
};
use chatvault_corpus::Rng;

/// An attachment as the model knows it: its message and its content (a
/// hash and length), or `None` once removed.
pub type Content = Option<(u64, usize)>;

/// What the store holds that the workload touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub messages: BTreeSet<MessageId>,
    pub attachments: BTreeMap<AttachmentId, (MessageId, Content)>,
}

/// One operation of the workload.
#[derive(Debug, Clone)]
pub enum Op {
    Append { conv: ConversationId, text: String },
    Attach { message: MessageId, seed: u64, len: usize },
    DeleteAttachment(AttachmentId),
    DeleteMessage(MessageId),
    Clear { min_bytes: u64 },
    Compact,
}

/// Deterministic content of `len` bytes.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The three conversations the workload uses, created if missing.
pub fn conversations(store: &Store) -> Vec<ConversationId> {
    (0..3)
        .map(|i| {
            let ext = format!("att-{i}");
            match store.find_conversation(&ext).unwrap() {
                Some(c) => c,
                None => store
                    .create_conversation(NewConversation {
                        external_id: Some(ext),
                        title: format!("c{i}"),
                        ..Default::default()
                    })
                    .unwrap(),
            }
        })
        .collect()
}

/// The next operation, chosen from `state`.
pub fn next_op(rng: &mut Rng, state: &State, convs: &[ConversationId], tag: u64) -> Op {
    let messages: Vec<MessageId> = state.messages.iter().copied().collect();
    let attachments: Vec<AttachmentId> = state.attachments.keys().copied().collect();
    let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
    match rng.below(100) {
        0..20 => Op::Append { conv: convs[pick(rng, convs.len())], text: format!("message {tag}") },
        20..65 if !messages.is_empty() => {
            let len = match rng.below(3) {
                0 => rng.below(3_000) as usize,
                1 => 65_000 + rng.below(3_000) as usize,
                _ => 70_000 + rng.below(400_000) as usize,
            };
            Op::Attach { message: messages[pick(rng, messages.len())], seed: tag, len }
        }
        65..78 if !attachments.is_empty() => Op::DeleteAttachment(attachments[pick(rng, attachments.len())]),
        78..88 if !messages.is_empty() => Op::DeleteMessage(messages[pick(rng, messages.len())]),
        88..94 => Op::Clear { min_bytes: 200_000 + rng.below(300_000) },
        94..100 => Op::Compact,
        _ => Op::Append { conv: convs[pick(rng, convs.len())], text: format!("message {tag}") },
    }
}

/// What an operation returned, for the model.
#[derive(Debug, Clone)]
pub enum Ack {
    Appended(MessageId),
    Attached(AttachmentId),
    Done,
}

pub fn run(store: &Store, op: &Op) -> chatvault::Result<Ack> {
    match op {
        Op::Append { conv, text } => store
            .append(*conv, NewMessage { sender: "s".into(), text: text.clone(), ..Default::default() })
            .map(Ack::Appended),
        Op::Attach { message, seed, len } => {
            let new = NewAttachment { media_type: "image/jpeg".into(), ..Default::default() };
            store.attach_from(*message, new, &mut &content(*seed, *len)[..]).map(Ack::Attached)
        }
        Op::DeleteAttachment(a) => store.delete_attachment(*a).map(|()| Ack::Done),
        Op::DeleteMessage(m) => store.delete_message(*m).map(|()| Ack::Done),
        Op::Clear { min_bytes } => store
            .clear_attachments(&AttachmentFilter { min_bytes: Some(*min_bytes), ..Default::default() })
            .map(|_| Ack::Done),
        Op::Compact => store.compact(&CompactOptions::default()).map(|_| Ack::Done),
    }
}

/// The state after `op` returned `ack` (known) on `before`.
pub fn apply(before: &State, op: &Op, ack: &Ack) -> State {
    let mut s = before.clone();
    match (op, ack) {
        (Op::Append { .. }, Ack::Appended(m)) => {
            s.messages.insert(*m);
        }
        (Op::Attach { message, seed, len }, Ack::Attached(a)) => {
            s.attachments.insert(*a, (*message, Some((hash(&content(*seed, *len)), *len))));
        }
        (Op::DeleteAttachment(a), _) => {
            s.attachments.remove(a);
        }
        (Op::DeleteMessage(m), _) => {
            s.messages.remove(m);
            s.attachments.retain(|_, (am, _)| am != m);
        }
        (Op::Clear { min_bytes }, _) => {
            for (_, content) in s.attachments.values_mut() {
                if content.is_some_and(|(_, len)| len as u64 >= *min_bytes) {
                    *content = None;
                }
            }
        }
        _ => {}
    }
    s
}

/// What the store shows of the workload's conversations.
pub fn observe(store: &Store, convs: &[ConversationId]) -> State {
    let mut s = State::default();
    for &c in convs {
        for m in store.messages(c, chatvault::Page::oldest(usize::MAX)).unwrap() {
            s.messages.insert(m.id);
            for a in store.message_attachments(m.id).unwrap() {
                let content = if a.removed_at_ms.is_some() {
                    None
                } else {
                    let mut bytes = Vec::new();
                    store
                        .open_attachment(a.id)
                        .and_then(|mut r| r.read_to_end(&mut bytes).map_err(chatvault::Error::Io))
                        .unwrap_or_else(|e| panic!("attachment {} does not read: {e}", a.id));
                    assert_eq!(bytes.len() as u64, a.byte_len);
                    Some((hash(&bytes), bytes.len()))
                };
                s.attachments.insert(a.id, (m.id, content));
            }
        }
    }
    s
}

/// The state after an interrupted `op`: `before`, or `op` applied. An
/// attachment written by it is recognised by its content (its id was never
/// returned); a message appended by it is adopted as what it appended.
pub fn settle(before: &State, op: &Op, got: &State, context: &str) -> State {
    if got == before {
        return got.clone();
    }
    let ack = match op {
        Op::Append { .. } => match got.messages.difference(&before.messages).collect::<Vec<_>>()[..] {
            [m] => Ack::Appended(*m),
            _ => panic!("{context}: messages differ beyond the append: {got:?} vs {before:?}"),
        },
        Op::Attach { .. } => {
            match got.attachments.keys().filter(|a| !before.attachments.contains_key(a)).collect::<Vec<_>>()[..]
            {
                [a] => Ack::Attached(*a),
                _ => panic!("{context}: attachments differ beyond the attach"),
            }
        }
        _ => Ack::Done,
    };
    let after = apply(before, op, &ack);
    assert_eq!(got, &after, "{context}: neither the state before {op:?} nor the state after it");
    after
}

/// Checks a store reopened after an interruption: `verify` finds nothing
/// but orphan attachment files, `compact` removes them, and then nothing.
pub fn check_store(store: &Store, context: &str) -> u64 {
    let report = store.verify().unwrap();
    let orphans = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Orphan && p.detail.contains("attachment file"))
        .count();
    assert_eq!(orphans, report.problems.len(), "{context}: verify found {:#?}", report.problems);
    if orphans > 0 {
        let removed = store.compact(&CompactOptions::default()).unwrap().orphan_files_removed;
        assert_eq!(removed, orphans as u64, "{context}: compact removes every orphan");
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "{context}: after compact: {:#?}", report.problems);
    }
    orphans as u64
}
