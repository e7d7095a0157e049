"""The Markdown report and the PNG chart of a bench run (bench/bench.py).
bench/README.md explains every figure.

Every run also saves its raw figures next to the report (.json). To write
the report and chart again from them, for example with notes added:

    python3 bench/report.py bench/results/latest.json --notes notes.md
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

from bench import CONFIGS, KB, LISTING, case_name, size_name

# the targets of issue 5, checked by reading the report, never by a test
T_C_IR = 1.03        # C <= 1.03 x A instructions (2 KB, 50% chat)
T_D_IR = 1.05        # D <= 1.05 x C
T_C_RATE = 0.97      # throughput C >= 0.97 x A
T_FLAT = 1.10        # (C - A) at 1 MB <= 1.10 x (C - A) at 2 KB
# the targets of issue 14, for the backend comparison
T_BE_IR = 1.05       # C <= 1.05 x A on every backend
T_FULL = 1.05        # full state within 5% of the empty one
T_LIST_S = 0.2       # listing 10,000 block entries: under 0.2 s of CPU
T_BE_RATE = 0.90     # throughput C >= 0.90 x A (4 connections)


def med(values):
    return statistics.median(values)


def fmt_ir(n):
    return f"{n:,.0f}"


def machine():
    cpu = "unknown"
    mem_kb = 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True,
                             text=True).stdout.strip()
    return [("CPU", f"{cpu}, {os.cpu_count()} cores"),
            ("RAM", f"{mem_kb / 1024 / 1024:.1f} GiB"),
            ("kernel", f"{platform.system()} {platform.release()}"),
            ("OS", _os_release()),
            ("Dovecot", dovecot),
            ("load average at the end", " ".join(
                f"{x:.2f}" for x in os.getloadavg()))]


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def fr(x):
    return "-" if x is None else f"{x:.2f}"


def met(ok):
    return "**met**" if ok else "**missed**"


class Report:
    def __init__(self, args, res, cg_cases, cg_rcpt, tp_cases, elapsed,
                 meta):
        self.meta = meta
        self.args = args
        self.res = res
        self.cg_cases = cg_cases
        self.cg_rcpt = cg_rcpt
        self.tp_cases = tp_cases
        self.elapsed = elapsed
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |",
                 "| " + " | ".join("---" for _ in header) + " |")
        for row in rows:
            self.add("| " + " | ".join(str(c) for c in row) + " |")
        self.add("")

    # -- lookups ----------------------------------------------------------

    def cg_index(self, size, mix):
        for i, c in enumerate(self.cg_cases):
            if c["size"] == size and abs(c["mix"] - mix) < 1e-9:
                return i
        return None

    def cg(self, config, i):
        v = self.res["cg"].get((config, i))
        return med(v) if v else None

    def tp_index(self, **want):
        for i, c in enumerate(self.tp_cases):
            if all(c.get(k) == v for k, v in want.items()):
                return i
        return None

    def tp(self, config, i):
        return self.res["tp"].get((config, i))

    def tp_ratio(self, config, i, key):
        """Median over repetitions of X/A, each X run paired with the A run
        of the same repetition (they ran next to each other)."""
        xs, base = self.tp(config, i), self.tp("A", i)
        if not xs or not base:
            return None
        by_rep = {a.get("rep"): a for a in base}
        ratios = [x[key] / by_rep[x.get("rep")][key] for x in xs
                  if x.get("rep") in by_rep]
        return med(ratios) if ratios else None

    # -- sections ---------------------------------------------------------

    def header(self):
        a = self.args
        cmd = self.meta["command"]
        self.add("# dovecot-coi benchmark results", "",
                 "What COI costs at delivery, next to plain Dovecot (A) and "
                 "the Sieve rule an admin would otherwise use (B). "
                 "[bench/README.md](../README.md) explains how to read "
                 "every figure.", "")
        self.table(["", ""], [("date", self.meta["date"])] +
                   [tuple(m) for m in self.meta["machine"]] + [
                       ("command", f"`{cmd}`"),
                       ("run time", f"{self.elapsed / 60:.1f} min"),
                       ("repetitions", f"callgrind {a.cg_reps}, "
                                       f"throughput {a.reps}"),
                       ("load generator", f"{a.conns} parallel LMTP "
                                          "connections (threads, pipelined "
                                          "LMTP)")])
        self.add("Configurations:", "")
        self.table(["config", "what"],
                   [(c, CONFIGS[c]) for c in self.args.configs])

    def targets(self):
        self.add("## Targets of issue 5", "",
                 "Read from this run; no test asserts them. For orientation, "
                 "the issue measured the Sieve rule (B) at about 1.24x A's "
                 "instructions per 2 KB delivery at a 50% chat mix, and "
                 "Dovecot's old reference COI plugin at 1.10-1.13x.", "")
        rows = []
        i = self.cg_index(2 * KB, 0.5)
        a, b, c, d, e = (self.cg(x, i) if i is not None else None
                         for x in "ABCDE")
        if a and c:
            rows.append(("C <= 1.03x A instructions per delivery "
                         "(2 KB, 50% chat)", f"{c / a:.3f}x",
                         met(c / a <= T_C_IR)))
        if c and d:
            rows.append(("D <= 1.05x C instructions per delivery",
                         f"{d / c:.3f}x", met(d / c <= T_D_IR)))
        if b and e:
            rows.append(("E no more than B (instructions per delivery)",
                         f"E/B = {e / b:.3f}", met(e <= b)))
        for fsync in ("default", "never"):
            j = self.tp_index(size=2 * KB, mix=0.5, fsync=fsync, users=(
                self.tp_cases[0]["users"]))
            r = self.tp_ratio("C", j, "rate") if j is not None else None
            if r is not None:
                rows.append((f"throughput C >= 0.97x A (2 KB, 50% chat, "
                             f"mail_fsync {fsync})", f"{r:.3f}x",
                             met(r >= T_C_RATE)))
        small, big = self.cg_index(2 * KB, 0.5), self.cg_index(KB * KB, 0.5)
        if small is not None and big is not None and \
                None not in (self.cg("C", small), self.cg("A", small),
                             self.cg("C", big), self.cg("A", big)):
            s_add = self.cg("C", small) - self.cg("A", small)
            b_add = self.cg("C", big) - self.cg("A", big)
            rows.append(("cost added per message (C - A) flat from 2 KB to "
                         "1 MB (at 1 MB <= 1.10x that at 2 KB, "
                         "instructions, 50% chat)",
                         f"{fmt_ir(s_add)} -> {fmt_ir(b_add)} "
                         f"({b_add / s_add:.2f}x)",
                         met(b_add <= T_FLAT * s_add)))
        links = self.hardlinks()
        coi = [x for x in links if x[0] in "CDE"]
        if coi:
            rows.append(("hard links kept where A keeps them, with COI "
                         f"({self.cg_rcpt['size']} recipients, one "
                         "transaction)",
                         "; ".join(f"{c}: {v}" for c, v, _ in links),
                         met(all(ok for _, _, ok in coi))))
        self.table(["target", "this run", ""], rows)

    def hardlinks(self):
        """[(config, text, ok)]: inodes per group against A's."""
        rc = self.res["cg_rcpt"]
        if "A" not in rc:
            return []
        out = []
        for config in self.args.configs:
            if config == "A" or config not in rc:
                continue
            ok = True
            for key in ("rcpt_chat_files", "rcpt_mail_files"):
                ok &= rc[config][0][key][1] <= rc["A"][0][key][1]
            out.append((config, "kept" if ok else "lost", ok))
        return out

    def callgrind(self):
        if not self.res["cg"]:
            return
        self.add("## 1. Instructions per delivery in the lmtp process "
                 "(callgrind)", "",
                 "Median over the repetitions; the ratio is to A in this "
                 "run. Min and max of every figure are in the appendix.", "")
        sizes = sorted({c["size"] for c in self.cg_cases})
        mixes = sorted({c["mix"] for c in self.cg_cases})
        for size in sizes:
            self.add(f"### {size_name(size)}", "")
            header = ["config"]
            for mix in mixes:
                header += [f"{mix:.0%} chat", "x A"]
            rows = []
            for config in self.args.configs:
                row = [config]
                for mix in mixes:
                    i = self.cg_index(size, mix)
                    v, a = (self.cg(config, i), self.cg("A", i)) \
                        if i is not None else (None, None)
                    row += ([fmt_ir(v), f"{v / a:.3f}"] if v and a
                            else ["-", "-"])
                rows.append(row)
            self.table(header, rows)
        if len(sizes) > 1:
            self.add("### Added cost per delivery by size (X - A, "
                     "instructions)", "",
                     "Flat means the plugin does not read the body: the "
                     "last column is the added cost at the largest size "
                     "over that at the smallest.", "")
            for mix in mixes:
                header = ["config"] + [size_name(s) for s in sizes] + [
                    f"{size_name(sizes[-1])} / {size_name(sizes[0])}"]
                rows = []
                for config in self.args.configs:
                    if config == "A":
                        continue
                    adds = []
                    for size in sizes:
                        i = self.cg_index(size, mix)
                        if i is None or not self.cg(config, i):
                            adds.append(None)
                        else:
                            adds.append(self.cg(config, i) -
                                        self.cg("A", i))
                    row = [config] + [fmt_ir(x) if x is not None else "-"
                                      for x in adds]
                    row.append(f"{adds[-1] / adds[0]:.2f}"
                               if None not in (adds[0], adds[-1])
                               and adds[0] > 0 else "-")
                    rows.append(row)
                self.add(f"{mix:.0%} chat:", "")
                self.table(header, rows)
        self.recipients_cg()

    def recipients_cg(self):
        rc = self.res["cg_rcpt"]
        if not rc:
            return
        n = self.cg_rcpt["size"]
        i = self.cg_index(self.cg_rcpt["msg_size"], 0.5)
        self.add(f"### One message to {n} recipients in one transaction",
                 "", f"Transactions alternate between a group of {n} users "
                 f"that gets chat and a group of {n} that gets mail "
                 f"({size_name(self.cg_rcpt['msg_size'])}). Files and "
                 "inodes are counted in the recipients' maildirs after "
                 "the run (warm-up included): one inode per message means "
                 "every recipient's copy is a hard link of the first. D "
                 "is left out here (see the README).", "")
        rows = []
        for config in self.args.configs:
            if config not in rc:
                continue
            per_tx = med([r["rcpt"] for r in rc[config]])
            one = self.cg(config, i) if i is not None else None
            r0 = rc[config][0]
            cf, ci = r0["rcpt_chat_files"]
            mf, mi = r0["rcpt_mail_files"]
            base = med([r["rcpt"] for r in rc["A"]]) if "A" in rc else None
            rows.append((config, fmt_ir(per_tx),
                         f"{per_tx / base:.3f}" if base else "-",
                         fmt_ir(per_tx / n),
                         f"{per_tx / n / one:.2f}" if one else "-",
                         f"{cf} / {ci}", f"{mf} / {mi}"))
        self.table(["config", "Ir per transaction", "x A",
                    "Ir per recipient",
                    "per recipient / one-recipient delivery",
                    "chat: files / inodes", "mail: files / inodes"], rows)

    def throughput(self):
        if not self.res["tp"]:
            return
        self.add("## 2. Throughput, CPU time per message and peak RSS "
                 "(no valgrind)", "",
                 "Each run is a fresh Dovecot; figures are the median over "
                 "the repetitions with [min-max]; the ratio to A is the "
                 "median of the ratios to the A run of the same "
                 "repetition. CPU is user+sys of the whole Dovecot "
                 "process tree per delivered message; RSS is the largest "
                 "VmHWM of the lmtp processes after the run.", "")
        for ci, case in enumerate(self.tp_cases):
            if case.get("rcpts"):
                continue
            n = self.tp("A", ci)[0]["n"] if self.tp("A", ci) else "?"
            self.add(f"### {case_name(case)} ({n} messages)", "")
            rows = []
            for config in self.args.configs:
                rs = self.tp(config, ci)
                if not rs:
                    continue
                rate = [r["rate"] for r in rs]
                cpu = [r["cpu_ms"] for r in rs]
                rss = [r["rss_kb"] / 1024 for r in rs]
                rr = self.tp_ratio(config, ci, "rate")
                cr = self.tp_ratio(config, ci, "cpu_ms")
                sr = self.tp_ratio(config, ci, "rss_kb")
                rows.append((
                    config,
                    f"{med(rate):.0f} [{min(rate):.0f}-{max(rate):.0f}]",
                    fr(rr),
                    f"{med(cpu):.2f} [{min(cpu):.2f}-{max(cpu):.2f}]",
                    fr(cr),
                    f"{med([r['sys_share'] for r in rs]):.0%}",
                    f"{med(rss):.1f}", fr(sr)))
            self.table(["config", "messages/s", "x A", "CPU ms/message",
                        "x A", "of which sys", "lmtp peak RSS MB", "x A"],
                       rows)
        self.by_process()
        self.recipients_tp()

    def by_process(self):
        ci = self.tp_index(size=2 * KB, mix=0.5, fsync="never",
                           users=self.tp_cases[0]["users"])
        if ci is None:
            return
        names = set()
        for config in self.args.configs:
            for r in self.tp(config, ci) or []:
                names |= set(r["by_proc"])
        order = [x for x in ("lmtp", "dict", "auth", "log", "dovecot",
                             "exited children") if x in names]
        other = sorted(names - set(order))
        self.add(f"### CPU ms per message by process "
                 f"({case_name(self.tp_cases[ci])})", "",
                 "Median over the repetitions. `dovecot` is the master; "
                 "`exited children` are processes that ended during the "
                 "run (counted through the cutime/cstime of the parent "
                 "that waited for them).", "")
        rows = []
        for config in self.args.configs:
            rs = self.tp(config, ci)
            if not rs:
                continue
            row = [config]
            for names in [[x] for x in order] + [other]:
                ms = [sum(r["by_proc"].get(x, 0) for x in names) for r in rs]
                row.append(f"{med(ms):.3f}")
            rows.append(row)
        self.table(["config"] + order + ["other (" + ", ".join(other) + ")"],
                   rows)

    def recipients_tp(self):
        ci = self.tp_index(rcpts=self.args.rcpts)
        if ci is None or not self.tp("A", ci):
            return
        case = self.tp_cases[ci]
        one = self.tp_index(size=2 * KB, mix=0.5, fsync="never",
                            users=self.tp_cases[0]["users"])
        n = case["rcpts"]
        self.add(f"### {case_name(case)} ({case['transactions']} "
                 "transactions)", "",
                 "CPU per recipient is the tree's CPU per transaction "
                 f"divided by {n}; the last column compares it with one "
                 "recipient per message (the 2 KB, 50% chat, mail_fsync "
                 "never run above).", "")
        rows = []
        for config in self.args.configs:
            rs = self.tp(config, ci)
            if not rs:
                continue
            tx = [r["rate"] for r in rs]
            cpu = [r["cpu_ms"] / n for r in rs]
            files = rs[0]["files"]
            single = (med([r["cpu_ms"] for r in self.tp(config, one)])
                      if one is not None and self.tp(config, one) else None)
            rows.append((config,
                         f"{med(tx):.1f} [{min(tx):.1f}-{max(tx):.1f}]",
                         f"{med(tx) * n:.0f}",
                         fr(self.tp_ratio(config, ci, "rate")),
                         f"{med(cpu):.3f} [{min(cpu):.3f}-{max(cpu):.3f}]",
                         f"{med(cpu) / single:.2f}" if single else "-",
                         f"{files[0]} / {files[1]}"))
        self.table(["config", "transactions/s", "deliveries/s", "x A",
                    "CPU ms per recipient", "x one recipient",
                    "files / inodes"], rows)

    def appendix(self):
        if not self.res["cg"]:
            return
        self.add("## Appendix: every callgrind figure", "")
        rows = []
        for i, case in enumerate(self.cg_cases):
            for config in self.args.configs:
                v = self.res["cg"].get((config, i))
                if v:
                    rows.append((case_name(case), config, fmt_ir(med(v)),
                                 fmt_ir(min(v)), fmt_ir(max(v)),
                                 case["users"] * case["per_user"]))
        self.table(["case", "config", "Ir/delivery median", "min", "max",
                    "deliveries measured"], rows)

    def chart_ref(self, png):
        if png:
            name = os.path.basename(png)
            self.add("## Chart", "",
                     f"![throughput and CPU per message]({name})", "")

    def problems(self):
        failed, errors = self.res.get("failed"), self.res.get("errors")
        if not failed and not errors:
            return
        self.add("## Failed runs and Dovecot errors", "",
                 "A failed run is left out of the figures. A run whose "
                 "Dovecot logged errors is kept; the first lines are "
                 "here.", "")
        for line in failed or []:
            self.add(f"- failed: {line[:300]}")
        for what, count, lines in errors or []:
            self.add(f"- {what}: {count} error lines, for example:")
            for line in lines:
                self.add(f"  `{line[:300].replace('`', chr(39))}`")
        self.add("")

    def backends(self):
        """Part 3: C on each backend, empty and full state."""
        be, listing, tp = (self.res.get("be"), self.res.get("listing"),
                           self.res.get("be_tp"))
        if not (be or listing or tp):
            return
        self.add("## 3. C on every backend, empty and full state", "",
                 "C keeps its state on the file attribute dict (`file`, "
                 "no `coi_state_dict`), on SQLite or on PostgreSQL "
                 "(`coi_state_dict`, docs/sql-dict.md's blocks). "
                 "**full**: 10,000 METADATA block entries, 10,000 blocked "
                 "contact hashes with the contacts-indexed marker, and "
                 "every slot of the thread index (1,000) written, for "
                 "every recipient. 2 KB, 50% chat, message-filter=active; "
                 "the messages have no In-Reply-To or References, so no "
                 "thread slot is looked up, and every chat writes one. "
                 "Ir counts the lmtp process only (not the dict service "
                 "nor the database server).", "")
        base = med(be[("A", "file", "empty")]) \
            if be and ("A", "file", "empty") in be else None
        rows, targets = [], []
        if be:
            if base:
                rows.append(("A (plain Dovecot)", "-", fmt_ir(base),
                             "1.000", "-", fmt_ir(min(be[("A", "file", "empty")])) +
                             " - " + fmt_ir(max(be[("A", "file", "empty")]))))
            for backend in self.args.backends.split(","):
                empty = be.get(("C", backend, "empty"))
                for state in self.args.states.split(","):
                    v = be.get(("C", backend, state))
                    if not v:
                        continue
                    full_vs = (f"{med(v) / med(empty):.3f}"
                               if state == "full" and empty else "-")
                    rows.append((f"C on {backend}", state, fmt_ir(med(v)),
                                 f"{med(v) / base:.3f}" if base else "-",
                                 full_vs,
                                 f"{fmt_ir(min(v))} - {fmt_ir(max(v))}"))
                    if base:
                        targets.append((f"C <= {T_BE_IR}x A, {backend}, "
                                        f"{state} state",
                                        f"{med(v) / base:.3f}x",
                                        met(med(v) / base <= T_BE_IR)))
                    if state == "full" and empty:
                        r = med(v) / med(empty)
                        targets.append((f"full within 5% of empty, "
                                        f"{backend}", f"{r:.3f}x",
                                        met(r <= T_FULL)))
            self.add("### Instructions per delivery (lmtp, callgrind)", "")
            self.table(["config", "state", "Ir per delivery", "x A",
                        "full / empty", "min - max"], rows)
        if listing:
            self.add("### Listing 10,000 block entries", "",
                     f"`{LISTING}` on a user with the full state, one IMAP "
                     "session per repetition, CPU measured around the "
                     "command alone: the imap process, the whole Dovecot "
                     "tree (imap, dict service, ...) and the PostgreSQL "
                     "server.", "")
            lrows = []
            for backend, o in listing.items():
                total = [t + g for t, g in zip(o["tree_s"], o["pg_s"])]
                lrows.append((backend, o["entries"],
                              f"{med(o['imap_s']):.3f}",
                              f"{med(o['tree_s']):.3f}",
                              f"{med(o['pg_s']):.3f}",
                              f"{med(o['wall_s']):.3f}",
                              f"`{o['status'][:60]}`"))
                targets.append((f"listing under {T_LIST_S} s CPU, "
                                f"{backend} (Dovecot tree + PostgreSQL)",
                                f"{med(total):.3f} s",
                                met(med(total) < T_LIST_S and
                                    o["entries"] == 10000)))
            self.table(["backend", "entries listed", "imap CPU s",
                        "Dovecot tree CPU s", "PostgreSQL CPU s",
                        "wall s", "reply"], lrows)
        if tp:
            case = self.res.get("be_tp_case", {})
            self.add("### Throughput at "
                     f"{self.args.conns} LMTP connections, A and C on "
                     "PostgreSQL", "",
                     f"2 KB, 50% chat, mail_fsync default, "
                     f"{case.get('users', '?')} users, "
                     f"{case.get('users', 0) * case.get('per_user', 0)} "
                     "messages per run. **Indicative only**: the machine's "
                     "two cores were shared with other work during the "
                     "run. CPU is the Dovecot process tree's; the "
                     "PostgreSQL server's is not in it.", "")
            trows = []
            for (config, backend), rs in tp.items():
                rate = [r["rate"] for r in rs]
                cpu = [r["cpu_ms"] for r in rs]
                trows.append((f"{config} ({backend})",
                              f"{med(rate):.0f} [{min(rate):.0f}-"
                              f"{max(rate):.0f}]",
                              f"{med(cpu):.2f} [{min(cpu):.2f}-"
                              f"{max(cpu):.2f}]"))
            self.table(["config", "messages/s", "CPU ms/message"], trows)
            a, c = tp.get(("A", "file")), tp.get(("C", "postgresql"))
            if a and c:
                by_rep = {x["rep"]: x["rate"] for x in a}
                ratios = [x["rate"] / by_rep[x["rep"]] for x in c
                          if x["rep"] in by_rep]
                if ratios:
                    targets.append((f"throughput C (PostgreSQL) >= "
                                    f"{T_BE_RATE}x A (indicative)",
                                    f"{med(ratios):.2f}x",
                                    met(med(ratios) >= T_BE_RATE)))
        if targets:
            self.add("### Targets of issue 14", "")
            self.table(["target", "this run", ""], targets)

    def notes(self):
        if self.args.notes:
            with open(self.args.notes) as f:
                self.add("## Notes", "", f.read().rstrip(), "")


