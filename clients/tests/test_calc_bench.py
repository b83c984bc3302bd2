# SPDX-License-Identifier: MIT
"""calc-bench: against calcd it sees no wrong reply and its counts agree
with the requests calcd logged; it detects wrong replies, counts lost and
duplicated datagrams, paces with --rate, and shows progress on a terminal."""
import json
import os
import pty
import re
import select
import socket
import subprocess
import threading
import time

import pytest

from conftest import CALC_BENCH, Calcd, need

TAG9 = re.compile(r" #\d{9}$")


def bench(*args, timeout=60):
    r = subprocess.run([need(CALC_BENCH, "CALC_BENCH"), "-q", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r


def bench_json(*args, code=0):
    r = bench("--json", *args)
    assert r.returncode == code, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("proto", ["--tcp", "--udp"])
def test_counts_agree_with_calcd(proto):
    s = Calcd("-v")
    try:
        # (a 5 s loss timeout: a busy machine delays, loopback does not lose)
        j = bench_json(proto, "-s", s.addr, "-c", "4", "-d", "8", "-n", "4000",
                       "-t", "5000")
    finally:
        assert s.stop() == 0
    logged = [x for x in s.requests() if x[0] == proto[2:]]
    assert j["sent"] == 4000
    assert j["wrong"] == 0 and j["ok"] == j["replies"]
    assert j["replies"] + j["lost"] == j["sent"]
    # on loopback nothing is lost: calcd answered exactly what was sent
    assert j["lost"] == 0 and j["late"] == 0
    assert len(logged) == j["replies"] == 4000
    # the default mix has one error (1/0) in 8 expressions
    assert j["error_replies"] == 500
    assert sum(1 for _, _, rep in logged if rep.startswith("ERR")) == 500
    assert all(TAG9.search(req) and TAG9.search(rep) for _, req, rep in logged)
    lat = j["latency_us"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= \
        lat["p99.9"] <= lat["max"]


def test_duration_and_rate(calcd_all):
    j = bench_json("-s", calcd_all.addr, "-D", "1", "-R", "2000", "-c", "2")
    assert 1700 <= j["sent"] <= 2100, j
    assert j["replies"] == j["sent"] and j["wrong"] == 0
    assert 0.9 < j["seconds"] < 2.5


def test_file_mix_with_given_and_computed_replies(calcd_all, tmp_path):
    mix = tmp_path / "mix.txt"
    mix.write_text("# a mix\n2*3\t6\n\n1/0\n2**0.5\n  \n7//-2\t-4\n")
    for proto in ("--tcp", "--udp"):
        j = bench_json(proto, "-s", calcd_all.addr, "-f", str(mix), "-n", "400")
        assert j["expressions"] == 4
        assert (j["sent"], j["ok"], j["wrong"]) == (400, 400, 0), proto
        assert j["error_replies"] == 100


def test_wrong_replies_are_detected(calcd_all):
    r = bench("-s", calcd_all.addr, "-e", "1+1", "--expect", "3", "-n", "50")
    assert r.returncode == 1
    assert "wrong reply (different text) to '1+1': got '2 #1" in r.stderr
    assert "sent 50, replies 50 (ok 0, wrong 50)" in r.stdout


def test_role_server_expected_refusals(calcd_factory):
    s = calcd_factory("--role", "muldiv")
    j = bench_json("-s", s.addr, "--role", "muldiv", "-e", "6*7", "-e", "1+1",
                   "-n", "200", "--udp")
    assert (j["ok"], j["wrong"], j["error_replies"]) == (200, 0, 100)


class LossyServer:
    """Answers "1+1 #T" with "2 #T"; drops every 4th datagram and sends
    every 5th reply twice."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.n = self.dropped = self.duplicated = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r:
                continue
            data, peer = self.sock.recvfrom(65536)
            self.n += 1
            if self.n % 4 == 0:
                self.dropped += 1
                continue
            tag = data.rsplit(b" #", 1)[1]
            self.sock.sendto(b"2 #" + tag, peer)
            if self.n % 5 == 0:
                self.duplicated += 1
                self.sock.sendto(b"2 #" + tag, peer)

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


def test_lost_and_duplicated_datagrams_are_counted():
    srv = LossyServer()
    try:
        j = bench_json("--udp", "-s", f"127.0.0.1:{srv.port}", "-e", "1+1",
                       "-n", "400", "-c", "2", "-d", "4", "-t", "200")
    finally:
        srv.close()
    assert srv.n == 400
    assert j["lost"] == srv.dropped == 100
    assert j["replies"] == j["ok"] == 300 and j["wrong"] == 0
    assert j["late"] == srv.duplicated


def test_server_down_exit_3():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = bench("-s", f"127.0.0.1:{port}", "-n", "10")
    assert r.returncode == 3
    assert "cannot connect" in r.stderr and "Connection refused" in r.stderr


def test_text_report_and_progress_on_a_terminal(calcd_all):
    master, slave = pty.openpty()
    p = subprocess.Popen([need(CALC_BENCH, "CALC_BENCH"), "-s", calcd_all.addr,
                          "-D", "2.2", "-R", "5000"],
                         stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    err = b""
    end = time.monotonic() + 10
    while p.poll() is None and time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                err += os.read(master, 4096)
            except OSError:
                break
    out = p.stdout.read()
    assert p.wait(5) == 0
    os.close(master)
    progress = re.findall(rb"\r\[ *(\d+\.\d) s\] sent \d+  replies \d+  (\d+) "
                          rb"replies/s  wrong 0  lost 0", err)
    assert len(progress) >= 2, err
    assert all(2000 < int(rate) < 8000 for _, rate in progress), progress
    assert re.search(r"throughput \d+ replies/s", out)
    assert re.search(r"latency +min [\d.]+ [um]?s +p50 .* p90 .* p99 .* "
                     r"p99\.9 .* max .* mean", out), out


@pytest.mark.parametrize("args", [
    ["-c", "0"], ["-d", "x"], ["-D", "1", "-n", "5"], ["--expect", "2"],
    ["-e", "1", "-e", "2", "--expect", "2"], ["--role", "nope"],
    ["-f", "/nonexistent"], ["extra"],
])
def test_usage_errors(args):
    assert bench(*args).returncode == 2


def test_expression_length_limit():
    # 4085 bytes and a 9-digit tag make 4096: the longest accepted
    ok = "+".join(["1"] * 2043)
    assert len(ok) == 4085
    assert bench("-e", ok + "1", "-n", "1", "-s", "127.0.0.1:1").returncode == 2
    r = bench("-e", ok, "-n", "1", "-s", "127.0.0.1:1")
    assert r.returncode == 3  # accepted; no server there


class StallingServer:
    """A delay line, not a queue: each `15*15 #T` is answered `225 #T`
    DELAY s after it arrives, as over a long link, except that once, from
    the arrival of request STALL_AT on, the server stalls for STALL s:
    what arrives meanwhile is answered when the stall ends.  It records
    how many requests arrived during the stall (`held`)."""

    DELAY, STALL, STALL_AT = 0.015, 1.0, 50

    def __init__(self, udp):
        self.udp = udp
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if not udp:
            self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.n = self.held = 0
        self.stall_end = None
        self.queue = []           # (when to answer, reply, peer)
        self.cv = threading.Condition()
        self.done = threading.Event()
        for fn in (self.read, self.write):
            threading.Thread(target=fn, daemon=True).start()

    def arrived(self, tag, peer):
        now = time.monotonic()
        with self.cv:
            if self.n == self.STALL_AT:
                self.stall_end = now + self.STALL
            self.n += 1
            when = now + self.DELAY
            if self.stall_end and now < self.stall_end:
                when = max(when, self.stall_end)
                self.held += 1
            self.queue.append((when, b"225 #" + tag, peer))
            self.cv.notify()

    def read(self):
        if self.udp:
            while not self.done.is_set():
                data, peer = self.sock.recvfrom(65536)
                self.arrived(data.rsplit(b" #", 1)[1].strip(), peer)
            return
        self.conn, _ = self.sock.accept()
        buf = b""
        while True:
            data = self.conn.recv(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self.arrived(line.rsplit(b" #", 1)[1], None)

    def write(self):
        while not self.done.is_set():
            with self.cv:
                while not self.queue:
                    self.cv.wait()
                when, reply, peer = self.queue.pop(0)  # in order (TCP)
            time.sleep(max(0.0, when - time.monotonic()))
            if self.udp:
                self.sock.sendto(reply, peer)
            else:
                self.conn.sendall(reply + b"\n")

    def close(self):
        self.done.set()
        self.sock.close()


@pytest.mark.parametrize("proto", ["--tcp", "--udp"])
def test_open_loop_probe_recovers_after_a_stall(proto):
    """-R is open loop: while the server stalls, requests keep going out
    on schedule (-d 1 notwithstanding), each counts from its scheduled
    time, and the stall counts for the ~50 requests due during it only:
    the requests after it are on time again (p50), where a probe waiting
    for each reply would still be catching up (at 20 - 15 ms per
    request, 200 requests to make up a second)."""
    srv = StallingServer(proto == "--udp")
    try:
        j = bench_json(proto, "-s", f"127.0.0.1:{srv.port}", "-e", "15*15",
                       "-c", "1", "-d", "1", "-R", "50", "-n", "200",
                       "-t", "5000")
    finally:
        srv.close()
    assert srv.n == j["sent"] == j["replies"] == j["ok"] == 200
    assert j["wrong"] == j["lost"] == j["late"] == 0
    assert j["depth"] == 1024  # the open-loop window, BENCH_RATE_WINDOW
    # sent on schedule during the 1 s stall (a closed-loop probe: none)
    assert 40 <= srv.held <= 55, srv.held
    lat = j["latency_us"]
    # the first request due in the stall waited all of it ...
    assert 950e3 <= lat["max"] <= 1500e3, lat
    # ... the ~50 due during it from ~1 s down to the delay: p90 is the
    # 20th slowest, due ~0.4 s into the stall ...
    assert 400e3 <= lat["p90"] <= 800e3, lat
    # ... and the rest were on time: the delay line's 15 ms, not the stall
    assert lat["p50"] < 150e3, lat


class GateServer:
    """Records each `15*15 #T` it receives and answers only when told:
    answer(k) sends `225 #T` for the next k unanswered, in order."""

    def __init__(self, udp):
        self.udp = udp
        kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if not udp:
            self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.got, self.answered, self.conn = [], 0, None
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            if self.udp:
                while True:
                    data, peer = self.sock.recvfrom(65536)
                    with self.lock:
                        self.got.append((data.rsplit(b" #", 1)[1], peer))
            self.conn, _ = self.sock.accept()
            buf = b""
            while True:
                data = self.conn.recv(65536)
                if not data:
                    return
                *lines, buf = (buf + data).split(b"\n")
                with self.lock:
                    self.got += [(x.rsplit(b" #", 1)[1], None) for x in lines]
        except OSError:
            return

    def count(self):
        with self.lock:
            return len(self.got)

    def wait_count(self, n, timeout=10):
        end = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < end:
            time.sleep(0.005)
        return self.count()

    def answer(self, k=None):
        with self.lock:
            todo = self.got[self.answered:][:k]
            self.answered += len(todo)
        for tag, peer in todo:
            if self.udp:
                self.sock.sendto(b"225 #" + tag, peer)
            else:
                self.conn.sendall(b"225 #" + tag + b"\n")

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("proto", ["--tcp", "--udp"])
def test_open_loop_window_is_1024_per_connection(proto):
    """BENCH_RATE_WINDOW: a server that answers nothing gets exactly 1024
    requests, however many are due; each reply lets exactly one more out;
    the ones held back count from their due time."""
    srv = GateServer(proto == "--udp")
    p = subprocess.Popen([need(CALC_BENCH, "CALC_BENCH"), "-q", "--json",
                          proto, "-s", f"127.0.0.1:{srv.port}", "-e", "15*15",
                          "-c", "1", "-R", "4000", "-n", "1100",
                          "-t", "10000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert srv.wait_count(1024) == 1024
        time.sleep(0.3)  # all 1100 are due by 0.275 s: none more goes
        assert srv.count() == 1024
        srv.answer(1)
        assert srv.wait_count(1025) == 1025
        time.sleep(0.2)
        assert srv.count() == 1025
        while p.poll() is None:
            srv.answer()
            time.sleep(0.01)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
        srv.close()
    assert p.returncode == 0, err
    j = json.loads(out)
    assert srv.count() == j["sent"] == j["replies"] == j["ok"] == 1100
    assert j["wrong"] == j["lost"] == j["late"] == 0
    assert j["latency_us"]["max"] >= 500e3  # held from its due time
