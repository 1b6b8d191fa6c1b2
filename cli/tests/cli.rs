//! The `chatvault` command (`cli/`) run as a process: every
//! subcommand, its human and JSON output, and its exit codes (0 success,
//! 1 user error, 2 data error) for wrong keys, missing, tampered and
//! modified stores, and bad arguments.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use assert_cmd::assert::Assert;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The `chatvault` binary, which cargo builds for this package's tests.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_chatvault"))
}

const ARCHIVE_PASS: (&str, &str) = ("CHATVAULT_ARCHIVE_PASSPHRASE", "archive pass");

/// A scratch directory to run the CLI in, with none of the caller's
/// chatvault settings and a fixed time zone.
struct Dir(TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.current_dir(self.0.path())
            .env_remove("CHATVAULT_STORE")
            .env_remove("CHATVAULT_PASSPHRASE")
            .env_remove("CHATVAULT_NEW_PASSPHRASE")
            .env_remove("CHATVAULT_ARCHIVE_PASSPHRASE")
            .env("TZ", "UTC")
            .args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).assert().success().get_output().stdout.clone();
        String::from_utf8(out).expect("UTF-8 output")
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    /// The command with the archive passphrase in the environment.
    fn with_archive_passphrase(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(args);
        c.env(ARCHIVE_PASS.0, ARCHIVE_PASS.1);
        c
    }

    /// A small demo store (`demo.chatvault` and its key file) in the directory.
    fn demo(&self) {
        self.ok(&["demo", "--messages", "3000", "--conversations", "25"]);
    }
}

/// Fails with `code`, one line on stderr starting with "chatvault: ", and no
/// panic or backtrace.
fn fails(a: Assert, code: i32) -> Assert {
    let a = a.failure().code(code);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.starts_with("chatvault: "), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "stderr: {err}");
    a
}

/// The JSON a successful command printed.
fn json_of(mut cmd: Command) -> Value {
    serde_json::from_slice(&cmd.assert().success().get_output().stdout).expect("JSON output")
}

fn stdout_lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn demo_builds_a_store_that_convs_show_and_stats_open_with_no_flags() {
    let d = Dir::new();
    let out = d.ok(&["demo", "--messages", "3000", "--conversations", "25"]);
    assert!(out.contains("Built demo.chatvault") && out.contains("25 conversations, 3000 messages"), "{out}");
    assert!(out.contains("browse"), "says how to browse: {out}");
    let key = d.path("demo.chatvault.key");
    assert_eq!(std::fs::read(&key).expect("key file").len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }

    let list = d.json(&["convs"]);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 25);
    let total: u64 = list.iter().map(|c| c["message_count"].as_u64().expect("count")).sum();
    let stats = d.json(&["stats"]);
    assert_eq!(stats["conversations"], 25);
    assert_eq!(stats["messages"].as_u64(), Some(total));
    assert!(total <= 3000 && total > 2900, "at most a few messages were deleted: {total}");
    assert!(
        list.iter().any(|c| c["unread_count"].as_u64() > Some(0)),
        "some conversations have unread messages"
    );

    let table = d.ok(&["convs"]);
    assert_eq!(stdout_lines(&table).len(), 26, "a header and a row per conversation: {table}");
    assert!(table.lines().next().is_some_and(|h| h.contains("title") && h.contains("unread")));
    assert!(d.ok(&["stats"]).contains("conversations                25"));

    // The same seed builds the same content; another seed other content.
    let d2 = Dir::new();
    d2.demo();
    let texts = |d: &Dir| {
        let v = d.json(&["show", "conv-000000", "--limit", "50"]);
        v["messages"].as_array().expect("messages").iter().map(|m| m["text"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&d), texts(&d2));
    // An existing store is replaced only with --force.
    let a =
        fails(d2.cmd(&["demo", "--messages", "3000", "--conversations", "25", "--seed", "2"]).assert(), 1);
    a.stderr(contains("already exists: pass --force"));
    assert_eq!(texts(&d), texts(&d2), "left alone");
    d2.ok(&["demo", "--messages", "3000", "--conversations", "25", "--seed", "2", "--force"]);
    assert_ne!(texts(&d), texts(&d2), "replaced");
}

/// The hints after `demo` name the command as it was run: installed (`cargo
/// install --path cli`), or through `cargo run -p chatvault-cli`, which sets
/// `CARGO_PKG_NAME` to the package it runs.
#[test]
fn demo_hints_name_the_command_as_it_was_run() {
    let small = ["demo", "--messages", "500", "--conversations", "5"];
    let d = Dir::new();
    let mut installed = d.cmd(&small);
    // Started by something else cargo runs (this test, say).
    installed.env("CARGO_PKG_NAME", "some-xtask");
    let out = String::from_utf8(installed.assert().success().get_output().stdout.clone()).unwrap();
    assert!(out.lines().any(|l| l.trim() == "chatvault browse"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "chatvault --help"), "{out}");
    assert!(!out.contains("cargo run"), "{out}");

    let d = Dir::new();
    let mut through_cargo =
        d.cmd(&["--store", "other.chatvault", "demo", "--messages", "500", "--conversations", "5"]);
    through_cargo.env("CARGO_PKG_NAME", "chatvault-cli");
    let out = String::from_utf8(through_cargo.assert().success().get_output().stdout.clone()).unwrap();
    let want = "cargo run --release -p chatvault-cli -- --store other.chatvault browse";
    assert!(out.lines().any(|l| l.trim() == want), "{out}");
}

#[test]
fn demo_is_multilingual_with_replies_edits_and_years_of_history() {
    let d = Dir::new();
    d.ok(&["demo", "--messages", "20000", "--conversations", "40"]);
    let mut all = Vec::new();
    let list = d.json(&["convs"]);
    for c in list.as_array().expect("array") {
        let id = c["id"].to_string();
        let page = d.json(&["show", &id, "--limit", "100000"]);
        all.extend(page["messages"].as_array().expect("messages").iter().cloned());
    }
    let text = |m: &Value| m["text"].as_str().unwrap_or_default().to_owned();
    assert!(all.iter().any(|m| text(m).chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))), "Chinese");
    assert!(all.iter().any(|m| text(m).contains('é') || text(m).contains('à')), "French");
    assert!(all.iter().any(|m| text(m).chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c))), "Japanese");
    assert!(all.iter().any(|m| text(m).chars().any(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c))), "Korean");
    assert!(all.iter().any(|m| text(m).chars().any(|c| c as u32 >= 0x1F300)), "emoji");
    assert!(all.iter().any(|m| !m["reply_to"].is_null()), "replies");
    assert!(all.iter().any(|m| !m["edited_at"].is_null()), "edits");
    let senders: std::collections::HashSet<_> = all.iter().map(|m| m["sender"].to_string()).collect();
    assert!(senders.len() >= 10, "many senders: {}", senders.len());
    let years: std::collections::BTreeSet<_> =
        all.iter().filter_map(|m| m["sent_at"].as_str().map(|t| t[..4].to_owned())).collect();
    assert!(years.len() >= 3, "years of history: {years:?}");
    let biggest = list.as_array().and_then(|l| l.iter().map(|c| c["message_count"].as_u64()).max().flatten());
    assert!(biggest.is_some_and(|n| n > 3000), "a skewed size distribution: {biggest:?}");
}

#[test]
fn show_pages_before_after_and_from_the_oldest() {
    let d = Dir::new();
    d.demo();
    let latest = d.json(&["show", "conv-000000", "--limit", "5"]);
    let seqs = |v: &Value| -> Vec<u64> {
        v["messages"].as_array().expect("messages").iter().map(|m| m["seq"].as_u64().expect("seq")).collect()
    };
    let last = seqs(&latest);
    assert_eq!(last.len(), 5);
    assert!(last.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let before = d.json(&["show", "conv-000000", "--limit", "3", "--before", &last[0].to_string()]);
    assert!(seqs(&before).iter().all(|&s| s < last[0]) && seqs(&before).len() == 3);
    let after = d.json(&["show", "conv-000000", "--limit", "3", "--after", &last[0].to_string()]);
    assert_eq!(seqs(&after), last[1..4]);
    assert_eq!(seqs(&d.json(&["show", "conv-000000", "--oldest", "--limit", "2"])), [1, 2]);

    let id = latest["id"].to_string();
    let table = d.ok(&["show", &id, "--limit", "5"]);
    let lines = stdout_lines(&table);
    assert_eq!(lines.len(), 7, "title, five messages, paging hint: {table}");
    assert!(lines[1].trim_start().starts_with(&last[0].to_string()), "{table}");
    assert!(lines[6].contains(&format!("--before {}", last[0])), "{table}");
}

#[test]
fn a_missing_store_is_a_user_error_that_says_how_to_make_one() {
    let d = Dir::new();
    for args in [
        &["convs"][..],
        &["show", "1"],
        &["stats"],
        &["verify"],
        &["compact"],
        &["vacuum"],
        &["passwd", "--rotate"],
        &["send", "1", "hi"],
    ] {
        let a = fails(d.cmd(args).assert(), 1);
        a.stderr(contains("no chatvault store at demo.chatvault").and(contains("chatvault demo")));
    }
    let a = fails(d.cmd(&["--store", "elsewhere.db", "convs"]).assert(), 1);
    a.stderr(contains("elsewhere.db"));
    // CHATVAULT_STORE names the store when --store is not given.
    d.demo();
    std::fs::rename(d.path("demo.chatvault"), d.path("mine.cv")).expect("rename");
    std::fs::rename(d.path("demo.chatvault.key"), d.path("mine.cv.key")).expect("rename");
    d.cmd(&["convs"]).env("CHATVAULT_STORE", "mine.cv").assert().success();
}

#[test]
fn a_wrong_key_is_a_data_error_on_one_line() {
    let d = Dir::new();
    d.demo();
    std::fs::write(d.path("other.key"), [7u8; 32]).expect("write key");
    let a = fails(d.cmd(&["--key-file", "other.key", "convs"]).assert(), 2);
    a.stderr(contains("wrong key or passphrase").and(contains("key from other.key")));
    // The passphrase in the environment is tried before the key file beside the store.
    let a = fails(d.cmd(&["convs"]).env("CHATVAULT_PASSPHRASE", "hunter2").assert(), 2);
    a.stderr(contains("passphrase from $CHATVAULT_PASSPHRASE"));
    // A key file that is not a key.
    std::fs::write(d.path("bad.key"), "not a key").expect("write");
    fails(d.cmd(&["--key-file", "bad.key", "convs"]).assert(), 1).stderr(contains("32 raw bytes or 64 hex"));
    fails(d.cmd(&["--key-file", "absent.key", "convs"]).assert(), 1).stderr(contains("cannot read key file"));
    // --key-file comes before the passphrase in the environment.
    d.cmd(&["--key-file", "demo.chatvault.key", "convs"])
        .env("CHATVAULT_PASSPHRASE", "hunter2")
        .assert()
        .success();
    // The same key written as hex opens it.
    let raw = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(d.path("hex.key"), format!("{hex}\n")).expect("write");
    d.ok(&["--key-file", "hex.key", "convs"]);
    // Without any key source and no terminal to prompt on: a user error.
    std::fs::remove_file(d.path("demo.chatvault.key")).expect("remove");
    fails(d.cmd(&["convs"]).assert(), 1).stderr(contains("no key for demo.chatvault"));
}

#[test]
fn a_tampered_store_is_a_data_error_and_verify_names_the_damage() {
    let d = Dir::new();
    d.demo();
    d.ok(&["verify"]);
    let id = {
        let list = d.json(&["convs"]);
        list[0]["id"].as_i64().expect("id")
    };
    {
        // Flip one bit of the conversation's newest sealed segment.
        let db = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
        let (first, mut body): (i64, Vec<u8>) = db
            .query_row(
                "SELECT first_seq, body FROM segment WHERE conversation = ?1 ORDER BY first_seq DESC LIMIT 1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("a segment");
        body[40] ^= 0x01;
        let changed = db
            .execute(
                "UPDATE segment SET body = ?1 WHERE conversation = ?2 AND first_seq = ?3",
                rusqlite::params![body, id, first],
            )
            .expect("tamper");
        assert_eq!(changed, 1);
    }
    let a = fails(d.cmd(&["show", &id.to_string()]).assert(), 2);
    a.stderr(contains("failed authentication"));
    let out = d.cmd(&["verify"]).assert().failure().code(2);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("problem: Authentication in conversation"), "{stdout}");
    let v: Value = serde_json::from_slice(&d.cmd(&["--json", "verify"]).assert().code(2).get_output().stdout)
        .expect("JSON even on failure");
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"][0]["kind"], "Authentication");
    assert_eq!(v["problems"][0]["conversation"].as_i64(), Some(id));

    // A file that is not a store at all.
    std::fs::write(d.path("junk.db"), vec![0x55u8; 8192]).expect("write");
    fails(d.cmd(&["--store", "junk.db", "--key-file", "demo.chatvault.key", "convs"]).assert(), 2);
}

#[test]
fn bad_arguments_are_user_errors_with_usage() {
    let d = Dir::new();
    for args in [
        &["frobnicate"][..],
        &[],
        &["show"],
        &["show", "1", "--limit", "many"],
        &["show", "1", "--before", "3", "--after", "4"],
        &["demo", "--messages", "-5"],
        &["export", "x", "--format", "pdf"],
        &["passwd", "--new-key-file", "k", "--new-passphrase"],
        &["passwd", "--rotate", "--new-key-file", "k", "--new-passphrase"],
        &["passwd", "--max-transactions", "1"],
        &["passwd", "--time-budget", "5"],
        &["passwd", "--rotate", "--max-transactions", "0"],
        &["vacuum", "--time-budget", "5"],
    ] {
        let a = d.cmd(args).assert().failure().code(1);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(err.contains("--help"), "{args:?} points to --help: {err}");
    }
    let help = d.ok(&["--help"]);
    for sub in [
        "init",
        "demo",
        "convs",
        "show",
        "search",
        "new",
        "send",
        "edit",
        "delete",
        "export",
        "import",
        "inspect",
        "compact",
        "verify",
        "stats",
        "passwd",
        "rotate",
        "vacuum",
        "browse",
        "attach",
        "attachments",
        "save",
        "usage",
        "clear-media",
        "delete-attachment",
    ] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(sub)), "--help lists {sub}: {help}");
    }
    assert!(help.contains("CHATVAULT_PASSPHRASE") && help.contains("Exit codes"), "{help}");
    d.ok(&["--version"]);
    d.demo();
    fails(d.cmd(&["show", "9999"]).assert(), 1).stderr(contains("no conversation \"9999\""));
    fails(d.cmd(&["show", "no-such-chat"]).assert(), 1).stderr(contains("no conversation"));
    fails(d.cmd(&["edit", "abc", "x"]).assert(), 1).stderr(contains("conversation/seq"));
    fails(d.cmd(&["demo", "--conversations", "0"]).assert(), 1);
}

