// Package store defines what every Nix store offers (the Store
// interface), the metadata of a valid store path (PathInfo), and helpers
// over the reference graph: closures and topological order.
//
// Implementations live in subpackages (local: a /nix/store directory with
// its SQLite metadata database). Nothing here prints or reads global
// configuration; every operation takes explicit values.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// ErrNotValid is matched by errors about a path that is not valid in a
// store.
var ErrNotValid = errors.New("path is not valid")

// NotValidError reports that Path is not valid in the store.
type NotValidError struct {
	Path string // printed path
}

func (e *NotValidError) Error() string        { return fmt.Sprintf("path '%s' is not valid", e.Path) }
func (e *NotValidError) Is(target error) bool { return target == ErrNotValid }

// PathInfo is the metadata of a valid store path (Nix's ValidPathInfo).
type PathInfo struct {
	Path    storepath.Path
	Deriver storepath.Path // zero if unknown
	NarHash nixhash.Hash   // sha256 of the NAR serialisation
	NarSize uint64
	// References are the store paths this path refers to, sorted and
	// without duplicates; a self-reference is included.
	References       []storepath.Path
	RegistrationTime time.Time // whole seconds; zero if not registered
	Ultimate         bool      // built locally (trusted without signatures)
	Signatures       []string  // "<key name>:<base64>"
	// CA, if CA.Hash is not zero, asserts that the path is content
	// addressed.
	CA storepath.ContentAddress
}

// HasCA reports whether info carries a content address.
func (info *PathInfo) HasCA() bool { return !info.CA.Hash.IsZero() }

// RefersToSelf reports whether info.Path is among its own references.
func (info *PathInfo) RefersToSelf() bool {
	_, ok := slices.BinarySearchFunc(info.References, info.Path, storepath.Compare)
	return ok
}

// CheckCA reports whether the content address of info, if any, computes
// to info.Path in store directory dir. A path without a CA passes.
func (info *PathInfo) CheckCA(dir storepath.Dir) error {
	if !info.HasCA() {
		return nil
	}
	var refs []storepath.Path
	self := false
	for _, r := range info.References {
		if r == info.Path {
			self = true
		} else {
			refs = append(refs, r)
		}
	}
	p, err := dir.MakePathFromCA(info.Path.Name(), info.CA, refs, self)
	if err != nil {
		return fmt.Errorf("check content address of %s: %w", dir.Print(info.Path), err)
	}
	if p != info.Path {
		return fmt.Errorf("check content address of %s: %s computes to %s", dir.Print(info.Path), info.CA, dir.Print(p))
	}
	return nil
}

// SortPaths sorts paths bytewise (Nix's order) and removes duplicates.
func SortPaths(paths []storepath.Path) []storepath.Path {
	slices.SortFunc(paths, storepath.Compare)
	return slices.Compact(paths)
}

// Store is the interface every store implements.
type Store interface {
	// Dir returns the logical store directory, e.g. /nix/store.
	Dir() storepath.Dir
	// IsValid reports whether p is valid (registered and complete).
	IsValid(ctx context.Context, p storepath.Path) (bool, error)
	// QueryPathInfo returns the metadata of p, or an error matching
	// ErrNotValid.
	QueryPathInfo(ctx context.Context, p storepath.Path) (*PathInfo, error)
	// NarFromPath writes the NAR serialisation of the valid path p to w.
	NarFromPath(ctx context.Context, p storepath.Path, w io.Writer) error
	// AddNar makes info.Path valid with the contents of the NAR stream
	// r, which must match info.NarHash and info.NarSize. info.References
	// must already be valid (or be info.Path itself). The store checks
	// the hash and size itself and makes nothing valid when they differ:
	// callers (a substituter, copy) rely on it and do not hash again.
	AddNar(ctx context.Context, info *PathInfo, r io.Reader) error
}

// ClosureOptions selects the edges Closure follows.
type ClosureOptions struct {
	// Referrers walks referrers instead of references (the reverse
	// closure); the store must implement ReferrersQuerier.
	Referrers bool
}

// ReferrersQuerier is implemented by stores that know the referrers of
// a path.
type ReferrersQuerier interface {
	QueryReferrers(ctx context.Context, p storepath.Path) ([]storepath.Path, error)
}

// ClosureQuerier is implemented by stores that compute the closure of a
// set of paths over references themselves (in one query), as Closure
// would: roots included, sorted, a NotValidError for a root that is not
// valid.
type ClosureQuerier interface {
	QueryClosure(ctx context.Context, roots []storepath.Path) ([]storepath.Path, error)
}

// Closure returns the set of paths reachable from roots over references
// (or referrers), roots included, sorted. Each path is queried once, or
// the store computes the closure of references itself (ClosureQuerier).
func Closure(ctx context.Context, s Store, roots []storepath.Path, opts ClosureOptions) ([]storepath.Path, error) {
	var rq ReferrersQuerier
	if opts.Referrers {
		var ok bool
		if rq, ok = s.(ReferrersQuerier); !ok {
			return nil, fmt.Errorf("compute closure: store at %s cannot query referrers", s.Dir())
		}
	}
	if cq, ok := s.(ClosureQuerier); ok && !opts.Referrers {
		return cq.QueryClosure(ctx, roots)
	}
	seen := map[storepath.Path]bool{}
	todo := slices.Clone(roots)
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		var next []storepath.Path
		if opts.Referrers {
			if ok, err := s.IsValid(ctx, p); err != nil {
				return nil, err
			} else if !ok {
				return nil, &NotValidError{Path: s.Dir().Print(p)}
			}
			r, err := rq.QueryReferrers(ctx, p)
			if err != nil {
				return nil, err
			}
			next = r
		} else {
			info, err := s.QueryPathInfo(ctx, p)
			if err != nil {
				return nil, err
			}
			next = info.References
		}
		for _, q := range next {
			if !seen[q] {
				todo = append(todo, q)
			}
		}
	}
	out := make([]storepath.Path, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	return SortPaths(out), nil
}

// CycleError reports a reference cycle found by TopoSort.
type CycleError struct {
	Path, Parent storepath.Path
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("cycle detected in the references of '%s' from '%s'", e.Path, e.Parent)
}

// TopoSort orders paths so that every path comes before the paths it
// refers to (referrers first, Nix's topoSortPaths). refs returns the
// references of a path; references outside paths and self-references
// are ignored. Ties are broken by the order of paths, so the result is
// deterministic. A cycle is a *CycleError.
func TopoSort(paths []storepath.Path, refs func(storepath.Path) []storepath.Path) ([]storepath.Path, error) {
	in := make(map[storepath.Path]bool, len(paths))
	for _, p := range paths {
		in[p] = true
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[storepath.Path]int, len(paths))
	out := make([]storepath.Path, 0, len(paths))
	var visit func(p, parent storepath.Path) error
	visit = func(p, parent storepath.Path) error {
		switch state[p] {
		case visiting:
			return &CycleError{Path: p, Parent: parent}
		case done:
			return nil
		}
		state[p] = visiting
		for _, r := range refs(p) {
			if r != p && in[r] {
				if err := visit(r, p); err != nil {
					return err
				}
			}
		}
		state[p] = done
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if err := visit(p, storepath.Path{}); err != nil {
			return nil, err
		}
	}
	slices.Reverse(out)
	return out, nil
}
