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

/// `println!` for command output: a closed pipe ends the program quietly
/// (see [`output::emit`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
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

use cli::{Cli, Command, DEFAULT_STORE};
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("chatvault: {f}");
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

    /// A conversation named by its id (as `convs` lists it) or its external
    /// id; `id:N` and `ext:NAME` say which. A number that is both one
    /// conversation's id and another's external id is refused as ambiguous.
    pub fn conversation(&self, store: &Store, name: &str) -> CliResult<ConversationId> {
        let missing =
            || Failure::user(format!("no conversation {name:?} in this store (list them with `convs`)"));
        let by_id = |n: u64| -> CliResult<Option<ConversationId>> {
            let c = ConversationId::from_raw(n);
            match store.conversation(c) {
                Ok(_) => Ok(Some(c)),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        if let Some(ext) = name.strip_prefix("ext:") {
            return store.find_conversation(ext)?.ok_or_else(missing);
        }
        if let Some(id) = name.strip_prefix("id:") {
            let n = id.parse().map_err(|_| Failure::user(format!("{name:?}: id: takes a number")))?;
            return by_id(n)?.ok_or_else(missing);
        }
        let by_ext = store.find_conversation(name)?;
        let Ok(n) = name.parse::<u64>() else {
            return by_ext.ok_or_else(missing);
        };
        match (by_id(n)?, by_ext) {
            (Some(a), Some(b)) if a != b => Err(Failure::user(format!(
                "{name:?} is conversation {a}'s id and conversation {b}'s external id: write id:{name} or ext:{name}"
            ))),
            (Some(c), _) | (None, Some(c)) => Ok(c),
            (None, None) => Err(missing()),
        }
    }
}

/// A message named as `conversation/seq`.
pub fn message_id(s: &str) -> CliResult<MessageId> {
    s.parse()
        .map_err(|_| Failure::user(format!("{s:?} is not a message: write conversation/seq, e.g. 3/120")))
}

fn store_path(cli: &Cli) -> PathBuf {
    cli.store
        .clone()
        .or_else(|| std::env::var_os("CHATVAULT_STORE").filter(|s| !s.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
}

fn run(cli: Cli) -> CliResult<()> {
    let ctx = Ctx {
        store_path: store_path(&cli),
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

/// Asks a yes/no question on stderr; anything but `y`/`yes` is no.
pub fn confirm(question: &str) -> CliResult<bool> {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
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
