package eval

import (
	"errors"
	"io"
	"unsafe"

	"cairn/internal/lang/parser"
)

// FileType is the type of a directory entry or path.
type FileType uint8

// File types as reported by builtins.readDir / readFileType.
const (
	FileUnknown FileType = iota
	FileRegular
	FileDirectory
	FileSymlink
)

func (t FileType) String() string {
	switch t {
	case FileRegular:
		return "regular"
	case FileDirectory:
		return "directory"
	case FileSymlink:
		return "symlink"
	}
	return "unknown"
}

// DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name string
	Type FileType
}

// IO is how the evaluator reaches the file system and the store. The glue
// package implements it; tests use a fake. Paths are absolute.
type IO interface {
	ReadFile(path string) ([]byte, error)
	// ReadDir lists a directory (any order).
	ReadDir(path string) ([]DirEntry, error)
	// Lstat returns the type of path without following a final symlink.
	Lstat(path string) (FileType, error)
	// PathExists reports whether path exists (following symlinks).
	PathExists(path string) bool
	// CopyPathToStore adds path (recursively, NAR, name = base name) to the
	// store and returns the store path.
	CopyPathToStore(path string) (string, error)
	// AddTextToStore writes a text file to the store (builtins.toFile) and
	// returns its store path; refs are the store paths it refers to.
	AddTextToStore(name, content string, refs []string) (string, error)
	// AddPathToStore adds a file system tree to the store (builtins.path,
	// filterSource) and returns its store path; see PathRequest.
	AddPathToStore(req *PathRequest) (string, error)
	// AddDerivation computes (and unless read-only, writes) the .drv for
	// req and returns its path and output paths.
	AddDerivation(req *DerivationRequest) (*DerivationResult, error)
}

// PathRequest describes builtins.path / builtins.filterSource.
type PathRequest struct {
	Path      string // absolute source path
	Name      string // store path name
	Recursive bool   // NAR (true) or flat file hash
	// Filter, if non-nil, is called for every entry below Path with its
	// absolute path and type; a rejected directory is pruned.
	Filter func(path string, t FileType) (bool, error)
	// ExpectedSHA256 is the expected hash (any Nix encoding) or "". The
	// IO returns ErrStorePathMismatch if the result differs.
	ExpectedSHA256 string
}

// ErrStorePathMismatch is returned by IO.AddPathToStore when the added
// path does not have the expected hash.
var ErrStorePathMismatch = errors.New("store path mismatch")

// SearchPathEntry is one -I / NIX_PATH element: Prefix ("" for none) = Path.
type SearchPathEntry struct {
	Prefix string
	Path   string
}

// Compat selects behaviour that differs between current Nix (the language
// suite) and Nix 2.8 (the nixpkgs parity oracle). Use CompatCurrent or
// CompatNix28.
type Compat struct {
	NixVersion       string
	MemoiseErrors    bool // a thunk that threw re-raises its error (current) or re-runs (2.8)
	CheckedIntArith  bool // integer overflow is an error (current) or wraps (2.8)
	JSONShortestFlt  bool // toJSON floats: shortest round-trip (current) or %g (2.8)
	JSONStrictUTF8   bool // toJSON: invalid UTF-8 is an error (current)
	FromJSONUintErr  bool // fromJSON: uint64 above int64 max is an error (current)
	ListCellRepeated bool // «repeated» keyed by list cell (current) or elements (2.8)
	OldErrorTexts    bool // 2.8 "value is a string while an integer was expected"
	InheritFromOnce  bool // inherit (e) evaluates e once per set (current)
	FlakeRefs        bool // builtins.parseFlakeRef and flakeRefToString exist (current)
	ReadFileRefs     bool // readFile of a store path has its references as context (current)
}

// CompatCurrent returns the preset matching current Nix (the default).
func CompatCurrent() Compat {
	return Compat{
		NixVersion:       "2.36.0",
		MemoiseErrors:    true,
		CheckedIntArith:  true,
		JSONShortestFlt:  true,
		JSONStrictUTF8:   true,
		FromJSONUintErr:  true,
		ListCellRepeated: true,
		InheritFromOnce:  true,
		FlakeRefs:        true,
		ReadFileRefs:     true,
	}
}

// CompatNix28 returns the preset matching Nix 2.8.
func CompatNix28() Compat {
	return Compat{NixVersion: "2.8.0", OldErrorTexts: true}
}

