//! The segment harness: arbitrary segment plaintexts and envelopes, first
//! through the record decoders on their own (which must round-trip what
//! they accept), then sealed with the conversation's real key into the
//! segment rows of a real store and read back through pages, single
//! messages, the conversation list, `verify`, edits, deletes and compaction.
//!
//! Input layout (past the end, every byte reads as zero):
//!
//! ```text
//! flags        u8   bit 0: on a valid layout, also edit, delete and compact
//! then up to four segments, while input remains:
//!   header     u8   bit 0: envelope version 1 (else 2); bit 1: the body is
//!                   an envelope stored as it is (not sealed); bit 2: count
//!                   and expiry columns come from the input
//!   gap        i8   first_seq = previous last_seq + 1 + gap (at least the
//!                   previous first_seq + 1, and 1)
//!   slack      u8   last_seq = first_seq + highest decoded offset + slack
//!   [count     u8,  expiry flag u8 (bit 0: set), expiry i64 BE]  if bit 2
//!   length     u16 BE, then that many bytes: the plaintext (or envelope)
//! ```
//!
//! A layout is *valid* when every segment decodes, holds messages in order
//! inside its range, with UTF-8 strings, matching count and expiry columns,
//! and the ranges do not overlap: then every read must return exactly the
//! decoded messages (less the expired ones) and `verify` must pass. When a
//! segment does not decode or its columns disagree, reads over it must fail
//! with `Authentication` or `Corrupt`, `verify` must report it, and
//! compaction must skip the conversation.

use super::ensure;
use super::input::Input;
use crate::Store;
use crate::archive::{ExportOptions, ImportOptions, inspect};
use crate::crypto::{Aead, Key32};
use crate::error::{Error, Result as StoreResult};
use crate::format::envelope::{Place, VERSION, VERSION_1};
use crate::format::frame;
use crate::format::records::{self, StoredMessage};
use crate::ids::{ConversationId, KeyEpoch, MessageId};
use crate::keys::Sealer;
use crate::maintenance::CompactOptions;
use crate::store::internals::{self as store_fns, ConvState, Sealed};
use crate::types::{Message, NewConversation, Page, limits};

/// Most segments one input lays out.
const MAX_SEGMENTS: usize = 4;
/// The harness conversation's external id.
const CONVERSATION: &str = "fuzz-segments";
/// The text the harness edits a message to.
const EDITED: &str = "edited ✓";

/// What one input reached, for the replay test to check the corpus covers
/// the deep paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Segments laid out.
    pub segments: usize,
    /// Whether the layout was valid (see the module docs).
    pub valid: bool,
    /// Whether some segment did not decode or disagreed with its columns.
    pub damaged: bool,
    /// Live messages read back.
    pub messages: usize,
    /// Whether the edit, delete and compaction ran.
    pub rewritten: bool,
}

/// One segment row the input asks for.
struct Spec {
    version: u8,
    raw: bool,
    body: Vec<u8>,
    first: u64,
    last: u64,
    count: u64,
    expires_at: Option<i64>,
    /// The decoded messages, if the body decodes (as a plaintext).
    messages: Option<Vec<StoredMessage>>,
    /// Whether the decoded views hold invalid UTF-8 (then `messages` is `None`).
    bad_utf8: bool,
    /// What the body decodes to, if it does.
    summary: Option<Summary>,
}

/// The shape of a body's decoded messages.
#[derive(Clone, Copy)]
struct Summary {
    count: u64,
    ordered: bool,
    max_offset: u64,
    earliest: Option<i64>,
}

impl Spec {
    /// Whether reading this row succeeds apart from UTF-8: it opens,
    /// decodes, and agrees with its columns.
    fn opens(&self) -> bool {
        let Some(s) = self.summary.filter(|_| !self.raw) else { return false };
        s.count > 0
            && s.ordered
            && self.first <= self.last
            && s.max_offset <= self.last - self.first
            && s.count == self.count
            && s.earliest == self.expires_at
    }
}

/// The shape of a body's messages, if it decodes.
fn summary(version: u8, body: &[u8]) -> Option<Summary> {
    let record = records::segment_record(version, body).ok()?;
    let views = records::decode_segment_view(version, record.bytes()).ok()?;
    Some(Summary {
        count: views.len() as u64,
        ordered: views.windows(2).all(|w| w[0].offset < w[1].offset),
        max_offset: views.iter().map(|v| v.offset).max().unwrap_or(0),
        earliest: views.iter().filter_map(|v| v.expires_at_ms).min(),
    })
}

