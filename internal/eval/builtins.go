package eval

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// builtinOrder is CppNix's primop registration order (symbol-id order).
var builtinOrder = strings.Fields(`scopedImport import __typeOf isNull __isFunction __isInt __isFloat __isString __isBool __isPath __genericClosure break abort throw __addErrorContext __ceil __floor __tryEval __getEnv __seq __deepSeq __trace __warn derivationStrict placeholder __toPath __storePath __pathExists baseNameOf dirOf __readFile __findFile __hashFile __readFileType __readDir __outputOf __toXML __toJSON __fromJSON __toFile __filterSource __path __attrNames __attrValues __getAttr __unsafeGetAttrPos __hasAttr __isAttrs removeAttrs __listToAttrs __intersectAttrs __catAttrs __functionArgs __mapAttrs __zipAttrsWith __isList __elemAt __head __tail map __filter __elem __concatLists __length __foldl' __any __all __genList __sort __partition __groupBy __concatMap __add __sub __mul __div __bitAnd __bitOr __bitXor __lessThan toString __substring __stringLength __hashString __convertHash __match __split __concatStringsSep __replaceStrings __parseDrvName __compareVersions __splitVersion __traceVerbose __unsafeDiscardStringContext __hasContext __unsafeDiscardOutputDependency __addDrvOutputDependencies __getContext __appendContext fromTOML __fetchurl fetchTarball fetchGit fetchTree fetchMercurial fetchClosure`)

// allBuiltins returns every builtin in registration order. To add a
// builtin, add a Primop to one of the builtin table functions (or a new
// one listed here) with its CppNix name ("__x" for builtins-only names).
func (ev *Evaluator) allBuiltins() []Primop {
	var all []Primop
	all = append(all, coreBuiltins()...)
	all = append(all, listBuiltins()...)
	all = append(all, attrBuiltins()...)
	all = append(all, stringBuiltins()...)
	all = append(all, ioBuiltins()...)
	all = append(all, extraBuiltins()...)
	if ev.opts.Compat.FlakeRefs {
		all = append(all,
			Primop{Name: "__parseFlakeRef", Arity: 1, Fn: primParseFlakeRef, ArgNames: []string{"flake-ref"}},
			Primop{Name: "__flakeRefToString", Arity: 1, Fn: primFlakeRefToString, ArgNames: []string{"attrs"}})
	}
	for _, x := range ev.opts.ExtraBuiltins {
		replaced := false
		for i := range all {
			if all[i].Name == x.Name {
				all[i] = x
				replaced = true
			}
		}
		if !replaced {
			all = append(all, x)
		}
	}
	idx := map[string]int{}
	for i, n := range builtinOrder {
		idx[n] = i
	}
	slices.SortStableFunc(all, func(a, b Primop) int {
		ia, oka := idx[a.Name]
		ib, okb := idx[b.Name]
		if !oka {
			ia = len(builtinOrder)
		}
		if !okb {
			ib = len(builtinOrder)
		}
		return ia - ib
	})
	return all
}

func argCtx(n int, name string) string {
	return "while evaluating the " + ordinal(n) + " argument passed to builtins." + name
}

func ordinal(n int) string {
	return [...]string{"", "first", "second", "third", "fourth"}[n]
}

func (ev *Evaluator) ferr(format string, args ...any) *EvalError {
	return ev.errorf(errGeneric, 0, format, args...)
}

func (ev *Evaluator) call1(f, a Value) (Value, error) {
	return ev.callFunction(f, []Value{a}, 0)
}

func (ev *Evaluator) call2(f, a, b Value) (Value, error) {
	return ev.callFunction(f, []Value{a, b}, 0)
}

func isType(k Kind) PrimopFunc {
	return func(ev *Evaluator, p Pos, a []Value) (Value, error) {
		v, err := ev.force(a[0], 0)
		if err != nil {
			return Value{}, err
		}
		return Bool(v.Kind() == k), nil
	}
}

