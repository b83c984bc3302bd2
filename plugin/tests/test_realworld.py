# SPDX-License-Identifier: MIT
"""The dissector on captures as people take them (issue #10): cut frames,
replies spanning segments, lost and out-of-order segments, a start
mid-connection, a reused 4-tuple, ICMP errors, direction, other protocols
on calc's ports, legacy pieces, expert groups.  Each shape one pass and two
passes, with exact fields: what the capture cannot show is said (a Note),
never blamed on the server."""

import struct

import pytest

from conftest import C4, S4, Capture, where
from calcpcap import ip_packet, udp_l4
from test_misc import stats_counts

PASSES = pytest.mark.parametrize("two", [False, True], ids=["1pass", "2pass"])
# Expert infos that blame the server or the bytes: none of them may come
# from what the capture could not show.
BLAME = ["calc.mismatch", "calc.no_request", "calc.malformed_request",
         "calc.malformed_response", "calc.amplification",
         "calc.error_reply.unknown", "calc.retransmission"]
# calc's expert infos of Warning severity.
CALC_WARN = BLAME + ["calc.bad_request", "calc.too_long", "calc.tag_reused"]


def tcp_info(info):
    """TCP's own Info of a segment reassembled later (4.0: "... [TCP segment
    of a reassembled PDU]", 4.4+: "... [TCP PDU reassembled in N]" in two
    passes, plain in one): calc shows no message there."""
    return not info.startswith(("Request", "Response")) and "Len=" in info


def other(ep, port):
    return (ep[0], port)


def no_blame(t, rows=None):
    for n in BLAME:
        assert where(t, n) == [], n


def fwd(two, v):
    """A forward link (calc.response_in) is known in the second pass."""
    return v if two else ""


# ---- 1. cut frames -------------------------------------------------------

@PASSES
def test_cut_udp_frames(tshark, cap, capture, two):
    # Ethernet 14 + IPv4 20 + UDP 8 = 42 bytes before the payload.
    cap.udp(C4, S4, b"10/3 #12345", snaplen=42 + 6)     # tag cut
    cap.udp(S4, C4, b"3.3333333333333335 #12345", snaplen=42 + 10)
    cap.udp(C4, S4, b"2**200")
    cap.udp(S4, C4, b"ERR zero-division: division by zero", snaplen=42 + 16)
    cap.udp(C4, S4, b"2*3 #7")
    cap.udp(S4, C4, b"6 #7")
    names = ["calc.expression", "calc.result", "calc.error.kind", "calc.tag",
             "calc.response_to", "calc.response_in", "calc.verified",
             "calc.cut", "calc.udp_bound", "_ws.col.Info"] + BLAME
    t = tshark.table(capture(cap), names, two_pass=two)
    no_blame(t)
    assert [[r[n] for n in names[:10]] for r in t] == [
        ["10/3 #", "", "", "", "", "", "", "1", "",
         "Request 10/3 #\u2026[Packet size limited during capture]"],
        ["", "3.33333333", "", "", "", "", "", "1", "",
         "Response 3.33333333\u2026[Packet size limited during capture]"],
        ["2**200", "", "", "", "", "", "", "", "", "Request 2**200"],
        ["", "", "ERR zero-divisio".split()[1], "", "", "", "", "1", "",
         "Response ERR zero-divisio\u2026"
         "[Packet size limited during capture]"],
        ["2*3", "", "", "7", "", fwd(two, "6"), "", "", "", "Request 2*3 #7"],
        ["", "6", "", "7", "5", "", "1", "", "32", "Response 6 #7 (2*3)"],
    ]
    # A cut message is no error kind of its own either.
    assert where(t, "calc.error_reply.unknown") == []


@PASSES
def test_cut_tcp_segment(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"7*7\n10/3 #12345\n", snaplen=54 + 10)    # the second line cut
    t.send(b"49\n3.3333333333333335 #12345\n", from_client=False,
           snaplen=54 + 8)
    t.send(b"2*3\n")
    t.send(b"6\n", from_client=False)
    names = ["calc.framing", "calc.expression", "calc.result",
             "calc.response_to", "calc.verified", "calc.cut",
             "calc.uncertain", "calc.unseen_request", "_ws.col.Info"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:9]] for r in tb[3:]] == [
        ["2", "1+1", "", "", "", "", "", "", "Request 1+1"],
        ["2", "", "2", "4", "1", "", "", "", "Response 2 (1+1)"],
        ["2|4", "7*7|10/3 #", "", "", "", "1", "", "",
         "Request 7*7, Request 10/3 #\u2026"
         "[Packet size limited during capture]"],
        ["2|4", "", "49|3.333", "6", "1", "1", "", "",
         "Response 49 (7*7), Response 3.333\u2026"
         "[Packet size limited during capture]"],
        ["2", "2*3", "", "", "", "", "", "", "Request 2*3"],
        # After the cut, pairing finds its step by the answer.
        ["2", "", "6", "8", "1", "", "", "", "Response 6 (2*3)"],
    ]


# ---- 2. a first reply spanning segments -----------------------------------

