# SPDX-License-Identifier: MIT
"""pytest plugin for ctest (loaded by calc_add_pytest(), cmake/CalcPytest.cmake,
as `-p calc_ctest`): a run in which nothing ran, because every test
skipped or none was collected (pytest's exit 5), exits 77, which ctest
reports as SKIPPED (SKIP_RETURN_CODE).  Each skip reason is printed as a
line "SKIPPED: <reason>" so that ctest's log says why."""

SKIP_CODE = 77
RAN = ("passed", "failed", "error", "xfailed", "xpassed")


def _stats(session):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    return reporter.stats if reporter is not None else {}


def pytest_sessionfinish(session, exitstatus):
    stats = _stats(session)
    ran = sum(len(stats.get(k, [])) for k in RAN)
    if exitstatus == 5 or (exitstatus == 0 and ran == 0):
        session.exitstatus = SKIP_CODE


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    if sum(len(stats.get(k, [])) for k in RAN):
        return
    reasons = []
    for rep in stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else \
            str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason not in reasons:
            reasons.append(reason)
    for reason in reasons or ["no test collected"]:
        terminalreporter.write_line("SKIPPED: %s" % reason)
