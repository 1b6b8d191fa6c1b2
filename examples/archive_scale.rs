//! Export, import and inspection of a large store, each in its own process
//! so its peak memory (VmHWM) is its own, against raw AES-256-GCM over the
//! same bytes measured in the same process. BENCHMARKS.md has the figures.
//!
//! ```sh
//! cargo run --release --example archive_scale -- build  DIR 1000000
//! cargo run --release --example archive_scale -- export DIR
//! cargo run --release --example archive_scale -- import DIR
//! cargo run --release --example archive_scale -- inspect DIR
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use chatvault::{ExportOptions, ImportOptions, Store, StoreKey};
use inputs::peak_rss_kib;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

#[path = "../benches/common/inputs.rs"]
mod inputs;

const ARCHIVE_KEY: [u8; 32] = [9; 32];
const STORE_KEY: [u8; 32] = [7; 32];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(phase), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: archive_scale build|export|import|inspect DIR [MESSAGES]");
        std::process::exit(1);
    };
    let dir = Path::new(dir);
    let archive = dir.join("store.cvarchive");
    match phase.as_str() {
        "build" => {
            let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
            build(dir, n);
        }
        "export" => {
            let store = Store::open(dir.join("store.chatvault"), StoreKey::raw(STORE_KEY)).unwrap();
            let rss_open = peak_rss_kib();
            let t = Instant::now();
            let r = store.export_to_file(&archive, &ExportOptions::raw_key(ARCHIVE_KEY)).unwrap();
            let took = t.elapsed();
            report("export", r.bytes, r.messages, took, rss_open, true);
        }
        "import" => {
            let target = dir.join("imported.chatvault");
            let _ = std::fs::remove_file(&target);
            let store = Store::create(&target, StoreKey::raw([1; 32])).unwrap();
            let rss_open = peak_rss_kib();
            let t = Instant::now();
            let file = std::fs::File::open(&archive).unwrap();
            let r =
                store.import(std::io::BufReader::new(file), &ImportOptions::raw_key(ARCHIVE_KEY)).unwrap();
            let took = t.elapsed();
            report("import", r.bytes, r.messages_added, took, rss_open, false);
        }
        "inspect" => {
            let rss_open = peak_rss_kib();
            let t = Instant::now();
            let file = std::fs::File::open(&archive).unwrap();
            let s = chatvault::archive::inspect(
                std::io::BufReader::new(file),
                &ImportOptions::raw_key(ARCHIVE_KEY),
            )
            .unwrap();
            let took = t.elapsed();
            report("inspect", s.bytes, s.messages, took, rss_open, false);
        }
        other => {
            eprintln!("unknown phase {other}");
            std::process::exit(1);
        }
    }
}

fn build(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("store.chatvault");
    let _ = std::fs::remove_file(&path);
    let store = Store::create(&path, StoreKey::raw(STORE_KEY)).unwrap();
    let convs = chatvault_corpus::conversations(2026, 200, n);
    let t = Instant::now();
    for spec in &convs {
        let c = store.create_conversation(inputs::new_conversation(spec)).unwrap();
        let mut batch = Vec::with_capacity(1000);
        for m in chatvault_corpus::messages(spec) {
            batch.push((c, inputs::new_message(&m, m.external_id.clone())));
            if batch.len() == 1000 {
                store.append_batch(&batch).unwrap();
                batch.clear();
            }
        }
        store.append_batch(&batch).unwrap();
    }
    store.compact(&chatvault::CompactOptions::default()).unwrap();
    println!("built {n} messages in {} conversations in {:.1?}", convs.len(), t.elapsed());
}

/// Prints throughput against AES-256-GCM over the same bytes, and peak memory.
fn report(what: &str, bytes: u64, messages: u64, took: Duration, rss_before: u64, seal: bool) {
    let aes = aes_gcm(bytes as usize, seal);
    let rss = peak_rss_kib();
    let mib = bytes as f64 / (1 << 20) as f64;
    println!(
        "{what}: {messages} messages, {mib:.1} MiB in {took:.2?} = {:.0} MiB/s; AES-256-GCM {} alone over the same bytes: {aes:.2?} = {:.0} MiB/s; ratio {:.2}x of AES-GCM's throughput ({:.1}x its time); {:.0} messages/s; peak RSS {} MiB ({} MiB before it began)",
        mib / took.as_secs_f64(),
        if seal { "seal" } else { "open" },
        mib / aes.as_secs_f64(),
        aes.as_secs_f64() / took.as_secs_f64(),
        took.as_secs_f64() / aes.as_secs_f64(),
        messages as f64 / took.as_secs_f64(),
        rss / 1024,
        rss_before / 1024,
    );
}

fn aes_gcm(bytes: usize, seal: bool) -> Duration {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &ARCHIVE_KEY).unwrap());
    let chunk = vec![0x42u8; 64 << 10];
    let mut sealed = chunk.clone();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut sealed).unwrap();
    let mut buf = Vec::with_capacity(chunk.len() + 16);
    let t = Instant::now();
    for _ in 0..bytes.div_ceil(chunk.len()) {
        buf.clear();
        if seal {
            buf.extend_from_slice(&chunk);
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut buf)
                .unwrap();
        } else {
            buf.extend_from_slice(&sealed);
            key.open_in_place(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut buf).unwrap();
        }
    }
    t.elapsed()
}
