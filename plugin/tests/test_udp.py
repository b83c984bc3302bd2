# SPDX-License-Identifier: MIT
"""The calc dissector over UDP, on captures built here (in the style of
Wireshark's test/suite_dissection.py): exact field values from
`tshark -T fields`, display filters, one pass and two passes (-2)."""

import pytest

from conftest import C4, S4, C6, S6, Capture, where

BIG = b"1606938044258990275541962092341162602522202993782792835301376"


@pytest.mark.parametrize("client,server", [(C4, S4), (C6, S6)],
                         ids=["ipv4", "ipv6"])
def test_request_and_response(tshark, capture, client, server):
    cap = Capture()
    cap.udp(client, server, b"15*15")
    cap.udp(server, client, b"225", wait=0.0025)
    cap.udp(client, server, b"30+30\r\n")        # CR LF ignored
    cap.udp(server, client, b"60")
    path = capture(cap)
    names = ["calc.type", "calc.framing", "calc.expression",
             "calc.operators", "calc.op_class", "calc.result",
             "calc.response_in", "calc.response_to", "calc.time",
             "calc.expected", "calc.verified", "calc.udp_bound",
             "_ws.col.Info"]
    one = [
        ["1", "1", "15*15", "*", "2", "", "", "", "", "225", "", "",
         "Request 15*15"],
        ["2", "1", "", "", "", "225", "", "1", "0.002500000", "225", "1",
         "32", "Response 225 (15*15)"],
        ["1", "1", "30+30", "+", "1", "", "", "", "", "60", "", "",
         "Request 30+30"],
        ["2", "1", "", "", "", "60", "", "3", "0.001000000", "60", "1", "32",
         "Response 60 (30+30)"],
    ]
    assert tshark.fields(path, names) == one
    # Forward links need the second pass.
    one[0][6], one[2][6] = "2", "4"
    assert tshark.fields(path, names, two_pass=True) == one


def test_display_filters(tshark, cap, capture):
    cap.udp(C4, S4, b"15*15")
    cap.udp(S4, C4, b"225", wait=0.003)
    cap.udp(C4, S4, b"1/0 #7")
    cap.udp(S4, C4, b"ERR zero-division: division by zero #7")
    path = capture(cap)
    for filt, frames in (('calc.expression == "15*15"', [1]),
                         ('calc.result == "225"', [2]),
                         ("calc.time > 0.002", [2]),
                         ("calc.op_class == 2 && calc.tag == 7", [3]),
                         ('calc.operators == "/"', [3]),
                         ('calc.operators contains "*"', [1]),
                         ('calc.error.kind == "zero-division"', [4]),
                         ("calc.error_reply.zero-division", [4]),
                         ("calc.response_in == 4", [3])):
        assert tshark.frames(path, filt) == frames, filt


