//! The chunk layer of an archive body (docs/FORMAT.md, "Body"): a writer
//! that cuts a byte stream into sealed chunks, and a reader that releases
//! bytes only from chunks that authenticated.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::crypto::StreamKey;
use crate::error::{Error, Result};
use crate::format::archive::TAG_LEN;

/// Seals everything written to it into chunks of `chunk_size` bytes. The
/// final chunk is sealed by [`ChunkWriter::finish`]; until then a full
/// chunk is held back, since it may turn out to be the final one.
pub(crate) struct ChunkWriter<W: Write> {
    out: W,
    key: StreamKey,
    chunk_size: usize,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    written: u64,
}

impl<W: Write> ChunkWriter<W> {
    pub(crate) fn new(out: W, key: StreamKey, chunk_size: usize) -> Self {
        let buf = Zeroizing::new(Vec::with_capacity(chunk_size + TAG_LEN));
        ChunkWriter { out, key, chunk_size, buf, index: 0, written: 0 }
    }

    /// Archive bytes written so far (the header excluded).
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.buf.len() == self.chunk_size {
                self.seal(false)?;
            }
            let n = (self.chunk_size - self.buf.len()).min(data.len());
            let (now, rest) = data.split_at(n);
            self.buf.extend_from_slice(now);
            data = rest;
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> Result<()> {
        if self.index == u64::MAX {
            return Err(Error::invalid("a failed archive write cannot go on"));
        }
        self.key.seal(self.index, last, &[], &mut self.buf);
        let result = self.out.write_all(&self.buf);
        let len = self.buf.len() as u64;
        // Sealing wrote ciphertext over the plaintext: nothing to wipe.
        self.buf.clear();
        if let Err(e) = result {
            // The output is broken mid-chunk: refuse to write more.
            self.index = u64::MAX;
            return Err(e.into());
        }
        self.written += len;
        self.index += 1;
        Ok(())
    }

