package eval

import (
	"errors"
	"slices"
	"strings"

	"cairn/internal/eval/toml"
)

func (ev *Evaluator) hasFeature(f string) bool {
	return slices.Contains(ev.opts.ExperimentalFeatures, f)
}

func noNulByte(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("error: input string '" + strings.ReplaceAll(s, "\x00", "␀") + "' cannot be represented as Nix string because it contains null bytes")
	}
	return nil
}

func (ev *Evaluator) tomlToValue(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Null(), nil
	case bool:
		return Bool(t), nil
	case int64:
		return Int(t), nil
	case float64:
		return Float(t), nil
	case string:
		if err := noNulByte(t); err != nil {
			return Value{}, err
		}
		return String(t), nil
	case []any:
		out := make([]Value, len(t))
		for i, e := range t {
			v, err := ev.tomlToValue(e)
			if err != nil {
				return Value{}, err
			}
			out[i] = v
		}
		return List(out), nil
	case *toml.Object:
		out := make([]Attr, len(t.Keys))
		for i, k := range t.Keys {
			if err := noNulByte(k); err != nil {
				return Value{}, err
			}
			v, err := ev.tomlToValue(t.Values[i])
			if err != nil {
				return Value{}, err
			}
			out[i] = Attr{Name: ev.syms.intern(k), Val: v}
		}
		return AttrsValue(newAttrs(out)), nil
	case toml.Datetime:
		if !ev.hasFeature("parse-toml-timestamps") {
			return Value{}, errors.New("Dates and times are not supported")
		}
		if err := noNulByte(t.Text); err != nil {
			return Value{}, err
		}
		return ev.NewAttrs(map[string]Value{"_type": String("timestamp"), "value": String(t.Text)}), nil
	}
	return Null(), nil
}

func primFromTOML(ev *Evaluator, p Pos, a []Value) (Value, error) {
	s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the argument passed to builtins.fromTOML")
	if err != nil {
		return Value{}, err
	}
	var x any
	if ev.opts.Compat.NixVersion == "2.8.0" {
		x, err = toml.Decode28(s)
	} else {
		x, err = toml.Decode(s)
	}
	var v Value
	if err == nil {
		v, err = ev.tomlToValue(x)
	}
	if err != nil {
		msg := err.Error()
		if strings.HasSuffix(msg, "\n") {
			// toml11 ends its report with a colour reset, which survives
			// Nix's line chomping.
			msg += "\x1b[0m"
		}
		return Value{}, ev.ferr("while parsing TOML: %s", msg)
	}
	return v, nil
}
