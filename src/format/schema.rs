//! The SQL schema of every store format, exactly as docs/DESIGN.md
//! ("Schema") gives it, and the upgrades between them. The texts matter
//! byte for byte: SQLite keeps each `CREATE` statement as written (and
//! `ALTER TABLE ... ADD COLUMN` edits it), and `open` refuses a file whose
//! schema is not one these statements produce (docs/DESIGN.md, "Schema
//! check").

/// `PRAGMA application_id` of every chatvault store: ASCII "CVLT".
pub(crate) const APPLICATION_ID: i32 = 0x4356_4C54;

/// `store.kdf` for a raw 32-byte root key.
pub(crate) const KDF_RAW: i64 = 0;
/// `store.kdf` for an Argon2id-stretched passphrase.
pub(crate) const KDF_ARGON2ID: i64 = 1;

/// Tables and indexes of format 6, created in one transaction with the
/// header row: format 4's, then the search filters', then the
/// attachments' (run in this order).
pub(crate) const CREATE: [&str; 3] = [CREATE_V4, CREATE_FILTERS, CREATE_ATTACHMENTS];

/// The attachments' table (format 6; docs/ATTACHMENTS.md, "Schema").
pub(crate) const CREATE_ATTACHMENTS: &str = "
CREATE TABLE attachment (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation INTEGER NOT NULL,
  seq          INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  expires_at   INTEGER,
  stored_len   INTEGER NOT NULL,
  file         BLOB,
  meta         BLOB    NOT NULL,
  body         BLOB
);
CREATE INDEX attachment_by_message ON attachment (conversation, seq);
";

/// The search filters' table (format 5; docs/SEARCH.md, "Schema").
pub(crate) const CREATE_FILTERS: &str = "
CREATE TABLE segment_filter (
  id       INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  epoch    INTEGER NOT NULL,
  filter   BLOB
);
";

/// Upgrades a format-4 store to format 5 (after [`CREATE_FILTERS`]): one
/// filter row without a filter for each segment, for
/// `Store::index_for_search` to fill in.
pub(crate) const UPGRADE_4_TO_5_FILL: &str = "
INSERT INTO segment_filter (id, last_seq, epoch, filter) SELECT id, last_seq, epoch, NULL FROM segment ORDER BY id;
";

/// Tables and indexes of a store created in format 4 (chatvault 0.4.0).
pub(crate) const CREATE_V4: &str = "
CREATE TABLE store (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  store_id    BLOB    NOT NULL,
  kdf         INTEGER NOT NULL,
  kdf_salt    BLOB,
  kdf_m_kib   INTEGER,
  kdf_t       INTEGER,
  kdf_p       INTEGER,
  master      BLOB    NOT NULL,
  master_gen  INTEGER NOT NULL DEFAULT 0,
  next_master BLOB,
  rotated_through INTEGER,
  key_rebuild_owed INTEGER NOT NULL DEFAULT 0
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
  id           INTEGER PRIMARY KEY,
  conversation INTEGER NOT NULL,
  first_seq    INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  expires_at   INTEGER,
  body         BLOB    NOT NULL,
  CHECK (first_seq BETWEEN 0 AND 4294967295 AND id = conversation * 4294967296 + first_seq)
);
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

/// Tables and indexes of a store created in format 3 (chatvault 0.3.0).
pub(crate) const CREATE_V3: &str = "
CREATE TABLE store (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  store_id    BLOB    NOT NULL,
  kdf         INTEGER NOT NULL,
  kdf_salt    BLOB,
  kdf_m_kib   INTEGER,
  kdf_t       INTEGER,
  kdf_p       INTEGER,
  master      BLOB    NOT NULL,
  master_gen  INTEGER NOT NULL DEFAULT 0,
  next_master BLOB,
  rotated_through INTEGER,
  key_rebuild_owed INTEGER NOT NULL DEFAULT 0
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

/// Tables and indexes of a store created in format 2 (chatvault 0.2.0).
pub(crate) const CREATE_V2: &str = "
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

/// Tables and indexes of a store created in format 1 (chatvault 0.1.0).
pub(crate) const CREATE_V1: &str = "
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
  meta      BLOB    NOT NULL
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
  PRIMARY KEY (conversation, first_seq)
) WITHOUT ROWID;
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

/// Upgrades a format-1 schema to format 2 (docs/DESIGN.md, "Upgrading"),
/// inside the caller's transaction. Sealed values stay as they are.
pub(crate) const UPGRADE_1_TO_2: &str = "
ALTER TABLE conversation ADD COLUMN compacted_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segment ADD COLUMN expires_at INTEGER;
CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL;
";

/// Upgrades a format-2 schema to format 3 (docs/DESIGN.md, "Upgrading"),
/// inside the caller's transaction. Sealed values stay as they are; the
/// activity stamps are renumbered 1, 2, 3... in their order, so they stop
/// counting the appends made before format 3.
pub(crate) const UPGRADE_2_TO_3: &str = "
ALTER TABLE store ADD COLUMN master_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE store ADD COLUMN next_master BLOB;
ALTER TABLE store ADD COLUMN rotated_through INTEGER;
ALTER TABLE store ADD COLUMN key_rebuild_owed INTEGER NOT NULL DEFAULT 0;
UPDATE conversation SET activity = r.n
  FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY activity, id) AS n FROM conversation) AS r
  WHERE r.id = conversation.id;
";

