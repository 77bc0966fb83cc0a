// Package toml decodes TOML 1.0 for builtins.fromTOML, following what
// current Nix does with toml11 4.
//
// Decode returns a tree of bool, int64, float64, string, []any, *Object and
// Datetime. Nix turns a Datetime into an error ("Dates and times are not
// supported") unless the parse-toml-timestamps experimental feature is on,
// and then into { _type = "timestamp"; value = Datetime.Text; }; the text is
// toml11's normalised form: an upper-case "T", seconds always present, and a
// fraction of 0, 3, 6 or 9 digits.
//
// Error texts are what Nix prints after "while parsing TOML: ". Syntax
// errors follow toml11's layout:
//
//	[error] toml::parse_dec_integer: too large integer: current max digits = 2^63
//	 --> fromTOML
//	   |
//	 1 | attr = 9223372036854775808
//	   |                           ^-- must be < 2^63
//
// The integer-range messages are toml11's; other titles are in toml11's
// style but not always its words.
package toml

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Object is a TOML table. Nix sorts attributes, so key order is only the
// order of first definition.
type Object struct {
	Keys   []string
	Values []any
}

// Datetime is a TOML offset date-time, local date-time, local date or local
// time, as toml11 prints it after Nix's normalisation.
type Datetime struct {
	Text string
}

// Error is a TOML document Nix rejects; its text follows "while parsing
// TOML: " in Nix's message.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Decode parses a TOML document.
func Decode(doc string) (any, error) {
	return decode(&parser{src: doc})
}

// Decode28 is Decode as Nix 2.8 (toml11 3) behaved on the points where it
// differs: out-of-range integers and floats clamp to the largest value of
// their sign instead of failing (a binary integer keeps its low 64 bits),
// and a table created by an [[array.header]] cannot be defined later by a
// [header]. Nix 2.8 prefixes errors with "while parsing a TOML string: ",
// and toml11 3 words them differently from what this package prints.
func Decode28(doc string) (any, error) {
	return decode(&parser{src: doc, nix28: true})
}

