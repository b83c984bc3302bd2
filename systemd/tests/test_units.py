# SPDX-License-Identifier: MIT
"""calcd's systemd units as installed: `cmake --install --component calcd`
into a throw-away prefix, then `systemd-analyze verify` must be silent
and `systemd-analyze security` must rate each unit 2.0 or lower ("OK"
or better).  ExecStart= names the calcd of that prefix.  SKIPPED when
systemd-analyze cannot run here."""

import os
import re
import shutil
import subprocess

import pytest

BUILD = os.environ.get("CALC_BUILD_DIR", "")
ANALYZE = shutil.which("systemd-analyze")
UNITS = ["calcd.service", "calcd@addsub.service", "calcd@muldiv.service",
         "calcd.socket"]
MAX_EXPOSURE = 2.0
SANDBOX = ["DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
           "RestrictAddressFamilies=AF_INET AF_INET6",
           "SystemCallFilter=@system-service", "CapabilityBoundingSet="]


@pytest.fixture(scope="module")
def unitdir(tmp_path_factory):
    if not ANALYZE:
        pytest.skip("systemd-analyze not found (Debian: systemd)")
    probe = subprocess.run([ANALYZE, "--version"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("systemd-analyze cannot run here")
    assert BUILD, "CALC_BUILD_DIR must name the build folder (run via ctest)"
    prefix = tmp_path_factory.mktemp("prefix")
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(prefix),
                        "--component", "calcd"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    d = prefix / "lib/systemd/system"
    assert sorted(os.listdir(d)) == ["calcd.service", "calcd.socket",
                                     "calcd@.service"]
    return prefix, d


def verify(d, *units):
    return subprocess.run([ANALYZE, "verify", "--man=no",
                           *[f"./{u}" for u in units]],
                          capture_output=True, text=True, cwd=d, timeout=60)


def test_units_name_the_installed_calcd(unitdir):
    prefix, d = unitdir
    calcd = prefix / "sbin/calcd"
    assert os.access(calcd, os.X_OK)
    for u in ("calcd.service", "calcd@.service"):
        text = (d / u).read_text()
        execs = re.findall(r"^ExecStart=(\S+)", text, re.M)
        assert execs == [str(calcd)], (u, execs)
        for line in SANDBOX:
            assert re.search("^" + re.escape(line) + "$", text, re.M), \
                (u, line)
    assert "--role %i" in (d / "calcd@.service").read_text()
    sock = (d / "calcd.socket").read_text()
    for line in ("ListenStream=127.0.0.1:4000", "ListenStream=[::1]:4000",
                 "ListenDatagram=127.0.0.1:4000", "ListenDatagram=[::1]:4000"):
        assert line in sock.splitlines()


def test_verify_is_clean(unitdir):
    _, d = unitdir
    p = verify(d, *UNITS)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", \
        p.stdout + p.stderr


def test_verify_would_see_a_broken_unit(unitdir, tmp_path):
    """The check above can fail: a misspelt key and a missing program."""
    _, d = unitdir
    text = (d / "calcd.service").read_text()
    text = text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
    text = re.sub(r"^ExecStart=\S+", "ExecStart=/nonexistent/calcd", text,
                  flags=re.M)
    (tmp_path / "calcd.service").write_text(text)
    p = verify(tmp_path, "calcd.service")
    assert "NoNewPrivilege" in p.stderr
    assert "/nonexistent/calcd" in p.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_security_exposure_at_most_2(unitdir, unit):
    _, d = unitdir
    p = subprocess.run([ANALYZE, "security", "--offline=yes", "--no-pager",
                        f"./{unit}"], capture_output=True, text=True, cwd=d,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)",
                  p.stdout)
    if not m and "offline" in p.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, p.stdout
    assert m.group(2) in ("OK", "SAFE"), m.group(0)
