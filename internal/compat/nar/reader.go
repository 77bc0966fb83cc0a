package nar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Reader reads a NAR node by node. Call Next to advance to each node and
// Read to read a regular file's contents.
type Reader struct {
	r   io.Reader
	off int64 // bytes consumed
	err error // sticky

	started bool
	done    bool     // the root node is complete
	dirs    []dirPos // open directories, innermost last
	cur     *Header
	left    int64 // unread contents of cur
	inFile  bool  // cur is a regular file whose contents and ")" are pending
	buf     [8]byte
}

type dirPos struct {
	path, prev string
}

// NewReader returns a Reader reading a NAR from r. It reads exactly the
// bytes of the archive from r, in many small reads: give it a
// bufio.Reader for speed (which then holds whatever follows the archive).
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next advances to the next node and returns its header. It returns
// io.EOF at the end of the archive. Unread contents of the previous file
// are skipped.
func (nr *Reader) Next() (*Header, error) {
	if nr.err != nil {
		return nil, nr.err
	}
	h, err := nr.next()
	if err != nil {
		if err != io.EOF {
			nr.err = err
		}
		return nil, err
	}
	return h, nil
}

func (nr *Reader) next() (*Header, error) {
	if !nr.started {
		nr.started = true
		start := nr.off
		magic, err := nr.readString(len(Magic))
		var fe *FormatError
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) {
			return nil, fmt.Errorf("read nar: %w", err)
		}
		if err != nil || magic != Magic {
			return nil, &FormatError{Offset: start, Msg: "input doesn't look like a Nix archive", Err: err}
		}
		return nr.node("/")
	}
	if nr.inFile {
		if _, err := io.CopyN(io.Discard, nr, nr.left); err != nil {
			return nil, err
		}
		if err := nr.padding(uint64(nr.cur.Size)); err != nil {
			return nil, err
		}
		nr.inFile = false
		if err := nr.expect(")", nr.cur.Path); err != nil {
			return nil, err
		}
		if err := nr.nodeDone(); err != nil {
			return nil, err
		}
	}
	for !nr.done {
		d := &nr.dirs[len(nr.dirs)-1]
		tag, err := nr.tag(d.path)
		if err != nil {
			return nil, err
		}
		switch tag {
		case ")":
			nr.dirs = nr.dirs[:len(nr.dirs)-1]
			if err := nr.nodeDone(); err != nil {
				return nil, err
			}
		case "entry":
			if err := nr.expect("(", d.path); err != nil {
				return nil, err
			}
			if err := nr.expect("name", d.path); err != nil {
				return nil, err
			}
			at := nr.off
			name, err := nr.readString(MaxNameLen)
			if err != nil {
				return nil, nr.wrap(at, d.path, "reading entry name", err)
			}
			if err := ValidateName(name); err != nil {
				return nil, &FormatError{Offset: at, Path: d.path, Msg: err.Error()}
			}
			if d.prev != "" && name <= d.prev {
				msg := fmt.Sprintf("directory is not sorted: %q after %q", name, d.prev)
				if name == d.prev {
					msg = fmt.Sprintf("duplicate entry %q", name)
				}
				return nil, &FormatError{Offset: at, Path: d.path, Msg: msg}
			}
			d.prev = name
			p := join(d.path, name)
			if err := nr.expect("node", p); err != nil {
				return nil, err
			}
			return nr.node(p)
		default:
			return nil, &FormatError{Offset: nr.off - strLen(tag), Path: d.path, Msg: fmt.Sprintf("expected tag 'entry' or ')', got '%s'", tag)}
		}
	}
	return nil, io.EOF
}

