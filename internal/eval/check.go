package eval

import (
	"maps"

	"cairn/internal/lang/ast"
)

// CheckExpr reports the bind-time error Nix's parser reports for e (an
// undefined variable), as CompileExpr would, without compiling: a walk
// with a count of the names in scope finds whether any variable is
// undefined, and only then does the compiler run to report the first one
// in Nix's order. It is what `--parse` needs.
func (ev *Evaluator) CheckExpr(e ast.Expr) error {
	names := ev.checkNames
	if names == nil {
		names = ev.baseNames()
	}
	c := &checker{names: names}
	c.expr(e)
	if !c.undefined {
		ev.checkNames = names // the walk left the counts as it found them
		return nil
	}
	ev.checkNames = nil
	_, err := ev.compile(e)
	return err
}

// NewDefinedCheck returns a function reporting whether every variable of
// an expression is defined (CheckExpr's fast walk, without the error).
// Each returned function has its own state: one may run on each of
// several goroutines while the evaluator is not used, e.g. by the
// parallel `--parse`. Call NewDefinedCheck itself on the evaluator's
// goroutine.
func (ev *Evaluator) NewDefinedCheck() func(ast.Expr) bool {
	base := ev.baseNames()
	names := maps.Clone(base)
	return func(e ast.Expr) bool {
		c := &checker{names: names}
		c.expr(e)
		if c.undefined {
			// The walk may have stopped with names pushed: start over.
			names = maps.Clone(base)
		}
		return !c.undefined
	}
}

// baseNames counts the names of the base scope (builtins and the like),
// the checker's state before a walk.
func (ev *Evaluator) baseNames() map[string]int32 {
	names := make(map[string]int32, len(ev.baseScope.names)+64)
	for s := range ev.baseScope.names {
		names[ev.syms.name(s)]++
	}
	return names
}

// checker finds undefined variables. names counts the bindings of each
// name in scope; inside a `with` every name resolves.
type checker struct {
	names     map[string]int32
	with      int
	undefined bool
}

func (c *checker) push(name string) { c.names[name]++ }
func (c *checker) pop(name string)  { c.names[name]-- }

func (c *checker) exprs(es []ast.Expr) {
	for _, e := range es {
		c.expr(e)
	}
}

func (c *checker) path(p []ast.AttrName) {
	for _, a := range p {
		if a.Expr != nil {
			c.expr(a.Expr)
		}
	}
}

func (c *checker) expr(e ast.Expr) {
	if c.undefined {
		return
	}
	switch n := e.(type) {
	case *ast.Var:
		if c.with == 0 && c.names[n.Name] <= 0 {
			c.undefined = true
		}
	case *ast.Select:
		c.expr(n.X)
		c.path(n.Path)
		if n.Default != nil {
			c.expr(n.Default)
		}
	case *ast.HasAttr:
		c.expr(n.X)
		c.path(n.Path)
	case *ast.Attrs:
		if n.Rec {
			c.recAttrs(n, nil)
			return
		}
		c.exprs(n.InheritFrom)
		for _, d := range n.Attrs {
			c.expr(d.Value)
		}
		for _, d := range n.Dynamic {
			c.expr(d.NameExpr)
			c.expr(d.Value)
		}
	case *ast.List:
		c.exprs(n.Elems)
	case *ast.Lambda:
		if n.Arg != "" {
			c.push(n.Arg)
		}
		if n.Formals != nil {
			for _, f := range n.Formals.List {
				c.push(f.Name)
			}
			for _, f := range n.Formals.List {
				if f.Default != nil {
					c.expr(f.Default)
				}
			}
		}
		c.expr(n.Body)
		if n.Formals != nil {
			for _, f := range n.Formals.List {
				c.pop(f.Name)
			}
		}
		if n.Arg != "" {
			c.pop(n.Arg)
		}
	case *ast.Call:
		c.expr(n.Fn)
		c.exprs(n.Args)
	case *ast.Let:
		c.recAttrs(n.Attrs, n.Body)
	case *ast.With:
		c.expr(n.Env)
		c.with++
		c.expr(n.Body)
		c.with--
	case *ast.If:
		c.expr(n.Cond)
		c.expr(n.Then)
		c.expr(n.Else)
	case *ast.Assert:
		c.expr(n.Cond)
		c.expr(n.Body)
	case *ast.Not:
		c.expr(n.X)
	case *ast.Binary:
		c.expr(n.X)
		c.expr(n.Y)
	case *ast.ConcatStrings:
		for _, p := range n.Parts {
			c.expr(p.X)
		}
	}
	// Int, Float, String, Path, CurPos and InheritFrom bind nothing.
}

// recAttrs checks a rec set or a let (with body): inherited names are
// looked up outside, everything else sees the attributes.
func (c *checker) recAttrs(a *ast.Attrs, body ast.Expr) {
	for _, d := range a.Attrs {
		if d.Kind == ast.Inherited {
			c.expr(d.Value)
		}
	}
	for _, d := range a.Attrs {
		c.push(d.Name)
	}
	c.exprs(a.InheritFrom)
	for _, d := range a.Attrs {
		if d.Kind != ast.Inherited {
			c.expr(d.Value)
		}
	}
	for _, d := range a.Dynamic {
		c.expr(d.NameExpr)
		c.expr(d.Value)
	}
	if body != nil {
		c.expr(body)
	}
	for _, d := range a.Attrs {
		c.pop(d.Name)
	}
}
