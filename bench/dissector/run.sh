#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh: how fast tshark dissects calc traffic with our plugin (pairing
# and verification on, the defaults) next to memcached text traffic with
# Wireshark's built-in memcache dissector, on captures of the same size and
# shape, in one run, over TCP and UDP; how much state calc keeps per pair;
# and what verification costs on the heaviest requests.  Results go in
# docs/BENCHMARKS.md ("Dissector").
#
#   bench/dissector/run.sh [--build DIR] [--pairs N] [--heavy M] [--runs R]
#                          [--captures DIR]
#
#   --build DIR  build folder holding plugin/calc.so (default: build)
#   --captures DIR  keep the generated captures in DIR, and reuse them when
#                DIR already holds them for the same N and M (generating
#                1,000,000 pairs takes minutes; the timings do not include it)
#   --pairs N    request/response pairs per capture (default 1000000)
#   --heavy M    pipelined 9**4300 requests for the verification case,
#                and as many distinct 9**4300%M (default 300000)
#   --runs R     timed runs per capture and mode; the best counts (default 3)
#
# Every capture is dissected by the same tshark, with the same staged
# plugin (plugin/calc-tshark.sh: as nobody when run by root), with tshark
# -r and -2 -r, output to /dev/null.  State per pair: max RSS of calc's
# -r run minus that of the same run with --disable-protocol calc, over N.
# Verification: the heavy captures (identical, distinct, distinct UDP with
# short answers) with calc.verify on and off, -r and -2 -r.  Needs
# /usr/bin/time (Debian package "time").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build
pairs=1000000
heavy=300000
runs=3
captures=
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    --heavy) heavy=$2; shift ;;
    --runs) runs=$2; shift ;;
    --captures) captures=$2; shift ;;
    *) sed -n '4,24p' "$0" >&2; exit 2 ;;
  esac
  shift
done
plugin=$build/plugin/calc.so
[ -f "$plugin" ] || { echo "$0: no $plugin (build first)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "$0: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

# World-readable, so that tshark run as nobody reads the captures in place.
if [ -n "$captures" ]; then
  mkdir -p "$captures"
  work=$(cd "$captures" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/calc-bench.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
chmod 755 "$work"
export CALC_WS_VERSION
CALC_WS_VERSION=$(tshark --version 2>/dev/null |
                  sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')
tshark_run() { "$repo/plugin/calc-tshark.sh" "$plugin" "$@"; }

stamp="pairs=$pairs heavy=$heavy gen=$(cksum < "$here/gen_captures.py")"
if [ -n "$captures" ] && [ "$(cat "$work/STAMP" 2>/dev/null)" = "$stamp" ]; then
  echo "reusing the captures in $work ($stamp)" >&2
else
  echo "generating $pairs pairs per capture, $heavy heavy requests, in $work" >&2
  rm -f "$work/STAMP"
  python3 "$here/gen_captures.py" "$work" "$pairs" "$heavy"
  echo "$stamp" > "$work/STAMP"
fi
chmod 644 "$work"/*.pcap

# Not timed: show that the calc runs pair and verify everything, and that
# memcache decodes every message.
echo "checking the captures" >&2
for cap in calc calc-udp; do
  tshark_run -r "$work/$cap.pcap" -q -z calc,tree |
    grep -E '^(Requests by operator class|Responses by kind|Responses without|Responses differing)' >&2
done
for cap in memcache memcache-udp; do
  tshark_run -r "$work/$cap.pcap" -q -z io,phs | grep -E 'memcache' >&2
done

# One timed run: "seconds maxrss_kb".
timed() {
  { /usr/bin/time -f '%e %M' "$repo/plugin/calc-tshark.sh" "$plugin" "$@" \
      > /dev/null; } 2>&1 | tail -n 1
}

# Runs interleave the captures, so that a change in the machine's load
# touches all alike; the best run of each counts.
declare -A best rss
measure() { # key, tshark arguments...
  local k=$1 out s kb
  shift
  out=$(timed "$@")
  s=${out% *} kb=${out#* }
  if [ -z "${best[$k]:-}" ] || awk "BEGIN{exit !($s < ${best[$k]})}"; then
    best[$k]=$s
  fi
  if [ -z "${rss[$k]:-}" ] || [ "$kb" -lt "${rss[$k]}" ]; then rss[$k]=$kb; fi
}
for _ in $(seq "$runs"); do
  for t in "" -udp; do
    for cap in calc$t memcache$t; do
      measure "$cap r" -r "$work/$cap.pcap"
      measure "$cap 2r" -2 -r "$work/$cap.pcap"
    done
    measure "calc$t off" -r "$work/calc$t.pcap" --disable-protocol calc
  done
  for h in heavy distinct distinct-udp; do
    measure "$h on" -r "$work/$h.pcap"
    measure "$h off" -r "$work/$h.pcap" -o calc.verify:FALSE
    measure "$h 2on" -2 -r "$work/$h.pcap"
    measure "$h 2off" -2 -r "$work/$h.pcap" -o calc.verify:FALSE
  done
done

echo
echo "| transport | tshark | calc (s) | memcache (s) | calc / memcache |"
echo "|---|---|---:|---:|---:|"
for t in "" -udp; do
  for mode in r 2r; do
    awk -v t="${t:+UDP}" -v m="$mode" -v c="${best[calc$t $mode]}" \
        -v mc="${best[memcache$t $mode]}" \
      'BEGIN { printf "| %s | %s | %.2f | %.2f | %.2f |\n", (t ? t : "TCP"),
               (m == "r" ? "-r" : "-2 -r"), c, mc, c / mc }'
  done
done
echo
echo "| transport | max RSS calc (MB) | calc disabled (MB) | memcache (MB) | calc state per pair (bytes) |"
echo "|---|---:|---:|---:|---:|"
for t in "" -udp; do
  awk -v t="${t:+UDP}" -v on="${rss[calc$t r]}" -v off="${rss[calc$t off]}" \
      -v mc="${rss[memcache$t r]}" -v n="$pairs" \
    'BEGIN { printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", (t ? t : "TCP"),
             on / 1024, off / 1024, mc / 1024, (on - off) * 1024 / n }'
done
echo
echo "| verification case | tshark | verify on (s) | verify off (s) | on / off | max RSS on (MB) |"
echo "|---|---|---:|---:|---:|---:|"
for h in heavy distinct distinct-udp; do
  for m in "" 2; do
    awk -v h="$h" -v m="$m" -v a="${best[$h ${m}on]}" -v b="${best[$h ${m}off]}" \
        -v kb="${rss[$h ${m}on]}" \
      'BEGIN { printf "| %s | %s | %.2f | %.2f | %.2f | %.0f |\n", h,
               (m == "" ? "-r" : "-2 -r"), a, b, a / b, kb / 1024 }'
  done
done
