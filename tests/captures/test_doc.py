# SPDX-License-Identifier: MIT
"""docs/packet-analysis.md shows real output: every ```console block's
command (`ts ...`: tshark with the plugin, or `capinfos ...`), run again
on the checked-in captures, prints exactly what the block shows.
captures/update-expected rewrites the outputs after a new recording (then
review the prose's frame numbers and figures)."""
import difflib

import pytest

import capture_set
from capture_set import tsfields

BLOCKS = capture_set.doc_blocks(capture_set.DOC.read_text())


def test_doc_has_commands():
    assert len(BLOCKS) >= 20
    for command, shown in BLOCKS:
        assert shown, command


@pytest.mark.parametrize("command,shown", BLOCKS,
                         ids=[str(i + 1) for i in range(len(BLOCKS))])
def test_doc_command_output(tshark, command, shown):
    # The doc shows Wireshark 4.0's output; tshark's own text of other
    # versions (frame lines, time units, table padding) is normalised.
    got = tsfields.text(capture_set.doc_run(tshark, command))
    shown = tsfields.text(shown)
    if got != shown:
        pytest.fail("%s: output differs from docs/packet-analysis.md:\n%s" % (
            command, "\n".join(difflib.unified_diff(
                shown.splitlines(), got.splitlines(), "doc", "now",
                lineterm=""))[:4000]))
