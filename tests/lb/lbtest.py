# SPDX-License-Identifier: MIT
"""Load-balancer set-ups on loopback: three calcd behind a real HAProxy or
nginx, each started with a config written by the test into its own
temporary directory (pid, logs, sockets there too), and all stopped at the
end.  Backends listen on 127.0.0.2, 127.0.0.3 and 127.0.0.4 (any free
port), the balancer on 127.0.0.1.

    with Setup(tmp) as st:
        st.backends(calcd, "--proxy-protocol", "127.0.0.1")
        hp = st.haproxy(send_proxy="send-proxy-v2")
        ...
        counters = st.stop_backends()   # each calcd's exit counter lines

Clients: calc-bench (exact replies, no reconnection: the steady state),
the calc client (reconnects and resends on TCP, retries on UDP), and
LoadClient below (many pipelined connections that reconnect without
resending, so what a killed backend loses is counted, not hidden).
"""
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "servers" / "tests"))
import calcd_proc  # noqa: E402

FRONT = "127.0.0.1"
BACKEND_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
START_TIMEOUT = 10.0  # s for a balancer to listen and see its backends up
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def free_port(host=FRONT):
    """A port free for both TCP and UDP on host (the kernel's choice)."""
    for _ in range(64):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((host, 0))
            port = t.getsockname()[1]
            u.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port on %s" % host)


