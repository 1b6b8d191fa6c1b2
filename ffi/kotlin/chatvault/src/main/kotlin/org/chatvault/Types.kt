package org.chatvault

// The values the store takes and gives. Times are milliseconds since the
// Unix epoch; an optional value is null when absent (the C API's has_x
// flag and its value are one nullable here). Byte arrays are copies the
// caller owns.

/** A message's id: its conversation and its sequence number there (from 1). */
data class MessageId(val conversation: Long, val seq: Long)

/** A conversation to create. `createdAtMs` null means now; `retentionMs` null: messages never disappear. */
data class NewConversation(
    val title: String,
    val externalId: String? = null,
    val members: List<String> = emptyList(),
    val appData: ByteArray = ByteArray(0),
    val createdAtMs: Long? = null,
    val retentionMs: Long? = null
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(title, externalId, members, appData.asList(), createdAtMs, retentionMs)

    override fun equals(other: Any?): Boolean = other is NewConversation && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** A conversation's metadata. */
data class Conversation(
    val id: Long,
    val externalId: String?,
    val title: String,
    val members: List<String>,
    val appData: ByteArray,
    val createdAtMs: Long,
    /** The last message marked read; null if none was. */
    val readUpToSeq: Long?,
    /** Messages it holds (expired ones excluded). */
    val messageCount: Long,
    val retentionMs: Long?
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(id, externalId, title, members, appData.asList(), createdAtMs, readUpToSeq, messageCount, retentionMs)

    override fun equals(other: Any?): Boolean = other is Conversation && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** A message to append. An external id the conversation has already makes the append a no-op returning that message's id. */
data class NewMessage(
    val sender: String,
    val text: String,
    val sentAtMs: Long,
    val externalId: String? = null,
    val replyToSeq: Long? = null,
    val extra: ByteArray = ByteArray(0),
    val expiresAtMs: Long? = null
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(sender, text, sentAtMs, externalId, replyToSeq, extra.asList(), expiresAtMs)

    override fun equals(other: Any?): Boolean = other is NewMessage && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** A stored message. */
data class Message(
    val id: MessageId,
    val externalId: String?,
    val sender: String,
    val text: String,
    val sentAtMs: Long,
    val editedAtMs: Long?,
    val expiresAtMs: Long?,
    val replyToSeq: Long?,
    val extra: ByteArray
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(id, externalId, sender, text, sentAtMs, editedAtMs, expiresAtMs, replyToSeq, extra.asList())

    override fun equals(other: Any?): Boolean = other is Message && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** A line of the conversation list. */
data class ConversationSummary(
    val conversation: Conversation,
    val lastMessage: Message?,
    val unreadCount: Long
)

/** Figures about a store, from plaintext columns only. */
data class Stats(
    val conversations: Long,
    val messages: Long,
    val segments: Long,
    val segmentsUncompacted: Long,
    val segmentBytes: Long,
    val fileBytes: Long,
    val walBytes: Long,
    val reclaimableBytes: Long,
    val attachments: Long,
    val attachmentBytes: Long,
    val attachmentsInFiles: Long,
    val orphanFiles: Long,
    val orphanFileBytes: Long
)

/** What a master-key rotation did; `finished` false: call again with the same key. */
data class RotationReport(
    val conversations: Long,
    val references: Long,
    val referencesDropped: Long,
    val transactions: Long,
    val conversationsDamaged: Long,
    val finished: Boolean,
    val keyInForce: Boolean
)

/**
 * Budgets and segment targets for a compaction; null is no limit, or the
 * library's default target (64 messages, 32 KiB of plaintext a segment).
 */
data class CompactOptions(
    val timeBudgetMs: Long? = null,
    val segmentBudget: Long? = null,
    val targetMessages: Long? = null,
    val targetBytes: Long? = null
)

data class CompactProgress(val conversationsDone: Long, val conversationsTotal: Long, val segmentsRewritten: Long)

/** What a compaction did; `workRemains`: a budget ran out, call again later. */
data class CompactReport(
    val conversationsCompacted: Long,
    val segmentsRewritten: Long,
    val segmentsWritten: Long,
    val messagesExpired: Long,
    val keysDestroyed: Long,
    val bytesBefore: Long,
    val bytesAfter: Long,
    val conversationsSkipped: Long,
    val workRemains: Boolean,
    val attachmentsExpired: Long,
    val orphanFilesRemoved: Long
)

/** The kinds of problem verify reports; OTHER for a number this wrapper does not know (kept in [Problem.kindCode]). */
enum class ProblemKind(val code: Int) {
    OTHER(0), INTEGRITY(1), AUTHENTICATION(2), CORRUPT(3), OVERLAP(4), MISSING_KEY(5), ORPHAN(6),
    COUNT_MISMATCH(7), SCHEMA(8);

    companion object {
        fun of(code: Int): ProblemKind = values().firstOrNull { it.code == code } ?: OTHER
    }
}

data class Problem(
    val kind: ProblemKind,
    val kindCode: Int,
    val conversation: Long?,
    val firstSeq: Long?,
    val lastSeq: Long?,
    val epoch: Long?,
    val detail: String
)

/** What verify found; no problems means the store is sound. */
data class VerifyReport(
    val conversations: Long,
    val segments: Long,
    val messages: Long,
    val attachments: Long,
    val problems: List<Problem>
)

/** How far an export, import or inspection has got. */
data class ArchiveProgress(
    val bytes: Long,
    val conversations: Long,
    val messages: Long,
    val totalConversations: Long,
    val totalMessages: Long
)

/** What an export wrote: `messages` leaves out expired ones, `attachments` those of expired messages. */
data class ExportReport(val conversations: Long, val messages: Long, val bytes: Long, val attachments: Long)

data class ImportReport(
    val conversationsCreated: Long,
    val conversationsMatched: Long,
    val messagesAdded: Long,
    val messagesSkipped: Long,
    val bytes: Long,
    val attachmentsAdded: Long,
    val attachmentsSkipped: Long
)

/** What protects an archive; UNKNOWN for a kind this wrapper does not know. */
enum class KeyKind { RAW, PASSPHRASE, UNKNOWN }

/** One conversation of an archive; `firstSentMs`/`lastSentMs` null when it holds no message. */
data class ArchivedConversation(
    val externalId: String?,
    val title: String,
    val messages: Long,
    val firstSentMs: Long?,
    val lastSentMs: Long?,
    val attachments: Long
)

/** What an archive holds ([ChatVault.inspectArchive]), every chunk verified. */
data class ArchiveSummary(
    /** The archive format version. */
    val version: Long,
    val keyKind: KeyKind,
    /** The chatvault version that wrote it. */
    val chatvaultVersion: String,
    /** When it was written, by the writer's clock. */
    val exportedAtMs: Long,
    val conversations: List<ArchivedConversation>,
    val messages: Long,
    val attachments: Long,
    val attachmentBytes: Long,
    /** Its size in bytes. */
    val bytes: Long
)

/** A time zone for an HTML export: `offsetSeconds` east of UTC (within ±24 h), shown as `name` if given. */
data class HtmlZone(val offsetSeconds: Int, val name: String? = null)

/**
 * How an HTML export is written: messages whose sender is exactly `me`
 * shown as the user's own, pages of `messagesPerPage` (null: 5000), times
 * in `zone` (null: UTC), and an existing page replaced only with
 * `replaceExisting`.
 *
 * `zoneAt` gives the zone at each instant (ms since the Unix epoch)
 * instead, so summer time is followed: give it `zone` or `zoneAt`, not
 * both. It is called on the exporting thread; an exception it throws fails
 * the export with that exception. On the JVM, from java.time:
 * `zoneAt = { ms -> ZoneId.of("Europe/Paris").rules.getOffset(Instant.ofEpochMilli(ms)).let { HtmlZone(it.totalSeconds) } }`.
 */
data class HtmlOptions(
    val me: String? = null,
    val messagesPerPage: Long? = null,
    val zone: HtmlZone? = null,
    val replaceExisting: Boolean = false,
    val zoneAt: ((Long) -> HtmlZone)? = null
)

/** What an HTML export wrote: `pages` not counting the index. */
data class HtmlReport(
    val conversations: Long,
    val messages: Long,
    val pages: Long,
    val hasIndex: Boolean,
    val attachmentDirs: Long
)

/** When commits are durable. */
enum class Durability {
    /** Every commit synced before it returns: survives a crash of the app and of the device. The default. */
    FULL,
    /** Commits survive a crash of the app; a power loss may roll back the last few. Faster on slow flash. */
    NORMAL
}

/** The most Argon2id work a passphrase store's header may ask for at open (below the library's own ceiling). */
data class KdfLimit(val memoryKib: Int, val iterations: Int, val parallelism: Int)

/**
 * Settings for [ChatVault.create] and [ChatVault.open], for that handle
 * only. `busyTimeoutMs` null: 5 s; `maxSizeBytes` null: no limit (with
 * one, a write that would grow the file past it throws
 * [Status.STORAGE_FULL] and changes nothing); `maxKdf` null: the
 * library's ceiling.
 */
data class StoreOptions(
    val durability: Durability = Durability.FULL,
    val busyTimeoutMs: Long? = null,
    val maxSizeBytes: Long? = null,
    val maxKdf: KdfLimit? = null,
    /**
     * The store's clock (ms since the Unix epoch) for the times it stamps
     * itself (a conversation's creation, expiry, an archive's export
     * time); null: the system clock. Called from whichever thread calls
     * the store, possibly several at once: it must be thread-safe and fast,
     * and must not call the store. An exception it throws cannot reach the
     * library: that reading takes the system clock's time instead.
     */
    val clock: (() -> Long)? = null
)

/**
 * Argon2id cost for a new passphrase ([Key.passphrase]): at least 19 MiB
 * (19456 KiB), 2 passes, 1 lane; at most 256 MiB, 16 passes, 8 lanes, with
 * memory times passes at most 512 MiB. Outside that the call using the key
 * throws [Status.INVALID_ARGUMENT].
 */
data class KdfParams(val memoryKib: Int, val iterations: Int, val parallelism: Int)

/** How an archive is written: `chunkSize` a power of two from 1024 to 1048576 bytes (null: 65536). */
data class ExportOptions(val chunkSize: Int? = null)

/** How an archive is read: `maxKdf` the most Argon2id work its header may ask for (null: the library's ceiling). */
data class ImportOptions(val maxKdf: KdfLimit? = null)

/** Budgets for a master-key rotation; null is no limit. */
data class RotateOptions(val maxTransactions: Long? = null, val timeBudgetMs: Long? = null)

/** A conversation's retention, for [ConversationChanges]. */
sealed class Retention {
    /** Messages appended from now on never disappear. */
    object Off : Retention()

    /** Messages appended from now on disappear `ms` milliseconds after they were sent. */
    data class After(val ms: Long) : Retention()
}

/**
 * Changes to a conversation ([Store.updateConversation]): each non-null
 * field replaces its value; null leaves it as it is.
 */
data class ConversationChanges(
    val title: String? = null,
    val members: List<String>? = null,
    val appData: ByteArray? = null,
    val retention: Retention? = null
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(title, members, appData?.asList(), retention)

    override fun equals(other: Any?): Boolean = other is ConversationChanges && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** What one call of [Store.indexForSearch] did; `segmentsRemaining` 0: the index is complete. */
data class IndexReport(val segmentsIndexed: Long, val segmentsRemaining: Long, val segmentsSkipped: Long)

/** A search. Null filters match everything; `limit` 0 means the library's default (50). */
data class SearchQuery(
    val text: String,
    val conversation: Long? = null,
    val sender: String? = null,
    val fromMs: Long? = null,
    val untilMs: Long? = null,
    val limit: Int = 0,
    val after: SearchCursor? = null
) {
    /**
     * Whether `text` matches this query's words by search's rules, with
     * the String index ranges that matched (`text.substring(range)`), for
     * highlighting a text the app already holds; null if it does not
     * match or the query has no word. Only `text` of the query is used.
     */
    fun matches(text: String): List<IntRange>? = searchMatches(this, text)
}

/** Where a page of hits ended: pass it as the next query's `after`. */
data class SearchCursor(val sentAtMs: Long, val message: MessageId)

/** A message that matched, with the String index ranges of its text that matched (`text.substring(range)`). */
data class SearchHit(val message: Message, val ranges: List<IntRange>)

/** A page of hits, newest first; `next` null when there is no next page. */
data class SearchPage(val hits: List<SearchHit>, val next: SearchCursor?, val unindexedSegments: Long)

/** An attachment to write. */
data class NewAttachment(val mediaType: String, val fileName: String? = null, val appData: ByteArray = ByteArray(0)) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(mediaType, fileName, appData.asList())

    override fun equals(other: Any?): Boolean = other is NewAttachment && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** A stored attachment's metadata; `removedAtMs` set once its content was cleared. */
data class Attachment(
    val id: Long,
    val message: MessageId,
    val mediaType: String,
    val fileName: String?,
    val byteLen: Long,
    val appData: ByteArray,
    val createdAtMs: Long,
    val removedAtMs: Long?
) {
    // By content: a data class compares arrays by reference.
    private fun content(): List<Any?> = listOf(id, message, mediaType, fileName, byteLen, appData.asList(), createdAtMs, removedAtMs)

    override fun equals(other: Any?): Boolean = other is Attachment && content() == other.content()

    override fun hashCode(): Int = content().hashCode()
}

/** Which attachments clearAttachments empties: every non-null condition must hold; all null clears every one. */
data class AttachmentFilter(
    val conversation: Long? = null,
    val mediaTypePrefix: String? = null,
    val createdBeforeMs: Long? = null,
    val minBytes: Long? = null
)

data class ClearReport(val attachments: Long, val bytes: Long)

/** What one conversation takes on disk. */
data class StorageUsage(val conversation: Long, val textBytes: Long, val attachmentBytes: Long, val attachments: Long)
