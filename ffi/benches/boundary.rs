//! What crossing the C boundary costs: the same reads through the Rust API
//! and through the C functions (copying every string into memory the
//! library hands out, and freeing it), on one store, in one run.
//! `cargo bench -p chatvault-ffi --bench boundary`.

use std::ffi::c_char;

use chatvault::{NewConversation, NewMessage, Page, Store, StoreKey};
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

    // SAFETY: the handle is live and no longer used.
    assert_eq!(unsafe { chatvault_store_close(handle) }, chatvault_status::Ok);
}

criterion_group!(benches, boundary);
criterion_main!(benches);
