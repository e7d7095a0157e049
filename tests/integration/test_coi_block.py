"""Per-user blocking over METADATA: validation, listing, the limit, and
delivery of blocked senders' mail to the Blocked mailbox only."""
import hashlib
import os
import shutil
import time

import pytest

from conftest import TEST_BACKENDS, coi_server
from harness import (deliver, enable_coi,
                     getmetadata, idle_on_inbox, idle_reads, imap_command,
                     imap_quote, login, make_message, setmetadata, where)

BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"
CHAT = "$Chat"


@pytest.fixture(scope="module", params=TEST_BACKENDS)
def server(request):
    """Every test runs on every backend (harness.BACKENDS): COI's state in
    the file attribute dict, and in SQLite and PostgreSQL as
    docs/sql-dict.md configures them."""
    users = [f"b{i}" for i in range(80)] + [
        {"name": "small", "fields": {"userdb_coi_blocked_max": "3"}},
        {"name": "fewcontacts", "fields": {"userdb_coi_blocked_max": "3"}},
        {"name": "junkbox",
         "fields": {"userdb_coi_blocked_mailbox": "Spam/Blocked"}},
    ]
    with coi_server(users=users, backend=request.param) as s:
        s.free_users = [f"b{i}" for i in range(80)]
        yield s


@pytest.fixture
def user(server):
    return server.free_users.pop(0)


def block(server, user, *entries, value="yes"):
    conn = login(server, user)
    out = [setmetadata(conn, f"{BLOCKED}/{e}", value) for e in entries]
    conn.close()
    return out


# -- METADATA ------------------------------------------------------------------

@pytest.mark.parametrize("entry", [
    "spammer@example.org", "@example.net", "a.b+c@sub.example.org",
    "UPPER@EXAMPLE.ORG"])
def test_valid_entries(server, user, entry):
    conn = login(server, user)
    # 8-bit entry names must be literals
    name = imap_quote(f"{BLOCKED}/{entry}")
    status, text = setmetadata(conn, name, "yes")
    assert status == "OK", text
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert list(values.values()) == ["yes"], values


@pytest.mark.parametrize("value", ["{3+}\r\nyes", "~{3+}\r\nyes",
                                   '"yes"'])
