//! Writing an attachment as a stream (docs/ATTACHMENTS.md, "Writing"):
//! one chunk of memory whatever the size; the row is committed only after
//! the file is synced.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::files::{self, BlobId};
use crate::atomic::BackgroundSync;
use crate::crypto::{self, Key32, StreamKey};
use crate::error::{Error, Result};
use crate::format::attachment::{
    self as layout, CHUNK_SHIFT, Layout, MAX_ATTACHMENT_BYTES, TAG_LEN, chunk_ad,
};
use crate::format::envelope::STORE_ID_LEN;
use crate::ids::{AttachmentId, ConversationId, MessageId};
use crate::store::Store;
use crate::types::NewAttachment;

/// Seals one attachment's content as it streams in: the key, the chunk
/// being filled, and the file once the content passes one chunk. Writes
/// nothing to the database: [`ContentWriter::finish`] hands over the
/// sealed content for a row to name.
pub(crate) struct ContentWriter {
    store_path: PathBuf,
    store_id: [u8; STORE_ID_LEN],
    conversation: ConversationId,
    rng: ring::rand::SystemRandom,
    key: Key32,
    stream: StreamKey,
    blob: BlobId,
    chunk: usize,
    /// Plaintext not yet sealed: at most one chunk.
    buf: Zeroizing<Vec<u8>>,
    /// Chunks written to the file.
    index: u64,
    /// Plaintext bytes received.
    len: u64,
    /// The file, once the content passed one chunk; locked until the row commits.
    file: Option<(File, PathBuf)>,
    /// Syncs what was written so far from another thread, so the device
    /// writes while this one encrypts (`finish` then syncs little).
    syncing: Option<BackgroundSync>,
    /// A write failed: the chunk in `buf` may be sealed, or half written to
    /// the file. Nothing more is accepted.
    failed: bool,
}

/// Content sealed by a [`ContentWriter`], waiting for its row. Its file
/// (if it has one) stays locked, so no sweep takes it for an orphan, and
/// is removed when this is dropped unless [`SealedContent::keep`] said
/// the row committed.
pub(crate) struct SealedContent {
    pub(crate) blob: BlobId,
    pub(crate) key: Key32,
    pub(crate) layout: Layout,
    /// The sealed content, when inline.
    pub(crate) body: Option<Vec<u8>>,
    file: Option<(File, PathBuf)>,
}

impl SealedContent {
    pub(crate) fn in_file(&self) -> bool {
        self.file.is_some()
    }

    /// The row naming this content committed: the file is the row's now.
    /// Unlocks it (by closing it).
    pub(crate) fn keep(mut self) {
        self.file = None;
    }
}

/// Content an import stored, waiting for the import's commit: its file
/// closed (an import may hold thousands) and kept from this handle's
/// sweeps by the store's pending set instead of a lock.
pub(crate) struct PendingContent {
    blob: BlobId,
    path: Option<PathBuf>,
}

impl SealedContent {
    /// Its row is inserted: close the file, drop the inline copy, and
    /// keep the file from sweeps until [`PendingContent::settle`].
    pub(crate) fn into_pending(mut self, store: &Store) -> PendingContent {
        let path = self.file.take().map(|(file, path)| {
            // Registered while still locked: a sweep sees one or the other.
            store.pending_blobs().insert(self.blob);
            drop(file);
            path
        });
        PendingContent { blob: self.blob, path }
    }
}

impl PendingContent {
    /// After the import's transaction: keep the file if it may have
    /// committed (as [`settle`] decides), else remove it.
    pub(crate) fn settle(self, store: &Store, keep: bool) {
        if let Some(path) = &self.path {
            if !keep {
                let _ = std::fs::remove_file(path);
            }
            store.pending_blobs().remove(&self.blob);
        }
    }
}

impl Drop for SealedContent {
    fn drop(&mut self) {
        if let Some((file, path)) = self.file.take() {
            let _ = std::fs::remove_file(&path);
            drop(file);
        }
    }
}

