package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
	"cairn/internal/store/refscan"
)

// processOutputs canonicalises each output the builder wrote, computes
// its NAR hash and references, checks fixed-output hashes and the
// reference checks, and returns the infos to register.
func (b *Builder) processOutputs(ctx context.Context, req *Request, r *buildRun, closure []storepath.Path) (map[string]*store.PathInfo, error) {
	drv := b.print(req.DrvPath)
	fail := func(kind ErrorKind, format string, args ...any) error {
		return &Error{Kind: kind, Drv: drv, Msg: fmt.Sprintf(format, args...)}
	}
	candidates := slices.Clone(closure)
	for _, o := range req.Outputs {
		candidates = append(candidates, o.Path)
	}
	byHash := map[string]storepath.Path{}
	hashParts := make([]string, 0, len(candidates))
	for _, p := range candidates {
		byHash[p.HashPart()] = p
		hashParts = append(hashParts, p.HashPart())
	}
	infos := map[string]*store.PathInfo{}
	ids := slices.Sorted(maps.Keys(r.actual))
	for _, id := range ids {
		actual := r.actual[id]
		out := req.Outputs[id]
		if _, err := os.Lstat(actual); err != nil {
			return nil, fail(Failed, "builder for '%s' failed to produce output path for output '%s' at '%s'", drv, id, b.print(out.Path))
		}
		if err := fsutil.Canonicalise(actual, fsutil.CanonOptions{FromUID: r.fromUID}); err != nil {
			return nil, fail(Failed, "output '%s' of '%s': %v", b.print(out.Path), drv, err)
		}
		scan := refscan.New(hashParts)
		h := nixhash.NewHasher(nixhash.SHA256)
		if err := nar.DumpPath(io.MultiWriter(h, scan), actual); err != nil {
			return nil, fmt.Errorf("hash output %s: %w", b.print(out.Path), err)
		}
		info := &store.PathInfo{
			Path: out.Path, Deriver: req.DrvPath, NarHash: h.Sum(), NarSize: h.Len(), Ultimate: true,
		}
		for _, hp := range scan.Found() {
			info.References = append(info.References, byHash[hp])
		}
		info.References = store.SortPaths(info.References)
		if out.Fixed != nil {
			got, err := contentHash(actual, out.Fixed)
			if err != nil {
				return nil, fail(Failed, "output '%s' of fixed-output derivation '%s': %v", b.print(out.Path), drv, err)
			}
			if !got.Equal(out.Fixed.Hash) {
				return nil, fail(HashMismatch, "hash mismatch in fixed-output derivation '%s':\n  specified: %s\n     got:    %s",
					drv, out.Fixed.Hash.Encode(nixhash.SRI, true), got.Encode(nixhash.SRI, true))
			}
			info.CA = storepath.ContentAddress{Method: out.Fixed.Method, Hash: got}
			var refs []storepath.Path
			self := false
			for _, ref := range info.References {
				if ref == out.Path {
					self = true
				} else {
					refs = append(refs, ref)
				}
			}
			p, err := b.store.Dir().MakeFixedOutputPath(out.Path.Name(), out.Fixed.Method, got, refs, self)
			if err != nil || p != out.Path {
				return nil, fail(Failed, "fixed-output derivation '%s' produced output '%s' with illegal references", drv, b.print(out.Path))
			}
		}
		infos[id] = info
	}
	if err := b.checkOutputs(ctx, req, infos); err != nil {
		return nil, err
	}
	return infos, nil
}

