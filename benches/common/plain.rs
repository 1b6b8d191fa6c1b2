//! The baseline: the same chat store in plaintext SQLite (rusqlite, bundled),
//! with the schema a careful app would use and the same logical work per
//! call as chatvault: dedup by external id, per-conversation sequence
//! numbers, message counts and activity order.
//!
//! It gets chatvault's speed settings (see `Plain::open`), not its security
//! ones (`secure_delete`, scrubbing).
//!
//! With a key it is the SQLCipher baseline of compare/ (which includes this
//! file; there rusqlite is built with `bundled-sqlcipher`).
#![allow(dead_code)]

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub struct Plain {
    pub conn: Connection,
    /// Whether `message_fts` (an FTS5 index of the texts) is kept: see
    /// [`Plain::create_fts`].
    pub fts: bool,
}

/// A message as the baseline returns it (owned, like chatvault's `Message`).
#[allow(dead_code)]
pub struct PlainMessage {
    pub seq: i64,
    pub external_id: Option<String>,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub reply_to: Option<i64>,
    pub edited_at_ms: Option<i64>,
    pub extra: Vec<u8>,
}

pub struct PlainNew<'a> {
    pub external_id: Option<&'a str>,
    pub sender: &'a str,
    pub sent_at_ms: i64,
    pub text: &'a str,
    pub reply_to: Option<i64>,
}

impl Plain {
    /// `synchronous` is "FULL" or "NORMAL", as chatvault's `Durability`.
    pub fn create(path: &std::path::Path, synchronous: &str) -> Plain {
        Plain::create_keyed(path, synchronous, None)
    }

