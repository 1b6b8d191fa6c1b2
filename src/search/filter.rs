//! Segment term filters (docs/SEARCH.md, "Terms in a filter" and "The
//! filter record"): the terms a text gives, the probes a query needs, and
//! the Bloom filter record sealed beside each segment.

use serde::{Deserialize, Serialize};

use std::ops::Range;

use super::text::{Query, Sink, Token, tokenize};

/// Bits per distinct term.
const BITS_PER_TERM: usize = 10;
/// Bit positions per term.
pub(crate) const PROBES: u8 = 6;
/// Word prefixes indexed: 2 to this many characters.
const MAX_PREFIX_CHARS: usize = 8;
/// The largest filter a reader accepts (a segment holds at most 64 KiB of
/// plaintext in a few messages, or one message of at most 1 MiB): a
/// forged length cannot make a reader allocate without bound.
const MAX_BITS_BYTES: usize = 4 << 20;

/// Term tags, so a word prefix, a CJK gram and a symbol never share a term.
const TAG_WORD: u8 = b'w';
const TAG_CJK: u8 = b'c';
const TAG_SYMBOL: u8 = b's';

/// FNV-1a, 64 bits, streaming.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new(tag: u8) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325).bytes(&[tag])
    }

    fn bytes(mut self, bytes: &[u8]) -> Fnv {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// The term's hash: FNV-1a finished with splitmix64's mixer.
    fn finish(self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Hashes terms as the tokenizer finds them (no token is kept).
struct Terms<'a> {
    out: &'a mut Vec<u64>,
    /// The hash of the run's previous unit, for the pair it starts.
    previous: Option<Fnv>,
}

impl Sink for Terms<'_> {
    fn word(&mut self, folded: &str, _: Range<usize>) {
        let mut h = Fnv::new(TAG_WORD);
        for (n, c) in folded.chars().take(MAX_PREFIX_CHARS).enumerate() {
            h = h.bytes(c.encode_utf8(&mut [0; 4]).as_bytes());
            if n >= 1 {
                self.out.push(h.finish());
            }
        }
    }

    fn unit(&mut self, unit: char, _: Range<usize>) {
        let mut utf8 = [0; 4];
        let unit = unit.encode_utf8(&mut utf8).as_bytes();
        let one = Fnv::new(TAG_CJK).bytes(unit);
        self.out.push(one.finish());
        if let Some(previous) = self.previous {
            self.out.push(previous.bytes(unit).finish());
        }
        self.previous = Some(one);
    }

    fn end_run(&mut self) {
        self.previous = None;
    }

    fn symbol(&mut self, folded: &str, _: Range<usize>) {
        self.out.push(Fnv::new(TAG_SYMBOL).bytes(folded.as_bytes()).finish());
    }
}

/// Adds the term hashes of a message's text to `out` (docs/SEARCH.md,
/// "Terms in a filter").
pub(crate) fn text_terms(text: &str, out: &mut Vec<u64>) {
    tokenize(text, &mut Terms { out, previous: None });
}

/// The terms a filter must hold for a segment to possibly match `query`.
pub(crate) fn probes(query: &Query) -> Vec<u64> {
    let mut out = Vec::new();
    for token in &query.tokens {
        match token {
            Token::Word { folded, .. } => {
                if folded.chars().nth(1).is_some() {
                    let end = folded.char_indices().nth(MAX_PREFIX_CHARS).map_or(folded.len(), |(i, _)| i);
                    let prefix = folded.get(..end).unwrap_or(folded);
                    out.push(Fnv::new(TAG_WORD).bytes(prefix.as_bytes()).finish());
                }
            }
            Token::Cjk(units) => {
                if let [one] = units.as_slice() {
                    out.push(Fnv::new(TAG_CJK).bytes(one.folded.as_bytes()).finish());
                }
                for pair in units.windows(2) {
                    if let [a, b] = pair {
                        out.push(
                            Fnv::new(TAG_CJK).bytes(a.folded.as_bytes()).bytes(b.folded.as_bytes()).finish(),
                        );
                    }
                }
            }
            Token::Symbol { folded, .. } => out.push(Fnv::new(TAG_SYMBOL).bytes(folded.as_bytes()).finish()),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A segment's filter: its messages' time span and a Bloom filter of
/// their terms. Its postcard encoding is the record sealed as kind 6;
/// [`FilterView`] reads the same encoding without copying the bits.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilterRecord {
    /// The largest `sent_at_ms` of the segment's messages.
    pub(crate) newest_ms: i64,
    /// The smallest.
    pub(crate) oldest_ms: i64,
    /// Bit positions per term ([`PROBES`]).
    pub(crate) probes: u8,
    /// The bits, a multiple of 8 bytes.
    pub(crate) bits: Vec<u8>,
}

/// A [`FilterRecord`] borrowed from its decoded plaintext (a search reads
/// thousands: the bits are not copied).
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct FilterView<'a> {
    pub(crate) newest_ms: i64,
    pub(crate) oldest_ms: i64,
    pub(crate) probes: u8,
    #[serde(borrow, with = "borrowed_bytes")]
    pub(crate) bits: &'a [u8],
}

// `Debug` leaves out the bits and the times: they tell what and when the
// user wrote.
impl std::fmt::Debug for FilterRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FilterRecord({} probes, {} bytes)", self.probes, self.bits.len())
    }
}

