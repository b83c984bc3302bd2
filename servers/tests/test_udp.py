# SPDX-License-Identifier: MIT
"""calcd over UDP: exact reply bytes, framing, limits, amplification bound,
roles, batching, IPv6 (docs/PROTOCOL.md, "UDP")."""
import random
import socket

import pytest

from conftest import MAX_REQUEST, TOO_LONG, has_ipv6, oracle, udp_ask

# (request, exact reply).  UDP replies carry no newline; an error reply is
# shortened to "ERR <kind>" when the full one would exceed the bound
# max(3 * request bytes, 32).
EXACT = [
    (b"15*15", b"225"),
    (b"30+30", b"60"),
    (b"2**-1", b"0.5"),
    (b"-2**2", b"-4"),
    (b"7//-2", b"-4"),
    (b"1/3", b"0.3333333333333333"),
    (b"1e16", b"1e+16"),
    (b"0.1+0.2", b"0.30000000000000004"),
    (b"15*15 #7", b"225 #7"),
    (b"  1 + 2  #123456789", b"3 #123456789"),
    (b"1/0", b"ERR zero-division"),
    (b"1/0" + b" " * 9, b"ERR zero-division: division by zero"),
    (b")", b"ERR syntax"),
    (b"2**100", b"1267650600228229401496703205376"),  # 31 bytes: fits
    (b"2**200", b"ERR too-large: use TCP"),              # 61 > 32
    (b"2**200" + b" " * 15, str(2**200).encode()),       # 61 <= 63
    (b"2**100 #7", b"ERR too-large: use TCP #7"),
    (b"15*15\n", b"225"),
    (b"15*15\r\n", b"225"),
    (b"15*15\r\n\r\n", b"225"),
]


@pytest.mark.parametrize("req,reply", EXACT)
def test_exact_reply(calcd, req, reply):
    assert calcd.udp(req) == reply


def test_replies_match_the_core(calcd):
    reqs = [b"15*15", b"1/0" + b" " * 40, b"2^10" + b" " * 30, b"(" * 201,
            b"__import__('os')" + b" " * 50, b"1e308*10", b"2.0**10000",
            b"(-8)**(1/3)", b"0x_ff+0o17", b"9**9**9", b"1+#7", b"1 #7 #8"]
    for req, want in zip(reqs, oracle(reqs, udp=True)):
        assert calcd.udp(req) == want, req


@pytest.mark.parametrize("req", [b"", b"\n", b"\r\n", b"\r\n\n\r"])
def test_empty_datagram_gets_no_reply(calcd, req):
    assert calcd.udp(req, timeout=0.3) is None
    assert calcd.udp(b"1+1") == b"2"  # and the server is fine


def test_length_limit_edges(calcd):
    at = b"+1" * (MAX_REQUEST // 2)           # 4096 bytes: 2048
    assert len(at) == MAX_REQUEST
    assert calcd.udp(at) == b"2048"
    assert calcd.udp(at + b"\r\n") == b"2048"  # 4098 bytes: the most read
    assert calcd.udp(at + b" ") == TOO_LONG    # 4097 after stripping
    assert calcd.udp(at + b"\r\n\n") == TOO_LONG  # 4099 bytes: truncated
    assert calcd.udp(b"1" * 60000) == TOO_LONG


def _random_request(rng):
    kind = rng.randrange(8)
    if kind == 0:
        req = f"{rng.randrange(2, 99)}**{rng.randrange(0, 4000)}"
    elif kind == 1:
        req = "9" * rng.randrange(1, 4500)
    elif kind == 2:
        d = rng.randrange(1, 250)
        req = "(" * d + "1" + ")" * d
    elif kind == 3:
        req = f"{rng.randrange(-10**6, 10**6)}/{rng.randrange(-3, 3)}"
    elif kind == 4:
        req = "".join(rng.choice("0123456789+-*/%() .e") for _ in
                      range(rng.randrange(1, 60)))
    elif kind == 5:
        req = f"{rng.random()}*{rng.randrange(1, 10**30)}"
    elif kind == 6:
        req = "+".join(str(rng.randrange(10**20)) for _ in
                       range(rng.randrange(1, 30)))
    else:
        req = f"2**{rng.randrange(1, 200)}" + " " * rng.randrange(0, 200)
    if rng.random() < 0.3:
        req += f" #{rng.randrange(10**9)}"
    return req.encode()


def test_amplification_bound_over_random_requests(calcd):
    rng = random.Random(20240501)
    reqs = [_random_request(rng) for _ in range(1500)]
    reqs = [r for r in reqs if r.strip()]
    want = oracle(reqs, udp=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        for i in range(0, len(reqs), 32):  # bursts: exercise the batches
            burst = reqs[i:i + 32]
            for r in burst:
                u.sendto(r, ("127.0.0.1", calcd.port))
            for r, w in zip(burst, want[i:i + 32]):
                got = u.recv(65536)
                if len(r) > MAX_REQUEST:
                    w = TOO_LONG
                assert got == w, r[:80]
                assert len(got) <= max(3 * len(r), 32), r[:80]


def test_many_senders_in_one_batch(calcd):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(200)]
    try:
        for i, s in enumerate(socks):
            s.sendto(f"{i}*{i} #{i}".encode(), ("127.0.0.1", calcd.port))
        for i, s in enumerate(socks):
            s.settimeout(5)
            assert s.recv(100) == f"{i * i} #{i}".encode()
    finally:
        for s in socks:
            s.close()


def test_addsub_role(calcd_factory):
    s = calcd_factory("--role", "addsub")
    assert s.role == "addsub"
    assert s.udp(b"1+2-4") == b"-1"
    assert s.udp(b"2*3") == b"ERR unsupported"  # the bound: 32 bytes
    padded = b"2*3" + b" " * 40                 # a padded request: 129
    [full] = oracle([padded], role="addsub")
    assert full.startswith(b"ERR unsupported: ") and b"muldiv" in full
    assert s.udp(padded) == full


def test_muldiv_role(calcd_factory):
    s = calcd_factory("--role", "muldiv")
    assert s.udp(b"6*7") == b"42"
    assert s.udp(b"2**10 // 3 % 5 / 2") == b"0.5"
    padded = b"1-1" + b" " * 40
    [full] = oracle([padded], role="muldiv")
    assert b"addsub" in full
    assert s.udp(padded) == full


def test_ipv6(calcd):
    if not has_ipv6(calcd):
        pytest.skip("no IPv6 loopback")
    assert udp_ask(calcd.port, b"15*15 #6", host="::1") == b"225 #6"