func coreBuiltins() []Primop {
	return []Primop{
		{Name: "__typeOf", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			return String(typeOf(v)), nil
		}},
		{Name: "isNull", Arity: 1, Fn: isType(KNull)},
		{Name: "__isFunction", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			return Bool(v.IsFunction()), nil
		}},
		{Name: "__isInt", Arity: 1, Fn: isType(KInt)},
		{Name: "__isFloat", Arity: 1, Fn: isType(KFloat)},
		{Name: "__isString", Arity: 1, Fn: isType(KString)},
		{Name: "__isBool", Arity: 1, Fn: isType(KBool)},
		{Name: "__isPath", Arity: 1, Fn: isType(KPath)},
		{Name: "__isAttrs", Arity: 1, Fn: isType(KAttrs)},
		{Name: "__isList", Arity: 1, Fn: isType(KList)},
		{Name: "abort", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the error message passed to builtins.abort", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			return Value{}, ev.errorf(errAbort, 0, "evaluation aborted with the following error message: '%s'", s)
		}},
		{Name: "throw", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the error message passed to builtin.throw", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			return Value{}, &EvalError{Msg: s, kind: errThrow}
		}},
		{Name: "__addErrorContext", Arity: 2, NoTrace: true, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[1], 0)
			if err == nil {
				return v, nil
			}
			var cb ctxBuilder
			msg, err2 := ev.coerceToString(0, a[0], &cb, "while evaluating the error message passed to builtins.addErrorContext", coerceOpts{})
			if err2 != nil {
				return Value{}, err2
			}
			if e, ok := err.(*EvalError); ok {
				e.Frames = append(e.Frames, Frame{Msg: msg, Always: true})
			}
			return Value{}, err
		}},
		{Name: "__ceil", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			return ev.roundFn(a[0], math.Ceil, "ceil")
		}},
		{Name: "__floor", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			return ev.roundFn(a[0], math.Floor, "floor")
		}},
		{Name: "__tryEval", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			_, err := ev.force(a[0], 0)
			if err != nil {
				if e, ok := err.(*EvalError); ok && e.Catchable() {
					return AttrsValue(newAttrs([]Attr{{Name: symValue, Val: Bool(false)}, {Name: ev.syms.intern("success"), Val: Bool(false)}})), nil
				}
				return Value{}, err
			}
			return AttrsValue(newAttrs([]Attr{{Name: symValue, Val: a[0]}, {Name: ev.syms.intern("success"), Val: Bool(true)}})), nil
		}},
		{Name: "__getEnv", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.getEnv")
			if err != nil {
				return Value{}, err
			}
			if ev.opts.Pure || ev.opts.Getenv == nil {
				return String(""), nil
			}
			v, _ := ev.opts.Getenv(s)
			return String(v), nil
		}},
		{Name: "__seq", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			if _, err := ev.force(a[0], 0); err != nil {
				return Value{}, err
			}
			return ev.force(a[1], 0)
		}},
		{Name: "__deepSeq", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			if err := ev.ForceDeep(a[0]); err != nil {
				return Value{}, err
			}
			return ev.force(a[1], 0)
		}},
		{Name: "__trace", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			if v.Kind() == KString {
				fmt.Fprintf(ev.opts.Trace, "trace: %s\n", v.Str())
			} else {
				fmt.Fprintf(ev.opts.Trace, "trace: %s\n", ev.PrintValue(v))
			}
			return ev.force(a[1], 0)
		}},
		{Name: "__traceVerbose", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			return ev.force(a[1], 0)
		}},
		{Name: "__warn", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.forceString(a[0], 0, "while evaluating the first argument; the message passed to builtins.warn")
			if err != nil {
				return Value{}, err
			}
			ev.warn(v.Str())
			return ev.force(a[1], 0)
		}},
		{Name: "__functionArgs", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			if v.Kind() == KPrimop || v.Kind() == KPrimopApp {
				return AttrsValue(emptyAttrs), nil
			}
			if v.Kind() != KLambda {
				return Value{}, ev.errorf(errType, 0, "'functionArgs' requires a function")
			}
			l := ev.lambdas[v.lambdaID()]
			out := make([]Attr, len(l.formals))
			for i, f := range l.formals {
				out[i] = Attr{Name: f.name, Pos: int32(f.p), Val: Bool(f.def != nil)}
			}
			return AttrsValue(newAttrs(out)), nil
		}},
		{Name: "__add", Arity: 2, Fn: arith("addition", '+')},
		{Name: "__sub", Arity: 2, Fn: arith("subtraction", '-')},
		{Name: "__mul", Arity: 2, Fn: arith("multiplication", '*')},
		{Name: "__div", Arity: 2, Fn: primDiv},
		{Name: "__bitAnd", Arity: 2, Fn: bitOp("bitAnd", func(a, b int64) int64 { return a & b })},
		{Name: "__bitOr", Arity: 2, Fn: bitOp("bitOr", func(a, b int64) int64 { return a | b })},
		{Name: "__bitXor", Arity: 2, Fn: bitOp("bitXor", func(a, b int64) int64 { return a ^ b })},
		{Name: "__lessThan", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			x, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			y, err := ev.force(a[1], 0)
			if err != nil {
				return Value{}, err
			}
			b, err := ev.lessThan(x, y, 0, "")
			return Bool(b), err
		}},
		{Name: "__genericClosure", Arity: 1, Fn: primGenericClosure},
		{Name: "break", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) { return ev.force(a[0], 0) }},
	}
}

func (ev *Evaluator) warn(msg string) {
	io.WriteString(ev.opts.Trace, formatInfo(ev.fset, "evaluation warning: ", &EvalError{Msg: msg}, true, strings.HasPrefix(msg, "\n")))
}

// warnAt prints a "warning:" with a position and trace frames.
func (ev *Evaluator) warnAt(msg string, p Pos, frames ...Frame) {
	io.WriteString(ev.opts.Trace, formatInfo(ev.fset, "warning: ", &EvalError{Msg: msg, Pos: p, Frames: frames}, true, false))
}

