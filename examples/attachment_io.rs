//! Attachment throughput against plain files, in one process on one disk
//! (BENCHMARKS.md, "Attachments"; the goals of docs/ATTACHMENTS.md):
//!
//! ```text
//! cargo run --release --example attachment_io [-- MB [GB_FOR_SEEKS]]
//! ```
//!
//! 1. Where small and large content is cheaper to keep: 500 thumbnails of
//!    8 KiB and one 100 MB video, as SQLite rows of 64 KiB and as files
//!    (each file and its directory synced, each row its own commit).
//! 2. Writing an attachment of MB megabytes (default 100) against writing
//!    the same bytes to a plain file in 64 KiB writes with the same sync
//!    policy (the file and its directory synced once, at the end).
//! 3. Reading it back whole against reading the plain file.
//! 4. 64 KiB at 2,000 random offsets of a GB_FOR_SEEKS (default 1) GiB
//!    attachment against `pread` of the same ranges of a plain file, and
//!    against `pread` plus decrypting two chunks; and how many chunks the
//!    reader decrypted per read.
//! 5. Exporting the store with the MB attachment to an archive file and
//!    importing it into a new store, against copying the plain file (each
//!    synced).
//! 6. Peak memory while writing and reading the large attachment.
//!
//! Times are the best of a few runs; each figure is printed as a ratio to
//! its baseline from the same run.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use chatvault::{NewAttachment, NewConversation, NewMessage, Store, StoreKey};

fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn content(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn sync_dir(dir: &std::path::Path) {
    std::fs::File::open(dir).unwrap().sync_all().unwrap();
}

fn placement(dir: &std::path::Path) {
    let data = content(100 << 20);
    for (n, size) in [(500usize, 8usize << 10), (1, 100 << 20)] {
        let fdir = dir.join(format!("files-{size}"));
        std::fs::create_dir(&fdir).unwrap();
        let t = Instant::now();
        for i in 0..n {
            let mut f = std::fs::File::create(fdir.join(i.to_string())).unwrap();
            for c in data[..size].chunks(64 << 10) {
                f.write_all(c).unwrap();
            }
            f.sync_all().unwrap();
            sync_dir(&fdir);
        }
        let files = t.elapsed();
        let conn = rusqlite::Connection::open(dir.join(format!("rows-{size}.db"))).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;
             CREATE TABLE c (id INTEGER PRIMARY KEY, b BLOB)",
        )
        .unwrap();
        let t = Instant::now();
        for _ in 0..n {
            conn.execute_batch("BEGIN").unwrap();
            for c in data[..size].chunks(64 << 10) {
                conn.execute("INSERT INTO c (b) VALUES (?1)", [c]).unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let rows = t.elapsed();
        println!(
            "placement: {n} x {size} bytes: rows take {:.2}x the time of files",
            rows.as_secs_f64() / files.as_secs_f64()
        );
    }
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let mb = args.first().copied().unwrap_or(100) as usize;
    let gb = args.get(1).copied().unwrap_or(1) as usize;
    // Beside the build, on the same disk as a store would be (not tmpfs).
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    placement(dir.path());

    let store = Store::create(dir.path().join("bench.chatvault"), StoreKey::raw([7; 32])).unwrap();
    let c =
        store.create_conversation(NewConversation { title: "bench".into(), ..Default::default() }).unwrap();
    let m = store
        .append(c, NewMessage { sender: "me".into(), text: "video".into(), ..Default::default() })
        .unwrap();
    let video = || NewAttachment { media_type: "video/mp4".into(), ..Default::default() };

    // 2. Writing.
    let data = content(mb << 20);
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir(&plain_dir).unwrap();
    let plain_path = plain_dir.join("video.mp4");
    let plain_write = best(3, || {
        let _ = std::fs::remove_file(&plain_path);
        let t = Instant::now();
        let mut f = std::fs::File::create(&plain_path).unwrap();
        for c in data.chunks(64 << 10) {
            f.write_all(c).unwrap();
        }
        f.sync_all().unwrap();
        sync_dir(&plain_dir);
        t.elapsed()
    });
    let mut last = None;
    let store_write = best(3, || {
        if let Some(a) = last.take() {
            store.delete_attachment(a).unwrap();
        }
        let t = Instant::now();
        let mut w = store.attach(m, video()).unwrap();
        for c in data.chunks(64 << 10) {
            w.write_all(c).unwrap();
        }
        last = Some(w.finish().unwrap());
        t.elapsed()
    });
    let a = last.unwrap();
    println!(
        "write {mb} MB: chatvault {:.0} MB/s, plain file {:.0} MB/s: {:.2}x (goal >= 0.8x)",
        mb as f64 / store_write.as_secs_f64(),
        mb as f64 / plain_write.as_secs_f64(),
        plain_write.as_secs_f64() / store_write.as_secs_f64()
    );

    // 3. Reading back.
    let mut buf = vec![0u8; 64 << 10];
    let plain_read = best(5, || {
        let t = Instant::now();
        let mut f = std::fs::File::open(&plain_path).unwrap();
        while f.read(&mut buf).unwrap() > 0 {}
        t.elapsed()
    });
    let store_read = best(5, || {
        let t = Instant::now();
        let mut r = store.open_attachment(a).unwrap();
        while r.read(&mut buf).unwrap() > 0 {}
        t.elapsed()
    });
    println!(
        "read {mb} MB from the page cache: chatvault {:.0} MB/s, plain file {:.0} MB/s: {:.2}x (goal >= 0.8x)",
        mb as f64 / store_read.as_secs_f64(),
        mb as f64 / plain_read.as_secs_f64(),
        plain_read.as_secs_f64() / store_read.as_secs_f64()
    );
    // From the device: the page cache dropped before each read (Linux, as
    // root; skipped otherwise).
    let drop_caches = || std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok();
    if drop_caches() {
        let plain_cold = best(3, || {
            drop_caches();
            let t = Instant::now();
            let mut f = std::fs::File::open(&plain_path).unwrap();
            while f.read(&mut buf).unwrap() > 0 {}
            t.elapsed()
        });
        let store_cold = best(3, || {
            drop_caches();
            let t = Instant::now();
            let mut r = store.open_attachment(a).unwrap();
            while r.read(&mut buf).unwrap() > 0 {}
            t.elapsed()
        });
        println!(
            "read {mb} MB from the device: chatvault {:.0} MB/s, plain file {:.0} MB/s: {:.2}x (goal >= 0.8x)",
            mb as f64 / store_cold.as_secs_f64(),
            mb as f64 / plain_cold.as_secs_f64(),
            plain_cold.as_secs_f64() / store_cold.as_secs_f64()
        );
    }
    drop(data);

    // 5. Export and import against copying the same bytes.
    let copy = best(3, || {
        let dst = dir.path().join("copy.mp4");
        let _ = std::fs::remove_file(&dst);
        let t = Instant::now();
        std::fs::copy(&plain_path, &dst).unwrap();
        std::fs::File::open(&dst).unwrap().sync_all().unwrap();
        sync_dir(dir.path());
        t.elapsed()
    });
    let archive = dir.path().join("bench.cvarchive");
    let options = chatvault::ExportOptions::raw_key([9; 32]);
    let export = best(3, || {
        let t = Instant::now();
        store.export_to_file(&archive, &options).unwrap();
        t.elapsed()
    });
    let mut n = 0;
    let import = best(3, || {
        n += 1;
        let other =
            Store::create(dir.path().join(format!("import-{n}.chatvault")), StoreKey::raw([8; 32])).unwrap();
        let t = Instant::now();
        other.import_from_file(&archive, &chatvault::ImportOptions::raw_key([9; 32])).unwrap();
        let d = t.elapsed();
        drop(other);
        d
    });
    println!(
        "{mb} MB attachment: export {:.2}x, import {:.2}x the throughput of copying the file (goal >= 0.5x)",
        copy.as_secs_f64() / export.as_secs_f64(),
        copy.as_secs_f64() / import.as_secs_f64()
    );
    // Peak memory from here on (Linux: 5 resets the high-water mark).
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    // 4. Random 64 KiB reads of a large attachment.
    let total = gb << 30;
    let rss_before = peak_rss_kib();
    let mut w = store.attach(m, video()).unwrap();
    let mut f = std::fs::File::create(plain_dir.join("big")).unwrap();
    let block = content(1 << 20);
    for _ in 0..(total >> 20) {
        w.write_all(&block).unwrap();
        f.write_all(&block).unwrap();
    }
    let big = w.finish().unwrap();
    f.sync_all().unwrap();
    let rss_write = peak_rss_kib();
    let offsets: Vec<u64> = {
        let mut rng = Rng(42);
        (0..2000).map(|_| rng.next() % (total as u64 - (64 << 10))).collect()
    };
    let plain = std::fs::File::open(plain_dir.join("big")).unwrap();
    let pread = best(3, || {
        let t = Instant::now();
        for &o in &offsets {
            std::os::unix::fs::FileExt::read_exact_at(&plain, &mut buf, o).unwrap();
        }
        t.elapsed()
    });
    let mut reader = store.open_attachment(big).unwrap();
    let before = reader.chunks_decrypted();
    let ranged = best(3, || {
        let t = Instant::now();
        for &o in &offsets {
            let mut got = 0;
            while got < buf.len() {
                got += reader.read_at(o + got as u64, &mut buf[got..]).unwrap();
            }
        }
        t.elapsed()
    });
    let per_read = (reader.chunks_decrypted() - before) as f64 / (3.0 * offsets.len() as f64);
    // pread plus the decryption of two chunks, as a reader that had them
    // in memory would pay: the goal's baseline.
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[1; 32]).unwrap(),
    );
    let mut sealed = vec![0u8; 64 << 10];
    let tag = key
        .seal_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key([0; 12]),
            ring::aead::Aad::empty(),
            &mut sealed,
        )
        .unwrap();
    sealed.extend_from_slice(tag.as_ref());
    let decrypt2 = best(3, || {
        let t = Instant::now();
        for _ in 0..offsets.len() * 2 {
            let mut b = sealed.clone();
            key.open_in_place(
                ring::aead::Nonce::assume_unique_for_key([0; 12]),
                ring::aead::Aad::empty(),
                &mut b,
            )
            .unwrap();
        }
        t.elapsed()
    });
    let n = offsets.len() as f64;
    println!(
        "64 KiB at random offsets of {gb} GiB: chatvault {:.1} us, pread {:.1} us, pread + 2 decrypts {:.1} us: \
         {:.2}x of pread + decrypt (goal <= 2x), {:.2} chunks decrypted per read (goal <= 2)",
        ranged.as_secs_f64() * 1e6 / n,
        pread.as_secs_f64() * 1e6 / n,
        (pread + decrypt2).as_secs_f64() * 1e6 / n,
        ranged.as_secs_f64() / (pread + decrypt2).as_secs_f64(),
        per_read
    );
    let mut r = store.open_attachment(big).unwrap();
    while r.read(&mut buf).unwrap() > 0 {}
    let rss_read = peak_rss_kib();
    println!(
        "peak RSS: {rss_before} KiB before the {gb} GiB attachment, {rss_write} KiB after writing it, \
         {rss_read} KiB after reading it whole (the 1 MiB block written and 2,000 offsets included)"
    );
}
