package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"cairn/internal/eval"
)

// EvalOptions are the flags of `cairn eval` (like `nix eval` of Nix 2.8).
type EvalOptions struct {
	F    *Factory
	Eval EvalFlags

	Expr     string // --expr
	HaveExpr bool
	File     string // --file / -f
	// Args are positional: with --expr or --file, attribute paths; without,
	// a file name optionally followed by an attribute path.
	Args     []string
	AttrPath string // -A / --attr
	JSON     bool
	Raw      bool
	Apply    string // --apply FUNCTION
	ShowHelp bool
}

func newEvalCmd(f *Factory, runF func(*EvalOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &EvalOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			var err error
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "--expr", "-E":
				o.Expr, err = s.value(arg)
				o.HaveExpr = true
			case "--file", "-f":
				o.File, err = s.value(arg)
			case "--attr", "-A":
				o.AttrPath, err = s.value(arg)
			case "--apply":
				o.Apply, err = s.value(arg)
			case "--json":
				o.JSON = true
			case "--raw":
				o.Raw = true
			default:
				err = evalFlagOrArg(s, arg, &o.Eval, &o.Args)
			}
			if err != nil {
				return err
			}
		}
		if o.JSON && o.Raw {
			return &usageError{f.Prog, "'--json' and '--raw' are mutually exclusive"}
		}
		if o.HaveExpr && o.File != "" {
			return &usageError{f.Prog, "'--expr' and '--file' are mutually exclusive"}
		}
		return runF(o)
	}
}

const evalHelp = `Usage: cairn eval [options...] [--expr EXPR | --file FILE | FILE] [ATTRPATH]

Evaluates an expression (deeply) and prints its value as nix eval does:

  --expr EXPR, -E   the expression to evaluate
  --file FILE, -f   the file to evaluate (also: a FILE argument; - is stdin)
  ATTRPATH, -A P    select an attribute path (a.b.0.c) of the value
  --apply FUNC      apply the Nix function FUNC to the value first
  --json            print the value as JSON
  --raw             print a string value as it is, without quotes
  --arg, --argstr, -I, --show-trace, --max-call-depth, --option, --store,
  --cpuprofile F, --memprofile F, --compat current|2.8
`

func runEval(ctx context.Context, o *EvalOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, evalHelp)
		return err
	}
	file, attrPaths := o.File, o.Args
	if !o.HaveExpr && file == "" {
		if len(o.Args) == 0 {
			return &usageError{f.Prog, "nothing to evaluate: give --expr EXPR, --file FILE or a file name"}
		}
		file, attrPaths = o.Args[0], o.Args[1:]
	}
	if o.AttrPath != "" {
		attrPaths = append(attrPaths, o.AttrPath)
	}
	if len(attrPaths) > 1 {
		return &usageError{f.Prog, "too many arguments: expected at most one attribute path"}
	}
	attrPath := ""
	if len(attrPaths) == 1 {
		attrPath = attrPaths[0]
	}

	return withSession(ctx, f, &o.Eval, storeAuto, func(s *session, out *bufio.Writer) error {
		return evalAndPrint(s, out, o, file, attrPath)
	})
}

func evalAndPrint(s *session, out *bufio.Writer, o *EvalOptions, file, attrPath string) error {
	f := s.f
	return s.run(func() error {
		autoArgs, err := s.autoArgs()
		if err != nil {
			return err
		}
		var v eval.Value
		switch {
		case o.HaveExpr:
			v, err = s.ev.EvalString(o.Expr, "«string»", s.cwd)
		case file == "-":
			var src []byte
			if src, err = io.ReadAll(f.Stdin); err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
			v, err = s.ev.EvalString(string(src), "«stdin»", s.cwd)
		default:
			var p string
			if p, err = s.lookupFileArg(file); err != nil {
				return err
			}
			if p, err = s.io.ResolveExprPath(p); err != nil {
				return err
			}
			v, err = s.ev.EvalMainFile(p)
		}
		if err != nil {
			return err
		}
		if v, err = findAlongAttrPath(s.ev, attrPath, autoArgs, v); err != nil {
			return err
		}
		if o.Apply != "" {
			fn, err := s.ev.EvalString(o.Apply, "«string»", s.cwd)
			if err != nil {
				return err
			}
			if v, err = s.ev.Call(fn, v); err != nil {
				return err
			}
		}
		switch {
		case o.JSON:
			return s.ev.WriteJSON(out, v, true)
		case o.Raw:
			str, err := s.ev.CoerceToString(v)
			if err != nil {
				return err
			}
			_, err = io.WriteString(out, str)
			return err
		}
		if err := s.ev.ForceDeep(v); err != nil {
			return err
		}
		if err := s.ev.PrintAmbiguous(out, v); err != nil {
			return err
		}
		return out.WriteByte('\n')
	})
}
