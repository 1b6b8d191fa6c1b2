//! Attachments (docs/ATTACHMENTS.md): content round-trips at every size
//! and seeks anywhere; any change to a chunk, the file or the row is an
//! authentication error, never wrong bytes; deleting an attachment, its
//! message or its conversation leaves no byte of it in the database, the
//! WAL or the attachment directory; the storage manager, the gallery,
//! expiry, rotation, compaction and verify cover them.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use chatvault::{
    AttachmentFilter, AttachmentId, AttachmentPage, CompactOptions, Error, MessageId, NewAttachment,
    NewMessage, ProblemKind, RecordKind,
};
use chatvault_corpus::Rng;
use common::{TestStore, disk_bytes, msg};

fn dir(t: &TestStore) -> PathBuf {
    PathBuf::from(format!("{}-attachments", t.path.display()))
}

fn files(t: &TestStore) -> Vec<PathBuf> {
    match std::fs::read_dir(dir(t)) {
        Ok(entries) => {
            let mut v: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    }
}

fn content(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.below(256) as u8).collect()
}

fn image(name: &str) -> NewAttachment {
    NewAttachment {
        media_type: "image/jpeg".into(),
        file_name: Some(name.into()),
        app_data: b"640x480".to_vec(),
    }
}

/// Writes `data` in uneven pieces, as a network download would.
fn attach(t: &TestStore, m: MessageId, new: NewAttachment, data: &[u8]) -> AttachmentId {
    let mut w = t.attach(m, new).unwrap();
    let mut rest = data;
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 + 7;
    }
    w.finish().unwrap()
}

fn read_all(t: &TestStore, a: AttachmentId) -> chatvault::Result<Vec<u8>> {
    let mut out = Vec::new();
    t.open_attachment(a)?.read_to_end(&mut out).map_err(|e| match e.downcast::<Error>() {
        Ok(e) => e,
        Err(e) => Error::Io(e),
    })?;
    Ok(out)
}

fn is_auth(e: &Error, kind: RecordKind) -> bool {
    matches!(e, Error::Authentication { record } if record.kind == kind)
}

#[test]
fn content_round_trips_at_every_size_and_reads_back_after_reopen() {
    let mut t = TestStore::new();
    let c = t.new_conv("a");
    let mut rng = Rng::new(1);
    // 6,220,854: Padmé adds more than a chunk, so the last chunk is all padding.
    let sizes = [0usize, 1, 100, 65_535, 65_536, 65_537, 131_072, 300_001, 2_000_000, 6_220_854];
    let mut written = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let m = t.append(c, msg("me", &format!("photo {i}"))).unwrap();
        let data = content(&mut rng, len);
        let a = attach(&t, m, image(&format!("IMG_{i}.jpg")), &data);
        written.push((m, a, data));
    }
    // Content of one chunk or less is inline; more goes to a file.
    assert_eq!(files(&t).len(), sizes.iter().filter(|&&n| n > 65_536).count());
    t.reopen();
    for (m, a, data) in &written {
        assert_eq!(&read_all(&t, *a).unwrap(), data, "attachment {a}");
        let meta = t.attachment(*a).unwrap();
        assert_eq!(
            (meta.message, meta.byte_len, meta.app_data.as_slice()),
            (*m, data.len() as u64, &b"640x480"[..])
        );
        assert_eq!(t.message_attachments(*m).unwrap(), vec![meta]);
    }
    let stats = t.stats().unwrap();
    assert_eq!((stats.attachments, stats.orphan_files), (sizes.len() as u64, 0));
    let report = t.verify().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert_eq!(report.attachments, sizes.len() as u64);
}

#[test]
fn stored_sizes_reveal_only_a_bucket() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("me", "two videos")).unwrap();
    let a = attach(&t, m, image("a"), &vec![1; 1_000_000]);
    let b = attach(&t, m, image("b"), &vec![2; 1_000_100]);
    let sizes: Vec<u64> = files(&t).iter().map(|p| std::fs::metadata(p).unwrap().len()).collect();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[0], sizes[1], "two lengths in one Padmé bucket store alike");
    assert_ne!(t.attachment(a).unwrap().byte_len, t.attachment(b).unwrap().byte_len);
}