#[test]
fn search_finds_words_in_any_language_with_filters_pages_and_json() {
    let d = Dir::new();
    let s = ["--store", "s.cv"];
    let run = |args: &[&str]| d.ok(&[&s[..], args].concat());
    let json = |args: &[&str]| d.json(&[&s[..], args].concat());
    run(&["init"]);
    run(&["new", "Paris", "--external-id", "paris"]);
    run(&["new", "Tokyo", "--external-id", "tokyo"]);
    run(&["send", "paris", "Un café à l'école ?", "--sender", "amélie"]);
    run(&["send", "paris", "Bonjour tout le monde", "--sender", "me"]);
    run(&["send", "tokyo", "我明天去东京出差", "--sender", "wei"]);
    run(&["send", "tokyo", "東京で会いましょう", "--sender", "me"]);

    // Plain output marks the matches (not a terminal: in brackets).
    let out = run(&["search", "CAFE", "ecole"]);
    assert!(out.contains("[café]") && out.contains("[école]"), "{out}");
    assert!(run(&["search", "东京"]).contains("我明天去[东京]出差"));
    assert!(run(&["search", "bonj", "--conversation", "tokyo"]).contains("No messages match"));
    assert_eq!(stdout_lines(&run(&["search", "東京", "--sender", "me"])).len(), 1);

    // JSON: the messages, their conversation, byte ranges, and a cursor that pages.
    let v = json(&["search", "e", "--limit", "1"]);
    assert_eq!(v["hits"].as_array().map(Vec::len), Some(1));
    let next = v["next"].as_str().expect("a cursor: there are more");
    let v2 = json(&["search", "e", "--limit", "5", "--after", next]);
    assert_ne!(v2["hits"][0]["id"], v["hits"][0]["id"]);
    let v = json(&["search", "出差"]);
    let hit = &v["hits"][0];
    assert_eq!(
        (hit["conversation"].as_u64(), hit["matches"].clone()),
        (Some(2), serde_json::json!([[18, 24]]))
    );
    assert_eq!(v["unindexed_segments"], 0);

    fails(d.cmd(&[&s[..], &["search", "?!"]].concat()).assert(), 1).stderr(contains("no word to look for"));
    fails(d.cmd(&[&s[..], &["search", "x", "--since", "yesterday"]].concat()).assert(), 1)
        .stderr(contains("YYYY-MM-DD"));
    fails(d.cmd(&[&s[..], &["search", "x", "--after", "nope"]].concat()).assert(), 1)
        .stderr(contains("cursor"));
}

#[test]
fn init_new_send_edit_and_delete_work_on_a_fresh_store() {
    let d = Dir::new();
    let out = d.ok(&["--store", "me.cv", "init"]);
    assert!(out.contains("Created me.cv"), "{out}");
    assert!(d.path("me.cv.key").exists());
    fails(d.cmd(&["--store", "me.cv", "init"]).assert(), 1).stderr(contains("already exists"));
    assert!(d.ok(&["--store", "me.cv", "convs"]).contains("No conversations"));

    let s = ["--store", "me.cv"];
    let run = |args: &[&str]| d.ok(&[&s[..], args].concat());
    let json = |args: &[&str]| d.json(&[&s[..], args].concat());
    let c = json(&["new", "Alice", "--external-id", "wxid_alice", "--member", "me", "--member", "alice"]);
    assert_eq!(c["title"], "Alice");
    assert_eq!(c["members"], serde_json::json!(["me", "alice"]));
    let id = c["id"].as_u64().expect("id");
    fails(d.cmd(&[&s[..], &["new", "Again", "--external-id", "wxid_alice"]].concat()).assert(), 1)
        .stderr(contains("already exists"));

    let m1 = json(&["send", "wxid_alice", "bonjour 你好 👋", "--sender", "alice", "--external-id", "srv-1"]);
    assert_eq!(m1["id"], format!("{id}/1"));
    let again =
        json(&["send", "wxid_alice", "bonjour 你好 👋", "--sender", "alice", "--external-id", "srv-1"]);
    assert_eq!(
        (again["stored"].clone(), again["duplicate_of"].clone()),
        (json!(false), m1["id"].clone()),
        "a retry with the same external id stores nothing new"
    );
    assert!(run(&["send", &id.to_string(), "salut", "--reply-to", "1"]).contains(&format!("Sent {id}/2")));
    fails(d.cmd(&[&s[..], &["send", "nobody", "hi"]].concat()).assert(), 1)
        .stderr(contains("no conversation"));
    fails(d.cmd(&[&s[..], &["send", "wxid_alice", "hi", "--reply-to", "9"]].concat()).assert(), 1)
        .stderr(contains("invalid argument"));

    assert!(run(&["edit", &format!("{id}/1"), "bonsoir"]).contains("Edited"));
    let page = json(&["show", "wxid_alice"]);
    assert_eq!(page["messages"][0]["text"], "bonsoir");
    assert!(!page["messages"][0]["edited_at"].is_null());
    assert_eq!(page["messages"][1]["reply_to"], format!("{id}/1"));
    assert_eq!(page["messages"][1]["sender"], "me");
    let shown = run(&["show", "wxid_alice"]);
    assert!(shown.contains("bonsoir  (edited)") && shown.contains("salut  ↩ 1"), "{shown}");
    fails(d.cmd(&[&s[..], &["edit", &format!("{id}/99"), "x"]].concat()).assert(), 1)
        .stderr(contains("not found"));

    assert!(run(&["delete", &format!("{id}/1")]).contains("Deleted"));
    assert_eq!(json(&["show", "wxid_alice"])["messages"].as_array().map(Vec::len), Some(1));

    // Several messages at once: all in one transaction, or none.
    for text in ["trois", "quatre", "cinq"] {
        run(&["send", "wxid_alice", text]);
    }
    let (m3, m4, m5) = (format!("{id}/3"), format!("{id}/4"), format!("{id}/5"));
    let edited = json(&["edit", &m3, &m4, "corrigé"]);
    assert_eq!(edited.as_array().map(Vec::len), Some(2), "{edited}");
    assert!(
        edited.as_array().into_iter().flatten().all(|m| m["text"] == "corrigé" && !m["edited_at"].is_null())
    );
    // Ids without a text are not taken as the text.
    fails(d.cmd(&[&s[..], &["edit", &m5, &m3]].concat()).assert(), 1).stderr(contains("names a message"));
    // One missing message refuses the whole batch: 5 keeps its text.
    fails(d.cmd(&[&s[..], &["edit", &m5, &format!("{id}/1"), "x"]].concat()).assert(), 1)
        .stderr(contains("not found"));
    fails(d.cmd(&[&s[..], &["delete", &m5, &format!("{id}/99")]].concat()).assert(), 1)
        .stderr(contains("not found"));
    let texts = |page: serde_json::Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(texts(json(&["show", "wxid_alice"])), ["salut", "corrigé", "corrigé", "cinq"]);
    fails(d.cmd(&[&s[..], &["delete", &m5, "wxid_alice"]].concat()).assert(), 1)
        .stderr(contains("on its own"));
    assert!(run(&["delete", &m3, &m5]).contains(&format!("Deleted {m3} and {m5}")));
    assert_eq!(texts(json(&["show", "wxid_alice"])), ["salut", "corrigé"]);
    // A whole conversation needs --yes when no one is there to confirm.
    fails(d.cmd(&[&s[..], &["delete", "wxid_alice"]].concat()).assert(), 1).stderr(contains("--yes"));
    assert!(run(&["delete", "wxid_alice", "--yes"]).contains("key and bytes are gone"));
    assert_eq!(json(&["convs"]), serde_json::json!([]));
}

#[test]
fn a_passphrase_store_opens_from_the_environment() {
    let d = Dir::new();
    d.cmd(&["--store", "p.cv", "init"]).env("CHATVAULT_PASSPHRASE", "correct horse").assert().success();
    assert!(!d.path("p.cv.key").exists(), "no key file for a passphrase store");
    d.cmd(&["--store", "p.cv", "new", "Bob"]).env("CHATVAULT_PASSPHRASE", "correct horse").assert().success();
    fails(d.cmd(&["--store", "p.cv", "convs"]).env("CHATVAULT_PASSPHRASE", "wrong horse").assert(), 2)
        // Where the key came from, said once, without doubled parentheses.
        .stderr(contains("tampered with); passphrase from $CHATVAULT_PASSPHRASE"))
        .stderr(contains("))").not());
    fails(d.cmd(&["--store", "p.cv", "convs"]).assert(), 1).stderr(contains("no key"));
    fails(d.cmd(&["--store", "q.cv", "init", "--passphrase"]).assert(), 1).stderr(contains("terminal"));
    // --key-file for a new store writes a fresh key there.
    d.ok(&["--store", "k.cv", "--key-file", "k.bin", "init"]);
    assert_eq!(std::fs::read(d.path("k.bin")).map(|k| k.len()).ok(), Some(32));
    d.ok(&["--store", "k.cv", "--key-file", "k.bin", "convs"]);
}