func decode(p *parser) (any, error) {
	root := newTable(kindExplicit)
	if err := p.document(root); err != nil {
		return nil, err
	}
	v := root.export()
	if err := checkNUL(v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkNUL is Nix's forceNoNullByte on every key and string.
func checkNUL(v any) error {
	switch v := v.(type) {
	case string:
		return nulError(v)
	case []any:
		for _, e := range v {
			if err := checkNUL(e); err != nil {
				return err
			}
		}
	case *Object:
		for i, k := range v.Keys {
			if err := nulError(k); err != nil {
				return err
			}
			if err := checkNUL(v.Values[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func nulError(s string) error {
	if strings.IndexByte(s, 0) < 0 {
		return nil
	}
	return &Error{fmt.Sprintf("error: input string '%s' cannot be represented as Nix string because it contains null bytes",
		strings.ReplaceAll(s, "\x00", "␀"))}
}

// Table kinds, for TOML's rules on defining tables once.
type tableKind uint8

const (
	kindImplicit tableKind = iota // created as the parent of a [header]
	kindExplicit                  // defined by a [header] (or the root)
	kindDotted                    // created by a dotted key
	kindInline                    // an inline table: closed
)

type table struct {
	kind  tableKind
	byAOT bool // implicit, created by an [[array.header]] (matters for Decode28)
	keys  []string
	vals  map[string]any // *table, *array or a scalar
	order map[string]int
}

// array is a TOML array; aot marks an array of tables made by [[header]].
type array struct {
	aot   bool
	elems []any
}

func newTable(k tableKind) *table {
	return &table{kind: k, vals: map[string]any{}, order: map[string]int{}}
}

func (t *table) set(k string, v any) {
	if _, ok := t.vals[k]; !ok {
		t.order[k] = len(t.keys)
		t.keys = append(t.keys, k)
	}
	t.vals[k] = v
}

func (t *table) export() *Object {
	o := &Object{Keys: append([]string(nil), t.keys...), Values: make([]any, len(t.keys))}
	for i, k := range t.keys {
		o.Values[i] = exportValue(t.vals[k])
	}
	return o
}

func exportValue(v any) any {
	switch v := v.(type) {
	case *table:
		return v.export()
	case *array:
		out := make([]any, len(v.elems))
		for i, e := range v.elems {
			out[i] = exportValue(e)
		}
		return out
	}
	return v
}

type parser struct {
	src   string
	pos   int
	nix28 bool
}

// fail reports an error at byte offset at, in toml11's layout.
func (p *parser) fail(at int, title, hint string) error {
	if at > len(p.src) {
		at = len(p.src)
	}
	lineStart := strings.LastIndexByte(p.src[:at], '\n') + 1
	lineEnd := strings.IndexByte(p.src[at:], '\n')
	if lineEnd < 0 {
		lineEnd = len(p.src)
	} else {
		lineEnd += at
	}
	line := strings.TrimSuffix(p.src[lineStart:lineEnd], "\r")
	lineNo := strings.Count(p.src[:lineStart], "\n") + 1
	num := strconv.Itoa(lineNo)
	pad := strings.Repeat(" ", len(num)+1)
	var shown strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= 0x21 && c <= 0x7e || c == ' ' {
			shown.WriteByte(c)
		} else {
			fmt.Fprintf(&shown, "<0x%02x>", c)
		}
	}
	col := at - lineStart
	return &Error{fmt.Sprintf("[error] %s\n --> fromTOML\n%s |\n %s | %s\n%s | %s^-- %s\n",
		title, pad, num, shown.String(), pad, strings.Repeat(" ", col), hint)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) skipWS() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// skipComment skips a comment, rejecting control characters in it.
func (p *parser) skipComment() error {
	if p.peek() != '#' {
		return nil
	}
	for p.pos < len(p.src) && p.src[p.pos] != '\n' {
		c := p.src[p.pos]
		if c == '\r' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n' {
			break
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return p.fail(p.pos, "toml::parse_comment_line: comment has an invalid character", "here")
		}
		p.pos++
	}
	return nil
}

// newline consumes LF or CRLF.
func (p *parser) newline() bool {
	if p.peek() == '\n' {
		p.pos++
		return true
	}
	if strings.HasPrefix(p.src[p.pos:], "\r\n") {
		p.pos += 2
		return true
	}
	return false
}

// endOfLine expects optional whitespace and comment, then a newline or EOF.
func (p *parser) endOfLine(what string) error {
	p.skipWS()
	if err := p.skipComment(); err != nil {
		return err
	}
	if p.eof() || p.newline() {
		return nil
	}
	return p.fail(p.pos, "toml::parse_"+what+": missing newline after "+strings.ReplaceAll(what, "_", " "), "expected newline, but got '"+string(p.src[p.pos])+"'.")
}

func (p *parser) document(root *table) error {
	if strings.HasPrefix(p.src, "\xef\xbb\xbf") {
		p.pos = 3
	}
	current := root
	for {
		p.skipWS()
		if err := p.skipComment(); err != nil {
			return err
		}
		if p.eof() {
			return nil
		}
		if p.newline() {
			continue
		}
		switch {
		case strings.HasPrefix(p.src[p.pos:], "[["):
			t, err := p.arrayTableHeader(root)
			if err != nil {
				return err
			}
			current = t
		case p.peek() == '[':
			t, err := p.tableHeader(root)
			if err != nil {
				return err
			}
			current = t
		default:
			if err := p.keyValue(current); err != nil {
				return err
			}
			if err := p.endOfLine("key_value_pair"); err != nil {
				return err
			}
		}
	}
}

type keyPart struct {
	name string
	at   int
}

func isBare(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// key parses a possibly dotted key.
func (p *parser) key() ([]keyPart, error) {
	var parts []keyPart
	for {
		p.skipWS()
		at := p.pos
		var name string
		switch c := p.peek(); {
		case c == '"':
			if strings.HasPrefix(p.src[p.pos:], `"""`) {
				return nil, p.fail(p.pos, "toml::parse_simple_key: multi-line strings are not allowed as keys", "here")
			}
			s, err := p.basicString()
			if err != nil {
				return nil, err
			}
			name = s
		case c == '\'':
			if strings.HasPrefix(p.src[p.pos:], `'''`) {
				return nil, p.fail(p.pos, "toml::parse_simple_key: multi-line strings are not allowed as keys", "here")
			}
			s, err := p.literalString()
			if err != nil {
				return nil, err
			}
			name = s
		case isBare(c):
			for p.pos < len(p.src) && isBare(p.src[p.pos]) {
				p.pos++
			}
			name = p.src[at:p.pos]
		default:
			return nil, p.fail(p.pos, "toml::parse_simple_key: invalid key: key must be like: `bare-key`, `\"basic key\"`, `'literal key'`", "here")
		}
		parts = append(parts, keyPart{name, at})
		p.skipWS()
		if p.peek() != '.' {
			return parts, nil
		}
		p.pos++
	}
}

func (p *parser) keyValue(t *table) error {
	keys, err := p.key()
	if err != nil {
		return err
	}
	p.skipWS()
	if p.peek() != '=' {
		return p.fail(p.pos, "toml::parse_key_value_pair: missing `=` after key", "expected `=`")
	}
	p.pos++
	p.skipWS()
	valAt := p.pos
	v, err := p.value()
	if err != nil {
		return err
	}
	return p.insertDotted(t, keys, v, valAt)
}

// insertDotted stores v under a dotted key inside t, creating dotted
// tables. It also fills inline tables while they are being parsed; their
// dotted sub-tables are closed when the inline table ends.
func (p *parser) insertDotted(t *table, keys []keyPart, v any, valAt int) error {
	for _, k := range keys[:len(keys)-1] {
		switch x := t.vals[k.name].(type) {
		case nil:
			n := newTable(kindDotted)
			t.set(k.name, n)
			t = n
		case *table:
			if x.kind == kindInline {
				return p.fail(k.at, "toml::insert_value: cannot add a key to an inline table", "inline table is immutable")
			}
			if x.kind != kindDotted {
				return p.fail(k.at, "toml::insert_value: cannot use dotted keys to extend a table defined by a header", "here")
			}
			t = x
		default:
			return p.fail(k.at, "toml::insert_value: key \""+k.name+"\" is already defined as a non-table value", "here")
		}
	}
	last := keys[len(keys)-1]
	if _, ok := t.vals[last.name]; ok {
		return p.fail(last.at, "toml::insert_value: value (\""+last.name+"\") already exists.", "here")
	}
	t.set(last.name, v)
	return nil
}

// walkHeader descends through the keys of a table header but the last,
// creating implicit tables and entering the last element of arrays of tables.
func (p *parser) walkHeader(root *table, keys []keyPart, aot bool) (*table, error) {
	t := root
	for _, k := range keys[:len(keys)-1] {
		switch x := t.vals[k.name].(type) {
		case nil:
			n := newTable(kindImplicit)
			n.byAOT = aot
			t.set(k.name, n)
			t = n
		case *table:
			if x.kind == kindInline {
				return nil, p.fail(k.at, "toml::insert_value: cannot add a table to an inline table", "inline table is immutable")
			}
			t = x
		case *array:
			if !x.aot || len(x.elems) == 0 {
				return nil, p.fail(k.at, "toml::insert_value: cannot add a table to a static array", "here")
			}
			t = x.elems[len(x.elems)-1].(*table)
		default:
			return nil, p.fail(k.at, "toml::insert_value: key \""+k.name+"\" is already defined as a non-table value", "here")
		}
	}
	return t, nil
}

func (p *parser) tableHeader(root *table) (*table, error) {
	p.pos++ // [
	keys, err := p.key()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.peek() != ']' {
		return nil, p.fail(p.pos, "toml::parse_table_key: missing closing bracket `]`", "expected `]`")
	}
	p.pos++
	if err := p.endOfLine("table_key"); err != nil {
		return nil, err
	}
	parent, err := p.walkHeader(root, keys, false)
	if err != nil {
		return nil, err
	}
	last := keys[len(keys)-1]
	switch x := parent.vals[last.name].(type) {
	case nil:
		n := newTable(kindExplicit)
		parent.set(last.name, n)
		return n, nil
	case *table:
		if x.kind == kindImplicit && !(p.nix28 && x.byAOT) {
			x.kind = kindExplicit
			return x, nil
		}
		return nil, p.fail(last.at, "toml::insert_value: table (\""+last.name+"\") already exists.", "here")
	default:
		return nil, p.fail(last.at, "toml::insert_value: value (\""+last.name+"\") already exists.", "here")
	}
}

func (p *parser) arrayTableHeader(root *table) (*table, error) {
	p.pos += 2 // [[
	keys, err := p.key()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if !strings.HasPrefix(p.src[p.pos:], "]]") {
		return nil, p.fail(p.pos, "toml::parse_array_table_key: missing closing brackets `]]`", "expected `]]`")
	}
	p.pos += 2
	if err := p.endOfLine("array_table_key"); err != nil {
		return nil, err
	}
	parent, err := p.walkHeader(root, keys, true)
	if err != nil {
		return nil, err
	}
	last := keys[len(keys)-1]
	n := newTable(kindExplicit)
	switch x := parent.vals[last.name].(type) {
	case nil:
		parent.set(last.name, &array{aot: true, elems: []any{n}})
	case *array:
		if !x.aot {
			return nil, p.fail(last.at, "toml::insert_value: cannot append to a static array", "here")
		}
		x.elems = append(x.elems, n)
	default:
		return nil, p.fail(last.at, "toml::insert_value: value (\""+last.name+"\") already exists and is not an array of tables.", "here")
	}
	return n, nil
}

func (p *parser) value() (any, error) {
	rest := p.src[p.pos:]
	switch c := p.peek(); {
	case c == '"' || c == '\'':
		return p.stringValue()
	case c == '[':
		return p.arrayValue()
	case c == '{':
		return p.inlineTable()
	case strings.HasPrefix(rest, "true") && !continuesBare(rest, 4):
		p.pos += 4
		return true, nil
	case strings.HasPrefix(rest, "false") && !continuesBare(rest, 5):
		p.pos += 5
		return false, nil
	case c == '+' || c == '-' || c == 'i' || c == 'n' || '0' <= c && c <= '9':
		return p.numberOrDate()
	}
	return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
}

func continuesBare(s string, n int) bool { return len(s) > n && isBare(s[n]) }

func (p *parser) arrayValue() (any, error) {
	start := p.pos
	p.pos++ // [
	arr := &array{elems: []any{}}
	for {
		if err := p.skipWSCommentsNewlines(); err != nil {
			return nil, err
		}
		if p.eof() {
			return nil, p.fail(start, "toml::parse_array: missing closing bracket `]`", "here")
		}
		if p.peek() == ']' {
			p.pos++
			return arr, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr.elems = append(arr.elems, v)
		if err := p.skipWSCommentsNewlines(); err != nil {
			return nil, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, p.fail(p.pos, "toml::parse_array: missing closing bracket `]`", "expected `,` or `]`")
		}
	}
}

func (p *parser) skipWSCommentsNewlines() error {
	for {
		p.skipWS()
		if err := p.skipComment(); err != nil {
			return err
		}
		if !p.newline() {
			return nil
		}
	}
}

func (p *parser) inlineTable() (any, error) {
	start := p.pos
	p.pos++ // {
	t := newTable(kindInline)
	p.skipWS()
	if p.peek() == '}' {
		p.pos++
		return t, nil
	}
	// Dotted keys inside an inline table create tables that are closed
	// together with it; mark them dotted while parsing, inline afterwards.
	for {
		keys, err := p.key()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.peek() != '=' {
			return nil, p.fail(p.pos, "toml::parse_key_value_pair: missing `=` after key", "expected `=`")
		}
		p.pos++
		p.skipWS()
		valAt := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if err := p.insertDotted(t, keys, v, valAt); err != nil {
			return nil, err
		}
		p.skipWS()
		switch p.peek() {
		case ',':
			p.pos++
			p.skipWS()
			if p.peek() == '}' {
				return nil, p.fail(p.pos, "toml::parse_inline_table: trailing comma is not allowed in an inline table", "here")
			}
		case '}':
			p.pos++
			closeInline(t)
			return t, nil
		default:
			return nil, p.fail(start, "toml::parse_inline_table: missing closing curly brace `}`", "here")
		}
	}
}

func closeInline(t *table) {
	t.kind = kindInline
	for _, v := range t.vals {
		if c, ok := v.(*table); ok && c.kind == kindDotted {
			closeInline(c)
		}
	}
}

// ---- strings

func (p *parser) stringValue() (any, error) {
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, `"""`), strings.HasPrefix(rest, `'''`):
		return p.mlString(rest[0])
	case rest[0] == '"':
		return p.basicString()
	default:
		return p.literalString()
	}
}

func badStringChar(c byte) bool { return c < 0x20 && c != '\t' || c == 0x7f }

func (p *parser) basicString() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.eof() || p.peek() == '\n' || p.peek() == '\r' {
			return "", p.fail(start, "toml::parse_basic_string: invalid string: basic string must be like: \"abc\"", "missing closing `\"`")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case badStringChar(c):
			return "", p.fail(p.pos, "toml::parse_basic_string: invalid string: control characters are not allowed", "here")
		default:
			if err := p.utf8Char(&b); err != nil {
				return "", err
			}
		}
	}
}

// utf8Char copies one UTF-8 encoded character, which must be valid.
func (p *parser) utf8Char(b *strings.Builder) error {
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return p.fail(p.pos, "toml::parse_utf8_codepoint: invalid UTF-8 sequence", "here")
	}
	b.WriteString(p.src[p.pos : p.pos+n])
	p.pos += n
	return nil
}

func (p *parser) escape(b *strings.Builder) error {
	at := p.pos
	p.pos++ // backslash
	if p.eof() {
		return p.fail(at, "toml::parse_escape_sequence: unknown escape sequence appeared", "here")
	}
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case '"':
		b.WriteByte('"')
	case '\\':
		b.WriteByte('\\')
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if p.pos+n > len(p.src) {
			return p.fail(at, "toml::parse_escape_sequence: invalid token found in UTF-8 codepoint", "here")
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
		if err != nil || strings.ContainsAny(p.src[p.pos:p.pos+n], "+-") {
			return p.fail(at, "toml::parse_escape_sequence: invalid token found in UTF-8 codepoint", "here")
		}
		if v > 0x10FFFF || 0xD800 <= v && v <= 0xDFFF {
			return p.fail(at, "toml::parse_utf8_codepoint: not a valid UTF-8 codepoint", "here")
		}
		p.pos += n
		b.WriteRune(rune(v))
	default:
		return p.fail(at, "toml::parse_escape_sequence: unknown escape sequence appeared", "here")
	}
	return nil
}

func (p *parser) literalString() (string, error) {
	start := p.pos
	p.pos++
	for {
		if p.eof() || p.peek() == '\n' || p.peek() == '\r' {
			return "", p.fail(start, "toml::parse_literal_string: invalid string: literal string must be like: 'abc'", "missing closing `'`")
		}
		c := p.src[p.pos]
		if c == '\'' {
			s := p.src[start+1 : p.pos]
			p.pos++
			return s, nil
		}
		if badStringChar(c) {
			return "", p.fail(p.pos, "toml::parse_literal_string: invalid string: control characters are not allowed", "here")
		}
		var b strings.Builder
		if err := p.utf8Char(&b); err != nil {
			return "", err
		}
	}
}

// mlString parses a multi-line basic (quote '"') or literal (quote '\”)
// string.
func (p *parser) mlString(quote byte) (string, error) {
	basic := quote == '"'
	name, delim := "ml_literal_string", "'''"
	if basic {
		name, delim = "ml_basic_string", `"""`
	}
	start := p.pos
	p.pos += 3
	p.newline() // a newline right after the delimiter is trimmed
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.fail(start, "toml::parse_"+name+": invalid string: "+name+" must be like: "+delim+"abc"+delim, "missing closing `"+delim+"`")
		}
		if strings.HasPrefix(p.src[p.pos:], delim) {
			// Up to two more quotes belong to the content.
			n := 3
			for n < 5 && p.pos+n < len(p.src) && p.src[p.pos+n] == quote {
				n++
			}
			b.WriteString(strings.Repeat(string(quote), n-3))
			p.pos += n
			return b.String(), nil
		}
		c := p.src[p.pos]
		switch {
		case basic && c == '\\':
			if p.lineEndingBackslash() {
				continue
			}
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c == '\n':
			b.WriteByte('\n')
			p.pos++
		case c == '\r' && strings.HasPrefix(p.src[p.pos:], "\r\n"):
			b.WriteString("\r\n")
			p.pos += 2
		case badStringChar(c):
			return "", p.fail(p.pos, "toml::parse_"+name+": invalid string: control characters are not allowed", "here")
		default:
			if err := p.utf8Char(&b); err != nil {
				return "", err
			}
		}
	}
}

// lineEndingBackslash skips a backslash that ends a line, with the
// whitespace and newlines after it, and reports whether it did.
func (p *parser) lineEndingBackslash() bool {
	q := p.pos + 1
	for q < len(p.src) && (p.src[q] == ' ' || p.src[q] == '\t') {
		q++
	}
	if q == len(p.src) || p.src[q] != '\n' && !strings.HasPrefix(p.src[q:], "\r\n") {
		return false
	}
	p.pos = q
	for !p.eof() {
		if c := p.peek(); c == ' ' || c == '\t' {
			p.pos++
		} else if !p.newline() {
			break
		}
	}
	return true
}

// ---- numbers and dates

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits scans digits with single underscores between them, as TOML
// allows; it returns the digits without underscores.
func (p *parser) digits(valid func(byte) bool) (string, bool) {
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if valid(c) {
			b.WriteByte(c)
			p.pos++
			continue
		}
		if c == '_' && p.pos > start && valid(p.src[p.pos-1]) && p.pos+1 < len(p.src) && valid(p.src[p.pos+1]) {
			p.pos++
			continue
		}
		break
	}
	return b.String(), p.pos > start
}

