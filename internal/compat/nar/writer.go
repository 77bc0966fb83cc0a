package nar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
)

// Writer writes a NAR. Call WriteHeader for each node in NAR order (depth
// first, each directory before its entries, entries sorted by name), Write
// for the contents of regular files, and Close at the end.
type Writer struct {
	w       io.Writer
	err     error
	started bool
	closed  bool
	dirs    []dirPos // open directories, innermost last
	cur     *Header  // current regular file
	left    int64    // contents of cur still to write
	rootEnd bool     // the root node is complete
	buf     [8]byte
}

// ErrWriteTooLong is returned by Write when more than Header.Size bytes
// are written.
var ErrWriteTooLong = errors.New("nar: write too long")

// NewWriter returns a Writer writing a NAR to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader finishes the previous node and starts the node h. The first
// header must be the root, "/". Every later path must be an entry of an
// open directory, named after all earlier entries of that directory.
func (nw *Writer) WriteHeader(h *Header) error {
	if nw.err != nil {
		return nw.err
	}
	if nw.closed {
		return errors.New("nar: write header after close")
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if err := nw.finishFile(); err != nil {
		return err
	}
	if !nw.started {
		if h.Path != "/" {
			return fmt.Errorf("nar: first header is %q, not the root \"/\"", h.Path)
		}
		nw.started = true
		nw.str(Magic)
		return nw.node(h)
	}
	if h.Path == "/" || nw.rootEnd {
		return fmt.Errorf("nar: header %q after the root node", h.Path)
	}
	dir, name := path.Split(h.Path)
	if dir != "/" {
		dir = dir[:len(dir)-1]
	}
	i := len(nw.dirs) - 1
	for i >= 0 && nw.dirs[i].path != dir {
		i--
	}
	if i < 0 {
		return fmt.Errorf("nar: header %q is not inside an open directory", h.Path)
	}
	if prev := nw.dirs[i].prev; prev != "" && name <= prev {
		return fmt.Errorf("nar: header %q out of order: %q must sort after %q", h.Path, name, prev)
	}
	for len(nw.dirs) > i+1 {
		nw.closeDir()
	}
	d := &nw.dirs[i]
	d.prev = name
	nw.str("entry")
	nw.str("(")
	nw.str("name")
	nw.str(name)
	nw.str("node")
	return nw.node(h)
}

func (nw *Writer) node(h *Header) error {
	nw.str("(")
	nw.str("type")
	switch h.Type {
	case TypeRegular:
		nw.str("regular")
		if h.Executable {
			nw.str("executable")
			nw.str("")
		}
		nw.str("contents")
		nw.uint64(uint64(h.Size))
		hc := *h
		nw.cur, nw.left = &hc, h.Size
	case TypeSymlink:
		nw.str("symlink")
		nw.str("target")
		nw.str(h.LinkTarget)
		nw.str(")")
		nw.endNode()
	case TypeDirectory:
		nw.str("directory")
		nw.dirs = append(nw.dirs, dirPos{path: h.Path})
	}
	return nw.err
}

// endNode writes the ")" closing the entry around a finished node, or marks
// the root complete.
func (nw *Writer) endNode() {
	if len(nw.dirs) == 0 {
		nw.rootEnd = true
		return
	}
	nw.str(")")
}

func (nw *Writer) closeDir() {
	nw.dirs = nw.dirs[:len(nw.dirs)-1]
	nw.str(")")
	nw.endNode()
}

func (nw *Writer) finishFile() error {
	if nw.cur == nil {
		return nw.err
	}
	if nw.left > 0 {
		nw.err = fmt.Errorf("nar: %s: missing %d bytes of contents", nw.cur.Path, nw.left)
		return nw.err
	}
	nw.pad(uint64(nw.cur.Size))
	nw.str(")")
	nw.endNode()
	nw.cur = nil
	return nw.err
}

// Write writes contents of the current regular file. It returns
// ErrWriteTooLong if more than the header's Size is written.
func (nw *Writer) Write(p []byte) (int, error) {
	if nw.err != nil {
		return 0, nw.err
	}
	if nw.cur == nil {
		return 0, errors.New("nar: write outside a regular file")
	}
	tooLong := false
	if int64(len(p)) > nw.left {
		p, tooLong = p[:nw.left], true
	}
	n, err := nw.w.Write(p)
	nw.left -= int64(n)
	if err != nil {
		nw.err = err
		return n, err
	}
	if tooLong {
		return n, ErrWriteTooLong
	}
	return n, nil
}

// Close finishes the archive. It does not close the underlying writer.
func (nw *Writer) Close() error {
	if nw.closed {
		return nw.err
	}
	if err := nw.finishFile(); err != nil {
		return err
	}
	nw.closed = true
	if !nw.started {
		nw.err = errors.New("nar: close before the root header")
		return nw.err
	}
	for len(nw.dirs) > 0 {
		nw.closeDir()
	}
	return nw.err
}

func (nw *Writer) uint64(n uint64) {
	if nw.err != nil {
		return
	}
	binary.LittleEndian.PutUint64(nw.buf[:], n)
	_, nw.err = nw.w.Write(nw.buf[:])
}

func (nw *Writer) str(s string) {
	nw.uint64(uint64(len(s)))
	if nw.err == nil && len(s) > 0 {
		_, nw.err = io.WriteString(nw.w, s)
	}
	nw.pad(uint64(len(s)))
}

var zeros [8]byte

func (nw *Writer) pad(n uint64) {
	if k := padLen(n); k > 0 && nw.err == nil {
		_, nw.err = nw.w.Write(zeros[:k])
	}
}