def test_entry_value_as_literal(server, user, value):
    """RFC 5464 lets a client send a value as a quoted string, a literal or
    a literal8 (some clients always use literals): each is the same "yes",
    and the entry blocks."""
    conn = login(server, user)
    status, text, _ = imap_command(
        conn, f'SETMETADATA "" ({BLOCKED}/lit@example.org {value})')
    assert status == "OK", text
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert values == {f"{BLOCKED}/lit@example.org": "yes"}, values
    conn.close()
    msgid, msg = make_message(sender="lit@example.org")
    deliver(server, user, msg, sender="lit@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


@pytest.mark.parametrize("entry,value,why", [
    ("spammer@example.org", "no", "value must be"),
    ("spammer@example.org", "", "value must be"),
    ("nodomain", "yes", "not an address"),
    ("two@at@example.org", "yes", "not an address"),
    ("trailing@", "yes", "not an address"),
    ("@", "yes", "not an address"),
    ("dots@example..org", "yes", "invalid domain"),
])
def test_invalid_entries(server, user, entry, value, why):
    conn = login(server, user)
    status, text = setmetadata(conn, imap_quote(f"{BLOCKED}/{entry}"), value)
    assert status == "NO" and "[CANNOT]" in text and why in text, text


def test_8bit_entry_names_are_refused_by_dovecot(server, user):
    """Dovecot 2.3 allows only ASCII in METADATA entry names: non-ASCII
    addresses can be blocked through contacts (COI-From-Hash) instead."""
    conn = login(server, user)
    status, text = setmetadata(
        conn, imap_quote(f"{BLOCKED}/\u00e4lice@example.org"), "yes")
    assert status == "BAD", text


def test_listing_and_removal(server, user):
    assert [s for s, _ in block(server, user, "a@example.org",
                                "@example.net")] == ["OK", "OK"]
    conn = login(server, user)
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert status == "OK"
    assert values == {f"{BLOCKED}/a@example.org": "yes",
                      f"{BLOCKED}/@example.net": "yes"}
    assert setmetadata(conn, f"{BLOCKED}/a@example.org", None)[0] == "OK"
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert values == {f"{BLOCKED}/@example.net": "yes"}


def test_limit(server):
    conn = login(server, "small")
    for i in range(3):
        assert setmetadata(conn, f"{BLOCKED}/s{i}@example.org",
                           "yes")[0] == "OK"
    # setting an existing entry again is fine
    assert setmetadata(conn, f"{BLOCKED}/s0@example.org", "yes")[0] == "OK"
    status, text = setmetadata(conn, f"{BLOCKED}/s3@example.org", "yes")
    assert status == "NO" and "[LIMIT]" in text, text
    assert "block list is full (3 entries)" in text, text
    assert setmetadata(conn, f"{BLOCKED}/s0@example.org", None)[0] == "OK"
    assert setmetadata(conn, f"{BLOCKED}/s3@example.org", "yes")[0] == "OK"


def test_limit_holds_within_one_command(server):
    """One SETMETADATA with many entries: the dict shows them only after
    the commit, so the limit counts what the command already added."""
    conn = login(server, "small")
    for i in range(4):
        setmetadata(conn, f"{BLOCKED}/s{i}@example.org", None)
    entries = " ".join(f"{BLOCKED}/many{i}@example.org yes"
                       for i in range(20))
    status, text, _ = imap_command(conn, f'SETMETADATA "" ({entries})')
    assert status == "NO" and "[LIMIT]" in text, text
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert len(values) <= 3, values


def test_getmetadata_of_one_entry(server, user):
    block(server, user, "a@example.org")
    conn = login(server, user)
    status, values = getmetadata(conn, f"{BLOCKED}/a@example.org", depth=1)
    assert values == {f"{BLOCKED}/a@example.org": "yes"}
    status, values = getmetadata(conn, f"{BLOCKED}/b@example.org", depth=1)
    assert status == "OK" and values == {}


def test_other_users_list_is_invisible(server):
    a, b = server.free_users.pop(0), server.free_users.pop(0)
    block(server, a, "secret@example.org")
    conn = login(server, b)
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert status == "OK" and values == {}


# -- delivery ----------------------------------------------------------------

@pytest.mark.parametrize("entry,sender,from_hdr", [
    ("spammer@example.org", "spammer@example.org", "friend@example.org"),
    ("spammer@example.org", "friend@example.org", "Spammer "
                                                  "<SPAMMER@example.org>"),
    ("@example.net", "anyone@example.net", "friend@example.org"),
    ("@example.net", "friend@example.org", "x@EXAMPLE.net"),
])
def test_blocked_sender_goes_to_blocked(server, entry, sender, from_hdr):
    user = server.free_users.pop(0)
    enable_coi(server, user, "active")
    block(server, user, entry)
    for chat in (False, True):
        msgid, msg = make_message(chat_version="1.0" if chat else None,
                                  sender=from_hdr)
        deliver(server, user, msg, sender=sender)
        assert where(server, user, msgid) == [("Blocked", set())]


def test_subdomain_and_similar_addresses_not_blocked(server, user):
    block(server, user, "@example.net", "bad@example.org")
    for sender in ("x@sub.example.net", "bad@example.org.evil",
                   "notbad@example.org"):
        msgid, msg = make_message(sender=sender)
        deliver(server, user, msg, sender=sender)
        assert where(server, user, msgid) == [("INBOX", set())], sender


def test_block_needs_no_enabled_coi(server, user):
    block(server, user, "spammer@example.org")
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_unblock_is_immediate(server, user):
    block(server, user, "spammer@example.org")
    block(server, user, "spammer@example.org", value=None)
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_block_affects_only_that_recipient(server):
    a, b = server.free_users.pop(0), server.free_users.pop(0)
    enable_coi(server, b, "active")
    block(server, a, "spammer@example.org")
    msgid, msg = make_message(chat_version="1.0",
                              sender="spammer@example.org")
    deliver(server, [a, b], msg, sender="spammer@example.org")
    assert where(server, a, msgid) == [("Blocked", set())]
    assert where(server, b, msgid) == [("COI/Chats", {CHAT})]
    msgid, msg = make_message(chat_version="1.0",
                              sender="spammer@example.org")
    deliver(server, [b, a], msg, sender="spammer@example.org")
    assert where(server, a, msgid) == [("Blocked", set())]
    assert where(server, b, msgid) == [("COI/Chats", {CHAT})]


def test_blocked_mail_never_wakes_inbox_idle(server, user):
    block(server, user, "spammer@example.org")
    conn = idle_on_inbox(server, user)
    _, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert not [l for l in idle_reads(conn, 2.0) if "EXISTS" in l]
    _, msg = make_message()
    deliver(server, user, msg)
    assert [l for l in idle_reads(conn, 10.0) if "EXISTS" in l]


def test_blocked_mailbox_setting_and_subscription(server):
    block(server, "junkbox", "spammer@example.org")
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, "junkbox", msg, sender="spammer@example.org")
    assert where(server, "junkbox", msgid) == [("Spam/Blocked", set())]
    conn = login(server, "junkbox")
    status, _, untagged = imap_command(conn, 'LSUB "" "*"')
    assert any('"Spam/Blocked"' in l or "Spam/Blocked" in l
               for l in untagged), untagged


