#!/usr/bin/env bash
# A batch of N items (start --foreach, ForEach-Object -Parallel -AsJob)
# beside task-spooler given the same N jobs one call each, both running 5
# at once (PowerShell's default ThrottleLimit; tsp -S 5):
#   submit    start --foreach of N lines, until it returns (one call)
#   all done  from before the submit until every item has run (wait)
# for bgjob's children as thread jobs (the default) and as processes
# (--processes), RUNS runs
# each (median, with the range). Each item is `echo ITEM`.
# Usage: bench/foreach.sh [BIN_DIR]. Env: N (default 500), RUNS (default 5).
# Installs task-spooler with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-500}
RUNS=${RUNS:-5}
. bench/lib.sh
bench_setup foreach "${1:-bin}" tsp:task-spooler
tsp_setup
tsp -S 5 >/dev/null
seq "$N" > "$T/items"

now() { date +%s.%N; }
# stats LABEL VALUES...: median and range, in ms.
stats() { python3 -c 'import sys, statistics as s
v = sorted(float(x) * 1000 for x in sys.argv[2:])
print("%s %.1f ms (%.1f-%.1f)" % (sys.argv[1], s.median(v), v[0], v[-1]))' "$@"; }

echo "== $N items, 5 at a time, each 'echo ITEM'"
tsp_all=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now)
  while read -r i; do tsp -n echo "$i" >/dev/null; done < "$T/items"
  tsp -w >/dev/null 2>&1 || true
  t1=$(now)
  tsp_all+=("$(echo "$t1 - $t0" | bc)")
  tsp -C >/dev/null
done
stats "  tsp, $N one-by-one calls:  all done" "${tsp_all[@]}"
ref=$(python3 -c 'import sys, statistics as s; print(s.median(map(float, sys.argv[1:])))' "${tsp_all[@]}")

for mode in "" --processes; do
  sub=() all=()
  for ((r = 0; r < RUNS; r++)); do
    t0=$(now)
    id=$("$B" start -q --foreach "$T/items" $mode -- 'echo "$1"')
    t1=$(now)
    "$B" wait "$id" >/dev/null
    t2=$(now)
    sub+=("$(echo "$t1 - $t0" | bc)") all+=("$(echo "$t2 - $t0" | bc)")
    "$B" get "$id" | grep -q ' Completed ' || { echo "batch $id did not complete" >&2; exit 1; }
    "$B" remove "$id"
  done
  label="bgjob start --foreach${mode:+ $mode}:"
  stats "  $label submit" "${sub[@]}"
  stats "  $label all done" "${all[@]}"
  python3 -c 'import sys, statistics as s
m = s.median(map(float, sys.argv[2:]))
print("      x%.2f of tsp (goal: x0.3 or less)" % (m / float(sys.argv[1])))' "$ref" "${all[@]}"
done