// Options configure an Evaluator. Nothing in this package reads the process
// environment: callers pass everything in.
type Options struct {
	IO            IO
	Compat        Compat
	SearchPath    []SearchPathEntry
	MaxCallDepth  int                         // 0: 10000
	Getenv        func(string) (string, bool) // builtins.getEnv; nil: always ""
	Trace         io.Writer                   // trace/warning output (stderr); nil: discarded
	ShowTrace     bool                        // add "while calling" frames (--show-trace)
	Pure          bool                        // pure evaluation mode
	StoreDir      string                      // "" : /nix/store
	CurrentSystem string                      // "" : x86_64-linux
	CurrentTime   int64                       // builtins.currentTime (impure)
	// ExtraBuiltins are registered after the built-in ones (same naming
	// rules; a name that exists already replaces it): glue adds fetchurl,
	// fetchTarball, fetchGit, fetchTree, ... this way.
	ExtraBuiltins []Primop
	// ExperimentalFeatures enables experimental behaviour by Nix's feature
	// names (e.g. "parse-toml-timestamps").
	ExperimentalFeatures []string
	// Lints are the levels of the parser's literal lints (Nix's
	// lint-absolute-path-literals, lint-short-path-literals and
	// lint-url-literals settings); warnings go to Trace.
	Lints parser.Lints
}

// Env is a runtime environment: one allocation of n+1 Values, element 0
// holding the parent pointer and 1..n the slots (n is known statically).
type Env Value

func newEnv(up *Env, n int) *Env {
	a := make([]Value, n+1)
	a[0].p = unsafe.Pointer(up)
	return (*Env)(&a[0])
}

// parent returns the enclosing environment.
func (e *Env) parent() *Env { return (*Env)((*Value)(e).p) }

// slot returns a pointer to slot i.
func (e *Env) slot(i int) *Value {
	return (*Value)(unsafe.Add(unsafe.Pointer(e), uintptr(i+1)*unsafe.Sizeof(Value{})))
}

// Thunk states.
const (
	thPending uint8 = iota
	thRunning
	thDone
	thFailed
)

// Thunk is a lazy computation, updated in place once forced (32 bytes).
//
//	pending/running: ptr = *Env (nil for an application, code *appThunk),
//	                 x = state, code = the expression
//	done:            ptr, x = the value's words, code = nil
//	failed:          x = thFailed, code = *failedCode
type Thunk struct {
	ptr  unsafe.Pointer
	x    uint64
	code expr
}

func (t *Thunk) state() uint8 {
	if t.code == nil {
		return thDone
	}
	return uint8(t.x)
}

// val returns the value of a done thunk.
func (t *Thunk) val() Value { return Value{p: t.ptr, x: t.x} }

// env returns the environment of a pending thunk.
func (t *Thunk) env() *Env { return (*Env)(t.ptr) }

func (ev *Evaluator) newThunk(env *Env, code expr) Value {
	ev.stats.Thunks++
	return thunkValue(&Thunk{ptr: unsafe.Pointer(env), code: code})
}

// appThunk is a lazy application f a in one allocation; the thunk's code
// points back at it.
type appThunk struct {
	Thunk
	f, a Value
}

func (a *appThunk) position() Pos { return 0 }
func (a *appThunk) eval(ev *Evaluator, env *Env) (Value, error) {
	return ev.callFunction(a.f, []Value{a.a}, 0)
}

func (ev *Evaluator) newApp(f, a Value) Value {
	ev.stats.Thunks++
	t := &appThunk{f: f, a: a}
	t.code = t
	return thunkValue(&t.Thunk)
}

// PrimopFunc implements a builtin. args has exactly Arity elements (maybe
// thunks); p is the call site.
type PrimopFunc func(ev *Evaluator, p Pos, args []Value) (Value, error)

// Primop is a builtin function.
type Primop struct {
	Name     string
	Arity    int
	Fn       PrimopFunc
	NoTrace  bool // don't add "while calling the 'x' builtin"
	ArgNames []string
}

// PrimopApp is a partial application of a primop.
type PrimopApp struct {
	op   *Primop
	args []Value
}

func (a *PrimopApp) primop() *Primop { return a.op }

// Stats are NIX_SHOW_STATS-style counters.
type Stats struct {
	Thunks, Calls, PrimopCalls, Envs, Lookups int64
}

// force evaluates v to weak head normal form.
func (ev *Evaluator) force(v Value, p Pos) (Value, error) {
	if !v.IsThunk() {
		return v, nil
	}
	t := v.thunk()
	if t.code == nil {
		return t.val(), nil
	}
	return ev.forceThunk(t, p)
}

