package ast

import (
	"io"
	"math"
	"strconv"
)

// Show returns e printed as `nix-instantiate --parse` of current Nix
// prints it (CppNix's Expr::show). The evaluator uses the same text in
// messages such as "assertion '(a == b)' failed".
func Show(e Expr) string {
	var p printer
	p.expr(e)
	return string(p.buf)
}

// Fprint writes Show(e) to w.
func Fprint(w io.Writer, e Expr) error {
	var p printer
	p.expr(e)
	_, err := w.Write(p.buf)
	return err
}

// AppendShow appends Show(e) to buf.
func AppendShow(buf []byte, e Expr) []byte {
	p := printer{buf: buf}
	p.expr(e)
	return p.buf
}

// ShowAttrPath formats an attribute path as Nix does in messages and in
// Select: names separated by '.', quoted when they are not identifiers,
// dynamic parts as "${e}".
func ShowAttrPath(path []AttrName) string {
	var p printer
	p.attrPath(path)
	return string(p.buf)
}

// QuoteString returns s as a Nix string literal, escaping `"`, `\`,
// newline, CR, tab and `${` exactly as CppNix's printLiteralString.
func QuoteString(s string) string {
	return string(AppendQuoteString(nil, s))
}

// quoteSpecial[c] reports whether AppendQuoteString may escape c.
var quoteSpecial = [256]bool{'"': true, '\\': true, '\n': true, '\r': true, '\t': true, '$': true}

// AppendQuoteString appends QuoteString(s) to buf.
func AppendQuoteString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		// Copy the run of bytes that need no escape in one go.
		j := i
		for j < len(s) && !quoteSpecial[s[j]] {
			j++
		}
		if j > i {
			buf = append(buf, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				buf = append(buf, '\\', '$')
			} else {
				buf = append(buf, '$')
			}
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// AppendIdentifier appends s as CppNix's printIdentifier does: bare if it
// is an identifier (including "or"), `"if"`-style quoted if it is a
// keyword, and as a string literal otherwise.
func AppendIdentifier(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, `""`...)
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return AppendQuoteString(buf, s)
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\'' || c == '-') {
			return AppendQuoteString(buf, s)
		}
	}
	if isKeyword(s) {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	return append(buf, s...)
}

// isKeyword is token.IsKeyword without the map lookup: the words that
// cannot be identifiers ("or" can).
func isKeyword(s string) bool {
	switch len(s) {
	case 2:
		return s == "if" || s == "in"
	case 3:
		return s == "let" || s == "rec"
	case 4:
		return s == "then" || s == "else" || s == "with"
	case 6:
		return s == "assert"
	case 7:
		return s == "inherit"
	}
	return false
}

// FormatFloat formats f like a C++ ostream with default settings (%g with
// six significant digits), which is how Nix prints float literals and
// float values in `nix-instantiate --eval`.
func FormatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

type printer struct {
	buf []byte
}

func (p *printer) str(s string) { p.buf = append(p.buf, s...) }

func (p *printer) attrPath(path []AttrName) {
	for i, a := range path {
		if i > 0 {
			p.buf = append(p.buf, '.')
		}
		if a.Expr == nil {
			p.buf = AppendIdentifier(p.buf, a.Name)
		} else {
			p.str(`"${`)
			p.expr(a.Expr)
			p.str(`}"`)
		}
	}
}

func (p *printer) bindings(a *Attrs) {
	// a.Attrs is sorted bytewise already.
	first := true
	for _, d := range a.Attrs {
		if d.Kind == Inherited {
			if first {
				p.str("inherit")
				first = false
			}
			p.buf = append(p.buf, ' ')
			p.buf = AppendIdentifier(p.buf, d.Name)
		}
	}
	if !first {
		p.str("; ")
	}
	if len(a.InheritFrom) > 0 {
		groups := make([][]string, len(a.InheritFrom))
		for _, d := range a.Attrs {
			if d.Kind == InheritedFrom {
				if i := d.InheritFromIndex(); i >= 0 && i < len(groups) {
					groups[i] = append(groups[i], d.Name)
				}
			}
		}
		for i, names := range groups {
			if len(names) == 0 {
				continue
			}
			p.str("inherit (")
			p.expr(a.InheritFrom[i])
			p.str(")")
			for _, n := range names {
				p.buf = append(p.buf, ' ')
				p.buf = AppendIdentifier(p.buf, n)
			}
			p.str("; ")
		}
	}
	for _, d := range a.Attrs {
		if d.Kind == Plain {
			p.buf = AppendIdentifier(p.buf, d.Name)
			p.str(" = ")
			p.expr(d.Value)
			p.str("; ")
		}
	}
	for _, d := range a.Dynamic {
		p.str(`"${`)
		p.expr(d.NameExpr)
		p.str(`}" = `)
		p.expr(d.Value)
		p.str("; ")
	}
}

