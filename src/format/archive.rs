//! The archive layout of docs/FORMAT.md: the 120-byte header, the STREAM
//! chunk nonces, and the postcard records of the body. Pure byte layouts;
//! the keys are derived in `crate::keys` and the chunks sealed in `crate::crypto`.

use serde::{Deserialize, Serialize};

/// The magic bytes every archive starts with: `\x89CVAR\r\n\x1a`.
pub(crate) const MAGIC: [u8; 8] = [0x89, b'C', b'V', b'A', b'R', 0x0D, 0x0A, 0x1A];
/// The archive version this build writes, and the newest it reads.
pub const ARCHIVE_VERSION: u16 = 2;
/// The oldest archive version this build reads: version 1 has no
/// attachment records (docs/FORMAT.md, "Version history").
pub(crate) const OLDEST_ARCHIVE_VERSION: u16 = 1;
/// The most content one `AttachmentData` record carries.
pub(crate) const MAX_ATTACHMENT_DATA: usize = 64 << 10;
/// Length of the header.
pub(crate) const HEADER_LEN: usize = 120;
/// Bytes of the header the MAC covers (everything before it).
pub(crate) const MAC_INPUT_LEN: usize = 88;
pub(crate) const SALT_LEN: usize = 32;
pub(crate) const KEY_CHECK_LEN: usize = 16;
pub(crate) const MAC_LEN: usize = 32;
/// The chunk size writers use: 64 KiB.
pub(crate) const DEFAULT_CHUNK_SHIFT: u8 = 16;
/// Chunk sizes readers accept: 1 KiB to 1 MiB.
pub(crate) const CHUNK_SHIFTS: std::ops::RangeInclusive<u8> = 10..=20;
/// The AES-GCM tag after each chunk's ciphertext.
pub(crate) const TAG_LEN: usize = 16;
/// The largest record, length prefix excluded.
pub(crate) const MAX_RECORD: usize = 4 << 20;

/// `kdf` values.
pub(crate) const KDF_RAW: u8 = 0;
pub(crate) const KDF_ARGON2ID: u8 = 1;

/// HKDF labels (FORMAT.md, "Keys").
pub(crate) const LABEL_CHECK: &[u8] = b"chatvault archive v1 check";
pub(crate) const LABEL_HEADER: &[u8] = b"chatvault archive v1 header";
pub(crate) const LABEL_STREAM: &[u8] = b"chatvault archive v1 stream";

/// How the archive secret is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kdf {
    Raw,
    Argon2id { memory_kib: u32, iterations: u32, parallelism: u32 },
}

/// The header's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: u16,
    pub kdf: Kdf,
    pub chunk_shift: u8,
    pub salt: [u8; SALT_LEN],
    pub conversations: u64,
    pub messages: u64,
    pub key_check: [u8; KEY_CHECK_LEN],
    pub mac: [u8; MAC_LEN],
}

/// Why a header does not parse, before any key is involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Too short, or the magic is wrong.
    NotAnArchive,
    /// A version this build does not read.
    Version(u16),
    /// A field out of range.
    Field(&'static str),
}

impl Header {
    pub(crate) fn chunk_size(&self) -> usize {
        1 << self.chunk_shift
    }

