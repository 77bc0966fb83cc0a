package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// CheckContents recomputes the NAR hash and size of every path and
	// the hash of every file in .links.
	CheckContents bool
	// Repair removes corrupt .links entries. Corrupt or missing paths
	// that still have referrers would need a substituter to repair; they
	// are only reported.
	Repair bool
}

// VerifyResult lists what Verify found and did.
type VerifyResult struct {
	// Invalidated are valid paths whose contents had disappeared; like
	// Nix, Verify removes them from the database when nothing valid
	// refers to them.
	Invalidated []storepath.Path
	// Missing are paths whose contents disappeared but that still have
	// valid referrers (an error).
	Missing []storepath.Path
	// Corrupt are paths whose contents do not match their NAR hash.
	Corrupt []CorruptPath
	// CorruptLinks are .links entries whose contents no longer match
	// their name; with Repair they are removed and listed in
	// RemovedLinks instead.
	CorruptLinks []string
	RemovedLinks []string
	// SizesFixed are paths whose missing NAR size was filled in.
	SizesFixed []storepath.Path
}

// CorruptPath describes a path whose contents changed.
type CorruptPath struct {
	Path     storepath.Path
	WantHash nixhash.Hash
	GotHash  nixhash.Hash
}

// OK reports whether the store was found in order (Nix's exit status of
// nix-store --verify): no missing referenced paths, no corrupt contents,
// and no corrupt links left.
func (r *VerifyResult) OK() bool {
	return len(r.Missing) == 0 && len(r.Corrupt) == 0 && len(r.CorruptLinks) == 0
}

// Verify checks the store like nix-store --verify. It holds gc.lock
// shared, so no collector runs meanwhile.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (*VerifyResult, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(s.stateDir, "gc.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer lock.Close()
	if err := flockCtx(ctx, lock, fsutil.Shared); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	ents, err := os.ReadDir(s.realStore)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	present := map[string]bool{}
	for _, e := range ents {
		present[e.Name()] = true
	}
	paths, err := s.QueryValidPaths(ctx)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	v := &verifier{s: s, present: present, done: map[storepath.Path]bool{}, valid: map[storepath.Path]bool{}, kept: map[storepath.Path]bool{}, res: res}
	for _, p := range paths {
		if err := v.path(ctx, p); err != nil {
			return nil, err
		}
	}
	if !opts.CheckContents {
		return res, nil
	}
	links := filepath.Join(s.realStore, ".links")
	linkEnts, _ := os.ReadDir(links)
	for _, e := range linkEnts {
		n := e.Name()
		h, _, _, err := HashPath(filepath.Join(links, n), nil)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if nixbase32.EncodeToString(h.Digest) != n {
			if !opts.Repair {
				res.CorruptLinks = append(res.CorruptLinks, filepath.Join(links, n))
				continue
			}
			if err := os.Remove(filepath.Join(links, n)); err != nil {
				return nil, fmt.Errorf("verify: remove corrupt link: %w", err)
			}
			res.RemovedLinks = append(res.RemovedLinks, filepath.Join(links, n))
		}
	}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !v.valid[p] {
			continue
		}
		info, err := s.QueryPathInfo(ctx, p)
		if err != nil {
			return nil, err
		}
		h, size, _, err := HashPath(s.RealPath(p), nil)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", s.print(p), err)
		}
		if !h.Equal(info.NarHash) {
			res.Corrupt = append(res.Corrupt, CorruptPath{Path: p, WantHash: info.NarHash, GotHash: h})
			continue
		}
		if info.NarSize == 0 {
			if _, err := s.db.ExecContext(ctx, "update ValidPaths set narSize = ? where path = ?", size, s.print(p)); err != nil {
				return nil, fmt.Errorf("verify %s: %w", s.print(p), err)
			}
			res.SizesFixed = append(res.SizesFixed, p)
		}
	}
	return res, nil
}

type verifier struct {
	s       *Store
	present map[string]bool
	done    map[storepath.Path]bool
	valid   map[storepath.Path]bool // present: its contents get checked
	kept    map[storepath.Path]bool // present, or missing but still referred to
	res     *VerifyResult
}

// path checks that p exists; a missing p is invalidated if its referrers
// (checked first, recursively) can all be invalidated too.
func (v *verifier) path(ctx context.Context, p storepath.Path) error {
	if v.done[p] {
		return nil
	}
	v.done[p] = true
	if v.present[p.Base()] {
		v.valid[p] = true
		v.kept[p] = true
		return nil
	}
	referrers, err := v.s.QueryReferrers(ctx, p)
	if err != nil {
		return err
	}
	canInvalidate := true
	for _, r := range referrers {
		if r == p {
			continue
		}
		if err := v.path(ctx, r); err != nil {
			return err
		}
		// Unlike Nix 2.8, a missing referrer that had to be kept also
		// blocks (Nix would then hit the RESTRICT on Refs).
		if v.kept[r] {
			canInvalidate = false
		}
	}
	if !canInvalidate {
		v.kept[p] = true
		v.res.Missing = append(v.res.Missing, p)
		return nil
	}
	if err := v.s.withTx(ctx, func(tx querier) error { return v.s.invalidate(ctx, tx, p) }); err != nil {
		return err
	}
	v.res.Invalidated = append(v.res.Invalidated, p)
	return nil
}
