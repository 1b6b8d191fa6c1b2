//! Every raw pointer the C API reads, writes, allocates or frees is handled
//! here; the exported functions take raw pointers and call these helpers.
//!
//! Inputs: pointer arguments, and the `(pointer, length)` pairs inside
//! argument structs, are checked (NULL, alignment, length, UTF-8) and turned
//! into borrows or copies before anything reaches the store. Out-pointers
//! are checked before the work starts ([`Out`]) and written only once it
//! has succeeded. Progress callbacks and their `user_data` are wrapped here
//! too. Each `unsafe fn` states what the C caller promised (the header's
//! conventions: a pointer that is not NULL is valid for its length).
//! Outputs: each allocation the library hands out is a `#[repr(C)]`
//! [`Owned`] whose first field is the public struct C sees, followed by the
//! memory the public struct points into; freeing casts back and drops the
//! whole. Text and bytes handed out are wiped when freed.

use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chatvault::archive::{ArchiveProgress, ArchiveSummary};
use chatvault::{
    Attachment, AttachmentFilter, CompactProgress, Conversation, ConversationId, ConversationSummary,
    ConversationUpdate, ConversationUsage, KdfParams, Message, MessageId, NewAttachment, NewConversation,
    NewMessage, SearchPage, Store, StoreKey, VerifyReport,
};
use zeroize::Zeroizing;

use crate::abi::{self, Versioned};
use crate::status::{Failure, chatvault_status};
use crate::types::chatvault_store;
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

/// Borrows the argument at `ptr`.
///
/// # Safety
/// If `ptr` is not NULL and is aligned, it points to a valid `T` that stays
/// valid and unchanged for `'a`.
pub(crate) unsafe fn arg<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    abi::check_ptr(ptr, what)?;
    // SAFETY: non-NULL and aligned, and valid by the caller's promise.
    Ok(unsafe { &*ptr })
}

/// Copies a versioned input struct (see `abi`): NULL is a `NullArgument`.
/// The caller's struct may be shorter than a `T` (an older header's), so
/// no `&T` is ever made over it: only its first `struct_size` bytes are read.
///
/// # Safety
/// If `ptr` is not NULL and is aligned, it points to a struct whose
/// `struct_size` is set and that is readable for that many bytes.
pub(crate) unsafe fn input<T: Versioned>(ptr: *const T, what: &str) -> Result<T, Failure> {
    abi::check_ptr(ptr, what)?;
    // SAFETY: non-NULL and aligned (checked above); readable by the contract.
    unsafe { abi::read(ptr, what) }
}

/// Copies an optional versioned input struct: NULL is `None`.
///
/// # Safety
/// As [`input`].
pub(crate) unsafe fn optional_input<T: Versioned>(ptr: *const T, what: &str) -> Result<Option<T>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { input(ptr, what) }.map(Some)
}

/// Checks a report struct the library will write (see `abi`).
///
/// # Safety
/// As [`abi::out_struct`].
pub(crate) unsafe fn out_struct<T: Versioned>(ptr: *mut T, what: &str) -> Result<abi::OutStruct<T>, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { abi::out_struct(ptr, what) }
}

/// The store behind a handle.
///
/// # Safety
/// `store` is NULL or a live handle from `chatvault_store_create` or
/// `chatvault_store_open`, not closed before the call returns.
pub(crate) unsafe fn store<'a>(store: *const chatvault_store) -> Result<&'a Store, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { arg(store, "store") }.map(|s| &*s.store)
}

/// The store behind a handle, as the handle shares it (with attachment writers).
///
/// # Safety
/// As [`store`].
pub(crate) unsafe fn shared_store<'a>(store: *const chatvault_store) -> Result<&'a Arc<Store>, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { arg(store, "store") }.map(|s| &s.store)
}

/// Takes back a store handle to close it: `Ok(None)` for NULL, the store
/// for a handle no attachment writer shares, and `StoreInUse` (the handle
/// left as it was, still valid) while writers made from it are open.
///
/// # Safety
/// `store` is NULL or a live handle from `chatvault_store_create` or
/// `chatvault_store_open` that no other thread is using, not yet closed;
/// unless this fails, it is not used again.
pub(crate) unsafe fn store_take(store: *mut chatvault_store) -> Result<Option<Store>, Failure> {
    if store.is_null() {
        return Ok(None);
    }
    if !store.is_aligned() {
        return Err(Failure::invalid("store is not aligned"));
    }
    // SAFETY: a live handle that no other thread is using (the caller's
    // promise): nothing else borrows it. Writers hold counts of the Arc,
    // not borrows of the handle.
    let handle = unsafe { &mut *store };
    if Arc::get_mut(&mut handle.store).is_none() {
        let writers = Arc::strong_count(&handle.store).saturating_sub(1);
        return Err(Failure::new(
            chatvault_status::StoreInUse,
            format!(
                "{writers} attachment writer(s) made from this store handle are still open: finish \
                 (chatvault_attachment_finish) or abort (chatvault_attachment_abort) them, then close it; \
                 nothing was closed and the handle stays valid"
            ),
        ));
    }
    // SAFETY: from handle_out (the caller's promise), and not used again.
    let handle = unsafe { handle_take(store) };
    // The only count (checked above; only calls on the handle, which no
    // other thread is making, add counts), so `into_inner` gives the Store.
    Ok(handle.and_then(|h| Arc::into_inner(h.store)))
}

/// An out-pointer, checked before the work starts and written after it
/// succeeded. It is never read, so it may point to uninitialised memory.
pub(crate) struct Out<T>(*mut T);

/// Checks an out-pointer.
///
/// # Safety
/// If `ptr` is not NULL and is aligned, it is valid for a write of a `T`
/// until the returned [`Out`] is written or dropped.
pub(crate) unsafe fn out<T>(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
    abi::check_ptr(ptr, what)?;
    Ok(Out(ptr))
}

