//! The chatvault and plaintext-SQLite worker of the peer comparison
//! (compare/, BENCHMARKS.md): the same workload as compare/'s SQLCipher
//! worker, on the same corpus, with chatvault's own bundled SQLite. Run by
//! `scripts/compare.sh`, which also runs the SQLCipher worker and prints the
//! ratios; on its own it prints raw figures.

#[path = "../benches/common/inputs.rs"]
mod inputs;
#[path = "../benches/common/plain.rs"]
mod plain;
#[path = "../compare/src/sql_engine.rs"]
mod sql_engine;
#[path = "../compare/src/worker.rs"]
mod worker;
#[path = "../compare/src/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};

use chatvault::{CompactOptions, ConversationId, MessageId, NewMessage, Page, SearchQuery, Store, StoreKey};
use chatvault_corpus::MessageSpec;
use sql_engine::SqlEngine;
use workload::{Data, Engine, Figure, Params, SEARCH_CASES, SearchCase};

const KEY: [u8; 32] = [0x5a; 32];

/// chatvault with its defaults: `Durability::Full`, a raw key.
struct Vault {
    path: PathBuf,
    store: Option<Store>,
    ids: Vec<ConversationId>,
}

impl Vault {
    fn create(path: PathBuf, data: &Data) -> Vault {
        let store = Store::create(&path, StoreKey::raw(KEY)).expect("create");
        let ids = data
            .convs
            .iter()
            .map(|c| store.create_conversation(inputs::new_conversation(c)).expect("create_conversation"))
            .collect();
        Vault { path, store: Some(store), ids }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("the store is open")
    }

    fn id(&self, conv: usize, seq: u64) -> MessageId {
        MessageId::new(self.ids[conv], seq)
    }
}

impl Engine for Vault {
    type Batch = Vec<(ConversationId, NewMessage)>;

    fn prepare(&self, batch: &[(usize, MessageSpec)], round: usize) -> Self::Batch {
        batch
            .iter()
            .map(|(c, m)| (self.ids[*c], inputs::new_message(m, format!("{}#{round}", m.external_id))))
            .collect()
    }

    fn append(&mut self, batch: &Self::Batch) {
        let ids = self.store().append_batch(batch).expect("append_batch");
        assert_eq!(ids.len(), batch.len());
    }

    fn page_latest(&mut self, conv: usize, limit: usize) -> usize {
        self.store().messages(self.ids[conv], Page::latest(limit)).expect("page").len()
    }

    fn page_before(&mut self, conv: usize, seq: u64, limit: usize) -> usize {
        self.store().messages(self.ids[conv], Page::before(self.id(conv, seq), limit)).expect("page").len()
    }

    fn recent(&mut self, limit: usize) -> usize {
        self.store().recent_conversations(limit).expect("recent_conversations").len()
    }

    fn edit(&mut self, conv: usize, seq: u64, text: &str) {
        self.store().edit_message(self.id(conv, seq), text).expect("edit");
    }

    fn delete(&mut self, conv: usize, seq: u64) {
        self.store().delete_message(self.id(conv, seq)).expect("delete");
    }

    fn edit_many(&mut self, items: &[(usize, u64)], text: &str) {
        let edits: Vec<(MessageId, &str)> = items.iter().map(|&(c, seq)| (self.id(c, seq), text)).collect();
        self.store().edit_messages(&edits).expect("edit_messages");
    }

    fn delete_many(&mut self, items: &[(usize, u64)]) {
        let ids: Vec<MessageId> = items.iter().map(|&(c, seq)| self.id(c, seq)).collect();
        self.store().delete_messages(&ids).expect("delete_messages");
    }

    fn compact(&mut self) {
        self.store().compact(&CompactOptions::default()).expect("compact");
    }

    fn close(&mut self) {
        if let Some(store) = self.store.take() {
            store.close().expect("close");
        }
    }

    fn open(&mut self) {
        let store = Store::open(&self.path, StoreKey::raw(KEY)).expect("open");
        assert_eq!(store.recent_conversations(1).expect("list").len(), 1);
        self.store = Some(store);
    }

    fn bytes_on_disk(&self) -> u64 {
        sql_engine::files_bytes(&self.path)
    }

    fn can_search(&self) -> bool {
        true
    }

    fn search(&mut self, case: &SearchCase, conv: Option<usize>, limit: usize) -> usize {
        let q = self.query(case, conv).limit(limit);
        self.store().search(&q).expect("search").hits.len()
    }

    fn search_count(&mut self, case: &SearchCase, conv: Option<usize>) -> usize {
        let mut q = self.query(case, conv).limit(SearchQuery::MAX_LIMIT);
        let mut n = 0;
        loop {
            let page = self.store().search(&q).expect("search");
            n += page.hits.len();
            match page.next {
                Some(next) => q = q.after(next),
                None => return n,
            }
        }
    }

    fn index_bytes(&self) -> Option<u64> {
        let store = Store::open(&self.path, StoreKey::raw(KEY)).expect("open");
        let bytes = store.stats().expect("stats").filter_bytes;
        store.close().expect("close");
        Some(bytes)
    }
}

impl Vault {
    fn query(&self, case: &SearchCase, conv: Option<usize>) -> SearchQuery {
        let q = SearchQuery::new(case.words);
        match conv {
            Some(i) => q.in_conversation(self.ids[i]),
            None => q,
        }
    }
}

fn chatvault(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    workload::run(&mut Vault::create(dir.join("store.chatvault"), data), data, p)
}

fn sqlite(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    workload::run(&mut SqlEngine::create(dir.join("plain.sqlite"), None, &data.convs), data, p)
}

/// Plaintext SQLite with an FTS5 index (`unicode61`, FTS5's default
/// tokenizer): only in the search comparison.
fn sqlite_fts5(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    if p.search == 0 {
        return Vec::new();
    }
    let engine = SqlEngine::create(dir.join("fts5.sqlite"), None, &data.convs).with_fts("unicode61");
    workload::run(&mut { engine }, data, p)
}

/// Plaintext SQLite with an FTS5 `trigram` index: only in the search comparison.
fn sqlite_trigram(dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    if p.search == 0 {
        return Vec::new();
    }
    let engine = SqlEngine::create(dir.join("trigram.sqlite"), None, &data.convs).with_fts("trigram");
    workload::run(&mut { engine }, data, p)
}

/// The hits that exist: each search query's matches by chatvault's rules
/// (`SearchQuery::matches`), counted by reading every message of the
/// corpus, against which every engine's recall is measured.
fn truth(_dir: &Path, data: &Data, p: &Params) -> Vec<Figure> {
    if p.search == 0 {
        return Vec::new();
    }
    SEARCH_CASES
        .iter()
        .map(|case| {
            let q = SearchQuery::new(case.words);
            let hits = data
                .stream
                .iter()
                .filter(|(c, m)| (!case.in_big || *c == data.big) && q.matches(&m.text).is_some())
                .count();
            (case.hits_metric, hits as f64)
        })
        .collect()
}

fn main() {
    worker::main(
        &[
            ("chatvault", chatvault),
            ("sqlite", sqlite),
            ("sqlite_fts5", sqlite_fts5),
            ("sqlite_trigram", sqlite_trigram),
            ("truth", truth),
        ],
        std::env::args().skip(1).collect(),
    );
}
