# SPDX-License-Identifier: MIT
"""Run the expression core under valgrind: calc-eval over a corpus of
valid, error and hostile requests (plus generated ones: a 1 MB line, 100000
'(', NUL bytes, invalid UTF-8), in each role and with the UDP bound, and
the C unit test binaries.  Any memory error or definite/indirect leak fails.

Exit 0 on success, 1 on failure, 77 (ctest: skipped) without valgrind.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

VALGRIND = ["valgrind", "-q", "--leak-check=full", "--error-exitcode=99",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect"]


def corpus_input(path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines += [
        b"1" * (1 << 20),                      # 1 MB request
        b"(" * 100000,                         # 100000 '('
        b"(" * 4096,                           # too deep, within length
        b"(" * 200 + b"1" + b")" * 200,        # deepest allowed
        b"1" + b"+1" * 2047 + b" ",            # 4096 bytes exactly
        b"1" + b"+1" * 2047 + b"  ",           # 4097 bytes
        b"-" * 4095 + b"1",
        b"9" * 4096,
        b"0x" + b"f" * 4094,
        b"1\x00+2",
        b"\x00" * 64,
        b"\xff\xfe",
        b"1+\xc3\x28",
        b"\xed\xa0\x80",
        b"\xef\xbc\x91",
        b"3**41348%1000+" * 50 + b"1",
    ]
    return lines


def run(label, argv, stdin=None, env=None, expect_lines=None):
    t0 = time.monotonic()
    p = subprocess.run(VALGRIND + argv, input=stdin, capture_output=True,
                       env=env, timeout=300)
    dt = time.monotonic() - t0
    ok = p.returncode != 99 and p.returncode < 128
    replies = p.stdout.count(b"\n")
    if expect_lines is not None and replies != expect_lines:
        print(f"{label}: {replies} replies for {expect_lines} requests")
        ok = False
    print(f"{label}: exit {p.returncode}, {dt:.1f} s, "
          f"{'ok' if ok else 'FAILED'}")
    if not ok or p.returncode == 99:
        sys.stdout.write(p.stderr.decode(errors="replace")[-8000:])
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calc-eval", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--unit", action="append", default=[])
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not installed: skipped")
        return 77

    lines = corpus_input(a.corpus)
    data = b"".join(line + b"\n" for line in lines)
    ok = True
    # Short options: this checks memory, not option parsing.
    for extra in ([], ["-r", "addsub", "-u"], ["-r", "muldiv"]):
        ok &= run("calc-eval " + " ".join(extra), [a.calc_eval] + extra,
                  stdin=data, expect_lines=len(lines))
    ok &= run("calc-eval (arguments)",
              [a.calc_eval, "15*15", "2**-1", "1/0", "007", "10**4300",
               "9**9**9**9", ""], expect_lines=7)
    env = dict(os.environ, CALC_TEST_TIME_SCALE="200",
               G_SLICE="always-malloc", G_DEBUG="gc-friendly")
    for unit in a.unit:
        ok &= run(os.path.basename(unit), [unit], env=env)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
