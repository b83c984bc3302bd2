# SPDX-License-Identifier: MIT
"""The calc dissector over TCP: lines, pipelining, reassembly (one pass and
two passes), legacy unterminated messages, limits."""

import pytest

from conftest import C4, S4, C6, S6, Capture, where

# Info of a segment whose bytes go into a later reassembled line: TCP's
# own text, which differs between versions (4.0: "... [TCP segment of a
# reassembled PDU]", 4.4+: "... [TCP PDU reassembled in N]" in two
# passes); what matters is that calc shows no message there.
SEG = "(TCP's Info)"


def tcp_info(info):
    return not info.startswith(("Request", "Response")) and "Len=" in info


def other(ep, port):
    return (ep[0], port)


@pytest.mark.parametrize("client,server", [(C4, S4), (C6, S6)],
                         ids=["ipv4", "ipv6"])
def test_pipelined_lines(tshark, capture, client, server):
    cap = Capture()
    t = cap.tcp(client, server)
    t.send(b"1+1\n2*3\r\n10-4 #3\n")
    t.send(b"2\n6\n", from_client=False)
    t.send(b"6 #3\n", from_client=False)
    rows = tshark.fields(capture(cap), ["calc.framing", "calc.expression",
                                        "calc.result", "calc.response_in",
                                        "calc.response_to", "_ws.col.Info"],
                         two_pass=True)[3:]
    assert rows == [
        ["2|2|2", "1+1|2*3|10-4", "", "5|5|6", "",
         "Request 1+1, Request 2*3, Request 10-4 #3"],
        ["2|2", "", "2|6", "", "4|4", "Response 2 (1+1), Response 6 (2*3)"],
        ["2", "", "6", "", "4", "Response 6 #3 (10-4)"],
    ]


@pytest.mark.parametrize("two_pass", [False, True], ids=["1pass", "2pass"])
def test_line_split_across_segments(tshark, cap, capture, two_pass):
    t = cap.tcp(C4, S4)
    t.send(b"0\n")                   # LF seen: this direction has lines
    t.send(b"0\n", from_client=False)
    t.send(b"12")
    t.send(b"3*")
    t.send(b"4\n5+")
    t.send(b"5\n")
    t.send(b"49", from_client=False)
    t.send(b"2\n10\n", from_client=False)
    rows = tshark.fields(capture(cap), ["calc.expression", "calc.result",
                                        "calc.response_to",
                                        "calc.response_in", "calc.verified",
                                        "tcp.reassembled_in", "_ws.col.Info"],
                         two_pass=two_pass)[5:]
    fwd = (lambda v: v) if two_pass else (lambda v: "")
    for r in (0, 1, 4):
        assert tcp_info(rows[r][-1]), rows[r][-1]
        rows[r][-1] = SEG
    assert rows == [
        ["", "", "", "", "", fwd("8"), SEG],
        ["", "", "", "", "", fwd("8"), SEG],
        ["123*4", "", "", fwd("11"), "", fwd("9"), "Request 123*4"],
        ["5+5", "", "", fwd("11"), "", "", "Request 5+5"],
        ["", "", "", "", "", fwd("11"), SEG],
        ["", "492|10", "8|9", "", "1|1", "",
         "Response 492 (123*4), Response 10 (5+5)"],
    ]


def test_without_reassembly_pairs_stay_in_step(tshark, cap, capture):
    t = cap.tcp(C4, S4)
    t.send(b"0\n")
    t.send(b"12")
    t.send(b"3*4\n5+5\n")
    t.send(b"0\n1476\n10\n", from_client=False)
    names = ["calc.framing", "calc.expression", "calc.response_to",
             "calc.verified", "calc.unterminated", "_ws.col.Info"]
    t = tshark.table(capture(cap), names, "-o", "calc.desegment:FALSE")
    assert [[r[n] for n in names[:4] + names[5:]] for r in t[4:]] == [
        ["4", "12", "", "", "Request 12"],
        ["5|2", "5+5", "", "", "Rest of a line, Request 5+5"],
        ["2|2|2", "", "4|5|6", "1|1",      # the cut request: no verdict
         "Response 0 (0), Response 1476 (12\u2026), Response 10 (5+5)"],
    ]
    assert where(t, "calc.unterminated") == [5]


def test_legacy_unterminated_messages(tshark, cap, capture):
    # The original Python client and server: no newline, ever.
    t = cap.tcp(C4, S4)
    t.send(b"30+30")
    t.send(b"60", from_client=False)
    t.send(b"15*15")
    t.send(b"225", from_client=False)
    t.close()
    path = capture(cap)
    expect = [
        ["3", "30+30", "", "", "", "Request 30+30"],
        ["3", "", "60", "4", "1", "Response 60 (30+30)"],
        ["3", "15*15", "", "", "", "Request 15*15"],
        ["3", "", "225", "6", "1", "Response 225 (15*15)"],
    ]
    for two in (False, True):
        rows = tshark.fields(path, ["calc.framing", "calc.expression",
                                    "calc.result", "calc.response_to",
                                    "calc.verified", "_ws.col.Info"],
                             two_pass=two)[3:7]
        assert rows == expect


