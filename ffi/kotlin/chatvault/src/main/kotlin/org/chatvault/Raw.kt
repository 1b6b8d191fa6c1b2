// The C API as JNA sees it: every declaration of ffi/include/chatvault.h
// (functions, structs, callbacks, constants) and every conversion between
// those structs and the Kotlin types, in this one file. A change to the
// header's layout changes this file only; the rest of the package never
// reads or writes a struct field.
//
// Field names are the header's, so each struct can be checked against it
// line by line. uint64_t is read into a Long (ids, counts and sizes stay
// below 2^63), uint32_t into an Int, size_t is SizeT, uint8_t is Byte.
//
// The ABI evolution rule (the header's opening comment): every struct but
// the six fixed values (str, bytes, key, message_id, search_cursor,
// match_range) begins with `uint32_t struct_size`.
// - A struct the package fills in or receives a report in is an [InStruct]:
//   its init sets struct_size to its own size, as CHATVAULT_INIT does.
// - A struct the library allocates is an [OutStruct]: it reads only the
//   fields that end within the library's struct_size (the others keep
//   their defaults: absent), and arrays of them are read at the stride of
//   their first element's struct_size, as CHATVAULT_ITEM does ([items]).
// - A `has_x` flag and its value become one Kotlin nullable.
@file:Suppress("FunctionName", "PropertyName", "ClassName", "unused")

package org.chatvault

import com.sun.jna.Callback
import com.sun.jna.IntegerType
import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import com.sun.jna.ptr.IntByReference
import com.sun.jna.ptr.LongByReference
import com.sun.jna.ptr.PointerByReference
import java.io.Closeable

/** C's size_t: 8 bytes on 64-bit ABIs, 4 on armeabi-v7a and x86. */
class SizeT @JvmOverloads constructor(value: Long = 0) : IntegerType(Native.SIZE_T_SIZE, value, true) {
    override fun toByte(): Byte = toLong().toByte()
    override fun toChar(): Char = toLong().toChar()
    override fun toShort(): Short = toLong().toShort()
}

// ---------------------------------------------------------------- constants

internal object Raw {
    const val KEY_KIND_RAW = 1
    const val KEY_KIND_PASSPHRASE = 2

    const val DURABILITY_FULL = 0
    const val DURABILITY_NORMAL = 1

    /** chatvault_progress. */
    const val PROGRESS_CONTINUE = 0
    const val PROGRESS_STOP = 1

    /** The shared library: libchatvault_ffi.so, found on jna.library.path (or an app's jniLibs). */
    val lib: ChatVaultLibrary by lazy { Native.load("chatvault_ffi", ChatVaultLibrary::class.java) }

    /** chatvault_last_error_message() of this thread, copied. */
    fun lastError(): String = cString(lib.chatvault_last_error_message())

    fun cString(p: Pointer?): String = p?.getString(0, "UTF-8") ?: ""
}

/** A has_x flag: 0 absent, anything else (the library writes 1) present. */
private fun flag(b: Byte): Boolean = b.toInt() != 0

private fun flagOf(present: Boolean): Byte = if (present) 1 else 0

/** uint32_t read into an Int, as the unsigned number. */
private fun u32(i: Int): Long = i.toLong() and 0xffffffffL

// ---------------------------------------------------------------- callbacks

/** chatvault_compact_progress_fn: returns PROGRESS_CONTINUE to go on, anything else to stop. */
interface CompactProgressFn : Callback {
    fun invoke(userData: Pointer?, progress: Pointer?): Int
}

/** chatvault_archive_progress_fn: returns PROGRESS_CONTINUE to go on, anything else to stop. */
interface ArchiveProgressFn : Callback {
    fun invoke(userData: Pointer?, progress: Pointer?): Int
}

/** chatvault_clock_fn: milliseconds since the Unix epoch; called from any thread a store call runs on. */
interface ClockFn : Callback {
    fun invoke(ctx: Pointer?): Long
}

/** chatvault_zone_fn: writes the zone's offset and name (UTF-8, at most `nameCap` bytes) at instant `ms`. */
interface ZoneFn : Callback {
    fun invoke(ctx: Pointer?, ms: Long, offsetSeconds: Pointer, name: Pointer, nameCap: SizeT, nameLen: Pointer)
}

// ---------------------------------------------------------------- functions

interface ChatVaultLibrary : Library {
    fun chatvault_last_error_message(): Pointer?
    fun chatvault_status_name(status: Int): Pointer?
    fun chatvault_version(): Pointer?

    fun chatvault_store_create(path: ByteArray, path_len: SizeT, key: KeyStruct, out: PointerByReference): Int
    fun chatvault_store_create_with(path: ByteArray, path_len: SizeT, key: KeyStruct, options: StoreOptionsStruct?, out: PointerByReference): Int
    fun chatvault_store_open(path: ByteArray, path_len: SizeT, key: KeyStruct, out: PointerByReference): Int
    fun chatvault_store_open_with(path: ByteArray, path_len: SizeT, key: KeyStruct, options: StoreOptionsStruct?, out: PointerByReference): Int
    fun chatvault_store_path(store: Pointer, out: StrStruct): Int
    fun chatvault_store_close(store: Pointer?): Int
    fun chatvault_store_change_key(store: Pointer, key: KeyStruct): Int
    fun chatvault_store_change_key_with(store: Pointer, key: KeyStruct, kdf: Pointer?): Int
    fun chatvault_store_rotate_master_key(store: Pointer, key: KeyStruct, options: RotateOptionsStruct?, out: RotationReportStruct): Int
    fun chatvault_store_scrub(store: Pointer): Int
    fun chatvault_store_vacuum(store: Pointer): Int
    fun chatvault_store_stats(store: Pointer, out: StatsStruct): Int

