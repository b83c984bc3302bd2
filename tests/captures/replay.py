# SPDX-License-Identifier: MIT
"""Replay a capture's client side against live calcd servers.

What the clients sent is extracted with tshark (tcp.payload / udp.payload,
the bytes of each segment or datagram, with their times): connects,
segments, half-closes and datagrams are replayed with the recorded timing,
so that what depends on it (legacy framing, split segments, the connection
and idle limits) happens again.  The extraction does not use the dissector
under test: the replay checks the servers' bytes, the expected dissections
check the dissector.  What the servers send back is collected per TCP
connection (the byte stream, and whether the server closed it) and per UDP
client socket (the datagrams in order), to be compared with the recorded
ones.
"""
import selectors
import socket
import struct
import subprocess
import time
from collections import OrderedDict

import capture_set

FIELDS = ["frame.number", "frame.time_relative", "ip.src", "ipv6.src",
          "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
          "udp.dstport", "tcp.stream", "udp.stream", "tcp.flags.syn",
          "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.payload",
          "udp.payload", "tcp.analysis.retransmission"]

TAIL = 1.5   # seconds to wait for the last replies after the last event
RESET_WAIT = 2.0  # at most, for a connection's replies before its reset


class Flow:
    """One TCP connection or one UDP client socket of the capture."""

    def __init__(self, proto, client, server):
        self.proto, self.client, self.server = proto, client, server
        self.sent = []          # (time, bytes) from the client
        self.recorded = b"" if proto == "tcp" else []   # from the server
        self.server_fin = False  # the server closed (TCP)
        self.client_fin = None   # time of the client's FIN (TCP)
        self.client_rst = None
        self.start = None        # time of the SYN or first datagram


_extracted = {}


def extract(pcap):
    """The capture's flows, in order of their start, from plain tshark
    (one run per capture and process)."""
    if str(pcap) not in _extracted:
        _extracted[str(pcap)] = _extract(pcap)
    return _extracted[str(pcap)]


def _set(flag):
    """A TCP flag field: 1/0 (Wireshark 4.0), True/False (4.4 and later)."""
    return flag in ("1", "True")


def _extract(pcap):
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-T", "fields",
         "-E", "occurrence=f"] + sum((["-e", f] for f in FIELDS), []),
        capture_output=True, text=True, check=True).stdout
    flows = OrderedDict()
    for line in out.splitlines():
        r = dict(zip(FIELDS, line.split("\t")))
        t = float(r["frame.time_relative"])
        src = r["ip.src"] or r["ipv6.src"]
        dst = r["ip.dst"] or r["ipv6.dst"]
        if r["tcp.stream"]:
            assert not r["tcp.analysis.retransmission"], \
                "frame %s: a TCP retransmission: record again" % r[
                    "frame.number"]
            sp, dp = int(r["tcp.srcport"]), int(r["tcp.dstport"])
            key = ("tcp", int(r["tcp.stream"]))
            syn, ack = _set(r["tcp.flags.syn"]), _set(r["tcp.flags.ack"])
            if key not in flows:
                assert syn and not ack, "frame %s: TCP stream without its " \
                    "SYN: record again" % r["frame.number"]
                flows[key] = Flow("tcp", (src, sp), (dst, dp))
                flows[key].start = t
            f = flows[key]
            from_client = (src, sp) == f.client
            data = bytes.fromhex(r["tcp.payload"])
            if from_client:
                if data:
                    f.sent.append((t, data))
                if _set(r["tcp.flags.fin"]) and f.client_fin is None:
                    f.client_fin = t
                if _set(r["tcp.flags.reset"]) and f.client_rst is None:
                    f.client_rst = t
            else:
                f.recorded += data
                if _set(r["tcp.flags.fin"]):
                    f.server_fin = True
        elif r["udp.stream"]:
            sp, dp = int(r["udp.srcport"]), int(r["udp.dstport"])
            data = bytes.fromhex(r["udp.payload"])
            to_server = dp in SERVER_PORTS   # clients use ephemeral ports
            client, server = ((src, sp), (dst, dp)) if to_server else \
                ((dst, dp), (src, sp))
            key = ("udp", client, server)
            if key not in flows:
                flows[key] = Flow("udp", client, server)
                flows[key].start = t
            if to_server:
                flows[key].sent.append((t, data))
            else:
                flows[key].recorded.append(data)
    return list(flows.values())


