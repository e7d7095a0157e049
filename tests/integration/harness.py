"""A throwaway, real Dovecot for integration tests and the demo.

DovecotServer writes a complete configuration into a fresh temporary
directory, starts Debian's /usr/sbin/dovecot in the foreground on 127.0.0.1
with free ports (imap and lmtp), and stops it again. Nothing outside that
directory is read or written, so it runs beside the system Dovecot and
beside other instances.

The plugins under test are loaded from a private mail_plugin_dir holding
symlinks to every system module (sieve, quota, ... keep working) except
the COI plugins of an installed dovecot-coi package, plus the freshly
built ones.

To extend it for a feature (Sieve, quota, a SQL dict), pass settings in
`plugin_settings`, per-protocol plugins in `imap_mail_plugins` /
`lmtp_mail_plugins`, and anything else as raw text in `extra_conf`.
"""
import atexit
import contextlib
import imaplib
import os
import pwd
import re
import select
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import tempfile
import time

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
SYSTEM_MODULES = "/usr/lib/dovecot/modules"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# COI_SANITIZE=1: the plugins come from the ASan/UBSan build
# (scripts/build-asan), and every Dovecot process that loads them runs with
# the sanitizer runtime preloaded; see "Sanitizers" below.
SANITIZE = os.environ.get("COI_SANITIZE") == "1"
# The tree the plugins are taken from: this one, or an out-of-tree build.
PLUGIN_BUILD = os.path.join(REPO, os.environ.get("COI_PLUGIN_BUILD") or
                            ("build-asan" if SANITIZE else ""))
BUILT_PLUGINS = {
    "imap_coi": os.path.join(PLUGIN_BUILD, "src/imap-coi/.libs/"
                                           "lib95_imap_coi_plugin.so"),
    "lmtp_coi": os.path.join(PLUGIN_BUILD, "src/lmtp-coi/.libs/"
                                           "lib95_lmtp_coi_plugin.so"),
    "doveadm_coi": os.path.join(PLUGIN_BUILD, "src/doveadm-coi/.libs/"
                                              "lib10_doveadm_coi_plugin.so"),
    # test-only, with deliberate bugs (tests/sanitizer/selftest-plugin.c)
    "coi_sanitizer_selftest": os.path.join(
        PLUGIN_BUILD, "selftest/lib99_coi_sanitizer_selftest_plugin.so"),
}

# The plugin files of the dovecot-coi package (lib95_imap_coi_plugin.so, ...)
SYSTEM_COI_PLUGIN = re.compile(r"lib\d+_\w+_coi_plugin\.so$")

# doveadm loads its plugins from this compiled-in directory only.
DOVEADM_MODULEDIR = "/usr/lib/dovecot/modules/doveadm"


def built_plugin(name):
    """Path of a plugin built in this tree; fails clearly if not built."""
    path = BUILT_PLUGINS[name]
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: build first (scripts/build)")
    return path


# -- Sanitizers ----------------------------------------------------------------
#
# Dovecot's binaries are not instrumented, so the sanitizer runtime the
# plugins of scripts/build-asan need (clang's libclang_rt.asan, which holds
# UBSan too) must be the first library of the process: it is LD_PRELOADed.
# Dovecot's master clears the environment of the processes it starts, so
# the services that load our plugins (imap, lmtp; dict too) get a wrapper as
# their `executable`, which sets it and execs the real binary; doveadm and
# dovecot-lda, which the tests run themselves, get it from tool_env().
# Every report, ASan's, UBSan's and LSan's, goes to SANITIZER_LOG_DIR, one
# file per process (asan.<binary>.<pid>); any file there fails the suite
# (sanitizer_reports(), conftest.py). A process with a finding aborts.
#
# LeakSanitizer is on, with no suppressions: whole runs with it got no
# report of a leak of Dovecot's own, from any process (Dovecot frees
# everything at exit, as its valgrind-checked tests expect). It checks a
# process when it exits normally, such as imap at LOGOUT, or lmtp and dict
# when the master stops them. Our plugins are unloaded (dlclose) before that
# check, so a leak of theirs is shown as "<unknown module>" frames below the
# allocating function (Dovecot keeps modules loaded if GDB is set, but then
# memory that only a plugin's static pointer holds would count as reachable,
# and such leaks would go unseen).

SANITIZER_LOG_DIR = os.environ.get("COI_SANITIZER_LOG_DIR") or os.path.join(
    tempfile.gettempdir(), f"coi-sanitizer-{os.getpid()}")
_sanitizer_seen = set()


def sanitizer_preload():
    """The runtime scripts/build-asan recorded, as an LD_PRELOAD value."""
    path = os.path.join(PLUGIN_BUILD, "preload")
    try:
        with open(path) as f:
            libs = f.read().split()
    except OSError:
        raise RuntimeError(f"{path} is missing: run scripts/build-asan")
    return " ".join(libs)


