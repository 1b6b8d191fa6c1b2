//! The driver: runs both workers in alternation, then prints the figures
//! and the ratios (markdown, for BENCHMARKS.md) and whether each of issue
//! 7's targets is met.

use std::collections::BTreeMap;
use std::process::Command;

/// Whether more of a figure is better (throughput) or less (latency, bytes).
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}
use Better::{Higher, Lower};

/// (metric, what it is, which way is better).
const METRICS: &[(&str, &str, Better)] = &[
    ("ingest_messages_per_s", "burst ingest, 1,000 per transaction (messages/s)", Higher),
    ("append_single_per_s", "single append, one per transaction (appends/s)", Higher),
    ("page_latest_us", "page of 50, newest (µs)", Lower),
    ("page_deep_us", "page of 50, deep: before #1,000 (µs)", Lower),
    ("list_recent_50_us", "conversation list, 50 most recent with last message (µs)", Lower),
    ("edit_per_s", "edit a message (edits/s)", Higher),
    ("delete_per_s", "delete a message (deletes/s)", Higher),
    ("edit_batch_per_s", "edit messages in batches of 100 (edits/s)", Higher),
    ("delete_batch_per_s", "delete messages in batches of 100 (deletes/s)", Higher),
    ("open_us", "open and read the first list line (µs)", Lower),
    ("bytes_per_message", "bytes on disk per message, as written", Lower),
    ("compact_messages_per_s", "compact (chatvault) / VACUUM (SQLite) (messages/s)", Higher),
    ("bytes_per_message_compacted", "bytes on disk per message, after compaction / VACUUM", Lower),
    ("page_latest_compacted_us", "page of 50, newest, after compaction / VACUUM (µs)", Lower),
    ("page_deep_compacted_us", "page of 50, deep, after compaction / VACUUM (µs)", Lower),
    ("list_recent_50_compacted_us", "conversation list, after compaction / VACUUM (µs)", Lower),
];

/// Issue 7's targets: (metric, peer, bound); a `Higher` metric's ratio must
/// be at least the bound, a `Lower` one's at most.
const TARGETS: &[(&str, &str, f64)] = &[
    ("ingest_messages_per_s", "sqlite", 0.8),
    ("ingest_messages_per_s", "sqlcipher", 1.8),
    ("page_latest_us", "sqlite", 1.5),
    ("page_deep_us", "sqlite", 1.5),
    ("page_latest_compacted_us", "sqlite", 1.0),
    ("page_deep_compacted_us", "sqlite", 1.0),
    ("bytes_per_message_compacted", "sqlite", 0.8),
];

const ENGINES: &[(&str, &str)] = &[
    ("chatvault", "chatvault"),
    ("sqlite", "SQLite"),
    ("sqlcipher", "SQLCipher"),
    ("sqlcipher_nokey", "SQLCipher, no key"),
];

fn usage() -> ! {
    eprintln!(
        "usage: chatvault-compare run --chatvault-worker PATH [--rounds N] [--messages N] [--conversations N] [--reps N] [--spread N] [--short N] [--search N]"
    );
    std::process::exit(2)
}

