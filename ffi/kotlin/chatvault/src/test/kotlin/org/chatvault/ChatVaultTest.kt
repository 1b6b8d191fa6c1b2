package org.chatvault

import com.sun.jna.Memory
import java.io.ByteArrayInputStream
import java.io.File
import java.io.RandomAccessFile
import java.util.Collections
import java.util.concurrent.CountDownLatch
import kotlin.system.exitProcess

// The JVM suite of the Kotlin package, run against the built library by
// ffi/tests/kotlin.rs (no JUnit offline: a small runner below).
//
// Usage: java -Djna.library.path=<dir of libchatvault_ffi.so> -cp ... org.chatvault.ChatVaultTestKt <scratch dir> [test name ...]
// Prints one PASS or FAIL line per test, then "kotlin suite: all N passed"
// and exits 0, or exits 1 naming the failures.

class AssertionFailed(message: String) : Exception(message)

fun fail(message: String): Nothing = throw AssertionFailed(message)

fun <T> assertEq(expected: T, actual: T, what: String) {
    if (expected != actual) fail("$what: expected <$expected>, got <$actual>")
}

fun assertTrue(condition: Boolean, what: String) {
    if (!condition) fail(what)
}

/** Runs `block`, which must throw a ChatVaultException with `status` and a non-empty library message. */
fun expectStatus(status: Status, what: String, block: () -> Unit): ChatVaultException {
    try {
        block()
    } catch (e: ChatVaultException) {
        if (e.status != status) fail("$what: expected $status, got ${e.status} (${e.message})")
        assertTrue(e.message!!.length > "${status.name}: ".length, "$what: the exception carries the library's message")
        return e
    }
    fail("$what: expected $status, but nothing was thrown")
}

inline fun <reified E : Throwable> expectThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        fail("$what: expected ${E::class.java.simpleName}, got $e")
    }
    fail("$what: expected ${E::class.java.simpleName}, but nothing was thrown")
}

class Suite(private val scratch: File) {
    private var counter = 0
    private val keyBytes = ByteArray(32) { (it * 7 + 1).toByte() }

    fun key(): Key = Key.raw(keyBytes)

    fun otherKey(seed: Int): Key = Key.raw(ByteArray(32) { (it * 13 + seed).toByte() })

    fun path(name: String): String {
        counter += 1
        return File(scratch, "${counter}-$name").path
    }

    fun newStore(name: String): Pair<Store, String> {
        val p = path(name)
        return key().use { ChatVault.create(p, it) } to p
    }

    fun msg(text: String, at: Long, sender: String = "alice", externalId: String? = null) =
        NewMessage(sender = sender, text = text, sentAtMs = at, externalId = externalId)

    val tests: List<Pair<String, () -> Unit>> = listOf(
        "status_enum_matches_the_library" to ::statusEnumMatchesTheLibrary,
        "create_open_close" to ::createOpenClose,
        "wrong_key_is_refused_with_its_status" to ::wrongKey,
        "key_is_wiped_on_close" to ::keyIsWiped,
        "conversations_create_find_get_list_delete" to ::conversations,
        "append_and_page" to ::appendAndPage,
        "message_sequence_is_lazy" to ::sequenceIsLazy,
        "append_batch_is_all_or_nothing" to ::appendBatch,
        "get_edit_delete_mark_read" to ::getEditDeleteMarkRead,
        "search_ranges_are_string_indices" to ::search,
        "utf8_offsets_become_utf16_indices" to ::utf16Conversion,
        "export_then_import" to ::exportImport,
        "tampered_archive_is_refused_and_store_unchanged" to ::tamperedArchive,
        "compact_verify_stats_scrub_vacuum" to ::maintenance,
        "progress_exception_is_rethrown" to ::progressException,
        "attachments_stream_read_list_clear_delete" to ::attachments,
        "change_key_and_rotate_master_key" to ::keys,
        "many_threads_append_and_page" to ::manyThreads,
        "returned_allocations_are_freed" to ::allocationsAreFreed,
        "close_waits_for_calls_in_flight" to ::closeWhileInUse,
        "struct_sizes_match_the_library" to ::structSizes,
        "library_structs_follow_their_struct_size" to ::structSizeRule,
        "store_options_and_path" to ::storeOptions,
        "max_size_bytes_gives_storage_full" to ::storageFull,
        "update_conversation_title_members_retention" to ::updateConversation,
        "rotate_conversation_keys_messages_still_read" to ::rotateConversationKeys,
        "inspect_archive_counts_and_refusals" to ::inspectArchive,
        "plaintext_json_lines_and_html_exports" to ::plaintextExports,
        "cancelled_export_leaves_no_file" to ::cancelExport,
        "cancelled_import_leaves_store_unchanged" to ::cancelImport,
        "kdf_params_for_a_new_passphrase" to ::kdfParams,
        "export_and_import_options" to ::archiveOptions,
        "store_clock_stamps_and_survives_gc" to ::storeClock,
        "html_zone_per_instant_follows_summer_time" to ::htmlZoneAt,
        "search_query_matches_a_text_as_string_indices" to ::searchMatches,
        "plaintext_shapes_json_rfc3339_file_name" to ::plaintextShapes,
        "attachment_writer_keeps_its_store_and_clock" to ::writerKeepsStore,
        "callbacks_cannot_call_into_their_store" to ::callbacksCannotReenter,
        "key_close_waits_for_a_call_using_it" to ::keyCloseWaits,
        "passphrase_chars_encode_as_utf8" to ::passphraseUtf8,
        "str_struct_refuses_more_than_a_byte_array" to ::strStructTooLong
    )

    fun plaintextShapes() {
        assertEq("2023-11-14T22:13:20.123Z", ChatVault.rfc3339(1_700_000_000_123), "RFC 3339 with milliseconds")
        val (s, _) = newStore("shapes")
        s.use {
            val c = s.createConversation(NewConversation("shapes ✓"))
            val m = s.append(c, msg("héllo \"quoted\"", 1_700_000_000_123))
            val a = s.beginAttachment(m, NewAttachment("image/png", "../../photo 1.png")).use { w ->
                w.write(byteArrayOf(1, 2, 3))
                w.finish()
            }
            val json = s.messageJson(m)
            assertTrue(json.startsWith("{") && json.contains("héllo \\\"quoted\\\""), "the text, escaped: $json")
            assertTrue(json.contains("2023-11-14T22:13:20.123Z") && json.contains("\"attachments\":[{"), "time and attachments: $json")
            assertTrue(!s.messageJson(m, withAttachments = false).contains("attachments"), "no attachments key")
            assertTrue(s.conversationJson(c).contains("shapes ✓"), "the conversation's title")
            assertTrue(s.attachmentJson(a).contains("image/png"), "the attachment's media type")
            assertEq("_.._photo_1.png", s.attachmentFileName(a), "no directory part")
            expectStatus(Status.NOT_FOUND, "an unknown attachment") { s.attachmentFileName(424242) }
            expectStatus(Status.NOT_FOUND, "an unknown message") { s.messageJson(MessageId(c, 99)) }
        }
    }

    val threePasses = KdfParams(memoryKib = 19 * 1024, iterations = 3, parallelism = 1)

    fun kdfParams() {
        val p = path("kdf-params")
        Key.passphrase("weak".toCharArray(), KdfParams(1024, 1, 1)).use { k ->
            expectStatus(Status.INVALID_ARGUMENT, "Argon2id below the minimum") { ChatVault.create(p, k) }
        }
        assertTrue(!File(p).exists(), "a refused create leaves no file")
        Key.passphrase("strong".toCharArray(), threePasses).use { k ->
            ChatVault.create(p, k).close()
            expectStatus(Status.INVALID_ARGUMENT, "a Key with KdfParams at open") { ChatVault.open(p, k) }
        }
        Key.passphrase("strong".toCharArray()).use { k ->
            expectStatus(Status.KDF_TOO_COSTLY, "the header holds 3 passes: a ceiling of 2 refuses it") {
                ChatVault.open(p, k, StoreOptions(maxKdf = KdfLimit(19 * 1024, 2, 1)))
            }
            ChatVault.open(p, k).use { s ->
                Key.passphrase("stronger".toCharArray(), KdfParams(19 * 1024, 4, 1)).use { s.changeKey(it) }
            }
        }
        Key.passphrase("stronger".toCharArray()).use { k ->
            expectStatus(Status.KDF_TOO_COSTLY, "changeKey set 4 passes") {
                ChatVault.open(p, k, StoreOptions(maxKdf = KdfLimit(19 * 1024, 3, 1)))
            }
            ChatVault.open(p, k).use { s ->
                Key.passphrase("rotated".toCharArray(), KdfParams(19 * 1024, 5, 1)).use { n ->
                    assertTrue(s.rotateMasterKey(n).finished, "rotation finished")
                }
            }
        }
        Key.passphrase("rotated".toCharArray()).use { k ->
            expectStatus(Status.KDF_TOO_COSTLY, "rotateMasterKey set 5 passes") {
                ChatVault.open(p, k, StoreOptions(maxKdf = KdfLimit(19 * 1024, 4, 1)))
            }
            ChatVault.open(p, k).close()
        }
    }