/// Runs one input against `store` (made by [`super::create_store`]).
/// `Err` describes how the store misbehaved.
pub fn run(store: &Store, data: &[u8]) -> Result<Outcome, String> {
    let mut input = Input::new(data);
    let flags = input.byte();
    let specs = parse(&mut input)?;
    let c = harness_conversation(store)?;
    install(store, c, &specs).map_err(|e| format!("cannot lay out the segments: {e}"))?;
    check(store, c, &specs, flags & 1 == 1)
}

/// The harness conversation, created on first use.
fn harness_conversation(store: &Store) -> Result<ConversationId, String> {
    match store.find_conversation(CONVERSATION) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => store
            .create_conversation(NewConversation {
                external_id: Some(CONVERSATION.into()),
                title: "segments".into(),
                ..Default::default()
            })
            .map_err(|e| format!("cannot create the harness conversation: {e}")),
        Err(e) => Err(format!("cannot find the harness conversation: {e}")),
    }
}

/// Decodes the segment specs, running each body through the decoders on
/// their own first.
fn parse(input: &mut Input<'_>) -> Result<Vec<Spec>, String> {
    let mut specs: Vec<Spec> = Vec::new();
    // Sequence numbers past the store's limit cannot be stored; keep
    // everything below it.
    let max_seq = crate::store::SEQ_LIMIT - 1;
    while !input.is_empty() && specs.len() < MAX_SEGMENTS {
        let header = input.byte();
        let version = if header & 1 == 1 { VERSION_1 } else { VERSION };
        let raw = header & 2 != 0;
        let explicit = header & 4 != 0;
        let gap = i64::from(input.byte() as i8);
        let slack = u64::from(input.byte());
        let (count, expires_at) = if explicit {
            let count = u64::from(input.byte());
            let set = input.byte() & 1 == 1;
            let expiry = input.i64();
            (Some(count), Some(set.then_some(expiry)))
        } else {
            (None, None)
        };
        let len = usize::from(input.u16());
        let body = input.bytes(len).to_vec();

        check_envelope(&body)?;
        let decoded = check_decoders(version, &body)?;
        let (prev_first, prev_last) = specs.last().map_or((0, 0), |s| (s.first, s.last));
        let after_last = i64::try_from(prev_last).unwrap_or(i64::MAX).saturating_add(1).saturating_add(gap);
        let first = u64::try_from(after_last).unwrap_or(0).max(prev_first + 1).min(max_seq);
        let (messages, bad_utf8) = match decoded {
            Decoded::Messages(m) => (Some(m), false),
            Decoded::BadUtf8 => (None, true),
            Decoded::Fails => (None, false),
        };
        let shape = summary(version, &body);
        let max_offset = shape.map_or(0, |s| s.max_offset);
        let last = first.checked_add(max_offset).and_then(|l| l.checked_add(slack)).filter(|&l| l <= max_seq);
        let last = last.unwrap_or_else(|| first.saturating_add(slack).min(max_seq));
        specs.push(Spec {
            version,
            raw,
            body,
            first,
            last,
            count: count.unwrap_or(shape.map_or(1, |s| s.count)),
            expires_at: expires_at.unwrap_or(shape.and_then(|s| s.earliest)),
            messages,
            bad_utf8,
            summary: shape,
        });
        if last >= max_seq {
            break;
        }
    }
    Ok(specs)
}

/// What the decoders made of a plaintext.
enum Decoded {
    Messages(Vec<StoredMessage>),
    /// The record decodes, but a string is not UTF-8.
    BadUtf8,
    Fails,
}

