package binarycache

import (
	"context"
	"fmt"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// Substitute makes paths and their closures valid in dst with NARs from
// the cache. Paths valid in dst already (and, as in Nix, what they refer
// to) are skipped. Every narinfo needed is fetched (in parallel) and
// checked, signatures included, before the first download; then the
// paths are added references first, each NAR checked while it streams
// into dst.AddNar. A download that fails for a transient reason (network
// error, stall, reset) is retried with backoff. On error, the paths
// added before the failing one stay valid (they are complete, with
// their references); the failing one is not registered.
func (c *Cache) Substitute(ctx context.Context, dst store.Store, paths []storepath.Path) error {
	if dst.Dir() != c.opts.StoreDir {
		return fmt.Errorf("substitute from '%s': the destination store is %s, the cache is for %s", c.be, dst.Dir(), c.opts.StoreDir)
	}
	need := map[storepath.Path]*narinfo.NarInfo{}
	seen := map[storepath.Path]bool{}
	todo := store.SortPaths(append([]storepath.Path(nil), paths...))
	for len(todo) > 0 {
		var query []storepath.Path
		for _, p := range todo {
			if seen[p] {
				continue
			}
			seen[p] = true
			ok, err := dst.IsValid(ctx, p)
			if err != nil {
				return err
			}
			if !ok {
				query = append(query, p)
			}
		}
		todo = nil
		got, err := c.NarInfos(ctx, query)
		if err != nil {
			return err
		}
		for _, p := range query {
			ni := got[p]
			if ni == nil {
				return fmt.Errorf("path '%s' is not available in binary cache '%s'", c.print(p), c.be)
			}
			if err := c.CheckSignatures(ni); err != nil {
				return err
			}
			need[p] = ni
			for _, r := range ni.References {
				if !seen[r] {
					todo = append(todo, r)
				}
			}
		}
	}
	all := make([]storepath.Path, 0, len(need))
	for p := range need {
		all = append(all, p)
	}
	all = store.SortPaths(all)
	order, err := store.TopoSort(all, func(p storepath.Path) []storepath.Path { return need[p].References })
	if err != nil {
		return err
	}
	for i := len(order) - 1; i >= 0; i-- {
		if err := c.substituteOne(ctx, dst, need[order[i]]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) substituteOne(ctx context.Context, dst store.Store, ni *narinfo.NarInfo) error {
	delay := c.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := c.addOne(ctx, dst, ni)
		if err == nil || !isTransient(err) || attempt >= c.opts.Retries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
	}
}

func (c *Cache) addOne(ctx context.Context, dst store.Store, ni *narinfo.NarInfo) error {
	r, err := c.OpenNar(ctx, ni)
	if err != nil {
		return err
	}
	defer r.Close()
	v := r.(*verifier)
	err = dst.AddNar(ctx, PathInfo(ni), r)
	if v.err != nil {
		// The destination may word the failed read its own way; the
		// verifier's error says what went wrong and whether it is
		// transient.
		return v.err
	}
	if err == nil && !v.done {
		if ok, verr := dst.IsValid(ctx, ni.StorePath); verr == nil && ok {
			return nil // added concurrently by someone else
		}
		return fmt.Errorf("download NAR of '%s': the destination store did not read the whole NAR", c.print(ni.StorePath))
	}
	return err
}
