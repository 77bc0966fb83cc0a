package parser

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

type parser struct {
	file      *token.File
	src       []byte
	sc        scanner.Scanner
	opts      Options
	errors    scanner.ErrorList
	maxErrors int
	maxDepth  int
	depth     int

	tok    scanner.Tok    // current token
	ahead  [2]scanner.Tok // tokens after tok
	nahead int

	vars     slab[ast.Var]
	strs     slab[ast.String]
	defs     slab[ast.AttrDef]
	calls    slab[ast.Call]
	sels     slab[ast.Select]
	apath    []ast.AttrName // scratch for attribute paths of bindings
	allAttrs []*ast.Attrs
	index    map[*ast.Attrs]map[string]int
	cursed   map[*ast.Call]int // `e or` calls: end offset of the `or`
	ind      []indPart         // scratch stack for indented strings
	strbuf   []byte

	ntok     int             // tokens consumed
	syncTok  int             // ntok at the end of the last recovery
	skipping bool            // in sync: no errors for skipped tokens
	unwind   uint8           // what the panic under way is (unwind*)
	open     [nClosers]int32 // constructs open per closer, for sync
}

func (p *parser) init(file *token.File, src []byte, opts Options) {
	p.file = file
	p.src = src
	p.opts = opts
	p.maxErrors = opts.MaxErrors
	if p.maxErrors <= 0 {
		p.maxErrors = 10
	}
	p.maxDepth = opts.MaxDepth
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	p.syncTok = -syncQuiet
	p.sc.Init(file, src, func(pos token.Pos, msg string) {
		p.add(p.file.Offset(pos), msg)
		p.bail()
	})
	p.next()
}

// finish sorts the static attributes of every set built.
func (p *parser) finish() {
	for _, a := range p.allAttrs {
		if len(a.Attrs) > 1 {
			slices.SortFunc(a.Attrs, func(x, y *ast.AttrDef) int { return strings.Compare(x.Name, y.Name) })
		}
	}
}

func (p *parser) pos(off int) token.Pos { return p.file.Pos(off) }

// next advances to the next token.
func (p *parser) next() {
	if p.nahead > 0 {
		p.tok = p.ahead[0]
		p.ahead[0] = p.ahead[1]
		p.nahead--
	} else {
		p.scan(&p.tok)
	}
	p.ntok++
}

func (p *parser) scan(t *scanner.Tok) {
	p.sc.Next(t)
	if (t.Kind == token.PIPE_FROM || t.Kind == token.PIPE_INTO) && !p.opts.PipeOperators && !p.skipping {
		p.fail(t.Start, "experimental Nix feature 'pipe-operators' is disabled; add '--extra-experimental-features pipe-operators' to enable it")
	}
}

// peek returns the n-th token after the current one (n is 1 or 2).
func (p *parser) peek(n int) *scanner.Tok {
	for p.nahead < n {
		p.scan(&p.ahead[p.nahead])
		p.nahead++
	}
	return &p.ahead[n-1]
}

// errorAt reports an error and goes on.
func (p *parser) errorAt(off int, msg string) { p.report(off, msg) }

// fail reports a syntax error and unwinds to the nearest recovery point.
func (p *parser) fail(off int, msg string) {
	p.report(off, msg)
	p.unwind = unwindSyntax
	panic(syntaxErr{})
}

// syntaxError reports the current token as unexpected, listing the
// expected tokens as Bison does (only when there are at most four).
func (p *parser) syntaxError(expected ...token.Token) {
	t := &p.tok
	var b strings.Builder
	b.WriteString("syntax error, unexpected ")
	b.WriteString(t.Kind.String())
	if len(expected) > 0 && len(expected) <= 4 {
		slices.Sort(expected)
		b.WriteString(", expecting ")
		for i, e := range expected {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(e.String())
		}
	}
	off := t.Start
	if t.Kind == token.EOF {
		off = t.End
	}
	p.fail(off, b.String())
}

func (p *parser) expect(k token.Token) {
	if p.tok.Kind != k {
		p.syntaxError(k)
	}
	p.next()
}

// ident returns the text of t. Identifier strings share memory with the
// source, like all string values that need no unescaping.
func (p *parser) ident(t *scanner.Tok) string { return p.sc.TextString(t) }

// slab hands out pointers into chunks, so that small AST nodes do not
// cost one allocation each.
type slab[T any] struct{ buf []T }

