"""The Debian package, end to end: build it with scripts/build-deb (or take
the .deb named by COI_DEB), lint it, install it with apt-get, check that the
shipped snippet changes nothing until it is enabled and that, enabled, the
system's own Dovecot configuration serves COI, then purge it again.

It installs into the real system (root only), so it runs in a pytest
session of its own after the integration tests: test_coi_block.py puts the
built doveadm plugin where the package's goes while it runs. It refuses to
start when any file of the package is already there, and leaves the system
as it found it.

COI_DEB=path/to/dovecot-coi_*.deb tests a given package instead of building
one; COI_DEB_OUT=dir keeps the built files and the build log there.
"""
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests/integration"))

from harness import (COI_CONFIG, SYSTEM_MODULES, DovecotServer,  # noqa: E402
                     RawIMAP, _mail_uid, deliver, free_port, getmetadata,
                     imap_command, login, make_message, messages,
                     setmetadata)

PACKAGE = "dovecot-coi"
SNIPPET = "/etc/dovecot/conf.d/90-coi.conf"
PLUGINS = {
    "/usr/lib/dovecot/modules/lib95_imap_coi_plugin.so": "imap_coi_plugin",
    "/usr/lib/dovecot/modules/lib95_lmtp_coi_plugin.so": "lmtp_coi_plugin",
    "/usr/lib/dovecot/modules/doveadm/lib10_doveadm_coi_plugin.so":
        "doveadm_coi_plugin",
}
FILES = {SNIPPET, *PLUGINS}
DOCDIR = "/usr/share/doc/dovecot-coi/"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
# wait for an apt-get that someone else runs instead of failing at once
APT = ("apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300")


