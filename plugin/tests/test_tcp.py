# SPDX-License-Identifier: MIT
"""The calc dissector over TCP: lines, pipelining, reassembly (one pass and
two passes), legacy unterminated messages, limits."""

import pytest

from conftest import C4, S4, C6, S6, Capture, where

SEG = "[TCP segment of a reassembled PDU]"


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
        assert rows[r][-1].endswith(SEG)
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
         "Response 0 (0), Response 1476 (12), Response 10 (5+5)"],
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


def test_reassembly_limit(tshark, cap, capture):
    # A line is reassembled up to CALC_REASSEMBLY_MAX (1 MiB) bytes; past
    # it, what has come is shown as an unterminated line, and the rest as
    # such, so that pairing stays in step.
    limit = 1 << 20
    chunk = 60000
    t = cap.tcp(C4, S4)
    t.send(b"0\n")

    def send_line(n):
        data = b"1" * n + b"\n"
        for i in range(0, len(data), chunk):
            t.send(data[i:i + chunk])
    send_line(limit - 2)                  # a line of limit - 1 bytes
    send_line(limit + chunk)              # no LF in the first 1 MiB
    t.send(b"0\n" + b"ERR too-long: request longer than 4096 bytes\n" * 2,
           from_client=False)
    rows = tshark.fields(capture(cap), ["frame.number", "calc.framing",
                                        "calc.response_to"], filt="calc")
    n1 = 4 + (limit - 1 + chunk - 1) // chunk   # frame ending line 1
    n2 = n1 + (limit + chunk - 1) // chunk       # first frame at 1 MiB
    assert rows[1] == [str(n1), "2", ""]
    assert rows[2] == [str(n2), "4", ""]
    assert rows[3] == [str(n2 + 1), "5", ""]     # rest of line 2
    assert rows[-1] == [str(n2 + 2), "2|2|2", "4|%d|%d" % (n1, n2)]