func (s *slab[T]) new() *T {
	if len(s.buf) == cap(s.buf) {
		// Grow chunk sizes geometrically so that small files waste
		// little and large files allocate rarely.
		s.buf = make([]T, 0, min(max(4, 2*cap(s.buf)), 256))
	}
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

func (p *parser) newVar(at token.Pos, name string) *ast.Var {
	v := p.vars.new()
	v.At, v.Name = at, name
	return v
}

func (p *parser) newString(at token.Pos, val string) *ast.String {
	v := p.strs.new()
	v.At, v.Value = at, val
	return v
}

func (p *parser) enter() {
	p.depth++
	if p.depth > p.maxDepth {
		p.report(p.tok.Start, "expression nested too deeply (more than "+strconv.Itoa(p.maxDepth)+" levels)")
		p.bail()
	}
}

func (p *parser) parseTop() ast.Expr {
	e := p.parseExpr()
	if p.tok.Kind != token.EOF {
		p.syntaxError(token.EOF)
	}
	return e
}

// parseExpr parses Bison's expr_function.
func (p *parser) parseExpr() ast.Expr {
	p.enter()
	defer func() { p.depth-- }()
	t := &p.tok
	switch t.Kind {
	case token.ID:
		switch p.peek(1).Kind {
		case token.COLON:
			at := p.pos(t.Start)
			name := p.ident(t)
			p.next()
			p.next()
			body := p.parseExpr()
			return &ast.Lambda{At: at, Arg: name, Body: body}
		case token.AT:
			start := t.Start
			name := p.ident(t)
			p.next()
			p.next()
			if p.tok.Kind != token.LBRACE {
				p.syntaxError(token.LBRACE)
			}
			return p.parseFormalsLambda(start, name)
		}
	case token.LBRACE:
		if p.isFormals() {
			return p.parseFormalsLambda(t.Start, "")
		}
	case token.ASSERT:
		at := p.pos(t.Start)
		p.next()
		cond := p.parseExpr()
		p.expect(token.SEMI)
		body := p.parseExpr()
		return &ast.Assert{At: at, Cond: cond, Body: body}
	case token.WITH:
		at := p.pos(t.Start)
		p.next()
		env := p.parseExpr()
		p.expect(token.SEMI)
		body := p.parseExpr()
		return &ast.With{At: at, Env: env, Body: body}
	case token.LET:
		if p.peek(1).Kind != token.LBRACE {
			start := t.Start
			p.next()
			attrs := p.newAttrs(token.NoPos)
			p.parseBinds(attrs, ctxLet)
			body := p.parseExpr()
			if len(attrs.Dynamic) > 0 && !recovered(attrs.Dynamic[0].NameExpr) {
				p.errorAt(start, "dynamic attributes not allowed in let")
			}
			return &ast.Let{At: p.pos(start), Attrs: attrs, Body: body}
		}
	case token.IF:
		at := p.pos(t.Start)
		p.next()
		cond := p.parseExpr()
		p.expect(token.THEN)
		then := p.parseExpr()
		p.expect(token.ELSE)
		els := p.parseExpr()
		return &ast.If{At: at, Cond: cond, Then: then, Else: els}
	}
	x := p.parseOp(0)
	switch p.tok.Kind {
	case token.PIPE_INTO:
		// expr_pipe_into: left-nested, `a |> f |> g` is g (f a).
		for p.tok.Kind == token.PIPE_INTO {
			at := p.pos(p.tok.Start)
			p.next()
			x = p.makeCall(at, p.parseOp(0), x)
		}
	case token.PIPE_FROM:
		// expr_pipe_from: right-nested, `f <| g <| x` is f (g x).
		at := p.pos(p.tok.Start)
		p.next()
		x = p.makeCall(at, x, p.parseExpr1Pipe())
	}
	return x
}

// parseExpr1Pipe parses the right side of `<|`: expr_op [<| ...].
func (p *parser) parseExpr1Pipe() ast.Expr {
	p.enter()
	defer func() { p.depth-- }()
	x := p.parseOp(0)
	if p.tok.Kind == token.PIPE_FROM {
		at := p.pos(p.tok.Start)
		p.next()
		x = p.makeCall(at, x, p.parseExpr1Pipe())
	}
	return x
}

// makeCall applies fn to arg, appending to fn's arguments when fn is
// already a call, as CppNix's makeCall does.
func (p *parser) makeCall(at token.Pos, fn, arg ast.Expr) ast.Expr {
	if c, ok := fn.(*ast.Call); ok {
		c.Args = append(c.Args, arg)
		return c
	}
	c := p.calls.new()
	c.At, c.Fn, c.Args = at, fn, []ast.Expr{arg}
	return c
}

// isFormals reports whether the '{' at the current token starts a
// formal argument set rather than an attribute set, deciding as Bison's
// LALR(1) automaton does.
func (p *parser) isFormals() bool {
	switch p.peek(1).Kind {
	case token.RBRACE:
		k := p.peek(2).Kind
		return k == token.COLON || k == token.AT
	case token.ELLIPSIS:
		return true
	case token.ID:
		switch p.peek(2).Kind {
		case token.COMMA, token.QUEST, token.RBRACE:
			return true
		}
	}
	return false
}

// parseFormalsLambda parses `{ formals } [@ id]: body` at the '{', or the
// rest of `id @ { formals }: body` when arg is set.
func (p *parser) parseFormalsLambda(start int, arg string) ast.Expr {
	at := p.pos(start)
	formals := p.parseFormalSet()
	if arg == "" {
		switch p.tok.Kind {
		case token.COLON:
		case token.AT:
			p.next()
			if p.tok.Kind != token.ID {
				p.syntaxError(token.ID)
			}
			arg = p.ident(&p.tok)
			p.next()
			if p.tok.Kind != token.COLON {
				p.syntaxError(token.COLON)
			}
		default:
			p.syntaxError(token.COLON, token.AT)
		}
	} else if p.tok.Kind != token.COLON {
		p.syntaxError(token.COLON)
	}
	p.next()
	body := p.parseExpr()
	p.validateFormals(formals, start, arg)
	return &ast.Lambda{At: at, Arg: arg, Formals: formals, Body: body}
}

func (p *parser) parseFormalSet() *ast.Formals {
	p.next() // '{'
	f := &ast.Formals{}
	p.open[cBrace]++
	p.open[cComma]++
	for !p.tryFormals(f) {
	}
	p.open[cBrace]--
	p.open[cComma]--
	return f
}

// tryFormals parses formals into f until the closing '}' (true) or a
// syntax error after which the set goes on (false).
func (p *parser) tryFormals(f *ast.Formals) (done bool) {
	apath, ind := len(p.apath), len(p.ind)
	defer func() {
		if p.unwind != unwindSyntax {
			return
		}
		if !p.catch([]token.Token{token.COMMA, token.RBRACE}, false, apath, ind) {
			p.open[cBrace]--
			p.open[cComma]--
			return
		}
		p.take(recover())
		done = p.tok.Kind == token.RBRACE
		p.next()
	}()
	for {
		switch p.tok.Kind {
		case token.RBRACE:
			p.next()
			return true
		case token.ELLIPSIS:
			f.Ellipsis = true
			p.next()
			p.expect(token.RBRACE)
			return true
		case token.ID:
			fm := ast.Formal{At: p.pos(p.tok.Start), Name: p.ident(&p.tok)}
			p.next()
			if p.tok.Kind == token.QUEST {
				p.next()
				fm.Default = p.parseExpr()
			}
			f.List = append(f.List, fm)
			switch p.tok.Kind {
			case token.COMMA:
				p.next()
				if k := p.tok.Kind; k != token.ID && k != token.ELLIPSIS && k != token.RBRACE {
					p.syntaxError(token.ID, token.ELLIPSIS, token.RBRACE)
				}
			case token.RBRACE:
			default:
				p.syntaxError(token.RBRACE, token.COMMA)
			}
		default:
			p.syntaxError(token.ID, token.ELLIPSIS, token.RBRACE)
		}
	}
}

// validateFormals sorts the formals by name and reports duplicates as
// CppNix's validateFormals does.
func (p *parser) validateFormals(f *ast.Formals, start int, arg string) {
	list := f.List
	if len(list) > 1 {
		// Nix reports the duplicate whose name was interned first; the
		// order of first appearance is our stand-in for symbol ids.
		dup := -1
		for i := 1; i < len(list) && dup < 0; i++ {
			for j := 0; j < i; j++ {
				if list[j].Name == list[i].Name {
					dup = i
					break
				}
			}
		}
		if dup >= 0 {
			// Among all duplicated names pick the one appearing first.
			best, bestFirst := -1, len(list)
			for i := range list {
				first := -1
				for j := 0; j < i; j++ {
					if list[j].Name == list[i].Name {
						first = j
						break
					}
				}
				if first >= 0 && first < bestFirst {
					best, bestFirst = i, first
				}
			}
			p.errorAt(p.file.Offset(list[best].At), "duplicate formal function argument '"+list[best].Name+"'")
		}
		slices.SortStableFunc(list, func(a, b ast.Formal) int { return strings.Compare(a.Name, b.Name) })
		if dup >= 0 {
			f.List = slices.CompactFunc(list, func(a, b ast.Formal) bool { return a.Name == b.Name })
		}
	}
	if arg != "" && f.Lookup(arg) != nil {
		p.errorAt(start, "duplicate formal function argument '"+arg+"'")
	}
}

type bindsCtx uint8

const (
	ctxSet bindsCtx = iota // { a = 1; }
	ctxRec                 // rec { ... } and let { ... }
	ctxLet                 // let ... in
)

// parseBinds parses bindings into attrs up to and including the closing
// '}' or 'in'. After a syntax error in a binding it goes on with the next.
func (p *parser) parseBinds(attrs *ast.Attrs, ctx bindsCtx) {
	end := cBrace
	if ctx == ctxLet {
		end = cIn
	}
	p.open[end]++
	p.open[cSemi]++
	for !p.tryBinds(attrs, ctx, end) {
	}
	p.open[end]--
	p.open[cSemi]--
}

// tryBinds parses bindings until the end of the list (true) or a syntax
// error after which the list goes on (false).
func (p *parser) tryBinds(attrs *ast.Attrs, ctx bindsCtx, end closer) (done bool) {
	apath, ind := len(p.apath), len(p.ind)
	defer func() {
		if p.unwind != unwindSyntax {
			return
		}
		endTok := token.RBRACE
		if ctx == ctxLet {
			endTok = token.IN
		}
		if !p.catch([]token.Token{token.SEMI, endTok}, false, apath, ind) {
			p.open[end]--
			p.open[cSemi]--
			return
		}
		p.take(recover())
		done = p.tok.Kind != token.SEMI
		p.next()
	}()
	for {
		t := &p.tok
		switch t.Kind {
		case token.ID, token.OR_KW, token.QUOTE, token.DOLLAR_CURLY:
			start := t.Start
			base := len(p.apath)
			p.apath = p.appendAttrPath(p.apath)
			if p.tok.Kind != token.ASSIGN {
				p.syntaxError(token.DOT, token.ASSIGN)
			}
			p.next()
			v := p.parseExpr()
			if p.tok.Kind != token.SEMI {
				p.syntaxError(token.SEMI)
			}
			p.next()
			p.addAttr(attrs, p.apath[base:], p.pos(start), v)
			clear(p.apath[base:])
			p.apath = p.apath[:base]
		case token.INHERIT:
			p.parseInherit(attrs)
		case token.RBRACE:
			if ctx == ctxLet {
				p.syntaxError(token.IN, token.INHERIT)
			}
			p.next()
			return true
		case token.IN:
			if ctx != ctxLet {
				p.bindsError(ctx)
			}
			p.next()
			return true
		default:
			p.bindsError(ctx)
		}
	}
}

func (p *parser) bindsError(ctx bindsCtx) {
	switch ctx {
	case ctxSet:
		p.syntaxError(token.INHERIT)
	case ctxRec:
		p.syntaxError(token.INHERIT, token.RBRACE)
	default:
		p.syntaxError(token.IN, token.INHERIT)
	}
}

func (p *parser) parseInherit(attrs *ast.Attrs) {
	p.next() // inherit
	var from *ast.InheritFrom
	if p.tok.Kind == token.LPAREN {
		p.next()
		start := p.tok.Start
		e := p.parseExpr()
		p.expect(token.RPAREN)
		attrs.InheritFrom = append(attrs.InheritFrom, e)
		from = &ast.InheritFrom{At: p.pos(start), Index: len(attrs.InheritFrom) - 1}
	}
	for {
		t := &p.tok
		var name string
		start := t.Start
		switch t.Kind {
		case token.ID, token.OR_KW:
			name = p.ident(t)
			p.next()
		case token.QUOTE, token.DOLLAR_CURLY:
			an := p.parseStringAttr()
			if an.Expr != nil {
				if !recovered(an.Expr) {
					p.errorAt(start, "dynamic attributes not allowed in inherit")
				}
				continue
			}
			name = an.Name
		case token.SEMI:
			p.next()
			return
		default:
			p.syntaxError()
		}
		at := p.pos(start)
		if prev := p.lookup(attrs, name); prev != nil {
			p.dupAttr(ast.AppendIdentifier(nil, name), at, prev.NamePos)
			continue
		}
		def := p.defs.new()
		def.Name, def.NamePos = name, at
		if from == nil {
			def.Kind = ast.Inherited
			def.Value = p.newVar(at, name)
		} else {
			def.Kind = ast.InheritedFrom
			def.Value = &ast.Select{At: at, X: from, Path: []ast.AttrName{{Name: name}}}
		}
		p.insert(attrs, def)
	}
}

func (p *parser) dupAttr(shown []byte, at, prev token.Pos) {
	p.errorAt(p.file.Offset(at), "attribute '"+string(shown)+"' already defined at "+p.file.Position(prev).String())
}

func (p *parser) newAttrs(at token.Pos) *ast.Attrs {
	a := &ast.Attrs{At: at}
	p.allAttrs = append(p.allAttrs, a)
	return a
}

const indexThreshold = 16

// lookup finds a static attribute of a set under construction.
func (p *parser) lookup(a *ast.Attrs, name string) *ast.AttrDef {
	if len(a.Attrs) <= indexThreshold {
		for _, d := range a.Attrs {
			if d.Name == name {
				return d
			}
		}
		return nil
	}
	idx := p.index[a]
	if idx == nil {
		if p.index == nil {
			p.index = make(map[*ast.Attrs]map[string]int)
		}
		idx = make(map[string]int, 2*len(a.Attrs))
		for i, d := range a.Attrs {
			idx[d.Name] = i
		}
		p.index[a] = idx
	}
	if i, ok := idx[name]; ok {
		return a.Attrs[i]
	}
	return nil
}

func (p *parser) insert(a *ast.Attrs, d *ast.AttrDef) {
	if idx := p.index[a]; idx != nil {
		idx[d.Name] = len(a.Attrs)
	}
	a.Attrs = append(a.Attrs, d)
}

// addAttr adds `path = e;` to attrs, creating and merging nested sets as
// CppNix's ParserState::addAttr does.
func (p *parser) addAttr(attrs *ast.Attrs, apath []ast.AttrName, at token.Pos, e ast.Expr) {
	for i := 0; i < len(apath)-1; i++ {
		n := apath[i]
		var nested *ast.Attrs
		if n.Expr == nil {
			if j := p.lookup(attrs, n.Name); j != nil {
				var ok bool
				nested, ok = j.Value.(*ast.Attrs)
				if !ok {
					p.dupAttr([]byte(ast.ShowAttrPath(apath[:i+1])), at, j.NamePos)
					return
				}
			} else {
				nested = p.newAttrs(token.NoPos)
				def := p.defs.new()
				def.Name, def.NamePos, def.Value = n.Name, at, nested
				p.insert(attrs, def)
			}
		} else {
			nested = p.newAttrs(token.NoPos)
			attrs.Dynamic = append(attrs.Dynamic, ast.DynamicAttr{At: at, NameExpr: n.Expr, Value: nested})
		}
		attrs = nested
	}
	last := apath[len(apath)-1]
	if last.Expr != nil {
		attrs.Dynamic = append(attrs.Dynamic, ast.DynamicAttr{At: at, NameExpr: last.Expr, Value: e})
		return
	}
	def := p.defs.new()
	def.Name, def.NamePos, def.Value = last.Name, at, e
	p.addAttrDef(attrs, apath, def)
}

// addAttrDef adds def to attrs; apath (ending in def's name) is used in
// error messages. Two attribute set literals for the same name merge;
// the rec flag of the later one is dropped (NixOS/nix#9020).
func (p *parser) addAttrDef(attrs *ast.Attrs, apath []ast.AttrName, def *ast.AttrDef) {
	j := p.lookup(attrs, def.Name)
	if j == nil {
		p.insert(attrs, def)
		setName(def.Value, def.Name)
		return
	}
	ae, ok1 := def.Value.(*ast.Attrs)
	jAttrs, ok2 := j.Value.(*ast.Attrs)
	if !ok1 || !ok2 {
		p.dupAttr([]byte(ast.ShowAttrPath(apath)), def.NamePos, j.NamePos)
		return
	}
	if base := len(jAttrs.InheritFrom); base > 0 && len(ae.InheritFrom) > 0 {
		// Renumber each inherit source of ae once.
		var done []*ast.InheritFrom
		for _, ad := range ae.Attrs {
			if ad.Kind != ast.InheritedFrom {
				continue
			}
			if f, ok := ad.Value.(*ast.Select).X.(*ast.InheritFrom); ok && !slices.Contains(done, f) {
				f.Index += base
				done = append(done, f)
			}
		}
	}
	sub := make([]ast.AttrName, len(apath)+1)
	copy(sub, apath)
	for _, ad := range ae.Attrs {
		sub[len(apath)] = ast.AttrName{Name: ad.Name}
		p.addAttrDef(jAttrs, sub, ad)
	}
	ae.Attrs = nil
	jAttrs.Dynamic = append(jAttrs.Dynamic, ae.Dynamic...)
	ae.Dynamic = nil
	jAttrs.InheritFrom = append(jAttrs.InheritFrom, ae.InheritFrom...)
	ae.InheritFrom = nil
}

// setName names a lambda after the attribute it is bound to, and its
// curried inner lambdas too (CppNix's ExprLambda::setName).
func setName(e ast.Expr, name string) {
	for {
		l, ok := e.(*ast.Lambda)
		if !ok {
			return
		}
		l.Name = name
		e = l.Body
	}
}

// parseAttrPath parses attrpath: attr ('.' attr)*.
func (p *parser) parseAttrPath() []ast.AttrName {
	base := len(p.apath)
	p.apath = p.appendAttrPath(p.apath)
	apath := slices.Clone(p.apath[base:])
	clear(p.apath[base:])
	p.apath = p.apath[:base]
	return apath
}

func (p *parser) appendAttrPath(apath []ast.AttrName) []ast.AttrName {
	for {
		// parseAttrName may parse expressions that use p.apath
		// themselves (${...}); append after it returns.
		n := p.parseAttrName()
		apath = append(p.apath[:len(apath)], n)
		p.apath = apath
		if p.tok.Kind != token.DOT {
			return apath
		}
		p.next()
	}
}

func (p *parser) parseAttrName() ast.AttrName {
	t := &p.tok
	switch t.Kind {
	case token.ID, token.OR_KW:
		name := p.ident(t)
		p.next()
		return ast.AttrName{Name: name}
	case token.QUOTE, token.DOLLAR_CURLY:
		return p.parseStringAttr()
	}
	p.syntaxError(token.ID, token.OR_KW, token.DOLLAR_CURLY, token.QUOTE)
	return ast.AttrName{}
}

// parseStringAttr parses string_attr: "..." or ${e}. A plain string, or
// ${e} where e is a plain string literal, is a static name.
func (p *parser) parseStringAttr() ast.AttrName {
	if p.tok.Kind == token.DOLLAR_CURLY {
		e := p.parseInterpolation().X
		if s, ok := e.(*ast.String); ok {
			return ast.AttrName{Name: s.Value}
		}
		return ast.AttrName{Expr: e}
	}
	e := p.parseString()
	if s, ok := e.(*ast.String); ok {
		return ast.AttrName{Name: s.Value}
	}
	return ast.AttrName{Expr: e}
}

// Binding powers of the binary operators (Bison precedence levels).
const (
	precImpl   = 1
	precOr     = 2
	precAnd    = 3
	precEq     = 4
	precCmp    = 5
	precUpdate = 6
	precNot    = 7
	precAdd    = 8
	precMul    = 9
	precConcat = 10
	precHas    = 11
	precNeg    = 12
)

var binPrec = [256]uint8{
	token.IMPL:   precImpl,
	token.OR:     precOr,
	token.AND:    precAnd,
	token.EQ:     precEq,
	token.NEQ:    precEq,
	token.LT:     precCmp,
	token.GT:     precCmp,
	token.LEQ:    precCmp,
	token.GEQ:    precCmp,
	token.UPDATE: precUpdate,
	token.PLUS:   precAdd,
	token.MINUS:  precAdd,
	token.MUL:    precMul,
	token.DIV:    precMul,
	token.CONCAT: precConcat,
	token.QUEST:  precHas,
}

// parseOp parses expr_op with operators binding at least minPrec.
func (p *parser) parseOp(minPrec int) ast.Expr {
	p.enter()
	defer func() { p.depth-- }()
	start := p.tok.Start
	var x ast.Expr
	switch p.tok.Kind {
	case token.NOT:
		at := p.pos(start)
		p.next()
		x = &ast.Not{At: at, X: p.parseOp(precNot + 1)}
	case token.MINUS:
		at := p.pos(start)
		p.next()
		y := p.parseOp(precNeg + 1)
		x = &ast.Call{At: at, Fn: &ast.Var{Name: "__sub"}, Args: []ast.Expr{&ast.Int{Value: 0}, y}}
	default:
		x = p.parseApp()
	}
	nonassoc := 0
	for {
		op := p.tok.Kind
		prec := int(binPrec[op])
		if prec == 0 || prec < minPrec {
			return x
		}
		if prec == nonassoc {
			p.syntaxError()
		}
		opStart := p.tok.Start
		opAt := p.pos(opStart)
		p.next()
		if op == token.QUEST {
			// '?' is %nonassoc in Bison, but its right side is an
			// attrpath, so there is no conflict: `a ? b ? c` is
			// `(a ? b) ? c`.
			x = &ast.HasAttr{At: opAt, X: x, Path: p.parseAttrPath()}
			nonassoc = 0
			continue
		}
		rhsStart := p.tok.Start
		var y ast.Expr
		switch op {
		case token.IMPL, token.UPDATE, token.CONCAT:
			y = p.parseOp(prec)
		default:
			y = p.parseOp(prec + 1)
		}
		nonassoc = 0
		switch op {
		case token.EQ:
			x = &ast.Binary{At: opAt, Op: ast.OpEq, X: x, Y: y}
			nonassoc = precEq
		case token.NEQ:
			x = &ast.Binary{At: opAt, Op: ast.OpNEq, X: x, Y: y}
			nonassoc = precEq
		case token.AND:
			x = &ast.Binary{At: opAt, Op: ast.OpAnd, X: x, Y: y}
		case token.OR:
			x = &ast.Binary{At: opAt, Op: ast.OpOr, X: x, Y: y}
		case token.IMPL:
			x = &ast.Binary{At: opAt, Op: ast.OpImpl, X: x, Y: y}
		case token.UPDATE:
			x = &ast.Binary{At: opAt, Op: ast.OpUpdate, X: x, Y: y}
		case token.CONCAT:
			x = &ast.Binary{At: opAt, Op: ast.OpConcatLists, X: x, Y: y}
		case token.LT:
			x = lessThan(opAt, x, y)
			nonassoc = precCmp
		case token.GT:
			x = lessThan(opAt, y, x)
			nonassoc = precCmp
		case token.LEQ:
			x = &ast.Not{At: opAt, X: lessThan(opAt, y, x)}
			nonassoc = precCmp
		case token.GEQ:
			x = &ast.Not{At: opAt, X: lessThan(opAt, x, y)}
			nonassoc = precCmp
		case token.PLUS:
			x = &ast.ConcatStrings{At: opAt, Parts: []ast.StrPart{{At: p.pos(start), X: x}, {At: p.pos(rhsStart), X: y}}}
		case token.MINUS:
			x = &ast.Call{At: opAt, Fn: &ast.Var{Name: "__sub"}, Args: []ast.Expr{x, y}}
		case token.MUL:
			x = &ast.Call{At: opAt, Fn: &ast.Var{Name: "__mul"}, Args: []ast.Expr{x, y}}
		case token.DIV:
			x = &ast.Call{At: opAt, Fn: &ast.Var{Name: "__div"}, Args: []ast.Expr{x, y}}
		}
	}
}

func lessThan(at token.Pos, a, b ast.Expr) ast.Expr {
	return &ast.Call{At: at, Fn: &ast.Var{Name: "__lessThan"}, Args: []ast.Expr{a, b}}
}

// startsSelect reports whether k can start an expr_select (a function
// argument or list element).
func startsSelect(k token.Token) bool {
	switch k {
	case token.ID, token.INT, token.FLOAT, token.QUOTE, token.IND_STRING_OPEN,
		token.PATH, token.HPATH, token.SPATH, token.URI, token.LPAREN,
		token.LET, token.REC, token.LBRACE, token.LBRACK:
		return true
	}
	return false
}

// parseApp parses expr_app: a chain of applications, flattened into one
// Call as CppNix's makeCall does (also onto a Call that came from
// parentheses or desugaring).
func (p *parser) parseApp() ast.Expr {
	start := p.tok.Start
	x := p.parseSelect()
	if p.cursed != nil {
		delete(p.cursed, asCall(x))
	}
	if !startsSelect(p.tok.Kind) {
		return x
	}
	call, ok := x.(*ast.Call)
	if !ok {
		call = p.calls.new()
		call.At, call.Fn = p.pos(start), x
	}
	for startsSelect(p.tok.Kind) {
		arg := p.parseSelect()
		p.warnCursedOr(arg)
		call.Args = append(call.Args, arg)
	}
	return call
}

func asCall(e ast.Expr) *ast.Call {
	c, _ := e.(*ast.Call)
	return c
}

// warnCursedOr reports a use of `e or` that a future Nix will parse
// differently, as CppNix's ExprCall::warnIfCursedOr.
func (p *parser) warnCursedOr(e ast.Expr) {
	if p.cursed == nil {
		return
	}
	c, ok := e.(*ast.Call)
	if !ok {
		return
	}
	end, ok := p.cursed[c]
	if !ok {
		return
	}
	delete(p.cursed, c)
	if p.opts.Warn == nil || len(p.errors) > 0 {
		return
	}
	start := p.file.Offset(c.At)
	snippet := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(p.src[start:end]))
	p.opts.Warn(c.At, "at "+p.file.Position(c.At).String()+": This expression uses `or` as an identifier in a way that will change in a future Nix release.\n"+
		"Wrap this entire expression in parentheses to preserve its current meaning:\n"+
		"    ("+snippet+")\n"+
		"Give feedback at https://github.com/NixOS/nix/pull/11121")
}

