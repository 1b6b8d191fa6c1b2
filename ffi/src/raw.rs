//! Every raw pointer the C API reads, allocates or frees is handled here.
//!
//! Inputs: the `(pointer, length)` pairs inside argument structs are turned
//! into borrowed slices and checked (NULL, UTF-8, size) before any of them
//! reaches the store; the `unsafe fn`s state what the caller promised.
//! Outputs: each allocation the library hands out is a `#[repr(C)]`
//! [`Owned`] whose first field is the public struct C sees, followed by the
//! memory the public struct points into; freeing casts back and drops the
//! whole. Text and bytes handed out are wiped when freed.

use std::ffi::c_char;
use std::path::PathBuf;

use chatvault::{
    Conversation, ConversationId, ConversationSummary, Message, MessageId, NewConversation, NewMessage,
    StoreKey, VerifyReport,
};
use zeroize::Zeroizing;

use crate::status::{Failure, chatvault_status};
use crate::types::*;

/// The largest length a slice may have (`slice::from_raw_parts`'s bound for bytes).
const MAX_LEN: usize = isize::MAX as usize;

/// Borrows `len` elements at `ptr`; NULL is allowed only when `len` is 0.
///
/// # Safety
/// If `ptr` is not NULL it must point to `len` initialised `T`s that stay
/// valid and unchanged for `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::new(
            chatvault_status::NullArgument,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    if len.saturating_mul(size_of::<T>()) > MAX_LEN || !ptr.is_aligned() {
        return Err(Failure::invalid(format!("{what} has an impossible length or alignment")));
    }
    // SAFETY: ptr is non-NULL and aligned, and the caller promised it points
    // to `len` valid elements for 'a; the total size fits in isize.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows UTF-8 text; NULL is the empty text when `len` is 0.
///
/// # Safety
/// As [`slice`], for `len` bytes.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from this function's contract.
    let bytes = unsafe { slice(ptr.cast::<u8>(), len, what) }?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            chatvault_status::InvalidUtf8,
            format!("{what} is not valid UTF-8 (byte {} is not)", e.valid_up_to()),
        )
    })
}

/// Borrows optional text: a NULL `ptr` means none.
///
/// # Safety
/// As [`slice`], for `s.len` bytes.
unsafe fn optional_text<'a>(s: chatvault_str, what: &str) -> Result<Option<&'a str>, Failure> {
    if s.ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { text(s.ptr, s.len, what) }.map(Some)
}

/// Borrows required text.
///
/// # Safety
/// As [`slice`], for `s.len` bytes.
unsafe fn required_text<'a>(s: chatvault_str, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { text(s.ptr, s.len, what) }
}

/// Borrows bytes.
///
/// # Safety
/// As [`slice`], for `b.len` bytes.
unsafe fn bytes<'a>(b: chatvault_bytes, what: &str) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice(b.ptr, b.len, what) }
}

/// A UTF-8 path.
///
/// # Safety
/// As [`slice`], for `len` bytes.
pub(crate) unsafe fn path(ptr: *const c_char, len: usize) -> Result<PathBuf, Failure> {
    if ptr.is_null() {
        return Err(Failure::null("path"));
    }
    // SAFETY: forwarded from this function's contract.
    let p = unsafe { text(ptr, len, "path") }?;
    if p.is_empty() {
        return Err(Failure::invalid("path is empty"));
    }
    Ok(PathBuf::from(p))
}

/// A key, copied into memory the library wipes.
///
/// # Safety
/// As [`slice`], for `key.len` bytes at `key.bytes`.
pub(crate) unsafe fn key(key: &chatvault_key) -> Result<StoreKey, Failure> {
    if key.bytes.is_null() {
        return Err(Failure::null("key bytes"));
    }
    // SAFETY: forwarded from this function's contract.
    let bytes = unsafe { slice(key.bytes, key.len, "key bytes") }?;
    match key.kind {
        k if k == chatvault_key_kind::Raw as u32 => Ok(StoreKey::raw_from_slice(bytes)?),
        k if k == chatvault_key_kind::Passphrase as u32 => {
            let passphrase = std::str::from_utf8(bytes).map_err(|_| {
                Failure::new(chatvault_status::InvalidUtf8, "the passphrase is not valid UTF-8")
            })?;
            Ok(StoreKey::passphrase(passphrase))
        }
        other => Err(Failure::invalid(format!(
            "key kind {other} is neither CHATVAULT_KEY_KIND_RAW (1) nor CHATVAULT_KEY_KIND_PASSPHRASE (2)"
        ))),
    }
}

