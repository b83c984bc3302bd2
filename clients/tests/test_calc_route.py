# SPDX-License-Identifier: MIT
"""The split: calc-cli --addsub H:P --muldiv H:P evaluates across the two role
servers and answers exactly what one server of every operator answers, and
each role server only ever receives its own operators."""
import ast
import random
import re

import pytest

from conftest import run_calc

HOP = re.compile(r"^calc-cli: hop \d+: (addsub|muldiv) (\S+): (.*) => (.*)$")
ADDSUB_OPS = (ast.Add, ast.Sub)


def op_classes(text):
    """The operator classes Python's own parser finds in a request (a tag
    or padding after '#' is a comment to it)."""
    c = set()
    for node in ast.walk(ast.parse(text.strip(), mode="eval")):
        if isinstance(node, ast.BinOp):
            c.add("addsub" if isinstance(node.op, ADDSUB_OPS) else "muldiv")
    return c


# ---- random mixed expressions ------------------------------------------

LEAVES = ["0", "1", "2", "3", "5", "7", "10", "12", "100", "0.5", "2.5",
          "0.1", "3.", ".25", "1e-5", "1e308", "1e-320", "7e22",
          "123456789012345678901234567890", "0x1f", "1_000", "0.0", "9"]
EXPONENTS = ["0", "1", "2", "3", "-1", "-2", "0.5", "(-2)", "(1+1)", "2*1",
             "-0.5", "(3-1)", "1.5"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "+", "-", "*"]


def gen(rng, depth):
    r = rng.random()
    if depth <= 0 or r < 0.25:
        return rng.choice(LEAVES)
    if r < 0.33:
        return rng.choice(["-", "+", "-"]) + gen(rng, depth - 1)
    if r < 0.45:
        return "(" + gen(rng, depth - 1) + ")"
    op = rng.choice(OPS)
    sp = rng.choice(["", "", " "])
    left = gen(rng, depth - 1)
    right = rng.choice(EXPONENTS) if op == "**" else gen(rng, depth - 1)
    return f"{left}{sp}{op}{sp}{right}"


def mixed_expressions(seed, count):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        e = gen(rng, rng.randint(2, 6))
        if len(op_classes(e)) == 2:  # both classes: a real split
            out.append(e)
    return out


# ---- helpers ------------------------------------------------------------

