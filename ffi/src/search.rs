//! Search (docs/SEARCH.md): a page of hits with their match ranges, and
//! the backfill that indexes an upgraded store.

use std::time::Duration;

use chatvault::{ConversationId, MessageId, SearchCursor, SearchQuery};

use crate::raw;
use crate::status::{chatvault_status, guard};
use crate::types::{chatvault_search_page, chatvault_search_query, chatvault_store};

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
        let mut query = SearchQuery::new(q.text).limit(q.limit);
        if q.conversation != 0 {
            query = query.in_conversation(ConversationId::from_raw(q.conversation));
        }
        if let Some(sender) = q.sender {
            query = query.from_sender(sender);
        }
        let from = (q.from_ms != i64::MIN).then_some(q.from_ms);
        let until = (q.until_ms != i64::MAX).then_some(q.until_ms);
        query = query.between(from, until);
        if q.after.message.conversation != 0 {
            let message =
                MessageId::new(ConversationId::from_raw(q.after.message.conversation), q.after.message.seq);
            query = query.after(SearchCursor { sent_at_ms: q.after.sent_at_ms, message });
        }
        let page = store.search(&query)?;
        out.write(raw::search_page_out(&page));
        Ok(())
    })
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
/// passed (0: no budget). Writes how many are still left to
/// `*out_remaining` (0: the index is complete). Searches are complete
/// before it finishes, only slower.
///
/// # Safety
/// `store` and `out_remaining` are NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn chatvault_index_for_search(
    store: *const chatvault_store,
    time_budget_ms: u64,
    out_remaining: *mut u64,
) -> chatvault_status {
    guard(|| {
        // SAFETY: the caller's promise: pointers NULL or valid.
        let (store, out) = unsafe { (raw::store(store)?, raw::out(out_remaining, "out_remaining")?) };
        let budget = (time_budget_ms > 0).then(|| Duration::from_millis(time_budget_ms));
        out.write(store.index_for_search(budget)?.segments_remaining);
        Ok(())
    })
}
