/*
 * The ABI rule, tested against the PREVIOUS header: this program is built
 * with the struct layouts and prototypes of the chatvault.h before
 * struct_size existed (copied below, as `git show` of that version has
 * them), and linked against the current library. Every call that takes one
 * of those structs must be refused with CHATVAULT_STATUS_INVALID_ARGUMENT
 * (3), naming struct_size, without crashing and without writing a byte
 * inside or past the caller's struct (checked with canaries).
 * tests/foreign.rs runs it, under valgrind when it is installed.
 *
 * Usage: old_layout <empty scratch directory>.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- From the previous ffi/include/chatvault.h, unchanged. ---- */

typedef uint32_t chatvault_status;
typedef struct chatvault_store chatvault_store;
typedef void (*chatvault_archive_progress_fn)(void *user_data, const void *progress);
typedef int32_t (*chatvault_compact_progress_fn)(void *user_data, const void *progress);
typedef struct chatvault_search_page chatvault_search_page;

typedef struct chatvault_str {
  // The first byte.
  const char *ptr;
  // The number of bytes, not counting any NUL terminator.
  size_t len;
} chatvault_str;

typedef struct chatvault_bytes {
  // The first byte.
  const uint8_t *ptr;
  // The number of bytes.
  size_t len;
} chatvault_bytes;

typedef struct chatvault_key {
  // `CHATVAULT_KEY_KIND_RAW` or `CHATVAULT_KEY_KIND_PASSPHRASE`.
  uint32_t kind;
  // The 32 key bytes, or the passphrase's UTF-8 bytes.
  const uint8_t *bytes;
  // 32 for a raw key; the passphrase's length in bytes.
  size_t len;
} chatvault_key;

typedef struct chatvault_message_id {
  // The conversation's id.
  uint64_t conversation;
  // The message's sequence number in the conversation; 1 is the first.
  uint64_t seq;
} chatvault_message_id;

typedef struct chatvault_new_conversation {
  // Optional: the app's id for it, unique in the store (`{NULL, 0}` for none).
  struct chatvault_str external_id;
  // Its display title.
  struct chatvault_str title;
  // Member ids or names: `members_len` texts (`members` may be NULL when 0).
  const struct chatvault_str *members;
  // How many members.
  size_t members_len;
  // Opaque app data, sealed with the conversation.
  struct chatvault_bytes app_data;
  // Creation time in milliseconds since the Unix epoch; 0 means now.
  int64_t created_at_ms;
  // Disappearing messages: messages appended later expire this many
  // milliseconds after they were sent; 0 means they never do.
  uint64_t retention_ms;
} chatvault_new_conversation;

typedef struct chatvault_new_message {
  // Optional: the server's or sender's id for it (`{NULL, 0}` for none).
  // Appending an external id the conversation already has returns that
  // message's id and stores nothing, so sync retries are safe.
  struct chatvault_str external_id;
  // Who sent it.
  struct chatvault_str sender;
  // Its text.
  struct chatvault_str text;
  // When it was sent, milliseconds since the Unix epoch.
  int64_t sent_at_ms;
  // The sequence number of the message it replies to, in the same
  // conversation; 0 if it is not a reply.
  uint64_t reply_to_seq;
  // Opaque app data (attachment references, reactions, ...).
  struct chatvault_bytes extra;
  // When it disappears, milliseconds since the Unix epoch; 0 means never.
  int64_t expires_at_ms;
} chatvault_new_message;

typedef struct chatvault_stats {
  // Conversations.
  uint64_t conversations;
  // Messages held, including expired ones compaction has not removed yet.
  uint64_t messages;
  // Segments.
  uint64_t segments;
  // Segments written since their conversation was last compacted.
  uint64_t segments_uncompacted;
  // Bytes of sealed segment bodies.
  uint64_t segment_bytes;
  // Size of the database file.
  uint64_t file_bytes;
  // Size of the write-ahead log.
  uint64_t wal_bytes;
  // Free pages in the file, which a scrub returns to the file system.
  uint64_t reclaimable_bytes;
  // Attachments (those whose content was removed included).
  uint64_t attachments;
  // Stored bytes of attachment content, inline (in the database file)
  // and in files beside it.
  uint64_t attachment_bytes;
  // Attachments whose content is in a file beside the store.
  uint64_t attachments_in_files;
  // Files in the attachment directory that no attachment names (left by
  // a crash while one was written): `chatvault_store_compact` removes them.
  uint64_t orphan_files;
  // Their bytes.
  uint64_t orphan_file_bytes;
} chatvault_stats;

