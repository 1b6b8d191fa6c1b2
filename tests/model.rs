//! A property test: random sequences of operations run against a real store
//! and against the in-memory model of `chatvault-testkit`, every result
//! compared, with reopens (closed or dropped, old keys refused), expiry (a
//! clock the operations move), key changes and rotations, master-key
//! rotations (whole or budgeted), compaction (small targets and budgets, so
//! it often stops midway), exports and imports interleaved at random.
//!
//! The model and the harness are the ones the `ops` fuzz target runs
//! (fuzz/fuzz_targets/ops.rs): one model of the store. Here proptest
//! chooses the operations and shrinks a failure to a short sequence.

use chatvault_testkit::ops::{self, Msg, Op, PageKind, Text};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = Text> {
    prop_oneof![
        3 => any::<u8>().prop_map(Text::Table),
        1 => proptest::collection::vec(any::<u8>(), 0..=usize::from(ops::MAX_TEXT)).prop_map(Text::Bytes),
    ]
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        proptest::option::of(0u8..8),
        0u8..4,
        any::<u8>(),
        text(),
        proptest::option::weighted(0.15, 0u8..12),
        proptest::option::weighted(0.2, 1u8..20),
        any::<u8>(),
    )
        .prop_map(|(ext, sender, age_secs, text, reply, ttl_secs, extra)| Msg {
            ext,
            sender,
            age_secs,
            text,
            reply: reply.map_or(0, |r| r + 1),
            ttl_secs,
            extra,
        })
}

/// Conversation and message pickers: small numbers, so most pick something
/// that exists, and some pick what does not (which must be refused).
fn conv() -> impl Strategy<Value = u8> {
    0u8..8
}

fn seq() -> impl Strategy<Value = u8> {
    0u8..16
}

fn op() -> impl Strategy<Value = Op> {
    let page = prop_oneof![
        Just(PageKind::Latest),
        Just(PageKind::Oldest),
        Just(PageKind::Before),
        Just(PageKind::After)
    ];
    prop_oneof![
        3 => (proptest::option::of(0u8..6), text(), any::<u8>(), proptest::option::weighted(0.2, 1u8..20), proptest::option::of(0u8..30))
            .prop_map(|(ext, title, members, retention_secs, age_days)| Op::Create { ext, title, members, retention_secs, age_days }),
        8 => (conv(), msg()).prop_map(|(conv, msg)| Op::Append { conv, msg }),
        4 => proptest::collection::vec((conv(), msg()), 0..=usize::from(ops::MAX_BATCH)).prop_map(|items| Op::Batch { items }),
        2 => (conv(), seq(), text()).prop_map(|(conv, msg, text)| Op::Edit { conv, msg, text }),
        2 => (conv(), seq()).prop_map(|(conv, msg)| Op::DeleteMessage { conv, msg }),
        1 => conv().prop_map(|conv| Op::DeleteConversation { conv }),
        1 => (conv(), seq()).prop_map(|(conv, msg)| Op::MarkRead { conv, msg }),
        2 => (conv(), page, any::<u8>(), any::<u8>()).prop_map(|(conv, page, anchor, limit)| Op::Read { conv, page, anchor, limit }),
        1 => (conv(), seq()).prop_map(|(conv, msg)| Op::Get { conv, msg }),
        1 => (conv(), proptest::option::of(text()), proptest::option::of(any::<u8>()), proptest::option::of(any::<u8>()), 0u8..24)
            .prop_map(|(conv, title, members, app_data, retention)| Op::Update { conv, title, members, app_data, retention }),
        1 => (0u8..15).prop_map(|secs| Op::Advance { secs }),
        2 => (any::<u8>(), proptest::option::of(any::<u8>())).prop_map(|(target, budget)| Op::Compact { target, budget }),
        1 => conv().prop_map(|conv| Op::Rotate { conv }),
        1 => Just(Op::RotateAll),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
        1 => any::<u8>().prop_map(|key| Op::ChangeKey { key }),
        1 => (any::<u8>(), proptest::option::of(any::<u8>())).prop_map(|(key, budget)| Op::RotateMaster { key, budget }),
        1 => Just(Op::SelfImport),
        1 => Just(Op::ExportFresh),
        1 => proptest::option::of(any::<u8>()).prop_map(|limit| Op::List { limit }),
        1 => any::<u8>().prop_map(|ext| Op::Find { ext }),
        1 => Just(Op::Verify),
        2 => proptest::collection::vec((conv(), seq(), text()), 0..=usize::from(ops::MAX_BATCH)).prop_map(|items| Op::EditMany { items }),
        2 => proptest::collection::vec((conv(), seq()), 0..=usize::from(ops::MAX_BATCH)).prop_map(|items| Op::DeleteMany { items }),
    ]
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    ops::run_ops(dir.path(), ops).map(drop).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..48)) {
        check(&ops)?;
    }
}

/// Cases the earlier property test found (a batch touching one conversation
/// several times, then a read marker; then a compaction with a budget).
#[test]
fn earlier_findings() {
    let m = |text| Msg {
        ext: None,
        sender: 0,
        age_secs: 0,
        text: Text::Table(text),
        reply: 0,
        ttl_secs: None,
        extra: 0,
    };
    let create =
        Op::Create { ext: None, title: Text::Table(0), members: 0, retention_secs: None, age_days: None };
    let batch = Op::Batch { items: vec![(0, m(0)), (0, m(0)), (1, m(1)), (2, m(2)), (0, m(4))] };
    for last in [Op::MarkRead { conv: 0, msg: 3 }, Op::Compact { target: 2, budget: Some(0) }] {
        check(&[create.clone(), batch.clone(), last]).unwrap();
    }
}
