//! Writing an archive: the header, then records into sealed chunks.

use std::io::Write;

use ring::rand::SystemRandom;

use super::stream::ChunkWriter;
use crate::crypto;
use crate::error::{Error, Result};
use crate::format::archive::{HEADER_LEN, Header, Kdf, MAC_INPUT_LEN, MAX_RECORD, Record, SALT_LEN};
use crate::format::records;
use crate::keys::{ArchiveKeys, KdfParams, StoreKey};

/// An archive's keys, derived (Argon2id included) before any store
/// transaction begins.
pub(crate) struct Prepared {
    kdf: Kdf,
    salt: [u8; SALT_LEN],
    keys: ArchiveKeys,
}

impl Prepared {
    /// Draws a salt and derives the keys for an archive protected by `key`.
    pub(crate) fn new(key: &StoreKey) -> Result<Self> {
        let kdf = key.archive_kdf()?;
        let mut salt = [0u8; SALT_LEN];
        crypto::fill_random(&SystemRandom::new(), &mut salt)?;
        let keys = ArchiveKeys::derive(key, kdf, salt, &KdfParams::MAX)?;
        Ok(Prepared { kdf, salt, keys })
    }
}

pub(crate) struct ArchiveWriter<W: Write> {
    chunks: ChunkWriter<W>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Writes the header for an archive of `conversations` and `messages`
    /// records, sealed with `prepared`'s keys in chunks of `2^chunk_shift` bytes.
    pub(crate) fn create(
        mut out: W,
        prepared: Prepared,
        chunk_shift: u8,
        (conversations, messages): (u64, u64),
    ) -> Result<Self> {
        let Prepared { kdf, salt, keys } = prepared;
        let mut header = Header {
            version: crate::format::archive::ARCHIVE_VERSION,
            kdf,
            chunk_shift,
            salt,
            conversations,
            messages,
            key_check: keys.key_check(),
            mac: [0; 32],
        };
        let unsigned = header.encode();
        header.mac = keys.header_mac(unsigned.get(..MAC_INPUT_LEN).unwrap_or_default());
        let bytes: [u8; HEADER_LEN] = header.encode();
        out.write_all(&bytes)?;
        let chunks = ChunkWriter::new(out, keys.stream_key(&header.mac), header.chunk_size());
        Ok(ArchiveWriter { chunks })
    }

    /// The chunk layer, to write a body that is not records (fuzzing only).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn into_chunks(self) -> ChunkWriter<W> {
        self.chunks
    }

    /// Archive bytes written so far, header included.
    pub(crate) fn written(&self) -> u64 {
        HEADER_LEN as u64 + self.chunks.written()
    }

    /// Appends one length-prefixed record.
    pub(crate) fn record(&mut self, record: &Record) -> Result<()> {
        let bytes = records::encode(record).ok_or_else(|| Error::invalid("a record cannot be encoded"))?;
        if bytes.len() > MAX_RECORD {
            return Err(Error::invalid("a record is over the archive's 4 MiB limit"));
        }
        let len = u32::try_from(bytes.len()).map_err(|_| Error::invalid("record too large"))?;
        self.chunks.write_all(&len.to_be_bytes())?;
        self.chunks.write_all(&bytes)
    }

    /// Writes the end record and the final chunk, and flushes.
    pub(crate) fn finish(mut self) -> Result<(W, u64)> {
        self.record(&Record::End)?;
        let (out, body) = self.chunks.finish()?;
        Ok((out, HEADER_LEN as u64 + body))
    }
}
