"""Delivery over LMTP against the real Dovecot: classification, $Chat,
filing per message-filter, the seen move, the thread index, fallbacks."""
import hashlib
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

from conftest import coi_server
from harness import (deliver, enable_coi, idle_on_inbox, idle_reads,
                     imap_command, lmtp_attempt, lmtp_transaction, login,
                     make_message, messages, tool_env, where)

CHAT = "$Chat"


# The users of both servers: the module's (file dict) and, for the
# filter and thread tests that run on every backend, backend_server's.
USERS = [f"d{i}" for i in range(60)] + [
    {"name": "plain", "fields": {"userdb_mail_plugins": "notify"}},
    {"name": "nothread", "fields": {"userdb_coi_thread_index_size": "0"}},
    {"name": "badsize", "fields": {"userdb_coi_thread_index_size": "lots"}},
    {"name": "badage", "fields": {"userdb_coi_thread_index_max_age": "-1"}},
    {"name": "stateless", "fields": {"userdb_coi_state_failure": "deliver"}},
    {"name": "smallindex", "fields": {"userdb_coi_thread_index_size": "64"}},
]


@pytest.fixture(scope="module")
def server():
    with coi_server(users=USERS) as s:
        s.free_users = [f"d{i}" for i in range(60)]
        yield s


@pytest.fixture
def user(server):
    return server.free_users.pop(0)


# -- classification ----------------------------------------------------------

CHAT_CASES = {
    "chat-version": dict(chat_version="1.0"),
    "chat-version-params": dict(chat_version="1.0;name=value"),
    "chat-version-empty": dict(chat_version=""),
    "deltachat": dict(chat_version="1.0",
                      message_id="<3b7a1f5e-8d2c-4a5e-9f1b-2c3d4e5f6a7b"
                                 "@localhost>"),
    "msgid-chat": dict(message_id="<chat$ab12.cd@example.org>"),
    "msgid-coi": dict(message_id="<coi$ab12.cd@example.org>"),
    "references-first": dict(references="<chat$first@example.org> "
                                        "<other@example.org>"),
    "references-coi": dict(references="<coi$first@example.org>"),
}

MAIL_CASES = {
    "plain": dict(),
    "msgid-chat-not-prefix": dict(message_id="<xchat$1@example.org>"),
    "msgid-uppercase": dict(message_id="<CHAT$1@example.org>"),
    "references-second": dict(references="<a@example.org> "
                                         "<chat$b@example.org>"),
    "in-reply-to-unknown": dict(in_reply_to="<chat$unknown@example.org>"),
    "header-in-body": dict(body="Chat-Version: 1.0\r\n"),
}


def unique(kw):
    """Make a case's fixed Message-ID unique per test run."""
    kw = dict(kw)
    if "message_id" in kw:
        kw["message_id"] = kw["message_id"].replace(
            "@", f".{time.time_ns()}@", 1)
    return kw


@pytest.mark.parametrize("case", sorted(CHAT_CASES))
def test_chat_gets_keyword_and_stays_in_inbox_by_default(server, case):
    user = server.free_users.pop(0)
    enable_coi(server, user)
    msgid, msg = make_message(**unique(CHAT_CASES[case]))
    deliver(server, user, msg)
    assert where(server, user, msgid) == [("INBOX", {CHAT})]


@pytest.mark.parametrize("case", sorted(MAIL_CASES))
def test_mail_is_not_chat(server, case):
    user = server.free_users.pop(0)
    enable_coi(server, user, "active")
    msgid, msg = make_message(**unique(MAIL_CASES[case]))
    deliver(server, user, msg)
    assert where(server, user, msgid) == [("INBOX", set())]


def test_active_files_chat_into_chats(backend_server, backend_user):
    enable_coi(backend_server, backend_user, "active")
    chat_id, chat = make_message(chat_version="1.0")
    mail_id, mail = make_message()
    deliver(backend_server, backend_user, chat)
    deliver(backend_server, backend_user, mail)
    assert where(backend_server, backend_user, chat_id) == \
        [("COI/Chats", {CHAT})]
    assert where(backend_server, backend_user, mail_id) == [("INBOX", set())]


