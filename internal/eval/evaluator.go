package eval

import (
	"errors"
	"io"
	"path"
	"strings"

	"cairn/internal/eval/spell"
	"cairn/internal/lang/ast"
	"cairn/internal/lang/token"
)

// Evaluator evaluates Nix expressions. It is not safe for concurrent use;
// run all calls from one goroutine (see Run).
type Evaluator struct {
	opts     Options
	syms     *symtab
	fset     *token.FileSet
	maxDepth int
	depth    int
	nest     int // nested calls and thunk forces (for stack hops)
	hopBase  int
	stats    Stats
	stk      []Value    // primop argument stack
	lambdas  []*eLambda // by id (lambda values carry the id)

	baseEnv   *Env
	baseScope *scope
	// checkNames is CheckExpr's count of names in scope, kept between
	// calls (the base scope's names, each once).
	checkNames map[string]int32
	// scratch is a stack of environment memory for calls whose body lets
	// no reference to the environment escape (see noEscape).
	scratch  []Value
	builtins Value // the builtins attrset

	fileCache   map[string]Value // resolved path -> thunk of the file's value
	storeCopies map[string]string
	regexCache  map[string]any
	derivation  Value
}

// New returns an Evaluator configured by opts.
func New(opts Options) *Evaluator {
	if opts.MaxCallDepth <= 0 {
		opts.MaxCallDepth = 10000
	}
	if opts.StoreDir == "" {
		opts.StoreDir = "/nix/store"
	}
	if opts.CurrentSystem == "" {
		opts.CurrentSystem = "x86_64-linux"
	}
	if opts.Compat.NixVersion == "" {
		opts.Compat = CompatCurrent()
	}
	if opts.Trace == nil {
		opts.Trace = io.Discard
	}
	ev := &Evaluator{
		opts:        opts,
		syms:        newSymtab(),
		fset:        token.NewFileSet(),
		maxDepth:    opts.MaxCallDepth,
		fileCache:   map[string]Value{},
		storeCopies: map[string]string{},
		regexCache:  map[string]any{},
	}
	ev.createBaseEnv()
	return ev
}

// FileSet returns the positions of all files parsed by ev.
func (ev *Evaluator) FileSet() *token.FileSet { return ev.fset }

// Stats returns evaluation counters.
func (ev *Evaluator) Stats() Stats { return ev.stats }

// Options returns the options ev was created with (defaults filled in).
func (ev *Evaluator) Options() Options { return ev.opts }

// Run calls fn on a goroutine whose stack may grow large enough for
// MaxCallDepth nested calls, so the depth limit always trips before the Go
// runtime's stack limit. All evaluation entry points should run inside it.
func (ev *Evaluator) Run(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return <-done
}

type constDef struct {
	name string
	val  Value
}

func (ev *Evaluator) createBaseEnv() {
	bs := &scope{names: map[Sym]int{}}
	var vals []Value
	var battrs []Attr
	add := func(name string, v Value) {
		envName := ev.syms.intern(name)
		name2 := strings.TrimPrefix(name, "__")
		s2 := ev.syms.intern(name2)
		bs.names[envName] = len(vals)
		vals = append(vals, v)
		battrs = append(battrs, Attr{Name: s2, Val: v})
	}
	builtinsAttrs := &Attrs{}
	ev.builtins = AttrsValue(builtinsAttrs)
	add("builtins", ev.builtins)
	add("true", Bool(true))
	add("false", Bool(false))
	add("null", Null())
	if !ev.opts.Pure {
		add("__currentTime", Int(ev.opts.CurrentTime))
		add("__currentSystem", String(ev.opts.CurrentSystem))
	}
	add("__nixVersion", String(ev.opts.Compat.NixVersion))
	add("__storeDir", String(ev.opts.StoreDir))
	add("__langVersion", Int(6))
	var np []Value
	for _, e := range ev.opts.SearchPath {
		np = append(np, AttrsValue(newAttrs([]Attr{
			{Name: ev.syms.intern("path"), Val: String(e.Path)},
			{Name: ev.syms.intern("prefix"), Val: String(e.Prefix)},
		})))
	}
	add("__nixPath", List(np))
	for _, p := range ev.allBuiltins() {
		p := p
		name := p.Name
		if p.Arity == 0 {
			// constants are lazy applications of the primop
			p.Arity = 1
			p.Name = strings.TrimPrefix(name, "__")
			pv := PrimopValue(&p)
			add(name, ev.newApp(pv, pv))
			continue
		}
		p.Name = strings.TrimPrefix(name, "__")
		add(name, PrimopValue(&p))
	}
	// derivation is set up after the base env exists
	derivSlot := len(vals)
	add("derivation", Null())
	ev.baseEnv = newEnv(nil, len(vals))
	for i, v := range vals {
		*ev.baseEnv.slot(i) = v
	}
	ev.baseScope = bs
	builtinsAttrs.a = newAttrs(battrs).a
	ev.derivation = ev.derivationValue()
	*ev.baseEnv.slot(derivSlot) = ev.derivation
	if a, ok := builtinsAttrs.Get(ev.syms.intern("derivation")); ok {
		a.Val = ev.derivation
	}
}

