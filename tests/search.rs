//! Search (docs/SEARCH.md): what it finds in each language, that it finds
//! exactly what a scan of the live messages finds whatever happened to the
//! store (edits, deletes, expiry, compaction, imports and key rotations in
//! between), that deleted words leave the filters, and that a tampered filter
//! is an error, never a wrong or missing hit.

mod common;

use chatvault::{
    CompactOptions, ConversationId, Error, ExportOptions, ImportOptions, Message, MessageId, NewMessage,
    Page, SearchQuery, Store,
};
use common::{TestStore, msg};
use proptest::prelude::*;

/// Every page of `q`, followed through its cursors.
fn all_pages(store: &Store, q: &SearchQuery) -> Vec<(MessageId, Vec<std::ops::Range<usize>>)> {
    let mut out = Vec::new();
    let mut q = q.clone();
    for _ in 0..10_000 {
        let page = store.search(&q).expect("search");
        out.extend(page.hits.into_iter().map(|h| (h.message.id, h.ranges)));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
    panic!("the cursor never ended");
}

/// What a search must return: every live message of the store matching
/// the query's words and filters, newest first, found by reading them all.
fn scan(store: &Store, q: &SearchQuery) -> Vec<(MessageId, Vec<std::ops::Range<usize>>)> {
    let mut hits: Vec<(i64, MessageId, Vec<std::ops::Range<usize>>)> = Vec::new();
    for s in store.conversations().expect("conversations") {
        let c = s.conversation.id;
        if q.conversation.is_some_and(|want| want != c) {
            continue;
        }
        for m in store.messages(c, Page::oldest(usize::MAX)).expect("messages") {
            let Message { id, sender, sent_at_ms, text, .. } = m;
            let in_range =
                q.from_ms.is_none_or(|f| sent_at_ms >= f) && q.until_ms.is_none_or(|u| sent_at_ms < u);
            if !in_range || q.sender.as_ref().is_some_and(|s| *s != sender) {
                continue;
            }
            if let Some(ranges) = q.matches(&text) {
                hits.push((sent_at_ms, id, ranges));
            }
        }
    }
    hits.sort_by_key(|h| std::cmp::Reverse((h.0, h.1)));
    hits.into_iter().map(|(_, id, r)| (id, r)).collect()
}

fn texts_found(store: &Store, query: &str) -> Vec<String> {
    let page = store.search(&SearchQuery::new(query)).expect("search");
    page.hits.into_iter().map(|h| h.message.text).collect()
}

#[test]
fn each_language_is_found_the_way_its_writers_expect() {
    let s = TestStore::new();
    let c = s.new_conv("world");
    let texts = [
        "Un Café, s'il vous plaît",
        "À l'école demain à 8h",
        "Bonjour tout le monde",
        "我明天去东京出差",
        "新しいコンピューターを買った",
        "학교에서 만나요",
        "see you 🙂",
        "love it ❤️",
        "meeting moved to 2024-05-17",
    ];
    for (i, t) in texts.iter().enumerate() {
        s.append(c, NewMessage { sent_at_ms: 1_000 + i as i64, ..msg("ann", t) }).unwrap();
    }
    let one = |q: &str, want: &str| assert_eq!(texts_found(&s, q), vec![want.to_string()], "query {q:?}");
    one("cafe", texts[0]);
    one("CAFÉ", texts[0]);
    one("ECOLE", texts[1]);
    one("bonj", texts[2]);
    one("东京", texts[3]);
    one("京", texts[3]);
    one("出差", texts[3]);
    one("コンピュータ", texts[4]);
    one("학교", texts[5]);
    one("🙂", texts[6]);
    one("❤", texts[7]);
    one("2024", texts[8]);
    assert!(texts_found(&s, "京东").is_empty());
    assert!(texts_found(&s, "zebra").is_empty());
    // Ranges point into the text, for highlighting.
    let page = s.search(&SearchQuery::new("明天 出差")).unwrap();
    let hit = &page.hits[0];
    let marked: Vec<&str> = hit.ranges.iter().map(|r| &hit.message.text[r.clone()]).collect();
    assert_eq!(marked, ["明天", "出差"]);
    // A query with nothing to look for is refused, and says why.
    assert!(matches!(s.search(&SearchQuery::new(" ?! ")), Err(Error::InvalidArgument(_))));
}

#[test]
fn filters_pages_and_cursors() {
    let s = TestStore::new();
    let a = s.new_conv("a");
    let b = s.new_conv("b");
    for i in 0..120i64 {
        let (c, who) = if i % 3 == 0 { (b, "bob") } else { (a, "ann") };
        let text = if i % 2 == 0 { format!("lunch at noon {i}") } else { format!("dinner {i}") };
        s.append(c, NewMessage { sent_at_ms: 10_000 + i, ..msg(who, &text) }).unwrap();
    }
    for q in [
        SearchQuery::new("lunch").limit(7),
        SearchQuery::new("lunch").in_conversation(b).limit(5),
        SearchQuery::new("lunch").from_sender("bob").limit(4),
        SearchQuery::new("noon").between(Some(10_030), Some(10_090)).limit(6),
        SearchQuery::new("lunch noon").limit(50),
    ] {
        let got = all_pages(&s, &q);
        assert!(!got.is_empty(), "{q:?}");
        assert_eq!(got, scan(&s, &q), "{q:?}");
    }
    let first = s.search(&SearchQuery::new("lunch").limit(1)).unwrap();
    assert_eq!(first.hits[0].message.sent_at_ms, 10_118, "newest first");
    assert!(matches!(
        s.search(&SearchQuery::new("lunch").in_conversation(ConversationId::from_raw(999))),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(s.search(&SearchQuery::new("lunch").limit(1_000_000)), Err(Error::InvalidArgument(_))));
}

#[test]
fn expired_messages_leave_results_at_once() {
    let s = TestStore::new();
    let c = s.new_conv("c");
    let now = s.now();
    s.append(c, NewMessage { expires_at_ms: Some(now + 1_000), ..msg("a", "secret plans") }).unwrap();
    s.append(c, msg("a", "open plans")).unwrap();
    assert_eq!(texts_found(&s, "plans").len(), 2);
    s.advance(1_001);
    assert_eq!(texts_found(&s, "plans"), vec!["open plans".to_string()]);
    assert!(texts_found(&s, "secret").is_empty());
}

#[test]
fn a_tampered_filter_is_an_error_never_a_wrong_answer() {
    let mut s = TestStore::new();
    let c = s.new_conv("c");
    s.append(c, msg("a", "first words")).unwrap();
    s.append(c, msg("a", "second words")).unwrap();
    s.close();
    // One bit of a sealed filter flipped.
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM segment_filter ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 2);
    let blob: Vec<u8> =
        conn.query_row("SELECT filter FROM segment_filter WHERE id = ?1", [ids[0]], |r| r.get(0)).unwrap();
    let mut flipped = blob.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    conn.execute("UPDATE segment_filter SET filter = ?1 WHERE id = ?2", rusqlite::params![flipped, ids[0]])
        .unwrap();
    drop(conn);
    s.reopen();
    assert!(matches!(s.search(&SearchQuery::new("words")), Err(Error::Authentication { .. })));
    assert!(!s.verify().unwrap().is_ok());
    s.close();
    // The filter of one segment moved onto the other.
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.execute("UPDATE segment_filter SET filter = ?1 WHERE id = ?2", rusqlite::params![blob, ids[1]])
        .unwrap();
    conn.execute("UPDATE segment_filter SET filter = ?1 WHERE id = ?2", rusqlite::params![blob, ids[0]])
        .unwrap();
    drop(conn);
    s.reopen();
    assert!(matches!(s.search(&SearchQuery::new("words")), Err(Error::Authentication { .. })));
    s.close();
    // A filter row deleted: its segment is hidden from searches (as a
    // deleted segment row hides its messages from pages), and verify
    // reports the missing row.
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.execute("UPDATE segment_filter SET filter = ?1 WHERE id = ?2", rusqlite::params![blob, ids[0]])
        .unwrap();
    conn.execute("DELETE FROM segment_filter WHERE id = ?1", [ids[1]]).unwrap();
    drop(conn);
    s.reopen();
    let found = texts_found(&s, "words");
    assert_eq!(found, vec!["first words".to_string()], "a missing row hides its segment from search");
    let report = s.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.detail.contains("no search filter row")),
        "{:?}",
        report.problems
    );
    s.close();
    // A filter that is text, not a sealed blob: searches fail on it, and
    // verify says so rather than taking it for a segment not yet indexed.
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.execute("UPDATE segment_filter SET filter = 'words' WHERE id = ?1", [ids[0]]).unwrap();
    drop(conn);
    s.reopen();
    assert!(matches!(s.search(&SearchQuery::new("words")), Err(Error::Corrupt { .. })));
    let report = s.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.detail.contains("neither a sealed filter nor NULL")),
        "{:?}",
        report.problems
    );
}

