//! Attachments (docs/ATTACHMENTS.md): rows, sealed metadata, and the
//! operations on them; the content's reader and writer and the file
//! directory are the submodules.

mod files;
mod reader;
mod writer;

pub use reader::AttachmentReader;
pub use writer::AttachmentWriter;
pub(crate) use writer::{ContentWriter, PendingContent, SealedContent};

pub(crate) use files::BlobId;

use rusqlite::{OptionalExtension, params};

use self::reader::{Source, StreamPlace};
use super::conversations::{ConvState, conversation_id};
use super::segments::{self, Keys};
use super::{Ctx, Store, row};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Missing, RecordRef, Result};
use crate::format::attachment::{AttachmentMeta, CHUNK_SHIFTS, Layout, MAX_ATTACHMENT_META_BYTES};
use crate::format::envelope::{self, Place};
use crate::format::{frame, records};
use crate::ids::{AttachmentId, ConversationId, KeyEpoch, MessageId};
use crate::types::{
    Attachment, AttachmentFilter, AttachmentPage, ClearReport, ConversationUsage, NewAttachment,
};

/// An attachment row's plaintext columns and sealed metadata.
pub(crate) struct Row {
    pub(crate) id: AttachmentId,
    pub(crate) c: ConversationId,
    pub(crate) seq: u64,
    pub(crate) epoch: KeyEpoch,
    pub(crate) expires_at: Option<i64>,
    pub(crate) stored_len: u64,
    pub(crate) file: Option<Vec<u8>>,
    pub(crate) meta: Vec<u8>,
}

/// The columns [`Row::from_row`] reads, in its order.
const COLUMNS: &str = "id, conversation, seq, epoch, expires_at, stored_len, file, meta";

impl Row {
    fn from_row(r: &rusqlite::Row<'_>) -> Result<Self> {
        let c = conversation_id(r.get(1)?)?;
        let rec = record(c, KeyEpoch::FIRST, AttachmentId::from_raw(0), 0);
        let id = AttachmentId::from_raw(row::uint(r, 0, rec)?);
        let file = match r.get_ref(6)? {
            rusqlite::types::ValueRef::Null => None,
            rusqlite::types::ValueRef::Blob(b) => Some(b.to_vec()),
            _ => return Err(Error::corrupt(rec, "the file column is not a blob")),
        };
        Ok(Row {
            id,
            c,
            seq: row::uint(r, 2, rec)?,
            epoch: row::epoch(r, 3, rec)?,
            expires_at: row::opt_int(r, 4, rec)?,
            stored_len: row::uint(r, 5, rec)?,
            file,
            meta: row::blob(r, 7, rec)?,
        })
    }

    fn place(&self) -> Place {
        Place::attachment(self.c, self.epoch, self.id.get(), self.seq)
    }

