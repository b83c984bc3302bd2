# SPDX-License-Identifier: MIT
"""calcd over TCP: line mode, pipelining, split lines, legacy (newline-less)
clients and the switch between them, roles, IPv6 (docs/PROTOCOL.md, "TCP")."""
import socket
import time

import pytest

from conftest import (has_ipv6, oracle, recv_lines, recv_quiet,
                      recv_until_eof)

# (request line, exact reply line): over TCP errors keep their message.
EXACT = [
    (b"15*15\n", b"225\n"),
    (b"30+30\r\n", b"60\n"),
    (b"2**100\n", b"1267650600228229401496703205376\n"),
    (b"(2**1024)/3\n", b"5.992310449541053e+307\n"),
    (b"1e308*10\n", b"inf\n"),
    (b"15*15 #7\n", b"225 #7\n"),
    (b"1/0\n", b"ERR zero-division: division by zero\n"),
    (b")\n", b"ERR syntax: unexpected ')' at position 1\n"),
    (b"2^10\n", b"ERR unsupported: '^' is bitwise xor; use ** for powers "
                b"('^' at position 2)\n"),
]


def test_exact_replies_in_order(calcd):
    with calcd.tcp() as s:
        for req, reply in EXACT:
            s.sendall(req)
            assert recv_lines(s, 1) == reply


def test_replies_match_the_core(calcd):
    reqs = [b"7//-2", b"-7.0%2", b"__import__('os').system('id')",
            b"(" * 201 + b"1" + b")" * 201, b"9**9**9", b"2**13000",
            b"1 +", b"0x_ff", b"1_000_000*3", b"\x00", b"\xff\xfe",
            b"1+1 #1234567890", b"   ", b"#7"]
    want = oracle(reqs)
    with calcd.tcp() as s:
        s.sendall(b"".join(r + b"\n" for r in reqs))
        got = recv_lines(s, len(reqs)).split(b"\n")[:-1]
    assert got == want


def test_empty_lines_get_no_reply(calcd):
    with calcd.tcp() as s:
        s.sendall(b"\n\r\n1+1\n\n2+2\r\n")
        assert recv_quiet(s) == b"2\n4\n"


def test_1000_requests_pipelined_in_one_write(calcd):
    n = 1000
    reqs = b"".join(b"%d*%d #%d\n" % (i, i, i) for i in range(n))
    with calcd.tcp() as s:
        s.sendall(reqs)
        got = recv_lines(s, n)
    assert got == b"".join(b"%d #%d\n" % (i * i, i) for i in range(n))


def test_line_split_across_many_writes(calcd):
    with calcd.tcp() as s:
        s.sendall(b"1+1\n")  # line mode from here on
        assert recv_lines(s, 1) == b"2\n"
        for ch in b"123 * 2 #5":  # one byte per write, slower than legacy
            s.sendall(bytes([ch]))
            time.sleep(0.03)
        assert recv_quiet(s, 0.1) == b""  # no LF yet: no reply
        s.sendall(b"\r")
        s.sendall(b"\n")
        assert recv_lines(s, 1) == b"246 #5\n"


# calc_proto.h: legacy bytes are a request once quiet for this long, or
# for the longer hold while they end in an unfinished expression.
LEGACY_QUIET = 0.020
LEGACY_INCOMPLETE = 0.250


def recv_exactly(sock, n, deadline=5.0):
    """n bytes, however late they come (a loaded machine); fewer if the
    peer closes or the deadline passes."""
    buf = b""
    end = time.monotonic() + deadline
    while len(buf) < n and time.monotonic() < end:
        sock.settimeout(max(end - time.monotonic(), 0.001))
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def send_paced(sock, pieces, pause):
    """Sends the pieces `pause` seconds apart; returns the longest time that
    can have passed between two of them (a loaded machine may hold this
    client back far longer than it slept)."""
    longest, prev = 0.0, None
    for i, piece in enumerate(pieces):
        if i:
            time.sleep(pause)
        before = time.monotonic()
        sock.sendall(piece)
        if prev is not None:
            longest = max(longest, time.monotonic() - prev)
        prev = before
    return longest


def paced_reply(calcd, pieces, pause, within, nbytes, tries=10):
    """The first nbytes of the reply to pieces sent `pause` apart on a new
    connection, from the first try whose pieces all went less than
    `within` seconds apart; a try this client was held back in proves
    nothing about the server and is made again (skipped if none works)."""
    for _ in range(tries):
        with calcd.tcp() as s:
            longest = send_paced(s, pieces, pause)
            got = recv_exactly(s, nbytes)
            extra = recv_quiet(s, 0.05)
        if longest < within:
            return got + extra
    pytest.skip("this machine held the client back %d times (pieces more "
                "than %.0f ms apart)" % (tries, within * 1000))


