//! Archives: streaming, authenticated backups of a store's conversations,
//! to move them to another device (docs/FORMAT.md).
//!
//! [`crate::Store::export`] writes one, [`crate::Store::import`] reads one
//! into a store, and [`inspect`] verifies one end to end and says what it
//! holds. All three stream: they hold one chunk (64 KiB by default, at most
//! 1 MiB) and one record (at most 4 MiB) at a time, whatever the archive's
//! size; an import also keeps the short list of places described in
//! docs/FORMAT.md ("Importing"), and `inspect` one summary per conversation.
//!
//! Progress callbacks run inside the operation (an import's inside its
//! write transaction): they must not call into the store.

mod reader;
mod stream;
mod writer;

use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) use reader::{ArchiveReader, Item, check_conversation, check_message};
pub(crate) use writer::{ArchiveWriter, Prepared};

use crate::error::{Error, Result};
pub use crate::format::archive::ARCHIVE_VERSION;
use crate::format::archive::{CHUNK_SHIFTS, DEFAULT_CHUNK_SHIFT, Kdf};
use crate::ids::ConversationId;
use crate::keys::{KdfParams, StoreKey};

/// A progress callback for exports, imports and inspections.
pub type ArchiveProgressFn = Arc<dyn Fn(&ArchiveProgress) + Send + Sync>;

/// How far an export, import or inspection has got. Reported at the start,
/// about every 64 KiB of archive, and at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ArchiveProgress {
    /// Archive bytes written or read so far.
    pub bytes: u64,
    /// Conversations written or read so far.
    pub conversations: u64,
    /// Messages written or read so far.
    pub messages: u64,
    /// Conversations in the whole archive.
    pub total_conversations: u64,
    /// Messages in the whole archive.
    pub total_messages: u64,
}

/// Settings for [`crate::Store::export`].
pub struct ExportOptions {
    pub(crate) key: StoreKey,
    pub(crate) conversations: Option<Vec<ConversationId>>,
    pub(crate) chunk_shift: u8,
    pub(crate) progress: Option<ArchiveProgressFn>,
    pub(crate) cancel: Option<Arc<AtomicBool>>,
}

impl ExportOptions {
    /// An archive protected by `passphrase`, stretched with Argon2id at
    /// [`KdfParams::default`].
    pub fn passphrase(passphrase: impl Into<String>) -> Self {
        Self::with_key(StoreKey::passphrase(passphrase))
    }

    /// An archive protected by a passphrase with stronger Argon2id parameters.
    pub fn passphrase_with_params(passphrase: impl Into<String>, params: KdfParams) -> Self {
        Self::with_key(StoreKey::passphrase_with_params(passphrase, params))
    }

    /// An archive protected by 32 raw key bytes (no key derivation).
    pub fn raw_key(bytes: [u8; 32]) -> Self {
        Self::with_key(StoreKey::raw(bytes))
    }

    /// An archive protected by `key`, raw or passphrase.
    pub fn with_key(key: StoreKey) -> Self {
        ExportOptions {
            key,
            conversations: None,
            chunk_shift: DEFAULT_CHUNK_SHIFT,
            progress: None,
            cancel: None,
        }
    }

    /// Exports only these conversations, in this order (default: all, by id).
    pub fn conversations(mut self, ids: impl IntoIterator<Item = ConversationId>) -> Self {
        self.conversations = Some(ids.into_iter().collect());
        self
    }

    /// The body's chunk size: a power of two from 1 KiB to 1 MiB (default
    /// 64 KiB). Smaller chunks cost 16 bytes of tag each.
    pub fn chunk_size(mut self, bytes: usize) -> Result<Self> {
        let shift = bytes.trailing_zeros();
        let valid = bytes.is_power_of_two() && u8::try_from(shift).is_ok_and(|s| CHUNK_SHIFTS.contains(&s));
        if !valid {
            return Err(Error::invalid(format!(
                "chunk size must be a power of two from 1 KiB to 1 MiB, not {bytes}"
            )));
        }
        self.chunk_shift = u8::try_from(shift).unwrap_or(DEFAULT_CHUNK_SHIFT);
        Ok(self)
    }

