# SPDX-License-Identifier: MIT
"""captures/proxy-haproxy.pcapng, recorded behind HAProxy (captures/record):
calc shows each PROXY header as calcd reads it (plugin/calc-proxyhdr.c,
lib's parse; not Wireshark's proxy dissector, which from 4.4 on takes the
stream over), and the requests and replies after it, with no calc message
made of header bytes.  (Its whole calc dissection is captures/expected/proxy-haproxy.txt,
checked by tests/captures.)"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "captures"))
import capture_set  # noqa: E402

PCAP = str(REPO / "captures" / "proxy-haproxy.pcapng")
FIELDS = ["frame.number", "tcp.srcport", "calc.proxy.version",
          "calc.proxy.local", "calc.proxy.src.ipv4", "calc.proxy.srcport",
          "calc.proxy.dst.ipv4", "calc.proxy.dstport", "calc.proxy.length",
          "calc.type", "calc.expression", "calc.result"]


@pytest.fixture(scope="module")
def rows():
    plugin = os.environ.get("CALC_PLUGIN", "")
    if not os.path.isfile(plugin):
        pytest.skip("CALC_PLUGIN is not built (no dissector plugin)")
    ts = capture_set.tshark(Path(plugin).resolve())
    out = ts.run("-r", PCAP, "-2", "-T", "fields", "-E", "aggregator=|",
                 "-E", "occurrence=a", *sum((["-e", f] for f in FIELDS), []))
    return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]


def is_true(v):
    return v in ("1", "True")   # tshark 4.0 prints 1, 4.4+ True


def test_headers_shown_by_calc(rows):
    hdr = [r for r in rows if r["calc.proxy.version"]]
    assert [(r["calc.proxy.version"], is_true(r["calc.proxy.local"]))
            for r in hdr] == [
        ("2", True),    # HAProxy's health check: LOCAL
        ("2", False),   # the calc session: PROXY, naming the client
        ("1", False),   # the raw v1 client
    ]
    local, session, v1 = hdr
    assert local["calc.proxy.src.ipv4"] == ""  # LOCAL: no client address
    assert local["calc.proxy.length"] == "16"
    assert session["calc.proxy.src.ipv4"] == "127.0.0.1"
    assert session["calc.proxy.dst.ipv4"] == "127.0.0.1"
    assert session["calc.proxy.length"] == "28"   # 16 + the IPv4 block
    assert v1["calc.proxy.src.ipv4"] == "192.0.2.10"
    assert v1["calc.proxy.srcport"] == "40000"
    assert v1["calc.proxy.dst.ipv4"] == "127.0.0.2"
    assert v1["calc.proxy.dstport"] == "4000"
    assert v1["calc.proxy.length"] == str(len(
        "PROXY TCP4 192.0.2.10 127.0.0.2 40000 4000\r\n"))
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
