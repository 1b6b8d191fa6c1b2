//! AES-256-GCM over chunks with STREAM nonces: an archive's body
//! (docs/FORMAT.md, "Body", no associated data) and an attachment's
//! content (docs/ATTACHMENTS.md, each chunk bound to its place).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::Key32;
use crate::format::archive::chunk_nonce;

/// The key of one archive's body or one attachment's content. ring keeps
/// its expanded key schedule unwiped for as long as this lives: one
/// export, import or inspection, or one attachment reader or writer.
pub(crate) struct StreamKey(LessSafeKey);

impl StreamKey {
    pub(crate) fn new(key: &Key32) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, key.expose())
            .unwrap_or_else(|_| unreachable!("a 32-byte key is valid for AES-256-GCM"));
        StreamKey(LessSafeKey::new(unbound))
    }

    /// Seals chunk `index` in place, bound to `ad`: `buf` holds its
    /// plaintext and gets the tag appended.
    pub(crate) fn seal(&self, index: u64, last: bool, ad: &[u8], buf: &mut Vec<u8>) {
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(index, last));
        self.0
            .seal_in_place_append_tag(nonce, Aad::from(ad), buf)
            .unwrap_or_else(|_| unreachable!("AES-GCM seals any chunk below 64 GiB"));
    }

    /// Opens chunk `index` (ciphertext and tag) in place; returns the
    /// plaintext's length, or `None` if it does not authenticate at this
    /// index and finality with `ad`. On failure `buf`'s contents are unspecified.
    pub(crate) fn open(&self, index: u64, last: bool, ad: &[u8], buf: &mut [u8]) -> Option<usize> {
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(index, last));
        self.0.open_in_place(nonce, Aad::from(ad), buf).ok().map(|p| p.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_opens_only_at_its_index_and_finality() {
        let key = StreamKey::new(&Key32::from_bytes([3; 32]));
        let mut sealed = b"hello".to_vec();
        key.seal(7, false, b"ad", &mut sealed);
        assert_eq!(key.open(7, false, b"other", &mut sealed.clone()), None);
        assert_eq!(sealed.len(), 5 + 16);
        for (index, last) in [(7, true), (6, false), (8, false)] {
            assert_eq!(key.open(index, last, b"ad", &mut sealed.clone()), None, "{index} {last}");
        }
        let mut buf = sealed.clone();
        assert_eq!(key.open(7, false, b"ad", &mut buf), Some(5));
        assert_eq!(&buf[..5], b"hello");
    }
}