func (ev *Evaluator) forceThunk(t *Thunk, p Pos) (Value, error) {
	switch t.state() {
	case thRunning:
		return Value{}, &EvalError{Msg: "infinite recursion encountered", Pos: p, kind: errInfRec, thunk: t}
	case thFailed:
		return Value{}, t.code.(*failedCode).err.clone()
	}
	t.x = uint64(thRunning)
	var v Value
	var err error
	ev.nest++
	var app *appThunk
	if ev.nest-ev.hopBase > hopEvery {
		v, err = ev.hop(func() (Value, error) { return ev.runThunk(t, p) })
	} else if t.ptr == nil {
		app = t.code.(*appThunk)
		v, err = ev.callFunction(app.f, []Value{app.a}, p)
	} else {
		v, err = ev.eval(t.code, t.env())
	}
	ev.nest--
	if t.ptr == nil {
		app, _ = t.code.(*appThunk)
	}
	if err != nil {
		return Value{}, ev.thunkFailed(t, err)
	}
	if app != nil {
		app.f, app.a = Value{}, Value{}
	}
	t.ptr, t.x, t.code = v.p, v.x, nil
	return v, nil
}

//go:noinline
func (ev *Evaluator) thunkFailed(t *Thunk, err error) error {
	e, ok := err.(*EvalError)
	if !ok {
		e = &EvalError{Msg: err.Error(), kind: errFile}
		err = e
	}
	if e.kind == errInfRec && e.thunk == t && t.ptr != nil {
		e.Frames = append(e.Frames, Frame{Msg: "entering the infinite recursion", Always: true})
	}
	if ev.opts.Compat.MemoiseErrors {
		t.x = uint64(thFailed)
		t.ptr = nil
		t.code = &failedCode{e} // shared: frames added while unwinding are kept, as in CppNix
	} else {
		t.x = uint64(thPending)
	}
	return err
}

// Force evaluates v to weak head normal form.
func (ev *Evaluator) Force(v Value) (Value, error) { return ev.force(v, 0) }

func (ev *Evaluator) stackOverflow(p Pos) error {
	return &EvalError{Msg: "stack overflow; max-call-depth exceeded", Pos: p, kind: errStackOverflow}
}

// runThunk evaluates a pending thunk's code (used after a stack hop).
func (ev *Evaluator) runThunk(t *Thunk, p Pos) (Value, error) {
	if t.ptr == nil {
		app := t.code.(*appThunk)
		return ev.callFunction(app.f, []Value{app.a}, p)
	}
	return ev.eval(t.code, t.env())
}

// hopEvery is how many nested calls and thunk forces run on one goroutine
// stack. Deeper evaluation continues on a fresh goroutine while the
// current one waits, so no goroutine stack comes near the Go runtime's
// fixed ceiling (1 GB), whatever the depth limit.
const hopEvery = 20000

// hop runs fn on a new goroutine and waits for it. Only one goroutine
// runs evaluation at a time; the channel orders their memory accesses.
//
//go:noinline
func (ev *Evaluator) hop(fn func() (Value, error)) (Value, error) {
	base := ev.hopBase
	ev.hopBase = ev.nest
	var v Value
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err = fn()
	}()
	<-done
	ev.hopBase = base
	return v, err
}

// callFunction applies fn to args (CppNix EvalState::callFunction). The
// common paths keep small stack frames: deep Nix recursion is deep Go
// recursion.
func (ev *Evaluator) callFunction(fn Value, args []Value, p Pos) (Value, error) {
	if ev.depth > ev.maxDepth {
		return Value{}, ev.stackOverflow(p)
	}
	ev.depth++
	ev.nest++
	if ev.nest-ev.hopBase > hopEvery {
		// Copy args so that they do not escape on the common path.
		cp := make([]Value, len(args))
		copy(cp, args)
		v, err := ev.callHop(fn, cp, p)
		ev.nest--
		ev.depth--
		return v, err
	}
	v, err := ev.callFunction2(fn, args, p)
	ev.nest--
	ev.depth--
	return v, err
}

//go:noinline
func (ev *Evaluator) callHop(fn Value, args []Value, p Pos) (Value, error) {
	return ev.hop(func() (Value, error) { return ev.callFunction2(fn, args, p) })
}

