//! The comparison's workload, the same for every engine: chatvault and
//! plaintext SQLite in one worker process (the main workspace's
//! `examples/compare_worker.rs`), SQLCipher and SQLCipher without a key in
//! the other (this crate), because SQLCipher's `libsqlite3-sys` features
//! cannot share a build with chatvault's SQLite.
//!
//! Both workers include this file with `#[path]`. It depends only on the
//! corpus crate and std, so both sides load exactly the same data and time
//! exactly the same calls. Inputs are built outside the timed parts.

use std::time::{Duration, Instant};

use chatvault_corpus::{ConversationSpec, MessageSpec};

/// One store under test.
pub trait Engine {
    /// A batch converted to the engine's own input type (untimed).
    type Batch;
    /// Converts `(conversation index, message)` pairs; `round` is appended
    /// to external ids so a replayed message is new, not a duplicate.
    fn prepare(&self, batch: &[(usize, MessageSpec)], round: usize) -> Self::Batch;
    /// Appends a batch in one transaction (the batch is dropped untimed).
    fn append(&mut self, batch: &Self::Batch);
    /// The newest `limit` messages of a conversation; returns how many.
    fn page_latest(&mut self, conv: usize, limit: usize) -> usize;
    /// The `limit` messages before sequence number `seq`; returns how many.
    fn page_before(&mut self, conv: usize, seq: u64, limit: usize) -> usize;
    /// The `limit` most recently active conversations with their last
    /// message and unread count; returns how many.
    fn recent(&mut self, limit: usize) -> usize;
    /// Replaces a message's text, one transaction.
    fn edit(&mut self, conv: usize, seq: u64, text: &str);
    /// Deletes a message, one transaction.
    fn delete(&mut self, conv: usize, seq: u64);
    /// Replaces the texts of many messages, one transaction.
    fn edit_many(&mut self, items: &[(usize, u64)], text: &str);
    /// Deletes many messages, one transaction.
    fn delete_many(&mut self, items: &[(usize, u64)]);
    /// chatvault's `compact`; `VACUUM` for the SQLite engines.
    fn compact(&mut self);
    /// Closes the store: everything checkpointed, nothing left in a WAL.
    fn close(&mut self);
    /// Opens it again and reads the first line of the conversation list.
    fn open(&mut self);
    /// Bytes of the store's files (database, WAL), closed.
    fn bytes_on_disk(&self) -> u64;
    /// Whether it has a search index ([`Params::search`]).
    fn can_search(&self) -> bool {
        false
    }
    /// The newest `limit` messages matching `case` (in conversation `conv`
    /// only, if given), with their texts; returns how many.
    fn search(&mut self, _case: &SearchCase, _conv: Option<usize>, _limit: usize) -> usize {
        0
    }
    /// How many messages match `case`.
    fn search_count(&mut self, _case: &SearchCase, _conv: Option<usize>) -> usize {
        0
    }
    /// Bytes of its search index, closed, if it can tell them apart.
    fn index_bytes(&self) -> Option<u64> {
        None
    }
}

/// One query of the search comparison: the words a user types (chatvault's
/// query) and the FTS5 expression an app would run for them.
pub struct SearchCase {
    /// `search_<name>_us`, `search_<name>_compacted_us` and `search_<name>_hits`.
    pub latency_metric: &'static str,
    pub compacted_metric: &'static str,
    pub hits_metric: &'static str,
    /// What it is, for the tables (the report reads it, the workers do not).
    #[allow(dead_code)]
    pub label: &'static str,
    /// chatvault's query (the SQLCipher worker does not read it).
    #[allow(dead_code)]
    pub words: &'static str,
    /// The FTS5 `MATCH` expression.
    pub fts: &'static str,
    /// Only in the largest conversation.
    pub in_big: bool,
}

/// The rare word planted in one message of every [`RARE_EVERY`] of the
/// search corpus.
pub const RARE_WORD: &str = "zanzibar";
pub const RARE_EVERY: usize = 1000;