    fun chatvault_conversation_create(store: Pointer, conversation: NewConversationStruct, out_id: LongByReference): Int
    fun chatvault_conversation_find(store: Pointer, external_id: ByteArray, external_id_len: SizeT, out_id: LongByReference): Int
    fun chatvault_conversation_get(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_conversation_free(conversation: Pointer?)
    fun chatvault_conversation_list_get(store: Pointer, limit: SizeT, out: PointerByReference): Int
    fun chatvault_conversation_list_free(list: Pointer?)
    fun chatvault_conversation_update(store: Pointer, id: Long, update: ConversationChangesStruct): Int
    fun chatvault_conversation_rotate_key(store: Pointer, id: Long, out_epoch: IntByReference): Int
    fun chatvault_store_rotate_all_keys(store: Pointer, out_count: LongByReference): Int
    fun chatvault_conversation_delete(store: Pointer, id: Long): Int

    fun chatvault_message_append(store: Pointer, conversation: Long, message: NewMessageStruct, out_id: MessageIdStruct): Int
    fun chatvault_message_append_batch(store: Pointer, entries: Array<BatchEntryStruct>, len: SizeT, out_ids: Array<MessageIdStruct>): Int
    fun chatvault_message_page_latest(store: Pointer, conversation: Long, limit: SizeT, out: PointerByReference): Int
    fun chatvault_message_page_oldest(store: Pointer, conversation: Long, limit: SizeT, out: PointerByReference): Int
    fun chatvault_message_page_before(store: Pointer, before: MessageIdStruct.ByValue, limit: SizeT, out: PointerByReference): Int
    fun chatvault_message_page_after(store: Pointer, after: MessageIdStruct.ByValue, limit: SizeT, out: PointerByReference): Int
    fun chatvault_message_page_free(page: Pointer?)
    fun chatvault_message_get(store: Pointer, id: MessageIdStruct.ByValue, out: PointerByReference): Int
    fun chatvault_message_free(message: Pointer?)
    fun chatvault_message_edit(store: Pointer, id: MessageIdStruct.ByValue, text: Pointer?, text_len: SizeT): Int
    fun chatvault_message_delete(store: Pointer, id: MessageIdStruct.ByValue): Int
    fun chatvault_messages_edit(store: Pointer, ids: Array<MessageIdStruct>?, texts: Array<StrStruct>?, count: SizeT): Int
    fun chatvault_messages_delete(store: Pointer, ids: Array<MessageIdStruct>?, count: SizeT): Int
    fun chatvault_message_mark_read(store: Pointer, id: MessageIdStruct.ByValue): Int

    fun chatvault_store_compact(store: Pointer, options: CompactOptionsStruct?, progress: CompactProgressFn?, user_data: Pointer?, out: CompactReportStruct): Int
    fun chatvault_store_verify(store: Pointer, out: PointerByReference): Int
    fun chatvault_verify_report_free(report: Pointer?)
    fun chatvault_store_export(
        store: Pointer,
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        conversations: LongArray?,
        conversations_len: SizeT,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: ExportReportStruct
    ): Int
    fun chatvault_store_export_with(
        store: Pointer,
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        options: ExportOptionsStruct?,
        conversations: LongArray?,
        conversations_len: SizeT,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: ExportReportStruct
    ): Int
    fun chatvault_store_import(
        store: Pointer,
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: ImportReportStruct
    ): Int
    fun chatvault_store_import_with(
        store: Pointer,
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        options: ImportOptionsStruct?,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: ImportReportStruct
    ): Int
    fun chatvault_archive_inspect_with(
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        options: ImportOptionsStruct?,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: PointerByReference
    ): Int
    fun chatvault_archive_inspect(
        path: ByteArray,
        path_len: SizeT,
        archive_key: KeyStruct,
        progress: ArchiveProgressFn?,
        user_data: Pointer?,
        out: PointerByReference
    ): Int
    fun chatvault_archive_summary_free(summary: Pointer?)
    fun chatvault_store_export_json_lines(
        store: Pointer,
        path: ByteArray,
        path_len: SizeT,
        conversations: LongArray?,
        conversations_len: SizeT,
        out_messages: LongByReference
    ): Int
    fun chatvault_store_export_html(store: Pointer, conversation: Long, path: ByteArray, path_len: SizeT, out_messages: LongByReference): Int
    fun chatvault_store_export_html_with(
        store: Pointer,
        conversation: Long,
        path: ByteArray,
        path_len: SizeT,
        options: HtmlOptionsStruct?,
        out: HtmlReportStruct
    ): Int
    fun chatvault_store_export_html_dir(
        store: Pointer,
        dir: ByteArray,
        dir_len: SizeT,
        conversations: LongArray?,
        conversations_len: SizeT,
        options: HtmlOptionsStruct?,
        out: HtmlReportStruct
    ): Int

    fun chatvault_search(store: Pointer, query: SearchQueryStruct, out: PointerByReference): Int
    fun chatvault_search_page_free(page: Pointer?)
    fun chatvault_search_matches(query: SearchQueryStruct, text: ByteArray?, text_len: SizeT, out: PointerByReference): Int
    fun chatvault_match_list_free(list: Pointer?)
    fun chatvault_index_for_search(store: Pointer, time_budget_ms: Long, out: IndexReportStruct): Int

    fun chatvault_attachment_begin(store: Pointer, message: MessageIdStruct.ByValue, attachment: NewAttachmentStruct, out: PointerByReference): Int
    fun chatvault_attachment_write(writer: Pointer, data: Pointer?, len: SizeT): Int
    fun chatvault_attachment_finish(writer: Pointer, out_id: LongByReference): Int
    fun chatvault_attachment_abort(writer: Pointer?)
    fun chatvault_attachment_open(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_attachment_length(reader: Pointer, out_len: LongByReference): Int
    fun chatvault_attachment_chunks_decrypted(reader: Pointer, out: LongByReference): Int
    fun chatvault_attachment_read_at(reader: Pointer, offset: Long, buf: Pointer?, cap: SizeT, out_n: Pointer): Int
    fun chatvault_attachment_close(reader: Pointer?)
    fun chatvault_attachment_get(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_attachment_free(attachment: Pointer?)
    fun chatvault_message_attachments(store: Pointer, message: MessageIdStruct.ByValue, out: PointerByReference): Int
    fun chatvault_attachments(
        store: Pointer,
        conversation: Long,
        limit: SizeT,
        media_type_prefix: ByteArray?,
        media_type_prefix_len: SizeT,
        has_before: Byte,
        before: Long,
        out: PointerByReference
    ): Int
    fun chatvault_attachment_list_free(list: Pointer?)
    fun chatvault_attachment_delete(store: Pointer, id: Long): Int
    fun chatvault_clear_attachments(store: Pointer, filter: AttachmentFilterStruct, out: ClearReportStruct): Int
    fun chatvault_storage_usage(store: Pointer, out: PointerByReference): Int
    fun chatvault_storage_usage_free(usage: Pointer?)

    fun chatvault_rfc3339(ms: Long, out: PointerByReference): Int
    fun chatvault_message_json(store: Pointer, id: MessageIdStruct.ByValue, with_attachments: Byte, out: PointerByReference): Int
    fun chatvault_conversation_json(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_attachment_json(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_attachment_file_name(store: Pointer, id: Long, out: PointerByReference): Int
    fun chatvault_text_free(text: Pointer?)
}

// ---------------------------------------------------------------- the struct_size rule

/**
 * A struct the package fills in, or receives a report in: `struct_size`
 * is set to this struct's size, as CHATVAULT_INIT does, when it is made.
 * Subclasses call [sized] in their init, after their fields.
 */
abstract class InStruct : Structure() {
    @JvmField var struct_size: Int = 0

    protected fun sized() {
        struct_size = size()
    }
}

/**
 * A struct the library allocated, read at `p`: only the fields that end
 * within the library's `struct_size` are read (a field past it, from a
 * newer header than the library's, keeps its default: absent). Subclasses
 * call [readSized] in their init, after their fields.
 */
abstract class OutStruct(p: Pointer) : Structure(p) {
    @JvmField var struct_size: Int = 0

    /** The offset of field `name` in this layout (for the suite's tests of the rule). */
    internal fun offsetOf(name: String): Int = fieldOffset(name)

    protected fun readSized() {
        val librarySize = u32(pointer.getInt(0))
        for (name in fieldOrder) {
            val field = javaClass.getField(name)
            val end = fieldOffset(name).toLong() + Native.getNativeSize(field.type, field.get(this))
            if (end <= librarySize) readField(name)
        }
    }
}

/**
 * The `len` elements of a library array at `base`, read by [read] at the
 * stride of the first element's struct_size (CHATVAULT_ITEM).
 */
internal fun <T> items(base: Pointer?, len: Long, read: (Pointer) -> T): List<T> {
    if (base == null || len <= 0L) return emptyList()
    val stride = u32(base.getInt(0))
    if (stride == 0L) throw IllegalStateException("the library returned an array whose first struct_size is 0")
    return (0 until len).map { i -> read(base.share(i * stride)) }
}

// ---------------------------------------------------------------- fixed structs (no struct_size)

@Structure.FieldOrder("kind", "bytes", "len")
class KeyStruct : Structure() {
    @JvmField var kind: Int = 0
    @JvmField var bytes: Pointer? = null
    @JvmField var len: SizeT = SizeT()
}

@Structure.FieldOrder("ptr", "len")
class StrStruct : Structure {
    @JvmField var ptr: Pointer? = null
    @JvmField var len: SizeT = SizeT()

    constructor() : super()
    constructor(p: Pointer) : super(p) { read() }

    /** The bytes, copied; empty if absent. */
    fun bytes(): ByteArray = ptr?.getByteArray(0, arrayLength(len)) ?: ByteArray(0)

    /** The text, or null if absent (`ptr` NULL). The copied bytes are wiped. */
    fun textOrNull(): String? = ptr?.let { decodeWiping(bytes()) }

    fun text(): String = textOrNull() ?: ""
}

@Structure.FieldOrder("ptr", "len")
class BytesStruct : Structure() {
    @JvmField var ptr: Pointer? = null
    @JvmField var len: SizeT = SizeT()

    fun bytes(): ByteArray = ptr?.getByteArray(0, arrayLength(len)) ?: ByteArray(0)
}

/** `len` as a ByteArray's size; IllegalStateException (not a wrapped, negative size) above what a ByteArray holds. */
internal fun arrayLength(len: SizeT): Int {
    val n = len.toLong()
    check(n >= 0 && n <= Int.MAX_VALUE - 8) {
        "the library returned ${java.lang.Long.toUnsignedString(n)} bytes: more than a ByteArray holds (2 GiB)"
    }
    return n.toInt()
}

@Structure.FieldOrder("conversation", "seq")
open class MessageIdStruct : Structure {
    @JvmField var conversation: Long = 0
    @JvmField var seq: Long = 0

    constructor() : super()
    constructor(p: Pointer) : super(p) { read() }

    fun toId() = MessageId(conversation, seq)

    class ByValue() : MessageIdStruct(), Structure.ByValue {
        constructor(id: MessageId) : this() {
            conversation = id.conversation
            seq = id.seq
        }
    }
}

@Structure.FieldOrder("sent_at_ms", "message")
class SearchCursorStruct : Structure() {
    @JvmField var sent_at_ms: Long = 0
    @JvmField var message: MessageIdStruct = MessageIdStruct()

    fun toCursor() = SearchCursor(sent_at_ms, message.toId())
}

@Structure.FieldOrder("start", "end")
class MatchRangeStruct(p: Pointer) : Structure(p) {
    @JvmField var start: SizeT = SizeT()
    @JvmField var end: SizeT = SizeT()

    init { read() }
}

// ---------------------------------------------------------------- what the package fills in

@Structure.FieldOrder(
    "struct_size", "durability", "has_busy_timeout", "busy_timeout_ms", "has_max_size", "max_size_bytes", "has_max_kdf",
    "max_kdf_memory_kib", "max_kdf_iterations", "max_kdf_parallelism", "kdf", "now_ms", "clock_ctx"
)
class StoreOptionsStruct : InStruct() {
    @JvmField var durability: Int = 0
    @JvmField var has_busy_timeout: Byte = 0
    @JvmField var busy_timeout_ms: Long = 0
    @JvmField var has_max_size: Byte = 0
    @JvmField var max_size_bytes: Long = 0
    @JvmField var has_max_kdf: Byte = 0
    @JvmField var max_kdf_memory_kib: Int = 0
    @JvmField var max_kdf_iterations: Int = 0
    @JvmField var max_kdf_parallelism: Int = 0
    @JvmField var kdf: Pointer? = null
    @JvmField var now_ms: ClockFn? = null
    @JvmField var clock_ctx: Pointer? = null

    init { sized() }
}

@Structure.FieldOrder("struct_size", "memory_kib", "iterations", "parallelism")
class KdfParamsStruct : InStruct() {
    @JvmField var memory_kib: Int = 0
    @JvmField var iterations: Int = 0
    @JvmField var parallelism: Int = 0

    init { sized() }
}

@Structure.FieldOrder("struct_size", "kdf", "chunk_size")
class ExportOptionsStruct : InStruct() {
    @JvmField var kdf: Pointer? = null
    @JvmField var chunk_size: Long = 0

    init { sized() }
}

@Structure.FieldOrder("struct_size", "max_kdf")
class ImportOptionsStruct : InStruct() {
    @JvmField var max_kdf: Pointer? = null

    init { sized() }
}

@Structure.FieldOrder("struct_size", "max_transactions", "time_budget_ms", "kdf")
class RotateOptionsStruct : InStruct() {
    @JvmField var max_transactions: Long = 0
    @JvmField var time_budget_ms: Long = 0
    @JvmField var kdf: Pointer? = null

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "external_id", "title", "members", "members_len", "app_data", "has_created_at", "created_at_ms",
    "has_retention", "retention_ms"
)
class NewConversationStruct : InStruct() {
    @JvmField var external_id: StrStruct = StrStruct()
    @JvmField var title: StrStruct = StrStruct()
    @JvmField var members: Pointer? = null
    @JvmField var members_len: SizeT = SizeT()
    @JvmField var app_data: BytesStruct = BytesStruct()
    @JvmField var has_created_at: Byte = 0
    @JvmField var created_at_ms: Long = 0
    @JvmField var has_retention: Byte = 0
    @JvmField var retention_ms: Long = 0

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "has_title", "title", "has_members", "members", "members_len", "has_app_data", "app_data",
    "set_retention", "has_retention", "retention_ms"
)
class ConversationChangesStruct : InStruct() {
    @JvmField var has_title: Byte = 0
    @JvmField var title: StrStruct = StrStruct()
    @JvmField var has_members: Byte = 0
    @JvmField var members: Pointer? = null
    @JvmField var members_len: SizeT = SizeT()
    @JvmField var has_app_data: Byte = 0
    @JvmField var app_data: BytesStruct = BytesStruct()
    @JvmField var set_retention: Byte = 0
    @JvmField var has_retention: Byte = 0
    @JvmField var retention_ms: Long = 0

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "external_id", "sender", "text", "sent_at_ms", "has_reply_to", "reply_to_seq", "extra",
    "has_expires_at", "expires_at_ms"
)
class NewMessageStruct : InStruct() {
    @JvmField var external_id: StrStruct = StrStruct()
    @JvmField var sender: StrStruct = StrStruct()
    @JvmField var text: StrStruct = StrStruct()
    @JvmField var sent_at_ms: Long = 0
    @JvmField var has_reply_to: Byte = 0
    @JvmField var reply_to_seq: Long = 0
    @JvmField var extra: BytesStruct = BytesStruct()
    @JvmField var has_expires_at: Byte = 0
    @JvmField var expires_at_ms: Long = 0

    init { sized() }
}

@Structure.FieldOrder("struct_size", "conversation", "message")
class BatchEntryStruct : InStruct() {
    @JvmField var conversation: Long = 0
    @JvmField var message: Pointer? = null

    init { sized() }
}

@Structure.FieldOrder("struct_size", "time_budget_ms", "segment_budget", "target_messages", "target_bytes")
class CompactOptionsStruct : InStruct() {
    @JvmField var time_budget_ms: Long = 0
    @JvmField var segment_budget: Long = 0
    @JvmField var target_messages: Long = 0
    @JvmField var target_bytes: Long = 0

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "me", "messages_per_page", "has_zone", "zone_offset_seconds", "zone_name", "replace_existing", "zone",
    "zone_ctx"
)
class HtmlOptionsStruct : InStruct() {
    @JvmField var me: StrStruct = StrStruct()
    @JvmField var messages_per_page: Long = 0
    @JvmField var has_zone: Byte = 0
    @JvmField var zone_offset_seconds: Int = 0
    @JvmField var zone_name: StrStruct = StrStruct()
    @JvmField var replace_existing: Byte = 0
    @JvmField var zone: ZoneFn? = null
    @JvmField var zone_ctx: Pointer? = null

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "text", "has_conversation", "conversation", "sender", "has_from", "from_ms", "has_until", "until_ms",
    "limit", "has_after", "after"
)
class SearchQueryStruct : InStruct() {
    @JvmField var text: StrStruct = StrStruct()
    @JvmField var has_conversation: Byte = 0
    @JvmField var conversation: Long = 0
    @JvmField var sender: StrStruct = StrStruct()
    @JvmField var has_from: Byte = 0
    @JvmField var from_ms: Long = 0
    @JvmField var has_until: Byte = 0
    @JvmField var until_ms: Long = 0
    @JvmField var limit: SizeT = SizeT()
    @JvmField var has_after: Byte = 0
    @JvmField var after: SearchCursorStruct = SearchCursorStruct()

    init { sized() }
}

@Structure.FieldOrder("struct_size", "media_type", "file_name", "app_data")
class NewAttachmentStruct : InStruct() {
    @JvmField var media_type: StrStruct = StrStruct()
    @JvmField var file_name: StrStruct = StrStruct()
    @JvmField var app_data: BytesStruct = BytesStruct()

    init { sized() }
}

@Structure.FieldOrder(
    "struct_size", "has_conversation", "conversation", "has_media_type_prefix", "media_type_prefix", "has_created_before",
    "created_before_ms", "has_min_bytes", "min_bytes"
)
class AttachmentFilterStruct : InStruct() {
    @JvmField var has_conversation: Byte = 0
    @JvmField var conversation: Long = 0
    @JvmField var has_media_type_prefix: Byte = 0
    @JvmField var media_type_prefix: StrStruct = StrStruct()
    @JvmField var has_created_before: Byte = 0
    @JvmField var created_before_ms: Long = 0
    @JvmField var has_min_bytes: Byte = 0
    @JvmField var min_bytes: Long = 0

    init { sized() }
}

// ---------------------------------------------------------------- reports the library writes into the package's struct

@Structure.FieldOrder(
    "struct_size", "conversations", "references", "references_dropped", "transactions", "conversations_damaged",
    "finished", "key_in_force"
)
class RotationReportStruct : InStruct() {
    @JvmField var conversations: Long = 0
    @JvmField var references: Long = 0
    @JvmField var references_dropped: Long = 0
    @JvmField var transactions: Long = 0
    @JvmField var conversations_damaged: Long = 0
    @JvmField var finished: Byte = 0
    @JvmField var key_in_force: Byte = 0

    init { sized() }

    fun toReport() = RotationReport(
        conversations, references, references_dropped, transactions, conversations_damaged, flag(finished), flag(key_in_force)
    )
}

@Structure.FieldOrder(
    "struct_size", "conversations", "messages", "segments", "segments_uncompacted", "segment_bytes", "file_bytes",
    "wal_bytes", "reclaimable_bytes", "attachments", "attachment_bytes", "attachments_in_files", "orphan_files",
    "orphan_file_bytes"
)
class StatsStruct : InStruct() {
    @JvmField var conversations: Long = 0
    @JvmField var messages: Long = 0
    @JvmField var segments: Long = 0
    @JvmField var segments_uncompacted: Long = 0
    @JvmField var segment_bytes: Long = 0
    @JvmField var file_bytes: Long = 0
    @JvmField var wal_bytes: Long = 0
    @JvmField var reclaimable_bytes: Long = 0
    @JvmField var attachments: Long = 0
    @JvmField var attachment_bytes: Long = 0
    @JvmField var attachments_in_files: Long = 0
    @JvmField var orphan_files: Long = 0
    @JvmField var orphan_file_bytes: Long = 0

    init { sized() }

    fun toStats() = Stats(
        conversations, messages, segments, segments_uncompacted, segment_bytes, file_bytes, wal_bytes,
        reclaimable_bytes, attachments, attachment_bytes, attachments_in_files, orphan_files, orphan_file_bytes
    )
}

@Structure.FieldOrder(
    "struct_size", "conversations_compacted", "segments_rewritten", "segments_written", "messages_expired",
    "keys_destroyed", "bytes_before", "bytes_after", "conversations_skipped", "work_remains", "attachments_expired",
    "orphan_files_removed"
)
class CompactReportStruct : InStruct() {
    @JvmField var conversations_compacted: Long = 0
    @JvmField var segments_rewritten: Long = 0
    @JvmField var segments_written: Long = 0
    @JvmField var messages_expired: Long = 0
    @JvmField var keys_destroyed: Long = 0
    @JvmField var bytes_before: Long = 0
    @JvmField var bytes_after: Long = 0
    @JvmField var conversations_skipped: Long = 0
    @JvmField var work_remains: Byte = 0
    @JvmField var attachments_expired: Long = 0
    @JvmField var orphan_files_removed: Long = 0

    init { sized() }

    fun toReport() = CompactReport(
        conversations_compacted, segments_rewritten, segments_written, messages_expired, keys_destroyed,
        bytes_before, bytes_after, conversations_skipped, flag(work_remains), attachments_expired, orphan_files_removed
    )
}

@Structure.FieldOrder("struct_size", "conversations", "messages", "bytes", "attachments")
class ExportReportStruct : InStruct() {
    @JvmField var conversations: Long = 0
    @JvmField var messages: Long = 0
    @JvmField var bytes: Long = 0
    @JvmField var attachments: Long = 0

    init { sized() }

    fun toReport() = ExportReport(conversations, messages, bytes, attachments)
}

@Structure.FieldOrder(
    "struct_size", "conversations_created", "conversations_matched", "messages_added", "messages_skipped", "bytes",
    "attachments_added", "attachments_skipped"
)
class ImportReportStruct : InStruct() {
    @JvmField var conversations_created: Long = 0
    @JvmField var conversations_matched: Long = 0
    @JvmField var messages_added: Long = 0
    @JvmField var messages_skipped: Long = 0
    @JvmField var bytes: Long = 0
    @JvmField var attachments_added: Long = 0
    @JvmField var attachments_skipped: Long = 0

    init { sized() }

    fun toReport() = ImportReport(
        conversations_created, conversations_matched, messages_added, messages_skipped, bytes, attachments_added,
        attachments_skipped
    )
}

@Structure.FieldOrder("struct_size", "conversations", "messages", "pages", "has_index", "attachment_dirs")
class HtmlReportStruct : InStruct() {
    @JvmField var conversations: Long = 0
    @JvmField var messages: Long = 0
    @JvmField var pages: Long = 0
    @JvmField var has_index: Byte = 0
    @JvmField var attachment_dirs: Long = 0

    init { sized() }

    fun toReport() = HtmlReport(conversations, messages, pages, flag(has_index), attachment_dirs)
}

@Structure.FieldOrder("struct_size", "segments_indexed", "segments_remaining", "segments_skipped")
class IndexReportStruct : InStruct() {
    @JvmField var segments_indexed: Long = 0
    @JvmField var segments_remaining: Long = 0
    @JvmField var segments_skipped: Long = 0

    init { sized() }

    fun toReport() = IndexReport(segments_indexed, segments_remaining, segments_skipped)
}

@Structure.FieldOrder("struct_size", "attachments", "bytes")
class ClearReportStruct : InStruct() {
    @JvmField var attachments: Long = 0
    @JvmField var bytes: Long = 0

    init { sized() }

    fun toReport() = ClearReport(attachments, bytes)
}

// ---------------------------------------------------------------- what the library allocates

@Structure.FieldOrder(
    "struct_size", "id", "external_id", "title", "members", "members_len", "app_data", "created_at_ms",
    "has_read_up_to", "read_up_to_seq", "message_count", "has_retention", "retention_ms"
)
class ConversationStruct(p: Pointer) : OutStruct(p) {
    @JvmField var id: Long = 0
    @JvmField var external_id: StrStruct = StrStruct()
    @JvmField var title: StrStruct = StrStruct()
    @JvmField var members: Pointer? = null
    @JvmField var members_len: SizeT = SizeT()
    @JvmField var app_data: BytesStruct = BytesStruct()
    @JvmField var created_at_ms: Long = 0
    @JvmField var has_read_up_to: Byte = 0
    @JvmField var read_up_to_seq: Long = 0
    @JvmField var message_count: Long = 0
    @JvmField var has_retention: Byte = 0
    @JvmField var retention_ms: Long = 0

    init { readSized() }

    fun toConversation(): Conversation {
        // A plain array of chatvault_str (a fixed struct: no stride).
        val strSize = StrStruct().size().toLong()
        val base = members
        val memberList = (0 until members_len.toLong()).map { i ->
            if (base == null) "" else StrStruct(base.share(i * strSize)).text()
        }
        return Conversation(
            id = id,
            externalId = external_id.textOrNull(),
            title = title.text(),
            members = memberList,
            appData = app_data.bytes(),
            createdAtMs = created_at_ms,
            readUpToSeq = if (flag(has_read_up_to)) read_up_to_seq else null,
            messageCount = message_count,
            retentionMs = if (flag(has_retention)) retention_ms else null
        )
    }
}

@Structure.FieldOrder(
    "struct_size", "id", "external_id", "sender", "text", "sent_at_ms", "has_edited_at", "edited_at_ms",
    "has_expires_at", "expires_at_ms", "has_reply_to", "reply_to_seq", "extra"
)
class MessageStruct(p: Pointer) : OutStruct(p) {
    @JvmField var id: MessageIdStruct = MessageIdStruct()
    @JvmField var external_id: StrStruct = StrStruct()
    @JvmField var sender: StrStruct = StrStruct()
    @JvmField var text: StrStruct = StrStruct()
    @JvmField var sent_at_ms: Long = 0
    @JvmField var has_edited_at: Byte = 0
    @JvmField var edited_at_ms: Long = 0
    @JvmField var has_expires_at: Byte = 0
    @JvmField var expires_at_ms: Long = 0
    @JvmField var has_reply_to: Byte = 0
    @JvmField var reply_to_seq: Long = 0
    @JvmField var extra: BytesStruct = BytesStruct()

    init { readSized() }

    fun toMessage(): Message = Message(
        id = id.toId(),
        externalId = external_id.textOrNull(),
        sender = sender.text(),
        text = text.text(),
        sentAtMs = sent_at_ms,
        editedAtMs = if (flag(has_edited_at)) edited_at_ms else null,
        expiresAtMs = if (flag(has_expires_at)) expires_at_ms else null,
        replyToSeq = if (flag(has_reply_to)) reply_to_seq else null,
        extra = extra.bytes()
    )
}

@Structure.FieldOrder("struct_size", "conversation", "last_message", "unread_count")
class ConversationSummaryStruct(p: Pointer) : OutStruct(p) {
    @JvmField var conversation: Pointer? = null
    @JvmField var last_message: Pointer? = null
    @JvmField var unread_count: Long = 0

    init { readSized() }

    fun toSummary() = ConversationSummary(
        ConversationStruct(conversation ?: throw IllegalStateException("the library returned a summary without its conversation"))
            .toConversation(),
        last_message?.let { MessageStruct(it).toMessage() },
        unread_count
    )
}

/** The layout of every `{ struct_size, items, len }` list the library returns. */
@Structure.FieldOrder("struct_size", "items", "len")
class ListStruct(p: Pointer) : OutStruct(p) {
    @JvmField var items: Pointer? = null
    @JvmField var len: SizeT = SizeT()

    init { readSized() }

    /** Each item, read by [read] at the stride of the first item's struct_size. */
    fun <T> map(read: (Pointer) -> T): List<T> = items(items, len.toLong(), read)
}

@Structure.FieldOrder("struct_size", "conversations_done", "conversations_total", "segments_rewritten")
class CompactProgressStruct(p: Pointer) : OutStruct(p) {
    @JvmField var conversations_done: Long = 0
    @JvmField var conversations_total: Long = 0
    @JvmField var segments_rewritten: Long = 0

    init { readSized() }

    fun toProgress() = CompactProgress(conversations_done, conversations_total, segments_rewritten)
}

@Structure.FieldOrder(
    "struct_size", "kind", "has_conversation", "conversation", "has_seqs", "first_seq", "last_seq", "has_epoch", "epoch",
    "detail"
)
class ProblemStruct(p: Pointer) : OutStruct(p) {
    @JvmField var kind: Int = 0
    @JvmField var has_conversation: Byte = 0
    @JvmField var conversation: Long = 0
    @JvmField var has_seqs: Byte = 0
    @JvmField var first_seq: Long = 0
    @JvmField var last_seq: Long = 0
    @JvmField var has_epoch: Byte = 0
    @JvmField var epoch: Int = 0
    @JvmField var detail: StrStruct = StrStruct()

    init { readSized() }

    fun toProblem() = Problem(
        kind = ProblemKind.of(kind),
        kindCode = kind,
        conversation = if (flag(has_conversation)) conversation else null,
        firstSeq = if (flag(has_seqs)) first_seq else null,
        lastSeq = if (flag(has_seqs)) last_seq else null,
        epoch = if (flag(has_epoch)) u32(epoch) else null,
        detail = detail.text()
    )
}

@Structure.FieldOrder("struct_size", "conversations", "segments", "messages", "problems", "problems_len", "attachments")
class VerifyReportStruct(p: Pointer) : OutStruct(p) {
    @JvmField var conversations: Long = 0
    @JvmField var segments: Long = 0
    @JvmField var messages: Long = 0
    @JvmField var problems: Pointer? = null
    @JvmField var problems_len: SizeT = SizeT()
    @JvmField var attachments: Long = 0

    init { readSized() }

    fun toReport() = VerifyReport(
        conversations, segments, messages, attachments, items(problems, problems_len.toLong()) { ProblemStruct(it).toProblem() }
    )
}

@Structure.FieldOrder("struct_size", "bytes", "conversations", "messages", "total_conversations", "total_messages")
class ArchiveProgressStruct(p: Pointer) : OutStruct(p) {
    @JvmField var bytes: Long = 0
    @JvmField var conversations: Long = 0
    @JvmField var messages: Long = 0
    @JvmField var total_conversations: Long = 0
    @JvmField var total_messages: Long = 0

    init { readSized() }

    fun toProgress() = ArchiveProgress(bytes, conversations, messages, total_conversations, total_messages)
}

@Structure.FieldOrder(
    "struct_size", "external_id", "title", "messages", "has_sent_between", "first_sent_ms", "last_sent_ms", "attachments"
)
class ArchivedConversationStruct(p: Pointer) : OutStruct(p) {
    @JvmField var external_id: StrStruct = StrStruct()
    @JvmField var title: StrStruct = StrStruct()
    @JvmField var messages: Long = 0
    @JvmField var has_sent_between: Byte = 0
    @JvmField var first_sent_ms: Long = 0
    @JvmField var last_sent_ms: Long = 0
    @JvmField var attachments: Long = 0

    init { readSized() }

    fun toConversation() = ArchivedConversation(
        externalId = external_id.textOrNull(),
        title = title.text(),
        messages = messages,
        firstSentMs = if (flag(has_sent_between)) first_sent_ms else null,
        lastSentMs = if (flag(has_sent_between)) last_sent_ms else null,
        attachments = attachments
    )
}

@Structure.FieldOrder(
    "struct_size", "version", "key_kind", "chatvault_version", "exported_at_ms", "conversations", "conversations_len",
    "messages", "attachments", "attachment_bytes", "bytes"
)
class ArchiveSummaryStruct(p: Pointer) : OutStruct(p) {
    @JvmField var version: Int = 0
    @JvmField var key_kind: Int = 0
    @JvmField var chatvault_version: StrStruct = StrStruct()
    @JvmField var exported_at_ms: Long = 0
    @JvmField var conversations: Pointer? = null
    @JvmField var conversations_len: SizeT = SizeT()
    @JvmField var messages: Long = 0
    @JvmField var attachments: Long = 0
    @JvmField var attachment_bytes: Long = 0
    @JvmField var bytes: Long = 0

    init { readSized() }

    fun toSummary() = ArchiveSummary(
        version = u32(version),
        keyKind = when (key_kind) {
            Raw.KEY_KIND_RAW -> KeyKind.RAW
            Raw.KEY_KIND_PASSPHRASE -> KeyKind.PASSPHRASE
            else -> KeyKind.UNKNOWN
        },
        chatvaultVersion = chatvault_version.text(),
        exportedAtMs = exported_at_ms,
        conversations = items(conversations, conversations_len.toLong()) { ArchivedConversationStruct(it).toConversation() },
        messages = messages,
        attachments = attachments,
        attachmentBytes = attachment_bytes,
        bytes = bytes
    )
}

@Structure.FieldOrder("struct_size", "message", "ranges", "ranges_len")
class SearchHitStruct(p: Pointer) : OutStruct(p) {
    @JvmField var message: Pointer? = null
    @JvmField var ranges: Pointer? = null
    @JvmField var ranges_len: SizeT = SizeT()

    init { readSized() }

    fun toHit(): SearchHit {
        val m = MessageStruct(message ?: throw IllegalStateException("the library returned a search hit without its message"))
        val byteRanges = Read.matchRanges(ranges, ranges_len.toLong())
        val utf8 = m.text.bytes()
        try {
            return SearchHit(m.toMessage(), Utf16.ranges(utf8, byteRanges))
        } finally {
            utf8.fill(0)
        }
    }
}

@Structure.FieldOrder("struct_size", "items", "len", "has_next", "next", "unindexed_segments")
class SearchPageStruct(p: Pointer) : OutStruct(p) {
    @JvmField var items: Pointer? = null
    @JvmField var len: SizeT = SizeT()
    @JvmField var has_next: Byte = 0
    @JvmField var next: SearchCursorStruct = SearchCursorStruct()
    @JvmField var unindexed_segments: Long = 0

    init { readSized() }

    fun toPage() = SearchPage(
        items(items, len.toLong()) { SearchHitStruct(it).toHit() },
        if (flag(has_next)) next.toCursor() else null,
        unindexed_segments
    )
}

@Structure.FieldOrder(
    "struct_size", "id", "message", "media_type", "file_name", "byte_len", "app_data", "created_at_ms", "has_removed_at",
    "removed_at_ms"
)
class AttachmentStruct(p: Pointer) : OutStruct(p) {
    @JvmField var id: Long = 0
    @JvmField var message: MessageIdStruct = MessageIdStruct()
    @JvmField var media_type: StrStruct = StrStruct()
    @JvmField var file_name: StrStruct = StrStruct()
    @JvmField var byte_len: Long = 0
    @JvmField var app_data: BytesStruct = BytesStruct()
    @JvmField var created_at_ms: Long = 0
    @JvmField var has_removed_at: Byte = 0
    @JvmField var removed_at_ms: Long = 0

    init { readSized() }

    fun toAttachment() = Attachment(
        id = id,
        message = message.toId(),
        mediaType = media_type.text(),
        fileName = file_name.textOrNull(),
        byteLen = byte_len,
        appData = app_data.bytes(),
        createdAtMs = created_at_ms,
        removedAtMs = if (flag(has_removed_at)) removed_at_ms else null
    )
}

@Structure.FieldOrder("struct_size", "conversation", "text_bytes", "attachment_bytes", "attachments")
class ConversationUsageStruct(p: Pointer) : OutStruct(p) {
    @JvmField var conversation: Long = 0
    @JvmField var text_bytes: Long = 0
    @JvmField var attachment_bytes: Long = 0
    @JvmField var attachments: Long = 0

    init { readSized() }

    fun toUsage() = StorageUsage(conversation, text_bytes, attachment_bytes, attachments)
}

@Structure.FieldOrder("struct_size", "text")
class TextStruct(p: Pointer) : OutStruct(p) {
    @JvmField var text: StrStruct = StrStruct()

    init { readSized() }
}

// ---------------------------------------------------------------- reading what the library returns

/** Readers of the allocations the library returns; each takes the pointer the call wrote. */
internal object Read {
    /** A chatvault_text's text (its copied bytes wiped once decoded). */
    fun text(p: Pointer): String = TextStruct(p).text.text()

    /** `len` chatvault_match_range at `base`: a plain array (a fixed struct: no stride), as byte offsets. */
    fun matchRanges(base: Pointer?, len: Long): List<Pair<Long, Long>> {
        if (base == null || len == 0L) return emptyList()
        val size = MatchRangeStruct(base).size().toLong()
        return (0 until len).map { i ->
            val r = MatchRangeStruct(base.share(i * size))
            r.start.toLong() to r.end.toLong()
        }
    }

    fun conversation(p: Pointer): Conversation = ConversationStruct(p).toConversation()

    fun message(p: Pointer): Message = MessageStruct(p).toMessage()

    fun messagePage(p: Pointer): List<Message> = ListStruct(p).map { MessageStruct(it).toMessage() }

    fun conversationList(p: Pointer): List<ConversationSummary> = ListStruct(p).map { ConversationSummaryStruct(it).toSummary() }

    fun verifyReport(p: Pointer): VerifyReport = VerifyReportStruct(p).toReport()

    fun searchPage(p: Pointer): SearchPage = SearchPageStruct(p).toPage()

    fun attachment(p: Pointer): Attachment = AttachmentStruct(p).toAttachment()

    fun attachmentList(p: Pointer): List<Attachment> = ListStruct(p).map { AttachmentStruct(it).toAttachment() }

    fun storageUsage(p: Pointer): List<StorageUsage> = ListStruct(p).map { ConversationUsageStruct(it).toUsage() }

    fun archiveSummary(p: Pointer): ArchiveSummary = ArchiveSummaryStruct(p).toSummary()

    fun compactProgress(p: Pointer): CompactProgress = CompactProgressStruct(p).toProgress()

    fun archiveProgress(p: Pointer): ArchiveProgress = ArchiveProgressStruct(p).toProgress()

    /** The size_t the library wrote at `p`. */
    fun sizeT(p: Pointer): Long = if (Native.SIZE_T_SIZE == 8) p.getLong(0) else u32(p.getInt(0))

    /** The text of a chatvault_str the library wrote. */
    fun str(s: StrStruct): String = s.text()

    /** A uint32_t the library wrote, as the unsigned number. */
    fun unsigned(r: IntByReference): Long = u32(r.value)
}

/**
 * The size of each struct as this file lays it out, by C name: the suite
 * checks them against the library's sizeof (ffi/tests/kotlin.rs passes
 * those in). A library struct is measured on zeroed memory.
 */
internal object Layout {
    fun sizes(): Map<String, Int> {
        val zero = Memory(4096).also { it.clear() }
        try {
            return linkedMapOf(
                "chatvault_key" to KeyStruct().size(),
                "chatvault_str" to StrStruct().size(),
                "chatvault_bytes" to BytesStruct().size(),
                "chatvault_message_id" to MessageIdStruct().size(),
                "chatvault_search_cursor" to SearchCursorStruct().size(),
                "chatvault_match_range" to MatchRangeStruct(zero).size(),
                "chatvault_store_options" to StoreOptionsStruct().size(),
                "chatvault_kdf_params" to KdfParamsStruct().size(),
                "chatvault_export_options" to ExportOptionsStruct().size(),
                "chatvault_import_options" to ImportOptionsStruct().size(),
                "chatvault_match_list" to ListStruct(zero).size(),
                "chatvault_text" to TextStruct(zero).size(),
                "chatvault_rotate_options" to RotateOptionsStruct().size(),
                "chatvault_new_conversation" to NewConversationStruct().size(),
                "chatvault_conversation_changes" to ConversationChangesStruct().size(),
                "chatvault_new_message" to NewMessageStruct().size(),
                "chatvault_batch_entry" to BatchEntryStruct().size(),
                "chatvault_compact_options" to CompactOptionsStruct().size(),
                "chatvault_html_options" to HtmlOptionsStruct().size(),
                "chatvault_search_query" to SearchQueryStruct().size(),
                "chatvault_new_attachment" to NewAttachmentStruct().size(),
                "chatvault_attachment_filter" to AttachmentFilterStruct().size(),
                "chatvault_rotation_report" to RotationReportStruct().size(),
                "chatvault_stats" to StatsStruct().size(),
                "chatvault_compact_report" to CompactReportStruct().size(),
                "chatvault_export_report" to ExportReportStruct().size(),
                "chatvault_import_report" to ImportReportStruct().size(),
                "chatvault_html_report" to HtmlReportStruct().size(),
                "chatvault_index_report" to IndexReportStruct().size(),
                "chatvault_clear_report" to ClearReportStruct().size(),
                "chatvault_conversation" to ConversationStruct(zero).size(),
                "chatvault_message" to MessageStruct(zero).size(),
                "chatvault_conversation_summary" to ConversationSummaryStruct(zero).size(),
                "chatvault_conversation_list" to ListStruct(zero).size(),
                "chatvault_message_page" to ListStruct(zero).size(),
                "chatvault_attachment_list" to ListStruct(zero).size(),
                "chatvault_storage_usage_list" to ListStruct(zero).size(),
                "chatvault_compact_progress" to CompactProgressStruct(zero).size(),
                "chatvault_problem" to ProblemStruct(zero).size(),
                "chatvault_verify_report" to VerifyReportStruct(zero).size(),
                "chatvault_archive_progress" to ArchiveProgressStruct(zero).size(),
                "chatvault_archived_conversation" to ArchivedConversationStruct(zero).size(),
                "chatvault_archive_summary" to ArchiveSummaryStruct(zero).size(),
                "chatvault_search_hit" to SearchHitStruct(zero).size(),
                "chatvault_search_page" to SearchPageStruct(zero).size(),
                "chatvault_attachment" to AttachmentStruct(zero).size(),
                "chatvault_conversation_usage" to ConversationUsageStruct(zero).size()
            )
        } finally {
            zero.close()
        }
    }
}

// ---------------------------------------------------------------- building what the library reads

/**
 * Native memory for one call's inputs: texts, bytes, keys, arrays and the
 * structs they hang from. Closing it zeroes every byte it allocated
 * (message text and keys included) and frees it: use it with `use {}`
 * around the call.
 */
internal class Arena : Closeable {
    private val blocks = ArrayList<Memory>()
    private val structs = ArrayList<Structure>()

    /** A copy of `b` in native memory (null for an empty array); `b` itself is left as it is. */
    fun copy(b: ByteArray): Pointer? {
        if (b.isEmpty()) return null
        val m = Memory(b.size.toLong())
        blocks.add(m)
        m.write(0, b, 0, b.size)
        return m
    }

    /** `s` as UTF-8 in native memory; the heap copy of its bytes is wiped. */
    fun utf8(s: String): Pointer? {
        val b = s.toByteArray(Charsets.UTF_8)
        try {
            return copy(b)
        } finally {
            b.fill(0)
        }
    }

    fun str(s: String?): StrStruct {
        val out = StrStruct()
        fill(out, s)
        return out
    }

    private fun fill(out: StrStruct, s: String?) {
        if (s == null) {
            out.ptr = null
            out.len = SizeT()
            return
        }
        val b = s.toByteArray(Charsets.UTF_8)
        try {
            out.ptr = copy(b)
            out.len = SizeT(b.size.toLong())
        } finally {
            b.fill(0)
        }
    }

    private fun fill(out: BytesStruct, b: ByteArray) {
        out.ptr = copy(b)
        out.len = SizeT(b.size.toLong())
    }

    /** A contiguous array of texts in native memory (null when empty); the structs are kept, and wiped, with the arena. */
    private fun strArray(texts: List<String>): Pointer? {
        if (texts.isEmpty()) return null
        val arr = StrStruct().toArray(texts.size)
        texts.forEachIndexed { i, t -> fill(arr[i] as StrStruct, t) }
        arr.forEach { it.write() }
        structs.add(arr[0])
        return arr[0].pointer
    }

    /** `s` written to its own native memory, kept (and wiped) with the arena: for a struct a pointer field points to. */
    private fun <S : Structure> pinned(s: S): Pointer {
        s.write()
        structs.add(s)
        return s.pointer
    }

    fun key(key: Key): KeyStruct {
        val k = KeyStruct()
        key.withBytes { kind, bytes ->
            k.kind = when (kind) {
                Key.Kind.RAW -> Raw.KEY_KIND_RAW
                Key.Kind.PASSPHRASE -> Raw.KEY_KIND_PASSPHRASE
            }
            k.bytes = copy(bytes)
            k.len = SizeT(bytes.size.toLong())
        }
        structs.add(k)
        return k
    }

    /** A chatvault_kdf_params in native memory (null for none), kept with the arena. */
    fun kdfParams(k: KdfParams?): Pointer? = k?.let {
        pinned(KdfParamsStruct().apply {
            memory_kib = it.memoryKib
            iterations = it.iterations
            parallelism = it.parallelism
        })
    }

    fun exportOptions(kdf: KdfParams?, o: ExportOptions): ExportOptionsStruct = ExportOptionsStruct().also {
        it.kdf = kdfParams(kdf)
        it.chunk_size = o.chunkSize?.toLong() ?: 0
        structs.add(it)
    }

    fun importOptions(o: ImportOptions): ImportOptionsStruct = ImportOptionsStruct().also {
        it.max_kdf = kdfParams(o.maxKdf?.let { m -> KdfParams(m.memoryKib, m.iterations, m.parallelism) })
        structs.add(it)
    }

    /** `o` for the library; `kdf` the new store's passphrase cost, `clock` the callback the Store keeps alive. */
    fun storeOptions(o: StoreOptions, kdf: KdfParams?, clock: ClockFn?): StoreOptionsStruct {
        val s = StoreOptionsStruct()
        s.kdf = kdfParams(kdf)
        s.now_ms = clock
        s.durability = when (o.durability) {
            Durability.FULL -> Raw.DURABILITY_FULL
            Durability.NORMAL -> Raw.DURABILITY_NORMAL
        }
        o.busyTimeoutMs?.let {
            s.has_busy_timeout = 1
            s.busy_timeout_ms = it
        }
        o.maxSizeBytes?.let {
            s.has_max_size = 1
            s.max_size_bytes = it
        }
        o.maxKdf?.let {
            s.has_max_kdf = 1
            s.max_kdf_memory_kib = it.memoryKib
            s.max_kdf_iterations = it.iterations
            s.max_kdf_parallelism = it.parallelism
        }
        return s
    }

    fun rotateOptions(o: RotateOptions, kdf: KdfParams?): RotateOptionsStruct = RotateOptionsStruct().also {
        it.max_transactions = o.maxTransactions ?: 0
        it.time_budget_ms = o.timeBudgetMs ?: 0
        it.kdf = kdfParams(kdf)
    }

    fun newConversation(c: NewConversation): NewConversationStruct {
        val s = NewConversationStruct()
        fill(s.external_id, c.externalId)
        fill(s.title, c.title)
        s.members = strArray(c.members)
        s.members_len = SizeT(c.members.size.toLong())
        fill(s.app_data, c.appData)
        c.createdAtMs?.let {
            s.has_created_at = 1
            s.created_at_ms = it
        }
        c.retentionMs?.let {
            s.has_retention = 1
            s.retention_ms = it
        }
        structs.add(s)
        return s
    }

    fun conversationChanges(c: ConversationChanges): ConversationChangesStruct {
        val s = ConversationChangesStruct()
        c.title?.let {
            s.has_title = 1
            fill(s.title, it)
        }
        c.members?.let {
            s.has_members = 1
            s.members = strArray(it)
            s.members_len = SizeT(it.size.toLong())
        }
        c.appData?.let {
            s.has_app_data = 1
            fill(s.app_data, it)
        }
        when (val r = c.retention) {
            null -> Unit
            is Retention.Off -> s.set_retention = 1
            is Retention.After -> {
                s.set_retention = 1
                s.has_retention = 1
                s.retention_ms = r.ms
            }
        }
        structs.add(s)
        return s
    }

    fun newMessage(m: NewMessage): NewMessageStruct {
        val s = NewMessageStruct()
        fill(s.external_id, m.externalId)
        fill(s.sender, m.sender)
        fill(s.text, m.text)
        s.sent_at_ms = m.sentAtMs
        m.replyToSeq?.let {
            s.has_reply_to = 1
            s.reply_to_seq = it
        }
        fill(s.extra, m.extra)
        m.expiresAtMs?.let {
            s.has_expires_at = 1
            s.expires_at_ms = it
        }
        structs.add(s)
        return s
    }

    /** A contiguous array of entries (the list must not be empty), each pointing at its message, every struct_size set. */
    fun batch(entries: List<Pair<Long, NewMessage>>): Array<BatchEntryStruct> {
        @Suppress("UNCHECKED_CAST")
        val arr = BatchEntryStruct().toArray(entries.size) as Array<BatchEntryStruct>
        val size = arr[0].size()
        entries.forEachIndexed { i, (conversation, message) ->
            // toArray reads the zeroed memory into the elements after the first: set each size again.
            arr[i].struct_size = size
            arr[i].conversation = conversation
            arr[i].message = pinned(newMessage(message))
        }
        structs.add(arr[0])
        return arr
    }

    /** A contiguous array of message ids, to pass in or to receive ids (null when empty). */
    fun messageIds(ids: List<MessageId>): Array<MessageIdStruct>? {
        if (ids.isEmpty()) return null
        @Suppress("UNCHECKED_CAST")
        val arr = MessageIdStruct().toArray(ids.size) as Array<MessageIdStruct>
        ids.forEachIndexed { i, id ->
            arr[i].conversation = id.conversation
            arr[i].seq = id.seq
        }
        return arr
    }

    /** A contiguous array of texts (null when empty). */
    fun strs(texts: List<String>): Array<StrStruct>? {
        if (texts.isEmpty()) return null
        @Suppress("UNCHECKED_CAST")
        val arr = StrStruct().toArray(texts.size) as Array<StrStruct>
        texts.forEachIndexed { i, t -> fill(arr[i], t) }
        structs.add(arr[0])
        return arr
    }

    fun compactOptions(o: CompactOptions): CompactOptionsStruct = CompactOptionsStruct().also {
        it.time_budget_ms = o.timeBudgetMs ?: 0
        it.segment_budget = o.segmentBudget ?: 0
        it.target_messages = o.targetMessages ?: 0
        it.target_bytes = o.targetBytes ?: 0
    }

    /** `o` for the library; `zone` its per-instant zone callback, which the caller keeps alive through the call. */
    fun htmlOptions(o: HtmlOptions, zone: ZoneFn? = null): HtmlOptionsStruct {
        val s = HtmlOptionsStruct()
        s.zone = zone
        fill(s.me, o.me)
        s.messages_per_page = o.messagesPerPage ?: 0
        o.zone?.let {
            s.has_zone = 1
            s.zone_offset_seconds = it.offsetSeconds
            fill(s.zone_name, it.name)
        }
        s.replace_existing = flagOf(o.replaceExisting)
        structs.add(s)
        return s
    }

    fun searchQuery(q: SearchQuery, after: SearchCursor?): SearchQueryStruct {
        val s = SearchQueryStruct()
        fill(s.text, q.text)
        q.conversation?.let {
            s.has_conversation = 1
            s.conversation = it
        }
        fill(s.sender, q.sender)
        q.fromMs?.let {
            s.has_from = 1
            s.from_ms = it
        }
        q.untilMs?.let {
            s.has_until = 1
            s.until_ms = it
        }
        s.limit = SizeT(q.limit.toLong())
        if (after != null) {
            s.has_after = 1
            s.after.sent_at_ms = after.sentAtMs
            s.after.message.conversation = after.message.conversation
            s.after.message.seq = after.message.seq
        }
        structs.add(s)
        return s
    }

    fun newAttachment(a: NewAttachment): NewAttachmentStruct {
        val s = NewAttachmentStruct()
        fill(s.media_type, a.mediaType)
        fill(s.file_name, a.fileName)
        fill(s.app_data, a.appData)
        structs.add(s)
        return s
    }

    fun attachmentFilter(f: AttachmentFilter): AttachmentFilterStruct {
        val s = AttachmentFilterStruct()
        f.conversation?.let {
            s.has_conversation = 1
            s.conversation = it
        }
        f.mediaTypePrefix?.let {
            s.has_media_type_prefix = 1
            fill(s.media_type_prefix, it)
        }
        f.createdBeforeMs?.let {
            s.has_created_before = 1
            s.created_before_ms = it
        }
        f.minBytes?.let {
            s.has_min_bytes = 1
            s.min_bytes = it
        }
        structs.add(s)
        return s
    }

    override fun close() {
        // The structs hold only pointers into the blocks, lengths and
        // numbers; they were kept reachable (their memory alive) until now.
        structs.clear()
        for (m in blocks) {
            m.clear()
            m.close()
        }
        blocks.clear()
    }
}

/** Decodes UTF-8 and wipes the byte copy. */
internal fun decodeWiping(b: ByteArray): String {
    try {
        return String(b, Charsets.UTF_8)
    } finally {
        b.fill(0)
    }
}