/// The backfill (`index_for_search`) of segments without a filter: the
/// searches before it are complete, it goes step by step within a budget,
/// and a segment it cannot read is skipped and reported, not a dead end.
#[test]
fn the_backfill_indexes_in_steps_and_skips_a_damaged_segment() {
    let mut s = TestStore::new();
    let c = s.new_conv("c");
    // 600 one-message segments: three steps of 256.
    for i in 0..600 {
        s.append(c, msg("a", &format!("note {i} about lunch"))).unwrap();
    }
    let before = all_pages(&s, &SearchQuery::new("lunch").limit(100));
    assert_eq!(before.len(), 600);
    s.close();
    // As an upgrade leaves them: no filters; and one segment damaged.
    let conn = rusqlite::Connection::open(&s.path).unwrap();
    conn.execute("UPDATE segment_filter SET filter = NULL", []).unwrap();
    let damaged: i64 =
        conn.query_row("SELECT id FROM segment ORDER BY id LIMIT 1 OFFSET 300", [], |r| r.get(0)).unwrap();
    conn.execute("UPDATE segment SET body = zeroblob(length(body)) WHERE id = ?1", [damaged]).unwrap();
    drop(conn);
    s.reopen();
    assert_eq!(s.stats().unwrap().segments_unindexed, 600);

    // A budget of zero still does a step, and the next call goes on.
    let first = s.index_for_search(Some(std::time::Duration::ZERO)).unwrap();
    assert_eq!((first.segments_indexed, first.segments_skipped, first.segments_remaining), (256, 0, 344));
    let rest = s.index_for_search(None).unwrap();
    assert_eq!((rest.segments_indexed, rest.segments_skipped, rest.segments_remaining), (343, 1, 1));
    let again = s.index_for_search(None).unwrap();
    assert_eq!((again.segments_indexed, again.segments_skipped), (0, 1), "it tries the damaged one again");
    // The damaged segment is still opened by searches, which say so.
    assert!(matches!(s.search(&SearchQuery::new("lunch")), Err(Error::Authentication { .. })));
    assert!(!s.verify().unwrap().is_ok());
}

