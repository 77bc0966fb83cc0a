package eval

import (
	"strings"
)

// expr is a compiled (scope-resolved) expression.
type expr interface {
	eval(ev *Evaluator, env *Env) (Value, error)
	position() Pos
}

type eConst struct {
	p Pos
	v Value
}

type eVar struct {
	p     Pos
	name  Sym
	level int
	slot  int
}

// eWithVar is a variable resolved through enclosing `with`s. levels are
// the env distances of the with scopes, innermost first.
type eWithVar struct {
	p      Pos
	name   Sym
	levels []int
	withPs []Pos // positions of the with expressions
}

type attrName struct {
	sym Sym
	dyn expr // nil: static
	src string
}

type eSelect struct {
	p    Pos
	e    expr
	path []attrName
	def  expr
}

type eHasAttr struct {
	p    Pos
	e    expr
	path []attrName
}

type attrKind uint8

const (
	attrPlain attrKind = iota
	attrInherited
	attrInheritedFrom
)

type attrDef struct {
	name Sym
	p    Pos
	e    expr
	kind attrKind
}

type dynAttr struct {
	p     Pos
	name  expr
	value expr
}

type eAttrs struct {
	p           Pos
	rec         bool
	attrs       []attrDef // sorted by name
	dyn         []dynAttr
	inheritFrom []expr
}

type eList struct {
	p     Pos
	elems []expr
}

type formal struct {
	name Sym
	p    Pos
	def  expr
}

type eLambda struct {
	id       uint32 // index in Evaluator.lambdas
	p        Pos
	pos      Pos
	name     Sym
	hasName  bool
	arg      Sym
	hasArg   bool
	formals  []formal // sorted by name
	ellipsis bool
	nslots   int
	body     expr
	noEscape bool // noEscape(body): the environment can be scratch memory
}

func (l *eLambda) hasFormal(s Sym) bool {
	for i := range l.formals {
		if l.formals[i].name == s {
			return true
		}
	}
	return false
}

type eCall struct {
	p    Pos
	fn   expr
	args []expr
}

type eLet struct {
	p     Pos
	attrs *eAttrs
	body  expr
}

type eWith struct {
	p     Pos
	attrs expr
	body  expr
}

type eIf struct {
	p               Pos
	cond, then, els expr
}

type eAssert struct {
	p       Pos
	cond    expr
	body    expr
	condStr string
}

type eNot struct {
	p Pos
	e expr
}

type eBinBool struct {
	p          Pos
	op         string // "&&", "||", "->"
	e1, e2     expr
	lctx, rctx string
}

type eEq struct {
	p      Pos
	neq    bool
	e1, e2 expr
}

type eUpdate struct {
	p      Pos
	e1, e2 expr
}

type eConcatLists struct {
	p      Pos
	e1, e2 expr
}

type strPart struct {
	p Pos
	e expr
}

type eConcatStrings struct {
	p           Pos
	forceString bool
	parts       []strPart
}

type eCurPos struct{ p Pos }

// eInheritFromVar reads slot i of the inherit-from env (one level up).
type eBlackhole struct{ p Pos }

func (e *eConst) position() Pos         { return e.p }
func (e *eVar) position() Pos           { return e.p }
func (e *eWithVar) position() Pos       { return e.p }
func (e *eSelect) position() Pos        { return e.p }
func (e *eHasAttr) position() Pos       { return e.p }
func (e *eAttrs) position() Pos         { return e.p }
func (e *eList) position() Pos          { return e.p }
func (e *eLambda) position() Pos        { return e.p }
func (e *eCall) position() Pos          { return e.p }
func (e *eLet) position() Pos           { return e.p }
func (e *eWith) position() Pos          { return e.p }
func (e *eIf) position() Pos            { return e.p }
func (e *eAssert) position() Pos        { return e.p }
func (e *eNot) position() Pos           { return e.p }
func (e *eBinBool) position() Pos       { return e.p }
func (e *eEq) position() Pos            { return e.p }
func (e *eUpdate) position() Pos        { return e.p }
func (e *eConcatLists) position() Pos   { return e.p }
func (e *eConcatStrings) position() Pos { return e.p }
func (e *eCurPos) position() Pos        { return e.p }
func (e *eBlackhole) position() Pos     { return e.p }

