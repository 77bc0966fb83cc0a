package json

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Object is a decoded JSON object. Keys keep the position of their first
// occurrence; a repeated key keeps its last value, as in Nix.
type Object struct {
	Keys   []string
	Values []any
}

// SyntaxError is input that nlohmann::json rejects. Its text is
// nlohmann's exception message, which Nix prints as is, e.g.
// "[json.exception.parse_error.101] parse error at line 1, column 4:
// syntax error while parsing value - invalid literal; last read: 'tru'".
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return e.Msg }

// Decode parses a JSON text as builtins.fromJSON does and returns a tree of
// nil, bool, int64, float64, string, []any and *Object.
//
// Numbers without fraction or exponent are integers; a non-negative one
// above the int64 range is an error ("unsigned json number ... outside of
// Nix integer range") while a negative one out of range, and any larger
// number, becomes a float. Strings and keys may not contain NUL. The first
// error in document order wins, as with Nix's SAX parser.
func Decode(data string) (any, error) {
	d := &decoder{lexer: lexer{src: data}}
	return d.parse()
}

// Decode28 is Decode as Nix 2.8 behaved: a non-negative integer above the
// int64 range wraps around to a negative one, a NUL byte ends a string
// value (it was copied as a C string), and a key keeps its NUL bytes.
// Syntax errors are the same.
func Decode28(data string) (any, error) {
	d := &decoder{lexer: lexer{src: data}, nix28: true}
	return d.parse()
}

type token uint8

const (
	tUninitialized token = iota
	tTrue
	tFalse
	tNull
	tString
	tUnsigned
	tInteger
	tFloat
	tBeginArray
	tBeginObject
	tEndArray
	tEndObject
	tNameSeparator
	tValueSeparator
	tParseError
	tEndOfInput
	tLiteralOrValue
)

var tokenNames = [...]string{
	tUninitialized:  "<uninitialized>",
	tTrue:           "true literal",
	tFalse:          "false literal",
	tNull:           "null literal",
	tString:         "string literal",
	tUnsigned:       "number literal",
	tInteger:        "number literal",
	tFloat:          "number literal",
	tBeginArray:     "'['",
	tBeginObject:    "'{'",
	tEndArray:       "']'",
	tEndObject:      "'}'",
	tNameSeparator:  "':'",
	tValueSeparator: "','",
	tParseError:     "<parse error>",
	tEndOfInput:     "end of input",
	tLiteralOrValue: "'[', '{', or a literal",
}

const eof = -1

// lexer mirrors nlohmann's lexer: get/unget with position tracking, and a
// token_string of everything read since the last number or string began,
// which error messages quote.
type lexer struct {
	src       string
	pos       int // next byte to read
	current   int
	nextUnget bool

	charsTotal, charsLine, lines int
	tokenString                  []byte

	buf      []byte // decoded string or number text
	errMsg   string
	unsigned uint64
	integer  int64
	float    float64
}

func (l *lexer) get() int {
	l.charsTotal++
	l.charsLine++
	if l.nextUnget {
		l.nextUnget = false
	} else if l.pos < len(l.src) {
		l.current = int(l.src[l.pos])
		l.pos++
	} else {
		l.current = eof
	}
	if l.current != eof {
		l.tokenString = append(l.tokenString, byte(l.current))
	}
	if l.current == '\n' {
		l.lines++
		l.charsLine = 0
	}
	return l.current
}

func (l *lexer) unget() {
	l.nextUnget = true
	l.charsTotal--
	if l.charsLine == 0 {
		if l.lines > 0 {
			l.lines--
		}
	} else {
		l.charsLine--
	}
	if l.current != eof {
		l.tokenString = l.tokenString[:len(l.tokenString)-1]
	}
}

func (l *lexer) reset() {
	l.buf = l.buf[:0]
	l.tokenString = append(l.tokenString[:0], byte(l.current))
}

func (l *lexer) scan() token {
	if l.charsTotal == 0 && !l.skipBOM() {
		l.errMsg = "invalid BOM; must be 0xEF 0xBB 0xBF if given"
		return tParseError
	}
	for {
		l.get()
		if c := l.current; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			break
		}
	}
	switch l.current {
	case '[':
		return tBeginArray
	case ']':
		return tEndArray
	case '{':
		return tBeginObject
	case '}':
		return tEndObject
	case ':':
		return tNameSeparator
	case ',':
		return tValueSeparator
	case 't':
		return l.scanLiteral("true", tTrue)
	case 'f':
		return l.scanLiteral("false", tFalse)
	case 'n':
		return l.scanLiteral("null", tNull)
	case '"':
		return l.scanString()
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return l.scanNumber()
	case 0, eof:
		return tEndOfInput
	}
	l.errMsg = "invalid literal"
	return tParseError
}

