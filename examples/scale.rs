//! Scale: one store grown to 100,000, 1,000,000 and 10,000,000 messages
//! (or any sizes), with open time, page latency and peak memory measured at
//! each size, each phase in its own process so its peak RSS (VmHWM) is its
//! own. Shows that a page and an open do not get slower as the store grows.
//! BENCHMARKS.md ("Scale") has the figures.
//!
//! ```sh
//! cargo run --release --example scale -- all DIR 100000 1000000 10000000
//! ```
//!
//! `grow DIR TOTAL FINAL` and `measure DIR` are the phases `all` runs.
//! `search DIR`, run by hand after `all`, runs the search comparison's
//! queries (a common word, a two-character Chinese word, a prefix, a
//! Japanese and a Korean word, one conversation) on the store, newest 50
//! hits, and prints each one's median latency and the phase's peak RSS.
//! `rotate DIR`, run by hand after `all`, rotates the store's master key
//! (docs/DESIGN.md, "Master-key rotation") and reports its time against a
//! `verify` of the same store in the same process (which decrypts every
//! segment once), its transactions, the WAL's largest size meanwhile, and
//! its peak RSS; the store keeps its root key, so `measure` still works.
//! The corpus is the shared generator's: 1,000 conversations of Zipf-like
//! sizes for FINAL messages, appended with the default `Durability::Full`
//! in batches of 1,000 as a history sync fetches them: 1,000 messages of
//! one conversation, then of the next, round robin, so every conversation
//! grows with the store. `CHATVAULT_SCALE_ORDER=sync` interleaves all
//! conversations in every batch instead (`chatvault_corpus::interleaved`),
//! and `CHATVAULT_SCALE_ORDER=spread` takes the next message of every
//! conversation in turn, so that each batch of 1,000 touches up to 1,000
//! conversations. `grow` prints its throughput every 100,000 messages
//! (`window END MESSAGES_PER_S`) and its peak RSS.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chatvault::{ConversationId, MessageId, NewMessage, Page, Store, StoreKey};
use inputs::peak_rss_kib;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[path = "../benches/common/inputs.rs"]
mod inputs;

const KEY: [u8; 32] = [0x5c; 32];
const SEED: u64 = 2026;
const CONVERSATIONS: usize = 1_000;
const BATCH: usize = 1_000;
const REPS: usize = 500;
/// Messages per throughput figure of `grow`.
const WINDOW: usize = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: scale all DIR SIZE...  |  scale grow DIR TOTAL FINAL  |  scale measure DIR  |  scale rotate DIR  |  scale search DIR"
        );
        std::process::exit(2)
    };
    let (Some(phase), Some(dir)) = (args.first(), args.get(1)) else { usage() };
    let dir = Path::new(dir);
    let num = |i: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()) };
    match phase.as_str() {
        "all" => {
            let sizes: Vec<usize> = (2..args.len()).map(num).collect();
            if sizes.is_empty() {
                usage()
            }
            all(dir, &sizes)
        }
        "grow" => grow(dir, num(2), num(3)),
        "measure" => measure(dir),
        "rotate" => rotate(dir),
        "search" => search(dir),
        _ => usage(),
    }
}

/// Grows the store in DIR to each size in turn and measures it there,
/// printing a markdown table.
fn all(dir: &Path, sizes: &[usize]) {
    std::fs::create_dir_all(dir).expect("the directory");
    for file in ["store.chatvault", "store.chatvault-wal", "store.chatvault-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    if sizes.windows(2).any(|w| w[0] >= w[1]) {
        eprintln!("sizes must be given smallest first");
        std::process::exit(2);
    }
    let last = *sizes.iter().max().unwrap_or(&0);
    let me = std::env::current_exe().expect("this program's path");
    let run = |args: &[String]| -> Vec<(String, f64)> {
        let out = Command::new(&me).args(args).output().expect("a phase process");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    };
    let d = dir.display().to_string();
    println!(
        "| messages | bytes/message | grow: messages/s | grow: peak RSS | open (median) | largest conversation | page of 50, newest | page of 50, middle | page of 50, small conversation | list of 50 | measure: peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &size in sizes {
        let g = run(&["grow".into(), d.clone(), size.to_string(), last.to_string()]);
        let m = run(&["measure".into(), d.clone()]);
        let get =
            |xs: &[(String, f64)], k: &str| xs.iter().find(|(n, _)| n == k).map_or(f64::NAN, |(_, v)| *v);
        println!(
            "| {size} | {:.0} | {:.0} | {:.0} MiB | {:.2} ms | {:.0} messages | {:.1} µs | {:.1} µs | {:.1} µs | {:.0} µs | {:.0} MiB |",
            get(&m, "bytes") / size as f64,
            get(&g, "messages_per_s"),
            get(&g, "peak_rss_kib") / 1024.0,
            get(&m, "open_us") / 1000.0,
            get(&m, "largest"),
            get(&m, "page_latest_us"),
            get(&m, "page_deep_us"),
            get(&m, "page_small_us"),
            get(&m, "list_us"),
            get(&m, "peak_rss_kib") / 1024.0,
        );
    }
}

