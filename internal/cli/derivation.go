package cli

import (
	"bufio"
	"context"
	"fmt"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

func derivationSubcommands() []subcommand {
	return []subcommand{
		{"show", "show the contents of store derivations as JSON", func(ctx context.Context, f *Factory, args []string) error {
			return newDerivationShowCmd(f, func(o *DerivationShowOptions) error { return runDerivationShow(ctx, o) })(args)
		}},
	}
}

// DerivationShowOptions are the flags of `cairn derivation show` (Nix
// 2.8's `nix show-derivation`).
type DerivationShowOptions struct {
	F         *Factory
	Store     StoreFlags
	Recursive bool // -r: every derivation in the closures
	Paths     []string
}

func newDerivationShowCmd(f *Factory, runF func(*DerivationShowOptions) error) func([]string) error {
	return func(args []string) error {
		o := &DerivationShowOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if arg == "-r" || arg == "--recursive" {
				o.Recursive = true
				continue
			}
			if err := storeArg(s, arg, &o.Store, &o.Paths); err != nil {
				return err
			}
		}
		return runF(o)
	}
}

// runDerivationShow prints the derivations of the given paths: a .drv
// path stands for itself, an output path for its deriver.
func runDerivationShow(ctx context.Context, o *DerivationShowOptions) error {
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		paths, err := validStorePaths(ctx, o.F, st, o.Paths)
		if err != nil {
			return err
		}
		var drvPaths []storepath.Path
		for _, p := range paths {
			if !p.IsDerivation() {
				info, err := st.QueryPathInfo(ctx, p)
				if err != nil {
					return err
				}
				if info.Deriver.IsZero() {
					return fmt.Errorf("'%s' does not have a known deriver", st.Dir().Print(p))
				}
				p = info.Deriver
			}
			drvPaths = append(drvPaths, p)
		}
		if o.Recursive {
			if drvPaths, err = store.Closure(ctx, st, drvPaths, store.ClosureOptions{}); err != nil {
				return err
			}
		}
		drvs := map[string]*derivation.Derivation{}
		for _, p := range drvPaths {
			if !p.IsDerivation() {
				continue
			}
			d, err := st.ReadDerivation(ctx, p)
			if err != nil {
				return err
			}
			drvs[st.Dir().Print(p)] = d
		}
		return derivation.WriteJSON(out, drvs)
	})
}
