package cli

import (
	"bufio"
	"context"
	"fmt"
	"slices"

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
	// With -f/-E/-A the arguments are installables, evaluated and
	// instantiated first (Eval holds --store and the other settings).
	Eval EvalFlags
	Inst InstallableFlags
}

func newDerivationShowCmd(f *Factory, runF func(*DerivationShowOptions) error) func([]string) error {
	return func(args []string) error {
		o := &DerivationShowOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		installables := slices.ContainsFunc(args, func(a string) bool {
			switch a {
			case "-f", "--file", "-E", "--expr", "-A", "--attr":
				return true
			}
			return false
		})
		for s.more() {
			arg := s.next()
			if arg == "-r" || arg == "--recursive" {
				o.Recursive = true
				continue
			}
			if !installables {
				if err := storeArg(s, arg, &o.Store, &o.Paths); err != nil {
					return err
				}
				continue
			}
			if ok, err := parseInstallableFlag(s, arg, &o.Inst); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			if err := evalFlagOrArg(s, arg, &o.Eval, &o.Inst.Args); err != nil {
				return err
			}
		}
		return runF(o)
	}
}

// runDerivationShow prints the derivations of the given paths: a .drv
// path stands for itself, an output path for its deriver.
func runDerivationShow(ctx context.Context, o *DerivationShowOptions) error {
	if o.Inst.File != "" || len(o.Inst.Exprs) > 0 || len(o.Inst.AttrPaths) > 0 {
		return withSession(ctx, o.F, &o.Eval, storeReadWrite, func(s *session, out *bufio.Writer) error {
			st, err := buildStore(s)
			if err != nil {
				return err
			}
			ins, err := resolveInstallables(ctx, s, st, &o.Inst)
			if err != nil {
				return err
			}
			var paths []storepath.Path
			for _, i := range ins {
				if !i.drv.IsZero() {
					paths = append(paths, i.drv)
				} else {
					paths = append(paths, i.path)
				}
			}
			return showDerivations(ctx, st, paths, o.Recursive, out)
		})
	}
	return withStore(ctx, o.F, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		paths, err := validStorePaths(ctx, o.F, st, o.Paths)
		if err != nil {
			return err
		}
		return showDerivations(ctx, st, paths, o.Recursive, out)
	})
}

// showDerivations prints the derivations of paths (a .drv stands for
// itself, an output path for its deriver) as Nix 2.8's show-derivation.
func showDerivations(ctx context.Context, st *local.Store, paths []storepath.Path, recursive bool, out *bufio.Writer) error {
	var err error
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
	if recursive {
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
}