func (l *lexer) skipBOM() bool {
	if l.get() == 0xEF {
		return l.get() == 0xBB && l.get() == 0xBF
	}
	l.unget()
	return true
}

func (l *lexer) scanLiteral(lit string, t token) token {
	for i := 1; i < len(lit); i++ {
		if l.get() != int(lit[i]) {
			l.errMsg = "invalid literal"
			return tParseError
		}
	}
	return t
}

var controlNames = [32]string{"NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
	"DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US"}

func (l *lexer) scanString() token {
	l.reset()
	for {
		c := l.get()
		switch {
		case c == eof:
			l.errMsg = "invalid string: missing closing quote"
			return tParseError
		case c == '"':
			return tString
		case c == '\\':
			if !l.scanEscape() {
				return tParseError
			}
		case c < 0x20:
			l.errMsg = fmt.Sprintf("invalid string: control character U+%04X (%s) must be escaped to \\u%04X", c, controlNames[c], c)
			switch c {
			case '\b':
				l.errMsg += " or \\b"
			case '\t':
				l.errMsg += " or \\t"
			case '\n':
				l.errMsg += " or \\n"
			case '\f':
				l.errMsg += " or \\f"
			case '\r':
				l.errMsg += " or \\r"
			}
			return tParseError
		case c < 0x80:
			l.buf = append(l.buf, byte(c))
		case 0xC2 <= c && c <= 0xDF:
			if !l.nextInRange(0x80, 0xBF) {
				return tParseError
			}
		case c == 0xE0:
			if !l.nextInRange(0xA0, 0xBF, 0x80, 0xBF) {
				return tParseError
			}
		case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
			if !l.nextInRange(0x80, 0xBF, 0x80, 0xBF) {
				return tParseError
			}
		case c == 0xED:
			if !l.nextInRange(0x80, 0x9F, 0x80, 0xBF) {
				return tParseError
			}
		case c == 0xF0:
			if !l.nextInRange(0x90, 0xBF, 0x80, 0xBF, 0x80, 0xBF) {
				return tParseError
			}
		case 0xF1 <= c && c <= 0xF3:
			if !l.nextInRange(0x80, 0xBF, 0x80, 0xBF, 0x80, 0xBF) {
				return tParseError
			}
		case c == 0xF4:
			if !l.nextInRange(0x80, 0x8F, 0x80, 0xBF, 0x80, 0xBF) {
				return tParseError
			}
		default:
			l.errMsg = "invalid string: ill-formed UTF-8 byte"
			return tParseError
		}
	}
}

func (l *lexer) nextInRange(ranges ...int) bool {
	l.buf = append(l.buf, byte(l.current))
	for i := 0; i < len(ranges); i += 2 {
		c := l.get()
		if c < ranges[i] || c > ranges[i+1] {
			l.errMsg = "invalid string: ill-formed UTF-8 byte"
			return false
		}
		l.buf = append(l.buf, byte(c))
	}
	return true
}

func (l *lexer) scanEscape() bool {
	switch l.get() {
	case '"':
		l.buf = append(l.buf, '"')
	case '\\':
		l.buf = append(l.buf, '\\')
	case '/':
		l.buf = append(l.buf, '/')
	case 'b':
		l.buf = append(l.buf, '\b')
	case 'f':
		l.buf = append(l.buf, '\f')
	case 'n':
		l.buf = append(l.buf, '\n')
	case 'r':
		l.buf = append(l.buf, '\r')
	case 't':
		l.buf = append(l.buf, '\t')
	case 'u':
		cp := l.codepoint()
		if cp < 0 {
			l.errMsg = "invalid string: '\\u' must be followed by 4 hex digits"
			return false
		}
		switch {
		case 0xD800 <= cp && cp <= 0xDBFF:
			if l.get() != '\\' || l.get() != 'u' {
				l.errMsg = "invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"
				return false
			}
			cp2 := l.codepoint()
			if cp2 < 0 {
				l.errMsg = "invalid string: '\\u' must be followed by 4 hex digits"
				return false
			}
			if cp2 < 0xDC00 || cp2 > 0xDFFF {
				l.errMsg = "invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"
				return false
			}
			cp = cp<<10 + cp2 - 0x35FDC00
		case 0xDC00 <= cp && cp <= 0xDFFF:
			l.errMsg = "invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF"
			return false
		}
		l.appendCodepoint(cp)
	default:
		l.errMsg = "invalid string: forbidden character after backslash"
		return false
	}
	return true
}

