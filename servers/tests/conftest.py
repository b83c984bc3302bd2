# SPDX-License-Identifier: MIT
"""Shared helpers for calcd's black-box tests.

Each test runs a real calcd on loopback.  calcd is started with --port 0
(the kernel picks a port free for both UDP and TCP) and the port is read
from its startup line on stderr.  CMake passes the binaries in:
CALCD (calcd) and CALC_EVAL (calc-eval, the reply oracle).
"""
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

CALCD = os.environ.get("CALCD", "")
CALC_EVAL = os.environ.get("CALC_EVAL", "")
REPO = Path(__file__).resolve().parents[2]
SEED_PROGRAMS = REPO.parent / "shared" / "seed" / "programs"

MAX_REQUEST = 4096  # CALC_MAX_REQUEST_LEN
TOO_LONG = b"ERR too-long: request longer than 4096 bytes"
STARTUP = re.compile(r"role (\w+), port (\d+) udp\+tcp on (.*?), max-conn (\d+)")
TIMEOUT = 5.0  # seconds any single reply may take before a test fails


class Calcd:
    """A calcd process on a free port; its stderr is collected in .log."""

    def __init__(self, *args, nofile=None):
        if not CALCD:
            pytest.fail("CALCD is not set (run through ctest)")

        def limit_files():  # in the child: an open-file limit to fit in
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [CALCD, "--port", "0", *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=limit_files if nofile else None)
        self.log = []
        for _ in range(5):  # warnings may precede the startup line
            line = self.proc.stderr.readline()
            self.log.append(line)
            m = STARTUP.search(line)
            if m or not line:
                break
        if not m:
            self.proc.kill()
            pytest.fail(f"calcd did not start: {''.join(self.log)!r}")
        self.role = m.group(1)
        self.port = int(m.group(2))
        self.addrs = m.group(3).split()
        self.max_conn = int(m.group(4))
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=3.0):
        """Signal calcd and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def udp(self, payload, host="127.0.0.1", timeout=TIMEOUT):
        """Send one datagram; its reply, or None when none came."""
        return udp_ask(self.port, payload, host, timeout)

    def tcp(self, host="127.0.0.1"):
        s = socket.create_connection((host, self.port), timeout=TIMEOUT)
        return s


@pytest.fixture
def calcd_factory():
    servers = []

    def start(*args, **kw):
        s = Calcd(*args, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        assert s.stop() == 0, "".join(s.log)


@pytest.fixture(scope="module")
def calcd():
    """A calcd in role all with default limits, shared by a module."""
    s = Calcd()
    yield s
    assert s.stop() == 0, "".join(s.log)


def udp_ask(port, payload, host="127.0.0.1", timeout=TIMEOUT):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as u:
        u.settimeout(timeout)
        u.sendto(payload, (host, port))
        try:
            return u.recv(65536)
        except socket.timeout:
            return None


def recv_lines(sock, count, timeout=TIMEOUT):
    """Read until `count` LF-terminated lines arrived; returns the bytes."""
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def recv_until_eof(sock, timeout=TIMEOUT):
    """Everything until the server closes; fails on a reset or timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            return buf
        buf += chunk


def recv_quiet(sock, quiet=0.3):
    """What arrives until nothing has come for `quiet` seconds."""
    buf = b""
    sock.settimeout(quiet)
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    return buf


def oracle(requests, role="all", udp=False):
    """The replies calc-eval (the core, offline) gives, one per request."""
    if not CALC_EVAL:
        pytest.fail("CALC_EVAL is not set (run through ctest)")
    args = [CALC_EVAL, "-r", role] + (["-u"] if udp else [])
    data = b"".join(r + b"\n" for r in requests)
    out = subprocess.run(args, input=data, stdout=subprocess.PIPE,
                         check=False, timeout=60).stdout
    lines = out.split(b"\n")[:-1]
    assert len(lines) == len(requests)
    return lines


def has_ipv6(server):
    return "::1" in server.addrs