def test_blocked_mailbox_not_creatable_tempfails(server, user):
    block(server, user, "spammer@example.org")
    md = os.path.join(server.home(user), "Maildir")
    os.makedirs(md, exist_ok=True)
    with open(os.path.join(md, ".Blocked"), "w") as f:
        f.write("in the way\n")
    try:
        _, msg = make_message(sender="spammer@example.org")
        replies = server.lmtp_deliver("spammer@example.org", [user], msg)
        assert replies[user][0] == 451, replies
    finally:
        os.unlink(os.path.join(md, ".Blocked"))
    # the MTA's retry works once the mailbox can be made
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_null_sender_and_broken_from_are_delivered(server, user):
    block(server, user, "spammer@example.org", "@example.net")
    for from_hdr in ("undisclosed-recipients:;", "\udcff <\udcff@x>",
                     "<<<@@@>>>", ""):
        msgid, msg = make_message(sender=from_hdr)
        deliver(server, user, msg, sender="")
        assert where(server, user, msgid) == [("INBOX", set())], from_hdr


def test_null_sender_with_blocked_from(server, user):
    block(server, user, "spammer@example.org")
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_addresses_not_logged_above_debug(server, user):
    block(server, user, "private-person@example.org")
    _, msg = make_message(sender="private-person@example.org")
    deliver(server, user, msg, sender="private-person@example.org")
    assert not server.log_lines_matching(
        r"(Info|Warning|Error): .*private-person")


# -- bypasses: every sender address, normalized once ---------------------------

@pytest.mark.parametrize("entry,sender,from_hdr", [
    ("spammer@example.org", "friend@example.org", "spammer@example.org."),
    ("spammer@example.org", "friend@example.org",
     "Spammer <spammer@example.org.>"),
    ("spammer@example.org", "friend@example.org", "G: spammer@example.org;"),
    ("spammer@example.org", "friend@example.org",
     "a@good.example, spammer@example.org"),
    ("spammer@example.org", "friend@example.org", "spammer+tag@example.org"),
    ("spammer@example.org", "spammer+tag@example.org", "friend@example.org"),
    ("spammer+tag@example.org", "friend@example.org",
     "spammer+tag@example.org"),
    ("@example.org", "friend@good.example", "spammer+tag@example.org"),
    ("@spam.example", "x@spam.example.", "friend@example.org"),
    ("@spam.example", "friend@example.org", "x@SPAM.example."),
    ("@xn--mnchen-3ya.example", "friend@example.org", "x@m\u00fcnchen.example"),
    ("@xn--mnchen-3ya.example", "friend@example.org",
     "x@xn--MNCHEN-3ya.example"),
])
def test_bypasses_are_blocked(server, user, entry, sender, from_hdr):
    block(server, user, entry)
    msgid, msg = make_message(sender=from_hdr)
    deliver(server, user, msg, sender=sender)
    assert where(server, user, msgid) == [("Blocked", set())]


