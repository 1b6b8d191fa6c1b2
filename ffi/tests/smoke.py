"""A second foreign language on the C API: Python's ctypes, with nothing but
include/chatvault.h's contract (its structs, codes and ownership rules are
transcribed below by hand).

Usage: python3 smoke.py <path to libchatvault_ffi.so/.dylib> <scratch dir>.
Prints "smoke.py: all passed" and exits 0, or raises.
"""

import ctypes as C
import os
import shutil
import sqlite3
import sys

lib = C.CDLL(sys.argv[1])
scratch = sys.argv[2]

OK, NULL_ARGUMENT, INVALID_UTF8, NOT_FOUND, WRONG_KEY = 0, 1, 2, 5, 7
KDF_TOO_COSTLY, MASTER_KEY_ROTATED, SCHEMA_MODIFIED, STORE_IN_USE = 27, 28, 29, 30
AUTHENTICATION_FAILED = 12
KEY_RAW, KEY_PASSPHRASE = 1, 2


class Str(C.Structure):
    _fields_ = [("ptr", C.c_void_p), ("len", C.c_size_t)]

    def get(self):
        return None if self.ptr is None else C.string_at(self.ptr, self.len).decode("utf-8")


def text(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    buf = C.create_string_buffer(b, len(b))  # kept alive by the caller's reference
    keep.append(buf)
    return Str(C.cast(buf, C.c_void_p), len(b))


keep = []
NONE = Str(None, 0)


class Bytes(C.Structure):
    _fields_ = [("ptr", C.c_void_p), ("len", C.c_size_t)]


class Key(C.Structure):
    _fields_ = [("kind", C.c_uint32), ("bytes", C.c_void_p), ("len", C.c_size_t)]


def key(kind, b):
    buf = C.create_string_buffer(b, len(b))
    keep.append(buf)
    return Key(kind, C.cast(buf, C.c_void_p), len(b))


class MessageId(C.Structure):
    _fields_ = [("conversation", C.c_uint64), ("seq", C.c_uint64)]


class Sized(C.Structure):
    """A struct that begins with struct_size: set to its size, as CHATVAULT_INIT does."""

    def __init__(self, *args, **kwargs):
        super().__init__(C.sizeof(type(self)), *args, **kwargs)


SIZE = [("struct_size", C.c_uint32)]


class NewConversation(Sized):
    _fields_ = SIZE + [
        ("external_id", Str), ("title", Str), ("members", C.POINTER(Str)), ("members_len", C.c_size_t),
        ("app_data", Bytes), ("has_created_at", C.c_uint8), ("created_at_ms", C.c_int64),
        ("has_retention", C.c_uint8), ("retention_ms", C.c_uint64),
    ]


class NewMessage(Sized):
    _fields_ = SIZE + [
        ("external_id", Str), ("sender", Str), ("text", Str), ("sent_at_ms", C.c_int64),
        ("has_reply_to", C.c_uint8), ("reply_to_seq", C.c_uint64), ("extra", Bytes),
        ("has_expires_at", C.c_uint8), ("expires_at_ms", C.c_int64),
    ]


class Message(Sized):
    _fields_ = SIZE + [
        ("id", MessageId), ("external_id", Str), ("sender", Str), ("text", Str), ("sent_at_ms", C.c_int64),
        ("has_edited_at", C.c_uint8), ("edited_at_ms", C.c_int64), ("has_expires_at", C.c_uint8),
        ("expires_at_ms", C.c_int64), ("has_reply_to", C.c_uint8), ("reply_to_seq", C.c_uint64),
        ("extra", Bytes),
    ]


class MessagePage(Sized):
    _fields_ = SIZE + [("items", C.POINTER(Message)), ("len", C.c_size_t)]


class Conversation(Sized):
    _fields_ = SIZE + [
        ("id", C.c_uint64), ("external_id", Str), ("title", Str), ("members", C.POINTER(Str)),
        ("members_len", C.c_size_t), ("app_data", Bytes), ("created_at_ms", C.c_int64),
        ("has_read_up_to", C.c_uint8), ("read_up_to_seq", C.c_uint64), ("message_count", C.c_uint64),
        ("has_retention", C.c_uint8), ("retention_ms", C.c_uint64),
    ]


class Summary(Sized):
    _fields_ = SIZE + [("conversation", C.POINTER(Conversation)), ("last_message", C.POINTER(Message)),
                       ("unread_count", C.c_uint64)]


class ConversationList(Sized):
    _fields_ = SIZE + [("items", C.POINTER(Summary)), ("len", C.c_size_t)]


class ArchiveProgress(Sized):
    _fields_ = SIZE + [(n, C.c_uint64) for n in ("bytes", "conversations", "messages", "total_conversations",
                                                 "total_messages")]


class ExportReport(Sized):
    _fields_ = SIZE + [(n, C.c_uint64) for n in ("conversations", "messages", "bytes", "attachments")]


class ImportReport(Sized):
    _fields_ = SIZE + [(n, C.c_uint64) for n in ("conversations_created", "conversations_matched",
                                                 "messages_added", "messages_skipped", "bytes",
                                                 "attachments_added", "attachments_skipped")]


class RotateOptions(Sized):
    _fields_ = SIZE + [("max_transactions", C.c_uint64), ("time_budget_ms", C.c_uint64)]


class RotationReport(Sized):
    _fields_ = SIZE + [(n, C.c_uint64) for n in ("conversations", "references", "references_dropped",
                                                 "transactions", "conversations_damaged")] + [
        ("finished", C.c_uint8), ("key_in_force", C.c_uint8)]


ARCHIVE_PROGRESS = C.CFUNCTYPE(C.c_int32, C.c_void_p, C.POINTER(ArchiveProgress))


class NewAttachment(Sized):
    _fields_ = SIZE + [("media_type", Str), ("file_name", Str), ("app_data", Bytes)]


class Attachment(Sized):
    _fields_ = SIZE + [
        ("id", C.c_uint64), ("message", MessageId), ("media_type", Str), ("file_name", Str),
        ("byte_len", C.c_uint64), ("app_data", Bytes), ("created_at_ms", C.c_int64),
        ("has_removed_at", C.c_uint8), ("removed_at_ms", C.c_int64),
    ]


class AttachmentList(Sized):
    _fields_ = SIZE + [("items", C.POINTER(Attachment)), ("len", C.c_size_t)]


class AttachmentFilter(Sized):
    _fields_ = SIZE + [
        ("has_conversation", C.c_uint8), ("conversation", C.c_uint64),
        ("has_media_type_prefix", C.c_uint8), ("media_type_prefix", Str),
        ("has_created_before", C.c_uint8), ("created_before_ms", C.c_int64),
        ("has_min_bytes", C.c_uint8), ("min_bytes", C.c_uint64),
    ]


class ClearReport(Sized):
    _fields_ = SIZE + [("attachments", C.c_uint64), ("bytes", C.c_uint64)]


class ConversationUsage(Sized):
    _fields_ = SIZE + [(n, C.c_uint64) for n in ("conversation", "text_bytes", "attachment_bytes", "attachments")]


class UsageList(Sized):
    _fields_ = SIZE + [("items", C.POINTER(ConversationUsage)), ("len", C.c_size_t)]

Store = C.c_void_p
Writer = C.c_void_p
Reader = C.c_void_p
lib.chatvault_version.restype = C.c_char_p
lib.chatvault_last_error_message.restype = C.c_char_p
lib.chatvault_status_name.restype = C.c_char_p
lib.chatvault_status_name.argtypes = [C.c_uint32]
for name, args in {
    "chatvault_store_create": [C.c_char_p, C.c_size_t, C.POINTER(Key), C.POINTER(Store)],
    "chatvault_store_open": [C.c_char_p, C.c_size_t, C.POINTER(Key), C.POINTER(Store)],
    "chatvault_store_close": [Store],
    "chatvault_store_rotate_master_key": [Store, C.POINTER(Key), C.POINTER(RotateOptions),
                                          C.POINTER(RotationReport)],
    "chatvault_store_vacuum": [Store],
    "chatvault_conversation_create": [Store, C.POINTER(NewConversation), C.POINTER(C.c_uint64)],
    "chatvault_conversation_find": [Store, C.c_char_p, C.c_size_t, C.POINTER(C.c_uint64)],
    "chatvault_conversation_list_get": [Store, C.c_size_t, C.POINTER(C.POINTER(ConversationList))],
    "chatvault_message_append": [Store, C.c_uint64, C.POINTER(NewMessage), C.POINTER(MessageId)],
    "chatvault_message_page_latest": [Store, C.c_uint64, C.c_size_t, C.POINTER(C.POINTER(MessagePage))],
    "chatvault_message_edit": [Store, MessageId, C.c_char_p, C.c_size_t],
    "chatvault_message_mark_read": [Store, MessageId],
    "chatvault_store_export": [Store, C.c_char_p, C.c_size_t, C.POINTER(Key), C.POINTER(C.c_uint64), C.c_size_t,
                               ARCHIVE_PROGRESS, C.c_void_p, C.POINTER(ExportReport)],
    "chatvault_store_import": [Store, C.c_char_p, C.c_size_t, C.POINTER(Key), ARCHIVE_PROGRESS, C.c_void_p,
                               C.POINTER(ImportReport)],
    "chatvault_attachment_begin": [Store, MessageId, C.POINTER(NewAttachment), C.POINTER(Writer)],
    "chatvault_attachment_write": [Writer, C.c_char_p, C.c_size_t],
    "chatvault_attachment_finish": [Writer, C.POINTER(C.c_uint64)],
    "chatvault_attachment_open": [Store, C.c_uint64, C.POINTER(Reader)],
    "chatvault_attachment_length": [Reader, C.POINTER(C.c_uint64)],
    "chatvault_attachment_read_at": [Reader, C.c_uint64, C.c_void_p, C.c_size_t, C.POINTER(C.c_size_t)],
    "chatvault_attachments": [Store, C.c_uint64, C.c_size_t, C.c_char_p, C.c_size_t, C.c_uint8, C.c_uint64,
                              C.POINTER(C.POINTER(AttachmentList))],
    "chatvault_clear_attachments": [Store, C.POINTER(AttachmentFilter), C.POINTER(ClearReport)],
    "chatvault_storage_usage": [Store, C.POINTER(C.POINTER(UsageList))],
}.items():
    f = getattr(lib, name)
    f.argtypes, f.restype = args, C.c_uint32
for name, arg in {
    "chatvault_message_page_free": C.POINTER(MessagePage),
    "chatvault_conversation_list_free": C.POINTER(ConversationList),
    "chatvault_attachment_close": Reader,
    "chatvault_attachment_list_free": C.POINTER(AttachmentList),
    "chatvault_storage_usage_free": C.POINTER(UsageList),
}.items():
    f = getattr(lib, name)
    f.argtypes, f.restype = [arg], None


def expect(want, status):
    if status != want:
        raise AssertionError("got %s (%s), expected %s" % (
            lib.chatvault_status_name(status).decode(), lib.chatvault_last_error_message().decode(),
            lib.chatvault_status_name(want).decode()))


def ok(status):
    expect(OK, status)


assert lib.chatvault_version().decode().count(".") == 2
path = os.path.join(scratch, "py.chatvault").encode()
raw = key(KEY_RAW, bytes(range(32)))
store = Store()
ok(lib.chatvault_store_create(path, len(path), C.byref(raw), C.byref(store)))

members = (Str * 2)(text("alice"), text("bob"))
conv = NewConversation(text("py-chat"), text("Python 🐍"), members, 2, Bytes(None, 0), 0, 0)
cid = C.c_uint64()
ok(lib.chatvault_conversation_create(store, C.byref(conv), C.byref(cid)))
found = C.c_uint64()
ok(lib.chatvault_conversation_find(store, b"py-chat", 7, C.byref(found)))
assert found.value == cid.value

sent = ["hello", "ça va ?", "你好 👋", "a\0b"]
for i, body in enumerate(sent):
    m = NewMessage(external_id=NONE, sender=text("alice"), text=text(body), sent_at_ms=1700000000000 + i)
    mid = MessageId()
    ok(lib.chatvault_message_append(store, cid, C.byref(m), C.byref(mid)))
    assert (mid.conversation, mid.seq) == (cid.value, i + 1)

page = C.POINTER(MessagePage)()
ok(lib.chatvault_message_page_latest(store, cid, 10, C.byref(page)))
got = [page.contents.items[i].text.get() for i in range(page.contents.len)]
assert got == sent, got
last = page.contents.items[page.contents.len - 1].id
last_id = MessageId(last.conversation, last.seq)  # a copy: the page is freed next
lib.chatvault_message_page_free(page)
lib.chatvault_message_page_free(None)

ok(lib.chatvault_message_mark_read(store, MessageId(cid.value, 2)))
lst = C.POINTER(ConversationList)()
ok(lib.chatvault_conversation_list_get(store, 0, C.byref(lst)))
s = lst.contents.items[0]
assert s.conversation.contents.title.get() == "Python 🐍" and s.conversation.contents.members[1].get() == "bob"
assert s.unread_count == 2 and s.last_message.contents.text.get() == "a\0b"
lib.chatvault_conversation_list_free(lst)

# Error paths: codes and the thread's message, outputs untouched.
expect(INVALID_UTF8, lib.chatvault_message_edit(store, last_id, b"\xff", 1))
assert b"UTF-8" in lib.chatvault_last_error_message()
expect(NULL_ARGUMENT, lib.chatvault_message_append(store, cid, None, C.byref(MessageId())))
untouched = C.c_uint64(77)
expect(NOT_FOUND, lib.chatvault_conversation_find(store, b"nobody", 6, C.byref(untouched)))
assert untouched.value == 77

# An archive, with a progress callback into Python, imported into a second store.
seen = []
progress = ARCHIVE_PROGRESS(lambda _user, p: seen.append(p.contents.bytes) or 0)
archive = os.path.join(scratch, "py.cvarchive").encode()
akey = key(KEY_PASSPHRASE, "mot de passe 🔑".encode())
# An attachment streamed in two pieces (past 64 KiB: a file beside the
# store), read back by range; the writer keeps the store from closing.
content = bytes((i * 7 + i // 251) % 256 for i in range(150000))
writer = Writer()
na = NewAttachment(text("image/png"), text("été.png"), Bytes(None, 0))
ok(lib.chatvault_attachment_begin(store, last_id, C.byref(na), C.byref(writer)))
ok(lib.chatvault_attachment_write(writer, content[:100000], 100000))
expect(STORE_IN_USE, lib.chatvault_store_close(store))
ok(lib.chatvault_attachment_write(writer, content[100000:], 50000))
aid = C.c_uint64()
ok(lib.chatvault_attachment_finish(writer, C.byref(aid)))
reader = Reader()
ok(lib.chatvault_attachment_open(store, aid, C.byref(reader)))
length, n = C.c_uint64(), C.c_size_t()
ok(lib.chatvault_attachment_length(reader, C.byref(length)))
buf = C.create_string_buffer(5000)
ok(lib.chatvault_attachment_read_at(reader, 64000, buf, 5000, C.byref(n)))
assert length.value == len(content) and buf.raw[:n.value] == content[64000:69000]
ok(lib.chatvault_attachment_read_at(reader, 149000, buf, 5000, C.byref(n)))
assert buf.raw[:n.value] == content[149000:]
lib.chatvault_attachment_close(reader)
gallery = C.POINTER(AttachmentList)()
ok(lib.chatvault_attachments(store, cid, 0, b"image/", 6, 0, 0, C.byref(gallery)))
item = gallery.contents.items[0]
assert gallery.contents.len == 1 and item.id == aid.value and item.file_name.get() == "été.png"
assert item.byte_len == len(content) and item.has_removed_at == 0
lib.chatvault_attachment_list_free(gallery)
usage = C.POINTER(UsageList)()
ok(lib.chatvault_storage_usage(store, C.byref(usage)))
assert usage.contents.len == 1 and usage.contents.items[0].attachments == 1
assert usage.contents.items[0].attachment_bytes > len(content)
lib.chatvault_storage_usage_free(usage)
files = os.path.join(scratch, "py.chatvault-attachments")
[name] = os.listdir(files)
with open(os.path.join(files, name), "r+b") as f:  # a flipped byte: that chunk fails, no bytes out
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 1]))
ok(lib.chatvault_attachment_open(store, aid, C.byref(reader)))
n.value = 77
expect(AUTHENTICATION_FAILED, lib.chatvault_attachment_read_at(reader, 0, buf, 5000, C.byref(n)))
assert n.value == 77 and buf.raw == bytes(5000)
lib.chatvault_attachment_close(reader)
cleared = ClearReport()
everything = AttachmentFilter(0, 0, 0, NONE, 0, 0, 0, 0)
ok(lib.chatvault_clear_attachments(store, C.byref(everything), C.byref(cleared)))
assert cleared.attachments == 1 and os.listdir(files) == []

