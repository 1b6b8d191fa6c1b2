//! The matching rules of search (docs/SEARCH.md, "Matching rules"): how a
//! text is cut into tokens, how tokens are folded, and when a message
//! matches a query. The filters (`search::filter`) only narrow the segments
//! a search opens; every hit is decided here, on the decrypted text.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_segmentation::UnicodeSegmentation;

/// One character of a CJK run, folded, with its byte range in the text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub(crate) folded: String,
    pub(crate) range: Range<usize>,
}

/// A token of a text, with where it came from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Letters or digits outside CJK scripts, folded (NFKD, marks dropped,
    /// lower case).
    Word { folded: String, range: Range<usize> },
    /// A run of consecutive CJK characters, one unit each (NFKC).
    Cjk(Vec<Unit>),
    /// A symbol or emoji, without variation selectors.
    Symbol { folded: String, range: Range<usize> },
}

/// Characters of the scripts written without spaces between words (and
/// Hangul, whose spaces fall between phrases), matched as runs of
/// characters: Han, Hiragana, Katakana, Hangul, with their iteration marks
/// and compatibility forms, and Thai, Lao, Myanmar and Khmer (which UAX #29
/// cannot split into words without a dictionary).
pub(crate) fn is_cjk(c: char) -> bool {
    if c < '\u{0E00}' {
        // Latin, Greek, Cyrillic, Hebrew, Arabic, Indic: the common case.
        return false;
    }
    matches!(
        u32::from(c),
        0x0E00..=0x0EFF         // Thai, Lao
            | 0x1000..=0x109F   // Myanmar
            | 0x1100..=0x11FF   // Hangul Jamo
            | 0x1780..=0x17FF   // Khmer
            | 0x19E0..=0x19FF   // Khmer symbols
            | 0x2E80..=0x2FDF   // CJK and Kangxi radicals
            | 0x3005..=0x3007   // 々 〆 〇
            | 0x3021..=0x3029   // Hangzhou numerals
            | 0x3031..=0x3035   // kana repeat marks
            | 0x3038..=0x303C
            | 0x3041..=0x30FF   // Hiragana, Katakana
            | 0x3131..=0x318E   // Hangul compatibility jamo
            | 0x31F0..=0x31FF   // Katakana phonetic extensions
            | 0x3400..=0x4DBF   // CJK extension A
            | 0x4E00..=0x9FFF   // CJK unified ideographs
            | 0xA960..=0xA97F   // Hangul jamo extended-A
            | 0xAC00..=0xD7FF   // Hangul syllables, jamo extended-B
            | 0xF900..=0xFAFF   // CJK compatibility ideographs
            | 0xFF66..=0xFF9F   // halfwidth Katakana
            | 0xFFA0..=0xFFDC   // halfwidth Hangul
            | 0x1B000..=0x1B16F // kana supplement and extended
            | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

/// Characters UAX #29 keeps inside a word that split it here: apostrophes
/// (`l'école`, `don't`), and `.`, `:`, `_` (`john.smith`, `re:meeting`,
/// `report_final`).
fn splits_word(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '.' | ':' | '_')
}

/// Variation selectors: `❤️` and `❤` are one symbol, and `葛󠄀` (with an
/// ideographic variation selector) is `葛`.
fn is_variation_selector(c: char) -> bool {
    matches!(u32::from(c), 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// The marks a word drops: the combining diacritics of Latin, Greek and
/// Cyrillic (the blocks U+0300, U+1AB0, U+1DC0, U+20D0, U+FE20), Hebrew
/// points and Arabic vowel marks. Other marks (the vowel signs of Indic
/// scripts) are part of their letters and stay.
fn is_dropped_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F
            | 0x0591..=0x05BD
            | 0x05BF
            | 0x05C1..=0x05C2
            | 0x05C4..=0x05C5
            | 0x05C7
            | 0x064B..=0x065F
            | 0x0670
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x20D0..=0x20FF
            | 0xFE20..=0xFE2F
    )
}

/// One character folded as words are, appended to `out`: NFKD, the
/// diacritics of [`is_dropped_mark`] dropped, lower-cased, final sigma as
/// sigma.
fn fold_char_into(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    for d in std::iter::once(c).nfkd().filter(|d| !is_dropped_mark(*d)) {
        for l in d.to_lowercase() {
            out.push(if l == 'ς' { 'σ' } else { l });
        }
    }
}

/// Punctuation and other characters that make no symbol token: ASCII and
/// Latin-1 punctuation and signs, the general punctuation block, CJK
/// punctuation, small and fullwidth forms.
fn is_punctuation_like(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0000..=0x00BF | 0x2000..=0x206F | 0x3000..=0x303F | 0xFE10..=0xFE6F | 0xFF00..=0xFF65
    ) || c.is_whitespace()
        || is_combining_mark(c)
        || is_variation_selector(c)
}

