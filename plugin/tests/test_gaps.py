# SPDX-License-Identifier: MIT
"""TCP bytes the capture does not show (issue #10, the red team's F5, F6,
F10 and their neighbours): a segment lost inside a line, a frame cut by
the snapshot length, an overlapping retransmission carrying new bytes, a
reply line cut at a segment's end without reassembly.  Each shape one pass
and two passes, with TCP's default preferences and without reassembly
where it matters, exact calc fields and expert infos: what cannot be known
is said (Notes, "Rest of a line"), never blamed on the server, and only
the line concerned is lost."""

import pytest

from conftest import C4, S4, where

PASSES = pytest.mark.parametrize("two", [False, True], ids=["1pass", "2pass"])
NO_REASSEMBLY = ("-o", "tcp.desegment_tcp_streams:FALSE")
REASSEMBLY = pytest.mark.parametrize(
    "prefs", [(), NO_REASSEMBLY], ids=["default", "noreassembly"])
# Expert infos that blame the server or the bytes.
BLAME = ["calc.mismatch", "calc.no_request", "calc.malformed_request",
         "calc.malformed_response", "calc.amplification",
         "calc.error_reply.unknown", "calc.tagless", "calc.tag_reused"]
NAMES = ["calc.framing", "calc.expression", "calc.result", "calc.tag",
         "calc.response_to", "calc.verified", "calc.unseen_request",
         "calc.uncertain", "calc.unterminated", "calc.cut",
         "calc.retransmission"]


def rows(tshark, path, *prefs, two):
    """calc's fields of the frames with calc data (handshake left out);
    no blaming expert info anywhere."""
    tb = tshark.table(path, NAMES + BLAME, *prefs, two_pass=two)
    for n in BLAME:
        assert where(tb, n) == [], n
    return [[r[n] for n in NAMES] for r in tb[3:]]


def held(two):
    """A segment TCP holds for reassembly: no calc field."""
    return [""] * len(NAMES)


# ---- F5: a segment lost inside a line -------------------------------------

@PASSES
@REASSEMBLY
def test_gap_inside_a_line_loses_that_line(tshark, cap, capture, two, prefs):
    # "12*34+1" with its "*" lost: "34+1" is the rest of a line, not a
    # request (Expected 35), and the lines after it pair again.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"7*7\n12")
    t.lose(b"*")
    t.send(b"34+1\n5*5\n")
    t.send(b"49\n409\n25\n", from_client=False)
    t.send(b"6*7\n")
    t.send(b"42\n", from_client=False)
    got = rows(tshark, capture(cap), *prefs, two=two)
    # With reassembly, TCP holds "12" for a line that never completes.
    start = (["2", "7*7", "", "", "", "", "", "", "", "", ""]
             if not prefs else
             ["2|4", "7*7|12", "", "", "", "", "", "", "1", "", ""])
    assert got == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        start,
        ["5|2", "5*5", "", "", "", "", "", "", "", "", ""],
        # 49 answers 7*7; 409 the line the gap cut: without reassembly
        # its start "12" (paired, no verdict on a piece), with it a request
        # the capture does not show; 25 answers 5*5.
        ["2|2|2", "", "49|409|25", "", "6|6|7" if prefs else "6|7", "1|1",
         "" if prefs else "1", "", "", "", ""],
        ["2", "6*7", "", "", "", "", "", "", "", "", ""],
        ["2", "", "42", "", "9", "1", "", "", "", "", ""],
    ]


@PASSES
def test_gap_inside_a_line_alone(tshark, cap, capture, two):
    # The rest of the line in a segment of its own; its answer is the
    # answer to a request the capture does not show.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"12")
    t.lose(b"*")
    t.send(b"34+1\n")
    t.send(b"409\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    assert rows(tshark, capture(cap), two=two) == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        held(two),
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2", "", "409", "", "", "", "1", "", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "9", "1", "", "", "", "", ""],
    ]