// maybeThunk returns a lazy slot for e in env without allocating where
// CppNix does not (variables, literals, empty lists).
func (ev *Evaluator) maybeThunk(e expr, env *Env) Value {
	switch n := e.(type) {
	case *eConst:
		return n.v
	case *eVar:
		en := env
		for l := n.level; l > 0; l-- {
			en = en.parent()
		}
		// An empty slot is null, or a slot of the let/rec/formals
		// environment being filled right now (level 0), whose variable
		// must stay lazy. Enclosing environments are always complete.
		v := *en.slot(n.slot)
		if v != (Value{}) || n.level > 0 {
			return v
		}
	case *eList:
		if len(n.elems) == 0 {
			return List(nil)
		}
	}
	return ev.newThunk(env, e)
}

// eval evaluates e in env to weak head normal form, looping over tail
// positions.
func (ev *Evaluator) eval(e expr, env *Env) (Value, error) {
	for {
		switch n := e.(type) {
		case *eIf:
			b, err := ev.evalBool(n.cond, env, "while evaluating a branch condition")
			if err != nil {
				return Value{}, err
			}
			if b {
				e = n.then
			} else {
				e = n.els
			}
		case *eLet:
			env = ev.letEnv(n.attrs, env)
			e = n.body
		case *eWith:
			env2 := newEnv(env, 1)
			*env2.slot(0) = ev.maybeThunk(n.attrs, env)
			env = env2
			e = n.body
		case *eAssert:
			if err := ev.checkAssert(n, env); err != nil {
				return Value{}, err
			}
			e = n.body
		default:
			return e.eval(ev, env)
		}
	}
}

// evalCtx is Expr::eval with an errorCtx trace.
func (ev *Evaluator) evalCtx(e expr, env *Env, ctx string) (Value, error) {
	v, err := ev.eval(e, env)
	if err != nil {
		return v, traceAt(err, e, ctx)
	}
	return v, nil
}

//go:noinline
func traceAt(err error, e expr, ctx string) error { return addTrace(err, e.position(), ctx) }

func (ev *Evaluator) evalBool(e expr, env *Env, ctx string) (bool, error) {
	v, err := ev.eval(e, env)
	if err == nil && v.Kind() != KBool {
		err = ev.typeError("a Boolean", v, e.position())
	}
	if err != nil {
		return false, addTrace(err, e.position(), ctx)
	}
	return v.BoolV(), nil
}

func (e *eConst) eval(ev *Evaluator, env *Env) (Value, error) { return e.v, nil }

func (e *eVar) eval(ev *Evaluator, env *Env) (Value, error) {
	for l := e.level; l > 0; l-- {
		env = env.parent()
	}
	return ev.force(*env.slot(e.slot), e.p)
}

func (e *eWithVar) lookup(ev *Evaluator, env *Env) (Value, error) {
	prev := 0
	for i, lv := range e.levels {
		for l := lv - prev; l > 0; l-- {
			env = env.parent()
		}
		prev = lv
		a, err := ev.forceAttrs(*env.slot(0), e.withPs[i], "while evaluating the first subexpression of a with expression")
		if err != nil {
			return Value{}, err
		}
		if at, ok := a.Get(e.name); ok {
			return at.Val, nil
		}
	}
	return Value{}, ev.errorf(errUndefinedVar, e.p, "undefined variable '%s'", ev.symStr(e.name))
}

func (e *eWithVar) eval(ev *Evaluator, env *Env) (Value, error) {
	v, err := e.lookup(ev, env)
	if err != nil {
		return Value{}, err
	}
	return ev.force(v, e.p)
}

func (e *eCurPos) eval(ev *Evaluator, env *Env) (Value, error) { return ev.mkPos(e.p), nil }

func (e *eBlackhole) eval(ev *Evaluator, env *Env) (Value, error) {
	return Value{}, &EvalError{Msg: "infinite recursion encountered", kind: errInfRec}
}

func (ev *Evaluator) getName(n *attrName, env *Env) (Sym, error) {
	if n.dyn == nil {
		return n.sym, nil
	}
	v, err := ev.eval(n.dyn, env)
	if err != nil {
		return 0, err
	}
	s, err := ev.forceStringNoCtx(v, n.dyn.position(), "while evaluating an attribute name")
	if err != nil {
		return 0, err
	}
	return ev.syms.intern(s), nil
}

func (ev *Evaluator) showAttrPath(env *Env, path []attrName) string {
	var b strings.Builder
	for i := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if path[i].dyn == nil {
			b.WriteString(ev.symStr(path[i].sym))
			continue
		}
		s, err := ev.getName(&path[i], env)
		if err != nil {
			b.WriteString("\"${" + path[i].src + "}\"")
		} else {
			b.WriteString(ev.symStr(s))
		}
	}
	return b.String()
}