    /// The header's bytes; the MAC field as it is in `self`.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (kdf, m, t, p) = match self.kdf {
            Kdf::Raw => (KDF_RAW, 0, 0, 0),
            Kdf::Argon2id { memory_kib, iterations, parallelism } => {
                (KDF_ARGON2ID, memory_kib, iterations, parallelism)
            }
        };
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&self.version.to_be_bytes());
        out[10] = kdf;
        out[11] = self.chunk_shift;
        out[12..16].copy_from_slice(&m.to_be_bytes());
        out[16..20].copy_from_slice(&t.to_be_bytes());
        out[20..24].copy_from_slice(&p.to_be_bytes());
        out[24..56].copy_from_slice(&self.salt);
        out[56..64].copy_from_slice(&self.conversations.to_be_bytes());
        out[64..72].copy_from_slice(&self.messages.to_be_bytes());
        out[72..88].copy_from_slice(&self.key_check);
        out[88..120].copy_from_slice(&self.mac);
        out
    }

    /// Parses a header and checks its field ranges (not its MAC, which
    /// needs the key). Argon2id parameters are checked by the caller
    /// against the store's bounds.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let bytes: [u8; HEADER_LEN] = match bytes.get(..HEADER_LEN).map(<[u8; HEADER_LEN]>::try_from) {
            Some(Ok(b)) => b,
            _ => return Err(HeaderError::NotAnArchive),
        };
        let (magic, rest) = bytes.split_at(8);
        if magic != MAGIC {
            return Err(HeaderError::NotAnArchive);
        }
        let mut r = Fields(rest);
        let version = u16::from_be_bytes(r.take());
        if !(OLDEST_ARCHIVE_VERSION..=ARCHIVE_VERSION).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        let [kdf] = r.take();
        let [chunk_shift] = r.take();
        let m = u32::from_be_bytes(r.take());
        let t = u32::from_be_bytes(r.take());
        let p = u32::from_be_bytes(r.take());
        let salt = r.take();
        let conversations = u64::from_be_bytes(r.take());
        let messages = u64::from_be_bytes(r.take());
        let key_check = r.take();
        let mac = r.take();
        let kdf = match kdf {
            KDF_RAW if (m, t, p) == (0, 0, 0) => Kdf::Raw,
            KDF_RAW => return Err(HeaderError::Field("Argon2id parameters on a raw-key archive")),
            KDF_ARGON2ID => Kdf::Argon2id { memory_kib: m, iterations: t, parallelism: p },
            _ => return Err(HeaderError::Field("unknown key derivation")),
        };
        if !CHUNK_SHIFTS.contains(&chunk_shift) {
            return Err(HeaderError::Field("chunk size out of range"));
        }
        Ok(Header { version, kdf, chunk_shift, salt, conversations, messages, key_check, mac })
    }
}

/// Takes fixed-size fields off the front of a slice known to be long enough.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        out[..n].copy_from_slice(head);
        self.0 = tail;
        out
    }
}

/// The nonce of chunk `index`: `00 00 00 || index || last`.
pub(crate) fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// One record of the body (FORMAT.md, "Records"). The variant order and
/// field order are the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Record {
    Store {
        chatvault_version: String,
        source_format: u32,
        source_store: [u8; 16],
        exported_at_ms: i64,
    },
    Conversation(ConversationRecord),
    Message(MessageRecord),
    ReadMarker {
        read_up_to: u64,
    },
    End,
    /// Version 2: an attachment of the conversation's message `message_seq`.
    Attachment(AttachmentRecord),
    /// Version 2: the next piece of the last attachment's content.
    AttachmentData(Bytes),
}

/// A byte string in postcard's layout of `Vec<u8>` (a varint length, then
/// the bytes), encoded and decoded whole: serde's `Vec<u8>` goes element
/// by element, which was 38% of an import of a 100 MB attachment.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(Visitor)
    }
}

/// An attachment in an archive (version 2); its content follows in
/// `AttachmentData` records unless it was removed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttachmentRecord {
    pub message_seq: u64,
    pub media_type: String,
    pub file_name: Option<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub removed_at_ms: Option<i64>,
    pub byte_len: u64,
}

impl std::fmt::Debug for AttachmentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRecord")
            .field("message_seq", &self.message_seq)
            .field("media_type_len", &self.media_type.len())
            .field("byte_len", &self.byte_len)
            .field("removed", &self.removed_at_ms.is_some())
            .finish_non_exhaustive()
    }
}

/// A conversation's metadata in an archive.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConversationRecord {
    pub source_id: u64,
    pub external_id: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub retention_ms: Option<u64>,
    pub next_seq: u64,
}

