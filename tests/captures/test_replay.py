# SPDX-License-Identifier: MIT
"""Replay each capture's requests against live calcd servers and compare
the replies with the recorded ones (replay.py says how).

Each server the capture talked to (port 4000, 4001, 4002) is replaced by a
calcd of that port's role, with the recording's options, on a free port.
Per TCP connection the server's whole byte stream must be equal, and the
server must close the connections it closed; per UDP client socket the
datagrams must be equal, in order.  Where a capture recorded another
server on purpose (the original Python server), the capture's entry in
captures/capture_set.py says what calcd sends differently and why, and
calcd's bytes are compared once turned into the original's that way.
"""
import capture_set
import replay
from calcd_proc import Calcd


def _servers(cap, calcd_bin, flows):
    """Start a calcd for each role the capture's servers had."""
    roles = {}
    for f in flows:
        port = f.server[1]
        role = capture_set.ROLE_PORTS[port]
        if role not in roles:
            roles[role] = Calcd(calcd_bin, "--role", role, *cap.calcd)
    return roles


def test_replay(cap, calcd_bin):
    flows = replay.extract(cap.path)
    assert flows
    servers = _servers(cap, calcd_bin, flows)
    skipped = []

    def server_for(addr):
        if addr in cap.skip:
            skipped.append(addr)
            return None
        return (addr[0], servers[capture_set.ROLE_PORTS[addr[1]]].port)

    try:
        results = replay.replay(flows, server_for)
    finally:
        for s in servers.values():
            assert s.stop() == 0, "".join(s.log)
    assert set(skipped) == set(cap.skip)
    assert results
    differing = 0
    for flow, got, eof, error in results:
        want = flow.recorded
        if cap.differs:
            why, turn = cap.differs
            differing += got != want
            got = turn(got) if flow.proto == "tcp" else [turn(g) for g in got]
        where = "%s %s:%d -> %s:%d" % ((flow.proto,) + flow.client +
                                       flow.server)
        assert error is None, "%s: %s" % (where, error)
        assert got == want, where
        if flow.proto == "tcp":
            # the server closed what it closed in the recording
            assert eof == flow.server_fin, where
    if cap.differs:        # the stated difference is real
        assert differing, cap.differs[0]


def test_replay_requests_reach_every_kind():
    """The replayed captures hold what the README says: every error kind
    but internal, in errors or limits."""
    kinds = set()
    for name in ("errors", "limits"):
        for f in replay.extract(capture_set.BY_NAME[name].path):
            data = f.recorded if f.proto == "tcp" else b"\n".join(f.recorded)
            kinds |= {m.split(b":")[0].split(b" ")[0].decode()
                      for m in data.split(b"ERR ")[1:]}
    want = {"syntax", "unsupported", "zero-division", "overflow", "domain",
            "too-large", "too-long", "too-deep", "busy"}
    assert kinds == want
