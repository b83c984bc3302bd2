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
#   --global   the global plugin folder (as root) of the Wireshark the
#              plugin was built for, the one `cmake --install build
#              --component calc-plugin` also uses (from find_package)
#
# Wireshark loads only a plugin built for its own major.minor version.  A
# build records its version (build/plugin/calc-plugin.conf); when the
# tshark here is another one, nothing is installed and the message says
# to rebuild (docs/DISSECTOR.md, "Supported Wireshark versions").
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
  sed -n '4,26p' "$0" | sed 's/^# \{0,1\}//' >&2
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
# What the build was made for (CMake writes it beside calc.so).
conf_get() {
  local conf
  conf=$(dirname "$plugin")/calc-plugin.conf
  [ -f "$conf" ] && sed -n "s/^$1=//p" "$conf" | head -n 1
  return 0
}
built_for=$(conf_get wireshark_version)
running=$(tshark --version 2>/dev/null |
          sed -n '1s/^TShark (Wireshark) \([0-9]*\.[0-9]*\).*/\1/p')
if [ -n "$built_for" ] && [ -n "$running" ] && [ "$built_for" != "$running" ] &&
   [ "$uninstall" = 0 ]; then
  echo "$0: $plugin was built for Wireshark $built_for, but this machine's" \
       "tshark is $running: Wireshark would refuse it (\"Couldn't load" \
       "plugin\" or \"was compiled for Wireshark version $built_for\")." >&2
  echo "Rebuild against this Wireshark's headers, then install again:" \
       "rm -rf build && scripts/dev.sh build" >&2
  exit 1
fi

if [ "$mode" = user ]; then
  base=$(folder "Personal Plugins")
  dest=${base:+$base/epan}
else
  dest=$(conf_get global_dir)
  [ -n "$dest" ] || { base=$(folder "Global Plugins"); dest=${base:+$base/epan}; }
fi
if [ -z "$dest" ]; then
  echo "$0: tshark -G folders does not name the $mode plugin folder" \
       "(is tshark installed?)" >&2
  exit 1
fi

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
