# SPDX-License-Identifier: MIT
"""Loading and registration, heuristics, the Info column and the stats
tree."""

from conftest import C4, S4, Capture

ELLIPSIS = "\u2026"


def other(ep, port):
    return (ep[0], port)


def test_plugin_is_loaded_from_the_stage(tshark):
    lines = [l for l in tshark.run("-G", "plugins").splitlines()
             if l.startswith("calc.so")]
    assert len(lines) == 1, "calc.so not loaded"
    name, version, kind, path = [f.strip() for f in lines[0].split("\t")]
    assert kind == "dissector"
    assert "/calc-tshark." in path       # the staged copy, not an install


def test_fields_are_registered(tshark):
    names = {l.split("\t")[2] for l in tshark.run("-G", "fields")
             .splitlines() if l.startswith("F\t")}
    for f in ("calc.type", "calc.framing", "calc.expression", "calc.result",
              "calc.error.kind", "calc.error.message", "calc.tag",
              "calc.operators", "calc.op_class",
              "calc.response_in", "calc.response_to", "calc.time",
              "calc.expected", "calc.verified", "calc.refused",
              "calc.udp_bound", "calc.retransmission_of",
              "calc.duplicate_of", "calc.mismatch", "calc.no_request",
              "calc.no_response", "calc.amplification", "calc.too_long",
              "calc.malformed_request", "calc.bad_request",
              "calc.error_reply.zero-division", "calc.error_reply.internal",
              "calc.request", "calc.response", "calc.cut", "calc.uncertain",
              "calc.unseen_request", "calc.server_guess",
              "calc.not_verified_budget"):
        assert f in names, f


def test_ports_replace_icq_and_opsi(tshark, cap, capture):
    cap.udp(C4, S4, b"15*15")                    # ICQ's port
    t = cap.tcp(C4, other(S4, 4002))             # OPSI's port
    t.send(b"6*7\n")
    cap.udp(C4, other(S4, 4001), b"1+1")
    rows = tshark.fields(capture(cap), ["frame.protocols", "calc.type"])
    assert rows[0] == ["eth:ethertype:ip:udp:calc", "1"]
    assert rows[4] == ["eth:ethertype:ip:tcp:calc", "1"]
    assert rows[5] == ["eth:ethertype:ip:udp:calc", "1"]


def test_port_preference_and_decode_as(tshark, cap, capture):
    cap.udp(C4, other(S4, 5555), b"2+2")
    cap.udp(other(S4, 5555), C4, b"4")
    path = capture(cap)
    assert tshark.fields(path, ["calc.type"]) == [[""], [""]]
    for opt in (("-o", "calc.udp.port:5555"), ("-d", "udp.port==5555,calc")):
        rows = tshark.fields(path, ["calc.type", "calc.response_to"], *opt)
        assert rows == [["1", ""], ["2", "1"]]


def test_heuristics_are_off_by_default(tshark, cap, capture):
    cs, ss = other(C4, 50000), other(S4, 5555)
    cap.udp(cs, ss, b"6*7")
    cap.udp(ss, cs, b"42")
    cap.udp(other(C4, 50001), ss, b"hello")
    cap.udp(other(C4, 50002), ss, b"42")       # no operator: not claimed
    t = cap.tcp(other(C4, 50003), other(S4, 6666))
    t.send(b"1+1\n")
    t.send(b"2\n", from_client=False)
    path = capture(cap)
    assert tshark.frames(path, "calc") == []
    on = ("--enable-heuristic", "calc_udp", "--enable-heuristic", "calc_tcp")
    rows = tshark.fields(path, ["frame.number", "calc.type",
                                "calc.response_to"], *on, filt="calc")
    assert rows == [["1", "1", ""], ["2", "2", "1"], ["8", "1", ""],
                    ["9", "2", "8"]]


def test_info_column_cuts_long_expressions(tshark, cap, capture):
    expr = b"+".join(b"%d" % i for i in range(1, 40))
    cap.udp(C4, S4, expr)
    cap.udp(S4, C4, b"780")
    info = tshark.fields(capture(cap), ["_ws.col.Info"])
    head = expr[:48].decode()
    assert info == [["Request " + head + ELLIPSIS],
                    ["Response 780 (" + head + ELLIPSIS + ")"]]


def stats_counts(out):
    """{(section, item): count} from `tshark -z calc,tree` text."""
    counts, section, col = {}, None, None
    for line in out.splitlines():
        if line.startswith("Topic / Item"):
            col = line.index("Count")
            continue
        if col is None or not line.strip() or line.startswith("-"):
            continue
        name = line[:col].strip()
        if not line.startswith(" "):
            section = name
        field = line[col:].split()
        if field and field[0].isdigit():
            counts[(section, name)] = int(field[0])
    return counts


def test_stats_tree(tshark, cap, capture):
    for req, rep, wait in ((b"1+1", b"2", 0.0005), (b"2*3", b"6", 0.002),
                           (b"2*3-1", b"5", 0.015), (b"-5", b"-5", 0.2),
                           (b"1/0", b"ERR zero-division: division by zero",
                            1.5)):
        cap.udp(C4, S4, req)
        cap.udp(S4, C4, rep, wait=wait)
    cap.udp(S4, C4, b"7")                      # no request
    cap.udp(C4, S4, b"2+2")
    cap.udp(C4, S4, b"2+2")                    # retransmission
    cap.udp(S4, C4, b"5")                      # wrong
    cap.udp(C4, S4, b"2+")
    cap.udp(S4, C4, b"ERR syntax: unexpected end of expression")
    c = stats_counts(tshark.run("-r", capture(cap), "-q", "-z",
                                "calc,tree"))
    top = "Requests by operator class"
    assert c[(top, top)] == 7
    assert (c[(top, "add/sub")], c[(top, "mul/div")], c[(top, "mixed")],
            c[(top, "none")], c[(top, "malformed")]) == (2, 2, 1, 1, 1)
    ops = "Requests by operator"
    assert (c[(ops, "+")], c[(ops, "-")], c[(ops, "*")], c[(ops, "/")]) == \
        (2, 1, 2, 1)
    assert c[("Retransmitted requests",) * 2] == 1
    kinds = "Responses by kind"
    assert (c[(kinds, kinds)], c[(kinds, "result")],
            c[(kinds, "zero-division")], c[(kinds, "syntax")]) == (8, 6, 1, 1)
    assert c[("Responses without a request",) * 2] == 1
    assert c[("Responses differing from the core",) * 2] == 1
    assert c[("Response time (ms)",) * 2] == 7
    # In microseconds: 0.5 ms; 2, 2 and 1 ms; 15 ms; 200 ms; 1.5 s.
    rr = "Response time ranges (us)"
    assert [c[(rr, k)] for k in (
        "0-49", "50-99", "100-249", "250-499", "500-999", "1000-9999",
        "10000-99999", "100000-999999", "1000000-")] == \
        [0, 0, 0, 0, 1, 3, 1, 1, 1]
