"""dovecot-coi benchmark: what COI costs at delivery, measured side by side
with plain Dovecot and the Sieve equivalent. See bench/README.md for how to
read every figure.

Three parts, each alternating the configurations run by run:

- callgrind: instructions (Ir) per delivery in the lmtp process, which is
  deterministic on a noisy machine; a sweep over size and chat mix, and one
  message to 50 recipients in one LMTP transaction;
- throughput: messages per second, CPU time per message of the whole
  Dovecot process tree and peak RSS of lmtp, not under valgrind, with the
  default mail_fsync and with mail_fsync = never;
- recipients: one message to 50 local recipients per transaction, counting
  files and inodes in their maildirs (single-instance hard links)."""
import argparse
import contextlib
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import (DovecotServer, _mail_uid, built_plugin,  # noqa: E402
                     enable_coi, imap_command, login, postgresql)

SIEVE_RULE = ('require ["fileinto", "imap4flags", "mailbox"];\n'
              'if exists "Chat-Version" {\n'
              '  addflag "$Chat";\n'
              '  fileinto :create "COI/Chats";\n'
              '}\n')
SIEVE_KEEP = "keep;\n"

CONFIGS = {
    "A": "plain Dovecot, no plugins",
    "B": "Sieve rule instead of COI (dovecot-sieve)",
    "C": "dovecot-coi, message-filter=active",
    "D": "C with 10,000 blocked entries and 10,000 contacts",
    "E": "dovecot-coi with Sieve loaded (user script: keep)",
}
SENDER = "friend@example.org"
BLOCKED_ENTRIES = 10000
BLOCKED_CONTACTS = 10000
THREAD_SLOTS = 1000         # coi_thread_index_size's default
BACKENDS = ("file", "sqlite", "postgresql")
STATES = ("empty", "full")
KB = 1024
# the NOOP command is the bench's "dump now" signal to callgrind
DUMP_FUNCTION = "smtp_server_cmd_noop"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- messages ----------------------------------------------------------------

_seq = [0]


def message(size, chat):
    """One message of about `size` bytes (headers included), dot-stuffed
    and ending in CRLF, ready for DATA. Chat carries Chat-Version."""
    _seq[0] += 1
    headers = [f"From: {SENDER}", "To: rcpt@example.org",
               f"Subject: bench {_seq[0]}",
               f"Message-ID: <bench.{_seq[0]}.{time.time_ns()}@example.org>",
               "Date: Tue, 24 Nov 2026 12:00:00 +0000",
               "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8"]
    if chat:
        headers.append("Chat-Version: 1.0")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode()
    line = b"x" * 76 + b"\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def chat_users(count, ratio):
    """Which of `count` users get chat: round(count * ratio) of them,
    spread evenly."""
    return [int((i + 1) * ratio + 1e-9) > int(i * ratio + 1e-9)
            for i in range(count)]


# -- a pipelined LMTP client -------------------------------------------------

