package ast

// Inspect traverses the tree rooted at e in depth-first order, calling f
// for each node; it does not descend into a node's children when f
// returns false. Children are visited in a fixed order: for Attrs, the
// InheritFrom sources, then static values in name order, then dynamic
// names and values.
func Inspect(e Expr, f func(Expr) bool) {
	if e == nil || !f(e) {
		return
	}
	switch x := e.(type) {
	case *Select:
		Inspect(x.X, f)
		inspectPath(x.Path, f)
		if x.Default != nil {
			Inspect(x.Default, f)
		}
	case *HasAttr:
		Inspect(x.X, f)
		inspectPath(x.Path, f)
	case *Attrs:
		inspectAttrs(x, f)
	case *List:
		for _, el := range x.Elems {
			Inspect(el, f)
		}
	case *Lambda:
		if x.Formals != nil {
			for _, fm := range x.Formals.List {
				if fm.Default != nil {
					Inspect(fm.Default, f)
				}
			}
		}
		Inspect(x.Body, f)
	case *Call:
		Inspect(x.Fn, f)
		for _, a := range x.Args {
			Inspect(a, f)
		}
	case *Let:
		inspectAttrs(x.Attrs, f)
		Inspect(x.Body, f)
	case *With:
		Inspect(x.Env, f)
		Inspect(x.Body, f)
	case *If:
		Inspect(x.Cond, f)
		Inspect(x.Then, f)
		Inspect(x.Else, f)
	case *Assert:
		Inspect(x.Cond, f)
		Inspect(x.Body, f)
	case *Not:
		Inspect(x.X, f)
	case *Binary:
		Inspect(x.X, f)
		Inspect(x.Y, f)
	case *ConcatStrings:
		for _, p := range x.Parts {
			Inspect(p.X, f)
		}
	}
}

func inspectPath(path []AttrName, f func(Expr) bool) {
	for _, a := range path {
		if a.Expr != nil {
			Inspect(a.Expr, f)
		}
	}
}

func inspectAttrs(a *Attrs, f func(Expr) bool) {
	for _, e := range a.InheritFrom {
		Inspect(e, f)
	}
	for _, d := range a.Attrs {
		Inspect(d.Value, f)
	}
	for _, d := range a.Dynamic {
		Inspect(d.NameExpr, f)
		Inspect(d.Value, f)
	}
}
