package eval

import (
	"errors"
	"path"

	"cairn/internal/eval/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"cairn/internal/eval/regex"
	"cairn/internal/eval/version"
)

// coerceToPath is CppNix's EvalState::coerceToPath.
func (ev *Evaluator) coerceToPath(p Pos, v Value, cb *ctxBuilder, ctx string) (string, error) {
	var out string
	err := ev.peel(p, v, false, func(peeled Value, _ bool) error {
		if peeled.Kind() == KPath {
			out = peeled.Str()
			return nil
		}
		s, err := ev.coerceToString(p, peeled, cb, ctx, coerceOpts{canonPath: true})
		if err != nil {
			return err
		}
		if !strings.HasPrefix(s, "/") {
			return ev.ferr("string '%s' doesn't represent an absolute path", s).withTrace(p, ctx)
		}
		out = canonPath(s)
		return nil
	})
	return out, err
}

func (ev *Evaluator) realisePath(v Value) (string, error) {
	var cb ctxBuilder
	p, err := ev.coerceToPath(0, v, &cb, "while realising the context of a path")
	if err != nil || cb.c.Len() == 0 {
		return p, err
	}
	// Import from derivation: the path refers to store objects that may
	// have to be built first.
	r, ok := ev.opts.IO.(Realiser)
	if !ok {
		return p, nil
	}
	if err := r.RealiseContext(cb.c.Elems()); err != nil {
		var ee *EvalError
		if !errors.As(err, &ee) {
			ee = ev.ferr("%s", err.Error())
		}
		return "", addTracef(ee, 0, "while realising the context of path '%s'", p)
	}
	return p, nil
}

// ReferenceQuerier is an optional IO extension: the references of a
// valid store path. builtins.readFile of a file inside a store path puts
// them in its result's context, as Nix does.
type ReferenceQuerier interface {
	StorePathReferences(storePath string) ([]string, error)
}

// storeRefsContext is the context readFile gives the contents of p: the
// references of the store path p is in, if the IO can tell them (errors
// leave it empty, as in Nix). Nix 2.8 gives no context.
func (ev *Evaluator) storeRefsContext(p string) *Context {
	q, ok := ev.opts.IO.(ReferenceQuerier)
	sd := ev.opts.StoreDir + "/"
	if !ok || !ev.opts.Compat.ReadFileRefs || !strings.HasPrefix(p, sd) || len(p) == len(sd) {
		return nil
	}
	sp := p
	if i := strings.IndexByte(p[len(sd):], '/'); i >= 0 {
		sp = p[:len(sd)+i]
	}
	refs, err := q.StorePathReferences(sp)
	if err != nil || len(refs) == 0 {
		return nil
	}
	return NewContext(refs...)
}

// Realiser is an optional IO extension for import from derivation: it
// makes the store paths in a string context valid (building "!out!drv"
// outputs), as CppNix's realiseContext does before import, readFile,
// readDir or pathExists of a path with context.
type Realiser interface {
	RealiseContext(elems []string) error
}

