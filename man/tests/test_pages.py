# SPDX-License-Identifier: MIT
"""The man pages: `mandoc -T lint` and `groff -ww` raise no warning,
`man -l` shows each, every option a program's --help prints is an item of
its page's option list, and calc(7) lists exactly the fields and expert
infos the plugin registers (tshark -G, with the freshly built plugin)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parents[1]
REPO = MAN.parent
PAGES = ["calcd.8", "calc-cli.1", "calc-eval.1", "calc-bench.1", "calc.7"]
PROGRAMS = {"calcd.8": "CALCD", "calc-cli.1": "CALC_CLI",
            "calc-eval.1": "CALC_EVAL", "calc-bench.1": "CALC_BENCH"}
OPTION = re.compile(r"(?<![\w'-])(--?[A-Za-z][\w-]*)")


def tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not found (Debian: {name})")
    return path


@pytest.mark.parametrize("page", PAGES)
def test_mandoc_lint_is_silent(page):
    p = subprocess.run([tool("mandoc"), "-T", "lint", "-W", "warning",
                        str(MAN / page)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr


@pytest.mark.parametrize("page", PAGES)
def test_groff_warns_nothing(page):
    p = subprocess.run([tool("groff"), "-ww", "-z", "-mandoc",
                        str(MAN / page)], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr


@pytest.mark.parametrize("page", PAGES)
def test_man_shows_it(page):
    name, section = page.rsplit(".", 1)
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0",
               LC_ALL="C.UTF-8")
    p = subprocess.run([tool("man"), "-P", "cat", "-l", str(MAN / page)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    text = re.sub(r".\x08", "", p.stdout)
    assert text.startswith(f"{name.upper()}({section})"), text[:80]
    for head in ("NAME", "DESCRIPTION", "SEE ALSO"):
        assert "\n" + head + "\n" in text, head


def page_options(page):
    """The options of a page's option lists: the Fl of each .It line."""
    opts = set()
    for line in (MAN / page).read_text().splitlines():
        if line.startswith(".It ") and " Fl " in " " + line[4:]:
            for m in re.finditer(r"(?:^|\s)Fl\s+(\S+)", line[4:]):
                opts.add("-" + m.group(1))
    return opts


@pytest.mark.parametrize("page", sorted(PROGRAMS))
def test_every_help_option_is_in_its_page(page):
    binary = os.environ.get(PROGRAMS[page], "")
    assert binary, f"{PROGRAMS[page]} is not set (run through ctest)"
    p = subprocess.run([binary, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    helped = set(OPTION.findall(p.stdout)) - {"-"}
    assert len(helped) >= 2, helped  # the help was read, not an error
    missing = helped - page_options(page)
    assert not missing, f"{page} lacks {sorted(missing)} (in --help)"


def test_page_options_are_real():
    """The other way round: the page documents no option the program
    does not know.  Each long option (every short one has one beside it)
    is given as --name=x, then an unknown option, so that every program
    stops at usage (exit 2) instead of running; only the unknown one may
    be reported."""
    marker = "--no-such-option-for-the-test"
    for page, var in PROGRAMS.items():
        binary = os.environ.get(var, "")
        for opt in sorted(page_options(page)):
            if opt in ("--help", "--version") or not opt.startswith("--"):
                continue
            p = subprocess.run([binary, opt + "=x", marker],
                               capture_output=True,
                               text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            assert p.returncode == 2, (page, opt, p.stderr)
            bad = [l for l in p.stderr.splitlines()
                   if ("unrecognized option" in l or "invalid option" in l)
                   and marker not in l]
            assert not bad, (page, opt, bad)


def registered():
    plugin = os.environ.get("CALC_PLUGIN", "")
    if not plugin:
        pytest.skip("no dissector plugin built: calc(7)'s fields unchecked")
    out = {}
    for what in ("fields",):
        p = subprocess.run([str(REPO / "plugin/calc-tshark.sh"), plugin, "-G",
                            what], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        for line in p.stdout.splitlines():
            f = line.split("\t")
            if f[0] == "F" and f[2].startswith("calc."):
                out[f[2]] = f[3]
    return out


def section_items(title):
    """The Cm names of the .It lines of calc(7)'s subsection `title`."""
    text = (MAN / "calc.7").read_text()
    body = text.split(f".Ss {title}\n", 1)[1].split("\n.Ss ", 1)[0]
    names = set()
    for line in body.splitlines():
        if line.startswith(".It Cm "):
            names.update(n.strip() for n in
                         line[len(".It Cm "):].split(" Ns ")[0].split(","))
    return names


def test_calc7_lists_every_field():
    fields = {n for n, t in registered().items() if t != "FT_NONE"}
    assert section_items("Fields") == fields


def test_calc7_lists_every_expert_info():
    experts = {n for n, t in registered().items() if t == "FT_NONE"}
    kinds = section_items("Replies")  # the ERR kinds, .It Cm <kind>
    per_kind = {n for n in experts
                if n.startswith("calc.error_reply.") and
                n.split(".", 2)[2] in kinds}
    assert per_kind == {"calc.error_reply." + k for k in kinds}
    listed = section_items("Expert information")
    assert listed == (experts - per_kind) | {"calc.error_reply."}
