//! The conversation-metadata harness: arbitrary metadata plaintexts and
//! envelopes, first through the record decoder on its own (which must
//! round-trip what it accepts), then sealed with the conversation's real
//! key into its row in a real store and read back through
//! `conversation`, the conversation list, `verify`, an update, a read
//! marker and an export.
//!
//! Input layout:
//!
//! ```text
//! flags   u8   bit 0: envelope version 1 (else 2); bit 1: the rest is an
//!              envelope stored as it is (not sealed); bit 2: also update
//!              the title, mark a message read and export the conversation
//! rest         the metadata plaintext (or envelope)
//! ```
//!
//! Metadata that decodes must read back exactly, list with the right
//! unread count and pass `verify`; metadata that does not must make every
//! read of the conversation fail with `Authentication` or `Corrupt`, and
//! `verify` report it.

use super::input::Input;
use super::{ensure, kind};
use crate::Store;
use crate::archive::{ExportOptions, ImportOptions, inspect};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Result as StoreResult};
use crate::format::envelope::{Place, VERSION, VERSION_1};
use crate::format::frame;
use crate::format::records::{self, ConversationMeta};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::keys::Sealer;
use crate::store::internals::ConvState;
use crate::types::{Conversation, ConversationUpdate, NewConversation, NewMessage, limits};

/// The harness conversation's external id.
const CONVERSATION: &str = "fuzz-conversation";
/// Messages the harness conversation holds (sequence numbers 1 to 3).
const MESSAGES: u64 = 3;
/// The title an update sets.
const RENAMED: &str = "renamed ✓";
/// The key the harness exports with.
const ARCHIVE_KEY: [u8; 32] = [0x6B; 32];

/// What one input reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Whether the metadata decoded (and was sealed, not stored raw).
    pub valid: bool,
    /// Whether the update, read marker and export ran.
    pub rewritten: bool,
}

/// Runs one input against `store` (made by [`super::create_store`]).
/// `Err` describes how the store misbehaved.
pub fn run(store: &Store, data: &[u8]) -> Result<Outcome, String> {
    let mut input = Input::new(data);
    let flags = input.byte();
    let version = if flags & 1 == 1 { VERSION_1 } else { VERSION };
    let raw = flags & 2 != 0;
    let body = input.bytes(usize::MAX);
    check_envelope(body)?;
    let meta = check_decoder(version, body)?;
    let c = harness_conversation(store)?;
    install(store, c, version, raw, body).map_err(|e| format!("cannot store the metadata: {e}"))?;
    match meta.filter(|_| !raw) {
        Some(meta) => check_valid(store, c, meta, flags & 4 != 0),
        None => check_damaged(store, c),
    }
}

/// The harness conversation, created with its messages on first use.
fn harness_conversation(store: &Store) -> Result<ConversationId, String> {
    if let Some(c) = store.find_conversation(CONVERSATION).map_err(|e| format!("find: {e}"))? {
        return Ok(c);
    }
    let c = store
        .create_conversation(NewConversation {
            external_id: Some(CONVERSATION.into()),
            title: "conversation".into(),
            ..Default::default()
        })
        .map_err(|e| format!("cannot create the harness conversation: {e}"))?;
    for i in 0..MESSAGES {
        let m = NewMessage { sender: "s".into(), text: format!("message {i}"), ..Default::default() };
        store.append(c, m).map_err(|e| format!("cannot append: {e}"))?;
    }
    Ok(c)
}

/// The decoder on its own: metadata it accepts must encode and decode back
/// to the same value, framed stored or compressed.
fn check_decoder(version: u8, plain: &[u8]) -> Result<Option<ConversationMeta>, String> {
    let Ok(meta) = records::decode_meta(version, plain) else { return Ok(None) };
    let mut compressor = frame::compressor();
    for compress in [false, true] {
        let framed = records::seal_plaintext(&meta, if compress { compressor.as_mut() } else { None })
            .ok_or("decoded metadata does not encode")?;
        let again = records::decode_meta(VERSION, &framed);
        ensure(again.as_ref() == Ok(&meta), || {
            format!("metadata does not round-trip (compressed: {compress}): {again:?}")
        })?;
    }
    Ok(Some(meta))
}

/// Opening arbitrary bytes as sealed metadata must fail, without panicking.
fn check_envelope(sealed: &[u8]) -> Result<(), String> {
    let sealer = Sealer::new([7; 16]);
    let aead = Aead::new(&Key32::from_bytes(super::KEY));
    let opened = sealer.open(
        &aead,
        Place::conversation_meta(ConversationId::from_raw(1), KeyEpoch::FIRST),
        sealed.to_vec(),
    );
    ensure(matches!(opened, Err(Error::Authentication { .. })), || {
        "arbitrary bytes opened as sealed metadata".into()
    })
}

