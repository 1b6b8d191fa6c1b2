//! The frame around the plaintext of metadata and segments in envelope
//! version 2 (docs/DESIGN.md, "Record plaintexts"): a codec byte, the
//! payload's length, the payload (a postcard record, or a zstd frame of
//! one), and zero padding to a Padmé length.
//!
//! ```text
//!  0       1            5                  5+n                 padme(5+n)
//!  ┌───────┬────────────┬──────────────────┬───────────────────┐
//!  │ codec │ n (u32 BE) │ payload (n)      │ zero padding      │
//!  └───────┴────────────┴──────────────────┴───────────────────┘
//! ```

use std::cell::RefCell;

use zeroize::Zeroizing;

/// Codec byte: the payload is the record itself.
pub(crate) const CODEC_STORED: u8 = 0;
/// Codec byte: the payload is one zstd frame of the record.
pub(crate) const CODEC_ZSTD: u8 = 1;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 5;
/// The largest record a zstd payload may declare: larger claims are damage,
/// so a tampered or corrupted frame cannot make a read allocate without bound.
pub(crate) const MAX_DECODED: usize = 4 << 20;
/// zstd level used when compressing (zstd's default: fast, and within a few
/// percent of the higher levels on chat text).
const ZSTD_LEVEL: i32 = 3;

/// Padmé: rounds `len` up so that only its top ⌊log2 ⌊log2 len⌋⌋ + 1 bits
/// may be non-zero. At most 12% larger.
pub(crate) fn padme(len: usize) -> usize {
    // Within u64 on every platform; the result fits in usize when `len`
    // is a buffer's length (12% more than any allocation's).
    usize::try_from(padme_u64(len as u64)).unwrap_or(usize::MAX)
}

/// [`padme`] on 64-bit lengths (attachments, docs/ATTACHMENTS.md).
pub(crate) fn padme_u64(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = len.ilog2();
    let s = e.ilog2() + 1;
    let z = e - s;
    let mask = (1u64 << z) - 1;
    len.saturating_add(mask) & !mask
}

/// Frames `record`, compressed with `compressor` if given and shorter.
/// `None` only if the record is too large for a frame (over 4 GiB).
pub(crate) fn frame(
    record: &[u8],
    compressor: Option<&mut zstd::bulk::Compressor<'static>>,
) -> Option<Zeroizing<Vec<u8>>> {
    // A reader refuses zstd frames declaring more than MAX_DECODED, so a
    // larger record (a segment of several big messages) is stored as is.
    if let Some(compressor) = compressor.filter(|_| record.len() <= MAX_DECODED) {
        let bound = zstd::zstd_safe::compress_bound(record.len());
        // Sized for the worst case up front, so the buffer never reallocates
        // (which would leave an unwiped copy) and padding fits in place.
        let mut buf = Zeroizing::new(vec![0u8; padme(HEADER_LEN + bound)]);
        if let Some(end) = buf.get_mut(HEADER_LEN..HEADER_LEN + bound)
            && let Ok(n) = compressor.compress_to_buffer(record, end)
            && n < record.len()
        {
            let n32 = u32::try_from(n).ok()?;
            buf[0] = CODEC_ZSTD;
            buf[1..HEADER_LEN].copy_from_slice(&n32.to_be_bytes());
            let total = padme(HEADER_LEN + n);
            buf[HEADER_LEN + n..].fill(0);
            buf.truncate(total);
            return Some(buf);
        }
    }
    let n32 = u32::try_from(record.len()).ok()?;
    let mut buf = Zeroizing::new(vec![0u8; padme(HEADER_LEN + record.len())]);
    buf[0] = CODEC_STORED;
    buf[1..HEADER_LEN].copy_from_slice(&n32.to_be_bytes());
    buf[HEADER_LEN..HEADER_LEN + record.len()].copy_from_slice(record);
    Some(buf)
}

/// A new compressor for [`frame`].
pub(crate) fn compressor() -> Option<zstd::bulk::Compressor<'static>> {
    zstd::bulk::Compressor::new(ZSTD_LEVEL).ok()
}

/// A frame's record: borrowed from the frame, or decompressed.
pub(crate) enum Record<'a> {
    Stored(&'a [u8]),
    Decompressed(Zeroizing<Vec<u8>>),
}

impl Record<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Record::Stored(b) => b,
            Record::Decompressed(b) => b,
        }
    }
}

