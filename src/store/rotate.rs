//! Master-key rotation (docs/DESIGN.md, "Master-key rotation"): a new
//! master key, so a leaked root key or master key opens nothing written or
//! rewrapped afterwards. Its first transaction seals the current master key
//! and the next one under the new root key, so from then on only the new
//! key opens the store; conversations then move to the next master key a
//! few at a time, each step its own transaction, and the last step makes
//! it the current one.

use std::time::Instant;

use rusqlite::params;

use super::conversations::{ConvState, conversation_id, meta_hash, wrapped_keys};
use super::segments::{self, Keys, SegmentRow, select_segments};
use super::{Ctx, Store, read_header, row, shred, write_key_header};
use crate::crypto::Key32;
use crate::error::{Error, RecordKind, RecordRef, Result};
use crate::ids::{ConversationId, KeyEpoch};
use crate::keys::{KdfHeader, StoreKey, Subkeys};
use crate::maintenance::{RotateOptions, RotationReport};

/// A step stops taking further conversations once it has read this many
/// segments (a conversation always moves whole, in one step).
const STEP_SEGMENTS: u64 = 256;

/// Index entries a reindex sorts and inserts at a time: 24 bytes each, so
/// at most 6 MiB held, however large the conversation.
const REINDEX_CHUNK: usize = 256 * 1024;

/// The root key a rotation's last step seals the new master key under.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// The caller's new key, with its fresh header.
    New(&'a Key32, &'a KdfHeader),
    /// The store's current root key and header, unchanged: to finish a
    /// rotation the caller's key did not begin.
    Current,
}

impl Store {
    /// Rotates the master key: draws a new one, rewraps every conversation
    /// key under it, starts a new key epoch in every conversation,
    /// recomputes every keyed hash of an external id under its new id key,
    /// and seals it under `key`, the new root key (a new passphrase, or new
    /// raw bytes from the keystore); then rebuilds the key table and scrubs.
    ///
    /// Afterwards, whoever holds the old root key and a copy of the old
    /// header opens nothing written or rewrapped since. Old segments stay
    /// sealed under their old conversation keys (now wrapped only under the
    /// new master key) until [`Store::compact`] reseals them under the new
    /// epochs and destroys the old keys, and pieces of old values may stay
    /// in free page space until [`Store::vacuum`]: SECURITY.md ("If a key
    /// leaked") gives the whole recipe, and both steps belong to it.
    ///
    /// **From the first transaction on, only `key` opens the store**: keep
    /// it (in the Keychain or Keystore) before calling. The rotation then
    /// runs in many short transactions, so reads and writes go on
    /// meanwhile. If it is interrupted (a crash, an error, a budget), open
    /// the store with `key` and call this again with `key` to finish it. A
    /// call with another key first finishes the rotation under way under
    /// the store's current key, then rotates again to the new one (so a
    /// rotation someone else began can never become the store's key).
    /// Other handles opened with the old key fail with
    /// [`Error::MasterKeyRotated`] once they need a moved key, and must be
    /// reopened with the new one.
    ///
    /// External-id index entries of deleted messages cannot be recomputed
    /// (their ids are gone): they are dropped, with those of expired
    /// messages, so a later re-delivery of a message deleted or expired
    /// before the rotation is stored again
    /// ([`RotationReport::references_dropped`]). A conversation whose keys,
    /// metadata or segments do not open (damage) is moved as far as it can
    /// be, never blocking the rotation, and named in
    /// [`RotationReport::conversations_damaged`].
    pub fn rotate_master_key(&self, key: StoreKey) -> Result<RotationReport> {
        self.rotate_master_key_with(key, &RotateOptions::default())
    }

