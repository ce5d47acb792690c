#!/usr/bin/env bash
# bgjob's SSH location beside ssh itself, on two computers this user
# reaches with ssh unattended (integration/ssh-setup.sh makes two on this
# machine, for the user bgjt-ssh: sudo -u bgjt-ssh bench/ssh.sh):
#   first   the first job on each (copies bgjobd and the runtime into the
#           computers' caches, unless they hold them already)
#   bgjob   N jobs of `true`, each on both computers (a child job per
#           computer), started one by one, all completed (the ssh commands
#           to a computer share one connection, ControlMaster)
#   ssh     `ssh COMPUTER true` run directly in a loop, N times on each
# Usage: bench/ssh.sh [BIN_DIR] [N] [COMPUTER,COMPUTER]
#        (default bin/, 10, bgjt-a,bgjt-b)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(readlink -f "${1:-bin}")
N=${2:-10}
COMPUTERS=${3:-bgjt-a,bgjt-b}
B=$BIN/bgjob
IFS=, read -r -a hosts <<<"$COMPUTERS"
for h in "${hosts[@]}"; do
	ssh -o BatchMode=yes "$h" true || { echo "bench/ssh.sh: cannot reach $h with ssh unattended (integration/ssh-setup.sh sets up bgjt-a and bgjt-b for the user bgjt-ssh)" >&2; exit 1; }
done
T=$(mktemp -d "/tmp/bgjob-ssh.XXXXXX")
export BGJOB_HOME=$T/h BGJOB_RUNTIMES=$T/rt BGJOB_DEFINITIONS=$T/defs BGJOB_HOSTD=$BIN/bgjobd
teardown() {
	"$B" remove --force '*' >/dev/null 2>&1 || true
	"$B" host stop >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap teardown EXIT
"$B" runtime install "$BIN"/plugins/*/*/bgjob-shell >/dev/null
"$B" get >/dev/null # the host, started before anything is timed

now() { date +%s.%N; }
t0=$(now)
"$B" start --computer-name "$COMPUTERS" --name first -- true >/dev/null
"$B" wait first >/dev/null
t1=$(now)
for ((i = 0; i < N; i++)); do "$B" start --computer-name "$COMPUTERS" --name many -- true >/dev/null; done
"$B" wait many >/dev/null
t2=$(now)
failed=$("$B" get --include-child-jobs --state Failed -o id | wc -l)
done_=$("$B" get --include-child-jobs --state Completed -o id | wc -l)
for ((i = 0; i < N; i++)); do
	for h in "${hosts[@]}"; do ssh -o BatchMode=yes "$h" true; done
done
t3=$(now)
python3 - "$t0" "$t1" "$t2" "$t3" "$N" "${#hosts[@]}" "$done_" "$failed" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
n, hosts, done, failed = map(int, sys.argv[5:])
print(f"first job on {hosts} computers (fills their caches if need be): {t1 - t0:.2f} s")
print(f"bgjob: {n} jobs of `true` on {hosts} computers each ({n * hosts} child jobs), started one by one, all done: {t2 - t1:.2f} s"
      f" ({done} jobs Completed, parents and children, {failed} Failed)")
print(f"ssh:   `ssh COMPUTER true` in a loop, {n} times on each ({n * hosts} runs): {t3 - t2:.2f} s (bgjob x{(t2 - t1) / (t3 - t2):.2f})")
PY
