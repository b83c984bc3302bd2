# SPDX-License-Identifier: MIT
"""Fixtures for the dissector tests: tshark with the freshly built plugin.

Every tshark run goes through plugin/calc-tshark.sh, which stages the
plugin named by $CALC_PLUGIN (set by ctest) in a temporary folder, and as
root runs tshark as nobody (root's tshark ignores WIRESHARK_PLUGIN_DIR).
Nothing is installed.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
WRAPPER = os.path.join(os.path.dirname(HERE), "calc-tshark.sh")

from calcpcap import Capture  # noqa: E402
import tsfields  # noqa: E402

# Endpoints used by most tests.
C4 = ("192.0.2.1", 40000)
S4 = ("192.0.2.2", 4000)
C6 = ("2001:db8::1", 40000)
S6 = ("2001:db8::2", 4000)


def _ws_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True,
                         text=True, check=True).stdout
    first = out.splitlines()[0]          # TShark (Wireshark) 4.0.17 (...)
    return ".".join(first.split()[2].split(".")[:2])


class Tshark:
    """tshark on a capture with the plugin under test."""

    def __init__(self, plugin, version):
        self.plugin = plugin
        self.version = version
        self.env = dict(os.environ, CALC_WS_VERSION=version,
                        WIRESHARK_ABORT_ON_DISSECTOR_BUG="1")

    def run(self, *args, check=True):
        p = subprocess.run([WRAPPER, self.plugin, *args], capture_output=True,
                           text=True, env=self.env, timeout=120)
        if check:
            assert p.returncode == 0, p.stderr
            assert "Dissector bug," not in p.stdout + p.stderr
        # -T fields in one form on every Wireshark version (tsfields.py)
        return tsfields.normalise(p.stdout, args, self.version,
                                  [WRAPPER, self.plugin], self.env)

    def fields(self, pcap, names, *extra, two_pass=False, filt=None):
        """Rows of -T fields output, one list per frame, occurrences joined
        with '|'."""
        args = ["-r", pcap, "-T", "fields", "-E", "aggregator=|"]
        for n in names:
            args += ["-e", n]
        if two_pass:
            args.append("-2")
        if filt:
            args += ["-Y", filt]
        out = self.run(*args, *extra)
        return [line.split("\t") for line in out.splitlines()]

    def frames(self, pcap, filt, *extra, two_pass=True):
        """Frame numbers matching a display filter."""
        rows = self.fields(pcap, ["frame.number"], *extra, filt=filt,
                           two_pass=two_pass)
        return [int(r[0]) for r in rows]

    def table(self, pcap, names, *extra, two_pass=True):
        """One dict per frame: field name -> value ('' when absent).  An
        expert info's name gives '1' where it is present."""
        rows = self.fields(pcap, names, *extra, two_pass=two_pass)
        return [dict(zip(names, r)) for r in rows]


def where(table, name):
    """Frame numbers (1-based) whose `name` is present in a table."""
    return [i + 1 for i, row in enumerate(table) if row[name] != ""]


@pytest.fixture(scope="session")
def tshark():
    plugin = os.environ.get("CALC_PLUGIN")
    if not plugin or not os.path.isfile(plugin):
        pytest.fail("CALC_PLUGIN must name the built calc.so (run via ctest)")
    return Tshark(os.path.abspath(plugin), _ws_version())


@pytest.fixture
def capture(tmp_path):
    """A function writing a Capture to a fresh file; returns its path."""
    count = [0]

    def write(cap):
        count[0] += 1
        path = str(tmp_path / ("c%d.pcap" % count[0]))
        cap.write(path)
        return path
    return write


@pytest.fixture
def cap():
    return Capture()
