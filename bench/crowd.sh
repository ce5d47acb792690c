#!/usr/bin/env bash
# A crowd of jobs at once, and what the host and runtimes hold for them:
#   rows     N jobs `sleep 60` submitted at once with the default start:
#            16 run (the host's limit), the rest wait as rows
#   threads  N thread jobs `sleep 60` (--thread --throttle-limit N): all
#            run at once in one shared runtime process
# For each: how long `bgjob get` takes (hyperfine median, to a pipe), the
# host's RSS, and the runtimes' private memory per running job.
# Usage: bench/crowd.sh [BIN_DIR] [N]   (default bin/, 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${2:-1000}
. bench/lib.sh
bench_setup crowd "${1:-bin}"

# private KiB of every process whose argv[0] ends in $1
private() {
  local total=0 n=0 p
  for p in $(pgrep -f -- "$1"); do
    kb=$(awk '/^(Private_Clean|Private_Dirty):/ {s+=$2} END {print s+0}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    total=$((total + kb)); n=$((n + 1))
  done
  echo "$total $n"
}
hostrss() { awk '/^VmRSS:/ {print $2}' /proc/"$(cat "$BGJOB_HOME"/host.pid)"/status; }
getms() {
  hyperfine -N --warmup 3 --runs 20 --export-json "$T/get.json" "$B get" >/dev/null 2>&1
  median_ms "$T/get.json"
}

for ((i = 0; i < N; i++)); do "$B" start --name crowd -- sleep 60; done >/dev/null
read -r rt nrt < <(private 'bgjob-shell')
running=$("$B" get --state Running -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
printf 'rows:    %d jobs (%d running): bgjob get %s ms; host RSS %d KiB; runtimes %d KiB private in %d processes (spares included)\n' \
  "$N" "$running" "$(getms)" "$(hostrss)" "$rt" "$nrt"
"$B" stop '*' >/dev/null
"$B" remove --force '*' >/dev/null

for ((i = 0; i < N; i++)); do "$B" start --thread --throttle-limit "$N" --name crowd -- sleep 60; done >/dev/null
sleep 2
read -r rt nrt < <(private 'bgjob-shell')
running=$("$B" get --state Running -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
printf 'threads: %d jobs (%d running): bgjob get %s ms; host RSS %d KiB; runtimes %d KiB private in %d processes (%d KiB a running job)\n' \
  "$N" "$running" "$(getms)" "$(hostrss)" "$rt" "$nrt" "$((rt / (running > 0 ? running : 1)))"