func ioBuiltins() []Primop {
	return []Primop{
		{Name: "import", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			path, err := ev.realisePath(a[0])
			if err != nil {
				return Value{}, err
			}
			if v, ok, err := ev.evalCorepkg(path); ok {
				return v, err
			}
			return ev.evalFile(path, 0)
		}},
		{Name: "scopedImport", Arity: 2, Fn: primScopedImport},
		{Name: "__pathExists", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			mustBeDir := v.Kind() == KString && (strings.HasSuffix(v.Str(), "/") || strings.HasSuffix(v.Str(), "/."))
			pth, err := ev.realisePath(v)
			if err != nil {
				return Value{}, err
			}
			if ev.opts.IO == nil {
				return Bool(false), nil
			}
			if mustBeDir {
				t, err := ev.opts.IO.Lstat(pth)
				if err == nil && t == FileSymlink {
					_, err2 := ev.opts.IO.ReadDir(pth)
					return Bool(err2 == nil), nil
				}
				return Bool(err == nil && t == FileDirectory), nil
			}
			_, err = ev.opts.IO.Lstat(pth)
			return Bool(err == nil), nil
		}},
		{Name: "baseNameOf", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToString(0, a[0], &cb, "while evaluating the first argument passed to builtins.baseNameOf", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			return StringCtx(legacyBaseNameOf(s), cb.c), nil
		}},
		{Name: "dirOf", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			v, err := ev.force(a[0], 0)
			if err != nil {
				return Value{}, err
			}
			if v.Kind() == KPath {
				s := v.Str()
				if s == "/" {
					return v, nil
				}
				return Path(canonPath(path.Dir(s))), nil
			}
			var cb ctxBuilder
			s, err := ev.coerceToString(0, v, &cb, "while evaluating the first argument passed to 'builtins.dirOf'", coerceOpts{})
			if err != nil {
				return Value{}, err
			}
			i := strings.LastIndexByte(s, '/')
			switch {
			case i < 0:
				return StringCtx(".", cb.c), nil
			case i == 0:
				return StringCtx("/", cb.c), nil
			}
			return StringCtx(s[:i], cb.c), nil
		}},
		{Name: "__readFile", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			pth, err := ev.realisePath(a[0])
			if err != nil {
				return Value{}, err
			}
			b, err := ev.readFile(pth)
			if err != nil {
				return Value{}, err
			}
			if slices.Contains(b, 0) {
				return Value{}, ev.ferr("the contents of the file '%s' cannot be represented as a Nix string", pth)
			}
			return StringCtx(string(b), ev.storeRefsContext(pth)), nil
		}},
		{Name: "__readFileType", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			pth, err := ev.realisePath(a[0])
			if err != nil {
				return Value{}, err
			}
			if err := ev.checkExists(pth); err != nil {
				return Value{}, err
			}
			t, err := ev.opts.IO.Lstat(pth)
			if err != nil {
				return Value{}, ev.ioError(err, pth)
			}
			return String(t.String()), nil
		}},
		{Name: "__readDir", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			pth, err := ev.realisePath(a[0])
			if err != nil {
				return Value{}, err
			}
			if err := ev.checkExists(pth); err != nil {
				return Value{}, err
			}
			if t, err := ev.opts.IO.Lstat(pth); err == nil && t != FileDirectory && t != FileSymlink {
				return Value{}, ev.ferr("'%s' is not a directory", pth)
			}
			ents, err := ev.opts.IO.ReadDir(pth)
			if err != nil {
				return Value{}, ev.ioError(err, pth)
			}
			out := make([]Attr, len(ents))
			for i, e := range ents {
				out[i] = Attr{Name: ev.syms.intern(e.Name), Val: String(e.Type.String())}
			}
			return AttrsValue(newAttrs(out)), nil
		}},
		{Name: "__toPath", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			s, err := ev.coerceToPath(0, a[0], &cb, "while evaluating the first argument passed to builtins.toPath")
			if err != nil {
				return Value{}, err
			}
			return StringCtx(s, cb.c), nil
		}},
		{Name: "__findFile", Arity: 2, Fn: primFindFile},
		{Name: "__filterSource", Arity: 2, Fn: primFilterSource},
		{Name: "__path", Arity: 1, Fn: primPath},
		{Name: "placeholder", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.placeholder")
			if err != nil {
				return Value{}, err
			}
			return String(hashPlaceholder(s)), nil
		}},
		{Name: "__toXML", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, c, err := ev.ToXML(a[0], true, false)
			if err != nil {
				return Value{}, err
			}
			return StringCtx(s, c), nil
		}},
		{Name: "__toJSON", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			var cb ctxBuilder
			var b strings.Builder
			if err := ev.toJSON(&b, a[0], true, &cb, 0); err != nil {
				return Value{}, err
			}
			return StringCtx(b.String(), cb.c), nil
		}},
		{Name: "__toFile", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			name, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.toFile")
			if err != nil {
				return Value{}, err
			}
			cv, err := ev.forceString(a[1], 0, "while evaluating the second argument passed to builtins.toFile")
			if err != nil {
				return Value{}, err
			}
			var refs []string
			for _, c := range cv.Ctx().Elems() {
				if strings.HasPrefix(c, "=") || strings.HasPrefix(c, "!") {
					return Value{}, ev.ferr("files created by %s may not reference derivations, but %s references %s", "builtins.toFile", name, c)
				}
				refs = append(refs, c)
			}
			if ev.opts.IO == nil {
				return Value{}, ev.ferr("cannot write '%s' to the store: no store available", name)
			}
			sp, err := ev.opts.IO.AddTextToStore(name, cv.Str(), refs)
			if err != nil {
				return Value{}, ev.ioError(err, name)
			}
			return StringCtx(sp, NewContext(sp)), nil
		}},
		{Name: "__storePath", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			if ev.opts.Pure {
				return Value{}, ev.ferr("'%s' is not allowed in pure evaluation mode", "builtins.storePath")
			}
			var cb ctxBuilder
			s, err := ev.coerceToPath(0, a[0], &cb, "while evaluating the first argument passed to 'builtins.storePath'")
			if err != nil {
				return Value{}, err
			}
			sd := ev.opts.StoreDir + "/"
			if !strings.HasPrefix(s, sd) {
				return Value{}, ev.ferr("path '%s' is not in the Nix store", s)
			}
			rest := s[len(sd):]
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				s = sd + rest[:i]
			}
			return StringCtx(s, NewContext(s)), nil
		}},
		{Name: "__match", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			re, err := ev.regex(a[0], "match")
			if err != nil {
				return Value{}, err
			}
			sv, err := ev.forceString(a[1], 0, "while evaluating the second argument passed to builtins.match")
			if err != nil {
				return Value{}, err
			}
			groups, ok := re.Match(sv.Str())
			if !ok {
				return Null(), nil
			}
			out := make([]Value, len(groups))
			for i, g := range groups {
				if g.Matched() {
					out[i] = String(sv.Str()[g.Start:g.End])
				}
			}
			return List(out), nil
		}},
		{Name: "__split", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			re, err := ev.regex(a[0], "split")
			if err != nil {
				return Value{}, err
			}
			sv, err := ev.forceString(a[1], 0, "while evaluating the second argument passed to builtins.split")
			if err != nil {
				return Value{}, err
			}
			s := sv.Str()
			var out []Value
			for _, pc := range re.Split(s) {
				if !pc.IsMatch {
					out = append(out, String(pc.Text))
					continue
				}
				gs := make([]Value, len(pc.Groups))
				for i, g := range pc.Groups {
					if g.Matched() {
						gs[i] = String(s[g.Start:g.End])
					}
				}
				out = append(out, List(gs))
			}
			return List(out), nil
		}},
		{Name: "__parseDrvName", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.parseDrvName")
			if err != nil {
				return Value{}, err
			}
			n, v := version.ParseDrvName(s)
			return AttrsValue(newAttrs([]Attr{{Name: symName, Val: String(n)}, {Name: ev.syms.intern("version"), Val: String(v)}})), nil
		}},
		{Name: "__compareVersions", Arity: 2, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			x, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.compareVersions")
			if err != nil {
				return Value{}, err
			}
			y, err := ev.forceStringNoCtx(a[1], 0, "while evaluating the second argument passed to builtins.compareVersions")
			if err != nil {
				return Value{}, err
			}
			return Int(int64(version.Compare(x, y))), nil
		}},
		{Name: "__splitVersion", Arity: 1, Fn: func(ev *Evaluator, p Pos, a []Value) (Value, error) {
			s, err := ev.forceStringNoCtx(a[0], 0, "while evaluating the first argument passed to builtins.splitVersion")
			if err != nil {
				return Value{}, err
			}
			parts := version.Split(s)
			out := make([]Value, len(parts))
			for i, x := range parts {
				out[i] = String(x)
			}
			return List(out), nil
		}},
	}
}

