# SPDX-License-Identifier: MIT
"""calcd's TCP limits, each at and past its edge, and clients that misbehave
(docs/PROTOCOL.md, "Limits")."""
import socket
import struct
import threading
import time

from conftest import (MAX_REQUEST, TOO_LONG, recv_lines, recv_quiet,
                      recv_until_eof)

AT = b"+1" * (MAX_REQUEST // 2)  # a 4096-byte request: 2048


def test_line_at_the_length_limit(calcd):
    with calcd.tcp() as s:
        s.sendall(AT + b"\n" + AT + b"\r\n")
        assert recv_lines(s, 2) == b"2048\n2048\n"


def test_line_past_the_length_limit(calcd):
    with calcd.tcp() as s:  # earlier replies of the same write still come
        s.sendall(b"1+1\n" + AT + b" \n" + b"2+2\n")
        assert recv_until_eof(s) == b"2\n" + TOO_LONG + b"\n"


def test_long_line_without_newline(calcd):
    with calcd.tcp() as s:
        s.sendall(b"1+1\n")
        assert recv_lines(s, 1) == b"2\n"
        s.sendall(b"1" * 100000)  # closed as soon as 4097 bytes have no LF
        assert recv_until_eof(s) == TOO_LONG + b"\n"


def test_legacy_request_length_edges(calcd):
    with calcd.tcp() as s:
        s.sendall(AT)
        assert recv_quiet(s) == b"2048"
    with calcd.tcp() as s:
        s.sendall(AT + b" ")  # legacy replies have no newline
        assert recv_until_eof(s) == TOO_LONG


def test_connection_limit(calcd_factory):
    srv = calcd_factory("--max-conn", "3", "--max-conn-per-addr", "3")
    served = [srv.tcp() for _ in range(3)]
    for i, s in enumerate(served):  # at the limit: all served
        s.sendall(b"%d+1\n" % i)
        assert recv_lines(s, 1) == b"%d\n" % (i + 1)
    for _ in range(3):  # past it: told, then closed
        with srv.tcp() as extra:
            extra.sendall(b"1+1\n")
            assert recv_until_eof(extra) == \
                b"ERR busy: server at its connection limit (3)\n"
    served.pop().close()
    time.sleep(0.1)
    with srv.tcp() as again:  # a slot freed: served again
        again.sendall(b"5*5\n")
        assert recv_lines(again, 1) == b"25\n"
    for s in served:
        s.sendall(b"7*7\n")
        assert recv_lines(s, 1) == b"49\n"
        s.close()
    assert srv.stop() == 0
    assert sum("at --max-conn 3:" in l for l in srv.log) == 1  # not 3
    assert "refused-max-conn 3," in "".join(srv.log)


def test_connection_limit_fits_the_open_file_limit(calcd_factory):
    # 200 descriptors: calcd keeps 128 for sockets, refusals and spares.
    srv = calcd_factory("--max-conn", "4096", "--bind", "127.0.0.1",
                        "--max-conn-per-addr", "4096", nofile=200)
    assert "calcd: open file limit 200: max-conn lowered to 72\n" in srv.log
    assert srv.max_conn == 72
    served = [srv.tcp() for _ in range(72)]
    try:
        for s in served:
            s.sendall(b"1+1\n")
        for s in served:
            assert recv_lines(s, 1) == b"2\n"
        with srv.tcp() as extra:
            assert recv_until_eof(extra) == \
                b"ERR busy: server at its connection limit (72)\n"
    finally:
        for s in served:
            s.close()


def test_idle_timeout(calcd_factory):
    srv = calcd_factory("--idle-timeout", "0.4")
    with srv.tcp() as idle, srv.tcp() as busy:
        t0 = time.monotonic()
        for i in range(6):  # busy: traffic every 0.15 s keeps it open
            busy.sendall(b"%d\n" % i)
            assert recv_lines(busy, 1) == b"%d\n" % i
            time.sleep(0.15)
        assert recv_until_eof(idle, timeout=2) == b""  # closed silently
        assert 0.35 <= time.monotonic() - t0 < 2
        busy.sendall(b"1+1\n")
        assert recv_lines(busy, 1) == b"2\n"


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_client_not_reading_is_throttled(calcd_factory):
    # 8000 requests of 100 bytes whose replies are ~3.9 kB each (31 MB):
    # more than the kernel buffers hold, so calcd must stop reading, and
    # the sender (small send buffer) blocks.
    srv = calcd_factory()
    req = b"2**13000".ljust(99) + b"\n"
    n = 8000
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    hog.connect(("127.0.0.1", srv.port))
    done = threading.Event()

    def send_all():
        hog.sendall(req * n)
        done.set()

    t = threading.Thread(target=send_all, daemon=True)
    t.start()
    time.sleep(0.5)
    assert not done.is_set(), "calcd read everything: no backpressure"
    assert _rss_kib(srv.proc.pid) < 64 * 1024
    with srv.tcp() as other:  # everyone else is served meanwhile
        other.sendall(b"6*7\n")
        assert recv_lines(other, 1) == b"42\n"
    reply = str(2**13000).encode() + b"\n"
    got = 0
    buf = b""
    hog.settimeout(10)
    while got < n:
        chunk = hog.recv(1 << 20)
        assert chunk
        buf += chunk
        k = len(buf) // len(reply)
        assert buf[:k * len(reply)] == reply * k
        buf = buf[k * len(reply):]
        got += k
    assert buf == b""
    t.join(5)
    assert done.is_set()
    hog.close()


def _reset(sock):
    # SO_LINGER 0: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


def test_client_reset_mid_request_hurts_nobody(calcd):
    with calcd.tcp() as other:
        other.sendall(b"1+1\n")
        assert recv_lines(other, 1) == b"2\n"
        a = calcd.tcp()
        a.sendall(b"1+1\n2*")  # a reply pending, a request half sent
        time.sleep(0.05)
        _reset(a)
        b = calcd.tcp()  # reset while calcd has lots to send it
        b.sendall(b"2**13000\n" * 2000)
        _reset(b)
        c = calcd.tcp()
        c.sendall(b"30")  # a legacy request, reset before it is answered
        _reset(c)
        time.sleep(0.1)
        other.sendall(b"3*3\n")
        assert recv_lines(other, 1) == b"9\n"
    assert calcd.udp(b"2+2") == b"4"
    assert calcd.proc.poll() is None


def test_garbage_bytes_are_errors_not_failures(calcd):
    with calcd.tcp() as s:
        s.sendall(b"\x00\x01\x02\n\xff\xfe\xfd\n\x1b[2J\n1+1\n")
        lines = recv_lines(s, 4).split(b"\n")
        assert [l[:4] for l in lines[:3]] == [b"ERR "] * 3
        assert lines[3] == b"2"


def test_many_idle_connections_cost_little(calcd_factory):
    # Idle connections hold their two buffers (~24 KiB) and nothing else;
    # everyone else is served meanwhile.
    srv = calcd_factory("--max-conn-per-addr", "4096")
    before = _rss_kib(srv.proc.pid)
    idle = []
    try:
        for _ in range(400):
            idle.append(srv.tcp())
        with srv.tcp() as other:
            other.sendall(b"6*7\n")
            assert recv_lines(other, 1) == b"42\n"
        time.sleep(0.2)
        grown = _rss_kib(srv.proc.pid) - before
        assert grown / 400 < 32, f"{grown / 400:.1f} KiB per idle connection"
        assert srv.udp(b"1+1") == b"2"
    finally:
        for s in idle:
            s.close()
