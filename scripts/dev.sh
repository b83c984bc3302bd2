#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/dev.sh: the project's two README commands.
#
#   scripts/dev.sh demo   install what is missing, build, run the main job
#   scripts/dev.sh test   install what is missing, build, run every test
#   scripts/dev.sh build  install what is missing, build
#   scripts/dev.sh deps   install what is missing, nothing else
#
# Works as root and as a normal user with sudo, on Debian 12, 13 and
# testing.  The build goes to ./build (override with CALC_BUILD_DIR).
# In a root of tests/compat/run (CALC_COMPAT_ROOT=<suite>) only the core
# packages are installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CALC_BUILD_DIR:-$here/build}
mode=${1:-demo}

# Debian packages the build and the tests need, one line per purpose.
# "a|b": the first of a and b that the release has, where names differ
# between Debian 12, 13 and testing (e.g. "wireshark-qt|wireshark").
packages=(
  build-essential cmake pkg-config
  libgmp-dev libglib2.0-dev libedit-dev
  tshark libwireshark-dev wireshark-dev
  python3 python3-pytest
  valgrind util-linux procps iproute2 time
)
# Only on the machine itself, not in a compat root (CALC_COMPAT_ROOT), where
# the tests that need them skip: heavy optional suites (GUI under Xvfb,
# HAProxy/nginx, Debian package builds) and the compat runner.
extra_packages=(
  haproxy                  # tests/lb: HAProxy in front of three calcd
  nginx libnginx-mod-stream # tests/lb: nginx stream (TCP and UDP) in front
  "wireshark-qt|wireshark"  # docs/screenshots/make: the real Wireshark GUI (captures_screenshots_make); Debian 13 calls it wireshark
  xvfb           # docs/screenshots/make: the GUI's private X server
  xdotool        # docs/screenshots/make: types what has no command-line option
  python3-pil    # docs/screenshots/make grabs the screen; the image checks
  optipng        # docs/screenshots/make: small PNGs
  debootstrap git    # tests/compat/run
  mandoc groff-base man-db            # man pages: lint, man -l (man/tests)
  systemd                             # systemd-analyze, systemd-socket-activate
  debhelper dpkg-dev fakeroot devscripts lintian  # debian/ packages (tests/package)
)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The name this release has for an "a|b" entry (after apt-get update).
release_name() {
  local a alts
  IFS='|' read -ra alts <<<"$1"
  for a in "${alts[@]}"; do
    apt-cache policy "$a" 2>/dev/null | grep -q '^ *Candidate: [^(]' &&
      { echo "$a"; return; }
  done
  echo "${alts[0]}"   # none known: apt says what is wrong
}

install_missing() {
  local want=("${packages[@]}") missing=() p a alts
  [ -n "${CALC_COMPAT_ROOT:-}" ] || want+=("${extra_packages[@]}")
  for p in "${want[@]}"; do
    IFS='|' read -ra alts <<<"$p"
    for a in "${alts[@]}"; do installed "$a" && continue 2; done
    missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  # Others may hold the dpkg lock: wait for it rather than fail.
  local apt=(apt-get -o DPkg::Lock::Timeout=300)
  "${sudo[@]}" "${apt[@]}" update -qq
  local names=()
  for p in "${missing[@]}"; do names+=("$(release_name "$p")"); done
  say "installing: ${names[*]}"
  # tshark asks whether non-root users may capture: keep the default (no).
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    "${apt[@]}" install -y -qq "${names[@]}" >/dev/null
}

