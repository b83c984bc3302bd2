#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/scale/run.py: calcd past one core and behind load balancers,
each figure against a baseline measured in the same run
(docs/BENCHMARKS.md, "Scaling"; docs/SCALING.md).

    bench/scale/run.py [--build DIR] [--before-rev REV | --before CALCD]
                       [--seconds S] [--runs R] [--markdown FILE]
                       [--parts workers,cheap,balancers]

  workers  a CPU-heavy mix (HEAVY: big-int work, its cost per request
           measured too) over TCP, 8 connections x 16 in flight:
           calcd --threads 2 against --threads 1, requests per second;
  cheap    15*15 at one worker, TCP and UDP: this build against calcd
           built from --before-rev (default: main), or --before CALCD;
  balancers three calcd behind HAProxy (send-proxy-v2) and behind nginx
           stream (PROXY v1 on TCP; UDP), against one calcd direct:
           throughput (4 connections x 32 in flight) as a ratio, and the
           latency at a paced 2000 requests/s (p50, p99) and what the
           balancer adds.

Every figure is the best of R runs, the configurations alternating, so a
burst of someone else's load hurts all of them alike.  The balancer set-ups
are tests/lb/lbtest.py's (configs written to a temporary directory).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lb"))
import lbtest  # noqa: E402
from calcd_proc import Calcd  # noqa: E402  (servers/tests, via lbtest)

HEAVY = "3**40000 % 1000007"
CHEAP = "15*15"


def bench(cb, port, *args, seconds, host="127.0.0.1"):
    p = subprocess.run([cb, "-s", "%s:%d" % (host, port), "-q", "--json",
                        "-D", str(seconds), *args], capture_output=True,
                       text=True, timeout=seconds + 60)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        raise RuntimeError("calc-bench: %s" % p.stderr)
    if r.get("wrong"):
        raise RuntimeError("wrong replies: %r" % r)
    return r


def best(runs, key="rps"):
    return max(runs, key=lambda r: r[key])


def heavy_cost(build):
    """Microseconds of evaluation per HEAVY request (the core alone)."""
    n = 2000
    data = ("%s\n" % HEAVY * n).encode()
    ev = str(build / "clients" / "calc-eval")
    t0 = time.perf_counter()
    subprocess.run([ev], input=b"1\n", capture_output=True, check=True)
    t1 = time.perf_counter()
    subprocess.run([ev], input=data, capture_output=True, check=True)
    t2 = time.perf_counter()
    return ((t2 - t1) - (t1 - t0)) / n * 1e6


def build_before(rev, tmp):
    src = Path(tmp) / "src"
    src.mkdir()
    arch = subprocess.run(["git", "-C", str(REPO), "archive", rev],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=arch, check=True)
    b = Path(tmp) / "build"
    subprocess.run(["cmake", "-S", str(src), "-B", str(b),
                    "-DCALC_BUILD_PLUGIN=OFF", "-DCMAKE_BUILD_TYPE=Release"],
                   capture_output=True, check=True)
    subprocess.run(["cmake", "--build", str(b), "-j2", "--target", "calcd"],
                   capture_output=True, check=True)
    return str(b / "servers" / "calcd")


