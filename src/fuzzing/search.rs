//! The search harness (docs/SEARCH.md): the filter record decoder, the
//! tokenizer and matcher, and a search over a filter the input forged.
//!
//! Input layout (past the end, every byte reads as zero):
//!
//! ```text
//! length  u16 BE, then that many bytes: a filter record plaintext (framed)
//! length  u16 BE, then that many bytes: a query (UTF-8, lossily)
//! the rest: message texts separated by 0x00 bytes (UTF-8, lossily)
//! ```
//!
//! Checks: decoding never panics, and what it accepts re-encodes to a
//! record that decodes to the same value; tokenizing never panics; every
//! match's ranges lie inside the text on character boundaries; and (the
//! property search's completeness rests on) the filter of any text that
//! matches a query holds every probe of that query. Then the forged record
//! is sealed, with the conversation's real key, as the filter of a real
//! segment: a search must answer or fail with `Corrupt`, never panic.

use super::ensure;
use super::input::Input;
use crate::Store;
use crate::error::Error;
use crate::format::{frame, records};
use crate::search::SearchQuery;
use crate::search::filter::{self, FilterRecord};
use crate::search::text::Query;
use crate::store::internals::forge_filter;
use crate::types::NewConversation;

/// The harness conversation's external id.
const CONVERSATION: &str = "fuzz-search";

/// Runs one input against `store` (created by [`super::create_store`]).
pub fn run(store: &Store, data: &[u8]) -> Result<(), String> {
    let mut input = Input::new(data);
    let n = usize::from(input.u16());
    let plain = input.bytes(n).to_vec();
    let n = usize::from(input.u16());
    let query_text = String::from_utf8_lossy(input.bytes(n)).into_owned();
    let rest = input.bytes(usize::MAX);
    let texts: Vec<String> =
        rest.split(|b| *b == 0).map(|t| String::from_utf8_lossy(t).into_owned()).collect();

    // The decoder on its own.
    if let Ok(record) = frame::unframe(&plain)
        && let Some(f) = records::decode::<FilterRecord>(record.bytes())
        && f.view().check().is_ok()
    {
        let again = records::encode(&f).ok_or("an accepted filter does not encode")?;
        ensure(records::decode::<FilterRecord>(&again).as_ref() == Some(&f), || {
            "an accepted filter does not re-encode to itself".into()
        })?;
    }

    // The matching rules and the filters' completeness.
    if let Some(query) = Query::parse(&query_text) {
        let probes = filter::probes(&query);
        for text in &texts {
            let Some(ranges) = query.matches(text) else { continue };
            for r in &ranges {
                ensure(text.get(r.clone()).is_some(), || format!("range {r:?} is not inside the text"))?;
            }
            let f = FilterRecord::of_messages([(text.as_str(), 0)]);
            ensure(f.view().may_hold_all(&probes), || {
                "a matching text's filter lacks a probe of the query".into()
            })?;
        }
    }

    // A forged (but authentic) filter under a real search.
    let c = match store.find_conversation(CONVERSATION).map_err(|e| e.to_string())? {
        Some(c) => c,
        None => store
            .create_conversation(NewConversation {
                external_id: Some(CONVERSATION.into()),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?,
    };
    forge_filter(store, c, texts.first().map_or("", String::as_str), &plain).map_err(|e| e.to_string())?;
    let q = SearchQuery::new(if query_text.trim().is_empty() { "a" } else { query_text.as_str() })
        .in_conversation(c);
    match store.search(&q) {
        Ok(_) | Err(Error::Corrupt { .. } | Error::InvalidArgument(_)) => Ok(()),
        Err(e) => Err(format!("a forged filter made search fail with {e:?}")),
    }
}

/// Seed inputs for the corpus: a valid filter, a CJK query and texts.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let texts = ["我明天去东京出差", "Bonjour à tous, l'école", "see you 🙂"];
    let mut out = Vec::new();
    for (name, query) in [("cjk", "东京"), ("latin", "ecole bonj"), ("emoji", "🙂"), ("none", "zebra")] {
        let f = FilterRecord::of_messages(texts.iter().map(|t| (*t, 1)));
        let framed = records::seal_plaintext(&f, None).map(|z| z.to_vec()).unwrap_or_default();
        let mut data = Vec::new();
        data.extend_from_slice(&u16::try_from(framed.len()).unwrap_or(0).to_be_bytes());
        data.extend_from_slice(&framed);
        data.extend_from_slice(&u16::try_from(query.len()).unwrap_or(0).to_be_bytes());
        data.extend_from_slice(query.as_bytes());
        data.extend_from_slice(texts.join("\0").as_bytes());
        out.push((name, data));
    }
    out
}