impl ContentWriter {
    pub(crate) fn new(store: &Store, conversation: ConversationId) -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let key = Key32::random(&rng)?;
        let mut blob = [0u8; layout::BLOB_ID_LEN];
        crypto::fill_random(&rng, &mut blob)?;
        let chunk = 1usize << CHUNK_SHIFT;
        Ok(ContentWriter {
            store_path: store.base_path().to_path_buf(),
            store_id: *store.sealer().store_id(),
            conversation,
            rng,
            stream: StreamKey::new(&key),
            key,
            blob,
            chunk,
            buf: Zeroizing::new(Vec::with_capacity(chunk + TAG_LEN as usize)),
            index: 0,
            len: 0,
            file: None,
            syncing: None,
            failed: false,
        })
    }

    /// Plaintext bytes received so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Takes some of `data` (at most a chunk); returns how much. After
    /// any error the writer accepts nothing more: drop it and start again.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize> {
        if self.failed {
            return Err(failed());
        }
        let result = self.write_some(data);
        self.failed = result.is_err();
        result
    }

    fn write_some(&mut self, data: &[u8]) -> Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.len.saturating_add(data.len() as u64) > MAX_ATTACHMENT_BYTES {
            return Err(Error::TooLarge {
                what: "attachment",
                len: usize::try_from(self.len).unwrap_or(usize::MAX).saturating_add(data.len()),
                limit: usize::try_from(MAX_ATTACHMENT_BYTES).unwrap_or(usize::MAX),
            });
        }
        if self.buf.len() == self.chunk {
            // More content: the chunk held back is not the last one.
            self.flush_chunk(false)?;
        }
        let n = data.len().min(self.chunk.saturating_sub(self.buf.len()));
        self.buf.extend_from_slice(&data[..n]);
        self.len += n as u64;
        Ok(n)
    }

    /// Takes all of `data`.
    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = self.write(data)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Seals what `buf` holds as chunk `self.index` and writes it to the
    /// file (created on the first call).
    fn flush_chunk(&mut self, last: bool) -> Result<()> {
        if self.file.is_none() {
            // Before the first chunk is sealed, the id may still change:
            // a fresh one until the path is ours (taken, or removed by a
            // sweep before this writer locked it: neither happens in practice).
            for _ in 0..8 {
                if let Some(f) = files::create_locked(&self.store_path, &self.blob)? {
                    self.syncing = Some(BackgroundSync::start(&f.0).map_err(files::io_error)?);
                    self.file = Some(f);
                    break;
                }
                crypto::fill_random(&self.rng, &mut self.blob)?;
            }
        }
        let Some((file, _)) = &mut self.file else {
            return Err(Error::Io(io::Error::other("could not create a file for the attachment")));
        };
        let ad = chunk_ad(&self.store_id, self.conversation.get(), &self.blob, self.index, last);
        self.stream.seal(self.index, last, &ad, &mut self.buf);
        file.write_all(&self.buf).map_err(files::io_error)?;
        self.index += 1;
        self.buf.clear();
        Ok(())
    }

    /// Stops the background sync, if one runs, and reports its error.
    fn join_sync(&mut self) -> Result<()> {
        self.syncing.take().map_or(Ok(()), BackgroundSync::stop).map_err(files::io_error)
    }

    /// Pads and seals the last chunk(s); for content in a file, syncs the
    /// file and its directory.
    pub(crate) fn finish(mut self) -> Result<SealedContent> {
        if self.failed {
            return Err(failed());
        }
        let layout = Layout::new(self.len, CHUNK_SHIFT).ok_or_else(|| {
            Error::invalid(format!("an attachment is at most {MAX_ATTACHMENT_BYTES} bytes"))
        })?;
        let mut padding = layout.padded() - self.len;
        while padding > 0 {
            if self.buf.len() == self.chunk {
                self.flush_chunk(false)?;
            }
            let n = padding.min(self.chunk.saturating_sub(self.buf.len()) as u64);
            let len = self.buf.len() + n as usize;
            self.buf.resize(len, 0);
            padding -= n;
        }
        let body = if self.file.is_none() {
            let ad = chunk_ad(&self.store_id, self.conversation.get(), &self.blob, 0, true);
            self.stream.seal(0, true, &ad, &mut self.buf);
            Some(std::mem::take(&mut *self.buf))
        } else {
            self.flush_chunk(true)?;
            self.join_sync()?;
            if let Some((file, _)) = &self.file {
                file.sync_all().map_err(files::io_error)?;
            }
            files::sync_dir(&files::dir_of(&self.store_path))?;
            None
        };
        let mut key = Key32::from_bytes([0; 32]);
        key.expose_mut().copy_from_slice(self.key.expose());
        Ok(SealedContent { blob: self.blob, key, layout, body, file: self.file.take() })
    }
}

