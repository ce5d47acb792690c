#!/usr/bin/env bash
# The session `make demo` runs: a real host, real runtime processes, a
# scratch BGJOB_HOME (the catalog is the one `make build` installed into).
set -euo pipefail
BGJOB=${1:?usage: demo.sh PATH/TO/bgjob}
export BGJOB_HOME=$(mktemp -d /tmp/bgjob-demo.XXXXXX)
cleanup() {
  "$BGJOB" remove --force '*' >/dev/null 2>&1 || true
  [ -f "$BGJOB_HOME/host.pid" ] && kill "$(cat "$BGJOB_HOME/host.pid")" 2>/dev/null || true
  rm -rf "$BGJOB_HOME"
}
trap cleanup EXIT
run() { printf '\n$ %s\n' "$*"; "$@"; }

run "$BGJOB" runtime list
run "$BGJOB" start --name Hello -- 'echo "hello from $BGJOB_JOB_NAME in runtime $BGJOB_RUNTIME_VERSION"; write-warning "careful"; sleep 1'
run "$BGJOB" start --name Streams -- 'write-output one; write-verbose detail; write-progress --id 1 --percent 50 --status Copying Backup; echo oops >&2; write-information --tags demo note'
run "$BGJOB" start --name Sleeper -- 'sleep 1000'
run "$BGJOB" start --name Fails -- 'echo about to fail; exit 3'
run "$BGJOB" get
run "$BGJOB" wait Hello Streams Fails
run "$BGJOB" receive Hello
run "$BGJOB" receive Streams --keep --verbose
run "$BGJOB" receive Streams -o json
run "$BGJOB" get
run "$BGJOB" stop Sleeper --passthru
echo
echo '$ bgjob remove Sleeper   # finished now; removing a running job needs --force'
"$BGJOB" remove Sleeper
run "$BGJOB" start --wait -- 'echo "start --wait: the job runs, streams, and is removed"'
run "$BGJOB" get -o json --newest 1
