//! chatvault against plaintext SQLite and SQLCipher, on the same workload
//! and the same data, in one run: `scripts/compare.sh` (BENCHMARKS.md).
//!
//! `chatvault-compare worker [flags]` is the SQLCipher worker: SQLCipher
//! 4 with a raw key (so its KDF does not dominate), and the same library
//! without a key, which is SQLCipher's SQLite as plaintext.
//! `chatvault-compare run --chatvault-worker PATH [--rounds N] [flags]`
//! alternates that worker with the chatvault one (the main workspace's
//! `examples/compare_worker.rs`: chatvault and plaintext SQLite, built with
//! chatvault's own SQLite), takes the median of each figure over the
//! rounds, and prints the tables.

#[path = "../../benches/common/plain.rs"]
mod plain;
mod report;
mod sql_engine;
mod worker;
mod workload;

use std::path::Path;

use sql_engine::SqlEngine;
use workload::{Data, Figure, Params};

/// SQLCipher's raw key: 32 bytes, as chatvault's.
const KEY: [u8; 32] = [0x5a; 32];

fn sqlcipher(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    workload::run(&mut SqlEngine::create(dir.join("cipher.sqlite"), Some(KEY), &data.convs), data, p)
}

fn sqlcipher_nokey(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    workload::run(&mut SqlEngine::create(dir.join("nokey.sqlite"), None, &data.convs), data, p)
}

/// SQLCipher with an FTS5 index (`unicode61`) inside the encrypted file:
/// only in the search comparison.
fn sqlcipher_fts5(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    if p.search == 0 {
        return Vec::new();
    }
    let engine =
        SqlEngine::create(dir.join("cipher-fts5.sqlite"), Some(KEY), &data.convs).with_fts("unicode61");
    workload::run(&mut { engine }, data, p)
}

fn main() {
    // Without SQLCipher, `PRAGMA key` does nothing and the "SQLCipher" rows
    // would measure plaintext SQLite: such a build (.ci/run's check) only
    // type-checks.
    if !cfg!(feature = "sqlcipher") {
        eprintln!(
            "built without the `sqlcipher` feature: rebuild with default features (scripts/compare.sh does)"
        );
        std::process::exit(2);
    }
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("worker") => worker::main(
            &[
                ("sqlcipher", sqlcipher),
                ("sqlcipher_nokey", sqlcipher_nokey),
                ("sqlcipher_fts5", sqlcipher_fts5),
            ],
            args.collect(),
        ),
        Some("run") => report::run(args.collect()),
        _ => {
            eprintln!("usage: chatvault-compare run --chatvault-worker PATH [--rounds N] [--messages N] ...");
            eprintln!(
                "       chatvault-compare worker [--messages N] [--conversations N] [--reps N] [--rounds N] [--round N]"
            );
            eprintln!("scripts/compare.sh builds both workers and runs this.");
            std::process::exit(2);
        }
    }
}
