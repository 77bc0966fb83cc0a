package eval

import (
	"cmp"
	"slices"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/token"
)

// Pos is a position in the evaluator's FileSet (token.NoPos: none).
type Pos = token.Pos

// scope is a static environment used while compiling.
type scope struct {
	up      *scope
	with    bool
	withPos Pos
	names   map[Sym]int
}

type compiler struct {
	ev  *Evaluator
	err *EvalError
	// inheritFrom holds, while an `inherit (e) x` attribute is compiled
	// under Compat.InheritFromOnce == false, the set's from-expressions:
	// Nix 2.8 evaluates e anew for each inherited attribute (so the
	// attributes' values are distinct, as nix-env -qa's deduplication sees).
	inheritFrom []ast.Expr
}

// internNames pre-interns the names of a parsed file in source order, as
// CppNix's lexer does, so that symbol-id order matches.
func (ev *Evaluator) internNames(e ast.Expr) {
	type nm struct {
		p Pos
		s string
	}
	var names []nm
	add := func(p Pos, s string) {
		if _, ok := ev.syms.ids[s]; !ok {
			names = append(names, nm{p, s})
		}
	}
	addPath := func(path []ast.AttrName, p Pos) {
		for _, a := range path {
			if a.Expr == nil {
				add(p, a.Name)
			}
		}
	}
	ast.Inspect(e, func(x ast.Expr) bool {
		switch n := x.(type) {
		case *ast.Var:
			add(n.At, n.Name)
		case *ast.Select:
			addPath(n.Path, n.At)
		case *ast.HasAttr:
			addPath(n.Path, n.At)
		case *ast.Attrs:
			for _, d := range n.Attrs {
				add(d.NamePos, d.Name)
			}
		case *ast.Let:
			for _, d := range n.Attrs.Attrs {
				add(d.NamePos, d.Name)
			}
		case *ast.Lambda:
			if n.Arg != "" {
				add(n.At, n.Arg)
			}
			if n.Formals != nil {
				for _, f := range n.Formals.List {
					add(f.At, f.Name)
				}
			}
		}
		return true
	})
	// Only names not interned yet need ordering: intern them in source
	// order, as CppNix's lexer does.
	slices.SortStableFunc(names, func(a, b nm) int { return int(a.p) - int(b.p) })
	for _, n := range names {
		ev.syms.intern(n.s)
	}
}

// compile resolves e in the base scope.
func (ev *Evaluator) compile(e ast.Expr) (expr, error) {
	ev.internNames(e)
	c := &compiler{ev: ev}
	x := c.expr(e, ev.baseScope)
	if c.err != nil {
		return nil, c.err
	}
	return x, nil
}

func (c *compiler) fail(p Pos, format string, args ...any) {
	if c.err == nil {
		c.err = c.ev.errorf(errUndefinedVar, p, format, args...)
	}
}

func (c *compiler) sym(s string) Sym { return c.ev.syms.intern(s) }

func (c *compiler) lookup(sc *scope, name string, p Pos) expr {
	s := c.sym(name)
	level := 0
	for x := sc; x != nil; x = x.up {
		if !x.with {
			if slot, ok := x.names[s]; ok {
				return &eVar{p: p, name: s, level: level, slot: slot}
			}
		}
		level++
	}
	w := &eWithVar{p: p, name: s}
	level = 0
	for x := sc; x != nil; x = x.up {
		if x.with {
			w.levels = append(w.levels, level)
			w.withPs = append(w.withPs, x.withPos)
		}
		level++
	}
	if len(w.levels) == 0 {
		c.fail(p, "undefined variable '%s'", printIdentifier(name))
		return &eConst{p: p}
	}
	return w
}

// basePrimop returns the primop that fn, a variable of the base scope
// (builtins such as __lessThan or map, not shadowed), always denotes, or
// nil. The base environment is never modified once built.
func (c *compiler) basePrimop(fn expr, sc *scope) *Primop {
	v, ok := fn.(*eVar)
	if !ok || c.ev.baseEnv == nil {
		return nil
	}
	x := sc
	for l := v.level; l > 0 && x != nil; l-- {
		x = x.up
	}
	if x != c.ev.baseScope {
		return nil
	}
	bv := *c.ev.baseEnv.slot(v.slot)
	if bv.Kind() != KPrimop {
		return nil
	}
	return bv.primop()
}

func (c *compiler) path(path []ast.AttrName, sc *scope) []attrName {
	out := make([]attrName, len(path))
	for i, a := range path {
		if a.Expr == nil {
			out[i] = attrName{sym: c.sym(a.Name)}
		} else {
			out[i] = attrName{dyn: c.expr(a.Expr, sc), src: ast.Show(a.Expr)}
		}
	}
	return out
}

