#!/usr/bin/env bash
# The session `make demo` runs: a real host, real runtime processes, a
# scratch BGJOB_HOME (the catalog is the one `make build` installed into).
# Each command is printed exactly as you would type it, then run.
set -uo pipefail
BGJOB=${1:?usage: demo.sh PATH/TO/bgjob}
export PATH="$(cd "$(dirname "$BGJOB")" && pwd):$PATH"
export BGJOB_HOME=$(mktemp -d /tmp/bgjob-demo.XXXXXX)
cleanup() {
  bgjob remove --force '*' >/dev/null 2>&1 || true
  bgjob host stop >/dev/null 2>&1 || true
  rm -rf "$BGJOB_HOME"
}
trap cleanup EXIT

# run prints a command line as typed and runs it; a command that fails
# (as one of them does on purpose) shows its exit status and the demo goes
# on.
run() {
  printf '\n$ %s\n' "$1"
  eval "$1"
  local rc=$?
  [ "$rc" -eq 0 ] || printf '(exit status %d)\n' "$rc"
}

run "bgjob runtime list"
run "bgjob start --name Hello -- 'echo \"hello from \$BGJOB_JOB_NAME in runtime \$BGJOB_RUNTIME_VERSION\"; write-warning careful; sleep 1'"
run "bgjob start --name Streams -- 'write-output one; write-verbose detail; echo oops >&2; write-information --tags demo note'"
run "bgjob start --name Sleeper sleep 1000"
run "bgjob start --name Fails -- 'echo about to fail; exit 3'"
run "bgjob get"
run "bgjob wait Hello Streams Fails"
run "bgjob receive Hello"
run "bgjob receive --verbose Streams"
run "bgjob receive Fails"
run "bgjob get --state Failed"
run "bgjob stop --passthru Sleeper"
run "bgjob start --name Build -- 'sleep 0.5; echo built'"
run "bgjob start --name Test --after Build -- 'echo tested after Build'"
run "bgjob queue"
run "bgjob wait Test"
run "bgjob receive Build Test"
run "bgjob location list"
run "bgjob remove '*'"
if [ -t 2 ]; then
  run "bgjob start --wait -- 'for i in 1 2 3 4 5; do write-progress --percent \$((i*20)) --status \"step \$i of 5\" Copying; sleep 0.4; done; write-progress --completed Copying; echo copied'"
else
  echo
  echo '# (On a terminal, start --wait draws the job'"'"'s progress as a live bar; here the'
  echo '#  output is not a terminal, so the progress records are shown as JSON.)'
  run "bgjob start --wait -o json -- 'for i in 1 2; do write-progress --percent \$((i*50)) --status \"step \$i of 2\" Copying; done; echo copied'"
fi
run "bgjob start --wait echo start --wait runs the job, streams it and removes it"
run "bgjob start --type Copy --name backup -- \"\$BGJOB_HOME/jobs\" \"\$BGJOB_HOME/backup\""
run "bgjob wait backup"
run "bgjob receive backup"
run "bgjob get -o wide"
