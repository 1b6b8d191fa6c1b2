//! AES-256-GCM sealing in chatvault's envelope (docs/DESIGN.md, "Sealed values").

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use super::Key32;
use crate::error::Result;
use crate::format::envelope::{self, HEADER_LEN, OVERHEAD};

/// An AES-256-GCM key ready to seal and open envelopes.
///
/// ring does not zeroize its expanded key schedule, so these are built for one
/// operation and dropped, while the raw key stays in a zeroizing [`Key32`].
pub(crate) struct Aead(LessSafeKey);

impl Aead {
    pub(crate) fn new(key: &Key32) -> Self {
        // AES_256_GCM takes exactly 32 bytes, which Key32 always holds.
        let unbound = UnboundKey::new(&AES_256_GCM, key.expose())
            .unwrap_or_else(|_| unreachable!("a 32-byte key is valid for AES-256-GCM"));
        Aead(LessSafeKey::new(unbound))
    }

    /// Seals `plaintext` as an envelope of `version` with a fresh random
    /// nonce, bound to `ad` (which must carry the same version).
    pub(crate) fn seal(
        &self,
        rng: &SystemRandom,
        version: u8,
        ad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        super::fill_random(rng, &mut nonce)?;
        Ok(self.seal_with_nonce(version, nonce, ad, plaintext))
    }

    /// Seals with a given nonce. Only [`Aead::seal`] and the test vectors call this.
    pub(crate) fn seal_with_nonce(
        &self,
        version: u8,
        nonce: [u8; NONCE_LEN],
        ad: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        out.push(version);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad),
                &mut out[HEADER_LEN..],
            )
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any input below 64 GiB"));
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens an envelope sealed with this key; `ad` builds the associated
    /// data for the envelope's version. Returns the version and the
    /// plaintext. `None` means the envelope is malformed, of an unknown
    /// version, or failed authentication; callers turn that into
    /// [`Error::Authentication`] with the record's place.
    ///
    /// Decrypts in place: the plaintext replaces the envelope in `sealed`.
    pub(crate) fn open<const N: usize>(
        &self,
        ad: impl FnOnce(u8) -> [u8; N],
        sealed: Vec<u8>,
    ) -> Option<(u8, Zeroizing<Vec<u8>>)> {
        let mut buf = Zeroizing::new(sealed);
        let (version, nonce, _) = envelope::split(&buf)?;
        if !envelope::is_known(version) {
            return None;
        }
        let ad = ad(version);
        let len = self
            .0
            .open_within(Nonce::assume_unique_for_key(nonce), Aad::from(ad), buf.as_mut_slice(), HEADER_LEN..)
            .ok()?
            .len();
        buf.truncate(len);
        Some((version, buf))
    }
}
