#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Python 3's side of the expression benchmark.

Times what the original server did per request, str(eval(data.decode())),
on each item of bench/eval_corpus.txt (format: bench/eval_corpus.h): the
mean of a loop of n calls (n calibrated so a loop lasts at least --min-ms),
the minimum over --repeats loops.  Items marked "!nopy" (they would hang
Python, exhaust its memory or run code) are not run and are listed with
their reason.  Run it with Debian's /usr/bin/python3 (bench/run-eval-bench
does).

  eval_bench_py.py [--tsv] [--repeats N] [--min-ms MS] CORPUS
  --tsv: one line per item: index, category, ns (or "skip"), reason
"""
import argparse
import re
import sys
import time

HEADER = re.compile(rb"\[[a-z0-9_-]+\]")
SIMPLE = {ord("\\"): b"\\", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}
HEX = b"0123456789abcdefABCDEF"


def unescape(raw, where):
    """Decode \\ \\n \\r \\t \\xHH; any other backslash is an error."""
    out, i = bytearray(), 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if ch != ord("\\"):
            out.append(ch)
        elif i < len(raw) and raw[i] in SIMPLE:
            out += SIMPLE[raw[i]]
            i += 1
        elif raw[i:i + 1] == b"x" and len(raw[i + 1:i + 3]) == 2 and all(
                h in HEX for h in raw[i + 1:i + 3]):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            sys.exit(f"{where}: bad escape")
    return bytes(out)


def load(path):
    """Items as (category, bytes, nopy reason or None), as eval_corpus.c."""
    items, cat, nopy = [], None, None
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line[:-1] if line.endswith(b"\n") else line
            if not line or line.startswith(b"#"):
                continue
            if HEADER.fullmatch(line):
                cat = line[1:-1].decode()
                continue
            if line.startswith(b"!nopy "):
                nopy = line[6:].decode()
                continue
            if cat is None:
                sys.exit(f"{path}:{lineno}: item before any [category]")
            items.append((cat, unescape(line, f"{path}:{lineno}"), nopy))
            nopy = None
    return items


def loop(data, n):
    """ns for n requests answered as the original server did."""
    t0 = time.perf_counter_ns()
    for _ in range(n):
        try:
            str(eval(data.decode()))
        except Exception:  # the server would have crashed or replied
            pass
    return time.perf_counter_ns() - t0


def measure(data, repeats, min_ns):
    n = 1
    while loop(data, n) < min_ns and n < 1 << 30:
        n *= 2
    best = None
    spent = 0
    for k in range(repeats):
        t = loop(data, n)
        spent += t
        best = t / n if best is None else min(best, t / n)
        if k >= 1 and spent > 3e9:  # a slow item: two loops are enough
            break
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--tsv", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-ms", type=float, default=2.0)
    a = ap.parse_args()
    items = load(a.corpus)
    cats = {}
    for i, (cat, data, nopy) in enumerate(items, 1):
        ns = None if nopy else measure(data, a.repeats, a.min_ms * 1e6)
        if a.tsv:
            print(f"{i}\t{cat}\t{'skip' if ns is None else f'{ns:.1f}'}\t"
                  f"{nopy or ''}", flush=True)
        if ns is not None:
            s = cats.setdefault(cat, [0, 0.0])
            s[0] += 1
            s[1] += ns
    if not a.tsv:
        print(f"{'category':10} {'items':>5} {'ns/eval':>12}")
        for cat, (n, total) in cats.items():
            print(f"{cat:10} {n:5} {total / n:12.1f}")
        for i, (cat, data, nopy) in enumerate(items, 1):
            if nopy:
                print(f"skipped item {i} ({cat}): {data[:40]!r}: {nopy}")


if __name__ == "__main__":
    main()