func (e *eSelect) eval(ev *Evaluator, env *Env) (Value, error) {
	cur, err := ev.evalCtx(e.e, env, "while selecting an attribute")
	if err != nil {
		return Value{}, err
	}
	var attrPos Pos
	done := 0
	fail := func(err error) (Value, error) {
		if attrPos != 0 {
			addTracef(err, attrPos, "from the definition of '%s'", ev.showAttrPath(env, e.path[:done]))
		}
		return Value{}, addTracef(err, e.p, "while evaluating the attribute '%s'", ev.showAttrPath(env, e.path))
	}
	for i := range e.path {
		ev.stats.Lookups++
		name, err := ev.getName(&e.path[i], env)
		if err != nil {
			return fail(err)
		}
		var a *Attr
		if e.def != nil {
			cur, err = ev.force(cur, e.p)
			if err != nil {
				return fail(err)
			}
			ok := false
			if cur.Kind() == KAttrs {
				a, ok = cur.AttrsV().Get(name)
			}
			if !ok {
				v, err := ev.eval(e.def, env)
				if err != nil {
					return fail(err)
				}
				return v, nil
			}
		} else {
			as, err := ev.forceAttrs(cur, e.p, "while selecting an attribute")
			if err != nil {
				return fail(err)
			}
			var ok bool
			a, ok = as.Get(name)
			if !ok {
				names := make([]string, 0, as.Len())
				for _, x := range as.All() {
					names = append(names, ev.syms.name(x.Name))
				}
				ee := ev.errorf(errGeneric, 0, "attribute '%s' missing", ev.symStr(name))
				ee.Suggestions = bestMatches(names, ev.syms.name(name))
				return fail(ee)
			}
		}
		cur = a.Val
		attrPos = Pos(a.Pos)
		done = i + 1
	}
	fp := attrPos
	if fp == 0 {
		fp = e.p
	}
	v, err := ev.force(cur, fp)
	if err != nil {
		return fail(err)
	}
	return v, nil
}

func (e *eHasAttr) eval(ev *Evaluator, env *Env) (Value, error) {
	cur, err := ev.evalCtx(e.e, env, "in the argument of '?'")
	if err != nil {
		return Value{}, err
	}
	for i := range e.path {
		cur, err = ev.force(cur, e.p)
		if err != nil {
			return Value{}, err
		}
		name, err := ev.getName(&e.path[i], env)
		if err != nil {
			return Value{}, err
		}
		if cur.Kind() != KAttrs {
			return Bool(false), nil
		}
		a, ok := cur.AttrsV().Get(name)
		if !ok {
			return Bool(false), nil
		}
		cur = a.Val
	}
	return Bool(true), nil
}

func (ev *Evaluator) inheritEnv(a *eAttrs, up *Env) *Env {
	if len(a.inheritFrom) == 0 {
		return nil
	}
	ie := newEnv(up, len(a.inheritFrom))
	for i, f := range a.inheritFrom {
		*ie.slot(i) = ev.maybeThunk(f, up)
	}
	return ie
}

func choose(k attrKind, plain, inherited, from *Env) *Env {
	switch k {
	case attrPlain:
		return plain
	case attrInherited:
		return inherited
	}
	return from
}

func (ev *Evaluator) letEnv(a *eAttrs, env *Env) *Env {
	env2 := newEnv(env, len(a.attrs))
	ev.stats.Envs++
	ie := ev.inheritEnv(a, env2)
	for i := range a.attrs {
		d := &a.attrs[i]
		*env2.slot(i) = ev.maybeThunk(d.e, choose(d.kind, env2, env, ie))
	}
	return env2
}

func (e *eLet) eval(ev *Evaluator, env *Env) (Value, error) {
	return ev.eval(e.body, ev.letEnv(e.attrs, env))
}

func (e *eWith) eval(ev *Evaluator, env *Env) (Value, error) { return ev.eval(e, env) }
func (e *eIf) eval(ev *Evaluator, env *Env) (Value, error)   { return ev.eval(e, env) }
func (e *eAssert) eval(ev *Evaluator, env *Env) (Value, error) {
	return ev.eval(e, env)
}