impl<T> Out<T> {
    /// Writes the result (without reading or dropping what was there).
    pub(crate) fn write(self, value: T) {
        // SAFETY: checked non-NULL and aligned by `out`, and valid for a
        // write by the promise made there.
        unsafe { self.0.write(value) }
    }
}

/// An out-array of `len` elements, checked before the work starts.
pub(crate) struct OutArray<T> {
    ptr: *mut T,
    len: usize,
}

/// Checks an out-array; NULL is allowed only when `len` is 0.
///
/// # Safety
/// If `ptr` is not NULL and is aligned, it is valid for writes of `len`
/// `T`s until the returned [`OutArray`] is written or dropped.
pub(crate) unsafe fn out_array<T>(ptr: *mut T, len: usize, what: &str) -> Result<OutArray<T>, Failure> {
    if len > 0 && ptr.is_null() {
        return Err(Failure::new(
            chatvault_status::NullArgument,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    if len.saturating_mul(size_of::<T>()) > MAX_LEN || (len > 0 && !ptr.is_aligned()) {
        return Err(Failure::invalid(format!("{what} has an impossible length or alignment")));
    }
    Ok(OutArray { ptr, len })
}

impl<T: Copy> OutArray<T> {
    /// Writes `values` (at most `len` of them) to the array.
    pub(crate) fn write(self, values: &[T]) {
        let n = values.len().min(self.len);
        if n > 0 {
            // SAFETY: checked by `out_array`; valid for `len` writes by the
            // promise made there; `values` is a distinct Rust allocation.
            unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr, n) }
        }
    }
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

/// Borrows optional text: a NULL `ptr` with length 0 means none.
///
/// # Safety
/// As [`slice`], for `s.len` bytes.
pub(crate) unsafe fn optional_text<'a>(s: chatvault_str, what: &str) -> Result<Option<&'a str>, Failure> {
    if s.ptr.is_null() && s.len == 0 {
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

/// Borrows `len` bytes at `ptr`; NULL is allowed only when `len` is 0.
///
/// # Safety
/// As [`slice`], for `len` bytes.
pub(crate) unsafe fn data<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice(ptr, len, what) }
}

/// Borrows optional UTF-8 text given as a pointer and a length: NULL with
/// length 0 means none.
///
/// # Safety
/// As [`slice`], for `len` bytes.
pub(crate) unsafe fn optional_text_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { optional_text(chatvault_str { ptr, len }, what) }
}

/// A caller's buffer that the library fills: checked before the work
/// starts, then zeroed up to the length used (so that the Rust slice over
/// it is initialised, whatever the caller's memory held).
pub(crate) struct OutBuffer {
    ptr: *mut u8,
    cap: usize,
}

/// Checks a buffer of `cap` bytes; NULL is allowed only when `cap` is 0.
///
/// # Safety
/// If `ptr` is not NULL it is valid for writes of `cap` bytes, and nothing
/// else reads or writes them, until the slice [`OutBuffer::zeroed`] returns
/// is dropped.
pub(crate) unsafe fn out_buffer(ptr: *mut u8, cap: usize, what: &str) -> Result<OutBuffer, Failure> {
    if cap > 0 && ptr.is_null() {
        return Err(Failure::new(
            chatvault_status::NullArgument,
            format!("{what} is NULL but its capacity is {cap}"),
        ));
    }
    if cap > MAX_LEN {
        return Err(Failure::invalid(format!("{what} has an impossible capacity")));
    }
    Ok(OutBuffer { ptr, cap })
}

impl OutBuffer {
    /// The buffer's capacity.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// The first `n` bytes (at most the capacity), zeroed.
    pub(crate) fn zeroed<'a>(self, n: usize) -> &'a mut [u8] {
        let n = n.min(self.cap);
        if n == 0 {
            return &mut [];
        }
        // SAFETY: `ptr` is non-NULL (n > 0 <= cap), valid for writes of
        // `cap` >= n bytes and not otherwise accessed (the promise made to
        // `out_buffer`); u8 has no alignment to meet. Zeroing initialises
        // the bytes before the slice is made.
        unsafe {
            self.ptr.write_bytes(0, n);
            std::slice::from_raw_parts_mut(self.ptr, n)
        }
    }
}

/// A UTF-8 path.
///
/// # Safety
/// As [`slice`], for `len` bytes.
pub(crate) unsafe fn path(ptr: *const c_char, len: usize) -> Result<PathBuf, Failure> {
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
/// As [`arg`] for `key`, and [`slice`] for its `len` bytes at `bytes`.
pub(crate) unsafe fn key(key: *const chatvault_key, what: &str) -> Result<StoreKey, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { key_with(key, what, None) }
}

/// The caller's Argon2id parameters; NULL is none.
///
/// # Safety
/// `p` is NULL or valid for its `struct_size`.
pub(crate) unsafe fn kdf_params(
    p: *const chatvault_kdf_params,
    what: &str,
) -> Result<Option<KdfParams>, Failure> {
    // SAFETY: forwarded from this function's contract.
    let p = unsafe { optional_input(p, what) }?;
    Ok(p.map(|p| KdfParams {
        memory_kib: p.memory_kib,
        iterations: p.iterations,
        parallelism: p.parallelism,
    }))
}

/// The caller's key, a passphrase stretched with `params` if given (the
/// library checks them when it derives); `params` with a raw key is refused.
///
/// # Safety
/// As [`key`].
pub(crate) unsafe fn key_with(
    key: *const chatvault_key,
    what: &str,
    params: Option<KdfParams>,
) -> Result<StoreKey, Failure> {
    // SAFETY: forwarded from this function's contract.
    let key = unsafe { arg(key, what) }?;
    if params.is_some() && key.kind == chatvault_key_kind::Raw as u32 {
        return Err(Failure::invalid(format!(
            "{what} is a raw key, which no key derivation stretches: give Argon2id parameters only with \
             a passphrase"
        )));
    }
    // SAFETY: forwarded from this function's contract.
    let bytes = unsafe { slice(key.bytes, key.len, "key bytes") }?;
    match key.kind {
        k if k == chatvault_key_kind::Raw as u32 => Ok(StoreKey::raw_from_slice(bytes)?),
        k if k == chatvault_key_kind::Passphrase as u32 => {
            let passphrase = std::str::from_utf8(bytes).map_err(|_| {
                Failure::new(chatvault_status::InvalidUtf8, "the passphrase is not valid UTF-8")
            })?;
            Ok(match params {
                Some(params) => StoreKey::passphrase_with_params(passphrase, params),
                None => StoreKey::passphrase(passphrase),
            })
        }
        other => Err(Failure::invalid(format!(
            "key kind {other} is neither CHATVAULT_KEY_KIND_RAW (1) nor CHATVAULT_KEY_KIND_PASSPHRASE (2)"
        ))),
    }
}

/// Borrows an array of conversation ids; NULL is the empty array when `len` is 0.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn ids<'a>(ptr: *const u64, len: usize) -> Result<&'a [u64], Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice(ptr, len, "conversation ids") }
}

