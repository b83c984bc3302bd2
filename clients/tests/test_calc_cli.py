# SPDX-License-Identifier: MIT
"""calc-cli: one-shot and batch modes, options, exit codes, network failures,
TCP reconnect, and UDP replies the bound shortened."""
import socket
import time

import pytest

from conftest import Calcd, free_port, run_calc


def test_one_shot(calcd_all):
    r = run_calc(["--server", calcd_all.addr, "15*15"])
    assert (r.returncode, r.stdout, r.stderr) == (0, "225\n", "")


def test_one_shot_several_and_udp(calcd_all):
    for proto in ("--tcp", "--udp"):
        r = run_calc([proto, "-s", calcd_all.addr, "30+30", "2**-1", "7//-2"])
        assert (r.returncode, r.stdout) == (0, "60\n0.5\n-4\n"), proto


def test_expression_that_looks_like_an_option(calcd_all):
    # "-2**2" is an expression, not options -2 ...; "--" ends options too
    r = run_calc(["-s", calcd_all.addr, "-2**2", "--", "-(1+2)", "--5"])
    assert (r.returncode, r.stdout) == (0, "-4\n-3\n5\n")


def test_ipv6_server():
    s = Calcd("--bind", "::1")
    try:
        r = run_calc(["--server", f"[::1]:{s.port}", "2**10"])
        assert (r.returncode, r.stdout) == (0, "1024\n")
        r = run_calc(["--udp", "--server", f"[::1]:{s.port}", "2**10"])
        assert (r.returncode, r.stdout) == (0, "1024\n")
    finally:
        s.stop()


def test_batch_one_reply_per_line_no_prompt(calcd_all):
    lines = "1+1\r\n2*3\n\n7/2\n1/0\n0x_ff"  # CRLF, empty line, no final LF
    for proto in ("--tcp", "--udp"):
        r = run_calc([proto, "-s", calcd_all.addr], stdin=lines)
        assert r.stdout == ("2\n6\nERR syntax: empty expression\n3.5\n"
                            "ERR zero-division: division by zero\n255\n"), proto
        assert "->" not in r.stdout
        assert r.returncode == 1  # some answers were errors


def test_batch_many_lines_pipelined(calcd_all):
    n = 500
    text = "".join(f"{i}*{i}\n" for i in range(n))
    for proto in ("--tcp", "--udp"):
        r = run_calc([proto, "-s", calcd_all.addr], stdin=text)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "".join(f"{i * i}\n" for i in range(n)), proto


def test_batch_answers_each_line_as_it_comes(calcd_all, feeder):
    """A program feeding calc one line at a time gets each answer before
    it writes the next line (no read-ahead deadlock)."""
    f = feeder("-s", calcd_all.addr)
    for i in range(5):
        assert f.ask(f"{i}+{i}") == f"{2 * i}\n"
    assert f.finish() == (0, "", "")


def test_udp_reply_over_the_bound_is_fetched_whole(calcd_all):
    # A bare UDP request would get "ERR too-large: use TCP" (and a short
    # request's error loses its message): calc asks again, padded.
    big = str(9 ** 99)
    r = run_calc(["--udp", "-s", calcd_all.addr, "-v", "9**99", "1/0"])
    assert r.stdout == f"{big}\nERR zero-division: division by zero\n"
    assert r.returncode == 1
    assert "shortened by the UDP bound" in r.stderr


def test_exit_codes(calcd_all):
    assert run_calc(["-s", calcd_all.addr, "1+1"]).returncode == 0
    assert run_calc(["-s", calcd_all.addr, "1+1", "1/0"]).returncode == 1
    assert run_calc(["-s", calcd_all.addr, "2^3"]).returncode == 1


@pytest.mark.parametrize("args", [
    ["--bogus", "1"],
    ["--server"],
    ["--server", "127.0.0.1:99999", "1"],
    ["--server", "[::1", "1"],
    ["--addsub", "127.0.0.1:1", "1+1"],          # without --muldiv
    ["--server", "127.0.0.1:1", "--addsub", "127.0.0.1:2",
     "--muldiv", "127.0.0.1:3", "1"],
    ["--timeout", "0", "1"],
    ["--retries", "x", "1"],
    ["1+\n1"],                                    # a line break in an argument
])
def test_usage_errors_exit_2(args):
    r = run_calc(args)
    assert r.returncode == 2, (args, r.stderr)
    assert r.stdout == ""
    assert "calc-cli" in r.stderr