// Builtins returns the builtins attribute set.
func (ev *Evaluator) Builtins() Value { return ev.builtins }

// Sym interns a name.
func (ev *Evaluator) Sym(name string) Sym { return ev.syms.intern(name) }

// SymName returns the name of a symbol.
func (ev *Evaluator) SymName(s Sym) string { return ev.syms.name(s) }

// mkPos builds { file; line; column; } for p, or null.
func (ev *Evaluator) mkPos(p Pos) Value {
	if p == token.NoPos {
		return Null()
	}
	pos := ev.fset.Position(p)
	if pos.Filename == "" || strings.HasPrefix(pos.Filename, "«") {
		return Null()
	}
	return AttrsValue(newAttrs([]Attr{
		{Name: symFile, Val: String(pos.Filename)},
		{Name: symLine, Val: Int(int64(pos.Line))},
		{Name: symColumn, Val: Int(int64(pos.Column))},
	}))
}

func (ev *Evaluator) showPos(p Pos) string {
	if p == token.NoPos {
		return "«none»"
	}
	return ev.fset.Position(p).String()
}

func bestMatches(cands []string, q string) []string { return spell.Nearest(q, cands) }

// CompileExpr resolves a parsed expression in the base scope. It reports
// bind-time errors ("undefined variable 'x'") as *EvalError.
func (ev *Evaluator) CompileExpr(e ast.Expr) (*Code, error) {
	x, err := ev.compile(e)
	if err != nil {
		return nil, err
	}
	return &Code{e: x}, nil
}

// Code is a compiled expression, ready for Eval.
type Code struct{ e expr }

// Eval evaluates compiled code in the base environment to weak head normal form.
func (ev *Evaluator) Eval(c *Code) (Value, error) {
	return ev.eval(c.e, ev.baseEnv)
}

// CheckBindings performs the bind-time checks of a parsed file without
// evaluating it (used by `--parse`).
func CheckBindings(fset *token.FileSet, e ast.Expr) error {
	ev := New(Options{})
	ev.fset = fset
	_, err := ev.compile(e)
	return err
}

// resolveImportPath maps a directory to its default.nix.
func (ev *Evaluator) resolveExprPath(p string) (string, error) {
	io := ev.opts.IO
	for i := 0; i < 1024; i++ {
		t, err := io.Lstat(p)
		if err != nil {
			return p, nil
		}
		if t == FileSymlink {
			// follow by checking the directory type via ReadDir
			if _, err := io.ReadDir(p); err == nil {
				return path.Join(p, "default.nix"), nil
			}
			return p, nil
		}
		if t == FileDirectory {
			return path.Join(p, "default.nix"), nil
		}
		return p, nil
	}
	return p, nil
}

// EvalFile evaluates the Nix file at path (cached per resolved path) to
// weak head normal form.
func (ev *Evaluator) EvalFile(p string) (Value, error) {
	return ev.evalFile(p, 0)
}

type fileCode struct {
	p    Pos
	path string
}

func (f *fileCode) position() Pos { return f.p }

func (f *fileCode) eval(ev *Evaluator, env *Env) (Value, error) {
	src, err := ev.readFile(f.path)
	if err != nil {
		return Value{}, err
	}
	e, err := ev.parse(src, f.path, path.Dir(f.path))
	if err != nil {
		return Value{}, err
	}
	x, err := ev.compile(e)
	if err != nil {
		return Value{}, err
	}
	v, err := ev.eval(x, ev.baseEnv)
	if err != nil {
		return Value{}, addTracef(err, 0, "while evaluating the file '%s':", f.path)
	}
	return v, nil
}

