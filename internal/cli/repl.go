package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/term"

	"cairn/internal/eval"
	"cairn/internal/eval/numfmt"
	"cairn/internal/lang/ast"
)

// ReplOptions are the flags of `cairn repl`.
type ReplOptions struct {
	F     *Factory
	Eval  EvalFlags
	Files []string // files to :load at start
	// HistoryFile overrides the history location ("" : default; "-" : none).
	HistoryFile string
	ShowHelp    bool
}

func newReplCmd(f *Factory, runF func(*ReplOptions) error) func(args []string) error {
	return func(args []string) error {
		o := &ReplOptions{F: f}
		s := &argScanner{prog: f.Prog, args: args}
		for s.more() {
			arg := s.next()
			switch arg {
			case "--help", "-h":
				o.ShowHelp = true
			case "--history":
				v, err := s.value(arg)
				if err != nil {
					return err
				}
				o.HistoryFile = v
			default:
				if err := evalFlagOrArg(s, arg, &o.Eval, &o.Files); err != nil {
					return err
				}
			}
		}
		return runF(o)
	}
}

const replHelp = `The following commands are available:

  <expr>        Evaluate and print expression
  <x> = <expr>  Bind expression to variable
  :a <expr>     Add attributes from resulting set to scope
  :l <path>     Load Nix expression and add it to scope
  :p <expr>     Evaluate and print expression recursively
  :r            Reload all files (in a fresh evaluator; variables are reset)
  :t <expr>     Describe result of evaluation
  :?            Brings up this help menu
  :q            Exit the repl
`

// runRepl runs the read-eval-print loop: on a terminal with line editing,
// persistent history and tab completion; otherwise reading lines from
// standard input without prompts (scripts and tests).
func runRepl(ctx context.Context, o *ReplOptions) (err error) {
	f := o.F
	if o.ShowHelp {
		_, err := io.WriteString(f.Stdout, "Usage: cairn repl [options...] [files...]\n\n"+replHelp)
		return err
	}
	newS := func() (*session, error) { return newSession(ctx, f, &o.Eval, storeAuto) }
	s, err := newS()
	if err != nil {
		return err
	}
	r := &repl{s: s, newSession: newS, vars: map[string]eval.Value{}}
	defer func() {
		if cerr := r.s.close(); err == nil {
			err = cerr
		}
	}()
	in, isFile := f.Stdin.(*os.File)
	outFile, outIsFile := f.Stdout.(*os.File)
	if isFile && outIsFile && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(outFile.Fd())) {
		return r.runTerminal(ctx, in, outFile, o)
	}
	return r.runLines(ctx, o)
}

// repl is the state of one REPL session: the session and the variables
// bound so far.
type repl struct {
	s          *session
	newSession func() (*session, error) // for :r
	vars       map[string]eval.Value
	names      []string // variable names, in the order they were first bound
	globs      []string // global names of the base environment (for completion)
	loaded     []string // files loaded with :l, for :r
	out        io.Writer
	errOut     io.Writer // errors: standard error, or the terminal
}

func (r *repl) runLines(ctx context.Context, o *ReplOptions) error {
	r.out, r.errOut = r.s.f.Stdout, r.s.f.Stderr
	if err := r.loadFiles(o.Files); err != nil {
		return err
	}
	sc := bufio.NewScanner(r.s.f.Stdin)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var pending string
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line := sc.Text()
		if pending != "" {
			line = pending + "\n" + line
		}
		quit, incomplete := r.handle(line)
		if quit {
			return nil
		}
		pending = ""
		if incomplete {
			pending = line
		}
	}
	if pending != "" {
		r.handle(pending + "\n")
	}
	return sc.Err()
}