    /// [`Store::rotate_master_key`] within a budget: it stops starting new
    /// transactions when the budget is spent or the cancel flag is set, and
    /// returns with [`RotationReport::finished`] false. The rotation then
    /// stays under way: the store opens with `key` (once the first
    /// transaction ran), and the next call with `key` carries on where this
    /// one stopped.
    pub fn rotate_master_key_with(&self, key: StoreKey, options: &RotateOptions) -> Result<RotationReport> {
        // Argon2id before any lock is taken.
        let kdf = KdfHeader::fresh(&key, self.sealer().rng())?;
        let root = kdf.root_key(&key)?;
        let started = Instant::now();
        let mut report = RotationReport::default();
        // A rotation under way is the caller's to resume only if the
        // caller's key is the store's current key, which its first
        // transaction set; any other is finished under the current key
        // first, then a new one begins.
        let mut pending = self.read(pending_rotation)?;
        let mut mine = pending.is_some() && self.is_current_key(&key)?;
        report.key_in_force = mine;
        loop {
            let over_time = options.time_budget.is_some_and(|b| started.elapsed() >= b);
            let over_count = options.transaction_budget.is_some_and(|b| report.transactions >= b.max(1));
            if over_time || over_count || options.cancelled() {
                return Ok(report);
            }
            let Some(generation) = pending else {
                pending = Some(self.write(|ctx| begin(ctx, &root, &kdf))?);
                mine = true;
                report.key_in_force = true;
                report.transactions += 1;
                // The old key's wrapping of the master key goes, as in
                // `change_key`. If a reader holds the WAL now, the last
                // step's scrub removes it instead.
                match self.scrub() {
                    Ok(()) | Err(Error::ScrubIncomplete) => {}
                    Err(e) => return Err(e),
                }
                continue;
            };
            let target = if mine { Target::New(&root, &kdf) } else { Target::Current };
            // Moved conversations' index entries change under the cache:
            // the step drops it as it commits.
            let step = self.write(|ctx| {
                ctx.after_commit_clear_refs();
                step(ctx, generation, &mut report, target)
            });
            report.transactions += 1;
            let finished = match step {
                Ok(finished) => finished,
                // The rotation under way finished and committed; its scrub
                // is owed, and the last step of ours scrubs again.
                Err(Error::ScrubIncomplete) if !mine => true,
                // Ours finished and committed, only the scrub is owed.
                Err(e) => return Err(e),
            };
            if finished {
                if mine {
                    report.finished = true;
                    return Ok(report);
                }
                pending = None;
            }
        }
    }

    /// Whether `key` is the store's current key: whether it opens the
    /// master key the `store` row holds now.
    fn is_current_key(&self, key: &StoreKey) -> Result<bool> {
        let header = self.read(|ctx| read_header(ctx.conn, crate::format::FORMAT_VERSION))?;
        // The header may have changed since open: the ceiling again first.
        header.kdf.check(&crate::keys::KdfParams::MAX)?;
        let Ok(root) = header.kdf.root_key(key) else { return Ok(false) };
        Ok(self.sealer().open_master_at(&root, &header.master, header.rotation.pending()).is_ok())
    }
}

/// The master-key generation of the rotation under way, if one is.
fn pending_rotation(ctx: &mut Ctx<'_>) -> Result<Option<u64>> {
    ctx.refresh_masters()?;
    Ok(ctx.masters().next().map(|_| ctx.masters().generation()))
}

/// Starts a rotation: the current master key and a new one, both sealed
/// under the new root key. Returns the generation it rotates from.
fn begin(ctx: &mut Ctx<'_>, root: &Key32, kdf: &KdfHeader) -> Result<u64> {
    ctx.refresh_masters()?;
    let generation = ctx.masters().generation();
    if ctx.masters().next().is_some() {
        // Another handle began one meanwhile: not ours.
        return Err(Error::MasterKeyRotated);
    }
    let sealer = ctx.store.sealer();
    let next = Key32::random(sealer.rng())?;
    // The master key's seal is bound to this rotation: replayed without its
    // next master key (a header copied mid-rotation), it does not open.
    let sealed_master = sealer.seal_master_at(root, ctx.masters().master(), Some(generation))?;
    let sealed_next = sealer.seal_next_master(root, generation, &next)?;
    write_key_header(ctx.conn, kdf, &sealed_master)?;
    ctx.conn.execute("UPDATE store SET next_master = ?1, rotated_through = 0 WHERE id = 1", [sealed_next])?;
    let masters = ctx.masters().begin_rotation(sealer.store_id(), root, next);
    ctx.set_masters(masters);
    Ok(generation)
}

