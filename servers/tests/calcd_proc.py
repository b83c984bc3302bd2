# SPDX-License-Identifier: MIT
"""Run a calcd for a black-box test (any test folder may import this).

    from calcd_proc import Calcd
    s = Calcd("/path/to/calcd", "--role", "addsub")   # on a free port
    s.port, s.role, s.addrs, s.max_conn, s.addr ("127.0.0.1:<port>")
    s.log          # stderr lines so far
    s.requests()   # (proto, request, reply) of each -v log line
    s.stop()       # SIGTERM; returns the exit status

calcd is started with --port 0 unless a port is given: the kernel picks a
port free for UDP and TCP, and calcd's startup line (docs/PROTOCOL.md,
"Running calcd") tells which.
"""
import re
import resource
import signal
import subprocess
import threading

STARTUP = re.compile(
    r"role (\w+), port (\d+) udp\+tcp on (.*?), max-conn (\d+)")
# -v: one line per request: proto, peer, "request" -> "reply"
REQUEST_LOG = re.compile(
    r'^calcd: (udp|tcp|tcp-legacy) (\S+) "((?:[^"\\]|\\.)*)" -> '
    r'"((?:[^"\\]|\\.)*)"$')


def unquote(s):
    """Undo calcd's log quoting (\\" \\\\ \\xNN)."""
    return re.sub(r'\\(x[0-9a-f]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16))
                  if m.group(1).startswith("x") and len(m.group(1)) == 3
                  else m.group(1), s)


class CalcdError(RuntimeError):
    pass


class Calcd:
    """A calcd process; its stderr lines are collected in .log."""

    def __init__(self, binary, *args, port=0, nofile=None):
        def limit_files():  # in the child: an open-file limit to fit in
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [binary, "--port", str(port), *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=limit_files if nofile else None)
        self.log = []
        m = None
        for _ in range(5):  # warnings may precede the startup line
            line = self.proc.stderr.readline()
            self.log.append(line)
            m = STARTUP.search(line)
            if m or not line:
                break
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise CalcdError(f"calcd did not start: {''.join(self.log)!r}")
        self.role = m.group(1)
        self.port = int(m.group(2))
        self.addrs = m.group(3).split()
        self.max_conn = int(m.group(4))
        self._done = threading.Event()
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line)
        self._done.set()

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=3.0):
        """Signal calcd, wait for it and its whole log; its exit status
        (it is killed, and the status negative, if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            code = code if code < 0 else -code - 1
        self._done.wait(timeout)
        return code

    def requests(self):
        """(proto, request, reply) of each request logged (-v), in order."""
        out = []
        for line in self.log:
            m = REQUEST_LOG.match(line.rstrip("\n"))
            if m:
                out.append((m.group(1), unquote(m.group(3)),
                            unquote(m.group(4))))
        return out
