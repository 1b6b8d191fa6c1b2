/*
 * Drives every function of the C API from C, as an app would: the happy
 * paths, the error paths (NULL, wrong key, unknown ids, invalid UTF-8,
 * freeing NULL, a tampered attachment file), threads appending and paging
 * one store at once, and threads reading one attachment at once.
 * tests/foreign.rs compiles it with the system C compiler and runs it, plainly
 * and under valgrind (or AddressSanitizer).
 *
 * Usage: c_api <empty scratch directory>. Prints "c_api: all passed" and
 * exits 0, or names the failed check and exits 1.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, nanosleep */

#include "chatvault.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *dir;
static int checks;
static uint64_t group; /* the second conversation: no external id, disappearing messages */

#define CHECK(cond)                                                               \
    do {                                                                          \
        checks++;                                                                 \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* A call that must return `want`; prints the status and message if not. */
#define EXPECT(want, call)                                                              \
    do {                                                                                \
        chatvault_status got_ = (call);                                                 \
        checks++;                                                                       \
        if (got_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s\n", __FILE__, __LINE__, \
                    #call, chatvault_status_name(got_), chatvault_last_error_message(),  \
                    chatvault_status_name(want));                                       \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#define OK(call) EXPECT(CHATVAULT_STATUS_OK, call)

/* The thread's last error message contains `part`. */
#define MESSAGE_HAS(part) CHECK(strstr(chatvault_last_error_message(), (part)) != NULL)

static chatvault_str text(const char *s) {
    chatvault_str t = {s, strlen(s)};
    return t;
}

static const chatvault_str none = {NULL, 0};

static int same(chatvault_str t, const char *s) {
    return t.ptr != NULL && t.len == strlen(s) && memcmp(t.ptr, s, t.len) == 0 && t.ptr[t.len] == '\0';
}

static char *path_of(const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    CHECK(p != NULL);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static const uint8_t raw_key_bytes[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t other_key_bytes[32] = {99};

static chatvault_key raw_key(const uint8_t *bytes) {
    chatvault_key k = {CHATVAULT_KEY_KIND_RAW, bytes, 32};
    return k;
}

static chatvault_key passphrase(const char *p) {
    chatvault_key k = {CHATVAULT_KEY_KIND_PASSPHRASE, (const uint8_t *)p, strlen(p)};
    return k;
}

static chatvault_new_message message(const char *sender, const char *body, int64_t sent_at_ms) {
    chatvault_new_message m = CHATVAULT_INIT(chatvault_new_message);
    m.external_id = none;
    m.sender = text(sender);
    m.text = text(body);
    m.sent_at_ms = sent_at_ms;
    return m;
}

static chatvault_store *open_store(const char *path, chatvault_key key) {
    chatvault_store *s = NULL;
    OK(chatvault_store_open(path, strlen(path), &key, &s));
    CHECK(s != NULL);
    return s;
}

static void test_version_and_names(void) {
    CHECK(strlen(chatvault_version()) > 0);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_OK), "CHATVAULT_STATUS_OK") == 0);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_WRONG_KEY), "CHATVAULT_STATUS_WRONG_KEY") == 0);
    CHECK(strcmp(chatvault_status_name(12345), "CHATVAULT_STATUS_UNKNOWN") == 0);
    /* Codes added later keep their numbers, after UNKNOWN (26). */
    CHECK(CHATVAULT_STATUS_KDF_TOO_COSTLY == 27 && CHATVAULT_STATUS_MASTER_KEY_ROTATED == 28 &&
          CHATVAULT_STATUS_SCHEMA_MODIFIED == 29);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_KDF_TOO_COSTLY), "CHATVAULT_STATUS_KDF_TOO_COSTLY") == 0);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_MASTER_KEY_ROTATED),
                 "CHATVAULT_STATUS_MASTER_KEY_ROTATED") == 0);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_SCHEMA_MODIFIED), "CHATVAULT_STATUS_SCHEMA_MODIFIED") == 0);
    CHECK(CHATVAULT_STATUS_STORE_IN_USE == 30);
    CHECK(strcmp(chatvault_status_name(CHATVAULT_STATUS_STORE_IN_USE), "CHATVAULT_STATUS_STORE_IN_USE") == 0);
    CHECK(CHATVAULT_PROBLEM_KIND_SCHEMA == 8);
    CHECK(strcmp(chatvault_last_error_message(), "") == 0);
}

/* Creates the main store and exercises create/open's error paths. */
static chatvault_store *test_create_and_open(const char *path) {
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store *sentinel = (chatvault_store *)&checks; /* never dereferenced */
    chatvault_store *s = sentinel;

    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_create(NULL, 5, &key, &s));
    MESSAGE_HAS("path is NULL");
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create(NULL, 0, &key, &s));
    MESSAGE_HAS("path is empty");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_create(path, strlen(path), NULL, &s));
    MESSAGE_HAS("key");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_create(path, strlen(path), &key, NULL));
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_store_create("bad\xff", 4, &key, &s));
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create("", 0, &key, &s));
    chatvault_key short_key = {CHATVAULT_KEY_KIND_RAW, raw_key_bytes, 31};
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create(path, strlen(path), &short_key, &s));
    MESSAGE_HAS("32");
    chatvault_key bad_kind = {7, raw_key_bytes, 32};
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create(path, strlen(path), &bad_kind, &s));
    MESSAGE_HAS("key kind 7");
    chatvault_key null_bytes = {CHATVAULT_KEY_KIND_RAW, NULL, 32};
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_create(path, strlen(path), &null_bytes, &s));
    chatvault_key bad_passphrase = {CHATVAULT_KEY_KIND_PASSPHRASE, (const uint8_t *)"\xc3\x28", 2};
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_store_create(path, strlen(path), &bad_passphrase, &s));
    char *missing = path_of("missing.chatvault");
    EXPECT(CHATVAULT_STATUS_NO_SUCH_STORE, chatvault_store_open(missing, strlen(missing), &key, &s));
    MESSAGE_HAS("chatvault_store_create");
    free(missing);
    CHECK(s == sentinel); /* outputs are written only on success */

    OK(chatvault_store_create(path, strlen(path), &key, &s));
    CHECK(s != NULL && s != sentinel);
    chatvault_store *again = NULL;
    EXPECT(CHATVAULT_STATUS_ALREADY_EXISTS, chatvault_store_create(path, strlen(path), &key, &again));
    CHECK(again == NULL);
    OK(chatvault_store_close(s));

    /* The path need not be NUL-terminated: only path_len bytes are read. */
    char padded[4096];
    size_t n = strlen(path);
    CHECK(n + 5 < sizeof padded);
    memcpy(padded, path, n);
    memcpy(padded + n, "XXXX", 5);
    chatvault_key wrong = raw_key(other_key_bytes);
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(padded, n, &wrong, &s));
    MESSAGE_HAS("wrong key");
    OK(chatvault_store_open(padded, n, &key, &s));
    return s;
}

static uint64_t test_conversations(chatvault_store *s) {
    chatvault_str members[2] = {text("alice"), text("李雷")};
    const uint8_t app_data[3] = {0, 1, 2};
    chatvault_new_conversation c = CHATVAULT_INIT(chatvault_new_conversation);
    c.external_id = text("wxid_alice");
    c.title = text("Alice 👋");
    c.members = members;
    c.members_len = 2;
    c.app_data.ptr = app_data;
    c.app_data.len = 3;
    c.has_created_at = 1;
    c.created_at_ms = 1700000000000;
    uint64_t alice = 0;
    OK(chatvault_conversation_create(s, &c, &alice));
    CHECK(alice != 0);

    uint64_t unused = 42;
    EXPECT(CHATVAULT_STATUS_CONVERSATION_EXISTS, chatvault_conversation_create(s, &c, &unused));
    MESSAGE_HAS("chatvault_conversation_find");
    CHECK(unused == 42);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_create(NULL, &c, &unused));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_create(s, NULL, &unused));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_create(s, &c, NULL));
    chatvault_new_conversation bad = c;
    bad.external_id = none;
    bad.title.ptr = NULL; /* with a nonzero length */
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_create(s, &bad, &unused));
    MESSAGE_HAS("title");
    bad.title = text("ok");
    chatvault_str bad_members[1] = {{"\xed\xa0\x80", 3}}; /* a UTF-16 surrogate: not UTF-8 */
    bad.members = bad_members;
    bad.members_len = 1;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_conversation_create(s, &bad, &unused));
    MESSAGE_HAS("member");
    CHECK(unused == 42);

    /* A second conversation, no external id, disappearing messages. */
    chatvault_new_conversation g_new = CHATVAULT_INIT(chatvault_new_conversation);
    g_new.external_id = none;
    g_new.title = text("");
    g_new.has_retention = 1;
    g_new.retention_ms = 3600 * 1000;
    OK(chatvault_conversation_create(s, &g_new, &group));
    CHECK(group != 0 && group != alice);

    uint64_t found = 0;
    OK(chatvault_conversation_find(s, "wxid_aliceZZZ", 10, &found));
    CHECK(found == alice);
    found = 7;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_find(s, "nobody", 6, &found));
    CHECK(found == 7);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_find(s, NULL, 3, &found));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_find(s, NULL, 0, &found)); /* the empty id */
    CHECK(found == 7);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_find(s, "x", 1, NULL));
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_conversation_find(s, "\x80", 1, &found));

    chatvault_conversation *conv = NULL;
    OK(chatvault_conversation_get(s, alice, &conv));
    CHECK(conv->id == alice);
    CHECK(same(conv->external_id, "wxid_alice"));
    CHECK(same(conv->title, "Alice 👋"));
    CHECK(conv->members_len == 2 && same(conv->members[0], "alice") && same(conv->members[1], "李雷"));
    CHECK(conv->app_data.len == 3 && memcmp(conv->app_data.ptr, app_data, 3) == 0);
    CHECK(conv->created_at_ms == 1700000000000);
    CHECK(conv->struct_size == sizeof(chatvault_conversation));
    CHECK(conv->has_read_up_to == 0 && conv->message_count == 0 && conv->has_retention == 0);
    chatvault_conversation_free(conv);
    OK(chatvault_conversation_get(s, group, &conv));
    CHECK(conv->external_id.ptr == NULL && conv->title.len == 0);
    CHECK(conv->has_retention == 1 && conv->retention_ms == 3600 * 1000);
    CHECK(conv->created_at_ms > 1700000000000); /* has_created_at 0 meant now */
    chatvault_conversation_free(conv);
    conv = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_get(s, 999999, &conv));
    MESSAGE_HAS("999999");
    CHECK(conv == NULL);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_get(s, alice, NULL));
    return alice;
}