report = ExportReport()
ok(lib.chatvault_store_export(store, archive, len(archive), C.byref(akey), None, 0, progress, None, C.byref(report)))
assert report.messages == 4 and seen and seen[-1] == report.bytes == os.path.getsize(archive)
ok(lib.chatvault_store_close(store))

wrong = Store()
expect(WRONG_KEY, lib.chatvault_store_open(path, len(path), C.byref(key(KEY_RAW, bytes(32))), C.byref(wrong)))
assert not wrong.value

other_path = os.path.join(scratch, "py2.chatvault").encode()
other = Store()
ok(lib.chatvault_store_create(other_path, len(other_path), C.byref(raw), C.byref(other)))
imported = ImportReport()
ok(lib.chatvault_store_import(other, archive, len(archive), C.byref(akey), ARCHIVE_PROGRESS(), None,
                              C.byref(imported)))
assert (imported.conversations_created, imported.messages_added) == (1, 4)

# Master-key rotation to a new raw key, stopped after one transaction: the
# new key opens the store from then on, and the old one no longer does.
new_raw = key(KEY_RAW, bytes(range(100, 132)))
rotation = RotationReport()
ok(lib.chatvault_store_rotate_master_key(other, C.byref(new_raw), C.byref(RotateOptions(1, 0)),
                                        C.byref(rotation)))
