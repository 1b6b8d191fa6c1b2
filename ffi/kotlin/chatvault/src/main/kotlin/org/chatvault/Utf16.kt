package org.chatvault

/**
 * The library gives match ranges as UTF-8 byte offsets; Kotlin strings
 * index UTF-16 code units. A character of 4 UTF-8 bytes (an emoji, a rare
 * CJK ideograph) is 2 UTF-16 units, every other character 1.
 */
internal object Utf16 {
    /**
     * `[start, end)` byte ranges of `utf8` as ranges of String indices
     * (`start until end`), for `String(utf8, UTF_8)`. Offsets past the end
     * are clamped to it; an offset inside a character counts that character.
     */
    fun ranges(utf8: ByteArray, byteRanges: List<Pair<Long, Long>>): List<IntRange> {
        val walker = Walker(utf8)
        return byteRanges.map { (start, end) ->
            val s = walker.indexAt(start)
            val e = walker.indexAt(end)
            s until e
        }
    }

    /** The UTF-16 index of byte offset `byteOffset` of `utf8`. */
    fun index(utf8: ByteArray, byteOffset: Long): Int = Walker(utf8).indexAt(byteOffset)

    /** Walks forward through the bytes; asked for an earlier offset, starts again. */
    private class Walker(private val b: ByteArray) {
        private var byte = 0
        private var unit = 0

        fun indexAt(offset: Long): Int {
            val target = if (offset > b.size) b.size else offset.toInt()
            if (target < byte) {
                byte = 0
                unit = 0
            }
            while (byte < target) {
                val lead = b[byte].toInt() and 0xff
                val len = when {
                    lead < 0x80 -> 1
                    lead shr 5 == 0x6 -> 2
                    lead shr 4 == 0xE -> 3
                    lead shr 3 == 0x1E -> 4
                    else -> 1
                }
                byte += len
                unit += if (len == 4) 2 else 1
            }
            return unit
        }
    }
}