def test_filing_chat_does_not_rewrite_chats_uidlist(server, user):
    """Chat filed into Chats leaves its dovecot-uidlist in place, as mail
    leaves the INBOX's: COI reads the folder's GUID before the save, so
    Dovecot's maildir does not rewrite the whole uidlist when the list
    index asks for the GUID (coi_maildir_guid_preload())."""
    enable_coi(server, user, "active")
    uidlist = os.path.join(maildir(server, user), ".COI.Chats",
                           "dovecot-uidlist")
    ids, inodes = [], []
    for _ in range(4):
        msgid, msg = make_message(chat_version="1.0")
        deliver(server, user, msg)
        ids.append(msgid)
        inodes.append(os.stat(uidlist).st_ino)
    assert len(set(inodes)) == 1, inodes
    for msgid in ids:
        assert where(server, user, msgid) == [("COI/Chats", {CHAT})]


def test_filter_none_after_active(backend_server, backend_user):
    enable_coi(backend_server, backend_user, "active")
    enable_coi(backend_server, backend_user, "none")
    msgid, msg = make_message(chat_version="1.0")
    deliver(backend_server, backend_user, msg)
    assert where(backend_server, backend_user, msgid) == [("INBOX", {CHAT})]


def test_disabled_user_gets_nothing(backend_server, backend_user):
    # enabled and disabled again: the folders exist, COI is off
    enable_coi(backend_server, backend_user, "active")
    conn = login(backend_server, backend_user)
    imap_command(conn, 'SETMETADATA "" '
                       '(/private/vendor/vendor.dovecot/coi/config/enabled '
                       'NIL)')
    conn.close()
    msgid, msg = make_message(chat_version="1.0")
    deliver(backend_server, backend_user, msg)
    assert where(backend_server, backend_user, msgid) == [("INBOX", set())]


def test_never_enabled_user_gets_nothing(server, user):
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, user, msg)
    assert where(server, user, msgid) == [("INBOX", set())]


def test_user_without_plugin_gets_nothing(server):
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, "plain", msg)
    assert where(server, "plain", msgid) == [("INBOX", set())]


def test_multi_recipient_decides_per_recipient(server):
    active, none, disabled = (server.free_users.pop(0) for _ in range(3))
    enable_coi(server, active, "active")
    enable_coi(server, none)
    # the order matters: Dovecot copies the first recipient's saved
    # message (with its $Chat) to the others
    rcpts = [active, "plain", disabled, none]
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, rcpts, msg)
    assert where(server, active, msgid) == [("COI/Chats", {CHAT})]
    assert where(server, "plain", msgid) == [("INBOX", set())]
    assert where(server, disabled, msgid) == [("INBOX", set())]
    assert where(server, none, msgid) == [("INBOX", {CHAT})]

    # and the other way round: a recipient without COI first
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, [disabled, active, none], msg)
    assert where(server, disabled, msgid) == [("INBOX", set())]
    assert where(server, active, msgid) == [("COI/Chats", {CHAT})]
    assert where(server, none, msgid) == [("INBOX", {CHAT})]


def test_mail_with_chat_in_same_connection(server, user):
    """Several transactions on one LMTP connection keep no state."""
    enable_coi(server, user, "active")
    ids = []
    with server.lmtp() as conn:
        for i in range(6):
            msgid, msg = make_message(chat_version="1.0" if i % 2 else None)
            ids.append(msgid)
            conn.sendmail("sender@example.org", [user], msg)
    for i, msgid in enumerate(ids):
        expected = ("COI/Chats", {CHAT}) if i % 2 else ("INBOX", set())
        assert where(server, user, msgid) == [expected]


# -- IDLE --------------------------------------------------------------------

def test_idle_on_inbox_not_woken_by_filed_chat(server, user):
    enable_coi(server, user, "active")
    conn = idle_on_inbox(server, user)

    chat_id, chat = make_message(chat_version="1.0")
    deliver(server, user, chat)
    assert not [l for l in idle_reads(conn, 2.0) if "EXISTS" in l]
    assert where(server, user, chat_id) == [("COI/Chats", {CHAT})]

    # the IDLE does work: ordinary mail wakes it
    _, mail = make_message()
    deliver(server, user, mail)
    assert [l for l in idle_reads(conn, 10.0) if "EXISTS" in l]
    conn.send(b"DONE\r\n")
    conn.close()


# -- message-filter=seen -----------------------------------------------------

def uid_of(conn, message_id):
    status, _, untagged = imap_command(
        conn, f'UID SEARCH HEADER Message-ID "{message_id}"')
    assert status == "OK"
    uids = untagged[0].split()[2:]
    assert len(uids) == 1, untagged
    return uids[0]


@pytest.mark.parametrize("how", ["store", "uid-store", "fetch-body",
                                 "replace"])