    fun archiveOptions() {
        val (s, _) = newStore("archive-options")
        s.use {
            val c = s.createConversation(NewConversation("long"))
            val random = java.util.Random(7)
            val body = String(CharArray(20_000) { 'a' + random.nextInt(26) })
            s.append(c, msg(body, 1))
            val plain = path("plain.cvarchive")
            val strong = path("strong.cvarchive")
            val small = path("small.cvarchive")
            Key.passphrase("archive".toCharArray()).use { k -> s.exportArchive(plain, k) }
            val er = Key.passphrase("archive".toCharArray(), threePasses).use { k ->
                expectStatus(Status.INVALID_ARGUMENT, "a chunk size that is not a power of two") {
                    s.exportArchive(small, k, ExportOptions(chunkSize = 1000))
                }
                assertTrue(!File(small).exists(), "a refused export leaves no file")
                s.exportArchive(strong, k, ExportOptions())
                s.exportArchive(small, k, ExportOptions(chunkSize = 1024))
            }
            assertTrue(er.bytes >= File(plain).length() + 10 * 16, "1 KiB chunks: a tag each (${er.bytes} vs ${File(plain).length()})")
            Key.passphrase("archive".toCharArray()).use { k ->
                val two = ImportOptions(maxKdf = KdfLimit(19 * 1024, 2, 1))
                ChatVault.inspectArchive(plain, k, two)
                expectStatus(Status.KDF_TOO_COSTLY, "inspect: the archive asks for 3 passes") { ChatVault.inspectArchive(strong, k, two) }
                expectStatus(Status.KDF_TOO_COSTLY, "import: the archive asks for 3 passes") { s.importArchive(small, k, two) }
                val r = s.importArchive(small, k, ImportOptions(maxKdf = KdfLimit(19 * 1024, 3, 1)))
                assertEq(1L, r.messagesSkipped, "imported under a ceiling that allows it (already there)")
            }
        }
    }

    /** Opens a store whose clock lambda nothing but the Store references. */
    fun storeWithClock(p: String, now: java.util.concurrent.atomic.AtomicLong, create: Boolean): Store = key().use { k ->
        val options = StoreOptions(clock = { now.get() })
        if (create) ChatVault.create(p, k, options) else ChatVault.open(p, k, options)
    }

    /** Begins an attachment in a new clock store and returns only the writer, and a weak reference to the store. */
    private fun writerOnly(p: String, now: java.util.concurrent.atomic.AtomicLong): Pair<AttachmentWriter, java.lang.ref.WeakReference<Store>> {
        val s = storeWithClock(p, now, create = true)
        val c = s.createConversation(NewConversation("media"))
        val m = s.append(c, msg("a photo", 1))
        return s.beginAttachment(m, NewAttachment("image/png")) to java.lang.ref.WeakReference(s)
    }

    fun writerKeepsStore() {
        val now = java.util.concurrent.atomic.AtomicLong(1_700_000_000_000)
        val (w, weak) = writerOnly(path("writer-clock"), now)
        w.write(ByteArray(1000) { it.toByte() })
        // Nothing but the writer references the Store (and its clock callback) now.
        repeat(10) {
            System.gc()
            Thread.sleep(20)
        }
        // Checked before finish: a collected clock callback would crash the JVM there.
        assertTrue(weak.get() != null, "the writer keeps its store (and its clock) from the garbage collector")
        now.set(1_800_000_000_000)
        val id = w.finish()
        val s = weak.get() ?: fail("the store was collected")
        s.use { assertEq(1_800_000_000_000, it.attachment(id).createdAtMs, "finish stamped the clock's time") }
    }

    /** Runs `block` on another thread, failing if it has not returned within 60 s (a deadlock). */
    private fun withinTimeout(what: String, block: () -> Unit) {
        var failure: Throwable? = null
        val t = Thread { try { block() } catch (e: Throwable) { failure = e } }
        t.isDaemon = true
        t.start()
        t.join(60_000)
        if (t.isAlive) fail("$what: still running after 60 s (deadlocked)")
        failure?.let { throw it }
    }

    fun callbacksCannotReenter() {
        val (s, _) = newStore("reenter")
        fill(s, 2, 10)
        val archive = path("reenter.cva")
        withinTimeout("store.close() from a compaction's progress") {
            val e = expectThrows<IllegalStateException>("close() from a progress callback") {
                s.compact { s.close(); true }
            }
            assertTrue(e.message!!.contains("must not call into the same store"), "says why: ${e.message}")
        }
        withinTimeout("store.stats() from an export's progress") {
            val e = expectThrows<IllegalStateException>("stats() from a progress callback") {
                s.exportArchive(archive, otherKey(3)) { s.stats(); true }
            }
            assertTrue(e.message!!.contains("must not call into the same store"), "says why: ${e.message}")
        }
        s.exportArchive(archive, otherKey(3))
        withinTimeout("store.stats() from an import's progress") {
            expectThrows<IllegalStateException>("stats() from an import's callback") {
                s.importArchive(archive, otherKey(3)) { s.stats(); true }
            }
        }
        assertTrue(!s.isClosed, "the store stayed open")
        assertEq(20L, s.stats().messages, "the store still works after the refusals")
        // Outside callbacks, close works.
        s.close()
        assertTrue(s.isClosed, "closed after the callbacks")
    }

    fun keyCloseWaits() {
        val k = Key.raw(ByteArray(32) { 7 })
        val closing = CountDownLatch(1)
        var closer: Thread? = null
        val seen = k.withBytes { _, bytes ->
            closer = Thread {
                closing.countDown()
                k.close()
            }.also { it.start() }
            closing.await()
            Thread.sleep(200)
            bytes.copyOf()
        }
        closer!!.join(10_000)
        assertEq(List(32) { 7.toByte() }, seen.toList(), "close() did not zero the bytes while a call used them")
        assertTrue(k.isClosed, "closed once the call returned")
    }

    fun passphraseUtf8() {
        val text = "pässwörd ✓ 𝄞 ключ " + "é€".repeat(300)
        Key.passphrase(text.toCharArray()).use { k ->
            k.withBytes { _, bytes -> assertEq(text.toByteArray(Charsets.UTF_8).toList(), bytes.toList(), "UTF-8 of the chars") }
        }
        Key.passphrase(CharArray(0)).use { k -> k.withBytes { _, bytes -> assertEq(0, bytes.size, "empty") } }
        expectThrows<java.nio.charset.CharacterCodingException>("a lone surrogate is not a passphrase") {
            Key.passphrase(charArrayOf('a', '\uD800'))
        }
    }

    fun strStructTooLong() {
        val s = StrStruct()
        s.ptr = Memory(1)
        s.len = SizeT(3L shl 30)
        val e = expectThrows<IllegalStateException>("3 GiB as a ByteArray") { s.bytes() }
        assertTrue(e.message!!.contains("more than a ByteArray holds"), "says why: ${e.message}")
    }

    fun storeClock() {
        val p = path("clock")
        val now = java.util.concurrent.atomic.AtomicLong(1_500_000_000_000)
        storeWithClock(p, now, create = true).use { s ->
            val c = s.createConversation(NewConversation("timed"))
            assertEq(1_500_000_000_000, s.conversation(c).createdAtMs, "created at the clock's time")
            // The JVM collects what nothing references: the Store must keep the callback.
            repeat(3) {
                System.gc()
                Thread.sleep(20)
            }
            now.set(1_600_000_000_000)
            val d = s.createConversation(NewConversation("later"))
            assertEq(1_600_000_000_000, s.conversation(d).createdAtMs, "the clock still answers after GC")
            val a = path("clock.cvarchive")
            key().use { k ->
                s.exportArchive(a, k)
                assertEq(1_600_000_000_000, ChatVault.inspectArchive(a, k).exportedAtMs, "the archive's export time")
            }
        }
    }