func indentMsg(s, ind string) string {
	if strings.HasPrefix(s, "\n") {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\n"+ind)
}

func (ev *Evaluator) roundFn(a Value, f func(float64) float64, name string) (Value, error) {
	v, err := ev.force(a, 0)
	if err != nil {
		return Value{}, err
	}
	x, err := ev.forceFloat(v, 0, "while evaluating the first argument passed to builtins."+name)
	if err != nil {
		return Value{}, err
	}
	r := f(x)
	if r >= 9223372036854775807.0 || r < -9223372036854775808.0 || math.IsNaN(r) {
		return Value{}, ev.ferr("NixFloat argument %s is not in the range of NixInt", formatFloat(x))
	}
	return Int(int64(r)), nil
}

func arith(what string, op byte) PrimopFunc {
	ctx1 := "while evaluating the first argument of the " + what
	ctx2 := "while evaluating the second argument of the " + what
	ctx1f := ctx1
	if op == '*' {
		ctx1f = "while evaluating the first of the multiplication"
	}
	return func(ev *Evaluator, p Pos, a []Value) (Value, error) {
		x, err := ev.force(a[0], 0)
		if err != nil {
			return Value{}, err
		}
		y, err := ev.force(a[1], 0)
		if err != nil {
			return Value{}, err
		}
		if x.Kind() == KFloat || y.Kind() == KFloat {
			f1, err := ev.forceFloat(x, 0, ctx1f)
			if err != nil {
				return Value{}, err
			}
			f2, err := ev.forceFloat(y, 0, ctx2)
			if err != nil {
				return Value{}, err
			}
			switch op {
			case '+':
				return Float(f1 + f2), nil
			case '-':
				return Float(f1 - f2), nil
			}
			return Float(f1 * f2), nil
		}
		if x.Kind() == KInt && y.Kind() == KInt {
			i1, i2 := x.IntV(), y.IntV()
			switch op {
			case '+':
				if r, ok := ev.addInt(i1, i2); ok {
					return Int(r), nil
				}
			case '-':
				if r, ok := ev.subInt(i1, i2); ok {
					return Int(r), nil
				}
			default:
				if r, ok := ev.mulInt(i1, i2); ok {
					return Int(r), nil
				}
			}
		}
		i1, err := ev.forceInt(x, 0, ctx1)
		if err != nil {
			return Value{}, err
		}
		i2, err := ev.forceInt(y, 0, ctx2)
		if err != nil {
			return Value{}, err
		}
		var r int64
		var ok bool
		switch op {
		case '+':
			r, ok = ev.addInt(i1, i2)
			if !ok {
				return Value{}, ev.ferr("integer overflow in adding %d + %d", i1, i2)
			}
		case '-':
			r, ok = ev.subInt(i1, i2)
			if !ok {
				return Value{}, ev.ferr("integer overflow in subtracting %d - %d", i1, i2)
			}
		default:
			r, ok = ev.mulInt(i1, i2)
			if !ok {
				return Value{}, ev.ferr("integer overflow in multiplying %d * %d", i1, i2)
			}
		}
		return Int(r), nil
	}
}

func primDiv(ev *Evaluator, p Pos, a []Value) (Value, error) {
	x, err := ev.force(a[0], 0)
	if err != nil {
		return Value{}, err
	}
	y, err := ev.force(a[1], 0)
	if err != nil {
		return Value{}, err
	}
	f2, err := ev.forceFloat(y, 0, "while evaluating the second operand of the division")
	if err != nil {
		return Value{}, err
	}
	if f2 == 0 {
		return Value{}, ev.ferr("division by zero")
	}
	if x.Kind() == KFloat || y.Kind() == KFloat {
		f1, err := ev.forceFloat(x, 0, "while evaluating the first operand of the division")
		if err != nil {
			return Value{}, err
		}
		return Float(f1 / f2), nil
	}
	i1, err := ev.forceInt(x, 0, "while evaluating the first operand of the division")
	if err != nil {
		return Value{}, err
	}
	i2, err := ev.forceInt(y, 0, "while evaluating the second operand of the division")
	if err != nil {
		return Value{}, err
	}
	if i1 == math.MinInt64 && i2 == -1 {
		if ev.opts.Compat.CheckedIntArith {
			return Value{}, ev.ferr("integer overflow in dividing %d / %d", i1, i2)
		}
		return Int(i1), nil
	}
	return Int(i1 / i2), nil
}

func bitOp(name string, f func(a, b int64) int64) PrimopFunc {
	c1, c2 := argCtx(1, name), argCtx(2, name)
	return func(ev *Evaluator, p Pos, a []Value) (Value, error) {
		i1, err := ev.forceInt(a[0], 0, c1)
		if err != nil {
			return Value{}, err
		}
		i2, err := ev.forceInt(a[1], 0, c2)
		if err != nil {
			return Value{}, err
		}
		return Int(f(i1, i2)), nil
	}
}

func primGenericClosure(ev *Evaluator, p Pos, a []Value) (Value, error) {
	args, err := ev.forceAttrs(a[0], 0, "while evaluating the first argument passed to builtins.genericClosure")
	if err != nil {
		return Value{}, err
	}
	ss, ok := args.Get(symStartSet)
	if !ok {
		return Value{}, ev.errorf(errType, 0, "attribute 'startSet' missing").withTrace(0, "in the attrset passed as argument to builtins.genericClosure")
	}
	start, err := ev.forceList(ss.Val, 0, "while evaluating the 'startSet' attribute passed as argument to builtins.genericClosure")
	if err != nil {
		return Value{}, err
	}
	if start.ListLen() == 0 {
		return start, nil
	}
	opA, ok := args.Get(symOperator)
	if !ok {
		return Value{}, ev.errorf(errType, 0, "attribute 'operator' missing").withTrace(0, "in the attrset passed as argument to builtins.genericClosure")
	}
	op, err := ev.forceFunction(opA.Val, 0, "while evaluating the 'operator' attribute passed as argument to builtins.genericClosure")
	if err != nil {
		return Value{}, err
	}
	work := append([]Value(nil), start.ListV()...)
	var res []Value
	type kv struct{ key, elem Value }
	var keys []kv // sorted by key
	for len(work) > 0 {
		e := work[0]
		work = work[1:]
		ea, err := ev.forceAttrs(e, 0, "")
		if err != nil {
			return Value{}, addTracef(err, 0, "in genericClosure element %s", ev.printValueErr(e))
		}
		ka, ok := ea.Get(symKey)
		if !ok {
			err := ev.errorf(errType, 0, "attribute 'key' missing").withTrace(0, "")
			return Value{}, addTracef(err, 0, "in genericClosure element %s", ev.printValueErr(e))
		}
		key, err := ev.force(ka.Val, 0)
		if err != nil {
			return Value{}, err
		}
		// binary search in keys
		lo, hi := 0, len(keys)
		found := false
		for lo < hi {
			m := (lo + hi) / 2
			lt, err := ev.lessThan(key, keys[m].key, 0, "")
			if err != nil {
				return Value{}, ev.closureCmpErr(err, e, key, keys[m].elem)
			}
			if lt {
				hi = m
				continue
			}
			gt, err := ev.lessThan(keys[m].key, key, 0, "")
			if err != nil {
				return Value{}, ev.closureCmpErr(err, e, key, keys[m].elem)
			}
			if !gt {
				found = true
				break
			}
			lo = m + 1
		}
		if found {
			continue
		}
		keys = slices.Insert(keys, lo, kv{key, e})
		res = append(res, e)
		nv, err := ev.callFunction(op, []Value{e}, 0)
		if err == nil {
			nv, err = ev.forceList(nv, 0, "while evaluating the return value of the `operator` passed to builtins.genericClosure")
		}
		if err != nil {
			return Value{}, addTracef(err, 0, "while calling operator on genericClosure element %s", ev.printValueErr(e))
		}
		for _, x := range nv.ListV() {
			if _, err := ev.force(x, 0); err != nil {
				return Value{}, err
			}
			work = append(work, x)
		}
	}
	return List(res), nil
}

func (ev *Evaluator) closureCmpErr(err error, e, key, other Value) error {
	addTracef(err, 0, "with element %s", ev.printValueErr(other))
	return addTracef(err, 0, "while comparing element %s", ev.printValueErr(e))
}

// ---- lists

func listBuiltins() []Primop {
	return []Primop{
		{Name: "__elemAt", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceInt(a[1], 0, "while evaluating the second argument passed to 'builtins.elemAt'")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to 'builtins.elemAt'")
			if err != nil {
				return Value{}, err
			}
			if n < 0 || n >= int64(l.ListLen()) {
				return Value{}, ev.ferr("'builtins.elemAt' called with index %d on a list of size %d", n, l.ListLen())
			}
			return ev.force(l.ListV()[n], 0)
		}},
		{Name: "__head", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to 'builtins.head'")
			if err != nil {
				return Value{}, err
			}
			if l.ListLen() == 0 {
				return Value{}, ev.ferr("'builtins.head' called on an empty list")
			}
			return ev.force(l.ListV()[0], 0)
		}},
		{Name: "__tail", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to 'builtins.tail'")
			if err != nil {
				return Value{}, err
			}
			if l.ListLen() == 0 {
				return Value{}, ev.ferr("'builtins.tail' called on an empty list")
			}
			return List(l.ListV()[1:]), nil
		}},
		{Name: "map", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.map")
			if err != nil {
				return Value{}, err
			}
			if l.ListLen() == 0 {
				return l, nil
			}
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.map")
			if err != nil {
				return Value{}, err
			}
			out := make([]Value, l.ListLen())
			for i, x := range l.ListV() {
				out[i] = ev.newApp(f, x)
			}
			return List(out), nil
		}},
		{Name: "__filter", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.filter")
			if err != nil {
				return Value{}, err
			}
			if l.ListLen() == 0 {
				return l, nil
			}
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.filter")
			if err != nil {
				return Value{}, err
			}
			var out []Value
			same := true
			for _, x := range l.ListV() {
				r, err := ev.call1(f, x)
				if err != nil {
					return Value{}, err
				}
				b, err := ev.forceBool(r, 0, "while evaluating the return value of the filtering function passed to builtins.filter")
				if err != nil {
					return Value{}, err
				}
				if b {
					out = append(out, x)
				} else {
					same = false
				}
			}
			if same {
				return l, nil
			}
			return List(out), nil
		}},
		{Name: "__elem", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.elem")
			if err != nil {
				return Value{}, err
			}
			for _, x := range l.ListV() {
				eq, err := ev.eqCells(a[0], x, true, 0, "while searching for the presence of the given element in the list")
				if err != nil {
					return Value{}, err
				}
				if eq {
					return Bool(true), nil
				}
			}
			return Bool(false), nil
		}},
		{Name: "__concatLists", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to builtins.concatLists")
			if err != nil {
				return Value{}, err
			}
			return ev.concatLists(append([]Value(nil), l.ListV()...), 0, "while evaluating a value of the list passed to builtins.concatLists")
		}},
		{Name: "__length", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to builtins.length")
			if err != nil {
				return Value{}, err
			}
			return Int(int64(l.ListLen())), nil
		}},
		{Name: "__foldl'", Arity: 3, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.foldlStrict")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[2], 0, "while evaluating the third argument passed to builtins.foldlStrict")
			if err != nil {
				return Value{}, err
			}
			acc := a[1]
			if l.ListLen() == 0 {
				return ev.force(acc, 0)
			}
			for _, x := range l.ListV() {
				acc, err = ev.callFunction(f, []Value{acc, x}, 0)
				if err != nil {
					return Value{}, err
				}
			}
			return ev.force(acc, 0)
		}},
		{Name: "__any", Arity: 2, Fn: anyAll(true)},
		{Name: "__all", Arity: 2, Fn: anyAll(false)},
		{Name: "__genList", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceInt(a[1], 0, "while evaluating the second argument passed to builtins.genList")
			if err != nil {
				return Value{}, err
			}
			if n < 0 {
				return Value{}, ev.ferr("cannot create list of size %d", n)
			}
			if n == 0 {
				return List(nil), nil
			}
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.genList")
			if err != nil {
				return Value{}, err
			}
			out := make([]Value, n)
			for i := range out {
				out[i] = ev.newApp(f, Int(int64(i)))
			}
			return List(out), nil
		}},
		{Name: "__sort", Arity: 2, Fn: primSort},
		{Name: "__partition", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.partition")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.partition")
			if err != nil {
				return Value{}, err
			}
			var r, w []Value
			for _, x := range l.ListV() {
				if _, err := ev.force(x, 0); err != nil {
					return Value{}, err
				}
				res, err := ev.call1(f, x)
				if err != nil {
					return Value{}, err
				}
				b, err := ev.forceBool(res, 0, "while evaluating the return value of the partition function passed to builtins.partition")
				if err != nil {
					return Value{}, err
				}
				if b {
					r = append(r, x)
				} else {
					w = append(w, x)
				}
			}
			return AttrsValue(newAttrs([]Attr{{Name: symRight, Val: List(r)}, {Name: symWrong, Val: List(w)}})), nil
		}},
		{Name: "__groupBy", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.groupBy")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.groupBy")
			if err != nil {
				return Value{}, err
			}
			groups := map[Sym][]Value{}
			var order []Sym
			for _, x := range l.ListV() {
				res, err := ev.call1(f, x)
				if err != nil {
					return Value{}, err
				}
				k, err := ev.forceStringNoCtx(res, 0, "while evaluating the return value of the grouping function passed to builtins.groupBy")
				if err != nil {
					return Value{}, err
				}
				s := ev.syms.intern(k)
				if _, ok := groups[s]; !ok {
					order = append(order, s)
				}
				groups[s] = append(groups[s], x)
			}
			out := make([]Attr, 0, len(order))
			for _, s := range order {
				out = append(out, Attr{Name: s, Val: List(groups[s])})
			}
			return AttrsValue(newAttrs(out)), nil
		}},
		{Name: "__concatMap", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.concatMap")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.concatMap")
			if err != nil {
				return Value{}, err
			}
			var out []Value
			for _, x := range l.ListV() {
				r, err := ev.call1(f, x)
				if err != nil {
					return Value{}, err
				}
				r, err = ev.forceList(r, ev.determinePos(r, ev.determinePos(f, 0)), "while evaluating the return value of the function passed to builtins.concatMap")
				if err != nil {
					return Value{}, err
				}
				out = append(out, r.ListV()...)
			}
			return List(out), nil
		}},
	}
}