static void test_messages(chatvault_store *s, uint64_t alice) {
    chatvault_new_message m = message("alice", "bonjour 你好 👋", 1700000000000);
    m.external_id = text("srv-1");
    const uint8_t extra[2] = {0xde, 0xad};
    m.extra.ptr = extra;
    m.extra.len = 2;
    chatvault_message_id first = {0, 0};
    OK(chatvault_message_append(s, alice, &m, &first));
    CHECK(first.conversation == alice && first.seq == 1);

    /* A retry with the same external id stores nothing new. */
    chatvault_message_id again = {0, 0};
    OK(chatvault_message_append(s, alice, &m, &again));
    CHECK(again.conversation == first.conversation && again.seq == first.seq);

    /* Text with a NUL byte inside crosses intact: the length is the truth. */
    chatvault_new_message reply = message("me", "a\0b", 1700000001000);
    reply.text.len = 3;
    reply.has_reply_to = 1;
    reply.reply_to_seq = first.seq;
    reply.has_expires_at = 1;
    reply.expires_at_ms = 4102444800000; /* 2100 */
    chatvault_message_id second = {0, 0};
    OK(chatvault_message_append(s, alice, &reply, &second));
    CHECK(second.seq == 2);

    chatvault_message_id untouched = {5, 5};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_append(s, 424242, &m, &untouched));
    chatvault_new_message bad = message("me", "x", 0);
    bad.text.ptr = "\xff\xfe";
    bad.text.len = 2;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_message_append(s, alice, &bad, &untouched));
    MESSAGE_HAS("text");
    bad = message("me", "x", 0);
    bad.sender.ptr = NULL;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    bad = message("me", "x", 0);
    bad.has_reply_to = 1;
    bad.reply_to_seq = 1000;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    bad.has_reply_to = 2; /* a presence flag is 0 or 1 */
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    MESSAGE_HAS("has_reply_to");
    /* struct_size: 0 (a program built against the header before it) and
     * larger than the library's are refused; nothing is stored. */
    bad = message("me", "x", 0);
    bad.struct_size = 0;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    MESSAGE_HAS("struct_size");
    bad.struct_size = sizeof bad + 8;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    MESSAGE_HAS("newer");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(s, alice, NULL, &untouched));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(s, alice, &m, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(NULL, alice, &m, &untouched));
    CHECK(untouched.conversation == 5 && untouched.seq == 5);

    /* A batch of 300, in one transaction. */
    enum { N = 300 };
    chatvault_batch_entry *entries = calloc(N, sizeof *entries);
    chatvault_new_message *messages = calloc(N, sizeof *messages);
    chatvault_message_id *ids = calloc(N, sizeof *ids);
    char(*bodies)[32] = calloc(N, 32);
    CHECK(entries && messages && ids && bodies);
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], 32, "batch %d", i);
        entries[i].struct_size = sizeof entries[i];
        entries[i].conversation = alice;
        messages[i] = message(i % 2 ? "alice" : "me", bodies[i], 1700000002000 + i);
        entries[i].message = &messages[i];
    }
    OK(chatvault_message_append_batch(s, entries, N, ids));
    for (int i = 0; i < N; i++) CHECK(ids[i].conversation == alice && ids[i].seq == (uint64_t)(3 + i));

    /* All or none: a bad entry at the end stores nothing and writes no id. */
    memset(ids, 0, N * sizeof *ids);
    messages[N - 1].text.ptr = NULL;
    messages[N - 1].text.len = 1;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, entries, N, ids));
    messages[N - 1] = message("me", "to nowhere", 0);
    entries[N - 1].struct_size = sizeof *entries + 8; /* every entry gives the first one's size */
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append_batch(s, entries, N, ids));
    MESSAGE_HAS("entries[299].struct_size");
    entries[N - 1].struct_size = sizeof *entries;
    entries[N - 1].conversation = 31337;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_append_batch(s, entries, N, ids));
    CHECK(ids[0].seq == 0);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, NULL, 1, ids));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, entries, 1, NULL));
    OK(chatvault_message_append_batch(s, entries, 0, ids)); /* an empty batch */
    OK(chatvault_message_append_batch(s, NULL, 0, NULL)); /* NULL with length 0 is the empty array */
    free(entries);
    free(messages);
    free(ids);
    free(bodies);

    /* Pages, oldest first: seqs 1..302 exist. */
    chatvault_message_page *page = NULL;
    OK(chatvault_message_page_latest(s, alice, 50, &page));
    CHECK(page->len == 50);
    CHECK(page->items[0].id.seq == 253 && page->items[49].id.seq == 302);
    CHECK(same(page->items[49].text, "batch 299") && same(page->items[49].sender, "alice"));
    chatvault_message_id oldest_shown = page->items[0].id;
    chatvault_message_page_free(page);

    OK(chatvault_message_page_before(s, oldest_shown, 300, &page));
    CHECK(page->len == 252 && page->items[0].id.seq == 1 && page->items[251].id.seq == 252);
    const chatvault_message *one = &page->items[0];
    CHECK(same(one->text, "bonjour 你好 👋") && same(one->external_id, "srv-1"));
    CHECK(one->sent_at_ms == 1700000000000 && one->has_edited_at == 0 && one->has_reply_to == 0);
    CHECK(one->struct_size == sizeof(chatvault_message) && one->has_expires_at == 0);
    CHECK(one->extra.len == 2 && one->extra.ptr[0] == 0xde && one->extra.ptr[1] == 0xad);
    const chatvault_message *two = &page->items[1];
    CHECK(two->text.len == 3 && memcmp(two->text.ptr, "a\0b", 4) == 0);
    CHECK(two->external_id.ptr == NULL && two->has_reply_to == 1 && two->reply_to_seq == 1);
    CHECK(two->has_expires_at == 1 && two->expires_at_ms == 4102444800000);
    chatvault_message_page_free(page);

    OK(chatvault_message_page_after(s, first, 2, &page));
    CHECK(page->len == 2 && page->items[0].id.seq == 2 && page->items[1].id.seq == 3);
    chatvault_message_page_free(page);
    OK(chatvault_message_page_oldest(s, alice, 1, &page));
    CHECK(page->len == 1 && page->items[0].id.seq == 1);
    chatvault_message_page_free(page);
    OK(chatvault_message_page_latest(s, alice, 0, &page));
    CHECK(page->len == 0);
    chatvault_message_page_free(page);

    page = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_page_latest(s, 777777, 10, &page));
    CHECK(page == NULL);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_page_latest(s, alice, 10, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_page_oldest(NULL, alice, 10, &page));
    chatvault_message_id elsewhere = {alice + 1000, 5};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_page_before(s, elsewhere, 10, &page));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_page_after(s, first, 10, NULL));

    /* Get, edit, delete. */
    chatvault_message *msg = NULL;
    OK(chatvault_message_get(s, second, &msg));
    CHECK(msg->id.seq == 2 && msg->text.len == 3);
    chatvault_message_free(msg);
    OK(chatvault_message_edit(s, second, "édité ✓", strlen("édité ✓")));
    OK(chatvault_message_get(s, second, &msg));
    CHECK(same(msg->text, "édité ✓") && msg->has_edited_at == 1 && msg->edited_at_ms > 0);
    chatvault_message_free(msg);
    OK(chatvault_message_edit(s, second, NULL, 0)); /* the empty text */
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_message_edit(s, second, "\xc0\xaf", 2));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_edit(s, second, NULL, 4));
    chatvault_message_id nowhere = {alice, 9999};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_edit(s, nowhere, "x", 1));

    chatvault_message_id third = {alice, 3};
    OK(chatvault_message_delete(s, third));
    msg = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_get(s, third, &msg));
    CHECK(msg == NULL);
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_delete(s, nowhere));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_get(s, first, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_delete(NULL, first));

    /* Batches: all or nothing, one scrub. */
    chatvault_message_id pair[3] = {{alice, 4}, {alice, 5}, {alice, 4}};
    chatvault_str two_texts[2] = {{"quatre", 6}, {"cinq", 4}};
    OK(chatvault_messages_edit(s, pair, two_texts, 2));
    OK(chatvault_message_get(s, pair[1], &msg));
    CHECK(same(msg->text, "cinq") && msg->has_edited_at == 1 && msg->edited_at_ms > 0);
    chatvault_message_free(msg);
    chatvault_message_id with_missing[2] = {{alice, 4}, {alice, 9999}};
    chatvault_str other_texts[2] = {{"changed", 7}, {"x", 1}};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_messages_edit(s, with_missing, other_texts, 2));
    OK(chatvault_message_get(s, pair[0], &msg));
    CHECK(same(msg->text, "quatre")); /* the batch changed nothing */
    chatvault_message_free(msg);
    chatvault_message_id twice[2] = {{alice, 4}, {alice, 4}};
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_messages_edit(s, twice, two_texts, 2)); /* which text wins? */
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_messages_delete(s, with_missing, 2));
    OK(chatvault_message_get(s, pair[0], &msg)); /* still there */
    chatvault_message_free(msg);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_messages_delete(s, NULL, 2));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_messages_edit(s, pair, NULL, 2));
    OK(chatvault_messages_delete(s, NULL, 0));
    OK(chatvault_messages_delete(s, pair, 3)); /* 4 named twice is deleted once */
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_get(s, pair[0], &msg));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_get(s, pair[1], &msg));

    /* Read markers and the conversation list. */
    chatvault_message_id read_to = {alice, 102};
    OK(chatvault_message_mark_read(s, read_to));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_mark_read(s, elsewhere));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_mark_read(NULL, read_to));
    chatvault_conversation_list *list = NULL;
    OK(chatvault_conversation_list_get(s, 0, &list));
    CHECK(list->len == 2);
    const chatvault_conversation_summary *top = &list->items[0];
    CHECK(top->conversation->id == alice && top->conversation->has_read_up_to == 1);
    CHECK(top->conversation->read_up_to_seq == 102);
    CHECK(top->conversation->message_count == 299); /* 302 appended, three deleted */
    CHECK(top->unread_count == 200);
    CHECK(top->last_message != NULL && same(top->last_message->text, "batch 299"));
    CHECK(list->items[1].last_message == NULL && list->items[1].unread_count == 0);
    chatvault_conversation_list_free(list);
    OK(chatvault_conversation_list_get(s, 1, &list));
    CHECK(list->len == 1 && list->items[0].conversation->id == alice);
    chatvault_conversation_list_free(list);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_list_get(s, 0, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_list_get(NULL, 0, &list));
}

struct progress_log {
    int calls;
    int stop_after;
    uint64_t last_bytes;
    uint64_t total_messages;
};

static int32_t on_compact(void *user_data, const chatvault_compact_progress *p) {
    struct progress_log *log = user_data;
    log->calls++;
    CHECK(p->conversations_done <= p->conversations_total);
    return log->stop_after != 0 && log->calls >= log->stop_after;
}

static int32_t on_archive(void *user_data, const chatvault_archive_progress *p) {
    struct progress_log *log = user_data;
    log->calls++;
    CHECK(p->struct_size == sizeof *p);
    CHECK(p->bytes >= log->last_bytes);
    log->last_bytes = p->bytes;
    log->total_messages = p->total_messages;
    return log->stop_after != 0 && log->calls >= log->stop_after ? CHATVAULT_PROGRESS_STOP
                                                                 : CHATVAULT_PROGRESS_CONTINUE;
}

/* A store of its own with one conversation of one message (work for
 * compaction), compacted with `log` as its progress callback's state. */
static chatvault_status compact_new_store(const char *name, struct progress_log *log,
                                          chatvault_compact_report *out) {
    char *path = path_of(name);
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store *s = NULL;
    OK(chatvault_store_create(path, strlen(path), &key, &s));
    chatvault_new_conversation c = CHATVAULT_INIT(chatvault_new_conversation);
    c.title = text("one message");
    uint64_t conv = 0;
    OK(chatvault_conversation_create(s, &c, &conv));
    chatvault_new_message m = message("me", "the only one", 1700000000000);
    chatvault_message_id id;
    OK(chatvault_message_append(s, conv, &m, &id));
    chatvault_status st = chatvault_store_compact(s, NULL, on_compact, log, out);
    OK(chatvault_store_close(s));
    free(path);
    return st;
}

/* A callback that says STOP on its last call, after the final step: the
 * compaction finished (no work remains), so it succeeds with its report.
 * The number of calls is counted on an identical store first. */
static void test_compact_stop_on_last_call(void) {
    struct progress_log count = {0, 0, 0, 0};
    chatvault_compact_report full = CHATVAULT_INIT(chatvault_compact_report);
    OK(compact_new_store("count-steps.chatvault", &count, &full));
    CHECK(count.calls >= 1 && full.work_remains == 0 && full.conversations_compacted == 1);
    struct progress_log stop = {0, count.calls, 0, 0}; /* STOP on the last call */
    chatvault_compact_report done = CHATVAULT_INIT(chatvault_compact_report);
    done.conversations_compacted = 777;
    OK(compact_new_store("stop-last.chatvault", &stop, &done));
    CHECK(stop.calls == count.calls);
    CHECK(done.work_remains == 0 && done.conversations_compacted == 1 && done.struct_size == sizeof done);
    if (count.calls > 1) { /* STOP one call earlier does stop it */
        struct progress_log early = {0, count.calls - 1, 0, 0};
        chatvault_compact_report untouched = CHATVAULT_INIT(chatvault_compact_report);
        untouched.conversations_compacted = 777;
        EXPECT(CHATVAULT_STATUS_CANCELLED, compact_new_store("stop-early.chatvault", &early, &untouched));
        CHECK(untouched.conversations_compacted == 777);
    }
}

