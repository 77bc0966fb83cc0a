package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/lang/ast"
	"cairn/internal/store/local"
)

// RunOptions are the flags of `cairn run` (nix run).
type RunOptions struct {
	F     *Factory
	Eval  EvalFlags
	Build BuildFlags
	Inst  InstallableFlags
	// Args are the program's arguments: positional arguments after the
	// installable, and everything after "--".
	Args     []string
	ShowHelp bool
}

func newRunCmd(f *Factory, runF func(*RunOptions) error) func([]string) error {
	return func(args []string) error {
		o := &RunOptions{F: f, Build: BuildFlags{Cores: -1}}
		s := &argScanner{prog: f.Prog, args: args}
		var pos []string
		for s.more() {
			arg := s.next()
			if arg == "--" {
				for s.more() {
					o.Args = append(o.Args, s.next())
				}
				break
			}
			if ok, err := parseBuildOrInstallableFlag(s, arg, &o.Build, &o.Inst); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			default:
				if err := evalFlagOrArg(s, arg, &o.Eval, &pos); err != nil {
					return err
				}
			}
		}
		// The first positional argument is the installable (with -f, its
		// attribute), unless -E gives it; the rest go to the program.
		if len(pos) > 0 && len(o.Inst.Exprs) == 0 {
			o.Inst.Args, pos = pos[:1], pos[1:]
		}
		o.Args = append(pos, o.Args...)
		if !o.ShowHelp && len(o.Inst.Args) == 0 && len(o.Inst.Exprs) == 0 && o.Inst.File == "" {
			return &usageError{f.Prog, "'cairn run' needs an installable"}
		}
		return runF(o)
	}
}

const runHelp = `Usage: cairn run [options...] installable [--] [args...]

Builds the installable and runs its program, like nix run: the
executable bin/NAME of its output, where NAME is meta.mainProgram, else
pname, else the name without its version. Arguments after the
installable (all of them after "--") are passed to the program.
Installables as for cairn shell; build and evaluation flags as for
cairn build.
`

// runRun is `cairn run`.
func runRun(ctx context.Context, o *RunOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, runHelp)
		return err
	}
	var mainProgram string
	return withBuiltInstallables(ctx, f, &o.Eval, &o.Build, &o.Inst, func(st *local.Store, ins []resolvedInstallable, paths [][]storepath.Path, out *bufio.Writer) error {
		if len(ins) != 1 || len(paths[0]) == 0 {
			return fmt.Errorf("'cairn run' needs exactly one installable with an output, got %d", len(ins))
		}
		name, err := programName(ctx, st, ins[0], mainProgram)
		if err != nil {
			return err
		}
		prog := st.Dir().Print(paths[0][0]) + "/bin/" + name
		return runInStore(ctx, f, st, storeProgram{name: prog, args: o.Args, env: f.Environ})
	}, func(s *session) error {
		var err error
		mainProgram, err = evalMainProgram(s, &o.Inst)
		return err
	})
}

// programName is the program `cairn run` runs: meta.mainProgram (given
// by the evaluation, if any), else the derivation's pname, else its
// name without the version (Nix's DrvName).
func programName(ctx context.Context, st *local.Store, in resolvedInstallable, mainProgram string) (string, error) {
	if mainProgram != "" {
		return mainProgram, nil
	}
	if in.drv == (storepath.Path{}) {
		return drvNameName(in.path.Name()), nil
	}
	drv, err := st.ReadDerivation(ctx, in.drv)
	if err != nil {
		return "", err
	}
	if p := drv.Env["pname"]; p != "" {
		return p, nil
	}
	return drvNameName(drv.Env["name"]), nil
}

// drvNameName is the name part of a package name as Nix's DrvName splits
// it: everything before the first dash followed by a non-letter.
func drvNameName(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !(s[i+1] >= 'a' && s[i+1] <= 'z' || s[i+1] >= 'A' && s[i+1] <= 'Z') {
			return s[:i]
		}
	}
	return s
}

// evalMainProgram evaluates meta.mainProgram of the one installable of
// in, if it is an expression; "" if it has none.
func evalMainProgram(s *session, in *InstallableFlags) (string, error) {
	var src string
	fromExpr := false
	attr := ""
	switch {
	case len(in.Exprs) == 1:
		src, fromExpr = in.Exprs[0], true
	case in.File != "":
		src = in.File
	case len(in.Args) == 1 && !isStorePathArg(s.f, s.io.StoreDir(), in.Args[0]) && !strings.Contains(in.Args[0], ".drv"):
		src = in.Args[0]
	default:
		return "", nil
	}
	switch {
	case len(in.AttrPaths) == 1:
		attr = in.AttrPaths[0]
	case in.File != "" && len(in.Args) == 1:
		attr = in.Args[0]
	case len(in.AttrPaths) > 1:
		return "", nil
	}
	var name string
	err := s.run(func() error {
		autoArgs, err := s.autoArgs()
		if err != nil {
			return err
		}
		var e ast.Expr
		if fromExpr {
			e, err = s.ev.ParseString([]byte(src), "«string»", s.cwd)
		} else {
			e, err = (&processor{s: s}).parseFile(src)
		}
		if err != nil {
			return err
		}
		code, err := s.ev.CompileExpr(e)
		if err != nil {
			return err
		}
		root, err := s.ev.Eval(code)
		if err != nil {
			return err
		}
		v, err := findAlongAttrPath(s.ev, attr, autoArgs, root)
		if err != nil {
			return err
		}
		if v, err = s.ev.AutoCall(v, autoArgs); err != nil {
			return err
		}
		if v, err = s.ev.Force(v); err != nil || v.Kind() != eval.KAttrs {
			return err
		}
		meta, ok := v.AttrsV().Get(s.ev.Sym("meta"))
		if !ok {
			return nil
		}
		m, err := s.ev.Force(meta.Val)
		if err != nil || m.Kind() != eval.KAttrs {
			return err
		}
		name, err = attrString(s.ev, m.AttrsV(), "mainProgram", "")
		return err
	})
	return name, err
}
