package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"

	"cairn/internal/eval"
	"cairn/internal/lang/ast"
)

// OutputKind selects how `instantiate --eval` prints values.
type OutputKind uint8

// Output kinds.
const (
	OutputPlain OutputKind = iota
	OutputXML
	OutputJSON
)

// InstantiateOptions are nix-instantiate's flags.
type InstantiateOptions struct {
	F    *Factory
	Eval EvalFlags

	Files       []string // file names, or expressions with FromArgs
	ReadStdin   bool     // "-": parse standard input («stdin»)
	FromArgs    bool     // -E / --expr: Files are expressions
	EvalOnly    bool     // --eval
	ParseOnly   bool     // --parse: print the AST
	FindFile    bool     // --find-file
	ReadWrite   bool     // --read-write-mode
	Output      OutputKind
	Location    bool     // XML output carries source locations (--no-location clears)
	Strict      bool     // --strict
	AttrPaths   []string // -A / --attr
	AddRoot     string   // --add-root
	DryRun      bool     // --dry-run
	Repair      bool     // --repair
	ShowHelp    bool
	ShowVersion bool

	// parseJobs is how many goroutines --parse parses files on (-1: one
	// per CPU; 0: one file at a time, parsed and printed by the
	// evaluator's goroutine). It comes from $CAIRN_PARSE_JOBS, for
	// benchmarks and tests.
	parseJobs int
}

// newInstantiateCmd returns the function that parses nix-instantiate's
// command line into InstantiateOptions and calls runF.
func newInstantiateCmd(f *Factory, runF func(*InstantiateOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &InstantiateOptions{F: f, Location: true, parseJobs: -1}
		if v, ok := f.Getenv("CAIRN_PARSE_JOBS"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("CAIRN_PARSE_JOBS=%s: want a number of goroutines (0: none)", v)
			}
			o.parseJobs = n
		}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			switch arg {
			case "--help":
				o.ShowHelp = true
			case "--version":
				o.ShowVersion = true
			case "-":
				o.ReadStdin = true
			case "--expr", "-E":
				o.FromArgs = true
			case "--eval", "--eval-only":
				o.EvalOnly = true
			case "--read-write-mode":
				o.ReadWrite = true
			case "--parse", "--parse-only":
				o.ParseOnly, o.EvalOnly = true, true
			case "--find-file":
				o.FindFile = true
			case "--attr", "-A":
				v, err := s.legacyValue(arg)
				if err != nil {
					return err
				}
				o.AttrPaths = append(o.AttrPaths, v)
			case "--add-root":
				v, err := s.legacyValue(arg)
				if err != nil {
					return err
				}
				o.AddRoot = v
			case "--indirect":
			case "--xml":
				o.Output = OutputXML
			case "--json":
				o.Output = OutputJSON
			case "--no-location":
				o.Location = false
			case "--strict":
				o.Strict = true
			case "--repair":
				o.Repair = true
			case "--dry-run":
				o.DryRun = true
			default:
				if err := evalFlagOrArg(s, arg, &o.Eval, &o.Files); err != nil {
					return err
				}
			}
		}
		return runF(o)
	}
}

const instantiateHelp = `Usage: cairn instantiate [options...] [files...]

Evaluates Nix expressions and instantiates the derivations they describe,
with nix-instantiate's flags and output:

  --eval            print the value instead of instantiating derivations
  --parse           print the parsed expression (nix-instantiate --parse)
  --strict          evaluate the value fully (with --eval)
  --json, --xml     print the value as JSON or XML
  --no-location     omit source locations from XML output
  -E, --expr        the arguments are expressions, not file names
  -                 read the expression from standard input
  -A, --attr PATH   select an attribute (a.b.0.c)
  --arg NAME EXPR   pass NAME = EXPR to the expression if it is a function
  --argstr NAME S   pass NAME = "S"
  -I PATH           add PATH (or prefix=PATH) to the search path (<...>)
  --add-root PATH   register a GC root for each .drv
  --read-write-mode write to the store while evaluating (--eval)
  --show-trace      print the full evaluation trace on errors
  --max-call-depth N, --option NAME VALUE, --store URL
  --cpuprofile F, --memprofile F   write Go profiles
  --compat current|2.8             Nix behaviour to follow (default current)

--parse parses the files on one goroutine per CPU and prints them in order;
CAIRN_PARSE_JOBS=N sets the number of goroutines (0: one file at a time).
`

// runInstantiate is nix-instantiate's main.
func runInstantiate(ctx context.Context, o *InstantiateOptions) error {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, instantiateHelp)
		return err
	}
	if o.ShowVersion {
		_, err := fmt.Fprintln(f.Stdout, "nix-instantiate (cairn) 2.8.0")
		return err
	}
	mode := storeReadWrite
	if (o.EvalOnly && !o.ReadWrite) || o.DryRun {
		mode = storeReadOnly
	}
	attrPaths := o.AttrPaths
	if len(attrPaths) == 0 {
		attrPaths = []string{""}
	}
	return withSession(ctx, f, &o.Eval, mode, func(s *session, out *bufio.Writer) error {
		if !o.EvalOnly && mode == storeReadWrite {
			// The .drv files get their rows in one transaction per
			// installable, before its paths are printed.
			s.io.DeferDerivations()
		}
		return instantiate(s, out, o, attrPaths)
	})
}

