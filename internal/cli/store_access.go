package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"cairn/internal/compat/nar"
	"cairn/internal/store/local"
)

// fsNode is what an accessor reports about one file: its type (0 if it
// does not exist), and for regular files the size, the executable bit and
// (inside a NAR) the offset of the contents.
type fsNode struct {
	typ       nar.Type
	size      int64
	exec      bool
	narOffset int64
}

// accessor reads a tree of files: a store (paths are absolute logical
// paths, "/nix/store/<hash>-<name>/a") or a NAR (paths are "" for the
// root and "/a/b" below it). It is Nix's FSAccessor.
type accessor interface {
	stat(p string) (fsNode, error)
	readDir(p string) ([]string, error) // sorted bytewise
	readFile(p string) ([]byte, error)
	readLink(p string) (string, error)
}

// storeAccessor reads the files of valid paths of a local store.
type storeAccessor struct {
	ctx context.Context
	st  *local.Store
}

func (a *storeAccessor) real(p string) (string, error) {
	sp, rest, err := a.st.Dir().ParseSub(p)
	if err != nil {
		return "", err
	}
	ok, err := a.st.IsValid(a.ctx, sp)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("path '%s' is not a valid store path", a.st.Dir().Print(sp))
	}
	return a.st.RealPath(sp) + rest, nil
}

func (a *storeAccessor) stat(p string) (fsNode, error) {
	r, err := a.real(p)
	if err != nil {
		return fsNode{}, err
	}
	fi, err := os.Lstat(r)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return fsNode{}, nil
		}
		return fsNode{}, fmt.Errorf("getting status of '%s': %w", p, err)
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return fsNode{typ: nar.TypeRegular, size: fi.Size(), exec: m&0o100 != 0}, nil
	case m.IsDir():
		return fsNode{typ: nar.TypeDirectory}, nil
	case m&fs.ModeSymlink != 0:
		return fsNode{typ: nar.TypeSymlink}, nil
	}
	return fsNode{}, fmt.Errorf("file '%s' has unsupported type", p)
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

