//go:build unix

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A run a trigger missed while no host ran is made up once when a host
// comes back, for a definition that asks (catch_up = true), and not for
// one that does not.
func TestScheduledCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a trigger time to pass: about 12 seconds")
	}
	h := newHome(t)
	defs := filepath.Join(h.dir, "definitions")
	if err := os.MkdirAll(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	runs := func(name string) string { return filepath.Join(h.dir, name+".runs") }
	def := func(name string, catchUp bool) string {
		return `job "` + name + `" {
  script   = "date +%s >> ` + runs(name) + `"
  triggers = ["*/10 * * * * *"]
  catch_up = ` + map[bool]string{true: "true", false: "false"}[catchUp] + `
}
`
	}
	if err := os.WriteFile(filepath.Join(defs, "d.hcl"), []byte(def("CatchUp", true)+def("NoCatchUp", false)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Start just after a trigger time, so that the host is gone well
	// before the next one.
	waitSecondMod(t, 1)
	out := h.run("definition", "list")
	if !strings.Contains(out, "CatchUp") || !strings.Contains(out, "NoCatchUp") {
		t.Fatalf("the host does not list the definitions:\n%s", out)
	}
	if err := killHost(h.path, syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// A trigger time passes with no host; the next is 9 seconds away
	// when it comes back.
	waitSecondMod(t, 1)
	h.run("definition", "list")
	time.Sleep(3 * time.Second)
	if got := lines(runs("CatchUp")); got != 1 {
		t.Errorf("CatchUp ran %d times after the host came back, want the missed run made up once", got)
	}
	if got := lines(runs("NoCatchUp")); got != 0 {
		t.Errorf("NoCatchUp ran %d times after the host came back, want none", got)
	}
}

// waitSecondMod waits until the wall clock's second is s modulo 10.
func waitSecondMod(t *testing.T, s int) {
	t.Helper()
	time.Sleep(time.Second) // leave the current second
	for time.Now().Second()%10 != s {
		time.Sleep(50 * time.Millisecond)
	}
}

func lines(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