func anyAll(isAny bool) PrimopFunc {
	name := "all"
	if isAny {
		name = "any"
	}
	c1 := "while evaluating the first argument passed to builtins." + name
	c2 := "while evaluating the second argument passed to builtins." + name
	c3 := "while evaluating the return value of the function passed to builtins." + name
	return func(ev *Evaluator, p Pos, a []Value) (Value, error) {
		f, err := ev.forceFunction(a[0], 0, c1)
		if err != nil {
			return Value{}, err
		}
		l, err := ev.forceList(a[1], 0, c2)
		if err != nil {
			return Value{}, err
		}
		for _, x := range l.ListV() {
			r, err := ev.call1(f, x)
			if err != nil {
				return Value{}, err
			}
			b, err := ev.forceBool(r, 0, c3)
			if err != nil {
				return Value{}, err
			}
			if b == isAny {
				return Bool(isAny), nil
			}
		}
		return Bool(!isAny), nil
	}
}

func primSort(ev *Evaluator, p Pos, a []Value) (Value, error) {
	l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.sort")
	if err != nil {
		return Value{}, err
	}
	if l.ListLen() == 0 {
		return l, nil
	}
	f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.sort")
	if err != nil {
		return Value{}, err
	}
	out := append([]Value(nil), l.ListV()...)
	for i, x := range out {
		v, err := ev.force(x, 0)
		if err != nil {
			return Value{}, err
		}
		// A scalar has no cell identity that printing or == could see,
		// so the sorted list holds it directly rather than its thunk.
		switch v.Kind() {
		case KNull, KBool, KInt, KFloat:
			out[i] = v
		}
	}
	fast := f.Kind() == KPrimop && f.primop().Name == "lessThan"
	var ferr error
	less := func(x, y Value) bool {
		if ferr != nil {
			return false
		}
		if fast {
			xv, _ := ev.force(x, 0)
			yv, _ := ev.force(y, 0)
			b, err := ev.lessThan(xv, yv, 0, "while evaluating the ordering function passed to builtins.sort")
			if err != nil {
				ferr = err
			}
			return b
		}
		r, err := ev.callFunction(f, []Value{x, y}, 0)
		if err != nil {
			ferr = err
			return false
		}
		b, err := ev.forceBool(r, 0, "while evaluating the return value of the sorting function passed to builtins.sort")
		if err != nil {
			ferr = err
		}
		return b
	}
	out = mergeSort(out, less)
	if ferr != nil {
		return Value{}, ferr
	}
	return List(out), nil
}