func (p *printer) expr(e Expr) {
	switch x := e.(type) {
	case *Int:
		p.buf = strconv.AppendInt(p.buf, x.Value, 10)
	case *Float:
		p.str(FormatFloat(x.Value))
	case *String:
		p.buf = AppendQuoteString(p.buf, x.Value)
	case *Path:
		p.str(x.Value)
	case *Var:
		p.buf = AppendIdentifier(p.buf, x.Name)
	case *InheritFrom:
		p.str(`""`)
	case *Select:
		p.str("(")
		p.expr(x.X)
		p.str(").")
		p.attrPath(x.Path)
		if x.Default != nil {
			p.str(" or (")
			p.expr(x.Default)
			p.str(")")
		}
	case *HasAttr:
		p.str("((")
		p.expr(x.X)
		p.str(") ? ")
		p.attrPath(x.Path)
		p.str(")")
	case *Attrs:
		if x.Rec {
			p.str("rec ")
		}
		p.str("{ ")
		p.bindings(x)
		p.str("}")
	case *List:
		p.str("[ ")
		for _, el := range x.Elems {
			p.str("(")
			p.expr(el)
			p.str(") ")
		}
		p.str("]")
	case *Lambda:
		p.str("(")
		if x.Formals != nil {
			p.str("{ ")
			for i, f := range x.Formals.List {
				if i > 0 {
					p.str(", ")
				}
				p.buf = AppendIdentifier(p.buf, f.Name)
				if f.Default != nil {
					p.str(" ? ")
					p.expr(f.Default)
				}
			}
			if x.Formals.Ellipsis {
				if len(x.Formals.List) > 0 {
					p.str(", ")
				}
				p.str("...")
			}
			p.str(" }")
			if x.Arg != "" {
				p.str(" @ ")
			}
		}
		if x.Arg != "" {
			p.buf = AppendIdentifier(p.buf, x.Arg)
		}
		p.str(": ")
		p.expr(x.Body)
		p.str(")")
	case *Call:
		p.str("(")
		p.expr(x.Fn)
		for _, a := range x.Args {
			p.str(" ")
			p.expr(a)
		}
		p.str(")")
	case *Let:
		p.str("(let ")
		p.bindings(x.Attrs)
		p.str("in ")
		p.expr(x.Body)
		p.str(")")
	case *With:
		p.str("(with ")
		p.expr(x.Env)
		p.str("; ")
		p.expr(x.Body)
		p.str(")")
	case *If:
		p.str("(if ")
		p.expr(x.Cond)
		p.str(" then ")
		p.expr(x.Then)
		p.str(" else ")
		p.expr(x.Else)
		p.str(")")
	case *Assert:
		p.str("assert ")
		p.expr(x.Cond)
		p.str("; ")
		p.expr(x.Body)
	case *Not:
		p.str("(! ")
		p.expr(x.X)
		p.str(")")
	case *Binary:
		p.str("(")
		p.expr(x.X)
		p.str(" ")
		p.str(x.Op.String())
		p.str(" ")
		p.expr(x.Y)
		p.str(")")
	case *ConcatStrings:
		p.str("(")
		for i, part := range x.Parts {
			if i > 0 {
				p.str(" + ")
			}
			p.expr(part.X)
		}
		p.str(")")
	case *CurPos:
		p.str("__curPos")
	case nil:
		p.str("<nil>")
	default:
		panic("ast: unknown node type")
	}
}
