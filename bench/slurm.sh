#!/usr/bin/env bash
# bgjob's Slurm location beside Slurm itself, on the cluster Slurm's
# commands reach here (integration/slurm-setup.sh makes a single-node one):
#   submit  `bgjob start --location slurm -- true` (checks the request with
#           sbatch --test-only, writes the job's files, sbatch) beside
#           `sbatch --wrap true` (hyperfine medians)
#   many    N trivial jobs submitted one by one and all completed, through
#           bgjob and through sbatch (waiting with squeue)
# Usage: bench/slurm.sh [BIN_DIR] [N]   (default bin/, 100)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${2:-100}
command -v sinfo >/dev/null && sinfo -h >/dev/null 2>&1 || { echo "bench/slurm.sh: no Slurm cluster answers here (integration/slurm-setup.sh makes one)" >&2; exit 1; }
. bench/lib.sh
bench_cleanup() { scancel --name=bgjob-bench >/dev/null 2>&1; }
bench_setup slurm "${1:-bin}"
mkdir -p "$T/out"
cd "$T"

med() { median_ms "$1"; }
hyperfine -N --warmup 2 --runs 20 --export-json "$T/b.json" "$B start --location slurm -- true" >/dev/null 2>&1
hyperfine -N --warmup 2 --runs 20 --export-json "$T/s.json" "sbatch --job-name=bgjob-bench --output=$T/out/%j.out --wrap true" >/dev/null 2>&1
b=$(med "$T/b.json"); s=$(med "$T/s.json")
echo "submit: bgjob start --location slurm ${b} ms, sbatch --wrap ${s} ms (x$(python3 -c "print('%.1f'%($b/$s))"))"
# Let the submitted jobs drain before the timed runs.
while [ -n "$(squeue -h -o %i)" ]; do sleep 0.5; done
"$B" remove --force '*' >/dev/null

t0=$(date +%s.%N)
for ((i = 0; i < N; i++)); do "$B" start --location slurm -- true >/dev/null; done
"$B" wait '*' >/dev/null
t1=$(date +%s.%N)
for ((i = 0; i < N; i++)); do sbatch -Q --job-name=bgjob-bench --output=$T/out/%j.out --wrap true; done
while [ -n "$(squeue -h -n bgjob-bench -o %i)" ]; do sleep 0.2; done
t2=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$N" <<'PY'
import sys
t0, t1, t2, n = map(float, sys.argv[1:])
b, s = t1 - t0, t2 - t1
print(f"many: {int(n)} trivial jobs, submitted one by one, all completed: bgjob {b:.1f} s, sbatch --wrap {s:.1f} s (x{b/s:.2f})")
PY
