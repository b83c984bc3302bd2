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
import shlex
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPECTED_DIR = HERE / "expected"
WRAPPER = REPO / "plugin" / "calc-tshark.sh"
SEED_PROGRAMS = REPO.parent / "shared" / "seed" / "programs"

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


# ---- docs/packet-analysis.md: its commands and their outputs -------------
DOC = REPO / "docs" / "packet-analysis.md"
_BLOCK = re.compile(r"^```console\n\$ (.*?)\n(.*?)^```\n", re.S | re.M)


def doc_run(ts, command):
    """Run one of the doc's commands from the repository's top: `ts ARGS`
    is tshark with the plugin (the Tshark helper), `capinfos ARGS` as is.
    Its output, each line's trailing blanks removed."""
    words = shlex.split(command)
    if words[0] == "ts":
        out = ts.run(*[str(REPO / w) if w.startswith("captures/") else w
                       for w in words[1:]])
    elif words[0] == "capinfos":
        out = subprocess.run(words, capture_output=True, text=True,
                             check=True, cwd=REPO).stdout
    else:
        raise ValueError("the doc runs only ts and capinfos: %s" % command)
    return "\n".join(l.rstrip() for l in out.strip("\n").splitlines())


def doc_blocks(text):
    """(command, shown output) of each ```console block of the doc."""
    return [(m.group(1), "\n".join(l.rstrip() for l in
                                   m.group(2).strip("\n").splitlines()))
            for m in _BLOCK.finditer(text)]


def doc_fill(ts, text):
    """The doc with every console block's output run again."""
    def fill(m):
        out = doc_run(ts, m.group(1))
        return "```console\n$ %s\n%s\n```\n" % (m.group(1), out)
    return _BLOCK.sub(fill, text)
