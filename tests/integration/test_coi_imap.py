"""The IMAP side of COI against the real Dovecot: capability, METADATA
config entries, folders, and indirect enable/disable (server spec)."""
import re

import pytest

from conftest import coi_server
from harness import (RawIMAP, getmetadata, imap_command, list_mailboxes,
                     mailbox_names, setmetadata)

CONFIG = "/private/vendor/vendor.dovecot/coi/config"
ENABLED = CONFIG + "/enabled"
ROOT = CONFIG + "/mailbox-root"
FILTER = CONFIG + "/message-filter"


def config(conn):
    status, values = getmetadata(conn, CONFIG, depth=1)
    assert status == "OK"
    return values


# -- capability ------------------------------------------------------------

def login_capabilities(conn, user, password):
    """LOGIN; the capabilities the server sent with its reply, whether as
    the tagged [CAPABILITY ...] code or as an untagged CAPABILITY (which
    Dovecot uses once the client asked for CAPABILITY before login)."""
    status, text, untagged = imap_command(conn, f"LOGIN {user} {password}")
    assert status == "OK", text
    m = re.search(r"\[CAPABILITY ([^\]]*)\]", text)
    if m:
        return m.group(1).split()
    lines = [u for u in untagged if u.startswith("* CAPABILITY ")]
    assert len(lines) == 1, (text, untagged)
    return lines[0].split()[2:]


def test_capability_only_after_login(server, user):
    conn = server.imap_raw()
    status, _, untagged = imap_command(conn, "CAPABILITY")
    assert status == "OK"
    assert "COI" not in untagged[0].split()
    assert "IMAP4rev1" in untagged[0].split()
    assert "COI" in login_capabilities(conn, user, server.password)
    status, _, untagged = imap_command(conn, "CAPABILITY")
    assert "COI" in untagged[0].split()
    # no METADATA capability unless the admin enabled generic METADATA
    assert "METADATA" not in untagged[0].split()


def test_capability_in_tagged_login_reply(server, user):
    conn = RawIMAP(server.imap_port)
    # the greeting (before authentication) has no COI
    assert "COI" not in conn.welcome
    status, text, _ = imap_command(conn, f"LOGIN {user} {server.password}")
    assert re.match(r"OK \[CAPABILITY [^\]]* COI[ \]]", text), text


def test_no_capability_without_plugin(server):
    conn = server.imap("plain")
    _, _, untagged = imap_command(conn, "CAPABILITY")
    assert "COI" not in untagged[0].split()
    status, values = getmetadata(conn, ROOT)
    assert values.get(ROOT) is None
    status, _ = setmetadata(conn, ENABLED, "yes")
    assert status == "NO"
    assert "COI" not in mailbox_names(conn)


# -- METADATA --------------------------------------------------------------

def test_mailbox_root_is_always_present(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert config(conn) == {ROOT: "COI"}
    status, values = getmetadata(conn, ROOT)
    assert (status, values) == ("OK", {ROOT: "COI"})


@pytest.mark.parametrize("value", ["myroot", "COI", None])
def test_mailbox_root_is_read_only(backend_server, backend_user, value):
    conn = backend_server.imap(backend_user)
    status, text = setmetadata(conn, ROOT, value)
    assert status == "NO"
    assert text.startswith(f"NO [CANNOT] unable to set {ROOT}")
    assert config(conn) == {ROOT: "COI"}


def test_enabled_yes_and_nil(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert config(conn) == {ENABLED: "yes", ROOT: "COI"}
    assert setmetadata(conn, ENABLED, None)[0] == "OK"
    assert config(conn) == {ROOT: "COI"}
    # NIL of an absent entry is fine too
    assert setmetadata(conn, ENABLED, None)[0] == "OK"


@pytest.mark.parametrize("value", ["true", "YES", "Yes", "", "no", "yes ",
                                   "1", "x" * 200])
def test_enabled_invalid_values(backend_server, backend_user, value):
    conn = backend_server.imap(backend_user)
    status, text = setmetadata(conn, ENABLED, value)
    assert status == "NO"
    assert text.startswith(f"NO [CANNOT] invalid value for {ENABLED}")
    if len(value) < 64:
        assert f'"{value}"' in text
    assert config(conn) == {ROOT: "COI"}
    assert "COI/Chats" not in mailbox_names(conn)


@pytest.mark.parametrize("value", ["none", "active", "seen"])
def test_message_filter_values(backend_server, backend_user, value):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, FILTER, value)[0] == "OK"
    assert config(conn) == {FILTER: value, ROOT: "COI"}
    assert setmetadata(conn, FILTER, None)[0] == "OK"
    assert config(conn) == {ROOT: "COI"}


@pytest.mark.parametrize("value", ["inactive", "Active", "SEEN", "", "none ",
                                   "all"])
def test_message_filter_invalid_values(backend_server, backend_user, value):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, FILTER, "seen")[0] == "OK"
    status, text = setmetadata(conn, FILTER, value)
    assert status == "NO"
    assert text.startswith(f"NO [CANNOT] invalid value for {FILTER}")
    assert f'"{value}"' in text
    # the previous value stands
    assert config(conn)[FILTER] == "seen"