/// The record decoders on their own: a plaintext they accept must encode
/// and decode back to the same messages, framed stored or compressed.
fn check_decoders(version: u8, plain: &[u8]) -> Result<Decoded, String> {
    let Ok(record) = records::segment_record(version, plain) else { return Ok(Decoded::Fails) };
    let Ok(views) = records::decode_segment_view(version, record.bytes()) else {
        return Ok(Decoded::Fails);
    };
    let Some(messages) = views.iter().map(|v| v.to_owned()).collect::<Option<Vec<_>>>() else {
        return Ok(Decoded::BadUtf8);
    };
    let mut compressor = frame::compressor();
    for compress in [false, true] {
        let framed = records::seal_plaintext(&messages, if compress { compressor.as_mut() } else { None })
            .ok_or("decoded messages do not encode")?;
        let record = records::segment_record(VERSION, &framed).map_err(|e| format!("re-framed: {e}"))?;
        let again = records::decode_segment_view(VERSION, record.bytes())
            .map_err(|e| format!("re-encoded segment does not decode: {e}"))?
            .iter()
            .map(|v| v.to_owned())
            .collect::<Option<Vec<_>>>();
        ensure(again.as_ref() == Some(&messages), || {
            format!("segment does not round-trip (compressed: {compress})")
        })?;
    }
    Ok(Decoded::Messages(messages))
}

/// The envelope layer on arbitrary bytes: opening them under a key must
/// fail (forging a tag is out of reach) without panicking.
fn check_envelope(sealed: &[u8]) -> Result<(), String> {
    let sealer = Sealer::new([7; 16]);
    let aead = Aead::new(&Key32::from_bytes(super::KEY));
    let place = Place::segment(ConversationId::from_raw(1), KeyEpoch::FIRST, 1, 1);
    let opened = sealer.open(&aead, place, sealed.to_vec());
    ensure(matches!(opened, Err(Error::Authentication { .. })), || {
        "arbitrary bytes opened as a sealed segment".into()
    })
}

/// Replaces the harness conversation's segments with the specs' rows, and
/// sets its counters to match them.
fn install(store: &Store, c: ConversationId, specs: &[Spec]) -> StoreResult<()> {
    store.write(|ctx| {
        let mut state = ConvState::load(ctx, c)?;
        store_fns::remove_all(ctx, c)?;
        let aead = state.reserve_seals(ctx, specs.len() as u64)?;
        let epoch = state.epoch;
        let store_id = *ctx.store.sealer().store_id();
        for s in specs {
            // Sealed with the input's envelope version, which the store's
            // own sealer (always the current one) cannot do.
            let body = if s.raw {
                s.body.clone()
            } else {
                let ad = Place::segment(c, epoch, s.first, s.last).associated_data(&store_id, s.version);
                aead.seal(ctx.store.sealer().rng(), s.version, &ad, &s.body)?
            };
            let count = usize::try_from(s.count).map_err(|_| Error::invalid("count out of range"))?;
            // No search filter: searches open it whatever they look for.
            let row = Sealed {
                first: s.first,
                last: s.last,
                epoch,
                count,
                expires_at: s.expires_at,
                body,
                filter: None,
            };
            store_fns::insert(ctx, c, &row)?;
        }
        state.next_seq = specs.iter().map(|s| s.last).max().map_or(1, |l| l + 1);
        state.message_count = specs.iter().map(|s| s.count).sum();
        state.save(ctx, false)?;
        store_fns::set_compacted_through(ctx, c, 0)
    })
}

/// The API message a stored one at `first + offset` reads as.
fn to_message(c: ConversationId, first: u64, m: &StoredMessage) -> Message {
    Message {
        id: MessageId::new(c, first + m.offset),
        external_id: m.external_id.clone(),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at_ms,
        text: m.text.clone(),
        reply_to: m.reply_to.map(|r| MessageId::new(c, r)),
        edited_at_ms: m.edited_at_ms,
        extra: m.extra.clone(),
        expires_at_ms: m.expires_at_ms,
    }
}