func legacyBaseNameOf(s string) string {
	if s == "" {
		return ""
	}
	last := len(s) - 1
	if s[last] == '/' && last > 0 {
		last--
	}
	pos := strings.LastIndexByte(s[:last+1], '/')
	if pos < 0 {
		return s[:last+1]
	}
	return s[pos+1 : last+1]
}

func (ev *Evaluator) regex(v Value, name string) (*regex.Regexp, error) {
	re, err := ev.forceStringNoCtx(v, 0, "while evaluating the first argument passed to builtins."+name)
	if err != nil {
		return nil, err
	}
	if r, ok := ev.regexCache[re]; ok {
		return r.(*regex.Regexp), nil
	}
	r, err := regex.Compile(re)
	if err != nil {
		return nil, ev.ferr("invalid regular expression '%s'", re)
	}
	ev.regexCache[re] = r
	return r, nil
}

func primFindFile(ev *Evaluator, p Pos, a []Value) (Value, error) {
	l, err := ev.forceList(a[0], 0, "while evaluating the first argument passed to builtins.findFile")
	if err != nil {
		return Value{}, err
	}
	want, err := ev.forceStringNoCtx(a[1], 0, "while evaluating the second argument passed to builtins.findFile")
	if err != nil {
		return Value{}, err
	}
	for _, x := range l.ListV() {
		s, err := ev.forceAttrs(x, 0, "while evaluating an element of the list passed to builtins.findFile")
		if err != nil {
			return Value{}, err
		}
		prefix := ""
		if pa, ok := s.Get(symPrefix); ok {
			prefix, err = ev.forceStringNoCtx(pa.Val, 0, "while evaluating the `prefix` attribute of an element of the list passed to builtins.findFile")
			if err != nil {
				return Value{}, err
			}
		}
		pa, ok := s.Get(symPath)
		if !ok {
			return Value{}, ev.errorf(errType, 0, "attribute 'path' missing").withTrace(0, "in an element of the __nixPath")
		}
		var cb ctxBuilder
		root, err := ev.coerceToString(0, pa.Val, &cb, "while evaluating the `path` attribute of an element of the list passed to builtins.findFile", coerceOpts{})
		if err != nil {
			return Value{}, err
		}
		// prefix match on path components
		rest := ""
		if prefix == "" {
			rest = want
		} else if want == prefix {
			rest = ""
		} else if strings.HasPrefix(want, prefix+"/") {
			rest = want[len(prefix)+1:]
		} else {
			continue
		}
		if !strings.HasPrefix(root, "/") {
			continue
		}
		cand := root
		if rest != "" {
			cand = root + "/" + rest
		}
		cand = canonPath(cand)
		if ev.opts.IO != nil && ev.opts.IO.PathExists(cand) {
			return Path(cand), nil
		}
	}
	if strings.HasPrefix(want, "nix/") {
		return Path(corepkgsPrefix + want[4:]), nil
	}
	if ev.opts.Pure {
		return Value{}, ev.errorf(errThrow, 0, "cannot look up '<%s>' in pure evaluation mode (use '--impure' to override)", want)
	}
	return Value{}, ev.errorf(errThrow, 0, "file '%s' was not found in the Nix search path (add it using $NIX_PATH or -I)", want)
}

