# SPDX-License-Identifier: MIT
"""captures/proxy-haproxy.pcapng, recorded behind HAProxy (captures/record):
Wireshark's own proxy dissector decodes each PROXY header, and calc the
requests and replies after it, with no calc message made of header
bytes.  (Its whole calc dissection is captures/expected/proxy-haproxy.txt,
checked by tests/captures.)"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "captures"))
import capture_set  # noqa: E402

PCAP = str(REPO / "captures" / "proxy-haproxy.pcapng")
FIELDS = ["frame.number", "tcp.srcport", "proxy.v2.cmd", "proxy.v1.proto",
          "proxy.src.ipv4", "proxy.srcport", "calc.type", "calc.expression",
          "calc.result"]


@pytest.fixture(scope="module")
def rows():
    plugin = os.environ.get("CALC_PLUGIN", "")
    if not os.path.isfile(plugin):
        pytest.skip("CALC_PLUGIN is not built (no dissector plugin)")
    ts = capture_set.tshark(Path(plugin).resolve())
    out = ts.run("-r", PCAP, "-2", "-T", "fields", "-E", "aggregator=|",
                 "-E", "occurrence=a", *sum((["-e", f] for f in FIELDS), []))
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def test_headers_by_the_proxy_dissector(rows):
    hdr = [r for r in rows if r["proxy.v2.cmd"] or r["proxy.v1.proto"]]
    assert [(r["proxy.v2.cmd"], r["proxy.v1.proto"]) for r in hdr] == [
        ("0", ""),      # HAProxy's health check: LOCAL
        ("1", ""),      # the calc session: PROXY, naming the client
        ("", "TCP4"),   # the raw v1 client
    ]
    local, session, v1 = hdr
    assert local["proxy.src.ipv4"] == ""  # LOCAL: no client address shown
    assert session["proxy.src.ipv4"] == "127.0.0.1"
    assert v1["proxy.src.ipv4"] == "192.0.2.10"
    assert v1["proxy.srcport"] == "40000"
    # the header-only segments hold no calc message
    assert local["calc.type"] == "" and session["calc.type"] == ""
    # v1 header and request in one segment: both decoded
    assert v1["calc.expression"] == "7*6"


def test_calc_after_the_headers(rows):
    exprs = [e for r in rows for e in r["calc.expression"].split("|") if e]
    assert exprs == ["1+1", "15*15", "30+30", "2**10", "7/2", "(1+2)*3",
                     "7*6"]
    results = [e for r in rows for e in r["calc.result"].split("|") if e]
    assert results == ["2", "225", "60", "1024", "3.5", "9", "42"]