    pub(crate) fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// How errors name an attachment's metadata.
fn record(c: ConversationId, epoch: KeyEpoch, id: AttachmentId, seq: u64) -> RecordRef {
    Place::attachment(c, epoch, id.get(), seq).record()
}

/// Opens a row's metadata with `aead` and checks it against the row's
/// plaintext columns: a column changed outside chatvault is an
/// authentication failure, as a segment's count is.
pub(crate) fn open_meta(ctx: &Ctx<'_>, aead: &Aead, r: &Row) -> Result<AttachmentMeta> {
    let place = r.place();
    let (version, plain) = ctx.store.sealer().open(aead, place, r.meta.clone())?;
    let corrupt = |d: &str| Error::corrupt(place.record(), d);
    if version != envelope::VERSION {
        return Err(corrupt("metadata of an unknown envelope version"));
    }
    let framed = frame::unframe(&plain).map_err(corrupt)?;
    let meta: AttachmentMeta =
        records::decode(framed.bytes()).ok_or_else(|| corrupt("the metadata does not decode"))?;
    let layout = Layout::new(meta.byte_len, meta.chunk_shift)
        .filter(|_| CHUNK_SHIFTS.contains(&meta.chunk_shift))
        .ok_or_else(|| corrupt("length or chunk size out of range"))?;
    if meta.key.is_some() == meta.removed_at_ms.is_some() {
        return Err(corrupt("a key with removed content, or no key with content"));
    }
    let columns_agree = meta.expires_at_ms == r.expires_at
        && match &meta.key {
            None => r.stored_len == 0 && r.file.is_none(),
            Some(_) => {
                r.stored_len == layout.stored_len()
                    && match &r.file {
                        None => layout.inline(),
                        Some(f) => !layout.inline() && f[..] == meta.blob_id[..],
                    }
            }
        };
    if !columns_agree {
        return Err(Error::Authentication { record: place.record() });
    }
    Ok(meta)
}

/// Seals `meta` as attachment `id` of message `seq` under `aead` at `epoch`.
fn seal_meta(
    ctx: &Ctx<'_>,
    aead: &Aead,
    c: ConversationId,
    epoch: KeyEpoch,
    id: AttachmentId,
    seq: u64,
    meta: &AttachmentMeta,
) -> Result<Vec<u8>> {
    let place = Place::attachment(c, epoch, id.get(), seq);
    let framed = records::seal_plaintext(meta, None)
        .ok_or_else(|| Error::invalid("the attachment's metadata is too large"))?;
    ctx.store.sealer().seal(aead, place, &framed)
}

fn to_attachment(r: &Row, meta: &AttachmentMeta) -> Attachment {
    Attachment {
        id: r.id,
        message: MessageId::new(r.c, r.seq),
        media_type: meta.media_type.clone(),
        file_name: meta.file_name.clone(),
        byte_len: meta.byte_len,
        app_data: meta.app_data.clone(),
        created_at_ms: meta.created_at_ms,
        removed_at_ms: meta.removed_at_ms,
    }
}

/// The metadata of an attachment to insert.
pub(crate) struct NewMeta<'a> {
    pub(crate) media_type: &'a str,
    pub(crate) file_name: Option<&'a str>,
    pub(crate) app_data: &'a [u8],
    pub(crate) created_at_ms: i64,
    /// Set for a removed attachment (an import of one): no content.
    pub(crate) removed_at_ms: Option<i64>,
}

/// The expiry of message `m`, which must exist and not have expired.
pub(crate) fn message_expiry(ctx: &mut Ctx<'_>, m: MessageId) -> Result<Option<i64>> {
    let c = m.conversation();
    let not_found = || Error::NotFound(Missing::Message(m));
    let seg = segments::containing(ctx, c, m.seq())?.ok_or_else(not_found)?;
    let now = ctx.now;
    Keys::new(c).open_view(ctx, seg, |first, views| {
        let v = views.iter().find(|v| first + v.offset == m.seq() && !v.expired(now));
        Ok(v.ok_or_else(not_found)?.expires_at_ms)
    })
}

/// Stores an attachment's row in the caller's transaction
/// (docs/ATTACHMENTS.md, "Writing", step 3), for message `seq` of
/// `state`'s conversation: its sealed content, or, for a removed one
/// (an import of one), none and its former length. The metadata is sealed
/// under a seal reserved from `state`, which the caller saves.
pub(crate) fn insert_in(
    ctx: &mut Ctx<'_>,
    state: &mut ConvState,
    seq: u64,
    new: &NewMeta<'_>,
    expires_at: Option<i64>,
    content: std::result::Result<&SealedContent, u64>,
) -> Result<AttachmentId> {
    let (content, removed_len) = match content {
        Ok(sealed) => (Some(sealed), 0),
        Err(len) => (None, len),
    };
    insert_row(ctx, state, seq, new, expires_at, content, removed_len)
}