def test_seen_moves_chat_to_chats(server, how):
    user = server.free_users.pop(0)
    enable_coi(server, user, "seen")
    chat_id, chat = make_message(chat_version="1.0")
    mail_id, mail = make_message()
    deliver(server, user, chat)
    deliver(server, user, mail)
    assert where(server, user, chat_id) == [("INBOX", {CHAT})]

    # a second session watches the INBOX
    watcher = login(server, user)
    assert imap_command(watcher, "SELECT INBOX")[0] == "OK"

    conn = login(server, user)
    assert imap_command(conn, "SELECT INBOX")[0] == "OK"
    uid = uid_of(conn, chat_id)
    cmd = {"store": "STORE 1:* +FLAGS (\\Seen)",
           "uid-store": f"UID STORE {uid} +FLAGS.SILENT (\\Seen)",
           "fetch-body": f"UID FETCH {uid} BODY[]",
           "replace": f"UID STORE {uid} FLAGS (\\Seen \\Flagged $Chat)"}[how]
    status, text, untagged = imap_command(conn, cmd)
    assert status == "OK", text
    status, _, untagged = imap_command(conn, "NOOP")
    assert status == "OK"

    chat_flags = {CHAT, "\\Seen"} | ({"\\Flagged"} if how == "replace"
                                    else set())
    assert where(server, user, chat_id) == [("COI/Chats", chat_flags)]
    if how == "store":
        # the ordinary mail got \Seen too, and stays
        assert where(server, user, mail_id) == [("INBOX", {"\\Seen"})]
    else:
        assert where(server, user, mail_id) == [("INBOX", set())]
    # both sessions learn about the expunge
    status, _, untagged = imap_command(watcher, "NOOP")
    assert any(re.match(r"\* \d+ EXPUNGE", l) for l in untagged), untagged
    status, _, untagged = imap_command(conn, "SEARCH ALL")
    assert untagged[0].split()[2:] == ["1"]


def test_seen_leaves_mail_and_unseen_chat(server, user):
    enable_coi(server, user, "seen")
    chat_id, chat = make_message(chat_version="1.0")
    mail_id, mail = make_message()
    deliver(server, user, chat)
    deliver(server, user, mail)
    conn = login(server, user)
    imap_command(conn, "SELECT INBOX")
    assert imap_command(conn, f"UID STORE {uid_of(conn, mail_id)} "
                              "+FLAGS (\\Seen)")[0] == "OK"
    assert imap_command(conn, f"UID STORE {uid_of(conn, chat_id)} "
                              "+FLAGS (\\Flagged)")[0] == "OK"
    assert where(server, user, chat_id) == [("INBOX", {CHAT, "\\Flagged"})]
    assert where(server, user, mail_id) == [("INBOX", {"\\Seen"})]


def test_seen_after_client_removed_chat_keyword(server, user):
    """FLAGS (\\Seen) replaces $Chat too: the client says it is not chat."""
    enable_coi(server, user, "seen")
    chat_id, chat = make_message(chat_version="1.0")
    deliver(server, user, chat)
    conn = login(server, user)
    imap_command(conn, "SELECT INBOX")
    assert imap_command(conn, "STORE 1 FLAGS (\\Seen)")[0] == "OK"
    assert where(server, user, chat_id) == [("INBOX", {"\\Seen"})]


def test_seen_does_nothing_in_other_filter_modes(server, user):
    enable_coi(server, user)        # message-filter none
    chat_id, chat = make_message(chat_version="1.0")
    deliver(server, user, chat)
    conn = login(server, user)
    imap_command(conn, "SELECT INBOX")
    assert imap_command(conn, "STORE 1 +FLAGS (\\Seen)")[0] == "OK"
    assert where(server, user, chat_id) == [("INBOX", {CHAT, "\\Seen"})]


def test_seen_keyword_added_by_client_counts(server, user):
    """A client may mark mail as chat itself; \\Seen then moves it."""
    enable_coi(server, user, "seen")
    mail_id, mail = make_message()
    deliver(server, user, mail)
    conn = login(server, user)
    imap_command(conn, "SELECT INBOX")
    assert imap_command(conn, "STORE 1 +FLAGS ($Chat)")[0] == "OK"
    assert imap_command(conn, "STORE 1 +FLAGS (\\Seen)")[0] == "OK"
    assert where(server, user, mail_id) == [("COI/Chats", {CHAT, "\\Seen"})]


