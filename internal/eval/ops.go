package eval

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

func (ev *Evaluator) forceAttrs(v Value, p Pos, ctx string) (*Attrs, error) {
	v, err := ev.force(v, p)
	if err != nil {
		return nil, err
	}
	if v.Kind() != KAttrs {
		return nil, ev.typeError("a set", v, 0).withTrace(p, ctx)
	}
	return v.AttrsV(), nil
}

func (ev *Evaluator) forceList(v Value, p Pos, ctx string) (Value, error) {
	v, err := ev.force(v, p)
	if err != nil {
		return Value{}, err
	}
	if v.Kind() != KList {
		return Value{}, ev.typeError("a list", v, 0).withTrace(p, ctx)
	}
	return v, nil
}

func (ev *Evaluator) forceKind(v Value, p Pos, ctx string, k Kind, what string) (Value, error) {
	v, err := ev.force(v, p)
	if err == nil && v.Kind() != k {
		err = ev.typeError(what, v, p)
	}
	if err != nil {
		return Value{}, addTrace(err, p, ctx)
	}
	return v, nil
}

func (ev *Evaluator) forceInt(v Value, p Pos, ctx string) (int64, error) {
	v, err := ev.forceKind(v, p, ctx, KInt, "an integer")
	return v.IntV(), err
}

func (ev *Evaluator) forceBool(v Value, p Pos, ctx string) (bool, error) {
	v, err := ev.forceKind(v, p, ctx, KBool, "a Boolean")
	return v.BoolV(), err
}

func (ev *Evaluator) forceFloat(v Value, p Pos, ctx string) (float64, error) {
	v, err := ev.force(v, p)
	if err == nil {
		switch v.Kind() {
		case KInt:
			return float64(v.IntV()), nil
		case KFloat:
			return v.FloatV(), nil
		}
		err = ev.typeError("a float", v, p)
	}
	return 0, addTrace(err, p, ctx)
}

func (ev *Evaluator) forceString(v Value, p Pos, ctx string) (Value, error) {
	return ev.forceKind(v, p, ctx, KString, "a string")
}

func (ev *Evaluator) forceFunction(v Value, p Pos, ctx string) (Value, error) {
	v, err := ev.force(v, p)
	if err == nil && !v.IsFunction() && !ev.isFunctor(v) {
		err = ev.typeError("a function", v, p)
	}
	if err != nil {
		return Value{}, addTrace(err, p, ctx)
	}
	return v, nil
}

func (ev *Evaluator) isFunctor(v Value) bool {
	if v.Kind() != KAttrs {
		return false
	}
	_, ok := v.AttrsV().Get(symFunctor)
	return ok
}

func (ev *Evaluator) forceStringNoCtx(v Value, p Pos, ctx string) (string, error) {
	v, err := ev.forceString(v, p, ctx)
	if err != nil {
		return "", err
	}
	if c := v.Ctx(); c.Len() > 0 {
		return "", ev.errorf(errGeneric, 0, "the string '%s' is not allowed to refer to a store path (such as '%s')", v.Str(), displayCtxElem(c.Elems()[0])).withTrace(p, ctx)
	}
	return v.Str(), nil
}

func displayCtxElem(s string) string {
	switch {
	case strings.HasPrefix(s, "="):
		return s[1:]
	case strings.HasPrefix(s, "!"):
		rest := s[1:]
		if i := strings.IndexByte(rest, '!'); i >= 0 {
			return rest[i+1:] + "^" + rest[:i]
		}
	}
	return s
}

func (ev *Evaluator) isDerivation(v Value) (bool, error) {
	if v.Kind() != KAttrs {
		return false, nil
	}
	a, ok := v.AttrsV().Get(symType)
	if !ok {
		return false, nil
	}
	t, err := ev.force(a.Val, Pos(a.Pos))
	if err != nil {
		return false, err
	}
	return t.Kind() == KString && t.Str() == "derivation", nil
}

// eqValues is CppNix's EvalState::eqValues for two temporaries.
func (ev *Evaluator) eqValues(v1, v2 Value, p Pos, ctx string) (bool, error) {
	return ev.eqCells(v1, v2, false, p, ctx)
}

