# Sourced by the bench scripts: the setup they share.
#
# bench_setup NAME BIN_DIR [CMD:PACKAGE...] installs the tools missing
# (apt-get, as root; hyperfine always), makes a scratch directory $T with a
# home of its own (BGJOB_HOME, BGJOB_RUNTIMES, BGJOB_DEFINITIONS,
# BGJOB_SLURM_DIR), installs
# the built runtimes there, starts the host, and on exit stops and removes
# every job, stops the host and deletes $T. It sets BIN and B (the CLI). A
# script that leaves more behind defines bench_cleanup, which runs first.
bench_setup() {
  local name=$1 dir=$2
  shift 2
  BIN=$(readlink -f "$dir")
  B=$BIN/bgjob
  local missing=() need pair
  for pair in hyperfine:hyperfine "$@"; do
    need=${pair%%:*}
    command -v "$need" >/dev/null || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  T=$(mktemp -d "/tmp/bgjob-$name.XXXXXX")
  # The binaries are timed as installed copies (make install), not as the
  # linker left them: a file the Go linker has just written (through mmap)
  # starts about 0.8 ms slower for as long as its pages stay cached in that
  # form (bgjob --version: 3.1 vs 2.3 ms, the same bytes copied), which is
  # the kernel's page cache, not bgjob.
  cp -r "$BIN" "$T/bin"
  BIN=$T/bin B=$BIN/bgjob
  export BGJOB_HOME=$T/h BGJOB_RUNTIMES=$T/rt BGJOB_DEFINITIONS=$T/defs BGJOB_SLURM_DIR=$T/slurm
  trap bench_teardown EXIT
  "$B" runtime install "$BIN"/plugins/*/*/bgjob-shell >/dev/null
  "$B" get >/dev/null # the host, started before anything is timed
}

bench_teardown() {
  if declare -F bench_cleanup >/dev/null; then bench_cleanup || true; fi
  "$B" stop '*' >/dev/null 2>&1 || true
  "$B" remove --force '*' >/dev/null 2>&1 || true
  "$B" host stop >/dev/null 2>&1 || true
  rm -rf "$T"
}

# median_ms FILE: the first command's median in a hyperfine JSON export, in
# milliseconds with DIGITS (default 1) decimals.
median_ms() {
  python3 -c 'import json,sys; print("%.*f" % (int(sys.argv[2]), 1000*json.load(open(sys.argv[1]))["results"][0]["median"]))' "$1" "${2:-1}"
}

# tsp_setup starts nothing but gives task-spooler a server of the run's own
# under $T (its socket, its output files), keeping every finished job, and
# kills that server at the end. Call it after bench_setup.
tsp_setup() {
  export TS_SOCKET=$T/tsp.sock TMPDIR=$T/tsp TS_MAXFINISHED=1000000
  mkdir -p "$TMPDIR"
  bench_cleanup() { tsp -K >/dev/null 2>&1; }
}

# floor_client builds bench/floorclient (the least Go client making
# `bgjob start -- true`'s call) into $T and prints its path; copied as the
# binaries are (see bench_setup). When it cannot (no Go toolchain, a build
# error, a host that refuses its call) it says why on stderr and prints
# nothing, and the scripts leave its figure out.
floor_client() {
  if ! command -v go >/dev/null; then
    echo "bench/floorclient left out: no Go toolchain here to build it" >&2
    return 0
  fi
  if ! CGO_ENABLED=0 go build -o "$T/floorclient.linked" ./bench/floorclient >"$T/floorclient.err" 2>&1; then
    echo "bench/floorclient left out: it does not build: $(cat "$T/floorclient.err")" >&2
    return 0
  fi
  cp "$T/floorclient.linked" "$T/floorclient" || return 0
  # One call first: a client the host refuses (the protocol moved on) is
  # said, and left out of the figures rather than timed failing.
  if ! "$T/floorclient" >/dev/null 2>"$T/floorclient.err"; then
    echo "bench/floorclient failed, left out: $(cat "$T/floorclient.err")" >&2
    return 0
  fi
  echo "$T/floorclient"
}

# go_hello builds a Go program that prints a line and exits (the least a Go
# process costs: the floor the CLI's start is held to) into $T and prints
# its path, copied as the binaries are (see bench_setup).
go_hello() {
  mkdir -p "$T/hello"
  printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("hi\\n") }\n' >"$T/hello/main.go"
  (cd "$T/hello" && printf 'module hello\n\ngo 1.21\n' >go.mod && CGO_ENABLED=0 go build -o hello-go.linked . && cp hello-go.linked hello-go) >&2 || return 1
  echo "$T/hello/hello-go"
}
