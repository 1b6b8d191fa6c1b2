//! Conversations: their rows, keys and sealed metadata.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::messages::read_page;
use super::segments::{self, Keys};
use super::{Ctx, SHORT_READ_MAX, Store, row};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Missing, RecordKind, Result};
use crate::format::envelope::Place;
use crate::format::records::{self, ConversationMeta};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::keys::{SEAL_LIMIT, Subkeys};
use crate::types::{Conversation, ConversationSummary, ConversationUpdate, NewConversation, Page, limits};

/// A conversation row's plaintext state, loaded for a write and saved back.
pub(crate) struct ConvState {
    pub(crate) id: ConversationId,
    pub(crate) epoch: KeyEpoch,
    seals: u64,
    pub(crate) next_seq: u64,
    pub(crate) message_count: u64,
}

impl ConvState {
    pub(crate) fn load(ctx: &Ctx<'_>, c: ConversationId) -> Result<Self> {
        let missing = || Error::NotFound(Missing::Conversation(c));
        let row_id = c.row().ok_or_else(missing)?;
        ctx.conn
            .prepare_cached("SELECT epoch, seals, next_seq, message_count FROM conversation WHERE id = ?1")?
            .query_row([row_id], |r| Ok(Self::from_row(c, r, 0)))
            .optional()?
            .ok_or_else(missing)?
    }

    /// The state from four columns of `r` starting at `at`: epoch, seals,
    /// next_seq, message_count.
    fn from_row(c: ConversationId, r: &rusqlite::Row<'_>, at: usize) -> Result<Self> {
        let rec = Place::conversation_meta(c, KeyEpoch::FIRST).record();
        Ok(ConvState {
            id: c,
            epoch: row::epoch(r, at, rec)?,
            seals: row::uint(r, at + 1, rec)?,
            next_seq: row::uint(r, at + 2, rec)?,
            message_count: row::uint(r, at + 3, rec)?,
        })
    }

    fn meta_record(&self) -> crate::error::RecordRef {
        Place::conversation_meta(self.id, self.epoch).record()
    }

    /// Writes the state back; `active` stamps the conversation as the most
    /// recently active one.
    pub(crate) fn save(&self, ctx: &Ctx<'_>, active: bool) -> Result<()> {
        let sql = if active {
            // A new stamp only if another conversation holds the latest:
            // the stamps then reveal order, not how many appends happened
            // (docs/DESIGN.md, "Data model").
            "UPDATE conversation SET epoch = ?2, seals = ?3, next_seq = ?4, message_count = ?5,
               activity = CASE WHEN activity = (SELECT MAX(activity) FROM conversation) THEN activity
                          ELSE (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversation) END
             WHERE id = ?1"
        } else {
            "UPDATE conversation SET epoch = ?2, seals = ?3, next_seq = ?4, message_count = ?5 WHERE id = ?1"
        };
        ctx.conn.prepare_cached(sql)?.execute(params![
            row::sql_int(self.id.get())?,
            self.epoch.get(),
            row::sql_int(self.seals)?,
            row::sql_int(self.next_seq)?,
            row::sql_int(self.message_count)?,
        ])?;
        Ok(())
    }

    /// Reserves `n` seals under the current key, starting a new key epoch
    /// first if the key would pass its seal limit. Returns the AEAD to seal with.
    ///
    /// Nothing is sealed under a key that may be known outside: a key
    /// retired by a master-key rotation (it existed before), or, during a
    /// rotation, one under the old master key (whoever had that could have
    /// planted it). If the current epoch's key is one, a new epoch starts
    /// first (docs/DESIGN.md, "Master-key rotation").
    pub(crate) fn reserve_seals(&mut self, ctx: &mut Ctx<'_>, n: u64) -> Result<Aead> {
        let current = if self.seals.saturating_add(n) > SEAL_LIMIT {
            None
        } else {
            ctx.sealing_key(self.id, self.epoch)?
        };
        let key = match current {
            Some(key) => key,
            None => {
                self.rotate(ctx)?;
                ctx.sealing_key(self.id, self.epoch)?.ok_or_else(|| {
                    Error::corrupt(
                        Place::conversation_key(self.id, self.epoch).record(),
                        "no key to seal under",
                    )
                })?
            }
        };
        self.seals = self.seals.saturating_add(n);
        Ok(Aead::new(&key))
    }