/// The error of a writer whose earlier write failed.
fn failed() -> Error {
    Error::invalid(
        "an earlier write of this attachment failed: drop the writer and write the attachment again",
    )
}

impl Drop for ContentWriter {
    fn drop(&mut self) {
        // Not finished: nothing names the file.
        let _ = self.join_sync();
        if let Some((file, path)) = self.file.take() {
            let _ = std::fs::remove_file(&path);
            drop(file);
        }
    }
}

/// Writes one attachment: [`crate::Store::attach`]. Write the content
/// with [`std::io::Write`], then call [`AttachmentWriter::finish`] to store
/// it; dropping the writer instead stores nothing and removes what was
/// written.
pub struct AttachmentWriter<'s> {
    store: &'s Store,
    message: MessageId,
    new: NewAttachment,
    content: ContentWriter,
}

impl fmt::Debug for AttachmentWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentWriter")
            .field("message", &self.message)
            .field("len", &self.content.len())
            .finish_non_exhaustive()
    }
}

impl<'s> AttachmentWriter<'s> {
    pub(crate) fn new(store: &'s Store, message: MessageId, new: NewAttachment) -> Result<Self> {
        let content = ContentWriter::new(store, message.conversation())?;
        Ok(AttachmentWriter { store, message, new, content })
    }

    /// Returns the attachment's id: pads and seals the last chunk, syncs
    /// the file and its directory, then stores the row and its sealed
    /// metadata in one transaction. Fails with [`Error::NotFound`] if the
    /// message does not exist (or expired); then nothing is stored.
    pub fn finish(self) -> Result<AttachmentId> {
        let AttachmentWriter { store, message, new, content } = self;
        let sealed = content.finish()?;
        let result = store.write(|ctx| {
            let mut state = crate::store::conversations::ConvState::load(ctx, message.conversation())?;
            let expires_at = super::message_expiry(ctx, message)?;
            let meta = super::NewMeta {
                media_type: &new.media_type,
                file_name: new.file_name.as_deref(),
                app_data: &new.app_data,
                created_at_ms: ctx.now,
                removed_at_ms: None,
            };
            let id = super::insert_in(ctx, &mut state, message.seq(), &meta, expires_at, Ok(&sealed))?;
            state.save(ctx, false)?;
            Ok(id)
        });
        settle(result, sealed)
    }
}

/// After the transaction that names `sealed` content: kept if it
/// committed, removed if it surely did not. An I/O error may have come
/// while the commit was made durable, after which it may or may not be in
/// the database (SQLite recovers a WAL commit whose sync failed): the file
/// is kept then, the row's if it committed, else an orphan that `verify`
/// reports and `compact` removes. Never a row without its file.
pub(crate) fn settle<T>(result: Result<T>, sealed: SealedContent) -> Result<T> {
    match &result {
        Ok(_) | Err(Error::Io(_) | Error::ScrubIncomplete) => sealed.keep(),
        Err(_) => drop(sealed),
    }
    result
}

impl Write for AttachmentWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.content.write(data).map_err(|e| match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
