# SPDX-License-Identifier: MIT
"""scripts/dev.sh demo, the README's first command, on this build
(CALC_BUILD_DIR; the build step is then a no-op): it exits 0 and ends with
a dissected session, as root (tshark through plugin/calc-tshark.sh, and it
says so) and as a normal user (the plugin installed as a personal plugin,
here into a throwaway HOME).  Without capture rights (a dumpcap that
refuses as Debian's does for a normal user) it says in one line how to
get them and shows the checked-in capture; a dumpcap that dies once
started (the original bug: `kill` on a dead process aborted the demo)
changes nothing but the capture.  Skipped when a package dev.sh lists is
missing (dev.sh would install it) or inside the compatibility runner."""
import os
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "scripts" / "dev.sh"
REFUSED = 'dumpcap: You do not have permission to capture on device "lo".'

FAKE_REFUSING = """#!/bin/sh
echo "Capturing on 'Loopback: lo'" >&2
echo '%s' >&2
echo '(socket: Operation not permitted)' >&2
exit 1
""" % REFUSED

# Passes the one-second check (-a duration:1), dies when really started.
FAKE_DYING = """#!/bin/sh
case " $* " in *" duration:1 "*) exec /usr/bin/dumpcap "$@" ;; esac
echo 'dumpcap: The capture session could not be initiated' >&2
exit 2
"""


def _missing_packages():
    script = 'source <(sed -n "/^packages=(/,/^)/p" "%s"); ' \
             'printf "%%s\\n" "${packages[@]}"' % DEV
    names = subprocess.run(["bash", "-c", script], capture_output=True,
                           text=True, check=True).stdout.split()
    missing = []
    for name in names:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name],
                           capture_output=True, text=True)
        if "install ok installed" not in p.stdout:
            missing.append(name)
    return missing


@pytest.fixture(scope="module")
def build():
    if os.environ.get("CALC_COMPAT_ROOT"):
        pytest.skip("inside the compatibility runner (CALC_COMPAT_ROOT)")
    build = os.environ.get("CALC_BUILD_DIR", "")
    if not (Path(build) / "plugin" / "calc.so").is_file():
        pytest.skip("no built plugin in CALC_BUILD_DIR (run through ctest)")
    cache = (Path(build) / "CMakeCache.txt").read_text()
    for want in ("CMAKE_BUILD_TYPE:STRING=Release", "CALC_WERROR:BOOL=ON",
                 "CALC_BUILD_PLUGIN:BOOL=ON"):
        if want not in cache:   # dev.sh would reconfigure this build
            pytest.skip("this build is not configured as dev.sh does "
                        "(%s)" % want)
    missing = _missing_packages()
    if missing:
        pytest.skip("dev.sh would install %s" % " ".join(missing))
    return build


def demo(build, tmp_path, fake=None):
    env = dict(os.environ, CALC_BUILD_DIR=build, HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    if fake:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        f = bin_dir / "dumpcap"
        f.write_text(fake)
        f.chmod(f.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        env["PATH"] = "%s:%s" % (bin_dir, env["PATH"])
    p = subprocess.run([str(DEV), "demo"], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=240)
    return p.returncode, p.stdout, p.stderr


def check_dissected(out, err):
    """The demo's last part: the session's CALC lines and a reply's
    details, verified against the core."""
    assert "CALC  Request 15*15" in out, out[-2000:]
    assert "Response 225" in out
    assert "Calculator Protocol, Response: 225" in out
    assert "[Verified: True]" in out
    if os.getuid() == 0:
        assert "root: tshark run by root ignores personal plugins" in err
        assert "plugin/calc-tshark.sh runs tshark as nobody" in err
    else:
        assert "installed for" in err


def test_demo_ends_dissected(build, tmp_path):
    rc, out, err = demo(build, tmp_path)
    assert rc == 0, err[-3000:]
    check_dissected(out, err)


def test_demo_without_capture_rights(build, tmp_path):
    rc, out, err = demo(build, tmp_path, FAKE_REFUSING)
    assert rc == 0, err[-3000:]
    lines = [l for l in err.splitlines() if "may not capture on lo" in l]
    assert len(lines) == 1, err
    assert 'You do not have permission to capture on device "lo".' \
        in lines[0]
    assert "sudo dpkg-reconfigure wireshark-common" in lines[0]
    assert "usermod -aG wireshark" in lines[0]
    assert "docs/CAPTURE.md" in lines[0]
    if "in use" not in err:
        assert "the checked-in capture captures/tcp-session.pcapng" in err
    check_dissected(out, err)


def test_demo_when_dumpcap_dies(build, tmp_path):
    rc, out, err = demo(build, tmp_path, FAKE_DYING)
    assert rc == 0, err[-3000:]
    assert "No such process" not in err
    if "in use" not in err and "may not capture" not in err:
        assert "dumpcap did not start" in err
        assert "the checked-in capture captures/tcp-session.pcapng" in err
    check_dissected(out, err)