class Lmtp:
    """One LMTP connection. deliver() pipelines MAIL, RCPT... and DATA
    (Dovecot offers PIPELINING), so the load generator costs little."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 120)
        self.file = self.sock.makefile("rb")
        self._expect(220)
        self.sock.sendall(b"LHLO bench.example.org\r\n")
        self._expect(250)

    def _reply(self):
        text = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("LMTP connection closed")
            text.append(line.decode(errors="replace").rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), " | ".join(text)

    def _expect(self, code):
        got, text = self._reply()
        if got != code:
            raise RuntimeError(f"LMTP: expected {code}, got {text}")

    def deliver(self, rcpts, data):
        self.sock.sendall(f"MAIL FROM:<{SENDER}>\r\n".encode() +
                          b"".join(f"RCPT TO:<{r}>\r\n".encode()
                                   for r in rcpts) + b"DATA\r\n")
        self._expect(250)
        for _ in rcpts:
            self._expect(250)
        self._expect(354)
        self.sock.sendall(data + b".\r\n")
        for _ in rcpts:
            self._expect(250)

    def noop(self):
        self.sock.sendall(b"NOOP\r\n")
        self._expect(250)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self._reply()
        except OSError:
            pass
        self.file.close()
        self.sock.close()


# -- the Dovecot under test --------------------------------------------------

def bench_server(config, users, extra_conf="", backend="sqlite"):
    coi = config in "CDE"
    sieve = config in "BE"
    plugins = [built_plugin("imap_coi"), built_plugin("lmtp_coi")] \
        if coi else []
    lmtp = " ".join((["sieve"] if sieve else []) +
                    (["lmtp_coi"] if coi else []))
    settings = {"sieve": "file:~/sieve;active=~/.dovecot.sieve"} \
        if sieve else {}
    return DovecotServer(users=users, plugin_paths=plugins,
                         imap_mail_plugins="imap_coi" if coi else "",
                         lmtp_mail_plugins=lmtp, plugin_settings=settings,
                         backend=backend, extra_conf=extra_conf)


def prepare(server, config, users, blocks=True, state="empty"):
    """Homes, the Sieve scripts of B and E, COI enabled with
    message-filter=active over IMAP (C, D, E), D's block lists, and with
    state="full" a full state for every user (populate_state())."""
    uid, gid = _mail_uid()
    for user in users:
        home = server.home(user)
        os.makedirs(home, exist_ok=True)
        os.chown(home, uid, gid)
        if config in "BE":
            path = f"{home}/.dovecot.sieve"
            with open(path, "w") as f:
                f.write(SIEVE_RULE if config == "B" else SIEVE_KEEP)
            os.chown(path, uid, gid)
    if config in "CDE":
        enable_all(server, users)
    if config == "D" and blocks:
        populate_state(server, users, thread=False)
    if state == "full" and config in "CDE":
        populate_state(server, users, thread=True)


def enable_all(server, users):
    """COI enabled with message-filter=active for every user. The first
    user is enabled over IMAP (SETMETADATA, as a client does), which
    writes three rows of COI's state (the two settings, and the marker of
    the new, empty Contacts' index) and creates and subscribes COI/Chats
    and COI/Contacts. On SQL the others get the same rows and folders
    directly (one doveadm process, one SQL transaction): enabling 100 users
    over IMAP costs 100 dict commits with fsync, seconds per run. On the
    file backend (each user's own attribute file) each user is enabled
    over IMAP."""
    enable_coi(server, users[0], "active")
    rest = users[1:]
    if not rest:
        return
    if server.backend == "file":
        for user in rest:
            enable_coi(server, user, "active")
        return
    listing = os.path.join(server.dir, "bench-users")
    with open(listing, "w") as f:
        f.write("".join(u + "\n" for u in rest))
    r = server.doveadm("mailbox", "create", "-F", listing, "-s",
                       "COI/Chats", "COI/Contacts")
    if r.returncode != 0:
        raise RuntimeError(f"doveadm mailbox create: {r.stderr}")
    rows = server.sql(f"SELECT name, value FROM coi_config WHERE "
                      f"username = '{users[0]}'")
    if sorted(rows) != [("contacts-indexed", "1"), ("enabled", "yes"),
                        ("message-filter", "active")]:
        raise RuntimeError(f"enabling over IMAP wrote {rows}")
    sql_insert(server, "coi_config", ("username", "name", "value"),
               [(u, name, value) for u in rest for name, value in rows])


def sql_insert(server, table, columns, rows):
    """Insert rows into a table of the server's SQL backend in one
    transaction: executemany on SQLite, COPY through psql on
    PostgreSQL (the bench's values hold no tab, newline or backslash)."""
    if server.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(server.sqlite_db)) as db:
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                           f"VALUES ({', '.join('?' for _ in columns)})",
                           rows)
            db.commit()
        return
    assert server.backend == "postgresql", server.backend
    pg = postgresql()
    data = "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                        pg.dsn(server.pg_database), "-c",
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN"],
                       input=data, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"COPY {table}: {r.stderr}")


def state_rows(thread):
    """The full state of one user: {kind: [(name, value)]}: 10,000 block
    entries, 10,000 blocked-contact hashes, and with thread=True the whole
    thread index (coi_thread_index_size slots, its default 1000, each
    holding a chat's time and hash as COI writes them)."""
    now = int(time.time())
    out = {
        "blocked": [(f"blocked{i}@example.net", "yes")
                    for i in range(BLOCKED_ENTRIES)],
        "contact": [(hashlib.sha3_256(f"contact{i}@example.com".encode())
                     .hexdigest(), f"contact{i}")
                    for i in range(BLOCKED_CONTACTS)],
        "thread": [],
    }
    if thread:
        out["thread"] = [(str(i), f"{now} " + hashlib.sha256(
            f"<thread{i}@example.com>".encode()).hexdigest()[:32])
            for i in range(THREAD_SLOTS)]
    return out


