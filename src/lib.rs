//! chatvault: an embedded, encrypted, on-device message store for chat apps.
//!
//! Every conversation has its own key. Messages are sealed with AES-256-GCM
//! in segments, bound by associated data to their store, conversation, key
//! epoch and sequence range, so a ciphertext moved anywhere else fails to
//! open. Deleting a conversation deletes its key, and the store scrubs the
//! database file and its write-ahead log before the call returns, so no copy
//! of the conversation can be read again. Nothing the user wrote reaches disk
//! unencrypted.
//!
//! ```
//! use chatvault::{NewConversation, NewMessage, Page, Store, StoreKey};
//!
//! # fn main() -> chatvault::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("chats.chatvault");
//! // The app keeps this key in the iOS Keychain or the Android Keystore.
//! let key = [7u8; 32];
//! let store = Store::create(&path, StoreKey::raw(key))?;
//!
//! let alice = store.create_conversation(NewConversation {
//!     external_id: Some("wxid_alice".into()),
//!     title: "Alice".into(),
//!     ..Default::default()
//! })?;
//! let hello = store.append(alice, NewMessage {
//!     external_id: Some("srv-1".into()),
//!     sender: "alice".into(),
//!     sent_at_ms: 1_700_000_000_000,
//!     text: "bonjour 你好 👋".into(),
//!     ..Default::default()
//! })?;
//!
//! // A sync retry delivers the same message again: nothing new is stored.
//! let again = store.append(alice, NewMessage {
//!     external_id: Some("srv-1".into()),
//!     sender: "alice".into(),
//!     text: "bonjour 你好 👋".into(),
//!     ..Default::default()
//! })?;
//! assert_eq!(hello, again);
//!
//! let page = store.messages(alice, Page::latest(50))?;
//! assert_eq!(page[0].text, "bonjour 你好 👋");
//!
//! drop(store);
//! let store = Store::open(&path, StoreKey::raw(key))?;
//! assert_eq!(store.find_conversation("wxid_alice")?, Some(alice));
//! store.delete_conversation(alice)?; // its key is gone, and the WAL is scrubbed
//! # Ok(())
//! # }
//! ```
//!
//! [`Store::export`] writes a streaming, authenticated archive of the store
//! (docs/FORMAT.md) that [`Store::import`] reads into another store, on
//! another device; [`archive::inspect`] verifies one without importing it.
//!
//! The layers, bottom up, each using only those below it (and the shared
//! vocabulary of `error`, `ids` and `types`): `format` (byte layouts, from
//! docs/DESIGN.md and docs/FORMAT.md), `crypto` (primitives over ring and
//! argon2, sealing in `format`'s envelope), `keys` (the key hierarchy),
//! `archive` (the archive stream and records), `search` (the matching rules
//! and the term filters), `store` (SQLite and the
//! operations; export and import drive `archive`), and this crate's
//! re-exports (the API). The fuzz entry points (`__fuzz`,
//! `archive::__fuzz`) stand outside the order, they drive the store, and
//! exist only with the `fuzzing` feature: the fuzz targets and the corpus
//! replay test turn it on, a default or release build has none of them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzzing/mod.rs"]
pub mod __fuzz;
pub mod archive;
mod atomic;
mod crypto;
mod error;
mod format;
mod ids;
mod keys;
mod maintenance;
mod plaintext;
mod search;
mod store;
mod types;

pub use archive::{ExportOptions, ImportOptions};
pub use error::{DatabaseError, Error, Missing, RecordKind, RecordRef, Result};
pub use format::FORMAT_VERSION;
pub use ids::{AttachmentId, ConversationId, KeyEpoch, MessageId};
pub use keys::{KdfParams, StoreKey};
pub use maintenance::{
    CompactOptions, CompactProgress, CompactReport, EpochStats, Problem, ProblemKind, ProgressFn,
    RotateOptions, RotationReport, Stats, VerifyReport,
};
pub use plaintext::{HtmlExport, HtmlOptions, LocalZone, Plaintext};
pub use search::{IndexReport, SearchCursor, SearchHit, SearchPage, SearchQuery};
pub use store::{AttachmentReader, AttachmentWriter, Store};
pub use types::{
    Attachment, AttachmentFilter, AttachmentPage, ClearReport, Clock, Conversation, ConversationSummary,
    ConversationUpdate, ConversationUsage, Durability, Message, NewAttachment, NewConversation, NewMessage,
    Page, StoreOptions, limits,
};