def test_second_from_header_is_a_sender(server, user):
    block(server, user, "spammer@example.org")
    msgid, msg = make_message(sender="friend@example.org",
                              extra_headers=["From: spammer@example.org"])
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_overlong_local_part_still_matches_its_domain(server, user):
    """66,000 bytes of local part: no address key is made (it would exceed
    the dict protocol's line), but the @domain is checked."""
    block(server, user, "@spam.example")
    local = "a" * 66000
    msgid, msg = make_message(sender=f"{local}@spam.example")
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]
    # not blocked, and no error either
    msgid, msg = make_message(sender=f"{local}@good.example")
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]
    assert not server.log_lines_matching(r"Failed to read the block list")


def test_similar_addresses_still_not_blocked(server, user):
    block(server, user, "spammer@example.org", "@xn--mnchen-3ya.example")
    for from_hdr in ("spammertag@example.org", "spammer-tag@example.org",
                     "tag+spammer@example.org", "x@m\u00fcnchen.example.org",
                     "x@xn--mnchen-3ya.example.org"):
        msgid, msg = make_message(sender=from_hdr)
        deliver(server, user, msg, sender="friend@example.org")
        assert where(server, user, msgid) == [("INBOX", set())], from_hdr


# -- contacts (client spec: COI-Blocked, COI-From-Hash) -------------------------

def from_hash(address):
    return hashlib.sha3_256(address.encode()).hexdigest()


def contact(addresses, blocked=True, extra=()):
    lines = ["From: me@example.org", "Subject: Contact",
             "Chat-Content: contact",
             f"Message-ID: <contact.{time.time_ns()}@example.org>"]
    lines += [f"COI-From-Hash: {from_hash(a)}" for a in addresses]
    if blocked:
        lines.append("COI-Blocked: yes")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n<p class=h-card>x</p>\r\n").encode(
        "utf-8", "surrogateescape")


def append_contact(server, user, msg):
    conn = server.imap(user)
    status, data = conn.append("COI/Contacts", None, None, msg)
    assert status == "OK", data
    conn.logout()


def test_blocked_contacts_are_capped(server):
    """Like block entries, the blocking hashes of a user's contacts are
    held to coi_blocked_max: a contact that would go beyond it is refused
    with NO [LIMIT], and blocks nobody."""
    user = "fewcontacts"
    enable_coi(server, user)
    conn = login(server, user)

    def append(addresses):
        msg = contact(addresses).decode("utf-8", "surrogateescape")
        return imap_command(conn, "APPEND COI/Contacts {%d+}\r\n%s" %
                            (len(msg.encode()), msg))

    assert append(["a@example.org", "b@example.org"])[0] == "OK"
    status, text, _ = append(["c@example.org", "d@example.org"])
    assert status == "NO" and "[LIMIT]" in text, text
    # one known hash and one new: three in all, which fits
    assert append(["a@example.org", "c@example.org"])[0] == "OK"
    conn.close()
    for sender, box in (("c@example.org", "Blocked"),
                        ("d@example.org", "INBOX")):
        msgid, msg = make_message(sender=sender)
        deliver(server, user, msg, sender=sender)
        assert where(server, user, msgid) == [(box, set())], sender


def test_blocked_contact_blocks_every_address(server, user):
    enable_coi(server, user, "active")
    index_contacts(server, user)
    append_contact(server, user, contact(["spammer@example.org",
                                          "other-name@example.com"]))
    for sender in ("spammer@example.org", "Other-Name@Example.COM"):
        msgid, msg = make_message(chat_version="1.0", sender=sender)
        deliver(server, user, msg, sender=sender)
        assert where(server, user, msgid) == [("Blocked", set())], sender
    msgid, msg = make_message(sender="friend@example.org")
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_blocked_contact_is_not_escaped(server, user):
    """A contact's COI-From-Hash matches the sender's +detail base and the
    trailing-dot form, as block entries do."""
    enable_coi(server, user, "active")
    index_contacts(server, user)
    append_contact(server, user, contact(["spammer@example.org"]))
    for from_hdr in ("spammer+tag@example.org", "spammer@example.org.",
                     "G: friend@example.org, spammer@example.org;"):
        msgid, msg = make_message(chat_version="1.0", sender=from_hdr)
        deliver(server, user, msg, sender="friend@example.org")
        assert where(server, user, msgid) == [("Blocked", set())], from_hdr