func (a *storeAccessor) readDir(p string) ([]string, error) {
	r, err := a.real(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(r)
	if err != nil {
		return nil, fmt.Errorf("reading directory '%s': %w", p, err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (a *storeAccessor) readFile(p string) ([]byte, error) {
	r, err := a.real(p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(r)
}

func (a *storeAccessor) readLink(p string) (string, error) {
	r, err := a.real(p)
	if err != nil {
		return "", err
	}
	return os.Readlink(r)
}

// narAccessor indexes a NAR held in memory.
type narAccessor struct {
	data  []byte
	nodes map[string]*narEntry
}

type narEntry struct {
	fsNode
	target  string
	entries []string // in NAR order, which is sorted
}

// newNarAccessor indexes the NAR data.
func newNarAccessor(data []byte) (*narAccessor, error) {
	a := &narAccessor{data: data, nodes: map[string]*narEntry{}}
	nr := nar.NewReader(bytes.NewReader(data))
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		key := h.Path
		if key == "/" {
			key = ""
		}
		e := &narEntry{fsNode: fsNode{typ: h.Type, size: h.Size, exec: h.Executable, narOffset: h.Offset}, target: h.LinkTarget}
		a.nodes[key] = e
		if key != "" {
			dir, name := path.Split(key)
			parent := a.nodes[strings.TrimSuffix(dir, "/")]
			if parent != nil {
				parent.entries = append(parent.entries, name)
			}
		}
	}
	if len(a.nodes) == 0 {
		return nil, fmt.Errorf("empty archive")
	}
	return a, nil
}

func narKey(p string) string {
	if p == "" || p == "/" {
		return ""
	}
	return path.Clean("/" + p)
}

func (a *narAccessor) find(p string) (*narEntry, error) {
	if e := a.nodes[narKey(p)]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("NAR file does not contain path '%s'", p)
}

func (a *narAccessor) stat(p string) (fsNode, error) {
	if e := a.nodes[narKey(p)]; e != nil {
		return e.fsNode, nil
	}
	return fsNode{}, nil
}

func (a *narAccessor) readDir(p string) ([]string, error) {
	e, err := a.find(p)
	if err != nil {
		return nil, err
	}
	if e.typ != nar.TypeDirectory {
		return nil, fmt.Errorf("path '%s' inside NAR file is not a directory", p)
	}
	return e.entries, nil
}

func (a *narAccessor) readFile(p string) ([]byte, error) {
	e, err := a.find(p)
	if err != nil {
		return nil, err
	}
	if e.typ != nar.TypeRegular {
		return nil, fmt.Errorf("path '%s' inside NAR file is not a regular file", p)
	}
	return a.data[e.narOffset : e.narOffset+e.size], nil
}

func (a *narAccessor) readLink(p string) (string, error) {
	e, err := a.find(p)
	if err != nil {
		return "", err
	}
	if e.typ != nar.TypeSymlink {
		return "", fmt.Errorf("path '%s' inside NAR file is not a symlink", p)
	}
	return e.target, nil
}

// catFile writes the regular file p of acc to w (nix store cat, nix nar
// cat).
func catFile(acc accessor, p string, w io.Writer) error {
	st, err := acc.stat(p)
	if err != nil {
		return err
	}
	if st.typ != nar.TypeRegular {
		return fmt.Errorf("path '%s' is not a regular file", p)
	}
	data, err := acc.readFile(p)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// LsFlags are the flags of nix store ls and nix nar ls.
type LsFlags struct {
	Recursive bool // -R
	Long      bool // -l
	Directory bool // -d
	JSON      bool
}

// parseLsFlag handles arg if it is an ls flag (also combined short
// flags such as -lR).
func parseLsFlag(arg string, l *LsFlags) bool {
	switch arg {
	case "--recursive":
		l.Recursive = true
	case "--long":
		l.Long = true
	case "--directory":
		l.Directory = true
	case "--json":
		l.JSON = true
	default:
		if len(arg) < 2 || arg[0] != '-' || arg[1] == '-' {
			return false
		}
		for _, c := range arg[1:] {
			if !strings.ContainsRune("Rld", c) {
				return false
			}
		}
		for _, c := range arg[1:] {
			switch c {
			case 'R':
				l.Recursive = true
			case 'l':
				l.Long = true
			case 'd':
				l.Directory = true
			}
		}
	}
	return true
}

// list prints p of acc as nix store ls / nix nar ls do.
func list(acc accessor, p string, l LsFlags, w io.Writer) error {
	if l.JSON {
		if l.Directory {
			return fmt.Errorf("'--directory' is useless with '--json'")
		}
		b, err := listJSON(nil, acc, p, l.Recursive)
		if err != nil {
			if st, serr := acc.stat(p); serr == nil && st.typ == 0 {
				// Nix has opened the object when it finds the path
				// missing, and closes it on the way out.
				w.Write([]byte("{}"))
			}
			return err
		}
		_, err = w.Write(b)
		return err
	}
	st, err := acc.stat(p)
	if err != nil {
		return err
	}
	if st.typ == 0 {
		return fmt.Errorf("path '%s' does not exist", p)
	}
	rel := path.Base(p)
	if p == "" {
		rel = ""
	}
	if st.typ == nar.TypeDirectory {
		rel = "."
	}
	return listText(acc, st, p, rel, l, l.Directory, w)
}

func listText(acc accessor, st fsNode, cur, rel string, l LsFlags, showDir bool, w io.Writer) error {
	if st.typ == nar.TypeDirectory && !showDir {
		names, err := acc.readDir(cur)
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := showFile(acc, cur+"/"+name, rel+"/"+name, l, w); err != nil {
				return err
			}
		}
		return nil
	}
	return showFile(acc, cur, rel, l, w)
}

func showFile(acc accessor, cur, rel string, l LsFlags, w io.Writer) error {
	st, err := acc.stat(cur)
	if err != nil {
		return err
	}
	if l.Long {
		tp := "dr-xr-xr-x"
		switch {
		case st.typ == nar.TypeRegular && st.exec:
			tp = "-r-xr-xr-x"
		case st.typ == nar.TypeRegular:
			tp = "-r--r--r--"
		case st.typ == nar.TypeSymlink:
			tp = "lrwxrwxrwx"
		}
		line := fmt.Sprintf("%s %20d %s", tp, st.size, rel)
		if st.typ == nar.TypeSymlink {
			t, err := acc.readLink(cur)
			if err != nil {
				return err
			}
			line += " -> " + t
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	} else if _, err := fmt.Fprintln(w, rel); err != nil {
		return err
	}
	if l.Recursive && st.typ == nar.TypeDirectory {
		return listText(acc, st, cur, rel, l, false, w)
	}
	return nil
}

// listJSON appends the JSON listing of p (Nix's listNar).
func listJSON(b []byte, acc accessor, p string, recurse bool) ([]byte, error) {
	st, err := acc.stat(p)
	if err != nil {
		return nil, err
	}
	switch st.typ {
	case nar.TypeRegular:
		b = append(b, `{"type":"regular","size":`...)
		b = strconv.AppendInt(b, st.size, 10)
		if st.exec {
			b = append(b, `,"executable":true`...)
		}
		if st.narOffset != 0 {
			b = append(b, `,"narOffset":`...)
			b = strconv.AppendInt(b, st.narOffset, 10)
		}
	case nar.TypeDirectory:
		b = append(b, `{"type":"directory","entries":{`...)
		names, err := acc.readDir(p)
		if err != nil {
			return nil, err
		}
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonString(b, name)
			b = append(b, ':')
			if recurse {
				if b, err = listJSON(b, acc, p+"/"+name, true); err != nil {
					return nil, err
				}
			} else {
				b = append(b, "{}"...)
			}
		}
		b = append(b, '}')
	case nar.TypeSymlink:
		t, err := acc.readLink(p)
		if err != nil {
			return nil, err
		}
		b = append(b, `{"type":"symlink","target":`...)
		b = jsonString(b, t)
	default:
		return nil, fmt.Errorf("path '%s' does not exist in NAR", p)
	}
	return append(b, '}'), nil
}
