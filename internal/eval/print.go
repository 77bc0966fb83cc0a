package eval

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"cairn/internal/eval/numfmt"
)

// quoteString is CppNix's printLiteralString (maxLen < 0: unlimited).
func quoteString(b *strings.Builder, s string, maxLen int) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if maxLen >= 0 && i >= maxLen {
			b.WriteString("\" ")
			b.WriteString(elided(len(s)-i, "byte", "bytes"))
			return
		}
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString("\\n")
		case '\r':
			b.WriteString("\\r")
		case '\t':
			b.WriteString("\\t")
		case '$':
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteString("\\$")
			} else {
				b.WriteByte('$')
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

func elided(n int, single, plural string) string {
	if n == 1 {
		return "«1 " + single + " elided»"
	}
	return "«" + strconv.Itoa(n) + " " + plural + " elided»"
}

func isReservedKeyword(s string) bool {
	switch s {
	case "if", "then", "else", "assert", "with", "let", "in", "rec", "inherit":
		return true
	}
	return false
}

func isVarName(s string) bool {
	if s == "" || isReservedKeyword(s) {
		return false
	}
	c := s[0]
	if (c >= '0' && c <= '9') || c == '-' || c == '\'' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '\'') {
			return false
		}
	}
	return true
}

func writeAttrName(b *strings.Builder, s string) {
	if isVarName(s) {
		b.WriteString(s)
	} else {
		quoteString(b, s, -1)
	}
}

func formatFloat(f float64) string { return numfmt.FormatFloatEval(f) }

// printer is CppNix's print.cc Printer.
type printer struct {
	ev            *Evaluator
	b             strings.Builder
	maxDepth      int
	maxAttrs      int
	maxList       int
	maxStr        int
	force         bool
	seen          map[unsafe.Pointer]bool
	attrsPrinted  int
	listPrinted   int
	importantSort bool
}

// printValueErr prints v as values appear in error messages.
func (ev *Evaluator) printValueErr(v Value) string {
	p := &printer{ev: ev, maxDepth: 10, maxAttrs: 10, maxList: 10, maxStr: 1024, seen: map[unsafe.Pointer]bool{}, importantSort: true}
	p.print(v, 0)
	return p.b.String()
}

// PrintValue prints v as `builtins.trace` and the REPL do (no limits,
// unforced parts as «thunk»).
func (ev *Evaluator) PrintValue(v Value) string {
	p := &printer{ev: ev, maxDepth: 1 << 30, maxAttrs: 1 << 30, maxList: 1 << 30, maxStr: -1, seen: map[unsafe.Pointer]bool{}}
	p.print(v, 0)
	return p.b.String()
}

func (p *printer) print(v Value, depth int) {
	if v.IsThunk() {
		t := v.thunk()
		switch t.state() {
		case thDone:
			v = t.val()
		case thRunning:
			p.b.WriteString("«potential infinite recursion»")
			return
		default:
			p.b.WriteString("«thunk»")
			return
		}
	}
	b := &p.b
	if writeScalar(b, v, p.maxStr) {
		return
	}
	switch v.Kind() {
	case KAttrs:
		a := v.AttrsV()
		if p.seen[unsafe.Pointer(a)] {
			b.WriteString("«repeated»")
			return
		}
		p.seen[unsafe.Pointer(a)] = true
		if depth >= p.maxDepth {
			b.WriteString("{ ... }")
			return
		}
		b.WriteString("{")
		sorted := p.ev.lexOrder(a)
		if p.importantSort {
			imp := func(s string) bool { return s == "type" || s == "_type" }
			names := p.ev.syms.names
			sort.SliceStable(sorted, func(i, j int) bool {
				return imp(names[sorted[i].Name]) && !imp(names[sorted[j].Name])
			})
		}
		cur := 0
		for _, at := range sorted {
			b.WriteByte(' ')
			if p.attrsPrinted >= p.maxAttrs {
				b.WriteString(elided(len(sorted)-cur, "attribute", "attributes"))
				break
			}
			writeAttrName(b, p.ev.syms.name(at.Name))
			b.WriteString(" = ")
			p.print(at.Val, depth+1)
			b.WriteByte(';')
			p.attrsPrinted++
			cur++
		}
		b.WriteString(" }")
	case KList:
		l := v.ListV()
		if len(l) > 0 {
			k := unsafe.Pointer(&l[0])
			if p.seen[k] {
				b.WriteString("«repeated»")
				return
			}
			p.seen[k] = true
		}
		if depth >= p.maxDepth {
			b.WriteString("[ ... ]")
			return
		}
		b.WriteString("[")
		for i, x := range l {
			b.WriteByte(' ')
			if p.listPrinted >= p.maxList {
				b.WriteString(elided(len(l)-i, "item", "items"))
				break
			}
			p.print(x, depth+1)
			p.listPrinted++
		}
		b.WriteString(" ]")
	case KLambda:
		l := p.ev.lambdas[v.lambdaID()]
		b.WriteString("«lambda")
		if l.hasName {
			b.WriteString(" " + p.ev.syms.name(l.name))
		}
		b.WriteString(" @ " + p.ev.showPos(l.pos) + "»")
	case KPrimop:
		b.WriteString("«primop " + v.primop().Name + "»")
	case KPrimopApp:
		b.WriteString("«partially applied primop " + v.primopApp().op.Name + "»")
	}
}

