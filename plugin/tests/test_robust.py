# SPDX-License-Identifier: MIT
"""The dissector never fails on hostile input: random and mutated
messages over UDP and TCP (Wireshark's tools/fuzz-test.sh approach, seeded
so that a failure replays), dissected with every tree item built, with
dissector bugs made fatal and strict memory checks."""

import random
import subprocess

from conftest import C4, S4, C6, S6, Capture

ALPHABET = (b"0123456789" * 3 + b"+-*/%()._ eEjx#\t\r\n\n" + b"ERR " +
            b"\x00\xff\x80\x7f:;'\"abc")
STRESS = [b"(" * 300 + b"1" + b")" * 300, b"2**65536", b"9" * 5000,
          b"1e999", b"-" * 3000 + b"1", b"2**-1074", b"(2**1024)/3",
          b"10**4300", b"#" * 20, b"1 #" + b"9" * 12, b"ERR", b"ERR :",
          b"ERR zero-division", b" #1", b"#1", b"\n", b"\r\n\r\n"]


def random_payload(rnd):
    n = rnd.choice([1, 2, 5, 20, 100, 1500, 5000])
    return bytes(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, n)))


def build(rnd):
    cap = Capture()
    for client, server in ((C4, S4), (C6, S6)):
        for p in STRESS:
            cap.udp(client, server, p)
            cap.udp(server, client, p)
        for i in range(150):
            if rnd.random() < 0.5:
                cap.udp(client, server, random_payload(rnd))
            else:
                cap.udp(server, client, random_payload(rnd))
        for conn in range(8):
            t = cap.tcp((client[0], 41000 + conn), server)
            for i in range(25):
                data = random_payload(rnd) if rnd.random() < 0.7 else \
                    rnd.choice(STRESS) + b"\n"
                cut = rnd.randint(0, len(data))
                for part in (data[:cut], data[cut:]):
                    if part:
                        t.send(part, from_client=rnd.random() < 0.6)
                if rnd.random() < 0.1:
                    t.resend(part, from_client=True)
    return cap


def check(tshark, pcap, *extra):
    for two in ((), ("-2",)):
        out = tshark.run("-r", pcap, "-V", *two, *extra)
        assert "Malformed Packet: CALC" not in out
        assert "Dissector bug" not in out


def test_random_messages(tshark, capture):
    tshark.env["WIRESHARK_DEBUG_WMEM_OVERRIDE"] = "strict"
    try:
        pcap = capture(build(random.Random(20240611)))
        check(tshark, pcap)
        check(tshark, pcap, "-o", "calc.verify:FALSE",
              "-o", "calc.desegment:FALSE")
    finally:
        del tshark.env["WIRESHARK_DEBUG_WMEM_OVERRIDE"]


def test_mutated_captures(tshark, capture, tmp_path):
    rnd = random.Random(7)
    cap = Capture()
    t = cap.tcp(C4, S4)
    for _ in range(40):
        e = b"%d*%d" % (rnd.randint(0, 999), rnd.randint(0, 999))
        cap.udp(C4, S4, e + b" #%d" % rnd.randint(1, 9))
        cap.udp(S4, C4, b"%d" % eval(e))
        t.send(e + b"\n")
        t.send(b"%d\n" % eval(e), from_client=False)
    good = capture(cap)
    for seed in (1, 2, 3):
        bad = str(tmp_path / ("mutated%d.pcap" % seed))
        subprocess.run(["editcap", "-E", "0.03", "--seed", str(seed), good,
                        bad], check=True, capture_output=True)
        check(tshark, bad)
