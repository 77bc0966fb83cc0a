// Package refscan finds references to store paths in a byte stream, the
// way Nix discovers the runtime dependencies of a build output: the NAR
// serialisation of the output is scanned for the 32-character nix32 hash
// parts of candidate store paths. A hash part counts wherever it occurs,
// with or without the rest of the path; every occurrence must be
// contiguous in the stream (compressed or UTF-16 text is invisible).
//
// The search is that of Nix's RefScanSink (src/libstore/references.cc):
// a 32-byte window is checked from its right end, and a byte outside the
// nix32 alphabet at offset j lets the window jump past it. The last 31
// bytes of each Write are carried over, so matches spanning Write calls
// are found.
package refscan

import (
	"sort"

	"cairn/internal/compat/nixbase32"
)

// HashLen is the length of a store path hash part in characters.
const HashLen = 32

// A Scanner is an io.Writer that records which of a set of candidate
// hash parts appear in the bytes written to it.
type Scanner struct {
	want  map[string]bool // candidates not yet seen
	found map[string]bool
	tail  []byte // last HashLen-1 bytes of the stream so far
}

// New returns a Scanner looking for the given hash parts. Candidates that
// are not 32 nix32 characters can never match and are ignored.
func New(hashParts []string) *Scanner {
	s := &Scanner{want: make(map[string]bool, len(hashParts)), found: map[string]bool{}}
	for _, h := range hashParts {
		if len(h) == HashLen {
			s.want[h] = true
		}
	}
	return s
}

// Write scans p. It never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	if len(s.want) == 0 {
		return len(p), nil
	}
	// Windows that start in the carried tail and end in p.
	if len(s.tail) > 0 {
		n := min(len(p), HashLen-1)
		joint := make([]byte, 0, len(s.tail)+n)
		joint = append(append(joint, s.tail...), p[:n]...)
		s.search(joint)
	}
	s.search(p)
	// Keep the last HashLen-1 bytes of the stream.
	if len(p) >= HashLen-1 {
		s.tail = append(s.tail[:0], p[len(p)-(HashLen-1):]...)
	} else {
		s.tail = append(s.tail, p...)
		if over := len(s.tail) - (HashLen - 1); over > 0 {
			s.tail = append(s.tail[:0], s.tail[over:]...)
		}
	}
	return len(p), nil
}

func (s *Scanner) search(b []byte) {
	for i := 0; i+HashLen <= len(b) && len(s.want) > 0; {
		j := HashLen - 1
		for ; j >= 0; j-- {
			if !nixbase32.IsDigit(b[i+j]) {
				break
			}
		}
		if j >= 0 {
			i += j + 1
			continue
		}
		if w := string(b[i : i+HashLen]); s.want[w] {
			delete(s.want, w)
			s.found[w] = true
		}
		i++
	}
}

// Found returns the hash parts seen so far, sorted.
func (s *Scanner) Found() []string {
	out := make([]string, 0, len(s.found))
	for h := range s.found {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
