# SPDX-License-Identifier: MIT
"""nginx's stream module (Debian's nginx + libnginx-mod-stream) in front of
three calcd on 127.0.0.2-4, for TCP (proxy_protocol on: nginx sends v1,
calcd --proxy-protocol trusts the balancer at 127.0.0.1) and UDP
(proxy_responses 1: each datagram a session that ends with its reply).
nginx's open-source stream module has passive health checks only: a
backend that refuses (TCP) or answers with ICMP port unreachable (UDP) is
out for fail_timeout.  lbtest.py writes the config into the test's own
temporary directory, with the pid and log files."""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import lbtest

REASON = lbtest.skip_reason("nginx")
if REASON is None and not os.path.exists(lbtest.NGINX_STREAM_MODULE):
    REASON = "libnginx-mod-stream is not installed (scripts/dev.sh installs it)"
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))

TRUST = ("--proxy-protocol", "127.0.0.1/32")


def test_tcp_bench_through_nginx(setup, calcd_bin, bench_bin):
    setup.backends(calcd_bin, *TRUST)
    ng = setup.nginx()
    code, res, err = lbtest.bench(bench_bin, ng.port, "--tcp", "-c", "9",
                                  "-d", "16", "-D", "3")
    assert code == 0, err
    assert res["wrong"] == 0 and res["lost"] == 0, res
    assert res["replies"] == res["sent"] > 1000, res
    counters = setup.stop_backends()
    per = [c["tcp"]["requests"] for c in counters]
    assert sum(per) == res["replies"], (per, res)  # no health checks here
    conns = [c["tcp"]["connections"] for c in counters]
    assert sum(conns) >= 9 and min(conns) >= 2, conns  # round robin
    assert all(n >= res["replies"] / 20 for n in per), ("starved", per)
    assert all(c["tcp"]["proxy-refused"] == 0 for c in counters), counters


def test_udp_bench_through_nginx(setup, calcd_bin, bench_bin):
    """UDP: every reply exact; paced so nginx's one-session-per-datagram
    work keeps up; the datagrams spread over the three."""
    setup.backends(calcd_bin, *TRUST)
    ng = setup.nginx()
    code, res, err = lbtest.bench(bench_bin, ng.port, "--udp", "-c", "4",
                                  "-d", "4", "-D", "3", "-R", "3000")
    assert code == 0, err
    assert res["wrong"] == 0, res
    # UDP may lose a datagram, as the network may; on loopback at this
    # rate it should not, and a loss is counted, never hidden.
    assert res["lost"] <= res["sent"] / 1000, res
    counters = setup.stop_backends()
    per = [c["udp"]["requests"] for c in counters]
    assert sum(per) >= res["replies"], (per, res)
    assert all(n >= res["sent"] / 6 for n in per), ("unbalanced", per)


def test_real_client_address_v1(setup, calcd_bin):
    setup.backends(calcd_bin, *TRUST, "-v")
    ng = setup.nginx()
    ports = []
    for i in range(3):
        s = socket.socket()
        s.bind(("127.0.0.9", 0))
        s.settimeout(5)
        s.connect((lbtest.FRONT, ng.port))
        ports.append(s.getsockname()[1])
        s.sendall(b"6*7 #%d\n" % i)
        assert s.recv(100) == b"42 #%d\n" % i
        s.close()
    time.sleep(0.2)
    logs = setup.calcd_logs()
    for i, p in enumerate(ports):
        assert "tcp 127.0.0.9:%d: PROXY v1 from 127.0.0.1:" % p in logs, logs
        assert 'tcp 127.0.0.9:%d "6*7 #%d" -> "42 #%d"' % (p, i, i) in logs


def test_tcp_backend_killed_mid_run(setup, calcd_bin):
    """As with HAProxy: the connections on the killed backend end, the
    client reopens them (nginx tries the next upstream when one refuses),
    nothing is wrong, the loss is what was in flight on them."""
    setup.backends(calcd_bin, *TRUST)
    ng = setup.nginx()
    victim = setup.calcd[1]
    lc = lbtest.load_while_killing(ng.port, victim)
    counters = setup.stop_backends()
    assert counters[1] == {}
    # After the kill, the reopened connections went to the two left.
    assert counters[0]["tcp"]["connections"] + \
        counters[2]["tcp"]["connections"] >= 6 + lc.ended, counters


