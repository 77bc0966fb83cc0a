package binarycache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// Substitute makes paths and their closures valid in dst with NARs from
// the cache; it is Substituters{c}.Substitute.
func (c *Cache) Substitute(ctx context.Context, dst store.Store, paths []storepath.Path) error {
	return Substituters{c}.Substitute(ctx, dst, paths)
}

// Substituters is an ordered list of caches, as Nix's substituters
// setting after SortByPriority.
type Substituters []*Cache

// SortByPriority sorts caches by their nix-cache-info Priority, lower
// first, keeping the given order among equals (Nix's stable sort).
func SortByPriority(caches []*Cache) Substituters {
	s := slices.Clone(caches)
	slices.SortStableFunc(s, func(a, b *Cache) int { return a.info.Priority - b.info.Priority })
	return s
}

// Observer is told about the NARs Substitute downloads, for a progress
// display. Its methods are called from the goroutines of concurrent
// downloads and must not block for long.
type Observer interface {
	// SubstitutePlanned: paths are to be downloaded, of fileSize
	// compressed bytes (0 if the narinfos do not say) and narSize NAR
	// bytes in total (those of the first cache that has each).
	SubstitutePlanned(paths int, fileSize, narSize uint64)
	// SubstituteStarted: the download of ni's NAR from the cache named
	// from begins (again, after a transient failure or from the next
	// cache after a failure).
	SubstituteStarted(from string, ni *narinfo.NarInfo)
	// SubstituteProgress: fileBytes bytes of ni's compressed NAR have
	// arrived in the current attempt; called about every MiB and at
	// the end.
	SubstituteProgress(ni *narinfo.NarInfo, fileBytes uint64)
	// SubstituteFinished: ni's attempt ended; err is nil once the path
	// is valid in the destination.
	SubstituteFinished(ni *narinfo.NarInfo, err error)
}

// candidate is a cache's acceptable narinfo for a path.
type candidate struct {
	c  *Cache
	ni *narinfo.NarInfo
}

// Substitute makes paths and their closures valid in dst. Paths valid
// in dst already (and, as in Nix, what they refer to) are skipped. For
// every other path of the closure the caches are asked in order; a
// narinfo that fails its cache's signature policy is passed over, as in
// Nix, and a path no cache offers acceptably is an error before any
// download starts. Then the paths are added references first, each NAR
// checked while it streams into dst.AddNar (its stream and sizes here,
// its NarHash by dst.AddNar, as store.Store requires), up to
// Options.Jobs (of the first cache) at a time; a download that fails for a
// transient reason is retried with backoff, and a path that still fails
// is tried from the next cache that has it. On error, paths added
// before the failing one stay valid (complete, with their references);
// the failing one is not registered.
func (s Substituters) Substitute(ctx context.Context, dst store.Store, paths []storepath.Path) error {
	if len(s) == 0 {
		return fmt.Errorf("substitute: no binary caches")
	}
	for _, c := range s {
		if dst.Dir() != c.opts.StoreDir {
			return fmt.Errorf("substitute from '%s': the destination store is %s, the cache is for %s", c.be, dst.Dir(), c.opts.StoreDir)
		}
	}
	need := map[storepath.Path][]candidate{}
	seen := map[storepath.Path]bool{}
	todo := store.SortPaths(slices.Clone(paths))
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
		found := map[storepath.Path][]candidate{}
		refused := map[storepath.Path]error{}
		for _, c := range s {
			got, err := c.NarInfos(ctx, query)
			if err != nil {
				return err
			}
			for _, p := range query {
				if ni := got[p]; ni != nil {
					if err := c.CheckSignatures(ni); err != nil {
						if refused[p] == nil {
							refused[p] = fmt.Errorf("%w (in '%s')", err, c.be)
						}
						continue
					}
					found[p] = append(found[p], candidate{c, ni})
				}
			}
		}
		for _, p := range query {
			cands := found[p]
			if len(cands) == 0 {
				if err := refused[p]; err != nil {
					return err
				}
				return fmt.Errorf("path '%s' is not available in %s", s[0].print(p), s.names())
			}
			need[p] = cands
			for _, r := range cands[0].ni.References {
				if !seen[r] {
					todo = append(todo, r)
				}
			}
		}
	}
	return s.download(ctx, dst, need)
}

