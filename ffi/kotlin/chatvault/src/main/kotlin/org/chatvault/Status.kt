package org.chatvault

/**
 * Every chatvault_status. The numbers are the C API's and never change.
 * A number this wrapper does not know (a newer library) is [UNKNOWN], as
 * is the library's own CHATVAULT_STATUS_UNKNOWN; [ChatVaultException.code]
 * keeps the number either way.
 */
enum class Status(val code: Int) {
    OK(0),
    NULL_ARGUMENT(1),
    INVALID_UTF8(2),
    INVALID_ARGUMENT(3),
    TOO_LARGE(4),
    NOT_FOUND(5),
    CONVERSATION_EXISTS(6),
    WRONG_KEY(7),
    NO_SUCH_STORE(8),
    ALREADY_EXISTS(9),
    NOT_A_STORE(10),
    UNSUPPORTED_VERSION(11),
    AUTHENTICATION_FAILED(12),
    CORRUPT(13),
    STORAGE_FULL(14),
    BUSY(15),
    SCRUB_INCOMPLETE(16),
    NOT_AN_ARCHIVE(17),
    UNSUPPORTED_ARCHIVE_VERSION(18),
    ARCHIVE_TAMPERED(19),
    ARCHIVE_TRUNCATED(20),
    ARCHIVE_CORRUPT(21),
    IO(22),
    DATABASE(23),
    RANDOM(24),
    PANIC(25),
    UNKNOWN(26),
    KDF_TOO_COSTLY(27),
    MASTER_KEY_ROTATED(28),
    SCHEMA_MODIFIED(29),
    STORE_IN_USE(30),
    /** A progress listener returned false: the operation stopped cleanly (an import changed nothing, an export or inspection left no file, a compaction kept what it committed). */
    CANCELLED(31);

    companion object {
        private val byCode: Map<Int, Status> = values().associateBy { it.code }

        /** The status with number `code`; [UNKNOWN] for a number this wrapper does not know. */
        fun of(code: Int): Status = byCode[code] ?: UNKNOWN
    }
}

/**
 * A chatvault call failed. `message` is the library's description
 * (chatvault_last_error_message, read on the failing thread right after
 * the call): it names no key, passphrase or message text. `code` is the
 * C status number, kept even when [status] is [Status.UNKNOWN].
 */
class ChatVaultException(val status: Status, message: String, val code: Int = status.code) :
    Exception("${status.name}: $message")