// mergeSort is a stable merge sort that tolerates invalid comparators.
func mergeSort(a []Value, less func(x, y Value) bool) []Value {
	buf := make([]Value, len(a))
	mergeSortRec(a, buf, less)
	return a
}

func mergeSortRec(a, buf []Value, less func(x, y Value) bool) {
	if len(a) <= 7 {
		for i := 1; i < len(a); i++ {
			for j := i; j > 0 && less(a[j], a[j-1]); j-- {
				a[j], a[j-1] = a[j-1], a[j]
			}
		}
		return
	}
	m := len(a) / 2
	mergeSortRec(a[:m], buf[:m], less)
	mergeSortRec(a[m:], buf[m:], less)
	copy(buf, a)
	l, r := buf[:m], buf[m:len(a)]
	i, j, k := 0, 0, 0
	for i < len(l) && j < len(r) {
		if less(r[j], l[i]) {
			a[k] = r[j]
			j++
		} else {
			a[k] = l[i]
			i++
		}
		k++
	}
	k += copy(a[k:], l[i:])
	copy(a[k:], r[j:])
}

// ---- attrs

func attrBuiltins() []Primop {
	return []Primop{
		{Name: "__attrNames", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceAttrs(a[0], 0, "while evaluating the argument passed to builtins.attrNames")
			if err != nil {
				return Value{}, err
			}
			out := make([]Value, s.Len())
			for i, at := range ev.lexOrder(s) {
				out[i] = ev.syms.vals[at.Name]
			}
			return List(out), nil
		}},
		{Name: "__attrValues", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceAttrs(a[0], 0, "while evaluating the argument passed to builtins.attrValues")
			if err != nil {
				return Value{}, err
			}
			out := make([]Value, s.Len())
			for i, at := range ev.lexOrder(s) {
				out[i] = at.Val
			}
			return List(out), nil
		}},
		{Name: "__getAttr", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.getAttr")
			if err != nil {
				return Value{}, err
			}
			s, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.getAttr")
			if err != nil {
				return Value{}, err
			}
			at, ok := s.Get(ev.syms.intern(n))
			if !ok {
				return Value{}, ev.errorf(errType, 0, "attribute '%s' missing", n).withTrace(0, "in the attribute set under consideration")
			}
			return ev.force(at.Val, Pos(at.Pos))
		}},
		{Name: "__unsafeGetAttrPos", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.unsafeGetAttrPos")
			if err != nil {
				return Value{}, err
			}
			s, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.unsafeGetAttrPos")
			if err != nil {
				return Value{}, err
			}
			at, ok := s.Get(ev.syms.intern(n))
			if !ok {
				return Null(), nil
			}
			return ev.mkPos(Pos(at.Pos)), nil
		}},
		{Name: "__hasAttr", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.hasAttr")
			if err != nil {
				return Value{}, err
			}
			s, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.hasAttr")
			if err != nil {
				return Value{}, err
			}
			_, ok := s.Get(ev.syms.intern(n))
			return Bool(ok), nil
		}},
		{Name: "removeAttrs", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceAttrs(a[0], 0, "while evaluating the first argument passed to builtins.removeAttrs")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.removeAttrs")
			if err != nil {
				return Value{}, err
			}
			del := map[Sym]bool{}
			for _, x := range l.ListV() {
				n, err := ev.forceStringNoCtx(x, 0, "while evaluating the values of the second argument passed to builtins.removeAttrs")
				if err != nil {
					return Value{}, err
				}
				del[ev.syms.intern(n)] = true
			}
			out := make([]Attr, 0, s.Len())
			for _, at := range s.All() {
				if !del[at.Name] {
					out = append(out, at)
				}
			}
			if len(out) == s.Len() {
				return AttrsValue(s), nil
			}
			return AttrsValue(&Attrs{a: out}), nil
		}},
		{Name: "__listToAttrs", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceList(a[0], 0, "while evaluating the argument passed to builtins.listToAttrs")
			if err != nil {
				return Value{}, err
			}
			type item struct {
				sym Sym
				set *Attrs
			}
			items := make([]item, l.ListLen())
			for i, x := range l.ListV() {
				s, err := ev.forceAttrs(x, 0, "while evaluating an element of the list passed to builtins.listToAttrs")
				if err != nil {
					return Value{}, err
				}
				na, ok := s.Get(symName)
				if !ok {
					return Value{}, ev.errorf(errType, 0, "attribute 'name' missing").withTrace(0, "in a {name=...; value=...;} pair")
				}
				n, err := ev.forceStringNoCtx(na.Val, Pos(na.Pos), "while evaluating the `name` attribute of an element of the list passed to builtins.listToAttrs")
				if err != nil {
					return Value{}, err
				}
				items[i] = item{ev.syms.intern(n), s}
			}
			slices.SortStableFunc(items, func(x, y item) int { return int(x.sym) - int(y.sym) })
			out := make([]Attr, 0, len(items))
			for i, it := range items {
				if i > 0 && items[i-1].sym == it.sym {
					continue
				}
				va, ok := it.set.Get(symValue)
				if !ok {
					return Value{}, ev.errorf(errType, 0, "attribute 'value' missing").withTrace(0, "in a {name=...; value=...;} pair")
				}
				out = append(out, Attr{Name: it.sym, Pos: va.Pos, Val: va.Val})
			}
			return AttrsValue(&Attrs{a: out}), nil
		}},
		{Name: "__intersectAttrs", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			l, err := ev.forceAttrs(a[0], 0, "while evaluating the first argument passed to builtins.intersectAttrs")
			if err != nil {
				return Value{}, err
			}
			r, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.intersectAttrs")
			if err != nil {
				return Value{}, err
			}
			// Walk the smaller set and look names up in the other (callPackage
			// intersects a few formals with all of nixpkgs); both walks
			// yield r's bindings in symbol order.
			var out []Attr
			if l.Len() < r.Len() {
				for _, at := range l.All() {
					if x, ok := r.Get(at.Name); ok {
						out = append(out, *x)
					}
				}
				return AttrsValue(newAttrs(out)), nil
			}
			for _, at := range r.All() {
				if _, ok := l.Get(at.Name); ok {
					out = append(out, at)
				}
			}
			return AttrsValue(newAttrs(out)), nil
		}},
		{Name: "__catAttrs", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			n, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.catAttrs")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.catAttrs")
			if err != nil {
				return Value{}, err
			}
			sym := ev.syms.intern(n)
			var out []Value
			for _, x := range l.ListV() {
				s, err := ev.forceAttrs(x, 0, "while evaluating an element in the list passed as second argument to builtins.catAttrs")
				if err != nil {
					return Value{}, err
				}
				if at, ok := s.Get(sym); ok {
					out = append(out, at.Val)
				}
			}
			return List(out), nil
		}},
		{Name: "__mapAttrs", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.mapAttrs")
			if err != nil {
				return Value{}, err
			}
			out := make([]Attr, s.Len())
			for i, at := range s.All() {
				out[i] = Attr{Name: at.Name, Val: ev.newApp(ev.newApp(a[0], ev.syms.vals[at.Name]), at.Val)}
			}
			return AttrsValue(&Attrs{a: out}), nil
		}},
		{Name: "__zipAttrsWith", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.zipAttrsWith")
			if err != nil {
				return Value{}, err
			}
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.zipAttrsWith")
			if err != nil {
				return Value{}, err
			}
			groups := map[Sym][]Value{}
			for _, x := range l.ListV() {
				s, err := ev.forceAttrs(x, 0, "while evaluating a value of the list passed as second argument to builtins.zipAttrsWith")
				if err != nil {
					return Value{}, err
				}
				for _, at := range s.All() {
					groups[at.Name] = append(groups[at.Name], at.Val)
				}
			}
			out := make([]Attr, 0, len(groups))
			for k, vs := range groups {
				out = append(out, Attr{Name: k, Val: ev.newApp(ev.newApp(f, ev.syms.vals[k]), List(vs))})
			}
			return AttrsValue(newAttrs(out)), nil
		}},
	}
}

