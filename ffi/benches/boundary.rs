//! What crossing the C boundary costs: the same reads through the Rust API
//! and through the C functions (copying every string into memory the
//! library hands out, and freeing it; for an attachment's content, zeroing
//! the caller's buffer before filling it), on one store, in one run; and
//! what reading a versioned input struct (its `struct_size` checked, its
//! prefix copied over the defaults) and writing a versioned report cost,
//! beside the Rust calls they wrap.
//! `cargo bench -p chatvault-ffi --bench boundary`.

use std::ffi::c_char;

use chatvault::{NewAttachment, NewConversation, NewMessage, Page, Store, StoreKey};
use chatvault_ffi::*;
use criterion::{Criterion, criterion_group, criterion_main};

const KEY: [u8; 32] = [7; 32];
const TEXTS: [&str; 4] = ["on my way, 5 min", "ça marche, à demain 👍", "好的，明天见！", "lol"];

fn boundary(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.chatvault");
    let store = Store::create(&path, StoreKey::raw(KEY)).unwrap();
    let mut first = None;
    for i in 0..100u64 {
        let conv = store
            .create_conversation(NewConversation { title: format!("chat {i}"), ..Default::default() })
            .unwrap();
        first.get_or_insert(conv);
        let n = if i == 0 { 5_000 } else { 20 };
        let batch: Vec<_> = (0..n)
            .map(|j| {
                let m = NewMessage {
                    sender: format!("user{}", j % 7),
                    sent_at_ms: 1_700_000_000_000 + j as i64 * 1000,
                    text: TEXTS[j % TEXTS.len()].to_owned(),
                    ..Default::default()
                };
                (conv, m)
            })
            .collect();
        store.append_batch(&batch).unwrap();
    }
    let conv = first.unwrap();
    // A 4 MiB attachment (a file beside the store), read 1 MiB at a time.
    let m = store.messages(conv, Page::latest(1)).unwrap()[0].id;
    let content: Vec<u8> = (0..4u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
    let new = NewAttachment { media_type: "video/mp4".into(), ..Default::default() };
    let attachment = store.attach_from(m, new, &mut content.as_slice()).unwrap();
    drop(store);

    let rust = Store::open(&path, StoreKey::raw(KEY)).unwrap();
    let key = chatvault_key { kind: chatvault_key_kind::Raw as u32, bytes: KEY.as_ptr(), len: 32 };
    let p = path.to_str().unwrap();
    let mut handle: *mut chatvault_store = std::ptr::null_mut();
    // SAFETY: valid pointers for the lengths given.
    let st = unsafe { chatvault_store_open(p.as_ptr().cast::<c_char>(), p.len(), &key, &mut handle) };
    assert_eq!(st, chatvault_status::Ok);

    let mut g = c.benchmark_group("page_latest_50");
    g.bench_function("rust", |b| b.iter(|| rust.messages(conv, Page::latest(50)).unwrap()));
    g.bench_function("c_api", |b| {
        b.iter(|| {
            let mut page = std::ptr::null_mut();
            // SAFETY: a live handle and a valid out-pointer; the page is freed once.
            unsafe {
                assert_eq!(
                    chatvault_message_page_latest(handle, conv.get(), 50, &mut page),
                    chatvault_status::Ok
                );
                chatvault_message_page_free(page);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("conversation_list_100");
    g.bench_function("rust", |b| b.iter(|| rust.conversations().unwrap()));
    g.bench_function("c_api", |b| {
        b.iter(|| {
            let mut list = std::ptr::null_mut();
            // SAFETY: as above.
            unsafe {
                assert_eq!(chatvault_conversation_list_get(handle, 0, &mut list), chatvault_status::Ok);
                chatvault_conversation_list_free(list);
            }
        })
    });
    g.finish();

    // Versioned structs: an input (a message, struct_size checked and
    // copied) and a report (stats, written within struct_size).
    let scratch = rust.create_conversation(NewConversation { title: "scratch".into(), ..Default::default() });
    let scratch = scratch.unwrap();
    let mut g = c.benchmark_group("append_one");
    let mut i = 0i64;
    g.bench_function("rust", |b| {
        b.iter(|| {
            i += 1;
            let m = NewMessage {
                sender: "me".into(),
                sent_at_ms: 1_800_000_000_000 + i,
                text: TEXTS[0].into(),
                ..Default::default()
            };
            rust.append(scratch, m).unwrap()
        })
    });
    let text = |s: &str| chatvault_str { ptr: s.as_ptr().cast::<c_char>(), len: s.len() };
    g.bench_function("c_api", |b| {
        b.iter(|| {
            i += 1;
            let m = chatvault_new_message {
                struct_size: size_of::<chatvault_new_message>() as u32,
                external_id: chatvault_str { ptr: std::ptr::null(), len: 0 },
                sender: text("me"),
                text: text(TEXTS[0]),
                sent_at_ms: 1_800_000_000_000 + i,
                has_reply_to: 0,
                reply_to_seq: 0,
                extra: chatvault_bytes { ptr: std::ptr::null(), len: 0 },
                has_expires_at: 0,
                expires_at_ms: 0,
            };
            let mut id = chatvault_message_id::default();
            // SAFETY: a live handle, a valid message and out-pointer.
            let st = unsafe { chatvault_message_append(handle, scratch.get(), &m, &mut id) };
            assert_eq!(st, chatvault_status::Ok);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("stats");
    g.bench_function("rust", |b| b.iter(|| rust.stats().unwrap()));
    g.bench_function("c_api", |b| {
        b.iter(|| {
            let mut stats =
                chatvault_stats { struct_size: size_of::<chatvault_stats>() as u32, ..Default::default() };
            // SAFETY: a live handle and a valid report with its struct_size.
            let st = unsafe { chatvault_store_stats(handle, &mut stats) };
            assert_eq!(st, chatvault_status::Ok);
        })
    });
    g.finish();

    const RANGE: usize = 1 << 20;
    let mut g = c.benchmark_group("attachment_read_1mib");
    let mut reader = rust.open_attachment(attachment).unwrap();
    let mut buf = vec![0u8; RANGE];
    g.bench_function("rust", |b| {
        b.iter(|| {
            let mut done = 0;
            while done < RANGE {
                done += reader.read_at((RANGE + done) as u64, &mut buf[done..]).unwrap();
            }
        })
    });
    let mut c_reader = std::ptr::null_mut();
    // SAFETY: a live handle and a valid out-pointer.
    let st = unsafe { chatvault_attachment_open(handle, attachment.get(), &mut c_reader) };
    assert_eq!(st, chatvault_status::Ok);
    g.bench_function("c_api", |b| {
        b.iter(|| {
            let mut n = 0usize;
            // SAFETY: a live reader, a buffer valid for RANGE bytes, a valid out-pointer.
            unsafe {
                assert_eq!(
                    chatvault_attachment_read_at(c_reader, RANGE as u64, buf.as_mut_ptr(), RANGE, &mut n),
                    chatvault_status::Ok
                );
            }
            assert_eq!(n, RANGE);
        })
    });
    g.finish();
    // SAFETY: the reader is live and no longer used.
    unsafe { chatvault_attachment_close(c_reader) };

    // SAFETY: the handle is live and no longer used.
    assert_eq!(unsafe { chatvault_store_close(handle) }, chatvault_status::Ok);
}

criterion_group!(benches, boundary);
criterion_main!(benches);