/// Borrows an array of conversation ids; NULL is the empty array.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn ids<'a>(ptr: *const u64, len: usize) -> Result<&'a [u64], Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice(ptr, len, "conversation ids") }
}

/// Borrows an array of batch entries.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn batch<'a>(
    ptr: *const chatvault_batch_entry,
    len: usize,
) -> Result<&'a [chatvault_batch_entry], Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice(ptr, len, "batch entries") }
}

/// Writes `ids` to the caller's array.
///
/// # Safety
/// `out` is valid for writes of `ids.len()` ids.
pub(crate) unsafe fn write_ids(out: *mut chatvault_message_id, ids: &[chatvault_message_id]) {
    // SAFETY: the caller's promise; the source is a distinct Rust allocation.
    unsafe { std::ptr::copy_nonoverlapping(ids.as_ptr(), out, ids.len()) }
}

/// Copies a conversation to create out of C memory.
///
/// # Safety
/// Every pointer in `c` is NULL or valid for its length (the members'
/// texts included).
pub(crate) unsafe fn new_conversation(c: &chatvault_new_conversation) -> Result<NewConversation, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        let members = slice(c.members, c.members_len, "members")?
            .iter()
            .map(|m| required_text(*m, "a member").map(str::to_owned))
            .collect::<Result<_, _>>()?;
        Ok(NewConversation {
            external_id: optional_text(c.external_id, "external_id")?.map(str::to_owned),
            title: required_text(c.title, "title")?.to_owned(),
            members,
            app_data: bytes(c.app_data, "app_data")?.to_vec(),
            created_at_ms: (c.created_at_ms != 0).then_some(c.created_at_ms),
            retention_ms: (c.retention_ms != 0).then_some(c.retention_ms),
        })
    }
}

/// Copies a message to append to conversation `c` out of C memory.
///
/// # Safety
/// Every pointer in `m` is NULL or valid for its length.
pub(crate) unsafe fn new_message(
    c: ConversationId,
    m: &chatvault_new_message,
) -> Result<NewMessage, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        Ok(NewMessage {
            external_id: optional_text(m.external_id, "external_id")?.map(str::to_owned),
            sender: required_text(m.sender, "sender")?.to_owned(),
            sent_at_ms: m.sent_at_ms,
            text: required_text(m.text, "text")?.to_owned(),
            reply_to: (m.reply_to_seq != 0).then(|| MessageId::new(c, m.reply_to_seq)),
            extra: bytes(m.extra, "extra")?.to_vec(),
            expires_at_ms: (m.expires_at_ms != 0).then_some(m.expires_at_ms),
        })
    }
}

/// Memory that an output struct points into: wiped (text and bytes) and
/// freed with it. Each buffer is its own heap allocation, so its address
/// does not change as more are kept.
#[derive(Default)]
struct Keep {
    buffers: Vec<Zeroizing<Vec<u8>>>,
    member_lists: Vec<Vec<chatvault_str>>,
    // Boxed so that a summary's `last_message` pointer stays put as the Vec grows.
    #[allow(clippy::vec_box)]
    messages: Vec<Box<chatvault_message>>,
}

impl Keep {
    fn buffer(&mut self, b: &[u8]) -> *const u8 {
        let mut v = Zeroizing::new(Vec::with_capacity(b.len() + 1));
        v.extend_from_slice(b);
        v.push(0);
        let ptr = v.as_ptr();
        self.buffers.push(v);
        ptr
    }

    fn text(&mut self, s: &str) -> chatvault_str {
        chatvault_str { ptr: self.buffer(s.as_bytes()).cast::<c_char>(), len: s.len() }
    }

    fn optional_text(&mut self, s: Option<&str>) -> chatvault_str {
        s.map_or(chatvault_str { ptr: std::ptr::null(), len: 0 }, |s| self.text(s))
    }

    fn bytes(&mut self, b: &[u8]) -> chatvault_bytes {
        chatvault_bytes { ptr: self.buffer(b), len: b.len() }
    }

    fn message(&mut self, m: &Message) -> chatvault_message {
        chatvault_message {
            id: message_id(m.id),
            external_id: self.optional_text(m.external_id.as_deref()),
            sender: self.text(&m.sender),
            text: self.text(&m.text),
            sent_at_ms: m.sent_at_ms,
            edited_at_ms: m.edited_at_ms.unwrap_or(0),
            expires_at_ms: m.expires_at_ms.unwrap_or(0),
            reply_to_seq: m.reply_to.map_or(0, MessageId::seq),
            extra: self.bytes(&m.extra),
        }
    }

