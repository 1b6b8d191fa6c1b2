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
//! The corpus is the shared generator's: 1,000 conversations of Zipf-like
//! sizes for FINAL messages, interleaved as a sync delivers them, appended
//! in 1,000-message batches with the default `Durability::Full`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chatvault::{ConversationId, MessageId, NewConversation, NewMessage, Page, Store, StoreKey};

const KEY: [u8; 32] = [0x5c; 32];
const SEED: u64 = 2026;
const CONVERSATIONS: usize = 1_000;
const BATCH: usize = 1_000;
const REPS: usize = 500;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: scale all DIR SIZE...  |  scale grow DIR TOTAL FINAL  |  scale measure DIR");
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
        _ => usage(),
    }
}

/// Grows the store in DIR to each size in turn and measures it there,
/// printing a markdown table.
fn all(dir: &Path, sizes: &[usize]) {
    std::fs::create_dir_all(dir).expect("the directory");
    let _ = std::fs::remove_file(dir.join("store.chatvault"));
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
        "| messages | bytes/message | grow: messages/s | grow: peak RSS | open (median) | page of 50, newest | page of 50, deep | page of 50, small conversation | list of 50 | measure: peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &size in sizes {
        let g = run(&["grow".into(), d.clone(), size.to_string(), last.to_string()]);
        let m = run(&["measure".into(), d.clone()]);
        let get =
            |xs: &[(String, f64)], k: &str| xs.iter().find(|(n, _)| n == k).map_or(f64::NAN, |(_, v)| *v);
        println!(
            "| {size} | {:.0} | {:.0} | {:.0} MiB | {:.2} ms | {:.1} µs | {:.1} µs | {:.1} µs | {:.0} µs | {:.0} MiB |",
            get(&m, "bytes") / size as f64,
            get(&g, "messages_per_s"),
            get(&g, "peak_rss_kib") / 1024.0,
            get(&m, "open_us") / 1000.0,
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
            .map(|c| {
                store
                    .create_conversation(NewConversation {
                        external_id: Some(c.external_id.clone()),
                        title: c.title.clone(),
                        members: c.members.clone(),
                        created_at_ms: Some(c.created_at_ms),
                        ..Default::default()
                    })
                    .expect("create_conversation")
            })
            .collect();
        (store, ids)
    };
    let have = store.stats().expect("stats").messages as usize;
    let mut stream = chatvault_corpus::interleaved(SEED, &convs).skip(have).take(total.saturating_sub(have));
    let mut spent = Duration::ZERO;
    let mut added = 0;
    loop {
        let batch: Vec<(ConversationId, NewMessage)> = stream
            .by_ref()
            .take(BATCH)
            .map(|(c, m)| {
                let new = NewMessage {
                    external_id: Some(m.external_id),
                    sender: m.sender,
                    sent_at_ms: m.sent_at_ms,
                    text: m.text,
                    ..Default::default()
                };
                (ids[c], new)
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        let t = Instant::now();
        added += store.append_batch(&batch).expect("append_batch").len();
        spent += t.elapsed();
    }
    store.close().expect("close");
    println!("messages_per_s {}", added as f64 / spent.as_secs_f64());
    println!("peak_rss_kib {}", peak_rss_kib());
}

/// Open time, pages in the largest and in a small conversation, the
/// conversation list, and this process's peak RSS.
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
    println!("page_deep_us {}", micros(latency(&|| page(b, Page::before(MessageId::new(b, 1_000), 50)))));
    println!("page_small_us {}", micros(latency(&|| page(s, Page::latest(50)))));
    println!("list_us {}", micros(latency(&|| store.recent_conversations(50).expect("list").len())));
    println!("peak_rss_kib {}", peak_rss_kib());
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