def test_first_line_in_pieces_a_few_ms_apart(calcd):
    # Pieces closer than the legacy quiet time (20 ms) are one line.  (Cut
    # anywhere, the replies differ: "12" then "3*11" would give "1233\n".)
    got = paced_reply(calcd, [b"12", b"3", b"*", b"1", b"1", b"\n"], 0.005,
                      LEGACY_QUIET, 5)
    assert got == b"1353\n"


def test_first_line_paused_where_unfinished(calcd):
    # An unfinished expression may pause up to 250 ms before it is taken.
    got = paced_reply(calcd, [b"6*(", b"3+4)\n"], 0.1, LEGACY_INCOMPLETE, 3)
    assert got == b"42\n"


def test_legacy_client(calcd):
    # Like the original client: one expression per write, no newline,
    # waits for each reply, which carries no newline.  Timers never fire
    # early, so the reply times prove which rule answered on any machine
    # load: none before the quiet time, and at least one before the
    # unfinished-expression hold could have ended (scheduling delays only
    # add, so a loaded machine cannot make a wrong server pass).
    waits = []
    with calcd.tcp() as s:
        for req, reply in [(b"15*15", b"225"), (b"30+30", b"60"),
                           (b"1/0", b"ERR zero-division: division by zero"),
                           (b"2**-1 #3", b"0.5 #3")]:
            t0 = time.monotonic()
            s.sendall(req)
            got = recv_exactly(s, len(reply))
            waits.append(time.monotonic() - t0)
            assert got == reply
            assert recv_quiet(s, 0.1) == b""       # no newline after it
    assert min(waits) >= LEGACY_QUIET - 0.002, waits
    assert min(waits) < LEGACY_INCOMPLETE, waits


def test_legacy_incomplete_waits_longer(calcd):
    # 100 ms between "2*" and "5": longer than the quiet time, but "2*" is
    # unfinished, so held, and the two are one request.
    assert paced_reply(calcd, [b"2*", b"5"], 0.1, LEGACY_INCOMPLETE, 2) == b"10"
    want = oracle([b"(1+"])[0]
    with calcd.tcp() as s:
        s.sendall(b"7*6")
        assert recv_exactly(s, 2) == b"42"
        t0 = time.monotonic()
        s.sendall(b"(1+")  # never finished: answered after 250 ms
        assert recv_exactly(s, len(want)) == want
        assert time.monotonic() - t0 >= LEGACY_INCOMPLETE - 0.002
        assert recv_quiet(s, 0.05) == b""


def test_legacy_then_line_mode(calcd):
    with calcd.tcp() as s:
        s.sendall(b"2+3")
        assert recv_exactly(s, 1) == b"5"
        s.sendall(b"4*4\n5*5\n")  # the first LF: line mode for good
        assert recv_lines(s, 2) == b"16\n25\n"
        s.sendall(b"6*6")
        time.sleep(0.1)
        assert recv_quiet(s, 0.1) == b""  # no legacy timing any more
        s.sendall(b"\n")
        assert recv_lines(s, 1) == b"36\n"


def test_legacy_request_answered_at_eof(calcd):
    with calcd.tcp() as s:
        s.sendall(b"7*6")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"42"


def test_unterminated_last_line_answered_at_eof(calcd):
    with calcd.tcp() as s:
        s.sendall(b"1+1\n2+2")
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"2\n4\n"


@pytest.mark.parametrize("role,ok,refused", [
    ("addsub", [(b"1+2-3", b"0"), (b"-5", b"-5")], [b"2*3", b"8//3", b"2**2"]),
    ("muldiv", [(b"6*7", b"42"), (b"2**-2", b"0.25")], [b"1+1", b"3-1"]),
])
def test_roles(calcd_factory, role, ok, refused):
    s = calcd_factory("--role", role)
    want = oracle(refused, role=role)
    with s.tcp() as c:
        for req, reply in ok:
            c.sendall(req + b"\n")
            assert recv_lines(c, 1) == reply + b"\n"
        c.sendall(b"".join(r + b"\n" for r in refused))
        got = recv_lines(c, len(refused)).split(b"\n")[:-1]
    assert got == want
    other = "muldiv" if role == "addsub" else "addsub"
    assert all(g.startswith(b"ERR unsupported: ") and other.encode() in g
               for g in got)


def test_ipv6(calcd):
    if not has_ipv6(calcd):
        pytest.skip("no IPv6 loopback")
    with calcd.tcp("::1") as s:
        s.sendall(b"15*15 #6\n")
        assert recv_lines(s, 1) == b"225 #6\n"