def cpu_seconds(pid):
    """User + system CPU time of process pid so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers(calcd, cb, seconds, runs):
    """Per thread count: the best run, with the cores calcd got during it
    (its CPU time over the wall time: on a shared machine, less than it
    asked for) and its requests per CPU second."""
    res = {1: [], 2: []}
    for _ in range(runs):
        for t in (1, 2):
            s = Calcd(calcd, "--threads", str(t))
            try:
                c0, w0 = cpu_seconds(s.proc.pid), time.monotonic()
                r = bench(cb, s.port, "--tcp", "-c", "8", "-d", "16", "-T",
                          "2", "-e", HEAVY, seconds=seconds)
                c1, w1 = cpu_seconds(s.proc.pid), time.monotonic()
                r["cores"] = (c1 - c0) / (w1 - w0)
                r["per_cpu_s"] = r["replies"] / max(c1 - c0, 1e-9)
                res[t].append(r)
            finally:
                s.stop()
    return {t: best(v) for t, v in res.items()}


def cheap(calcd, before, cb, seconds, runs):
    """The baseline, this build, and this build again (an A/A control: the
    spread between two measurements of the same binary is the noise), the
    order turned round every other run."""
    res = {}
    confs = [("before", before), ("this", calcd), ("again", calcd)]
    for i in range(runs):
        for name, binary in (confs if i % 2 == 0 else confs[::-1]):
            for tr in ("--tcp", "--udp"):
                s = Calcd(binary)
                try:
                    r = bench(cb, s.port, tr, "-c", "4", "-d", "32", "-e",
                              CHEAP, seconds=seconds)
                finally:
                    s.stop()
                res.setdefault((name, tr), []).append(r)
    return {k: best(v) for k, v in res.items()}


def balancers(calcd, cb, seconds, runs):
    """{(setup, transport, 'load'|'paced'): calc-bench result}."""
    res = {}
    trust = ("--proxy-protocol", "127.0.0.1/32")

    def measure(key, port, tr, host="127.0.0.1"):
        load = bench(cb, port, tr, "-c", "4", "-d", "32", seconds=seconds,
                     host=host)
        paced = bench(cb, port, tr, "-c", "4", "-d", "4", "-R", "2000",
                      seconds=seconds, host=host)
        res.setdefault(key + (tr, "load"), []).append(load)
        res.setdefault(key + (tr, "paced"), []).append(paced)

    for _ in range(runs):
        s = Calcd(calcd, "--bind", "127.0.0.2")
        try:
            measure(("direct",), s.port, "--tcp", host="127.0.0.2")
            measure(("direct",), s.port, "--udp", host="127.0.0.2")
        finally:
            s.stop()
        for kind in ("haproxy", "nginx"):
            if lbtest.skip_reason(kind):
                continue
            with tempfile.TemporaryDirectory() as tmp, \
                    lbtest.Setup(tmp) as st:
                st.backends(calcd, *trust)
                lb = st.haproxy() if kind == "haproxy" else st.nginx()
                measure((kind,), lb.port, "--tcp")
                if kind == "nginx":
                    measure((kind,), lb.port, "--udp")
    out = {}
    for k, v in res.items():
        out[k] = best(v) if k[-1] == "load" else \
            min(v, key=lambda r: r["latency_us"]["p50"])
    return out


def table(rows, head):
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build")
    ap.add_argument("--before-rev", default="main")
    ap.add_argument("--before")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--parts", default="workers,cheap,balancers")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    calcd = str(a.build / "servers" / "calcd")
    cb = str(a.build / "clients" / "calc-bench")
    with tempfile.TemporaryDirectory() as tmp:
        before = None
        if "cheap" in parts:
            before = a.before or build_before(a.before_rev, tmp)
        load = os.getloadavg()
        cost = heavy_cost(a.build)
        w = workers(calcd, cb, a.seconds, a.runs) if "workers" in parts \
            else None
        c = cheap(calcd, before, cb, a.seconds, a.runs) if before else None
        b = balancers(calcd, cb, a.seconds, a.runs) \
            if "balancers" in parts else None
        load_after = os.getloadavg()
    out = ["Machine: %d CPUs, load average %.1f before and %.1f after the "
           "run (shared with other users: figures are same-run ratios); "
           "best of %d runs of %.0f s each." % (
               os.cpu_count(), load[0], load_after[0], a.runs, a.seconds), ""]
    if w:
        workers_table(out, w, cost)
    if c:
        cheap_table(out, c, a.before or a.before_rev)
    if b:
        balancers_table(out, b)
    text = "\n".join(out) + "\n"
    print(text)
    if a.markdown:
        a.markdown.write_text(text)


def workers_table(out, w, cost):
    out.append("**Workers** (`%s`, %.0f us of evaluation each; TCP, 8 "
               "connections x 16 in flight, calc-bench with 2 threads):" % (
                   HEAVY, cost))
    out.append("")
    out.append(table([
        ["--threads %d" % t, "%.0f" % w[t]["rps"],
         "%.2f" % (w[t]["rps"] / w[1]["rps"]), "%.2f" % w[t]["cores"],
         "%.0f" % w[t]["per_cpu_s"],
         "%.2f" % (w[t]["per_cpu_s"] / w[1]["per_cpu_s"])] for t in (1, 2)
    ], ["calcd", "requests/s", "ratio", "cores calcd got",
        "requests per CPU s", "ratio"]))
    out.append("")


def cheap_table(out, c, before):
    out.append("**Cheap mix at one worker** (`%s`, 4 connections x 32 in "
               "flight), this build against `%s`:" % (CHEAP, before))
    out.append("")
    rows = []
    for tr in ("--tcp", "--udp"):
        x, y = c[("before", tr)]["rps"], c[("this", tr)]["rps"]
        z = c[("again", tr)]["rps"]
        rows.append([tr[2:], "%.0f" % x, "%.0f" % y, "%.2f" % (y / x),
                     "%.0f" % z, "%.2f" % (z / y)])
    out.append(table(rows, ["transport", "before req/s", "this req/s",
                            "ratio", "this again req/s",
                            "A/A ratio (the noise)"]))
    out.append("")


def balancers_table(out, b):
    out.append("**Balancers** (three calcd on 127.0.0.2-4 behind the "
               "balancer, against one calcd direct; throughput: default mix, "
               "4 connections x 32 in flight; latency: paced 2000 requests/s, "
               "4 x 4 in flight):")
    out.append("")
    rows = []
    for tr in ("--tcp", "--udp"):
        d = b.get(("direct", tr, "load"))
        dp = b.get(("direct", tr, "paced"))
        for kind in ("direct", "haproxy", "nginx"):
            l, p = b.get((kind, tr, "load")), b.get((kind, tr, "paced"))
            if not l:
                continue
            lat = p["latency_us"]
            rows.append([
                kind, tr[2:], "%.0f" % l["rps"], "%.2f" % (l["rps"] / d["rps"]),
                "%.0f" % lat["p50"], "%.0f" % lat["p99"],
                "%+.0f" % (lat["p50"] - dp["latency_us"]["p50"]),
                "%+.0f" % (lat["p99"] - dp["latency_us"]["p99"]),
                "%d" % (l["lost"] + p["lost"])])
    out.append(table(rows, ["set-up", "transport", "req/s", "ratio",
                            "p50 us", "p99 us", "added p50", "added p99",
                            "lost"]))
    out.append("")


if __name__ == "__main__":
    main()
