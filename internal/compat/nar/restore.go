package nar

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Restore reads a NAR from r and creates the tree it describes at fsPath,
// which must not exist, like `nix-store --restore`. Files are created
// with mode 0666, or 0777 if executable, and directories with 0777, all
// less the umask; canonicalising permissions and times is the caller's
// job. Restore reads exactly the archive from r.
func Restore(r io.Reader, fsPath string) error {
	nr := NewReader(r)
	for {
		h, err := nr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", fsPath, err)
		}
		// Entry names were validated (no "/", ".", ".."), so target
		// stays below fsPath.
		target := fsPath
		if h.Path != "/" {
			target = filepath.Join(fsPath, filepath.FromSlash(h.Path[1:]))
		}
		switch h.Type {
		case TypeDirectory:
			if err := os.Mkdir(target, 0o777); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		case TypeSymlink:
			if err := os.Symlink(h.LinkTarget, target); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		case TypeRegular:
			if err := restoreFile(nr, h, target); err != nil {
				return err
			}
		}
	}
}

func restoreFile(nr *Reader, h *Header, target string) error {
	perm := os.FileMode(0o666)
	if h.Executable {
		perm = 0o777
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(f, nr); err != nil {
		f.Close()
		return fmt.Errorf("restore %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
