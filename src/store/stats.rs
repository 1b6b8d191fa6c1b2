//! `Store::stats`: figures from plaintext columns, with nothing decrypted.

use std::collections::BTreeMap;

use super::{Store, sidecar};
use crate::error::Result;
use crate::maintenance::{EpochStats, Stats};

impl Store {
    /// Counts conversations, messages, segments, attachments, bytes and key
    /// epochs, from plaintext columns only (nothing is decrypted), in one
    /// read transaction, and the attachment files no row names.
    ///
    /// `messages` includes expired messages that compaction has not removed
    /// yet; [`crate::Conversation::message_count`] excludes them.
    pub fn stats(&self) -> Result<Stats> {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut stats = self.read(|ctx| {
            let conn = ctx.conn;
            let count = |sql: &str| -> Result<u64> {
                let v: i64 = conn.prepare(sql)?.query_row([], |r| r.get(0))?;
                Ok(u64::try_from(v).unwrap_or(0))
            };
            let mut s = Stats {
                conversations: count("SELECT COUNT(*) FROM conversation")?,
                messages: count("SELECT COALESCE(SUM(message_count), 0) FROM conversation")?,
                segments: count("SELECT COUNT(*) FROM segment")?,
                segment_bytes: count("SELECT COALESCE(SUM(length(body)), 0) FROM segment")?,
                filter_bytes: count("SELECT COALESCE(SUM(length(filter)), 0) FROM segment_filter")?,
                segments_unindexed: count("SELECT COUNT(*) FROM segment_filter WHERE filter IS NULL")?,
                attachments: count("SELECT COUNT(*) FROM attachment")?,
                attachment_bytes: count("SELECT COALESCE(SUM(stored_len), 0) FROM attachment")?,
                attachments_in_files: count("SELECT COUNT(*) FROM attachment WHERE file IS NOT NULL")?,
                segments_uncompacted: count(
                    "SELECT COUNT(*) FROM segment s JOIN conversation c ON c.id = s.conversation
                     WHERE s.first_seq > c.compacted_through",
                )?,
                ..Stats::default()
            };
            let expired: i64 = conn
                .prepare("SELECT COUNT(*) FROM segment WHERE expires_at <= ?1")?
                .query_row([ctx.now], |r| r.get(0))?;
            s.segments_with_expired = u64::try_from(expired).unwrap_or(0);
            let page_size = count("PRAGMA page_size")?;
            s.reclaimable_bytes = count("PRAGMA freelist_count")?.saturating_mul(page_size);

            let mut epochs: BTreeMap<i64, EpochStats> = BTreeMap::new();
            let queries = [
                "SELECT epoch, COUNT(*) FROM conversation GROUP BY epoch",
                "SELECT epoch, COUNT(*) FROM conversation_key GROUP BY epoch",
                "SELECT epoch, COUNT(*) FROM segment GROUP BY epoch",
            ];
            for (i, sql) in queries.into_iter().enumerate() {
                let rows: Vec<(i64, i64)> = conn
                    .prepare(sql)?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (epoch, n) in rows {
                    let e = epochs.entry(epoch).or_insert_with(|| EpochStats {
                        epoch: u32::try_from(epoch).unwrap_or(u32::MAX),
                        ..EpochStats::default()
                    });
                    let n = u64::try_from(n).unwrap_or(0);
                    match i {
                        0 => e.current_for = n,
                        1 => e.keys = n,
                        _ => e.segments = n,
                    }
                }
            }
            s.epochs = epochs.into_values().collect();
            Ok(s)
        })?;
        stats.file_bytes = size(&self.path);
        stats.wal_bytes = size(&sidecar(&self.path, "-wal"));
        let (orphans, _) = super::attachments::orphan_files(self)?;
        stats.orphan_files = orphans.len() as u64;
        stats.orphan_file_bytes = orphans.iter().map(|o| o.bytes).fold(0, u64::saturating_add);
        Ok(stats)
    }
}
