//! A fault-injecting SQLite VFS, for chatvault's tests.
//!
//! [`install`] registers a VFS wrapped around SQLite's default one ("unix")
//! and makes it the default, so every connection the test process opens
//! afterwards (the store's included) does its file I/O through it. Until a
//! fault is armed it only passes calls through, and remembers, per file,
//! what each write and truncation since the file's last `fsync` replaced.
//!
//! [`arm`] schedules one [`Fault`]:
//!
//! - [`Fault::Error`]: the Nth read, write, sync or truncation (counted from
//!   when it was armed, over the database, WAL and journal files) fails with
//!   SQLite's I/O error for that call; later calls work again.
//! - [`Fault::DiskFull`]: the Nth write fails with `SQLITE_FULL`.
//! - [`Fault::PowerLoss`]: at the Nth write, sync or truncation the power
//!   goes: that call and every later write, sync, truncation and delete
//!   fail (the machine is off; nothing more reaches the disk), until
//!   [`power_cycle`], called once every connection is closed, puts the files
//!   back as a disk would hold them after the power came back: everything
//!   synced, nothing written since the last sync except, if asked, a prefix
//!   of those writes in order with the first lost one torn (whole 512-byte
//!   sectors from its start kept), and no shared-memory index (`-shm`, which
//!   is memory, not disk).
//!
//! This is the model of SQLite's own `src/test6.c` (crash) and
//! `src/test_vfs.c` (scripted errors), built by wrapping instead of
//! buffering: writes go to the file at once and the bytes they replaced are
//! kept, so a power cycle can restore them. Simplifications: creating or
//! deleting a file is durable at once (SQLite syncs the directory where
//! that matters); unsynced writes to different files are lost
//! independently, and within a file only as a suffix (a disk that reorders
//! writes could lose any subset, as test6.c models); after the power goes,
//! opening files, file controls and shared memory still work (they write
//! nothing durable).
//!
//! The state is global to the process: run fault tests in their own test
//! binary, one test at a time.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use libsqlite3_sys as ffi;

/// The name the VFS is registered under.
pub const VFS_NAME: &CStr = c"chatvault-faults";

/// A kind of file call that can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoKind {
    Read,
    Write,
    Sync,
    Truncate,
}

/// One scheduled fault; `nth` counts from 1, from when it was armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The `nth` call of kind `on` fails with an I/O error.
    Error { on: IoKind, nth: u64 },
    /// The `nth` write fails because the disk is full.
    DiskFull { nth: u64 },
    /// The power goes at the `nth` write, sync or truncation.
    PowerLoss { nth: u64 },
}

/// Which file a call was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Database,
    Wal,
    Journal,
}

/// A fault that happened: what was armed, and the call it hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fired {
    pub fault: Fault,
    pub kind: IoKind,
    pub file: FileKind,
}

/// Calls made on tracked files since [`install`], by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub reads: u64,
    pub writes: u64,
    pub syncs: u64,
    pub truncates: u64,
}

/// How much of what was not synced survives a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Nothing written since the last sync survives.
    Unsynced,
    /// Of each file's unsynced changes, the first `keep_per_mille`/1000
    /// survive in order; the first lost write is torn, keeping its first
    /// `torn_sectors` 512-byte sectors (fewer if it is shorter).
    Prefix { keep_per_mille: u32, torn_sectors: u32 },
}

/// What a [`power_cycle`] undid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Undone {
    /// Unsynced writes and truncations undone, whole or in part.
    pub changes: u64,
    /// Writes left torn.
    pub torn: u64,
}

/// A change to a file since its last sync, with what it replaced.
enum Change {
    /// `len` bytes written at `offset` over `old` (the bytes that were
    /// there; shorter than `len` where the write extended the file),
    /// into a file `old_len` bytes long.
    Write { offset: u64, len: u64, old: Vec<u8>, old_len: u64 },
    /// The file's length set from `old_len` to `new_len`, removing
    /// `removed` (nothing if it grew).
    Truncate { new_len: u64, old_len: u64, removed: Vec<u8> },
}

