//! The key hierarchy (docs/DESIGN.md, "Keys"): root key → master key →
//! wrap key and id key → conversation keys.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use crate::crypto::{self, Aead, Key32};
use crate::error::{Error, Result};
use crate::format::archive;
use crate::format::envelope::{self, Place, STORE_ID_LEN};
use crate::ids::{ConversationId, KeyEpoch};

/// HKDF label of the key that wraps conversation keys.
const LABEL_WRAP: &[u8] = b"chatvault v1 conversation-key wrap";
/// HKDF label of the key for keyed hashes of external ids.
const LABEL_ID: &[u8] = b"chatvault v1 external-id hmac";
/// Keyed-hash domain of conversation external ids.
const HASH_CONVERSATION: &[u8] = b"conversation\0";
/// Keyed-hash domain of message external ids.
const HASH_MESSAGE: &[u8] = b"message\0";
/// Keyed-hash domain of a message without external id, by its sender and
/// time (docs/FORMAT.md, "Importing").
const HASH_CONTENT: &[u8] = b"content\0";
/// Keyed-hash domain of an imported conversation's origin (docs/FORMAT.md, "Importing").
const HASH_ORIGIN: &[u8] = b"origin\0";

/// Seals allowed under one conversation key before the store starts a new
/// epoch: 2^32 random 96-bit nonces is NIST's bound, less a margin.
pub(crate) const SEAL_LIMIT: u64 = (1 << 32) - (1 << 20);

/// Length of a passphrase salt drawn at create and change_key.
const SALT_LEN: usize = 16;
/// Salt lengths accepted from disk.
const SALT_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

/// The key that opens a store: 32 raw bytes (recommended: keep them in the
/// iOS Keychain or Android Keystore), or a passphrase stretched with Argon2id.
///
/// The key material is wiped from memory when this value is dropped, and
/// `Debug` never prints it.
pub struct StoreKey(KeySource);

enum KeySource {
    Raw(Key32),
    Passphrase { passphrase: Zeroizing<String>, params: KdfParams },
}

impl StoreKey {
    /// A raw 256-bit key. No key derivation runs at open. The key is copied
    /// into a wiping container; wipe your own copy (for example with the
    /// `zeroize` crate) once the store has it.
    pub fn raw(bytes: [u8; 32]) -> Self {
        StoreKey(KeySource::Raw(Key32::from_bytes(bytes)))
    }

    /// A raw key from a slice, which must be exactly 32 bytes.
    pub fn raw_from_slice(bytes: &[u8]) -> Result<Self> {
        Key32::from_slice(bytes)
            .map(|k| StoreKey(KeySource::Raw(k)))
            .ok_or_else(|| Error::invalid(format!("a raw key is 32 bytes, not {}", bytes.len())))
    }

    /// A passphrase, stretched with Argon2id at [`KdfParams::default`] when a
    /// store is created or its key changed. At open, the parameters stored in
    /// the file are used.
    pub fn passphrase(passphrase: impl Into<String>) -> Self {
        Self::passphrase_with_params(passphrase, KdfParams::default())
    }

    /// A passphrase with stronger Argon2id parameters than the default. They
    /// apply when creating a store or changing its key; below
    /// [`KdfParams::MIN`] that fails with [`Error::InvalidArgument`].
    pub fn passphrase_with_params(passphrase: impl Into<String>, params: KdfParams) -> Self {
        StoreKey(KeySource::Passphrase { passphrase: Zeroizing::new(passphrase.into()), params })
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeySource::Raw(_) => f.write_str("StoreKey::Raw(<redacted>)"),
            KeySource::Passphrase { params, .. } => {
                write!(f, "StoreKey::Passphrase(<redacted>, {params:?})")
            }
        }
    }
}

/// Argon2id cost parameters for passphrase-protected stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl KdfParams {
    /// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane. Also the default.
    pub const MIN: KdfParams = KdfParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// The largest parameters a store may carry; larger values in a file are
    /// treated as damage, so a tampered header cannot exhaust memory at open.
    pub const MAX: KdfParams = KdfParams { memory_kib: 4 * 1024 * 1024, iterations: 64, parallelism: 16 };

    pub(crate) fn within_bounds(&self) -> bool {
        (Self::MIN.memory_kib..=Self::MAX.memory_kib).contains(&self.memory_kib)
            && (Self::MIN.iterations..=Self::MAX.iterations).contains(&self.iterations)
            && (Self::MIN.parallelism..=Self::MAX.parallelism).contains(&self.parallelism)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::MIN
    }
}

