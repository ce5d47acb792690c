package main

import (
	"slices"
	"strings"
	"testing"
)

// TestComputerList: --computer-name and --host-name fill one list, each
// use adding its comma-separated names to those before, whichever flag.
func TestComputerList(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--computer-name", "a"}, []string{"a"}},
		{[]string{"--computer-name", "a,b"}, []string{"a", "b"}},
		{[]string{"--computer-name", "a", "--computer-name", "b,c"}, []string{"a", "b", "c"}},
		{[]string{"--computer-name", "a", "--host-name", "b", "--computer-name", "c"}, []string{"a", "b", "c"}},
		{[]string{"--host-name=u@h:2222,alias"}, []string{"u@h:2222", "alias"}},
	} {
		// The start command's own flags, so that the test sees how
		// they are declared: both filling one list.
		f := newStart().Flags()
		if err := f.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		got := f.Lookup("computer-name").Value.(listValue).GetSlice()
		if other := f.Lookup("host-name").Value.(listValue).GetSlice(); !slices.Equal(other, got) {
			t.Errorf("%q: --host-name holds %q, --computer-name %q: not one list", tc.args, other, got)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
	l := computerList(&[]string{"a", "b"})
	if s, typ := l.String(), l.Type(); s != "[a,b]" || typ != "strings" {
		t.Errorf("String %q, Type %q; want [a,b] and strings, as StringSlice showed them", s, typ)
	}
	if s := computerList(new([]string)).String(); s != "" {
		t.Errorf("String of none is %q; want empty, so that the help shows no default", s)
	}
}

// TestComputerNameCompletedAgain: completion offers --computer-name and
// --host-name again after one use, since each adds to the list.
func TestComputerNameCompletedAgain(t *testing.T) {
	for _, flag := range []string{"--computer-name", "--host-name"} {
		cands, _ := complete(t, "start", flag, "a", flag[:len(flag)-2])
		if !slices.ContainsFunc(cands, func(c string) bool { return strings.HasPrefix(c, flag) }) {
			t.Errorf("after %s a, completion does not offer %s again: %q", flag, flag, cands)
		}
	}
}