@PASSES
def test_first_reply_split_by_sender(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    t.send(b"24689+1\n")
    t.send(b"246", from_client=False)
    t.send(b"90\n", from_client=False)
    t.send(b"2**5000\n")
    big = str(2 ** 5000).encode() + b"\n"
    t.send(big[:1448], from_client=False)
    t.send(big[1448:], from_client=False)
    names = ["calc.framing", "calc.result", "calc.response_to",
             "calc.verified", "_ws.col.Info"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    rows = [[r[n] for n in names[:4]] for r in tb[3:]]
    assert rows == [
        ["2", "", "", ""],
        ["", "", "", ""],
        ["2", "24690", "4", "1"],
        ["2", "", "", ""],
        ["", "", "", ""],
        ["2", str(2 ** 5000), "7", "1"],
    ]
    assert tcp_info(tb[4]["_ws.col.Info"]), tb[4]["_ws.col.Info"]


@PASSES
def test_legacy_reply_in_two_segments(tshark, cap, capture, two):
    # The original client and server: no LF either way; the reply cut in
    # two by the network is reassembled into one, as its reader takes it.
    t = cap.tcp(C4, S4)
    t.send(b"24689+1")
    t.send(b"246", from_client=False)
    t.send(b"90", from_client=False, wait=0.0005)
    t.send(b"15*15", wait=0.1)
    t.send(b"225", from_client=False)
    t.send(b"2**5000", wait=0.1)
    big = str(2 ** 5000).encode()
    t.send(big[:1460], from_client=False)
    t.send(big[1460:], from_client=False, wait=0.0001)
    t.send(b"3+3", wait=0.1)
    t.send(b"7", from_client=False)      # wrong, whole: not held
    names = ["calc.framing", "calc.result", "calc.response_to",
             "calc.joined_to", "calc.verified", "_ws.col.Info"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    for n in BLAME[1:]:
        assert where(tb, n) == [], n
    assert [[r[n] for n in names[:6]] for r in tb[3:]] == [
        ["3", "", "", "", "", "Request 24689+1"],
        ["", "", "", "", "", tb[4]["_ws.col.Info"]],
        ["3", "24690", "4", "", "1", "Response 24690 (24689+1)"],
        ["3", "", "", "", "", "Request 15*15"],
        ["3", "225", "7", "", "1", "Response 225 (15*15)"],
        ["3", "", "", "", "", "Request 2**5000"],
        ["", "", "", "", "", tb[9]["_ws.col.Info"]],
        ["3", str(2 ** 5000), "9", "", "1", tb[10]["_ws.col.Info"]],
        ["3", "", "", "", "", "Request 3+3"],
        ["3", "7", "12", "", "0", "Response 7 (3+3)"],
    ]
    assert tcp_info(tb[4]["_ws.col.Info"]), tb[4]["_ws.col.Info"]
    assert tcp_info(tb[9]["_ws.col.Info"]), tb[9]["_ws.col.Info"]
    assert where(tb, "calc.mismatch") == [13]


# ---- 3. lost and out-of-order segments ------------------------------------

@PASSES
def test_lost_segments_resync(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.lose(b"2+2\n")                    # never captured
    t.send(b"3+3\n")
    t.send(b"4\n6\n", from_client=False)
    t.send(b"12")
    t.lose(b"3*4\n5+")                  # a gap inside lines
    t.send(b"5\n7*7\n")
    t.send(b"492\n10\n49\n", from_client=False)
    t.send(b"8*8\n")
    t.lose(b"64\n", from_client=False)  # a reply lost
    t.send(b"9*9\n")
    t.send(b"81\n", from_client=False)
    names = ["calc.framing", "calc.expression", "calc.result",
             "calc.response_to", "calc.response_in", "calc.verified",
             "calc.unseen_request", "calc.uncertain", "calc.no_response"] \
        + BLAME
    tb = tshark.table(capture(cap), names, "-o", "calc.desegment:FALSE",
                      two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:8]] for r in tb[3:]] == [
        ["2", "1+1", "", "", fwd(two, "5"), "", "", ""],
        ["2", "", "2", "4", "", "1", "", ""],
        ["2", "3+3", "", "", fwd(two, "7"), "", "", ""],
        # 4 answers the lost 2+2: said so; 6 finds its request again.
        ["2|2", "", "4|6", "6", "", "1", "1", ""],
        # 12 is the start of 123*4, cut by the gap: its answer pairs by
        # order, uncertain; 10 answers 5+5, of which only the end was seen.
        ["4", "12", "", "", fwd(two, "10"), "", "", ""],
        ["5|2", "7*7", "", "", fwd(two, "10"), "", "", ""],
        ["2|2|2", "", "492|10|49", "8|9", "", "1", "1", "1"],
        ["2", "8*8", "", "", "", "", "", ""],
        ["2", "9*9", "", "", fwd(two, "13"), "", "", ""],
        ["2", "", "81", "12", "", "1", "", ""],
    ]


@PASSES
def test_out_of_order_segment(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.lose(b"2+2\n")
    t.send(b"3+3\n")                    # comes first
    t.send_at(b"2+2\n", back=8)         # then the late one
    t.send(b"4\n6\n", from_client=False)
    names = ["calc.expression", "calc.result", "calc.response_to",
             "calc.verified"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    # TCP keeps the out-of-order segment from dissectors: 2+2 is not seen,
    # and its answer is said to answer what the capture does not show.
    rows = [[r[n] for n in names[:4]] for r in tb[3:]]
    assert rows[0] == ["1+1", "", "", ""]
    assert rows[1] == ["", "2", "4", "1"]
    assert rows[2] == ["3+3", "", "", ""]
    assert rows[-1] == ["", "4|6", "6", "1"]


@PASSES
@pytest.mark.parametrize("relative", ["TRUE", "FALSE"])
def test_first_segment_after_syn_lost(tshark, cap, capture, two, relative):
    # A direction's first data after the SYN is a gap like any later one.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n2+2\n3+3\n")
    t.lose(b"2\n", from_client=False)     # the server's first segment
    t.send(b"4\n6\n", from_client=False)
    t.send_at(b"2\n", back=4, from_client=False)   # late, out of order
    t.send(b"9+9\n")
    t.send(b"18\n", from_client=False)
    t = cap.tcp(other(C4, 40001), S4)
    t.lose(b"1+1 #1\n")                   # the client's first segment
    t.send(b"2+2 #2\n")
    t.send(b"2 #1\n4 #2\n", from_client=False)
    t = cap.tcp(other(C4, 40002), S4)
    t.send(b"1+1\n2+0\n4*4\n")
    # Equal values (1+1, 2+0), but the 2 lost bytes hold one response
    # only, the oldest request's: the 2 after them is 2+0's.
    t.lose(b"2\n", from_client=False)
    t.send(b"2\n16\n", from_client=False)
    names = ["calc.expression", "calc.result", "calc.tag",
             "calc.response_to", "calc.verified", "calc.unseen_request",
             "calc.uncertain"] + BLAME
    tb = tshark.table(capture(cap), names, "-o",
                      "tcp.relative_sequence_numbers:" + relative,
                      two_pass=two)
    no_blame(tb)
    rows = [[r[n] for n in names[:7]] for r in tb
            if r["calc.expression"] or r["calc.result"]]
    assert rows == [
        ["1+1|2+2|3+3", "", "", "", "", "", ""],
        # 4 and 6 answer 2+2 and 3+3, found again by value.
        ["", "4|6", "", "4|4", "1|1", "", ""],
        ["9+9", "", "", "", "", "", ""],
        ["", "18", "", "7", "1", "", ""],
        ["2+2", "", "2", "", "", "", ""],
        # 2 #1 answers the lost 1+1 #1: said so, no blame.
        ["", "2|4", "1|2", "12", "1", "1", ""],
        ["1+1|2+0|4*4", "", "", "", "", "", ""],
        ["", "2|16", "", "17|17", "1|1", "", ""],
    ]


# ---- 4. a capture that starts mid-connection ------------------------------

@PASSES
def test_capture_starts_mid_connection(tshark, cap, capture, two):
    t = cap.tcp(C4, S4, handshake=False)
    t.send(b"+2\n3*3\n")                # the tail of "40+2"
    t.send(b"42\n9\n", from_client=False)
    t.send(b"5-1\n")
    t.send(b"4\n", from_client=False)
    names = ["calc.framing", "calc.expression", "calc.result",
             "calc.response_to", "calc.verified", "calc.unseen_request",
             "_ws.col.Info", "_ws.expert.group"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:7]] for r in tb] == [
        ["5|2", "3*3", "", "", "", "", "Rest of a line, Request 3*3"],
        # Each direction starts with the rest of a line.
        ["5|2", "", "9", "1", "1", "", "Rest of a line, Response 9 (3*3)"],
        ["2", "5-1", "", "", "", "", "Request 5-1"],
        ["2", "", "4", "3", "1", "", "Response 4 (5-1)"],
    ]
    assert "Malformed" not in "".join(r["_ws.expert.group"] for r in tb)


# ---- 5. a 4-tuple reused by a connection whose SYN was not captured -------

@PASSES
@pytest.mark.parametrize("relative", ["TRUE", "FALSE"])
def test_reused_four_tuple(tshark, cap, capture, two, relative):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.close()
    t = cap.tcp(C4, S4, handshake=False)
    t.seq = [3000000000, 700000000]     # the new connection's numbers
    t.send(b"2+2\n")
    t.send(b"4\n", from_client=False)
    names = ["calc.expression", "calc.result", "calc.response_to",
             "calc.verified", "calc.unseen_request"] + BLAME
    path = capture(cap)
    rel = ("-o", "tcp.relative_sequence_numbers:" + relative)
    # TCP itself takes the new request for a spurious retransmission and
    # keeps it from dissectors: its answer answers what is not shown.
    tb = tshark.table(path, names, *rel, two_pass=two)
    no_blame(tb)
    assert where(tb, "calc.unseen_request") == [10]
    # Passed on, it is a new connection's request, not TCP data seen before.
    tb = tshark.table(path, names, *rel, "-o",
                      "tcp.no_subdissector_on_error:FALSE", "-o",
                      "tcp.desegment_tcp_streams:FALSE", two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb if r["calc.expression"] or
            r["calc.result"]] == [
        ["1+1", "", "", ""], ["", "2", "4", "1"],
        ["2+2", "", "", ""], ["", "4", "9", "1"]]


# ---- 6. ICMP errors quoting calc packets ----------------------------------

@PASSES
def test_icmp_quoted_request_is_not_tracked(tshark, cap, capture, two):
    cap.udp(C4, S4, b"15*15")
    cap.icmp_unreachable(S4[0], ip_packet(C4[0], S4[0], 17,
                                          udp_l4(C4, S4, b"15*15")))
    cap.udp(C4, S4, b"2+2")
    cap.udp(S4, C4, b"4")
    path = capture(cap)
    names = ["calc.expression", "calc.response_to", "calc.response_in",
             "calc.retransmission_of", "calc.no_response"] + BLAME
    tb = tshark.table(path, names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb] == [
        ["15*15", "", "", ""],
        ["15*15", "", "", ""],           # decoded, not a retransmission
        ["2+2", "", fwd(two, "4"), ""],
        ["", "3", "", ""]]
    out = tshark.run("-r", path, "-q", "-z", "calc,tree")
    assert [l.split()[:3] for l in out.splitlines()
            if l.startswith("Requests by operator class")] == \
        [["Requests", "by", "operator"]]
    line = [l for l in out.splitlines()
            if l.startswith("Requests by operator class")][0]
    assert line.split()[4] == "2"       # 15*15 and 2+2, not the quote
    assert "Retransmitted requests         0" in out or \
        [l.split()[2] for l in out.splitlines()
         if l.startswith("Retransmitted requests")] == ["0"]


# ---- 7. direction ---------------------------------------------------------

@PASSES
def test_client_on_a_calc_port(tshark, cap, capture, two):
    cli, srv = ("192.0.2.1", 4000), ("192.0.2.2", 4001)
    t = cap.tcp(cli, srv)                # the SYN says who serves
    t.send(b"1+2\n")
    t.send(b"3\n", from_client=False)
    cap.udp(cli, srv, b"5-1")            # UDP: a guess, said so
    cap.udp(srv, cli, b"4")
    names = ["calc.type", "calc.response_to", "calc.verified",
             "calc.server_guess", "_ws.expert.message"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb[3:]] == [
        ["1", "", "", ""], ["2", "4", "1", ""],
        ["1", "", "", "1"], ["2", "6", "1", ""]]
    # An expression: only a client sends it, so the guess is no guess.
    assert tb[5]["_ws.expert.message"] == (
        "Server side from this message's content: no SYN captured and both "
        "ports are calc's; this message is not a calc reply: only a client "
        "sends it, so its receiver serves (port 4001)")


# Both ports calc's, no SYN: a capture started mid-connection.
CLI, SRV = ("192.0.2.1", 4000), ("192.0.2.2", 4001)
GUESS_OPEN = ("Server side guessed: no SYN captured and both ports are "
              "calc's; taken as this message's %s (port %d), until the "
              "content shows which side serves")
TURNED = ("Server side turned round by this message: it is not a calc "
          "reply: only a client sends it, so its receiver serves (port 4001); "
          "the messages before it were %s the other way round")


def side_notes(tb):
    return [[m for m in r["_ws.expert.message"].split("|")
             if m.startswith("Server side")] for r in tb]


@PASSES
def test_reply_first_turns_the_guess_tcp(tshark, cap, capture, two):
    t = cap.tcp(CLI, SRV, handshake=False)
    t.send(b"2\n42\n", from_client=False)  # the rest of a line, 42 answers
    t.send(b"0\n5-1\n")                     # what was not captured; 5-1
    t.send(b"4\n", from_client=False)
    t.send(b"7\n")
    t.send(b"7\n", from_client=False)
    names = ["calc.type", "calc.result", "calc.expression",
             "calc.response_to", "calc.verified", "calc.unseen_request",
             "_ws.col.Info", "_ws.expert.message"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    rows = [[r[n] for n in names[:7]] for r in tb]
    # One pass shows 42 as the guess took it: a request to port 4000 (the
    # first segment's receiver); from 5-1 on, each pass is the same.
    assert rows[0] == (["2", "42", "", "", "", "1",
                        "Rest of a line, Response 42"] if two else
                       ["1", "", "42", "", "", "",
                        "Rest of a line, Request 42"])
    assert rows[1:] == [
        ["1", "", "5-1", "", "", "", "Rest of a line, Request 5-1"],
        ["2", "4", "", "2", "1", "", "Response 4 (5-1)"],
        ["1", "", "7", "", "", "", "Request 7"],
        ["2", "7", "", "4", "1", "", "Response 7 (7)"]]
    notes = side_notes(tb)
    assert notes[0] == [
        "Server side guessed: no SYN captured and both ports are calc's; "
        "this message's sender (port 4001), as the content of frame 2 shows "
        "(first taken the other way round)"] if two else \
        [GUESS_OPEN % ("receiver", 4000)]
    assert notes[1] == [TURNED % ("first taken" if two else "shown")]
    assert notes[2:] == [[], [], []]


@PASSES
@pytest.mark.parametrize("port", [4001, 4000])      # 4000: equal ports
def test_reply_first_turns_the_guess_udp(tshark, cap, capture, two, port):
    srv = other(SRV, port)
    cap.udp(srv, CLI, b"42")             # the answer to what came before
    cap.udp(CLI, srv, b"5-1")
    cap.udp(srv, CLI, b"4")
    cap.udp(CLI, srv, b"7")
    cap.udp(srv, CLI, b"7")
    names = ["calc.type", "calc.response_to", "calc.verified",
             "calc.mismatch", "calc.no_request", "_ws.col.Info"]
    tb = tshark.table(capture(cap), names, two_pass=two)
    assert [[r[n] for n in names] for r in tb] == [
        # UDP's response without a request, as test_reply_without_request
        ["2", "", "", "", "1", "Response 42"] if two else
        ["1", "", "", "", "", "Request 42"],
        ["1", "", "", "", "", "Request 5-1"],
        ["2", "2", "1", "", "", "Response 4 (5-1)"],
        ["1", "", "", "", "", "Request 7"],
        ["2", "4", "1", "", "", "Response 7 (7)"]]


@PASSES
def test_error_reply_first_decides_the_side(tshark, cap, capture, two):
    t = cap.tcp(CLI, SRV, handshake=False)
    t.send(b"5\nERR zero-division: division by zero\n", from_client=False)
    t.send(b"3\n2*3\n")
    t.send(b"6\n", from_client=False)
    names = ["calc.type", "calc.response_to", "calc.verified",
             "calc.unseen_request", "_ws.expert.message"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb] == [
        ["2", "", "", "1"], ["1", "", "", ""], ["2", "2", "1", ""]]
    assert side_notes(tb) == [[
        "Server side from this message's content: no SYN captured and both "
        "ports are calc's; this message is a calc reply no client sends "
        "(ERR, inf, nan), so its sender serves (port 4001)"], [], []]


@PASSES
def test_numbers_then_an_expression_confirm_the_guess(tshark, cap, capture,
                                                      two):
    t = cap.tcp(CLI, SRV, handshake=False)
    t.send(b"9\n7\n")                   # request first: the guess is right
    t.send(b"1\n7\n", from_client=False)
    t.send(b"2*3\n")
    t.send(b"6\n", from_client=False)
    names = ["calc.type", "calc.response_to", "calc.verified",
             "_ws.expert.message"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    # Under the open guess, 7 answering 7 is paired but not verified (the
    # roles may be the other way round); settled, two passes verify it.
    assert [[r[n] for n in names[:3]] for r in tb] == [
        ["1", "", ""], ["2", "1", "1" if two else ""], ["1", "", ""],
        ["2", "3", "1"]]
    assert side_notes(tb) == [[
        "Server side guessed: no SYN captured and both ports are calc's; "
        "this message's receiver (port 4001), as the content of frame 3 "
        "confirms"] if two else [GUESS_OPEN % ("receiver", 4001)], [], [], []]


@PASSES
@pytest.mark.parametrize("numbers", [16, 17])
def test_guess_log_limit(tshark, cap, capture, two, numbers):
    # CALC_GUESS_MAX (16) messages are kept while the side is a guess:
    # with 16 before the evidence it still turns, with 17 it stands.
    for i in range(numbers):
        if i % 2 == 0:
            cap.udp(SRV, CLI, b"%d" % (i // 2))
        else:
            cap.udp(CLI, SRV, b"%d" % (i // 2 + 1))
    cap.udp(CLI, SRV, b"5-1")
    cap.udp(SRV, CLI, b"4")
    names = ["calc.type", "calc.response_to", "calc.verified",
             "_ws.expert.message"]
    tb = tshark.table(capture(cap), names, two_pass=two)
    types = [r["calc.type"] for r in tb]
    if numbers == 16:
        assert types[-2:] == ["1", "2"]
        assert tb[-1]["calc.response_to"] == str(numbers + 1)
        assert types[:numbers] == (["2", "1"] * 8 if two else ["1", "2"] * 8)
        # two passes pair what one pass took the other way round, and
        # verify it; one pass verifies nothing under the open guess
        assert [r["calc.response_to"] for r in tb[:numbers]] == (
            [""] + [x for j in range(2, 15, 2) for x in ("", str(j))] + [""]
            if two else [x for j in range(1, 16, 2) for x in ("", str(j))])
        assert [r["calc.verified"] for r in tb[:numbers]] == (
            [""] + ["", "1"] * 7 + [""] if two else [""] * numbers)
    else:
        # The guess stands past the log, unconfirmed: nothing verified;
        # 5-1 (only a client sends it) turns it round from its frame on.
        assert types == ["1", "2"] * 8 + ["1", "1", "2"]
        assert [r["calc.verified"] for r in tb] == [""] * 18 + ["1"]
        assert tb[-1]["calc.response_to"] == "18"
        notes = side_notes(tb)
        assert notes[0] == [
            "Server side guessed: no SYN captured and both ports are calc's; "
            "taken as this message's receiver (port 4000), unconfirmed and "
            "not verified, until the content of frame 18 showed the other "
            "side serves"] if two else [GUESS_OPEN % ("receiver", 4000)]
        assert notes[17] == [LATE_TURN]
        assert notes[1:17] == [[]] * 16 and notes[18:] == [[]]


LATE_TURN = ("Server side turned round by this message: it is not a calc "
             "reply: only a client sends it, so its receiver serves (port "
             "4001); the messages before it stay shown the other way round, "
             "not verified")


@PASSES
@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
@pytest.mark.parametrize("exchanges", [9, 40])
def test_reply_first_then_numbers_then_an_expression(tshark, cap, capture,
                                                     two, udp, exchanges):
    # The red team's shape: no SYN, the first message a reply, more bare
    # numbers than the guess keeps (each side's could be a request or a
    # reply), then an expression.  The wrong guess stands past the log but
    # verifies nothing (no "Response differs"), and the expression turns
    # it round: 1+1 is a request, its answer verified; each pass the same.
    t = None if udp else cap.tcp(CLI, SRV, handshake=False)

    def send(frm, data):
        if udp:
            cap.udp(frm, CLI if frm == SRV else SRV, data)
        else:
            t.send(data + b"\n", from_client=frm == CLI)
    # (TCP: each direction's first segment starts with the rest of a line)
    send(SRV, b"225" if udp else b"5\n225")
    for i in range(exchanges):
        send(CLI, b"%d" % (i + 10) if udp or i else b"9\n10")
        send(SRV, b"%d" % (i + 10))
    send(CLI, b"1+1")
    send(SRV, b"2")
    names = ["calc.type", "calc.response_to", "calc.verified",
             "_ws.expert.message"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    n = 1 + 2 * exchanges
    assert [r["calc.type"] for r in tb] == ["1", "2"] * exchanges + [
        "1", "1", "2"]
    assert [r["calc.verified"] for r in tb] == [""] * (n + 1) + ["1"]
    assert tb[-1]["calc.response_to"] == str(n + 1)
    notes = side_notes(tb)
    assert notes[n] == [LATE_TURN]
    assert notes[0] == [
        "Server side guessed: no SYN captured and both ports are calc's; "
        "taken as this message's receiver (port 4000), unconfirmed and not "
        "verified, until the content of frame %d showed the other side "
        "serves" % (n + 1)] if two else [GUESS_OPEN % ("receiver", 4000)]



@PASSES
@pytest.mark.parametrize("second", [4096, 4097])
def test_guess_log_bytes(tshark, cap, capture, two, second):
    # CALC_GUESS_BYTES (8192) of messages are kept while the side is a
    # guess: 4096 + 4096 bytes still turn, 4096 + 4097 stand.
    cap.udp(SRV, CLI, b"1" * 4096)
    cap.udp(CLI, SRV, b"2" * second)
    cap.udp(CLI, SRV, b"5-1")
    cap.udp(SRV, CLI, b"4")
    tb = tshark.table(capture(cap), ["calc.type", "calc.response_to"],
                      two_pass=two)
    if second == 4096:
        assert [r["calc.type"] for r in tb] == (
            ["2", "1", "1", "2"] if two else ["1", "2", "1", "2"])
        assert tb[3]["calc.response_to"] == "3"
    else:  # stands, then 5-1 turns it from its frame on
        assert [r["calc.type"] for r in tb] == ["1", "2", "1", "2"]
        assert tb[3]["calc.response_to"] == "3"

# ---- 8. other protocols on calc's ports -----------------------------------

ICQ_V5 = (struct.pack("<HIIIHHHI", 5, 0, 12345678, 0x1234, 0x3e8, 1, 0, 0)
          + b"\x00" * 8)
OPSI = bytes.fromhex("0101010000080001")   # header only: 8 bytes


@PASSES
def test_other_protocols_are_given_up(tshark, cap, capture, two):
    cap.udp(C4, S4, ICQ_V5)                          # ICQ on UDP 4000
    t = cap.tcp(C4, other(S4, 4002))                 # OPSI on TCP 4002
    t.send(OPSI)
    t = cap.tcp(other(C4, 40002), other(S4, 4001))   # HTTP on TCP 4001
    t.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    t.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
           from_client=False)
    cap.udp(other(C4, 40003), S4, b"hello there")    # plain text, and
    cap.udp(S4, other(C4, 40003), b"general kenobi")  # not a calc reply
    cap.udp(other(C4, 40004), S4, b"15*15")           # calc still is
    cap.udp(S4, other(C4, 40004), b"225")
    cap.udp(other(C4, 40005), S4, b"what?")           # garbage, answered
    cap.udp(S4, other(C4, 40005), b"ERR unsupported")  # within UDP's bound
    path = capture(cap)
    rows = tshark.fields(path, ["frame.protocols", "calc.type"],
                         two_pass=two)
    # The first pass meets ICQ and OPSI in calc (which hands them over),
    # the second in their own conversation's dissector.
    assert rows[0][0].endswith("udp:icq" if two else "udp:calc:icq")
    assert rows[0][1] == ""
    assert rows[4][0].endswith("tcp:opsi" if two else "tcp:calc:opsi")
    assert rows[4][1] == ""
    assert all(":calc" not in r[0] for r in rows[5:10])
    assert rows[8][0].endswith(":http") and rows[9][0].endswith(":http")
    assert rows[10][1] == ("" if two else "1")        # judged at the reply
    # No Warning on it; "what?", answered ERR, is calc: refused (a
    # Warning) once known, from the second pass on.
    tb = tshark.table(path, CALC_WARN, two_pass=two)
    for n in CALC_WARN:
        assert where(tb, n) == ([15] if two and n == "calc.bad_request"
                                else []), n
    assert rows[11][1] == ""
    assert [r[1] for r in rows[12:]] == ["1", "2", "1", "2"]
    assert tshark.fields(path, ["calc.type"], "-Y", "calc.mismatch || "
                         "calc.malformed_response || calc.malformed_request",
                         two_pass=two) == []
    # Without calc, ICQ and OPSI decode as they do without the plugin.
    rows = tshark.fields(path, ["frame.protocols"], "--disable-protocol",
                         "calc", two_pass=two)
    assert "icq" in rows[0][0] and rows[4][0].endswith(":opsi")


def warnings(row):
    """Expert infos of Warning severity (or worse) on a frame."""
    return [s for s in row["_ws.expert.severity"].split("|")
            if s and int(s) >= 0x00600000]


@PASSES
def test_text_protocols_given_up_at_the_reply(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)                              # frames 1-7
    t.send(b"HELLO server\r\n")
    t.send(b"220 welcome\r\n", from_client=False)
    t.send(b"QUIT\r\n")
    t.send(b"OK\r\n", from_client=False)
    t = cap.tcp(other(C4, 40001), other(S4, 4002))   # frames 8-11
    t.send(b"HELLO server\r\n")
    t.send(b"OK\r\n", from_client=False)
    j = other(C4, 40002)                             # frames 12-14
    cap.udp(j, S4, b'{"op":"add","a":1,"b":2}')
    cap.udp(S4, j, b'{"result":3}')
    cap.udp(j, S4, b'{"op":"sub","a":1,"b":2}')
    names = ["frame.protocols", "calc.type"] + CALC_WARN
    path = capture(cap)
    tb = tshark.table(path, names, two_pass=two)
    # Only the first request of each is calc in one pass: it could be
    # garbage that calcd answers ERR.  It carries no Warning; the reply
    # shows it is not calc, and every frame after it is given up.  Two
    # passes give up all of them (the judgement is the first pass's).
    assert where(tb, "calc.type") == ([] if two else [4, 11, 13])
    for n in CALC_WARN:
        assert where(tb, n) == [], n
    # Given up on TCP 4002, OPSI (the port's owner before calc) has it (in
    # two passes it waits for more of a PDU: TCP segments); on TCP 4000,
    # which had no owner, data; on UDP 4000, ICQ, which refuses JSON as it
    # does without the plugin: data.
    assert [i + 1 for i, r in enumerate(tb)
            if r["frame.protocols"].endswith(":opsi")] == ([] if two else [12])
    assert [i + 1 for i, r in enumerate(tb)
            if r["frame.protocols"].endswith(":tcp:data")] == (
        [4, 5, 6, 7] if two else [5, 6, 7])
    assert [i + 1 for i, r in enumerate(tb)
            if r["frame.protocols"].endswith(":udp:data")] == (
        [13, 14, 15] if two else [14, 15])
    # With calc disabled, as tshark without the plugin: data, OPSI waiting
    # for the rest of a PDU on 4002 (TCP segments), ICQ refusing JSON.
    tb = tshark.table(path, ["frame.protocols"], "--disable-protocol", "calc",
                      two_pass=two)
    assert [r["frame.protocols"].rsplit(":", 1)[-1] for r in tb[3:]] == (
        ["data"] * 4 + ["tcp"] * 5 + ["data"] * 3)


@PASSES
def test_other_request_lines_given_up_at_once(tshark, cap, capture, two):
    t = cap.tcp(C4, other(S4, 4001))                 # frames 1-5
    t.send(b"OPTIONS rtsp://192.0.2.2/ RTSP/1.0\r\nCSeq: 1\r\n\r\n")
    t.send(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", from_client=False)
    t = cap.tcp(other(C4, 40001), S4)                # frames 6-9
    t.send(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    t.send(b"SSH-2.0-OpenSSH_9.2p1\r\n", from_client=False)
    cap.udp(other(C4, 40002), S4,                    # frame 10
            b"OPTIONS sip:calc@192.0.2.2 SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n")
    tb = tshark.table(capture(cap), ["frame.protocols", "calc.type"],
                      two_pass=two)
    # A request no calc client sends: given up in its own frame, in one
    # pass as in two; TCP's and UDP's dissectors then have it (data on
    # these ports; SIP's UDP heuristic takes its request; from 4.6 on,
    # SSH's TCP heuristic takes its banners).
    assert where(tb, "calc.type") == []
    last = [tb[i]["frame.protocols"].rsplit(":", 1)[-1]
            for i in (3, 4, 8, 9)]
    assert last[:2] == ["data"] * 2
    ws = tuple(int(x) for x in tshark.version.split(".")[:2])
    assert last[2:] == (["ssh"] * 2 if ws >= (4, 6) else ["data"] * 2)
    assert tb[10]["frame.protocols"].endswith(":udp:sip")


@PASSES
def test_garbage_answered_err_is_calc(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)                              # frames 1-7
    t.send(b"HELLO server\r\n")
    t.send(b"ERR unsupported: name 'HELLO' at position 1\n",
           from_client=False)
    t.send(b"QUIT\r\n")
    t.send(b"ERR unsupported: name 'QUIT' at position 1\n", from_client=False)
    j = other(C4, 40002)                             # frames 8-9
    cap.udp(j, S4, b'{"op":"add"}')
    cap.udp(S4, j, b"ERR unsupported")
    t = cap.tcp(other(C4, 40003), S4)                # legacy: 10-14
    t.send(b"hello")
    t.send(b"ERR unsupported: name 'hello' at position 1", from_client=False,
           wait=0.02)
    names = ["calc.type", "calc.response_to", "calc.verified",
             "calc.bad_request", "calc.error.kind", "calc.framing",
             "_ws.expert.severity"]
    tb = tshark.table(capture(cap), names, two_pass=two)
    rows = [[r[n] for n in names[:6]] for r in tb if r["calc.type"]]
    # The first request of each waits for its reply to be judged: no
    # Warning in one pass; two passes know it is calc.
    refused = "1" if two else ""
    assert rows == [
        ["1", "", "", refused, "", "2"],
        ["2", "4", "1", "", "unsupported", "2"],
        ["1", "", "", "1", "", "2"],
        ["2", "6", "1", "", "unsupported", "2"],
        ["1", "", "", refused, "", "1"],
        ["2", "8", "1", "", "unsupported", "1"],
        ["1", "", "", refused, "", "3"],
        ["2", "13", "1", "", "unsupported", "3"]]
    assert [len(warnings(r)) for r in tb if r["calc.type"] == "1"] == (
        [1, 1, 1, 1] if two else [0, 1, 0, 0])

# ---- 9. the legacy request in two pieces ----------------------------------

@PASSES
def test_legacy_pieces_carry_no_warning(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    t.send(b"2*")
    t.send(b"5", wait=0.1)
    t.send(b"10", from_client=False, wait=0.02)
    names = ["calc.expression", "calc.joined_to", "calc.response_to",
             "calc.verified", "_ws.expert.severity"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb[3:]] == [
        ["2*", "", "", ""], ["5", "4", "", ""], ["", "", "4", "1"]]
    # Notes only (the join): no warning on either piece.
    sev = [s for r in tb for s in r["_ws.expert.severity"].split("|") if s]
    assert all(int(s) < 0x00600000 for s in sev), sev


# ---- 10, 11. expert groups, the same with and without a tree ---------------

def test_expert_groups(tshark, cap, capture):
    cap.udp(C4, S4, b"2^10")                 # valid, refused: a request code
    cap.udp(S4, C4, b"ERR unsupported: '^' is bitwise xor")
    cap.udp(C4, S4, b"1+\x00\xff")            # bytes no client sends
    cap.udp(S4, C4, b"ERR syntax: nul byte")
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"ERR bogus: what")      # a kind nobody defined
    cap.udp(C4, S4, b"2+2")
    cap.udp(S4, C4, b"\x01\x02")               # not a reply at all
    names = ["_ws.expert.group", "_ws.expert.message"]
    tb = tshark.table(capture(cap), names)
    groups = [r["_ws.expert.group"] for r in tb]
    PI_REQUEST, PI_RESPONSE, PI_MALFORMED = (str(0x04000000), str(0x03000000),
                                             str(0x07000000))
    assert groups[0] == PI_REQUEST
    assert PI_MALFORMED in groups[2].split("|")
    assert PI_RESPONSE in groups[5].split("|")
    assert PI_MALFORMED not in groups[5].split("|")
    assert PI_MALFORMED in groups[7].split("|")


def test_expert_infos_same_without_a_tree(tshark):
    import collections
    import os
    import re
    path = os.path.join(os.path.dirname(__file__), "..", "..", "captures",
                        "errors.pcapng")
    # -z expert counts what the first pass adds (no tree, as in the GUI's
    # Expert Information); -V shows what the tree gets.
    summary = tshark.run("-r", path, "-q", "-z", "expert")
    counted = collections.Counter()
    for line in summary.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+CALC\s+(.*)$", line)
        if m:
            counted[m.group(3).strip()] += int(m.group(1))
    tree = tshark.run("-r", path, "-V")
    shown = collections.Counter(
        m.group(1).strip() for m in
        re.finditer(r"\[Expert Info \([^)]*\): (.*)\]$", tree, re.M))
    assert sum(counted.values()) >= 15, summary
    for msg, n in counted.items():
        assert shown[msg] == n, msg
    assert "Malformed" not in [l.split()[1] for l in summary.splitlines()
                               if re.match(r"\s*\d+\s+\S+\s+CALC", l)]


# ---- 12. statistics -------------------------------------------------------

def test_stats_average_from_real_values(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"2", wait=0.00019)
    cap.udp(C4, S4, b"2+2")
    cap.udp(S4, C4, b"4", wait=0.00031)
    out = tshark.run("-r", capture(cap), "-q", "-z", "calc,tree")
    line = [l for l in out.splitlines() if l.startswith("Response time (ms)")]
    assert line, out
    assert "0.25" in line[0] or "0.2500" in line[0], line[0]
    # Sub-millisecond ranges, in microseconds: 190 and 310.
    ranges = {l.split()[0]: l.split()[1] for l in out.splitlines()
              if l.startswith(" ") and l.split()[0][0].isdigit()}
    assert ranges == {"0-49": "0", "50-99": "0", "100-249": "1",
                      "250-499": "1", "500-999": "0", "1000-9999": "0",
                      "10000-99999": "0", "100000-999999": "0",
                      "1000000-": "0"}, out
    row = [l.split() for l in out.splitlines()
           if l.startswith("Response time ranges (us)")]
    assert row and row[0][4:8] == ["2", "250.00", "190", "310"], out


def test_service_response_time(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"2", wait=0.002)
    cap.udp(C4, S4, b"2*3")
    cap.udp(S4, C4, b"6", wait=0.004)
    cap.udp(C4, S4, b"7*7")                   # never answered
    cap.udp(S4, C4, b"6")                     # a duplicate of frame 4
    cap.udp(other(C4, 40001), S4, b"9")       # no operator
    cap.udp(S4, other(C4, 40001), b"9", wait=0.001)
    out = tshark.run("-r", capture(cap), "-q", "-z", "calc,rtd")
    rows = {c[0]: c[1:] for c in ([x.strip() for x in l.split("|")]
                                  for l in out.splitlines())
            if c[0] in ("add/sub", "mul/div", "mixed", "none")}
    assert rows["add/sub"][:4] == ["1", "2.00 msec", "2.00 msec", "2.00 msec"]
    assert rows["mul/div"][:4] == ["1", "4.00 msec", "4.00 msec", "4.00 msec"]
    assert rows["none"][:4] == ["1", "1.00 msec", "1.00 msec", "1.00 msec"]
    assert "Open requests: 1" in out           # 7*7
    assert "Duplicate responses: 1" in out     # the second 6
    assert "Discarded responses: 0" in out


# ---- TLS: Decode As on tls.port --------------------------------------------

@PASSES
def test_tls_decode_as(tshark, tmp_path_factory, two):
    import os
    import shutil
    import tempfile
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                        "..", "captures", "tls")
    # The key log is named inside an option: stage it where tshark (as
    # nobody, when run by root) can read it.
    stage = tempfile.mkdtemp(prefix="calc-tls-test.")
    try:
        os.chmod(stage, 0o755)
        keylog = os.path.join(stage, "tls.keylog")
        shutil.copy(os.path.join(here, "calc-tls.keylog"), keylog)
        os.chmod(keylog, 0o644)
        names = ["calc.expression", "calc.tag", "calc.result",
                 "calc.error.kind", "calc.response_to", "calc.verified"]
        rows = tshark.fields(os.path.join(here, "calc-tls.pcapng"), names,
                             "-o", "tls.keylog_file:" + keylog,
                             "-d", "tls.port==4443,calc", filt="calc",
                             two_pass=two)
        # The frames of captures/record-tls's four requests and replies.
        assert [r[:4] + [r[5]] for r in rows] == [
            ["15*15", "", "", "", ""], ["", "", "225", "", "1"],
            ["2**10", "7", "", "", ""], ["", "7", "1024", "", "1"],
            ["1/0", "", "", "", ""], ["", "", "", "zero-division", "1"],
            ["7/2", "", "", "", ""], ["", "", "3.5", "", "1"]]
        reqs = [i for i, r in enumerate(rows) if r[0]]
        assert all(rows[i + 1][4] != "" for i in reqs)
        # Without the keys nothing decrypts: no calc at all.
        assert tshark.fields(os.path.join(here, "calc-tls.pcapng"),
                             ["calc.type"], "-d", "tls.port==4443,calc",
                             filt="calc") == []
    finally:
        shutil.rmtree(stage)


# ---- #11: verification at bounded cost -------------------------------------

@PASSES
def test_verification_budget(tshark, cap, capture, two):
    t = cap.tcp(C4, S4)
    exprs = ["9**4300+%d" % k for k in range(1, 6)] + ["9**4300+1"]
    for e in exprs:
        t.send(e.encode() + b"\n")
        t.send(str(eval(e)).encode() + b"\n", from_client=False)
    names = ["calc.verified", "calc.not_verified_budget", "calc.mismatch"]
    # 3 million units: each of these answers costs about a million.
    tb = tshark.table(capture(cap), names, "-o", "calc.verify_budget:3",
                      two_pass=two)
    reps = [r for r in tb[3:]][1::2]
    assert [(r["calc.verified"], r["calc.not_verified_budget"])
            for r in reps] == [("1", ""), ("1", ""), ("1", ""),
                               ("", "1"), ("", "1"),
                               ("1", "")]    # asked before: answered once
    assert where(tb, "calc.mismatch") == []
    # The default budget verifies them all.
    tb = tshark.table(capture(cap), names, two_pass=two)
    assert [r["calc.verified"] for r in tb[3:]][1::2] == ["1"] * 6


@PASSES
def test_verification_budget_counts_evaluator_work(tshark, cap, capture,
                                                   two):
    # Short answers that are expensive to compute: the budget is the
    # evaluator's work, not the answers' length.
    big = 3 ** 41000 % 7 ** 20000
    for k in range(4):
        m = 1000003 + k
        req = b"3**41000 %% 7**20000 %% %d" % m
        cap.udp(other(C4, 40000 + k), S4, req)
        cap.udp(S4, other(C4, 40000 + k), b"%d" % (big % m))
    names = ["calc.result", "calc.verified", "calc.not_verified_budget"] \
        + BLAME
    # 1 million units: each of these costs more than a million.
    tb = tshark.table(capture(cap), names, "-o", "calc.verify_budget:1",
                      two_pass=two)
    no_blame(tb)
    assert [(r["calc.result"], r["calc.verified"],
             r["calc.not_verified_budget"]) for r in tb[1::2]] == \
        [(str(big % (1000003 + k)), "1" if k == 0 else "",
          "" if k == 0 else "1") for k in range(4)]


# ---- the red team's follow-ups (#10): many responses lost, reordered
# ---- datagrams, responses before their requests, what was not captured

SCAN_MAX = 256      # plugin/calc-pair.c CALC_SCAN_MAX
REORDER_MAX = 32    # plugin/calc-pair.c CALC_REORDER_MAX
EARLY_MAX = 8       # plugin/calc-pair.c CALC_EARLY_MAX
UNCAPTURED = ["calc.response_not_captured", "calc.no_response",
              "calc.unseen_request", "calc.uncertain"]


def count(t, name):
    """Occurrences of an expert info in a table (one per message)."""
    return sum(len(r[name].split("|")) for r in t if r[name])


def pipeline(cap, n, lost_bytes, first_sent, per=10):
    """A TCP connection pipelining n untagged requests (per per segment)
    whose responses from the first_sent-th on are captured, and lost_bytes
    of the server's bytes before them are not; then 7*7 and 49.  Returns
    the frame of each request."""
    t = cap.tcp(C4, S4)
    frames = []
    for i in range(0, n, per):
        t.send(b"".join(b"%d+0\n" % (1000000 + k)
                        for k in range(i, min(n, i + per))))
        frames += [cap.count] * (min(n, i + per) - i)
    for i in range(0, lost_bytes, 1400):
        t.lose(b"x" * min(1400, lost_bytes - i), from_client=False)
    t.send(b"".join(b"%d\n" % (1000000 + k) for k in range(first_sent, n)),
           from_client=False)
    t.send(b"7*7\n")
    t.send(b"49\n", from_client=False)
    return frames


@PASSES
@pytest.mark.parametrize("lost", [SCAN_MAX - 1, SCAN_MAX, SCAN_MAX + 1, 600])
def test_many_responses_lost_in_a_gap(tshark, cap, capture, two, lost):
    # An untagged pipeline whose first `lost` responses (8 bytes each,
    # several KB) are lost: the lost bytes hold those requests' expected
    # answers, so they are retired as not captured and pairing resumes
    # at once, at and past the scan's bound.
    n = lost + 20
    frames = pipeline(cap, n, 8 * lost, lost)
    names = ["calc.response_to", "calc.verified"] + UNCAPTURED + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    reply = tb[frames[-1]]                    # the frame after the requests
    assert reply["calc.response_to"] == "|".join(str(f)
                                                 for f in frames[lost:])
    assert reply["calc.verified"] == "|".join(["1"] * 20)
    assert [r["calc.response_to"] for r in tb[-2:]] == [
        "", str(frames[-1] + 2)]
    assert tb[-1]["calc.verified"] == "1"
    assert count(tb, "calc.response_not_captured") == (lost if two else 0)
    for n in UNCAPTURED[1:]:
        assert where(tb, n) == [], n


@PASSES
@pytest.mark.parametrize("behind", [SCAN_MAX - 1, SCAN_MAX, 2 * SCAN_MAX,
                                    2 * SCAN_MAX + 44])
def test_lost_bytes_fewer_than_the_answers(tshark, cap, capture, two,
                                           behind):
    # 700 responses lost, in fewer bytes than their expected answers take
    # (shorter answers, refusals): the lost bytes retire 700 - behind
    # requests, the first response after them is `behind` requests
    # further.  Within CALC_SCAN_MAX it is found by its answer; past it, in
    # the next CALC_SCAN_MAX; past that, a response retires the oldest
    # CALC_SCAN_MAX (its request may be in what was not captured: a
    # Note), and pairing is back in step within a few responses.
    lost, n = 700, 720
    frames = pipeline(cap, n, 8 * (lost - behind), lost)
    names = ["calc.response_to", "calc.verified"] + UNCAPTURED + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    reply = tb[frames[-1]]
    paired = reply["calc.response_to"].split("|")
    unseen = 0 if behind < 2 * SCAN_MAX else 1
    assert paired == [str(f) for f in frames[lost + unseen:]]
    assert reply["calc.verified"] == "|".join(["1"] * (20 - unseen))
    assert count(tb, "calc.unseen_request") == unseen
    assert tb[-1]["calc.response_to"] == str(frames[-1] + 2)
    assert count(tb, "calc.response_not_captured") == \
        (lost + unseen if two else 0)
    assert where(tb, "calc.no_response") == []
    assert where(tb, "calc.uncertain") == []


def cut_capture(cap):
    """300 pipelined requests whose responses come in one segment the
    capture cut after 100 bytes (12 whole, one cut); then 7*7 and 49.  Over
    UDP, a response cut, and one wanting a request."""
    t = cap.tcp(C4, S4)
    t.send(b"".join(b"%d+0\n" % (1000000 + k) for k in range(300)))
    t.send(b"".join(b"%d\n" % (1000000 + k) for k in range(300)),
           from_client=False, snaplen=54 + 100)
    t.send(b"7*7\n")
    t.send(b"49\n", from_client=False)
    cap.udp(other(C4, 40001), S4, b"2**100")
    cap.udp(S4, other(C4, 40001), b"1267650600228229401496703205376",
            snaplen=42 + 5)
    cap.udp(other(C4, 40001), S4, b"3*3")
    cap.udp(S4, other(C4, 40001), b"9")
    return t


@PASSES
def test_responses_cut_are_not_captured(tshark, cap, capture, two):
    # Requests whose responses the capture cut say so (a Note, second
    # pass), never "No response seen"; the 288 whose responses were in the
    # frame's bytes past the snapshot length likewise.
    cut_capture(cap)
    path = capture(cap)
    names = ["calc.response_to", "calc.verified", "calc.cut"] + UNCAPTURED \
        + BLAME
    tb = tshark.table(path, names, two_pass=two)
    no_blame(tb)
    assert tb[4]["calc.response_to"] == "|".join(["4"] * 12)
    assert tb[4]["calc.cut"] == "1"
    assert tb[6]["calc.response_to"] == "6"            # 49 (7*7)
    assert [tb[i]["calc.response_to"] for i in (8, 10)] == ["", "10"]
    assert tb[8]["calc.cut"] == "1"
    assert count(tb, "calc.response_not_captured") == (289 if two else 0)
    assert where(tb, "calc.no_response") == []
    assert where(tb, "calc.uncertain") == []
    # The service response time and the stats tree count them apart.
    rtd = tshark.run("-r", path, "-q", "-z", "calc,rtd", *(["-2"] if two
                                                          else []))
    assert ("Open requests: %d" % (0 if two else 289)) in rtd, rtd
    assert "Discarded responses: 0" in rtd, rtd
    tree = stats_counts(tshark.run("-r", path, "-q", "-z", "calc,tree",
                                   *(["-2"] if two else [])))
    rq = "Requests, response not captured"
    assert tree[(rq, rq)] == (289 if two else 0)
    rs = "Responses cut or after a gap"
    assert tree[(rs, rs)] == 2
    rw = "Responses without a request"
    assert tree[(rw, rw)] == 0


@PASSES
def test_reordered_udp_responses_lose_no_request(tshark, cap, capture, two):
    # Untagged datagrams answered out of order: a response matching a
    # later request's answer leaves the earlier ones waiting, and each
    # gets its own response when it comes.
    for e in (b"1+1", b"2+2", b"3+3", b"4+4"):
        cap.udp(C4, S4, e)
    for r in (b"6", b"2", b"8", b"4"):                # 3+3, 1+1, 4+4, 2+2
        cap.udp(S4, C4, r)
    cap.udp(C4, S4, b"5+5")                           # never answered
    names = ["calc.response_to", "calc.response_in", "calc.verified",
             "calc.no_response"] + UNCAPTURED[:1] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    assert [[r[n] for n in names[:4]] for r in tb] == [
        ["", fwd(two, "6"), "", ""], ["", fwd(two, "8"), "", ""],
        ["", fwd(two, "5"), "", ""], ["", fwd(two, "7"), "", ""],
        ["3", "", "1", ""], ["1", "", "1", ""], ["4", "", "1", ""],
        ["2", "", "1", ""],
        ["", "", "", fwd(two, "1")]]
    assert where(tb, "calc.response_not_captured") == []


@PASSES
@pytest.mark.parametrize("late", [REORDER_MAX, REORDER_MAX + 1])
def test_reordered_udp_response_at_the_bound(tshark, cap, capture, two,
                                             late):
    # The newest request is answered while `late` older ones wait, then
    # those, oldest first: within CALC_REORDER_MAX every one pairs; past
    # it the oldest was taken as unanswered (No response seen), and its
    # late response, the answer of none still waiting, is said to answer
    # a request the capture does not show (a Note), not the next one's.
    for k in range(late + 1):
        cap.udp(C4, S4, b"%d+0" % (100 + k))
    cap.udp(S4, C4, b"%d" % (100 + late))
    for k in range(late):
        cap.udp(S4, C4, b"%d" % (100 + k))
    names = ["calc.response_to", "calc.verified", "calc.no_response",
             "calc.unseen_request"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)
    no_blame(tb)
    past = late > REORDER_MAX
    assert [r["calc.response_to"] for r in tb[late + 1:]] == \
        [str(late + 1)] + ([""] if past else ["1"]) + \
        [str(k + 1) for k in range(1, late)]
    assert where(tb, "calc.unseen_request") == ([late + 3] if past else [])
    assert where(tb, "calc.no_response") == ([1] if past and two else [])


@PASSES
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_response_before_its_request(tshark, cap, capture, two, tcp):
    # Capture order is not sending order (UDP reordered before the capture
    # point, timestamps of two interfaces): a tagged response with no
    # request waiting pairs by tag with the request that comes after it
    # (within CALC_EARLY_NS), said so; the first pass only says no request
    # is seen yet, never a Warn the second pass would not raise.
    if tcp:
        t = cap.tcp(C4, S4)
        send = lambda b, c, wait=None: t.send(b + b"\n", from_client=c,
                                             wait=wait)
    else:
        send = lambda b, c, wait=None: (cap.udp(C4, S4, b, wait=wait) if c
                                        else cap.udp(S4, C4, b, wait=wait))
    base = cap.count
    send(b"4 #7", False)
    send(b"2+2 #7", True)
    send(b"3*3", True)
    send(b"9", False)
    send(b"5 #8", False)                      # its request 2 s later:
    send(b"2+3 #8", True, wait=2.0)           # not paired
    names = ["calc.response_to", "calc.response_in", "calc.verified",
             "calc.time", "calc.response_early", "calc.request_not_seen_yet",
             "calc.no_response"] + BLAME
    tb = tshark.table(capture(cap), names, two_pass=two)[base:]
    for n in BLAME:
        assert where(tb, n) == ([5] if two and n == "calc.no_request"
                                else []), n
    assert [[r[n] for n in names[:7]] for r in tb] == [
        [fwd(two, str(base + 2)), "", fwd(two, "1"), "", fwd(two, "1"),
         "" if two else "1", ""],
        ["", str(base + 1), "", "", "", "", ""],
        ["", fwd(two, str(base + 4)), "", "", "", "", ""],
        [str(base + 3), "", "1", tb[3]["calc.time"], "", "", ""],
        ["", "", "", "", "", "" if two else "1", ""],
        ["", "", "", "", "", "", fwd(two, "1")],
    ]
    assert tb[3]["calc.time"] != ""
    out = tshark.run("-r", capture(cap), "-V", *(["-2"] if two else []))
    if two:
        assert "(captured before this request: paired by tag)" in out
        assert "Response captured before its request (frame %d): paired " \
            "by tag" % (base + 2) in out


@PASSES
@pytest.mark.parametrize("early", [EARLY_MAX, EARLY_MAX + 1])
def test_responses_before_requests_at_the_bound(tshark, cap, capture, two,
                                                early):
    # CALC_EARLY_MAX tagged responses are kept for their requests; one
    # more, and the oldest is forgotten: its request then has no response
    # and the response none (the second pass's Warn).
    for k in range(1, early + 1):
        cap.udp(S4, C4, b"%d #%d" % (k + k, k))
    for k in range(1, early + 1):
        cap.udp(C4, S4, b"%d+%d #%d" % (k, k, k))
    names = ["calc.response_to", "calc.response_in", "calc.no_request",
             "calc.no_response", "calc.mismatch"]
    tb = tshark.table(capture(cap), names, two_pass=two)
    past = early > EARLY_MAX
    assert [r["calc.response_in"] for r in tb[early:]] == \
        ([""] if past else []) + \
        [str(k) for k in range(2 if past else 1, early + 1)]
    assert where(tb, "calc.no_request") == ([1] if past and two else [])
    assert where(tb, "calc.no_response") == \
        ([early + 1] if past and two else [])
    assert where(tb, "calc.mismatch") == []


@PASSES
@pytest.mark.parametrize("desegment", ["TRUE", "FALSE"])
def test_gap_starting_inside_a_response(tshark, cap, capture, two,
                                        desegment):
    # The lost bytes start inside a response (its start held by TCP's
    # reassembly, or shown cut): that one and those after it are retired
    # by the lost bytes.  After a gap inside a line the first line is
    # shown as the rest of one (here it is 1000278, whole: the dissector
    # cannot know), and the 21 responses after it pair.
    t = cap.tcp(C4, S4)
    n = 300
    for i in range(0, n, 50):
        t.send(b"".join(b"%d+0\n" % (1000000 + k) for k in range(i, i + 50)))
    reps = b"".join(b"%d\n" % (1000000 + k) for k in range(n))
    t.send(reps[:20], from_client=False)       # 2 responses and 4 bytes
    t.lose(reps[20:8 * 278], from_client=False)
    t.send(reps[8 * 278:], from_client=False)
    names = ["calc.framing", "calc.response_to", "calc.verified"] \
        + UNCAPTURED + BLAME
    tb = tshark.table(capture(cap), names, "-o",
                      "calc.desegment:" + desegment, two_pass=two)
    no_blame(tb)
    assert tb[9]["calc.response_to"].split("|")[:2] == ["4", "4"]
    assert tb[10]["calc.framing"] == "5|" + "|".join(["2"] * 21)
    assert tb[10]["calc.response_to"] == "|".join(["9"] * 21)
    assert tb[10]["calc.verified"] == "|".join(["1"] * 21)
    # Held, the cut response's request is one of them; shown (reassembly
    # off), it is paired with its start.
    held = desegment == "TRUE"
    assert count(tb, "calc.response_not_captured") == \
        ((277 if held else 276) if two else 0)
    for n in UNCAPTURED[1:]:
        assert where(tb, n) == [], n