/// A passphrase and its Argon2id parameters, checked before anything is
/// derived with them.
fn check_passphrase(passphrase: &str, params: &KdfParams) -> Result<()> {
    if passphrase.is_empty() {
        return Err(Error::invalid("the passphrase is empty"));
    }
    if !params.within_bounds() {
        return Err(Error::invalid(format!(
            "Argon2id parameters {params:?} are outside {:?}..={:?}",
            KdfParams::MIN,
            KdfParams::MAX
        )));
    }
    Ok(())
}

/// A copy of a raw key, made in place in a wiping container.
fn copy_key(k: &Key32) -> Key32 {
    let mut copy = Key32::from_bytes([0; 32]);
    copy.expose_mut().copy_from_slice(k.expose());
    copy
}

/// How the root key is derived, as recorded in the store's header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KdfHeader {
    Raw,
    Argon2id { salt: Vec<u8>, params: KdfParams },
}

impl KdfHeader {
    /// A fresh header for `key`: a new random salt for a passphrase.
    pub(crate) fn fresh(key: &StoreKey, rng: &SystemRandom) -> Result<Self> {
        match &key.0 {
            KeySource::Raw(_) => Ok(KdfHeader::Raw),
            KeySource::Passphrase { passphrase, params } => {
                check_passphrase(passphrase, params)?;
                let mut salt = vec![0u8; SALT_LEN];
                crypto::fill_random(rng, &mut salt)?;
                Ok(KdfHeader::Argon2id { salt, params: *params })
            }
        }
    }

