//! Key derivation: Argon2id for passphrases, HKDF-SHA256 for subkeys,
//! HMAC-SHA256 for keyed hashes of identifiers.

use ring::{hkdf, hmac};

use super::Key32;
use crate::error::{Error, Result};

/// Argon2id (v0x13) of `passphrase` under `salt`, 32 bytes of output.
///
/// The working memory (m KiB, where every block is derived from the
/// passphrase) is allocated here, fallibly, and zeroized before it is
/// freed: the crate's own allocation would be freed unwiped. Callers check
/// the parameters against the ceiling first (`KdfParams::check_cap`).
pub(crate) fn argon2id(passphrase: &[u8], salt: &[u8], m_kib: u32, t: u32, p: u32) -> Result<Key32> {
    use zeroize::Zeroize;
    let params = argon2::Params::new(m_kib, t, p, Some(Key32::LEN))
        .map_err(|e| Error::invalid(format!("Argon2id parameters rejected: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
    let blocks = params.block_count();
    let mut memory: Vec<argon2::Block> = Vec::new();
    memory
        .try_reserve_exact(blocks)
        .map_err(|_| Error::invalid(format!("cannot allocate {m_kib} KiB for Argon2id")))?;
    memory.resize(blocks, argon2::Block::default());
    let mut out = Key32::from_bytes([0; 32]);
    let result = argon.hash_password_into_with_memory(passphrase, salt, out.expose_mut(), &mut memory[..]);
    memory.zeroize();
    result.map_err(|e| Error::invalid(format!("Argon2id failed: {e}")))?;
    Ok(out)
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        Key32::LEN
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info`, 32 bytes.
pub(crate) fn hkdf_sha256(ikm: &Key32, salt: &[u8], info: &[u8]) -> Key32 {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm.expose());
    let mut out = Key32::from_bytes([0; 32]);
    prk.expand(&[info], Len32)
        .and_then(|okm| okm.fill(out.expose_mut()))
        .unwrap_or_else(|_| unreachable!("32 bytes is far below HKDF-SHA256's 8160-byte limit"));
    out
}

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &Key32, data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `tag` is HMAC-SHA256 of `data` under `key`, compared in constant time.
pub(crate) fn hmac_sha256_verify(key: &Key32, data: &[u8], tag: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()), data, tag).is_ok()
}

/// HMAC-SHA256 truncated to 16 bytes, with the key's inner and outer
/// states computed once. (ring does not zeroize those states; they let one
/// compute hashes, exactly as the key does, and live as long as the store.)
#[derive(Clone)]
pub(crate) struct Hmac16(hmac::Key);

impl Hmac16 {
    pub(crate) fn new(key: &Key32) -> Self {
        Hmac16(hmac::Key::new(hmac::HMAC_SHA256, key.expose()))
    }

    /// The first 16 bytes of HMAC-SHA256 over the concatenated `parts`.
    pub(crate) fn hash(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }
}