func primScopedImport(ev *Evaluator, p Pos, a []Value) (Value, error) {
	sc, err := ev.forceAttrs(a[0], 0, "while evaluating the first argument passed to builtins.scopedImport")
	if err != nil {
		return Value{}, err
	}
	pth, err := ev.realisePath(a[1])
	if err != nil {
		return Value{}, err
	}
	pth, _ = ev.resolveExprPath(pth)
	src, err := ev.readFile(pth)
	if err != nil {
		return Value{}, err
	}
	e, err := ev.parse(src, pth, path.Dir(pth))
	if err != nil {
		return Value{}, err
	}
	ev.internNames(e)
	ss := &scope{up: ev.baseScope, names: map[Sym]int{}}
	env := newEnv(ev.baseEnv, sc.Len())
	for i, at := range sc.All() {
		ss.names[at.Name] = i
		*env.slot(i) = at.Val
	}
	c := &compiler{ev: ev}
	x := c.expr(e, ss)
	if c.err != nil {
		return Value{}, c.err
	}
	v, err := ev.eval(x, env)
	if err != nil {
		return Value{}, addTracef(err, 0, "while evaluating the file '%s':", pth)
	}
	return v, nil
}

// toJSON is CppNix's printValueAsJSON.
func (ev *Evaluator) toJSON(b *strings.Builder, v Value, strict bool, cb *ctxBuilder, p Pos) error {
	var utf8Err error
	err := ev.toJSON1(b, v, strict, cb, p, true, &utf8Err)
	if err != nil {
		return err
	}
	return utf8Err
}