/// Moves the next few conversations to the new master key; once none is
/// left (nor any key row left behind under the old master key, whatever
/// `rotated_through` says), finishes the rotation, in the same transaction
/// as that check, and returns true.
fn step(ctx: &mut Ctx<'_>, generation: u64, report: &mut RotationReport, target: Target<'_>) -> Result<bool> {
    ctx.refresh_masters()?;
    let through = match ctx.masters().next() {
        Some((_, _, through)) if ctx.masters().generation() == generation => through,
        // Another handle finished this rotation.
        _ => return Err(Error::MasterKeyRotated),
    };
    let ids: Vec<i64> = ctx
        .conn
        .prepare_cached("SELECT id FROM conversation WHERE id > ?1 ORDER BY id")?
        .query_map([row::sql_int(through)?], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut todo = ids.into_iter().map(conversation_id).collect::<Result<Vec<_>>>()?;
    if todo.is_empty() {
        // Key rows of conversations that do not exist are garbage (replayed
        // from an older copy, say): they go, and the rebuild below zeroes them.
        ctx.conn.execute(
            "DELETE FROM conversation_key WHERE conversation NOT IN (SELECT id FROM conversation)",
            [],
        )?;
        todo = left_behind(ctx)?;
        if todo.is_empty() {
            finish(ctx, target)?;
            return Ok(true);
        }
    }
    let mut segments = 0u64;
    for c in todo {
        segments = segments.saturating_add(move_conversation(ctx, c, report)?);
        report.conversations += 1;
        if segments >= STEP_SEGMENTS {
            break;
        }
    }
    Ok(false)
}

/// Whether `e` is damage to stored data (which a rotation works around)
/// rather than a failure of the operation.
fn damage(e: &Error) -> bool {
    matches!(e, Error::Authentication { .. } | Error::Corrupt { .. } | Error::NotFound(_))
}

/// Moves conversation `c` to the new master key: rewraps its keys; starts a
/// new key epoch if its current key was under the old master key (so
/// nothing is written from now on under a key the old secrets open);
/// recomputes its keyed hashes. What does not open or read (damage) is left
/// as it is and `c` named in the report: damage never stops a rotation.
/// Returns the segments read.
fn move_conversation(ctx: &mut Ctx<'_>, c: ConversationId, report: &mut RotationReport) -> Result<u64> {
    let c_i = row::sql_int(c.get())?;
    // Rows that do not read as key rows (damage) are skipped.
    let (wrapped, unreadable): (Vec<_>, Vec<_>) = wrapped_keys(ctx, c)?.into_iter().partition(Result::is_ok);
    let wrapped: Vec<(KeyEpoch, Vec<u8>)> = wrapped.into_iter().flatten().collect();
    let mut damaged = !unreadable.is_empty();
    let mut rewrapped: Vec<KeyEpoch> = Vec::new();
    {
        let masters = ctx.masters();
        let Some((_, new, _)) = masters.next() else { return Err(Error::MasterKeyRotated) };
        let (old, sealer) = (masters.current(), ctx.store.sealer());
        for (epoch, w) in wrapped {
            let key = match old.unwrap_conversation_key(sealer, c, epoch, w.clone()) {
                Ok(key) => key,
                // Already under the new key (a key made during the rotation,
                // or a conversation the file said was not moved).
                Err(_) if new.unwrap_conversation_key(sealer, c, epoch, w).is_ok() => continue,
                // Opens under neither: damage, left for verify to report.
                Err(_) => {
                    damaged = true;
                    continue;
                }
            };
            // Retired: it existed before the rotation, so whoever had the
            // old master key may know it. It opens, it never seals again.
            let sealed = new.wrap_conversation_key(sealer, c, epoch, &key, false)?;
            ctx.conn
                .prepare_cached(
                    "UPDATE conversation_key SET wrapped = ?3 WHERE conversation = ?1 AND epoch = ?2",
                )?
                .execute(params![c_i, epoch.get(), sealed])?;
            rewrapped.push(epoch);
        }
    }
    // From here on the conversation belongs to the new master key.
    if ctx.masters().next().is_some_and(|(_, _, through)| through < c.get()) {
        let moved = ctx.masters().moved_through(c.get()).ok_or(Error::MasterKeyRotated)?;
        ctx.set_masters(moved);
        ctx.conn.execute("UPDATE store SET rotated_through = ?1 WHERE id = 1", [c_i])?;
    }
    // The conversation row and metadata in a savepoint (a small one: its
    // journal is kept in memory): damage found there undoes it (the keys
    // stay rewrapped, so nothing readable is lost) and the rotation goes on.
    let keys = ctx.masters().next().map(|(_, k, _)| k.clone()).ok_or(Error::MasterKeyRotated)?;
    ctx.conn.execute_batch("SAVEPOINT move_conversation")?;
    let hash = match epoch_and_hash(ctx, c, &keys, &rewrapped) {
        Ok(hash) => {
            ctx.conn.execute_batch("RELEASE move_conversation")?;
            hash
        }
        Err(e) if damage(&e) => {
            ctx.conn.execute_batch("ROLLBACK TO move_conversation; RELEASE move_conversation")?;
            damaged = true;
            // Its keyed hash cannot be recomputed: none stays under the old id key.
            None
        }
        Err(e) => return Err(e),
    };
    ctx.conn.execute(
        "UPDATE conversation SET ext_hash = ?2 WHERE id = ?1",
        params![c_i, hash.as_ref().map(|h| &h[..])],
    )?;
    let (segments, unreadable) = reindex(ctx, c, &keys, report)?;
    damaged |= unreadable > 0;
    if damaged && !report.conversations_damaged.contains(&c) {
        report.conversations_damaged.push(c);
    }
    Ok(segments)
}

/// The part of a move that reads the conversation's row and metadata: a
/// new epoch if the current key was rewrapped (it was under the old master
/// key), and the conversation's keyed hash under `keys`.
fn epoch_and_hash(
    ctx: &mut Ctx<'_>,
    c: ConversationId,
    keys: &Subkeys,
    rewrapped: &[KeyEpoch],
) -> Result<Option<[u8; 16]>> {
    let mut state = ConvState::load(ctx, c)?;
    let meta = state.meta(ctx)?;
    if rewrapped.contains(&state.epoch) {
        state.rotate_with(ctx, &meta)?;
        state.save(ctx, false)?;
    }
    Ok(meta_hash(keys, &meta))
}

/// Recomputes the external-id index of `c` under `keys` from the messages
/// it still shows; entries of deleted and expired messages cannot be (or,
/// for an expired one still on disk until compaction, are treated alike),
/// and are dropped. Returns the segments read, and how many did not open.
///
/// Segments are read one at a time, in sequence order, and the entries
/// inserted in chunks sorted by hash (so each chunk appends to the index
/// rather than writing pages at random); `INSERT OR IGNORE` keeps, for a
/// hash seen again, the lowest sequence number, as at append.
fn reindex(
    ctx: &mut Ctx<'_>,
    c: ConversationId,
    keys: &Subkeys,
    report: &mut RotationReport,
) -> Result<(u64, u64)> {
    let c_i = row::sql_int(c.get())?;
    let count = |ctx: &Ctx<'_>, table: &str| -> Result<u64> {
        let n: i64 = ctx
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM {table} WHERE conversation = ?1"))?
            .query_row([c_i], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let old = count(ctx, "recent_ref")?.saturating_add(count(ctx, "message_ref")?);
    for table in ["recent_ref", "message_ref"] {
        ctx.conn.prepare_cached(&format!("DELETE FROM {table} WHERE conversation = ?1"))?.execute([c_i])?;
    }
    let conn = ctx.conn;
    let mut stmt = conn.prepare(select_segments!("WHERE id BETWEEN ?1 AND ?2 ORDER BY id"))?;
    let (lo, hi) = segments::span(c);
    let mut rows = stmt.query(params![lo, hi])?;
    let mut entries: Vec<([u8; 16], u64)> = Vec::new();
    let mut opener = Keys::new(c);
    let now = ctx.now;
    let (mut segments, mut unreadable) = (0u64, 0u64);
    while let Some(r) = rows.next()? {
        segments = segments.saturating_add(1);
        let seg = match SegmentRow::from_row(c, r) {
            Ok(seg) => seg,
            Err(e) if damage(&e) => {
                unreadable = unreadable.saturating_add(1);
                continue;
            }
            Err(e) => return Err(e),
        };
        let rec = seg.place(c).record();
        let opened = opener.open_view(ctx, seg, |first, views| {
            // Only messages a read still shows: an expired one is gone for
            // every read, and its entry outlives it as a deleted one's does.
            for v in views.iter().filter(|v| !v.expired(now)) {
                let utf8 =
                    |b| std::str::from_utf8(b).map_err(|_| Error::corrupt(rec, "a string is not UTF-8"));
                let hash = match v.external_id {
                    Some(ext) => keys.message_hash(c, utf8(ext)?),
                    None => keys.content_hash(c, utf8(v.sender)?, v.sent_at_ms),
                };
                entries.push((hash, first.saturating_add(v.offset)));
            }
            Ok(())
        });
        match opened {
            Ok(()) => {}
            Err(e) if damage(&e) => unreadable = unreadable.saturating_add(1),
            Err(e) => return Err(e),
        }
        if entries.len() >= REINDEX_CHUNK {
            insert_entries(ctx, c_i, &mut entries, report)?;
        }
    }
    insert_entries(ctx, c_i, &mut entries, report)?;
    let new = count(ctx, "message_ref")?;
    report.references_dropped = report.references_dropped.saturating_add(old.saturating_sub(new));
    Ok((segments, unreadable))
}

/// Inserts a chunk of index entries, sorted by hash, and empties it.
fn insert_entries(
    ctx: &Ctx<'_>,
    c_i: i64,
    entries: &mut Vec<([u8; 16], u64)>,
    report: &mut RotationReport,
) -> Result<()> {
    entries.sort_unstable();
    let mut insert = ctx.conn.prepare_cached(
        "INSERT OR IGNORE INTO message_ref (conversation, ext_hash, seq) VALUES (?1, ?2, ?3)",
    )?;
    for (hash, seq) in entries.drain(..) {
        let added = insert.execute(params![c_i, &hash[..], row::sql_int(seq)?])?;
        report.references = report.references.saturating_add(added as u64);
    }
    Ok(())
}

/// Makes the new master key the current one, once every conversation has
/// moved (and no key row was left behind under the old master key: see
/// [`step`]): seals it under the target root key; rebuilds the key table so
/// no copy of an old wrapping survives in its pages; and asks for a scrub.
fn finish(ctx: &mut Ctx<'_>, target: Target<'_>) -> Result<()> {
    let generation = ctx.masters().generation();
    let Some((next, _, _)) = ctx.masters().next() else { return Err(Error::MasterKeyRotated) };
    let sealer = ctx.store.sealer();
    let root = match target {
        Target::New(root, kdf) => {
            write_key_header(ctx.conn, kdf, &sealer.seal_master(root, next)?)?;
            root
        }
        Target::Current => {
            // The root key this handle knows must still be the store's.
            let header = read_header(ctx.conn, crate::format::FORMAT_VERSION)?;
            let root = ctx.masters().root();
            if sealer.open_master_at(root, &header.master, header.rotation.pending()).is_err() {
                return Err(Error::MasterKeyRotated);
            }
            ctx.conn
                .execute("UPDATE store SET master = ?1 WHERE id = 1", [sealer.seal_master(root, next)?])?;
            root
        }
    };
    ctx.conn.execute(
        "UPDATE store SET master_gen = ?1, next_master = NULL, rotated_through = NULL WHERE id = 1",
        [row::sql_int(generation.saturating_add(1))?],
    )?;
    shred::rebuild_key_table(ctx)?;
    let finished = ctx.masters().finished(Some(root)).ok_or(Error::MasterKeyRotated)?;
    ctx.set_masters(finished);
    ctx.request_scrub();
    Ok(())
}

/// Conversations with a key row that opens under the current (old) master
/// key's wrap key but not the next one's: not moved, whatever the file's
/// `rotated_through` says. Rows that do not read as key rows are skipped.
fn left_behind(ctx: &Ctx<'_>) -> Result<Vec<ConversationId>> {
    let masters = ctx.masters();
    let Some((_, new, _)) = masters.next() else { return Ok(Vec::new()) };
    let (old, sealer) = (masters.current(), ctx.store.sealer());
    let rec = RecordRef::store(RecordKind::ConversationKey);
    let mut stmt = ctx.conn.prepare_cached(
        "SELECT conversation, epoch, wrapped FROM conversation_key ORDER BY conversation, epoch",
    )?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<ConversationId> = Vec::new();
    while let Some(r) = rows.next()? {
        let (Ok(c), Ok(epoch), Ok(w)) =
            (row::int(r, 0, rec).and_then(conversation_id), row::epoch(r, 1, rec), row::blob(r, 2, rec))
        else {
            continue;
        };
        if out.last() == Some(&c) || new.unwrap_conversation_key(sealer, c, epoch, w.clone()).is_ok() {
            continue;
        }
        if old.unwrap_conversation_key(sealer, c, epoch, w).is_ok() {
            out.push(c);
        }
    }
    Ok(out)
}
