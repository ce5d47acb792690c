package catalog

import (
	"io"
	"os/exec"
	"strings"
	"testing"
)

// exec.Cmd copies a describe's output into the buffer with io.Copy, which
// prefers the writer's ReadFrom: the cap must hold that way too, or a
// binary that prints without end is buffered without end.
func TestCappedBufferCapsIOCopy(t *testing.T) {
	var b cappedBuffer
	if _, err := io.Copy(&b, strings.NewReader(strings.Repeat("a", maxDescribeOutput+4096))); err != nil {
		t.Fatal(err)
	}
	if !b.overflow || b.Len() != maxDescribeOutput {
		t.Errorf("after io.Copy of %d bytes: overflow %v, kept %d bytes; want overflow and %d", maxDescribeOutput+4096, b.overflow, b.Len(), maxDescribeOutput)
	}
}

func TestCappedBufferCapsCommand(t *testing.T) {
	var b cappedBuffer
	cmd := exec.Command("sh", "-c", "head -c 5000000 /dev/zero")
	cmd.Stdout = &b
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if !b.overflow || b.Len() != maxDescribeOutput {
		t.Errorf("overflow %v, kept %d bytes; want overflow and %d", b.overflow, b.Len(), maxDescribeOutput)
	}
}