#[test]
fn export_inspect_and_import_round_trip_with_an_archive_passphrase() {
    let d = Dir::new();
    d.demo();
    let with = |args: &[&str]| d.with_archive_passphrase(args);
    let out = with(&["export", "backup.cva"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("Exported 25 conversations"), "{out}");
    let total = d.json(&["stats"])["messages"].as_u64().expect("messages");

    let attachments = d.json(&["stats"])["attachments"].as_u64().expect("attachments");
    assert!(attachments > 0, "the demo has attachments");
    let summary: Value = json_of(with(&["--json", "inspect", "backup.cva"]));
    assert_eq!(summary["messages"].as_u64(), Some(total));
    assert_eq!(summary["attachments"].as_u64(), Some(attachments));
    assert!(summary["attachment_bytes"].as_u64() > Some(6_000_000), "the full-HD picture is in it");
    assert_eq!(summary["conversations"].as_array().map(Vec::len), Some(25));
    assert_eq!(summary["passphrase"], true);
    let table = with(&["inspect", "backup.cva"]).assert().success().get_output().stdout.clone();
    let table = String::from_utf8_lossy(&table);
    assert!(table.contains("every chunk authenticated"), "{table}");
    assert!(table.contains(&format!("{attachments} attachments")), "{table}");

    // Into a fresh store, then again: nothing is added twice.
    d.ok(&["--store", "new.cv", "init"]);
    let report: Value = json_of(with(&["--store", "new.cv", "--json", "import", "backup.cva"]));
    assert_eq!(report["messages_added"].as_u64(), Some(total));
    assert_eq!(report["attachments_added"].as_u64(), Some(attachments));
    assert_eq!(report["conversations_created"], 25);
    let report: Value = json_of(with(&["--store", "new.cv", "--json", "import", "backup.cva"]));
    assert_eq!(report["messages_added"], 0);
    assert_eq!(
        (report["attachments_added"].as_u64(), report["attachments_skipped"].as_u64()),
        (Some(0), Some(attachments))
    );
    assert_eq!(report["conversations_matched"], 25);
    assert_eq!(d.json(&["--store", "new.cv", "stats"])["messages"].as_u64(), Some(total));

    // Only some conversations.
    with(&["export", "one.cva", "--conversation", "conv-000003"]).assert().success();
    let one: Value = json_of(with(&["--json", "inspect", "one.cva"]));
    assert_eq!(one["conversations"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["conversations"][0]["external_id"], "conv-000003");

    // A raw archive key from a file.
    std::fs::write(d.path("a.key"), [3u8; 32]).expect("write");
    d.ok(&["export", "raw.cva", "--archive-key-file", "a.key"]);
    d.ok(&["inspect", "raw.cva", "--archive-key-file", "a.key"]);
    fails(with(&["inspect", "raw.cva"]).assert(), 2).stderr(contains("wrong key"));
}

#[test]
fn damaged_archives_are_data_errors_and_import_nothing() {
    let d = Dir::new();
    d.demo();
    let with = |args: &[&str]| d.with_archive_passphrase(args);
    with(&["export", "b.cva"]).assert().success();
    let bytes = std::fs::read(d.path("b.cva")).expect("archive");
    d.ok(&["--store", "t.cv", "init"]);

    fails(d.cmd(&["inspect", "b.cva"]).env(ARCHIVE_PASS.0, "wrong").assert(), 2)
        .stderr(contains("wrong key"));
    std::fs::write(d.path("cut.cva"), &bytes[..bytes.len() / 2]).expect("write");
    fails(with(&["inspect", "cut.cva"]).assert(), 2);
    // Cut inside the header: an incomplete archive, not "not an archive".
    let head = std::fs::read(d.path("b.cva")).expect("archive");
    std::fs::write(d.path("head.cva"), &head[..50]).expect("write");
    fails(with(&["inspect", "head.cva"]).assert(), 2).stderr(contains("incomplete"));
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(d.path("flip.cva"), &flipped).expect("write");
    fails(with(&["inspect", "flip.cva"]).assert(), 2).stderr(contains("failed authentication"));
    fails(with(&["--store", "t.cv", "import", "flip.cva"]).assert(), 2)
        .stderr(contains("nothing was imported"));
    std::fs::write(d.path("short.cva"), &bytes[..bytes.len() - 1]).expect("write");
    fails(with(&["--store", "t.cv", "import", "short.cva"]).assert(), 2);
    fails(with(&["inspect", "demo.chatvault"]).assert(), 2).stderr(contains("not a chatvault archive"));
    fails(with(&["inspect", "absent.cva"]).assert(), 1).stderr(contains("cannot open archive absent.cva"));
    fails(d.cmd(&["inspect", "b.cva"]).assert(), 1).stderr(contains("no archive key"));
    assert_eq!(d.json(&["--store", "t.cv", "stats"])["messages"], 0, "failed imports added nothing");
}

#[test]
fn plaintext_exports_need_an_explicit_choice() {
    let d = Dir::new();
    d.demo();
    let a = fails(d.cmd(&["export", "all.jsonl", "--format", "jsonl"]).assert(), 1);
    a.stderr(contains("NOT encrypted").and(contains("--plaintext")));
    assert!(!d.path("all.jsonl").exists());
    let out = d.ok(&["export", "all.jsonl", "--format", "jsonl", "--plaintext"]);
    assert!(out.contains("NOT encrypted"), "{out}");
    let text = std::fs::read_to_string(d.path("all.jsonl")).expect("jsonl");
    let total = d.json(&["stats"])["messages"].as_u64().expect("messages");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    // A line per conversation, then its messages (cli/tests/export.rs).
    let messages: Vec<&Value> = lines.iter().filter(|v| v["type"] == "message").collect();
    assert_eq!(messages.len() as u64, total);
    assert_eq!(lines.len() - messages.len(), 25, "a line per conversation");
    for v in messages.iter().take(50) {
        assert!(v["text"].is_string() && v["sender"].is_string());
    }
    fails(d.cmd(&["export", "x.html", "--format", "html", "--plaintext"]).assert(), 1)
        .stderr(contains("exactly one --conversation"));
    d.ok(&["export", "c.html", "--format", "html", "--plaintext", "--conversation", "conv-000001"]);
    assert!(std::fs::read_to_string(d.path("c.html")).expect("html").contains("<html"));
}

#[test]
fn compact_verify_stats_rotate_and_passwd_look_after_the_store() {
    let d = Dir::new();
    d.demo();
    let before = d.json(&["stats"]);
    assert!(before["segments_uncompacted"].as_u64() > Some(0));
    let rotated = d.json(&["rotate"]);
    assert_eq!(rotated["conversations_rotated"], 25);
    let one = d.json(&["rotate", "--conversation", "conv-000002"]);
    assert_eq!(one["epoch"], 2);
    let stats = d.json(&["stats"]);
    let epochs = stats["epochs"].as_array().expect("epochs");
    assert_eq!(epochs.iter().map(|e| e["epoch"].as_u64()).collect::<Vec<_>>(), [Some(0), Some(1), Some(2)]);

    let report = d.json(&["compact"]);
    assert_eq!(report["work_remains"], false);
    assert_eq!(report["keys_destroyed"].as_u64(), Some(26), "every old key of every conversation");
    assert!(report["bytes_after"].as_u64() < report["bytes_before"].as_u64());
    let after = d.json(&["stats"]);
    assert_eq!(after["segments_uncompacted"], 0);
    assert_eq!(after["messages"], before["messages"]);
    let text = d.ok(&["compact", "--time-budget", "1"]);
    assert!(text.contains("Compacted") && text.contains("Size:"), "{text}");
    let v = d.ok(&["verify"]);
    assert!(v.contains("25 conversations") && v.contains("no problems"), "{v}");
    assert_eq!(d.json(&["verify"])["ok"], true);

    // passwd: a new random key file replaces the old one.
    let old = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    std::fs::write(d.path("old.key"), &old).expect("save old key");
    assert!(d.ok(&["passwd"]).contains("new random key"));
    assert_ne!(std::fs::read(d.path("demo.chatvault.key")).expect("key"), old);
    assert!(!d.path("demo.chatvault.key.new").exists());
    d.ok(&["convs"]);
    fails(d.cmd(&["--key-file", "old.key", "convs"]).assert(), 2);

    // To a passphrase: the key file beside the store goes, the passphrase opens it.
    d.cmd(&["passwd", "--new-passphrase"]).env("CHATVAULT_NEW_PASSPHRASE", "s3cret words").assert().success();
    assert!(!d.path("demo.chatvault.key").exists(), "the stale key file is removed");
    d.cmd(&["convs"]).env("CHATVAULT_PASSPHRASE", "s3cret words").assert().success();
    fails(d.cmd(&["passwd", "--new-passphrase"]).env("CHATVAULT_PASSPHRASE", "s3cret words").assert(), 1)
        .stderr(contains("CHATVAULT_NEW_PASSPHRASE"));

    // And to a key file named on the command line.
    d.cmd(&["passwd", "--new-key-file", "fresh.key"])
        .env("CHATVAULT_PASSPHRASE", "s3cret words")
        .assert()
        .success();
    d.ok(&["--key-file", "fresh.key", "verify"]);
    fails(d.cmd(&["convs"]).env("CHATVAULT_PASSPHRASE", "s3cret words").assert(), 2);
}

#[test]
fn browse_needs_a_terminal() {
    let d = Dir::new();
    d.demo();
    fails(d.cmd(&["browse"]).assert(), 1).stderr(contains("browse needs a terminal"));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

#[test]
fn passwd_never_loses_the_key() {
    let d = Dir::new();
    d.demo();
    std::fs::write(d.path("fresh.key"), [5u8; 32]).expect("write");

    // Another process reading the store: the key changes, the scrub waits.
    let reader = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
    reader.execute_batch("BEGIN; SELECT count(*) FROM segment;").expect("hold a read");
    let a = d.cmd(&["passwd"]).assert().success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("warning") && err.contains("chatvault compact"), "{err}");
    assert!(!d.path("demo.chatvault.key.new").exists(), "the new key was moved into place");
    #[cfg(unix)]
    assert_eq!(mode(&d.path("demo.chatvault.key")), 0o600);
    reader.execute_batch("COMMIT").expect("end the read");
    drop(reader);
    d.ok(&["convs"]);
    d.ok(&["compact"]);

    // A key left by an interrupted passwd is named when the key is wrong,
    // and a later passwd does not trip over it.
    std::fs::write(d.path("demo.chatvault.key.new"), [6u8; 32]).expect("write");
    let a = fails(d.cmd(&["--key-file", "fresh.key", "convs"]).assert(), 2);
    a.stderr(contains("try --key-file demo.chatvault.key.new"));
    d.ok(&["passwd"]);
    d.ok(&["convs"]);
    #[cfg(unix)]
    {
        d.ok(&["--store", "i.cv", "--key-file", "i.key", "init"]);
        assert_eq!(mode(&d.path("i.key")), 0o600);
        d.ok(&["--store", "i.cv", "--key-file", "i.key", "passwd", "--new-key-file", "j.key"]);
        assert_eq!(mode(&d.path("j.key")), 0o600);
        assert!(d.path("i.key").exists(), "a key file named on the command line is the user's to remove");
    }
}

#[test]
fn passwd_rotate_puts_the_new_key_in_force_at_once_and_a_run_with_it_finishes() {
    let d = Dir::new();
    d.demo();
    let old = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    std::fs::write(d.path("old.key"), &old).expect("save old key");
    let messages = d.json(&["stats"])["messages"].clone();

    // Stopped after one transaction: already only the new key opens the
    // store, so the old key file beside it, which opens nothing there any
    // more, is removed; the new key stays only in new.key, which later
    // commands are told to name.
    let out = d.ok(&["passwd", "--rotate", "--new-key-file", "new.key", "--max-transactions", "1"]);
    assert!(
        out.contains("not finished") && out.contains("already opens only with the key in new.key"),
        "{out}"
    );
    let resume =
        "`chatvault --key-file new.key passwd --rotate --new-key-file new.key` to finish it with the same";
    assert!(out.contains(resume), "{out}");
    assert!(out.contains("must name it") && out.contains("demo.chatvault.key was removed"), "{out}");
    assert!(!d.path("demo.chatvault.key").exists(), "the old key is not left where commands look");
    fails(d.cmd(&["convs"]).assert(), 1).stderr(contains("no key"));
    #[cfg(unix)]
    assert_eq!(mode(&d.path("new.key")), 0o600);
    fails(d.cmd(&["--key-file", "old.key", "convs"]).assert(), 2).stderr(contains("wrong key"));
    d.ok(&["--key-file", "new.key", "convs"]);

    // Resumed with the same key, within a budget: every conversation moves
    // in one transaction, and the rotation is still under way.
    let v = d.json(&[
        "--key-file",
        "new.key",
        "passwd",
        "--rotate",
        "--new-key-file",
        "new.key",
        "--max-transactions",
        "1",
    ]);
    assert_eq!(
        (v["finished"].as_bool(), v["key"].as_str()),
        (Some(false), Some("the key in new.key")),
        "{v}"
    );
    assert_eq!((v["conversations"].as_u64(), v["transactions"].as_u64()), (Some(25), Some(1)), "{v}");
    assert!(v["references"].as_u64() > Some(2900), "{v}");
    assert_eq!(v["conversations_damaged"], serde_json::json!([]), "{v}");

    // Finished with the same key; next come compact and vacuum.
    let out = d.ok(&["--key-file", "new.key", "passwd", "--rotate", "--new-key-file", "new.key"]);
    assert!(out.contains("protected by the key in new.key, under a new master key"), "{out}");
    assert!(
        out.contains("`chatvault --key-file new.key compact`")
            && out.contains("`chatvault --key-file new.key vacuum`"),
        "{out}"
    );
    fails(d.cmd(&["--key-file", "old.key", "convs"]).assert(), 2).stderr(contains("wrong key"));
    assert_eq!(d.json(&["--key-file", "new.key", "stats"])["messages"], messages);

    // Then the rest of the recipe: compact destroys every old key, vacuum
    // rewrites the file.
    let compacted = d.json(&["--key-file", "new.key", "compact"]);
    assert_eq!(compacted["keys_destroyed"].as_u64(), Some(25), "{compacted}");
    let out = d.ok(&["--key-file", "new.key", "vacuum"]);
    assert!(out.contains("Rewrote demo.chatvault") && out.contains("No piece of deleted data"), "{out}");
    let v = d.json(&["--key-file", "new.key", "vacuum"]);
    assert_eq!(v["scrubbed"], true);
    assert!(v["bytes_before"].as_u64() > Some(0) && v["bytes_after"].as_u64() > Some(0), "{v}");
    assert_eq!(d.json(&["--key-file", "new.key", "verify"])["ok"], true);
    assert_eq!(d.json(&["--key-file", "new.key", "stats"])["messages"], messages);

    // To a passphrase, in one run; a key file named on the command line is
    // the user's to remove.
    let v = json_of({
        let mut c = d.cmd(&["--json", "--key-file", "new.key", "passwd", "--rotate", "--new-passphrase"]);
        c.env("CHATVAULT_NEW_PASSPHRASE", "rotated words");
        c
    });
    assert_eq!((v["finished"].as_bool(), v["key"].as_str()), (Some(true), Some("a passphrase")), "{v}");
    assert!(d.path("new.key").exists());
    fails(d.cmd(&["--key-file", "new.key", "convs"]).assert(), 2);
    d.cmd(&["convs"]).env("CHATVAULT_PASSPHRASE", "rotated words").assert().success();

    // By default to a new random key, moved beside the store as soon as the
    // first transaction committed: the passphrase no longer opens it.
    let with_passphrase = |args: &[&str]| {
        let mut c = d.cmd(args);
        c.env("CHATVAULT_PASSPHRASE", "rotated words");
        c
    };
    let a = with_passphrase(&["passwd", "--rotate", "--max-transactions", "1"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("already opens only with a new random key in demo.chatvault.key"), "{out}");
    // The passphrase in the environment would come before the key file.
    let resume =
        "`chatvault --key-file demo.chatvault.key passwd --rotate --new-key-file demo.chatvault.key`";
    assert!(out.contains(resume), "{out}");
    assert!(d.path("demo.chatvault.key").exists() && !d.path("demo.chatvault.key.new").exists());
    #[cfg(unix)]
    assert_eq!(mode(&d.path("demo.chatvault.key")), 0o600);
    fails(with_passphrase(&["convs"]).assert(), 2).stderr(contains("wrong key"));
    d.ok(&["convs"]);
    let key = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    // Resumed as it says, to the end, with that same key.
    let a = with_passphrase(&[
        "--key-file",
        "demo.chatvault.key",
        "passwd",
        "--rotate",
        "--new-key-file",
        "demo.chatvault.key",
    ])
    .assert()
    .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("under a new master key"), "{out}");
    assert_eq!(std::fs::read(d.path("demo.chatvault.key")).expect("key"), key);
    d.ok(&["compact"]);
    d.ok(&["vacuum"]);
    assert_eq!(d.json(&["verify"])["ok"], true);
}

#[test]
fn passwd_rotate_with_another_key_finishes_the_rotation_under_way_first() {
    let d = Dir::new();
    d.demo();
    d.ok(&["passwd", "--rotate", "--new-key-file", "a.key", "--max-transactions", "1"]);
    // A run with another key and a budget of one transaction goes into
    // finishing the rotation to a.key: b.key does not open the store yet.
    let out = d.ok(&[
        "--key-file",
        "a.key",
        "passwd",
        "--rotate",
        "--new-key-file",
        "b.key",
        "--max-transactions",
        "1",
    ]);
    assert!(
        out.contains("has not begun") && out.contains("finishing the rotation already under way"),
        "{out}"
    );
    assert!(out.contains("still opens only with its current key (key from a.key)"), "{out}");
    assert!(out.contains("`chatvault --key-file a.key passwd --rotate --new-key-file b.key` again"), "{out}");
    d.ok(&["--key-file", "a.key", "convs"]);
    fails(d.cmd(&["--key-file", "b.key", "convs"]).assert(), 2).stderr(contains("wrong key"));
    let v = d.json(&[
        "--key-file",
        "a.key",
        "passwd",
        "--rotate",
        "--new-key-file",
        "b.key",
        "--max-transactions",
        "1",
    ]);
    assert_eq!((v["finished"].as_bool(), v["key"].clone()), (Some(false), Value::Null), "{v}");

    // Run to the end: only b.key opens it.
    let v = d.json(&["--key-file", "a.key", "passwd", "--rotate", "--new-key-file", "b.key"]);
    assert_eq!((v["finished"].as_bool(), v["key"].as_str()), (Some(true), Some("the key in b.key")), "{v}");
    fails(d.cmd(&["--key-file", "a.key", "convs"]).assert(), 2).stderr(contains("wrong key"));
    assert_eq!(d.json(&["--key-file", "b.key", "verify"])["ok"], true);

    // A rotation that did not begin leaves the key file beside the store
    // as it was, and no new key lying about.
    d.ok(&["--key-file", "b.key", "passwd", "--new-key-file", "demo.chatvault.key"]);
    let key = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    let out = d.ok(&["passwd", "--rotate", "--time-budget", "0"]);
    assert!(out.contains("has not begun: demo.chatvault still opens only with its current key"), "{out}");
    assert!(out.contains("`chatvault passwd --rotate` again"), "{out}");
    assert_eq!(std::fs::read(d.path("demo.chatvault.key")).expect("key"), key);
    assert!(!d.path("demo.chatvault.key.new").exists());
    d.ok(&["convs"]);
}

#[test]
fn passwd_rotate_names_damaged_conversations_and_still_moves_the_key_into_place() {
    let d = Dir::new();
    d.demo();
    std::fs::copy(d.path("demo.chatvault.key"), d.path("old.key")).expect("save old key");
    {
        let db = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
        db.execute("UPDATE conversation_key SET wrapped = zeroblob(61) WHERE conversation = 3", [])
            .expect("damage");
    }
    let a = d.cmd(&["--json", "passwd", "--rotate"]).assert().failure().code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("1 damaged conversation moved")
            && err.contains("[3]")
            && err.contains("chatvault verify"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("JSON output");
    assert_eq!(v["finished"], true, "{v}");
    assert_eq!(v["conversations_damaged"], serde_json::json!([3]), "{v}");
    assert!(!d.path("demo.chatvault.key.new").exists());
    d.ok(&["stats"]);
    fails(d.cmd(&["--key-file", "old.key", "stats"]).assert(), 2);
}

#[test]
fn passwd_rotate_that_fails_says_which_key_opens_the_store() {
    let d = Dir::new();
    d.demo();
    let old = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    let writer = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
    // Another process holding the write lock: the rotation cannot begin,
    // and the key file beside the store stays as it was.
    writer.execute_batch("BEGIN IMMEDIATE").expect("hold the write lock");
    let a = fails(d.cmd(&["passwd", "--rotate"]).assert(), 1);
    a.stderr(
        contains("locked").and(contains("still opens with its current key (key from demo.chatvault.key)")),
    );
    assert_eq!(std::fs::read(d.path("demo.chatvault.key")).expect("key"), old);
    assert!(!d.path("demo.chatvault.key.new").exists());
    writer.execute_batch("COMMIT").expect("release");
    // Begun, then stopped by the lock: the new key is in force, and the
    // message says how to finish.
    d.ok(&["passwd", "--rotate", "--new-key-file", "new.key", "--max-transactions", "1"]);
    writer.execute_batch("BEGIN IMMEDIATE").expect("hold the write lock");
    let a = fails(
        d.cmd(&["--key-file", "new.key", "passwd", "--rotate", "--new-key-file", "new.key"]).assert(),
        1,
    );
    a.stderr(contains(
        "now opens only with the key in new.key: run `chatvault --key-file new.key passwd --rotate --new-key-file \
         new.key` to finish the rotation",
    ));
    writer.execute_batch("COMMIT").expect("release");
    drop(writer);
    let v = d.json(&["--key-file", "new.key", "passwd", "--rotate", "--new-key-file", "new.key"]);
    assert_eq!(v["finished"], true, "{v}");
}

#[test]
fn passwd_first_puts_a_key_an_interrupted_passwd_left_in_its_place() {
    let d = Dir::new();
    d.demo();
    // As an interrupted passwd leaves things: the store opens with the key
    // in demo.chatvault.key.new, not with the one beside it.
    d.ok(&["passwd", "--new-key-file", "k1.key"]);
    std::fs::copy(d.path("k1.key"), d.path("demo.chatvault.key.new")).expect("copy");
    std::fs::write(d.path("demo.chatvault.key"), [6u8; 32]).expect("write");
    fails(d.cmd(&["convs"]).assert(), 2).stderr(contains("try --key-file demo.chatvault.key.new"));
    // A rotation that does not begin must not lose the key that opened it.
    let out = d.ok(&["--key-file", "demo.chatvault.key.new", "passwd", "--rotate", "--time-budget", "0"]);
    assert!(out.contains("has not begun"), "{out}");
    assert!(!d.path("demo.chatvault.key.new").exists());
    assert_eq!(
        std::fs::read(d.path("demo.chatvault.key")).expect("key"),
        std::fs::read(d.path("k1.key")).expect("key")
    );
    d.ok(&["convs"]);
    d.ok(&["passwd", "--rotate"]);
    d.ok(&["convs"]);
    fails(d.cmd(&["--key-file", "k1.key", "convs"]).assert(), 2);
}

#[test]
fn passwd_rotate_with_another_reader_still_moves_the_key_into_place() {
    let d = Dir::new();
    d.demo();
    std::fs::copy(d.path("demo.chatvault.key"), d.path("old.key")).expect("save old key");
    // Another process reading the store: the rotation finishes, the scrub waits.
    let reader = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
    reader.execute_batch("BEGIN; SELECT count(*) FROM segment;").expect("hold a read");
    let a = d.cmd(&["passwd", "--rotate"]).assert().success();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("warning") && err.contains("chatvault compact"), "{err}");
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("under a new master key"), "{out}");
    assert!(!d.path("demo.chatvault.key.new").exists(), "the new key was moved into place");
    reader.execute_batch("COMMIT").expect("end the read");
    drop(reader);
    d.ok(&["convs"]);
    fails(d.cmd(&["--key-file", "old.key", "convs"]).assert(), 2);
    d.ok(&["compact"]);
}

#[test]
fn a_store_whose_schema_was_modified_is_a_data_error() {
    let d = Dir::new();
    d.demo();
    {
        let db = rusqlite::Connection::open(d.path("demo.chatvault")).expect("open raw");
        db.execute_batch("CREATE TRIGGER keep AFTER DELETE ON segment BEGIN SELECT 1; END;").expect("plant");
    }
    for args in [&["convs"][..], &["verify"], &["vacuum"], &["passwd", "--rotate"]] {
        fails(d.cmd(args).assert(), 2).stderr(contains("modified outside chatvault").and(contains("keep")));
    }
    assert!(!d.path("demo.chatvault.key.new").exists());
}

#[test]
fn demo_refuses_to_replace_a_store_made_with_init() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Real", "--external-id", "real"]);
    d.ok(&["send", "real", "keep me"]);
    fails(d.cmd(&["demo", "--messages", "100"]).assert(), 1).stderr(contains("--force"));
    assert_eq!(d.json(&["show", "real"])["messages"][0]["text"], "keep me");
    fails(d.cmd(&["demo", "--conversations", "18446744073709551615"]).assert(), 1);
}

