//! The context an operation runs in: one transaction, and the keys it uses.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::refs::Recent;
use super::{Store, row};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Missing, RecordKind, RecordRef, Result};
use crate::ids::{ConversationId, KeyEpoch};

/// One transaction on one connection, with access to the store's keys.
pub(crate) struct Ctx<'t> {
    pub(crate) conn: &'t Connection,
    pub(crate) store: &'t Store,
    /// The store clock's time when the operation began: what has expired.
    pub(crate) now: i64,
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
    pub(crate) scrub: bool,
}

impl<'t> Ctx<'t> {
    pub(crate) fn new(conn: &'t Connection, store: &'t Store, writing: bool) -> Self {
        Ctx {
            conn,
            store,
            now: store.now_ms(),
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
            scrub: self.scrub,
        }
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
        let key =
            Arc::new(self.store.subkeys().unwrap_conversation_key(self.store.sealer(), c, epoch, wrapped)?);
        self.remember_key(c, epoch, Arc::clone(&key));
        Ok(key)
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