fn insert_row(
    ctx: &mut Ctx<'_>,
    state: &mut ConvState,
    seq: u64,
    new: &NewMeta<'_>,
    expires_at: Option<i64>,
    content: Option<&SealedContent>,
    removed_len: u64,
) -> Result<AttachmentId> {
    let c = state.id;
    let aead = state.reserve_seals(ctx, 1)?;
    let stored_len = content.map_or(0, |s| s.layout.stored_len());
    let file = content.filter(|s| s.in_file()).map(|s| s.blob);
    ctx.conn
        .prepare_cached(
            "INSERT INTO attachment (conversation, seq, epoch, expires_at, stored_len, file, meta, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, x'', ?7)",
        )?
        .execute(params![
            row::sql_int(c.get())?,
            row::sql_int(seq)?,
            state.epoch.get(),
            expires_at,
            row::sql_int(stored_len)?,
            file.as_ref().map(|b| &b[..]),
            content.and_then(|s| s.body.as_deref()),
        ])?;
    let id = AttachmentId::from_raw(
        u64::try_from(ctx.conn.last_insert_rowid())
            .map_err(|_| Error::invalid("attachment id out of range"))?,
    );
    let meta = AttachmentMeta {
        blob_id: content.map_or([0; crate::format::attachment::BLOB_ID_LEN], |s| s.blob),
        key: content.map(|s| *s.key.expose()),
        chunk_shift: content.map_or(crate::format::attachment::CHUNK_SHIFT, |s| s.layout.shift),
        byte_len: content.map_or(removed_len, |s| s.layout.byte_len),
        media_type: new.media_type.to_owned(),
        file_name: new.file_name.map(str::to_owned),
        app_data: new.app_data.to_vec(),
        created_at_ms: new.created_at_ms,
        removed_at_ms: if content.is_some() { None } else { Some(new.removed_at_ms.unwrap_or(ctx.now)) },
        expires_at_ms: expires_at,
    };
    let sealed = seal_meta(ctx, &aead, c, state.epoch, id, seq, &meta)?;
    ctx.conn
        .prepare_cached("UPDATE attachment SET meta = ?2 WHERE id = ?1")?
        .execute(params![row::sql_int(id.get())?, sealed])?;
    Ok(id)
}

/// One row by id.
fn load(ctx: &Ctx<'_>, a: AttachmentId) -> Result<Row> {
    let missing = || Error::NotFound(Missing::Attachment(a));
    let id = a.row().ok_or_else(missing)?;
    ctx.conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM attachment WHERE id = ?1"))?
        .query_row([id], |r| Ok(Row::from_row(r)))
        .optional()?
        .ok_or_else(missing)?
}

/// Rows matching `filter_sql` (a condition on `?1`, `?2`, ...), in `order`.
fn select(ctx: &Ctx<'_>, filter_sql: &str, order: &str, args: impl rusqlite::Params) -> Result<Vec<Row>> {
    let mut stmt = ctx
        .conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM attachment WHERE {filter_sql} ORDER BY {order}"))?;
    let rows = stmt.query_map(args, |r| Ok(Row::from_row(r)))?;
    rows.map(|r| r?).collect()
}

/// Opens `r`'s metadata with its conversation's key.
fn open_row(ctx: &mut Ctx<'_>, r: &Row) -> Result<AttachmentMeta> {
    let aead = ctx.aead(r.c, r.epoch)?;
    open_meta(ctx, &aead, r)
}

