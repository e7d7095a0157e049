"""Soak: eight MTA connections deliver thousands of mixed messages (chat,
mail, replies to chat, blocked senders, one to three recipients each)
while three IMAP sessions keep changing what decides where they go:
`enabled`, `message-filter` (none, active, seen), block entries, and
\\Seen on the INBOX, which moves chat into Chats. Afterwards every message
is found exactly once per recipient, and where it may be.

COI_SOAK_MESSAGES sets the number of messages: 3000 by default, which
keeps tests/run within its budget on a 2-core machine. The full 5000 run,
by hand (COI_SOAK_MESSAGES=5000 tests/run -k soak), took 150 s (130 s of
delivery, about 90 s of CPU) on the 2-core development machine while other
builds and test suites ran (load 10-14), and 206 s at load 15; 3000 took
61 s at load 10."""
import os
import random
import smtplib
import threading
import time

from conftest import coi_server
from harness import (COI_CONFIG, copies, imap_command, lmtp_transaction,
                     login, setmetadata)

MESSAGES = int(os.environ.get("COI_SOAK_MESSAGES", "3000"))
MTA_CONNECTIONS = 8
USERS = [f"soak{i}" for i in range(4)]
BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
# blocked from the start to the end
SPAMMERS = ["spam@spam.example", "other@spam.example"]
# blocked and unblocked all the time: such mail may be anywhere
FLAKY = "flaky@example.net"
CHATS = "COI/Chats"
# where each kind of message may end up
ALLOWED = {
    "chat": {"INBOX", CHATS},
    "reply": {"INBOX", CHATS},
    "mail": {"INBOX"},
    "blocked": {"Blocked"},
    "flaky": {"INBOX", CHATS, "Blocked"},
}
KINDS = ["chat"] * 7 + ["mail"] * 5 + ["reply"] * 3 + ["blocked"] * 3 + \
    ["flaky"] * 2


def message(msgid, kind, sender, parent=None):
    lines = [f"From: {sender}", "To: soak@example.org",
             f"Subject: soak {kind}", f"Message-ID: {msgid}",
             "Date: Tue, 24 Nov 2026 12:00:00 +0000"]
    if kind in ("chat", "blocked", "flaky"):
        lines.append("Chat-Version: 1.0")
    if kind == "reply" and parent is not None:
        lines += [f"In-Reply-To: {parent}", f"References: {parent}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + f"{kind} body\r\n").encode()


class MTA:
    """One MTA connection that keeps delivering; a recipient without a
    final answer (4xx, or the connection lost) is sent again."""

    def __init__(self, server):
        self.server = server
        self.conn = None
        self.retries = 0

    def deliver(self, sender, rcpts, data):
        pending, final = list(rcpts), {}
        for attempt in range(20):
            # what came before a broken connection counts
            replies = {}
            try:
                if self.conn is None:
                    self.conn = self.server.lmtp()
                lmtp_transaction(self.conn, sender, pending, data, replies)
                if not any(200 <= code < 300 for code, _ in
                           replies.values()):
                    self.conn.rset()
            except (smtplib.SMTPException, OSError, RuntimeError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            for rcpt in pending:
                code = replies.get(rcpt, (None, ""))[0]
                if code is not None and not 400 <= code < 500:
                    final[rcpt] = code
            pending = [r for r in pending if r not in final]
            if not pending:
                return final
            self.retries += 1
            time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"no final answer for {pending}")

    def close(self):
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError, RuntimeError):
                pass


