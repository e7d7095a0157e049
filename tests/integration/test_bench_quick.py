"""Smoke test of the benchmark: `bench/run --quick` runs to the end and
writes a report and a chart with every configuration and its numbers. It
asserts nothing about the figures themselves: targets are read from the
report, never checked by a test."""
import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_bench_quick(tmp_path):
    out = tmp_path / "quick.md"
    r = subprocess.run([os.path.join(REPO, "bench", "run"), "--quick",
                        "--out", str(out)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    text = out.read_text()
    for heading in ("## Targets of issue 5",
                    "## 1. Instructions per delivery",
                    "## 2. Throughput, CPU time per message",
                    "mail_fsync default", "mail_fsync never",
                    "CPU ms per message by process",
                    "recipients, 2 KB"):
        assert heading in text, heading
    for config in "ABCDE":
        # callgrind: Ir per delivery and its ratio to A
        assert re.search(rf"^\| {config} \| [\d,]+ \| \d\.\d+ \|$", text,
                         re.M), config
        # throughput, both mail_fsync modes: rate [min-max], ratio, CPU
        rows = re.findall(rf"^\| {config} \| \d+ \[\d+-\d+\] \| [\d.]+ \| "
                          rf"[\d.]+ \[[\d.]+-[\d.]+\] \|", text, re.M)
        assert len(rows) == 2, config
    for config in "ABCE":
        # the multi-recipient run, with its files / inodes count
        assert re.search(rf"^\| {config} \| [\d.]+ \[.*\| \d+ / \d+ \|$",
                         text, re.M), config
    assert re.search(r"\| \*\*(met|missed)\*\* \|", text)
    png = tmp_path / "quick.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](quick.png)" in text
