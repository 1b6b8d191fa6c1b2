//! The mixed workload of the crash and fault tests: a seeded random mix of
//! every kind of write (see tests/crash_mixed.rs), the operations that run
//! it against a store, and the model that predicts what the store must show
//! after each, with the checks that compare the two. tests/crash_mixed.rs
//! runs it in a child process killed at random moments; tests/faults.rs runs
//! it in-process over a VFS that injects I/O errors and power losses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chatvault::{
    CompactOptions, ConversationId, Error, ExportOptions, ImportOptions, MessageId, NewConversation,
    NewMessage, Page, RotateOptions, Store, StoreKey,
};
use chatvault_corpus::Rng;
use chatvault_testkit::ops::model::{MConv, MMsg};
use serde::{Deserialize, Serialize};

use super::KEY;

pub const ARCHIVE_KEY: [u8; 32] = [0x5A; 32];
/// The root key after an odd number of master-key rotations ([`KEY`] after
/// an even number).
pub const KEY_2: [u8; 32] = [0x24; 32];

/// The root key of a store whose master key was rotated `generation` times.
pub fn key_for(generation: u64) -> [u8; 32] {
    if generation.is_multiple_of(2) { KEY } else { KEY_2 }
}

/// Opens the store with whichever of the two root keys opens it.
pub fn open_either(path: &Path) -> chatvault::Result<(Store, u64)> {
    match Store::open(path, StoreKey::raw(KEY)) {
        Ok(s) => Ok((s, 0)),
        Err(Error::WrongKey) => Store::open(path, StoreKey::raw(KEY_2)).map(|s| (s, 1)),
        Err(e) => Err(e),
    }
}

/// Where a master-key rotation stands, from the `store` row: rotations
/// finished, and how far the one under way got (`None`: none under way).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rotation {
    pub generation: u64,
    pub through: Option<u64>,
}

impl Rotation {
    pub fn read(path: &Path) -> Rotation {
        // Through SQLite's own VFS, not a fault-injecting default.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags_and_vfs(path, flags, c"unix").expect("open raw");
        conn.query_row("SELECT master_gen, rotated_through FROM store", [], |r| {
            Ok(Rotation {
                generation: r.get::<_, i64>(0)? as u64,
                through: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
            })
        })
        .expect("read the rotation columns")
    }
}
/// Past this many messages the child deletes conversations.
pub const MAX_MESSAGES: usize = 1000;
pub const MAX_CONVERSATIONS: usize = 10;

// ---------------------------------------------------------------------------
// The protocol between child and parent.

/// A message as the child appends it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Msg {
    pub ext: Option<String>,
    pub sender: String,
    pub sent_at: i64,
    pub text: String,
}

/// One operation, with everything the parent needs to predict its effect.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Op {
    Append {
        c: u64,
        m: Msg,
    },
    Batch {
        items: Vec<(u64, Msg)>,
    },
    Edit {
        c: u64,
        seq: u64,
        text: String,
    },
    DeleteMessage {
        c: u64,
        seq: u64,
    },
    /// `edit_messages`: several messages, any conversations, one call.
    EditMany {
        items: Vec<(u64, u64, String)>,
    },
    /// `delete_messages`: several messages (perhaps one twice), one call.
    DeleteMany {
        items: Vec<(u64, u64)>,
    },
    MarkRead {
        c: u64,
        seq: u64,
    },
    Create {
        ext: Option<String>,
        title: String,
    },
    DeleteConversation {
        c: u64,
    },
    Rotate {
        c: u64,
    },
    /// A master-key rotation, sealed under the other root key; with a budget,
    /// at most that many transactions (it may stay under way).
    RotateMaster {
        budget: Option<u64>,
    },
    Compact {
        budget_us: Option<u64>,
        small_targets: bool,
    },
    Import,
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Append { .. } => "append",
            Op::Batch { .. } => "batch",
            Op::Edit { .. } => "edit",
            Op::DeleteMessage { .. } => "delete message",
            Op::EditMany { .. } => "edit many",
            Op::DeleteMany { .. } => "delete many",
            Op::MarkRead { .. } => "mark read",
            Op::Create { .. } => "create conversation",
            Op::DeleteConversation { .. } => "delete conversation",
            Op::Rotate { .. } => "rotate key",
            Op::RotateMaster { .. } => "rotate master key",
            Op::Compact { .. } => "compact",
            Op::Import => "import",
        }
    }
}

