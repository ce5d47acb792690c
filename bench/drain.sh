#!/usr/bin/env bash
# A long queue, beside task-spooler's: N trivial jobs queued behind a
# running one, one job at a time (bgjob's default group at max-running 1;
# tsp -S 1):
#   submit   `bgjob start -- true` with the queue empty, then with N jobs
#            queued (hyperfine medians): a look at the queue must not cost
#            what waits in it
#   drain    from stopping the job in front until all have run and a
#            wait for all of them (`bgjob wait '*'`, `tsp -w`) returns
# tsp is given at most 900 jobs: each job it queues keeps a client process
# connected to its server, and a submit blocks at about 990 (its limit of
# 1000 connections), so the drains compare per job.
# Usage: bench/drain.sh [BIN_DIR]. Env: N (default 10000).
# Installs task-spooler with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
. bench/lib.sh
bench_setup drain "${1:-bin}" tsp:task-spooler
tsp_setup
now() { date +%s.%N; }
hf() { hyperfine -N --warmup 10 --runs 100 --export-json "$T/$1.json" "$B start -- true" >/dev/null 2>&1; median_ms "$T/$1.json" 2; }

$B queue --max-running 1 >/dev/null
$B start --name front -- sleep 100000 >/dev/null
sleep 1.5 # its runtime started, and the catalog settled (a file changed within a second is re-read)
empty=$(hf empty)
for ((i = 0; i < N; i++)); do $B start -- true >/dev/null; done
queued=$(hf queued)
t0=$(now)
$B stop front >/dev/null
$B wait '*' >/dev/null
t1=$(now)
bg=$(echo "$t1 - $t0" | bc)

tsp -S 1 >/dev/null
front=$(tsp sleep 100000)
TN=$(( N < 900 ? N : 900 ))
for ((i = 0; i < TN; i++)); do tsp true >/dev/null; done
t0=$(now)
tsp -k "$front" >/dev/null 2>&1 || true
tsp -w >/dev/null 2>&1 || true
t1=$(now)
ts=$(echo "$t1 - $t0" | bc)
python3 - "$N" "$TN" "$empty" "$queued" "$bg" "$ts" <<'PY'
import sys
n, tn = int(sys.argv[1]), int(sys.argv[2])
empty, queued, bg, ts = map(float, sys.argv[3:])
bn = n + 220  # with the submits hyperfine timed
print("== a queue of trivial jobs, one at a time")
print("  submit with the queue empty %.2f ms, with %d queued %.2f ms (x%.2f)" % (empty, n, queued, queued / empty))
print("  drain, the wait for all included: bgjob %d jobs %.2f s, %.2f ms a job; tsp %d jobs %.2f s, %.2f ms a job (x%.2f a job)"
      % (bn, bg, 1000 * bg / bn, tn, ts, 1000 * ts / tn, (bg / bn) / (ts / tn)))
PY