/// A reader over `r`'s content, given its opened metadata.
pub(crate) fn reader(ctx: &Ctx<'_>, r: &Row, meta: &AttachmentMeta) -> Result<AttachmentReader> {
    let Some(key) = meta.key.map(Key32::from_bytes) else {
        return Err(Error::NotFound(Missing::Attachment(r.id)));
    };
    let layout = Layout::new(meta.byte_len, meta.chunk_shift)
        .ok_or_else(|| Error::corrupt(r.place().record(), "length or chunk size out of range"))?;
    let place = StreamPlace {
        store_id: *ctx.store.sealer().store_id(),
        conversation: r.c,
        epoch: r.epoch,
        attachment: r.id,
        blob: meta.blob_id,
    };
    let source = match &r.file {
        Some(_) => match files::open(ctx.store.base_path(), &meta.blob_id) {
            Ok(f) => Source::File(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::corrupt(place.chunk_record(0), "the attachment's file is missing"));
            }
            Err(e) => return Err(Error::Io(e)),
        },
        None => {
            let rec = place.chunk_record(0);
            let body: Option<Vec<u8>> = ctx
                .conn
                .prepare_cached("SELECT body FROM attachment WHERE id = ?1 AND typeof(body) = 'blob'")?
                .query_row([row::sql_int(r.id.get())?], |row| row.get(0))
                .optional()?;
            Source::Inline(body.ok_or_else(|| Error::corrupt(rec, "the inline content is missing"))?)
        }
    };
    AttachmentReader::new(source, &key, place, layout)
}

