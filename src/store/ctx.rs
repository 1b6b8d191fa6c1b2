//! The context an operation runs in: one transaction, and the keys it uses.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::refs::Recent;
use super::{Store, row};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Missing, RecordKind, RecordRef, Result};
use crate::ids::{ConversationId, KeyEpoch};
use crate::keys::{Masters, NewestTag};

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
    new_keys: Vec<(ConversationId, KeyEpoch, Arc<Key32>, Option<NewestTag>)>,
    destroyed_keys: Vec<(ConversationId, KeyEpoch)>,
    refs: Vec<(ConversationId, Recent)>,
    clear_refs: bool,
    scrub: bool,
    unlinks: Vec<super::attachments::BlobId>,
}

/// What a write context leaves for after its commit.
pub(crate) struct Finished {
    pub(crate) new_keys: Vec<(ConversationId, KeyEpoch, Arc<Key32>, Option<NewestTag>)>,
    pub(crate) destroyed_keys: Vec<(ConversationId, KeyEpoch)>,
    pub(crate) refs: Vec<(ConversationId, Recent)>,
    /// The external-id index changed under the cache: drop all of it.
    pub(crate) clear_refs: bool,
    pub(crate) masters: Option<Arc<Masters>>,
    pub(crate) scrub: bool,
    /// Attachment files to remove once the rows naming them are gone.
    pub(crate) unlinks: Vec<super::attachments::BlobId>,
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
            clear_refs: false,
            scrub: false,
            unlinks: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> Finished {
        Finished {
            new_keys: self.new_keys,
            destroyed_keys: self.destroyed_keys,
            refs: self.refs,
            clear_refs: self.clear_refs,
            masters: self.new_masters,
            scrub: self.scrub,
            unlinks: self.unlinks,
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
    /// Drops every cached external-id index state once this write
    /// commits (before the writer lock is released, so no other write sees
    /// the old state): this write rewrote index rows under it.
    pub(crate) fn after_commit_clear_refs(&mut self) {
        self.clear_refs = true;
    }

    /// Removes an attachment file once this write commits (the row naming
    /// it is deleted, or no longer names it, in this write).
    pub(crate) fn after_commit_unlink(&mut self, blob: super::attachments::BlobId) {
        self.unlinks.push(blob);
    }

    pub(crate) fn request_scrub(&mut self) {
        self.scrub = true;
    }

    /// The key of conversation `c` at `epoch`, for opening what was sealed
    /// under it: from the cache, or unwrapped from its row.
    pub(crate) fn conversation_key(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<Arc<Key32>> {
        if let Some(k) = self.store.key_cache().get(c, epoch) {
            return Ok(k);
        }
        if let Some((_, _, k, _)) = self.new_keys.iter().find(|(kc, ke, _, _)| *kc == c && *ke == epoch) {
            return Ok(Arc::clone(k));
        }
        let wrapped = self.wrapped_key(c, epoch)?;
        let (key, sealable) = match self.open_wrapped(c, epoch, &wrapped) {
            // Another handle's master-key rotation may have moved this
            // conversation on: read the keys this snapshot was written with.
            Err(Error::Authentication { .. }) if self.refresh_masters()? => {
                self.open_wrapped(c, epoch, &wrapped)?
            }
            other => other?,
        };
        let key = Arc::new(key);
        self.remember_key(c, epoch, Arc::clone(&key), sealable);
        Ok(key)
    }

    /// The key of conversation `c` at `epoch` if new values may be sealed
    /// under it: a key made under the newest master key, not retired by a
    /// rotation (docs/DESIGN.md, "Master-key rotation"). `None` otherwise:
    /// the caller starts a new epoch.
    pub(crate) fn sealing_key(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<Option<Arc<Key32>>> {
        let tag = self.masters.newest_tag();
        if let Some(k) = self.store.key_cache().get_sealing(c, epoch, tag) {
            return Ok(Some(k));
        }
        if let Some((_, _, k, t)) = self.new_keys.iter().find(|(kc, ke, _, _)| *kc == c && *ke == epoch) {
            return Ok((*t == Some(tag)).then(|| Arc::clone(k)));
        }
        let wrapped = self.wrapped_key(c, epoch)?;
        match self.masters.newest().open_conversation_key(self.store.sealer(), c, epoch, wrapped) {
            Ok((key, true)) => {
                let key = Arc::new(key);
                self.remember_key(c, epoch, Arc::clone(&key), Some(tag));
                Ok(Some(key))
            }
            // Retired, or under the old master key during a rotation.
            Ok((_, false)) | Err(Error::Authentication { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The row of conversation `c`'s key at `epoch`, still wrapped.
    fn wrapped_key(&self, c: ConversationId, epoch: KeyEpoch) -> Result<Vec<u8>> {
        let rec = RecordRef {
            kind: RecordKind::ConversationKey,
            conversation: Some(c),
            epoch: epoch.get(),
            seqs: None,
        };
        let row_id = c.row().ok_or(Error::NotFound(Missing::Conversation(c)))?;
        self.conn
            .prepare_cached("SELECT wrapped FROM conversation_key WHERE conversation = ?1 AND epoch = ?2")?
            .query_row(params![row_id, epoch.get()], |r| Ok(row::blob(r, 0, rec)))
            .optional()?
            .ok_or_else(|| Error::corrupt(rec, "the key for this epoch is missing"))?
    }

    /// Unwraps a key row: under the wrap key its conversation belongs to,
    /// else (during a master-key rotation) under the other one, as a key
    /// made during the rotation, or a file whose `rotated_through` is wrong,
    /// has it. Also returns the tag under which it may be sealed under, if
    /// it may: not retired, and under the newest master key.
    fn open_wrapped(
        &self,
        c: ConversationId,
        epoch: KeyEpoch,
        wrapped: &[u8],
    ) -> Result<(Key32, Option<NewestTag>)> {
        let sealer = self.store.sealer();
        let newest = self.masters.newest();
        let mut result = Err(Error::Authentication {
            record: crate::format::envelope::Place::conversation_key(c, epoch).record(),
        });
        for subkeys in std::iter::once(self.masters.for_conversation(c)).chain(self.masters.other_for(c)) {
            match subkeys.open_conversation_key(sealer, c, epoch, wrapped.to_vec()) {
                Ok((key, sealable)) => {
                    let tag = (sealable && std::ptr::eq(subkeys, newest)).then(|| self.masters.newest_tag());
                    return Ok((key, tag));
                }
                Err(e) => result = Err(e),
            }
        }
        result
    }

    /// Makes a key available to this operation (`sealable`: the tag under
    /// which it may be sealed under); it enters the store's cache now for a
    /// read, or after the commit for a write.
    pub(crate) fn remember_key(
        &mut self,
        c: ConversationId,
        epoch: KeyEpoch,
        key: Arc<Key32>,
        sealable: Option<NewestTag>,
    ) {
        if self.writing {
            self.new_keys.push((c, epoch, key, sealable));
        } else {
            self.store.key_cache().insert(c, epoch, key, sealable);
        }
    }

    /// A ready-to-use AEAD for conversation `c` at `epoch`.
    pub(crate) fn aead(&mut self, c: ConversationId, epoch: KeyEpoch) -> Result<Aead> {
        Ok(Aead::new(&*self.conversation_key(c, epoch)?))
    }
}
