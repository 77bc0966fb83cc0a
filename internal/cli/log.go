package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// LogOptions are the flags of `cairn log`.
type LogOptions struct {
	F         *Factory
	Eval      EvalFlags
	Args      []string // store paths, .drv paths, files or attribute paths
	File      string   // -f
	Exprs     []string // -E
	AttrPaths []string // -A
	ShowHelp  bool
}

func newLogCmd(f *Factory, runF func(*LogOptions) error) func([]string) error {
	return func(args []string) error {
		o := &LogOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "-f", "--file":
				o.File, err = s.value(arg)
			case "-E", "--expr":
				var e string
				e, err = s.value(arg)
				o.Exprs = append(o.Exprs, e)
			case "-A", "--attr":
				var a string
				a, err = s.value(arg)
				o.AttrPaths = append(o.AttrPaths, a)
			default:
				err = evalFlagOrArg(s, arg, &o.Eval, &o.Args)
			}
			if err != nil {
				return err
			}
		}
		return runF(o)
	}
}

const logHelp = `Usage: cairn log [options...] installables...

Prints the stored build log of each installable, like nix log: a .drv
path, an output path (or a link to one, such as ./result), or what
cairn build accepts (FILE -A ATTR, -f FILE ATTR, -E EXPR).
`

// runLog is `cairn log`.
func runLog(ctx context.Context, o *LogOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, logHelp)
		return err
	}
	return withSession(ctx, f, &o.Eval, storeReadWrite, func(s *session, out *bufio.Writer) error {
		st, err := s.io.Store()
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("build logs are kept by local stores (--store /some/dir or local?root=/some/dir)")
		}
		var drvs []storepath.Path
		var rest []string
		if o.File == "" && len(o.Exprs) == 0 {
			for _, a := range o.Args {
				p, ok, err := logStoreArg(ctx, f, st, a)
				if err != nil {
					return err
				}
				if ok {
					drvs = append(drvs, p)
				} else {
					rest = append(rest, a)
				}
			}
		} else {
			rest = o.Args
		}
		if len(rest) > 0 || o.File != "" || len(o.Exprs) > 0 {
			bo := &BuildOptions{F: f, Args: rest, File: o.File, Exprs: o.Exprs, AttrPaths: o.AttrPaths}
			ins, err := buildInstallables(s, st, bo)
			if err != nil {
				return err
			}
			for _, in := range ins {
				drvs = append(drvs, in.drv)
			}
		}
		for _, d := range drvs {
			if err := printBuildLog(st, d, out); err != nil {
				return err
			}
		}
		return nil
	})
}

// logStoreArg resolves a store path argument to the derivation whose log
// is wanted: a .drv path itself, or the deriver of an output path. It
// reports false for arguments that are not in the store.
func logStoreArg(ctx context.Context, f *Factory, st *local.Store, arg string) (storepath.Path, bool, error) {
	if in, ok, err := parseDrvArg(f, st.Dir(), arg); ok || err != nil {
		return in.drv, ok, err
	}
	abs, err := f.abs(arg)
	if err != nil {
		return storepath.Path{}, false, err
	}
	if !inStoreDir(st.Dir(), abs) {
		if _, ok := linkIntoStore(st.Dir(), abs); !ok {
			return storepath.Path{}, false, nil
		}
	}
	p, err := storePathArg(f, st.Dir(), arg)
	if err != nil {
		return p, false, err
	}
	info, err := st.QueryPathInfo(ctx, p)
	if err != nil {
		return p, false, err
	}
	if info == nil {
		return p, false, fmt.Errorf("path '%s' is not valid", st.Dir().Print(p))
	}
	if !info.Deriver.IsZero() {
		return info.Deriver, true, nil
	}
	ds, err := st.QueryValidDerivers(ctx, p)
	if err != nil {
		return p, false, err
	}
	if len(ds) == 0 {
		return p, false, fmt.Errorf("build log of '%s' is not available: it has no known deriver", st.Dir().Print(p))
	}
	return ds[0], true, nil
}

// printBuildLog copies the log of drv to w; Nix's bzip2-compressed logs
// are read too.
func printBuildLog(st *local.Store, drv storepath.Path, w io.Writer) error {
	r, err := st.OpenBuildLog(drv)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("build log of '%s' is not available", st.Dir().Print(drv))
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("reading build log of '%s': %w", st.Dir().Print(drv), err)
	}
	return nil
}
