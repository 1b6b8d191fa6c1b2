//! `search`: finding messages by their words (docs/SEARCH.md).

use std::io::IsTerminal;

use chatvault::{MessageId, SearchCursor, SearchQuery};
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::cli::SearchArgs;
use crate::failure::{CliResult, Failure};
use crate::output;
use crate::{Ctx, message_id};

/// Runs a search and prints one page of hits, newest first.
pub fn run(ctx: &Ctx, args: &SearchArgs) -> CliResult<()> {
    let store = ctx.open()?;
    let mut q = SearchQuery::new(args.query.join(" ")).limit(args.limit);
    if let Some(c) = &args.conversation {
        q = q.in_conversation(ctx.conversation(&store, c)?);
    }
    if let Some(s) = &args.sender {
        q = q.from_sender(s.clone());
    }
    let from_ms = args.since.as_deref().map(|d| day_start(&ctx.tz, d)).transpose()?;
    let until_ms = args.until.as_deref().map(|d| day_start(&ctx.tz, d)).transpose()?;
    q = q.between(from_ms, until_ms);
    if let Some(cursor) = &args.after {
        q = q.after(parse_cursor(cursor)?);
    }
    let page = store.search(&q)?;
    let next = page.next.map(cursor_text);
    if ctx.json {
        let hits: Vec<Value> = page
            .hits
            .iter()
            .map(|h| {
                let mut v = output::message_json(&h.message);
                v["matches"] = Value::Array(h.ranges.iter().map(|r| json!([r.start, r.end])).collect());
                v
            })
            .collect();
        output::print_json(&json!({
            "hits": hits,
            "next": next,
            "unindexed_segments": page.unindexed_segments,
        }));
        return Ok(());
    }
    if page.hits.is_empty() {
        say!("No messages match {:?}.", q.text);
    }
    let bold = std::io::stdout().is_terminal();
    for h in &page.hits {
        let m = &h.message;
        let mut text = String::new();
        let mut at = 0;
        for r in &h.ranges {
            let (Some(before), Some(hit)) = (m.text.get(at..r.start), m.text.get(r.clone())) else {
                continue;
            };
            text.push_str(before);
            if bold {
                text.push_str(&format!("\x1b[1m{hit}\x1b[0m"));
            } else {
                text.push_str(&format!("[{hit}]"));
            }
            at = r.end;
        }
        text.push_str(m.text.get(at..).unwrap_or(""));
        say!(
            "{:>10}  {}  {}: {}",
            m.id.to_string(),
            output::time(m.sent_at_ms, &ctx.tz),
            output::one_line(&m.sender),
            output::one_line(&text)
        );
    }
    if let Some(next) = next {
        say!("(more: --after {next})");
    }
    if page.unindexed_segments > 0 {
        say!(
            "({} of this store {} no search index yet: the results are complete, but slower; `chatvault \
             compact` builds it)",
            crate::output::plural(page.unindexed_segments, "segment"),
            if page.unindexed_segments == 1 { "has" } else { "have" }
        );
    }
    Ok(())
}

/// Midnight at the start of `date` (YYYY-MM-DD) in the time zone `tz`, in
/// milliseconds since the Unix epoch (`search --since`, and `browse`'s jump
/// to a date).
pub fn day_start(tz: &jiff::tz::TimeZone, date: &str) -> CliResult<i64> {
    let day: Date = date
        .parse()
        .map_err(|_| Failure::user(format!("{date:?} is not a date: write YYYY-MM-DD, e.g. 2024-05-17")))?;
    let start = tz
        .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
        .map_err(|e| Failure::user(format!("{date}: not a day in this time zone ({e})")))?;
    Ok(start.as_millisecond())
}

/// A page cursor as `search` prints it: `<sent_at_ms>@<conversation>/<seq>`.
fn cursor_text(c: SearchCursor) -> String {
    format!("{}@{}", c.sent_at_ms, c.message)
}

fn parse_cursor(s: &str) -> CliResult<SearchCursor> {
    let bad = || {
        Failure::user(format!("{s:?} is not a search cursor: pass what the last page printed after --after"))
    };
    let (ms, id) = s.split_once('@').ok_or_else(bad)?;
    let sent_at_ms = ms.parse().map_err(|_| bad())?;
    let message: MessageId = message_id(id).map_err(|_| bad())?;
    Ok(SearchCursor { sent_at_ms, message })
}