// contentHash hashes an output the way its fixed hash was declared.
func contentHash(path string, fh *FixedHash) (nixhash.Hash, error) {
	h := nixhash.NewHasher(fh.Hash.Algo)
	if fh.Method == storepath.Recursive {
		if err := nar.DumpPath(h, path); err != nil {
			return nixhash.Hash{}, err
		}
		return h.Sum(), nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nixhash.Hash{}, err
	}
	if !fi.Mode().IsRegular() {
		return nixhash.Hash{}, errors.New("a flat fixed output must be a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nixhash.Hash{}, err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return nixhash.Hash{}, err
	}
	return h.Sum(), nil
}

// checkOutputs enforces allowed/disallowed references and requisites and
// size limits (Nix's checkOutputs).
func (b *Builder) checkOutputs(ctx context.Context, req *Request, infos map[string]*store.PathInfo) error {
	drv := b.print(req.DrvPath)
	byPath := map[storepath.Path]*store.PathInfo{}
	for _, info := range infos {
		byPath[info.Path] = info
	}
	closure := func(p storepath.Path) (map[storepath.Path]bool, uint64, error) {
		done := map[storepath.Path]bool{}
		var size uint64
		todo := []storepath.Path{p}
		for len(todo) > 0 {
			q := todo[0]
			todo = todo[1:]
			if done[q] {
				continue
			}
			done[q] = true
			info, ok := byPath[q]
			if !ok {
				var err error
				if info, err = b.store.QueryPathInfo(ctx, q); err != nil {
					return nil, 0, err
				}
			}
			size += info.NarSize
			todo = append(todo, info.References...)
		}
		return done, size, nil
	}
	ids := slices.Sorted(maps.Keys(infos))
	for _, id := range ids {
		info := infos[id]
		c, ok := req.Checks[id]
		if !ok {
			continue
		}
		if c.MaxSize != nil && info.NarSize > *c.MaxSize {
			return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("path '%s' is too large at %d bytes; limit is %d bytes",
				b.print(info.Path), info.NarSize, *c.MaxSize)}
		}
		if c.MaxClosureSize != nil {
			_, size, err := closure(info.Path)
			if err != nil {
				return err
			}
			if size > *c.MaxClosureSize {
				return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("closure of path '%s' is too large at %d bytes; limit is %d bytes",
					b.print(info.Path), size, *c.MaxClosureSize)}
			}
		}
		check := func(spec []string, allowed, recursive bool) error {
			if spec == nil {
				return nil
			}
			set := map[storepath.Path]bool{}
			for _, s := range spec {
				if p, err := b.store.Dir().Parse(s); err == nil {
					set[p] = true
				} else if o, ok := req.Outputs[s]; ok {
					set[o.Path] = true
				} else {
					return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("derivation contains an illegal reference specifier '%s'", s)}
				}
			}
			used := map[storepath.Path]bool{}
			if recursive {
				var err error
				if used, _, err = closure(info.Path); err != nil {
					return err
				}
				if c.IgnoreSelfRefs {
					delete(used, info.Path)
				}
			} else {
				for _, r := range info.References {
					used[r] = true
				}
			}
			var bad []string
			for p := range used {
				if set[p] != allowed {
					bad = append(bad, b.print(p))
				}
			}
			if len(bad) > 0 {
				slices.Sort(bad)
				return &Error{Kind: Failed, Drv: drv, Msg: fmt.Sprintf("output '%s' is not allowed to refer to the following paths:\n  %s",
					b.print(info.Path), strings.Join(bad, "\n  "))}
			}
			return nil
		}
		for _, k := range []struct {
			spec               []string
			allowed, recursive bool
		}{
			{c.AllowedReferences, true, false}, {c.AllowedRequisites, true, true},
			{c.DisallowedReferences, false, false}, {c.DisallowedRequisites, false, true},
		} {
			if err := check(k.spec, k.allowed, k.recursive); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareCheck compares a check-mode rebuild with the valid outputs.
func (b *Builder) compareCheck(req *Request, r *buildRun, infos, valid map[string]*store.PathInfo) error {
	drv := b.print(req.DrvPath)
	ids := slices.Sorted(maps.Keys(infos))
	for _, id := range ids {
		if infos[id].NarHash.Equal(valid[id].NarHash) {
			continue
		}
		out := b.print(req.Outputs[id].Path)
		if b.cfg.KeepFailed {
			dst := filepath.Join(b.store.RealStoreDir(), req.Outputs[id].Path.Base()+".check")
			fsutil.RemoveAll(dst)
			if err := os.Rename(r.actual[id], dst); err == nil {
				return &Error{Kind: NotDeterministic, Drv: drv, Msg: fmt.Sprintf(
					"derivation '%s' may not be deterministic: output '%s' differs from '%s.check'", drv, out, out)}
			}
		}
		return &Error{Kind: NotDeterministic, Drv: drv, Msg: fmt.Sprintf(
			"derivation '%s' may not be deterministic: output '%s' differs", drv, out)}
	}
	return nil
}

// register moves the new outputs into the store and registers them in
// one transaction; if that fails they are deleted again.
func (b *Builder) register(ctx context.Context, req *Request, r *buildRun, infos, valid map[string]*store.PathInfo) error {
	drv := b.print(req.DrvPath)
	var moved []string
	var list []*store.PathInfo
	ids := slices.Sorted(maps.Keys(infos))
	for _, id := range ids {
		if _, ok := valid[id]; ok {
			continue
		}
		real := filepath.Join(b.store.RealStoreDir(), req.Outputs[id].Path.Base())
		if r.actual[id] != real {
			if _, err := os.Lstat(real); err == nil {
				if _, err := fsutil.RemoveAll(real); err != nil {
					return fmt.Errorf("register outputs of %s: %w", drv, err)
				}
			}
			if err := moveOutput(r.actual[id], real); err != nil {
				for _, m := range moved {
					fsutil.RemoveAll(m)
				}
				return fmt.Errorf("register outputs of %s: %w", drv, err)
			}
		}
		moved = append(moved, real)
		list = append(list, infos[id])
	}
	if err := b.store.RegisterValidPaths(ctx, list); err != nil {
		for _, m := range moved {
			fsutil.RemoveAll(m)
		}
		return fmt.Errorf("register outputs of %s: %w", drv, err)
	}
	return nil
}

// moveOutput renames a canonicalised output into the store. Moving a
// directory to another parent rewrites its ".." entry, which needs write
// permission on it when we are not root; its canonical mode and mtime
// are restored afterwards.
func moveOutput(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Rename(from, to)
	}
	if err := os.Chmod(from, 0o755); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		os.Chmod(from, fi.Mode().Perm())
		return err
	}
	if err := os.Chmod(to, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Chtimes(to, time.Time{}, time.Unix(fsutil.StoreMtime, 0))
}