func (e *eAttrs) eval(ev *Evaluator, env *Env) (Value, error) {
	var res *Attrs
	var out []Attr
	if len(e.dyn) == 0 {
		res = allocAttrs(len(e.attrs))
		out = res.a
	} else {
		res = &Attrs{}
		out = make([]Attr, len(e.attrs), len(e.attrs)+len(e.dyn))
	}
	dynEnv := env
	sorted := true
	if e.rec {
		env2 := newEnv(env, len(e.attrs))
		ev.stats.Envs++
		dynEnv = env2
		ie := ev.inheritEnv(e, env2)
		overrides := -1
		for i := range e.attrs {
			d := &e.attrs[i]
			if d.name == symOverrides {
				overrides = i
			}
		}
		for i := range e.attrs {
			d := &e.attrs[i]
			var v Value
			if overrides >= 0 && d.kind != attrInherited {
				v = ev.newThunk(choose(d.kind, env2, env, ie), d.e)
			} else {
				v = ev.maybeThunk(d.e, choose(d.kind, env2, env, ie))
			}
			*env2.slot(i) = v
			out[i] = Attr{Name: d.name, Pos: int32(d.p), Val: v}
		}
		if overrides >= 0 {
			ov := out[overrides].Val
			oa, err := ev.forceAttrs(ov, 0, "while evaluating the `__overrides` attribute")
			if err != nil {
				return Value{}, err
			}
			for _, o := range oa.All() {
				found := false
				for i := range e.attrs {
					if e.attrs[i].name == o.Name {
						out[i] = o
						*env2.slot(i) = o.Val
						found = true
						break
					}
				}
				if !found {
					out = append(out, o)
					sorted = false
				}
			}
		}
	} else {
		ie := ev.inheritEnv(e, env)
		for i := range e.attrs {
			d := &e.attrs[i]
			out[i] = Attr{Name: d.name, Pos: int32(d.p), Val: ev.maybeThunk(d.e, choose(d.kind, env, env, ie))}
		}
	}
	if !sorted {
		out = newAttrs(out).a
	}
	for i := range e.dyn {
		d := &e.dyn[i]
		nv, err := ev.eval(d.name, dynEnv)
		if err != nil {
			return Value{}, err
		}
		if nv.Kind() == KNull {
			continue
		}
		s, err := ev.forceStringNoCtx(nv, d.p, "while evaluating the name of a dynamic attribute")
		if err != nil {
			return Value{}, err
		}
		sym := ev.syms.intern(s)
		tmp := Attrs{a: out}
		if prev, ok := tmp.Get(sym); ok {
			return Value{}, ev.errorf(errGeneric, d.p, "dynamic attribute '%s' already defined at %s", printIdentifier(s), ev.showPos(Pos(prev.Pos)))
		}
		if l, ok := d.value.(*eLambda); ok {
			l.name, l.hasName = sym, true
		}
		at := Attr{Name: sym, Pos: int32(d.p), Val: ev.maybeThunk(d.value, dynEnv)}
		// insert sorted
		j := len(out)
		out = append(out, at)
		for j > 0 && out[j-1].Name > sym {
			out[j] = out[j-1]
			j--
		}
		out[j] = at
	}
	if len(out) == 0 {
		return AttrsValue(emptyAttrs), nil
	}
	res.a, res.pos = out, e.p
	return AttrsValue(res), nil
}

func (e *eList) eval(ev *Evaluator, env *Env) (Value, error) {
	if len(e.elems) == 0 {
		return List(nil), nil
	}
	out := make([]Value, len(e.elems))
	for i, x := range e.elems {
		out[i] = ev.maybeThunk(x, env)
	}
	return List(out), nil
}

func (e *eLambda) eval(ev *Evaluator, env *Env) (Value, error) {
	return lambdaValue(env, e.id), nil
}

// ePrimCall is a call of a builtin of the base scope with exactly its
// arity (`a < b` is `__lessThan a b`): the primop is called directly, with
// callFunction's depth accounting and trace.
type ePrimCall struct {
	p    Pos
	op   *Primop
	args []expr
}

func (e *ePrimCall) position() Pos { return e.p }