/// Whether a character of a run joins the cluster before it, because NFKC
/// composes it with that one: a combining mark (the kana voicing marks, a
/// halfwidth one), or a vowel or final Hangul jamo.
fn attaches(c: char) -> bool {
    if matches!(u32::from(c), 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3) {
        // Kana, unified ideographs, Hangul syllables: stable, never marks.
        return false;
    }
    std::iter::once(c)
        .nfkc()
        .next()
        .is_some_and(|d| is_combining_mark(d) || matches!(u32::from(d), 0x1160..=0x11FF | 0xD7B0..=0xD7FF))
}

/// Where the tokenizer puts what it finds: [`tokens`] collects tokens,
/// and the filters hash terms straight from it
/// (`search::filter::text_terms`), so both follow one implementation of
/// the rules. `folded` is only valid during the call.
pub(crate) trait Sink {
    /// A word token, folded.
    fn word(&mut self, folded: &str, range: Range<usize>);
    /// The next unit of the current run.
    fn unit(&mut self, unit: char, range: Range<usize>);
    /// The current run ended.
    fn end_run(&mut self);
    /// A symbol token, without variation selectors.
    fn symbol(&mut self, folded: &str, range: Range<usize>);
}

/// Sends the tokens of `text`, in order, to `sink`.
pub(crate) fn tokenize(text: &str, sink: &mut impl Sink) {
    // The current cluster of a run (a character and what attaches to it).
    let mut cluster = String::new();
    let mut cluster_range: Option<Range<usize>> = None;
    let mut in_run = false;
    let mut plain_start: Option<usize> = None;
    let mut buf = String::new();
    for (at, c) in text.char_indices() {
        if is_variation_selector(c) && in_run {
            // Inside a run: it selects a glyph, it is not a character.
            continue;
        }
        if is_cjk(c) {
            if let Some(start) = plain_start.take() {
                plain_tokens(text, start..at, sink, &mut buf);
            }
            let end = at + c.len_utf8();
            match &mut cluster_range {
                Some(range) if attaches(c) => {
                    cluster.push(c);
                    range.end = end;
                }
                _ => {
                    end_cluster(&mut cluster, &mut cluster_range, sink);
                    cluster.push(c);
                    cluster_range = Some(at..end);
                }
            }
            in_run = true;
        } else {
            if in_run {
                end_cluster(&mut cluster, &mut cluster_range, sink);
                sink.end_run();
                in_run = false;
            }
            plain_start.get_or_insert(at);
        }
    }
    if in_run {
        end_cluster(&mut cluster, &mut cluster_range, sink);
        sink.end_run();
    }
    if let Some(start) = plain_start {
        plain_tokens(text, start..text.len(), sink, &mut buf);
    }
}

/// Ends a cluster: its NFKC form, one unit per character, each with the
/// cluster's range (`ゟ` gives `よ` and `り`; `か` and a voicing mark give
/// `が`).
fn end_cluster(cluster: &mut String, range: &mut Option<Range<usize>>, sink: &mut impl Sink) {
    if let Some(range) = range.take() {
        for d in cluster.nfkc() {
            sink.unit(d, range.clone());
        }
    }
    cluster.clear();
}

/// Collects tokens.
struct Collect {
    out: Vec<Token>,
    run: Vec<Unit>,
}

impl Sink for Collect {
    fn word(&mut self, folded: &str, range: Range<usize>) {
        self.out.push(Token::Word { folded: folded.to_owned(), range });
    }

    fn unit(&mut self, unit: char, range: Range<usize>) {
        self.run.push(Unit { folded: unit.to_string(), range });
    }

    fn end_run(&mut self) {
        self.out.push(Token::Cjk(std::mem::take(&mut self.run)));
    }

    fn symbol(&mut self, folded: &str, range: Range<usize>) {
        self.out.push(Token::Symbol { folded: folded.to_owned(), range });
    }
}

/// The tokens of `text`, in order.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut collect = Collect { out: Vec::new(), run: Vec::new() };
    tokenize(text, &mut collect);
    collect.out
}

