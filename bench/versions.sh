#!/usr/bin/env bash
# Cross-version figures the README quotes, in one run on this machine:
#   - a trivial job end to end (start --wait -- 'echo hi') in each line of
#     the shell runtime (2.x on protocol 2, 1.x on protocol 1), native and
#     32-bit (--run-as-32);
#   - 256 MiB of 64-byte lines relayed back through protocol 1 and 2.
# Usage: bench/versions.sh [BIN_DIR]   (default: bin/, built by `make build`)
# Needs hyperfine (installed with apt-get when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_setup versions "${1:-bin}"

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]
for x in r: print("  %-34s median %8.2f ms  (min %.2f)"%(x["command"],1000*x["median"],1000*x["min"]))' "$1"; }

echo "== trivial job end to end, by runtime line and architecture (100 runs each)"
hyperfine -N --warmup 10 --runs 100 --export-json "$T/e2e.json" \
  -n "2.x native (protocol 2)" "$BIN/bgjob start --wait --runtime-version >=2 -- 'echo hi'" \
  -n "2.x 32-bit (protocol 2)" "$BIN/bgjob start --wait --run-as-32 --runtime-version >=2 -- 'echo hi'" \
  -n "1.x native (protocol 1)" "$BIN/bgjob start --wait --runtime-version ~1 -- 'echo hi'" \
  -n "1.x 32-bit (protocol 1)" "$BIN/bgjob start --wait --run-as-32 --runtime-version ~1 -- 'echo hi'" >/dev/null 2>&1
median "$T/e2e.json"

echo "== 256 MiB of 64-byte lines relayed back (3 runs each)"
lines=$((256 * 1024 * 1024 / 64))
hyperfine --warmup 1 --runs 3 --export-json "$T/relay.json" -S bash \
  -n "protocol 2 (shell 2.x)" "$BIN/bgjob start --wait --runtime-version '>=2' -- 'seq -f %063g 1 $lines' >/dev/null" \
  -n "protocol 1 (shell 1.x)" "$BIN/bgjob start --wait --runtime-version '~1' -- 'seq -f %063g 1 $lines' >/dev/null" >/dev/null 2>&1
python3 - "$T/relay.json" <<'PY'
import json,sys
for x in json.load(open(sys.argv[1]))["results"]:
    print("  %-34s median %7.3f s  %6.0f MB/s"%(x["command"],x["median"],268435456/x["median"]/1e6))
PY