    /// Seals the final chunk (which must not be empty) and flushes.
    /// Returns the output and the body bytes written.
    pub(crate) fn finish(mut self) -> Result<(W, u64)> {
        if self.buf.is_empty() {
            return Err(Error::invalid("an archive body cannot be empty"));
        }
        self.seal(true)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

/// Reads an archive body and yields the plaintext of each chunk once its
/// tag has verified at its index and finality.
pub(crate) struct ChunkReader<R: Read> {
    inner: R,
    key: StreamKey,
    chunk_size: usize,
    /// Sealed chunk, then its plaintext at `pos..end`.
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    /// The byte after a full chunk, read to learn that it was not the last.
    lookahead: Option<u8>,
    index: u64,
    finished: bool,
    read: u64,
}

impl<R: Read> ChunkReader<R> {
    pub(crate) fn new(inner: R, key: StreamKey, chunk_size: usize) -> Self {
        ChunkReader {
            inner,
            key,
            chunk_size,
            buf: Zeroizing::new(Vec::with_capacity(chunk_size + TAG_LEN + 1)),
            pos: 0,
            end: 0,
            lookahead: None,
            index: 0,
            finished: false,
            read: 0,
        }
    }

    /// Archive bytes read so far (the header excluded).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Whether the final chunk has been read and all its plaintext taken.
    pub(crate) fn at_end(&self) -> bool {
        self.finished && self.pos == self.end
    }

    /// Fills `out` completely with authenticated plaintext; `Ok(false)` if
    /// the body ended first (then `out` is partly filled).
    pub(crate) fn read_exact(&mut self, mut out: &mut [u8]) -> Result<bool> {
        while !out.is_empty() {
            if self.pos == self.end {
                if self.finished {
                    return Ok(false);
                }
                self.next_chunk()?;
                continue;
            }
            let n = (self.end - self.pos).min(out.len());
            let (now, rest) = out.split_at_mut(n);
            now.copy_from_slice(self.buf.get(self.pos..self.pos + n).unwrap_or_default());
            self.pos += n;
            out = rest;
        }
        Ok(true)
    }

    /// Reads and opens the next chunk.
    fn next_chunk(&mut self) -> Result<()> {
        let sealed = self.chunk_size + TAG_LEN;
        self.buf.clear();
        self.buf.extend(self.lookahead.take());
        self.fill(sealed + 1)?;
        let index = self.index;
        let tampered = Error::ArchiveTampered { chunk: Some(index) };
        let len = if self.buf.len() > sealed {
            // More follows: not the final chunk.
            self.lookahead = self.buf.pop();
            self.key.open(index, false, &[], &mut self.buf).ok_or(tampered)?
        } else {
            self.finished = true;
            if self.buf.len() <= TAG_LEN {
                // Empty (the body stops at a chunk boundary) or cut inside a tag.
                return Err(Error::ArchiveTruncated { chunks: index });
            }
            if self.buf.len() == sealed {
                // A full chunk at the end: the final one, or the file was
                // cut right after it. Keep a copy to tell which.
                let copy = Zeroizing::new(self.buf.to_vec());
                match self.key.open(index, true, &[], &mut self.buf) {
                    Some(len) => len,
                    None => {
                        let mut copy = copy;
                        return Err(match self.key.open(index, false, &[], &mut copy) {
                            Some(_) => Error::ArchiveTruncated { chunks: index + 1 },
                            None => tampered,
                        });
                    }
                }
            } else {
                self.key.open(index, true, &[], &mut self.buf).ok_or(tampered)?
            }
        };
        self.index += 1;
        self.pos = 0;
        self.end = len;
        Ok(())
    }

    /// Reads until `buf` holds `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        let start = self.buf.len();
        self.buf.resize(want, 0);
        let mut have = start;
        while have < want {
            let slice = self.buf.get_mut(have..want).unwrap_or_default();
            match self.inner.read(slice) {
                Ok(0) => break,
                Ok(n) => have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.buf.truncate(have);
        self.read += (have - start) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key32;

    fn key() -> StreamKey {
        StreamKey::new(&Key32::from_bytes([9; 32]))
    }

    fn seal(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut w = ChunkWriter::new(Vec::new(), key(), chunk);
        w.write_all(data).unwrap();
        w.finish().unwrap().0
    }

    fn read_all(sealed: &[u8], chunk: usize) -> Result<Vec<u8>> {
        let mut r = ChunkReader::new(sealed, key(), chunk);
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while r.read_exact(&mut byte)? {
            out.push(byte[0]);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_length_around_the_chunk_size() {
        for len in [1usize, 15, 16, 17, 31, 32, 33, 64, 65] {
            let data: Vec<u8> = (0..len as u8).collect();
            let sealed = seal(&data, 16);
            assert_eq!(sealed.len(), len + len.div_ceil(16) * TAG_LEN, "{len}");
            assert_eq!(read_all(&sealed, 16).unwrap(), data, "{len}");
        }
    }

    #[test]
    fn cuts_swaps_and_appends_are_told_apart() {
        let data = [7u8; 40]; // chunks of 16, 16, 8: sealed 32, 32, 24
        let sealed = seal(&data, 16);
        assert!(matches!(read_all(&sealed[..64], 16), Err(Error::ArchiveTruncated { chunks: 2 })));
        assert!(matches!(read_all(&sealed[..32], 16), Err(Error::ArchiveTruncated { chunks: 1 })));
        assert!(matches!(read_all(&sealed[..0], 16), Err(Error::ArchiveTruncated { chunks: 0 })));
        assert!(matches!(read_all(&sealed[..70], 16), Err(Error::ArchiveTruncated { chunks: 2 })));
        assert!(matches!(read_all(&sealed[..85], 16), Err(Error::ArchiveTampered { chunk: Some(2) })));
        let swapped = [&sealed[32..64], &sealed[..32], &sealed[64..]].concat();
        assert!(matches!(read_all(&swapped, 16), Err(Error::ArchiveTampered { chunk: Some(0) })));
        let appended = [&sealed[..], &[0]].concat();
        assert!(matches!(read_all(&appended, 16), Err(Error::ArchiveTampered { chunk: Some(2) })));
        let dropped = [&sealed[..32], &sealed[64..]].concat();
        assert!(matches!(read_all(&dropped, 16), Err(Error::ArchiveTampered { chunk: Some(1) })));
    }
}
