# SPDX-License-Identifier: MIT
"""calc-cli on a terminal: driven through a pseudo-terminal (the '->' prompt,
answers, help, history recall with the up arrow, the history file, Ctrl-D,
quit)."""
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from conftest import CALC, need

UP = b"\x1b[A"
CTRL_D = b"\x04"


class Term:
    """calc with its standard input, output and error on a pty."""

    def __init__(self, args, home):
        self.master, slave = pty.openpty()
        env = dict(os.environ, HOME=str(home), TERM="xterm")
        env.pop("CALC_HISTFILE", None)
        self.proc = subprocess.Popen([need(CALC, "CALC"), *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=env,
                                     close_fds=True)
        os.close(slave)
        self.seen = b""

    def expect(self, what, timeout=5.0):
        """Read until `what` (bytes) appears after what was consumed."""
        end = time.monotonic() + timeout
        while what not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what!r} not seen in {self.seen!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the other side closed
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {what!r}: {self.seen!r}")
                self.seen += chunk
        before, _, self.seen = self.seen.partition(what)
        return before

    def send(self, data):
        """Type data once calc reads keys.  libedit writes the prompt just
        before it puts the terminal in raw mode; a Ctrl-D typed in between
        would be taken by the line discipline, as a person never types."""
        end = time.monotonic() + 5
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            assert time.monotonic() < end, "calc never read the terminal"
            time.sleep(0.005)
        os.write(self.master, data)

    def wait(self, timeout=5.0):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass
        return self.proc.wait(max(0.1, end - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def term(tmp_path):
    terms = []

    def start(*args):
        t = Term(args, tmp_path)
        terms.append(t)
        return t

    yield start
    for t in terms:
        t.close()


def lines_of(b):
    return [l.strip() for l in b.replace(b"\r", b"").split(b"\n") if l.strip()]


def test_prompt_answer_help_quit(calcd_all, term):
    t = term("-s", calcd_all.addr)
    banner = t.expect(b"-> ")
    assert b"Type 'help'" in banner
    t.send(b"15*15\r")
    assert b"225" in lines_of(t.expect(b"-> "))
    t.send(b"help\r")
    out = t.expect(b"-> ")
    assert b"Commands: help, quit" in out and calcd_all.addr.encode() in out
    t.send(b"1/0\r")
    assert b"ERR zero-division: division by zero" in lines_of(t.expect(b"-> "))
    t.send(b"quit\r")
    assert t.wait() == 1  # an answer was an error


def test_history_recall_ctrl_d_and_history_file(calcd_all, term, tmp_path):
    t = term("-s", calcd_all.addr, "--udp")
    t.expect(b"-> ")
    t.send(b"6*7\r")
    assert b"42" in lines_of(t.expect(b"-> "))
    t.send(b"2**10\r")
    assert b"1024" in lines_of(t.expect(b"-> "))
    t.send(UP + UP)  # two lines back: the line is redrawn as 6*7
    t.expect(b"-> 6*7")
    t.send(b"\r")
    assert b"42" in lines_of(t.expect(b"-> "))
    t.send(CTRL_D)
    assert t.wait() == 0
    hist = (tmp_path / ".calc-cli_history").read_text()
    assert "6*7" in hist and "2**10" in hist

    # A new session recalls the previous one's lines.
    t2 = term("-s", calcd_all.addr)
    t2.expect(b"-> ")
    t2.send(UP)
    t2.expect(b"-> 6*7")
    t2.send(b"\r")
    assert b"42" in lines_of(t2.expect(b"-> "))
    t2.send(CTRL_D)
    assert t2.wait() == 0


def test_network_error_does_not_end_the_session(term, tmp_path):
    import socket
    with socket.socket() as s:  # a port with no server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = term("-s", f"127.0.0.1:{port}")
    t.expect(b"-> ")
    t.send(b"1+1\r")
    assert b"Connection refused" in t.expect(b"-> ")
    t.send(CTRL_D)
    assert t.wait() == 3