func (e *ePrimCall) eval(ev *Evaluator, env *Env) (Value, error) {
	if ev.depth > ev.maxDepth {
		return Value{}, ev.stackOverflow(e.p)
	}
	if ev.nest+1-ev.hopBase > hopEvery {
		return e.slow(ev, env)
	}
	ev.depth++
	ev.nest++
	base := len(ev.stk)
	for _, a := range e.args {
		ev.stk = append(ev.stk, ev.argValue(a, env))
	}
	n := len(ev.stk)
	ev.stats.PrimopCalls++
	v, err := e.op.Fn(ev, e.p, ev.stk[base:n:n])
	clear(ev.stk[base:])
	ev.stk = ev.stk[:base]
	ev.nest--
	ev.depth--
	if err != nil {
		if !e.op.NoTrace {
			addTracef(err, e.p, "while calling the '%s' builtin", e.op.Name)
		}
		return Value{}, err
	}
	return v, nil
}

// argValue is maybeThunk for the argument of a call being evaluated: a
// variable's slot is read as it is, since every environment reachable
// from code being evaluated is fully initialised (an empty slot is null;
// maybeThunk's thunk for an empty slot is only needed while a let or rec
// environment is being filled). So a call's variable arguments never
// capture env, which noEscape relies on.
func (ev *Evaluator) argValue(a expr, env *Env) Value {
	if v, ok := a.(*eVar); ok {
		en := env
		for l := v.level; l > 0; l-- {
			en = en.parent()
		}
		return *en.slot(v.slot)
	}
	return ev.maybeThunk(a, env)
}

// noEscape reports whether evaluating e can leave no reference to its
// environment behind: it only reads variables and evaluates strictly
// (no thunks, closures, lists or sets made from it). A lambda whose body
// is noEscape can take its environment from Evaluator.scratch.
func noEscape(e expr) bool {
	switch n := e.(type) {
	case *eConst, *eVar, *eWithVar:
		return true
	case *ePrimCall:
		for _, a := range n.args {
			switch a.(type) {
			case *eConst, *eVar:
			default:
				return false
			}
		}
		return true
	case *eIf:
		return noEscape(n.cond) && noEscape(n.then) && noEscape(n.els)
	case *eNot:
		return noEscape(n.e)
	case *eBinBool:
		return noEscape(n.e1) && noEscape(n.e2)
	case *eEq:
		return noEscape(n.e1) && noEscape(n.e2)
	case *eConcatStrings:
		for _, p := range n.parts {
			if !noEscape(p.e) {
				return false
			}
		}
		return true
	case *eSelect:
		return n.def == nil && noEscape(n.e) && staticPath(n.path)
	case *eHasAttr:
		return noEscape(n.e) && staticPath(n.path)
	}
	return false
}

func staticPath(path []attrName) bool {
	for _, a := range path {
		if a.dyn != nil {
			return false
		}
	}
	return true
}

// slow is the call through callFunction, which hops stacks when deep.
//
//go:noinline
func (e *ePrimCall) slow(ev *Evaluator, env *Env) (Value, error) {
	args := make([]Value, len(e.args))
	for i, a := range e.args {
		args[i] = ev.maybeThunk(a, env)
	}
	return ev.callFunction(PrimopValue(e.op), args, e.p)
}

func (e *eCall) eval(ev *Evaluator, env *Env) (Value, error) {
	f, err := ev.eval(e.fn, env)
	if err != nil {
		return Value{}, err
	}
	var buf [4]Value
	args := buf[:0]
	if len(e.args) > 4 {
		args = make([]Value, 0, len(e.args))
	}
	for _, a := range e.args {
		args = append(args, ev.maybeThunk(a, env))
	}
	return ev.callFunction(f, args, e.p)
}

func (ev *Evaluator) checkAssert(e *eAssert, env *Env) error {
	ok, err := ev.evalBool(e.cond, env, "in the condition of the assert statement")
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if eq, isEq := e.cond.(*eEq); isEq && !eq.neq {
		v1, err := ev.eval(eq.e1, env)
		if err == nil {
			var v2 Value
			v2, err = ev.eval(eq.e2, env)
			if err == nil {
				err = ev.assertEqValues(v1, v2, eq.p, "in an equality assertion")
			}
		}
		if err != nil {
			if ee, ok := err.(*EvalError); ok && ee.kind == errAssert {
				return addTracef(err, e.p, "while evaluating the condition of the assertion '%s'", e.condStr)
			}
			return err
		}
	}
	return ev.errorf(errAssert, e.p, "assertion '%s' failed", e.condStr)
}

func (e *eNot) eval(ev *Evaluator, env *Env) (Value, error) {
	b, err := ev.evalBool(e.e, env, "in the argument of '!'")
	return Bool(!b), err
}

