package local

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"cairn/internal/compat/storepath"
)

// LogDir is Nix's log directory of the store: log/nix beside the state
// directory (/nix/var/log/nix for /nix/var/nix).
func (s *Store) LogDir() string {
	return filepath.Join(filepath.Dir(s.stateDir), "log", "nix")
}

// BuildLogPath is where Nix (and build) keep the log of drv, without the
// ".bz2" a compressed log has: <LogDir>/drvs/<first 2 characters of the
// base name>/<rest>.
func (s *Store) BuildLogPath(drv storepath.Path) string {
	base := drv.Base()
	return filepath.Join(s.LogDir(), "drvs", base[:2], base[2:])
}

// OpenBuildLog opens the stored build log of drv, plain or
// bzip2-compressed (as Nix 2.8 and build write it), for reading the
// uncompressed text. With no log the error matches fs.ErrNotExist.
func (s *Store) OpenBuildLog(drv storepath.Path) (io.ReadCloser, error) {
	p := s.BuildLogPath(drv)
	for _, suffix := range []string{"", ".bz2"} {
		fh, err := os.Open(p + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read build log: %w", err)
		}
		if suffix == "" {
			return fh, nil
		}
		return &bz2File{Reader: bzip2.NewReader(fh), f: fh}, nil
	}
	return nil, fmt.Errorf("build log of '%s': %w", s.dir.Print(drv), fs.ErrNotExist)
}

// bz2File reads a bzip2-compressed file.
type bz2File struct {
	io.Reader
	f *os.File
}

func (b *bz2File) Close() error { return b.f.Close() }
