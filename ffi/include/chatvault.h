/*
 * chatvault: an encrypted, on-device message store for chat apps. C API.
 *
 * Conventions (every function follows them):
 *
 * - Status. Every function that can fail returns a chatvault_status:
 *   CHATVAULT_STATUS_OK (0) on success, another code on failure. Codes are
 *   stable and never renumbered; new ones may be added. After a failure,
 *   chatvault_last_error_message() describes it for the calling thread.
 *
 * - Outputs. Results are written through out-pointers (the last parameters),
 *   and only on success: on failure they are left untouched.
 *
 * - NULL. A NULL pointer where one is required gives
 *   CHATVAULT_STATUS_NULL_ARGUMENT, never a crash. Pointers that are not NULL
 *   must be valid: the library cannot check them.
 *
 * - Text. Text crosses as UTF-8 with an explicit length in bytes; it need
 *   not be NUL-terminated, and a pointer may be NULL when its length is 0.
 *   Invalid UTF-8 gives CHATVAULT_STATUS_INVALID_UTF8. Text the library
 *   returns is also NUL-terminated, but may contain NUL bytes: use its length.
 *
 * - Ownership. The caller owns everything it passes in; the library copies
 *   what it keeps, so inputs may be freed or reused when the call returns.
 *   The library owns what it returns: a store handle is released with
 *   chatvault_store_close, every other allocation with its matching
 *   chatvault_*_free function, which accepts NULL. Everything an allocation
 *   points into (texts, members, last messages, items) lives exactly as long
 *   as it. Text and bytes the library returns are wiped when freed. Strings
 *   from chatvault_version, chatvault_status_name and
 *   chatvault_last_error_message are owned by the library and never freed.
 *
 * - Keys. Pass a store or archive key as a chatvault_key; the library copies
 *   it into memory it wipes. Wipe your own copy when the call returns. Keys,
 *   passphrases and message text never appear in error messages.
 *
 * - Threads. A chatvault_store handle may be used from several threads at
 *   once: writes are serialised inside the library and reads run in
 *   parallel. Close it only when no other call on it is running. Progress
 *   and zone callbacks run on the calling thread and must not call into the
 *   same store; a store's clock (chatvault_store_options.now_ms) runs on
 *   whichever thread a call on it runs, possibly several at once.
 *
 * - Callbacks return normally. A progress, zone or clock callback must
 *   return to the library: no C++ exception may propagate out of it and no
 *   longjmp may jump over the library's frames (either is undefined
 *   behaviour, and skips the library's cleanup and locks).
 *
 * - Clocks. The library trusts the store's clock: a clock returning absurd
 *   values makes expiry act on them (INT64_MAX, say, expires every message
 *   of a conversation with a retention, and every message with an expiry).
 *   An app's clock must be sane: milliseconds since the Unix epoch, now.
 *
 * - Panics. No Rust panic crosses this boundary: one becomes
 *   CHATVAULT_STATUS_PANIC (a bug; the store remains usable).
 *
 * - Struct sizes (the ABI evolution rule). Every struct except the small
 *   fixed values (chatvault_str, chatvault_bytes, chatvault_key,
 *   chatvault_message_id, chatvault_search_cursor, chatvault_match_range)
 *   begins with `uint32_t struct_size`, and new fields are only ever
 *   appended, each at or after the previous version's sizeof (never into
 *   its trailing padding), so that struct_size tells every version apart.
 *   A struct you fill in (new_conversation, new_message,
 *   options, search query, filter, ...) or that the library writes a
 *   report into (stats, compact/export/import/rotation/index/clear
 *   reports) must have struct_size set to sizeof(that struct) as this
 *   header declares it: start from CHATVAULT_INIT(type), which zeroes the
 *   rest. The library refuses with CHATVAULT_STATUS_INVALID_ARGUMENT a
 *   struct_size of 0 (a program built against a header without
 *   struct_size), one smaller than the struct's required fields, or one
 *   larger than its own (a header newer than the library), or one that
 *   ends inside a field (no layout of the struct has that size; padding
 *   between fields may be included or not). Between those, it reads only
 *   the first struct_size bytes, the fields past them taking
 *   their defaults (0 / absent), and writes only the first struct_size
 *   bytes. A struct the library allocates (message, conversation, pages,
 *   lists, reports) carries the library's own size: a field exists if it
 *   ends within struct_size; arrays of them are laid out at a stride of
 *   their first element's struct_size (index them with CHATVAULT_ITEM).
 *   chatvault_message_append_batch's entries are read at a stride of
 *   entries[0].struct_size, which every entry must repeat.
 *
 * - Codes and presence. Every code-valued field has a C enum below (its
 *   field is a uint32_t); an optional value has a `has_x` flag (0 or 1,
 *   anything else refused) beside it, for inputs and outputs alike.
 *
 * - Cancellation. Progress callbacks return CHATVAULT_PROGRESS_CONTINUE
 *   (0) to go on; anything else stops the operation cleanly with
 *   CHATVAULT_STATUS_CANCELLED: an import changes nothing, an export or
 *   inspection leaves no file, a compaction keeps what it committed.
 */


#ifndef CHATVAULT_H
#define CHATVAULT_H

/* Generated by cbindgen from ffi/src (ffi/cbindgen.toml): do not edit by hand. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* A struct the caller fills in or receives a report in, with struct_size
 * set and every other field 0: `chatvault_stats s = CHATVAULT_INIT(chatvault_stats);` */
#ifdef __cplusplus
#define CHATVAULT_INIT(type) {(uint32_t)sizeof(type)}
#else
#define CHATVAULT_INIT(type) {.struct_size = (uint32_t)sizeof(type)}
#endif

/* Element i of an array the library returns (items, problems,
 * conversations), stepping by its first element's struct_size, so that a
 * program built against an older header still finds each element. */
#define CHATVAULT_ITEM(type, array, i) \
    ((const type *)(const void *)((const char *)(array) + (size_t)(i) * (size_t)(array)[0].struct_size))


// What a chatvault function did. `CHATVAULT_STATUS_OK` (0) is success;
// every other value is an error, described for the calling thread by
// `chatvault_last_error_message()`.
//
// The numbers are part of the ABI: they never change, and a retired one is
// never reused. New codes may be added; treat an unknown one as an error.
enum chatvault_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Success.
  CHATVAULT_STATUS_OK = 0,
  // A required pointer argument was NULL (or a pointer was NULL with a
  // nonzero length).
  CHATVAULT_STATUS_NULL_ARGUMENT = 1,
  // Text given to the library is not valid UTF-8.
  CHATVAULT_STATUS_INVALID_UTF8 = 2,
  // An argument is invalid; the message says which and why.
  CHATVAULT_STATUS_INVALID_ARGUMENT = 3,
  // An input exceeds a documented size limit, or a count the store
  // format bounds is used up (sequence numbers in a conversation,
  // conversation ids in a store); the message says which.
  CHATVAULT_STATUS_TOO_LARGE = 4,
  // The conversation, message or attachment does not exist (or no longer
  // exists: deleted, or its message expired), an attachment's content was
  // removed (`chatvault_clear_attachments`), or no conversation has the
  // external id looked up.
  CHATVAULT_STATUS_NOT_FOUND = 5,
  // A conversation with this external id already exists.
  CHATVAULT_STATUS_CONVERSATION_EXISTS = 6,
  // The key or passphrase does not open this store or archive.
  CHATVAULT_STATUS_WRONG_KEY = 7,
  // There is no store at the path given to open.
  CHATVAULT_STATUS_NO_SUCH_STORE = 8,
  // Create found a file already at the path.
  CHATVAULT_STATUS_ALREADY_EXISTS = 9,
  // The file is not a chatvault store.
  CHATVAULT_STATUS_NOT_A_STORE = 10,
  // The store was written by a newer chatvault: upgrade the library.
  CHATVAULT_STATUS_UNSUPPORTED_VERSION = 11,
  // A sealed value failed authentication: the store was modified or
  // damaged. Run `chatvault_store_verify`. A chunk of an attachment's
  // content that fails gives this too, and never its bytes.
  CHATVAULT_STATUS_AUTHENTICATION_FAILED = 12,
  // The store is damaged in a way authentication cannot explain.
  CHATVAULT_STATUS_CORRUPT = 13,
  // The device is out of space; the write was rolled back. Free space and retry.
  CHATVAULT_STATUS_STORAGE_FULL = 14,
  // Another process held the database lock past the busy timeout; retry later.
  CHATVAULT_STATUS_BUSY = 15,
  // The change committed, but removed data could not be scrubbed from the
  // write-ahead log yet: call `chatvault_store_scrub` later.
  CHATVAULT_STATUS_SCRUB_INCOMPLETE = 16,
  // The file given to import is not a chatvault archive.
  CHATVAULT_STATUS_NOT_AN_ARCHIVE = 17,
  // The archive was made by a newer chatvault: upgrade the library.
  CHATVAULT_STATUS_UNSUPPORTED_ARCHIVE_VERSION = 18,
  // Part of the archive failed authentication (modified, reordered,
  // spliced or cut); nothing was imported.
  CHATVAULT_STATUS_ARCHIVE_TAMPERED = 19,
  // The archive ends before its final chunk; nothing was imported.
  CHATVAULT_STATUS_ARCHIVE_TRUNCATED = 20,
  // The archive authenticated but breaks the format's rules; nothing was imported.
  CHATVAULT_STATUS_ARCHIVE_CORRUPT = 21,
  // A file-system error.
  CHATVAULT_STATUS_IO = 22,
  // An SQLite error that is none of the above.
  CHATVAULT_STATUS_DATABASE = 23,
  // The operating system's random generator failed.
  CHATVAULT_STATUS_RANDOM = 24,
  // chatvault panicked: a bug. The store is still usable; please report it.
  CHATVAULT_STATUS_PANIC = 25,
  // An error this version of the C API has no code for yet.
  CHATVAULT_STATUS_UNKNOWN = 26,
  // The store's or archive's passphrase header asks for more Argon2id
  // work than the library allows (at most 256 MiB, 16 passes, 8 lanes,
  // and 512 MiB of memory times passes): the header was forged or
  // damaged. Refused before any key derivation.
  CHATVAULT_STATUS_KDF_TOO_COSTLY = 27,
  // Another handle or process rotated the store's master key
  // (`chatvault_store_rotate_master_key`) and this handle, opened with
  // the old key, cannot follow: close it and open the store again with
  // its current (new) key.
  CHATVAULT_STATUS_MASTER_KEY_ROTATED = 28,
  // The file's schema (its tables, indexes, triggers or views) was
  // modified outside chatvault: the store cannot be trusted and does not
  // open. Restore it from a backup or an archive.
  CHATVAULT_STATUS_SCHEMA_MODIFIED = 29,
  // `chatvault_store_close` was called while attachment writers made
  // from the handle (`chatvault_attachment_begin`) are still open:
  // nothing was closed and the handle stays valid. Finish or abort the
  // writers, then close it again.
  CHATVAULT_STATUS_STORE_IN_USE = 30,
  // The progress callback asked to stop (`CHATVAULT_PROGRESS_STOP`): an
  // import changed nothing, an export or inspection left no file, a
  // compaction kept the transactions it had committed (the store is
  // valid; call it again to go on).
  CHATVAULT_STATUS_CANCELLED = 31,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum chatvault_status chatvault_status;
