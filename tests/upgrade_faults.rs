//! I/O errors, full disks and power losses injected while `Store::open`
//! upgrades a committed store of each earlier format (tests/vectors) and
//! `Store::index_for_search` gives its segments their search filters, by
//! the fault-injecting VFS of tests/faults.rs.
//!
//! The upgrade is one transaction (docs/DESIGN.md, "Upgrading"), so
//! whatever the fault (during the open, the backfill, or the close that
//! checkpoints them), the call either fails with an error that says what
//! happened (`Error::Io` naming the call, or `Error::StorageFull`) or
//! succeeds; and the next open, with no fault, upgrades or finds the store
//! upgraded, passes `verify`, and shows exactly what a clean upgrade of the
//! same file shows.
//!
//! `CHATVAULT_UPGRADE_FAULTS` (default 120 per format) sets how many faults
//! to inject per vector, `CHATVAULT_FAULT_SEED` the seed.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatvault::{Clock, Error, Store, StoreKey, StoreOptions};
use chatvault_corpus::Rng;
use chatvault_faultvfs::{self as vfs, Fault, IoKind, Loss};
use common::dump;
use common::mixed::{env_u64, observe};

/// The vectors' passphrase and clock (tests/format_spec.rs).
const PASSPHRASE: &str = "chatvault format vector";
const NOW: i64 = 1_750_000_000_000;

const VECTORS: [(&str, &str); 4] = [
    ("format 1", include_str!("vectors/store-v1.sql")),
    ("format 2", include_str!("vectors/store-v2.sql")),
    ("format 3", include_str!("vectors/store-v3.sql")),
    ("format 4", include_str!("vectors/store-v4.sql")),
];

fn open(path: &Path) -> chatvault::Result<Store> {
    let options = StoreOptions { clock: Clock::new(|| NOW), ..Default::default() };
    Store::open_with(path, StoreKey::passphrase(PASSPHRASE), options)
}

/// The format version on disk, read through SQLite's own VFS.
fn user_version(path: &Path) -> i64 {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags_and_vfs(path, flags, c"unix").expect("open raw");
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("user_version")
}

/// A copy of `from` under a name used once (the VFS tracks files by path).
fn copy(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).expect("copy the vector store");
    to
}