/// Replaces the harness conversation's metadata with `body`, sealed at its
/// place with envelope `version` unless `raw`.
fn install(store: &Store, c: ConversationId, version: u8, raw: bool, body: &[u8]) -> StoreResult<()> {
    store.write(|ctx| {
        let mut state = ConvState::load(ctx, c)?;
        let sealed = if raw {
            body.to_vec()
        } else {
            // Sealed with the input's envelope version, which the store's
            // own sealer (always the current one) cannot do.
            let aead = state.reserve_seals(ctx, 1)?;
            let ad = Place::conversation_meta(c, state.epoch)
                .associated_data(ctx.store.sealer().store_id(), version);
            aead.seal(ctx.store.sealer().rng(), version, &ad, body)?
        };
        state.store_sealed_meta(ctx, &sealed)?;
        state.save(ctx, false)
    })
}

/// The API view of metadata `meta` of the harness conversation.
fn to_conversation(c: ConversationId, meta: &ConversationMeta) -> Conversation {
    Conversation {
        id: c,
        external_id: meta.external_id.clone(),
        title: meta.title.clone(),
        members: meta.members.clone(),
        app_data: meta.app_data.clone(),
        created_at_ms: meta.created_at_ms,
        read_up_to: meta.read_up_to.map(|s| MessageId::new(c, s)),
        message_count: MESSAGES,
        retention_ms: meta.retention_ms,
    }
}

/// Metadata that decoded reads back as it is.
fn check_valid(
    store: &Store,
    c: ConversationId,
    meta: ConversationMeta,
    rewrite: bool,
) -> Result<Outcome, String> {
    let mut want = to_conversation(c, &meta);
    check_reads(store, &want)?;
    let report = store.verify().map_err(|e| format!("verify could not run: {e}"))?;
    ensure(report.is_ok(), || format!("verify failed valid metadata: {:?}", report.problems))?;
    if !rewrite {
        return Ok(Outcome { valid: true, rewritten: false });
    }

    // An update keeps everything it does not change, unless the stored
    // metadata is over the limits an update checks.
    let update = ConversationUpdate { title: Some(RENAMED.into()), ..Default::default() };
    let updated = store.update_conversation(c, update);
    let ext_len = meta.external_id.as_ref().map_or(0, String::len);
    if ext_len > limits::MAX_EXTERNAL_ID_BYTES {
        ensure(matches!(updated, Err(Error::TooLarge { .. })), || {
            format!("an update of metadata with a {ext_len}-byte external id gave {updated:?}")
        })?;
    } else {
        updated.map_err(|e| format!("the update failed: {e}"))?;
        want.title = RENAMED.into();
    }
    // The marker only moves forward.
    store.mark_read(c, MessageId::new(c, 2)).map_err(|e| format!("mark_read failed: {e}"))?;
    want.read_up_to = Some(MessageId::new(c, want.read_up_to.map_or(2, |r| r.seq().max(2))));
    check_reads(store, &want)?;

    // An export carries it, and the archive reads back; metadata over the
    // limits no archive may hold fails the export instead.
    let mut archive = Vec::new();
    let options = ExportOptions::raw_key(ARCHIVE_KEY).conversations([c]);
    let exported = store.export(&mut archive, &options);
    let len = meta.title.len()
        + meta.members.iter().map(String::len).sum::<usize>()
        + ext_len
        + meta.app_data.len();
    if ext_len > limits::MAX_EXTERNAL_ID_BYTES || len > limits::MAX_METADATA_BYTES {
        ensure(matches!(exported, Err(Error::Corrupt { .. })), || {
            format!("exporting metadata over the limits gave {:?}", exported.map_err(|e| e.to_string()))
        })?;
        return Ok(Outcome { valid: true, rewritten: true });
    }
    let exported = exported.map_err(|e| format!("export failed: {e}"))?;
    ensure(exported.conversations == 1 && exported.messages == MESSAGES, || {
        format!("exported {exported:?}")
    })?;
    let summary =
        inspect(&archive[..], &ImportOptions::raw_key(ARCHIVE_KEY)).map_err(|e| format!("inspect: {e}"))?;
    let archived = summary.conversations.first().ok_or("the archive holds no conversation")?;
    ensure(archived.title == want.title && archived.external_id == want.external_id, || {
        format!("the archive holds {archived:?}")
    })?;
    Ok(Outcome { valid: true, rewritten: true })
}

