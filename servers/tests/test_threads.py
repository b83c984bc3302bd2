# SPDX-License-Identifier: MIT
"""calcd --threads N (servers/calcd_workers.h): workers with their own
loops and SO_REUSEPORT sockets on one port; signals, logging and the stop
as with one; --max-conn for the whole process; counters per worker."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import CALCD, Calcd, TIMEOUT, recv_until_eof, udp_ask

HEAVY = 200  # heavy requests per connection
STATS = re.compile(r"calcd: stats(?: worker (\d+))? (udp|tcp): (.*)$")


def counters(log):
    """{(worker or None, transport): {name: n}}, the last line of each."""
    out = {}
    for line in log:
        m = STATS.search(line.rstrip("\n"))
        if m:
            out[(m.group(1), m.group(2))] = {
                k: int(v) for k, v in re.findall(r"([a-z-]+) (\d+)",
                                                 m.group(3))}
    return out


def thread_cpu(pid):
    """{thread id: CPU time in ns} of each thread of pid (schedstat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            out[tid] = int(f.read().split()[0])
    return out


def test_threads_option(calcd_factory):
    s = calcd_factory("--threads", "2")
    assert ", threads 2" in s.log[0]
    assert len(os.listdir("/proc/%d/task" % s.proc.pid)) == 2
    ncpu = len(os.sched_getaffinity(0))
    a = calcd_factory("--threads", "auto")
    assert len(os.listdir("/proc/%d/task" % a.proc.pid)) == min(ncpu, 64)
    one = calcd_factory()
    assert "threads" not in one.log[0]  # the default is 1: as before


@pytest.mark.parametrize("arg", ["0", "65", "-1", "two", "", "1.5"])
def test_bad_threads(arg):
    p = subprocess.run([CALCD, "--port", "0", "--threads", arg],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--threads" in p.stderr


def test_two_workers_answer_concurrently(calcd_factory):
    """Many TCP connections and UDP sockets at once: every answer exact,
    both workers served (their own counters) and both threads computed
    (CPU time of each thread) while the load ran."""
    s = calcd_factory("--threads", "2")
    errors = []
    heavy = b"3**40000 % 1000007"  # big-int work: about 0.5 ms each
    want_heavy = b"%d" % (pow(3, 40000) % 1000007)

    def tcp_client(k):
        try:
            c = s.tcp()
            data = b"".join(b"%s #%d\n" % (heavy, j) for j in range(HEAVY))
            c.sendall(data + b"%d*%d\n" % (k, k))
            c.shutdown(socket.SHUT_WR)
            want = b"".join(b"%s #%d\n" % (want_heavy, j)
                            for j in range(HEAVY))
            got = recv_until_eof(c, timeout=30)
            if got != want + b"%d\n" % (k * k):
                errors.append((k, got[:200]))
            c.close()
        except OSError as e:
            errors.append((k, repr(e)))

    def udp_client(k):
        for j in range(20):
            got = udp_ask(s.port, b"%d+%d #%d" % (k, j, j), timeout=5)
            if got != b"%d #%d" % (k + j, j):
                errors.append(("udp", k, j, got))

    before = thread_cpu(s.proc.pid)
    ts = [threading.Thread(target=tcp_client, args=(k,)) for k in range(16)]
    ts += [threading.Thread(target=udp_client, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    after = thread_cpu(s.proc.pid)
    assert len(after) == 2 and set(after) == set(before)
    # each thread ran at least 20 ms of the load (the load is ~100 ms)
    assert all(after[t] - before[t] > 20e6 for t in after), (before, after)
    assert s.stop() == 0
    c = counters(s.log)
    for w in ("0", "1"):
        assert c[(w, "tcp")]["connections"] > 0, c
        assert c[(w, "udp")]["requests"] > 0, c
    assert c[(None, "tcp")]["connections"] == 16
    assert c[(None, "tcp")]["requests"] == 16 * (HEAVY + 1)
    assert c[(None, "udp")]["requests"] == 16 * 20
    assert sum(c[(w, "tcp")]["requests"] for w in ("0", "1")) == \
        16 * (HEAVY + 1)


def test_sigusr1_logs_every_worker_and_the_sum(calcd_factory):
    s = calcd_factory("--threads", "2")
    for k in range(8):
        assert udp_ask(s.port, b"%d*2" % k) == b"%d" % (2 * k)
    s.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        c = counters(s.log)
        if (None, "tcp") in c:
            break
        time.sleep(0.02)
    assert {("0", "udp"), ("1", "udp"), (None, "udp")} <= set(c)
    assert c[("0", "udp")]["requests"] + c[("1", "udp")]["requests"] == \
        c[(None, "udp")]["requests"] == 8
    # the sum comes after both workers' lines
    lines = [line for line in s.log if "stats" in line]
    assert "stats udp:" in lines[-2] and "stats tcp:" in lines[-1]


def test_max_conn_holds_for_the_process(calcd_factory):
    """--max-conn 4 with 2 workers: 4 connections in all, not 4 each."""
    s = calcd_factory("--threads", "2", "--max-conn", "4",
                      "--max-conn-per-addr", "4")
    held = []
    for k in range(4):
        c = s.tcp()
        c.sendall(b"%d+0\n" % k)
        assert c.recv(100) == b"%d\n" % k
        held.append(c)
    for _ in range(6):  # wherever the kernel puts them: refused
        c = s.tcp()
        c.sendall(b"1+1\n")
        got = recv_until_eof(c)
        assert got == b"ERR busy: server at its connection limit (4)\n", got
        c.close()
    held.pop().close()
    deadline = time.monotonic() + TIMEOUT
    while True:  # one slot free again: served, on either worker
        c = s.tcp()
        c.sendall(b"2+2\n")
        got = c.recv(100)
        c.close()
        if got == b"4\n" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got == b"4\n"
    for c in held:
        c.close()


def test_stop_under_load_loses_nothing():
    """SIGTERM with requests queued on connections of both workers: every
    request received is answered, by every worker, then all exit 0."""
    srv = Calcd("--threads", "2")
    n = 500
    lines = [b"".join(b"%d*%d+%d\n" % (k, k, j) for j in range(n))
             for k in range(24)]
    clients = [srv.tcp() for _ in lines]
    for c, data in zip(clients, lines):
        c.sendall(data)
    udp = []
    for k in range(16):  # datagrams waiting in both workers' sockets
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(TIMEOUT)
        u.sendto(b"%d-1" % k, ("127.0.0.1", srv.port))
        udp.append(u)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    for k, c in enumerate(clients):
        want = b"".join(b"%d\n" % (k * k + j) for j in range(n))
        assert recv_until_eof(c) == want, k
        c.close()
    for k, u in enumerate(udp):
        assert u.recv(100) == b"%d" % (k - 1)
        u.close()
    assert srv.stop(timeout=3) == 0
    assert time.monotonic() - t0 < 1.5
    log = "".join(srv.log)
    assert log.count("stopping") == 1 and "stopped" in log
    c = counters(srv.log)
    assert c[(None, "tcp")]["requests"] == 24 * n, c
    assert c[("0", "tcp")]["connections"] > 0 < c[("1", "tcp")]["connections"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1)


def test_proxy_protocol_in_every_worker(calcd_factory):
    """Each worker applies --proxy-protocol (its own connections)."""
    s = calcd_factory("--threads", "2", "--bind", "127.0.0.2",
                      "--proxy-protocol", "127.0.0.1", "-v")
    for k in range(12):
        c = socket.socket()
        c.bind(("127.0.0.1", 0))
        c.settimeout(TIMEOUT)
        c.connect(("127.0.0.2", s.port))
        c.sendall(b"PROXY TCP4 192.0.2.%d 127.0.0.2 %d 1\r\n%d*3\n" %
                  (k + 1, 1000 + k, k))
        assert c.recv(100) == b"%d\n" % (3 * k)
        c.close()
    assert s.stop() == 0
    log = "".join(s.log)
    for k in range(12):
        assert 'tcp 192.0.2.%d:%d "%d*3"' % (k + 1, 1000 + k, k) in log
    c = counters(s.log)
    assert c[("0", "tcp")]["connections"] + c[("1", "tcp")]["connections"] \
        == 12
