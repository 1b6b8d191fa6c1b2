//! The context an operation runs in: one transaction, and the keys it uses.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::refs::Recent;
use super::{Store, row};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Missing, RecordKind, RecordRef, Result};
use crate::ids::{ConversationId, KeyEpoch};
use crate::keys::Masters;

/// One transaction on one connection, with access to the store's keys.
pub(crate) struct Ctx<'t> {
    pub(crate) conn: &'t Connection,
    pub(crate) store: &'t Store,
    /// The store clock's time when the operation began: what has expired.
    pub(crate) now: i64,
    /// The master keys, as the `store` row in this transaction's snapshot
    /// has them (refreshed if a key fails to unwrap under them).
    masters: Arc<Masters>,
    /// Master keys a write moved on to, remembered once it commits.
    new_masters: Option<Arc<Masters>>,
    writing: bool,
    new_keys: Vec<(ConversationId, KeyEpoch, Arc<Key32>)>,
    destroyed_keys: Vec<(ConversationId, KeyEpoch)>,
    refs: Vec<(ConversationId, Recent)>,
    scrub: bool,
}

/// What a write context leaves for after its commit.
pub(crate) struct Finished {
    pub(crate) new_keys: Vec<(ConversationId, KeyEpoch, Arc<Key32>)>,
    pub(crate) destroyed_keys: Vec<(ConversationId, KeyEpoch)>,
    pub(crate) refs: Vec<(ConversationId, Recent)>,
    pub(crate) masters: Option<Arc<Masters>>,
    pub(crate) scrub: bool,
}

impl<'t> Ctx<'t> {
    pub(crate) fn new(conn: &'t Connection, store: &'t Store, masters: Arc<Masters>, writing: bool) -> Self {
        Ctx {
            conn,
            store,
            now: store.now_ms(),
            masters,
            new_masters: None,
            writing,
            new_keys: Vec::new(),
            destroyed_keys: Vec::new(),
            refs: Vec::new(),
            scrub: false,
        }
    }

    pub(crate) fn finish(self) -> Finished {
        Finished {
            new_keys: self.new_keys,
            destroyed_keys: self.destroyed_keys,
            refs: self.refs,
            masters: self.new_masters,
            scrub: self.scrub,
        }
    }

    /// The master keys this transaction works with.
    pub(crate) fn masters(&self) -> &Masters {
        &self.masters
    }

    /// Moves this write on to `masters` now, and the store once it commits.
    pub(crate) fn set_masters(&mut self, masters: Masters) {
        let masters = Arc::new(masters);
        self.masters = Arc::clone(&masters);
        self.new_masters = Some(masters);
    }

    /// Reads the master keys again from this transaction's snapshot. True if
    /// they changed (another handle's rotation moved on).
    pub(crate) fn refresh_masters(&mut self) -> Result<bool> {
        let fresh = self.store.refresh_masters(self.conn, !self.writing)?;
        let changed = !Arc::ptr_eq(&fresh, &self.masters);
        self.masters = fresh;
        Ok(changed)
    }

    /// Drops a key from the store's cache for good once this write commits.
    pub(crate) fn after_commit_destroy_key(&mut self, c: ConversationId, epoch: KeyEpoch) {
        self.destroyed_keys.push((c, epoch));
    }

    /// Caches a conversation's recent external-id set once this write commits.
    pub(crate) fn after_commit_refs(&mut self, c: ConversationId, recent: Recent) {
        self.refs.push((c, recent));
    }

    /// Asks for a scrub once this write commits.
    pub(crate) fn request_scrub(&mut self) {
        self.scrub = true;
    }

    /// The key of conversation `c` at `epoch`: from the cache, or unwrapped
    /// from its row.
    pub(crate) fn conversation_key(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<Arc<Key32>> {
        if let Some(k) = self.store.key_cache().get(c, epoch) {
            return Ok(k);
        }
        if let Some((_, _, k)) = self.new_keys.iter().find(|(kc, ke, _)| *kc == c && *ke == epoch) {
            return Ok(Arc::clone(k));
        }
        let rec = RecordRef {
            kind: RecordKind::ConversationKey,
            conversation: Some(c),
            epoch: epoch.get(),
            seqs: None,
        };
        let row_id = c.row().ok_or(Error::NotFound(Missing::Conversation(c)))?;
        let wrapped = self
            .conn
            .prepare_cached("SELECT wrapped FROM conversation_key WHERE conversation = ?1 AND epoch = ?2")?
            .query_row(params![row_id, epoch.get()], |r| Ok(row::blob(r, 0, rec)))
            .optional()?
            .ok_or_else(|| Error::corrupt(rec, "the key for this epoch is missing"))??;
        // During a master-key rotation, the key is wrapped under the next
        // master key's wrap key if the conversation has moved, else under
        // the current one's; the other is tried too, in case the file's
        // `rotated_through` is wrong (damage).
        let unwrap = |ctx: &Self, wrapped: &[u8]| {
            let sealer = ctx.store.sealer();
            let first =
                ctx.masters.for_conversation(c).unwrap_conversation_key(sealer, c, epoch, wrapped.to_vec());
            match (first, ctx.masters.other_for(c)) {
                (Err(e @ Error::Authentication { .. }), Some(other)) => {
                    other.unwrap_conversation_key(sealer, c, epoch, wrapped.to_vec()).map_err(|_| e)
                }
                (result, _) => result,
            }
        };
        let key = match unwrap(self, &wrapped) {
            // Another handle's master-key rotation may have moved this
            // conversation on: read the keys this snapshot was written with.
            Err(Error::Authentication { .. }) if self.refresh_masters()? => unwrap(self, &wrapped)?,
            other => other?,
        };
        let key = Arc::new(key);
        self.remember_key(c, epoch, Arc::clone(&key));
        Ok(key)
    }

    /// Whether conversation `c`'s key at `epoch` is wrapped under the newest
    /// master key: always, unless a master-key rotation is under way and it
    /// is still wrapped under the old one (not moved yet, or planted by
    /// whoever has the old one).
    pub(crate) fn key_is_under_newest_master(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<bool> {
        let Some((_, next, _)) = self.masters.next() else { return Ok(true) };
        let row_id = c.row().ok_or(Error::NotFound(Missing::Conversation(c)))?;
        let wrapped: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT wrapped FROM conversation_key WHERE conversation = ?1 AND epoch = ?2")?
            .query_row(params![row_id, epoch.get()], |r| Ok(r.get_ref(0)?.as_blob().ok().map(<[u8]>::to_vec)))
            .optional()?
            .flatten();
        Ok(wrapped.is_some_and(|w| next.unwrap_conversation_key(self.store.sealer(), c, epoch, w).is_ok()))
    }

    /// Makes a key available to this operation; it enters the store's cache
    /// now for a read, or after the commit for a write.
    pub(crate) fn remember_key(&mut self, c: ConversationId, epoch: KeyEpoch, key: Arc<Key32>) {
        if self.writing {
            self.new_keys.push((c, epoch, key));
        } else {
            self.store.key_cache().insert(c, epoch, key);
        }
    }

    /// A ready-to-use AEAD for conversation `c` at `epoch`.
    pub(crate) fn aead(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<Aead> {
        Ok(Aead::new(&*self.conversation_key(c, epoch)?))
    }
}
