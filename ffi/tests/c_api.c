/*
 * Drives every function of the C API from C, as an app would: the happy
 * paths, the error paths (NULL, wrong key, unknown ids, invalid UTF-8,
 * freeing NULL), and threads appending and paging one store at once.
 * tests/foreign.rs compiles it with the system C compiler and runs it, plainly
 * and under valgrind (or AddressSanitizer).
 *
 * Usage: c_api <empty scratch directory>. Prints "c_api: all passed" and
 * exits 0, or names the failed check and exits 1.
 */
#include "chatvault.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    chatvault_new_message m;
    memset(&m, 0, sizeof m);
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
    chatvault_new_conversation c;
    memset(&c, 0, sizeof c);
    c.external_id = text("wxid_alice");
    c.title = text("Alice 👋");
    c.members = members;
    c.members_len = 2;
    c.app_data.ptr = app_data;
    c.app_data.len = 3;
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
    chatvault_new_conversation g_new;
    memset(&g_new, 0, sizeof g_new);
    g_new.external_id = none;
    g_new.title = text("");
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
    CHECK(conv->read_up_to_seq == 0 && conv->message_count == 0 && conv->retention_ms == 0);
    chatvault_conversation_free(conv);
    OK(chatvault_conversation_get(s, group, &conv));
    CHECK(conv->external_id.ptr == NULL && conv->title.len == 0 && conv->retention_ms == 3600 * 1000);
    CHECK(conv->created_at_ms > 1700000000000); /* 0 meant now */
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
    reply.reply_to_seq = first.seq;
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
    bad.reply_to_seq = 1000;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_message_append(s, alice, &bad, &untouched));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(s, alice, NULL, &untouched));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(s, alice, &m, NULL));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append(NULL, alice, &m, &untouched));
    CHECK(untouched.conversation == 5 && untouched.seq == 5);

    /* A batch of 300, in one transaction. */
    enum { N = 300 };
    chatvault_batch_entry *entries = calloc(N, sizeof *entries);
    chatvault_message_id *ids = calloc(N, sizeof *ids);
    char(*bodies)[32] = calloc(N, 32);
    CHECK(entries && ids && bodies);
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], 32, "batch %d", i);
        entries[i].conversation = alice;
        entries[i].message = message(i % 2 ? "alice" : "me", bodies[i], 1700000002000 + i);
    }
    OK(chatvault_message_append_batch(s, entries, N, ids));
    for (int i = 0; i < N; i++) CHECK(ids[i].conversation == alice && ids[i].seq == (uint64_t)(3 + i));

    /* All or none: a bad entry at the end stores nothing and writes no id. */
    memset(ids, 0, N * sizeof *ids);
    entries[N - 1].message.text.ptr = NULL;
    entries[N - 1].message.text.len = 1;
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, entries, N, ids));
    entries[N - 1].message = message("me", "to nowhere", 0);
    entries[N - 1].conversation = 31337;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_message_append_batch(s, entries, N, ids));
    CHECK(ids[0].seq == 0);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, NULL, 1, ids));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_message_append_batch(s, entries, 1, NULL));
    OK(chatvault_message_append_batch(s, entries, 0, ids)); /* an empty batch */
    OK(chatvault_message_append_batch(s, NULL, 0, NULL)); /* NULL with length 0 is the empty array */
    free(entries);
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
    CHECK(one->sent_at_ms == 1700000000000 && one->edited_at_ms == 0 && one->reply_to_seq == 0);
    CHECK(one->extra.len == 2 && one->extra.ptr[0] == 0xde && one->extra.ptr[1] == 0xad);
    const chatvault_message *two = &page->items[1];
    CHECK(two->text.len == 3 && memcmp(two->text.ptr, "a\0b", 4) == 0);
    CHECK(two->external_id.ptr == NULL && two->reply_to_seq == 1 && two->expires_at_ms == 4102444800000);
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
    CHECK(same(msg->text, "édité ✓") && msg->edited_at_ms > 0);
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
    CHECK(same(msg->text, "cinq") && msg->edited_at_ms > 0);
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
    CHECK(top->conversation.id == alice && top->conversation.read_up_to_seq == 102);
    CHECK(top->conversation.message_count == 299); /* 302 appended, three deleted */
    CHECK(top->unread_count == 200);
    CHECK(top->last_message != NULL && same(top->last_message->text, "batch 299"));
    CHECK(list->items[1].last_message == NULL && list->items[1].unread_count == 0);
    chatvault_conversation_list_free(list);
    OK(chatvault_conversation_list_get(s, 1, &list));
    CHECK(list->len == 1 && list->items[0].conversation.id == alice);
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