func (ev *Evaluator) toJSON1(b *strings.Builder, v Value, strict bool, cb *ctxBuilder, p Pos, copyToStore bool, uerr *error) error {
	if ev.depth > ev.maxDepth {
		return ev.stackOverflow(p)
	}
	ev.depth++
	defer func() { ev.depth-- }()
	if strict {
		var err error
		if v, err = ev.force(v, p); err != nil {
			return err
		}
	}
	str := func(s string) {
		if *uerr == nil && ev.opts.Compat.JSONStrictUTF8 && !utf8.ValidString(s) {
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && n <= 1 {
					*uerr = ev.ferr("JSON serialization error: [json.exception.type_error.316] invalid UTF-8 byte at index %d: 0x%02X", i, s[i])
					break
				}
				i += n
			}
		}
		ev.jsonString(b, s)
	}
	switch v.Kind() {
	case KInt:
		b.WriteString(strconv.FormatInt(v.IntV(), 10))
	case KBool:
		if v.BoolV() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case KNull:
		b.WriteString("null")
	case KString:
		cb.add(v.Ctx())
		str(v.Str())
	case KPath:
		if copyToStore {
			sp, err := ev.copyPathToStore(v.Str())
			if err != nil {
				return err
			}
			cb.add(NewContext(sp))
			str(sp)
		} else {
			str(v.Str())
		}
	case KFloat:
		b.WriteString(ev.jsonFloat(v.FloatV()))
	case KList:
		b.WriteByte('[')
		for i, x := range v.ListV() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := ev.toJSON1(b, x, strict, cb, p, copyToStore, uerr); err != nil {
				return addTracef(err, p, "while evaluating list element at index %d", i)
			}
		}
		b.WriteByte(']')
	case KAttrs:
		return ev.peel(p, v, true, func(peeled Value, came bool) error {
			if peeled.Kind() != KAttrs {
				return ev.toJSON1(b, peeled, strict, cb, p, copyToStore && !came, uerr)
			}
			b.WriteByte('{')
			for i, at := range ev.lexOrder(peeled.AttrsV()) {
				if i > 0 {
					b.WriteByte(',')
				}
				str(ev.syms.name(at.Name))
				b.WriteByte(':')
				if err := ev.toJSON1(b, at.Val, strict, cb, Pos(at.Pos), copyToStore, uerr); err != nil {
					return addTracef(err, Pos(at.Pos), "while evaluating attribute '%s'", ev.symStr(at.Name))
				}
			}
			b.WriteByte('}')
			return nil
		})
	default:
		return ev.errorf(errType, ev.determinePos(v, p), "cannot convert %s to JSON", showType(v, true))
	}
	return nil
}