    /// Checks a header read from disk.
    pub(crate) fn check(&self) -> Result<()> {
        match self {
            KdfHeader::Raw => Ok(()),
            KdfHeader::Argon2id { salt, params } => {
                if !SALT_RANGE.contains(&salt.len()) || !params.within_bounds() {
                    return Err(Error::corrupt(
                        crate::error::RecordRef::header(),
                        "key-derivation parameters out of range",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Derives the root key. A raw key given for a passphrase store (or the
    /// reverse) is the wrong key.
    pub(crate) fn root_key(&self, key: &StoreKey) -> Result<Key32> {
        match (self, &key.0) {
            (KdfHeader::Raw, KeySource::Raw(k)) => Ok(copy_key(k)),
            (KdfHeader::Argon2id { salt, params }, KeySource::Passphrase { passphrase, .. }) => {
                crypto::argon2id(
                    passphrase.as_bytes(),
                    salt,
                    params.memory_kib,
                    params.iterations,
                    params.parallelism,
                )
            }
            _ => Err(Error::WrongKey),
        }
    }
}

impl StoreKey {
    /// How an archive made with this key derives its secret: checks a
    /// passphrase and its parameters as [`KdfHeader::fresh`] does.
    pub(crate) fn archive_kdf(&self) -> Result<archive::Kdf> {
        match &self.0 {
            KeySource::Raw(_) => Ok(archive::Kdf::Raw),
            KeySource::Passphrase { passphrase, params } => {
                check_passphrase(passphrase, params)?;
                Ok(archive::Kdf::Argon2id {
                    memory_kib: params.memory_kib,
                    iterations: params.iterations,
                    parallelism: params.parallelism,
                })
            }
        }
    }
}

/// The keys of one archive (docs/FORMAT.md, "Keys"), derived from its
/// secret and salt.
pub(crate) struct ArchiveKeys {
    secret: Key32,
    salt: [u8; archive::SALT_LEN],
}

impl ArchiveKeys {
    /// Derives the archive secret `S` from `key` as `kdf` says. A raw key
    /// for a passphrase archive (or the reverse) is the wrong key; Argon2id
    /// parameters outside the store's bounds are damage.
    pub(crate) fn derive(key: &StoreKey, kdf: archive::Kdf, salt: [u8; archive::SALT_LEN]) -> Result<Self> {
        if let archive::Kdf::Argon2id { memory_kib, iterations, parallelism } = kdf {
            let params = KdfParams { memory_kib, iterations, parallelism };
            if !params.within_bounds() {
                return Err(Error::ArchiveCorrupt {
                    detail: format!("Argon2id parameters {params:?} are out of range"),
                });
            }
        }
        let secret = match (kdf, &key.0) {
            (archive::Kdf::Raw, KeySource::Raw(k)) => copy_key(k),
            (
                archive::Kdf::Argon2id { memory_kib, iterations, parallelism },
                KeySource::Passphrase { passphrase, .. },
            ) => crypto::argon2id(passphrase.as_bytes(), &salt, memory_kib, iterations, parallelism)?,
            _ => return Err(Error::WrongKey),
        };
        Ok(ArchiveKeys { secret, salt })
    }

    fn subkey(&self, label: &[u8]) -> Key32 {
        crypto::hkdf_sha256(&self.secret, &self.salt, label)
    }

    /// The header's `key_check` field.
    pub(crate) fn key_check(&self) -> [u8; archive::KEY_CHECK_LEN] {
        let k = self.subkey(archive::LABEL_CHECK);
        let mut out = [0u8; archive::KEY_CHECK_LEN];
        out.copy_from_slice(&k.expose()[..archive::KEY_CHECK_LEN]);
        out
    }

    /// The MAC of the header's first 88 bytes.
    pub(crate) fn header_mac(&self, header: &[u8]) -> [u8; archive::MAC_LEN] {
        crypto::hmac_sha256(&self.subkey(archive::LABEL_HEADER), header)
    }

    /// Whether `mac` is the MAC of `header`, compared in constant time.
    pub(crate) fn header_mac_matches(&self, header: &[u8], mac: &[u8]) -> bool {
        crypto::hmac_sha256_verify(&self.subkey(archive::LABEL_HEADER), header, mac)
    }

    /// The body's key, bound to the header through its MAC.
    pub(crate) fn stream_key(&self, header_mac: &[u8; archive::MAC_LEN]) -> crypto::StreamKey {
        let mut info = Vec::with_capacity(archive::LABEL_STREAM.len() + header_mac.len());
        info.extend_from_slice(archive::LABEL_STREAM);
        info.extend_from_slice(header_mac);
        crypto::StreamKey::new(&crypto::hkdf_sha256(&self.secret, &self.salt, &info))
    }
}

/// Seals and opens values at their places in one store.
pub(crate) struct Sealer {
    store_id: [u8; STORE_ID_LEN],
    rng: SystemRandom,
}

impl Sealer {
    pub(crate) fn new(store_id: [u8; STORE_ID_LEN]) -> Self {
        Sealer { store_id, rng: SystemRandom::new() }
    }

    pub(crate) fn store_id(&self) -> &[u8; STORE_ID_LEN] {
        &self.store_id
    }

    pub(crate) fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    /// Seals a plaintext at `place`, as an envelope of the current version.
    pub(crate) fn seal(&self, aead: &Aead, place: Place, plaintext: &[u8]) -> Result<Vec<u8>> {
        let version = envelope::VERSION;
        aead.seal(&self.rng, version, &place.associated_data(&self.store_id, version), plaintext)
    }

    /// Opens the value at `place`; returns its envelope version (which
    /// decides how the plaintext decodes) and the plaintext.
    pub(crate) fn open(
        &self,
        aead: &Aead,
        place: Place,
        sealed: Vec<u8>,
    ) -> Result<(u8, Zeroizing<Vec<u8>>)> {
        aead.open(|version| place.associated_data(&self.store_id, version), sealed)
            .ok_or(Error::Authentication { record: place.record() })
    }

    /// Seals the master key under the root key.
    pub(crate) fn seal_master(&self, root: &Key32, master: &Key32) -> Result<Vec<u8>> {
        self.seal(&Aead::new(root), Place::master_key(), master.expose())
    }

    /// Opens the master key; any failure means the root key is wrong.
    pub(crate) fn open_master(&self, root: &Key32, sealed: &[u8]) -> Result<Key32> {
        let (_, plain) =
            self.open(&Aead::new(root), Place::master_key(), sealed.to_vec()).map_err(|_| Error::WrongKey)?;
        Key32::from_slice(&plain).ok_or(Error::WrongKey)
    }
}

/// The keys derived from the master key.
pub(crate) struct Subkeys {
    wrap: Key32,
    id: crypto::Hmac16,
}

impl Subkeys {
    pub(crate) fn derive(master: &Key32, store_id: &[u8; STORE_ID_LEN]) -> Self {
        Subkeys {
            wrap: crypto::hkdf_sha256(master, store_id, LABEL_WRAP),
            id: crypto::Hmac16::new(&crypto::hkdf_sha256(master, store_id, LABEL_ID)),
        }
    }

    /// Keyed hash of a conversation's external id.
    pub(crate) fn conversation_hash(&self, external_id: &str) -> [u8; 16] {
        self.id.hash(&[HASH_CONVERSATION, external_id.as_bytes()])
    }

    /// Keyed hash of where an imported conversation without external id
    /// came from: its source store's id and its id there.
    pub(crate) fn origin_hash(&self, source_store: &[u8; 16], source_id: u64) -> [u8; 16] {
        self.id.hash(&[HASH_ORIGIN, source_store, &source_id.to_be_bytes()])
    }

    /// Keyed hash standing in for the external id of a message without
    /// one: its sender and send time (docs/FORMAT.md, "Importing"). Not its
    /// text: the entry outlives a deleted message, and must not let a
    /// holder of the key confirm a guess of what it said.
    pub(crate) fn content_hash(&self, c: ConversationId, sender: &str, sent_at_ms: i64) -> [u8; 16] {
        self.id.hash(&[
            HASH_CONTENT,
            &c.get().to_be_bytes(),
            &(sender.len() as u64).to_be_bytes(),
            sender.as_bytes(),
            &sent_at_ms.to_be_bytes(),
        ])
    }

    /// Keyed hash of a message's external id within conversation `c`.
    pub(crate) fn message_hash(&self, c: ConversationId, external_id: &str) -> [u8; 16] {
        self.id.hash(&[HASH_MESSAGE, &c.get().to_be_bytes(), external_id.as_bytes()])
    }

    pub(crate) fn wrap_conversation_key(
        &self,
        sealer: &Sealer,
        c: ConversationId,
        epoch: KeyEpoch,
        key: &Key32,
    ) -> Result<Vec<u8>> {
        sealer.seal(&Aead::new(&self.wrap), Place::conversation_key(c, epoch), key.expose())
    }

    pub(crate) fn unwrap_conversation_key(
        &self,
        sealer: &Sealer,
        c: ConversationId,
        epoch: KeyEpoch,
        wrapped: Vec<u8>,
    ) -> Result<Key32> {
        let place = Place::conversation_key(c, epoch);
        let (_, plain) = sealer.open(&Aead::new(&self.wrap), place, wrapped)?;
        Key32::from_slice(&plain).ok_or_else(|| Error::corrupt(place.record(), "key is not 32 bytes"))
    }
}

/// Unwrapped conversation keys, so hot paths skip the unwrap. Bounded; keys
/// are zeroized when the last reference drops.
pub(crate) struct KeyCache {
    inner: Mutex<CachedKeys>,
}

#[derive(Default)]
struct CachedKeys {
    map: HashMap<(ConversationId, KeyEpoch), Arc<Key32>>,
    /// Deleted conversations: a read that began before the delete must not
    /// put their keys back (ids are never reused).
    deleted: std::collections::HashSet<ConversationId>,
    /// Keys destroyed by compaction: they stay out too.
    destroyed: std::collections::HashSet<(ConversationId, KeyEpoch)>,
}

impl KeyCache {
    const CAPACITY: usize = 4096;

    pub(crate) fn new() -> Self {
        KeyCache { inner: Mutex::new(CachedKeys::default()) }
    }

    pub(crate) fn get(&self, c: ConversationId, epoch: KeyEpoch) -> Option<Arc<Key32>> {
        self.lock().map.get(&(c, epoch)).cloned()
    }

    /// Caches a key. Call only once the transaction that made it has committed.
    pub(crate) fn insert(&self, c: ConversationId, epoch: KeyEpoch, key: Arc<Key32>) {
        let mut inner = self.lock();
        if inner.deleted.contains(&c) || inner.destroyed.contains(&(c, epoch)) {
            return;
        }
        if inner.map.len() >= Self::CAPACITY {
            inner.map.clear();
        }
        inner.map.insert((c, epoch), key);
    }

    /// Drops a destroyed key, and keeps it out for good.
    pub(crate) fn destroy(&self, c: ConversationId, epoch: KeyEpoch) {
        let mut inner = self.lock();
        inner.map.remove(&(c, epoch));
        inner.destroyed.insert((c, epoch));
    }

    /// Drops a conversation's keys; with `deleted`, keeps them out for good.
    pub(crate) fn forget(&self, c: ConversationId, deleted: bool) {
        let mut inner = self.lock();
        inner.map.retain(|(cached, _), _| *cached != c);
        if deleted {
            inner.deleted.insert(c);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CachedKeys> {
        // The cache holds no invariant a panicking holder could break.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