func instantiate(s *session, out *bufio.Writer, o *InstantiateOptions, attrPaths []string) error {
	f := s.f
	return s.run(func() error {
		autoArgs, err := s.autoArgs()
		if err != nil {
			return err
		}
		if o.FindFile {
			for _, file := range o.Files {
				v, err := s.ev.EvalString("<"+file+">", "«string»", s.cwd)
				if err != nil {
					return err
				}
				fmt.Fprintln(out, v.Str())
			}
			return nil
		}
		p := &processor{s: s, o: o, out: out, autoArgs: autoArgs, attrPaths: attrPaths}
		files := o.Files
		if o.ReadStdin {
			src, err := io.ReadAll(f.Stdin)
			if err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
			e, err := s.ev.ParseString(src, "«stdin»", s.cwd)
			if err != nil {
				return err
			}
			if err := p.process(e); err != nil {
				return err
			}
		} else if len(files) == 0 && !o.FromArgs {
			files = []string{"./default.nix"}
		}
		if o.ParseOnly && !o.FromArgs && o.parseJobs != 0 {
			jobs := o.parseJobs
			if jobs < 0 {
				jobs = runtime.GOMAXPROCS(0)
			}
			return p.parseFiles(files, jobs)
		}
		for _, file := range files {
			var e ast.Expr
			if o.FromArgs {
				e, err = s.ev.ParseString([]byte(file), "«string»", s.cwd)
			} else {
				e, err = p.parseFile(file)
			}
			if err != nil {
				return err
			}
			if err := p.process(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// processor is nix-instantiate's processExpr with its settings.
type processor struct {
	s         *session
	o         *InstantiateOptions
	out       *bufio.Writer
	autoArgs  map[string]eval.Value
	attrPaths []string
	rootNr    int
	warned    bool
	showBuf   []byte // --parse output, reused
}

func (p *processor) parseFile(file string) (ast.Expr, error) {
	s := p.s
	abs, err := s.lookupFileArg(file)
	if err != nil {
		return nil, err
	}
	path, err := s.io.ResolveExprPath(abs)
	if err != nil {
		return nil, err
	}
	src, err := s.io.ReadFile(path)
	if err != nil {
		if _, lerr := s.io.Lstat(path); lerr != nil {
			return nil, &eval.EvalError{Msg: fmt.Sprintf("path '%s' does not exist", path)}
		}
		return nil, err
	}
	return s.ev.ParseString(src, path, filepath.Dir(path))
}

func (p *processor) process(e ast.Expr) error {
	s, o := p.s, p.o
	if o.ParseOnly {
		if err := s.ev.CheckExpr(e); err != nil {
			return err
		}
		p.showBuf = append(ast.AppendShow(p.showBuf[:0], e), '\n')
		_, err := p.out.Write(p.showBuf)
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
	for _, ap := range p.attrPaths {
		v, err := findAlongAttrPath(s.ev, ap, p.autoArgs, root)
		if err != nil {
			return err
		}
		if v, err = s.ev.Force(v); err != nil {
			return err
		}
		if o.EvalOnly {
			if err := p.printValue(v); err != nil {
				return err
			}
			continue
		}
		if err := p.printDerivations(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *processor) printValue(v eval.Value) error {
	s, o := p.s, p.o
	var err error
	if len(p.autoArgs) > 0 {
		if v, err = s.ev.AutoCall(v, p.autoArgs); err != nil {
			return err
		}
	}
	switch o.Output {
	case OutputXML:
		x, _, err := s.ev.ToXML(v, o.Strict, o.Location)
		if err != nil {
			return err
		}
		_, err = io.WriteString(p.out, x)
		return err
	case OutputJSON:
		if err := s.ev.WriteJSON(p.out, v, o.Strict); err != nil {
			return err
		}
		if s.nix28 {
			return nil // Nix 2.8 ends the JSON without a newline
		}
		return p.out.WriteByte('\n')
	}
	if o.Strict {
		if err := s.ev.ForceDeep(v); err != nil {
			return err
		}
	}
	if err := s.ev.PrintAmbiguous(p.out, v); err != nil {
		return err
	}
	return p.out.WriteByte('\n')
}

func (p *processor) printDerivations(v eval.Value) error {
	s := p.s
	var drvs []drvInfo
	if err := getDerivations(s.ev, v, "", p.autoArgs, &drvs, map[*eval.Attrs]bool{}); err != nil {
		return err
	}
	if err := s.io.Sync(s.ctx); err != nil {
		return err
	}
	for _, d := range drvs {
		if d.outputName == "" {
			return fmt.Errorf("derivation '%s' lacks an 'outputName' attribute", d.drvPath)
		}
		shown := d.drvPath
		if p.o.AddRoot == "" {
			if !p.warned {
				p.warned = true
				fmt.Fprintln(p.s.f.Stderr, "warning: you did not specify '--add-root'; the result might be removed by the garbage collector")
			}
		} else {
			root, err := s.f.abs(p.o.AddRoot)
			if err != nil {
				return err
			}
			p.rootNr++
			if p.rootNr > 1 {
				root += "-" + strconv.Itoa(p.rootNr)
			}
			st, err := s.io.Store()
			if err != nil {
				return err
			}
			if st != nil {
				sp, err := st.ParsePath(d.drvPath)
				if err != nil {
					return err
				}
				if err := st.AddPermRoot(s.ctx, sp, root); err != nil {
					return err
				}
				shown = root
			}
		}
		if d.outputName != "out" {
			shown += "!" + d.outputName
		}
		if _, err := fmt.Fprintln(p.out, shown); err != nil {
			return err
		}
	}
	return nil
}