typedef struct chatvault_compact_options {
  // Stop starting new transactions after this many milliseconds; 0 for no limit.
  uint64_t time_budget_ms;
  // Stop after rewriting about this many segments; 0 for no limit.
  uint64_t segment_budget;
} chatvault_compact_options;

typedef struct chatvault_compact_report {
  // Conversations whose work was finished.
  uint64_t conversations_compacted;
  // Existing segments rewritten.
  uint64_t segments_rewritten;
  // Segments written in their place.
  uint64_t segments_written;
  // Expired messages removed from disk.
  uint64_t messages_expired;
  // Old-epoch conversation keys destroyed.
  uint64_t keys_destroyed;
  // Database and WAL bytes before.
  uint64_t bytes_before;
  // Database and WAL bytes after.
  uint64_t bytes_after;
  // Conversations left alone because something in them does not open;
  // `chatvault_store_verify` says what.
  uint64_t conversations_skipped;
  // 1 if a budget ran out or the callback stopped it: call again to continue.
  uint8_t work_remains;
  // Attachments of expired messages removed, their files included.
  uint64_t attachments_expired;
  // Attachment files no attachment named (left by a crash while one was
  // written) removed.
  uint64_t orphan_files_removed;
} chatvault_compact_report;

typedef struct chatvault_export_report {
  // Conversations in the archive.
  uint64_t conversations;
  // Messages in the archive (expired ones are left out).
  uint64_t messages;
  // The archive's size in bytes.
  uint64_t bytes;
} chatvault_export_report;

typedef struct chatvault_import_report {
  // Conversations the store did not have, created.
  uint64_t conversations_created;
  // Conversations the store had already.
  uint64_t conversations_matched;
  // Messages added.
  uint64_t messages_added;
  // Messages the store had already, or that had expired: not added.
  uint64_t messages_skipped;
  // The archive's size in bytes.
  uint64_t bytes;
} chatvault_import_report;

typedef struct chatvault_search_cursor {
  // The last hit's `sent_at_ms`.
  int64_t sent_at_ms;
  // The last hit's id; conversation 0 for none.
  struct chatvault_message_id message;
} chatvault_search_cursor;

typedef struct chatvault_search_query {
  // The words to find (UTF-8).
  struct chatvault_str text;
  // Only this conversation; 0 for the whole store.
  uint64_t conversation;
  // Only messages from this sender (exact); `{NULL, 0}` for any.
  struct chatvault_str sender;
  // Only messages sent at or after this time (ms since the Unix epoch);
  // `INT64_MIN` for no lower bound.
  int64_t from_ms;
  // Only messages sent before this time; `INT64_MAX` for no upper bound.
  int64_t until_ms;
  // At most this many hits; 0 for 50.
  size_t limit;
  // The page after this cursor (the previous page's `next`); conversation
  // 0 for the first page.
  struct chatvault_search_cursor after;
} chatvault_search_query;

chatvault_status chatvault_store_create(const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *key,
                                        struct chatvault_store **out);

chatvault_status chatvault_store_close(struct chatvault_store *store);

chatvault_status chatvault_conversation_create(const struct chatvault_store *store,
                                               const struct chatvault_new_conversation *conversation,
                                               uint64_t *out_id);

chatvault_status chatvault_message_append(const struct chatvault_store *store,
                                          uint64_t conversation,
                                          const struct chatvault_new_message *message,
                                          struct chatvault_message_id *out_id);

chatvault_status chatvault_store_stats(const struct chatvault_store *store,
                                       struct chatvault_stats *out);

chatvault_status chatvault_store_compact(const struct chatvault_store *store,
                                         const struct chatvault_compact_options *options,
                                         chatvault_compact_progress_fn progress,
                                         void *user_data,
                                         struct chatvault_compact_report *out);

chatvault_status chatvault_store_export(const struct chatvault_store *store,
                                        const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *archive_key,
                                        const uint64_t *conversations,
                                        size_t conversations_len,
                                        chatvault_archive_progress_fn progress,
                                        void *user_data,
                                        struct chatvault_export_report *out);

chatvault_status chatvault_store_import(const struct chatvault_store *store,
                                        const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *archive_key,
                                        chatvault_archive_progress_fn progress,
                                        void *user_data,
                                        struct chatvault_import_report *out);

chatvault_status chatvault_search(const struct chatvault_store *store,
                                  const struct chatvault_search_query *query,
                                  struct chatvault_search_page **out);

const char *chatvault_last_error_message(void);

const char *chatvault_status_name(uint32_t status);

/* ---- The test. ---- */

enum { OK = 0, INVALID_ARGUMENT = 3, CANARY = 0xCD };