#else
typedef uint32_t chatvault_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// How the bytes of a `chatvault_key` are to be read.
enum chatvault_key_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // 32 raw key bytes, kept by the app in the iOS Keychain or Android
  // Keystore. No key derivation runs. Recommended.
  CHATVAULT_KEY_KIND_RAW = 1,
  // A UTF-8 passphrase, stretched with Argon2id (19 MiB, 2 passes) when a
  // store or archive is created: opening takes a noticeable fraction of a
  // second.
  CHATVAULT_KEY_KIND_PASSPHRASE = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum chatvault_key_kind chatvault_key_kind;
#else
typedef uint32_t chatvault_key_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// The kinds of `chatvault_problem`. New kinds may be added; treat an
// unknown one as damage.
enum chatvault_problem_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // A kind this version of the C API has no number for yet.
  CHATVAULT_PROBLEM_KIND_OTHER = 0,
  // SQLite's integrity check reported damage to the file itself.
  CHATVAULT_PROBLEM_KIND_INTEGRITY = 1,
  // A sealed value does not open with its key at its place.
  CHATVAULT_PROBLEM_KIND_AUTHENTICATION = 2,
  // A value opened but its contents are impossible.
  CHATVAULT_PROBLEM_KIND_CORRUPT = 3,
  // Two segments' sequence ranges overlap.
  CHATVAULT_PROBLEM_KIND_OVERLAP = 4,
  // A key a segment or the conversation needs is missing.
  CHATVAULT_PROBLEM_KIND_MISSING_KEY = 5,
  // A row belongs to a conversation that does not exist.
  CHATVAULT_PROBLEM_KIND_ORPHAN = 6,
  // A stored count disagrees with what the segments hold.
  CHATVAULT_PROBLEM_KIND_COUNT_MISMATCH = 7,
  // The schema is not exactly chatvault's: a table, index, trigger or
  // view was added, removed or altered outside chatvault.
  CHATVAULT_PROBLEM_KIND_SCHEMA = 8,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum chatvault_problem_kind chatvault_problem_kind;
#else
typedef uint32_t chatvault_problem_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// When commits are durable (`chatvault_store_options.durability`).
enum chatvault_durability
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Every commit is synced before it returns: an acknowledged write
  // survives a crash of the app and of the device. The default.
  CHATVAULT_DURABILITY_FULL = 0,
  // Commits survive a crash of the app; a power loss or OS crash may
  // roll back the last few. Faster on slow flash.
  CHATVAULT_DURABILITY_NORMAL = 1,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum chatvault_durability chatvault_durability;
#else
typedef uint32_t chatvault_durability;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// What a progress callback returns: go on, or stop the operation, which
// then fails with `CHATVAULT_STATUS_CANCELLED` (any value other than
// `CHATVAULT_PROGRESS_CONTINUE` stops it).
enum chatvault_progress
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  // Go on.
  CHATVAULT_PROGRESS_CONTINUE = 0,
  // Stop, cleanly: see each operation for what a stop leaves.
  CHATVAULT_PROGRESS_STOP = 1,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum chatvault_progress chatvault_progress;
#else
typedef int32_t chatvault_progress;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

// An attachment's content, open for reading any range: see
// `chatvault_attachment_open`. It owns everything it reads (its key, its
// file or bytes): it needs no store handle, and outlives a closed one. It
// may be used from several threads at once (reads are serialised).
typedef struct chatvault_attachment_reader chatvault_attachment_reader;

// An attachment being written. `chatvault_attachment_begin` makes one;
// `chatvault_attachment_finish` stores what was written and
// `chatvault_attachment_abort` drops it, and either frees the handle.
//
// It keeps its store open: `chatvault_store_close` refuses with
// `CHATVAULT_STATUS_STORE_IN_USE` while a writer made from that handle is
// open. A writer is meant for one thread at a time (calls from several are
// serialised, their bytes in the order the calls ran); it may move between
// threads.
typedef struct chatvault_attachment_writer chatvault_attachment_writer;

// An open store. Create one with `chatvault_store_create` or
// `chatvault_store_open`, close it with `chatvault_store_close`.
//
// A store handle may be used from several threads at once: writes are
// serialised inside the library and reads run in parallel. It must not be
// closed while another call on it is running, and cannot be while an
// attachment writer made from it is open (`CHATVAULT_STATUS_STORE_IN_USE`).
typedef struct chatvault_store chatvault_store;

// A store or archive key: `kind` is a `chatvault_key_kind`. A fixed
// layout (no `struct_size`): a new way to give a key is a new kind.
//
// The library copies the key into memory it wipes after use; wipe your
// own copy once the call returns.
typedef struct chatvault_key {
  // `CHATVAULT_KEY_KIND_RAW` or `CHATVAULT_KEY_KIND_PASSPHRASE`.
  uint32_t kind;
  // The 32 key bytes, or the passphrase's UTF-8 bytes.
  const uint8_t *bytes;
  // 32 for a raw key; the passphrase's length in bytes.
  size_t len;
} chatvault_key;

// Argon2id cost parameters, for a new passphrase (a store's or an
// archive's) or as a ceiling on what an archive may ask for. A new
// passphrase's must be at least 19 MiB, 2 passes, 1 lane, and at most 256
// MiB, 16 passes, 8 lanes, with memory times passes at most 512 MiB
// (`CHATVAULT_STATUS_INVALID_ARGUMENT` otherwise).
typedef struct chatvault_kdf_params {
  // `sizeof(chatvault_kdf_params)`.
  uint32_t struct_size;
  // KiB of memory.
  uint32_t memory_kib;
  // Passes.
  uint32_t iterations;
  // Lanes.
  uint32_t parallelism;
} chatvault_kdf_params;

// A store's clock: milliseconds since the Unix epoch.
typedef int64_t (*chatvault_clock_fn)(void *ctx);

// Settings for `chatvault_store_create_with` and `chatvault_store_open_with`.
// Start from `CHATVAULT_INIT(chatvault_store_options)`: every field 0 is
// the default.
typedef struct chatvault_store_options {
  // `sizeof(chatvault_store_options)`.
  uint32_t struct_size;
  // A `chatvault_durability`; `CHATVAULT_DURABILITY_FULL` (0) by default.
  uint32_t durability;
  // 1: wait at most `busy_timeout_ms` for another process's lock before
  // failing with `CHATVAULT_STATUS_BUSY`; 0: the default (5 seconds).
  uint8_t has_busy_timeout;
  // Milliseconds.
  uint64_t busy_timeout_ms;
  // 1: the database file never grows past `max_size_bytes` (rounded down
  // to whole 4 KiB pages): a write that would need more fails with
  // `CHATVAULT_STATUS_STORAGE_FULL` and changes nothing. 0: no limit.
  uint8_t has_max_size;
  // Bytes.
  uint64_t max_size_bytes;
  // 1: a passphrase store's header may ask for at most this much
  // Argon2id work at open (below the library's ceiling, which is the
  // default); a header asking for more fails with
  // `CHATVAULT_STATUS_KDF_TOO_COSTLY`. For memory-tight app extensions.
  uint8_t has_max_kdf;
  // KiB of memory.
  uint32_t max_kdf_memory_kib;
  // Passes.
  uint32_t max_kdf_iterations;
  // Lanes.
  uint32_t max_kdf_parallelism;
  // Create only: the Argon2id cost of a passphrase `key` (NULL: the
  // default, 19 MiB and 2 passes). Refused for a raw key, and by open
  // (a store's header holds its own).
  const struct chatvault_kdf_params *kdf;
  // A clock for the store's timestamps (message expiry, `created_at`
  // defaults, read marks), milliseconds since the Unix epoch; NULL: the
  // system clock. Called with `clock_ctx` from whichever thread a call
  // on the store runs on, possibly several at once: it must be
  // thread-safe, must not call chatvault, and `clock_ctx` must stay
  // valid until the store is closed.
  chatvault_clock_fn now_ms;
  // Passed to `now_ms`.
  void *clock_ctx;
} chatvault_store_options;

// UTF-8 text with an explicit length in bytes.
//
// As an input it need not be NUL-terminated; `ptr` may be NULL only when
// `len` is 0: the empty text, or "none" in fields documented as optional
// (NULL with a nonzero length is `CHATVAULT_STATUS_NULL_ARGUMENT`).
//
// As an output it is NUL-terminated (at `ptr[len]`) as well, but the text
// itself may contain NUL bytes: `len` is the truth. An optional output that
// is absent has `ptr` NULL.
typedef struct chatvault_str {
  // The first byte.
  const char *ptr;
  // The number of bytes, not counting any NUL terminator.
  size_t len;
} chatvault_str;

// Settings for `chatvault_store_rotate_master_key`; NULL for the defaults
// (run to the end).
typedef struct chatvault_rotate_options {
  // `sizeof(chatvault_rotate_options)`.
  uint32_t struct_size;
  // Stop after this many transactions (at least one runs); 0 for no limit.
  uint64_t max_transactions;
  // Stop starting new transactions after this many milliseconds; 0 for no limit.
  uint64_t time_budget_ms;
  // The Argon2id cost of a passphrase `key` (NULL: the default); refused
  // for a raw key.
  const struct chatvault_kdf_params *kdf;
} chatvault_rotate_options;

// What `chatvault_store_rotate_master_key` did.
typedef struct chatvault_rotation_report {
  // `sizeof(chatvault_rotation_report)`, set by the caller.
  uint32_t struct_size;
  // Conversations this call moved to a new master key (a rotation
  // resumed after an interruption counts only those it moved itself; a
  // conversation moved twice, by the rotation under way and then by the
  // one to `key`, counts twice).
  uint64_t conversations;
  // External-id index entries recomputed under the new key.
  uint64_t references;
  // Index entries of deleted or expired messages, which cannot be
  // recomputed: dropped, so a re-delivery of such a message is stored again.
  uint64_t references_dropped;
  // Write transactions it took.
  uint64_t transactions;
  // Conversations with a key, metadata or segment that did not open
  // (damage). They were moved as far as they could be, and never stop
  // the rotation; `chatvault_store_verify` says what is wrong.
  uint64_t conversations_damaged;
  // 1 if the rotation to `key` finished: the old master key is gone and
  // only `key` opens the store. 0 if a budget ran out first: call again
  // with the same `key` to continue.
  uint8_t finished;
  // 1 if `key` is now the store's key: the rotation to it began (or `key`
  // already was, resuming). 0 only if the call stopped before that
  // (a budget ran out while it finished a rotation to another key that
  // was under way): the store's key is unchanged, and `key` opens
  // nothing yet.
  uint8_t key_in_force;
} chatvault_rotation_report;