def sanitizer_env():
    """The environment a process needs to run the sanitizer build; empty
    unless COI_SANITIZE=1."""
    if not SANITIZE:
        return {}
    os.makedirs(SANITIZER_LOG_DIR, exist_ok=True)
    # the mail processes write here as the mail user (nobody when root)
    os.chmod(SANITIZER_LOG_DIR, 0o1777)
    return {
        "LD_PRELOAD": sanitizer_preload(),
        # clang's runtime: UBSan reports go to ASan's log_path too
        "ASAN_OPTIONS": f"log_path={SANITIZER_LOG_DIR}/asan:log_exe_name=1"
                        ":detect_leaks=1:halt_on_error=1:abort_on_error=1"
                        # more, or overrides, for one run
                        + (":" + os.environ["COI_ASAN_OPTIONS"]
                           if os.environ.get("COI_ASAN_OPTIONS") else ""),
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }


def tool_env():
    """os.environ plus sanitizer_env(): for doveadm, dovecot-lda and any
    other Dovecot binary a test runs itself that may load our plugins."""
    env = dict(os.environ)
    env.update(sanitizer_env())
    return env


def sanitizer_reports(consume=True):
    """{path: text} of the reports in SANITIZER_LOG_DIR not returned
    before (all of them with consume=False)."""
    try:
        names = sorted(os.listdir(SANITIZER_LOG_DIR))
    except OSError:
        return {}
    out = {}
    for name in names:
        path = os.path.join(SANITIZER_LOG_DIR, name)
        if path in _sanitizer_seen or not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            out[path] = f.read()
        if consume:
            _sanitizer_seen.add(path)
    return out


def format_sanitizer_reports(reports):
    return "\n".join(f"--- {path}\n{text}" for path, text in reports.items())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mail_uid():
    """Dovecot refuses uid 0 for mail users. As root we run the mail
    processes as 'nobody' and hand it the homes; as anybody else, as
    ourselves."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class DovecotServer:
    def __init__(self, users=("alice",), plugin_paths=(), mail_plugins="",
                 imap_mail_plugins="", lmtp_mail_plugins="",
                 plugin_settings=None, extra_conf="", namespace_prefix="",
                 namespace_separator="/", imap_metadata=False,
                 backend="file", attribute_dict="file:%h/dovecot-attributes",
                 pg_database=None, mail_debug=False, password="secret",
                 homes_of=None):
        """users: names, or dicts {"name":, "fields": {userdb extra}}.

        homes_of: another (started) DovecotServer whose users' homes, and
        so mail storage, this one shares, as the backends of a cluster do.

        backend: where the attributes and COI's state are kept, one of
        BACKENDS (see _backend_conf()). attribute_dict: for "file", the
        mail_attribute_dict URI (None: none at all). pg_database: for
        "postgresql", an existing database (from
        postgresql().create_database()) to share with another server;
        by default each server gets a fresh one."""
        if backend not in BACKENDS + ATTRIBUTE_BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of "
                             f"{BACKENDS + ATTRIBUTE_BACKENDS}")
        self.users = [u if isinstance(u, dict) else {"name": u}
                      for u in users]
        self.password = password
        self.plugin_paths = list(plugin_paths)
        self.mail_plugins = mail_plugins
        self.imap_mail_plugins = imap_mail_plugins
        self.lmtp_mail_plugins = lmtp_mail_plugins
        self.plugin_settings = dict(plugin_settings or {})
        self.extra_conf = extra_conf
        self.namespace_prefix = namespace_prefix
        self.namespace_separator = namespace_separator
        self.imap_metadata = imap_metadata
        self.backend = backend
        self.attribute_dict = attribute_dict
        self.pg_database = pg_database
        self.sqlite_db = None
        self.mail_debug = mail_debug
        self.homes_of = homes_of
        self.dir = None
        self.proc = None

    # -- lifecycle --------------------------------------------------------

    def _write_users(self):
        """The passwd-file of self.users, and the directory for their homes."""
        d = self.dir
        uid, gid = _mail_uid()
        os.makedirs(f"{d}/home")
        with open(f"{d}/passwd", "w") as f:
            for u in self.users:
                extra = " ".join(f"{k}={v}"
                                 for k, v in u.get("fields", {}).items())
                f.write(f"{u['name']}:{{PLAIN}}{self.password}:{uid}:{gid}"
                        f"::{self.home(u['name'])}::{extra}\n")
        # The mail processes (uid 'nobody' when we are root) need to reach
        # their homes below our temporary directory.
        os.chmod(d, 0o755)
        os.chown(f"{d}/home", uid, gid)

    def _private_conf(self):
        """The configuration that keeps this Dovecot to itself and lets the
        tests in: everything below self.dir, imap and lmtp on 127.0.0.1 at
        free ports, the passwd-file users with Maildirs in their homes."""
        d = self.dir
        self.imap_port = free_port()
        self.lmtp_port = free_port()
        return f"""base_dir = {d}/run