static void on_archive(void *user_data, const chatvault_archive_progress *p) {
    struct progress_log *log = user_data;
    log->calls++;
    CHECK(p->bytes >= log->last_bytes);
    log->last_bytes = p->bytes;
    log->total_messages = p->total_messages;
}

static void test_maintenance(chatvault_store *s, uint64_t alice) {
    chatvault_stats stats;
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.conversations == 2 && stats.messages == 299 && stats.file_bytes > 0);
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
    struct progress_log log = {0, 1, 0, 0};
    chatvault_compact_report cr;
    OK(chatvault_store_compact(s, NULL, on_compact, &log, &cr));
    CHECK(log.calls == 1 && cr.work_remains == 1);
    chatvault_compact_report rest;
    struct progress_log full = {0, 0, 0, 0};
    chatvault_compact_options budget = {60000, 100000}; /* budgets too large to matter */
    OK(chatvault_store_compact(s, &budget, on_compact, &full, &rest));
    CHECK(full.calls >= 1 && rest.work_remains == 0 && rest.conversations_skipped == 0);
    CHECK(cr.segments_rewritten + rest.segments_rewritten > 40);
    CHECK(cr.segments_written + rest.segments_written < 10);
    CHECK(cr.messages_expired + rest.messages_expired == 5);
    OK(chatvault_store_compact(s, NULL, NULL, NULL, &cr)); /* nothing left, no callback */
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_compact(s, NULL, NULL, NULL, NULL));

    /* Export to an archive with its own passphrase, import into a new store. */
    char *archive = path_of("backup.cvarchive");
    chatvault_key archive_key = raw_key(other_key_bytes);
    struct progress_log exp = {0, 0, 0, 0};
    chatvault_export_report er;
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
    chatvault_import_report ir;
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
        chatvault_new_conversation c;
        memset(&c, 0, sizeof c);
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
    chatvault_rotation_report rr;
    memset(&rr, 0xAB, sizeof rr);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(NULL, &new_key, 0, &rr));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(s, NULL, 0, &rr));
    MESSAGE_HAS("key is NULL");
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_store_rotate_master_key(s, &new_key, 0, NULL));
    chatvault_key short_key = {CHATVAULT_KEY_KIND_RAW, new_bytes, 16};
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_store_rotate_master_key(s, &short_key, 0, &rr));
    CHECK(rr.transactions == 0xABABABABABABABABu && rr.conversations_damaged == 0xABABABABABABABABu &&
          rr.finished == 0xAB);

    /* A handle opened with the old key, not used yet. */
    chatvault_store *stale = open_store(path, old_key);

    /* One transaction: the rotation begins, and stays under way. */
    OK(chatvault_store_rotate_master_key(s, &new_key, 1, &rr));
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
    OK(chatvault_store_rotate_master_key(s, &new_key, 1, &rr));
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
    OK(chatvault_store_rotate_master_key(s, &new_key, 0, &rr));
    CHECK(rr.finished == 1 && rr.conversations == 0 && rr.transactions == 1 && rr.conversations_damaged == 0);

    /* Compaction reseals under the new epochs and destroys the old keys;
     * vacuum rewrites the file; the store is sound. */
    chatvault_compact_report cr;
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
    OK(chatvault_store_rotate_master_key(s, &unused_key, 1, &rr));
    CHECK(rr.finished == 0 && rr.transactions == 1);
    OK(chatvault_store_close(s));
    EXPECT(CHATVAULT_STATUS_WRONG_KEY, chatvault_store_open(path, strlen(path), &new_key, &s));
    s = open_store(path, unused_key);
    /* ...then a call with another key, a passphrase: it finishes the
     * rotation under way, then rotates again, moving every conversation
     * twice. Only the passphrase opens the store afterwards. */
    chatvault_key pass = passphrase("rotated passphrase");
    OK(chatvault_store_rotate_master_key(s, &pass, 0, &rr));
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
    chatvault_new_conversation c;
    memset(&c, 0, sizeof c);
    chatvault_new_message m = message("me", "x", 1);
    chatvault_batch_entry e = {1, m};
    chatvault_message_id id = {1, 1};
    uint64_t u = 9;
    void *p = &u;
    chatvault_stats stats;
    chatvault_compact_report cr;
    chatvault_export_report er;
    chatvault_import_report ir;
    chatvault_rotation_report rr;
    const chatvault_status want = CHATVAULT_STATUS_NULL_ARGUMENT;
    EXPECT(want, chatvault_store_change_key(n, &key));
    EXPECT(want, chatvault_store_rotate_master_key(n, &key, 0, &rr));
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
    MESSAGE_HAS("store is NULL");
    CHECK(u == 9 && p == (void *)&u && id.conversation == 1 && id.seq == 1);
}