func (p *parser) numberOrDate() (any, error) {
	start := p.pos
	rest := p.src[p.pos:]
	// date or time: starts with 4 digits and '-', or 2 digits and ':'
	if len(rest) >= 5 && isDigit(rest[0]) && isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[3]) && rest[4] == '-' {
		return p.datetime()
	}
	if len(rest) >= 3 && isDigit(rest[0]) && isDigit(rest[1]) && rest[2] == ':' {
		return p.localTime()
	}
	sign := ""
	if c := p.peek(); c == '+' || c == '-' {
		sign = string(c)
		p.pos++
	}
	rest = p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "inf"):
		p.pos += 3
		if continuesValue(p.src, p.pos) {
			return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
		}
		if sign == "-" {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case strings.HasPrefix(rest, "nan"):
		p.pos += 3
		if continuesValue(p.src, p.pos) {
			return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
		}
		if sign == "-" {
			return math.Copysign(math.NaN(), -1), nil
		}
		return math.NaN(), nil
	}
	if sign == "" && len(rest) >= 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'o' || rest[1] == 'b') {
		return p.prefixedInt(rest[1])
	}
	if len(rest) >= 2 && rest[0] == '0' && (isDigit(rest[1]) || rest[1] == '_') {
		return nil, p.fail(p.pos, "toml::parse_integer: leading zero in an decimal integer is not allowed", "leading zero")
	}
	intPart, ok := p.digits(isDigit)
	if !ok {
		return nil, p.fail(start, "toml::parse_value: unknown value appeared", "here")
	}
	isFloat := false
	text := sign + intPart
	if p.peek() == '.' {
		p.pos++
		frac, ok := p.digits(isDigit)
		if !ok {
			return nil, p.fail(p.pos, "toml::parse_floating: invalid floating: float must be like: +1.0, -2e-2, 3.141_592_653_589, inf, nan (6.0.0).", "here")
		}
		text += "." + frac
		isFloat = true
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		text += "e"
		if c := p.peek(); c == '+' || c == '-' {
			text += string(c)
			p.pos++
		}
		exp, ok := p.digits(isDigit)
		if !ok {
			return nil, p.fail(p.pos, "toml::parse_floating: invalid floating: float must be like: +1.0, -2e-2, 3.141_592_653_589, inf, nan (6.0.0).", "here")
		}
		text += exp
		isFloat = true
	}
	if continuesValue(p.src, p.pos) {
		return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && math.IsInf(f, 0) && p.nix28 {
			return math.Copysign(math.MaxFloat64, f), nil
		}
		if err != nil && math.IsInf(f, 0) {
			return nil, p.fail(p.pos, "toml::parse_floating: failed to read floating point value from stream", "here")
		}
		return f, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil && p.nix28 {
		return n, nil // ParseInt clamps like std::istream
	}
	if err != nil {
		return nil, p.fail(p.pos, "toml::parse_dec_integer: too large integer: current max digits = 2^63", "must be < 2^63")
	}
	return n, nil
}

