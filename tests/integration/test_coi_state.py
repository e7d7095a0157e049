"""Where COI keeps its state: coi_state_dict leaves the attribute dict
alone, doveadm reads and writes the state wherever it is, the upgrade of
docs/sql-dict.md ("Upgrading") moves an existing user's state over, and
only the user's own clients store contacts."""
import os
import time

from conftest import coi_server
from harness import (COI_CONFIG, deliver, enable_coi, getmetadata, login,
                     make_message, setmetadata, where)

BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
SPAMMER = "spammer@example.org"


def test_state_dict_leaves_the_attribute_dict_alone():
    """With coi_state_dict (SQLite, as docs/sql-dict.md says), COI's state
    is in COI's tables, and the user's attribute file holds only what
    other clients set."""
    with coi_server(users=["alice"], backend="sqlite") as s:
        enable_coi(s, "alice", "active")
        conn = login(s, "alice")
        assert setmetadata(conn, f"{BLOCKED}/{SPAMMER}", "yes")[0] == "OK"
        conn.close()
        assert s.sql("SELECT name, value FROM coi_config "
                     "WHERE username = 'alice' ORDER BY name") == [
            ("contacts-indexed", "1"), ("enabled", "yes"),
            ("message-filter", "active")]
        assert s.sql("SELECT entry FROM coi_blocked") == [(SPAMMER,)]
        attrs = os.path.join(s.home("alice"), "dovecot-attributes")
        text = open(attrs).read() if os.path.exists(attrs) else ""
        assert "coi" not in text, text


def test_doveadm_config_set_get(backend_server, backend_user, doveadm_plugin):
    """doveadm coi config validates like METADATA, creates the folders and
    writes wherever COI keeps its state: a delivery follows it."""
    user = backend_user
    r = backend_server.doveadm("coi", "config", "set", "-u", user,
                               "message-filter", "sideways")
    assert r.returncode != 0 and "invalid value for" in r.stderr, r
    for name, value in (("enabled", "yes"), ("message-filter", "active")):
        r = backend_server.doveadm("coi", "config", "set", "-u", user,
                                   name, value)
        assert r.returncode == 0, r.stderr
    r = backend_server.doveadm("-f", "tab", "coi", "config", "get",
                               "-u", user)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["yes\tactive"], r.stdout
    msgid, msg = make_message(chat_version="1.0")
    deliver(backend_server, user, msg)
    assert where(backend_server, user, msgid) == [("COI/Chats", {"$Chat"})]
    # and IMAP sees what doveadm set
    conn = login(backend_server, user)
    assert getmetadata(conn, f"{COI_CONFIG}/message-filter")[1] == \
        {f"{COI_CONFIG}/message-filter": "active"}
    conn.close()
    r = backend_server.doveadm("coi", "config", "set", "-u", user,
                               "enabled", "")
    assert r.returncode == 0, r.stderr
    msgid, msg = make_message(chat_version="1.0")
    deliver(backend_server, user, msg)
    assert where(backend_server, user, msgid) == [("INBOX", set())]


def reload_with(server, old, new):
    """Change the configuration file and reload Dovecot, as an admin
    would; wait until the new lmtp processes can see it."""
    with open(server.conf) as f:
        text = f.read()
    assert old in text
    with open(server.conf, "w") as f:
        f.write(text.replace(old, new))
    r = server.doveadm("reload")
    assert r.returncode == 0, r.stderr
    time.sleep(1)


def test_upgrade_as_documented(doveadm_plugin):
    """docs/sql-dict.md's upgrade: a user's state kept in the attribute
    dict (no coi_state_dict) is copied by doveadm coi migrate with the
    setting given to doveadm alone, then the setting is made and Dovecot
    reloaded: the user's block list, configuration and thread index hold
    for the next delivery; a second run copies nothing more."""
    # the SQLite backend of the docs, with coi_state_dict switched off
    # again: the state of an installation before coi_state_dict
    with coi_server(users=["alice"], backend="sqlite",
                    plugin_settings={"coi_state_dict": ""}) as s:
        enable_coi(s, "alice", "active")
        conn = login(s, "alice")
        assert setmetadata(conn, f"{BLOCKED}/{SPAMMER}", "yes")[0] == "OK"
        conn.close()
        chat_id = f"<{time.time_ns()}-up@localhost>"
        _, chat = make_message(chat_version="1.0", message_id=chat_id)
        deliver(s, "alice", chat)
        assert s.sql("SELECT count(*) FROM coi_config") == [("0",)]

        migrate = ("-o", "plugin/coi_state_dict=proxy::coi", "-f", "tab",
                   "coi", "migrate", "-A")
        r = s.doveadm(*migrate)
        assert r.returncode == 0, r.stderr
        # enabled, message-filter, the block entry, a thread slot, its
        # sender's peer record, and the contact index marker the first
        # delivery wrote
        assert r.stdout.splitlines()[1:] == ["alice\t6"], r.stdout
        reload_with(s, "  coi_state_dict = \n", "")

        msgid, msg = make_message(sender=SPAMMER)
        deliver(s, "alice", msg, sender=SPAMMER)
        assert where(s, "alice", msgid) == [("Blocked", set())]
        reply_id, reply = make_message(in_reply_to=chat_id)
        deliver(s, "alice", reply)
        assert where(s, "alice", reply_id) == [("COI/Chats", {"$Chat"})]
        r = s.doveadm(*migrate[2:])
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[1:] == ["alice\t0"], r.stdout
        assert not s.log_lines_matching(r"Panic|Fatal")


def test_migrate_without_state_dict_fails(doveadm_plugin):
    with coi_server(users=["alice"]) as s:
        r = s.doveadm("coi", "migrate", "-u", "alice")
        assert r.returncode == 75, r
        assert "coi_state_dict is not set" in r.stderr


def test_detail_naming_contacts_goes_to_inbox():
    """The MTA can never store into <root>/Contacts: only messages a user's
    own client stores there count as contacts."""
    conf = "lmtp_save_to_detail_mailbox = yes\nrecipient_delimiter = +\n"
    with coi_server(users=["alice"], extra_conf=conf) as s:
        enable_coi(s, "alice")
        msgid, msg = make_message(extra_headers=[
            "COI-Blocked: yes", "COI-From-Hash: " + "ab" * 32])
        deliver(s, "alice+COI/Contacts", msg)
        assert where(s, "alice", msgid) == [("INBOX", set())]
        # an ordinary +detail folder still works
        msgid, msg = make_message()
        deliver(s, "alice+Trash", msg)
        assert where(s, "alice", msgid) == [("Trash", set())]
