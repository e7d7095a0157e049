"""The lib-test unit tests of the sanitizer build (COI_SANITIZE=1 only, see
conftest.py): `make check` runs them under valgrind, which sees no
undefined behaviour; here the same programs, built by scripts/build-asan,
run under ASan, UBSan and LSan, with their reports in the directory the
suite scans."""
import os
import re
import subprocess

import harness


def test_unit_tests_under_sanitizers():
    env = dict(os.environ)
    env.update(harness.sanitizer_env())
    # the test programs link the runtime themselves: nothing to preload
    del env["LD_PRELOAD"]
    r = subprocess.run(["make", "-C", harness.PLUGIN_BUILD, "check",
                        "NOVALGRIND=1"], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    totals = re.findall(r"^(\d+) / \d+ tests failed", r.stdout, re.M)
    assert totals and set(totals) == {"0"}, r.stdout
