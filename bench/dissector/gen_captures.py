#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the dissector benchmark's two captures (docs/BENCHMARKS.md):

  calc.pcap      N calc request/response pairs: TCP lines on port 4000,
                 varied arithmetic ("15*15\\n" -> "225\\n"), all tagged
                 or not at random, as calcd and calc exchange them
  memcache.pcap  N memcached text request/response pairs on port 11211:
                 "get key\\r\\n" -> "VALUE key 0 <n>\\r\\n<data>\\r\\nEND\\r\\n"

Both use the same framing: CONNS connections, one message per segment, the
same timing, so the dissectors are the only difference.

    gen_captures.py OUTDIR [PAIRS]      (PAIRS: default 500000)
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "plugin", "tests"))
from calcpcap import Capture  # noqa: E402

CONNS = 100


def calc_pair(rnd):
    a, b = rnd.randint(0, 99999), rnd.randint(1, 999)
    op = rnd.choice(["+", "-", "*", "//", "%", "/", "**"])
    if op == "**":
        b = rnd.randint(0, 40)
    expr = "%d%s%d" % (a, op, b)
    # Python semantics for the answer: the benchmark's generator is Python.
    result = eval(expr)
    text = repr(result) if isinstance(result, float) else str(result)
    if rnd.random() < 0.5:
        tag = " #%d" % rnd.randint(1, 999999999)
        return (expr + tag + "\n").encode(), (text + tag + "\n").encode()
    return (expr + "\n").encode(), (text + "\n").encode()


def memcache_pair(rnd):
    key = "user:%d:session" % rnd.randint(0, 9999999)
    data = "%d" % rnd.randint(0, 10 ** rnd.randint(1, 12))
    return (("get %s\r\n" % key).encode(),
            ("VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(data), data))
            .encode())


def write(path, pairs, port, make):
    rnd = random.Random(42)
    with open(path, "wb") as f:
        cap = Capture(step=0.00001, stream=f)
        flows = [cap.tcp(("10.1.%d.%d" % (i // 250, 1 + i % 250),
                          30000 + i), ("10.0.0.1", port))
                 for i in range(CONNS)]
        for n in range(pairs):
            t = flows[n % CONNS]
            req, rep = make(rnd)
            t.send(req)
            t.send(rep, from_client=False)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    pairs = int(sys.argv[2]) if len(sys.argv) == 3 else 500000
    write(os.path.join(out, "calc.pcap"), pairs, 4000, calc_pair)
    write(os.path.join(out, "memcache.pcap"), pairs, 11211, memcache_pair)


if __name__ == "__main__":
    main()
