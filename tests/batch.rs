//! `edit_messages` and `delete_messages`: many messages, any conversations,
//! one transaction, one scrub (docs/DESIGN.md, "Deletion and scrubbing").
//!
//! Every test here runs on the fault-injecting VFS (installed as the
//! process's default, passing calls through unless a fault is armed), so
//! the scrub test can count the WAL truncations a call makes; a lock keeps
//! the tests of this file from running at the same time as that count.

mod common;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chatvault::{ConversationId, Error, MessageId, NewMessage, Page};
use chatvault_faultvfs as vfs;
use common::{TestStore, contains, disk_bytes, msg};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    vfs::install();
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Three conversations of 120 messages each, appended in batches of 40 so
/// that segments hold several messages.
fn three_conversations(t: &TestStore) -> Vec<(ConversationId, Vec<MessageId>)> {
    let convs: Vec<ConversationId> = ["a", "b", "c"].iter().map(|n| t.new_conv(n)).collect();
    let mut ids: BTreeMap<ConversationId, Vec<MessageId>> = BTreeMap::new();
    for round in 0..3 {
        let batch: Vec<(ConversationId, NewMessage)> = (0..40)
            .flat_map(|i| {
                convs.iter().map(move |&c| (c, msg("s", &format!("round {round} line {i} of {c}"))))
            })
            .collect();
        for id in t.append_batch(&batch).unwrap() {
            ids.entry(id.conversation()).or_default().push(id);
        }
    }
    ids.into_iter().collect()
}

fn texts(t: &TestStore, c: ConversationId) -> BTreeMap<u64, String> {
    t.messages(c, Page::latest(1000)).unwrap().into_iter().map(|m| (m.id.seq(), m.text)).collect()
}

