"""dovecot-coi benchmark: what COI costs at delivery, measured side by side
with plain Dovecot and the Sieve equivalent. See bench/README.md.

The figure we steer by is instructions per delivery in the lmtp process,
under valgrind --tool=callgrind: deterministic on a noisy machine. Each
measurement runs lmtp with service_count = 1, delivers N1 messages on one
connection and N2 on another, and reports (Ir(N2) - Ir(N1)) / (N2 - N1), so
start-up and teardown cancel out."""
import argparse
import datetime
import glob
import hashlib
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from harness import (DovecotServer, _mail_uid, built_plugin,  # noqa: E402
                     enable_coi, make_message)

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


def callgrind_conf(outdir):
    return f"""
service lmtp {{
  executable = /usr/bin/valgrind -q --tool=callgrind --callgrind-out-file={outdir}/cg.%p /usr/lib/dovecot/lmtp
  service_count = 1
}}
"""


class Bench:
    def __init__(self, config, outdir):
        self.config = config
        self.outdir = outdir
        self.user = "bench"

    def server(self):
        coi = self.config in "CDE"
        sieve = self.config in "BE"
        plugins = []
        if coi:
            plugins = [built_plugin("imap_coi"), built_plugin("lmtp_coi")]
        lmtp = " ".join((["sieve"] if sieve else []) +
                        (["lmtp_coi"] if coi else []))
        settings = {}
        if sieve:
            settings["sieve"] = "file:~/sieve;active=~/.dovecot.sieve"
        return DovecotServer(
            users=[self.user], plugin_paths=plugins,
            imap_mail_plugins="imap_coi" if coi else "",
            lmtp_mail_plugins=lmtp, plugin_settings=settings,
            attribute_dict="sqlite",
            extra_conf=callgrind_conf(self.outdir))

    def prepare(self, server):
        uid, gid = _mail_uid()
        home = server.home(self.user)
        os.makedirs(home, exist_ok=True)
        os.chown(home, uid, gid)
        if self.config in "BE":
            with open(f"{home}/.dovecot.sieve", "w") as f:
                f.write(SIEVE_RULE if self.config == "B" else SIEVE_KEEP)
            os.chown(f"{home}/.dovecot.sieve", uid, gid)
        if self.config in "CDE":
            enable_coi(server, self.user, "active")
        if self.config == "D":
            populate_blocks(server, self.user, 10000, 10000)


def inbox_guid(server, user):
    r = server.doveadm("-f", "tab", "mailbox", "status", "-u", user,
                       "guid", "INBOX")
    # the mailbox name comes first, then the GUID
    return r.stdout.splitlines()[1].split("\t")[-1].strip()


def populate_blocks(server, user, entries, contacts):
    """10,000 METADATA entries and 10,000 blocked contacts, written the way
    COI keeps them (rows of the SQL dict, messages in the Contacts maildir),
    so that setting up does not take longer than the measurement."""
    uid, gid = _mail_uid()
    guid = inbox_guid(server, user)
    cdir = os.path.join(server.home(user), "Maildir", ".COI.Contacts", "cur")
    hashes = []
    for i in range(contacts):
        h = hashlib.sha3_256(f"contact{i}@example.com".encode()).hexdigest()
        hashes.append((h, f"contact{i}"))
        path = os.path.join(cdir, f"{1700000000 + i}.M{i}P1.bench:2,")
        with open(path, "w") as f:
            f.write(f"From: {user}@example.org\r\nSubject: Contact\r\n"
                    f"Chat-Content: contact\r\nCOI-From-Hash: {h}\r\n"
                    f"COI-Blocked: yes\r\n\r\ncontact\r\n")
        os.chown(path, uid, gid)
    with sqlite3.connect(server.sqlite_db) as db:
        db.executemany(
            "INSERT INTO coi_blocked (username, guid, entry, value) "
            "VALUES (?, ?, ?, 'yes')",
            [(user, guid, f"blocked{i}@example.net")
             for i in range(entries)])
        db.executemany(
            "INSERT INTO coi_blocked_hash (username, guid, hash, value) "
            "VALUES (?, ?, ?, ?)", [(user, guid, h, g) for h, g in hashes])
        # the index is complete: no rebuild (which would read 10,000
        # contacts under valgrind)
        db.execute("INSERT INTO coi_blocked_hash_indexed (username, guid, "
                   "value) VALUES (?, ?, '1')", (user, guid))


