package shell

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"mvdan.cc/sh/v3/expand"
)

// listed is what env yields, in order, as NAME=value.
func listed(env expand.Environ) []string {
	var out []string
	for name, vr := range env.Each {
		out = append(out, name+"="+vr.Str)
	}
	return out
}

// The job's environment reads exactly as expand.ListEnviron would have it
// (the order, the last of a name winning, bad entries dropped, every Get),
// whether its sorted rest came from the cache or not.
func TestJobEnvironAsListEnviron(t *testing.T) {
	names := []string{"A", "A1", "A_", "AB", "a", "PATH", "HOME", "X-Y", "BGJOB_JOB_ID", "BGJOB_ITEM", "BGJOB_JOB_IDX", "Z", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	var c envCache
	var prevRest []string
	for i := range 2000 {
		var env []string
		if i%3 != 0 && prevRest != nil {
			env = slices.Clone(prevRest) // the rest again: from the cache
		} else {
			for range rng.IntN(12) {
				n := names[rng.IntN(len(names))]
				switch rng.IntN(10) {
				case 0:
					env = append(env, n) // no '='
				default:
					env = append(env, fmt.Sprintf("%s=%d", n, rng.IntN(100)))
				}
			}
		}
		var rest []string
		for _, kv := range env {
			if len(kv) < 6 || kv[:6] != "BGJOB_" {
				rest = append(rest, kv)
			}
		}
		prevRest = rest
		at := 0
		for k := range rng.IntN(4) { // this job's own, anywhere, in order
			at += rng.IntN(len(env) + 1 - at)
			env = slices.Insert(env, at, fmt.Sprintf("%s=%d.%d", names[8+rng.IntN(3)], i, k))
			at++
		}
		want := expand.ListEnviron(env...)
		got := c.jobEnviron(env)
		if w, g := listed(want), listed(got); !slices.Equal(w, g) {
			t.Fatalf("environment %q:\n got %q\nwant %q", env, g, w)
		}
		for _, n := range names {
			if w, g := want.Get(n), got.Get(n); w.Set != g.Set || w.Exported != g.Exported || w.Kind != g.Kind || w.Str != g.Str {
				t.Fatalf("environment %q: Get(%q) = %+v, want %+v", env, n, g, w)
			}
		}
	}
}