fn check(store: &Store, c: ConversationId, specs: &[Spec], rewrite: bool) -> Result<Outcome, String> {
    let now = store.now_ms();
    let ordered = specs.windows(2).all(|w| w[1].first > w[0].last);
    let damaged = specs.iter().any(|s| !s.opens());
    let valid = !damaged && ordered && specs.iter().all(|s| s.messages.is_some() && !s.bad_utf8);
    let mut outcome = Outcome { segments: specs.len(), valid, damaged, ..Outcome::default() };
    let options = CompactOptions::default().targets(3, 1 << 20);

    let all = store.messages(c, Page::latest(usize::MAX));
    let report = store.verify().map_err(|e| format!("verify could not run: {e}"))?;
    let list = store.conversations();
    if !valid {
        // The list opens only the last segment and expired ones: no claim.
        drop(list);
        // Nothing may panic; what must fail, fails.
        let first = specs.first().map_or(1, |s| s.first);
        let _ = store.messages(c, Page::after(MessageId::new(c, first), 2));
        let _ = store.message(MessageId::new(c, first));
        let _ = store.edit_message(MessageId::new(c, first), EDITED);
        let compacted = store.compact(&options);
        ensure(!report.is_ok(), || format!("verify passed a damaged layout: {report:?}"))?;
        if damaged {
            ensure(matches!(&all, Err(Error::Authentication { .. } | Error::Corrupt { .. })), || {
                format!("a page over a damaged segment gave {:?}", all.as_ref().map(Vec::len))
            })?;
            ensure(matches!(&compacted, Ok(r) if r.conversations_skipped == [c]), || {
                format!("compaction of a damaged conversation gave {compacted:?}")
            })?;
        }
        return Ok(outcome);
    }

    // A valid layout: the decoded messages, less the expired ones.
    let expected: Vec<Message> = specs
        .iter()
        .flat_map(|s| {
            s.messages.iter().flatten().filter(|m| !m.expired(now)).map(|m| to_message(c, s.first, m))
        })
        .collect();
    let expired: Vec<MessageId> = specs
        .iter()
        .flat_map(|s| {
            s.messages
                .iter()
                .flatten()
                .filter(|m| m.expired(now))
                .map(|m| MessageId::new(c, s.first + m.offset))
        })
        .collect();
    outcome.messages = expected.len();
    ensure(report.is_ok(), || format!("verify failed a valid layout: {:?}", report.problems))?;
    let all = all.map_err(|e| format!("a page over valid segments failed: {e}"))?;
    ensure(all == expected, || "the latest page is not the decoded messages".into())?;
    let list = list.map_err(|e| format!("the conversation list failed: {e}"))?;
    let summary = list.iter().find(|s| s.conversation.id == c).ok_or("the conversation is not listed")?;
    ensure(summary.last_message.as_ref() == expected.last(), || "the last message is wrong".into())?;
    ensure(summary.conversation.message_count == expected.len() as u64, || {
        format!("message_count {} for {} live messages", summary.conversation.message_count, expected.len())
    })?;
    let read = summary.conversation.read_up_to.map_or(0, MessageId::seq);
    let unread = expected.iter().filter(|m| m.id.seq() > read).count() as u64;
    ensure(summary.unread_count == unread, || format!("unread {} for {unread}", summary.unread_count))?;
    check_paging(store, c, &expected)?;
    for m in &expected {
        let got = store.message(m.id).map_err(|e| format!("message {} failed: {e}", m.id))?;
        ensure(&got == m, || format!("message {} is not the decoded one", m.id))?;
    }
    for &id in &expired {
        let got = store.message(id);
        ensure(matches!(got, Err(Error::NotFound(_))), || format!("expired message {id} gave {got:?}"))?;
    }

    check_export(store, c, specs, &expected)?;

    // Compaction removes the expired messages and repacks the rest.
    let compacted = store.compact(&options).map_err(|e| format!("compaction failed: {e}"))?;
    ensure(compacted.conversations_skipped.is_empty(), || "compaction skipped a valid layout".into())?;
    ensure(compacted.messages_expired == expired.len() as u64, || {
        format!("compaction removed {} of {} expired messages", compacted.messages_expired, expired.len())
    })?;
    let after = store.messages(c, Page::latest(usize::MAX)).map_err(|e| format!("after compaction: {e}"))?;
    ensure(after == expected, || "compaction changed the messages".into())?;
    check_paging(store, c, &expected)?;
    let report = store.verify().map_err(|e| format!("verify could not run: {e}"))?;
    ensure(report.is_ok(), || format!("verify failed after compaction: {:?}", report.problems))?;

    if rewrite && let (Some(first), Some(last)) = (expected.first(), expected.last()) {
        outcome.rewritten = true;
        store.edit_message(first.id, EDITED).map_err(|e| format!("edit failed: {e}"))?;
        let edited = store.message(first.id).map_err(|e| format!("edited message: {e}"))?;
        ensure(edited.text == EDITED && edited.edited_at_ms == Some(now), || {
            "the edit did not apply".into()
        })?;
        store.delete_message(last.id).map_err(|e| format!("delete failed: {e}"))?;
        let gone = store.message(last.id);
        ensure(matches!(gone, Err(Error::NotFound(_))), || format!("deleted message gave {gone:?}"))?;
        let mut want = expected.clone();
        want.pop();
        if let Some(m) = want.first_mut() {
            m.text = EDITED.into();
            m.edited_at_ms = Some(now);
        }
        let got = store.messages(c, Page::latest(usize::MAX)).map_err(|e| format!("after the edit: {e}"))?;
        ensure(got == want, || "edit and delete changed other messages".into())?;
        let report = store.verify().map_err(|e| format!("verify could not run: {e}"))?;
        ensure(report.is_ok(), || format!("verify failed after edit and delete: {:?}", report.problems))?;
    }
    Ok(outcome)
}