// Figures about a store, from plaintext columns only (nothing is decrypted).
typedef struct chatvault_stats {
  // `sizeof(chatvault_stats)`, set by the caller.
  uint32_t struct_size;
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

// Bytes with an explicit length; `ptr` may be NULL when `len` is 0.
typedef struct chatvault_bytes {
  // The first byte.
  const uint8_t *ptr;
  // The number of bytes.
  size_t len;
} chatvault_bytes;

// A conversation to create. Required: `struct_size` and `title` (fields
// from `app_data` on may be left out by a smaller `struct_size`).
typedef struct chatvault_new_conversation {
  // `sizeof(chatvault_new_conversation)`.
  uint32_t struct_size;
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
  // 1: created at `created_at_ms`; 0: now.
  uint8_t has_created_at;
  // Creation time in milliseconds since the Unix epoch.
  int64_t created_at_ms;
  // 1: disappearing messages: messages appended later expire
  // `retention_ms` milliseconds after they were sent. 0: they never do.
  uint8_t has_retention;
  // Milliseconds.
  uint64_t retention_ms;
} chatvault_new_conversation;

// A conversation's metadata. Owned by the list or `chatvault_conversation`
// allocation it came from.
typedef struct chatvault_conversation {
  // The library's `sizeof(chatvault_conversation)`.
  uint32_t struct_size;
  // Its id (never 0, never reused).
  uint64_t id;
  // The app's id for it; `ptr` NULL if none.
  struct chatvault_str external_id;
  // Its title.
  struct chatvault_str title;
  // `members_len` member texts.
  const struct chatvault_str *members;
  // How many members.
  size_t members_len;
  // Opaque app data.
  struct chatvault_bytes app_data;
  // Creation time, milliseconds since the Unix epoch.
  int64_t created_at_ms;
  // 1 if a message was marked read: the last one is `read_up_to_seq`.
  uint8_t has_read_up_to;
  // Its sequence number.
  uint64_t read_up_to_seq;
  // How many messages it holds (expired ones excluded).
  uint64_t message_count;
  // 1 if messages appended to it disappear `retention_ms` after they were sent.
  uint8_t has_retention;
  // Milliseconds.
  uint64_t retention_ms;
} chatvault_conversation;

// A message id: its conversation and its sequence number there (from 1).
// A fixed layout.
typedef struct chatvault_message_id {
  // The conversation's id.
  uint64_t conversation;
  // The message's sequence number in the conversation; 1 is the first.
  uint64_t seq;
} chatvault_message_id;

// A stored message. Owned by the page, conversation list, search page or
// `chatvault_message` allocation it came from.
typedef struct chatvault_message {
  // The library's `sizeof(chatvault_message)`: a field exists if it ends
  // within it.
  uint32_t struct_size;
  // Its id.
  struct chatvault_message_id id;
  // The server's or sender's id for it; `ptr` NULL if none.
  struct chatvault_str external_id;
  // Who sent it.
  struct chatvault_str sender;
  // Its text.
  struct chatvault_str text;
  // When it was sent, milliseconds since the Unix epoch.
  int64_t sent_at_ms;
  // 1 if its text was edited, last at `edited_at_ms`.
  uint8_t has_edited_at;
  // Milliseconds since the Unix epoch.
  int64_t edited_at_ms;
  // 1 if it disappears, at `expires_at_ms`.
  uint8_t has_expires_at;
  // Milliseconds since the Unix epoch.
  int64_t expires_at_ms;
  // 1 if it replies to message `reply_to_seq` of the same conversation.
  uint8_t has_reply_to;
  // The sequence number of the message it replies to.
  uint64_t reply_to_seq;
  // Opaque app data.
  struct chatvault_bytes extra;
} chatvault_message;

// A line of the conversation list.
typedef struct chatvault_conversation_summary {
  // The library's `sizeof(chatvault_conversation_summary)`.
  uint32_t struct_size;
  // The conversation (never NULL).
  const struct chatvault_conversation *conversation;
  // Its newest message; NULL if it has none.
  const struct chatvault_message *last_message;
  // Messages after the read marker (all of them if none was marked read).
  uint64_t unread_count;
} chatvault_conversation_summary;

// The conversation list, most recently active first. Free it with
// `chatvault_conversation_list_free`.
typedef struct chatvault_conversation_list {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` summaries (a valid pointer even when `len` is 0), at a stride
  // of `items[0].struct_size`.
  const struct chatvault_conversation_summary *items;
  // How many.
  size_t len;
} chatvault_conversation_list;

// Changes to a conversation: see `chatvault_conversation_update`. Each
// `has_*` (or `set_retention`) flag 1 changes its field; 0 leaves it as
// it is. Flags other than 0 and 1 are refused.
typedef struct chatvault_conversation_changes {
  // `sizeof(chatvault_conversation_changes)`.
  uint32_t struct_size;
  // 1: a new title.
  uint8_t has_title;
  // The title (UTF-8).
  struct chatvault_str title;
  // 1: a new member list.
  uint8_t has_members;
  // `members_len` member texts.
  const struct chatvault_str *members;
  // How many.
  size_t members_len;
  // 1: new app data.
  uint8_t has_app_data;
  // The app data.
  struct chatvault_bytes app_data;
  // 1: change the retention, to `retention_ms` if `has_retention` is 1,
  // or off (messages never disappear) if it is 0. It applies to messages
  // appended from then on.
  uint8_t set_retention;
  // See `set_retention`.
  uint8_t has_retention;
  // Milliseconds.
  uint64_t retention_ms;
} chatvault_conversation_changes;

// A message to append. Required: `struct_size`, `sender`, `text` and
// `sent_at_ms` (fields from `has_reply_to` on may be left out).
typedef struct chatvault_new_message {
  // `sizeof(chatvault_new_message)`.
  uint32_t struct_size;
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
  // 1: it replies to message `reply_to_seq` of the same conversation.
  uint8_t has_reply_to;
  // The sequence number of the message it replies to.
  uint64_t reply_to_seq;
  // Opaque app data (attachment references, reactions, ...).
  struct chatvault_bytes extra;
  // 1: it disappears at `expires_at_ms`; 0: never (unless the
  // conversation's retention says otherwise).
  uint8_t has_expires_at;
  // Milliseconds since the Unix epoch.
  int64_t expires_at_ms;
} chatvault_new_message;

// One entry of `chatvault_message_append_batch`; the array's stride is
// `entries[0].struct_size`, which every entry must repeat.
typedef struct chatvault_batch_entry {
  // `sizeof(chatvault_batch_entry)`.
  uint32_t struct_size;
  // The conversation to append to.
  uint64_t conversation;
  // The message (its own `struct_size` set).
  const struct chatvault_new_message *message;
} chatvault_batch_entry;

// A page of messages, oldest first. Free it with `chatvault_message_page_free`.
typedef struct chatvault_message_page {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` messages (a valid pointer even when `len` is 0), at a stride
  // of `items[0].struct_size` (`CHATVAULT_ITEM`).
  const struct chatvault_message *items;
  // How many.
  size_t len;
} chatvault_message_page;

// Settings for `chatvault_store_compact`; pass NULL for the defaults (run
// to completion, default segment targets). Every field 0 is its default.
typedef struct chatvault_compact_options {
  // `sizeof(chatvault_compact_options)`.
  uint32_t struct_size;
  // Stop starting new transactions after this many milliseconds; 0 for no limit.
  uint64_t time_budget_ms;
  // Stop after rewriting about this many segments; 0 for no limit.
  uint64_t segment_budget;
  // Largest number of messages in a segment compaction writes, at most
  // 65536; 0 for the default (64). Smaller segments leak less through
  // their compressed length (SECURITY.md), at some cost in size.
  uint64_t target_messages;
  // Largest plaintext, in bytes before compression, of a segment
  // compaction writes, at most 1 MiB; 0 for the default (32 KiB).
  uint64_t target_bytes;
} chatvault_compact_options;

// Where a compaction is.
typedef struct chatvault_compact_progress {
  // The library's size of this struct.
  uint32_t struct_size;
  // Conversations finished so far.
  uint64_t conversations_done;
  // Conversations that had work when compaction started.
  uint64_t conversations_total;
  // Existing segments rewritten so far.
  uint64_t segments_rewritten;
} chatvault_compact_progress;

// Called after each compaction transaction commits, on the thread that
// called `chatvault_store_compact`, with the `user_data` given to it. The
// progress is valid only during the call. Return
// `CHATVAULT_PROGRESS_CONTINUE` (0) to go on, anything else to stop after
// the current transaction: the compaction then fails with
// `CHATVAULT_STATUS_CANCELLED`, keeping the transactions committed so far
// (the store is valid; call it again to go on). It must not call
// chatvault functions on the same store.
typedef int32_t (*chatvault_compact_progress_fn)(void *user_data,
                                                 const struct chatvault_compact_progress *progress);

// What `chatvault_store_compact` did.
typedef struct chatvault_compact_report {
  // `sizeof(chatvault_compact_report)`, set by the caller.
  uint32_t struct_size;
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
  // 1 if a budget ran out: call again to continue.
  uint8_t work_remains;
  // Attachments of expired messages removed, their files included.
  uint64_t attachments_expired;
  // Attachment files no attachment named (left by a crash while one was
  // written) removed.
  uint64_t orphan_files_removed;
} chatvault_compact_report;

// One problem `chatvault_store_verify` found.
typedef struct chatvault_problem {
  // The library's size of this struct.
  uint32_t struct_size;
  // A `chatvault_problem_kind`.
  uint32_t kind;
  // 1 if it is in conversation `conversation`.
  uint8_t has_conversation;
  // The conversation.
  uint64_t conversation;
  // 1 if it concerns sequence numbers `first_seq` to `last_seq`. For a
  // problem with an attachment (`detail` names it), `first_seq` is the
  // attachment's id and `last_seq` its message's sequence number.
  uint8_t has_seqs;
  // See `has_seqs`.
  uint64_t first_seq;
  // See `has_seqs`.
  uint64_t last_seq;
  // 1 if it concerns key epoch `epoch`.
  uint8_t has_epoch;
  // The key epoch.
  uint32_t epoch;
  // A description, without any secret or message content.
  struct chatvault_str detail;
} chatvault_problem;

// What `chatvault_store_verify` found. Free it with `chatvault_verify_report_free`.
typedef struct chatvault_verify_report {
  // The library's size of this struct.
  uint32_t struct_size;
  // Conversations checked.
  uint64_t conversations;
  // Segments checked.
  uint64_t segments;
  // Messages in the segments checked.
  uint64_t messages;
  // `problems_len` problems, in the order found, at a stride of
  // `problems[0].struct_size`; none means the store is sound.
  const struct chatvault_problem *problems;
  // How many problems.
  size_t problems_len;
  // Attachments checked (every chunk of each authenticated).
  uint64_t attachments;
} chatvault_verify_report;

// How far an export, import or inspection has got.
typedef struct chatvault_archive_progress {
  // The library's size of this struct.
  uint32_t struct_size;
  // Archive bytes written or read so far.
  uint64_t bytes;
  // Conversations written or read so far.
  uint64_t conversations;
  // Messages written or read so far.
  uint64_t messages;
  // Conversations in the whole archive.
  uint64_t total_conversations;
  // Messages in the whole archive.
  uint64_t total_messages;
} chatvault_archive_progress;

// Called at the start, about every 64 KiB, and at the end of an export,
// import or inspection, on the calling thread, with the `user_data` given
// to it. The progress is valid only during the call. Return
// `CHATVAULT_PROGRESS_CONTINUE` (0) to go on, anything else to stop: the
// call then fails with `CHATVAULT_STATUS_CANCELLED`, having imported
// nothing, or left no archive file. (An import's last call comes after it
// committed: its answer is ignored.) It must not call chatvault functions
// on the same store.
typedef int32_t (*chatvault_archive_progress_fn)(void *user_data,
                                                 const struct chatvault_archive_progress *progress);

// What `chatvault_store_export` wrote.
typedef struct chatvault_export_report {
  // `sizeof(chatvault_export_report)`, set by the caller.
  uint32_t struct_size;
  // Conversations in the archive.
  uint64_t conversations;
  // Messages in the archive (expired ones are left out).
  uint64_t messages;
  // The archive's size in bytes.
  uint64_t bytes;
  // Attachments in the archive (those of expired messages left out;
  // removed ones as metadata only).
  uint64_t attachments;
} chatvault_export_report;

// How `chatvault_store_export_with` writes an archive. Every field 0 is
// its default.
typedef struct chatvault_export_options {
  // `sizeof(chatvault_export_options)`.
  uint32_t struct_size;
  // The Argon2id cost of a passphrase `archive_key` (NULL: the default);
  // refused for a raw key.
  const struct chatvault_kdf_params *kdf;
  // The body's chunk size in bytes: a power of two from 1024 to 1048576;
  // 0 for the default (65536). Smaller chunks cost 16 bytes of tag each.
  uint64_t chunk_size;
} chatvault_export_options;

// What `chatvault_store_import` did.
typedef struct chatvault_import_report {
  // `sizeof(chatvault_import_report)`, set by the caller.
  uint32_t struct_size;
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
  // Attachments added.
  uint64_t attachments_added;
  // Attachments the store had already, or whose message was not added.
  uint64_t attachments_skipped;
} chatvault_import_report;

// How `chatvault_store_import_with` and `chatvault_archive_inspect_with`
// read an archive. Every field 0 is its default.
typedef struct chatvault_import_options {
  // `sizeof(chatvault_import_options)`.
  uint32_t struct_size;
  // The most Argon2id work the archive's header may ask for (NULL: the
  // library's ceiling); a header asking for more fails with
  // `CHATVAULT_STATUS_KDF_TOO_COSTLY` before any key derivation.
  const struct chatvault_kdf_params *max_kdf;
} chatvault_import_options;

// One conversation of an archive: see `chatvault_archive_inspect`.
typedef struct chatvault_archived_conversation {
  // The library's size of this struct.
  uint32_t struct_size;
  // The app's id for it; `ptr` NULL if none.
  struct chatvault_str external_id;
  // Its title.
  struct chatvault_str title;
  // How many messages the archive holds for it.
  uint64_t messages;
  // 1 if it holds messages, sent from `first_sent_ms` to `last_sent_ms`.
  uint8_t has_sent_between;
  // The earliest `sent_at_ms`.
  int64_t first_sent_ms;
  // The latest `sent_at_ms`.
  int64_t last_sent_ms;
  // How many attachments the archive holds for it.
  uint64_t attachments;
} chatvault_archived_conversation;

// What an archive holds: see `chatvault_archive_inspect`. Free it with
// `chatvault_archive_summary_free`.
typedef struct chatvault_archive_summary {
  // The library's size of this struct.
  uint32_t struct_size;
  // The archive format version.
  uint32_t version;
  // A `chatvault_key_kind`: what protects it.
  uint32_t key_kind;
  // The chatvault version that wrote it.
  struct chatvault_str chatvault_version;
  // When it was written, by the writer's clock (ms since the Unix epoch).
  int64_t exported_at_ms;
  // `conversations_len` conversations, in archive order, at a stride of
  // `conversations[0].struct_size`.
  const struct chatvault_archived_conversation *conversations;
  // How many.
  size_t conversations_len;
  // Messages in all.
  uint64_t messages;
  // Attachments in all.
  uint64_t attachments;
  // Bytes of attachment content.
  uint64_t attachment_bytes;
  // Its size in bytes.
  uint64_t bytes;
} chatvault_archive_summary;

// The time zone at the instant `ms` (milliseconds since the Unix epoch):
// write its offset in seconds east of UTC to `*offset_seconds` (within ±24
// hours; larger ones are clamped), and its name (UTF-8, e.g. "CEST"), at
// most `name_cap` bytes, to `name`, and its length to `*name_len` (0, or
// a name too long or not UTF-8, shows the offset alone). Both outputs
// start at 0. It must not call chatvault.
typedef void (*chatvault_zone_fn)(void *ctx,
                                  int64_t ms,
                                  int32_t *offset_seconds,
                                  char *name,
                                  size_t name_cap,
                                  size_t *name_len);

// How an HTML export is written: see `chatvault_store_export_html_with`.
// Every field 0 is its default (times in UTC, nobody's messages shown as
// one's own, 5000 messages a page, no existing page replaced).
typedef struct chatvault_html_options {
  // `sizeof(chatvault_html_options)`.
  uint32_t struct_size;
  // Messages whose sender is exactly this are shown as the user's own;
  // `{NULL, 0}` for none.
  struct chatvault_str me;
  // A conversation of more messages than this is split into pages of
  // this many; 0 for the default (5000).
  uint64_t messages_per_page;
  // 1: show times at `zone_offset_seconds` east of UTC, named
  // `zone_name` (e.g. "CET"; `{NULL, 0}` to show the offset alone); 0:
  // in UTC. One offset for the whole export: the library has no
  // time-zone database.
  uint8_t has_zone;
  // Seconds east of UTC (west negative), within ±24 hours.
  int32_t zone_offset_seconds;
  // The zone's name.
  struct chatvault_str zone_name;
  // 1: a file already where a page or the index goes is replaced; 0: the
  // export fails before writing anything. An existing attachment
  // directory is never replaced.
  uint8_t replace_existing;
  // The zone at each instant (NULL: `has_zone`'s fixed offset, or UTC),
  // so that an offset that changes (summer time) is followed; set
  // either this or `has_zone`, not both. Called with `zone_ctx` on the
  // calling thread during the export.
  chatvault_zone_fn zone;
  // Passed to `zone`.
  void *zone_ctx;
} chatvault_html_options;

// What an HTML export to files wrote.
typedef struct chatvault_html_report {
  // `sizeof(chatvault_html_report)`, set by the caller.
  uint32_t struct_size;
  // Conversations exported.
  uint64_t conversations;
  // Messages exported.
  uint64_t messages;
  // Pages written (the index not counted).
  uint64_t pages;
  // 1 if an index page was written.
  uint8_t has_index;
  // Attachment directories made.
  uint64_t attachment_dirs;
} chatvault_html_report;

// Where a page of search hits ended: the last hit's send time and id.
// Hits are ordered by (send time, conversation, sequence number), newest
// first. A fixed layout.
typedef struct chatvault_search_cursor {
  // The last hit's `sent_at_ms`.
  int64_t sent_at_ms;
  // The last hit's id.
  struct chatvault_message_id message;
} chatvault_search_cursor;

// A search: see `chatvault_search`. Required: `struct_size` and `text`.
typedef struct chatvault_search_query {
  // `sizeof(chatvault_search_query)`.
  uint32_t struct_size;
  // The words to find (UTF-8).
  struct chatvault_str text;
  // 1: only conversation `conversation`; 0: the whole store.
  uint8_t has_conversation;
  // The conversation.
  uint64_t conversation;
  // Only messages from this sender (exact); `{NULL, 0}` for any.
  struct chatvault_str sender;
  // 1: only messages sent at or after `from_ms` (ms since the Unix epoch).
  uint8_t has_from;
  // See `has_from`.
  int64_t from_ms;
  // 1: only messages sent before `until_ms`.
  uint8_t has_until;
  // See `has_until`.
  int64_t until_ms;
  // At most this many hits; 0 for 50.
  size_t limit;
  // 1: the page after `after` (the previous page's `next`); 0: the first page.
  uint8_t has_after;
  // See `has_after`.
  struct chatvault_search_cursor after;
} chatvault_search_query;

// A byte range `[start, end)` of a hit's text that matched. A fixed layout.
typedef struct chatvault_match_range {
  // The first byte.
  size_t start;
  // One past the last byte.
  size_t end;
} chatvault_match_range;

// One message that matched. Owned by its page.
typedef struct chatvault_search_hit {
  // The library's size of this struct.
  uint32_t struct_size;
  // The message.
  const struct chatvault_message *message;
  // `ranges_len` ranges of `message->text`, sorted and disjoint.
  const struct chatvault_match_range *ranges;
  // How many.
  size_t ranges_len;
} chatvault_search_hit;

// A page of search hits, newest first. Free it with
// `chatvault_search_page_free`.
typedef struct chatvault_search_page {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` hits (a valid pointer even when `len` is 0), at a stride of
  // `items[0].struct_size`.
  const struct chatvault_search_hit *items;
  // How many.
  size_t len;
  // 1 if there may be a next page: pass `next` as the next query's
  // `after` (with `has_after` 1).
  uint8_t has_next;
  // See `has_next`.
  struct chatvault_search_cursor next;
  // Segments the search opened whole because the store was upgraded and
  // `chatvault_index_for_search` has not reached them yet (the results
  // are complete, the search slower).
  uint64_t unindexed_segments;
} chatvault_search_page;

// The byte ranges of a text that matched a query, from
// `chatvault_search_matches`. Free it with `chatvault_match_list_free`.
typedef struct chatvault_match_list {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` ranges of the text, sorted and disjoint (a valid pointer even
  // when `len` is 0).
  const struct chatvault_match_range *ranges;
  // How many.
  size_t len;
} chatvault_match_list;

// What `chatvault_index_for_search` did.
typedef struct chatvault_index_report {
  // `sizeof(chatvault_index_report)`, set by the caller.
  uint32_t struct_size;
  // Segments given a search filter by this call.
  uint64_t segments_indexed;
  // Segments still without one (0: the index is complete).
  uint64_t segments_remaining;
  // Segments that could not be read (damaged: `chatvault_store_verify`
  // reports them), skipped.
  uint64_t segments_skipped;
} chatvault_index_report;

// An attachment to write: see `chatvault_attachment_begin`. Required:
// `struct_size` and `media_type`.
typedef struct chatvault_new_attachment {
  // `sizeof(chatvault_new_attachment)`.
  uint32_t struct_size;
  // Its media type, e.g. "image/jpeg" (the gallery and the storage
  // manager select by its prefix, e.g. "image/").
  struct chatvault_str media_type;
  // Optional: the file name the user sees (`{NULL, 0}` for none).
  struct chatvault_str file_name;
  // Opaque app data, sealed with it: dimensions, duration, a blurhash.
  struct chatvault_bytes app_data;
} chatvault_new_attachment;

// A stored attachment's metadata. Owned by the list or
// `chatvault_attachment` allocation it came from.
typedef struct chatvault_attachment {
  // The library's size of this struct.
  uint32_t struct_size;
  // Its id (never 0, never reused).
  uint64_t id;
  // The message it belongs to.
  struct chatvault_message_id message;
  // Its media type.
  struct chatvault_str media_type;
  // Its file name; `ptr` NULL if it was given none.
  struct chatvault_str file_name;
  // Its content's length in bytes (what it was, if the content was removed).
  uint64_t byte_len;
  // Opaque app data.
  struct chatvault_bytes app_data;
  // When it was written, milliseconds since the Unix epoch.
  int64_t created_at_ms;
  // 1 if `chatvault_clear_attachments` removed its content, at
  // `removed_at_ms`. Removed content cannot be opened
  // (`CHATVAULT_STATUS_NOT_FOUND`); the metadata stays so the message
  // can show what was there.
  uint8_t has_removed_at;
  // Milliseconds since the Unix epoch.
  int64_t removed_at_ms;
} chatvault_attachment;

// Attachments: a message's, or a page of a conversation's gallery. Free it
// with `chatvault_attachment_list_free`.
typedef struct chatvault_attachment_list {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` attachments (a valid pointer even when `len` is 0), at a
  // stride of `items[0].struct_size`.
  const struct chatvault_attachment *items;
  // How many.
  size_t len;
} chatvault_attachment_list;

// Which attachments `chatvault_clear_attachments` removes the content of:
// every condition whose `has_*` flag is 1 must hold; a flag of 0 ignores
// its value. Flags other than 0 and 1 are refused. All flags 0 matches
// every attachment in the store.
typedef struct chatvault_attachment_filter {
  // `sizeof(chatvault_attachment_filter)`.
  uint32_t struct_size;
  // 1: only in conversation `conversation`.
  uint8_t has_conversation;
  // The conversation.
  uint64_t conversation;
  // 1: only media types starting with `media_type_prefix` ("image/", "video/").
  uint8_t has_media_type_prefix;
  // The prefix (UTF-8).
  struct chatvault_str media_type_prefix;
  // 1: only attachments written before `created_before_ms`.
  uint8_t has_created_before;
  // Milliseconds since the Unix epoch.
  int64_t created_before_ms;
  // 1: only attachments of at least `min_bytes` bytes.
  uint8_t has_min_bytes;
  // The smallest length, in bytes of content.
  uint64_t min_bytes;
} chatvault_attachment_filter;

// What `chatvault_clear_attachments` removed.
typedef struct chatvault_clear_report {
  // `sizeof(chatvault_clear_report)`, set by the caller.
  uint32_t struct_size;
  // Attachments whose content was removed.
  uint64_t attachments;
  // Bytes of stored content removed.
  uint64_t bytes;
} chatvault_clear_report;

// What one conversation takes on disk.
typedef struct chatvault_conversation_usage {
  // The library's size of this struct.
  uint32_t struct_size;
  // The conversation.
  uint64_t conversation;
  // Sealed bytes of its messages, search filters and metadata.
  uint64_t text_bytes;
  // Stored bytes of its attachments' content.
  uint64_t attachment_bytes;
  // Its attachments (those whose content was removed included).
  uint64_t attachments;
} chatvault_conversation_usage;

// What each conversation takes on disk, largest first. Free it with
// `chatvault_storage_usage_free`.
typedef struct chatvault_storage_usage_list {
  // The library's size of this struct.
  uint32_t struct_size;
  // `len` conversations (a valid pointer even when `len` is 0), at a
  // stride of `items[0].struct_size`.
  const struct chatvault_conversation_usage *items;
  // How many.
  size_t len;
} chatvault_storage_usage_list;

// A text the library made (JSON, a time, a file name): free it with
// `chatvault_text_free`. Its bytes are wiped when freed.
typedef struct chatvault_text {
  // The library's size of this struct.
  uint32_t struct_size;
  // The text: UTF-8, NUL-terminated.
  struct chatvault_str text;
} chatvault_text;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// The message of the most recent call on this thread that failed: UTF-8,
// NUL-terminated, never NULL (empty if no call on this thread has failed).
// It names no key, passphrase or message text.
//
// The library owns the string: do not free it. It stays valid until the
// next chatvault call on this thread that fails, or until the thread ends;
// copy it to keep it.
const char *chatvault_last_error_message(void);

// The name of a status code, e.g. "CHATVAULT_STATUS_WRONG_KEY", for logs:
// a static NUL-terminated string that must not be freed.
// "CHATVAULT_STATUS_UNKNOWN" for a number this version does not know.
const char *chatvault_status_name(uint32_t status);

// The library's version, e.g. "0.1.0": a static NUL-terminated string that
// must not be freed.
const char *chatvault_version(void);

// Creates a new, empty store at `path` (UTF-8, `path_len` bytes), protected
// by `key`, and writes its handle to `*out`.
//
// Fails with `CHATVAULT_STATUS_ALREADY_EXISTS` if a file is at `path`.
//
// # Safety
// `path` is valid for `path_len` bytes; `key` and `out` are NULL or valid.
chatvault_status chatvault_store_create(const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *key,
                                        struct chatvault_store **out);

// `chatvault_store_create` with `options` (durability, busy timeout,
// size limit, Argon2id ceiling); NULL is the defaults.
//
// # Safety
// `path` is valid for `path_len` bytes; `key`, `options` and `out` are
// NULL or valid.
chatvault_status chatvault_store_create_with(const char *path,
                                             size_t path_len,
                                             const struct chatvault_key *key,
                                             const struct chatvault_store_options *options,
                                             struct chatvault_store **out);

// Opens the store at `path` (UTF-8, `path_len` bytes) with `key`, and
// writes its handle to `*out`.
//
// Fails with `CHATVAULT_STATUS_WRONG_KEY` if the key does not open it and
// `CHATVAULT_STATUS_NO_SUCH_STORE` if there is none.
//
// # Safety
// `path` is valid for `path_len` bytes; `key` and `out` are NULL or valid.
chatvault_status chatvault_store_open(const char *path,
                                      size_t path_len,
                                      const struct chatvault_key *key,
                                      struct chatvault_store **out);

// `chatvault_store_open` with `options` (durability, busy timeout, size
// limit, Argon2id ceiling: they hold for this handle only); NULL is the
// defaults.
//
// # Safety
// `path` is valid for `path_len` bytes; `key`, `options` and `out` are
// NULL or valid.
chatvault_status chatvault_store_open_with(const char *path,
                                           size_t path_len,
                                           const struct chatvault_key *key,
                                           const struct chatvault_store_options *options,
                                           struct chatvault_store **out);

// Writes the path the store was opened at (UTF-8, as given to create or
// open) to `*out`: NUL-terminated, owned by the handle and valid until it
// is closed.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_store_path(const struct chatvault_store *store,
                                      struct chatvault_str *out);

// Closes a store: checkpoints and removes its write-ahead log, and frees
// the handle, which must not be used again, whatever the status, with one
// exception: while attachment writers made from the handle are open
// (`chatvault_attachment_begin`), it fails with
// `CHATVAULT_STATUS_STORE_IN_USE`, closes nothing, and the handle stays
// valid: finish or abort the writers, then close it. (Attachment readers
// need no handle: they may stay open.) Like `free`, it accepts NULL (and
// returns `CHATVAULT_STATUS_OK`).
//
// # Safety
// `store` is NULL or a handle from create or open that no other thread is
// using, not yet closed.
chatvault_status chatvault_store_close(struct chatvault_store *store);

// Protects the store with a new key or passphrase. The old wrapping of the
// master key is scrubbed from the file and the write-ahead log.
//
// This does not revoke the old key: the master key stays the same, so
// whoever has the old key and a copy of the file made before can still
// read it. If a key or passphrase leaked, use
// `chatvault_store_rotate_master_key` instead.
//
// # Safety
// `store` and `key` are NULL or valid.
chatvault_status chatvault_store_change_key(const struct chatvault_store *store,
                                            const struct chatvault_key *key);

// `chatvault_store_change_key` with the Argon2id cost of a new passphrase
// (`kdf`; NULL is the default, as `chatvault_store_change_key`). A `kdf`
// with a raw key, or outside the bounds `chatvault_kdf_params` states,
// fails with `CHATVAULT_STATUS_INVALID_ARGUMENT` and changes nothing.
//
// # Safety
// `store`, `key` and `kdf` are NULL or valid.
chatvault_status chatvault_store_change_key_with(const struct chatvault_store *store,
                                                 const struct chatvault_key *key,
                                                 const struct chatvault_kdf_params *kdf);

// Rotates the master key, for when the store's key or passphrase leaked:
// afterwards the old key, with any copy of the file's header, opens
// nothing written or rewrapped since. It draws a new master key, rewraps
// every conversation key under it, starts a new key epoch in every
// conversation, recomputes the keyed hashes of external ids, and seals the
// new master key under `key`, the new root key. Revoking a leaked key
// takes two more calls, both required: `chatvault_store_compact`, which
// reseals older messages under the new epochs and destroys the old
// conversation keys, then `chatvault_store_vacuum`, which removes the
// pieces of values sealed under those old keys that compaction leaves in
// the file's free space (someone who copied the file before holds those
// keys). Copies of the file made before stay readable with the old key:
// nothing can reach those.
//
// Its first transaction makes `key` the ONLY key that opens the store,
// even if the rotation goes no further: from then on the old key gives
// `CHATVAULT_STATUS_WRONG_KEY`. So keep `key` (in the Keychain or
// Keystore, as a pending key) BEFORE calling, and make it the current key
// as soon as the call returns, finished or not. If the app is killed
// during the first call, try the current key at the next launch, then the
// pending one.
//
// It runs in many short transactions, so other calls on the store go on
// meanwhile. `options` (NULL: run to the end) may stop it after
// `max_transactions` transactions (at least one runs) or `time_budget_ms`.
// Writes what it did to `*out`. While
// `out->finished` is 0, the rotation is under way: open the store with
// `key` and call this again with the SAME `key` to continue. A call with
// another key while a rotation is under way first finishes that rotation
// under the store's current key, then rotates again to the key given
// (`out->finished` is about that last rotation); if a budget runs out
// before the second rotation begins, the key given does not open the
// store yet (`out->key_in_force` is 0).
//
// `CHATVAULT_STATUS_SCRUB_INCOMPLETE` means a rotation finished but the
// old wrapping could not be scrubbed from the write-ahead log yet: call
// `chatvault_store_scrub` later. Called with the key of the rotation under
// way (or with none under way), that rotation is the one to `key`, which
// alone opens the store now.
//
// Other handles on the same store that were opened with the old key fail
// with `CHATVAULT_STATUS_MASTER_KEY_ROTATED` once they need a conversation
// key the rotation moved: close them and open the store again with `key`.
//
// # Safety
// `store`, `key`, `options` and `out` are NULL or valid; `out->struct_size` is set.
chatvault_status chatvault_store_rotate_master_key(const struct chatvault_store *store,
                                                   const struct chatvault_key *key,
                                                   const struct chatvault_rotate_options *options,
                                                   struct chatvault_rotation_report *out);

// Removes every trace of deleted data from the file and the write-ahead
// log. Deleting calls already do this; call it after one of them returned
// `CHATVAULT_STATUS_SCRUB_INCOMPLETE`.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_store_scrub(const struct chatvault_store *store);

// Rewrites the whole database file from its live rows (SQLite's
// `VACUUM`), then scrubs: afterwards no piece of anything deleted survives
// in the file or the write-ahead log, including the leftovers that SQLite
// leaves in the free space of pages it rearranges. Deleting a conversation
// already destroys its key; this also removes pieces of deleted or edited
// messages in conversations that still exist.
//
// It reads and writes the whole file and needs free disk space and memory
// about the size of the file; other writes wait until it is done. Run it
// in a maintenance window: after deleting what must not be recoverable,
// and after the compaction that follows a master-key rotation, where it is
// a required step of revoking a leaked key (see
// `chatvault_store_rotate_master_key`).
// `CHATVAULT_STATUS_SCRUB_INCOMPLETE` means the file was rewritten but the
// write-ahead log not yet emptied: call `chatvault_store_scrub` later.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_store_vacuum(const struct chatvault_store *store);

// Writes figures about the store to `*out`, from plaintext columns (and
// the attachment directory's listing) only.
//
// # Safety
// `store` and `out` are NULL or valid; `out->struct_size` is set.
chatvault_status chatvault_store_stats(const struct chatvault_store *store,
                                       struct chatvault_stats *out);

// Creates a conversation with a fresh key and writes its id to `*out_id`.
//
// Fails with `CHATVAULT_STATUS_CONVERSATION_EXISTS` if one has the same
// external id (find it with `chatvault_conversation_find`).
//
// # Safety
// `store`, `conversation` and `out_id` are NULL or valid; every pointer in
// `conversation` is NULL or valid for its length.
chatvault_status chatvault_conversation_create(const struct chatvault_store *store,
                                               const struct chatvault_new_conversation *conversation,
                                               uint64_t *out_id);

// Finds the conversation with the app's `external_id` (UTF-8,
// `external_id_len` bytes) and writes its id to `*out_id`;
// `CHATVAULT_STATUS_NOT_FOUND` if there is none.
//
// # Safety
// `external_id` is valid for `external_id_len` bytes; `store` and `out_id`
// are NULL or valid.
chatvault_status chatvault_conversation_find(const struct chatvault_store *store,
                                             const char *external_id,
                                             size_t external_id_len,
                                             uint64_t *out_id);

// Writes conversation `id`'s metadata to `*out`; free it with
// `chatvault_conversation_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_conversation_get(const struct chatvault_store *store,
                                            uint64_t id,
                                            struct chatvault_conversation **out);

// Frees what `chatvault_conversation_get` returned; NULL does nothing.
//
// # Safety
// `conversation` is NULL or came from `chatvault_conversation_get`, and is
// not used again.
void chatvault_conversation_free(struct chatvault_conversation *conversation);

// Writes the conversation list to `*out`: the `limit` most recently active
// conversations (all of them if `limit` is 0), each with its newest
// message and unread count. Free it with `chatvault_conversation_list_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_conversation_list_get(const struct chatvault_store *store,
                                                 size_t limit,
                                                 struct chatvault_conversation_list **out);

// Frees what `chatvault_conversation_list_get` returned; NULL does nothing.
//
// # Safety
// `list` is NULL or came from `chatvault_conversation_list_get`, and is not
// used again.
void chatvault_conversation_list_free(struct chatvault_conversation_list *list);

// Changes a conversation's title, members, app data or retention (each
// `has_*` flag of `update` says whether to change its field), in one
// transaction. A new retention applies to messages appended from then on.
//
// # Safety
// `store` and `update` are NULL or valid; every pointer in `update` is
// NULL or valid for its length.
chatvault_status chatvault_conversation_update(const struct chatvault_store *store,
                                               uint64_t id,
                                               const struct chatvault_conversation_changes *update);

// Starts a new key epoch in conversation `id`: messages appended from now
// on are sealed under a fresh key, and the next compaction reseals older
// ones and destroys the old keys (SECURITY.md). Writes the new epoch to
// `*out_epoch`.
//
// # Safety
// `store` and `out_epoch` are NULL or valid.
chatvault_status chatvault_conversation_rotate_key(const struct chatvault_store *store,
                                                   uint64_t id,
                                                   uint32_t *out_epoch);

// `chatvault_conversation_rotate_key` for every conversation, in one
// transaction; writes how many were rotated to `*out_count`.
//
// # Safety
// `store` and `out_count` are NULL or valid.
chatvault_status chatvault_store_rotate_all_keys(const struct chatvault_store *store,
                                                 uint64_t *out_count);

// Deletes a conversation: its key is destroyed and its messages are
// scrubbed from the file and the write-ahead log before this returns.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_conversation_delete(const struct chatvault_store *store, uint64_t id);

// Appends a message to conversation `conversation` and writes its id to
// `*out_id`. If the message's external id is already in the conversation,
// writes that message's id and stores nothing.
//
// # Safety
// `store`, `message` and `out_id` are NULL or valid; every pointer in
// `message` is NULL or valid for its length.
chatvault_status chatvault_message_append(const struct chatvault_store *store,
                                          uint64_t conversation,
                                          const struct chatvault_new_message *message,
                                          struct chatvault_message_id *out_id);

// Appends `len` messages, to any conversations, in one transaction: all or
// none are stored. Writes their ids, in input order, to `out_ids`, which
// has room for `len`.
//
// # Safety
// `entries` is valid for `len` entries (every pointer in them NULL or
// valid for its length) and `out_ids` for `len` ids; `store` is NULL or valid.
chatvault_status chatvault_message_append_batch(const struct chatvault_store *store,
                                                const struct chatvault_batch_entry *entries,
                                                size_t len,
                                                struct chatvault_message_id *out_ids);

// Writes the newest `limit` messages of `conversation`, oldest first, to
// `*out`; free the page with `chatvault_message_page_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_page_latest(const struct chatvault_store *store,
                                               uint64_t conversation,
                                               size_t limit,
                                               struct chatvault_message_page **out);

// Writes the oldest `limit` messages of `conversation` to `*out`; free the
// page with `chatvault_message_page_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_page_oldest(const struct chatvault_store *store,
                                               uint64_t conversation,
                                               size_t limit,
                                               struct chatvault_message_page **out);