def test_unblocked_contact_blocks_nobody(server, user):
    enable_coi(server, user)
    append_contact(server, user, contact(["friend@example.org"],
                                         blocked=False))
    msgid, msg = make_message(sender="friend@example.org")
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_expunged_contact_unblocks(server, user):
    enable_coi(server, user)
    append_contact(server, user, contact(["spammer@example.org"]))
    # a duplicate contact (the client merges later) blocks too
    append_contact(server, user, contact(["spammer@example.org"]))
    conn = server.imap(user)
    conn.select("COI/Contacts")
    conn.store("1", "+FLAGS", "\\Deleted")
    conn.expunge()
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]
    conn.store("1", "+FLAGS", "\\Deleted")
    conn.expunge()
    conn.logout()
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def index_contacts(server, user):
    """The first delivery indexes the Contacts folder; after that, only
    imap_coi's save and expunge hooks keep the index up to date."""
    deliver(server, user, make_message()[1])


def test_replaced_contact_follows_the_new_one(server, user):
    """Clients update a contact by APPEND of the new one and EXPUNGE of the
    old one."""
    enable_coi(server, user)
    index_contacts(server, user)
    append_contact(server, user, contact(["a@example.org"]))
    append_contact(server, user, contact(["a@example.org"], blocked=False))
    conn = server.imap(user)
    conn.select("COI/Contacts")
    conn.store("1", "+FLAGS", "\\Deleted")
    conn.expunge()
    conn.logout()
    msgid, msg = make_message(sender="a@example.org")
    deliver(server, user, msg, sender="a@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_moving_contact_away_unblocks(server, user):
    enable_coi(server, user)
    index_contacts(server, user)
    append_contact(server, user, contact(["spammer@example.org"]))
    conn = login(server, user)
    assert imap_command(conn, "SELECT COI/Contacts")[0] == "OK"
    assert imap_command(conn, "MOVE 1 Trash")[0] == "OK"
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_hashes_are_rebuilt_when_missing(server, user, doveadm_plugin):
    enable_coi(server, user)
    append_contact(server, user, contact(["spammer@example.org"]))
    index_contacts(server, user)
    # the contact index is lost (restored from an old backup, say)
    if server.backend in ("sqlite", "postgresql"):
        if server.coi_state_layout == "state-dict":
            server.sql(f"DELETE FROM coi_contact WHERE username = '{user}'")
            server.sql(f"DELETE FROM coi_config WHERE username = '{user}' "
                       "AND name = 'contacts-indexed'")
        else:
            server.sql("DELETE FROM mail_attribute_priv WHERE username = "
                       f"'{user}' AND attr_key LIKE "
                       "'vendor/vendor.dovecot/pvt/coi/blocked-hash%'")
        # behind COI's back: what docs/admin-guide.md says to run then
        r = server.doveadm("coi", "state", "refresh", "-u", user)
        assert r.returncode == 0, r.stderr
    else:
        if server.coi_state_layout == "state-dict":
            shutil.rmtree(os.path.join(server.home(user), "coi"))
        else:
            os.unlink(os.path.join(server.home(user), "dovecot-attributes"))
        enable_coi(server, user)
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_hostile_contacts(server, user):
    enable_coi(server, user)
    many = [f"COI-From-Hash: {from_hash(f'x{i}@example.org')}"
            for i in range(3000)]
    junk = ["COI-From-Hash: not-a-hash", "COI-From-Hash: " + "g" * 64,
            "COI-From-Hash: " + "a" * 65, "COI-From-Hash: \udcff"]
    append_contact(server, user, contact(["spammer@example.org"],
                                         extra=many + junk))
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]
    # past the per-contact cap of 100 hashes: not blocked, delivered
    msgid, msg = make_message(sender="x2999@example.org")
    deliver(server, user, msg, sender="x2999@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]
    assert not server.log_lines_matching(r"Panic|Fatal")


# -- doveadm coi block -------------------------------------------------------

def doveadm_block(server, *args):
    r = server.doveadm("-f", "tab", "coi", "block", *args)
    return r.returncode, r.stdout, r.stderr


def test_doveadm_add_list_check_remove(server, user, doveadm_plugin):
    code, out, err = doveadm_block(server, "add", "-u", user,
                                   "Spammer@Example.ORG")
    assert code == 0, err
    code, out, err = doveadm_block(server, "add", "-u", user, "@Example.net")
    assert code == 0, err
    # what the client sees
    conn = login(server, user)
    status, values = getmetadata(conn, BLOCKED, depth=1)
    assert values == {f"{BLOCKED}/spammer@example.org": "yes",
                      f"{BLOCKED}/@example.net": "yes"}
    conn.close()
    code, out, err = doveadm_block(server, "list", "-u", user)
    assert code == 0, err
    assert sorted(out.splitlines()[1:]) == [
        "@example.net\tmetadata", "spammer@example.org\tmetadata"]

    code, out, err = doveadm_block(server, "check", "-u", user,
                                   "x@EXAMPLE.net")
    assert out.splitlines()[1:] == ["x@example.net\tyes\t@example.net"]
    code, out, err = doveadm_block(server, "check", "-u", user,
                                   "friend@example.org")
    assert out.splitlines()[1:] == ["friend@example.org\tno\t"]

    code, out, err = doveadm_block(server, "remove", "-u", user,
                                   "spammer@example.org")
    assert code == 0, err
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]
    msgid, msg = make_message(sender="x@example.net")
    deliver(server, user, msg, sender="x@example.net")
    assert where(server, user, msgid) == [("Blocked", set())]