// PrintAmbiguous writes v as `nix-instantiate --eval` does. With strict
// set the caller has deep-forced v already.
func (ev *Evaluator) PrintAmbiguous(w io.Writer, v Value) error {
	var b strings.Builder
	seen := map[unsafe.Pointer]bool{}
	if err := ev.printAmbiguous(&b, v, unsafe.Pointer(new(byte)), seen, 0); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (ev *Evaluator) printAmbiguous(b *strings.Builder, v Value, cell unsafe.Pointer, seen map[unsafe.Pointer]bool, depth int) error {
	if depth > ev.maxDepth {
		return ev.stackOverflow(0)
	}
	if v.IsThunk() {
		t := v.thunk()
		cell = unsafe.Pointer(t)
		switch t.state() {
		case thDone:
			v = t.val()
		case thRunning:
			b.WriteString("«potential infinite recursion»")
			return nil
		default:
			b.WriteString("<CODE>")
			return nil
		}
	}
	if writeScalar(b, v, -1) {
		return nil
	}
	switch v.Kind() {
	case KAttrs:
		a := v.AttrsV()
		if a.Len() > 0 {
			if seen[unsafe.Pointer(a)] {
				b.WriteString("«repeated»")
				return nil
			}
			seen[unsafe.Pointer(a)] = true
		}
		b.WriteString("{ ")
		for _, at := range ev.lexOrder(a) {
			b.WriteString(ev.symStr(at.Name))
			b.WriteString(" = ")
			slot, _ := a.Get(at.Name)
			if err := ev.printAmbiguous(b, at.Val, unsafe.Pointer(&slot.Val), seen, depth+1); err != nil {
				return err
			}
			b.WriteString("; ")
		}
		b.WriteString("}")
	case KList:
		l := v.ListV()
		if len(l) > 0 {
			key := cell
			if !ev.opts.Compat.ListCellRepeated {
				key = unsafe.Pointer(&l[0])
			}
			if seen[key] {
				b.WriteString("«repeated»")
				return nil
			}
			seen[key] = true
		}
		b.WriteString("[ ")
		for i, x := range l {
			if err := ev.printAmbiguous(b, x, unsafe.Pointer(&l[i]), seen, depth+1); err != nil {
				return err
			}
			b.WriteString(" ")
		}
		b.WriteString("]")
	case KLambda:
		b.WriteString("<LAMBDA>")
	case KPrimop:
		b.WriteString("<PRIMOP>")
	case KPrimopApp:
		b.WriteString("<PRIMOP-APP>")
	}
	return nil
}

// ForceDeep forces v recursively (--strict, deepSeq), visiting attributes
// in symbol-id order and adding CppNix's trace frames.
func (ev *Evaluator) ForceDeep(v Value) error {
	seen := map[unsafe.Pointer]bool{}
	return ev.forceDeep(v, 0, seen)
}

func (ev *Evaluator) forceDeep(v Value, _ Pos, seen map[unsafe.Pointer]bool) error {
	p := ev.determinePos(v, 0)
	if ev.depth > ev.maxDepth {
		return ev.stackOverflow(p)
	}
	ev.depth++
	defer func() { ev.depth-- }()
	ev.nest++
	defer func() { ev.nest-- }()
	if ev.nest-ev.hopBase > hopEvery {
		_, err := ev.hop(func() (Value, error) { return Value{}, ev.forceDeep1(v, p, seen) })
		return err
	}
	return ev.forceDeep1(v, p, seen)
}

func (ev *Evaluator) forceDeep1(v Value, p Pos, seen map[unsafe.Pointer]bool) error {
	if v.IsThunk() {
		k := unsafe.Pointer(v.thunk())
		if seen[k] {
			return nil
		}
		seen[k] = true
	}
	v, err := ev.force(v, p)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case KAttrs:
		a := v.AttrsV()
		if seen[unsafe.Pointer(a)] {
			return nil
		}
		seen[unsafe.Pointer(a)] = true
		for _, at := range a.All() {
			if err := ev.forceDeep(at.Val, Pos(at.Pos), seen); err != nil {
				return addTracef(err, Pos(at.Pos), "while evaluating the attribute '%s'", ev.symStr(at.Name))
			}
		}
	case KList:
		for i, x := range v.ListV() {
			if err := ev.forceDeep(x, p, seen); err != nil {
				return addTracef(err, 0, "while evaluating list element at index %d", i)
			}
		}
	}
	return nil
}