static void test_maintenance(chatvault_store *s, uint64_t alice) {
    chatvault_stats stats = CHATVAULT_INIT(chatvault_stats);
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.conversations == 2 && stats.messages == 299 && stats.file_bytes > 0);
    CHECK(stats.struct_size == sizeof stats);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_stats(s, NULL));

    chatvault_verify_report *report = NULL;
    OK(chatvault_store_verify(s, &report));
    CHECK(report->conversations == 2 && report->messages == 299 && report->problems_len == 0);
    chatvault_verify_report_free(report);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_verify(s, NULL));

    /* Work for compaction in two conversations: 40 one-message segments to
     * merge, and 5 messages that expired an hour after they were sent. */
    for (int i = 0; i < 45; i++) {
        chatvault_new_message m = message("me", "one at a time", 1700000100000 + i);
        chatvault_message_id id;
        OK(chatvault_message_append(s, i < 40 ? alice : group, &m, &id));
    }
    /* A callback that asks to stop after the first transaction. */
    /* It is cancelled: the transaction done stays, the report is untouched. */
    struct progress_log log = {0, 1, 0, 0};
    chatvault_compact_report cr = CHATVAULT_INIT(chatvault_compact_report);
    cr.segments_written = 777;
    chatvault_stats before = CHATVAULT_INIT(chatvault_stats);
    OK(chatvault_store_stats(s, &before));
    EXPECT(CHATVAULT_STATUS_CANCELLED, chatvault_store_compact(s, NULL, on_compact, &log, &cr));
    MESSAGE_HAS("progress callback asked to stop");
    CHECK(log.calls == 1 && cr.segments_written == 777);
    chatvault_stats after = CHATVAULT_INIT(chatvault_stats);
    OK(chatvault_store_stats(s, &after));
    CHECK(after.segments < before.segments); /* one transaction's work committed */
    chatvault_verify_report *checked = NULL;
    OK(chatvault_store_verify(s, &checked));
    CHECK(checked->problems_len == 0); /* and the store is sound */
    chatvault_verify_report_free(checked);
    chatvault_compact_report rest = CHATVAULT_INIT(chatvault_compact_report);
    struct progress_log full = {0, 0, 0, 0};
    chatvault_compact_options budget = CHATVAULT_INIT(chatvault_compact_options);
    budget.time_budget_ms = 60000; /* budgets too large to matter */
    budget.segment_budget = 100000;
    budget.target_messages = 64;
    OK(chatvault_store_compact(s, &budget, on_compact, &full, &rest));
    CHECK(full.calls >= 1 && rest.work_remains == 0 && rest.conversations_skipped == 0);
    CHECK(rest.segments_rewritten > 0 && rest.segments_written < 10);
    CHECK(rest.messages_expired <= 5);
    budget.target_messages = 70000; /* above the ceiling */
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_compact(s, &budget, NULL, NULL, &rest));
    budget.struct_size = 0;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_compact(s, &budget, NULL, NULL, &rest));
    MESSAGE_HAS("struct_size");
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr)); /* nothing left, no callback */
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_compact(s, NULL, NULL, NULL, NULL));

    /* Export to an archive with its own passphrase, import into a new store. */
    char *archive = path_of("backup.cvarchive");
    chatvault_key archive_key = raw_key(other_key_bytes);
    struct progress_log exp = {0, 0, 0, 0};
    chatvault_export_report er = CHATVAULT_INIT(chatvault_export_report);
    /* Cancelled by its callback: no file. */
    struct progress_log stop_export = {0, 1, 0, 0};
    EXPECT(CHATVAULT_STATUS_CANCELLED,
           chatvault_store_export(s, archive, strlen(archive), &archive_key, NULL, 0, on_archive, &stop_export, &er));
    CHECK(stop_export.calls == 1 && fopen(archive, "rb") == NULL);
    OK(chatvault_store_export(s, archive, strlen(archive), &archive_key, NULL, 0, on_archive, &exp, &er));
    CHECK(er.conversations == 2 && er.messages == 339 && er.bytes == exp.last_bytes && exp.calls >= 2);
    uint64_t only[1] = {alice};
    char *partial = path_of("alice.cvarchive");
    OK(chatvault_store_export(s, partial, strlen(partial), &archive_key, only, 1, NULL, NULL, &er));
    CHECK(er.conversations == 1 && er.messages == 339);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT,
           chatvault_store_export(s, archive, strlen(archive), NULL, NULL, 0, NULL, NULL, &er));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT,
           chatvault_store_export(s, archive, strlen(archive), &archive_key, NULL, 0, NULL, NULL, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT,
           chatvault_store_export(s, NULL, 4, &archive_key, NULL, 0, NULL, NULL, &er));
    /* A length of 0 exports everything, whatever the pointer (an empty
     * Swift array may have no base address). */
    OK(chatvault_store_export(s, partial, strlen(partial), &archive_key, only, 0, NULL, NULL, &er));
    CHECK(er.conversations == 2);
    /* Never over the store's own files. */
    char *own = path_of("main.chatvault");
    char *own_wal = path_of("main.chatvault-wal");
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT,
           chatvault_store_export(s, own, strlen(own), &archive_key, NULL, 0, NULL, NULL, &er));
    MESSAGE_HAS("own file");
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT,
           chatvault_store_export(s, own_wal, strlen(own_wal), &archive_key, NULL, 0, NULL, NULL, &er));
    free(own);
    free(own_wal);
    uint64_t unknown[1] = {55555};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND,
           chatvault_store_export(s, partial, strlen(partial), &archive_key, unknown, 1, NULL, NULL, &er));

    char *other_path = path_of("other.chatvault");
    chatvault_key pass = passphrase("correct horse battery staple");
    chatvault_store *other = NULL;
    OK(chatvault_store_create(other_path, strlen(other_path), &pass, &other));
    struct progress_log imp = {0, 0, 0, 0};
    chatvault_import_report ir = CHATVAULT_INIT(chatvault_import_report);
    /* Cancelled by its callback before the end (this small archive reports
     * once before it commits, once after): nothing imported. */
    for (int at = 1; at <= 1; at++) {
        struct progress_log stop_import = {0, at, 0, 0};
        EXPECT(CHATVAULT_STATUS_CANCELLED, chatvault_store_import(other, archive, strlen(archive), &archive_key,
                                                                  on_archive, &stop_import, &ir));
        CHECK(stop_import.calls == at);
        chatvault_stats empty = CHATVAULT_INIT(chatvault_stats);
        OK(chatvault_store_stats(other, &empty));
        CHECK(empty.conversations == 0 && empty.messages == 0);
    }
    OK(chatvault_store_import(other, archive, strlen(archive), &archive_key, on_archive, &imp, &ir));
    CHECK(ir.conversations_created == 2 && ir.messages_added == 339 && ir.messages_skipped == 0);
    CHECK(imp.calls >= 2 && imp.total_messages == 339 && ir.bytes == imp.last_bytes);
    OK(chatvault_store_import(other, archive, strlen(archive), &archive_key, NULL, NULL, &ir));
    CHECK(ir.conversations_matched == 2 && ir.messages_added == 0 && ir.messages_skipped == 339);
    uint64_t imported = 0;
    OK(chatvault_conversation_find(other, "wxid_alice", 10, &imported));

    chatvault_key wrong = raw_key(raw_key_bytes);
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_import(other, archive, strlen(archive), &wrong, NULL, NULL, &ir));
    EXPECT(CHATVAULT_STATUS_NOT_AN_ARCHIVE,
           chatvault_store_import(other, other_path, strlen(other_path), &archive_key, NULL, NULL, &ir));
    char *nothing = path_of("no-such.cvarchive");
    EXPECT(CHATVAULT_STATUS_IO, chatvault_store_import(other, nothing, strlen(nothing), &archive_key, NULL, NULL, &ir));
    MESSAGE_HAS("no-such.cvarchive");

    /* A cut archive imports nothing. */
    FILE *f = fopen(archive, "rb");
    CHECK(f != NULL && fseek(f, 0, SEEK_END) == 0);
    long end = ftell(f);
    CHECK(end > 100 && fseek(f, 0, SEEK_SET) == 0);
    size_t size = (size_t)end;
    char *bytes = malloc(size);
    CHECK(bytes != NULL && fread(bytes, 1, size, f) == size);
    fclose(f);
    char *cut = path_of("cut.cvarchive");
    f = fopen(cut, "wb");
    CHECK(f != NULL && fwrite(bytes, 1, size - 100, f) == size - 100);
    fclose(f);
    free(bytes);
    chatvault_status st = chatvault_store_import(other, cut, strlen(cut), &archive_key, NULL, NULL, &ir);
    CHECK(st == CHATVAULT_STATUS_ARCHIVE_TRUNCATED || st == CHATVAULT_STATUS_ARCHIVE_TAMPERED);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT,
           chatvault_store_import(other, archive, strlen(archive), &archive_key, NULL, NULL, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT,
           chatvault_store_import(NULL, archive, strlen(archive), &archive_key, NULL, NULL, &ir));

    /* Change the second store's key to a raw key: the passphrase no longer opens it. */
    chatvault_key new_key = raw_key(other_key_bytes);
    OK(chatvault_store_change_key(other, &new_key));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_change_key(other, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_change_key(NULL, &new_key));
    OK(chatvault_store_close(other));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(other_path, strlen(other_path), &pass, &other));
    other = open_store(other_path, new_key);
    OK(chatvault_conversation_delete(other, imported));
    chatvault_conversation *gone = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_get(other, imported, &gone));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_delete(other, imported));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_delete(NULL, imported));
    OK(chatvault_store_scrub(other));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_scrub(NULL));
    OK(chatvault_store_close(other));

    free(archive);
    free(partial);
    free(other_path);
    free(nothing);
    free(cut);
}

/* Reads the one message of conversation `c` and checks its text. */
static void expect_only_message(chatvault_store *s, uint64_t c, const char *body) {
    chatvault_message_page *page = NULL;
    OK(chatvault_message_page_latest(s, c, 10, &page));
    CHECK(page->len == 1 && same(page->items[0].text, body));
    chatvault_message_page_free(page);
}

/* Master-key rotation on a store of its own. Its first transaction makes
 * the new key the only one that opens the store, even unfinished; a call
 * with the same key resumes it; a handle opened with the old key is told
 * to reopen; compaction then destroys the old keys, and vacuum rewrites the
 * file. A call with another key finishes the rotation under way, then
 * rotates again: only that last key opens the store. */
static void test_rotation(void) {
    char *path = path_of("rotate.chatvault");
    const uint8_t old_bytes[32] = {7, 7, 7};
    const uint8_t unused_bytes[32] = {8, 8, 8};
    const uint8_t new_bytes[32] = {9, 9, 9};
    chatvault_key old_key = raw_key(old_bytes);
    chatvault_key unused_key = raw_key(unused_bytes);
    chatvault_key new_key = raw_key(new_bytes);
    chatvault_store *s = NULL;
    OK(chatvault_store_create(path, strlen(path), &old_key, &s));
    uint64_t convs[3];
    for (int i = 0; i < 3; i++) {
        chatvault_new_conversation c = CHATVAULT_INIT(chatvault_new_conversation);
        char ext[16];
        snprintf(ext, sizeof ext, "rot-%d", i);
        c.external_id = text(ext);
        c.title = text("rotation");
        OK(chatvault_conversation_create(s, &c, &convs[i]));
        chatvault_new_message m = message("me", "before the rotation", 1700000300000 + i);
        m.external_id = text("srv-before");
        chatvault_message_id id;
        OK(chatvault_message_append(s, convs[i], &m, &id));
    }

    /* Error paths write nothing. */
    chatvault_rotation_report rr = CHATVAULT_INIT(chatvault_rotation_report);
    memset(&rr, 0xAB, sizeof rr);
    rr.struct_size = sizeof rr;
    chatvault_rotate_options one = CHATVAULT_INIT(chatvault_rotate_options);
    one.max_transactions = 1;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(NULL, &new_key, NULL, &rr));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(s, NULL, NULL, &rr));
    MESSAGE_HAS("key is NULL");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(s, &new_key, NULL, NULL));
    chatvault_key short_key = {CHATVAULT_KEY_KIND_RAW, new_bytes, 16};
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_rotate_master_key(s, &short_key, NULL, &rr));
    CHECK(rr.transactions == 0xABABABABABABABABu && rr.conversations_damaged == 0xABABABABABABABABu &&
          rr.finished == 0xAB);

    /* A handle opened with the old key, not used yet. */
    chatvault_store *stale = open_store(path, old_key);

    /* One transaction: the rotation begins, and stays under way. */
    OK(chatvault_store_rotate_master_key(s, &new_key, &one, &rr));
    CHECK(rr.finished == 0 && rr.key_in_force == 1 && rr.transactions == 1 && rr.conversations == 0 && rr.conversations_damaged == 0);
    /* The store works meanwhile. */
    chatvault_new_message during = message("me", "during the rotation", 1700000301000);
    chatvault_message_id during_id;
    OK(chatvault_message_append(s, convs[0], &during, &during_id));
    CHECK(during_id.seq == 2);
    /* Already, only the new key opens it. */
    chatvault_store *other = NULL;
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &old_key, &other));
    CHECK(other == NULL);
    other = open_store(path, new_key);
    OK(chatvault_store_close(other));

    /* Resumed with the same key, one more transaction: every conversation moves. */
    OK(chatvault_store_rotate_master_key(s, &new_key, &one, &rr));
    CHECK(rr.finished == 0 && rr.transactions == 1 && rr.conversations == 3 && rr.conversations_damaged == 0);
    CHECK(rr.references == 4 && rr.references_dropped == 0); /* one per message */
    /* The handle opened with the old key cannot follow a moved conversation. */
    chatvault_message_page *page = NULL;
    EXPECT(CHATVAULT_STATUS_MASTER_KEY_ROTATED, chatvault_message_page_latest(stale, convs[1], 10, &page));
    MESSAGE_HAS("chatvault_store_close");
    CHECK(page == NULL);
    OK(chatvault_store_close(stale));
    OK(chatvault_store_close(s));

    /* After a restart, the new key opens it and resumes it, to the end. */
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &old_key, &s));
    s = open_store(path, new_key);
    OK(chatvault_store_rotate_master_key(s, &new_key, NULL, &rr));
    CHECK(rr.finished == 1 && rr.conversations == 0 && rr.transactions == 1 && rr.conversations_damaged == 0);

    /* Compaction reseals under the new epochs and destroys the old keys;
     * vacuum rewrites the file; the store is sound. */
    chatvault_compact_report cr = CHATVAULT_INIT(chatvault_compact_report);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.work_remains == 0 && cr.keys_destroyed == 3);
    OK(chatvault_store_vacuum(s));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_vacuum(NULL));
    chatvault_verify_report *report = NULL;
    OK(chatvault_store_verify(s, &report));
    CHECK(report->problems_len == 0 && report->messages == 4);
    chatvault_verify_report_free(report);
    OK(chatvault_store_close(s));

    /* Only the new key opens it, with everything there. */
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &old_key, &s));
    s = open_store(path, new_key);
    uint64_t found = 0;
    OK(chatvault_conversation_find(s, "rot-2", 5, &found));
    CHECK(found == convs[2]);
    expect_only_message(s, convs[1], "before the rotation");
    /* Deduplication by external id works under the new keys. */
    chatvault_new_message again = message("me", "a re-delivery", 1700000303000);
    again.external_id = text("srv-before");
    chatvault_message_id again_id;
    OK(chatvault_message_append(s, convs[2], &again, &again_id));
    CHECK(again_id.seq == 1);
    expect_only_message(s, convs[2], "before the rotation");

    /* Another rotation, interrupted after its first transaction... */
    OK(chatvault_store_rotate_master_key(s, &unused_key, &one, &rr));
    CHECK(rr.finished == 0 && rr.transactions == 1);
    OK(chatvault_store_close(s));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &new_key, &s));
    s = open_store(path, unused_key);
    /* ...then a call with another key, a passphrase: it finishes the
     * rotation under way, then rotates again, moving every conversation
     * twice. Only the passphrase opens the store afterwards. */
    chatvault_key pass = passphrase("rotated passphrase");
    OK(chatvault_store_rotate_master_key(s, &pass, NULL, &rr));
    CHECK(rr.finished == 1 && rr.conversations == 6 && rr.conversations_damaged == 0);
    OK(chatvault_store_close(s));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &unused_key, &s));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &new_key, &s));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &old_key, &s));
    s = open_store(path, pass);
    expect_only_message(s, convs[2], "before the rotation");
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.work_remains == 0);
    OK(chatvault_store_vacuum(s));
    OK(chatvault_store_verify(s, &report));
    CHECK(report->problems_len == 0 && report->messages == 4);
    chatvault_verify_report_free(report);
    OK(chatvault_store_close(s));
    free(path);
}

