package nar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"

	"cairn/internal/compat/nixjson"
)

// Listing is the index of a NAR that binary caches serve as
// <hashpart>.ls when write-nar-listing is set:
//
//	{"version":1,"root":<node>}
//
// A node has "type"; directories have "entries" (name to node), regular
// files "size", "executable": true when set, and "narOffset" (the offset
// of the contents in the uncompressed NAR), symlinks "target".
type Listing struct {
	Root *ListingNode
}

// ListingNode is one node of a Listing.
type ListingNode struct {
	Type       Type
	Size       int64                   // regular
	Executable bool                    // regular
	NAROffset  int64                   // regular; 0 if unknown (then omitted)
	Target     string                  // symlink
	Entries    map[string]*ListingNode // directory
}

// NewListing reads the whole NAR from r and returns its listing. It
// rejects trailing data after the archive.
func NewListing(r io.Reader) (*Listing, error) {
	nr := NewReader(r)
	nodes := map[string]*ListingNode{}
	l := &Listing{}
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n := &ListingNode{Type: h.Type, Size: h.Size, Executable: h.Executable, NAROffset: h.Offset, Target: h.LinkTarget}
		if h.Type == TypeDirectory {
			n.Entries = map[string]*ListingNode{}
			nodes[h.Path] = n
		}
		if h.Path == "/" {
			l.Root = n
		} else {
			dir, name := path.Split(h.Path)
			nodes[path.Clean(dir)].Entries[name] = n
		}
	}
	var b [1]byte
	if n, _ := io.ReadFull(r, b[:]); n > 0 {
		return nil, &FormatError{Offset: nr.Offset(), Msg: "trailing data after the archive"}
	}
	return l, nil
}

// MarshalJSON renders l byte for byte as Nix writes .ls files: keys in
// Nix's order, entries sorted by name, and Nix's string escaping (only
// '"', '\\' and control characters are escaped; other bytes are copied).
func (l *Listing) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":1,"root":`)
	if err := l.Root.write(&b); err != nil {
		return nil, err
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

func (n *ListingNode) write(b *bytes.Buffer) error {
	if n == nil {
		return fmt.Errorf("nar listing: missing node")
	}
	b.WriteString(`{"type":`)
	b.Write(nixjson.AppendString(b.AvailableBuffer(), n.Type.String()))
	switch n.Type {
	case TypeRegular:
		b.WriteString(`,"size":`)
		b.WriteString(strconv.FormatInt(n.Size, 10))
		if n.Executable {
			b.WriteString(`,"executable":true`)
		}
		if n.NAROffset != 0 {
			b.WriteString(`,"narOffset":`)
			b.WriteString(strconv.FormatInt(n.NAROffset, 10))
		}
	case TypeSymlink:
		b.WriteString(`,"target":`)
		b.Write(nixjson.AppendString(b.AvailableBuffer(), n.Target))
	case TypeDirectory:
		b.WriteString(`,"entries":{`)
		names := make([]string, 0, len(n.Entries))
		for name := range n.Entries {
			names = append(names, name)
		}
		sort.Strings(names)
		for i, name := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(nixjson.AppendString(b.AvailableBuffer(), name))
			b.WriteByte(':')
			if err := n.Entries[name].write(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("nar listing: invalid node type %v", n.Type)
	}
	b.WriteByte('}')
	return nil
}

type jsonNode struct {
	Type       string               `json:"type"`
	Size       *int64               `json:"size"`
	Executable bool                 `json:"executable"`
	NAROffset  int64                `json:"narOffset"`
	Target     *string              `json:"target"`
	Entries    map[string]*jsonNode `json:"entries"`
}

// UnmarshalJSON parses a listing. Names and targets that are not valid
// UTF-8 do not survive encoding/json and come back altered.
func (l *Listing) UnmarshalJSON(data []byte) error {
	var top struct {
		Version int       `json:"version"`
		Root    *jsonNode `json:"root"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("parse nar listing: %w", err)
	}
	if top.Version != 1 {
		return fmt.Errorf("parse nar listing: unsupported version %d", top.Version)
	}
	root, err := top.Root.convert("/")
	if err != nil {
		return fmt.Errorf("parse nar listing: %w", err)
	}
	l.Root = root
	return nil
}

func (j *jsonNode) convert(p string) (*ListingNode, error) {
	if j == nil {
		return nil, fmt.Errorf("%s: missing node", p)
	}
	n := &ListingNode{}
	switch j.Type {
	case "regular":
		if j.Size == nil || *j.Size < 0 {
			return nil, fmt.Errorf("%s: regular file without a valid size", p)
		}
		n.Type, n.Size, n.Executable, n.NAROffset = TypeRegular, *j.Size, j.Executable, j.NAROffset
	case "symlink":
		if j.Target == nil {
			return nil, fmt.Errorf("%s: symlink without target", p)
		}
		n.Type, n.Target = TypeSymlink, *j.Target
	case "directory":
		n.Type = TypeDirectory
		n.Entries = make(map[string]*ListingNode, len(j.Entries))
		for name, e := range j.Entries {
			if err := ValidateName(name); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			c, err := e.convert(join(p, name))
			if err != nil {
				return nil, err
			}
			n.Entries[name] = c
		}
	default:
		return nil, fmt.Errorf("%s: unknown type %q", p, j.Type)
	}
	return n, nil
}
