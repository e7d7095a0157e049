"""The example metrics of docs/events.md work in a real Dovecot.

The fenced `metric {}` blocks are loaded verbatim into a throwaway Dovecot.
A first user then goes through what the docs' `doveadm stats dump` example
describes (enable COI with the active filter, one chat, one mail, a block
and the blocked sender's next message). The dump must list every row of
the example, with the example's counts, and the OpenMetrics endpoint must
serve the example's lines. A second user then covers the remaining events:
the seen move, the provider policy's reject at RCPT TO (sent outside COI's
user context, but in the coi category), and disabling through DELETE of
Chats.
"""
import os
import re
import shutil
import tempfile
import time
import urllib.request

import pytest

from conftest import coi_server
from harness import (COI_CONFIG, deliver, enable_coi, free_port, imap_command,
                     login, make_message, setmetadata, where)
from test_docs import EVENTS, fenced_block_after, read

BLOCKED = "/private/vendor/vendor.dovecot/coi/blocked"


def docs_dump_rows():
    """{(metric, field): count} of the docs' stats dump example."""
    block = fenced_block_after(read(EVENTS), "stats-dump-example")
    rows = {}
    for line in block.splitlines()[1:]:
        name, field, count = line.split()[:3]
        rows[(name, field)] = int(count)
    return rows


def docs_openmetrics_lines():
    block = fenced_block_after(read(EVENTS), "openmetrics-example")
    return [line for line in block.splitlines() if line.strip()]


def stats_dump(server):
    """{(metric, field): count} from `doveadm stats dump`."""
    r = server.doveadm("stats", "dump")
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 3:
            rows[(cols[0], cols[1])] = int(cols[2])
    return rows


def wait_for_counts(server, expected, timeout=10):
    """The dump once every expected (metric, field) has its count: the
    processes send their events to the stats process asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        rows = stats_dump(server)
        if all(rows.get(k) == v for k, v in expected.items()) or \
                time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


TEST_METRIC = """
metric test_coi_category_policy {
  filter = category=coi AND event=coi_blocked AND source=policy
}
"""


@pytest.fixture(scope="module")
def server():
    d = tempfile.mkdtemp(prefix="coi-docs-metrics-")
    os.chmod(d, 0o755)
    policy = os.path.join(d, "policy")
    with open(policy, "w") as f:
        f.write("evil@example.com\n")
    os.chmod(policy, 0o644)
    http_port = free_port()
    metrics = fenced_block_after(read(EVENTS), "metrics-example")
    # not from the docs: LMTP's policy rejection is in the coi category too
    extra = metrics + TEST_METRIC + f"""
service stats {{
  inet_listener http {{
    address = 127.0.0.1
    port = {http_port}
  }}
}}
"""
    try:
        with coi_server(users=["m1", "m2"], extra_conf=extra,
                        plugin_settings={"coi_block_policy": policy}) as s:
            s.http_port = http_port
            yield s
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_example_config_loads(server):
    r = server.doveadm("stats", "dump")
    assert r.returncode == 0, r.stderr
    names = {line.split("\t")[0] for line in r.stdout.splitlines()[1:]}
    block = fenced_block_after(read(EVENTS), "metrics-example")
    assert names == set(re.findall(r"^metric (\S+) \{", block, re.M)) | \
        {"test_coi_category_policy"}


def test_docs_example_counts(server):
    """The docs' dump example, row by row, from the scenario it names."""
    enable_coi(server, "m1", "active")
    chat_id, chat = make_message(chat_version="1.0")
    deliver(server, "m1", chat)
    mail_id, mail = make_message()
    deliver(server, "m1", mail)
    conn = login(server, "m1")
    status, text = setmetadata(conn, f"{BLOCKED}/spammer@example.org", "yes")
    assert status == "OK", text
    conn.close()
    spam_id, spam = make_message(sender="spammer@example.org")
    deliver(server, "m1", spam, sender="spammer@example.org")
    assert where(server, "m1", chat_id) == [("COI/Chats", {"$Chat"})]
    assert where(server, "m1", mail_id) == [("INBOX", set())]
    assert where(server, "m1", spam_id) == [("Blocked", set())]

    expected = docs_dump_rows()
    actual = wait_for_counts(server, expected)
    wrong = {k: (v, actual.get(k)) for k, v in expected.items()
             if actual.get(k) != v}
    assert not wrong, f"(docs, dump) counts differ: {wrong}"

    with urllib.request.urlopen(
            f"http://127.0.0.1:{server.http_port}/metrics", timeout=10) as r:
        served = r.read().decode().splitlines()
    for line in docs_openmetrics_lines():
        assert line in served, (line, "\n".join(s for s in served if "coi" in s))


def test_remaining_events_are_counted(server):
    """Run after the docs example (pytest keeps the order)."""
    before = stats_dump(server)
    enable_coi(server, "m2", "seen")
    chat_id, chat = make_message(chat_version="1.0")
    deliver(server, "m2", chat)
    conn = login(server, "m2")
    assert imap_command(conn, "SELECT INBOX")[0] == "OK"
    assert imap_command(conn, "STORE 1 +FLAGS (\\Seen)")[0] == "OK"
    assert imap_command(conn, "NOOP")[0] == "OK"
    assert where(server, "m2", chat_id) == [("COI/Chats",
                                             {"$Chat", "\\Seen"})]
    # the provider policy rejects at RCPT TO, outside COI's user context
    # (still in the coi category)
    _, msg = make_message(sender="evil@example.com")
    replies = server.lmtp_deliver("evil@example.com", ["m2"], msg)
    assert replies["m2"][0] == 550, replies
    # disabling through the folder
    assert imap_command(conn, "DELETE COI/Chats")[0] == "OK"
    status, _, untagged = imap_command(
        conn, f'GETMETADATA "" ({COI_CONFIG}/enabled)')
    assert status == "OK" and "NIL" in untagged[0], untagged
    conn.close()

    def grew(name, field="duration", by=1):
        return (name, field), before.get((name, field), 0) + by

    expected = dict([
        grew("coi_chat_detected_chat-version_seen"),
        grew("coi_chat_seen_moved"),
        # the sum of the count field is not in the dump's count column,
        # but the row is there with one more event
        grew("coi_chat_seen_moved", "count"),
        grew("coi_blocked_policy_reject"),
        grew("test_coi_category_policy"),
        grew("coi_config_changed_by_folder_no"),
        grew("coi_config_changed_enabled_"),
        grew("coi_config_changed_message-filter_seen"),
    ])
    actual = wait_for_counts(server, expected)
    wrong = {k: (v, actual.get(k)) for k, v in expected.items()
             if actual.get(k) != v}
    assert not wrong, f"(expected, dump) counts differ: {wrong}"
    assert actual[("coi_chat_fallback", "duration")] == 0
