// Package spell computes "did you mean" suggestions the way Nix's
// src/libutil/suggestions.cc does.
//
// Every candidate gets its byte-wise Levenshtein distance to the query. The
// candidates are ordered by (distance, name), and the first five whose
// distance is at most 2 are suggested. Format renders them as Nix prints them
// below an error message.
package spell

import (
	"cmp"
	"slices"
	"strings"
)

// Limits used by Nix's Suggestions::trim defaults.
const (
	MaxSuggestions = 5
	MaxDistance    = 2
)

// Suggestion is one candidate with its distance to the query.
type Suggestion struct {
	Distance int
	Name     string
}

// Nearest returns the suggestions for query among candidates: at most
// MaxSuggestions names within MaxDistance edits, ordered by (distance, name).
// Duplicate candidates count once.
func Nearest(query string, candidates []string) []string {
	var all []Suggestion
	for _, c := range candidates {
		if abs(len(c)-len(query)) > MaxDistance {
			continue // cannot be within MaxDistance; skip the quadratic work
		}
		if d := Distance(query, c); d <= MaxDistance {
			all = append(all, Suggestion{d, c})
		}
	}
	slices.SortFunc(all, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), strings.Compare(a.Name, b.Name))
	})
	all = slices.CompactFunc(all, func(a, b Suggestion) bool { return a.Name == b.Name })
	var out []string
	for _, s := range all {
		if len(out) == MaxSuggestions {
			break
		}
		out = append(out, s.Name)
	}
	return out
}

// Format renders suggestions as Nix's error printer does: "" for none,
// "Did you mean x?" for one, and "Did you mean one of a, b or c?" for more.
// The names are kept in the given order.
func Format(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "Did you mean " + names[0] + "?"
	}
	var b strings.Builder
	b.WriteString("Did you mean one of ")
	for i, n := range names {
		switch {
		case i == len(names)-1:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	b.WriteString("?")
	return b.String()
}

// Distance is the Levenshtein distance between a and b, counted in bytes.
func Distance(a, b string) int {
	v0 := make([]int, len(b)+1)
	v1 := make([]int, len(b)+1)
	for i := range v0 {
		v0[i] = i
	}
	for i := 0; i < len(a); i++ {
		v1[0] = i + 1
		for j := 0; j < len(b); j++ {
			sub := v0[j]
			if a[i] != b[j] {
				sub++
			}
			v1[j+1] = min(v0[j+1]+1, v1[j]+1, sub)
		}
		v0, v1 = v1, v0
	}
	return v0[len(b)]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
