package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

// pendingTexts are the text paths of AddTextDeferred whose rows are not
// written yet: the batch filling up, whose files are not written either,
// and up to two batches being written in the background, one having its
// files placed and the one before it having its rows written.
type pendingTexts struct {
	n      atomic.Int32 // paths in byPath, and 1 more while err is set; read without mu on every query
	mu     sync.Mutex
	fill   []*pendingText // the batch filling up
	hasher *derivation.Hasher
	byPath map[storepath.Path]*pendingText
	// placing is the batch whose files are being placed, registering
	// the one whose rows are being written (nil: none); err is what went
	// wrong in the background, for the next Sync.
	placing, registering *textBatch
	err                  error
}

// A pendingText is a path AddTextDeferred added, with what it returned
// and the contents to write; batch is nil while it waits in the filling
// batch.
type pendingText struct {
	info     *store.PathInfo
	contents []byte
	batch    *textBatch
}

// A textBatch is a batch of pendingTexts taken for writing. placed is
// closed once its files are in place (or placing them failed), done
// once it is written or has failed. infos and locks are the paths it
// placed, which its rows make valid.
type textBatch struct {
	texts  []*pendingText
	hasher *derivation.Hasher
	placed chan struct{}
	done   chan struct{}
	infos  []*store.PathInfo
	locks  []*pathLock
	err    error
}

// maxPending is how many deferred paths fill a batch, which is then
// written in the background while the next fills up. A batch being
// placed and the one being registered hold a lock, an open descriptor,
// for each path they place, and a process's descriptor table starts
// with room for 64: growing it in a process with threads (every Go
// process) waits for an RCU grace period (expand_fdtable), 5 to 18 ms
// here, during which every thread that opens a file waits too. Holding
// 500 locks grew the table four times, a quarter of the time
// instantiating a 500-derivation graph took; two batches of 20 and the
// store's own descriptors stay below 64.
const maxPending = 20

// noSyncKey marks the context of the background writing's own queries,
// which must not start another.
type noSyncKey struct{}

// AddTextDeferred is AddText, except that the path's file is written
// later, in the background, and its database row with those of the other
// paths added so, in one transaction: before this Store next reads or
// writes its database (any query, registration or collection), at Sync,
// at Close, or once maxPending paths wait. It returns at once with the
// path's info; until the path is valid it is a temporary root of this
// Store and its file is written under its lock, so no other process (cairn
// or Nix) writes it or sees it valid meanwhile, and a crash leaves at
// most a file without a row, which is garbage, as after a crash in
// AddText. Await waits for the file of a path added so.
//
// Instantiating a derivation graph writes one .drv after another: one
// transaction per .drv was most of the time instantiation took, and
// writing the files, under their locks, half of what remained.
func (s *Store) AddTextDeferred(ctx context.Context, name string, contents []byte, refs []storepath.Path) (*store.PathInfo, error) {
	if s.opts.AutoOptimise {
		return s.AddText(ctx, name, contents, refs)
	}
	p, ca, refs, err := s.textPath(name, contents, refs)
	if err != nil {
		return nil, err
	}
	pt := &s.pending
	pt.mu.Lock()
	if t := pt.byPath[p]; t != nil {
		pt.mu.Unlock()
		return t.info, nil
	}
	pt.mu.Unlock()
	info, err := textInfo(p, ca, refs, contents)
	if err != nil {
		return nil, err
	}
	pt.mu.Lock()
	if t := pt.byPath[p]; t != nil { // added meanwhile
		pt.mu.Unlock()
		return t.info, nil
	}
	if pt.byPath == nil {
		pt.byPath = map[storepath.Path]*pendingText{}
	}
	t := &pendingText{info: info, contents: contents}
	pt.fill = append(pt.fill, t)
	pt.byPath[p] = t
	if h, _ := ctx.Value(hasherKey{}).(*derivation.Hasher); h != nil {
		pt.hasher = h
	}
	pt.n.Add(1)
	full := len(pt.fill) >= maxPending
	pt.mu.Unlock()
	if full {
		s.flushBehind(ctx)
	}
	return info, nil
}

// flushBehind writes the filling batch in the background, once the batch
// before it has its files placed: evaluation goes on meanwhile, on
// another CPU. What goes wrong is reported by the next Sync.
func (s *Store) flushBehind(ctx context.Context) {
	pt := &s.pending
	pt.mu.Lock()
	b := pt.take()
	pt.mu.Unlock()
	if b != nil {
		go s.writeBatch(context.WithoutCancel(ctx), b)
	}
}

