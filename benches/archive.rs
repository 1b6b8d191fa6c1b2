//! Export, import and inspection of an archive against raw AES-256-GCM over
//! the same bytes in 64 KiB chunks, measured in one run: the ratio says
//! what the archive costs beyond its encryption. `cargo bench --bench
//! archive`. The 1,000,000-message figures and peak memory come from
//! `examples/archive_scale.rs` (BENCHMARKS.md).

#[path = "common/plain.rs"]
mod plain;
#[path = "common/setup.rs"]
mod setup;

use chatvault::archive::inspect;
use chatvault::{Durability, ExportOptions, ImportOptions, Store, StoreKey};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use setup::{BATCH, corpus, new_message, vault};

const MESSAGES: usize = 20_000;
const KEY: [u8; 32] = [9; 32];

fn archive(c: &mut Criterion) {
    let corpus = corpus(MESSAGES);
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = vault(dir.path(), &corpus, Durability::Normal);
    for chunk in corpus.stream.chunks(BATCH) {
        let batch: Vec<_> = chunk.iter().map(|(c, m)| (ids[*c], new_message(m, 0))).collect();
        store.append_batch(&batch).unwrap();
    }
    let mut bytes = Vec::new();
    store.export(&mut bytes, &ExportOptions::raw_key(KEY)).unwrap();
    println!("archive of {MESSAGES} messages: {} bytes", bytes.len());

    let mut g = c.benchmark_group("archive");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(20);
    g.bench_function("export", |b| {
        b.iter(|| store.export(std::io::sink(), &ExportOptions::raw_key(KEY)).unwrap())
    });
    g.bench_function("inspect", |b| b.iter(|| inspect(&bytes[..], &ImportOptions::raw_key(KEY)).unwrap()));
    let mut n = 0;
    g.bench_function("import", |b| {
        b.iter_batched(
            || {
                n += 1;
                Store::create(dir.path().join(format!("import-{n}")), StoreKey::raw([1; 32])).unwrap()
            },
            |fresh| {
                fresh.import(&bytes[..], &ImportOptions::raw_key(KEY)).unwrap();
                fresh
            },
            BatchSize::PerIteration,
        )
    });

    // The baseline: AES-256-GCM alone over the same number of bytes.
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEY).unwrap());
    let plain = vec![0x42u8; bytes.len()];
    g.bench_function("aes-256-gcm seal", |b| {
        let mut buf = Vec::with_capacity((64 << 10) + 16);
        b.iter(|| {
            for (i, chunk) in plain.chunks(64 << 10).enumerate() {
                buf.clear();
                buf.extend_from_slice(chunk);
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
                key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
                    .unwrap();
            }
        })
    });
    let sealed: Vec<Vec<u8>> = plain
        .chunks(64 << 10)
        .enumerate()
        .map(|(i, chunk)| {
            let mut buf = chunk.to_vec();
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
                .unwrap();
            buf
        })
        .collect();
    g.bench_function("aes-256-gcm open", |b| {
        let mut buf = Vec::with_capacity((64 << 10) + 16);
        b.iter(|| {
            for (i, chunk) in sealed.iter().enumerate() {
                buf.clear();
                buf.extend_from_slice(chunk);
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
                key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, archive);
criterion_main!(benches);
