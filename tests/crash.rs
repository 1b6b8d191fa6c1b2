//! Crash consistency of compaction: a child process compacts the store and
//! is killed with SIGKILL at a random moment, again and again; after each
//! kill the store must open, pass `verify`, and hold exactly the messages it
//! held before (less the expired ones, which reads never show). Each round
//! gives compaction plenty to do (merges, expired messages, an older key
//! epoch), in many small transactions, so kills land between and inside them.
//! `tests/crash_mixed.rs` kills every other kind of write (and says what a
//! SIGKILL does and does not test).
//!
//! `CHATVAULT_CRASH_ROUNDS` sets the number of kills (default 60, about 5 s
//! on a 2-core machine).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatvault::{
    CompactOptions, ConversationId, Durability, NewConversation, NewMessage, Page, Store, StoreKey,
    StoreOptions,
};
use chatvault_corpus::Rng;
use common::KEY;
use common::child::Child;

/// Set in the child's environment to the store's path.
const CHILD_ENV: &str = "CHATVAULT_CRASH_CHILD_STORE";

/// Not a test: the child process of `compaction_killed_at_random_points_loses_nothing`,
/// run by it (as `--ignored --exact crash_child_compactor`). It compacts in
/// small steps, reporting each, and then waits to be killed.
#[test]
#[ignore = "the crash test's child process; run by that test"]
fn crash_child_compactor() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(&path, StoreKey::raw(KEY)).expect("child: open");
    println!("ready");
    let report = store
        .compact(&CompactOptions::default().targets(4, 1 << 20).on_progress(|p| {
            println!("step {}", p.segments_rewritten);
        }))
        .expect("child: compact");
    println!("done {}", report.segments_rewritten);
    std::thread::sleep(Duration::from_secs(600));
}

type Model = BTreeMap<ConversationId, BTreeMap<u64, String>>;

fn check(store: &Store, model: &Model) {
    let report = store.verify().expect("verify runs");
    assert!(report.is_ok(), "verify found {:#?}", report.problems);
    for (&c, want) in model {
        let got: BTreeMap<u64, String> = store
            .messages(c, Page::oldest(usize::MAX))
            .expect("read")
            .into_iter()
            .map(|m| (m.id.seq(), m.text))
            .collect();
        assert_eq!(&got, want, "conversation {c}");
        assert_eq!(store.conversation(c).unwrap().message_count, want.len() as u64);
    }
}

/// Adds work for the next compaction: appends (some already expired),
/// deletes and edits, and sometimes a key rotation.
fn add_work(store: &Store, model: &mut Model, rng: &mut Rng, round: u64) {
    let convs: Vec<ConversationId> = model.keys().copied().collect();
    for i in 0..60u64 {
        let c = convs[rng.below(convs.len() as u64) as usize];
        let text = format!("round {round} message {i} {}", chatvault_corpus::text(rng));
        let expired = rng.below(8) == 0;
        let m = NewMessage {
            sender: "s".into(),
            sent_at_ms: 1_700_000_000_000,
            text: text.clone(),
            expires_at_ms: expired.then_some(1),
            ..Default::default()
        };
        let id = store.append(c, m).unwrap();
        if !expired {
            model.get_mut(&c).unwrap().insert(id.seq(), text);
        }
    }
    for _ in 0..3 {
        let c = convs[rng.below(convs.len() as u64) as usize];
        let seqs: Vec<u64> = model[&c].keys().copied().collect();
        if seqs.is_empty() {
            continue;
        }
        let seq = seqs[rng.below(seqs.len() as u64) as usize];
        let id = chatvault::MessageId::new(c, seq);
        if rng.below(2) == 0 {
            store.delete_message(id).unwrap();
            model.get_mut(&c).unwrap().remove(&seq);
        } else {
            let text = format!("edited in round {round}");
            store.edit_message(id, &text).unwrap();
            model.get_mut(&c).unwrap().insert(seq, text);
        }
    }
    if rng.below(4) == 0 {
        store.rotate_conversation_key(convs[rng.below(convs.len() as u64) as usize]).unwrap();
    }
}

#[test]
fn compaction_killed_at_random_points_loses_nothing() {
    let rounds: u64 = std::env::var("CHATVAULT_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.chatvault");
    let mut model = Model::new();
    {
        let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
        for i in 0..4 {
            let c = store
                .create_conversation(NewConversation { title: format!("c{i}"), ..Default::default() })
                .unwrap();
            model.insert(c, BTreeMap::new());
        }
    }
    let mut rng = Rng::new(0x00C0_FFEE);
    // The parent's own writes need not be durable until `close`, which
    // checkpoints them: skipping a sync per append keeps the rounds cheap.
    let setup = StoreOptions { durability: Durability::Normal, ..StoreOptions::default() };
    // How long the last child that finished took: the kills spread over it.
    let mut span = Duration::from_millis(5);
    let (mut mid_compaction, mut before_start) = (0, 0);
    for round in 0..rounds {
        let store = Store::open_with(&path, StoreKey::raw(KEY), setup.clone()).unwrap();
        check(&store, &model);
        add_work(&store, &mut model, &mut rng, round);
        store.close().unwrap();

        let mut child = Child::spawn("crash_child_compactor", &[(CHILD_ENV, path.display().to_string())]);
        child.wait_for("ready");
        let started = Instant::now();
        let delay = span.mul_f64(rng.below(1000) as f64 / 1000.0);
        std::thread::sleep(delay);
        let (_, rest) = child.kill();
        if rest.iter().any(|l| l.starts_with("done")) {
            // Finished before the kill: learn how long compaction takes.
            span = started.elapsed();
        } else if rest.iter().any(|l| l.starts_with("step")) {
            mid_compaction += 1;
        } else {
            before_start += 1;
            // Killed before anything committed: on a loaded machine the
            // first step may take longer than the span learned so far, so
            // reach further next time (the next finished child resets it).
            span = (span * 5 / 4).min(Duration::from_secs(2));
        }
    }
    let store = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    check(&store, &model);
    let report = store.compact(&CompactOptions::default()).unwrap();
    assert!(!report.work_remains);
    check(&store, &model);
    let during = mid_compaction + before_start;
    eprintln!(
        "{rounds} kills: {during} during compaction ({mid_compaction} after a committed step, \
         {before_start} before its first transaction committed)"
    );
    assert!(during * 2 >= rounds, "only {during} of {rounds} kills landed during a compaction");
    assert!(mid_compaction > 0 && before_start > 0, "kills landed both between and within steps");
}
