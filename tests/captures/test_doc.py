# SPDX-License-Identifier: MIT
"""Every documented command runs as written: each ```console block of
README.md and docs/*.md is fed to bash exactly as a reader would paste it
(captures/capture_set.py, DocShell: from the top of a copy of the
repository, as a normal user who followed the documents' set-up: the
plugin installed for the user, the calc profile imported, `ts` defined),
and prints exactly what the block shows (stdout and stderr, as a
terminal shows them; a failing exit status is reported with the diff).
captures/update-expected rewrites the outputs after a new recording (then
review the prose's frame numbers and figures)."""
import difflib
import os
from pathlib import Path

import pytest

import capture_set
from capture_set import tsfields

BLOCKS = [(doc, cmds, shown)
          for doc in capture_set.DOCS
          for cmds, shown in capture_set.doc_blocks(doc.read_text())]
IDS = ["%s:%d" % (doc.name, i + 1) for i, (doc, _, _) in enumerate(BLOCKS)]


@pytest.fixture(scope="module")
def shell():
    plugin = os.environ.get("CALC_PLUGIN", "")
    if not os.path.isfile(plugin):
        pytest.fail("CALC_PLUGIN must name the built calc.so (run via ctest)")
    build = os.environ.get("CALC_BUILD_DIR") or Path(plugin).parents[1]
    os.environ.setdefault("CALC_WS_VERSION", capture_set.ws_version())
    sh = capture_set.DocShell(build, plugin)
    yield sh
    sh.remove()


def test_docs_have_commands():
    per_doc = {}
    for doc, cmds, shown in BLOCKS:
        assert cmds, "%s: a console block without a $ command" % doc.name
        assert shown, "%s: %s shows no output" % (doc.name, cmds)
        per_doc[doc.name] = per_doc.get(doc.name, 0) + 1
    assert per_doc.get("packet-analysis.md", 0) >= 20
    assert per_doc.get("README.md", 0) >= 3


def test_docs_say_the_setup():
    """The set-up the test does is the one the documents give."""
    for rel, commands in capture_set.DOC_SETUP.items():
        text = (capture_set.REPO / rel).read_text()
        for c in commands:
            assert c in text, "%s no longer says: %s" % (rel, c)


def test_no_doc_points_outside_the_clone():
    for doc in capture_set.DOCS + [capture_set.REPO / "captures" /
                                   "README.md"]:
        assert "../shared" not in doc.read_text(), doc


@pytest.mark.parametrize("doc,cmds,shown", BLOCKS, ids=IDS)
def test_doc_command_output(shell, doc, cmds, shown):
    rc, got = shell.run(doc, cmds)
    # The docs show Wireshark 4.0's output; tshark's own text of other
    # versions (frame lines, time units, table padding) is normalised.
    got, shown = tsfields.text(got), tsfields.text(shown)
    if got != shown:
        pytest.fail("%s: %s: exit %d, output differs:\n%s" % (
            doc.name, cmds, rc, "\n".join(difflib.unified_diff(
                shown.splitlines(), got.splitlines(), "doc", "bash",
                lineterm=""))[:4000]))
