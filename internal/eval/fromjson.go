package eval

import (
	"errors"

	"cairn/internal/eval/json"
)

func (ev *Evaluator) jsonToValue(x any) Value {
	switch t := x.(type) {
	case nil:
		return Null()
	case bool:
		return Bool(t)
	case int64:
		return Int(t)
	case float64:
		return Float(t)
	case string:
		return String(t)
	case []any:
		out := make([]Value, len(t))
		for i, e := range t {
			out[i] = ev.jsonToValue(e)
		}
		return List(out)
	case *json.Object:
		out := make([]Attr, len(t.Keys))
		for i, k := range t.Keys {
			out[i] = Attr{Name: ev.syms.intern(k), Val: ev.jsonToValue(t.Values[i])}
		}
		return AttrsValue(newAttrs(out))
	}
	return Null()
}

func primFromJSON(ev *Evaluator, p Pos, a []Value) (Value, error) {
	s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.fromJSON")
	if err != nil {
		return Value{}, err
	}
	x, err := json.Decode(s)
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Value{}, ev.ferr("%s", se.Msg).withTrace(0, "while decoding a JSON string")
		}
		return Value{}, ev.ferr("%s", err.Error())
	}
	return ev.jsonToValue(x), nil
}