/// What an operation returned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Sequence numbers of the appended messages, in input order.
    Ids(Vec<u64>),
    Created(u64),
    /// `Error::ConversationExists`: the external id is taken.
    Exists(u64),
    Imported {
        created: u64,
        matched: u64,
        added: u64,
    },
    /// Where the master-key rotation stands after the call.
    Rotated(Rotation),
    Done,
}

// ---------------------------------------------------------------------------
// The child.

/// The child's view of the store, to choose valid operations.
pub struct View {
    pub convs: Vec<VConv>,
}

pub struct VConv {
    pub id: u64,
    pub ext: Option<String>,
    pub seqs: Vec<u64>,
    /// The highest sequence number seen: a re-delivery returns a lower one.
    pub top: u64,
    /// External ids it holds or held (this run), for re-deliveries.
    pub exts: Vec<String>,
}

impl View {
    pub fn read(store: &Store) -> View {
        let mut convs = Vec::new();
        for s in store.conversations().expect("child: list") {
            let c = s.conversation.id;
            let msgs = store.messages(c, Page::oldest(usize::MAX)).expect("child: read");
            convs.push(VConv {
                id: c.get(),
                ext: s.conversation.external_id,
                seqs: msgs.iter().map(|m| m.id.seq()).collect(),
                top: msgs.last().map_or(0, |m| m.id.seq()),
                exts: msgs.into_iter().filter_map(|m| m.external_id).collect(),
            });
        }
        View { convs }
    }

    pub fn messages(&self) -> usize {
        self.convs.iter().map(|c| c.seqs.len()).sum()
    }

    pub fn pick_conv(&self, rng: &mut Rng) -> usize {
        rng.below(self.convs.len() as u64) as usize
    }

    /// A random message: (conversation index, seq).
    pub fn pick_message(&self, rng: &mut Rng) -> Option<(usize, u64)> {
        let with: Vec<usize> = (0..self.convs.len()).filter(|&i| !self.convs[i].seqs.is_empty()).collect();
        let i = *with.get(rng.below(with.len() as u64) as usize)?;
        Some((i, *rng.pick(&self.convs[i].seqs)))
    }

    pub fn new_msg(&self, rng: &mut Rng, conv: usize, tag: &str) -> Msg {
        let exts = &self.convs[conv].exts;
        let ext = match rng.below(10) {
            0..=5 => Some(tag.to_owned()),
            6 | 7 if !exts.is_empty() => Some(rng.pick(exts).clone()),
            _ => None,
        };
        Msg {
            ext,
            sender: rng.pick(&["ana", "bo", "chen", "dee"]).to_string(),
            sent_at: 1_700_000_000_000 + rng.below(1 << 30) as i64,
            text: format!("{tag} {}", chatvault_corpus::text(rng)),
        }
    }

