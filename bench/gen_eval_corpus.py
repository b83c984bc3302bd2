#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write bench/eval_corpus.txt, the expression benchmark's fixed corpus.

The corpus is committed; this script documents how its long lines were made
and regenerates it byte for byte (fixed seed).  Edit the lists here, then
run:  bench/gen_eval_corpus.py > bench/eval_corpus.txt
Format: see bench/eval_corpus.h.  Every item is at most 4096 bytes (the
core's request limit), so each one is parsed, not refused for its length.
"""
import random
import re
import sys

LIMIT = 4096

# Short items, by category.  (nopy reason, expression) marks an item Python's
# side must not run; the reason is listed in the report.
SMALL = [
    "15*15", "1+2", "100-58", "-2**2", "2**3**2", "7//2", "-7%3", "17 % 5",
    "(1+2)*3", "-(3-10)", "12345*6789", "2**62", "0x10+0b11", "1_000*3",
    "0o777//8", "99*99-98*98", "+5--5", "(((7)))", "1", "2**10-1",
]
FLOAT = [
    "0.1+0.2", "1/3", "2**-1", "3.14159*2", "10/4", "1e-5", "1e16",
    "2.5//0.5", "-7.5%2", "0.1*3", "2**0.5", ".5+.25", "1e308*10",
    "1.7976931348623157e308", "5e-324", "(1+2.5)*4e10", "-0.0", "1/7*7",
    "2**53+1.0", "123456.789e3",
]
BIGNUM = [
    "2**64", "2**200", "3**1000", "10**100+1", "-(2**100)%7",
    "123456789012345678901234567890*987654321098765432109876543210",
    "2**4000//3**1000", "0xffffffffffffffffffffffff+1",
    "(2**1000+1)*(2**1000-1)", "2**10000", "10**4299", "2**64/3",
    "(2**1024)/3", "2**200*1.0", "-(10**30)//7", "(10**50)%(10**20+7)",
    "7**-2", "(-3)**41", "2**63-1+1", "1" + "0" * 40 + "//3",
]
ERROR = [
    "1/0", "1//0", "1%0", "1.0/0", "0**-1", "2^10", "abc", "1+", "(1", "1)",
    "1 2", "09", "1__0", "1e308**2", "(-8)**0.5", "10**4300", "2**1024*1.0",
    "[1]*9", "lambda: 1", "'a'", "1 < 2", "x=1", "1j", "()",
]


def fill(unit, head="", tail="", limit=LIMIT):
    """head + unit repeated as often as fits in limit bytes + tail."""
    return head + unit * ((limit - len(head) - len(tail)) // len(unit)) + tail


def mixed(rng, limit):
    """A random expression of small ints and floats, every operator, some
    nesting, no division by zero: terms joined by + and -."""
    out = "1"
    while True:
        a, b, c = rng.randint(1, 999), rng.randint(1, 99), rng.randint(1, 9)
        f = rng.choice([0.5, 1.25, 3.75, 1e-3, 2.5e2])
        term = rng.choice([
            f"({a}*{b}-{c})", f"{a}//{c}", f"{a}%{b}", f"{a}/{b}",
            f"{c}**{rng.randint(0, 9)}", f"-{a}*{f}", f"({a}+{b})*({c}-{b})",
            f"{f}*{a}//{c}",
        ])
        nxt = out + rng.choice("+-") + term
        if len(nxt) > limit:
            return out
        out = nxt


def nested(depth, limit):
    """depth nested parentheses, each level adding an operation."""
    expr = "1"
    for k in range(depth):
        op = "+*-"[k % 3]
        expr = f"({expr}{op}{k % 7 + 1})"
    assert len(expr) <= limit
    return expr


def long_items(rng):
    spaced = fill(" + 12 * 3 - 4", "1", " #12345")
    return [
        fill("+1", "1"),                       # 2048 small ints
        fill("+0.1", "0.1"),                   # float sum
        mixed(rng, LIMIT),                     # every operator, seeded
        nested(200, LIMIT),                    # the depth limit, with work
        fill("+123456789012345678901234567890", "1"),  # bignum literals
        spaced.replace(" + 12", "\t+ 12", 5),  # blanks, tabs, a comment
        "9" * LIMIT,                           # one 4096-digit literal
        fill("+0xffff_ffff_ffff", "0"),        # radix literals
        fill("*1.0001", "1.0001"),             # float products
        fill("-7//2*3%5", "0"),                # floor ops, left assoc
    ]


# Hostile inputs: each must be refused (or answered) in well under 10 ms.
HANG = "would run for hours (or exhaust memory) in Python"
SLOW = "takes seconds in Python"
RUNS = "would run code in Python"


def hostile_items():
    return [
        ("9**9**9**9", HANG),
        ("10**10**10", HANG),
        ("2**2**2**2**2**2", HANG),
        ("9**99999999", HANG),
        ("2**(2**64)", HANG),
        (fill("**2", "2"), HANG),                      # 2**2**...**2
        ("(2**4000)" + fill("*(2**4000)", limit=LIMIT - 9), None),
        ("(" * LIMIT, None),                           # 100000 '(' cut to 4096
        ("-" * (LIMIT - 1) + "1", None),
        ("(" * 200 + "1" + ")" * 200, None),           # at the depth limit
        ("(" * 201 + "1" + ")" * 201, None),           # just past it
        (fill("(1+", limit=LIMIT), None),
        (fill("1+", limit=LIMIT), None),               # ends in an operator
        ("9" * 4093 + "**2", None),                    # result past 4300 digits
        ("__import__('os').system('id')", RUNS),
        ("'a'*10**10", HANG),
        ("1\\x00", None),                              # NUL byte
        ("1+\\xff", None),                             # invalid UTF-8
        ("1+\\xe2\\x80\\x8b1", None),                  # U+200B
        ("0**(10**4000)", None),
        (fill("+(-1)**(10**4299)", "1"), None),
        (fill("+10**4299", "1"), None),
        (fill("+2**65535", "2**65535"), None),
        (fill("+(2**65535)*1.0", "1"), None),
        # Big-int work: every value stays under the size limits, but a
        # 4 KB request holds hundreds of operations on 30,000-65,000-bit ints.
        (fill("*2**32767//2**32767", "2**32767"), None),
        (fill("*3**41000//3**41000", "3**1"), None),
        (fill("*3**20000//7", "3**20000"), SLOW),
        (fill("*(3**41000)//(3**41000)", "(3**41000)"), SLOW),
        (fill("%(3**41000)", "(2**65535)"), None),
        (fill("-2**65535//3**41000", "1"), None),
        (fill("+1/3**41340", "1"), None),
        (fill("+(3**41340-1)/(3**41340-2)", "1"), None),
        (fill("*(10**4299)//(10**4299)", "10**4299"), None),
    ]


def main():
    rng = random.Random(20240611)
    w = sys.stdout.write
    w("# The expression benchmark's corpus (bench/eval_bench.c,\n"
      "# bench/eval_bench_py.py).  Generated by bench/gen_eval_corpus.py:\n"
      "# edit that script, not this file.  Format: bench/eval_corpus.h.\n")
    for name, items in [("small", SMALL), ("float", FLOAT),
                        ("bignum", BIGNUM), ("long", long_items(rng)),
                        ("error", ERROR)]:
        w(f"\n[{name}]\n")
        for e in items:
            assert len(e) <= LIMIT and "\\" not in e, e
            assert not e.startswith(("#", "!")), e
            assert not re.fullmatch(r"\[[a-z0-9_-]+\]", e), e
            w(e + "\n")
    w("\n[hostile]\n")
    for e, why in hostile_items():
        assert len(e.encode().decode("unicode_escape")) <= LIMIT, e[:20]
        if why:
            w(f"!nopy {why}\n")
        w(e + "\n")


if __name__ == "__main__":
    main()
