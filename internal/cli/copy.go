package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/binarycache"
	"cairn/internal/store/local"
	"cairn/internal/store/narinfocache"
)

// CopyOptions are the flags of `cairn copy` (Nix's `nix copy`).
type CopyOptions struct {
	F     *Factory
	Store StoreFlags

	From, To    string // --from URL, --to URL
	NoCheckSigs bool   // --no-check-sigs
	Derivation  bool   // --derivation: copy .drv files, not their outputs
	Args        []string
}

func newCopyCmd(f *Factory, runF func(*CopyOptions) error) func([]string) error {
	return func(args []string) error {
		o := &CopyOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--help":
				return printUsage(f, "copy", "copy store path closures between stores and binary caches, like nix copy")
			case "--from":
				o.From, err = s.value(arg)
			case "--to":
				o.To, err = s.value(arg)
			case "--no-check-sigs":
				o.NoCheckSigs = true
			case "--derivation":
				o.Derivation = true
			default:
				err = storeArg(s, arg, &o.Store, &o.Args)
			}
			if err != nil {
				return err
			}
		}
		if o.From == "" && o.To == "" {
			return &usageError{f.Prog, "you must pass '--from' and/or '--to'"}
		}
		return runF(o)
	}
}

// runCopy copies the closures of the arguments from one store to
// another: the source is --from (default the local store), the
// destination --to (default the local store). Either may be a binary
// cache (file:// or http(s)://, written with HTTP PUT as Nix does) or a
// local store.
// Paths from a binary cache are checked against trusted-public-keys
// unless --no-check-sigs or require-sigs = false.
func runCopy(ctx context.Context, o *CopyOptions) error {
	f := o.F
	cs, err := resolveCacheSettings(f, &o.Store)
	if err != nil {
		return err
	}
	// The local store (--store) is opened when one side needs it.
	var base *local.Store
	localStore := func() (*local.Store, error) {
		if base == nil {
			if base, err = openStore(ctx, f, &o.Store); err != nil {
				return nil, err
			}
		}
		return base, nil
	}
	var opened []*local.Store
	var disk *narinfocache.Cache
	defer func() {
		if disk != nil {
			disk.Close()
		}
		for _, st := range opened {
			st.Close()
		}
		if base != nil {
			base.Close()
		}
	}()
	openSide := func(spec string, dst bool) (store.Store, error) {
		if spec == "" {
			return localStore()
		}
		if isCacheURL(spec) {
			if dst {
				// No narinfo disk cache for the cache written to: its
				// "missing" answers (asked before each upload) would
				// hide the uploaded paths from later substitutions.
				c, _, err := openCache(ctx, f, spec, cacheStoreDir(f), cs, nil, !o.NoCheckSigs, true)
				return c, err
			}
			if disk == nil && !strings.HasPrefix(spec, "file://") {
				disk = openDiskCache(ctx, f, cs)
			}
			c, _, err := openCache(ctx, f, spec, cacheStoreDir(f), cs, disk, !o.NoCheckSigs, false)
			return c, err
		}
		flags := o.Store
		flags.Settings = append(slices.Clone(flags.Settings), Setting{Name: "store", Value: spec})
		st, err := openStore(ctx, f, &flags)
		if err != nil {
			return nil, err
		}
		opened = append(opened, st)
		return st, nil
	}
	src, err := openSide(o.From, false)
	if err != nil {
		return err
	}
	dst, err := openSide(o.To, true)
	if err != nil {
		return err
	}
	if src.Dir() != dst.Dir() {
		return fmt.Errorf("copy from '%s' to '%s': the stores have different store directories", o.From, o.To)
	}
	paths, err := copyArgs(ctx, f, src, o)
	if err != nil {
		return err
	}
	if c, ok := src.(*binarycache.Cache); ok {
		// A cache as the source: Substitute checks signatures, retries
		// and downloads in parallel.
		return c.Substitute(ctx, dst, paths)
	}
	return binarycache.Copy(ctx, src, dst, paths, binarycache.CopyOptions{})
}

// copyArgs turns the arguments into store paths of src: store paths (or
// symlinks to them) and, unless --derivation, a derivation stands for its
// outputs ("x.drv", "x.drv^out,dev"), which must be valid in src.
func copyArgs(ctx context.Context, f *Factory, src store.Store, o *CopyOptions) ([]storepath.Path, error) {
	var paths []storepath.Path
	for _, a := range o.Args {
		in, isDrv, err := parseDrvArg(f, src.Dir(), a)
		if err != nil {
			return nil, err
		}
		if !isDrv || o.Derivation {
			p, err := storePathArg(f, src.Dir(), a)
			if err != nil {
				return nil, err
			}
			paths = append(paths, p)
			continue
		}
		st, ok := src.(*local.Store)
		if !ok {
			return nil, fmt.Errorf("copy '%s': the outputs of a derivation can only be copied from a local store (use --derivation for the .drv itself)", a)
		}
		outs, err := st.QueryDerivationOutputs(ctx, in.drv)
		if err != nil {
			return nil, err
		}
		names := in.outputs
		if names == nil {
			for n := range outs {
				names = append(names, n)
			}
			slices.Sort(names)
		}
		for _, n := range names {
			p, ok := outs[n]
			if !ok {
				return nil, fmt.Errorf("derivation '%s' has no output '%s'", st.Dir().Print(in.drv), n)
			}
			valid, err := st.IsValid(ctx, p)
			if err != nil {
				return nil, err
			}
			if !valid {
				return nil, fmt.Errorf("output '%s' of '%s' is not valid; build it first (cairn build)", n, st.Dir().Print(in.drv))
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// cacheStoreDir is the store directory binary caches are for:
// NIX_STORE_DIR, else /nix/store.
func cacheStoreDir(f *Factory) storepath.Dir {
	if d := f.getenv("NIX_STORE_DIR"); d != "" {
		return storepath.Dir(strings.TrimRight(d, "/"))
	}
	return storepath.Dir("/nix/store")
}