    fn conversation(&mut self, c: &Conversation) -> chatvault_conversation {
        let members: Vec<chatvault_str> = c.members.iter().map(|m| self.text(m)).collect();
        let out = chatvault_conversation {
            id: c.id.get(),
            external_id: self.optional_text(c.external_id.as_deref()),
            title: self.text(&c.title),
            members: members.as_ptr(),
            members_len: members.len(),
            app_data: self.bytes(&c.app_data),
            created_at_ms: c.created_at_ms,
            read_up_to_seq: c.read_up_to.map_or(0, MessageId::seq),
            message_count: c.message_count,
            retention_ms: c.retention_ms.unwrap_or(0),
        };
        self.member_lists.push(members);
        out
    }

    fn summary(&mut self, s: &ConversationSummary) -> chatvault_conversation_summary {
        let last_message = match &s.last_message {
            Some(m) => {
                let boxed = Box::new(self.message(m));
                let ptr: *const chatvault_message = &*boxed;
                self.messages.push(boxed);
                ptr
            }
            None => std::ptr::null(),
        };
        chatvault_conversation_summary {
            conversation: self.conversation(&s.conversation),
            last_message,
            unread_count: s.unread_count,
        }
    }
}

/// A message id as C sees it.
pub(crate) fn message_id(m: MessageId) -> chatvault_message_id {
    chatvault_message_id { conversation: m.conversation().get(), seq: m.seq() }
}

/// An allocation handed to C: `public` first, so a pointer to the whole is a
/// pointer to `public`, then what `public` points into.
#[repr(C)]
struct Owned<P, I> {
    public: P,
    items: Vec<I>,
    keep: Keep,
}

/// Hands `public` and what it points into to C.
fn hand_out<P, I>(public: P, items: Vec<I>, keep: Keep) -> *mut P {
    Box::into_raw(Box::new(Owned { public, items, keep })).cast::<P>()
}

/// Frees what [`hand_out`] handed out; NULL does nothing.
///
/// # Safety
/// `p` is NULL or came from `hand_out::<P, I>` with the same `P` and `I`,
/// and is not used again.
unsafe fn take_back<P, I>(p: *mut P) {
    if !p.is_null() {
        // SAFETY: p came from Box::into_raw of an Owned<P, I> (the caller's
        // promise), whose first field is at offset 0 (repr(C)).
        drop(unsafe { Box::from_raw(p.cast::<Owned<P, I>>()) });
    }
}

/// A page of messages for C.
pub(crate) fn page_out(messages: &[Message]) -> *mut chatvault_message_page {
    let mut keep = Keep::default();
    let items: Vec<chatvault_message> = messages.iter().map(|m| keep.message(m)).collect();
    let public = chatvault_message_page { items: items.as_ptr(), len: items.len() };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`page_out`], and is not used again.
pub(crate) unsafe fn page_free(p: *mut chatvault_message_page) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_message_page, chatvault_message>(p) }
}

/// One message for C.
pub(crate) fn message_out(m: &Message) -> *mut chatvault_message {
    let mut keep = Keep::default();
    let public = keep.message(m);
    hand_out::<_, ()>(public, Vec::new(), keep)
}

/// # Safety
/// `p` is NULL or came from [`message_out`], and is not used again.
pub(crate) unsafe fn message_free(p: *mut chatvault_message) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_message, ()>(p) }
}

/// One conversation for C.
pub(crate) fn conversation_out(c: &Conversation) -> *mut chatvault_conversation {
    let mut keep = Keep::default();
    let public = keep.conversation(c);
    hand_out::<_, ()>(public, Vec::new(), keep)
}

/// # Safety
/// `p` is NULL or came from [`conversation_out`], and is not used again.
pub(crate) unsafe fn conversation_free(p: *mut chatvault_conversation) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_conversation, ()>(p) }
}

/// The conversation list for C.
pub(crate) fn conversation_list_out(list: &[ConversationSummary]) -> *mut chatvault_conversation_list {
    let mut keep = Keep::default();
    let items: Vec<chatvault_conversation_summary> = list.iter().map(|s| keep.summary(s)).collect();
    let public = chatvault_conversation_list { items: items.as_ptr(), len: items.len() };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`conversation_list_out`], and is not used again.
pub(crate) unsafe fn conversation_list_free(p: *mut chatvault_conversation_list) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_conversation_list, chatvault_conversation_summary>(p) }
}

