"""lmtp_coi with Pigeonhole (Debian's dovecot-sieve): global and user
scripts run for chat, and COI's decision is Sieve's default mailbox."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import coi_server
from harness import _mail_uid, deliver, enable_coi, make_message, where

CHAT = "$Chat"

USER_SCRIPTS = {
    "keep": "keep;\n",
    "implicit": "# nothing: implicit keep\n",
    "fileinto": 'require "fileinto";\nfileinto "Work";\n',
    "fileinto-copy": 'require ["fileinto", "copy"];\n'
                     'fileinto :copy "Work";\n',
    "discard": "discard;\n",
    "addflag": 'require "imap4flags";\naddflag "\\\\Flagged";\nkeep;\n',
    "redirect": 'redirect "elsewhere@example.org";\n',
    "fileinto-inbox": 'require "fileinto";\nfileinto "INBOX";\n',
}


@pytest.fixture(scope="module")
def server():
    uid, gid = _mail_uid()
    # pytest's own temporary directories are closed to the mail user
    shared = pathlib.Path(tempfile.mkdtemp(prefix="coi-sieve-"))
    os.chmod(shared, 0o755)
    # the global script every delivery runs first
    before = shared / "before.sieve"
    before.write_text('require "imap4flags";\naddflag "$Global";\n')
    # the mail user may not write here: global scripts come compiled
    subprocess.run(["sievec", str(before)], check=True)
    # Sieve's redirect hands the message to sendmail_path
    outbox = shared / "outbox"
    outbox.mkdir()
    os.chown(outbox, uid, gid)
    sendmail = shared / "sendmail"
    sendmail.write_text(f'#!/bin/sh\ncat > "{outbox}/$$.eml"\n')
    sendmail.chmod(0o755)
    users = [f"s-{name}" for name in USER_SCRIPTS] + ["s-none"]
    conf = f"""
sendmail_path = {sendmail}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve lmtp_coi
}}
"""
    with coi_server(users=users, lmtp_mail_plugins="",
                    plugin_settings={
                        "sieve": "file:~/sieve;active=~/.dovecot.sieve",
                        "sieve_before": str(before),
                    },
                    extra_conf=conf) as s:
        s.outbox = outbox
        for name, script in USER_SCRIPTS.items():
            home = s.home(f"s-{name}")
            os.makedirs(home, exist_ok=True)
            with open(f"{home}/.dovecot.sieve", "w") as f:
                f.write(script)
            for path in (home, f"{home}/.dovecot.sieve"):
                os.chown(path, uid, gid)
            enable_coi(s, f"s-{name}", "active")
        enable_coi(s, "s-none", "active")
        yield s
    shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.parametrize("script,expected", [
    ("keep", [("COI/Chats", {CHAT, "$Global"})]),
    ("implicit", [("COI/Chats", {CHAT, "$Global"})]),
    ("none", [("COI/Chats", {CHAT, "$Global"})]),
    ("addflag", [("COI/Chats", {CHAT, "$Global", "\\Flagged"})]),
    ("fileinto", [("Work", {CHAT, "$Global"})]),
    ("fileinto-copy", [("COI/Chats", {CHAT, "$Global"}),
                       ("Work", {CHAT, "$Global"})]),
    ("fileinto-inbox", [("INBOX", {CHAT, "$Global"})]),
    ("discard", []),
])
def test_sieve_and_chat(server, script, expected):
    user = f"s-{script}"
    if script in ("fileinto", "fileinto-copy"):
        conn = server.imap(user)
        conn.create("Work")
        conn.logout()
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, user, msg)
    assert sorted(where(server, user, msgid)) == expected


@pytest.mark.parametrize("script", ["keep", "implicit", "addflag"])
def test_sieve_keep_of_mail_stays_in_inbox(server, script):
    user = f"s-{script}"
    msgid, msg = make_message()
    deliver(server, user, msg)
    flags = {"$Global"} | ({"\\Flagged"} if script == "addflag" else set())
    assert where(server, user, msgid) == [("INBOX", flags)]


def test_sieve_redirect_of_chat(server):
    user = "s-redirect"
    before = set(os.listdir(server.outbox))
    msgid, msg = make_message(chat_version="1.0")
    deliver(server, user, msg)
    assert where(server, user, msgid) == []
    new = set(os.listdir(server.outbox)) - before
    assert len(new) == 1
    with open(server.outbox / new.pop(), "rb") as f:
        assert msgid.encode() in f.read()


def test_no_errors_logged(server):
    assert not server.log_lines_matching(
        r"(Error|Warning|Panic|Fatal): .*(coi|sieve)")
