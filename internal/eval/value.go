package eval

import (
	"math"
	"unsafe"
)

// Kind is the type of a Value.
type Kind uint8

// Value kinds. KThunk only appears in lazy slots (list elements, attribute
// values, environment slots); evaluation results are always in weak head
// normal form.
const (
	KNull Kind = iota
	KBool
	KInt
	KFloat
	KString
	KPath
	KAttrs
	KList
	KLambda
	KPrimop
	KPrimopApp
	KThunk
)

// Value is a Nix value: 16 bytes, no interface boxing.
//
// Layout (private, accessed only through the methods in this file):
//   - null: p=nil, x=0
//   - bool: p=nil, x=KBool<<56|b
//   - int/float: p=&intTag/&floatTag, x=bits
//   - string/path without context: p=bytes, x=kind<<56|len
//   - string with context: p=*ctxString, x=KString<<56|ctxFlag
//   - list: p=&elems[0], x=KList<<56|n
//   - attrs/lambda/primop/primopapp/thunk: p=object, x=kind<<56
type Value struct {
	p unsafe.Pointer
	x uint64
}

var (
	intTag   byte
	floatTag byte
)

const (
	kindShift = 56
	lenMask   = 1<<48 - 1
	ctxFlag   = 1 << 48
	ropeFlag  = 1 << 49 // list: p is a *listCat
)

// listCat is a lazily flattened `l ++ r` (both non-empty lists), so
// that right-nested `[x] ++ rest` chains cost O(n) instead of O(n²).
type listCat struct {
	l, r Value
	flat []Value
}

func catValue(l, r Value) Value {
	n := l.ListLen() + r.ListLen()
	return Value{p: unsafe.Pointer(&listCat{l: l, r: r}), x: uint64(KList)<<kindShift | ropeFlag | uint64(n)}
}

// flatten materialises a rope iteratively (ropes can be deep).
func (c *listCat) flatten(n int) []Value {
	if c.flat != nil {
		return c.flat
	}
	out := make([]Value, 0, n)
	stack := []Value{c.r, c.l}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if v.x&ropeFlag != 0 {
			cc := (*listCat)(v.p)
			if cc.flat != nil {
				out = append(out, cc.flat...)
				continue
			}
			stack = append(stack, cc.r, cc.l)
			continue
		}
		out = append(out, v.ListV()...)
	}
	c.flat = out
	c.l, c.r = Value{}, Value{}
	return out
}

type ctxString struct {
	s   string
	ctx *Context
}

// Null is the null value.
var nullValue = Value{}

// Null returns the null value.
func Null() Value { return Value{} }

// Bool returns a Boolean value.
func Bool(b bool) Value {
	if b {
		return Value{x: uint64(KBool)<<kindShift | 1}
	}
	return Value{x: uint64(KBool) << kindShift}
}

// Int returns an integer value.
func Int(i int64) Value { return Value{p: unsafe.Pointer(&intTag), x: uint64(i)} }

// Float returns a float value.
func Float(f float64) Value { return Value{p: unsafe.Pointer(&floatTag), x: math.Float64bits(f)} }

// String returns a string value without context.
func String(s string) Value {
	return Value{p: unsafe.Pointer(unsafe.StringData(s)), x: uint64(KString)<<kindShift | uint64(len(s))}
}

// StringCtx returns a string value with the given context (nil or empty: none).
func StringCtx(s string, c *Context) Value {
	if c == nil || c.Len() == 0 {
		return String(s)
	}
	return Value{p: unsafe.Pointer(&ctxString{s, c}), x: uint64(KString)<<kindShift | ctxFlag}
}

// Path returns a path value; s must be absolute and canonical.
func Path(s string) Value {
	return Value{p: unsafe.Pointer(unsafe.StringData(s)), x: uint64(KPath)<<kindShift | uint64(len(s))}
}

// List returns a list value sharing elems.
func List(elems []Value) Value {
	if len(elems) == 0 {
		return Value{x: uint64(KList) << kindShift}
	}
	return Value{p: unsafe.Pointer(&elems[0]), x: uint64(KList)<<kindShift | uint64(len(elems))}
}

// AttrsValue returns an attribute set value.
func AttrsValue(a *Attrs) Value {
	return Value{p: unsafe.Pointer(a), x: uint64(KAttrs) << kindShift}
}

// lambdaValue is a closure without an allocation: p is the defining
// environment and x holds the lambda's id in Evaluator.lambdas.
func lambdaValue(env *Env, id uint32) Value {
	return Value{p: unsafe.Pointer(env), x: uint64(KLambda)<<kindShift | uint64(id)}
}

// PrimopValue returns a builtin function value.
func PrimopValue(p *Primop) Value {
	return Value{p: unsafe.Pointer(p), x: uint64(KPrimop) << kindShift}
}

