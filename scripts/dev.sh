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
  valgrind util-linux procps iproute2
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
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure_and_build() {
  say "building in $build"
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCALC_WERROR=ON >/dev/null
  cmake --build "$build" -j "$(nproc)"
}

demo() {
  say "calc-eval: the expression core, answering as a server would"
  local e
  for e in '15*15' '30+30' '2**100' '7//-2' '1/3' '-2**2' '2**-1' '(2**1024)/3' \
           '1e308*10' '1/0' '2^10' "__import__('os').system('id')" '15*15 #7'; do
    printf '  %-32s -> %s\n' "$e" "$("$build/clients/calc-eval" "$e" || true)"
  done
  if [ -x "$here/clients/demo.sh" ] && [ -x "$build/servers/calcd" ]; then
    "$here/clients/demo.sh" "$build"
  fi
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