    /// Opens a connection; with a key, SQLCipher's raw-key form (no KDF),
    /// which must come before anything else touches the file.
    pub fn open(path: &std::path::Path, synchronous: &str, key: Option<&[u8; 32]>) -> Plain {
        let conn = Connection::open(path).unwrap();
        if let Some(key) = key {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            conn.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";")).unwrap();
        }
        // chatvault's own connection settings where they are about speed,
        // not security: the query planner stability guarantee (without it
        // rusqlite's statement cache makes SQLite re-prepare a statement
        // with `LIMIT ?` on every reuse) and the writer's 8 MiB page cache.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -8192;"
        ))
        .unwrap();
        Plain { conn, fts: false }
    }

    /// Adds a full-text index of message texts, as a careful app would:
    /// FTS5, contentless (the texts are not stored twice), its rowid the
    /// message's key (`conversation << 32 | seq`), filled in the same
    /// transaction as each append. `tokenize` is FTS5's option, e.g.
    /// `unicode61` or `trigram`.
    pub fn create_fts(&mut self, tokenize: &str) {
        self.conn
            .execute_batch(&format!(
                "CREATE VIRTUAL TABLE message_fts USING fts5(text, content='', tokenize='{tokenize}');"
            ))
            .unwrap();
        self.fts = true;
    }

    /// The newest `limit` messages whose text matches the FTS5 expression
    /// `query` (in conversation `c` only, if given), with their texts.
    pub fn search(&self, query: &str, c: Option<i64>, limit: i64) -> Vec<(i64, i64, String)> {
        let (lo, hi) = c.map_or((0, i64::MAX), |c| (c << 32, (c << 32) | 0xFFFF_FFFF));
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.conversation, m.seq, m.text FROM message_fts f
                 JOIN message m ON m.conversation = f.rowid >> 32 AND m.seq = f.rowid & 4294967295
                 WHERE message_fts MATCH ?1 AND f.rowid BETWEEN ?2 AND ?3
                 ORDER BY m.sent_at_ms DESC LIMIT ?4",
            )
            .unwrap();
        stmt.query_map(params![query, lo, hi, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// How many messages match `query` (see [`Plain::search`]).
    pub fn search_count(&self, query: &str, c: Option<i64>) -> usize {
        let (lo, hi) = c.map_or((0, i64::MAX), |c| (c << 32, (c << 32) | 0xFFFF_FFFF));
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM message_fts WHERE message_fts MATCH ?1 AND rowid BETWEEN ?2 AND ?3",
            )
            .unwrap()
            .query_row(params![query, lo, hi], |r| r.get(0))
            .unwrap();
        n as usize
    }

    /// A new store, keyed as [`Plain::open`].
    pub fn create_keyed(path: &std::path::Path, synchronous: &str, key: Option<&[u8; 32]>) -> Plain {
        let plain = Plain::open(path, synchronous, key);
        plain
            .conn
            .execute_batch(
                "CREATE TABLE conversation (
               id INTEGER PRIMARY KEY AUTOINCREMENT, external_id TEXT UNIQUE, title TEXT NOT NULL,
               members TEXT NOT NULL, app_data BLOB NOT NULL, created_at_ms INTEGER NOT NULL,
               read_up_to INTEGER, next_seq INTEGER NOT NULL, message_count INTEGER NOT NULL,
               activity INTEGER NOT NULL);
             CREATE INDEX conversation_by_activity ON conversation (activity);
             CREATE TABLE message (
               conversation INTEGER NOT NULL, seq INTEGER NOT NULL, external_id TEXT,
               sender TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, text TEXT NOT NULL,
               reply_to INTEGER, edited_at_ms INTEGER, extra BLOB NOT NULL,
               PRIMARY KEY (conversation, seq)) WITHOUT ROWID;
             CREATE UNIQUE INDEX message_by_external_id ON message (conversation, external_id)
               WHERE external_id IS NOT NULL;",
            )
            .unwrap();
        plain
    }

    pub fn create_conversation(
        &self,
        external_id: &str,
        title: &str,
        members: &str,
        created_at_ms: i64,
    ) -> i64 {
        self.conn
            .execute(
                "INSERT INTO conversation (external_id, title, members, app_data, created_at_ms, next_seq, message_count, activity)
                 VALUES (?1, ?2, ?3, x'', ?4, 1, 0, (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversation))",
                params![external_id, title, members, created_at_ms],
            )
            .unwrap();
        self.conn.last_insert_rowid()
    }

    /// Appends messages in one transaction; returns their sequence numbers.
    pub fn append_batch(&mut self, batch: &[(i64, PlainNew<'_>)]) -> Vec<i64> {
        let fts = self.fts;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let mut out = Vec::with_capacity(batch.len());
        // Per conversation: the first index in this batch, in order.
        let mut convs: Vec<i64> = Vec::new();
        for (c, _) in batch {
            if !convs.contains(c) {
                convs.push(*c);
            }
        }
        for c in convs {
            let mut next: i64 = tx
                .prepare_cached("SELECT next_seq FROM conversation WHERE id = ?1")
                .unwrap()
                .query_row([c], |r| r.get(0))
                .unwrap();
            let mut added = 0;
            for (mc, m) in batch.iter().filter(|(mc, _)| *mc == c) {
                if let Some(ext) = m.external_id {
                    let existing: Option<i64> = tx
                        .prepare_cached(
                            "SELECT seq FROM message WHERE conversation = ?1 AND external_id = ?2",
                        )
                        .unwrap()
                        .query_row(params![mc, ext], |r| r.get(0))
                        .optional()
                        .unwrap();
                    if let Some(seq) = existing {
                        out.push(seq);
                        continue;
                    }
                }
                tx.prepare_cached(
                    "INSERT INTO message (conversation, seq, external_id, sender, sent_at_ms, text, reply_to, extra)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, x'')",
                )
                .unwrap()
                .execute(params![mc, next, m.external_id, m.sender, m.sent_at_ms, m.text, m.reply_to])
                .unwrap();
                if fts {
                    tx.prepare_cached("INSERT INTO message_fts (rowid, text) VALUES (?1, ?2)")
                        .unwrap()
                        .execute(params![(mc << 32) | next, m.text])
                        .unwrap();
                }
                out.push(next);
                next += 1;
                added += 1;
            }
            tx.prepare_cached(
                "UPDATE conversation SET next_seq = ?2, message_count = message_count + ?3,
                   activity = (SELECT COALESCE(MAX(activity), 0) + 1 FROM conversation) WHERE id = ?1",
            )
            .unwrap()
            .execute(params![c, next, added])
            .unwrap();
        }
        tx.commit().unwrap();
        out
    }

    /// The newest `limit` messages before `before` (or the newest overall), oldest first.
    pub fn page(&self, c: i64, before: Option<i64>, limit: i64) -> Vec<PlainMessage> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, external_id, sender, sent_at_ms, text, reply_to, edited_at_ms, extra FROM message
                 WHERE conversation = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )
            .unwrap();
        let mut page: Vec<PlainMessage> = stmt
            .query_map(params![c, before.unwrap_or(i64::MAX), limit], |r| {
                Ok(PlainMessage {
                    seq: r.get(0)?,
                    external_id: r.get(1)?,
                    sender: r.get(2)?,
                    sent_at_ms: r.get(3)?,
                    text: r.get(4)?,
                    reply_to: r.get(5)?,
                    edited_at_ms: r.get(6)?,
                    extra: r.get(7)?,
                })
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        page.reverse();
        page
    }

    /// The `limit` most recently active conversations, each with its last
    /// message and unread count (as chatvault's `recent_conversations`).
    pub fn recent(&self, limit: i64) -> Vec<(i64, String, Option<PlainMessage>, i64)> {
        let convs: Vec<(i64, String, Option<i64>, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, title, read_up_to, message_count FROM conversation ORDER BY activity DESC LIMIT ?1",
            )
            .unwrap()
            .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        convs
            .into_iter()
            .map(|(id, title, read_up_to, count)| {
                let last = self.page(id, None, 1).pop();
                let unread = match read_up_to {
                    None => count,
                    Some(r) => self
                        .conn
                        .prepare_cached("SELECT COUNT(*) FROM message WHERE conversation = ?1 AND seq > ?2")
                        .unwrap()
                        .query_row(params![id, r], |r| r.get(0))
                        .unwrap(),
                };
                (id, title, last, unread)
            })
            .collect()
    }

    /// Replaces a message's text.
    pub fn edit(&self, c: i64, seq: i64, text: &str, now_ms: i64) {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE message SET text = ?3, edited_at_ms = ?4 WHERE conversation = ?1 AND seq = ?2",
            )
            .unwrap()
            .execute(params![c, seq, text, now_ms])
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Deletes a message and counts it out of its conversation.
    pub fn delete(&mut self, c: i64, seq: i64) {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let n = tx
            .prepare_cached("DELETE FROM message WHERE conversation = ?1 AND seq = ?2")
            .unwrap()
            .execute(params![c, seq])
            .unwrap();
        assert_eq!(n, 1);
        tx.prepare_cached("UPDATE conversation SET message_count = message_count - 1 WHERE id = ?1")
            .unwrap()
            .execute([c])
            .unwrap();
        tx.commit().unwrap();
    }

    /// Replaces the texts of many messages in one transaction.
    pub fn edit_many(&mut self, items: &[(i64, i64)], text: &str, now_ms: i64) {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE message SET text = ?3, edited_at_ms = ?4 WHERE conversation = ?1 AND seq = ?2",
                )
                .unwrap();
            for (c, seq) in items {
                assert_eq!(stmt.execute(params![c, seq, text, now_ms]).unwrap(), 1);
            }
        }
        tx.commit().unwrap();
    }

    /// Deletes many messages in one transaction, counting them out of their
    /// conversations.
    pub fn delete_many(&mut self, items: &[(i64, i64)]) {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM message WHERE conversation = ?1 AND seq = ?2").unwrap();
            let mut count = tx
                .prepare_cached("UPDATE conversation SET message_count = message_count - 1 WHERE id = ?1")
                .unwrap();
            for (c, seq) in items {
                assert_eq!(delete.execute(params![c, seq]).unwrap(), 1);
                count.execute([c]).unwrap();
            }
        }
        tx.commit().unwrap();
    }

    /// Deletes a conversation and its messages.
    pub fn delete_conversation(&mut self, c: i64) {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        tx.prepare_cached("DELETE FROM message WHERE conversation = ?1").unwrap().execute([c]).unwrap();
        let n = tx.prepare_cached("DELETE FROM conversation WHERE id = ?1").unwrap().execute([c]).unwrap();
        assert_eq!(n, 1);
        tx.commit().unwrap();
    }
}