/// Word and symbol tokens of `text[span]` (no CJK in it); `buf` is scratch.
fn plain_tokens(text: &str, span: Range<usize>, sink: &mut impl Sink, buf: &mut String) {
    match text.get(span.clone()) {
        Some(part) if part.is_ascii() => ascii_words(part, span.start, sink, buf),
        _ => uax29_tokens(text, span, sink, buf),
    }
}

/// The words of ASCII `part` (at `offset` in its text): what UAX #29 and
/// the splitting of [`uax29_tokens`] give for ASCII, without their tables.
/// A word is a run of letters and digits, with a `,` or `;` between two
/// digits inside it (UAX #29 keeps `1,000` whole); every other character
/// ends it (`.`, `:`, `'` and `_` are where words are split). ASCII makes
/// no symbol token.
fn ascii_words(part: &str, offset: usize, sink: &mut impl Sink, buf: &mut String) {
    let bytes = part.as_bytes();
    let joins = |i: usize| {
        let digit = |j: Option<&u8>| j.is_some_and(u8::is_ascii_digit);
        matches!(bytes.get(i), Some(b',' | b';'))
            && digit(i.checked_sub(1).and_then(|j| bytes.get(j)))
            && digit(bytes.get(i + 1))
    };
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) || joins(i)) {
            i += 1;
        }
        if let Some(word) = part.get(start..i) {
            buf.clear();
            buf.extend(word.chars().map(|c| c.to_ascii_lowercase()));
            sink.word(buf, offset + start..offset + i);
        }
    }
}

/// Word and symbol tokens of `text[span]` (no CJK in it), split at UAX #29
/// word boundaries.
fn uax29_tokens(text: &str, span: Range<usize>, sink: &mut impl Sink, buf: &mut String) {
    let Some(part) = text.get(span.clone()) else { return };
    for (at, piece) in part.split_word_bound_indices() {
        let range = span.start + at..span.start + at + piece.len();
        if piece.chars().any(char::is_alphanumeric) {
            // UAX #29 keeps "l'école" and "john.smith" whole: split them,
            // so "école" finds "l'école" and "smith" finds "john.smith".
            let mut at = range.start;
            for part in piece.split(splits_word) {
                buf.clear();
                for c in part.chars() {
                    fold_char_into(c, buf);
                }
                if part.chars().any(char::is_alphanumeric) && !buf.is_empty() {
                    sink.word(buf, at..at + part.len());
                }
                // The separator is one to three bytes.
                at += part.len()
                    + text.get(at + part.len()..).and_then(|r| r.chars().next()).map_or(0, char::len_utf8);
            }
        } else if piece.chars().any(|c| !is_punctuation_like(c)) {
            buf.clear();
            buf.extend(piece.chars().filter(|c| !is_variation_selector(*c)));
            sink.symbol(buf, range);
        }
    }
}

/// A parsed search query: the tokens every hit must match.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) tokens: Vec<Token>,
}

// `Debug` shows where and how long, never the words: they are the user's.
impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unit({:?}, {} bytes)", self.range, self.folded.len())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Word { folded, range } => write!(f, "Word({range:?}, {} bytes)", folded.len()),
            Token::Cjk(units) => write!(f, "Cjk({units:?})"),
            Token::Symbol { folded, range } => write!(f, "Symbol({range:?}, {} bytes)", folded.len()),
        }
    }
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Query({:?})", self.tokens)
    }
}

impl Query {
    /// `None` if `text` has no token (empty, or only punctuation).
    pub(crate) fn parse(text: &str) -> Option<Query> {
        let tokens = tokens(text);
        (!tokens.is_empty()).then_some(Query { tokens })
    }

    /// Whether `text` matches every token of the query; if it does, the
    /// byte ranges of `text` that matched, sorted and merged.
    pub(crate) fn matches(&self, text: &str) -> Option<Vec<Range<usize>>> {
        if !self.may_match(text) {
            return None;
        }
        let have = tokens(text);
        let mut ranges = Vec::new();
        for want in &self.tokens {
            let before = ranges.len();
            for got in &have {
                token_matches(want, got, &mut ranges);
            }
            if ranges.len() == before {
                return None;
            }
        }
        ranges.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        Some(merged)
    }
}

impl Query {
    /// A quick necessary condition, without tokenizing: every query word
    /// occurs in the text folded character by character (folding is done
    /// per character, so a word token's fold is a piece of the text's);
    /// and, in a text without compatibility forms of CJK characters, every
    /// unit of every query CJK run occurs in the text as written.
    fn may_match(&self, text: &str) -> bool {
        let mut folded: Option<String> = None;
        let mut variants: Option<bool> = None;
        for t in &self.tokens {
            match t {
                Token::Word { folded: w, .. } => {
                    if !folded.get_or_insert_with(|| fold_chars(text)).contains(w.as_str()) {
                        return false;
                    }
                }
                Token::Cjk(units) => {
                    if !*variants.get_or_insert_with(|| text.chars().any(has_cjk_variant))
                        && units.iter().any(|u| !text.contains(u.folded.as_str()))
                    {
                        return false;
                    }
                }
                Token::Symbol { .. } => {}
            }
        }
        true
    }
}

