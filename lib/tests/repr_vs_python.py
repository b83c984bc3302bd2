#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""repr_vs_python.py: calc-eval's float output against Python's repr() on
millions of random doubles (a one-off check, not run by ctest: ctest's
lib.dtoa compares the fast digits with the exact search instead).

Each random 64-bit pattern (seeded) that is a finite double d = m 2^e
(m an integer below 2^53) is written as the expression "m*2.0**e" (with
a leading "-" when negative): m, 2.0 and 2.0**e are exact doubles and so
is their product, so calc's reply is its repr() of exactly d, whatever
its literal parser does.  Every line must equal Python's repr(d).

    repr_vs_python.py --calc-eval BUILD/clients/calc-eval [--count N]
                      [--seed S] [--narrow]

--narrow draws the binary exponent from -70..70 only (doubles between
about 1e-21 and 1e21, where repr switches between fixed and exponent
forms), instead of every exponent alike.
"""
import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time


def expression(bits):
    d = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if d != d or d in (float("inf"), float("-inf")):
        return None, None
    neg = bits >> 63
    exp = (bits >> 52) & 0x7FF
    frac = bits & ((1 << 52) - 1)
    m, e = (frac | 1 << 52, exp - 1075) if exp else (frac, -1074)
    return ("-" if neg else "") + f"{m}*2.0**{e}", repr(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calc-eval", required=True)
    ap.add_argument("--count", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--narrow", action="store_true")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    print(f"repr_vs_python: seed {seed}, {a.count} random bit patterns"
          f"{' (exponents -70..70)' if a.narrow else ''}, "
          f"Python {sys.version.split()[0]}", flush=True)
    want = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.txt")
        with open(inp, "w", encoding="ascii") as f:
            for _ in range(a.count):
                bits = rng.getrandbits(64)
                if a.narrow:
                    bits &= ~(0x7FF << 52)
                    bits |= (1023 + rng.randint(-70, 70)) << 52
                expr, r = expression(bits)
                if expr is None:
                    continue
                f.write(expr + "\n")
                want.append((expr, r))
        with open(inp, "rb") as fin:
            out = subprocess.run([a.calc_eval], stdin=fin,
                                 stdout=subprocess.PIPE, check=False).stdout
    got = out.decode("ascii").split("\n")
    bad = 0
    for i, (expr, r) in enumerate(want):
        g = got[i] if i < len(got) else "<missing>"
        if g != r:
            bad += 1
            if bad <= 20:
                print(f"MISMATCH {expr}: Python {r}, calc {g}")
    print(f"repr_vs_python: {len(want)} finite doubles compared, "
          f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