    fun htmlZoneAt() {
        val (s, _) = newStore("zones")
        s.use {
            val c = s.createConversation(NewConversation("paris"))
            // Europe/Paris went from CET to CEST at 2024-03-31 01:00 UTC.
            val switch = java.time.Instant.parse("2024-03-31T01:00:00Z").toEpochMilli()
            s.append(c, msg("before", switch - 1_800_000))
            s.append(c, msg("after", switch + 1_800_000))
            val paris = java.time.ZoneId.of("Europe/Paris")
            val tz = java.util.TimeZone.getTimeZone(paris)
            val calls = java.util.concurrent.atomic.AtomicInteger()
            val zoneAt = { ms: Long ->
                calls.incrementAndGet()
                val instant = java.time.Instant.ofEpochMilli(ms)
                val dst = paris.rules.isDaylightSavings(instant)
                HtmlZone(paris.rules.getOffset(instant).totalSeconds, tz.getDisplayName(dst, java.util.TimeZone.SHORT, java.util.Locale.ROOT))
            }
            val html = path("paris.html")
            val report = s.exportHtml(c, html, HtmlOptions(zoneAt = zoneAt))
            assertEq(2L, report.messages, "both messages")
            assertTrue(calls.get() >= 2, "the zone was asked per instant (${calls.get()} calls)")
            val page = File(html).readText()
            assertTrue(page.contains("CET (UTC+01:00)"), "winter time before the switch")
            assertTrue(page.contains("CEST (UTC+02:00)"), "summer time after it")
            assertTrue(page.contains("01:30") && page.contains("03:30"), "local times 01:30 CET and 03:30 CEST")
            expectStatus(Status.INVALID_ARGUMENT, "a fixed zone and a function") {
                s.exportHtml(c, path("both.html"), HtmlOptions(zone = HtmlZone(3600), zoneAt = zoneAt))
            }
            val e = expectThrows<IllegalStateException>("the zone function's exception") {
                s.exportHtml(c, path("throws.html"), HtmlOptions(zoneAt = { throw IllegalStateException("no tz data") }))
            }
            assertEq("no tz data", e.message, "rethrown as it was")
            val dir = path("paris-site")
            s.exportHtmlDir(dir, listOf(c), HtmlOptions(zoneAt = zoneAt))
            assertTrue(File(dir).listFiles()!!.any { f -> f.name != "index.html" && f.readText().contains("CEST (UTC+02:00)") }, "the directory export too")
        }
    }

    fun searchMatches() {
        val text = "🙂 东京 see"
        val ranges = SearchQuery("东 东京 see").matches(text) ?: fail("the text matches")
        assertEq(listOf("东京", "see"), ranges.map { text.substring(it) }, "ranges are String indices past the emoji")
        assertEq(null, SearchQuery("nope").matches(text), "no match")
        assertEq(null, SearchQuery("...").matches("..."), "a query with no word")
        val cafe = "Un café"
        assertEq(listOf("café"), SearchQuery("CAFE").matches(cafe)!!.map { cafe.substring(it) }, "folded as search folds")
    }

    fun statusEnumMatchesTheLibrary() {
        for (s in Status.values()) {
            assertEq("CHATVAULT_STATUS_${s.name}", ChatVault.statusName(s.code), "the C name of ${s.code}")
            assertEq(s, Status.of(s.code), "Status.of(${s.code})")
        }
        assertEq(Status.UNKNOWN, Status.of(999), "an unknown number")
        val e = ChatVaultException(Status.of(999), "x", 999)
        assertEq(999, e.code, "the number of an unknown status is kept")
        assertTrue(ChatVault.version.isNotEmpty(), "a version")
    }

    fun createOpenClose() {
        val (store, p) = newStore("store")
        store.close()
        store.close() // twice is fine
        assertTrue(store.isClosed, "closed")
        expectThrows<IllegalStateException>("a call on a closed store") { store.stats() }
        key().use { k ->
            expectStatus(Status.ALREADY_EXISTS, "create over a store") { ChatVault.create(p, k) }
            ChatVault.open(p, k).use { assertEq(0L, it.stats().conversations, "an empty store") }
            expectStatus(Status.NO_SUCH_STORE, "open a missing store") { ChatVault.open(path("missing"), k) }
        }
    }

    fun wrongKey() {
        val (store, p) = newStore("wrong-key")
        store.use { it.createConversation(NewConversation("t")) }
        otherKey(3).use { k -> expectStatus(Status.WRONG_KEY, "another raw key") { ChatVault.open(p, k) } }
        Key.passphrase("not the key".toCharArray()).use { k ->
            expectStatus(Status.WRONG_KEY, "a passphrase for a raw-key store") { ChatVault.open(p, k) }
        }
        Key.raw(ByteArray(5)).use { k ->
            expectStatus(Status.INVALID_ARGUMENT, "a raw key of 5 bytes") { ChatVault.open(p, k) }
        }
        key().use { k -> ChatVault.open(p, k).use { assertEq(1L, it.stats().conversations, "the right key opens it") } }
    }

    fun keyIsWiped() {
        val source = ByteArray(32) { 9 }
        val k = Key.raw(source)
        val field = Key::class.java.getDeclaredField("bytes")
        field.isAccessible = true
        val inside = field.get(k) as ByteArray
        assertTrue(inside !== source, "the key keeps its own copy")
        assertTrue(inside.all { it == 9.toByte() }, "the copy holds the bytes")
        k.close()
        assertTrue(inside.all { it == 0.toByte() }, "close zeroes the key's bytes")
        assertTrue(k.isClosed, "closed")
        expectThrows<IllegalStateException>("a closed key is refused") { ChatVault.create(path("closed-key"), k) }
        val chars = "pass phrase ünïcode".toCharArray()
        Key.passphrase(chars).use { pk ->
            val b = field.get(pk) as ByteArray
            assertEq("pass phrase ünïcode", String(b, Charsets.UTF_8), "a passphrase is its UTF-8 bytes")
        }
    }

    fun conversations() {
        newStore("conversations").first.use { s ->
            val id = s.createConversation(
                NewConversation(
                    title = "Team 🚀",
                    externalId = "ext-1",
                    members = listOf("alice", "bob", "çé"),
                    appData = byteArrayOf(1, 2, 3),
                    createdAtMs = 1_700_000_000_000,
                    retentionMs = 86_400_000
                )
            )
            val other = s.createConversation(NewConversation(title = "Other"))
            assertEq(id, s.findConversation("ext-1"), "found by external id")
            assertEq(null, s.findConversation("nope"), "an unknown external id")
            expectStatus(Status.CONVERSATION_EXISTS, "a taken external id") {
                s.createConversation(NewConversation(title = "Dup", externalId = "ext-1"))
            }
            val c = s.conversation(id)
            assertEq("Team 🚀", c.title, "title")
            assertEq("ext-1", c.externalId, "external id")
            assertEq(listOf("alice", "bob", "çé"), c.members, "members")
            assertEq(listOf<Byte>(1, 2, 3), c.appData.toList(), "app data")
            assertEq(1_700_000_000_000L, c.createdAtMs, "created at")
            assertEq(86_400_000L, c.retentionMs, "retention")
            assertEq(null, c.readUpToSeq, "nothing read")
            assertEq(c, s.conversation(id), "two reads of a conversation are equal")
            assertEq(null, s.conversation(other).externalId, "no external id")
            assertEq(null, s.conversation(other).retentionMs, "no retention")
            val now = System.currentTimeMillis()
            s.append(other, msg("first", now))
            s.append(other, msg("second", now + 1))
            val list = s.conversations()
            assertEq(2, list.size, "two summaries")
            assertEq(other, list[0].conversation.id, "the active one first")
            assertEq("second", list[0].lastMessage?.text, "its last message")
            assertEq(2L, list[0].unreadCount, "unread")
            assertEq(null, list[1].lastMessage, "an empty conversation has no last message")
            assertEq(1, s.conversations(limit = 1).size, "limit")
            s.deleteConversation(id)
            expectStatus(Status.NOT_FOUND, "a deleted conversation") { s.conversation(id) }
            assertEq(listOf(other), s.conversations().map { it.conversation.id }, "the list after delete")
            expectStatus(Status.NOT_FOUND, "delete twice") { s.deleteConversation(id) }
        }
    }

    fun appendAndPage() {
        newStore("paging").first.use { s ->
            val c = s.createConversation(NewConversation("paging"))
            val t0 = 1_700_000_000_000L
            val expires = System.currentTimeMillis() + 86_400_000
            val ids = (1..250).map { i -> s.append(c, msg("message $i 😀", t0 + i, sender = if (i % 2 == 0) "bob" else "alice")) }
            assertEq((1..250L).toList(), ids.map { it.seq }, "sequence numbers")
            val reply = s.append(
                c,
                NewMessage("bob", "a reply", t0 + 300, externalId = "srv-1", replyToSeq = 3, extra = byteArrayOf(7), expiresAtMs = expires)
            )
            assertEq(reply, s.append(c, NewMessage("bob", "retry", t0 + 301, externalId = "srv-1")), "a known external id returns its message")
            val r = s.message(reply)
            assertEq("srv-1", r.externalId, "external id")
            assertEq(3L, r.replyToSeq, "reply to")
            assertEq(listOf<Byte>(7), r.extra.toList(), "extra")
            assertEq(s.message(reply), r, "two reads of a message are equal (arrays compared by content)")
            assertEq(s.message(reply).hashCode(), r.hashCode(), "and hash alike")
            assertTrue(r.copy(extra = byteArrayOf(8)) != r, "a different extra is a different message")
            assertEq(expires, r.expiresAtMs, "expires at")
            assertEq(null, s.message(ids[0]).replyToSeq, "not a reply")
            val latest = s.latest(c, 10)
            assertEq((242..251L).toList(), latest.map { it.id.seq }, "latest, oldest first")
            assertEq((1..10L).toList(), s.oldest(c, 10).map { it.id.seq }, "oldest")
            assertEq((95..99L).toList(), s.before(MessageId(c, 100), 5).map { it.id.seq }, "before")
            assertEq((101..105L).toList(), s.after(MessageId(c, 100), 5).map { it.id.seq }, "after")
            assertEq("message 100 😀", s.message(MessageId(c, 100)).text, "text round trip")
            val all = s.messages(c, pageSize = 7).toList()
            assertEq((1..251L).toList(), all.map { it.id.seq }, "the sequence, oldest first")
            val back = s.messages(c, pageSize = 9, newestFirst = true).map { it.id.seq }.toList()
            assertEq((251L downTo 1L).toList(), back, "the sequence, newest first")
            assertEq(listOf(251L, 250L, 249L), s.messages(c, pageSize = 2, newestFirst = true).take(3).map { it.id.seq }.toList(), "take")
            assertEq(251L, s.conversation(c).messageCount, "message count")
            expectStatus(Status.NOT_FOUND, "paging an unknown conversation") { s.latest(c + 100, 5) }
            expectThrows<IllegalArgumentException>("a page size of 0") { s.messages(c, pageSize = 0) }
        }
    }

