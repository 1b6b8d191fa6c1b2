//! The plaintext records sealed inside envelopes, postcard-encoded in the
//! field order docs/DESIGN.md gives ("Record plaintexts"). Changing a field's
//! type or order is a format change.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A conversation's sealed metadata (record kind 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConversationMeta {
    pub external_id: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub read_up_to: Option<u64>,
}

/// One message inside a segment (record kind 4 is a `Vec` of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        };
        let bytes = encode(&vec![m.clone()]).unwrap();
        // 1 message; offset 1; Some "x"; "al"; zigzag(-2)=3; "hé" (3 bytes);
        // None; Some zigzag(300)=600 = varint d8 04; extra [9].
        let expected: &[u8] =
            &[1, 1, 1, 1, b'x', 2, b'a', b'l', 3, 3, b'h', 0xC3, 0xA9, 0, 1, 0xD8, 0x04, 1, 9];
        assert_eq!(bytes.as_slice(), expected);
        assert_eq!(decode::<Vec<StoredMessage>>(expected), Some(vec![m]));
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