def wait_tcp(host, port, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# calcd's counter lines at exit and on SIGUSR1 (docs/PROTOCOL.md, "Running
# calcd"): "calcd: stats tcp: connections N, requests N, ..." (and with
# --threads, one "stats worker K tcp: ..." per worker before the total).
COUNTERS = re.compile(r"calcd: stats(?: worker (\d+))? (udp|tcp): (.*)$")


def parse_counters(log):
    """{(worker or None, transport): {name: int}} from calcd's log lines;
    the last line of each wins (exit comes after any SIGUSR1)."""
    out = {}
    for line in log:
        m = COUNTERS.search(line.rstrip("\n"))
        if not m:
            continue
        vals = dict((k, int(v)) for k, v in
                    re.findall(r"([a-z][a-z_-]*) (\d+)", m.group(3)))
        out[(m.group(1), m.group(2))] = vals
    return out


class Proc:
    """A balancer process in the foreground, its output to a file."""

    def __init__(self, name, argv, logpath):
        self.name = name
        self.logpath = logpath
        self.out = open(logpath, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def log(self):
        try:
            return Path(self.logpath).read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


class HAProxy(Proc):
    """HAProxy in TCP mode in front of the backends: round robin, health
    checks in calc's own protocol (send "1+1\\n", expect "2") every
    CHECK_MS, a server down after two failed checks."""

    CHECK_MS = 200

    def __init__(self, tmp, port, backends, send_proxy="send-proxy-v2",
                 balance="roundrobin", check_ms=CHECK_MS, rise=2):
        self.tmp = Path(tmp)
        self.port = port
        self.sock = str(self.tmp / "haproxy.sock")
        servers = "\n".join(
            "  server b%d %s:%d" % (i + 1, b.host, b.port)
            for i, b in enumerate(backends))
        self.config = f"""# written by tests/lb/lbtest.py
global
  log stdout format raw local0 info
  stats socket {self.sock} mode 600 level admin
  pidfile {self.tmp}/haproxy.pid
  maxconn 4096

defaults
  mode tcp
  log global
  option tcplog
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch

frontend calc
  bind {FRONT}:{port}
  default_backend calcd

backend calcd
  balance {balance}
  option tcp-check
  tcp-check send "1+1\\n"
  tcp-check expect string 2
  default-server inter {check_ms}ms fall 2 rise {rise} check {send_proxy}
{servers}
"""
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text(self.config)
        super().__init__("haproxy", [find("haproxy"), "-db", "-f", str(cfg)],
                         str(self.tmp / "haproxy.log"))

    def stat(self):
        """{server name: status} from the stats socket ("UP", "DOWN"...)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        lines = data.decode(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        head = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == "calcd" and row.get("svname", "").startswith("b"):
                out[row["svname"]] = row.get("status", "")
        return out

    def wait_status(self, want, timeout=START_TIMEOUT):
        """Wait until stat() is want ({name: status}); the last seen."""
        deadline = time.monotonic() + timeout
        got = {}
        while time.monotonic() < deadline:
            try:
                got = self.stat()
            except OSError:
                got = {}
            if all(got.get(k, "").split(" ")[0] == v for k, v in want.items()):
                return got
            time.sleep(0.05)
        return got


class Nginx(Proc):
    """nginx's stream module in front of the backends, TCP (with the PROXY
    protocol, v1: what nginx sends) and UDP (proxy_responses 1: a datagram
    is a session that ends with its reply).  nginx has passive health
    checks only: a backend is out for fail_timeout after max_fails
    failures (a refused connection; for UDP an ICMP port unreachable)."""

    def __init__(self, tmp, port, backends, proxy_protocol=True):
        self.tmp = Path(tmp)
        self.port = port
        ups = "\n".join(
            "    server %s:%d max_fails=1 fail_timeout=10s;" % (b.host, b.port)
            for b in backends)
        pp = "proxy_protocol on;" if proxy_protocol else ""
        self.config = f"""# written by tests/lb/lbtest.py
load_module {NGINX_STREAM_MODULE};
daemon off;
worker_processes 1;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log notice;
events {{ worker_connections 4096; }}

stream {{
  log_format calc '$remote_addr:$remote_port $protocol $status '
                  '$upstream_addr $bytes_received $bytes_sent';
  access_log {self.tmp}/access.log calc;
  upstream calcd_tcp {{
{ups}
  }}
  upstream calcd_udp {{
{ups}
  }}
  server {{
    listen {FRONT}:{port};
    proxy_pass calcd_tcp;
    {pp}
    proxy_connect_timeout 1s;
    proxy_next_upstream on;
  }}
  server {{
    listen {FRONT}:{port} udp;
    proxy_pass calcd_udp;
    proxy_responses 1;
    proxy_timeout 1s;
  }}
}}
"""
        cfg = self.tmp / "nginx.conf"
        cfg.write_text(self.config)
        super().__init__("nginx", [find("nginx"), "-e",
                                   str(self.tmp / "error.log"),
                                   "-p", str(self.tmp), "-c", str(cfg)],
                         str(self.tmp / "nginx.out"))

    def error_log(self):
        try:
            return (self.tmp / "error.log").read_text(errors="replace")
        except OSError:
            return ""


class Setup:
    """Three calcd and one balancer; __exit__ stops whatever is running."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.calcd = []
        self.balancer = None

    def backends(self, binary, *args):
        for host in BACKEND_HOSTS:
            c = calcd_proc.Calcd(binary, "--bind", host, *args)
            c.host = host
            self.calcd.append(c)
        return self.calcd

    def haproxy(self, **kw):
        port = free_port()
        self.balancer = HAProxy(self.tmp, port, self.calcd, **kw)
        want = dict(("b%d" % (i + 1), "UP") for i in range(len(self.calcd)))
        got = self.balancer.wait_status(want)
        if got != want and not all(v.startswith("UP") for v in got.values()):
            raise RuntimeError("haproxy backends not up: %r\n%s\n%s" % (
                got, self.balancer.log(), self.calcd_logs()))
        return self.balancer

    def nginx(self, **kw):
        port = free_port()
        self.balancer = Nginx(self.tmp, port, self.calcd, **kw)
        if not wait_tcp(FRONT, port):
            raise RuntimeError("nginx did not start:\n%s\n%s" % (
                self.balancer.log(), self.balancer.error_log()))
        return self.balancer

    def calcd_logs(self):
        return "\n".join("--- %s\n%s" % (c.host, "".join(c.log))
                         for c in self.calcd)

    def stop_backends(self):
        """SIGTERM every calcd still running; their exit counters, one
        {transport: {name: n}} per backend (a killed one's is empty)."""
        out = []
        for c in self.calcd:
            c.stop()
            per = parse_counters(c.log)
            out.append(dict((t, v) for (w, t), v in per.items() if w is None))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.balancer:
            self.balancer.stop()
        for c in self.calcd:
            c.stop()


# ---- clients ---------------------------------------------------------------


def bench(binary, port, *args, timeout=120):
    """calc-bench --json against the balancer; (exit code, dict, stderr)."""
    import json
    p = subprocess.run([binary, "--server", "%s:%d" % (FRONT, port), "--json",
                        "-q", *args], capture_output=True, text=True,
                       timeout=timeout)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = {}
    return p.returncode, res, p.stderr


def make_exprs(n, seed=13):
    """n requests with their exact replies: int arithmetic, small and big
    (the oracle is Python's own int)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        a, b, c = rnd.randrange(-10**6, 10**6), rnd.randrange(1, 99), \
            rnd.randrange(0, 10**9)
        k = rnd.randrange(4)
        if k == 0:
            out.append(("%d*%d+%d" % (a, b, c), str(a * b + c)))
        elif k == 1:
            out.append(("%d//%d" % (a, b), str(a // b)))
        elif k == 2:
            out.append(("%d**%d" % (b, 20 + b % 7), str(b ** (20 + b % 7))))
        else:
            out.append(("(%d-%d)%%%d" % (a, c, b), str((a - c) % b)))
    return out


class LoadClient:
    """conns TCP connections, each keeping depth tagged requests in flight
    for `seconds`.  Every reply is checked (its tag and its exact value).  A
    connection that ends (EOF, reset) is counted, its unanswered requests
    are counted lost (not resent: the count is what a client without a
    retry layer loses), and a new connection is opened in its place."""

    def __init__(self, port, conns=6, depth=8, seed=1, source=None):
        self.port = port
        self.conns = conns
        self.depth = depth
        self.source = source
        self.exprs = make_exprs(512, seed)
        self.sel = selectors.DefaultSelector()
        self.tag = 0
        self.ok = self.wrong = self.lost = self.sent = 0
        self.ended = 0          # connections the other side ended
        self.reconnect_fail = 0
        self.lost_at = []       # (time, requests lost) per ended connection
        self.wrong_shown = []

    def _open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.source:
            s.bind((self.source, 0))
        s.settimeout(2.0)
        s.connect((FRONT, self.port))
        s.setblocking(False)
        st = {"sock": s, "inflight": deque(), "buf": b"", "out": b""}
        self.sel.register(s, selectors.EVENT_READ, st)
        self._fill(st)
        return st

    def _take(self, st, data):
        """Check each complete reply line in data against the oldest
        request in flight on that connection."""
        st["buf"] += data
        *lines, st["buf"] = st["buf"].split(b"\n")
        for line in lines:
            want = st["inflight"].popleft() if st["inflight"] else None
            if line == want:
                self.ok += 1
            else:
                self.wrong += 1
                if len(self.wrong_shown) < 5:
                    self.wrong_shown.append((line, want))

    def _fill(self, st):
        while len(st["inflight"]) < self.depth:
            self.tag = self.tag % 999999999 + 1
            e, want = self.exprs[self.tag % len(self.exprs)]
            st["out"] += ("%s #%d\n" % (e, self.tag)).encode()
            st["inflight"].append(("%s #%d" % (want, self.tag)).encode())
            self.sent += 1
        try:
            n = st["sock"].send(st["out"])
            st["out"] = st["out"][n:]
        except BlockingIOError:
            pass
        except OSError:
            return
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if st["out"] else 0)
        self.sel.modify(st["sock"], ev, st)

    def _end(self, st, now):
        self.sel.unregister(st["sock"])
        st["sock"].close()
        n = len(st["inflight"])
        self.lost += n
        self.ended += 1
        self.lost_at.append((now, n))

    def run(self, seconds, during=None, at=None):
        """Run for `seconds`; call during() once, `at` seconds in."""
        live = [self._open() for _ in range(self.conns)]
        t0 = time.monotonic()
        called = during is None
        while True:
            now = time.monotonic()
            if now - t0 >= seconds:
                break
            if not called and now - t0 >= at:
                called = True
                self.kill_time = time.monotonic()
                during()
            for key, ev in self.sel.select(0.05):
                st = key.data
                if ev & selectors.EVENT_WRITE and st["out"]:
                    self._fill(st)
                if not ev & selectors.EVENT_READ:
                    continue
                try:
                    data = st["sock"].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._end(st, time.monotonic())
                    live.remove(st)
                    try:
                        live.append(self._open())
                    except OSError:
                        self.reconnect_fail += 1
                    continue
                self._take(st, data)
                self._fill(st)
        # Let the last replies in, then close.
        deadline = time.monotonic() + 2.0
        while any(st["inflight"] for st in live) and \
                time.monotonic() < deadline:
            for key, ev in self.sel.select(0.05):
                st = key.data
                try:
                    data = st["sock"].recv(65536)
                except (BlockingIOError, OSError):
                    continue
                self._take(st, data)
                if not data:
                    break
        unanswered = sum(len(st["inflight"]) for st in live)
        for st in live:
            self.sel.unregister(st["sock"])
            st["sock"].close()
        self.unanswered_at_end = unanswered
        return self

    def report(self):
        return ("sent %d ok %d wrong %d lost %d (on %d ended connections) "
                "unanswered at end %d reconnect failures %d wrong: %r" % (
                    self.sent, self.ok, self.wrong, self.lost, self.ended,
                    self.unanswered_at_end, self.reconnect_fail,
                    self.wrong_shown))


def find(program):
    """The program's path: on PATH, or in /usr/sbin (where Debian puts the
    balancers, off a normal user's PATH); None when not installed."""
    return shutil.which(program) or shutil.which(program,
                                                 path="/usr/sbin:/sbin")


def skip_reason(*programs):
    """Why the set-up tests cannot run here, or None."""
    if os.environ.get("CALC_COMPAT_ROOT"):
        return "inside a compatibility root (CALC_COMPAT_ROOT): skipped"
    missing = [p for p in programs if not find(p)]
    if missing:
        return "not installed: %s (scripts/dev.sh installs it)" % \
            " ".join(missing)
    return None


def load_while_killing(port, victim, conns=9, depth=8):
    """Pipelined load through the balancer on port while victim (a calcd
    of the set-up) is killed 1.5 s into a 4 s run.  Asserts what holds
    behind any balancer: no reply is wrong, every ended connection is
    reopened, nothing is left unanswered, and what is lost is only what
    was in flight (depth each) on the connections that ended, after the
    kill.  Returns the LoadClient for balancer-specific checks."""
    lc = LoadClient(port, conns=conns, depth=depth)
    lc.run(4.0, during=lambda: victim.proc.send_signal(signal.SIGKILL),
           at=1.5)
    print(lc.report())
    assert lc.wrong == 0, lc.report()
    assert lc.reconnect_fail == 0, lc.report()
    assert lc.unanswered_at_end == 0, lc.report()
    # The victim held about a third of the connections; they ended.
    assert 1 <= lc.ended <= conns, lc.report()
    assert lc.lost <= lc.ended * lc.depth, lc.report()
    assert all(t >= lc.kill_time for t, _ in lc.lost_at), lc.report()
    assert lc.ok == lc.sent - lc.lost, lc.report()
    return lc