type xmlAttr struct{ k, v string }

type xmlWriter struct {
	b       strings.Builder
	pending []string
}

const xmlSpaces = "                                                                "

func (w *xmlWriter) indent() {
	n := 2 * len(w.pending)
	for n > len(xmlSpaces) {
		w.b.WriteString(xmlSpaces)
		n -= len(xmlSpaces)
	}
	w.b.WriteString(xmlSpaces[:n])
}

func (w *xmlWriter) attrs(as []xmlAttr) {
	if len(as) > 1 {
		slices.SortFunc(as, func(x, y xmlAttr) int { return strings.Compare(x.k, y.k) })
	}
	for _, a := range as {
		w.b.WriteString(" " + a.k + "=\"")
		for i := 0; i < len(a.v); i++ {
			switch c := a.v[i]; c {
			case '"':
				w.b.WriteString("&quot;")
			case '<':
				w.b.WriteString("&lt;")
			case '>':
				w.b.WriteString("&gt;")
			case '&':
				w.b.WriteString("&amp;")
			case '\n':
				w.b.WriteString("&#xA;")
			default:
				w.b.WriteByte(c)
			}
		}
		w.b.WriteByte('"')
	}
}

func (w *xmlWriter) open(name string, as ...xmlAttr) {
	w.indent()
	w.b.WriteString("<" + name)
	w.attrs(as)
	w.b.WriteString(">\n")
	w.pending = append(w.pending, name)
}

func (w *xmlWriter) close() {
	n := w.pending[len(w.pending)-1]
	w.pending = w.pending[:len(w.pending)-1]
	w.indent()
	w.b.WriteString("</" + n + ">\n")
}

func (w *xmlWriter) empty(name string, as ...xmlAttr) {
	w.indent()
	w.b.WriteString("<" + name)
	w.attrs(as)
	w.b.WriteString(" />\n")
}

// ToXML renders v as builtins.toXML / --xml do; context collects string
// contexts.
func (ev *Evaluator) ToXML(v Value, strict, location bool) (string, *Context, error) {
	w := &xmlWriter{}
	w.b.WriteString("<?xml version='1.0' encoding='utf-8'?>\n")
	w.open("expr")
	var cb ctxBuilder
	drvs := map[string]bool{}
	if err := ev.toXML(w, v, strict, location, &cb, drvs, 0); err != nil {
		return "", nil, err
	}
	w.close()
	return w.b.String(), cb.c, nil
}

func (ev *Evaluator) posXML(p Pos) []xmlAttr {
	pos := ev.fset.Position(p)
	var out []xmlAttr
	if pos.Filename != "" && !strings.HasPrefix(pos.Filename, "«") {
		out = append(out, xmlAttr{"path", pos.Filename})
	}
	return append(out, xmlAttr{"line", strconv.Itoa(pos.Line)}, xmlAttr{"column", strconv.Itoa(pos.Column)})
}

