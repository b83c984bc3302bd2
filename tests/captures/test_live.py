# SPDX-License-Identifier: MIT
"""A fresh capture: calcd on a free port, dumpcap on lo, calc over UDP and
TCP (IPv4 and IPv6, and through split role servers); the capture must
dissect with every request paired to its reply and every reply verified.

Needs dumpcap allowed to capture on lo (root, or a dumpcap with capture
capabilities): skips with dumpcap's reason otherwise."""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

import capture_set
from calcd_proc import Calcd

EXPRS = ["15*15", "30+30", "2**10", "7/2", "(1+2)*3", "1/0", "2**200",
         "0.1+0.2"]


class Dumpcap:
    def __init__(self, path, ports):
        dumpcap = shutil.which("dumpcap")
        if not dumpcap:
            pytest.skip("dumpcap is not installed")
        filt = " or ".join("port %d" % p for p in ports)
        self.path = path
        self.proc = subprocess.Popen(
            [dumpcap, "-q", "-i", "lo", "-f", filt, "-w", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # dumpcap says "File: <path>" once the capture runs; a loaded
        # machine may take a while to get there, and packets sent before
        # it would be missing from the capture.
        started = threading.Event()
        self.err = []

        def read_err():
            for line in self.proc.stderr:
                self.err.append(line)
                if line.startswith("File:"):
                    started.set()

        threading.Thread(target=read_err, daemon=True).start()
        deadline = time.monotonic() + 20
        while not started.wait(0.05):
            if self.proc.poll() is not None:
                time.sleep(0.1)
                pytest.skip("dumpcap cannot capture on lo (uid %d): %s" % (
                    os.getuid(), "".join(self.err).strip()))
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("dumpcap did not start")
        time.sleep(0.5)

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.5)  # let the last packets reach dumpcap
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def test_live_capture_dissects_paired(tshark, calcd_bin, calc_bin, tmp_path):
    pcap = tmp_path / "live.pcapng"
    servers = [Calcd(calcd_bin), Calcd(calcd_bin, "--role", "addsub"),
               Calcd(calcd_bin, "--role", "muldiv")]
    dc = None
    try:
        ports = [s.port for s in servers]
        dc = Dumpcap(pcap, ports)

        def calc(*args):
            p = subprocess.run([calc_bin, *args], capture_output=True,
                               text=True, timeout=30)
            return p.stdout.splitlines()
        replies = []
        for server in ("127.0.0.1:%d" % ports[0], "[::1]:%d" % ports[0]):
            replies += calc("-s", server, *EXPRS)
            replies += calc("--udp", "-s", server, *EXPRS)
        split = ["--addsub", "127.0.0.1:%d" % ports[1],
                 "--muldiv", "127.0.0.1:%d" % ports[2]]
        replies += calc(*split, "(1+2)*3", "2*3+4*5")
    finally:
        if dc:
            dc.stop()
        for s in servers:
            s.stop()
    assert len(replies) == 4 * len(EXPRS) + 2
    assert replies[:len(EXPRS)] == [
        "225", "60", "1024", "3.5", "9", "ERR zero-division: division by zero",
        "1606938044258990275541962092341162602522202993782792835301376",
        "0.30000000000000004"]
    assert replies[-2:] == ["9", "26"]

    decode = []
    for p in ports:
        decode += ["-d", "udp.port==%d,calc" % p, "-d", "tcp.port==%d,calc" % p]
    names = ["calc.type", "calc.response_in", "calc.response_to",
             "calc.verified", "calc.refused", "calc.result"]
    t = tshark.table(str(pcap), names + capture_set.CHECKS, *decode)

    def count(name, value=None):
        vals = [v for row in t for v in row[name].split("|") if v]
        return len(vals) if value is None else vals.count(value)
    n_req, n_rep = count("calc.type", "1"), count("calc.type", "2")
    # calc asks again (padded) for the UDP replies the bound shortened:
    # 2**200 and 1/0, twice (IPv4, IPv6); the split makes 2 + 3 requests
    assert n_req == n_rep == 4 * len(EXPRS) + 2 * 2 + 5
    assert count("calc.response_in") == n_req
    assert count("calc.response_to") == n_rep
    assert count("calc.verified", "1") == n_rep
    for name in capture_set.CHECKS:
        assert count(name) == 0, name
    results = [v for row in t for v in row["calc.result"].split("|")]
    for line in replies:
        if not line.startswith("ERR"):
            assert line in results, line
