package org.chatvault

import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference
import java.io.Closeable
import java.util.concurrent.locks.ReentrantReadWriteLock

/**
 * chatvault, the encrypted on-device message store: the entry points.
 *
 * The shared library `libchatvault_ffi.so` is loaded through JNA on first
 * use: from the app's `jniLibs/<abi>/` on Android, from `jna.library.path`
 * on a JVM.
 */
object ChatVault {
    /** Creates a new, empty store at `path`; [Status.ALREADY_EXISTS] if a file is there. */
    @JvmStatic
    fun create(path: String, key: Key): Store = openWith(path, key, create = true, options = null)

    /** [create] with `options` (durability, busy timeout, size limit, Argon2id ceiling) for this handle. */
    @JvmStatic
    fun create(path: String, key: Key, options: StoreOptions): Store = openWith(path, key, create = true, options = options)

    /** Opens the store at `path`; [Status.WRONG_KEY] if `key` does not open it, [Status.NO_SUCH_STORE] if there is none. */
    @JvmStatic
    fun open(path: String, key: Key): Store = openWith(path, key, create = false, options = null)

    /** [open] with `options` (durability, busy timeout, size limit, Argon2id ceiling) for this handle. */
    @JvmStatic
    fun open(path: String, key: Key, options: StoreOptions): Store = openWith(path, key, create = false, options = options)

    /**
     * Reads the archive at `path` to its end with `archiveKey`, verifying
     * every chunk, and says what it holds, importing nothing (no store is
     * needed). Fails as an import would ([Status.WRONG_KEY],
     * [Status.ARCHIVE_TAMPERED], ...). `progress` as in
     * [Store.exportArchive]: false stops it with [Status.CANCELLED].
     */
    @JvmStatic
    @JvmOverloads
    fun inspectArchive(path: String, archiveKey: Key, progress: ((ArchiveProgress) -> Boolean)? = null): ArchiveSummary =
        inspectArchive(path, archiveKey, ImportOptions(), progress)

    /** [inspectArchive] with `options` (a lower Argon2id ceiling: [Status.KDF_TOO_COSTLY] above it). */
    @JvmStatic
    @JvmOverloads
    fun inspectArchive(
        path: String,
        archiveKey: Key,
        options: ImportOptions,
        progress: ((ArchiveProgress) -> Boolean)? = null
    ): ArchiveSummary {
        val p = path.toByteArray(Charsets.UTF_8)
        val listener = progress?.let { ArchiveListener(it) }
        val lib = Raw.lib
        return Arena().use { a ->
            val k = a.key(archiveKey)
            val len = SizeT(p.size.toLong())
            fetch(
                {
                    listener.finish(
                        if (options == ImportOptions()) {
                            lib.chatvault_archive_inspect(p, len, k, listener, null, it)
                        } else {
                            lib.chatvault_archive_inspect_with(p, len, k, a.importOptions(options), listener, null, it)
                        }
                    )
                },
                Read::archiveSummary,
                lib::chatvault_archive_summary_free
            )
        }
    }

    /** `ms` (since the Unix epoch) as the exports write times: RFC 3339 in UTC with milliseconds, e.g. "2023-11-14T22:13:20.123Z". */
    @JvmStatic
    fun rfc3339(ms: Long): String = fetch({ Raw.lib.chatvault_rfc3339(ms, it) }, Read::text, Raw.lib::chatvault_text_free)

    /** The library's version, e.g. "0.1.0". */
    @JvmStatic
    val version: String
        get() = Raw.cString(Raw.lib.chatvault_version())

    /** The C name of a status number, e.g. "CHATVAULT_STATUS_WRONG_KEY", for logs. */
    @JvmStatic
    fun statusName(code: Int): String = Raw.cString(Raw.lib.chatvault_status_name(code))

    private fun openWith(path: String, key: Key, create: Boolean, options: StoreOptions?): Store {
        val p = path.toByteArray(Charsets.UTF_8)
        val out = PointerByReference()
        val lib = Raw.lib
        val guard = CallbackGuard()
        // Kept by the Store: the library calls it until the store is closed.
        val clock = options?.clock?.let { Clock(it, guard) }
        Arena().use { a ->
            val k = a.key(key)
            val len = SizeT(p.size.toLong())
            // A Key's Argon2id cost travels in the options (open refuses it, saying why).
            val o = if (options == null && key.kdf == null) null else a.storeOptions(options ?: StoreOptions(), key.kdf, clock)
            check(
                when {
                    create && o == null -> lib.chatvault_store_create(p, len, k, out)
                    create -> lib.chatvault_store_create_with(p, len, k, o, out)
                    o == null -> lib.chatvault_store_open(p, len, k, out)
                    else -> lib.chatvault_store_open_with(p, len, k, o, out)
                }
            )
        }
        return Store(out.value ?: throw IllegalStateException("the library returned no store handle"), clock, guard)
    }
}

