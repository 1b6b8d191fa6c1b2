//! The plaintext records sealed inside envelopes, postcard-encoded in the
//! field order docs/DESIGN.md gives ("Record plaintexts"). Changing a field's
//! type or order is a format change. Envelope version 2 frames them
//! (`super::frame`); version 1 records, still read, have fewer fields.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::envelope::{VERSION, VERSION_1};
use super::frame;

/// A conversation's sealed metadata (record kind 3). Encoded as its seven
/// fields, then, only when present, `origin` (format 3): metadata written
/// before format 3 never has it, so it decodes unchanged.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ConversationMeta {
    pub external_id: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub read_up_to: Option<u64>,
    /// Messages appended while set expire this long after they were sent.
    pub retention_ms: Option<u64>,
    /// For a conversation an import created without external id: where it
    /// came from, so its keyed hash can be computed again under a new id
    /// key (docs/DESIGN.md, "Master-key rotation").
    pub origin: Option<Origin>,
}

/// The store and conversation an imported conversation came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    /// The source store's 16-byte id.
    pub store: [u8; 16],
    /// The conversation's id there.
    pub id: u64,
}

impl std::fmt::Debug for ConversationMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: titles and members are the user's words.
        f.debug_struct("ConversationMeta")
            .field("external_id_len", &self.external_id.as_ref().map(String::len))
            .field("title_len", &self.title.len())
            .field("members", &self.members.len())
            .field("app_data_len", &self.app_data.len())
            .field("read_up_to", &self.read_up_to)
            .field("retention_ms", &self.retention_ms)
            .field("origin", &self.origin.is_some())
            .finish_non_exhaustive()
    }
}

impl Serialize for ConversationMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        // postcard writes a tuple's elements one after another, so the
        // optional eighth element is simply absent when `origin` is `None`.
        let mut t = s.serialize_tuple(if self.origin.is_some() { 8 } else { 7 })?;
        t.serialize_element(&self.external_id)?;
        t.serialize_element(&self.title)?;
        t.serialize_element(&self.members)?;
        t.serialize_element(&self.app_data)?;
        t.serialize_element(&self.created_at_ms)?;
        t.serialize_element(&self.read_up_to)?;
        t.serialize_element(&self.retention_ms)?;
        if let Some(origin) = &self.origin {
            t.serialize_element(origin)?;
        }
        t.end()
    }
}

/// [`ConversationMeta`] as envelope version 1 holds it; version 2 starts
/// with the same six fields.
#[derive(Deserialize)]
struct ConversationMetaV1 {
    external_id: Option<String>,
    title: String,
    members: Vec<String>,
    app_data: Vec<u8>,
    created_at_ms: i64,
    read_up_to: Option<u64>,
}

/// One message inside a segment (record kind 4 is a `Vec` of these).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredMessage {
    /// Sequence number minus the holding row's `first_seq`.
    pub offset: u64,
    pub external_id: Option<String>,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub reply_to: Option<u64>,
    pub edited_at_ms: Option<i64>,
    pub extra: Vec<u8>,
    /// When it disappears, milliseconds since the Unix epoch.
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for StoredMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Lengths only: the user's words never reach a log.
        f.debug_struct("StoredMessage")
            .field("offset", &self.offset)
            .field("text_len", &self.text.len())
            .field("sender_len", &self.sender.len())
            .field("sent_at_ms", &self.sent_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

impl StoredMessage {
    /// Whether it has expired at `now_ms`.
    pub(crate) fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|t| t <= now_ms)
    }

    /// Rough size of its encoding, for packing segments.
    pub(crate) fn approx_len(&self) -> usize {
        approx_len(&self.text, &self.sender, &self.extra, self.external_id.as_deref())
    }
}

