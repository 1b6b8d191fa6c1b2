//! The external-id index (docs/DESIGN.md, "External-id index").
//!
//! Keyed hashes are random, so a hash-ordered index takes each insert to a
//! different page: a batch of 1,000 messages would rewrite about 1,000 pages
//! of it. Instead new references go to `recent_ref`, ordered by sequence
//! number (a batch fills a page or two per conversation), and an in-memory
//! set answers lookups in it. When a conversation has enough recent
//! references (`RECENT_MIN` or more) they move, in one statement, to the hash-ordered
//! `message_ref`, which then rewrites each of its pages once for thousands
//! of references. A Bloom filter over a conversation's `message_ref` rows
//! spares a new message's lookup (nearly always a miss) a random page read.
//!
//! The in-memory state is a cache of what is on disk. It is filled from disk
//! when missing, changed only after the write that changed the disk commits,
//! and dropped whole whenever another connection has written to the file
//! (`PRAGMA data_version`, checked at the start of every write).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use rusqlite::{OptionalExtension, params};

use super::{Ctx, row};
use crate::error::{Error, RecordKind, RecordRef, Result};
use crate::ids::ConversationId;

/// Recent references a conversation collects before they move to
/// `message_ref`: an eighth of what is there already, within these bounds.
/// Moving k references rewrites up to every page of the conversation's
/// `message_ref` rows, so k growing with them keeps the pages rewritten per
/// reference roughly constant, while memory stays bounded.
pub(crate) const RECENT_MIN: usize = 4096;
const RECENT_MAX: usize = 64 * 1024;
const RECENT_FRACTION: usize = 8;
/// A write adding at most this many references to a conversation whose
/// state is not cached goes straight to `message_ref` (see [`Refs::begin`]).
pub(crate) const DIRECT_MAX: usize = 16;
/// Memory the cached sets and filters may use, in bytes (approximate).
const CACHE_BYTES: usize = 8 << 20;
/// Bytes a cached map costs per entry of its capacity (a 16-byte slot, its
/// control byte, and the eighth of the buckets a hash map keeps free; an
/// upper bound). Capacity, not length: a map keeps its allocation when
/// emptied, and counting entries let the cache hold three times its budget
/// while a store grew to 10,000,000 messages (BENCHMARKS.md, "Scale").
const ENTRY_BYTES: usize = 24;

type Hash = [u8; 16];

/// A Bloom filter over 16-byte keyed hashes, which are already uniformly
/// random: the probe positions come straight from their bits.
#[derive(Clone)]
struct Bloom {
    bits: Vec<u64>,
    /// Keys it was sized for; past this its false-positive rate climbs.
    capacity: usize,
    len: usize,
}

impl Bloom {
    const PROBES: u64 = 7;
    /// About 1% false positives at capacity.
    const BITS_PER_KEY: usize = 10;

    fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(RECENT_MIN);
        let words = (capacity * Self::BITS_PER_KEY).div_ceil(64).next_power_of_two();
        Bloom { bits: vec![0; words], capacity, len: 0 }
    }

    fn positions(&self, h: &Hash) -> impl Iterator<Item = (usize, u64)> + use<> {
        let (a, b) = h.split_at(8);
        let h1 = u64::from_le_bytes(a.try_into().unwrap_or_default());
        let h2 = u64::from_le_bytes(b.try_into().unwrap_or_default()) | 1;
        let mask = (self.bits.len() as u64 * 64) - 1;
        (0..Self::PROBES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & mask;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, h: &Hash) {
        for (w, m) in self.positions(h) {
            if let Some(word) = self.bits.get_mut(w) {
                *word |= m;
            }
        }
        self.len += 1;
    }

    fn may_contain(&self, h: &Hash) -> bool {
        self.positions(h).all(|(w, m)| self.bits.get(w).is_some_and(|word| word & m != 0))
    }

    fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// The first 8 bytes of a keyed hash, as the in-memory key. Two recent
/// references sharing them (chance about n²/2^65) are told apart on disk.
fn short(h: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

/// A conversation's index state, in memory.
pub(crate) struct Recent {
    /// Its `recent_ref` rows: short hash to sequence number.
    map: HashMap<u64, u64>,
    /// Its `message_ref` rows.
    settled: Bloom,
}

impl Recent {
    fn bytes(&self) -> usize {
        self.map.capacity() * ENTRY_BYTES + self.settled.bytes()
    }
}

/// The cached states, by conversation, with a use stamp for LRU eviction;
/// and the largest write that uses direct mode ([`DIRECT_MAX`], lowered
/// only by the model-checking harnesses so that they cover both modes).
pub(crate) struct RecentCache(Mutex<CacheInner>, AtomicUsize);

#[derive(Default)]
struct CacheInner {
    map: HashMap<ConversationId, (u64, Recent)>,
    bytes: usize,
    clock: u64,
}

impl RecentCache {
    pub(crate) fn new() -> Self {
        RecentCache(Mutex::new(CacheInner::default()), AtomicUsize::new(DIRECT_MAX))
    }

    /// Writes adding at most this many references to an uncached
    /// conversation use direct mode.
    pub(crate) fn direct_max(&self) -> usize {
        self.1.load(Ordering::Relaxed)
    }

    #[cfg(feature = "fuzzing")]
    pub(crate) fn set_direct_max(&self, n: usize) {
        self.1.store(n, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, c: ConversationId) -> Option<Recent> {
        let mut inner = self.lock();
        let (_, recent) = inner.map.remove(&c)?;
        inner.bytes -= recent.bytes();
        Some(recent)
    }

    /// Puts back a conversation's state after its write committed, evicting
    /// the least recently used others if the cache is over budget.
    pub(crate) fn put(&self, c: ConversationId, recent: Recent) {
        let mut inner = self.lock();
        inner.clock += 1;
        inner.bytes += recent.bytes();
        let stamp = inner.clock;
        if let Some((_, old)) = inner.map.insert(c, (stamp, recent)) {
            inner.bytes -= old.bytes();
        }
        while inner.bytes > CACHE_BYTES && inner.map.len() > 1 {
            let victim = inner
                .map
                .iter()
                .filter(|(k, _)| **k != c)
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| *k);
            let Some(victim) = victim else { break };
            if let Some((_, r)) = inner.map.remove(&victim) {
                inner.bytes -= r.bytes();
            }
        }
    }

    pub(crate) fn forget(&self, c: ConversationId) {
        self.take(c);
    }

    /// Drops everything: another connection wrote to the store.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.bytes = 0;
    }
}

/// One conversation's external-id index during one write transaction.
pub(crate) struct Refs {
    c: ConversationId,
    /// The in-memory state; `None` in direct mode, where lookups and new
    /// references go to `message_ref` on disk.
    recent: Option<Recent>,
    /// References added by this transaction, not yet in `recent`.
    staged: HashMap<Hash, u64>,
}

fn record(c: ConversationId) -> RecordRef {
    RecordRef { kind: RecordKind::ExternalIdIndex, conversation: Some(c), epoch: 0, seqs: None }
}

fn hash_col(r: &rusqlite::Row<'_>, i: usize, c: ConversationId) -> Result<Hash> {
    row::blob(r, i, record(c))?
        .try_into()
        .map_err(|_| Error::corrupt(record(c), "external-id hash is not 16 bytes"))
}

impl Refs {
    /// The conversation's index state for a write that adds up to `adding`
    /// references: cached, or loaded from disk; or, if it is not cached
    /// and `adding` is at most [`DIRECT_MAX`], none (direct mode).
    ///
    /// Loading reads every reference of the conversation (to build its
    /// Bloom filter), which pays off only over many additions. A sync that
    /// spreads each batch over more conversations than the cache holds
    /// would reload each of them for one or two messages, every batch; in
    /// direct mode each lookup is instead one probe of `message_ref`'s
    /// primary key, on the page the new reference is then written to
    /// (docs/DESIGN.md, "External-id index"). Its recent references move
    /// to `message_ref` first, so that the probe is the whole lookup.
    pub(crate) fn begin(ctx: &Ctx<'_>, c: ConversationId, adding: usize) -> Result<Refs> {
        let recent = match ctx.store.recent_refs().take(c) {
            Some(r) => Some(r),
            None if adding <= ctx.store.recent_refs().direct_max() => {
                move_recent(ctx, c)?;
                None
            }
            None => Some(load(ctx, c)?),
        };
        Ok(Refs { c, recent, staged: HashMap::new() })
    }

    /// The sequence number of the message with this external-id hash, if any.
    pub(crate) fn find(&self, ctx: &Ctx<'_>, hash: &Hash) -> Result<Option<u64>> {
        if let Some(&seq) = self.staged.get(hash) {
            return Ok(Some(seq));
        }
        let c = row::sql_int(self.c.get())?;
        let Some(recent) = &self.recent else {
            return settled_seq(ctx, c, hash);
        };
        if let Some(&seq) = recent.map.get(&short(hash)) {
            let stored: Option<Vec<u8>> = ctx
                .conn
                .prepare_cached("SELECT ext_hash FROM recent_ref WHERE conversation = ?1 AND seq = ?2")?
                .query_row(params![c, row::sql_int(seq)?], |r| r.get(0))
                .optional()?;
            if stored.as_deref() == Some(&hash[..]) {
                return Ok(Some(seq));
            }
            // Two recent hashes share their first 8 bytes: look on disk.
            let seq: Option<i64> = ctx
                .conn
                .prepare_cached("SELECT seq FROM recent_ref WHERE conversation = ?1 AND ext_hash = ?2")?
                .query_row(params![c, &hash[..]], |r| r.get(0))
                .optional()?;
            if let Some(seq) = seq {
                return Ok(u64::try_from(seq).ok());
            }
        }
        if !recent.settled.may_contain(hash) {
            return Ok(None);
        }
        settled_seq(ctx, c, hash)
    }

    /// [`Refs::find`] for a hash pair from `Masters::hashes_for`: the hash
    /// to write, and the one a hash written before a rotation began has.
    pub(crate) fn find_either(
        &self,
        ctx: &Ctx<'_>,
        (hash, before): (Hash, Option<Hash>),
    ) -> Result<Option<u64>> {
        match self.find(ctx, &hash)? {
            Some(seq) => Ok(Some(seq)),
            None => before.map_or(Ok(None), |h| self.find(ctx, &h)),
        }
    }

    pub(crate) fn add(&mut self, ctx: &Ctx<'_>, hash: Hash, seq: u64) -> Result<()> {
        let (c, seq_i) = (row::sql_int(self.c.get())?, row::sql_int(seq)?);
        if self.recent.is_none() {
            // Direct mode: found again by `find`'s probe, in this transaction too.
            ctx.conn
                .prepare_cached("INSERT INTO message_ref (conversation, ext_hash, seq) VALUES (?1, ?2, ?3)")?
                .execute(params![c, &hash[..], seq_i])?;
            return Ok(());
        }
        ctx.conn
            .prepare_cached("INSERT INTO recent_ref (conversation, seq, ext_hash) VALUES (?1, ?2, ?3)")?
            .execute(params![c, seq_i, &hash[..]])?;
        self.staged.insert(hash, seq);
        Ok(())
    }

    /// Ends the write: moves the recent references to `message_ref` if there
    /// are enough, and hands the state to `ctx` to cache once the commit succeeds.
    pub(crate) fn finish(mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        self.settle(ctx)?;
        if let Some(recent) = self.recent {
            ctx.after_commit_refs(self.c, recent);
        }
        Ok(())
    }

    /// References staged so far.
    pub(crate) fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Moves the staged references into the recent set, and the recent
    /// references to `message_ref` if there are enough. A long write (an
    /// import) calls this now and then to keep memory bounded.
    pub(crate) fn settle(&mut self, ctx: &Ctx<'_>) -> Result<()> {
        let Some(recent) = &mut self.recent else { return Ok(()) };
        recent.map.extend(self.staged.drain().map(|(h, s)| (short(&h), s)));
        let limit = (recent.settled.len / RECENT_FRACTION).clamp(RECENT_MIN, RECENT_MAX);
        if recent.map.len() >= limit {
            let total = recent.settled.len + recent.map.len();
            if total > recent.settled.capacity {
                // Grow the filter: rebuilt below from everything moved.
                recent.settled = Bloom::with_capacity(total + total / 2);
                recent.settled.add_all(ctx, self.c, "message_ref")?;
            }
            recent.settled.add_all(ctx, self.c, "recent_ref")?;
            move_recent(ctx, self.c)?;
            // Not `clear`, which keeps the allocation (up to 2 MiB).
            recent.map = HashMap::new();
        }
        Ok(())
    }
}

/// The sequence number `message_ref` holds for this hash, if any.
fn settled_seq(ctx: &Ctx<'_>, c: i64, hash: &Hash) -> Result<Option<u64>> {
    let seq: Option<i64> = ctx
        .conn
        .prepare_cached("SELECT seq FROM message_ref WHERE conversation = ?1 AND ext_hash = ?2")?
        .query_row(params![c, &hash[..]], |r| r.get(0))
        .optional()?;
    Ok(seq.and_then(|s| u64::try_from(s).ok()))
}

/// Moves every `recent_ref` row of `c` to `message_ref`: two statements,
/// two probes of the index if it has none.
///
/// `OR IGNORE`, and the rows counted instead: a plain `INSERT ... SELECT`
/// may abort halfway on a duplicate key, so SQLite keeps a statement
/// journal for it, an in-memory copy of every page it changes (with
/// `temp_store = MEMORY`); moving 65,536 references into a large
/// conversation's index touched thousands of pages, and that copy was most
/// of the writer's peak memory while a store grew to 10,000,000 messages
/// (BENCHMARKS.md, "Scale"). A reference already in `message_ref` (which
/// the index never writes) is then an error here, as the abort was.
fn move_recent(ctx: &Ctx<'_>, c: ConversationId) -> Result<()> {
    let conv = c;
    let c = row::sql_int(c.get())?;
    let moved = ctx
        .conn
        .prepare_cached(
            "INSERT OR IGNORE INTO message_ref (conversation, ext_hash, seq)
             SELECT conversation, ext_hash, seq FROM recent_ref WHERE conversation = ?1",
        )?
        .execute([c])?;
    let removed = ctx.conn.prepare_cached("DELETE FROM recent_ref WHERE conversation = ?1")?.execute([c])?;
    if moved != removed {
        return Err(Error::corrupt(record(conv), "a message reference is twice in the index"));
    }
    Ok(())
}

/// Loads a conversation's index state from disk.
fn load(ctx: &Ctx<'_>, c: ConversationId) -> Result<Recent> {
    let mut map = HashMap::new();
    let mut stmt = ctx.conn.prepare_cached("SELECT ext_hash, seq FROM recent_ref WHERE conversation = ?1")?;
    let mut rows = stmt.query([row::sql_int(c.get())?])?;
    while let Some(r) = rows.next()? {
        map.insert(short(&hash_col(r, 0, c)?), row::uint(r, 1, record(c))?);
    }
    let settled_count: i64 = ctx
        .conn
        .prepare_cached("SELECT COUNT(*) FROM message_ref WHERE conversation = ?1")?
        .query_row([row::sql_int(c.get())?], |r| r.get(0))?;
    let count = usize::try_from(settled_count).unwrap_or(0);
    let mut settled = Bloom::with_capacity(count + count / 2);
    settled.add_all(ctx, c, "message_ref")?;
    Ok(Recent { map, settled })
}

impl Bloom {
    /// Adds every hash of conversation `c` in `table` (`recent_ref` or `message_ref`).
    fn add_all(&mut self, ctx: &Ctx<'_>, c: ConversationId, table: &str) -> Result<()> {
        let mut stmt =
            ctx.conn.prepare_cached(&format!("SELECT ext_hash FROM {table} WHERE conversation = ?1"))?;
        let mut rows = stmt.query([row::sql_int(c.get())?])?;
        while let Some(r) = rows.next()? {
            self.insert(&hash_col(r, 0, c)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> Hash {
        // Spread like a keyed hash.
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i >> 7);
        let y = x.rotate_left(29).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&x.to_le_bytes());
        out[8..].copy_from_slice(&y.to_le_bytes());
        out
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_capacity(10_000);
        for i in 0..10_000 {
            b.insert(&h(i));
        }
        assert!((0..10_000).all(|i| b.may_contain(&h(i))));
        let false_positives = (10_000..110_000).filter(|&i| b.may_contain(&h(i))).count();
        assert!(false_positives < 2_000, "{false_positives} false positives in 100,000");
    }
}

#[cfg(test)]
mod collision_tests {
    use super::*;
    use crate::{NewMessage, Store, StoreKey};

    fn msg(ext: &str) -> NewMessage {
        NewMessage { external_id: Some(ext.into()), text: ext.into(), ..Default::default() }
    }

    /// Settling frees the in-memory map (a cleared hash map keeps its
    /// allocation), and the cache charges a state by what its map has
    /// allocated, not by how many entries it holds.
    #[test]
    fn the_cache_charges_allocated_memory_and_settling_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
        let c = store.create_conversation(Default::default()).unwrap();
        let batch = |from: usize, n: usize| -> Vec<_> {
            (from..from + n).map(|i| (c, msg(&format!("x{i}")))).collect()
        };
        let cached = |store: &Store| {
            let inner = store.recent_refs().lock();
            let (_, recent) = inner.map.get(&c).expect("the conversation's state is cached");
            (inner.bytes, recent.map.len(), recent.map.capacity(), recent.settled.bytes())
        };
        // RECENT_MIN references at once: they settle in the same write.
        store.append_batch(&batch(0, RECENT_MIN)).unwrap();
        let (bytes, len, capacity, bloom) = cached(&store);
        assert_eq!((len, capacity), (0, 0), "the settled map still holds its allocation");
        assert_eq!(bytes, bloom);
        store.append_batch(&batch(RECENT_MIN, 100)).unwrap();
        let (bytes, len, capacity, bloom) = cached(&store);
        assert_eq!(len, 100);
        assert!(capacity > len, "a hash map of 100 has room for more");
        assert_eq!(bytes, capacity * ENTRY_BYTES + bloom, "the cache must charge the map's allocation");
    }

    #[test]
    fn small_writes_to_an_uncached_conversation_use_message_ref_directly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
        let c = store.create_conversation(Default::default()).unwrap();
        let big: Vec<_> = (0..=DIRECT_MAX).map(|i| (c, msg(&format!("x{i}")))).collect();
        store.append_batch(&big).unwrap();
        let rows = |table: &str| -> i64 {
            store
                .read(|ctx| {
                    Ok(ctx.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
                })
                .unwrap()
        };
        assert_eq!((rows("recent_ref"), rows("message_ref")), (17, 0), "a large batch appends to recent_ref");
        store.recent_refs().forget(c);
        let a = store.append(c, msg("a")).unwrap();
        assert!(store.recent_refs().take(c).is_none(), "direct mode caches nothing");
        assert_eq!((rows("recent_ref"), rows("message_ref")), (0, 18), "the recent references moved first");
        // Found again by the probe, in the same transaction and later.
        let again = store.append_batch(&[(c, msg("b")), (c, msg("b")), (c, msg("x3"))]).unwrap();
        assert_eq!((again[0], again[1], again[2].seq()), (again[0], again[0], 4));
        assert_eq!(store.append(c, msg("a")).unwrap(), a);
        assert_eq!(rows("message_ref"), 19);
    }

    #[test]
    fn a_short_hash_shared_by_two_references_is_resolved_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
        let c = store.create_conversation(Default::default()).unwrap();
        // A batch larger than DIRECT_MAX loads the state, and it stays cached.
        let first: Vec<_> = (0..=DIRECT_MAX).map(|i| (c, msg(&format!("x{i}")))).collect();
        store.append_batch(&first).unwrap();
        let a = store.append(c, msg("a")).unwrap();
        let b = store.append(c, msg("b")).unwrap();
        // Make "b"'s short hash point at "a", as a collision of the first
        // 8 bytes would.
        let hb = store.masters().current().message_hash(c, "b");
        let mut recent = store.recent_refs().take(c).expect("cached after the appends");
        recent.map.insert(short(&hb), a.seq());
        store.recent_refs().put(c, recent);
        assert_eq!(store.append(c, msg("b")).unwrap(), b, "found on disk, not the colliding entry");
        assert_eq!(store.append(c, msg("a")).unwrap(), a);
        let hc = store.masters().current().message_hash(c, "c");
        let mut recent = store.recent_refs().take(c).unwrap();
        recent.map.insert(short(&hc), a.seq());
        store.recent_refs().put(c, recent);
        let new = store.append(c, msg("c")).unwrap();
        assert_eq!(new.seq(), b.seq() + 1, "a colliding short hash does not make a new message a duplicate");
    }
}