/* Every function that takes a store gives NULL_ARGUMENT for a NULL one,
 * and writes nothing. */
static void test_null_store(void) {
    const chatvault_store *n = NULL;
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_new_conversation c = CHATVAULT_INIT(chatvault_new_conversation);
    chatvault_new_message m = message("me", "x", 1);
    chatvault_batch_entry e = {sizeof(chatvault_batch_entry), 1, &m};
    chatvault_message_id id = {1, 1};
    uint64_t u = 9;
    void *p = &u;
    chatvault_stats stats = CHATVAULT_INIT(chatvault_stats);
    chatvault_compact_report cr = CHATVAULT_INIT(chatvault_compact_report);
    chatvault_export_report er = CHATVAULT_INIT(chatvault_export_report);
    chatvault_import_report ir = CHATVAULT_INIT(chatvault_import_report);
    chatvault_rotation_report rr = CHATVAULT_INIT(chatvault_rotation_report);
    chatvault_new_attachment na = CHATVAULT_INIT(chatvault_new_attachment);
    na.media_type = text("image/png");
    chatvault_attachment_filter filter = CHATVAULT_INIT(chatvault_attachment_filter);
    chatvault_clear_report clear = CHATVAULT_INIT(chatvault_clear_report);
    const chatvault_status want = CHATVAULT_STATUS_NULL_ARGUMENT;
    EXPECT(want, chatvault_store_change_key(n, &key));
    EXPECT(want, chatvault_store_rotate_master_key(n, &key, NULL, &rr));
    EXPECT(want, chatvault_store_scrub(n));
    EXPECT(want, chatvault_store_vacuum(n));
    EXPECT(want, chatvault_store_stats(n, &stats));
    EXPECT(want, chatvault_store_verify(n, (chatvault_verify_report **)&p));
    EXPECT(want, chatvault_store_compact(n, NULL, NULL, NULL, &cr));
    EXPECT(want, chatvault_store_export(n, "x", 1, &key, NULL, 0, NULL, NULL, &er));
    EXPECT(want, chatvault_store_import(n, "x", 1, &key, NULL, NULL, &ir));
    EXPECT(want, chatvault_conversation_create(n, &c, &u));
    EXPECT(want, chatvault_conversation_find(n, "x", 1, &u));
    EXPECT(want, chatvault_conversation_get(n, 1, (chatvault_conversation **)&p));
    EXPECT(want, chatvault_conversation_list_get(n, 0, (chatvault_conversation_list **)&p));
    EXPECT(want, chatvault_conversation_delete(n, 1));
    EXPECT(want, chatvault_message_append(n, 1, &m, &id));
    EXPECT(want, chatvault_message_append_batch(n, &e, 1, &id));
    EXPECT(want, chatvault_message_page_latest(n, 1, 1, (chatvault_message_page **)&p));
    EXPECT(want, chatvault_message_page_oldest(n, 1, 1, (chatvault_message_page **)&p));
    EXPECT(want, chatvault_message_page_before(n, id, 1, (chatvault_message_page **)&p));
    EXPECT(want, chatvault_message_page_after(n, id, 1, (chatvault_message_page **)&p));
    EXPECT(want, chatvault_message_get(n, id, (chatvault_message **)&p));
    EXPECT(want, chatvault_message_edit(n, id, "x", 1));
    EXPECT(want, chatvault_message_delete(n, id));
    EXPECT(want, chatvault_messages_edit(n, &id, NULL, 0));
    EXPECT(want, chatvault_messages_delete(n, &id, 1));
    EXPECT(want, chatvault_message_mark_read(n, id));
    EXPECT(want, chatvault_attachment_begin(n, id, &na, (chatvault_attachment_writer **)&p));
    EXPECT(want, chatvault_attachment_open(n, 1, (chatvault_attachment_reader **)&p));
    EXPECT(want, chatvault_attachment_get(n, 1, (chatvault_attachment **)&p));
    EXPECT(want, chatvault_message_attachments(n, id, (chatvault_attachment_list **)&p));
    EXPECT(want, chatvault_attachments(n, 1, 0, NULL, 0, 0, 0, (chatvault_attachment_list **)&p));
    EXPECT(want, chatvault_attachment_delete(n, 1));
    EXPECT(want, chatvault_clear_attachments(n, &filter, &clear));
    EXPECT(want, chatvault_storage_usage(n, (chatvault_storage_usage_list **)&p));
    chatvault_conversation_changes changes = CHATVAULT_INIT(chatvault_conversation_changes);
    uint32_t epoch = 9;
    chatvault_index_report ix = CHATVAULT_INIT(chatvault_index_report);
    EXPECT(want, chatvault_conversation_update(n, 1, &changes));
    EXPECT(want, chatvault_conversation_rotate_key(n, 1, &epoch));
    EXPECT(want, chatvault_store_rotate_all_keys(n, &u));
    EXPECT(want, chatvault_index_for_search(n, 0, &ix));
    EXPECT(want, chatvault_store_export_json_lines(n, "x", 1, NULL, 0, &u));
    EXPECT(want, chatvault_store_export_html(n, 1, "x", 1, &u));
    chatvault_html_report hr = CHATVAULT_INIT(chatvault_html_report);
    EXPECT(want, chatvault_store_export_html_with(n, 1, "x", 1, NULL, &hr));
    EXPECT(want, chatvault_store_export_html_dir(n, "x", 1, NULL, 0, NULL, &hr));
    MESSAGE_HAS("store is NULL");
    CHECK(epoch == 9);
    CHECK(u == 9 && p == (void *)&u && id.conversation == 1 && id.seq == 1);
}

static int32_t stop_at_once(void *user_data, const chatvault_archive_progress *p) {
    (void)p;
    (*(int *)user_data)++;
    return CHATVAULT_PROGRESS_STOP;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* What the earlier C API lacked: store options, conversation updates, key
 * rotation, archive inspection, plaintext exports. */
static void test_parity(void) {
    char *path = path_of("parity.chatvault");
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store_options options = CHATVAULT_INIT(chatvault_store_options);
    options.durability = 7;
    chatvault_store *s = NULL;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create_with(path, strlen(path), &key, &options, &s));
    MESSAGE_HAS("CHATVAULT_DURABILITY_NORMAL");
    CHECK(s == NULL);
    options.durability = CHATVAULT_DURABILITY_NORMAL;
    options.has_busy_timeout = 1;
    options.busy_timeout_ms = 250;
    OK(chatvault_store_create_with(path, strlen(path), &key, &options, &s));
    chatvault_str where = none;
    OK(chatvault_store_path(s, &where));
    CHECK(same(where, path));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_path(s, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_path(NULL, &where));

    chatvault_new_conversation nc = CHATVAULT_INIT(chatvault_new_conversation);
    nc.title = text("before");
    uint64_t c = 0;
    OK(chatvault_conversation_create(s, &nc, &c));

    /* Update: title and retention on, then retention off; members untouched. */
    chatvault_conversation_changes changes = CHATVAULT_INIT(chatvault_conversation_changes);
    changes.has_title = 1;
    changes.title = text("after ✓");
    changes.set_retention = 1;
    changes.has_retention = 1;
    changes.retention_ms = 60000;
    OK(chatvault_conversation_update(s, c, &changes));
    chatvault_conversation *conv = NULL;
    OK(chatvault_conversation_get(s, c, &conv));
    CHECK(same(conv->title, "after ✓") && conv->has_retention == 1 && conv->retention_ms == 60000);
    chatvault_conversation_free(conv);
    chatvault_conversation_changes off = CHATVAULT_INIT(chatvault_conversation_changes);
    off.set_retention = 1; /* has_retention 0: disappearing messages off */
    OK(chatvault_conversation_update(s, c, &off));
    OK(chatvault_conversation_get(s, c, &conv));
    CHECK(same(conv->title, "after ✓") && conv->has_retention == 0);
    chatvault_conversation_free(conv);
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_update(s, 999999, &changes));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_update(s, c, NULL));
    off.set_retention = 3;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_conversation_update(s, c, &off));
    MESSAGE_HAS("set_retention");

    /* Messages, then key rotation: a new epoch, and compaction destroys the old key. */
    for (int i = 0; i < 3; i++) {
        chatvault_new_message m = message("me", "rotated later", 1700000600000 + i);
        chatvault_message_id id;
        OK(chatvault_message_append(s, c, &m, &id));
    }
    uint32_t epoch = 0;
    OK(chatvault_conversation_rotate_key(s, c, &epoch));
    CHECK(epoch == 1);
    uint64_t rotated = 0;
    OK(chatvault_store_rotate_all_keys(s, &rotated));
    CHECK(rotated == 1);
    epoch = 77;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_rotate_key(s, 999999, &epoch));
    CHECK(epoch == 77);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_rotate_key(s, c, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_all_keys(s, NULL));
    chatvault_compact_report cr = CHATVAULT_INIT(chatvault_compact_report);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.keys_destroyed == 2);

    /* Archive inspection: what it holds, without a store. */
    char *archive = path_of("parity.cvarchive");
    chatvault_key archive_key = passphrase("inspect me");
    chatvault_export_report er = CHATVAULT_INIT(chatvault_export_report);
    OK(chatvault_store_export(s, archive, strlen(archive), &archive_key, NULL, 0, NULL, NULL, &er));
    chatvault_archive_summary *summary = NULL;
    OK(chatvault_archive_inspect(archive, strlen(archive), &archive_key, NULL, NULL, &summary));
    CHECK(summary->struct_size == sizeof *summary && summary->key_kind == CHATVAULT_KEY_KIND_PASSPHRASE);
    CHECK(summary->messages == 3 && summary->conversations_len == 1 && summary->bytes == er.bytes);
    CHECK(strcmp(summary->chatvault_version.ptr, chatvault_version()) == 0);
    const chatvault_archived_conversation *ac = CHATVAULT_ITEM(chatvault_archived_conversation, summary->conversations, 0);
    CHECK(same(ac->title, "after ✓") && ac->messages == 3 && ac->external_id.ptr == NULL);
    CHECK(ac->has_sent_between == 1 && ac->first_sent_ms == 1700000600000 && ac->last_sent_ms == 1700000600002);
    chatvault_archive_summary_free(summary);
    summary = NULL;
    chatvault_key wrong = passphrase("not it");
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_archive_inspect(archive, strlen(archive), &wrong, NULL, NULL, &summary));
    int calls = 0;
    EXPECT(CHATVAULT_STATUS_CANCELLED,
           chatvault_archive_inspect(archive, strlen(archive), &archive_key, stop_at_once, &calls, &summary));
    CHECK(calls == 1 && summary == NULL);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_archive_inspect(archive, strlen(archive), &archive_key, NULL, NULL, NULL));
    chatvault_archive_summary_free(NULL);

    /* Plaintext exports, each complete or absent. */
    char *jsonl = path_of("parity.jsonl");
    uint64_t written = 0;
    OK(chatvault_store_export_json_lines(s, jsonl, strlen(jsonl), NULL, 0, &written));
    CHECK(written == 3 && file_size(jsonl) > 0);
    uint64_t unknown[1] = {424242};
    written = 5;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_store_export_json_lines(s, jsonl, strlen(jsonl), unknown, 1, &written));
    CHECK(written == 5);
    char *html = path_of("parity.html");
    OK(chatvault_store_export_html(s, c, html, strlen(html), &written));
    CHECK(written == 3 && file_size(html) > 0);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_export_html(s, c, html, strlen(html), NULL));
    /* With options: two messages a page, a zone, "me" told apart; an
     * existing page is refused unless replace_existing. */
    chatvault_html_options ho = CHATVAULT_INIT(chatvault_html_options);
    ho.me = text("me");
    ho.messages_per_page = 2;
    ho.has_zone = 1;
    ho.zone_offset_seconds = 3600;
    ho.zone_name = text("CET");
    chatvault_html_report hr = CHATVAULT_INIT(chatvault_html_report);
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    CHECK(hr.pages == 0);
    ho.replace_existing = 1;
    OK(chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    CHECK(hr.conversations == 1 && hr.messages == 3 && hr.pages == 2 && hr.has_index == 0);
    char *second = path_of("parity-2.html");
    CHECK(file_size(second) > 0);
    ho.has_zone = 2;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    MESSAGE_HAS("has_zone");
    char *site = path_of("site");
    chatvault_html_report dr = CHATVAULT_INIT(chatvault_html_report);
    OK(chatvault_store_export_html_dir(s, site, strlen(site), NULL, 0, NULL, &dr));
    CHECK(dr.conversations == 1 && dr.messages == 3 && dr.pages == 1 && dr.has_index == 1);
    char *index = path_of("site/index.html");
    CHECK(file_size(index) > 0);
    free(second);
    free(site);
    free(index);

    OK(chatvault_store_close(s));
    /* Options at open: a size limit smaller than the file refuses growth. */
    chatvault_store_options small = CHATVAULT_INIT(chatvault_store_options);
    small.has_max_size = 1;
    small.max_size_bytes = 4096;
    OK(chatvault_store_open_with(path, strlen(path), &key, &small, &s));
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int full = 0;
    for (int i = 0; i < 50 && !full; i++) {
        chatvault_new_message m = message("me", big, 1700000700000 + i);
        chatvault_message_id id;
        chatvault_status st = chatvault_message_append(s, c, &m, &id);
        CHECK(st == CHATVAULT_STATUS_OK || st == CHATVAULT_STATUS_STORAGE_FULL);
        full = st == CHATVAULT_STATUS_STORAGE_FULL;
    }
    CHECK(full);
    MESSAGE_HAS("max_size_bytes");
    OK(chatvault_store_close(s));
    free(path);
    free(archive);
    free(jsonl);
    free(html);
}

