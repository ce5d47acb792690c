#!/usr/bin/env bash
# Where a trivial job's time goes, measured stage by stage on this machine
# in one run (hyperfine medians), for the README's breakdown table:
#   cli      `bgjob --version`: a Go CLI's start and exit
#   call     `bgjob get --newest 1` minus cli: connect, hello, a request and
#            its answer (the host's socket round trip)
#   submit   `bgjob start -- true` while the queue is held, minus cli and
#            call: admission (checks, runtime lookup) and the store commit
#   e2e      `bgjob start --wait echo hi`: submit, a runtime (reused or a
#            spare), Run, the record, Completed, receive and remove
#   run      e2e minus cli, call, submit and remove: runtime acquisition,
#            Run, first record, Completed, receive
#   remove   `bgjob remove` of a finished job, minus cli and call
# Also the many-jobs path: N trivial jobs submitted one by one, all done.
# Usage: bench/breakdown.sh [BIN_DIR] [N]   (default bin/, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${2:-300}
. bench/lib.sh
bench_setup breakdown "${1:-bin}"
$B get >/dev/null

med() { median_ms "$1" 3; }
hf() { local out=$1; shift; hyperfine -N --warmup 10 --runs "${RUNS:-100}" --export-json "$T/$out.json" "$@" >/dev/null 2>&1; med "$T/$out.json"; }

cli=$(hf cli "$B --version")
get=$(hf get "$B get --newest 1")
# Hold the queue: one running job, a limit of one, so starts only queue.
$B host stop >/dev/null
BGJOB_MAX_RUNNING=1 $B start sleep 1000 >/dev/null
sleep 1.2 # catalog files settle (a file changed within a second is re-read)
submit=$(hf submit "$B start -- true")
$B remove --force '*' >/dev/null 2>&1 || true
$B host stop >/dev/null
$B get >/dev/null
e2e=$(hf e2e "$B start --wait echo hi")
# remove: a finished job per run, made in --prepare.
hyperfine -N --warmup 3 --runs 60 --export-json "$T/remove.json" \
  --prepare "$B start --wait --name keep -o json echo x >/dev/null; $B start --name r true >/dev/null; $B wait r >/dev/null" \
  "$B remove r" >/dev/null 2>&1 || true
remove=$(med "$T/remove.json")

t0=$(date +%s.%N)
for ((i = 0; i < N; i++)); do $B start --name many -- true >/dev/null; done
$B wait many >/dev/null
t1=$(date +%s.%N)

python3 - "$cli" "$get" "$submit" "$e2e" "$remove" "$t0" "$t1" "$N" <<'PY'
import sys
cli, get, submit, e2e, remove, t0, t1, n = map(float, sys.argv[1:])
call = get - cli
sub = submit - cli - call
rem = remove - cli - call
run = e2e - cli - call - sub
print("== submit path: `bgjob start -- true` (queued), median %.2f ms" % submit)
for name, v in [("CLI start and exit", cli), ("socket call (connect, hello, answer)", call), ("admission and store commit", sub)]:
    print("  %-40s %6.2f ms  %3.0f%%" % (name, v, 100 * v / submit))
print("== e2e path: `bgjob start --wait echo hi`, median %.2f ms" % e2e)
for name, v in [("CLI start and exit", cli), ("socket call", call), ("admission and store commit", sub),
                ("runtime, Run, record, Completed, receive, remove", run)]:
    print("  %-40s %6.2f ms  %3.0f%%" % (name, v, 100 * v / e2e))
print("== remove of a finished job: %.2f ms (store commit and files: %.2f ms)" % (remove, rem))
per = 1000 * (t1 - t0) / n
print("== many: %d jobs submitted one by one, all completed: %.2f s, %.2f ms a job (submit %.2f ms of it)" % (n, t1 - t0, per, submit))
PY