func (r *repl) runTerminal(ctx context.Context, in, out *os.File, o *ReplOptions) error {
	state, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return fmt.Errorf("setting up the terminal: %w", err)
	}
	defer term.Restore(int(in.Fd()), state)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "nix-repl> ")
	if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h)
	}
	r.out, r.errOut = t, t
	hist, herr := openHistory(r.s.f, o.HistoryFile)
	if herr != nil {
		fmt.Fprintf(t, "warning: %v\n", herr)
	}
	if hist != nil {
		t.History = hist
		defer hist.close()
	}
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		switch key {
		case 3: // Ctrl-C clears the line
			fmt.Fprintln(t, "^C")
			return "", 0, true
		case '\t':
			return r.complete(t, line, pos)
		}
		return "", 0, false
	}
	fmt.Fprintf(t, "Welcome to cairn (the Nix language, in Go). Type :? for help.\n\n")
	if err := r.loadFiles(o.Files); err != nil {
		fmt.Fprint(r.errOut, r.errorText(err))
	}
	var pending string
	for {
		if ctx.Err() != nil {
			return nil
		}
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(t)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading input: %w", err)
		}
		if pending != "" {
			line = pending + "\n" + line
		}
		quit, incomplete := r.handle(line)
		if quit {
			return nil
		}
		pending = ""
		t.SetPrompt("nix-repl> ")
		if incomplete {
			pending = line
			t.SetPrompt("          ")
		}
	}
}

func (r *repl) loadFiles(files []string) error {
	for _, file := range files {
		if _, _, err := r.command(":l " + file); err != nil {
			return err
		}
	}
	return nil
}

// handle runs one input line. It reports whether to quit, and whether the
// input is an incomplete expression (parse error at the end of input) for
// which more lines should be read.
func (r *repl) handle(line string) (quit, incomplete bool) {
	quit, printed, err := r.command(line)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "unexpected end of file") && !strings.HasSuffix(line, "\n") {
			return false, true
		}
		fmt.Fprint(r.errOut, r.errorText(err))
		return false, false
	}
	if printed {
		fmt.Fprintln(r.out)
	}
	return quit, false
}

func (r *repl) errorText(err error) string {
	return eval.FormatError(r.s.ev.FileSet(), err, r.s.cfg.showTrace)
}

// command executes one input. printed reports that a value was printed
// (followed by a blank line, as Nix does).
func (r *repl) command(line string) (quit, printed bool, err error) {
	line = strings.TrimLeft(line, " \t")
	if strings.TrimSpace(line) == "" {
		return false, false, nil
	}
	if line[0] == ':' {
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch cmd {
		case ":q", ":quit":
			return true, false, nil
		case ":?", ":help":
			_, err := io.WriteString(r.out, replHelp)
			return false, false, err
		case ":r", ":reload":
			return false, false, r.reload()
		case ":l", ":load":
			r.loaded = append(r.loaded, arg)
			err := r.s.run(func() error {
				p, err := r.s.lookupFileArg(arg)
				if err != nil {
					return err
				}
				if p, err = r.s.io.ResolveExprPath(p); err != nil {
					return err
				}
				v, err := r.s.ev.EvalMainFile(p)
				if err != nil {
					return err
				}
				args, err := r.s.autoArgs()
				if err != nil {
					return err
				}
				if v, err = r.s.ev.AutoCall(v, args); err != nil {
					return err
				}
				return r.addAttrs(v)
			})
			return false, false, err
		case ":a", ":add":
			err := r.withValue(arg, r.addAttrs)
			return false, false, err
		case ":p", ":print":
			err := r.withValue(arg, func(v eval.Value) error {
				if err := r.s.ev.ForceDeep(v); err != nil {
					return err
				}
				return r.printValue(v, 1<<30)
			})
			return false, err == nil, err
		case ":t", ":type":
			err := r.withValue(arg, func(v eval.Value) error {
				v, err := r.s.ev.Force(v)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(r.out, v.TypeName())
				return err
			})
			return false, err == nil, err
		}
		return false, false, fmt.Errorf("unknown command '%s'", cmd)
	}
	if name, expr, ok := splitBinding(line); ok {
		err := r.s.run(func() error {
			v, err := r.eval(expr, true)
			if err != nil {
				return err
			}
			r.bind(name, v)
			return nil
		})
		return false, false, err
	}
	err = r.withValue(line, func(v eval.Value) error { return r.printValue(v, 1) })
	return false, err == nil, err
}

