"""Plain IMAP keeps working on every backend the docs offer (issue 16).

With COI loaded and enabled and generic METADATA on (imap_metadata =
yes), on the file dict (COI's state in it: the layout without
coi_state_dict), SQLite and PostgreSQL configured exactly as
docs/sql-dict.md says (COI's dict on SQL, the attributes on file), and
PostgreSQL with the page's optional attribute dict on SQL too:
mailbox CREATE, RENAME and DELETE (COI's folders too), RFC 5464 METADATA
on the server and on mailboxes, what Delta Chat and push clients send,
COI's own config read and block list. Then two Dovecot instances sharing
one PostgreSQL database, as a cluster would.
"""
import pytest

from conftest import TEST_BACKENDS, coi_server, module_backend_server
from harness import (ATTRIBUTE_BACKENDS, COI_CONFIG, deliver, deliver_where,
                     enable_coi, getmetadata, imap_command, login,
                     make_message, parse_metadata, postgresql, setmetadata,
                     where)

USERS = [f"k{i}" for i in range(40)]
IMAP_METADATA = True
BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
# The backends whose attribute dict is SQL (docs/sql-dict.md, "Ordinary
# METADATA on SQL too"). Dovecot 2.3's dict-sql cannot iterate below a
# map's fixed part ("The limit that remains"): GETMETADATA with a DEPTH
# over 0 of a non-COI entry fails on a SQL attribute dict, with or
# without COI.
SQL = ATTRIBUTE_BACKENDS


@pytest.fixture(scope="module",
                params=TEST_BACKENDS + list(ATTRIBUTE_BACKENDS))
def backend_server(request):
    """Every backend the docs offer, the optional attribute dict on SQL
    too."""
    with module_backend_server(request) as s:
        yield s
DEPTH_ON_SQL = ("dict-sql 2.3: Key continues past the matched pattern "
                "priv/$/$ (docs/sql-dict.md)")


@pytest.fixture
def conn(backend_server, backend_user):
    """A session of a fresh user with COI enabled."""
    enable_coi(backend_server, backend_user)
    c = login(backend_server, backend_user)
    c.user = backend_user
    yield c
    c.close()


def ok(conn, command):
    """The command's untagged lines; it must answer OK."""
    status, text, untagged = imap_command(conn, command)
    assert status == "OK", (command, text)
    return untagged


def metadata(untagged):
    """{entry: value} over the METADATA lines of a response, which must
    have nothing else."""
    out = {}
    for line in untagged:
        assert line.startswith("* METADATA "), untagged
        out.update(parse_metadata(line))
    return out


# -- mailboxes --------------------------------------------------------------

def test_create_rename_delete(backend_server, conn):
    assert ok(conn, 'CREATE "Foo"') == []
    assert ok(conn, 'RENAME "Foo" "Bar"') == []
    assert ok(conn, 'DELETE "Bar"') == []
    status, text, _ = imap_command(conn, 'SELECT "Bar"')
    assert status == "NO" and "doesn't exist" in text, text


def test_delete_chats_disables_coi(backend_server, conn):
    assert ok(conn, 'DELETE "COI/Chats"') == []
    assert metadata(ok(conn, f'GETMETADATA "" {COI_CONFIG}/enabled')) == \
        {f"{COI_CONFIG}/enabled": None}
    # and creating it again enables COI again
    assert ok(conn, 'CREATE "COI/Chats"') == []
    assert metadata(ok(conn, f'GETMETADATA "" {COI_CONFIG}/enabled')) == \
        {f"{COI_CONFIG}/enabled": "yes"}


def test_delete_of_a_mailbox_with_metadata(backend_server, conn):
    assert ok(conn, 'CREATE "Foo"') == []
    assert ok(conn, 'SETMETADATA "Foo" (/private/comment "mine" '
                    '/shared/comment "ours")') == []
    assert ok(conn, 'DELETE "Foo"') == []
    # a new mailbox of the same name starts without them
    assert ok(conn, 'CREATE "Foo"') == []
    assert metadata(ok(conn, 'GETMETADATA "Foo" (/private/comment '
                             '/shared/comment)')) == \
        {"/private/comment": None, "/shared/comment": None}


