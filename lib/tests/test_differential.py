# SPDX-License-Identifier: MIT
"""Differential test: calc-eval against Python 3's repr(eval(e)).

A seeded generator writes random arithmetic expressions (every operator,
every literal form, signs, parentheses, blanks, tiny to huge magnitudes,
mutated near-misses, inputs at the length and depth limits).  All of them go
through ONE calc-eval process; each reply must equal, byte for byte, what
Python 3 answers: str() of an int, repr() of a float, or, where Python raises
(or gives a complex number, or an int it cannot print), an error of the
matching kind.

Python is asked through an AST walker, never eval(): the walker applies
Python's own operators to Python's own values, but predicts the size of an
int ** int first, so no case can hang.

Documented exclusions (narrow, on purpose):
  * An intermediate int beyond CALC_MAX_INT_BITS (65536) bits is
    "ERR too-large" even where Python would go on to a value (2**70000//2**69999):
    the core bounds every intermediate value.
  * The big-int work of one request is bounded too (CALC_MAX_WORK limb
    operations, lib/calc_num.c's cost model): the walker charges the same
    costs; well past the budget calc must answer "ERR too-large", within
    +-25% of it (where the two cost models may round apart) either answer
    is accepted.
  * Inputs over CALC_MAX_REQUEST_LEN (4096) bytes are "ERR too-long".
  * Where Python's own parser gives up on deep input (MemoryError,
    RecursionError: a CPython limit, not arithmetic) there is no oracle; the
    generator keeps such inputs rare and they are counted, not compared.
  * A request that is both malformed and uses a construct the core refuses
    as "unsupported" (a name, '.', a call, '()') may get either kind: the
    core reports the first problem it meets, left to right.

Environment: CALC_EVAL (the binary, from ctest), CALC_DIFF_SEED (default:
time-based, always printed), CALC_DIFF_COUNT (default 20000).
"""
import ast
import io
import math
import os
import random
import struct
import subprocess
import sys
import time
import tokenize
import warnings

import pytest

CALC_MAX_REQUEST_LEN = 4096
CALC_MAX_DEPTH = 200
CALC_MAX_DIGITS = 4300
CALC_MAX_INT_BITS = 65536
CALC_MAX_WORK = 1 << 23

KINDS = ("syntax", "unsupported", "zero-division", "overflow", "domain",
         "too-large", "too-long", "too-deep")

if hasattr(sys, "set_int_max_str_digits"):  # Python's default, made sure
    sys.set_int_max_str_digits(CALC_MAX_DIGITS)
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


# ---- the oracle ---------------------------------------------------------------

class Refused(Exception):
    """Python (or the documented bound) refuses: calc must answer ERR kind."""

    def __init__(self, kind, excluded=None):
        super().__init__(kind)
        self.kind = kind
        self.excluded = excluded  # why Python itself would differ, or None


class NoOracle(Exception):
    """Python's parser gave up (a CPython limit): nothing to compare."""


class Work:
    """lib/calc_num.c's work budget, mirrored: limb operations charged for
    each int operation that leaves the int64 fast path."""

    def __init__(self):
        self.spent = 0
        self.near = False  # within the budget's tolerance band at some point

    def charge(self, units):
        self.spent += units
        if self.spent > CALC_MAX_WORK * 1.25:
            raise Refused("too-large", "work")
        if self.spent > CALC_MAX_WORK * 0.8:
            self.near = True


_work = Work()


def _small(v):
    return -2**63 <= v < 2**63


def _limbs(v):
    return 1 if _small(v) else (abs(v).bit_length() + 63) // 64


def _div_cost(la, lb):
    return 3 * (la - lb + 1 if la > lb else 1) * lb + la


