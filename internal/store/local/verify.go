package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// CheckContents recomputes every path's NAR hash and size.
	CheckContents bool
	// Repair invalidates valid paths whose contents are missing (when
	// nothing refers to them) and records NAR sizes that are missing
	// from the database. Corrupt contents cannot be repaired without a
	// substituter and are only reported.
	Repair bool
}

// VerifyResult lists what Verify found.
type VerifyResult struct {
	// Missing are valid paths without contents.
	Missing []storepath.Path
	// Invalidated are the missing paths Repair removed from the database.
	Invalidated []storepath.Path
	// Corrupt are paths whose contents do not match their NAR hash/size.
	Corrupt []CorruptPath
}

// CorruptPath describes a path whose contents changed.
type CorruptPath struct {
	Path          storepath.Path
	WantHash      nixhash.Hash
	GotHash       nixhash.Hash
	WantSize, Got uint64
}

// OK reports whether nothing was wrong.
func (r *VerifyResult) OK() bool {
	return len(r.Missing) == len(r.Invalidated) && len(r.Corrupt) == 0
}

// Verify checks the store like nix-store --verify: every valid path must
// exist, and with CheckContents its NAR hash and size must match the
// database.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (*VerifyResult, error) {
	paths, err := s.QueryValidPaths(ctx)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := os.Lstat(s.RealPath(p)); errors.Is(err, os.ErrNotExist) {
			res.Missing = append(res.Missing, p)
			if opts.Repair {
				err := withTx(ctx, s.db, func(tx *sql.Tx) error { return s.invalidate(ctx, tx, p) })
				if err == nil {
					res.Invalidated = append(res.Invalidated, p)
				}
			}
			continue
		} else if err != nil {
			return nil, fmt.Errorf("verify %s: %w", s.print(p), err)
		}
		if !opts.CheckContents {
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
		if !h.Equal(info.NarHash) || (info.NarSize != 0 && size != info.NarSize) {
			res.Corrupt = append(res.Corrupt, CorruptPath{Path: p, WantHash: info.NarHash, GotHash: h, WantSize: info.NarSize, Got: size})
			continue
		}
		if info.NarSize == 0 && opts.Repair {
			if _, err := s.db.ExecContext(ctx, "update ValidPaths set narSize = ? where path = ?", size, s.print(p)); err != nil {
				return nil, fmt.Errorf("verify %s: %w", s.print(p), err)
			}
		}
	}
	return res, nil
}