def test_doveadm_unicode_domain_blocks_xn_sender(server, user,
                                                doveadm_plugin):
    """METADATA takes only ASCII entry names, doveadm takes Unicode: each
    form blocks senders of the other."""
    code, out, err = doveadm_block(server, "add", "-u", user,
                                   "@M\u00dcNCHEN.example")
    assert code == 0, err
    msgid, msg = make_message(sender="friend@example.org")
    deliver(server, user, msg, sender="x@xn--mnchen-3ya.example")
    assert where(server, user, msgid) == [("Blocked", set())]
    code, out, err = doveadm_block(server, "check", "-u", user,
                                   "x+y@xn--mnchen-3ya.example.")
    assert out.splitlines()[1:] == [
        "x+y@xn--mnchen-3ya.example\tyes\t@m\u00fcnchen.example"], out


def test_doveadm_check_names_contact(server, user, doveadm_plugin):
    enable_coi(server, user)
    append_contact(server, user, contact(["\u00e4lice@example.org"]))
    code, out, err = doveadm_block(server, "check", "-u", user,
                                   "\u00c4LICE@example.org")
    assert code == 0, err
    addr, blocked, entry = out.splitlines()[1].split("\t")
    assert (addr, blocked) == ("\u00e4lice@example.org", "yes")
    assert entry == "COI-From-Hash:" + from_hash("\u00e4lice@example.org")
    code, out, err = doveadm_block(server, "list", "-u", user)
    assert f"COI-From-Hash:{from_hash('älice@example.org')}\tcontact" in out


def test_doveadm_rebuild_after_doveadm_expunge(server, user, doveadm_plugin):
    """Contacts removed behind imap_coi's back (doveadm expunge, dsync,
    autoexpunge) keep blocking until the index is rebuilt."""
    enable_coi(server, user)
    index_contacts(server, user)
    append_contact(server, user, contact(["spammer@example.org"]))
    r = server.doveadm("expunge", "-u", user, "mailbox", "COI/Contacts",
                       "all")
    assert r.returncode == 0, r.stderr
    code, out, err = doveadm_block(server, "rebuild", "-u", user)
    assert code == 0, err
    msgid, msg = make_message(sender="spammer@example.org")
    deliver(server, user, msg, sender="spammer@example.org")
    assert where(server, user, msgid) == [("INBOX", set())]


def test_copy_into_contacts_blocks(server, user):
    enable_coi(server, user)
    index_contacts(server, user)
    conn = server.imap(user)
    conn.append("Trash", None, None, contact(["friend@example.org"]))
    conn.select("Trash")
    assert conn.copy("1", "COI/Contacts")[0] == "OK"
    conn.logout()
    msgid, msg = make_message(sender="friend@example.org")
    deliver(server, user, msg, sender="friend@example.org")
    assert where(server, user, msgid) == [("Blocked", set())]


@pytest.mark.parametrize("args", [
    ("add", "nodomain"), ("add", "a@b@c"), ("add",), ("check", "@x.org"),
    ("list", "extra"),
])
def test_doveadm_usage_errors(server, user, doveadm_plugin, args):
    code, out, err = doveadm_block(server, args[0], "-u", user, *args[1:])
    assert code != 0
