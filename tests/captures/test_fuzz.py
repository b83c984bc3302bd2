# SPDX-License-Identifier: MIT
"""A short run of captures/fuzz (the long one is run by hand): every
checked-in capture corrupted with editcap -E 0.02 (a fixed seed, so a
failure replays), dissected with tshark -nVxr, one pass or two, under
CPU and memory limits, with dissector bugs fatal and strict memory checks:
no crash, no hang, no dissector bug."""
import os
import subprocess
import sys

import capture_set

FUZZ = capture_set.HERE / "fuzz"


def test_short_fuzz_loop(tshark, tmp_path):
    p = subprocess.run(
        [sys.executable, str(FUZZ), "1", "--seed", "20240611", "--jobs", "2",
         "--keep", str(tmp_path / "failures")],
        capture_output=True, text=True, timeout=170,
        env=dict(os.environ, CALC_PLUGIN=tshark.plugin))
    assert p.returncode == 0, p.stdout + p.stderr
    runs = len(capture_set.CAPTURES)
    assert "%d run(s), 0 failure(s)" % runs in p.stdout, p.stdout


def test_fuzz_reports_a_failing_run(tshark, tmp_path):
    """The loop fails when tshark fails (here: killed by a memory limit too
    small to start), and keeps the file with its replay line."""
    p = subprocess.run(
        [sys.executable, str(FUZZ), "1", "--seed", "5", "--keep",
         str(tmp_path / "kept"), "--max-vmem", "20000000", "udp-session"],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, CALC_PLUGIN=tshark.plugin))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL udp-session (seed 5)" in p.stdout
    assert (tmp_path / "kept" / "udp-session-5.pcapng").is_file()
