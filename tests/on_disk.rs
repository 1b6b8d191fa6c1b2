//! What reaches disk: no plaintext ever, and nothing of a deleted
//! conversation or message after the call that deleted it returns.

mod common;

use chatvault::{ConversationUpdate, NewConversation, NewMessage, Page, Store, StoreKey};
use common::spec::{Root, SpecStore};
use common::{KEY, TestStore, contains, disk_bytes, msg};

/// Every file SQLite keeps for the store: database, WAL and shared memory.
fn all_files(t: &TestStore) -> Vec<u8> {
    let mut bytes = disk_bytes(&t.path);
    let mut shm = t.path.as_os_str().to_owned();
    shm.push("-shm");
    bytes.extend(common::optional_file(std::path::Path::new(&shm)));
    bytes
}

#[test]
fn nothing_the_user_wrote_is_on_disk_in_plaintext() {
    let mut t = TestStore::new();
    let secrets: &[&str] = &[
        "QuixoticTitleMarker",
        "wxid_conversation_extid_marker",
        "member_name_marker",
        "AppDataMarkerBytes",
        "server-message-id-marker",
        "SenderNameMarker",
        "The purple elephant dances at midnight",
        "独特的中文短语标记",
        "très spécial, n'est-ce pas",
        "ExtraBytesMarker",
        "EditedTextMarker",
        "RenamedTitleMarker",
    ];
    let c = t
        .create_conversation(NewConversation {
            external_id: Some(secrets[1].into()),
            title: secrets[0].into(),
            members: vec![secrets[2].into()],
            app_data: secrets[3].as_bytes().to_vec(),
            created_at_ms: None,
            retention_ms: None,
        })
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            t.append(
                c,
                NewMessage {
                    external_id: Some(format!("{}-{i}", secrets[4])),
                    sender: secrets[5].into(),
                    sent_at_ms: 1_700_000_000_000 + i,
                    text: format!("{} {} {}", secrets[6], secrets[7], secrets[8]),
                    reply_to: None,
                    extra: secrets[9].as_bytes().to_vec(),
                    expires_at_ms: None,
                },
            )
            .unwrap(),
        );
    }
    let batch: Vec<_> = (0..50).map(|_| (c, msg(secrets[5], secrets[6]))).collect();
    t.append_batch(&batch).unwrap();
    t.edit_message(ids[0], secrets[10]).unwrap();
    t.update_conversation(c, ConversationUpdate { title: Some(secrets[11].into()), ..Default::default() })
        .unwrap();
    t.mark_read(c, ids[10]).unwrap();
    t.append(c, msg(secrets[5], secrets[7])).unwrap();

    // What is on disk is read: the sealed metadata and newest segment, as
    // the database holds them, are found by the same scan.
    let sealed = |t: &TestStore| -> Vec<Vec<u8>> {
        let conn = t.raw_sql();
        let meta: Vec<u8> = conn
            .query_row("SELECT meta FROM conversation WHERE id = ?1", [c.get() as i64], |r| r.get(0))
            .unwrap();
        let body: Vec<u8> = conn
            .query_row(
                "SELECT body FROM segment WHERE conversation = ?1 ORDER BY first_seq DESC LIMIT 1",
                [c.get() as i64],
                |r| r.get(0),
            )
            .unwrap();
        vec![meta, body]
    };
    let check = |bytes: &[u8], live: &[Vec<u8>], when: &str| {
        assert!(bytes.len() > 10_000, "{when}: the files hold the data");
        for v in live {
            assert!(
                contains(bytes, &v[v.len() - 16..]),
                "{when}: a live sealed value is not in the files read"
            );
        }
        for s in secrets {
            assert!(!contains(bytes, s.as_bytes()), "{when}: {s:?} found on disk");
            // Also a distinctive 8-byte piece of it.
            let piece = &s.as_bytes()[s.len() / 2 - 4..s.len() / 2 + 4];
            assert!(!contains(bytes, piece), "{when}: part of {s:?} found on disk");
        }
        assert!(!contains(bytes, &KEY), "{when}: the root key is on disk");
    };
    check(&all_files(&t), &sealed(&t), "while open, WAL not checkpointed");
    t.reopen();
    check(&all_files(&t), &sealed(&t), "after close and reopen");
    assert_eq!(t.messages(c, Page::latest(200)).unwrap().len(), 101);

    // A passphrase store: the passphrase is not on disk either.
    let path = t.dir.path().join("pw.chatvault");
    let s = Store::create(&path, StoreKey::passphrase("PassphraseMarker-42")).unwrap();
    let c = s.create_conversation(NewConversation::default()).unwrap();
    s.append(c, msg("x", secrets[6])).unwrap();
    let bytes = disk_bytes(&path);
    assert!(!contains(&bytes, b"PassphraseMarker"));
    assert!(!contains(&bytes, secrets[6].as_bytes()));
}