func (l *lexer) codepoint() int {
	cp := 0
	for i := 0; i < 4; i++ {
		c := l.get()
		switch {
		case '0' <= c && c <= '9':
			cp = cp<<4 | (c - '0')
		case 'A' <= c && c <= 'F':
			cp = cp<<4 | (c - 'A' + 10)
		case 'a' <= c && c <= 'f':
			cp = cp<<4 | (c - 'a' + 10)
		default:
			return -1
		}
	}
	return cp
}

func (l *lexer) appendCodepoint(cp int) {
	switch {
	case cp < 0x80:
		l.buf = append(l.buf, byte(cp))
	case cp <= 0x7FF:
		l.buf = append(l.buf, byte(0xC0|cp>>6), byte(0x80|cp&0x3F))
	case cp <= 0xFFFF:
		l.buf = append(l.buf, byte(0xE0|cp>>12), byte(0x80|cp>>6&0x3F), byte(0x80|cp&0x3F))
	default:
		l.buf = append(l.buf, byte(0xF0|cp>>18), byte(0x80|cp>>12&0x3F), byte(0x80|cp>>6&0x3F), byte(0x80|cp&0x3F))
	}
}

func isDigit(c int) bool { return '0' <= c && c <= '9' }

func (l *lexer) scanNumber() token {
	l.reset()
	kind := tUnsigned
	c := l.current
	l.buf = append(l.buf, byte(c))
	if c == '-' {
		kind = tInteger
		c = l.get()
		if !isDigit(c) {
			l.errMsg = "invalid number; expected digit after '-'"
			return tParseError
		}
		l.buf = append(l.buf, byte(c))
	}
	if c != '0' {
		for c = l.get(); isDigit(c); c = l.get() {
			l.buf = append(l.buf, byte(c))
		}
	} else {
		c = l.get()
	}
	if c == '.' {
		kind = tFloat
		l.buf = append(l.buf, '.')
		c = l.get()
		if !isDigit(c) {
			l.errMsg = "invalid number; expected digit after '.'"
			return tParseError
		}
		for ; isDigit(c); c = l.get() {
			l.buf = append(l.buf, byte(c))
		}
	}
	if c == 'e' || c == 'E' {
		kind = tFloat
		l.buf = append(l.buf, byte(c))
		c = l.get()
		if c == '+' || c == '-' {
			l.buf = append(l.buf, byte(c))
			c = l.get()
			if !isDigit(c) {
				l.errMsg = "invalid number; expected digit after exponent sign"
				return tParseError
			}
		} else if !isDigit(c) {
			l.errMsg = "invalid number; expected '+', '-', or digit after exponent"
			return tParseError
		}
		for ; isDigit(c); c = l.get() {
			l.buf = append(l.buf, byte(c))
		}
	}
	l.unget()
	text := string(l.buf)
	switch kind {
	case tUnsigned:
		if v, err := strconv.ParseUint(text, 10, 64); err == nil {
			l.unsigned = v
			return tUnsigned
		}
	case tInteger:
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			l.integer = v
			return tInteger
		}
	}
	l.float, _ = strconv.ParseFloat(text, 64) // ±Inf on overflow, as strtod
	return tFloat
}