# ---- F5: a frame cut by the snapshot length --------------------------------

@PASSES
@REASSEMBLY
def test_cut_frame_then_rest_of_its_line(tshark, cap, capture, two, prefs):
    # "12*34+1" in two segments, the first captured cut: the second's
    # "34+1" may be the rest of the cut line (nothing came from the server
    # in between): the rest of a line, not a request.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"7*7\n12*", snaplen=54 + 6)
    t.send(b"34+1\n")
    t.send(b"49\n409\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    assert rows(tshark, capture(cap), *prefs, two=two) == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["2|4", "7*7|12", "", "", "", "", "", "", "", "1", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        # 409 answers the cut line: paired in order, uncertain, no verdict.
        ["2|2", "", "49|409", "", "6|6", "1", "", "1", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "9", "1", "", "", "", "", ""],
    ]


@PASSES
def test_cut_frame_answered_then_complete_line(tshark, cap, capture, two):
    # The server answers the cut line before the next request: that line
    # ended in the cut frame, and the next segment starts a line.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"12*34+1\n", snaplen=54 + 4)
    t.send(b"409\n", from_client=False)
    t.send(b"2*3\n")
    t.send(b"6\n", from_client=False)
    assert rows(tshark, capture(cap), two=two) == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["4", "12*3", "", "", "", "", "", "", "", "1", ""],
        ["2", "", "409", "", "6", "", "", "1", "", "", ""],
        ["2", "2*3", "", "", "", "", "", "", "", "", ""],
        ["2", "", "6", "", "8", "1", "", "", "", "", ""],
    ]


@PASSES
def test_cut_frame_then_pipelined_line(tshark, cap, capture, two):
    # The next request comes right after the cut frame: the capture cannot
    # tell a complete line from the rest of the cut one.  Said so; its
    # answer answers what the capture does not show; the next line pairs.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"12*34+1\n", snaplen=54 + 4)
    t.send(b"2*3\n")
    t.send(b"409\n6\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    assert rows(tshark, capture(cap), two=two) == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["4", "12*3", "", "", "", "", "", "", "", "1", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2|2", "", "409|6", "", "6", "", "1", "1", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "9", "1", "", "", "", "", ""],
    ]


# ---- F6: an overlapping retransmission carrying new bytes -----------------

def overlapping(cap):
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"2+2\n")
    # Starts at 2+2 again and carries two lines more.
    t.resend(b"2+2\n3+3\n4+4\n", back=4)
    t.seq[0] += 8
    t.send(b"4\n6\n8\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)


def kept_rows(two):
    """overlapping()'s rows when TCP keeps the retransmission from calc."""
    return [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["2", "2+2", "", "", "", "", "", "", "", "", ""],
        held(two),
        ["2|2|2", "", "4|6|8", "", "6", "1", "1|1", "", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "9", "1", "", "", "", "", ""],
    ]


@PASSES
@REASSEMBLY
def test_overlapping_retransmission_kept_from_calc(tshark, cap, capture,
                                                   two, prefs):
    # TCP keeps the segment from subdissectors (tcp.no_subdissector_on_error,
    # the default): the server's ACK tells calc of the bytes it was not
    # given; their answers are Notes, not "Response without a request".
    overlapping(cap)
    assert rows(tshark, capture(cap), *prefs, two=two) == kept_rows(two)


@PASSES
@pytest.mark.parametrize("prefs", [
    ("-o", "tcp.reassemble_out_of_order:TRUE"),
    ("-o", "tcp.no_subdissector_on_error:FALSE"),
    ("-o", "tcp.no_subdissector_on_error:FALSE") + NO_REASSEMBLY,
], ids=["out_of_order", "passed_on", "passed_on_noreassembly"])
def test_overlapping_retransmission_passed_on(tshark, cap, capture, two,
                                              prefs):
    # TCP gives calc the new bytes (out-of-order reassembly), or the whole
    # segment, whose bytes seen before are not decoded again.
    overlapping(cap)
    path = capture(cap)
    got = rows(tshark, path, *prefs, two=two)
    resent = "" if "tcp.reassemble_out_of_order:TRUE" in prefs else "1"
    ws = tuple(int(x) for x in tshark.version.split(".")[:2])
    if prefs == ("-o", "tcp.no_subdissector_on_error:FALSE") and \
            ws >= (4, 6):
        # TCP from 4.6 on, reassembling, keeps a retransmission from
        # subdissectors even with tcp.no_subdissector_on_error off: calc
        # sees what it sees with the default (the test above), and says
        # so the same way.
        assert [tshark.table(path, ["frame.protocols"], *prefs,
                             two_pass=two)[6]["frame.protocols"]] == [
            "eth:ethertype:ip:tcp"]
        assert got == kept_rows(two)
        return
    assert got == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["2", "2+2", "", "", "", "", "", "", "", "", ""],
        ["2|2", "3+3|4+4", "", "", "", "", "", "", "", "", resent],
        ["2|2|2", "", "4|6|8", "", "6|7|7", "1|1|1", "", "", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "9", "1", "", "", "", "", ""],
    ]


