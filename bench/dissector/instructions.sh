#!/bin/bash
# SPDX-License-Identifier: MIT
#
# instructions.sh: the dissector benchmark counted in instructions, not
# seconds: tshark with the calc plugin (pairing and verification on, the
# defaults) against Wireshark's built-in memcache dissector on captures of
# the same size and shape (gen_captures.py), TCP and UDP, tshark -r and
# -2 -r, each run under valgrind's callgrind, which counts the
# instructions executed: the same count whatever the machine's load.
# Each count is net of the same tshark reading an empty capture (start-up,
# registration, the plugin's own).  Prints a markdown table of the counts
# and of calc / memcache (docs/BENCHMARKS.md, "Dissector").
#
#   bench/dissector/instructions.sh [--build DIR] [--pairs N]
#        [--captures DIR] [--plugin NAME=FILE]... [--jobs J]
#
#   --build DIR     build folder holding plugin/calc.so (default: build)
#   --pairs N       request/response pairs per capture (default 20000)
#   --captures DIR  keep the captures in DIR and reuse them when DIR holds
#                   them for the same N (default: a temporary folder)
#   --plugin NAME=FILE  measure this calc.so as NAME; repeat it to compare
#                   builds in one run, e.g. --plugin before=old/calc.so
#                   --plugin after=build/plugin/calc.so (default:
#                   calc=DIR/plugin/calc.so)
#   --jobs J        callgrind runs at once (default 2; counts do not
#                   depend on it)
#
# Needs valgrind.  Callgrind runs tshark some 50 times slower: 20,000
# pairs take about a minute per run.  What instructions do not measure:
# cache misses, branch mispredictions, memory bandwidth, I/O; run.sh
# times the same captures in seconds (on an idle machine).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build
pairs=20000
captures=
jobs=2
plugins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --captures) captures=$2; shift ;;
    --plugin) plugins+=("$2"); shift ;;
    --jobs) jobs=$2; shift ;;
    *) sed -n '4,31p' "$0" >&2; exit 2 ;;
  esac
  shift
done
[ ${#plugins[@]} -gt 0 ] || plugins=("calc=$build/plugin/calc.so")
names=()
declare -A file
for p in "${plugins[@]}"; do
  n=${p%%=*} f=${p#*=}
  case "$n" in ''|*[!A-Za-z0-9_-]*)
    echo "$0: --plugin wants NAME=FILE, NAME of letters, digits, - or _: $p" >&2
    exit 2 ;;
  esac
  [ -f "$f" ] || { echo "$0: no $f (build first)" >&2; exit 1; }
  names+=("$n")
  file[$n]=$(realpath -- "$f")
done
command -v valgrind > /dev/null ||
  { echo "$0: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

# World-readable, so that tshark run as nobody reads the captures in place.
if [ -n "$captures" ]; then
  mkdir -p "$captures"
  work=$(cd "$captures" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/calc-ibench.XXXXXX")
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/calc-ibench-out.XXXXXX")
if [ -n "$captures" ]; then
  trap 'rm -rf "$out"' EXIT
else
  trap 'rm -rf "$out" "$work"' EXIT
fi
chmod 755 "$work"
export CALC_WS_VERSION
CALC_WS_VERSION=$(tshark --version 2>/dev/null |
                  sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')

# The heavy captures gen_captures.py also writes are not used here: few.
stamp="pairs=$pairs heavy=100 gen=$(cksum < "$here/gen_captures.py")"
if [ -n "$captures" ] && [ "$(cat "$work/STAMP" 2>/dev/null)" = "$stamp" ]; then
  echo "reusing the captures in $work ($stamp)" >&2
else
  echo "generating $pairs pairs per capture in $work" >&2
  rm -f "$work/STAMP"
  python3 "$here/gen_captures.py" "$work" "$pairs" 100
  python3 -c 'import struct, sys
sys.stdout.buffer.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))' \
    > "$work/empty.pcap"
  echo "$stamp" > "$work/STAMP"
fi
chmod 644 "$work"/*.pcap

# One run: its instruction count into $out/KEY.
count() { # key, plugin name, tshark arguments...
  local key=$1 name=$2 log
  shift 2
  log=$out/$key.log
  CALC_TSHARK_WRAP="valgrind --tool=callgrind --callgrind-out-file=/dev/null" \
    "$repo/plugin/calc-tshark.sh" "${file[$name]}" "$@" > /dev/null 2> "$log" ||
    { echo "$0: run $key failed:" >&2; tail -n 5 "$log" >&2; return 1; }
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$log" > "$out/$key"
  [ -s "$out/$key" ] || { echo "$0: no count in $log" >&2; return 1; }
}
runs=()
# memcache once, with the first plugin loaded (not called on its ports).
for n in "${names[@]}"; do
  runs+=("$n.empty $n -r $work/empty.pcap")
  caps=(calc calc-udp)
  [ "$n" = "${names[0]}" ] && caps+=(memcache memcache-udp)
  for cap in "${caps[@]}"; do
    runs+=("$n.$cap.r $n -r $work/$cap.pcap")
    runs+=("$n.$cap.2r $n -2 -r $work/$cap.pcap")
  done
done
echo "${#runs[@]} callgrind runs, $jobs at a time" >&2
failed=0
for r in "${runs[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
  # shellcheck disable=SC2086  # the run's words: key, plugin, arguments
  count $r &
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
wait || failed=1
[ "$failed" -eq 0 ] || exit 1

m() { awk '{ printf "%.1f", $1 / 1e6 }' "$1"; }
echo
echo "$pairs pairs per capture; millions of instructions, net of tshark reading an empty capture ($(m "$out/${names[0]}.empty") M)"
echo
head="| transport | tshark | memcache (M) |"
rule="|---|---|---:|"
for n in "${names[@]}"; do
  head="$head $n (M) | $n / memcache |"
  rule="$rule---:|---:|"
done
echo "$head"
echo "$rule"
for t in "" -udp; do
  for mode in r 2r; do
    n0=${names[0]}
    e=$(cat "$out/$n0.empty")
    mc=$(( $(cat "$out/$n0.memcache$t.$mode") - e ))
    tr=TCP; [ -n "$t" ] && tr=UDP
    line="| $tr | $( [ $mode = r ] && echo -r || echo '-2 -r') | $(awk -v x="$mc" 'BEGIN{printf "%.1f", x / 1e6}') |"
    for n in "${names[@]}"; do
      e=$(cat "$out/$n.empty")
      c=$(( $(cat "$out/$n.calc$t.$mode") - e ))
      line="$line $(awk -v x="$c" -v y="$mc" 'BEGIN{printf "%.1f | %.3f", x / 1e6, x / y}') |"
    done
    echo "$line"
  done
done
