package jobs

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzWildcard checks the Wildcard matcher on any pattern and string. The
// checked-in seeds are in testdata/fuzz/FuzzWildcard/.
func FuzzWildcard(f *testing.F) {
	for _, c := range [][2]string{
		{"*", ""},
		{"al*", "alpha"},
		{"?eta", "beta"},
		{"[!ab]*", "beta"},
		{"[a-c]x", "bx"},
		{"*deploy.sh", "/srv/app/deploy.sh"},
		{"[unclosed", "[unclosed"},
		{"(a|b)+", "a"},
		{"[z-a]", "q"},
		{`[\]x`, `\x`},
		{"?nï?", "ünï😀"},
		{"\xff", "\xfe"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		w := CompileWildcard(pattern)
		got := w.Match(s)
		valid := utf8.ValidString(pattern) && utf8.ValidString(s)
		// Matching is without regard to case and in normal form C, as
		// PowerShell's -Name and -Command match: what follows compares
		// so too.
		np, ns := norm.NFC.String(pattern), norm.NFC.String(s)

		// A pattern with no Wildcard characters matches only itself. For
		// invalid UTF-8 it compares characters, each bad byte being U+FFFD,
		// so only valid strings are held to this.
		if valid && !strings.ContainsAny(pattern, "*?[") && got != strings.EqualFold(np, ns) {
			t.Fatalf("literal pattern %q: match(%q) = %v", pattern, s, got)
		}

		if !CompileWildcard("*").Match(s) {
			t.Fatalf(`"*" does not match %q`, s)
		}
		if utf8.ValidString(s) && !strings.ContainsAny(s, "*?[") && !CompileWildcard("*"+s+"*").Match(s) {
			t.Fatalf("%q does not match itself between stars", s)
		}

		// "*p*" for a literal p matches exactly the strings containing p.
		if p := pattern; valid && !strings.ContainsAny(p, "*?[") && norm.NFC.IsNormalString(p) {
			if got, want := CompileWildcard("*"+p+"*").Match(s), strings.Contains(fold(ns), fold(np)); got != want {
				t.Fatalf("pattern %q: match(%q) = %v, want %v", "*"+p+"*", s, got, want)
			}
		}

		// As many ?s as s has characters match it; one more or one fewer
		// does not. (Short strings only: the regexps grow with s, and past
		// some thousands of characters would not compile at all.)
		if n := utf8.RuneCountInString(ns); utf8.ValidString(s) && n <= 64 {
			for _, k := range []int{n - 1, n, n + 1} {
				if k < 0 {
					continue
				}
				if got := CompileWildcard(strings.Repeat("?", k)).Match(s); got != (k == n) {
					t.Fatalf("%d ?s: match(%q) = %v", k, s, got)
				}
			}
		}
	})
}

// fold maps each character of s to the least of those its case folds to
// (unicode.SimpleFold), as a case-insensitive match compares them.
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
