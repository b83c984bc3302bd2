# SPDX-License-Identifier: MIT
"""Fairness (docs/PROTOCOL.md, "Fairness"): calcd answers one connection or
one UDP batch for at most one turn's budget (CALCD_TURN_NS, 1 ms), then
serves the others, so a cheap request is not held behind someone else's
long pipelined batch.  These tests prove the interleaving by order, not by
time: the cheap reply must come while the heavy batch is still being
answered.  The latency figures are bench/server's (docs/BENCHMARKS.md)."""
import os
import re
import signal
import socket
import threading
import time

from conftest import recv_lines

# ~0.2-0.5 ms of big-int work each, a short reply (so the heavy client's
# output never fills, which would stop calcd reading it anyway).
HEAVY = b"3**41000 % 7**20000 % 10**9"
HEAVY_REPLY = str(pow(3, 41000, 7**20000) % 10**9).encode()
# One read of calcd's input (CALCD_IN_CAP, 8196 bytes) holds them all:
# before per-turn budgets, all were answered before anything else.
BATCH = 250


class Reader(threading.Thread):
    """Counts the heavy replies as they arrive."""

    def __init__(self, sock, want):
        super().__init__(daemon=True)
        self.sock, self.want, self.count, self.data = sock, want, 0, b""
        self.first = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        self.sock.settimeout(30)
        while self.count < self.want:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                break
            with self.lock:
                self.data += chunk
                self.count = self.data.count(b"\n")
            self.first.set()

    def seen(self):
        with self.lock:
            return self.count


def arrived(u):
    """The datagrams already waiting on u."""
    got = []
    u.setblocking(False)
    try:
        while True:
            got.append(u.recv(100))
    except BlockingIOError:
        pass
    return got


def assert_all_replies(u, got, n):
    """The rest of the n tagged heavy replies arrive; all are right."""
    u.settimeout(20)
    while len(got) < n:
        got.append(u.recv(100))
    assert sorted(got) == sorted(HEAVY_REPLY + b" #%d" % i for i in range(n))


def test_cheap_request_overtakes_a_pipelined_batch(calcd):
    heavy = calcd.tcp()
    cheap = calcd.tcp()
    cheap.sendall(b"1+1\n")  # line mode, and the connection is set up
    assert recv_lines(cheap, 1) == b"2\n"
    batch = HEAVY + b"\n"
    assert len(batch) * BATCH < 8196
    reader = Reader(heavy, BATCH)
    reader.start()
    heavy.sendall(batch * BATCH)  # one write: one read on calcd's side
    assert reader.first.wait(20), "no heavy reply"
    cheap.sendall(b"15*15\n")
    assert recv_lines(cheap, 1, timeout=20) == b"225\n"
    seen = reader.seen()
    reader.join(60)
    assert reader.data == (HEAVY_REPLY + b"\n") * BATCH  # all, in order
    assert seen < BATCH, "the cheap request waited for the whole batch"
    heavy.close()
    cheap.close()


def test_cheap_request_overtakes_a_udp_batch(calcd):
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    cheap = calcd.tcp()
    cheap.sendall(b"1+1\n")
    assert recv_lines(cheap, 1) == b"2\n"
    n = 64  # one recvmmsg batch (CALCD_UDP_BATCH)
    for i in range(n):
        flood.sendto(HEAVY + b" #%d" % i, ("127.0.0.1", calcd.port))
    flood.settimeout(20)
    first = flood.recv(100)
    cheap.sendall(b"15*15\n")
    assert recv_lines(cheap, 1, timeout=20) == b"225\n"
    got = [first] + arrived(flood)
    assert len(got) < n, "the cheap request waited for the whole batch"
    assert_all_replies(flood, got, n)
    flood.close()
    cheap.close()


def test_heavy_clients_share_the_server(calcd):
    # Two pipelining clients: each gets replies while the other's batch is
    # still being answered (neither waits for the other to finish).
    socks = [calcd.tcp() for _ in range(2)]
    readers = [Reader(s, BATCH) for s in socks]
    for r in readers:
        r.start()
    for s in socks:
        s.sendall((HEAVY + b"\n") * BATCH)
    t0 = time.monotonic()
    while not all(r.first.is_set() for r in readers):
        assert time.monotonic() - t0 < 20
        time.sleep(0.001)
    counts = [r.seen() for r in readers]
    for r in readers:
        r.join(60)
        assert r.data == (HEAVY_REPLY + b"\n") * BATCH
    assert min(counts) < BATCH and max(counts) < BATCH, counts
    for s in socks:
        s.close()


def test_cheap_datagram_overtakes_a_flood_on_the_same_socket(calcd):
    # The pool of held datagrams is served by sender in turn: one sender's
    # hundred heavy datagrams do not hold up another sender's cheap one.
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    cheap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 100
    for i in range(n):
        flood.sendto(HEAVY + b" #%d" % i, ("127.0.0.1", calcd.port))
    cheap.sendto(b"15*15 #1", ("127.0.0.1", calcd.port))
    cheap.settimeout(20)
    assert cheap.recv(100) == b"225 #1"
    got = arrived(flood)
    assert len(got) < n // 2, len(got)
    assert_all_replies(flood, got, n)
    flood.close()
    cheap.close()