/// An export holds the live messages and reads back, unless one is over
/// the limits no archive may hold, or the conversation's next sequence
/// number is past the archive's 2^32 (the store's own limit, so never
/// here): then the export fails as damage.
fn check_export(
    store: &Store,
    c: ConversationId,
    specs: &[Spec],
    expected: &[Message],
) -> Result<(), String> {
    let key = [0x6B; 32];
    let mut archive = Vec::new();
    let exported = store.export(&mut archive, &ExportOptions::raw_key(key).conversations([c]));
    let next_seq = specs.iter().map(|s| s.last).max().map_or(1, |l| l + 1);
    let over = next_seq > crate::store::SEQ_LIMIT
        || expected.iter().any(|m| {
            let ext = m.external_id.as_ref().map_or(0, String::len);
            ext > limits::MAX_EXTERNAL_ID_BYTES
                || m.text.len() + m.sender.len() + m.extra.len() + ext > limits::MAX_MESSAGE_BYTES
        });
    if over {
        return ensure(matches!(exported, Err(Error::Corrupt { .. })), || {
            format!("exporting past the archive's limits gave {:?}", exported.map_err(|e| e.to_string()))
        });
    }
    let exported = exported.map_err(|e| format!("export failed: {e}"))?;
    ensure(exported.messages == expected.len() as u64, || format!("exported {exported:?}"))?;
    let summary = inspect(&archive[..], &ImportOptions::raw_key(key)).map_err(|e| format!("inspect: {e}"))?;
    ensure(summary.messages == expected.len() as u64, || {
        format!("the archive holds {} messages", summary.messages)
    })
}

/// Pages of three, backwards from the latest and forwards from the oldest,
/// add up to `expected`.
fn check_paging(store: &Store, c: ConversationId, expected: &[Message]) -> Result<(), String> {
    let page = |p| store.messages(c, p).map_err(|e| format!("a page failed: {e}"));
    let mut back: Vec<Message> = Vec::new();
    let mut current = page(Page::latest(3))?;
    while let Some(first) = current.first().map(|m| m.id) {
        ensure(back.len() <= expected.len(), || "paging backwards does not end".into())?;
        back.splice(0..0, current);
        current = page(Page::before(first, 3))?;
    }
    ensure(back == expected, || "pages before the latest are not the messages".into())?;
    let mut fwd: Vec<Message> = Vec::new();
    let mut current = page(Page::oldest(3))?;
    while let Some(last) = current.last().map(|m| m.id) {
        ensure(fwd.len() <= expected.len(), || "paging forwards does not end".into())?;
        fwd.extend(current);
        current = page(Page::after(last, 3))?;
    }
    ensure(fwd == expected, || "pages after the oldest are not the messages".into())
}