# -- RFC 5464 METADATA ------------------------------------------------------

def literal(value):
    """How Dovecot 2.3 sends every METADATA value: as a literal."""
    return f"{{{len(value)}}}\r\n{value}"


@pytest.mark.parametrize("mailbox", ["", "INBOX"])
@pytest.mark.parametrize("scope", ["private", "shared"])
def test_set_get_remove(conn, mailbox, scope):
    entry = f"/{scope}/comment"
    shown = '""' if mailbox == "" else mailbox
    if (mailbox, scope) == ("", "shared"):
        # Dovecot 2.3 refuses the server's shared entries to everybody,
        # doveadm included (RFC 5464 lets a server refuse a SETMETADATA)
        status, text, _ = imap_command(
            conn, f'SETMETADATA "" ({entry} "hello")')
        assert (status, text.split(" (")[0]) == (
            "NO", "NO [CANNOT] The /shared/vendor/vendor.dovecot/pvt/server/"
                  "comment attribute cannot be changed"), text
    else:
        assert ok(conn, f'SETMETADATA "{mailbox}" ({entry} "hello")') == []
        assert ok(conn, f'GETMETADATA "{mailbox}" {entry}') == \
            [f'* METADATA {shown} ({entry} {literal("hello")})']
        assert ok(conn, f'SETMETADATA "{mailbox}" ({entry} NIL)') == []
    assert ok(conn, f'GETMETADATA "{mailbox}" {entry}') == \
        [f'* METADATA {shown} ({entry} NIL)']


@pytest.mark.parametrize("mailbox", ["", "INBOX"])
@pytest.mark.parametrize("depth", ["0", "1", "infinity"])
def test_depth(backend_server, conn, mailbox, depth):
    """RFC 5464 4.2.2: DEPTH 0 is the entry itself, 1 its children too,
    infinity everything below it. On a SQL attribute dict a DEPTH over 0
    of an entry COI does not own fails, as it does without COI: Dovecot
    2.3's dict-sql cannot list below a map's last variable (documented in
    docs/sql-dict.md); the entry itself is unharmed."""
    top = "/private/vendor/example"
    assert ok(conn, f'SETMETADATA "{mailbox}" ({top} "t" {top}/a "1" '
                    f'{top}/b/c "2")') == []
    want = {"0": {top: "t"}, "1": {top: "t", f"{top}/a": "1"},
            "infinity": {top: "t", f"{top}/a": "1", f"{top}/b/c": "2"}}
    command = f'GETMETADATA (DEPTH {depth}) "{mailbox}" {top}'
    if depth != "0" and backend_server.backend in SQL:
        status, text, _ = imap_command(conn, command)
        assert (status, text.split(" ", 2)[1]) == ("NO", "[SERVERBUG]"), \
            (DEPTH_ON_SQL, text)
        assert backend_server.wait_for_log(
            r"Key continues past the matched pattern")
        assert metadata(ok(conn, f'GETMETADATA "{mailbox}" {top}')) == \
            {top: "t"}
        return
    assert metadata(ok(conn, command)) == want[depth]


def test_maxsize(request, backend_server, conn):
    """RFC 5464 4.2.1: a longer value is left out, and the tagged OK says
    how long the longest one was."""
    assert ok(conn, 'SETMETADATA "INBOX" (/private/comment "0123456789" '
                    '/shared/comment "abc")') == []
    status, text, untagged = imap_command(
        conn, 'GETMETADATA (MAXSIZE 5) "INBOX" (/private/comment '
              '/shared/comment)')
    assert status == "OK", text
    assert text.startswith("OK [METADATA LONGENTRIES 10]"), text
    assert metadata(untagged) == {"/shared/comment": "abc"}


# -- what clients send ------------------------------------------------------

DELTACHAT_FIRST = ("/shared/comment", "/shared/admin",
                   "/shared/vendor/deltachat/irohrelay",
                   "/shared/vendor/deltachat/turn",
                   "/shared/vendor/deltachat/maxsmtprecipients")


def test_deltachat_first_command(conn):
    """Delta Chat's first command after login, on every connect."""
    assert metadata(ok(conn, f'GETMETADATA "" ({" ".join(DELTACHAT_FIRST)})')
                    ) == {e: None for e in DELTACHAT_FIRST}


