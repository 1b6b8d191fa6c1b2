-- chatvault store format 1: a test vector (see tests/format_spec.rs).
-- Passphrase: "chatvault format vector", Argon2id m=19456 KiB, t=2, p=1.
PRAGMA application_id = 1129729108;
PRAGMA user_version = 1;
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
INSERT INTO store VALUES (1, X'92b92fae04443d070e99d49dbc7f5e04', 1, X'e8124e4fdfe00a8e6e732b7ef862ebf5', 19456, 2, 1, X'01782ee74aebe265827e47813df61291875dc084232c4153ad4b31c55a5b02cf86e19234556548cfe4edde158cdd42b46510503e6d0ab87a19603926db');
INSERT INTO conversation VALUES (1, X'ca55589304fbacd0489a5ce3c8357816', 0, 6, 5, 3, 3, X'01dd8f55c99a0e3f1be0035c0a316cdd8a98be0b1feb02b04bb27f25e0f26c24437d499307f457d38675d0b54b068e5771e23551c37a95a9046e1c2482c1bfe77add1f664d6efac793a66c92a64ba0');
INSERT INTO conversation VALUES (2, NULL, 1, 2, 3, 2, 6, X'01e792219972fe25cb82b3e1752931d8e91247203adbb137372f0d399d3d56ef7db11b8ee2ebf9ab3200ac3614');
INSERT INTO conversation_key VALUES (1, 0, X'01cdd9474b43c31da5b18ad845f428bf21208aa6126524aab2df8cc0cf131e4323c5439ad02f06b6f4bd580437d2670230ee7872d8ec8c8e3b40ff8c58');
INSERT INTO conversation_key VALUES (2, 0, X'01a26f0f6855a8e32c11e711e46094e2c641f8b36f1150a56f680cd1bf5ace157d4ced829246ac24d6fe14513378c362ffabbb84242052e9c623bb45a6');
INSERT INTO conversation_key VALUES (2, 1, X'01145eb4e8fe2413bec3a069beb8299e92acea6b911fc5114fc7a20ca769d56d4bada93aaca7b579bb1a2641f851da8c4f200c897b3637dd2c8f7d305f');
INSERT INTO segment VALUES (1, 1, 1, 0, 1, X'01b2f8d733f3d5322eec69f5555bddab1f8a26101584d90ec6fc92606eb8b197f38dd6806c366a887be32d5eeb14939c202e75227c1d6134d25f633aa40bd576994ca4e42c3f5b743978');
INSERT INTO segment VALUES (1, 2, 4, 0, 2, X'01f2a14a37ed921c0bdba6739bf75fcac970ec6ff1c17381316b11114025e47bd5258bbccdbeada8d5c324151430503b269c70bb5357ac4292a22dfd970aa6d21963e44eb65198b53df38bfd');
INSERT INTO segment VALUES (2, 1, 1, 0, 1, X'019eb6b46901c157ae6076dd97ce99be3011c34464c1b202b223f1fb9d9e9eac27d29c8331028a389c67f2b276dff0baa25c46f26f870e8d532d177c');
INSERT INTO segment VALUES (2, 2, 2, 1, 1, X'01460fd5dd153083bb30f17011a732979b738a9d8b6cdd13c5fc29db98aeb64002e7ff9846b3137b6d2fdf6f9fee8659bc96c2602d79b259113df3');
INSERT INTO recent_ref VALUES (1, 1, X'abc4679fa8975347dccedefbd5c8fed9');
INSERT INTO sqlite_sequence VALUES ('conversation', 2);
