//! A store's or archive's header cannot make chatvault do more key
//! derivation than a phone survives (docs/DESIGN.md, "Keys"). The attack,
//! reproduced: a 120-byte archive header claiming Argon2id with 4 GiB, 64
//! passes and 16 lanes made `inspect` hold 4 GiB for minutes before anything
//! was authenticated. Now it is refused before any derivation: these tests
//! count every byte this thread allocates while the call runs.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use chatvault::archive::inspect;
use chatvault::{
    Error, ExportOptions, ImportOptions, KdfParams, NewConversation, Store, StoreKey, StoreOptions,
};
use common::msg;

/// Counts the bytes the current thread has allocated and not freed, and
/// the most it held at once, for the thread's own calls only (the test
/// harness runs other tests on other threads meanwhile).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// Frees of at least [`WATCHED`] bytes on this thread: how many, and
    /// how many held a nonzero byte when they were freed.
    static BIG_FREES: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Frees this large are checked for leftover bytes (Argon2id's working
/// memory is m KiB, at least 19 MiB; nothing else chatvault frees while
/// opening a store is near it).
const WATCHED: usize = 8 << 20;

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping touches only const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| {
            let now = l.get() + layout.size();
            l.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
        // SAFETY: the caller's layout, passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
        if layout.size() >= WATCHED {
            // SAFETY: `ptr` is a live allocation of `layout.size()` bytes
            // (the caller frees it only after this returns), and the
            // caller gives it up, so nothing else writes it meanwhile.
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let dirty = usize::from(bytes.iter().any(|&b| b != 0));
            let _ = BIG_FREES.try_with(|f| f.set((f.get().0 + 1, f.get().1 + dirty)));
        }
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result, the most bytes this thread held at once
/// beyond what it held before, and how long it took.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let started = Instant::now();
    let out = f();
    let elapsed = started.elapsed();
    (out, PEAK.with(Cell::get) - base, elapsed)
}

const MIB: usize = 1 << 20;

/// A small passphrase archive, made with the default (minimum) cost.
fn archive() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
    let c = store.create_conversation(NewConversation::default()).unwrap();
    store.append(c, msg("a", "hello")).unwrap();
    let mut out = Vec::new();
    store.export(&mut out, &ExportOptions::passphrase("archive passphrase")).unwrap();
    out
}

/// The archive with its header's Argon2id parameters replaced (bytes 12 to
/// 24, docs/FORMAT.md): nothing else changes, the MAC is not checked first.
fn forged(archive: &[u8], m: u32, t: u32, p: u32) -> Vec<u8> {
    let mut out = archive.to_vec();
    out[12..16].copy_from_slice(&m.to_be_bytes());
    out[16..20].copy_from_slice(&t.to_be_bytes());
    out[20..24].copy_from_slice(&p.to_be_bytes());
    out
}

#[test]
fn a_forged_archive_header_with_the_old_maximum_is_refused_at_once() {
    let good = archive();
    // The old ceiling: 4 GiB, 64 passes, 16 lanes. Then each field past
    // the new ceiling alone, and a work bound past it with fields within.
    for (m, t, p) in
        [(4 << 20, 64, 16), (512 << 10, 2, 1), (19 << 10, 17, 1), (19 << 10, 2, 9), (256 << 10, 3, 1)]
    {
        let bad = forged(&good, m, t, p);
        let options = ImportOptions::passphrase("archive passphrase");
        let (result, peak, elapsed) = measured(|| inspect(&bad[..], &options));
        match result {
            Err(Error::KdfTooCostly { found, limit }) => {
                assert_eq!((found.memory_kib, found.iterations, found.parallelism), (m, t, p));
                assert_eq!(limit, KdfParams::MAX);
            }
            other => panic!("m={m} t={t} p={p}: {other:?}"),
        }
        assert!(peak < MIB, "m={m} t={t} p={p}: {peak} bytes allocated before refusing");
        assert!(elapsed < Duration::from_millis(100), "m={m} t={t} p={p}: took {elapsed:?}");

        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s"), StoreKey::raw([2; 32])).unwrap();
        let (result, peak, _) = measured(|| store.import(&bad[..], &options));
        assert!(matches!(result, Err(Error::KdfTooCostly { .. })), "import: {result:?}");
        assert!(peak < MIB, "import allocated {peak} bytes before refusing");
    }
    // The genuine archive still opens, and Argon2id at its cost (19 MiB)
    // shows up in the count: the measurement sees the allocation it guards.
    let (summary, peak, _) =
        measured(|| inspect(&good[..], &ImportOptions::passphrase("archive passphrase")));
    assert_eq!(summary.unwrap().messages, 1);
    assert!(peak > 19 * MIB, "Argon2id's memory was not counted: {peak}");
}

