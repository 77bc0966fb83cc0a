// Package pkglist finds the derivations of a Nix value and lists them as
// nix-env -qa does (Nix 2.8's get-drvs.cc and opQuery in nix-env.cc): the
// traversal with recurseForDerivations, skipping packages whose evaluation
// fails an assertion, the sort by name, and the table and JSON printers.
//
// Every function here evaluates, so call it inside eval.Evaluator.Run.
package pkglist

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cairn/internal/eval"
)

// Package is one derivation found by Find (CppNix's DrvInfo). Its
// attributes are evaluated lazily and cached, as nix-env does.
type Package struct {
	// AttrPath is the attribute path that leads to the derivation
	// ("python3Packages.numpy").
	AttrPath string
	// Name is the derivation's name attribute.
	Name string

	attrs  *eval.Attrs
	system *string
	meta   *eval.Attrs
	failed bool
}

// attrRegex is get-drvs.cc's: only such attribute names are looked into.
// It is compiled on first use, not in every cairn process's start-up.
var attrRegex = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_+-]*$`) })

// finder is one getDerivations traversal.
type finder struct {
	ev   *eval.Evaluator
	args map[string]eval.Value
	done map[*eval.Attrs]bool
	out  []*Package
}

// Find returns the derivations of v as nix-env's getDerivations does with
// ignoreAssertionFailures: v is auto-called with args and is a derivation,
// a set whose attributes are derivations (recursing into sets that have
// recurseForDerivations = true), or a list of those. prefix is the
// attribute path of v. A value whose evaluation fails an assertion (or a
// throw) is skipped; any other error ends the traversal.
func Find(ev *eval.Evaluator, v eval.Value, prefix string, args map[string]eval.Value) ([]*Package, error) {
	f := &finder{ev: ev, args: args, done: map[*eval.Attrs]bool{}}
	if err := f.derivations(v, prefix); err != nil {
		return nil, err
	}
	return f.out, nil
}

// IsAssertion reports whether err is CppNix's AssertionError (a failed
// assert or a throw).
func IsAssertion(err error) bool {
	var ee *eval.EvalError
	return errors.As(err, &ee) && ee.IsAssertion()
}

func addToPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// derivation is get-drvs.cc's getDerivation: it adds v if it is a
// derivation and reports whether the caller should look inside v.
func (f *finder) derivation(v eval.Value, attrPath string) (bool, error) {
	ev := f.ev
	v, err := ev.Force(v)
	if err == nil {
		var isDrv bool
		isDrv, err = isDerivation(ev, v)
		if err == nil && !isDrv {
			return true, nil
		}
	}
	if err == nil {
		a := v.AttrsV()
		if f.done[a] {
			return false, nil
		}
		f.done[a] = true
		var name string
		if name, err = queryName(ev, a); err == nil {
			f.out = append(f.out, &Package{AttrPath: attrPath, Name: name, attrs: a})
			return false, nil
		}
	}
	if IsAssertion(err) {
		return false, nil
	}
	return false, err
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

func queryName(ev *eval.Evaluator, a *eval.Attrs) (string, error) {
	n, ok := a.Get(ev.Sym("name"))
	if !ok {
		return "", &eval.EvalError{Msg: "derivation name missing"}
	}
	return ev.ForceStringNoCtx(n.Val, "")
}

// derivations is get-drvs.cc's getDerivations.
func (f *finder) derivations(vIn eval.Value, prefix string) error {
	ev := f.ev
	v, err := ev.AutoCall(vIn, f.args)
	if err != nil {
		return err
	}
	inside, err := f.derivation(v, prefix)
	if err != nil || !inside {
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
			p2 := addToPath(prefix, name)
			if combine {
				if err := f.derivations(at.Val, p2); err != nil {
					return err
				}
				continue
			}
			inside, err := f.derivation(at.Val, p2)
			if err != nil {
				return err
			}
			if !inside {
				continue
			}
			// derivation forced the value (or failed an assertion, which
			// returns false).
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
			b, err := ev.ForceBool(r.Val, "")
			if err != nil {
				return err
			}
			if b {
				if err := f.derivations(x, p2); err != nil {
					return err
				}
			}
		}
		return nil
	case eval.KList:
		for i, x := range v.ListV() {
			p2 := addToPath(prefix, strconv.Itoa(i))
			inside, err := f.derivation(x, p2)
			if err != nil {
				return err
			}
			if inside {
				if err := f.derivations(x, p2); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return &eval.EvalError{Msg: "expression does not evaluate to a derivation (or a set or list of those)"}
}

// FilterSystem keeps the packages whose system is system, as nix-env's
// --system-filter does; "*" keeps all of them without evaluating system.
func FilterSystem(ev *eval.Evaluator, pkgs []*Package, system string) ([]*Package, error) {
	if system == "*" {
		return pkgs, nil
	}
	var out []*Package
	for _, p := range pkgs {
		s, err := p.System(ev)
		if err != nil {
			return nil, err
		}
		if s == system {
			out = append(out, p)
		}
	}
	return out, nil
}

// System returns the package's system attribute ("unknown" if absent).
func (p *Package) System(ev *eval.Evaluator) (string, error) {
	if p.system != nil {
		return *p.system, nil
	}
	s := "unknown"
	if a, ok := p.attrs.Get(ev.Sym("system")); ok {
		var err error
		if s, err = ev.ForceStringNoCtx(a.Val, ""); err != nil {
			return "", err
		}
	}
	p.system = &s
	return s, nil
}

// DrvPath returns the package's drvPath attribute ("" if absent).
func (p *Package) DrvPath(ev *eval.Evaluator) (string, error) {
	a, ok := p.attrs.Get(ev.Sym("drvPath"))
	if !ok {
		return "", nil
	}
	return storePath(ev, a.Val)
}

// OutPath returns the package's outPath attribute.
func (p *Package) OutPath(ev *eval.Evaluator) (string, error) {
	a, ok := p.attrs.Get(ev.Sym("outPath"))
	if !ok {
		return "", &eval.EvalError{Msg: "CA derivations are not yet supported"}
	}
	return storePath(ev, a.Val)
}

// storePath is CppNix's coerceToStorePath: v coerced to a string must be
// a valid store path.
func storePath(ev *eval.Evaluator, v eval.Value) (string, error) {
	s, err := ev.CoerceToString(v)
	if err != nil {
		return "", err
	}
	if !isStorePath(ev.Options().StoreDir, s) {
		return "", &eval.EvalError{Msg: fmt.Sprintf("path '%s' is not in the Nix store", s)}
	}
	return path.Clean(s), nil
}

// isStorePath reports whether p is storeDir/<32 nixbase32 chars>-<name>
// (Nix's maybeParseStorePath).
func isStorePath(storeDir, p string) bool {
	p = path.Clean(p)
	if path.Dir(p) != storeDir {
		return false
	}
	base := path.Base(p)
	if len(base) < 33 {
		return false
	}
	for _, c := range []byte(base[:32]) {
		if c == 'e' || c == 'o' || c == 'u' || c == 't' || !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	name := base[33:]
	if name == "" || len(name) > 211 {
		return false
	}
	for _, c := range []byte(name) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("+-._?=", c) >= 0) {
			return false
		}
	}
	return true
}

// OutputName returns the package's outputName attribute ("" if absent).
func (p *Package) OutputName(ev *eval.Evaluator) (string, error) {
	a, ok := p.attrs.Get(ev.Sym("outputName"))
	if !ok {
		return "", nil
	}
	return ev.ForceStringNoCtx(a.Val, "")
}

// Output is one output of a package; Path is "" unless asked for.
type Output struct {
	Name, Path string
}

// Outputs returns the package's outputs sorted by name (DrvInfo's
// queryOutputs): the outputs attribute, or "out" alone. With withPaths,
// each output's outPath is evaluated and outputs without one are left out.
func (p *Package) Outputs(ev *eval.Evaluator, withPaths bool) ([]Output, error) {
	a, ok := p.attrs.Get(ev.Sym("outputs"))
	if !ok {
		o := Output{Name: "out"}
		if withPaths {
			var err error
			if o.Path, err = p.OutPath(ev); err != nil {
				return nil, err
			}
		}
		return []Output{o}, nil
	}
	list, err := ev.ForceList(a.Val, "")
	if err != nil {
		return nil, err
	}
	var outs []Output
	for _, x := range list {
		name, err := ev.ForceStringNoCtx(x, "")
		if err != nil {
			return nil, err
		}
		o := Output{Name: name}
		if withPaths {
			ov, ok := p.attrs.Get(ev.Sym(name))
			if !ok {
				continue
			}
			os, err := ev.ForceAttrs(ov.Val, "")
			if err != nil {
				return nil, err
			}
			op, ok := os.Get(ev.Sym("outPath"))
			if !ok {
				continue
			}
			if o.Path, err = storePath(ev, op.Val); err != nil {
				return nil, err
			}
		}
		// A std::map: sorted, the first of equal names kept.
		i, found := slices.BinarySearchFunc(outs, name, func(o Output, n string) int { return strings.Compare(o.Name, n) })
		if !found {
			outs = slices.Insert(outs, i, o)
		}
	}
	return outs, nil
}

// Meta returns the package's meta set (nil if it has none).
func (p *Package) Meta(ev *eval.Evaluator) (*eval.Attrs, error) {
	if p.meta != nil {
		return p.meta, nil
	}
	a, ok := p.attrs.Get(ev.Sym("meta"))
	if !ok {
		return nil, nil
	}
	m, err := ev.ForceAttrs(a.Val, "")
	if err != nil {
		return nil, err
	}
	p.meta = m
	return m, nil
}

// MetaValue returns meta.name if it is a valid meta value (DrvInfo's
// queryMeta: a string, number, Boolean, or a list or set of those that
// is not a derivation); ok is false otherwise.
func (p *Package) MetaValue(ev *eval.Evaluator, name string) (v eval.Value, ok bool, err error) {
	m, err := p.Meta(ev)
	if m == nil || err != nil {
		return eval.Value{}, false, err
	}
	a, found := m.Get(ev.Sym(name))
	if !found {
		return eval.Value{}, false, nil
	}
	good, err := checkMeta(ev, a.Val)
	if err != nil || !good {
		return eval.Value{}, false, err
	}
	v, err = ev.Force(a.Val)
	return v, err == nil, err
}

func checkMeta(ev *eval.Evaluator, v eval.Value) (bool, error) {
	v, err := ev.Force(v)
	if err != nil {
		return false, err
	}
	switch v.Kind() {
	case eval.KList:
		for _, x := range v.ListV() {
			if ok, err := checkMeta(ev, x); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case eval.KAttrs:
		a := v.AttrsV()
		if _, ok := a.Get(ev.Sym("outPath")); ok {
			return false, nil
		}
		for _, x := range a.All() {
			if ok, err := checkMeta(ev, x.Val); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	}
	k := v.Kind()
	return k == eval.KInt || k == eval.KBool || k == eval.KString || k == eval.KFloat, nil
}

// MetaString returns meta.name if it is a string, and "" otherwise.
func (p *Package) MetaString(ev *eval.Evaluator, name string) (string, error) {
	v, ok, err := p.MetaValue(ev, name)
	if err != nil || !ok || v.Kind() != eval.KString {
		return "", err
	}
	return v.Str(), nil
}

// Columns selects the columns of a nix-env -q table, in nix-env's order.
type Columns struct {
	AttrPath    bool // -P
	Name        bool // on unless --no-name
	System      bool // --system
	DrvPath     bool // --drv-path
	OutPath     bool // --out-path
	Description bool // --description
}

// Rows returns the table rows for pkgs, as nix-env's opQuery: a package
// whose columns fail an assertion is left out (its error is returned in
// skipped for logging); any other error is returned, with the package's
// name as context.
func Rows(ev *eval.Evaluator, pkgs []*Package, c Columns) (rows [][]string, skipped []error, err error) {
	for _, p := range pkgs {
		if p.failed {
			continue
		}
		row, err := p.row(ev, c)
		if IsAssertion(err) {
			skipped = append(skipped, fmt.Errorf("skipping derivation named '%s' which gives an assertion failure: %w", p.Name, err))
			continue
		}
		if err != nil {
			return nil, skipped, withContext(err, p.Name)
		}
		rows = append(rows, row)
	}
	return rows, skipped, nil
}

func withContext(err error, name string) error {
	var ee *eval.EvalError
	if errors.As(err, &ee) {
		ee.Frames = append(ee.Frames, eval.Frame{Msg: fmt.Sprintf("while querying the derivation named '%s'", name), Always: true})
		return ee
	}
	return fmt.Errorf("querying the derivation named '%s': %w", name, err)
}

func (p *Package) row(ev *eval.Evaluator, c Columns) ([]string, error) {
	var cols []string
	if c.AttrPath {
		cols = append(cols, p.AttrPath)
	}
	if c.Name {
		cols = append(cols, p.Name)
	}
	if c.System {
		s, err := p.System(ev)
		if err != nil {
			return nil, err
		}
		cols = append(cols, s)
	}
	if c.DrvPath {
		d, err := p.DrvPath(ev)
		if err != nil {
			return nil, err
		}
		if d == "" {
			d = "-"
		}
		cols = append(cols, d)
	}
	if c.OutPath {
		outs, err := p.Outputs(ev, true)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, o := range outs {
			if b.Len() > 0 {
				b.WriteByte(';')
			}
			if o.Name != "out" {
				b.WriteString(o.Name + "=")
			}
			b.WriteString(o.Path)
		}
		cols = append(cols, b.String())
	}
	if c.Description {
		d, err := p.MetaString(ev, "description")
		if err != nil {
			return nil, err
		}
		cols = append(cols, d)
	}
	return cols, nil
}
