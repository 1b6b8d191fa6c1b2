//! The command line: every subcommand and flag, parsed by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The store path used when neither `--store` nor `CHATVAULT_STORE` is set.
pub const DEFAULT_STORE: &str = "demo.chatvault";

/// The sender who is the user: `send`'s default, and the demo's own member.
/// A message from "me" is never unread: sending one marks its conversation
/// read up to it, as chat apps do.
pub const ME: &str = "me";

const KEYS_HELP: &str = "\
Conversations are named by id, external id or title (any case, or the start
of one title): id:N, ext:NAME and title:TEXT say which. Messages are
<conversation>/<seq>, e.g. 3/120 or david/120.

Store path: --store, else $CHATVAULT_STORE, else ./demo.chatvault.

Store key, the first of:
  1. --key-file PATH          (32 raw bytes, or 64 hex characters)
  2. $CHATVAULT_PASSPHRASE
  3. <store>.key              (the key file `init`, `demo` and `passwd` write beside the store)
  4. a passphrase prompt      (only when run in a terminal)

Archive key (export, import, inspect), the first of:
  --archive-key-file PATH, $CHATVAULT_ARCHIVE_PASSPHRASE, a prompt.

Exit codes: 0 success; 1 a usage or user error (bad arguments, no such
store, conversation, message, attachment or file, an attachment whose
content was removed, a file `save` would overwrite); 2 a data error (wrong
key or passphrase, tampered or damaged store or archive, verify found
problems).";

#[derive(Parser, Debug)]
#[command(
    name = "chatvault",
    version,
    about = "Build, browse and maintain encrypted chatvault message stores",
    after_help = KEYS_HELP
)]
pub struct Cli {
    /// The store file (an empty $CHATVAULT_STORE counts as unset)
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "CHATVAULT_STORE",
        default_value = DEFAULT_STORE,
        value_parser = store_path
    )]
    pub store: PathBuf,
    /// A file holding the store's 32-byte key (raw, or 64 hex characters)
    #[arg(long, global = true, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// `--store`'s value; an empty one (a `$CHATVAULT_STORE` set to nothing)