#[test]
fn the_caller_can_lower_the_cap_for_archives() {
    let good = archive();
    let small = KdfParams { memory_kib: 8 << 10, iterations: 4, parallelism: 4 };
    let options = ImportOptions::passphrase("archive passphrase").max_kdf(small);
    let (result, peak, _) = measured(|| inspect(&good[..], &options));
    match result {
        Err(Error::KdfTooCostly { limit, .. }) => assert_eq!(limit, small),
        other => panic!("{other:?}"),
    }
    assert!(peak < MIB);
    // Exactly the archive's cost is allowed.
    let options = ImportOptions::passphrase("archive passphrase").max_kdf(KdfParams::MIN);
    assert!(inspect(&good[..], &options).is_ok());
}

#[test]
fn a_forged_store_header_is_refused_before_derivation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    Store::create(&path, StoreKey::passphrase("store passphrase")).unwrap().close().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE store SET kdf_m_kib = 4194304, kdf_t = 64, kdf_p = 16", [])
        .unwrap();
    let (result, peak, elapsed) = measured(|| Store::open(&path, StoreKey::passphrase("store passphrase")));
    assert!(matches!(result, Err(Error::KdfTooCostly { .. })), "{result:?}");
    assert!(peak < 4 * MIB, "{peak} bytes allocated before refusing");
    assert!(elapsed < Duration::from_millis(100), "took {elapsed:?}");
}

#[test]
fn the_caller_can_lower_the_cap_for_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let params = KdfParams { memory_kib: 24 << 10, iterations: 2, parallelism: 1 };
    Store::create(&path, StoreKey::passphrase_with_params("store passphrase", params))
        .unwrap()
        .close()
        .unwrap();
    let capped = StoreOptions { max_kdf: KdfParams::MIN, ..Default::default() };
    let result = Store::open_with(&path, StoreKey::passphrase("store passphrase"), capped);
    match result {
        Err(Error::KdfTooCostly { found, limit }) => {
            assert_eq!((found, limit), (params, KdfParams::MIN));
        }
        other => panic!("{other:?}"),
    }
    let enough = StoreOptions { max_kdf: params, ..Default::default() };
    assert!(Store::open_with(&path, StoreKey::passphrase("store passphrase"), enough).is_ok());
}

#[test]
fn creating_past_the_ceiling_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for params in [
        KdfParams { memory_kib: (256 << 10) + 1, iterations: 2, parallelism: 1 },
        KdfParams { memory_kib: 64 << 10, iterations: 9, parallelism: 1 },
        KdfParams { memory_kib: 19 << 10, iterations: 2, parallelism: 9 },
    ] {
        let r = Store::create(dir.path().join("s"), StoreKey::passphrase_with_params("pw", params));
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{params:?}: {r:?}");
        assert!(!dir.path().join("s").exists(), "nothing is left behind");
    }
    // RFC 9106's second recommended setting fits.
    let rfc = KdfParams { memory_kib: 64 << 10, iterations: 3, parallelism: 4 };
    assert!(rfc.work_kib() <= KdfParams::MAX_WORK_KIB);
}

#[test]
fn oversized_header_values_are_refused_before_they_are_read() {
    // SQLite stores blobs of up to a gigabyte: a forged header value that
    // large must not be read (and copied) before its length is checked.
    // As a blob, and as text (whose length SQLite can only count by reading it).
    let values = ["zeroblob(32000000)", "CAST(randomblob(16000000) AS TEXT)"];
    for (column, value) in
        ["master", "next_master", "kdf_salt", "store_id"].into_iter().flat_map(|c| values.map(|v| (c, v)))
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        Store::create(&path, StoreKey::raw([3; 32])).unwrap().close().unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(&format!("UPDATE store SET {column} = {value}"), []).unwrap();
        if column == "next_master" {
            conn.execute("UPDATE store SET rotated_through = 0", []).unwrap();
        }
        drop(conn);
        let (result, peak, _) = measured(|| Store::open(&path, StoreKey::raw([3; 32])));
        assert!(matches!(result, Err(Error::Corrupt { .. })), "{column} = {value}: {result:?}");
        assert!(peak < MIB, "{column} = {value}: {peak} bytes allocated before refusing");
    }
}

/// Argon2id's working memory holds blocks derived from the passphrase:
/// it is zeroized before it is freed (docs/DESIGN.md, "Keys"), on create
/// and on open, and on a wrong passphrase too.
#[test]
fn argon2_working_memory_is_wiped_before_it_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let frees = |f: &mut dyn FnMut()| {
        BIG_FREES.with(|c| c.set((0, 0)));
        f();
        BIG_FREES.with(Cell::get)
    };
    let created = frees(&mut || {
        Store::create(&path, StoreKey::passphrase("store passphrase")).unwrap().close().unwrap();
    });
    let opened = frees(&mut || {
        Store::open(&path, StoreKey::passphrase("store passphrase")).unwrap().close().unwrap();
    });
    let refused = frees(&mut || {
        assert!(matches!(Store::open(&path, StoreKey::passphrase("wrong")), Err(Error::WrongKey)));
    });
    for (what, (freed, dirty)) in [("create", created), ("open", opened), ("a wrong passphrase", refused)] {
        assert!(freed >= 1, "{what}: no Argon2id working memory was freed");
        assert_eq!(dirty, 0, "{what}: {dirty} of {freed} large frees held derived bytes");
    }
}