/// The search comparison's queries (issue 18): a common word, a rare word,
/// a two-character Chinese word, a prefix, a phrase, one conversation, and
/// a Japanese and a Korean word.
pub const SEARCH_CASES: &[SearchCase] = &[
    SearchCase {
        latency_metric: "search_common_us",
        compacted_metric: "search_common_compacted_us",
        hits_metric: "search_common_hits",
        label: "common word (good)",
        words: "good",
        fts: "good",
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_rare_us",
        compacted_metric: "search_rare_compacted_us",
        hits_metric: "search_rare_hits",
        label: "rare word (0.1% of messages)",
        words: RARE_WORD,
        fts: RARE_WORD,
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_zh2_us",
        compacted_metric: "search_zh2_compacted_us",
        hits_metric: "search_zh2_hits",
        label: "two-character Chinese word (明天)",
        words: "明天",
        fts: "明天",
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_prefix_us",
        compacted_metric: "search_prefix_compacted_us",
        hits_metric: "search_prefix_hits",
        label: "prefix (tomor, FTS5 tomor*)",
        words: "tomor",
        fts: "tomor*",
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_phrase_us",
        compacted_metric: "search_phrase_compacted_us",
        hits_metric: "search_phrase_hits",
        label: "two words (see you; FTS5 as a phrase)",
        words: "see you",
        fts: "\"see you\"",
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_conversation_us",
        compacted_metric: "search_conversation_compacted_us",
        hits_metric: "search_conversation_hits",
        label: "common word in one conversation",
        words: "good",
        fts: "good",
        in_big: true,
    },
    SearchCase {
        latency_metric: "search_ja_us",
        compacted_metric: "search_ja_compacted_us",
        hits_metric: "search_ja_hits",
        label: "Japanese word (東京)",
        words: "東京",
        fts: "東京",
        in_big: false,
    },
    SearchCase {
        latency_metric: "search_ko_us",
        compacted_metric: "search_ko_compacted_us",
        hits_metric: "search_ko_hits",
        label: "Korean word (학교, written 학교에서)",
        words: "학교",
        fts: "학교",
        in_big: false,
    },
];

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Messages in the store.
    pub messages: usize,
    /// Conversations they are spread over (Zipf-like sizes).
    pub conversations: usize,
    /// Repetitions of each latency measurement (the median is reported).
    pub reps: usize,
    /// If not 0, only the spread sync: this many messages in batches of
    /// [`BATCH`], each holding one message of every conversation (of
    /// `conversations`, all the same size), timed per [`WINDOW`] messages.
    pub spread: usize,
    /// If not 0, only the short-line corpus: this many short messages
    /// (median about 45 bytes, `chatvault_corpus::short_line`) with short
    /// server ids (a hexadecimal counter), over `conversations`, each
    /// appended in its own transaction as a live chat writes them; then
    /// bytes on disk as written and after compaction / `VACUUM`.
    pub short: usize,
    /// If not 0, only the search comparison: this many messages of the
    /// default corpus (one of every [`RARE_EVERY`] with [`RARE_WORD`]),
    /// ingested in transactions of [`BATCH`] with indexing, then every
    /// [`SEARCH_CASES`] query: latency of the newest [`PAGE`] hits and the
    /// number of hits.
    pub search: usize,
}

/// The corpus seed: the same data on every side.
pub const SEED: u64 = 2026;
/// Messages per burst-ingest transaction.
pub const BATCH: usize = 1000;
/// Messages per page.
pub const PAGE: usize = 50;
/// Single appends, edits and deletes timed (one transaction each).
pub const SINGLES: usize = 300;
/// Messages per window of the spread sync's throughput figures.
pub const WINDOW: usize = 100_000;
/// Messages per batched edit or delete.
pub const BATCHED: usize = 100;
/// The deep page is the one before this sequence number.
pub const DEEP: u64 = 1_000;

/// The data: conversations and their messages in arrival order.
pub struct Data {
    pub convs: Vec<ConversationSpec>,
    pub stream: Vec<(usize, MessageSpec)>,
    /// The largest conversation, whose pages are read.
    pub big: usize,
}

