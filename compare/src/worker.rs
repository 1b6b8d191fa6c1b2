//! A worker process of the comparison: runs the workload on each of its
//! engines, alternating their order, and prints one line per figure:
//! `figure <engine> <metric> <value>`. Included with `#[path]` by both
//! workers.

use std::path::Path;

use crate::workload::{Data, Figure, Params};

/// Runs one engine on a new store under a directory; returns its figures.
pub type Runner = fn(&Path, &Data, &Params) -> Vec<Figure>;

/// Parses `--messages N --conversations N --reps N --rounds N --round N`
/// (defaults 200,000 / 300 / 300 / 1 / 0), runs every engine `rounds`
/// times, rotating which goes first (`--round` offsets the rotation, so the
/// driver's rounds alternate the order too), and prints its figures and
/// `sqlite <version>`.
pub fn main(engines: &[(&str, Runner)], args: Vec<String>) {
    let mut p = Params { messages: 200_000, conversations: 300, reps: 300, spread: 0, short: 0, search: 0 };
    let mut rounds = 1;
    let mut first_round = 0;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        let Some(value) = value else {
            eprintln!(
                "usage: [--messages N] [--conversations N] [--reps N] [--spread N] [--short N] [--search N] [--rounds N] [--round N]"
            );
            std::process::exit(2);
        };
        match flag.as_str() {
            "--messages" => p.messages = value,
            "--conversations" => p.conversations = value,
            "--reps" => p.reps = value,
            "--spread" => p.spread = value,
            "--short" => p.short = value,
            "--search" => p.search = value,
            "--rounds" => rounds = value,
            "--round" => first_round = value,
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2);
            }
        }
    }
    println!("sqlite {}", rusqlite::version());
    let data = Data::new(&p).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    for round in first_round..first_round + rounds {
        for i in 0..engines.len() {
            let (name, runner) = engines[(i + round) % engines.len()];
            let dir = tempfile::tempdir().expect("a temporary directory");
            for (metric, value) in runner(dir.path(), &data, &p) {
                println!("figure {name} {metric} {value}");
            }
        }
    }
}