/// Non-overlapping 16-byte pieces of `bytes`: random data of that length does
/// not occur by chance, so finding none of them means no copy survives, in
/// whole or in part.
fn pieces(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.chunks_exact(16)
}

#[test]
fn deleting_a_conversation_shreds_its_key_and_bytes_from_file_and_wal() {
    let t = TestStore::new();
    let doomed = t.new_conv("doomed");
    let kept = t.new_conv("kept");
    for i in 0..300 {
        t.append(doomed, msg("d", &format!("doomed message {i} {}", "padding ".repeat(i % 20)))).unwrap();
        if i % 10 == 0 {
            t.append(kept, msg("k", &format!("kept {i}"))).unwrap();
        }
    }
    let batch: Vec<_> = (0..100).map(|i| (doomed, msg("d", &format!("batched {i}")))).collect();
    t.append_batch(&batch).unwrap();
    t.rotate_conversation_key(doomed).unwrap();
    t.append(doomed, msg("d", "under the second key")).unwrap();

    // Read the doomed conversation's secrets by the document's rules.
    let spec = SpecStore::open(&t.path, Root::Raw(KEY));
    let d = doomed.get();
    let keys = [spec.conversation_key(d, 0), spec.conversation_key(d, 1)];
    let wrapped = [spec.wrapped_key(d, 0), spec.wrapped_key(d, 1)];
    let meta: Vec<u8> =
        spec.conn.query_row("SELECT meta FROM conversation WHERE id = ?1", [d as i64], |r| r.get(0)).unwrap();
    let bodies: Vec<Vec<u8>> = spec.segments(d).into_iter().map(|s| s.3).collect();
    assert_eq!(spec.messages(d).len(), 401);
    drop(spec);

    // The test can fail: before the delete, the secrets are on disk.
    let before = disk_bytes(&t.path);
    assert!(contains(&before, &wrapped[0][..16]));
    assert!(bodies.iter().all(|b| contains(&before, &b[..16])));

    t.delete_conversation(doomed).unwrap();

    let after = disk_bytes(&t.path);
    let wal_len = std::fs::metadata(format!("{}-wal", t.path.display())).map_or(0, |m| m.len());
    assert_eq!(wal_len, 0, "the WAL was truncated");
    // Unwrapped keys never reach disk at all, before or after.
    for k in &keys {
        for bytes in [&before, &after] {
            assert!(pieces(k).all(|p| !contains(bytes, p)), "an unwrapped key is on disk");
        }
    }
    for v in wrapped.iter().chain([&meta]).chain(&bodies) {
        for p in pieces(v) {
            assert!(!contains(&after, p), "sealed bytes of the deleted conversation survived");
        }
    }
    // The other conversation is untouched.
    assert_eq!(t.messages(kept, Page::latest(100)).unwrap().len(), 30);
    drop(t);
}

#[test]
fn deleting_or_editing_a_message_leaves_no_copy_of_its_old_segment() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let ids: Vec<_> =
        (0..200).map(|i| t.append(c, msg("s", &format!("message number {i}"))).unwrap()).collect();
    let body_of = |seq: u64| -> Vec<u8> {
        t.raw_sql()
            .query_row("SELECT body FROM segment WHERE first_seq = ?1", [seq as i64], |r| r.get(0))
            .unwrap()
    };
    let deleted = body_of(ids[50].seq());
    let edited = body_of(ids[60].seq());
    let before = disk_bytes(&t.path);
    assert!(contains(&before, &deleted[..16]) && contains(&before, &edited[..16]));

    t.delete_message(ids[50]).unwrap();
    t.edit_message(ids[60], "new words").unwrap();

    let after = disk_bytes(&t.path);
    for v in [&deleted, &edited] {
        assert!(pieces(v).all(|p| !contains(&after, p)), "an old sealed copy survived");
    }
    assert_eq!(t.message(ids[60]).unwrap().text, "new words");
}