func (c *compiler) exprs(es []ast.Expr, sc *scope) []expr {
	out := make([]expr, len(es))
	for i, e := range es {
		out[i] = c.expr(e, sc)
	}
	return out
}

func (c *compiler) expr(e ast.Expr, sc *scope) expr {
	switch n := e.(type) {
	case *ast.Int:
		return &eConst{v: Int(n.Value)}
	case *ast.Float:
		return &eConst{v: Float(n.Value)}
	case *ast.String:
		return &eConst{v: String(n.Value)}
	case *ast.Path:
		return &eConst{v: Path(n.Value)}
	case *ast.Var:
		return c.lookup(sc, n.Name, n.At)
	case *ast.Select:
		s := &eSelect{p: n.At, e: c.expr(n.X, sc), path: c.path(n.Path, sc)}
		if n.Default != nil {
			s.def = c.expr(n.Default, sc)
		}
		return s
	case *ast.HasAttr:
		return &eHasAttr{p: n.Pos(), e: c.expr(n.X, sc), path: c.path(n.Path, sc)}
	case *ast.Attrs:
		return c.attrs(n, sc)
	case *ast.List:
		return &eList{p: n.Pos(), elems: c.exprs(n.Elems, sc)}
	case *ast.Lambda:
		return c.lambda(n, sc)
	case *ast.Call:
		fn := c.expr(n.Fn, sc)
		if op := c.basePrimop(fn, sc); op != nil && op.Arity == len(n.Args) {
			return &ePrimCall{p: n.At, op: op, args: c.exprs(n.Args, sc)}
		}
		return &eCall{p: n.At, fn: fn, args: c.exprs(n.Args, sc)}
	case *ast.Let:
		ls := &scope{up: sc, names: map[Sym]int{}}
		a := c.bindings(n.Attrs, sc, ls)
		return &eLet{p: n.Pos(), attrs: a, body: c.expr(n.Body, ls)}
	case *ast.With:
		ws := &scope{up: sc, with: true, withPos: n.At}
		return &eWith{p: n.At, attrs: c.expr(n.Env, sc), body: c.expr(n.Body, ws)}
	case *ast.If:
		return &eIf{p: n.At, cond: c.expr(n.Cond, sc), then: c.expr(n.Then, sc), els: c.expr(n.Else, sc)}
	case *ast.Assert:
		return &eAssert{p: n.At, cond: c.expr(n.Cond, sc), body: c.expr(n.Body, sc), condStr: ast.Show(n.Cond)}
	case *ast.Not:
		return &eNot{p: n.Pos(), e: c.expr(n.X, sc)}
	case *ast.Binary:
		x, y := c.expr(n.X, sc), c.expr(n.Y, sc)
		switch n.Op {
		case ast.OpEq:
			return &eEq{p: n.At, e1: x, e2: y}
		case ast.OpNEq:
			return &eEq{p: n.At, neq: true, e1: x, e2: y}
		case ast.OpAnd, ast.OpOr, ast.OpImpl:
			op := n.Op.String()
			return &eBinBool{p: n.At, op: op, e1: x, e2: y, lctx: "in the left operand of '" + op + "'", rctx: "in the right operand of '" + op + "'"}
		case ast.OpUpdate:
			return &eUpdate{p: n.At, e1: x, e2: y}
		case ast.OpConcatLists:
			return &eConcatLists{p: n.At, e1: x, e2: y}
		}
	case *ast.ConcatStrings:
		cs := &eConcatStrings{p: n.At, forceString: n.ForceString}
		for _, p := range n.Parts {
			cs.parts = append(cs.parts, strPart{p: p.At, e: c.expr(p.X, sc)})
		}
		return cs
	case *ast.CurPos:
		return &eCurPos{p: n.At}
	case *ast.InheritFrom:
		if from := c.inheritFrom; from != nil {
			c.inheritFrom = nil
			x := c.expr(from[n.Index], sc)
			c.inheritFrom = from
			return x
		}
		return &eVar{p: n.At, level: 0, slot: n.Index}
	}
	c.fail(e.Pos(), "internal error: unknown expression %T", e)
	return &eConst{}
}