    pub fn next_op(&self, rng: &mut Rng, tag: &str) -> Op {
        if self.convs.len() < 2 {
            return Op::Create { ext: Some(format!("conv-{tag}")), title: format!("title {tag}") };
        }
        if self.messages() > MAX_MESSAGES || self.convs.len() > MAX_CONVERSATIONS {
            let largest = self.convs.iter().max_by_key(|c| c.seqs.len()).map_or(0, |c| c.id);
            return Op::DeleteConversation { c: largest };
        }
        let roll = rng.below(100);
        let message = self.pick_message(rng);
        match (roll, message) {
            (0..=21, _) => {
                let i = self.pick_conv(rng);
                Op::Append { c: self.convs[i].id, m: self.new_msg(rng, i, tag) }
            }
            (22..=23, Some(_)) => {
                let mut items: Vec<(u64, u64, String)> = Vec::new();
                for k in 0..2 + rng.below(30) {
                    if let Some((i, seq)) = self.pick_message(rng)
                        && !items.iter().any(|(c, s, _)| (*c, *s) == (self.convs[i].id, seq))
                    {
                        let text = format!("edited {tag}-{k} {}", chatvault_corpus::text(rng));
                        items.push((self.convs[i].id, seq, text));
                    }
                }
                Op::EditMany { items }
            }
            (24..=25, Some(_)) => {
                let n = 2 + rng.below(30);
                Op::DeleteMany {
                    items: (0..n)
                        .filter_map(|_| self.pick_message(rng))
                        .map(|(i, s)| (self.convs[i].id, s))
                        .collect(),
                }
            }
            (26..=45, _) => {
                // Now and then a burst into one conversation, larger than
                // the external-id index's direct mode takes (docs/DESIGN.md).
                let burst = rng.below(5) == 0;
                let n = if burst { 17 + rng.below(24) } else { 1 + rng.below(12) };
                let one = self.pick_conv(rng);
                let mut items: Vec<(u64, Msg)> = Vec::new();
                for k in 0..n {
                    let i = if burst { one } else { self.pick_conv(rng) };
                    let mut m = self.new_msg(rng, i, &format!("{tag}-{k}"));
                    // Now and then the same message twice in one batch.
                    if let Some((c, first)) = items.last()
                        && *c == self.convs[i].id
                        && first.ext.is_some()
                        && rng.below(6) == 0
                    {
                        m.ext = first.ext.clone();
                    }
                    items.push((self.convs[i].id, m));
                }
                Op::Batch { items }
            }
            (46..=55, Some((i, seq))) => Op::Edit {
                c: self.convs[i].id,
                seq,
                text: format!("edited {tag} {}", chatvault_corpus::text(rng)),
            },
            (56..=65, Some((i, seq))) => Op::DeleteMessage { c: self.convs[i].id, seq },
            (66..=69, Some((i, seq))) => Op::MarkRead { c: self.convs[i].id, seq },
            (70..=74, _) => {
                let taken: Vec<&String> = self.convs.iter().filter_map(|c| c.ext.as_ref()).collect();
                let ext = match rng.below(10) {
                    0..=2 if !taken.is_empty() => Some((*rng.pick(&taken)).clone()),
                    3 => None,
                    _ => Some(format!("conv-{tag}")),
                };
                Op::Create { ext, title: format!("title {tag}") }
            }
            (75..=77, _) => Op::DeleteConversation { c: self.convs[self.pick_conv(rng)].id },
            (78..=86, _) => Op::Compact {
                budget_us: rng.chance(0.5).then(|| rng.below(4000)),
                small_targets: rng.chance(0.5),
            },
            (87, _) => Op::RotateMaster { budget: rng.chance(0.5).then(|| 1 + rng.below(3)) },
            (88..=89, _) => Op::Rotate { c: self.convs[self.pick_conv(rng)].id },
            (90..=99, _) => Op::Import,
            // A message operation with no message to act on.
            _ => {
                let i = self.pick_conv(rng);
                Op::Append { c: self.convs[i].id, m: self.new_msg(rng, i, tag) }
            }
        }
    }

    pub fn apply(&mut self, store: &Store, op: &Op, ack: &Ack) {
        fn conv(view: &mut View, c: u64) -> &mut VConv {
            view.convs.iter_mut().find(|v| v.id == c).expect("child: conversation")
        }
        match (op, ack) {
            (Op::Append { c, m }, Ack::Ids(ids)) => conv(self, *c).appended(m, ids[0]),
            (Op::Batch { items }, Ack::Ids(ids)) => {
                for ((c, m), &seq) in items.iter().zip(ids) {
                    conv(self, *c).appended(m, seq);
                }
            }
            (Op::DeleteMessage { c, seq }, _) => conv(self, *c).seqs.retain(|s| s != seq),
            (Op::DeleteMany { items }, _) => {
                for (c, seq) in items {
                    conv(self, *c).seqs.retain(|s| s != seq);
                }
            }
            (Op::Create { ext, .. }, Ack::Created(id)) => {
                self.convs.push(VConv {
                    id: *id,
                    ext: ext.clone(),
                    seqs: Vec::new(),
                    top: 0,
                    exts: Vec::new(),
                });
            }
            (Op::DeleteConversation { c }, _) => self.convs.retain(|v| v.id != *c),
            (Op::Import, _) => *self = View::read(store),
            _ => {}
        }
    }
}

