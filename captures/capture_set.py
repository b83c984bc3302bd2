# SPDX-License-Identifier: MIT
"""The checked-in captures and how to read them (shared by captures/record,
captures/update-expected, captures/fuzz and the tests in tests/captures/).

CAPTURES is the one list of captures: the file name, the calcd servers the
recording ran (port -> role and options, so a replay can start the same),
and what a replay against a live calcd does not reproduce, and why.

tshark runs through the dissector's own helper (plugin/tests/conftest.py,
class Tshark, on plugin/calc-tshark.sh): it stages the freshly built
calc.so and, as root, runs tshark as nobody.  Nothing is installed.
"""
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPECTED_DIR = HERE / "expected"
WRAPPER = REPO / "plugin" / "calc-tshark.sh"
SEED_PROGRAMS = REPO.parent / "shared" / "seed" / "programs"

# tshark's output in one form on every Wireshark version (appended: the
# folder's conftest.py must not shadow a caller's own).
sys.path.append(str(REPO / "plugin" / "tests"))
import tsfields  # noqa: E402

# The ports the dissector decodes without Decode As, and the role calcd
# serves on each in every recording.
ROLE_PORTS = {4000: "all", 4001: "addsub", 4002: "muldiv"}


class Cap:
    """One capture: name (file captures/<name>.pcapng); calcd: extra calcd
    options of the recording (replayed the same); skip: (server ip, port)
    endpoints a replay leaves out, with the reason; seed: recorded only when
    the seed programs are there; differs: what calcd answers differently
    from the recorded server (why, and a function turning calcd's bytes
    into the recorded server's).
    What a correct dissector shows, checked beside the exact expected
    dissection: unpaired = (requests without a response, responses without
    a request) that are really so; issue: why the dissector does not show
    that yet (the test then expects the failure, strictly)."""

    def __init__(self, name, calcd=(), skip=None, seed=False,
                 differs=None, unpaired=(0, 0), issue=None):
        self.name = name
        self.calcd = tuple(calcd)
        self.skip = skip or {}
        self.seed = seed
        self.differs = differs
        self.unpaired = unpaired
        self.issue = issue

    @property
    def path(self):
        return HERE / (self.name + ".pcapng")

    @property
    def expected(self):
        return EXPECTED_DIR / (self.name + ".txt")


def _untag_unline(data):
    """calcd's reply to calc (' #tag' echoed, LF-terminated lines) as the
    original server sends it: no tag, no newline."""
    import re
    return re.sub(rb" #\d+\n?", b"", data)


SEED_DIFFERS = (
    "the original server drops calc's tag and newline (it eval()s the line "
    "'15*15 #7\\n', in which the tag is a comment, and sends str(result)); "
    "calcd echoes the tag and ends each reply with LF; the rest is equal",
    _untag_unline)

# Where the dissector is still wrong (reported to its author).
ISSUE_LEGACY = (
    "legacy pieces: calcd joins legacy bytes that arrive within 20 ms, or "
    "within 250 ms while they are an unfinished expression ('2*' then "
    "'5' is one request, answered 10), but the dissector takes each "
    "segment as a request: it pairs 10 with '2*' (mismatch), and every "
    "later reply of the connection with the wrong request")
ISSUE_LIMITS = (
    "(1) 'ERR busy', which calcd sends unasked to a connection past its "
    "limit, is flagged 'Response without a request' (a warning for normal "
    "behaviour); (2) more than 4097 bytes without LF: calcd answers "
    "'ERR too-long' and closes, the dissector keeps waiting for the LF, "
    "so the bytes are no request and the reply has none")

CAPTURES = [
    Cap("udp-session"),
    Cap("tcp-session"),
    Cap("tcp-pipelining"),
    Cap("tcp-split"),
    Cap("tcp-legacy"),
    Cap("split-servers"),
    Cap("errors"),
    Cap("limits", calcd=("--max-conn", "1", "--idle-timeout", "1")),
    Cap("ipv6"),
    Cap("proxy-haproxy", calcd=("--bind", "127.0.0.2", "--proxy-protocol",
                                "127.0.0.1/32")),
    Cap("udp-loss", skip={("127.0.0.2", 4000): (
        "the client's side of the relay: the relay dropped, duplicated and "
        "delayed replies on purpose; its calcd side is replayed exactly")},
        unpaired=(1, 0)),            # '1+1', lost and never asked again
    Cap("seed-udp", seed=True),
    Cap("seed-tcp", seed=True),
    Cap("seed-udp-calcd", seed=True),
    Cap("seed-tcp-calcd", seed=True),
    # calc's tagged requests to the original servers: the replies come
    # without the tag, so they answer no request (calc gives up on them)
    Cap("calc-seed-udp", seed=True, differs=SEED_DIFFERS),
    Cap("calc-seed-tcp", seed=True, differs=SEED_DIFFERS),
]
BY_NAME = {c.name: c for c in CAPTURES}