/** Throws the [ChatVaultException] for `code` unless it is 0 (OK), with this thread's last error message. */
internal fun check(code: Int) {
    if (code != Status.OK.code) throw ChatVaultException(Status.of(code), Raw.lastError(), code)
}

/**
 * A listener's exception, if it threw one (it stopped the operation, so the
 * library's status is CANCELLED: the exception is the truth), else the
 * status checked; returns `code` for [fetch].
 */
internal fun ProgressListener<*>?.finish(code: Int): Int {
    this?.failure?.let { throw it }
    check(code)
    return code
}

/** Calls `call` with an out-pointer, reads what it wrote with `read`, and frees it with `free` whatever happens. */
internal inline fun <T> fetch(call: (PointerByReference) -> Int, read: (Pointer) -> T, free: (Pointer?) -> Unit): T {
    val out = PointerByReference()
    check(call(out))
    val p = out.value
    try {
        return read(p ?: throw IllegalStateException("the library returned no allocation"))
    } finally {
        free(p)
    }
}

/**
 * An open store. Share one per file between all threads: calls run
 * concurrently (writes are serialised inside the library). [close] waits
 * for calls under way, then closes; later calls throw IllegalStateException.
 * A progress, clock or time zone callback must not call its own store
 * (nor its attachment writers): such a call throws IllegalStateException
 * (which stops the operation and is rethrown by it) instead of deadlocking.
 * Every failure of the library is a [ChatVaultException].
 */