assert (rotation.finished, rotation.transactions, rotation.key_in_force) == (0, 1, 1), \
    (rotation.finished, rotation.transactions, rotation.key_in_force)
ok(lib.chatvault_store_close(other))
expect(WRONG_KEY, lib.chatvault_store_open(other_path, len(other_path), C.byref(raw), C.byref(other)))
ok(lib.chatvault_store_open(other_path, len(other_path), C.byref(new_raw), C.byref(other)))
# Resumed with the same key, to the end.
ok(lib.chatvault_store_rotate_master_key(other, C.byref(new_raw), None, C.byref(rotation)))
assert rotation.finished == 1 and rotation.conversations == 1 and rotation.references == 4
assert rotation.conversations_damaged == 0
ok(lib.chatvault_store_vacuum(other))
expect(NULL_ARGUMENT, lib.chatvault_store_vacuum(None))
expect(NULL_ARGUMENT, lib.chatvault_store_rotate_master_key(other, None, None, C.byref(rotation)))
for code, name in ((KDF_TOO_COSTLY, b"KDF_TOO_COSTLY"), (MASTER_KEY_ROTATED, b"MASTER_KEY_ROTATED"),
                   (SCHEMA_MODIFIED, b"SCHEMA_MODIFIED"), (STORE_IN_USE, b"STORE_IN_USE")):
    assert lib.chatvault_status_name(code) == b"CHATVAULT_STATUS_" + name