SERVER_PORTS = set(capture_set.ROLE_PORTS)   # every recording's servers


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Live:
    def __init__(self, flow, addr):
        self.flow = flow
        self.addr = addr
        self.sock = None
        self.got = b"" if flow.proto == "tcp" else []
        self.eof = False
        self.error = None


def replay(flows, server_for):
    """Replay the flows; server_for((ip, port)) gives the live (ip, port),
    or None to leave a flow out.  Returns [(flow, received, eof, error)]."""
    live = []
    events = []
    for f in flows:
        addr = server_for(f.server)
        if addr is None:
            continue
        lv = _Live(f, addr)
        live.append(lv)
        if f.proto == "tcp":
            events.append((f.start, 0, lv, "connect", None))
            for t, data in f.sent:
                events.append((t, 1, lv, "send", data))
            if f.client_fin is not None:
                events.append((f.client_fin, 2, lv, "shut", None))
            if f.client_rst is not None:
                events.append((f.client_rst, 3, lv, "reset", None))
        else:
            events.append((f.start, 0, lv, "socket", None))
            for t, data in f.sent:
                events.append((t, 1, lv, "sendto", data))
    events.sort(key=lambda e: (e[0], e[1]))
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()

    def pump(until):
        while True:
            left = until - time.monotonic()
            for key, _ in sel.select(timeout=max(0.0, left)):
                _read(sel, key.data)
            if time.monotonic() >= until:
                return

    for t, _, lv, what, data in events:
        pump(t0 + t)
        if what == "reset" and lv.flow.proto == "tcp":
            # The recording's client reset after the server's last bytes
            # (nothing comes after a reset): wait for them here too, as
            # the live server may be slower than the recorded one.
            until = time.monotonic() + RESET_WAIT
            while len(lv.got) < len(lv.flow.recorded) and lv.sock and \
                    time.monotonic() < until:
                pump(min(until, time.monotonic() + 0.01))
        try:
            _act(sel, lv, what, data)
        except OSError as e:
            lv.error = "%s: %s" % (what, e)
    last = events[-1][0] if events else 0
    deadline = t0 + last + TAIL
    while time.monotonic() < deadline and not _done(live):
        pump(min(deadline, time.monotonic() + 0.05))
    for lv in live:
        if lv.sock:
            try:
                sel.unregister(lv.sock)
            except (KeyError, ValueError):
                pass
            lv.sock.close()
    sel.close()
    return [(lv.flow, lv.got, lv.eof, lv.error) for lv in live]


def _act(sel, lv, what, data):
    host, port = lv.addr
    if what == "connect":
        s = socket.socket(_family(host), socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(2)
        s.connect((host, port))
        s.setblocking(False)
        lv.sock = s
        sel.register(s, selectors.EVENT_READ, lv)
    elif what == "send":
        if lv.sock:
            lv.sock.setblocking(True)
            lv.sock.settimeout(2)
            lv.sock.sendall(data)
            lv.sock.setblocking(False)
    elif what == "shut":
        if lv.sock:
            lv.sock.shutdown(socket.SHUT_WR)
    elif what == "reset":
        if lv.sock:
            lv.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               struct.pack("ii", 1, 0))
            sel.unregister(lv.sock)
            lv.sock.close()
            lv.sock = None
    elif what == "socket":
        s = socket.socket(_family(host), socket.SOCK_DGRAM)
        s.connect((host, port))
        s.setblocking(False)
        lv.sock = s
        sel.register(s, selectors.EVENT_READ, lv)
    elif what == "sendto":
        lv.sock.send(data)


def _read(sel, lv):
    try:
        data = lv.sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError as e:       # a reset, or ICMP port unreachable
        lv.error = "recv: %s" % e
        sel.unregister(lv.sock)
        return
    if lv.flow.proto == "udp":
        lv.got.append(data)
    elif data:
        lv.got += data
    else:
        lv.eof = True
        sel.unregister(lv.sock)


def _done(live):
    for lv in live:
        f = lv.flow
        if f.proto == "tcp":
            if len(lv.got) < len(f.recorded) or (f.server_fin and not lv.eof
                                                 and lv.sock):
                return False
        elif len(lv.got) < len(f.recorded):
            return False
    return True