func (e *eBinBool) eval(ev *Evaluator, env *Env) (Value, error) {
	l, err := ev.evalBool(e.e1, env, e.lctx)
	if err != nil {
		return Value{}, err
	}
	switch e.op {
	case "&&":
		if !l {
			return Bool(false), nil
		}
	case "||":
		if l {
			return Bool(true), nil
		}
	case "->":
		if !l {
			return Bool(true), nil
		}
	}
	r, err := ev.evalBool(e.e2, env, e.rctx)
	return Bool(r), err
}

func (e *eEq) eval(ev *Evaluator, env *Env) (Value, error) {
	l, r := "in the left operand of '=='", "in the right operand of '=='"
	if e.neq {
		l, r = "in the left operand of '!='", "in the right operand of '!='"
	}
	v1, err := ev.evalCtx(e.e1, env, l)
	if err != nil {
		return Value{}, err
	}
	v2, err := ev.evalCtx(e.e2, env, r)
	if err != nil {
		return Value{}, err
	}
	ctx := "while testing two values for equality"
	if e.neq {
		ctx = "while testing two values for inequality"
	}
	b, err := ev.eqValues(v1, v2, e.p, ctx)
	return Bool(b != e.neq), err
}

func (ev *Evaluator) evalAttrsCtx(e expr, env *Env, ctx string) (*Attrs, error) {
	v, err := ev.eval(e, env)
	if err == nil && v.Kind() != KAttrs {
		err = ev.typeError("a set", v, 0)
	}
	if err != nil {
		return nil, addTrace(err, e.position(), ctx)
	}
	return v.AttrsV(), nil
}

func (e *eUpdate) evalForUpdate(ev *Evaluator, env *Env, q []*Attrs) ([]*Attrs, error) {
	var err error
	if u, ok := e.e2.(*eUpdate); ok {
		q, err = u.evalForUpdate(ev, env, q)
	} else {
		var a *Attrs
		a, err = ev.evalAttrsCtx(e.e2, env, "in the right operand of '//'")
		q = append(q, a)
	}
	if err != nil {
		return nil, err
	}
	if u, ok := e.e1.(*eUpdate); ok {
		q, err = u.evalForUpdate(ev, env, q)
	} else {
		var a *Attrs
		a, err = ev.evalAttrsCtx(e.e1, env, "in the left operand of '//'")
		q = append(q, a)
	}
	return q, err
}

func (e *eUpdate) eval(ev *Evaluator, env *Env) (Value, error) {
	var buf [4]*Attrs
	q, err := e.evalForUpdate(ev, env, buf[:0])
	if err != nil {
		return Value{}, err
	}
	acc := emptyAttrs
	for i := len(q) - 1; i >= 0; i-- {
		acc = update(acc, q[i])
	}
	return AttrsValue(acc), nil
}

func (e *eConcatLists) eval(ev *Evaluator, env *Env) (Value, error) {
	v1, err := ev.evalCtx(e.e1, env, "in the left operand of '++'")
	if err != nil {
		return Value{}, err
	}
	v2, err := ev.evalCtx(e.e2, env, "in the right operand of '++'")
	if err != nil {
		return Value{}, err
	}
	const ctx = "while evaluating one of the elements to concatenate"
	l1, err := ev.forceList(v1, e.p, ctx)
	if err != nil {
		return Value{}, err
	}
	l2, err := ev.forceList(v2, e.p, ctx)
	if err != nil {
		return Value{}, err
	}
	switch {
	case l1.ListLen() == 0:
		return l2, nil
	case l2.ListLen() == 0:
		return l1, nil
	case l1.ListLen()+l2.ListLen() > 16:
		return catValue(l1, l2), nil
	}
	return ev.concatLists([]Value{l1, l2}, e.p, ctx)
}

func (ev *Evaluator) concatLists(lists []Value, p Pos, ctx string) (Value, error) {
	n := 0
	var nonEmpty Value
	for i, l := range lists {
		l, err := ev.forceList(l, p, ctx)
		if err != nil {
			return Value{}, err
		}
		lists[i] = l
		if l.ListLen() > 0 {
			nonEmpty = l
		}
		n += l.ListLen()
	}
	if n == 0 {
		return List(nil), nil
	}
	if n == nonEmpty.ListLen() {
		return nonEmpty, nil
	}
	out := make([]Value, 0, n)
	for _, l := range lists {
		out = append(out, l.ListV()...)
	}
	return List(out), nil
}
