# SPDX-License-Identifier: MIT
"""The seed's original clients, run unchanged, get from calcd byte for byte
what the original servers give them (docs/PROTOCOL.md, "Compatibility").

Needs ../shared/seed/programs beside the repository; skipped without it.
The programs are run through seed_run.py, which only moves port 4000.
"""
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SEED_PROGRAMS

pytestmark = pytest.mark.skipif(
    not (SEED_PROGRAMS / "tcp_client.py").is_file(),
    reason=f"{SEED_PROGRAMS} is absent")

SEED_RUN = Path(__file__).resolve().parent / "seed_run.py"

# Valid expressions: both servers must print what Python's eval prints.
EXPRESSIONS = [
    "15*15", "30+30", "2**100", "7//-2", "1/3", "-2**2", "2**-1",
    "(2**1024)/3", "1e308*10", "0.1+0.2", "10%3", "-7%3", "-7.0%2",
    "1_000*3", "0x1f+0b101", "2**0.5", "1e16", "1e15", "3.0*2", "1e-5",
    " (1+2) * (3+4) ", "15*15 # a comment", "2**1000", "-(-(3))",
    "123456789*987654321", "8/4", "2**53+1.0",
]
# Over UDP only those whose reply fits the bound: max(3 * request, 32).
UDP_EXPRESSIONS = [e for e in EXPRESSIONS
                   if len(str(eval(e))) <= max(3 * len(e), 32)]


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 (for the original servers,
    which cannot take port 0)."""
    for _ in range(50):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    pytest.fail("no free port")


def seed(program, port):
    return [sys.executable, str(SEED_RUN), str(port),
            str(SEED_PROGRAMS / program)]


def run_client(program, port, exprs):
    r = subprocess.run(seed(program, port), capture_output=True, text=True,
                       input="".join(e + "\n" for e in exprs), timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def start_server(program, port):
    p = subprocess.Popen(seed(program, port), stderr=subprocess.PIPE,
                         text=True)
    assert p.stderr.readline() == "ready\n"
    return p


@pytest.mark.parametrize("proto,exprs", [("tcp", EXPRESSIONS),
                                         ("udp", UDP_EXPRESSIONS)])
def test_original_client_sees_the_same_bytes(calcd_factory, proto, exprs):
    port = free_port()
    original = start_server(f"{proto}_server.py", port)
    try:
        want = run_client(f"{proto}_client.py", port, exprs)
    finally:
        if proto == "udp":  # the TCP server ends with its one client
            original.kill()
        original.wait(10)
    assert want.count("\n") == len(exprs)  # every expression answered

    ours = calcd_factory("--bind", "127.0.0.1")
    got = run_client(f"{proto}_client.py", ours.port, exprs)
    assert got == want