state_dir = {d}/run/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log
instance_name = coi-test-{os.path.basename(d)}
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
  unix_listener lmtp {{
    mode = 0600
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
"""

    def _write_config(self):
        d = self.dir
        os.makedirs(f"{d}/run")
        os.makedirs(f"{d}/modules")
        for name in os.listdir(SYSTEM_MODULES):
            # An installed dovecot-coi package must not stand in for the
            # build under test, not even where a test loads no plugin.
            if name.endswith(".so") and not SYSTEM_COI_PLUGIN.match(name):
                os.symlink(f"{SYSTEM_MODULES}/{name}", f"{d}/modules/{name}")
        for path in self.plugin_paths:
            link = f"{d}/modules/{os.path.basename(path)}"
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.abspath(path), link)
        self._write_users()
        sanitizer_conf = self._sanitizer_conf() if SANITIZE else ""
        plugin_block = "".join(f"  {k} = {v}\n"
                               for k, v in self.plugin_settings.items())
        attr = self._backend_conf()
        conf = f"""
{self._private_conf()}
auth_mechanisms = plain login
# A failed login must not slow down the next test's logins from 127.0.0.1.
auth_failure_delay = 0
mail_plugin_dir = {d}/modules
mail_plugins = {self.mail_plugins}
mail_debug = {"yes" if self.mail_debug else "no"}
imap_metadata = {"yes" if self.imap_metadata else "no"}
{attr}
{self._unprivileged_conf()}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  prefix = {self.namespace_prefix}
  separator = {self.namespace_separator}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins {self.imap_mail_plugins}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins {self.lmtp_mail_plugins}
}}
plugin {{
{plugin_block}}}
{sanitizer_conf}
{self.extra_conf}
"""
        self.conf = f"{d}/dovecot.conf"
        with open(self.conf, "w") as f:
            f.write(conf)

    def _backend_conf(self):
        """The configuration of self.backend:
        - "file": mail_attribute_dict = self.attribute_dict and no
          coi_state_dict, so COI keeps its state in the attribute dict
          (the layout before coi_state_dict, and the upgrade path);
        - "sqlite", "postgresql": exactly what docs/sql-dict.md tells an
          admin to paste, its placeholders replaced by this server's
          paths (doc_config()), with the schema of the same page loaded
          into a fresh database;
        - "postgresql-attributes": "postgresql" plus the page's optional
          blocks that put mail_attribute_dict into PostgreSQL too."""
        if self.backend == "file":
            return ("" if self.attribute_dict is None else
                    f"mail_attribute_dict = {self.attribute_dict}")
        d = f"{self.dir}/dict"
        os.makedirs(d)
        if self.backend == "sqlite":
            self.sqlite_db = f"{d}/coi.sqlite"
            # closed here, so that no -wal or -shm file of root's stays
            with contextlib.closing(sqlite3.connect(self.sqlite_db)) as db:
                db.executescript(doc_block("sqlite/schema.sql"))
            connect = self.sqlite_db
        else:
            pg = postgresql()
            if self.pg_database is None:
                self.pg_database = pg.create_database(
                    attributes=self.backend == "postgresql-attributes")
            connect = pg.dsn(self.pg_database)
        conf = doc_config(self.backend.split("-")[0], d, connect)
        if self.backend == "postgresql-attributes":
            # pasted after the section's blocks, as the page says
            conf += "\n" + doc_config(self.backend, d, connect)
        # the dict service runs as the internal user
        internal = (pwd.getpwnam("dovecot") if os.getuid() == 0
                    else pwd.getpwuid(os.getuid()))
        for name in os.listdir(d) + [""]:
            os.chown(os.path.join(d, name), internal.pw_uid, internal.pw_gid)
        # the mail processes run as another user than the dict service
        return conf + """
