// Package regex implements the regular expressions of builtins.match and
// builtins.split exactly as Nix runs them: std::regex with
// std::regex::extended (POSIX ERE) from GCC's libstdc++, on bytes.
//
// libstdc++'s engine is not a textbook POSIX matcher, and Go's regexp differs
// from it in observable ways, so this package ports its scanner, its NFA
// construction and its depth-first executor:
//
//   - Patterns are bytes. A backslash may only escape one of . [ \ ( ) * + ? {
//     | ^ $; any other escape (\d, \n, \], \/) is an invalid regular
//     expression, as in Nix, which is built with __STRICT_ANSI__. Inside a
//     bracket expression a backslash is an ordinary character.
//   - Character classes use the "C" locale: bytes above 0x7f belong to no
//     class, and ranges compare bytes as signed chars, so [a-\xff] is invalid.
//   - "." matches every byte but NUL, newlines included.
//   - Alternation prefers the longest match, but a greedy repetition that
//     already led to a match does not try fewer iterations: a?(ab)? finds
//     "a" in "ab", where a POSIX engine finds "ab".
//
// Match is regex_match (the whole subject must match); Split follows
// std::regex_iterator, including its treatment of empty matches. Invalid
// patterns give an *Error whose text is Nix's message.
package regex

import (
	"fmt"
	"strings"
	"sync"
)

// Regexp is a compiled pattern. It is safe for concurrent use.
type Regexp struct {
	pattern        string
	nfa            []state
	start          int32
	ngroups        int
	nbranch        int  // number of states with a memo slot
	zeroWidthCycle bool // the NFA can loop without consuming input
	literal        bool // pattern is a non-empty string of ordinary bytes
	noMemo         bool // tests: run the plain libstdc++ search
	pool           *sync.Pool
}

// Group is the span of a capture group in the subject, in bytes.
// Start and End are -1 if the group did not take part in the match, which
// Nix reports as null.
type Group struct {
	Start, End int
}

// Matched reports whether the group took part in the match.
func (g Group) Matched() bool { return g.Start >= 0 }

// Error is an invalid pattern.
type Error struct {
	Pattern string
	// Space is set when the pattern compiled to more NFA states than
	// libstdc++ allows (error_space); Nix words that error differently.
	Space bool
	// Reason says what is wrong, for debugging; Nix does not print it.
	Reason string
}

func (e *Error) Error() string {
	if e.Space {
		return fmt.Sprintf("memory limit exceeded by regular expression '%s'", e.Pattern)
	}
	return fmt.Sprintf("invalid regular expression '%s'", e.Pattern)
}

// Compile parses pattern as a POSIX extended regular expression the way
// std::regex(pattern, std::regex::extended) does.
func Compile(pattern string) (*Regexp, error) {
	nfa, ngroups, cerr := compileNFA(pattern)
	if cerr != nil {
		return nil, &Error{Pattern: pattern, Space: cerr.space, Reason: cerr.reason}
	}
	re := &Regexp{pattern: pattern, nfa: nfa, ngroups: ngroups, pool: new(sync.Pool)}
	for i := range re.nfa {
		if re.nfa[i].hasAlt() {
			re.nfa[i].memo = int32(re.nbranch)
			re.nbranch++
		}
	}
	re.zeroWidthCycle = hasZeroWidthCycle(re.nfa, re.start)
	re.literal = pattern != "" && !strings.ContainsAny(pattern, extendedSpecial)
	return re, nil
}

// String returns the source pattern.
func (re *Regexp) String() string { return re.pattern }

// NumGroups returns the number of capture groups.
func (re *Regexp) NumGroups() int { return re.ngroups }