    /// Starts a new key epoch: a new random key, wrapped and stored, and the
    /// metadata resealed under it.
    pub(crate) fn rotate(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        let meta = self.meta(ctx)?;
        self.rotate_with(ctx, &meta)
    }

    /// [`ConvState::rotate`] with the metadata already opened. The new epoch
    /// is above every key row the conversation has, not only its current
    /// epoch: a row above it (planted) is never taken over.
    pub(crate) fn rotate_with(&mut self, ctx: &mut Ctx<'_>, meta: &ConversationMeta) -> Result<()> {
        let rec = Place::conversation_meta(self.id, self.epoch).record();
        let highest = match ctx
            .conn
            .prepare_cached("SELECT MAX(epoch) FROM conversation_key WHERE conversation = ?1")?
            .query_row([row::sql_int(self.id.get())?], |r| Ok(row::opt_int(r, 0, rec)))??
        {
            None => self.epoch,
            // Above every row: one out of range (damage) leaves no epoch
            // known to be free, so none is chosen.
            Some(h) => KeyEpoch::from_column(h)
                .ok_or_else(|| Error::corrupt(rec, "a key epoch out of range"))?
                .max(self.epoch),
        };
        let epoch = highest.next().ok_or_else(|| Error::corrupt(rec, "key epochs exhausted"))?;
        self.add_key(ctx, epoch)?;
        self.epoch = epoch;
        self.seals = 0;
        self.set_meta(ctx, meta)
    }

    fn add_key(&self, ctx: &mut Ctx<'_>, epoch: KeyEpoch) -> Result<()> {
        let key = Arc::new(Key32::random(ctx.store.sealer().rng())?);
        // A new key is wrapped under the newest master key: the next one
        // while a rotation is under way, whether or not the conversation
        // has moved yet.
        let wrapped =
            ctx.masters().newest().wrap_conversation_key(ctx.store.sealer(), self.id, epoch, &key, true)?;
        ctx.conn
            .prepare_cached(
                "INSERT INTO conversation_key (conversation, epoch, wrapped) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![row::sql_int(self.id.get())?, epoch.get(), wrapped])?;
        let tag = ctx.masters().newest_tag();
        ctx.remember_key(self.id, epoch, key, Some(tag));
        Ok(())
    }

    /// Reads and opens the metadata.
    pub(crate) fn meta(&self, ctx: &mut Ctx<'_>) -> Result<ConversationMeta> {
        let sealed: Vec<u8> = ctx
            .conn
            .prepare_cached("SELECT meta FROM conversation WHERE id = ?1")?
            .query_row([row::sql_int(self.id.get())?], |r| Ok(r.get_ref(0)?.as_blob().map(<[u8]>::to_vec)))?
            .map_err(|_| Error::corrupt(self.meta_record(), "not a blob"))?;
        open_meta(ctx, self.id, self.epoch, sealed)
    }

    /// Seals `meta` under the current key and stores it.
    pub(crate) fn set_meta(&mut self, ctx: &mut Ctx<'_>, meta: &ConversationMeta) -> Result<()> {
        let aead = self.reserve_seals(ctx, 1)?;
        let plain = records::seal_plaintext(meta, None)
            .ok_or_else(|| Error::invalid("metadata cannot be encoded"))?;
        let sealed = ctx.store.sealer().seal(&aead, Place::conversation_meta(self.id, self.epoch), &plain)?;
        self.store_sealed_meta(ctx, &sealed)
    }

    /// Stores metadata already sealed (by [`ConvState::set_meta`], or by a
    /// fuzz harness with seals it reserved).
    pub(crate) fn store_sealed_meta(&self, ctx: &Ctx<'_>, sealed: &[u8]) -> Result<()> {
        ctx.conn
            .prepare_cached("UPDATE conversation SET meta = ?2 WHERE id = ?1")?
            .execute(params![row::sql_int(self.id.get())?, sealed])?;
        Ok(())
    }
}

fn open_meta(
    ctx: &mut Ctx<'_>,
    c: ConversationId,
    epoch: KeyEpoch,
    sealed: Vec<u8>,
) -> Result<ConversationMeta> {
    let aead = ctx.aead(c, epoch)?;
    open_meta_with(ctx, &aead, c, epoch, sealed)
}

/// Opens sealed metadata with a given key.
pub(crate) fn open_meta_with(
    ctx: &Ctx<'_>,
    aead: &Aead,
    c: ConversationId,
    epoch: KeyEpoch,
    sealed: Vec<u8>,
) -> Result<ConversationMeta> {
    let place = Place::conversation_meta(c, epoch);
    let (version, plain) = ctx.store.sealer().open(aead, place, sealed)?;
    records::decode_meta(version, &plain).map_err(|e| Error::corrupt(place.record(), e))
}

pub(crate) fn check_meta(meta: &ConversationMeta) -> Result<()> {
    if let Some(id) = &meta.external_id {
        check_external_id(id)?;
    }
    let len = meta.title.len()
        + meta.members.iter().map(String::len).sum::<usize>()
        + meta.external_id.as_ref().map_or(0, String::len)
        + meta.app_data.len();
    if len > limits::MAX_METADATA_BYTES {
        return Err(Error::TooLarge {
            what: "conversation metadata",
            len,
            limit: limits::MAX_METADATA_BYTES,
        });
    }
    Ok(())
}

pub(crate) fn check_external_id(id: &str) -> Result<()> {
    if id.len() > limits::MAX_EXTERNAL_ID_BYTES {
        return Err(Error::TooLarge {
            what: "external id",
            len: id.len(),
            limit: limits::MAX_EXTERNAL_ID_BYTES,
        });
    }
    Ok(())
}

impl Store {
    /// Creates a conversation with a fresh key.
    ///
    /// Fails with [`Error::ConversationExists`] if one with the same
    /// external id exists.
    pub fn create_conversation(&self, new: NewConversation) -> Result<ConversationId> {
        let mut meta = ConversationMeta {
            external_id: new.external_id,
            title: new.title,
            members: new.members,
            app_data: new.app_data,
            created_at_ms: new.created_at_ms.unwrap_or(0),
            read_up_to: None,
            retention_ms: new.retention_ms,
            origin: None,
        };
        check_meta(&meta)?;
        self.write(|ctx| {
            if new.created_at_ms.is_none() {
                meta.created_at_ms = ctx.now;
            }
            if let Some(ext) = meta.external_id.as_deref()
                && let Some(existing) = find_by_external_id(ctx, ext)?
            {
                return Err(Error::ConversationExists(existing));
            }
            let state = insert_conversation(ctx, &meta)?;
            Ok(state.id)
        })
    }

