"""Shared fixtures: the harness module is importable from every test, and
`coi_server` starts a Dovecot with imap_coi for the test module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import DovecotServer, built_plugin  # noqa: E402


def coi_server(**kwargs):
    """A DovecotServer loading the freshly built imap_coi for IMAP."""
    kwargs.setdefault("plugin_paths", [built_plugin("imap_coi")])
    kwargs.setdefault("imap_mail_plugins", "imap_coi")
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


# --- fixtures for dovecot_harness.py (build_dir, plugin_paths) ---

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# Plugin name (as in mail_plugins) -> built .so, relative to the build dir.
BUILT_PLUGIN_FILES = {
    "imap_coi": "src/imap-coi/.libs/lib95_imap_coi_plugin.so",
}


@pytest.fixture(scope="session")
def build_dir():
    """Where the plugins were built: $COI_BUILD_DIR, else the repo root."""
    return os.environ.get("COI_BUILD_DIR") or REPO_ROOT


@pytest.fixture(scope="session")
def plugin_paths(build_dir):
    """plugin_paths("imap_coi", ...) -> [absolute .so paths] for
    DovecotServer(plugin_paths=...). Fails the calling test (never skips)
    if a plugin is not built."""
    def paths(*names, build_dir=build_dir):
        result = []
        for name in names:
            if name not in BUILT_PLUGIN_FILES:
                pytest.fail(f"unknown plugin {name!r}; known: "
                            f"{sorted(BUILT_PLUGIN_FILES)}", pytrace=False)
            path = os.path.join(build_dir, BUILT_PLUGIN_FILES[name])
            if not os.path.isfile(path):
                pytest.fail(f"{path} does not exist: run `make` first "
                            f"(build dir {build_dir}, see COI_BUILD_DIR)",
                            pytrace=False)
            result.append(path)
        return result
    return paths
