# SPDX-License-Identifier: MIT
"""calcd as a service: socket activation by the LISTEN_FDS/LISTEN_PID
protocol, for real, with systemd's own systemd-socket-activate on a free
loopback port (UDP and TCP, IPv4 and IPv6); calcd started by hand still
binds its own sockets; SIGHUP is logged and survived."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import CALCD, TIMEOUT, Calcd, recv_lines, udp_ask

ACTIVATE = shutil.which("systemd-socket-activate")


def _have_v6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_V6 = _have_v6()
HOSTS = ("127.0.0.1", "::1") if HAVE_V6 else ("127.0.0.1",)


def free_port():
    """A port free for TCP and UDP on 127.0.0.1 and ::1 (checked now)."""
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        socks = [t]
        try:
            v6 = ((socket.AF_INET6, socket.SOCK_STREAM, "::1"),
                  (socket.AF_INET6, socket.SOCK_DGRAM, "::1"))
            for fam, typ, host in ((socket.AF_INET, socket.SOCK_DGRAM,
                                    "127.0.0.1"),) + (v6 if HAVE_V6 else ()):
                s = socket.socket(fam, typ)
                socks.append(s)
                s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no port free for UDP and TCP")


def tcp_ask(host, port, line):
    """One line over a new connection; its reply line."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as c:
        c.sendall(line + b"\n")
        return recv_lines(c, 1)