    /// Reports progress to `f`.
    pub fn on_progress(mut self, f: impl Fn(&ArchiveProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Stops the export when `flag` becomes `true` (from any thread, or
    /// from the progress callback): it fails with [`Error::Cancelled`] at
    /// the next record. [`crate::Store::export_to_file`] then leaves no
    /// file; [`crate::Store::export`] leaves what it had written in `out`.
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }
}

impl fmt::Debug for ExportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportOptions")
            .field("key", &self.key)
            .field("conversations", &self.conversations)
            .field("chunk_size", &(1usize << self.chunk_shift))
            .finish_non_exhaustive()
    }
}

/// Settings for [`crate::Store::import`] and [`inspect`].
pub struct ImportOptions {
    pub(crate) key: StoreKey,
    pub(crate) progress: Option<ArchiveProgressFn>,
    pub(crate) max_kdf: KdfParams,
    pub(crate) cancel: Option<Arc<AtomicBool>>,
}

impl ImportOptions {
    /// Opens an archive protected by `passphrase`.
    pub fn passphrase(passphrase: impl Into<String>) -> Self {
        Self::with_key(StoreKey::passphrase(passphrase))
    }

    /// Opens an archive protected by 32 raw key bytes.
    pub fn raw_key(bytes: [u8; 32]) -> Self {
        Self::with_key(StoreKey::raw(bytes))
    }

    /// Opens an archive protected by `key`.
    pub fn with_key(key: StoreKey) -> Self {
        ImportOptions { key, progress: None, max_kdf: KdfParams::MAX, cancel: None }
    }

    /// The most Argon2id work an archive's header may ask for (default and
    /// ceiling: [`KdfParams::MAX`]). A header asking for more is refused
    /// with [`Error::KdfTooCostly`] before any key derivation, so a forged
    /// archive cannot make the app allocate or compute more than this.
    /// Lower it on memory-constrained devices (an app extension, say).
    pub fn max_kdf(mut self, limit: KdfParams) -> Self {
        self.max_kdf = limit;
        self
    }

    /// Reports progress to `f`.
    pub fn on_progress(mut self, f: impl Fn(&ArchiveProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Stops the import (or [`inspect`]) when `flag` becomes `true` (from
    /// any thread, or from the progress callback): it fails with
    /// [`Error::Cancelled`] at the next record, and an import rolls its one
    /// transaction back, so the store is exactly as it was. Once the
    /// import has committed, the flag is no longer read.
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("key", &self.key)
            .field("max_kdf", &self.max_kdf)
            .finish_non_exhaustive()
    }
}

/// What [`crate::Store::export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportReport {
    /// Conversations in the archive.
    pub conversations: u64,
    /// Messages in the archive (expired ones are left out).
    pub messages: u64,
    /// Attachments in the archive (those of expired messages left out;
    /// removed ones as metadata only).
    pub attachments: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
}

/// What [`crate::Store::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportReport {
    /// Conversations the store did not have, created.
    pub conversations_created: u64,
    /// Conversations the store had already (docs/FORMAT.md, "Importing").
    pub conversations_matched: u64,
    /// Messages added.
    pub messages_added: u64,
    /// Messages the store had already, or that had expired: not added.
    pub messages_skipped: u64,
    /// Attachments added.
    pub attachments_added: u64,
    /// Attachments the store had already (the same media type, name,
    /// length and app data on the same message), or whose message was not
    /// added: not added.
    pub attachments_skipped: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
}

