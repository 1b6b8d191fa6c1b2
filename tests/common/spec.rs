//! An independent reader of the store format, written from docs/DESIGN.md
//! alone with ring, argon2, postcard and rusqlite: it shares no code with
//! chatvault, so if the code drifts from the document, tests using this fail.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};
use rusqlite::{Connection, params};
use serde::Deserialize;

pub const KIND_MASTER: u8 = 1;
pub const KIND_CONVERSATION_KEY: u8 = 2;
pub const KIND_META: u8 = 3;
pub const KIND_SEGMENT: u8 = 4;

/// "Associated data": 50 bytes.
pub fn ad(kind: u8, store_id: &[u8; 16], conv: u64, epoch: u32, first: u64, last: u64) -> Vec<u8> {
    let mut ad = Vec::with_capacity(50);
    ad.extend_from_slice(b"cvlt");
    ad.push(1);
    ad.push(kind);
    ad.extend_from_slice(store_id);
    ad.extend_from_slice(&conv.to_be_bytes());
    ad.extend_from_slice(&epoch.to_be_bytes());
    ad.extend_from_slice(&first.to_be_bytes());
    ad.extend_from_slice(&last.to_be_bytes());
    assert_eq!(ad.len(), 50);
    ad
}

/// "Sealed values": version 0x01, 12-byte nonce, ciphertext, 16-byte tag.
pub fn open(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 29 || sealed[0] != 1 {
        return None;
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..13]).ok()?;
    let mut buf = sealed[13..].to_vec();
    let plain = key.open_in_place(nonce, Aad::from(ad), &mut buf).ok()?;
    Some(plain.to_vec())
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

/// "Record plaintexts", kind 3.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Meta {
    pub external_id: Option<String>,
    pub title: String,
    pub members: Vec<String>,
    pub app_data: Vec<u8>,
    pub created_at_ms: i64,
    pub read_up_to: Option<u64>,
}

/// "Record plaintexts", kind 4 (a segment is a `Vec` of these).
#[derive(Debug, Deserialize, PartialEq)]
pub struct StoredMessage {
    pub offset: u64,
    pub external_id: Option<String>,
    pub sender: String,
    pub sent_at_ms: i64,
    pub text: String,
    pub reply_to: Option<u64>,
    pub edited_at_ms: Option<i64>,
    pub extra: Vec<u8>,
}

/// The `store` row: store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master.
type HeaderRow = (Vec<u8>, i64, Option<Vec<u8>>, Option<u32>, Option<u32>, Option<u32>, Vec<u8>);

/// The root key from the `store` row: raw bytes, or Argon2id v0x13.
pub enum Root<'a> {
    Raw([u8; 32]),
    Passphrase(&'a str),
}

/// An opened store, read by the document's rules.
pub struct SpecStore {
    pub conn: Connection,
    pub store_id: [u8; 16],
    pub master: [u8; 32],
    pub wrap: [u8; 32],
    pub id_key: [u8; 32],
}

impl SpecStore {
    pub fn open(path: &std::path::Path, root: Root<'_>) -> SpecStore {
        let conn = Connection::open(path).unwrap();
        let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
        assert_eq!(app_id, 0x4356_4C54);
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, 1);
        let (store_id, kdf, salt, m, t, p, sealed): HeaderRow = conn
            .query_row(
                "SELECT store_id, kdf, kdf_salt, kdf_m_kib, kdf_t, kdf_p, master FROM store WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .unwrap();
        let store_id: [u8; 16] = store_id.try_into().unwrap();
        let root = match (kdf, root) {
            (0, Root::Raw(k)) => k,
            (1, Root::Passphrase(pw)) => {
                let params = argon2::Params::new(m.unwrap(), t.unwrap(), p.unwrap(), Some(32)).unwrap();
                let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
                let mut out = [0u8; 32];
                a.hash_password_into(pw.as_bytes(), &salt.unwrap(), &mut out).unwrap();
                out
            }
            _ => panic!("root key kind does not match the store"),
        };
        let master: [u8; 32] = open(&root, &ad(KIND_MASTER, &store_id, 0, 0, 0, 0), &sealed)
            .expect("master key opens")
            .try_into()
            .unwrap();
        SpecStore {
            wrap: hkdf32(&master, &store_id, b"chatvault v1 conversation-key wrap"),
            id_key: hkdf32(&master, &store_id, b"chatvault v1 external-id hmac"),
            conn,
            store_id,
            master,
        }
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

    pub fn conversation_key(&self, conv: u64, epoch: u32) -> [u8; 32] {
        let ad = ad(KIND_CONVERSATION_KEY, &self.store_id, conv, epoch, 0, 0);
        open(&self.wrap, &ad, &self.wrapped_key(conv, epoch))
            .expect("conversation key opens")
            .try_into()
            .unwrap()
    }

    pub fn meta(&self, conv: u64) -> Meta {
        let (epoch, sealed): (u32, Vec<u8>) = self
            .conn
            .query_row("SELECT epoch, meta FROM conversation WHERE id = ?1", [conv as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let key = self.conversation_key(conv, epoch);
        let plain =
            open(&key, &ad(KIND_META, &self.store_id, conv, epoch, 0, 0), &sealed).expect("meta opens");
        postcard::from_bytes(&plain).unwrap()
    }

    /// Every segment of a conversation: (first_seq, last_seq, epoch, sealed body).
    pub fn segments(&self, conv: u64) -> Vec<(u64, u64, u32, Vec<u8>)> {
        self.conn
            .prepare("SELECT first_seq, last_seq, epoch, body FROM segment WHERE conversation = ?1 ORDER BY first_seq")
            .unwrap()
            .query_map([conv as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Every message of a conversation, decoded: (seq, message).
    pub fn messages(&self, conv: u64) -> Vec<(u64, StoredMessage)> {
        let mut out = Vec::new();
        for (first, last, epoch, body) in self.segments(conv) {
            let key = self.conversation_key(conv, epoch);
            let plain = open(&key, &ad(KIND_SEGMENT, &self.store_id, conv, epoch, first, last), &body)
                .expect("segment opens");
            let msgs: Vec<StoredMessage> = postcard::from_bytes(&plain).unwrap();
            out.extend(msgs.into_iter().map(|m| (first + m.offset, m)));
        }
        out
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