    /// Finds a conversation by the app's external id.
    pub fn find_conversation(&self, external_id: &str) -> Result<Option<ConversationId>> {
        check_external_id(external_id)?;
        self.read_short(|ctx| {
            let found = find_by_external_id(ctx, external_id)?;
            // Another handle's master-key rotation may have moved it to a
            // new keyed hash since this handle last looked.
            if found.is_none() && ctx.refresh_masters()? {
                return find_by_external_id(ctx, external_id);
            }
            Ok(found)
        })
    }

    /// A conversation's metadata.
    pub fn conversation(&self, c: ConversationId) -> Result<Conversation> {
        self.read_short(|ctx| {
            let state = ConvState::load(ctx, c)?;
            let meta = state.meta(ctx)?;
            let (expired, _) = segments::expired_counts(ctx, c, None)?;
            Ok(to_conversation(&state, meta, expired))
        })
    }

    /// Every conversation, most recently active first, each with its last
    /// message and unread count.
    pub fn conversations(&self) -> Result<Vec<ConversationSummary>> {
        self.summaries(None)
    }

    /// The `limit` most recently active conversations, as [`Store::conversations`].
    pub fn recent_conversations(&self, limit: usize) -> Result<Vec<ConversationSummary>> {
        self.summaries(Some(limit))
    }