// Writes up to `limit` messages just before `before` (which need not still
// exist), oldest first, to `*out`; free the page with
// `chatvault_message_page_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_page_before(const struct chatvault_store *store,
                                               struct chatvault_message_id before,
                                               size_t limit,
                                               struct chatvault_message_page **out);

// Writes up to `limit` messages just after `after` (which need not still
// exist), oldest first, to `*out`; free the page with
// `chatvault_message_page_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_page_after(const struct chatvault_store *store,
                                              struct chatvault_message_id after,
                                              size_t limit,
                                              struct chatvault_message_page **out);

// Frees a page; NULL does nothing. Its messages must not be used afterwards.
//
// # Safety
// `page` is NULL or came from a `chatvault_message_page_*` function, and is
// not used again.
void chatvault_message_page_free(struct chatvault_message_page *page);

// Writes message `id` to `*out`; free it with `chatvault_message_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_get(const struct chatvault_store *store,
                                       struct chatvault_message_id id,
                                       struct chatvault_message **out);

// Frees what `chatvault_message_get` returned; NULL does nothing. Never
// pass it a message inside a page or a conversation list.
//
// # Safety
// `message` is NULL or came from `chatvault_message_get`, and is not used again.
void chatvault_message_free(struct chatvault_message *message);

// Replaces a message's text (UTF-8, `text_len` bytes) and stamps it edited.
// The old text is scrubbed from the file and the write-ahead log.
//
// # Safety
// `text` is valid for `text_len` bytes (or NULL when it is 0); `store` is
// NULL or valid.
chatvault_status chatvault_message_edit(const struct chatvault_store *store,
                                        struct chatvault_message_id id,
                                        const char *text,
                                        size_t text_len);

