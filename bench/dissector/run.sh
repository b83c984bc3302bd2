#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh: how fast tshark dissects calc traffic with our plugin (pairing
# and verification on, the defaults) next to memcached text traffic with
# Wireshark's built-in memcache dissector, on captures of the same size and
# shape, in one run.  Results go in docs/BENCHMARKS.md ("Dissector").
#
#   bench/dissector/run.sh [--build DIR] [--pairs N] [--runs R]
#
#   --build DIR  build folder holding plugin/calc.so (default: build)
#   --pairs N    request/response pairs per capture (default 500000)
#   --runs R     timed runs per capture and mode; the best counts (default 3)
#
# Both captures are dissected by the same tshark, with the same staged
# plugin (plugin/calc-tshark.sh: as nobody when run by root), once as a
# summary (tshark -r) and once with every tree item (-V), output to
# /dev/null.  Needs /usr/bin/time (Debian package "time").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build
pairs=500000
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) sed -n '4,20p' "$0" >&2; exit 2 ;;
  esac
  shift
done
plugin=$build/plugin/calc.so
[ -f "$plugin" ] || { echo "$0: no $plugin (build first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "$0: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# World-readable, so that tshark run as nobody reads the captures in place.
work=$(mktemp -d "${TMPDIR:-/tmp}/calc-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
export CALC_WS_VERSION
CALC_WS_VERSION=$(tshark --version 2>/dev/null |
                  sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')
tshark_run() { "$repo/plugin/calc-tshark.sh" "$plugin" "$@"; }

echo "generating $pairs pairs per capture in $work" >&2
python3 "$here/gen_captures.py" "$work" "$pairs"
chmod 644 "$work"/*.pcap

# Not timed: show that the calc run pairs and verifies everything, and
# that memcache decodes every message.
echo "checking the captures" >&2
tshark_run -r "$work/calc.pcap" -q -z calc,tree |
  grep -E '^(Requests by operator class|Responses by kind|Responses without|Responses differing)' >&2
tshark_run -r "$work/memcache.pcap" -q -z io,phs | grep -E 'memcache' >&2

frames() { capinfos -c -M "$1" | sed -n 's/^Number of packets: *//p'; }

# Runs interleave the captures, so that a change in the machine's load
# touches both alike; the best run of each counts.
declare -A best rss
for _ in $(seq "$runs"); do
  for cap in calc memcache; do
    for mode in summary -V; do
      opt=()
      [ "$mode" = -V ] && opt=(-V)
      out=$( { /usr/bin/time -f '%e %M' \
               "$repo/plugin/calc-tshark.sh" "$plugin" -r "$work/$cap.pcap" \
               "${opt[@]}" > /dev/null; } 2>&1 | tail -n 1)
      s=${out% *} kb=${out#* } k=$cap$mode
      if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($s < ${best[$k]})}"; then
        best[$k]=$s rss[$k]=$kb
      fi
    done
  done
done

echo "| capture | frames | tshark | best of $runs (s) | frames/s | max RSS (MB) |"
echo "|---|---:|---|---:|---:|---:|"
for cap in calc memcache; do
  n=$(frames "$work/$cap.pcap")
  for mode in summary -V; do
    awk -v c="$cap" -v n="$n" -v m="$mode" -v s="${best[$cap$mode]}" \
        -v k="${rss[$cap$mode]}" \
      'BEGIN { printf "| %s | %d | %s | %.2f | %.0f | %.0f |\n",
               c, n, (m == "summary" ? "-r" : "-r -V"), s, n / s, k / 1024 }'
  done
done