def test_push_token(conn):
    """Delta Chat's push registration."""
    token = "openpgp:1234abcd:Xy+z/0="
    assert ok(conn, f'SETMETADATA "INBOX" (/private/devicetoken '
                    f'"{token}")') == []
    assert metadata(ok(conn, 'GETMETADATA "INBOX" /private/devicetoken')) == \
        {"/private/devicetoken": token}


def test_webpush_style_subscription(conn):
    """An attribute below vendor.dovecot that COI does not own."""
    entry = ("/private/vendor/vendor.dovecot/webpush/subscriptions/"
             "abcdefghij")
    assert ok(conn, f'SETMETADATA "" ({entry} "{{}}")') == []
    assert metadata(ok(conn, f'GETMETADATA "" {entry}')) == {entry: "{}"}
    assert ok(conn, f'SETMETADATA "" ({entry} NIL)') == []


def test_coi_config_read(conn):
    """The COI client spec's configuration read."""
    assert ok(conn, f'GETMETADATA (DEPTH 1) "" {COI_CONFIG}') == \
        [f'* METADATA "" ({COI_CONFIG}/enabled {literal("yes")} '
         f'{COI_CONFIG}/mailbox-root {literal("COI")})']


def test_block_entry_set_list_remove(conn):
    entry = f"{BLOCKED}/spammer@example.org"
    assert ok(conn, f'SETMETADATA "" ({entry} "yes")') == []
    assert metadata(ok(conn, f'GETMETADATA (DEPTH 1) "" {BLOCKED}')) == \
        {entry: "yes"}
    assert ok(conn, f'SETMETADATA "" ({entry} NIL)') == []
    assert ok(conn, f'GETMETADATA (DEPTH 1) "" {BLOCKED}') == []


# -- two Dovecot instances on one PostgreSQL database ---------------------------

@pytest.fixture(scope="module")
def cluster():
    """Two Dovecot instances sharing one PostgreSQL database and the users'
    mail storage, as the backends of a cluster do (shared storage, or a
    director that sends a user to one backend at a time)."""
    database = postgresql().create_database()
    users = ["c0", "c1", "c2"]
    with coi_server(users=users, backend="postgresql",
                    pg_database=database) as one, \
            coi_server(users=users, backend="postgresql",
                       pg_database=database, homes_of=one) as two:
        yield one, two


def test_cluster_block_on_one_holds_on_two(cluster):
    one, two = cluster
    enable_coi(one, "c0")
    conn = login(one, "c0")
    assert setmetadata(conn, f"{BLOCKED}/spammer@example.org",
                       "yes")[0] == "OK"
    conn.close()
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(two, "c0", msg, sender="spammer@example.org")
    assert where(two, "c0", msgid) == [("Blocked", set())]


def test_cluster_message_filter_on_two_holds_on_one(cluster):
    one, two = cluster
    enable_coi(two, "c1", "active")
    conn = login(two, "c1")
    assert getmetadata(conn, f"{COI_CONFIG}/message-filter")[1] == \
        {f"{COI_CONFIG}/message-filter": "active"}
    conn.close()
    msgid, msg = make_message(chat_version="1.0")
    deliver(one, "c1", msg)
    assert where(one, "c1", msgid) == [("COI/Chats", {"$Chat"})]


def test_cluster_block_after_a_delivery_holds_on_the_other(cluster):
    """A delivery on two leaves its snapshot of the user's state (block
    list empty); a block set on one invalidates it: two's next delivery
    reads the block list."""
    one, two = cluster
    enable_coi(one, "c2", "active")
    assert deliver_where(two, "c2", chat_version="1.0") == \
        [("COI/Chats", {"$Chat"})]
    conn = login(one, "c2")
    assert setmetadata(conn, f"{BLOCKED}/spammer@example.org",
                       "yes")[0] == "OK"
    assert setmetadata(conn, f"{COI_CONFIG}/message-filter",
                       "none")[0] == "OK"
    conn.close()
    assert deliver_where(two, "c2", sender="spammer@example.org") == \
        [("Blocked", set())]
    assert deliver_where(two, "c2", chat_version="1.0") == \
        [("INBOX", {"$Chat"})]