impl Store {
    /// Starts writing an attachment of message `m`. Write its content to
    /// the returned [`AttachmentWriter`] and call
    /// [`AttachmentWriter::finish`], which stores it and returns its id;
    /// the message must exist then (and not have expired). Memory stays at
    /// one chunk (64 KiB) whatever the size, up to
    /// [`crate::limits::MAX_ATTACHMENT_BYTES`].
    pub fn attach(&self, m: MessageId, new: NewAttachment) -> Result<AttachmentWriter<'_>> {
        let len = new.media_type.len() + new.file_name.as_ref().map_or(0, String::len) + new.app_data.len();
        if len > MAX_ATTACHMENT_META_BYTES {
            return Err(Error::TooLarge {
                what: "attachment metadata",
                len,
                limit: MAX_ATTACHMENT_META_BYTES,
            });
        }
        // Fails early, before any byte is written, for a conversation that
        // does not exist; the message itself is checked when it is stored.
        self.read_short(|ctx| ConvState::load(ctx, m.conversation()).map(|_| ()))?;
        AttachmentWriter::new(self, m, new)
    }

    /// Writes a whole attachment from a reader: [`Store::attach`], a copy,
    /// and [`AttachmentWriter::finish`].
    pub fn attach_from(
        &self,
        m: MessageId,
        new: NewAttachment,
        content: &mut impl std::io::Read,
    ) -> Result<AttachmentId> {
        let mut w = self.attach(m, new)?;
        std::io::copy(content, &mut w).map_err(|e| match e.downcast::<Error>() {
            Ok(e) => e,
            Err(e) => Error::Io(e),
        })?;
        w.finish()
    }

    /// Opens an attachment's content for reading (`Read + Seek`).
    /// [`Error::NotFound`] if it does not exist, its message expired, or
    /// its content was removed ([`Store::clear_attachments`]).
    pub fn open_attachment(&self, a: AttachmentId) -> Result<AttachmentReader> {
        self.read_short(|ctx| {
            let r = load(ctx, a)?;
            if r.expired(ctx.now) {
                return Err(Error::NotFound(Missing::Attachment(a)));
            }
            let meta = open_row(ctx, &r)?;
            reader(ctx, &r, &meta)
        })
    }

    /// An attachment's metadata.
    pub fn attachment(&self, a: AttachmentId) -> Result<Attachment> {
        self.read_short(|ctx| {
            let r = load(ctx, a)?;
            if r.expired(ctx.now) {
                return Err(Error::NotFound(Missing::Attachment(a)));
            }
            let meta = open_row(ctx, &r)?;
            Ok(to_attachment(&r, &meta))
        })
    }

    /// A message's attachments, in the order they were written.
    pub fn message_attachments(&self, m: MessageId) -> Result<Vec<Attachment>> {
        self.read_short(|ctx| {
            let c = row::sql_int(m.conversation().get())?;
            let rows =
                select(ctx, "conversation = ?1 AND seq = ?2", "id", params![c, row::sql_int(m.seq())?])?;
            let now = ctx.now;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows.iter().filter(|r| !r.expired(now)) {
                let meta = open_row(ctx, r)?;
                out.push(to_attachment(r, &meta));
            }
            Ok(out)
        })
    }

    /// The attachments of `c`'s messages `first..=last`, by sequence number,
    /// each message's in the order they were written, in one read: the
    /// plaintext exports' way to list a page's attachments.
    pub(crate) fn attachments_between(
        &self,
        c: ConversationId,
        first: u64,
        last: u64,
    ) -> Result<std::collections::BTreeMap<u64, Vec<Attachment>>> {
        self.read(|ctx| {
            let rows = select(
                ctx,
                "conversation = ?1 AND seq BETWEEN ?2 AND ?3 AND (expires_at IS NULL OR expires_at > ?4)",
                "seq, id",
                params![row::sql_int(c.get())?, row::sql_int(first)?, row::sql_int(last)?, ctx.now],
            )?;
            let mut keys = Keys::new(c);
            let mut out: std::collections::BTreeMap<u64, Vec<Attachment>> = std::collections::BTreeMap::new();
            for r in rows {
                let aead = keys.get(ctx, r.epoch)?;
                let meta = open_meta(ctx, aead, &r)?;
                out.entry(r.seq).or_default().push(to_attachment(&r, &meta));
            }
            Ok(out)
        })
    }

    /// A page of a conversation's attachments, newest message first (a
    /// chat's media gallery), optionally of one kind of media.
    pub fn attachments(&self, c: ConversationId, page: AttachmentPage) -> Result<Vec<Attachment>> {
        self.read(|ctx| {
            ConvState::load(ctx, c)?;
            let c_i = row::sql_int(c.get())?;
            let (seq, id) = match page.before {
                None => (i64::MAX, i64::MAX),
                Some(a) => {
                    let r = load(ctx, a)?;
                    if r.c != c {
                        return Err(Error::invalid(format!("attachment {a} is not in conversation {c}")));
                    }
                    (row::sql_int(r.seq)?, row::sql_int(r.id.get())?)
                }
            };
            let now = ctx.now;
            let mut out = Vec::new();
            let mut stmt = ctx.conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM attachment WHERE conversation = ?1 AND (seq, id) < (?2, ?3)
                 AND (expires_at IS NULL OR expires_at > ?4) ORDER BY seq DESC, id DESC"
            ))?;
            let mut rows = stmt.query(params![c_i, seq, id, now])?;
            let mut keys = Keys::new(c);
            while out.len() < page.limit {
                let Some(r) = rows.next()? else { break };
                let r = Row::from_row(r)?;
                let aead = keys.get(ctx, r.epoch)?;
                let meta = open_meta(ctx, aead, &r)?;
                if page.media_type_prefix.as_ref().is_none_or(|p| meta.media_type.starts_with(p.as_str())) {
                    out.push(to_attachment(&r, &meta));
                }
            }
            Ok(out)
        })
    }

    /// Deletes an attachment, keeping its message: its row is removed and
    /// scrubbed and its file unlinked before this returns.
    pub fn delete_attachment(&self, a: AttachmentId) -> Result<()> {
        self.write(|ctx| {
            let r = load(ctx, a)?;
            delete_rows(ctx, "id = ?1", params![row::sql_int(a.get())?])?;
            drop(r);
            ctx.request_scrub();
            Ok(())
        })
    }

    /// The storage manager: removes the content of every attachment
    /// `filter` matches, keeping its message and its metadata (marked
    /// removed, so the chat can show what was there). Files are unlinked
    /// and rows scrubbed before this returns.
    pub fn clear_attachments(&self, filter: &AttachmentFilter) -> Result<ClearReport> {
        self.write(|ctx| {
            let rows = match filter.conversation {
                Some(c) => select(ctx, "conversation = ?1 AND stored_len > 0", "id", [row::sql_int(c.get())?])?,
                None => select(ctx, "stored_len > 0", "conversation, id", [])?,
            };
            let mut report = ClearReport::default();
            let mut state: Option<ConvState> = None;
            for r in rows {
                let meta = open_row(ctx, &r)?;
                let matches = filter.media_type_prefix.as_ref().is_none_or(|p| meta.media_type.starts_with(p.as_str()))
                    && filter.created_before_ms.is_none_or(|t| meta.created_at_ms < t)
                    && filter.min_bytes.is_none_or(|n| meta.byte_len >= n);
                if !matches {
                    continue;
                }
                if state.as_ref().is_none_or(|s| s.id != r.c) {
                    if let Some(done) = state.take() {
                        done.save(ctx, false)?;
                    }
                    state = Some(ConvState::load(ctx, r.c)?);
                }
                let Some(st) = state.as_mut() else { continue };
                let aead = st.reserve_seals(ctx, 1)?;
                let mut stub = meta.clone();
                if let Some(k) = stub.key.as_mut() {
                    zeroize::Zeroize::zeroize(k);
                }
                stub.key = None;
                stub.removed_at_ms = Some(ctx.now);
                let sealed = seal_meta(ctx, &aead, r.c, st.epoch, r.id, r.seq, &stub)?;
                ctx.conn
                    .prepare_cached(
                        "UPDATE attachment SET epoch = ?2, stored_len = 0, file = NULL, body = NULL, meta = ?3 WHERE id = ?1",
                    )?
                    .execute(params![row::sql_int(r.id.get())?, st.epoch.get(), sealed])?;
                if r.file.is_some() {
                    ctx.after_commit_unlink(meta.blob_id);
                }
                report.attachments += 1;
                report.bytes = report.bytes.saturating_add(r.stored_len);
            }
            if let Some(done) = state {
                done.save(ctx, false)?;
            }
            if report.attachments > 0 {
                ctx.request_scrub();
            }
            Ok(report)
        })
    }

    /// What each conversation takes on disk, text and attachments apart,
    /// largest first (the storage-management screen). Nothing is decrypted.
    pub fn storage_usage(&self) -> Result<Vec<ConversationUsage>> {
        let mut out = self.read(|ctx| {
            let mut stmt = ctx.conn.prepare_cached(
                "SELECT c.id,
                   length(c.meta)
                   + COALESCE((SELECT SUM(length(s.body)) FROM segment s
                               WHERE s.id BETWEEN c.id * 4294967296 AND c.id * 4294967296 + 4294967295), 0)
                   + COALESCE((SELECT SUM(length(f.filter)) FROM segment_filter f
                               WHERE f.id BETWEEN c.id * 4294967296 AND c.id * 4294967296 + 4294967295), 0),
                   COALESCE((SELECT SUM(a.stored_len) FROM attachment a WHERE a.conversation = c.id), 0),
                   (SELECT COUNT(*) FROM attachment a WHERE a.conversation = c.id)
                 FROM conversation c ORDER BY c.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (c, text, att, n) = r?;
                let u = |v: i64| u64::try_from(v).unwrap_or(0);
                out.push(ConversationUsage {
                    conversation: conversation_id(c)?,
                    text_bytes: u(text),
                    attachment_bytes: u(att),
                    attachments: u(n),
                });
            }
            Ok(out)
        })?;
        out.sort_by_key(|u| std::cmp::Reverse(u.text_bytes.saturating_add(u.attachment_bytes)));
        Ok(out)
    }

    /// Removes attachment files no row names (a crash while one was
    /// written, or an unlink that failed), except those being written.
    /// Returns how many files and bytes.
    pub(crate) fn sweep_attachment_files(&self) -> Result<(u64, u64)> {
        files::sweep(self)
    }
}

