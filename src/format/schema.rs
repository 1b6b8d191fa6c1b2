//! The SQL schema of format 2, exactly as docs/DESIGN.md ("Schema") gives
//! it, and the upgrade from format 1.

/// `PRAGMA application_id` of every chatvault store: ASCII "CVLT".
pub(crate) const APPLICATION_ID: i32 = 0x4356_4C54;

/// `store.kdf` for a raw 32-byte root key.
pub(crate) const KDF_RAW: i64 = 0;
/// `store.kdf` for an Argon2id-stretched passphrase.
pub(crate) const KDF_ARGON2ID: i64 = 1;

/// Tables and indexes, created in one transaction with the header row.
pub(crate) const CREATE: &str = "
CREATE TABLE store (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  store_id    BLOB    NOT NULL,
  kdf         INTEGER NOT NULL,
  kdf_salt    BLOB,
  kdf_m_kib   INTEGER,
  kdf_t       INTEGER,
  kdf_p       INTEGER,
  master      BLOB    NOT NULL
);
CREATE TABLE conversation (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  ext_hash  BLOB UNIQUE,
  epoch     INTEGER NOT NULL,
  seals     INTEGER NOT NULL,
  next_seq  INTEGER NOT NULL,
  message_count INTEGER NOT NULL,
  activity  INTEGER NOT NULL,
  meta      BLOB    NOT NULL,
  compacted_through INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversation_by_activity ON conversation (activity);
CREATE TABLE conversation_key (
  conversation INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  wrapped      BLOB    NOT NULL,
  PRIMARY KEY (conversation, epoch)
) WITHOUT ROWID;
CREATE TABLE segment (
  conversation INTEGER NOT NULL,
  first_seq    INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  body         BLOB    NOT NULL,
  expires_at   INTEGER,
  PRIMARY KEY (conversation, first_seq)
) WITHOUT ROWID;
CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE recent_ref (
  conversation INTEGER NOT NULL,
  seq          INTEGER NOT NULL,
  ext_hash     BLOB    NOT NULL,
  PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;
CREATE TABLE message_ref (
  conversation INTEGER NOT NULL,
  ext_hash     BLOB    NOT NULL,
  seq          INTEGER NOT NULL,
  PRIMARY KEY (conversation, ext_hash)
) WITHOUT ROWID;
";

/// Upgrades a format-1 schema to format 2 (docs/DESIGN.md, "Upgrading from
/// format 1"), inside the caller's transaction. Sealed values stay as they are.
pub(crate) const UPGRADE_1_TO_2: &str = "
ALTER TABLE conversation ADD COLUMN compacted_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segment ADD COLUMN expires_at INTEGER;
CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL;
";
