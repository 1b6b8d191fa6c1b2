//! Many threads on one store: readers page while writers append, edit and
//! delete, with no errors and no torn reads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use chatvault::{ConversationId, Message, NewConversation, Page};
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