def chart(rep, png):
    """Throughput and CPU/message per configuration, default mail_fsync
    and never side by side, with min-max error bars (gnuplot)."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return None
    cols = []
    for fsync in ("default", "never"):
        i = rep.tp_index(size=2 * KB, mix=0.5, fsync=fsync,
                         users=rep.tp_cases[0]["users"])
        if i is not None:
            cols.append((fsync, i))
    if not cols or not rep.tp("A", cols[0][1]):
        return None
    data = png[:-4] + ".dat"
    with open(data, "w") as f:
        for config in rep.args.configs:
            fields = [config]
            for key in ("rate", "cpu_ms"):
                for _, i in cols:
                    vs = [r[key] for r in rep.tp(config, i) or []] or [0]
                    fields += [f"{med(vs):.4f}", f"{min(vs):.4f}",
                               f"{max(vs):.4f}"]
            f.write(" ".join(fields) + "\n")
    k = len(cols)
    titles = [f"mail_fsync {fsync}" for fsync, _ in cols]

    def plot(offset):
        parts = []
        for j in range(k):
            c = 2 + offset + 3 * j
            parts.append(f"'{data}' using {c}:{c + 1}:{c + 2}"
                         + (":xtic(1)" if j == 0 else "")
                         + f" title '{titles[j]}'")
        return "plot " + ", ".join(parts)

    case = case_name({"size": 2 * KB, "mix": 0.5})
    script = f"""
