package regex

import (
	"sync"
	"testing"
)

// FuzzRegex checks that compiling never panics and that memoised searches
// agree with the plain depth-first search they optimise.
func FuzzRegex(f *testing.F) {
	f.Add("(.*)\\.nix", "foo.nix")
	f.Add("a?(ab)?", "abab")
	f.Add("[[:space:]]+|([',.!?])", "Nix Rocks!")
	f.Add("((a)|b)+", "abba")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 24 || len(s) > 12 {
			return
		}
		re, err := Compile(pattern)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q) error %T", pattern, err)
			}
			return
		}
		if re.zeroWidthCycle || len(re.nfa) > 64 {
			// Never memoised, or too big for the plain search, which is
			// exponential like libstdc++'s.
			return
		}
		plain := *re
		plain.noMemo = true
		plain.pool = new(sync.Pool)
		if a, b := renderMatch(re, s), renderMatch(&plain, s); a != b {
			t.Errorf("match %q %q: memoised %s, plain %s", pattern, s, a, b)
		}
		if a, b := renderSplit(re, s), renderSplit(&plain, s); a != b {
			t.Errorf("split %q %q: memoised %s, plain %s", pattern, s, a, b)
		}
	})
}
