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

/// Argon2id cost parameters for passphrase-protected stores and archives.
///
/// Also used as a cap on what a store or archive header may ask for
/// ([`crate::StoreOptions::max_kdf`], [`crate::ImportOptions::max_kdf`]):
/// each field is then the largest value allowed.
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
    /// The ceiling of what chatvault creates and opens, chosen so that a
    /// phone derives a key within about a second and a header can never
    /// make it allocate more than 256 MiB (docs/DESIGN.md, "Keys"): memory
    /// at most 256 MiB, at most 16 passes, at most 8 lanes, and memory
    /// times passes at most [`KdfParams::MAX_WORK_KIB`]. RFC 9106's
    /// second recommended setting (64 MiB, 3 passes, 4 lanes) fits.
    pub const MAX: KdfParams = KdfParams { memory_kib: 256 * 1024, iterations: 16, parallelism: 8 };
    /// The ceiling on memory (KiB) times passes: 512 MiB worked through,
    /// 0.64 s on this project's 2-core x86_64 test machine, and (an
    /// estimate) about a second on a 2020s phone.
    pub const MAX_WORK_KIB: u64 = 512 * 1024;

    /// Memory times passes, in KiB: the work Argon2id does.
    pub fn work_kib(&self) -> u64 {
        u64::from(self.memory_kib) * u64::from(self.iterations)
    }

    /// At least [`KdfParams::MIN`] in every field.
    pub(crate) fn at_least_min(&self) -> bool {
        self.memory_kib >= Self::MIN.memory_kib
            && self.iterations >= Self::MIN.iterations
            && self.parallelism >= Self::MIN.parallelism
    }

    /// Within `cap` in every field, and within the ceiling.
    pub(crate) fn within(&self, cap: &KdfParams) -> bool {
        self.memory_kib <= cap.memory_kib.min(Self::MAX.memory_kib)
            && self.iterations <= cap.iterations.min(Self::MAX.iterations)
            && self.parallelism <= cap.parallelism.min(Self::MAX.parallelism)
            && self.work_kib() <= Self::MAX_WORK_KIB
    }

    /// Refuses parameters past `cap` (or the ceiling) before anything is
    /// derived with them.
    pub(crate) fn check_cap(&self, cap: &KdfParams) -> Result<()> {
        if self.within(cap) {
            return Ok(());
        }
        Err(Error::KdfTooCostly {
            found: *self,
            limit: KdfParams {
                memory_kib: cap.memory_kib.min(Self::MAX.memory_kib),
                iterations: cap.iterations.min(Self::MAX.iterations),
                parallelism: cap.parallelism.min(Self::MAX.parallelism),
            },
        })
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
    if !params.at_least_min() || !params.within(&KdfParams::MAX) {
        return Err(Error::invalid(format!(
            "Argon2id parameters {params:?} are outside {:?}..={:?} (with memory times passes at most {} KiB)",
            KdfParams::MIN,
            KdfParams::MAX,
            KdfParams::MAX_WORK_KIB
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

    /// Checks a header read from disk, before any key derivation: Argon2id
    /// parameters past `cap` (or the ceiling) are refused as too costly;
    /// below the minimum, or a salt of the wrong length, as damage.
    pub(crate) fn check(&self, cap: &KdfParams) -> Result<()> {
        match self {
            KdfHeader::Raw => Ok(()),
            KdfHeader::Argon2id { salt, params } => {
                if !SALT_RANGE.contains(&salt.len()) || !params.at_least_min() {
                    return Err(Error::corrupt(
                        crate::error::RecordRef::header(),
                        "key-derivation parameters out of range",
                    ));
                }
                params.check_cap(cap)
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
    /// parameters below the minimum are damage, and past `cap` (or the
    /// ceiling) too costly: both are refused before anything is derived.
    pub(crate) fn derive(
        key: &StoreKey,
        kdf: archive::Kdf,
        salt: [u8; archive::SALT_LEN],
        cap: &KdfParams,
    ) -> Result<Self> {
        if let archive::Kdf::Argon2id { memory_kib, iterations, parallelism } = kdf {
            let params = KdfParams { memory_kib, iterations, parallelism };
            if !params.at_least_min() {
                return Err(Error::ArchiveCorrupt {
                    detail: format!("Argon2id parameters {params:?} are below the minimum"),
                });
            }
            params.check_cap(cap)?;
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
        self.seal_master_at(root, master, None)
    }

    /// Seals the master key under the root key; `pending` is the master-key
    /// generation a rotation under way rotates from, if one is.
    pub(crate) fn seal_master_at(
        &self,
        root: &Key32,
        master: &Key32,
        pending: Option<u64>,
    ) -> Result<Vec<u8>> {
        let place = pending.map_or_else(Place::master_key, Place::master_key_pending);
        self.seal(&Aead::new(root), place, master.expose())
    }

    /// Opens the master key sealed by [`Sealer::seal_master_at`] with the
    /// same `pending`; any failure means the root key is wrong (or the
    /// header was put together from pieces of different times).
    pub(crate) fn open_master_at(&self, root: &Key32, sealed: &[u8], pending: Option<u64>) -> Result<Key32> {
        let place = pending.map_or_else(Place::master_key, Place::master_key_pending);
        let (_, plain) = self.open(&Aead::new(root), place, sealed.to_vec()).map_err(|_| Error::WrongKey)?;
        Key32::from_slice(&plain).ok_or(Error::WrongKey)
    }
}

/// The keys derived from the master key.
pub(crate) struct Subkeys {
    wrap: Key32,
    id: crypto::Hmac16,
}

impl Clone for Subkeys {
    fn clone(&self) -> Self {
        Subkeys { wrap: copy_key(&self.wrap), id: self.id.clone() }
    }
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

    /// Wraps a conversation key: one that may be sealed under, or (carried
    /// over by a master-key rotation from the previous master key) a
    /// retired one, for opening what it sealed, never for sealing. The
    /// inverse of [`Subkeys::open_conversation_key`].
    pub(crate) fn wrap_conversation_key(
        &self,
        sealer: &Sealer,
        c: ConversationId,
        epoch: KeyEpoch,
        key: &Key32,
        sealable: bool,
    ) -> Result<Vec<u8>> {
        let place = if sealable {
            Place::conversation_key(c, epoch)
        } else {
            Place::conversation_key_retired(c, epoch)
        };
        sealer.seal(&Aead::new(&self.wrap), place, key.expose())
    }

    /// Unwraps a conversation key, retired or not.
    pub(crate) fn unwrap_conversation_key(
        &self,
        sealer: &Sealer,
        c: ConversationId,
        epoch: KeyEpoch,
        wrapped: Vec<u8>,
    ) -> Result<Key32> {
        self.open_conversation_key(sealer, c, epoch, wrapped).map(|(k, _)| k)
    }

    /// Unwraps a conversation key, and says whether it may be sealed under
    /// (it was made under this master key) or is retired.
    pub(crate) fn open_conversation_key(
        &self,
        sealer: &Sealer,
        c: ConversationId,
        epoch: KeyEpoch,
        wrapped: Vec<u8>,
    ) -> Result<(Key32, bool)> {
        let place = Place::conversation_key(c, epoch);
        let aead = Aead::new(&self.wrap);
        let (plain, sealable) = match sealer.open(&aead, place, wrapped.clone()) {
            Ok((_, plain)) => (plain, true),
            Err(e) => match sealer.open(&aead, Place::conversation_key_retired(c, epoch), wrapped) {
                Ok((_, plain)) => (plain, false),
                Err(_) => return Err(e),
            },
        };
        let key =
            Key32::from_slice(&plain).ok_or_else(|| Error::corrupt(place.record(), "key is not 32 bytes"))?;
        Ok((key, sealable))
    }
}

/// Unwrapped conversation keys, so hot paths skip the unwrap. Bounded; keys
/// are zeroized when the last reference drops.
pub(crate) struct KeyCache {
    inner: Mutex<CachedKeys>,
}

/// Which master key new keys are wrapped under, as `(generation, rotation
/// under way)`: whether a cached key may be sealed under depends on it.
pub(crate) type NewestTag = (u64, bool);

/// A cached key, and the [`NewestTag`] under which it was found sealable
/// (made under the newest master key), if it was.
type Cached = (Arc<Key32>, Option<NewestTag>);

#[derive(Default)]
struct CachedKeys {
    map: HashMap<(ConversationId, KeyEpoch), Cached>,
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
        self.lock().map.get(&(c, epoch)).map(|(k, _)| Arc::clone(k))
    }

    /// The key, if it was found sealable under the master keys `tag` names.
    pub(crate) fn get_sealing(
        &self,
        c: ConversationId,
        epoch: KeyEpoch,
        tag: NewestTag,
    ) -> Option<Arc<Key32>> {
        match self.lock().map.get(&(c, epoch)) {
            Some((k, Some(t))) if *t == tag => Some(Arc::clone(k)),
            _ => None,
        }
    }

    /// Caches a key (`sealable`: the tag under which it may be sealed
    /// under). Call only once the transaction that made it has committed.
    pub(crate) fn insert(
        &self,
        c: ConversationId,
        epoch: KeyEpoch,
        key: Arc<Key32>,
        sealable: Option<NewestTag>,
    ) {
        let mut inner = self.lock();
        if inner.deleted.contains(&c) || inner.destroyed.contains(&(c, epoch)) {
            return;
        }
        if inner.map.len() >= Self::CAPACITY {
            inner.map.clear();
        }
        inner.map.insert((c, epoch), (key, sealable));
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

/// The master keys a store uses (docs/DESIGN.md, "Master-key rotation"):
/// the current one and, while a rotation is under way, the next one and
/// how far the rotation got. Conversations with ids up to `through` have
/// been moved to the next master key's subkeys; the others still use the
/// current one's. Both master keys are sealed under the root key, which
/// this handle keeps too: a rotation under way can only be followed, and
/// finished, by a holder of the store's current root key.
pub(crate) struct Masters {
    /// `store.master_gen`: rotations finished so far.
    generation: u64,
    /// The root key as this handle knows it (checked against the file
    /// before it is relied on: another handle may have changed it).
    root: Key32,
    master: Key32,
    current: Subkeys,
    next: Option<NextMaster>,
    /// After this handle saw a rotation finish: the previous master key's
    /// subkeys, so a read whose snapshot began before the finish (an
    /// export, say) still opens what it sees. Never written anywhere.
    previous: Option<Subkeys>,
}

/// A master-key rotation under way.
pub(crate) struct NextMaster {
    master: Key32,
    subkeys: Subkeys,
    /// `store.rotated_through`.
    through: u64,
}

/// What the `store` row says about the master keys.
pub(crate) struct MasterRow {
    pub(crate) generation: u64,
    pub(crate) next_master: Option<Vec<u8>>,
    pub(crate) rotated_through: Option<u64>,
}

impl MasterRow {
    /// No rotation has happened or is under way (format 1 and 2 stores).
    pub(crate) fn none() -> Self {
        MasterRow { generation: 0, next_master: None, rotated_through: None }
    }

    /// The generation a rotation under way rotates from, if one is: what
    /// the master key's seal is bound to meanwhile.
    pub(crate) fn pending(&self) -> Option<u64> {
        self.next_master.as_ref().map(|_| self.generation)
    }
}

impl Masters {
    /// The keys of a store opened with `root`, whose master key is `master`
    /// and whose row says `row`.
    pub(crate) fn open(sealer: &Sealer, root: Key32, master: Key32, row: &MasterRow) -> Result<Self> {
        let current = Subkeys::derive(&master, sealer.store_id());
        let mut masters =
            Masters { generation: row.generation, root, master, current, next: None, previous: None };
        masters.next = masters.open_next(sealer, row, None)?;
        Ok(masters)
    }

    /// The pending rotation `row` describes, if any: its key opened under
    /// this handle's root key, or taken from `known`.
    fn open_next(
        &self,
        sealer: &Sealer,
        row: &MasterRow,
        known: Option<&Key32>,
    ) -> Result<Option<NextMaster>> {
        let Some(sealed) = &row.next_master else { return Ok(None) };
        let master = match known {
            Some(k) => copy_key(k),
            None => sealer.open_next_master(&self.root, row.generation, sealed)?,
        };
        let subkeys = Subkeys::derive(&master, sealer.store_id());
        Ok(Some(NextMaster { master, subkeys, through: row.rotated_through.unwrap_or(0) }))
    }

    fn with(&self, next: Option<NextMaster>) -> Masters {
        Masters {
            generation: self.generation,
            root: copy_key(&self.root),
            master: copy_key(&self.master),
            current: self.current.clone(),
            next,
            previous: self.previous.clone(),
        }
    }

    /// The keys `row` describes, as this handle can follow them from what it
    /// knows: `None` if nothing changed; [`Error::MasterKeyRotated`] if
    /// another handle began or finished a rotation this handle cannot open
    /// (sealed under a root key it does not have).
    /// `snapshot` says the row comes from a read transaction, which may have
    /// begun before this handle saw a rotation finish; a write always sees
    /// the latest row, so an older generation there is refused.
    pub(crate) fn refresh(
        &self,
        sealer: &Sealer,
        row: &MasterRow,
        snapshot: bool,
    ) -> Result<Option<Masters>> {
        let through = row.rotated_through.unwrap_or(0);
        if row.generation == self.generation {
            return match (&self.next, &row.next_master) {
                (None, None) => Ok(None),
                (Some(n), Some(_)) if n.through == through => Ok(None),
                (Some(n), Some(_)) => Ok(Some(self.with(Some(NextMaster {
                    master: copy_key(&n.master),
                    subkeys: n.subkeys.clone(),
                    through,
                })))),
                (Some(_), None) => Ok(Some(self.with(None))),
                (None, Some(_)) => match self.open_next(sealer, row, None) {
                    Ok(next) => Ok(Some(self.with(next))),
                    Err(_) => Err(Error::MasterKeyRotated),
                },
            };
        }
        match (&self.next, &self.previous) {
            (Some(_), _) if row.generation == self.generation.saturating_add(1) => {
                // The rotation this handle saw under way has finished.
                let Some(mut masters) = self.finished(None) else { return Err(Error::MasterKeyRotated) };
                masters.next = masters.open_next(sealer, row, None).map_err(|_| Error::MasterKeyRotated)?;
                Ok(Some(masters))
            }
            (_, Some(previous))
                if snapshot
                    && row.generation.saturating_add(1) == self.generation
                    && row.next_master.is_some() =>
            {
                // A snapshot from before the rotation this handle saw finish.
                Ok(Some(Masters {
                    generation: row.generation,
                    root: copy_key(&self.root),
                    master: copy_key(&self.master),
                    current: previous.clone(),
                    next: Some(NextMaster {
                        master: copy_key(&self.master),
                        subkeys: self.current.clone(),
                        through,
                    }),
                    previous: None,
                }))
            }
            _ => Err(Error::MasterKeyRotated),
        }
    }

    /// Which master key new keys are wrapped under.
    pub(crate) fn newest_tag(&self) -> NewestTag {
        (self.generation, self.next.is_some())
    }

    /// How far along these keys are: a later state compares greater.
    pub(crate) fn progress(&self) -> (u64, u64) {
        match &self.next {
            None => (self.generation, 0),
            Some(n) => (self.generation, n.through.saturating_add(1)),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The root key as this handle knows it.
    pub(crate) fn root(&self) -> &Key32 {
        &self.root
    }

    /// The current master key (what `change_key` seals under a new root key).
    pub(crate) fn master(&self) -> &Key32 {
        &self.master
    }

    /// The current master key's subkeys: those of every conversation not
    /// yet moved by a rotation, and of conversations created meanwhile.
    pub(crate) fn current(&self) -> &Subkeys {
        &self.current
    }

    /// The rotation under way: the next master key, its subkeys, and the
    /// last conversation moved to them.
    pub(crate) fn next(&self) -> Option<(&Key32, &Subkeys, u64)> {
        self.next.as_ref().map(|n| (&n.master, &n.subkeys, n.through))
    }

    /// The same keys protected by another root key (`change_key`).
    pub(crate) fn with_root(&self, root: &Key32) -> Masters {
        let mut m = self.with(self.next.as_ref().map(|n| NextMaster {
            master: copy_key(&n.master),
            subkeys: n.subkeys.clone(),
            through: n.through,
        }));
        m.root = copy_key(root);
        m
    }

    /// The state once a rotation to `next` has begun under the root key
    /// `root` (nothing moved yet).
    pub(crate) fn begin_rotation(&self, store_id: &[u8; STORE_ID_LEN], root: &Key32, next: Key32) -> Masters {
        let subkeys = Subkeys::derive(&next, store_id);
        let mut m = self.with(Some(NextMaster { master: next, subkeys, through: 0 }));
        m.root = copy_key(root);
        m
    }

    /// The state once the rotation under way has moved every conversation
    /// up to `through`.
    pub(crate) fn moved_through(&self, through: u64) -> Option<Masters> {
        let n = self.next.as_ref()?;
        Some(self.with(Some(NextMaster { master: copy_key(&n.master), subkeys: n.subkeys.clone(), through })))
    }

    /// The state after the rotation under way has finished (sealed under
    /// `root`, or the root this handle knows): the next master key becomes
    /// the current one (`None` if no rotation is under way).
    pub(crate) fn finished(&self, root: Option<&Key32>) -> Option<Masters> {
        let n = self.next.as_ref()?;
        Some(Masters {
            generation: self.generation.saturating_add(1),
            root: copy_key(root.unwrap_or(&self.root)),
            master: copy_key(&n.master),
            current: n.subkeys.clone(),
            next: None,
            previous: Some(self.current.clone()),
        })
    }

    /// The subkeys conversation `c`'s keys are wrapped under and its keyed
    /// hashes computed with.
    pub(crate) fn for_conversation(&self, c: ConversationId) -> &Subkeys {
        match &self.next {
            Some(n) if c.get() <= n.through => &n.subkeys,
            _ => &self.current,
        }
    }

    /// The subkeys new keys are wrapped under, and new keyed hashes
    /// computed with: the next master key's while a rotation is under way
    /// (whether or not the conversation has moved), else the current one's.
    pub(crate) fn newest(&self) -> &Subkeys {
        self.next.as_ref().map_or(&self.current, |n| &n.subkeys)
    }

    /// A keyed hash of conversation `c` computed by `hash`: under the
    /// newest subkeys (to write), and, for a conversation a rotation under
    /// way has not moved, under the current ones too (a hash written
    /// before the rotation began; lookups try both).
    pub(crate) fn hashes_for(
        &self,
        c: ConversationId,
        hash: impl Fn(&Subkeys) -> [u8; 16],
    ) -> ([u8; 16], Option<[u8; 16]>) {
        let (newest, own) = (self.newest(), self.for_conversation(c));
        (hash(newest), (!std::ptr::eq(newest, own)).then(|| hash(own)))
    }

    /// During a rotation, the other subkeys a conversation's key may be
    /// wrapped under if the file disagrees with `rotated_through` (damage):
    /// reads try them before giving up.
    pub(crate) fn other_for(&self, c: ConversationId) -> Option<&Subkeys> {
        match &self.next {
            Some(n) if c.get() <= n.through => Some(&self.current),
            Some(n) => Some(&n.subkeys),
            None => None,
        }
    }

    /// Every keyed hash a conversation with external id `external_id` may
    /// be stored under: the current id key's, and during a rotation the
    /// next one's.
    pub(crate) fn conversation_hashes(&self, external_id: &str) -> Vec<[u8; 16]> {
        let mut out = vec![self.current.conversation_hash(external_id)];
        if let Some(n) = &self.next {
            out.push(n.subkeys.conversation_hash(external_id));
        }
        out
    }

    /// The same for an imported conversation's origin.
    pub(crate) fn origin_hashes(&self, source_store: &[u8; 16], source_id: u64) -> Vec<[u8; 16]> {
        let mut out = vec![self.current.origin_hash(source_store, source_id)];
        if let Some(n) = &self.next {
            out.push(n.subkeys.origin_hash(source_store, source_id));
        }
        out
    }
}

impl Sealer {
    /// Seals the next master key under the root key, for generation
    /// `generation + 1`.
    pub(crate) fn seal_next_master(&self, root: &Key32, generation: u64, next: &Key32) -> Result<Vec<u8>> {
        let place = Place::next_master_key(generation.saturating_add(1));
        self.seal(&Aead::new(root), place, next.expose())
    }

    /// Opens the next master key sealed by [`Sealer::seal_next_master`].
    pub(crate) fn open_next_master(&self, root: &Key32, generation: u64, sealed: &[u8]) -> Result<Key32> {
        let place = Place::next_master_key(generation.saturating_add(1));
        let (_, plain) = self.open(&Aead::new(root), place, sealed.to_vec())?;
        Key32::from_slice(&plain).ok_or_else(|| Error::corrupt(place.record(), "key is not 32 bytes"))
    }
}