// bindings compiles the static attributes of a let or rec set. outer is
// the enclosing scope; inner the scope holding the attributes.
func (c *compiler) bindings(a *ast.Attrs, outer, inner *scope) *eAttrs {
	out := &eAttrs{p: a.At, rec: true}
	defs := make([]attrDef, len(a.Attrs))
	for i, d := range a.Attrs {
		defs[i] = attrDef{name: c.sym(d.Name), p: d.NamePos}
	}
	order := make([]int, len(defs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(defs[i].name, defs[j].name) })
	for slot, i := range order {
		inner.names[defs[i].name] = slot
	}
	var ifScope *scope
	if len(a.InheritFrom) > 0 {
		ifScope = &scope{up: inner, names: map[Sym]int{}}
		for _, f := range a.InheritFrom {
			out.inheritFrom = append(out.inheritFrom, c.expr(f, inner))
		}
	}
	sorted := make([]attrDef, len(defs))
	for slot, i := range order {
		d := a.Attrs[i]
		ad := defs[i]
		switch d.Kind {
		case ast.Plain:
			ad.kind = attrPlain
			ad.e = c.expr(d.Value, inner)
		case ast.Inherited:
			ad.kind = attrInherited
			ad.e = c.expr(d.Value, outer)
		case ast.InheritedFrom:
			ad.kind = attrInheritedFrom
			ad.e = c.inheritedFrom(d.Value, ifScope, a.InheritFrom)
		}
		sorted[slot] = ad
	}
	out.attrs = sorted
	return out
}

// inheritedFrom compiles the value of an `inherit (e) x` attribute (a
// select from the set's from-expression).
func (c *compiler) inheritedFrom(v ast.Expr, ifScope *scope, from []ast.Expr) expr {
	if c.ev.opts.Compat.InheritFromOnce {
		return c.expr(v, ifScope)
	}
	saved := c.inheritFrom
	c.inheritFrom = from
	x := c.expr(v, ifScope)
	c.inheritFrom = saved
	return x
}

func (c *compiler) attrs(a *ast.Attrs, sc *scope) expr {
	if a.Rec {
		rs := &scope{up: sc, names: map[Sym]int{}}
		out := c.bindings(a, sc, rs)
		for _, d := range a.Dynamic {
			out.dyn = append(out.dyn, dynAttr{p: d.At, name: c.expr(d.NameExpr, rs), value: c.expr(d.Value, rs)})
		}
		return out
	}
	out := &eAttrs{p: a.At}
	defs := make([]attrDef, len(a.Attrs))
	var ifScope *scope
	if len(a.InheritFrom) > 0 {
		ifScope = &scope{up: sc, names: map[Sym]int{}}
		for _, f := range a.InheritFrom {
			out.inheritFrom = append(out.inheritFrom, c.expr(f, sc))
		}
	}
	for i, d := range a.Attrs {
		ad := attrDef{name: c.sym(d.Name), p: d.NamePos}
		switch d.Kind {
		case ast.Plain:
			ad.e = c.expr(d.Value, sc)
		case ast.Inherited:
			ad.kind = attrInherited
			ad.e = c.expr(d.Value, sc)
		case ast.InheritedFrom:
			ad.kind = attrInheritedFrom
			ad.e = c.inheritedFrom(d.Value, ifScope, a.InheritFrom)
		}
		defs[i] = ad
	}
	slices.SortFunc(defs, func(x, y attrDef) int { return cmp.Compare(x.name, y.name) })
	out.attrs = defs
	for _, d := range a.Dynamic {
		out.dyn = append(out.dyn, dynAttr{p: d.At, name: c.expr(d.NameExpr, sc), value: c.expr(d.Value, sc)})
	}
	return out
}

func (c *compiler) lambda(n *ast.Lambda, sc *scope) expr {
	l := &eLambda{p: n.At, pos: n.At, id: uint32(len(c.ev.lambdas))}
	c.ev.lambdas = append(c.ev.lambdas, l)
	if n.Name != "" {
		l.name, l.hasName = c.sym(n.Name), true
	}
	ls := &scope{up: sc, names: map[Sym]int{}}
	d := 0
	if n.Arg != "" {
		l.arg, l.hasArg = c.sym(n.Arg), true
		ls.names[l.arg] = 0
		d = 1
	}
	if n.Formals != nil {
		l.ellipsis = n.Formals.Ellipsis
		fs := make([]formal, len(n.Formals.List))
		src := make([]ast.Expr, len(n.Formals.List))
		for i, f := range n.Formals.List {
			fs[i] = formal{name: c.sym(f.Name), p: f.At}
			src[i] = f.Default
		}
		idx := make([]int, len(fs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(i, j int) int { return cmp.Compare(fs[i].name, fs[j].name) })
		sorted := make([]formal, len(fs))
		for k, i := range idx {
			sorted[k] = fs[i]
			ls.names[fs[i].name] = d + k
		}
		for k, i := range idx {
			if src[i] != nil {
				sorted[k].def = c.expr(src[i], ls)
			}
		}
		l.formals = sorted
		if l.formals == nil {
			l.formals = []formal{}
		}
	}
	l.nslots = d + len(l.formals)
	l.body = c.expr(n.Body, ls)
	l.noEscape = l.formals == nil && noEscape(l.body)
	return l
}