// parseSelect parses expr_select.
func (p *parser) parseSelect() ast.Expr {
	p.enter()
	defer func() { p.depth-- }()
	start := p.tok.Start
	x := p.parseSimple()
	switch p.tok.Kind {
	case token.DOT:
		p.next()
		sel := p.sels.new()
		sel.At, sel.X, sel.Path = p.pos(start), x, p.parseAttrPath()
		if p.tok.Kind == token.OR_KW {
			p.next()
			sel.Default = p.parseSelect()
			p.warnCursedOr(sel.Default)
		}
		return sel
	case token.OR_KW:
		at := p.pos(start)
		end := p.tok.End
		p.next()
		c := &ast.Call{At: at, Fn: x, Args: []ast.Expr{&ast.Var{At: at, Name: "or"}}}
		if p.cursed == nil {
			p.cursed = make(map[*ast.Call]int)
		}
		p.cursed[c] = end
		return c
	}
	return x
}

// parseSimple parses expr_simple.
func (p *parser) parseSimple() ast.Expr {
	t := &p.tok
	at := p.pos(t.Start)
	switch t.Kind {
	case token.ID:
		name := p.ident(t)
		p.next()
		if name == "__curPos" {
			return &ast.CurPos{At: at}
		}
		return p.newVar(at, name)
	case token.INT:
		v := t.Int
		p.next()
		return &ast.Int{At: at, Value: v}
	case token.FLOAT:
		v := t.Float
		p.next()
		return &ast.Float{At: at, Value: v}
	case token.QUOTE:
		return p.parseString()
	case token.IND_STRING_OPEN:
		return p.parseIndString()
	case token.PATH, token.HPATH:
		return p.parsePath()
	case token.SPATH:
		text := p.sc.Text(t)
		name := string(text[1 : len(text)-1])
		p.next()
		return &ast.Call{At: at, Fn: &ast.Var{Name: "__findFile"}, Args: []ast.Expr{&ast.Var{Name: "__nixPath"}, &ast.String{At: at, Value: name}}}
	case token.URI:
		s := string(p.sc.Text(t))
		if l := p.opts.Lints.URLLiterals; l != LintIgnore {
			verb := "discouraged"
			if l == LintFatal {
				verb = "disallowed"
			}
			p.lint(l, t.Start, "URL literals are "+verb+". Consider using a string literal \""+s+"\" instead (lint-url-literals)")
		}
		p.next()
		return &ast.String{At: at, Value: s}
	case token.LPAREN:
		return p.parseParen()
	case token.LET, token.REC:
		isLet := t.Kind == token.LET
		p.next()
		if p.tok.Kind != token.LBRACE {
			p.syntaxError(token.LBRACE)
		}
		p.next()
		attrs := p.newAttrs(at)
		attrs.Rec = true
		p.parseBinds(attrs, ctxRec)
		if isLet {
			return &ast.Select{At: at, X: attrs, Path: []ast.AttrName{{Name: "body"}}}
		}
		return attrs
	case token.LBRACE:
		p.next()
		attrs := p.newAttrs(at)
		if p.tok.Kind == token.RBRACE {
			p.next()
			return attrs
		}
		p.parseBinds(attrs, ctxSet)
		return attrs
	case token.LBRACK:
		return p.parseList(at)
	}
	p.syntaxError()
	return nil
}

