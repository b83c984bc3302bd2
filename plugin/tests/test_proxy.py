# SPDX-License-Identifier: MIT
"""A PROXY protocol header (v1, v2) opening a client's TCP stream, as a
load balancer sends it to calcd --proxy-protocol: calc shows it from lib's
parse (plugin/calc-proxyhdr.c) and the calc lines after it as calc, on
every Wireshark version (4.4's own proxy dissector would take the stream
over: captures/proxy-haproxy.pcapng, tests/lb/test_dissect.py)."""

import ipaddress
import struct

import pytest

from conftest import C4, S4, C6, S6, Capture

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
HDR = ["calc.proxy.version", "calc.proxy.local", "calc.proxy.transport",
       "calc.proxy.src.ipv4", "calc.proxy.srcport", "calc.proxy.dst.ipv4",
       "calc.proxy.dstport", "calc.proxy.src.ipv6", "calc.proxy.dst.ipv6",
       "calc.proxy.length"]
MSG = ["calc.framing", "calc.expression", "calc.result", "calc.response_to",
       "calc.verified", "_ws.col.Info"]


def v2(cmd, fam, block, tlvs=b""):
    body = block + tlvs
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def v2_inet(src, dst, tlvs=b""):
    block = (ipaddress.ip_address(src[0]).packed +
             ipaddress.ip_address(dst[0]).packed +
             struct.pack("!HH", src[1], dst[1]))
    fam = 0x11 if len(block) == 12 else 0x21
    return v2(1, fam, block, tlvs)


def true(v):
    return v in ("1", "True")   # 4.0 prints 1, 4.4+ True


def session(header, first=b"", split=None):
    """A stream behind a balancer: header (cut in two segments at split,
    if given) followed by `first` in the same segment, then 6*7 and its
    reply; the reply to `first` comes first when it is a line."""
    cap = Capture()
    t = cap.tcp(C4, S4)
    if split is None:
        t.send(header + first)
    else:
        t.send(header[:split])
        t.send(header[split:] + first)
    if first:
        t.send(b"2\n", from_client=False)
    t.send(b"6*7\n")
    t.send(b"42\n", from_client=False)
    return cap


@pytest.mark.parametrize("two_pass", [False, True], ids=["1pass", "2pass"])
def test_v2_header_alone_then_lines(tshark, capture, two_pass):
    client = ("198.51.100.7", 51000)
    balancer = ("203.0.113.1", 4000)
    hdr = v2_inet(client, balancer)
    rows = tshark.table(capture(session(hdr)), HDR + MSG, two_pass=two_pass)[3:]
    h, req, rep = rows
    assert (h["calc.proxy.version"], true(h["calc.proxy.local"])) == ("2", False)
    assert h["calc.proxy.transport"] == "1"
    assert (h["calc.proxy.src.ipv4"], h["calc.proxy.srcport"]) == (
        "198.51.100.7", "51000")
    assert (h["calc.proxy.dst.ipv4"], h["calc.proxy.dstport"]) == (
        "203.0.113.1", "4000")
    assert h["calc.proxy.length"] == str(len(hdr)) == "28"
    assert h["calc.expression"] == "" and h["calc.framing"] == ""
    assert h["_ws.col.Info"] == (
        "PROXY v2 198.51.100.7:51000 \u2192 203.0.113.1:4000")
    # the lines after it: whole lines of this conversation, paired, verified
    assert (req["calc.framing"], req["calc.expression"]) == ("2", "6*7")
    assert (rep["calc.framing"], rep["calc.result"]) == ("2", "42")
    assert rep["calc.response_to"] == "5"
    assert true(rep["calc.verified"])
    assert req["calc.proxy.version"] == rep["calc.proxy.version"] == ""


