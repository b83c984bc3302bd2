#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/dev.sh: the project's two README commands.
#
#   scripts/dev.sh demo   install what is missing, build, run the main job
#   scripts/dev.sh test   install what is missing, build, run every test
#   scripts/dev.sh build  install what is missing, build
#
# Works as root and as a normal user with sudo, on Debian 12.  The build
# goes to ./build (override with CALC_BUILD_DIR).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CALC_BUILD_DIR:-$here/build}
mode=${1:-demo}

# Debian packages the build and the tests need.
packages=(
  build-essential cmake pkg-config
  libgmp-dev libglib2.0-dev libedit-dev
  tshark libwireshark-dev wireshark-dev
  python3 python3-pytest
  valgrind util-linux procps iproute2 time
  mandoc groff-base man-db            # man pages: lint, man -l (man/tests)
  systemd                             # systemd-analyze, systemd-socket-activate
  debhelper dpkg-dev fakeroot devscripts lintian  # debian/ packages (tests/package)
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_missing() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  # tshark asks whether non-root users may capture: keep the default (no).
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

configure_and_build() {
  say "building in $build"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCALC_WERROR=ON \
    -DCALC_BUILD_PLUGIN=ON >/dev/null
  cmake --build "$build" -j "$(nproc)"
}

ports_free() { # ports_free PORT...: no UDP or TCP socket bound to any
  local p
  for p in "$@"; do
    ss -Hlntu "sport = :$p" 2>/dev/null | grep -q . && return 1
  done
  return 0
}

# The client session, captured on loopback when this user may capture and
# the well-known ports are free, then shown dissected by the plugin
# (installed for the user first).
session_and_dissection() {
  local pcap="" dump=""
  if [ -x "$build/servers/calcd" ] && ports_free 4000 4001 4002 &&
     dumpcap -D >/dev/null 2>&1 && dumpcap -D 2>/dev/null | grep -qw lo; then
    pcap=$(mktemp -d "${TMPDIR:-/tmp}/calc-demo.XXXXXX")/session.pcapng
    chmod 755 "$(dirname "$pcap")"
    dumpcap -q -i lo -f 'port 4000 or port 4001 or port 4002' -w "$pcap" \
      >/dev/null 2>&1 &
    dump=$!
    sleep 1
    export CALC_DEMO_PORTS="4000 4001 4002"
  fi
  if [ -x "$here/clients/demo.sh" ] && [ -x "$build/servers/calcd" ]; then
    "$here/clients/demo.sh" "$build"
  fi
  [ -n "$dump" ] && { sleep 0.5; kill -INT "$dump"; wait "$dump" || true; }
  [ -f "$build/plugin/calc.so" ] || return 0
  say "the Wireshark plugin, installed for $(id -un)"
  "$here/plugin/install-plugin.sh" --user --build "$build"
  local show=${pcap:-$here/captures/tcp-session.pcapng}
  [ -n "$pcap" ] && [ -s "$pcap" ] || show=$here/captures/tcp-session.pcapng
  say "that session as Wireshark decodes it (tshark -2 -Y calc, plugin from $build)"
  "$here/plugin/calc-tshark.sh" "$build/plugin/calc.so" -2 -n -r "$show" -Y calc \
    -T fields -E occurrence=a -e frame.number -e ipv6.src -e ip.src \
    -e _ws.col.Protocol -e _ws.col.Info | sed 's/\t\t*/  /g'
  say "the first replies in detail: tshark -2 -V -O calc"
  "$here/plugin/calc-tshark.sh" "$build/plugin/calc.so" -2 -n -r "$show" \
    -Y 'calc.type == 2 && calc.response_to' -c 40 -O calc -V 2>/dev/null |
    sed -n '/^Calculator Protocol\|^CALC/,/^$/p' | head -30
  [ -n "$pcap" ] && rm -rf "$(dirname "$pcap")"
  return 0
}

demo() {
  say "calc-eval: the expression core, answering as a server would"
  local e
  for e in '15*15' '30+30' '2**100' '7//-2' '1/3' '-2**2' '2**-1' '(2**1024)/3' \
           '1e308*10' '1/0' '2^10' "__import__('os').system('id')" '15*15 #7'; do
    printf '  %-32s -> %s\n' "$e" "$("$build/clients/calc-eval" "$e" || true)"
  done
  session_and_dissection
}

run_tests() {
  say "running every test"
  ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600
}

case "$mode" in
  demo)  install_missing; configure_and_build; demo ;;
  test)  install_missing; configure_and_build; run_tests ;;
  build) install_missing; configure_and_build ;;
  *) echo "usage: $0 [demo|test|build]" >&2; exit 2 ;;
esac