def test_help_documents_defaults_and_exit_codes():
    r = run_calc(["--help"])
    assert r.returncode == 0
    for text in ("--udp", "--server", "127.0.0.1:4000", "[::1]", "--addsub",
                 "--muldiv", "--timeout", "default 250", "--retries",
                 "default 4", "7.75 s", "Exit status", "3 network"):
        assert text in r.stdout, text


def test_server_down_tcp_and_udp():
    port = free_port()
    r = run_calc(["-s", f"127.0.0.1:{port}", "1+1"])
    assert r.returncode == 3
    assert r.stdout == ""
    assert "cannot connect to 127.0.0.1:%d over TCP: Connection refused" % port \
        in r.stderr
    port = free_port(socket.SOCK_DGRAM)
    r = run_calc(["--udp", "-s", f"127.0.0.1:{port}", "1+1"])
    assert r.returncode == 3
    assert f"no server at 127.0.0.1:{port} over UDP" in r.stderr


def test_udp_server_that_never_answers():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        r = run_calc(["--udp", "-s", f"127.0.0.1:{port}", "--timeout", "40",
                      "--retries", "3", "1+1"])
        took = time.monotonic() - t0
        got = []
        s.settimeout(0)
        try:
            while True:
                got.append(s.recv(100))
        except BlockingIOError:
            pass
    assert r.returncode == 3
    assert r.stdout == ""
    assert (f"no reply from 127.0.0.1:{port} over UDP after 4 attempts (0.6 s)"
            in r.stderr)
    # 40+80+160+320 ms of backoff, the same tagged request each time
    assert 0.55 < took < 5
    assert len(got) == 4 and len(set(got)) == 1
    assert got[0].startswith(b"1+1 #")


def test_tcp_server_that_never_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_calc(["-s", f"127.0.0.1:{port}", "--timeout", "100",
                      "--retries", "1", "1+1"])
    assert r.returncode == 3
    assert f"no reply from 127.0.0.1:{port} over TCP within 0.3 s" in r.stderr


def test_tcp_reconnects_after_server_restart(calcd_factory, feeder):
    s = calcd_factory()
    f = feeder("-v", "-s", s.addr)
    assert f.ask("1+1") == "2\n"
    assert s.stop() == 0
    calcd_factory(port=s.port)  # a new server on the same port
    assert f.ask("2+2") == "4\n"
    code, _, err = f.finish()
    assert code == 0
    assert "the server closed the connection; reconnecting" in err


def test_tcp_server_gone_for_good_mid_session(calcd_factory, feeder):
    s = calcd_factory()
    f = feeder("-s", s.addr, "--timeout", "20", "--retries", "2")
    assert f.ask("3*3") == "9\n"
    s.stop()
    assert f.ask("4*4") == ""  # no answer: calc gave up
    code, _, err = f.finish()
    assert code == 3
    assert (f"cannot connect to {s.addr} over TCP: Connection refused"
            in err)


def test_requests_are_tagged_on_the_wire():
    s = Calcd("-v")
    try:
        for proto in ("--tcp", "--udp"):
            assert run_calc([proto, "-s", s.addr, "6*7"]).stdout == "42\n"
    finally:
        s.stop()
    reqs = s.requests()
    assert [p for p, _, _ in reqs] == ["tcp", "udp"]
    for _, req, reply in reqs:
        expr, tag = req.split(" #")
        assert expr == "6*7" and tag.isdigit() and 1 <= len(tag) <= 9
        assert reply == f"42 #{tag}"


def ones(nbytes):
    """A sum of ones exactly nbytes long (nbytes odd): 1+1+...+1."""
    assert nbytes % 2 == 1
    return "+".join(["1"] * ((nbytes + 1) // 2))


def test_length_limit_counts_the_tag(calcd_all):
    """calcd's 4096-byte limit counts the tag (" #" + 9 digits).  Over TCP
    calc sends an expression with no room for a tag untagged, so anything
    up to 4096 bytes is answered; over UDP the tag is needed: 4085 bytes is
    the longest expression."""
    too_long = "ERR too-long: request longer than 4096 bytes"
    cases = [("--tcp", 4095, str(2048)), ("--tcp", 4097, too_long),
             ("--udp", 4085, str(2043)), ("--udp", 4087, too_long)]
    for proto, n, want in cases:
        r = run_calc([proto, "-s", calcd_all.addr, "-t", "100"],
                     stdin=ones(n) + "\n")
        assert r.stdout == want + "\n", (proto, n, r.stderr)
    # the same through the split: hops are cut to fit with their tags
    for n in (4095, 4085):
        r = run_calc(["--addsub", calcd_all.addr, "--muldiv", calcd_all.addr],
                     stdin=ones(n) + "\n")
        assert r.stdout == f"{(n + 1) // 2}\n"