def test_message_filter_active_creates_chats(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, FILTER, "active")[0] == "OK"
    assert "COI/Chats" in mailbox_names(conn)
    assert "COI/Chats" in mailbox_names(conn, "LSUB")


def test_depth_1_lists_everything_present(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert setmetadata(conn, FILTER, "active")[0] == "OK"
    status, _, untagged = imap_command(
        conn, f'GETMETADATA (DEPTH 1) "" ({CONFIG})')
    assert status == "OK"
    assert len(untagged) == 1
    assert config(conn) == {ENABLED: "yes", ROOT: "COI", FILTER: "active"}


def test_no_stale_values_across_sessions(backend_server, backend_user):
    a = backend_server.imap(backend_user)
    b = backend_server.imap(backend_user)
    assert config(b) == {ROOT: "COI"}
    assert setmetadata(a, FILTER, "seen")[0] == "OK"
    assert setmetadata(a, ENABLED, "yes")[0] == "OK"
    assert config(b) == {ENABLED: "yes", ROOT: "COI", FILTER: "seen"}
    assert setmetadata(b, FILTER, "active")[0] == "OK"
    assert setmetadata(b, ENABLED, None)[0] == "OK"
    assert config(a) == {ROOT: "COI", FILTER: "active"}


def test_values_survive_reconnect(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    conn.logout()
    assert config(backend_server.imap(backend_user))[ENABLED] == "yes"


# -- folders ---------------------------------------------------------------

def test_enable_creates_and_subscribes_folders(server, user):
    conn = server.imap(user)
    assert not {"COI/Chats", "COI/Contacts"} & mailbox_names(conn)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    # in place before the tagged OK, seen by another session at once
    other = server.imap(user)
    assert {"COI/Chats", "COI/Contacts"} <= mailbox_names(other)
    assert {"COI/Chats", "COI/Contacts"} <= mailbox_names(other, "LSUB")


def test_enable_is_idempotent_and_resubscribes(server, user):
    conn = server.imap(user)
    assert imap_command(conn, "CREATE COI/Contacts")[0] == "OK"
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert imap_command(conn, "UNSUBSCRIBE COI/Chats")[0] == "OK"
    assert imap_command(conn, "UNSUBSCRIBE COI/Contacts")[0] == "OK"
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert {"COI/Chats", "COI/Contacts"} <= mailbox_names(conn, "LSUB")
    names = [n for _, _, n in list_mailboxes(conn)]
    assert names.count("COI/Chats") == 1


def test_create_chats_enables(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert imap_command(conn, "CREATE COI/Chats")[0] == "OK"
    assert config(conn)[ENABLED] == "yes"
    assert {"COI/Chats", "COI/Contacts"} <= mailbox_names(conn, "LSUB")


def test_create_other_folders_changes_nothing(server, user):
    conn = server.imap(user)
    for name in ("COI/Other", "Chats", "COI/Chats/Sub", "COI"):
        assert imap_command(conn, f"CREATE {name}")[0] == "OK", name
    # COI/Chats/Sub made COI/Chats only as a \\NoSelect parent
    assert ENABLED not in config(conn)


def test_delete_chats_disables_without_resurrection(server, user):
    conn = server.imap(user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert setmetadata(conn, FILTER, "active")[0] == "OK"
    assert imap_command(conn, "DELETE COI/Chats")[0] == "OK"
    assert ENABLED not in config(conn)
    # nothing brings Chats back: other commands, a new session
    imap_command(conn, "SELECT INBOX")
    imap_command(conn, "NOOP")
    assert "COI/Chats" not in mailbox_names(server.imap(user))
    assert "COI/Contacts" in mailbox_names(conn)


def test_rename_onto_chats_enables(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert imap_command(conn, "CREATE Old")[0] == "OK"
    assert imap_command(conn, "RENAME Old COI/Chats")[0] == "OK"
    assert config(conn)[ENABLED] == "yes"
    assert {"COI/Chats", "COI/Contacts"} <= mailbox_names(conn, "LSUB")


@pytest.mark.parametrize("source,dest", [
    ("COI/Chats", "Elsewhere"),
    ("COI/Chats", "COI/Chats2"),
    ("COI/Chats", "Trash"),
    ("COI", "COI2"),
])
def test_rename_of_chats_refused(server, user, source, dest):
    conn = server.imap(user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    status, text, _ = imap_command(conn, f"RENAME {source} {dest}")
    assert status == "NO"
    assert text.startswith("NO [CANNOT] COI/Chats can only be deleted or "
                           "moved to the Trash")
    assert "COI/Chats" in mailbox_names(conn)
    assert config(conn)[ENABLED] == "yes"


def test_rename_chats_to_trash_disables(backend_server, backend_user):
    conn = backend_server.imap(backend_user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert imap_command(conn, "RENAME COI/Chats Trash/Chats")[0] == "OK"
    assert ENABLED not in config(conn)
    names = mailbox_names(conn)
    assert "COI/Chats" not in names and "Trash/Chats" in names


def test_rename_other_folders_allowed(server, user):
    conn = server.imap(user)
    assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
    assert imap_command(conn, "CREATE Work")[0] == "OK"
    assert imap_command(conn, "RENAME Work COI/Work")[0] == "OK"
    assert imap_command(conn, "RENAME COI/Work Play")[0] == "OK"
    assert config(conn)[ENABLED] == "yes"


# -- admin configuration ---------------------------------------------------

def test_generic_metadata_enabled_too():
    with coi_server(imap_metadata=True) as s:
        conn = s.imap("alice")
        _, _, untagged = imap_command(conn, "CAPABILITY")
        assert {"COI", "METADATA"} <= set(untagged[0].split())
        assert setmetadata(conn, ENABLED, "true")[0] == "NO"
        assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
        assert setmetadata(conn, "/private/comment", "hello")[0] == "OK"
        assert config(conn) == {ENABLED: "yes", ROOT: "COI"}
        assert "COI/Chats" in mailbox_names(conn, "LSUB")
        assert setmetadata(conn, ROOT, "x")[0] == "NO"


def test_namespace_prefix_and_separator():
    with coi_server(namespace_prefix="INBOX.", namespace_separator=".") as s:
        conn = s.imap("alice")
        assert config(conn) == {ROOT: "INBOX.COI"}
        assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
        assert {"INBOX.COI.Chats", "INBOX.COI.Contacts"} <= \
            mailbox_names(conn, "LSUB")
        assert imap_command(conn, "DELETE INBOX.COI.Chats")[0] == "OK"
        assert ENABLED not in config(conn)
        assert imap_command(conn, "CREATE INBOX.COI.Chats")[0] == "OK"
        assert config(conn)[ENABLED] == "yes"


def test_mailbox_root_setting():
    with coi_server(plugin_settings={"coi_mailbox_root": "Apps/Chat"}) as s:
        conn = s.imap("alice")
        assert config(conn) == {ROOT: "Apps/Chat"}
        assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
        assert {"Apps/Chat/Chats", "Apps/Chat/Contacts"} <= \
            mailbox_names(conn, "LSUB")


def assert_login_fails(server, user):
    """Dovecot 2.3 loads mail plugins after authentication: the LOGIN is
    answered OK (", but initialization failed." when the user could not be
    created, plain when its namespaces could not), then the session ends
    with BYE and the MTA-like retry of a client is the remedy."""
    conn = RawIMAP(server.imap_port)
    status, text, _ = imap_command(conn, f"LOGIN {user} {server.password}")
    assert status == "OK" and "Logged in" in text, text
    rest = conn.read_all()
    assert rest.startswith("* BYE Internal error occurred."), rest


PUBLIC_NS = """
namespace public {
  type = public
  prefix = Public/
  separator = /
  location = maildir:~/public
}
"""

INVALID_ROOTS = {
    "r_star": ("*", "wildcard '*'"),
    "r_pct": ("COI%", "wildcard '%'"),
    "r_lead": ("/COI", "begins with the hierarchy separator"),
    "r_trail": ("COI/", "ends with the hierarchy separator"),
    "r_double": ("A//COI", "doubled hierarchy separator"),
    "r_public": ("Public/COI", "not in a private one"),
}


def test_invalid_mailbox_root_fails_login():
    # a userdb value is %-expanded twice (by passwd-file, then as a plugin
    # setting), so a literal % is written %%%%
    users = [{"name": n,
              "fields": {"userdb_coi_mailbox_root": v.replace("%", "%%%%")}}
             for n, (v, _) in INVALID_ROOTS.items()] + ["good"]
    with coi_server(users=users, extra_conf=PUBLIC_NS) as s:
        for name, (value, reason) in INVALID_ROOTS.items():
            assert_login_fails(s, name)
            errors = s.wait_for_log(
                rf"imap\({name}\).*Error: coi: Invalid coi_mailbox_root")
            assert len(errors) == 1, (name, errors)
            assert reason in errors[0], errors[0]
        # the other users are unaffected
        assert config(s.imap("good")) == {ROOT: "COI"}


def test_empty_mailbox_root_fails_login():
    with coi_server(plugin_settings={"coi_mailbox_root": ""}) as s:
        assert_login_fails(s, "alice")
        assert len(s.wait_for_log(
            r"Error: coi: Invalid coi_mailbox_root '': "
            r"Mailbox root is empty")) == 1


def test_missing_attribute_dict_fails_login():
    with coi_server(attribute_dict=None) as s:
        assert_login_fails(s, "alice")
        assert len(s.wait_for_log(
            r"Error: coi: Neither coi_state_dict nor mail_attribute_dict "
            r"is set")) == 1


@pytest.mark.parametrize("where", ["coi_state_dict", "mail_attribute_dict"])
def test_dict_that_cannot_iterate_is_refused(where):
    """Dovecot 2.3.19's fs dict loops for ever when iterated (and panics
    when iterated recursively): a user whose COI state would be there
    cannot log in, with one clear line in the log, and nothing crashes."""
    fs = "fs:posix:prefix=%h/coi/"
    kwargs = (dict(plugin_settings={"coi_state_dict": fs})
              if where == "coi_state_dict" else dict(attribute_dict=fs))
    with coi_server(**kwargs) as s:
        assert_login_fails(s, "alice")
        assert len(s.wait_for_log(
            r"Error: coi: .*The fs dict cannot hold COI's state")) == 1
        assert not s.log_lines_matching(r"Panic|Fatal")


def test_normal_session_logs_no_errors():
    with coi_server(users=["alice"]) as s:
        conn = s.imap("alice")
        config(conn)
        assert setmetadata(conn, ENABLED, "yes")[0] == "OK"
        assert setmetadata(conn, FILTER, "active")[0] == "OK"
        assert setmetadata(conn, ENABLED, "bad")[0] == "NO"
        assert imap_command(conn, "DELETE COI/Chats")[0] == "OK"
        assert imap_command(conn, "CREATE COI/Chats")[0] == "OK"
        assert imap_command(conn, "RENAME COI/Chats X")[0] == "NO"
        assert imap_command(conn, "RENAME COI/Chats Trash/Chats")[0] == "OK"
        conn.logout()
        log = s.log_text()
        assert "Logged out" in log or "Disconnected" in log
        bad = [l for l in log.splitlines()
               if re.search(r": (Error|Warning|Panic|Fatal): ", l)]
        assert bad == []