// Deletes a message; its content is scrubbed from the file and the
// write-ahead log before this returns.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_message_delete(const struct chatvault_store *store,
                                          struct chatvault_message_id id);

// Edits `count` messages in one transaction with one scrub: message
// `ids[i]` gets text `texts[i]` (UTF-8). All change or none: a missing or
// expired message fails the call with `CHATVAULT_STATUS_NOT_FOUND`, a
// message named twice with `CHATVAULT_STATUS_INVALID_ARGUMENT`, a text
// that would make its message too large with `CHATVAULT_STATUS_TOO_LARGE`,
// and nothing is edited.
// The old texts are scrubbed from the file and the write-ahead log before
// this returns.
//
// # Safety
// `ids` and `texts` are NULL (only when `count` is 0) or valid for `count`
// elements, each text valid for its length; `store` is NULL or valid.
chatvault_status chatvault_messages_edit(const struct chatvault_store *store,
                                         const struct chatvault_message_id *ids,
                                         const struct chatvault_str *texts,
                                         size_t count);

// Deletes `count` messages in one transaction with one scrub: all or none
// (a missing or expired message fails the call with
// `CHATVAULT_STATUS_NOT_FOUND` and deletes nothing); a message named twice
// is deleted once. Their content
// is scrubbed from the file and the write-ahead log before this returns.
//
// # Safety
// `ids` is NULL (only when `count` is 0) or valid for `count` elements;
// `store` is NULL or valid.
chatvault_status chatvault_messages_delete(const struct chatvault_store *store,
                                           const struct chatvault_message_id *ids,
                                           size_t count);