    fun sequenceIsLazy() {
        newStore("lazy").first.use { s ->
            val c = s.createConversation(NewConversation("lazy"))
            repeat(30) { s.append(c, msg("m$it", 1000L + it)) }
            val it = s.messages(c, pageSize = 10).iterator()
            assertEq(1L, it.next().id.seq, "first")
            // Appended after the first page was fetched: a lazy sequence sees them.
            repeat(5) { i -> s.append(c, msg("late$i", 5000L + i)) }
            var n = 1
            while (it.hasNext()) {
                it.next()
                n += 1
            }
            assertEq(35, n, "pages fetched as iterated include messages appended meanwhile")
        }
    }

    fun appendBatch() {
        newStore("batch").first.use { s ->
            val a = s.createConversation(NewConversation("a"))
            val b = s.createConversation(NewConversation("b"))
            val ids = s.appendBatch(listOf(a to msg("a1", 1), b to msg("b1", 2), a to msg("a2", 3)))
            assertEq(listOf(MessageId(a, 1), MessageId(b, 1), MessageId(a, 2)), ids, "ids in input order")
            assertEq(listOf("a1", "a2"), s.oldest(a, 10).map { it.text }, "texts in a")
            expectStatus(Status.NOT_FOUND, "a batch naming an unknown conversation") {
                s.appendBatch(listOf(a to msg("a3", 4), 9999L to msg("x", 5)))
            }
            assertEq(2L, s.conversation(a).messageCount, "nothing of the failed batch was stored")
            assertEq(emptyList<MessageId>(), s.appendBatch(emptyList()), "an empty batch")
        }
    }

    fun getEditDeleteMarkRead() {
        newStore("edit").first.use { s ->
            val c = s.createConversation(NewConversation("edit"))
            val ids = (1..6).map { s.append(c, msg("text $it", 100L + it)) }
            assertEq(null, s.message(ids[0]).editedAtMs, "not edited")
            s.edit(ids[0], "edited ✏️")
            val m = s.message(ids[0])
            assertEq("edited ✏️", m.text, "edited text")
            assertTrue(m.editedAtMs != null, "stamped edited")
            s.editAll(listOf(ids[1] to "two", ids[2] to "three"))
            assertEq(listOf("two", "three"), listOf(s.message(ids[1]).text, s.message(ids[2]).text), "edited together")
            expectStatus(Status.NOT_FOUND, "editAll with a missing message") {
                s.editAll(listOf(ids[3] to "never", MessageId(c, 99) to "x"))
            }
            assertEq("text 4", s.message(ids[3]).text, "nothing edited by the failed editAll")
            s.delete(ids[4])
            expectStatus(Status.NOT_FOUND, "a deleted message") { s.message(ids[4]) }
            s.deleteAll(listOf(ids[5], ids[3]))
            assertEq(listOf(1L, 2L, 3L), s.messages(c).map { it.id.seq }.toList(), "what is left")
            assertEq(3L, s.conversations()[0].unreadCount, "unread before")
            s.markRead(ids[1])
            assertEq(2L, s.conversation(c).readUpToSeq, "read marker")
            assertEq(1L, s.conversations()[0].unreadCount, "unread after")
        }
    }

    fun search() {
        newStore("search").first.use { s ->
            val c = s.createConversation(NewConversation("search"))
            val d = s.createConversation(NewConversation("other"))
            val text = "Café ☕ 😀 meeting at noon, Meeting again"
            val id = s.append(c, msg(text, 1000))
            s.append(c, msg("nothing here", 1001))
            s.append(d, msg("meeting elsewhere", 1002, sender = "bob"))
            val page = s.search(SearchQuery("meeting", conversation = c))
            assertEq(1, page.hits.size, "one hit in c")
            val hit = page.hits[0]
            assertEq(id, hit.message.id, "the hit")
            assertEq(listOf("meeting", "Meeting"), hit.ranges.map { hit.message.text.substring(it) }, "ranges as String indices")
            assertEq(null, page.next, "no next page")
            assertEq(2, s.search(SearchQuery("meeting")).hits.size, "the whole store")
            assertEq(1, s.search(SearchQuery("meeting", sender = "bob")).hits.size, "by sender")
            assertEq(listOf("café"), s.search(SearchQuery("cafe")).hits.flatMap { h -> h.ranges.map { h.message.text.substring(it).toLowerCase() } }, "accents folded")
            repeat(5) { i -> s.append(c, msg("paged word $i", 2000L + i)) }
            val first = s.search(SearchQuery("paged", limit = 2))
            assertEq(2, first.hits.size, "a page of 2")
            assertTrue(first.next != null, "a next page")
            assertEq(listOf(2004L, 2003L, 2002L, 2001L, 2000L), s.searchAll(SearchQuery("paged", limit = 2)).map { it.message.sentAtMs }.toList(), "every page, newest first")
            expectStatus(Status.INVALID_ARGUMENT, "a query of punctuation") { s.search(SearchQuery("!!!")) }
            assertEq(1, s.search(SearchQuery("paged", fromMs = 2001, untilMs = 2002)).hits.size, "from (inclusive) until (exclusive)")
            assertEq(IndexReport(0, 0, 0), s.indexForSearch(0), "nothing to index in a new store")
        }
    }

    fun utf16Conversion() {
        val text = "é😀a"
        val utf8 = text.toByteArray(Charsets.UTF_8) // é: 2 bytes, 😀: 4 bytes (2 UTF-16 units), a: 1
        assertEq(listOf(0 until 1, 1 until 3, 3 until 4), Utf16.ranges(utf8, listOf(0L to 2L, 2L to 6L, 6L to 7L)), "ranges")
        assertEq("😀", text.substring(Utf16.ranges(utf8, listOf(2L to 6L))[0]), "the emoji")
        assertEq(4, Utf16.index(utf8, 100), "clamped at the end")
    }

    private fun fill(s: Store, conversations: Int, messages: Int): List<Long> = (1..conversations).map { n ->
        val c = s.createConversation(NewConversation("conversation $n", externalId = "c$n"))
        s.appendBatch((1..messages).map { i -> c to msg("hello $n/$i from the archive", 10_000L + i) })
        c
    }

    /** Conversations of `messages` messages of 1000 random letters each: an archive of about a megabyte, many progress calls. */
    private fun fillLarge(s: Store, conversations: Int, messages: Int) {
        val random = java.util.Random(42)
        for (n in 1..conversations) {
            val c = s.createConversation(NewConversation("large $n", externalId = "c$n"))
            s.appendBatch((1..messages).map { i ->
                c to msg(String(CharArray(1000) { 'a' + random.nextInt(26) }), 10_000L + i)
            })
        }
    }