/// Borrows an array of message ids; NULL is the empty array when `len` is 0.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn message_ids(
    ptr: *const chatvault_message_id,
    len: usize,
) -> Result<Vec<MessageId>, Failure> {
    // SAFETY: forwarded from this function's contract.
    let ids = unsafe { slice(ptr, len, "message ids") }?;
    Ok(ids.iter().map(|m| MessageId::new(ConversationId::from_raw(m.conversation), m.seq)).collect())
}

/// Borrows an array of UTF-8 texts; NULL is the empty array when `len` is 0.
///
/// # Safety
/// As [`slice`] for `ptr`; each text's pointer is NULL or valid for its length.
pub(crate) unsafe fn texts<'a>(
    ptr: *const chatvault_str,
    len: usize,
    what: &str,
) -> Result<Vec<&'a str>, Failure> {
    // SAFETY: forwarded from this function's contract.
    let texts = unsafe { slice(ptr, len, what) }?;
    texts
        .iter()
        // SAFETY: forwarded from this function's contract.
        .map(|t| unsafe { text(t.ptr, t.len, what) })
        .collect()
}

/// Copies a message to append to conversation `c` out of C memory.
///
/// # Safety
/// As [`arg`] for `m`; every pointer in it is NULL or valid for its length.
pub(crate) unsafe fn new_message(
    c: ConversationId,
    m: *const chatvault_new_message,
) -> Result<NewMessage, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { new_message_fields(c, &input(m, "message")?) }
}

/// Copies a batch out of C memory.
///
/// # Safety
/// As [`slice`] for `entries`; every pointer in them is NULL or valid for its length.
pub(crate) unsafe fn batch(
    entries: *const chatvault_batch_entry,
    len: usize,
) -> Result<Vec<(ConversationId, NewMessage)>, Failure> {
    // SAFETY: forwarded from this function's contract.
    let entries = unsafe { abi::read_array(entries, len, "entries") }?;
    entries
        .iter()
        .map(|e| {
            let c = ConversationId::from_raw(e.conversation);
            // SAFETY: forwarded from this function's contract.
            Ok((c, unsafe { new_message(c, e.message) }?))
        })
        .collect()
}

/// Wraps a compaction progress callback: it is called with `user_data`, and
/// a nonzero answer sets `stop`.
///
/// # Safety
/// `callback` may be called with `user_data` on the calling thread until
/// the compaction returns.
pub(crate) unsafe fn compact_progress(
    callback: unsafe extern "C" fn(*mut c_void, *const chatvault_compact_progress) -> i32,
    user_data: *mut c_void,
    stop: Arc<AtomicBool>,
) -> impl Fn(&CompactProgress) + Send + Sync + 'static {
    // Carried as a number so the closure is Send + Sync: the library calls
    // it on the calling thread, during the call.
    let user_data = user_data as usize;
    move |p| {
        let p = chatvault_compact_progress {
            struct_size: crate::types::size_of_u32::<chatvault_compact_progress>(),
            conversations_done: p.conversations_done,
            conversations_total: p.conversations_total,
            segments_rewritten: p.segments_rewritten,
        };
        // SAFETY: the promise made to compact_progress.
        if unsafe { callback(user_data as *mut c_void, &p) } != 0 {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Wraps an export, import or inspection progress callback: it is called
/// with `user_data`, and a nonzero answer sets `stop`.
///
/// # Safety
/// `callback` may be called with `user_data` on the calling thread until
/// the export or import returns.
pub(crate) unsafe fn archive_progress(
    callback: unsafe extern "C" fn(*mut c_void, *const chatvault_archive_progress) -> i32,
    user_data: *mut c_void,
    stop: Arc<AtomicBool>,
) -> impl Fn(&ArchiveProgress) + Send + Sync + 'static {
    // As in compact_progress.
    let user_data = user_data as usize;
    move |p| {
        let p = chatvault_archive_progress {
            struct_size: crate::types::size_of_u32::<chatvault_archive_progress>(),
            bytes: p.bytes,
            conversations: p.conversations,
            messages: p.messages,
            total_conversations: p.total_conversations,
            total_messages: p.total_messages,
        };
        // SAFETY: the promise made to archive_progress.
        if unsafe { callback(user_data as *mut c_void, &p) } != 0 {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies a conversation to create out of C memory.
///
/// # Safety
/// As [`arg`] for `c`; every pointer in it is NULL or valid for its length
/// (the members' texts included).
pub(crate) unsafe fn new_conversation(
    c: *const chatvault_new_conversation,
) -> Result<NewConversation, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        let c = input(c, "conversation")?;
        Ok(NewConversation {
            external_id: optional_text(c.external_id, "external_id")?.map(str::to_owned),
            title: required_text(c.title, "title")?.to_owned(),
            members: members(c.members, c.members_len)?,
            app_data: bytes(c.app_data, "app_data")?.to_vec(),
            created_at_ms: flag(c.has_created_at, "has_created_at")?.then_some(c.created_at_ms),
            retention_ms: flag(c.has_retention, "has_retention")?.then_some(c.retention_ms),
        })
    }
}

/// Copies a member list out of C memory.
///
/// # Safety
/// As [`slice`] for `ptr`; each text valid for its length.
unsafe fn members(ptr: *const chatvault_str, len: usize) -> Result<Vec<String>, Failure> {
    // SAFETY: forwarded from this function's contract.
    unsafe { texts(ptr, len, "members") }.map(|m| m.into_iter().map(str::to_owned).collect())
}

/// Copies a conversation update out of C memory.
///
/// # Safety
/// As [`input`] for `u`; every pointer in it is NULL or valid for its length.
pub(crate) unsafe fn conversation_update(
    u: *const chatvault_conversation_changes,
) -> Result<ConversationUpdate, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        let u = input(u, "update")?;
        let mut update = ConversationUpdate::default();
        if flag(u.has_title, "has_title")? {
            update.title = Some(required_text(u.title, "title")?.to_owned());
        }
        if flag(u.has_members, "has_members")? {
            update.members = Some(members(u.members, u.members_len)?);
        }
        if flag(u.has_app_data, "has_app_data")? {
            update.app_data = Some(bytes(u.app_data, "app_data")?.to_vec());
        }
        let retention = flag(u.has_retention, "has_retention")?.then_some(u.retention_ms);
        if flag(u.set_retention, "set_retention")? {
            update.retention_ms = Some(retention);
        }
        Ok(update)
    }
}

