//! The stateful harness: an arbitrary sequence of operations applied to a
//! real store on disk and to an in-memory model of it ([`model`]), with
//! every result compared, reopens (closed or dropped, and with an old key
//! that must be refused), key changes, expiry on a clock the input moves,
//! compaction, exports and imports; `verify` at the end.
//!
//! An input is a list of operations, each a tag byte and its fields (see
//! [`Op::parse`]); past the end every byte reads as zero, so any input
//! decodes, and at most [`MAX_OPS`] run, so an execution stays short.

mod harness;
pub mod model;

use std::path::Path;

use chatvault::__fuzz::Input;

/// Most operations one input runs.
pub const MAX_OPS: usize = 64;
/// Most messages in one batch.
pub const MAX_BATCH: u8 = 8;
/// Longest text taken from the input.
pub const MAX_TEXT: u8 = 63;

/// A text: one of a few fixed ones (by index), or bytes from the input
/// (decoded lossily as UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// A fixed text, by index (wrapping).
    Table(u8),
    /// Up to [`MAX_TEXT`] bytes.
    Bytes(Vec<u8>),
}

/// A message to append. Every field is a small number the harness turns
/// into a value, so that ids, senders and times collide often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// External id `m0`..`m7`, if any.
    pub ext: Option<u8>,
    /// Sender, from a short list.
    pub sender: u8,
    /// Sent this many seconds before the clock's time.
    pub age_secs: u8,
    /// Its text.
    pub text: Text,
    /// 0: no reply; else replies to sequence number `reply - 1` (which may
    /// not exist yet: then the append must fail).
    pub reply: u8,
    /// Expires this many seconds after it was sent, if set.
    pub ttl_secs: Option<u8>,
    /// Bytes of opaque app data (`extra % 4` copies of `extra`).
    pub extra: u8,
}

/// Which page a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// The newest messages.
    Latest,
    /// The oldest messages.
    Oldest,
    /// Messages before the anchor.
    Before,
    /// Messages after the anchor.
    After,
}

/// One operation. `conv` picks a conversation among all ever created
/// (deleted ones included, so operations on them must fail); `msg` picks a
/// sequence number up to one past the conversation's end (0 and the end
/// included, so operations on them must fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Creates a conversation: external id `c0`..`c5` (taken ones must be
    /// refused), members `members % 3`, a retention, created some days ago.
    #[allow(missing_docs)]
    Create { ext: Option<u8>, title: Text, members: u8, retention_secs: Option<u8>, age_days: Option<u8> },
    /// Appends one message.
    #[allow(missing_docs)]
    Append { conv: u8, msg: Msg },
    /// Appends a batch, to any conversations, all or nothing.
    #[allow(missing_docs)]
    Batch { items: Vec<(u8, Msg)> },
    /// Edits a message's text.
    #[allow(missing_docs)]
    Edit { conv: u8, msg: u8, text: Text },
    /// Deletes a message.
    #[allow(missing_docs)]
    DeleteMessage { conv: u8, msg: u8 },
    /// Deletes a conversation.
    #[allow(missing_docs)]
    DeleteConversation { conv: u8 },
    /// Marks messages read up to one.
    #[allow(missing_docs)]
    MarkRead { conv: u8, msg: u8 },
    /// Reads a page; an anchor of 255 is sequence number `u64::MAX`; the
    /// limit is `limit % 21`.
    #[allow(missing_docs)]
    Read { conv: u8, page: PageKind, anchor: u8, limit: u8 },
    /// Reads one message.
    #[allow(missing_docs)]
    Get { conv: u8, msg: u8 },
    /// Updates metadata; `retention`: 0 keeps it, 1 turns it off, n sets
    /// n − 2 seconds.
    #[allow(missing_docs)]
    Update { conv: u8, title: Option<Text>, members: Option<u8>, app_data: Option<u8>, retention: u8 },
    /// Moves the store's clock forward.
    #[allow(missing_docs)]
    Advance { secs: u8 },
    /// Compacts with a target of `1 + target % 6` messages, within a
    /// budget of `1 + budget % 4` segments if given.
    #[allow(missing_docs)]
    Compact { target: u8, budget: Option<u8> },
    /// Starts a new key epoch for one conversation.
    #[allow(missing_docs)]
    Rotate { conv: u8 },
    /// Starts a new key epoch for every conversation.
    RotateAll,
    /// Drops the store (or closes it) and opens it again from its path;
    /// first with every key it had since, which must be refused.
    #[allow(missing_docs)]
    Reopen { close: bool },
    /// Changes the store key to 32 copies of `key`.
    #[allow(missing_docs)]
    ChangeKey { key: u8 },
    /// Rotates the master key, sealing it under 32 copies of `key`; within
    /// a budget of `1 + budget % 3` transactions if given (so it may stay
    /// under way, and later operations run while it is).
    #[allow(missing_docs)]
    RotateMaster { key: u8, budget: Option<u8> },
    /// Exports everything and imports it into the same store: nothing changes.
    SelfImport,
    /// Exports everything and imports it into a new store: the same
    /// conversations and messages.
    ExportFresh,
    /// The conversation list, or its first `limit % 5` lines.
    #[allow(missing_docs)]
    List { limit: Option<u8> },
    /// Finds a conversation by external id `c0`..`c5`.
    #[allow(missing_docs)]
    Find { ext: u8 },
    /// Runs `verify`, which must find nothing.
    Verify,
    /// Edits several messages in one call (`edit_messages`), all or nothing.
    #[allow(missing_docs)]
    EditMany { items: Vec<(u8, u8, Text)> },
    /// Deletes several messages in one call (`delete_messages`), all or nothing.
    #[allow(missing_docs)]
    DeleteMany { items: Vec<(u8, u8)> },
}

