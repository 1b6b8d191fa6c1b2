//! Many threads on one store: readers page while writers append, edit and
//! delete, with no errors and no torn reads; and a load test of 8 threads on
//! two handles of one file for a bounded time (3 s, `CHATVAULT_LOAD_SECS`
//! for longer), which no `Error::Busy` may reach.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use chatvault::{ConversationId, Message, MessageId, NewConversation, NewMessage, Page, Store, StoreKey};
use chatvault_corpus::Rng;
use common::{TestStore, msg};

fn expected_text(seq: u64) -> String {
    format!("message {seq} 消息 {}", "·".repeat((seq % 17) as usize))
}

/// A page is consistent: oldest first, consecutive sequence numbers (nothing
/// is deleted from these conversations), and each text the one written.
fn check_page(page: &[Message]) {
    for w in page.windows(2) {
        assert_eq!(w[0].id.seq() + 1, w[1].id.seq(), "torn page: {:?} then {:?}", w[0].id, w[1].id);
    }
    for m in page {
        assert_eq!(m.text, expected_text(m.id.seq()), "wrong text for {}", m.id);
    }
}

#[test]
fn readers_page_while_writers_append_edit_and_delete() {
    let t = Arc::new(TestStore::new());
    let convs: Vec<ConversationId> = (0..2).map(|i| t.new_conv(&format!("c{i}"))).collect();
    let written: Arc<Vec<AtomicU64>> = Arc::new(convs.iter().map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    const PER_WRITER: u64 = 1500;

    let mut writers = Vec::new();
    for (w, &c) in convs.iter().enumerate() {
        let (t, written) = (Arc::clone(&t), Arc::clone(&written));
        writers.push(thread::spawn(move || {
            let mut seq = 0;
            while seq < PER_WRITER {
                // Alternate single appends and small batches.
                let n = if seq % 3 == 0 { 1 } else { 1 + seq % 7 }.min(PER_WRITER - seq);
                let batch: Vec<_> = (1..=n).map(|k| (c, msg("w", &expected_text(seq + k)))).collect();
                let ids = t.append_batch(&batch).unwrap();
                assert_eq!(ids.last().unwrap().seq(), seq + n);
                seq += n;
                written[w].store(seq, Ordering::Release);
            }
        }));
    }
    // A third writer churns other conversations: creates, fills, edits and
    // deletes them, each delete scrubbing the WAL while readers are active.
    let churn = {
        let (t, stop) = (Arc::clone(&t), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Acquire) {
                let c = t.create_conversation(NewConversation::default()).unwrap();
                let ids = t
                    .append_batch(&(0..20).map(|i| (c, msg("x", &format!("{i}")))).collect::<Vec<_>>())
                    .unwrap();
                t.edit_message(ids[3], "edited").unwrap();
                t.delete_message(ids[4]).unwrap();
                t.delete_conversation(c).unwrap();
                rounds += 1;
            }
            rounds
        })
    };

    let mut readers = Vec::new();
    for r in 0..4 {
        let (t, written, stop, convs) =
            (Arc::clone(&t), Arc::clone(&written), Arc::clone(&stop), convs.clone());
        readers.push(thread::spawn(move || {
            let mut pages = 0u64;
            while !stop.load(Ordering::Acquire) {
                let w = (pages as usize + r) % convs.len();
                let c = convs[w];
                let floor = written[w].load(Ordering::Acquire);
                let latest = t.messages(c, Page::latest(40)).unwrap();
                check_page(&latest);
                // Everything acknowledged before the read is visible.
                assert!(latest.last().map_or(0, |m| m.id.seq()) >= floor);
                if let Some(first) = latest.first() {
                    let older = t.messages(c, Page::before(first.id, 40)).unwrap();
                    check_page(&older);
                    if let Some(o) = older.last() {
                        assert_eq!(o.id.seq() + 1, first.id.seq());
                    }
                }
                let list = t.conversations().unwrap();
                assert!(list.len() >= 2);
                pages += 1;
            }
            pages
        }));
    }

    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    let pages: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let rounds = churn.join().unwrap();
    assert!(pages > 0 && rounds > 0);

    for &c in &convs {
        let all = t.messages(c, Page::latest(10_000)).unwrap();
        assert_eq!(all.len() as u64, PER_WRITER);
        check_page(&all);
    }
}