/// A message in an archive.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MessageRecord {
    pub seq: u64,
    pub external_id: Option<String>,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub reply_to: Option<u64>,
    pub edited_at_ms: Option<i64>,
    pub extra: Vec<u8>,
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for ConversationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: the user's words never reach a log.
        f.debug_struct("ConversationRecord")
            .field("source_id", &self.source_id)
            .field("external_id_len", &self.external_id.as_ref().map(String::len))
            .field("title_len", &self.title.len())
            .field("members", &self.members.len())
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageRecord")
            .field("seq", &self.seq)
            .field("text_len", &self.text.len())
            .field("sender_len", &self.sender.len())
            .field("sent_at_ms", &self.sent_at_ms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: 1,
            kdf: Kdf::Argon2id { memory_kib: 19456, iterations: 2, parallelism: 1 },
            chunk_shift: 16,
            salt: [5; 32],
            conversations: 3,
            messages: 0x0102_0304_0506_0708,
            key_check: [6; 16],
            mac: [7; 32],
        }
    }

    #[test]
    fn header_layout_is_pinned() {
        let bytes = header().encode();
        assert_eq!(&bytes[..12], &[0x89, b'C', b'V', b'A', b'R', 13, 10, 0x1A, 0, 1, 1, 16]);
        assert_eq!(&bytes[12..24], &[0, 0, 0x4C, 0, 0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(&bytes[56..72], &[0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(Header::decode(&bytes), Ok(header()));
    }

    #[test]
    fn bad_headers_are_told_apart() {
        let good = header().encode();
        assert_eq!(Header::decode(&good[..119]), Err(HeaderError::NotAnArchive));
        let mut b = good;
        b[0] ^= 1;
        assert_eq!(Header::decode(&b), Err(HeaderError::NotAnArchive));
        let mut b = good;
        b[9] = 2;
        assert_eq!(Header::decode(&b).map(|h| h.version), Ok(2));
        let mut b = good;
        b[9] = 3;
        assert_eq!(Header::decode(&b), Err(HeaderError::Version(3)));
        let mut b = good;
        b[9] = 0;
        assert_eq!(Header::decode(&b), Err(HeaderError::Version(0)));
        let mut b = good;
        b[10] = 0;
        assert!(matches!(Header::decode(&b), Err(HeaderError::Field(_))));
        let mut b = good;
        b[11] = 21;
        assert!(matches!(Header::decode(&b), Err(HeaderError::Field(_))));
    }

    #[test]
    fn chunk_nonces_carry_index_and_finality() {
        assert_eq!(chunk_nonce(0x0102, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1]);
        assert_ne!(chunk_nonce(1, false), chunk_nonce(1, true));
    }

    #[test]
    fn record_encoding_is_pinned() {
        let r = Record::ReadMarker { read_up_to: 300 };
        assert_eq!(postcard::to_allocvec(&r).unwrap(), [3, 0xAC, 0x02]);
        assert_eq!(postcard::to_allocvec(&Record::End).unwrap(), [4]);
        let m = Record::Message(MessageRecord {
            seq: 1,
            external_id: None,
            sender: "a".into(),
            sent_at_ms: -1,
            text: "é".into(),
            reply_to: Some(1),
            edited_at_ms: None,
            extra: vec![],
            expires_at_ms: None,
        });
        assert_eq!(postcard::to_allocvec(&m).unwrap(), [2, 1, 0, 1, b'a', 1, 2, 0xC3, 0xA9, 1, 1, 0, 0, 0]);
        let a = Record::Attachment(AttachmentRecord {
            message_seq: 2,
            media_type: "i".into(),
            file_name: Some("f".into()),
            app_data: vec![9],
            created_at_ms: 1,
            removed_at_ms: None,
            byte_len: 300,
        });
        assert_eq!(postcard::to_allocvec(&a).unwrap(), [5, 2, 1, b'i', 1, 1, b'f', 1, 9, 2, 0, 0xAC, 0x02]);
        assert_eq!(postcard::to_allocvec(&Record::AttachmentData(Bytes(vec![1, 2]))).unwrap(), [6, 2, 1, 2]);
        // The same bytes as postcard's own Vec<u8>, both ways.
        let data: Vec<u8> = (0..300).map(|i| i as u8).collect();
        let ours = postcard::to_allocvec(&Bytes(data.clone())).unwrap();
        assert_eq!(ours, postcard::to_allocvec(&data).unwrap());
        assert_eq!(postcard::from_bytes::<Bytes>(&ours).unwrap(), Bytes(data));
    }
}
