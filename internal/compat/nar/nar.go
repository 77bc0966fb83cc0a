package nar

import (
	"errors"
	"fmt"
	"strings"
)

// Magic is the first string of every NAR.
const Magic = "nix-archive-1"

// Limits that current Nix enforces when reading.
const (
	MaxNameLen   = 255  // longest entry name
	MaxTargetLen = 4095 // longest symlink target
	MaxDepth     = 64   // nodes may be nested at most MaxDepth-1 levels below the root
	maxTagLen    = 32
)

// Type is the type of a NAR node.
type Type uint8

// The node types.
const (
	TypeRegular Type = iota + 1
	TypeDirectory
	TypeSymlink
)

func (t Type) String() string {
	switch t {
	case TypeRegular:
		return "regular"
	case TypeDirectory:
		return "directory"
	case TypeSymlink:
		return "symlink"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Header describes one node of a NAR.
type Header struct {
	Path       string // "/" for the root, else "/a/b"
	Type       Type
	Executable bool   // regular files only
	Size       int64  // regular files only: length of the contents
	LinkTarget string // symlinks only
	// Offset is, for regular files read by a Reader, the offset of the
	// contents from the start of the NAR (the "narOffset" of listings).
	// Writers ignore it.
	Offset int64
}

// Validate checks that h is a well-formed header: a clean path of valid
// names, and fields that fit its type.
func (h *Header) Validate() error {
	if err := validatePath(h.Path); err != nil {
		return err
	}
	switch h.Type {
	case TypeRegular:
		if h.Size < 0 {
			return fmt.Errorf("nar header %s: negative size %d", h.Path, h.Size)
		}
		if h.LinkTarget != "" {
			return fmt.Errorf("nar header %s: regular file with a link target", h.Path)
		}
	case TypeSymlink:
		if err := validateTarget(h.LinkTarget); err != nil {
			return fmt.Errorf("nar header %s: %w", h.Path, err)
		}
		if h.Executable || h.Size != 0 {
			return fmt.Errorf("nar header %s: symlink with size or executable bit", h.Path)
		}
	case TypeDirectory:
		if h.Executable || h.Size != 0 || h.LinkTarget != "" {
			return fmt.Errorf("nar header %s: directory with size, executable bit or link target", h.Path)
		}
	default:
		return fmt.Errorf("nar header %s: invalid type %v", h.Path, h.Type)
	}
	return nil
}

func validatePath(p string) error {
	if p == "/" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("nar path %q: not absolute", p)
	}
	if strings.Count(p, "/") >= MaxDepth {
		return fmt.Errorf("nar path %q: nesting exceeds maximum depth of %d", p, MaxDepth)
	}
	for _, name := range strings.Split(p[1:], "/") {
		if err := ValidateName(name); err != nil {
			return fmt.Errorf("nar path %q: %w", p, err)
		}
	}
	return nil
}

// ValidateName checks a directory entry name with current Nix's rules.
func ValidateName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid file name %q", name)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("file name %q longer than %d bytes", name, MaxNameLen)
	}
	return nil
}

func validateTarget(t string) error {
	if t == "" || strings.IndexByte(t, 0) >= 0 {
		return fmt.Errorf("invalid symlink target %q", t)
	}
	if len(t) > MaxTargetLen {
		return fmt.Errorf("symlink target longer than %d bytes", MaxTargetLen)
	}
	return nil
}

// ErrBadArchive is matched (with errors.Is) by every error a Reader
// returns for malformed or truncated input.
var ErrBadArchive = errors.New("bad archive")

// FormatError reports malformed input at a byte offset.
type FormatError struct {
	Offset int64  // offset of the string or field at fault
	Path   string // the node being read, if known
	Msg    string
	Err    error // underlying cause, e.g. io.ErrUnexpectedEOF
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("bad archive at byte %d", e.Offset)
	if e.Path != "" {
		s += " (" + e.Path + ")"
	}
	return s + ": " + e.Msg
}

// Is reports whether target is ErrBadArchive.
func (e *FormatError) Is(target error) bool { return target == ErrBadArchive }

// Unwrap returns the underlying cause.
func (e *FormatError) Unwrap() error { return e.Err }

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func padLen(n uint64) int { return int((8 - n%8) % 8) }
