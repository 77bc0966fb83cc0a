// Package token defines source positions and the lexical tokens of the Nix
// language.
//
// Positions work like go/token: a Pos is a compact offset into a FileSet,
// and it is turned into a file name, line and column only when printed.
// Line breaks follow CppNix (src/libutil/position.cc LinesIterator): "\n",
// "\r\n" and a lone "\r" each end a line. Columns are 1-based byte counts.
package token

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
)

// Pos is a position in a FileSet: the file's base plus a byte offset.
// The zero value is NoPos. Pos is an int32 to keep AST nodes small; a
// FileSet holds at most 2 GiB of source.
type Pos int32

// NoPos is the zero Pos: no position known (CppNix's noPos).
const NoPos Pos = 0

// IsValid reports whether p is a real position.
func (p Pos) IsValid() bool { return p != NoPos }

// Position is a resolved source position.
type Position struct {
	Filename string // e.g. "/abs/f.nix" or "«stdin»"
	Offset   int    // byte offset, 0-based
	Line     int    // 1-based line number; 0 if unknown
	Column   int    // 1-based byte column; 0 if unknown
}

// IsValid reports whether the position has a line number.
func (p Position) IsValid() bool { return p.Line > 0 }

// String formats the position the way Nix does: "file:line:col", or
// "file:line" when the column is unknown, or "«none»" when invalid.
func (p Position) String() string {
	if !p.IsValid() {
		if p.Filename != "" {
			return p.Filename
		}
		return "«none»"
	}
	s := p.Filename
	if s == "" {
		s = "«none»"
	}
	s += ":" + strconv.Itoa(p.Line)
	if p.Column > 0 {
		s += ":" + strconv.Itoa(p.Column)
	}
	return s
}

// File is one source file in a FileSet. It records the offsets at which
// lines start and, optionally, the source text (used to print code
// snippets in error messages).
type File struct {
	name string
	base int // Pos of offset 0
	size int

	mu    sync.Mutex
	lines []int // offsets of line starts; lines[0] == 0
	src   []byte
}

// Name returns the file name given to AddFile.
func (f *File) Name() string { return f.name }

// Base returns the Pos of the file's first byte.
func (f *File) Base() int { return f.base }

// Size returns the file size given to AddFile.
func (f *File) Size() int { return f.size }

// Pos returns the Pos of the given byte offset (0 <= offset <= Size).
func (f *File) Pos(offset int) Pos {
	if offset < 0 || offset > f.size {
		panic(fmt.Sprintf("token: offset %d out of range [0, %d]", offset, f.size))
	}
	return Pos(f.base + offset)
}

// Offset returns the byte offset of p within f.
func (f *File) Offset(p Pos) int {
	off := int(p) - f.base
	if off < 0 || off > f.size {
		panic(fmt.Sprintf("token: pos %d not in file %q", p, f.name))
	}
	return off
}

// SetSource records src as the file's text; the line table is computed
// from it, with Nix's line-break rules, when first needed. src is
// retained, not copied, and must not be modified afterwards.
func (f *File) SetSource(src []byte) {
	f.mu.Lock()
	f.src = src
	f.lines = nil
	f.mu.Unlock()
}

// lineTable returns the line-start offsets, computing them from the
// source if needed. f.mu must be held.
func (f *File) lineTable() []int {
	if f.lines == nil && f.src != nil {
		f.lines = computeLines(f.src)
	}
	return f.lines
}

func computeLines(src []byte) []int {
	lines := make([]int, 1, 16+len(src)/32)
	lines[0] = 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			lines = append(lines, i+1)
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			lines = append(lines, i+1)
		}
	}
	return lines
}

// Source returns the text recorded by SetSource, or nil.
func (f *File) Source() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.src
}

// LineCount returns the number of lines known.
func (f *File) LineCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lineTable())
}

// Position resolves p, which must belong to f.
func (f *File) Position(p Pos) Position {
	if !p.IsValid() {
		return Position{}
	}
	off := f.Offset(p)
	f.mu.Lock()
	lines := f.lineTable()
	f.mu.Unlock()
	pos := Position{Filename: f.name, Offset: off}
	if len(lines) == 0 {
		pos.Line, pos.Column = 1, off+1
		return pos
	}
	i := sort.Search(len(lines), func(i int) bool { return lines[i] > off }) - 1
	pos.Line = i + 1
	pos.Column = off - lines[i] + 1
	return pos
}

// Line returns the text of the given 1-based line without its line
// break, and false if the line does not exist or no source is recorded.
func (f *File) Line(line int) ([]byte, bool) {
	f.mu.Lock()
	lines, src := f.lineTable(), f.src
	f.mu.Unlock()
	if src == nil || line < 1 || line > len(lines) {
		return nil, false
	}
	start := lines[line-1]
	end := len(src)
	for i := start; i < len(src); i++ {
		if src[i] == '\n' || src[i] == '\r' {
			end = i
			break
		}
	}
	return src[start:end], true
}

// FileSet is a set of files sharing one Pos space. It is safe for
// concurrent use.
type FileSet struct {
	mu    sync.RWMutex
	base  int
	files []*File
	last  *File
}

// NewFileSet returns an empty FileSet.
func NewFileSet() *FileSet { return &FileSet{base: 1} }

// Base returns the base that the next AddFile will use.
func (s *FileSet) Base() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.base
}

// AddFile adds a file of the given size and returns it. Positions of the
// file range over [base, base+size] (the end offset is a valid position,
// e.g. for "unexpected end of file"). It panics if the FileSet would
// exceed the int32 Pos space.
func (s *FileSet) AddFile(filename string, size int) *File {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size < 0 || s.base+size+1 > 1<<31-1 {
		panic("token: FileSet too large")
	}
	f := &File{name: filename, base: s.base, size: size}
	s.base += size + 1
	s.files = append(s.files, f)
	s.last = f
	return f
}

// File returns the file that contains p, or nil.
func (s *FileSet) File(p Pos) *File {
	if !p.IsValid() {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if f := s.last; f != nil && f.base <= int(p) && int(p) <= f.base+f.size {
		return f
	}
	i := sort.Search(len(s.files), func(i int) bool { return s.files[i].base > int(p) }) - 1
	if i >= 0 {
		f := s.files[i]
		if int(p) <= f.base+f.size {
			return f
		}
	}
	return nil
}

// Position resolves p to file name, line and column. It returns the zero
// Position for NoPos or a Pos outside the set.
func (s *FileSet) Position(p Pos) Position {
	if f := s.File(p); f != nil {
		return f.Position(p)
	}
	return Position{}
}
