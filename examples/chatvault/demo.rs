//! `demo`: a realistic store built from the shared corpus generator.

use std::path::Path;

use chatvault::{ConversationId, MessageId, NewConversation, NewMessage, Page, Store};
use chatvault_corpus::Rng;

use crate::{AnyResult, DEFAULT_STORE, keyfile};

pub fn build(path: &Path, conversations: usize, messages: usize, seed: u64, force: bool) -> AnyResult<Store> {
    let key_path = keyfile::beside(path);
    if path.exists() {
        if !force && path != Path::new(DEFAULT_STORE) {
            return Err(format!("{} already exists: pass --force to replace it", path.display()).into());
        }
        for suffix in ["", "-wal", "-shm", ".key"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    let key = keyfile::create(&key_path)?;
    let store = Store::create(path, key)?;
    let specs = chatvault_corpus::conversations(seed, conversations.max(1), messages);
    let mut rng = Rng::new(seed);
    for spec in &specs {
        let c = store.create_conversation(NewConversation {
            external_id: Some(spec.external_id.clone()),
            title: spec.title.clone(),
            members: spec.members.clone(),
            app_data: Vec::new(),
            created_at_ms: Some(spec.created_at_ms),
            retention_ms: None,
        })?;
        fill(&store, c, spec, &mut rng)?;
    }
    println!(
        "Built {} with {} conversations and {} messages (key in {}).\n",
        path.display(),
        specs.len(),
        messages,
        key_path.display()
    );
    Ok(store)
}

/// Appends a conversation's messages in sync-sized batches, then edits and
/// deletes a few and marks most of it read, as a user would have.
fn fill(
    store: &Store,
    c: ConversationId,
    spec: &chatvault_corpus::ConversationSpec,
    rng: &mut Rng,
) -> AnyResult<()> {
    let mut ids: Vec<MessageId> = Vec::with_capacity(spec.messages);
    let all: Vec<_> = chatvault_corpus::messages(spec).collect();
    for chunk in all.chunks(500) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|m| {
                (
                    c,
                    NewMessage {
                        external_id: Some(m.external_id.clone()),
                        sender: m.sender.clone(),
                        sent_at_ms: m.sent_at_ms,
                        text: m.text.clone(),
                        reply_to: m.reply_to.and_then(|i| ids.get(i).copied()),
                        extra: Vec::new(),
                        expires_at_ms: None,
                    },
                )
            })
            .collect();
        ids.extend(store.append_batch(&batch)?);
    }
    if ids.len() > 10 {
        store.edit_message(ids[ids.len() / 2], "(edited) see you there ✔")?;
        store.delete_message(ids[ids.len() / 3])?;
    }
    if !ids.is_empty() && rng.chance(0.7) {
        let unread = rng.below(12) as usize;
        if let Some(&m) = ids.get(ids.len().saturating_sub(unread + 1)) {
            store.mark_read(c, m)?;
        }
    }
    let _ = store.messages(c, Page::latest(1))?;
    Ok(())
}