fn segment_bodies(t: &TestStore) -> Vec<Vec<u8>> {
    let conn = t.raw_sql();
    let mut stmt = conn.prepare("SELECT body FROM segment").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_batch_changes_exactly_the_messages_it_names_across_conversations() {
    let _serial = serial();
    let t = TestStore::new();
    let convs = three_conversations(&t);
    let before: Vec<BTreeMap<u64, String>> = convs.iter().map(|(c, _)| texts(&t, *c)).collect();
    let (a, b, c) = (&convs[0].1, &convs[1].1, &convs[2].1);

    // Out of order, across conversations, several per segment; deleting
    // the whole first batch of `b` removes its segment rows entirely.
    let edits = vec![(c[5], "c five"), (a[90], "a ninety"), (a[3], "a three"), (c[6], "c six")];
    let deletes: Vec<MessageId> = b[..40].iter().copied().chain([a[4], c[119], a[4]]).collect();
    t.edit_messages(&edits).unwrap();
    t.delete_messages(&deletes).unwrap();

    let mut want = before.clone();
    for (m, text) in &edits {
        let i = convs.iter().position(|(c, _)| *c == m.conversation()).unwrap();
        want[i].insert(m.seq(), (*text).to_owned());
    }
    for m in &deletes {
        let i = convs.iter().position(|(c, _)| *c == m.conversation()).unwrap();
        want[i].remove(&m.seq());
    }
    for ((c, _), want) in convs.iter().zip(&want) {
        assert_eq!(&texts(&t, *c), want, "conversation {c}");
        assert_eq!(t.conversation(*c).unwrap().message_count, want.len() as u64);
    }
    for (m, _) in &edits {
        assert!(t.message(*m).unwrap().edited_at_ms.is_some(), "{m} is stamped edited");
    }
    assert!(t.message(a[2]).unwrap().edited_at_ms.is_none(), "a neighbour in the segment is not");
    let report = t.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // Empty batches are no-ops, not errors.
    t.edit_messages::<&str>(&[]).unwrap();
    t.delete_messages(&[]).unwrap();
}

#[test]
fn a_batch_with_one_bad_message_changes_nothing() {
    let _serial = serial();
    let t = TestStore::new();
    let convs = three_conversations(&t);
    let (a, b) = (&convs[0].1, &convs[1].1);
    let expiring = t
        .append(
            b[0].conversation(),
            NewMessage { expires_at_ms: Some(t.now() + 1000), ..msg("s", "soon gone") },
        )
        .unwrap();
    t.advance(2000);
    let bodies = segment_bodies(&t);
    let before: Vec<BTreeMap<u64, String>> = convs.iter().map(|(c, _)| texts(&t, *c)).collect();
    let missing = MessageId::new(a[0].conversation(), 9_999);
    let elsewhere = MessageId::new(ConversationId::from_raw(9_999), 1);
    let huge = "x".repeat(chatvault::limits::MAX_MESSAGE_BYTES + 1);

    let not_found = |r: chatvault::Result<()>| matches!(r, Err(Error::NotFound(_)));
    assert!(not_found(t.delete_messages(&[a[1], b[1], missing])));
    assert!(not_found(t.delete_messages(&[a[1], elsewhere])));
    assert!(not_found(t.delete_messages(&[b[2], expiring])), "an expired message is gone already");
    assert!(not_found(t.edit_messages(&[(a[1], "changed"), (missing, "x")])));
    assert!(not_found(t.edit_messages(&[(a[1], "changed"), (expiring, "x")])));
    assert!(matches!(
        t.edit_messages(&[(a[1], "changed"), (b[1], huge.as_str())]),
        Err(Error::TooLarge { .. })
    ));
    assert!(
        matches!(t.edit_messages(&[(a[1], "one"), (a[1], "two")]), Err(Error::InvalidArgument(_))),
        "which text would win?"
    );
    // A message deleted earlier in the same batch cannot be edited there either.
    assert!(not_found(
        t.delete_messages(&[a[7]]).and_then(|()| t.edit_messages(&[(a[8], "x"), (a[7], "y")]))
    ));

    let mut want = before;
    want[0].remove(&a[7].seq());
    let after: Vec<BTreeMap<u64, String>> = convs.iter().map(|(c, _)| texts(&t, *c)).collect();
    assert_eq!(after, want, "only the one good call changed anything");
    let unchanged = segment_bodies(&t).iter().filter(|b| bodies.contains(b)).count();
    assert_eq!(unchanged, bodies.len() - 1, "no sealed row but the one a[7] was in was rewritten");
}

#[test]
fn a_batch_scrubs_once_and_leaves_nothing_of_the_old_texts() {
    let _serial = serial();
    let t = TestStore::new();
    let convs = three_conversations(&t);
    let bodies = segment_bodies(&t);
    let before = disk_bytes(&t.path);
    assert!(bodies.iter().all(|b| contains(&before, &b[..16])), "the test can fail: the rows are on disk");

    // What one delete costs in WAL truncations (each scrub ends in one).
    let truncations = |f: &dyn Fn()| {
        let start = vfs::totals().truncates;
        f();
        vfs::totals().truncates - start
    };
    let one = truncations(&|| t.delete_message(convs[0].1[0]).unwrap());
    assert!(one >= 1, "a delete scrubs");
    // 100 edits and 100 deletes, in every segment of every conversation.
    let edits: Vec<(MessageId, String)> =
        convs.iter().flat_map(|(_, ids)| ids[1..35].iter().map(|&m| (m, format!("edited {m}")))).collect();
    let deletes: Vec<MessageId> = convs.iter().flat_map(|(_, ids)| ids[60..94].iter().copied()).collect();
    assert!(edits.len() >= 100 && deletes.len() >= 100);
    assert_eq!(
        truncations(&|| t.edit_messages(&edits).unwrap()),
        one,
        "100 edits scrub as often as one delete"
    );
    assert_eq!(truncations(&|| t.delete_messages(&deletes).unwrap()), one, "and so do 100 deletes");

    let after = disk_bytes(&t.path);
    let mut survivors = 0;
    for b in &bodies {
        survivors += b.chunks_exact(16).filter(|p| contains(&after, p)).count();
    }
    assert_eq!(survivors, 0, "no 16-byte piece of a rewritten segment survives in the file or the WAL");
    for (m, text) in &edits {
        assert_eq!(&t.message(*m).unwrap().text, text);
    }
}