static int64_t fixed_clock(void *ctx) {
    return *(const int64_t *)ctx;
}

/* A made-up zone with summer time from SUMMER_MS on, counting its calls. */
#define SUMMER_MS 1711846800000 /* 2024-03-31 01:00 UTC */
static void test_zone(void *ctx, int64_t ms, int32_t *offset_seconds, char *name, size_t name_cap, size_t *name_len) {
    (*(int *)ctx)++;
    const char *n = ms >= SUMMER_MS ? "CEST" : "CET";
    *offset_seconds = ms >= SUMMER_MS ? 7200 : 3600;
    if (strlen(n) <= name_cap) {
        memcpy(name, n, strlen(n));
        *name_len = strlen(n);
    }
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    long size = file_size(path);
    char *buf = malloc((size_t)size + 1);
    CHECK(buf != NULL && fread(buf, 1, (size_t)size, f) == (size_t)size);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

static chatvault_kdf_params kdf(uint32_t memory_kib, uint32_t iterations, uint32_t parallelism) {
    chatvault_kdf_params k = CHATVAULT_INIT(chatvault_kdf_params);
    k.memory_kib = memory_kib;
    k.iterations = iterations;
    k.parallelism = parallelism;
    return k;
}

/* What the Rust API can do beyond the basics: Argon2id parameters for a new
 * passphrase, a clock, export and import options, a zone per instant,
 * matching a text against a query. */
static void test_options(void) {
    char *path = path_of("options.chatvault");
    chatvault_key key = passphrase("strong one");
    chatvault_key raw = raw_key(raw_key_bytes);
    int64_t clock = 1711800000000;
    chatvault_kdf_params three = kdf(19 * 1024, 3, 1);
    chatvault_store_options options = CHATVAULT_INIT(chatvault_store_options);
    options.now_ms = fixed_clock;
    options.clock_ctx = &clock;
    chatvault_store *s = NULL;

    /* Parameters are checked as the Rust API checks them, before any file. */
    chatvault_kdf_params weak = kdf(1024, 3, 1);
    options.kdf = &weak;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create_with(path, strlen(path), &key, &options, &s));
    chatvault_kdf_params unsized = three;
    unsized.struct_size = 0;
    options.kdf = &unsized;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create_with(path, strlen(path), &key, &options, &s));
    MESSAGE_HAS("struct_size");
    options.kdf = &three;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_create_with(path, strlen(path), &raw, &options, &s));
    MESSAGE_HAS("raw key");
    CHECK(s == NULL && file_size(path) < 0);
    OK(chatvault_store_create_with(path, strlen(path), &key, &options, &s));

    /* The clock stamps what the store dates itself. */
    chatvault_new_conversation nc = CHATVAULT_INIT(chatvault_new_conversation);
    nc.title = text("zones");
    uint64_t c = 0;
    OK(chatvault_conversation_create(s, &nc, &c));
    chatvault_conversation *conv = NULL;
    OK(chatvault_conversation_get(s, c, &conv));
    CHECK(conv->created_at_ms == 1711800000000);
    chatvault_conversation_free(conv);
    clock = 1711900000000;
    OK(chatvault_conversation_create(s, &nc, &c));
    OK(chatvault_conversation_get(s, c, &conv));
    CHECK(conv->created_at_ms == 1711900000000);
    chatvault_conversation_free(conv);
    /* Before and after the switch to summer time, and a long message. */
    char body[20000];
    for (size_t i = 0; i < sizeof body - 1; i++) body[i] = (char)('a' + (i * 2654435761u >> 13) % 26);
    body[sizeof body - 1] = '\0';
    int64_t times[3] = {SUMMER_MS - 3600000, SUMMER_MS + 3600000, SUMMER_MS + 7200000};
    for (int i = 0; i < 3; i++) {
        chatvault_new_message m = message("me", i == 2 ? body : "around the switch", times[i]);
        chatvault_message_id id;
        OK(chatvault_message_append(s, c, &m, &id));
    }
    OK(chatvault_store_close(s));

    /* The header holds 3 passes: a ceiling of 2 refuses it; kdf at open is refused. */
    chatvault_store_options capped = CHATVAULT_INIT(chatvault_store_options);
    capped.has_max_kdf = 1;
    capped.max_kdf_memory_kib = 19 * 1024;
    capped.max_kdf_iterations = 2;
    capped.max_kdf_parallelism = 1;
    EXPECT(CHATVAULT_STATUS_KDF_TOO_COSTLY, chatvault_store_open_with(path, strlen(path), &key, &capped, &s));
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_open_with(path, strlen(path), &key, &options, &s));
    MESSAGE_HAS("kdf");
    options.kdf = NULL;
    OK(chatvault_store_open_with(path, strlen(path), &key, &options, &s));

    /* A new passphrase with 4 passes: a ceiling of 3 refuses it. */
    chatvault_key next = passphrase("stronger still");
    chatvault_kdf_params four = kdf(19 * 1024, 4, 1);
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_change_key_with(s, &raw, &four));
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_change_key_with(s, &next, &weak));
    OK(chatvault_store_change_key_with(s, &next, &four));
    OK(chatvault_store_close(s));
    capped.max_kdf_iterations = 3;
    EXPECT(CHATVAULT_STATUS_KDF_TOO_COSTLY, chatvault_store_open_with(path, strlen(path), &next, &capped, &s));
    OK(chatvault_store_open_with(path, strlen(path), &next, &options, &s));

    /* Export options: the archive's Argon2id cost and its chunk size. */
    char *archive = path_of("options.cvarchive");
    char *small = path_of("options-small.cvarchive");
    chatvault_key archive_key = passphrase("archive");
    chatvault_export_options eo = CHATVAULT_INIT(chatvault_export_options);
    eo.kdf = &three;
    chatvault_export_report er = CHATVAULT_INIT(chatvault_export_report);
    OK(chatvault_store_export_with(s, archive, strlen(archive), &archive_key, &eo, NULL, 0, NULL, NULL, &er));
    eo.chunk_size = 1000;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT,
           chatvault_store_export_with(s, small, strlen(small), &archive_key, &eo, NULL, 0, NULL, NULL, &er));
    MESSAGE_HAS("chunk size");
    CHECK(file_size(small) < 0);
    eo.chunk_size = 1024;
    eo.kdf = NULL;
    chatvault_export_report sr = CHATVAULT_INIT(chatvault_export_report);
    OK(chatvault_store_export_with(s, small, strlen(small), &archive_key, &eo, NULL, 0, NULL, NULL, &sr));
    CHECK(sr.messages == 3 && sr.bytes >= er.bytes + 4 * 16); /* a tag per 1 KiB chunk */
    eo.kdf = &three;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT,
           chatvault_store_export_with(s, small, strlen(small), &raw, &eo, NULL, 0, NULL, NULL, &sr));

    /* Import options: a ceiling below the archive's 3 passes refuses it. */
    chatvault_kdf_params two = kdf(19 * 1024, 2, 1);
    chatvault_import_options io = CHATVAULT_INIT(chatvault_import_options);
    io.max_kdf = &two;
    chatvault_archive_summary *summary = NULL;
    EXPECT(CHATVAULT_STATUS_KDF_TOO_COSTLY,
           chatvault_archive_inspect_with(archive, strlen(archive), &archive_key, &io, NULL, NULL, &summary));
    CHECK(summary == NULL);
    OK(chatvault_archive_inspect_with(small, strlen(small), &archive_key, &io, NULL, NULL, &summary));
    CHECK(summary->messages == 3 && summary->exported_at_ms == 1711900000000); /* the store's clock */
    chatvault_archive_summary_free(summary);
    chatvault_import_report ir = CHATVAULT_INIT(chatvault_import_report);
    EXPECT(CHATVAULT_STATUS_KDF_TOO_COSTLY,
           chatvault_store_import_with(s, archive, strlen(archive), &archive_key, &io, NULL, NULL, &ir));
    io.max_kdf = &three;
    OK(chatvault_store_import_with(s, archive, strlen(archive), &archive_key, &io, NULL, NULL, &ir));
    CHECK(ir.messages_skipped == 3 && ir.messages_added == 0);
    io.max_kdf = &unsized;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT,
           chatvault_store_import_with(s, archive, strlen(archive), &archive_key, &io, NULL, NULL, &ir));

    /* A zone per instant: the days and offsets follow summer time. */
    char *html = path_of("zones.html");
    int calls = 0;
    chatvault_html_options ho = CHATVAULT_INIT(chatvault_html_options);
    ho.zone = test_zone;
    ho.zone_ctx = &calls;
    ho.has_zone = 1;
    chatvault_html_report hr = CHATVAULT_INIT(chatvault_html_report);
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    MESSAGE_HAS("both");
    ho.has_zone = 0;
    OK(chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    CHECK(calls >= 3 && hr.messages == 3);
    char *page = read_file(html);
    CHECK(strstr(page, "CET (UTC+01:00)") != NULL && strstr(page, "CEST (UTC+02:00)") != NULL);
    free(page);
    /* A struct_size that ends inside a field (half of the zone pointer) is
     * no layout of the struct: refused, the half pointer never called. */
    ho.struct_size = (uint32_t)(offsetof(chatvault_html_options, zone) + 4);
    ho.replace_existing = 1; /* nothing else to refuse it for */
    calls = 0;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    MESSAGE_HAS("not the size of any layout of chatvault_html_options");
    CHECK(calls == 0);
    ho.struct_size = (uint32_t)offsetof(chatvault_html_options, zone); /* a layout without the zone: fine */
    OK(chatvault_store_export_html_with(s, c, html, strlen(html), &ho, &hr));
    CHECK(calls == 0 && hr.messages == 3);
    ho.struct_size = sizeof ho;

    /* The plaintext shapes: JSON, RFC 3339, a safe file name. */
    chatvault_text *t = NULL;
    OK(chatvault_rfc3339(1700000000123, &t));
    CHECK(t->struct_size == sizeof *t && same(t->text, "2023-11-14T22:13:20.123Z") && t->text.ptr[t->text.len] == '\0');
    chatvault_text_free(t);
    chatvault_message_id first = {c, 1};
    chatvault_new_attachment na = CHATVAULT_INIT(chatvault_new_attachment);
    na.media_type = text("image/png");
    na.file_name = text("../../photo 1.png");
    chatvault_attachment_writer *w = NULL;
    OK(chatvault_attachment_begin(s, first, &na, &w));
    OK(chatvault_attachment_write(w, (const uint8_t *)"\x89PNG", 4));
    uint64_t photo = 0;
    OK(chatvault_attachment_finish(w, &photo));
    OK(chatvault_message_json(s, first, 1, &t));
    CHECK(strstr(t->text.ptr, "\"around the switch\"") != NULL && strstr(t->text.ptr, "\"attachments\":[{") != NULL);
    chatvault_text_free(t);
    OK(chatvault_message_json(s, first, 0, &t));
    CHECK(strstr(t->text.ptr, "around the switch") != NULL && strstr(t->text.ptr, "attachments") == NULL);
    chatvault_text_free(t);
    t = NULL;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_json(s, first, 2, &t));
    chatvault_message_id missing = {c, 999};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_json(s, missing, 0, &t));
    CHECK(t == NULL);
    OK(chatvault_conversation_json(s, c, &t));
    CHECK(t->text.ptr[0] == '{' && strstr(t->text.ptr, "\"zones\"") != NULL);
    chatvault_text_free(t);
    OK(chatvault_attachment_json(s, photo, &t));
    CHECK(strstr(t->text.ptr, "\"image/png\"") != NULL);
    chatvault_text_free(t);
    OK(chatvault_attachment_file_name(s, photo, &t));
    CHECK(same(t->text, "_.._photo_1.png"));
    chatvault_text_free(t);
    t = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_file_name(s, 424242, &t));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_json(s, 424242, &t));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_conversation_json(s, 424242, &t));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_rfc3339(0, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_conversation_json(NULL, c, &t));
    CHECK(t == NULL);
    chatvault_text_free(NULL);
    OK(chatvault_store_close(s));

    /* Matching a text the app holds, without a store. */
    chatvault_search_query q = CHATVAULT_INIT(chatvault_search_query);
    q.text = text("东 东京 see");
    const char *hay = "东京 see";
    chatvault_match_list *ml = NULL;
    OK(chatvault_search_matches(&q, hay, strlen(hay), &ml));
    CHECK(ml != NULL && ml->struct_size == sizeof *ml && ml->len == 2);
    CHECK(ml->ranges[0].start == 0 && ml->ranges[0].end == 6 && ml->ranges[1].start == 7 && ml->ranges[1].end == 10);
    chatvault_match_list_free(ml);
    ml = (chatvault_match_list *)&q; /* overwritten with NULL: no match */
    OK(chatvault_search_matches(&q, "nothing", 7, &ml));
    CHECK(ml == NULL);
    q.text = text("...");
    ml = (chatvault_match_list *)&q;
    OK(chatvault_search_matches(&q, "...", 3, &ml));
    CHECK(ml == NULL);
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_search_matches(&q, "\xff", 1, &ml));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search_matches(NULL, hay, strlen(hay), &ml));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search_matches(&q, hay, strlen(hay), NULL));
    chatvault_match_list_free(NULL);

    free(path);
    free(archive);
    free(small);
    free(html);
}

