# SPDX-License-Identifier: MIT
"""Bounded kernel memory (docs/PROTOCOL.md, "Limits"): a connection's
send buffer is capped (CALCD_SNDBUF), and a connection calcd closes by a
timer while its replies stay unread is reset, not left as an orphan with
megabytes queued.  Read with `ss -tmn` (iproute2)."""
import re
import shutil
import socket
import subprocess
import time

import pytest

CALCD_SNDBUF = 64 * 1024  # the kernel doubles what is set

pytestmark = pytest.mark.skipif(shutil.which("ss") is None,
                                reason="ss (iproute2) is absent")


def server_side(port, client_port):
    """(Send-Q, skmem text) of calcd's socket to client_port, or None."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "all",
         f"( sport = :{port} and dport = :{client_port} )"],
        capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    if not lines:
        return None
    fields = lines[0].split()
    # State Recv-Q Send-Q Local Peer, then skmem:(...) on the next line
    return int(fields[2]), " ".join(lines[1:]), fields[0]


def hog(port):
    """A client that sends requests with big replies and never reads.  The
    requests (3.6 kB) fit one read, so calcd holds them all and nothing
    stays unread in its receive queue: only its replies are stuck."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"2**13000\n" * 400)  # ~1.6 MB of replies
    return s


def test_send_queue_stays_under_the_cap(calcd):
    s = hog(calcd.port)
    try:
        cport = s.getsockname()[1]
        peak = 0
        for _ in range(10):
            time.sleep(0.1)
            got = server_side(calcd.port, cport)
            assert got is not None
            peak = max(peak, got[0])
        skmem = got[1]
        tb = int(re.search(r"tb(\d+)", skmem).group(1))
        assert tb <= 2 * CALCD_SNDBUF, skmem  # less if wmem_max is lower
        assert 0 < peak <= tb, (peak, skmem)
    finally:
        s.close()


def test_idle_close_with_unread_replies_resets(calcd_factory):
    srv = calcd_factory("--idle-timeout", "0.5")
    s = hog(srv.port)
    cport = s.getsockname()[1]
    time.sleep(0.2)
    assert server_side(srv.port, cport)[0] > 0  # replies queued, unread
    deadline = time.monotonic() + 3
    while server_side(srv.port, cport) is not None:  # no orphan left
        assert time.monotonic() < deadline, server_side(srv.port, cport)
        time.sleep(0.05)
    with pytest.raises(ConnectionResetError):
        s.setblocking(True)
        s.settimeout(2)
        while s.recv(1 << 20):
            pass
    s.close()
    assert srv.stop() == 0
    assert "resets 1" in "".join(srv.log)