impl Data {
    /// The corpus for `p`; an error if its largest conversation is too small
    /// for the deep page (before #1,000) and the edits and deletes.
    pub fn new(p: &Params) -> Result<Data, String> {
        if p.spread > 0 {
            // Every conversation the same size; messages generated as they are sent.
            let mut convs = chatvault_corpus::conversations(SEED, p.conversations, p.spread);
            for c in &mut convs {
                c.messages = p.spread.div_ceil(p.conversations.max(1));
            }
            return Ok(Data { convs, stream: Vec::new(), big: 0 });
        }
        if p.short > 0 {
            let convs = chatvault_corpus::conversations(SEED, p.conversations, p.short);
            let mut rng = chatvault_corpus::Rng::new(SEED);
            let stream = chatvault_corpus::interleaved(SEED, &convs)
                .enumerate()
                .map(|(k, (c, m))| {
                    let m = MessageSpec {
                        external_id: format!("{k:x}"),
                        text: chatvault_corpus::short_line(&mut rng),
                        ..m
                    };
                    (c, m)
                })
                .collect();
            return Ok(Data { convs, stream, big: 0 });
        }
        if p.search > 0 {
            let convs = chatvault_corpus::conversations(SEED, p.conversations, p.search);
            let big = (0..convs.len()).max_by_key(|&i| convs[i].messages).ok_or("no conversations")?;
            let stream = chatvault_corpus::interleaved(SEED, &convs)
                .enumerate()
                .map(|(k, (c, mut m))| {
                    if k % RARE_EVERY == RARE_EVERY - 1 {
                        m.text.push(' ');
                        m.text.push_str(RARE_WORD);
                    }
                    (c, m)
                })
                .collect();
            return Ok(Data { convs, stream, big });
        }
        let convs = chatvault_corpus::conversations(SEED, p.conversations, p.messages);
        let big = (0..convs.len()).max_by_key(|&i| convs[i].messages).ok_or("no conversations")?;
        // Singles at 1 + k * step, batched ones at 2 + k * step: step >= 2.
        let need = (DEEP + PAGE as u64).max(2 * (2 * SINGLES as u64 + 1));
        if (convs[big].messages as u64) < need {
            return Err(format!(
                "the largest conversation has {} messages, fewer than the {need} the workload reads and edits: \
                 use more --messages or fewer --conversations",
                convs[big].messages
            ));
        }
        let stream = chatvault_corpus::interleaved(SEED, &convs).collect();
        Ok(Data { convs, stream, big })
    }
}

/// One measured figure: `(metric, value)`; the units are in the name.
pub type Figure = (&'static str, f64);

/// The median (the mean of the two middle values for an even count); `None`
/// for no values.
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    match xs.len() {
        0 => None,
        n if n % 2 == 1 => Some(xs[mid]),
        _ => Some((xs[mid - 1] + xs[mid]) / 2.0),
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median latency, in µs, of `reps` calls of `f` after a warm-up.
fn latency(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..reps.div_ceil(10) {
        f();
    }
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                micros(t.elapsed())
            })
            .collect(),
    )
    .unwrap_or(f64::NAN)
}

