package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"golang.org/x/sys/unix"
)

// GCAction selects what CollectGarbage does.
type GCAction int

const (
	// GCDeleteDead deletes every path not reachable from a root.
	GCDeleteDead GCAction = iota
	// GCReturnDead reports what GCDeleteDead would delete.
	GCReturnDead
	// GCReturnLive reports the paths reachable from the roots.
	GCReturnLive
	// GCDeleteSpecific deletes GCOptions.Paths, refusing any that is
	// alive or still referred to by a path not being deleted.
	GCDeleteSpecific
)

// GCOptions configure CollectGarbage. The zero value is nix-store --gc
// with Nix's defaults (keep-derivations = true, keep-outputs = false).
type GCOptions struct {
	Action GCAction
	// Paths are the paths to delete for GCDeleteSpecific.
	Paths []storepath.Path
	// IgnoreLiveness (GCDeleteSpecific only) disregards permanent and
	// runtime roots (temporary roots still protect), and the keep-*
	// edges, like nix-store --delete --ignore-liveness.
	IgnoreLiveness bool
	// MaxFreed stops deleting once more than this many bytes have been
	// freed (nix-store --gc --max-freed). 0 means no limit.
	MaxFreed uint64
	// KeepOutputs keeps the outputs of live derivations alive.
	KeepOutputs bool
	// NoKeepDerivations stops live outputs from keeping their
	// derivations alive.
	NoKeepDerivations bool
	// Roots controls root discovery (e.g. skip the /proc scan).
	Roots RootsOptions
}

// GCResult is what CollectGarbage did or would do.
type GCResult struct {
	// Paths are the printed paths deleted (or dead, or live), sorted.
	// Entries of the store directory that are not store paths count too.
	Paths      []string
	BytesFreed uint64
}

// ErrPathAlive is matched by the error GCDeleteSpecific returns for a
// path that cannot be deleted.
var ErrPathAlive = errors.New("path is still alive")

// PathAliveError is the error GCDeleteSpecific returns for a path that a
// root keeps alive or that a path outside the deletion set refers to. It
// matches ErrPathAlive.
type PathAliveError struct {
	Path     string
	Referrer string // a live path that refers to Path, if that is the reason
}

func (e *PathAliveError) Error() string {
	if e.Referrer != "" {
		return fmt.Sprintf("cannot delete path '%s' since it is still alive (referred to by '%s')", e.Path, e.Referrer)
	}
	return fmt.Sprintf("cannot delete path '%s' since it is still alive. To find out why, use: nix-store --query --roots", e.Path)
}

// Is reports whether target is ErrPathAlive.
func (e *PathAliveError) Is(target error) bool { return target == ErrPathAlive }

// deleteBatch bounds the database transaction of one deletion step, and
// so how long a writer announcing a temporary root for a path being
// deleted waits. Each transaction rewrites most pages it touches into
// the WAL, so fewer, bigger ones cost less.
const deleteBatch = 2500

// gcShared is the state shared with the roots server.
type gcShared struct {
	mu      sync.Mutex
	cond    *sync.Cond
	roots   map[string]bool // hash parts of temporary roots
	fresh   []string        // hash parts delivered over the socket, not yet marked
	pending map[string]bool // hash parts being deleted right now
}

