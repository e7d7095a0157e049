"""Fault injection. Whatever breaks, every message the MTA hands over ends
up stored exactly once, and the LMTP reply says so: 2xx means stored once,
4xx means nothing stored (the test, acting as the MTA, retries until it gets
2xx, and then there is one copy), 5xx means nothing stored.

Broken on disk: Chats deleted, unwritable, immutable or replaced by a file;
Blocked not creatable or not writable. Quota: the replies are plain
Dovecot's, for chat, mail and blocked mail alike. The attribute dict: a
file dict unreadable, full of garbage or cut short; the SQL dict's server
killed, hung, its database unreadable or overwritten, and the PostgreSQL
server itself stopped and started again, while deliveries go on.
Processes killed: lmtp during and right after DATA (compared with plain
Dovecot, which stores a message twice when killed between saving it and
replying), imap during the seen
move into Chats."""
import contextlib
import fcntl
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import coi_server
from harness import (COI_CONFIG, DovecotServer, copies, enable_coi,
                     getmetadata, imap_command, lmtp_attempt, login,
                     make_message, mta_deliver, postgresql, setmetadata)

BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
SPAMMER = "spammer@example.org"
FRIEND = "friend@example.org"
CHATS = "COI/Chats"


@pytest.fixture(scope="module")
def server():
    with coi_server(users=[f"f{i}" for i in range(80)]) as s:
        s.free_users = [f"f{i}" for i in range(80)]
        yield s


@pytest.fixture(scope="module")
def plain_server():
    """Config A: the same Dovecot without any plugin."""
    with DovecotServer(users=[f"p{i}" for i in range(20)]) as s:
        s.free_users = [f"p{i}" for i in range(20)]
        yield s


# -- helpers -----------------------------------------------------------------

def maildir(server, user, folder=""):
    return os.path.join(server.home(user), "Maildir", folder)


def block(server, user, entry=SPAMMER):
    conn = login(server, user)
    assert setmetadata(conn, f"{BLOCKED}/{entry}", "yes")[0] == "OK"
    conn.close()


def sent_chat(server, user):
    """A chat message the user sent (APPENDed to Sent, as clients do): a
    reply to it is chat by the thread rule. Returns its Message-ID."""
    msgid = f"<{time.time_ns()}-sent@localhost>"
    _, msg = make_message(chat_version="1.0", message_id=msgid)
    conn = server.imap(user)
    conn.create("Sent")
    assert conn.append("Sent", None, None, msg)[0] == "OK"
    conn.logout()
    return msgid


def mix(parent_id):
    """One message of each kind: [(kind, message-id, sender, bytes)]."""
    kinds = {"chat": dict(chat_version="1.0"), "mail": {},
             "reply": dict(in_reply_to=parent_id, references=parent_id),
             "blocked": dict(chat_version="1.0")}
    out = []
    for kind, kw in kinds.items():
        sender = SPAMMER if kind == "blocked" else FRIEND
        msgid, data = make_message(sender=sender, **kw)
        out.append((kind, msgid, sender, data))
    return out


def mark_inbox_seen(server, user):
    """What a client does on reading everything: \\Seen on the INBOX."""
    conn = login(server, user)
    status, _, untagged = imap_command(conn, "SELECT INBOX")
    assert status == "OK"
    if "* 0 EXISTS" not in untagged:
        status, _, _ = imap_command(conn, "STORE 1:* +FLAGS.SILENT (\\Seen)")
    imap_command(conn, "LOGOUT")
    conn.close()
    return status


def assert_once(server, user, expected):
    """expected: {message-id: mailbox, or a set of allowed mailboxes, or
    None for 'not stored'}. Each is there exactly once (or not at all),
    and the user has no message that was not expected."""
    found = copies(server, user)
    for msgid, where in expected.items():
        got = found.get(msgid, [])
        if where is None:
            assert got == [], (msgid, got)
            continue
        allowed = {where} if isinstance(where, str) else set(where)
        assert len(got) == 1 and got[0] in allowed, (msgid, got, allowed)
    assert set(found) <= set(expected), set(found) - set(expected)


def serving_pid(server, name, sock, port):
    """The PID of the server's process (of service name) that holds the
    other end of our TCP connection sock to port."""
    local = "0100007F:%04X" % port
    remote = "0100007F:%04X" % sock.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                inode = fields[9]
    assert inode is not None, "connection not found"
    for pid in server.children(name):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                pass
    raise AssertionError(f"no {name} process serves the connection")


def hold_dotlock(path):
    """Take a Dovecot dotlock as an alive process (ours) would: the lock
    holder waits for us, up to its stale timeout (2 minutes)."""
    with open(path, "w") as f:
        f.write(f"{os.getpid()}:{socket.gethostname()}")
    os.chmod(path, 0o644)