class Store internal constructor(
    handle: Pointer,
    /** The clock callback the library holds a pointer to: referenced here so the JVM keeps it while the store lives. */
    private val clock: ClockFn? = null,
    /** Marks the threads running this store's callbacks: the store refuses calls from them. */
    internal val guard: CallbackGuard = CallbackGuard()
) : Closeable {
    private var handle: Pointer? = handle
    private val lock = ReentrantReadWriteLock()
    private val lib = Raw.lib

    private inline fun <T> on(f: (Pointer) -> T): T {
        guard.refuse()
        val read = lock.readLock()
        read.lock()
        try {
            return f(handle ?: throw IllegalStateException("the store is closed"))
        } finally {
            read.unlock()
        }
    }

    /** The path the store was opened at, as given to create or open. */
    val path: String
        get() = on { h ->
            val out = StrStruct()
            check(lib.chatvault_store_path(h, out))
            out.text()
        }

    /** Whether [close] has closed the store. */
    val isClosed: Boolean
        get() = on0 { it == null }

    private inline fun <T> on0(f: (Pointer?) -> T): T {
        val read = lock.readLock()
        read.lock()
        try {
            return f(handle)
        } finally {
            read.unlock()
        }
    }

    /**
     * Checkpoints and closes the store; closing twice does nothing. With
     * attachment writers still open it throws [Status.STORE_IN_USE] and the
     * store stays open: finish or close the writers, then close it again.
     */
    override fun close() {
        guard.refuse()
        // A read lock cannot become the write lock: waiting for it here would wait forever.
        check(lock.readHoldCount == 0) {
            "close() was called from inside a call to this store on the same thread: close it after that call returns"
        }
        val write = lock.writeLock()
        write.lock()
        try {
            val h = handle ?: return
            val code = lib.chatvault_store_close(h)
            if (code != Status.STORE_IN_USE.code) handle = null
            check(code)
        } finally {
            write.unlock()
        }
    }

    // ------------------------------------------------------------ keys and maintenance

    /** Protects the store with a new key (the master key stays: see [rotateMasterKey] for a leaked key). */
    fun changeKey(key: Key) = on { h ->
        Arena().use { a ->
            val k = a.key(key)
            check(if (key.kdf == null) lib.chatvault_store_change_key(h, k) else lib.chatvault_store_change_key_with(h, k, a.kdfParams(key.kdf)))
        }
    }

    /**
     * Rotates the master key to `key`, for a leaked key (see docs/MOBILE.md);
     * `options` may stop it after a number of transactions or a time budget
     * (the report's `finished` false: call again with the same key).
     */
    @JvmOverloads
    fun rotateMasterKey(key: Key, options: RotateOptions = RotateOptions()): RotationReport = on { h ->
        val out = RotationReportStruct()
        Arena().use { a -> check(lib.chatvault_store_rotate_master_key(h, a.key(key), a.rotateOptions(options, key.kdf), out)) }
        out.toReport()
    }

    /**
     * Starts a new key epoch in every conversation in one transaction
     * (see [rotateConversationKey]); returns how many were rotated.
     */
    fun rotateAllKeys(): Long = on { h ->
        val out = LongByReference()
        check(lib.chatvault_store_rotate_all_keys(h, out))
        out.value
    }

    /** Removes every trace of deleted data from the file and the write-ahead log (after [Status.SCRUB_INCOMPLETE]). */
    fun scrub() = on { h -> check(lib.chatvault_store_scrub(h)) }

    /** Rewrites the whole file from its live rows, then scrubs. */
    fun vacuum() = on { h -> check(lib.chatvault_store_vacuum(h)) }

    fun stats(): Stats = on { h ->
        val out = StatsStruct()
        check(lib.chatvault_store_stats(h, out))
        out.toStats()
    }

    /**
     * Compacts the store. `progress` is called after each transaction on
     * this thread; false stops the compaction after it, which then throws
     * [Status.CANCELLED], keeping what it committed (the store is valid;
     * compact again to go on). An exception it throws stops it the same
     * way and is rethrown once the library has returned.
     */
    @JvmOverloads
    fun compact(options: CompactOptions = CompactOptions(), progress: ((CompactProgress) -> Boolean)? = null): CompactReport =
        on { h ->
            val out = CompactReportStruct()
            val listener = progress?.let { CompactListener(it, guard) }
            Arena().use { a -> listener.finish(lib.chatvault_store_compact(h, a.compactOptions(options), listener, null, out)) }
            out.toReport()
        }

    /** Checks every sealed value and the file's structure; damage is in the report, not thrown. */
    fun verify(): VerifyReport = on { h ->
        fetch({ lib.chatvault_store_verify(h, it) }, Read::verifyReport, lib::chatvault_verify_report_free)
    }

    // ------------------------------------------------------------ archives

    /**
     * Exports `conversations` (every one if empty) to an encrypted archive
     * at `path`, under `archiveKey`; the file appears only when complete.
     * `progress` is called on this thread at the start, about every 64 KiB
     * and at the end; true goes on, false stops the export, which throws
     * [Status.CANCELLED] and leaves no file at `path` (a file already there
     * stays as it was). An exception it throws stops it the same way and
     * is rethrown in place of CANCELLED.
     */
    fun exportArchive(
        path: String,
        archiveKey: Key,
        conversations: List<Long> = emptyList(),
        progress: ((ArchiveProgress) -> Boolean)? = null
    ): ExportReport = exportArchive(path, archiveKey, ExportOptions(), conversations, progress)

    /**
     * [exportArchive] with `options` (the chunk size); a passphrase Key
     * made with [KdfParams] sets the archive's Argon2id cost.
     */
    @JvmOverloads
    fun exportArchive(
        path: String,
        archiveKey: Key,
        options: ExportOptions,
        conversations: List<Long> = emptyList(),
        progress: ((ArchiveProgress) -> Boolean)? = null
    ): ExportReport = on { h ->
        val p = path.toByteArray(Charsets.UTF_8)
        val ids = if (conversations.isEmpty()) null else conversations.toLongArray()
        val out = ExportReportStruct()
        val listener = progress?.let { ArchiveListener(it, guard) }
        Arena().use { a ->
            val k = a.key(archiveKey)
            val len = SizeT(p.size.toLong())
            val n = SizeT(conversations.size.toLong())
            listener.finish(
                if (options == ExportOptions() && archiveKey.kdf == null) {
                    lib.chatvault_store_export(h, p, len, k, ids, n, listener, null, out)
                } else {
                    lib.chatvault_store_export_with(h, p, len, k, a.exportOptions(archiveKey.kdf, options), ids, n, listener, null, out)
                }
            )
        }
        out.toReport()
    }

    /**
     * Imports the archive at `path`, all or nothing; importing it twice adds
     * nothing twice. A damaged archive throws [Status.ARCHIVE_TAMPERED] (or
     * ARCHIVE_TRUNCATED, ARCHIVE_CORRUPT, NOT_AN_ARCHIVE) and imports
     * nothing; the wrong key throws [Status.WRONG_KEY]. `progress` as in
     * [exportArchive]: false stops the import, which throws
     * [Status.CANCELLED] having changed nothing. (Its last call comes after
     * the import committed: there false changes nothing, and an exception
     * is still rethrown.)
     */
    fun importArchive(path: String, archiveKey: Key, progress: ((ArchiveProgress) -> Boolean)? = null): ImportReport =
        importArchive(path, archiveKey, ImportOptions(), progress)

    /** [importArchive] with `options` (a lower Argon2id ceiling: [Status.KDF_TOO_COSTLY] above it, nothing imported). */
    @JvmOverloads
    fun importArchive(
        path: String,
        archiveKey: Key,
        options: ImportOptions,
        progress: ((ArchiveProgress) -> Boolean)? = null
    ): ImportReport = on { h ->
        val p = path.toByteArray(Charsets.UTF_8)
        val out = ImportReportStruct()
        val listener = progress?.let { ArchiveListener(it, guard) }
        Arena().use { a ->
            val k = a.key(archiveKey)
            val len = SizeT(p.size.toLong())
            listener.finish(
                if (options == ImportOptions()) {
                    lib.chatvault_store_import(h, p, len, k, listener, null, out)
                } else {
                    lib.chatvault_store_import_with(h, p, len, k, a.importOptions(options), listener, null, out)
                }
            )
        }
        out.toReport()
    }

    /**
     * Writes `conversations` (every one if empty) to `path` as JSON Lines,
     * one message a line, UNENCRYPTED: for the user's own explicit "export
     * as text" only. The file appears complete or not at all. Returns how
     * many messages it wrote.
     */
    @JvmOverloads
    fun exportJsonLines(path: String, conversations: List<Long> = emptyList()): Long = on { h ->
        val p = path.toByteArray(Charsets.UTF_8)
        val ids = if (conversations.isEmpty()) null else conversations.toLongArray()
        val out = LongByReference()
        check(lib.chatvault_store_export_json_lines(h, p, SizeT(p.size.toLong()), ids, SizeT(conversations.size.toLong()), out))
        out.value
    }

    /**
     * Writes `conversation` to `path` as one self-contained HTML page,
     * UNENCRYPTED, its attachments in `<stem>_files` beside it: for the
     * user's explicit "export as a web page" only. Returns how many
     * messages it lists.
     */
    fun exportHtml(conversation: Long, path: String): Long = on { h ->
        val p = path.toByteArray(Charsets.UTF_8)
        val out = LongByReference()
        check(lib.chatvault_store_export_html(h, conversation, p, SizeT(p.size.toLong()), out))
        out.value
    }

    /** [exportHtml] with `options`: split into pages, a time zone, the user's own messages told apart. */
    fun exportHtml(conversation: Long, path: String, options: HtmlOptions): HtmlReport = on { h ->
        val p = path.toByteArray(Charsets.UTF_8)
        val out = HtmlReportStruct()
        val zone = options.zoneAt?.let { ZoneListener(it, guard) }
        Arena().use { a ->
            zone.finish(lib.chatvault_store_export_html_with(h, conversation, p, SizeT(p.size.toLong()), a.htmlOptions(options, zone), out))
        }
        out.toReport()
    }

    /**
     * Writes `conversations` (every one if empty) as HTML pages into the
     * directory `dir` (made if missing), UNENCRYPTED, with an index page
     * `index.html`; complete or not at all.
     */
    @JvmOverloads
    fun exportHtmlDir(dir: String, conversations: List<Long> = emptyList(), options: HtmlOptions = HtmlOptions()): HtmlReport =
        on { h ->
            val d = dir.toByteArray(Charsets.UTF_8)
            val ids = if (conversations.isEmpty()) null else conversations.toLongArray()
            val out = HtmlReportStruct()
            val zone = options.zoneAt?.let { ZoneListener(it, guard) }
            Arena().use { a ->
                zone.finish(
                    lib.chatvault_store_export_html_dir(
                        h, d, SizeT(d.size.toLong()), ids, SizeT(conversations.size.toLong()), a.htmlOptions(options, zone), out
                    )
                )
            }
            out.toReport()
        }

    // ------------------------------------------------------------ plaintext shapes (docs/EXPORT.md)

    /**
     * Message `id` as the JSON object of a JSON Lines export line, with an
     * `attachments` array if `withAttachments`. Unencrypted: show or share
     * it only as the user asked.
     */
    @JvmOverloads
    fun messageJson(id: MessageId, withAttachments: Boolean = true): String = on { h ->
        fetch({ lib.chatvault_message_json(h, MessageIdStruct.ByValue(id), if (withAttachments) 1 else 0, it) }, Read::text, lib::chatvault_text_free)
    }

    /** Conversation `id` as a JSON object (without its app data). */
    fun conversationJson(id: Long): String = on { h ->
        fetch({ lib.chatvault_conversation_json(h, id, it) }, Read::text, lib::chatvault_text_free)
    }

    /** Attachment `id`'s metadata as a JSON object (without its app data or content). */
    fun attachmentJson(id: Long): String = on { h ->
        fetch({ lib.chatvault_attachment_json(h, id, it) }, Read::text, lib::chatvault_text_free)
    }

    /** The name under which attachment `id` is safe to save on disk, as the exports name it. */
    fun attachmentFileName(id: Long): String = on { h ->
        fetch({ lib.chatvault_attachment_file_name(h, id, it) }, Read::text, lib::chatvault_text_free)
    }

    // ------------------------------------------------------------ conversations

    /** Creates a conversation and returns its id; [Status.CONVERSATION_EXISTS] if its external id is taken. */
    fun createConversation(conversation: NewConversation): Long = on { h ->
        val out = LongByReference()
        Arena().use { a -> check(lib.chatvault_conversation_create(h, a.newConversation(conversation), out)) }
        out.value
    }

    /** The id of the conversation with this external id, or null if there is none. */
    fun findConversation(externalId: String): Long? = on { h ->
        val b = externalId.toByteArray(Charsets.UTF_8)
        val out = LongByReference()
        val code = lib.chatvault_conversation_find(h, b, SizeT(b.size.toLong()), out)
        if (code == Status.NOT_FOUND.code) null else {
            check(code)
            out.value
        }
    }

    /** Conversation `id`'s metadata; [Status.NOT_FOUND] if there is none. */
    fun conversation(id: Long): Conversation = on { h ->
        fetch({ lib.chatvault_conversation_get(h, id, it) }, Read::conversation, lib::chatvault_conversation_free)
    }

    /** The conversation list, most recently active first: the `limit` first (0: all). */
    fun conversations(limit: Int = 0): List<ConversationSummary> = on { h ->
        fetch(
            { lib.chatvault_conversation_list_get(h, SizeT(limit.toLong()), it) },
            Read::conversationList,
            lib::chatvault_conversation_list_free
        )
    }

    /**
     * Changes a conversation's title, members, app data or retention in one
     * transaction (null fields stay as they are). A new retention applies
     * to messages appended from then on.
     */
    fun updateConversation(id: Long, changes: ConversationChanges) = on { h ->
        Arena().use { a -> check(lib.chatvault_conversation_update(h, id, a.conversationChanges(changes))) }
    }

    /**
     * Starts a new key epoch in conversation `id`: messages appended from
     * now on are sealed under a fresh key, and the next [compact] reseals
     * older ones and destroys the old keys. Returns the new epoch.
     */
    fun rotateConversationKey(id: Long): Long = on { h ->
        val out = IntByReference()
        check(lib.chatvault_conversation_rotate_key(h, id, out))
        Read.unsigned(out)
    }

    /** Deletes a conversation: its key is destroyed and its messages scrubbed. */
    fun deleteConversation(id: Long) = on { h -> check(lib.chatvault_conversation_delete(h, id)) }

    // ------------------------------------------------------------ messages

    /** Appends a message; a known external id returns that message's id and stores nothing. */
    fun append(conversation: Long, message: NewMessage): MessageId = on { h ->
        val out = MessageIdStruct()
        Arena().use { a -> check(lib.chatvault_message_append(h, conversation, a.newMessage(message), out)) }
        out.toId()
    }

    /** Appends (conversation, message) pairs in one transaction, all or none; their ids in order. */
    fun appendBatch(entries: List<Pair<Long, NewMessage>>): List<MessageId> {
        if (entries.isEmpty()) return emptyList()
        return on { h ->
            Arena().use { a ->
                val ids = a.messageIds(entries.map { MessageId(0, 0) }) ?: emptyArray()
                check(lib.chatvault_message_append_batch(h, a.batch(entries), SizeT(entries.size.toLong()), ids))
                ids.map { it.toId() }
            }
        }
    }

    /** The newest `limit` messages, oldest first. */
    fun latest(conversation: Long, limit: Int): List<Message> = page { h, out ->
        lib.chatvault_message_page_latest(h, conversation, SizeT(limit.toLong()), out)
    }

    /** The oldest `limit` messages, oldest first. */
    fun oldest(conversation: Long, limit: Int): List<Message> = page { h, out ->
        lib.chatvault_message_page_oldest(h, conversation, SizeT(limit.toLong()), out)
    }

    /** Up to `limit` messages just before `id` (which need not still exist), oldest first. */
    fun before(id: MessageId, limit: Int): List<Message> = page { h, out ->
        lib.chatvault_message_page_before(h, MessageIdStruct.ByValue(id), SizeT(limit.toLong()), out)
    }

    /** Up to `limit` messages just after `id` (which need not still exist), oldest first. */
    fun after(id: MessageId, limit: Int): List<Message> = page { h, out ->
        lib.chatvault_message_page_after(h, MessageIdStruct.ByValue(id), SizeT(limit.toLong()), out)
    }

    private inline fun page(crossinline call: (Pointer, PointerByReference) -> Int): List<Message> = on { h ->
        fetch({ call(h, it) }, Read::messagePage, lib::chatvault_message_page_free)
    }

    /**
     * Every message of `conversation`, oldest first (newest first with
     * `newestFirst`), fetched `pageSize` at a time as the sequence is
     * iterated. Iterate it while the store is open; messages appended
     * meanwhile after the last page read are included.
     */
    fun messages(conversation: Long, pageSize: Int = 100, newestFirst: Boolean = false): Sequence<Message> {
        require(pageSize > 0) { "pageSize must be positive, not $pageSize" }
        return sequence {
            if (newestFirst) {
                var page = latest(conversation, pageSize)
                while (page.isNotEmpty()) {
                    yieldAll(page.asReversed())
                    page = before(page.first().id, pageSize)
                }
            } else {
                var page = oldest(conversation, pageSize)
                while (page.isNotEmpty()) {
                    yieldAll(page)
                    page = after(page.last().id, pageSize)
                }
            }
        }
    }

    /** Message `id`; [Status.NOT_FOUND] if it does not exist (or expired). */
    fun message(id: MessageId): Message = on { h ->
        fetch({ lib.chatvault_message_get(h, MessageIdStruct.ByValue(id), it) }, Read::message, lib::chatvault_message_free)
    }

    /** Replaces a message's text and stamps it edited; the old text is scrubbed. */
    fun edit(id: MessageId, text: String) = on { h ->
        Arena().use { a ->
            val t = a.str(text)
            check(lib.chatvault_message_edit(h, MessageIdStruct.ByValue(id), t.ptr, t.len))
        }
    }

    /** Edits several messages in one transaction, all or none. */
    fun editAll(edits: List<Pair<MessageId, String>>) = on { h ->
        Arena().use { a ->
            check(
                lib.chatvault_messages_edit(
                    h, a.messageIds(edits.map { it.first }), a.strs(edits.map { it.second }), SizeT(edits.size.toLong())
                )
            )
        }
    }

    /** Deletes a message; its content is scrubbed. */
    fun delete(id: MessageId) = on { h -> check(lib.chatvault_message_delete(h, MessageIdStruct.ByValue(id))) }

    /** Deletes several messages in one transaction, all or none. */
    fun deleteAll(ids: List<MessageId>) = on { h ->
        Arena().use { a -> check(lib.chatvault_messages_delete(h, a.messageIds(ids), SizeT(ids.size.toLong()))) }
    }

    /** Marks `id` and every earlier message of its conversation read. */
    fun markRead(id: MessageId) = on { h -> check(lib.chatvault_message_mark_read(h, MessageIdStruct.ByValue(id))) }

    // ------------------------------------------------------------ search

    /** One page of hits, newest first; pass `page.next` as the next query's `after`. */
    fun search(query: SearchQuery): SearchPage = on { h ->
        Arena().use { a ->
            val q = a.searchQuery(query, query.after)
            fetch({ lib.chatvault_search(h, q, it) }, Read::searchPage, lib::chatvault_search_page_free)
        }
    }

    /** Every hit, newest first, fetched a page (`query.limit`) at a time as the sequence is iterated. */
    fun searchAll(query: SearchQuery): Sequence<SearchHit> = sequence {
        var page = search(query)
        while (true) {
            yieldAll(page.hits)
            val next = page.next ?: break
            page = search(query.copy(after = next))
        }
    }

    /**
     * Gives search filters to the segments of an upgraded store that have
     * none yet, for up to `timeBudgetMs` (0: no budget); the report's
     * `segmentsRemaining` 0 means the index is complete.
     */
    @JvmOverloads
    fun indexForSearch(timeBudgetMs: Long = 0): IndexReport = on { h ->
        val out = IndexReportStruct()
        check(lib.chatvault_index_for_search(h, timeBudgetMs, out))
        out.toReport()
    }

    // ------------------------------------------------------------ attachments

    /**
     * Starts writing an attachment of `message`. Write its content, then
     * [AttachmentWriter.finish]; closing an unfinished writer drops it.
     * While a writer is open, [close] throws [Status.STORE_IN_USE].
     */
    fun beginAttachment(message: MessageId, attachment: NewAttachment): AttachmentWriter = on { h ->
        val out = PointerByReference()
        Arena().use { a ->
            check(lib.chatvault_attachment_begin(h, MessageIdStruct.ByValue(message), a.newAttachment(attachment), out))
        }
        AttachmentWriter(out.value ?: throw IllegalStateException("the library returned no writer"), this)
    }

    /** Opens attachment `id`'s content for reading any range; it outlives the store. */
    fun openAttachment(id: Long): AttachmentReader = on { h ->
        val out = PointerByReference()
        check(lib.chatvault_attachment_open(h, id, out))
        AttachmentReader(out.value ?: throw IllegalStateException("the library returned no reader"))
    }

    /** Attachment `id`'s metadata. */
    fun attachment(id: Long): Attachment = on { h ->
        fetch({ lib.chatvault_attachment_get(h, id, it) }, Read::attachment, lib::chatvault_attachment_free)
    }

    /** A message's attachments, in the order they were written. */
    fun attachments(message: MessageId): List<Attachment> = on { h ->
        fetch(
            { lib.chatvault_message_attachments(h, MessageIdStruct.ByValue(message), it) },
            Read::attachmentList,
            lib::chatvault_attachment_list_free
        )
    }

    /** A page of a conversation's gallery, newest first: at most `limit` (0: all), media types starting with `mediaTypePrefix`, after attachment `before`. */
    fun gallery(conversation: Long, limit: Int = 0, mediaTypePrefix: String? = null, before: Long? = null): List<Attachment> =
        on { h ->
            val prefix = mediaTypePrefix?.toByteArray(Charsets.UTF_8)
            fetch(
                {
                    lib.chatvault_attachments(
                        h, conversation, SizeT(limit.toLong()), prefix, SizeT((prefix?.size ?: 0).toLong()),
                        (if (before != null) 1 else 0).toByte(), before ?: 0, it
                    )
                },
                Read::attachmentList,
                lib::chatvault_attachment_list_free
            )
        }

    /** Deletes an attachment, keeping its message. */
    fun deleteAttachment(id: Long) = on { h -> check(lib.chatvault_attachment_delete(h, id)) }

    /** Removes the content of the attachments `filter` matches, keeping their metadata. */
    fun clearAttachments(filter: AttachmentFilter): ClearReport = on { h ->
        val out = ClearReportStruct()
        Arena().use { a -> check(lib.chatvault_clear_attachments(h, a.attachmentFilter(filter), out)) }
        out.toReport()
    }

    /** What each conversation takes on disk, largest first. */
    fun storageUsage(): List<StorageUsage> = on { h ->
        fetch({ lib.chatvault_storage_usage(h, it) }, Read::storageUsage, lib::chatvault_storage_usage_free)
    }
}