# The key calc fields of the expected dissections (one line per calc frame,
# two passes), then the expert infos of the frame.
FIELDS = [
    "calc.type", "calc.framing", "calc.expression", "calc.tag",
    "calc.operators", "calc.op_class", "calc.result", "calc.error.kind",
    "calc.error.message", "calc.response_in", "calc.response_to",
    "calc.time", "calc.expected", "calc.verified", "calc.refused",
    "calc.udp_bound", "calc.retransmission_of", "calc.duplicate_of",
    "calc.proxy.version", "calc.proxy.src.ipv4", "calc.proxy.src.ipv6",
    "calc.proxy.srcport", "calc.proxy.length",
]
EXPERT = "_ws.expert"


def ws_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True,
                         text=True, check=True).stdout
    return ".".join(out.split()[2].split(".")[:2])   # TShark (Wireshark) 4.0.17


def _load_plugin_helper():
    """plugin/tests/conftest.py under another module name (so it does not
    clash with a conftest of the caller's own)."""
    path = REPO / "plugin" / "tests" / "conftest.py"
    spec = importlib.util.spec_from_file_location("calc_plugin_tshark", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def find_plugin(build=None):
    """The calc.so to use: $CALC_PLUGIN, else <build>/plugin/calc.so, build
    being $CALC_BUILD_DIR or <repo>/build."""
    if os.environ.get("CALC_PLUGIN"):
        return Path(os.environ["CALC_PLUGIN"]).resolve()
    build = Path(build or os.environ.get("CALC_BUILD_DIR") or REPO / "build")
    return (build / "plugin" / "calc.so").resolve()


def tshark(plugin):
    """The dissector tests' Tshark (run, fields) for this plugin."""
    mod = _load_plugin_helper()
    return mod.Tshark(str(plugin), ws_version())


def _abbrev(value, keep=60, limit=200):
    """A value over `limit` characters as its start, its length and a hash
    of the whole (exact, yet readable)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha1(value.encode()).hexdigest()[:12]
    return "%s... [%d chars, sha1 %s]" % (value[:keep], len(value), digest)


# Looked at by the tests in the same tshark run, not written to the
# expected files (their expert infos are there, by message).
CHECKS = ["calc.no_response", "calc.no_request", "calc.mismatch",
          "calc.malformed_response", "calc.error_reply.unknown",
          "calc.amplification", "calc.tag_reused"]


def dissect_rows(ts, pcap):
    """One tshark -2 run over a capture: ([{field: value} per calc frame,
    with frame.number, _ws.col.Info, FIELDS, EXPERT and CHECKS; a frame's
    messages' values joined with '|'], the calc,tree text)."""
    names = ["frame.number", "_ws.col.Info"] + FIELDS + [EXPERT] + CHECKS
    args = ["-r", str(pcap), "-2", "-Y", "calc", "-T", "fields",
            "-E", "aggregator=|", "-E", "occurrence=a"]
    for f in names:
        args += ["-e", f]
    args += ["-z", "calc,tree"]
    out = ts.run(*args)
    rows, _, tree = out.partition("\n\n=")
    table = [dict(zip(names, row.split("\t"))) for row in rows.splitlines()]
    return table, "=" + tree.rstrip("\n")


def dissect(ts, pcap, rows=None):
    """The expected-dissection text of a capture: a header, one block per
    frame holding calc (its Info line, then the non-empty key fields and
    the frame's expert infos; '|' between a frame's messages), then the
    calc,tree statistics."""
    table, tree = rows or dissect_rows(ts, pcap)
    lines = ["# tshark -2 -Y calc -T fields (key calc fields, expert infos)"
             " and -z calc,tree", "# of %s" % Path(pcap).name]
    for row in table:
        lines.append("%s: %s" % (row["frame.number"], row["_ws.col.Info"]))
        for name in FIELDS + [EXPERT]:
            if row[name] != "":
                lines.append("    %s = %s" % (name, _abbrev(row[name])))
    lines.append("")
    lines.append(tree)
    return "\n".join(lines) + "\n"


# ---- the documents' console blocks: commands and their outputs ----------
# Every ```console block of README.md and docs/*.md is what a reader sees
# in a terminal: lines after a "$ " prompt (and their continuation lines)
# are the commands, the rest their output.  doc_run feeds the commands to
# bash exactly as written, from the top of a copy of the repository, as a
# normal user who has followed the set-up the documents give: the plugin
# installed as a personal plugin (plugin/install-plugin.sh --user), the
# calc profile imported, and packet-analysis.md's `ts` defined.
DOC = REPO / "docs" / "packet-analysis.md"
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
_BLOCK = re.compile(r"^```console\n(.*?)^```\n", re.S | re.M)
# The reader's set-up, as the documents give it (test_doc checks that they
# still say so).
DOC_SETUP = {
    "README.md": ["plugin/install-plugin.sh --user"],
    "docs/DISSECTOR.md": [
        "mkdir -p ~/.config/wireshark/profiles",
        "cp -r plugin/profile/calc ~/.config/wireshark/profiles/"],
    "docs/packet-analysis.md": [
        'ts() { plugin/calc-tshark.sh build/plugin/calc.so "$@"; }'],
}
NOBODY = 65534


def doc_blocks(text):
    """(commands, shown output) of each console block: commands as bash
    gets them (prompts removed), output with trailing blanks removed."""
    blocks = []
    for m in _BLOCK.finditer(text):
        cmds, shown, cont = [], [], False
        for line in m.group(1).splitlines():
            if cont or line.startswith("$ "):
                cmds.append(line if cont else line[2:])
                cont = line.endswith("\\")
            else:
                shown.append(line.rstrip())
        blocks.append(("\n".join(cmds), "\n".join(shown).strip("\n")))
    return blocks


class DocShell:
    """bash for the documents' commands: a stage holding a copy of what
    they use (captures/, plugin/, the built calc.so and programs under
    build/), a HOME with the reader's set-up done, and, as root, everything
    run as nobody (tshark run by root ignores personal plugins, and a
    reader is not root)."""

    def __init__(self, build, plugin=None):
        import shutil
        import tempfile
        build = Path(build)
        self.dir = Path(tempfile.mkdtemp(prefix="calc-doc."))
        self.top = self.dir / "repo"
        self.home = self.dir / "home"
        self.home.mkdir()
        shutil.copytree(HERE, self.top / "captures",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "plugin", self.top / "plugin",
                        ignore=shutil.ignore_patterns("__pycache__", "*.o"))
        for rel in ("clients/calc-eval", "clients/calc", "clients/calc-cli",
                    "servers/calcd"):
            if (build / rel).is_file():
                (self.top / "build" / rel).parent.mkdir(parents=True,
                                                        exist_ok=True)
                shutil.copy2(build / rel, self.top / "build" / rel)
        (self.top / "build" / "plugin").mkdir(parents=True)
        shutil.copy2(plugin or build / "plugin" / "calc.so",
                     self.top / "build" / "plugin" / "calc.so")
        for dirpath, dirs, files in os.walk(self.dir):
            for name in [dirpath] + [os.path.join(dirpath, f)
                                     for f in dirs + files]:
                if os.getuid() == 0:
                    os.chown(name, NOBODY, NOBODY, follow_symlinks=False)
        os.chmod(self.dir, 0o755)
        setup = [c for cmds in DOC_SETUP.values() for c in cmds
                 if not c.startswith("ts()")]
        out = self.bash("\n".join(setup))
        if out[0] != 0:
            raise RuntimeError("the documents' set-up failed:\n" + out[1])

    def bash(self, script, prelude=""):
        """(exit status, stdout and stderr) of bash running script."""
        env = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
               "HOME=%s" % self.home, "LANG=C.UTF-8", "USER=reader",
               "TERM=dumb"]
        if os.environ.get("CALC_WS_VERSION"):    # calc-tshark.sh: one run less
            env.append("CALC_WS_VERSION=" + os.environ["CALC_WS_VERSION"])
        argv = env + ["bash", "-c", prelude + "\n" + script, "doc"]
        if os.getuid() == 0:
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                    "--clear-groups"] + argv
        p = subprocess.run(argv, cwd=self.top, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        return p.returncode, p.stdout

    def run(self, doc, commands):
        """The output of one block's commands, as doc_blocks shows it."""
        rel = str(Path(doc).resolve().relative_to(REPO))
        prelude = "\n".join(c for c in DOC_SETUP.get(rel, [])
                            if c.startswith("ts()"))
        rc, out = self.bash(commands, prelude)
        return rc, "\n".join(l.rstrip() for l in
                             out.strip("\n").splitlines())

    def remove(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


def doc_fill(shell, doc, text):
    """The document with every console block's output run again."""
    def fill(m):
        cmds, _ = doc_blocks(m.group(0))[0]
        _, out = shell.run(doc, cmds)
        lines, cont = [], False         # the commands as written, then out
        for line in m.group(1).splitlines():
            if cont or line.startswith("$ "):
                lines.append(line)
                cont = line.endswith("\\")
        return "```console\n%s\n%s\n```\n" % ("\n".join(lines), out)
    return _BLOCK.sub(fill, text)