/// What an archive holds: [`inspect`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveSummary {
    /// The archive format version.
    pub version: u16,
    /// Whether it is protected by a passphrase (else by a raw key).
    pub passphrase: bool,
    /// The chatvault version that wrote it.
    pub chatvault_version: String,
    /// When it was written, by the writer's clock (ms since the Unix epoch).
    pub exported_at_ms: i64,
    /// Its conversations, in archive order.
    pub conversations: Vec<ArchivedConversation>,
    /// Messages in all.
    pub messages: u64,
    /// Attachments in all (version 2), and their content's bytes.
    pub attachments: u64,
    /// Bytes of attachment content.
    pub attachment_bytes: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One conversation of an archive.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchivedConversation {
    /// The app's id for it.
    pub external_id: Option<String>,
    /// Its title.
    pub title: String,
    /// How many messages the archive holds for it.
    pub messages: u64,
    /// The earliest and latest `sent_at_ms` among them.
    pub sent_between_ms: Option<(i64, i64)>,
    /// How many attachments the archive holds for it.
    pub attachments: u64,
}

impl fmt::Debug for ArchivedConversation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::types::Len;
        f.debug_struct("ArchivedConversation")
            .field("external_id", &Len(&self.external_id))
            .field("title", &Len(self.title.as_str()))
            .field("messages", &self.messages)
            .field("sent_between_ms", &self.sent_between_ms)
            .field("attachments", &self.attachments)
            .finish()
    }
}

