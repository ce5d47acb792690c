package api

import (
	"fmt"
	"strings"
	"time"
)

// CheckEnvName says whether name may be the name of a variable --env
// sets: a POSIX shell name, [A-Za-z_][A-Za-z0-9_]*. The job's shell could
// not read any other (an empty name, one with '=' or a space), so such a
// name is a mistake, refused rather than passed on unseen.
func CheckEnvName(kv string) error {
	name, _, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("--env %q: want KEY=VALUE", kv)
	}
	valid := name != ""
	for i := 0; i < len(name) && valid; i++ {
		c := name[i]
		valid = c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9'
	}
	if !valid {
		return fmt.Errorf("--env %q: %q is not a variable name; a name is a letter or _ and then letters, digits or _ ([A-Za-z_][A-Za-z0-9_]*), as the job's shell reads them", kv, name)
	}
	return nil
}

// CheckName says whether name may be a job's name: at most MaxName bytes,
// and not all digits, which every command would read as a job's id (a job
// named 123 could never be named again).
func CheckName(name string) error {
	if len(name) > MaxName {
		return fmt.Errorf("the job's name is %d bytes long; at most %d bytes are accepted (names are for reading in a table)", len(name), MaxName)
	}
	if name != "" && strings.Trim(name, "0123456789") == "" {
		return fmt.Errorf("the job's name %s is digits alone, which get, receive, wait, stop and remove would read as a job's id; give it a letter too (job-%s)", name, name)
	}
	return nil
}

// WaitTimeout is the duration of a timeout of seconds (0: none). A
// positive timeout too small for the clock (1e-300) is the smallest
// duration, so that it times out at once rather than becoming 0, which
// waits for ever; one too large for a Duration waits for ever.
func WaitTimeout(seconds float64) time.Duration {
	switch {
	case !(seconds > 0):
		return 0
	case seconds >= float64(1<<63-1)/float64(time.Second):
		return 0
	}
	d := time.Duration(seconds * float64(time.Second))
	if d < 1 {
		d = 1
	}
	return d
}
