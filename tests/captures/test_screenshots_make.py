# SPDX-License-Identifier: MIT
"""docs/screenshots/make makes every screenshot again, in the real
Wireshark GUI under Xvfb with the freshly built plugin, each a valid PNG
of its size and not blank (the checks of test_screenshots.py).  Needs
wireshark-qt, xvfb, xdotool, python3-pil and optipng: SKIPPED, saying
which is missing, without them, and inside the compatibility runner's
Debian root (CALC_COMPAT_ROOT set: no GUI packages are installed there)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_screenshots import MAKE, SHOTS, check_image


def _gui_missing():
    if os.environ.get("CALC_COMPAT_ROOT"):
        return ("CALC_COMPAT_ROOT is set: the compatibility runner's Debian "
                "root has no GUI packages")
    missing = [t for t in ("wireshark", "Xvfb", "xdotool", "optipng")
               if not shutil.which(t)]
    try:
        import PIL.ImageGrab  # noqa: F401
    except ImportError:
        missing.append("python3-pil")
    if missing:
        return "needs %s (Debian: wireshark-qt xvfb xdotool optipng " \
               "python3-pil)" % ", ".join(missing)
    return None


def test_make_regenerates(tmp_path):
    reason = _gui_missing()
    if reason:
        pytest.skip(reason)
    build = os.environ.get("CALC_BUILD_DIR")
    if not build or not (Path(build) / "plugin" / "calc.so").is_file():
        pytest.skip("no built plugin (run through ctest)")
    p = subprocess.run([str(MAKE), "--build", build, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    for shot in SHOTS:
        check_image(tmp_path / (shot.name + ".png"), shot.image_size)
