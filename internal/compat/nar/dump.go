package nar

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DumpPath writes the NAR serialisation of the file system object at
// fsPath (a regular file, symlink or directory, not followed if a
// symlink) to w, like `nix-store --dump`. Directory entries are written in
// bytewise name order; of the metadata only the owner-executable bit of
// regular files is kept. Other file types are an error.
func DumpPath(w io.Writer, fsPath string) error {
	return DumpPathFilter(w, fsPath, nil)
}

// Filter decides whether the directory entry at fsPath (the dumped root
// joined with the entry's relative path) goes into the archive, as the
// filter of builtins.path and builtins.filterSource. An error aborts the
// dump and is returned as is.
type Filter func(fsPath string, fi fs.FileInfo) (bool, error)

// DumpPathFilter is DumpPath, leaving out every directory entry (and
// everything below it) for which keep returns false. keep is not called
// for the root. A nil keep keeps everything.
func DumpPathFilter(w io.Writer, fsPath string, keep Filter) error {
	abs, err := filepath.Abs(fsPath)
	if err != nil {
		return fmt.Errorf("dump %s: %w", fsPath, err)
	}
	dir, name := filepath.Split(abs)
	if name == "" { // the file system root
		dir, name = "/", "."
	}
	d := &dumper{fsys: os.DirFS(dir).(fs.ReadLinkFS), keep: keep, osDir: dir}
	return d.run(w, name)
}

// DumpFS is like DumpPath for the object name in fsys, which must
// implement fs.ReadLinkFS (as os.DirFS does) to report symlinks.
func DumpFS(w io.Writer, fsys fs.FS, name string) error {
	lfs, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return fmt.Errorf("dump %s: file system cannot read symlinks", name)
	}
	d := &dumper{fsys: lfs}
	return d.run(w, name)
}

type dumper struct {
	fsys  fs.ReadLinkFS
	keep  Filter
	osDir string // the OS directory fsys is rooted at, if any
	buf   []byte // copy buffer for file contents
}

// osPath returns the OS path of name for messages and keep.
func (d *dumper) osPath(name string) string {
	if d.osDir == "" {
		return name
	}
	return filepath.Join(d.osDir, filepath.FromSlash(name))
}

func (d *dumper) run(w io.Writer, name string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	nw := NewWriter(bw)
	if err := d.dump(nw, name, "/"); err != nil {
		return err
	}
	if err := nw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func (d *dumper) dump(nw *Writer, name, narPath string) error {
	fsys := d.fsys
	fi, err := fsys.Lstat(name)
	if err != nil {
		return fmt.Errorf("dump %s: %w", d.osPath(name), err)
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		f, err := fsys.Open(name)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		defer f.Close()
		// Size comes from the open file, so a file replaced between
		// Lstat and Open is still consistent.
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		h := &Header{Path: narPath, Type: TypeRegular, Size: st.Size(), Executable: st.Mode()&0o100 != 0}
		if err := nw.WriteHeader(h); err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		// A buffer of up to 256 KiB (rather than os.File's 32 KiB
		// WriteTo path) cuts the read syscalls; the bufio.Writer passes
		// writes this size straight through to w. Small files get a
		// small buffer: many dumps are of small trees.
		if want := min(max(h.Size, 4<<10), 256<<10); int64(len(d.buf)) < want {
			d.buf = make([]byte, want)
		}
		n, err := io.CopyBuffer(nw, struct{ io.Reader }{f}, d.buf)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		if n != h.Size {
			return fmt.Errorf("dump %s: file changed size while being read (%d bytes, expected %d)", d.osPath(name), n, h.Size)
		}
	case mode&fs.ModeSymlink != 0:
		target, err := fsys.ReadLink(name)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		if err := nw.WriteHeader(&Header{Path: narPath, Type: TypeSymlink, LinkTarget: target}); err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
	case mode.IsDir():
		if err := nw.WriteHeader(&Header{Path: narPath, Type: TypeDirectory}); err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		entries, err := fs.ReadDir(fsys, name) // sorted by name, bytewise
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.osPath(name), err)
		}
		for _, e := range entries {
			child := name + "/" + e.Name()
			if name == "." {
				child = e.Name()
			}
			if d.keep != nil {
				fi, err := e.Info()
				if err != nil {
					return fmt.Errorf("dump %s: %w", d.osPath(child), err)
				}
				ok, err := d.keep(d.osPath(child), fi)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			if err := d.dump(nw, child, join(narPath, e.Name())); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("dump %s: file has an unsupported type (%v)", d.osPath(name), mode.Type())
	}
	return nil
}