static void test_free_null(void) {
    chatvault_message_page_free(NULL);
    chatvault_message_free(NULL);
    chatvault_conversation_free(NULL);
    chatvault_conversation_list_free(NULL);
    chatvault_verify_report_free(NULL);
    chatvault_attachment_free(NULL);
    chatvault_attachment_list_free(NULL);
    chatvault_storage_usage_free(NULL);
    chatvault_attachment_abort(NULL);
    chatvault_attachment_close(NULL);
    OK(chatvault_store_close(NULL));
}

/* Threads: writers append to their own conversations (single and batch)
 * while readers page and list, all on one handle. */
enum { WRITERS = 4, READERS = 2, PER_WRITER = 60 };

/* Holds every thread until all have arrived. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static int gate_count;

static void gate(void) {
    pthread_mutex_lock(&gate_lock);
    if (++gate_count == WRITERS + READERS) pthread_cond_broadcast(&gate_open);
    while (gate_count < WRITERS + READERS) pthread_cond_wait(&gate_open, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

struct worker {
    chatvault_store *store;
    uint64_t conversation;
    int failures;
    char error[256];
};

static void *writer(void *arg) {
    struct worker *w = arg;
    char body[64];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(body, sizeof body, "thread message %d", i);
        chatvault_message_id id;
        chatvault_status st;
        if (i % 10 == 9) {
            chatvault_batch_entry e[3];
            chatvault_new_message ms[3];
            chatvault_message_id ids[3];
            for (int j = 0; j < 3; j++) {
                ms[j] = message("worker", body, 1700000200000 + i);
                e[j].struct_size = sizeof e[j];
                e[j].conversation = w->conversation;
                e[j].message = &ms[j];
            }
            st = chatvault_message_append_batch(w->store, e, 3, ids);
        } else {
            chatvault_new_message m = message("worker", body, 1700000200000 + i);
            st = chatvault_message_append(w->store, w->conversation, &m, &id);
        }
        if (st != CHATVAULT_STATUS_OK) {
            w->failures++;
            snprintf(w->error, sizeof w->error, "%s", chatvault_last_error_message());
        }
    }
    /* Each writer fails once, naming its own conversation; once every
     * thread has passed the gate, each still sees its own message. */
    chatvault_message_id nowhere = {w->conversation, 1u << 30};
    if (chatvault_message_delete(w->store, nowhere) != CHATVAULT_STATUS_NOT_FOUND) w->failures++;
    char mine[64];
    snprintf(mine, sizeof mine, "message %llu/%u not found", (unsigned long long)w->conversation, 1u << 30);
    gate();
    if (strcmp(chatvault_last_error_message(), mine) != 0) {
        w->failures++;
        snprintf(w->error, sizeof w->error, "expected \"%s\", found \"%s\"", mine, chatvault_last_error_message());
    }
    return NULL;
}

static void *reader(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 40; i++) {
        chatvault_message_page *page = NULL;
        chatvault_status st = chatvault_message_page_latest(w->store, w->conversation, 20, &page);
        if (st == CHATVAULT_STATUS_OK) {
            for (size_t j = 1; j < page->len; j++)
                if (page->items[j].id.seq <= page->items[j - 1].id.seq) w->failures++;
            if (page->len > 0) {
                chatvault_message_page *older = NULL;
                if (chatvault_message_page_before(w->store, page->items[0].id, 20, &older) != CHATVAULT_STATUS_OK)
                    w->failures++;
                chatvault_message_page_free(older);
            }
            chatvault_message_page_free(page);
        } else {
            w->failures++;
        }
        chatvault_conversation_list *list = NULL;
        if (chatvault_conversation_list_get(w->store, 0, &list) != CHATVAULT_STATUS_OK) w->failures++;
        chatvault_conversation_list_free(list);
    }
    gate(); /* every writer has failed by now, on its own thread */
    if (strcmp(chatvault_last_error_message(), "") != 0) w->failures++;
    return NULL;
}

static void test_threads(chatvault_store *s) {
    struct worker w[WRITERS + READERS];
    pthread_t t[WRITERS + READERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < WRITERS; i++) {
        chatvault_new_conversation c = CHATVAULT_INIT(chatvault_new_conversation);
        c.title = text("thread");
        w[i].store = s;
        OK(chatvault_conversation_create(s, &c, &w[i].conversation));
    }
    for (int i = 0; i < READERS; i++) {
        w[WRITERS + i].store = s;
        w[WRITERS + i].conversation = w[i].conversation;
    }
    for (int i = 0; i < WRITERS + READERS; i++)
        CHECK(pthread_create(&t[i], NULL, i < WRITERS ? writer : reader, &w[i]) == 0);
    for (int i = 0; i < WRITERS + READERS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        if (w[i].failures) fprintf(stderr, "thread %d: %d failures (%s)\n", i, w[i].failures, w[i].error);
        CHECK(w[i].failures == 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        chatvault_conversation *c = NULL;
        OK(chatvault_conversation_get(s, w[i].conversation, &c));
        CHECK(c->message_count == PER_WRITER / 10 * 12);
        chatvault_conversation_free(c);
    }
    chatvault_verify_report *report = NULL;
    OK(chatvault_store_verify(s, &report));
    CHECK(report->problems_len == 0);
    chatvault_verify_report_free(report);
}

static chatvault_search_query search_for(const char *words) {
    chatvault_search_query q = CHATVAULT_INIT(chatvault_search_query);
    q.text = text(words);
    q.sender = none;
    return q;
}

static void test_search(void) {
    char *path = path_of("search.chatvault");
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store *s = NULL;
    OK(chatvault_store_create(path, strlen(path), &key, &s));
    chatvault_new_conversation nc = CHATVAULT_INIT(chatvault_new_conversation);
    nc.title = text("search");
    uint64_t c = 0;
    OK(chatvault_conversation_create(s, &nc, &c));
    const char *bodies[4] = {"我明天去东京出差", "Un café à l'école", "see you 🙂", "CAFE crème"};
    for (int i = 0; i < 4; i++) {
        chatvault_new_message m = message(i == 3 ? "bob" : "me", bodies[i], 1700000400000 + i);
        chatvault_message_id id;
        OK(chatvault_message_append(s, c, &m, &id));
    }

    /* CJK by characters, with the byte range that matched. */
    chatvault_search_query q = search_for("东京");
    chatvault_search_page *page = NULL;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->has_next == 0 && page->unindexed_segments == 0);
    CHECK(same(page->items[0].message->text, bodies[0]));
    CHECK(page->items[0].ranges_len == 1 && page->items[0].ranges[0].start == 12 && page->items[0].ranges[0].end == 18);
    chatvault_search_page_free(page);

    /* Folded case and accents, newest first, a page at a time. */
    q = search_for("cafe");
    q.limit = 1;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message->id.seq == 4 && page->has_next == 1);
    CHECK(page->next.message.seq == 4);
    q.has_after = 1;
    q.after = page->next;
    chatvault_search_page_free(page);
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message->id.seq == 2);
    CHECK(page->items[0].ranges_len == 1 && page->items[0].ranges[0].start == 3 && page->items[0].ranges[0].end == 8);
    chatvault_search_page_free(page);

    /* Filters: sender, time, conversation. */
    q = search_for("cafe");
    q.sender = text("bob");
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message->id.seq == 4);
    chatvault_search_page_free(page);
    q = search_for("cafe");
    q.has_until = 1;
    q.until_ms = 1700000400003;
    q.has_conversation = 1;
    q.conversation = c;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message->id.seq == 2);
    chatvault_search_page_free(page);

    q = search_for("?!");
    page = NULL;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_search(s, &q, &page));
    MESSAGE_HAS("no word to look for");
    CHECK(page == NULL);
    q = search_for("cafe");
    q.has_from = 1;
    q.from_ms = 1700000400004; /* after every message */
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 0);
    chatvault_search_page_free(page);
    q.has_from = 0;
    q.has_conversation = 1;
    q.conversation = 999999;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_search(s, &q, &page));
    q.text.ptr = "\xff";
    q.text.len = 1;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_search(s, &q, &page));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search(s, NULL, &page));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search(s, &q, NULL));
    chatvault_search_page_free(NULL);

    chatvault_index_report ix = CHATVAULT_INIT(chatvault_index_report);
    ix.segments_remaining = 7;
    OK(chatvault_index_for_search(s, 0, &ix));
    CHECK(ix.segments_remaining == 0 && ix.segments_skipped == 0);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_index_for_search(s, 0, NULL));
    OK(chatvault_store_close(s));
    free(path);
}

/* Attachments: the content of a photo or video is a deterministic stream of
 * bytes, so any range can be checked where it lands. */
static uint8_t content_byte(uint64_t seed, uint64_t i) {
    uint64_t x = (i + seed * 0x100000001b3ull) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56);
}

static void fill_content(uint8_t *buf, uint64_t seed, uint64_t from, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = content_byte(seed, from + i);
}

static int content_matches(const uint8_t *buf, uint64_t seed, uint64_t from, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != content_byte(seed, from + i)) return 0;
    return 1;
}

/* Writes `len` bytes of content `seed` in pieces of `piece` bytes. */
static void write_content(chatvault_attachment_writer *w, uint64_t seed, uint64_t len, size_t piece) {
    uint8_t *buf = malloc(piece);
    CHECK(buf != NULL);
    for (uint64_t at = 0; at < len; at += piece) {
        size_t n = (size_t)(len - at < piece ? len - at : piece);
        fill_content(buf, seed, at, n);
        OK(chatvault_attachment_write(w, buf, n));
    }
    free(buf);
}

static chatvault_new_attachment new_attachment(const char *media_type, const char *file_name) {
    chatvault_new_attachment a = CHATVAULT_INIT(chatvault_new_attachment);
    a.media_type = text(media_type);
    a.file_name = file_name ? text(file_name) : none;
    return a;
}

static uint64_t attach(chatvault_store *s, chatvault_message_id m, const char *media_type, uint64_t seed,
                       uint64_t len, size_t piece) {
    chatvault_new_attachment a = new_attachment(media_type, NULL);
    chatvault_attachment_writer *w = NULL;
    OK(chatvault_attachment_begin(s, m, &a, &w));
    write_content(w, seed, len, piece);
    uint64_t id = 0;
    OK(chatvault_attachment_finish(w, &id));
    CHECK(id != 0);
    return id;
}

/* The files in the attachment directory: how many, and the path and size
 * of the largest (for the caller to free). */
