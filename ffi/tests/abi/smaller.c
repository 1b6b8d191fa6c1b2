/*
 * The ABI rule for a program built against an OLDER header than the
 * library's, as an app will be once fields are appended: it declares its
 * structs with the last fields cut off and sets struct_size to where its
 * struct ends (offsetof the first field it does not know). The library
 * must read only those bytes (the fields past them take their defaults:
 * the bytes there are garbage, 0xFF, which would be refused if read) and
 * write only those bytes of a report (the bytes past them are canaries).
 * tests/foreign.rs runs it, under valgrind when it is installed.
 *
 * Usage: smaller <empty scratch directory>.
 */
#include "chatvault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CANARY = 0xCD, GARBAGE = 0xFF };

static int checks;

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        checks++;                                                                                        \
        if (!(cond)) {                                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond,   \
                    chatvault_last_error_message());                                                     \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)

#define OK(call) CHECK((call) == CHATVAULT_STATUS_OK)

static int all(const void *p, size_t n, unsigned char byte) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != byte) return 0;
    return 1;
}

static chatvault_str text(const char *s) {
    chatvault_str t = {s, strlen(s)};
    return t;
}

/* An input the app's older header ends at `end`: the bytes past it are garbage. */
#define OLDER_INPUT(var, type, end)          \
    type var;                                \
    memset(&var, GARBAGE, sizeof var);       \
    memset(&var, 0, (end));                  \
    var.struct_size = (uint32_t)(end)

/* A report the app's older header ends at `end`: the bytes past it are canaries. */
#define OLDER_REPORT(var, type, end)         \
    type var;                                \
    memset(&var, CANARY, sizeof var);        \
    memset(&var, 0, (end));                  \
    var.struct_size = (uint32_t)(end)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: smaller <scratch directory>\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/smaller.chatvault", argv[1]);
    static const uint8_t raw[32] = {7};
    chatvault_key key = {CHATVAULT_KEY_KIND_RAW, raw, 32};

    /* Store options without the Argon2id ceiling fields. */
    OLDER_INPUT(options, chatvault_store_options, offsetof(chatvault_store_options, has_max_kdf));
    options.durability = CHATVAULT_DURABILITY_NORMAL;
    chatvault_store *s = NULL;
    OK(chatvault_store_create_with(path, strlen(path), &key, &options, &s));

    /* A conversation without retention fields: it keeps messages forever. */
    OLDER_INPUT(conv, chatvault_new_conversation, offsetof(chatvault_new_conversation, has_retention));
    conv.title = text("older app");
    uint64_t c = 0;
    OK(chatvault_conversation_create(s, &conv, &c));
    chatvault_conversation *got = NULL;
    OK(chatvault_conversation_get(s, c, &got));
    CHECK(got->struct_size == sizeof(chatvault_conversation) && got->has_retention == 0);
    chatvault_conversation_free(got);

    /* A message without the expiry fields (the last two). */
    OLDER_INPUT(m, chatvault_new_message, offsetof(chatvault_new_message, has_expires_at));
    m.external_id.ptr = NULL;
    m.external_id.len = 0;
    m.sender = text("me");
    m.text = text("from an app built against an older header");
    m.sent_at_ms = 1700000000000;
    chatvault_message_id id = {0, 0};
    OK(chatvault_message_append(s, c, &m, &id));
    chatvault_message *back = NULL;
    OK(chatvault_message_get(s, id, &back));
    CHECK(back->has_expires_at == 0 && back->has_reply_to == 0);
    chatvault_message_free(back);

    /* A search query without the cursor fields: the first page. */
    OLDER_INPUT(q, chatvault_search_query, offsetof(chatvault_search_query, has_after));
    q.text = text("older");
    q.sender.ptr = NULL;
    q.sender.len = 0;
    chatvault_search_page *page = NULL;
    OK(chatvault_search(s, &q, &page));
    CHECK(page->len == 1 && CHATVAULT_ITEM(chatvault_search_hit, page->items, 0)->message->id.seq == id.seq);
    chatvault_search_page_free(page);

    /* Reports: written only up to struct_size. */
    size_t stats_end = offsetof(chatvault_stats, orphan_file_bytes);
    OLDER_REPORT(stats, chatvault_stats, stats_end);
    OK(chatvault_store_stats(s, &stats));
    CHECK(stats.struct_size == stats_end && stats.conversations == 1 && stats.messages == 1);
    CHECK(all((const char *)&stats + stats_end, sizeof stats - stats_end, CANARY));

    OLDER_INPUT(co, chatvault_compact_options, offsetof(chatvault_compact_options, target_messages));
    size_t cr_end = offsetof(chatvault_compact_report, attachments_expired);
    OLDER_REPORT(cr, chatvault_compact_report, cr_end);
    OK(chatvault_store_compact(s, &co, NULL, NULL, &cr));
    CHECK(cr.struct_size == cr_end && cr.work_remains == 0);
    CHECK(all((const char *)&cr + cr_end, sizeof cr - cr_end, CANARY));

    /* Smaller than the required fields, and 0: refused, nothing written. */
    OLDER_REPORT(tiny, chatvault_stats, 4); /* struct_size alone: less than any layout */
    CHECK(chatvault_store_stats(s, &tiny) == CHATVAULT_STATUS_INVALID_ARGUMENT);
    CHECK(tiny.struct_size == 4 && all((const char *)&tiny + 4, sizeof tiny - 4, CANARY));
    OLDER_INPUT(short_message, chatvault_new_message, offsetof(chatvault_new_message, text));
    CHECK(chatvault_message_append(s, c, &short_message, &id) == CHATVAULT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(chatvault_last_error_message(), "smallest") != NULL);

    OK(chatvault_store_close(s));
    printf("smaller: all passed (%d checks)\n", checks);
    return 0;
}