# ---- F10: a reply line cut at a segment's end, no reassembly --------------

@PASSES
@pytest.mark.parametrize("prefs", [NO_REASSEMBLY,
                                   ("-o", "calc.desegment:FALSE")],
                         ids=["tcp", "calc"])
def test_reply_line_cut_at_segment_end(tshark, cap, capture, two, prefs):
    # The sender split "24690 #5" as "246" + "90 #5": the first piece's
    # tag is in the second, so it is no tagless reply, and a piece is not
    # verified; "6 #" is no malformed reply.
    t = cap.tcp(C4, S4)
    t.send(b"24689+1 #5\n")
    t.send(b"246", from_client=False)
    t.send(b"90 #5\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    t.send(b"1+1\n")
    t.send(b"2*3 #6\n7*7\n")
    t.send(b"2\n6 #", from_client=False)
    t.send(b"6\n49\n", from_client=False)
    assert rows(tshark, capture(cap), *prefs, two=two) == [
        ["2", "24689+1", "", "5", "", "", "", "", "", "", ""],
        ["4", "", "246", "", "4", "", "", "", "1", "", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "7", "1", "", "", "", "", ""],
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2|2", "2*3|7*7", "", "6", "", "", "", "", "", "", ""],
        # "6 #" answers 2*3 #6 or 7*7, sent in one segment, depending on
        # its tag: not paired; 49 pairs by value.
        ["2|4", "", "2|6 #", "", "9", "1", "", "", "1", "", ""],
        ["5|2", "", "49", "", "10", "1", "", "", "", "", ""],
    ]


# ---- neighbours: a gap inside a reply of several segments -----------------

@PASSES
@REASSEMBLY
def test_gap_inside_a_long_reply(tshark, cap, capture, two, prefs):
    t = cap.tcp(C4, S4)
    t.send(b"2**5000\n5*5\n")
    big = str(2 ** 5000).encode() + b"\n"
    t.send(big[:1000], from_client=False)
    t.lose(big[1000:1200], from_client=False)
    t.send(big[1200:] + b"25\n", from_client=False)
    t.send(b"6*7\n")
    t.send(b"42\n", from_client=False)
    got = rows(tshark, capture(cap), *prefs, two=two)
    # Without reassembly the reply's start is a line cut at the segment's
    # end (paired, not verified); with it, TCP holds it.
    assert got[1] == (held(two) if not prefs else
                      ["4", "", big[:1000].decode(), "", "4", "", "", "",
                       "1", "", ""])
    assert got[0][:2] == ["2|2", "2**5000|5*5"]
    assert got[2:] == [
        ["5|2", "", "25", "", "4", "1", "", "", "", "", ""],
        ["2", "6*7", "", "", "", "", "", "", "", "", ""],
        ["2", "", "42", "", "7", "1", "", "", "", "", ""],
    ]


# ---- neighbours: a request line cut at a segment's end, no reassembly -----

@PASSES
def test_request_line_cut_at_segment_end(tshark, cap, capture, two):
    # The start of a line is no request of its own: its tag may be in the
    # rest ("2+2 #5" + "6"), or all of it (" #7"), and "7*" is no syntax
    # error (the server reads "7*5").  The tagged replies answer them.
    t = cap.tcp(C4, S4)
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    t.send(b"2+2 #5")
    t.send(b"6\n")
    t.send(b"4 #56\n", from_client=False)
    t.send(b"3+3")
    t.send(b" #7\n")
    t.send(b"6 #7\n", from_client=False)
    t.send(b"7*")
    t.send(b"5\n")
    t.send(b"35\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    path = capture(cap)
    assert rows(tshark, path, *NO_REASSEMBLY, two=two) == [
        ["2", "1+1", "", "", "", "", "", "", "", "", ""],
        ["2", "", "2", "", "4", "1", "", "", "", "", ""],
        ["4", "2+2 #5", "", "", "", "", "", "", "1", "", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2", "", "4", "56", "6", "", "", "", "", "", ""],
        ["4", "3+3", "", "", "", "", "", "", "1", "", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2", "", "6", "7", "9", "", "", "", "", "", ""],
        ["4", "7*", "", "", "", "", "", "", "1", "", ""],
        ["5", "", "", "", "", "", "", "", "", "", ""],
        ["2", "", "35", "", "12", "", "", "", "", "", ""],
        ["2", "5*5", "", "", "", "", "", "", "", "", ""],
        ["2", "", "25", "", "15", "1", "", "", "", "", ""],
    ]
    info = tshark.fields(path, ["_ws.col.Info", "calc.bad_request"],
                         *NO_REASSEMBLY, two_pass=two)
    assert [r[0] for r in info[6:8]] == ["Rest of a line",
                                         "Response 4 #56 (2+2 #5\u2026)"]
    assert [r for r in info if r[1]] == []
    # Stats: the pieces are no requests the server refuses.
    out = tshark.run("-r", path, "-q", "-z", "calc,tree", *NO_REASSEMBLY)
    assert "malformed" not in out, out


# ---- a complete tag wins over a retirement by length ----------------------

@PASSES
@REASSEMBLY
@pytest.mark.parametrize("second", [b"2+2", b"20+20"],
                         ids=["same_length", "longer"])
def test_tag_wins_over_retirement_by_length(tshark, cap, capture, two,
                                            prefs, second):
    # Tagged requests answered out of order, the reply lost first being
    # #2's: the lost bytes are first taken for the oldest's (#1), whose
    # own reply then comes, complete with its tag.  #1 pairs with it, and
    # #2's reply is the one not captured (its expected length, with what
    # was left of the gap); nothing says "no response" or blames.
    t = cap.tcp(C4, S4)
    t.send(b"1+1 #1\n" + second + b" #2\n3+3 #3\n")
    t.lose(b"%d #2\n" % eval(second), from_client=False)
    t.send(b"2 #1\n", from_client=False)
    t.send(b"6 #3\n", from_client=False)
    t.send(b"5*5\n")
    t.send(b"25\n", from_client=False)
    names = ["calc.tag", "calc.response_in", "calc.response_to",
             "calc.verified", "calc.response_not_captured",
             "calc.no_response", "calc.unseen_request"]
    tb = tshark.table(capture(cap), names + BLAME, *prefs, two_pass=two)
    for n in BLAME:
        assert where(tb, n) == [], n
    assert [[r[n] for n in names] for r in tb[3:]] == [
        ["1|2|3", "5|6" if two else "", "", "", "1" if two else "", "", ""],
        ["1", "", "4", "1", "", "", ""],
        ["3", "", "4", "1", "", "", ""],
        ["", "8" if two else "", "", "", "", "", ""],
        ["", "", "7", "1", "", "", ""],
    ]