def test_seen_concurrent_sessions_move_once(server, user):
    enable_coi(server, user, "seen")
    ids = []
    for _ in range(10):
        msgid, msg = make_message(chat_version="1.0")
        ids.append(msgid)
        deliver(server, user, msg)
    conns = [login(server, user) for _ in range(3)]
    for conn in conns:
        imap_command(conn, "SELECT INBOX")
    # every session marks everything \Seen, interleaved
    for conn in conns:
        conn.send(b"X1 STORE 1:* +FLAGS.SILENT (\\Seen)\r\n")
    for conn in conns:
        while not conn.readline().startswith(b"X1 "):
            pass
    found = messages(server, user)
    for msgid in ids:
        assert [(m, f) for m, f, i in found if i == msgid] == \
            [("COI/Chats", {CHAT, "\\Seen"})]


# -- thread-aware detection --------------------------------------------------

def test_reply_to_known_chat_is_chat(backend_server, backend_user):
    enable_coi(backend_server, backend_user, "active")
    # Delta Chat: Chat-Version, <uuid@localhost>
    chat_id = f"<{time.time_ns()}-dc@localhost>"
    _, chat = make_message(chat_version="1.0", message_id=chat_id)
    deliver(backend_server, backend_user, chat)

    # an ordinary mail client answers it
    reply_id, reply = make_message(in_reply_to=chat_id,
                                   references=chat_id)
    deliver(backend_server, backend_user, reply)
    assert where(backend_server, backend_user, reply_id) == \
        [("COI/Chats", {CHAT})]

    # and a reply to that reply is still chat
    reply2_id, reply2 = make_message(references=f"{chat_id} {reply_id}")
    deliver(backend_server, backend_user, reply2)
    assert where(backend_server, backend_user, reply2_id) == \
        [("COI/Chats", {CHAT})]

    # a reply to something else is mail
    other_id, other = make_message(in_reply_to="<unknown@example.org>",
                                   references="<unknown@example.org>")
    deliver(backend_server, backend_user, other)
    assert where(backend_server, backend_user, other_id) == [("INBOX", set())]


def test_reply_to_appended_chat_is_chat(backend_server, backend_user):
    """The user's own chat message, stored by the client (APPEND to Sent),
    makes the answer to it chat."""
    enable_coi(backend_server, backend_user, "active")
    sent_id = f"<{time.time_ns()}-sent@localhost>"
    _, sent = make_message(chat_version="1.0", message_id=sent_id)
    conn = backend_server.imap(backend_user)
    conn.create("Sent")
    status, _ = conn.append("Sent", None, None, sent)
    assert status == "OK"
    # an ordinary mail APPENDed is not remembered
    plain_id, plain = make_message()
    assert conn.append("Sent", None, None, plain)[0] == "OK"
    conn.logout()

    reply_id, reply = make_message(in_reply_to=sent_id)
    deliver(backend_server, backend_user, reply)
    assert where(backend_server, backend_user, reply_id) == \
        [("COI/Chats", {CHAT})]
    reply2_id, reply2 = make_message(in_reply_to=plain_id)
    deliver(backend_server, backend_user, reply2)
    assert where(backend_server, backend_user, reply2_id) == [("INBOX", set())]
    # APPEND never adds $Chat itself: the client said what it stores
    assert where(backend_server, backend_user, sent_id) == [("Sent", set())]


def test_thread_index_is_per_user(backend_server):
    a, b = (backend_server.free_users.pop(0),
            backend_server.free_users.pop(0))
    enable_coi(backend_server, a)
    enable_coi(backend_server, b)
    chat_id = f"<{time.time_ns()}-pu@localhost>"
    _, chat = make_message(chat_version="1.0", message_id=chat_id)
    deliver(backend_server, a, chat)
    reply_id, reply = make_message(in_reply_to=chat_id)
    deliver(backend_server, [a, b], reply)
    assert where(backend_server, a, reply_id) == [("INBOX", {CHAT})]
    assert where(backend_server, b, reply_id) == [("INBOX", set())]


def test_chat_of_disabled_time_is_not_indexed(backend_server, backend_user):
    """Only chat COI saw as chat (COI enabled) is remembered."""
    chat_id = f"<{time.time_ns()}-off@localhost>"
    _, chat = make_message(chat_version="1.0", message_id=chat_id)
    deliver(backend_server, backend_user, chat)
    enable_coi(backend_server, backend_user)
    reply_id, reply = make_message(in_reply_to=chat_id)
    deliver(backend_server, backend_user, reply)
    assert where(backend_server, backend_user, reply_id) == [("INBOX", set())]


