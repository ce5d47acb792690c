package catalog

import (
	"os"
	"runtime"
	"strconv"
)

// ExecPath is the path that executes the open file f, which OpenVerified
// returned: on Linux the file itself, through /proc/self/fd (resolved by
// the kernel at exec, in the child, before the descriptor closes), so what
// runs is the file that was checked even if the path now names another;
// elsewhere its path. It lives here, beside OpenVerified, so that every
// place that runs a catalog binary (the launcher, the host's 32-bit probe)
// runs it the same way.
func ExecPath(f *os.File, path string) string {
	if runtime.GOOS == "linux" {
		if p := "/proc/self/fd/" + strconv.Itoa(int(f.Fd())); fileExists(p) {
			return p
		}
	}
	return path
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
