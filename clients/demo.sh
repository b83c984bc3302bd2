#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# clients/demo.sh BUILD_DIR: a short client session for newcomers.
#
# Starts calcd in its three roles (every operator, addsub, muldiv) on free
# loopback ports, asks a few things with calc-cli over UDP and TCP, including
# the assignment's split across the two role servers with -v (each hop
# shown), and stops the servers.  Exit status 0 when every step went as
# shown.
set -euo pipefail

build=${1:?usage: clients/demo.sh BUILD_DIR}
calc=$build/clients/calc-cli
calcd=$build/servers/calcd
for f in "$calc" "$calcd"; do
  [ -x "$f" ] || { echo "demo.sh: $f is not built" >&2; exit 2; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# CALC_DEMO_PORTS="ALL ADDSUB MULDIV" pins the three servers' ports (the
# README's command does, to capture the session on the well-known ports);
# by default each takes a free port (--port 0).
read -r -a fixed <<< "${CALC_DEMO_PORTS:-0 0 0}"
declare -A fixed_port=([all]=${fixed[0]:-0} [addsub]=${fixed[1]:-0} [muldiv]=${fixed[2]:-0})

# start ROLE: runs calcd --role ROLE.
start() {
  "$calcd" --role "$1" --port "${fixed_port[$1]}" </dev/null >/dev/null \
    2>"$tmp/$1.log" &
  pids+=($!)
}

# port ROLE: the port calcd chose, from its startup line.
port() {
  local p
  for _ in $(seq 100); do
    p=$(sed -n 's/.* role [a-z]*, port \([0-9]*\) udp+tcp.*/\1/p' "$tmp/$1.log")
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  echo "demo.sh: calcd --role $1 did not start: $(cat "$tmp/$1.log")" >&2
  return 1
}

start all
start addsub
start muldiv
all=$(port all)
addsub=$(port addsub)
muldiv=$(port muldiv)

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi

# quote WORD: as a newcomer would type it in a shell.
quote() {
  case $1 in
    *[!A-Za-z0-9_./:=+-]*|'') printf "'%s'" "$1" ;;
    *) printf '%s' "$1" ;;
  esac
}

# show ARGS...: prints "$ calc-cli ARGS" and runs it (its stderr shown too).
show() {
  local a line="\$ calc-cli"
  for a in "$@"; do line+=" $(quote "$a")"; done
  printf '%s%s%s\n' "$bold" "$line" "$plain"
  "$calc" "$@" 2>&1 || true
}

printf '%s==> calc-cli, the client.  calcd serves every operator on 127.0.0.1:%s,\n' \
  "$bold" "$all"
printf '    + - on 127.0.0.1:%s (addsub), * / // %% ** on 127.0.0.1:%s (muldiv)%s\n' \
  "$addsub" "$muldiv" "$plain"
show --udp --server "127.0.0.1:$all" '15*15'
show --tcp --server "127.0.0.1:$all" '30+30' '2**100' '1/0'
show --server "127.0.0.1:$addsub" '2*3'
show -v --addsub "127.0.0.1:$addsub" --muldiv "127.0.0.1:$muldiv" '3+4*2'
show -v --udp --addsub "127.0.0.1:$addsub" --muldiv "127.0.0.1:$muldiv" \
  '(1+2)*(3+4) - 2**-1'
printf "%s\$ printf '7//-2\\\\n1/3\\\\n' | calc-cli --server 127.0.0.1:%s%s\n" \
  "$bold" "$all" "$plain"
printf '7//-2\n1/3\n' | "$calc" --server "127.0.0.1:$all"

# The split must answer what the all-operator server answers.
want=$("$calc" --server "127.0.0.1:$all" '(1+2)*(3+4) - 2**-1')
got=$("$calc" --addsub "127.0.0.1:$addsub" --muldiv "127.0.0.1:$muldiv" \
  '(1+2)*(3+4) - 2**-1')
[ "$want" = "$got" ] && [ "$got" = 20.5 ] || {
  echo "demo.sh: the split answered '$got', the server '$want'" >&2
  exit 1
}