def test_thread_index_can_be_turned_off(backend_server):
    enable_coi(backend_server, "nothread")
    chat_id = f"<{time.time_ns()}-nt@localhost>"
    _, chat = make_message(chat_version="1.0", message_id=chat_id)
    deliver(backend_server, "nothread", chat)
    reply_id, reply = make_message(in_reply_to=chat_id)
    deliver(backend_server, "nothread", reply)
    assert where(backend_server, "nothread", chat_id) == [("INBOX", {CHAT})]
    assert where(backend_server, "nothread", reply_id) == [("INBOX", set())]


# -- thread-index poisoning (issue 14) ---------------------------------------

def chat_from(sender, message_id, to="rcpt@example.org", cc=None):
    """A Delta Chat message from sender; to "hidden" is Delta Chat's
    hidden recipients."""
    to = '"hidden-recipients": ;' if to == "hidden" else to
    _, msg = make_message(chat_version="1.0", message_id=message_id,
                          sender=sender,
                          extra_headers=[f"Cc: {cc}"] if cc else [])
    return msg.replace(b"To: rcpt@example.org", f"To: {to}".encode(), 1)


def reply_from(server, user, sender, parent_id, avoid_slot=None):
    """Deliver an ordinary reply to parent_id from sender; where it went.
    avoid_slot=(slot, size): the reply's own id is not in that slot of
    the thread index (a reply that is chat is remembered too, and in a
    small index it could replace its own sender's entry there)."""
    message_id = None
    while avoid_slot is not None and message_id is None:
        message_id = f"<reply.{time.time_ns()}@example.org>"
        if thread_slot(message_id, avoid_slot[1]) == avoid_slot[0]:
            message_id = None
    reply_id, reply = make_message(in_reply_to=parent_id,
                                   references=parent_id, sender=sender,
                                   message_id=message_id)
    deliver(server, user, reply, sender=sender)
    return where(server, user, reply_id)


def test_strangers_chat_does_not_capture_a_list_thread(backend_server,
                                                       backend_user):
    """A stranger's chat whose Message-ID is a mailing list's thread root
    does not make the list's ordinary replies chat."""
    enable_coi(backend_server, backend_user)
    root = f"<{time.time_ns()}-root@lists.example.org>"
    deliver(backend_server, backend_user,
            chat_from("mallory@evil.example", root), sender="m@evil.example")
    assert where(backend_server, backend_user, root) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "carol@example.net",
                      root) == [("INBOX", set())]
    # and a reply to that reply is mail too
    assert reply_from(backend_server, backend_user, "Dan <dan@example.net>",
                      root) == [("INBOX", set())]


def test_reply_from_participant_is_chat(backend_server, backend_user):
    """The chat's From, and its To and Cc, may answer it from a mail
    client; nobody else may."""
    enable_coi(backend_server, backend_user)
    chat_id = f"<{time.time_ns()}-part@localhost>"
    deliver(backend_server, backend_user,
            chat_from("Alice <Alice@Example.ORG>", chat_id,
                      to=f"{backend_user}@example.org, bob@example.org",
                      cc="Carol <carol@example.com>"))
    assert reply_from(backend_server, backend_user, "ALICE@example.org",
                      chat_id) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "bob@example.org",
                      chat_id) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "carol@example.com",
                      chat_id) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "zed@example.com",
                      chat_id) == [("INBOX", set())]


def test_reply_from_peer_is_chat(backend_server, backend_user):
    """Someone who exchanged chat with the user before counts in any
    remembered thread: who sent the user chat, and whom the user's own
    chat (APPEND) was sent to."""
    enable_coi(backend_server, backend_user)
    n = time.time_ns()
    deliver(backend_server, backend_user,
            chat_from("dave@example.net", f"<{n}-dave@localhost>"))
    conn = backend_server.imap(backend_user)
    conn.create("Sent")
    own = chat_from(f"{backend_user}@example.org", f"<{n}-own@localhost>",
                    to="Erin <erin@example.net>")
    assert conn.append("Sent", None, None, own)[0] == "OK"
    conn.logout()
    # a group chat of Alice's whose recipients are hidden
    chat_id = f"<{n}-group@localhost>"
    deliver(backend_server, backend_user,
            chat_from("alice@example.org", chat_id, to="hidden"))
    assert reply_from(backend_server, backend_user, "dave@example.net",
                      chat_id) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "erin@example.net",
                      chat_id) == [("INBOX", {CHAT})]
    assert reply_from(backend_server, backend_user, "frank@example.net",
                      chat_id) == [("INBOX", set())]