/// A store's contents as operations change them, for the property test.
#[derive(Debug, Clone)]
enum Op {
    Append {
        conv: u8,
        words: Vec<u8>,
        sender: u8,
        expires: bool,
    },
    Edit {
        pick: u16,
        words: Vec<u8>,
    },
    Delete {
        pick: u16,
    },
    Advance,
    Compact,
    /// Imports an archive of another store's conversation (indexed as it
    /// is imported).
    Import {
        words: Vec<u8>,
    },
    /// A new key epoch for every conversation (compaction reseals).
    Rotate,
}

const WORDS: [&str; 16] = [
    "Bonjour",
    "café",
    "École",
    "l'école",
    "东京",
    "明天",
    "出差",
    "학교에서",
    "コンピューター",
    "🙂",
    "❤️",
    "2024",
    "see",
    "you",
    "lunch",
    "Lunchbox",
];
const QUERIES: [&str; 14] = [
    "bonj",
    "cafe",
    "ecole",
    "东京",
    "京",
    "明天出差",
    "학교",
    "コン",
    "🙂",
    "❤",
    "2024",
    "lunch",
    "see you",
    "zzz",
];

fn op() -> impl Strategy<Value = Op> {
    let words = proptest::collection::vec(0u8..16, 1..5);
    prop_oneof![
        6 => (0u8..3, words.clone(), 0u8..2, proptest::bool::weighted(0.2))
            .prop_map(|(conv, words, sender, expires)| Op::Append { conv, words, sender, expires }),
        2 => (any::<u16>(), words).prop_map(|(pick, words)| Op::Edit { pick, words }),
        2 => any::<u16>().prop_map(|pick| Op::Delete { pick }),
        1 => Just(Op::Advance),
        1 => Just(Op::Compact),
        1 => proptest::collection::vec(0u8..16, 1..5).prop_map(|words| Op::Import { words }),
        1 => Just(Op::Rotate),
    ]
}