#[test]
fn numeric_external_ids_resolve_and_ambiguity_is_refused() {
    let d = Dir::new();
    d.ok(&["init"]);
    let first = d.json(&["new", "First"])["id"].as_u64().expect("id");
    let phone = d.json(&["new", "Phone", "--external-id", "4155550123"])["id"].as_u64().expect("id");
    let clash = d.json(&["new", "Clash", "--external-id", &first.to_string()])["id"].as_u64().expect("id");
    assert_eq!(d.json(&["show", "4155550123"])["id"].as_u64(), Some(phone));
    let a = fails(d.cmd(&["delete", &first.to_string(), "--yes"]).assert(), 1);
    a.stderr(contains("id:").and(contains("ext:")));
    assert_eq!(d.json(&["show", &format!("id:{first}")])["title"], "First");
    assert_eq!(d.json(&["show", &format!("ext:{first}")])["id"].as_u64(), Some(clash));
    fails(d.cmd(&["show", "ext:nothing"]).assert(), 1).stderr(contains("no conversation"));
    fails(d.cmd(&["show", "id:x"]).assert(), 1);
    assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(3), "nothing was deleted");
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "evil\u{1b}[2Jtitle", "--external-id", "e"]);
    d.ok(&["send", "e", "hi\u{1b}]0;pwned\u{7}\nsecond line", "--sender", "x\u{1b}[31m"]);
    for args in [&["show", "e"][..], &["convs"]] {
        let out = d.ok(args);
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{args:?}: {out:?}");
    }
    let out = d.ok(&["show", "e"]);
    assert_eq!(out.lines().count(), 2, "a title, and one line per message: {out}");
    assert_eq!(
        d.json(&["show", "e"])["messages"][0]["text"],
        "hi\u{1b}]0;pwned\u{7}\nsecond line",
        "JSON keeps it exact"
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let d = Dir::new();
    d.demo();
    // Far more than a pipe buffer holds, so the writer meets the closed pipe.
    let mut child = std::process::Command::new(binary())
        .current_dir(d.0.path())
        .env_remove("CHATVAULT_PASSPHRASE")
        .args(["--json", "show", "conv-000000", "--limit", "100000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first).expect("some output");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sqlite_damage_below_the_records_is_a_data_error() {
    let d = Dir::new();
    d.demo();
    let file = d.path("demo.chatvault");
    let mut bytes = std::fs::read(&file).expect("store");
    // Overwrite every page after the first few with junk: b-tree pages, not sealed values.
    let page = 4096;
    for p in (8..bytes.len() / page).step_by(2) {
        bytes[p * page..(p + 1) * page].fill(0xA5);
    }
    std::fs::write(&file, &bytes).expect("write");
    let a = d.cmd(&["verify"]).assert().failure().code(2);
    let all = String::from_utf8_lossy(&a.get_output().stdout).into_owned()
        + &String::from_utf8_lossy(&a.get_output().stderr);
    assert!(!all.contains("panicked"), "{all}");
    let mut saw_damage = false;
    for c in 1..=25 {
        let out = d.cmd(&["show", &format!("id:{c}")]).assert().get_output().clone();
        assert_ne!(out.status.code(), Some(101), "no panic");
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
            saw_damage = true;
        }
    }
    assert!(saw_damage, "some conversation sat on a damaged page");
}

/// Bytes that differ at every offset.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) ^ (i >> 9) as u8).collect()
}

