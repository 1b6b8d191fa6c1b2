//! An independent reader of the store format, written from docs/DESIGN.md
//! alone with ring, argon2, postcard, zstd and rusqlite: it shares no code
//! with chatvault, so if the code drifts from the document, tests using this
//! fail. It reads formats 1 to 6 (a master-key rotation under way
//! included), and both envelope versions; format 5's search filters from
//! docs/SEARCH.md, format 6's attachments from docs/ATTACHMENTS.md.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use rusqlite::{Connection, params};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub const KIND_MASTER: u8 = 1;
pub const KIND_CONVERSATION_KEY: u8 = 2;
pub const KIND_META: u8 = 3;
pub const KIND_SEGMENT: u8 = 4;
/// "Associated data": the next master key during a rotation (format 3).
pub const KIND_NEXT_MASTER: u8 = 5;
/// docs/SEARCH.md, "The filter record": a segment's search filter (format 5).
pub const KIND_FILTER: u8 = 6;
/// docs/ATTACHMENTS.md, "The sealed metadata": an attachment (format 6).
pub const KIND_ATTACHMENT: u8 = 7;

/// "Sealed values": the envelope version of format 1's values, still read.
pub const ENVELOPE_V1: u8 = 1;
/// "Sealed values": the envelope version of everything format 2 writes.
pub const ENVELOPE_V2: u8 = 2;

/// "Record plaintexts": frame codecs.
pub const CODEC_STORED: u8 = 0;
pub const CODEC_ZSTD: u8 = 1;
/// "Record plaintexts": codec byte and u32 payload length.
pub const FRAME_HEADER: usize = 5;
/// "Record plaintexts": the most a zstd payload may declare.
pub const MAX_DECLARED: u64 = 4 << 20;

/// Where a sealed value was found: the associated data without its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub kind: u8,
    pub conv: u64,
    pub epoch: u32,
    pub first: u64,
    pub last: u64,
}

impl Place {
    pub fn master() -> Place {
        Place { kind: KIND_MASTER, conv: 0, epoch: 0, first: 0, last: 0 }
    }
    /// Kind 1 while a rotation from generation `generation` is under way.
    pub fn master_pending(generation: u64) -> Place {
        Place { kind: KIND_MASTER, conv: 0, epoch: 0, first: generation + 1, last: 1 }
    }
    pub fn key(conv: u64, epoch: u32) -> Place {
        Place { kind: KIND_CONVERSATION_KEY, conv, epoch, first: 0, last: 0 }
    }
    /// Kind 2 retired by a master-key rotation: opens, never seals.
    pub fn retired_key(conv: u64, epoch: u32) -> Place {
        Place { kind: KIND_CONVERSATION_KEY, conv, epoch, first: 0, last: 1 }
    }
    pub fn meta(conv: u64, epoch: u32) -> Place {
        Place { kind: KIND_META, conv, epoch, first: 0, last: 0 }
    }
    pub fn segment(conv: u64, epoch: u32, first: u64, last: u64) -> Place {
        Place { kind: KIND_SEGMENT, conv, epoch, first, last }
    }
    pub fn filter(conv: u64, epoch: u32, first: u64, last: u64) -> Place {
        Place { kind: KIND_FILTER, conv, epoch, first, last }
    }
    /// Kind 7: first_seq the attachment's id, last_seq its message's seq.
    pub fn attachment(conv: u64, epoch: u32, id: u64, seq: u64) -> Place {
        Place { kind: KIND_ATTACHMENT, conv, epoch, first: id, last: seq }
    }
    /// Kind 5 in a store whose `store.master_gen` is `master_gen`:
    /// conversation id, epoch and last_seq 0, first_seq the generation the
    /// next key will have, `master_gen` plus one.
    pub fn next_master(master_gen: u64) -> Place {
        Place { kind: KIND_NEXT_MASTER, conv: 0, epoch: 0, first: master_gen + 1, last: 0 }
    }
}

/// "Associated data": 50 bytes.
pub fn ad(version: u8, store_id: &[u8; 16], place: &Place) -> Vec<u8> {
    let mut ad = Vec::with_capacity(50);
    ad.extend_from_slice(b"cvlt");
    ad.push(version);
    ad.push(place.kind);
    ad.extend_from_slice(store_id);
    ad.extend_from_slice(&place.conv.to_be_bytes());
    ad.extend_from_slice(&place.epoch.to_be_bytes());
    ad.extend_from_slice(&place.first.to_be_bytes());
    ad.extend_from_slice(&place.last.to_be_bytes());
    assert_eq!(ad.len(), 50);
    ad
}

/// "Sealed values": version (0x01 or 0x02), 12-byte nonce, ciphertext,
/// 16-byte tag, the version bound into the associated data. Returns the
/// version and the plaintext; `None` if it does not open.
pub fn open(key: &[u8; 32], store_id: &[u8; 16], place: &Place, sealed: &[u8]) -> Option<(u8, Vec<u8>)> {
    let version = *sealed.first()?;
    if sealed.len() < 29 || !(version == ENVELOPE_V1 || version == ENVELOPE_V2) {
        return None;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..13]).ok()?;
    let mut buf = sealed[13..].to_vec();
    let plain = key.open_in_place(nonce, Aad::from(ad(version, store_id, place)), &mut buf).ok()?;
    Some((version, plain.to_vec()))
}

/// "Sealed values": seals `plaintext` at `place` as an envelope of version
/// 0x02, with a fresh random nonce (for tests that write a value by the
/// document's rules and let chatvault read it).
pub fn seal(key: &[u8; 32], store_id: &[u8; 16], place: &Place, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    SystemRandom::new().fill(&mut nonce).unwrap();
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut body = plaintext.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(ad(ENVELOPE_V2, store_id, place)),
        &mut body,
    )
    .unwrap();
    let mut out = vec![ENVELOPE_V2];
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

