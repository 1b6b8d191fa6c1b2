//! The attachment chunk reader (docs/ATTACHMENTS.md, "Content"): an
//! attachment's sealed stream is changed as the input says (bytes
//! flipped, cut or added, chunks swapped, duplicated or taken from another
//! attachment, the claimed length changed) and read at the ranges the
//! input names. Every read must return exactly the original bytes of its
//! range, or fail as tampering or damage; nothing may panic.

use super::Input;
use crate::crypto::{Key32, StreamKey};
use crate::error::Error;
use crate::format::attachment::{Layout, TAG_LEN, chunk_ad};
use crate::ids::ConversationId;
use crate::store::internals::reader_over;

const STORE_ID: [u8; 16] = [0x51; 16];
const CONVERSATION: u64 = 7;
const BLOB: [u8; 16] = [0xB1; 16];
const OTHER_BLOB: [u8; 16] = [0xB2; 16];

/// What one input did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The stream was changed (or its claimed length).
    pub changed: bool,
    /// Reads that returned bytes, and reads that failed.
    pub reads_ok: usize,
    pub reads_failed: usize,
}

/// `len` bytes of content from `seed`.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// The sealed stream of `data` as the writer lays it out, under `key` and `blob`.
fn seal(data: &[u8], key: &Key32, blob: &[u8; 16], shift: u8) -> Option<Vec<u8>> {
    let layout = Layout::new(data.len() as u64, shift)?;
    let stream = StreamKey::new(key);
    let mut plain = data.to_vec();
    plain.resize(usize::try_from(layout.padded()).ok()?, 0);
    let chunks = layout.chunks();
    let mut out = Vec::new();
    for i in 0..chunks {
        let start = usize::try_from(i << shift).ok()?;
        let end = start + usize::try_from(layout.plain_len(i)).ok()?;
        let mut buf = plain.get(start..end)?.to_vec();
        let last = i + 1 == chunks;
        stream.seal(i, last, &chunk_ad(&STORE_ID, CONVERSATION, blob, i, last), &mut buf);
        out.extend_from_slice(&buf);
    }
    Some(out)
}

