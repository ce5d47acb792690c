package jobs

import (
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Wildcard is a PowerShell-style Wildcard pattern: * is any run of
// characters (slashes too, unlike path.Match), ? any one character, [abc]
// and [a-z] a set, [!abc] its complement. A pattern that does not compile
// as one (an unclosed [) matches only itself. It works on characters, not
// bytes, so names in any script match as their users expect; and without
// regard to case, as PowerShell's -Name and -Command do; and in Unicode
// normal form C, both the pattern and what it matches, so a name typed
// decomposed (e and a combining accent, as some keyboards and file
// systems give it) finds the one written composed, and the reverse.
//
// A pattern always matches itself too: a job named "backup[1]" or "a*b"
// (names may hold any character) is found by its name typed as it is,
// which as a pattern would not match it.
type Wildcard struct {
	re      *regexp.Regexp
	literal string
}

func CompileWildcard(pattern string) Wildcard {
	pattern = norm.NFC.String(pattern)
	var b strings.Builder
	b.WriteString("^(?si:")
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := indexRune(rs[i+1:], ']')
			if j < 1 {
				b.WriteString(regexp.QuoteMeta(string(c)))
				continue
			}
			set := string(rs[i+1 : i+1+j])
			if set[0] == '!' {
				set = "^" + set[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(set, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(")$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return Wildcard{literal: pattern}
	}
	return Wildcard{re: re, literal: pattern}
}

func (w Wildcard) Match(s string) bool {
	s = norm.NFC.String(s)
	if strings.EqualFold(s, w.literal) {
		return true
	}
	return w.re != nil && w.re.MatchString(s)
}

func indexRune(rs []rune, r rune) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}