/// `conversation` and the list show `want`.
fn check_reads(store: &Store, want: &Conversation) -> Result<(), String> {
    let c = want.id;
    let got = store.conversation(c).map_err(|e| format!("conversation failed: {e}"))?;
    ensure(&got == want, || format!("conversation reads as {got:?}, not {want:?}"))?;
    let list = store.conversations().map_err(|e| format!("the list failed: {e}"))?;
    let line = list.iter().find(|s| s.conversation.id == c).ok_or("the conversation is not listed")?;
    ensure(&line.conversation == want, || format!("the list shows {:?}", line.conversation))?;
    let read = want.read_up_to.map_or(0, MessageId::seq);
    let unread = (1..=MESSAGES).filter(|&s| s > read).count() as u64;
    ensure(line.unread_count == unread, || format!("unread {} for marker {read}", line.unread_count))?;
    ensure(line.last_message.as_ref().map(|m| m.id.seq()) == Some(MESSAGES), || "wrong last message".into())
}

/// Metadata that does not open or decode fails every read of it.
fn check_damaged(store: &Store, c: ConversationId) -> Result<Outcome, String> {
    let damage = |what: &str, r: Result<(), Error>| {
        ensure(matches!(r, Err(Error::Authentication { .. } | Error::Corrupt { .. })), || {
            format!("{what} of damaged metadata gave {:?}", r.map_err(|e| kind(&e)))
        })
    };
    damage("conversation", store.conversation(c).map(drop))?;
    damage("the list", store.conversations().map(drop))?;
    damage("an update", store.update_conversation(c, ConversationUpdate::default()))?;
    damage("mark_read", store.mark_read(c, MessageId::new(c, 1)))?;
    let report = store.verify().map_err(|e| format!("verify could not run: {e}"))?;
    ensure(!report.is_ok(), || "verify passed damaged metadata".into())?;
    Ok(Outcome::default())
}

/// Seed inputs for the corpus (fuzz/corpus/conversation), named by what
/// they hold.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let meta = ConversationMeta {
        external_id: Some("wxid_alice".into()),
        title: "Alice 你好 👋".into(),
        members: vec!["alice".into(), "鲍勃".into(), String::new()],
        app_data: vec![0, 1, 2, 255],
        created_at_ms: super::START_MS - 86_400_000,
        read_up_to: Some(2),
        retention_ms: Some(7 * 86_400_000),
        origin: None,
    };
    let stored =
        |m: &ConversationMeta| records::seal_plaintext(m, None).map(|p| p.to_vec()).unwrap_or_default();
    let compressed = |m: &ConversationMeta| {
        let mut c = frame::compressor();
        records::seal_plaintext(m, c.as_mut()).map(|p| p.to_vec()).unwrap_or_default()
    };
    let v1 = |m: &ConversationMeta| {
        let fields = (&m.external_id, &m.title, &m.members, &m.app_data, m.created_at_ms, m.read_up_to);
        records::encode(&fields).map(|p| p.to_vec()).unwrap_or_default()
    };
    let long_title = ConversationMeta { title: "a title that repeats, ".repeat(20), ..meta.clone() };
    let bare = ConversationMeta {
        external_id: None,
        title: String::new(),
        members: Vec::new(),
        app_data: Vec::new(),
        created_at_ms: i64::MIN,
        read_up_to: None,
        retention_ms: None,
        origin: None,
    };
    let imported =
        ConversationMeta { origin: Some(records::Origin { store: [7; 16], id: u64::MAX }), ..bare.clone() };
    let far_marker =
        ConversationMeta { read_up_to: Some(u64::MAX), retention_ms: Some(u64::MAX), ..meta.clone() };
    let long_ext = ConversationMeta { external_id: Some("x".repeat(1100)), ..bare.clone() };
    let with = |flags: u8, body: Vec<u8>| [vec![flags], body].concat();
    let mut flipped = stored(&meta);
    if let Some(b) = flipped.get_mut(7) {
        *b ^= 0x10;
    }
    let truncated = stored(&meta)[..12].to_vec();
    vec![
        ("valid-full", with(4, stored(&meta))),
        ("valid-read-only", with(0, stored(&meta))),
        ("valid-compressed", with(4, compressed(&long_title))),
        ("valid-version-1", with(5, v1(&meta))),
        ("valid-bare", with(4, stored(&bare))),
        ("valid-far-marker", with(4, stored(&far_marker))),
        ("valid-long-external-id", with(4, stored(&long_ext))),
        ("valid-imported-origin", with(4, stored(&imported))),
        ("damaged-raw-envelope", with(6, vec![2; 60])),
        ("damaged-flipped", with(4, flipped)),
        ("damaged-truncated", with(4, truncated)),
        ("damaged-version-mismatch", with(5, stored(&meta))),
        ("damaged-empty", vec![4]),
    ]
}