/// A reader over sealed content held in memory, with the given identity
/// and claimed layout (the fuzz harness's way in: `crate::__fuzz::attachment`).
#[cfg(feature = "fuzzing")]
pub(crate) fn reader_over(
    sealed: Vec<u8>,
    key: &Key32,
    store_id: [u8; crate::format::envelope::STORE_ID_LEN],
    conversation: ConversationId,
    blob: BlobId,
    byte_len: u64,
    shift: u8,
) -> Result<AttachmentReader> {
    let layout = Layout::new(byte_len, shift).ok_or_else(|| Error::invalid("layout out of range"))?;
    let place = StreamPlace {
        store_id,
        conversation,
        epoch: KeyEpoch::FIRST,
        attachment: AttachmentId::from_raw(1),
        blob,
    };
    AttachmentReader::new(Source::Inline(sealed), key, place, layout)
}

/// What an export writes of one attachment: its metadata, opened, and a
/// reader over its content (`None` once removed).
pub(crate) struct Exported {
    pub(crate) message_seq: u64,
    pub(crate) meta: AttachmentMeta,
    pub(crate) content: Option<AttachmentReader>,
}

/// Conversation `c`'s attachments of messages up to `last_seq` that have
/// not expired, in message order, `limit` at a time after `after` (the
/// last (seq, id) returned), each opened.
pub(crate) fn for_export(
    ctx: &mut Ctx<'_>,
    c: ConversationId,
    last_seq: u64,
    after: (u64, u64),
    limit: usize,
) -> Result<Vec<(u64, Exported)>> {
    let rows = select(
        ctx,
        "conversation = ?1 AND seq <= ?2 AND (seq, id) > (?3, ?4) AND (expires_at IS NULL OR expires_at > ?5)",
        &format!("seq, id LIMIT {limit}"),
        params![
            row::sql_int(c.get())?,
            row::sql_int(last_seq)?,
            row::sql_int(after.0)?,
            row::sql_int(after.1)?,
            ctx.now
        ],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let meta = open_row(ctx, &r)?;
        let content = if meta.key.is_some() { Some(reader(ctx, &r, &meta)?) } else { None };
        out.push((r.id.get(), Exported { message_seq: r.seq, meta, content }));
    }
    Ok(out)
}