/// docs/SEARCH.md: deleting or editing a message rebuilds its segment's
/// search filter from the other messages, and no copy of the old filter
/// remains: every filter in the file, decrypted with the keys, lacks the
/// old words, and the old sealed filters' bytes are gone.
#[test]
fn deleting_or_editing_a_message_leaves_no_filter_holding_its_words() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    let batch: Vec<_> = (0..40)
        .map(|i| {
            let text = match i {
                10 => "the zebrafish left 斑马鱼".to_string(),
                20 => "an axolotl arrived 蝾螈来了".to_string(),
                _ => format!("plain message {i}"),
            };
            (c, msg("s", &text))
        })
        .collect();
    // One segment holds them all, so the words share a filter with others.
    let ids = t.append_batch(&batch).unwrap();
    let old_filter: Vec<u8> =
        t.raw_sql().query_row("SELECT filter FROM segment_filter", [], |r| r.get(0)).unwrap();
    let words = |spec: &SpecStore, term: &[u8]| -> usize {
        let mut n = 0;
        for seg in spec.segment_rows(c.get()) {
            let f = spec.filter_record(c.get(), &seg).expect("an indexed segment").value;
            n += usize::from(f.holds(term));
        }
        n
    };
    let spec = SpecStore::open(&t.path, Root::Raw(KEY));
    let gone: [&[u8]; 4] = [b"wzebrafi", "c斑马".as_bytes(), b"waxolotl", "c蝾螈".as_bytes()];
    assert!(gone.iter().all(|w| words(&spec, w) == 1), "the filter holds the words before");
    drop(spec);

    t.delete_message(ids[10]).unwrap();
    t.edit_message(ids[20], "changed my mind").unwrap();

    let spec = SpecStore::open(&t.path, Root::Raw(KEY));
    for w in gone {
        assert_eq!(words(&spec, w), 0, "a filter still holds {:?}", String::from_utf8_lossy(w));
    }
    assert_eq!(words(&spec, b"wchanged"), 1, "the edit's words are indexed");
    drop(spec);
    assert!(pieces(&old_filter).all(|p| !contains(&all_files(&t), p)), "an old sealed filter survived");
    assert!(t.search(&chatvault::SearchQuery::new("zebrafish")).unwrap().hits.is_empty());
}

#[test]
fn changing_the_key_leaves_no_copy_of_the_old_wrapping() {
    let t = TestStore::new();
    let c = t.new_conv("c");
    t.append(c, msg("s", "x")).unwrap();
    let old: Vec<u8> = t.raw_sql().query_row("SELECT master FROM store", [], |r| r.get(0)).unwrap();
    t.change_key(StoreKey::raw([9; 32])).unwrap();
    let after = disk_bytes(&t.path);
    assert!(pieces(&old).all(|p| !contains(&after, p)), "the old wrapped master key survived");
}

#[test]
fn deletes_return_pages_to_the_file_system() {
    let t = TestStore::new();
    let c = t.new_conv("big");
    let keep = t.new_conv("small");
    for chunk in 0..20 {
        let batch: Vec<_> =
            (0..500).map(|i| (c, msg("s", &format!("{chunk}-{i} {}", "words ".repeat(i % 30))))).collect();
        t.append_batch(&batch).unwrap();
    }
    t.append(keep, msg("s", "kept")).unwrap();
    t.scrub().unwrap();
    let before = std::fs::metadata(&t.path).unwrap().len();
    t.delete_conversation(c).unwrap();
    let after = std::fs::metadata(&t.path).unwrap().len();
    let free: i64 = t.raw_sql().query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
    assert_eq!(free, 0, "every freed page was returned");
    assert!(after * 4 < before, "the file shrank from {before} to {after} bytes");
    assert_eq!(t.messages(keep, chatvault::Page::latest(5)).unwrap().len(), 1);
}

#[test]
fn a_read_held_open_elsewhere_delays_the_scrub_until_scrub_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.chatvault");
    let options =
        chatvault::StoreOptions { busy_timeout: std::time::Duration::from_millis(300), ..Default::default() };
    let store = Store::create_with(&path, StoreKey::raw(KEY), options).unwrap();
    let c = store.create_conversation(NewConversation::default()).unwrap();
    let keep = store.create_conversation(NewConversation::default()).unwrap();
    for i in 0..50 {
        store.append(c, msg("s", &format!("doomed {i}"))).unwrap();
    }
    store.append(keep, msg("s", "kept")).unwrap();
    let body: Vec<u8> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT body FROM segment WHERE conversation = ?1 LIMIT 1", [c.get() as i64], |r| r.get(0))
        .unwrap();

    // Another connection (as another process would) holds a read snapshot.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN").unwrap();
    let _: i64 = other.query_row("SELECT COUNT(*) FROM segment", [], |r| r.get(0)).unwrap();

    let started = std::time::Instant::now();
    assert!(matches!(store.delete_conversation(c), Err(chatvault::Error::ScrubIncomplete)));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "gave up after about the busy timeout");
    // The delete itself is committed.
    assert!(matches!(store.conversation(c), Err(chatvault::Error::NotFound(_))));
    // Reads in this process were not blocked meanwhile, and still work.
    assert_eq!(store.messages(keep, chatvault::Page::latest(5)).unwrap().len(), 1);

    other.execute_batch("COMMIT").unwrap();
    drop(other);
    store.scrub().unwrap();
    let after = disk_bytes(&path);
    assert!(pieces(&body).all(|p| !contains(&after, p)), "the scrub finished the job");
}