/// The tag bytes, by operation: a tag is read modulo their number, and
/// the common writes have several.
const TAGS: [u8; 38] = [
    0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    19, 20, 0, 21, 22, 23,
];

impl Op {
    /// Decodes the operations of an input (at most [`MAX_OPS`]).
    pub fn parse(data: &[u8]) -> Vec<Op> {
        let mut input = Input::new(data);
        let mut ops = Vec::new();
        while !input.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::read(&mut input));
        }
        ops
    }

    /// Encodes operations as an input that [`Op::parse`] decodes back.
    pub fn encode(ops: &[Op]) -> Vec<u8> {
        let mut out = Vec::new();
        for op in ops {
            op.write(&mut out);
        }
        out
    }

    fn read(input: &mut Input<'_>) -> Op {
        let tag = TAGS[usize::from(input.byte()) % TAGS.len()];
        let conv = |input: &mut Input<'_>| input.byte();
        match tag {
            0 => Op::Append { conv: conv(input), msg: Msg::read(input) },
            1 => {
                let n = input.byte() % (MAX_BATCH + 1);
                Op::Batch { items: (0..n).map(|_| (input.byte(), Msg::read(input))).collect() }
            }
            2 => Op::Create {
                ext: opt(input),
                title: Text::read(input),
                members: input.byte(),
                retention_secs: opt(input),
                age_days: opt(input),
            },
            3 => Op::Edit { conv: conv(input), msg: input.byte(), text: Text::read(input) },
            4 => Op::DeleteMessage { conv: conv(input), msg: input.byte() },
            5 => Op::DeleteConversation { conv: conv(input) },
            6 => Op::MarkRead { conv: conv(input), msg: input.byte() },
            7 => {
                let conv = conv(input);
                let page = match input.byte() % 4 {
                    0 => PageKind::Latest,
                    1 => PageKind::Oldest,
                    2 => PageKind::Before,
                    _ => PageKind::After,
                };
                Op::Read { conv, page, anchor: input.byte(), limit: input.byte() }
            }
            8 => Op::Get { conv: conv(input), msg: input.byte() },
            9 => {
                let conv = conv(input);
                let title = (input.byte() & 1 == 1).then(|| Text::read(input));
                Op::Update { conv, title, members: opt(input), app_data: opt(input), retention: input.byte() }
            }
            10 => Op::Advance { secs: input.byte() },
            11 => Op::Compact { target: input.byte(), budget: opt(input) },
            12 => Op::Rotate { conv: conv(input) },
            13 => Op::RotateAll,
            14 => Op::Reopen { close: input.byte() & 1 == 1 },
            15 => Op::ChangeKey { key: input.byte() },
            16 => Op::SelfImport,
            17 => Op::ExportFresh,
            18 => Op::List { limit: opt(input) },
            19 => Op::Find { ext: input.byte() },
            21 => Op::RotateMaster { key: input.byte(), budget: opt(input) },
            22 => {
                let n = input.byte() % (MAX_BATCH + 1);
                Op::EditMany {
                    items: (0..n).map(|_| (input.byte(), input.byte(), Text::read(input))).collect(),
                }
            }
            23 => {
                let n = input.byte() % (MAX_BATCH + 1);
                Op::DeleteMany { items: (0..n).map(|_| (input.byte(), input.byte())).collect() }
            }
            _ => Op::Verify,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let tag = |t: u8| TAGS.iter().position(|&x| x == t).and_then(|i| u8::try_from(i).ok()).unwrap_or(0);
        match self {
            Op::Append { conv, msg } => {
                out.extend([tag(0), *conv]);
                msg.write(out);
            }
            Op::Batch { items } => {
                out.extend([tag(1), u8::try_from(items.len()).unwrap_or(0) % (MAX_BATCH + 1)]);
                for (conv, msg) in items.iter().take(usize::from(MAX_BATCH)) {
                    out.push(*conv);
                    msg.write(out);
                }
            }
            Op::Create { ext, title, members, retention_secs, age_days } => {
                out.extend([tag(2), put_opt(*ext)]);
                title.write(out);
                out.extend([*members, put_opt(*retention_secs), put_opt(*age_days)]);
            }
            Op::Edit { conv, msg, text } => {
                out.extend([tag(3), *conv, *msg]);
                text.write(out);
            }
            Op::DeleteMessage { conv, msg } => out.extend([tag(4), *conv, *msg]),
            Op::DeleteConversation { conv } => out.extend([tag(5), *conv]),
            Op::MarkRead { conv, msg } => out.extend([tag(6), *conv, *msg]),
            Op::Read { conv, page, anchor, limit } => {
                let page = match page {
                    PageKind::Latest => 0,
                    PageKind::Oldest => 1,
                    PageKind::Before => 2,
                    PageKind::After => 3,
                };
                out.extend([tag(7), *conv, page, *anchor, *limit]);
            }
            Op::Get { conv, msg } => out.extend([tag(8), *conv, *msg]),
            Op::Update { conv, title, members, app_data, retention } => {
                out.extend([tag(9), *conv, u8::from(title.is_some())]);
                if let Some(t) = title {
                    t.write(out);
                }
                out.extend([put_opt(*members), put_opt(*app_data), *retention]);
            }
            Op::Advance { secs } => out.extend([tag(10), *secs]),
            Op::Compact { target, budget } => out.extend([tag(11), *target, put_opt(*budget)]),
            Op::Rotate { conv } => out.extend([tag(12), *conv]),
            Op::RotateAll => out.push(tag(13)),
            Op::Reopen { close } => out.extend([tag(14), u8::from(*close)]),
            Op::ChangeKey { key } => out.extend([tag(15), *key]),
            Op::SelfImport => out.push(tag(16)),
            Op::ExportFresh => out.push(tag(17)),
            Op::List { limit } => out.extend([tag(18), put_opt(*limit)]),
            Op::Find { ext } => out.extend([tag(19), *ext]),
            Op::Verify => out.push(tag(20)),
            Op::RotateMaster { key, budget } => out.extend([tag(21), *key, put_opt(*budget)]),
            Op::EditMany { items } => {
                out.extend([tag(22), u8::try_from(items.len()).unwrap_or(0) % (MAX_BATCH + 1)]);
                for (conv, msg, text) in items.iter().take(usize::from(MAX_BATCH)) {
                    out.extend([*conv, *msg]);
                    text.write(out);
                }
            }
            Op::DeleteMany { items } => {
                out.extend([tag(23), u8::try_from(items.len()).unwrap_or(0) % (MAX_BATCH + 1)]);
                for (conv, msg) in items.iter().take(usize::from(MAX_BATCH)) {
                    out.extend([*conv, *msg]);
                }
            }
        }
    }
}

