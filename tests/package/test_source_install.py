"""make install from source, as the admin guide describes it: the plugins
go to Dovecot's module directories, or to --with-moduledir's. Built in a
temporary copy of the tracked files (scripts/copy-tracked), installed
under DESTDIR, so neither this tree nor the system changes."""
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLUGINS = ("lib95_imap_coi_plugin.so", "lib95_lmtp_coi_plugin.so",
           "doveadm/lib10_doveadm_coi_plugin.so")


def sh(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, (cmd, (r.stdout + r.stderr)[-3000:])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("source")
    sh(f"{REPO}/scripts/copy-tracked {src}", src)
    sh("./autogen.sh", src)
    return src


def installed(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files
                  if f.endswith(".so"))


@pytest.mark.parametrize("moduledir", [None, "/opt/coi-modules"])
def test_make_install_module_directory(source, tmp_path, moduledir):
    build = tmp_path / "build"
    build.mkdir()
    option = f" --with-moduledir={moduledir}" if moduledir else ""
    sh(f"{source}/configure --with-dovecot=/usr/lib/dovecot{option}", build)
    sh(f"make -j{os.cpu_count() or 1}", build)
    dest = tmp_path / "dest"
    sh(f"make install DESTDIR={dest}", build)
    base = (moduledir or "/usr/lib/dovecot/modules").lstrip("/")
    assert installed(dest) == sorted(os.path.join(base, p)
                                     for p in PLUGINS)
