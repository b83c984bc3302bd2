# SPDX-License-Identifier: MIT
"""tshark's output in one form on every Wireshark version.

What tshark itself prints differently, while calc's values are the same:
- booleans: 4.0 prints FT_BOOLEAN fields as 1/0, 4.2 and later as
  True/False;
- escapes (-E escape=y, the default): 4.0 and 4.2 escape tab, LF and CR;
  4.4 and later also backslash, form feed, vertical tab and backspace.
The one form is 4.0's (the expected files were reviewed in it).  The 4.2
behaviour was seen on Ubuntu 24.04's tshark 4.2.2 (not a runner suite:
tests/compat/README.md).
"""
import re
import subprocess

_BOOL_STYLE = (4, 2)  # first version printing True/False
_ESC_STYLE = (4, 4)   # first version escaping '\'
_booleans = {}        # tshark command (tuple) -> FT_BOOLEAN field names


def _version(version):
    """version: "4.4" or (4, 4)."""
    if isinstance(version, str):
        version = tuple(int(x) for x in version.split(".")[:2])
    return tuple(version)


def new_style(version):
    """Whether tshark of this version prints -T fields otherwise than 4.0."""
    return _version(version) >= _BOOL_STYLE


def boolean_fields(cmd, env=None):
    """The FT_BOOLEAN fields tshark (cmd: the command before its
    arguments, with the plugin) knows; one -G fields run per process."""
    key = tuple(cmd)
    if key not in _booleans:
        out = subprocess.run(list(cmd) + ["-G", "fields"], capture_output=True,
                             text=True, check=True, timeout=120,
                             env=env).stdout
        _booleans[key] = {l.split("\t")[2] for l in out.splitlines()
                          if l.startswith("F\t") and "\tFT_BOOLEAN\t" in l}
    return _booleans[key]


_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "f": "\f",
             "v": "\v", "b": "\b"}
_ESC = re.compile(r"\\([\\tnrfvb])")


def _value(v, boolean, escapes):
    if boolean:
        return {"True": "1", "False": "0"}.get(v, v)
    if not escapes or "\\" not in v:
        return v
    raw = _ESC.sub(lambda m: _UNESCAPE[m.group(1)], v)
    return raw.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def fields_args(args):
    """(field names, aggregator, separator) of tshark arguments."""
    names, agg, sep = [], ",", "\t"
    args = list(args)
    for i, a in enumerate(args[:-1]):
        if a == "-e":
            names.append(args[i + 1])
        elif a == "-E":
            opt = args[i + 1]
            if opt.startswith("aggregator="):
                agg = {"/s": " ", "/t": "\t"}.get(opt[11:], opt[11:])
            elif opt.startswith("separator="):
                sep = {"/s": " ", "/t": "\t"}.get(opt[10:], opt[10:])
    return names, agg, sep


def normalise(out, args, version, cmd, env=None, booleans=None):
    """tshark's stdout for arguments args (a -T fields run) in 4.0's form.
    Field rows end at the first empty line (statistics, -z, follow).
    booleans: the FT_BOOLEAN fields, if known (else asked of cmd)."""
    if not new_style(version) or "fields" not in args:
        return out
    names, agg, sep = fields_args(args)
    if not names:
        return out
    if booleans is None:
        booleans = boolean_fields(cmd, env)
    booleans = set(booleans) & set(names)
    escapes = _version(version) >= _ESC_STYLE
    lines = out.split("\n")
    for i, line in enumerate(lines):
        if line == "":
            break
        cols = line.split(sep)
        if len(cols) != len(names):
            continue
        lines[i] = sep.join(
            agg.join(_value(v, True, escapes) for v in c.split(agg))
            if n in booleans else _value(c, False, escapes)
            for n, c in zip(names, cols))
    return "\n".join(lines)


# Text output (-V, -z): what 4.6 prints differently from 4.0.
_FRAME = re.compile(r"^Frame (\d+): Packet, ")
_RELTIME = re.compile(r"\b(\d+(?:\.\d+)?) (seconds|milliseconds|microseconds|"
                      r"nanoseconds)\b")
_UNIT = {"seconds": 0, "milliseconds": 3, "microseconds": 6, "nanoseconds": 9}


def _seconds(m):
    from decimal import Decimal
    v = Decimal(m.group(1)).scaleb(-_UNIT[m.group(2)])
    return "%s seconds" % v.quantize(Decimal("0.000000001"))


def text(out):
    """tshark's text output in one form: 4.6 starts a frame's line with
    "Frame N: Packet, " and prints relative times in the largest fitting
    unit ("96.442 microseconds"; 4.0: "0.000096442 seconds"); table lines
    of -z statistics are padded differently (blanks collapsed, none
    beside '|'); in -T fields rows (tab-separated) a cell True/False is
    1/0 and an escaped backslash one backslash, as 4.0 prints them."""
    lines = []
    for line in out.split("\n"):
        line = _FRAME.sub(r"Frame \1: ", line)
        line = _RELTIME.sub(_seconds, line)
        if line.startswith("|"):
            line = re.sub(r" *\| *", "|", re.sub(" +", " ", line))
        if "\t" in line:   # a -T fields row, field types unknown here
            line = "\t".join({"True": "1", "False": "0"}.get(c, c)
                              for c in line.split("\t")).replace("\\\\", "\\")
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    # For scripts: tsfields.py VERSION BOOLEAN,... TSHARK-ARGS... < fields
    # output, or tsfields.py --text < text output.
    import sys
    if sys.argv[1:] == ["--text"]:
        sys.stdout.write(text(sys.stdin.read()))
    else:
        sys.stdout.write(normalise(sys.stdin.read(), sys.argv[3:],
                                   sys.argv[1], None,
                                   booleans=sys.argv[2].split(",")))