/// Runs the workload on an engine that already holds `data.convs` (empty),
/// returning its figures in a fixed order.
pub fn run<E: Engine>(e: &mut E, data: &Data, p: &Params) -> Vec<Figure> {
    if p.spread > 0 {
        return spread(e, data, p);
    }
    if p.short > 0 {
        return short(e, data);
    }
    if p.search > 0 {
        return search(e, data, p);
    }
    let mut out = Vec::new();
    let n = data.stream.len() as f64;

    // Burst ingest: the whole corpus in 1,000-message transactions.
    out.push(("ingest_messages_per_s", n / burst_ingest(e, data).as_secs_f64()));

    // Single appends onto the full store, one transaction each.
    let mut spent = Duration::ZERO;
    for m in data.stream.iter().take(SINGLES) {
        let batch = e.prepare(std::slice::from_ref(m), 1);
        let t = Instant::now();
        e.append(&batch);
        spent += t.elapsed();
    }
    out.push(("append_single_per_s", SINGLES as f64 / spent.as_secs_f64()));

    let pages = |e: &mut E, out: &mut Vec<Figure>, suffix: &'static [&'static str; 3]| {
        let big = data.big;
        out.push((suffix[0], latency(p.reps, || assert_eq!(e.page_latest(big, PAGE), PAGE))));
        out.push((suffix[1], latency(p.reps, || assert_eq!(e.page_before(big, DEEP, PAGE), PAGE))));
        let want = PAGE.min(data.convs.len());
        out.push((suffix[2], latency(p.reps, || assert_eq!(e.recent(PAGE), want))));
    };
    pages(e, &mut out, &["page_latest_us", "page_deep_us", "list_recent_50_us"]);

    // Edits and deletes, spread over the big conversation's history.
    let big_len = data.convs[data.big].messages as u64;
    let step = (big_len / (2 * SINGLES as u64 + 1)).max(1);
    let t = Instant::now();
    for i in 0..SINGLES as u64 {
        e.edit(data.big, 1 + (2 * i) * step, "edited: see you at 8 instead 🙂");
    }
    out.push(("edit_per_s", SINGLES as f64 / t.elapsed().as_secs_f64()));
    let t = Instant::now();
    for i in 0..SINGLES as u64 {
        e.delete(data.big, 1 + (2 * i + 1) * step);
    }
    out.push(("delete_per_s", SINGLES as f64 / t.elapsed().as_secs_f64()));

    // The same numbers of edits and deletes in batches of BATCHED, one
    // transaction each, on the messages next to the single ones.
    let near = |i: u64| (data.big, 2 + i * step);
    let t = Instant::now();
    for chunk in (0..SINGLES as u64).collect::<Vec<_>>().chunks(BATCHED) {
        let items: Vec<(usize, u64)> = chunk.iter().map(|&i| near(2 * i)).collect();
        e.edit_many(&items, "edited in a batch: see you at 9 🙂");
    }
    out.push(("edit_batch_per_s", SINGLES as f64 / t.elapsed().as_secs_f64()));
    let t = Instant::now();
    for chunk in (0..SINGLES as u64).collect::<Vec<_>>().chunks(BATCHED) {
        let items: Vec<(usize, u64)> = chunk.iter().map(|&i| near(2 * i + 1)).collect();
        e.delete_many(&items);
    }
    out.push(("delete_batch_per_s", SINGLES as f64 / t.elapsed().as_secs_f64()));

    e.close();
    // SINGLES single appends and 2 * SINGLES deletes.
    let total = n - SINGLES as f64;
    out.push(("bytes_per_message", e.bytes_on_disk() as f64 / total));
    let opens: Vec<f64> = (0..p.reps.clamp(5, 30))
        .map(|_| {
            let t = Instant::now();
            e.open();
            let d = micros(t.elapsed());
            e.close();
            d
        })
        .collect();
    out.push(("open_us", median(opens).unwrap_or(f64::NAN)));
    e.open();

    let t = Instant::now();
    e.compact();
    out.push(("compact_messages_per_s", total / t.elapsed().as_secs_f64()));
    e.close();
    out.push(("bytes_per_message_compacted", e.bytes_on_disk() as f64 / total));
    e.open();
    pages(
        e,
        &mut out,
        &["page_latest_compacted_us", "page_deep_compacted_us", "list_recent_50_compacted_us"],
    );
    e.close();
    out
}

/// Appends the whole corpus in transactions of [`BATCH`]; returns the time
/// spent in the appends (inputs are converted untimed).
fn burst_ingest<E: Engine>(e: &mut E, data: &Data) -> Duration {
    let mut spent = Duration::ZERO;
    for chunk in data.stream.chunks(BATCH) {
        let batch = e.prepare(chunk, 0);
        let t = Instant::now();
        e.append(&batch);
        spent += t.elapsed();
    }
    spent
}