thread_local! {
    /// One decompression context per thread, reused across reads.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Checks a frame and returns its record; `Err` says what is wrong.
pub(crate) fn unframe(frame: &[u8]) -> Result<Record<'_>, &'static str> {
    let (&codec, rest) = frame.split_first().ok_or("empty frame")?;
    let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or("frame too short")?;
    let n = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| "frame length out of range")?;
    let end = HEADER_LEN.checked_add(n).ok_or("frame length out of range")?;
    let payload = frame.get(HEADER_LEN..end).ok_or("frame payload runs past its end")?;
    if frame.len() != padme(end) {
        return Err("frame padding has the wrong length");
    }
    if frame[end..].iter().any(|&b| b != 0) {
        return Err("frame padding is not zero");
    }
    match codec {
        CODEC_STORED => Ok(Record::Stored(payload)),
        CODEC_ZSTD => {
            if zstd::zstd_safe::find_frame_compressed_size(payload) != Ok(payload.len()) {
                return Err("zstd payload is not exactly one frame");
            }
            let size = zstd::zstd_safe::get_frame_content_size(payload)
                .ok()
                .flatten()
                .ok_or("zstd frame does not declare its size")?;
            let size =
                usize::try_from(size).ok().filter(|&s| s <= MAX_DECODED).ok_or("zstd frame too large")?;
            let mut out = Zeroizing::new(vec![0u8; size]);
            let written = DECOMPRESSOR.with(|cell| {
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = zstd::bulk::Decompressor::new().ok();
                }
                let d = slot.as_mut().ok_or("no zstd decompression context")?;
                d.decompress_to_buffer(payload, out.as_mut_slice())
                    .map_err(|_| "zstd frame does not decompress")
            })?;
            if written != size {
                return Err("zstd frame is shorter than it declares");
            }
            Ok(Record::Decompressed(out))
        }
        _ => Err("unknown frame codec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_paper() {
        // Values from the definition: only the top ⌊log2 ⌊log2 L⌋⌋ + 1 bits stay.
        let cases = [(0, 0), (1, 1), (2, 2), (5, 5), (9, 10), (100, 104), (1000, 1024), (5000, 5120)];
        for (len, want) in cases {
            assert_eq!(padme(len), want, "padme({len})");
        }
        for len in 2..100_000usize {
            let p = padme(len);
            assert!(p >= len && (p - len) * 100 <= len * 12, "padme({len}) = {p}");
            assert!(padme(p) == p, "padme is idempotent at {len}");
        }
    }

    #[test]
    fn frames_round_trip_stored_and_compressed() {
        let text = "bonjour 你好 👋 ".repeat(200);
        let mut c = compressor().unwrap();
        for compressor in [None, Some(&mut c)] {
            let compress = compressor.is_some();
            let f = frame(text.as_bytes(), compressor).unwrap();
            assert_eq!(f.len(), padme(f.len()));
            assert_eq!(f[0], if compress { CODEC_ZSTD } else { CODEC_STORED });
            assert!(!compress || f.len() < text.len() / 4, "repetitive text compresses");
            assert_eq!(unframe(&f).unwrap().bytes(), text.as_bytes());
        }
    }

    #[test]
    fn incompressible_records_are_stored() {
        let mut c = compressor().unwrap();
        let f = frame(&[0x42], Some(&mut c)).unwrap();
        assert_eq!(&f[..], &[CODEC_STORED, 0, 0, 0, 1, 0x42]);
    }

    #[test]
    fn damaged_frames_are_rejected() {
        let mut c = compressor().unwrap();
        let good = frame("hello hello hello hello hello hello".as_bytes(), Some(&mut c)).unwrap();
        assert!(unframe(&good).is_ok());
        let mut bad_codec = good.clone();
        bad_codec[0] = 7;
        assert_eq!(unframe(&bad_codec).err(), Some("unknown frame codec"));
        let mut long = good.clone();
        long[4] = long[4].wrapping_add(1);
        assert!(unframe(&long).is_err());
        let mut padded = good.to_vec();
        padded.push(0);
        assert!(unframe(&padded).is_err());
        assert!(unframe(&[]).is_err());
        assert!(unframe(&[0, 0, 0]).is_err());
        // A stored frame whose padding is not zero.
        let mut stored = frame(&[1; 4], None).unwrap().to_vec();
        assert_eq!(stored.len(), 10);
        stored[9] = 1;
        assert_eq!(unframe(&stored).err(), Some("frame padding is not zero"));
    }

    #[test]
    fn a_zstd_payload_is_exactly_one_frame() {
        let one = zstd::bulk::compress(b"hello hello hello hello hello hello", 3).unwrap();
        let two = [one.clone(), zstd::bulk::compress(b"", 3).unwrap()].concat();
        for (payload, ok) in [(one, true), (two, false)] {
            let mut f = vec![CODEC_ZSTD];
            f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
            f.extend_from_slice(&payload);
            f.resize(padme(f.len()), 0);
            assert_eq!(unframe(&f).is_ok(), ok);
        }
    }

    #[test]
    fn records_too_large_to_decompress_are_stored_uncompressed() {
        let big = vec![b'a'; MAX_DECODED + 1];
        let mut c = compressor().unwrap();
        let f = frame(&big, Some(&mut c)).unwrap();
        assert_eq!(f[0], CODEC_STORED);
        assert_eq!(unframe(&f).unwrap().bytes(), &big[..]);
        let fits = vec![b'a'; MAX_DECODED];
        assert_eq!(frame(&fits, Some(&mut c)).unwrap()[0], CODEC_ZSTD);
    }

    #[test]
    fn oversized_zstd_claims_are_rejected() {
        let big = vec![0u8; MAX_DECODED + 1];
        let z = zstd::bulk::compress(&big, 1).unwrap();
        let mut f = vec![CODEC_ZSTD];
        f.extend_from_slice(&u32::try_from(z.len()).unwrap().to_be_bytes());
        f.extend_from_slice(&z);
        f.resize(padme(f.len()), 0);
        assert_eq!(unframe(&f).err(), Some("zstd frame too large"));
    }
}
