#!/bin/bash
# SPDX-License-Identifier: MIT
#
# install-plugin.sh: install the built calc.so where Wireshark finds it.
#
#   plugin/install-plugin.sh [--user | --global] [--uninstall]
#                            [--build DIR | --plugin FILE] [--show CAPTURE]
#
#   --user     (default) the current user's personal plugin folder,
#              ~/.local/lib/wireshark/plugins/<major.minor>/epan, as tshark
#              reports it now (so $HOME is read at install time)
#   --global   the global plugin folder (as root), the one
#              `cmake --install build --component calc-plugin` also uses
#   --uninstall  remove calc.so from that folder instead
#   --build DIR  build folder holding plugin/calc.so (default: build)
#   --plugin FILE  the plugin file itself
#   --show CAPTURE  then print tshark's dissection of CAPTURE with the
#              installed plugin.  tshark run by root ignores personal
#              plugins, so for a --user install as root the dissection runs
#              through plugin/calc-tshark.sh (as nobody, same plugin file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
mode=user
uninstall=0
plugin=
build=$repo/build
show=

usage() {
  sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --user) mode=user ;;
    --global) mode=global ;;
    --uninstall) uninstall=1 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift ;;
    --plugin) [ $# -ge 2 ] || usage; plugin=$2; shift ;;
    --show) [ $# -ge 2 ] || usage; show=$2; shift ;;
    -h|--help) usage ;;
    *) echo "$0: unknown argument: $1" >&2; usage ;;
  esac
  shift
done
[ -n "$plugin" ] || plugin=$build/plugin/calc.so

# The folders this user's tshark searches (WIRESHARK_PLUGIN_DIR would
# replace the global one: ignore it here).
folder() {
  env -u WIRESHARK_PLUGIN_DIR tshark -G folders 2>/dev/null |
    sed -n "s/^$1:[[:space:]]*//p" | head -n 1
}
if [ "$mode" = user ]; then
  base=$(folder "Personal Plugins")
else
  base=$(folder "Global Plugins")
fi
if [ -z "$base" ]; then
  echo "$0: tshark -G folders does not name the $mode plugin folder" \
       "(is tshark installed?)" >&2
  exit 1
fi
dest=$base/epan

if [ "$uninstall" = 1 ]; then
  rm -f "$dest/calc.so"
  echo "removed $dest/calc.so"
  exit 0
fi

if [ ! -f "$plugin" ]; then
  echo "$0: no plugin at $plugin (build first: cmake --build build)" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0644 "$plugin" "$dest/calc.so"
echo "installed $dest/calc.so"

if [ -n "$show" ]; then
  if [ "$mode" = user ] && [ "$(id -u)" -eq 0 ]; then
    echo "(root: tshark ignores personal plugins; dissecting as nobody)"
    "$here/calc-tshark.sh" "$dest/calc.so" -r "$show"
  else
    tshark -r "$show"
  fi
fi
