# SPDX-License-Identifier: MIT
"""Fixtures for the load-balancer set-ups (tests/lb/).  ctest passes CALCD,
CALC_BENCH and CALC_CLIENT.  A test whose balancer is not installed, or
that runs inside a compatibility root (CALC_COMPAT_ROOT), is skipped; when
every test of a run is skipped the run exits 77, which ctest reports as
SKIPPED (SKIP_RETURN_CODE), never as passed."""
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


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    stats = reporter.stats
    ran = sum(len(stats.get(k, [])) for k in ("passed", "failed", "error"))
    if ran == 0 and stats.get("skipped"):
        session.exitstatus = 77