// Marks message `id`, and every earlier one in its conversation, read.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_message_mark_read(const struct chatvault_store *store,
                                             struct chatvault_message_id id);

// Compacts the store: merges and compresses segments, drops expired
// messages and their attachments, reseals old key epochs and destroys
// their keys, removes attachment files no attachment names, then scrubs.
// `options` may be NULL (run to completion, default segment targets);
// `progress` may be NULL. Writes what it did to `*out`; if `work_remains`
// is set, a budget ran out: call it again later.
//
// If `progress` returns `CHATVAULT_PROGRESS_STOP`, compaction stops after
// the current transaction and fails with `CHATVAULT_STATUS_CANCELLED`,
// `*out` untouched: what committed before stays (each transaction leaves
// the store valid), the rest is left for the next call. A STOP after the
// last transaction stops nothing: the call succeeds and writes `*out`.
//
// # Safety
// `store`, `options` and `out` are NULL or valid (`out->struct_size`
// set); `progress`, if not NULL, may be called with `user_data` on this
// thread until this returns.
chatvault_status chatvault_store_compact(const struct chatvault_store *store,
                                         const struct chatvault_compact_options *options,
                                         chatvault_compact_progress_fn progress,
                                         void *user_data,
                                         struct chatvault_compact_report *out);

// Checks every sealed value and the file's structure, and writes what it
// found to `*out` (no problems means the store is sound); free it with
// `chatvault_verify_report_free`. Damage is reported in the report, not as
// a status.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_store_verify(const struct chatvault_store *store,
                                        struct chatvault_verify_report **out);

// Frees what `chatvault_store_verify` returned; NULL does nothing.
//
// # Safety
// `report` is NULL or came from `chatvault_store_verify`, and is not used again.
void chatvault_verify_report_free(struct chatvault_verify_report *report);