// parseParen parses ( expr ). After a syntax error inside, it skips to
// the ')' and returns nil.
func (p *parser) parseParen() (e ast.Expr) {
	p.next()
	p.open[cParen]++
	apath, ind := len(p.apath), len(p.ind)
	defer func() {
		if p.unwind == unwindSyntax && p.catchBracket(cParen, token.RPAREN, apath, ind) {
			p.take(recover())
			p.next()
			e = nil
		}
	}()
	e = p.parseExpr()
	p.expect(token.RPAREN)
	p.open[cParen]--
	return e
}

// parseList parses [ elems ]. After a syntax error inside, it skips to
// the ']' and returns the elements parsed before the error.
func (p *parser) parseList(at token.Pos) (l *ast.List) {
	p.next()
	l = &ast.List{At: at}
	p.open[cBrack]++
	apath, ind := len(p.apath), len(p.ind)
	defer func() {
		if p.unwind == unwindSyntax && p.catchBracket(cBrack, token.RBRACK, apath, ind) {
			p.take(recover())
			p.next()
		}
	}()
	for startsSelect(p.tok.Kind) {
		e := p.parseSelect()
		p.warnCursedOr(e)
		l.Elems = append(l.Elems, e)
	}
	if p.tok.Kind != token.RBRACK {
		p.syntaxError()
	}
	p.next()
	p.open[cBrack]--
	return l
}