#[test]
fn seeks_and_ranged_reads_match_the_content_anywhere() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("me", "video")).unwrap();
    let mut rng = Rng::new(2);
    let data = content(&mut rng, 1_234_567);
    let a = attach(&t, m, image("v.mp4"), &data);
    let mut r = t.open_attachment(a).unwrap();
    assert_eq!(r.len(), data.len() as u64);
    for _ in 0..300 {
        let at = rng.below(data.len() as u64 + 10);
        let want = rng.below(200_000) as usize;
        match rng.below(3) {
            0 => r.seek(SeekFrom::Start(at)).unwrap(),
            1 => r.seek(SeekFrom::End(at as i64 - data.len() as i64)).unwrap(),
            _ => {
                let here = r.stream_position().unwrap();
                r.seek(SeekFrom::Current(at as i64 - here as i64)).unwrap()
            }
        };
        let mut buf = vec![0; want];
        let mut got = 0;
        while got < want {
            let n = r.read(&mut buf[got..]).unwrap();
            if n == 0 {
                break;
            }
            got += n;
        }
        let start = (at as usize).min(data.len());
        let end = (start + want).min(data.len());
        assert_eq!(&buf[..got], &data[start..end], "at {at}, {want} bytes");
    }
    assert!(r.seek(SeekFrom::Current(-(data.len() as i64) - 20)).is_err());
}

/// Reads every chunk; the first error, if any.
fn read_error(t: &TestStore, a: AttachmentId) -> Option<Error> {
    read_all(t, a).err()
}

