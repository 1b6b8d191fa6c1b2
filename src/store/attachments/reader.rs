//! Reading an attachment's content: any range, decrypting only the chunks
//! it spans (docs/ATTACHMENTS.md, "Content").

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use zeroize::Zeroizing;

use super::files::BlobId;
use crate::crypto::{Key32, StreamKey};
use crate::error::{Error, RecordKind, RecordRef, Result};
use crate::format::attachment::{Layout, TAG_LEN, chunk_ad};
use crate::format::envelope::STORE_ID_LEN;
use crate::ids::{AttachmentId, ConversationId, KeyEpoch};

/// Where the sealed stream is.
pub(crate) enum Source {
    /// The attachment's file (its length checked when opened).
    File(File),
    /// The row's `body`: the one sealed chunk.
    Inline(Vec<u8>),
}

/// What identifies a stream's chunks: the associated data's fields.
#[derive(Clone, Copy)]
pub(crate) struct StreamPlace {
    pub(crate) store_id: [u8; STORE_ID_LEN],
    pub(crate) conversation: ConversationId,
    pub(crate) epoch: KeyEpoch,
    pub(crate) attachment: AttachmentId,
    pub(crate) blob: BlobId,
}

impl StreamPlace {
    pub(crate) fn ad(&self, index: u64, last: bool) -> [u8; crate::format::attachment::CHUNK_AD_LEN] {
        chunk_ad(&self.store_id, self.conversation.get(), &self.blob, index, last)
    }

    /// How errors name chunk `index` (the file, when `index` is the count).
    pub(crate) fn chunk_record(&self, index: u64) -> RecordRef {
        RecordRef {
            kind: RecordKind::AttachmentContent,
            conversation: Some(self.conversation),
            epoch: self.epoch.get(),
            seqs: Some((self.attachment.get(), index)),
        }
    }
}

/// Reads an attachment's content: `Read + Seek` over its plaintext.
///
/// It owns its key, the open file (or the inline bytes) and one decrypted
/// chunk, so memory stays at one chunk (64 KiB) whatever the size, and it
/// outlives the store handle that opened it. A chunk that fails
/// authentication (flipped, cut, moved, from another attachment) is an
/// [`std::io::ErrorKind::InvalidData`] error wrapping
/// [`Error::Authentication`]: never wrong bytes.
pub struct AttachmentReader {
    source: Source,
    key: StreamKey,
    place: StreamPlace,
    layout: Layout,
    pos: u64,
    /// The chunk in `buf`, decrypted (its plaintext is `buf`).
    cached: Option<u64>,
    buf: Zeroizing<Vec<u8>>,
    /// Chunks decrypted so far.
    decrypted: u64,
}

impl fmt::Debug for AttachmentReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentReader")
            .field("attachment", &self.place.attachment)
            .field("len", &self.layout.byte_len)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl AttachmentReader {
    /// A reader over `source`, whose sealed length must be the layout's.
    pub(crate) fn new(source: Source, key: &Key32, place: StreamPlace, layout: Layout) -> Result<Self> {
        let len = match &source {
            Source::File(f) => f.metadata().map_err(Error::Io)?.len(),
            Source::Inline(b) => b.len() as u64,
        };
        if len != layout.stored_len() {
            // Cut or extended: which chunk is wrong cannot be said, so the
            // file (chunk index = the chunk count) is named.
            return Err(Error::Authentication { record: place.chunk_record(layout.chunks()) });
        }
        let cap = usize::try_from(layout.chunk_size() + TAG_LEN).unwrap_or(usize::MAX);
        Ok(AttachmentReader {
            source,
            key: StreamKey::new(key),
            place,
            layout,
            pos: 0,
            cached: None,
            buf: Zeroizing::new(Vec::with_capacity(cap)),
            decrypted: 0,
        })
    }

    /// The content's length in bytes.
    pub fn len(&self) -> u64 {
        self.layout.byte_len
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.layout.byte_len == 0
    }

    /// How many chunks this reader has decrypted: a read of a range
    /// decrypts only the chunks it spans (and none it decrypted last).
    pub fn chunks_decrypted(&self) -> u64 {
        self.decrypted
    }

    /// Reads up to `out.len()` bytes at `offset` (not moving the position
    /// `Read` uses); 0 at or past the end.
    pub fn read_at(&mut self, offset: u64, out: &mut [u8]) -> Result<usize> {
        if offset >= self.layout.byte_len || out.is_empty() {
            return Ok(0);
        }
        let index = offset >> self.layout.shift;
        self.load(index)?;
        let within = usize::try_from(offset - (index << self.layout.shift)).unwrap_or(usize::MAX);
        // The chunk's plaintext holds padding past the content's end.
        let content_end = self.layout.byte_len - (index << self.layout.shift);
        let avail = self.buf.len().min(usize::try_from(content_end).unwrap_or(usize::MAX));
        let n = avail.saturating_sub(within).min(out.len());
        let (Some(src), Some(dst)) = (self.buf.get(within..within + n), out.get_mut(..n)) else {
            return Ok(0);
        };
        dst.copy_from_slice(src);
        Ok(n)
    }

    /// Authenticates every chunk, in order (what `verify` does).
    pub(crate) fn check_all(&mut self) -> Result<()> {
        for index in 0..self.layout.chunks() {
            self.load(index)?;
        }
        Ok(())
    }

    /// Decrypts chunk `index` into `buf`, unless it is there already.
    fn load(&mut self, index: u64) -> Result<()> {
        if self.cached == Some(index) {
            return Ok(());
        }
        self.cached = None;
        let chunks = self.layout.chunks();
        let last = index + 1 == chunks;
        let sealed_len = self.layout.plain_len(index) + TAG_LEN;
        let start = self.layout.sealed_offset(index);
        let n = usize::try_from(sealed_len).map_err(|_| Error::invalid("chunk too large"))?;
        self.buf.clear();
        self.buf.resize(n, 0);
        match &self.source {
            Source::File(f) => read_exact_at(f, &mut self.buf, start).map_err(Error::Io)?,
            Source::Inline(body) => {
                let from = usize::try_from(start).ok();
                let chunk = from.and_then(|s| body.get(s..s.checked_add(n)?));
                let chunk = chunk.ok_or(Error::Authentication { record: self.place.chunk_record(index) })?;
                self.buf.copy_from_slice(chunk);
            }
        }
        let ad = self.place.ad(index, last);
        self.decrypted += 1;
        let plain = self
            .key
            .open(index, last, &ad, &mut self.buf)
            .ok_or(Error::Authentication { record: self.place.chunk_record(index) })?;
        self.buf.truncate(plain);
        if last {
            // The padding is zeros (checked: only a holder of the key could
            // have written anything else).
            // Padding may fill the whole last chunk (Padmé rounds up by more
            // than a chunk past 4 MiB): then none of it is content.
            let content = self.layout.byte_len.saturating_sub(index << self.layout.shift);
            let content = usize::try_from(content).unwrap_or(usize::MAX).min(self.buf.len());
            if self.buf[content..].iter().any(|&b| b != 0) {
                return Err(Error::corrupt(self.place.chunk_record(index), "the padding is not zero"));
            }
        }
        self.cached = Some(index);
        Ok(())
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(mut f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// A chatvault error as the `std::io` traits return it: authentication
/// failures and damage as `InvalidData`, I/O errors as they were.
fn to_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl Read for AttachmentReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(self.pos, out).map_err(to_io)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for AttachmentReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.layout.byte_len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the attachment")
        })?;
        self.pos = target;
        Ok(target)
    }
}