def ask_all(server, exprs, proto="--tcp"):
    r = run_calc([proto, "-s", server.addr], stdin="".join(e + "\n" for e in exprs),
                 timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout.split("\n")[:-1]


def ask_split(addsub, muldiv, exprs, proto="--tcp", verbose=True):
    args = [proto, "--addsub", addsub.addr, "--muldiv", muldiv.addr]
    if verbose:
        args.append("-v")
    r = run_calc(args, stdin="".join(e + "\n" for e in exprs), timeout=120)
    assert r.returncode in (0, 1), r.stderr
    hops = [HOP.match(l) for l in r.stderr.splitlines()]
    return r.stdout.split("\n")[:-1], [h.groups() for h in hops if h]


def assert_same(exprs, want, got):
    assert len(got) == len(want)
    bad = [(e, w, g) for e, w, g in zip(exprs, want, got) if w != g]
    assert not bad, "split differs from the all-operator server:\n" + \
        "\n".join(f"  {e!r}: all={w!r} split={g!r}" for e, w, g in bad[:10])


def assert_roles(addsub, muldiv, hops):
    """Each hop went to the server of its class; each role server received
    only its own operators (its -v log) and never refused a request."""
    for role, _, req, _ in hops:
        assert op_classes(req) <= {role}, (role, req)
    for srv, role in ((addsub, "addsub"), (muldiv, "muldiv")):
        reqs = srv.requests()
        assert len(reqs) == sum(1 for h in hops if h[0] == role), role
        for _, req, reply in reqs:
            assert not reply.startswith("ERR unsupported"), (role, req, reply)
            if not req.endswith("..."):  # the log shows 80 bytes at most
                assert op_classes(req) <= {role}, (role, req)


@pytest.fixture(scope="module")
def servers():
    from conftest import Calcd
    s = (Calcd(), Calcd("--role", "addsub", "-v"), Calcd("--role", "muldiv", "-v"))
    yield s
    for x in s:
        x.stop()


# ---- tests --------------------------------------------------------------

def test_differential_1200_random_mixed_expressions(calcd_factory):
    exprs = mixed_expressions(seed=20240601, count=1200)
    everything = calcd_factory()
    addsub = calcd_factory("--role", "addsub", "-v")
    muldiv = calcd_factory("--role", "muldiv", "-v")
    want = ask_all(everything, exprs)
    got, hops = ask_split(addsub, muldiv, exprs)
    assert_same(exprs, want, got)
    # the split really happened, on both servers
    assert sum(1 for h in hops if h[0] == "addsub") > 1000
    assert sum(1 for h in hops if h[0] == "muldiv") > 1000
    addsub.stop()
    muldiv.stop()
    assert_roles(addsub, muldiv, hops)
    # and the answers are not all errors
    assert sum(1 for w in want if not w.startswith("ERR")) > 600


def test_differential_over_udp(servers):
    everything, addsub, muldiv = servers
    exprs = mixed_expressions(seed=7, count=300)
    want = ask_all(everything, exprs, "--tcp")
    got, hops = ask_split(addsub, muldiv, exprs, "--udp")
    assert_same(exprs, want, got)
    assert all(op_classes(req) <= {role} for role, _, req, _ in hops)


EDGE = [
    "3+4*2",                      # the assignment's example: 11
    "3 + 4*2 # a comment",
    "(1+2)*(3+4) - 2**-1",
    "1e308*10 - 1e308*10",        # inf - inf: nan, carried as 1e309-1e309
    "(1e308*10 - 1e308*10) * 2",  # nan into the muldiv server
    "-(1e308*10) + 1",            # -inf
    "(1e308*10 - 1e308*10) ** 0 + 1",
    "1 - (1e308*10 - 1e308*10)",
    "(0.0*-1) - 0.0",             # -0.0 survives
    "(1-3)**2", "-(1-3)**2", "(1-3)**0.5", "(1-3)**-1",
    "(10**20+1)*(10**20-1)",
    "2**(1+2)**2", "(2-4)**(1+2)",
    "(1/0) + (2//0)",             # the left error is the answer
    "(1+1/0) * (2**-1 - 1//0)",
    "(2**-1 - 1//0) * (1+1/0)",
    "(1 - 2**10000.0) + (1/0)",   # overflow comes first
    "1e308 * (10 - 9) + 1e308",
    "5", "-(3)", "--5", "0x_ff", "+(2)",
    "1+", "2^3", "", "(", "1 + foo",
    "7 // (3 - 3) + 1", "7.5 % (2 - 4)", "-7 // 2 + 0.5",
    "(1 +\r 2) * 3",
]


def test_edge_cases(servers):
    everything, addsub, muldiv = servers
    for proto in ("--tcp", "--udp"):
        want = ask_all(everything, EDGE, proto)
        got, _ = ask_split(addsub, muldiv, EDGE, proto, verbose=False)
        assert_same(EDGE, want, got)
    assert want[0] == "11"
    assert want[3] == "nan" and want[8] == "-0.0"


def test_long_expression_after_substitution(servers):
    """900 terms of 1/3: each answer (0.3333333333333333) is longer than its
    source, so the sum no longer fits one request; calc sends it in parts
    (of the same class, so no value changes)."""
    everything, addsub, muldiv = servers
    exprs = ["+".join(["1/3"] * 900), "-".join(["2**0.5"] * 500) + "*1"]
    assert all(len(e) <= 4096 for e in exprs)
    for proto in ("--tcp", "--udp"):
        want = ask_all(everything, exprs, proto)
        got, hops = ask_split(addsub, muldiv, exprs, proto)
        assert_same(exprs, want, got)
        assert all(len(req) <= 4096 for _, _, req, _ in hops)
        assert not any(rep.startswith("ERR") for _, _, _, rep in hops)


def test_hops_are_shown_with_v(servers):
    _, addsub, muldiv = servers
    r = run_calc(["-v", "--addsub", addsub.addr, "--muldiv", muldiv.addr,
                  "3+4*2"])
    assert (r.returncode, r.stdout) == (0, "11\n")
    assert r.stderr.splitlines() == [
        f"calc-cli: hop 1: muldiv {muldiv.addr}: 4*2 => 8",
        f"calc-cli: hop 2: addsub {addsub.addr}: 3+8 => 11",
    ]


def test_error_from_a_hop_is_the_answer(servers):
    _, addsub, muldiv = servers
    r = run_calc(["--addsub", addsub.addr, "--muldiv", muldiv.addr,
                  "1 + 2/(3-3)"])
    assert (r.returncode, r.stdout) == (1, "ERR zero-division: division by zero\n")


def test_role_server_down(servers):
    _, addsub, _ = servers
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_calc(["--addsub", addsub.addr, "--muldiv", f"127.0.0.1:{port}",
                  "3+4*2"])
    assert r.returncode == 3 and r.stdout == ""
    assert f"the muldiv server at 127.0.0.1:{port}" in r.stderr


def test_roles_swapped_is_reported_not_hidden(servers):
    """Servers given in the wrong roles refuse their hops: the refusal is
    the answer (calc does not hide a misconfiguration)."""
    _, addsub, muldiv = servers
    r = run_calc(["--addsub", muldiv.addr, "--muldiv", addsub.addr, "3+4*2"])
    assert r.returncode == 1
    assert r.stdout.startswith("ERR unsupported: this server (addsub)")


def test_int_too_long_to_carry_is_a_documented_limit(servers):
    """An intermediate int over 4300 digits has no reply that carries it
    (the server's str() limit): the hop's too-large error is the answer,
    and calc says why it may differ from a server of every operator."""
    everything, addsub, muldiv = servers
    e = "(10**4400 + 1) // 10**4399"
    assert ask_all(everything, [e]) == ["10"]
    r = run_calc(["--addsub", addsub.addr, "--muldiv", muldiv.addr, e])
    assert r.returncode == 1
    assert r.stdout == "ERR too-large: integer result has more than 4300 digits\n"
    assert "cannot carry an intermediate int of more than 4300 digits" in r.stderr
