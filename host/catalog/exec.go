package catalog

import (
	"context"
	"os"
	"os/exec"
	"runtime"
)

// Command returns a command that runs the open file f, which OpenVerified
// returned, with args after its name (argv[0] is path), so that what runs
// is the file that was checked even if path now names another. Every
// place that runs a catalog binary (the launcher, the host's 32-bit probe)
// builds its command here.
//
// On Linux the file is the child's standard input and the command runs
// /proc/self/fd/0, which the kernel resolves in the child at exec: the
// standard descriptors are the ones Go's fork puts in place for certain.
// Running /proc/self/fd/N for the file's own number N, as this did
// before, failed now and then with "permission denied": in the child, Go
// moves its error pipe to the number just above the highest of the
// command's standard descriptors, and when another goroutine's closes left
// those below N, that number was N (one launch in about a thousand, under
// load; opencontainers/runc met the same). The process gets /dev/null as
// its input back when it starts (the SDK's Serve does it); a process that
// read its standard input before that would read its own binary. Elsewhere
// the command runs path.
func Command(ctx context.Context, f *os.File, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	if runtime.GOOS == "linux" && fileExists("/proc/self/fd") {
		cmd.Path = "/proc/self/fd/0"
		cmd.Err = nil // a lookup of path, which is not what runs
		cmd.Stdin = f
	}
	return cmd
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
