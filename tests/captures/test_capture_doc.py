# SPDX-License-Identifier: MIT
"""docs/CAPTURE.md's commands where a test can run them: the "Can I
capture?" check says what the page says it says, with and without the
right (as root, the without case runs as nobody); every capture filter of
its table compiles for lo (dumpcap -d), and the documented dumpcap and
tshark capture lines run.  Commands that change the machine
(dpkg-reconfigure, usermod, logging in again) are not run here."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "CAPTURE.md"
TEXT = DOC.read_text()
CHECK = "dumpcap -i lo -a duration:1 -w /dev/null"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
FILTERS = re.findall(r"^\| `([^`]+)` \|", TEXT, re.M)


def _dumpcap():
    if not shutil.which("dumpcap"):
        pytest.skip("dumpcap is not installed")


def _run(argv, as_nobody=False):
    return subprocess.run((NOBODY if as_nobody else []) + argv,
                          capture_output=True, text=True, timeout=30)


def _may_capture():
    return _run(CHECK.split()).returncode == 0


def test_doc_has_check_and_filters():
    assert CHECK in TEXT
    assert "portrange 4000-4002" in FILTERS and len(FILTERS) >= 4


def test_check_without_the_right():
    _dumpcap()
    if os.getuid() == 0:
        p = _run(CHECK.split(), as_nobody=True)
    elif _may_capture():
        pytest.skip("this user may capture: no case without the right here")
    else:
        p = _run(CHECK.split())
    assert p.returncode == 1
    assert 'dumpcap: You do not have permission to capture on device "lo".' \
        in p.stderr
    assert "dumpcap: You do not have permission" in TEXT


def test_check_with_the_right():
    _dumpcap()
    if not _may_capture():
        pytest.skip("uid %d may not capture on lo (docs/CAPTURE.md)" %
                    os.getuid())
    p = _run(CHECK.split())
    assert p.returncode == 0
    assert "Capturing on 'Loopback: lo'" in p.stderr
    assert "Packets captured:" in p.stderr


@pytest.mark.parametrize("filt", FILTERS)
def test_filter_compiles(filt):
    _dumpcap()
    if not _may_capture():
        pytest.skip("uid %d may not capture on lo: dumpcap -d needs the "
                    "right too" % os.getuid())
    p = _run(["dumpcap", "-i", "lo", "-f", filt, "-d"])
    assert p.returncode == 0, p.stderr
    assert re.search(r"^\(000\) ", p.stdout, re.M), p.stdout


def test_documented_capture_lines(tmp_path):
    """The dumpcap and tshark lines, one second each (-a duration:1)."""
    _dumpcap()
    if not _may_capture():
        pytest.skip("uid %d may not capture on lo" % os.getuid())
    dump = "dumpcap -i lo -f 'portrange 4000-4002' -w /tmp/calc.pcapng"
    live = "tshark -i lo -f 'portrange 4000-4002' -Y calc"
    assert dump in TEXT and live in TEXT
    out = tmp_path / "calc.pcapng"
    p = _run(["dumpcap", "-i", "lo", "-f", "portrange 4000-4002", "-w",
              str(out), "-a", "duration:1"])
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 0
    args = ["-i", "lo", "-f", "portrange 4000-4002", "-Y", "calc",
            "-a", "duration:1"]
    if os.getuid() == 0:
        # "Why not sudo wireshark": root's tshark loads no personal plugin,
        # so (unless calc.so is installed globally) it knows no calc.
        plugins = _run(["tshark", "-G", "plugins"]).stdout
        p = _run(["tshark", *args])
        if "calc.so" not in plugins:
            assert p.returncode != 0
            # (4.0's wording, then 4.4's and later)
            assert "calc is neither a field nor a protocol name" in \
                p.stderr or '"calc" is not a valid protocol or protocol ' \
                'field' in p.stderr, p.stderr
            return
    else:
        plugin = os.environ.get("CALC_PLUGIN", "")
        if not os.path.isfile(plugin):
            pytest.skip("no built plugin (run through ctest)")
        wrapper = DOC.parents[1] / "plugin" / "calc-tshark.sh"
        p = _run([str(wrapper), plugin, *args])
    assert p.returncode == 0, p.stderr