/// The caller's zone function as the library's.
///
/// # Safety
/// `zone` may be called with `ctx` (on any thread the returned function is
/// called on) for as long as the returned function lives.
unsafe fn zone_fn(
    zone: unsafe extern "C" fn(*mut c_void, i64, *mut i32, *mut c_char, usize, *mut usize),
    ctx: *mut c_void,
) -> impl Fn(i64) -> chatvault::LocalZone + Send + Sync + 'static {
    // A pointer is neither Send nor Sync; the caller vouched for it.
    let ctx = ctx as usize;
    move |ms| {
        let mut offset_seconds = 0i32;
        let mut name = [0u8; ZONE_NAME_CAP];
        let mut len = 0usize;
        // SAFETY: the promise made to zone_fn; the outputs are valid for
        // the call, the name for ZONE_NAME_CAP bytes.
        unsafe {
            zone(ctx as *mut c_void, ms, &mut offset_seconds, name.as_mut_ptr().cast(), name.len(), &mut len)
        };
        let name = name.get(..len).and_then(|n| std::str::from_utf8(n).ok()).unwrap_or("");
        chatvault::LocalZone { offset_seconds, name: name.to_owned() }
    }
}

/// The room a zone function is given for its name.
const ZONE_NAME_CAP: usize = 64;

/// The caller's clock as the library's.
///
/// # Safety
/// `now_ms` may be called with `ctx` from any thread for as long as the
/// returned clock lives (the caller's promise: until the store is closed).
pub(crate) unsafe fn clock(
    now_ms: unsafe extern "C" fn(*mut c_void) -> i64,
    ctx: *mut c_void,
) -> chatvault::Clock {
    let ctx = ctx as usize;
    // SAFETY: the promise made to this function.
    chatvault::Clock::new(move || unsafe { now_ms(ctx as *mut c_void) })
}

/// The byte ranges of a text that matched, for C.
pub(crate) fn match_list_out(ranges: &[std::ops::Range<usize>]) -> *mut chatvault_match_list {
    let items: Vec<chatvault_match_range> =
        ranges.iter().map(|r| chatvault_match_range { start: r.start, end: r.end }).collect();
    let public = chatvault_match_list {
        struct_size: size_of_u32::<chatvault_match_list>(),
        ranges: items.as_ptr(),
        len: items.len(),
    };
    hand_out(public, items, Keep::with_arena(0))
}

/// A text for C.
pub(crate) fn text_out(s: &str) -> *mut chatvault_text {
    let mut keep = Keep::with_arena(s.len() + 2);
    let public = chatvault_text { struct_size: size_of_u32::<chatvault_text>(), text: keep.text(s) };
    hand_out::<_, ()>(public, Vec::new(), keep)
}

/// # Safety
/// `p` is NULL or came from [`text_out`], and is not used again.
pub(crate) unsafe fn text_free(p: *mut chatvault_text) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_text, ()>(p) }
}

/// # Safety
/// `p` is NULL or came from [`match_list_out`], and is not used again.
pub(crate) unsafe fn match_list_free(p: *mut chatvault_match_list) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_match_list, chatvault_match_range>(p) }
}

/// Reads HTML export options; NULL is the defaults.
///
/// # Safety
/// As [`optional_input`] for `o`; its texts are NULL (length 0) or valid
/// for their lengths; its `zone` callable with `zone_ctx` until the export
/// returns.
pub(crate) unsafe fn html_options(
    o: *const chatvault_html_options,
) -> Result<chatvault::HtmlOptions, Failure> {
    let mut options = chatvault::HtmlOptions::new();
    // SAFETY: forwarded from this function's contract.
    let Some(o) = unsafe { optional_input(o, "options") }? else {
        return Ok(options);
    };
    // SAFETY: forwarded from this function's contract.
    if let Some(me) = unsafe { optional_text(o.me, "me") }? {
        options = options.me(me);
    }
    if o.messages_per_page != 0 {
        options = options.messages_per_page(usize::try_from(o.messages_per_page).unwrap_or(usize::MAX));
    }
    if let Some(zone) = o.zone {
        if flag(o.has_zone, "has_zone")? {
            return Err(Failure::invalid(
                "options set both has_zone and zone: give a fixed offset or a function, not both",
            ));
        }
        // SAFETY: the caller's promise (this function's contract): `zone`
        // may be called with `zone_ctx` on this thread until the export
        // returns, which is as long as the options live.
        options = options.zone(unsafe { zone_fn(zone, o.zone_ctx) });
    } else if flag(o.has_zone, "has_zone")? {
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { optional_text(o.zone_name, "zone_name") }?.unwrap_or("").to_owned();
        let offset_seconds = o.zone_offset_seconds;
        options = options.zone(move |_| chatvault::LocalZone { offset_seconds, name: name.clone() });
    }
    Ok(options.replace_existing(flag(o.replace_existing, "replace_existing")?))
}

