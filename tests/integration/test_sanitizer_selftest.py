"""Proof that the sanitizer run really checks something (COI_SANITIZE=1
only, see conftest.py): the runtime is loaded into every Dovecot process
that loads our plugins, and a deliberate bug in a sanitizer-built plugin
(tests/sanitizer/selftest-plugin.c) gives a report in the log directory
the suite scans, from imap, lmtp, doveadm and dovecot-lda. If the preload
or the log directory were lost, these tests fail instead of the suite
passing without looking."""
import os
import smtplib
import subprocess
import time

import pytest

import harness
from harness import (DovecotServer, built_plugin, deliver, imap_command,
                     make_message, RawIMAP)

DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"

BUGS = {
    # user: (the selftest plugin's bug, what its report says, a frame of
    # its stack: a leak is reported at exit, with the plugin unloaded)
    "asan": ("heap-overflow", "AddressSanitizer: heap-buffer-overflow",
             "coi_sanitizer_selftest_mail_user_created"),
    "ubsan": ("signed-overflow", "runtime error: signed integer overflow",
              "coi_sanitizer_selftest_mail_user_created"),
    "leak": ("leak", "LeakSanitizer: detected memory leaks",
             "hook_mail_user_created"),
}


@pytest.fixture(scope="module")
def server():
    users = ["clean"] + [
        {"name": name, "fields": {"userdb_coi_sanitizer_selftest": bug}}
        for name, (bug, _, _) in BUGS.items()]
    with DovecotServer(
            users=users,
            plugin_paths=[built_plugin("coi_sanitizer_selftest"),
                          built_plugin("imap_coi"),
                          built_plugin("lmtp_coi")],
            mail_plugins="coi_sanitizer_selftest",
            imap_mail_plugins="imap_coi", lmtp_mail_plugins="lmtp_coi",
            backend="sqlite",
            # an lmtp process exits after its connection, and LSan looks
            extra_conf="service lmtp {\n  service_count = 1\n}\n") as s:
        yield s


def expect_report(binary, user, timeout=20):
    """Waits for the one report of a binary for the bug of user, and takes
    it out of the suite's scan (into selftest/)."""
    _, kind, frame = BUGS[user]
    deadline = time.monotonic() + timeout
    start = f"asan.{binary}."
    while True:
        reports = {p: t for p, t in harness.sanitizer_reports(False).items()
                   if os.path.basename(p).startswith(start)
                   and "SUMMARY:" in t}
        if reports or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(reports) == 1, (
        f"no report from {binary} in {harness.SANITIZER_LOG_DIR}: "
        f"{sorted(os.listdir(harness.SANITIZER_LOG_DIR))}")
    (path, text), = reports.items()
    # expected, not a finding: out of the suite's scan
    expected = os.path.join(harness.SANITIZER_LOG_DIR, "selftest")
    os.makedirs(expected, exist_ok=True)
    os.rename(path, os.path.join(expected, os.path.basename(path)))
    assert kind in text, text
    assert frame in text, text


def child_pids(pid):
    """Every process below pid, as {pid: binary}."""
    out, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            try:
                exe = os.path.basename(os.readlink(f"/proc/{kid}/exe"))
            except OSError:
                continue
            out[kid] = exe
            todo.append(kid)
    return out


def test_runtime_is_loaded_in_imap_and_lmtp(server):
    """With an IMAP session and an LMTP session open (and the SQL dict
    used by both), each of those processes has the sanitizer runtime
    mapped, and the dict service, which runs none of our code, has not
    (harness._sanitizer_conf())."""
    imap = RawIMAP(server.imap_port)
    assert imap_command(imap, f"LOGIN clean {server.password}")[0] == "OK"
    assert imap_command(imap, "GETMETADATA \"\" "
                              "(/private/vendor/vendor.dovecot/coi/config/"
                              "enabled)")[0] == "OK"
    lmtp = server.lmtp()
    lmtp.ehlo()
    assert lmtp.mail("sender@example.org")[0] == 250
    assert lmtp.rcpt("clean")[0] == 250
    procs = child_pids(server.proc.pid)
    for binary in ("imap", "lmtp", "dict"):
        pids = [p for p, exe in procs.items() if exe == binary]
        assert pids, f"no {binary} process: {procs}"
        for pid in pids:
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read()
            assert (harness.sanitizer_preload() in maps) == \
                (binary != "dict"), (f"sanitizer runtime in {binary} "
                                     f"({pid}): {binary != 'dict'} wanted")
    lmtp.quit()
    imap_command(imap, "LOGOUT")
    imap.close()


@pytest.mark.parametrize("user", sorted(BUGS))
def test_imap_reports(server, user):
    conn = RawIMAP(server.imap_port)
    conn.send(f"a LOGIN {user} {server.password}\r\nb LOGOUT\r\n"
              .encode())
    conn.read_all()     # the process dies at login, or exits at LOGOUT
    conn.close()
    expect_report("imap", user)


@pytest.mark.parametrize("user", sorted(BUGS))
def test_lmtp_reports(server, user):
    _, msg = make_message()
    if user == "leak":
        # delivered; the process exits after the connection
        deliver(server, user, msg)
    else:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            # the lmtp process dies at DATA
            server.lmtp_deliver("sender@example.org", [user], msg)
    expect_report("lmtp", user)


@pytest.mark.parametrize("user", sorted(BUGS))
def test_doveadm_reports(server, user):
    r = server.doveadm("mailbox", "list", "-u", user)
    assert r.returncode != 0
    expect_report("doveadm", user)


@pytest.mark.parametrize("user", sorted(BUGS))
def test_dovecot_lda_reports(server, user):
    _, msg = make_message()
    r = subprocess.run([DOVECOT_LDA, "-c", server.conf, "-d", user],
                       input=msg, capture_output=True, timeout=60,
                       env=harness.tool_env())
    assert r.returncode != 0
    expect_report("dovecot-lda", user)


def test_clean_user_gives_no_report(server):
    """The selftest plugin itself is quiet for a user without a bug: the
    suite's scan stays meaningful."""
    _, msg = make_message()
    deliver(server, "clean", msg)
    r = server.doveadm("mailbox", "list", "-u", "clean")
    assert r.returncode == 0, r.stderr
    assert harness.sanitizer_reports(False) == {}