def test_tags_pair_out_of_order_replies(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1 #1")
    cap.udp(C4, S4, b"2*3  #22 ")
    cap.udp(S4, C4, b"6 #22")
    cap.udp(S4, C4, b"2 #1")
    rows = tshark.fields(capture(cap), ["calc.tag", "calc.expression",
                         "calc.result", "calc.response_in",
                         "calc.response_to", "calc.verified", "_ws.col.Info"],
                         two_pass=True)
    assert rows == [
        ["1", "1+1", "", "4", "", "", "Request 1+1 #1"],
        ["22", "2*3", "", "3", "", "", "Request 2*3  #22"],
        ["22", "", "6", "", "2", "1", "Response 6 #22 (2*3)"],
        ["1", "", "2", "", "1", "1", "Response 2 #1 (1+1)"],
    ]


def test_lost_replies_make_no_false_pairs(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1")          # its reply is lost
    cap.udp(C4, S4, b"2*3")
    cap.udp(S4, C4, b"6")
    cap.udp(C4, S4, b"7-2")          # no reply at all
    for i in range(1, 4):            # tagged, pipelined; #2's reply lost
        cap.udp(C4, S4, b"%d*%d #%d" % (i, i, i))
    cap.udp(S4, C4, b"1 #1")
    cap.udp(S4, C4, b"9 #3")
    path = capture(cap)
    names = ["calc.response_in", "calc.response_to", "calc.no_response",
             "calc.no_request"]
    one = tshark.table(path, names, two_pass=False)
    assert [r["calc.response_to"] for r in one] == \
        ["", "", "2", "", "", "", "", "5", "7"]
    two = tshark.table(path, names)
    assert [r["calc.response_in"] for r in two] == \
        ["", "3", "", "", "8", "", "9", "", ""]
    assert [r["calc.response_to"] for r in two] == \
        [r["calc.response_to"] for r in one]
    assert where(two, "calc.no_response") == [1, 4, 6]
    assert where(two, "calc.no_request") == []
    assert where(one, "calc.no_response") == []     # unknown in one pass


def test_retransmission_and_duplicate_reply(tshark, cap, capture):
    cap.udp(C4, S4, b"7*7")
    cap.udp(C4, S4, b"7*7", wait=0.25)          # client timed out
    cap.udp(S4, C4, b"49")
    cap.udp(S4, C4, b"49")                      # answer to the resend
    cap.udp(C4, S4, b"8+1")
    cap.udp(S4, C4, b"9")
    cap.udp(C4, S4, b"5-1 #9")
    cap.udp(C4, S4, b"5-1 #9")
    cap.udp(S4, C4, b"4 #9")
    names = ["calc.retransmission_of", "calc.response_to",
             "calc.duplicate_of", "calc.response_in", "calc.retransmission",
             "calc.duplicate_response", "calc.no_request",
             "calc.no_response", "calc.mismatch"]
    t = tshark.table(capture(cap), names)
    assert [[r[n] for n in names[:4]] for r in t] == [
        ["", "", "", "3"],
        ["1", "", "", "3"],
        ["", "1", "", ""],
        ["", "1", "3", ""],
        ["", "", "", "6"],
        ["", "5", "", ""],
        ["", "", "", "9"],
        ["7", "", "", "9"],
        ["", "7", "", ""],
    ]
    assert where(t, "calc.retransmission") == [2, 8]
    assert where(t, "calc.duplicate_response") == [4]
    for n in names[6:]:
        assert where(t, n) == [], n


def test_duplicated_reply_while_a_request_waits(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"2")
    cap.udp(C4, S4, b"3*3")
    cap.udp(S4, C4, b"2")            # the network duplicated frame 2
    cap.udp(S4, C4, b"9")
    t = tshark.table(capture(cap), ["calc.response_to", "calc.duplicate_of",
                                    "calc.mismatch", "calc.no_response"])
    assert [(r["calc.response_to"], r["calc.duplicate_of"]) for r in t] == \
        [("", ""), ("1", ""), ("", ""), ("1", "2"), ("3", "")]
    assert where(t, "calc.mismatch") == where(t, "calc.no_response") == []


def test_reply_without_request(tshark, cap, capture):
    cap.udp(S4, C4, b"42")
    cap.udp(C4, S4, b"6*7")
    cap.udp(S4, C4, b"42")
    cap.udp(S4, C4, b"43 #5")        # no request with tag 5
    t = tshark.table(capture(cap), ["calc.response_to", "calc.no_request",
                                    "_ws.col.Info"])
    assert where(t, "calc.no_request") == [1, 4]
    assert [r["calc.response_to"] for r in t] == ["", "", "2", ""]
    assert t[0]["_ws.col.Info"] == "Response 42"


def test_amplification_bound(tshark, cap, capture):
    cap.udp(C4, S4, b"2**200")                   # 6 bytes: bound 32
    cap.udp(S4, C4, b"ERR too-large: use TCP")   # what calcd sends
    cap.udp(C4, S4, b"2**200 #1")
    cap.udp(S4, C4, BIG + b" #1")                # 64 bytes: too many
    cap.udp(C4, S4, b"2**200" + b" " * 20 + b"#2")   # padded: bound 84
    cap.udp(S4, C4, BIG + b" #2")
    names = ["calc.udp_bound", "calc.verified", "calc.expected",
             "calc.amplification", "_ws.expert.message"]
    t = tshark.table(capture(cap), names)
    # An expected answer over 24 bytes is kept as its hash: shown on the
    # request, and on a response that is that very result.
    assert [[t[i][n] for n in names[:3]] for i in (1, 3, 5)] == [
        ["32", "1", ""], ["32", "1", BIG.decode()],
        ["84", "1", BIG.decode()]]
    assert t[0]["calc.expected"] == BIG.decode()
    assert where(t, "calc.amplification") == [4]
    assert t[3]["_ws.expert.message"] == ("UDP response of 64 bytes exceeds "
                                          "the bound of 32 bytes for a "
                                          "9-byte request")


def test_binary_and_empty_datagrams(tshark, cap, capture):
    cap.udp(C4, S4, b"")                 # UDP passes no empty payload
    cap.udp(C4, S4, b"1+\x00\xff")
    cap.udp(C4, S4, b"\r\n")             # empty: calcd does not answer
    cap.udp(S4, C4, b"ERR syntax: nul byte")
    t = tshark.table(capture(cap), ["calc.malformed_request",
                                    "calc.empty_request", "_ws.col.Info",
                                    "calc.response_to", "calc.verified"])
    assert where(t, "calc.malformed_request") == [2]
    assert where(t, "calc.empty_request") == [3]
    assert t[1]["_ws.col.Info"] == "Request 1+\\000\ufffd"  # format_text()
    assert t[2]["_ws.col.Info"] == "Request "
    assert (t[3]["calc.response_to"], t[3]["calc.verified"]) == ("2", "1")


def test_over_long_request_is_answered_without_tag(tshark, cap, capture):
    # The limit counts the tag; calcd refuses such a request unread, so its
    # reply carries no tag and pairs with the untagged requests.
    at = b"1" * 4089 + b" #12345"          # 4096 bytes: served
    past = b"1" * 4090 + b" #12345"        # 4097 bytes
    cap.udp(C4, S4, at)
    cap.udp(S4, C4, at)                     # the number, with its tag
    cap.udp(C4, S4, past)
    cap.udp(S4, C4, b"ERR too-long: request longer than 4096 bytes")
    names = ["calc.tag", "calc.response_to", "calc.verified",
             "calc.expected", "calc.too_long", "calc.no_request"]
    t = tshark.table(capture(cap), names)
    assert [t[i]["calc.tag"] for i in range(4)] == ["12345", "12345", "", ""]
    assert [(t[i]["calc.response_to"], t[i]["calc.verified"])
            for i in (1, 3)] == [("1", "1"), ("3", "1")]
    assert t[2]["calc.expected"] == \
        "ERR too-long: request longer than 4096 bytes"
    assert where(t, "calc.too_long") == [3]
    assert where(t, "calc.no_request") == []


def test_error_replies(tshark, cap, capture):
    cap.udp(C4, S4, b"1/0")
    cap.udp(S4, C4, b"ERR zero-division: division by zero")
    cap.udp(C4, S4, b"2+")
    cap.udp(S4, C4, b"ERR syntax: unexpected end of expression")
    cap.udp(C4, S4, b"2.0**10000")
    cap.udp(S4, C4, b"ERR overflow")            # bare kind (UDP bound)
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"ERR bogus: no such kind")
    names = ["calc.error.kind", "calc.error.message", "calc.verified",
             "calc.error_reply.zero-division", "calc.error_reply.syntax",
             "calc.error_reply.overflow", "calc.error_reply.unknown",
             "calc.bad_request", "_ws.expert.message", "_ws.col.Info"]
    t = tshark.table(capture(cap), names)
    assert [[t[i][n] for n in names[:3]] for i in (1, 3, 5, 7)] == [
        ["zero-division", "division by zero", "1"],
        ["syntax", "unexpected end of expression", "1"],
        ["overflow", "", "1"],
        ["bogus", "no such kind", "0"]]
    assert where(t, "calc.error_reply.zero-division") == [2]
    assert where(t, "calc.error_reply.syntax") == [4]
    assert where(t, "calc.error_reply.overflow") == [6]
    assert where(t, "calc.error_reply.unknown") == [8]
    # A request the server refuses is an application error, not
    # malformed bytes; the core's own message follows the kind.
    assert where(t, "calc.bad_request") == [3]
    assert t[2]["_ws.expert.message"].startswith(
        "Request the server refuses: syntax: ")
    assert t[1]["_ws.col.Info"] == \
        "Response ERR zero-division: division by zero (1/0)"


def test_wrong_result_is_flagged(tshark, cap, capture):
    cap.udp(C4, S4, b"2+2")
    cap.udp(S4, C4, b"5")
    cap.udp(C4, S4, b"0.1+0.2")
    cap.udp(S4, C4, b"0.30000000000000004")
    path = capture(cap)
    names = ["calc.expected", "calc.verified", "calc.response_to",
             "calc.mismatch", "_ws.expert.message"]
    t = tshark.table(path, names)
    assert [[r[n] for n in names[:2]] for r in t] == [
        ["4", ""], ["4", "0"],
        ["0.30000000000000004", ""], ["0.30000000000000004", "1"]]
    assert where(t, "calc.mismatch") == [2]
    assert t[1]["_ws.expert.message"] == \
        "Response differs from the core's answer: 4"
    assert tshark.frames(path, "calc.verified == 0") == [2]
    # Verification off: no expected value, no verdict, same pairs.
    t = tshark.table(path, names, "-o", "calc.verify:FALSE")
    assert [[r[n] for n in names[:4]] for r in t] == [
        ["", "", "", ""], ["", "", "1", ""], ["", "", "", ""],
        ["", "", "3", ""]]


def test_server_refusals_are_not_mismatches(tshark, cap, capture):
    cap.udp(C4, S4, b"1+1")
    cap.udp(S4, C4, b"ERR busy: too many connections")
    cap.udp(C4, S4, b"2*2")
    cap.udp(S4, C4, b"ERR unsupported: this server (addsub) serves only + -")
    cap.udp(C4, S4, b"5")
    cap.udp(S4, C4, b"ERR unsupported: x")     # no operator to refuse
    cap.udp(C4, S4, b"2**100000")              # too large for the core
    cap.udp(S4, C4, b"ERR unsupported: this server (addsub) serves only + -")
    path = capture(cap)
    names = ["calc.refused", "calc.verified", "calc.mismatch"]
    # Two passes: the first, without a tree, pairs and verifies.
    t = tshark.table(path, names)
    assert [(r["calc.refused"], r["calc.verified"]) for r in t[1::2]] == \
        [("1", ""), ("1", ""), ("", "0"), ("1", "")]
    assert where(t, "calc.mismatch") == [6]
    assert tshark.table(path, names, two_pass=False) == t
