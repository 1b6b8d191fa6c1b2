//! Replays the fuzz targets' corpora (fuzz/corpus) through the same entry
//! points the fuzzers call: nothing may panic, and the valid seeds must
//! still verify.

use std::path::Path;

use chatvault::archive::{self, __fuzz};
use chatvault::{ExportOptions, ImportOptions, NewConversation, NewMessage, Store, StoreKey};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/archive");
const IMPORT_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/import");

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
            assert!(summary.is_ok(), "{name}: {summary:?}");
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
    let mut out = Vec::new();
    store.export(&mut out, &ExportOptions::raw_key(__fuzz::KEY).chunk_size(1024).unwrap()).unwrap();
    out
}

#[test]
#[ignore = "writes fuzz/corpus/archive seeds"]
fn regenerate_archive_seeds() {
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
