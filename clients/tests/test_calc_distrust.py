# SPDX-License-Identifier: MIT
"""calc trusts no reply (issue #11, item 5): against fake servers that
send what calcd never would, calc accepts only replies in the reply
grammar of docs/PROTOCOL.md with the tag it sent; anything else is a
protocol error (exit 3, one message, the bytes escaped, nothing on
stdout), over TCP a reply that comes before its request was sent too, and
in split mode every hop's result must be one number within the digit
limit before it is spliced into the next hop."""
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import CALC, need, udp_server

TAGGED = re.compile(rb"^(.*) #(\d{1,9})$", re.S)
PWNED = b"\x1b]0;PWNED\x07\x1b[2J225\x00\xff"


def run(args, stdin=None, timeout=20):
    """calc with bytes out: a raw byte on stdout/stderr is seen as such."""
    return subprocess.run([need(CALC, "CALC"), *args], input=stdin,
                          capture_output=True, timeout=timeout)


def split_tag(line):
    m = TAGGED.match(line.rstrip(b"\r"))
    return (m.group(1), m.group(2)) if m else (line, None)


class FakeTcp:
    """A TCP server on loopback; each connection runs script(sock, lines),
    lines() yielding the request lines the client sent."""

    def __init__(self, script):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.script = script
        self.seen = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.05)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def handle(self, conn):
        buf = [b""]

        def lines():
            conn.settimeout(10)
            while True:
                while b"\n" not in buf[0]:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf[0] += data
                line, buf[0] = buf[0].split(b"\n", 1)
                self.seen.append(line)
                yield line
        try:
            self.script(conn, lines)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def fake():
    servers = []

    def start(script):
        s = FakeTcp(script)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def answer_each(reply_of):
    """A script: answer each request line with reply_of(expr, tag)."""
    def script(conn, lines):
        for line in lines():
            expr, tag = split_tag(line)
            conn.sendall(reply_of(expr, tag) + b"\n")
    return script


def assert_protocol_error(r, *needles):
    assert r.returncode == 3, r
    assert r.stdout == b""
    err = r.stderr.decode("ascii")  # escaped: never a raw byte
    assert err.count("\n") == 1 and err.startswith("calc-cli: protocol error: ")
    assert "\x1b" not in err and "\x00" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


# ---- TCP ------------------------------------------------------------------

def test_escape_injection_with_the_right_tag_is_refused(fake):
    s = fake(answer_each(lambda e, t: PWNED + b" #" + t))
    r = run(["-s", s.addr, "15*15"])
    err = assert_protocol_error(r, "outside the calc protocol")
    assert r"\x1b]0;PWNED\x07\x1b[2J225\x00\xff #" in err


@pytest.mark.parametrize("reply,why", [
    (b"225", "without the request's tag"),                # a tagless answer
    (b"225 #1", "out of order"),                          # another tag
    (b"8+1 #{t}", "outside the calc protocol"),           # an expression
    (b"225  #{t}", "outside the calc protocol"),          # a blank too many
    (b"ERR nonsense: x #{t}", "outside the calc protocol"),  # unknown kind
    (b"ERR syntax: \x1b[31mred #{t}", "outside the calc protocol"),
    (b"007 #{t}", "outside the calc protocol"),
    (b"", "an empty reply line"),
])
def test_replies_outside_the_grammar_or_tag(fake, reply, why):
    s = fake(answer_each(lambda e, t: reply.replace(b"{t}", t)))
    r = run(["-s", s.addr, "15*15"])
    assert_protocol_error(r, why)


def test_a_line_longer_than_any_reply(fake):
    s = fake(answer_each(lambda e, t: b"9" * 5000 + b" #" + t))
    assert_protocol_error(run(["-s", s.addr, "15*15"]),
                          "longer than any calc reply")


def test_good_replies_still_pass(fake):
    """The grammar's every form, with the tag, is printed as is."""
    forms = {b"1": b"-4", b"2": b"0.30000000000000004", b"3": b"1e-05",
             b"4": b"-inf", b"5": b"nan",
             b"6": b"ERR zero-division: division by zero"}
    s = fake(answer_each(lambda e, t: forms[e] + b" #" + t))
    r = run(["-s", s.addr, *(k.decode() for k in forms)])
    assert r.returncode == 1  # the last is an error reply
    assert r.stdout == b"".join(v + b"\n" for v in forms.values())