static int checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    chatvault_last_error_message());                                 \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* A struct of the old layout followed by canary bytes. */
#define GUARDED(type) struct { type value; unsigned char canary[64]; }

static int untouched(const void *p, size_t n, unsigned char byte) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != byte) return 0;
    return 1;
}

static void refused(chatvault_status st) {
    CHECK(st == INVALID_ARGUMENT);
    CHECK(strstr(chatvault_last_error_message(), "struct_size") != NULL);
}

static chatvault_str text(const char *s) {
    chatvault_str t = {s, strlen(s)};
    return t;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: old_layout <scratch directory>\n");
        return 2;
    }
    char path[4096], archive[4096];
    snprintf(path, sizeof path, "%s/old.chatvault", argv[1]);
    snprintf(archive, sizeof archive, "%s/old.cvarchive", argv[1]);
    static const uint8_t raw[32] = {7};
    chatvault_key key = {1, raw, 32}; /* unchanged layout: still accepted */
    chatvault_store *s = NULL;
    CHECK(chatvault_store_create(path, strlen(path), &key, &s) == OK && s != NULL);

    /* Inputs, zero-initialised as an app would, with text set. */
    GUARDED(chatvault_new_conversation) conv;
    memset(&conv, 0, sizeof conv.value);
    memset(conv.canary, CANARY, sizeof conv.canary);
    conv.value.title = text("from an old app");
    uint64_t id = 42;
    refused(chatvault_conversation_create(s, &conv.value, &id));
    CHECK(id == 42 && untouched(conv.canary, sizeof conv.canary, CANARY));

    GUARDED(chatvault_new_message) msg;
    memset(&msg, 0, sizeof msg.value);
    memset(msg.canary, CANARY, sizeof msg.canary);
    msg.value.sender = text("me");
    msg.value.text = text("hello");
    msg.value.sent_at_ms = 1700000000000;
    chatvault_message_id mid = {5, 5};
    refused(chatvault_message_append(s, 1, &msg.value, &mid));
    CHECK(mid.conversation == 5 && mid.seq == 5);

    GUARDED(chatvault_search_query) q;
    memset(&q, 0, sizeof q.value);
    memset(q.canary, CANARY, sizeof q.canary);
    q.value.text = text("hello");
    q.value.from_ms = INT64_MIN;
    q.value.until_ms = INT64_MAX;
    chatvault_search_page *page = NULL;
    refused(chatvault_search(s, &q.value, &page));
    CHECK(page == NULL);

    GUARDED(chatvault_compact_options) options;
    memset(&options, 0, sizeof options.value);
    memset(options.canary, CANARY, sizeof options.canary);
    options.value.time_budget_ms = 60000;

    /* Outputs: the old structs, zeroed; nothing may be written in them or past them. */
    GUARDED(chatvault_stats) stats;
    memset(&stats.value, 0, sizeof stats.value);
    memset(stats.canary, CANARY, sizeof stats.canary);
    refused(chatvault_store_stats(s, &stats.value));
    CHECK(untouched(&stats.value, sizeof stats.value, 0) && untouched(stats.canary, sizeof stats.canary, CANARY));

    GUARDED(chatvault_compact_report) cr;
    memset(&cr.value, 0, sizeof cr.value);
    memset(cr.canary, CANARY, sizeof cr.canary);
    refused(chatvault_store_compact(s, &options.value, NULL, NULL, &cr.value));
    refused(chatvault_store_compact(s, NULL, NULL, NULL, &cr.value));
    CHECK(untouched(&cr.value, sizeof cr.value, 0) && untouched(cr.canary, sizeof cr.canary, CANARY));

    GUARDED(chatvault_export_report) er;
    memset(&er.value, 0, sizeof er.value);
    memset(er.canary, CANARY, sizeof er.canary);
    refused(chatvault_store_export(s, archive, strlen(archive), &key, NULL, 0, NULL, NULL, &er.value));
    CHECK(untouched(&er.value, sizeof er.value, 0) && untouched(er.canary, sizeof er.canary, CANARY));
    FILE *f = fopen(archive, "rb");
    CHECK(f == NULL); /* refused before anything was written */

    GUARDED(chatvault_import_report) ir;
    memset(&ir.value, 0, sizeof ir.value);
    memset(ir.canary, CANARY, sizeof ir.canary);
    refused(chatvault_store_import(s, archive, strlen(archive), &key, NULL, NULL, &ir.value));
    CHECK(untouched(&ir.value, sizeof ir.value, 0) && untouched(ir.canary, sizeof ir.canary, CANARY));

    CHECK(chatvault_store_close(s) == OK);
    printf("old_layout: all passed (%d checks)\n", checks);
    return 0;
}