    fun exportImport() {
        val (source, _) = newStore("export-source")
        val archive = path("archive.cva")
        val progress = ArrayList<ArchiveProgress>()
        val report = source.use { s ->
            fill(s, 3, 40)
            Key.passphrase("archive pass".toCharArray()).use { k -> s.exportArchive(archive, k) { p -> progress.add(p); true } }
        }
        assertEq(3L, report.conversations, "exported conversations")
        assertEq(120L, report.messages, "exported messages")
        assertEq(File(archive).length(), report.bytes, "the report's size is the file's")
        assertTrue(progress.isNotEmpty(), "progress was reported")
        assertEq(120L, progress.last().messages, "the last progress has every message")
        newStore("import-target").first.use { t ->
            val r = Key.passphrase("archive pass".toCharArray()).use { k -> t.importArchive(archive, k) }
            assertEq(3L, r.conversationsCreated, "created")
            assertEq(120L, r.messagesAdded, "added")
            val c2 = t.findConversation("c2") ?: fail("c2 imported")
            assertEq((1..40).map { "hello 2/$it from the archive" }, t.messages(c2).map { it.text }.toList(), "texts imported")
            val again = Key.passphrase("archive pass".toCharArray()).use { k -> t.importArchive(archive, k) }
            assertEq(0L, again.messagesAdded, "importing twice adds nothing")
            assertEq(120L, again.messagesSkipped, "skipped")
            assertEq(120L, t.stats().messages, "still 120 messages")
            Key.passphrase("wrong pass".toCharArray()).use { k ->
                expectStatus(Status.WRONG_KEY, "an archive with the wrong passphrase") { t.importArchive(archive, k) }
            }
        }
        newStore("export-some").first.use { s ->
            val ids = fill(s, 2, 5)
            val one = s.exportArchive(path("one.cva"), otherKey(5), listOf(ids[1]))
            assertEq(1L, one.conversations, "one conversation exported")
        }
    }

    fun tamperedArchive() {
        val archive = path("tampered.cva")
        newStore("tamper-source").first.use { s ->
            fill(s, 2, 30)
            otherKey(11).use { k -> s.exportArchive(archive, k) }
        }
        flipByte(File(archive))
        newStore("tamper-target").first.use { t ->
            val c = t.createConversation(NewConversation("mine", externalId = "mine"))
            t.append(c, msg("kept", 1))
            val before = t.stats()
            otherKey(11).use { k -> expectStatus(Status.ARCHIVE_TAMPERED, "a flipped byte") { t.importArchive(archive, k) } }
            val after = t.stats()
            assertEq(before.conversations, after.conversations, "no conversation imported")
            assertEq(before.messages, after.messages, "no message imported")
            assertEq(listOf("mine"), t.conversations().map { it.conversation.title }, "the store is unchanged")
        }
    }

    fun maintenance() {
        newStore("maintenance").first.use { s ->
            val ids = fill(s, 3, 20)
            // More segments: single appends after the batch.
            for (c in ids) repeat(5) { i -> s.append(c, msg("single $i", 50_000L + i)) }
            val stats = s.stats()
            assertEq(3L, stats.conversations, "conversations")
            assertEq(75L, stats.messages, "messages")
            assertTrue(stats.segments >= 6, "segments: ${stats.segments}")
            var calls = 0
            val uncompacted = stats.segmentsUncompacted
            expectStatus(Status.CANCELLED, "a compaction its listener stopped") { s.compact { calls += 1; false } }
            assertEq(1, calls, "the listener ran once and stopped it")
            assertTrue(s.stats().segmentsUncompacted in 1 until uncompacted, "the committed transaction stays, the rest is left")
            val rest = s.compact(CompactOptions(targetMessages = 16, targetBytes = 4096)) { true }
            assertTrue(!rest.workRemains, "compacted to the end")
            assertTrue(s.stats().segments >= 6, "segments of at most 16 messages: ${s.stats().segments} for 3 x 25 messages")
            assertTrue(rest.conversationsCompacted >= 1, "compacted the rest")
            assertEq(0L, s.stats().segmentsUncompacted, "nothing left uncompacted")
            val v = s.verify()
            assertEq(emptyList<Problem>(), v.problems, "a sound store")
            assertEq(75L, v.messages, "verified messages")
            s.delete(MessageId(ids[0], 1))
            s.scrub()
            s.vacuum()
            assertEq(74L, s.stats().messages, "after delete, scrub and vacuum")
            assertEq(emptyList<Problem>(), s.verify().problems, "still sound")
        }
    }

    fun progressException() {
        newStore("progress-throw").first.use { s ->
            fill(s, 2, 10)
            val archive = path("p.cva")
            val e = expectThrows<IllegalStateException>("the listener's exception") {
                s.exportArchive(archive, otherKey(2)) { throw IllegalStateException("from the listener") }
            }
            assertEq("from the listener", e.message, "the listener's own exception")
            assertTrue(!File(archive).exists(), "the exception stopped the export: no file")
            for (c in s.conversations()) s.append(c.conversation.id, msg("more", 99_999))
            expectThrows<IllegalStateException>("the compaction listener's exception") {
                s.compact { throw IllegalStateException("stop") }
            }
            assertEq(22L, s.stats().messages, "the store still works")
        }
    }

    fun attachments() {
        val (s, _) = newStore("attachments")
        val c = s.createConversation(NewConversation("media"))
        val m = s.append(c, msg("a photo", 1))
        val content = ByteArray(200_000) { (it % 251).toByte() }
        val id = s.beginAttachment(m, NewAttachment("image/jpeg", "beach.jpg", byteArrayOf(4, 2))).use { w ->
            assertEq(content.size.toLong(), w.write(ByteArrayInputStream(content)), "bytes streamed")
            w.finish()
        }
        val small = s.beginAttachment(m, NewAttachment("audio/ogg")).use { w ->
            w.write("voice".toByteArray(), 0, 5)
            w.finish()
        }
        // An aborted writer stores nothing.
        s.beginAttachment(m, NewAttachment("video/mp4")).use { w -> w.write(ByteArray(10)) }
        s.openAttachment(id).use { r ->
            assertEq(200_000L, r.length, "length")
            assertEq(0L, r.chunksDecrypted, "nothing decrypted before a read")
            val one = ByteArray(100)
            r.readAt(0, one)
            r.readAt(100, one)
            assertEq(1L, r.chunksDecrypted, "two reads inside chunk 0 decrypt it once")
            val buf = ByteArray(1000)
            assertEq(1000, r.readAt(70_000, buf), "a range across a chunk boundary")
            assertEq(content.copyOfRange(70_000, 71_000).toList(), buf.toList(), "the range's bytes")
            assertEq(2L, r.chunksDecrypted, "a read inside chunk 1 decrypts it alone")
            assertEq(500, r.readAt(199_500, buf), "a range at the end")
            assertEq(0, r.readAt(200_000, buf), "past the end")
            assertTrue(content.contentEquals(r.readAll()), "the whole content")
        }
        val a = s.attachment(id)
        assertEq("image/jpeg", a.mediaType, "media type")
        assertEq("beach.jpg", a.fileName, "file name")
        assertEq(200_000L, a.byteLen, "byte length")
        assertEq(listOf<Byte>(4, 2), a.appData.toList(), "app data")
        assertEq(null, a.removedAtMs, "content there")
        assertEq(null, s.attachment(small).fileName, "no file name")
        assertEq(listOf(id, small), s.attachments(m).map { it.id }, "the message's attachments, in order")
        assertEq(listOf(id), s.gallery(c, mediaTypePrefix = "image/").map { it.id }, "the gallery by prefix")
        assertEq(2, s.gallery(c).size, "the whole gallery")
        val usage = s.storageUsage()
        assertEq(listOf(c), usage.map { it.conversation }, "usage per conversation")
        assertTrue(usage[0].attachmentBytes >= 200_005, "attachment bytes: ${usage[0].attachmentBytes}")
        assertEq(2L, s.stats().attachments, "stats count them")
        // A writer keeps the store open.
        val w = s.beginAttachment(m, NewAttachment("text/plain"))
        expectStatus(Status.STORE_IN_USE, "close with an open writer") { s.close() }
        assertTrue(!s.isClosed, "the store stays open")
        assertEq(2, s.attachments(m).size, "and usable")
        w.close()
        val cleared = s.clearAttachments(AttachmentFilter(mediaTypePrefix = "image/"))
        assertEq(1L, cleared.attachments, "one cleared")
        assertTrue(s.attachment(id).removedAtMs != null, "marked removed")
        expectStatus(Status.NOT_FOUND, "open removed content") { s.openAttachment(id) }
        val reader = s.openAttachment(small)
        s.deleteAttachment(small)
        expectStatus(Status.NOT_FOUND, "a deleted attachment") { s.attachment(small) }
        s.close()
        reader.use { assertEq("voice", String(it.readAll()), "a reader outlives the store and the delete") }
    }

    fun keys() {
        val (s, p) = newStore("keys")
        val c = s.use { st ->
            val c = st.createConversation(NewConversation("k"))
            st.append(c, msg("secret", 1))
            otherKey(21).use { st.changeKey(it) }
            c
        }
        key().use { k -> expectStatus(Status.WRONG_KEY, "the old key after changeKey") { ChatVault.open(p, k) } }
        otherKey(21).use { k2 ->
            ChatVault.open(p, k2).use { st ->
                val r = otherKey(22).use { st.rotateMasterKey(it) }
                assertTrue(r.finished, "rotation finished")
                assertTrue(r.keyInForce, "the new key is in force")
                assertEq(1L, r.conversations, "one conversation moved")
                st.compact()
                st.vacuum()
            }
            expectStatus(Status.WRONG_KEY, "the old key after rotation") { ChatVault.open(p, k2) }
        }
        otherKey(22).use { k3 -> ChatVault.open(p, k3).use { assertEq("secret", it.latest(c, 1)[0].text, "the data after rotation") } }
    }

