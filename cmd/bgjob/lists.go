package main

import "strings"

// Repeatable flags' values. pflag's StringArray and StringSlice format
// their default through encoding/csv as each flag is declared, on every
// call whatever its flags (perf: 20-30 µs of a start's CPU for each kind
// used), for a default that is always empty here.

// stringList is a repeatable flag's value: each use adds its value as
// given, commas and all, as pflag's StringArray does.
type stringList []string

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (l *stringList) String() string { return listString(*l) }

// Type is what the help shows after the flag, as it did for StringArray.
func (l *stringList) Type() string { return "stringArray" }

// GetSlice tells completion that the flag may be given again (cobra's
// SliceValue).
func (l *stringList) GetSlice() []string { return *l }

// computerList is the value of --computer-name and --host-name: the
// computers given, comma-separated, each use adding to the ones before
// (both flags fill one list). pflag's StringSlice did this through
// encoding/csv, whose writer formatted the empty default on every start
// (perf: 30 µs of a start's CPU) and whose quoting a host name never needs;
// and its first use of a flag dropped what the other flag had given.
type computerList []string

func (l *computerList) Set(v string) error {
	*l = append(*l, strings.Split(v, ",")...)
	return nil
}

func (l *computerList) String() string { return listString(*l) }

// Type is what the help shows after the flag, as it did for StringSlice.
func (l *computerList) Type() string { return "strings" }

// GetSlice tells completion that the flag may be given again (cobra's
// SliceValue), as it knew from StringSlice's type.
func (l *computerList) GetSlice() []string { return *l }

// listString is a list flag's value as pflag's lists show it, and empty
// for none, so that the help shows no default.
func listString(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return "[" + strings.Join(l, ",") + "]"
}
