-- chatvault store format 3: a test vector (see tests/format_spec.rs).
-- Passphrase: "chatvault format vector", Argon2id m=19456 KiB, t=2, p=1.
-- Built with the clock at 1750000000000 ms; read it with that clock.
-- Conversation 3 was imported from an archive; the master key was rotated
-- once (to the same passphrase) before the last two messages were written.
PRAGMA application_id = 1129729108;
PRAGMA user_version = 3;
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
INSERT INTO store VALUES (1, X'456454dd4c8ace7b76f70048a85d0dba', 1, X'49ad832695df4653b0cb09599822bc63', 19456, 2, 1, X'02f45f1e5eae375407b0fffab9403a0f3019874f81c1c436a7c2d6ad6cec10a31a9f6135d675dbc8327e4e3a991c1572949b2ea91a04b3200bdea64254', 1, NULL, NULL, 0);
INSERT INTO conversation VALUES (1, X'eceefa29814c0637a7a6e43f76b5083d', 1, 2, 9, 6, 6, X'022f2b0b03622f05f47810b31e2d1e452203066e48374a031a76376ba3a191fe8e3b84ac69f51cf4e3a04d4b44f2084a6cc3455e4dac1d6cbfd2f717a66b4504de24702da5e45769a333f1e731fb669b3d2ea768d6', 6);
INSERT INTO conversation VALUES (2, NULL, 2, 1, 17, 14, 4, X'0205b0a79ebee6a965b372d4f4602183d817680f3d6e7ef616b66ee9ac45446a1c7a9f205c8f047c824642cec94e2a60348f115c5f3c483d9aaf1e', 14);
INSERT INTO conversation VALUES (3, X'f4c2c8cc8e4e5aa2258acebe40734cb5', 1, 2, 4, 3, 7, X'027b4cf0ce9ee91c196b74a80c0ca014993210a52dc291a7c5ec82ea6f98336e9b8d7d6b8af84ed0787e887d20b4f17f1c1accd7297e17f77ea3a0e59cc95e1a927ecfc9d84f9454b7cda87dd4828bb8f260ffb61b540f348c', 0);
INSERT INTO conversation_key VALUES (1, 0, X'025490e16c7ca94b7846088f35eb4c9c45b037df9420ada143ff000b800225090825ec6937766a1dd66de5e558cc81f41d63afa067c8625efad4a24bee');
INSERT INTO conversation_key VALUES (1, 1, X'027c081edeb40afcafc7a36eb450c1a48ed28ec7686529b90d0feefedda0dcbf9aed9b627ae099745a9560a27d90f6e5db97861d9c425e763e4ae418cc');
INSERT INTO conversation_key VALUES (2, 1, X'029336b02978978b14eed0cce1d61dba4d7e04e10abf31fedd3b32c4ef039f5bfd942b2458d309ceb824a78f00cd5d4d6e1ecfe1c57ec81c493ef0ca0d');
INSERT INTO conversation_key VALUES (2, 2, X'027d0236bdbe8272ffdad3b2cc6d4665751923eb1a8c31d42e739f5ff928939e71a0b56ed4cd7ed0d70e05009b038edc57067a46a4ab7a2e6386b524a9');
INSERT INTO conversation_key VALUES (3, 0, X'027c56078f2e496cd0d57546470c6c4674a85bf38b20fbbdfcba0094fb0f43c09893c166f83447155d25938bd092291007772535a73ee820b1f595f3e3');
INSERT INTO conversation_key VALUES (3, 1, X'02468daec03d9b16ef485eb617eaaf626aa70240ecab64056968444d3a8bf6d04e2fae8f4373f2d274de13916cc3c316aa99c22af9e209a12ec9112aa5');
INSERT INTO segment VALUES (1, 1, 5, 0, 4, X'022dc836883606c596ac8a9da789150ac9e94fb04c47bb270f2b7387d100f79aca78b0c3bd26999cb29e621ac083a67956a7bdb1f1edc14018a6dd61ad88361dd32db0910c119c66d145a1ce81dc16c80b83c3de8c83bb95a219fd7e7c3b0cb3fe6ead6d88c945636c7591ab62d8700179deca2a7d64b71873864c2d94e9d37d90d078d7651d53b79ae91c2519bd8cc024cfea3cd1c357bec6908dbdc11926ffddb459482f7e630e0f6f74ce64', 4102444800000);
INSERT INTO segment VALUES (1, 7, 7, 0, 1, X'02d0470a14eb1e9215635c3cadc5d0e68f6bf5a4caa2bd916d12f568afffc24c74742e8a76ae1398fb9f675c1ae9cc80a492e289dd29809d0d55895cc4b8affe35af5cca04', NULL);
INSERT INTO segment VALUES (1, 8, 8, 1, 1, X'02b531aca45efca7f6dc483472069a301e430feca238183c1b804504edccf0f017e7cd6f89b1e3a8ec2d0bbc20f2c719dd9996ddb59e0d252f28ef80438f515526eed5b037c7aad422fbe8b8fca9923456fdc11cfc51cc4a6f84be3e71', NULL);
INSERT INTO segment VALUES (2, 1, 13, 1, 12, X'02df8d7f33c62943c7620c786951a061249caa7ec6dc495f2ddbeaad222366ef30f6e17b6c9010d6539b631cece95b5c23c2a47040fe057d4ea1e526a2368856fc974729c5835aef7939317c9872ffd78a26e4b073968fa1dba7a58f48e8bd315849ad4196f025351d51425edf46a0dc0a145b36e92dde722281fc7ca2d88b2c0c37f98a3c437f0e06ad98321b72db4ed753ebf297bc6c4161fc249cb3aaa5f2ae17c11c27236558736de6b0e8f8ace785b0e583556383daa9d0762d81ae5793e15931f22eaea7527a8f25b61db1029c8d4189089bb2d37463c8f9cb38b7d1d8559912add32384439098ec51e45535ad04d1e6291616b580b5c9e8f6b6', 4102444800000);
INSERT INTO segment VALUES (2, 15, 15, 1, 1, X'0248cfee36e7d19f22b1cccb8c042d4b31511ec226a029cd1f257a997dffecde9971ef0700dacd3c06979f9a102dcdde63a6a56a7927e138004a32d464cd7e127935cc040dcfab48ab39066ff2', 4853600001000);
INSERT INTO segment VALUES (2, 16, 16, 1, 1, X'0262e702ec8c17af6def3bb09ce076a5d0dec83678407169e6b5ae5839d2bacbb50746ea3f2d5dfd09ef0603e08dc7b1471b844c65f2ac7b4bb9828d4fcb537c3f74060817bb9086c4', 1749999999999);
INSERT INTO segment VALUES (3, 1, 2, 0, 2, X'022172330339cba714c4dd0ced2a0046d7a354b19bcd5fe3d54c230705ad1fab8076c564e30942c1c5290efdae8f44ad2d23408c02058e0cb87bc035aace62afc16334c89a5ccc523edfbf1eec17ce5399f470df86135dda99a030552b81037a0a3ce16951', NULL);
INSERT INTO segment VALUES (3, 3, 3, 1, 1, X'02c4132b1d0994e101949df728c63e8c7a4bfa84b39fb8e8f7e868ae6370b896ddfad88347190052a0eab9a3e12dc79e8a126ff4e85baa0e9d78d66cd69090f8d2b5ae3a2772914cfa945d82a3', NULL);
INSERT INTO recent_ref VALUES (1, 8, X'aa6545df9d958b717339103a0a5eff92');
INSERT INTO recent_ref VALUES (3, 3, X'6ceecad45496c22d5e61d21d174e287a');
INSERT INTO message_ref VALUES (1, X'201813adf2c9d2d16500e04ec24ac40e', 2);
INSERT INTO message_ref VALUES (1, X'a549c09059b0d9f83a2a97033e17d273', 1);
INSERT INTO message_ref VALUES (2, X'1af4835ff28c81c4591c1148eac3939c', 12);
INSERT INTO message_ref VALUES (2, X'4c12eba8ab754a960739ea24785c55c9', 5);
INSERT INTO message_ref VALUES (2, X'52e90b5532cecf584707ebe1038dd8a3', 1);
INSERT INTO message_ref VALUES (2, X'548c318d6693b8b99462722f988b6c92', 6);
INSERT INTO message_ref VALUES (2, X'5aeaf3328050b475bd8268bdc9651430', 2);
INSERT INTO message_ref VALUES (2, X'866f40f49948dff2b00fb3cd58d39ae2', 4);
INSERT INTO message_ref VALUES (2, X'8e1cc5e9df985ccfd346eb3e59b83e90', 7);
INSERT INTO message_ref VALUES (2, X'9127ca37b20ca3bf56a08a7df5e0e246', 11);
INSERT INTO message_ref VALUES (2, X'a615caf33303e7f335065db48ebd5ceb', 13);
INSERT INTO message_ref VALUES (2, X'b4af5c36d27f7a54e409879ccdecd5f2', 8);
INSERT INTO message_ref VALUES (2, X'e7523bb532f21299c9f9558057d7f00f', 10);
INSERT INTO message_ref VALUES (2, X'f645c8a63f436be17b0fb1d2df8a38a8', 9);
INSERT INTO message_ref VALUES (3, X'0ef4a622b16adc9a6de97ffec7d12e49', 2);
INSERT INTO message_ref VALUES (3, X'1b53ef0c8b849e9dca2b490f113ca2f2', 1);
INSERT INTO sqlite_sequence VALUES ('conversation', 3);