def _charge(op, a, b):
    """Charge what the core charges for int a <op> int b."""
    if not (isinstance(a, int) and isinstance(b, int)):
        return
    la, lb = _limbs(a), _limbs(b)
    if op is ast.Pow:
        if b <= 0 or abs(a) <= 1:
            return
        if _small(a) and b * math.log2(abs(a)) < 64 and _small(a ** b):
            return  # the int64 fast path
        tz = (abs(a) & -abs(a)).bit_length() - 1
        bits = math.log2(abs(a)) * b
        odd = bits - tz * b
        rl, ol = int(bits / 64) + 1, int(odd / 64) + 1
        _work.charge(ol * ol // 2 + rl)
        return
    if op is ast.Div:
        if abs(a) <= 2**53 and abs(b) <= 2**53 or b == 0 or a == 0:
            return
        _work.charge(_div_cost(max(la, lb + 1), lb))
        return
    if _small(a) and _small(b):
        if op is ast.Mult and _small(a * b) or \
                op in (ast.Add, ast.Sub) and _small(a + b if op is ast.Add
                                                    else a - b) or \
                op in (ast.FloorDiv, ast.Mod) and not (a == -2**63 and b == -1):
            return
    if op is ast.Mult:
        _work.charge(la * lb)
    elif op in (ast.FloorDiv, ast.Mod):
        if b != 0:
            _work.charge(_div_cost(la, lb))
    elif op in (ast.Add, ast.Sub):
        _work.charge(la + lb)


def _int_check(v):
    if isinstance(v, int) and v.bit_length() > CALC_MAX_INT_BITS:
        raise Refused("too-large", "intermediate-bits")
    return v


def _pow_size_check(a, b):
    low = (abs(a).bit_length() - 1) * b + 1  # bits of |a|**b >= low
    if b > CALC_MAX_INT_BITS or low > CALC_MAX_INT_BITS:
        raise Refused("too-large", "intermediate-bits")


def _pow(a, b):
    """a ** b, refusing an int result over the bound before computing it."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _pow_size_check(a, b)
    return a ** b


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,  # operands are bounded: cheap
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: _pow,
}


def _unsupported_nodes(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp,
                             ast.operator, ast.unaryop, ast.expr_context)):
            if isinstance(node, ast.BinOp) and type(node.op) not in _BINOPS:
                return True
            if isinstance(node, ast.UnaryOp) and not isinstance(
                    node.op, (ast.UAdd, ast.USub)):
                return True
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        return True
    return False


def _walk(node):
    if isinstance(node, ast.Constant):
        return _int_check(node.value)
    if isinstance(node, ast.UnaryOp):
        v = _walk(node.operand)
        return -v if isinstance(node.op, ast.USub) else +v
    a = _walk(node.left)
    b = _walk(node.right)
    if type(node.op) is ast.Pow and isinstance(a, int) and \
            isinstance(b, int) and b > 0 and abs(a) > 1:
        _pow_size_check(a, b)  # the size check comes before the charge
    _charge(type(node.op), a, b)
    try:
        v = _BINOPS[type(node.op)](a, b)
    except ZeroDivisionError:
        raise Refused("zero-division")
    except OverflowError:
        raise Refused("overflow")
    if isinstance(v, complex):
        raise Refused("domain")
    return _int_check(v)


def _tokens(src):
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(src).readline):
            out.append(t)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return out


def _refusable(src):
    """Whether src holds a construct the core refuses as unsupported: a name
    standing on its own (not glued to a number: '1e' is a bad literal), a
    '.' that is no part of a number, a call, or '()'."""
    prev = None
    for t in _tokens(src):
        if t.type == tokenize.NAME:
            glued = (prev is not None and prev.type == tokenize.NUMBER
                     and prev.end == t.start)
            if not glued:
                return True
        if t.type == tokenize.OP and t.string in (".", "..."):
            return True
        if t.type == tokenize.OP and t.string == "(" and prev is not None and (
                prev.type == tokenize.NUMBER or prev.string == ")"):
            return True  # a call
        if t.type == tokenize.OP and t.string == ")" and prev is not None and (
                prev.string == "("):
            return True  # an empty tuple
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            prev = t
    return False


def _max_depth(src):
    d = m = 0
    for ch in src:
        if ch == "(":
            d += 1
            m = max(m, d)
        elif ch == ")":
            d -= 1
    return m


def expect(src):
    """What calc must answer for src: ("value", text) or ("error", kinds,
    exclusion-or-None).  Raises NoOracle where Python's parser gives up."""
    if len(src.encode()) > CALC_MAX_REQUEST_LEN:
        return ("error", {"too-long"}, "length")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Like builtin eval(), which skips leading blanks of a string.
            tree = ast.parse(src.lstrip(" \t"), mode="eval")
    except SyntaxError as e:
        msg = str(e.msg)
        if "too many nested parentheses" in msg:
            kinds = {"too-deep"}
        elif "Exceeds the limit" in msg:
            kinds = {"too-large"}
        else:
            kinds = {"syntax"}
            if _max_depth(src) > CALC_MAX_DEPTH:
                kinds.add("too-deep")
        if _refusable(src):
            kinds.add("unsupported")
        return ("error", kinds, None)
    except (MemoryError, RecursionError):
        raise NoOracle(src)
    if _unsupported_nodes(tree):
        return ("error", {"unsupported"}, None)
    global _work
    _work = Work()
    try:
        v = _walk(tree.body)
    except Refused as r:
        kinds = {r.kind}
        if _work.near:
            kinds.add("too-large")
        return ("error", kinds, r.excluded)
    if _work.near:  # either the value or the budget's error
        return ("either", {"too-large"}, "work", v)
    return _value(v)


def _value(v):
    if isinstance(v, int):
        try:
            return ("value", str(v))
        except ValueError:  # over 4300 digits
            return ("error", {"too-large"}, None)
    return ("value", repr(v))


# ---- the generator ------------------------------------------------------------

BLANKS = ["", "", "", "", " ", " ", "  ", "\t", " \t"]
SOUP = "0123456789_.eExXoObBaAfF+-*/%() \t"

# Hand-picked cases that every run checks (the rest is random).
FIXED = [
    "00", "0_0", "000", "007.5", "1.e5", ".5", "3.", "1e1_0", "007", "0_7",
    "1__0", "1_", "0b", "0x", "0o", "0x_ff", "0b_1", "0o_7", "1.5j", "1e",
    "1e+", "1._", "0__0", "0b102", "09", "09.5", "0_x1", "-2**2", "2**-1",
    "2**3**2", "--1", "+-+1", "-7.0//2", "7.0%-2", "0.0%-5", "1//0.1",
    "1%0.1", "-5%1e309", "5%-1e309", "(2**1024)/3", "(2**53+1)/1",
    "2**1024/1", "2**-1", "0**-1", "1e308*10", "2.0**10000", "1e16", "1e15",
    "1e-4", "1e-5", "-0.0", "1e309", "-1e309", "1e309-1e309", "2**60*1.0",
    "1/0", "1//0", "1%0", "1.0/0", "1.0//0", "1.0%0", "(-8)**(1/3)",
    "10**4299", "10**4300", "-10**4299", "10**4300-1", "9**9**9**9",
    "2**65535//2**65534", "2**65536//2**65535", "3**41348%1000",
    "3**41349%1000", "(2**32768)*(2**32767)//2**65535", "2**70000*1.0",
    "2**1024*1.0", "(10**400)**-1", "1 .real", "..5", "1 e5", "e", "()",
    "(1)(2)", "1(", "1 2", "1+", "(1", "1)", "", " ", "\t", "1 + 2 #x",
    "\t1 +\t2", "(-1)**0.5", "(-2)**1e309", "0.0**-1e309", "5e-324",
    "2e-324", "1.7976931348623157e308", "1.7976931348623159e308",
    "-9223372036854775808//-1", "9223372036854775807+1",
    "(" * 200 + "1" + ")" * 200, "(" * 201 + "1" + ")" * 201,
    "1" + "+1" * 2047 + " ", "1" + "+1" * 2047 + "  ",
]


class Gen:
    def __init__(self, rng):
        self.r = rng

    def digits(self, n, alphabet="0123456789", first=None):
        r = self.r
        s = (first or r.choice("123456789")) + "".join(
            r.choice(alphabet) for _ in range(n - 1))
        return s

    def underscored(self, s):
        r = self.r
        if len(s) < 2 or r.random() < 0.7:
            return s
        out = s[0]
        for ch in s[1:]:
            if r.random() < 0.3:
                out += "_"
            out += ch
        return out

    def int_literal(self):
        r = self.r
        k = r.random()
        if k < 0.35:
            return str(r.randint(0, 20))
        if k < 0.45:
            return r.choice(["0", "00", "0_0", "000", "1", "2", "10"])
        if k < 0.75:
            n = r.choice([1, 2, 3, 5, 9, 10, 15, 18, 19, 20, 30, 40, 80, 200])
            return self.underscored(self.digits(n))
        if k < 0.78:
            return self.underscored(self.digits(r.randint(300, 1500)))
        base = r.choice("xob")
        alpha = {"x": "0123456789abcdefABCDEF", "o": "01234567",
                 "b": "01"}[base]
        n = r.choice([1, 2, 4, 8, 16, 17, 33, 64, 200])
        body = self.underscored("".join(r.choice(alpha) for _ in range(n)))
        lead = "_" if r.random() < 0.15 else ""
        return "0" + (base.upper() if r.random() < 0.3 else base) + lead + body

    def float_literal(self):
        r = self.r
        k = r.random()
        if k < 0.08:
            return r.choice([
                "1e309", "5e-324", "2.2250738585072014e-308",
                "1.7976931348623157e308", "4.9e-324", "0.1", "0.5", "1e16",
                "1e15", "1e-5", "1e-4", "0.0", "1e22", "1e23", "2.5e-324",
                "9007199254740993.0", "1e-320", "8.98846567431158e307"])
        mant_digits = r.choice([1, 1, 2, 3, 5, 8, 15, 16, 17, 20])
        intpart = self.digits(mant_digits, first=r.choice("0123456789"))
        if r.random() < 0.1:
            intpart = "0" + intpart  # leading zeros are fine in floats
        exp_kind = r.random()
        if exp_kind < 0.4:
            exp = None
        elif exp_kind < 0.75:
            exp = r.randint(-20, 20)
        elif exp_kind < 0.87:
            exp = r.randint(290, 320)
        else:
            exp = -r.randint(300, 345)
        form = r.random()
        cut = r.randint(0, len(intpart))
        if form < 0.45:
            text = intpart[:cut] + "." + intpart[cut:]
            if text == ".":
                text = "0."
        elif form < 0.6:
            text = "." + intpart
        elif form < 0.7:
            text = intpart + "."
        else:
            text = intpart
            if exp is None:
                exp = r.randint(-5, 5)
        text = self.underscored_float(text)
        if exp is not None:
            if exp < 0:
                sign = "-"
            else:
                sign = "+" if r.random() < 0.3 else ""
            text += r.choice("eE") + sign + self.underscored(str(abs(exp)))
        return text

    def underscored_float(self, text):
        if "." not in text:
            return self.underscored(text)
        a, b = text.split(".")
        return self.underscored(a) + "." + self.underscored(b)

    def literal(self):
        return self.float_literal() if self.r.random() < 0.35 else \
            self.int_literal()

    # Trees: ("num", text) | ("un", op, x) | ("bin", op, x, y)
    def tree(self, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.3:
            if r.random() < 0.06:  # a power with a sizeable result
                return ("bin", "**", ("num", str(r.randint(2, 99))),
                        ("num", str(r.choice([r.randint(50, 700),
                                              r.randint(700, 12000)]))))
            return ("num", self.literal())
        k = r.random()
        if k < 0.15:
            return ("un", r.choice("+-"), self.tree(depth - 1))
        op = r.choice(["+", "-", "*", "/", "//", "%", "**", "**"])
        left = self.tree(depth - 1)
        if op == "**" and r.random() < 0.7:
            right = ("num", str(r.choice([0, 1, 2, 3, 5, 7, 10, 30, 64, 100,
                                          r.randint(0, 400)])))
            if r.random() < 0.3:
                right = ("un", "-", right)
            if r.random() < 0.2:
                right = ("num", self.float_literal())
        else:
            right = self.tree(depth - 1)
        return ("bin", op, left, right)

    # Python's grammar levels: 1 + -, 2 * / // %, 3 unary, 4 **, 5 atom.
    LEVEL = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "**": 4}

    def render(self, t, need=0):
        r = self.r
        b = lambda: r.choice(BLANKS)  # noqa: E731
        if t[0] == "num":
            text, level = t[1], 5
        elif t[0] == "un":
            text, level = t[1] + b() + self.render(t[2], 3), 3
        else:
            op = t[1]
            lv = self.LEVEL[op]
            if op == "**":
                lt, rt = self.render(t[2], 5), self.render(t[3], 3)
            else:
                lt, rt = self.render(t[2], lv), self.render(t[3], lv + 1)
            text, level = lt + b() + op + b() + rt, lv
        if level < need or r.random() < 0.08:
            text = "(" + b() + text + b() + ")"
        return text

    def mutate(self, s):
        r = self.r
        alphabet = SOUP
        for _ in range(r.randint(1, 3)):
            i = r.randint(0, len(s))
            k = r.random()
            if k < 0.4:
                s = s[:i] + r.choice(alphabet) + s[i:]
            elif k < 0.7 and s:
                s = s[:i] + s[i + 1:]
            elif k < 0.9 and s:
                s = s[:i] + r.choice(alphabet) + s[i + 1:]
            else:
                j = r.randint(0, len(s))
                s = s[:i] + s[min(i, j):max(i, j)] + s[i:]
        return s

    def at_length(self):
        """A long sum padded to 4094..4098 bytes."""
        r = self.r
        target = r.randint(CALC_MAX_REQUEST_LEN - 2, CALC_MAX_REQUEST_LEN + 2)
        s = self.render(self.tree(1))
        while len(s) < target - 40:
            s += r.choice(BLANKS) + r.choice("+-") + self.render(self.tree(1))
        while len(s) + 2 <= target:
            s += "+1"
        s = s + " " * (target - len(s))
        if s.rstrip() != s and r.random() < 0.5:
            s = " " * (len(s) - len(s.rstrip())) + s.rstrip()
        return s

    def at_depth(self):
        """An expression inside 198..202 nested parentheses."""
        r = self.r
        depth = r.randint(CALC_MAX_DEPTH - 2, CALC_MAX_DEPTH + 2)
        unit = r.choice(["(", "-(", "(1+", "(2*", "+(", "(0.5-"])
        inner = self.render(self.tree(1))
        return unit * depth + inner + ")" * depth

    def any_double(self):
        """Any finite double (random bits: subnormals and extremes too),
        written in one of several decimal forms."""
        r = self.r
        while True:
            x = abs(struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0])
            if x == x and x != float("inf"):
                break
        form = r.random()
        if form < 0.5:
            return repr(x)
        return "%.*e" % (r.randint(0, 25), x)

    def big_int(self):
        r = self.r
        return str(r.getrandbits(r.choice([54, 64, 200, 1023, 1024, 1100, 3000]))
                   + r.randint(0, 3))

    def numeric(self):
        """Rounding-sensitive arithmetic: doubles from random bits, big ints
        divided or converted (correct rounding at every size)."""
        r = self.r
        k = r.random()
        if k < 0.35:
            return self.any_double()
        if k < 0.6:
            return (self.any_double() + r.choice(["+", "-", "*", "/", "//",
                                                  "%", "**"])
                    + self.any_double())
        if k < 0.85:
            return self.big_int() + r.choice(["/", "/", "//", "%"]) + \
                self.big_int()
        return self.big_int() + r.choice(["*", "+", "-", "/"]) + \
            self.any_double()

    def expression(self):
        r = self.r
        k = r.random()
        if k < 0.005:
            return self.at_length()
        if k < 0.01:
            return self.at_depth()
        if k < 0.08:
            return self.numeric()
        if k < 0.1:  # short strings over the arithmetic alphabet
            return "".join(r.choice(SOUP) for _ in range(r.randint(1, 10)))
        s = self.render(self.tree(r.randint(1, 5)))
        if r.random() < 0.05:
            s = r.choice(BLANKS) + s + r.choice(BLANKS)
        if k < 0.13:
            s = self.mutate(s)
        return s


