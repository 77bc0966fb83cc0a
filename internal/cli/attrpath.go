package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cairn/internal/eval"
	"cairn/internal/eval/spell"
)

// parseAttrPath splits an attribute selection path ("a.b", `a."b.c".d`)
// as Nix's parseAttrPath does.
func parseAttrPath(s string) ([]string, error) {
	var res []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '.':
			res = append(res, cur.String())
			cur.Reset()
		case '"':
			i++
			for {
				if i == len(s) {
					return nil, &eval.EvalError{Msg: fmt.Sprintf("missing closing quote in selection path '%s'", s)}
				}
				if s[i] == '"' {
					break
				}
				cur.WriteByte(s[i])
				i++
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		res = append(res, cur.String())
	}
	return res, nil
}

// findAlongAttrPath is Nix's findAlongAttrPath: each step auto-calls the
// current value with args, then selects an attribute or (for a number) a
// list element.
func findAlongAttrPath(ev *eval.Evaluator, attrPath string, args map[string]eval.Value, v eval.Value) (eval.Value, error) {
	tokens, err := parseAttrPath(attrPath)
	if err != nil {
		return eval.Value{}, err
	}
	for _, attr := range tokens {
		idx, idxErr := strconv.ParseUint(attr, 10, 32)
		if v, err = ev.AutoCall(v, args); err != nil {
			return eval.Value{}, err
		}
		if v, err = ev.Force(v); err != nil {
			return eval.Value{}, err
		}
		if idxErr != nil {
			if v.Kind() != eval.KAttrs {
				return eval.Value{}, &eval.EvalError{Msg: fmt.Sprintf("the expression selected by the selection path '%s' should be a set but is %s", attrPath, v.TypeName())}
			}
			if attr == "" {
				return eval.Value{}, &eval.EvalError{Msg: fmt.Sprintf("empty attribute name in selection path '%s'", attrPath)}
			}
			a, ok := v.AttrsV().Get(ev.Sym(attr))
			if !ok {
				var names []string
				for _, x := range v.AttrsV().All() {
					names = append(names, ev.SymName(x.Name))
				}
				return eval.Value{}, &eval.EvalError{
					Msg:         fmt.Sprintf("attribute '%s' in selection path '%s' not found", attr, attrPath),
					Suggestions: spell.Nearest(attr, names),
				}
			}
			v = a.Val
			continue
		}
		if v.Kind() != eval.KList {
			return eval.Value{}, &eval.EvalError{Msg: fmt.Sprintf("the expression selected by the selection path '%s' should be a list but is %s", attrPath, v.TypeName())}
		}
		if idx >= uint64(v.ListLen()) {
			return eval.Value{}, &eval.EvalError{Msg: fmt.Sprintf("list index %d in selection path '%s' is out of range", idx, attrPath)}
		}
		v = v.ListV()[idx]
	}
	return v, nil
}

// drvInfo is one derivation found by getDerivations.
type drvInfo struct {
	attrPath   string
	drvPath    string
	outputName string
}

// attrRegex selects the attributes getDerivations looks into. It is compiled on first use.
var attrRegex = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_+-]*$`) })

// getDerivations is Nix's getDerivations (get-drvs.cc): v (auto-called)
// is a derivation, a set whose attributes are derivations (recursing into
// sets with recurseForDerivations = true), or a list of those.
func getDerivations(ev *eval.Evaluator, v eval.Value, prefix string, args map[string]eval.Value, out *[]drvInfo, done map[*eval.Attrs]bool) error {
	v, err := ev.AutoCall(v, args)
	if err != nil {
		return err
	}
	isNot, err := getDerivation(ev, v, prefix, out, done)
	if err != nil || !isNot {
		return err
	}
	switch v.Kind() {
	case eval.KAttrs:
		a := v.AttrsV()
		_, combine := a.Get(ev.Sym("_combineChannels"))
		attrs := slices.Clone(a.All())
		slices.SortFunc(attrs, func(x, y eval.Attr) int { return strings.Compare(ev.SymName(x.Name), ev.SymName(y.Name)) })
		for _, at := range attrs {
			name := ev.SymName(at.Name)
			if !attrRegex().MatchString(name) {
				continue
			}
			p2 := name
			if prefix != "" {
				p2 = prefix + "." + name
			}
			if combine {
				if err := getDerivations(ev, at.Val, p2, args, out, done); err != nil {
					return err
				}
				continue
			}
			isNot, err := getDerivation(ev, at.Val, p2, out, done)
			if err != nil {
				return err
			}
			if !isNot {
				continue
			}
			x, err := ev.Force(at.Val)
			if err != nil {
				return err
			}
			if x.Kind() != eval.KAttrs {
				continue
			}
			r, ok := x.AttrsV().Get(ev.Sym("recurseForDerivations"))
			if !ok {
				continue
			}
			b, err := ev.Force(r.Val)
			if err != nil {
				return err
			}
			if b.Kind() != eval.KBool {
				return &eval.EvalError{Msg: fmt.Sprintf("expected a Boolean but found %s", b.TypeName()), Pos: eval.Pos(r.Pos)}
			}
			if b.BoolV() {
				if err := getDerivations(ev, x, p2, args, out, done); err != nil {
					return err
				}
			}
		}
		return nil
	case eval.KList:
		for i, x := range v.ListV() {
			p2 := strconv.Itoa(i)
			if prefix != "" {
				p2 = prefix + "." + p2
			}
			isNot, err := getDerivation(ev, x, p2, out, done)
			if err != nil {
				return err
			}
			if isNot {
				if err := getDerivations(ev, x, p2, args, out, done); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return &eval.EvalError{Msg: "expression does not evaluate to a derivation (or a set or list of those)"}
}

// getDerivation adds v to out if it is a derivation. It reports whether v
// is not a derivation (so the caller may look inside it).
func getDerivation(ev *eval.Evaluator, v eval.Value, attrPath string, out *[]drvInfo, done map[*eval.Attrs]bool) (bool, error) {
	v, err := ev.Force(v)
	if err != nil {
		return false, err
	}
	ok, err := isDerivation(ev, v)
	if err != nil || !ok {
		return !ok, err
	}
	a := v.AttrsV()
	if done[a] {
		return false, nil
	}
	done[a] = true
	if _, err := attrString(ev, a, "name", "derivation name missing"); err != nil {
		return false, err
	}
	drvPath, err := attrString(ev, a, "drvPath", "derivation does not contain a 'drvPath' attribute")
	if err != nil {
		return false, err
	}
	outputName, err := attrString(ev, a, "outputName", "")
	if err != nil {
		return false, err
	}
	*out = append(*out, drvInfo{attrPath: attrPath, drvPath: drvPath, outputName: outputName})
	return false, nil
}

func isDerivation(ev *eval.Evaluator, v eval.Value) (bool, error) {
	if v.Kind() != eval.KAttrs {
		return false, nil
	}
	t, ok := v.AttrsV().Get(ev.Sym("type"))
	if !ok {
		return false, nil
	}
	x, err := ev.Force(t.Val)
	if err != nil {
		return false, err
	}
	return x.Kind() == eval.KString && x.Str() == "derivation", nil
}

// attrString returns attribute name of a coerced to a string; a missing
// attribute is an error with message missing, or "" if missing is "".
func attrString(ev *eval.Evaluator, a *eval.Attrs, name, missing string) (string, error) {
	at, ok := a.Get(ev.Sym(name))
	if !ok {
		if missing == "" {
			return "", nil
		}
		return "", &eval.EvalError{Msg: missing}
	}
	return ev.CoerceToString(at.Val)
}