set terminal pngcairo noenhanced size 1100,440 font ",10"
set output '{png}'
set multiplot layout 1,2 title "dovecot-coi bench: {case}, \
{rep.args.conns} LMTP connections (median, min-max)"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set key top left
set yrange [0:*]
set grid ytics
set title "throughput (messages/s, higher is better)"
{plot(0)}
set title "CPU per message, whole Dovecot process tree (ms, lower is better)"
{plot(3 * k)}
unset multiplot
"""
    r = subprocess.run([gnuplot], input=script, text=True,
                       capture_output=True)
    os.unlink(data)
    if r.returncode != 0 or not os.path.exists(png):
        print(f"gnuplot failed: {r.stderr}", file=sys.stderr)
        return None
    return png


def _save_raw(path, args, res, cg_cases, cg_rcpt, tp_cases, elapsed,
              meta):
    raw = {"meta": meta, "args": vars(args), "elapsed": elapsed,
           "cg_cases": cg_cases, "cg_rcpt": cg_rcpt, "tp_cases": tp_cases,
           "cg": [[c, i, v] for (c, i), v in res["cg"].items()],
           "cg_rcpt_res": res["cg_rcpt"],
           "tp": [[c, i, v] for (c, i), v in res["tp"].items()],
           "be": [[*k, v] for k, v in res.get("be", {}).items()],
           "listing": res.get("listing", {}),
           "be_tp": [[*k, v] for k, v in res.get("be_tp", {}).items()],
           "be_tp_case": res.get("be_tp_case"),
           "errors": res.get("errors", []), "failed": res.get("failed", [])}
    with open(path, "w") as f:
        json.dump(raw, f, indent=1)


def _load_raw(path):
    with open(path) as f:
        raw = json.load(f)
    res = {"cg": {(c, i): v for c, i, v in raw["cg"]},
           "cg_rcpt": raw["cg_rcpt_res"],
           "tp": {(c, i): v for c, i, v in raw["tp"]},
           "be": {(c, b, st): v for c, b, st, v in raw.get("be", [])},
           "listing": raw.get("listing", {}),
           "be_tp": {(c, b): v for c, b, v in raw.get("be_tp", [])},
           "be_tp_case": raw.get("be_tp_case"),
           "errors": raw.get("errors", []), "failed": raw.get("failed", [])}
    return (argparse.Namespace(**raw["args"]), res, raw["cg_cases"],
            raw["cg_rcpt"], raw["tp_cases"], raw["elapsed"], raw["meta"])


def _meta():
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"date": f"{now:%Y-%m-%d %H:%M} UTC", "machine": machine(),
            "command": "bench/run" + "".join(f" {x}" for x in sys.argv[1:])}


def save_progress(args, res, cg_cases, cg_rcpt, tp_cases, elapsed):
    """The raw figures so far (.json next to the report), after every
    run, so that a bench cut short keeps what it measured."""
    base = os.path.splitext(os.path.abspath(args.out))[0]
    os.makedirs(os.path.dirname(base), exist_ok=True)
    _save_raw(base + ".json", args, res, cg_cases, cg_rcpt, tp_cases,
              elapsed, _meta())


def write(args, res, cg_cases, cg_rcpt, tp_cases, elapsed, meta=None):
    """The report at args.out, the chart next to it (.png), and the raw
    figures (.json) first of all, so that nothing measured is lost."""
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.splitext(os.path.abspath(args.out))[0]
    if meta is None:
        meta = _meta()
        _save_raw(base + ".json", args, res, cg_cases, cg_rcpt, tp_cases,
                  elapsed, meta)
    rep = Report(args, res, cg_cases, cg_rcpt, tp_cases, elapsed, meta)
    png = chart(rep, base + ".png")
    rep.header()
    rep.targets()
    rep.chart_ref(png)
    rep.callgrind()
    rep.throughput()
    rep.backends()
    rep.problems()
    rep.notes()
    rep.appendix()
    with open(args.out, "w") as f:
        f.write("\n".join(rep.lines) + "\n")
    print(f"report: {args.out}" + (f", chart: {png}" if png else ""))


def main():
    ap = argparse.ArgumentParser(description="Write a bench report again "
                                             "from its raw figures (.json)")
    ap.add_argument("raw", help="the .json a run saved next to its report")
    ap.add_argument("--notes", default=None,
                    help="a Markdown file for the report's Notes section")
    ap.add_argument("--out", default=None,
                    help="the report (default: the .json's path, .md)")
    a = ap.parse_args()
    args, res, cg_cases, cg_rcpt, tp_cases, elapsed, meta = \
        _load_raw(a.raw)
    args.out = a.out or os.path.splitext(a.raw)[0] + ".md"
    if a.notes:
        args.notes = a.notes
    write(args, res, cg_cases, cg_rcpt, tp_cases, elapsed, meta)


if __name__ == "__main__":
    main()
