# SPDX-License-Identifier: MIT
"""Shared helpers for the clients' black-box tests (calc-cli, calc-bench).

ctest passes the binaries in the environment: CALC, CALC_BENCH and
CALCD.  Every server runs on loopback on a port the kernel picked
(calcd --port 0, read back from its startup line); nothing assumes that
4000 is free.
"""
import contextlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# calcd in a test: servers/tests/calcd_proc.py, shared by the test folders.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "servers" / "tests"))
import calcd_proc  # noqa: E402

CALC = os.environ.get("CALC", "")
CALC_BENCH = os.environ.get("CALC_BENCH", "")
CALCD = os.environ.get("CALCD", "")


def need(path, name):
    if not path:
        pytest.fail(f"{name} is not set (run the tests through ctest)")
    return path


class Calcd(calcd_proc.Calcd):
    """calcd (the CALCD binary) on a free loopback port; .addr, .log,
    .requests() (the -v log), .stop()."""

    def __init__(self, *args, port=0):
        try:
            super().__init__(need(CALCD, "CALCD"), *args, port=port)
        except calcd_proc.CalcdError as e:
            pytest.fail(str(e))


@pytest.fixture
def calcd_factory():
    servers = []

    def start(*args, port=0):
        s = Calcd(*args, port=port)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def calcd_all():
    s = Calcd()
    yield s
    s.stop()


def run_calc(args, stdin=None, timeout=30, env=None):
    """Run calc-cli; returns the CompletedProcess (text)."""
    return subprocess.run([need(CALC, "CALC"), *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env=env)


def free_port(kind=socket.SOCK_STREAM):
    """A port nobody listens on (bound, then closed, by us)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Feeder:
    """calc in batch mode fed one line at a time, as a program would."""

    def __init__(self, args):
        self.proc = subprocess.Popen(
            [need(CALC, "CALC"), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)

    def ask(self, line):
        """Write one line; return the next line calc prints."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def finish(self, timeout=10):
        """Close calc's input: (exit status, rest of stdout, stderr)."""
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout)
        return code, out, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def feeder():
    started = []

    def start(*args):
        f = Feeder(args)
        started.append(f)
        return f

    yield start
    for f in started:
        f.kill()


@contextlib.contextmanager
def udp_server(handle):
    """A fake UDP server on loopback: handle(sock, data, peer) for each
    datagram, in a thread; yields the port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        s.settimeout(0.05)
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(65536)
            except socket.timeout:
                continue
            handle(s, data, peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield s.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        s.close()