// reload is :r: a fresh evaluator (so changed files, imported ones too,
// are read again), no variables, and the files loaded so far loaded again.
func (r *repl) reload() error {
	s, err := r.newSession()
	if err != nil {
		return err
	}
	if err := r.s.close(); err != nil {
		fmt.Fprintf(r.errOut, "warning: %v\n", err)
	}
	r.s, r.vars, r.names, r.globs = s, map[string]eval.Value{}, nil, nil
	files := r.loaded
	r.loaded = nil
	return r.loadFiles(files)
}

// withValue evaluates src in the REPL scope and passes the value to fn.
func (r *repl) withValue(src string, fn func(eval.Value) error) error {
	return r.s.run(func() error {
		v, err := r.eval(src, false)
		if err != nil {
			return err
		}
		return fn(v)
	})
}

// printValue prints v (forced down to maxDepth) and a newline.
func (r *repl) printValue(v eval.Value, maxDepth int) error {
	s, err := r.show(v, maxDepth)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(r.out, s)
	return err
}

// splitBinding recognises "name = expr" (but not "a == b").
func splitBinding(line string) (name, expr string, ok bool) {
	i := strings.IndexByte(line, '=')
	if i <= 0 || (i+1 < len(line) && line[i+1] == '=') {
		return "", "", false
	}
	name = strings.TrimSpace(line[:i])
	if !isIdent(name) {
		return "", "", false
	}
	return name, line[i+1:], true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '\'' || c == '-'):
		default:
			return false
		}
	}
	switch s {
	case "if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or":
		return false
	}
	return true
}

func (r *repl) bind(name string, v eval.Value) {
	if _, ok := r.vars[name]; !ok {
		r.names = append(r.names, name)
	}
	r.vars[name] = v
}

func (r *repl) addAttrs(v eval.Value) error {
	v, err := r.s.ev.Force(v)
	if err != nil {
		return err
	}
	if v.Kind() != eval.KAttrs {
		return &eval.EvalError{Msg: fmt.Sprintf("expected a set but found %s", v.TypeName())}
	}
	n := 0
	for _, a := range v.AttrsV().All() {
		r.bind(r.s.ev.SymName(a.Name), a.Val)
		n++
	}
	_, err = fmt.Fprintf(r.out, "Added %d variables.\n", n)
	return err
}

// replScope names the argument through which REPL variables reach an
// expression; it cannot clash with a Nix identifier a user types.
const replScope = "«repl»"

// eval evaluates src with the REPL variables in scope, as lexical
// bindings (so they shadow globals, like Nix's REPL). With lazy set it
// returns an unevaluated thunk, for "x = expr".
func (r *repl) eval(src string, lazy bool) (eval.Value, error) {
	ev := r.s.ev
	e, err := ev.ParseString([]byte(src), "«string»", r.s.cwd)
	if err != nil {
		return eval.Value{}, err
	}
	if lazy {
		e = &ast.List{Elems: []ast.Expr{e}}
	}
	if len(r.vars) > 0 {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range r.vars {
				if !yield(n) {
					return
				}
			}
		})
		defs := make([]*ast.AttrDef, len(names))
		for i, n := range names {
			defs[i] = &ast.AttrDef{Name: n, Value: &ast.Select{X: &ast.Var{Name: replScope}, Path: []ast.AttrName{{Name: n}}}}
		}
		e = &ast.Lambda{
			Arg:     replScope,
			Formals: &ast.Formals{Ellipsis: true},
			Body:    &ast.Let{Attrs: &ast.Attrs{Attrs: defs}, Body: e},
		}
	}
	code, err := ev.CompileExpr(e)
	if err != nil {
		return eval.Value{}, err
	}
	v, err := ev.Eval(code)
	if err != nil {
		return eval.Value{}, err
	}
	if len(r.vars) > 0 {
		if v, err = ev.AutoCall(v, r.vars); err != nil {
			return eval.Value{}, err
		}
	}
	if lazy {
		return v.ListV()[0], nil
	}
	return v, nil
}