/// 32 bytes from the OS CSPRNG (a master key, as "Keys" draws one).
pub fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    SystemRandom::new().fill(&mut k).unwrap();
    k
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

pub fn hkdf32(ikm: &[u8; 32], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&[info], Len32)
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

/// "Record plaintexts": Padmé, exactly as the document writes it.
pub fn padme(l: u64) -> u64 {
    if l < 2 {
        return l;
    }
    let e = u64::from(l.ilog2());
    let s = u64::from(e.ilog2()) + 1;
    let z = e - s;
    let m = (1u64 << z) - 1;
    (l + m) & !m
}

/// How a version-2 record was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub codec: u8,
    /// n: the payload's length.
    pub payload_len: usize,
    /// The whole frame, padding included.
    pub len: usize,
    /// The postcard record's length (after decompression).
    pub record_len: usize,
}

/// "Record plaintexts": checks a frame as a reader must and returns the
/// postcard record; `Err` names the rule it breaks.
pub fn unframe(plain: &[u8]) -> Result<(Frame, Vec<u8>), &'static str> {
    if plain.len() < FRAME_HEADER {
        return Err("shorter than the frame header");
    }
    let codec = plain[0];
    let n = u32::from_be_bytes(plain[1..5].try_into().unwrap()) as usize;
    let end = FRAME_HEADER + n;
    if end > plain.len() {
        return Err("n past the end");
    }
    if plain.len() as u64 != padme(end as u64) {
        return Err("total length is not padme(5 + n)");
    }
    if plain[end..].iter().any(|&b| b != 0) {
        return Err("non-zero padding");
    }
    let payload = &plain[FRAME_HEADER..end];
    let record = match codec {
        CODEC_STORED => payload.to_vec(),
        CODEC_ZSTD => {
            if zstd::zstd_safe::find_frame_compressed_size(payload) != Ok(n) {
                return Err("payload is not one zstd frame");
            }
            let size = zstd::zstd_safe::get_frame_content_size(payload)
                .ok()
                .flatten()
                .ok_or("zstd frame without a content size")?;
            if size > MAX_DECLARED {
                return Err("zstd frame declares more than 4 MiB");
            }
            let record = zstd::bulk::decompress(payload, size as usize)
                .map_err(|_| "zstd frame does not decompress")?;
            if record.len() as u64 != size {
                return Err("zstd frame decompresses to another length");
            }
            record
        }
        _ => return Err("unknown codec"),
    };
    Ok((Frame { codec, payload_len: n, len: plain.len(), record_len: record.len() }, record))
}

/// Decodes a whole postcard record: trailing bytes are not that record.
fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> T {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => value,
        Ok((_, rest)) => panic!("{what}: {} bytes after the record", rest.len()),
        Err(e) => panic!("{what} does not decode: {e}"),
    }
}

/// A record's plaintext by envelope version: unframed in version 1, framed
/// in version 2.
fn record<V1: DeserializeOwned, V2: DeserializeOwned>(
    version: u8,
    plain: &[u8],
    what: &str,
    upgrade: impl FnOnce(V1) -> V2,
) -> (Option<Frame>, V2) {
    match version {
        ENVELOPE_V1 => (None, upgrade(decode(plain, what))),
        ENVELOPE_V2 => {
            let (frame, rec) = unframe(plain).unwrap_or_else(|e| panic!("{what}: bad frame: {e}"));
            (Some(frame), decode(&rec, what))
        }
        v => panic!("{what}: envelope version {v}"),
    }
}

/// docs/ATTACHMENTS.md, "Schema": an attachment row.
#[derive(Debug, Clone)]
pub struct AttachmentRow {
    pub id: u64,
    pub conv: u64,
    pub seq: u64,
    pub epoch: u32,
    pub expires_at: Option<i64>,
    pub stored_len: u64,
    pub file: Option<Vec<u8>>,
    pub meta: Vec<u8>,
    pub body: Option<Vec<u8>>,
}

/// docs/ATTACHMENTS.md, "The sealed metadata (record kind 7)", fields in order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttachmentMetaRec {
    pub blob_id: [u8; 16],
    pub key: Option<[u8; 32]>,
    pub chunk_shift: u8,
    pub byte_len: u64,
    pub media_type: String,
    pub file_name: Option<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub removed_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
}

/// "Record plaintexts", kind 3 (`retention_ms` only in version 2, `None`
/// when read from version 1; `origin` only from format 3, and only when
/// present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub external_id: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub read_up_to: Option<u64>,
    pub retention_ms: Option<u64>,
    pub origin: Option<Origin>,
}

/// Kind 3's `origin` (format 3): where an imported conversation without
/// external id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The source store's id: 16 bytes, no length prefix.
    pub store: [u8; 16],
    /// The conversation's id there, a postcard `u64` (varint).
    pub id: u64,
}

/// Kind 3 in envelope version 2: the seven fields every record starts with.
#[derive(Deserialize)]
struct MetaV2 {
    external_id: Option<String>,
    title: String,
    members: Vec<String>,
    app_data: Vec<u8>,
    created_at_ms: i64,
    read_up_to: Option<u64>,
    retention_ms: Option<u64>,
}

/// Kind 3 in envelope version 2: the seven fields, then, if bytes remain,
/// exactly one `origin` (16 raw bytes, then a u64) and nothing after it.
fn decode_meta_v2(bytes: &[u8]) -> (Meta, bool) {
    let (m, rest): (MetaV2, &[u8]) = match postcard::take_from_bytes(bytes) {
        Ok(v) => v,
        Err(e) => panic!("metadata does not decode: {e}"),
    };
    let origin = (!rest.is_empty()).then(|| {
        assert!(rest.len() > 16, "metadata: {} bytes after the seven fields are no origin", rest.len());
        let (store, id) = rest.split_at(16);
        Origin { store: store.try_into().unwrap(), id: decode(id, "metadata origin") }
    });
    let has_origin = origin.is_some();
    let meta = Meta {
        external_id: m.external_id,
        title: m.title,
        members: m.members,
        app_data: m.app_data,
        created_at_ms: m.created_at_ms,
        read_up_to: m.read_up_to,
        retention_ms: m.retention_ms,
        origin,
    };
    (meta, has_origin)
}