def test_udp_backend_killed_client_retries(setup, calcd_bin):
    """UDP, a backend killed mid-run: a request sent to it gets no reply;
    the client asks again (same tag) after 100 ms, and nginx, having seen
    the ICMP port unreachable, sends the retry to another backend.  Every
    request is answered exactly; the retries are counted.  nginx also
    sends the client an empty datagram when the dead backend refuses (no
    calc reply is empty): the client ignores it, and it is counted."""
    setup.backends(calcd_bin, *TRUST)
    ng = setup.nginx()
    exprs = [x for x in lbtest.make_exprs(900, seed=7)
             if "**" not in x[0]][:400]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((lbtest.FRONT, ng.port))
    retries = empty = stray = 0
    wrong = []
    for i, (e, want) in enumerate(exprs):
        if i == 150:
            setup.calcd[1].proc.send_signal(signal.SIGKILL)
        tag = 1000 + i
        got = None
        for attempt in range(7):
            if attempt:
                retries += 1
            u.send(b"%s #%d" % (e.encode(), tag))
            deadline = time.monotonic() + 0.1 * 2 ** attempt
            while got is None and time.monotonic() < deadline:
                u.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    d = u.recv(65536)
                except socket.timeout:
                    break
                except ConnectionRefusedError:
                    continue
                if d == b"":
                    empty += 1
                elif d.endswith(b" #%d" % tag):
                    got = d
                else:
                    stray += 1  # a late reply to an earlier tag
            if got is not None:
                break
        if got != ("%s #%d" % (want, tag)).encode():
            wrong.append((e, got))
    u.close()
    print("retries %d, empty datagrams %d, late replies %d" % (
        retries, empty, stray))
    assert wrong == []
    assert retries >= 1, "no request went to the killed backend?"
    assert "refused" in ng.error_log(), ng.error_log()[-2000:]
    counters = setup.stop_backends()
    assert counters[1] == {}
    assert counters[0]["udp"]["requests"] > 0 < counters[2]["udp"]["requests"]


def test_udp_backend_killed_calc_cli_retries(setup, calcd_bin, calc_bin):
    """UDP, a backend killed mid-run: a request sent to it gets no reply;
    the calc client asks again (same tag) and nginx, having seen the ICMP
    port unreachable, sends the retry to another backend.  Every answer is
    printed, in order; the retries are in calc's -v log, and so is the
    empty datagram nginx sends on the refusal, which calc-cli ignores."""
    setup.backends(calcd_bin, *TRUST)
    ng = setup.nginx()
    exprs = lbtest.make_exprs(600, seed=7)
    p = subprocess.Popen([calc_bin, "--udp", "--server",
                          "%s:%d" % (lbtest.FRONT, ng.port),
                          "-t", "100", "-r", "6", "-v"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = [], []
    threads = [threading.Thread(target=lambda: out.append(p.stdout.read())),
               threading.Thread(target=lambda: err.append(p.stderr.read()))]
    for t in threads:
        t.start()
    for i, (e, _) in enumerate(exprs):
        p.stdin.write(e.encode() + b"\n")
        p.stdin.flush()
        if i == 200:
            setup.calcd[1].proc.send_signal(signal.SIGKILL)
        time.sleep(0.002)
    p.stdin.close()
    assert p.wait(60) == 0
    for t in threads:
        t.join()
    assert out[0].decode().splitlines() == [want for _, want in exprs]
    log = err[0].decode()
    assert "no reply in 100 ms; sending" in log, log[-2000:]
    assert "protocol error" not in log, log[-2000:]
    assert "Connection refused" in ng.error_log() or \
        "refused" in ng.error_log(), ng.error_log()[-2000:]