/**
 * Which threads are running a store's user callbacks (progress, clock, time
 * zone): the C API forbids calling into a store from its own callbacks (a
 * call could wait on the operation that called back, forever), so the
 * store refuses them with IllegalStateException. One per store.
 */
internal class CallbackGuard {
    private val depth = ThreadLocal<Int>()

    /** Runs `f` marked as inside this store's callback on this thread. */
    inline fun <T> inside(f: () -> T): T {
        val before = enter()
        try {
            return f()
        } finally {
            leave(before)
        }
    }

    fun enter(): Int {
        val before = depth.get() ?: 0
        depth.set(before + 1)
        return before
    }

    fun leave(before: Int) {
        if (before == 0) depth.remove() else depth.set(before)
    }

    /** Throws IllegalStateException if this thread is inside one of the store's callbacks. */
    fun refuse() {
        check((depth.get() ?: 0) == 0) {
            "this thread is running the store's callback (progress, clock or time zone): code must not call into the same store " +
                "from a progress callback; call it after the operation returns (return false to stop the operation)"
        }
    }
}

/**
 * A Kotlin progress lambda behind a C callback: true is
 * CHATVAULT_PROGRESS_CONTINUE, false CHATVAULT_PROGRESS_STOP. An exception
 * it throws stops the operation too and is kept for [finish] to rethrow;
 * the lambda is not called again after one.
 */
