# SPDX-License-Identifier: MIT
"""HAProxy (Debian's haproxy) in TCP mode in front of three calcd on
127.0.0.2-4, with send-proxy-v2 (calcd --proxy-protocol trusting the
balancer at 127.0.0.1) and a health check in calc's own protocol: send
"1+1\\n", expect "2".  lbtest.py writes the config into the test's own
temporary directory."""
import signal
import subprocess
import threading
import time

import pytest

import lbtest

pytestmark = pytest.mark.skipif(lbtest.skip_reason("haproxy") is not None,
                                reason=str(lbtest.skip_reason("haproxy")))

TRUST = ("--proxy-protocol", "127.0.0.1/32")


def test_health_check_in_calc_protocol(setup, calcd_bin):
    """All three are UP only because each answered "1+1" with "2" (through
    a PROXY v2 LOCAL header); a backend answering otherwise is DOWN."""
    setup.backends(calcd_bin, *TRUST, "-v")
    hp = setup.haproxy()
    assert hp.stat() == {"b1": "UP", "b2": "UP", "b3": "UP"} or \
        all(v.startswith("UP") for v in hp.stat().values())
    time.sleep(3 * hp.CHECK_MS / 1000.0)
    for c in setup.calcd:
        checks = [line for line in c.log if '"1+1" -> "2"' in line]
        local = [line for line in c.log if "PROXY v2 from 127.0.0.1:" in line
                 and "LOCAL" in line]
        assert checks and local, "".join(c.log)
    # A muldiv backend refuses '+': its check fails, HAProxy takes it out.
    setup.calcd[1].stop()
    setup.calcd[1] = lbtest.calcd_proc.Calcd(
        calcd_bin, "--bind", "127.0.0.3", "--port", str(setup.calcd[1].port),
        "--role", "muldiv", *TRUST)
    got = hp.wait_status({"b1": "UP", "b2": "DOWN", "b3": "UP"})
    assert got.get("b2", "").startswith("DOWN"), (got, hp.log())


def test_bench_through_haproxy(setup, calcd_bin, bench_bin):
    """calc-bench through HAProxy: every reply exact, none lost, and the
    load spread over the three backends (their exit counters)."""
    setup.backends(calcd_bin, *TRUST)
    hp = setup.haproxy()
    code, res, err = lbtest.bench(bench_bin, hp.port, "--tcp", "-c", "9",
                                  "-d", "16", "-D", "3")
    assert code == 0, err
    assert res["wrong"] == 0 and res["lost"] == 0, res
    assert res["replies"] == res["sent"] > 1000, res
    counters = setup.stop_backends()
    per = [c["tcp"]["requests"] for c in counters]
    # The health checks add a few requests each; the bench is the bulk.
    assert sum(per) >= res["replies"], (per, res)
    # Round robin spreads connections: 3 of the 9 each (plus the checks'
    # one-request connections).  Requests follow each backend's share of
    # the CPU, which on a busy machine is uneven, but none is starved.
    conns = [c["tcp"]["connections"] for c in counters]
    assert all(n >= 3 for n in conns), conns
    assert all(n >= res["replies"] / 20 for n in per), ("starved", per)
    assert all(c["tcp"]["proxy-refused"] == 0 for c in counters), counters


def test_real_client_address(setup, calcd_bin):
    """The backend logs the client (127.0.0.9 and its port), not HAProxy."""
    import socket
    setup.backends(calcd_bin, *TRUST, "-v")
    hp = setup.haproxy()
    ports = []
    for i in range(3):  # round robin: one to each backend
        s = socket.socket()
        s.bind(("127.0.0.9", 0))
        s.settimeout(5)
        s.connect((lbtest.FRONT, hp.port))
        ports.append(s.getsockname()[1])
        s.sendall(b"6*7 #%d\n" % i)
        assert s.recv(100) == b"42 #%d\n" % i
        s.close()
    time.sleep(0.2)
    logs = setup.calcd_logs()
    for i, p in enumerate(ports):
        assert 'tcp 127.0.0.9:%d "6*7 #%d" -> "42 #%d"' % (p, i, i) in logs, \
            logs


def test_backend_killed_mid_run(setup, calcd_bin):
    """Kill one backend under load: HAProxy marks it DOWN, the client's
    connections that were on it end and are reopened (to the two left);
    no reply is wrong, and what is lost is exactly what was in flight on
    the connections that ended."""
    setup.backends(calcd_bin, *TRUST)
    hp = setup.haproxy()
    victim = setup.calcd[1]
    lc = lbtest.load_while_killing(hp.port, victim)
    got = hp.wait_status({"b2": "DOWN"})
    assert got.get("b2", "").startswith("DOWN"), got
    counters = setup.stop_backends()
    assert counters[1] == {}, "a killed calcd has no exit counters"
    assert counters[0]["tcp"]["requests"] > 0 < counters[2]["tcp"]["requests"]


def test_calc_client_reconnects(setup, calcd_bin, calc_bin):
    """The calc client through HAProxy, a backend killed while it runs: it
    reconnects and asks again what the dead connection left unanswered, so
    its output is still every answer, in order."""
    setup.backends(calcd_bin, *TRUST)
    hp = setup.haproxy()
    exprs = lbtest.make_exprs(1200, seed=5)
    p = subprocess.Popen([calc_bin, "--server", "%s:%d" % (lbtest.FRONT,
                                                           hp.port),
                          "-r", "6", "-v"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    err = []
    ereader = threading.Thread(target=lambda: err.append(p.stderr.read()))
    ereader.start()
    # Find the connection's backend: kill the one serving it, mid-run.
    for i, (e, _) in enumerate(exprs):
        p.stdin.write(e.encode() + b"\n")
        p.stdin.flush()
        if i == 400:
            time.sleep(0.1)
            # the backend holding calc's connection (twice: not a check's)
            busy = [c for c in setup.calcd if _has_conn(c.proc.pid)]
            time.sleep(0.05)
            busy = [c for c in busy if _has_conn(c.proc.pid)]
            assert busy, "no backend holds calc's connection"
            busy[0].proc.send_signal(signal.SIGKILL)
        if i % 50 == 0:
            time.sleep(0.01)
    p.stdin.close()
    assert p.wait(60) == 0
    reader.join()
    ereader.join()
    assert out[0].decode().splitlines() == [want for _, want in exprs]
    log = err[0].decode()
    assert "reconnecting" in log, log


def _has_conn(pid):
    """Does process pid hold an established TCP connection?"""
    try:
        out = subprocess.run(["ss", "-Htnp", "state", "established"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return ("pid=%d," % pid) in out
