package org.chatvault

import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.CharBuffer

/**
 * A store or archive key: 32 raw bytes (from the Android Keystore, the
 * recommended kind: no key derivation runs) or a passphrase (stretched
 * with Argon2id by the library).
 *
 * A Key holds its own copy of the bytes; [close] zeroes it, and every call
 * that used it has already zeroed the native copy it passed to the
 * library. Use it with `use {}`, and wipe the array or chars you built it
 * from yourself. A passphrase given as a String cannot be wiped (the JVM
 * may have copies of it): prefer a CharArray.
 */
class Key private constructor(
    internal val kind: Kind,
    private val bytes: ByteArray,
    /** A passphrase's Argon2id cost where it protects a new store or archive (null: the library's default). */
    internal val kdf: KdfParams? = null
) : Closeable {
    internal enum class Kind { RAW, PASSPHRASE }

    @Volatile
    private var wiped = false

    /**
     * Runs `use` with the key's kind and bytes; refused once the key is
     * closed. Synchronized with [close], so a concurrent close waits
     * rather than zeroing the bytes while `use` reads them.
     */
    @Synchronized
    internal fun <T> withBytes(use: (Kind, ByteArray) -> T): T {
        check(!wiped) { "this Key was closed (its bytes are wiped): make a new one" }
        return use(kind, bytes)
    }

    /** True once [close] wiped the bytes. */
    val isClosed: Boolean
        get() = wiped

    /** Zeroes the key's bytes (after any call using them has copied them); the Key cannot be used afterwards. */
    @Synchronized
    override fun close() {
        bytes.fill(0)
        wiped = true
    }

    override fun toString(): String = "Key($kind, ${if (wiped) "wiped" else "${bytes.size} bytes"}${kdf?.let { ", $it" } ?: ""})"

    companion object {
        /** A raw key: copies `bytes` (the library requires 32). */
        @JvmStatic
        fun raw(bytes: ByteArray): Key = Key(Kind.RAW, bytes.copyOf())

        /** A passphrase from chars, encoded to UTF-8 without a String; the intermediate buffer is wiped. */
        @JvmStatic
        fun passphrase(chars: CharArray): Key = passphrase(chars, null)

        /**
         * A passphrase stretched with `kdf` (stronger than the default)
         * where it protects something new: [ChatVault.create],
         * [Store.changeKey], [Store.rotateMasterKey], [Store.exportArchive].
         * Opening reads the cost from the file, so [ChatVault.open] refuses
         * a Key with one ([Status.INVALID_ARGUMENT]).
         */
        @JvmStatic
        fun passphrase(chars: CharArray, kdf: KdfParams?): Key {
            // One buffer big enough for any input (the encoder's own encode()
            // grows and drops buffers, each holding part of the passphrase).
            val encoder = Charsets.UTF_8.newEncoder()
            val room = encoder.maxBytesPerChar().toDouble() * chars.size
            require(room <= Int.MAX_VALUE - 8) { "the passphrase has ${chars.size} chars: too long" }
            val buffer = ByteBuffer.allocate(kotlin.math.ceil(room).toInt())
            try {
                val input = CharBuffer.wrap(chars)
                var result = encoder.encode(input, buffer, true)
                if (!result.isError) result = encoder.flush(buffer)
                if (result.isError) result.throwException()
                check(!result.isOverflow) { "the passphrase's UTF-8 did not fit its buffer" }
                buffer.flip()
                val out = ByteArray(buffer.remaining())
                buffer.get(out)
                return Key(Kind.PASSPHRASE, out, kdf)
            } finally {
                // The CharBuffer wraps the caller's array (theirs to wipe): only our bytes are wiped here.
                buffer.array().fill(0)
            }
        }

        /** A passphrase from a String (which cannot be wiped: prefer the CharArray overload). */
        @JvmStatic
        fun passphrase(text: String): Key = Key(Kind.PASSPHRASE, text.toByteArray(Charsets.UTF_8))
    }
}