/// `text` folded as words are, character by character.
fn fold_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char_into(c, &mut out);
    }
    out
}

/// Whether a character of a run folds (NFKC) to something else, composes
/// with the one before it, or is skipped inside a run (a variation
/// selector): then the run's units need not occur in the text as written.
/// The common blocks (unified ideographs, kana, Hangul syllables, Thai,
/// which neither fold nor compose) are checked first.
fn has_cjk_variant(c: char) -> bool {
    if matches!(u32::from(c), 0x0E01..=0x0E7F | 0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3)
    {
        return false;
    }
    is_variation_selector(c)
        || (is_cjk(c) && (attaches(c) || !std::iter::once(c).nfkc().eq(std::iter::once(c))))
}

/// Adds to `ranges` where message token `got` matches query token `want`.
fn token_matches(want: &Token, got: &Token, ranges: &mut Vec<Range<usize>>) {
    match (want, got) {
        (Token::Word { folded: w, .. }, Token::Word { folded: g, range }) if g.starts_with(w.as_str()) => {
            ranges.push(range.clone());
        }
        (Token::Symbol { folded: w, .. }, Token::Symbol { folded: g, range }) if g == w => {
            ranges.push(range.clone());
        }
        (Token::Cjk(w), Token::Cjk(g)) if !w.is_empty() => {
            for window in g.windows(w.len()) {
                if window.iter().zip(w).all(|(a, b)| a.folded == b.folded)
                    && let (Some(first), Some(last)) = (window.first(), window.last())
                {
                    ranges.push(first.range.start..last.range.end);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(query: &str, text: &str) -> Option<Vec<&'static str>> {
        let q = Query::parse(query).expect("a query");
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        q.matches(text).map(|rs| rs.into_iter().map(|r| &text[r]).collect())
    }

    #[test]
    fn latin_words_fold_case_and_diacritics_and_match_as_prefixes() {
        assert_eq!(hits("cafe", "Un Café, s'il vous plaît"), Some(vec!["Café"]));
        assert_eq!(hits("ECOLE", "à l'école demain"), Some(vec!["école"]));
        assert_eq!(hits("bonj", "Bonjour tout le monde"), Some(vec!["Bonjour"]));
        assert_eq!(hits("plait", "s'il vous plaît"), Some(vec!["plaît"]));
        assert_eq!(hits("onjour", "bonjour"), None, "words match from their start");
        assert_eq!(hits("bonjour monde", "bonjour à tous"), None, "every token must match");
        assert_eq!(hits("see 8", "see you at 8"), Some(vec!["see", "8"]));
        assert_eq!(hits("2024", "in 2024-05"), Some(vec!["2024"]));
        assert_eq!(hits("il", "s’il vous plaît"), Some(vec!["il"]));
        assert_eq!(hits("smith", "mail john.smith now"), Some(vec!["smith"]));
        assert_eq!(hits("final", "report_final.pdf"), Some(vec!["final"]));
        assert_eq!(hits("οδος", "ΟΔΟΣ"), Some(vec!["ΟΔΟΣ"]));
        assert_eq!(hits("ecole", "l‘école"), Some(vec!["école"]));
        assert_eq!(hits("don't", "I don't know"), Some(vec!["don", "t"]));
    }

    #[test]
    fn cjk_matches_any_run_of_characters() {
        assert_eq!(hits("东京", "我明天去东京出差"), Some(vec!["东京"]));
        assert_eq!(hits("京", "我明天去东京出差"), Some(vec!["京"]));
        assert_eq!(hits("明天 出差", "我明天去东京出差"), Some(vec!["明天", "出差"]));
        assert_eq!(hits("京东", "我明天去东京出差"), None);
        assert_eq!(hits("に住", "東京都に住む"), Some(vec!["に住"]));
        assert_eq!(hits("コンピュータ", "新しいコンピューターを買った"), Some(vec!["コンピュータ"]));
        assert_eq!(hits("학교", "학교에서 만나요"), Some(vec!["학교"]));
        assert_eq!(hits("에서", "학교에서 만나요"), Some(vec!["에서"]));
        // Halfwidth katakana fold to fullwidth, voicing marks compose.
        assert_eq!(hits("カタ", "ｶﾀｶﾅ"), Some(vec!["ｶﾀ"]));
        assert_eq!(hits("ガ", "ｶﾞｷ"), Some(vec!["ｶﾞ"]));
        assert_eq!(hits("が", "か\u{3099}き"), Some(vec!["か\u{3099}"]));
        assert_eq!(hits("하", "\u{1112}\u{1161}늘"), Some(vec!["\u{1112}\u{1161}"]));
        // Compatibility forms and variation selectors.
        assert_eq!(hits("より", "ゟ"), Some(vec!["ゟ"]));
        assert_eq!(hits("你", "\u{2F804}"), Some(vec!["\u{2F804}"]));
        assert_eq!(hits("葛飾", "葛\u{E0100}飾区"), Some(vec!["葛\u{E0100}飾"]));
        // Thai is matched as a run of characters, Indic vowel signs stay.
        assert_eq!(hits("สวัสดี", "สวัสดีครับ"), Some(vec!["สวัสดี"]));
        assert_eq!(hits("ครับ", "สวัสดีครับ"), Some(vec!["ครับ"]));
        assert_eq!(hits("काम", "मेरा कमरा"), None);
        assert_eq!(hits("काम", "मेरा काम"), Some(vec!["काम"]));
        // Mixed with Latin, no spaces.
        assert_eq!(hits("iphone", "我的iPhone坏了"), Some(vec!["iPhone"]));
        assert_eq!(hits("坏了", "我的iPhone坏了"), Some(vec!["坏了"]));
    }

    #[test]
    fn symbols_and_emoji_are_tokens() {
        assert_eq!(hits("🙂", "see you 🙂"), Some(vec!["🙂"]));
        assert_eq!(hits("❤", "love ❤️"), Some(vec!["❤️"]));
        assert_eq!(hits("🙂", "see you"), None);
        assert!(Query::parse("  ,.!? ").is_none());
        assert!(Query::parse("").is_none());
    }

    /// The quick check never turns away a text the full match takes.
    #[test]
    fn the_quick_check_is_a_necessary_condition() {
        let pool: Vec<char> =
            "aAéÉeEcCçÇﬁFi' -.,東京都学校ｶﾀｶﾅカタ학교에서ㄱ兀⺀🙂❤\u{FE0F}\u{301}ßSS1２".chars().collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut checked = 0;
        for _ in 0..20_000 {
            let text: String = (0..next(12)).map(|_| pool[next(pool.len())]).collect();
            let query: String = (0..1 + next(4)).map(|_| pool[next(pool.len())]).collect();
            let Some(q) = Query::parse(&query) else { continue };
            let full = {
                let have = tokens(&text);
                q.tokens.iter().all(|w| {
                    let mut r = Vec::new();
                    have.iter().for_each(|g| token_matches(w, g, &mut r));
                    !r.is_empty()
                })
            };
            if full {
                assert!(q.may_match(&text), "{query:?} matches {text:?}, yet the quick check refuses it");
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} matching pairs");
    }

    /// The ASCII fast path gives exactly what UAX #29 and the splitting
    /// give, ranges included.
    #[test]
    fn ascii_words_are_what_uax29_gives() {
        let pool = b"aZk09 .,;:'_-!?\n\t";
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..50_000 {
            let text: String = (0..next(16)).map(|_| char::from(pool[next(pool.len())])).collect();
            let mut fast = Collect { out: Vec::new(), run: Vec::new() };
            let mut slow = Collect { out: Vec::new(), run: Vec::new() };
            ascii_words(&text, 0, &mut fast, &mut String::new());
            uax29_tokens(&text, 0..text.len(), &mut slow, &mut String::new());
            assert!(fast.out == slow.out, "{text:?}: {:?} against {:?}", fast.out, slow.out);
        }
        let mut t = Collect { out: Vec::new(), run: Vec::new() };
        ascii_words("pay 1,000;2 now: l'ecole_x.y", 0, &mut t, &mut String::new());
        let words: Vec<String> = t
            .out
            .iter()
            .map(|t| match t {
                Token::Word { folded, .. } => folded.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(words, ["pay", "1,000;2", "now", "l", "ecole", "x", "y"]);
    }

    #[test]
    fn ranges_are_merged_and_sorted() {
        let q = Query::parse("东 东京 see").unwrap();
        assert_eq!(q.matches("东京 see"), Some(vec![0..6, 7..10]));
    }
}