// Match reports whether the whole of s matches, and if so returns the
// capture groups 1..NumGroups(), as builtins.match does.
func (re *Regexp) Match(s string) (groups []Group, ok bool) {
	if re.literal {
		return []Group{}, s == re.pattern
	}
	m := newMatcher(re, s)
	defer m.done()
	if !m.matchAll() {
		return nil, false
	}
	groups = make([]Group, re.ngroups)
	for i := range groups {
		groups[i] = m.group(i + 1)
	}
	return groups, true
}

// A Piece is one element of builtins.split's result, which alternates
// between unmatched text and the capture groups of a match. Text is set for
// unmatched text; IsMatch and Groups for a match.
type Piece struct {
	Text    string
	IsMatch bool
	Groups  []Group
}

// Split returns the pieces of builtins.split: text, match, text, ..., text.
// With no match at all it returns the single piece s (Nix then returns the
// original string, context included).
func (re *Regexp) Split(s string) []Piece {
	var pieces []Piece
	prefix := 0
	add := func(start, end int, groups []Group) {
		pieces = append(pieces, Piece{Text: s[prefix:start]}, Piece{IsMatch: true, Groups: groups})
		prefix = end
	}
	if re.literal {
		for i := 0; ; {
			j := strings.Index(s[i:], re.pattern)
			if j < 0 {
				break
			}
			add(i+j, i+j+len(re.pattern), []Group{})
			i += j + len(re.pattern)
		}
	} else {
		m := newMatcher(re, s)
		defer m.done()
		record := func() (start, end int) {
			g := m.group(0)
			groups := make([]Group, re.ngroups)
			for i := range groups {
				groups[i] = m.group(i + 1)
			}
			add(g.Start, g.End, groups)
			return g.Start, g.End
		}
		// std::regex_iterator: the first search, then operator++ until a
		// search fails.
		prevAvail := false
		if m.search(0, false, false, false) {
			start, end := record()
			for {
				from := end
				if start == end {
					if from == len(s) {
						break
					}
					if m.search(from, prevAvail, true, true) {
						start, end = record()
						continue
					}
					from++
				}
				prevAvail = true
				if !m.search(from, true, false, false) {
					break
				}
				start, end = record()
			}
		}
	}
	return append(pieces, Piece{Text: s[prefix:]})
}

// hasZeroWidthCycle reports whether the part of the NFA reachable from start
// has a loop that consumes no input, the only case where libstdc++'s repeat
// counter changes the search.
func hasZeroWidthCycle(nfa []state, start int32) bool {
	succ := func(i int32) (next, alt int32) {
		next, alt = nfa[i].next, -1
		if nfa[i].hasAlt() {
			alt = nfa[i].alt
		}
		return
	}
	reachable := make([]bool, len(nfa))
	work := []int32{start}
	reachable[start] = true
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		next, alt := succ(i)
		for _, j := range []int32{next, alt} {
			if j >= 0 && !reachable[j] {
				reachable[j] = true
				work = append(work, j)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(nfa))
	var visit func(i int32) bool
	visit = func(i int32) bool {
		switch color[i] {
		case grey:
			return true
		case black:
			return false
		}
		color[i] = grey
		if op := nfa[i].op; op != opMatch && op != opAccept { // those consume or end
			next, alt := succ(i)
			if next >= 0 && visit(next) || alt >= 0 && visit(alt) {
				return true
			}
		}
		color[i] = black
		return false
	}
	for i := range nfa {
		if reachable[i] && color[i] == white && visit(int32(i)) {
			return true
		}
	}
	return false
}

// Cache holds compiled patterns by source text, as Nix's RegexCache does.
// An evaluation owns one Cache; it is safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	re  *Regexp
	err error
}

// Compile returns the compiled pattern, compiling it on first use. Errors
// are cached too.
func (c *Cache) Compile(pattern string) (*Regexp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[pattern]; ok {
		return e.re, e.err
	}
	re, err := Compile(pattern)
	if c.m == nil {
		c.m = make(map[string]cacheEntry)
	}
	c.m[pattern] = cacheEntry{re, err}
	return re, err
}