fn conversations(last: usize) -> Vec<chatvault_corpus::ConversationSpec> {
    chatvault_corpus::conversations(SEED, CONVERSATIONS, last)
}

/// Appends messages of the FINAL-message corpus until the store holds TOTAL.
fn grow(dir: &Path, total: usize, last: usize) {
    let path = dir.join("store.chatvault");
    let convs = conversations(last);
    let (store, ids) = if path.exists() {
        let store = Store::open(&path, StoreKey::raw(KEY)).expect("open");
        let ids = convs
            .iter()
            .map(|c| store.find_conversation(&c.external_id).expect("find").expect("created earlier"))
            .collect::<Vec<ConversationId>>();
        (store, ids)
    } else {
        let store = Store::create(&path, StoreKey::raw(KEY)).expect("create");
        let ids = convs
            .iter()
            .map(|c| store.create_conversation(inputs::new_conversation(c)).expect("create_conversation"))
            .collect();
        (store, ids)
    };
    let have = store.stats().expect("stats").messages as usize;
    // Resuming skips what the store holds: grow a store in one order only.
    let order = std::env::var("CHATVAULT_SCALE_ORDER").unwrap_or_default();
    let sync = order == "sync" || order == "spread";
    let stream: Box<dyn Iterator<Item = (usize, chatvault_corpus::MessageSpec)>> = match order.as_str() {
        "sync" => Box::new(chatvault_corpus::interleaved(SEED, &convs)),
        "spread" => Box::new(spread(&convs)),
        _ => Box::new(history(&convs)),
    };
    let mut stream = stream.skip(have).take(total.saturating_sub(have)).peekable();
    let mut spent = Duration::ZERO;
    let mut added = 0;
    let (mut window_spent, mut window_added) = (Duration::ZERO, 0);
    loop {
        // A batch is at most BATCH messages; in history order, of one conversation.
        let first = stream.peek().map(|(c, _)| *c);
        let batch: Vec<(ConversationId, NewMessage)> =
            std::iter::from_fn(|| stream.next_if(|(c, _)| sync || Some(*c) == first))
                .take(BATCH)
                .map(|(c, m)| (ids[c], inputs::new_message(&m, m.external_id.clone())))
                .collect();
        if batch.is_empty() {
            break;
        }
        let t = Instant::now();
        let n = store.append_batch(&batch).expect("append_batch").len();
        let took = t.elapsed();
        (added, spent, window_added, window_spent) =
            (added + n, spent + took, window_added + n, window_spent + took);
        if window_added >= WINDOW {
            println!("window {} {:.0}", have + added, window_added as f64 / window_spent.as_secs_f64());
            (window_added, window_spent) = (0, Duration::ZERO);
        }
    }
    store.close().expect("close");
    println!("messages_per_s {}", added as f64 / spent.as_secs_f64());
    println!("peak_rss_kib {}", peak_rss_kib());
}

/// The corpus with every batch spread: the next message of each
/// conversation in turn (skipping those with none left).
fn spread(
    convs: &[chatvault_corpus::ConversationSpec],
) -> impl Iterator<Item = (usize, chatvault_corpus::MessageSpec)> + '_ {
    let mut per: Vec<_> = convs.iter().map(chatvault_corpus::messages).collect();
    let mut turn = 0;
    std::iter::from_fn(move || {
        for _ in 0..per.len() {
            let i = turn;
            turn = (turn + 1) % per.len();
            if let Some(m) = per.get_mut(i).and_then(Iterator::next) {
                return Some((i, m));
            }
        }
        None
    })
}

/// The corpus as a history sync fetches it: the next 1,000 messages of
/// each conversation in turn, until all are fetched.
fn history(
    convs: &[chatvault_corpus::ConversationSpec],
) -> impl Iterator<Item = (usize, chatvault_corpus::MessageSpec)> + '_ {
    let mut per: Vec<_> = convs.iter().map(chatvault_corpus::messages).collect();
    let (mut turn, mut left, mut exhausted) = (0, BATCH, 0);
    std::iter::from_fn(move || {
        // Ends once every conversation in a row had nothing left.
        while exhausted < per.len() {
            if left > 0 {
                if let Some(m) = per.get_mut(turn).and_then(Iterator::next) {
                    left -= 1;
                    exhausted = 0;
                    return Some((turn, m));
                }
                exhausted += 1;
            }
            turn = (turn + 1) % per.len();
            left = BATCH;
        }
        None
    })
}

