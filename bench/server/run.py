#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/server/run.py: calcd under attack, against a baseline measured in
the same run (docs/BENCHMARKS.md, "Server").

    bench/server/run.py [--build DIR] [--before-rev REV | --before CALCD
                        | --no-before] [--seconds S] [--runs R]
                        [--markdown FILE] [--only fairness|stop|throughput]

The baseline is by default f79d852 (main just before the server branch
was merged: BASELINE_REV), so after `scripts/dev.sh build` the one
command `bench/server/run.py` measures both (about 4 minutes; the first
run also builds the baseline, under build-bench/, kept for reruns).

Each calcd measured (this build's, and the baseline: --before CALCD, or
built from --before-rev, unless --no-before) goes through:

  fairness   an unrelated client's `15*15`, paced at 50/s, open loop
             (calc-bench -c 1 -R 50: each request sent at its scheduled
             time whatever is in flight, its latency counted from that
             time, docs/CLIENTS.md), over TCP and over UDP, alone and
             then while 4 TCP clients pipeline `3**41000 % 7**20000 %
             10**4290` (16 in flight each) and one UDP socket floods the
             same request (64 in flight): p50 and p99; and the same
             probe closed-loop ("rtt": 400 requests, each sent 10 ms after
             the last reply; the round trip from its send);
  stop       10 connections x 1000 fully sent `3**41000 % 7**20000 %
             10**9` (tagged), then SIGTERM: time to exit, requests with a
             result, with `ERR busy: server stopping`, with no reply;
  throughput calc-bench's default mix, 4 connections x 32 in flight, TCP
             and UDP, for 3 s: requests per second, and calcd's CPU time
             per request (/proc: what other load on the machine changes
             least); best of R runs, the calcds alternating.

Uses calc-bench from the build; Python 3 only for the stop client.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = "3**41000 % 7**20000 % 10**4290"
STOP_REQ = "3**41000 %% 7**20000 %% 10**9 #%d"
STOP_CONNS, STOP_PER_CONN = 10, 1000
PROBE_RATE = 50
BASELINE_REV = "f79d852"
RTT_SAMPLES, RTT_GAP = 400, 0.01


class Calcd:
    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--port", "0", *args],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        for _ in range(5):
            line = self.proc.stderr.readline()
            m = re.search(r"port (\d+) udp\+tcp", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            raise RuntimeError(f"{binary} did not start")
        self.log = []
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr),
                         daemon=True).start()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def bench(cb, port, *args, seconds):
    out = subprocess.run([cb, "-s", f"127.0.0.1:{port}", "-q", "--json",
                          "-D", str(seconds), *args],
                         capture_output=True, text=True, timeout=seconds + 60)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"calc-bench failed: {out.stderr}")