/// Runs one input: `Err` if a read returned bytes that are not the
/// original's, or an error that is neither tampering nor damage, or if an
/// unchanged stream did not read back.
pub fn run(data: &[u8]) -> Result<Outcome, String> {
    let mut input = Input::new(data);
    let shift = 12 + input.byte() % 3; // 4 to 16 KiB chunks: several per input
    let len = usize::from(input.u16()) % 40_000;
    let original = content(input.byte(), len);
    let key = Key32::from_bytes([0x4B; 32]);
    let Some(sealed) = seal(&original, &key, &BLOB, shift) else { return Ok(Outcome::default()) };
    let other =
        seal(&content(0xEE, len), &Key32::from_bytes([0x4C; 32]), &OTHER_BLOB, shift).unwrap_or_default();
    let sealed_chunk = (1usize << shift) + TAG_LEN as usize;
    let mut stream = sealed.clone();
    let mut claimed = len as u64;
    for _ in 0..input.byte() % 4 {
        let a = usize::from(input.u16());
        let b = usize::from(input.u16());
        match input.byte() % 7 {
            0 => {
                if !stream.is_empty() {
                    let at = a % stream.len();
                    stream[at] ^= 1 << (b % 8);
                }
            }
            1 => stream.truncate(a % (stream.len() + 1)),
            2 => stream.extend(std::iter::repeat_n(0u8, 1 + a % 64)),
            3 => {
                let n = stream.len() / sealed_chunk;
                if n >= 2 {
                    let (i, j) = (a % n, b % n);
                    let (x, y) = (i.min(j), i.max(j));
                    if x != y {
                        let (head, tail) = stream.split_at_mut(y * sealed_chunk);
                        head[x * sealed_chunk..(x + 1) * sealed_chunk]
                            .swap_with_slice(&mut tail[..sealed_chunk]);
                    }
                }
            }
            4 => {
                let n = stream.len().min(other.len()) / sealed_chunk;
                if n >= 1 {
                    let i = a % n;
                    let range = i * sealed_chunk..(i + 1) * sealed_chunk;
                    stream[range.clone()].copy_from_slice(&other[range]);
                }
            }
            5 => {
                let n = stream.len() / sealed_chunk;
                if n >= 2 {
                    let (i, j) = (a % n, b % n);
                    let chunk = stream[i * sealed_chunk..(i + 1) * sealed_chunk].to_vec();
                    stream[j * sealed_chunk..(j + 1) * sealed_chunk].copy_from_slice(&chunk);
                }
            }
            _ => claimed = (a as u64) % 40_000,
        }
    }
    let changed = stream != sealed || claimed != len as u64;
    let mut outcome = Outcome { changed, ..Outcome::default() };
    let c = ConversationId::from_raw(CONVERSATION);
    let mut reader = match reader_over(stream, &key, STORE_ID, c, BLOB, claimed, shift) {
        Ok(r) => r,
        Err(e) if changed && damage(&e) => return Ok(outcome),
        Err(e) => return Err(format!("opening the stream failed with {e:?} (changed: {changed})")),
    };
    let mut buf = vec![0u8; 20_000];
    let reads = if input.is_empty() { 4 } else { 1 + input.byte() % 8 };
    for r in 0..reads {
        let offset = if input.is_empty() { (r as u64) * (len as u64) / 4 } else { u64::from(input.u16()) };
        let want = if input.is_empty() { 20_000 } else { usize::from(input.u16()) % buf.len() };
        match reader.read_at(offset, &mut buf[..want]) {
            Ok(n) => {
                outcome.reads_ok += 1;
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let real = original.get(start..start.saturating_add(n));
                // Past the real end (a claimed length within the same
                // padded bucket) the stream holds padding or content the
                // claim hides: only bytes inside the original are checked.
                if start.saturating_add(n) <= len && real != buf.get(..n) {
                    return Err(format!("read at {offset} returned bytes that are not the content's"));
                }
                if !changed && n == 0 && want > 0 && start < len {
                    return Err(format!("an unchanged stream read nothing at {offset}"));
                }
            }
            Err(e) if changed && damage(&e) => outcome.reads_failed += 1,
            Err(e) => return Err(format!("read at {offset} failed with {e:?} (changed: {changed})")),
        }
    }
    Ok(outcome)
}

fn damage(e: &Error) -> bool {
    matches!(e, Error::Authentication { .. } | Error::Corrupt { .. })
}

/// Seeds: each kind of change, and streams left alone.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let base = |shift: u8, len: u16, seed: u8| {
        let mut v = vec![shift];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(seed);
        v
    };
    let with = |mut v: Vec<u8>, changes: &[(u8, u16, u16)], reads: &[(u16, u16)]| {
        v.push(changes.len() as u8);
        for &(kind, a, b) in changes {
            v.extend_from_slice(&a.to_be_bytes());
            v.extend_from_slice(&b.to_be_bytes());
            v.push(kind);
        }
        v.push(reads.len().saturating_sub(1) as u8);
        for &(o, n) in reads {
            v.extend_from_slice(&o.to_be_bytes());
            v.extend_from_slice(&n.to_be_bytes());
        }
        v
    };
    let reads = [(0, 5000), (4090, 200), (12_000, 9000), (29_000, 4000)];
    vec![
        ("unchanged", with(base(0, 30_000, 1), &[], &reads)),
        ("unchanged-empty", with(base(1, 0, 2), &[], &[(0, 10)])),
        ("flip", with(base(0, 30_000, 3), &[(0, 5000, 3)], &reads)),
        ("cut-at-chunk", with(base(0, 30_000, 4), &[(1, 4112 * 2, 0)], &reads)),
        ("extended", with(base(2, 30_000, 5), &[(2, 10, 0)], &reads)),
        ("swapped", with(base(0, 30_000, 6), &[(3, 0, 2)], &reads)),
        ("spliced", with(base(0, 30_000, 7), &[(4, 1, 0)], &reads)),
        ("duplicated", with(base(1, 30_000, 8), &[(5, 0, 1)], &reads)),
        ("claimed-length", with(base(0, 30_000, 9), &[(6, 29_990, 0)], &reads)),
    ]
}
