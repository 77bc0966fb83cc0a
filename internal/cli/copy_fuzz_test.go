package cli

import (
	"strings"
	"testing"
)

// FuzzSplitCacheURL checks that a binary cache URL's query is either
// refused or fully understood, and that the base URL keeps no query.
func FuzzSplitCacheURL(f *testing.F) {
	for _, s := range []string{
		"file:///tmp/c?compression=zstd&secret-key=/k&write-nar-listing=true",
		"http://h:5000?priority=30",
		"https://h/x?trusted=1&compression=xz",
		"file:///c?compresion=xz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, p, err := splitCacheURL(s)
		if err != nil {
			return
		}
		if strings.Contains(base, "?") || !strings.HasPrefix(s, base) {
			t.Fatalf("%q: base %q", s, base)
		}
		_, query, _ := strings.Cut(s, "?")
		if p.hasPriority != strings.Contains(query, "priority=") && !strings.Contains(query, "%") {
			t.Fatalf("%q: priority %v", s, p)
		}
	})
}
