# SPDX-License-Identifier: MIT
"""Shared helpers for the clients' black-box tests (calc, calc-bench).

ctest passes the binaries in the environment: CALC, CALC_BENCH, CALCD and
CALC_EVAL.  Every server runs on loopback on a port the kernel picked
(calcd --port 0, read back from its startup line); nothing assumes that
4000 is free.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

CALC = os.environ.get("CALC", "")
CALC_BENCH = os.environ.get("CALC_BENCH", "")
CALCD = os.environ.get("CALCD", "")
CALC_EVAL = os.environ.get("CALC_EVAL", "")

STARTUP = re.compile(r"role (\w+), port (\d+) udp\+tcp on (.*?), max-conn")
# calcd -v: one line per request: proto, peer, "request" -> "reply"
REQUEST_LOG = re.compile(
    r'^calcd: (udp|tcp|tcp-legacy) (\S+) "((?:[^"\\]|\\.)*)" -> '
    r'"((?:[^"\\]|\\.)*)"$')


def need(path, name):
    if not path:
        pytest.fail(f"{name} is not set (run the tests through ctest)")
    return path


def unquote(s):
    """Undo calcd's log quoting (\\" \\\\ \\xNN)."""
    return re.sub(r'\\(x[0-9a-f]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16))
                  if m.group(1).startswith("x") and len(m.group(1)) == 3
                  else m.group(1), s)


class Calcd:
    """A calcd on a free loopback port; stderr lines collected in .log."""

    def __init__(self, *args, port=0):
        self.args = args
        self.proc = subprocess.Popen(
            [need(CALCD, "CALCD"), "--port", str(port), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self.log = []
        m = None
        for _ in range(5):
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
        self._done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line)
        self._done.set()

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        """Stop calcd (SIGTERM) and wait until its whole log is read."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._done.wait(5)
        return code

    def requests(self):
        """(proto, request, reply) of each request logged (-v), in order."""
        out = []
        for line in self.log:
            m = REQUEST_LOG.match(line.rstrip("\n"))
            if m:
                out.append((m.group(1), unquote(m.group(3)),
                            unquote(m.group(4))))
        return out


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
    """Run calc; returns the CompletedProcess (text)."""
    return subprocess.run([need(CALC, "CALC"), *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env=env)


def free_port(kind=socket.SOCK_STREAM):
    """A port nobody listens on (bound, then closed, by us)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=5.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


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
