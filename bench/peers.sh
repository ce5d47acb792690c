#!/usr/bin/env bash
# bgjob beside task-spooler (tsp) and nq, the queue tools a Linux user would
# reach for, in one run on this machine; each row prints medians and the
# ratio to tsp, the reference the README's goals are stated against.
#   submit  queue a trivial job and return
#   e2e     run `echo hi` in the background, wait for it, read its output
#           (tsp and nq need three calls; bgjob one, start --wait)
#   many    N trivial jobs submitted one by one, all completed (bgjob also
#           with --thread, and as one batch: start --foreach, thread
#           children and --processes; beside the floors of a Go client in
#           the same loop: bench/floorclient's call, its hello alone, and a
#           Go program that only starts)
#   relay   a job prints SZ MiB of 64-byte lines; wait; read it all back
# Usage: bench/peers.sh [BIN_DIR] [submit|e2e|many|relay|all]
# Env: N (default 1000), SZ (default 256). Installs task-spooler, nq and
# hyperfine with apt-get when missing (as root). Noisy machines: read the
# ratios, within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${2:-all}
N=${N:-1000}
SZ=${SZ:-256}
. bench/lib.sh
bench_setup peers "${1:-bin}" tsp:task-spooler nq:nq
tsp_setup
export TS_SLOTS=2 NQDIR=$T/nq
mkdir -p "$NQDIR"
tsp -S 2 >/dev/null

# ratios FILE: each command's median and its ratio to the first (tsp).
ratios() { python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
ref = r[0]["median"]
for x in r:
    print("  %-14s median %9.2f ms  (x%.2f of tsp)" % (x["command"], 1000 * x["median"], x["median"] / ref))
PY
}
has() { [ "$WHAT" = all ] || [ "$WHAT" = "$1" ]; }

if has submit; then
  echo "== submit: queue a trivial job and return"
  # go-floor: bench/floorclient, a Go program making bgjob's call and
  # nothing else: a Go process and the host's answer, without the CLI.
  floor=(); fc=$(floor_client); [ -n "$fc" ] && floor=(-n go-floor "$fc")
  hyperfine -N --warmup 5 --runs 60 --export-json "$T/submit.json" \
    -n tsp "tsp true" -n nq "nq -q true" -n bgjob "$B start -- true" ${floor[@]+"${floor[@]}"} >/dev/null 2>&1
  ratios "$T/submit.json"
  tsp -C >/dev/null
fi

if has e2e; then
  echo "== e2e: 'echo hi' in the background, wait, read its output"
  hyperfine --warmup 5 --runs 60 --export-json "$T/e2e.json" -S bash \
    -n tsp 'id=$(tsp echo hi); tsp -w $id >/dev/null; test "$(tsp -c $id)" = hi' \
    -n nq 'id=$(nq echo hi); nq -w $id; grep -qx hi $NQDIR/$id' \
    -n bgjob "test \"\$($B start --wait echo hi)\" = hi" >/dev/null 2>&1
  ratios "$T/e2e.json"
fi

if has many; then
  echo "== many: $N trivial jobs submitted one by one, all completed"
  timeit() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
  run_tsp() { for ((i = 0; i < N; i++)); do tsp -n true >/dev/null; done; tsp -w >/dev/null 2>&1 || true; }
  run_nq() { for ((i = 0; i < N; i++)); do nq -q true; done; nq -w; }
  run_bg() { for ((i = 0; i < N; i++)); do "$B" start "$@" --name many -- true >/dev/null; done; "$B" wait many >/dev/null; "$B" remove many; }
  # The same N as one call: a batch (ForEach-Object -Parallel -AsJob).
  # Its children are thread jobs; with --processes, a process each.
  run_batch() { seq 1 "$N" | "$B" start --foreach - "$@" --name manyf -- true >/dev/null; "$B" wait manyf >/dev/null; "$B" remove manyf; }
  # go-floor: the same loop with bench/floorclient's call in place of
  # bgjob's CLI, the host running the jobs as it does for bgjob's. The
  # floors under it, in the same loop: go-hello, a Go program that starts
  # and exits (what any Go CLI pays a call), and go-hello+call, one that
  # also connects and reads the host's hello (bench/floorclient -hello).
  # Neither makes a job, so no job runs meanwhile: they are lower bounds.
  run_floor() { for ((i = 0; i < N; i++)); do "$fc" >/dev/null; done; "$B" wait '*' >/dev/null; "$B" remove '*'; }
  run_call() { for ((i = 0; i < N; i++)); do "$fc" -hello >/dev/null; done; }
  run_hello() { for ((i = 0; i < N; i++)); do "$gh" >/dev/null; done; }
  tt=$(timeit run_tsp); nt=$(timeit run_nq); bt=$(timeit run_bg); btt=$(timeit run_bg --thread)
  bft=$(timeit run_batch); bfp=$(timeit run_batch --processes)
  ft=-1 fh=-1 ght=-1; fc=${fc-$(floor_client)}
  [ -n "$fc" ] && { ft=$(timeit run_floor); fh=$(timeit run_call); }
  command -v go >/dev/null && gh=$(go_hello) && ght=$(timeit run_hello)
  python3 -c 'import sys
t, n, b, bt, bf, bp, f, fh, gh, N = map(float, sys.argv[1:])
for name, v in [("tsp", t), ("nq", n), ("bgjob", b), ("bgjob --thread", bt), ("bgjob --foreach", bf),
                ("  --processes", bp), ("go-floor", f), ("go-hello+call", fh), ("go-hello", gh)]:
    if v >= 0:
        print("  %-15s %9.2f s  (x%.2f of tsp)" % (name, v, v / t))
if gh >= 0:
    print("  x2.0 of tsp leaves %.2f ms a call beyond a Go process started and ended" % (1000 * (2 * t - gh) / N))' \
    "$tt" "$nt" "$bt" "$btt" "$bft" "$bfp" "$ft" "$fh" "$ght" "$N"
fi

if has relay; then
  echo "== relay: $SZ MiB of 64-byte lines printed by a job, read back"
  python3 -c 'import sys
line = b"0123456789abcdef" * 4
line = line[:63] + b"\n"
blk = line * (1 << 14)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(blk)' "$T/lines.txt" "$SZ"
  hyperfine --warmup 1 --runs 3 --export-json "$T/relay.json" -S bash \
    --prepare "tsp -C >/dev/null; rm -f $TMPDIR/ts-out.* $NQDIR/,*" \
    -n tsp "id=\$(tsp cat $T/lines.txt); tsp -w \$id >/dev/null; cat \$(tsp -o \$id) >/dev/null" \
    -n nq "id=\$(nq cat $T/lines.txt); nq -w \$id; cat $NQDIR/\$id >/dev/null" \
    -n "pipe" "cat $T/lines.txt | cat >/dev/null" \
    -n bgjob "$B start --wait cat $T/lines.txt >/dev/null" >/dev/null 2>&1
  ratios "$T/relay.json"
fi