def test_line_client_with_legacy_server(tshark, cap, capture):
    # Our client (lines) against the original server (no newline back);
    # then the other way round.
    t = cap.tcp(C4, S4)
    t.send(b"6*7\n")
    t.send(b"42", from_client=False)
    t.send(b"1+1\n")
    t.send(b"2", from_client=False)
    t = cap.tcp(other(C4, 40001), S4)
    t.send(b"6*7")
    t.send(b"42\n", from_client=False)
    rows = tshark.fields(capture(cap), ["calc.framing", "calc.response_to"],
                         filt="calc")
    assert rows == [["2", ""], ["3", "4"], ["2", ""], ["3", "6"],
                    ["3", ""], ["2", "11"]]


def test_empty_lines_and_final_line(tshark, cap, capture):
    # calcd does not answer empty lines, and answers the bytes a client
    # sends before its FIN as a last line.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n\r\n\n2*3\n")
    t.send(b"7-1", fin=True)
    t.send(b"2\n6\n6\n", from_client=False)
    names = ["calc.framing", "calc.expression", "calc.response_in",
             "calc.response_to", "calc.verified", "calc.empty_request",
             "calc.no_request", "calc.no_response"]
    t = tshark.table(capture(cap), names)
    assert [t[3][n] for n in names[:3]] == ["2|2|2|2", "1+1|||2*3", "6|6"]
    assert [t[4][n] for n in names[:3]] == ["6", "7-1", "6"]
    assert [t[5][n] for n in names[3:5]] == ["4|4|5", "1|1|1"]
    assert where(t, "calc.empty_request") == [4]
    assert where(t, "calc.no_request") == where(t, "calc.no_response") == []


def test_role_server_refusal(tshark, cap, capture):
    t = cap.tcp(C4, other(S4, 4001))
    t.send(b"2*3\n")
    t.send(b"ERR unsupported: this server (addsub) serves only + -; '*' "
           b"is served by the muldiv server (port 4002)\n",
           from_client=False)
    t.send(b"2+3\n")
    t.send(b"5\n", from_client=False)
    rows = tshark.fields(capture(cap), ["calc.refused", "calc.verified",
                                        "calc.expected", "calc.mismatch"],
                         filt="calc.type == 2")
    assert rows == [["1", "", "6", ""], ["", "1", "5", ""]]


def test_reply_without_request_and_retransmission(tshark, cap, capture):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.resend(b"1+1\n")                      # TCP retransmission
    t.send(b"2\n3\n", from_client=False)
    path = capture(cap)
    names = ["calc.response_to", "calc.no_request", "calc.retransmission"]
    t1 = tshark.table(path, names)
    assert t1[5]["calc.response_to"] == "4"
    assert where(t1, "calc.no_request") == [6]
    # With TCP passing retransmitted data on, it is still paired once.
    t2 = tshark.table(path, names, "-o", "tcp.no_subdissector_on_error:FALSE",
                      "-o", "tcp.desegment_tcp_streams:FALSE")
    assert where(t2, "calc.retransmission") == [5]
    assert t2[5]["calc.response_to"] == "4"
    assert where(t2, "calc.no_request") == [6]


def test_expression_length_limit(tshark, cap, capture):
    at = b"1" * 4096                     # CALC_MAX_REQUEST_LEN: served
    past = b"1" * 4097
    t = cap.tcp(C4, S4)
    t.send(b"0\n")
    for line in (at, past):
        data = line + b"\n"
        for i in range(0, len(data), 1400):
            t.send(data[i:i + 1400])
    t.send(b"0\n" + at + b"\n", from_client=False)
    t.send(b"ERR too-long: request longer than 4096 bytes\n",
           from_client=False)
    t.send(b"9" * 5000 + b"\n", from_client=False)   # longer than any reply
    names = ["calc.verified", "calc.expected", "calc.too_long",
             "_ws.expert.message"]
    t = tshark.table(capture(cap), names)
    assert (t[10]["calc.verified"], t[10]["calc.expected"]) == \
        ("1|1", "0|" + at.decode())
    assert (t[11]["calc.verified"], t[11]["calc.expected"]) == \
        ("1", "ERR too-long: request longer than 4096 bytes")
    assert where(t, "calc.too_long") == [10, 13]
    assert t[9]["_ws.expert.message"] == \
        "Request of 4097 bytes exceeds the limit of 4096 bytes"
    assert "exceeds the longest possible reply" in t[12]["_ws.expert.message"]


