# SPDX-License-Identifier: MIT
"""The length rule, owned once by lib (calc_answer and calc_frame) and
driven by every program: a request over 4096 bytes counts its whole bytes,
tag included, and is answered `ERR too-long: ...` without a tag.  For
requests of 4095, 4096 and 4097 bytes, with and without a tag, calc-eval
and calcd over UDP, TCP lines and TCP legacy give the same bytes.  (The
dissector's calc.expected is checked against the same rule in plugin/.)"""
import os
import socket
import subprocess

import pytest

from conftest import need

CALC_EVAL = os.path.join(os.environ.get("CALC_BUILD_DIR", ""), "clients",
                         "calc-eval")
TOO_LONG = b"ERR too-long: request longer than 4096 bytes"


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