internal abstract class ProgressListener<P>(private val f: (P) -> Boolean, private val guard: CallbackGuard?) {
    @Volatile
    var failure: Throwable? = null

    protected fun call(progress: Pointer?, read: (Pointer) -> P): Int {
        if (failure != null || progress == null) return Raw.PROGRESS_STOP
        return try {
            val goOn = if (guard == null) f(read(progress)) else guard.inside { f(read(progress)) }
            if (goOn) Raw.PROGRESS_CONTINUE else Raw.PROGRESS_STOP
        } catch (t: Throwable) {
            failure = t
            Raw.PROGRESS_STOP
        }
    }
}

private class CompactListener(f: (CompactProgress) -> Boolean, guard: CallbackGuard) :
    ProgressListener<CompactProgress>(f, guard), CompactProgressFn {
    override fun invoke(userData: Pointer?, progress: Pointer?): Int = call(progress, Read::compactProgress)
}

internal class ArchiveListener(f: (ArchiveProgress) -> Boolean, guard: CallbackGuard? = null) :
    ProgressListener<ArchiveProgress>(f, guard), ArchiveProgressFn {
    override fun invoke(userData: Pointer?, progress: Pointer?): Int = call(progress, Read::archiveProgress)
}

/** A store's clock for the library; an exception falls back to the system clock (the library cannot take one). */
internal class Clock(private val f: () -> Long, private val guard: CallbackGuard) : ClockFn {
    override fun invoke(ctx: Pointer?): Long = try {
        guard.inside(f)
    } catch (t: Throwable) {
        System.currentTimeMillis()
    }
}

