//! The store: opening and creating it, transactions, and scrubbing. The
//! operations on conversations and messages live in the sibling modules.

mod attachments;
mod compact;
pub use attachments::{AttachmentReader, AttachmentWriter};
pub(crate) use segments::SEQ_LIMIT;
mod conn;
mod conversations;
mod ctx;
mod export;
mod import;
mod messages;
mod refs;
mod rotate;
mod row;
mod schema_check;
mod search;
mod segments;
mod shred;
mod stats;
mod verify;

/// The store's own functions the fuzz harnesses (`crate::__fuzz`) lay out
/// records with, so they write no SQL of their own.
#[cfg(feature = "fuzzing")]
pub(crate) mod internals {
    pub(crate) use super::attachments::reader_over;
    pub(crate) use super::compact::set_compacted_through;
    pub(crate) use super::conversations::ConvState;
    #[cfg(feature = "fuzzing")]
    pub(crate) use super::search::forge_filter;
    pub(crate) use super::segments::{Sealed, insert, remove_all};
}

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::crypto::{self, Key32};
use crate::error::{Error, RecordRef, Result};
use crate::format::envelope::STORE_ID_LEN;
use crate::format::schema;
use crate::format::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use crate::keys::{KdfHeader, KdfParams, KeyCache, MasterRow, Masters, Sealer, StoreKey};
use crate::types::{Clock, StoreOptions};

pub(crate) use ctx::Ctx;

/// An open chatvault store.
///
/// `Store` is `Send + Sync`: share one (in an `Arc`) between threads. Writes
/// are serialised inside the store; reads run in parallel with each other and
/// with writes (a short read with no idle reader may borrow the idle writer's
/// connection, and a write then waits for it: docs/DESIGN.md, "Concurrency").
pub struct Store {
    path: PathBuf,
    /// `path` resolved at open, so that later changes of the working
    /// directory cannot hide the store's own files from `Store::write_file`.
    canonical: Option<PathBuf>,
    busy_timeout: Duration,
    /// `StoreOptions::max_size_bytes`, applied again after each scrub.
    max_size_bytes: Option<u64>,
    clock: Clock,
    writer: Mutex<Writer>,
    readers: conn::ReaderPool,
    /// Reads hold it shared; a scrub holds it exclusively (see `scrub_on`).
    gate: RwLock<()>,
    /// Exports running: their long reads do not take the gate, and a scrub
    /// while one runs is owed until the last one ends (`read_long`).
    long_reads: AtomicUsize,
    /// Writes waiting for the writer's connection: while any are, short
    /// reads do not borrow it (a thread reading in a loop would otherwise
    /// win `try_lock` over and over).
    writers_waiting: AtomicUsize,
    scrub_owed: AtomicBool,
    sealer: Sealer,
    /// The master keys and their subkeys; replaced whole when a rotation
    /// moves on (docs/DESIGN.md, "Master-key rotation").
    masters: RwLock<Arc<Masters>>,
    keys: KeyCache,
    recent_refs: refs::RecentCache,
    /// Attachment files an import wrote whose rows are not committed yet:
    /// no sweep of this handle removes them (docs/ATTACHMENTS.md, "Writing").
    pending_blobs: Mutex<std::collections::HashSet<attachments::BlobId>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The longest a scrub's checkpoint attempt holds this process's reads back.
const SCRUB_SLICE: Duration = Duration::from_millis(50);

/// The most messages or list lines a read may return and still count as
/// short ([`Store::read_short`]): a screenful or a few.
pub(crate) const SHORT_READ_MAX: usize = 200;

/// The writer connection, and the `PRAGMA data_version` it last saw: a
/// change means another connection wrote, and caches of disk state are stale.
struct Writer {
    conn: Connection,
    seen_version: Option<i64>,
}

/// The store's header row.
struct Header {
    store_id: [u8; STORE_ID_LEN],
    kdf: KdfHeader,
    master: Vec<u8>,
    rotation: MasterRow,
}

impl Store {
    /// Creates a new store at `path`, protected by `key`.
    ///
    /// Fails with [`Error::AlreadyExists`] if anything is at `path` already.
    pub fn create(path: impl AsRef<Path>, key: StoreKey) -> Result<Store> {
        Self::create_with(path, key, StoreOptions::default())
    }

