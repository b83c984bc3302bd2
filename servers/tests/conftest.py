# SPDX-License-Identifier: MIT
"""Shared helpers for calcd's black-box tests.

Each test runs a real calcd on loopback, on a port the kernel picked
(calcd_proc.py).  CMake passes the binaries in: CALCD (calcd) and
CALC_EVAL (calc-eval, the reply oracle).
"""
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import calcd_proc

CALCD = os.environ.get("CALCD", "")
CALC_EVAL = os.environ.get("CALC_EVAL", "")
REPO = Path(__file__).resolve().parents[2]
SEED_PROGRAMS = REPO.parent / "shared" / "seed" / "programs"

MAX_REQUEST = 4096  # CALC_MAX_REQUEST_LEN
TOO_LONG = b"ERR too-long: request longer than 4096 bytes"
TIMEOUT = 5.0  # seconds any single reply may take before a test fails


class Calcd(calcd_proc.Calcd):
    """calcd_proc.Calcd with this folder's shortcuts."""

    def __init__(self, *args, nofile=None):
        if not CALCD:
            pytest.fail("CALCD is not set (run through ctest)")
        try:
            super().__init__(CALCD, *args, nofile=nofile)
        except calcd_proc.CalcdError as e:
            pytest.fail(str(e))

    def udp(self, payload, host="127.0.0.1", timeout=TIMEOUT):
        """Send one datagram; its reply, or None when none came."""
        return udp_ask(self.port, payload, host, timeout)

    def tcp(self, host="127.0.0.1"):
        return socket.create_connection((host, self.port), timeout=TIMEOUT)


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