// continuesValue reports whether a scalar runs on into characters that
// cannot follow it.
func continuesValue(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	switch s[i] {
	case ' ', '\t', '\n', '\r', ',', ']', '}', '#':
		return false
	}
	return true
}

func (p *parser) prefixedInt(kind byte) (any, error) {
	p.pos += 2
	var valid func(byte) bool
	base, name := 16, "hex"
	switch kind {
	case 'x':
		valid = func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	case 'o':
		valid = func(c byte) bool { return '0' <= c && c <= '7' }
		base, name = 8, "oct"
	default:
		valid = func(c byte) bool { return c == '0' || c == '1' }
		base, name = 2, "bin"
	}
	ds, ok := p.digits(valid)
	if !ok || continuesValue(p.src, p.pos) {
		return nil, p.fail(p.pos, "toml::parse_"+name+"_integer: invalid integer", "here")
	}
	n, err := strconv.ParseInt(ds, base, 64)
	if err != nil && p.nix28 {
		if base == 2 {
			u, _ := strconv.ParseUint(ds[max(0, len(ds)-64):], 2, 64)
			return int64(u), nil
		}
		return n, nil // clamped to the maximum
	}
	if err != nil {
		return nil, p.fail(p.pos, "toml::parse_"+name+"_integer: too large integer: current max value = 2^63", "must be < 2^63")
	}
	return n, nil
}