# where each kind is kept without coi_state_dict (docs/admin-guide.md,
# "Where COI keeps its data"), below priv/<INBOX GUID>/
FILE_LAYOUT = {
    "blocked": "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/"
               "coi/blocked/",
    "contact": "vendor/vendor.dovecot/pvt/coi/blocked-hash/",
    "thread": "vendor/vendor.dovecot/pvt/coi/thread/",
}
SQL_TABLES = {"blocked": ("coi_blocked", "entry"),
              "contact": ("coi_contact", "hash"),
              "thread": ("coi_thread", "slot")}


def populate_state(server, users, thread=True):
    """A full state for each user, written where COI keeps it, the way
    COI writes it, not through 10,000 IMAP commands: 10,000 METADATA block
    entries, 10,000 blocked contacts (enabling COI created an empty
    Contacts with the marker that says the contacts index is complete:
    delivery then never reads the Contacts folder, so the bench writes no
    10,000 contact messages), and with thread=True a full thread index.
    On SQL: rows of coi_blocked, coi_contact and coi_thread
    (docs/sql-dict.md). On the file backend: lines of the user's
    attribute file (key line, value line). Written before any delivery,
    so no state snapshot predates them."""
    rows = state_rows(thread)
    if server.backend == "file":
        uid, gid = _mail_uid()
        for user in users:
            r = server.doveadm("mailbox", "status", "-u", user, "guid",
                               "INBOX")
            m = re.search(r"guid=([0-9a-f]{32})", r.stdout)
            if not m:
                raise RuntimeError(f"no INBOX GUID for {user}: {r.stderr}")
            prefix = f"priv/{m.group(1)}/"
            path = os.path.join(server.home(user), "dovecot-attributes")
            lines = [f"{prefix}{FILE_LAYOUT[kind]}{name}\n{value}\n"
                     for kind, kv in rows.items() for name, value in kv]
            with open(path, "a") as f:
                f.write("".join(lines))
            os.chown(path, uid, gid)
        return
    for kind, (table, column) in SQL_TABLES.items():
        if rows[kind]:
            sql_insert(server, table, ("username", column, "value"),
                       [(u, name, value) for u in users
                        for name, value in rows[kind]])


def log_errors(server):
    """Dovecot's error lines of a run. They do not stop the bench: the
    report lists them next to the figures they came with."""
    return server.log_lines_matching(r"(Error|Panic|Fatal): (?!==)")


def maildir_files(server, users):
    """(files, distinct inodes) of the messages in the users' maildirs."""
    files, inodes = 0, set()
    for user in users:
        for root, _, names in os.walk(os.path.join(server.home(user),
                                                   "Maildir")):
            if os.path.basename(root) not in ("cur", "new"):
                continue
            for name in names:
                st = os.stat(os.path.join(root, name))
                files += 1
                inodes.add((st.st_dev, st.st_ino))
    return files, len(inodes)


# -- the /proc process tree --------------------------------------------------

def _proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    comm = text[text.index("(") + 1:text.rindex(")")]
    rest = text[text.rindex(")") + 2:].split()
    return {"comm": comm, "ppid": int(rest[1]),
            "utime": int(rest[11]), "stime": int(rest[12]),
            "cutime": int(rest[13]), "cstime": int(rest[14]),
            "threads": int(rest[17])}


def _run_ns(pid, threads):
    """CPU time a live process has run, in ns (its schedstat: user and
    kernel time together, at nanosecond resolution)."""
    paths = ([f"/proc/{pid}/schedstat"] if threads == 1 else
             [f"/proc/{pid}/task/{t}/schedstat"
              for t in os.listdir(f"/proc/{pid}/task")])
    total = 0
    for path in paths:
        with open(path) as f:
            total += int(f.read().split()[0])
    return total