service dict {
  unix_listener dict {
    mode = 0666
  }
}"""

    def sql(self, statement):
        """Run one SQL statement on the database of a "sqlite" or
        "postgresql" backend, as a test that reaches behind Dovecot's
        back would; returns the rows as tuples of strings."""
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.sqlite_db)) as db:
                rows = db.execute(statement).fetchall()
                db.commit()
            return [tuple("" if v is None else str(v) for v in row)
                    for row in rows]
        assert self.backend.startswith("postgresql"), self.backend
        return postgresql().query(self.pg_database, statement)

    @property
    def coi_state_layout(self):
        """Where COI keeps its state in this server: "state-dict" (the
        coi_state_dict keys, priv/coi/...) or "attributes" (below
        vendor/vendor.dovecot/pvt/ of the attribute dict: the "file"
        backend)."""
        return "attributes" if self.backend == "file" else "state-dict"

    def _sanitizer_conf(self):
        """The services that load our plugins (imap, lmtp) run through a
        wrapper that puts the sanitizer environment back (see
        sanitizer_env()). The dict services do not: they run none of our
        code, and under the sanitizers they only reported Dovecot's own
        faults (a SEGV of the pgsql driver when PostgreSQL is killed, in
        timeout_add_to(); LSan's tracer crashing when a test stops a dict
        process)."""
        wrapper = f"{self.dir}/sanitize-exec"
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n")
            for k, v in sanitizer_env().items():
                f.write(f"export {k}='{v}'\n")
            f.write('exec "$@"\n')
        os.chmod(wrapper, 0o755)
        # import_environment: doveadm and dovecot-lda exec doveconf, which
        # execs them back with only these variables left.
        # vsz_limit: ASan reserves terabytes of address space for its
        # shadow memory, which any RLIMIT_AS would refuse.
        return "import_environment = $import_environment " + " ".join(
            sanitizer_env()) + "\n" + "".join(f"""service {name} {{
  executable = {wrapper} /usr/lib/dovecot/{name}
  vsz_limit = 0
}}
""" for name in ("imap", "lmtp"))

    @staticmethod
    def _unprivileged_conf():
        """Not root: every Dovecot process runs as ourselves."""
        if os.getuid() == 0:
            return ""
        me = pwd.getpwuid(os.getuid()).pw_name
        return (f"default_login_user = {me}\n"
                f"default_internal_user = {me}\n")

    def start(self, timeout=15):
        self.dir = tempfile.mkdtemp(prefix="coi-dovecot-")
        self._write_config()
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        for port in (self.imap_port, self.lmtp_port):
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace")
                    self.stop()
                    raise RuntimeError(f"dovecot exited: {err}")
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        tail = self.log_text()[-2000:]
                        self.stop()
                        raise RuntimeError(f"dovecot did not listen on "
                                           f"{port}; log:\n{tail}")
                    time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stderr.close()
            self.proc = None
        if self.dir is not None and os.environ.get("COI_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if SANITIZE:
            reports = sanitizer_reports()
            assert not reports, format_sanitizer_reports(reports)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- access -----------------------------------------------------------

    def children(self, name):
        """PIDs of this server's processes of service name (imap, lmtp,
        dict): only children of this server's own master."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read().split(b"\0")[0].decode(
                        errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and title.rsplit("/", 1)[-1] == name:
                pids.append(int(entry))
        return pids

    def kill_children(self, name, sig=signal.SIGKILL):
        """Send sig to every process of service name (the master starts
        new ones as needed)."""
        for pid in self.children(name):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def home(self, user):
        if self.homes_of is not None:
            return self.homes_of.home(user)
        return f"{self.dir}/home/{user}"

    def imap_raw(self):
        return imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)

    def imap(self, user, password=None):
        conn = self.imap_raw()
        conn.login(user, password or self.password)
        return conn

    def lmtp(self, timeout=30):
        return smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=timeout)

    def lmtp_deliver(self, sender, recipients, message):
        """One LMTP transaction. LMTP answers DATA once per accepted
        recipient, which smtplib's sendmail() does not read; this does.
        Returns {recipient: (code, text)}: the RCPT reply for a refused
        recipient, the DATA reply for an accepted one."""
        replies = {}
        with self.lmtp() as conn:
            lmtp_transaction(conn, sender, recipients, message, replies)
        return replies

    def log_text(self):
        try:
            with open(f"{self.dir}/dovecot.log", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_lines_matching(self, regex):
        return [line for line in self.log_text().splitlines()
                if re.search(regex, line)]

    def wait_for_log(self, regex, timeout=5):
        """The matching lines, once there is at least one (a process may
        log after it closed the connection a test waited for)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log_lines_matching(regex)
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def doveadm(self, *args):
        env = tool_env()
        if "-A" in args and "ASAN_OPTIONS" in env:
            # With -A doveadm switches to each user's uid in turn, after
            # which LeakSanitizer cannot stop its threads at exit (a fatal
            # LSan error, exit code 1). ASan and UBSan stay on.
            env = dict(env, ASAN_OPTIONS=env["ASAN_OPTIONS"] +
                       ":detect_leaks=0")
        return subprocess.run([DOVEADM, "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=60,
                              env=env)


# -- backends: the dicts COI and the attributes are kept in --------------------

BACKENDS = ("file", "sqlite", "postgresql")
# docs/sql-dict.md's optional attribute dict on PostgreSQL: issue 16's IMAP
# table runs on it too (test_coi_backends.py)
ATTRIBUTE_BACKENDS = ("postgresql-attributes",)
SQL_DOC = os.path.join(REPO, "docs", "sql-dict.md")
# The names docs/sql-dict.md's blocks use for what each installation has
# elsewhere (its "Placeholders" table); doc_config() replaces them.
DOC_CONF_DIR = "/etc/dovecot/"
DOC_CONNECT = {
    "sqlite": "/var/lib/dovecot/coi.sqlite",
    "postgresql": "host=/var/run/postgresql dbname=dovecot user=dovecot",
    "mysql": "host=localhost dbname=dovecot user=dovecot password=secret",
}
DOC_BLOCK = re.compile(r"^<!-- block: (\S+) -->\n```[a-z]*\n(.*?)^```$",
                       re.M | re.S)


def doc_blocks():
    """{name: text} of the marked blocks of docs/sql-dict.md: a line
    `<!-- block: NAME -->` right before a fence. The harness configures
    its SQL backends from these, so the page and the tests cannot
    diverge."""
    with open(SQL_DOC, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for name, body in DOC_BLOCK.findall(text):
        if name in out:
            raise RuntimeError(f"{SQL_DOC}: block {name} appears twice")
        out[name] = body
    markers = re.findall(r"<!-- block: (\S+) -->", text)
    if len(markers) != len(out):
        raise RuntimeError(f"{SQL_DOC}: a block marker is not right before "
                           f"a fence: {sorted(set(markers) - set(out))}")
    return out


def doc_block(name):
    """One marked block of docs/sql-dict.md; a missing one fails loudly."""
    blocks = doc_blocks()
    if name not in blocks:
        raise RuntimeError(f"{SQL_DOC} has no block {name!r} (marker "
                           f"<!-- block: {name} -->); it has "
                           f"{sorted(blocks)}")
    return blocks[name]


def doc_config(backend, conf_dir, connect):
    """docs/sql-dict.md's dovecot.conf part for backend, with its two
    .conf.ext files written into conf_dir, and the placeholders (the
    configuration directory, the connect string) replaced."""
    blocks = doc_blocks()
    for ext in ("dovecot-dict-attr.conf.ext", "dovecot-dict-coi.conf.ext"):
        # a section has the blocks of the dicts it puts on SQL
        if f"{backend}/{ext}" not in blocks:
            continue
        text = doc_block(f"{backend}/{ext}")
        placeholder = f"connect = {DOC_CONNECT[backend.split('-')[0]]}\n"
        if placeholder not in text:
            raise RuntimeError(f"{SQL_DOC}: {backend}/{ext} does not say "
                               f"{placeholder.strip()!r}")
        with open(os.path.join(conf_dir, ext), "w") as f:
            f.write(text.replace(placeholder, f"connect = {connect}\n"))
    conf = doc_block(f"{backend}/dovecot.conf")
    if DOC_CONF_DIR not in conf:
        raise RuntimeError(f"{SQL_DOC}: {backend}/dovecot.conf names no "
                           f"file in {DOC_CONF_DIR}")
    return conf.replace(DOC_CONF_DIR, conf_dir.rstrip("/") + "/")


# -- a throwaway PostgreSQL ----------------------------------------------------

PG_BIN = "/usr/lib/postgresql/15/bin"


class PostgreSQL:
    """A private PostgreSQL cluster (Debian's postgresql package, no system
    service): initdb and pg_ctl in a temporary directory, a unix socket
    there and no TCP at all, trust authentication. As root, the server
    runs as the postgres user (initdb refuses root). One per pytest
    session (postgresql()); each DovecotServer gets a database of its
    own with docs/sql-dict.md's schema, owned by the role the docs'
    connect string names (dovecot)."""

    ROLE = "dovecot"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="coi-postgresql-")
        self.data = f"{self.dir}/data"
        self.socket_dir = f"{self.dir}/socket"
        self.count = 0
        os.makedirs(self.socket_dir)
        # the dict service (user dovecot) connects to the socket
        os.chmod(self.dir, 0o755)
        os.chmod(self.socket_dir, 0o755)
        self.as_user = []
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.dir, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust",
                  "-U", "postgres", "--no-sync", "-E", "UTF8",
                  "--locale", "C")
        # A test cluster: nothing here must survive a crash, so fsync
        # and synchronous commits are off (much faster on a busy CI disk).
        self.opts = (f"-c listen_addresses='' -c unix_socket_directories="
                     f"'{self.socket_dir}' -c fsync=off "
                     "-c synchronous_commit=off -c full_page_writes=off "
                     "-c max_connections=200")
        self.running = False
        self.start_server()
        self.query("postgres", f"CREATE ROLE {self.ROLE} LOGIN")

    def start_server(self):
        """Start the server on its data directory (again, after
        stop_server(): every database is still there)."""
        self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                  f"{self.dir}/postgresql.log", "-o", self.opts, "-w",
                  "start")
        self.running = True

    def stop_server(self, mode="immediate"):
        """Stop the server and keep its data directory, as a fault test
        does mid-run: "immediate" is a crash (no shutdown checkpoint,
        every connection cut), "fast" a clean stop that disconnects the
        clients. postgresql() starts it again for whoever needs it
        next."""
        self.running = False
        self._run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w",
                  "stop")

    def postmaster_pid(self):
        """The pid of the running server (its postmaster.pid), or None."""
        try:
            with open(f"{self.data}/postmaster.pid") as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def _run(self, *args, user=True):
        r = subprocess.run([*(self.as_user if user else []), *args],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def dsn(self, database, user=ROLE):
        """A libpq connect string, in the docs' form."""
        return f"host={self.socket_dir} dbname={database} user={user}"

    def query(self, database, statement, user="postgres"):
        """Run SQL through psql; returns the rows as tuples of strings."""
        out = self._run("psql", "-X", "-q", "-A", "-t", "-F", "\t",
                        "-v", "ON_ERROR_STOP=1", "-d",
                        self.dsn(database, user), "-c", statement,
                        user=False)
        return [tuple(line.split("\t")) for line in out.splitlines()]

    def create_database(self, attributes=False):
        """A fresh database with docs/sql-dict.md's schema (and that of its
        optional attribute tables), created by the dovecot role as an
        admin would."""
        self.count += 1
        name = f"coi{self.count}"
        self.query("postgres", f"CREATE DATABASE {name} OWNER {self.ROLE}")
        self.query(name, doc_block("postgresql/schema.sql"), user=self.ROLE)
        if attributes:
            self.query(name, doc_block("postgresql-attributes/schema.sql"),
                       user=self.ROLE)
        return name

    def stop(self):
        if self.dir is None:
            return
        subprocess.run([*self.as_user, f"{PG_BIN}/pg_ctl", "-D", self.data,
                        "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        if os.environ.get("COI_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


_postgresql = []


def postgresql():
    """The session's PostgreSQL, started on first use (and again if a
    test left it stopped with stop_server()); stopped by
    stop_postgresql() (conftest.py, at the end of the session) or at
    exit."""
    if not _postgresql:
        _postgresql.append(PostgreSQL())
        atexit.register(stop_postgresql)
    elif not _postgresql[0].running:
        # a fault test stopped it (and failed before starting it again)
        _postgresql[0].start_server()
    return _postgresql[0]


def stop_postgresql():
    while _postgresql:
        _postgresql.pop().stop()


# -- IMAP helpers: full transcripts, which imaplib otherwise hides ----------

class RawIMAP:
    """A bare IMAP connection: unlike imaplib it sends nothing by itself
    (imaplib asks for CAPABILITY at connect, which changes how Dovecot
    answers LOGIN). Usable with imap_command()."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), 30)
        self.file = self.sock.makefile("rb")
        self.tagnum = 0
        self.welcome = self.file.readline().decode(errors="replace")

    def _new_tag(self):
        self.tagnum += 1
        return b"R%d" % self.tagnum

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        return self.file.readline()

    def read(self, n):
        return self.file.read(n)

    def read_all(self):
        """Everything until the server closes the connection."""
        return self.file.read().decode(errors="replace")

    def close(self):
        self.file.close()
        self.sock.close()


def imap_command(conn, command):
    """Send one command; return (status, tagged line, untagged lines). A
    literal {n} in a response is read and inlined, CRLF kept."""
    tag = conn._new_tag().decode()
    conn.send(f"{tag} {command}\r\n".encode())
    untagged = []
    while True:
        line = conn.readline().decode(errors="replace")
        if not line:
            raise EOFError(f"connection closed during {command!r}")
        m = re.search(r"\{(\d+)\}\r\n$", line)
        while m:
            line += conn.read(int(m.group(1))).decode(errors="replace")
            line += conn.readline().decode(errors="replace")
            m = re.search(r"\{(\d+)\}\r\n$", line)
        line = line.rstrip("\r\n")
        if line.startswith(tag + " "):
            rest = line[len(tag) + 1:]
            return rest.split(" ", 1)[0], rest, untagged
        untagged.append(line)


def imap_quote(value):
    if re.fullmatch(r"[\x20-\x7e]*", value) and len(value) < 1024:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    data = value.encode()
    return "{%d+}\r\n" % len(data) + value


def setmetadata(conn, entry, value, mailbox=""):
    """SETMETADATA one entry (value None = NIL); returns (status, text)."""
    v = "NIL" if value is None else imap_quote(value)
    status, text, _ = imap_command(
        conn, f"SETMETADATA {imap_quote(mailbox)} ({entry} {v})")
    return status, text


_METADATA_ITEM = re.compile(
    r'\s*(\S+) (?:NIL|"((?:[^"\\]|\\.)*)"|\{(\d+)\}\r\n)', re.S)


def parse_metadata(line):
    """'* METADATA "" (e1 v1 e2 v2)' -> {entry: value or None}."""
    body = line[line.index("(") + 1:line.rindex(")")]
    out, pos = {}, 0
    while pos < len(body):
        m = _METADATA_ITEM.match(body, pos)
        if not m:
            raise ValueError(f"cannot parse METADATA response {line!r}")
        entry = m.group(1)
        if m.group(3) is not None:
            n = int(m.group(3))
            out[entry] = body[m.end():m.end() + n]
            pos = m.end() + n
        elif m.group(2) is not None:
            out[entry] = re.sub(r"\\(.)", r"\1", m.group(2))
            pos = m.end()
        else:
            out[entry] = None
            pos = m.end()
    return out


def getmetadata(conn, entries, depth=None, mailbox=""):
    """Returns (status, {entry: value or None}) over all METADATA lines."""
    if isinstance(entries, str):
        entries = [entries]
    opts = f"(DEPTH {depth}) " if depth is not None else ""
    status, text, untagged = imap_command(
        conn, f"GETMETADATA {opts}{imap_quote(mailbox)} "
              f"({' '.join(entries)})")
    values = {}
    for line in untagged:
        if line.startswith("* METADATA "):
            values.update(parse_metadata(line))
    return status, values


def list_mailboxes(conn, command="LIST"):
    """[(flags, separator, name)] from LIST or LSUB "" "*"."""
    status, _, untagged = imap_command(conn, f'{command} "" "*"')
    assert status == "OK", untagged
    out = []
    for line in untagged:
        m = re.match(r'\* (?:LIST|LSUB) \(([^)]*)\) (?:"(.)"|NIL) (.*)$',
                     line)
        if m:
            name = m.group(3)
            if name.startswith('"'):
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
            out.append((m.group(1).split(), m.group(2), name))
    return out


def mailbox_names(conn, command="LIST", selectable=True):
    return {name for flags, _, name in list_mailboxes(conn, command)
            if not (selectable and "\\Noselect" in flags)}


# -- delivery helpers -------------------------------------------------------

COI_CONFIG = "/private/vendor/vendor.dovecot/coi/config"

_msg_counter = [0]


def make_message(chat_version=None, message_id=None, references=None,
                 in_reply_to=None, subject="test", body="hello\r\n",
                 extra_headers=(), sender="sender@example.org"):
    """An RFC 5322 message; message_id defaults to a fresh unique id
    (without chat$). Returns (message_id, bytes)."""
    if message_id is None:
        _msg_counter[0] += 1
        message_id = f"<m{_msg_counter[0]}.{time.time_ns()}@example.org>"
    lines = [f"From: {sender}", "To: rcpt@example.org",
             f"Subject: {subject}", f"Message-ID: {message_id}",
             "Date: Tue, 24 Nov 2026 12:00:00 +0000"]
    if chat_version is not None:
        lines.append(f"Chat-Version: {chat_version}")
    if references is not None:
        lines.append(f"References: {references}")
    if in_reply_to is not None:
        lines.append(f"In-Reply-To: {in_reply_to}")
    lines.extend(extra_headers)
    data = "\r\n".join(lines) + "\r\n\r\n" + body
    # surrogateescape lets a test put raw non-UTF-8 bytes in ("\udcff")
    return message_id, data.encode("utf-8", "surrogateescape")


def enable_coi(server, user, message_filter=None):
    """Enable COI for user over IMAP, with an optional message-filter."""
    conn = RawIMAP(server.imap_port)
    status, text, _ = imap_command(conn, f"LOGIN {user} {server.password}")
    assert status == "OK", text
    assert setmetadata(conn, COI_CONFIG + "/enabled", "yes")[0] == "OK"
    if message_filter is not None:
        status, text = setmetadata(conn, COI_CONFIG + "/message-filter",
                                   message_filter)
        assert status == "OK", text
    imap_command(conn, "LOGOUT")
    conn.close()


def messages(server, user):
    """Every message of user, via doveadm: [(mailbox, {flags}, message-id)].
    doveadm loads no COI plugin, so this sees the storage as it is."""
    r = server.doveadm("-f", "tab", "fetch", "-u", user,
                       "mailbox flags hdr.message-id", "all")
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines()[1:]:
        if line.count("\t") < 2:
            # a folded Message-ID goes on over several lines
            if out and line.strip():
                m, f, i = out[-1]
                out[-1] = (m, f, (i + " " + line.strip()).strip())
            continue
        mailbox, flags, msgid = line.split("\t", 2)
        out.append((mailbox, set(flags.split()) - {"\\Recent"},
                    msgid.strip()))
    return out


def where(server, user, message_id):
    """[(mailbox, {flags})] of every copy of message_id that user has."""
    return [(m, f) for m, f, i in messages(server, user) if i == message_id]


def login(server, user):
    """A RawIMAP connection logged in as user."""
    conn = RawIMAP(server.imap_port)
    status, text, _ = imap_command(conn, f"LOGIN {user} {server.password}")
    assert status == "OK", text
    return conn


def deliver(server, rcpts, message, sender="sender@example.org"):
    """One LMTP transaction that every recipient must accept (250)."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    replies = server.lmtp_deliver(sender, rcpts, message)
    for rcpt in rcpts:
        assert replies[rcpt][0] == 250, replies
    return replies


def idle_reads(conn, seconds, until=b"EXISTS"):
    """Lines the server sends within seconds (stopping at until). Reads the
    socket directly: a timed-out socket file is dead."""
    deadline = time.monotonic() + seconds
    data = b""
    while until not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([conn.sock], [], [], left)[0]:
            break
        chunk = conn.sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").splitlines()


def idle_on_inbox(server, user):
    """A session of user in IDLE on its INBOX (read it with idle_reads)."""
    conn = login(server, user)
    assert imap_command(conn, "SELECT INBOX")[0] == "OK"
    # no buffered reader from here on: idle_reads() uses the socket
    conn.send(b"I1 IDLE\r\n")
    assert idle_reads(conn, 10.0, until=b"+ ")[0].startswith("+")
    return conn


# -- the MTA's view: retries, and what was stored ---------------------------

def lmtp_transaction(conn, sender, recipients, message, replies):
    """MAIL, RCPT and DATA on an LMTP connection, putting each recipient's
    reply into replies {recipient: (code, text)} as it comes, so that the
    caller keeps what came before a broken connection."""
    if isinstance(message, str):
        message = message.encode()
    conn.ehlo_or_helo_if_needed()
    code, text = conn.mail(sender)
    if code != 250:
        raise RuntimeError(f"MAIL FROM refused: {code} {text!r}")
    accepted = []
    for rcpt in recipients:
        code, text = conn.rcpt(rcpt)
        if code == 250:
            accepted.append(rcpt)
        else:
            replies[rcpt] = (code, text.decode(errors="replace"))
    if accepted:
        code, text = conn.data(message)
        replies[accepted[0]] = (code, text.decode(errors="replace"))
        for rcpt in accepted[1:]:
            code, text = conn.getreply()
            replies[rcpt] = (code, text.decode(errors="replace"))


def lmtp_attempt(server, sender, recipients, message, timeout=30):
    """One LMTP transaction as an MTA sees it, surviving a lost connection:
    {recipient: (code, text)}, with code None for a recipient that got no
    final reply (the connection broke, or no reply within timeout
    seconds)."""
    replies = {}
    try:
        with server.lmtp(timeout) as conn:
            lmtp_transaction(conn, sender, recipients, message, replies)
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        for rcpt in recipients:
            replies.setdefault(rcpt, (None, f"no reply: {e}"))
    return replies


def deliver_where(server, user, sender="sender@example.org", **headers):
    """Deliver a new message (make_message(**headers), from sender) to
    user, and return where(): [(mailbox, {flags})]."""
    msgid, msg = make_message(sender=sender, **headers)
    deliver(server, user, msg, sender=sender)
    return where(server, user, msgid)


def mta_deliver(server, sender, recipients, message, tries=10,
                before_retry=None, timeout=30):
    """Deliver like an MTA: a recipient without a final answer (4xx, or no
    reply at all within timeout seconds) is tried again, after
    before_retry() if given, until it gets 2xx or 5xx. Returns
    {recipient: [code of each try]}."""
    history = {r: [] for r in recipients}
    pending = list(recipients)
    for n in range(tries):
        if n > 0:
            if before_retry is not None:
                before_retry()
            time.sleep(0.05 * n)
        replies = lmtp_attempt(server, sender, pending, message, timeout)
        for rcpt, (code, _) in replies.items():
            history[rcpt].append(code)
        pending = [r for r in pending
                   if replies[r][0] is None or 400 <= replies[r][0] < 500]
        if not pending:
            return history
    raise AssertionError(f"no final answer after {tries} tries: {history}")


def copies(server, user=None):
    """{message-id: [mailbox of each copy]} over every mailbox of user.
    Without user: {user: that} for every user, in one doveadm run."""
    r = server.doveadm("-f", "tab", "fetch",
                       *(("-u", user) if user else ("-A",)),
                       "mailbox hdr.message-id", "all")
    assert r.returncode == 0, r.stderr
    out, last = {}, None
    for line in r.stdout.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < (2 if user else 3):
            # a folded Message-ID goes on over several lines
            if last is not None and line.strip():
                boxes = out[last[0]][last[1]]
                msgid = (last[1] + " " + line.strip()).strip()
                out[last[0]].setdefault(msgid, []).append(boxes.pop())
                if not boxes:
                    del out[last[0]][last[1]]
                last = (last[0], msgid)
            continue
        owner = user if user else fields.pop(0)
        mailbox, msgid = fields[0], fields[1].strip()
        out.setdefault(owner, {}).setdefault(msgid, []).append(mailbox)
        last = (owner, msgid)
    return out.get(user, {}) if user else out
