# SPDX-License-Identifier: MIT
"""calcd's command line, startup log, -v logging, exit codes, and shutdown
on SIGTERM/SIGINT with requests in flight (docs/PROTOCOL.md, "Running")."""
import signal
import socket
import subprocess
import time

import pytest

from conftest import CALCD, Calcd, recv_lines, recv_until_eof


def run(*args):
    return subprocess.run([CALCD, *args], capture_output=True, text=True,
                          timeout=10)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: calcd")
    for opt in ("--role", "--port", "--bind", "--max-conn",
                "--max-conn-per-addr", "--idle-timeout", "--request-timeout",
                "--verbose", "SIGUSR1", "Exit status"):
        assert opt in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("calcd ")


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--role", "sqrt"], ["--port", "65536"], ["--port", "x"],
    ["--bind", "localhost"], ["--max-conn", "0"], ["--idle-timeout", "0"],
    ["--idle-timeout", "1s"], ["--request-timeout", "0"],
    ["--request-timeout", ""], ["--max-conn-per-addr", "0"], ["extra"],
])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2 and "calcd" in r.stderr.splitlines()[0]


def test_bind_failure_exits_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run("--port", str(port), "--bind", "127.0.0.1")
    assert r.returncode == 1
    assert "cannot bind tcp 127.0.0.1:%d" % port in r.stderr


def test_startup_line(calcd_factory):
    s = calcd_factory("--role", "muldiv", "--max-conn", "77",
                      "--bind", "127.0.0.1", "--idle-timeout", "2.5")
    [line] = [l for l in s.log if "version" in l]
    assert line.startswith("calcd: version ")
    assert ", role muldiv, port %d udp+tcp on 127.0.0.1, max-conn 77, " \
           "max-conn-per-addr 9, idle-timeout 2.5 s, request-timeout 10 s, " \
           "max-request 4096 bytes, pid %d\n" % (s.port, s.proc.pid) in line


def test_default_binds_are_loopback(calcd):
    assert calcd.addrs[0] == "127.0.0.1"
    assert set(calcd.addrs) <= {"127.0.0.1", "::1"}


def test_verbose_logs_each_request(calcd_factory):
    s = calcd_factory("-v")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(b"15*15", ("127.0.0.1", s.port))
        assert u.recv(100) == b"225"
        uport = u.getsockname()[1]
    with s.tcp() as c:
        c.sendall(b"1/0\n")
        recv_lines(c, 1)
        tport = c.getsockname()[1]
    assert s.stop() == 0  # the whole log, read to EOF
    log = "".join(s.log)
    assert 'calcd: udp 127.0.0.1:%d "15*15" -> "225"\n' % uport in log
    assert ('calcd: tcp 127.0.0.1:%d "1/0" -> '
            '"ERR zero-division: division by zero"\n' % tport) in log


def test_sigterm_with_requests_in_flight():
    srv = Calcd()
    n = 500
    lines = [b"".join(b"%d*%d+%d\n" % (k, k, j) for j in range(n))
             for k in range(20)]
    clients = [srv.tcp() for _ in lines]
    legacy = srv.tcp()
    for c, data in zip(clients, lines):
        c.sendall(data)
    legacy.sendall(b"7*6")          # a legacy request, not yet answered
    partial = srv.tcp()
    partial.sendall(b"1+1\n2+")     # the second line is not complete
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    for k, c in enumerate(clients):  # every received request is answered
        want = b"".join(b"%d\n" % (k * k + j) for j in range(n))
        assert recv_until_eof(c) == want
        c.close()
    assert recv_until_eof(legacy) == b"42"
    assert recv_until_eof(partial) == b"2\n"
    assert srv.stop(timeout=2) == 0  # waits for the whole log too
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1)
    assert "stopping" in "".join(srv.log)


def test_sigint_with_idle_clients():
    srv = Calcd()
    idle = [srv.tcp() for _ in range(5)]
    t0 = time.monotonic()
    assert srv.stop(signal.SIGINT) == 0
    assert time.monotonic() - t0 < 1.0
    for c in idle:
        assert recv_until_eof(c) == b""
        c.close()


def test_sigpipe_does_not_kill(calcd):
    # Replies to a client that has gone: EPIPE, never SIGPIPE.
    for _ in range(20):
        c = calcd.tcp()
        c.sendall(b"2**13000\n" * 50)
        c.shutdown(socket.SHUT_RD)
        c.close()
    time.sleep(0.2)
    assert calcd.proc.poll() is None
    assert calcd.udp(b"1+1") == b"2"


def _stats_lines(log):
    return [l for l in log if l.startswith("calcd: stats ")]


def test_counters_on_sigusr1_and_at_exit(calcd_factory):
    s = calcd_factory("--max-conn", "1")
    assert s.udp(b"15*15") == b"225"
    assert s.udp(b"1/0") == b"ERR zero-division"
    assert s.udp(b"", timeout=0.3) is None  # empty: no request, no reply
    with s.tcp() as c:
        c.sendall(b"1+1\n2**-1\n)\n")
        assert recv_lines(c, 3).count(b"\n") == 3
        with s.tcp() as refused:
            assert recv_until_eof(refused).startswith(b"ERR busy: ")
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 3
    while len(_stats_lines(s.log)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    udp, tcp = _stats_lines(s.log)
    assert udp == ("calcd: stats udp: requests 2, replies 2, errors 1, "
                   "dropped 0, shed 0, stop-busy 0\n")
    assert tcp == ("calcd: stats tcp: connections 1, requests 3, replies 4, "
                   "errors 1, stop-busy 0, refused-max-conn 1, "
                   "refused-per-addr 0, over-long 0, idle-timeouts 0, "
                   "request-timeouts 0, resets 0, proxy-refused 0\n")
    assert s.proc.poll() is None  # SIGUSR1 does not stop it
    assert s.udp(b"2+2") == b"4"
    assert s.stop() == 0
    lines = _stats_lines(s.log)
    assert len(lines) == 4 and lines[2].startswith(
        "calcd: stats udp: requests 3, replies 3, errors 1,")
    assert lines[3] == tcp
