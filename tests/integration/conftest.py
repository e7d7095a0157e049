"""Shared fixtures: the harness module is importable from every test, and
`coi_server` starts a Dovecot with imap_coi and lmtp_coi for the test
module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import DovecotServer, built_plugin  # noqa: E402


def coi_server(**kwargs):
    """A DovecotServer loading the freshly built imap_coi for IMAP and
    lmtp_coi for LMTP."""
    kwargs.setdefault("plugin_paths", [built_plugin("imap_coi"),
                                       built_plugin("lmtp_coi")])
    kwargs.setdefault("imap_mail_plugins", "imap_coi")
    kwargs.setdefault("lmtp_mail_plugins", "lmtp_coi")
    return DovecotServer(**kwargs)


@pytest.fixture(scope="module")
def server():
    """One server per test module, with one fresh user per test name."""
    users = [f"u{i}" for i in range(40)] + [
        {"name": "plain", "fields": {"userdb_mail_plugins": "notify"}},
    ]
    with coi_server(users=users) as s:
        s.free_users = [f"u{i}" for i in range(40)]
        yield s


@pytest.fixture
def user(server):
    """A user nobody has touched yet in this server."""
    return server.free_users.pop(0)