/// Copies an attachment to write out of C memory.
///
/// # Safety
/// As [`arg`] for `a`; every pointer in it is NULL or valid for its length.
pub(crate) unsafe fn new_attachment(a: *const chatvault_new_attachment) -> Result<NewAttachment, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        let a = input(a, "attachment")?;
        Ok(NewAttachment {
            media_type: required_text(a.media_type, "media_type")?.to_owned(),
            file_name: optional_text(a.file_name, "file_name")?.map(str::to_owned),
            app_data: bytes(a.app_data, "app_data")?.to_vec(),
        })
    }
}

/// Reads a presence flag: 0 or 1.
pub(crate) fn flag(v: u8, what: &str) -> Result<bool, Failure> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Failure::invalid(format!("{what} is {other}: it must be 0 (absent) or 1 (present)"))),
    }
}

/// Copies an attachment filter out of C memory.
///
/// # Safety
/// As [`arg`] for `f`; its prefix text is NULL (length 0) or valid for its length.
pub(crate) unsafe fn attachment_filter(
    f: *const chatvault_attachment_filter,
) -> Result<AttachmentFilter, Failure> {
    // SAFETY: forwarded from this function's contract.
    let f = unsafe { input(f, "filter") }?;
    let prefix = if flag(f.has_media_type_prefix, "has_media_type_prefix")? {
        // SAFETY: forwarded from this function's contract.
        Some(unsafe { required_text(f.media_type_prefix, "media_type_prefix") }?.to_owned())
    } else {
        None
    };
    Ok(AttachmentFilter {
        conversation: flag(f.has_conversation, "has_conversation")?
            .then(|| ConversationId::from_raw(f.conversation)),
        media_type_prefix: prefix,
        created_before_ms: flag(f.has_created_before, "has_created_before")?.then_some(f.created_before_ms),
        min_bytes: flag(f.has_min_bytes, "has_min_bytes")?.then_some(f.min_bytes),
    })
}

/// Copies a message to append to conversation `c` out of C memory.
///
/// # Safety
/// Every pointer in `m` is NULL or valid for its length.
unsafe fn new_message_fields(c: ConversationId, m: &chatvault_new_message) -> Result<NewMessage, Failure> {
    // SAFETY: forwarded from this function's contract, field by field.
    unsafe {
        Ok(NewMessage {
            external_id: optional_text(m.external_id, "external_id")?.map(str::to_owned),
            sender: required_text(m.sender, "sender")?.to_owned(),
            sent_at_ms: m.sent_at_ms,
            text: required_text(m.text, "text")?.to_owned(),
            reply_to: flag(m.has_reply_to, "has_reply_to")?.then(|| MessageId::new(c, m.reply_to_seq)),
            extra: bytes(m.extra, "extra")?.to_vec(),
            expires_at_ms: flag(m.has_expires_at, "has_expires_at")?.then_some(m.expires_at_ms),
        })
    }
}

/// Memory that an output struct points into: wiped (text and bytes) and
/// freed with it.
///
/// Texts and bytes go into one arena, allocated once at the size the caller
/// computed ([`Keep::with_arena`]) and never grown, so pointers into it stay
/// valid; one that would not fit gets a buffer of its own instead.
#[derive(Default)]
struct Keep {
    arena: Zeroizing<Vec<u8>>,
    overflow: Vec<Zeroizing<Vec<u8>>>,
    member_lists: Vec<Vec<chatvault_str>>,
    messages: Vec<chatvault_message>,
    conversations: Vec<chatvault_conversation>,
    match_ranges: Vec<chatvault_match_range>,
}

/// Arena bytes an attachment's texts and bytes take.
fn attachment_size(a: &Attachment) -> usize {
    a.media_type.len() + a.file_name.as_ref().map_or(0, |f| f.len() + 1) + a.app_data.len() + 2
}

/// Arena bytes a message's texts and bytes take (each NUL-terminated).
fn message_size(m: &Message) -> usize {
    m.external_id.as_ref().map_or(0, |e| e.len() + 1) + m.sender.len() + m.text.len() + m.extra.len() + 3
}

/// Arena bytes a conversation's texts and bytes take.
fn conversation_size(c: &Conversation) -> usize {
    c.external_id.as_ref().map_or(0, |e| e.len() + 1)
        + c.title.len()
        + c.members.iter().map(|m| m.len() + 1).sum::<usize>()
        + c.app_data.len()
        + 2
}

impl Keep {
    fn with_arena(bytes: usize) -> Self {
        Keep { arena: Zeroizing::new(Vec::with_capacity(bytes)), ..Keep::default() }
    }

