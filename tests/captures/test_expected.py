# SPDX-License-Identifier: MIT
"""Every checked-in capture dissects exactly as its reviewed expected file
says (captures/expected/<name>.txt: the key calc fields and expert infos of
every calc frame, two passes, and the calc,tree statistics), and shows
what a correct dissector must show: no dissector bug or malformed packet,
every request paired unless it really went unanswered, every response
verified or a refusal.  Known dissector errors are expected failures
(strict: a fix makes them fail, so the expected file gets reviewed)."""
import difflib
import re

import pytest

import capture_set

# Expert infos a capture of our own programs never shows.
NEVER = ["calc.mismatch", "calc.malformed_response", "calc.error_reply.unknown",
         "calc.amplification", "calc.tag_reused"]

_runs = {}


def _dissection(tshark, cap):
    """One tshark run per capture, shared by the tests of this file."""
    if cap.name not in _runs:
        _runs[cap.name] = capture_set.dissect_rows(tshark, cap.path)
    return _runs[cap.name]


def test_captures_listed_and_small():
    """Every capture has its README line and its expected file, and the
    folder stays small."""
    readme = (capture_set.HERE / "README.md").read_text()
    names = {c.name for c in capture_set.CAPTURES}
    files = {p.stem for p in capture_set.HERE.glob("*.pcapng")}
    assert files == names
    for n in names:
        assert "`%s.pcapng`" % n in readme, n
        assert (capture_set.EXPECTED_DIR / (n + ".txt")).is_file(), n
    size = sum(p.stat().st_size for p in capture_set.HERE.rglob("*")
               if p.is_file())
    assert size < 1_000_000, size


def test_expected_dissection(tshark, cap):
    got = capture_set.dissect(tshark, cap.path, _dissection(tshark, cap))
    want = cap.expected.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(
            want.splitlines(True), got.splitlines(True),
            "expected/%s.txt" % cap.name, "tshark now", n=2))
        pytest.fail("dissection of %s.pcapng differs (review; "
                    "captures/update-expected rewrites it):\n%s"
                    % (cap.name, diff[:6000]))


def _count(table, name, value=None):
    vals = [v for row in table for v in row[name].split("|") if v != ""]
    return len(vals) if value is None else vals.count(value)


def _issue(request, cap):
    if cap.issue:
        request.applymarker(pytest.mark.xfail(strict=True, reason=cap.issue))


def test_pairing_and_verification(tshark, cap, request):
    _issue(request, cap)
    t, _ = _dissection(tshark, cap)
    for n in NEVER:
        assert _count(t, n) == 0, n
    requests = _count(t, "calc.type", "1")
    # calcd's "ERR busy" greets a connection past the limit: a refusal that
    # answers no request, so it is neither paired nor an orphan
    responses = _count(t, "calc.type", "2") - _count(t, "calc.error.kind",
                                                      "busy")
    no_resp, no_req = cap.unpaired
    assert requests > 0
    # a request is answered, retransmitted (its original is), or really
    # unanswered; the same for responses and duplicates
    assert _count(t, "calc.no_response") == no_resp
    assert _count(t, "calc.no_request") == no_req
    assert _count(t, "calc.response_in") == requests - no_resp
    assert _count(t, "calc.response_to") == responses - no_req
    # every paired response verified, or a role server's refusal
    assert _count(t, "calc.verified", "0") == 0
    assert (_count(t, "calc.verified", "1") + _count(t, "calc.refused", "1")
            == responses - no_req)


def test_expected_files_have_no_dissector_bug():
    """The reviewed files record no dissector exception."""
    for cap in capture_set.CAPTURES:
        text = cap.expected.read_text()
        assert not re.search(r"Exception occurred|Dissector bug|"
                             r"Malformed Packet", text), cap.name
