#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the dissector benchmark's captures (docs/BENCHMARKS.md):

  calc.pcap          N calc request/response pairs: TCP lines on port
                     4000, varied arithmetic ("15*15\\n" -> "225\\n"),
                     half of them tagged, as calcd and calc exchange them
  memcache.pcap      N memcached text request/response pairs on port
                     11211: "get key\\r\\n" -> "VALUE key 0 <n>\\r\\n
                     <data>\\r\\nEND\\r\\n"
  calc-udp.pcap      the same calc pairs as UDP datagrams (no line end)
  memcache-udp.pcap  the same memcache pairs over UDP (its 8-byte frame
                     header)
  heavy.pcap         PIPELINED requests "9**4300\\n" on one TCP connection,
                     about 1400 bytes per segment, no replies (the
                     verification-cost case of issue #11)
  distinct.pcap      PIPELINED distinct requests "9**4300%M\n" and their
                     short replies on one TCP connection (the same count)
  distinct-udp.pcap  50,000 distinct datagrams "3**41000 % 7**20000 % M":
                     heavy to evaluate, 6-7 digit answers, no replies

Each pair of calc and memcache captures uses the same framing: CONNS
connections or client ports, one message per segment or datagram, the
same timing, so the dissectors are the only difference.

    gen_captures.py OUTDIR [PAIRS [PIPELINED]]
                    (defaults: 500000 pairs, 300000 pipelined requests)
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


def write_udp(path, pairs, port, make, frame_header):
    rnd = random.Random(42)
    with open(path, "wb") as f:
        cap = Capture(step=0.00001, stream=f)
        srv = ("10.0.0.1", port)
        for n in range(pairs):
            i = n % CONNS
            cli = ("10.1.%d.%d" % (i // 250, 1 + i % 250), 30000 + i)
            req, rep = make(rnd)
            if frame_header:   # memcache over UDP: id, seq 0 of 1
                hdr = (n & 0xFFFF).to_bytes(2, "big") + bytes([0, 0, 0, 1,
                                                                0, 0])
                req, rep = hdr + req, hdr + rep
            else:              # calc datagrams carry no line end
                req, rep = req.rstrip(b"\n"), rep.rstrip(b"\n")
            cap.udp(cli, srv, req)
            cap.udp(srv, cli, rep)


def write_heavy(path, requests):
    with open(path, "wb") as f:
        cap = Capture(step=0.00001, stream=f)
        t = cap.tcp(("10.1.0.1", 30000), ("10.0.0.1", 4000))
        line = b"9**4300\n"
        per = 1400 // len(line)
        for n in range(0, requests, per):
            t.send(line * min(per, requests - n))


def write_distinct(path, requests):
    big = 9 ** 4300
    with open(path, "wb") as f:
        cap = Capture(step=0.00001, stream=f)
        t = cap.tcp(("10.1.0.1", 30000), ("10.0.0.1", 4000))
        req, rep = bytearray(), bytearray()
        for n in range(requests):
            m = 1000003 + n
            req += b"9**4300%%%d\n" % m
            rep += b"%d\n" % (big % m)
            if len(req) > 1400 or n == requests - 1:
                t.send(bytes(req))
                t.send(bytes(rep), from_client=False)
                req, rep = bytearray(), bytearray()


def write_distinct_udp(path, requests=50000):
    with open(path, "wb") as f:
        cap = Capture(step=0.00001, stream=f)
        for n in range(requests):
            cap.udp(("10.1.0.1", 10000 + n % 50000), ("10.0.0.1", 4000),
                    b"3**41000 %% 7**20000 %% %d" % (1000003 + n))


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__)
    out = sys.argv[1]
    pairs = int(sys.argv[2]) if len(sys.argv) >= 3 else 500000
    heavy = int(sys.argv[3]) if len(sys.argv) == 4 else 300000
    write(os.path.join(out, "calc.pcap"), pairs, 4000, calc_pair)
    write(os.path.join(out, "memcache.pcap"), pairs, 11211, memcache_pair)
    write_udp(os.path.join(out, "calc-udp.pcap"), pairs, 4000, calc_pair,
              False)
    write_udp(os.path.join(out, "memcache-udp.pcap"), pairs, 11211,
              memcache_pair, True)
    write_heavy(os.path.join(out, "heavy.pcap"), heavy)
    write_distinct(os.path.join(out, "distinct.pcap"), heavy)
    write_distinct_udp(os.path.join(out, "distinct-udp.pcap"))


if __name__ == "__main__":
    main()
