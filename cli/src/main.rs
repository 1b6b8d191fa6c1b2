//! The `chatvault` command: build a demo store, browse it, and run every
//! operation of the library from a terminal.
//!
//! ```text
//! cargo run --release -p chatvault-cli -- demo     # builds ./demo.chatvault
//! cargo run --release -p chatvault-cli -- browse   # an interactive browser
//! cargo run --release -p chatvault-cli -- --help   # every subcommand
//! cargo install --path cli                         # installs it as `chatvault`
//! ```
//!
//! `--help` documents where the store and its key come from, and the exit
//! codes (0 success, 1 user error, 2 data error). Every subcommand prints a
//! human table, or JSON with `--json`.

/// `println!` for command output: after a closed pipe, the rest is dropped
/// quietly (see [`output::emit`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
    };
}

/// `eprintln!` that does not panic when stderr is closed (see
/// [`output::warn`]).
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::output::warn(format_args!($($arg)*))
    };
}

mod archive;
mod attachments;
mod browse;
mod cli;
mod demo;
mod edit;
mod failure;
mod keys;
mod maintain;
mod names;
mod output;
mod progress;
mod read;
mod search;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chatvault::{ConversationId, Error as StoreError, MessageId, Store};
use clap::Parser;
use clap::error::ErrorKind;
use jiff::tz::TimeZone;

use cli::{Cli, Command};
use failure::{CliResult, Failure, USER_ERROR};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(USER_ERROR),
            };
        }
    };
    // The command runs to its end even if its output stopped (a closed
    // pipe), so that the store it opened is closed as usual.
    let result = run(cli);
    let result = match output::write_error() {
        Some(e) if result.is_ok() => Err(Failure::user(format!("cannot write the output: {e}"))),
        _ => result,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            warn!("chatvault: {f}");
            ExitCode::from(f.code)
        }
    }
}

/// What every command needs: where the store is, how to open it, how to print.
pub struct Ctx {
    pub store_path: PathBuf,
    pub key_file: Option<PathBuf>,
    pub json: bool,
    pub tz: TimeZone,
}

impl Ctx {
    /// Opens the existing store with the first key source that is there.
    pub fn open(&self) -> CliResult<Store> {
        self.open_with_source().map(|(store, _)| store)
    }

    /// Opens the store, and says which key source opened it.
    pub fn open_with_source(&self) -> CliResult<(Store, keys::Source)> {
        let path = &self.store_path;
        if !path.exists() {
            return Err(Failure::user(format!(
                "no chatvault store at {}: build one with `chatvault demo` or `chatvault init`, or pass --store",
                path.display()
            )));
        }
        let (key, source) = keys::for_store(path, self.key_file.as_deref())?;
        match Store::open(path, key) {
            Ok(store) => Ok((store, source)),
            Err(e) => {
                let wrong_key = matches!(e, StoreError::WrongKey);
                let mut failure = Failure::from(e).hint(source);
                let pending = keys::pending(path);
                if wrong_key && pending.exists() {
                    failure = failure.hint(format_args!(
                        "an interrupted passwd left a new key in {}: try --key-file {0}",
                        pending.display()
                    ));
                }
                Err(failure)
            }
        }
    }

    /// A conversation named by its id, external id or title, or the start
    /// of a title ([`names::conversation`]).
    pub fn conversation(&self, store: &Store, name: &str) -> CliResult<ConversationId> {
        names::conversation(store, name, names::Match::Prefix)
    }

    /// A conversation named by its whole id, external id or title, for a
    /// command that destroys ([`names::conversation`]).
    pub fn conversation_exact(&self, store: &Store, name: &str) -> CliResult<ConversationId> {
        names::conversation(store, name, names::Match::Exact)
    }

    /// A message named as `<conversation>/<seq>`, the conversation by its
    /// id, external id or title ([`names::message`]).
    pub fn message(&self, store: &Store, name: &str) -> CliResult<MessageId> {
        names::message(store, name, names::Match::Prefix)
    }
}

/// A message named by numbers alone, as `conversation/seq` (a search
/// cursor's).
pub fn message_id(s: &str) -> CliResult<MessageId> {
    s.parse()
        .map_err(|_| Failure::user(format!("{s:?} is not a message: write conversation/seq, e.g. 3/120")))
}