// fixed reads exactly n digits.
func (p *parser) fixed(n int) (int, bool) {
	if p.pos+n > len(p.src) {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		c := p.src[p.pos+i]
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	p.pos += n
	return v, true
}

func (p *parser) expect(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func (p *parser) datetime() (any, error) {
	start := p.pos
	y, _ := p.fixed(4)
	p.pos++ // -
	m, ok1 := p.fixed(2)
	ok2 := p.expect('-')
	d, ok3 := p.fixed(2)
	if !ok1 || !ok2 || !ok3 {
		return nil, p.fail(start, "toml::parse_local_date: invalid date: date must be like: 1979-05-27", "here")
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return nil, p.fail(start, "toml::parse_local_date: invalid date.", "here")
	}
	date := fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	// a time follows after T, t, or a space followed by a digit
	c := p.peek()
	if !(c == 'T' || c == 't' || c == ' ' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])) {
		if continuesValue(p.src, p.pos) {
			return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
		}
		return Datetime{date}, nil
	}
	p.pos++
	tm, err := p.timeOfDay()
	if err != nil {
		return nil, err
	}
	text := date + "T" + tm
	switch c := p.peek(); {
	case c == 'Z' || c == 'z':
		p.pos++
		text += "Z"
	case c == '+' || c == '-':
		at := p.pos
		p.pos++
		oh, ok1 := p.fixed(2)
		ok2 := p.expect(':')
		om, ok3 := p.fixed(2)
		if !ok1 || !ok2 || !ok3 || oh > 23 || om > 59 {
			return nil, p.fail(at, "toml::parse_offset_datetime: invalid offset: offset must be like: Z, +01:00, or -10:00", "here")
		}
		if oh == 0 && om == 0 {
			text += "Z"
		} else {
			text += fmt.Sprintf("%c%02d:%02d", c, oh, om)
		}
	}
	if continuesValue(p.src, p.pos) {
		return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
	}
	return Datetime{text}, nil
}

