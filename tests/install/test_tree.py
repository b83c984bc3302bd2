# SPDX-License-Identifier: MIT
"""`cmake --install BUILD --prefix DIR` gives the complete tree: calcd in
sbin, calc-cli, calc-eval and calc-bench in bin, the man pages, the
systemd units naming that prefix's calcd, the docs and sample captures,
the plugin in Wireshark's relative plugin folder; the installed programs
run from it, and the installed plugin decodes a capture.  With DESTDIR
the same tree is staged under it."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

BUILD = os.environ.get("CALC_BUILD_DIR", "")
REPO = Path(__file__).resolve().parents[2]
PAGES = ["share/man/man1/calc-bench.1", "share/man/man1/calc-cli.1",
         "share/man/man1/calc-eval.1", "share/man/man7/calc.7",
         "share/man/man8/calcd.8"]


def install(*args, env=None):
    assert BUILD, "CALC_BUILD_DIR must name the build folder (run via ctest)"
    p = subprocess.run(["cmake", "--install", BUILD, *args],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    assert p.returncode == 0, p.stderr
    return p.stdout


def tree(root):
    return {str(p.relative_to(root)) for p in Path(root).rglob("*")
            if p.is_file()}


def plugin_libdir():
    if not os.environ.get("CALC_PLUGIN"):
        return None
    cache = (Path(BUILD) / "CMakeCache.txt").read_text()
    wsdir = re.search(r"^Wireshark_DIR:PATH=(.*)$", cache, re.M).group(1)
    conf = (Path(wsdir) / "WiresharkConfig.cmake").read_text()
    return re.search(r'set\(Wireshark_PLUGIN_LIBDIR "([^"]+)"\)',
                     conf).group(1)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefix")
    install("--prefix", str(root))
    return root


def test_complete_tree(prefix):
    got = tree(prefix)
    want = {"sbin/calcd", "bin/calc-cli", "bin/calc-eval", "bin/calc-bench",
            *PAGES, "lib/systemd/system/calcd.service",
            "lib/systemd/system/calcd@.service",
            "lib/systemd/system/calcd.socket",
            "share/doc/calcd/README.md", "share/doc/calcd/LICENSE",
            "share/doc/calcd/PROTOCOL.md", "share/doc/calcd/CLIENTS.md",
            "share/doc/calcd/DISSECTOR.md",
            "share/doc/calcd/captures/udp-session.pcapng"}
    libdir = plugin_libdir()
    if libdir:
        want.add(libdir + "/epan/calc.so")
    assert want <= got, sorted(want - got)
    docs = {f for f in got if f.startswith("share/doc/calcd/")}
    others = got - want - docs
    assert others == set(), sorted(others)  # nothing unexpected
    for f in ("sbin/calcd", "bin/calc-cli", "bin/calc-eval", "bin/calc-bench"):
        assert os.access(prefix / f, os.X_OK), f
    for u in ("calcd.service", "calcd@.service"):
        text = (prefix / "lib/systemd/system" / u).read_text()
        assert "ExecStart=%s/sbin/calcd" % prefix in text


def test_installed_programs_run(prefix):
    calcd = subprocess.Popen([str(prefix / "sbin/calcd"), "--port", "0"],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r", port (\d+) udp\+tcp", calcd.stderr.readline())
        assert m
        server = "127.0.0.1:" + m.group(1)
        for proto in ("--tcp", "--udp"):
            r = subprocess.run([str(prefix / "bin/calc-cli"), proto, "-s",
                                server, "15*15"], capture_output=True,
                               text=True, timeout=30)
            assert (r.returncode, r.stdout) == (0, "225\n"), r.stderr
        r = subprocess.run([str(prefix / "bin/calc-bench"), "-s", server,
                            "-n", "200", "-q", "--json"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert '"wrong": 0' in r.stdout.replace('"wrong":0', '"wrong": 0')
    finally:
        calcd.send_signal(signal.SIGTERM)
        assert calcd.wait(5) == 0
    r = subprocess.run([str(prefix / "bin/calc-eval"), "7//-2"],
                       capture_output=True, text=True)
    assert r.stdout == "-4\n"


def test_installed_man_pages_show(prefix):
    if not shutil.which("man"):
        pytest.skip("man (man-db) is not installed")
    for page in PAGES:
        p = subprocess.run(["man", "-P", "cat", "-l", str(prefix / page)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MANWIDTH="80"))
        assert p.returncode == 0 and "NAME" in p.stdout, page


def test_installed_plugin_decodes(prefix):
    libdir = plugin_libdir()
    if not libdir:
        pytest.skip("no dissector plugin built")
    so = prefix / libdir / "epan/calc.so"
    p = subprocess.run([str(REPO / "plugin/calc-tshark.sh"), str(so), "-r",
                        str(prefix / "share/doc/calcd/captures/"
                                     "udp-session.pcapng")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert re.search(r"Response 225 (#\d+ )?\(15\*15\)", p.stdout), p.stdout


def test_destdir_stages_the_prefix(tmp_path):
    install("--prefix", "/opt/calc", env={"DESTDIR": str(tmp_path)})
    got = tree(tmp_path)
    assert got and all(f.startswith("opt/calc/") for f in got), sorted(got)
    assert "opt/calc/sbin/calcd" in got
    unit = (tmp_path / "opt/calc/lib/systemd/system/calcd.service").read_text()
    assert "ExecStart=/opt/calc/sbin/calcd\n" in unit