    /// [`Store::create`] with options.
    pub fn create_with(path: impl AsRef<Path>, key: StoreKey, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref();
        let mut store_id = [0u8; STORE_ID_LEN];
        let sealer_rng = ring::rand::SystemRandom::new();
        crypto::fill_random(&sealer_rng, &mut store_id)?;
        let sealer = Sealer::new(store_id);
        // Derive before touching the file system, so a bad key leaves nothing behind.
        let kdf = KdfHeader::fresh(&key, sealer.rng())?;
        let root = kdf.root_key(&key)?;
        let master = Key32::random(sealer.rng())?;
        let sealed_master = sealer.seal_master(&root, &master)?;

        reserve(path)?;
        let writer = match initialise(path, &options, &store_id, &kdf, &sealed_master) {
            Ok(conn) => conn,
            Err(e) => {
                remove_store_files(path);
                return Err(e);
            }
        };
        let masters = Masters::open(&sealer, root, master, &MasterRow::none())?;
        Ok(Store::assemble(path, options, writer, sealer, masters))
    }

    /// Opens the store at `path` with `key`.
    ///
    /// Fails with [`Error::NoSuchStore`] if there is nothing at `path`,
    /// [`Error::NotAStore`] if it is not a chatvault store,
    /// [`Error::UnsupportedVersion`] if a newer chatvault wrote it,
    /// [`Error::SchemaModified`] if something other than chatvault changed
    /// its tables, indexes, triggers or views, [`Error::KdfTooCostly`] if
    /// its passphrase header asks for more work than
    /// [`StoreOptions::max_kdf`] allows, and [`Error::WrongKey`] if `key`
    /// does not open it.
    pub fn open(path: impl AsRef<Path>, key: StoreKey) -> Result<Store> {
        Self::open_with(path, key, StoreOptions::default())
    }

