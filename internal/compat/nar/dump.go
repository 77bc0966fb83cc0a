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
	abs, err := filepath.Abs(fsPath)
	if err != nil {
		return fmt.Errorf("dump %s: %w", fsPath, err)
	}
	dir, name := filepath.Split(abs)
	if name == "" { // the file system root
		dir, name = "/", "."
	}
	return DumpFS(w, os.DirFS(dir), name)
}

// DumpFS is like DumpPath for the object name in fsys, which must
// implement fs.ReadLinkFS (as os.DirFS does) to report symlinks.
func DumpFS(w io.Writer, fsys fs.FS, name string) error {
	lfs, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return fmt.Errorf("dump %s: file system cannot read symlinks", name)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	nw := NewWriter(bw)
	if err := dump(nw, lfs, name, "/"); err != nil {
		return err
	}
	if err := nw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func dump(nw *Writer, fsys fs.ReadLinkFS, name, narPath string) error {
	fi, err := fsys.Lstat(name)
	if err != nil {
		return fmt.Errorf("dump %s: %w", name, err)
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		f, err := fsys.Open(name)
		if err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		defer f.Close()
		// Size comes from the open file, so a file replaced between
		// Lstat and Open is still consistent.
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		h := &Header{Path: narPath, Type: TypeRegular, Size: st.Size(), Executable: st.Mode()&0o100 != 0}
		if err := nw.WriteHeader(h); err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		n, err := io.Copy(nw, f)
		if err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		if n != h.Size {
			return fmt.Errorf("dump %s: file changed size while being read (%d bytes, expected %d)", name, n, h.Size)
		}
	case mode&fs.ModeSymlink != 0:
		target, err := fsys.ReadLink(name)
		if err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		if err := nw.WriteHeader(&Header{Path: narPath, Type: TypeSymlink, LinkTarget: target}); err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
	case mode.IsDir():
		if err := nw.WriteHeader(&Header{Path: narPath, Type: TypeDirectory}); err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		entries, err := fs.ReadDir(fsys, name) // sorted by name, bytewise
		if err != nil {
			return fmt.Errorf("dump %s: %w", name, err)
		}
		for _, e := range entries {
			child := name + "/" + e.Name()
			if name == "." {
				child = e.Name()
			}
			if err := dump(nw, fsys, child, join(narPath, e.Name())); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("dump %s: file has an unsupported type (%v)", name, mode.Type())
	}
	return nil
}
