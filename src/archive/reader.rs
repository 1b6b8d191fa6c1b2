//! Reading an archive: the header and its keys, then the records, each
//! checked against the order and limits of docs/FORMAT.md ("Records").

use std::io::Read;

use zeroize::Zeroizing;

use super::stream::ChunkReader;
use crate::error::{Error, Result};
use crate::format::archive::{
    AttachmentRecord, ConversationRecord, HEADER_LEN, Header, HeaderError, MAC_INPUT_LEN,
    MAX_ATTACHMENT_DATA, MAX_RECORD, MessageRecord, Record,
};
use crate::format::records;
use crate::keys::{ArchiveKeys, KdfParams, StoreKey};
use crate::types::limits;

/// What the store section of an archive says about where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub chatvault_version: String,
    pub store: [u8; 16],
    pub exported_at_ms: i64,
}

/// One item of an archive, checked.
pub(crate) enum Item {
    Conversation(ConversationRecord),
    Message(MessageRecord),
    ReadMarker(u64),
    /// Version 2: an attachment; its content follows as `AttachmentData`
    /// items (exactly `byte_len` bytes, none if it was removed).
    Attachment(AttachmentRecord),
    AttachmentData(Vec<u8>),
}

/// Where the reader is among the current conversation's attachments.
#[derive(Default)]
struct Attachments {
    /// An attachment record was seen: no more messages.
    begun: bool,
    /// The last attachment's message.
    last_seq: u64,
    /// Content bytes the last attachment still owes.
    owed: u64,
}

/// Reads an archive's records in order, enforcing the format's rules.
pub(crate) struct ArchiveReader<R: Read> {
    chunks: ChunkReader<R>,
    header: Header,
    source: Source,
    record: Zeroizing<Vec<u8>>,
    /// The conversation being read: its `next_seq`, the last message's seq,
    /// and whether its read marker was seen.
    current: Option<(u64, u64, bool)>,
    attachments: Attachments,
    conversations: u64,
    messages: u64,
    /// Attachment records and content bytes read so far.
    attachment_count: u64,
    attachment_bytes: u64,
    ended: bool,
}

fn corrupt(detail: impl Into<String>) -> Error {
    Error::ArchiveCorrupt { detail: detail.into() }
}

impl<R: Read> ArchiveReader<R> {
    /// Reads and checks the header with `key` (refusing Argon2id
    /// parameters past `max_kdf` before deriving anything), then the
    /// `Store` record.
    pub(crate) fn open(mut input: R, key: &StoreKey, max_kdf: &KdfParams) -> Result<Self> {
        let mut bytes = [0u8; HEADER_LEN];
        let got = read_up_to(&mut input, &mut bytes)?;
        if got < HEADER_LEN {
            // The start of an archive's magic, cut inside the header: an
            // interrupted copy of an archive, not some other file.
            let start = got.min(crate::format::archive::MAGIC.len());
            let ours = got > 0 && bytes.get(..start) == crate::format::archive::MAGIC.get(..start);
            return Err(if ours { Error::ArchiveTruncated { chunks: 0 } } else { Error::NotAnArchive });
        }
        let header = Header::decode(&bytes).map_err(|e| match e {
            HeaderError::NotAnArchive => Error::NotAnArchive,
            HeaderError::Version(found) if found > crate::format::archive::ARCHIVE_VERSION => {
                Error::UnsupportedArchiveVersion { found, supported: crate::format::archive::ARCHIVE_VERSION }
            }
            HeaderError::Version(found) => corrupt(format!("unknown archive version {found}")),
            HeaderError::Field(what) => corrupt(format!("header: {what}")),
        })?;
        let keys = ArchiveKeys::derive(key, header.kdf, header.salt, max_kdf)?;
        if keys.key_check() != header.key_check {
            return Err(Error::WrongKey);
        }
        let mac_input = bytes.get(..MAC_INPUT_LEN).unwrap_or_default();
        if !keys.header_mac_matches(mac_input, &header.mac) {
            return Err(Error::ArchiveTampered { chunk: None });
        }
        let chunks = ChunkReader::new(input, keys.stream_key(&header.mac), header.chunk_size());
        let mut reader = ArchiveReader {
            chunks,
            header,
            source: Source { chatvault_version: String::new(), store: [0; 16], exported_at_ms: 0 },
            record: Zeroizing::new(Vec::new()),
            current: None,
            attachments: Attachments::default(),
            conversations: 0,
            messages: 0,
            attachment_count: 0,
            attachment_bytes: 0,
            ended: false,
        };
        match reader.record()? {
            Record::Store { chatvault_version, source_format: _, source_store, exported_at_ms } => {
                reader.source = Source { chatvault_version, store: source_store, exported_at_ms };
            }
            _ => return Err(corrupt("the first record is not the store record")),
        }
        Ok(reader)
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// Archive bytes read so far, header included.
    pub(crate) fn bytes_read(&self) -> u64 {
        HEADER_LEN as u64 + self.chunks.bytes_read()
    }

    /// Records read so far: (conversations, messages).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.conversations, self.messages)
    }