def test_a_burst_from_one_sender_is_all_answered(calcd):
    # Up to the pool (CALCD_UDP_POOL, 256) a burst is no flood: nothing of
    # it is dropped.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    n = 200
    for i in range(n):
        u.sendto(b"%d+1 #%d" % (i, i), ("127.0.0.1", calcd.port))
    u.settimeout(5)
    got = sorted(u.recv(100) for _ in range(n))
    assert got == sorted(b"%d #%d" % (i + 1, i) for i in range(n))
    u.close()


def test_a_flood_past_the_pool_is_shed_not_the_others(calcd_factory):
    # Past the pool (CALCD_UDP_POOL) a sender holding more than
    # CALCD_UDP_FLOOD of it loses its newest: the cheap datagram queued
    # behind the flood gets in and is answered long before the flood is.
    srv = calcd_factory()
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    cheap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 300  # the pool's 256, and more queued in the kernel
    for i in range(n):
        flood.sendto(HEAVY + b" #%d" % i, ("127.0.0.1", srv.port))
    cheap.settimeout(0.02)  # the kernel may have dropped it: the queue
    for _ in range(500):    # is full of the flood; ask again, as UDP does
        cheap.sendto(b"15*15 #1", ("127.0.0.1", srv.port))
        try:
            assert cheap.recv(100) == b"225 #1"
            break
        except socket.timeout:
            continue
    else:
        raise AssertionError("the cheap datagram was never answered")
    early = len(arrived(flood))
    assert early < 150, early  # first come, first served: all held, 250+
    time.sleep(0.5)
    assert srv.stop() == 0
    log = "".join(srv.log)
    shed = int(re.search(r"stats udp: .*shed (\d+)", log).group(1))
    assert shed > 0
    assert log.count("udp flood") == 1, log


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def settled_log(srv):
    """calcd is stopped: the number of lines it logged (once its pipe is
    drained into srv.log)."""
    n, t = -1, time.monotonic()
    while True:
        time.sleep(0.05)
        if len(srv.log) == n:
            return n
        n = len(srv.log)
        assert time.monotonic() - t < 10


def test_new_senders_datagram_waits_one_turn_not_the_queue(calcd_factory):
    """A datagram from a new sender on the flood's socket, while 12 TCP
    connections pipeline heavy requests too: the socket's task would wait
    for its place behind all of them (the flood keeps it heavy), so calcd
    reads the socket as it becomes readable and gives a new sender's
    datagram a turn before the heavy ones.  Proved by the order calcd
    answered in (-v log), not by time: calcd is frozen (SIGSTOP), the
    datagram sent, calcd resumed.  Between the last line logged before the
    freeze and the probe's line come the heavy answers of at most one
    turn (the one in progress, or the next if calcd had just looked for
    events: one connection's) and at most 2 of the flood's datagrams (one
    of its turn in progress, one of the probe's round), however many heavy
    tasks are queued; before, the heavy answers of all 12 connections."""
    FLOOD = 200  # within the pool (CALCD_UDP_POOL): none shed
    srv = calcd_factory("-v")
    conns = [srv.tcp() for _ in range(12)]
    readers = [Reader(c, BATCH) for c in conns]
    for r in readers:
        r.start()
    for c in conns:
        c.sendall((HEAVY + b"\n") * BATCH)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for i in range(FLOOD):
        flood.sendto(HEAVY + b" #%d" % i, ("127.0.0.1", srv.port))
    flood.settimeout(20)
    first = flood.recv(100)  # every task has had a turn, and has work left: heavy
    for r in readers:
        assert r.first.wait(20)
    pid = srv.proc.pid
    before = []
    for k in range(5):
        os.kill(pid, signal.SIGSTOP)
        try:
            while proc_state(pid) != "T":
                time.sleep(0.001)
            l0 = settled_log(srv)
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.sendto(b"15*15 #%d" % k, ("127.0.0.1", srv.port))
        finally:
            os.kill(pid, signal.SIGCONT)
        probe.settimeout(20)
        assert probe.recv(100) == b"225 #%d" % k
        probe.close()
        want = '"15*15 #%d" -> "225 #%d"' % (k, k)
        t = time.monotonic()
        while not any(want in x for x in srv.log[l0:]):
            assert time.monotonic() - t < 10
            time.sleep(0.01)
        lines = srv.log[l0:]
        at = next(i for i, x in enumerate(lines) if want in x)
        heavy = [x.split()[1:3] for x in lines[:at] if HEAVY.decode() in x]
        before.append((len({peer for proto, peer in heavy if proto == "tcp"}),
                       sum(proto == "udp" for proto, _ in heavy)))
        # the attack was still on: heavy work was left after the probe
        assert all(r.seen() < BATCH for r in readers), "attack over too soon"
    # (connections whose heavy answers came first, the flood's datagrams)
    assert all(tcp <= 1 and udp <= 2 for tcp, udp in before), before
    for r in readers:
        r.join(60)
        assert r.data == (HEAVY_REPLY + b"\n") * BATCH
    assert_all_replies(flood, [first] + arrived(flood), FLOOD)
    flood.close()
    for c in conns:
        c.close()