    fn buffer(&mut self, b: &[u8]) -> *const u8 {
        if self.arena.capacity() - self.arena.len() > b.len() {
            // Fits: no reallocation, so earlier pointers into the arena stay valid.
            let start = self.arena.len();
            self.arena.extend_from_slice(b);
            self.arena.push(0);
            return self.arena.as_ptr().wrapping_add(start);
        }
        let mut v = Zeroizing::new(Vec::with_capacity(b.len() + 1));
        v.extend_from_slice(b);
        v.push(0);
        let ptr = v.as_ptr();
        self.overflow.push(v);
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
            struct_size: size_of_u32::<chatvault_message>(),
            id: message_id(m.id),
            external_id: self.optional_text(m.external_id.as_deref()),
            sender: self.text(&m.sender),
            text: self.text(&m.text),
            sent_at_ms: m.sent_at_ms,
            has_edited_at: u8::from(m.edited_at_ms.is_some()),
            edited_at_ms: m.edited_at_ms.unwrap_or(0),
            has_expires_at: u8::from(m.expires_at_ms.is_some()),
            expires_at_ms: m.expires_at_ms.unwrap_or(0),
            has_reply_to: u8::from(m.reply_to.is_some()),
            reply_to_seq: m.reply_to.map_or(0, MessageId::seq),
            extra: self.bytes(&m.extra),
        }
    }

    fn attachment(&mut self, a: &Attachment) -> chatvault_attachment {
        chatvault_attachment {
            struct_size: size_of_u32::<chatvault_attachment>(),
            id: a.id.get(),
            message: message_id(a.message),
            media_type: self.text(&a.media_type),
            file_name: self.optional_text(a.file_name.as_deref()),
            byte_len: a.byte_len,
            app_data: self.bytes(&a.app_data),
            created_at_ms: a.created_at_ms,
            has_removed_at: u8::from(a.removed_at_ms.is_some()),
            removed_at_ms: a.removed_at_ms.unwrap_or(0),
        }
    }

    fn conversation(&mut self, c: &Conversation) -> chatvault_conversation {
        let members: Vec<chatvault_str> = c.members.iter().map(|m| self.text(m)).collect();
        let out = chatvault_conversation {
            struct_size: size_of_u32::<chatvault_conversation>(),
            id: c.id.get(),
            external_id: self.optional_text(c.external_id.as_deref()),
            title: self.text(&c.title),
            members: members.as_ptr(),
            members_len: members.len(),
            app_data: self.bytes(&c.app_data),
            created_at_ms: c.created_at_ms,
            has_read_up_to: u8::from(c.read_up_to.is_some()),
            read_up_to_seq: c.read_up_to.map_or(0, MessageId::seq),
            message_count: c.message_count,
            has_retention: u8::from(c.retention_ms.is_some()),
            retention_ms: c.retention_ms.unwrap_or(0),
        };
        self.member_lists.push(members);
        out
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
    let mut keep = Keep::with_arena(messages.iter().map(message_size).sum());
    let items: Vec<chatvault_message> = messages.iter().map(|m| keep.message(m)).collect();
    let public = chatvault_message_page {
        struct_size: size_of_u32::<chatvault_message_page>(),
        items: items.as_ptr(),
        len: items.len(),
    };
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
    let mut keep = Keep::with_arena(message_size(m));
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
    let mut keep = Keep::with_arena(conversation_size(c));
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
    let size = list
        .iter()
        .map(|s| conversation_size(&s.conversation) + s.last_message.as_ref().map_or(0, message_size));
    let mut keep = Keep::with_arena(size.sum());
    // The conversations and last messages go into Vecs filled before any
    // pointer into them is taken; moving the Vecs into `keep` afterwards
    // does not move their elements.
    let conversations: Vec<chatvault_conversation> =
        list.iter().map(|s| keep.conversation(&s.conversation)).collect();
    let mut last_messages = Vec::new();
    let mut last_index = Vec::with_capacity(list.len());
    for s in list {
        last_index.push(s.last_message.as_ref().map(|m| {
            last_messages.push(keep.message(m));
            last_messages.len() - 1
        }));
    }
    let (conv_base, last_base) = (conversations.as_ptr(), last_messages.as_ptr());
    let items: Vec<chatvault_conversation_summary> = list
        .iter()
        .zip(last_index)
        .enumerate()
        .map(|(at, (s, i))| chatvault_conversation_summary {
            struct_size: size_of_u32::<chatvault_conversation_summary>(),
            conversation: conv_base.wrapping_add(at),
            last_message: i.map_or(std::ptr::null(), |i| last_base.wrapping_add(i)),
            unread_count: s.unread_count,
        })
        .collect();
    keep.messages = last_messages;
    keep.conversations = conversations;
    let public = chatvault_conversation_list {
        struct_size: size_of_u32::<chatvault_conversation_list>(),
        items: items.as_ptr(),
        len: items.len(),
    };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`conversation_list_out`], and is not used again.
pub(crate) unsafe fn conversation_list_free(p: *mut chatvault_conversation_list) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_conversation_list, chatvault_conversation_summary>(p) }
}

/// A search query copied out of C memory, its texts borrowed.
pub(crate) struct SearchArgs<'a> {
    pub(crate) text: &'a str,
    pub(crate) conversation: Option<u64>,
    pub(crate) sender: Option<&'a str>,
    pub(crate) from_ms: Option<i64>,
    pub(crate) until_ms: Option<i64>,
    pub(crate) limit: usize,
    pub(crate) after: Option<chatvault_search_cursor>,
}

/// Reads a search query.
///
/// # Safety
/// As [`input`] for `q`; its texts are NULL (length 0) or valid for their lengths.
pub(crate) unsafe fn search_query<'a>(q: *const chatvault_search_query) -> Result<SearchArgs<'a>, Failure> {
    // SAFETY: forwarded from this function's contract.
    let q = unsafe { input(q, "query") }?;
    Ok(SearchArgs {
        // SAFETY: forwarded from this function's contract.
        text: unsafe { required_text(q.text, "query text") }?,
        conversation: flag(q.has_conversation, "has_conversation")?.then_some(q.conversation),
        // SAFETY: forwarded from this function's contract.
        sender: unsafe { optional_text(q.sender, "sender") }?,
        from_ms: flag(q.has_from, "has_from")?.then_some(q.from_ms),
        until_ms: flag(q.has_until, "has_until")?.then_some(q.until_ms),
        limit: q.limit,
        after: flag(q.has_after, "has_after")?.then_some(q.after),
    })
}