/// A fresh store `a.cv` with conversation 1 ("Trip", external id `trip`)
/// and three messages; `run` and `json` run commands on it.
struct Attached {
    d: Dir,
}

impl Attached {
    const S: [&'static str; 2] = ["--store", "a.cv"];

    fn new() -> Self {
        let d = Dir::new();
        d.ok(&["--store", "a.cv", "init"]);
        let a = Attached { d };
        a.run(&["new", "Trip", "--external-id", "trip"]);
        for text in ["look at this", "and this", "the plan"] {
            a.run(&["send", "trip", text, "--sender", "ann"]);
        }
        a
    }

    fn args<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [&Self::S[..], args].concat()
    }

    fn run(&self, args: &[&str]) -> String {
        self.d.ok(&Self::args(args))
    }

    fn json(&self, args: &[&str]) -> Value {
        self.d.json(&Self::args(args))
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.d.cmd(&Self::args(args))
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.d.path(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.d.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

#[test]
fn attach_list_and_save_round_trip_the_bytes() {
    let a = Attached::new();
    let photo = content(1, 300_000); // in a file beside the store
    let note = b"buy sunscreen\n".to_vec(); // inline
    a.write("in/IMG_0001.JPG", &photo);

    let v = a.json(&["attach", "1/1", "in/IMG_0001.JPG"]);
    assert_eq!(v["media_type"], "image/jpeg", "from the extension: {v}");
    assert_eq!((v["file_name"].clone(), v["byte_len"].clone()), (json!("IMG_0001.JPG"), json!(300_000)));
    assert_eq!((v["message"].clone(), v["removed"].clone()), (json!("1/1"), json!(false)));
    let photo_id = v["id"].as_u64().expect("id");
    // From standard input, named on the command line.
    let out = a
        .cmd(&["attach", "1/2", "-", "--name", "notes.txt"])
        .write_stdin(note.clone())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).expect("UTF-8");
    assert!(out.contains("Attached notes.txt (text/plain, 14 B) to 1/2 as attachment"), "{out}");
    let v = a.json(&["attach", "1/2", "in/IMG_0001.JPG", "--media-type", "image/x-test", "--name", "raw"]);
    assert_eq!((v["media_type"].clone(), v["file_name"].clone()), (json!("image/x-test"), json!("raw")));
    a.write("blob", b"?");
    assert_eq!(a.json(&["attach", "1/3", "blob"])["media_type"], "application/octet-stream");

    // The gallery: newest message first.
    let list = a.json(&["attachments", "trip"]);
    let names: Vec<&str> =
        list.as_array().expect("array").iter().map(|x| x["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["blob", "raw", "notes.txt", "IMG_0001.JPG"]);
    let images = a.json(&["attachments", "trip", "--media-type", "image/"]);
    assert_eq!(images.as_array().map(Vec::len), Some(2));
    let first_page = a.run(&["attachments", "trip", "--limit", "2"]);
    assert!(first_page.contains("blob") && first_page.contains("raw") && !first_page.contains("notes.txt"));
    let cursor = first_page
        .lines()
        .find_map(|l| l.strip_prefix("(older: --before ").and_then(|r| r.strip_suffix(')')))
        .unwrap_or_else(|| panic!("a cursor: {first_page}"));
    let next = a.json(&["attachments", "trip", "--limit", "2", "--before", cursor]);
    let names: Vec<&str> =
        next.as_array().expect("array").iter().map(|x| x["file_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["notes.txt", "IMG_0001.JPG"]);
    let of_message = a.json(&["attachments", "--message", "1/2"]);
    assert_eq!(of_message.as_array().map(Vec::len), Some(2));
    assert_eq!(a.json(&["attachments"]).as_array().map(Vec::len), Some(4), "the whole store");
    let table = a.run(&["attachments", "trip"]);
    assert!(table.lines().next().is_some_and(|h| h.contains("media type") && h.contains("size")), "{table}");
    assert!(
        table.contains("IMG_0001.JPG") && table.contains("292.97 KiB") && table.contains("image/jpeg"),
        "{table}"
    );
    // `show` lists them under their messages.
    let shown = a.run(&["show", "trip"]);
    assert!(shown.contains(&format!("#{photo_id}  📎 IMG_0001.JPG · image/jpeg · 292.97 KiB")), "{shown}");
    let page = a.json(&["show", "trip"]);
    assert_eq!(page["messages"][0]["attachments"][0]["id"].as_u64(), Some(photo_id));
    assert_eq!(page["messages"][2]["attachments"][0]["file_name"], "blob");

    // save: the exact bytes, to its name, a path, a directory or stdout.
    let id = photo_id.to_string();
    let out = a.run(&["save", &id]);
    assert!(out.contains("Saved attachment") && out.contains("IMG_0001.JPG"), "{out}");
    assert!(a.read("IMG_0001.JPG") == photo, "IMG_0001.JPG differs");
    #[cfg(unix)]
    assert_eq!(mode(&a.d.path("IMG_0001.JPG")) & 0o777, 0o600, "plaintext, its owner's only");
    let v = a.json(&["save", &id, "copy.jpg"]);
    assert_eq!(v["bytes_written"], 300_000);
    assert!(a.read("copy.jpg") == photo, "copy.jpg differs");
    std::fs::create_dir(a.d.path("out")).expect("mkdir");
    a.run(&["save", &id, "out"]);
    assert!(a.read("out/IMG_0001.JPG") == photo, "out/IMG_0001.JPG differs");
    let stdout = a.cmd(&["save", &id, "-"]).assert().success().get_output().stdout.clone();
    assert!(stdout == photo, "- writes the content, and nothing else, to stdout");
    let notes = a.json(&["attachments", "--message", "1/2"])[0]["id"].to_string();
    a.run(&["save", &notes, "n.txt"]);
    assert!(a.read("n.txt") == note, "n.txt differs");
    assert!(a.cmd(&["save", &notes, "-"]).assert().success().get_output().stdout == note);

    // Never over an existing file without --force.
    a.write("copy.jpg", b"precious");
    fails(a.cmd(&["save", &id, "copy.jpg"]).assert(), 1)
        .stderr(contains("already exists").and(contains("--force")));
    assert!(a.read("copy.jpg") == b"precious", "left alone");
    fails(a.cmd(&["save", &id]).assert(), 1).stderr(contains("IMG_0001.JPG already exists"));
    a.run(&["save", &id, "copy.jpg", "--force"]);
    assert!(a.read("copy.jpg") == photo, "copy.jpg differs");
    let leftovers: Vec<String> = std::fs::read_dir(a.d.0.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A stored name is never a path: it is saved inside the directory.
    let v = a.json(&["attach", "1/3", "blob", "--name", "../../evil.sh"]);
    let evil = v["id"].to_string();
    let out = a.json(&["save", &evil]);
    assert_eq!(out["path"], "_.._evil.sh");
    assert!(a.read("_.._evil.sh") == b"?", "_.._evil.sh differs");
    assert!(!a.d.0.path().parent().expect("parent").join("evil.sh").exists());

    // Mistakes are user errors.
    fails(a.cmd(&["save", "999"]).assert(), 1).stderr(contains("no attachment 999"));
    fails(a.cmd(&["attach", "1/9", "blob"]).assert(), 1).stderr(contains("not found"));
    fails(a.cmd(&["attach", "7/1", "blob"]).assert(), 1).stderr(contains("no conversation \"7\""));
    fails(a.cmd(&["attach", "1/1", "absent.jpg"]).assert(), 1).stderr(contains("cannot open absent.jpg"));
    fails(a.cmd(&["attach", "trip", "blob"]).assert(), 1).stderr(contains("conversation/seq"));
    fails(a.cmd(&["attachments", "nowhere"]).assert(), 1).stderr(contains("no conversation"));
    a.cmd(&["attachments", "--message", "1/1", "--before", "1"])
        .assert()
        .failure()
        .code(1)
        .stderr(contains("--help"));
    a.cmd(&["attachments", "--before", "1"]).assert().failure().code(1).stderr(contains("--help"));
}

#[test]
fn usage_counts_text_and_attachment_bytes_per_conversation() {
    let a = Attached::new();
    a.run(&["new", "Quiet", "--external-id", "quiet"]);
    a.run(&["send", "quiet", "hi"]);
    a.write("big.bin", &content(2, 500_000));
    a.write("small.png", &content(3, 1_000));
    a.run(&["attach", "1/1", "big.bin"]);
    a.run(&["attach", "1/2", "small.png"]);
    let v = a.json(&["usage"]);
    let rows = v["conversations"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["title"], "Trip", "largest first: {v}");
    assert!(rows[0]["attachment_bytes"].as_u64() >= Some(501_000), "stored bytes, padded: {v}");
    assert_eq!(rows[0]["attachments"], 2);
    assert!(rows[0]["text_bytes"].as_u64() > Some(0));
    assert_eq!((rows[1]["attachment_bytes"].clone(), rows[1]["attachments"].clone()), (json!(0), json!(0)));
    assert_eq!(v["total"]["attachments"], 2);
    assert_eq!(v["total"]["conversations"], 2);
    let total_text = rows.iter().map(|r| r["text_bytes"].as_u64().unwrap()).sum::<u64>();
    assert_eq!(v["total"]["text_bytes"].as_u64(), Some(total_text));
    let table = a.run(&["usage"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header, a row per conversation, a total: {table}");
    assert!(
        lines[1].contains("Trip") && lines[1].contains("KiB") && lines[3].contains("total (2 conversations)")
    );
    let top = a.json(&["usage", "--limit", "1"]);
    assert_eq!(top["conversations"].as_array().map(Vec::len), Some(1));
    assert_eq!(top["total"]["conversations"], 2, "the total counts every conversation");

    // stats and verify count them too.
    let stats = a.json(&["stats"]);
    assert_eq!((stats["attachments"].clone(), stats["attachments_in_files"].clone()), (json!(2), json!(1)));
    assert_eq!(stats["orphan_files"], 0);
    assert!(a.run(&["stats"]).contains(&format!("{:<28} 2\n", "attachments")));
    assert_eq!(a.json(&["verify"])["attachments"], 2);
    assert!(a.run(&["verify"]).contains("2 attachments: no problems"));
    let report = a.json(&["compact"]);
    assert_eq!(
        (report["attachments_expired"].clone(), report["orphan_files_removed"].clone()),
        (json!(0), json!(0))
    );
}

#[test]
fn clear_media_removes_content_keeps_the_stubs_and_asks_first() {
    let a = Attached::new();
    a.write("video.mp4", &content(4, 400_000));
    a.write("photo.jpg", &content(5, 200_000));
    a.write("thumb.jpg", &content(6, 5_000));
    a.write("voice.ogg", &content(7, 150_000));
    let id = |v: Value| v["id"].as_u64().expect("id").to_string();
    let video = id(a.json(&["attach", "1/1", "video.mp4"]));
    let photo = id(a.json(&["attach", "1/1", "photo.jpg"]));
    let thumb = id(a.json(&["attach", "1/2", "thumb.jpg"]));
    let voice = id(a.json(&["attach", "1/3", "voice.ogg"]));
    let bytes_before = a.json(&["usage"])["total"]["attachment_bytes"].as_u64().expect("bytes");

    // Nobody to ask: --yes (or --dry-run) is needed.
    fails(a.cmd(&["clear-media"]).assert(), 1).stderr(contains("--yes"));
    // A dry run lists what would go and removes nothing.
    let dry = a.run(&["clear-media", "--larger-than", "100K", "--media-type", "image/", "--dry-run"]);
    assert!(dry.contains("photo.jpg") && !dry.contains("thumb.jpg") && !dry.contains("video.mp4"), "{dry}");
    assert!(
        dry.contains("Would remove the content of 1 attachment (") && dry.contains("nothing was removed"),
        "{dry}"
    );
    let v = a.json(&["clear-media", "--larger-than", "100K", "--dry-run"]);
    assert_eq!(v["attachments"], 3, "{v}");
    a.run(&["save", &photo, "still-here.jpg"]);
    // Filters that match nothing.
    let out = a.run(&["clear-media", "--older-than", "1d", "--yes"]);
    assert!(out.contains("nothing removed"), "just stored: {out}");
    assert_eq!(a.json(&["clear-media", "--larger-than", "1G", "--yes"])["attachments"], 0);

    // Images over 100 KiB.
    let out = a.run(&["clear-media", "--media-type", "image/", "--larger-than", "100K", "--yes"]);
    assert!(out.contains("Removed the content of 1 attachment,"), "{out}");
    fails(a.cmd(&["save", &photo, "gone.jpg"]).assert(), 1)
        .stderr(contains("was removed").and(contains("photo.jpg")));
    assert!(!a.d.path("gone.jpg").exists());
    a.run(&["save", &thumb, "thumb-copy.jpg"]);
    assert!(a.read("thumb-copy.jpg") == content(6, 5_000), "what did not match stays");
    let list = a.json(&["attachments", "trip"]);
    let state: Vec<(String, bool)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|x| (x["file_name"].as_str().unwrap().to_owned(), x["removed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        state,
        [
            ("voice.ogg".into(), false),
            ("thumb.jpg".into(), false),
            ("photo.jpg".into(), true),
            ("video.mp4".into(), false)
        ],
        "newest message first, and within one the last stored first"
    );
    assert!(
        a.run(&["attachments", "trip"]).lines().any(|l| l.contains("photo.jpg") && l.contains("removed"))
    );
    assert!(a.run(&["show", "trip"]).contains("📎 photo.jpg · image/jpeg · 195.31 KiB (removed)"));
    // In one conversation only, the rest of a kind: JSON says what went.
    let v = a.json(&["clear-media", "--conversation", "trip", "--larger-than", "100K", "--yes"]);
    assert_eq!(v["attachments"], 2, "the video and the voice note: {v}");
    assert!(v["bytes"].as_u64() >= Some(550_000));
    for gone in [&video, &voice] {
        fails(a.cmd(&["save", gone, "x"]).assert(), 1).stderr(contains("was removed"));
    }
    let bytes_after = a.json(&["usage"])["total"]["attachment_bytes"].as_u64().expect("bytes");
    assert!(bytes_after < 20_000 && bytes_after < bytes_before, "{bytes_before} -> {bytes_after}");
    assert_eq!(a.json(&["stats"])["attachments"], 4, "the stubs stay");
    assert_eq!(a.json(&["verify"])["ok"], true);

    // Bad filters are user errors, before anything is removed.
    for bad in [
        ["--older-than", "soon"],
        ["--older-than", "30"],
        ["--larger-than", "big"],
        ["--conversation", "nowhere"],
    ] {
        fails(a.cmd(&["clear-media", bad[0], bad[1], "--yes"]).assert(), 1);
    }
    a.cmd(&["clear-media", "--yes", "--dry-run"]).assert().failure().code(1).stderr(contains("--help"));
}

#[test]
fn delete_attachment_keeps_the_message() {
    let a = Attached::new();
    a.write("photo.jpg", &content(8, 90_000));
    let id = a.json(&["attach", "1/1", "photo.jpg"])["id"].to_string();
    let out = a.run(&["delete-attachment", &id]);
    assert!(out.contains(&format!("Deleted attachment {id} (photo.jpg) of message 1/1")), "{out}");
    assert_eq!(a.json(&["attachments", "trip"]), json!([]));
    assert_eq!(a.json(&["show", "trip"])["messages"][0]["text"], "look at this");
    fails(a.cmd(&["save", &id]).assert(), 1).stderr(contains(format!("no attachment {id}")));
    fails(a.cmd(&["delete-attachment", &id]).assert(), 1).stderr(contains("no attachment"));
    let again = a.json(&["attach", "1/1", "photo.jpg"])["id"].to_string();
    assert_eq!(a.json(&["delete-attachment", &again])["deleted"].as_u64(), again.parse().ok());
    assert_eq!(a.json(&["stats"])["attachments"], 0);
    assert_eq!(a.json(&["verify"])["ok"], true);
}

#[test]
fn the_demo_has_photos_of_a_few_sizes_and_voice_notes() {
    let d = Dir::new();
    d.demo();
    let all = d.json(&["attachments", "--limit", "100"]);
    let all = all.as_array().expect("array");
    assert!(all.len() >= 10, "{}", all.len());
    let of = |t: &str| all.iter().filter(|a| a["media_type"] == t).count();
    assert!(of("image/bmp") >= 5 && of("audio/wav") >= 3, "{all:?}");
    let full_hd = all.iter().find(|a| a["byte_len"] == 6_220_854).expect("a full-HD picture");
    assert_eq!(
        all.iter().filter(|a| a["removed"] == true).count(),
        1,
        "one removed, to show the storage manager"
    );
    let id = full_hd["id"].to_string();
    d.ok(&["save", &id, "pano.bmp"]);
    let bmp = std::fs::read(d.path("pano.bmp")).expect("saved");
    assert_eq!(bmp.len(), 6_220_854);
    assert_eq!(&bmp[..2], b"BM");
    assert_eq!(i32::from_le_bytes(bmp[18..22].try_into().expect("4 bytes")), 1920);
    assert_eq!(i32::from_le_bytes(bmp[22..26].try_into().expect("4 bytes")), 1080);
    let wav = all.iter().find(|a| a["media_type"] == "audio/wav").expect("a voice note")["id"].to_string();
    let sound = d.cmd(&["save", &wav, "-"]).assert().success().get_output().stdout.clone();
    assert_eq!(&sound[..4], b"RIFF");
    // In the most recently active conversation, on one of its last messages.
    let newest = d.json(&["convs", "--limit", "1"])[0]["id"].as_u64().expect("id");
    let gallery = d.json(&["attachments", &format!("id:{newest}")]);
    assert!(gallery.as_array().is_some_and(|g| g.iter().any(|a| a["byte_len"] == 6_220_854)), "{gallery}");
    assert_eq!(d.json(&["verify"])["ok"], true);
    let stats = d.json(&["stats"]);
    assert_eq!(stats["orphan_files"], 0);
    assert!(stats["attachments_in_files"].as_u64() >= Some(3));
    // The same seed, the same media; --force replaces the attachment files too.
    let d2 = Dir::new();
    d2.demo();
    d2.ok(&["save", &id, "pano.bmp"]);
    assert!(std::fs::read(d2.path("pano.bmp")).expect("saved") == bmp, "the same picture");
    d2.ok(&["demo", "--messages", "3000", "--conversations", "25", "--seed", "2", "--force"]);
    assert_eq!(d2.json(&["stats"])["orphan_files"], 0, "no file of the old store is left");
    assert_eq!(d2.json(&["verify"])["ok"], true);
}

#[test]
fn an_html_export_writes_the_attachments_beside_the_page() {
    let a = Attached::new();
    let photo = content(9, 120_000);
    a.write("beach.jpg", &photo);
    a.run(&["attach", "1/1", "beach.jpg"]);
    a.write("clip.mp4", &content(10, 80_000));
    a.run(&["attach", "1/2", "clip.mp4"]);
    a.run(&["clear-media", "--media-type", "video/", "--yes"]);
    let out = a.run(&["export", "trip.html", "--format", "html", "--plaintext", "--conversation", "trip"]);
    assert!(out.contains("attachments to trip_files") && out.contains("NOT encrypted"), "{out}");
    let html = std::fs::read_to_string(a.d.path("trip.html")).expect("page");
    let src = html.split("<img src=\"").nth(1).and_then(|r| r.split('"').next()).expect("an inline image");
    assert!(src.starts_with("trip_files/") && src.ends_with("-beach.jpg"), "{src}");
    assert!(a.read(src) == photo, "{src} holds the photo");
    assert!(html.contains("clip.mp4 · video/mp4 · 78.12 KiB (removed)"), "{html}");
    // Again: the page is there, so nothing is replaced.
    fails(
        a.cmd(&["export", "trip.html", "--format", "html", "--plaintext", "--conversation", "trip"]).assert(),
        1,
    )
    .stderr(contains("trip.html already exists"));
    let v = json_of(a.cmd(&[
        "--json",
        "export",
        "t2.html",
        "--format",
        "html",
        "--plaintext",
        "--conversation",
        "trip",
    ]));
    assert_eq!(v["attachments_dir"], "t2_files");
    // JSON Lines: the metadata.
    a.run(&["export", "all.jsonl", "--format", "jsonl", "--plaintext"]);
    let text = std::fs::read_to_string(a.d.path("all.jsonl")).expect("jsonl");
    let first: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .find(|v| v["type"] == "message")
        .expect("a message line");
    assert_eq!(first["attachments"][0]["file_name"], "beach.jpg");
    assert_eq!(first["attachments"][0]["byte_len"], 120_000);
}

/// The unread count `convs --json` lists for conversation `name` (its title).
fn unread(d: &Dir, title: &str) -> u64 {
    let list = d.json(&["convs"]);
    let c = list.as_array().and_then(|l| l.iter().find(|c| c["title"] == title)).cloned();
    c.and_then(|c| c["unread_count"].as_u64()).unwrap_or_else(|| panic!("{title} listed: {list}"))
}

#[test]
fn mark_read_and_your_own_messages_are_never_unread() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Alice", "--external-id", "wxid_alice"]);
    d.ok(&["send", "alice", "hi there", "--sender", "alice"]);
    d.ok(&["send", "alice", "are you around?", "--sender", "alice"]);
    assert_eq!(unread(&d, "Alice"), 2, "received messages are unread");
    // Replying (as "me", the default sender) reads up to the reply.
    d.ok(&["send", "alice", "yes!"]);
    assert_eq!(unread(&d, "Alice"), 0, "your own message is not unread, nor what it answers");
    let c = d.json(&["show", "alice"]);
    assert_eq!(c["read_up_to"], "1/3");
    d.ok(&["send", "alice", "great", "--sender", "alice"]);
    d.ok(&["send", "alice", "see you", "--sender", "alice"]);
    assert_eq!(unread(&d, "Alice"), 2);
    let out = d.ok(&["mark-read", "alice", "--up-to", "4"]);
    assert!(out.contains("read up to 1/4") && out.contains("1 message unread"), "{out}");
    assert_eq!(unread(&d, "Alice"), 1);
    d.cmd(&["read", "wxid_alice"]).assert().failure().code(1).stderr(contains("unrecognized subcommand"));
    let out = d.ok(&["mark-read", "wxid_alice"]);
    assert!(out.contains("read up to 1/5") && out.contains("0 messages unread"), "{out}");
    assert_eq!(unread(&d, "Alice"), 0);
    fails(d.cmd(&["mark-read", "alice", "--up-to", "9"]).assert(), 1).stderr(contains("not found"));
    d.ok(&["new", "Empty"]);
    assert!(d.ok(&["mark-read", "empty"]).contains("no messages to mark read"));

    // In the demo, none of your own messages is unread.
    let d = Dir::new();
    d.demo();
    let mut own_seen = 0;
    for c in d.json(&["convs"]).as_array().expect("array") {
        let id = c["id"].to_string();
        let read = c["read_up_to"].as_str().map(|r| r.rsplit_once('/').expect("c/seq").1.to_owned());
        let mut args = vec!["show", id.as_str(), "--limit", "100000"];
        if let Some(r) = &read {
            args.extend(["--after", r.as_str()]);
        }
        let page = d.json(&args);
        let unread = page["messages"].as_array().expect("messages");
        assert_eq!(unread.len() as u64, c["unread_count"].as_u64().expect("count"), "{c}");
        assert!(unread.iter().all(|m| m["sender"] != "me"), "an own message is unread in {c}");
        let all = d.json(&["show", id.as_str(), "--limit", "100000"]);
        own_seen +=
            all["messages"].as_array().expect("messages").iter().filter(|m| m["sender"] == "me").count();
    }
    assert!(own_seen > 0, "the demo has messages from me");
}

#[test]
fn conversations_are_named_by_title_and_messages_by_any_conversation_name() {
    let d = Dir::new();
    d.ok(&["init"]);
    let david = d.json(&["new", "David"])["id"].as_u64().expect("id");
    let chen = d.json(&["new", "David Chen", "--external-id", "dc"])["id"].as_u64().expect("id");
    let davina = d.json(&["new", "Davina"])["id"].as_u64().expect("id");
    // The whole title in any case, before a prefix of another.
    assert_eq!(d.json(&["show", "david"])["id"].as_u64(), Some(david));
    assert_eq!(d.json(&["show", "DAVID"])["id"].as_u64(), Some(david));
    // A unique start of a title.
    assert_eq!(d.json(&["show", "david c"])["id"].as_u64(), Some(chen));
    assert_eq!(d.json(&["show", "davin"])["id"].as_u64(), Some(davina));
    assert_eq!(d.json(&["show", "title:davina"])["id"].as_u64(), Some(davina));
    // Ambiguity names every candidate with its id.
    let a = fails(d.cmd(&["show", "dav"]).assert(), 1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("3 conversations"), "{err}");
    for (id, title) in [(david, "David"), (chen, "David Chen"), (davina, "Davina")] {
        assert!(err.contains(&format!("{id} {title:?}")), "{err}");
    }
    fails(d.cmd(&["show", "zed"]).assert(), 1).stderr(contains("no conversation \"zed\""));

    // Every command that takes a conversation or a message takes the title.
    d.ok(&["send", "david", "one"]);
    d.ok(&["send", "dc", "two"]);
    d.ok(&["send", "david chen", "three"]);
    let out = d.ok(&["edit", "david/1", "dc/1", "changed"]);
    assert!(out.contains(&format!("Edited {david}/1 and {chen}/1")), "{out}");
    assert_eq!(d.json(&["show", "dc"])["messages"][0]["text"], "changed");
    std::fs::write(d.path("note.txt"), "a note").expect("write");
    d.ok(&["attach", "David Chen/2", "note.txt"]);
    assert_eq!(d.json(&["attachments", "--message", "dc/2"]).as_array().map(Vec::len), Some(1));
    d.ok(&["delete", "dc/2"]);
    assert_eq!(d.json(&["show", "dc"])["message_count"], 1);
    fails(d.cmd(&["edit", "dav/1", "x"]).assert(), 1).stderr(contains("matches 3 conversations"));
    fails(d.cmd(&["edit", "david/1", "dc/1"]).assert(), 1).stderr(contains("names a message"));
    fails(d.cmd(&["edit", "david/x", "x"]).assert(), 1).stderr(contains("conversation/seq"));

    // The table lists the external ids.
    let table = d.ok(&["convs"]);
    let header = table.lines().next().expect("header");
    assert!(header.contains("external id"), "{table}");
    let row = table.lines().find(|l| l.contains("David Chen")).expect("row");
    assert!(row.split_whitespace().any(|w| w == "dc"), "{table}");
}

#[test]
fn a_duplicate_external_id_is_reported_and_stores_nothing() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Alice", "--external-id", "alice"]);
    let out = d.ok(&["send", "alice", "hello", "--external-id", "srv-1"]);
    assert_eq!(out.trim(), "Sent 1/1.");
    let out = d.ok(&["send", "alice", "hello again", "--external-id", "srv-1"]);
    assert!(!out.contains("Sent"), "{out}");
    assert!(out.contains("duplicate") && out.contains("nothing was sent") && out.contains("1/1"), "{out}");
    let v = d.json(&["send", "alice", "hello again", "--external-id", "srv-1"]);
    assert_eq!((v["stored"].clone(), v["duplicate_of"].clone()), (json!(false), json!("1/1")));
    let page = d.json(&["show", "alice"]);
    assert_eq!(page["message_count"], 1);
    assert_eq!(page["messages"][0]["text"], "hello");
    // A newer message, then the id of a deleted message: still nothing stored.
    d.ok(&["send", "alice", "second", "--external-id", "srv-2"]);
    d.ok(&["delete", "alice/2"]);
    let out = d.ok(&["send", "alice", "second again", "--external-id", "srv-2"]);
    assert!(out.contains("duplicate") && out.contains("1/2"), "{out}");
    assert_eq!(d.json(&["show", "alice"])["message_count"], 1);
    // A new id is sent.
    assert_eq!(d.ok(&["send", "alice", "third", "--external-id", "srv-3"]).trim(), "Sent 1/3.");

    // A message that expires at once (retention 0) was still stored: not a
    // duplicate, with or without an external id.
    d.ok(&["new", "Gone", "--retention", "0"]);
    let out = d.ok(&["send", "gone", "hi"]);
    assert!(
        out.contains("Sent 2/1") && out.contains("expired at once") && !out.contains("Not stored"),
        "{out}"
    );
    let v = d.json(&["send", "gone", "hi again"]);
    assert_eq!(v, json!({ "stored": true, "id": "2/2", "expired": true }));
    let out = d.ok(&["send", "gone", "x", "--external-id", "e-1"]);
    assert!(out.contains("Sent 2/3") && !out.contains("Not stored"), "{out}");
    let out = d.ok(&["send", "gone", "x again", "--external-id", "e-1"]);
    assert!(out.contains("Not stored") && out.contains("\"e-1\" (2/3)"), "{out}");
    let v = d.json(&["send", "gone", "x again", "--external-id", "e-1"]);
    assert_eq!(v, json!({ "stored": false, "duplicate_of": "2/3", "external_id": "e-1" }));
}

#[test]
fn passwd_with_a_new_key_file_keeps_it_there_and_says_how_to_name_it() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Alice"]);
    std::fs::copy(d.path("demo.chatvault.key"), d.path("old.key")).expect("copy");
    std::fs::create_dir(d.path("safe")).expect("mkdir");
    let out = d.ok(&["passwd", "--new-key-file", "safe/new.key"]);
    // Not copied beside the store: the old key file there is removed, and
    // the output says how later commands must name the new one.
    assert!(!d.path("demo.chatvault.key").exists(), "{out}");
    assert!(!d.path("demo.chatvault.key.new").exists(), "{out}");
    assert!(out.contains("only in safe/new.key"), "{out}");
    assert!(out.contains("`chatvault --key-file safe/new.key convs`"), "{out}");
    assert!(out.contains("old key file demo.chatvault.key was removed"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&d.path("safe/new.key")), 0o600);
    fails(d.cmd(&["convs"]).assert(), 1).stderr(contains("no key"));
    fails(d.cmd(&["--key-file", "old.key", "convs"]).assert(), 2);
    assert_eq!(d.json(&["--key-file", "safe/new.key", "convs"]).as_array().map(Vec::len), Some(1));

    // A key file of hex characters, named in the JSON too.
    let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    std::fs::write(d.path("hex.key"), hex).expect("write");
    let v = d.json(&["--key-file", "safe/new.key", "passwd", "--new-key-file", "hex.key"]);
    assert_eq!((v["key_file"].clone(), v["old_key_file_removed"].clone()), (json!("hex.key"), json!(false)));
    d.ok(&["--key-file", "hex.key", "convs"]);
    assert_eq!(std::fs::read_to_string(d.path("hex.key")).expect("kept"), hex, "left as it was");

    // And with --rotate.
    let out = d.ok(&["--key-file", "hex.key", "passwd", "--rotate", "--new-key-file", "rotated.key"]);
    assert!(out.contains("--key-file rotated.key compact"), "{out}");
    d.ok(&["--key-file", "rotated.key", "convs"]);
    d.ok(&["--key-file", "rotated.key", "compact"]);
}

#[test]
fn passwd_never_removes_the_file_that_holds_the_new_key() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Alice"]);
    let key = std::fs::read(d.path("demo.chatvault.key")).expect("key");
    // The path the "interrupted passwd" hint names, where passwd draws its
    // own keys: refused before anything changes, or the key written there
    // would be removed with the old one.
    for new in ["demo.chatvault.key.new", "./demo.chatvault.key.new"] {
        for rotate in [&[][..], &["--rotate"]] {
            let args = [&["passwd", "--new-key-file", new][..], rotate].concat();
            fails(d.cmd(&args).assert(), 1).stderr(contains("keep the new key in another file"));
            assert!(!d.path("demo.chatvault.key.new").exists(), "{new}: no key drawn");
            assert_eq!(std::fs::read(d.path("demo.chatvault.key")).expect("key"), key, "{new}");
            assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(1), "{new}: opens as before");
        }
    }
    // The key file beside the store, under other spellings, as the new key:
    // it stays (the old key file beside the store is removed only when it
    // is not the new key's).
    #[cfg(unix)]
    std::os::unix::fs::symlink("demo.chatvault.key", d.path("link.key")).expect("symlink");
    for new in ["./demo.chatvault.key", "link.key"].into_iter().take(if cfg!(unix) { 2 } else { 1 }) {
        d.ok(&["passwd", "--new-key-file", new]);
        assert_eq!(std::fs::read(d.path("demo.chatvault.key")).expect("key stays"), key, "{new}");
        assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(1), "{new}");
    }
    // From another key, a new key file drawn beside the store is where later
    // commands find it.
    std::fs::rename(d.path("demo.chatvault.key"), d.path("moved.key")).expect("move");
    let out = d.ok(&["--key-file", "moved.key", "passwd", "--new-key-file", "demo.chatvault.key"]);
    assert!(!out.contains("must name it"), "{out}");
    assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(1));
    fails(d.cmd(&["--key-file", "moved.key", "convs"]).assert(), 2);
}

#[test]
fn a_key_file_that_cannot_be_written_is_not_left_half_written() {
    // A file size limit of 0 (with SIGXFSZ ignored, so the write fails with
    // EFBIG instead of killing the process): the key file is created, but
    // its bytes cannot be written.
    let d = Dir::new();
    let out = std::process::Command::new("sh")
        .current_dir(d.0.path())
        .env_remove("CHATVAULT_PASSPHRASE")
        .args(["-c", "trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\""])
        .arg(binary())
        .args(["--store", "s.cv", "--key-file", "s.key", "init"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write key file s.key"), "{out:?}");
    assert!(!d.path("s.key").exists(), "no empty key file left behind");
    // So a later run (with room to write) draws a key instead of failing on
    // a file that holds none.
    d.ok(&["--store", "s.cv", "--key-file", "s.key", "init"]);
    assert_eq!(std::fs::read(d.path("s.key")).expect("key").len(), 32);
}

#[test]
fn a_number_or_the_start_of_a_title_never_names_a_conversation_to_destroy() {
    let d = Dir::new();
    d.ok(&["init"]);
    let gone = d.json(&["new", "Gone"])["id"].as_u64().expect("id");
    let wonders = d.json(&["new", "7 Wonders"])["id"].as_u64().expect("id");
    let alpha = d.json(&["new", "Alpha"])["id"].as_u64().expect("id");
    d.ok(&["delete", "Gone", "--yes"]);
    let convs = || d.json(&["convs"]).as_array().map_or(0, Vec::len);
    // A number that is no conversation's id is not the start of a title.
    let missing = gone.to_string();
    fails(d.cmd(&["delete", &missing, "--yes"]).assert(), 1).stderr(contains(format!("title:{missing}")));
    fails(d.cmd(&["show", &missing]).assert(), 1);
    fails(d.cmd(&["delete", "7", "--yes"]).assert(), 1).stderr(contains("title:7"));
    assert_eq!(d.json(&["show", "title:7"])["id"].as_u64(), Some(wonders));
    // Commands that destroy take whole names only.
    assert_eq!(d.json(&["show", "7 won"])["id"].as_u64(), Some(wonders));
    fails(d.cmd(&["delete", "7 won", "--yes"]).assert(), 1).stderr(contains("no conversation"));
    fails(d.cmd(&["delete", "title:7 won", "--yes"]).assert(), 1).stderr(contains("no conversation"));
    fails(d.cmd(&["rotate", "--conversation", "alp"]).assert(), 1).stderr(contains("no conversation"));
    fails(d.cmd(&["clear-media", "--conversation", "alp", "--yes"]).assert(), 1)
        .stderr(contains("no conversation"));
    assert_eq!(convs(), 2, "nothing deleted");

    // An id that is another conversation's title, and an external id that
    // is another's title: both named, with how to write each.
    let titled = d.json(&["new", &alpha.to_string()])["id"].as_u64().expect("id");
    let ext = d.json(&["new", "Zed", "--external-id", "team"])["id"].as_u64().expect("id");
    let team = d.json(&["new", "Team"])["id"].as_u64().expect("id");
    for cmd in [&["show"][..], &["delete", "--yes"]] {
        let a = fails(d.cmd(&[cmd, &[&alpha.to_string()]].concat()).assert(), 1);
        a.stderr(contains(format!("id:{alpha}")).and(contains(format!("title:{alpha}"))));
        let a = fails(d.cmd(&[cmd, &["team"]].concat()).assert(), 1);
        a.stderr(contains("ext:team").and(contains("title:team")).and(contains("2 conversations")));
    }
    assert_eq!(convs(), 5, "nothing deleted");
    assert_eq!(d.json(&["show", &format!("title:{alpha}")])["id"].as_u64(), Some(titled));
    assert_eq!(d.json(&["show", "ext:team"])["id"].as_u64(), Some(ext));
    assert_eq!(d.json(&["show", "title:team"])["id"].as_u64(), Some(team));

    // What was destroyed is said, with --yes too.
    let out = d.ok(&["rotate", "--conversation", "Alpha"]);
    assert!(out.contains(&format!("Conversation {alpha} \"Alpha\"")), "{out}");
    let out = d.ok(&["clear-media", "--conversation", "title:team", "--yes"]);
    assert!(out.contains(&format!("conversation {team} \"Team\"")), "{out}");
    let out = d.ok(&["delete", "Alpha", "--yes"]);
    assert!(out.contains(&format!("Deleted conversation {alpha} \"Alpha\"")), "{out}");
    let v = d.json(&["delete", "title:team", "--yes"]);
    assert_eq!((v["deleted"].as_u64(), v["title"].clone()), (Some(team), json!("Team")));
    let a = fails(d.cmd(&["delete", "Zed"]).assert(), 1);
    a.stderr(contains(format!("conversation {ext} \"Zed\"")).and(contains("--yes")));
}

#[test]
fn a_title_with_a_slash_is_not_taken_for_a_message() {
    let d = Dir::new();
    d.ok(&["init"]);
    let plans = d.json(&["new", "Plans 2024"])["id"].as_u64().expect("id");
    for i in 1..=6 {
        d.ok(&["send", "Plans 2024", &format!("message {i}")]);
    }
    let slashed = d.json(&["new", "Plans 2024/5"])["id"].as_u64().expect("id");
    let count = |c: u64| d.json(&["show", &format!("id:{c}")])["message_count"].as_u64();
    // Both a conversation's title and a message: refused, nothing deleted.
    let a = fails(d.cmd(&["delete", "Plans 2024/5", "--yes"]).assert(), 1);
    a.stderr(contains(format!("conversation {slashed}")).and(contains(format!("message {plans}/5"))));
    fails(d.cmd(&["delete", "plans 2024/5", "1/6"]).assert(), 1);
    assert_eq!(count(plans), Some(6));
    // A name with title: (or ext:, id:) in front is a whole conversation's.
    fails(d.cmd(&["delete", "title:Plans 2024/5"]).assert(), 1).stderr(contains("--yes"));
    let out = d.ok(&["delete", "title:Plans 2024/5", "--yes"]);
    assert!(out.contains(&format!("Deleted conversation {slashed} \"Plans 2024/5\"")), "{out}");
    assert_eq!(count(plans), Some(6), "no message deleted");
    // Once the title is gone, the name is the message's alone; the
    // conversation named whole, not by the start of its title.
    fails(d.cmd(&["delete", "plans/4"]).assert(), 1).stderr(contains("no conversation"));
    assert!(d.ok(&["delete", "plans 2024/5"]).contains(&format!("Deleted {plans}/5")));
    assert_eq!(count(plans), Some(5));
    // An external id with a slash is a conversation's too.
    let ext = d.json(&["new", "Slashed", "--external-id", format!("{plans}/6").as_str()])["id"].as_u64();
    fails(d.cmd(&["delete", &format!("{plans}/6")]).assert(), 1).stderr(contains("names both"));
    d.ok(&["delete", &format!("ext:{plans}/6"), "--yes"]);
    assert_eq!(count(plans), Some(5));
    fails(d.cmd(&["show", &format!("id:{}", ext.expect("id"))]).assert(), 1);
}

/// Runs `args` with stdout a pipe that is closed before the command writes,
/// and returns its status and stderr.
fn run_into_a_closed_pipe(d: &Dir, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(binary())
        .current_dir(d.0.path())
        .env_remove("CHATVAULT_STORE")
        .env_remove("CHATVAULT_PASSPHRASE")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait")
}

#[test]
fn a_closed_pipe_still_closes_the_store() {
    let d = Dir::new();
    let wal = d.path("demo.chatvault-wal");
    let out = run_into_a_closed_pipe(&d, &["demo", "--messages", "3000", "--conversations", "25"]);
    assert!(out.status.success(), "{:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "no panic message: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!wal.exists(), "demo | head leaves no write-ahead log behind");
    for args in [&["convs"][..], &["show", "conv-000000", "--limit", "1000"], &["--json", "stats"]] {
        let out = run_into_a_closed_pipe(&d, args);
        assert!(out.status.success() && out.stderr.is_empty(), "{args:?}: {out:?}");
        assert!(!wal.exists(), "{args:?} | head leaves no write-ahead log behind");
    }
    // `save -` writes the attachment's bytes itself, not line by line.
    let id = d.json(&["attachments"])[0]["id"].as_u64().expect("an attachment").to_string();
    let out = run_into_a_closed_pipe(&d, &["save", &id, "-"]);
    assert!(out.status.success() && out.stderr.is_empty(), "save -: {out:?}");
    assert!(!wal.exists(), "save - | head leaves no write-ahead log behind");
    assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(25), "the store opens");
    d.ok(&["verify"]);

    // A closed stderr: the error is lost, but the exit code says what
    // happened (no panic, which exits with 101).
    let mut child = std::process::Command::new(binary())
        .current_dir(d.0.path())
        .env_remove("CHATVAULT_PASSPHRASE")
        .args(["--store", "nothing-here.cv", "convs"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stderr.take());
    assert_eq!(child.wait().expect("wait").code(), Some(1));
}

#[test]
fn exports_never_replace_the_store_files() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Alice"]);
    d.ok(&["send", "alice", "secret"]);
    // Large enough to go to a file beside the store.
    std::fs::write(d.path("video.mp4"), vec![7u8; 3 << 20]).expect("write");
    d.ok(&["attach", "alice/1", "video.mp4"]);
    assert_eq!(d.json(&["stats"])["attachments_in_files"], 1);
    std::fs::write(d.path("other.key"), [9u8; 32]).expect("write");
    std::fs::write(d.path("archive.key"), [8u8; 32]).expect("write");
    std::fs::write(d.path("demo.chatvault.key.new"), [7u8; 32]).expect("write");
    let files =
        ["demo.chatvault", "demo.chatvault.key", "demo.chatvault.key.new", "other.key", "archive.key"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(d.path(f)).expect("file")).collect();
    let blob = std::fs::read_dir(d.path("demo.chatvault-attachments"))
        .expect("attachment files")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("one attachment file");
    let in_attachments = format!("demo.chatvault-attachments/{blob}");
    let blob_bytes = std::fs::read(d.path(&in_attachments)).expect("blob");
    let targets = [
        "demo.chatvault.key",
        "./demo.chatvault.key",
        "demo.chatvault.key.new",
        "demo.chatvault",
        "demo.chatvault-wal",
        "archive.key",
        in_attachments.as_str(),
        "demo.chatvault-attachments/new.jsonl",
    ];
    for target in targets {
        for format in [&["--format", "jsonl", "--plaintext"][..], &["--format", "html", "--plaintext"], &[]] {
            let args = [
                &["--key-file", "demo.chatvault.key", "export", target, "--force"][..],
                &["--archive-key-file", "archive.key"],
                format,
            ]
            .concat();
            fails(d.cmd(&args).assert(), 1).stderr(contains("choose another path"));
        }
    }
    let args = ["export", "--format", "html", "--plaintext", "--force", "demo.chatvault-attachments/"];
    fails(d.cmd(&args).assert(), 1).stderr(contains("attachment files"));
    // With --key-file, that file too.
    let args =
        ["--key-file", "other.key", "export", "other.key", "--format", "jsonl", "--plaintext", "--force"];
    fails(d.cmd(&args).assert(), 1);
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(d.path(f)).expect("file")).collect();
    assert!(before == after, "no store or key file was touched");
    assert_eq!(std::fs::read_dir(d.path("demo.chatvault-attachments")).expect("dir").count(), 1);
    assert!(std::fs::read(d.path(&in_attachments)).expect("blob") == blob_bytes);
    assert_eq!(d.json(&["show", "alice"])["messages"][0]["text"], "secret");
    d.ok(&["verify"]);
}

#[test]
fn an_edited_message_shows_one_edit_marker() {
    let d = Dir::new();
    d.ok(&["demo", "--messages", "20000", "--conversations", "40"]);
    let mut edited = 0;
    for c in d.json(&["convs"]).as_array().expect("array") {
        let id = c["id"].to_string();
        let page = d.json(&["show", &id, "--limit", "100000"]);
        for m in page["messages"].as_array().expect("messages") {
            assert!(!m["text"].as_str().unwrap_or_default().contains("(edited)"), "{m}");
            if m["edited_at"].is_null() {
                continue;
            }
            edited += 1;
            let seq = m["seq"].as_u64().expect("seq");
            let table = d.ok(&["show", &id, "--after", &(seq - 1).to_string(), "--limit", "1"]);
            let line = table.lines().nth(1).expect("the message's line");
            assert_eq!(line.matches("(edited)").count(), 1, "{line}");
        }
    }
    assert!(edited > 0, "the demo has edited messages");
}

/// Words "1 <noun>s" on a line of `out`: a plural after one.
fn one_plural(out: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in out.lines() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || "(),;:".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        found.extend(
            words
                .windows(2)
                .filter(|w| w[0] == "1" && w[1].len() > 3 && w[1].ends_with('s') && !w[1].ends_with("ss"))
                .map(|w| w.join(" ")),
        );
    }
    found
}

#[test]
fn counts_of_one_are_singular_and_hints_name_only_pages_there_are() {
    let d = Dir::new();
    d.ok(&["init"]);
    d.ok(&["new", "Solo", "--external-id", "solo"]);
    d.ok(&["send", "solo", "only message"]);
    std::fs::write(d.path("a.txt"), "attached").expect("write");
    d.ok(&["attach", "solo/1", "a.txt"]);
    let archive = d.path("one.cva");
    let archive = archive.to_str().expect("path");
    let runs: Vec<Vec<&str>> = vec![
        vec!["convs"],
        vec!["show", "solo"],
        vec!["stats"],
        vec!["usage"],
        vec!["attachments"],
        vec!["search", "only"],
        vec!["mark-read", "solo"],
        vec!["verify"],
        vec!["export", archive],
        vec!["inspect", archive],
        vec!["rotate"],
        vec!["compact"],
        vec!["clear-media", "--dry-run"],
    ];
    for args in &runs {
        let out = d.with_archive_passphrase(args).assert().success().get_output().stdout.clone();
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(one_plural(&out).is_empty(), "{args:?}: {:?} in {out}", one_plural(&out));
    }
    assert!(d.ok(&["show", "solo"]).contains("Solo · conversation 1 · 1 message"));
    assert!(one_plural("3 (1 messages)").len() == 1, "the check finds a plural after one");

    // No hint to a page that is not there.
    let out = d.ok(&["show", "solo"]);
    assert!(!out.contains("--before") && !out.contains("--after"), "{out}");
    for i in 2..=6 {
        d.ok(&["send", "solo", &format!("message {i}")]);
    }
    let out = d.ok(&["show", "solo", "--oldest", "--limit", "2"]);
    assert!(out.contains("(newer: --after 2)") && !out.contains("--before"), "{out}");
    let out = d.ok(&["show", "solo", "--limit", "2"]);
    assert!(out.contains("(older: --before 5)") && !out.contains("--after"), "{out}");
    let out = d.ok(&["show", "solo", "--after", "2", "--limit", "2"]);
    assert!(out.contains("(older: --before 3, newer: --after 4)"), "{out}");
}

/// A terminal of 120 × 40 in a tmux server of its own, to drive what needs
/// one (`browse`, the y/N prompt) by its keys. `None` where tmux is not
/// installed (`apt-get install tmux`), except in CI (`CHATVAULT_CI` set),
/// where a missing tmux is a failure: `.ci/run` installs it.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(d: &Dir, command: &str) -> Option<Tmux> {
        let probe = std::process::Command::new("tmux").arg("-V").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var_os("CHATVAULT_CI").is_none(),
                "tmux is not installed, and CI must run the terminal test: apt-get install tmux"
            );
            eprintln!("tmux is not installed: the terminal test is skipped");
            return None;
        }
        // The server's socket in the test's directory: a server of its own,
        // whose socket goes with the directory.
        let socket = d.path("tmux.sock").to_str().expect("UTF-8 path").to_owned();
        let t = Tmux { socket };
        let dir = d.0.path().to_str().expect("UTF-8 path").to_owned();
        // The pane stays after the command ends, so that its last screen
        // can be read.
        let shell = format!("env -u CHATVAULT_STORE -u CHATVAULT_PASSPHRASE TZ=UTC {command}");
        t.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            &dir,
            &shell,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-S", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "0"])
    }

    /// The screen once it shows `what` (within ten seconds).
    fn wait_for(&self, what: &str) -> String {
        let mut screen = String::new();
        for _ in 0..200 {
            screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{what:?} never showed: {screen}");
    }

    /// Whether the command has ended.
    fn dead(&self) -> bool {
        self.run(&["display-message", "-p", "-t", "0", "#{pane_dead}"]).trim() == "1"
    }

    /// Whether the command ends (within ten seconds).
    fn ended(&self) -> bool {
        for _ in 0..200 {
            if self.dead() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").args(["-S", &self.socket, "kill-server"]).output();
    }
}

#[test]
fn browse_and_the_prompt_in_a_real_terminal() {
    let d = Dir::new();
    d.demo();
    let bin = binary().to_str().expect("UTF-8 path").to_owned();
    let Some(t) = Tmux::start(&d, &format!("{bin} browse")) else { return };
    t.wait_for("Conversations (25)");
    // Esc in the list does not quit; ? shows the keys, any key closes them.
    t.keys(&["Escape"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!t.dead(), "Esc quit: {}", t.screen());
    t.keys(&["?"]);
    t.wait_for("Keys (any key closes)");
    t.keys(&["x"]);
    t.keys(&["Enter"]);
    let screen = t.wait_for(" on screen · ");
    assert!(!screen.contains("Keys (any key closes)") && screen.contains("message "), "{screen}");
    t.keys(&["q"]);
    assert!(t.ended(), "q quits: {}", t.screen());
    assert!(!d.path("demo.chatvault-wal").exists(), "browse closed the store");
    drop(t);

    // The y/N prompt: no (the default) deletes nothing, y deletes.
    let Some(t) = Tmux::start(&d, &format!("{bin} delete conv-000001")) else { return };
    t.wait_for("[y/N]");
    t.keys(&["n", "Enter"]);
    t.wait_for("nothing deleted");
    drop(t);
    assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(25));
    let Some(t) = Tmux::start(&d, &format!("{bin} delete conv-000001")) else { return };
    t.wait_for("[y/N]");
    t.keys(&["y", "Enter"]);
    t.wait_for("Deleted conversation");
    drop(t);
    assert_eq!(d.json(&["convs"]).as_array().map(Vec::len), Some(24));
}