impl std::fmt::Debug for FilterView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FilterView({} probes, {} bytes)", self.probes, self.bits.len())
    }
}

/// postcard writes a `Vec<u8>` as a length and the bytes, as it writes a
/// byte string: read it borrowed.
mod borrowed_bytes {
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&'de [u8] as serde::Deserialize<'de>>::deserialize(d)
    }
}

impl FilterView<'_> {
    /// Whether the filter may hold every probe (false: it surely does not).
    pub(crate) fn may_hold_all(&self, probes: &[u64]) -> bool {
        probes.iter().all(|&h| {
            positions(self.bits.len(), self.probes, h)
                .all(|bit| self.bits.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0))
        })
    }

    /// Checks a decoded record: what a reader refuses as damage.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.probes == 0 || self.probes > 32 {
            return Err("a filter's probe count is out of range");
        }
        if self.bits.is_empty() || !self.bits.len().is_multiple_of(8) || self.bits.len() > MAX_BITS_BYTES {
            return Err("a filter's bit array has an impossible length");
        }
        if self.oldest_ms > self.newest_ms {
            return Err("a filter's time span is reversed");
        }
        Ok(())
    }

    /// The same filter, owned.
    pub(crate) fn to_record(self) -> FilterRecord {
        FilterRecord {
            newest_ms: self.newest_ms,
            oldest_ms: self.oldest_ms,
            probes: self.probes,
            bits: self.bits.to_vec(),
        }
    }
}

/// Bit positions of a term hash in a filter of `len` bytes.
fn positions(len: usize, probes: u8, h: u64) -> impl Iterator<Item = usize> {
    let m = (len as u64).saturating_mul(8).max(1);
    let (h1, h2) = (h & 0xFFFF_FFFF, (h >> 32) | 1);
    (0..u64::from(probes)).map(move |i| usize::try_from(h1.wrapping_add(i.wrapping_mul(h2)) % m).unwrap_or(0))
}

impl FilterRecord {
    /// This filter, borrowed (for probing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn view(&self) -> FilterView<'_> {
        FilterView {
            newest_ms: self.newest_ms,
            oldest_ms: self.oldest_ms,
            probes: self.probes,
            bits: &self.bits,
        }
    }

    /// The filter of a segment's messages, given as (text, `sent_at_ms`).
    pub(crate) fn of_messages<'a>(messages: impl IntoIterator<Item = (&'a str, i64)>) -> FilterRecord {
        let mut hashes = Vec::new();
        let mut span: Option<(i64, i64)> = None;
        for (text, sent_at_ms) in messages {
            text_terms(text, &mut hashes);
            span = Some(
                span.map_or((sent_at_ms, sent_at_ms), |(lo, hi)| (lo.min(sent_at_ms), hi.max(sent_at_ms))),
            );
        }
        let (oldest_ms, newest_ms) = span.unwrap_or((0, 0));
        FilterRecord::build(hashes, oldest_ms, newest_ms)
    }

    /// The filter of term hashes `terms` (any order, repeats allowed) for
    /// messages sent from `oldest_ms` to `newest_ms`.
    pub(crate) fn build(mut terms: Vec<u64>, oldest_ms: i64, newest_ms: i64) -> FilterRecord {
        terms.sort_unstable();
        terms.dedup();
        let bits = (terms.len().saturating_mul(BITS_PER_TERM)).div_ceil(64).max(1) * 64;
        let mut filter = FilterRecord {
            newest_ms,
            oldest_ms,
            probes: PROBES,
            bits: vec![0; (bits / 8).min(MAX_BITS_BYTES)],
        };
        for h in terms {
            for bit in positions(filter.bits.len(), filter.probes, h) {
                if let Some(byte) = filter.bits.get_mut(bit / 8) {
                    *byte |= 1 << (bit % 8);
                }
            }
        }
        filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(texts: &[&str]) -> FilterRecord {
        let mut hashes = Vec::new();
        for t in texts {
            text_terms(t, &mut hashes);
        }
        FilterRecord::build(hashes, 0, 0)
    }

    #[test]
    fn a_filter_holds_every_probe_of_every_matching_query() {
        let texts =
            ["Bonjour à tous", "我明天去东京出差", "학교에서 만나요", "see you 🙂 at 8", "Café crème"];
        let f = filter_of(&texts);
        for q in ["bonj", "bonjour", "tous", "东京", "京", "明天去东京", "학교", "🙂", "8", "cafe creme", "b"]
        {
            let q = Query::parse(q).unwrap();
            assert!(f.view().may_hold_all(&probes(&q)), "{q:?}");
        }
        assert!(f.view().check().is_ok());
    }

    #[test]
    fn a_filter_rules_out_most_absent_terms() {
        let f = filter_of(&["the quick brown fox jumps over the lazy dog"]);
        let absent =
            (0..1000).filter(|i| f.view().may_hold_all(&probes(&Query::parse(&format!("zz{i}")).unwrap())));
        assert!(absent.count() < 60, "too many false positives");
    }

    #[test]
    fn the_hash_is_pinned() {
        // docs/SEARCH.md: splitmix64(fnv1a64(term)); pinned so a change of
        // the function (which would orphan every filter written) fails here.
        assert_eq!(Fnv::new(b'w').bytes(b"bo").finish(), Fnv(fnv_reference(b"wbo")).finish());
        assert_eq!(fnv_reference(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv_reference(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    fn fnv_reference(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
    }
}
