package catalog

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Command runs the open file whatever the descriptors around it. The case
// that broke running /proc/self/fd/N for the file's own number N: the
// command's standard descriptors all below N, N just above the highest of
// them, and free numbers lower down, where the child's error pipe opens;
// Go's fork then moves the pipe onto N in the child before the exec, which
// runs the pipe ("permission denied"). The numbers are placed by hand here
// (199 and 200), as the host's other goroutines placed them by chance.
func TestCommandRunsTheOpenFile(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	bin, err := os.Open("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true to run: %v", err)
	}
	defer bin.Close()
	place := func(f *os.File, fd int) *os.File {
		t.Helper()
		if err := unix.Dup3(int(f.Fd()), fd, unix.O_CLOEXEC); err != nil {
			t.Fatalf("cannot place a descriptor at %d: %v", fd, err)
		}
		return os.NewFile(uintptr(fd), f.Name())
	}
	stdio := place(out, 199)
	defer stdio.Close()
	exe := place(bin, 200)
	defer exe.Close()

	// Running the descriptor's own number: logged, not asserted, as it is
	// Go's behaviour, not this package's, and may change.
	naive := exec.Command("/proc/self/fd/200")
	naive.Stdin, naive.Stdout, naive.Stderr = stdio, stdio, stdio
	t.Logf("running /proc/self/fd/200 with stdio at 199: %v", naive.Run())

	cmd := Command(context.Background(), exe, "/bin/true")
	cmd.Stdout, cmd.Stderr = stdio, stdio
	if err := cmd.Run(); err != nil {
		t.Fatalf("Command with the binary at 200 and stdio at 199: %v", err)
	}
	if cmd.Path != "/proc/self/fd/0" || cmd.Args[0] != "/bin/true" {
		t.Errorf("ran %s as %q, want /proc/self/fd/0 as /bin/true", cmd.Path, cmd.Args[0])
	}
}
