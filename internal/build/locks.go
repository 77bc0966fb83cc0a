package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
)

// pathLocks are Nix's per-path locks (src/libstore/pathlocks.cc):
// exclusive flocks on <real store>/<base>.lock, shared with every other
// process (Nix's too) that builds or adds the same paths. A lock file
// that contains data was deleted by its previous holder and is stale.
type pathLocks struct {
	files []*os.File
}

// lockPaths waits for the locks on paths, in the order given (callers
// sort them, so that two builders never deadlock).
func lockPaths(ctx context.Context, realStore string, paths []storepath.Path) (*pathLocks, error) {
	l := &pathLocks{}
	for _, p := range paths {
		f, err := lockOne(ctx, filepath.Join(realStore, p.Base()+".lock"))
		if err != nil {
			l.unlock(false)
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		l.files = append(l.files, f)
	}
	return l, nil
}

func lockOne(ctx context.Context, name string) (*os.File, error) {
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		delay := time.Millisecond
		for {
			err = fsutil.Flock(f, fsutil.Exclusive, false)
			if !errors.Is(err, fsutil.ErrWouldBlock) {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, 100*time.Millisecond)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if fi.Size() == 0 {
			return f, nil
		}
		f.Close()
	}
}

// unlock releases the locks; with del (the paths are now valid) the lock
// files are deleted and marked stale first, as Nix does.
func (l *pathLocks) unlock(del bool) {
	for _, f := range l.files {
		if del {
			os.Remove(f.Name())
			f.Write([]byte("d"))
		}
		f.Close()
	}
	l.files = nil
}