def test_busy_refusal_without_tag_is_an_answer(fake):
    def busy(conn, lines):
        conn.sendall(b"ERR busy: server at its connection limit (1)\n")
        conn.shutdown(socket.SHUT_WR)
        for _ in lines():
            pass
    s = fake(busy)
    r = run(["-s", s.addr, "--retries", "0", "15*15"])
    assert r.stdout == b"ERR busy: server at its connection limit (1)\n"
    assert r.returncode == 1


def test_reply_before_any_request_one_shot(fake):
    """The attack: '999' sent at accept, before calc asks 15*15."""
    def early(conn, lines):
        conn.sendall(b"999\n")
        time.sleep(0.3)  # calc's request arrives after it
        for line in lines():
            expr, tag = split_tag(line)
            conn.sendall(b"225 #" + tag + b"\n")
    s = fake(early)
    assert_protocol_error(run(["-s", s.addr, "15*15"]), "999")


def test_reply_before_its_request_was_sent(fake):
    """A server that guesses the next tag (calc's tags count up) and sends
    its answer before calc has sent that request: refused."""
    def guess(conn, lines):
        for line in lines():
            expr, tag = split_tag(line)
            conn.sendall(b"2 #" + tag + b"\n")
            time.sleep(0.1)  # calc has its answer and waits for input
            conn.sendall(b"999 #%d\n" % (int(tag) + 1))  # the next one
    s = fake(guess)
    p = subprocess.Popen([need(CALC, "CALC"), "-s", s.addr],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"1+1\n")
        p.stdin.flush()
        assert p.stdout.readline() == b"2\n"
        time.sleep(0.3)  # the guessed reply is there before the request
        p.stdin.write(b"15*15\n")
        p.stdin.close()
        p.wait(20)
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 3
    assert out == b""
    err = err.decode("ascii")
    assert "protocol error" in err and "before any request was sent" in err
    assert "999 #" in err
    assert len(s.seen) == 1  # 15*15 never went out


# ---- UDP ------------------------------------------------------------------

@pytest.mark.parametrize("reply_of,why", [
    (lambda e, t: PWNED + b" #" + t, r"\x1b]0;PWNED"),
    (lambda e, t: b"8+1 #" + t, "8+1"),
    (lambda e, t: b"9" * 5000, "longer than any calc reply"),
], ids=["escapes", "expression", "too-long"])
def test_udp_reply_outside_the_grammar(reply_of, why):
    def reply(s, data, peer):
        expr, tag = split_tag(data.rstrip(b" "))
        s.sendto(reply_of(expr, tag), peer)

    with udp_server(reply) as port:
        r = run(["--udp", "-s", f"127.0.0.1:{port}", "15*15"])
    assert_protocol_error(r, why)


def test_udp_empty_datagram_is_no_reply():
    """An empty datagram (nginx's UDP proxy sends one when its upstream
    refused) answers nothing: calc-cli asks again and takes the answer."""
    asked = []

    def reply(s, data, peer):
        expr, tag = split_tag(data.rstrip(b" "))
        asked.append(tag)
        s.sendto(b"" if len(asked) == 1 else b"225 #" + tag, peer)

    with udp_server(reply) as port:
        r = run(["--udp", "-t", "100", "-s", f"127.0.0.1:{port}", "15*15"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"225\n"
    assert len(asked) == 2 and asked[0] == asked[1]  # the same tag, again


# ---- the split --------------------------------------------------------------

@pytest.mark.parametrize("hop_reply,why", [
    (b"8+1", "8+1"),                   # spliced, it would be an expression
    (b"1" + b"0" * 4300, "outside"),   # 4301 digits: over the digit limit
], ids=["expression", "4301-digits"])
def test_split_hop_must_be_one_number(fake, hop_reply, why):
    muldiv = fake(answer_each(lambda e, t: hop_reply + b" #" + t))
    addsub = fake(answer_each(lambda e, t: b"7 #" + t))
    r = run(["--addsub", addsub.addr, "--muldiv", muldiv.addr, "2*3+1"])
    assert_protocol_error(r, why)
    assert addsub.seen == []  # nothing was spliced into the next hop

