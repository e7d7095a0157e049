"""Provider-wide block policy (coi_block_policy file and
coi_block_policy_dict) with its actions reject, discard and folder."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import coi_server
from harness import enable_coi, make_message, messages, tool_env, where

POLICY = """# provider block policy
spammer@example.org

@spam.example
  Mixed.Case@Example.ORG
"""


def shared_dir():
    d = pathlib.Path(tempfile.mkdtemp(prefix="coi-policy-"))
    os.chmod(d, 0o755)
    return d


def write_policy(path, text):
    # replaced atomically, as an admin's editor or config management would
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


@pytest.fixture(scope="module")
def server():
    d = shared_dir()
    policy = d / "policy"
    write_policy(policy, POLICY)
    policy_dict = d / "policy.dict"
    policy_dict.write_text("shared/coi-block-policy/dict-listed@example.org\n"
                           "yes\n")
    os.chmod(policy_dict, 0o644)
    users = [f"p{i}" for i in range(10)]
    # the dict through Dovecot's dict service, as a cluster would share it
    dict_conf = (f"dict {{\n  policy = file:{policy_dict}\n}}\n"
                 "service dict {\n  unix_listener dict {\n"
                 "    mode = 0666\n  }\n}\n")
    with coi_server(users=users, plugin_settings={
            "coi_block_policy": str(policy),
            "coi_block_policy_dict": "proxy::policy"},
            extra_conf=dict_conf) as s:
        s.policy = policy
        for u in users:
            enable_coi(s, u, "active")
        yield s
    shutil.rmtree(d, ignore_errors=True)


def transaction(server, sender, rcpts, msg):
    """MAIL, RCPT each, DATA: {rcpt: (code, text)} and the RCPT replies."""
    replies = {}
    with server.lmtp() as conn:
        conn.ehlo_or_helo_if_needed()
        assert conn.mail(sender)[0] == 250
        accepted = []
        for r in rcpts:
            code, text = conn.rcpt(r)
            replies[r] = ("rcpt", code, text.decode())
            if code == 250:
                accepted.append(r)
        if accepted:
            code, text = conn.data(msg)
            replies[accepted[0]] = ("data", code, text.decode())
            for r in accepted[1:]:
                code, text = conn.getreply()
                replies[r] = ("data", code, text.decode())
    return replies


@pytest.mark.parametrize("sender", [
    "spammer@example.org", "SPAMMER@example.org", "anyone@spam.example",
    "mixed.case@example.org", "dict-listed@example.org"])
def test_envelope_sender_rejected_at_rcpt(server, sender):
    msgid, msg = make_message()
    replies = transaction(server, sender, ["p0", "p1"], msg)
    for r in ("p0", "p1"):
        stage, code, text = replies[r]
        assert (stage, code) == ("rcpt", 550), replies
        assert text.startswith("5.7.1"), replies
    assert where(server, "p0", msgid) == []


def test_from_header_rejected_after_data(server):
    msgid, msg = make_message(chat_version="1.0",
                              sender="Spammer <spammer@example.org>")
    replies = transaction(server, "innocent@example.net", ["p2", "p3"], msg)
    for r in ("p2", "p3"):
        stage, code, text = replies[r]
        assert (stage, code) == ("data", 550), replies
        assert text.startswith("5.7.1"), replies
    assert where(server, "p2", msgid) == []
    assert where(server, "p3", msgid) == []


def test_not_blocked_is_delivered(server):
    for sender in ("friend@example.org", "x@sub.spam.example",
                   "spammer@example.org.evil"):
        msgid, msg = make_message(chat_version="1.0", sender=sender)
        replies = server.lmtp_deliver(sender, ["p4"], msg)
        assert replies["p4"][0] == 250, replies
        assert where(server, "p4", msgid) == [("COI/Chats", {"$Chat"})]


def test_edit_holds_for_next_delivery(server):
    sender = "newly-blocked@example.com"
    _, msg = make_message(sender=sender)
    assert server.lmtp_deliver(sender, ["p5"], msg)["p5"][0] == 250
    write_policy(server.policy, POLICY + sender + "\n")
    try:
        replies = server.lmtp_deliver(sender, ["p5"], msg)
        assert replies["p5"][0] == 550, replies
    finally:
        write_policy(server.policy, POLICY)
    assert server.lmtp_deliver(sender, ["p5"], msg)["p5"][0] == 250


@pytest.mark.parametrize("bad", ["not an address\n", "a@b@c\n",
                                 "x@" + "a" * 2000 + "\n"])
def test_malformed_policy_tempfails_loudly(server, bad):
    write_policy(server.policy, POLICY + bad)
    try:
        msgid, msg = make_message(sender="friend@example.org")
        replies = server.lmtp_deliver("friend@example.org", ["p6"], msg)
        assert replies["p6"][0] == 451, replies
        assert server.wait_for_log(r"Error: .*coi: Provider block policy "
                                   r"cannot be read.*line 6")
    finally:
        write_policy(server.policy, POLICY)
    assert where(server, "p6", msgid) == []
    replies = server.lmtp_deliver("friend@example.org", ["p6"], msg)
    assert replies["p6"][0] == 250


def test_last_line_without_newline(server):
    write_policy(server.policy, POLICY + "no-newline@example.org")
    try:
        _, msg = make_message(sender="friend@example.org")
        replies = server.lmtp_deliver("no-newline@example.org", ["p7"], msg)
        assert replies["p7"][0] == 550, replies
    finally:
        write_policy(server.policy, POLICY)


def test_missing_policy_tempfails(server):
    """A policy file that cannot be read is a loud error, not an empty
    list."""
    os.rename(server.policy, str(server.policy) + ".away")
    try:
        _, msg = make_message(sender="friend@example.org")
        replies = server.lmtp_deliver("friend@example.org", ["p7"], msg)
        assert replies["p7"][0] == 451, replies
        assert server.wait_for_log(r"Error: .*coi: Provider block policy "
                                   r"cannot be read.*No such file")
    finally:
        os.rename(str(server.policy) + ".away", server.policy)
    assert messages(server, "p7") == []


def test_lda_tempfails_a_blocked_sender(server):
    _, msg = make_message(sender="spammer@example.org")
    r = subprocess.run(["/usr/lib/dovecot/dovecot-lda", "-c", server.conf,
                        "-d", "p8", "-f", "spammer@example.org",
                        "-o", "mail_plugins=lmtp_coi"],
                       input=msg, capture_output=True, timeout=60,
                       env=tool_env())
    assert r.returncode == 75, r   # EX_TEMPFAIL: never delivered
    assert messages(server, "p8") == []


@pytest.fixture(scope="module")
def server_actions():
    """action discard for everyone, folder for one user (userdb)."""
    d = shared_dir()
    policy = d / "policy"
    write_policy(policy, POLICY)
    users = ["discard", {"name": "folder", "fields": {
        "userdb_coi_block_policy_action": "folder"}}]
    with coi_server(users=users, plugin_settings={
            "coi_block_policy": str(policy),
            "coi_block_policy_action": "discard"}) as s:
        enable_coi(s, "folder", "active")
        yield s
    shutil.rmtree(d, ignore_errors=True)


def test_discard_and_folder(server_actions):
    s = server_actions
    msgid, msg = make_message(chat_version="1.0",
                              sender="spammer@example.org")
    replies = s.lmtp_deliver("spammer@example.org", ["discard", "folder"],
                             msg)
    assert replies["discard"][0] == 250 and replies["folder"][0] == 250
    assert messages(s, "discard") == []
    assert where(s, "folder", msgid) == [("Blocked", set())]
    msgid, msg = make_message(sender="friend@example.org")
    replies = s.lmtp_deliver("friend@example.org", ["discard"], msg)
    assert where(s, "discard", msgid) == [("INBOX", set())]


def test_policy_per_user_rejects_after_data():
    """A %variable in the policy file name needs the recipient, which RCPT
    TO does not have yet: the check waits until after DATA, where each
    recipient gets its own policy."""
    d = shared_dir()
    write_policy(d / "policy-strict", POLICY)
    write_policy(d / "policy-lax", "# nobody blocked\n")
    try:
        with coi_server(users=["strict", "lax"], plugin_settings={
                "coi_block_policy": f"{d}/policy-%u"}) as s:
            msgid, msg = make_message(sender="spammer@example.org")
            replies = transaction(s, "spammer@example.org",
                                  ["strict", "lax"], msg)
            assert replies["strict"][:2] == ("data", 550), replies
            assert replies["strict"][2].startswith("5.7.1"), replies
            assert replies["lax"][:2] == ("data", 250), replies
            assert messages(s, "strict") == []
            assert where(s, "lax", msgid) == [("INBOX", set())]
            assert not s.log_lines_matching(r"Error:")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_first_connection_of_a_process_rejects_at_rcpt():
    """lmtp loads the mail_plugins of protocol lmtp when it creates a
    client, before its client_created hooks run: even the first connection
    of a fresh lmtp process is rejected at RCPT TO."""
    d = shared_dir()
    policy = d / "policy"
    write_policy(policy, POLICY)
    try:
        with coi_server(users=["first"], plugin_settings={
                "coi_block_policy": str(policy)}) as s:
            msgid, msg = make_message(sender="spammer@example.org")
            replies = transaction(s, "spammer@example.org", ["first"], msg)
            assert replies["first"][:2] == ("rcpt", 550), replies
            assert messages(s, "first") == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


# A policy at the documented limit: COI_POLICY_MAX_ENTRIES distinct entries
# (about 26 MB here), below COI_POLICY_MAX_SIZE (32 MiB).
LARGE_ENTRIES = 1_000_000
BOM = "\ufeff"


def large_policy_text(count):
    return "".join(f"u{i}@bulk{i % 1000}.example\n" for i in range(count))


@pytest.fixture(scope="module")
def server_large():
    """Generated once: each test swaps in its own file and puts this one
    back."""
    d = shared_dir()
    policy = d / "policy"
    text = "# generated\n" + large_policy_text(LARGE_ENTRIES)
    write_policy(policy, text)
    with coi_server(users=["big1", "big2", "big3"], plugin_settings={
            "coi_block_policy": str(policy)}) as s:
        s.policy = policy
        s.large_text = text
        yield s
    shutil.rmtree(d, ignore_errors=True)


def assert_no_crash(server):
    assert not server.log_lines_matching(r"Panic|Fatal|Out of memory"), \
        server.log_lines_matching(r"Panic|Fatal|Out of memory")


def test_million_entries_block_and_pass(server_large):
    s = server_large
    for sender in ("u0@bulk0.example", "u777777@bulk777.example",
                   f"U{LARGE_ENTRIES - 1}@BULK999.example"):
        _, msg = make_message(sender=sender)
        replies = transaction(s, sender, ["big1", "big2"], msg)
        assert replies["big1"][:2] == ("rcpt", 550), replies
        assert replies["big2"][:2] == ("rcpt", 550), replies
    for sender in ("friend@example.org", "u777777@bulk778.example",
                   f"u{LARGE_ENTRIES}@bulk0.example"):
        msgid, msg = make_message(sender=sender)
        replies = s.lmtp_deliver(sender, ["big1"], msg)
        assert replies["big1"][0] == 250, replies
        assert where(s, "big1", msgid) == [("INBOX", set())]
    assert_no_crash(s)
    assert not s.log_lines_matching(r"Error:")


def test_over_limit_tempfails_every_delivery(server_large):
    """One entry more than the limit: every recipient gets 451 (never
    delivered as if there were no policy), and the log says why once."""
    s = server_large
    write_policy(s.policy, s.large_text + "one-too-many@example.org\n")
    try:
        msgid, msg = make_message(sender="friend@example.org")
        # one connection, so one lmtp process and its one cached file
        replies = transaction(s, "friend@example.org",
                              ["big1", "big2", "big3"], msg)
        for r in ("big1", "big2", "big3"):
            assert replies[r][:2] == ("rcpt", 451), replies
            assert replies[r][2].startswith("4.3.0"), replies
        lines = s.wait_for_log(r"more than 1000000 entries")
        assert len(lines) == 1, lines
        assert re.search(r"Error: .*coi: Provider block policy cannot be "
                         r"read, delivery fails temporarily: .*policy line "
                         r"1000002: more than 1000000 entries, the limit",
                         lines[0]), lines
    finally:
        write_policy(s.policy, s.large_text)
    assert where(s, "big1", msgid) == []
    assert_no_crash(s)


def test_over_size_limit_tempfails(server_large):
    """A file over 32 MiB is refused before it is read."""
    s = server_large
    tmp = s.policy.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write("spammer@example.org\n")
        f.truncate(32 * 1024 * 1024 + 1)   # sparse: quick to write
    os.chmod(tmp, 0o644)
    os.rename(tmp, s.policy)
    try:
        _, msg = make_message(sender="friend@example.org")
        replies = transaction(s, "friend@example.org", ["big1", "big2"],
                              msg)
        assert replies["big1"][:2] == ("rcpt", 451), replies
        assert replies["big2"][:2] == ("rcpt", 451), replies
        lines = s.wait_for_log(r"33554433 bytes, more than 33554432")
        assert len(lines) == 1, lines
    finally:
        write_policy(s.policy, s.large_text)
    assert_no_crash(s)


@pytest.mark.parametrize("first_line,sender", [
    ("bom-listed@example.org", "bom-listed@example.org"),
    ("@bom-listed.example", "x@bom-listed.example"),
    ("# a comment first", "other@example.org")])
def test_bom_is_ignored(server, first_line, sender):
    """A UTF-8 BOM (some Windows editors write one) before the first line
    is not part of it: an entry there blocks, a comment stays one."""
    write_policy(server.policy, BOM + first_line + "\nother@example.org\n")
    try:
        _, msg = make_message(sender=sender)
        replies = server.lmtp_deliver(sender, ["p9"], msg)
        assert replies["p9"][0] == 550, replies
        msgid, msg = make_message(sender="friend@example.org")
        replies = server.lmtp_deliver("friend@example.org", ["p9"], msg)
        assert replies["p9"][0] == 250, replies
    finally:
        write_policy(server.policy, POLICY)
