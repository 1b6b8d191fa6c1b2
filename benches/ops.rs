//! The rest of the API against plaintext SQLite, on the same data in the
//! same run: the conversation list of a 10,000-conversation store, editing
//! and deleting messages, deleting a conversation, and opening a store with
//! a raw key and with a passphrase. `cargo bench --bench ops`;
//! `scripts/ratios.py` prints the ratios.
//!
//! Every chatvault write here runs at the default `Durability::Full`, and
//! the plaintext baseline at `synchronous = FULL`. chatvault's edits and
//! deletes also scrub the old text from the file and the WAL before they
//! return (a checkpoint); the baseline leaves it in free pages and the WAL,
//! as SQLite does by default.

#[path = "common/plain.rs"]
mod plain;
#[path = "common/setup.rs"]
mod setup;

use chatvault::{Durability, MessageId, NewConversation, Page, Store, StoreKey};
use chatvault_corpus::MessageSpec;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plain::Plain;
use setup::{SEED, new_message, options, plain_new};

/// 10,000 conversations of 5 messages each; the app's first screen is the
/// 50 most recent, and a full list is what a search or a backup walks.
fn list(c: &mut Criterion) {
    let convs = chatvault_corpus::conversations(SEED, 10_000, 50_000);
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::create_with(dir.path().join("cv"), StoreKey::raw([7; 32]), options(Durability::Full)).unwrap();
    let mut plain = Plain::create(&dir.path().join("plain"), "FULL");
    for chunk in convs.chunks(200) {
        let mut batch = Vec::new();
        let mut pbatch = Vec::new();
        let specs: Vec<(i64, Vec<MessageSpec>)> = chunk
            .iter()
            .map(|spec| {
                let id = store.create_conversation(setup::inputs::new_conversation(spec)).unwrap();
                let msgs: Vec<MessageSpec> = chatvault_corpus::messages(spec).take(5).collect();
                batch.extend(msgs.iter().map(|m| (id, new_message(m, 0))));
                let p = plain.create_conversation(
                    &spec.external_id,
                    &spec.title,
                    &spec.members.join(","),
                    spec.created_at_ms,
                );
                (p, msgs)
            })
            .collect();
        store.append_batch(&batch).unwrap();
        pbatch.extend(
            specs.iter().flat_map(|(p, msgs)| msgs.iter().map(|m| (*p, plain_new(m, &m.external_id)))),
        );
        plain.append_batch(&pbatch);
    }

    for limit in [50usize, 10_000] {
        let mut g = c.benchmark_group(format!("list_{limit}_of_10000"));
        g.throughput(Throughput::Elements(limit as u64));
        if limit > 50 {
            g.sample_size(20);
        }
        g.bench_function("chatvault", |b| {
            b.iter(|| {
                let got = store.recent_conversations(limit).unwrap();
                assert_eq!(got.len(), limit);
                got
            })
        });
        g.bench_function("sqlite", |b| {
            b.iter(|| {
                let got = plain.recent(limit as i64);
                assert_eq!(got.len(), limit);
                got
            })
        });
        g.finish();
    }

    // Deleting one conversation of 10,000 (5 messages, as the others): the
    // key table is rebuilt on every delete, so its cost grows with the
    // number of conversations (docs/DESIGN.md, "Deletion and scrubbing").
    let doomed: Vec<MessageSpec> = chatvault_corpus::messages(&convs[0]).take(5).collect();
    let plain = std::cell::RefCell::new(plain);
    let mut g = c.benchmark_group("delete_conversation_of_10000");
    g.sample_size(20);
    bench_delete_conversation(&mut g, &store, &plain, &doomed, "doomed");
    g.finish();
}

