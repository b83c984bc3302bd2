# SPDX-License-Identifier: MIT
"""The stop under a heavy backlog (docs/PROTOCOL.md, "Running calcd"): on
SIGTERM calcd reads no new data, answers every request it had received,
computing them until CALCD_STOP_COMPUTE_MS and answering the rest
"ERR busy: server stopping" (tag echoed), and exits within CALCD_STOP_MS."""
import signal
import socket
import threading
import time

from conftest import Calcd, udp_ask

CONNS = 10
PER_CONN = 1000
# ~0.2-0.5 ms of big-int work each: 10 x 1000 of them is seconds of work,
# more than the stop deadline allows.
HEAVY = "3**41000 %% 7**20000 %% 10**9 #%d"
HEAVY_REPLY = str(pow(3, 41000, 7**20000) % 10**9)
STOP_DEADLINE = 0.9  # CALCD_STOP_MS
BUSY = "ERR busy: server stopping"


def read_all(sock, out, i):
    buf = b""
    sock.settimeout(10)
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        buf += b"<%s>" % type(e).__name__.encode()
    out[i] = buf


def test_sigterm_under_a_heavy_backlog():
    srv = Calcd()
    socks = [srv.tcp() for _ in range(CONNS)]
    out = [None] * CONNS
    readers = [threading.Thread(target=read_all, args=(s, out, i),
                                daemon=True) for i, s in enumerate(socks)]
    for r in readers:
        r.start()
    for s in socks:  # every request fully sent (calcd's kernel holds them)
        s.sendall("".join(HEAVY % k + "\n"
                          for k in range(PER_CONN)).encode())
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(5)
    elapsed = time.monotonic() - t0
    for r in readers:
        r.join(10)
    srv.stop()  # the whole log
    assert code == 0
    assert elapsed < STOP_DEADLINE + 0.2, elapsed  # scheduling slack
    computed = busy = 0
    for i, data in enumerate(out):
        lines = data.decode().split("\n")
        assert lines[-1] == "", (i, lines[-1][:80])  # no cut line, no reset
        lines = lines[:-1]
        assert len(lines) == PER_CONN, (i, len(lines))
        # In order: results, then (once computing stopped) busy replies.
        k = 0
        while k < PER_CONN and lines[k] == "%s #%d" % (HEAVY_REPLY, k):
            k += 1
        for j in range(k, PER_CONN):
            assert lines[j] == "%s #%d" % (BUSY, j), (i, j, lines[j])
        computed += k
        busy += PER_CONN - k
    assert computed > 0, (computed, busy)  # and, on all but a very fast
    # machine, busy > 0: 10,000 of these take well over 600 ms
    log = "".join(srv.log)
    assert "stop-busy %d" % busy in log, log[-600:]


def test_stop_answers_queued_datagrams_and_exits():
    srv = Calcd()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    n = 200
    for k in range(n):
        u.sendto((HEAVY % k).encode(), ("127.0.0.1", srv.port))
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(5) == 0
    assert time.monotonic() - t0 < STOP_DEADLINE + 0.2
    u.settimeout(0.5)
    got = []
    try:
        while True:
            got.append(u.recv(200).decode())
    except socket.timeout:
        pass
    srv.stop()
    # Every datagram queued at the stop is answered, a result or busy.
    assert len(got) == n, len(got)
    for r in got:
        assert r.startswith(HEAVY_REPLY + " #") or r.startswith(BUSY + " #")
    assert udp_ask(srv.port, b"1+1", timeout=0.3) is None  # closed
