# SPDX-License-Identifier: MIT
"""clients/demo.sh, the README's client session: it runs, shows what it
says, and leaves no server behind."""
import os
import subprocess

from conftest import need


def test_demo_session():
    demo = need(os.environ.get("CALC_DEMO", ""), "CALC_DEMO")
    build = need(os.environ.get("CALC_BUILD_DIR", ""), "CALC_BUILD_DIR")
    p = subprocess.Popen(["bash", demo, build], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    assert "\x1b[" not in out  # no colours when not on a terminal
    lines = out.splitlines()
    for want in ["225", "60", "1267650600228229401496703205376",
                 "ERR zero-division: division by zero", "11", "20.5", "-4",
                 "0.3333333333333333"]:
        assert want in lines, want
    assert any(l.startswith("ERR unsupported: this server (addsub)")
               for l in lines)
    assert sum(1 for l in lines if l.startswith("calc-cli: hop ")) == 7
    # every calcd it started is gone with it
    try:
        os.killpg(p.pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "demo.sh left processes running"