def messages_for(n, size, chat_ratio):
    body = ("x" * 76 + "\r\n") * max(1, size // 78)
    out = []
    for i in range(n):
        chat = (i * chat_ratio) % 1.0 + chat_ratio >= 1.0 if chat_ratio \
            else False
        _, msg = make_message(chat_version="1.0" if chat else None,
                              body=body, sender="friend@example.org")
        out.append(msg)
    return out


def deliver_batch(server, user, msgs):
    with server.lmtp() as conn:
        for msg in msgs:
            conn.sendmail("friend@example.org", [user], msg)


def ir_of_new_file(outdir, before, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = set(glob.glob(f"{outdir}/cg.*")) - before
        for path in new:
            with open(path) as f:
                text = f.read()
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if m:
                return int(m.group(1)), new
        time.sleep(0.2)
    raise RuntimeError("no callgrind output")


def measure(config, n1, n2, size, chat_ratio):
    outdir = tempfile.mkdtemp(prefix="coi-bench-cg-")
    os.chmod(outdir, 0o777)
    bench = Bench(config, outdir)
    try:
        with bench.server() as server:
            bench.prepare(server)
            # warm up: the first delivery creates the mailboxes and, in D,
            # rebuilds the contact index
            seen = set(glob.glob(f"{outdir}/cg.*"))
            deliver_batch(server, bench.user, messages_for(2, size, 0.5))
            _, new = ir_of_new_file(outdir, seen)
            seen |= new
            time.sleep(0.5)
            seen = set(glob.glob(f"{outdir}/cg.*"))
            deliver_batch(server, bench.user,
                          messages_for(n1, size, chat_ratio))
            ir1, new = ir_of_new_file(outdir, seen)
            seen |= new
            deliver_batch(server, bench.user,
                          messages_for(n2, size, chat_ratio))
            ir2, new = ir_of_new_file(outdir, seen)
            errors = server.log_lines_matching(r"(Error|Panic|Fatal): "
                                               r"(?!==)")
            if errors:
                raise RuntimeError("\n".join(errors[:5]))
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return (ir2 - ir1) / (n2 - n1)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True,
                             text=True).stdout.strip()
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({cpu}), "
            f"{platform.platform()}, Dovecot {dovecot}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small N, one repetition: a smoke run")
    ap.add_argument("--configs", default="ABCDE")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results",
                                                  "latest.md"))
    args = ap.parse_args()
    n1, n2 = (2, 12) if args.quick else (5, 45)
    reps = args.reps or (1 if args.quick else 3)

    # size, chat ratio: the sweeps
    cases = [(2048, 0.5)] if args.quick else [
        (2048, 0.5), (2048, 0.0), (2048, 1.0), (102400, 0.5),
        (1048576, 0.5)]
    results = {}
    for size, ratio in cases:
        for rep in range(reps):
            # alternate configurations run by run: A B C D E A B C D E ...
            for config in args.configs:
                if config == "D" and (size, ratio) != (2048, 0.5):
                    continue
                ir = measure(config, n1, n2, size, ratio)
                results.setdefault((config, size, ratio), []).append(ir)
                print(f"{config} size={size} chat={ratio:.0%} rep={rep}: "
                      f"{ir:,.0f} Ir/delivery", flush=True)
    write_report(args, results, cases, n1, n2, reps)


def fmt(n):
    return f"{n:,.0f}"


def write_report(args, results, cases, n1, n2, reps):
    def med(key):
        v = sorted(results[key])
        return v[len(v) // 2]

    now = datetime.datetime.now(datetime.timezone.utc)
    lines = ["# dovecot-coi benchmark results", "",
             f"Run {now:%Y-%m-%d %H:%M} UTC on {machine()}.", "",
             f"Command: `bench/run{' --quick' if args.quick else ''}` "
             f"(N1={n1}, N2={n2}, {reps} repetition(s), configurations "
             "alternated run by run).", "",
             "## Instructions per delivery in the lmtp process (callgrind)",
             "", "Median, with min and max over the repetitions; the ratio "
             "is to A in the same run.", ""]
    for size, ratio in cases:
        lines += [f"### {size // 1024} KB, {ratio:.0%} chat", "",
                  "| config | what | Ir/delivery (median) | min | max | "
                  "ratio to A |", "| --- | --- | --- | --- | --- | --- |"]
        base = med(("A", size, ratio)) if ("A", size, ratio) in results \
            else None
        for config in args.configs:
            key = (config, size, ratio)
            if key not in results:
                continue
            m = med(key)
            ratio_s = f"{m / base:.3f}" if base else "-"
            lines.append(f"| {config} | {CONFIGS[config]} | {fmt(m)} | "
                         f"{fmt(min(results[key]))} | "
                         f"{fmt(max(results[key]))} | {ratio_s} |")
        lines.append("")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
