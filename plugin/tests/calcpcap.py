# SPDX-License-Identifier: MIT
"""calcpcap: a tiny pcap writer for the dissector's tests and benchmark.

Frames are Ethernet + IPv4 or IPv6 + UDP or TCP, with correct checksums, so
tshark sees exactly the traffic a test describes: which side sends what,
how TCP data is cut into segments, when each frame arrives.

    cap = Capture()
    cap.udp(CLIENT, SERVER, b"15*15")          # CLIENT = ("10.0.0.1", 40000)
    tcp = cap.tcp(CLIENT, SERVER)               # handshake written
    tcp.send(b"1+1\\n")                          # client -> server
    tcp.send(b"2\\n", from_client=False)
    cap.write(path)
"""

import ipaddress
import struct

LINKTYPE_ETHERNET = 1
_MAC_A = bytes.fromhex("020000000001")
_MAC_B = bytes.fromhex("020000000002")


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip_packet(src, dst, proto, l4):
    """IP header + l4 (whose checksum field is filled in here)."""
    sa, da = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if sa.version == 4:
        pseudo = sa.packed + da.packed + struct.pack("!BBH", 0, proto, len(l4))
    else:
        pseudo = sa.packed + da.packed + struct.pack("!IxxxB", len(l4), proto)
    off = 6 if proto == 17 else 16
    if proto == 1:                      # ICMPv4: no pseudo-header
        pseudo, off = b"", 2
    c = _csum(pseudo + l4)
    if proto == 17 and c == 0:
        c = 0xFFFF
    l4 = l4[:off] + struct.pack("!H", c) + l4[off + 2:]
    if sa.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000,
                          64, proto, 0, sa.packed, da.packed)
        hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
        return 0x0800, hdr + l4
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, sa.packed,
                      da.packed)
    return 0x86DD, hdr + l4


class Capture:
    """Frames in time order; each call adds one frame (tcp() adds three)."""

    def __init__(self, start=1700000000, step=0.001, stream=None):
        """stream: a binary file to write frames to as they come (for big
        captures) instead of keeping them for write()."""
        self.frames = []          # (microseconds, bytes)
        self.count = 0
        self.now = int(start * 1000000)
        self.step = step
        self.stream = stream
        if stream:
            stream.write(_file_header())

    def frame(self, src, dst, proto, l4, wait=None, snaplen=None):
        """snaplen: record only the frame's first snaplen bytes (as
        dumpcap -s does), keeping its original length."""
        ethertype, ip = _ip_packet(src, dst, proto, l4)
        self.raw(ethertype, ip, wait, snaplen)

    def raw(self, ethertype, ip, wait=None, snaplen=None):
        """A frame of the given network layer bytes."""
        if self.count:
            self.now += round((self.step if wait is None else wait) * 1e6)
        self.count += 1
        data = _MAC_B + _MAC_A + struct.pack("!H", ethertype) + ip
        rec = (self.now, data, snaplen)
        if self.stream:
            self.stream.write(_record(*rec))
        else:
            self.frames.append(rec)

    def icmp_unreachable(self, router, payload_ip, wait=None):
        """An ICMPv4 port unreachable from router quoting the IPv4 packet
        payload_ip (bytes, as _ip_packet builds them)."""
        body = struct.pack("!BBHI", 3, 3, 0, 0) + payload_ip
        dst = ipaddress.ip_address(payload_ip[12:16])
        _, ip = _ip_packet(router, str(dst), 1, body)
        self.raw(0x0800, ip, wait)

    def udp(self, src, dst, payload, wait=None, snaplen=None):
        """One datagram; src and dst are (address, port)."""
        self.frame(src[0], dst[0], 17, udp_l4(src, dst, payload), wait,
                   snaplen)

    def tcp(self, client, server, handshake=True):
        return TcpFlow(self, client, server, handshake)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(_file_header())
            for rec in self.frames:
                f.write(_record(*rec))


def udp_l4(src, dst, payload):
    return struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload


def ip_packet(src, dst, proto, l4):
    """The IP packet (bytes) of an L4 payload, checksums filled in."""
    return _ip_packet(src, dst, proto, l4)[1]


def _file_header():
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144,
                       LINKTYPE_ETHERNET)


def _record(ts, data, snaplen=None):
    sec, usec = divmod(ts, 1000000)
    cut = data if snaplen is None else data[:snaplen]
    return struct.pack("<IIII", sec, usec, len(cut), len(data)) + cut


class TcpFlow:
    """One TCP connection; sequence numbers and ACKs kept consistent."""

    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01

    def __init__(self, cap, client, server, handshake):
        self.cap = cap
        self.ends = (client, server)
        self.seq = [1000, 5000]   # next sequence number of client, server
        if handshake:
            self._seg(0, b"", self.SYN, ack=False)
            self.seq[0] += 1
            self._seg(1, b"", self.SYN | self.ACK)
            self.seq[1] += 1
            self._seg(0, b"", self.ACK)

    def _seg(self, side, payload, flags, ack=True, seq=None, wait=None,
             snaplen=None):
        src, dst = self.ends[side], self.ends[1 - side]
        s = self.seq[side] if seq is None else seq
        a = self.seq[1 - side] if ack else 0
        l4 = struct.pack("!HHIIBBHHH", src[1], dst[1], s, a, 5 << 4, flags,
                         65535, 0, 0)
        self.cap.frame(src[0], dst[0], 6, l4 + payload, wait, snaplen)

    def send(self, payload, from_client=True, wait=None, fin=False,
             snaplen=None):
        """One segment of data (with fin: the sender's last; snaplen: the
        frame is captured cut to that many bytes)."""
        side = 0 if from_client else 1
        self._seg(side, payload,
                  self.PSH | self.ACK | (self.FIN if fin else 0), wait=wait,
                  snaplen=snaplen)
        self.seq[side] += len(payload) + (1 if fin else 0)

    def lose(self, payload, from_client=True):
        """A segment sent but not captured: its bytes count, no frame."""
        self.seq[0 if from_client else 1] += len(payload)

    def send_at(self, payload, back, from_client=True, wait=None):
        """A segment whose data starts `back` bytes before the next
        sequence number (out of order, after lose()); the next sequence
        number is unchanged."""
        side = 0 if from_client else 1
        self._seg(side, payload, self.PSH | self.ACK,
                  seq=self.seq[side] - back, wait=wait)

    def resend(self, payload, from_client=True, back=None, wait=None):
        """A retransmission of the last len(payload) bytes sent (or of the
        bytes starting `back` bytes before the next sequence number)."""
        side = 0 if from_client else 1
        back = len(payload) if back is None else back
        self._seg(side, payload, self.PSH | self.ACK,
                  seq=self.seq[side] - back, wait=wait)

    def ack(self, from_client=True, wait=None):
        self._seg(0 if from_client else 1, b"", self.ACK, wait=wait)

    def close(self):
        self._seg(0, b"", self.FIN | self.ACK)
        self.seq[0] += 1
        self._seg(1, b"", self.FIN | self.ACK)
        self.seq[1] += 1
        self._seg(0, b"", self.ACK)