func primopAppValue(p *PrimopApp) Value {
	return Value{p: unsafe.Pointer(p), x: uint64(KPrimopApp) << kindShift}
}

func thunkValue(t *Thunk) Value {
	return Value{p: unsafe.Pointer(t), x: uint64(KThunk) << kindShift}
}

// Kind returns the kind of v.
func (v Value) Kind() Kind {
	if v.p == unsafe.Pointer(&intTag) {
		return KInt
	}
	if v.p == unsafe.Pointer(&floatTag) {
		return KFloat
	}
	return Kind(v.x >> kindShift)
}

// IsThunk reports whether v is an unforced lazy slot.
func (v Value) IsThunk() bool {
	return v.x>>kindShift == uint64(KThunk) && v.p != unsafe.Pointer(&intTag) && v.p != unsafe.Pointer(&floatTag)
}

// BoolV returns the Boolean payload.
func (v Value) BoolV() bool { return v.x&1 == 1 }

// IntV returns the integer payload.
func (v Value) IntV() int64 { return int64(v.x) }

// FloatV returns the float payload.
func (v Value) FloatV() float64 { return math.Float64frombits(v.x) }

// Str returns the bytes of a string or path value.
func (v Value) Str() string {
	if v.x&ctxFlag != 0 {
		return (*ctxString)(v.p).s
	}
	n := int(v.x & lenMask)
	if n == 0 {
		return ""
	}
	return unsafe.String((*byte)(v.p), n)
}

// Ctx returns the context of a string value (nil when none).
func (v Value) Ctx() *Context {
	if v.x&ctxFlag != 0 {
		return (*ctxString)(v.p).ctx
	}
	return nil
}

// ListV returns the elements of a list value (possibly thunks). Do not modify.
func (v Value) ListV() []Value {
	n := int(v.x & lenMask)
	if n == 0 {
		return nil
	}
	if v.x&ropeFlag != 0 {
		return (*listCat)(v.p).flatten(n)
	}
	return unsafe.Slice((*Value)(v.p), n)
}

// ListLen returns the length of a list value.
func (v Value) ListLen() int { return int(v.x & lenMask) }

// AttrsV returns the attribute set of an attrs value.
func (v Value) AttrsV() *Attrs { return (*Attrs)(v.p) }

func (v Value) lambdaEnv() *Env       { return (*Env)(v.p) }
func (v Value) lambdaID() uint32      { return uint32(v.x & lenMask) }
func (v Value) primop() *Primop       { return (*Primop)(v.p) }
func (v Value) primopApp() *PrimopApp { return (*PrimopApp)(v.p) }
func (v Value) thunk() *Thunk         { return (*Thunk)(v.p) }

// IsFunction reports whether v is a lambda, primop or partial primop application.
func (v Value) IsFunction() bool {
	k := v.Kind()
	return k == KLambda || k == KPrimop || k == KPrimopApp
}

// same reports whether a and b are the same cell (identity shortcut of ==).
func same(a, b Value) bool {
	return a.p == b.p && a.x == b.x && a.p != nil && a.p != unsafe.Pointer(&intTag) && a.p != unsafe.Pointer(&floatTag)
}

// TypeName returns the showType name with article ("an integer").
func (v Value) TypeName() string { return showType(v, true) }

func showType(v Value, article bool) string {
	var a, w string
	switch v.Kind() {
	case KNull:
		return "null"
	case KBool:
		a, w = "a", "Boolean"
	case KInt:
		a, w = "an", "integer"
	case KFloat:
		a, w = "a", "float"
	case KString:
		a, w = "a", "string"
	case KPath:
		a, w = "a", "path"
	case KAttrs:
		a, w = "a", "set"
	case KList:
		a, w = "a", "list"
	case KLambda:
		a, w = "a", "function"
	case KPrimop:
		if article {
			return "the built-in function '" + v.primop().Name + "'"
		}
		a, w = "a", "built-in function"
	case KPrimopApp:
		if article {
			return "the partially applied built-in function '" + v.primopApp().primop().Name + "'"
		}
		a, w = "a", "partially applied built-in function"
	case KThunk:
		a, w = "a", "thunk"
	}
	if article {
		return a + " " + w
	}
	return w
}

// typeOf returns the builtins.typeOf name.
func typeOf(v Value) string {
	switch v.Kind() {
	case KNull:
		return "null"
	case KBool:
		return "bool"
	case KInt:
		return "int"
	case KFloat:
		return "float"
	case KString:
		return "string"
	case KPath:
		return "path"
	case KAttrs:
		return "set"
	case KList:
		return "list"
	default:
		return "lambda"
	}
}
