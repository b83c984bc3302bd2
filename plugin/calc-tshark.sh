#!/bin/bash
# SPDX-License-Identifier: MIT
#
# calc-tshark.sh: run tshark with a given calc.so, never an installed copy.
#
#   plugin/calc-tshark.sh PLUGIN.so [tshark arguments...]
#
# The plugin is staged as <stage>/<major.minor>/epan/calc.so and tshark runs
# with WIRESHARK_PLUGIN_DIR=<stage> (replacing the global plugin folder) and
# HOME=<stage> (no personal plugins or preferences get in the way).
# tshark ignores WIRESHARK_PLUGIN_DIR when started as root, so as root it
# runs as nobody (setpriv), and every argument naming a file nobody cannot
# read is copied into the world-readable stage first.  The stage is removed on exit.
# CALC_WS_VERSION (e.g. "4.0") saves one tshark run to ask for the version.
# CALC_TSHARK_WRAP, when set, is a command (split on spaces) tshark runs
# under, as the same user, e.g. "valgrind --tool=callgrind" (the
# instruction benchmark, bench/dissector/instructions.sh).
set -eu

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 PLUGIN.so [tshark arguments...]" >&2
  exit 2
fi
plugin=$1
shift

read -r -a wrap <<< "${CALC_TSHARK_WRAP:-}"
version=${CALC_WS_VERSION:-}
if [ -z "$version" ]; then
  version=$(tshark --version 2>/dev/null |
            sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')
fi
if [ -z "$version" ]; then
  echo "$0: cannot tell the Wireshark version from tshark --version" >&2
  exit 2
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/calc-tshark.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
mkdir -p "$stage/$version/epan"
cp "$plugin" "$stage/$version/epan/calc.so"
chmod -R a+rX "$stage"

if [ "$(id -u)" -ne 0 ]; then
  HOME=$stage WIRESHARK_PLUGIN_DIR=$stage ${wrap[@]+"${wrap[@]}"} tshark "$@"
  exit $?
fi

# Root: nobody must be able to read the plugin and every input file; a
# file nobody cannot read is copied into the stage.
asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
args=()
i=0
for a in "$@"; do
  if [ -f "$a" ]; then
    a=$(realpath -- "$a")
    if ! asnobody test -r "$a"; then
      i=$((i + 1))
      copy="$stage/in$i-$(basename -- "$a")"
      cp -- "$a" "$copy"
      chmod a+r "$copy"
      a=$copy
    fi
  fi
  args+=("$a")
done
cd "$stage"
rc=0
asnobody env HOME="$stage" WIRESHARK_PLUGIN_DIR="$stage" \
  ${wrap[@]+"${wrap[@]}"} tshark "${args[@]}" ||
  rc=$?
exit $rc
