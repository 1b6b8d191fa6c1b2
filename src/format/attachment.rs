//! The attachment layout of docs/ATTACHMENTS.md: the sealed metadata
//! record (kind 7), the chunked content's geometry, and each chunk's
//! associated data. Pure byte layouts; the chunks are sealed in `crate::crypto`.

use serde::{Deserialize, Serialize};

use super::envelope::STORE_ID_LEN;
use super::frame::padme_u64;

/// Length of the random blob id that names an attachment's file and is
/// bound into each of its chunks.
pub(crate) const BLOB_ID_LEN: usize = 16;
/// The chunk size writers use: 64 KiB.
pub(crate) const CHUNK_SHIFT: u8 = 16;
/// Chunk sizes readers accept: 4 KiB to 1 MiB.
pub(crate) const CHUNK_SHIFTS: std::ops::RangeInclusive<u8> = 12..=20;
/// The AES-GCM tag after each chunk's ciphertext.
pub(crate) const TAG_LEN: u64 = 16;
pub(crate) use crate::types::limits::{MAX_ATTACHMENT_BYTES, MAX_ATTACHMENT_META_BYTES};

/// The version byte of the chunks' associated data.
const AD_VERSION: u8 = 1;
const AD_DOMAIN: &[u8; 4] = b"cvat";
/// Length of a chunk's associated data.
pub(crate) const CHUNK_AD_LEN: usize = 4 + 1 + STORE_ID_LEN + 8 + BLOB_ID_LEN + 8 + 1;

/// The associated data of chunk `index` of the attachment `blob_id` of
/// conversation `conversation` in store `store_id`.
pub(crate) fn chunk_ad(
    store_id: &[u8; STORE_ID_LEN],
    conversation: u64,
    blob_id: &[u8; BLOB_ID_LEN],
    index: u64,
    last: bool,
) -> [u8; CHUNK_AD_LEN] {
    let mut ad = [0u8; CHUNK_AD_LEN];
    let mut at = 0;
    for part in [
        &AD_DOMAIN[..],
        &[AD_VERSION],
        store_id,
        &conversation.to_be_bytes(),
        blob_id,
        &index.to_be_bytes(),
        &[u8::from(last)],
    ] {
        ad[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    ad
}

/// Where the chunks of a stream of `byte_len` bytes lie, in chunks of
/// `2^shift` bytes: every quantity the reader and writer compute, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub byte_len: u64,
    pub shift: u8,
}

impl Layout {
    /// A layout, if the length and chunk size are within the format's bounds.
    pub(crate) fn new(byte_len: u64, shift: u8) -> Option<Self> {
        (byte_len <= MAX_ATTACHMENT_BYTES && CHUNK_SHIFTS.contains(&shift))
            .then_some(Layout { byte_len, shift })
    }

    pub(crate) fn chunk_size(&self) -> u64 {
        1 << self.shift
    }

    /// The padded plaintext length: Padmé of the length.
    pub(crate) fn padded(&self) -> u64 {
        padme_u64(self.byte_len)
    }

    /// How many chunks: at least one (an empty stream is one empty last chunk).
    pub(crate) fn chunks(&self) -> u64 {
        self.padded().div_ceil(self.chunk_size()).max(1)
    }

    /// Bytes of the sealed stream: the padded length and a tag per chunk.
    pub(crate) fn stored_len(&self) -> u64 {
        self.padded() + TAG_LEN * self.chunks()
    }

    /// Where sealed chunk `index` starts in the stream.
    pub(crate) fn sealed_offset(&self, index: u64) -> u64 {
        index * (self.chunk_size() + TAG_LEN)
    }

    /// Plaintext bytes of chunk `index` (padding included).
    pub(crate) fn plain_len(&self, index: u64) -> u64 {
        let start = index * self.chunk_size();
        self.padded().saturating_sub(start).min(self.chunk_size())
    }

    /// Whether the content fits in one chunk, and so is stored inline.
    pub(crate) fn inline(&self) -> bool {
        self.chunks() == 1
    }
}

/// An attachment's sealed metadata (record kind 7), in the field order
/// docs/ATTACHMENTS.md gives.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttachmentMeta {
    pub blob_id: [u8; BLOB_ID_LEN],
    /// The content key; `None` once the content is removed.
    pub key: Option<[u8; 32]>,
    pub chunk_shift: u8,
    pub byte_len: u64,
    pub media_type: String,
    pub file_name: Option<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub removed_at_ms: Option<i64>,
    /// Its message's expiry, as the row's `expires_at` says: sealed, so
    /// the column cannot be cleared to keep an expired attachment readable.
    pub expires_at_ms: Option<i64>,
}

impl Drop for AttachmentMeta {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(k) = self.key.as_mut() {
            k.zeroize();
        }
    }
}

impl std::fmt::Debug for AttachmentMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key; lengths only of what the user named.
        f.debug_struct("AttachmentMeta")
            .field("byte_len", &self.byte_len)
            .field("chunk_shift", &self.chunk_shift)
            .field("media_type_len", &self.media_type.len())
            .field("removed", &self.removed_at_ms.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_of_the_design_doc() {
        let ad = chunk_ad(&[0xAA; 16], 7, &[0xBB; 16], 3, true);
        assert_eq!(ad.len(), 54);
        assert_eq!(&ad[0..5], b"cvat\x01");
        assert_eq!(&ad[5..21], &[0xAA; 16]);
        assert_eq!(&ad[21..29], &7u64.to_be_bytes());
        assert_eq!(&ad[29..45], &[0xBB; 16]);
        assert_eq!(&ad[45..53], &3u64.to_be_bytes());
        assert_eq!(ad[53], 1);

        let empty = Layout::new(0, 16).unwrap();
        assert_eq!((empty.chunks(), empty.stored_len(), empty.plain_len(0)), (1, 16, 0));
        let one = Layout::new(65_536, 16).unwrap();
        assert_eq!((one.padded(), one.chunks(), one.stored_len()), (65_536, 1, 65_552));
        assert!(one.inline());
        let big = Layout::new(100_000_001, 16).unwrap();
        assert_eq!(big.padded(), padme_u64(100_000_001));
        assert!(big.padded() >= 100_000_001 && big.padded() - 100_000_001 <= 100_000_001 / 8);
        let last = big.chunks() - 1;
        assert_eq!(big.sealed_offset(last) + big.plain_len(last) + 16, big.stored_len());
        assert!(big.plain_len(last) >= 1 && big.plain_len(last) <= 65_536);
        assert_eq!(big.plain_len(big.chunks()), 0);
        assert!(Layout::new(MAX_ATTACHMENT_BYTES + 1, 16).is_none());
        assert!(Layout::new(1, 11).is_none());
        let max = Layout::new(MAX_ATTACHMENT_BYTES, 12).unwrap();
        assert!(max.stored_len() > max.padded());
    }
}
