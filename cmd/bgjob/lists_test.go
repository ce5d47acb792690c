package main

import (
	"slices"
	"strings"
	"testing"
)

// TestStringList: a repeatable flag of start's and edit's keeps each use's
// value as given, commas and all, in order, as pflag's StringArray did,
// and shows as it did: no default, "stringArray" after the flag.
func TestStringList(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		flag       string
		want       []string
		wantString string
	}{
		{nil, "arg", nil, ""},
		{[]string{"--arg", "a,b", "--arg", "", "--arg=c d"}, "arg", []string{"a,b", "", "c d"}, "[a,b,,c d]"},
		{[]string{"--env", "K=V,W", "--after", "1", "--env", "L=2"}, "env", []string{"K=V,W", "L=2"}, "[K=V,W,L=2]"},
		{[]string{"--after", "Job*", "--after", "3"}, "after", []string{"Job*", "3"}, "[Job*,3]"},
	} {
		f := newStart().Flags()
		if err := f.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		v := f.Lookup(tc.flag).Value
		got := v.(listValue).GetSlice()
		if !slices.Equal(got, tc.want) || v.String() != tc.wantString || v.Type() != "stringArray" {
			t.Errorf("%q: --%s holds %q, shows %q, type %q; want %q, %q, stringArray", tc.args, tc.flag, got, v.String(), v.Type(), tc.want, tc.wantString)
		}
	}
	for _, name := range []string{"env", "after"} {
		if v, ok := newEdit().Flags().Lookup(name).Value.(listValue); !ok || v.comma {
			t.Errorf("edit --%s is not a list", name)
		}
	}
}

// TestStringListCompletedAgain: completion offers a repeatable flag again
// after one use.
func TestStringListCompletedAgain(t *testing.T) {
	cands, _ := complete(t, "start", "--env", "A=1", "--en")
	if !slices.ContainsFunc(cands, func(c string) bool { return strings.HasPrefix(c, "--env") }) {
		t.Errorf("after --env A=1, completion does not offer --env again: %q", cands)
	}
}