#[test]
fn compaction_leaves_no_residue_of_what_it_removed() {
    let mut t = TestStore::new();
    let now = t.now();
    let c = t.new_conv("c");
    let other = t.new_conv("other");
    // Distinctive messages: some to delete, some to expire, some to keep.
    let mut keep = Vec::new();
    let (mut deleted, mut expired) = (Vec::new(), Vec::new());
    for i in 0..120 {
        let text = match i % 3 {
            0 => format!("KeepMarker{i:03} garder 保留 ✅"),
            1 => format!("DeleteMarker{i:03} supprimer 删除 🗑"),
            _ => format!("ExpireMarker{i:03} expirer 过期 ⏳"),
        };
        let expires_at_ms = (i % 3 == 2).then_some(now + 1_000);
        let id = t.append(c, NewMessage { expires_at_ms, ..msg("SenderMarker", &text) }).unwrap();
        match i % 3 {
            0 => keep.push(id),
            1 => deleted.push(id),
            _ => expired.push(id),
        }
    }
    t.append_batch(&(0..40).map(|i| (other, msg("o", &format!("OtherMarker{i}")))).collect::<Vec<_>>())
        .unwrap();
    t.rotate_conversation_key(c).unwrap();
    assert_eq!(t.rotate_all_keys().unwrap(), 2);

    // Before: the sealed bodies of every segment (all will be merged away or
    // rewritten), and the old keys, wrapped and unwrapped.
    t.close();
    let spec = SpecStore::open(&t.path, Root::Raw(KEY));
    let bodies: Vec<Vec<u8>> = [c, other].iter().flat_map(|x| spec.segments(x.get())).map(|s| s.3).collect();
    assert_eq!(bodies.len(), 121);
    let old_keys: Vec<[u8; 32]> =
        [(c, 0), (c, 1), (other, 0)].iter().flat_map(|&(x, e)| [spec.conversation_key(x.get(), e)]).collect();
    let old_wrapped: Vec<Vec<u8>> =
        [(c, 0), (c, 1), (other, 0)].iter().map(|&(x, e)| spec.wrapped_key(x.get(), e)).collect();
    drop(spec);
    t.reopen();
    // The test can fail: before, every one of them is on disk.
    let before = all_files(&t);
    assert!(bodies.iter().all(|b| contains(&before, &b[13..29])), "a segment body is not on disk");
    assert!(old_wrapped.iter().all(|w| contains(&before, &w[13..29])), "a wrapped key is not on disk");

    for &id in &deleted {
        t.delete_message(id).unwrap();
    }
    t.advance(1_000);
    let report = t.compact(&chatvault::CompactOptions::default()).unwrap();
    assert_eq!((report.messages_expired, report.keys_destroyed), (40, 3));

    let bytes = all_files(&t);
    for body in &bodies {
        assert!(pieces(&body[13..]).all(|p| !contains(&bytes, p)), "a merged-away segment survived");
    }
    for (key, wrapped) in old_keys.iter().zip(&old_wrapped) {
        assert!(!contains(&bytes, key), "a destroyed key is on disk");
        assert!(pieces(&wrapped[13..]).all(|p| !contains(&bytes, p)), "a destroyed key's wrapping survived");
    }
    for marker in ["Marker", "garder", "supprimer", "expirer", "保留", "删除", "过期"] {
        assert!(!contains(&bytes, marker.as_bytes()), "{marker:?} is on disk in plaintext");
    }
    let wal_len = std::fs::metadata(format!("{}-wal", t.path.display())).map_or(0, |m| m.len());
    assert_eq!(wal_len, 0, "compaction's scrub empties the WAL");
    let texts: Vec<String> = t.messages(c, Page::oldest(1000)).unwrap().into_iter().map(|m| m.text).collect();
    assert_eq!(texts.len(), keep.len());
    assert!(texts.iter().all(|x| x.starts_with("KeepMarker")));
}