// ---- strings

func stringBuiltins() []Primop {
	return []Primop{
		{Name: "toString", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the first argument passed to builtins.toString", coerceOpts{more: true})
			if err != nil {
				return Value{}, err
			}
			return StringCtx(s, cb.c), nil
		}},
		{Name: "__substring", Arity: 3, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			start, err := ev.forceInt(a[0], 0, "while evaluating the first argument (the start offset) passed to builtins.substring")
			if err != nil {
				return Value{}, err
			}
			if start < 0 {
				return Value{}, ev.ferr("negative start position in 'substring'")
			}
			n, err := ev.forceInt(a[1], 0, "while evaluating the second argument (the substring length) passed to builtins.substring")
			if err != nil {
				return Value{}, err
			}
			if n == 0 {
				v, err := ev.force(a[2], 0)
				if err != nil {
					return Value{}, err
				}
				if v.Kind() == KString {
					return StringCtx("", v.Ctx()), nil
				}
			}
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[2], &cb, "while evaluating the third argument (the string) passed to builtins.substring", coerceOpts{copy: true})
			if err != nil {
				return Value{}, err
			}
			if start >= int64(len(s)) {
				return StringCtx("", cb.c), nil
			}
			end := int64(len(s))
			if n >= 0 && start+n < end {
				end = start + n
			}
			return StringCtx(s[start:end], cb.c), nil
		}},
		{Name: "__stringLength", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the argument passed to builtins.stringLength", coerceOpts{copy: true})
			if err != nil {
				return Value{}, err
			}
			return Int(int64(len(s))), nil
		}},
		{Name: "__concatStringsSep", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			sepV, err := ev.forceString(a[0], 0, "while evaluating the first argument (the separator string) passed to builtins.concatStringsSep")
			if err != nil {
				return Value{}, err
			}
			cb.add(sepV.Ctx())
			l, err := ev.forceList(a[1], 0, "while evaluating the second argument (the list of strings to concat) passed to builtins.concatStringsSep")
			if err != nil {
				return Value{}, err
			}
			var b strings.Builder
			for i, x := range l.ListV() {
				if i > 0 {
					b.WriteString(sepV.Str())
				}
				s, err := ev.coerceToString(0, x, &cb, "while evaluating one element of the list of strings to concat passed to builtins.concatStringsSep", coerceOpts{copy: true})
				if err != nil {
					return Value{}, err
				}
				b.WriteString(s)
			}
			return StringCtx(b.String(), cb.c), nil
		}},
		{Name: "__replaceStrings", Arity: 3, Fn: primReplaceStrings},
		{Name: "__unsafeDiscardStringContext", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the argument passed to builtins.unsafeDiscardStringContext", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			return String(s), nil
		}},
		{Name: "__hasContext", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.forceString(a[0], 0, "while evaluating the argument passed to builtins.hasContext")
			if err != nil {
				return Value{}, err
			}
			return Bool(v.Ctx().Len() > 0), nil
		}},
		{Name: "__unsafeDiscardOutputDependency", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the argument passed to builtins.unsafeDiscardOutputDependency", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			var out []string
			for _, c := range cb.c.Elems() {
				if strings.HasPrefix(c, "=") {
					out = append(out, c[1:])
				} else {
					out = append(out, c)
				}
			}
			return StringCtx(s, NewContext(out...)), nil
		}},
		{Name: "__getContext", Arity: 1, Fn: primGetContext},
		{Name: "__addDrvOutputDependencies", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the argument passed to builtins.addDrvOutputDependencies", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			if cb.c.Len() != 1 {
				return Value{}, ev.ferr("context of string '%s' must have exactly one element, but has %d", s, cb.c.Len())
			}
			c := cb.c.Elems()[0]
			switch {
			case strings.HasPrefix(c, "="):
			case strings.HasPrefix(c, "!"):
				rest := c[1:]
				return Value{}, ev.ferr("`addDrvOutputDependencies` can only act on derivations, not on a derivation output such as '%s'", rest[:strings.IndexByte(rest, '!')])
			default:
				if !strings.HasSuffix(c, ".drv") {
					return Value{}, ev.ferr("path '%s' is not a derivation", c)
				}
				c = "=" + c
			}
			return StringCtx(s, NewContext(c)), nil
		}},
		{Name: "__appendContext", Arity: 2, Fn: primAppendContext},
	}
}

