//! Set-up shared by the benchmarks: the corpus, and a chatvault store and a
//! plaintext SQLite baseline holding its conversations.
#![allow(dead_code)]

use std::path::Path;

use chatvault::{ConversationId, Durability, MessageId, NewMessage, Page, Store, StoreKey, StoreOptions};
use chatvault_corpus::{ConversationSpec, MessageSpec};
use criterion::{BenchmarkId, Criterion, Throughput};

use super::plain::{Plain, PlainNew};

#[path = "inputs.rs"]
pub mod inputs;

pub const SEED: u64 = 2026;
pub const BATCH: usize = 1000;

pub fn options(durability: Durability) -> StoreOptions {
    StoreOptions { durability, ..StoreOptions::default() }
}

pub fn sync_name(d: Durability) -> &'static str {
    match d {
        Durability::Full => "FULL",
        _ => "NORMAL",
    }
}

pub struct Corpus {
    pub convs: Vec<ConversationSpec>,
    /// (conversation index, message) in arrival order, interleaved.
    pub stream: Vec<(usize, MessageSpec)>,
}

/// `n` messages over 50 conversations, interleaved as a sync would deliver them.
pub fn corpus(n: usize) -> Corpus {
    let convs = chatvault_corpus::conversations(SEED, 50, n);
    let stream = chatvault_corpus::interleaved(SEED, &convs).collect();
    Corpus { convs, stream }
}

/// The corpus is replayed in rounds when criterion asks for more iterations
/// than it holds; `round` keeps external ids unique, so every append stores
/// a new message rather than hitting the dedup path.
pub fn new_message(m: &MessageSpec, round: usize) -> NewMessage {
    inputs::new_message(m, format!("{}#{round}", m.external_id))
}

pub fn plain_new<'a>(m: &'a MessageSpec, ext: &'a str) -> PlainNew<'a> {
    PlainNew {
        external_id: Some(ext),
        sender: &m.sender,
        sent_at_ms: m.sent_at_ms,
        text: &m.text,
        reply_to: None,
    }
}

pub fn vault(dir: &Path, corpus: &Corpus, durability: Durability) -> (Store, Vec<ConversationId>) {
    let store = Store::create_with(dir.join("cv"), StoreKey::raw([7; 32]), options(durability)).unwrap();
    let ids = corpus
        .convs
        .iter()
        .map(|c| store.create_conversation(inputs::new_conversation(c)).unwrap())
        .collect();
    (store, ids)
}

pub fn baseline(dir: &Path, corpus: &Corpus, durability: Durability) -> (Plain, Vec<i64>) {
    let plain = Plain::create(&dir.join("plain"), sync_name(durability));
    let ids = corpus
        .convs
        .iter()
        .map(|c| plain.create_conversation(&c.external_id, &c.title, &c.members.join(","), c.created_at_ms))
        .collect();
    (plain, ids)
}

/// One criterion group of 50-message page reads: the newest page, or with
/// `deep` the page before that sequence number, for each chatvault variant
/// (label, store, conversation) and for plaintext SQLite's conversation `p`.
pub fn page_group(
    c: &mut Criterion,
    name: &str,
    deep: Option<u64>,
    variants: &[(&str, &Store, ConversationId)],
    plain: &Plain,
    p: i64,
) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(50));
    for &(label, store, conv) in variants {
        let page = match deep {
            None => Page::latest(50),
            Some(seq) => Page::before(MessageId::new(conv, seq), 50),
        };
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                let got = store.messages(conv, page).unwrap();
                assert_eq!(got.len(), 50);
                got
            })
        });
    }
    g.bench_function(BenchmarkId::from_parameter("sqlite"), |b| {
        b.iter(|| {
            let got = plain.page(p, deep.map(|s| s as i64), 50);
            assert_eq!(got.len(), 50);
            got
        })
    });
    g.finish();
}
