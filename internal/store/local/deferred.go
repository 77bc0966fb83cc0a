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
// store, their locks held, their rows not yet written.
type pendingTexts struct {
	n      atomic.Int32 // len(infos); read without mu on every query
	mu     sync.Mutex   // held while the rows are written, too
	infos  []*store.PathInfo
	locks  []*pathLock
	byPath map[storepath.Path]*store.PathInfo
	texts  map[storepath.Path][]byte // the contents, for the derivation checks
	hasher *derivation.Hasher        // from the adders' context, to check the outputs
}

// maxPending is how many deferred paths wait at most for their rows.
// Each holds its lock, an open descriptor, and a process's descriptor
// table starts with room for 64: growing it in a process with threads
// (every Go process) waits for an RCU grace period (expand_fdtable), 5
// to 18 ms here, during which every thread that opens a file waits too.
// Holding 500 locks grew the table four times, a quarter of the time
// instantiating a 500-derivation graph took; a transaction per 32
// paths costs far less.
const maxPending = 32

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
		pt.byPath, pt.texts = map[storepath.Path]*store.PathInfo{}, map[storepath.Path][]byte{}
	}
	pt.infos, pt.locks = append(pt.infos, info), append(pt.locks, lock)
	pt.byPath[p], pt.texts[p] = info, contents
	if h, _ := ctx.Value(hasherKey{}).(*derivation.Hasher); h != nil {
		pt.hasher = h
	}
	pt.n.Store(int32(len(pt.infos)))
	full := len(pt.infos) >= maxPending
	pt.mu.Unlock()
	if full {
		return info, s.Sync(ctx)
	}
	return info, nil
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

// Sync writes the rows of the paths AddTextDeferred added, in one
// transaction, and releases their locks. If that fails, their contents
// are removed. The Store calls it itself before every use of its
// database.
func (s *Store) Sync(ctx context.Context) error {
	pt := &s.pending
	if pt.n.Load() == 0 || ctx.Value(noSyncKey{}) != nil {
		return nil
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if len(pt.infos) == 0 {
		return nil
	}
	rctx := context.WithValue(context.WithoutCancel(ctx), noSyncKey{}, true)
	rctx = context.WithValue(rctx, drvTextsKey{}, pt.texts)
	if pt.hasher != nil {
		rctx = WithHasher(rctx, pt.hasher)
	}
	err := s.RegisterValidPaths(rctx, pt.infos)
	for i, l := range pt.locks {
		if err != nil {
			fsutil.RemoveAll(s.RealPath(pt.infos[i].Path))
		}
		l.unlock(err == nil)
	}
	pt.infos, pt.locks, pt.byPath, pt.texts, pt.hasher = nil, nil, nil, nil, nil
	pt.n.Store(0)
	if err != nil {
		return fmt.Errorf("register derivations: %w", err)
	}
	return nil
}