/// How long the load test runs: 3 s by default, `CHATVAULT_LOAD_SECS` for
/// longer (e.g. `CHATVAULT_LOAD_SECS=120 cargo test --test concurrency`).
fn load_duration() -> Duration {
    let secs = std::env::var("CHATVAULT_LOAD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

/// The text of writer `w`'s `k`-th message.
fn load_text(w: u64, k: u64) -> String {
    format!("w{w} n{k} 消息 {}", "·".repeat((k % 13) as usize))
}

/// Its external id: every other message has one.
fn load_ext(w: u64, k: u64) -> Option<String> {
    k.is_multiple_of(2).then(|| format!("w{w}-{k}"))
}

fn parse_load_text(text: &str) -> Option<(u64, u64)> {
    let mut words = text.split(' ');
    let w = words.next()?.strip_prefix('w')?.parse().ok()?;
    let k = words.next()?.strip_prefix('n')?.parse().ok()?;
    Some((w, k))
}

/// A page of the load test is consistent: oldest first with consecutive
/// sequence numbers (nothing is deleted), every message exactly as its
/// writer wrote it, and each writer's messages in the order it wrote them.
fn check_load_page(page: &[Message]) {
    for w in page.windows(2) {
        assert_eq!(w[0].id.seq() + 1, w[1].id.seq(), "torn page: {} then {}", w[0].id, w[1].id);
    }
    let mut last_k: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for m in page {
        let (w, k) = parse_load_text(&m.text).unwrap_or_else(|| panic!("{} has text {:?}", m.id, m.text));
        assert_eq!(m.text, load_text(w, k), "text of {}", m.id);
        assert_eq!(m.external_id, load_ext(w, k), "external id of {}", m.id);
        if let Some(prev) = last_k.insert(w, k) {
            assert!(prev < k, "writer {w}'s message {k} at {} comes after its message {prev}", m.id);
        }
    }
}

/// Fails the test with what was called, on which handle, if `r` is an error
/// (a `Busy` here is the "database is locked" this test looks for).
fn ok<T>(r: chatvault::Result<T>, what: &str, handle: char) -> T {
    r.unwrap_or_else(|e| panic!("{what} on handle {handle} failed: {e} ({e:?})"))
}

/// Load: 8 threads at once on one store file for a bounded time, half of
/// them through a second `Store` opened on the same path (as another
/// process would, with its own SQLite connections: where `SQLITE_BUSY`
/// comes from). Four append (single messages and batches, across three
/// shared conversations, re-delivering earlier external ids now and then,
/// also ones the other handle wrote) and four page (latest, deep walks back
/// and forth, single messages, the conversation list). Every call must
/// succeed: no `Error::Busy` ("database is locked") ever reaches the caller.
/// Then every acknowledged message must be present exactly once, in order,
/// with counts, last messages and `verify` agreeing.
///
/// Runs 3 s (`CHATVAULT_LOAD_SECS` for longer), alongside the other test in
/// this file.
#[test]
fn eight_threads_on_two_handles_append_and_page_without_busy_errors() {
    let t = Arc::new(TestStore::new());
    let other = Store::open_with(&t.path, StoreKey::raw(common::KEY), common::options(&t.clock)).unwrap();
    let (a, b) = (Handle::A(Arc::clone(&t)), Handle::B(Arc::new(other)));
    let convs: Arc<Vec<ConversationId>> = Arc::new((0..3).map(|i| t.new_conv(&format!("load{i}"))).collect());
    // Per conversation, the highest sequence number acknowledged so far.
    let acked_floor: Arc<Vec<AtomicU64>> = Arc::new(convs.iter().map(|_| AtomicU64::new(0)).collect());
    // External ids acknowledged so far, with their messages, for re-delivery.
    let delivered: Arc<Mutex<Vec<(String, MessageId)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let mut appenders = Vec::new();
    for (w, (handle, batches)) in [(&a, false), (&a, true), (&b, false), (&b, true)].into_iter().enumerate() {
        let w = w as u64;
        let (h, convs, floor, delivered, stop) = (
            handle.clone(),
            Arc::clone(&convs),
            Arc::clone(&acked_floor),
            Arc::clone(&delivered),
            Arc::clone(&stop),
        );
        appenders.push(thread::spawn(move || {
            let mut rng = Rng::new(w);
            let mut acked: Vec<(MessageId, u64)> = Vec::new();
            let (mut k, mut redelivered) = (0u64, 0u64);
            while !stop.load(Ordering::Acquire) {
                if rng.below(10) == 0 {
                    // A sync retry: an id acknowledged before, maybe by the other handle.
                    let known = {
                        let d = delivered.lock().unwrap();
                        (!d.is_empty()).then(|| d[rng.below(d.len() as u64) as usize].clone())
                    };
                    if let Some((ext, id)) = known {
                        let again = NewMessage { external_id: Some(ext.clone()), ..msg("again", "again") };
                        let got = ok(h.append(id.conversation(), again), "re-delivery", h.name());
                        assert_eq!(got, id, "re-delivering {ext} on handle {}", h.name());
                        redelivered += 1;
                        continue;
                    }
                }
                let n = if batches { 1 + rng.below(8) } else { 1 };
                let batch: Vec<(ConversationId, NewMessage)> = (k..k + n)
                    .map(|k| {
                        let c = convs[rng.below(convs.len() as u64) as usize];
                        let m = NewMessage {
                            external_id: load_ext(w, k),
                            ..msg(&format!("w{w}"), &load_text(w, k))
                        };
                        (c, m)
                    })
                    .collect();
                let ids = if batches {
                    ok(h.append_batch(&batch), "append_batch", h.name())
                } else {
                    let (c, m) = batch[0].clone();
                    vec![ok(h.append(c, m), "append", h.name())]
                };
                for (i, id) in ids.into_iter().enumerate() {
                    let ck = k + i as u64;
                    let slot = convs.iter().position(|&c| c == id.conversation()).unwrap();
                    floor[slot].fetch_max(id.seq(), Ordering::AcqRel);
                    if let Some(ext) = load_ext(w, ck) {
                        delivered.lock().unwrap().push((ext, id));
                    }
                    acked.push((id, ck));
                }
                k += n;
            }
            (w, acked, redelivered)
        }));
    }

    let mut pagers = Vec::new();
    for (r, handle) in [&a, &a, &b, &b].into_iter().enumerate() {
        let (h, convs, floor, stop) =
            (handle.clone(), Arc::clone(&convs), Arc::clone(&acked_floor), Arc::clone(&stop));
        pagers.push(thread::spawn(move || {
            let mut rng = Rng::new(100 + r as u64);
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) {
                let slot = rng.below(convs.len() as u64) as usize;
                let c = convs[slot];
                let before = floor[slot].load(Ordering::Acquire);
                let latest =
                    ok(h.messages(c, Page::latest(1 + rng.below(60) as usize)), "latest page", h.name());
                check_load_page(&latest);
                // Everything acknowledged before the read began is visible.
                assert!(
                    latest.last().map_or(0, |m| m.id.seq()) >= before,
                    "page misses acknowledged messages"
                );
                reads += 1;
                match r {
                    // Deep: walk back to the start, then forth again.
                    0 | 2 => {
                        let mut anchor = latest.first().map(|m| m.id);
                        while let Some(m) = anchor {
                            let older = ok(h.messages(c, Page::before(m, 50)), "page before", h.name());
                            check_load_page(&older);
                            if let Some(o) = older.last() {
                                assert_eq!(o.id.seq() + 1, m.seq(), "gap before {m}");
                            }
                            anchor = older.first().map(|m| m.id);
                            reads += 1;
                        }
                        let mut page = ok(h.messages(c, Page::oldest(50)), "oldest page", h.name());
                        while let Some(last) = page.last().map(|m| m.id) {
                            check_load_page(&page);
                            page = ok(h.messages(c, Page::after(last, 50)), "page after", h.name());
                            if let Some(n) = page.first() {
                                assert_eq!(last.seq() + 1, n.id.seq(), "gap after {last}");
                            }
                            reads += 1;
                        }
                    }
                    // Single messages, pages around them, and the list.
                    _ => {
                        if before > 0 {
                            let id = MessageId::new(c, 1 + rng.below(before));
                            let m = ok(h.message(id), "message", h.name());
                            check_load_page(std::slice::from_ref(&m));
                            let around = ok(h.messages(c, Page::after(id, 20)), "page after", h.name());
                            check_load_page(&around);
                            if let Some(n) = around.first() {
                                assert_eq!(n.id.seq(), id.seq() + 1, "gap after {id}");
                            }
                            assert!(id.seq() == before || !around.is_empty(), "nothing after {id}");
                        }
                        let list = ok(h.conversations(), "conversation list", h.name());
                        assert_eq!(list.len(), convs.len());
                        for s in &list {
                            let last = s.last_message.as_ref().map_or(0, |m| m.id.seq());
                            assert_eq!(s.conversation.message_count, last, "count of {}", s.conversation.id);
                        }
                        reads += 2;
                    }
                }
            }
            reads
        }));
    }

    thread::sleep(load_duration());
    stop.store(true, Ordering::Release);
    let mut want: BTreeMap<ConversationId, BTreeMap<u64, (u64, u64)>> = BTreeMap::new();
    let mut appended = Vec::new();
    let mut redelivered = 0;
    for j in appenders {
        let (w, acked, again) = j.join().expect("an appender failed");
        assert!(!acked.is_empty(), "writer {w} appended nothing");
        appended.push(acked.len());
        redelivered += again;
        for (id, k) in acked {
            let prev = want.entry(id.conversation()).or_default().insert(id.seq(), (w, k));
            assert!(prev.is_none(), "{id} acknowledged twice: {prev:?} and {:?}", (w, k));
        }
    }
    let reads: u64 = pagers.into_iter().map(|j| j.join().expect("a pager failed")).sum();
    assert!(reads > 0);

    for h in [&a, &b] {
        let report = ok(h.verify(), "verify", h.name());
        assert!(report.is_ok(), "verify found {:#?}", report.problems);
        for s in ok(h.conversations(), "conversation list", h.name()) {
            let c = s.conversation.id;
            let all = ok(h.messages(c, Page::oldest(usize::MAX)), "all messages", h.name());
            check_load_page(&all);
            let got: BTreeMap<u64, (u64, u64)> =
                all.iter().map(|m| (m.id.seq(), parse_load_text(&m.text).unwrap())).collect();
            let expected = want.get(&c).cloned().unwrap_or_default();
            assert_eq!(got, expected, "conversation {c} holds exactly the acknowledged messages");
            assert_eq!(s.conversation.message_count, expected.len() as u64);
            assert_eq!(s.unread_count, expected.len() as u64);
            assert_eq!(s.last_message.map(|m| m.id.seq()), expected.keys().next_back().copied());
        }
    }
    eprintln!(
        "load: messages appended per writer (A single, A batch, B single, B batch) {appended:?}, \
         {redelivered} re-deliveries, {reads} reads, no errors"
    );
}

/// A store handle of the load test: the test's own, or a second one opened
/// on the same file.
#[derive(Clone)]
enum Handle {
    A(Arc<TestStore>),
    B(Arc<Store>),
}

impl Handle {
    fn name(&self) -> char {
        match self {
            Handle::A(_) => 'A',
            Handle::B(_) => 'B',
        }
    }
}

impl std::ops::Deref for Handle {
    type Target = Store;
    fn deref(&self) -> &Store {
        match self {
            Handle::A(t) => t,
            Handle::B(s) => s,
        }
    }
}
