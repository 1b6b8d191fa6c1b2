//! `chatvault export` of plaintext run as a process: it never writes over an
//! existing file unless `--force`, takes its format from the file name when
//! `--format` is not given (and says so when they disagree), writes an index
//! page for several conversations, and its JSON Lines hold messages in
//! exactly the JSON shape `show --json` prints (docs/EXPORT.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// A scratch directory with a small demo store, the CLI run in it with none
/// of the caller's chatvault settings.
struct Dir(TempDir);

impl Dir {
    fn with_demo() -> Self {
        let d = Dir(tempfile::tempdir().expect("temp dir"));
        d.ok(&["demo", "--messages", "2000", "--conversations", "6"]);
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(Path::new(env!("CARGO_BIN_EXE_chatvault")));
        c.current_dir(self.0.path())
            .env_remove("CHATVAULT_STORE")
            .env_remove("CHATVAULT_PASSPHRASE")
            .env_remove("CHATVAULT_ARCHIVE_PASSPHRASE")
            .env("TZ", "UTC")
            .args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).assert().success().get_output().stdout.clone();
        String::from_utf8(out).expect("UTF-8 output")
    }

    /// Runs and expects exit code 1 (a user error); its stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.cmd(args).assert().failure().code(1).get_output().stderr.clone();
        let err = String::from_utf8(out).expect("UTF-8 stderr");
        assert!(err.starts_with("chatvault: ") && !err.contains("panicked"), "{err}");
        err
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("a file")
    }

    fn names(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(dir))
            .expect("a directory")
            .map(|e| e.expect("an entry").file_name().into_string().expect("UTF-8 name"))
            .collect();
        names.sort();
        names
    }
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn a_plaintext_export_never_writes_over_a_file_unless_forced() {
    let d = Dir::with_demo();
    for (name, extra) in [("notes.jsonl", None), ("page.html", Some("1")), ("notes.txt", None)] {
        std::fs::write(d.path(name), "precious\n").unwrap();
        let mut args = vec!["export", name, "--plaintext"];
        if name.ends_with(".txt") {
            args.extend(["--format", "jsonl"]);
        }
        if let Some(c) = extra {
            args.extend(["--conversation", c]);
        }
        let before = d.names(".");
        let err = d.refused(&args);
        assert!(err.contains("already exists") && err.contains("--force"), "{err}");
        assert_eq!(d.read(name), "precious\n", "{name} is unchanged");
        // Nothing beside it either: no attachment directory, no temporary file.
        assert_eq!(d.names("."), before);

        args.push("--force");
        d.ok(&args);
        let now = d.read(name);
        assert_ne!(now, "precious\n");
        if name.ends_with(".html") {
            assert!(now.starts_with("<!DOCTYPE html>"));
        } else {
            assert!(jsonl(&now).len() > 1);
        }
    }
    // Into a directory: an existing index is kept unless --force.
    std::fs::create_dir(d.path("site")).unwrap();
    std::fs::write(d.path("site/index.html"), "mine").unwrap();
    let err = d.refused(&["export", "site/", "--format", "html", "--plaintext"]);
    assert!(err.contains("index.html already exists"), "{err}");
    assert_eq!(d.read("site/index.html"), "mine");
    assert_eq!(d.names("site"), ["index.html"]);
    d.ok(&["export", "site/", "--format", "html", "--plaintext", "--force"]);
    assert!(d.read("site/index.html").contains("Exported conversations"));
}

#[test]
fn the_format_comes_from_the_file_name() {
    let d = Dir::with_demo();
    for name in ["a.jsonl", "b.JSON"] {
        d.ok(&["export", name, "--plaintext"]);
        let lines = jsonl(&d.read(name));
        assert_eq!(lines[0]["type"], "conversation", "{name}");
        assert!(lines.iter().filter(|l| l["type"] == "message").count() >= 1900, "{name}");
    }
    for name in ["c.html", "d.htm"] {
        d.ok(&["export", name, "--plaintext", "--conversation", "2"]);
        assert!(d.read(name).starts_with("<!DOCTYPE html>"), "{name}");
    }
    // The inferred plaintext format still needs --plaintext, and says why.
    let err = d.refused(&["export", "e.jsonl"]);
    assert!(err.contains("jsonl export (chosen from the file name) is NOT encrypted"), "{err}");
    assert!(!d.path("e.jsonl").exists());
    // --format wins, with a note when the name says otherwise.
    let out = d.cmd(&["export", "f.html", "--plaintext", "--format", "jsonl"]).assert().success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("note: writing JSON Lines (--format) to f.html, whose name says HTML"), "{err}");
    assert_eq!(jsonl(&d.read("f.html"))[0]["type"], "conversation");
    let out = d.cmd(&["export", "g.jsonl", "--format", "jsonl", "--plaintext"]).assert().success();
    assert!(out.get_output().stderr.is_empty(), "no note when they agree");
    // Any other name: an encrypted archive, as before.
    d.cmd(&["export", "h.backup"]).env("CHATVAULT_ARCHIVE_PASSPHRASE", "pass").assert().success();
    d.cmd(&["inspect", "h.backup"]).env("CHATVAULT_ARCHIVE_PASSPHRASE", "pass").assert().success();
}

