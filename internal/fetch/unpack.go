package fetch

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// Unpack extracts the archive in file f into the existing directory
// dir. The format is detected from the content: zip, or tar that is
// plain or compressed with gzip, xz or bzip2. Entries that would land
// outside dir are an error.
func Unpack(f *os.File, dir string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6)
	if bytes.HasPrefix(magic, []byte("PK\x03\x04")) || bytes.HasPrefix(magic, []byte("PK\x05\x06")) {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		return unzip(f, fi.Size(), dir)
	}
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("unpacking gzip: %w", err)
		}
		r = zr
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return fmt.Errorf("unpacking xz: %w", err)
		}
		r = xr
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	}
	return untar(r, dir)
}

// target returns where entry name goes under dir, refusing escapes.
func target(dir, name string) (string, error) {
	clean := path.Clean("/" + strings.TrimPrefix(name, "./"))
	if clean == "/" {
		return dir, nil
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("archive entry '%s' escapes the destination", name)
		}
	}
	dst := filepath.Join(dir, filepath.FromSlash(clean))
	// Refuse to go through a symlink unpacked earlier (libarchive's
	// ARCHIVE_EXTRACT_SECURE_SYMLINKS), and replace a final one rather
	// than write through it.
	p := dir
	parts := strings.Split(strings.Trim(clean, "/"), "/")
	for i, c := range parts {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err != nil {
			break
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if i < len(parts)-1 {
				return "", fmt.Errorf("archive entry '%s' goes through a symbolic link", name)
			}
			if err := os.Remove(p); err != nil {
				return "", err
			}
		}
	}
	return dst, nil
}

func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpacking tar: %w", err)
		}
		dst, err := target(dir, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg, tar.TypeRegA:
			err = writeFile(dst, tr, h.FileInfo().Mode())
		case tar.TypeSymlink:
			err = mkParent(dst)
			if err == nil {
				err = os.Symlink(h.Linkname, dst)
			}
		case tar.TypeLink:
			var src string
			src, err = target(dir, h.Linkname)
			if err == nil {
				err = mkParent(dst)
			}
			if err == nil {
				err = os.Link(src, dst)
			}
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
		default:
			err = fmt.Errorf("unsupported entry type %q", h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("unpacking tar entry '%s': %w", h.Name, err)
		}
	}
}

func unzip(f io.ReaderAt, size int64, dir string) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("unpacking zip: %w", err)
	}
	for _, zf := range zr.File {
		dst, err := target(dir, zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = os.MkdirAll(dst, 0o755)
		case mode&os.ModeSymlink != 0:
			var rc io.ReadCloser
			if rc, err = zf.Open(); err == nil {
				var b []byte
				b, err = io.ReadAll(rc)
				rc.Close()
				if err == nil {
					if err = mkParent(dst); err == nil {
						err = os.Symlink(string(b), dst)
					}
				}
			}
		default:
			var rc io.ReadCloser
			if rc, err = zf.Open(); err == nil {
				err = writeFile(dst, rc, mode)
				rc.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("unpacking zip entry '%s': %w", zf.Name, err)
		}
	}
	return nil
}

func mkParent(p string) error { return os.MkdirAll(filepath.Dir(p), 0o755) }

// writeFile creates p from r; only the owner-executable bit of mode
// matters to a NAR, so the file is 0755 or 0644.
func writeFile(p string, r io.Reader, mode os.FileMode) error {
	if err := mkParent(p); err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if mode&0o100 != 0 {
		perm = 0o755
	}
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// TopDir returns the single entry of dir, as Nix requires of a tarball
// ("tarball 'url' contains an unexpected number of top-level files").
// A single top-level file is returned as is.
func TopDir(dir, what string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(ents) != 1 {
		return "", fmt.Errorf("tarball '%s' contains an unexpected number of top-level files", what)
	}
	return filepath.Join(dir, ents[0].Name()), nil
}