// parseInterpolation parses `${ expr }` at the current '${'. After a
// syntax error inside, it skips to the '}' and returns a part whose X is
// an empty Var (not nil: `${...}` as an attribute name stays dynamic).
func (p *parser) parseInterpolation() (part ast.StrPart) {
	part.At = p.pos(p.tok.Start)
	p.next()
	p.open[cBrace]++
	apath, ind := len(p.apath), len(p.ind)
	defer func() {
		if p.unwind == unwindSyntax && p.catchBracket(cBrace, token.RBRACE, apath, ind) {
			p.take(recover())
			p.next()
			part.X = &ast.Var{At: part.At} // see recovered
		}
	}()
	part.X = p.parseExpr()
	p.expect(token.RBRACE)
	p.open[cBrace]--
	return part
}

// recovered reports whether e stands for a ${ } that had a syntax error.
func recovered(e ast.Expr) bool {
	v, ok := e.(*ast.Var)
	return ok && v.Name == ""
}

// truncScratch drops what an abandoned parse left on the scratch stacks.
func (p *parser) truncScratch(apath, ind int) {
	clear(p.apath[apath:])
	p.apath = p.apath[:apath]
	clear(p.ind[ind:])
	p.ind = p.ind[:ind]
}

// parseString parses '"' string_parts '"'.
func (p *parser) parseString() ast.Expr {
	at := p.pos(p.tok.Start)
	p.next() // '"'
	switch t := &p.tok; t.Kind {
	case token.QUOTE:
		p.next()
		return p.newString(at, "")
	case token.STR:
		if p.peek(1).Kind == token.QUOTE {
			e := p.newString(p.pos(t.Start), p.noNul(t, p.sc.StringValue(t)))
			p.next()
			p.next()
			return e
		}
	}
	var parts []ast.StrPart
	interpolated := false
	for {
		t := &p.tok
		switch t.Kind {
		case token.STR:
			v := p.noNul(t, p.sc.StringValue(t))
			parts = append(parts, ast.StrPart{At: p.pos(t.Start), X: p.newString(p.pos(t.Start), v)})
			p.next()
		case token.DOLLAR_CURLY:
			parts = append(parts, p.parseInterpolation())
			interpolated = true
		case token.QUOTE:
			p.next()
			switch {
			case len(parts) == 0:
				return &ast.String{At: at}
			case !interpolated && len(parts) == 1:
				return parts[0].X
			}
			return &ast.ConcatStrings{At: parts[0].At, ForceString: true, Parts: parts}
		default:
			p.syntaxError(token.QUOTE)
		}
	}
}

