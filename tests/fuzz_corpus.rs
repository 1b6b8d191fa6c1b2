//! Replays the fuzz targets' corpora (fuzz/corpus) through the same entry
//! points the fuzzers call: nothing may panic, every input must pass the
//! harness's checks, and the valid seeds must reach the deep paths.
//!
//! Cost in CI: about a hundred small inputs, a few seconds in all (the
//! `ops` inputs each build a store and run up to 64 operations on it).
//! Regenerate the seeds with
//! `CHATVAULT_REGENERATE=1 cargo test --test fuzz_corpus -- --ignored regenerate_harness_seeds`.

mod common;

use std::path::{Path, PathBuf};

use chatvault::__fuzz::{self as harness, attachment, conversation, search, segment};
use chatvault::archive::{self, __fuzz};
use chatvault::{ExportOptions, ImportOptions, NewConversation, NewMessage, Store, StoreKey};
use chatvault_testkit::ops;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/archive");
const IMPORT_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/import");
const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");

/// The files of a target's corpus, sorted, with their contents.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(CORPORA).join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// The committed corpus files, then the seeds as generated now (so a
/// change to the generator is exercised even before the files are
/// regenerated).
fn inputs(target: &str, seeds: Vec<(&'static str, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let files = corpus(target);
    assert!(files.len() >= seeds.len(), "{target}: {} files, fewer than the seeds", files.len());
    let files = files.into_iter().map(|(p, d)| (p.display().to_string(), d));
    files.chain(seeds.into_iter().map(|(n, d)| (format!("seed {n}"), d))).collect()
}

#[test]
fn segment_corpus_replays_and_reaches_the_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = harness::create_store(dir.path().join("segments.chatvault")).unwrap();
    let (mut valid, mut damaged, mut rewritten, mut messages) = (0, 0, 0, 0);
    for (name, data) in inputs("segment", segment::seeds()) {
        let outcome = segment::run(&store, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        valid += usize::from(outcome.valid);
        damaged += usize::from(outcome.damaged);
        rewritten += usize::from(outcome.rewritten);
        messages += outcome.messages;
    }
    assert!(
        valid >= 10 && damaged >= 10 && rewritten >= 8,
        "{valid} valid, {damaged} damaged, {rewritten} rewritten"
    );
    assert!(messages >= 40, "{messages} messages read back");
}

#[test]
fn conversation_corpus_replays_and_reaches_the_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = harness::create_store(dir.path().join("conversations.chatvault")).unwrap();
    let (mut valid, mut rewritten, mut total) = (0, 0, 0);
    for (name, data) in inputs("conversation", conversation::seeds()) {
        let outcome = conversation::run(&store, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        valid += usize::from(outcome.valid);
        rewritten += usize::from(outcome.rewritten);
        total += 1;
    }
    assert!(
        valid >= 10 && rewritten >= 8 && total - valid >= 8,
        "{valid} valid, {rewritten} rewritten of {total}"
    );
}

#[test]
fn ops_corpus_replays_against_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut sum = ops::Outcome::default();
    for (name, data) in inputs("ops", ops::seeds()) {
        let outcome = ops::run(dir.path(), &data).unwrap_or_else(|e| panic!("{name}: {e}"));
        sum.ops += outcome.ops;
        sum.succeeded += outcome.succeeded;
        sum.refused += outcome.refused;
        sum.reopens += outcome.reopens;
        sum.imports += outcome.imports;
        sum.compactions += outcome.compactions;
        sum.messages += outcome.messages;
        sum.master_rotations.0 += outcome.master_rotations.0;
        sum.master_rotations.1 += outcome.master_rotations.1;
    }
    // Master-key rotations both finished and left under way (with later
    // operations, reopens and imports running while one is).
    assert!(sum.master_rotations.0 >= 4 && sum.master_rotations.1 >= 4, "{sum:?}");
    assert!(sum.ops >= 100 && sum.succeeded >= 60 && sum.refused >= 5, "{sum:?}");
    assert!(sum.reopens >= 4 && sum.imports >= 4 && sum.compactions >= 4 && sum.messages >= 20, "{sum:?}");
}

