package cli

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseAttrPath checks parseAttrPath against its definition for paths
// without quotes: the dot-separated parts, minus one trailing empty part.
func FuzzParseAttrPath(f *testing.F) {
	for _, s := range []string{"", "a.b", `a."b.c"`, "a..b.", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAttrPath(s)
		if strings.Contains(s, `"`) {
			return // quoting: only must not panic
		}
		if err != nil {
			t.Fatalf("parseAttrPath(%q): %v", s, err)
		}
		var want []string
		if s != "" {
			want = strings.Split(s, ".")
			if want[len(want)-1] == "" {
				want = want[:len(want)-1]
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("parseAttrPath(%q) = %q, want %q", s, got, want)
		}
	})
}

// FuzzParseConfig checks that NIX_CONFIG parsing keeps every name = value
// line with a name and never panics.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"show-trace = true\n", "a=b # c\n\nx", "= =\n#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, st := range parseConfig(s) {
			if strings.ContainsAny(st.Name, "\n#=") || strings.ContainsAny(st.Value, "\n#") {
				t.Fatalf("parseConfig(%q): bad setting %q = %q", s, st.Name, st.Value)
			}
		}
	})
}