// noNul rejects string literals containing NUL bytes, as CppNix's
// forceNoNullByte does.
func (p *parser) noNul(t *scanner.Tok, v string) string {
	if strings.IndexByte(v, 0) >= 0 {
		p.errorAt(t.Start, "input string '"+strings.ReplaceAll(v, "\x00", "␀")+"' cannot be represented as Nix string because it contains null bytes")
	}
	return v
}

type indPart struct {
	at        token.Pos
	expr      ast.Expr // nil for a string part
	str       string
	hasIndent bool
}

// parseIndString parses an indented string and strips its indentation.
func (p *parser) parseIndString() ast.Expr {
	at := p.pos(p.tok.Start)
	p.next()
	base := len(p.ind)
	for {
		t := &p.tok
		switch t.Kind {
		case token.IND_STR:
			v := p.noNul(t, p.sc.StringValue(t))
			p.ind = append(p.ind, indPart{at: p.pos(t.Start), str: v, hasIndent: t.HasIndent})
			p.next()
		case token.DOLLAR_CURLY:
			part := p.parseInterpolation()
			p.ind = append(p.ind, indPart{at: part.At, expr: part.X})
		case token.IND_STRING_CLOSE:
			p.next()
			e := p.stripIndentation(at, p.ind[base:])
			clear(p.ind[base:])
			p.ind = p.ind[:base]
			return e
		default:
			p.syntaxError(token.IND_STR, token.DOLLAR_CURLY, token.IND_STRING_CLOSE)
		}
	}
}

