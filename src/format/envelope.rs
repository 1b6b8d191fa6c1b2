//! The sealed-value envelope and its associated data.
//!
//! ```text
//!  0        1                    13                 13+n        29+n
//!  ┌────────┬────────────────────┬──────────────────┬───────────┐
//!  │version │ nonce (12 bytes)   │ ciphertext (n)   │ tag (16)  │
//!  └────────┴────────────────────┴──────────────────┴───────────┘
//! ```

use crate::ids::{ConversationId, KeyEpoch};

/// The envelope version written in byte 0 of every value sealed now. It is
/// also bound into the associated data, and selects the plaintext layout
/// of metadata and segments (docs/DESIGN.md, "Record plaintexts").
pub(crate) const VERSION: u8 = 2;
/// The envelope version of values written by format 1, still read.
pub(crate) const VERSION_1: u8 = 1;

/// Whether this build opens envelopes of `version`.
pub(crate) fn is_known(version: u8) -> bool {
    version == VERSION || version == VERSION_1
}
pub(crate) const VERSION_LEN: usize = 1;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
/// Bytes before the ciphertext.
pub(crate) const HEADER_LEN: usize = VERSION_LEN + NONCE_LEN;
/// Bytes an envelope adds to its plaintext.
pub(crate) const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Splits an envelope into version, nonce and ciphertext-with-tag, or `None`
/// if it is too short to be one.
pub(crate) fn split(sealed: &[u8]) -> Option<(u8, [u8; NONCE_LEN], &[u8])> {
    if sealed.len() < OVERHEAD {
        return None;
    }
    let (head, body) = sealed.split_at(HEADER_LEN);
    let (version, nonce) = head.split_first()?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    Some((*version, nonce, body))
}

/// The kind byte of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    MasterKey = 1,
    ConversationKey = 2,
    ConversationMeta = 3,
    Segment = 4,
    /// The next master key during a master-key rotation, sealed under the
    /// root key (format 3).
    NextMasterKey = 5,
    /// A segment's search filter (format 5; docs/SEARCH.md).
    SegmentFilter = 6,
    /// An attachment's metadata and content key (format 6; docs/ATTACHMENTS.md).
    Attachment = 7,
}

/// Length of the random store id bound into every associated data.
pub(crate) const STORE_ID_LEN: usize = 16;

// Associated-data layout, each offset built from the previous one.
const AD_DOMAIN: &[u8; 4] = b"cvlt";
const AD_DOMAIN_OFS: usize = 0;
const AD_VERSION_OFS: usize = AD_DOMAIN_OFS + AD_DOMAIN.len();
const AD_KIND_OFS: usize = AD_VERSION_OFS + 1;
const AD_STORE_ID_OFS: usize = AD_KIND_OFS + 1;
const AD_CONVERSATION_OFS: usize = AD_STORE_ID_OFS + STORE_ID_LEN;
const AD_EPOCH_OFS: usize = AD_CONVERSATION_OFS + 8;
const AD_FIRST_SEQ_OFS: usize = AD_EPOCH_OFS + 4;
const AD_LAST_SEQ_OFS: usize = AD_FIRST_SEQ_OFS + 8;
/// Length of the associated data.
pub(crate) const AD_LEN: usize = AD_LAST_SEQ_OFS + 8;

/// Where a sealed value belongs; encoded as its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub kind: Kind,
    pub conversation: Option<ConversationId>,
    pub epoch: KeyEpoch,
    pub seqs: (u64, u64),
}

impl Place {
    pub(crate) fn master_key() -> Self {
        Place { kind: Kind::MasterKey, conversation: None, epoch: KeyEpoch::FIRST, seqs: (0, 0) }
    }

    /// The master key while a rotation to generation `generation + 1` is
    /// under way (format 3): bound to that rotation, so it opens only
    /// together with the rotation's next master key, never replayed alone.
    pub(crate) fn master_key_pending(generation: u64) -> Self {
        Place {
            kind: Kind::MasterKey,
            conversation: None,
            epoch: KeyEpoch::FIRST,
            seqs: (generation.saturating_add(1), 1),
        }
    }

    /// The next master key, sealed under the root key: `generation` is
    /// the `store.master_gen` it will have once the rotation finishes.
    pub(crate) fn next_master_key(generation: u64) -> Self {
        Place { kind: Kind::NextMasterKey, conversation: None, epoch: KeyEpoch::FIRST, seqs: (generation, 0) }
    }

    pub(crate) fn conversation_key(c: ConversationId, epoch: KeyEpoch) -> Self {
        Place { kind: Kind::ConversationKey, conversation: Some(c), epoch, seqs: (0, 0) }
    }