func (ev *Evaluator) toXML(w *xmlWriter, v Value, strict, location bool, cb *ctxBuilder, drvs map[string]bool, p Pos) error {
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
	} else if v.IsThunk() {
		if t := v.thunk(); t.state() == thDone {
			v = t.val()
		} else {
			w.empty("unevaluated")
			return nil
		}
	}
	showAttrs := func(a *Attrs) error {
		for _, at := range ev.lexOrder(a) {
			as := []xmlAttr{{"name", ev.syms.name(at.Name)}}
			if location && at.Pos != 0 {
				as = append(as, ev.posXML(Pos(at.Pos))...)
			}
			w.open("attr", as...)
			if err := ev.toXML(w, at.Val, strict, location, cb, drvs, Pos(at.Pos)); err != nil {
				return err
			}
			w.close()
		}
		return nil
	}
	switch v.Kind() {
	case KInt:
		w.empty("int", xmlAttr{"value", strconv.FormatInt(v.IntV(), 10)})
	case KBool:
		s := "false"
		if v.BoolV() {
			s = "true"
		}
		w.empty("bool", xmlAttr{"value", s})
	case KString:
		cb.add(v.Ctx())
		w.empty("string", xmlAttr{"value", v.Str()})
	case KPath:
		w.empty("path", xmlAttr{"value", v.Str()})
	case KNull:
		w.empty("null")
	case KFloat:
		w.empty("float", xmlAttr{"value", formatFloat(v.FloatV())})
	case KAttrs:
		a := v.AttrsV()
		isDrv, err := ev.isDerivation(v)
		if err != nil {
			return err
		}
		if isDrv {
			var as []xmlAttr
			drvPath := ""
			for _, k := range []Sym{symDrvPath, symOutPath} {
				if at, ok := a.Get(k); ok {
					x := at.Val
					if strict {
						if x, err = ev.force(x, Pos(at.Pos)); err != nil {
							return err
						}
					} else if x.IsThunk() && x.thunk().state() == thDone {
						x = x.thunk().val()
					}
					if x.Kind() == KString {
						as = append(as, xmlAttr{ev.syms.name(k), x.Str()})
						if k == symDrvPath {
							drvPath = x.Str()
						}
					}
				}
			}
			w.open("derivation", as...)
			if drvPath != "" && !drvs[drvPath] {
				drvs[drvPath] = true
				if err := showAttrs(a); err != nil {
					return err
				}
			} else {
				w.empty("repeated")
			}
			w.close()
		} else {
			w.open("attrs")
			if err := showAttrs(a); err != nil {
				return err
			}
			w.close()
		}
	case KList:
		w.open("list")
		for _, x := range v.ListV() {
			if err := ev.toXML(w, x, strict, location, cb, drvs, p); err != nil {
				return err
			}
		}
		w.close()
	case KLambda:
		l := ev.lambdas[v.lambdaID()]
		var as []xmlAttr
		if location {
			as = ev.posXML(l.pos)
		}
		w.open("function", as...)
		if l.formals != nil {
			var pa []xmlAttr
			if l.hasArg {
				pa = append(pa, xmlAttr{"name", ev.syms.name(l.arg)})
			}
			if l.ellipsis {
				pa = append(pa, xmlAttr{"ellipsis", "1"})
			}
			w.open("attrspat", pa...)
			names := make([]string, len(l.formals))
			for i, f := range l.formals {
				names[i] = ev.syms.name(f.name)
			}
			sort.Strings(names)
			for _, n := range names {
				w.empty("attr", xmlAttr{"name", n})
			}
			w.close()
		} else {
			w.empty("varpat", xmlAttr{"name", ev.syms.name(l.arg)})
		}
		w.close()
	default:
		w.empty("unevaluated")
	}
	return nil
}

var _ = fmt.Sprint

// printIdentifier is CppNix's printIdentifier (how symbols are streamed).
func printIdentifier(s string) string {
	if s == "" {
		return `""`
	}
	if isReservedKeyword(s) {
		return `"` + s + `"`
	}
	c := s[0]
	if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
		var b strings.Builder
		quoteString(&b, s, -1)
		return b.String()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '\'' || c == '-') {
			var b strings.Builder
			quoteString(&b, s, -1)
			return b.String()
		}
	}
	return s
}

// symStr is a symbol as CppNix streams it.
func (ev *Evaluator) symStr(s Sym) string { return printIdentifier(ev.syms.name(s)) }

// writeScalar prints ints, floats, Booleans, strings, paths and null as
// both printers do and reports whether v was one of them.
func writeScalar(b *strings.Builder, v Value, maxStr int) bool {
	switch v.Kind() {
	case KInt:
		b.WriteString(strconv.FormatInt(v.IntV(), 10))
	case KFloat:
		b.WriteString(formatFloat(v.FloatV()))
	case KBool:
		if v.BoolV() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case KString:
		quoteString(b, v.Str(), maxStr)
	case KPath:
		b.WriteString(v.Str())
	case KNull:
		b.WriteString("null")
	default:
		return false
	}
	return true
}
