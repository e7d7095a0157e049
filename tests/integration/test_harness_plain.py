"""The harness itself, against plain Dovecot (no COI plugin): what later
features (delivery, Sieve, quota, SQL dict) will build on."""
from harness import DovecotServer, getmetadata, imap_command, setmetadata


def test_lmtp_delivery_lands_in_inbox():
    with DovecotServer(users=["alice", "bob"]) as s:
        replies = s.lmtp_deliver(
            "sender@example.org", ["alice", "bob", "nobody-here"],
            "From: sender@example.org\r\nSubject: hello\r\n"
            "Message-ID: <1@example.org>\r\n\r\nbody\r\n")
        assert replies["alice"][0] == 250 and "Saved" in replies["alice"][1]
        assert replies["bob"][0] == 250 and "Saved" in replies["bob"][1]
        assert replies["nobody-here"][0] == 550
        for user in ("alice", "bob"):
            conn = s.imap(user)
            status, data = conn.select("INBOX")
            assert (status, data) == ("OK", [b"1"])
            _, msg = conn.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert b"Subject: hello" in msg[0][1]


def test_two_servers_at_once_and_stop_cleans_up():
    with DovecotServer() as a, DovecotServer() as b:
        assert a.imap_port != b.imap_port
        assert a.imap("alice").select("INBOX")[0] == "OK"
        assert b.imap("alice").select("INBOX")[0] == "OK"
        directory = a.dir
    import os
    assert not os.path.exists(directory)


def test_generic_metadata_follows_imap_metadata():
    for enabled in (True, False):
        with DovecotServer(imap_metadata=enabled) as s:
            conn = s.imap("alice")
            status, _ = setmetadata(conn, "/private/comment", "hi")
            assert status == ("OK" if enabled else "NO")
            _, values = getmetadata(conn, "/private/comment")
            assert values.get("/private/comment") == ("hi" if enabled
                                                      else None)


def test_namespace_prefix():
    with DovecotServer(namespace_prefix="INBOX.",
                       namespace_separator=".") as s:
        conn = s.imap("alice")
        status, _, untagged = imap_command(conn, 'LIST "" "*"')
        assert status == "OK"
        assert any(line.endswith(" INBOX.Trash") for line in untagged)