    fn summaries(&self, limit: Option<usize>) -> Result<Vec<ConversationSummary>> {
        let short = limit.is_some_and(|l| l <= SHORT_READ_MAX);
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let read = |ctx: &mut Ctx<'_>| {
            // Every line's row in one statement: the state, the sealed
            // metadata, and whether any of its segments holds an expired
            // message (a probe of the expiry index, so that a line counts
            // expired messages only when there are some).
            // Each line is built as its row is stepped to, so that only one
            // line's sealed metadata is held at a time.
            let conn = ctx.conn;
            let mut stmt = conn.prepare_cached(
                "SELECT id, epoch, seals, next_seq, message_count, meta,
                        EXISTS (SELECT 1 FROM segment s WHERE s.conversation = c.id AND s.expires_at <= ?2)
                 FROM conversation c ORDER BY activity DESC, id DESC LIMIT ?1",
            )?;
            let mut rows = stmt.query(params![limit, ctx.now])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(summary(ctx, ListRow::from_row(r)?)?);
            }
            Ok(out)
        };
        if short { self.read_short(read) } else { self.read(read) }
    }

    /// Changes a conversation's title, members or app data.
    pub fn update_conversation(&self, c: ConversationId, update: ConversationUpdate) -> Result<()> {
        self.write(|ctx| {
            let mut state = ConvState::load(ctx, c)?;
            let mut meta = state.meta(ctx)?;
            if let Some(title) = update.title {
                meta.title = title;
            }
            if let Some(members) = update.members {
                meta.members = members;
            }
            if let Some(app_data) = update.app_data {
                meta.app_data = app_data;
            }
            if let Some(retention) = update.retention_ms {
                meta.retention_ms = retention;
            }
            check_meta(&meta)?;
            state.set_meta(ctx, &meta)?;
            state.save(ctx, false)
        })
    }

    /// Marks every message up to and including `m` as read. The marker only
    /// moves forward: marking an older message changes nothing.
    pub fn mark_read(&self, c: ConversationId, m: MessageId) -> Result<()> {
        if m.conversation() != c {
            return Err(Error::invalid(format!("message {m} is not in conversation {c}")));
        }
        self.write(|ctx| {
            let mut state = ConvState::load(ctx, c)?;
            if m.seq() == 0 || m.seq() >= state.next_seq {
                return Err(Error::NotFound(Missing::Message(m)));
            }
            let mut meta = state.meta(ctx)?;
            if meta.read_up_to.is_some_and(|r| r >= m.seq()) {
                return Ok(());
            }
            meta.read_up_to = Some(m.seq());
            state.set_meta(ctx, &meta)?;
            state.save(ctx, false)
        })
    }

    /// Starts a new key epoch for a conversation: new messages are sealed
    /// under a new key. Returns the new epoch. [`Store::compact`] then
    /// reseals the older segments under it and destroys the old keys (once
    /// no master-key rotation is under way).
    pub fn rotate_conversation_key(&self, c: ConversationId) -> Result<KeyEpoch> {
        self.write(|ctx| {
            let mut state = ConvState::load(ctx, c)?;
            state.rotate(ctx)?;
            state.save(ctx, false)?;
            Ok(state.epoch)
        })
    }

    /// Starts a new key epoch for every conversation, in one transaction.
    /// Returns how many conversations were rotated. [`Store::compact`] then
    /// reseals everything under the new keys and destroys the old ones.
    pub fn rotate_all_keys(&self) -> Result<u64> {
        self.write(|ctx| {
            let ids = all_conversations(ctx)?;
            for &c in &ids {
                let mut state = ConvState::load(ctx, c)?;
                state.rotate(ctx)?;
                state.save(ctx, false)?;
            }
            Ok(ids.len() as u64)
        })
    }

    /// Deletes a conversation: its keys, messages, attachments, metadata
    /// and row, in one transaction, then removes its attachment files and
    /// scrubs the file and the WAL. When this returns, no copy of its key
    /// or its sealed bytes is left in either.
    pub fn delete_conversation(&self, c: ConversationId) -> Result<()> {
        self.key_cache().forget(c, false);
        self.recent_refs().forget(c);
        let result = self.write(|ctx| {
            let row_id = c.row().ok_or(Error::NotFound(Missing::Conversation(c)))?;
            let deleted = ctx.conn.execute("DELETE FROM conversation WHERE id = ?1", [row_id])?;
            if deleted == 0 {
                return Err(Error::NotFound(Missing::Conversation(c)));
            }
            super::segments::remove_all(ctx, c)?;
            super::attachments::remove_for_conversation(ctx, c)?;
            for table in ["recent_ref", "message_ref", "conversation_key"] {
                ctx.conn.execute(&format!("DELETE FROM {table} WHERE conversation = ?1"), [row_id])?;
            }
            // secure_delete zeroed the key rows, but a copy of one may
            // survive in the unallocated space of a rebalanced page.
            super::shred::rebuild_key_table(ctx)?;
            ctx.request_scrub();
            Ok(())
        });
        let committed = matches!(result, Ok(()) | Err(Error::ScrubIncomplete));
        self.key_cache().forget(c, committed);
        self.recent_refs().forget(c);
        result
    }
}

