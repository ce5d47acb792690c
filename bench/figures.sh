#!/usr/bin/env bash
# The figures the README quotes, measured on this machine in one run:
#   - CLI start-to-returned latency (`bgjob get` against a running host),
#     beside a bare Go binary's start;
#   - a trivial job, start to Completed and received (`start --wait -- 'echo hi'`);
#   - 1 GiB of job output relayed back, against `head -c 1G /dev/zero | cat`;
#   - the host's peak RSS after relaying it.
# Usage: bench/figures.sh [BIN_DIR]   (default: bin/, built by `make build`)
# Needs hyperfine (installed with apt-get when missing and running as root).
# Machines here are shared and noisy: compare figures within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup figures "${1:-bin}"
bare=$(go_hello) || { echo "figures: cannot build the bare Go binary" >&2; exit 1; }

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]
for x in r: print("  %-28s median %8.2f ms  (min %.2f, max %.2f)"%(x["command"],1000*x["median"],1000*x["min"],1000*x["max"]))' "$1"; }

echo "== CLI start to returned (hyperfine, 200 runs)"
hyperfine -N --warmup 20 --runs 200 --export-json "$T/cli.json" \
  -n "bare Go binary" "$bare" -n "bgjob get (empty table)" "$BIN/bgjob get" >/dev/null 2>&1
median "$T/cli.json"

echo "== trivial job: start, run in its runtime, Completed, received, removed (100 runs)"
hyperfine -N --warmup 10 --runs 100 --export-json "$T/e2e.json" \
  -n "bgjob start --wait echo hi" "$BIN/bgjob start --wait -- 'echo hi'" >/dev/null 2>&1
median "$T/e2e.json"

echo "== relay: 1 GiB of job output read back (5 runs)"
hyperfine --warmup 1 --runs 5 --export-json "$T/relay.json" -S bash \
  -n "raw pipe" "head -c 1073741824 /dev/zero | cat >/dev/null" \
  -n "bgjob start --wait" "$BIN/bgjob start --wait -- 'head -c 1073741824 /dev/zero' >/dev/null" \
  -n "bgjob start; wait; receive" "$BIN/bgjob start --name r -- 'head -c 1073741824 /dev/zero' >/dev/null; $BIN/bgjob wait r >/dev/null; $BIN/bgjob receive r >/dev/null; $BIN/bgjob remove r" >/dev/null 2>&1
python3 - "$T/relay.json" <<'PY'
import json,sys
r=json.load(open(sys.argv[1]))["results"]
raw=r[0]["median"]
for x in r:
    print("  %-28s median %7.3f s  %6.0f MB/s  (%3.0f%% of the raw pipe)"%(x["command"],x["median"],1073741824/x["median"]/1e6,100*raw/x["median"]))
PY
echo "== host peak RSS after relaying (VmHWM)"
echo "  $(grep VmHWM /proc/"$(cat "$BGJOB_HOME/host.pid")"/status | tr -s ' ')"