def test_same_message_id_does_not_take_the_entry_over(backend_server,
                                                      backend_user):
    """A second chat with a remembered Message-ID, from someone else, does
    not change who took part."""
    enable_coi(backend_server, backend_user)
    chat_id = f"<{time.time_ns()}-twice@localhost>"
    deliver(backend_server, backend_user,
            chat_from("alice@example.org", chat_id, to="hidden"))
    deliver(backend_server, backend_user,
            chat_from("mallory@evil.example", chat_id,
                      to="zed@example.com"))
    assert reply_from(backend_server, backend_user, "zed@example.com",
                      chat_id) == [("INBOX", set())]
    assert reply_from(backend_server, backend_user, "alice@example.org",
                      chat_id) == [("INBOX", {CHAT})]


def thread_slot(message_id, size):
    """coi_thread_slot(): the slot of an id (without <>)."""
    digest = hashlib.sha256(message_id.strip("<>").encode()).digest()
    return int.from_bytes(digest[:4], "big") % size


def test_one_sender_cannot_evict_the_index(backend_server):
    """One sender's flood of chats (200 into a 64-slot index, whose share
    per sender is 4) leaves another sender's entry alone, even the
    flood's chats whose ids fall into that entry's slot."""
    user = "smallindex"
    enable_coi(backend_server, user)
    n = time.time_ns()
    bob_id = f"<{n}-bob@localhost>"
    deliver(backend_server, user, chat_from("bob@example.org", bob_id))
    bob_slot = thread_slot(bob_id, 64)
    # the ids that hit Bob's slot come last, after the share is used
    others, hits = [], []
    i = 0
    while len(others) < 195 or len(hits) < 5:
        mid = f"<{n}-flood{i}@localhost>"
        i += 1
        if thread_slot(mid, 64) == bob_slot:
            if len(hits) < 5:
                hits.append(mid)
        elif len(others) < 195:
            others.append(mid)
    with backend_server.lmtp() as conn:
        for mid in others + hits:
            replies = {}
            lmtp_transaction(conn, "m@evil.example", [user],
                             chat_from("mallory@evil.example", mid),
                             replies)
            assert replies[user][0] == 250, replies
    # the flood is still chat
    assert where(backend_server, user, hits[-1]) == [("INBOX", {CHAT})]
    # (Bob's reply is chat, and remembered: not in his root's slot, where
    # it would replace his own entry, as it may in a 64-slot index)
    assert reply_from(backend_server, user, "bob@example.org", bob_id,
                      avoid_slot=(bob_slot, 64)) == [("INBOX", {CHAT})]
    # Mallory sent chat, so she is a peer: her own replies count, and
    # nobody else's
    assert reply_from(backend_server, user, "mallory@evil.example",
                      bob_id, avoid_slot=(bob_slot, 64)) == \
        [("INBOX", {CHAT})]
    assert reply_from(backend_server, user, "carol@example.net",
                      bob_id, avoid_slot=(bob_slot, 64)) == \
        [("INBOX", set())]


@pytest.mark.parametrize("user,setting", [
    ("badsize", "coi_thread_index_size 'lots'"),
    ("badage", "coi_thread_index_max_age '-1'"),
])
def test_invalid_thread_setting_tempfails(server, user, setting):
    """A broken admin setting is a temporary failure: the MTA keeps the
    message and retries once the admin fixed it."""
    _, msg = make_message(chat_version="1.0")
    replies = server.lmtp_deliver("sender@example.org", [user], msg)
    assert replies[user][0] == 451, replies
    assert server.wait_for_log(rf"Error: .*rcpt {user}: .*coi: Invalid "
                               + re.escape(setting))


def test_thread_index_not_reachable_over_metadata(backend_server,
                                                  backend_user):
    enable_coi(backend_server, backend_user)
    _, chat = make_message(chat_version="1.0")
    deliver(backend_server, backend_user, chat)
    conn = login(backend_server, backend_user)
    status, text, untagged = imap_command(
        conn, 'GETMETADATA (DEPTH infinity) "" (/private/vendor)')
    assert status == "OK", text
    assert not [l for l in untagged if "thread" in l], untagged
    status, text, _ = imap_command(
        conn, 'SETMETADATA "" '
              '(/private/vendor/vendor.dovecot/pvt/coi/thread/1 "x")')
    assert status != "OK"


# -- fallbacks ---------------------------------------------------------------

def maildir(server, user):
    return os.path.join(server.home(user), "Maildir")