// CollectGarbage runs the garbage collector. It follows Nix's locking
// protocol, so Nix 2.8 processes adding paths concurrently stay safe: it
// holds gc.lock exclusively for its whole run and serves
// gc-socket/socket, where writers announce new temporary roots. The
// reference graph is loaded once; dead paths are invalidated in the
// database in batches, referrers first, before their files are deleted.
func (s *Store) CollectGarbage(ctx context.Context, opts GCOptions) (*GCResult, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	del := opts.Action == GCDeleteDead || opts.Action == GCDeleteSpecific
	k := keep{outputs: opts.KeepOutputs, derivations: !opts.NoKeepDerivations}
	if opts.Action == GCDeleteSpecific && opts.IgnoreLiveness {
		k = keep{}
	}
	if del {
		os.Remove(filepath.Join(s.dbDir, "reserved"))
	}
	lock, err := os.OpenFile(filepath.Join(s.stateDir, "gc.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("collect garbage: %w", err)
	}
	defer lock.Close()
	if err := flockCtx(ctx, lock, fsutil.Exclusive); err != nil {
		return nil, fmt.Errorf("collect garbage: %w", err)
	}
	sh := &gcShared{roots: map[string]bool{}, pending: map[string]bool{}}
	sh.cond = sync.NewCond(&sh.mu)
	stop, err := s.serveRoots(sh)
	if err != nil {
		return nil, fmt.Errorf("collect garbage: %w", err)
	}
	defer stop()

	// Roots. With gc.lock held, no new permanent roots can appear and
	// new temporary roots arrive over the socket.
	rootsOpts := opts.Roots
	rootsOpts.NoTempRoots = true
	var roots Roots
	if !(opts.Action == GCDeleteSpecific && opts.IgnoreLiveness) {
		if roots, err = s.FindRoots(ctx, rootsOpts); err != nil {
			return nil, fmt.Errorf("collect garbage: %w", err)
		}
	}
	temp, err := s.readTempRoots(true)
	if err != nil {
		return nil, fmt.Errorf("collect garbage: %w", err)
	}
	sh.mu.Lock()
	for _, t := range temp {
		if p, err := s.dir.Parse(t.path); err == nil {
			sh.roots[p.HashPart()] = true
		}
	}
	sh.fresh = sh.fresh[:0]
	sh.mu.Unlock()

	g, err := loadGraph(ctx, s.db, s.dir)
	if err != nil {
		return nil, fmt.Errorf("collect garbage: %w", err)
	}
	alive := newBitset(len(g.paths))
	var start []int32
	for p := range roots {
		if i, ok := g.byPath[s.print(p)]; ok {
			start = append(start, i)
		}
	}
	sh.mu.Lock()
	for h := range sh.roots {
		if i, ok := g.byHash[h]; ok {
			start = append(start, i)
		}
	}
	sh.mu.Unlock()
	g.markForward(alive, start, k)

	res := &GCResult{}
	if opts.Action == GCReturnLive {
		for i, p := range g.paths {
			if alive.has(int32(i)) {
				res.Paths = append(res.Paths, p)
			}
		}
		sort.Strings(res.Paths)
		return res, nil
	}

	// The dead valid paths, and the other entries of the store dir.
	var deadValid []int32
	var deadOther []string // base names
	if opts.Action == GCDeleteSpecific {
		want := map[int32]bool{}
		var invalid []storepath.Path
		for _, p := range opts.Paths {
			if i, ok := g.byPath[s.print(p)]; ok {
				want[i] = true
			} else {
				invalid = append(invalid, p)
			}
		}
		chosen := map[int32]bool{}
		for _, p := range opts.Paths {
			i, ok := g.byPath[s.print(p)]
			if !ok {
				continue
			}
			sh.mu.Lock()
			temp := sh.roots[p.HashPart()]
			sh.mu.Unlock()
			if alive.has(i) || temp {
				return nil, &PathAliveError{Path: s.print(p)}
			}
			for _, j := range g.reverse(i, k) {
				if !want[j] {
					return nil, &PathAliveError{Path: s.print(p), Referrer: g.paths[j]}
				}
				chosen[j] = true
			}
		}
		for i := range chosen {
			deadValid = append(deadValid, i)
		}
		for _, p := range invalid {
			if _, err := os.Lstat(s.RealPath(p)); err == nil {
				deadOther = append(deadOther, p.Base())
			}
		}
	} else {
		for i := range g.paths {
			if !alive.has(int32(i)) {
				deadValid = append(deadValid, int32(i))
			}
		}
		ents, err := os.ReadDir(s.realStore)
		if err != nil {
			return nil, fmt.Errorf("collect garbage: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if name == ".links" {
				continue
			}
			if _, ok := g.byPath[string(s.dir)+"/"+name]; ok {
				continue
			}
			if p, err := storepath.ParseBase(name); err == nil {
				sh.mu.Lock()
				protected := sh.roots[p.HashPart()]
				sh.mu.Unlock()
				if protected {
					continue
				}
				// Only temporary roots protect by hash part: a leftover
				// <path>.lock is garbage even if <path> is alive, as in
				// Nix (whoever holds a lock has a temporary root).
			}
			deadOther = append(deadOther, name)
		}
	}
	deadValid = g.topoReferrersFirst(deadValid)

	if opts.Action == GCReturnDead {
		for _, i := range deadValid {
			res.Paths = append(res.Paths, g.paths[i])
		}
		for _, n := range deadOther {
			res.Paths = append(res.Paths, string(s.dir)+"/"+n)
		}
		sort.Strings(res.Paths)
		return res, nil
	}

	storeFd, err := unix.Open(s.realStore, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("collect garbage: open %s: %w", s.realStore, err)
	}
	defer unix.Close(storeFd)
	limit := func() bool { return opts.MaxFreed != 0 && res.BytesFreed > opts.MaxFreed }
	// Entries with no database row go first: nothing refers to them.
	for _, n := range deadOther {
		if limit() {
			break
		}
		if err := s.gcDeleteFiles(storeFd, sh, n, res); err != nil {
			return nil, err
		}
	}
	batch := deleteBatch
	if opts.MaxFreed != 0 {
		batch = 1
	}
	release := func(bases []string) {
		sh.mu.Lock()
		for _, b := range bases {
			delete(sh.pending, b[:storepath.HashLen])
		}
		sh.cond.Broadcast()
		sh.mu.Unlock()
	}
	// The files of one batch are deleted in the background while the
	// rows of the next batch are: rows always go before their files.
	var deleting chan error
	wait := func() error {
		if deleting == nil {
			return nil
		}
		err := <-deleting
		deleting = nil
		return err
	}
	defer wait()
	size := max(1, batch/16)
	for len(deadValid) > 0 && !limit() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Batches start small and double, so that files start going
		// soon and each batch's rows are gone before the files of the
		// previous one (deleting a file takes longer than its row).
		size = min(batch, 2*size)
		n := min(size, len(deadValid))
		cur := deadValid[:n]
		deadValid = deadValid[n:]
		// Roots that arrived over the socket keep their closures.
		sh.mu.Lock()
		var fresh []int32
		for _, h := range sh.fresh {
			if i, ok := g.byHash[h]; ok {
				fresh = append(fresh, i)
			}
		}
		sh.fresh = sh.fresh[:0]
		g.markForward(alive, fresh, k)
		var bases []string
		kept := cur[:0]
		for _, i := range cur {
			if alive.has(i) {
				continue
			}
			kept = append(kept, i)
			base := g.paths[i][len(s.dir)+1:]
			sh.pending[base[:storepath.HashLen]] = true
			bases = append(bases, base)
		}
		sh.mu.Unlock()
		gone, err := s.invalidateBatch(ctx, g, kept, alive, k)
		if werr := wait(); err == nil {
			err = werr
		}
		if err != nil {
			release(bases)
			return nil, err
		}
		if opts.MaxFreed == 0 {
			deleting = make(chan error, 1)
			go func() {
				err := s.gcDeleteParallel(storeFd, g, gone, res)
				release(bases)
				deleting <- err
			}()
			continue
		}
		for _, i := range gone {
			if err = s.gcDeleteFiles(storeFd, nil, g.paths[i][len(s.dir)+1:], res); err != nil || limit() {
				break
			}
		}
		release(bases)
		if err != nil {
			return nil, err
		}
	}
	if err := wait(); err != nil {
		return nil, err
	}
	sort.Strings(res.Paths)
	if err := s.deleteUnusedLinks(); err != nil {
		return nil, err
	}
	return res, nil
}