func (ev *Evaluator) callFunction2(fn Value, args []Value, p Pos) (Value, error) {
	cur, err := ev.force(fn, p)
	for err == nil && len(args) > 0 {
		if cur.Kind() == KLambda {
			l := ev.lambdas[cur.lambdaID()]
			if inner, ok := l.body.(*eLambda); ok && len(args) >= 2 && l.formals == nil {
				cur, err = ev.callCurried(cur.lambdaEnv(), l, inner, args[0], args[1], p)
				args = args[2:]
				continue
			}
			cur, err = ev.callLambda(cur.lambdaEnv(), l, args[0], p)
			args = args[1:]
			continue
		}
		var n int
		cur, n, err = ev.callOther(cur, args, p)
		args = args[n:]
	}
	return cur, err
}

// callOther applies a primop, partial primop application or functor to
// a prefix of args and reports how many it consumed.
//
//go:noinline
func (ev *Evaluator) callOther(cur Value, args []Value, p Pos) (Value, int, error) {
	switch cur.Kind() {
	case KPrimop, KPrimopApp:
		var op *Primop
		var done []Value
		if cur.Kind() == KPrimop {
			op = cur.primop()
		} else {
			pa := cur.primopApp()
			op, done = pa.op, pa.args
		}
		left := op.Arity - len(done)
		if len(args) < left {
			all := make([]Value, len(done)+len(args))
			copy(all, done)
			copy(all[len(done):], args)
			return primopAppValue(&PrimopApp{op: op, args: all}), len(args), nil
		}
		// Arguments go on ev.stk so that callers' argument slices
		// do not escape through op.Fn.
		base := len(ev.stk)
		ev.stk = append(ev.stk, done...)
		ev.stk = append(ev.stk, args[:left]...)
		call := ev.stk[base : base+op.Arity : base+op.Arity]
		ev.stats.PrimopCalls++
		v, err := op.Fn(ev, p, call)
		clear(ev.stk[base:])
		ev.stk = ev.stk[:base]
		if err != nil {
			if !op.NoTrace {
				addTracef(err, p, "while calling the '%s' builtin", op.Name)
			}
			return Value{}, 0, err
		}
		return v, left, nil
	case KAttrs:
		f, ok := cur.AttrsV().Get(symFunctor)
		if !ok {
			return Value{}, 0, ev.notAFunction(cur, p)
		}
		v, err := ev.callFunction(f.Val, []Value{cur, args[0]}, Pos(f.Pos))
		if err != nil {
			return Value{}, 0, addTrace(err, p, "while calling a functor (an attribute set with a '__functor' attribute)")
		}
		return v, 1, nil
	}
	return Value{}, 0, ev.notAFunction(cur, p)
}

func (ev *Evaluator) notAFunction(v Value, p Pos) error {
	return ev.errorf(errType, p, "attempt to call something which is not a function but %s: %s", showType(v, true), ev.printValueErr(v))
}

func (ev *Evaluator) lambdaName(l *eLambda) string {
	if l.hasName {
		return "'" + ev.syms.name(l.name) + "'"
	}
	return "anonymous lambda"
}

func (ev *Evaluator) lambdaNameBare(l *eLambda) string {
	if l.hasName {
		return ev.syms.name(l.name)
	}
	return "anonymous lambda"
}

// scratchEnvs takes n Values from the scratch stack for environments that
// no value outlives (lambdas whose body is noEscape); release gives them
// back. When the stack is full a new one is started: frames already taken
// keep the old array, and later frames use indexes above theirs.
func (ev *Evaluator) scratchEnvs(n int) []Value {
	top := len(ev.scratch)
	if top+n > cap(ev.scratch) {
		ev.scratch = make([]Value, top, max(2*cap(ev.scratch), top+n, 1024))
	}
	ev.scratch = ev.scratch[:top+n]
	return ev.scratch[top : top+n : top+n]
}

func (ev *Evaluator) releaseEnvs(mem []Value) {
	top := len(ev.scratch) - len(mem)
	clear(ev.scratch[top:])
	ev.scratch = ev.scratch[:top]
}

func (ev *Evaluator) callLambda(cenv *Env, l *eLambda, arg Value, p Pos) (Value, error) {
	if l.noEscape {
		return ev.callScratch(cenv, l, arg, p)
	}
	env := newEnv(cenv, l.nslots)
	ev.stats.Envs++
	ev.stats.Calls++
	if l.formals == nil {
		*env.slot(0) = arg
	} else if err := ev.bindFormals(l, env, arg, p); err != nil {
		return Value{}, err
	}
	v, err := ev.eval(l.body, env)
	if err != nil && ev.opts.ShowTrace {
		ev.lambdaTrace(err, l, p)
	}
	return v, err
}