    /// Attachments read so far, and their content bytes.
    pub(crate) fn attachment_counts(&self) -> (u64, u64) {
        (self.attachment_count, self.attachment_bytes)
    }

    /// The next item, or `None` after the `End` record, once the final
    /// chunk has verified and the counts match the header.
    pub(crate) fn next(&mut self) -> Result<Option<Item>> {
        if self.ended {
            return Ok(None);
        }
        let record = self.record()?;
        let attachment_record = matches!(record, Record::Attachment(_) | Record::AttachmentData(_));
        if attachment_record && self.header.version < 2 {
            return Err(corrupt("an attachment record in a version 1 archive"));
        }
        if !matches!(record, Record::AttachmentData(_)) && self.attachments.owed > 0 {
            return Err(corrupt("an attachment's content is cut short"));
        }
        match record {
            Record::Store { .. } => Err(corrupt("a second store record")),
            Record::Attachment(a) => {
                let Some((_, last, marked)) = &self.current else {
                    return Err(corrupt("an attachment before any conversation"));
                };
                if *marked
                    || a.message_seq == 0
                    || a.message_seq > *last
                    || a.message_seq < self.attachments.last_seq
                {
                    return Err(corrupt(format!(
                        "an attachment of message {} is out of order or not of a message before it",
                        a.message_seq
                    )));
                }
                let meta =
                    a.media_type.len() + a.file_name.as_ref().map_or(0, String::len) + a.app_data.len();
                if meta > limits::MAX_ATTACHMENT_META_BYTES || a.byte_len > limits::MAX_ATTACHMENT_BYTES {
                    return Err(corrupt("an attachment over the size limits"));
                }
                self.attachments = Attachments {
                    begun: true,
                    last_seq: a.message_seq,
                    owed: if a.removed_at_ms.is_some() { 0 } else { a.byte_len },
                };
                self.attachment_count += 1;
                Ok(Some(Item::Attachment(a)))
            }
            Record::AttachmentData(crate::format::archive::Bytes(d)) => {
                let len = d.len() as u64;
                if d.is_empty() || d.len() > MAX_ATTACHMENT_DATA || len > self.attachments.owed {
                    return Err(corrupt("attachment content of the wrong length, or of no attachment"));
                }
                self.attachments.owed -= len;
                self.attachment_bytes = self.attachment_bytes.saturating_add(len);
                Ok(Some(Item::AttachmentData(d)))
            }
            Record::Conversation(c) => {
                check_conversation(&c)?;
                self.conversations += 1;
                if self.conversations > self.header.conversations {
                    return Err(corrupt("more conversations than the header says"));
                }
                self.current = Some((c.next_seq, 0, false));
                self.attachments = Attachments::default();
                Ok(Some(Item::Conversation(c)))
            }
            Record::Message(m) => {
                let Some((next_seq, last, marked)) = &mut self.current else {
                    return Err(corrupt("a message before any conversation"));
                };
                if *marked || self.attachments.begun {
                    return Err(corrupt("a message after its conversation's read marker or attachments"));
                }
                if m.seq <= *last || m.seq >= *next_seq {
                    return Err(corrupt(format!(
                        "message {} is out of order or past its conversation's end",
                        m.seq
                    )));
                }
                *last = m.seq;
                check_message(&m)?;
                if m.reply_to.is_some_and(|r| r >= m.seq) {
                    return Err(corrupt(format!("message {} replies to a later message", m.seq)));
                }
                self.messages += 1;
                if self.messages > self.header.messages {
                    return Err(corrupt("more messages than the header says"));
                }
                Ok(Some(Item::Message(m)))
            }
            Record::ReadMarker { read_up_to } => {
                let Some((next_seq, _, marked)) = &mut self.current else {
                    return Err(corrupt("a read marker before any conversation"));
                };
                if *marked || read_up_to == 0 || read_up_to >= *next_seq {
                    return Err(corrupt("a second read marker, or one past its conversation's end"));
                }
                *marked = true;
                Ok(Some(Item::ReadMarker(read_up_to)))
            }
            Record::End => {
                if !self.chunks.at_end() {
                    return Err(corrupt("records after the end record"));
                }
                if (self.conversations, self.messages) != (self.header.conversations, self.header.messages) {
                    return Err(corrupt("fewer records than the header says"));
                }
                self.ended = true;
                Ok(None)
            }
        }
    }