// invalidateBatch removes the rows of batch in one transaction, with a
// few set-based statements rather than a few per path (the ids travel as
// one JSON array). A path that gained a referrer outside the batch since
// the graph was loaded (a concurrent writer registered something using
// it) is kept alive together with its closure. It returns the paths
// invalidated. Like Nix's invalidatePathChecked, it never removes a row
// that a remaining row refers to: the Refs rows of the batch go first, and
// the database's "on delete restrict" on Refs.reference backs the check.
func (s *Store) invalidateBatch(ctx context.Context, g *graph, batch []int32, alive bitset, k keep) ([]int32, error) {
	var gone []int32
	err := s.withTx(ctx, func(tx querier) error {
		gone = gone[:0]
		for _, i := range batch {
			if !alive.has(i) {
				gone = append(gone, i)
			}
		}
		for len(gone) > 0 {
			ids := idsJSON(g, gone)
			inUse, err := queryInts(ctx, tx, `select distinct reference from Refs
				where reference in (select value from json_each(?1))
				and referrer not in (select value from json_each(?1))`, ids)
			if err != nil {
				return fmt.Errorf("invalidate paths: %w", err)
			}
			if len(inUse) == 0 {
				break
			}
			for _, id := range inUse {
				if i, ok := g.byID[id]; ok {
					g.markForward(alive, []int32{i}, k)
				}
			}
			kept := gone[:0]
			for _, i := range gone {
				if !alive.has(i) {
					kept = append(kept, i)
				}
			}
			gone = kept
		}
		if len(gone) == 0 {
			return nil
		}
		ids := idsJSON(g, gone)
		if _, err := tx.ExecContext(ctx, "delete from Refs where referrer in (select value from json_each(?))", ids); err != nil {
			return fmt.Errorf("invalidate paths: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "delete from ValidPaths where id in (select value from json_each(?))", ids); err != nil {
			return fmt.Errorf("invalidate paths: %w", err)
		}
		return nil
	})
	return gone, err
}

// idsJSON returns the database ids of the paths as a JSON array.
func idsJSON(g *graph, paths []int32) string {
	b := make([]byte, 0, 8*len(paths)+2)
	b = append(b, '[')
	for n, i := range paths {
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, g.dbID[i], 10)
	}
	return string(append(b, ']'))
}