// download adds the paths of need to dst, each after the paths it
// refers to, up to Options.Jobs (of the first cache) at a time. After
// the first failure no new download starts; the running ones finish.
func (s Substituters) download(ctx context.Context, dst store.Store, need map[storepath.Path][]candidate) error {
	// waiting[p] counts the references of p still to be added; users[r]
	// lists the paths waiting for r.
	waiting := map[storepath.Path]int{}
	users := map[storepath.Path][]storepath.Path{}
	var ready []storepath.Path
	for _, p := range store.SortPaths(slices.Collect(maps.Keys(need))) {
		for _, r := range need[p][0].ni.References {
			if r != p && need[r] != nil {
				waiting[p]++
				users[r] = append(users[r], p)
			}
		}
		if waiting[p] == 0 {
			ready = append(ready, p)
		}
	}
	type result struct {
		p   storepath.Path
		err error
	}
	obs := s[0].opts.Observer
	if obs != nil {
		var fileSize, narSize uint64
		for _, cands := range need {
			fileSize += cands[0].ni.FileSize
			narSize += cands[0].ni.NarSize
		}
		obs.SubstitutePlanned(len(need), fileSize, narSize)
	}
	jobs := max(s[0].opts.Jobs, 1)
	results := make(chan result)
	running, done := 0, 0
	var errs []error
	for done < len(need) {
		for len(errs) == 0 && running < jobs && len(ready) > 0 {
			p := ready[0]
			ready = ready[1:]
			running++
			go func() { results <- result{p, s.fetch(ctx, dst, need[p], obs)} }()
		}
		if running == 0 {
			break // a failure stopped the rest, or a reference cycle
		}
		res := <-results
		running--
		done++
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		for _, u := range users[res.p] {
			if waiting[u]--; waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if done < len(need) {
		return fmt.Errorf("substitute: reference cycle among %d paths", len(need)-done)
	}
	return nil
}

// fetch adds one path from the first candidate cache that succeeds.
func (s Substituters) fetch(ctx context.Context, dst store.Store, cands []candidate, obs Observer) error {
	var errs []error
	for _, cand := range cands {
		err := cand.c.substituteOne(ctx, dst, cand.ni, obs)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

func (s Substituters) names() string {
	if len(s) == 1 {
		return "binary cache '" + s[0].be.String() + "'"
	}
	out := "binary caches"
	for i, c := range s {
		if i > 0 {
			out += ","
		}
		out += " '" + c.be.String() + "'"
	}
	return out
}

func (c *Cache) substituteOne(ctx context.Context, dst store.Store, ni *narinfo.NarInfo, obs Observer) error {
	delay := c.opts.RetryBackoff
	var progress func(uint64)
	if obs != nil {
		progress = func(n uint64) { obs.SubstituteProgress(ni, n) }
	}
	for attempt := 0; ; attempt++ {
		if obs != nil {
			obs.SubstituteStarted(c.be.String(), ni)
		}
		err := c.addOne(ctx, dst, ni, progress)
		if obs != nil {
			obs.SubstituteFinished(ni, err)
		}
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

func (c *Cache) addOne(ctx context.Context, dst store.Store, ni *narinfo.NarInfo, progress func(uint64)) error {
	// dst.AddNar checks NarHash and NarSize and registers nothing on a
	// mismatch; the verifier checks the rest.
	v, err := c.openNar(ctx, ni, false, progress)
	if err != nil {
		return err
	}
	defer v.Close()
	err = dst.AddNar(ctx, PathInfo(ni), v)
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