/// What an import matches attachments by: media type, file name, app data
/// and length (docs/FORMAT.md, "Importing").
#[derive(PartialEq, Eq)]
pub(crate) struct Identity(String, Option<String>, Vec<u8>, u64);

pub(crate) fn identity(new: &NewMeta<'_>, byte_len: u64) -> Identity {
    Identity(new.media_type.to_owned(), new.file_name.map(str::to_owned), new.app_data.to_vec(), byte_len)
}

/// The identities of message `m`'s attachments, opened once per message
/// an import adds attachments to.
pub(crate) fn identities(ctx: &mut Ctx<'_>, m: MessageId) -> Result<Vec<Identity>> {
    let rows = select(
        ctx,
        "conversation = ?1 AND seq = ?2",
        "id",
        params![row::sql_int(m.conversation().get())?, row::sql_int(m.seq())?],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let meta = open_row(ctx, r)?;
        out.push(Identity(
            meta.media_type.clone(),
            meta.file_name.clone(),
            meta.app_data.clone(),
            meta.byte_len,
        ));
    }
    Ok(out)
}

/// Deletes the rows matching `filter_sql`, their files unlinked after the
/// commit. Returns how many.
fn delete_rows(ctx: &mut Ctx<'_>, filter_sql: &str, args: impl rusqlite::Params + Copy) -> Result<u64> {
    let blobs: Vec<Vec<u8>> = ctx
        .conn
        .prepare_cached(&format!(
            "SELECT file FROM attachment WHERE ({filter_sql}) AND typeof(file) = 'blob'"
        ))?
        .query_map(args, |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let n = ctx.conn.prepare_cached(&format!("DELETE FROM attachment WHERE {filter_sql}"))?.execute(args)?;
    for b in blobs {
        if let Ok(blob) = BlobId::try_from(&b[..]) {
            ctx.after_commit_unlink(blob);
        }
    }
    Ok(n as u64)
}

/// Deletes the attachments of message `seq` of conversation `c` (the
/// message is being deleted).
pub(crate) fn remove_for_message(ctx: &mut Ctx<'_>, c: ConversationId, seq: u64) -> Result<()> {
    delete_rows(ctx, "conversation = ?1 AND seq = ?2", params![row::sql_int(c.get())?, row::sql_int(seq)?])
        .map(|_| ())
}

/// Deletes every attachment of conversation `c` (being deleted).
pub(crate) fn remove_for_conversation(ctx: &mut Ctx<'_>, c: ConversationId) -> Result<()> {
    delete_rows(ctx, "conversation = ?1", [row::sql_int(c.get())?]).map(|_| ())
}

/// Deletes the attachments of `c`'s expired messages; returns how many.
pub(crate) fn remove_expired(ctx: &mut Ctx<'_>, c: ConversationId) -> Result<u64> {
    let now = ctx.now;
    delete_rows(ctx, "conversation = ?1 AND expires_at <= ?2", params![row::sql_int(c.get())?, now])
}

/// Reseals the metadata of `state`'s attachments sealed under an older
/// epoch under the current one (the content key moves; the content stays),
/// so the old keys can be destroyed. Returns how many.
pub(crate) fn reseal_old_epochs(ctx: &mut Ctx<'_>, state: &mut ConvState) -> Result<u64> {
    let c = state.id;
    let rows = select(
        ctx,
        "conversation = ?1 AND epoch != ?2",
        "id",
        params![row::sql_int(c.get())?, state.epoch.get()],
    )?;
    let mut keys = Keys::new(c);
    for r in &rows {
        let meta = {
            let aead = keys.get(ctx, r.epoch)?;
            open_meta(ctx, aead, r)?
        };
        let aead = state.reserve_seals(ctx, 1)?;
        let sealed = seal_meta(ctx, &aead, c, state.epoch, r.id, r.seq, &meta)?;
        ctx.conn
            .prepare_cached("UPDATE attachment SET epoch = ?2, meta = ?3 WHERE id = ?1")?
            .execute(params![row::sql_int(r.id.get())?, state.epoch.get(), sealed])?;
    }
    Ok(rows.len() as u64)
}

/// A problem with an attachment row: `(attachment id, message)` if the row
/// read, and the error.
pub(crate) type RowProblem = (Option<(u64, u64)>, Error);

/// For `verify`: every attachment row of conversation `c`, each checked
/// (metadata, columns, every chunk) with `keys`; a problem per failure.
pub(crate) fn check_conversation(
    ctx: &mut Ctx<'_>,
    keys: &mut Keys,
    c: ConversationId,
) -> Result<Vec<RowProblem>> {
    let rows: Vec<Result<Row>> = {
        let mut stmt = ctx.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM attachment WHERE conversation = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([row::sql_int(c.get())?], |r| Ok(Row::from_row(r)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut problems = Vec::new();
    for r in rows {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                problems.push((None, e));
                continue;
            }
        };
        let seqs = Some((r.id.get(), r.seq));
        let checked = keys.get(ctx, r.epoch).and_then(|aead| open_meta(ctx, aead, &r)).and_then(|meta| {
            if meta.key.is_none() {
                return Ok(());
            }
            reader(ctx, &r, &meta)?.check_all()
        });
        if let Err(e) = checked {
            problems.push((seqs, e));
        }
    }
    Ok(problems)
}

/// For `verify` and `stats`: attachment files no row names, and entries
/// of the directory that are not attachment files.
pub(crate) fn orphan_files(store: &Store) -> Result<(Vec<files::Orphan>, Vec<std::path::PathBuf>)> {
    files::orphans(store)
}

/// Blob ids in the error-free form the commit path unlinks.
pub(crate) fn unlink_files(store: &Store, blobs: &[BlobId]) -> Result<()> {
    files::unlink(store.base_path(), blobs)
}