static void test_free_null(void) {
    chatvault_message_page_free(NULL);
    chatvault_message_free(NULL);
    chatvault_conversation_free(NULL);
    chatvault_conversation_list_free(NULL);
    chatvault_verify_report_free(NULL);
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
            chatvault_message_id ids[3];
            for (int j = 0; j < 3; j++) {
                e[j].conversation = w->conversation;
                e[j].message = message("worker", body, 1700000200000 + i);
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
        chatvault_new_conversation c;
        memset(&c, 0, sizeof c);
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
    chatvault_search_query q;
    memset(&q, 0, sizeof q);
    q.text = text(words);
    q.sender = none;
    q.from_ms = INT64_MIN;
    q.until_ms = INT64_MAX;
    return q;
}

static void test_search(void) {
    char *path = path_of("search.chatvault");
    chatvault_key key = raw_key(raw_key_bytes);
    chatvault_store *s = NULL;
    OK(chatvault_store_create(path, strlen(path), &key, &s));
    chatvault_new_conversation nc;
    memset(&nc, 0, sizeof nc);
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
    CHECK(page->len == 1 && page->next.message.conversation == 0 && page->unindexed_segments == 0);
    CHECK(same(page->items[0].message.text, bodies[0]));
    CHECK(page->items[0].ranges_len == 1 && page->items[0].ranges[0].start == 12 && page->items[0].ranges[0].end == 18);
    chatvault_search_page_free(page);

    /* Folded case and accents, newest first, a page at a time. */
    q = search_for("cafe");
    q.limit = 1;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message.id.seq == 4 && page->next.message.seq == 4);
    q.after = page->next;
    chatvault_search_page_free(page);
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message.id.seq == 2);
    CHECK(page->items[0].ranges_len == 1 && page->items[0].ranges[0].start == 3 && page->items[0].ranges[0].end == 8);
    chatvault_search_page_free(page);

    /* Filters: sender, time, conversation. */
    q = search_for("cafe");
    q.sender = text("bob");
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message.id.seq == 4);
    chatvault_search_page_free(page);
    q = search_for("cafe");
    q.until_ms = 1700000400003;
    q.conversation = c;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && page->items[0].message.id.seq == 2);
    chatvault_search_page_free(page);

    q = search_for("?!");
    page = NULL;
    EXPECT(CHATVAULT_STATUS_INVALID_ARGUMENT, chatvault_search(s, &q, &page));
    MESSAGE_HAS("no word to look for");
    CHECK(page == NULL);
    q = search_for("cafe");
    q.conversation = 999999;
    EXPECT(CHATVAULT_STATUS_NOT_FOUND, chatvault_search(s, &q, &page));
    q.text.ptr = "\xff";
    q.text.len = 1;
    EXPECT(CHATVAULT_STATUS_INVALID_UTF8, chatvault_search(s, &q, &page));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search(s, NULL, &page));
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_search(s, &q, NULL));
    chatvault_search_page_free(NULL);

    uint64_t remaining = 7;
    OK(chatvault_index_for_search(s, 0, &remaining));
    CHECK(remaining == 0);
    EXPECT(CHATVAULT_STATUS_NULL_ARGUMENT, chatvault_index_for_search(s, 0, NULL));
    OK(chatvault_store_close(s));
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
    test_search();
    test_free_null();
    test_null_store();
    test_threads(s);
    OK(chatvault_store_close(s));

    /* Reopen: everything acknowledged is there. */
    s = open_store(path, raw_key(raw_key_bytes));
    chatvault_stats stats;
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.conversations == 2 + WRITERS && stats.messages == 339 + WRITERS * (PER_WRITER / 10 * 12));
    OK(chatvault_store_close(s));
    free(path);

    printf("c_api: all passed (%d checks)\n", checks);
    return 0;
}
