//! What SQLite's `secure_delete` does not reach (docs/DESIGN.md, "Deletion
//! and scrubbing"). `secure_delete` zeroes a cell when it is deleted, and a
//! page when it is freed; but when a b-tree page is rebalanced, SQLite
//! copies its cells to a new arrangement and does not zero the space they
//! leave behind. A copy of a value can so survive, in the unallocated
//! space of some page, after the value itself is deleted.
//!
//! For keys that must not survive, the key table is rebuilt from scratch
//! whenever keys are destroyed: every page of it is freed (and zeroed) and
//! the surviving rows written anew, so only copies of live keys can remain.
//! For everything else, [`Store::vacuum`] rewrites the whole file.

use rusqlite::params;

use super::{Ctx, Store};
use crate::error::Result;

/// Rewrites the `conversation_key` table from scratch, inside the caller's
/// transaction: no piece of a deleted key row survives in its pages
/// (`DELETE` without a condition clears the whole b-tree, and
/// `secure_delete` zeroes every page it frees). Costs a read and a write
/// of every key row, and the WAL and checkpoint writes of the whole table:
/// about 24 ms for 10,000 conversations, 38 times a delete without it
/// (BENCHMARKS.md, "Deletion").
pub(crate) fn rebuild_key_table(ctx: &Ctx<'_>) -> Result<()> {
    ctx.conn.prepare_cached("UPDATE store SET key_rebuild_owed = 0 WHERE id = 1")?.execute([])?;
    // The values as they are, whatever their type: a damaged row is kept
    // (for verify to report), never a reason to stop.
    type Value = rusqlite::types::Value;
    let rows: Vec<(Value, Value, Value)> = ctx
        .conn
        .prepare_cached(
            "SELECT conversation, epoch, wrapped FROM conversation_key ORDER BY conversation, epoch",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    ctx.conn.prepare_cached("DELETE FROM conversation_key")?.execute([])?;
    let mut insert = ctx
        .conn
        .prepare_cached("INSERT INTO conversation_key (conversation, epoch, wrapped) VALUES (?1, ?2, ?3)")?;
    for (c, epoch, wrapped) in &rows {
        insert.execute(params![c, epoch, wrapped])?;
    }
    Ok(())
}

/// Records, in the transaction that deletes key rows, that the key table
/// must be rebuilt: done at the end of the compaction, or by the next one
/// if a crash or an error came between.
pub(crate) fn owe_key_rebuild(ctx: &Ctx<'_>) -> Result<()> {
    ctx.conn.prepare_cached("UPDATE store SET key_rebuild_owed = 1 WHERE id = 1")?.execute([])?;
    Ok(())
}

/// Whether a key-table rebuild is owed: anything but a stored 0 counts as
/// owed (a damaged value must not block the compactions that pay it).
pub(crate) fn key_rebuild_owed(ctx: &Ctx<'_>) -> Result<bool> {
    let owed: i64 = ctx
        .conn
        .prepare_cached("SELECT key_rebuild_owed IS NOT 0 FROM store WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    Ok(owed != 0)
}

impl Store {
    /// Rebuilds the key table if a rebuild is owed; true if it did.
    pub(crate) fn pay_key_rebuild(&self) -> Result<bool> {
        self.write(|ctx| {
            if !key_rebuild_owed(ctx)? {
                return Ok(false);
            }
            rebuild_key_table(ctx)?;
            Ok(true)
        })
    }

    /// Rewrites the whole database file (SQLite's `VACUUM`), then scrubs:
    /// afterwards no piece of anything deleted survives anywhere in the
    /// file or the WAL, including the unallocated space of pages that
    /// SQLite's rebalancing leaves behind (SECURITY.md, "Deletion").
    ///
    /// Deleting a conversation already destroys its key beyond recovery;
    /// this also removes leftover pieces of deleted or edited messages in
    /// conversations that still exist, whose key is alive. It reads and
    /// writes the whole file and needs memory about the size of the
    /// database for the duration: run it in a maintenance window, after
    /// deleting what must not be recoverable.
    pub fn vacuum(&self) -> Result<()> {
        // The key table first, so its rebuild is not owed any more.
        self.pay_key_rebuild()?;
        let writer = self.lock_writer();
        writer.conn.execute_batch("VACUUM")?;
        self.scrub_on(&writer.conn)
    }
}
