package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// listValue is a repeatable flag's value: each use adds to the list. pflag's
// StringArray and StringSlice format their default through encoding/csv as
// each flag is declared, on every call whatever its flags (perf: 20-30 µs
// of a start's CPU for each kind declared), for a default that is always
// empty here; and a StringSlice's first use drops what another flag sharing
// its list had given.
type listValue struct {
	l *[]string
	// comma: each use is a comma-separated list, as for StringSlice
	// (--computer-name a,b); else the value as given, commas and all, as
	// for StringArray (--arg, --env).
	comma bool
}

// stringList is the value of a flag that adds each use's value to *l as
// given.
func stringList(l *[]string) pflag.Value { return listValue{l: l} }

// computerList is the value of --computer-name and --host-name: each use
// adds its comma-separated computers to *l, which both flags fill.
func computerList(l *[]string) pflag.Value { return listValue{l: l, comma: true} }

func (v listValue) Set(s string) error {
	if v.comma {
		*v.l = append(*v.l, strings.Split(s, ",")...)
	} else {
		*v.l = append(*v.l, s)
	}
	return nil
}

// String is the list as pflag's lists show it, and empty for none, so that
// the help shows no default.
func (v listValue) String() string {
	if len(*v.l) == 0 {
		return ""
	}
	return "[" + strings.Join(*v.l, ",") + "]"
}

// Type is what the help shows after the flag, as it did for StringSlice
// and StringArray.
func (v listValue) Type() string {
	if v.comma {
		return "strings"
	}
	return "stringArray"
}

// GetSlice tells completion that the flag may be given again (cobra's
// SliceValue).
func (v listValue) GetSlice() []string { return *v.l }

// onceString is the value of a flag that takes one value, such as
// --group: a second use with another value is refused, where pflag's
// string flag keeps the last and drops the first without a word (wait
// --group gx --group gy waited for gy's jobs alone).
type onceString struct {
	s   *string
	set bool
}

func once(s *string) pflag.Value { return &onceString{s: s} }

func (v *onceString) Set(s string) error {
	if v.set && s != *v.s {
		return fmt.Errorf("given twice (%s and %s); it takes one", *v.s, s)
	}
	*v.s, v.set = s, true
	return nil
}

func (v *onceString) String() string { return *v.s }
func (v *onceString) Type() string   { return "string" }