// show prints v as Nix 2.8's REPL does: values are forced down to
// maxDepth; deeper sets and lists print as { ... } and [ ... ];
// derivations as «derivation /nix/store/…drv».
func (r *repl) show(v eval.Value, maxDepth int) (string, error) {
	var b strings.Builder
	seen := map[*eval.Attrs]bool{}
	err := r.print(&b, v, 0, maxDepth, seen)
	return b.String(), err
}

func (r *repl) print(b *strings.Builder, v eval.Value, depth, maxDepth int, seen map[*eval.Attrs]bool) error {
	ev := r.s.ev
	v, err := ev.Force(v)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case eval.KInt:
		b.WriteString(strconv.FormatInt(v.IntV(), 10))
	case eval.KFloat:
		b.WriteString(numfmt.FormatFloatEval(v.FloatV()))
	case eval.KBool:
		b.WriteString(strconv.FormatBool(v.BoolV()))
	case eval.KNull:
		b.WriteString("null")
	case eval.KString:
		b.WriteString(ast.QuoteString(v.Str()))
	case eval.KPath:
		b.WriteString(v.Str())
	case eval.KAttrs:
		a := v.AttrsV()
		if ok, _ := isDerivation(ev, v); ok {
			p := "???"
			if d, ok := a.Get(ev.Sym("drvPath")); ok {
				if s, err := ev.CoerceToString(d.Val); err == nil {
					p = s
				}
			}
			b.WriteString("«derivation " + p + "»")
			return nil
		}
		if seen[a] {
			b.WriteString("«repeated»")
			return nil
		}
		if depth >= maxDepth {
			b.WriteString("{ ... }")
			return nil
		}
		seen[a] = true
		attrs := slices.Clone(a.All())
		slices.SortFunc(attrs, func(x, y eval.Attr) int { return strings.Compare(ev.SymName(x.Name), ev.SymName(y.Name)) })
		b.WriteString("{ ")
		for _, at := range attrs {
			b.WriteString(string(ast.AppendIdentifier(nil, ev.SymName(at.Name))) + " = ")
			if err := r.print(b, at.Val, depth+1, maxDepth, seen); err != nil {
				return err
			}
			b.WriteString("; ")
		}
		b.WriteString("}")
		delete(seen, a)
	case eval.KList:
		if depth >= maxDepth {
			b.WriteString("[ ... ]")
			return nil
		}
		b.WriteString("[ ")
		for _, x := range v.ListV() {
			if err := r.print(b, x, depth+1, maxDepth, seen); err != nil {
				return err
			}
			b.WriteString(" ")
		}
		b.WriteString("]")
	case eval.KLambda:
		b.WriteString("«lambda»")
	case eval.KPrimop:
		b.WriteString("«primop»")
	case eval.KPrimopApp:
		b.WriteString("«primop-app»")
	default:
		b.WriteString("«unknown»")
	}
	return nil
}