impl Msg {
    fn read(input: &mut Input<'_>) -> Msg {
        Msg {
            ext: opt(input),
            sender: input.byte(),
            age_secs: input.byte(),
            text: Text::read(input),
            reply: input.byte(),
            ttl_secs: opt(input),
            extra: input.byte(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend([put_opt(self.ext), self.sender, self.age_secs]);
        self.text.write(out);
        out.extend([self.reply, put_opt(self.ttl_secs), self.extra]);
    }
}

impl Text {
    fn read(input: &mut Input<'_>) -> Text {
        let b = input.byte();
        if b & 0x80 == 0 {
            Text::Table(b)
        } else {
            Text::Bytes(input.bytes(usize::from(b & MAX_TEXT)).to_vec())
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Text::Table(i) => out.push(i & 0x7F),
            Text::Bytes(b) => {
                let b = &b[..b.len().min(usize::from(MAX_TEXT))];
                out.push(0x80 | u8::try_from(b.len()).unwrap_or(0));
                out.extend_from_slice(b);
            }
        }
    }
}

/// An optional small number: 0 is `None`, n is `Some(n - 1)`.
fn opt(input: &mut Input<'_>) -> Option<u8> {
    input.byte().checked_sub(1)
}

fn put_opt(v: Option<u8>) -> u8 {
    v.map_or(0, |v| v.saturating_add(1))
}

/// What one input did, for the replay test to check the corpus reaches
/// the operations it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Operations decoded.
    pub ops: usize,
    /// Operations that succeeded (as the model said they would).
    pub succeeded: usize,
    /// Operations that failed (as the model said they would).
    pub refused: usize,
    /// Reopens done.
    pub reopens: usize,
    /// Imports done (into the store itself or a new one).
    pub imports: usize,
    /// Compactions done.
    pub compactions: usize,
    /// Master-key rotations that finished, and that stayed under way.
    pub master_rotations: (usize, usize),
    /// Live messages at the end.
    pub messages: usize,
}

/// Runs one input in a new store under `dir` (any leftover store files
/// there from an earlier run are removed first). `Err` describes the
/// first disagreement between the store and the model.
pub fn run(dir: &Path, data: &[u8]) -> Result<Outcome, String> {
    run_ops(dir, &Op::parse(data))
}

/// Runs `ops` as [`run`] runs a decoded input (any number of them).
pub fn run_ops(dir: &Path, ops: &[Op]) -> Result<Outcome, String> {
    // Inputs of odd length run with the external-id index always cached
    // (no direct mode): the harness's batches are too small to leave it.
    let mut h = harness::Harness::new(dir, ops.len() % 2 == 1)?;
    for (i, op) in ops.iter().enumerate() {
        h.apply(op).map_err(|e| format!("operation {i} ({op:?}): {e}"))?;
    }
    let mut outcome = h.finish()?;
    outcome.ops = ops.len();
    Ok(outcome)
}

/// Seed inputs for the corpus (fuzz/corpus/ops), named by what they
/// exercise.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let msg = |ext: Option<u8>, text: u8| Msg {
        ext,
        sender: text,
        age_secs: 0,
        text: Text::Table(text),
        reply: 0,
        ttl_secs: None,
        extra: 0,
    };
    let create = |ext: Option<u8>| Op::Create {
        ext,
        title: Text::Bytes("Alice 你好".as_bytes().to_vec()),
        members: 2,
        retention_secs: None,
        age_days: None,
    };
    let appends = |conv: u8, n: u8| -> Vec<Op> {
        (0..n)
            .map(|i| Op::Append { conv, msg: Msg { reply: i, ..msg((i % 3 == 0).then_some(i), i) } })
            .collect()
    };
    let basic = [
        vec![create(Some(0)), create(None)],
        appends(0, 6),
        appends(1, 3),
        vec![
            Op::Edit { conv: 0, msg: 2, text: Text::Bytes("édité 👍".as_bytes().to_vec()) },
            Op::DeleteMessage { conv: 0, msg: 3 },
            Op::MarkRead { conv: 0, msg: 4 },
            Op::Read { conv: 0, page: PageKind::Before, anchor: 5, limit: 2 },
            Op::Read { conv: 0, page: PageKind::After, anchor: 1, limit: 3 },
            Op::Get { conv: 0, msg: 2 },
            Op::List { limit: None },
            Op::Find { ext: 0 },
            Op::Verify,
        ],
    ]
    .concat();
    let batch = [
        vec![create(Some(1)), create(Some(2))],
        vec![Op::Batch {
            items: vec![(0, msg(Some(1), 1)), (1, msg(None, 2)), (0, msg(Some(1), 3)), (1, msg(Some(4), 4))],
        }],
        // A reply to a message that does not exist yet fails the whole batch.
        vec![Op::Batch { items: vec![(0, msg(Some(5), 1)), (1, Msg { reply: 40, ..msg(None, 2) })] }],
        vec![Op::Batch { items: vec![(0, msg(Some(1), 1))] }, Op::List { limit: Some(1) }],
    ]
    .concat();
    let expiry = [
        vec![Op::Create {
            ext: Some(3),
            title: Text::Table(1),
            members: 0,
            retention_secs: Some(30),
            age_days: Some(3),
        }],
        appends(0, 4),
        vec![
            Op::Append { conv: 0, msg: Msg { ttl_secs: Some(5), ..msg(None, 5) } },
            Op::Append { conv: 0, msg: Msg { age_secs: 40, ..msg(None, 5) } },
            Op::Advance { secs: 10 },
            Op::Get { conv: 0, msg: 5 },
            Op::Update { conv: 0, title: None, members: None, app_data: Some(3), retention: 1 },
            Op::Append { conv: 0, msg: msg(Some(7), 2) },
            Op::Advance { secs: 25 },
            Op::List { limit: None },
            Op::Compact { target: 2, budget: None },
            Op::Read { conv: 0, page: PageKind::Latest, anchor: 0, limit: 20 },
        ],
    ]
    .concat();
    let maintenance = [
        vec![create(Some(0)), create(None)],
        appends(0, 8),
        appends(1, 5),
        vec![
            Op::Rotate { conv: 0 },
            Op::Append { conv: 0, msg: msg(None, 9) },
            Op::Compact { target: 3, budget: Some(1) },
            Op::Compact { target: 3, budget: None },
            Op::Edit { conv: 0, msg: 4, text: Text::Table(2) },
            Op::RotateAll,
            Op::ChangeKey { key: 9 },
            Op::Reopen { close: false },
            Op::DeleteConversation { conv: 1 },
            Op::Append { conv: 1, msg: msg(None, 1) },
            Op::Reopen { close: true },
            Op::Verify,
        ],
    ]
    .concat();
    let archives = [
        vec![create(Some(0)), create(None)],
        appends(0, 5),
        appends(1, 4),
        vec![
            Op::DeleteMessage { conv: 1, msg: 2 },
            Op::MarkRead { conv: 1, msg: 2 },
            Op::Append { conv: 1, msg: Msg { ttl_secs: Some(100), ..msg(None, 6) } },
            Op::SelfImport,
            Op::ExportFresh,
            Op::Reopen { close: true },
            Op::SelfImport,
        ],
    ]
    .concat();
    let master = [
        vec![create(Some(0)), create(None), create(Some(4))],
        appends(0, 6),
        appends(1, 3),
        appends(2, 2),
        vec![
            Op::DeleteMessage { conv: 0, msg: 1 },
            Op::Append { conv: 0, msg: Msg { ttl_secs: Some(5), ..msg(Some(6), 5) } },
            Op::Advance { secs: 10 },
            // One transaction: begun (the new key opens the store from now
            // on), nothing moved yet.
            Op::RotateMaster { key: 0x51, budget: Some(0) },
            Op::Append { conv: 0, msg: msg(Some(5), 1) },
            Op::Reopen { close: true },
            // One more: every conversation moved, not finished yet.
            Op::RotateMaster { key: 0x52, budget: Some(0) },
            Op::Find { ext: 0 },
            Op::Find { ext: 4 },
            Op::Append { conv: 0, msg: msg(Some(1), 2) },
            Op::Append { conv: 2, msg: msg(Some(1), 2) },
            Op::Create {
                ext: Some(0),
                title: Text::Table(1),
                members: 0,
                retention_secs: None,
                age_days: None,
            },
            Op::Create {
                ext: Some(5),
                title: Text::Table(1),
                members: 0,
                retention_secs: None,
                age_days: None,
            },
            Op::SelfImport,
            Op::Rotate { conv: 1 },
            Op::ChangeKey { key: 0x53 },
            Op::Reopen { close: false },
            // To the end, under a new key.
            Op::RotateMaster { key: 0x54, budget: None },
            // A deleted or expired message's id is forgotten: stored again.
            Op::Append { conv: 0, msg: msg(Some(0), 3) },
            Op::Append { conv: 0, msg: msg(Some(6), 3) },
            Op::Append { conv: 0, msg: msg(Some(3), 3) },
            Op::Reopen { close: true },
            Op::Compact { target: 3, budget: None },
            Op::RotateMaster { key: 0x55, budget: None },
            Op::ExportFresh,
            Op::Verify,
        ],
    ]
    .concat();
    vec![
        ("basic", Op::encode(&basic)),
        ("master-rotation", Op::encode(&master)),
        ("batch", Op::encode(&batch)),
        ("expiry", Op::encode(&expiry)),
        ("maintenance", Op::encode(&maintenance)),
        ("archives", Op::encode(&archives)),
        ("empty", Vec::new()),
    ]
}