def test_missing_chats_is_recreated(server, user):
    enable_coi(server, user, "active")
    shutil.rmtree(os.path.join(maildir(server, user), ".COI.Chats"))
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, user, msg)
    assert where(server, user, msgid) == [("COI/Chats", {CHAT})]
    assert server.wait_for_log(rf"lmtp\({user}\).*Warning: .*coi: "
                               r"COI/Chats is missing")
    conn = login(server, user)
    status, _, untagged = imap_command(conn, 'LSUB "" "COI/*"')
    assert any("COI/Chats" in l for l in untagged), untagged


def test_chats_not_creatable_falls_back_to_inbox(server, user):
    enable_coi(server, user, "active")
    chats = os.path.join(maildir(server, user), ".COI.Chats")
    shutil.rmtree(chats)
    # a file where the folder's directory would go: mkdir fails
    with open(chats, "w") as f:
        f.write("in the way\n")
    try:
        msgid, msg = make_message(chat_version="1.0")
        deliver(server, user, msg)
    finally:
        os.unlink(chats)
    assert where(server, user, msgid) == [("INBOX", {CHAT})]
    assert server.wait_for_log(rf"lmtp\({user}\).*Error: .*coi: Cannot "
                               r"file chat into COI/Chats, delivering to "
                               r"INBOX instead")


def test_chats_not_writable_falls_back_to_inbox(server, user):
    enable_coi(server, user, "active")
    chats = os.path.join(maildir(server, user), ".COI.Chats")
    dirs = [chats] + [os.path.join(chats, d) for d in ("tmp", "new", "cur")]
    for d in dirs:
        os.chmod(d, stat.S_IRUSR | stat.S_IXUSR)
    try:
        msgid, msg = make_message(chat_version="1.0")
        deliver(server, user, msg)
    finally:
        for d in dirs:
            os.chmod(d, 0o700)
    assert where(server, user, msgid) == [("INBOX", {CHAT})]


def test_unreadable_config_tempfails(server, user):
    """A state that cannot be read must not let a blocked sender in: the
    delivery fails temporarily (the MTA retries), and is stored once the
    state can be read again."""
    enable_coi(server, user, "active")
    attrs = os.path.join(server.home(user), "dovecot-attributes")
    msgid, msg = make_message(chat_version="1.0")
    os.chmod(attrs, 0)
    try:
        replies = lmtp_attempt(server, "sender@example.org", [user], msg)
    finally:
        os.chmod(attrs, 0o600)
    assert replies[user][0] == 451, replies
    assert where(server, user, msgid) == []
    assert server.wait_for_log(rf"lmtp\({user}\).*Error: .*coi: Failed to "
                               r"read the block list, delivery fails "
                               r"temporarily")
    deliver(server, user, msg)
    assert where(server, user, msgid) == [("COI/Chats", {CHAT})]


def test_unreadable_config_delivers_like_mail_if_chosen(server):
    """coi_state_failure = deliver: the message goes where it would go
    without COI."""
    user = "stateless"
    enable_coi(server, user, "active")
    attrs = os.path.join(server.home(user), "dovecot-attributes")
    os.chmod(attrs, 0)
    try:
        msgid, msg = make_message(chat_version="1.0")
        deliver(server, user, msg)
    finally:
        os.chmod(attrs, 0o600)
    assert where(server, user, msgid) == [("INBOX", set())]
    assert server.wait_for_log(rf"lmtp\({user}\).*Error: .*coi: Failed to "
                               r"read the block list, delivering as if COI "
                               r"were off")


