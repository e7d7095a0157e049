"""Sum the unit (lib-test), integration (pytest JUnit XML) and any further
JUnit XML results (the fuzz smoke) into the one line CI reads:
"N passed, N failed". Exits non-zero on any failure,
including a unit test program that died before printing its total (for
example a valgrind report) or an integration run that never wrote its XML.

Usage: summarize.py UNIT_LOG XML UNIT_RC XML_RC [XML RC]...
Each further JUnit report (the integration tests under sanitizers; the fuzz
smoke, one test per fuzz target; the Debian package tests) is one more XML
and its runner's exit code.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET


def unit_counts(log_path, rc):
    passed = failed = 0
    with open(log_path, errors="replace") as f:
        text = f.read()
    for m in re.finditer(r"^(\d+) / (\d+) tests failed", text, re.M):
        failed += int(m.group(1))
        passed += int(m.group(2)) - int(m.group(1))
    # "Failed to run: ./test-x" comes from run-test.sh (valgrind findings
    # or a crash): count each such program once more as a failure.
    died = len(re.findall(r"^Failed to run: ", text, re.M))
    failed += died
    if rc != 0 and failed == 0:
        failed = 1
    return passed, failed


def integration_counts(xml_path, rc):
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return 0, 1
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = 0
    for s in suites:
        tests = int(s.get("tests", 0))
        bad = int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped = int(s.get("skipped", 0))
        failed += bad + skipped  # a skipped test is a test that did not run
        passed += tests - bad - skipped
    if rc != 0 and failed == 0:
        failed = 1
    return passed, failed


def main():
    unit_log, xml_path, unit_rc, int_rc = sys.argv[1:5]
    sessions = [(xml_path, int_rc)] + list(zip(sys.argv[5::2],
                                               sys.argv[6::2]))
    up, uf = unit_counts(unit_log, int(unit_rc))
    parts = [f"unit: {up} passed, {uf} failed"]
    passed, failed = up, uf
    for path, rc in sessions:
        p, f = integration_counts(path, int(rc))
        name = os.path.splitext(os.path.basename(path))[0]
        parts.append(f"{name}: {p} passed, {f} failed")
        passed, failed = passed + p, failed + f
    print("; ".join(parts))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed > 0 else 0)


if __name__ == "__main__":
    main()