/// is the default store.
fn store_path(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(if s.is_empty() { DEFAULT_STORE } else { s }))
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an empty store (with a new key file beside it, unless a key source says otherwise)
    Init {
        /// Protect it with a passphrase typed at a prompt instead of a key file
        #[arg(long)]
        passphrase: bool,
    },
    /// Build a realistic demo store: multilingual conversations of varied sizes
    Demo(DemoArgs),
    /// List conversations, most recently active first
    Convs {
        /// Only the most recent N
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Print a page of a conversation's messages, oldest first
    Show {
        /// Conversation: its id (as `convs` lists it), external id or title, or the start of a title
        /// (id:N, ext:NAME or title:TEXT to say which)
        conversation: String,
        /// Messages to print
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// The messages just before this sequence number
        #[arg(long, value_name = "SEQ", conflicts_with_all = ["after", "oldest"])]
        before: Option<u64>,
        /// The messages just after this sequence number
        #[arg(long, value_name = "SEQ", conflicts_with = "oldest")]
        after: Option<u64>,
        /// The oldest messages instead of the newest
        #[arg(long)]
        oldest: bool,
    },
    /// Find messages by their words, newest first (any language: CJK by characters, other words by prefix)
    Search(SearchArgs),
    /// Create a conversation
    New {
        /// Its title
        title: String,
        /// The app's id for it (unique in the store)
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
        /// A member (repeat for several)
        #[arg(long = "member", value_name = "NAME")]
        members: Vec<String>,
        /// Disappearing messages: new messages expire this many seconds after they are sent
        #[arg(long, value_name = "SECONDS")]
        retention: Option<u64>,
    },
    /// Append a message to a conversation
    Send {
        /// Conversation: its id, external id or title
        conversation: String,
        /// The message text
        text: String,
        /// Who sent it: "me" (the default) is you, and marks the conversation read up to it, as a chat app
        /// does when you reply; another name records a message received from them, unread
        #[arg(long, default_value = ME)]
        sender: String,
        /// The sequence number of the message it replies to
        #[arg(long, value_name = "SEQ")]
        reply_to: Option<u64>,
        /// The server's id for it: sending the same id twice stores it once
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
    },
    /// Mark a conversation read, up to its newest message or to --up-to
    MarkRead {
        /// Conversation: its id, external id or title
        conversation: String,
        /// Only up to this sequence number (the read marker never moves back)
        #[arg(long, value_name = "SEQ")]
        up_to: Option<u64>,
    },
    /// Replace the text of one or more messages (all in one transaction)
    Edit {
        /// The messages, as conversation/seq, the conversation by id, external id or title (e.g. 3/120
        /// david/121)
        #[arg(required = true, num_args = 1..)]
        messages: Vec<String>,
        /// The new text
        text: String,
    },
    /// Delete messages (conversation/seq, all in one transaction) or a whole conversation (its id), scrubbing them from disk
    Delete {
        /// conversation/seq for each message, or one conversation (id, external id or title), each
        /// written whole (not the start of a title); id:, ext: or title: in front names a conversation
        #[arg(required = true, num_args = 1..)]
        targets: Vec<String>,
        /// Do not ask before deleting a whole conversation
        #[arg(long)]
        yes: bool,
    },
    /// Attach a file to a message: its content is streamed into the store, encrypted
    Attach {
        /// The message, as conversation/seq (e.g. 3/120, david/120)
        message: String,
        /// The file to attach (- reads standard input)
        file: PathBuf,
        /// Its media type [default: from the name's extension (jpg, png, gif, webp, bmp, mp4, mov, m4a,
        /// mp3, ogg, wav, pdf, txt), else application/octet-stream]
        #[arg(long, value_name = "TYPE")]
        media_type: Option<String>,
        /// The name it is shown with [default: the file's name]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List attachments, newest message first: a conversation's media gallery, a message's, or the store's
    Attachments(AttachmentsArgs),
    /// Write an attachment's content to a file (readable by you only), or to standard output with -
    Save {
        /// The attachment's id (as `attachments` lists it)
        id: u64,
        /// Where to write it: a file, a directory, or - for standard output [default: its name, in the
        /// current directory]
        output: Option<PathBuf>,
        /// Replace a file that is already there
        #[arg(long)]
        force: bool,
    },
    /// What each conversation takes on disk, text and attachments apart, largest first
    Usage {
        /// Only the largest N (the total still counts all)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Free space: remove the content of the attachments that match (all of them without a filter),
    /// keeping their messages, names and sizes
    ClearMedia(ClearMediaArgs),
    /// Delete an attachment (its message stays), scrubbing it from disk
    DeleteAttachment {
        /// The attachment's id (as `attachments` lists it)
        id: u64,
    },
    /// Write an encrypted archive (or, with --plaintext, a readable JSON Lines or HTML file)
    Export(ExportArgs),
    /// Add an archive's conversations and messages to the store (all or nothing, never twice)
    Import(ArchiveArgs),
    /// Check an archive and list what it holds, without a store
    Inspect(ArchiveArgs),
    /// Merge and compress history, drop expired messages, destroy old keys
    Compact {
        /// Stop starting new work after this many seconds (run again to continue)
        #[arg(long, value_name = "SECONDS")]
        time_budget: Option<u64>,
    },
    /// Check every sealed value, key and count (exit 2 if anything is wrong)
    Verify,
    /// Counts and sizes, read without decrypting anything
    Stats,
    /// Protect the store with a new key or passphrase (--rotate: under a new master key, revoking the old key)
    Passwd(PasswdArgs),
    /// Start new key epochs (then run `compact` to reseal and destroy the old keys)
    Rotate {
        /// Only this conversation (id, external id or title, written whole)
        #[arg(long, value_name = "CONVERSATION")]
        conversation: Option<String>,
    },
    /// Rewrite the whole file, so no piece of deleted data remains in its free space
    /// (required after `passwd --rotate` and `compact`)
    Vacuum,
    /// Browse the store interactively in the terminal
    Browse,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The words to find (every one must match)
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// Only this conversation (id, external id or title)
    #[arg(long, value_name = "CONVERSATION")]
    pub conversation: Option<String>,
    /// Only messages from this sender
    #[arg(long, value_name = "NAME")]
    pub sender: Option<String>,
    /// Only messages sent on or after this day (YYYY-MM-DD, local time)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only messages sent before this day (YYYY-MM-DD, local time)
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Hits to print
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// The next page: the cursor the last page printed
    #[arg(long, value_name = "CURSOR")]
    pub after: Option<String>,
}

#[derive(Args, Debug)]
pub struct AttachmentsArgs {
    /// Only this conversation (id, external id or title), newest message first [default: every conversation,
    /// most recently stored first]
    pub conversation: Option<String>,
    /// Only this message's attachments (conversation/seq), in the order they were stored
    #[arg(long, value_name = "MESSAGE", conflicts_with = "before")]
    pub message: Option<String>,
    /// Only media types starting with this (image/, video/, audio/, application/pdf)
    #[arg(long, value_name = "PREFIX")]
    pub media_type: Option<String>,
    /// Attachments to print
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: usize,
    /// The next page of a conversation's gallery: the attachments listed after this one
    #[arg(long, value_name = "ID", requires = "conversation")]
    pub before: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ClearMediaArgs {
    /// Only in this conversation (id, external id or title, written whole)
    #[arg(long, value_name = "CONVERSATION")]
    pub conversation: Option<String>,
    /// Only media types starting with this (image/, video/, audio/, application/pdf)
    #[arg(long, value_name = "PREFIX")]
    pub media_type: Option<String>,
    /// Only attachments stored longer ago than this: a number and a unit, s, m, h, d or w (30d, 12h)
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Only attachments larger than this: bytes, or with K, M or G, powers of 1024 as the sizes this
    /// program prints (500K, 5MB, 1.5G)
    #[arg(long, value_name = "SIZE")]
    pub larger_than: Option<String>,
    /// List what would be removed, and remove nothing
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Do not ask before removing
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of messages
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    pub messages: usize,
    /// Number of conversations
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub conversations: usize,
    /// Seed of the generated content (the same seed builds the same store)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Replace a store that is already at the path (deleting it and its key file)
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// The archive file
    pub path: PathBuf,
    /// A file holding the archive's 32-byte key, instead of a passphrase
    #[arg(long, value_name = "PATH")]
    pub archive_key_file: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// An encrypted, authenticated chatvault archive (docs/FORMAT.md)
    Archive,
    /// Unencrypted JSON Lines: a line per conversation, then one per message (needs --plaintext;
    /// docs/EXPORT.md)
    Jsonl,
    /// Unencrypted HTML: one conversation as pages at <file>.html, its attachments in <file>_files/;
    /// or, into a directory (a path ending in /), every conversation or those given, with index.html
    /// (needs --plaintext; docs/EXPORT.md)
    Html,
}

impl ExportFormat {
    /// What a file name's extension says: `.jsonl` and `.json` JSON Lines,
    /// `.html` and `.htm` HTML (any case); nothing for any other.
    pub fn from_extension(path: &std::path::Path) -> Option<ExportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "json" => Some(ExportFormat::Jsonl),
            "html" | "htm" => Some(ExportFormat::Html),
            _ => None,
        }
    }

    /// Its name for people.
    pub fn describe(self) -> &'static str {
        match self {
            ExportFormat::Archive => "an encrypted archive",
            ExportFormat::Jsonl => "JSON Lines",
            ExportFormat::Html => "HTML",
        }
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Only these conversations (id, external id or title; repeat for several)
    #[arg(long = "conversation", value_name = "CONVERSATION")]
    pub conversations: Vec<String>,
    /// What to write [default: from the file name: .jsonl/.json jsonl, .html/.htm html, else archive]
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Accept that a jsonl or html export is NOT encrypted: anyone with the file can read it
    #[arg(long)]
    pub plaintext: bool,
    /// Replace files already where a jsonl or html export goes (never an attachment directory)
    #[arg(long)]
    pub force: bool,
}

impl ExportArgs {
    /// The format to write: --format, else the one the file name's
    /// extension says, else an archive.
    pub fn chosen_format(&self) -> ExportFormat {
        self.format
            .or_else(|| ExportFormat::from_extension(&self.archive.path))
            .unwrap_or(ExportFormat::Archive)
    }

    /// A note when --format and the file name's extension disagree.
    pub fn format_mismatch(&self) -> Option<String> {
        let given = self.format?;
        let named = ExportFormat::from_extension(&self.archive.path)?;
        (given != named).then(|| {
            format!(
                "writing {} (--format) to {}, whose name says {}",
                given.describe(),
                self.archive.path.display(),
                named.describe()
            )
        })
    }
}

#[derive(Args, Debug)]
pub struct PasswdArgs {
    /// Use the 32-byte key in this file (written with a fresh random key if it does not exist). The
    /// key stays only there: later commands name it with --key-file
    #[arg(long, value_name = "PATH", conflicts_with = "new_passphrase")]
    pub new_key_file: Option<PathBuf>,
    /// Use a passphrase: $CHATVAULT_NEW_PASSPHRASE, or typed twice at a prompt
    #[arg(long)]
    pub new_passphrase: bool,
    /// Also rotate the master key, so the old key (if it leaked) opens nothing written or rewrapped
    /// since; then run `compact` and `vacuum`, both needed to revoke it. From its first transaction
    /// on, only the new key opens the store, even if the rotation stops before the end
    #[arg(long)]
    pub rotate: bool,
    /// With --rotate: stop starting new work after this many seconds (run again with the new key to finish)
    #[arg(long, value_name = "SECONDS", requires = "rotate")]
    pub time_budget: Option<u64>,
    /// With --rotate: stop after this many transactions (run again with the new key to finish)
    #[arg(long, value_name = "N", requires = "rotate", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_transactions: Option<u64>,
}