/// Seed inputs for the corpus (fuzz/corpus/segment): valid layouts of one
/// and several segments, envelope versions 1 and 2, stored and compressed
/// frames, expired messages, and damaged ones. Named by what they hold.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let msg = |offset: u64, text: &str, expires: Option<i64>| StoredMessage {
        offset,
        external_id: offset.is_multiple_of(2).then(|| format!("ext-{offset}")),
        sender: if offset.is_multiple_of(3) { "alice".into() } else { "鲍勃".into() },
        sent_at_ms: super::START_MS - 60_000 + offset as i64,
        text: text.into(),
        reply_to: offset.checked_sub(1).map(|o| o + 1),
        edited_at_ms: (offset == 2).then_some(super::START_MS - 1),
        extra: if offset == 1 { vec![0, 1, 2] } else { Vec::new() },
        expires_at_ms: expires,
    };
    let texts = ["bonjour", "你好 👋", "", "a longer message, a longer message, a longer message"];
    let body: Vec<StoredMessage> =
        texts.iter().enumerate().map(|(i, t)| msg(i as u64 * 2, t, None)).collect();
    let mut expiring = body.clone();
    expiring[1].expires_at_ms = Some(super::START_MS - 1);
    expiring[2].expires_at_ms = Some(super::START_MS + 1);
    let stored =
        |msgs: &[StoredMessage]| records::seal_plaintext(msgs, None).map(|p| p.to_vec()).unwrap_or_default();
    let compressed = |msgs: &[StoredMessage]| {
        let mut c = frame::compressor();
        records::seal_plaintext(msgs, c.as_mut()).map(|p| p.to_vec()).unwrap_or_default()
    };
    let repetitive: Vec<StoredMessage> =
        (0..20).map(|i| msg(i, "the same words again and again and again", None)).collect();
    let v1 = |msgs: &[StoredMessage]| {
        #[derive(serde::Serialize)]
        struct V1<'a>(u64, &'a Option<String>, &'a str, i64, &'a str, Option<u64>, Option<i64>, &'a [u8]);
        let v1: Vec<V1<'_>> = msgs
            .iter()
            .map(|m| {
                V1(
                    m.offset,
                    &m.external_id,
                    &m.sender,
                    m.sent_at_ms,
                    &m.text,
                    m.reply_to,
                    m.edited_at_ms,
                    &m.extra,
                )
            })
            .collect();
        records::encode(&v1).map(|p| p.to_vec()).unwrap_or_default()
    };
    // header, gap, slack, [count, flag, expiry], length, body
    let seg = |header: u8, gap: i8, slack: u8, body: &[u8]| {
        let mut out = vec![header, gap as u8, slack];
        out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(body);
        out
    };
    let explicit = |count: u8, expiry: Option<i64>, body: &[u8]| {
        let mut out = vec![4, 0, 0, count, u8::from(expiry.is_some())];
        out.extend_from_slice(&expiry.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(body);
        out
    };
    let input = |flags: u8, segs: &[Vec<u8>]| [vec![flags], segs.concat()].concat();
    let mut flipped = stored(&body);
    if let Some(b) = flipped.get_mut(9) {
        *b ^= 0x40;
    }
    vec![
        ("valid-one-stored", input(1, &[seg(0, 0, 0, &stored(&body))])),
        ("valid-one-compressed", input(1, &[seg(0, 0, 3, &compressed(&repetitive))])),
        ("valid-version-1", input(1, &[seg(1, 0, 0, &v1(&body))])),
        ("valid-expiring", input(1, &[seg(0, 0, 0, &stored(&expiring))])),
        (
            "valid-three-segments",
            input(
                1,
                &[
                    seg(0, 0, 1, &stored(&body)),
                    seg(0, 2, 0, &compressed(&repetitive)),
                    seg(1, 0, 0, &v1(&body[..1])),
                ],
            ),
        ),
        ("valid-no-rewrite", input(0, &[seg(0, 5, 0, &stored(&body[1..]))])),
        ("empty-layout", vec![1]),
        ("damaged-overlap", input(1, &[seg(0, 0, 0, &stored(&body)), seg(0, -3, 0, &stored(&body))])),
        ("damaged-count", input(1, &[explicit(9, None, &stored(&body))])),
        ("damaged-expiry", input(1, &[explicit(4, Some(5), &stored(&body))])),
        ("damaged-raw-envelope", input(1, &[seg(2, 0, 0, &[2; 64])])),
        ("damaged-flipped-plaintext", input(1, &[seg(0, 0, 0, &flipped)])),
        ("damaged-version-mismatch", input(1, &[seg(1, 0, 0, &stored(&body))])),
        ("damaged-empty-segment", input(1, &[seg(0, 0, 0, &stored(&[]))])),
        ("damaged-truncated", input(1, &[seg(0, 0, 0, &stored(&body)[..20])])),
    ]
}