pub fn run(args: Vec<String>) {
    let mut chatvault_worker = None;
    let mut rounds = 3usize;
    let mut pass = Vec::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else { usage() };
        match flag.as_str() {
            "--chatvault-worker" => chatvault_worker = Some(value),
            "--rounds" => rounds = value.parse().unwrap_or_else(|_| usage()),
            "--messages" | "--conversations" | "--reps" | "--spread" | "--short" | "--search" => {
                pass.extend([flag, value])
            }
            _ => usage(),
        }
    }
    let Some(chatvault_worker) = chatvault_worker else { usage() };
    let me = std::env::current_exe().expect("the path of this program");

    let mut figures: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut versions = BTreeMap::new();
    for round in 0..rounds {
        let mut workers = [
            ("chatvault", Command::new(&chatvault_worker)),
            ("sqlcipher", {
                let mut c = Command::new(&me);
                c.arg("worker");
                c
            }),
        ];
        if round % 2 == 1 {
            workers.reverse();
        }
        for (side, mut cmd) in workers {
            eprintln!("round {}/{rounds}: {side} worker", round + 1);
            let out = cmd
                .args(&pass)
                .args(["--round", &round.to_string()])
                .output()
                .unwrap_or_else(|e| panic!("cannot run the {side} worker: {e}"));
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                panic!("the {side} worker failed: {}", out.status);
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                match parts.as_slice() {
                    ["figure", engine, metric, value] => {
                        let v: f64 = value.parse().expect("a number");
                        figures.entry((engine.to_string(), metric.to_string())).or_default().push(v);
                    }
                    ["sqlite", version] => {
                        versions.insert(side, version.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    let median = |engine: &str, metric: &str| -> Option<f64> {
        crate::workload::median(figures.get(&(engine.to_string(), metric.to_string()))?.clone())
    };
    let ratio = |metric: &str, a: &str, b: &str| Some(median(a, metric)? / median(b, metric)?);

    let windows: Vec<String> = figures
        .keys()
        .filter(|(engine, m)| engine == "chatvault" && m.starts_with("spread_0"))
        .map(|(_, m)| m.clone())
        .collect();
    if !windows.is_empty() {
        spread_table(&windows, &median);
        return;
    }
    if median("chatvault", SHORT[0].0).is_some() {
        short_table(&median);
        return;
    }
    if median("chatvault", "search_ingest_messages_per_s").is_some() {
        search_table(&median);
        return;
    }

    println!("## Figures (median of {rounds} rounds)\n");
    println!(
        "SQLite {} (chatvault, plaintext SQLite); SQLCipher's SQLite {}.\n",
        versions.get("chatvault").map_or("?", String::as_str),
        versions.get("sqlcipher").map_or("?", String::as_str)
    );
    print!("| figure |");
    for (_, label) in ENGINES {
        print!(" {label} |");
    }
    println!("\n|---|---|---|---|---|");
    for &(metric, what, _) in METRICS {
        print!("| {what} |");
        for (engine, _) in ENGINES {
            match median(engine, metric) {
                Some(v) => print!(" {} |", show(v)),
                None => print!(" |"),
            }
        }
        println!();
    }

    println!("\n## Ratios\n");
    println!("Throughput ratios above 1, and latency and size ratios below 1, favour the first named.\n");
    println!(
        "| figure | chatvault / SQLite | chatvault / SQLCipher | SQLCipher / SQLite | SQLCipher / its SQLite, no key |"
    );
    println!("|---|---|---|---|---|");
    for &(metric, what, _) in METRICS {
        let cell = |a: &str, b: &str| ratio(metric, a, b).map_or(String::new(), |r| format!("{r:.2}x"));
        println!(
            "| {what} | {} | {} | {} | {} |",
            cell("chatvault", "sqlite"),
            cell("chatvault", "sqlcipher"),
            cell("sqlcipher", "sqlite"),
            cell("sqlcipher", "sqlcipher_nokey"),
        );
    }

    println!("\n## Targets (issue 7)\n");
    println!("| target | measured | |");
    println!("|---|---|---|");
    let mut missed = 0;
    for &(metric, peer, bound) in TARGETS {
        let better = METRICS.iter().find(|m| m.0 == metric).map_or(Higher, |m| m.2);
        let Some(r) = ratio(metric, "chatvault", peer) else {
            missed += 1;
            println!("| {metric}: chatvault / {peer} | not measured | **missed** |");
            continue;
        };
        let (op, met) = match better {
            Higher => ("at least", r >= bound),
            Lower => ("at most", r <= bound),
        };
        missed += usize::from(!met);
        println!(
            "| {metric}: chatvault / {peer} {op} {bound:.1}x | {r:.2}x | {} |",
            if met { "met" } else { "**missed**" }
        );
    }
    println!("\n{missed} of {} targets missed.", TARGETS.len());
}

/// The short-line corpus's figures.
const SHORT: [(&str, &str); 3] = [
    ("short_append_per_s", "single append, one per transaction (appends/s)"),
    ("short_bytes_per_message", "bytes on disk per message, as written"),
    ("short_bytes_per_message_compacted", "bytes on disk per message, after compaction / VACUUM"),
];

/// The short-line corpus: each engine's figures, and chatvault's ratios.
fn short_table(median: &dyn Fn(&str, &str) -> Option<f64>) {
    println!("\n## Short lines with short ids, one message per transaction\n");
    println!("| figure | chatvault | SQLite | SQLCipher | chatvault / SQLite | chatvault / SQLCipher |");
    println!("|---|---|---|---|---|---|");
    let cell = |v: Option<f64>| v.map_or(String::new(), show);
    let ratio = |m: &str, peer: &str| match (median("chatvault", m), median(peer, m)) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => String::new(),
    };
    for (m, what) in SHORT {
        println!(
            "| {what} | {} | {} | {} | {} | {} |",
            cell(median("chatvault", m)),
            cell(median("sqlite", m)),
            cell(median("sqlcipher", m)),
            ratio(m, "sqlite"),
            ratio(m, "sqlcipher"),
        );
    }
}

/// The spread sync's throughput by window, with ratios, and each engine's
/// slowdown from its first window to its last.
fn spread_table(windows: &[String], median: &dyn Fn(&str, &str) -> Option<f64>) {
    println!("\n## Spread sync: messages/s by window, and ratios\n");
    println!("| messages | chatvault | SQLite | SQLCipher | chatvault / SQLite | chatvault / SQLCipher |");
    println!("|---|---|---|---|---|---|");
    let cell = |v: Option<f64>| v.map_or(String::new(), show);
    let ratio = |m: &str, peer: &str| match (median("chatvault", m), median(peer, m)) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => String::new(),
    };
    for m in windows {
        let end = m.trim_start_matches("spread_").trim_end_matches("_messages_per_s").trim_start_matches('0');
        println!(
            "| {end} | {} | {} | {} | {} | {} |",
            cell(median("chatvault", m)),
            cell(median("sqlite", m)),
            cell(median("sqlcipher", m)),
            ratio(m, "sqlite"),
            ratio(m, "sqlcipher"),
        );
    }
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else { return };
    println!("\nSlowdown, first window / last window:");
    for (engine, label) in ENGINES {
        if let (Some(a), Some(b)) = (median(engine, first), median(engine, last)) {
            println!("- {label}: {:.2}x", a / b);
        }
    }
    let m = "spread_bytes_per_message";
    println!(
        "\nBytes on disk per message: chatvault {}, SQLite {}, SQLCipher {} (chatvault / SQLite {}).",
        cell(median("chatvault", m)),
        cell(median("sqlite", m)),
        cell(median("sqlcipher", m)),
        ratio(m, "sqlite")
    );
}

/// The search comparison (issue 18): latency of the newest 50 hits, recall
/// against the hits that exist, ingest with indexing, and index size.
fn search_table(median: &dyn Fn(&str, &str) -> Option<f64>) {
    const INDEXED: [(&str, &str); 4] = [
        ("chatvault", "chatvault"),
        ("sqlite_fts5", "SQLite FTS5 unicode61"),
        ("sqlite_trigram", "SQLite FTS5 trigram"),
        ("sqlcipher_fts5", "SQLCipher FTS5 unicode61"),
    ];
    let cell = |v: Option<f64>| v.map_or(String::new(), show);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => String::new(),
    };
    let latency_table = |title: &str, metric: fn(&crate::workload::SearchCase) -> &'static str| {
        println!("\n## {title}\n");
        println!(
            "| query | chatvault | SQLite FTS5 | SQLite trigram | SQLCipher FTS5 | chatvault / SQLite FTS5 | chatvault / SQLCipher FTS5 |"
        );
        println!("|---|---|---|---|---|---|---|");
        for case in crate::workload::SEARCH_CASES {
            let m = metric(case);
            let v = |e: &str| median(e, m);
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                case.label,
                cell(v("chatvault")),
                cell(v("sqlite_fts5")),
                cell(v("sqlite_trigram")),
                cell(v("sqlcipher_fts5")),
                ratio(v("chatvault"), v("sqlite_fts5")),
                ratio(v("chatvault"), v("sqlcipher_fts5")),
            );
        }
    };
    latency_table("Search: the newest 50 hits, p50 latency (µs), as ingested", |c| c.latency_metric);
    latency_table(
        "Search after compaction (chatvault) / FTS5 `optimize` and `VACUUM`: p50 latency (µs)",
        |c| c.compacted_metric,
    );
    println!("\n## Search: recall, hits found of the hits that exist (chatvault's rules, by a scan)\n");
    println!("| query | hits that exist | chatvault | SQLite FTS5 | SQLite trigram | SQLCipher FTS5 |");
    println!("|---|---|---|---|---|---|");
    for case in crate::workload::SEARCH_CASES {
        let m = case.hits_metric;
        let truth = median("truth", m);
        let pct = |e: &str| match (median(e, m), truth) {
            (Some(found), Some(t)) if t > 0.0 => {
                format!("{:.0}% ({})", 100.0 * found.min(t) / t, show(found))
            }
            (Some(found), _) => show(found),
            _ => String::new(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            case.label,
            cell(truth),
            pct("chatvault"),
            pct("sqlite_fts5"),
            pct("sqlite_trigram"),
            pct("sqlcipher_fts5"),
        );
    }
    println!("\n## Search: ingest with indexing and size\n");
    println!(
        "| engine | ingest (messages/s) | bytes per message | index bytes per message | bytes per message, compacted | index bytes, compacted |"
    );
    println!("|---|---|---|---|---|---|");
    let base = |e: &str| match e {
        "sqlite_fts5" | "sqlite_trigram" => Some("sqlite"),
        "sqlcipher_fts5" => Some("sqlcipher"),
        _ => None,
    };
    let index_as = |e: &str, suffix: &str| -> Option<f64> {
        median(e, &format!("search_index_bytes_per_message{suffix}")).or_else(|| {
            let b = base(e)?;
            let total = format!("search_bytes_per_message{suffix}");
            Some(median(e, &total)? - median(b, &total)?)
        })
    };
    for (e, label) in
        [("sqlite", "SQLite, no index"), ("sqlcipher", "SQLCipher, no index")].iter().chain(&INDEXED)
    {
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            cell(median(e, "search_ingest_messages_per_s")),
            cell(median(e, "search_bytes_per_message")),
            cell(index_as(e, "")),
            cell(median(e, "search_bytes_per_message_compacted")),
            cell(index_as(e, "_compacted")),
        );
    }
    let ingest = |e: &str| median(e, "search_ingest_messages_per_s");
    println!(
        "\nchatvault / SQLite FTS5: ingest {}; index size {} of SQLite FTS5's and {} of trigram's as ingested, {} and {} compacted.",
        ratio(ingest("chatvault"), ingest("sqlite_fts5")),
        ratio(index_as("chatvault", ""), index_as("sqlite_fts5", "")),
        ratio(index_as("chatvault", ""), index_as("sqlite_trigram", "")),
        ratio(index_as("chatvault", "_compacted"), index_as("sqlite_fts5", "_compacted")),
        ratio(index_as("chatvault", "_compacted"), index_as("sqlite_trigram", "_compacted")),
    );
}

/// A figure with three significant digits and thousands separators.
fn show(v: f64) -> String {
    if v >= 1000.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