#[test]
fn ops_seeds_encode_canonically() {
    for (name, data) in ops::seeds() {
        let parsed = ops::Op::parse(&data);
        assert_eq!(ops::Op::encode(&parsed), data, "{name}");
        assert!(parsed.len() <= ops::MAX_OPS, "{name}");
    }
}

#[test]
fn search_corpus_replays() {
    let dir = tempfile::tempdir().unwrap();
    let store = harness::create_store(dir.path().join("search.chatvault")).unwrap();
    for (name, data) in inputs("search", search::seeds()) {
        search::run(&store, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(store.verify().unwrap().problems.iter().all(|p| p.detail.contains("search filter")));
}

#[test]
fn attachment_corpus_replays_and_reaches_every_outcome() {
    let (mut unchanged, mut failed, mut ok) = (0, 0, 0);
    for (name, data) in inputs("attachment", attachment::seeds()) {
        let outcome = attachment::run(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        unchanged += usize::from(!outcome.changed);
        failed += outcome.reads_failed;
        ok += outcome.reads_ok;
    }
    assert!(
        unchanged >= 2 && failed >= 6 && ok >= 8,
        "{unchanged} unchanged, {failed} failed reads, {ok} reads"
    );
}

#[test]
#[ignore = "with CHATVAULT_REGENERATE=1, writes the seeds of fuzz/corpus/segment, conversation, ops, search and attachment"]
fn regenerate_harness_seeds() {
    if !common::regenerating("the seeds of fuzz/corpus") {
        return;
    }
    for (target, seeds) in [
        ("segment", segment::seeds()),
        ("conversation", conversation::seeds()),
        ("ops", ops::seeds()),
        ("search", search::seeds()),
        ("attachment", attachment::seeds()),
    ] {
        let dir = Path::new(CORPORA).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
    }
}

#[test]
fn import_corpus_replays_into_one_store_that_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
    let mut files = 0;
    let mut paths: Vec<_> = std::fs::read_dir(IMPORT_CORPUS).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        let data = std::fs::read(&path).unwrap();
        __fuzz::import_into(&store, &data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files += 1;
    }
    assert!(files >= 5, "{files} corpus files");
    assert!(store.find_conversation("fuzz").unwrap().is_some(), "the valid seeds imported");
}

#[test]
fn archive_corpus_replays_without_panics_and_valid_seeds_verify() {
    let mut files = 0;
    let mut valid = 0;
    for entry in std::fs::read_dir(CORPUS).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        __fuzz::run(&data);
        files += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid-") {
            let summary = archive::inspect(&data[1..], &ImportOptions::raw_key(__fuzz::KEY));
            assert!(summary.as_ref().is_ok_and(|s| s.attachments == 3), "{name}: {summary:?}");
            valid += 1;
        }
    }
    assert!(files >= 5 && valid >= 1, "{files} corpus files, {valid} valid");
}

#[test]
fn a_sealed_body_round_trips_through_the_fuzz_helpers() {
    let data = seed_archive();
    let (counts, body) = __fuzz::unseal(&data).unwrap();
    let resealed = __fuzz::seal(&body, counts).unwrap();
    assert!(archive::inspect(&resealed[..], &ImportOptions::raw_key(__fuzz::KEY)).is_ok());
}

