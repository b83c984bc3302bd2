# SPDX-License-Identifier: MIT
"""Fixtures for the load-balancer set-ups (tests/lb/).  ctest passes CALCD,
CALC_BENCH and CALC_CLIENT.  A test whose balancer is not installed, or
that runs inside a compatibility root (CALC_COMPAT_ROOT), is skipped; a
run in which nothing ran is SKIPPED in ctest (cmake/calc_ctest.py, the
calc_add_pytest plugin), never "Passed"."""
import os

import pytest

import lbtest


def _binary(var):
    path = os.environ.get(var, "")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("%s is not set to a built binary (run through ctest)"
                    % var)
    return path


@pytest.fixture(scope="session")
def calcd_bin():
    return _binary("CALCD")


@pytest.fixture(scope="session")
def bench_bin():
    return _binary("CALC_BENCH")


@pytest.fixture(scope="session")
def calc_bin():
    return _binary("CALC_CLIENT")


@pytest.fixture
def setup(tmp_path):
    with lbtest.Setup(tmp_path) as st:
        yield st