def test_line_length_limit(tshark, cap, capture):
    # A line is reassembled up to CALC_LINE_MAX (4097) bytes before its LF,
    # as calcd reads it; past that calcd refuses it as too long, so the
    # bytes so far are shown as that request and the rest as such.
    t = cap.tcp(C4, S4)
    t.send(b"0\n")
    at = b"1" * 4096 + b"\r\n"               # 4097 bytes before the LF
    past = b"1" * 5000 + b"\n"
    for line in (at, past):
        for i in range(0, len(line), 1400):
            t.send(line[i:i + 1400])
    t.send(b"0\n" + b"1" * 4096 + b"\n" +
           b"ERR too-long: request longer than 4096 bytes\n", from_client=False)
    names = ["frame.number", "calc.framing", "calc.response_to",
             "calc.verified", "calc.too_long", "calc.unterminated"]
    rows = tshark.table(capture(cap), names)
    calc = [r for r in rows if r["calc.framing"]]
    assert [[r[n] for n in names[:4]] for r in calc] == [
        ["4", "2", "", ""],
        ["7", "2", "", ""],                 # reassembled: 4096 digits
        ["10", "4", "", ""],                # 4200 bytes without LF: cut
        ["11", "5", "", ""],                # the rest of it
        ["12", "2|2|2", "4|7|10", "1|1|1"],
    ]
    assert where(rows, "calc.too_long") == [10]
    assert where(rows, "calc.unterminated") == [10]


def test_legacy_bytes_calcd_joins(tshark, cap, capture):
    # calcd holds legacy bytes 20 ms, or 250 ms while they end unfinished,
    # and joins what comes meanwhile (docs/PROTOCOL.md, "Legacy mode").
    t = cap.tcp(C4, S4)
    t.send(b"2*")
    t.send(b"5", wait=0.1)                  # joined: calcd answers 2*5
    t.send(b"10", from_client=False, wait=0.02)
    t.send(b"2*")
    t.send(b"ERR syntax: unexpected end of expression at position 3",
           from_client=False, wait=0.25)
    t.send(b"3", wait=0.5)                  # answered already: separate
    t.send(b"3", from_client=False, wait=0.02)
    t.send(b"4*")
    t.send(b"4\n5*5\n", wait=0.1)           # the first LF: "4*4" is a line
    t.send(b"16\n25\n", from_client=False)
    names = ["calc.expression", "calc.joined_to", "calc.response_to",
             "calc.response_in", "calc.verified", "calc.expected",
             "calc.no_request", "calc.no_response", "calc.mismatch"]
    rows = tshark.table(capture(cap), names)[3:]
    assert [[r[n] for n in names[:5]] for r in rows] == [
        ["2*", "", "", "6", ""],
        ["5", "4", "", "6", ""],            # part of the request of 4
        ["", "", "4", "", "1"],
        ["2*", "", "", "8", ""],
        ["", "", "7", "", "1"],
        ["3", "", "", "10", ""],
        ["", "", "9", "", "1"],
        ["4*", "", "", "13", ""],
        ["4|5*5", "11", "", "13|13", ""],
        ["", "", "11|12", "", "1|1"],
    ]
    assert rows[0]["calc.expected"] == "10"      # what calcd answered
    for n in names[6:]:
        assert where(rows, n) == [], n


def test_server_that_ignores_tags(tshark, cap, capture):
    # The original servers read a tag as a comment and answer without it.
    t = cap.tcp(C4, S4)
    t.send(b"15*15 #7")
    t.send(b"225", from_client=False)
    cap.udp(C4, S4, b"30+30 #8")
    cap.udp(S4, C4, b"60")
    cap.udp(C4, S4, b"30+30 #8")               # calc asks again
    cap.udp(S4, C4, b"60")
    names = ["calc.response_to", "calc.verified", "calc.tagless",
             "calc.no_request", "calc.no_response"]
    rows = tshark.table(capture(cap), names)
    assert [rows[i]["calc.response_to"] for i in (4, 6, 8)] == ["4", "6", "8"]
    assert where(rows, "calc.tagless") == [5, 7, 9]
    assert where(rows, "calc.no_request") == where(rows, "calc.no_response") \
        == []


def test_busy_greeting_is_not_an_orphan(tshark, cap, capture):
    t = cap.tcp(C4, S4)
    t.send(b"ERR busy: server at its connection limit (1)\n",
           from_client=False)
    rows = tshark.table(capture(cap), ["calc.error.kind", "calc.no_request",
                                       "calc.error_reply.busy"])
    assert rows[3]["calc.error.kind"] == "busy"
    assert where(rows, "calc.no_request") == []
    assert where(rows, "calc.error_reply.busy") == [4]
