package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

// pendingTexts are the text paths of AddTextDeferred: in place in the
// store, their locks held, their rows not yet written (or being written
// by a flush).
type pendingTexts struct {
	n      atomic.Int32 // paths in byPath, and 1 more while err is set; read without mu on every query
	mu     sync.Mutex
	infos  []*store.PathInfo // the batch filling up
	locks  []*pathLock
	texts  map[storepath.Path][]byte          // the batch's contents, for the derivation checks
	hasher *derivation.Hasher                 // from the adders' context, to check the outputs
	byPath map[storepath.Path]*store.PathInfo // the batch and the one being flushed
	// flushing is closed when the batch being written in the background
	// is done (nil: none is); err is what went wrong, for the next Sync.
	flushing chan struct{}
	err      error
}

// A textBatch is a batch of pendingTexts taken for writing; done is
// closed once it is written.
type textBatch struct {
	infos  []*store.PathInfo
	locks  []*pathLock
	texts  map[storepath.Path][]byte
	hasher *derivation.Hasher
	done   chan struct{}
}

// maxPending is how many deferred paths fill a batch, whose rows are
// then written in the background while the next fills up (one batch at
// a time). Each path holds its lock, an open descriptor, and a process's
// descriptor table starts with room for 64: growing it in a process with
// threads (every Go process) waits for an RCU grace period
// (expand_fdtable), 5 to 18 ms here, during which every thread that
// opens a file waits too. Holding 500 locks grew the table four times, a
// quarter of the time instantiating a 500-derivation graph took; two
// batches of 20 and the store's own descriptors stay below 64.
const maxPending = 20

// noSyncKey marks the context of Sync's own registration, whose queries
// must not start another.
type noSyncKey struct{}

// AddTextDeferred is AddText, except that the database row of a new path
// is written later, in one transaction with those of the other paths
// added so: before this Store next reads or writes its database (any
// query, registration or collection), at Sync, at Close, or once
// maxPending paths wait. Meanwhile the path's contents are in place and
// its lock is held, so no other process (cairn or Nix) writes it or sees
// it valid; a crash leaves contents without a row, which is garbage, as
// after a crash in AddText.
//
// Instantiating a derivation graph writes one .drv after another; one
// transaction per .drv was most of the time instantiation took.
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
	info := pt.byPath[p]
	pt.mu.Unlock()
	if info != nil {
		return info, nil
	}
	if err := s.AddTempRoot(ctx, p); err != nil {
		return nil, err
	}
	// A new path has no contents yet, so no query (which would write
	// the waiting rows first). Contents of a path waiting here make the
	// query write its row, releasing the lock we would otherwise wait
	// for.
	if info, err := s.validIfPresent(ctx, p); info != nil || err != nil {
		return info, err
	}
	lock, err := s.lockPath(ctx, p)
	if err != nil {
		return nil, err
	}
	// Another writer may have added it while we waited for the lock.
	if info, err := s.validIfPresent(ctx, p); info != nil || err != nil {
		lock.unlock(err == nil)
		return info, err
	}
	info, err = s.placeText(p, ca, refs, contents)
	if err != nil {
		lock.unlock(false)
		return nil, err
	}
	pt.mu.Lock()
	if pt.byPath == nil {
		pt.byPath = map[storepath.Path]*store.PathInfo{}
	}
	if pt.texts == nil {
		pt.texts = map[storepath.Path][]byte{}
	}
	pt.infos, pt.locks = append(pt.infos, info), append(pt.locks, lock)
	pt.byPath[p], pt.texts[p] = info, contents
	if h, _ := ctx.Value(hasherKey{}).(*derivation.Hasher); h != nil {
		pt.hasher = h
	}
	pt.n.Add(1)
	full := len(pt.infos) >= maxPending
	pt.mu.Unlock()
	if full {
		s.flushBehind(ctx)
	}
	return info, nil
}