/// Rough size of a message's encoding, for packing segments: its variable
/// fields, and 32 bytes for the fixed ones. Callers' lengths are bounded by
/// `limits::MAX_MESSAGE_BYTES`, records' by the segment they came from.
pub(crate) fn approx_len(text: &str, sender: &str, extra: &[u8], external_id: Option<&str>) -> usize {
    [text.len(), sender.len(), extra.len(), external_id.map_or(0, str::len), 32]
        .into_iter()
        .fold(0, usize::saturating_add)
}

/// A [`StoredMessage`] borrowed from a decoded segment, its strings not yet
/// checked as UTF-8: a page converts only the messages it returns.
/// (postcard encodes a string and a byte string alike.)
#[derive(Deserialize)]
pub(crate) struct MessageView<'a> {
    pub offset: u64,
    #[serde(borrow)]
    pub external_id: Option<&'a [u8]>,
    pub sender: &'a [u8],
    pub sent_at_ms: i64,
    pub text: &'a [u8],
    pub reply_to: Option<u64>,
    pub edited_at_ms: Option<i64>,
    pub extra: &'a [u8],
    pub expires_at_ms: Option<i64>,
}

/// [`MessageView`] of envelope version 1, which has no expiry.
#[derive(Deserialize)]
struct MessageViewV1<'a> {
    offset: u64,
    #[serde(borrow)]
    external_id: Option<&'a [u8]>,
    sender: &'a [u8],
    sent_at_ms: i64,
    text: &'a [u8],
    reply_to: Option<u64>,
    edited_at_ms: Option<i64>,
    extra: &'a [u8],
}

impl MessageView<'_> {
    /// Whether it has expired at `now_ms`.
    pub(crate) fn expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|t| t <= now_ms)
    }

    /// The owned message; `None` if a string is not UTF-8.
    pub(crate) fn to_owned(&self) -> Option<StoredMessage> {
        let string = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
        Some(StoredMessage {
            offset: self.offset,
            external_id: match self.external_id {
                Some(e) => Some(string(e)?),
                None => None,
            },
            sender: string(self.sender)?,
            sent_at_ms: self.sent_at_ms,
            text: string(self.text)?,
            reply_to: self.reply_to,
            edited_at_ms: self.edited_at_ms,
            extra: self.extra.to_vec(),
            expires_at_ms: self.expires_at_ms,
        })
    }
}

/// Decodes the messages of a segment whose record is `record` (already
/// unframed for envelope version 2), borrowing from it.
pub(crate) fn decode_segment_view(version: u8, record: &[u8]) -> Result<Vec<MessageView<'_>>, &'static str> {
    let fail = "segment does not decode";
    match version {
        VERSION => decode(record).ok_or(fail),
        VERSION_1 => {
            let v1: Vec<MessageViewV1<'_>> = decode(record).ok_or(fail)?;
            Ok(v1
                .into_iter()
                .map(|m| MessageView {
                    offset: m.offset,
                    external_id: m.external_id,
                    sender: m.sender,
                    sent_at_ms: m.sent_at_ms,
                    text: m.text,
                    reply_to: m.reply_to,
                    edited_at_ms: m.edited_at_ms,
                    extra: m.extra,
                    expires_at_ms: None,
                })
                .collect())
        }
        _ => Err("unknown envelope version"),
    }
}

/// The record inside a segment's plaintext: unframed for version 2.
pub(crate) fn segment_record(version: u8, plain: &[u8]) -> Result<frame::Record<'_>, &'static str> {
    match version {
        VERSION => frame::unframe(plain),
        _ => Ok(frame::Record::Stored(plain)),
    }
}