class Activated:
    """calcd under two nested systemd-socket-activate: the outer one binds
    the sockets of `first` (its type triggers the start), the inner one
    the other type, and passes them all on.  Both exec, so calcd keeps the
    outer one's pid."""

    def __init__(self, port, first, hosts=("127.0.0.1",), args=()):
        def listen(dgram):
            out = ["-d"] if dgram else []
            for h in hosts:
                out += ["-l", f"[{h}]:{port}" if ":" in h else f"{h}:{port}"]
            return out
        outer_dgram = first == "udp"
        cmd = [ACTIVATE, *listen(outer_dgram), "--",
               ACTIVATE, *listen(not outer_dgram), "--", CALCD, *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.port = port

    def wait_listening(self):
        """The outer activator listens: the first request may go."""
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            out = subprocess.run(["ss", "-Hlntu", f"sport = :{self.port}"],
                                 capture_output=True, text=True).stdout
            if out.strip():
                return
            time.sleep(0.05)
        pytest.fail("systemd-socket-activate never listened")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, self.proc.stderr.read()


@pytest.fixture
def activated():
    if not ACTIVATE:
        pytest.skip("systemd-socket-activate not found (Debian: systemd)")
    if not CALCD:
        pytest.fail("CALCD is not set (run through ctest)")
    started = []
    yield lambda *a, **kw: started.append(Activated(*a, **kw)) or started[-1]
    for a in started:
        a.stop()


def test_tcp_activation_then_udp(activated):
    port = free_port()
    a = activated(port, "tcp")
    a.wait_listening()
    assert tcp_ask("127.0.0.1", port, b"15*15") == b"225\n"
    assert udp_ask(port, b"15*15", "127.0.0.1") == b"225"
    assert udp_ask(port, b"2**-1", "127.0.0.1") == b"0.5"
    code, log = a.stop()
    assert code == 0, log
    assert "calcd: socket activation: serving 1 TCP and 1 UDP sockets " \
           "passed by systemd" in log
    assert f"port {port} udp+tcp on 127.0.0.1," in log
    assert "calcd: stopped" in log


def test_udp_activation_ipv4_and_ipv6(activated):
    """The datagram that starts calcd waits in the passed socket and is
    answered; so is every socket of both families (IPv4 only where the
    machine has no ::1)."""
    port = free_port()
    a = activated(port, "udp", hosts=HOSTS, args=("--role", "muldiv"))
    a.wait_listening()
    assert udp_ask(port, b"15*15", "127.0.0.1") == b"225"
    for h in HOSTS:
        assert udp_ask(port, b"7//2", h) == b"3"
        assert tcp_ask(h, port, b"6*7") == b"42\n"
    assert tcp_ask("127.0.0.1", port, b"1+1").startswith(b"ERR unsupported")
    code, log = a.stop()
    assert code == 0, log
    n = len(HOSTS)
    assert "serving %d TCP and %d UDP sockets passed by systemd" % (n, n) \
        in log
    assert "role muldiv, port %d udp+tcp on %s," % (port, " ".join(HOSTS)) \
        in log


def test_threads_under_activation_serve_the_passed_sockets(activated):
    """--threads binds a socket per worker; with passed sockets one worker
    serves them, and says so."""
    port = free_port()
    a = activated(port, "tcp", args=("--threads", "2"))
    a.wait_listening()
    assert tcp_ask("127.0.0.1", port, b"6*7") == b"42\n"
    assert udp_ask(port, b"6*7", "127.0.0.1") == b"42"
    code, log = a.stop()
    assert code == 0, log
    assert "(--threads ignored: one worker)" in log


def test_sighup_under_activation(activated):
    port = free_port()
    a = activated(port, "tcp")
    a.wait_listening()
    assert tcp_ask("127.0.0.1", port, b"1+1") == b"2\n"
    a.proc.send_signal(signal.SIGHUP)
    assert udp_ask(port, b"2+2", "127.0.0.1") == b"4"
    assert tcp_ask("127.0.0.1", port, b"3+3") == b"6\n"
    code, log = a.stop()
    assert code == 0, log
    assert "SIGHUP from pid" in log


def test_by_hand_binds_its_own_sockets():
    """LISTEN_* for another process (a parent's, inherited) is not ours:
    calcd binds its own sockets and leaves descriptor 3 alone."""
    env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="2")
    p = subprocess.Popen([CALCD, "--port", "0"], env=env,
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        line = p.stderr.readline()
        assert "socket activation" not in line
        port = int(line.split(", port ")[1].split()[0])
        assert port > 0
        assert udp_ask(port, b"15*15", "127.0.0.1") == b"225"
        assert tcp_ask(HOSTS[-1], port, b"15*15") == b"225\n"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(TIMEOUT) == 0


@pytest.mark.parametrize("fd3, fds, why", [
    ("/dev/null", "1", "descriptor 3 is not an IPv4 or IPv6 socket"),
    (None, "x", "LISTEN_FDS=x: want 0 to"),
    (None, "33", "LISTEN_FDS=33: want 0 to"),
])
def test_bad_passed_descriptors_are_refused(fd3, fds, why):
    """A misconfigured activation fails at once, with the reason, exit 1."""
    redirect = f"3<{fd3}" if fd3 else ""
    p = subprocess.run(
        ["sh", "-c", f'LISTEN_PID=$$ LISTEN_FDS={fds} exec "$0" {redirect}',
         CALCD], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 1, p.stderr
    assert why in p.stderr


def test_listening_tcp_socket_required():
    """A stream socket that does not listen (an Accept=yes connection)
    is refused: calcd serves listeners only."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    try:
        fd = conn.fileno()
        p = subprocess.run(
            ["bash", "-c", f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" 3<&{fd}',
             CALCD], pass_fds=(fd,), capture_output=True, text=True,
            timeout=TIMEOUT)
        assert p.returncode == 1, p.stderr
        assert "does not listen" in p.stderr
    finally:
        for s in (conn, cli, srv):
            s.close()


def test_sighup_by_hand_is_logged_and_survived():
    s = Calcd()
    try:
        for _ in range(3):
            s.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert s.proc.poll() is None
        assert udp_ask(s.port, b"15*15", "127.0.0.1") == b"225"
        assert tcp_ask("127.0.0.1", s.port, b"15*15") == b"225\n"
    finally:
        code = s.stop()
    assert code == 0
    hups = [l for l in s.log if "SIGHUP" in l]
    assert hups and all("still serving" in l for l in hups)
