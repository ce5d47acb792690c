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
# Also the many-jobs path: N trivial jobs submitted one by one, all done;
# and submits from 8 callers at once (they share commits: group commit).
# Each stage is printed beside the floor it is held to, measured here in
# the same run: a Go "hello" and a C one (built here), `tsp -l` (a C client
# with a socket round trip) when task-spooler is installed, and one
# fdatasync of a 4 KiB write, back to back and after an idle pause (a submit
# makes one: a record in the job table's log); and the design's own floor, a
# Go client and the least Go server of a durable submit (bench/floorclient
# -serve and -trivial).
# Usage: bench/breakdown.sh [BIN_DIR] [N]   (default bin/, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${2:-300}
. bench/lib.sh
bench_setup breakdown "${1:-bin}"
$B get >/dev/null

med() { median_ms "$1" 3; }
hf() { local out=$1; shift; hyperfine -N --warmup 10 --runs "${RUNS:-100}" --export-json "$T/$out.json" "$@" >/dev/null 2>&1; med "$T/$out.json"; }

# The floors.
gh=$(go_hello) || { echo "breakdown: cannot build the Go hello, the floor of the CLI's start" >&2; exit 1; }
gohello=$(hf gohello "$gh")
chello=-1
if command -v cc >/dev/null; then
  printf '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n' >"$T/hello/hello.c"
  cc -O2 -o "$T/hello/hello-c" "$T/hello/hello.c" && chello=$(hf chello "$T/hello/hello-c")
fi
tspl=-1
if command -v tsp >/dev/null; then
  export TS_SOCKET=$T/tsp.sock
  tsp -S 1 >/dev/null
  tspl=$(hf tspl "tsp -l")
  tsp -K >/dev/null 2>&1 || true
fi
# One fdatasync of a 4 KiB write, twice: back to back, and after 5 ms with
# the disk idle, which is how a submit meets it (on this machine's virtual
# disk the second costs several times the first).
read -r fsync fsyncidle < <(python3 - "$T" <<'PY'
import os, sys, time
fd = os.open(os.path.join(sys.argv[1], "fsync"), os.O_RDWR | os.O_CREAT, 0o600)
os.pwrite(fd, b"x" * 32768, 0); os.fdatasync(fd)
def median(pause):
    ts = []
    for i in range(200):
        if pause: time.sleep(pause)
        os.pwrite(fd, b"y" * 4096, (i % 8) * 4096)
        t = time.perf_counter(); os.fdatasync(fd); ts.append(time.perf_counter() - t)
    ts.sort(); return 1000 * ts[len(ts) // 2]
print("%.3f %.3f" % (median(0), median(0.005)))
PY
)

cli=$(hf cli "$B --version")
get=$(hf get "$B get --newest 1")
# Hold the queue: one running job, a limit of one, so starts only queue.
$B host stop >/dev/null
BGJOB_MAX_RUNNING=1 $B start sleep 1000 >/dev/null
sleep 1.2 # catalog files settle (a file changed within a second is re-read)
submit=$(hf submit "$B start -- true")
# The same call from the least Go client (bench/floorclient): the floor of
# a submit whose client is a Go program started afresh.
floor=-1
fc=$(floor_client)
[ -n "$fc" ] && floor=$(hf floor "$fc")
# The design's own floor: that Go client and the least Go server of a
# durable submit (read a request, write it, fdatasync, answer), neither
# doing any of bgjob's work (bench/floorclient -serve / -trivial).
pair=-1
if [ -n "$fc" ]; then
  "$fc" -serve "$T/pair.sock" "$T/pair.data" &
  pairpid=$!
  for ((i = 0; i < 50; i++)); do [ -S "$T/pair.sock" ] && break; sleep 0.02; done
  "$fc" -trivial "$T/pair.sock" && pair=$(hf pair "$fc -trivial $T/pair.sock")
  kill "$pairpid" 2>/dev/null; wait "$pairpid" 2>/dev/null || true
fi
# 8 callers at once, each submitting in a loop: the time per submit.
P=8 PER=$(( (N + 7) / 8 ))
p0=$(date +%s.%N)
for ((c = 0; c < P; c++)); do
  ( for ((i = 0; i < PER; i++)); do $B start -- true >/dev/null; done ) &
done
wait
p1=$(date +%s.%N)
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

python3 - "$cli" "$get" "$submit" "$e2e" "$remove" "$t0" "$t1" "$N" "$p0" "$p1" "$P" "$PER" \
  "$gohello" "$chello" "$tspl" "$fsync" "$fsyncidle" "$floor" "$pair" <<'PY'
import sys
cli, get, submit, e2e, remove, t0, t1, n, p0, p1, P, per, gohello, chello, tspl, fsync, fsyncidle, floor, pair = map(float, sys.argv[1:])
call = get - cli
sub = submit - cli - call
rem = remove - cli - call
run = e2e - cli - call - sub
floors = "floors here: Go hello %.2f ms" % gohello
if chello >= 0: floors += ", C hello %.2f ms" % chello
if tspl >= 0: floors += ", `tsp -l` %.2f ms" % tspl
floors += ", fdatasync %.2f ms back to back, %.2f ms after 5 ms idle (a submit: one, in the table's log)" % (fsync, fsyncidle)
print("== " + floors)
print("== submit path: `bgjob start -- true` (queued), median %.2f ms" % submit)
stages = [("CLI start and exit", cli, "Go hello + 0.3 = %.2f ms" % (gohello + 0.3)),
          ("socket call (connect, hello, answer)", call, "0.3 ms"),
          ("admission and store commit", sub, "0.6 ms; 1 fdatasync = %.2f-%.2f ms" % (fsync, fsyncidle))]
for name, v, goal in stages:
    print("  %-40s %6.2f ms  %3.0f%%   goal %s" % (name, v, 100 * v / submit, goal))
if floor >= 0:
    print("  the same call from the least Go client (bench/floorclient): %.2f ms; bgjob's CLI adds %.2f ms to it, the call and the host %.2f ms to a Go hello" % (floor, submit - floor, floor - gohello))
if pair >= 0:
    print("  the design's floor, that client and the least server of a durable submit (one exchange, one fdatasync): %.2f ms; bgjob's submit %.2f ms over it" % (pair, submit - pair))
print("== e2e path: `bgjob start --wait echo hi`, median %.2f ms" % e2e)
for name, v, goal in stages + [("runtime, Run, record, end, receive, remove", run, "1.5 ms")]:
    print("  %-40s %6.2f ms  %3.0f%%   goal %s" % (name, v, 100 * v / e2e, goal))
print("== remove of a finished job: %.2f ms (store commit and files: %.2f ms)" % (remove, rem))
print("== %d callers submitting at once (%d each, queued): %.2f ms a submit, beside %.2f ms one at a time" % (P, per, 1000 * (p1 - p0) / (P * per), submit))
print("== many: %d jobs submitted one by one, all completed: %.2f s, %.2f ms a job (submit %.2f ms of it)" % (n, t1 - t0, 1000 * (t1 - t0) / n, submit))
PY