#[test]
fn any_change_to_a_chunk_or_file_is_an_authentication_error_never_wrong_bytes() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("me", "files")).unwrap();
    let mut rng = Rng::new(3);
    let data = content(&mut rng, 65_536 * 3 + 500);
    let a = attach(&t, m, image("a"), &data);
    let other = attach(&t, m, image("b"), &content(&mut rng, data.len()));
    let [fa, fb]: [PathBuf; 2] = {
        // Which file is whose: the one that reads as `a` when swapped back.
        let f = files(&t);
        assert_eq!(f.len(), 2);
        [f[0].clone(), f[1].clone()]
    };
    let original_a = std::fs::read(&fa).unwrap();
    let original_b = std::fs::read(&fb).unwrap();
    let restore = || {
        std::fs::write(&fa, &original_a).unwrap();
        std::fs::write(&fb, &original_b).unwrap();
    };
    assert_eq!(read_all(&t, a).unwrap(), data);
    let sealed_chunk = 65_536 + 16;

    type Change = Box<dyn Fn(&mut Vec<u8>, &[u8])>;
    let cases: Vec<(&str, Change)> = vec![
        ("a flipped byte in the first chunk", Box::new(|f, _| f[10] ^= 1)),
        ("a flipped byte in the last chunk", Box::new(|f, _| *f.last_mut().unwrap() ^= 0x80)),
        ("a flipped tag byte", Box::new(move |f, _| f[sealed_chunk - 1] ^= 4)),
        ("cut at a chunk boundary", Box::new(move |f, _| f.truncate(2 * sealed_chunk))),
        ("cut inside a chunk", Box::new(move |f, _| f.truncate(2 * sealed_chunk + 100))),
        ("a byte appended", Box::new(|f, _| f.push(0))),
        (
            "two chunks swapped",
            Box::new(move |f, _| {
                let (x, y) = f.split_at_mut(sealed_chunk);
                x.swap_with_slice(&mut y[..sealed_chunk]);
            }),
        ),
        (
            "a chunk from another attachment at the same index",
            Box::new(move |f, other| {
                f[sealed_chunk..2 * sealed_chunk].copy_from_slice(&other[sealed_chunk..2 * sealed_chunk])
            }),
        ),
        ("the other attachment's whole file", Box::new(|f, other| *f = other.to_vec())),
    ];
    for (what, change) in cases {
        for (path, mine, theirs) in [(&fa, &original_a, &original_b), (&fb, &original_b, &original_a)] {
            let mut bytes = mine.clone();
            change(&mut bytes, theirs);
            std::fs::write(path, &bytes).unwrap();
        }
        for x in [a, other] {
            let e = read_error(&t, x).unwrap_or_else(|| panic!("{what}: read succeeded"));
            assert!(is_auth(&e, RecordKind::AttachmentContent), "{what}: {e:?}");
        }
        let report = t.verify().unwrap();
        assert!(
            report.problems.iter().any(|p| p.kind == ProblemKind::Authentication),
            "{what}: verify found {:#?}",
            report.problems
        );
        restore();
    }
    assert_eq!(read_all(&t, a).unwrap(), data);
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn inline_content_and_metadata_are_bound_to_their_row() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m1 = t.append(c, msg("me", "one")).unwrap();
    let m2 = t.append(c, msg("me", "two")).unwrap();
    let a = attach(&t, m1, image("a"), b"a thumbnail");
    let b = attach(&t, m2, image("b"), b"another thumbnail");
    let sql = t.raw_sql();
    let get = |col: &str, id: AttachmentId| -> Vec<u8> {
        sql.query_row(&format!("SELECT {col} FROM attachment WHERE id = ?1"), [id.get() as i64], |r| r.get(0))
            .unwrap()
    };
    let set = |col: &str, id: AttachmentId, v: &[u8]| {
        sql.execute(
            &format!("UPDATE attachment SET {col} = ?2 WHERE id = ?1"),
            rusqlite::params![id.get() as i64, v],
        )
        .unwrap();
    };
    let (body_a, body_b, meta_a, meta_b) = (get("body", a), get("body", b), get("meta", a), get("meta", b));
    // A flipped body byte.
    let mut flipped = body_a.clone();
    flipped[3] ^= 1;
    set("body", a, &flipped);
    assert!(is_auth(&read_error(&t, a).unwrap(), RecordKind::AttachmentContent));
    // The other row's body and metadata both (its key with it): bound to
    // the other message and id.
    set("body", a, &body_b);
    set("meta", a, &meta_b);
    let e = t.attachment(a).unwrap_err();
    assert!(is_auth(&e, RecordKind::Attachment), "{e:?}");
    // Its own metadata, another row's body: the content key differs.
    set("meta", a, &meta_a);
    assert!(is_auth(&read_error(&t, a).unwrap(), RecordKind::AttachmentContent));
    // A plaintext column changed.
    set("body", a, &body_a);
    sql.execute("UPDATE attachment SET stored_len = stored_len + 1 WHERE id = ?1", [a.get() as i64]).unwrap();
    assert!(is_auth(&t.attachment(a).unwrap_err(), RecordKind::Attachment));
    sql.execute(
        "UPDATE attachment SET stored_len = stored_len - 1, seq = ?2 WHERE id = ?1",
        [a.get() as i64, m2.seq() as i64],
    )
    .unwrap();
    assert!(is_auth(&t.attachment(a).unwrap_err(), RecordKind::Attachment));
    sql.execute("UPDATE attachment SET seq = ?2 WHERE id = ?1", [a.get() as i64, m1.seq() as i64]).unwrap();
    assert_eq!(read_all(&t, a).unwrap(), b"a thumbnail");
    assert!(t.verify().unwrap().is_ok());
}

