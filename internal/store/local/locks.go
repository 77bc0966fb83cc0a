package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
)

// A pathLock is an exclusive lock on <real store>/<base>.lock, Nix's
// per-path lock (src/libstore/pathlocks.cc).
type pathLock struct {
	f *os.File
}

// PathLocks are held locks on store paths (see LockPaths).
type PathLocks struct {
	locks []*pathLock
}

// LockPaths takes the per-path locks of paths, in sorted order so that
// two callers never deadlock, waiting as long as ctx allows. Nix and
// cairn writers of the same paths exclude each other through these
// locks; a builder holds them on its outputs while it builds and
// registers them.
func (s *Store) LockPaths(ctx context.Context, paths []storepath.Path) (*PathLocks, error) {
	sorted := append([]storepath.Path(nil), paths...)
	slices.SortFunc(sorted, storepath.Compare)
	sorted = slices.Compact(sorted)
	pl := &PathLocks{}
	for _, p := range sorted {
		l, err := s.lockPath(ctx, p)
		if err != nil {
			pl.Unlock(false)
			return nil, err
		}
		pl.locks = append(pl.locks, l)
	}
	return pl, nil
}

// Unlock releases the locks. With deleteFiles (once the paths are valid)
// the lock files are removed, as Nix does.
func (pl *PathLocks) Unlock(deleteFiles bool) {
	for _, l := range pl.locks {
		l.unlock(deleteFiles)
	}
	pl.locks = nil
}

// RemoveInvalid deletes whatever is at the real location of p if p is
// not valid (a half-written leftover), e.g. before a build writes it.
// The caller should hold p's lock.
func (s *Store) RemoveInvalid(ctx context.Context, p storepath.Path) error {
	ok, err := s.IsValid(ctx, p)
	if err != nil || ok {
		return err
	}
	if _, err := fsutil.RemoveAll(s.RealPath(p)); err != nil {
		return fmt.Errorf("remove invalid %s: %w", s.print(p), err)
	}
	return nil
}

// lockPath waits for the lock on the given store path. A lock file that
// was unlinked by its previous holder while we waited (it then contains
// "d") is stale, and we retry on a fresh one.
func (s *Store) lockPath(ctx context.Context, p storepath.Path) (*pathLock, error) {
	name := s.RealPath(p) + ".lock"
	for {
		f, err := openFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", s.print(p), err)
		}
		if err := flockCtx(ctx, f, fsutil.Exclusive); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.print(p), err)
		}
		// The previous holder may have unlinked the file (and written
		// "d" into it) while we waited: then our lock is on a dead inode
		// and we retry on a fresh file. Nix checks only the size; we
		// check that the name still refers to our inode, which also
		// copes with a non-empty lock file left at the name.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", s.print(p), err)
		}
		if cur, err := os.Stat(name); err == nil && os.SameFile(fi, cur) {
			return &pathLock{f: f}, nil
		}
		f.Close()
	}
}

// unlock releases the lock; with del it first deletes the lock file and
// marks it stale for anyone who opened it meanwhile, as Nix does once
// the path is valid.
func (l *pathLock) unlock(del bool) {
	if del {
		os.Remove(l.f.Name())
		l.f.Write([]byte("d"))
	}
	l.f.Close()
}

