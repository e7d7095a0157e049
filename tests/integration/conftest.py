"""Shared fixtures: the harness module is importable from every test, and
`coi_server` starts a Dovecot with imap_coi and lmtp_coi for the test
module."""
import contextlib
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402
from harness import (DOVEADM_MODULEDIR, DovecotServer,  # noqa: E402
                     built_plugin)

# The sanitizer self-tests and unit tests need the sanitizer build:
# collected only with COI_SANITIZE=1 (a skipped test would count as failed).
collect_ignore = [] if harness.SANITIZE else ["test_sanitizer_selftest.py",
                                              "test_sanitizer_unit.py"]


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


# The backends the config, blocking and thread tests run on: every one
# the docs offer (harness.BACKENDS). COI_BACKENDS=sqlite,postgresql (say)
# narrows a run by hand.
TEST_BACKENDS = [b for b in os.environ.get(
    "COI_BACKENDS", ",".join(harness.BACKENDS)).split(",") if b]


@contextlib.contextmanager
def module_backend_server(request):
    """A COI server for request.param (a backend) with the module's USERS
    (names, or dicts with userdb fields) and IMAP_METADATA; its plain
    names are handed out by backend_user."""
    users = getattr(request.module, "USERS", [f"u{i}" for i in range(40)])
    with coi_server(users=users, backend=request.param,
                    imap_metadata=getattr(request.module, "IMAP_METADATA",
                                          False)) as s:
        s.free_users = [u for u in users if isinstance(u, str)]
        yield s


@pytest.fixture(scope="module", params=TEST_BACKENDS)
def backend_server(request):
    """A COI server per module and backend, for the tests whose subject is
    COI's state (config, block list, thread index): they run once per
    backend."""
    with module_backend_server(request) as s:
        yield s


@pytest.fixture
def backend_user(backend_server):
    """A user nobody has touched yet in backend_server."""
    return backend_server.free_users.pop(0)


# -- COI_SANITIZE=1: any sanitizer report fails the suite ---------------------

@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """After each test: a report written meanwhile (by doveadm, an imap or
    lmtp process that ended, ...) fails it. Reports of processes that end
    with their server are checked by DovecotServer.stop(), stragglers at
    the end of the session."""
    yield
    if harness.SANITIZE:
        reports = harness.sanitizer_reports()
        assert not reports, harness.format_sanitizer_reports(reports)


def pytest_sessionfinish(session, exitstatus):
    # the session's PostgreSQL, if a test started it
    harness.stop_postgresql()
    if not harness.SANITIZE:
        return
    time.sleep(0.5)     # the last servers' processes may still be exiting
    reports = harness.sanitizer_reports()
    if reports:
        sys.stderr.write("\nsanitizer reports after the last test:\n" +
                         harness.format_sanitizer_reports(reports) + "\n")
        session.exitstatus = 1


@pytest.fixture(scope="module")
def doveadm_plugin():
    """doveadm loads plugins only from its compiled-in directory: put the
    freshly built one there for this module, and take it away after."""
    link = os.path.join(DOVEADM_MODULEDIR, "lib10_doveadm_coi_plugin.so")
    if os.path.lexists(link) and not os.path.islink(link):
        pytest.fail(f"{link} is installed: remove it to test the build")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(built_plugin("doveadm_coi"), link)
    yield
    os.unlink(link)