// node reads the start of a node at path p, up to its contents (regular
// files), its end (symlinks) or its first entry (directories).
func (nr *Reader) node(p string) (*Header, error) {
	if len(nr.dirs) >= MaxDepth {
		return nil, &FormatError{Offset: nr.off, Path: p, Msg: fmt.Sprintf("directory nesting exceeds maximum depth of %d", MaxDepth)}
	}
	if err := nr.expect("(", p); err != nil {
		return nil, err
	}
	if err := nr.expect("type", p); err != nil {
		return nil, err
	}
	typ, err := nr.tag(p)
	if err != nil {
		return nil, err
	}
	h := &Header{Path: p}
	switch typ {
	case "regular":
		h.Type = TypeRegular
		tag, err := nr.tag(p)
		if err != nil {
			return nil, err
		}
		if tag == "executable" {
			at := nr.off
			v, err := nr.tag(p)
			if err != nil {
				return nil, err
			}
			if v != "" {
				return nil, &FormatError{Offset: at, Path: p, Msg: "executable marker has non-empty value"}
			}
			h.Executable = true
			if tag, err = nr.tag(p); err != nil {
				return nil, err
			}
		}
		if tag != "contents" {
			return nil, &FormatError{Offset: nr.off - strLen(tag), Path: p, Msg: fmt.Sprintf("expected tag 'contents', got '%s'", tag)}
		}
		at := nr.off
		n, err := nr.readUint64()
		if err != nil {
			return nil, nr.wrap(at, p, "reading file size", err)
		}
		if n > math.MaxInt64 {
			return nil, &FormatError{Offset: at, Path: p, Msg: fmt.Sprintf("file size %d too large", n)}
		}
		h.Size, h.Offset = int64(n), nr.off
		nr.cur, nr.left, nr.inFile = h, h.Size, true
	case "symlink":
		h.Type = TypeSymlink
		if err := nr.expect("target", p); err != nil {
			return nil, err
		}
		at := nr.off
		t, err := nr.readString(MaxTargetLen)
		if err != nil {
			return nil, nr.wrap(at, p, "reading symlink target", err)
		}
		if err := validateTarget(t); err != nil {
			return nil, &FormatError{Offset: at, Path: p, Msg: err.Error()}
		}
		h.LinkTarget = t
		if err := nr.expect(")", p); err != nil {
			return nil, err
		}
		nr.cur = h
		if err := nr.nodeDone(); err != nil {
			return nil, err
		}
	case "directory":
		h.Type = TypeDirectory
		nr.cur = h
		nr.dirs = append(nr.dirs, dirPos{path: p})
	default:
		return nil, &FormatError{Offset: nr.off - strLen(typ), Path: p, Msg: fmt.Sprintf("unknown file type '%s'", typ)}
	}
	return h, nil
}

// nodeDone is called after a node's closing ")": it reads the ")" that
// closes the enclosing entry, or marks the archive complete.
func (nr *Reader) nodeDone() error {
	if len(nr.dirs) == 0 {
		nr.done = true
		return nil
	}
	return nr.expect(")", nr.dirs[len(nr.dirs)-1].path)
}

// Read reads from the contents of the current regular file. It returns
// io.EOF at the end of the contents, and 0, io.EOF for other node types.
func (nr *Reader) Read(p []byte) (int, error) {
	if nr.err != nil {
		return 0, nr.err
	}
	if !nr.inFile || nr.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > nr.left {
		p = p[:nr.left]
	}
	n, err := nr.r.Read(p)
	nr.off += int64(n)
	nr.left -= int64(n)
	if err == io.EOF && nr.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		nr.err = nr.wrap(nr.off, nr.cur.Path, "reading file contents", err)
		return n, nr.err
	}
	return n, nil
}

// Offset returns the number of bytes of the archive consumed so far.
func (nr *Reader) Offset() int64 { return nr.off }

func strLen(s string) int64 { return 8 + int64(len(s)) + int64(padLen(uint64(len(s)))) }

func (nr *Reader) wrap(at int64, path, what string, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		fe.Path = path
		return fe
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{Offset: at, Path: path, Msg: what + ": truncated input", Err: io.ErrUnexpectedEOF}
	}
	return fmt.Errorf("read nar at byte %d: %w", at, err)
}

func (nr *Reader) full(b []byte) error {
	n, err := io.ReadFull(nr.r, b)
	nr.off += int64(n)
	return err
}

func (nr *Reader) readUint64() (uint64, error) {
	if err := nr.full(nr.buf[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(nr.buf[:]), nil
}

// readString reads a string of at most max bytes.
func (nr *Reader) readString(max int) (string, error) {
	at := nr.off
	n, err := nr.readUint64()
	if err != nil {
		return "", err
	}
	if n > uint64(max) {
		return "", &FormatError{Offset: at, Msg: fmt.Sprintf("string of %d bytes is too long (at most %d here)", n, max)}
	}
	b := make([]byte, n)
	if err := nr.full(b); err != nil {
		return "", err
	}
	if err := nr.padding(n); err != nil {
		return "", err
	}
	return string(b), nil
}

func (nr *Reader) padding(n uint64) error {
	k := padLen(n)
	if k == 0 {
		return nil
	}
	at := nr.off
	if err := nr.full(nr.buf[:k]); err != nil {
		return nr.wrap(at, "", "reading padding", err)
	}
	for _, c := range nr.buf[:k] {
		if c != 0 {
			return &FormatError{Offset: at, Msg: "non-zero padding"}
		}
	}
	return nil
}

func (nr *Reader) tag(path string) (string, error) {
	at := nr.off
	s, err := nr.readString(maxTagLen)
	if err != nil {
		return "", nr.wrap(at, path, "reading tag", err)
	}
	return s, nil
}

func (nr *Reader) expect(want, path string) error {
	at := nr.off
	got, err := nr.tag(path)
	if err != nil {
		return err
	}
	if got != want {
		return &FormatError{Offset: at, Path: path, Msg: fmt.Sprintf("expected tag '%s', got '%s'", want, got)}
	}
	return nil
}