static int attachment_files(const char *dir_path, char **largest, long *largest_size) {
    int count = 0;
    if (largest) *largest = NULL;
    if (largest_size) *largest_size = -1;
    DIR *d = opendir(dir_path);
    if (d == NULL) return 0; /* not made yet: nothing went to a file */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        count++;
        CHECK(strlen(e->d_name) == 32 && strspn(e->d_name, "0123456789abcdef") == 32);
        size_t n = strlen(dir_path) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        CHECK(p != NULL);
        snprintf(p, n, "%s/%s", dir_path, e->d_name);
        FILE *f = fopen(p, "rb");
        CHECK(f != NULL && fseek(f, 0, SEEK_END) == 0);
        long size = ftell(f);
        fclose(f);
        if (largest && size > *largest_size) {
            free(*largest);
            *largest = p;
            *largest_size = size;
        } else {
            free(p);
        }
    }
    closedir(d);
    return count;
}

static void flip_byte(const char *path, long offset) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL && fseek(f, offset, SEEK_SET) == 0);
    int c = fgetc(f);
    CHECK(c != EOF && fseek(f, offset, SEEK_SET) == 0);
    CHECK(fputc(c ^ 0x01, f) != EOF);
    fclose(f);
}

static int all_zero(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

static int64_t now_ms(void) {
    struct timespec t;
    CHECK(clock_gettime(CLOCK_REALTIME, &t) == 0);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {}
}

/* Several threads reading ranges of one reader at once. */
struct range_reader {
    chatvault_attachment_reader *reader;
    uint64_t seed, len;
    int index, failures;
};

static void *read_ranges(void *arg) {
    struct range_reader *r = arg;
    uint8_t buf[3000];
    for (int i = 0; i < 40; i++) {
        uint64_t offset = ((uint64_t)(r->index * 40 + i) * 104729u) % r->len;
        size_t n = 0;
        if (chatvault_attachment_read_at(r->reader, offset, buf, sizeof buf, &n) != CHATVAULT_STATUS_OK ||
            n != (size_t)(r->len - offset < sizeof buf ? r->len - offset : sizeof buf) ||
            !content_matches(buf, r->seed, offset, n))
            r->failures++;
    }
    return NULL;
}

enum { PHOTO_LEN = 1300000, PIECE = 300000, VIDEO_LEN = 200000, THUMB_LEN = 1000 };

static void test_attachments(void) {
    char *path = path_of("attach.chatvault");
    char *files_dir = path_of("attach.chatvault-attachments");
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store *s = NULL;
    OK(chatvault_store_create(path, strlen(path), &key, &s));
    chatvault_new_conversation nc = CHATVAULT_INIT(chatvault_new_conversation);
    nc.title = text("photos");
    uint64_t c = 0;
    OK(chatvault_conversation_create(s, &nc, &c));
    chatvault_message_id m1, m2;
    chatvault_new_message msg = message("me", "look at this", 1700000500000);
    OK(chatvault_message_append(s, c, &msg, &m1));
    msg = message("me", "and this video", 1700000501000);
    OK(chatvault_message_append(s, c, &msg, &m2));

    /* begin's error paths write no handle. */
    chatvault_attachment_writer *sentinel = (chatvault_attachment_writer *)&checks; /* never dereferenced */
    chatvault_attachment_writer *w = sentinel;
    chatvault_new_attachment photo = new_attachment("image/heic", "IMG_0001.HEIC");
    const uint8_t dims[4] = {0x0f, 0xc0, 0x0b, 0xd0};
    photo.app_data.ptr = dims;
    photo.app_data.len = sizeof dims;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_begin(s, m1, NULL, &w));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_begin(s, m1, &photo, NULL));
    chatvault_new_attachment bad = photo;
    bad.media_type.ptr = "\xff";
    bad.media_type.len = 1;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_attachment_begin(s, m1, &bad, &w));
    MESSAGE_HAS("media_type");
    bad = photo;
    bad.file_name.ptr = NULL;
    bad.file_name.len = 3;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_begin(s, m1, &bad, &w));
    bad = photo;
    bad.app_data.len = 70000; /* with the rest, over the 64 KiB of metadata */
    uint8_t *big = calloc(70000, 1);
    CHECK(big != NULL);
    bad.app_data.ptr = big;
    EXPECT(CHATVAULT_STATUS_TOO_LARGE, chatvault_attachment_begin(s, m1, &bad, &w));
    free(big);
    chatvault_message_id nowhere = {c + 1000, 1};
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_begin(s, nowhere, &photo, &w));
    CHECK(w == sentinel);

    /* A thumbnail (inline: no file), a photo in pieces of 300 KB (a file),
     * a video on the second message. */
    uint64_t thumb = attach(s, m1, "image/jpeg", 1, THUMB_LEN, 333);
    CHECK(attachment_files(files_dir, NULL, NULL) == 0);
    OK(chatvault_attachment_begin(s, m1, &photo, &w));
    CHECK(w != NULL && w != sentinel);
    write_content(w, 2, PHOTO_LEN, PIECE);
    OK(chatvault_attachment_write(w, NULL, 0)); /* nothing, fine */
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_write(w, NULL, 5));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_write(NULL, dims, 4));
    uint64_t photo_id = 0;
    OK(chatvault_attachment_finish(w, &photo_id));
    CHECK(photo_id > thumb);
    uint64_t video = attach(s, m2, "video/mp4", 3, VIDEO_LEN, 65536);
    char *photo_file = NULL;
    long photo_file_size = 0;
    CHECK(attachment_files(files_dir, &photo_file, &photo_file_size) == 2);
    CHECK(photo_file_size > PHOTO_LEN); /* padded, and a tag per chunk */

    /* An empty attachment is one too. */
    chatvault_new_attachment empty = new_attachment("text/plain", "empty.txt");
    OK(chatvault_attachment_begin(s, m2, &empty, &w));
    uint64_t empty_id = 0;
    OK(chatvault_attachment_finish(w, &empty_id));

    /* Finish consumes the writer whatever the status: a NULL out_id, a
     * message that does not exist (checked at finish). Aborting removes
     * the file the writer had started. */
    OK(chatvault_attachment_begin(s, m1, &photo, &w));
    write_content(w, 4, 100000, 50000);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_finish(w, NULL));
    CHECK(attachment_files(files_dir, NULL, NULL) == 2);
    chatvault_message_id missing_message = {c, 999};
    OK(chatvault_attachment_begin(s, missing_message, &photo, &w));
    write_content(w, 5, 70000, 70000);
    uint64_t untouched = 42;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_finish(w, &untouched));
    MESSAGE_HAS("999");
    CHECK(untouched == 42);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_finish(NULL, &untouched));
    OK(chatvault_attachment_begin(s, m1, &photo, &w));
    write_content(w, 6, 200000, 100000);
    CHECK(attachment_files(files_dir, NULL, NULL) == 3);
    chatvault_attachment_abort(w);
    CHECK(attachment_files(files_dir, NULL, NULL) == 2);

    /* Ranged reads, across chunk boundaries and at the end. */
    chatvault_attachment_reader *r = NULL;
    OK(chatvault_attachment_open(s, photo_id, &r));
    uint64_t len = 0;
    OK(chatvault_attachment_length(r, &len));
    CHECK(len == PHOTO_LEN);
    uint8_t *buf = malloc(PHOTO_LEN + 100);
    CHECK(buf != NULL);
    size_t n = 0;
    uint64_t chunks = 99;
    OK(chatvault_attachment_chunks_decrypted(r, &chunks));
    CHECK(chunks == 0);
    OK(chatvault_attachment_read_at(r, 0, buf, 100, &n));
    CHECK(n == 100 && content_matches(buf, 2, 0, 100));
    OK(chatvault_attachment_read_at(r, 100, buf, 100, &n)); /* the same chunk: not decrypted again */
    OK(chatvault_attachment_chunks_decrypted(r, &chunks));
    CHECK(chunks == 1);
    OK(chatvault_attachment_read_at(r, 65530, buf, 20, &n));
    CHECK(n == 20 && content_matches(buf, 2, 65530, 20));
    OK(chatvault_attachment_chunks_decrypted(r, &chunks));
    CHECK(chunks == 2); /* chunk 1 only: chunk 0 was the last one decrypted */
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_chunks_decrypted(r, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_chunks_decrypted(NULL, &chunks));
    OK(chatvault_attachment_read_at(r, 200000, buf, 300000, &n)); /* five chunks in one call */
    CHECK(n == 300000 && content_matches(buf, 2, 200000, 300000));
    OK(chatvault_attachment_read_at(r, PHOTO_LEN - 10, buf, 100, &n));
    CHECK(n == 10 && content_matches(buf, 2, PHOTO_LEN - 10, 10));
    OK(chatvault_attachment_read_at(r, 0, buf, PHOTO_LEN + 100, &n));
    CHECK(n == PHOTO_LEN && content_matches(buf, 2, 0, PHOTO_LEN));
    OK(chatvault_attachment_read_at(r, PHOTO_LEN, buf, 100, &n));
    CHECK(n == 0);
    OK(chatvault_attachment_read_at(r, UINT64_MAX, buf, 100, &n));
    CHECK(n == 0);
    OK(chatvault_attachment_read_at(r, 5, NULL, 0, &n)); /* an empty buffer */
    CHECK(n == 0);
    n = 7;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_read_at(r, 0, NULL, 10, &n));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_read_at(r, 0, buf, 10, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_read_at(NULL, 0, buf, 10, &n));
    CHECK(n == 7);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_length(r, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_length(NULL, &len));

    /* Threads reading one reader at once. */
    struct range_reader rr[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        rr[i].reader = r;
        rr[i].seed = 2;
        rr[i].len = PHOTO_LEN;
        rr[i].index = i;
        rr[i].failures = 0;
        CHECK(pthread_create(&t[i], NULL, read_ranges, &rr[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(rr[i].failures == 0);
    }
    chatvault_attachment_close(r);

    OK(chatvault_attachment_open(s, thumb, &r));
    OK(chatvault_attachment_read_at(r, 0, buf, 4096, &n));
    CHECK(n == THUMB_LEN && content_matches(buf, 1, 0, THUMB_LEN));
    chatvault_attachment_close(r);
    OK(chatvault_attachment_open(s, empty_id, &r));
    OK(chatvault_attachment_length(r, &len));
    OK(chatvault_attachment_read_at(r, 0, buf, 10, &n));
    CHECK(len == 0 && n == 0);
    chatvault_attachment_close(r);
    r = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_open(s, 424242, &r));
    MESSAGE_HAS("attachment 424242");
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_open(s, 0, &r));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_open(s, thumb, NULL));
    CHECK(r == NULL);

    /* Metadata, a message's attachments, the gallery. */
    chatvault_attachment *a = NULL;
    OK(chatvault_attachment_get(s, photo_id, &a));
    CHECK(a->id == photo_id && a->message.conversation == c && a->message.seq == m1.seq);
    CHECK(same(a->media_type, "image/heic") && same(a->file_name, "IMG_0001.HEIC"));
    CHECK(a->byte_len == PHOTO_LEN && a->app_data.len == 4 && memcmp(a->app_data.ptr, dims, 4) == 0);
    CHECK(a->created_at_ms > 1700000000000 && a->has_removed_at == 0);
    chatvault_attachment_free(a);
    OK(chatvault_attachment_get(s, thumb, &a));
    CHECK(a->file_name.ptr == NULL && a->byte_len == THUMB_LEN && a->app_data.len == 0);
    chatvault_attachment_free(a);
    a = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_get(s, 424242, &a));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachment_get(s, thumb, NULL));
    CHECK(a == NULL);

    chatvault_attachment_list *list = NULL;
    OK(chatvault_message_attachments(s, m1, &list));
    CHECK(list->len == 2 && list->items[0].id == thumb && list->items[1].id == photo_id);
    CHECK(same(list->items[1].file_name, "IMG_0001.HEIC"));
    chatvault_attachment_list_free(list);
    chatvault_message_id m3;
    msg = message("me", "no attachment", 1700000502000);
    OK(chatvault_message_append(s, c, &msg, &m3));
    OK(chatvault_message_attachments(s, m3, &list));
    CHECK(list->len == 0);
    chatvault_attachment_list_free(list);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_attachments(s, m1, NULL));

    OK(chatvault_attachments(s, c, 0, NULL, 0, 0, 0, &list)); /* newest message first */
    CHECK(list->len == 4 && list->items[0].id == empty_id && list->items[1].id == video);
    CHECK(list->items[2].id == photo_id && list->items[3].id == thumb);
    chatvault_attachment_list_free(list);
    OK(chatvault_attachments(s, c, 0, "image/", 6, 0, 0, &list));
    CHECK(list->len == 2 && list->items[0].id == photo_id && list->items[1].id == thumb);
    chatvault_attachment_list_free(list);
    OK(chatvault_attachments(s, c, 1, "image/XX", 6, 0, 0, &list)); /* only 6 bytes are read */
    CHECK(list->len == 1 && list->items[0].id == photo_id);
    uint64_t last_shown = list->items[0].id;
    chatvault_attachment_list_free(list);
    OK(chatvault_attachments(s, c, 1, "image/", 6, 1, last_shown, &list)); /* the next page */
    CHECK(list->len == 1 && list->items[0].id == thumb);
    chatvault_attachment_list_free(list);
    OK(chatvault_attachments(s, c, 10, "audio/", 6, 0, 0, &list));
    CHECK(list->len == 0);
    chatvault_attachment_list_free(list);
    list = NULL;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_attachments(s, c, 0, "\xfe", 1, 0, 0, &list));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachments(s, c, 0, NULL, 3, 0, 0, &list));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachments(s, c + 1000, 0, NULL, 0, 0, 0, &list));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachments(s, c, 0, NULL, 0, 1, 424242, &list));
    /* Presence is explicit: before = 0 with has_before 1 is an attachment id
       like any other (none has it), and a flag of 2 is refused. */
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachments(s, c, 0, NULL, 0, 1, 0, &list));
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_attachments(s, c, 0, NULL, 0, 2, 0, &list));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_attachments(s, c, 0, NULL, 0, 0, 0, NULL));
    CHECK(list == NULL);

    /* Usage, stats and verify see them; an orphan file (as a crash while
     * writing leaves) is counted, reported, and removed by compaction. */
    chatvault_storage_usage_list *usage = NULL;
    OK(chatvault_storage_usage(s, &usage));
    CHECK(usage->len == 1 && usage->items[0].conversation == c && usage->items[0].attachments == 4);
    CHECK(usage->items[0].attachment_bytes > PHOTO_LEN + VIDEO_LEN && usage->items[0].text_bytes > 0);
    chatvault_storage_usage_free(usage);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_storage_usage(s, NULL));
    /* Compaction with work to do scrubs, and the scrub removes orphans
     * itself (uncounted): do that work first. */
    chatvault_compact_report cr = CHATVAULT_INIT(chatvault_compact_report);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.work_remains == 0 && cr.attachments_expired == 0);
    size_t orphan_len = strlen(files_dir) + 34;
    char *orphan = malloc(orphan_len);
    CHECK(orphan != NULL);
    snprintf(orphan, orphan_len, "%s/%s", files_dir, "00112233445566778899aabbccddeeff");
    FILE *f = fopen(orphan, "wb");
    CHECK(f != NULL && fwrite("junk", 1, 4, f) == 4);
    fclose(f);
    chatvault_stats stats = CHATVAULT_INIT(chatvault_stats);
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.attachments == 4 && stats.attachments_in_files == 2);
    CHECK(stats.attachment_bytes > PHOTO_LEN + VIDEO_LEN);
    CHECK(stats.orphan_files == 1 && stats.orphan_file_bytes == 4);
    chatvault_verify_report *report = NULL;
    OK(chatvault_store_verify(s, &report));
    CHECK(report->attachments == 4 && report->problems_len == 1);
    CHECK(report->problems[0].kind == CHATVAULT_PROBLEM_KIND_ORPHAN);
    chatvault_verify_report_free(report);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.orphan_files_removed == 1 && cr.attachments_expired == 0);
    CHECK(attachment_files(files_dir, NULL, NULL) == 2);
    free(orphan);

    /* A flipped byte in the photo's file: the chunk it is in fails, and no
     * byte of a read that spans it comes out; the others still read. */
    flip_byte(photo_file, 70000); /* in chunk 1: chunks are 65536 + 16 bytes */
    OK(chatvault_attachment_open(s, photo_id, &r));
    OK(chatvault_attachment_read_at(r, 100, buf, 1000, &n));
    CHECK(n == 1000 && content_matches(buf, 2, 100, 1000));
    memset(buf, 0xAA, 3000);
    n = 7;
    EXPECT(CHATVAULT_STATUS_AUTHENTICATION_FAILED, chatvault_attachment_read_at(r, 66000, buf, 100, &n));
    MESSAGE_HAS("chunk 1");
    CHECK(n == 7 && all_zero(buf, 100) && buf[100] == 0xAA);
    memset(buf, 0xAA, 3000);
    EXPECT(CHATVAULT_STATUS_AUTHENTICATION_FAILED, chatvault_attachment_read_at(r, 65000, buf, 2000, &n));
    CHECK(n == 7 && all_zero(buf, 2000) && buf[2000] == 0xAA); /* chunk 0's bytes too */
    OK(chatvault_attachment_read_at(r, 140000, buf, 1000, &n)); /* chunk 2 */
    CHECK(n == 1000 && content_matches(buf, 2, 140000, 1000));
    chatvault_attachment_close(r);
    OK(chatvault_store_verify(s, &report));
    CHECK(report->problems_len == 1 && report->problems[0].kind == CHATVAULT_PROBLEM_KIND_AUTHENTICATION);
    CHECK(report->problems[0].has_conversation == 1 && report->problems[0].conversation == c);
    CHECK(report->problems[0].has_seqs == 1 && report->problems[0].first_seq == photo_id);
    CHECK(report->problems[0].last_seq == m1.seq);
    chatvault_verify_report_free(report);
    flip_byte(photo_file, 70000); /* restored */
    OK(chatvault_attachment_open(s, photo_id, &r));
    OK(chatvault_attachment_read_at(r, 66000, buf, 100, &n));
    CHECK(n == 100 && content_matches(buf, 2, 66000, 100));

    /* The storage manager. */
    chatvault_attachment_filter filter = CHATVAULT_INIT(chatvault_attachment_filter);
    chatvault_clear_report clear = CHATVAULT_INIT(chatvault_clear_report);
    clear.attachments = 9;
    clear.bytes = 9;
    filter.has_conversation = 2;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_clear_attachments(s, &filter, &clear));
    MESSAGE_HAS("has_conversation");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_clear_attachments(s, NULL, &clear));
    filter.has_conversation = 0;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_clear_attachments(s, &filter, NULL));
    filter.has_media_type_prefix = 1;
    filter.media_type_prefix.ptr = "\xff";
    filter.media_type_prefix.len = 1;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_clear_attachments(s, &filter, &clear));
    CHECK(clear.attachments == 9 && clear.bytes == 9);
    filter.media_type_prefix = text("video/");
    filter.has_created_before = 1;
    filter.created_before_ms = 1000; /* 1970: nothing */
    OK(chatvault_clear_attachments(s, &filter, &clear));
    CHECK(clear.attachments == 0 && clear.bytes == 0);
    filter.has_created_before = 0;
    OK(chatvault_clear_attachments(s, &filter, &clear));
    CHECK(clear.attachments == 1 && clear.bytes > VIDEO_LEN);
    OK(chatvault_attachment_get(s, video, &a));
    CHECK(a->has_removed_at == 1 && a->removed_at_ms > 0 && a->byte_len == VIDEO_LEN && same(a->media_type, "video/mp4"));
    chatvault_attachment_free(a);
    chatvault_attachment_reader *gone = NULL;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_open(s, video, &gone)); /* removed content */
    memset(&filter, 0, sizeof filter);
    filter.struct_size = sizeof filter;
    filter.has_conversation = 1;
    filter.conversation = c;
    filter.has_min_bytes = 1;
    filter.min_bytes = PHOTO_LEN;
    OK(chatvault_clear_attachments(s, &filter, &clear));
    CHECK(clear.attachments == 1);
    CHECK(attachment_files(files_dir, NULL, NULL) == 0);
    /* A reader opened before keeps reading (as an open file does). */
    OK(chatvault_attachment_read_at(r, 1000000, buf, 100, &n));
    CHECK(n == 100 && content_matches(buf, 2, 1000000, 100));
    chatvault_attachment_close(r);
    OK(chatvault_storage_usage(s, &usage));
    CHECK(usage->len == 1 && usage->items[0].attachments == 4);
    CHECK(usage->items[0].attachment_bytes < 100000); /* the thumbnail's */
    chatvault_storage_usage_free(usage);

    /* Deleting. */
    OK(chatvault_attachment_delete(s, thumb));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_get(s, thumb, &a));
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_delete(s, thumb));
    OK(chatvault_message_attachments(s, m1, &list));
    CHECK(list->len == 1 && list->items[0].id == photo_id && list->items[0].has_removed_at == 1);
    chatvault_attachment_list_free(list);

    /* A disappearing message's attachment expires with it; compaction
     * removes it (and its file). */
    chatvault_new_message brief = message("me", "gone soon", 1700000503000);
    brief.has_expires_at = 1;
    brief.expires_at_ms = now_ms() + 4000; /* time to attach, even under valgrind */
    chatvault_message_id m4;
    OK(chatvault_message_append(s, c, &brief, &m4));
    uint64_t fleeting = attach(s, m4, "image/gif", 7, 100000, 100000);
    CHECK(attachment_files(files_dir, NULL, NULL) == 1);
    while (now_ms() <= brief.expires_at_ms + 200) sleep_ms(100);
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_attachment_open(s, fleeting, &gone)); /* expired */
    CHECK(gone == NULL);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr));
    CHECK(cr.attachments_expired == 1);
    CHECK(attachment_files(files_dir, NULL, NULL) == 0);

    /* A writer keeps its store open: closing is refused, and the handle
     * stays valid, until the writer is finished. A reader needs no store. */
    uint64_t late = attach(s, m2, "audio/ogg", 8, 50000, 10000);
    OK(chatvault_attachment_open(s, late, &r));
    OK(chatvault_attachment_begin(s, m2, &photo, &w));
    chatvault_attachment_writer *w2 = NULL;
    OK(chatvault_attachment_begin(s, m2, &photo, &w2));
    write_content(w, 9, 150000, 150000);
    EXPECT(CHATVAULT_STATUS_STORE_IN_USE, chatvault_store_close(s));
    MESSAGE_HAS("2 attachment writer(s)");
    chatvault_attachment_abort(w2);
    EXPECT(CHATVAULT_STATUS_STORE_IN_USE, chatvault_store_close(s));
    MESSAGE_HAS("chatvault_attachment_abort");
    chatvault_message_id still;
    msg = message("me", "still open", 1700000504000);
    OK(chatvault_message_append(s, c, &msg, &still));
    write_content(w, 10, 10, 10);
    uint64_t last = 0;
    OK(chatvault_attachment_finish(w, &last));
    OK(chatvault_store_close(s));
    OK(chatvault_attachment_read_at(r, 40000, buf, 20000, &n));
    CHECK(n == 10000 && content_matches(buf, 8, 40000, 10000));
    chatvault_attachment_close(r);

    /* A write that fails (here: a file where the attachment directory
     * goes) ends the writer: later writes and finish repeat the status. */
    char *blocked = path_of("blocked.chatvault");
    char *blocked_dir = path_of("blocked.chatvault-attachments");
    chatvault_store *b = NULL;
    OK(chatvault_store_create(blocked, strlen(blocked), &key, &b));
    OK(chatvault_conversation_create(b, &nc, &c));
    OK(chatvault_message_append(b, c, &msg, &m1));
    f = fopen(blocked_dir, "wb");
    CHECK(f != NULL);
    fclose(f);
    OK(chatvault_attachment_begin(b, m1, &photo, &w));
    fill_content(buf, 11, 0, 70000);
    OK(chatvault_attachment_write(w, buf, 60000)); /* under a chunk: nothing on disk yet */
    EXPECT(CHATVAULT_STATUS_IO, chatvault_attachment_write(w, buf, 10000));
    EXPECT(CHATVAULT_STATUS_IO, chatvault_attachment_write(w, buf, 1));
    MESSAGE_HAS("an earlier write to this attachment writer failed");
    EXPECT(CHATVAULT_STATUS_IO, chatvault_attachment_finish(w, &untouched));
    MESSAGE_HAS("nothing was stored");
    CHECK(untouched == 42);
    OK(chatvault_message_attachments(b, m1, &list));
    CHECK(list->len == 0);
    chatvault_attachment_list_free(list);
    OK(chatvault_store_close(b)); /* the writer was freed */
    free(blocked);
    free(blocked_dir);

    /* Everything acknowledged is there after a reopen. */
    s = open_store(path, key);
    OK(chatvault_attachment_open(s, last, &r));
    OK(chatvault_attachment_length(r, &len));
    CHECK(len == 150010);
    OK(chatvault_attachment_read_at(r, 149990, buf, 100, &n));
    CHECK(n == 20 && content_matches(buf, 9, 149990, 10) && content_matches(buf + 10, 10, 0, 10));
    chatvault_attachment_close(r);
    OK(chatvault_store_verify(s, &report));
    CHECK(report->problems_len == 0 && report->attachments == 5);
    chatvault_verify_report_free(report);
    OK(chatvault_store_close(s));

    free(buf);
    free(photo_file);
    free(files_dir);
    free(path);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch directory>\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    char *path = path_of("main.chatvault");

    test_version_and_names();
    chatvault_store *s = test_create_and_open(path);
    uint64_t alice = test_conversations(s);
    test_messages(s, alice);
    test_maintenance(s, alice);
    test_rotation();
    test_compact_stop_on_last_call();
    test_search();
    test_attachments();
    test_parity();
    test_options();
    test_free_null();
    test_null_store();
    test_threads(s);
    OK(chatvault_store_close(s));

    /* Reopen: everything acknowledged is there. */
    s = open_store(path, raw_key(raw_key_bytes));
    chatvault_stats stats = CHATVAULT_INIT(chatvault_stats);
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.conversations == 2 + WRITERS && stats.messages == 339 + WRITERS * (PER_WRITER / 10 * 12));
    OK(chatvault_store_close(s));
    free(path);

    printf("c_api: all passed (%d checks)\n", checks);
    return 0;
}