configure_and_build() {
  say "building in $build"
  # The compatibility runner is part of the test run; CALC_TEST_COMPAT=0
  # leaves it out.
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCALC_WERROR=ON \
    -DCALC_TEST_COMPAT="$([ "${CALC_TEST_COMPAT:-1}" = 0 ] && echo OFF || echo ON)" \
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

# capture_check: whether this user may capture on lo now, by trying it:
# dumpcap for one second on a port nobody uses.  (Listing interfaces, as
# `dumpcap -D` does, needs no rights, so it proves nothing.)  Without the
# rights, prints one line saying how to get them and returns 1.
capture_check() {
  local err
  if ! command -v dumpcap >/dev/null; then
    say "no live capture: dumpcap is not installed (sudo apt-get install tshark)"
    return 1
  fi
  if err=$(timeout 10 dumpcap -q -i lo -f 'udp port 9' -a duration:1 \
             -w /dev/null 2>&1 >/dev/null); then
    return 0
  fi
  local how="sudo dpkg-reconfigure wireshark-common (answer Yes), sudo usermod -aG wireshark $(id -un), then log in again"
  if getent group wireshark | cut -d: -f4 | tr , '\n' | grep -qx "$(id -un)" &&
     ! id -nG | tr ' ' '\n' | grep -qx wireshark; then
    how="you are in group wireshark since this login: log in again (or: newgrp wireshark)"
  elif id -nG | tr ' ' '\n' | grep -qx wireshark; then
    how="dumpcap lacks its capture rights: sudo dpkg-reconfigure wireshark-common (answer Yes)"
  fi
  # dumpcap's own reason, else the first other line (cannot even run it)
  err=$( { printf '%s\n' "$err" | sed -n 's/^dumpcap: //p'
           printf '%s\n' "$err" | grep -v '^Capturing on' ; } | head -n 1)
  say "$(id -un) may not capture on lo (${err:-dumpcap failed}); to capture: $how; see docs/CAPTURE.md"
  return 1
}

# capture_start PCAP: dumpcap on lo for the calc ports, in the background
# (pid in $dump); returns once dumpcap reports the capture running.
capture_start() {
  local log=$1.log i
  dumpcap -q -i lo -f 'port 4000 or port 4001 or port 4002' -w "$1" \
    >/dev/null 2>"$log" &
  dump=$!
  for i in $(seq 100); do
    grep -q '^File:' "$log" 2>/dev/null && { sleep 0.3; return 0; }
    kill -0 "$dump" 2>/dev/null || break
    sleep 0.1
  done
  say "dumpcap did not start: $(tail -n 1 "$log")"
  capture_stop
  return 1
}

capture_stop() {
  [ -n "$dump" ] || return 0
  sleep 0.5                                   # the last packets reach dumpcap
  kill -TERM "$dump" 2>/dev/null || true      # it may have stopped already
  wait "$dump" 2>/dev/null || true
  dump=
}

# The client session, captured on loopback when this user may capture and
# the well-known ports are free, then shown dissected by the plugin; the
# checked-in capture of the same session otherwise.  A normal user gets the
# plugin installed as a personal plugin and plain tshark uses it; root's
# tshark ignores personal plugins, so for root the dissection runs through
# plugin/calc-tshark.sh (tshark as nobody with the built plugin), as the
# tests do, and nothing is installed.
session_and_dissection() {
  local pcap="" tmp="" dump=""
  if [ -x "$build/servers/calcd" ]; then
    if ! ports_free 4000 4001 4002; then
      say "a port of 4000-4002 is in use: the session runs on free ports, not captured"
    elif capture_check; then
      tmp=$(mktemp -d "${TMPDIR:-/tmp}/calc-demo.XXXXXX")
      chmod 755 "$tmp"
      pcap=$tmp/session.pcapng
      if capture_start "$pcap"; then
        export CALC_DEMO_PORTS="4000 4001 4002"
      else
        pcap=
      fi
    fi
  fi
  if [ -x "$here/clients/demo.sh" ] && [ -x "$build/servers/calcd" ]; then
    "$here/clients/demo.sh" "$build" || say "the client session failed"
  fi
  capture_stop
  unset CALC_DEMO_PORTS
  if [ ! -f "$build/plugin/calc.so" ]; then
    say "no Wireshark plugin was built (libwireshark-dev missing?): no dissection"
    [ -z "$tmp" ] || rm -rf "$tmp"
    return 0
  fi
  local show=$here/captures/tcp-session.pcapng what="the checked-in capture captures/tcp-session.pcapng"
  if [ -n "$pcap" ] && [ -s "$pcap" ]; then
    show=$pcap what="that session, captured on lo"
  fi
  local ts=(tshark)
  if [ "$(id -u)" -eq 0 ]; then
    say "root: tshark run by root ignores personal plugins, so nothing is installed; plugin/calc-tshark.sh runs tshark as nobody with $build/plugin/calc.so (install for everyone: sudo cmake --install build --component calc-plugin)"
    ts=("$here/plugin/calc-tshark.sh" "$build/plugin/calc.so")
  else
    say "the Wireshark plugin, installed for $(id -un) (personal plugin; Wireshark and tshark find it)"
    "$here/plugin/install-plugin.sh" --user --build "$build"
  fi
  say "$what, as Wireshark decodes it: ${ts[0]##*/} -2 -r FILE -Y calc"
  "${ts[@]}" -2 -n -r "$show" -Y calc \
    -T fields -E occurrence=a -e frame.number -e ipv6.src -e ip.src \
    -e _ws.col.Protocol -e _ws.col.Info | sed 's/\t\t*/  /g'
  say "the first replies in detail: ${ts[0]##*/} -2 -V -O calc"
  "${ts[@]}" -2 -n -r "$show" \
    -Y 'calc.type == 2 && calc.response_to' -c 40 -O calc -V 2>/dev/null |
    sed -n '/^Calculator Protocol\|^CALC/,/^$/p' | head -30 || true
  [ -z "$tmp" ] || rm -rf "$tmp"
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
  local summary=$build/compat-summary.txt rc=0
  rm -f "$summary"
  ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600 || rc=$?
  # The compatibility runner's lines (tests/compat/run, one per Debian root).
  if [ -s "$summary" ]; then
    say "tests/compat/run"
    cat "$summary"
  fi
  return $rc
}

case "$mode" in
  demo)  install_missing; configure_and_build; demo ;;
  test)  install_missing; configure_and_build; run_tests ;;
  build) install_missing; configure_and_build ;;
  deps)  install_missing ;;
  *) echo "usage: $0 [demo|test|build|deps]" >&2; exit 2 ;;
esac
