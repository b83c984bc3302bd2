# SPDX-License-Identifier: MIT
"""Fixtures for the capture tests (tests/captures/): the checked-in
captures of captures/, tshark with the freshly built plugin (through the
dissector's own helper, see captures/capture_set.py), the built calcd and
calc.  ctest passes CALC_PLUGIN, CALCD, CALC_CLIENT and CALC_BUILD_DIR."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "captures"))
sys.path.insert(0, str(REPO / "servers" / "tests"))

import capture_set  # noqa: E402


def _binary(var):
    path = os.environ.get(var, "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("%s is not built (run through ctest)" % (var,))
    return path


@pytest.fixture(scope="session")
def tshark():
    plugin = os.environ.get("CALC_PLUGIN", "")
    if not os.path.isfile(plugin):
        pytest.fail("CALC_PLUGIN must name the built calc.so (run via ctest)")
    return capture_set.tshark(Path(plugin).resolve())


@pytest.fixture(scope="session")
def calcd_bin():
    return _binary("CALCD")


@pytest.fixture(scope="session")
def calc_bin():
    return _binary("CALC_CLIENT")


def pytest_generate_tests(metafunc):
    """`cap` runs a test once per checked-in capture."""
    if "cap" in metafunc.fixturenames:
        metafunc.parametrize("cap", capture_set.CAPTURES,
                             ids=[c.name for c in capture_set.CAPTURES])