def process_tree(master):
    """{pid: stat} for the master and all its descendants."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stats[int(name)] = _proc_stat(name)
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = {}, [master]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in tree:
            tree[pid] = stats[pid]
            todo.extend(p for p, s in stats.items() if s["ppid"] == pid)
    return tree


def tree_cpu(master):
    """CPU seconds the Dovecot process tree has used so far, by process
    name: {name: (total, user, sys)}. A live process counts with its own
    time; a process that has exited counts under "exited children" through
    its parent's cutime/cstime (the master waits for every child it forks,
    so nothing is lost). Totals of live processes are at ns resolution
    (schedstat); user/sys and the exited children come in clock ticks."""
    out = {}
    for pid, s in process_tree(master).items():
        try:
            own = _run_ns(pid, s["threads"]) / 1e9
        except OSError:
            own = (s["utime"] + s["stime"]) / CLK_TCK
        for name, total, user, system in (
                (s["comm"], own, s["utime"], s["stime"]),
                ("exited children", (s["cutime"] + s["cstime"]) / CLK_TCK,
                 s["cutime"], s["cstime"])):
            t, u, y = out.get(name, (0.0, 0.0, 0.0))
            out[name] = (t + total, u + user / CLK_TCK, y + system / CLK_TCK)
    return out


def cpu_delta(before, after, n):
    """ms per delivery by process name, and the total user and sys ms."""
    per = {}
    user = system = 0.0
    for name, (t, u, y) in after.items():
        t0, u0, y0 = before.get(name, (0.0, 0.0, 0.0))
        if t - t0 > 0:
            per[name] = (t - t0) * 1000 / n
        user += (u - u0) * 1000 / n
        system += (y - y0) * 1000 / n
    return per, user, system


def lmtp_peak_rss_kb(master):
    """Largest VmHWM (peak resident set) over the live lmtp processes."""
    peak = 0
    for pid, s in process_tree(master).items():
        if s["comm"] != "lmtp":
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        except OSError:
            continue
        if m:
            peak = max(peak, int(m.group(1)))
    return peak


# -- part 1: callgrind --------------------------------------------------------

# glibc's malloc raises its mmap threshold the first time a large mmapped
# block is freed, and from then on large buffers come from the heap and
# calloc zeroes them with memset instead of getting fresh zero pages. When
# that happens depends on the process's history, which differs between
# configurations for reasons that have nothing to do with them: at 100 KB it
# moved C against D by 4% of the instructions. Under callgrind the
# threshold is pinned at its initial 128 KiB.
MALLOC_PIN = "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072"


def callgrind_conf(outdir):
    return f"""