/// Every 16-byte piece of the sealed forms of attachment `a`: its row's
/// metadata and inline body, or its file.
fn sealed_pieces(t: &TestStore, a: AttachmentId) -> Vec<Vec<u8>> {
    let sql = t.raw_sql();
    let (meta, body, file): (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>) = sql
        .query_row("SELECT meta, body, file FROM attachment WHERE id = ?1", [a.get() as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    let file = file.map(|f| {
        let name: String = f.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::read(dir(t).join(name)).unwrap()
    });
    // Each value apart: a piece must not straddle two.
    [meta, body.unwrap_or_default(), file.unwrap_or_default()]
        .iter()
        .flat_map(|v| v.chunks_exact(16).map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect()
}

/// How many of `pieces` occur in `haystack` (one pass over it: a search
/// per piece would take minutes over megabytes).
fn found(haystack: &[u8], pieces: &[Vec<u8>]) -> usize {
    let set: std::collections::HashSet<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let mut seen = std::collections::HashSet::new();
    for w in haystack.windows(16) {
        if set.contains(w) {
            seen.insert(w);
        }
    }
    seen.len()
}

/// Everything on disk: database, WAL, and every attachment file.
fn everything(t: &TestStore) -> Vec<u8> {
    let mut bytes = disk_bytes(&t.path);
    for f in files(t) {
        bytes.extend(std::fs::read(f).unwrap());
    }
    bytes
}

#[test]
fn deleting_an_attachment_its_message_or_its_conversation_leaves_no_byte_of_it() {
    let t = TestStore::new();
    let mut rng = Rng::new(4);
    let c = t.new_conv("doomed");
    let kept_c = t.new_conv("kept");
    let kept_m = t.append(kept_c, msg("k", "kept")).unwrap();
    let kept = attach(&t, kept_m, image("k"), &content(&mut rng, 200_000));
    let mut doomed = Vec::new();
    for i in 0..6 {
        let m = t.append(c, msg("me", &format!("m{i}"))).unwrap();
        let small = attach(&t, m, image("thumb"), &content(&mut rng, 3_000));
        let big = attach(&t, m, image("full"), &content(&mut rng, 150_000));
        doomed.push((m, small, big));
    }
    let kept_pieces = sealed_pieces(&t, kept);
    let check_gone = |what: &str, pieces: &[Vec<u8>]| {
        let bytes = everything(&t);
        assert_eq!(found(&bytes, pieces), 0, "{what}: sealed pieces survived");
        let wal = std::fs::metadata(format!("{}-wal", t.path.display())).map_or(0, |m| m.len());
        assert_eq!(wal, 0, "{what}: the WAL was scrubbed");
        assert_eq!(
            found(&bytes, &kept_pieces),
            kept_pieces.len(),
            "{what}: the other conversation's attachment is intact"
        );
    };
    // The test can fail: before a delete, the pieces are there.
    let before = everything(&t);
    let (m0, s0, b0) = doomed[0];
    let pieces0: Vec<_> = [s0, b0].iter().flat_map(|&a| sealed_pieces(&t, a)).collect();
    assert_eq!(found(&before, &pieces0), pieces0.len());

    // One attachment, keeping its message.
    let small_pieces = sealed_pieces(&t, s0);
    t.delete_attachment(s0).unwrap();
    check_gone("delete_attachment (inline)", &small_pieces);
    let big_pieces = sealed_pieces(&t, b0);
    let files_before = files(&t).len();
    t.delete_attachment(b0).unwrap();
    assert_eq!(files(&t).len(), files_before - 1);
    check_gone("delete_attachment (file)", &big_pieces);
    assert!(matches!(t.attachment(b0), Err(Error::NotFound(_))));
    assert_eq!(t.message(m0).unwrap().text, "m0");

    // A message, and its attachments with it.
    let (m1, s1, b1) = doomed[1];
    let pieces1: Vec<_> = [s1, b1].iter().flat_map(|&a| sealed_pieces(&t, a)).collect();
    t.delete_message(m1).unwrap();
    check_gone("delete_message", &pieces1);
    assert!(matches!(t.open_attachment(s1), Err(Error::NotFound(_))));

    // The conversation, and every attachment in it.
    let rest: Vec<_> =
        doomed[2..].iter().flat_map(|&(_, s, b)| [s, b]).flat_map(|a| sealed_pieces(&t, a)).collect();
    t.delete_conversation(c).unwrap();
    check_gone("delete_conversation", &rest);
    assert_eq!(files(&t).len(), 1, "only the kept conversation's file remains");
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn the_storage_manager_removes_content_by_kind_age_and_size_and_keeps_the_messages() {
    let t = TestStore::new();
    let mut rng = Rng::new(5);
    let a = t.new_conv("a");
    let b = t.new_conv("b");
    let ma = t.append(a, msg("x", "holiday")).unwrap();
    let mb = t.append(b, msg("y", "report")).unwrap();
    let old_photo = attach(&t, ma, image("old.jpg"), &content(&mut rng, 100_000));
    t.advance(10_000);
    let cutoff = t.now();
    t.advance(10_000);
    let video =
        NewAttachment { media_type: "video/mp4".into(), file_name: Some("v.mp4".into()), app_data: vec![] };
    let new_video = attach(&t, ma, video, &content(&mut rng, 500_000));
    let small_photo = attach(&t, ma, image("s.jpg"), &content(&mut rng, 1_000));
    let pdf = NewAttachment { media_type: "application/pdf".into(), file_name: None, app_data: vec![] };
    let doc = attach(&t, mb, pdf, &content(&mut rng, 300_000));

    let usage = t.storage_usage().unwrap();
    assert_eq!(usage.len(), 2);
    let ua = usage.iter().find(|u| u.conversation == a).unwrap();
    assert_eq!(ua.attachments, 3);
    assert!(ua.attachment_bytes > 601_000 && ua.text_bytes > 0);
    assert_eq!(usage[0].conversation, a, "largest first");

    // Images older than the cutoff: only the old photo.
    let r = t
        .clear_attachments(&AttachmentFilter {
            media_type_prefix: Some("image/".into()),
            created_before_ms: Some(cutoff),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.attachments, 1);
    let stub = t.attachment(old_photo).unwrap();
    assert!(stub.removed_at_ms.is_some());
    assert_eq!((stub.media_type.as_str(), stub.byte_len), ("image/jpeg", 100_000));
    assert!(matches!(t.open_attachment(old_photo), Err(Error::NotFound(_))));
    assert_eq!(t.message(ma).unwrap().text, "holiday");
    assert_eq!(read_all(&t, small_photo).unwrap().len(), 1_000);

    // Everything of at least 200 KB in conversation a: the video, not b's document.
    let r = t
        .clear_attachments(&AttachmentFilter {
            conversation: Some(a),
            min_bytes: Some(200_000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.attachments, 1);
    assert!(r.bytes >= 500_000);
    assert!(t.attachment(new_video).unwrap().removed_at_ms.is_some());
    assert_eq!(read_all(&t, doc).unwrap().len(), 300_000);
    assert_eq!(files(&t).len(), 1, "only the document's file is left");
    let ua = t.storage_usage().unwrap().into_iter().find(|u| u.conversation == a).unwrap();
    assert!(ua.attachment_bytes < 2_000, "{ua:?}");
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn the_gallery_lists_newest_first_by_kind_in_pages() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let mut all = Vec::new();
    for i in 0..25 {
        let m = t.append(c, msg("x", &format!("{i}"))).unwrap();
        let kind = if i % 3 == 0 { "video/mp4" } else { "image/png" };
        let new = NewAttachment { media_type: kind.into(), ..Default::default() };
        all.push((attach(&t, m, new, &[i as u8; 10]), kind));
    }
    let images: Vec<AttachmentId> =
        all.iter().rev().filter(|(_, k)| k.starts_with("image/")).map(|(a, _)| *a).collect();
    let mut got = Vec::new();
    let mut page = AttachmentPage::newest(4).media_type("image/");
    loop {
        let batch = t.attachments(c, page.clone()).unwrap();
        let Some(last) = batch.last() else { break };
        assert!(batch.iter().all(|a| a.media_type == "image/png"));
        got.extend(batch.iter().map(|a| a.id));
        page = AttachmentPage::newest(4).media_type("image/").before(last.id);
    }
    assert_eq!(got, images);
    assert_eq!(t.attachments(c, AttachmentPage::newest(100)).unwrap().len(), 25);
}

#[test]
fn attachments_expire_with_their_message_and_compaction_removes_them() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let now = t.now();
    let m =
        t.append(c, NewMessage { expires_at_ms: Some(now + 1_000), ..msg("x", "self-destructs") }).unwrap();
    let a = attach(&t, m, image("a"), &vec![7; 100_000]);
    assert_eq!(read_all(&t, a).unwrap().len(), 100_000);
    t.advance(2_000);
    assert!(matches!(t.open_attachment(a), Err(Error::NotFound(_))));
    assert!(t.attachments(c, AttachmentPage::newest(10)).unwrap().is_empty());
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.attachments_expired, 1);
    assert!(files(&t).is_empty());
    assert_eq!(t.stats().unwrap().attachments, 0);
    // An expired message takes no new attachment.
    assert!(matches!(t.attach(m, image("late")).unwrap().finish(), Err(Error::NotFound(_))));
    assert!(files(&t).is_empty());
}

#[test]
fn rotation_and_compaction_move_the_metadata_and_destroy_the_old_key() {
    let mut t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("x", "before")).unwrap();
    let data = vec![9u8; 200_000];
    let a = attach(&t, m, image("a"), &data);
    t.rotate_conversation_key(c).unwrap();
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.keys_destroyed, 1, "the old epoch's key went: nothing uses it any more");
    let epoch: i64 = t.raw_sql().query_row("SELECT epoch FROM attachment", [], |r| r.get(0)).unwrap();
    assert_eq!(epoch, 1);
    t.reopen();
    assert_eq!(read_all(&t, a).unwrap(), data);
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn a_writer_that_is_dropped_or_fails_leaves_nothing_and_orphans_are_reported_and_cleared() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("x", "m")).unwrap();
    let mut w = t.attach(m, image("a")).unwrap();
    w.write_all(&vec![1; 300_000]).unwrap();
    assert_eq!(files(&t).len(), 1, "a large attachment streams to its file");
    // While it is being written, compaction leaves its file alone.
    assert_eq!(t.compact(&CompactOptions::default()).unwrap().orphan_files_removed, 0);
    assert_eq!(files(&t).len(), 1);
    drop(w);
    assert!(files(&t).is_empty());

    // Its message deleted meanwhile: nothing stored, the file removed.
    let gone = t.append(c, msg("x", "gone")).unwrap();
    let mut w = t.attach(gone, image("b")).unwrap();
    w.write_all(&vec![2; 300_000]).unwrap();
    t.delete_message(gone).unwrap();
    assert!(matches!(w.finish(), Err(Error::NotFound(_))));
    assert!(files(&t).is_empty());
    assert_eq!(t.stats().unwrap().attachments, 0);

    // A file a crash left behind.
    std::fs::create_dir_all(dir(&t)).unwrap();
    std::fs::write(dir(&t).join("00112233445566778899aabbccddeeff"), [0u8; 1000]).unwrap();
    let report = t.verify().unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, ProblemKind::Orphan);
    assert_eq!(t.stats().unwrap().orphan_files, 1);
    assert_eq!(t.compact(&CompactOptions::default()).unwrap().orphan_files_removed, 1);
    assert!(files(&t).is_empty());
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn a_missing_file_or_an_attachment_of_no_message_is_reported() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("x", "m")).unwrap();
    let a = attach(&t, m, image("a"), &vec![3; 100_000]);
    std::fs::remove_file(&files(&t)[0]).unwrap();
    assert!(matches!(t.open_attachment(a), Err(Error::Corrupt { .. })));
    let report = t.verify().unwrap();
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::Corrupt), "{:#?}", report.problems);

    let m2 = t.append(c, msg("x", "m2")).unwrap();
    let b = attach(&t, m2, image("b"), b"thumb");
    t.raw_sql().execute("UPDATE attachment SET seq = 999 WHERE id = ?1", [b.get() as i64]).unwrap();
    let report = t.verify().unwrap();
    assert!(report.problems.iter().any(|p| p.kind == ProblemKind::Orphan), "{:#?}", report.problems);
}

