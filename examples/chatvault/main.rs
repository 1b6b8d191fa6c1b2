//! The chatvault example CLI.
//!
//! `demo` builds a demo store of multilingual conversations; `convs` lists a
//! store's conversations; `show` prints a page of one conversation.
//!
//! ```text
//! cargo run --release --example chatvault -- demo
//! cargo run --release --example chatvault -- convs
//! cargo run --release --example chatvault -- show 3 --limit 20
//! ```
//!
//! The store is `--store PATH`, or `$CHATVAULT_STORE`, or `demo.chatvault`
//! in the current directory. Its key is read from `--key-file`, or from the
//! key file `demo` writes beside the store (`<store>.key`, 32 random bytes,
//! mode 0600).

mod demo;
mod keyfile;

use std::path::PathBuf;
use std::process::ExitCode;

use chatvault::{ConversationId, MessageId, Page, Store};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "chatvault", about = "Browse and build encrypted chatvault message stores")]
struct Cli {
    /// The store file [env: CHATVAULT_STORE] [default: demo.chatvault]
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// A file holding the 32-byte key (raw, or 64 hex characters)
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo store of multilingual conversations and list them
    Demo {
        /// Number of messages
        #[arg(long, default_value_t = 3000)]
        messages: usize,
        /// Number of conversations
        #[arg(long, default_value_t = 12)]
        conversations: usize,
        /// Seed of the generated content
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Replace a store that is already at the path
        #[arg(long)]
        force: bool,
    },
    /// List conversations, most recently active first
    Convs,
    /// Print messages of a conversation, oldest first
    Show {
        /// Conversation id (as listed by `convs`)
        conversation: u64,
        /// Messages to print
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only messages before this sequence number
        #[arg(long)]
        before: Option<u64>,
        /// Only messages after this sequence number
        #[arg(long)]
        after: Option<u64>,
    },
}

const DEFAULT_STORE: &str = "demo.chatvault";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatvault: {e}");
            let data_error = matches!(
                e.downcast_ref::<chatvault::Error>(),
                Some(
                    chatvault::Error::WrongKey
                        | chatvault::Error::Authentication { .. }
                        | chatvault::Error::Corrupt { .. }
                )
            );
            ExitCode::from(if data_error { 2 } else { 1 })
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn store_path(cli: &Cli) -> PathBuf {
    cli.store
        .clone()
        .or_else(|| std::env::var_os("CHATVAULT_STORE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
}

fn run(cli: Cli) -> AnyResult<()> {
    let path = store_path(&cli);
    match cli.command {
        Command::Demo { messages, conversations, seed, force } => {
            let store = demo::build(&path, conversations, messages, seed, force)?;
            print_conversations(&store)?;
            println!();
            println!("Browse it:");
            println!("  cargo run --release --example chatvault -- convs");
            println!("  cargo run --release --example chatvault -- show <conversation id>");
            Ok(())
        }
        Command::Convs => print_conversations(&open(&path, cli.key_file.as_deref())?),
        Command::Show { conversation, limit, before, after } => {
            let store = open(&path, cli.key_file.as_deref())?;
            let c = ConversationId::from_raw(conversation);
            let page = match (before, after) {
                (Some(b), _) => Page::before(MessageId::new(c, b), limit),
                (None, Some(a)) => Page::after(MessageId::new(c, a), limit),
                (None, None) => Page::latest(limit),
            };
            let info = store.conversation(c)?;
            println!("{} ({} messages)", info.title, info.message_count);
            for m in store.messages(c, page)? {
                let edited = if m.edited_at_ms.is_some() { " (edited)" } else { "" };
                let reply = m.reply_to.map(|r| format!(" ↩{}", r.seq())).unwrap_or_default();
                println!("{:>6}  {:<10} {}{reply}{edited}", m.id.seq(), m.sender, m.text);
            }
            Ok(())
        }
    }
}

fn open(path: &std::path::Path, key_file: Option<&std::path::Path>) -> AnyResult<Store> {
    let key = keyfile::load(path, key_file)?;
    Ok(Store::open(path, key)?)
}

fn print_conversations(store: &Store) -> AnyResult<()> {
    let list = store.conversations()?;
    println!("{:>4}  {:<24} {:>8} {:>7}  last message", "id", "title", "messages", "unread");
    for s in &list {
        let c = &s.conversation;
        let last = s
            .last_message
            .as_ref()
            .map(|m| format!("{}: {}", m.sender, truncate(&m.text, 40)))
            .unwrap_or_default();
        println!(
            "{:>4}  {:<24} {:>8} {:>7}  {last}",
            c.id.get(),
            truncate(&c.title, 24),
            c.message_count,
            s.unread_count
        );
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