func (ev *Evaluator) eqCells(v1, v2 Value, cells bool, p Pos, ctx string) (bool, error) {
	if ev.depth > ev.maxDepth {
		return false, ev.stackOverflow(p)
	}
	ev.depth++
	defer func() { ev.depth-- }()
	if cells && same(v1, v2) {
		if _, err := ev.force(v1, p); err != nil {
			return false, err
		}
		return true, nil
	}
	v1, err := ev.force(v1, p)
	if err != nil {
		return false, err
	}
	v2, err = ev.force(v2, p)
	if err != nil {
		return false, err
	}
	k1, k2 := v1.Kind(), v2.Kind()
	if k1 == KInt && k2 == KFloat {
		return float64(v1.IntV()) == v2.FloatV(), nil
	}
	if k1 == KFloat && k2 == KInt {
		return v1.FloatV() == float64(v2.IntV()), nil
	}
	if k1 != k2 {
		if v1.IsFunction() && v2.IsFunction() {
			return false, nil
		}
		return false, nil
	}
	switch k1 {
	case KInt:
		return v1.IntV() == v2.IntV(), nil
	case KFloat:
		return v1.FloatV() == v2.FloatV(), nil
	case KBool:
		return v1.BoolV() == v2.BoolV(), nil
	case KString, KPath:
		return v1.Str() == v2.Str(), nil
	case KNull:
		return true, nil
	case KList:
		if v1.ListLen() != v2.ListLen() {
			return false, nil
		}
		l1, l2 := v1.ListV(), v2.ListV()
		for i := range l1 {
			eq, err := ev.eqCells(l1[i], l2[i], true, p, ctx)
			if err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	case KAttrs:
		d1, err := ev.isDerivation(v1)
		if err != nil {
			return false, err
		}
		if d1 {
			d2, err := ev.isDerivation(v2)
			if err != nil {
				return false, err
			}
			if d2 {
				i, ok1 := v1.AttrsV().Get(symOutPath)
				j, ok2 := v2.AttrsV().Get(symOutPath)
				if ok1 && ok2 {
					return ev.eqCells(i.Val, j.Val, true, p, ctx)
				}
			}
		}
		a1, a2 := v1.AttrsV().All(), v2.AttrsV().All()
		if len(a1) != len(a2) {
			return false, nil
		}
		for i := range a1 {
			if a1[i].Name != a2[i].Name {
				return false, nil
			}
			eq, err := ev.eqCells(a1[i].Val, a2[i].Val, true, p, ctx)
			if err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

func (ev *Evaluator) assertErr(format string, args ...any) error {
	return ev.errorf(errAssert, 0, format, args...)
}

// assertEqValues explains why two values differ (assert a == b).
func (ev *Evaluator) assertEqValues(v1, v2 Value, p Pos, ctx string) error {
	return ev.assertEqCells(v1, v2, false, p, ctx)
}

func (ev *Evaluator) assertEqCells(v1, v2 Value, cells bool, p Pos, ctx string) error {
	if ev.depth > ev.maxDepth {
		return ev.stackOverflow(p)
	}
	ev.depth++
	defer func() { ev.depth-- }()
	isSame := cells && same(v1, v2)
	v1, err := ev.force(v1, p)
	if err != nil {
		return err
	}
	v2, err = ev.force(v2, p)
	if err != nil {
		return err
	}
	if isSame {
		return nil
	}
	k1, k2 := v1.Kind(), v2.Kind()
	num := func(k Kind) bool { return k == KInt || k == KFloat }
	if num(k1) && num(k2) {
		eq, err := ev.eqValues(v1, v2, p, ctx)
		if err != nil || eq {
			return err
		}
		return ev.assertErr("%s with value '%s' is not equal to %s with value '%s'", showType(v1, true), ev.printValueErr(v1), showType(v2, true), ev.printValueErr(v2))
	}
	if k1 != k2 && !(v1.IsFunction() && v2.IsFunction()) {
		return ev.assertErr("%s of value '%s' is not equal to %s of value '%s'", showType(v1, true), ev.printValueErr(v1), showType(v2, true), ev.printValueErr(v2))
	}
	switch k1 {
	case KBool:
		if v1.BoolV() != v2.BoolV() {
			return ev.assertErr("boolean '%s' is not equal to boolean '%s'", ev.printValueErr(v1), ev.printValueErr(v2))
		}
	case KString:
		if v1.Str() != v2.Str() {
			return ev.assertErr("string '%s' is not equal to string '%s'", ev.printValueErr(v1), ev.printValueErr(v2))
		}
	case KPath:
		if v1.Str() != v2.Str() {
			return ev.assertErr("path '%s' is not equal to path '%s'", ev.printValueErr(v1), ev.printValueErr(v2))
		}
	case KList:
		if v1.ListLen() != v2.ListLen() {
			return ev.assertErr("list of size '%d' is not equal to list of size '%d', left hand side is '%s', right hand side is '%s'", v1.ListLen(), v2.ListLen(), ev.printValueErr(v1), ev.printValueErr(v2))
		}
		l1, l2 := v1.ListV(), v2.ListV()
		for i := range l1 {
			if err := ev.assertEqCells(l1[i], l2[i], true, p, ctx); err != nil {
				return addTracef(err, p, "while comparing list element %d", i)
			}
		}
	case KAttrs:
		d1, err := ev.isDerivation(v1)
		if err != nil {
			return err
		}
		d2 := false
		if d1 {
			if d2, err = ev.isDerivation(v2); err != nil {
				return err
			}
		}
		if d1 && d2 {
			i, ok1 := v1.AttrsV().Get(symOutPath)
			j, ok2 := v2.AttrsV().Get(symOutPath)
			if ok1 && ok2 {
				if err := ev.assertEqCells(i.Val, j.Val, true, p, ctx); err != nil {
					return addTrace(err, p, "while comparing a derivation by its 'outPath' attribute")
				}
				return nil
			}
		}
		s1, s2 := v1.AttrsV(), v2.AttrsV()
		if s1.Len() != s2.Len() {
			return ev.assertErr("attribute names of attribute set '%s' differs from attribute set '%s'", ev.printValueErr(v1), ev.printValueErr(v2))
		}
		a1, a2 := s1.All(), s2.All()
		for i := range a1 {
			if a1[i].Name != a2[i].Name {
				if _, ok := s2.Get(a1[i].Name); !ok {
					return ev.assertErr("attribute name '%s' is contained in '%s', but not in '%s'", ev.symStr(a1[i].Name), ev.printValueErr(v1), ev.printValueErr(v2))
				}
				return ev.assertErr("attribute name '%s' is missing in '%s', but is contained in '%s'", ev.symStr(a2[i].Name), ev.printValueErr(v1), ev.printValueErr(v2))
			}
			if err := ev.assertEqCells(a1[i].Val, a2[i].Val, true, p, ctx); err != nil {
				if a2[i].Pos != 0 {
					addTrace(err, Pos(a2[i].Pos), "where right hand side is")
				}
				if a1[i].Pos != 0 {
					addTrace(err, Pos(a1[i].Pos), "where left hand side is")
				}
				return addTracef(err, p, "while comparing attribute '%s'", ev.symStr(a1[i].Name))
			}
		}
	case KLambda, KPrimop, KPrimopApp:
		return ev.assertErr("distinct functions and immediate comparisons of identical functions compare as unequal")
	}
	return nil
}

// lessThan is CppNix's CompareValues.
func (ev *Evaluator) lessThan(v1, v2 Value, p Pos, ctx string) (bool, error) {
	b, err := ev.lessThan1(v1, v2, p, ctx)
	if err != nil && ctx != "" {
		addTrace(err, 0, ctx)
	}
	return b, err
}

func (ev *Evaluator) lessThan1(v1, v2 Value, p Pos, ctx string) (bool, error) {
	k1, k2 := v1.Kind(), v2.Kind()
	if k1 == KFloat && k2 == KInt {
		return v1.FloatV() < float64(v2.IntV()), nil
	}
	if k1 == KInt && k2 == KFloat {
		return float64(v1.IntV()) < v2.FloatV(), nil
	}
	if k1 != k2 && !(v1.IsFunction() && v2.IsFunction()) {
		return false, ev.errorf(errGeneric, 0, "cannot compare %s with %s; values are %s and %s", showType(v1, true), showType(v2, true), ev.printValueErr(v1), ev.printValueErr(v2))
	}
	switch k1 {
	case KInt:
		return v1.IntV() < v2.IntV(), nil
	case KFloat:
		return v1.FloatV() < v2.FloatV(), nil
	case KString, KPath:
		return v1.Str() < v2.Str(), nil
	case KList:
		l1, l2 := v1.ListV(), v2.ListV()
		for i := 0; ; i++ {
			if i == len(l2) {
				return false, nil
			}
			if i == len(l1) {
				return true, nil
			}
			eq, err := ev.eqCells(l1[i], l2[i], true, p, ctx)
			if err != nil {
				return false, err
			}
			if !eq {
				a, _ := ev.force(l1[i], p)
				b, _ := ev.force(l2[i], p)
				return ev.lessThan(a, b, p, "while comparing two list elements")
			}
		}
	}
	return false, ev.errorf(errGeneric, 0, "cannot compare %s with %s; values of that type are incomparable (values are %s and %s)", showType(v1, true), showType(v2, true), ev.printValueErr(v1), ev.printValueErr(v2))
}

// coerceOpts are the coerceToString flags.
type coerceOpts struct {
	more      bool // toString rules (ints, bools, null, lists)
	copy      bool // copy paths to the store
	canonPath bool
}

// coerceToString is CppNix's EvalState::coerceToString; context
// accumulates in cb.
func (ev *Evaluator) coerceToString(p Pos, v Value, cb *ctxBuilder, ctx string, o coerceOpts) (string, error) {
	if ev.depth > ev.maxDepth {
		return "", ev.stackOverflow(p)
	}
	ev.depth++
	s, err := ev.coerceToString1(p, v, cb, ctx, o)
	ev.depth--
	return s, err
}

func (ev *Evaluator) coerceToString1(p Pos, v Value, cb *ctxBuilder, ctx string, o coerceOpts) (string, error) {
	v, err := ev.force(v, p)
	if err != nil {
		return "", err
	}
	switch v.Kind() {
	case KString:
		cb.add(v.Ctx())
		return v.Str(), nil
	case KPath:
		if o.copy {
			sp, err := ev.copyPathToStore(v.Str())
			if err != nil {
				return "", err
			}
			cb.add(NewContext(sp))
			return sp, nil
		}
		return v.Str(), nil
	case KAttrs:
		return ev.peelToString(p, v, cb, ctx, o)
	}
	if o.more {
		switch v.Kind() {
		case KBool:
			if v.BoolV() {
				return "1", nil
			}
			return "", nil
		case KInt:
			return strconv.FormatInt(v.IntV(), 10), nil
		case KFloat:
			return strconv.FormatFloat(v.FloatV(), 'f', 6, 64), nil
		case KNull:
			return "", nil
		case KList:
			var b strings.Builder
			l := v.ListV()
			for i, x := range l {
				s, err := ev.coerceToString(p, x, cb, "while evaluating one element of the list", o)
				if err != nil {
					return "", addTrace(err, p, ctx)
				}
				b.WriteString(s)
				if i < len(l)-1 {
					xv, _ := ev.force(x, p)
					if !(xv.Kind() == KList && xv.ListLen() == 0) {
						b.WriteByte(' ')
					}
				}
			}
			return b.String(), nil
		}
	}
	return "", ev.errorf(errType, 0, "cannot coerce %s to a string: %s", showType(v, true), ev.printValueErr(v)).withTrace(p, ctx)
}

func (ev *Evaluator) peelToString(p Pos, v Value, cb *ctxBuilder, ctx string, o coerceOpts) (string, error) {
	var out string
	err := ev.peel(p, v, false, func(peeled Value, _ bool) error {
		if peeled.Kind() == KAttrs {
			return ev.errorf(errType, 0, "cannot coerce %s to a string: %s", showType(peeled, true), ev.printValueErr(peeled)).withTrace(p, ctx)
		}
		o.canonPath = true
		s, err := ev.coerceToString(p, peeled, cb, ctx, o)
		out = s
		return err
	})
	return out, err
}

// peel is CppNix's peelToStringOutPath: it follows __toString and
// outPath and hands the result to cb.
func (ev *Evaluator) peel(p Pos, v Value, check bool, cb func(peeled Value, cameThroughToString bool) error) error {
	return ev.peel1(p, v, check, false, cb)
}

func (ev *Evaluator) peel1(p Pos, v Value, check, came bool, cb func(Value, bool) error) error {
	v, err := ev.force(v, p)
	if err != nil {
		return err
	}
	if v.Kind() != KAttrs {
		if check && came && v.Kind() != KString && v.Kind() != KPath {
			return ev.errorf(errType, p, "`__toString` should return a string, but got %s: %s", showType(v, true), ev.printValueErr(v))
		}
		return cb(v, came)
	}
	a := v.AttrsV()
	if ts, ok := a.Get(symToString); ok {
		r, err := ev.callFunction(ts.Val, []Value{v}, Pos(ts.Pos))
		if err != nil {
			return addTrace(err, Pos(ts.Pos), "while calling the `__toString` attribute")
		}
		if ev.depth > ev.maxDepth {
			return addTrace(ev.stackOverflow(p), Pos(ts.Pos), "while using the result of the `__toString` attribute")
		}
		ev.depth++
		err = ev.peel1(Pos(ts.Pos), r, check, true, cb)
		ev.depth--
		if err != nil {
			return addTrace(err, Pos(ts.Pos), "while using the result of the `__toString` attribute")
		}
		return nil
	}
	if op, ok := a.Get(symOutPath); ok {
		r, err := ev.force(op.Val, Pos(op.Pos))
		if err != nil {
			return addTrace(err, Pos(op.Pos), "while evaluating the `outPath` attribute")
		}
		if ev.depth > ev.maxDepth {
			return addTrace(ev.stackOverflow(p), Pos(op.Pos), "while using the `outPath` attribute")
		}
		ev.depth++
		err = ev.peel1(Pos(op.Pos), r, check, came, cb)
		ev.depth--
		if err != nil {
			return addTrace(err, Pos(op.Pos), "while using the `outPath` attribute")
		}
		return nil
	}
	if check && came {
		return ev.errorf(errType, p, "`__toString` must return a string, but got %s: %s", showType(v, true), ev.printValueErr(v))
	}
	return cb(v, came)
}

func (ev *Evaluator) copyPathToStore(path string) (string, error) {
	if sp, ok := ev.storeCopies[path]; ok {
		return sp, nil
	}
	if strings.HasSuffix(path, ".drv") {
		return "", ev.errorf(errGeneric, 0, "file names are not allowed to end in '.drv'")
	}
	if ev.opts.IO == nil {
		return "", ev.errorf(errGeneric, 0, "cannot copy '%s' to the store: no store available", path)
	}
	if err := ev.checkExists(path); err != nil {
		return "", err
	}
	sp, err := ev.opts.IO.CopyPathToStore(path)
	if err != nil {
		return "", ev.errorf(errFile, 0, "%s", err.Error())
	}
	ev.storeCopies[path] = sp
	return sp, nil
}

func (e *eConcatStrings) eval(ev *Evaluator, env *Env) (Value, error) {
	if e.forceString {
		return e.evalString(ev, env, nil, KString)
	}
	// `a + b`: the first operand decides the type.
	first, err := ev.evalCtx(e.parts[0].e, env, "in an operand of '+'")
	if err != nil {
		return Value{}, err
	}
	switch first.Kind() {
	case KInt, KFloat:
		return e.evalNum(ev, env, first)
	}
	return e.evalString(ev, env, &first, first.Kind())
}

//go:noinline
func (e *eConcatStrings) evalNum(ev *Evaluator, env *Env, first Value) (Value, error) {
	isFloat := first.Kind() == KFloat
	n, nf := first.IntV(), first.FloatV()
	for _, part := range e.parts[1:] {
		v, err := ev.evalCtx(part.e, env, "in an operand of '+'")
		if err != nil {
			return Value{}, err
		}
		switch {
		case !isFloat && v.Kind() == KInt:
			r, ok := ev.addInt(n, v.IntV())
			if !ok {
				return Value{}, ev.errorf(errGeneric, part.p, "integer overflow in adding %d + %d", n, v.IntV())
			}
			n = r
		case !isFloat && v.Kind() == KFloat:
			isFloat = true
			nf = float64(n) + v.FloatV()
		case isFloat && v.Kind() == KInt:
			nf += float64(v.IntV())
		case isFloat && v.Kind() == KFloat:
			nf += v.FloatV()
		case isFloat:
			return Value{}, ev.errorf(errGeneric, part.p, "cannot add %s to a float", showType(v, true))
		default:
			return Value{}, ev.errorf(errGeneric, part.p, "cannot add %s to an integer", showType(v, true))
		}
	}
	if isFloat {
		return Float(nf), nil
	}
	return Int(n), nil
}

//go:noinline
func (e *eConcatStrings) evalString(ev *Evaluator, env *Env, first *Value, firstKind Kind) (Value, error) {
	var cb ctxBuilder
	var buf [8]string
	parts := buf[:0]
	size := 0
	for i, part := range e.parts {
		var v Value
		if i == 0 && first != nil {
			v = *first
		} else {
			var err error
			v, err = ev.evalCtx(part.e, env, "in an operand of '+'")
			if err != nil {
				return Value{}, err
			}
		}
		s, err := ev.coerceToString(part.p, v, &cb, "while evaluating a path segment", coerceOpts{copy: firstKind == KString, canonPath: i != 0})
		if err != nil {
			return Value{}, err
		}
		size += len(s)
		parts = append(parts, s)
	}
	var b strings.Builder
	b.Grow(size)
	for _, s := range parts {
		b.WriteString(s)
	}
	if firstKind == KPath {
		if cb.c.Len() > 0 {
			return Value{}, ev.errorf(errGeneric, e.p, "a string that refers to a store path cannot be appended to a path")
		}
		return Path(canonPath(b.String())), nil
	}
	return StringCtx(b.String(), cb.c), nil
}

func (ev *Evaluator) addInt(a, b int64) (int64, bool) {
	r := a + b
	if ev.opts.Compat.CheckedIntArith && ((a >= 0) == (b >= 0)) && ((r >= 0) != (a >= 0)) {
		return 0, false
	}
	return r, true
}

func (ev *Evaluator) subInt(a, b int64) (int64, bool) {
	r := a - b
	if ev.opts.Compat.CheckedIntArith && ((a >= 0) != (b >= 0)) && ((r >= 0) != (a >= 0)) {
		return 0, false
	}
	return r, true
}

func (ev *Evaluator) mulInt(a, b int64) (int64, bool) {
	r := a * b
	if ev.opts.Compat.CheckedIntArith && a != 0 && (r/a != b || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64)) {
		return 0, false
	}
	return r, true
}

// canonPath removes ".", "..", duplicate and trailing slashes lexically.
func canonPath(p string) string {
	if p == "" {
		return "/"
	}
	parts := strings.Split(p, "/")
	out := make([]string, 0, len(parts))
	for _, s := range parts {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

var _ = fmt.Sprintf

// determinePos is CppNix's Value::determinePos.
func (ev *Evaluator) determinePos(v Value, def Pos) Pos {
	if v.IsThunk() {
		t := v.thunk()
		switch t.state() {
		case thDone:
			v = t.val()
		case thPending, thRunning:
			if t.ptr == nil {
				if a, ok := t.code.(*appThunk); ok {
					return ev.determinePos(a.f, def)
				}
			}
			return def
		default:
			return def
		}
	}
	switch v.Kind() {
	case KAttrs:
		return v.AttrsV().pos
	case KLambda:
		return ev.lambdas[v.lambdaID()].pos
	}
	return def
}
