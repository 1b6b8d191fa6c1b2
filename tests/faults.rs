//! I/O errors, full disks and power losses, injected under the store by a
//! fault-injecting SQLite VFS (`chatvault-faultvfs`), in-process.
//!
//! Each round opens the store, arms one fault at a random one of the next
//! few hundred file calls, and runs the mixed workload of
//! tests/crash_mixed.rs (appends, batches, edits, deletes, conversations
//! created and deleted, read markers, key and master-key rotations,
//! compaction, imports) until the fault fires:
//!
//! - an I/O error on the Nth read, write, sync or truncation, or a full
//!   disk on the Nth write. The operation that hit it must return an
//!   `Error` that says what happened (`Error::Io` or `Error::StorageFull`;
//!   never a panic, never a corruption report) or, if SQLite absorbed the
//!   fault (a failed checkpoint after a commit, say), succeed. The same
//!   store handle must go on working: what it shows must be the model with
//!   the operation entirely applied or entirely absent (applied if it
//!   succeeded), and it must close cleanly.
//! - a power loss at the Nth write, sync or truncation: every later write
//!   fails, the store is dropped, and the files are put back as a disk would
//!   hold them after the power came back (only what was synced, or with a
//!   prefix of the unsynced writes and a torn one: see the VFS's docs).
//!
//! Either way the store is then reopened and must pass `verify` and show
//! exactly the model: every acknowledged write, nothing of an operation that
//! failed unless all of it.
//!
//! `CHATVAULT_FAULTS` (default 2,000) and `CHATVAULT_POWER_LOSSES` (default
//! 500) set how many of each to inject, `CHATVAULT_FAULT_SEED` the seed.
//! The counts are printed at the end (`--nocapture`).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chatvault::{Error, Store, StoreKey};
use chatvault_corpus::Rng;
use chatvault_faultvfs::{self as vfs, Fault, IoKind, Loss};
use common::KEY;
use common::mixed::{
    InFlight, Model, Rotation, Tally, View, check, env_u64, make_archive, observe, open_either, reopen, run,
    tally, tally_totals,
};

/// At most this many operations per round: a fault armed further out than
/// they reach does not fire, and the round counts as one without a fault.
const OPS_PER_ROUND: u64 = 8;

/// What a round's fault was, for the tallies.
fn label(fault: Fault) -> &'static str {
    match fault {
        Fault::Error { on: IoKind::Read, .. } => "read error",
        Fault::Error { on: IoKind::Write, .. } => "write error",
        Fault::Error { on: IoKind::Sync, .. } => "sync error",
        Fault::Error { on: IoKind::Truncate, .. } => "truncate error",
        Fault::DiskFull { .. } => "disk full",
        Fault::PowerLoss { .. } => "power loss",
    }
}

/// The kind of call a fault failed: for a power loss, the call it hit.
fn on_call(fault: Fault, hit: IoKind) -> IoKind {
    match fault {
        Fault::Error { on, .. } => on,
        Fault::DiskFull { .. } => IoKind::Write,
        Fault::PowerLoss { .. } => hit,
    }
}

/// Matching calls per operation, measured as the test runs, to spread each
/// kind of fault over about `OPS_PER_ROUND` operations.
#[derive(Default)]
struct Rates {
    ops: u64,
    totals: vfs::Totals,
}

impl Rates {
    fn add(&mut self, ops: u64, before: vfs::Totals, after: vfs::Totals) {
        self.ops += ops;
        self.totals.reads += after.reads - before.reads;
        self.totals.writes += after.writes - before.writes;
        self.totals.syncs += after.syncs - before.syncs;
        self.totals.truncates += after.truncates - before.truncates;
    }

    /// The span to draw N from for `kind` (None: power loss, counting
    /// writes, syncs and truncations).
    fn span(&self, kind: Option<IoKind>) -> u64 {
        let t = &self.totals;
        let calls = match kind {
            Some(IoKind::Read) => t.reads,
            Some(IoKind::Write) => t.writes,
            Some(IoKind::Sync) => t.syncs,
            Some(IoKind::Truncate) => t.truncates,
            None => t.writes + t.syncs + t.truncates,
        };
        (calls * OPS_PER_ROUND / self.ops.max(1)).clamp(1, 5_000)
    }
}

