//! The SQLite engines of the comparison: benches/common/plain.rs's schema
//! and calls, as plaintext SQLite (no key) or SQLCipher (a raw key), with
//! `synchronous = FULL` like chatvault's default `Durability::Full`.
//! Included with `#[path]` by both workers; `rusqlite` is whichever SQLite
//! the including crate builds (bundled SQLite, or bundled SQLCipher).

use std::path::PathBuf;

use chatvault_corpus::{ConversationSpec, MessageSpec};

use crate::plain::{Plain, PlainNew};
use crate::workload::{Engine, SearchCase};

pub struct SqlEngine {
    path: PathBuf,
    key: Option<[u8; 32]>,
    db: Option<Plain>,
    ids: Vec<i64>,
    /// The FTS5 tokenizer of its full-text index, if it has one.
    fts: Option<&'static str>,
}

impl SqlEngine {
    /// A new store at `path` holding `convs` (no messages yet).
    pub fn create(path: PathBuf, key: Option<[u8; 32]>, convs: &[ConversationSpec]) -> SqlEngine {
        let db = Plain::create_keyed(&path, "FULL", key.as_ref());
        let ids = convs
            .iter()
            .map(|c| db.create_conversation(&c.external_id, &c.title, &c.members.join(","), c.created_at_ms))
            .collect();
        SqlEngine { path, key, db: Some(db), ids, fts: None }
    }

    /// The same, with an FTS5 index of the texts (`Plain::create_fts`).
    pub fn with_fts(mut self, tokenize: &'static str) -> SqlEngine {
        self.db().create_fts(tokenize);
        self.fts = Some(tokenize);
        self
    }

    fn db(&mut self) -> &mut Plain {
        self.db.as_mut().expect("the store is open")
    }
}

impl Engine for SqlEngine {
    type Batch = Vec<(i64, MessageSpec, String)>;

    fn prepare(&self, batch: &[(usize, MessageSpec)], round: usize) -> Self::Batch {
        batch.iter().map(|(c, m)| (self.ids[*c], m.clone(), format!("{}#{round}", m.external_id))).collect()
    }

    fn append(&mut self, batch: &Self::Batch) {
        let refs: Vec<(i64, PlainNew<'_>)> = batch
            .iter()
            .map(|(c, m, ext)| {
                let new = PlainNew {
                    external_id: Some(ext),
                    sender: &m.sender,
                    sent_at_ms: m.sent_at_ms,
                    text: &m.text,
                    reply_to: None,
                };
                (*c, new)
            })
            .collect();
        let seqs = self.db().append_batch(&refs);
        assert_eq!(seqs.len(), batch.len());
    }

    fn page_latest(&mut self, conv: usize, limit: usize) -> usize {
        let c = self.ids[conv];
        self.db().page(c, None, limit as i64).len()
    }

    fn page_before(&mut self, conv: usize, seq: u64, limit: usize) -> usize {
        let c = self.ids[conv];
        self.db().page(c, Some(seq as i64), limit as i64).len()
    }

    fn recent(&mut self, limit: usize) -> usize {
        self.db().recent(limit as i64).len()
    }

    fn edit(&mut self, conv: usize, seq: u64, text: &str) {
        let c = self.ids[conv];
        self.db().edit(c, seq as i64, text, 1_800_000_000_000);
    }

    fn delete(&mut self, conv: usize, seq: u64) {
        let c = self.ids[conv];
        self.db().delete(c, seq as i64);
    }

    fn edit_many(&mut self, items: &[(usize, u64)], text: &str) {
        let items: Vec<(i64, i64)> = items.iter().map(|(c, seq)| (self.ids[*c], *seq as i64)).collect();
        self.db().edit_many(&items, text, 1_800_000_000_000);
    }

    fn delete_many(&mut self, items: &[(usize, u64)]) {
        let items: Vec<(i64, i64)> = items.iter().map(|(c, seq)| (self.ids[*c], *seq as i64)).collect();
        self.db().delete_many(&items);
    }

    fn compact(&mut self) {
        if self.fts.is_some() {
            // An FTS5 index is merged into one b-tree as an app maintains it.
            self.db()
                .conn
                .execute_batch("INSERT INTO message_fts (message_fts) VALUES ('optimize');")
                .expect("optimize");
        }
        // Checkpointed inside the timed part, as chatvault's compaction is.
        self.db().conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);").expect("VACUUM");
    }

    fn close(&mut self) {
        if let Some(db) = self.db.take() {
            db.conn.close().map_err(|(_, e)| e).expect("close");
        }
    }

    fn open(&mut self) {
        let mut db = Plain::open(&self.path, "FULL", self.key.as_ref());
        db.fts = self.fts.is_some();
        assert_eq!(db.recent(1).len(), 1);
        self.db = Some(db);
    }

    fn can_search(&self) -> bool {
        self.fts.is_some()
    }

    fn search(&mut self, case: &SearchCase, conv: Option<usize>, limit: usize) -> usize {
        let c = conv.map(|i| self.ids[i]);
        self.db().search(case.fts, c, limit as i64).len()
    }

    fn search_count(&mut self, case: &SearchCase, conv: Option<usize>) -> usize {
        let c = conv.map(|i| self.ids[i]);
        self.db().search_count(case.fts, c)
    }

    fn bytes_on_disk(&self) -> u64 {
        files_bytes(&self.path)
    }
}

/// Bytes of a database file and its WAL, if any.
pub fn files_bytes(path: &std::path::Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}
