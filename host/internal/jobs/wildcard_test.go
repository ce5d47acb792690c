package jobs

import "testing"

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at all\n", true},
		{"al*", "alpha", true},
		{"al*", "beta", false},
		{"?eta", "beta", true},
		{"?eta", "bbeta", false},
		{"[ab]*", "beta", true},
		{"[!ab]*", "beta", false},
		{"[a-c]x", "bx", true},
		{"*deploy.sh", "/srv/app/deploy.sh", true},
		{"a.b", "axb", false},
		{"[", "[", true},
		{"[unclosed", "[unclosed", true},
		{"ünï😀", "ünï😀", true},
		{"ün*", "ünï😀", true},
		{"?nï?", "ünï😀", true},
		{"??", "ü", false},
		{"[üö]x", "öx", true},
		{"(a|b)+", "(a|b)+", true},
		{"(a|b)+", "a", false},
		// Case does not matter, as in PowerShell.
		{"backup", "Backup", true},
		{"BACK*", "backup-2", true},
		{"[A-C]x", "bx", true},
		{"ÜN*", "ünï", true},
		{"[UNCLOSED", "[unclosed", true},
		// A pattern matches itself: a name with wildcard characters is
		// found typed as it is (and still as a pattern).
		{"glob*?[x]", "glob*?[x]", true},
		{"backup[1]", "Backup[1]", true},
		{"backup[1]", "backup1", true},
		{"a*b", "a*b", true},
		{"a?", "a?x", false},
	}
	for _, tt := range tests {
		if got := CompileWildcard(tt.pattern).Match(tt.s); got != tt.want {
			t.Errorf("%q matches %q: %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// Names compare in Unicode normal form C: "école" typed with e and a
// combining accent (NFD) finds the name written with é (NFC), and the
// reverse, literally, with wildcards and without regard to case.
func TestWildcardNFC(t *testing.T) {
	nfc, nfd := "\u00e9cole", "e\u0301cole"
	for _, c := range []struct{ pattern, name string }{
		{nfd, nfc}, {nfc, nfd}, {"E\u0301CO*", nfc}, {"?cole", nfd}, {"[\u00e9]cole", nfd},
	} {
		if !CompileWildcard(c.pattern).Match(c.name) {
			t.Errorf("%q does not match %q", c.pattern, c.name)
		}
	}
}
