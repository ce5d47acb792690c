package api

import (
	"strings"
	"testing"
	"time"
)

func TestCheckEnvName(t *testing.T) {
	for _, kv := range []string{"A=1", "_=x", "a_9=b=c", "K="} {
		if err := CheckEnvName(kv); err != nil {
			t.Errorf("%q refused: %v", kv, err)
		}
	}
	for _, kv := range []string{"=foo", "A B=1", "1A=1", "A-B=1", "É=1", "NOEQUALS"} {
		if err := CheckEnvName(kv); err == nil {
			t.Errorf("%q accepted", kv)
		}
	}
}

func TestCheckName(t *testing.T) {
	if err := CheckName(strings.Repeat("x", MaxName)); err != nil {
		t.Error(err)
	}
	if err := CheckName(strings.Repeat("x", MaxName+1)); err == nil || !strings.Contains(err.Error(), "at most 256 bytes") {
		t.Errorf("a name of %d bytes: %v", MaxName+1, err)
	}
	if err := CheckName("123"); err == nil || !strings.Contains(err.Error(), "digits alone") {
		t.Errorf("a name of digits alone: %v", err)
	}
	for _, ok := range []string{"", "job-123", "1.5", "v2"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// A positive timeout below the clock's resolution times out at once; it
// must not become 0, which waits for ever.
func TestWaitTimeout(t *testing.T) {
	for s, want := range map[float64]time.Duration{0: 0, -1: 0, 1e-300: 1, 1e-10: 1, 1.5: 1500 * time.Millisecond, 1e300: 0} {
		if got := WaitTimeout(s); got != want {
			t.Errorf("WaitTimeout(%v) = %v, want %v", s, got, want)
		}
	}
}