#[test]
fn archives_carry_attachments_and_a_second_import_adds_none() {
    use chatvault::{ExportOptions, ImportOptions, Store, StoreKey, archive};
    let t = TestStore::new();
    let mut rng = Rng::new(6);
    let c = t.new_conv("a");
    let m1 = t.append(c, msg("x", "photos")).unwrap();
    let m2 = t.append(c, msg("y", "video")).unwrap();
    let thumb = content(&mut rng, 2_000);
    let video = content(&mut rng, 700_001);
    attach(&t, m1, image("thumb.jpg"), &thumb);
    attach(&t, m1, image("empty"), &[]);
    let v = NewAttachment {
        media_type: "video/mp4".into(),
        file_name: Some("v.mp4".into()),
        app_data: b"12s".to_vec(),
    };
    attach(&t, m2, v, &video);
    let gone = attach(&t, m2, image("cleared.jpg"), &content(&mut rng, 90_000));
    t.clear_attachments(&AttachmentFilter {
        min_bytes: Some(80_000),
        media_type_prefix: Some("image/".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(t.attachment(gone).unwrap().removed_at_ms.is_some());

    let mut bytes = Vec::new();
    let report = t.export(&mut bytes, &ExportOptions::raw_key([3; 32])).unwrap();
    assert_eq!(report.attachments, 4);
    let summary = archive::inspect(&bytes[..], &ImportOptions::raw_key([3; 32])).unwrap();
    assert_eq!((summary.version, summary.attachments), (2, 4));
    assert_eq!(summary.attachment_bytes, (2_000 + 700_001) as u64);
    assert_eq!(summary.conversations[0].attachments, 4);

    let dir = tempfile::tempdir().unwrap();
    let other = Store::create(dir.path().join("b.chatvault"), StoreKey::raw([9; 32])).unwrap();
    let r = other.import(&bytes[..], &ImportOptions::raw_key([3; 32])).unwrap();
    assert_eq!((r.messages_added, r.attachments_added, r.attachments_skipped), (2, 4, 0));
    let b = other.find_conversation("ext-a").unwrap().unwrap();
    let listed = other.attachments(b, AttachmentPage::newest(10)).unwrap();
    assert_eq!(listed.len(), 4);
    let by_name = |name: &str| listed.iter().find(|a| a.file_name.as_deref() == Some(name)).unwrap().clone();
    let read = |a: AttachmentId| {
        let mut out = Vec::new();
        other.open_attachment(a).unwrap().read_to_end(&mut out).unwrap();
        out
    };
    assert_eq!(read(by_name("thumb.jpg").id), thumb);
    assert_eq!(read(by_name("v.mp4").id), video);
    assert_eq!(by_name("v.mp4").app_data, b"12s");
    assert!(read(by_name("empty").id).is_empty());
    let cleared = by_name("cleared.jpg");
    assert_eq!((cleared.byte_len, cleared.removed_at_ms.is_some()), (90_000, true));
    assert!(other.verify().unwrap().is_ok());

    // Again: everything matched, nothing added, no file left behind.
    let dir_files =
        |p: &std::path::Path| std::fs::read_dir(format!("{}-attachments", p.display())).unwrap().count();
    let before = dir_files(other.path());
    let r = other.import(&bytes[..], &ImportOptions::raw_key([3; 32])).unwrap();
    assert_eq!((r.messages_added, r.attachments_added, r.attachments_skipped), (0, 0, 4));
    assert_eq!(dir_files(other.path()), before);

    // A tampered archive imports nothing, and leaves no file behind.
    let third = Store::create(dir.path().join("c.chatvault"), StoreKey::raw([9; 32])).unwrap();
    let mut bad = bytes.clone();
    let at = bad.len() - 100;
    bad[at] ^= 1;
    assert!(third.import(&bad[..], &ImportOptions::raw_key([3; 32])).is_err());
    assert!(
        std::fs::read_dir(format!("{}-attachments", third.path().display())).map_or(0, |d| d.count()) == 0
    );
    assert_eq!(third.stats().unwrap().attachments, 0);
}

/// Review findings: the expiry of an attachment is sealed with it, and a
/// stray entry in the attachment directory never stops a compaction.
#[test]
fn a_cleared_expiry_column_does_not_revive_an_expired_attachment() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let now = t.now();
    let m = t.append(c, NewMessage { expires_at_ms: Some(now + 1_000), ..msg("x", "brief") }).unwrap();
    let a = attach(&t, m, image("a"), &[5; 1000]);
    t.advance(2_000);
    t.raw_sql().execute("UPDATE attachment SET expires_at = NULL", []).unwrap();
    let e = t.open_attachment(a).unwrap_err();
    assert!(is_auth(&e, RecordKind::Attachment), "{e:?}");
    assert!(t.verify().unwrap().problems.iter().any(|p| p.kind == ProblemKind::Authentication));
}

#[test]
fn a_stray_entry_in_the_attachment_directory_is_reported_and_never_stops_compaction() {
    let t = TestStore::new();
    let c = t.new_conv("a");
    let now = t.now();
    let m = t.append(c, NewMessage { expires_at_ms: Some(now + 1_000), ..msg("x", "brief") }).unwrap();
    attach(&t, m, image("a"), &[5; 100_000]);
    // A directory with an attachment file's name: never opened, never removed.
    std::fs::create_dir_all(dir(&t).join("00112233445566778899aabbccddeeff")).unwrap();
    t.advance(2_000);
    let report = t.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.attachments_expired, report.orphan_files_removed), (1, 0));
    let wal = std::fs::metadata(format!("{}-wal", t.path.display())).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the compaction's scrub ran");
    let problems = t.verify().unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].detail.contains("is not an attachment file"));
    t.scrub().unwrap();
}