func (ev *Evaluator) jsonString(b *strings.Builder, s string) error {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString("\\\"")
		case '\\':
			b.WriteString("\\\\")
		case '\n':
			b.WriteString("\\n")
		case '\r':
			b.WriteString("\\r")
		case '\t':
			b.WriteString("\\t")
		case '\b':
			if ev.opts.Compat.JSONStrictUTF8 {
				b.WriteString("\\b")
			} else {
				b.WriteString("\\u0008")
			}
		case '\f':
			if ev.opts.Compat.JSONStrictUTF8 {
				b.WriteString("\\f")
			} else {
				b.WriteString("\\u000c")
			}
		default:
			if c < 0x20 {
				b.WriteString("\\u00")
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return nil
}

func (ev *Evaluator) jsonFloat(f float64) string {
	if !ev.opts.Compat.JSONShortestFlt {
		return formatFloat(f)
	}
	if ev.opts.Compat.JSONShortestFlt {
		return string(json.AppendFloat(nil, f))
	}
	if f == float64(int64(f)) && f < 1e16 && f > -1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	exp := 0
	if f != 0 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		i := strings.IndexByte(s, 'e')
		exp, _ = strconv.Atoi(s[i+1:])
	}
	if exp < -5 || exp >= 16 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func (ev *Evaluator) addPath(name, path string, filter Value, hasFilter, recursive bool, sha string) (Value, error) {
	req := &PathRequest{Path: path, Name: name, Recursive: recursive, ExpectedSHA256: sha}
	if hasFilter {
		req.Filter = func(p string, t FileType) (bool, error) {
			r, err := ev.callFunction(filter, []Value{String(p), String(t.String())}, 0)
			if err != nil {
				return false, err
			}
			return ev.forceBool(r, 0, "while evaluating the return value of the path filter function")
		}
	}
	if ev.opts.IO == nil {
		return Value{}, ev.ferr("cannot add '%s' to the store: no store available", path)
	}
	sp, err := ev.opts.IO.AddPathToStore(req)
	if err != nil {
		var ee *EvalError
		switch {
		case errors.As(err, &ee):
			err = ee
		case errors.Is(err, ErrStorePathMismatch):
			err = ev.ferr("store path mismatch in (possibly filtered) path added from '%s'", path)
		default:
			err = ev.ioError(err, path)
		}
		return Value{}, addTracef(err, 0, "while adding path '%s'", path)
	}
	return StringCtx(sp, NewContext(sp)), nil
}

func primFilterSource(ev *Evaluator, p Pos, a []Value) (Value, error) {
	var cb ctxBuilder
	pth, err := ev.coerceToPath(0, a[1], &cb, "while evaluating the second argument (the path to filter) passed to 'builtins.filterSource'")
	if err != nil {
		return Value{}, err
	}
	f, err := ev.forceFunction(a[0], 0, "while evaluating the first argument passed to builtins.filterSource")
	if err != nil {
		return Value{}, err
	}
	return ev.addPath(path.Base(pth), pth, f, true, true, "")
}

func primPath(ev *Evaluator, p Pos, a []Value) (Value, error) {
	s, err := ev.forceAttrs(a[0], 0, "while evaluating the argument passed to 'builtins.path'")
	if err != nil {
		return Value{}, err
	}
	var (
		pth, name, sha string
		hasPath        bool
		filter         Value
		hasFilter      bool
		recursive      = true
	)
	var cb ctxBuilder
	for _, at := range s.All() {
		switch n := ev.syms.name(at.Name); n {
		case "path":
			pth, err = ev.coerceToPath(Pos(at.Pos), at.Val, &cb, "while evaluating the 'path' attribute passed to 'builtins.path'")
			hasPath = true
		case "name":
			name, err = ev.forceStringNoCtx(at.Val, Pos(at.Pos), "while evaluating the `name` attribute passed to builtins.path")
		case "filter":
			filter, err = ev.forceFunction(at.Val, Pos(at.Pos), "while evaluating the `filter` parameter passed to builtins.path")
			hasFilter = true
		case "recursive":
			recursive, err = ev.forceBool(at.Val, Pos(at.Pos), "while evaluating the `recursive` attribute passed to builtins.path")
		case "sha256":
			sha, err = ev.forceStringNoCtx(at.Val, Pos(at.Pos), "while evaluating the `sha256` attribute passed to builtins.path")
		default:
			return Value{}, ev.errorf(errGeneric, Pos(at.Pos), "unsupported argument '%s' to 'builtins.path'", ev.symStr(at.Name))
		}
		if err != nil {
			return Value{}, err
		}
	}
	if !hasPath {
		return Value{}, ev.ferr("missing required 'path' attribute in the first argument to 'builtins.path'")
	}
	if name == "" {
		name = path.Base(pth)
	}
	return ev.addPath(name, pth, filter, hasFilter, recursive, sha)
}