func (p *parser) localTime() (any, error) {
	tm, err := p.timeOfDay()
	if err != nil {
		return nil, err
	}
	if continuesValue(p.src, p.pos) {
		return nil, p.fail(p.pos, "toml::parse_value: unknown value appeared", "here")
	}
	return Datetime{tm}, nil
}

// timeOfDay parses HH:MM:SS[.fraction] and renders it as toml11 does after
// Nix's normalisation: the fraction is cut to nanoseconds and printed with
// 3, 6 or 9 digits, or not at all when it is zero.
func (p *parser) timeOfDay() (string, error) {
	start := p.pos
	h, ok1 := p.fixed(2)
	ok2 := p.expect(':')
	mi, ok3 := p.fixed(2)
	ok4 := p.expect(':')
	s, ok5 := p.fixed(2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return "", p.fail(start, "toml::parse_local_time: invalid time: time must be like: 07:32:00", "here")
	}
	if h > 23 || mi > 59 || s > 60 {
		return "", p.fail(start, "toml::parse_local_time: invalid time.", "here")
	}
	text := fmt.Sprintf("%02d:%02d:%02d", h, mi, s)
	if p.peek() == '.' {
		p.pos++
		fs := p.pos
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
		}
		frac := p.src[fs:p.pos]
		if frac == "" {
			return "", p.fail(p.pos, "toml::parse_local_time: invalid time: subsecond must be like: .123", "here")
		}
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		ms, us, ns := frac[0:3], frac[3:6], frac[6:9]
		switch {
		case ns != "000":
			text += "." + frac
		case us != "000":
			text += "." + frac[:6]
		case ms != "000":
			text += "." + frac[:3]
		}
	}
	return text, nil
}