// Exports conversations to an encrypted archive at `path` (UTF-8,
// `path_len` bytes), protected by `archive_key` (its own key or passphrase,
// not the store's). `conversations` lists `conversations_len` ids to export,
// in order; a length of 0 exports every conversation. The file appears only
// when complete (it is written to a temporary name, synced, and renamed
// over `path`); the store's own files are refused with
// `CHATVAULT_STATUS_INVALID_ARGUMENT`. Writes what it wrote to `*out`.
//
// If `progress` returns `CHATVAULT_PROGRESS_STOP`, the export stops and
// fails with `CHATVAULT_STATUS_CANCELLED`: no file is left at `path` (a
// file that was there before stays as it was).
//
// # Safety
// `path` is valid for `path_len` bytes and `conversations` for
// `conversations_len` ids; `store`, `archive_key` and `out` are
// NULL or valid (`out->struct_size` set); `progress`, if not NULL, may be
// called with `user_data` on this thread until this returns.
chatvault_status chatvault_store_export(const struct chatvault_store *store,
                                        const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *archive_key,
                                        const uint64_t *conversations,
                                        size_t conversations_len,
                                        chatvault_archive_progress_fn progress,
                                        void *user_data,
                                        struct chatvault_export_report *out);

// `chatvault_store_export` with `options` (the Argon2id cost of a
// passphrase `archive_key`, the chunk size); NULL is the defaults. A bad
// option fails with `CHATVAULT_STATUS_INVALID_ARGUMENT` before any file
// is written.
//
// # Safety
// As `chatvault_store_export`; `options` is NULL or valid, and so is its
// `kdf`.
chatvault_status chatvault_store_export_with(const struct chatvault_store *store,
                                             const char *path,
                                             size_t path_len,
                                             const struct chatvault_key *archive_key,
                                             const struct chatvault_export_options *options,
                                             const uint64_t *conversations,
                                             size_t conversations_len,
                                             chatvault_archive_progress_fn progress,
                                             void *user_data,
                                             struct chatvault_export_report *out);

// Imports the archive at `path` (UTF-8, `path_len` bytes), opened with
// `archive_key`: all or nothing, in one transaction, and importing the same
// archive twice adds nothing twice. Writes what it did to `*out`.
//
// If `progress` returns `CHATVAULT_PROGRESS_STOP` before the end, the
// import fails with `CHATVAULT_STATUS_CANCELLED` and its transaction is
// rolled back: the store is exactly as it was (no conversation, message,
// attachment or read marker of the archive was added). The last call of
// `progress`, made after the import committed, cannot stop it.
//
// # Safety
// `path` is valid for `path_len` bytes; `store`, `archive_key` and `out` are
// NULL or valid (`out->struct_size` set); `progress`, if not NULL, may be
// called with `user_data` on this thread until this returns.
chatvault_status chatvault_store_import(const struct chatvault_store *store,
                                        const char *path,
                                        size_t path_len,
                                        const struct chatvault_key *archive_key,
                                        chatvault_archive_progress_fn progress,
                                        void *user_data,
                                        struct chatvault_import_report *out);

// `chatvault_store_import` with `options` (a lower ceiling on the
// Argon2id work the archive may ask for); NULL is the defaults.
//
// # Safety
// As `chatvault_store_import`; `options` is NULL or valid, and so is its
// `max_kdf`.
chatvault_status chatvault_store_import_with(const struct chatvault_store *store,
                                             const char *path,
                                             size_t path_len,
                                             const struct chatvault_key *archive_key,
                                             const struct chatvault_import_options *options,
                                             chatvault_archive_progress_fn progress,
                                             void *user_data,
                                             struct chatvault_import_report *out);

// Reads the archive at `path` (UTF-8, `path_len` bytes) to its end with
// `archive_key`, verifying every chunk and record, and writes what it
// holds to `*out` without importing anything (no store is needed); free
// it with `chatvault_archive_summary_free`. Fails as an import would
// (`CHATVAULT_STATUS_WRONG_KEY`, `CHATVAULT_STATUS_ARCHIVE_TAMPERED`,
// `CHATVAULT_STATUS_ARCHIVE_TRUNCATED`, ...); `progress` returning
// `CHATVAULT_PROGRESS_STOP` fails it with `CHATVAULT_STATUS_CANCELLED`.
//
// # Safety
// `path` is valid for `path_len` bytes; `archive_key` and `out` are NULL
// or valid; `progress`, if not NULL, may be called with `user_data` on
// this thread until this returns.
chatvault_status chatvault_archive_inspect(const char *path,
                                           size_t path_len,
                                           const struct chatvault_key *archive_key,
                                           chatvault_archive_progress_fn progress,
                                           void *user_data,
                                           struct chatvault_archive_summary **out);

// `chatvault_archive_inspect` with `options` (a lower ceiling on the
// Argon2id work the archive may ask for); NULL is the defaults.
//
// # Safety
// As `chatvault_archive_inspect`; `options` is NULL or valid, and so is
// its `max_kdf`.
chatvault_status chatvault_archive_inspect_with(const char *path,
                                                size_t path_len,
                                                const struct chatvault_key *archive_key,
                                                const struct chatvault_import_options *options,
                                                chatvault_archive_progress_fn progress,
                                                void *user_data,
                                                struct chatvault_archive_summary **out);

// Frees what `chatvault_archive_inspect` returned; NULL does nothing.
//
// # Safety
// `summary` is NULL or came from `chatvault_archive_inspect`, and is not used again.
void chatvault_archive_summary_free(struct chatvault_archive_summary *summary);

// Writes conversations to `path` (UTF-8, `path_len` bytes) as JSON Lines,
// one message a line, UNENCRYPTED: for the user's own explicit "export
// as text" only (the encrypted archive, `chatvault_store_export`, is
// for moving a store). `conversations` lists `conversations_len` ids, in
// order; 0 exports every conversation. The file appears complete or not
// at all (mode 0600 on Unix). Writes how many messages it wrote to
// `*out_messages`. The line format is the library's
// (`Store::export_json_lines`, docs/MOBILE.md).
//
// # Safety
// `path` is valid for `path_len` bytes and `conversations` for
// `conversations_len` ids; `store` and `out_messages` are NULL or valid.
chatvault_status chatvault_store_export_json_lines(const struct chatvault_store *store,
                                                   const char *path,
                                                   size_t path_len,
                                                   const uint64_t *conversations,
                                                   size_t conversations_len,
                                                   uint64_t *out_messages);

// Writes conversation `conversation` to `path` (UTF-8, `path_len` bytes)
// as one self-contained HTML page, UNENCRYPTED, with the content of its
// attachments in a directory beside it (`<stem>_files`): for the user's
// own explicit "export as a web page" only. The page and the directory
// appear complete or not at all; an existing directory of that name is
// never written into (the call fails and changes nothing). Writes how
// many messages it lists to `*out_messages`.
//
// # Safety
// `path` is valid for `path_len` bytes; `store` and `out_messages` are
// NULL or valid.
chatvault_status chatvault_store_export_html(const struct chatvault_store *store,
                                             uint64_t conversation,
                                             const char *path,
                                             size_t path_len,
                                             uint64_t *out_messages);

// `chatvault_store_export_html` with `options` (NULL: the defaults, but
// no existing page replaced): a conversation longer than
// `messages_per_page` is split into pages (`chat.html`, `chat-2.html`, ...),
// times shown in the zone given, the user's own messages told apart.
// UNENCRYPTED, for the user's explicit choice only; complete or not at
// all. Writes what it wrote to `*out`.
//
// # Safety
// `path` is valid for `path_len` bytes; `store`, `options` and `out` are
// NULL or valid (`out->struct_size` set), the texts in `options` valid
// for their lengths.
chatvault_status chatvault_store_export_html_with(const struct chatvault_store *store,
                                                  uint64_t conversation,
                                                  const char *path,
                                                  size_t path_len,
                                                  const struct chatvault_html_options *options,
                                                  struct chatvault_html_report *out);

// Writes conversations as HTML pages into the directory `dir` (UTF-8,
// `dir_len` bytes; made if missing), UNENCRYPTED, with an index page
// (`dir/index.html`) linking each conversation's first page; pages are
// `dir/conversation-N.html` (`-2`, `-3`, ... when split), attachments in
// `dir/conversation-N_files/`. `conversations` lists `conversations_len`
// ids in the index's order; 0 exports every conversation. `options` as
// `chatvault_store_export_html_with`. Complete or not at all. Writes
// what it wrote to `*out`.
//
// # Safety
// `dir` is valid for `dir_len` bytes and `conversations` for
// `conversations_len` ids; `store`, `options` and `out` are NULL or valid
// (`out->struct_size` set).
chatvault_status chatvault_store_export_html_dir(const struct chatvault_store *store,
                                                 const char *dir,
                                                 size_t dir_len,
                                                 const uint64_t *conversations,
                                                 size_t conversations_len,
                                                 const struct chatvault_html_options *options,
                                                 struct chatvault_html_report *out);

// Finds messages by their words, newest first, and writes a page of hits
// to `*out`; free it with `chatvault_search_page_free`. A message matches
// when it has every word of `query->text` (CJK text as consecutive
// characters, other words as prefixes, case and accents folded). Each hit
// carries the byte ranges of its text that matched.
//
// A query with nothing to look for (only punctuation) fails with
// `CHATVAULT_STATUS_INVALID_ARGUMENT`; an unknown conversation with
// `CHATVAULT_STATUS_NOT_FOUND`.
//
// # Safety
// `store`, `query` and `out` are NULL or valid; the texts in `query` are
// NULL (with length 0) or valid for their lengths.
chatvault_status chatvault_search(const struct chatvault_store *store,
                                  const struct chatvault_search_query *query,
                                  struct chatvault_search_page **out);

// Whether `text` (UTF-8, `text_len` bytes) matches `query->text` by
// search's rules (`chatvault_search`'s), without a store: for highlighting
// a text the app already holds. Writes the byte ranges of `text` that
// matched to `*out` (free it with `chatvault_match_list_free`), or NULL if
// the text does not match or the query has no word to look for. Only
// `query->text` is used: its other conditions concern stored messages.
//
// # Safety
// `query` and `out` are NULL or valid; `text` and the texts in `query` are
// NULL (with length 0) or valid for their lengths.
chatvault_status chatvault_search_matches(const struct chatvault_search_query *query,
                                          const char *text,
                                          size_t text_len,
                                          struct chatvault_match_list **out);

// Frees a match list; NULL does nothing.
//
// # Safety
// `list` is NULL or came from `chatvault_search_matches`, and is not used again.
void chatvault_match_list_free(struct chatvault_match_list *list);

// Frees a search page; NULL does nothing.
//
// # Safety
// `page` is NULL or came from `chatvault_search`, and is not used again.
void chatvault_search_page_free(struct chatvault_search_page *page);

// Gives search filters to the segments of an upgraded store that have
// none yet, until none is left or `time_budget_ms` milliseconds have
// passed (0: no budget). Writes what it did to `*out`
// (`segments_remaining` 0: the index is complete). Searches are complete
// before it finishes, only slower. (It takes a budget rather than a
// progress callback: run it with a short budget, again and again, to
// keep it interruptible.)
//
// # Safety
// `store` and `out` are NULL or valid; `out->struct_size` is set.
chatvault_status chatvault_index_for_search(const struct chatvault_store *store,
                                            uint64_t time_budget_ms,
                                            struct chatvault_index_report *out);