#[test]
fn io_errors_and_power_losses_lose_no_acknowledged_write() {
    vfs::install();
    let want_faults = env_u64("CHATVAULT_FAULTS", 2_000);
    let want_power = env_u64("CHATVAULT_POWER_LOSSES", 500);
    let seed = env_u64("CHATVAULT_FAULT_SEED", 0xFA_0175);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.chatvault");
    let (archive_path, archive) = make_archive(dir.path());
    Store::create(&path, StoreKey::raw(KEY)).unwrap().close().unwrap();

    let mut model = Model::default();
    let mut rng = Rng::new(seed);
    let mut rates = Rates::default();
    // Per kind of fault: (fired, the operation returned an error, it succeeded).
    let mut fired: BTreeMap<&'static str, (u64, u64, u64)> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut in_flight = Tally::new();
    let (mut faults, mut power_losses, mut unfired, mut acked_ops, mut scrubs) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut undone = vfs::Undone::default();
    let started = Instant::now();
    let mut round = 0u64;
    while faults < want_faults || power_losses < want_power {
        round += 1;
        let context = format!("round {round} (seed {seed})");
        let (store, _) = open_either(&path).unwrap_or_else(|e| panic!("{context}: open: {e}"));
        let mut view = View::read(&store);

        let power = power_losses < want_power && (faults >= want_faults || rng.below(5) == 0);
        let fault = if power {
            Fault::PowerLoss { nth: 1 + rng.below(rates.span(None)) }
        } else {
            match rng.below(20) {
                0..=5 => {
                    Fault::Error { on: IoKind::Read, nth: 1 + rng.below(rates.span(Some(IoKind::Read))) }
                }
                6..=11 => {
                    Fault::Error { on: IoKind::Write, nth: 1 + rng.below(rates.span(Some(IoKind::Write))) }
                }
                12..=15 => {
                    Fault::Error { on: IoKind::Sync, nth: 1 + rng.below(rates.span(Some(IoKind::Sync))) }
                }
                16 => Fault::Error {
                    on: IoKind::Truncate,
                    nth: 1 + rng.below(rates.span(Some(IoKind::Truncate))),
                },
                _ => Fault::DiskFull { nth: 1 + rng.below(rates.span(Some(IoKind::Write))) },
            }
        };
        vfs::arm(fault);
        let before = vfs::totals();
        let mut interrupted = None;
        let mut ops = 0;
        while ops < OPS_PER_ROUND {
            let op = view.next_op(&mut rng, &format!("r{round}o{ops}"));
            let result = run(&store, &op, &archive_path, &path);
            ops += 1;
            if vfs::fired().is_some() {
                interrupted = Some((op, result));
                break;
            }
            let ack = result.unwrap_or_else(|e| panic!("{context}: {} failed with no fault: {e}", op.kind()));
            model.acknowledge(&op, &ack, &archive, &context);
            vfs::pause(true);
            view.apply(&store, &op, &ack);
            vfs::pause(false);
            acked_ops += 1;
        }
        let hit = vfs::disarm();
        rates.add(ops, before, vfs::totals());
        let (Some(hit), Some((op, result))) = (hit, interrupted) else {
            unfired += 1;
            store.close().unwrap_or_else(|e| panic!("{context}: close: {e}"));
            continue;
        };
        let counts = fired.entry(label(hit.fault)).or_default();
        counts.0 += 1;
        let context =
            format!("{context}, {} at {:?} {:?} during {}", label(hit.fault), hit.file, hit.kind, op.kind());
        // An acknowledged operation is part of the model whatever happens next.
        let mut scrub_owed = false;
        let mut same_handle: Option<InFlight> = None;
        let failed = match result {
            Ok(ack) => {
                counts.2 += 1;
                model.acknowledge(&op, &ack, &archive, &context);
                acked_ops += 1;
                false
            }
            Err(e) => {
                counts.1 += 1;
                // The error says what failed: the call the fault hit, or
                // that the change committed and only its scrub failed.
                let fits = match (&e, hit.fault) {
                    (Error::ScrubIncomplete, _) => {
                        scrub_owed = true;
                        true
                    }
                    (Error::StorageFull, Fault::DiskFull { .. }) => true,
                    (Error::Io(io), Fault::Error { .. } | Fault::PowerLoss { .. }) => {
                        let call = match on_call(hit.fault, hit.kind) {
                            IoKind::Read => "reading",
                            IoKind::Write => "writing",
                            IoKind::Sync => "flushing",
                            IoKind::Truncate => "truncating",
                        };
                        io.to_string().contains(call)
                    }
                    _ => false,
                };
                assert!(fits, "{context}: the fault surfaced as {e:?} ({e})");
                *errors.entry(e.to_string()).or_default() += 1;
                true
            }
        };

        if let Fault::PowerLoss { .. } = hit.fault {
            power_losses += 1;
            drop(store);
            let loss = if rng.chance(0.5) {
                Loss::Unsynced
            } else {
                Loss::Prefix { keep_per_mille: rng.below(1001) as u32, torn_sectors: rng.below(9) as u32 }
            };
            let u = vfs::power_cycle(loss).unwrap_or_else(|e| panic!("{context}: power cycle: {e}"));
            undone.changes += u.changes;
            undone.torn += u.torn;
        } else {
            faults += 1;
            // The same handle goes on: it shows the operation entirely
            // applied or entirely absent, and closes cleanly.
            if failed {
                let mut live = model.clone();
                let context = format!("{context} (same handle)");
                same_handle = Some(live.settle(&op, &store, Rotation::read(&path), &archive, &context));
                if scrub_owed {
                    // As the error says: scrub later, and the WAL is empty.
                    store.scrub().unwrap_or_else(|e| panic!("{context}: scrub after the fault: {e}"));
                    let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
                    assert_eq!(wal, 0, "{context}: the WAL holds {wal} bytes after a scrub");
                    scrubs += 1;
                }
            } else {
                let got = observe(&store, &context);
                assert!(got == model.seen(), "{context}: the same handle differs from the model");
            }
            store.close().unwrap_or_else(|e| panic!("{context}: close after the fault: {e}"));
        }

        let pending = failed.then_some(&op);
        let (store, on_disk) = reopen(&path, &model, pending, &context);
        if failed {
            let outcome = model.settle(&op, &store, on_disk, &archive, &context);
            if let Some(live) = same_handle {
                assert_eq!(
                    live, outcome,
                    "{context}: the reopened store disagrees with the handle that saw the fault"
                );
            }
            if scrub_owed {
                assert_ne!(outcome, InFlight::Absent, "{context}: ScrubIncomplete, yet the change is absent");
            }
            tally(&mut in_flight, &op, outcome);
        }
        check(&store, &model, &context);
        store.close().unwrap_or_else(|e| panic!("{context}: close: {e}"));
    }

    eprintln!(
        "{round} rounds in {:.1?}: {faults} I/O faults and {power_losses} power losses injected \
         ({unfired} rounds ended before their fault); {acked_ops} acknowledged operations, all present after \
         every recovery. Per fault (fired, the operation failed, it succeeded): {fired:?}. \
         Errors returned: {errors:#?}. Interrupted operations (applied, absent, invisible): {in_flight:?}; \
         {scrubs} scrubs after ScrubIncomplete emptied the WAL. \
         Power cycles undid {} unsynced changes and tore {} writes.",
        started.elapsed(),
        undone.changes,
        undone.torn
    );
    let (applied, absent, _) = tally_totals(&in_flight);
    assert!(applied > 0 && absent > 0, "faults should land both before and after operations commit");
}