    /// A conversation key a master-key rotation rewrapped (format 3): it
    /// existed before the rotation, so whoever had the old master key may
    /// know it; it opens what was sealed under it, and is never sealed
    /// under again.
    pub(crate) fn conversation_key_retired(c: ConversationId, epoch: KeyEpoch) -> Self {
        Place { kind: Kind::ConversationKey, conversation: Some(c), epoch, seqs: (0, 1) }
    }

    pub(crate) fn conversation_meta(c: ConversationId, epoch: KeyEpoch) -> Self {
        Place { kind: Kind::ConversationMeta, conversation: Some(c), epoch, seqs: (0, 0) }
    }

    pub(crate) fn segment(c: ConversationId, epoch: KeyEpoch, first: u64, last: u64) -> Self {
        Place { kind: Kind::Segment, conversation: Some(c), epoch, seqs: (first, last) }
    }

    /// The search filter of the segment `(c, epoch, first, last)` (format 5).
    pub(crate) fn segment_filter(c: ConversationId, epoch: KeyEpoch, first: u64, last: u64) -> Self {
        Place { kind: Kind::SegmentFilter, conversation: Some(c), epoch, seqs: (first, last) }
    }

    /// The metadata of attachment `id` of message `seq` in conversation
    /// `c`, sealed under its key at `epoch` (format 6).
    pub(crate) fn attachment(c: ConversationId, epoch: KeyEpoch, id: u64, seq: u64) -> Self {
        Place { kind: Kind::Attachment, conversation: Some(c), epoch, seqs: (id, seq) }
    }

    /// The associated data binding a value of envelope `version` to this
    /// place in store `store_id`.
    pub(crate) fn associated_data(&self, store_id: &[u8; STORE_ID_LEN], version: u8) -> [u8; AD_LEN] {
        let mut ad = [0u8; AD_LEN];
        ad[AD_DOMAIN_OFS..AD_VERSION_OFS].copy_from_slice(AD_DOMAIN);
        ad[AD_VERSION_OFS] = version;
        ad[AD_KIND_OFS] = self.kind as u8;
        ad[AD_STORE_ID_OFS..AD_CONVERSATION_OFS].copy_from_slice(store_id);
        let conv = self.conversation.map_or(0, ConversationId::get);
        ad[AD_CONVERSATION_OFS..AD_EPOCH_OFS].copy_from_slice(&conv.to_be_bytes());
        ad[AD_EPOCH_OFS..AD_FIRST_SEQ_OFS].copy_from_slice(&self.epoch.get().to_be_bytes());
        ad[AD_FIRST_SEQ_OFS..AD_LAST_SEQ_OFS].copy_from_slice(&self.seqs.0.to_be_bytes());
        ad[AD_LAST_SEQ_OFS..AD_LEN].copy_from_slice(&self.seqs.1.to_be_bytes());
        ad
    }

    /// How errors name this place.
    pub(crate) fn record(&self) -> crate::error::RecordRef {
        use crate::error::RecordKind;
        crate::error::RecordRef {
            kind: match self.kind {
                Kind::MasterKey => RecordKind::MasterKey,
                Kind::ConversationKey => RecordKind::ConversationKey,
                Kind::ConversationMeta => RecordKind::ConversationMeta,
                Kind::Segment => RecordKind::Segment,
                Kind::NextMasterKey => RecordKind::NextMasterKey,
                Kind::SegmentFilter => RecordKind::SegmentFilter,
                Kind::Attachment => RecordKind::Attachment,
            },
            conversation: self.conversation,
            epoch: self.epoch.get(),
            seqs: matches!(self.kind, Kind::Segment | Kind::SegmentFilter | Kind::Attachment)
                .then_some(self.seqs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_layout_matches_design_doc() {
        assert_eq!(AD_LEN, 50);
        let store_id = [0xAA; STORE_ID_LEN];
        let place = Place::segment(ConversationId::from_raw(7), KeyEpoch::FIRST.next().unwrap(), 10, 20);
        let ad = place.associated_data(&store_id, VERSION);
        assert_eq!(&ad[0..4], b"cvlt");
        assert_eq!(ad[4], 2);
        assert_eq!(place.associated_data(&store_id, VERSION_1)[4], 1);
        assert_eq!(ad[5], 4);
        assert_eq!(&ad[6..22], &store_id);
        assert_eq!(&ad[22..30], &7u64.to_be_bytes());
        assert_eq!(&ad[30..34], &1u32.to_be_bytes());
        assert_eq!(&ad[34..42], &10u64.to_be_bytes());
        assert_eq!(&ad[42..50], &20u64.to_be_bytes());
    }

    #[test]
    fn split_rejects_short_envelopes() {
        assert!(split(&[1u8; OVERHEAD - 1]).is_none());
        let (v, n, body) = split(&[1u8; OVERHEAD]).unwrap();
        assert_eq!((v, n, body.len()), (1, [1; NONCE_LEN], TAG_LEN));
    }
}