// complete handles TAB: the word before the cursor is completed as a
// variable name, or after the last '.' as an attribute of the expression
// before it ("foo.ba" → the attributes of foo starting with "ba").
func (r *repl) complete(t io.Writer, line string, pos int) (string, int, bool) {
	start := pos
	for start > 0 && isWordByte(line[start-1]) {
		start--
	}
	word := line[start:pos]
	var cands []string
	prefix := word
	if i := strings.LastIndexByte(word, '.'); i >= 0 {
		base, p := word[:i], word[i+1:]
		prefix = p
		names, err := r.attrNames(base)
		if err != nil {
			return "", 0, false
		}
		for _, n := range names {
			if strings.HasPrefix(n, p) {
				cands = append(cands, word[:i+1]+n)
			}
		}
	} else {
		for _, n := range r.variables() {
			if strings.HasPrefix(n, word) {
				cands = append(cands, n)
			}
		}
	}
	_ = prefix
	slices.Sort(cands)
	cands = slices.Compact(cands)
	switch len(cands) {
	case 0:
		return "", 0, false
	case 1:
		nl := line[:start] + cands[0] + line[pos:]
		return nl, start + len(cands[0]), true
	}
	common := cands[0]
	for _, c := range cands[1:] {
		for !strings.HasPrefix(c, common) {
			common = common[:len(common)-1]
		}
	}
	if len(common) > len(word) {
		return line[:start] + common + line[pos:], start + len(common), true
	}
	fmt.Fprintln(t, strings.Join(cands, "  "))
	return line, pos, true
}

func isWordByte(c byte) bool {
	return c == '.' || c == '_' || c == '\'' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// attrNames evaluates expr (a variable or attribute path) and returns the
// names of its attributes.
func (r *repl) attrNames(expr string) ([]string, error) {
	var names []string
	err := r.s.run(func() error {
		v, err := r.eval(expr, false)
		if err != nil {
			return err
		}
		if v, err = r.s.ev.Force(v); err != nil {
			return err
		}
		if v.Kind() != eval.KAttrs {
			return errors.New("not a set")
		}
		for _, a := range v.AttrsV().All() {
			names = append(names, r.s.ev.SymName(a.Name))
		}
		return nil
	})
	return names, err
}

// variables returns the names in scope: REPL variables and the globals of
// the base environment (found by compiling each builtin's name).
func (r *repl) variables() []string {
	if r.globs == nil {
		r.globs = []string{"builtins"}
		ev := r.s.ev
		b, _ := ev.Force(ev.Builtins())
		for _, a := range b.AttrsV().All() {
			n := ev.SymName(a.Name)
			if _, err := ev.CompileExpr(&ast.Var{Name: n}); err == nil && n != "builtins" {
				r.globs = append(r.globs, n)
			}
		}
	}
	return append(slices.Clone(r.names), r.globs...)
}

// history is a term.History backed by a file: lines are loaded at start
// and appended as they are entered.
type history struct {
	lines []string // oldest first
	f     *os.File
}

const historyMax = 1000

// openHistory opens the history file: $XDG_DATA_HOME/cairn/repl-history,
// or ~/.local/share/cairn/repl-history.
func openHistory(f *Factory, file string) (*history, error) {
	if file == "-" {
		return nil, nil
	}
	if file == "" {
		dir := f.getenv("XDG_DATA_HOME")
		if dir == "" {
			home := f.getenv("HOME")
			if home == "" {
				return nil, errors.New("no HOME: repl history is not saved")
			}
			dir = filepath.Join(home, ".local", "share")
		}
		file = filepath.Join(dir, "cairn", "repl-history")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("repl history: %w", err)
	}
	h := &history{}
	if b, err := os.ReadFile(file); err == nil {
		h.lines = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(h.lines) == 1 && h.lines[0] == "" {
			h.lines = nil
		}
		if len(h.lines) > historyMax {
			h.lines = h.lines[len(h.lines)-historyMax:]
		}
	}
	fh, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return h, fmt.Errorf("repl history: %w", err)
	}
	h.f = fh
	return h, nil
}

func (h *history) Add(entry string) {
	if entry == "" || strings.Contains(entry, "\n") || (len(h.lines) > 0 && h.lines[len(h.lines)-1] == entry) {
		return
	}
	h.lines = append(h.lines, entry)
	if h.f != nil {
		fmt.Fprintln(h.f, entry)
	}
}

func (h *history) Len() int { return len(h.lines) }

func (h *history) At(i int) string { return h.lines[len(h.lines)-1-i] }

func (h *history) close() {
	if h.f != nil {
		h.f.Close()
	}
}