/// The search comparison ([`Params::search`]): ingest with indexing, then
/// each query's latency (newest [`PAGE`] hits, with their texts) and hit
/// count, and the bytes on disk.
fn search<E: Engine>(e: &mut E, data: &Data, p: &Params) -> Vec<Figure> {
    let n = data.stream.len().max(1) as f64;
    let mut out = vec![("search_ingest_messages_per_s", n / burst_ingest(e, data).as_secs_f64())];
    // Each query's latency under `metric`, and with `count`, its hits.
    let queries = |e: &mut E, out: &mut Vec<Figure>, metric: fn(&SearchCase) -> &'static str, count: bool| {
        if !e.can_search() {
            return;
        }
        for case in SEARCH_CASES {
            let conv = case.in_big.then_some(data.big);
            out.push((
                metric(case),
                latency(p.reps, || {
                    e.search(case, conv, PAGE);
                }),
            ));
            if count {
                out.push((case.hits_metric, e.search_count(case, conv) as f64));
            }
        }
    };
    let sizes = |e: &mut E, out: &mut Vec<Figure>, names: [&'static str; 2]| {
        e.close();
        out.push((names[0], e.bytes_on_disk() as f64 / n));
        if let Some(b) = e.index_bytes() {
            out.push((names[1], b as f64 / n));
        }
    };
    queries(e, &mut out, |c| c.latency_metric, true);
    sizes(e, &mut out, ["search_bytes_per_message", "search_index_bytes_per_message"]);
    // After compaction (chatvault) or `VACUUM` with the FTS5 index merged
    // into one b-tree (`optimize`), as an app maintains either.
    e.open();
    e.compact();
    queries(e, &mut out, |c| c.compacted_metric, false);
    sizes(e, &mut out, ["search_bytes_per_message_compacted", "search_index_bytes_per_message_compacted"]);
    out
}

/// The short-line corpus ([`Params::short`]): one transaction per message,
/// then the bytes on disk as written and after compaction / `VACUUM`, as
/// `short_*` figures.
fn short<E: Engine>(e: &mut E, data: &Data) -> Vec<Figure> {
    let n = data.stream.len().max(1) as f64;
    let mut spent = Duration::ZERO;
    for m in &data.stream {
        let batch = e.prepare(std::slice::from_ref(m), 0);
        let t = Instant::now();
        e.append(&batch);
        spent += t.elapsed();
    }
    let mut out = vec![("short_append_per_s", n / spent.as_secs_f64())];
    e.close();
    out.push(("short_bytes_per_message", e.bytes_on_disk() as f64 / n));
    e.open();
    e.compact();
    e.close();
    out.push(("short_bytes_per_message_compacted", e.bytes_on_disk() as f64 / n));
    out
}

/// The spread sync: `p.spread` messages in transactions of [`BATCH`], each
/// transaction the next message of every conversation in turn (a history
/// sync that fetches all chats at once), with the throughput of every
/// [`WINDOW`] messages as `spread_<end>_messages_per_s`.
fn spread<E: Engine>(e: &mut E, data: &Data, p: &Params) -> Vec<Figure> {
    let mut per: Vec<_> = data.convs.iter().map(chatvault_corpus::messages).collect();
    let mut turn = 0;
    let mut next = || -> Option<(usize, MessageSpec)> {
        for _ in 0..per.len() {
            let i = turn;
            turn = (turn + 1) % per.len();
            if let Some(m) = per[i].next() {
                return Some((i, m));
            }
        }
        None
    };
    let mut out = Vec::new();
    let (mut sent, mut reported, mut spent) = (0, 0, Duration::ZERO);
    while sent < p.spread {
        let chunk: Vec<(usize, MessageSpec)> = std::iter::from_fn(&mut next).take(BATCH).collect();
        if chunk.is_empty() {
            break;
        }
        let batch = e.prepare(&chunk, 0);
        let t = Instant::now();
        e.append(&batch);
        spent += t.elapsed();
        let before = sent;
        sent += chunk.len();
        if sent / WINDOW > before / WINDOW || sent >= p.spread {
            // The messages since the last figure: a window, or what the last batch ended.
            let name: &'static str = Box::leak(format!("spread_{sent:08}_messages_per_s").into_boxed_str());
            out.push((name, (sent - reported) as f64 / spent.as_secs_f64()));
            (reported, spent) = (sent, Duration::ZERO);
        }
    }
    e.close();
    out.push(("spread_bytes_per_message", e.bytes_on_disk() as f64 / sent.max(1) as f64));
    out
}
