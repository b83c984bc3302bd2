# SPDX-License-Identifier: MIT
"""calc-cli over UDP against a server that drops, delays and duplicates its
replies and replays old ones: calc prints each right answer exactly once,
in order, and never takes a late or duplicated reply for another
request's answer."""
import heapq
import re
import select
import socket
import threading
import time

import pytest

from conftest import run_calc, udp_server

TAGGED = re.compile(rb"^(.*) #(\d{1,9})$", re.S)


class FlakyServer:
    """A UDP calc server for the expressions "a+b" (answers a+b), with one
    mischief per expression, chosen by a % 4:
      0  drop the first datagram, answer the second twice
      1  answer the first late (after `late` s), the second at once: the
         late reply arrives when calc has moved on
      2  first replay two old replies (old tags, old answers) and send an
         untagged wrong answer, then answer
      3  drop the first two datagrams, answer the third
    """

    def __init__(self, late=0.25):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.late = late
        self.attempts = {}        # expression -> datagrams seen
        self.sent_before = []     # (tag, reply) already sent
        self.stats = {"received": 0, "dropped": 0, "late": 0, "dup": 0,
                      "stale": 0}
        self.timers = []          # (when, seq, payload, peer)
        self.seq = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send_at(self, when, payload, peer):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, payload, peer))

    def handle(self, data, peer):
        self.stats["received"] += 1
        m = TAGGED.match(data.rstrip(b" "))
        assert m, data
        expr, tag = m.group(1).decode(), m.group(2).decode()
        a, b = (int(x) for x in expr.split("+"))
        reply = f"{a + b} #{tag}".encode()
        n = self.attempts.get(expr, 0) + 1
        self.attempts[expr] = n
        now = time.monotonic()
        kind = a % 4
        if (kind == 0 and n == 1) or (kind == 3 and n < 3):
            self.stats["dropped"] += 1
            return
        if kind == 1 and n == 1:
            self.stats["late"] += 1
            self.send_at(now + self.late, reply, peer)
            return
        if kind == 2 and n == 1:
            for old in self.sent_before[-2:]:
                self.stats["stale"] += 1
                self.send_at(now, old, peer)
            self.send_at(now, b"999", peer)
        self.send_at(now, reply, peer)
        if kind == 0:
            self.stats["dup"] += 1
            self.send_at(now + 0.01, reply, peer)
        self.sent_before.append(reply)

    def run(self):
        while not self.stop_flag:
            wait = 0.05
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - time.monotonic()))
            r, _, _ = select.select([self.sock], [], [], wait)
            if r:
                data, peer = self.sock.recvfrom(65536)
                self.handle(data, peer)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, payload, peer = heapq.heappop(self.timers)
                self.sock.sendto(payload, peer)

    def close(self):
        self.stop_flag = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def flaky():
    s = FlakyServer()
    yield s
    s.close()


# First wait 100 ms, then 200, 400, 800: enough for three attempts, and
# a late reply (250 ms) comes after the second attempt was answered.
OPTS = ["--udp", "--timeout", "100", "--retries", "3"]


def test_one_request_at_a_time(flaky, feeder):
    """Fed one line at a time, calc has one request out when the late and
    replayed replies of the previous ones arrive."""
    f = feeder(*OPTS, "-v", "-s", f"127.0.0.1:{flaky.port}")
    for a in range(12):
        assert f.ask(f"{a}+1000") == f"{a + 1000}\n", a
    code, rest, log = f.finish()
    assert (code, rest) == (0, "")  # nothing printed twice
    st = flaky.stats
    assert st["dropped"] == 3 * 2 + 3 * 1 and st["late"] == 3
    assert st["dup"] >= 3 and st["stale"] >= 4
    assert "ignoring a late or duplicate reply" in log
    assert "ignoring a reply without a tag" in log


def test_pipelined_batch(flaky):
    exprs = [f"{a}+{a * 7}" for a in range(40)]
    r = run_calc([*OPTS, "-s", f"127.0.0.1:{flaky.port}"],
                 stdin="".join(e + "\n" for e in exprs))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join(f"{a * 8}\n" for a in range(40))
    assert flaky.stats["dropped"] == 10 * 2 + 10
    # each request was sent again only until answered: the ones dropped
    # twice 3 times, and none more than retries + 1 = 4 times
    assert all(flaky.attempts[f"{a}+{a * 7}"] >= 3 for a in range(3, 40, 4))
    assert max(flaky.attempts.values()) <= 4


def test_one_shot_arguments(flaky):
    args = [f"{a}+5" for a in range(8)]
    r = run_calc([*OPTS, "-s", f"127.0.0.1:{flaky.port}", *args])
    assert (r.returncode, r.stdout) == (0, "".join(f"{a + 5}\n"
                                                   for a in range(8)))


def test_gives_up_when_only_wrong_replies_come():
    """Replies with tags calc never sent (or none) are not answers: after
    its retries calc reports no reply (exit 3) and prints nothing."""
    def wrong(s, data, peer):
        tag = int(TAGGED.match(data.rstrip(b" ")).group(2))
        s.sendto(b"2 #%d" % ((tag + 1) % 10**9), peer)  # wrong tag
        s.sendto(b"2", peer)                           # no tag

    with udp_server(wrong) as port:
        r = run_calc(["--udp", "--timeout", "30", "--retries", "2",
                      "-s", f"127.0.0.1:{port}", "1+1"])
    assert r.returncode == 3
    assert r.stdout == ""
    assert "no reply from" in r.stderr and "after 3 attempts" in r.stderr
