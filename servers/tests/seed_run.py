# SPDX-License-Identifier: MIT
"""Run one of the seed's original programs unchanged, on another port.

    python3 seed_run.py PORT PROGRAM.py

The programs hard-code port 4000; this wrapper patches the socket class so
that bind/connect/sendto to port 4000 use PORT instead, prints "ready" on
stderr once a server socket is bound (and listening, for TCP), then runs
the file as __main__.  The clients loop on input() until stdin ends.
"""
import runpy
import socket
import sys

PORT = int(sys.argv[1])
PROGRAM = sys.argv[2]


def remap(addr):
    if isinstance(addr, tuple) and len(addr) >= 2 and addr[1] == 4000:
        return (addr[0], PORT) + tuple(addr[2:])
    return addr


def ready():
    print("ready", file=sys.stderr, flush=True)


_bind = socket.socket.bind
_listen = socket.socket.listen
_connect = socket.socket.connect
_sendto = socket.socket.sendto


def bind(self, addr):
    _bind(self, remap(addr))
    if self.type == socket.SOCK_DGRAM:
        ready()


def listen(self, *args):
    _listen(self, *args)
    ready()


def connect(self, addr):
    return _connect(self, remap(addr))


def sendto(self, data, *args):
    return _sendto(self, data, *args[:-1], remap(args[-1]))


socket.socket.bind = bind
socket.socket.listen = listen
socket.socket.connect = connect
socket.socket.sendto = sendto

try:
    runpy.run_path(PROGRAM, run_name="__main__")
except EOFError:  # a client's input() at the end of stdin
    pass
