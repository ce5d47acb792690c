package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --foreach's items: a line each, without its end; blank lines skipped;
// none at all refused.
func TestReadItems(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
		err           string
	}{
		{"lines", "a\nb c\n", []string{"a", "b c"}, ""},
		{"no last newline", "a\nb", []string{"a", "b"}, ""},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}, ""},
		{"blank lines skipped", "\na\n  \n\t\nb\n\n", []string{"a", "b"}, ""},
		{"spaces kept", "  a  \n", []string{"  a  "}, ""},
		{"empty", "", nil, "has no items"},
		{"only blank lines", "\n \n\t\n", nil, "has no items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "items")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readItems(path, nil)
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("items %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := readItems("-", []string{"-"}); err == nil || !strings.Contains(err.Error(), "both read stdin") {
		t.Errorf("--foreach - with --input -: %v", err)
	}
}