#[test]
fn several_conversations_go_to_a_directory_with_an_index() {
    let d = Dir::with_demo();
    // A single file cannot hold several conversations.
    let err = d.refused(&["export", "two.html", "--plaintext", "--conversation", "1", "--conversation", "2"]);
    assert!(err.contains("directory") && err.contains("index"), "{err}");
    assert!(!d.path("two.html").exists());

    let out = d
        .cmd(&[
            "--json",
            "export",
            "two/",
            "--plaintext",
            "--format",
            "html",
            "--conversation",
            "3",
            "--conversation",
            "1",
        ])
        .env("TZ", "Europe/Paris")
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["file"], "two/index.html");
    assert_eq!(report["encrypted"], false);
    let index = d.read("two/index.html");
    let links: Vec<&str> = index
        .match_indices("<li><a href=\"")
        .map(|(i, m)| {
            let rest = &index[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(links, ["conversation-3.html", "conversation-1.html"]);
    let files: Vec<&str> = report["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(files[0], "two/index.html");
    for link in &links {
        let page = d.read(&format!("two/{link}"));
        assert!(files.contains(&format!("two/{link}").as_str()));
        assert!(page.contains("<a class=\"index\" href=\"index.html\">"), "{link} links the index");
        // Local time, its zone named: Paris is CET or CEST.
        assert!(
            page.contains(" (UTC+01:00)</span></h2>") || page.contains(" (UTC+02:00)</span></h2>"),
            "{link}"
        );
        // The demo's "me" is the user: told apart.
        assert!(page.contains("<li class=\"msg me\""), "{link}");
    }

    // No --conversation: every one.
    d.ok(&["export", "all/", "--plaintext", "--format", "html"]);
    let index = d.read("all/index.html");
    assert_eq!(index.matches("<li><a href=\"conversation-").count(), 6);
    for c in 1..=6 {
        assert!(d.path(&format!("all/conversation-{c}.html")).is_file());
    }
}

#[test]
fn a_message_has_one_json_shape_in_show_and_in_a_jsonl_export() {
    let d = Dir::with_demo();
    // A message with every optional field: a reply, edited, an external id,
    // an attachment.
    d.ok(&["send", "1", "first <b>\"quoted\"</b>\n", "--external-id", "srv-1"]);
    let sent: Value =
        serde_json::from_str(&d.ok(&["--json", "send", "1", "a reply", "--reply-to", "1"])).unwrap();
    let seq = sent["seq"].as_u64().unwrap();
    d.ok(&["edit", &format!("1/{seq}"), "an edited reply"]);
    std::fs::write(d.path("photo.png"), b"not really a png").unwrap();
    d.ok(&["attach", &format!("1/{seq}"), "photo.png", "--media-type", "image/png"]);

    let shown: Value = serde_json::from_str(&d.ok(&["--json", "show", "1", "--limit", "500"])).unwrap();
    d.ok(&["export", "one.jsonl", "--plaintext", "--conversation", "1"]);
    let lines = jsonl(&d.read("one.jsonl"));
    let by_id: BTreeMap<&str, &Value> =
        lines.iter().filter(|l| l["type"] == "message").map(|l| (l["id"].as_str().unwrap(), l)).collect();

    let messages = shown["messages"].as_array().unwrap();
    assert!(messages.len() >= 50);
    for m in messages {
        let line = by_id[m["id"].as_str().unwrap()];
        // The same keys, the same values: one shape, one time format.
        assert_eq!(m, line);
    }
    let ours = messages.iter().find(|m| m["seq"] == seq).unwrap();
    assert_eq!(ours["reply_to"], "1/1");
    assert_eq!(ours["text"], "an edited reply");
    assert_eq!(ours["attachments"][0]["media_type"], "image/png");
    assert_eq!(ours["attachments"][0]["message"], format!("1/{seq}"));
    for key in ["sent_at", "edited_at"] {
        let t = ours[key].as_str().unwrap();
        assert!(t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.', "{key}: {t}");
    }
    assert!(ours["sent_at_ms"].is_i64());
    // The conversation: the same object as its line, plus the page.
    let mut conv = shown.clone();
    conv.as_object_mut().unwrap().remove("messages");
    assert_eq!(&conv, &lines[0]);
    // And the message `send --json` printed is that shape, without the
    // attachments it did not read.
    let keys: Vec<String> = by_id[format!("1/{seq}").as_str()].as_object().unwrap().keys().cloned().collect();
    let sent_keys: Vec<String> = sent.as_object().unwrap().keys().cloned().collect();
    assert_eq!(sent_keys, keys.into_iter().filter(|k| k != "attachments").collect::<Vec<_>>());
}