fn seed_archive() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path().join("s"), StoreKey::raw([1; 32])).unwrap();
    let c = store
        .create_conversation(NewConversation {
            external_id: Some("fuzz".into()),
            title: "Fuzz".into(),
            ..Default::default()
        })
        .unwrap();
    for i in 0..30 {
        let m = NewMessage {
            external_id: (i % 2 == 0).then(|| format!("e{i}")),
            sender: "s".into(),
            text: format!("seed {i} ✓"),
            ..Default::default()
        };
        store.append(c, m).unwrap();
    }
    store.mark_read(c, chatvault::MessageId::new(c, 10)).unwrap();
    // Archive version 2: attachments, one with content over several
    // records, one removed.
    let m = chatvault::MessageId::new(c, 3);
    let photo = chatvault::NewAttachment { media_type: "image/png".into(), ..Default::default() };
    store.attach_from(m, photo.clone(), &mut &[7u8; 70_000][..]).unwrap();
    store.attach_from(m, photo, &mut &b"thumbnail"[..]).unwrap();
    let voice = chatvault::NewAttachment { media_type: "audio/ogg".into(), ..Default::default() };
    store.attach_from(chatvault::MessageId::new(c, 4), voice, &mut &[1u8; 300][..]).unwrap();
    store
        .clear_attachments(&chatvault::AttachmentFilter {
            media_type_prefix: Some("audio/".into()),
            ..Default::default()
        })
        .unwrap();
    let mut out = Vec::new();
    store.export(&mut out, &ExportOptions::raw_key(__fuzz::KEY).chunk_size(1024).unwrap()).unwrap();
    out
}

#[test]
#[ignore = "with CHATVAULT_REGENERATE=1, writes fuzz/corpus/archive seeds"]
fn regenerate_archive_seeds() {
    if !common::regenerating("the seeds of fuzz/corpus/archive") {
        return;
    }
    let archive = seed_archive();
    let dir = Path::new(CORPUS);
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, parts: &[&[u8]]| std::fs::write(dir.join(name), parts.concat()).unwrap();
    write("valid-archive", &[&[0], &archive]);
    write("truncated-archive", &[&[0], &archive[..archive.len() - 40]]);
    let mut flipped = archive.clone();
    flipped[300] ^= 4;
    write("flipped-archive", &[&[0], &flipped]);
    write("header-only", &[&[0], &archive[..120]]);
    let ((conversations, messages), body) = __fuzz::unseal(&archive).unwrap();
    let counts = [conversations.to_be_bytes(), messages.to_be_bytes()].concat();
    write("body", &[&[1], &counts, &body]);
    write("body-cut", &[&[1], &counts, &body[..body.len() / 2]]);
    write("body-wrong-counts", &[&[1], &[0; 16], &body]);
}

/// Bugs the harness seeds found, each kept by the seed named here (the
/// corpus replay above runs them too):
/// * `damaged-overlap`: compacting segments whose ranges overlap (rows
///   restored from an older copy of the file authenticate) panicked with an
///   overflow in the merge; now the conversation is skipped as damaged.
/// * `valid-far-marker`: a read marker past `i64::MAX` made the
///   conversation list fail with `InvalidArgument`, and a marker past the
///   end was exported as is, making an archive no reader accepts.
/// * `valid-long-external-id`: metadata past the size limits was exported
///   into an archive no reader accepts; now the export fails as damage.
#[test]
fn fixed_findings_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let store = harness::create_store(dir.path().join("s.chatvault")).unwrap();
    let seed = |seeds: Vec<(&'static str, Vec<u8>)>, name: &str| {
        seeds.into_iter().find(|(n, _)| *n == name).map(|(_, d)| d).unwrap()
    };
    let overlap = segment::run(&store, &seed(segment::seeds(), "damaged-overlap")).unwrap();
    assert_eq!((overlap.segments, overlap.valid, overlap.damaged), (2, false, false));
    // Each harness verifies the whole store: the conversation one gets its own.
    let store = harness::create_store(dir.path().join("c.chatvault")).unwrap();
    for name in ["valid-far-marker", "valid-long-external-id"] {
        let outcome = conversation::run(&store, &seed(conversation::seeds(), name)).unwrap();
        assert!(outcome.valid && outcome.rewritten, "{name}: {outcome:?}");
    }
}