impl VConv {
    pub fn appended(&mut self, m: &Msg, seq: u64) {
        if seq > self.top {
            self.top = seq;
            self.seqs.push(seq);
            self.exts.extend(m.ext.clone());
        }
    }
}

pub fn run(store: &Store, op: &Op, archive: &Path, path: &Path) -> chatvault::Result<Ack> {
    let cid = ConversationId::from_raw;
    let new = new_message;
    Ok(match op {
        Op::Append { c, m } => Ack::Ids(vec![store.append(cid(*c), new(m))?.seq()]),
        Op::Batch { items } => {
            let batch: Vec<_> = items.iter().map(|(c, m)| (cid(*c), new(m))).collect();
            Ack::Ids(store.append_batch(&batch)?.into_iter().map(MessageId::seq).collect())
        }
        Op::Edit { c, seq, text } => {
            store.edit_message(MessageId::new(cid(*c), *seq), text)?;
            Ack::Done
        }
        Op::DeleteMessage { c, seq } => {
            store.delete_message(MessageId::new(cid(*c), *seq))?;
            Ack::Done
        }
        Op::EditMany { items } => {
            let edits: Vec<(MessageId, &str)> =
                items.iter().map(|(c, seq, text)| (MessageId::new(cid(*c), *seq), text.as_str())).collect();
            store.edit_messages(&edits)?;
            Ack::Done
        }
        Op::DeleteMany { items } => {
            let ids: Vec<MessageId> = items.iter().map(|(c, seq)| MessageId::new(cid(*c), *seq)).collect();
            store.delete_messages(&ids)?;
            Ack::Done
        }
        Op::MarkRead { c, seq } => {
            store.mark_read(cid(*c), MessageId::new(cid(*c), *seq))?;
            Ack::Done
        }
        Op::Create { ext, title } => {
            let new =
                NewConversation { external_id: ext.clone(), title: title.clone(), ..Default::default() };
            match store.create_conversation(new) {
                Ok(id) => Ack::Created(id.get()),
                Err(Error::ConversationExists(id)) => Ack::Exists(id.get()),
                Err(e) => return Err(e),
            }
        }
        Op::DeleteConversation { c } => {
            store.delete_conversation(cid(*c))?;
            Ack::Done
        }
        Op::Rotate { c } => {
            store.rotate_conversation_key(cid(*c))?;
            Ack::Done
        }
        Op::RotateMaster { budget } => {
            let before = Rotation::read(path);
            let mut options = RotateOptions::default();
            if let Some(b) = budget {
                options = options.transaction_budget(*b);
            }
            // A rotation under way is resumed with the store's key, which
            // its first step made the next generation's.
            let report =
                store.rotate_master_key_with(StoreKey::raw(key_for(before.generation + 1)), &options)?;
            let after = Rotation::read(path);
            assert_eq!(report.finished, after.generation == before.generation + 1, "child: finished");
            Ack::Rotated(after)
        }
        Op::Compact { budget_us, small_targets } => {
            let mut options = CompactOptions::default();
            if let Some(us) = budget_us {
                options = options.time_budget(Duration::from_micros(*us));
            }
            if *small_targets {
                options = options.targets(4, 2048);
            }
            store.compact(&options)?;
            Ack::Done
        }
        Op::Import => {
            let r = store.import_from_file(archive, &ImportOptions::raw_key(ARCHIVE_KEY))?;
            Ack::Imported {
                created: r.conversations_created,
                matched: r.conversations_matched,
                added: r.messages_added,
            }
        }
    })
}

// ---------------------------------------------------------------------------
// The model: chatvault-testkit's model of each conversation (the store's
// rules, written once, shared with tests/model.rs and the ops fuzz target),
// and what this workload adds: conversation ids, imports and where a
// master-key rotation stands. The workload sets no expiry, so every message
// is live at any time (`NOW`).

/// The time the model's liveness checks use: nothing in the workload expires.
const NOW: i64 = 0;