struct Tracked {
    unsynced: Vec<Change>,
}

#[derive(Default)]
struct State {
    plan: Option<Fault>,
    /// Matching calls since the plan was armed.
    seen: u64,
    fired: Option<Fired>,
    /// Calls do not count towards the plan.
    paused: bool,
    /// The power is off.
    dead: bool,
    files: HashMap<String, Tracked>,
    totals: Totals,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Counts a call and decides whether it fails: `Some(code)` to return.
    fn call(&mut self, kind: IoKind, file: FileKind) -> Option<c_int> {
        match kind {
            IoKind::Read => self.totals.reads += 1,
            IoKind::Write => self.totals.writes += 1,
            IoKind::Sync => self.totals.syncs += 1,
            IoKind::Truncate => self.totals.truncates += 1,
        }
        if self.dead && kind != IoKind::Read {
            return Some(io_error(kind));
        }
        let plan = self.plan.filter(|_| !self.paused)?;
        let matches = match plan {
            Fault::Error { on, .. } => on == kind,
            Fault::DiskFull { .. } => kind == IoKind::Write,
            Fault::PowerLoss { .. } => kind != IoKind::Read,
        };
        if !matches {
            return None;
        }
        self.seen += 1;
        let nth = match plan {
            Fault::Error { nth, .. } | Fault::DiskFull { nth } | Fault::PowerLoss { nth } => nth,
        };
        if self.seen != nth {
            return None;
        }
        self.plan = None;
        self.fired = Some(Fired { fault: plan, kind, file });
        Some(match plan {
            Fault::DiskFull { .. } => ffi::SQLITE_FULL,
            Fault::PowerLoss { .. } => {
                self.dead = true;
                io_error(kind)
            }
            Fault::Error { .. } => io_error(kind),
        })
    }
}

fn io_error(kind: IoKind) -> c_int {
    match kind {
        IoKind::Read => ffi::SQLITE_IOERR_READ,
        IoKind::Write => ffi::SQLITE_IOERR_WRITE,
        IoKind::Sync => ffi::SQLITE_IOERR_FSYNC,
        IoKind::Truncate => ffi::SQLITE_IOERR_TRUNCATE,
    }
}

/// Registers the VFS as the default (once; later calls do nothing).
///
/// # Panics
/// If SQLite has no default VFS to wrap or refuses the registration.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find with a null name returns the default VFS
        // (initialising SQLite first); VFS objects live as long as the
        // process.
        let real = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
        assert!(!real.is_null(), "SQLite has no default VFS");
        // SAFETY: `real` is a valid, registered sqlite3_vfs; the copy keeps
        // its methods (the unix VFS's xAccess, xFullPathname, xRandomness,
        // xSleep and the like ignore the VFS pointer they are given, so they
        // work when called through the copy).
        let mut vfs: ffi::sqlite3_vfs = unsafe { std::ptr::read(real) };
        // SAFETY: as above; read once here and kept for the process.
        let real_size = unsafe { (*real).szOsFile };
        vfs.iVersion = vfs.iVersion.min(2);
        vfs.szOsFile = c_int::try_from(real_offset()).expect("small struct") + real_size;
        vfs.zName = VFS_NAME.as_ptr();
        vfs.pAppData = real.cast();
        vfs.pNext = std::ptr::null_mut();
        vfs.xOpen = Some(x_open);
        vfs.xDelete = Some(x_delete);
        let vfs = Box::leak(Box::new(vfs));
        // SAFETY: `vfs` is leaked, so it outlives every connection; 1 makes
        // it the default.
        let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 1) };
        assert_eq!(rc, ffi::SQLITE_OK, "registering the fault VFS");
    });
}

/// Schedules `fault` (replacing any armed one) and forgets the last one that fired.
pub fn arm(fault: Fault) {
    let mut s = state();
    s.plan = Some(fault);
    s.paused = false;
    s.seen = 0;
    s.fired = None;
}