func (ev *Evaluator) readFile(p string) ([]byte, error) {
	if ev.opts.IO == nil {
		return nil, ev.errorf(errFile, 0, "cannot read '%s': no file system access", p)
	}
	if err := ev.checkExists(p); err != nil {
		return nil, err
	}
	b, err := ev.opts.IO.ReadFile(p)
	if err != nil {
		return nil, ev.ioError(err, p)
	}
	return b, nil
}

func (ev *Evaluator) ioError(err error, p string) error {
	var ee *EvalError
	if errors.As(err, &ee) {
		return ee
	}
	return &EvalError{Msg: err.Error(), kind: errFile}
}

func (ev *Evaluator) evalFile(p string, pos Pos) (Value, error) {
	rp, err := ev.resolveExprPath(p)
	if err != nil {
		return Value{}, err
	}
	t, ok := ev.fileCache[rp]
	if !ok {
		t = ev.newThunk(ev.baseEnv, &fileCode{path: rp})
		ev.fileCache[rp] = t
	}
	return ev.force(t, pos)
}

// EvalString parses and evaluates src (a Nix expression) with relative
// paths resolved against baseDir; name is used in positions ("«string»").
func (ev *Evaluator) EvalString(src, name, baseDir string) (Value, error) {
	e, err := ev.parse([]byte(src), name, baseDir)
	if err != nil {
		return Value{}, err
	}
	x, err := ev.compile(e)
	if err != nil {
		return Value{}, err
	}
	return ev.eval(x, ev.baseEnv)
}

// EvalMainFile parses and evaluates the file at path the way
// nix-instantiate evaluates its argument (no import cache, no "while
// evaluating the file" frame).
func (ev *Evaluator) EvalMainFile(p string) (Value, error) {
	rp, err := ev.resolveExprPath(p)
	if err != nil {
		return Value{}, err
	}
	src, err := ev.readFile(rp)
	if err != nil {
		return Value{}, err
	}
	e, err := ev.parse(src, rp, path.Dir(rp))
	if err != nil {
		return Value{}, err
	}
	x, err := ev.compile(e)
	if err != nil {
		return Value{}, err
	}
	return ev.eval(x, ev.baseEnv)
}

// AutoCall calls v with args (nix-instantiate --arg/--argstr) as CppNix's
// autoCallFunction does: functors are unwrapped, functions with formals
// get the arguments they accept, other values are returned unchanged.
func (ev *Evaluator) AutoCall(v Value, args map[string]Value) (Value, error) {
	v, err := ev.force(v, 0)
	if err != nil {
		return Value{}, err
	}
	if v.Kind() == KAttrs {
		if f, ok := v.AttrsV().Get(symFunctor); ok {
			r, err := ev.callFunction(f.Val, []Value{v}, 0)
			if err != nil {
				return Value{}, err
			}
			return ev.AutoCall(r, args)
		}
	}
	if v.Kind() != KLambda || ev.lambdas[v.lambdaID()].formals == nil {
		return v, nil
	}
	l := ev.lambdas[v.lambdaID()]
	var attrs []Attr
	if l.ellipsis {
		for k, a := range args {
			attrs = append(attrs, Attr{Name: ev.syms.intern(k), Val: a})
		}
	} else {
		for _, f := range l.formals {
			if a, ok := args[ev.syms.name(f.name)]; ok {
				attrs = append(attrs, Attr{Name: f.name, Val: a})
			} else if f.def == nil {
				return Value{}, ev.errorf(errMissingArg, f.p, "cannot evaluate a function that has an argument without a value ('%s')\nNix attempted to evaluate a function as a top level expression; in\nthis case it must have its arguments supplied either by default\nvalues, or passed explicitly with '--arg' or '--argstr'. See\nhttps://nix.dev/manual/nix/stable/language/syntax.html#functions.", ev.syms.name(f.name))
			}
		}
	}
	return ev.callFunction(v, []Value{AttrsValue(newAttrs(attrs))}, 0)
}

// checkExists reports Nix's "path '…' does not exist" error.
func (ev *Evaluator) checkExists(p string) error {
	if ev.opts.IO == nil {
		return ev.errorf(errFile, 0, "path '%s' does not exist", p)
	}
	if _, err := ev.opts.IO.Lstat(p); err != nil {
		return ev.errorf(errFile, 0, "path '%s' does not exist", p)
	}
	return nil
}