func primReplaceStrings(ev *Evaluator, p Pos, a []Value) (Value, error) {
	from, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to builtins.replaceStrings")
	if err != nil {
		return Value{}, err
	}
	to, err := ev.forceList(a[1], 0, "while evaluating the second argument passed to builtins.replaceStrings")
	if err != nil {
		return Value{}, err
	}
	if from.ListLen() != to.ListLen() {
		return Value{}, ev.ferr("'from' and 'to' arguments passed to builtins.replaceStrings have different lengths")
	}
	froms := make([]string, from.ListLen())
	for i, x := range from.ListV() {
		s, err := ev.forceStringNoCtxKeep(x, "while evaluating one of the strings to replace passed to builtins.replaceStrings")
		if err != nil {
			return Value{}, err
		}
		froms[i] = s
	}
	tos := make([]*Value, to.ListLen())
	var cb ctxBuilder
	sv, err := ev.forceString(a[2], 0, "while evaluating the third argument passed to builtins.replaceStrings")
	if err != nil {
		return Value{}, err
	}
	cb.add(sv.Ctx())
	s := sv.Str()
	getTo := func(i int) (string, error) {
		if tos[i] == nil {
			v, err := ev.forceString(to.ListV()[i], 0, "while evaluating one of the replacement strings passed to builtins.replaceStrings")
			if err != nil {
				return "", err
			}
			tos[i] = &v
		}
		cb.add(tos[i].Ctx())
		return tos[i].Str(), nil
	}
	var b strings.Builder
	for i := 0; i <= len(s); {
		found := false
		for j, f := range froms {
			if strings.HasPrefix(s[i:], f) {
				t, err := getTo(j)
				if err != nil {
					return Value{}, err
				}
				b.WriteString(t)
				found = true
				if f == "" {
					if i < len(s) {
						b.WriteByte(s[i])
					}
					i++
				} else {
					i += len(f)
				}
				break
			}
		}
		if !found {
			if i < len(s) {
				b.WriteByte(s[i])
			}
			i++
		}
	}
	return StringCtx(b.String(), cb.c), nil
}