/// Open time, pages in the largest conversation (the newest, and the one
/// before its middle message) and in a small one, the conversation list,
/// and this process's peak RSS.
/// The search phase: each query's median latency over a few runs (newest
/// 50 hits, whole store unless noted), then the peak RSS.
fn search(dir: &Path) {
    let store = Store::open(dir.join("store.chatvault"), StoreKey::raw(KEY)).expect("open");
    let stats = store.stats().expect("stats");
    println!(
        "segments {} filter_bytes {} unindexed {}",
        stats.segments, stats.filter_bytes, stats.segments_unindexed
    );
    let big = store
        .conversations()
        .expect("conversations")
        .into_iter()
        .max_by_key(|s| s.conversation.message_count)
        .expect("a conversation")
        .conversation
        .id;
    let queries: [(&str, &str, bool); 6] = [
        ("common", "good", false),
        ("zh2", "明天", false),
        ("prefix", "tomor", false),
        ("ja", "東京", false),
        ("ko", "학교", false),
        ("conversation", "good", true),
    ];
    for (name, words, in_big) in queries {
        let mut q = chatvault::SearchQuery::new(words);
        if in_big {
            q = q.in_conversation(big);
        }
        let mut hits = 0;
        let times: Vec<Duration> = (0..9)
            .map(|_| {
                let t = Instant::now();
                hits = store.search(&q).expect("search").hits.len();
                t.elapsed()
            })
            .collect();
        println!("search_{name}_us {} hits {hits}", micros(median(times)));
    }
    println!("search_peak_rss_kib {}", peak_rss_kib());
}

fn measure(dir: &Path) {
    let path = dir.join("store.chatvault");
    println!("bytes {}", std::fs::metadata(&path).expect("the store").len());
    let mut opens = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        let store = Store::open(&path, StoreKey::raw(KEY)).expect("open");
        store.recent_conversations(1).expect("list");
        opens.push(t.elapsed());
        store.close().expect("close");
    }
    println!("open_us {}", micros(median(opens)));

    let store = Store::open(&path, StoreKey::raw(KEY)).expect("open");
    let list = store.conversations().expect("conversations");
    let big = list.iter().max_by_key(|s| s.conversation.message_count).expect("a conversation");
    // The smallest conversation with at least two pages.
    let small = list
        .iter()
        .filter(|s| s.conversation.message_count >= 100)
        .min_by_key(|s| s.conversation.message_count)
        .unwrap_or(big);
    let (b, s) = (big.conversation.id, small.conversation.id);
    let count = big.conversation.message_count;
    println!("largest {count}");
    // The page before the middle message: as deep as the conversation is.
    let middle = MessageId::new(b, (count / 2).max(51));
    let latency = |f: &dyn Fn() -> usize| -> Duration {
        (0..REPS / 10).for_each(|_| assert_eq!(f(), 50));
        median(
            (0..REPS)
                .map(|_| {
                    let t = Instant::now();
                    assert_eq!(f(), 50);
                    t.elapsed()
                })
                .collect(),
        )
    };
    let page = |c, p| store.messages(c, p).expect("page").len();
    println!("page_latest_us {}", micros(latency(&|| page(b, Page::latest(50)))));
    println!("page_deep_us {}", micros(latency(&|| page(b, Page::before(middle, 50)))));
    println!("page_small_us {}", micros(latency(&|| page(s, Page::latest(50)))));
    println!("list_us {}", micros(latency(&|| store.recent_conversations(50).expect("list").len())));
    println!("peak_rss_kib {}", peak_rss_kib());
}

/// A master-key rotation of the whole store, against a `verify` of it.
fn rotate(dir: &Path) {
    let path = dir.join("store.chatvault");
    let store = Store::open(&path, StoreKey::raw(KEY)).expect("open");
    let t = Instant::now();
    let report = store.verify().expect("verify");
    let verify = t.elapsed();
    assert!(report.is_ok(), "{:?}", report.problems);
    println!("messages {}", report.messages);
    println!("verify_s {:.2}", verify.as_secs_f64());

    // The WAL's size, sampled while the rotation runs.
    let wal = dir.join("store.chatvault-wal");
    let (done, largest) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (done, largest) = (Arc::clone(&done), Arc::clone(&largest));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
                largest.fetch_max(len, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = Instant::now();
    let report = store.rotate_master_key(StoreKey::raw(KEY)).expect("rotate");
    let rotation = t.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.join().expect("the sampler");
    assert!(report.finished);
    println!("rotate_s {:.2}", rotation.as_secs_f64());
    println!("rotate_vs_verify {:.2}", rotation.as_secs_f64() / verify.as_secs_f64());
    println!("transactions {}", report.transactions);
    println!("references {}", report.references);
    println!("largest_wal_mib {:.1}", largest.load(Ordering::SeqCst) as f64 / f64::from(1 << 20));
    println!("peak_rss_kib {}", peak_rss_kib());
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