fn text_of(words: &[u8]) -> String {
    // CJK words run together as they are written; others take spaces.
    words.iter().map(|w| WORDS[*w as usize % WORDS.len()]).collect::<Vec<_>>().join(" ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn search_finds_exactly_what_a_scan_finds(ops in proptest::collection::vec(op(), 1..60), q in 0usize..QUERIES.len(), limit in 1usize..6) {
        let s = TestStore::new();
        let convs = [s.new_conv("a"), s.new_conv("b"), s.new_conv("c")];
        let mut live: Vec<MessageId> = Vec::new();
        let mut t = 0i64;
        for op in &ops {
            match op {
                Op::Append { conv, words, sender, expires } => {
                    t += 1;
                    let expires_at_ms = expires.then(|| s.now() + 500);
                    let m = NewMessage {
                        sent_at_ms: t % 4 * 1_000,
                        expires_at_ms,
                        ..msg(["ann", "bob"][*sender as usize], &text_of(words))
                    };
                    live.push(s.append(convs[*conv as usize], m).unwrap());
                }
                Op::Edit { pick, words } if !live.is_empty() => {
                    let m = live[*pick as usize % live.len()];
                    match s.edit_message(m, &text_of(words)) {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) => panic!("edit: {e}"),
                    }
                }
                Op::Delete { pick } if !live.is_empty() => {
                    let m = live.remove(*pick as usize % live.len());
                    match s.delete_message(m) {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) => panic!("delete: {e}"),
                    }
                }
                Op::Advance => s.advance(300),
                Op::Compact => { s.compact(&CompactOptions::default().targets(4, 1 << 10)).unwrap(); }
                Op::Import { words } => {
                    t += 1;
                    let other = TestStore::new();
                    let c = other.new_conv(&format!("imported {t}"));
                    other.append(c, NewMessage { sent_at_ms: t % 4 * 1_000, ..msg("bob", &text_of(words)) }).unwrap();
                    other.append(c, NewMessage { sent_at_ms: t % 4 * 1_000, ..msg("ann", "see you tomorrow 明天见") }).unwrap();
                    let mut archive = Vec::new();
                    other.export(&mut archive, &ExportOptions::raw_key([7; 32])).unwrap();
                    s.import(&archive[..], &ImportOptions::raw_key([7; 32])).unwrap();
                }
                Op::Rotate => { s.rotate_all_keys().unwrap(); }
                _ => {}
            }
        }
        let base = SearchQuery::new(QUERIES[q]).limit(limit);
        for query in [
            base.clone(),
            base.clone().in_conversation(convs[1]),
            base.clone().from_sender("bob"),
            base.clone().between(Some(1_000), Some(3_000)),
        ] {
            prop_assert_eq!(all_pages(&s, &query), scan(&s, &query), "{:?}", query);
        }
        prop_assert!(s.verify().unwrap().is_ok());
        // Every write path indexed what it wrote.
        prop_assert_eq!(s.stats().unwrap().segments_unindexed, 0);
    }
}