func (ev *Evaluator) forceStringNoCtxKeep(v Value, ctx string) (string, error) {
	x, err := ev.forceString(v, 0, ctx)
	if err != nil {
		return "", err
	}
	return x.Str(), nil
}

func primGetContext(ev *Evaluator, p Pos, a []Value) (Value, error) {
	v, err := ev.forceString(a[0], 0, "while evaluating the argument passed to builtins.getContext")
	if err != nil {
		return Value{}, err
	}
	type info struct {
		path    bool
		all     bool
		outputs []string
	}
	m := map[string]*info{}
	var order []string
	get := func(k string) *info {
		if i, ok := m[k]; ok {
			return i
		}
		i := &info{}
		m[k] = i
		order = append(order, k)
		return i
	}
	for _, c := range v.Ctx().Elems() {
		switch {
		case strings.HasPrefix(c, "="):
			get(c[1:]).all = true
		case strings.HasPrefix(c, "!"):
			rest := c[1:]
			k := strings.IndexByte(rest, '!')
			i := get(rest[k+1:])
			i.outputs = append(i.outputs, rest[:k])
		default:
			get(c).path = true
		}
	}
	out := make([]Attr, 0, len(order))
	for _, k := range order {
		i := m[k]
		var as []Attr
		if i.path {
			as = append(as, Attr{Name: symPath, Val: Bool(true)})
		}
		if i.all {
			as = append(as, Attr{Name: ev.syms.intern("allOutputs"), Val: Bool(true)})
		}
		if len(i.outputs) > 0 {
			slices.Sort(i.outputs)
			ol := make([]Value, len(i.outputs))
			for j, o := range i.outputs {
				ol[j] = String(o)
			}
			as = append(as, Attr{Name: symOutputs, Val: List(ol)})
		}
		out = append(out, Attr{Name: ev.syms.intern(k), Val: AttrsValue(newAttrs(as))})
	}
	return AttrsValue(newAttrs(out)), nil
}

func primAppendContext(ev *Evaluator, p Pos, a []Value) (Value, error) {
	sv, err := ev.forceString(a[0], 0, "while evaluating the first argument passed to builtins.appendContext")
	if err != nil {
		return Value{}, err
	}
	s, err := ev.forceAttrs(a[1], 0, "while evaluating the second argument passed to builtins.appendContext")
	if err != nil {
		return Value{}, err
	}
	elems := append([]string(nil), sv.Ctx().Elems()...)
	for _, at := range ev.lexOrder(s) {
		name := ev.syms.name(at.Name)
		if !strings.HasPrefix(name, ev.opts.StoreDir+"/") {
			return Value{}, ev.ferr("context key '%s' is not a store path", name)
		}
		info, err := ev.forceAttrs(at.Val, Pos(at.Pos), "while evaluating the value of a string context")
		if err != nil {
			return Value{}, err
		}
		if pa, ok := info.Get(symPath); ok {
			b, err := ev.forceBool(pa.Val, Pos(pa.Pos), "while evaluating the `path` attribute of a string context")
			if err != nil {
				return Value{}, err
			}
			if b {
				elems = append(elems, name)
			}
		}
		if aa, ok := info.Get(ev.syms.intern("allOutputs")); ok {
			b, err := ev.forceBool(aa.Val, Pos(aa.Pos), "while evaluating the `allOutputs` attribute of a string context")
			if err != nil {
				return Value{}, err
			}
			if b {
				if !strings.HasSuffix(name, ".drv") {
					return Value{}, ev.ferr("tried to add all-outputs context of %s, which is not a derivation, to a string", name)
				}
				elems = append(elems, "="+name)
			}
		}
		if oa, ok := info.Get(symOutputs); ok {
			l, err := ev.forceList(oa.Val, Pos(oa.Pos), "while evaluating the `outputs` attribute of a string context")
			if err != nil {
				return Value{}, err
			}
			if l.ListLen() > 0 && !strings.HasSuffix(name, ".drv") {
				return Value{}, ev.ferr("tried to add derivation output context of %s, which is not a derivation, to a string", name)
			}
			for _, o := range l.ListV() {
				on, err := ev.forceStringNoCtx(o, Pos(oa.Pos), "while evaluating an output name within a string context")
				if err != nil {
					return Value{}, err
				}
				elems = append(elems, "!"+on+"!"+name)
			}
		}
	}
	return StringCtx(sv.Str(), NewContext(elems...)), nil
}

var _ = strconv.Itoa
