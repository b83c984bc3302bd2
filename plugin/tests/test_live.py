# SPDX-License-Identifier: MIT
"""A capture of live traffic between calcd and calc-cli, decoded: every request
paired with its reply, every reply verified (or a role server's refusal).

Loopback only, on ports the kernel picks.  Needs the built servers/calcd
and clients/calc-cli, and dumpcap allowed to capture on lo (root, or a dumpcap
with capture capabilities); skips with the reason otherwise."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import where

EXPRS = ["15*15", "30+30", "1/0", "2**100", "7//2", "2^10", "(1+2)*3",
         "-2**2", "1e308*10", "0.1+0.2"]


def _start_calcd(calcd, *args):
    p = subprocess.Popen([calcd, "-p", "0", "-b", "127.0.0.1", "-b", "::1",
                          *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()           # the startup line names the port
    m = re.search(r"port (\d+)", line)
    if not m:
        p.kill()
        pytest.fail("calcd did not report its port: %r" % line)
    return p, int(m.group(1))


def _stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def programs():
    build = os.environ.get("CALC_BUILD_DIR", "")
    calcd = os.path.join(build, "servers", "calcd")
    calc = os.path.join(build, "clients", "calc-cli")
    for prog in (calcd, calc):
        if not os.access(prog, os.X_OK):
            pytest.skip("%s is not built: no live capture to decode" % prog)
    dumpcap = shutil.which("dumpcap")
    if not dumpcap:
        pytest.skip("dumpcap is not installed")
    return calcd, calc, dumpcap


def test_live_session_is_paired_and_verified(tshark, programs, tmp_path):
    calcd, calc, dumpcap = programs
    pcap = str(tmp_path / "live.pcapng")
    servers = []
    dc = None
    try:
        srv, port = _start_calcd(calcd)
        servers.append(srv)
        role, rport = _start_calcd(calcd, "--role", "addsub")
        servers.append(role)
        dc = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f",
                               "port %d or port %d" % (port, rport),
                               "-w", pcap], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        # dumpcap opens the file once its filter is in place.
        deadline = time.monotonic() + 10
        while not (os.path.exists(pcap) and os.path.getsize(pcap) > 0):
            if dc.poll() is not None:
                err = dc.stderr.read().strip()
                pytest.skip("dumpcap cannot capture on lo: %s" % err)
            if time.monotonic() > deadline:
                pytest.fail("dumpcap did not start")
            time.sleep(0.05)
        time.sleep(0.2)

        def client(*args, stdin=None):
            return subprocess.run([calc, *args], input=stdin,
                                  capture_output=True, text=True,
                                  timeout=30).stdout.splitlines()
        v4, v6 = "127.0.0.1:%d" % port, "[::1]:%d" % port
        replies = []
        replies += client("-s", v4, stdin="\n".join(EXPRS) + "\n")   # TCP
        replies += client("--udp", "-s", v4, *EXPRS)
        replies += client("-s", v6, "6*7", "2**200")
        replies += client("--udp", "-s", v6, "6*7", "2**200")
        refusal = client("-s", "127.0.0.1:%d" % rport, "2*3", "2+3")
        time.sleep(0.3)
    finally:
        if dc:
            _stop(dc)
        for s in servers:
            _stop(s)
    assert len(replies) == 2 * len(EXPRS) + 4
    assert refusal[0].startswith("ERR unsupported") and refusal[1] == "5"

    decode = []
    for p in (port, rport):
        decode += ["-d", "udp.port==%d,calc" % p, "-d", "tcp.port==%d,calc" % p]
    names = ["calc.type", "calc.result", "calc.error.kind",
             "calc.response_in", "calc.response_to", "calc.verified",
             "calc.refused", "calc.no_request", "calc.no_response",
             "calc.mismatch", "calc.amplification", "calc.retransmission",
             "calc.duplicate_response", "calc.bad_request"]
    t = tshark.table(pcap, names, *decode)

    def count(name, value=None):
        """Occurrences of a field (with that value) in the capture."""
        vals = [v for row in t for v in row[name].split("|") if v]
        return len(vals) if value is None else vals.count(value)
    # Every request has its response and every response its request.
    n_req, n_rep = count("calc.type", "1"), count("calc.type", "2")
    assert n_req >= 2 * len(EXPRS) + 6
    assert count("calc.response_in") == n_req
    assert count("calc.response_to") == n_rep == n_req
    for n in names[7:-1]:
        assert where(t, n) == [], n
    assert where(t, "calc.bad_request") != []            # 2^10
    # Every reply verified, except the role server's refusal.
    assert count("calc.refused", "1") == 1
    assert count("calc.verified", "1") == n_rep - 1
    assert count("calc.verified", "0") == 0
    # What the client printed is what the dissector read.
    results = [v for row in t for v in row["calc.result"].split("|")]
    for line in replies:
        if not line.startswith("ERR"):
            assert line in results, line
