package spell

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"x", "y", 1},
		{"ab", "ba", 2},
		{"foo", "foo", 0},
		{"é", "e", 2}, // bytes, not runes
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		query, candidates, want string
	}{
		// suite: eval-fail-remove, eval-fail-undeclared-arg, eval-fail-undeclared-arg-import
		{"x", "y", "Did you mean y?"},
		{"y", "x z", "Did you mean one of x or z?"},
		{"b", "a", "Did you mean a?"},
		// more
		{"foo", "", ""},
		{"foo", "barbaz", ""},
		{"foo", "fo foo2 fooo f", "Did you mean one of fo, foo2, fooo or f?"},
		{"abc", "abd abe xbc abcd zzz ab a", "Did you mean one of ab, abcd, abd, abe or xbc?"},
		{"name", "nmae", "Did you mean nmae?"},
		{"version", "versions version_ verison", "Did you mean one of version_, versions or verison?"},
		{"a", "a a b", "Did you mean one of a or b?"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := Format(Nearest(tt.query, strings.Fields(tt.candidates)))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
