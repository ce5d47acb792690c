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

// TestListFlagsCompletedAgain: completion offers a repeatable flag again
// after one use, since each use adds to the list.
func TestListFlagsCompletedAgain(t *testing.T) {
	for _, flag := range []string{"--env", "--computer-name", "--host-name"} {
		cands, _ := complete(t, "start", flag, "a", flag[:len(flag)-2])
		if !slices.ContainsFunc(cands, func(c string) bool { return strings.HasPrefix(c, flag) }) {
			t.Errorf("after %s a, completion does not offer %s again: %q", flag, flag, cands)
		}
	}
}

// TestOnceString: --group takes one value; the same value again is no
// harm, another is refused (pflag's string flag kept the last one).
func TestOnceString(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string
		refused bool
	}{
		{nil, "", false},
		{[]string{"--group", "gx"}, "gx", false},
		{[]string{"--group", "gx", "--group=gx"}, "gx", false},
		{[]string{"--group", "gx", "--group", "gy"}, "", true},
	} {
		for _, cmd := range []string{"get", "wait", "events", "start", "queue"} {
			c := newRootFor([]string{cmd})
			sub, _, err := c.Find([]string{cmd})
			if err != nil {
				t.Fatal(err)
			}
			err = sub.Flags().Parse(tc.args)
			got := sub.Flags().Lookup("group").Value.String()
			switch {
			case tc.refused && (err == nil || !strings.Contains(err.Error(), "given twice (gx and gy)")):
				t.Errorf("%s %q: %v; want refused, given twice", cmd, tc.args, err)
			case !tc.refused && (err != nil || got != tc.want):
				t.Errorf("%s %q: %q, %v; want %q", cmd, tc.args, got, err, tc.want)
			}
		}
	}
}
