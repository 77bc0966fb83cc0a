package glue

import (
	"path/filepath"
	"testing"
)

// FuzzParseStoreURL checks that every accepted store URL names a known
// kind and, for a chroot store, an absolute root.
func FuzzParseStoreURL(f *testing.F) {
	for _, s := range []string{"", "dummy://", "local?root=/r", "./x", "daemon", "local?root=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseStoreURL(s)
		if err != nil {
			return
		}
		if u.Kind != StoreLocal && u.Kind != StoreDummy {
			t.Fatalf("ParseStoreURL(%q): kind %d", s, u.Kind)
		}
		if u.Root != "" && !filepath.IsAbs(u.Root) {
			t.Fatalf("ParseStoreURL(%q): relative root %q", s, u.Root)
		}
	})
}