// Starts writing an attachment of message `message` and writes the
// writer's handle to `*out`. Write the content with
// `chatvault_attachment_write`, in pieces of any size, then store it with
// `chatvault_attachment_finish`, or drop it with
// `chatvault_attachment_abort`. Memory stays at one 64 KiB chunk whatever
// the size; content past 64 KiB goes to a file beside the store
// (`<store path>-attachments/`), sealed chunk by chunk, and is synced
// before the attachment is stored.
//
// The writer keeps the store open: `chatvault_store_close` fails with
// `CHATVAULT_STATUS_STORE_IN_USE` (and closes nothing) until every writer
// made from the handle is finished or aborted. Other calls on the store
// go on meanwhile, from any thread.
//
// Fails with `CHATVAULT_STATUS_NOT_FOUND` if the conversation does not
// exist (the message itself is checked by `chatvault_attachment_finish`),
// and `CHATVAULT_STATUS_TOO_LARGE` if the media type, file name and app
// data together pass 64 KiB.
//
// # Safety
// `store`, `attachment` and `out` are NULL or valid; every pointer in
// `attachment` is NULL or valid for its length.
chatvault_status chatvault_attachment_begin(const struct chatvault_store *store,
                                            struct chatvault_message_id message,
                                            const struct chatvault_new_attachment *attachment,
                                            struct chatvault_attachment_writer **out);

// Appends `len` bytes at `data` to the attachment's content (`data` may be
// NULL when `len` is 0).
//
// A failure other than `CHATVAULT_STATUS_NULL_ARGUMENT` or
// `CHATVAULT_STATUS_TOO_LARGE` (content past the limit of 64 GiB, refused
// before anything is written) ends the writer: what it wrote is removed,
// and every later write, and `chatvault_attachment_finish`, fails with the
// same status. It still has to be freed (finish or abort).
//
// # Safety
// `writer` is NULL or a live writer handle; `data` is NULL or valid for
// `len` bytes.
chatvault_status chatvault_attachment_write(struct chatvault_attachment_writer *writer,
                                            const uint8_t *data,
                                            size_t len);

// Stores the attachment and writes its id to `*out_id`: pads and seals the
// last chunk, syncs the file, then stores the attachment's row and sealed
// metadata in one transaction. It is readable and listed from then on.
//
// The writer is freed whatever the status, even
// `CHATVAULT_STATUS_NULL_ARGUMENT` for a NULL `out_id`; on failure nothing
// is stored and what was written is removed. Fails with
// `CHATVAULT_STATUS_NOT_FOUND` if the message does not exist (or expired,
// or was deleted meanwhile), and with the status of an earlier write that
// failed.
//
// # Safety
// `writer` is NULL or a live writer handle that no other thread is using,
// not used again; `out_id` is NULL or valid.
chatvault_status chatvault_attachment_finish(struct chatvault_attachment_writer *writer,
                                             uint64_t *out_id);

// Frees a writer without storing anything: what it wrote is removed.
// NULL does nothing.
//
// # Safety
// `writer` is NULL or a live writer handle that no other thread is using,
// and is not used again.
void chatvault_attachment_abort(struct chatvault_attachment_writer *writer);

// Opens attachment `id`'s content for reading and writes the reader's
// handle to `*out`; close it with `chatvault_attachment_close`.
//
// The reader owns what it needs (the content's key, an open file or the
// bytes): it does not keep the store open, and keeps working after the
// store is closed or the attachment deleted (as an open file does), so
// close readers when the user deletes what they show. Fails with
// `CHATVAULT_STATUS_NOT_FOUND` if the attachment does not exist, its
// message expired, or its content was removed.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_attachment_open(const struct chatvault_store *store,
                                           uint64_t id,
                                           struct chatvault_attachment_reader **out);

// Writes the length of the reader's content, in bytes, to `*out_len`.
//
// # Safety
// `reader` is NULL or a live reader handle; `out_len` is NULL or valid.
chatvault_status chatvault_attachment_length(const struct chatvault_attachment_reader *reader,
                                             uint64_t *out_len);

// Writes to `*out` how many chunks `reader` has decrypted so far: a read
// decrypts only the chunks its range spans, and none the reader decrypted
// last (a test of how much work a read costs, or a cache's).
//
// # Safety
// `reader` and `out` are NULL or valid.
chatvault_status chatvault_attachment_chunks_decrypted(const struct chatvault_attachment_reader *reader,
                                                       uint64_t *out);

// Reads the content from byte `offset` into `buf`, filling it: writes
// `min(cap, length - offset)` bytes and that count to `*out_n` (0 at or
// past the end). Only the 64 KiB chunks the range spans are read and
// decrypted, each authenticated on its own.
//
// A chunk that fails authentication (the file was modified, cut, or
// swapped) fails the call with `CHATVAULT_STATUS_AUTHENTICATION_FAILED`
// and never gives its bytes: on any failure `*out_n` is left untouched
// and the bytes of `buf` the call would have filled are zeroed, even
// those of chunks that did authenticate. A reader may be used from several
// threads at once; their reads are serialised.
//
// # Safety
// `reader` is NULL or a live reader handle; `buf` is NULL (only when `cap`
// is 0) or valid for writes of `cap` bytes; `out_n` is NULL or valid.
chatvault_status chatvault_attachment_read_at(const struct chatvault_attachment_reader *reader,
                                              uint64_t offset,
                                              uint8_t *buf,
                                              size_t cap,
                                              size_t *out_n);

// Closes a reader; NULL does nothing.
//
// # Safety
// `reader` is NULL or a live reader handle that no other thread is using,
// and is not used again.
void chatvault_attachment_close(struct chatvault_attachment_reader *reader);

// Writes attachment `id`'s metadata to `*out`; free it with
// `chatvault_attachment_free`. An attachment whose content was removed is
// found, with `removed_at_ms` set; one whose message expired is not.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_attachment_get(const struct chatvault_store *store,
                                          uint64_t id,
                                          struct chatvault_attachment **out);

// Frees what `chatvault_attachment_get` returned; NULL does nothing. Never
// pass it an attachment inside a list.
//
// # Safety
// `attachment` is NULL or came from `chatvault_attachment_get`, and is not
// used again.
void chatvault_attachment_free(struct chatvault_attachment *attachment);

// Writes message `message`'s attachments, in the order they were written,
// to `*out`; free the list with `chatvault_attachment_list_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_attachments(const struct chatvault_store *store,
                                               struct chatvault_message_id message,
                                               struct chatvault_attachment_list **out);

// Writes a page of conversation `conversation`'s attachments to `*out`,
// newest message first (a chat's media gallery); free it with
// `chatvault_attachment_list_free`. At most `limit` (0: all of them);
// only media types starting with `media_type_prefix` (UTF-8,
// `media_type_prefix_len` bytes; NULL with length 0 for any), e.g.
// "image/"; and, if `has_before` is 1, only those listed after attachment
// `before` (the last item of the previous page; `has_before` 0 for the
// first page).
//
// Fails with `CHATVAULT_STATUS_NOT_FOUND` for an unknown conversation or
// `before`, and `CHATVAULT_STATUS_INVALID_ARGUMENT` if `before` is in
// another conversation.
//
// # Safety
// `media_type_prefix` is NULL (with length 0) or valid for
// `media_type_prefix_len` bytes; `store` and `out` are NULL or valid.
chatvault_status chatvault_attachments(const struct chatvault_store *store,
                                       uint64_t conversation,
                                       size_t limit,
                                       const char *media_type_prefix,
                                       size_t media_type_prefix_len,
                                       uint8_t has_before,
                                       uint64_t before,
                                       struct chatvault_attachment_list **out);

// Frees what `chatvault_message_attachments` or `chatvault_attachments`
// returned; NULL does nothing.
//
// # Safety
// `list` is NULL or came from one of those functions, and is not used again.
void chatvault_attachment_list_free(struct chatvault_attachment_list *list);

// Deletes an attachment, keeping its message: its row is scrubbed from
// the file and the write-ahead log, and its file removed, before this
// returns. (Deleting a message or a conversation deletes its attachments
// the same way.) Readers open on it keep working until closed.
//
// # Safety
// `store` is NULL or valid.
chatvault_status chatvault_attachment_delete(const struct chatvault_store *store, uint64_t id);

// The storage manager: removes the content of every attachment `filter`
// matches, keeping its message and its metadata (with `removed_at_ms`
// set, so the chat can show what was there), and writes what it removed
// to `*out`. Files are removed and rows scrubbed before this returns.
// A filter with every flag 0 clears every attachment in the store.
//
// # Safety
// `store`, `filter` and `out` are NULL or valid; the prefix in `filter` is
// NULL (with length 0) or valid for its length.
chatvault_status chatvault_clear_attachments(const struct chatvault_store *store,
                                             const struct chatvault_attachment_filter *filter,
                                             struct chatvault_clear_report *out);

// Writes what each conversation takes on disk, text and attachments
// apart, largest first (the storage-management screen), to `*out`; free
// it with `chatvault_storage_usage_free`. Nothing is decrypted.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_storage_usage(const struct chatvault_store *store,
                                         struct chatvault_storage_usage_list **out);

// Frees what `chatvault_storage_usage` returned; NULL does nothing.
//
// # Safety
// `usage` is NULL or came from `chatvault_storage_usage`, and is not used again.
void chatvault_storage_usage_free(struct chatvault_storage_usage_list *usage);

// Writes `ms` (milliseconds since the Unix epoch) as RFC 3339 in UTC with
// milliseconds, e.g. "2023-11-14T22:13:20.123Z", to `*out`, as every
// export writes times; years before 0 or after 9999 are clamped. Free it
// with `chatvault_text_free`.
//
// # Safety
// `out` is NULL or valid.
chatvault_status chatvault_rfc3339(int64_t ms, struct chatvault_text **out);

// Writes message `id` as one JSON object (a line of the JSON Lines
// export, docs/EXPORT.md) to `*out`. With `with_attachments` 1 it has an
// `attachments` array (the message's attachments' metadata, empty if
// none); with 0, no `attachments` key. Free it with `chatvault_text_free`.
// It holds the message's text unencrypted: show or share it only as the
// user asked.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_message_json(const struct chatvault_store *store,
                                        struct chatvault_message_id id,
                                        uint8_t with_attachments,
                                        struct chatvault_text **out);

// Writes conversation `id` as one JSON object (docs/EXPORT.md; its
// `app_data` left out) to `*out`. Free it with `chatvault_text_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_conversation_json(const struct chatvault_store *store,
                                             uint64_t id,
                                             struct chatvault_text **out);

// Writes attachment `id`'s metadata as one JSON object (docs/EXPORT.md;
// its `app_data` and content left out) to `*out`. Free it with
// `chatvault_text_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_attachment_json(const struct chatvault_store *store,
                                           uint64_t id,
                                           struct chatvault_text **out);

// Writes the name under which attachment `id` is safe to save on disk to
// `*out`, by the exports' rule: its file name with every character but
// letters, digits, `-`, `_` and `.` replaced by `_` (so no directory
// part), or `attachment-<id>.<ext>` from its media type when it has none.
// Free it with `chatvault_text_free`.
//
// # Safety
// `store` and `out` are NULL or valid.
chatvault_status chatvault_attachment_file_name(const struct chatvault_store *store,
                                                uint64_t id,
                                                struct chatvault_text **out);

// Frees a text; NULL does nothing.
//
// # Safety
// `text` is NULL or came from a function of this library that returns a
// `chatvault_text`, and is not used again.
void chatvault_text_free(struct chatvault_text *text);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* CHATVAULT_H */
