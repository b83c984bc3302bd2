# SPDX-License-Identifier: MIT
"""calcd --proxy-protocol FROM (servers/calcd_proxy.h): a peer in FROM must
start each TCP connection with a PROXY v1/v2 header; the client it names
is the one calcd logs and applies its rules to.  Every bad case closes
that connection alone, with one log line, while another client's
connection goes on being answered."""
import socket
import struct
import subprocess
import time

import pytest

from conftest import CALCD, TIMEOUT, recv_until_eof

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PROXY_WAIT = 3.0  # CALCD_PROXY_WAIT_MS


def v2(cmd=0x21, fam=0x11, src=("192.0.2.7", 51000), dst=("127.0.0.2", 4000),
       tlv=b"", block=None):
    if block is None:
        if fam >> 4 == 2:
            block = (socket.inet_pton(socket.AF_INET6, src[0]) +
                     socket.inet_pton(socket.AF_INET6, dst[0]))
        else:
            block = socket.inet_aton(src[0]) + socket.inet_aton(dst[0])
        block += struct.pack("!HH", src[1], dst[1])
    block += tlv
    return V2SIG + bytes([cmd, fam]) + struct.pack("!H", len(block)) + block


def connect(server, source="127.0.0.1", host="127.0.0.2"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((source, 0))
    s.settimeout(TIMEOUT)
    s.connect((host, server.port))
    return s


def exchange(server, data, source="127.0.0.1", host="127.0.0.2"):
    """Send data and EOF; everything until calcd closes (b"" when it closes
    without a word; a reset is also b"")."""
    s = connect(server, source, host)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_until_eof(s)
    except ConnectionResetError:
        return b""
    finally:
        s.close()


def wait_log(server, text, count=1, timeout=TIMEOUT):
    """The log lines containing text, once there are `count` of them (the
    log is read by a thread: a line may come just after the reply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [line for line in server.log if text in line]
        if len(hits) >= count:
            return hits
        time.sleep(0.02)
    pytest.fail("not %d log lines with %r in:\n%s" % (
        count, text, "".join(server.log)))


@pytest.fixture
def proxied(calcd_factory):
    """calcd on 127.0.0.2 trusting 127.0.0.1 only (the balancer)."""
    return calcd_factory("--bind", "127.0.0.2", "--proxy-protocol",
                         "127.0.0.1/32,::1", "-v")


# ---- accepted headers ------------------------------------------------------

def test_v1_names_the_client(proxied):
    got = exchange(proxied, b"PROXY TCP4 192.0.2.9 127.0.0.2 5555 4000\r\n"
                            b"1+1\n2*3 #4\n")
    assert got == b"2\n6 #4\n"
    wait_log(proxied, 'tcp 192.0.2.9:5555: PROXY v1 from 127.0.0.1:')
    wait_log(proxied, 'tcp 192.0.2.9:5555 "2*3 #4" -> "6 #4"')
    assert proxied.requests()[-2:] == [("tcp", "1+1", "2"),
                                       ("tcp", "2*3 #4", "6 #4")]


def test_v1_tcp6_and_v2_inet6(proxied):
    got = exchange(proxied, b"PROXY TCP6 2001:db8::5 ::1 7 4000\r\n15*15\n")
    assert got == b"225\n"
    wait_log(proxied, 'tcp [2001:db8::5]:7 "15*15" -> "225"')
    got = exchange(proxied, v2(fam=0x21, src=("2001:db8::6", 8),
                               dst=("::1", 4000)) + b"2**10\n")
    assert got == b"1024\n"
    wait_log(proxied, 'tcp [2001:db8::6]:8 "2**10" -> "1024"')


def test_v2_with_tlvs_then_legacy_framing(proxied):
    """What follows the header is the calc stream, legacy framing too."""
    hdr = v2(tlv=b"\x04\x00\x03abc" + b"\x05\x00\x02id")
    s = connect(proxied)
    s.sendall(hdr + b"30+30")  # no newline: a legacy request
    assert s.recv(100) == b"60"
    s.close()
    wait_log(proxied, 'tcp-legacy 192.0.2.7:51000 "30+30" -> "60"')


def test_header_in_pieces(proxied):
    """The header may arrive a byte at a time (each a segment)."""
    s = connect(proxied)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in v2(src=("203.0.113.1", 9)):
        s.send(bytes([b]))
        time.sleep(0.002)
    s.sendall(b"7*6\n")
    assert s.recv(100) == b"42\n"
    s.close()
    wait_log(proxied, 'tcp 203.0.113.1:9 "7*6" -> "42"')


def test_local_and_unknown_keep_the_peer(proxied):
    """v2 LOCAL (HAProxy's health checks), v2 UNSPEC and v1 UNKNOWN name no
    client: the balancer's own address stands."""
    for hdr in (v2(cmd=0x20, fam=0x00, block=b""), v2(fam=0x00, block=b""),
                b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ff::1 ff::2 1 2\r\n"):
        assert exchange(proxied, hdr + b"1+1\n") == b"2\n", hdr
    hits = wait_log(proxied, '"1+1" -> "2"', count=4)
    assert len(hits) == 4 and all("tcp 127.0.0.1:" in h for h in hits)


def test_direct_client_from_an_untrusted_source_is_served(proxied):
    """Not from FROM: no header wanted (e.g. a probe straight to the pod)."""
    assert exchange(proxied, b"1+1\n", source="127.0.0.3") == b"2\n"
    assert exchange(proxied, b"\r\n5-1\n", source="127.0.0.3") == b"4\n"
    wait_log(proxied, 'tcp 127.0.0.3:')


# ---- refused ---------------------------------------------------------------

BAD = [
    ("missing header", b"1+1\n", "no PROXY header"),
    ("v1 bad family", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n1+1\n",
     "v1-family"),
    ("v1 bad address", b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n1+1\n",
     "v1-address"),
    ("v1 bad port", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n1+1\n",
     "v1-port"),
    ("v1 bare LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n1+1\n", "v1-syntax"),
    ("v1 too long", b"PROXY UNKNOWN " + b"f" * 100 + b"\r\n", "v1-too-long"),
    ("v2 version 1", v2(cmd=0x11) + b"1+1\n", "v2-version"),
    ("v2 unknown command", v2(cmd=0x22) + b"1+1\n", "v2-command"),
    ("v2 unknown family", v2(fam=0x41) + b"1+1\n", "v2-family"),
    ("v2 unix family", v2(fam=0x31, block=b"\0" * 216) + b"1+1\n",
     "v2-family"),
    ("v2 unknown transport", v2(fam=0x13) + b"1+1\n", "v2-family"),
    ("v2 short block", v2(block=b"\x7f\0\0\x01") + b"1+1\n", "v2-length"),
    ("v2 over-long", V2SIG + b"\x21\x11\x04\x01" + b"\0" * 1025,
     "v2-too-long"),
    ("v2 bad TLV", v2(tlv=b"\x04\x00\x09ab") + b"1+1\n", "v2-tlv"),
    ("v2 UDP client on TCP", v2(fam=0x12) + b"1+1\n", "UDP client"),
    ("EOF inside the header", v2()[:20], "before a complete PROXY header"),
]


@pytest.mark.parametrize("data,why", [(d, w) for _, d, w in BAD],
                         ids=[n for n, _, _ in BAD])
def test_bad_header_closes_that_connection_only(proxied, data, why):
    other = connect(proxied)  # a good client, mid-session
    other.sendall(v2(src=("198.51.100.2", 2)) + b"1+1\n")
    assert other.recv(100) == b"2\n"
    assert exchange(proxied, data) == b""  # closed, not one reply
    hits = wait_log(proxied, why)
    assert all(": closed" in h and "tcp 127.0.0.1:" in h for h in hits)
    other.sendall(b"2+2\n")  # the other client is still served
    assert other.recv(100) == b"4\n"
    other.close()
    # and so is a new one
    assert exchange(proxied, v2() + b"3+3\n") == b"6\n"
    assert not any('tcp 127.0.0.1:' in line and '"1+1" ->' in line
                   for line in proxied.log), "a refused request was answered"


def test_header_from_an_untrusted_source(proxied):
    for hdr in (b"PROXY TCP4 192.0.2.1 127.0.0.2 1 2\r\n", v2(),
                b"PROXY TCP4 1.2.3.4 garbage\r\n",
                v2(cmd=0x20, fam=0, block=b"")):
        assert exchange(proxied, hdr + b"1+1\n", source="127.0.0.3") == b""
    hits = wait_log(proxied, "not trusted by --proxy-protocol: closed", 4)
    assert len(hits) == 4 and all("tcp 127.0.0.3:" in h for h in hits)
    assert not any("192.0.2.1" in line for line in proxied.log)


def test_silent_trusted_peer_is_closed_after_the_wait(proxied):
    s = connect(proxied)
    s.sendall(V2SIG[:5])
    t0 = time.monotonic()
    s.settimeout(PROXY_WAIT + 3)
    assert s.recv(100) == b""
    took = time.monotonic() - t0
    assert PROXY_WAIT - 0.3 <= took <= PROXY_WAIT + 1.5, took
    wait_log(proxied, "no complete PROXY header within 3000 ms: closed")
    s.close()


def test_without_the_option_a_header_is_just_bytes(calcd_factory):
    """No --proxy-protocol: nothing changes (a header line is a request)."""
    s = calcd_factory()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    c.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n1+1\n")
    c.shutdown(socket.SHUT_WR)
    got = recv_until_eof(c)
    assert got.startswith(b"ERR unsupported: name 'PROXY'") and \
        got.endswith(b"\n2\n")


@pytest.mark.parametrize("arg", ["", "127.0.0.1/8", "localhost", "::1/129",
                                 "10.0.0.0/8,", ",".join(["10.0.%d.0/24" % i
                                                          for i in range(33)])])
def test_bad_option(arg):
    p = subprocess.run([CALCD, "--port", "0", "--proxy-protocol", arg],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "--proxy-protocol" in p.stderr


def test_startup_line_names_the_trusted(proxied):
    assert "proxy-protocol from 127.0.0.1/32,::1/128" in proxied.log[0]


def test_per_address_limit_applies_to_the_real_client(calcd_factory):
    """--max-conn-per-addr counts the client a header names, not the
    balancer that all proxied connections come from."""
    s = calcd_factory("--bind", "127.0.0.2", "--proxy-protocol", "127.0.0.1",
                      "--max-conn-per-addr", "2", "-v")
    held = []
    for i in range(2):  # two connections of client A: at its limit
        c = connect(s)
        c.sendall(v2(src=("192.0.2.1", 1000 + i)) + b"1+%d\n" % i)
        assert c.recv(100) == b"%d\n" % (1 + i)
        held.append(c)
    # a third of A is refused, as a direct one would be
    got = exchange(s, v2(src=("192.0.2.1", 1002)) + b"5+5\n")
    assert got == b"ERR busy: too many connections from your address (2)\n"
    wait_log(s, "192.0.2.1: at --max-conn-per-addr 2")
    # other clients behind the same balancer are not: more than 2 of them
    for i in range(4):
        assert exchange(s, v2(src=("192.0.2.%d" % (10 + i), 7)) +
                        b"2*%d\n" % i) == b"%d\n" % (2 * i)
    for c in held:
        c.close()
    # once A's connections close, A is served again
    deadline = time.monotonic() + TIMEOUT
    while True:
        got = exchange(s, v2(src=("192.0.2.1", 1003)) + b"6+6\n")
        if got == b"12\n" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got == b"12\n"
