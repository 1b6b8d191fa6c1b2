//! How the command line names conversations and messages.
//!
//! A conversation is named by its id (as `convs` lists it), its external
//! id, or its title: the whole title in any case, else the start of one
//! title. `id:N`, `ext:NAME` and `title:TEXT` say which. A name that
//! answers to more than one conversation, in any of these ways, is refused
//! with the candidates listed; a number that is no conversation's id (nor
//! external id) is refused too, rather than taken as the start of a title.
//! Commands that destroy ([`Match::Exact`]) take only whole names, never the
//! start of a title. A message is `<conversation>/<seq>`, the conversation
//! named in any of these ways (`3/120`, `wxid_alice/120`, `david/120`).

use chatvault::{Conversation, ConversationId, Error as StoreError, MessageId, Store};

use crate::failure::{CliResult, Failure};
use crate::output::{one_line, plural};

/// Candidates an ambiguity error lists by name; more are counted.
const LISTED: usize = 8;

/// How much of a name must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// A whole id, external id or title; or, failing those, the start of
    /// one title.
    Prefix,
    /// Only a whole id, external id or title: for commands that destroy.
    Exact,
}

/// The conversation `name` names (see the module's documentation).
pub fn conversation(store: &Store, name: &str, how: Match) -> CliResult<ConversationId> {
    let missing = || {
        Failure::user(format!(
            "no conversation {name:?} in this store (list them with `convs`; name one by its id, external id or \
             title{})",
            if how == Match::Exact { ", written whole" } else { "" }
        ))
    };
    if let Some(ext) = name.strip_prefix("ext:") {
        return store.find_conversation(ext)?.ok_or_else(missing);
    }
    if let Some(id) = name.strip_prefix("id:") {
        let n = id.parse().map_err(|_| Failure::user(format!("{name:?}: id: takes a number")))?;
        return by_id(store, n)?.ok_or_else(missing);
    }
    if let Some(title) = name.strip_prefix("title:") {
        return by_title(store, title, how)?.ok_or_else(missing);
    }
    // Every way the name matches a conversation whole.
    let mut found: Vec<(ConversationId, &str)> = Vec::new();
    let number = name.parse::<u64>().ok();
    if let Some(c) = number.map(|n| by_id(store, n)).transpose()?.flatten() {
        found.push((c, "id"));
    }
    if let Some(c) = store.find_conversation(name)? {
        found.push((c, "external id"));
    }
    let titled = exact_titles(store, name)?;
    found.extend(titled.iter().map(|c| (c.id, "title")));
    let mut distinct: Vec<ConversationId> = found.iter().map(|(c, _)| *c).collect();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        _ => {
            let names: Vec<String> = found
                .iter()
                .map(|(c, how)| match store.conversation(*c) {
                    Ok(info) => format!("{} by {how} ({})", describe(&info), prefix_for(how, c, name)),
                    Err(_) => format!("{c} by {how}"),
                })
                .collect();
            return Err(Failure::user(format!(
                "{name:?} names {}: {}",
                plural(distinct.len() as u64, "conversation"),
                listed(names)
            )));
        }
    }
    if number.is_some() {
        return Err(Failure::user(format!(
            "no conversation {name:?} in this store: no conversation has that id or external id (list them \
             with `convs`; for a title that starts with {name}, write title:{name})"
        )));
    }
    match how {
        Match::Exact => Err(missing()),
        Match::Prefix => by_title(store, name, how)?.ok_or_else(missing),
    }
}

/// How to write `name` to mean conversation `c` the way it matched.
fn prefix_for(how: &str, c: &ConversationId, name: &str) -> String {
    match how {
        "id" => format!("id:{c}"),
        "external id" => format!("ext:{name}"),
        _ => format!("title:{name}, or id:{c}"),
    }
}

/// `3 "David Chen" (ext:dc)`.
fn describe(c: &Conversation) -> String {
    match &c.external_id {
        Some(ext) => format!("{} {:?} (ext:{})", c.id, one_line(&c.title), one_line(ext)),
        None => format!("{} {:?}", c.id, one_line(&c.title)),
    }
}

/// `names` joined, cut after [`LISTED`].
fn listed(mut names: Vec<String>) -> String {
    if names.len() > LISTED {
        let more = names.len() - LISTED;
        names.truncate(LISTED);
        names.push(format!("and {more} more"));
    }
    names.join(", ")
}

