//! Search (docs/SEARCH.md): a page of hits with their match ranges, and
//! the backfill that indexes an upgraded store.

use std::time::Duration;

use chatvault::{ConversationId, MessageId, SearchCursor, SearchQuery};

use crate::raw;
use crate::status::{chatvault_status, guard};
use std::ffi::c_char;

use crate::types::{
    chatvault_index_report, chatvault_match_list, chatvault_search_page, chatvault_search_query,
    chatvault_store,
};

/// Finds messages by their words, newest first, and writes a page of hits
/// to `*out`; free it with `chatvault_search_page_free`. A message matches
/// when it has every word of `query->text` (CJK text as consecutive
/// characters, other words as prefixes, case and accents folded). Each hit
/// carries the byte ranges of its text that matched.
///
/// A query with nothing to look for (only punctuation) fails with
/// `CHATVAULT_STATUS_INVALID_ARGUMENT`; an unknown conversation with
/// `CHATVAULT_STATUS_NOT_FOUND`.
///
/// # Safety
/// `store`, `query` and `out` are NULL or valid; the texts in `query` are
/// NULL (with length 0) or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_search(
    store: *const chatvault_store,
    query: *const chatvault_search_query,
    out: *mut *mut chatvault_search_page,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, texts valid for their lengths.
        let (store, out, q) =
            unsafe { (raw::store(store)?, raw::out(out, "out")?, raw::search_query(query)?) };
        let page = store.search(&search_query(&q))?;
        out.write(raw::search_page_out(&page));
        Ok(())
    })
}

/// The library's query from C's.
fn search_query(q: &raw::SearchArgs<'_>) -> SearchQuery {
    let mut query = SearchQuery::new(q.text).limit(q.limit);
    if let Some(c) = q.conversation {
        query = query.in_conversation(ConversationId::from_raw(c));
    }
    if let Some(sender) = q.sender {
        query = query.from_sender(sender);
    }
    query = query.between(q.from_ms, q.until_ms);
    if let Some(after) = q.after {
        let message = MessageId::new(ConversationId::from_raw(after.message.conversation), after.message.seq);
        query = query.after(SearchCursor { sent_at_ms: after.sent_at_ms, message });
    }
    query
}

/// Whether `text` (UTF-8, `text_len` bytes) matches `query->text` by
/// search's rules (`chatvault_search`'s), without a store: for highlighting
/// a text the app already holds. Writes the byte ranges of `text` that
/// matched to `*out` (free it with `chatvault_match_list_free`), or NULL if
/// the text does not match or the query has no word to look for. Only
/// `query->text` is used: its other conditions concern stored messages.
///
/// # Safety
/// `query` and `out` are NULL or valid; `text` and the texts in `query` are
/// NULL (with length 0) or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_search_matches(
    query: *const chatvault_search_query,
    text: *const c_char,
    text_len: usize,
    out: *mut *mut chatvault_match_list,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid, texts valid for their lengths.
        let (out, q, text) =
            unsafe { (raw::out(out, "out")?, raw::search_query(query)?, raw::text(text, text_len, "text")?) };
        let ranges = search_query(&q).matches(text);
        out.write(ranges.map_or(std::ptr::null_mut(), |r| raw::match_list_out(&r)));
        Ok(())
    })
}

/// Frees a match list; NULL does nothing.
///
/// # Safety
/// `list` is NULL or came from `chatvault_search_matches`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_match_list_free(list: *mut chatvault_match_list) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::match_list_free(list) };
        Ok(())
    });
}

/// Frees a search page; NULL does nothing.
///
/// # Safety
/// `page` is NULL or came from `chatvault_search`, and is not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_search_page_free(page: *mut chatvault_search_page) {
    guard(|| {
        // SAFETY: the caller's promise.
        unsafe { raw::search_page_free(page) };
        Ok(())
    });
}

/// Gives search filters to the segments of an upgraded store that have
/// none yet, until none is left or `time_budget_ms` milliseconds have
/// passed (0: no budget). Writes what it did to `*out`
/// (`segments_remaining` 0: the index is complete). Searches are complete
/// before it finishes, only slower. (It takes a budget rather than a
/// progress callback: run it with a short budget, again and again, to
/// keep it interruptible.)
///
/// # Safety
/// `store` and `out` are NULL or valid; `out->struct_size` is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_index_for_search(
    store: *const chatvault_store,
    time_budget_ms: u64,
    out: *mut chatvault_index_report,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out_struct(out, "out")?) };
        let budget = (time_budget_ms > 0).then(|| Duration::from_millis(time_budget_ms));
        let r = store.index_for_search(budget)?;
        out.write(chatvault_index_report {
            struct_size: 0,
            segments_indexed: r.segments_indexed,
            segments_remaining: r.segments_remaining,
            segments_skipped: r.segments_skipped,
        });
        Ok(())
    })
}