@pytest.mark.parametrize("two_pass", [False, True], ids=["1pass", "2pass"])
def test_v1_tcp6_header_and_request_in_one_segment(tshark, capture, two_pass):
    hdr = b"PROXY TCP6 %s %s %d %d\r\n" % (C6[0].encode(), S6[0].encode(),
                                          C6[1], S6[1])
    rows = tshark.table(capture(session(hdr, b"1+1\n")), HDR + MSG,
                        two_pass=two_pass)[3:]
    h = rows[0]
    assert h["calc.proxy.version"] == "1"
    assert (h["calc.proxy.src.ipv6"], h["calc.proxy.dst.ipv6"]) == (C6[0], S6[0])
    assert (h["calc.proxy.srcport"], h["calc.proxy.dstport"]) == ("40000", "4000")
    assert h["calc.proxy.src.ipv4"] == ""
    assert h["calc.proxy.length"] == str(len(hdr))
    assert h["calc.expression"] == "1+1" and h["calc.framing"] == "2"
    assert h["_ws.col.Info"] == (
        "PROXY v1 [2001:db8::1]:40000 \u2192 [2001:db8::2]:4000 | Request 1+1")
    assert [r["calc.result"] for r in rows[1:]] == ["2", "", "42"]
    assert [r["calc.expression"] for r in rows[1:]] == ["", "6*7", ""]


@pytest.mark.parametrize("two_pass", [False, True], ids=["1pass", "2pass"])
def test_v2_header_cut_in_two_segments_is_reassembled(tshark, capture,
                                                      two_pass):
    hdr = v2_inet(("198.51.100.7", 51000), ("203.0.113.1", 4000))
    rows = tshark.table(capture(session(hdr, b"1+1\n", split=10)),
                        HDR + MSG, two_pass=two_pass)[3:]
    cut, whole = rows[0], rows[1]
    assert cut["calc.proxy.version"] == cut["calc.expression"] == ""
    assert whole["calc.proxy.version"] == "2"
    assert whole["calc.proxy.src.ipv4"] == "198.51.100.7"
    assert whole["calc.expression"] == "1+1"
    assert [r["calc.result"] for r in rows[2:]] == ["2", "", "42"]


def test_v2_local_and_tlvs(tshark, capture):
    """A health check's LOCAL header with an INET block and a NOOP TLV: no
    client named; its length covers the TLV."""
    block = bytes(12)
    hdr = v2(0, 0x11, block, tlvs=b"\x04\x00\x03abc")
    rows = tshark.table(capture(session(hdr)), HDR + MSG)[3:]
    h = rows[0]
    assert (h["calc.proxy.version"], true(h["calc.proxy.local"])) == ("2", True)
    assert h["calc.proxy.src.ipv4"] == h["calc.proxy.transport"] == ""
    assert h["calc.proxy.length"] == str(len(hdr)) == "34"
    assert h["_ws.col.Info"] == "PROXY v2 no client address"
    assert rows[1]["calc.expression"] == "6*7"


def test_header_only_at_the_stream_start(tshark, capture):
    """A PROXY line later in the stream is not a header: it is a request
    (one calcd refuses)."""
    line = b"PROXY TCP4 192.0.2.9 192.0.2.2 1 2\r\n"
    cap = Capture()
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(line)
    rows = tshark.table(capture(cap), HDR + ["calc.type", "calc.expression"])[3:]
    assert [r["calc.proxy.version"] for r in rows] == ["", "", ""]
    assert [r["calc.type"] for r in rows] == ["1", "2", "1"]
    assert rows[2]["calc.expression"] == "PROXY TCP4 192.0.2.9 192.0.2.2 1 2"


def test_header_calcd_refuses_is_not_shown_as_one(tshark, capture):
    """v2 over AF_UNIX: calcd refuses it (calc_proxy.h), so calc does not
    show it as the header of a calc stream."""
    hdr = v2(1, 0x31, bytes(216))
    rows = tshark.table(capture(session(hdr)), HDR)[3:]
    assert all(r["calc.proxy.version"] == "" for r in rows)