/// Edits and deletes in conversations written in sync batches of 50, and
/// deleting a 1,000-message conversation. The history deletes run out after
/// 50,000 iterations, far more than criterion takes at these speeds.
fn edit_delete(c: &mut Criterion) {
    let spec = chatvault_corpus::conversations(SEED, 1, 10_000).remove(0);
    let msgs: Vec<MessageSpec> = chatvault_corpus::messages(&spec).collect();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::create_with(dir.path().join("cv"), StoreKey::raw([7; 32]), options(Durability::Full)).unwrap();
    let mut plain = Plain::create(&dir.path().join("plain"), "FULL");
    let conv = store.create_conversation(NewConversation::default()).unwrap();
    let p = plain.create_conversation("p", "p", "", 0);
    for chunk in msgs.chunks(50) {
        let batch: Vec<_> = chunk.iter().map(|m| (conv, new_message(m, 0))).collect();
        store.append_batch(&batch).unwrap();
        let batch: Vec<_> = chunk.iter().map(|m| (p, plain_new(m, &m.external_id))).collect();
        plain.append_batch(&batch);
    }
    let texts = ["edited: see you at 8 instead 🙂", "édité : à 20 h plutôt", "改成八点见"];

    let mut g = c.benchmark_group("edit_message");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("chatvault", |b| {
        b.iter(|| {
            i += 1;
            store.edit_message(MessageId::new(conv, 1 + i * 7 % 10_000), texts[i as usize % 3]).unwrap()
        })
    });
    let mut i = 0u64;
    g.bench_function("sqlite", |b| {
        b.iter(|| {
            i += 1;
            plain.edit(p, (1 + i * 7 % 10_000) as i64, texts[i as usize % 3], 1_800_000_000_000)
        })
    });
    g.finish();

    // Deletes of messages in history, oldest first, each from a 50-message
    // segment that is then resealed without it.
    let hist = store.create_conversation(NewConversation::default()).unwrap();
    let ph = plain.create_conversation("history", "history", "", 0);
    for round in 0..5 {
        for chunk in msgs.chunks(50) {
            let batch: Vec<_> = chunk.iter().map(|m| (hist, new_message(m, round))).collect();
            store.append_batch(&batch).unwrap();
            let exts: Vec<String> = chunk.iter().map(|m| format!("{}#{round}", m.external_id)).collect();
            let batch: Vec<_> = chunk.iter().zip(&exts).map(|(m, e)| (ph, plain_new(m, e))).collect();
            plain.append_batch(&batch);
        }
    }
    let mut g = c.benchmark_group("delete_message_in_history");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    let mut seq = 0;
    g.bench_function("chatvault", |b| {
        b.iter(|| {
            seq += 1;
            store.delete_message(MessageId::new(hist, seq)).unwrap()
        })
    });
    let mut seq = 0;
    g.bench_function("sqlite", |b| {
        b.iter(|| {
            seq += 1;
            plain.delete(ph, seq)
        })
    });
    g.finish();

    // A delete of a message just appended (the append is not timed): the
    // cheapest delete, a one-message segment removed whole.
    let plain = std::cell::RefCell::new(plain);
    let mut g = c.benchmark_group("delete_message_just_appended");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("chatvault", |b| {
        b.iter_batched(
            || {
                i += 1;
                store.append(conv, new_message(&msgs[i % msgs.len()], 1 + i / msgs.len())).unwrap()
            },
            |id| store.delete_message(id).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let mut i = 0;
    g.bench_function("sqlite", |b| {
        b.iter_batched(
            || {
                i += 1;
                let m = &msgs[i % msgs.len()];
                let ext = format!("{}#{}", m.external_id, 1 + i / msgs.len());
                plain.borrow_mut().append_batch(&[(p, plain_new(m, &ext))])[0]
            },
            |seq| plain.borrow_mut().delete(p, seq),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("delete_conversation_1000");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(20);
    bench_delete_conversation(&mut g, &store, &plain, &msgs[..1000], "del");
    g.finish();
}

/// Creating a conversation of `msgs` (not timed), then deleting it, in
/// chatvault and in plaintext SQLite (conversations named `prefix-N`).
fn bench_delete_conversation(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &Store,
    plain: &std::cell::RefCell<Plain>,
    msgs: &[MessageSpec],
    prefix: &str,
) {
    g.bench_function("chatvault", |b| {
        b.iter_batched(
            || {
                let c = store.create_conversation(NewConversation::default()).unwrap();
                let batch: Vec<_> = msgs.iter().map(|m| (c, new_message(m, 0))).collect();
                store.append_batch(&batch).unwrap();
                c
            },
            |c| store.delete_conversation(c).unwrap(),
            BatchSize::PerIteration,
        )
    });
    let mut n = 0;
    g.bench_function("sqlite", |b| {
        b.iter_batched(
            || {
                n += 1;
                let c = plain.borrow().create_conversation(&format!("{prefix}-{n}"), "t", "", 0);
                let batch: Vec<_> = msgs.iter().map(|m| (c, plain_new(m, &m.external_id))).collect();
                plain.borrow_mut().append_batch(&batch);
                c
            },
            |c| plain.borrow_mut().delete_conversation(c),
            BatchSize::PerIteration,
        )
    });
}

/// Opening a 20,000-message store and reading its first page: a raw key,
/// a passphrase (Argon2id at the default parameters, which dominate by
/// design), and plaintext SQLite.
fn open(c: &mut Criterion) {
    let corpus = setup::corpus(20_000);
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    let pass = dir.path().join("pass");
    for (path, key) in
        [(&raw, StoreKey::raw([7; 32])), (&pass, StoreKey::passphrase("correct horse battery"))]
    {
        let (store, cids) = {
            let store = Store::create(path, key).unwrap();
            let ids: Vec<_> = corpus
                .convs
                .iter()
                .map(|_| store.create_conversation(NewConversation::default()).unwrap())
                .collect();
            (store, ids)
        };
        for chunk in corpus.stream.chunks(1000) {
            let batch: Vec<_> = chunk.iter().map(|(c, m)| (cids[*c], new_message(m, 0))).collect();
            store.append_batch(&batch).unwrap();
        }
        store.close().unwrap();
    }
    let (mut plain, pids) = setup::baseline(dir.path(), &corpus, Durability::Full);
    for chunk in corpus.stream.chunks(1000) {
        let batch: Vec<_> = chunk.iter().map(|(c, m)| (pids[*c], plain_new(m, &m.external_id))).collect();
        plain.append_batch(&batch);
    }
    drop(plain);

    let mut g = c.benchmark_group("open_and_read_page");
    g.bench_function(BenchmarkId::from_parameter("chatvault_raw_key"), |b| {
        b.iter(|| {
            let store = Store::open(&raw, StoreKey::raw([7; 32])).unwrap();
            let c = store.recent_conversations(1).unwrap()[0].conversation.id;
            assert!(!store.messages(c, Page::latest(50)).unwrap().is_empty());
            store.close().unwrap()
        })
    });
    g.bench_function(BenchmarkId::from_parameter("sqlite"), |b| {
        b.iter(|| {
            let plain = Plain::open(&dir.path().join("plain"), "FULL", None);
            let (c, ..) = plain.recent(1).remove(0);
            assert!(!plain.page(c, None, 50).is_empty());
            plain.conn.close().unwrap()
        })
    });
    g.sample_size(10);
    g.bench_function(BenchmarkId::from_parameter("chatvault_passphrase"), |b| {
        b.iter(|| {
            let store = Store::open(&pass, StoreKey::passphrase("correct horse battery")).unwrap();
            let c = store.recent_conversations(1).unwrap()[0].conversation.id;
            assert!(!store.messages(c, Page::latest(50)).unwrap().is_empty());
            store.close().unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, list, edit_delete, open);
criterion_main!(benches);