// flushBehind writes the rows of the full batch in the background, once
// the batch before it is written: evaluation goes on meanwhile, on
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

// take waits until no batch is being written and takes the filling one
// for writing; nil if it is empty. mu is held (and released while
// waiting).
func (pt *pendingTexts) take() *textBatch {
	for pt.flushing != nil {
		ch := pt.flushing
		pt.mu.Unlock()
		<-ch
		pt.mu.Lock()
	}
	if len(pt.infos) == 0 {
		return nil
	}
	b := &textBatch{pt.infos, pt.locks, pt.texts, pt.hasher, make(chan struct{})}
	pt.infos, pt.locks, pt.texts = nil, nil, nil
	pt.flushing = b.done
	return b
}

// finish drops b, written with result err, from the waiting paths and
// lets the next batch be taken. mu is held.
func (pt *pendingTexts) finish(b *textBatch, err error) {
	for _, info := range b.infos {
		delete(pt.byPath, info.Path)
	}
	pt.n.Add(-int32(len(b.infos)))
	if err != nil && pt.err == nil {
		pt.err = err
		pt.n.Add(1)
	}
	pt.flushing = nil
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

// writeBatch writes b's rows in one transaction and releases their
// locks; if that fails, their contents are removed, and the error waits
// for Sync.
func (s *Store) writeBatch(ctx context.Context, b *textBatch) {
	err := s.registerBatch(ctx, b)
	pt := &s.pending
	pt.mu.Lock()
	pt.finish(b, err)
	pt.mu.Unlock()
}

func (s *Store) registerBatch(ctx context.Context, b *textBatch) error {
	rctx := context.WithValue(context.WithoutCancel(ctx), noSyncKey{}, true)
	rctx = context.WithValue(rctx, drvTextsKey{}, b.texts)
	if b.hasher != nil && b.hasher.Dir() == s.dir {
		// The adders' hasher knows the inputs already; its resolver
		// belongs to them (an evaluator), and the batch may be written
		// on another goroutine while they go on.
		rctx = WithHasher(rctx, b.hasher.WithResolver(s.readDerivationAt))
	}
	err := s.RegisterValidPaths(rctx, b.infos)
	for i, l := range b.locks {
		if err != nil {
			fsutil.RemoveAll(s.RealPath(b.infos[i].Path))
		}
		l.unlock(err == nil)
	}
	if err != nil {
		return fmt.Errorf("register derivations: %w", err)
	}
	return nil
}

// placeText writes contents straight to p, which the caller has locked
// and made a temporary root, as Nix's addTextToStore does: under the
// lock nobody else writes p, and until its row exists p is not valid, so
// a crash leaves garbage, never a valid half-written path. (A scratch
// entry and a rename, as AddText makes, cost twice the system calls.)
func (s *Store) placeText(p storepath.Path, ca storepath.ContentAddress, refs []storepath.Path, contents []byte) (*store.PathInfo, error) {
	real := s.RealPath(p)
	err := writeFlat(real, bytes.NewReader(contents))
	if errors.Is(err, fs.ErrExist) {
		// An invalid leftover (a crash before its row was written).
		if _, err = fsutil.RemoveAll(real); err == nil {
			err = writeFlat(real, bytes.NewReader(contents))
		}
	}
	if err == nil {
		err = fsutil.Canonicalise(real, fsutil.CanonOptions{FromUID: -1, IgnoredXattrs: s.opts.IgnoredXattrs})
	}
	if err != nil {
		fsutil.RemoveAll(real)
		return nil, fmt.Errorf("add %s: %w", s.print(p), err)
	}
	// The NAR of the file as written (a regular file, not executable).
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

// Sync writes the rows of the paths AddTextDeferred added that are not
// yet written, in one transaction, and releases their locks, after
// waiting for a batch being written in the background; if that fails,
// their contents are removed. It returns the first error since the last
// Sync. The Store calls it itself before every use of its database.
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
	return pt.takeErr()
}
