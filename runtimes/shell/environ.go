package shell

import (
	"cmp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/expand"
)

// The job's environment as the interpreter reads it.
//
// expand.ListEnviron sorts the job's whole environment, stably, for every
// job: on a batch of trivial thread jobs that sort was 6-8% of what
// the runtime spent. A batch's children share their environment but for
// a few $BGJOB_ variables (the job's id and name, the item), so the sorted
// rest of the last job's is kept and reused when the next job's rest is
// the same, and only the BGJOB_ entries are sorted into it.

// sortedEnviron is a list of NAME=value, one entry a name, in
// expand.ListEnviron's order (by NAME=, the '=' included). It answers as
// that one does, and nothing changes it once made: the interpreter writes
// to an overlay of its own.
type sortedEnviron []string

func (e sortedEnviron) Get(name string) expand.Variable {
	i, ok := slices.BinarySearchFunc(e, name, compareToName)
	if !ok {
		return expand.Variable{}
	}
	return expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: e[i][len(name)+1:]}
}

// compareToName compares kv's NAME= with name+"=", without making it.
func compareToName(kv, name string) int {
	k := envKey(kv)
	n := min(len(k), len(name))
	if c := strings.Compare(k[:n], name[:n]); c != 0 {
		return c
	}
	switch {
	case len(k) == len(name)+1:
		return 0
	case len(k) <= len(name):
		return -1 // name would have an '=' where k has
	}
	return cmp.Compare(k[len(name)], '=')
}

func (e sortedEnviron) Each(fn func(name string, vr expand.Variable) bool) {
	for _, kv := range e {
		name := envName(kv)
		if !fn(name, expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: kv[len(name)+1:]}) {
			return
		}
	}
}

// envName is the name kv sets, and envKey that name with its '=', the
// order's key; kv has an '='.
func envName(kv string) string { return kv[:strings.IndexByte(kv, '=')] }
func envKey(kv string) string  { return kv[:strings.IndexByte(kv, '=')+1] }

// sortEnv sorts kv by name and drops what expand.ListEnviron drops: an
// entry without '=' or with an empty name, and all but the last of a name.
func sortEnv(kv []string) sortedEnviron {
	list := make([]string, 0, len(kv))
	for _, s := range kv {
		if i := strings.IndexByte(s, '='); i > 0 {
			list = append(list, s)
		}
	}
	// Stable: of entries of one name, the last one given stays last.
	slices.SortStableFunc(list, func(a, b string) int { return strings.Compare(envKey(a), envKey(b)) })
	out := list[:0]
	for _, s := range list {
		if n := len(out); n > 0 && envKey(out[n-1]) == envKey(s) {
			out[n-1] = s
			continue
		}
		out = append(out, s)
	}
	return sortedEnviron(out)
}

// envCache holds the sorted environment of the last job but its BGJOB_
// entries, and the rest as given, to tell whether the next job's is the same.
type envCache struct {
	mu     sync.Mutex
	rest   []string
	sorted sortedEnviron
}

// jobEnviron is env (the job's environment, as expand.ListEnviron would
// have it), made from the cached sorted rest when that is unchanged.
func (c *envCache) jobEnviron(env []string) expand.Environ {
	if runtime.GOOS == "windows" {
		return expand.ListEnviron(env...) // names there are not case-sensitive
	}
	rest := make([]string, 0, len(env))
	var ours []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "BGJOB_") {
			ours = append(ours, kv)
		} else {
			rest = append(rest, kv)
		}
	}
	c.mu.Lock()
	base := c.sorted
	if base == nil || !slices.Equal(c.rest, rest) {
		base = sortEnv(rest)
		c.rest, c.sorted = rest, base
	}
	c.mu.Unlock()
	if len(ours) == 0 {
		return base
	}
	// Merge: the BGJOB_ entries, sorted, into a copy of the base; neither
	// list has a name twice, and a BGJOB_ name is never in the base.
	ours = sortEnv(ours)
	out := make(sortedEnviron, 0, len(base)+len(ours))
	i := 0
	for _, kv := range base {
		for i < len(ours) && envKey(ours[i]) < envKey(kv) {
			out = append(out, ours[i])
			i++
		}
		out = append(out, kv)
	}
	return append(out, ours[i:]...)
}