// stripIndentation is CppNix's ParserState::stripIndentation.
func (p *parser) stripIndentation(at token.Pos, es []indPart) ast.Expr {
	if len(es) == 0 {
		return &ast.String{At: at}
	}
	// Minimum indentation; whitespace-only final lines do not count.
	atStartOfLine := true
	minIndent := 1000000
	curIndent := 0
	for i := range es {
		e := &es[i]
		if e.expr != nil || !e.hasIndent {
			if atStartOfLine {
				atStartOfLine = false
				if curIndent < minIndent {
					minIndent = curIndent
				}
			}
			continue
		}
		s := e.str
		for j := 0; j < len(s); j++ {
			if atStartOfLine {
				switch s[j] {
				case ' ':
					curIndent++
				case '\n':
					curIndent = 0
				default:
					atStartOfLine = false
					if curIndent < minIndent {
						minIndent = curIndent
					}
				}
			} else if s[j] == '\n' {
				atStartOfLine = true
				curIndent = 0
			}
		}
	}

	var es2 []ast.StrPart
	atStartOfLine = true
	curDropped := 0
	n := len(es)
	for i := range es {
		e := &es[i]
		if e.expr != nil {
			atStartOfLine = false
			curDropped = 0
			es2 = append(es2, ast.StrPart{At: e.at, X: e.expr})
			n--
			continue
		}
		s := e.str
		buf := p.strbuf[:0]
		for j := 0; j < len(s); j++ {
			c := s[j]
			if atStartOfLine {
				switch c {
				case ' ':
					if curDropped >= minIndent {
						buf = append(buf, c)
					}
					curDropped++
				case '\n':
					curDropped = 0
					buf = append(buf, c)
				default:
					atStartOfLine = false
					curDropped = 0
					buf = append(buf, c)
				}
			} else {
				buf = append(buf, c)
				if c == '\n' {
					atStartOfLine = true
				}
			}
		}
		// Remove the last line if it is empty and consists only of spaces.
		if n == 1 {
			if k := lastIndexByte(buf, '\n'); k >= 0 && onlySpaces(buf[k+1:]) {
				buf = buf[:k+1]
			}
		}
		p.strbuf = buf
		if len(buf) > 0 {
			es2 = append(es2, ast.StrPart{At: e.at, X: &ast.String{At: e.at, Value: string(buf)}})
		}
		n--
	}
	if len(es2) == 0 {
		return &ast.String{At: at}
	}
	if len(es2) == 1 {
		if s, ok := es2[0].X.(*ast.String); ok {
			return s
		}
	}
	return &ast.ConcatStrings{At: at, ForceString: true, Parts: es2}
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func onlySpaces(b []byte) bool {
	for _, c := range b {
		if c != ' ' {
			return false
		}
	}
	return true
}

// parsePath parses path_start [string_parts_interpolated] PATH_END.
func (p *parser) parsePath() ast.Expr {
	t := &p.tok
	at := p.pos(t.Start)
	lit := string(p.sc.Text(t))
	pe := &ast.Path{At: at, Value: p.resolvePath(lit, t.Kind == token.HPATH)}
	p.lintPath(lit, t.Kind == token.HPATH, t.Start)
	p.next()
	if p.tok.Kind == token.PATH_END {
		p.next()
		return pe
	}
	parts := []ast.StrPart{{At: at, X: pe}}
	for {
		t := &p.tok
		switch t.Kind {
		case token.STR:
			parts = append(parts, ast.StrPart{At: p.pos(t.Start), X: &ast.String{At: p.pos(t.Start), Value: p.sc.StringValue(t)}})
			p.next()
		case token.DOLLAR_CURLY:
			parts = append(parts, p.parseInterpolation())
		case token.PATH_END:
			p.next()
			return &ast.ConcatStrings{At: at, Parts: parts}
		default:
			p.syntaxError(token.STR, token.PATH_END, token.DOLLAR_CURLY)
		}
	}
}

// lintPath applies the path-literal lints to lit, which starts at off,
// as CppNix's path_start rule (after the pure-mode check for `~/`).
func (p *parser) lintPath(lit string, home bool, off int) {
	l := p.opts.Lints
	switch {
	case home && l.AbsolutePathLiterals != LintIgnore:
		p.lint(l.AbsolutePathLiterals, off, "home path literals are not portable. Consider replacing path literal '"+lit+"' by a string, relative path, or parameter (lint-absolute-path-literals)")
	case home:
	case lit[0] == '/' && l.AbsolutePathLiterals != LintIgnore:
		p.lint(l.AbsolutePathLiterals, off, "absolute path literals are not portable. Consider replacing path literal '"+lit+"' by a string, relative path, or parameter (lint-absolute-path-literals)")
	case lit[0] != '/' && lit[0] != '.' && l.ShortPathLiterals != LintIgnore:
		p.lint(l.ShortPathLiterals, off, "relative path literal '"+lit+"' should be prefixed with '.' for clarity: './"+lit+"' (lint-short-path-literals)")
	}
}

// lint reports msg at off: a parse error when fatal, else a diagnostic.
func (p *parser) lint(l LintLevel, off int, msg string) {
	if l == LintFatal {
		p.errorAt(off, msg)
		return
	}
	if p.opts.Diagnose != nil && len(p.errors) == 0 {
		p.opts.Diagnose(p.pos(off), msg)
	}
}

// resolvePath makes a path literal absolute as Nix does at parse time:
// `~/x` is $HOME/x (not canonicalised); other paths are canonicalised
// (lexically, no symlinks) against the base directory, keeping a trailing
// slash (which only occurs before an interpolation).
func (p *parser) resolvePath(lit string, home bool) string {
	if home {
		if p.opts.Pure {
			// Nix throws a plain Error here, without a position.
			p.errors.Add(token.Position{}, "the path '"+lit+"' can not be resolved in pure mode")
			p.bail()
		}
		return p.opts.HomeDir + lit[1:]
	}
	var s string
	if lit[0] == '/' {
		s = path.Clean(lit)
	} else {
		base := p.opts.BaseDir
		if base == "" {
			base = "/"
		}
		s = path.Clean(base + "/" + lit)
	}
	if len(lit) > 1 && lit[len(lit)-1] == '/' {
		s += "/"
	}
	return s
}
