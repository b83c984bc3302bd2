# SPDX-License-Identifier: MIT
"""Slow and greedy clients (docs/PROTOCOL.md, "Limits"): the idle timer
counts complete requests, not bytes; a request must be complete within
--request-timeout of its first byte; --max-conn-per-addr keeps one address
from taking every connection.  Each limit at and past its edge, counted in
the stats and logged once per offending address."""
import re
import socket
import time

from conftest import recv_lines, recv_quiet


# A trickled expression that never ends a request: 41 bytes, some 4 s at
# a byte per 0.1 s, well past the timeouts under test (0.5, 1.0 s); and
# how late their close may come on a loaded machine (2-core CI running
# other suites beside): still well before the trickle would end.
SLOW_EXPR = b"1+" * 20 + b"1"
LATE = 3.0


def closed_within(sock, seconds):
    """True when the server closes sock (EOF or reset) within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
    return False


def trickle(sock, data, gap):
    """Send data one byte at a time, gap seconds apart; False when the
    server closed the connection meanwhile."""
    for ch in data:
        try:
            sock.sendall(bytes([ch]))
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(gap)
    return True


def stats(server, transport):
    line = [l for l in server.log
            if l.startswith(f"calcd: stats {transport}:")][-1]
    return {k: int(v) for k, v in re.findall(r"([a-z-]+) (\d+)", line)}


def test_bytes_do_not_reset_the_idle_timer(calcd_factory):
    srv = calcd_factory("--idle-timeout", "0.5", "--request-timeout", "60")
    with srv.tcp() as slow:
        slow.sendall(b"1+1\n")  # line mode; a request at t=0
        assert recv_lines(slow, 1) == b"2\n"
        t0 = time.monotonic()
        alive = trickle(slow, SLOW_EXPR, 0.1)  # never a request
        assert not alive or closed_within(slow, 1.0)
        assert 0.4 <= time.monotonic() - t0 < LATE
    with srv.tcp() as ok:
        for i in range(5):  # a request every 0.2 s keeps a connection open
            ok.sendall(b"%d*2\n" % i)
            assert recv_lines(ok, 1) == b"%d\n" % (2 * i)
            time.sleep(0.2)
    assert srv.stop() == 0
    assert stats(srv, "tcp")["idle-timeouts"] == 1


def test_request_timeout_edges(calcd_factory):
    srv = calcd_factory("--request-timeout", "1.0")
    with srv.tcp() as at, srv.tcp() as past, srv.tcp() as legacy:
        at.sendall(b"1+1\n")
        past.sendall(b"1+1\n")
        assert recv_lines(at, 1) == b"2\n" and recv_lines(past, 1) == b"2\n"
        # At the edge: a request completed within the timeout is answered,
        # and the next one gets its own time.
        assert trickle(at, b"2*3", 0.1)  # ~0.3 s
        at.sendall(b"\n")
        assert recv_lines(at, 1) == b"6\n"
        assert trickle(at, b"4*4", 0.1)
        at.sendall(b"\n")
        assert recv_lines(at, 1) == b"16\n"
        # Past it: a request still not complete is closed, silently.
        t0 = time.monotonic()
        alive = trickle(past, SLOW_EXPR, 0.1)
        assert not alive or closed_within(past, 1.0)
        assert 0.9 <= time.monotonic() - t0 < LATE
        # A legacy client that keeps its expression unfinished ("1+1+"),
        # sending more before the 250 ms unfinished wait is over, never
        # ends a request: the request timeout closes it too.
        t0 = time.monotonic()
        alive = True
        for _ in range(len(SLOW_EXPR)):
            try:
                legacy.sendall(b"1+")
            except (BrokenPipeError, ConnectionResetError):
                alive = False
                break
            time.sleep(0.05)
        assert not alive or closed_within(legacy, 1.0)
        assert time.monotonic() - t0 < LATE
    assert srv.stop() == 0
    assert stats(srv, "tcp")["request-timeouts"] == 2
    logged = [l for l in srv.log if "request timeout" in l]
    assert len(logged) == 1, logged  # one offender (127.0.0.1): one line
    assert logged[0].startswith("calcd: 127.0.0.1: request timeout")


def test_a_legacy_request_within_the_timeout(calcd_factory):
    srv = calcd_factory("--request-timeout", "0.3")
    with srv.tcp() as s:  # legacy requests end by quiet time: never late
        for _ in range(3):
            s.sendall(b"6*7")
            assert recv_quiet(s, 0.2) == b"42"
        time.sleep(0.4)
        s.sendall(b"1+1")
        assert recv_quiet(s, 0.2) == b"2"


def test_connections_per_address(calcd_factory):
    srv = calcd_factory("--max-conn", "10", "--max-conn-per-addr", "3")
    busy = b"ERR busy: too many connections from your address (3)\n"
    served = [srv.tcp() for _ in range(3)]
    for i, s in enumerate(served):  # at the limit: all served
        s.sendall(b"%d+1\n" % i)
        assert recv_lines(s, 1) == b"%d\n" % (i + 1)
    for _ in range(4):  # past it: refused, each told why
        with srv.tcp() as extra:
            assert recv_quiet(extra, 0.5) == busy
    other = socket.socket()  # another address is served meanwhile
    other.bind(("127.0.0.2", 0))
    other.settimeout(5)
    other.connect(("127.0.0.1", srv.port))
    other.sendall(b"7*7\n")
    assert recv_lines(other, 1) == b"49\n"
    other.close()
    served.pop().close()  # a slot of the address freed: served again
    time.sleep(0.1)
    with srv.tcp() as again:
        again.sendall(b"5*5\n")
        assert recv_lines(again, 1) == b"25\n"
    for s in served:
        s.close()
    assert srv.stop() == 0
    assert stats(srv, "tcp")["refused-per-addr"] == 4
    logged = [l for l in srv.log if "further connections" in l]
    assert logged == ["calcd: 127.0.0.1: at --max-conn-per-addr 3: further "
                      "connections refused (logged once while it stays "
                      "connected)\n"]


def test_per_address_default_follows_max_conn(calcd_factory):
    srv = calcd_factory("--max-conn", "80")
    assert any("max-conn 80, max-conn-per-addr 10," in l for l in srv.log)
    srv = calcd_factory("--max-conn", "5")
    assert any("max-conn 5, max-conn-per-addr 1," in l for l in srv.log)
    with srv.tcp() as one, srv.tcp() as two:
        one.sendall(b"1+1\n")
        assert recv_lines(one, 1) == b"2\n"
        assert recv_quiet(two, 0.5) == \
            b"ERR busy: too many connections from your address (1)\n"