def run(*args, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(args, **kwargs)


# -- the package ------------------------------------------------------------

@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """{"deb": the dovecot-coi .deb, "changes": its .changes or None}."""
    given = os.environ.get("COI_DEB")
    if given:
        return {"deb": os.path.abspath(given), "changes": None}
    # absolute: apt-get takes a relative path for a package name
    out = os.path.abspath(os.environ.get("COI_DEB_OUT")
                          or tmp_path_factory.mktemp("deb"))
    os.makedirs(out, exist_ok=True)
    log = os.path.join(out, "build-deb.log")
    with open(log, "w") as f:
        r = subprocess.run([f"{REPO}/scripts/build-deb", out], stdout=f,
                           stderr=subprocess.STDOUT, timeout=1800)
    if r.returncode != 0:
        with open(log, errors="replace") as f:
            pytest.fail(f"scripts/build-deb failed; {log} ends:\n"
                        + f.read()[-4000:])
    found = {}
    for name in os.listdir(out):
        if re.fullmatch(r"dovecot-coi_[^_]+_[^_]+\.deb", name):
            found["deb"] = os.path.join(out, name)
        elif name.endswith(".changes"):
            found["changes"] = os.path.join(out, name)
    assert set(found) == {"deb", "changes"}, os.listdir(out)
    return found


def test_lintian_is_clean(debs):
    """No error and no warning, on the .deb, .buildinfo and .changes."""
    target = debs["changes"] or debs["deb"]
    r = run("lintian", "--info", "--fail-on", "error,warning", target,
            timeout=600)
    tags = [line for line in r.stdout.splitlines()
            if re.match(r"[EW]: ", line)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr


def test_ships_only_the_plugins_and_the_snippet(debs):
    r = run("dpkg-deb", "-c", debs["deb"])
    assert r.returncode == 0, r.stderr
    files = {line.split()[-1][1:] for line in r.stdout.splitlines()
             if not line.startswith("d")}
    assert {f for f in files if not f.startswith(DOCDIR)} == FILES
    assert f"{DOCDIR}copyright" in files
    r = run("dpkg-deb", "-I", debs["deb"], "conffiles")
    assert r.stdout.split() == [SNIPPET]


def test_depends_on_the_dovecot_abi(debs):
    with open("/usr/share/dovecot/dovecot-abi") as f:
        abi = f.read().strip()
    depends = run("dpkg-deb", "-f", debs["deb"], "Depends").stdout
    names = [d.strip().split()[0] for d in depends.split(",")]
    assert f"dovecot-abi-{abi}" in names, depends
    assert "dovecot-core" in names, depends


def test_snippet_is_fully_commented(debs):
    r = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs["deb"]],
                       capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        text = tar.extractfile("." + SNIPPET).read().decode()
    active = [line for line in text.splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    assert active == []
    # and it still holds what the README calls the minimum
    assert "#mail_attribute_dict = " in text
    assert "#  mail_plugins = $mail_plugins imap_coi" in text


def test_plugins_are_self_contained(debs, tmp_path):
    """libcoi is linked into each plugin: no coi_ symbol is left for the
    loader to find, no libcoi is needed, and each has Dovecot's entry
    points for its file name."""
    run("dpkg-deb", "-x", debs["deb"], str(tmp_path), check=True)
    for path, prefix in PLUGINS.items():
        so = f"{tmp_path}{path}"
        needed = run("readelf", "-d", so, check=True).stdout
        assert "libcoi" not in needed
        undefined = run("nm", "-D", "--undefined-only", so,
                        check=True).stdout.split()
        assert [s for s in undefined if s.startswith("coi_")] == []
        defined = run("nm", "-D", "--defined-only", so,
                      check=True).stdout.split()
        for sym in (f"{prefix}_init", f"{prefix}_deinit",
                    f"{prefix}_version"):
            assert sym in defined, (path, sym)


# -- installed --------------------------------------------------------------

def on_system():
    """dpkg's status of the package ("install ok installed", ...), or ""
    when it is not on the system (never was, or purged)."""
    r = run("dpkg-query", "-W", "-f", "${Status}", PACKAGE)
    if r.returncode != 0 or r.stdout.split()[-1:] == ["not-installed"]:
        return ""
    return r.stdout


def doveconf_n():
    r = run("doveconf", "-n")
    return r.returncode, r.stdout, r.stderr


def purge():
    return run(*APT, "purge", PACKAGE, env=APT_ENV, timeout=600)


@pytest.fixture(scope="module")
def installed(debs):
    """The package installed with apt-get; yields doveconf -n from before.
    Purged at the end (test_purge_leaves_the_system_as_found checks it)."""
    if os.getuid() != 0:
        pytest.fail("installing the package needs root (apt-get install)")
    status = on_system()
    if status:
        pytest.fail(f"{PACKAGE} is already on this system ({status}): this "
                    "test installs and purges it; purge it first")
    there = [f for f in FILES if os.path.lexists(f)]
    if there:
        pytest.fail(f"{there} exist but not from {PACKAGE} (a `make install`,"
                    " or test_coi_block.py running?): remove them first")
    before = doveconf_n()
    r = run(*APT, "install", "--no-install-recommends", debs["deb"],
            env=APT_ENV, timeout=600)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        yield before
    finally:
        if on_system():
            purge()


def test_installed_files(installed):
    for path in FILES:
        assert os.path.isfile(path), path
    listed = run("dpkg", "-L", PACKAGE).stdout.split()
    assert FILES <= set(listed)


def test_installing_changes_nothing(installed):
    """The snippet is in conf.d, fully commented: the configuration Dovecot
    reads is exactly what it was."""
    after = doveconf_n()
    assert after == installed
    assert "imap_coi" not in after[1] and "lmtp_coi" not in after[1]


def test_harness_ignores_installed_plugins(installed):
    """The integration harness never lets the package's plugins stand in
    for the build under test."""
    with DovecotServer() as s:
        modules = os.listdir(f"{s.dir}/modules")
        assert "lib90_sieve_plugin.so" in modules  # system modules are there
        assert not [m for m in modules if "_coi_" in m]


class SystemConfigServer(DovecotServer):
    """Debian's own configuration (a copy of /etc/dovecot) with the shipped
    snippet enabled the way the README says. local.conf, which Debian's
    dovecot.conf includes last, only moves it into a temporary directory:
    127.0.0.1 on free ports, its own base_dir and logs, a passwd-file user
    and Maildir homes. The plugins come from the system module directory,
    that is from the package."""

    def _write_config(self):
        d = self.dir
        uid, gid = _mail_uid()
        etc = f"{d}/etc"
        shutil.copytree("/etc/dovecot", etc, symlinks=True)
        enable_snippet(f"{etc}/conf.d/90-coi.conf")
        # The system passdb/userdb (PAM, passwd) would be asked first.
        comment_out(f"{etc}/conf.d/10-auth.conf",
                    r"!include auth-system\.conf\.ext", 1)
        # ssl = no below, but the certificate files are read all the same
        # (and on a fresh system Debian has not made them).
        comment_out(f"{etc}/conf.d/10-ssl.conf", r"ssl_(cert|key) = <.*", 2)
        os.makedirs(f"{d}/run")
        os.makedirs(f"{d}/home")
        os.chmod(d, 0o755)
        os.chown(f"{d}/home", uid, gid)
        with open(f"{d}/passwd", "w") as f:
            for u in self.users:
                f.write(f"{u['name']}:{{PLAIN}}{self.password}:{uid}:{gid}"
                        f"::{self.home(u['name'])}::\n")
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        with open(f"{etc}/local.conf", "w") as f:
            f.write(f"""
base_dir = {d}/run
state_dir = {d}/run/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
instance_name = coi-deb-{os.path.basename(d)}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
""")
        self.conf = f"{etc}/dovecot.conf"


def comment_out(path, regex, count):
    """Put a '#' in front of the count lines of path that match regex."""
    with open(path) as f:
        text = f.read()
    text, n = re.subn(f"(?m)^(?={regex}$)", "#", text)
    assert n == count, (path, regex, n)
    with open(path, "w") as f:
        f.write(text)


def enable_snippet(path):
    """Uncomment what the README calls the minimum: mail_attribute_dict and
    the protocol imap and protocol lmtp blocks."""
    with open(path) as f:
        lines = f.read().split("\n")
    found, block = set(), None
    for i, line in enumerate(lines):
        if block is not None:
            assert line.startswith("#"), (path, line)
            lines[i] = line[1:]
            if line == "#}":
                block = None
        elif line.startswith("#mail_attribute_dict = "):
            lines[i] = line[1:]
            found.add("mail_attribute_dict")
        else:
            m = re.fullmatch(r"#protocol (imap|lmtp) \{", line)
            if m:
                lines[i] = line[1:]
                block = m.group(1)
                found.add(block)
    assert found == {"mail_attribute_dict", "imap", "lmtp"}, found
    with open(path, "w") as f:
        f.write("\n".join(lines))


@pytest.fixture(scope="module")
def system_server(installed):
    with SystemConfigServer(users=["alice"]) as s:
        yield s


def test_enabled_config_loads_the_packaged_plugins(system_server):
    r = run("doveconf", "-c", system_server.conf, "-h", "-f",
            "protocol=imap", "mail_plugins")
    assert r.stdout.split() == ["imap_coi"], r.stdout + r.stderr
    r = run("doveconf", "-c", system_server.conf, "-h", "-f",
            "protocol=lmtp", "mail_plugins")
    assert r.stdout.split() == ["sieve", "lmtp_coi"], r.stdout + r.stderr
    r = run("doveconf", "-c", system_server.conf, "-h", "mail_plugin_dir")
    assert r.stdout.strip() == SYSTEM_MODULES


def capabilities(conn):
    status, _, untagged = imap_command(conn, "CAPABILITY")
    assert status == "OK"
    caps = [line for line in untagged if line.startswith("* CAPABILITY ")]
    assert len(caps) == 1, untagged
    return caps[0].split()[2:]


def test_coi_capability_after_login(system_server):
    before = RawIMAP(system_server.imap_port)
    try:
        assert "COI" not in capabilities(before)
    finally:
        before.close()
    # A client that did not ask for CAPABILITY gets it with the LOGIN reply.
    conn = RawIMAP(system_server.imap_port)
    try:
        status, text, _ = imap_command(conn, "LOGIN alice secret")
        assert status == "OK", text
        m = re.search(r"\[CAPABILITY ([^]]*)\]", text)
        assert m and "COI" in m.group(1).split(), text
        assert "COI" in capabilities(conn)
    finally:
        conn.close()


def test_chat_filed_in_chats_with_message_filter_active(system_server):
    s = system_server
    conn = login(s, "alice")
    try:
        assert setmetadata(conn, COI_CONFIG + "/enabled", "yes")[0] == "OK"
        status, text = setmetadata(conn, COI_CONFIG + "/message-filter",
                                   "active")
        assert status == "OK", text
        _, values = getmetadata(conn, COI_CONFIG + "/mailbox-root")
        root = values[COI_CONFIG + "/mailbox-root"]
        status, _, untagged = imap_command(conn, 'LIST "" ""')
        sep = re.match(r'\* LIST \([^)]*\) "(.)"', untagged[0]).group(1)
    finally:
        conn.close()
    msgid, msg = make_message(chat_version="1.0")
    deliver(s, "alice", msg)
    found = [(m, f) for m, f, i in messages(s, "alice") if i == msgid]
    assert found == [(f"{root}{sep}Chats", {"$Chat"})], s.log_text()[-3000:]


def test_packaged_doveadm_plugin(system_server):
    r = system_server.doveadm("-f", "tab", "coi", "block", "add", "-u",
                              "alice", "spammer@example.org")
    assert r.returncode == 0, r.stderr
    r = system_server.doveadm("-f", "tab", "coi", "block", "check", "-u",
                              "alice", "spammer@example.org")
    assert r.stdout.splitlines()[1:] == [
        "spammer@example.org\tyes\tspammer@example.org"], r.stderr


def test_purge_leaves_the_system_as_found(installed, system_server):
    """Last: the package purged, the system is as before the install."""
    system_server.stop()
    r = purge()
    assert r.returncode == 0, r.stdout + r.stderr
    assert on_system() == ""
    assert [f for f in FILES if os.path.lexists(f)] == []
    assert doveconf_n() == installed