/// The keyed hash under `keys` a conversation with `meta` is stored under:
/// of its external id, else of its origin if an import created it, else none.
pub(crate) fn meta_hash(keys: &Subkeys, meta: &ConversationMeta) -> Option<[u8; 16]> {
    match (&meta.external_id, &meta.origin) {
        (Some(ext), _) => Some(keys.conversation_hash(ext)),
        (None, Some(o)) => Some(keys.origin_hash(&o.store, o.id)),
        (None, None) => None,
    }
}

/// Creates a conversation row with a fresh key and `meta` sealed under it,
/// known by the keyed hash of its external id or origin.
pub(crate) fn insert_conversation(ctx: &mut Ctx<'_>, meta: &ConversationMeta) -> Result<ConvState> {
    // Under the newest id key, as its keys are: during a rotation, the next
    // master key's, whatever `rotated_through` says (lookups try both).
    let hash = meta_hash(ctx.masters().newest(), meta);
    ctx.conn
        .prepare_cached(
            "INSERT INTO conversation (ext_hash, epoch, seals, next_seq, message_count, activity, meta)
             VALUES (?1, 0, 0, 1, 0, (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversation), x'')",
        )?
        .execute(params![hash.as_ref().map(|h| &h[..])])?;
    let id = u64::try_from(ctx.conn.last_insert_rowid())
        .map_err(|_| Error::invalid("conversation id out of range"))?;
    // Format 4 keys segments by conversation id and sequence number.
    if id >= segments::CONVERSATION_LIMIT {
        return Err(Error::LimitReached { what: "conversation ids", limit: segments::CONVERSATION_LIMIT });
    }
    let c = ConversationId::from_raw(id);
    let mut state = ConvState { id: c, epoch: KeyEpoch::FIRST, seals: 0, next_seq: 1, message_count: 0 };
    state.add_key(ctx, KeyEpoch::FIRST)?;
    state.set_meta(ctx, meta)?;
    state.save(ctx, false)?;
    Ok(state)
}

/// A key row: its epoch and wrapped key, or why it does not read as one.
pub(crate) type KeyRow = Result<(KeyEpoch, Vec<u8>)>;

/// The key rows of conversation `c`, each read as a key row or the reason
/// it does not (damage, for the caller to report or skip).
pub(crate) fn wrapped_keys(ctx: &Ctx<'_>, c: ConversationId) -> Result<Vec<KeyRow>> {
    let rec = Place::conversation_key(c, KeyEpoch::FIRST).record();
    let mut stmt = ctx.conn.prepare_cached(
        "SELECT epoch, wrapped FROM conversation_key WHERE conversation = ?1 ORDER BY epoch",
    )?;
    let mut rows = stmt.query([row::sql_int(c.get())?])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row::epoch(r, 0, rec).and_then(|e| Ok((e, row::blob(r, 1, rec)?))));
    }
    Ok(out)
}

/// Every conversation, by id.
pub(crate) fn all_conversations(ctx: &Ctx<'_>) -> Result<Vec<ConversationId>> {
    ctx.conn
        .prepare_cached("SELECT id FROM conversation ORDER BY id")?
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|id| conversation_id(id?))
        .collect()
}

impl Store {
    /// Every conversation's id, in id order (nothing decrypted).
    pub(crate) fn conversation_ids(&self) -> Result<Vec<ConversationId>> {
        self.read(|ctx| all_conversations(ctx))
    }
}

/// A conversation id read from the `conversation` table.
pub(crate) fn conversation_id(id: i64) -> Result<ConversationId> {
    u64::try_from(id).map(ConversationId::from_raw).map_err(|_| {
        Error::corrupt(
            crate::error::RecordRef::store(RecordKind::ConversationMeta),
            "negative conversation id",
        )
    })
}