fn run(cli: Cli) -> CliResult<()> {
    let ctx = Ctx {
        store_path: cli.store.clone(),
        key_file: cli.key_file.clone(),
        json: cli.json,
        tz: TimeZone::system(),
    };
    match cli.command {
        Command::Init { passphrase } => edit::init(&ctx, passphrase),
        Command::Demo(args) => demo::run(&ctx, &args),
        Command::Convs { limit } => read::convs(&ctx, &ctx.open()?, limit),
        Command::Show { conversation, limit, before, after, oldest } => {
            read::show(&ctx, &conversation, read::Window { limit, before, after, oldest })
        }
        Command::Search(args) => search::run(&ctx, &args),
        Command::New { title, external_id, members, retention } => {
            edit::new_conversation(&ctx, title, external_id, members, retention)
        }
        Command::Send { conversation, text, sender, reply_to, external_id } => {
            edit::send(&ctx, &conversation, text, sender, reply_to, external_id)
        }
        Command::MarkRead { conversation, up_to } => edit::mark_read(&ctx, &conversation, up_to),
        Command::Edit { messages, text } => edit::edit(&ctx, &messages, &text),
        Command::Delete { targets, yes } => edit::delete(&ctx, &targets, yes),
        Command::Attach { message, file, media_type, name } => {
            attachments::attach(&ctx, &message, &file, media_type, name)
        }
        Command::Attachments(args) => attachments::list(&ctx, &args),
        Command::Save { id, output, force } => attachments::save(&ctx, id, output.as_deref(), force),
        Command::Usage { limit } => attachments::usage(&ctx, limit),
        Command::ClearMedia(args) => attachments::clear_media(&ctx, &args),
        Command::DeleteAttachment { id } => attachments::delete(&ctx, id),
        Command::Export(args) => archive::export(&ctx, &args),
        Command::Import(args) => archive::import(&ctx, &args),
        Command::Inspect(args) => archive::inspect(&ctx, &args),
        Command::Compact { time_budget } => maintain::compact(&ctx, time_budget),
        Command::Verify => maintain::verify(&ctx),
        Command::Stats => maintain::stats(&ctx),
        Command::Passwd(args) => maintain::passwd(&ctx, &args),
        Command::Rotate { conversation } => maintain::rotate(&ctx, conversation.as_deref()),
        Command::Vacuum => maintain::vacuum(&ctx),
        Command::Browse => {
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                return Err(Failure::user(
                    "browse needs a terminal: run it in one, or use `convs` and `show`",
                ));
            }
            browse::run(&ctx.open()?, ctx.tz.clone())
        }
    }
}

/// Asks a yes/no question in the terminal (on stderr), answered with y or
/// n and Enter; no is the default, and Esc or q is no too.
pub fn confirm(question: &str) -> CliResult<bool> {
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .wait_for_newline(true)
        .interact_on_opt(&dialoguer::console::Term::stderr())
        .map(|answer| answer == Some(true))
        .map_err(|e| Failure::user(format!("cannot read the answer: {e}")))
}

/// Removes the store's files (database, WAL, shared memory, and the
/// directory of attachment files beside it) if present. A directory of
/// attachments holding anything but attachment files (32 hex digits) is
/// left alone, and nothing is removed.
pub fn remove_store_files(path: &Path) -> CliResult<()> {
    let mut dir = path.as_os_str().to_owned();
    dir.push("-attachments");
    let dir = PathBuf::from(dir);
    let cannot = |p: &Path, e: std::io::Error| Failure::user(format!("cannot remove {}: {e}", p.display()));
    let blobs = match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut blobs = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| cannot(&dir, e))?;
                let name = entry.file_name();
                let is_blob = name.to_str().is_some_and(|n| {
                    n.len() == 32 && n.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                });
                if !is_blob {
                    return Err(Failure::user(format!(
                        "{} holds {:?}, which is not an attachment file: remove it yourself",
                        dir.display(),
                        name
                    )));
                }
                blobs.push(entry.path());
            }
            Some(blobs)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(cannot(&dir, e)),
    };
    if let Some(blobs) = blobs {
        for b in blobs {
            std::fs::remove_file(&b).map_err(|e| cannot(&b, e))?;
        }
        std::fs::remove_dir(&dir).map_err(|e| cannot(&dir, e))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::user(format!("cannot remove {}: {e}", Path::new(&p).display()))),
        }
    }
    Ok(())
}