// flockCtx waits for a flock lock on f, polling so that ctx can cancel
// the wait.
func flockCtx(ctx context.Context, f *os.File, t fsutil.LockType) error {
	delay := time.Millisecond
	for {
		err := fsutil.Flock(f, t, false)
		if !errors.Is(err, fsutil.ErrWouldBlock) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// AddTempRoot protects p from the garbage collector for the lifetime of
// this Store (until Close), with Nix's protocol: p is appended to the
// locked file temproots/<pid>[-<n>]; if a collector is running (gc.lock
// is held exclusively) it is also told about p over gc-socket/socket, and
// the call waits for its acknowledgement.
func (s *Store) AddTempRoot(ctx context.Context, p storepath.Path) error {
	return s.addTempRoots(ctx, []storepath.Path{p})
}

// addTempRoots is AddTempRoot for several paths: one write to the file
// and one look at gc.lock for them all.
func (s *Store) addTempRoots(ctx context.Context, ps []storepath.Path) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A root in our file stays one until the file goes (Close): a
	// collector that starts later reads it, and one that ran when it was
	// added was told. Every build adds its inputs' closure again, its
	// builder's paths included.
	var add []storepath.Path
	for _, p := range ps {
		if _, ok := s.tempRootsAdded[p]; !ok || s.tempRoots == nil {
			add = append(add, p)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := s.openTempRoots(ctx); err != nil {
		return fmt.Errorf("add temporary root %s: %w", s.print(add[0]), err)
	}
	if s.gcLock == nil {
		f, err := os.OpenFile(filepath.Join(s.stateDir, "gc.lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("add temporary root %s: %w", s.print(add[0]), err)
		}
		s.gcLock = f
	}
	// Record the roots in our file first, then make sure a running
	// collector knows. Nix does it the other way round, which leaves a
	// window: a collector that acknowledged the root over its socket can
	// finish and the next one can read our file before the root is in
	// it. Written first, every collector that starts later sees it.
	var b []byte
	for _, p := range add {
		b = append(append(b, s.print(p)...), 0)
	}
	if _, err := s.tempRoots.Write(b); err != nil {
		return fmt.Errorf("add temporary root %s: %w", s.print(add[0]), err)
	}
	for sent := 0; ; {
		err := fsutil.Flock(s.gcLock, fsutil.Shared, false)
		if err == nil {
			break
		}
		if !errors.Is(err, fsutil.ErrWouldBlock) {
			return fmt.Errorf("add temporary root %s: %w", s.print(add[0]), err)
		}
		// A collector is running: tell it about the roots.
		for ; sent < len(add); sent++ {
			if err = s.sendRootToGC(ctx, add[sent]); err != nil {
				break
			}
		}
		if err == nil {
			break
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		// The collector went away; try the lock again.
		sent = 0
		time.Sleep(5 * time.Millisecond)
	}
	if err := fsutil.Funlock(s.gcLock); err != nil {
		return err
	}
	if s.tempRootsAdded == nil {
		s.tempRootsAdded = map[storepath.Path]struct{}{}
	}
	for _, p := range add {
		s.tempRootsAdded[p] = struct{}{}
	}
	return nil
}

// sendRootToGC tells the running collector about p over its socket and
// waits for the acknowledgement. The connection is kept for later roots,
// as Nix does: Nix 2.8's server can abort (std::terminate) when clients
// connect and disconnect in quick succession, because a reused file
// descriptor number collides in its table of client threads.
func (s *Store) sendRootToGC(ctx context.Context, p storepath.Path) error {
	if s.rootsConn == nil {
		addr, release, err := shortUnixPath(filepath.Join(s.stateDir, "gc-socket", "socket"))
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", addr)
		release()
		if err != nil {
			return err
		}
		s.rootsConn = conn
	}
	err := func() error {
		if _, err := s.rootsConn.Write([]byte(s.print(p) + "\n")); err != nil {
			return err
		}
		var b [1]byte
		if _, err := io.ReadFull(s.rootsConn, b[:]); err != nil {
			return err
		}
		if b[0] != '1' {
			return fmt.Errorf("garbage collector answered %q", b[:])
		}
		return nil
	}()
	if err != nil {
		// The collector went away; the caller retries from the lock.
		s.rootsConn.Close()
		s.rootsConn = nil
	}
	return err
}

// openTempRoots creates and locks this Store's temporary roots file. Nix
// names it by pid; one process may open several Stores, so we add a
// counter (Nix's collector reads the pid with stoi, which stops at '-').
func (s *Store) openTempRoots(ctx context.Context) error {
	if s.tempRoots != nil {
		return nil
	}
	dir := filepath.Join(s.stateDir, "temproots")
	for n := 0; ; n++ {
		name := filepath.Join(dir, strconv.Itoa(os.Getpid()))
		if n > 0 {
			name += "-" + strconv.Itoa(n)
		}
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			// Held by another Store of this process, or stale from a
			// dead process with our pid (the collector removes those).
			continue
		}
		if err != nil {
			return err
		}
		if err := flockCtx(ctx, f, fsutil.Exclusive); err != nil {
			f.Close()
			return err
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
			// A collector deleted it before we locked it.
			f.Close()
			n--
			continue
		}
		s.tempRoots = f
		return nil
	}
}