func queryInts(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// gcDeleteWorkers is how many entries gcDeleteParallel removes at once.
const gcDeleteWorkers = 4

// gcDeleteParallel deletes the files of the invalidated paths gone with a
// few workers (removing a tree is mostly waiting for the file system) and
// adds them to res in order. It returns the first error, after every
// worker has finished; entries it could not remove are invalid garbage
// that the next collection deletes.
func (s *Store) gcDeleteParallel(storeFd int, g *graph, gone []int32, res *GCResult) error {
	freed := make([]uint64, len(gone))
	errs := make([]error, len(gone))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(gcDeleteWorkers, len(gone)) {
		wg.Go(func() {
			buf := make([]byte, 8192)
			for {
				j := int(next.Add(1)) - 1
				if j >= len(gone) {
					return
				}
				errs[j] = removeAt(storeFd, g.paths[gone[j]][len(s.dir)+1:], &freed[j], buf)
			}
		})
	}
	wg.Wait()
	for j, i := range gone {
		if errs[j] != nil {
			return fmt.Errorf("collect garbage: %s: %w", s.realStore, errs[j])
		}
		res.Paths = append(res.Paths, g.paths[i])
		res.BytesFreed += freed[j]
	}
	return nil
}

// gcDeleteFiles deletes store entry base. With sh set (entries without a
// row) it first re-checks, under the shared lock, that no temporary root
// arrived for it, and marks it pending while deleting.
func (s *Store) gcDeleteFiles(storeFd int, sh *gcShared, base string, res *GCResult) error {
	if sh != nil {
		if p, err := storepath.ParseBase(base); err == nil {
			h := p.HashPart()
			sh.mu.Lock()
			if sh.roots[h] {
				sh.mu.Unlock()
				return nil
			}
			sh.pending[h] = true
			sh.mu.Unlock()
			defer func() {
				sh.mu.Lock()
				delete(sh.pending, h)
				sh.cond.Broadcast()
				sh.mu.Unlock()
			}()
		}
	}
	var freed uint64
	if err := removeAt(storeFd, base, &freed, make([]byte, 8192)); err != nil {
		return fmt.Errorf("collect garbage: %s: %w", s.realStore, err)
	}
	res.Paths = append(res.Paths, string(s.dir)+"/"+base)
	res.BytesFreed += freed
	return nil
}

// deleteUnusedLinks removes files in .links that nothing else links to.
func (s *Store) deleteUnusedLinks() error {
	dir := filepath.Join(s.realStore, ".links")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete unused links: %w", err)
	}
	for _, e := range ents {
		var st unix.Stat_t
		name := filepath.Join(dir, e.Name())
		if err := unix.Lstat(name, &st); err != nil {
			continue
		}
		if st.Nlink == 1 {
			if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete unused link: %w", err)
			}
		}
	}
	return nil
}

