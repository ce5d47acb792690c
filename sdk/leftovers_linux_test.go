package sdk

import (
	"os/exec"
	"testing"
)

// noChildren is the kernel's answer: true with no child, false while one
// runs and while one that exited waits to be reaped (it is not reaped by
// the look), true again once it is.
func TestNoChildren(t *testing.T) {
	if !noChildren() {
		t.Fatal("a test process with no child has one, says noChildren")
	}
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if noChildren() {
		t.Error("a running child is not seen")
	}
	exited := exec.Command("true")
	if err := exited.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if noChildren() {
		t.Error("an exited, unreaped child is not seen")
	}
	// The look did not reap it: its own Wait still gets its status.
	if err := exited.Wait(); err != nil {
		t.Fatalf("the child's Wait after the look: %v", err)
	}
	if !noChildren() {
		t.Error("with every child reaped, noChildren still sees one")
	}
}
