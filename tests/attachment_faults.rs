//! Attachment writes and deletes under injected faults: I/O errors, full
//! disks and power losses in the database files (the fault-injecting VFS
//! of tests/faults.rs), in-process.
//!
//! Each round opens the store, arms one fault at a random one of the next
//! few hundred database calls, and runs the attachment workload of
//! tests/common/attachment_model.rs (appends, attachments inline and in
//! files, deletes of attachments and of messages, the storage manager,
//! compaction) until it fires. The store is then reopened (after a power
//! cycle for a power loss) and must show every acknowledged operation, the
//! interrupted one entirely applied or entirely absent, every attachment's
//! exact content, and pass `verify` but for orphan attachment files, which
//! `compact` then removes: no row ever names a missing file, no file
//! outlives a compaction without a row.
//!
//! `CHATVAULT_ATTACHMENT_FAULTS` sets the number of rounds with a fault
//! that fired (default 150), `CHATVAULT_FAULT_SEED` the seed.

mod common;

use chatvault::{Store, StoreKey};
use chatvault_corpus::Rng;
use chatvault_faultvfs::{self as vfs, Fault, IoKind, Loss};
use common::KEY;
use common::attachment_model::{State, check_store, conversations, next_op, observe, run, settle};
use common::mixed::env_u64;

#[test]
fn attachment_writes_and_deletes_survive_io_errors_and_power_losses() {
    vfs::install();
    let want = env_u64("CHATVAULT_ATTACHMENT_FAULTS", 150);
    let seed = env_u64("CHATVAULT_FAULT_SEED", 0xA77AC4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.chatvault");
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    let convs = conversations(&store);
    store.close().unwrap();

    let mut rng = Rng::new(seed);
    let mut model = State::default();
    let (mut fired, mut rounds, mut acked, mut applied, mut absent, mut orphans, mut powers) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut tag = 0u64;
    while fired < want {
        rounds += 1;
        let context = format!("round {rounds} (seed {seed})");
        let store = Store::open(&path, StoreKey::raw(KEY)).unwrap_or_else(|e| panic!("{context}: open: {e}"));
        let power = rng.below(4) == 0;
        let nth = 1 + rng.below(300);
        let fault = if power {
            Fault::PowerLoss { nth }
        } else {
            match rng.below(5) {
                0 => Fault::Error { on: IoKind::Read, nth },
                1 => Fault::Error { on: IoKind::Write, nth: 1 + rng.below(60) },
                2 => Fault::Error { on: IoKind::Sync, nth: 1 + rng.below(20) },
                3 => Fault::DiskFull { nth: 1 + rng.below(60) },
                _ => Fault::Error { on: IoKind::Truncate, nth: 1 + rng.below(5) },
            }
        };
        vfs::arm(fault);
        let mut interrupted = None;
        for _ in 0..12 {
            tag += 1;
            let op = next_op(&mut rng, &model, &convs, tag);
            let result = run(&store, &op);
            if vfs::fired().is_some() {
                interrupted = Some((op, result));
                break;
            }
            let ack = result.unwrap_or_else(|e| panic!("{context}: {op:?} failed with no fault: {e}"));
            model = common::attachment_model::apply(&model, &op, &ack);
            acked += 1;
        }
        let hit = vfs::disarm();
        let (Some(_), Some((op, result))) = (hit, interrupted) else {
            store.close().unwrap_or_else(|e| panic!("{context}: close: {e}"));
            continue;
        };
        fired += 1;
        let before = model.clone();
        if let Ok(ack) = &result {
            model = common::attachment_model::apply(&model, &op, ack);
            acked += 1;
        }
        if power {
            powers += 1;
            drop(store);
            vfs::power_cycle(Loss::Unsynced).unwrap_or_else(|e| panic!("{context}: power cycle: {e}"));
        } else {
            drop(store);
        }
        let store =
            Store::open(&path, StoreKey::raw(KEY)).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
        let context = format!("{context}, {fault:?} during {op:?} ({result:?})");
        let got = observe(&store, &convs);
        if result.is_ok() {
            assert_eq!(got, model, "{context}: an acknowledged operation is not what the store shows");
        } else {
            model = settle(&before, &op, &got, &context);
            if model == before { absent += 1 } else { applied += 1 }
        }
        orphans += check_store(&store, &context);
        store.close().unwrap_or_else(|e| panic!("{context}: close: {e}"));
    }
    eprintln!(
        "{rounds} rounds: {fired} faults fired ({powers} power losses); {acked} acknowledged operations all \
         present; interrupted operations {applied} applied, {absent} absent; {orphans} orphan files reported \
         by verify and removed by compact"
    );
    assert!(absent > 0, "faults should land before operations commit");
}