/// Upgrades a format-3 schema to format 4 (docs/DESIGN.md, "Upgrading"),
/// inside the caller's transaction: the segment table is rebuilt keyed by
/// its rowid. This begins it (the new table beside the old one); the caller
/// then runs [`UPGRADE_3_TO_4_MOVE`] until the old table is empty, and
/// [`UPGRADE_3_TO_4_FINISH`]. Sealed values are copied as they are.
pub(crate) const UPGRADE_3_TO_4: &str = "
DROP INDEX segment_expiry;
ALTER TABLE segment RENAME TO segment_v3;
CREATE TABLE segment (
  id           INTEGER PRIMARY KEY,
  conversation INTEGER NOT NULL,
  first_seq    INTEGER NOT NULL,
  last_seq     INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  expires_at   INTEGER,
  body         BLOB    NOT NULL,
  CHECK (first_seq BETWEEN 0 AND 4294967295 AND id = conversation * 4294967296 + first_seq)
);
";

/// One step of the 3-to-4 copy, two statements: the first `?1` rows left in
/// the old table copied in key order, then (bound to the last one copied,
/// conversation `?1` and first sequence number `?2`) deleted from it. In
/// steps, so that SQLite's statement journal (kept in memory) holds one
/// step's pages and not the whole table's, and the pages a step frees are
/// reused by the next.
pub(crate) const UPGRADE_3_TO_4_MOVE: [&str; 2] = [
    "INSERT INTO segment (id, conversation, first_seq, last_seq, epoch, count, expires_at, body)
       SELECT conversation * 4294967296 + first_seq, conversation, first_seq, last_seq, epoch, count, expires_at, body
       FROM segment_v3 ORDER BY conversation, first_seq LIMIT ?1",
    "DELETE FROM segment_v3 WHERE (conversation, first_seq) <= (?1, ?2)",
];

/// Ends the 3-to-4 upgrade once the old segment table is empty.
pub(crate) const UPGRADE_3_TO_4_FINISH: &str = "
DROP TABLE segment_v3;
CREATE INDEX segment_expiry ON segment (conversation, expires_at) WHERE expires_at IS NOT NULL;
";

/// Finds a format-3 segment row that format 4's key cannot hold (checked
/// before [`UPGRADE_3_TO_4`]).
pub(crate) const BEYOND_FORMAT_4: &str = "
SELECT 1 FROM segment
WHERE (typeof(conversation) = 'integer' AND conversation > 2147483647)
   OR (typeof(first_seq) = 'integer' AND first_seq > 4294967295)
   OR (typeof(last_seq) = 'integer' AND last_seq > 4294967295)
UNION ALL
SELECT 1 FROM conversation WHERE typeof(next_seq) = 'integer' AND next_seq > 4294967296
LIMIT 1";

/// Before the upgrade from format 3: a segment row format 4's `CHECK` would
/// refuse for another reason than the limits (a key column that is not an
/// integer, a negative sequence number): a file altered by hand, which the
/// upgrade reports as corrupt rather than failing on the constraint.
/// (Rows of conversation 0 or below upgrade: `verify` reports them as
/// orphans, as it did.)
pub(crate) const UNFIT_FOR_FORMAT_4: &str = "
SELECT 1 FROM segment
WHERE typeof(conversation) != 'integer' OR typeof(first_seq) != 'integer' OR first_seq < 0
   OR conversation < -2147483648
LIMIT 1";

/// Every way a store of format `version` can have come about: the schema
/// it was created with, followed by the upgrades it went through. `open`
/// accepts a file only if its schema is exactly what one of these produces.
pub(crate) fn histories(version: u32) -> &'static [&'static [&'static str]] {
    match version {
        1 => &[&[CREATE_V1]],
        2 => &[&[CREATE_V2], &[CREATE_V1, UPGRADE_1_TO_2]],
        3 => &[&[CREATE_V3], &[CREATE_V2, UPGRADE_2_TO_3], &[CREATE_V1, UPGRADE_1_TO_2, UPGRADE_2_TO_3]],
        4 => &[
            &[CREATE_V4],
            &[CREATE_V3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH],
            &[CREATE_V2, UPGRADE_2_TO_3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH],
            &[CREATE_V1, UPGRADE_1_TO_2, UPGRADE_2_TO_3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH],
        ],
        5 => &[
            &[CREATE_V4, CREATE_FILTERS],
            &[CREATE_V3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH, CREATE_FILTERS],
            &[CREATE_V2, UPGRADE_2_TO_3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH, CREATE_FILTERS],
            &[
                CREATE_V1,
                UPGRADE_1_TO_2,
                UPGRADE_2_TO_3,
                UPGRADE_3_TO_4,
                UPGRADE_3_TO_4_FINISH,
                CREATE_FILTERS,
            ],
        ],
        6 => &[
            &CREATE,
            &[CREATE_V3, UPGRADE_3_TO_4, UPGRADE_3_TO_4_FINISH, CREATE_FILTERS, CREATE_ATTACHMENTS],
            &[
                CREATE_V2,
                UPGRADE_2_TO_3,
                UPGRADE_3_TO_4,
                UPGRADE_3_TO_4_FINISH,
                CREATE_FILTERS,
                CREATE_ATTACHMENTS,
            ],
            &[
                CREATE_V1,
                UPGRADE_1_TO_2,
                UPGRADE_2_TO_3,
                UPGRADE_3_TO_4,
                UPGRADE_3_TO_4_FINISH,
                CREATE_FILTERS,
                CREATE_ATTACHMENTS,
            ],
        ],
        _ => &[],
    }
}

/// The upgrade from format `from` to `from + 1`.
pub(crate) fn upgrade_from(from: u32) -> Option<&'static str> {
    match from {
        1 => Some(UPGRADE_1_TO_2),
        2 => Some(UPGRADE_2_TO_3),
        3 => Some(UPGRADE_3_TO_4),
        4 => Some(CREATE_FILTERS),
        5 => Some(CREATE_ATTACHMENTS),
        _ => None,
    }
}
