//! chatvault against plaintext SQLite on the same data in the same run:
//! burst ingest (1,000 messages per batch), single appends, and page reads
//! at the newest end and deep in history. `cargo bench --bench store`;
//! `scripts/ratios.py` turns criterion's output into the ratio table.

#[path = "common/plain.rs"]
mod plain;
#[path = "common/setup.rs"]
mod setup;

use chatvault::{Durability, NewConversation, Store, StoreKey};
use chatvault_corpus::MessageSpec;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use plain::Plain;
use setup::{BATCH, SEED, baseline, corpus, new_message, options, page_group, plain_new, sync_name, vault};

fn ingest(c: &mut Criterion) {
    let corpus = corpus(200_000);
    let mut g = c.benchmark_group("ingest_burst_1000");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(30);
    let dir = tempfile::tempdir().unwrap();
    let (store, cids) = vault(dir.path(), &corpus, Durability::Full);
    let (mut plain, pids) = baseline(dir.path(), &corpus, Durability::Full);
    let batches: Vec<&[(usize, MessageSpec)]> = corpus.stream.chunks(BATCH).collect();
    // Both start from the same 200,000-message store, then grow.
    for chunk in &batches {
        let batch: Vec<_> = chunk.iter().map(|(c, m)| (cids[*c], new_message(m, 0))).collect();
        store.append_batch(&batch).unwrap();
        let exts: Vec<String> = chunk.iter().map(|(_, m)| format!("{}#0", m.external_id)).collect();
        let batch: Vec<_> = chunk.iter().zip(&exts).map(|((c, m), e)| (pids[*c], plain_new(m, e))).collect();
        plain.append_batch(&batch);
    }

    // Inputs are built outside the timed part, for both.
    let mut i = batches.len();
    g.bench_function("chatvault", |b| {
        b.iter_batched(
            || {
                let round = i / batches.len();
                let batch: Vec<_> = batches[i % batches.len()]
                    .iter()
                    .map(|(c, m)| (cids[*c], new_message(m, round)))
                    .collect();
                i += 1;
                batch
            },
            |batch| store.append_batch(&batch).unwrap(),
            BatchSize::LargeInput,
        )
    });
    let mut i = batches.len();
    g.bench_function("sqlite", |b| {
        b.iter_batched(
            || {
                let round = i / batches.len();
                let exts: Vec<String> = batches[i % batches.len()]
                    .iter()
                    .map(|(_, m)| format!("{}#{round}", m.external_id))
                    .collect();
                let chunk = batches[i % batches.len()];
                i += 1;
                (chunk, exts)
            },
            |(chunk, exts)| {
                let batch: Vec<_> =
                    chunk.iter().zip(&exts).map(|((c, m), e)| (pids[*c], plain_new(m, e))).collect();
                plain.append_batch(&batch)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn single(c: &mut Criterion) {
    let corpus = corpus(50_000);
    for durability in [Durability::Full, Durability::Normal] {
        let mut g = c.benchmark_group(format!("append_single_{}", sync_name(durability)));
        g.throughput(Throughput::Elements(1));
        let dir = tempfile::tempdir().unwrap();
        let (store, cids) = vault(dir.path(), &corpus, durability);
        let (mut plain, pids) = baseline(dir.path(), &corpus, durability);
        let n = corpus.stream.len();
        let mut i = 0;
        g.bench_function("chatvault", |b| {
            b.iter_batched(
                || {
                    let (c, m) = &corpus.stream[i % n];
                    i += 1;
                    (cids[*c], new_message(m, i / n))
                },
                |(c, m)| store.append(c, m).unwrap(),
                BatchSize::SmallInput,
            )
        });
        let mut i = 0;
        g.bench_function("sqlite", |b| {
            b.iter_batched(
                || {
                    let (c, m) = &corpus.stream[i % n];
                    i += 1;
                    (pids[*c], m, format!("{}#{}", m.external_id, i / n))
                },
                |(c, m, ext)| plain.append_batch(&[(c, plain_new(m, &ext))]),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn pages(c: &mut Criterion) {
    // One 10,000-message conversation written as live chat (one segment per
    // message) and one written by sync bursts (one segment per batch).
    let spec = chatvault_corpus::conversations(SEED, 1, 10_000).remove(0);
    let msgs: Vec<MessageSpec> = chatvault_corpus::messages(&spec).collect();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::create_with(dir.path().join("cv"), StoreKey::raw([7; 32]), options(Durability::Normal))
            .unwrap();
    let mut plain = Plain::create(&dir.path().join("plain"), "NORMAL");
    let live = store.create_conversation(NewConversation::default()).unwrap();
    let synced = store.create_conversation(NewConversation::default()).unwrap();
    let p = plain.create_conversation("p", "p", "", 0);
    for m in &msgs {
        store.append(live, new_message(m, 0)).unwrap();
    }
    for chunk in msgs.chunks(50) {
        let batch: Vec<_> = chunk.iter().map(|m| (synced, new_message(m, 0))).collect();
        store.append_batch(&batch).unwrap();
    }
    for chunk in msgs.chunks(BATCH) {
        let batch: Vec<_> = chunk.iter().map(|m| (p, plain_new(m, &m.external_id))).collect();
        plain.append_batch(&batch);
    }

    for (name, deep) in [("page_latest_50", None), ("page_deep_50", Some(1_000u64))] {
        let variants = [("chatvault_live", &store, live), ("chatvault_synced", &store, synced)];
        page_group(c, name, deep, &variants, &plain, p);
    }
}

/// Not a timing: bytes on disk for the same 100,000 messages, written in
/// sync batches, after both files are checkpointed and closed.
fn sizes(_: &mut Criterion) {
    let corpus = corpus(100_000);
    let dir = tempfile::tempdir().unwrap();
    let (store, cids) = vault(dir.path(), &corpus, Durability::Normal);
    let (mut plain, pids) = baseline(dir.path(), &corpus, Durability::Normal);
    for chunk in corpus.stream.chunks(BATCH) {
        let batch: Vec<_> = chunk.iter().map(|(c, m)| (cids[*c], new_message(m, 0))).collect();
        store.append_batch(&batch).unwrap();
        let exts: Vec<String> = chunk.iter().map(|(_, m)| format!("{}#0", m.external_id)).collect();
        let batch: Vec<_> = chunk.iter().zip(&exts).map(|((c, m), e)| (pids[*c], plain_new(m, e))).collect();
        plain.append_batch(&batch);
    }
    store.close().unwrap();
    drop(plain);
    let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
    let (ours, theirs) = (size("cv"), size("plain"));
    println!(
        "bytes on disk for 100,000 messages: chatvault {ours} ({:.0} B/message), sqlite {theirs} ({:.0} B/message), ratio {:.2}",
        ours as f64 / 1e5,
        theirs as f64 / 1e5,
        ours as f64 / theirs as f64
    );
}

criterion_group!(benches, sizes, ingest, single, pages);
criterion_main!(benches);
