package org.chatvault

import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.ptr.LongByReference
import java.io.Closeable
import java.io.InputStream

/** Bytes copied through native memory at a time; the C API takes pieces of any size. */
private const val CHUNK = 64 * 1024

/**
 * An attachment being written ([Store.beginAttachment]). Write the content
 * in pieces of any size, then [finish]. [close] drops an unfinished one
 * (what it wrote is removed), so `use {}` never leaves a writer open.
 * Meant for one thread at a time (calls are serialised).
 */
class AttachmentWriter internal constructor(
    private var handle: Pointer?,
    /**
     * The store it writes to, referenced so the JVM keeps the store (and
     * the clock callback the library calls when the writer finishes) while
     * the writer lives.
     */
    private val store: Store
) : Closeable {
    private val lib = Raw.lib
    private var buffer: Memory? = null

    private fun live(): Pointer {
        store.guard.refuse()
        return handle ?: throw IllegalStateException("the attachment writer is finished or closed")
    }

    /** Appends `length` bytes of `bytes` from `offset`. */
    @Synchronized
    @JvmOverloads
    fun write(bytes: ByteArray, offset: Int = 0, length: Int = bytes.size - offset) {
        require(offset >= 0 && length >= 0 && offset <= bytes.size - length) { "offset $offset and length $length are outside the array" }
        val h = live()
        val buf = buffer ?: Memory(CHUNK.toLong()).also { buffer = it }
        var done = 0
        while (done < length) {
            val n = minOf(CHUNK, length - done)
            buf.write(0, bytes, offset + done, n)
            check(lib.chatvault_attachment_write(h, buf, SizeT(n.toLong())))
            done += n
        }
    }

    /** Appends everything `input` gives until its end; returns how many bytes. */
    fun write(input: InputStream): Long {
        val chunk = ByteArray(CHUNK)
        var total = 0L
        try {
            while (true) {
                val n = input.read(chunk)
                if (n < 0) break
                write(chunk, 0, n)
                total += n
            }
        } finally {
            chunk.fill(0)
        }
        return total
    }

    /** Stores the attachment and returns its id. The writer is spent whatever happens. */
    @Synchronized
    fun finish(): Long {
        val h = live()
        handle = null
        wipe()
        val out = LongByReference()
        check(lib.chatvault_attachment_finish(h, out))
        return out.value
    }

    /** Drops the attachment if [finish] has not stored it; does nothing otherwise. */
    @Synchronized
    override fun close() {
        val h = handle ?: return
        handle = null
        wipe()
        lib.chatvault_attachment_abort(h)
    }

    private fun wipe() {
        buffer?.let {
            it.clear()
            it.close()
        }
        buffer = null
    }
}

/**
 * An attachment's content open for reading ([Store.openAttachment]). It
 * needs no store: it keeps working after the store is closed. Only the
 * 64 KiB chunks a read spans are decrypted; a damaged chunk throws
 * [Status.AUTHENTICATION_FAILED] and gives no bytes. Close it when done.
 */
class AttachmentReader internal constructor(private var handle: Pointer?) : Closeable {
    private val lib = Raw.lib

    private fun live(): Pointer = handle ?: throw IllegalStateException("the attachment reader is closed")

    /** The content's length in bytes. */
    val length: Long
        @Synchronized get() {
            val out = LongByReference()
            check(lib.chatvault_attachment_length(live(), out))
            return out.value
        }

    /** How many chunks this reader has decrypted: a read decrypts only the chunks its range spans, and none it decrypted last. */
    val chunksDecrypted: Long
        @Synchronized get() {
            val out = LongByReference()
            check(lib.chatvault_attachment_chunks_decrypted(live(), out))
            return out.value
        }

    /** Reads from byte `position` into `into`, filling it up to the end of the content; returns the count (0 at the end). */
    @Synchronized
    @JvmOverloads
    fun readAt(position: Long, into: ByteArray, offset: Int = 0, length: Int = into.size - offset): Int {
        require(offset >= 0 && length >= 0 && offset <= into.size - length) { "offset $offset and length $length are outside the array" }
        require(position >= 0) { "position must not be negative, not $position" }
        val h = live()
        if (length == 0) return 0
        val buf = Memory(length.toLong())
        val n = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            check(lib.chatvault_attachment_read_at(h, position, buf, SizeT(length.toLong()), n))
            val count = Read.sizeT(n).toInt()
            buf.read(0, into, offset, count)
            return count
        } finally {
            buf.clear()
            buf.close()
            n.close()
        }
    }

    /** The whole content (it must fit in a ByteArray). */
    fun readAll(): ByteArray {
        val len = length
        require(len <= Int.MAX_VALUE - 8) { "the attachment has $len bytes: read it in ranges with readAt" }
        val out = ByteArray(len.toInt())
        var done = 0
        while (done < out.size) {
            val n = readAt(done.toLong(), out, done, minOf(CHUNK * 4, out.size - done))
            if (n == 0) break
            done += n
        }
        return if (done == out.size) out else out.copyOf(done)
    }

    @Synchronized
    override fun close() {
        val h = handle ?: return
        handle = null
        lib.chatvault_attachment_close(h)
    }
}