    /**
     * Every page, list and message the library returns is freed: a thousand
     * rounds of calls that each get about 50 KiB of native memory leave the
     * process's resident size where it was (about 50 MiB more if they
     * leaked). ffi/tests/kotlin.rs runs the JVM with its heap fixed and
     * touched up front (-Xms = -Xmx, -XX:+AlwaysPreTouch), so growth of the
     * heap does not show as growth here.
     */
    fun allocationsAreFreed() {
        val before0 = residentKiB() ?: return println("  (no /proc/self/status: skipped)")
        newStore("leak").first.use { s ->
            val c = s.createConversation(NewConversation("leak", members = listOf("a", "b")))
            val text = "x".repeat(300) + " needle"
            s.appendBatch((1..100).map { c to msg("$it $text", it.toLong()) })
            fun round() {
                assertEq(100, s.latest(c, 100).size, "a page")
                assertEq(1, s.conversations().size, "the list")
                assertEq(20, s.search(SearchQuery("needle", limit = 20)).hits.size, "a search page")
                s.message(MessageId(c, 5))
                s.conversation(c)
            }
            repeat(200) { round() }
            System.gc()
            val before = residentKiB() ?: before0
            repeat(1000) { round() }
            System.gc()
            val grown = (residentKiB() ?: before) - before
            println("  resident size grew by $grown KiB over 1000 rounds")
            assertTrue(grown < 16 * 1024, "resident size grew by $grown KiB: native memory is leaking")
        }
    }

    /**
     * Closing a store other threads are calling waits for the calls under
     * way, and later calls get IllegalStateException, never a freed handle
     * (which would crash the JVM or return garbage). A race: five rounds.
     */
    fun closeWhileInUse() = repeat(5) { closeWhileInUseOnce() }

    private fun closeWhileInUseOnce() {
        val (s, _) = newStore("close-in-use")
        val c = s.createConversation(NewConversation("busy"))
        s.appendBatch((1..200).map { c to msg("m$it", it.toLong()) })
        val calls = IntArray(4)
        val endings = arrayOfNulls<Throwable>(4)
        val started = CountDownLatch(4)
        val workers = (0 until 4).map { t ->
            Thread {
                started.countDown()
                try {
                    while (true) {
                        assertEq(200, s.latest(c, 200).size, "a whole page while the store is open")
                        calls[t] += 1
                    }
                } catch (e: Throwable) {
                    endings[t] = e
                }
            }
        }
        workers.forEach { it.start() }
        started.await()
        Thread.sleep(100)
        s.close()
        workers.forEach { it.join() }
        for (t in 0 until 4) {
            assertTrue(calls[t] > 0, "thread $t made calls before the close")
            assertTrue(endings[t] is IllegalStateException, "thread $t ended with ${endings[t]}, not IllegalStateException")
        }
    }

    fun manyThreads() {
        val (s, _) = newStore("threads")
        val threads = 8
        val perThread = 40
        val shared = s.createConversation(NewConversation("shared"))
        val own = (0 until threads).map { s.createConversation(NewConversation("own $it")) }
        val failures = Collections.synchronizedList(ArrayList<Throwable>())
        val start = CountDownLatch(1)
        val workers = (0 until threads).map { t ->
            Thread {
                try {
                    start.await()
                    for (i in 1..perThread) {
                        s.append(own[t], msg("t$t m$i", i.toLong(), sender = "t$t"))
                        s.append(shared, msg("shared t$t m$i", i.toLong(), sender = "t$t"))
                        if (i % 10 == 0) {
                            val seen = s.messages(own[t], pageSize = 7).map { it.text }.toList()
                            assertEq((1..i).map { "t$t m$it" }, seen, "thread $t reads its own appends in order")
                            s.latest(shared, 20)
                            s.conversations()
                        }
                    }
                } catch (e: Throwable) {
                    failures.add(e)
                }
            }
        }
        workers.forEach { it.start() }
        start.countDown()
        workers.forEach { it.join() }
        if (failures.isNotEmpty()) fail("${failures.size} threads failed, the first: ${failures[0]}")
        s.use { st ->
            for (t in 0 until threads) assertEq(perThread.toLong(), st.conversation(own[t]).messageCount, "own conversation $t")
            val all = st.messages(shared, pageSize = 50).toList()
            assertEq((1..threads * perThread).map { it.toLong() }, all.map { it.id.seq }, "shared sequence numbers, no gap or duplicate")
            for (t in 0 until threads) {
                val mine = all.filter { it.sender == "t$t" }.map { it.text }
                assertEq((1..perThread).map { "shared t$t m$it" }, mine, "thread $t's shared messages, in its order")
            }
            assertEq((threads * perThread * 2).toLong(), st.stats().messages, "every message stored")
        }
    }

    /**
     * Every struct as Raw.kt lays it out has the size the library gives it
     * (its Rust sizeof, passed in by ffi/tests/kotlin.rs as
     * -Dchatvault.sizes=name=size,...): a field missing, added or of the
     * wrong type changes a size. Run by hand without it, this says so.
     */
    fun structSizes() {
        val given = System.getProperty("chatvault.sizes") ?: return println("  (no -Dchatvault.sizes: skipped)")
        val expected = given.split(',').filter { it.isNotEmpty() }.associate { e ->
            val (name, size) = e.split('=')
            name to size.toInt()
        }
        val ours = Layout.sizes()
        assertEq(expected.keys.sorted(), ours.keys.sorted(), "the structs measured")
        val wrong = ours.filter { (name, size) -> expected[name] != size }.map { (name, size) -> "$name: ours $size, the library's ${expected[name]}" }
        assertEq(emptyList<String>(), wrong, "struct sizes")
    }

    /**
     * The header's rule for what the library allocates, on hand-made
     * memory (this library's sizes are ours, so a real call cannot show
     * it): items of a newer library, larger than ours, are read at their
     * own stride; a field of an older library's smaller struct is absent
     * (null), whatever the memory past its struct_size holds.
     */
    fun structSizeRule() {
        val usageSize = Layout.sizes().getValue("chatvault_conversation_usage")
        val stride = usageSize + 24
        val items = Memory(stride * 2L).also { it.setMemory(0, it.size(), 0x5a) }
        for (i in 0..1) {
            val u = ConversationUsageStruct(items.share(i.toLong() * stride))
            u.struct_size = stride
            u.conversation = 10L + i
            u.text_bytes = 100L + i
            u.attachment_bytes = 1000L + i
            u.attachments = 3L + i
            u.write()
        }
        val list = Memory(64).also { it.clear() }
        ListStruct(list).apply {
            struct_size = size() + 8
            this.items = items
            len = SizeT(2)
            write()
        }
        assertEq(
            listOf(StorageUsage(10, 100, 1000, 3), StorageUsage(11, 101, 1001, 4)),
            Read.storageUsage(list),
            "items of a newer library, at their own stride"
        )
        val message = Memory(1024).also { it.setMemory(0, it.size(), 0x01) }
        val extra = Memory(3).also { it.write(0, byteArrayOf(1, 2, 3), 0, 3) }
        MessageStruct(message).apply {
            id.conversation = 4
            id.seq = 2
            external_id.ptr = null
            sender.ptr = null
            text.ptr = null
            sent_at_ms = 77
            has_edited_at = 0
            has_expires_at = 1
            expires_at_ms = 99
            has_reply_to = 1
            reply_to_seq = 1
            this.extra.ptr = extra
            this.extra.len = SizeT(3)
            struct_size = offsetOf("has_reply_to")
            write()
        }
        val old = Read.message(message)
        assertEq(MessageId(4, 2), old.id, "the id")
        assertEq(77L, old.sentAtMs, "a field within struct_size")
        assertEq(99L, old.expiresAtMs, "a present optional within struct_size")
        assertEq(null, old.editedAtMs, "an absent optional within struct_size")
        assertEq(null, old.replyToSeq, "an optional past an older library's struct_size is absent")
        assertEq(0, old.extra.size, "bytes past an older library's struct_size are empty")
        assertEq(null, old.externalId, "a NULL text is absent")
    }