// tokenText is get_token_string: the bytes read for the current token with
// control characters shown as <U+XXXX>.
func (l *lexer) tokenText() string {
	var b strings.Builder
	for _, c := range l.tokenString {
		if c <= 0x1F {
			fmt.Fprintf(&b, "<U+%04X>", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

type decoder struct {
	lexer
	last  token
	nix28 bool
}

func (d *decoder) next() token {
	d.last = d.scan()
	return d.last
}

func (d *decoder) syntaxError(expected token, context string) error {
	msg := "syntax error "
	if context != "" {
		msg += "while parsing " + context + " "
	}
	msg += "- "
	if d.last == tParseError {
		msg += d.errMsg + "; last read: '" + d.tokenText() + "'"
	} else {
		msg += "unexpected " + tokenNames[d.last]
	}
	if expected != tUninitialized {
		msg += "; expected " + tokenNames[expected]
	}
	return &SyntaxError{fmt.Sprintf("[json.exception.parse_error.101] parse error at line %d, column %d: %s",
		d.lines+1, d.charsLine, msg)}
}

func nulError(s string) error {
	return fmt.Errorf("input string '%s' cannot be represented as Nix string because it contains null bytes",
		strings.ReplaceAll(s, "\x00", "␀"))
}

// container is an array or object under construction.
type container struct {
	isArray bool
	list    []any
	obj     *Object
	index   map[string]int
	key     string
}

func (c *container) add(v any) {
	if c.isArray {
		c.list = append(c.list, v)
		return
	}
	if i, ok := c.index[c.key]; ok {
		c.obj.Values[i] = v
		return
	}
	c.index[c.key] = len(c.obj.Keys)
	c.obj.Keys = append(c.obj.Keys, c.key)
	c.obj.Values = append(c.obj.Values, v)
}

func (c *container) value() any {
	if c.isArray {
		if c.list == nil {
			return []any{}
		}
		return c.list
	}
	return c.obj
}

// parse is nlohmann's sax_parse_internal followed by the strict check for
// end of input.
func (d *decoder) parse() (any, error) {
	var stack []*container
	var result any
	// emit delivers a finished value to the enclosing container.
	emit := func(v any) {
		if len(stack) == 0 {
			result = v
		} else {
			stack[len(stack)-1].add(v)
		}
	}
	key := func() error {
		s := string(d.buf)
		if !d.nix28 && strings.IndexByte(s, 0) >= 0 {
			return nulError(s)
		}
		stack[len(stack)-1].key = s
		return nil
	}
	d.next()
	skip := false
	for {
		if !skip {
			switch d.last {
			case tBeginObject:
				stack = append(stack, &container{obj: &Object{}, index: map[string]int{}})
				if d.next() == tEndObject {
					c := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					emit(c.value())
					break
				}
				if d.last != tString {
					return nil, d.syntaxError(tString, "object key")
				}
				if err := key(); err != nil {
					return nil, err
				}
				if d.next() != tNameSeparator {
					return nil, d.syntaxError(tNameSeparator, "object separator")
				}
				d.next()
				continue
			case tBeginArray:
				stack = append(stack, &container{isArray: true})
				if d.next() == tEndArray {
					c := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					emit(c.value())
					break
				}
				continue
			case tFloat:
				if math.IsInf(d.float, 0) {
					return nil, &SyntaxError{"[json.exception.out_of_range.406] number overflow parsing '" + d.tokenText() + "'"}
				}
				emit(d.float)
			case tFalse:
				emit(false)
			case tTrue:
				emit(true)
			case tNull:
				emit(nil)
			case tInteger:
				emit(d.integer)
			case tUnsigned:
				if d.unsigned > math.MaxInt64 && !d.nix28 {
					return nil, fmt.Errorf("unsigned json number %d outside of Nix integer range", d.unsigned)
				}
				emit(int64(d.unsigned))
			case tString:
				s := string(d.buf)
				if i := strings.IndexByte(s, 0); i >= 0 {
					if !d.nix28 {
						return nil, nulError(s)
					}
					s = s[:i]
				}
				emit(s)
			case tParseError:
				return nil, d.syntaxError(tUninitialized, "value")
			default:
				return nil, d.syntaxError(tLiteralOrValue, "value")
			}
		}
		skip = false
		if len(stack) == 0 {
			break
		}
		top := stack[len(stack)-1]
		if top.isArray {
			if d.next() == tValueSeparator {
				d.next()
				continue
			}
			if d.last == tEndArray {
				stack = stack[:len(stack)-1]
				emit(top.value())
				skip = true
				continue
			}
			return nil, d.syntaxError(tEndArray, "array")
		}
		if d.next() == tValueSeparator {
			if d.next() != tString {
				return nil, d.syntaxError(tString, "object key")
			}
			if err := key(); err != nil {
				return nil, err
			}
			if d.next() != tNameSeparator {
				return nil, d.syntaxError(tNameSeparator, "object separator")
			}
			d.next()
			continue
		}
		if d.last == tEndObject {
			stack = stack[:len(stack)-1]
			emit(top.value())
			skip = true
			continue
		}
		return nil, d.syntaxError(tEndObject, "object")
	}
	if d.next() != tEndOfInput {
		return nil, d.syntaxError(tEndOfInput, "value")
	}
	return result, nil
}