#[test]
fn an_import_keeps_two_alike_attachments_of_one_message() {
    use chatvault::{ExportOptions, ImportOptions, Store, StoreKey};
    let t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("x", "two stickers")).unwrap();
    let sticker = || NewAttachment { media_type: "image/webp".into(), ..Default::default() };
    attach(&t, m, sticker(), &[1; 500]);
    attach(&t, m, sticker(), &[2; 500]);
    let mut bytes = Vec::new();
    t.export(&mut bytes, &ExportOptions::raw_key([3; 32])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let other = Store::create(dir.path().join("b.chatvault"), StoreKey::raw([9; 32])).unwrap();
    let r = other.import(&bytes[..], &ImportOptions::raw_key([3; 32])).unwrap();
    assert_eq!((r.attachments_added, r.attachments_skipped), (2, 0));
    let r = other.import(&bytes[..], &ImportOptions::raw_key([3; 32])).unwrap();
    assert_eq!((r.attachments_added, r.attachments_skipped), (0, 2));
}

#[test]
fn attachments_stay_readable_through_a_master_key_rotation() {
    use chatvault::{Store, StoreKey};
    let mut t = TestStore::new();
    let c = t.new_conv("a");
    let m = t.append(c, msg("x", "photo")).unwrap();
    let data = vec![4u8; 150_000];
    let a = attach(&t, m, image("a"), &data);
    let b = attach(&t, m, image("b"), b"thumb");
    t.rotate_master_key(StoreKey::raw([0x77; 32])).unwrap();
    // Written after the rotation: under a new epoch.
    let after = attach(&t, m, image("c"), &[6; 70_000]);
    t.compact(&CompactOptions::default()).unwrap();
    t.close();
    assert!(Store::open(&t.path, StoreKey::raw(common::KEY)).is_err(), "the old key opens nothing");
    let store = Store::open(&t.path, StoreKey::raw([0x77; 32])).unwrap();
    let read = |x: AttachmentId| {
        let mut out = Vec::new();
        store.open_attachment(x).unwrap().read_to_end(&mut out).unwrap();
        out
    };
    assert_eq!(read(a), data);
    assert_eq!(read(b), b"thumb");
    assert_eq!(read(after), vec![6; 70_000]);
    assert!(store.verify().unwrap().is_ok());
}