/// A page of search hits for C.
pub(crate) fn search_page_out(page: &SearchPage) -> *mut chatvault_search_page {
    let mut keep = Keep::with_arena(page.hits.iter().map(|h| message_size(&h.message)).sum());
    // The messages and ranges go into Vecs filled before any pointer into
    // them is taken; moving the Vecs into `keep` afterwards does not move them.
    let messages: Vec<chatvault_message> = page.hits.iter().map(|h| keep.message(&h.message)).collect();
    let ranges: Vec<chatvault_match_range> = page
        .hits
        .iter()
        .flat_map(|h| h.ranges.iter().map(|r| chatvault_match_range { start: r.start, end: r.end }))
        .collect();
    let (base, message_base) = (ranges.as_ptr(), messages.as_ptr());
    let mut at = 0usize;
    let items: Vec<chatvault_search_hit> = page
        .hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let hit = chatvault_search_hit {
                struct_size: size_of_u32::<chatvault_search_hit>(),
                message: message_base.wrapping_add(i),
                ranges: base.wrapping_add(at),
                ranges_len: h.ranges.len(),
            };
            at += h.ranges.len();
            hit
        })
        .collect();
    keep.match_ranges = ranges;
    keep.messages = messages;
    let next = page.next.map_or(chatvault_search_cursor::default(), |c| chatvault_search_cursor {
        sent_at_ms: c.sent_at_ms,
        message: message_id(c.message),
    });
    let public = chatvault_search_page {
        struct_size: size_of_u32::<chatvault_search_page>(),
        items: items.as_ptr(),
        len: items.len(),
        has_next: u8::from(page.next.is_some()),
        next,
        unindexed_segments: page.unindexed_segments,
    };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`search_page_out`], and is not used again.
pub(crate) unsafe fn search_page_free(p: *mut chatvault_search_page) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_search_page, chatvault_search_hit>(p) }
}

/// A verify report for C.
pub(crate) fn verify_report_out(r: &VerifyReport) -> *mut chatvault_verify_report {
    use chatvault::ProblemKind as K;
    let mut keep = Keep::with_arena(r.problems.iter().map(|p| p.detail.len() + 1).sum());
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
                K::Schema => chatvault_problem_kind::Schema,
                _ => chatvault_problem_kind::Other,
            };
            let (first_seq, last_seq) = p.seqs.unwrap_or((0, 0));
            chatvault_problem {
                struct_size: size_of_u32::<chatvault_problem>(),
                kind: kind as u32,
                has_conversation: u8::from(p.conversation.is_some()),
                conversation: p.conversation.map_or(0, ConversationId::get),
                has_seqs: u8::from(p.seqs.is_some()),
                first_seq,
                last_seq,
                has_epoch: u8::from(p.epoch.is_some()),
                epoch: p.epoch.map_or(0, |e| e.get()),
                detail: keep.text(&p.detail),
            }
        })
        .collect();
    let public = chatvault_verify_report {
        struct_size: size_of_u32::<chatvault_verify_report>(),
        conversations: r.conversations,
        segments: r.segments,
        messages: r.messages,
        problems: problems.as_ptr(),
        problems_len: problems.len(),
        attachments: r.attachments,
    };
    hand_out(public, problems, keep)
}

/// # Safety
/// `p` is NULL or came from [`verify_report_out`], and is not used again.
pub(crate) unsafe fn verify_report_free(p: *mut chatvault_verify_report) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_verify_report, chatvault_problem>(p) }
}

/// One attachment's metadata for C.
pub(crate) fn attachment_out(a: &Attachment) -> *mut chatvault_attachment {
    let mut keep = Keep::with_arena(attachment_size(a));
    let public = keep.attachment(a);
    hand_out::<_, ()>(public, Vec::new(), keep)
}

/// # Safety
/// `p` is NULL or came from [`attachment_out`], and is not used again.
pub(crate) unsafe fn attachment_free(p: *mut chatvault_attachment) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_attachment, ()>(p) }
}

/// A list of attachments for C.
pub(crate) fn attachment_list_out(list: &[Attachment]) -> *mut chatvault_attachment_list {
    let mut keep = Keep::with_arena(list.iter().map(attachment_size).sum());
    let items: Vec<chatvault_attachment> = list.iter().map(|a| keep.attachment(a)).collect();
    let public = chatvault_attachment_list {
        struct_size: size_of_u32::<chatvault_attachment_list>(),
        items: items.as_ptr(),
        len: items.len(),
    };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`attachment_list_out`], and is not used again.
pub(crate) unsafe fn attachment_list_free(p: *mut chatvault_attachment_list) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_attachment_list, chatvault_attachment>(p) }
}

/// Storage usage for C.
pub(crate) fn storage_usage_out(usage: &[ConversationUsage]) -> *mut chatvault_storage_usage_list {
    let items: Vec<chatvault_conversation_usage> = usage
        .iter()
        .map(|u| chatvault_conversation_usage {
            struct_size: size_of_u32::<chatvault_conversation_usage>(),
            conversation: u.conversation.get(),
            text_bytes: u.text_bytes,
            attachment_bytes: u.attachment_bytes,
            attachments: u.attachments,
        })
        .collect();
    let public = chatvault_storage_usage_list {
        struct_size: size_of_u32::<chatvault_storage_usage_list>(),
        items: items.as_ptr(),
        len: items.len(),
    };
    hand_out(public, items, Keep::default())
}

/// # Safety
/// `p` is NULL or came from [`storage_usage_out`], and is not used again.
pub(crate) unsafe fn storage_usage_free(p: *mut chatvault_storage_usage_list) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_storage_usage_list, chatvault_conversation_usage>(p) }
}

/// An archive's summary for C.
pub(crate) fn archive_summary_out(a: &ArchiveSummary) -> *mut chatvault_archive_summary {
    let size = a.chatvault_version.len()
        + 1
        + a.conversations
            .iter()
            .map(|c| c.title.len() + 1 + c.external_id.as_ref().map_or(0, |e| e.len() + 1))
            .sum::<usize>();
    let mut keep = Keep::with_arena(size);
    let items: Vec<chatvault_archived_conversation> = a
        .conversations
        .iter()
        .map(|c| chatvault_archived_conversation {
            struct_size: size_of_u32::<chatvault_archived_conversation>(),
            external_id: keep.optional_text(c.external_id.as_deref()),
            title: keep.text(&c.title),
            messages: c.messages,
            has_sent_between: u8::from(c.sent_between_ms.is_some()),
            first_sent_ms: c.sent_between_ms.map_or(0, |(first, _)| first),
            last_sent_ms: c.sent_between_ms.map_or(0, |(_, last)| last),
            attachments: c.attachments,
        })
        .collect();
    let key_kind = if a.passphrase { chatvault_key_kind::Passphrase } else { chatvault_key_kind::Raw };
    let public = chatvault_archive_summary {
        struct_size: size_of_u32::<chatvault_archive_summary>(),
        version: u32::from(a.version),
        key_kind: key_kind as u32,
        chatvault_version: keep.text(&a.chatvault_version),
        exported_at_ms: a.exported_at_ms,
        conversations: items.as_ptr(),
        conversations_len: items.len(),
        messages: a.messages,
        attachments: a.attachments,
        attachment_bytes: a.attachment_bytes,
        bytes: a.bytes,
    };
    hand_out(public, items, keep)
}