ok(lib.chatvault_store_close(other))
expect(WRONG_KEY, lib.chatvault_store_open(other_path, len(other_path), C.byref(raw), C.byref(other)))
ok(lib.chatvault_store_open(other_path, len(other_path), C.byref(new_raw), C.byref(other)))
lst = C.POINTER(ConversationList)()
ok(lib.chatvault_conversation_list_get(other, 0, C.byref(lst)))
assert lst.contents.len == 1 and lst.contents.items[0].conversation.contents.message_count == 4
lib.chatvault_conversation_list_free(lst)
ok(lib.chatvault_store_close(other))
ok(lib.chatvault_store_close(None))

# A damaged conversation key does not stop a rotation: it is counted.
damaged = os.path.join(scratch, "damaged.chatvault")
shutil.copyfile(path, damaged)
db = sqlite3.connect(damaged)
db.execute("UPDATE conversation_key SET wrapped = zeroblob(61)")
db.commit()
db.close()
damaged = damaged.encode()
hurt = Store()
ok(lib.chatvault_store_open(damaged, len(damaged), C.byref(raw), C.byref(hurt)))
ok(lib.chatvault_store_rotate_master_key(hurt, C.byref(new_raw), None, C.byref(rotation)))
assert (rotation.finished, rotation.conversations, rotation.conversations_damaged) == (1, 1, 1), \
    (rotation.finished, rotation.conversations, rotation.conversations_damaged)
ok(lib.chatvault_store_close(hurt))

# A copy of the store with a trigger planted by something other than
# chatvault does not open, whatever the key.
planted = os.path.join(scratch, "planted.chatvault")
shutil.copyfile(path, planted)
db = sqlite3.connect(planted)
db.execute("CREATE TRIGGER keep AFTER DELETE ON segment BEGIN SELECT 1; END")
db.commit()
db.close()
planted = planted.encode()
refused = Store()
expect(SCHEMA_MODIFIED, lib.chatvault_store_open(planted, len(planted), C.byref(raw), C.byref(refused)))
assert b"keep" in lib.chatvault_last_error_message() and not refused.value
print("smoke.py: all passed")
