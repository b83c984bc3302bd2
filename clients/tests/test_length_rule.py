# SPDX-License-Identifier: MIT
"""The length rule, owned once by lib (calc_answer and calc_frame) and
driven by every program: a request over 4096 bytes counts its whole bytes,
tag included, and is answered `ERR too-long: ...` without a tag.  For
requests of 4095, 4096 and 4097 bytes, with and without a tag, calc-eval
and calcd over UDP, TCP lines and TCP legacy give the same bytes, and so
does the dissector's calc.expected for each request on the wire (when the
plugin is built: the exchanges are written to a capture and read with
plugin/calc-tshark.sh)."""
import os
import re
import socket
import subprocess
import sys
import tempfile

import pytest

from conftest import need

CALC_EVAL = os.path.join(os.environ.get("CALC_BUILD_DIR", ""), "clients",
                         "calc-eval")
TOO_LONG = b"ERR too-long: request longer than 4096 bytes"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PLUGIN = os.path.join(os.environ.get("CALC_BUILD_DIR", ""), "plugin",
                      "calc.so")


def request(n, tag):
    """1+1+...+1, padded with blanks, then the tag: n bytes in all."""
    body = n - len(tag)
    ones = (body + 1) // 2
    r = b"+".join([b"1"] * ones)
    r = r[:body] if len(r) > body else r + b" " * (body - len(r))
    if r.endswith(b"+"):
        r = r[:-1] + b" "
    assert len(r) + len(tag) == n
    return r + tag, r.count(b"1")


def tcp(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


@pytest.mark.parametrize("n", [4095, 4096, 4097])
@pytest.mark.parametrize("tag", [b"", b" #5", b" #123456789"],
                         ids=["untagged", "tag5", "tag9"])
def test_same_bytes_everywhere(calcd_all, n, tag):
    req, ones = request(n, tag)
    want = TOO_LONG if n > 4096 else b"%d%s" % (ones, tag[:2] + tag[2:].lstrip(b"0"))
    ev = subprocess.run([need(CALC_EVAL, "CALC_BUILD_DIR")], input=req + b"\n",
                        capture_output=True, timeout=10).stdout
    assert ev == want + b"\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        u.sendto(req, ("127.0.0.1", calcd_all.port))
        assert u.recv(65536) == want
    assert tcp(calcd_all.port, req + b"\n") == want + b"\n"
    assert tcp(calcd_all.port, req) == want  # legacy: no newline


def dissected_expected(exchanges):
    """calc.expected of each request frame, in order, when the dissector
    reads the exchanges [(transport, request bytes, reply bytes)]."""
    sys.path.insert(0, os.path.join(REPO, "plugin", "tests"))
    from calcpcap import Capture
    cap = Capture()
    server = ("10.0.0.2", 4000)
    for i, (how, req, rep) in enumerate(exchanges):
        client = ("10.0.0.1", 40000 + i)
        if how == "udp":
            cap.udp(client, server, req)
            cap.udp(server, client, rep)
        else:
            t = cap.tcp(client, server)
            t.send(req)
            t.send(rep, from_client=False, wait=0.05)
            t.close()
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        path = os.path.join(d, "length-rule.pcap")
        cap.write(path)
        os.chmod(path, 0o644)
        out = subprocess.run(
            [os.path.join(REPO, "plugin", "calc-tshark.sh"), PLUGIN, "-2",
             "-r", path, "-Y", "calc.type == 1", "-T", "fields",
             "-e", "calc.expected"],
            capture_output=True, timeout=120, check=True).stdout
    return out.decode().splitlines()


def test_dissector_expects_the_same_bytes(calcd_all):
    """The dissector recomputes each request's answer with lib's rule: for
    4095, 4096 and 4097 bytes, tagged or not, over UDP, TCP lines and TCP
    legacy, calc.expected is calcd's reply byte for byte, less the " #tag"
    that the dissector pairs by (calc.tag) rather than recomputes: an
    over-long request's expected reply has no tag, as calcd's has none."""
    if not os.path.isfile(PLUGIN):
        pytest.skip("the dissector plugin is not built")
    exchanges, wants = [], []
    for n in (4095, 4096, 4097):
        for tag in (b"", b" #5", b" #123456789"):
            req, _ = request(n, tag)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                u.sendto(req, ("127.0.0.1", calcd_all.port))
                udp = u.recv(65536)
            line = tcp(calcd_all.port, req + b"\n")
            legacy = tcp(calcd_all.port, req)
            exchanges += [("udp", req, udp), ("tcp", req + b"\n", line),
                          ("tcp", req, legacy)]
            wants += [udp, line.rstrip(b"\n"), legacy]
    untagged = [re.sub(rb" #[0-9]+$", b"", w) for w in wants]
    assert [w for w in wants if w.startswith(b"ERR")] == [TOO_LONG] * 9
    assert dissected_expected(exchanges) == [w.decode() for w in untagged]