/// # Safety
/// `p` is NULL or came from [`archive_summary_out`], and is not used again.
pub(crate) unsafe fn archive_summary_free(p: *mut chatvault_archive_summary) {
    // SAFETY: forwarded from this function's contract.
    unsafe { take_back::<chatvault_archive_summary, chatvault_archived_conversation>(p) }
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

    /// A caller's struct from an older header is shorter than the
    /// library's: `input` reads it in an allocation of exactly its
    /// `struct_size`, making no `&T` over it. (Natively this passes either
    /// way; under Miri, `cargo +nightly miri test -p chatvault-ffi --lib
    /// shorter_input`, a full-size reference over it is reported as UB.)
    #[test]
    fn a_shorter_input_is_read_without_a_reference_to_a_full_struct() {
        let size = std::mem::offset_of!(chatvault_compact_options, segment_budget);
        let layout =
            std::alloc::Layout::from_size_align(size, align_of::<chatvault_compact_options>()).unwrap();
        // SAFETY: a layout of nonzero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null());
        // SAFETY: `p` is valid for `size` (16) bytes, aligned for u64.
        unsafe {
            p.cast::<u32>().write(size as u32);
            p.add(8).cast::<u64>().write(1234);
        }
        // SAFETY: a struct readable for its struct_size bytes.
        let got = unsafe { input(p.cast::<chatvault_compact_options>().cast_const(), "options") };
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(p, layout) };
        let got = got.unwrap();
        assert_eq!((got.time_budget_ms, got.segment_budget, got.target_messages), (1234, 0, 0));
    }

    #[test]
    fn null_is_empty_only_at_length_zero() {
        // SAFETY: NULL pointers with the lengths given; nothing is read.
        unsafe {
            assert_eq!(text(std::ptr::null(), 0, "t").unwrap(), "");
            let e = text(std::ptr::null(), 3, "t").unwrap_err();
            assert_eq!(e.status, chatvault_status::NullArgument);
            assert_eq!(optional_text(chatvault_str { ptr: std::ptr::null(), len: 0 }, "x").unwrap(), None);
            let e = optional_text(chatvault_str { ptr: std::ptr::null(), len: 5 }, "x").unwrap_err();
            assert_eq!(e.status, chatvault_status::NullArgument);
            let e = out_array::<u64>(std::ptr::null_mut(), 2, "ids").err().unwrap();
            assert_eq!(e.status, chatvault_status::NullArgument);
            assert!(out_array::<u64>(std::ptr::null_mut(), 0, "ids").is_ok());
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
            assert_eq!(out.struct_size as usize, size_of::<chatvault_message>());
            assert_eq!((out.has_reply_to, out.reply_to_seq), (1, 2));
            assert_eq!((out.has_edited_at, out.has_expires_at, out.expires_at_ms), (0, 1, 77));
            assert_eq!(std::slice::from_raw_parts(out.extra.ptr, out.extra.len), [1, 2, 3]);
            page_free(p);
            page_free(std::ptr::null_mut());
        }
    }

    fn message(c: u64, seq: u64, text: &str) -> Message {
        Message {
            id: MessageId::new(ConversationId::from_raw(c), seq),
            external_id: Some(format!("ext-{seq}")),
            sender: "s".into(),
            sent_at_ms: 1,
            text: text.into(),
            reply_to: None,
            edited_at_ms: Some(2),
            extra: Vec::new(),
            expires_at_ms: None,
        }
    }

    #[test]
    fn a_conversation_lists_pointers_stay_valid_until_it_is_freed() {
        let summaries: Vec<ConversationSummary> = (1..=40)
            .map(|i| ConversationSummary {
                conversation: Conversation {
                    id: ConversationId::from_raw(i),
                    external_id: None,
                    title: format!("conversation {i}"),
                    members: vec!["a".into(), format!("member {i}")],
                    app_data: vec![i as u8],
                    created_at_ms: 0,
                    read_up_to: None,
                    message_count: i,
                    retention_ms: None,
                },
                last_message: (i % 3 != 0).then(|| message(i, i, &format!("last of {i}"))),
                unread_count: i,
            })
            .collect();
        let p = conversation_list_out(&summaries);
        // SAFETY: p came from conversation_list_out and is freed once, below;
        // every pointer read is inside it.
        unsafe {
            let list = &*p;
            let items = std::slice::from_raw_parts(list.items, list.len);
            assert_eq!(items.len(), 40);
            for (s, want) in items.iter().zip(&summaries) {
                let conversation = &*s.conversation;
                let title =
                    std::slice::from_raw_parts(conversation.title.ptr.cast::<u8>(), conversation.title.len);
                assert_eq!(title, want.conversation.title.as_bytes());
                let members = std::slice::from_raw_parts(conversation.members, conversation.members_len);
                let second = std::slice::from_raw_parts(members[1].ptr.cast::<u8>(), members[1].len);
                assert_eq!(second, want.conversation.members[1].as_bytes());
                match &want.last_message {
                    Some(m) => {
                        let last = &*s.last_message;
                        assert_eq!(last.id, message_id(m.id));
                        let text = std::slice::from_raw_parts(last.text.ptr.cast::<u8>(), last.text.len);
                        assert_eq!(text, m.text.as_bytes());
                    }
                    None => assert!(s.last_message.is_null()),
                }
            }
            conversation_list_free(p);
        }
    }
}