/// Reads an archive to its end, verifying every chunk and record, and
/// reports what it holds without importing anything. Memory grows only
/// with the number of conversations (one [`ArchivedConversation`] each).
pub fn inspect(reader: impl Read, options: &ImportOptions) -> Result<ArchiveSummary> {
    let mut archive = ArchiveReader::open(reader, &options.key, &options.max_kdf)?;
    let header = archive.header().clone();
    let mut conversations: Vec<ArchivedConversation> = Vec::new();
    let mut reporter = Reporter::new(
        options.progress.clone(),
        options.cancel.clone(),
        (header.conversations, header.messages),
    );
    while let Some(item) = archive.next()? {
        match item {
            Item::Conversation(c) => {
                conversations.push(ArchivedConversation {
                    external_id: c.external_id,
                    title: c.title,
                    messages: 0,
                    sent_between_ms: None,
                    attachments: 0,
                });
            }
            Item::Message(m) => {
                if let Some(c) = conversations.last_mut() {
                    c.messages += 1;
                    let t = m.sent_at_ms;
                    c.sent_between_ms = Some(c.sent_between_ms.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                }
            }
            Item::Attachment(_) => {
                if let Some(c) = conversations.last_mut() {
                    c.attachments += 1;
                }
            }
            Item::ReadMarker(_) | Item::AttachmentData(_) => {}
        }
        reporter.tick(archive.bytes_read(), archive.counts(), false)?;
    }
    reporter.tick(archive.bytes_read(), archive.counts(), true)?;
    let source = archive.source();
    let (attachments, attachment_bytes) = archive.attachment_counts();
    Ok(ArchiveSummary {
        version: header.version,
        attachments,
        attachment_bytes,
        passphrase: matches!(header.kdf, Kdf::Argon2id { .. }),
        chatvault_version: source.chatvault_version.clone(),
        exported_at_ms: source.exported_at_ms,
        conversations,
        messages: header.messages,
        bytes: archive.bytes_read(),
    })
}

/// Calls a progress callback about every 64 KiB, and checks the cancel
/// flag at every tick.
pub(crate) struct Reporter {
    progress: Option<ArchiveProgressFn>,
    cancel: Option<Arc<AtomicBool>>,
    totals: (u64, u64),
    next: u64,
}

impl Reporter {
    const EVERY: u64 = 64 << 10;

    pub(crate) fn new(
        progress: Option<ArchiveProgressFn>,
        cancel: Option<Arc<AtomicBool>>,
        totals: (u64, u64),
    ) -> Self {
        Reporter { progress, cancel, totals, next: 0 }
    }

    /// Reports if `bytes` passed the next mark, or if `force`; then
    /// [`Error::Cancelled`] if the cancel flag is set (by the callback, say).
    pub(crate) fn tick(&mut self, bytes: u64, counts: (u64, u64), force: bool) -> Result<()> {
        self.report(bytes, counts, force);
        if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    /// Reports if `bytes` passed the next mark, or if `force`, whatever the
    /// cancel flag says (for the report after an import committed).
    pub(crate) fn report(&mut self, bytes: u64, (conversations, messages): (u64, u64), force: bool) {
        let Some(f) = &self.progress else { return };
        if force || bytes >= self.next {
            self.next = bytes + Self::EVERY;
            f(&ArchiveProgress {
                bytes,
                conversations,
                messages,
                total_conversations: self.totals.0,
                total_messages: self.totals.1,
            });
        }
    }
}

/// Entry points for the fuzz targets in `fuzz/` and their corpus replay
/// test. Not part of the API: no stability promise, and only with the
/// `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz {
    use super::stream::ChunkReader;
    use super::{ImportOptions, inspect};
    use crate::format::archive::{HEADER_LEN, Header};
    use crate::keys::{ArchiveKeys, KdfParams, StoreKey};

    /// The raw key fuzzed archives are made with.
    pub const KEY: [u8; 32] = [0x5A; 32];

    /// One fuzz input: `0` then archive bytes, inspected with [`KEY`]; or
    /// `1`, two big-endian u64 counts and a body, sealed into a valid
    /// archive first so the record parser is reached. Never panics.
    pub fn run(data: &[u8]) {
        if let Some(archive) = archive_of(data) {
            let _ = inspect(&archive[..], &ImportOptions::raw_key(KEY));
        }
    }

    /// The archive a fuzz input stands for (see [`run`]).
    pub fn archive_of(data: &[u8]) -> Option<Vec<u8>> {
        match data.split_first() {
            Some((1, rest)) if rest.len() >= 16 => {
                let (counts, body) = rest.split_at(16);
                let mut c = [0u8; 8];
                c.copy_from_slice(counts.get(..8).unwrap_or(&[0; 8]));
                let conversations = u64::from_be_bytes(c);
                c.copy_from_slice(counts.get(8..16).unwrap_or(&[0; 8]));
                seal(body, (conversations, u64::from_be_bytes(c)))
            }
            Some((_, rest)) => Some(rest.to_vec()),
            None => None,
        }
    }

    /// Imports the archive a fuzz input stands for into `store`; an error
    /// if the store fails `verify` afterwards (the fuzz target panics on it).
    pub fn import_into(store: &crate::Store, data: &[u8]) -> Result<(), String> {
        let Some(archive) = archive_of(data) else { return Ok(()) };
        let _ = store.import(&archive[..], &ImportOptions::raw_key(KEY));
        match store.verify() {
            Ok(report) if report.is_ok() => Ok(()),
            other => Err(format!("the store is damaged after an import: {other:?}")),
        }
    }

    /// A valid raw-key archive around `body` (arbitrary bytes).
    pub fn seal(body: &[u8], counts: (u64, u64)) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let prepared = super::Prepared::new(&StoreKey::raw(KEY)).ok()?;
        let w = super::ArchiveWriter::create(&mut out, prepared, 10, counts).ok()?;
        let mut chunks = w.into_chunks();
        chunks.write_all(body).ok()?;
        chunks.finish().ok()?;
        Some(out)
    }

    /// The counts and decrypted body of a valid raw-key archive: a seed for [`run`]'s mode 1.
    pub fn unseal(archive: &[u8]) -> Option<((u64, u64), Vec<u8>)> {
        let header = Header::decode(archive).ok()?;
        let keys = ArchiveKeys::derive(&StoreKey::raw(KEY), header.kdf, header.salt, &KdfParams::MAX).ok()?;
        let mut r =
            ChunkReader::new(archive.get(HEADER_LEN..)?, keys.stream_key(&header.mac), header.chunk_size());
        let mut body = Vec::new();
        let mut byte = [0u8; 1];
        while r.read_exact(&mut byte).ok()? {
            body.push(byte[0]);
        }
        Some(((header.conversations, header.messages), body))
    }
}