    fun storeOptions() {
        val p = path("options")
        key().use { k ->
            ChatVault.create(p, k, StoreOptions(durability = Durability.NORMAL, busyTimeoutMs = 250)).use { s ->
                assertEq(p, s.path, "the store's path")
                val c = s.createConversation(NewConversation("o"))
                s.append(c, msg("with options", 1))
            }
            ChatVault.open(p, k, StoreOptions(maxKdf = KdfLimit(memoryKib = 1024, iterations = 1, parallelism = 1))).use { s ->
                assertEq(1L, s.stats().messages, "opened with options (a raw key needs no KDF)")
            }
            expectStatus(Status.ALREADY_EXISTS, "create with options over a store") { ChatVault.create(p, k, StoreOptions()) }
            expectStatus(Status.NO_SUCH_STORE, "open with options, no store") { ChatVault.open(path("none"), k, StoreOptions()) }
        }
        // A passphrase store asks for 19 MiB of Argon2id: a ceiling below that refuses it before deriving anything.
        val pp = path("kdf")
        Key.passphrase("kdf pass".toCharArray()).use { k ->
            ChatVault.create(pp, k).close()
            expectStatus(Status.KDF_TOO_COSTLY, "a KDF ceiling below the store's") {
                ChatVault.open(pp, k, StoreOptions(maxKdf = KdfLimit(memoryKib = 1024, iterations = 1, parallelism = 1)))
            }
            ChatVault.open(pp, k, StoreOptions(maxKdf = KdfLimit(memoryKib = 64 * 1024, iterations = 4, parallelism = 4))).close()
        }
    }

    fun storageFull() {
        val (first, p) = newStore("full")
        val c = first.use { it.createConversation(NewConversation("big")) }
        val size = File(p).length()
        key().use { k ->
            ChatVault.open(p, k, StoreOptions(maxSizeBytes = size + 128 * 1024)).use { s ->
                val big = "x".repeat(20_000)
                var stored = 0L
                val e = expectStatus(Status.STORAGE_FULL, "appending past max_size_bytes") {
                    for (i in 1..100) {
                        s.append(c, msg("$i $big", i.toLong()))
                        stored += 1
                    }
                }
                assertTrue(e.message!!.contains("max_size_bytes"), "the message names the limit: ${e.message}")
                assertTrue(stored >= 1, "some messages fit first ($stored)")
                assertEq(stored, s.conversation(c).messageCount, "the failed append changed nothing")
                assertEq(stored, s.messages(c).count().toLong(), "every stored message reads back")
            }
            ChatVault.open(p, k).use { s ->
                s.append(c, msg("no limit now", 1_000))
                assertTrue(File(p).length() > 0, "a file")
            }
        }
    }

    fun updateConversation() {
        newStore("update").first.use { s ->
            val c = s.createConversation(NewConversation("before", members = listOf("a", "b"), appData = byteArrayOf(1)))
            s.updateConversation(c, ConversationChanges(title = "after ✓"))
            val renamed = s.conversation(c)
            assertEq("after ✓", renamed.title, "renamed")
            assertEq(listOf("a", "b"), renamed.members, "members untouched")
            assertEq(listOf<Byte>(1), renamed.appData.toList(), "app data untouched")
            assertEq(null, renamed.retentionMs, "no retention yet")
            s.updateConversation(c, ConversationChanges(members = listOf("c"), appData = byteArrayOf(9, 9), retention = Retention.After(60_000)))
            val on = s.conversation(c)
            assertEq("after ✓", on.title, "title untouched by the second change")
            assertEq(listOf("c"), on.members, "new members")
            assertEq(listOf<Byte>(9, 9), on.appData.toList(), "new app data")
            assertEq(60_000L, on.retentionMs, "retention on")
            val now = System.currentTimeMillis()
            val disappearing = s.append(c, msg("disappears", now))
            assertEq(now + 60_000, s.message(disappearing).expiresAtMs, "a message appended now expires after the retention")
            s.updateConversation(c, ConversationChanges(retention = Retention.Off))
            assertEq(null, s.conversation(c).retentionMs, "retention off")
            val kept = s.append(c, msg("stays", now + 1))
            assertEq(null, s.message(kept).expiresAtMs, "a message appended after retention off never expires")
            assertEq(now + 60_000, s.message(disappearing).expiresAtMs, "the earlier message keeps its expiry")
            s.updateConversation(c, ConversationChanges(members = emptyList()))
            assertEq(emptyList<String>(), s.conversation(c).members, "members emptied")
            expectStatus(Status.NOT_FOUND, "an unknown conversation") { s.updateConversation(c + 100, ConversationChanges(title = "x")) }
        }
    }

    fun rotateConversationKeys() {
        val (s, p) = newStore("rotate-keys")
        val a = s.createConversation(NewConversation("a"))
        val b = s.createConversation(NewConversation("b"))
        (1..5).forEach { s.append(a, msg("a before $it", it.toLong())) }
        s.append(b, msg("b before", 1))
        assertEq(1L, s.rotateConversationKey(a), "the first new epoch")
        (6..8).forEach { s.append(a, msg("a after $it", it.toLong())) }
        assertEq(2L, s.rotateAllKeys(), "every conversation rotated")
        assertEq(2L, s.rotateConversationKey(b), "b's second new epoch")
        s.append(a, msg("a last", 9))
        val texts = (1..5).map { "a before $it" } + (6..8).map { "a after $it" } + "a last"
        assertEq(texts, s.messages(a).map { it.text }.toList(), "every message reads across epochs")
        val report = s.compact()
        assertTrue(report.keysDestroyed >= 3, "compaction destroyed the old keys (${report.keysDestroyed})")
        assertEq(texts, s.messages(a).map { it.text }.toList(), "every message reads after compaction")
        assertEq(emptyList<Problem>(), s.verify().problems, "a sound store")
        expectStatus(Status.NOT_FOUND, "an unknown conversation") { s.rotateConversationKey(b + 100) }
        s.close()
        key().use { k -> ChatVault.open(p, k).use { assertEq("b before", it.latest(b, 1)[0].text, "after reopening") } }
    }

    fun inspectArchive() {
        val archive = path("inspect.cva")
        val report = newStore("inspect-source").first.use { s ->
            val ids = fill(s, 3, 40)
            s.createConversation(NewConversation("empty"))
            s.append(ids[0], msg("late", 99_000))
            Key.passphrase("inspect me".toCharArray()).use { k -> s.exportArchive(archive, k) }
        }
        val progress = ArrayList<ArchiveProgress>()
        val summary = Key.passphrase("inspect me".toCharArray()).use { k ->
            ChatVault.inspectArchive(archive, k) { progress.add(it); true }
        }
        assertEq(report.conversations, summary.conversations.size.toLong(), "conversations: the export's count")
        assertEq(report.messages, summary.messages, "messages: the export's count")
        assertEq(121L, summary.messages, "121 messages")
        assertEq(report.attachments, summary.attachments, "attachments: the export's count")
        assertEq(report.bytes, summary.bytes, "bytes: the export's")
        assertEq(File(archive).length(), summary.bytes, "bytes: the file's")
        assertEq(KeyKind.PASSPHRASE, summary.keyKind, "a passphrase archive")
        assertEq(ChatVault.version, summary.chatvaultVersion, "written by this version")
        assertTrue(Math.abs(System.currentTimeMillis() - summary.exportedAtMs) < 600_000, "exported just now: ${summary.exportedAtMs}")
        val byTitle = summary.conversations.associateBy { it.title }
        val c1 = byTitle["conversation 1"] ?: fail("conversation 1 listed")
        assertEq("c1", c1.externalId, "its external id")
        assertEq(41L, c1.messages, "its messages")
        assertEq(10_001L, c1.firstSentMs, "its first message")
        assertEq(99_000L, c1.lastSentMs, "its last message")
        assertEq(40L, byTitle["conversation 3"]?.messages, "conversation 3's messages")
        val empty = byTitle["empty"] ?: fail("the empty conversation listed")
        assertEq(0L, empty.messages, "no messages")
        assertEq(null, empty.firstSentMs, "no first message")
        assertEq(null, empty.externalId, "no external id")
        assertEq(121L, progress.last().messages, "progress reached every message")
        Key.passphrase("not it".toCharArray()).use { k ->
            expectStatus(Status.WRONG_KEY, "inspect with the wrong passphrase") { ChatVault.inspectArchive(archive, k) }
        }
        Key.passphrase("inspect me".toCharArray()).use { k ->
            var calls = 0
            expectStatus(Status.CANCELLED, "inspect stopped by its listener") { ChatVault.inspectArchive(archive, k) { calls += 1; false } }
            assertEq(1, calls, "stopped at the first call")
        }
        flipByte(File(archive))
        Key.passphrase("inspect me".toCharArray()).use { k ->
            expectStatus(Status.ARCHIVE_TAMPERED, "inspect a tampered archive") { ChatVault.inspectArchive(archive, k) }
        }
        expectStatus(Status.IO, "inspect a missing file") { Key.passphrase("x").use { k -> ChatVault.inspectArchive(path("missing.cva"), k) } }
    }

