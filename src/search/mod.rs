//! Message search (docs/SEARCH.md): the matching rules (`text`), the
//! sealed per-segment term filters (`filter`), and the values
//! [`crate::Store::search`] takes and returns. Pure functions on text and
//! bytes; the store reads and writes the filters.

pub(crate) mod filter;
pub(crate) mod text;

use std::ops::Range;

use crate::ids::{ConversationId, MessageId};
use crate::types::Message;

/// A search: what to find, where, and which page of the hits. Its `Debug`
/// output leaves out the words and the sender (they are the user's).
#[derive(Clone, Default)]
pub struct SearchQuery {
    /// The words to find: a message matches when it has every one (words
    /// as prefixes of its words, CJK text as consecutive characters;
    /// docs/SEARCH.md, "Matching rules").
    pub text: String,
    /// Only this conversation (default: the whole store).
    pub conversation: Option<ConversationId>,
    /// Only messages from this sender (exact).
    pub sender: Option<String>,
    /// Only messages sent at or after this time (ms since the Unix epoch).
    pub from_ms: Option<i64>,
    /// Only messages sent before this time.
    pub until_ms: Option<i64>,
    /// At most this many hits (0 means [`SearchQuery::DEFAULT_LIMIT`]; at
    /// most [`SearchQuery::MAX_LIMIT`]).
    pub limit: usize,
    /// The page after this one: [`SearchPage::next`] of the previous page.
    pub after: Option<SearchCursor>,
}

impl SearchQuery {
    /// Hits per page when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The largest page.
    pub const MAX_LIMIT: usize = 10_000;

    /// A search of the whole store for `text`, newest hits first.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery { text: text.into(), ..Default::default() }
    }

    /// Only in conversation `c`.
    pub fn in_conversation(mut self, c: ConversationId) -> Self {
        self.conversation = Some(c);
        self
    }

    /// Only from `sender`.
    pub fn from_sender(mut self, sender: impl Into<String>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// Only sent in `[from_ms, until_ms)`.
    pub fn between(mut self, from_ms: Option<i64>, until_ms: Option<i64>) -> Self {
        self.from_ms = from_ms;
        self.until_ms = until_ms;
        self
    }

    /// At most `limit` hits.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page after `cursor`.
    pub fn after(mut self, cursor: SearchCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Whether `text` matches this query's words by search's rules
    /// (docs/SEARCH.md, "Matching rules"), and if so the byte ranges of
    /// `text` that matched: for highlighting a text the app holds, or
    /// checking a search against a scan. `None` if it does not match, or
    /// the query has no word.
    pub fn matches(&self, text: &str) -> Option<Vec<Range<usize>>> {
        text::Query::parse(&self.text)?.matches(text)
    }
}

impl std::fmt::Debug for SearchQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchQuery")
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .field("conversation", &self.conversation)
            .field("sender", &self.sender.as_ref().map(|_| format_args!("<redacted>")))
            .field("from_ms", &self.from_ms)
            .field("until_ms", &self.until_ms)
            .field("limit", &self.limit)
            .field("after", &self.after)
            .finish()
    }
}

/// Where a page of hits ended: hits are ordered by (sent time,
/// conversation, sequence number), newest first, and the next page starts
/// strictly after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SearchCursor {
    /// The last hit's `sent_at_ms`.
    pub sent_at_ms: i64,
    /// The last hit's id.
    pub message: MessageId,
}

/// One message that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The message.
    pub message: Message,
    /// Byte ranges of `message.text` that matched, sorted and disjoint,
    /// for highlighting.
    pub ranges: Vec<Range<usize>>,
}

/// A page of hits, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// The hits.
    pub hits: Vec<SearchHit>,
    /// Pass it as [`SearchQuery::after`] for the next page; `None` when
    /// there is none (the page was not full). A full page may be followed
    /// by an empty one.
    pub next: Option<SearchCursor>,
    /// Segments this search had to open without a filter, because the
    /// store was upgraded and [`crate::Store::index_for_search`] has not
    /// reached them yet: the results are complete, the search slower.
    pub unindexed_segments: u64,
}

/// What [`crate::Store::index_for_search`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Segments given a filter by this call.
    pub segments_indexed: u64,
    /// Segments still without one (0: the index is complete): those
    /// skipped, and any left when the time budget ran out.
    pub segments_remaining: u64,
    /// Segments that could not be read (damaged: [`crate::Store::verify`]
    /// reports them) and filter rows without a segment, skipped.
    pub segments_skipped: u64,
}