/// Kind 3 in envelope version 1: the first six fields.
#[derive(Deserialize)]
struct MetaV1 {
    external_id: Option<String>,
    title: String,
    members: Vec<String>,
    app_data: Vec<u8>,
    created_at_ms: i64,
    read_up_to: Option<u64>,
}

/// "Record plaintexts", kind 4 (a segment is a `Vec` of these;
/// `expires_at_ms` only in version 2, `None` when read from version 1).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StoredMessage {
    pub offset: u64,
    pub external_id: Option<String>,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub reply_to: Option<u64>,
    pub edited_at_ms: Option<i64>,
    pub extra: Vec<u8>,
    pub expires_at_ms: Option<i64>,
}

/// Kind 4 in envelope version 1: the first eight fields.
#[derive(Deserialize)]
struct StoredMessageV1 {
    offset: u64,
    external_id: Option<String>,
    sender: String,
    sent_at_ms: i64,
    text: String,
    reply_to: Option<u64>,
    edited_at_ms: Option<i64>,
    extra: Vec<u8>,
}

/// A record read from its envelope, with how it was stored.
#[derive(Debug)]
pub struct Record<T> {
    pub version: u8,
    /// `None` for version 1 and for kinds 1 and 2, which are never framed.
    pub frame: Option<Frame>,
    pub value: T,
}

/// A `conversation` row's plaintext columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvRow {
    pub epoch: u32,
    pub seals: u64,
    pub next_seq: u64,
    pub message_count: u64,
    pub activity: i64,
    /// 0 in a format-1 file, which has no such column.
    pub compacted_through: u64,
}

/// A `segment` row, still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub last: u64,
    pub epoch: u32,
    pub count: u64,
    /// `None` in a format-1 file, which has no such column.
    pub expires_at: Option<i64>,
    pub body: Vec<u8>,
}

/// docs/SEARCH.md, "The filter record".
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FilterRec {
    pub newest_ms: i64,
    pub oldest_ms: i64,
    pub probes: u8,
    pub bits: Vec<u8>,
}

impl FilterRec {
    /// Whether every bit of `term` is set: splitmix64(fnv1a64(term)),
    /// bit i = (h1 + i * h2) mod m.
    pub fn holds(&self, term: &[u8]) -> bool {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in term {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let h = z ^ (z >> 31);
        let m = self.bits.len() as u64 * 8;
        let (h1, h2) = (h & 0xFFFF_FFFF, (h >> 32) | 1);
        (0..u64::from(self.probes)).all(|i| {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize;
            self.bits[bit / 8] & (1 << (bit % 8)) != 0
        })
    }
}

/// One sealed value of the store, opened: see [`SpecStore::read_all`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    pub place: Place,
    pub version: u8,
    pub frame: Option<Frame>,
}

/// The `store` row: store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master.
type HeaderRow = (Vec<u8>, i64, Option<Vec<u8>>, Option<u32>, Option<u32>, Option<u32>, Vec<u8>);

/// The `store` row's columns added in format 3: master_gen, next_master,
/// rotated_through, key_rebuild_owed.
type RotationRow = (i64, Option<Vec<u8>>, Option<i64>, i64);

/// "Schema": the length of a sealed master key (kinds 1 and 5): version,
/// nonce, 32 key bytes, tag.
pub const SEALED_KEY_LEN: usize = 1 + 12 + 32 + 16;

/// "Keys": the Argon2id parameters a store may have: at least m = 19,456
/// KiB, t = 2, p = 1; at most m = 262,144 KiB, t = 16, p = 8, and m × t at
/// most 524,288 KiB.
pub fn kdf_params_allowed(m_kib: u32, t: u32, p: u32) -> bool {
    (19_456..=262_144).contains(&m_kib)
        && (2..=16).contains(&t)
        && (1..=8).contains(&p)
        && u64::from(m_kib) * u64::from(t) <= 524_288
}

/// "Keys": the wrap key and the id key of one master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subkeys {
    pub wrap: [u8; 32],
    pub id_key: [u8; 32],
}

impl Subkeys {
    /// HKDF-SHA256, salt = store id, IKM = master key.
    pub fn derive(master: &[u8; 32], store_id: &[u8; 16]) -> Subkeys {
        Subkeys {
            wrap: hkdf32(master, store_id, b"chatvault v1 conversation-key wrap"),
            id_key: hkdf32(master, store_id, b"chatvault v1 external-id hmac"),
        }
    }

    /// "Keyed hashes": the first 16 bytes of HMAC-SHA256 under the id key.
    pub fn hash(&self, parts: &[&[u8]]) -> [u8; 16] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.id_key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign().as_ref()[..16].try_into().unwrap()
    }
}

/// "Master-key rotation (format 3)": a rotation under way.
#[derive(Debug, Clone, Copy)]
pub struct NextMaster {
    /// M', opened from `store.next_master` (kind 5) under the root key, as
    /// the current master key is ("Record plaintexts": kinds 1 and 5 are
    /// sealed under the root key).
    pub master: [u8; 32],
    /// Envelope version of the sealed next master key.
    pub version: u8,
    pub subkeys: Subkeys,
    /// `store.rotated_through`: conversations with id <= this use M''s subkeys.
    pub rotated_through: u64,
}