// callScratch is callLambda for a noEscape body (one argument, no
// formals): the environment is scratch memory.
func (ev *Evaluator) callScratch(cenv *Env, l *eLambda, arg Value, p Pos) (Value, error) {
	mem := ev.scratchEnvs(2)
	mem[0].p = unsafe.Pointer(cenv)
	mem[1] = arg
	ev.stats.Envs++
	ev.stats.Calls++
	v, err := ev.eval(l.body, (*Env)(&mem[0]))
	ev.releaseEnvs(mem)
	if err != nil && ev.opts.ShowTrace {
		ev.lambdaTrace(err, l, p)
	}
	return v, err
}

// callCurried applies `x: inner` to a and inner to b, as two callLambda
// calls would, but with both environments in one allocation (the inner
// one's parent is the outer one, so they live equally long).
func (ev *Evaluator) callCurried(cenv *Env, l, inner *eLambda, a, b Value, p Pos) (Value, error) {
	n1 := l.nslots + 1
	var mem []Value
	if inner.noEscape { // so inner has no formals: nothing fails before eval
		mem = ev.scratchEnvs(n1 + inner.nslots + 1)
	} else {
		mem = make([]Value, n1+inner.nslots+1)
	}
	mem[0].p = unsafe.Pointer(cenv)
	env1 := (*Env)(&mem[0])
	*env1.slot(0) = a
	env := (*Env)(&mem[n1])
	mem[n1].p = unsafe.Pointer(env1)
	ev.stats.Envs += 2
	ev.stats.Calls += 2
	if inner.formals == nil {
		*env.slot(0) = b
	} else if err := ev.bindFormals(inner, env, b, p); err != nil {
		return Value{}, err
	}
	v, err := ev.eval(inner.body, env)
	if inner.noEscape {
		ev.releaseEnvs(mem)
	}
	if err != nil && ev.opts.ShowTrace {
		ev.lambdaTrace(err, inner, p)
	}
	return v, err
}

//go:noinline
func (ev *Evaluator) lambdaTrace(err error, l *eLambda, p Pos) {
	addTrace(err, l.pos, "while calling "+ev.lambdaName(l))
	if p != 0 {
		addTrace(err, p, "from call site")
	}
}

// bindFormals fills env from an attribute-set argument.
//
//go:noinline
func (ev *Evaluator) bindFormals(l *eLambda, env *Env, arg Value, p Pos) error {
	av, err := ev.force(arg, l.pos)
	if err == nil && av.Kind() != KAttrs {
		err = ev.typeError("a set", av, 0).withTrace(l.pos, "while evaluating the value passed for the lambda argument")
	}
	if err != nil {
		if p != 0 {
			addTrace(err, p, "from call site")
		}
		return err
	}
	attrs := av.AttrsV()
	d := 0
	if l.hasArg {
		*env.slot(0) = arg
		d = 1
	}
	used := 0
	for i := range l.formals {
		f := &l.formals[i]
		if a, ok := attrs.Get(f.name); ok {
			*env.slot(d + i) = a.Val
			used++
		} else if f.def == nil {
			e := ev.errorf(errMissingArg, l.pos, "function '%s' called without required argument '%s'", ev.lambdaNameBare(l), ev.symStr(f.name))
			return e.withTrace(p, "from call site")
		} else {
			*env.slot(d + i) = ev.maybeThunk(f.def, env)
		}
	}
	if !l.ellipsis && used != attrs.Len() {
		for _, a := range attrs.All() {
			if !l.hasFormal(a.Name) {
				names := make([]string, len(l.formals))
				for i := range l.formals {
					names[i] = ev.syms.name(l.formals[i].name)
				}
				e := ev.errorf(errType, l.pos, "function '%s' called with unexpected argument '%s'", ev.lambdaNameBare(l), ev.symStr(a.Name))
				e.Suggestions = bestMatches(names, ev.syms.name(a.Name))
				return e.withTrace(p, "from call site")
			}
		}
	}
	return nil
}

// failedCode holds the memoised error of a failed thunk (current Nix).
type failedCode struct{ err *EvalError }

func (f *failedCode) position() Pos { return 0 }
func (f *failedCode) eval(ev *Evaluator, env *Env) (Value, error) {
	return Value{}, f.err.clone()
}