    fun plaintextExports() {
        newStore("plaintext").first.use { s ->
            val ids = fill(s, 2, 3)
            s.append(ids[0], msg("quote \"this\" \\ and ünïcode ☕\nnew line", 20_000, sender = "me"))
            val jsonl = path("export.jsonl")
            assertEq(7L, s.exportJsonLines(jsonl), "messages written")
            val lines = File(jsonl).readLines(Charsets.UTF_8)
            assertEq(9, lines.size, "2 conversation lines and 7 message lines")
            val objects = lines.map { Json(it).parse() as? Map<*, *> ?: fail("a line is an object: $it") }
            val messages = objects.filter { it["type"] == "message" }
            assertEq(7, messages.size, "message objects")
            assertTrue(messages.any { it["text"] == "hello 2/3 from the archive" }, "a message's text in a line: ${lines[1]}")
            assertTrue(messages.any { it["text"] == "quote \"this\" \\ and ünïcode ☕\nnew line" }, "an escaped text round-trips")
            val one = path("one.jsonl")
            assertEq(3L, s.exportJsonLines(one, listOf(ids[1])), "one conversation's messages")
            expectStatus(Status.NOT_FOUND, "an unknown conversation") { s.exportJsonLines(path("none.jsonl"), listOf(424242L)) }
            assertTrue(!File(path("none.jsonl")).exists(), "nothing written for an unknown conversation")

            val html = path("chat.html")
            assertEq(4L, s.exportHtml(ids[0], html), "messages in the page")
            assertTrue(File(html).readText().contains("hello 1/2 from the archive"), "the page holds a message")
            val options = HtmlOptions(me = "me", messagesPerPage = 2, zone = HtmlZone(3600, "CET"))
            expectStatus(Status.INVALID_ARGUMENT, "a page already there") { s.exportHtml(ids[0], html, options) }
            val paged = s.exportHtml(ids[0], html, options.copy(replaceExisting = true))
            assertEq(HtmlReport(conversations = 1, messages = 4, pages = 2, hasIndex = false, attachmentDirs = 0), paged, "two pages of two")
            assertTrue(File(html.removeSuffix(".html") + "-2.html").exists(), "the second page")
            val site = path("site")
            val dir = s.exportHtmlDir(site)
            assertEq(2L, dir.conversations, "both conversations")
            assertEq(7L, dir.messages, "every message")
            assertTrue(dir.hasIndex, "an index")
            assertTrue(File(site, "index.html").exists(), "index.html")
            assertEq(1L, s.exportHtmlDir(path("site-one"), listOf(ids[1]), HtmlOptions(messagesPerPage = 10)).conversations, "one conversation")
        }
    }

    fun cancelExport() {
        newStore("cancel-export").first.use { s ->
            fillLarge(s, 3, 300)
            val archive = path("cancelled.cva")
            var calls = 0
            otherKey(4).use { k ->
                expectStatus(Status.CANCELLED, "an export stopped at its first call") { s.exportArchive(archive, k) { calls += 1; false } }
            }
            assertEq(1, calls, "the listener was not called after it said stop")
            var last = 0L
            assertTrue(!File(archive).exists(), "no file left")
            assertEq(emptyList<String>(), File(archive).parentFile.list().filter { it.startsWith(File(archive).name) }, "no temporary file left either")
            // Midway, past the first 64 KiB: still no file; a file already there stays as it was.
            File(archive).writeText("the user's own file")
            otherKey(4).use { k ->
                expectStatus(Status.CANCELLED, "an export stopped midway") {
                    s.exportArchive(archive, k) { p -> last = p.messages; p.bytes < 256 * 1024 }
                }
            }
            assertTrue(last in 1 until 900, "stopped midway, after $last of 900 messages")
            assertEq("the user's own file", File(archive).readText(), "a file already there is untouched")
            val done = otherKey(4).use { k -> s.exportArchive(archive, k) { true } }
            assertEq(900L, done.messages, "an export the listener lets run writes everything")
        }
    }

    fun cancelImport() {
        val archive = path("cancel-import.cva")
        newStore("cancel-import-source").first.use { s ->
            fillLarge(s, 3, 300)
            otherKey(6).use { k -> s.exportArchive(archive, k) }
        }
        newStore("cancel-import-target").first.use { t ->
            val mine = t.createConversation(NewConversation("mine", externalId = "c1"))
            t.append(mine, msg("kept", 1))
            val before = t.stats()
            val list = t.conversations()
            otherKey(6).use { k ->
                expectStatus(Status.CANCELLED, "an import stopped at its first call") { t.importArchive(archive, k) { false } }
                var seen = 0L
                expectStatus(Status.CANCELLED, "an import stopped midway") {
                    t.importArchive(archive, k) { p -> seen = p.messages; p.messages < 200 }
                }
                assertTrue(seen in 200 until 900, "it stopped midway, after reading $seen of 900 messages")
            }
            assertEq(before.conversations, t.stats().conversations, "no conversation added")
            assertEq(before.messages, t.stats().messages, "no message added")
            assertEq(list, t.conversations(), "the conversation list is exactly as it was")
            val r = otherKey(6).use { k -> t.importArchive(archive, k) { true } }
            assertEq(900L, r.messagesAdded, "an import the listener lets run adds everything")
            assertEq(1L, r.conversationsMatched, "c1 matched")
        }
    }

    private fun flipByte(file: File) {
        RandomAccessFile(file, "rw").use { f ->
            val at = f.length() / 2
            f.seek(at)
            val b = f.read()
            f.seek(at)
            f.write(b xor 0x01)
        }
    }
}

/** A minimal JSON reader for the suite: objects, arrays, strings, numbers, true, false, null. */
class Json(private val s: String) {
    private var i = 0

    fun parse(): Any? {
        val v = value()
        space()
        if (i != s.length) fail("JSON: trailing text at $i in $s")
        return v
    }

    private fun space() {
        while (i < s.length && s[i].isWhitespace()) i++
    }

    private fun value(): Any? {
        space()
        if (i >= s.length) fail("JSON: unexpected end")
        return when (s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> word("true", true)
            'f' -> word("false", false)
            'n' -> word("null", null)
            else -> num()
        }
    }

    private fun word(w: String, v: Any?): Any? {
        if (!s.startsWith(w, i)) fail("JSON: bad literal at $i")
        i += w.length
        return v
    }

    private fun num(): Any {
        val start = i
        while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
        return s.substring(start, i).toBigDecimalOrNull() ?: fail("JSON: bad value at $start")
    }

    private fun obj(): Map<String, Any?> {
        val out = LinkedHashMap<String, Any?>()
        i++
        space()
        if (s[i] == '}') return out.also { i++ }
        while (true) {
            space()
            val k = str()
            space()
            if (s[i++] != ':') fail("JSON: expected : at ${i - 1}")
            out[k] = value()
            space()
            val c = s[i++]
            if (c == '}') return out
            if (c != ',') fail("JSON: expected , or } at ${i - 1}")
        }
    }

    private fun arr(): List<Any?> {
        val out = ArrayList<Any?>()
        i++
        space()
        if (s[i] == ']') return out.also { i++ }
        while (true) {
            out.add(value())
            space()
            val c = s[i++]
            if (c == ']') return out
            if (c != ',') fail("JSON: expected , or ] at ${i - 1}")
        }
    }

    private fun str(): String {
        if (s[i] != '"') fail("JSON: expected a string at $i")
        i++
        val b = StringBuilder()
        while (true) {
            val c = s[i++]
            when (c) {
                '"' -> return b.toString()
                '\\' -> {
                    val e = s[i++]
                    when (e) {
                        'n' -> b.append('\n')
                        't' -> b.append('\t')
                        'r' -> b.append('\r')
                        'b' -> b.append('\b')
                        'f' -> b.append('\u000c')
                        'u' -> {
                            b.append(s.substring(i, i + 4).toInt(16).toChar())
                            i += 4
                        }
                        else -> b.append(e)
                    }
                }
                else -> b.append(c)
            }
        }
    }
}

/** This process's resident memory in KiB, from /proc (Linux); null elsewhere. */
fun residentKiB(): Long? = File("/proc/self/status").takeIf { it.exists() }?.readLines()
    ?.firstOrNull { it.startsWith("VmRSS:") }?.split(Regex("\\s+"))?.getOrNull(1)?.toLongOrNull()

fun main(args: Array<String>) {
    val scratch = File(args.getOrNull(0) ?: error("usage: ChatVaultTestKt <scratch dir> [test name ...]"))
    scratch.mkdirs()
    val suite = Suite(scratch)
    val only = args.drop(1).toSet()
    val selected = suite.tests.filter { only.isEmpty() || it.first in only }
    val failed = ArrayList<String>()
    for ((name, test) in selected) {
        val started = System.nanoTime()
        try {
            test()
            println("PASS $name (${(System.nanoTime() - started) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed.add(name)
            println("FAIL $name: $e")
            e.printStackTrace(System.out)
        }
    }
    if (selected.isEmpty()) {
        println("kotlin suite: no test matched $only")
        exitProcess(1)
    }
    if (failed.isEmpty()) {
        println("kotlin suite: all ${selected.size} passed")
    } else {
        println("kotlin suite: ${failed.size} of ${selected.size} FAILED: ${failed.joinToString()}")
        exitProcess(1)
    }
}
