# SPDX-License-Identifier: MIT
"""Many clients at once: 500 concurrent TCP connections, each checking its
own answers, interleaved with UDP traffic (docs/PROTOCOL.md, "Limits")."""
import selectors
import socket
import time

CLIENTS = 500
ROUNDS = 4


def test_500_concurrent_tcp_clients(calcd):
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for i in range(CLIENTS):
            s = socket.create_connection(("127.0.0.1", calcd.port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        got = [b""] * CLIENTS
        for r in range(ROUNDS):
            # Every client sends its request of this round, then all the
            # replies are collected, in whatever order they come.
            for i, s in enumerate(socks):
                s.sendall(b"%d*%d+%d #%d\n" % (i, r + 1, r, i))
                sel.register(s, selectors.EVENT_READ, i)
            want = [b"%d #%d\n" % (i * (r + 1) + r, i) for i in range(CLIENTS)]
            pending = CLIENTS
            deadline = time.monotonic() + 20
            while pending and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    i = key.data
                    got[i] += key.fileobj.recv(4096)
                    if got[i].endswith(b"\n"):
                        assert got[i] == want[i], (i, r)
                        got[i] = b""
                        sel.unregister(key.fileobj)
                        pending -= 1
            assert pending == 0
            # UDP meanwhile is answered too.
            assert calcd.udp(b"%d+%d" % (r, r)) == b"%d" % (2 * r)
    finally:
        for s in socks:
            s.close()
        sel.close()