def wait_until(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- Chats and Blocked broken on disk -----------------------------------------

def break_chats(server, user, fault):
    """Break the user's Chats; returns the function that repairs it."""
    chats = maildir(server, user, ".COI.Chats")
    dirs = [chats] + [os.path.join(chats, d) for d in ("tmp", "new", "cur")]
    if fault == "deleted":
        shutil.rmtree(chats)
        return lambda: None
    if fault == "unwritable":
        for d in dirs:
            os.chmod(d, 0o500)
        return lambda: [os.chmod(d, 0o700) for d in dirs]
    if fault == "immutable":
        if shutil.which("chattr") is None:
            pytest.skip("no chattr (e2fsprogs)")
        r = subprocess.run(["chattr", "+i", *dirs], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {r.stderr.strip()}")
        return lambda: subprocess.run(["chattr", "-i", *dirs], check=True)
    assert fault == "file"
    shutil.rmtree(chats)
    with open(chats, "w") as f:
        f.write("in the way\n")
    return lambda: os.unlink(chats)


@pytest.mark.parametrize("fault", ["deleted", "unwritable", "immutable",
                                   "file"])
@pytest.mark.parametrize("message_filter", ["active", "seen"])
def test_chats_broken_after_enable(server, fault, message_filter):
    """Chats goes missing or unwritable after COI was enabled: every
    delivery gets 250 and is stored once; chat that cannot go to Chats
    stays in the INBOX (the seen move waits for the next \\Seen)."""
    user = server.free_users.pop(0)
    enable_coi(server, user, message_filter)
    block(server, user)
    parent = sent_chat(server, user)
    msgs = mix(parent)
    repair = break_chats(server, user, fault)
    try:
        for kind, msgid, sender, data in msgs:
            history = mta_deliver(server, sender, [user], data)
            assert history == {user: [250]}, (kind, history)
        if message_filter == "seen":
            assert mark_inbox_seen(server, user) == "OK"
            # a move into a broken Chats fails whole: nothing moved
            assert copies(server, user)[msgs[0][1]] == \
                [CHATS if fault == "deleted" else "INBOX"]
    finally:
        repair()
    if message_filter == "seen":
        # the client's next \Seen after the repair
        assert mark_inbox_seen(server, user) == "OK"
    chat_box = (CHATS if message_filter == "seen" or fault == "deleted"
                else "INBOX")
    where = {"chat": chat_box, "reply": chat_box, "mail": "INBOX",
             "blocked": "Blocked"}
    expected = {msgid: where[kind] for kind, msgid, _, _ in msgs}
    expected[parent] = "Sent"
    assert_once(server, user, expected)


def break_blocked(server, user, fault):
    """Break the user's Blocked mailbox (or keep it from being created);
    returns the function that repairs it."""
    md = maildir(server, user)
    blocked = os.path.join(md, ".Blocked")
    if fault == "file":
        with open(blocked, "w") as f:
            f.write("in the way\n")
        return lambda: os.unlink(blocked)
    if fault == "unwritable":
        if not os.path.isdir(blocked):
            conn = login(server, user)
            assert imap_command(conn, "CREATE Blocked")[0] == "OK"
            conn.close()
        dirs = [blocked] + [os.path.join(blocked, d)
                            for d in ("tmp", "new", "cur")]
        for d in dirs:
            os.chmod(d, 0o500)
        return lambda: [os.chmod(d, 0o700) for d in dirs]
    assert fault == "parent-read-only"
    os.chmod(md, 0o500)
    return lambda: os.chmod(md, 0o700)


def once(function):
    done = []

    def wrapper():
        if not done:
            done.append(True)
            function()
    return wrapper


# first reply to the blocking recipient, per fault and kind of message
BLOCKED_FIRST_REPLY = {
    "file": {"chat": 250, "mail": 250, "reply": 250, "blocked": 451},
    "unwritable": {"chat": 250, "mail": 250, "reply": 250, "blocked": 451},
    # Maildir++ keeps every folder in the Maildir: the INBOX cannot take
    # mail either (no dovecot-uidlist.lock), while the existing Chats can
    "parent-read-only": {"chat": 250, "mail": 451, "reply": 250,
                         "blocked": 451},
}


@pytest.mark.parametrize("fault", sorted(BLOCKED_FIRST_REPLY))
def test_blocked_mailbox_broken(server, fault):
    """A blocked sender's message that Blocked cannot take is tempfailed
    for that recipient only, never put in the INBOX; the MTA's retry after
    the repair stores it once. The other recipient of the same
    transaction gets it once, at the first try."""
    user, other = server.free_users.pop(0), server.free_users.pop(0)
    enable_coi(server, user, "active")
    enable_coi(server, other, "active")
    block(server, user)
    parent = sent_chat(server, user)
    msgs = mix(parent)
    # blocked comes last: Blocked exists only after its repair
    for kind, msgid, sender, data in msgs:
        repair = once(break_blocked(server, user, fault))
        try:
            history = mta_deliver(server, sender, [user, other], data,
                                  before_retry=repair)
        finally:
            repair()
        first = BLOCKED_FIRST_REPLY[fault][kind]
        assert history[user] == ([250] if first == 250
                                 else [first, 250]), (kind, history)
        assert history[other] == [250], (kind, history)
    where = {"chat": CHATS, "reply": CHATS, "mail": "INBOX",
             "blocked": "Blocked"}
    assert_once(server, user, dict(
        {msgid: where[kind] for kind, msgid, _, _ in msgs}, **{parent: "Sent"}))
    # the other recipient blocks nobody, and knows no thread
    where_other = dict(where, blocked=CHATS, reply="INBOX")
    assert_once(server, other, {msgid: where_other[kind]
                                for kind, msgid, _, _ in msgs})


# -- quota: the replies of plain Dovecot ----------------------------------------

# One group of users per quota setup, from userdb: both backends, and the
# count backend with quota_full_tempfail (452 instead of 552).
QUOTA_GROUPS = {
    "count": {"userdb_quota": "count:User quota",
              "userdb_quota_vsizes": "yes",
              "userdb_quota_rule": "*:messages=5"},
    "storage": {"userdb_quota": "maildir:User quota",
                "userdb_quota_rule": "*:storage=6K"},
    "tempfail": {"userdb_quota": "count:User quota",
                 "userdb_quota_vsizes": "yes",
                 "userdb_quota_rule": "*:messages=5",
                 "userdb_quota_full_tempfail": "yes"},
}
# per group: message-filter active, seen, none, and one who blocks SPAMMER
QUOTA_ROLES = ["active", "seen", "none", "blocks"]
QUOTA_USERS = [f"{g}-{r}" for g in QUOTA_GROUPS for r in QUOTA_ROLES]


def quota_messages():
    """The same messages, bytes and order for both servers: fillers up to
    near the limit, then every kind of message, twice, to go over it."""
    parent = f"<{time.time_ns()}-parent@localhost>"
    out = [("parent", FRIEND, make_message(chat_version="1.0",
                                           message_id=parent,
                                           body="p" * 700 + "\r\n"))]
    for i in range(2):
        out.append(("filler", FRIEND, make_message(
            subject="filler", body="f" * 700 + "\r\n")))
    for _ in range(2):
        for kind, msgid, sender, data in mix(parent):
            # the same size for every kind: quota decides alike
            _, data = make_message(
                message_id=msgid, sender=sender, body="x" * 900 + "\r\n",
                **{"chat": dict(chat_version="1.0"), "mail": {},
                   "reply": dict(in_reply_to=parent, references=parent),
                   "blocked": dict(chat_version="1.0")}[kind])
            out.append((kind, sender, (msgid, data)))
    return out


def quota_run(server, msgs, coi):
    """Deliver msgs to all QUOTA_USERS, one transaction per message.
    Returns ({(message-id, user): reply}, {user: copies})."""
    if coi:
        for user in QUOTA_USERS:
            role = user.split("-")[1]
            enable_coi(server, user, {"active": "active", "seen": "seen",
                                      "none": None,
                                      "blocks": "active"}[role])
            if role == "blocks":
                block(server, user)
    replies = {}

    def attempt(sender, users, msgid, data):
        for user, (code, text) in lmtp_attempt(server, sender, users,
                                               data).items():
            # the session id in a 250 differs between runs
            replies[(msgid, user)] = (code, text if code != 250 else "")
    for kind, sender, (msgid, data) in msgs:
        attempt(sender, QUOTA_USERS, msgid, data)
    for group in QUOTA_GROUPS:
        # the seen move at full quota moves, within the same quota root
        assert mark_inbox_seen(server, f"{group}-seen") == "OK"
    # tempfail: the MTA's retry, once the user made room
    for user in QUOTA_USERS:
        if user.startswith("tempfail-"):
            r = server.doveadm("expunge", "-u", user, "mailbox", "INBOX",
                               "header", "subject", "filler")
            assert r.returncode == 0, r.stderr
    for kind, sender, (msgid, data) in msgs:
        retry = [u for u in QUOTA_USERS
                 if 400 <= replies[(msgid, u)][0] < 500]
        if retry:
            attempt(sender, retry, msgid, data)
    return replies, copies(server)


def test_over_quota_replies_are_plain_dovecots():
    """Against config A (the same Dovecot and quota without COI): the
    same reply for every recipient of every message, chat, mail, thread
    reply and blocked alike, and the same messages stored, each once
    (nothing half-saved: no copy of a refused message anywhere)."""
    msgs = quota_messages()
    conf = dict(users=[{"name": u, "fields": QUOTA_GROUPS[u.split("-")[0]]}
                       for u in QUOTA_USERS],
                mail_plugins="quota")
    with DovecotServer(**conf) as plain:
        plain_replies, plain_copies = quota_run(plain, msgs, False)
    with coi_server(**conf) as s:
        coi_replies, coi_copies = quota_run(s, msgs, True)
        assert not s.log_lines_matching(r"Error: .*coi|Panic|Fatal")

    assert coi_replies == plain_replies
    fillers = {m[0] for kind, _, m in msgs if kind == "filler"}
    for group in QUOTA_GROUPS:
        users = [f"{group}-{r}" for r in QUOTA_ROLES]
        codes = {(code, text.split(" ", 2)[0])
                 for (_, u), (code, text) in coi_replies.items()
                 if u in users and code != 250}
        assert codes == ({(452, "4.2.2")} if group == "tempfail"
                         else {(552, "5.2.2")}), (group, codes)
        for user in users:
            # the same messages stored (the mailboxes differ: that is COI)
            assert sorted(coi_copies[user]) == sorted(plain_copies[user])
            for (msgid, u), (code, _) in coi_replies.items():
                if u != user or (group == "tempfail" and msgid in fillers):
                    continue
                assert len(coi_copies[user].get(msgid, [])) == \
                    (1 if code == 250 else 0), (user, msgid, code)
        # where the seen user's chat went: moved despite the full quota
        seen = coi_copies[f"{group}-seen"]
        assert CHATS in {m for boxes in seen.values() for m in boxes}


# -- the attribute dict broken ---------------------------------------------------

def break_file_dict(path, fault):
    """Break a file: dict; returns the function that repairs it."""
    with open(path, "rb") as f:
        original = f.read()
    st = os.stat(path)

    def restore_bytes():
        with open(path, "wb") as f:
            f.write(original)
    if fault == "unreadable":
        os.chmod(path, 0)
        return lambda: os.chmod(path, st.st_mode & 0o7777)
    if fault == "garbage":
        with open(path, "wb") as f:
            f.write(random.Random(6).randbytes(4096))
        return restore_bytes
    assert fault == "cut-short"
    # in the middle of a key: an odd number of lines
    with open(path, "wb") as f:
        f.write(original[:len(original) // 2])
    return restore_bytes


# Not here: a directory in place of the file. Dovecot's dict-file then
# fails to rename its new version into place and leaves its dotlock behind
# (file_dotlock_replace() does not delete it), so the next write waits for
# the lock to go stale, a minute.
@pytest.mark.parametrize("fault", ["unreadable", "garbage", "cut-short"])
def test_file_dict_broken(server, fault):
    """A file dict that cannot be read, or reads as nonsense: deliveries
    that cannot read it fail temporarily (a blocked sender is never let
    in) and are stored once after the repair, as the MTA retries; those
    that read nonsense get 250 and are stored once (as if COI were off
    where the dict cannot say otherwise); IMAP sessions go on; after the
    repair COI works again."""
    user = server.free_users.pop(0)
    enable_coi(server, user, "active")
    block(server, user)
    parent = sent_chat(server, user)
    during, after = mix(parent), mix(parent)
    retried = []
    repair = break_file_dict(
        os.path.join(server.home(user), "dovecot-attributes"), fault)
    try:
        for kind, msgid, sender, data in during:
            replies = lmtp_attempt(server, sender, [user], data)
            code = 451 if fault == "unreadable" else 250
            assert replies[user][0] == code, (kind, replies)
            if code == 451:
                retried.append((sender, data))
        conn = login(server, user)
        status, _ = getmetadata(conn, f"{COI_CONFIG}/enabled")
        assert status in ("OK", "NO")
        assert imap_command(conn, "SELECT INBOX")[0] == "OK"
        # UID STORE: the INBOX is empty when every delivery tempfailed
        assert imap_command(conn, "UID STORE 1:* +FLAGS.SILENT "
                                  "(\\Seen)")[0] == "OK"
        assert imap_command(conn, "NOOP")[0] == "OK"
        conn.close()
        # the session's process may still write the dict on its way out
        # (it read the broken one): only repair after it is gone
        deadline = time.monotonic() + 30
        while server.children("imap") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        repair()
    for sender, data in retried:
        assert mta_deliver(server, sender, [user], data) == {user: [250]}
    for kind, msgid, sender, data in after:
        assert mta_deliver(server, sender, [user], data) == {user: [250]}
    anywhere = {"INBOX", CHATS, "Blocked"}
    where = {"chat": CHATS, "reply": CHATS, "mail": "INBOX",
             "blocked": "Blocked"}
    expected = {msgid: anywhere for _, msgid, _, _ in during}
    expected.update({msgid: where[kind] for kind, msgid, _, _ in after})
    expected[parent] = "Sent"
    assert_once(server, user, expected)
    assert not server.log_lines_matching(r"Panic|Fatal")


@pytest.fixture(scope="module")
def sql_server():
    """The dicts on Dovecot's dict service with SQLite (docs/sql-dict.md)."""
    users = [f"s{i}" for i in range(24)]
    with coi_server(users=users, backend="sqlite") as s:
        s.free_users = list(users)
        yield s


def sql_fault(server, fault, met):
    """Apply fault to the dict service and its database while deliveries
    go on, then repair it: after about a second, or for a broken database,
    once met() says a delivery has read it (the master may throttle the
    dict service it saw killed for seconds, and connections wait for it
    meanwhile)."""
    db = server.sqlite_db

    def until_met():
        deadline = time.monotonic() + 60
        while not met() and time.monotonic() < deadline:
            time.sleep(0.1)

    def kill_dict(sig=signal.SIGKILL):
        server.kill_children("dict", sig)
    if fault == "killed":
        kill_dict()
        time.sleep(0.5)
        kill_dict()
        time.sleep(0.5)
    elif fault == "hung":
        # stopped, and killed while stopped: what the lmtp processes
        # waiting for it see is a server that never answers, then EOF
        kill_dict(signal.SIGSTOP)
        time.sleep(1.0)
        kill_dict()
    elif fault == "unreadable":
        mode = os.stat(db).st_mode & 0o7777
        os.chmod(db, 0)
        kill_dict()         # a new dict process must open it again
        until_met()
        os.chmod(db, mode)
    else:
        assert fault == "garbage"
        # the write-ahead log too: it holds the pages written last (the
        # only ones a delivery that reads little may need), the header
        # page among them
        files = [p for p in (db, db + "-wal") if os.path.exists(p)]
        originals = {}
        for path in files:
            with open(path, "rb") as f:
                originals[path] = f.read()
            with open(path, "r+b") as f:
                f.write(random.Random(7).randbytes(len(originals[path])))
        kill_dict()
        until_met()
        kill_dict()
        for path in files:
            with open(path, "r+b") as f:
                f.write(originals[path])


def mix_users(server):
    """Three fresh users for a mid-run fault: message-filter active, seen
    and none, each with SPAMMER blocked; the first has sent a chat (the
    parent of the thread replies). Returns (users, parent)."""
    users = [server.free_users.pop(0) for _ in range(3)]
    enable_coi(server, users[0], "active")
    enable_coi(server, users[1], "seen")
    enable_coi(server, users[2])
    for user in users:
        block(server, user)
    return users, sent_chat(server, users[0])


def deliver_mix_during(server, users, parent, fault, tries=10,
                       on_retry=None, timeout=30):
    """Four MTA threads deliver mix(parent) to users, six rounds at least
    and on until fault() (run meanwhile) has returned; every transaction
    must end in 250 for every recipient. on_retry() is called before each
    retry of the MTA, which waits timeout seconds for a reply. Returns
    [(kind, message-id, history)]."""
    sent, errors = [], []
    repaired = threading.Event()

    def mta(n):
        try:
            rounds = 0
            while rounds < 6 or not repaired.is_set():
                for kind, msgid, sender, data in mix(parent):
                    history = mta_deliver(server, sender, users, data,
                                          tries=tries, before_retry=on_retry,
                                          timeout=timeout)
                    assert all(h[-1] == 250 for h in history.values()), \
                        history
                    sent.append((kind, msgid, history))
                rounds += 1
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=mta, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    try:
        fault()
    finally:
        repaired.set()
    for t in threads:
        t.join(180)
    assert not errors, errors
    assert len(sent) >= 4 * 6 * 4
    return sent


def assert_mix_stored_once(server, users, parent, sent):
    """Every message of sent is there exactly once per user, in an
    allowed mailbox, and nothing else is; then COI works again (the
    master may throttle a dict service that was killed, and the SQL
    driver waits before it reconnects: a few seconds)."""
    found = copies(server)
    for user in users:
        expected = {msgid: {"INBOX", CHATS, "Blocked"}
                    for _, msgid, _ in sent}
        if user == users[0]:
            expected[parent] = "Sent"
        found_user = found.get(user, {})
        history = {msgid: h for _, msgid, h in sent}
        for msgid, where in expected.items():
            got = found_user.get(msgid, [])
            # the MTA's replies (None: no reply) say which try stored it
            assert len(got) == 1 and got[0] in (
                {where} if isinstance(where, str) else where), \
                (user, msgid, got, history.get(msgid))
        assert set(found_user) <= set(expected)

    def chat_filed():
        msgid, data = make_message(chat_version="1.0")
        mta_deliver(server, FRIEND, [users[0]], data, tries=40)
        return copies(server, users[0])[msgid] == [CHATS]
    wait_until(chat_filed, timeout=15, what="COI to work again")
    assert not server.log_lines_matching(r"Panic")


def state_read_failed(server, log_start):
    """A delivery has met the broken dict: lmtp logged that it could not
    read the user's COI state (and tempfailed it)."""
    return any("lmtp(" in line and "coi: Failed to read the" in line
               for line in server.log_text().splitlines()[log_start:])


@pytest.mark.parametrize("fault", ["killed", "hung", "unreadable",
                                   "garbage"])
def test_sql_dict_broken_mid_run(sql_server, fault):
    """The SQL dict's server dies, hangs or loses its database while four
    MTA connections deliver chat, mail, thread replies and blocked mail
    to three users: each message is stored once per recipient (tempfailed
    ones after the MTA's retry), never lost, never twice."""
    server = sql_server
    users, parent = mix_users(server)
    log_start = len(server.log_text().splitlines())

    def met():
        return state_read_failed(server, log_start)
    sent = deliver_mix_during(server, users, parent,
                              lambda: sql_fault(server, fault, met))
    if fault in ("unreadable", "garbage"):
        # the deliveries did meet the broken database
        assert met()
    assert_mix_stored_once(server, users, parent, sent)


@pytest.fixture(scope="module")
def pg_server():
    """The dicts on Dovecot's dict service with the session's PostgreSQL
    (docs/sql-dict.md's postgresql blocks)."""
    users = [f"g{i}" for i in range(8)]
    with coi_server(users=users, backend="postgresql") as s:
        s.free_users = list(users)
        yield s


@pytest.mark.parametrize("mode", ["immediate"])
def test_postgresql_stopped_mid_run(pg_server, mode):
    """The PostgreSQL server itself stops (pg_ctl stop -m immediate, a
    crash) while
    four MTA connections deliver chat, mail, thread replies and blocked
    mail to three users, and starts again once a delivery has met it. A
    delivery whose block list or configuration cannot be read is
    tempfailed (451) and the MTA retries: each message is stored exactly
    once per recipient, and COI works again afterwards. The server is the
    whole session's: it is running again when the test ends, whatever
    happens."""
    server = pg_server
    pg = postgresql()
    users, parent = mix_users(server)
    log_start = len(server.log_text().splitlines())
    retried = threading.Event()

    def met():
        return retried.is_set() or state_read_failed(server, log_start)

    def dict_failed():
        return any("dict(" in line and "coi: Lookup failed" in line
                   for line in server.log_text().splitlines()[log_start:])

    def outage():
        # Down until a delivery has met it (failed, or the dict logged a
        # failed lookup), or for 2 s at most: a lookup sent meanwhile
        # waits in the dict service, which answers lmtp only once lmtp's
        # dict client gives up (30 s, fixed in Dovecot 2.3)
        pg.stop_server(mode)
        try:
            deadline = time.monotonic() + 2
            while not (met() or dict_failed()) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            pg.start_server()
    # The MTA waits for a reply as long as a real one does (Postfix:
    # lmtp_data_done_timeout = 600 s): lmtp's dict client waits up to 30 s
    # per lookup for the dict service (fixed in Dovecot 2.3), so a
    # transaction of three recipients can take minutes, and an MTA that
    # gives up earlier on one that lmtp then saves stores it twice on its
    # retry (seen with 30 and 90 s).
    sent = deliver_mix_during(server, users, parent, outage, tries=40,
                              on_retry=retried.set, timeout=600)
    assert state_read_failed(server, log_start), \
        "no delivery logged that COI's state could not be read"
    assert any(code is not None and 400 <= code < 500
               for _, _, history in sent for codes in history.values()
               for code in codes), "no delivery was tempfailed"
    assert_mix_stored_once(server, users, parent, sent)
    # the session's other tests find it running
    assert pg.query("postgres", "SELECT 1") == [("1",)]


def sql_schema_change(server, statement):
    """Run statement on the SQL dict's database, then stop the dict
    processes, so that new ones open it with the new schema (Dovecot's
    SQLite driver fails the first statement of a connection that meets a
    schema change)."""
    with contextlib.closing(sqlite3.connect(server.sqlite_db)) as db:
        db.execute(statement)
        db.commit()
    pids = server.children("dict")
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not set(pids) & set(server.children("dict")),
               what="the dict processes to exit")


def test_sql_thread_slot_write_fails(sql_server):
    """The thread slot is written without waiting for the dict. When that
    write fails, the chat is still filed, the failure is logged once the
    dict answers (at the latest when the delivery's user is freed), and
    the next chat is filed as well."""
    server = sql_server
    user = server.free_users.pop(0)
    log_start = len(server.log_text().splitlines())
    enable_coi(server, user, "active")
    # the table the thread slots are in
    on = ("coi_thread" if server.coi_state_layout == "state-dict" else
          "mail_attribute_priv WHEN NEW.attr_key LIKE "
          "'vendor/vendor.dovecot/pvt/coi/thread/%'")
    sql_schema_change(server, f"CREATE TRIGGER coi_thread_refused BEFORE "
                      f"INSERT ON {on} BEGIN SELECT RAISE(ABORT, "
                      "'thread slot refused'); END")
    try:
        ids = []
        for _ in range(2):
            msgid, data = make_message(chat_version="1.0")
            assert mta_deliver(server, FRIEND, [user], data) == \
                {user: [250]}
            ids.append(msgid)
        failed = (rf"lmtp.*\b{user}\b.*coi: Writing of COI's thread "
                  r"state failed: .*thread slot refused")
        wait_until(lambda: len(server.log_lines_matching(failed)) == 2,
                   timeout=5, what="two thread index errors")
    finally:
        sql_schema_change(server, "DROP TRIGGER coi_thread_refused")
    found = copies(server, user)
    assert all(found[msgid] == [CHATS] for msgid in ids), found
    # sql_schema_change()'s own SIGTERM may meet a dict process that is
    # still starting (slow under the sanitizers), before its handler is set
    assert not [line for line in server.log_text().splitlines()[log_start:]
                if re.search(r"Panic|Fatal", line) and not re.search(
                    r"service\(dict\): child \d+ killed with signal 15",
                    line)]


# -- lmtp killed during a delivery -------------------------------------------------

def lmtp_killed(server, users, message, phase, lock_path):
    """Start one LMTP transaction for users, and SIGKILL the lmtp process
    serving it at phase. Returns what the client read after the kill."""
    conn = server.lmtp()
    conn.ehlo_or_helo_if_needed()
    assert conn.mail(FRIEND)[0] == 250
    for user in users:
        assert conn.rcpt(user)[0] == 250
    pid = serving_pid(server, "lmtp", conn.sock, server.lmtp_port)
    conn.putcmd("data")
    assert conn.getreply()[0] == 354
    data = message + b"\r\n.\r\n"
    if phase == "mid-data":
        conn.send(data[:len(data) // 2])
        time.sleep(0.2)
    elif phase == "data-sent":
        # the whole message and its end, never read: SIGSTOP first
        os.kill(pid, signal.SIGSTOP)
        conn.send(data)
        time.sleep(0.2)
    else:
        assert phase == "saved-not-replied"
        # LMTP replies to DATA once every recipient is done: the first
        # one is saved, the last one waits for the lock we hold
        hold_dotlock(lock_path)
        conn.send(data)
        msgid = message.split(b"Message-ID: ", 1)[1].split(b"\r\n")[0]
        wait_until(lambda: msgid.decode() in copies(server, users[0]),
                   what="the first recipient's copy")
    os.kill(pid, signal.SIGKILL)
    if phase == "saved-not-replied":
        os.unlink(lock_path)
    conn.sock.settimeout(10)
    try:
        return conn.sock.recv(4096)
    except ConnectionResetError:
        # what the killed process had not read yet resets the connection
        return b""
    finally:
        conn.close()


@pytest.mark.parametrize("phase", ["mid-data", "data-sent",
                                   "saved-not-replied"])
def test_lmtp_killed_mid_delivery(server, plain_server, phase):
    """lmtp SIGKILLed during DATA, after the message's end was sent but
    before lmtp read it, and after the first recipient's copy was saved
    but before the replies: the MTA gets no reply and sends again.

    Plain Dovecot (config A) then has one copy per recipient, except in
    the last case: the first recipient gets the message twice, since it
    was saved but never confirmed. COI does exactly as plain Dovecot does,
    for chat filed into Chats too."""
    msgid, message = make_message(chat_version="1.0")
    result = {}
    for name, s in (("plain", plain_server), ("coi", server)):
        users = [s.free_users.pop(0), s.free_users.pop(0)]
        for user in users:
            if s is server:
                enable_coi(s, user, "active")
            else:   # the Maildir, for the lock below
                mta_deliver(s, FRIEND, [user], make_message()[1])
        box = ".COI.Chats" if s is server else ""
        after_kill = lmtp_killed(s, users, message, phase,
                                 os.path.join(maildir(s, users[1], box),
                                              "dovecot-uidlist.lock"))
        assert after_kill == b"", after_kill     # no reply at all
        history = mta_deliver(s, FRIEND, users, message)
        assert history == {u: [250] for u in users}, history
        found = copies(s)
        result[name] = [found.get(u, {}).get(msgid, []) for u in users]
    twice = phase == "saved-not-replied"
    assert result["plain"] == [["INBOX"] * (2 if twice else 1), ["INBOX"]]
    assert result["coi"] == [[CHATS] * (2 if twice else 1), [CHATS]]


# -- imap killed during the seen move ----------------------------------------------

def chats_in_inbox(server, user, count):
    """count chat messages in the INBOX of a user with message-filter=seen,
    delivered over one LMTP connection. Returns their Message-IDs."""
    ids = []
    with server.lmtp() as conn:
        for _ in range(count):
            msgid, data = make_message(chat_version="1.0")
            conn.sendmail(FRIEND, [user], data)
            ids.append(msgid)
    return ids


def store_seen_and_kill(server, user, kill_at, lock=None):
    """STORE \\Seen on the whole INBOX; kill_at(pid) decides when to
    SIGKILL the imap process serving it (it returns once it did). With
    lock, Chats' dovecot-uidlist.lock is ours from before the STORE until
    kill_at() removes it."""
    conn = login(server, user)
    assert imap_command(conn, "SELECT INBOX")[0] == "OK"
    pid = serving_pid(server, "imap", conn.sock, server.imap_port)
    if lock is not None:
        hold_dotlock(lock)
    conn.send(b"K1 STORE 1:* +FLAGS.SILENT (\\Seen)\r\n")
    kill_at(pid)
    conn.close()


def test_imap_killed_before_copies_committed(server):
    """Killed while the copies into Chats wait for Chats' lock: nothing
    moved, the originals stay. The client's next \\Seen moves them, once."""
    user = server.free_users.pop(0)
    enable_coi(server, user, "seen")
    ids = chats_in_inbox(server, user, 5)
    chats = maildir(server, user, ".COI.Chats")
    lock = os.path.join(chats, "dovecot-uidlist.lock")

    def kill_at(pid):
        # the copies are hard links in tmp/ until they are committed
        wait_until(lambda: len(os.listdir(os.path.join(chats, "tmp"))) == 5,
                   what="the copies")
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        os.unlink(lock)
    store_seen_and_kill(server, user, kill_at, lock)
    assert_once(server, user, {i: "INBOX" for i in ids})
    assert mark_inbox_seen(server, user) == "OK"
    assert_once(server, user, {i: CHATS for i in ids})


@pytest.mark.parametrize("next_move", ["same-messages", "another-message"])
def test_imap_killed_between_copy_and_expunge(server, next_move):
    """Killed after the copies into Chats were committed, before the
    INBOX originals were expunged: for a moment the user has both. The
    next seen move of the user, whichever message it is for, finds the
    interrupted move's journal and expunges the originals, so every
    message is left once, in Chats."""
    user = server.free_users.pop(0)
    enable_coi(server, user, "seen")
    ids = chats_in_inbox(server, user, 5)
    chats = maildir(server, user, ".COI.Chats")
    lock = os.path.join(chats, "dovecot-uidlist.lock")
    index_log = os.path.join(maildir(server, user), "dovecot.index.log")

    def kill_at(pid):
        # Chats' lock stops the move after the copying, before the
        # commit; the INBOX index lock stops it again after the commit
        # of the copies, before the expunges
        wait_until(lambda: len(os.listdir(os.path.join(chats, "tmp"))) == 5,
                   what="the copies")
        time.sleep(0.2)
        with open(index_log, "r+b") as log:
            fcntl.lockf(log, fcntl.LOCK_EX)
            os.unlink(lock)
            wait_until(lambda: sum(len(os.listdir(os.path.join(chats, d)))
                                   for d in ("new", "cur")) == 5,
                       what="the committed copies")
            time.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            fcntl.lockf(log, fcntl.LOCK_UN)
    store_seen_and_kill(server, user, kill_at, lock)
    # the kill landed between the two commits
    found = copies(server, user)
    assert all(sorted(found[i]) == [CHATS, "INBOX"] for i in ids), found
    journal = os.path.join(maildir(server, user), "dovecot-coi-seen.move")
    assert os.path.exists(journal)

    if next_move == "another-message":
        ids += chats_in_inbox(server, user, 1)
        conn = login(server, user)
        assert imap_command(conn, "SELECT INBOX")[0] == "OK"
        # reading it sets \\Seen
        assert imap_command(conn, "UID FETCH 6 BODY[]")[0] == "OK"
        conn.close()
    else:
        assert mark_inbox_seen(server, user) == "OK"
    assert_once(server, user, {i: CHATS for i in ids})
    assert not os.path.exists(journal)
    assert server.wait_for_log(rf"imap\({user}\).*Warning: coi: An "
                               r"interrupted move had copied 5 seen chat")


def kill_and_reap(server, pid):
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"),
               what="the master to reap the killed process")


def test_imap_killed_at_random_points_of_big_moves(server):
    """Many messages, and the kill at a random moment of their move (while
    flagging, copying, committing or expunging): after the client's next
    \\Seen every message is there once, in Chats."""
    user = server.free_users.pop(0)
    enable_coi(server, user, "seen")
    rng = random.Random(4)
    ids = []
    # moving 30 messages takes about 0.1 s here
    for delay in (0.0, 0.02, 0.05, 0.1):
        ids += chats_in_inbox(server, user, 30)
        store_seen_and_kill(server, user, lambda pid: (
            time.sleep(delay * rng.uniform(0.5, 1.5)),
            kill_and_reap(server, pid)))
        # Plain Dovecot: Maildir writes the new dovecot-uidlist (and
        # dovecot-keywords) into its dotlock file, so a process killed
        # meanwhile leaves a lock without its PID, which others wait for
        # until it is stale (2 minutes). Be those minutes: the user's only
        # process is dead.
        for root, _, files in os.walk(maildir(server, user)):
            for name in files:
                if name.endswith(".lock"):
                    os.unlink(os.path.join(root, name))
        assert mark_inbox_seen(server, user) == "OK"
        assert_once(server, user, {i: CHATS for i in ids})