// serveRoots listens on gc-socket/socket for temporary roots announced
// by writers while the collector runs (Nix's protocol: a line with a
// store path, answered with "1" once the path is safe). It returns a
// function that stops the server.
func (s *Store) serveRoots(sh *gcShared) (func(), error) {
	sockDir := filepath.Join(s.stateDir, "gc-socket")
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		return nil, err
	}
	sock := filepath.Join(sockDir, "socket")
	os.Remove(sock)
	addr, release, err := shortUnixPath(sock)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", addr)
	release()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	os.Chmod(sock, 0o666)
	var wg sync.WaitGroup
	var connMu sync.Mutex
	conns := map[net.Conn]bool{}
	done := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connMu.Lock()
			if done {
				connMu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			connMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					connMu.Lock()
					delete(conns, c)
					connMu.Unlock()
					c.Close()
				}()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if p, err := s.dir.Parse(line[:len(line)-1]); err == nil {
						h := p.HashPart()
						sh.mu.Lock()
						sh.roots[h] = true
						sh.fresh = append(sh.fresh, h)
						for sh.pending[h] {
							sh.cond.Wait()
						}
						sh.mu.Unlock()
					}
					if _, err := c.Write([]byte("1")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return func() {
		connMu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		connMu.Unlock()
		ln.Close()
		sh.mu.Lock()
		sh.pending = map[string]bool{}
		sh.cond.Broadcast()
		sh.mu.Unlock()
		wg.Wait()
		os.Remove(sock)
	}, nil
}

// shortUnixPath returns an address for the socket file path that fits in
// sun_path (108 bytes): the path itself, or /proc/self/fd/N/<base> through
// an O_PATH descriptor of its directory, valid until release is called.
func shortUnixPath(path string) (addr string, release func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path)), func() { unix.Close(fd) }, nil
}

// FreeSpace returns the bytes available to unprivileged users on the
// file system holding the store.
func (s *Store) FreeSpace() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.realStore, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", s.realStore, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// AutoGC runs the collector when less than minFree bytes are free,
// asking it to free up to maxFree minus what is free (Nix's min-free and
// max-free). It returns nil, nil when no collection was needed. opts
// selects roots and keep-* edges; its Action and MaxFreed are set here.
func (s *Store) AutoGC(ctx context.Context, minFree, maxFree uint64, opts GCOptions) (*GCResult, error) {
	avail, err := s.FreeSpace()
	if err != nil {
		return nil, err
	}
	if avail >= minFree || avail >= maxFree {
		return nil, nil
	}
	opts.Action = GCDeleteDead
	opts.MaxFreed = maxFree - avail
	return s.CollectGarbage(ctx, opts)
}