/// A verify report for C.
pub(crate) fn verify_report_out(r: &VerifyReport) -> *mut chatvault_verify_report {
    use chatvault::ProblemKind as K;
    let mut keep = Keep::default();
    let problems: Vec<chatvault_problem> = r
        .problems
        .iter()
        .map(|p| {
            let kind = match p.kind {
                K::Integrity => chatvault_problem_kind::Integrity,
                K::Authentication => chatvault_problem_kind::Authentication,
                K::Corrupt => chatvault_problem_kind::Corrupt,
                K::Overlap => chatvault_problem_kind::Overlap,
                K::MissingKey => chatvault_problem_kind::MissingKey,
                K::Orphan => chatvault_problem_kind::Orphan,
                K::CountMismatch => chatvault_problem_kind::CountMismatch,
                _ => chatvault_problem_kind::Other,
            };
            let (first_seq, last_seq) = p.seqs.unwrap_or((0, 0));
            chatvault_problem {
                kind: kind as u32,
                conversation: p.conversation.map_or(0, ConversationId::get),
                first_seq,
                last_seq,
                epoch: p.epoch.map_or(-1, |e| i64::from(e.get())),
                detail: keep.text(&p.detail),
            }
        })
        .collect();
    let public = chatvault_verify_report {
        conversations: r.conversations,
        segments: r.segments,
        messages: r.messages,
        problems: problems.as_ptr(),
        problems_len: problems.len(),
    };
    hand_out(public, problems, keep)
}

/// # Safety
/// `p` is NULL or came from [`verify_report_out`], and is not used again.
pub(crate) unsafe fn verify_report_free(p: *mut chatvault_verify_report) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_verify_report, chatvault_problem>(p) }
}

/// Hands a value to C as an opaque handle.
pub(crate) fn handle_out<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back what [`handle_out`] handed out; `None` for NULL.
///
/// # Safety
/// `p` is NULL or came from `handle_out::<T>`, and is not used again.
pub(crate) unsafe fn handle_take<T>(p: *mut T) -> Option<Box<T>> {
    // SAFETY: p came from Box::into_raw (the caller's promise).
    (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_empty_only_at_length_zero() {
        // SAFETY: NULL pointers with the lengths given; nothing is read.
        unsafe {
            assert_eq!(text(std::ptr::null(), 0, "t").unwrap(), "");
            let e = text(std::ptr::null(), 3, "t").unwrap_err();
            assert_eq!(e.status, chatvault_status::NullArgument);
            assert_eq!(optional_text(chatvault_str { ptr: std::ptr::null(), len: 5 }, "x").unwrap(), None);
        }
    }

    #[test]
    fn invalid_utf8_is_its_own_status() {
        let b = b"ab\xffcd";
        // SAFETY: b is valid for its length.
        let e = unsafe { text(b.as_ptr().cast(), b.len(), "text") }.unwrap_err();
        assert_eq!(e.status, chatvault_status::InvalidUtf8);
        assert!(e.message.contains("byte 2"), "{}", e.message);
    }

    #[test]
    fn handed_out_text_is_nul_terminated_and_keeps_inner_nuls() {
        let m = Message {
            id: MessageId::new(ConversationId::from_raw(3), 9),
            external_id: None,
            sender: "a".into(),
            sent_at_ms: 5,
            text: "x\0y 你好".into(),
            reply_to: Some(MessageId::new(ConversationId::from_raw(3), 2)),
            edited_at_ms: None,
            extra: vec![1, 2, 3],
            expires_at_ms: Some(77),
        };
        let p = page_out(std::slice::from_ref(&m));
        // SAFETY: p came from page_out and is freed once, below; every
        // pointer read is inside it.
        unsafe {
            let page = &*p;
            assert_eq!(page.len, 1);
            let out = &*page.items;
            assert_eq!(out.id, chatvault_message_id { conversation: 3, seq: 9 });
            assert!(out.external_id.ptr.is_null());
            let t = std::slice::from_raw_parts(out.text.ptr.cast::<u8>(), out.text.len + 1);
            assert_eq!(t, "x\0y 你好\0".as_bytes());
            assert_eq!((out.reply_to_seq, out.edited_at_ms, out.expires_at_ms), (2, 0, 77));
            assert_eq!(std::slice::from_raw_parts(out.extra.ptr, out.extra.len), [1, 2, 3]);
            page_free(p);
            page_free(std::ptr::null_mut());
        }
    }
}