    /// [`Store::open`] with options.
    pub fn open_with(path: impl AsRef<Path>, key: StoreKey, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSuchStore { path: path.to_path_buf() });
            }
            Err(e) => return Err(e.into()),
            Ok(m) if !m.is_file() => {
                return Err(Error::NotAStore { path: path.to_path_buf() });
            }
            Ok(_) => {}
        }
        let writer = conn::open_writer(path, &options)?;
        let version = read_version(&writer, path)?;
        // Before anything else is read: a planted trigger, view, table or
        // index is refused, whatever it would do.
        schema_check::refuse_unless_exact(&writer, version)?;
        let header = read_header(&writer, version)?;
        // A copy restored without its WAL setting would make the reader pool
        // and the writer lock each other out.
        let mode: String = writer.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        }
        header.kdf.check(&options.max_kdf)?;
        let root = header.kdf.root_key(&key)?;
        let sealer = Sealer::new(header.store_id);
        let master = sealer.open_master_at(&root, &header.master, header.rotation.pending())?;
        let masters = Masters::open(&sealer, root, master, &header.rotation)?;
        tighten_permissions(path);
        // Only a holder of the key upgrades the file.
        if version < FORMAT_VERSION {
            upgrade(&writer, version)?;
        }
        Ok(Store::assemble(path, options, writer, sealer, masters))
    }

    fn assemble(
        path: &Path,
        options: StoreOptions,
        writer: Connection,
        sealer: Sealer,
        masters: Masters,
    ) -> Store {
        Store {
            path: path.to_path_buf(),
            canonical: path.canonicalize().ok(),
            busy_timeout: options.busy_timeout,
            max_size_bytes: options.max_size_bytes,
            clock: options.clock.clone(),
            writer: Mutex::new(Writer { conn: writer, seen_version: None }),
            readers: conn::ReaderPool::new(path.to_path_buf(), options),
            gate: RwLock::new(()),
            long_reads: AtomicUsize::new(0),
            writers_waiting: AtomicUsize::new(0),
            scrub_owed: AtomicBool::new(false),
            sealer,
            masters: RwLock::new(Arc::new(masters)),
            keys: KeyCache::new(),
            recent_refs: refs::RecentCache::new(),
            pending_blobs: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// The path of the store's database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's path resolved at open, where its attachment directory
    /// is found whatever the working directory or symlinks do since.
    pub(crate) fn base_path(&self) -> &Path {
        self.canonical.as_deref().unwrap_or(&self.path)
    }

    /// The attachment files an import has not committed yet.
    pub(crate) fn pending_blobs(&self) -> MutexGuard<'_, std::collections::HashSet<attachments::BlobId>> {
        self.pending_blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Protects the store with a new key or passphrase. Only the wrapped
    /// master key is rewritten; the old wrapping is scrubbed from the file and
    /// the WAL before this returns.
    ///
    /// This does not cut off whoever had the old key and a copy of the
    /// file: the master key stays the same. To revoke an old key, use
    /// [`Store::rotate_master_key`] (SECURITY.md, "If a key leaked"). While
    /// a master-key rotation is under way this is refused with
    /// [`Error::InvalidArgument`]: finish the rotation first.
    pub fn change_key(&self, key: StoreKey) -> Result<()> {
        let kdf = KdfHeader::fresh(&key, self.sealer.rng())?;
        let root = kdf.root_key(&key)?;
        self.write(|ctx| {
            // Not during a master-key rotation: resealing its next master
            // key under a new key would vouch for it, and it may have been
            // planted by whoever has the current key. Finish it first (or
            // rotate to the new key instead: that revokes as well).
            if ctx.masters().next().is_some() {
                return Err(Error::invalid(
                    "a master-key rotation is under way: finish it with rotate_master_key first \
                     (with the key the store opens with now), or rotate to the new key instead of changing it",
                ));
            }
            // Sealed inside the transaction, with the master key it read the
            // file with (another handle may have rotated it).
            let sealed = self.sealer.seal_master(&root, ctx.masters().master())?;
            write_key_header(ctx.conn, &kdf, &sealed)?;
            let masters = ctx.masters().with_root(&root);
            ctx.set_masters(masters);
            ctx.request_scrub();
            Ok(())
        })
    }

    /// Removes every trace of deleted data from the database file and the
    /// WAL: frees unused pages and checkpoints and empties the WAL.
    ///
    /// Operations that delete data (`delete_message`, `edit_message`,
    /// `delete_messages`, `edit_messages`, `delete_conversation`,
    /// `change_key`) already do this before they
    /// return; call it yourself only after an [`Error::ScrubIncomplete`].
    pub fn scrub(&self) -> Result<()> {
        {
            let writer = self.lock_writer();
            incremental_vacuum(&writer.conn)?;
            self.scrub_on(&writer.conn)?;
        }
        // Attachment files left by a failed unlink or a crash.
        self.sweep_attachment_files().map(|_| ())
    }

    /// Closes the store, checkpointing and removing the WAL. Dropping a
    /// `Store` does the same but cannot report errors.
    pub fn close(self) -> Result<()> {
        let Store { writer, readers, .. } = self;
        drop(readers);
        let writer = writer.into_inner().unwrap_or_else(PoisonError::into_inner);
        writer.conn.close().map_err(|(_, e)| e.into())
    }

    /// [`crate::atomic::write_atomically`], refusing the store's own files.
    pub(crate) fn write_file<T>(
        &self,
        path: &Path,
        write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> Result<T>,
    ) -> Result<T> {
        if crate::atomic::is_store_file(path, self.canonical.as_deref().unwrap_or(&self.path)) {
            return Err(Error::invalid(format!(
                "{} is this store's own file: write the export to another path",
                path.display()
            )));
        }
        crate::atomic::write_atomically(path, write)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // Counted while waiting, so that short reads stop borrowing the
        // writer's connection until this write has it (`read_short`).
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        // A panic while holding the writer rolls its transaction back as the
        // Transaction unwinds; the connection itself stays usable.
        let guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`). Keys `f`
    /// unwrapped or created enter the cache only once the commit succeeds;
    /// if `f` asked for a scrub, it runs after the commit.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.lock_writer();
        let writer = &mut *guard;
        if !writer.conn.is_autocommit() {
            // A transaction whose ROLLBACK failed (an I/O error) is still
            // open: end it, or this write cannot begin.
            writer.conn.execute_batch("ROLLBACK")?;
        }
        let tx = Tx::begin(&writer.conn, "BEGIN IMMEDIATE")?;
        // Under the write lock, so nobody else can commit until we are done.
        let version: i64 = tx.0.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        let masters = if writer.seen_version != Some(version) {
            // Another connection wrote: drop caches of disk state, and
            // follow a master-key rotation it may have moved on.
            self.recent_refs.clear();
            let masters = self.refresh_masters(tx.0, false)?;
            writer.seen_version = Some(version);
            masters
        } else {
            self.masters()
        };
        let mut ctx = Ctx::new(tx.0, self, masters, true);
        let out = f(&mut ctx)?;
        let done = ctx.finish();
        if done.scrub {
            // The scrub's first half, in this transaction: one commit (and
            // one sync) fewer than vacuuming after it (docs/DESIGN.md,
            // "Deletion and scrubbing").
            incremental_vacuum(tx.0)?;
        }
        tx.commit()?;
        for (c, epoch, key, sealable) in done.new_keys {
            self.keys.insert(c, epoch, key, sealable);
        }
        for (c, epoch) in done.destroyed_keys {
            self.keys.destroy(c, epoch);
        }
        if done.clear_refs {
            self.recent_refs.clear();
        } else {
            for (c, recent) in done.refs {
                self.recent_refs.put(c, recent);
            }
        }
        if let Some(masters) = done.masters {
            self.adopt_masters(masters);
        }
        // Committed: the files of attachment rows it deleted go now. One
        // that cannot be removed is an orphan, unreadable (its key went
        // with the row), that `scrub` and `compact` remove.
        let unlinked = attachments::unlink_files(self, &done.unlinks);
        if done.scrub {
            // The change is committed whatever happens here; say so, and
            // let `scrub()` report the underlying error when retried.
            self.scrub_on(&writer.conn).map_err(|_| Error::ScrubIncomplete)?;
        }
        unlinked.map_err(|_| Error::ScrubIncomplete)?;
        Ok(out)
    }

    /// Runs `f` in a read transaction on a pooled reader connection: it sees
    /// one committed snapshot throughout.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<T>) -> Result<T> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut pooled = self.readers.get()?;
        let tx = Tx::begin(pooled.conn()?, "BEGIN")?;
        let mut ctx = Ctx::new(tx.0, self, self.masters(), false);
        f(&mut ctx)
    }

    /// [`Store::read`] for a read known to be short (a screenful: a page, a
    /// message, the first lines of the list, one conversation's row): with
    /// no idle reader, it borrows the writer's connection if no write holds
    /// it (`try_lock`, never a wait) rather than opening another. A second
    /// connection's schema parse and prepared statements were a third of the
    /// time to open a store and show its first list line; a write that
    /// starts meanwhile waits for this one short read only. Anything that
    /// may read a whole conversation or the whole store uses `read`.
    pub(crate) fn read_short<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<T>) -> Result<T> {
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut pooled = self.readers.idle();
        let writer = match pooled {
            Some(_) => None,
            None if self.writers_waiting.load(Ordering::SeqCst) > 0 => None,
            None => self.writer.try_lock().ok().filter(|w| w.conn.is_autocommit()),
        };
        let conn: &Connection = match (&writer, &mut pooled) {
            (Some(w), _) => &w.conn,
            (None, Some(p)) => p.conn()?,
            (None, None) => pooled.insert(self.readers.open()?).conn()?,
        };
        let tx = Tx::begin(conn, "BEGIN")?;
        let mut ctx = Ctx::new(tx.0, self, self.masters(), false);
        f(&mut ctx)
    }

    /// Runs `f` in a read transaction that may last long (an export):
    /// without the gate, so scrubs do not wait for it. A scrub asked for
    /// meanwhile is owed, and runs when the last long read ends.
    pub(crate) fn read_long<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> Result<T>) -> Result<T> {
        struct LongRead<'s>(&'s Store);
        impl Drop for LongRead<'_> {
            fn drop(&mut self) {
                let store = self.0;
                if store.long_reads.fetch_sub(1, Ordering::SeqCst) == 1
                    && store.scrub_owed.swap(false, Ordering::SeqCst)
                    && store.scrub().is_err()
                {
                    store.scrub_owed.store(true, Ordering::SeqCst);
                }
            }
        }
        self.long_reads.fetch_add(1, Ordering::SeqCst);
        let _long = LongRead(self);
        let mut pooled = self.readers.get()?;
        let tx = Tx::begin(pooled.conn()?, "BEGIN")?;
        let mut ctx = Ctx::new(tx.0, self, self.masters(), false);
        let out = f(&mut ctx);
        drop(ctx);
        drop(tx);
        drop(pooled);
        out
    }

    /// Whether a scrub waits for an export to end (it then runs by itself).
    pub(crate) fn scrub_is_owed(&self) -> bool {
        self.scrub_owed.load(Ordering::SeqCst)
    }

    /// Checkpoints the WAL into the database and truncates it, with this
    /// process's reads held back so they cannot pin the WAL. (Free pages
    /// are returned before: by the deleting transaction itself in
    /// [`Store::write`], by `scrub` otherwise.)
    ///
    /// Another process's read can pin it too; then the checkpoint is retried,
    /// each attempt holding reads back for at most `SCRUB_SLICE`, until the
    /// busy timeout has passed, and the result is `ScrubIncomplete`.
    fn scrub_on(&self, writer: &Connection) -> Result<()> {
        let deadline = Instant::now() + self.busy_timeout;
        writer.busy_timeout(SCRUB_SLICE)?;
        let result = loop {
            if self.long_reads.load(Ordering::SeqCst) > 0 {
                // An export's snapshot pins the WAL: owe the checkpoint
                // rather than wait for the export to end...
                self.scrub_owed.store(true, Ordering::SeqCst);
                // ...unless the last export ended meanwhile, too early to
                // see the debt: then pay it now.
                if self.long_reads.load(Ordering::SeqCst) > 0 {
                    break Err(Error::ScrubIncomplete);
                }
            }
            let attempt = {
                let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
                writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
            };
            match attempt.map_err(Error::from) {
                Ok(0) => {
                    self.scrub_owed.store(false, Ordering::SeqCst);
                    break Ok(());
                }
                Ok(_) | Err(Error::Busy) => {}
                Err(other) => break Err(other),
            }
            if Instant::now() >= deadline {
                break Err(Error::ScrubIncomplete);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        writer.busy_timeout(self.busy_timeout)?;
        // The size limit cannot be set below the file's size: now that the
        // file may have shrunk, set it again.
        conn::limit_size(writer, self.max_size_bytes)?;
        result
    }

    /// The store clock's time, milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The master keys as this handle last saw them.
    pub(crate) fn masters(&self) -> Arc<Masters> {
        Arc::clone(&self.masters.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The master keys as the `store` row read on `conn` (inside its
    /// transaction) describes them; remembered if they are newer than what
    /// this handle knew.
    pub(crate) fn refresh_masters(&self, conn: &Connection, snapshot: bool) -> Result<Arc<Masters>> {
        let known = self.masters();
        let row = read_master_row(conn)?;
        match known.refresh(&self.sealer, &row, snapshot)? {
            None => Ok(known),
            Some(fresh) => {
                let fresh = Arc::new(fresh);
                self.adopt_masters(Arc::clone(&fresh));
                Ok(fresh)
            }
        }
    }

    /// Remembers `masters` unless this handle already knows a later state.
    fn adopt_masters(&self, masters: Arc<Masters>) {
        let mut slot = self.masters.write().unwrap_or_else(PoisonError::into_inner);
        if masters.progress() >= slot.progress() {
            *slot = masters;
        }
    }

    pub(crate) fn key_cache(&self) -> &KeyCache {
        &self.keys
    }

    pub(crate) fn recent_refs(&self) -> &refs::RecentCache {
        &self.recent_refs
    }
}

/// A transaction that rolls back when dropped uncommitted, also if the
/// operation failed or panicked, so a connection never stays inside one.
/// Its statements are cached: a single append or page read is short enough
/// for parsing BEGIN and COMMIT to show.
struct Tx<'c>(&'c Connection);

impl<'c> Tx<'c> {
    /// `begin` is "BEGIN" (a read) or "BEGIN IMMEDIATE" (a write).
    fn begin(conn: &'c Connection, begin: &str) -> Result<Self> {
        conn.prepare_cached(begin)?.execute([])?;
        Ok(Tx(conn))
    }

    fn commit(self) -> Result<()> {
        self.0.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            // If this fails the connection is unusable anyway; the pool
            // closes connections left inside a transaction.
            let _ = self.0.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
        }
    }
}

/// Claims `path` for a new store, atomically: fails if anything is there.
fn reserve(path: &Path) -> Result<()> {
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    if exists(&sidecar(path, "-wal")) || exists(&sidecar(path, "-journal")) {
        return Err(Error::AlreadyExists { path: path.to_path_buf() });
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    // Only the app's user may read the store: SQLite gives the WAL and the
    // shared-memory file the database file's permissions.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::AlreadyExists { path: path.to_path_buf() })
        }
        Err(e) => Err(e.into()),
    }
}

/// Returns the free pages at the end of the file to the file system
/// (`auto_vacuum = INCREMENTAL`). The pragma frees one page per result row:
/// it is stepped to the end.
fn incremental_vacuum(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare_cached("PRAGMA incremental_vacuum")?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_store_files(path: &Path) {
    for p in [path.to_path_buf(), sidecar(path, "-wal"), sidecar(path, "-shm")] {
        let _ = std::fs::remove_file(p);
    }
}

/// Writes how the root key is derived and the master key sealed under it.
fn write_key_header(conn: &Connection, kdf: &KdfHeader, sealed_master: &[u8]) -> Result<()> {
    let (kind, salt, params) = match kdf {
        KdfHeader::Raw => (schema::KDF_RAW, None, None),
        KdfHeader::Argon2id { salt, params } => (schema::KDF_ARGON2ID, Some(salt), Some(*params)),
    };
    conn.execute(
        "UPDATE store SET kdf = ?1, kdf_salt = ?2, kdf_m_kib = ?3, kdf_t = ?4, kdf_p = ?5, master = ?6
         WHERE id = 1",
        params![
            kind,
            salt,
            params.map(|p| p.memory_kib),
            params.map(|p| p.iterations),
            params.map(|p| p.parallelism),
            sealed_master
        ],
    )?;
    Ok(())
}

/// Lays out a new, empty database: settings, schema and header row, in one
/// transaction.
fn initialise(
    path: &Path,
    options: &StoreOptions,
    store_id: &[u8; STORE_ID_LEN],
    kdf: &KdfHeader,
    sealed_master: &[u8],
) -> Result<Connection> {
    let mut conn = conn::open_writer(path, options)?;
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for sql in schema::CREATE {
        tx.execute_batch(sql)?;
    }
    tx.execute("INSERT INTO store (id, store_id, kdf, master) VALUES (1, ?1, 0, x'')", [&store_id[..]])?;
    write_key_header(&tx, kdf, sealed_master)?;
    tx.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", FORMAT_VERSION)?;
    tx.commit()?;
    Ok(conn)
}

/// Brings a store of an older format `from` up to the current one, in one
/// transaction (docs/DESIGN.md, "Upgrading").
fn upgrade(conn: &Connection, from: u32) -> Result<()> {
    let tx = Tx::begin(conn, "BEGIN IMMEDIATE")?;
    // Another process may have upgraded it since we looked.
    let now: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if now == i64::from(from) {
        for version in from..FORMAT_VERSION {
            let sql = schema::upgrade_from(version).ok_or_else(|| {
                Error::corrupt(RecordRef::header(), format!("no upgrade from format {version}"))
            })?;
            let any = |sql: &str| conn.query_row(sql, [], |_| Ok(())).optional().map(|r| r.is_some());
            if version == 3 && any(schema::UNFIT_FOR_FORMAT_4)? {
                return Err(Error::corrupt(
                    RecordRef::header(),
                    "a segment's conversation or first sequence number is not a non-negative integer",
                ));
            }
            if version == 3 && any(schema::BEYOND_FORMAT_4)? {
                return Err(Error::LimitReached {
                    what: "a sequence number of this format 3 store (too large to upgrade it to format 4: export it with the chatvault release that wrote it)",
                    limit: segments::SEQ_LIMIT,
                });
            }
            conn.execute_batch(sql)?;
            if version == 3 {
                move_segments_3_to_4(conn, UPGRADE_STEP_ROWS)?;
                conn.execute_batch(schema::UPGRADE_3_TO_4_FINISH)?;
            }
            if version == 4 {
                conn.execute_batch(schema::UPGRADE_4_TO_5_FILL)?;
            }
        }
        conn.pragma_update(None, "user_version", FORMAT_VERSION)?;
        // The pages of dropped tables (format 4's old segment table) go back
        // to the file system, not only to the free list.
        incremental_vacuum(conn)?;
    }
    tx.commit()
}

/// Rows the 3-to-4 upgrade moves per step: a few MiB of compacted segments.
/// (Moving the whole table in one statement took 1.3 GB of memory for a
/// 10,000,000-message store: BENCHMARKS.md, "Upgrading to format 4".)
const UPGRADE_STEP_ROWS: i64 = 1024;

/// Moves every format-3 segment row into format 4's table, `step` rows at
/// a time (`schema::UPGRADE_3_TO_4_MOVE`), and checks that all arrived.
fn move_segments_3_to_4(conn: &Connection, step: i64) -> Result<()> {
    let count = |table: &str| -> Result<i64> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let before = count("segment_v3")?;
    let [copy, delete] = schema::UPGRADE_3_TO_4_MOVE;
    loop {
        if conn.execute(copy, [step])? == 0 {
            break;
        }
        let (c, first): (i64, i64) = conn.query_row(
            "SELECT conversation, first_seq FROM segment ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        conn.execute(delete, [c, first])?;
    }
    if count("segment")? != before || count("segment_v3")? != 0 {
        return Err(Error::corrupt(
            RecordRef::header(),
            "the upgrade to format 4 did not move every segment",
        ));
    }
    Ok(())
}

/// Reads and checks the database header: a chatvault store of a format
/// this build reads. Returns the format version.
fn read_version(conn: &Connection, path: &Path) -> Result<u32> {
    let app_id: i64 =
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| conn::at_open(path, e))?;
    if app_id != i64::from(schema::APPLICATION_ID) {
        return Err(Error::NotAStore { path: path.to_path_buf() });
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let rec = RecordRef::header();
    let version = u32::try_from(version).map_err(|_| Error::corrupt(rec, "format version out of range"))?;
    if version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    if version < OLDEST_FORMAT_VERSION {
        return Err(Error::corrupt(rec, format!("format version {version} does not exist")));
    }
    Ok(version)
}

/// Length of a sealed 32-byte key (kinds 1, 2 and 5).
const SEALED_KEY_LEN: i64 = (crate::format::envelope::OVERHEAD + Key32::LEN) as i64;

/// Reads the `store` row of a store in format `version`. The lengths of its
/// blobs are checked first, in SQL, so a forged header cannot make the
/// store read (and copy) a gigabyte before anything is checked.
fn read_header(conn: &Connection, version: u32) -> Result<Header> {
    let rec = RecordRef::header();
    let lengths = conn
        // A blob's length comes from its header; a text's would read it
        // all, so anything but a blob (or NULL) counts as -1.
        .prepare_cached(
            "SELECT CASE typeof(store_id) WHEN 'blob' THEN length(store_id) ELSE -1 END,
                    CASE typeof(kdf_salt) WHEN 'blob' THEN length(kdf_salt) WHEN 'null' THEN NULL ELSE -1 END,
                    CASE typeof(master) WHEN 'blob' THEN length(master) ELSE -1 END
             FROM store WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<i64>>(2)?))
        })
        .optional()
        .map_err(|e| header_error(rec, e))?;
    match lengths {
        None => return Err(Error::corrupt(rec, "the header row is missing")),
        Some((Some(16), salt, Some(SEALED_KEY_LEN))) if salt.is_none_or(|l| (16..=64).contains(&l)) => {}
        Some(_) => return Err(Error::corrupt(rec, "a header field has an impossible length")),
    }
    let mut header = conn
        .query_row(
            "SELECT store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master FROM store WHERE id = 1",
            [],
            |r| Ok(parse_header(r)),
        )
        .optional()
        .map_err(|e| header_error(rec, e))?
        .ok_or_else(|| Error::corrupt(rec, "the header row is missing"))??;
    if version >= 3 {
        header.rotation = read_master_row(conn)?;
    }
    Ok(header)
}

/// An error reading the `store` row: a statement SQLite refuses (a column
/// missing, of an altered header) means a damaged header; an I/O error, a
/// full disk or a lock is what it is.
fn header_error(rec: RecordRef, e: rusqlite::Error) -> Error {
    match Error::from(e) {
        Error::Database(e) => Error::corrupt(rec, format!("cannot read the header: {e}")),
        other => other,
    }
}

/// The master-key rotation columns of the `store` row (format 3). The
/// length of `next_master` is checked before the blob is read.
fn read_master_row(conn: &Connection) -> Result<MasterRow> {
    let rec = RecordRef::header();
    let (generation, next_len, rotated_through) = conn
        .prepare_cached(
            "SELECT master_gen,
                    CASE typeof(next_master) WHEN 'blob' THEN length(next_master) WHEN 'null' THEN NULL ELSE -1 END,
                    rotated_through
             FROM store WHERE id = 1",
        )?
        .query_row([], |r| Ok((row::uint(r, 0, rec), row::opt_int(r, 1, rec), row::opt_int(r, 2, rec))))
        .optional()?
        .ok_or_else(|| Error::corrupt(rec, "the header row is missing"))?;
    let generation = generation?;
    // Far below any count a store could reach, and leaves room to count on.
    if generation >= 1 << 62 {
        return Err(Error::corrupt(rec, "master_gen out of range"));
    }
    let rotated_through = rotated_through?
        .map(|t| u64::try_from(t).map_err(|_| Error::corrupt(rec, "rotated_through is negative")))
        .transpose()?;
    let next_master = match next_len? {
        None => None,
        Some(SEALED_KEY_LEN) => Some(
            conn.prepare_cached("SELECT next_master FROM store WHERE id = 1")?
                .query_row([], |r| Ok(row::blob(r, 0, rec)))??,
        ),
        Some(_) => return Err(Error::corrupt(rec, "next_master has an impossible length")),
    };
    if next_master.is_some() != rotated_through.is_some() {
        return Err(Error::corrupt(rec, "a half-recorded master-key rotation"));
    }
    Ok(MasterRow { generation, next_master, rotated_through })
}

/// Makes the store's files readable and writable by their owner only, if
/// they are not already (a store created before chatvault 0.3.0, or copied
/// in with other permissions). Best effort: a file the process does not own
/// keeps its mode.
fn tighten_permissions(path: &Path) {
    #[cfg(unix)]
    for p in [path.to_path_buf(), sidecar(path, "-wal"), sidecar(path, "-shm")] {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&p)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn parse_header(r: &rusqlite::Row<'_>) -> Result<Header> {
    let rec = RecordRef::header();
    let store_id: [u8; STORE_ID_LEN] =
        row::blob(r, 0, rec)?.try_into().map_err(|_| Error::corrupt(rec, "store id is not 16 bytes"))?;
    let kind = row::int(r, 1, rec)?;
    let u32_col = |i| -> Result<u32> {
        u32::try_from(row::int(r, i, rec)?).map_err(|_| Error::corrupt(rec, "KDF parameter out of range"))
    };
    let kdf = match kind {
        schema::KDF_RAW => KdfHeader::Raw,
        schema::KDF_ARGON2ID => KdfHeader::Argon2id {
            salt: row::blob(r, 2, rec)?,
            params: KdfParams { memory_kib: u32_col(3)?, iterations: u32_col(4)?, parallelism: u32_col(5)? },
        },
        _ => return Err(Error::corrupt(rec, "unknown key-derivation kind")),
    };
    Ok(Header { store_id, kdf, master: row::blob(r, 6, rec)?, rotation: MasterRow::none() })
}

// Compile-time check of the promise in the docs: a Store can be shared across threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<Arc<Store>>();
};

#[cfg(test)]
mod upgrade_tests {
    use super::*;

    /// The 3-to-4 move in steps of one row, of a few, and of more than the
    /// table: every row arrives once, under its key, with every column as
    /// it was, in any order of conversations (orphans of conversation 0
    /// and below included), and the old table is left empty.
    #[test]
    fn segments_move_to_format_4_in_steps() {
        for step in [1, 3, 100] {
            move_in_steps(step);
        }
    }

    fn move_in_steps(step: i64) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(schema::CREATE_V3).unwrap();
        let mut expected = Vec::new();
        for (i, c) in [3i64, 1, 2, 0, 2, -5, 1, 3, 3, 1, 2].iter().enumerate() {
            let first = i as i64 * 10;
            let row = (*c, first, first + 4, 1i64, 5i64, (i % 3 == 0).then_some(99i64), vec![i as u8; 7]);
            conn.execute(
                "INSERT INTO segment (conversation, first_seq, last_seq, epoch, count, expires_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![row.0, row.1, row.2, row.3, row.4, row.5, row.6],
            )
            .unwrap();
            expected.push((c * 4294967296 + first, row));
        }
        expected.sort();
        conn.execute_batch(schema::UPGRADE_3_TO_4).unwrap();
        move_segments_3_to_4(&conn, step).unwrap();
        let left: i64 = conn.query_row("SELECT COUNT(*) FROM segment_v3", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
        conn.execute_batch(schema::UPGRADE_3_TO_4_FINISH).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, conversation, first_seq, last_seq, epoch, count, expires_at, body FROM segment ORDER BY id")
            .unwrap();
        let got: Vec<_> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, expected, "in steps of {step}");
    }
}