/// The message the workload appends for `m`.
pub fn new_message(m: &Msg) -> NewMessage {
    NewMessage {
        external_id: m.ext.clone(),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at,
        text: m.text.clone(),
        ..Default::default()
    }
}

/// A message as a user sees it (edit times are the store clock's: only
/// whether it was edited is compared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgM {
    pub ext: Option<String>,
    pub sender: String,
    pub sent_at: i64,
    pub text: String,
    pub edited: bool,
}

impl MsgM {
    fn of(m: &MMsg) -> MsgM {
        MsgM {
            ext: m.ext.clone(),
            sender: m.sender.clone(),
            sent_at: m.sent_at,
            text: m.text.clone(),
            edited: m.edited_at.is_some(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    /// The conversations, by id.
    pub convs: BTreeMap<u64, MConv>,
    /// The largest conversation id ever committed (ids are never reused).
    pub max_id: u64,
    /// Where the master-key rotation stands.
    pub rotation: Rotation,
}

/// The archive the child imports: its conversations in archive order.
pub type Archive = Vec<MConv>;

/// What a user sees of a conversation; the store and the model must agree on it.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub ext: Option<String>,
    pub title: String,
    pub msgs: BTreeMap<u64, MsgM>,
    pub read_up_to: Option<u64>,
    pub message_count: u64,
    pub unread: u64,
    pub last: Option<(u64, String)>,
}

impl Model {
    pub fn seen(&self) -> BTreeMap<u64, Seen> {
        self.convs
            .iter()
            .map(|(&id, c)| {
                let seen = Seen {
                    ext: c.ext.clone(),
                    title: c.title.clone(),
                    msgs: c.messages.iter().map(|(&s, m)| (s, MsgM::of(m))).collect(),
                    read_up_to: c.read_up_to,
                    message_count: c.live(NOW).count() as u64,
                    unread: c.unread(NOW),
                    last: c.live(NOW).next_back().map(|(s, m)| (s, m.text.clone())),
                };
                (id, seen)
            })
            .collect()
    }

    /// The master-key rotation moved on to `to`: every conversation it
    /// moved meanwhile is [`MConv::master_rotated`].
    pub fn rotated(&mut self, to: Rotation) -> Result<(), String> {
        let from = self.rotation;
        let moved = |id: u64| -> bool {
            let start = from.through.unwrap_or(0);
            if to.generation == from.generation + 1 {
                id > start
            } else if to.generation == from.generation {
                id > start && id <= to.through.unwrap_or(0)
            } else {
                false
            }
        };
        // Progress never goes back: within a generation, `through` only
        // grows (from none under way, to under way, further).
        let back = to.generation == from.generation
            && match (from.through, to.through) {
                (Some(_), None) => true,
                (Some(a), Some(b)) => b < a,
                (None, _) => false,
            };
        if back || (to.generation != from.generation && to.generation != from.generation + 1) {
            return Err(format!("the rotation went from {from:?} to {to:?}"));
        }
        for (&id, c) in self.convs.iter_mut() {
            if moved(id) {
                c.master_rotated(NOW);
            }
        }
        self.rotation = to;
        Ok(())
    }

    pub fn conv(&mut self, c: u64) -> Result<&mut MConv, String> {
        self.convs.get_mut(&c).ok_or_else(|| format!("conversation {c} is not in the model"))
    }

    pub fn append(&mut self, c: u64, m: &Msg) -> Result<u64, String> {
        let (ids, _) = self
            .conv(c)?
            .append(ConversationId::from_raw(c), &[&new_message(m)])
            .map_err(|e| format!("the model refuses the append: {e}"))?;
        ids.first().map(|id| id.seq()).ok_or_else(|| "an append without an id".to_owned())
    }

    /// The model after `op`, and what `op` returns. A master-key rotation's
    /// progress cannot be predicted: `rotation` says where it got.
    pub fn predict(
        &self,
        op: &Op,
        archive: &Archive,
        rotation: Option<Rotation>,
    ) -> Result<(Model, Ack), String> {
        let mut next = self.clone();
        let refused = |what: &str, e: &str| format!("the model refuses the {what}: {e}");
        let ack = match op {
            Op::Append { c, m } => Ack::Ids(vec![next.append(*c, m)?]),
            Op::Batch { items } => {
                Ack::Ids(items.iter().map(|(c, m)| next.append(*c, m)).collect::<Result<_, _>>()?)
            }
            Op::Edit { c, seq, text } => {
                next.conv(*c)?.edit(*seq, text.clone(), NOW).map_err(|e| refused("edit", e))?;
                Ack::Done
            }
            Op::DeleteMessage { c, seq } => {
                next.conv(*c)?.delete(*seq, NOW).map_err(|e| refused("delete", e))?;
                Ack::Done
            }
            Op::EditMany { items } => {
                for (c, seq, text) in items {
                    next.conv(*c)?.edit(*seq, text.clone(), NOW).map_err(|e| refused("edit", e))?;
                }
                Ack::Done
            }
            Op::DeleteMany { items } => {
                let unique: std::collections::BTreeSet<(u64, u64)> = items.iter().copied().collect();
                for (c, seq) in unique {
                    next.conv(c)?.delete(seq, NOW).map_err(|e| refused("delete", e))?;
                }
                Ack::Done
            }
            Op::MarkRead { c, seq } => {
                next.conv(*c)?.mark_read(*seq).map_err(|e| refused("read marker", e))?;
                Ack::Done
            }
            Op::Create { ext, title } => {
                match next.convs.iter().find(|(_, c)| ext.is_some() && c.ext == *ext) {
                    Some((&id, _)) => Ack::Exists(id),
                    None => {
                        next.max_id += 1;
                        let conv =
                            MConv { ext: ext.clone(), title: title.clone(), next_seq: 1, ..MConv::default() };
                        next.convs.insert(next.max_id, conv);
                        Ack::Created(next.max_id)
                    }
                }
            }
            Op::DeleteConversation { c } => {
                next.convs.remove(c).ok_or("delete of a missing conversation")?;
                Ack::Done
            }
            Op::Rotate { .. } | Op::Compact { .. } => Ack::Done,
            Op::RotateMaster { .. } => {
                let to = rotation.ok_or("a master-key rotation without its outcome")?;
                next.rotated(to)?;
                Ack::Rotated(to)
            }
            Op::Import => {
                let (mut created, mut matched, mut added) = (0, 0, 0);
                for a in archive {
                    match next.convs.values_mut().find(|c| c.ext == a.ext) {
                        Some(c) => {
                            // Messages whose external id it no longer knows
                            // (deleted before a master-key rotation) are
                            // added again, after what it holds.
                            for (&seq, m) in &a.messages {
                                let ext = m.ext.clone().unwrap_or_default();
                                if c.refs.contains_key(&ext) {
                                    continue;
                                }
                                let at = seq.max(c.next_seq);
                                c.messages.insert(at, m.clone());
                                c.refs.insert(ext, at);
                                c.next_seq = at + 1;
                                added += 1;
                            }
                            matched += 1;
                        }
                        None => {
                            next.max_id += 1;
                            next.convs.insert(next.max_id, a.clone());
                            created += 1;
                            added += a.messages.len() as u64;
                        }
                    }
                }
                Ack::Imported { created, matched, added }
            }
        };
        Ok((next, ack))
    }
}

/// What the store shows, in the model's terms.
pub fn observe(store: &Store, context: &str) -> BTreeMap<u64, Seen> {
    let mut out = BTreeMap::new();
    let list = store.conversations().unwrap_or_else(|e| panic!("{context}: listing conversations: {e}"));
    for s in list {
        let c = s.conversation.id;
        let msgs = store
            .messages(c, Page::oldest(usize::MAX))
            .unwrap_or_else(|e| panic!("{context}: reading conversation {c}: {e}"))
            .into_iter()
            .map(|m| {
                let seen = MsgM {
                    ext: m.external_id,
                    sender: m.sender,
                    sent_at: m.sent_at_ms,
                    text: m.text,
                    edited: m.edited_at_ms.is_some(),
                };
                (m.id.seq(), seen)
            })
            .collect();
        let seen = Seen {
            ext: s.conversation.external_id,
            title: s.conversation.title,
            msgs,
            read_up_to: s.conversation.read_up_to.map(MessageId::seq),
            message_count: s.conversation.message_count,
            unread: s.unread_count,
            last: s.last_message.map(|m| (m.id.seq(), m.text)),
        };
        out.insert(c.get(), seen);
    }
    out
}

/// Where two views of the store differ, briefly.
pub fn differences(got: &BTreeMap<u64, Seen>, want: &BTreeMap<u64, Seen>) -> String {
    let mut out = Vec::new();
    for id in got.keys().chain(want.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (got.get(id), want.get(id)) {
            (Some(_), None) => out.push(format!("conversation {id} exists but should not")),
            (None, Some(_)) => out.push(format!("conversation {id} is missing")),
            (Some(g), Some(w)) if g != w => {
                for seq in g.msgs.keys().chain(w.msgs.keys()).collect::<std::collections::BTreeSet<_>>() {
                    if g.msgs.get(seq) != w.msgs.get(seq) {
                        out.push(format!(
                            "conversation {id} message {seq}: store {:?}, model {:?}",
                            g.msgs.get(seq),
                            w.msgs.get(seq)
                        ));
                    }
                }
                if (g.read_up_to, g.message_count, g.unread, &g.last, &g.title, &g.ext)
                    != (w.read_up_to, w.message_count, w.unread, &w.last, &w.title, &w.ext)
                {
                    out.push(format!(
                        "conversation {id}: store (read {:?}, count {}, unread {}, last {:?}), model (read {:?}, count {}, unread {}, last {:?})",
                        g.read_up_to, g.message_count, g.unread, g.last, w.read_up_to, w.message_count, w.unread, w.last
                    ));
                }
            }
            _ => {}
        }
    }
    out.join("\n")
}

/// Builds the archive the child imports, from a store of its own, and the
/// model of what it holds.
pub fn make_archive(dir: &Path) -> (PathBuf, Archive) {
    let source = Store::create(dir.join("source.chatvault"), StoreKey::raw([9; 32])).unwrap();
    let mut rng = Rng::new(7);
    let mut archive = Archive::new();
    for (k, n) in [(0, 40u64), (1, 25)] {
        let ext = format!("imp-{k}");
        let c = source
            .create_conversation(NewConversation {
                external_id: Some(ext.clone()),
                title: format!("imported {k}"),
                ..Default::default()
            })
            .unwrap();
        let msgs: Vec<Msg> = (0..n)
            .map(|i| Msg {
                ext: Some(format!("imp-{k}-m{i}")),
                sender: rng.pick(&["eve", "fay"]).to_string(),
                sent_at: 1_600_000_000_000 + i as i64 * 1000,
                text: chatvault_corpus::text(&mut rng),
            })
            .collect();
        let batch: Vec<_> = msgs.iter().map(|m| (c, new_message(m))).collect();
        source.append_batch(&batch).unwrap();
        // A gap and an edit, neither at the end (which fixes next_seq).
        source.delete_message(MessageId::new(c, 5)).unwrap();
        source.edit_message(MessageId::new(c, 3), "edited at the source").unwrap();
        // The same history, through the model's rules.
        let mut conv =
            MConv { ext: Some(ext), title: format!("imported {k}"), next_seq: 1, ..MConv::default() };
        let news: Vec<NewMessage> = msgs.iter().map(new_message).collect();
        conv.append(c, &news.iter().collect::<Vec<_>>()).unwrap();
        conv.delete(5, NOW).unwrap();
        conv.edit(3, "edited at the source".into(), NOW).unwrap();
        archive.push(conv);
    }
    let path = dir.join("archive.cvarchive");
    source.export_to_file(&path, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
    (path, archive)
}

/// Checks the reopened store against the model: `verify`, every
/// conversation and message as the model has it, and external ids found.
pub fn check(store: &Store, model: &Model, context: &str) {
    let report = store.verify().expect("verify runs");
    assert!(report.is_ok(), "{context}: verify found {:#?}", report.problems);
    let got = observe(store, context);
    let want = model.seen();
    assert!(got == want, "{context}: the store differs from the model:\n{}", differences(&got, &want));
    for (&id, c) in &model.convs {
        if let Some(ext) = &c.ext {
            assert_eq!(
                store.find_conversation(ext).unwrap(),
                Some(ConversationId::from_raw(id)),
                "{context}"
            );
        }
    }
}

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How an operation that was interrupted (by a kill, an I/O error or a power
/// loss) turned out, as found after recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InFlight {
    /// Entirely applied.
    Applied,
    /// Entirely absent.
    Absent,
    /// Nothing to see either way (compaction, a key rotation, a re-delivery).
    Invisible,
}

/// Tallies of interrupted operations, by kind: (applied, absent, invisible).
pub type Tally = BTreeMap<&'static str, (u64, u64, u64)>;

/// Counts how an interrupted `op` turned out.
pub fn tally(t: &mut Tally, op: &Op, outcome: InFlight) {
    let counts = t.entry(op.kind()).or_default();
    match outcome {
        InFlight::Applied => counts.0 += 1,
        InFlight::Absent => counts.1 += 1,
        InFlight::Invisible => counts.2 += 1,
    }
}

/// The tallies summed over every kind: (applied, absent, invisible).
pub fn tally_totals(t: &Tally) -> (u64, u64, u64) {
    t.values().fold((0, 0, 0), |(a, b, c), &(x, y, z)| (a + x, b + y, c + z))
}

impl Model {
    /// Adopts an operation the store acknowledged with `ack`, which must be
    /// what the model predicts.
    pub fn acknowledge(&mut self, op: &Op, ack: &Ack, archive: &Archive, context: &str) {
        let rotation = match ack {
            Ack::Rotated(r) => Some(*r),
            _ => None,
        };
        let (next, want) =
            self.predict(op, archive, rotation).unwrap_or_else(|e| panic!("{context}: {e} for {op:?}"));
        assert_eq!(*ack, want, "{context}: {} returned {ack:?}, the model says {want:?}", op.kind());
        *self = next;
    }

    /// Settles an interrupted operation against the recovered store: it must
    /// be entirely applied or entirely absent, and the model adopts which.
    /// `on_disk` is where the master-key rotation stands in the file.
    pub fn settle(
        &mut self,
        op: &Op,
        store: &Store,
        on_disk: Rotation,
        archive: &Archive,
        context: &str,
    ) -> InFlight {
        let rotation = matches!(op, Op::RotateMaster { .. }).then_some(on_disk);
        let (applied, _) =
            self.predict(op, archive, rotation).unwrap_or_else(|e| panic!("{context}: {e} for {op:?}"));
        let got = observe(store, context);
        if applied.seen() == self.seen() {
            assert!(
                got == self.seen(),
                "{context}: {} in flight changes nothing visible, yet the store differs:\n{}",
                op.kind(),
                differences(&got, &self.seen())
            );
            // A master-key rotation moved on, or did not; either way the
            // model follows what the file says.
            *self = applied;
            InFlight::Invisible
        } else if got == self.seen() {
            InFlight::Absent
        } else if got == applied.seen() {
            *self = applied;
            InFlight::Applied
        } else {
            panic!(
                "{context}: {} in flight is half applied.\nAgainst the store before it:\n{}\nAgainst the store after it:\n{}",
                op.kind(),
                differences(&got, &self.seen()),
                differences(&got, &applied.seen())
            );
        }
    }
}

/// Reopens the store after an interruption, with exactly one of the root
/// keys: the model's, unless a master-key rotation in flight (`pending`)
/// committed its last step. Returns the store and where the rotation stands.
pub fn reopen(path: &Path, model: &Model, pending: Option<&Op>, context: &str) -> (Store, Rotation) {
    let (store, opened) = open_either(path).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let on_disk = Rotation::read(path);
    let expected = on_disk.generation + u64::from(on_disk.through.is_some());
    assert_eq!(opened, expected % 2, "{context}: opened with the key of {on_disk:?}");
    let other = key_for(expected + 1);
    assert!(
        matches!(Store::open(path, StoreKey::raw(other)), Err(Error::WrongKey)),
        "{context}: both root keys open the store"
    );
    if !matches!(pending, Some(Op::RotateMaster { .. })) {
        assert_eq!(on_disk, model.rotation, "{context}: the rotation moved without a rotation in flight");
    }
    (store, on_disk)
}
