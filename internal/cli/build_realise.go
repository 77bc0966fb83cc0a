package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// RealiseOptions are the flags of `cairn store realise` (nix-store -r).
type RealiseOptions struct {
	F        *Factory
	Store    StoreFlags
	Build    BuildFlags
	Paths    []string // store paths; .drv paths (x.drv!out) are built
	AddRoot  string   // --add-root
	DryRun   bool
	ShowHelp bool
}

func newRealiseCmd(f *Factory, runF func(*RealiseOptions) error) func([]string) error {
	return func(args []string) error {
		o := &RealiseOptions{F: f, Build: BuildFlags{Cores: -1}}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			if ok, err := parseBuildFlag(s, arg, &o.Build); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			var err error
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "--add-root":
				o.AddRoot, err = s.value(arg)
			case "--indirect":
			case "--dry-run":
				o.DryRun = true
			default:
				err = storeArg(s, arg, &o.Store, &o.Paths)
			}
			if err != nil {
				return err
			}
		}
		return runF(o)
	}
}

const realiseHelp = `Usage: cairn store realise [options...] paths...

Makes store paths valid, like nix-store -r: the outputs of derivations
(/nix/store/x.drv, or x.drv!out for one output) are built with their
inputs, and their paths printed. Takes cairn build's build flags
(-j, --cores, -k, -K, --check, --timeout, --max-silent-time,
--log-format, --option sandbox false) and --add-root PATH.
`

// runRealise is `cairn store realise`.
func runRealise(ctx context.Context, o *RealiseOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, realiseHelp)
		return err
	}
	return withStore(ctx, f, &o.Store, func(st *local.Store, out *bufio.Writer) error {
		var ins []installable
		var plain []storepath.Path
		for _, a := range o.Paths {
			in, ok, err := parseDrvArg(f, st.Dir(), a)
			if err != nil {
				return err
			}
			if ok {
				ins = append(ins, in)
				continue
			}
			p, err := storePathArg(f, st.Dir(), a)
			if err != nil {
				return err
			}
			valid, err := st.IsValid(ctx, p)
			if err != nil {
				return err
			}
			if !valid {
				if err := substitutePlainPath(ctx, f, &o.Store, st, p); err != nil { // substitute.go
					return err
				}
			}
			plain = append(plain, p)
		}
		if o.DryRun {
			for _, in := range ins {
				fmt.Fprintf(out, "%s\n", st.Dir().Print(in.drv))
			}
			return nil
		}
		if len(ins) > 0 {
			bl, err := newBuilder(f, st, &o.Store, &o.Build)
			if err != nil {
				return err
			}
			drvs := make([]storepath.Path, len(ins))
			for i, in := range ins {
				drvs[i] = in.drv
			}
			if _, err := bl.realise(ctx, drvs, o.Build.Check); err != nil {
				return err
			}
		}
		var results []storepath.Path
		for _, in := range ins {
			names, outs, err := builtOutputs(ctx, st, in)
			if err != nil {
				return err
			}
			for _, n := range names {
				results = append(results, outs[n])
			}
		}
		results = append(results, plain...)
		for i, p := range results {
			shown := st.Dir().Print(p)
			if o.AddRoot != "" {
				root, err := f.abs(o.AddRoot)
				if err != nil {
					return err
				}
				if i > 0 {
					root += "-" + strconv.Itoa(i)
				}
				if err := st.AddPermRoot(ctx, p, root); err != nil {
					return err
				}
				shown = root
			}
			fmt.Fprintln(out, shown)
		}
		return nil
	})
}