def togglers(server, stop, errors, counts):
    """The IMAP sessions: settings, block entries, \\Seen."""
    def run(name, body):
        rng = random.Random(name)
        conns = {u: login(server, u) for u in USERS}
        try:
            while not stop.is_set():
                user = rng.choice(USERS)
                body(rng, conns[user])
                counts[name] = counts.get(name, 0) + 1
        except Exception as e:      # noqa: BLE001 (reported by the test)
            errors.append((name, e))
        finally:
            for conn in conns.values():
                conn.close()

    def settings(rng, conn):
        if rng.random() < 0.3:
            value = rng.choice(["yes", "yes", None])
            assert setmetadata(conn, f"{COI_CONFIG}/enabled",
                               value)[0] == "OK"
        else:
            value = rng.choice(["none", "active", "seen"])
            assert setmetadata(conn, f"{COI_CONFIG}/message-filter",
                               value)[0] == "OK"

    def blocks(rng, conn):
        entry = rng.choice([FLAKY, "@toggle.example",
                            f"nobody{rng.randrange(50)}@example.com"])
        assert setmetadata(conn, f"{BLOCKED}/{entry}",
                           rng.choice(["yes", None]))[0] == "OK"

    def seen(rng, conn):
        # what a client does with new messages: mark them read, or read
        # one (FETCH BODY[] sets \Seen too)
        assert imap_command(conn, "SELECT INBOX")[0] == "OK"
        status, _, untagged = imap_command(conn, "UID SEARCH UNSEEN")
        assert status == "OK"
        uids = untagged[0].split()[2:] if untagged else []
        if not uids:
            return
        if rng.random() < 0.7:
            command = f"UID STORE {','.join(uids)} +FLAGS.SILENT (\\Seen)"
        else:
            command = f"UID FETCH {rng.choice(uids)} BODY[]"
        status, text, _ = imap_command(conn, command)
        assert status == "OK", text

    threads = [threading.Thread(target=run, args=(name, body))
               for name, body in (("settings", settings), ("blocks", blocks),
                                  ("seen", seen))]
    for t in threads:
        t.start()
    return threads


def test_soak():
    with coi_server(users=USERS) as server:
        for user in USERS:
            conn = login(server, user)
            assert setmetadata(conn, f"{COI_CONFIG}/enabled", "yes")[0] == \
                "OK"
            for spammer in SPAMMERS:
                assert setmetadata(conn, f"{BLOCKED}/{spammer}",
                                   "yes")[0] == "OK"
            conn.close()

        stop = threading.Event()
        errors, counts = [], {}
        imap_threads = togglers(server, stop, errors, counts)
        sent = []           # (msgid, kind, {rcpt: final code})
        lock = threading.Lock()
        mtas = []

        def mta(n):
            rng = random.Random(n)
            agent = MTA(server)
            mtas.append(agent)
            chats = []
            try:
                for i in range(n, MESSAGES, MTA_CONNECTIONS):
                    kind = rng.choice(KINDS)
                    msgid = f"<soak.{i}.{kind}@example.org>"
                    sender = {"blocked": rng.choice(SPAMMERS),
                              "flaky": FLAKY}.get(
                        kind, f"friend{rng.randrange(20)}@example.org")
                    rcpts = rng.sample(USERS, rng.choice([1, 1, 1, 2, 3]))
                    parent = rng.choice(chats) if chats else None
                    final = agent.deliver(sender, rcpts,
                                          message(msgid, kind, sender,
                                                  parent))
                    if kind == "chat":
                        chats.append(msgid)
                    with lock:
                        sent.append((msgid, kind, final))
            except Exception as e:      # noqa: BLE001 (reported below)
                errors.append((f"mta{n}", e))
            finally:
                agent.close()

        started = time.monotonic()
        threads = [threading.Thread(target=mta, args=(n,))
                   for n in range(MTA_CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        delivered = time.monotonic() - started
        stop.set()
        for t in imap_threads:
            t.join(60)
        assert not errors, errors
        assert len(sent) == MESSAGES

        found = copies(server)
        stored, where = 0, {}
        for msgid, kind, final in sent:
            for user, code in final.items():
                assert code == 250, (msgid, user, code)
                got = found.get(user, {}).get(msgid, [])
                assert len(got) == 1 and got[0] in ALLOWED[kind], \
                    (msgid, user, got)
                stored += 1
                where[(kind, got[0])] = where.get((kind, got[0]), 0) + 1
        assert sum(len(boxes) for user in found.values()
                   for boxes in user.values()) == stored
        # the changing settings did change where chat went
        assert where.get(("chat", "INBOX")) and where.get(("chat", CHATS))
        assert not server.log_lines_matching(r"Panic|Fatal")
        print(f"\nsoak: {MESSAGES} messages, {stored} deliveries in "
              f"{delivered:.1f} s, {sum(a.retries for a in mtas)} retries; "
              f"IMAP changes {counts}; stored {sorted(where.items())}; "
              f"{len(server.log_lines_matching('Error:'))} error lines")