    /// Reads one length-prefixed record.
    fn record(&mut self) -> Result<Record> {
        let mut len = [0u8; 4];
        if !self.chunks.read_exact(&mut len)? {
            return Err(corrupt("the body ends without an end record"));
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > MAX_RECORD {
            return Err(corrupt(format!("a record of {len} bytes")));
        }
        self.record.clear();
        self.record.resize(len, 0);
        if !self.chunks.read_exact(&mut self.record)? {
            return Err(corrupt("the body ends inside a record"));
        }
        records::decode(&self.record).ok_or_else(|| corrupt("a record does not decode"))
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

/// The largest `next_seq` an archive may carry: 2^32, the store's own
/// limit (format 4 keeps sequence numbers below 2^32; docs/DESIGN.md,
/// "Limits").
const MAX_NEXT_SEQ: u64 = crate::store::SEQ_LIMIT;

/// The largest `next_seq` stores of formats 1 to 3 could export: beyond it
/// an archive is corrupt, up to it only too large ([`Error::LimitReached`]).
const EARLIER_MAX_NEXT_SEQ: u64 = 1 << 62;

/// The limits a conversation record must keep (the exporter checks them too).
pub(crate) fn check_conversation(c: &ConversationRecord) -> Result<()> {
    let ext = c.external_id.as_ref().map_or(0, String::len);
    let len = c.title.len() + c.members.iter().map(String::len).sum::<usize>() + ext + c.app_data.len();
    if ext > limits::MAX_EXTERNAL_ID_BYTES || len > limits::MAX_METADATA_BYTES {
        return Err(corrupt("a conversation over the size limits"));
    }
    if c.next_seq == 0 || c.next_seq > EARLIER_MAX_NEXT_SEQ {
        return Err(corrupt("a conversation's next sequence number is out of range"));
    }
    if c.next_seq > MAX_NEXT_SEQ {
        // Stores of formats 1 to 3 allowed this: a real archive, too large for this store.
        return Err(Error::LimitReached {
            what: "an archived conversation's sequence numbers",
            limit: MAX_NEXT_SEQ,
        });
    }
    Ok(())
}

/// The limits a message record must keep (the exporter checks them too).
pub(crate) fn check_message(m: &MessageRecord) -> Result<()> {
    let ext = m.external_id.as_ref().map_or(0, String::len);
    let len = m.text.len() + m.sender.len() + m.extra.len() + ext;
    if ext > limits::MAX_EXTERNAL_ID_BYTES || len > limits::MAX_MESSAGE_BYTES {
        return Err(corrupt("a message over the size limits"));
    }
    if m.reply_to == Some(0) {
        return Err(corrupt("a reply to an impossible sequence number"));
    }
    Ok(())
}