#[test]
fn faults_while_upgrading_lose_nothing_and_leave_an_openable_store() {
    vfs::install();
    let per_vector = env_u64("CHATVAULT_UPGRADE_FAULTS", 120);
    let seed = env_u64("CHATVAULT_FAULT_SEED", 0x0B6_4ADE);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    // Per kind of fault: (fired, the open, backfill or close failed, it succeeded).
    let mut fired: BTreeMap<&'static str, (u64, u64, u64)> = BTreeMap::new();
    let (mut upgraded_by_retry, mut upgraded_before_the_fault) = (0u64, 0u64);
    for (v, (name, sql)) in VECTORS.into_iter().enumerate() {
        let pristine = dir.path().join(format!("v{v}.pristine"));
        dump::load(sql, &pristine);
        let old_version = user_version(&pristine);
        let new_version = i64::from(chatvault::FORMAT_VERSION);
        assert!(old_version < new_version, "{name}: the vector is not of an older format");

        // A clean upgrade: what every faulted one must end up showing, and
        // how many file calls an open and a close make (the span the
        // faults are drawn from).
        let clean = copy(&pristine, dir.path(), &format!("v{v}.clean"));
        let before = vfs::totals();
        let store = open(&clean).unwrap_or_else(|e| panic!("{name}: clean upgrade: {e}"));
        store.index_for_search(None).unwrap();
        store.close().unwrap();
        let after = vfs::totals();
        assert_eq!(user_version(&clean), new_version);
        let store = open(&clean).unwrap();
        let want = observe(&store, name);
        assert!(!want.is_empty(), "{name}: the vector shows no conversation");
        assert!(store.verify().unwrap().is_ok(), "{name}: clean upgrade does not verify");
        store.close().unwrap();
        let span = |kind: Option<IoKind>| {
            let calls = match kind {
                Some(IoKind::Read) => after.reads - before.reads,
                Some(IoKind::Write) => after.writes - before.writes,
                Some(IoKind::Sync) => after.syncs - before.syncs,
                Some(IoKind::Truncate) => after.truncates - before.truncates,
                None => {
                    (after.writes + after.syncs + after.truncates)
                        - (before.writes + before.syncs + before.truncates)
                }
            };
            calls.max(1)
        };

        for round in 0..per_vector {
            let path = copy(&pristine, dir.path(), &format!("v{v}.r{round}"));
            let fault = match rng.below(10) {
                0..=3 => Fault::PowerLoss { nth: 1 + rng.below(span(None)) },
                4 => Fault::Error { on: IoKind::Read, nth: 1 + rng.below(span(Some(IoKind::Read))) },
                5 | 6 => Fault::Error { on: IoKind::Write, nth: 1 + rng.below(span(Some(IoKind::Write))) },
                7 => Fault::Error { on: IoKind::Sync, nth: 1 + rng.below(span(Some(IoKind::Sync))) },
                8 => Fault::Error { on: IoKind::Truncate, nth: 1 + rng.below(span(Some(IoKind::Truncate))) },
                _ => Fault::DiskFull { nth: 1 + rng.below(span(Some(IoKind::Write))) },
            };
            let context = format!("{name}, round {round} (seed {seed}), {fault:?}");
            vfs::arm(fault);
            // Open (and upgrade), give every segment its search filter,
            // then close (checkpointing it all into the database file),
            // each step unless the fault fired already.
            let result = match open(&path) {
                Ok(store) if vfs::fired().is_none() => match store.index_for_search(None) {
                    Ok(_) if vfs::fired().is_none() => store.close().map(|()| None),
                    Ok(_) => Ok(Some(store)),
                    Err(e) => Err(e),
                },
                Ok(store) => Ok(Some(store)),
                Err(e) => Err(e),
            };
            let hit = vfs::disarm();
            let Some(hit) = hit else {
                // Drawn past the calls this open made (they vary a little).
                result.unwrap_or_else(|e| panic!("{context}: failed with no fault: {e}"));
                continue;
            };
            let label = match hit.fault {
                Fault::PowerLoss { .. } => "power loss",
                Fault::DiskFull { .. } => "disk full",
                Fault::Error { on: IoKind::Read, .. } => "read error",
                Fault::Error { on: IoKind::Write, .. } => "write error",
                Fault::Error { on: IoKind::Sync, .. } => "sync error",
                Fault::Error { on: IoKind::Truncate, .. } => "truncate error",
            };
            let counts = fired.entry(label).or_default();
            counts.0 += 1;
            match &result {
                Ok(_) => counts.2 += 1,
                Err(e) => {
                    counts.1 += 1;
                    let fits = match (e, hit.fault) {
                        (Error::StorageFull, Fault::DiskFull { .. }) => true,
                        (Error::Io(io), Fault::Error { .. } | Fault::PowerLoss { .. }) => {
                            let call = match (hit.fault, hit.kind) {
                                (Fault::Error { on, .. }, _) | (_, on) => on,
                            };
                            let word = match call {
                                IoKind::Read => "reading",
                                IoKind::Write => "writing",
                                IoKind::Sync => "flushing",
                                IoKind::Truncate => "truncating",
                            };
                            io.to_string().contains(word)
                        }
                        _ => false,
                    };
                    assert!(fits, "{context}: the fault surfaced as {e:?} ({e})");
                }
            }
            if let Fault::PowerLoss { .. } = hit.fault {
                drop(result);
                let loss = if rng.chance(0.5) {
                    Loss::Unsynced
                } else {
                    Loss::Prefix { keep_per_mille: rng.below(1001) as u32, torn_sectors: rng.below(9) as u32 }
                };
                vfs::power_cycle(loss).unwrap_or_else(|e| panic!("{context}: power cycle: {e}"));
            } else if let Ok(Some(store)) = result {
                // The fault was absorbed: this handle works and shows it all.
                assert!(
                    observe(&store, &context) == want,
                    "{context}: the handle that saw the fault differs"
                );
                store.close().unwrap_or_else(|e| panic!("{context}: close: {e}"));
            }
            // All or nothing: the file is of the old format or the new one.
            let on_disk = user_version(&path);
            assert!(on_disk == old_version || on_disk == new_version, "{context}: format {on_disk} on disk");
            if on_disk == old_version {
                upgraded_by_retry += 1;
            } else {
                upgraded_before_the_fault += 1;
            }
            let store = open(&path).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
            assert_eq!(user_version(&path), new_version, "{context}: not upgraded by the reopen");
            let report = store.verify().unwrap_or_else(|e| panic!("{context}: verify: {e}"));
            assert!(report.is_ok(), "{context}: verify: {report:?}");
            assert!(observe(&store, &context) == want, "{context}: differs from a clean upgrade");
            // The backfill resumes where the fault left it.
            let indexed = store.index_for_search(None).unwrap_or_else(|e| panic!("{context}: index: {e}"));
            assert_eq!(indexed.segments_remaining, 0, "{context}");
            assert!(store.verify().unwrap().is_ok(), "{context}: verify after the backfill");
            store.close().unwrap_or_else(|e| panic!("{context}: close after reopening: {e}"));
        }
    }
    eprintln!(
        "Per fault (fired, the open, backfill or close failed, it succeeded): {fired:?}; {upgraded_by_retry} stores were left \
         in their old format and upgraded by the next open, {upgraded_before_the_fault} were upgraded before their fault."
    );
    let failed: u64 = fired.values().map(|c| c.1).sum();
    assert!(failed > 0 && upgraded_by_retry > 0, "no fault interrupted an upgrade");
    assert!(upgraded_before_the_fault > 0, "no fault landed after an upgrade committed");
}
