"""The snapshot of a user's hot state (coi_state_snapshot, docs/admin-guide.md):
the usual delivery reads no dict, and no change COI makes is ever hidden
by it: each holds for the very next delivery, also when a delivery took a
snapshot just before the change."""
import os
import subprocess

import pytest

from conftest import coi_server
from harness import (COI_CONFIG, deliver, deliver_where, enable_coi, login,
                     make_message, setmetadata)

BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
SPAMMER = "spammer@example.org"


def imap_block(server, user):
    conn = login(server, user)
    assert setmetadata(conn, f"{BLOCKED}/{SPAMMER}", "yes")[0] == "OK"
    conn.close()


def imap_config(name, value):
    def change(server, user):
        conn = login(server, user)
        assert setmetadata(conn, f"{COI_CONFIG}/{name}", value)[0] == "OK"
        conn.close()
    return change


def doveadm_block(server, user):
    r = server.doveadm("coi", "block", "add", "-u", user, SPAMMER)
    assert r.returncode == 0, r.stderr


def doveadm_filter_none(server, user):
    r = server.doveadm("coi", "config", "set", "-u", user,
                       "message-filter", "none")
    assert r.returncode == 0, r.stderr


def chat_to_inbox_untagged(server, user):
    assert deliver_where(server, user, chat_version="1.0") == \
        [("INBOX", set())]


def chat_to_inbox(server, user):
    assert deliver_where(server, user, chat_version="1.0") == \
        [("INBOX", {"$Chat"})]


def spammer_blocked(server, user):
    assert deliver_where(server, user, sender=SPAMMER) == \
        [("Blocked", set())]


CHANGES = {
    "imap block": (imap_block, spammer_blocked),
    "imap filter": (imap_config("message-filter", "none"), chat_to_inbox),
    "imap disable": (imap_config("enabled", None), chat_to_inbox_untagged),
    "doveadm block": (doveadm_block, spammer_blocked),
    "doveadm filter": (doveadm_filter_none, chat_to_inbox),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_change_after_a_delivery_holds_for_the_next(backend_server,
                                                    backend_user,
                                                    doveadm_plugin, change):
    """A delivery has just read the state (and left a snapshot of it);
    the change, through IMAP or doveadm, holds for the next delivery."""
    server, user = backend_server, backend_user
    enable_coi(server, user, "active")
    assert deliver_where(server, user, chat_version="1.0") == \
        [("COI/Chats", {"$Chat"})]
    make_change, check = CHANGES[change]
    make_change(server, user)
    check(server, user)


def list_index_extensions(server, user):
    """The header extensions of the user's mailbox list index, as
    doveadm dump shows them."""
    path = os.path.join(server.home(user), "Maildir", "dovecot.list.index")
    r = subprocess.run(["doveadm", "dump", "-t", "index", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def break_database(server):
    """Make the SQLite database unreadable to the dict service; returns
    the repair."""
    db = server.sqlite_db
    mode = os.stat(db).st_mode & 0o7777
    os.chmod(db, 0)
    server.kill_children("dict")

    def repair():
        os.chmod(db, mode)
        server.kill_children("dict")
    return repair


def test_usual_delivery_reads_no_dict():
    """Once a delivery has taken the snapshot, a mail and a chat to a user
    with empty lists are delivered and filed with COI's dict unreadable;
    a user whose block list is not empty still has it read (and the
    delivery fails temporarily), so the snapshot never hides a list."""
    with coi_server(users=["quiet", "listed"], backend="sqlite") as s:
        for user in ("quiet", "listed"):
            enable_coi(s, user, "active")
        imap_block(s, "listed")
        for user in ("quiet", "listed"):
            deliver(s, user, make_message()[1])
        assert "coi-state" in list_index_extensions(s, "quiet")
        repair = break_database(s)
        try:
            assert deliver_where(s, "quiet") == [("INBOX", set())]
            assert deliver_where(s, "quiet", chat_version="1.0") == \
                [("COI/Chats", {"$Chat"})]
            replies = s.lmtp_deliver("friend@example.org", ["listed"],
                                     make_message()[1])
            assert replies["listed"][0] == 451, replies
        finally:
            repair()
        spammer_blocked(s, "listed")


def test_snapshot_off_reads_what_sql_wrote_directly(doveadm_plugin):
    """Rows written into COI's tables behind its back: with
    coi_state_snapshot = no the next delivery sees them; with the default
    a snapshot taken before does not, until doveadm coi state refresh (or
    any change COI makes)."""
    users = ["direct"]
    with coi_server(users=users, backend="sqlite",
                    plugin_settings={"coi_state_snapshot": "no"}) as s:
        enable_coi(s, "direct", "active")
        deliver(s, "direct", make_message()[1])
        s.sql("INSERT INTO coi_blocked (username, entry, value) "
              f"VALUES ('direct', '{SPAMMER}', 'yes')")
        spammer_blocked(s, "direct")
    with coi_server(users=users, backend="sqlite") as s:
        enable_coi(s, "direct", "active")
        deliver(s, "direct", make_message()[1])
        s.sql("INSERT INTO coi_blocked (username, entry, value) "
              f"VALUES ('direct', '{SPAMMER}', 'yes')")
        assert deliver_where(s, "direct", sender=SPAMMER) == \
            [("INBOX", set())]
        r = s.doveadm("coi", "state", "refresh", "-u", "direct")
        assert r.returncode == 0, r.stderr
        spammer_blocked(s, "direct")


def test_invalid_setting_fails_login():
    with coi_server(users=["odd"], backend="sqlite",
                    plugin_settings={"coi_state_snapshot": "maybe"}) as s:
        replies = s.lmtp_deliver("friend@example.org", ["odd"],
                                 make_message()[1])
        assert replies["odd"][0] == 451, replies
        assert s.log_lines_matching(
            r"Invalid coi_state_snapshot 'maybe': Not one of yes, no")