service lmtp {{
  executable = /usr/bin/env {MALLOC_PIN} /usr/bin/valgrind -q \
--tool=callgrind --dump-before={DUMP_FUNCTION} \
--callgrind-out-file={outdir}/cg.%p /usr/lib/dovecot/lmtp
  service_count = 1
}}
"""


class CallgrindWindow:
    """One LMTP connection, and so one fresh lmtp process (service_count =
    1). The process dumps its counters each time it enters the NOOP
    handler, so a dump holds exactly the instructions run since the
    previous one."""

    def __init__(self, server, outdir):
        self.outdir = outdir
        self.seen = set(os.listdir(outdir))
        self.conn = Lmtp(server.lmtp_port)

    def dump(self):
        """Ir since the previous dump (or since the process started)."""
        self.conn.noop()
        new = [n for n in os.listdir(self.outdir)
               if n not in self.seen and re.fullmatch(r"cg\.\d+\.\d+", n)]
        if len(new) != 1:
            raise RuntimeError(f"expected one new callgrind dump in "
                               f"{self.outdir}, found {new}")
        self.seen.add(new[0])
        with open(os.path.join(self.outdir, new[0])) as f:
            m = re.search(r"^summary: (\d+)", f.read(), re.M)
        if not m:
            raise RuntimeError(f"no summary in {new[0]}")
        return int(m.group(1))

    def close(self):
        self.conn.close()


def cg_case_users(cases):
    """Each case gets users of its own: a user only ever receives chat or
    only mail, so a mailbox grows by the same count in every configuration
    (A files chat in the INBOX, C in Chats)."""
    out = []
    for i, case in enumerate(cases):
        names = [f"c{i}u{j}" for j in range(case["users"])]
        out.append(list(zip(names, chat_users(case["users"],
                                               case["mix"]))))
    return out


def rcpt_groups(size):
    """Two groups of recipients: one gets only chat, one only mail."""
    return ([f"rc{j}" for j in range(size)], [f"rm{j}" for j in range(size)])


def callgrind_run(config, cases, rcpt, backend="sqlite", state="empty"):
    """lmtp under callgrind. Each case gets a fresh lmtp process: its
    users' warm-up, a dump, the case's deliveries, a dump. A process's
    earlier work changes what later deliveries cost (glibc's calloc
    zeroes recycled heap memory but not fresh memory: after one
    50-recipient transaction, A's next deliveries cost 12% more), so no
    case runs after another in the same process. Returns {case index: Ir
    per delivery} and, for the recipients case, Ir per transaction and the
    maildir counts."""
    outdir = tempfile.mkdtemp(prefix="coi-bench-cg-")
    os.chmod(outdir, 0o777)
    case_users = cg_case_users(cases)
    users = [u for group in case_users for u, _ in group]
    groups = rcpt_groups(rcpt["size"]) if rcpt else ([], [])
    out = {}
    try:
        with bench_server(config, users + groups[0] + groups[1],
                          callgrind_conf(outdir), backend) as server:
            prepare(server, config, users, state=state)
            if groups[0]:
                prepare(server, config, groups[0] + groups[1], blocks=False)
            for i, case in enumerate(cases):
                win = CallgrindWindow(server, outdir)
                # warm-up: every user's mailbox exists and holds one
                # message of the kind it gets (indexes, Sieve binaries,
                # dict rows), and the process has done its first delivery
                for user, chat in case_users[i]:
                    win.conn.deliver([user], message(2 * KB, chat))
                win.dump()
                n = 0
                for _ in range(case["per_user"]):
                    for user, chat in case_users[i]:
                        win.conn.deliver([user], message(case["size"], chat))
                        n += 1
                out[i] = win.dump() / n
                win.close()
            if groups[0]:
                win = CallgrindWindow(server, outdir)
                for group, chat in zip(groups, (True, False)):
                    win.conn.deliver(group, message(2 * KB, chat))
                win.dump()
                for t in range(rcpt["transactions"]):
                    win.conn.deliver(groups[t % 2],
                                     message(rcpt["msg_size"], t % 2 == 0))
                out["rcpt"] = win.dump() / rcpt["transactions"]
                win.close()
                out["rcpt_chat_files"] = maildir_files(server, groups[0])
                out["rcpt_mail_files"] = maildir_files(server, groups[1])
            out["errors"] = log_errors(server)
    finally:
        if CG_KEEP[0]:
            # the dumps, for callgrind_annotate (--cg-keep)
            keep = os.path.join(CG_KEEP[0], f"{config}-{backend}-{state}")
            subprocess.run(["rm", "-rf", keep])
            shutil.copytree(outdir, keep)
        subprocess.run(["rm", "-rf", outdir])
    return out


CG_KEEP = [None]


# -- part 2: throughput, CPU and RSS -----------------------------------------

def run_load(conns, jobs, fixed=False):
    """Deliver jobs [(rcpts, data)] on the connections in parallel, each
    thread taking the next job (fixed: job j on connection j mod K);
    returns the wall time."""
    lock = threading.Lock()
    it = iter(jobs)
    errors = []

    def worker(k):
        try:
            if fixed:
                for job in jobs[k::len(conns)]:
                    conns[k].deliver(*job)
                return
            while True:
                with lock:
                    job = next(it, None)
                if job is None:
                    return
                conns[k].deliver(*job)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,))
               for k in range(len(conns))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    if errors:
        raise errors[0]
    return wall


def throughput_run(config, case, conns_n, backend="sqlite"):
    """A fresh Dovecot, not under valgrind. Returns the figures of one run:
    deliveries per second, CPU per delivery of the process tree, peak RSS
    of lmtp, and for the recipients case the maildir counts."""
    extra = "mail_fsync = never\n" if case["fsync"] == "never" else ""
    if case.get("rcpts"):
        groups = rcpt_groups(case["rcpts"])
        users = groups[0] + groups[1]
        warm = [(groups[k % 2], message(2 * KB, k % 2 == 0))
                for k in range(max(2, conns_n))]
        jobs = [(groups[t % 2], message(case["size"], t % 2 == 0))
                for t in range(case["transactions"])]
    else:
        users = [f"t{j}" for j in range(case["users"])]
        kinds = chat_users(case["users"], case["mix"])
        warm = [([u], message(2 * KB, c)) for u, c in zip(users, kinds)]
        jobs = [([u], message(case["size"], c))
                for _ in range(case["per_user"])
                for u, c in zip(users, kinds)]
    with bench_server(config, users, extra, backend) as server:
        prepare(server, config, users, blocks=not case.get("rcpts"))
        conns = [Lmtp(server.lmtp_port) for _ in range(conns_n)]
        # the warm-up also runs the first delivery of each lmtp process
        # (one per connection); they stay for the whole run (lmtp's
        # service_count = 0)
        run_load(conns, warm, fixed=True)
        master = server.proc.pid
        cpu0 = tree_cpu(master)
        wall = run_load(conns, jobs)
        cpu1 = tree_cpu(master)
        rss = lmtp_peak_rss_kb(master)
        files = maildir_files(server, users)
        for c in conns:
            c.close()
        errors = log_errors(server)
    n = len(jobs)
    per, user, system = cpu_delta(cpu0, cpu1, n)
    return {"rate": n / wall, "cpu_ms": sum(per.values()), "by_proc": per,
            "sys_share": system / max(1e-9, user + system),
            "rss_kb": rss, "files": files, "n": n, "wall": wall,
            "errors": errors}


# -- part 3: every backend, empty and full state -----------------------------

def pg_cpu():
    """CPU seconds of the session's PostgreSQL so far (the postmaster and
    every backend process), or 0 when it is not running: on the
    postgresql backend the SQL work happens there, outside Dovecot's
    process tree."""
    if not _pg_started():
        return 0.0
    pid = postgresql().postmaster_pid()
    if pid is None:
        return 0.0
    return sum(t for t, _, _ in tree_cpu(pid).values())


def _pg_started():
    import harness
    return bool(harness._postgresql)


LISTING = ('GETMETADATA (DEPTH 1) "" '
           '/private/vendor/vendor.dovecot/coi/blocked')


def listing_run(backend, reps):
    """CPU time of listing 10,000 block entries over IMAP, on one user
    with the full state: GETMETADATA (DEPTH 1) of the block list. Each
    repetition is one IMAP session; the CPU is measured around the
    command alone: the imap process, the whole Dovecot tree (dict
    service included) and, on PostgreSQL, the database server."""
    users = ["l0"]
    out = {"imap_s": [], "tree_s": [], "pg_s": [], "wall_s": [],
           "entries": None, "status": None}
    with bench_server("C", users, backend=backend) as server:
        prepare(server, "C", users, state="full")
        master = server.proc.pid
        for _ in range(reps):
            conn = login(server, users[0])
            imap = [p for p, st in process_tree(master).items()
                    if st["comm"] == "imap"]
            if len(imap) != 1:
                raise RuntimeError(f"expected one imap process, {imap}")
            pid = imap[0]
            i0 = _run_ns(pid, 1)
            t0, g0, w0 = tree_cpu(master), pg_cpu(), time.monotonic()
            status, text, untagged = imap_command(conn, LISTING)
            w1, t1, g1 = time.monotonic(), tree_cpu(master), pg_cpu()
            i1 = _run_ns(pid, 1)
            imap_command(conn, "LOGOUT")
            conn.close()
            out["imap_s"].append((i1 - i0) / 1e9)
            out["tree_s"].append(sum(v[0] for v in t1.values()) -
                                 sum(v[0] for v in t0.values()))
            out["pg_s"].append(g1 - g0)
            out["wall_s"].append(w1 - w0)
            out["status"] = text[:200]
            out["entries"] = sum(line.count("/coi/blocked/")
                                 for line in untagged)
        out["errors"] = log_errors(server)
    return out


# -- plan ---------------------------------------------------------------------

def plan(args):
    quick = args.quick
    sizes = [int(s) * KB for s in args.sizes.split(",")]
    mixes = [int(m) / 100 for m in args.mixes.split(",")]
    main_size = 2 * KB if 2 * KB in sizes else sizes[0]
    main_mix = 0.5 if 0.5 in mixes else mixes[0]

    def cg_shape(size):
        # users x messages per user: fewer, bigger messages at 1 MB
        if quick:
            return 2, 3
        if size <= 16 * KB:
            return 4, 5
        if size <= 256 * KB:
            return 2, 5
        return 2, 2

    cg_cases = []
    for size in sizes:
        for mix in mixes:
            if quick and (size, mix) != (main_size, main_mix):
                continue
            u, m = cg_shape(size)
            users = u if mix in (0.0, 1.0) or u % 2 == 0 else u + 1
            cg_cases.append({"size": size, "mix": mix, "users": users,
                             "per_user": m})
    cg_rcpt = None if quick else {"size": args.rcpts, "transactions": 2,
                                  "msg_size": main_size}

    def tp_shape(size):
        n = args.messages if args.messages else (
            60 if quick else
            1000 if size <= 16 * KB else 300 if size <= 256 * KB else 60)
        users = max(args.conns, min(4 if quick else 20, n))
        return users, max(1, n // users)

    def tp_case(size, mix, fsync):
        users, per_user = tp_shape(size)
        return {"size": size, "mix": mix, "fsync": fsync, "users": users,
                "per_user": per_user}

    # both mail_fsync modes at the main point, the sweeps with "never"
    tp_cases = [tp_case(main_size, main_mix, "default"),
                tp_case(main_size, main_mix, "never")]
    if not quick:
        tp_cases += [tp_case(main_size, mix, "never") for mix in mixes
                     if mix != main_mix]
        tp_cases += [tp_case(size, main_mix, "never") for size in sizes
                     if size != main_size]
    tp_cases.append({"size": main_size, "mix": 0.5, "fsync": "never",
                     "rcpts": args.rcpts,
                     "transactions": 4 if quick else 20})
    return cg_cases, cg_rcpt, tp_cases


def case_name(case):
    if case.get("rcpts"):
        return (f"{case['rcpts']} recipients, {case['size'] // KB} KB, "
                f"chat and mail alternating, fsync {case['fsync']}")
    s = f"{size_name(case['size'])}, {case['mix']:.0%} chat"
    if "fsync" in case:
        s += f", mail_fsync {case['fsync']}"
    return s


def size_name(size):
    return f"{size // (KB * KB)} MB" if size >= KB * KB else \
        f"{size // KB} KB"


def log(msg):
    print(msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small N, one repetition, 2 KB 50%% chat only: a "
                         "smoke run (under 2 minutes)")
    ap.add_argument("--configs", default="ABCDE",
                    help="configurations to run (default ABCDE; A is "
                         "always added, ratios need it)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of each throughput run (default 3, "
                         "quick 1)")
    ap.add_argument("--cg-reps", type=int, default=None,
                    help="repetitions of each callgrind run (default 2, "
                         "quick 1; Ir varies by about 1%%)")
    ap.add_argument("--sizes", default=None,
                    help="message sizes in KB (default 2,100,1024)")
    ap.add_argument("--mixes", default=None,
                    help="chat shares in %% (default 0,50,100)")
    ap.add_argument("--conns", type=int, default=4,
                    help="parallel LMTP connections of the load generator")
    ap.add_argument("--messages", type=int, default=None,
                    help="messages per throughput run (default by size: "
                         "1000 at 2 KB, 300 at 100 KB, 60 at 1 MB)")
    ap.add_argument("--rcpts", type=int, default=None,
                    help="recipients of the multi-recipient transactions "
                         "(default 50, quick 10)")
    ap.add_argument("--parts", default="callgrind,throughput",
                    help="callgrind, throughput or both; or the backend "
                         "comparison: backends (callgrind of A and of C on "
                         "each backend and state), listing (GETMETADATA of "
                         "10,000 block entries), backends-throughput (A "
                         "and C on PostgreSQL)")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="backends of C in the backends parts (default "
                         "file,sqlite,postgresql)")
    ap.add_argument("--states", default=",".join(STATES),
                    help="user states of C in the backends part: empty, "
                         "full (10,000 block entries, 10,000 contacts, a "
                         "full thread index)")
    ap.add_argument("--cg-keep", default=None,
                    help="keep the callgrind dumps of each run in this "
                         "directory (CONFIG-BACKEND-STATE/cg.PID.N), for "
                         "callgrind_annotate")
    ap.add_argument("--notes", default=None,
                    help="a Markdown file whose text goes into the report "
                         "as its Notes section (profiles of missed "
                         "targets)")
    ap.add_argument("--out", default=None,
                    help="report path (default bench/results/latest.md, "
                         "quick: a temporary directory); the chart goes "
                         "next to it with .png")
    args = ap.parse_args()
    if args.sizes is None:
        args.sizes = "2" if args.quick else "2,100,1024"
    if args.mixes is None:
        args.mixes = "50" if args.quick else "0,50,100"
    args.reps = args.reps or (1 if args.quick else 3)
    args.rcpts = args.rcpts or (10 if args.quick else 50)
    args.cg_reps = args.cg_reps or (1 if args.quick else 2)
    if "A" not in args.configs:
        args.configs = "A" + args.configs
    if args.out is None:
        args.out = (os.path.join(tempfile.mkdtemp(prefix="coi-bench-"),
                                 "quick.md") if args.quick else
                    os.path.join(HERE, "results", "latest.md"))
    parts = args.parts.split(",")
    CG_KEEP[0] = args.cg_keep
    cg_cases, cg_rcpt, tp_cases = plan(args)
    started = time.monotonic()
    res = {"cg": {}, "cg_rcpt": {}, "tp": {}, "errors": [], "failed": [],
           "be": {}, "listing": {}, "be_tp": {}}
    import report  # noqa: E402 (bench/report.py)

    def attempt(what, run):
        """One run; a run that fails is recorded and the bench goes on.
        The raw figures so far are saved after every run."""
        try:
            out = run()
        except Exception as e:  # recorded in the report
            log(f"{what}: FAILED: {e}")
            res["failed"].append(f"{what}: {e}")
            out = None
        if out and out["errors"]:
            res["errors"].append([what, len(out["errors"]),
                                  out["errors"][:3]])
        report.save_progress(args, res, cg_cases, cg_rcpt, tp_cases,
                             time.monotonic() - started)
        return out

    if "callgrind" in parts:
        for rep in range(args.cg_reps):
            # alternate configurations run by run: A B C D E A B C D E ...
            for config in args.configs:
                t0 = time.monotonic()
                rc = cg_rcpt if config != "D" else None
                out = attempt(f"callgrind {config} rep {rep + 1}",
                              lambda: callgrind_run(config, cg_cases, rc))
                if out is None:
                    continue
                for i, case in enumerate(cg_cases):
                    res["cg"].setdefault((config, i), []).append(out[i])
                if "rcpt" in out:
                    res["cg_rcpt"].setdefault(config, []).append(out)
                log(f"callgrind {config} rep {rep + 1}: " + ", ".join(
                    f"{case_name(c)} {out[i]:,.0f}"
                    for i, c in enumerate(cg_cases)) +
                    (f", {cg_rcpt['size']} rcpts {out['rcpt']:,.0f}/tx"
                     if "rcpt" in out else "") +
                    f" ({time.monotonic() - t0:.0f} s)")
    if "throughput" in parts:
        for ci, case in enumerate(tp_cases):
            for rep in range(args.reps):
                for config in args.configs:
                    if case.get("rcpts") and config == "D":
                        continue
                    what = (f"throughput {config} {case_name(case)} rep "
                            f"{rep + 1}")
                    r = attempt(what, lambda: throughput_run(config, case,
                                                             args.conns))
                    if r is None:
                        continue
                    r["rep"] = rep
                    res["tp"].setdefault((config, ci), []).append(r)
                    log(f"{what}: {r['rate']:.0f}/s, "
                        f"{r['cpu_ms']:.2f} ms CPU, "
                        f"RSS {r['rss_kb']} kB, files/inodes "
                        f"{r['files'][0]}/{r['files'][1]}"
                        + (f", {len(r['errors'])} errors logged"
                           if r["errors"] else ""))
    backends_parts(args, parts, res, attempt)
    elapsed = time.monotonic() - started
    report.write(args, res, cg_cases, cg_rcpt, tp_cases, elapsed)


def backends_case(quick):
    """The one case of the backend comparison: 2 KB at 50% chat."""
    users, per_user = (2, 3) if quick else (4, 5)
    return {"size": 2 * KB, "mix": 0.5, "users": users,
            "per_user": per_user}


def backends_parts(args, parts, res, attempt):
    """Part 3: C with its state on each backend, empty and full, against
    A, under callgrind (2 KB, 50% chat, message-filter=active); the CPU of
    listing 10,000 block entries on each backend; and throughput of A and
    of C on PostgreSQL."""
    backends = [b for b in args.backends.split(",") if b]
    states = [x for x in args.states.split(",") if x]
    case = backends_case(args.quick)
    if "backends" in parts:
        runs = [("A", "file", "empty")] + [("C", b, st) for b in backends
                                           for st in states]
        for rep in range(args.cg_reps):
            for config, backend, state in runs:
                t0 = time.monotonic()
                what = f"callgrind {config} {backend} {state} rep {rep + 1}"
                out = attempt(what, lambda: callgrind_run(
                    config, [case], None, backend, state))
                if out is None:
                    continue
                res["be"].setdefault((config, backend, state),
                                     []).append(out[0])
                log(f"{what}: {out[0]:,.0f} Ir per delivery "
                    f"({time.monotonic() - t0:.0f} s)")
    if "listing" in parts:
        for backend in backends:
            what = f"listing {backend}"
            out = attempt(what, lambda: listing_run(backend, 3))
            if out is None:
                continue
            res["listing"][backend] = out
            log(f"{what}: {out['entries']} entries, imap "
                f"{min(out['imap_s']):.3f}-{max(out['imap_s']):.3f} s, "
                f"tree {min(out['tree_s']):.3f}-{max(out['tree_s']):.3f} "
                f"s, postgresql {max(out['pg_s']):.3f} s, {out['status']}")
    if "backends-throughput" in parts:
        users = max(args.conns, 4 if args.quick else 20)
        n = args.messages or (60 if args.quick else 1000)
        tcase = {"size": 2 * KB, "mix": 0.5, "fsync": "default",
                 "users": users, "per_user": max(1, n // users)}
        res["be_tp_case"] = tcase
        for rep in range(args.reps):
            for config, backend in (("A", "file"), ("C", "postgresql")):
                what = f"throughput {config} {backend} rep {rep + 1}"
                r = attempt(what, lambda: throughput_run(
                    config, tcase, args.conns, backend))
                if r is None:
                    continue
                r["rep"] = rep
                res["be_tp"].setdefault((config, backend), []).append(r)
                log(f"{what}: {r['rate']:.0f}/s, {r['cpu_ms']:.2f} ms CPU")


if __name__ == "__main__":
    main()