/// Encodes and frames a record for envelope version 2, compressing it with
/// `compressor` if given (and if that makes it shorter).
pub(crate) fn seal_plaintext<T: Serialize + ?Sized>(
    value: &T,
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Option<Zeroizing<Vec<u8>>> {
    frame::frame(&encode(value)?, compressor)
}

/// Decodes metadata opened from an envelope of `version`.
pub(crate) fn decode_meta(version: u8, plain: &[u8]) -> Result<ConversationMeta, &'static str> {
    match version {
        VERSION => {
            let fail = "metadata does not decode";
            let record = frame::unframe(plain)?;
            let (m, rest): (ConversationMetaV1, &[u8]) =
                postcard::take_from_bytes(record.bytes()).map_err(|_| fail)?;
            let (retention_ms, rest): (Option<u64>, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|_| fail)?;
            let origin = if rest.is_empty() { None } else { Some(decode::<Origin>(rest).ok_or(fail)?) };
            Ok(ConversationMeta {
                external_id: m.external_id,
                title: m.title,
                members: m.members,
                app_data: m.app_data,
                created_at_ms: m.created_at_ms,
                read_up_to: m.read_up_to,
                retention_ms,
                origin,
            })
        }
        VERSION_1 => {
            let v1: ConversationMetaV1 = decode(plain).ok_or("metadata does not decode")?;
            Ok(ConversationMeta {
                external_id: v1.external_id,
                title: v1.title,
                members: v1.members,
                app_data: v1.app_data,
                created_at_ms: v1.created_at_ms,
                read_up_to: v1.read_up_to,
                retention_ms: None,
                origin: None,
            })
        }
        _ => Err("unknown envelope version"),
    }
}

/// Encodes a record into a buffer of exactly its size (so no reallocation
/// leaves a plaintext copy behind), wiped when dropped. `None` only if
/// postcard refuses the value, which these record types never cause.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Option<Zeroizing<Vec<u8>>> {
    let size = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default()).ok()?;
    let mut buf = Zeroizing::new(vec![0u8; size]);
    postcard::to_slice(value, buf.as_mut_slice()).ok()?;
    Some(buf)
}

/// Decodes a record, rejecting trailing bytes. `None` if malformed.
pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcard_layout_of_a_message_is_pinned() {
        let m = StoredMessage {
            offset: 1,
            external_id: Some("x".into()),
            sender: "al".into(),
            sent_at_ms: -2,
            text: "hé".into(),
            reply_to: None,
            edited_at_ms: Some(300),
            extra: vec![9],
            expires_at_ms: Some(-1),
        };
        let bytes = encode(&vec![m.clone()]).unwrap();
        // 1 message; offset 1; Some "x"; "al"; zigzag(-2)=3; "hé" (3 bytes);
        // None; Some zigzag(300)=600 = varint d8 04; extra [9]; Some zigzag(-1)=1.
        let v1: &[u8] = &[1, 1, 1, 1, b'x', 2, b'a', b'l', 3, 3, b'h', 0xC3, 0xA9, 0, 1, 0xD8, 0x04, 1, 9];
        let expected = [v1, &[1, 1]].concat();
        assert_eq!(bytes.as_slice(), expected);
        assert_eq!(decode::<Vec<StoredMessage>>(&expected), Some(vec![m.clone()]));
        // Version 1 has no expiry field; version 2 frames the record.
        let owned = |version, plain: &[u8]| -> Result<Vec<StoredMessage>, &'static str> {
            let record = segment_record(version, plain)?;
            let views = decode_segment_view(version, record.bytes())?;
            Ok(views.iter().map(|v| v.to_owned().unwrap()).collect())
        };
        assert_eq!(owned(VERSION_1, v1).unwrap(), vec![StoredMessage { expires_at_ms: None, ..m.clone() }]);
        let framed = seal_plaintext(&vec![m.clone()], None).unwrap();
        assert_eq!(&framed[..5], &[0, 0, 0, 0, 21]);
        assert_eq!(owned(VERSION, &framed).unwrap(), vec![m]);
        assert!(owned(VERSION, v1).is_err());
    }

    #[test]
    fn decode_rejects_trailing_and_truncated_bytes() {
        let bytes = encode(&vec![7u64]).unwrap();
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(decode::<Vec<u64>>(&longer), None);
        assert_eq!(decode::<Vec<u64>>(&bytes[..1]), None);
    }
}