/**
 * An HTML export's zone function for the library. An exception it throws
 * is kept for [finish] to rethrow after the export (the library cannot
 * take one: meanwhile the zone is UTC).
 */
internal class ZoneListener(private val f: (Long) -> HtmlZone, private val guard: CallbackGuard) : ZoneFn {
    @Volatile
    var failure: Throwable? = null

    override fun invoke(ctx: Pointer?, ms: Long, offsetSeconds: Pointer, name: Pointer, nameCap: SizeT, nameLen: Pointer) {
        if (failure != null) return
        try {
            val zone = guard.inside { f(ms) }
            offsetSeconds.setInt(0, zone.offsetSeconds)
            val bytes = (zone.name ?: "").toByteArray(Charsets.UTF_8)
            if (bytes.size <= nameCap.toLong()) {
                name.write(0, bytes, 0, bytes.size)
                if (Native.SIZE_T_SIZE == 8) nameLen.setLong(0, bytes.size.toLong()) else nameLen.setInt(0, bytes.size)
            }
        } catch (t: Throwable) {
            failure = t
        }
    }
}

/** Rethrows the zone function's exception, if it threw one, else checks `code`. */
internal fun ZoneListener?.finish(code: Int) {
    this?.failure?.let { throw it }
    check(code)
}

/** [SearchQuery.matches]: the library's ranges as String indices. */
internal fun searchMatches(query: SearchQuery, text: String): List<IntRange>? {
    val lib = Raw.lib
    val utf8 = text.toByteArray(Charsets.UTF_8)
    try {
        return Arena().use { a ->
            val out = PointerByReference()
            check(lib.chatvault_search_matches(a.searchQuery(query, null), utf8, SizeT(utf8.size.toLong()), out))
            val list = out.value ?: return@use null
            try {
                val l = ListStruct(list)
                Utf16.ranges(utf8, Read.matchRanges(l.items, l.len.toLong()))
            } finally {
                lib.chatvault_match_list_free(list)
            }
        }
    } finally {
        utf8.fill(0)
    }
}
