//! Compaction: its throughput, the bytes on disk it saves against plaintext
//! SQLite holding the same messages, and page reads before and after it, all
//! in one run. `cargo bench --bench compact`; `scripts/ratios.py` prints the
//! page-read ratios, and the size figures are printed as the bench starts.

#[path = "common/plain.rs"]
mod plain;
#[path = "common/setup.rs"]
mod setup;

use std::path::Path;

use chatvault::{CompactOptions, Durability, NewConversation, Store, StoreKey};
use chatvault_corpus::MessageSpec;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plain::Plain;
use setup::{BATCH, SEED, baseline, corpus, new_message, options, page_group, plain_new, vault};

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Not a timing: bytes on disk for the same 100,000 messages, written in
/// sync batches, before and after compaction, against plaintext SQLite as
/// written and after `VACUUM`.
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
    drop(plain);
    let cv = dir.path().join("cv");
    store.scrub().unwrap();
    let before = size(&cv);
    let report = store.compact(&CompactOptions::default()).unwrap();
    store.close().unwrap();
    let after = size(&cv);
    let plain_path = dir.path().join("plain");
    let theirs = size(&plain_path);
    rusqlite::Connection::open(&plain_path).unwrap().execute_batch("VACUUM").unwrap();
    let theirs_vacuumed = size(&plain_path);
    let r = |x: u64, y: u64| x as f64 / y as f64;
    println!(
        "bytes on disk for 100,000 messages: chatvault {before} before compaction ({:.2}x sqlite), \
         {after} after ({:.2}x sqlite, {:.2}x sqlite after VACUUM); sqlite {theirs}, after VACUUM {theirs_vacuumed}; \
         {} segments rewritten into {}",
        r(before, theirs),
        r(after, theirs),
        r(after, theirs_vacuumed),
        report.segments_rewritten,
        report.segments_written,
    );
}

/// Compaction throughput, messages per second, from two starting points:
/// live chat (one segment per message) and sync bursts (one per batch).
fn throughput(c: &mut Criterion) {
    const N: usize = 20_000;
    let spec = chatvault_corpus::conversations(SEED, 1, N).remove(0);
    let msgs: Vec<MessageSpec> = chatvault_corpus::messages(&spec).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("compact_20000");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (label, batch) in [("live", 1), ("synced", BATCH)] {
        // A prepared store, copied afresh for each iteration.
        let master = dir.path().join(label);
        {
            let store =
                Store::create_with(&master, StoreKey::raw([7; 32]), options(Durability::Normal)).unwrap();
            let conv = store.create_conversation(NewConversation::default()).unwrap();
            for chunk in msgs.chunks(batch) {
                let b: Vec<_> = chunk.iter().map(|m| (conv, new_message(m, 0))).collect();
                store.append_batch(&b).unwrap();
            }
            store.close().unwrap();
        }
        let work = dir.path().join(format!("{label}-work"));
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter_batched(
                || {
                    std::fs::copy(&master, &work).unwrap();
                    Store::open_with(&work, StoreKey::raw([7; 32]), options(Durability::Normal)).unwrap()
                },
                |store| {
                    let report = store.compact(&CompactOptions::default()).unwrap();
                    assert!(!report.work_remains);
                    store
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Page reads of a 10,000-message conversation written one message at a
/// time, before and after compaction, against plaintext SQLite.
fn pages(c: &mut Criterion) {
    let spec = chatvault_corpus::conversations(SEED, 1, 10_000).remove(0);
    let msgs: Vec<MessageSpec> = chatvault_corpus::messages(&spec).collect();
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        Store::create_with(dir.path().join(name), StoreKey::raw([7; 32]), options(Durability::Normal))
            .unwrap()
    };
    let (raw, compacted) = (open("raw"), open("compacted"));
    let mut plain = Plain::create(&dir.path().join("plain"), "NORMAL");
    let p = plain.create_conversation("p", "p", "", 0);
    let mut convs = Vec::new();
    for store in [&raw, &compacted] {
        let conv = store.create_conversation(NewConversation::default()).unwrap();
        for m in &msgs {
            store.append(conv, new_message(m, 0)).unwrap();
        }
        convs.push(conv);
    }
    compacted.compact(&CompactOptions::default()).unwrap();
    for chunk in msgs.chunks(BATCH) {
        let batch: Vec<_> = chunk.iter().map(|m| (p, plain_new(m, &m.external_id))).collect();
        plain.append_batch(&batch);
    }

    for (name, deep) in [("compacted_page_latest_50", None), ("compacted_page_deep_50", Some(1_000u64))] {
        let variants = [("chatvault_before", &raw, convs[0]), ("chatvault_after", &compacted, convs[1])];
        page_group(c, name, deep, &variants, &plain, p);
    }
}

criterion_group!(benches, sizes, throughput, pages);
criterion_main!(benches);
