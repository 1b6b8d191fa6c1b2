//! The corpus as chatvault's inputs, and this process's peak memory: shared
//! by the benchmarks (through `setup.rs`) and the examples that measure at
//! scale (`#[path]`).
#![allow(dead_code)]

use chatvault::{NewConversation, NewMessage};
use chatvault_corpus::{ConversationSpec, MessageSpec};

/// A corpus conversation as chatvault creates it.
pub fn new_conversation(spec: &ConversationSpec) -> NewConversation {
    NewConversation {
        external_id: Some(spec.external_id.clone()),
        title: spec.title.clone(),
        members: spec.members.clone(),
        created_at_ms: Some(spec.created_at_ms),
        ..Default::default()
    }
}

/// A corpus message as chatvault appends it, under `external_id`.
pub fn new_message(m: &MessageSpec, external_id: String) -> NewMessage {
    NewMessage {
        external_id: Some(external_id),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at_ms,
        text: m.text.clone(),
        ..Default::default()
    }
}

/// This process's peak resident set (VmHWM), in KiB; 0 without /proc.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