// take waits until no batch is having its files placed and takes the
// filling one for writing; nil if it is empty. mu is held (and released
// while waiting).
func (pt *pendingTexts) take() *textBatch {
	for pt.placing != nil {
		ch := pt.placing.placed
		pt.mu.Unlock()
		<-ch
		pt.mu.Lock()
	}
	if len(pt.fill) == 0 {
		return nil
	}
	b := &textBatch{hasher: pt.hasher, placed: make(chan struct{}), done: make(chan struct{})}
	for _, t := range pt.fill {
		t.batch = b
	}
	b.texts, pt.fill = pt.fill, nil
	pt.placing = b
	return b
}

// waitRegistered waits until no batch is having its rows written. mu is
// held (and released while waiting).
func (pt *pendingTexts) waitRegistered() {
	for pt.registering != nil {
		ch := pt.registering.done
		pt.mu.Unlock()
		<-ch
		pt.mu.Lock()
	}
}

// finish drops b, written with result err, from the waiting paths. mu
// is held.
func (pt *pendingTexts) finish(b *textBatch, err error) {
	for _, t := range b.texts {
		delete(pt.byPath, t.info.Path)
	}
	pt.n.Add(-int32(len(b.texts)))
	if err != nil && pt.err == nil {
		pt.err = err
		pt.n.Add(1)
	}
	pt.registering = nil
	close(b.done)
}

// takeErr returns the error of a batch written since it was last called.
// mu is held.
func (pt *pendingTexts) takeErr() error {
	err := pt.err
	if err != nil {
		pt.err = nil
		pt.n.Add(-1)
	}
	return err
}

// writeBatch places b's files, then, once the batch before it is
// registered, writes its rows in one transaction and releases their
// locks; if that fails, the files it placed are removed, and the error
// waits for Sync.
func (s *Store) writeBatch(ctx context.Context, b *textBatch) {
	rctx := context.WithValue(context.WithoutCancel(ctx), noSyncKey{}, true)
	b.err = s.placeBatch(rctx, b)
	pt := &s.pending
	pt.mu.Lock()
	pt.waitRegistered()
	pt.placing, pt.registering = nil, b
	close(b.placed)
	pt.mu.Unlock()
	err := b.err
	if err == nil && len(b.infos) > 0 {
		err = s.registerBatch(rctx, b)
	}
	for i, l := range b.locks {
		if err != nil {
			fsutil.RemoveAll(s.RealPath(b.infos[i].Path))
		}
		l.unlock(err == nil)
	}
	pt.mu.Lock()
	pt.finish(b, err)
	pt.mu.Unlock()
}

// placeBatch writes the files of b's paths that are not valid, each
// under its lock and as a temporary root, and keeps their infos and
// locks in b.
func (s *Store) placeBatch(ctx context.Context, b *textBatch) error {
	ps := make([]storepath.Path, len(b.texts))
	for i, t := range b.texts {
		ps[i] = t.info.Path
	}
	if err := s.addTempRoots(ctx, ps); err != nil {
		return err
	}
	for _, t := range b.texts {
		p := t.info.Path
		// A path with no contents is not valid: no query. One with
		// contents may be valid (added by anyone meanwhile), or what a
		// crash left.
		if info, err := s.validIfPresent(ctx, p); info != nil || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		lock, err := s.lockPath(ctx, p)
		if err != nil {
			return err
		}
		// Another writer may have added it while we waited for the lock.
		if info, err := s.validIfPresent(ctx, p); info != nil || err != nil {
			lock.unlock(err == nil)
			if err != nil {
				return err
			}
			continue
		}
		if err := s.placeText(p, t.contents); err != nil {
			lock.unlock(false)
			return err
		}
		b.infos, b.locks = append(b.infos, t.info), append(b.locks, lock)
	}
	return nil
}

func (s *Store) registerBatch(ctx context.Context, b *textBatch) error {
	texts := make(map[storepath.Path][]byte, len(b.texts))
	for _, t := range b.texts {
		texts[t.info.Path] = t.contents
	}
	rctx := context.WithValue(ctx, drvTextsKey{}, texts)
	if b.hasher != nil && b.hasher.Dir() == s.dir {
		// The adders' hasher knows the inputs already; its resolver
		// belongs to them (an evaluator), and the batch is written on
		// another goroutine while they go on.
		rctx = WithHasher(rctx, b.hasher.WithResolver(s.readDerivationAt))
	}
	if err := s.RegisterValidPaths(rctx, b.infos); err != nil {
		return fmt.Errorf("register derivations: %w", err)
	}
	return nil
}

