"""Quota: a chat over quota gets exactly the LMTP reply plain Dovecot
gives, and nothing is half-saved."""
import pytest

from conftest import coi_server
from harness import enable_coi, make_message, messages


@pytest.fixture(scope="module")
def server():
    users = ["q-active", "q-none", "q-off",
             {"name": "q-plain", "fields": {"userdb_mail_plugins": "quota"}}]
    with coi_server(users=users, mail_plugins="quota",
                    plugin_settings={"quota": "maildir:User quota",
                                     "quota_rule": "*:storage=2K"}) as s:
        enable_coi(s, "q-active", "active")
        enable_coi(s, "q-none")
        yield s


def test_over_quota_reply_is_dovecots(server):
    users = ["q-active", "q-none", "q-off", "q-plain"]
    _, small = make_message(chat_version="1.0")
    replies = server.lmtp_deliver("sender@example.org", users, small)
    assert {u: r[0] for u, r in replies.items()} == {u: 250 for u in users}

    _, big = make_message(chat_version="1.0", body="x" * 8000 + "\r\n")
    replies = server.lmtp_deliver("sender@example.org", users, big)
    plain = replies["q-plain"]
    assert plain[0] == 552 and "Quota exceeded" in plain[1], plain
    for user in users:
        code, text = replies[user]
        assert (code, text.split(" ", 1)[0]) == (552, "5.2.2"), replies
    # only the small message, where it belongs
    assert [m for m, _, _ in messages(server, "q-active")] == ["COI/Chats"]
    assert [m for m, _, _ in messages(server, "q-none")] == ["INBOX"]
    # a full mailbox is not COI's error
    assert not server.log_lines_matching(r"Error: .*coi")