def attackers(cb, port, seconds):
    base = [cb, "-s", f"127.0.0.1:{port}", "-q", "-D", str(seconds),
            "-e", HEAVY]
    return [subprocess.Popen(base + ["--tcp", "-c", "4", "-d", "16"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
            subprocess.Popen(base + ["--udp", "-c", "1", "-d", "64",
                                     "-t", "10000"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)]


def rtt_probe(port, tr, n=RTT_SAMPLES):
    """Closed loop: send `15*15 #i`, wait for its reply, pause RTT_GAP;
    the round trips (us), as calc-bench's latency dict.  A second view
    beside calc-bench's open-loop probe, which also counts the probe's own
    stalls on a busy machine."""
    if tr == "tcp":
        s = socket.create_connection(("127.0.0.1", port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", port))
    s.settimeout(5)
    rtt = []
    for i in range(n):
        want = b"225 #%d" % i
        t0 = time.monotonic()
        s.send(b"15*15 #%d\n" % i if tr == "tcp" else b"15*15 #%d" % i)
        buf = b""
        try:
            while want not in buf:
                buf += s.recv(1 << 16)
        except socket.timeout:
            continue
        rtt.append((time.monotonic() - t0) * 1e6)
        time.sleep(RTT_GAP)
    s.close()
    rtt.sort()
    k = len(rtt)
    return {"p50": rtt[k // 2], "p99": rtt[min(k - 1, k * 99 // 100)]}


def fairness(calcd, cb, seconds):
    rows = {}
    for attack in (False, True):
        srv = Calcd(calcd)
        procs = attackers(cb, srv.port, 3 * seconds + 20) if attack else []
        time.sleep(1.0 if attack else 0.2)  # the attack reaches its pace
        for tr in ("tcp", "udp"):
            r = bench(cb, srv.port, "--" + tr, "-c", "1",
                      "-e", "15*15", "-R", str(PROBE_RATE), "-t", "5000",
                      seconds=seconds)
            rows[(attack, tr)] = r
            rows[(attack, tr + " rtt")] = {"latency_us": rtt_probe(srv.port,
                                                                   tr)}
        for p in procs:
            p.kill()
            p.wait()
        srv.stop()
    return rows


def stop_backlog(calcd):
    srv = Calcd(calcd)
    socks = [socket.create_connection(("127.0.0.1", srv.port))
             for _ in range(STOP_CONNS)]
    data = [b""] * STOP_CONNS

    def reader(i, s):
        s.settimeout(15)
        try:
            while True:
                c = s.recv(1 << 16)
                if not c:
                    return
                data[i] += c
        except OSError:
            return

    ts = [threading.Thread(target=reader, args=(i, s), daemon=True)
          for i, s in enumerate(socks)]
    for t in ts:
        t.start()
    for s in socks:
        s.sendall("".join(STOP_REQ % k + "\n"
                          for k in range(STOP_PER_CONN)).encode())
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    code = srv.proc.wait(30)
    exit_s = time.monotonic() - t0
    for t in ts:
        t.join(15)
    result = busy = 0
    for d in data:
        for line in d.split(b"\n"):
            if line.startswith(b"ERR busy"):
                busy += 1
            elif line:
                result += 1
    total = STOP_CONNS * STOP_PER_CONN
    return {"exit_s": exit_s, "code": code, "result": result, "busy": busy,
            "none": total - result - busy}


def cpu_seconds(pid):
    """User + system CPU time of process pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(calcd, cb, seconds):
    """Requests per second, and calcd's CPU microseconds per request (less
    sensitive than the rate to other load on the machine)."""
    out = {}
    srv = Calcd(calcd)
    for tr in ("tcp", "udp"):
        c0 = cpu_seconds(srv.proc.pid)
        r = bench(cb, srv.port, "--" + tr, "-c", "4", "-d", "32",
                  seconds=seconds)
        cpu = cpu_seconds(srv.proc.pid) - c0
        ok = r["ok"] if not r.get("wrong") else 0
        out[tr] = (r["rps"] if ok else 0.0, 1e6 * cpu / max(ok, 1))
    srv.stop()
    return out


def build_rev(rev):
    """calcd of git revision rev, built (Release) under build-bench/ (by
    commit: a name such as main moves)."""
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                          rev + "^{commit}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    root = REPO / "build-bench" / f"calcd-{rev}"
    binary = root / "build" / "servers" / "calcd"
    if binary.exists():
        return str(binary)
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    arch = subprocess.run(["git", "-C", str(REPO), "archive", rev],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=arch, check=True)
    subprocess.run(["cmake", "-S", str(src), "-B", str(root / "build"),
                    "-DCMAKE_BUILD_TYPE=Release"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(root / "build"), "-j2",
                    "--target", "calcd"], check=True,
                   stdout=subprocess.DEVNULL)
    return str(binary)


def ms(us):
    return f"{us / 1000:.2f} ms" if us < 100000 else f"{us / 1000:.0f} ms"


def fairness_table(calcds, cb, seconds):
    lines = ["| calcd | probe | alone p50 | alone p99 | under attack p50 | "
             "under attack p99 | attack / alone (p99) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, b in calcds:
        rows = fairness(b, cb, seconds)
        for tr in ("tcp", "udp", "tcp rtt", "udp rtt"):
            lo, hi = rows[(False, tr)], rows[(True, tr)]
            l0, l1 = lo["latency_us"], hi["latency_us"]
            lost = f" ({hi['lost']} lost)" if hi.get("lost") else ""
            lines.append(f"| {name} | {tr} `15*15` | {ms(l0['p50'])} | "
                         f"{ms(l0['p99'])} | {ms(l1['p50'])} | "
                         f"{ms(l1['p99'])}{lost} | "
                         f"{l1['p99'] / max(l0['p99'], 1):.1f}x |")
        print("\n".join(lines[-4:]), flush=True)
    return lines + [""]


def stop_table(calcds):
    lines = ["| calcd | stop: exit after SIGTERM | results | "
             "`ERR busy: server stopping` | no reply |",
             "|---|---:|---:|---:|---:|"]
    for name, b in calcds:
        r = stop_backlog(b)
        lines.append(f"| {name} | {r['exit_s'] * 1000:.0f} ms (exit "
                     f"{r['code']}) | {r['result']} | {r['busy']} | "
                     f"{r['none']} |")
        print(lines[-1], flush=True)
    return lines + [""]


def throughput_table(calcds, cb, runs):
    # Best of the runs: the most requests per second, the least CPU each.
    best = {name: {tr: [0.0, float("inf")] for tr in ("tcp", "udp")}
            for name, _ in calcds}
    for _ in range(runs):
        for name, b in calcds:
            for tr, (rps, us) in throughput(b, cb, 3).items():
                best[name][tr][0] = max(best[name][tr][0], rps)
                best[name][tr][1] = min(best[name][tr][1], us)
    lines = ["| calcd | TCP req/s | TCP calcd CPU per request | "
             "UDP req/s | UDP calcd CPU per request |",
             "|---|---:|---:|---:|---:|"]
    for name, _ in calcds:
        t, u = best[name]["tcp"], best[name]["udp"]
        lines.append(f"| {name} | {t[0]:.0f} | {t[1]:.2f} us | {u[0]:.0f} | "
                     f"{u[1]:.2f} us |")
    if len(calcds) == 2:
        (n0, _), (n1, _) = calcds
        b0, b1 = best[n0], best[n1]
        lines.append(
            f"| ratio this / {n0} | {b1['tcp'][0] / max(b0['tcp'][0], 1):.2f}"
            f" | {b1['tcp'][1] / b0['tcp'][1]:.2f} | "
            f"{b1['udp'][0] / max(b0['udp'][0], 1):.2f} | "
            f"{b1['udp'][1] / b0['udp'][1]:.2f} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--before-rev", default=BASELINE_REV)
    ap.add_argument("--before")
    ap.add_argument("--no-before", action="store_true",
                    help="measure this build only")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown")
    ap.add_argument("--only", choices=("fairness", "stop", "throughput"))
    a = ap.parse_args()
    cb = os.path.join(a.build, "clients", "calc-bench")
    calcds = [("this build", os.path.join(a.build, "servers", "calcd"))]
    if a.before:
        calcds.insert(0, ("before", a.before))
    elif not a.no_before:
        calcds.insert(0, (a.before_rev, build_rev(a.before_rev)))
    for _, b in calcds:
        if not os.access(b, os.X_OK):
            sys.exit(f"{b}: not built")
    load = os.getloadavg()
    lines = [f"Load average before the run: {load[0]:.2f} {load[1]:.2f} "
             f"{load[2]:.2f}; {os.cpu_count()} CPUs.", ""]

    if a.only in (None, "fairness"):
        lines += fairness_table(calcds, cb, a.seconds)
    if a.only in (None, "stop"):
        lines += stop_table(calcds)
    if a.only in (None, "throughput"):
        lines += throughput_table(calcds, cb, a.runs)
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text)


if __name__ == "__main__":
    main()