/// While `paused`, calls do not count towards the armed fault (so the test's
/// own reads between operations cannot trip it).
pub fn pause(paused: bool) {
    state().paused = paused;
}

/// Cancels an armed fault that has not fired; returns the one that did.
pub fn disarm() -> Option<Fired> {
    let mut s = state();
    s.plan = None;
    s.fired.take()
}

/// The fault that fired since it was armed, if one did.
pub fn fired() -> Option<Fired> {
    state().fired
}

/// Calls made so far, by kind.
pub fn totals() -> Totals {
    state().totals
}

/// Restores power. Every connection must be closed: puts each tracked file
/// back as `loss` says a disk would hold it, and deletes the `-shm` files.
///
/// # Errors
/// If a file cannot be put back.
pub fn power_cycle(loss: Loss) -> std::io::Result<Undone> {
    let mut s = state();
    let mut undone = Undone::default();
    for (path, tracked) in s.files.iter_mut() {
        let changes = std::mem::take(&mut tracked.unsynced);
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && changes.is_empty() => continue,
            Err(e) => return Err(e),
        };
        let keep = match loss {
            Loss::Unsynced => 0,
            Loss::Prefix { keep_per_mille, .. } => changes.len() * keep_per_mille.min(1000) as usize / 1000,
        };
        let torn_sectors = match loss {
            Loss::Unsynced => 0,
            Loss::Prefix { torn_sectors, .. } => u64::from(torn_sectors),
        };
        // Newest first, back to the oldest one lost.
        for (i, change) in changes.iter().enumerate().skip(keep).rev() {
            undone.changes += 1;
            match change {
                Change::Write { offset, len, old, old_len } => {
                    let torn = if i == keep { (torn_sectors * 512).min(*len) } else { 0 };
                    if torn > 0 {
                        undone.torn += 1;
                    }
                    let from = usize::try_from(torn).unwrap_or(usize::MAX).min(old.len());
                    file.write_all_at(&old[from..], offset + from as u64)?;
                    file.set_len(if torn > 0 { (*old_len).max(offset + torn) } else { *old_len })?;
                }
                Change::Truncate { new_len, old_len, removed } => {
                    file.set_len(*old_len)?;
                    if old_len > new_len {
                        file.write_all_at(removed, *new_len)?;
                    }
                }
            }
        }
        file.sync_all()?;
    }
    for path in s.files.keys() {
        if !path.ends_with("-wal") && !path.ends_with("-journal") {
            match std::fs::remove_file(format!("{path}-shm")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    s.dead = false;
    Ok(undone)
}

// ---------------------------------------------------------------------------
// The VFS.

/// A file opened through the VFS: the real file follows this header in the
/// allocation SQLite made of `szOsFile` bytes.
#[repr(C)]
struct FaultFile {
    base: ffi::sqlite3_file,
    /// The wrapped VFS's file, right after this header.
    real: *mut ffi::sqlite3_file,
    /// The path of a tracked file (owned; freed in xClose), or null.
    path: *mut String,
    kind: FileKind,
}

/// Where the real file starts in the allocation: after the header, aligned.
const fn real_offset() -> usize {
    let size = std::mem::size_of::<FaultFile>();
    size.div_ceil(16) * 16
}

fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: only called with our VFS, whose pAppData is the wrapped VFS.
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = real_vfs(vfs);
    let ff = file.cast::<FaultFile>();
    // SAFETY: SQLite allocated `file` with our szOsFile bytes, enough for the
    // header and the real file after it at real_offset().
    let real_file = unsafe { file.cast::<u8>().add(real_offset()).cast::<ffi::sqlite3_file>() };
    // SAFETY: the real VFS's xOpen with its own file object; it sets
    // pMethods (null on failure).
    let rc = unsafe {
        match (*real).xOpen {
            Some(open) => open(real, name, real_file, flags, out_flags),
            None => ffi::SQLITE_CANTOPEN,
        }
    };
    // SAFETY: `ff` points at our header inside SQLite's allocation.
    unsafe {
        (*ff).real = real_file;
        (*ff).path = std::ptr::null_mut();
        (*ff).kind = FileKind::Database;
        if (*real_file).pMethods.is_null() {
            // Nothing to close: SQLite must not call xClose.
            (*ff).base.pMethods = std::ptr::null();
            return if rc == ffi::SQLITE_OK { ffi::SQLITE_CANTOPEN } else { rc };
        }
        // Methods set, even on failure: SQLite calls xClose, which closes
        // the real file.
        (*ff).base.pMethods = &METHODS;
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    let kind = if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
        Some(FileKind::Database)
    } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
        Some(FileKind::Wal)
    } else if flags & ffi::SQLITE_OPEN_MAIN_JOURNAL != 0 {
        Some(FileKind::Journal)
    } else {
        None
    };
    if let Some(kind) = kind
        && !name.is_null()
    {
        // SAFETY: a non-null name is a NUL-terminated string SQLite keeps
        // alive while the file is open.
        let path = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
        state().files.entry(path.clone()).or_insert_with(|| Tracked { unsynced: Vec::new() });
        // SAFETY: as above; the Box is freed in x_close.
        unsafe {
            (*ff).kind = kind;
            (*ff).path = Box::into_raw(Box::new(path));
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let mut s = state();
    if s.dead {
        return ffi::SQLITE_IOERR_DELETE;
    }
    let real = real_vfs(vfs);
    // SAFETY: the real VFS's xDelete with SQLite's arguments.
    let rc = unsafe {
        match (*real).xDelete {
            Some(delete) => delete(real, name, sync_dir),
            None => ffi::SQLITE_IOERR_DELETE,
        }
    };
    if rc == ffi::SQLITE_OK && !name.is_null() {
        // SAFETY: SQLite passes a NUL-terminated path.
        let path = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        s.files.remove(path.as_ref());
    }
    rc
}

/// The parts of an open file every method needs.
struct Parts {
    real: *mut ffi::sqlite3_file,
    methods: *const ffi::sqlite3_io_methods,
    /// The tracked path, or null.
    path: *const String,
    kind: FileKind,
}

impl Parts {
    /// The tracked path, valid until the file is closed.
    fn path(&self) -> Option<&str> {
        // SAFETY: set from Box::into_raw in x_open and freed only in
        // x_close, after the last use of this file's Parts.
        unsafe { self.path.as_ref() }.map(String::as_str)
    }
}

/// # Safety
/// `file` must be a file opened by [`x_open`] and not yet closed.
unsafe fn parts(file: *mut ffi::sqlite3_file) -> Parts {
    let ff = file.cast::<FaultFile>();
    // SAFETY: per the contract, `ff` is our header with its real file's
    // methods set (x_open installs ours only then).
    unsafe {
        let real = (*ff).real;
        Parts { real, methods: (*real).pMethods, path: (*ff).path, kind: (*ff).kind }
    }
}

/// Calls the real file's method `$m`, or returns `$missing` if it has none.
macro_rules! real {
    ($p:expr, $m:ident, $missing:expr $(, $arg:expr)*) => {
        // SAFETY: the real file is open and its methods table is the one its
        // VFS installed; arguments are passed through unchanged.
        unsafe {
            match (*$p.methods).$m {
                Some(f) => f($p.real $(, $arg)*),
                None => $missing,
            }
        }
    };
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let rc = {
        // SAFETY: SQLite closes only files x_open gave methods to.
        let p = unsafe { parts(file) };
        real!(p, xClose, ffi::SQLITE_OK)
    };
    let ff = file.cast::<FaultFile>();
    // SAFETY: `path` came from Box::into_raw in x_open and is freed once.
    unsafe {
        if !(*ff).path.is_null() {
            drop(Box::from_raw((*ff).path));
            (*ff).path = std::ptr::null_mut();
        }
    }
    rc
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    if p.path().is_some()
        && let Some(rc) = state().call(IoKind::Read, p.kind)
    {
        return rc;
    }
    real!(p, xRead, ffi::SQLITE_IOERR_READ, buf, amount, offset)
}

/// Reads what a change at `offset` would replace: up to `len` bytes, only
/// those inside the file; and the file's length.
fn replaced(p: &Parts, offset: i64, len: i64) -> Result<(Vec<u8>, u64), c_int> {
    let mut size: i64 = 0;
    let rc = real!(p, xFileSize, ffi::SQLITE_IOERR_FSTAT, &mut size);
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    let n = (size - offset).clamp(0, len);
    let mut old = vec![0u8; usize::try_from(n).map_err(|_| ffi::SQLITE_IOERR_READ)?];
    if n > 0 {
        let amount = c_int::try_from(n).map_err(|_| ffi::SQLITE_IOERR_READ)?;
        let rc = real!(p, xRead, ffi::SQLITE_IOERR_READ, old.as_mut_ptr().cast(), amount, offset);
        if rc != ffi::SQLITE_OK {
            return Err(rc);
        }
    }
    Ok((old, u64::try_from(size).map_err(|_| ffi::SQLITE_IOERR_FSTAT)?))
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    let Some(path) = p.path() else {
        return real!(p, xWrite, ffi::SQLITE_IOERR_WRITE, buf, amount, offset);
    };
    // Held across the write, so a sync cannot clear the record first.
    let mut s = state();
    if let Some(rc) = s.call(IoKind::Write, p.kind) {
        return rc;
    }
    let (old, old_len) = match replaced(&p, offset, i64::from(amount)) {
        Ok(r) => r,
        Err(rc) => return rc,
    };
    let change =
        Change::Write { offset: offset.unsigned_abs(), len: amount.unsigned_abs().into(), old, old_len };
    let Some(tracked) = s.files.get_mut(path) else { return ffi::SQLITE_IOERR_WRITE };
    tracked.unsynced.push(change);
    real!(p, xWrite, ffi::SQLITE_IOERR_WRITE, buf, amount, offset)
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    let Some(path) = p.path() else {
        return real!(p, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size);
    };
    // Held across the truncation, so a sync cannot clear the record first.
    let mut s = state();
    if let Some(rc) = s.call(IoKind::Truncate, p.kind) {
        return rc;
    }
    let (removed, old_len) = match replaced(&p, size, i64::MAX - size.max(0)) {
        Ok(r) => r,
        Err(rc) => return rc,
    };
    let change = Change::Truncate { new_len: size.unsigned_abs(), old_len, removed };
    let Some(tracked) = s.files.get_mut(path) else { return ffi::SQLITE_IOERR_TRUNCATE };
    tracked.unsynced.push(change);
    real!(p, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    let Some(path) = p.path() else {
        return real!(p, xSync, ffi::SQLITE_IOERR_FSYNC, flags);
    };
    let mut s = state();
    if let Some(rc) = s.call(IoKind::Sync, p.kind) {
        return rc;
    }
    let rc = real!(p, xSync, ffi::SQLITE_IOERR_FSYNC, flags);
    if rc == ffi::SQLITE_OK
        && let Some(t) = s.files.get_mut(path)
    {
        t.unsynced.clear();
    }
    rc
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xCheckReservedLock, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, out)
}

unsafe extern "C" fn x_file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xSectorSize, 4096)
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn x_shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xShmMap, ffi::SQLITE_IOERR_SHMMAP, region, size, extend, out)
}

unsafe extern "C" fn x_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xShmBarrier, ());
}

unsafe extern "C" fn x_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // SAFETY: SQLite calls methods only on open files.
    let p = unsafe { parts(file) };
    real!(p, xShmUnmap, ffi::SQLITE_OK, delete)
}

/// Version 2: shared memory (WAL) but no memory-mapped I/O, so every read
/// and write of the database goes through xRead and xWrite.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};