HOSTILE = {
    "huge-references": dict(references=" ".join(
        f"<id{i}@example.org>" for i in range(20000))),
    "non-utf8": dict(extra_headers=["Chat-Version: \udcff\udcfe"],
                     subject="\udce4"),
    "duplicate-chat-version": dict(chat_version="1.0",
                                   extra_headers=["Chat-Version: 2.0"]),
    "folded-message-id": dict(message_id="\r\n <chat$folded@example.org>"),
    "empty-message-id": dict(message_id=""),
    "garbage-in-reply-to": dict(in_reply_to="<<<>>>@@@" * 1000),
    "nul-and-controls": dict(extra_headers=["X-Junk: a\x01\x02\x7f"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers_are_delivered(server, case):
    user = server.free_users.pop(0)
    enable_coi(server, user, "active")
    kw = dict(HOSTILE[case])
    subject = f"hostile-{case}-{time.time_ns()}"
    kw.setdefault("subject", subject)
    _, msg = make_message(**kw)
    deliver(server, user, msg)
    assert len(messages(server, user)) == 1
    assert not server.log_lines_matching(r"Panic|Fatal")


def test_header_only_message(server, user):
    enable_coi(server, user, "active")
    deliver(server, user, b"Chat-Version: 1.0\r\n")
    assert [(m, f) for m, f, _ in messages(server, user)] == \
        [("COI/Chats", {CHAT})]


def test_no_log_lines_for_normal_deliveries(server, user):
    enable_coi(server, user, "active")
    deliver(server, user, make_message(chat_version="1.0")[1])
    deliver(server, user, make_message()[1])
    lines = server.log_lines_matching(rf"lmtp\({user}\).*(Info|Warning|"
                                      r"Error): .*coi")
    assert lines == []


# -- dovecot-lda -------------------------------------------------------------

DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"


def test_dovecot_lda_files_chat(server, user):
    enable_coi(server, user, "active")
    msgid, msg = make_message(chat_version="1.0")
    r = subprocess.run([DOVECOT_LDA, "-c", server.conf, "-d", user,
                        "-o", "mail_plugins=lmtp_coi"],
                       input=msg, capture_output=True, timeout=60,
                       env=tool_env())
    assert r.returncode == 0, r.stderr
    assert where(server, user, msgid) == [("COI/Chats", {CHAT})]


# -- Delta Chat's protocol mail without Chat-Version (issue 13 item 1) ------

def deltachat_mail(kind, sender="alice@example.org"):
    """(Message-ID, bytes) of what the server sees of a Delta Chat message
    of kind: "encrypted" (its header-protected form), "receipt" (an
    unencrypted read receipt) or "securejoin" (a visible Secure-Join);
    "thunderbird" is classic encrypted mail, which is not chat."""
    uid = f"{time.time_ns():032x}"
    uuid = f"{uid[:8]}-{uid[8:12]}-4{uid[13:16]}-a{uid[17:20]}-{uid[20:32]}"
    msgid = f"<{uuid}@localhost>"
    head = [f"From: {sender}", f"Message-ID: {msgid}",
            "Date: Tue, 24 Nov 2026 12:00:00 +0000", "MIME-Version: 1.0"]
    if kind == "encrypted":
        head += ['To: "hidden-recipients": ;', "Subject: [...]",
                 'Content-Type: multipart/encrypted; '
                 'protocol="application/pgp-encrypted"; boundary="b"']
        body = ("--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
                "Version: 1\r\n--b\r\nContent-Type: application/"
                "octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nx\r\n"
                "-----END PGP MESSAGE-----\r\n--b--\r\n")
    elif kind == "receipt":
        head += ["To: bob@example.org", "Subject: Receipt Notification",
                 "Content-Type: multipart/report; "
                 "report-type=disposition-notification; boundary=\"r\""]
        body = ("--r\r\nContent-Type: text/plain\r\n\r\nread\r\n--r\r\n"
                "Content-Type: message/disposition-notification\r\n\r\n"
                "Original-Message-ID: <x@localhost>\r\nDisposition: "
                "manual-action/MDN-sent-automatically; displayed\r\n"
                "--r--\r\n")
    elif kind == "securejoin":
        head += ["To: bob@example.org", "Subject: Secure-Join",
                 "Secure-Join: vc-request", "Content-Type: text/plain"]
        body = "Secure-Join: vc-request\r\n"
    else:
        assert kind == "thunderbird"
        msgid = f"<{uuid}@example.org>"
        head[1] = f"Message-ID: {msgid}"
        head += ["To: Bob <bob@example.org>", "Subject: ...",
                 'Content-Type: multipart/encrypted; '
                 'protocol="application/pgp-encrypted"; boundary="b"']
        body = "--b\r\n\r\nx\r\n--b--\r\n"
    return msgid, ("\r\n".join(head) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize("kind,expected", [
    ("encrypted", [("COI/Chats", {CHAT})]),
    ("receipt", [("COI/Chats", {CHAT})]),
    ("securejoin", [("COI/Chats", {CHAT})]),
    ("thunderbird", [("INBOX", set())]),
])
def test_deltachat_protocol_mail(server, user, kind, expected):
    """Delta Chat's mail that carries no Chat-Version is chat where the
    server can tell (docs/admin-guide.md, Classification); classic
    encrypted mail stays mail."""
    enable_coi(server, user, "active")
    msgid, msg = deltachat_mail(kind)
    deliver(server, user, msg)
    assert where(server, user, msgid) == expected