/// The root key from the `store` row: raw bytes, or Argon2id v0x13.
pub enum Root<'a> {
    Raw([u8; 32]),
    Passphrase(&'a str),
}

/// An opened store, read by the document's rules.
pub struct SpecStore {
    pub conn: Connection,
    /// `PRAGMA user_version`: 1, 2 or 3.
    pub format: u32,
    pub store_id: [u8; 16],
    /// The root key the store was opened with (raw, or derived from the
    /// passphrase): it opens kinds 1 and 5.
    pub root: [u8; 32],
    /// The current master key M, opened from `store.master` (kind 1).
    pub master: [u8; 32],
    /// Envelope version of the sealed master key.
    pub master_version: u8,
    /// The current master key's wrap key.
    pub wrap: [u8; 32],
    /// The current master key's id key.
    pub id_key: [u8; 32],
    /// `store.master_gen`: 0 before format 3.
    pub master_gen: u64,
    /// The rotation under way, if `store.next_master` is set.
    pub next: Option<NextMaster>,
    /// `store.key_rebuild_owed` (format 3; false before): key rows were
    /// deleted and the key table not rebuilt since.
    pub key_rebuild_owed: bool,
}

impl SpecStore {
    pub fn open(path: &std::path::Path, root: Root<'_>) -> SpecStore {
        let conn = Connection::open(path).unwrap();
        let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(app_id, 0x4356_4C54);
        let format: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert!((1..=6).contains(&format), "format {format}");
        let (store_id, kdf, salt, m, t, p, sealed): HeaderRow = conn
            .query_row(
                "SELECT store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master FROM store WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .unwrap();
        // "Schema": the blobs' lengths, as a reader checks them.
        let store_id: [u8; 16] = store_id.try_into().expect("store_id is 16 bytes");
        assert_eq!(sealed.len(), SEALED_KEY_LEN, "store.master is a sealed 32-byte key");
        assert!(
            salt.as_ref().is_none_or(|s| (16..=64).contains(&s.len())),
            "kdf_salt is NULL or 16..=64 bytes"
        );
        let root = match (kdf, root) {
            (0, Root::Raw(k)) => {
                assert!(salt.is_none(), "kdf_salt is NULL for a raw key");
                k
            }
            (1, Root::Passphrase(pw)) => {
                let (m, t, p) = (m.unwrap(), t.unwrap(), p.unwrap());
                assert!(
                    kdf_params_allowed(m, t, p),
                    "Argon2id m={m} KiB, t={t}, p={p}: outside the allowed range"
                );
                let params = argon2::Params::new(m, t, p, Some(32)).unwrap();
                let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
                let mut out = [0u8; 32];
                a.hash_password_into(pw.as_bytes(), &salt.unwrap(), &mut out).unwrap();
                out
            }
            _ => panic!("root key kind does not match the store"),
        };
        let (master_gen, next_master, rotated_through, key_rebuild_owed): RotationRow = if format >= 3 {
            conn.query_row(
                "SELECT master_gen, next_master, rotated_through, key_rebuild_owed FROM store WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap()
        } else {
            (0, None, None, 0)
        };
        let master_gen = u64::try_from(master_gen).expect("master_gen >= 0");
        assert!(master_gen < 1 << 62, "master_gen below 2^62");
        // "Associated data": during a rotation the master key's seal is
        // bound to it (first_seq = master_gen + 1, last_seq = 1).
        let master_place =
            if next_master.is_some() { Place::master_pending(master_gen) } else { Place::master() };
        let (master_version, master) =
            open(&root, &store_id, &master_place, &sealed).expect("master key opens");
        let master: [u8; 32] = master.try_into().expect("a master key is 32 bytes");
        assert!(key_rebuild_owed == 0 || key_rebuild_owed == 1, "key_rebuild_owed is 0 or 1");
        assert_eq!(
            next_master.is_some(),
            rotated_through.is_some(),
            "next_master and rotated_through are both NULL or both set"
        );
        let next = next_master.map(|sealed| {
            assert_eq!(sealed.len(), SEALED_KEY_LEN, "store.next_master is a sealed 32-byte key");
            let (version, next) = open(&root, &store_id, &Place::next_master(master_gen), &sealed)
                .expect("the next master key opens under the root key");
            let next: [u8; 32] = next.try_into().expect("a master key is 32 bytes");
            NextMaster {
                master: next,
                version,
                subkeys: Subkeys::derive(&next, &store_id),
                rotated_through: u64::try_from(rotated_through.unwrap()).expect("rotated_through >= 0"),
            }
        });
        let current = Subkeys::derive(&master, &store_id);
        SpecStore {
            wrap: current.wrap,
            id_key: current.id_key,
            conn,
            format,
            store_id,
            root,
            master,
            master_version,
            master_gen,
            next,
            key_rebuild_owed: key_rebuild_owed == 1,
        }
    }

    /// The current master key's subkeys.
    pub fn current(&self) -> Subkeys {
        Subkeys { wrap: self.wrap, id_key: self.id_key }
    }

    /// "Master-key rotation": conversation `conv` uses M''s subkeys if
    /// `conv <= rotated_through`, M's otherwise.
    pub fn subkeys_for(&self, conv: u64) -> Subkeys {
        match &self.next {
            Some(n) if conv <= n.rotated_through => n.subkeys,
            _ => self.current(),
        }
    }

    /// Every conversation id, ascending.
    pub fn conversation_ids(&self) -> Vec<u64> {
        let mut stmt = self.conn.prepare("SELECT id FROM conversation ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap().map(|id| id.unwrap() as u64).collect()
    }

    pub fn conversation(&self, conv: u64) -> ConvRow {
        let through = if self.format >= 2 { "compacted_through" } else { "0" };
        self.conn
            .query_row(
                &format!(
                    "SELECT epoch, seals, next_seq, message_count, activity, {through}
                     FROM conversation WHERE id = ?1"
                ),
                [conv as i64],
                |r| {
                    Ok(ConvRow {
                        epoch: r.get(0)?,
                        seals: r.get::<_, i64>(1)? as u64,
                        next_seq: r.get::<_, i64>(2)? as u64,
                        message_count: r.get::<_, i64>(3)? as u64,
                        activity: r.get(4)?,
                        compacted_through: r.get::<_, i64>(5)? as u64,
                    })
                },
            )
            .unwrap()
    }

    /// The epochs with a `conversation_key` row, ascending.
    pub fn key_epochs(&self, conv: u64) -> Vec<u32> {
        let mut stmt = self
            .conn
            .prepare("SELECT epoch FROM conversation_key WHERE conversation = ?1 ORDER BY epoch")
            .unwrap();
        stmt.query_map([conv as i64], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    pub fn wrapped_key(&self, conv: u64, epoch: u32) -> Vec<u8> {
        self.conn
            .query_row(
                "SELECT wrapped FROM conversation_key WHERE conversation = ?1 AND epoch = ?2",
                params![conv as i64, epoch],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Kind 2: the 32 raw key bytes, sealed under the wrap key of the
    /// master key the conversation belongs to.
    ///
    /// "Master-key rotation": a key made during a rotation (a new epoch, a
    /// new conversation) is under the next master key's wrap key even if
    /// its conversation has not moved yet, so for a conversation not moved
    /// the next one's is tried after the current one's.
    pub fn key_record(&self, conv: u64, epoch: u32) -> Record<[u8; 32]> {
        let wrapped = self.wrapped_key(conv, epoch);
        let mut wraps = vec![self.subkeys_for(conv).wrap];
        if let Some(n) = &self.next
            && conv > n.rotated_through
        {
            wraps.push(n.subkeys.wrap);
        }
        // "Associated data": a key a rotation rewrapped is retired
        // (last_seq 1); others have last_seq 0.
        let places = [Place::key(conv, epoch), Place::retired_key(conv, epoch)];
        let (version, plain) = wraps
            .iter()
            .flat_map(|wrap| places.iter().map(move |place| (wrap, place)))
            .find_map(|(wrap, place)| open(wrap, &self.store_id, place, &wrapped))
            .expect("conversation key opens");
        Record { version, frame: None, value: plain.try_into().expect("a key is 32 bytes") }
    }

    pub fn conversation_key(&self, conv: u64, epoch: u32) -> [u8; 32] {
        self.key_record(conv, epoch).value
    }

    /// Kind 3, under the conversation's current epoch.
    pub fn meta_record(&self, conv: u64) -> Record<Meta> {
        let (epoch, sealed): (u32, Vec<u8>) = self
            .conn
            .query_row("SELECT epoch, meta FROM conversation WHERE id = ?1", [conv as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let key = self.conversation_key(conv, epoch);
        let (version, plain) =
            open(&key, &self.store_id, &Place::meta(conv, epoch), &sealed).expect("meta opens");
        let (frame, value) = match version {
            ENVELOPE_V1 => {
                let m: MetaV1 = decode(&plain, "metadata");
                let value = Meta {
                    external_id: m.external_id,
                    title: m.title,
                    members: m.members,
                    app_data: m.app_data,
                    created_at_ms: m.created_at_ms,
                    read_up_to: m.read_up_to,
                    retention_ms: None,
                    origin: None,
                };
                (None, value)
            }
            ENVELOPE_V2 => {
                let (frame, rec) = unframe(&plain).unwrap_or_else(|e| panic!("metadata: bad frame: {e}"));
                let (value, has_origin) = decode_meta_v2(&rec);
                assert!(!has_origin || self.format >= 3, "metadata of format {} has an origin", self.format);
                (Some(frame), value)
            }
            v => panic!("metadata: envelope version {v}"),
        };
        Record { version, frame, value }
    }

    pub fn meta(&self, conv: u64) -> Meta {
        self.meta_record(conv).value
    }

    /// Every segment row of a conversation, by `first_seq`. "The segment
    /// table's key" (format 4): each row's `id` is conversation * 2^32 +
    /// first_seq.
    pub fn segment_rows(&self, conv: u64) -> Vec<Segment> {
        let expires = if self.format >= 2 { "expires_at" } else { "NULL" };
        let id = if self.format >= 4 { "id" } else { "NULL" };
        self.conn
            .prepare(&format!(
                "SELECT first_seq, last_seq, epoch, count, {expires}, body, {id} FROM segment
                 WHERE conversation = ?1 ORDER BY first_seq"
            ))
            .unwrap()
            .query_map([conv as i64], |r| {
                if let Some(id) = r.get::<_, Option<i64>>(6)? {
                    let first = r.get::<_, i64>(0)?;
                    assert!(
                        (0..1 << 32).contains(&first),
                        "segment ({conv}, {first}): first_seq out of range"
                    );
                    assert_eq!(id, ((conv as i64) << 32) + first, "segment ({conv}, {first}): its id");
                }
                Ok(Segment {
                    first: r.get::<_, i64>(0)? as u64,
                    last: r.get::<_, i64>(1)? as u64,
                    epoch: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                    expires_at: r.get(4)?,
                    body: r.get(5)?,
                })
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every segment of a conversation: (first_seq, last_seq, epoch, sealed body).
    pub fn segments(&self, conv: u64) -> Vec<(u64, u64, u32, Vec<u8>)> {
        self.segment_rows(conv).into_iter().map(|s| (s.first, s.last, s.epoch, s.body)).collect()
    }

    /// Kind 4: opens a segment with its epoch's key and checks it against
    /// its plaintext columns ("Schema", "Record plaintexts").
    pub fn open_segment(&self, conv: u64, seg: &Segment) -> Record<Vec<StoredMessage>> {
        let key = self.conversation_key(conv, seg.epoch);
        let place = Place::segment(conv, seg.epoch, seg.first, seg.last);
        let (version, plain) = open(&key, &self.store_id, &place, &seg.body).expect("segment opens");
        let (frame, msgs): (_, Vec<StoredMessage>) =
            record(version, &plain, "segment", |v1: Vec<StoredMessageV1>| {
                v1.into_iter()
                    .map(|m| StoredMessage {
                        offset: m.offset,
                        external_id: m.external_id,
                        sender: m.sender,
                        sent_at_ms: m.sent_at_ms,
                        text: m.text,
                        reply_to: m.reply_to,
                        edited_at_ms: m.edited_at_ms,
                        extra: m.extra,
                        expires_at_ms: None,
                    })
                    .collect()
            });
        let at = format!("segment ({conv}, {})", seg.first);
        assert!(seg.first <= seg.last, "{at}: first_seq <= last_seq");
        assert!(!msgs.is_empty(), "{at}: a segment is never empty");
        assert_eq!(msgs.len() as u64, seg.count, "{at}: count");
        assert!(msgs.windows(2).all(|w| w[0].offset < w[1].offset), "{at}: in sequence order");
        assert!(msgs.iter().all(|m| m.offset <= seg.last - seg.first), "{at}: inside its range");
        if self.format >= 2 {
            let earliest = msgs.iter().filter_map(|m| m.expires_at_ms).min();
            assert_eq!(seg.expires_at, earliest, "{at}: expires_at is the earliest expiry");
        }
        Record { version, frame, value: msgs }
    }

    /// Every message of a conversation, decoded: (seq, message).
    pub fn messages(&self, conv: u64) -> Vec<(u64, StoredMessage)> {
        let mut out = Vec::new();
        for seg in self.segment_rows(conv) {
            let msgs = self.open_segment(conv, &seg).value;
            out.extend(msgs.into_iter().map(|m| (seg.first + m.offset, m)));
        }
        out
    }

    /// Opens every sealed value in the store: the master key, the next
    /// master key during a rotation, every conversation key, metadata and
    /// segment.
    pub fn read_all(&self) -> Vec<Envelope> {
        let master_place =
            if self.next.is_some() { Place::master_pending(self.master_gen) } else { Place::master() };
        let mut out = vec![Envelope { place: master_place, version: self.master_version, frame: None }];
        if let Some(n) = &self.next {
            out.push(Envelope {
                place: Place::next_master(self.master_gen),
                version: n.version,
                frame: None,
            });
        }
        for conv in self.conversation_ids() {
            for epoch in self.key_epochs(conv) {
                let k = self.key_record(conv, epoch);
                out.push(Envelope { place: Place::key(conv, epoch), version: k.version, frame: k.frame });
            }
            let epoch = self.conversation(conv).epoch;
            let m = self.meta_record(conv);
            out.push(Envelope { place: Place::meta(conv, epoch), version: m.version, frame: m.frame });
            for seg in self.segment_rows(conv) {
                let s = self.open_segment(conv, &seg);
                let place = Place::segment(conv, seg.epoch, seg.first, seg.last);
                out.push(Envelope { place, version: s.version, frame: s.frame });
                if let Some(f) = self.filter_record(conv, &seg) {
                    let place = Place::filter(conv, seg.epoch, seg.first, seg.last);
                    out.push(Envelope { place, version: f.version, frame: f.frame });
                }
            }
            for row in self.attachment_rows(conv) {
                let (place, rec) = self.attachment_record(&row);
                out.push(Envelope { place, version: rec.version, frame: rec.frame });
            }
        }
        out
    }

    /// docs/ATTACHMENTS.md, "Schema": conversation `conv`'s attachment rows
    /// (none before format 6).
    pub fn attachment_rows(&self, conv: u64) -> Vec<AttachmentRow> {
        if self.format < 6 {
            return Vec::new();
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, seq, epoch, expires_at, stored_len, file, meta, body FROM attachment
                 WHERE conversation = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([conv as i64], |r| {
            Ok(AttachmentRow {
                id: r.get::<_, i64>(0)? as u64,
                conv,
                seq: r.get::<_, i64>(1)? as u64,
                epoch: r.get(2)?,
                expires_at: r.get(3)?,
                stored_len: r.get::<_, i64>(4)? as u64,
                file: r.get(5)?,
                meta: r.get(6)?,
                body: r.get(7)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// "The sealed metadata (record kind 7)": opened under the
    /// conversation key of the row's epoch at its place, and checked
    /// against the row's columns as the document says.
    pub fn attachment_record(&self, row: &AttachmentRow) -> (Place, Record<AttachmentMetaRec>) {
        let at = format!("attachment {}", row.id);
        let key = self.conversation_key(row.conv, row.epoch);
        let place = Place::attachment(row.conv, row.epoch, row.id, row.seq);
        let (version, plain) =
            open(&key, &self.store_id, &place, &row.meta).expect("attachment metadata opens");
        assert_eq!(version, ENVELOPE_V2, "{at}: envelope version");
        let (frame, m): (_, AttachmentMetaRec) = record(version, &plain, &at, |v: AttachmentMetaRec| v);
        assert!((12..=20).contains(&m.chunk_shift), "{at}: chunk size");
        assert_eq!(m.key.is_some(), m.removed_at_ms.is_none(), "{at}: a key exactly while content is kept");
        assert_eq!(m.expires_at_ms, row.expires_at, "{at}: the sealed expiry is the row's");
        match m.key {
            None => {
                assert_eq!((row.stored_len, row.file.is_none(), row.body.is_none()), (0, true, true), "{at}")
            }
            Some(_) => {
                let padded = padme(m.byte_len);
                let chunk = 1u64 << m.chunk_shift;
                let chunks = padded.div_ceil(chunk).max(1);
                assert_eq!(row.stored_len, padded + 16 * chunks, "{at}: stored_len");
                match &row.file {
                    Some(f) => {
                        assert!(chunks > 1, "{at}: one chunk is stored inline");
                        assert_eq!(f.as_slice(), &m.blob_id[..], "{at}: the file is named by the blob id");
                        assert!(row.body.is_none(), "{at}");
                    }
                    None => assert_eq!(
                        (chunks, row.body.as_ref().map(Vec::len)),
                        (1, Some(row.stored_len as usize))
                    ),
                }
            }
        }
        (place, Record { version, frame, value: m })
    }

    /// "Content: STREAM over AES-256-GCM": the attachment's content, every
    /// chunk opened with its own nonce and associated data, the padding
    /// checked and cut. `dir` is the attachment directory.
    pub fn attachment_content(&self, row: &AttachmentRow, dir: &std::path::Path) -> Vec<u8> {
        let (_, rec) = self.attachment_record(row);
        let m = rec.value;
        let key = m.key.expect("content kept");
        let sealed = match &row.file {
            Some(f) => {
                let name: String = f.iter().map(|b| format!("{b:02x}")).collect();
                std::fs::read(dir.join(name)).unwrap()
            }
            None => row.body.clone().unwrap(),
        };
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let chunk = 1usize << m.chunk_shift;
        let pieces: Vec<&[u8]> = sealed.chunks(chunk + 16).collect();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let mut nonce = [0u8; 12];
            nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
            nonce[11] = u8::from(last);
            let mut ad = Vec::new();
            ad.extend_from_slice(b"cvat\x01");
            ad.extend_from_slice(&self.store_id);
            ad.extend_from_slice(&row.conv.to_be_bytes());
            ad.extend_from_slice(&m.blob_id);
            ad.extend_from_slice(&(i as u64).to_be_bytes());
            ad.push(u8::from(last));
            assert_eq!(ad.len(), 54);
            let mut buf = piece.to_vec();
            let plain = key
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(ad), &mut buf)
                .unwrap_or_else(|_| panic!("attachment {} chunk {i} opens", row.id));
            out.extend_from_slice(plain);
        }
        assert_eq!(out.len() as u64, padme(m.byte_len), "padded length");
        assert!(out[m.byte_len as usize..].iter().all(|&b| b == 0), "zero padding");
        out.truncate(m.byte_len as usize);
        out
    }

    /// docs/SEARCH.md, "Schema (format 5)": the filter row of a segment
    /// (there is exactly one from format 5 on, naming the segment's
    /// last_seq and epoch), opened under kind 6 and checked against the
    /// segment's messages ("Terms in a filter", "The filter record"):
    /// the time span exactly, and the bits of every plain ASCII word's
    /// prefixes and of every pair of consecutive CJK ideographs (a subset
    /// of the terms, enough to pin the hash and the bit layout). `None`
    /// before format 5 and for a segment not indexed yet.
    pub fn filter_record(&self, conv: u64, seg: &Segment) -> Option<Record<FilterRec>> {
        if self.format < 5 {
            return None;
        }
        let at = format!("filter of segment ({conv}, {})", seg.first);
        let id = ((conv as i64) << 32) + seg.first as i64;
        let (last, epoch, sealed): (i64, u32, Option<Vec<u8>>) = self
            .conn
            .query_row("SELECT last_seq, epoch, filter FROM segment_filter WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap_or_else(|e| panic!("{at}: no row ({e})"));
        assert_eq!((last as u64, epoch), (seg.last, seg.epoch), "{at}: last_seq and epoch");
        let sealed = sealed?;
        let key = self.conversation_key(conv, seg.epoch);
        let place = Place::filter(conv, seg.epoch, seg.first, seg.last);
        let (version, plain) = open(&key, &self.store_id, &place, &sealed).expect("filter opens");
        assert_eq!(version, ENVELOPE_V2, "{at}: envelope version");
        let (frame, f): (_, FilterRec) = record(version, &plain, &at, |v: FilterRec| v);
        assert_eq!(frame.as_ref().map(|f| f.codec), Some(CODEC_STORED), "{at}: stored, not compressed");
        assert_eq!(f.probes, 6, "{at}: probes");
        assert!(!f.bits.is_empty() && f.bits.len() % 8 == 0, "{at}: whole 64-bit words");
        let msgs = self.open_segment(conv, seg).value;
        let times = msgs.iter().map(|m| m.sent_at_ms);
        assert_eq!(
            (f.oldest_ms, f.newest_ms),
            (times.clone().min().unwrap(), times.max().unwrap()),
            "{at}: span"
        );
        for m in &msgs {
            for word in m.text.split_whitespace().filter(|w| w.bytes().all(|b| b.is_ascii_alphanumeric())) {
                let word = word.to_ascii_lowercase();
                for n in 2..=word.len().min(8) {
                    let term = [b"w", &word.as_bytes()[..n]].concat();
                    assert!(f.holds(&term), "{at}: the prefix {:?} is missing", &word[..n]);
                }
            }
            let han: Vec<char> = m.text.chars().collect();
            for pair in han.windows(2).filter(|p| p.iter().all(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))) {
                let term = format!("c{}{}", pair[0], pair[1]);
                assert!(f.holds(term.as_bytes()), "{at}: a pair of ideographs is missing");
            }
        }
        Some(Record { version, frame, value: f })
    }

    /// "Keyed hashes": the first 16 bytes of HMAC-SHA256 under the current
    /// master key's id key (that of every conversation when no rotation is
    /// under way; see [`SpecStore::hash_for`]).
    pub fn hash(&self, parts: &[&[u8]]) -> [u8; 16] {
        self.current().hash(parts)
    }

    /// "Keyed hashes" of conversation `conv`: under the id key of the master
    /// key it belongs to.
    pub fn hash_for(&self, conv: u64, parts: &[&[u8]]) -> [u8; 16] {
        self.subkeys_for(conv).hash(parts)
    }

    /// "Master-key rotation": every id key a keyed hash of conversation
    /// `conv` may be under: its own, and during a rotation, for a
    /// conversation not moved yet, the next master key's too (hashes
    /// written during the rotation are under it).
    pub fn id_keys_for(&self, conv: u64) -> Vec<Subkeys> {
        let own = self.subkeys_for(conv);
        match &self.next {
            Some(n) if n.subkeys != own => vec![own, n.subkeys],
            _ => vec![own],
        }
    }

    /// Every value `index_hash` may have for a message, by [`SpecStore::id_keys_for`].
    pub fn index_hashes(&self, conv: u64, m: &StoredMessage) -> Vec<[u8; 16]> {
        let parts = |keys: &Subkeys| match &m.external_id {
            Some(ext) => keys.hash(&[b"message\0", &conv.to_be_bytes(), ext.as_bytes()]),
            None => {
                let len = (m.sender.len() as u64).to_be_bytes();
                keys.hash(&[
                    b"content\0",
                    &conv.to_be_bytes(),
                    &len,
                    m.sender.as_bytes(),
                    &m.sent_at_ms.to_be_bytes(),
                ])
            }
        };
        self.id_keys_for(conv).iter().map(parts).collect()
    }

    /// Every value `expected_ext_hash` may have, by [`SpecStore::id_keys_for`].
    pub fn expected_ext_hashes(&self, conv: u64) -> Vec<Option<[u8; 16]>> {
        let meta = self.meta(conv);
        self.id_keys_for(conv)
            .iter()
            .map(|keys| match (&meta.external_id, &meta.origin) {
                (Some(ext), _) => Some(keys.hash(&[b"conversation\0", ext.as_bytes()])),
                (None, Some(o)) => Some(keys.hash(&[b"origin\0", &o.store, &o.id.to_be_bytes()])),
                (None, None) => None,
            })
            .collect()
    }

    /// `conversation.ext_hash` of a conversation with external id `ext`.
    pub fn conversation_hash(&self, conv: u64, ext: &str) -> [u8; 16] {
        self.hash_for(conv, &[b"conversation\0", ext.as_bytes()])
    }

    /// `conversation.ext_hash` of a conversation an import created from `origin`.
    pub fn origin_hash(&self, conv: u64, origin: &Origin) -> [u8; 16] {
        self.hash_for(conv, &[b"origin\0", &origin.store, &origin.id.to_be_bytes()])
    }

    /// An index entry of a message with external id `ext`.
    pub fn message_hash(&self, conv: u64, ext: &str) -> [u8; 16] {
        self.hash_for(conv, &[b"message\0", &conv.to_be_bytes(), ext.as_bytes()])
    }

    /// An index entry of a message without external id.
    pub fn content_hash(&self, conv: u64, sender: &str, sent_at_ms: i64) -> [u8; 16] {
        let len = (sender.len() as u64).to_be_bytes();
        self.hash_for(
            conv,
            &[b"content\0", &conv.to_be_bytes(), &len, sender.as_bytes(), &sent_at_ms.to_be_bytes()],
        )
    }

    /// The index entry a message stands under: its external id's hash, else
    /// its content hash.
    pub fn index_hash(&self, conv: u64, m: &StoredMessage) -> [u8; 16] {
        match &m.external_id {
            Some(ext) => self.message_hash(conv, ext),
            None => self.content_hash(conv, &m.sender, m.sent_at_ms),
        }
    }

    /// What `conversation.ext_hash` must be by the metadata: the hash of
    /// the external id, else of the origin, else NULL. (A conversation a
    /// format-2 import created has an origin hash but no `origin`: this
    /// cannot tell.)
    pub fn expected_ext_hash(&self, conv: u64) -> Option<[u8; 16]> {
        let meta = self.meta(conv);
        match (&meta.external_id, &meta.origin) {
            (Some(ext), _) => Some(self.conversation_hash(conv, ext)),
            (None, Some(o)) => Some(self.origin_hash(conv, o)),
            (None, None) => None,
        }
    }

    /// `conversation.ext_hash`.
    pub fn ext_hash(&self, conv: u64) -> Option<Vec<u8>> {
        self.conn
            .query_row("SELECT ext_hash FROM conversation WHERE id = ?1", [conv as i64], |r| r.get(0))
            .unwrap()
    }

    /// A conversation's rows of one part of the external-id index
    /// (`recent_ref` or `message_ref`): (ext_hash, seq), by seq.
    /// A conversation's external-id index: the rows of both parts
    /// (`recent_ref` and `message_ref`), by sequence number. Which part
    /// holds a reference depends on the writer's cache (docs/DESIGN.md,
    /// "External-id index"); a lookup searches both.
    pub fn index(&self, conv: u64) -> Vec<(Vec<u8>, u64)> {
        let mut all = self.index_rows("recent_ref", conv);
        all.extend(self.index_rows("message_ref", conv));
        all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        all
    }

    pub fn index_rows(&self, table: &str, conv: u64) -> Vec<(Vec<u8>, u64)> {
        assert!(table == "recent_ref" || table == "message_ref");
        self.conn
            .prepare(&format!(
                "SELECT ext_hash, seq FROM {table} WHERE conversation = ?1 ORDER BY seq, ext_hash"
            ))
            .unwrap()
            .query_map([conv as i64], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Both parts of a conversation's external-id index: (ext_hash, seq), by seq.
    pub fn refs(&self, conv: u64) -> Vec<(Vec<u8>, u64)> {
        let mut all = self.index_rows("recent_ref", conv);
        all.extend(self.index_rows("message_ref", conv));
        all.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        all
    }
}