/// The conversation stored under any of these keyed hashes.
fn find_by_hashes(ctx: &Ctx<'_>, hashes: &[[u8; 16]]) -> Result<Option<ConversationId>> {
    for hash in hashes {
        let id: Option<i64> = ctx
            .conn
            .prepare_cached("SELECT id FROM conversation WHERE ext_hash = ?1")?
            .query_row([&hash[..]], |r| r.get(0))
            .optional()?;
        if let Some(id) = id.and_then(|i| u64::try_from(i).ok()) {
            return Ok(Some(ConversationId::from_raw(id)));
        }
    }
    Ok(None)
}

/// The conversation with this external id (under either id key while a
/// master-key rotation is under way).
pub(crate) fn find_by_external_id(ctx: &Ctx<'_>, external_id: &str) -> Result<Option<ConversationId>> {
    find_by_hashes(ctx, &ctx.masters().conversation_hashes(external_id))
}

/// The conversation an import created from `(source_store, source_id)`.
pub(crate) fn find_by_origin(
    ctx: &Ctx<'_>,
    source_store: &[u8; 16],
    source_id: u64,
) -> Result<Option<ConversationId>> {
    find_by_hashes(ctx, &ctx.masters().origin_hashes(source_store, source_id))
}

/// The API view of a conversation; `expired` messages are not counted.
fn to_conversation(state: &ConvState, meta: ConversationMeta, expired: u64) -> Conversation {
    Conversation {
        id: state.id,
        external_id: meta.external_id,
        title: meta.title,
        members: meta.members,
        app_data: meta.app_data,
        created_at_ms: meta.created_at_ms,
        read_up_to: meta.read_up_to.map(|s| MessageId::new(state.id, s)),
        message_count: state.message_count.saturating_sub(expired),
        retention_ms: meta.retention_ms,
    }
}

/// A conversation-list line's row: its state, sealed metadata, and whether
/// anything in it has expired.
struct ListRow {
    state: ConvState,
    sealed: Vec<u8>,
    any_expired: bool,
}

impl ListRow {
    fn from_row(r: &rusqlite::Row<'_>) -> Result<Self> {
        let c = conversation_id(r.get(0)?)?;
        let state = ConvState::from_row(c, r, 1)?;
        let sealed = r.get_ref(5)?.as_blob().map(<[u8]>::to_vec);
        let sealed = sealed.map_err(|_| Error::corrupt(state.meta_record(), "not a blob"))?;
        Ok(ListRow { state, sealed, any_expired: r.get(6)? })
    }
}

/// One line of the conversation list, from its row.
///
/// One key schedule for the metadata and the newest segment (the same
/// epoch, unless the key was rotated since that segment was written): the
/// list runs this 50 times.
fn summary(ctx: &mut Ctx<'_>, line: ListRow) -> Result<ConversationSummary> {
    let ListRow { state, sealed, any_expired } = line;
    let c = state.id;
    let mut keys = Keys::new(c);
    let aead = keys.get(ctx, state.epoch)?;
    let meta = open_meta_with(ctx, aead, c, state.epoch, sealed)?;
    let last_message = read_page(ctx, &mut keys, Page::latest(1))?.pop();
    let (expired, expired_unread) =
        if any_expired { segments::expired_counts(ctx, c, meta.read_up_to)? } else { (0, 0) };

    let unread = match meta.read_up_to {
        None => state.message_count,
        Some(read) => {
            let after: i64 = ctx
                .conn
                .prepare_cached("SELECT COALESCE(SUM(count), 0) FROM segment WHERE id > ?1 AND id <= ?2")?
                // A marker past every storable number means all is read.
                .query_row(params![segments::key_at(c, read), segments::span(c).1], |r| r.get(0))?;
            let straddling = match segments::containing(ctx, c, read)? {
                Some(seg) if seg.last > read => {
                    let open = keys.open(ctx, seg)?;
                    open.messages.iter().filter(|m| open.seq_of(m) > read).count() as u64
                }
                _ => 0,
            };
            u64::try_from(after).unwrap_or(0).saturating_add(straddling)
        }
    };

    Ok(ConversationSummary {
        conversation: to_conversation(&state, meta, expired),
        last_message,
        unread_count: unread.saturating_sub(expired_unread),
    })
}