// Await returns once the file of p is in place, if AddTextDeferred added
// p and has not written it yet (whether writing it worked is for Sync to
// say). Reading a deferred path's contents before Sync needs it.
func (s *Store) Await(p storepath.Path) {
	pt := &s.pending
	if pt.n.Load() == 0 {
		return
	}
	pt.mu.Lock()
	t := pt.byPath[p]
	if t == nil {
		pt.mu.Unlock()
		return
	}
	if t.batch == nil {
		// It waits in the filling batch: write that now (take may
		// wait, and someone else may take it meanwhile).
		if b := pt.take(); b != nil {
			go s.writeBatch(context.Background(), b)
		}
	}
	b := t.batch
	pt.mu.Unlock()
	<-b.placed
}

// isPending reports whether p waits in a batch of AddTextDeferred.
func (s *Store) isPending(p storepath.Path) bool {
	pt := &s.pending
	if pt.n.Load() == 0 {
		return false
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.byPath[p] != nil
}

// placeText writes contents straight to p, which the caller has locked
// and made a temporary root, as Nix's addTextToStore does: under the
// lock nobody else writes p, and until its row exists p is not valid, so
// a crash leaves garbage, never a valid half-written path. (A scratch
// entry and a rename, as AddText makes, cost twice the system calls.)
func (s *Store) placeText(p storepath.Path, contents []byte) error {
	real := s.RealPath(p)
	err := writeText(real, contents, s.opts.IgnoredXattrs)
	if errors.Is(err, fs.ErrExist) {
		// An invalid leftover (a crash before its row was written).
		if _, err = fsutil.RemoveAll(real); err == nil {
			err = writeText(real, contents, s.opts.IgnoredXattrs)
		}
	}
	if err != nil {
		fsutil.RemoveAll(real)
		return fmt.Errorf("add %s: %w", s.print(p), err)
	}
	return nil
}

// writeText creates the file dst with contents, canonical (read-only,
// mtime 1, no extended attributes) through its descriptor.
func writeText(dst string, contents []byte, ignoredXattrs []string) error {
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	for err == unix.EINTR {
		fd, err = unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dst, Err: err}
	}
	for b := contents; len(b) > 0; {
		n, werr := unix.Write(fd, b)
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			err = werr
			break
		}
		b = b[n:]
	}
	if err != nil {
		err = &fs.PathError{Op: "write", Path: dst, Err: err}
	} else {
		err = fsutil.CanonicaliseCreated(fd, dst, false, ignoredXattrs)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &fs.PathError{Op: "close", Path: dst, Err: cerr}
	}
	return err
}

// textInfo is the info of text path p with contents: the NAR of a
// regular file, not executable.
func textInfo(p storepath.Path, ca storepath.ContentAddress, refs []storepath.Path, contents []byte) (*store.PathInfo, error) {
	h := nixhash.NewHasher(nixhash.SHA256)
	nw := nar.NewWriter(h)
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(contents))}); err != nil {
		return nil, err
	}
	if _, err := nw.Write(contents); err != nil {
		return nil, err
	}
	if err := nw.Close(); err != nil {
		return nil, err
	}
	return &store.PathInfo{Path: p, References: refs, CA: ca, RegistrationTime: time.Unix(time.Now().Unix(), 0),
		NarHash: h.Sum(), NarSize: h.Len()}, nil
}

// Sync writes the files and rows of the paths AddTextDeferred added that
// are not yet written, and waits for those being written in the
// background; if writing a batch fails, the files it placed are removed.
// It returns the first error since the last Sync. The Store calls it
// itself before every use of its database.
func (s *Store) Sync(ctx context.Context) error {
	pt := &s.pending
	if pt.n.Load() == 0 || ctx.Value(noSyncKey{}) != nil {
		return nil
	}
	pt.mu.Lock()
	b := pt.take()
	pt.mu.Unlock()
	if b != nil {
		s.writeBatch(ctx, b)
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.waitRegistered()
	return pt.takeErr()
}