# ---- the test -------------------------------------------------------------------

def _calc_eval():
    path = os.environ.get("CALC_EVAL")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("CALC_EVAL (path of calc-eval) not set; run through ctest")
    return path


def _matches(want, got):
    if want[0] == "either":
        return _matches(("error", want[1]), got) or _matches(_value(want[3]),
                                                             got)
    if want[0] == "value":
        return got == want[1]
    # Over TCP (no --udp) an error always carries its message.
    return any(got.startswith("ERR " + k + ": ") and
               len(got) > len(k) + 6 for k in want[1])


def _show(want):
    if want[0] == "value":
        return want[1][:200]
    return "ERR " + "|".join(sorted(want[1]))


def test_against_python():
    calc_eval = _calc_eval()
    env_seed = os.environ.get("CALC_DIFF_SEED")
    seed = int(env_seed) if env_seed else int(time.time() * 1000) % 10**9
    count = int(os.environ.get("CALC_DIFF_COUNT", "20000"))
    print(f"differential: seed {seed} (CALC_DIFF_SEED={seed} to replay), "
          f"{count} random + {len(FIXED)} fixed expressions")

    gen = Gen(random.Random(seed))
    exprs = list(FIXED)
    for _ in range(count):
        s = gen.expression()
        # One expression per line: never a line break (the generator makes
        # none) and never a trailing tag "#digits" (no '#' either).
        assert "\n" not in s and "\r" not in s and "#" not in s
        exprs.append(s)

    t0 = time.monotonic()
    wants, no_oracle = [], 0
    for s in exprs:
        try:
            wants.append(expect(s))
        except NoOracle:
            wants.append(None)
            no_oracle += 1
    t_py = time.monotonic() - t0

    t0 = time.monotonic()
    data = "".join(s + "\n" for s in exprs).encode()
    proc = subprocess.run([calc_eval], input=data, capture_output=True,
                          timeout=120)
    t_calc = time.monotonic() - t0
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    got = proc.stdout.decode("utf-8", errors="replace").split("\n")
    assert got[-1] == "", "calc-eval output does not end with a newline"
    got = got[:-1]
    assert len(got) == len(exprs), \
        f"seed {seed}: {len(exprs)} expressions but {len(got)} replies"

    stats = {"value": 0, "excluded-bits": 0, "too-long": 0}
    kinds_seen = set()
    mismatches = []
    for s, w, g in zip(exprs, wants, got):
        if w is None:
            continue
        if w[0] == "value":
            stats["value"] += 1
        else:
            if len(w[1]) == 1:
                kinds_seen |= w[1]
            if w[2] == "intermediate-bits":
                stats["excluded-bits"] += 1
        if not _matches(w, g):
            mismatches.append((s, w, g))

    print(f"python oracle {t_py:.2f} s, calc-eval {t_calc:.2f} s; "
          f"{stats['value']} values, kinds {sorted(kinds_seen)}, "
          f"{stats['excluded-bits']} over {CALC_MAX_INT_BITS} bits, "
          f"{no_oracle} without oracle")
    if mismatches:
        lines = [f"seed {seed}: {len(mismatches)} mismatches of {len(exprs)} "
                 f"(replay: CALC_DIFF_SEED={seed} CALC_DIFF_COUNT={count})"]
        for s, w, g in mismatches[:25]:
            shown = s if len(s) <= 160 else s[:160] + f"... ({len(s)} bytes)"
            lines.append(f"  {shown!r}\n      python: {_show(w)}\n"
                         f"      calc:   {g[:200]}")
        pytest.fail("\n".join(lines), pytrace=False)

    # The corpus really covered the ground (a generator that drifted into
    # producing only errors, or only small ints, would prove little).
    assert stats["value"] >= len(exprs) // 3, stats
    missing = set(KINDS) - kinds_seen
    assert not missing, f"seed {seed}: no case produced ERR {missing}"
    assert no_oracle <= len(exprs) // 100, no_oracle