/// The conversation whose id is `n`, if there is one.
fn by_id(store: &Store, n: u64) -> CliResult<Option<ConversationId>> {
    let c = ConversationId::from_raw(n);
    match store.conversation(c) {
        Ok(_) => Ok(Some(c)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The conversations whose title is `title` in any case.
fn exact_titles(store: &Store, title: &str) -> CliResult<Vec<Conversation>> {
    let wanted = title.to_lowercase();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let list = store.conversations()?;
    Ok(list.into_iter().map(|s| s.conversation).filter(|c| c.title.to_lowercase() == wanted).collect())
}

/// The conversation whose title is `title` in any case, else (with
/// [`Match::Prefix`]) the one whose title starts with it; `None` if none
/// does.
fn by_title(store: &Store, title: &str, how: Match) -> CliResult<Option<ConversationId>> {
    let wanted = title.to_lowercase();
    if wanted.is_empty() {
        return Ok(None);
    }
    let list: Vec<Conversation> = store.conversations()?.into_iter().map(|s| s.conversation).collect();
    let exact: Vec<&Conversation> = list.iter().filter(|c| c.title.to_lowercase() == wanted).collect();
    let candidates = if exact.is_empty() && how == Match::Prefix {
        list.iter().filter(|c| c.title.to_lowercase().starts_with(&wanted)).collect()
    } else {
        exact
    };
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.id)),
        many => Err(Failure::user(format!(
            "{title:?} matches {}: {}; name one by its id (or id:N)",
            plural(many.len() as u64, "conversation"),
            listed(many.iter().map(|c| describe(c)).collect())
        ))),
    }
}

/// The message `name` names: `<conversation>/<seq>`, the conversation named
/// as [`conversation`] takes it.
pub fn message(store: &Store, name: &str, how: Match) -> CliResult<MessageId> {
    let bad = || {
        Failure::user(format!(
            "{name:?} is not a message: write conversation/seq, the conversation by its id, external id or title \
             (e.g. 3/120)"
        ))
    };
    let (c, seq) = split_message(name).ok_or_else(bad)?;
    Ok(MessageId::new(conversation(store, c, how)?, seq))
}

/// `name` as `<conversation>/<seq>`, if it has that shape.
fn split_message(name: &str) -> Option<(&str, u64)> {
    let (c, seq) = name.rsplit_once('/')?;
    let seq: u64 = seq.parse().ok()?;
    (!c.is_empty() && seq != 0).then_some((c, seq))
}

/// What a target of `delete` names: a whole conversation or one message.
pub enum Target {
    Conversation(ConversationId),
    Message(MessageId),
}

/// A target of `delete`, whole names only ([`Match::Exact`]). A name with
/// `id:`, `ext:` or `title:` in front is a conversation's, whatever it
/// holds; a name with a `/` is a message's (`<conversation>/<seq>`) unless
/// it is also a conversation's external id or title, which is refused as
/// ambiguous.
pub fn target(store: &Store, name: &str) -> CliResult<Target> {
    let prefixed = ["id:", "ext:", "title:"].iter().any(|p| name.starts_with(p));
    let as_message = if prefixed { None } else { split_message(name) };
    let Some((c, seq)) = as_message else {
        return conversation(store, name, Match::Exact).map(Target::Conversation);
    };
    let mut whole: Vec<ConversationId> = store.find_conversation(name)?.into_iter().collect();
    whole.extend(exact_titles(store, name)?.into_iter().map(|c| c.id));
    whole.sort_unstable();
    whole.dedup();
    let message = match conversation(store, c, Match::Exact) {
        Ok(c) => Some(MessageId::new(c, seq)),
        Err(e) if whole.is_empty() => return Err(e),
        Err(_) => None,
    };
    match (message, whole.as_slice()) {
        (Some(m), []) => Ok(Target::Message(m)),
        (None, [one]) => Ok(Target::Conversation(*one)),
        (Some(m), [one]) => Err(Failure::user(format!(
            "{name:?} names both conversation {one} and message {m}: write title:{name} or ext:{name} for the \
             conversation, id:{one} alone to be sure, or {m} for the message"
        ))),
        _ => conversation(store, name, Match::Exact).map(Target::Conversation),
    }
}
