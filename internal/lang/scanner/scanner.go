// Package scanner is the lexer of the Nix language.
//
// It follows CppNix's flex lexer (src/libexpr/lexer.l) rule by rule,
// including its longest-match choices (`a/b` is a path, `x:x` a URI, `1e3`
// the integer 1 followed by the identifier e3) and its start-condition
// stack for strings, indented strings, interpolation and paths. It does no
// I/O: the caller passes the source bytes.
package scanner

import (
	"bytes"
	"math"
	"strconv"
	"unsafe"

	"cairn/internal/lang/token"
)

// ErrorHandler is called for lexical errors (invalid integer, path with a
// trailing slash, ...). Lexical errors are fatal in Nix; after one, Scan
// returns EOF.
type ErrorHandler func(pos token.Pos, msg string)

type mode uint8

const (
	modeInitial mode = iota // bottom of the stack; '}' does not pop it
	modeDefault
	modeString
	modeIndString
	modeInPath
	modeInPathSlash
)

// strKind says how to decode the text of a STR or IND_STR token.
type strKind uint8

const (
	strRaw      strKind = iota // text as is
	strEscaped                 // "..." part: backslash escapes, CR/CRLF -> LF
	strIndEsc                  // ''\x: escape of the text after "''"
	strConstant                // value held in constVal
)

// Tok is one scanned token: its kind, the byte offsets of its text and
// its value.
type Tok struct {
	Kind       token.Token
	HasIndent  bool    // IND_STR: ordinary text that takes part in indentation stripping
	esc        strKind // how to decode STR/IND_STR text
	Start, End int     // byte offsets of the token's text
	Int        int64   // INT value
	Float      float64 // FLOAT value
	constVal   string
}

// Scanner holds the lexer state. Use Init, then call Next repeatedly.
type Scanner struct {
	file   *token.File
	src    []byte
	err    ErrorHandler
	off    int
	stack  []mode
	t      *Tok
	last   int // start of the previous token
	failed bool

	// Offsets before which no path (noPath) or URI (noURI) can start:
	// a run of path or scheme characters not followed by what would
	// make it one. They keep lexing linear on inputs like "-----".
	noPath, noURI int

	// ErrorCount counts lexical errors reported.
	ErrorCount int
}

// Init prepares s to scan src, which belongs to file (file.Size() must be
// len(src); file may be nil). err may be nil.
func (s *Scanner) Init(file *token.File, src []byte, err ErrorHandler) {
	if file != nil && file.Size() != len(src) {
		panic("scanner: file size does not match source length")
	}
	*s = Scanner{file: file, src: src, err: err, stack: s.stack[:0]}
	s.stack = append(s.stack, modeInitial)
}

func (s *Scanner) top() mode   { return s.stack[len(s.stack)-1] }
func (s *Scanner) push(m mode) { s.stack = append(s.stack, m) }
func (s *Scanner) pop() {
	if len(s.stack) > 1 {
		s.stack = s.stack[:len(s.stack)-1]
	}
}
func (s *Scanner) replace(m mode) { s.stack[len(s.stack)-1] = m }

func (s *Scanner) pos(off int) token.Pos {
	if s.file == nil {
		return token.Pos(off + 1)
	}
	return s.file.Pos(off)
}

// Text returns the raw source text of t.
func (s *Scanner) Text(t *Tok) []byte { return s.src[t.Start:t.End] }

// StringValue returns the decoded value of a STR or IND_STR token. The
// result may share memory with the source (see TextString).
func (s *Scanner) StringValue(t *Tok) string {
	switch t.esc {
	case strEscaped:
		b := s.src[t.Start:t.End]
		if bytes.IndexByte(b, '\\') < 0 && bytes.IndexByte(b, '\r') < 0 {
			return s.TextString(t)
		}
		return unescape(b)
	case strIndEsc:
		return unescape(s.src[t.Start+2 : t.End])
	case strConstant:
		return t.constVal
	}
	return s.TextString(t)
}

// TextString returns the raw text of t as a string that shares memory
// with the source passed to Init, which therefore must not be modified
// while the string is in use.
func (s *Scanner) TextString(t *Tok) string {
	if t.End <= t.Start {
		return ""
	}
	return unsafe.String(&s.src[t.Start], t.End-t.Start)
}

// AppendStringValue appends the decoded value of a STR or IND_STR token
// to buf.
func (s *Scanner) AppendStringValue(buf []byte, t *Tok) []byte {
	switch t.esc {
	case strEscaped:
		return appendUnescape(buf, s.src[t.Start:t.End])
	case strIndEsc:
		return appendUnescape(buf, s.src[t.Start+2:t.End])
	case strConstant:
		return append(buf, t.constVal...)
	}
	return append(buf, s.src[t.Start:t.End]...)
}

// unescape decodes a "..." string part as CppNix's unescapeStr: \n \r \t,
// any other escaped byte stands for itself, and CR or CRLF become LF.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return string(b)
	}
	return string(appendUnescape(make([]byte, 0, len(b)), b))
}

func appendUnescape(buf, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		i++
		switch c {
		case '\\':
			if i < len(b) {
				c = b[i]
				i++
			} else {
				c = 0
			}
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			}
			buf = append(buf, c)
		case '\r':
			buf = append(buf, '\n')
			if i < len(b) && b[i] == '\n' {
				i++
			}
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

func (s *Scanner) error(off int, msg string) {
	s.ErrorCount++
	s.failed = true
	if s.err != nil {
		s.err(s.pos(off), msg)
	}
}

func (s *Scanner) at(i int) byte {
	if i < len(s.src) {
		return s.src[i]
	}
	return 0
}

// Character classes of lexer.l.
var (
	isPathChar [256]bool // [a-zA-Z0-9._\-+]
	isIDStart  [256]bool // [a-zA-Z_]
	isIDChar   [256]bool // [a-zA-Z0-9_'\-]
	isURIChar  [256]bool // [a-zA-Z0-9%/?:@&=+$,\-_.!~*']
	isSchemeCh [256]bool // [a-zA-Z0-9+\-.]
	isLetter   [256]bool
	isDigit    [256]bool
	// mayExtendID: after an identifier, a byte that may make the text at
	// its start a longer URI or path.
	mayExtendID [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		l := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		d := c >= '0' && c <= '9'
		isLetter[c] = l
		isDigit[c] = d
		isPathChar[c] = l || d || c == '.' || c == '_' || c == '-' || c == '+'
		isIDStart[c] = l || c == '_'
		isIDChar[c] = l || d || c == '_' || c == '\'' || c == '-'
		isURIChar[c] = l || d || bytes.IndexByte([]byte("%/?:@&=+$,-_.!~*'"), byte(c)) >= 0
		isSchemeCh[c] = l || d || c == '+' || c == '-' || c == '.'
		mayExtendID[c] = c == ':' || c == '/' || c == '.' || c == '+'
	}
}

// Next scans the next token into t.
func (s *Scanner) Next(t *Tok) {
	*t = Tok{}
	s.t = t
	if s.failed {
		t.Kind, t.Start, t.End = token.EOF, len(s.src), len(s.src)
		return
	}
	var k token.Token
	switch s.top() {
	case modeString:
		k = s.scanString()
	case modeIndString:
		k = s.scanIndString()
	case modeInPath, modeInPathSlash:
		k = s.scanInPath()
	default:
		k = s.scanDefault()
	}
	t.Kind = k
	s.last = t.Start
}

func (s *Scanner) tok(start, end int, k token.Token) token.Token {
	s.t.Start, s.t.End = start, end
	s.off = end
	return k
}

// pathLen returns the length of the longest match of
// {PATH_CHAR}*(\/{PATH_CHAR}+)+\/? at i, or 0.
func (s *Scanner) pathLen(i int) int {
	if i < s.noPath {
		return 0
	}
	src := s.src
	j := i
	for j < len(src) && isPathChar[src[j]] {
		j++
	}
	if j >= len(src) || src[j] != '/' || j+1 < len(src) && src[j+1] != '$' && !isPathChar[src[j+1]] {
		s.noPath = j
	}
	segs := 0
	for j+1 < len(src) && src[j] == '/' && isPathChar[src[j+1]] {
		j += 2
		for j < len(src) && isPathChar[src[j]] {
			j++
		}
		segs++
	}
	if segs == 0 {
		return 0
	}
	if j < len(src) && src[j] == '/' {
		j++
	}
	return j - i
}

// pathSegDollarLen returns the length of {PATH_SEG} when followed by
// "${" (the rule {PATH_SEG}\$\{), else 0.
func (s *Scanner) pathSegDollarLen(i int) int {
	if i < s.noPath {
		return 0
	}
	src := s.src
	j := i
	for j < len(src) && isPathChar[src[j]] {
		j++
	}
	if j+2 < len(src) && src[j] == '/' && src[j+1] == '$' && src[j+2] == '{' {
		return j + 1 - i
	}
	return 0
}

// uriLen returns the length of a URI match at i, or 0.
func (s *Scanner) uriLen(i int) int {
	src := s.src
	if i >= len(src) || !isLetter[src[i]] {
		return 0
	}
	if i < s.noURI {
		return 0
	}
	j := i + 1
	for j < len(src) && isSchemeCh[src[j]] {
		j++
	}
	if j >= len(src) || src[j] != ':' {
		s.noURI = j
		return 0
	}
	j++
	k := j
	for k < len(src) && isURIChar[src[k]] {
		k++
	}
	if k == j {
		return 0
	}
	return k - i
}

// floatLen returns the length of a FLOAT match at i, or 0:
// (([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)?
func (s *Scanner) floatLen(i int) int {
	src := s.src
	j := i
	switch {
	case j < len(src) && src[j] >= '1' && src[j] <= '9':
		for j < len(src) && isDigit[src[j]] {
			j++
		}
		if j >= len(src) || src[j] != '.' {
			return 0
		}
		j++
		for j < len(src) && isDigit[src[j]] {
			j++
		}
	default:
		if j < len(src) && src[j] == '0' {
			j++
		}
		if j+1 >= len(src) || src[j] != '.' || !isDigit[src[j+1]] {
			return 0
		}
		j++
		for j < len(src) && isDigit[src[j]] {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit[src[k]] {
			for k < len(src) && isDigit[src[k]] {
				k++
			}
			j = k
		}
	}
	return j - i
}

// skipSpace skips whitespace and comments; it returns false at EOF.
func (s *Scanner) skipSpace() {
	src := s.src
	i := s.off
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '#':
			i++
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
		case '/':
			if i+1 < len(src) && src[i+1] == '*' {
				// \/\*([^*]|\*+[^*/])*\*+\/ ; an unterminated comment is
				// not a comment (it lexes as '/' '*' ...).
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					s.off = i
					return
				}
				i += 2 + end + 2
				continue
			}
			s.off = i
			return
		default:
			s.off = i
			return
		}
	}
	s.off = i
}

func (s *Scanner) scanDefault() token.Token {
	s.skipSpace()
	src := s.src
	i := s.off
	if i >= len(src) {
		return s.tok(len(src), len(src), token.EOF)
	}
	c := src[i]
	switch {
	case isIDStart[c]:
		j := i + 1
		for j < len(src) && isIDChar[src[j]] {
			j++
		}
		n := j - i
		t := keyword(src[i:j])
		// A URI or path longer than the identifier needs ':', '/', '.' or
		// '+' right after it (the identifier characters other than '_'
		// and '\'' are scheme and path characters; those two end both).
		if j >= len(src) || !mayExtendID[src[j]] {
			return s.tok(i, j, t)
		}
		if isLetter[c] {
			if u := s.uriLen(i); u > n {
				return s.tok(i, i+u, token.URI)
			}
		}
		if p := s.pathLen(i); p > n {
			return s.path(i, p, token.PATH)
		}
		if p := s.pathSegDollarLen(i); p > 0 && p+2 > n {
			return s.path(i, p, token.PATH)
		}
		return s.tok(i, j, t)
	case isDigit[c]:
		j := i + 1
		for j < len(src) && isDigit[src[j]] {
			j++
		}
		n := j - i
		f := s.floatLen(i)
		p := s.pathLen(i)
		pd := s.pathSegDollarLen(i)
		if pd > 0 {
			pd += 2
		}
		switch {
		case p > n && p > f && p >= pd:
			return s.path(i, p, token.PATH)
		case pd > n && pd > f:
			return s.path(i, pd-2, token.PATH)
		case f > n:
			return s.float(i, i+f)
		}
		v, err := strconv.ParseInt(string(src[i:j]), 10, 64)
		if err != nil {
			s.error(i, "invalid integer '"+string(src[i:j])+"'")
			return s.tok(i, j, token.EOF)
		}
		s.t.Int = v
		return s.tok(i, j, token.INT)
	}
	switch c {
	case '.', '+', '-', '/':
		// Multi-character operators compete with paths and floats.
		n, t := 1, token.ILLEGAL
		switch c {
		case '.':
			t = token.DOT
			if s.at(i+1) == '.' && s.at(i+2) == '.' {
				n, t = 3, token.ELLIPSIS
			}
		case '+':
			t = token.PLUS
			if s.at(i+1) == '+' {
				n, t = 2, token.CONCAT
			}
		case '-':
			t = token.MINUS
			if s.at(i+1) == '>' {
				n, t = 2, token.IMPL
			}
		case '/':
			t = token.DIV
			if s.at(i+1) == '/' {
				n, t = 2, token.UPDATE
			}
		}
		f := 0
		if c == '.' {
			f = s.floatLen(i)
		}
		p := s.pathLen(i)
		pd := s.pathSegDollarLen(i)
		if pd > 0 {
			pd += 2
		}
		switch {
		case p > n && p > f && p >= pd:
			return s.path(i, p, token.PATH)
		case pd > n && pd > f:
			return s.path(i, pd-2, token.PATH)
		case f > n:
			return s.float(i, i+f)
		}
		return s.tok(i, i+n, t)
	case '~':
		// HPATH \~(\/{PATH_CHAR}+)+\/? or HPATH_START${ \~\/\$\{
		if p := s.pathLen(i + 1); p > 0 && s.at(i+1) == '/' {
			return s.path(i, p+1, token.HPATH)
		}
		if s.at(i+1) == '/' && s.at(i+2) == '$' && s.at(i+3) == '{' {
			return s.path(i, 2, token.HPATH)
		}
		return s.tok(i, i+1, token.ILLEGAL)
	case '<':
		// SPATH \<{PATH_CHAR}+(\/{PATH_CHAR}+)*\>
		j := i + 1
		for {
			k := j
			for k < len(src) && isPathChar[src[k]] {
				k++
			}
			if k == j {
				break
			}
			j = k
			if j < len(src) && src[j] == '>' {
				return s.tok(i, j+1, token.SPATH)
			}
			if j < len(src) && src[j] == '/' {
				j++
				continue
			}
			break
		}
		switch s.at(i + 1) {
		case '=':
			return s.tok(i, i+2, token.LEQ)
		case '|':
			return s.tok(i, i+2, token.PIPE_FROM)
		}
		return s.tok(i, i+1, token.LT)
	case '>':
		if s.at(i+1) == '=' {
			return s.tok(i, i+2, token.GEQ)
		}
		return s.tok(i, i+1, token.GT)
	case '=':
		if s.at(i+1) == '=' {
			return s.tok(i, i+2, token.EQ)
		}
		return s.tok(i, i+1, token.ASSIGN)
	case '!':
		if s.at(i+1) == '=' {
			return s.tok(i, i+2, token.NEQ)
		}
		return s.tok(i, i+1, token.NOT)
	case '&':
		if s.at(i+1) == '&' {
			return s.tok(i, i+2, token.AND)
		}
	case '|':
		switch s.at(i + 1) {
		case '|':
			return s.tok(i, i+2, token.OR)
		case '>':
			return s.tok(i, i+2, token.PIPE_INTO)
		}
	case '$':
		if s.at(i+1) == '{' {
			s.push(modeDefault)
			return s.tok(i, i+2, token.DOLLAR_CURLY)
		}
	case '{':
		s.push(modeDefault)
		return s.tok(i, i+1, token.LBRACE)
	case '}':
		s.pop()
		return s.tok(i, i+1, token.RBRACE)
	case '"':
		s.push(modeString)
		return s.tok(i, i+1, token.QUOTE)
	case '\'':
		if s.at(i+1) == '\'' {
			// \'\'(\ *\n)?
			j := i + 2
			k := j
			for k < len(src) && src[k] == ' ' {
				k++
			}
			if k < len(src) && src[k] == '\n' {
				j = k + 1
			}
			s.push(modeIndString)
			return s.tok(i, j, token.IND_STRING_OPEN)
		}
	case '*':
		return s.tok(i, i+1, token.MUL)
	case '?':
		return s.tok(i, i+1, token.QUEST)
	case ':':
		return s.tok(i, i+1, token.COLON)
	case '@':
		return s.tok(i, i+1, token.AT)
	case ';':
		return s.tok(i, i+1, token.SEMI)
	case '(':
		return s.tok(i, i+1, token.LPAREN)
	case ')':
		return s.tok(i, i+1, token.RPAREN)
	case '[':
		return s.tok(i, i+1, token.LBRACK)
	case ']':
		return s.tok(i, i+1, token.RBRACK)
	case ',':
		return s.tok(i, i+1, token.COMMA)
	case 0:
		// The flex rule {ANY} returns the byte itself; a NUL byte is
		// token 0, which Bison takes as the end of input.
		return s.tok(i, i+1, token.EOF)
	}
	return s.tok(i, i+1, token.ILLEGAL)
}

// path returns a PATH or HPATH token of n bytes at i and enters the
// in-path state, which follows with STR parts, ${...} and PATH_END.
func (s *Scanner) path(i, n int, t token.Token) token.Token {
	if s.src[i+n-1] == '/' {
		s.push(modeInPathSlash)
	} else {
		s.push(modeInPath)
	}
	return s.tok(i, i+n, t)
}

func (s *Scanner) float(i, j int) token.Token {
	text := string(s.src[i:j])
	v, err := strconv.ParseFloat(text, 64)
	// strtod reports ERANGE on overflow and on underflow (a nonzero
	// literal that becomes zero or subnormal).
	if err != nil || math.IsInf(v, 0) || (v == 0 || math.Abs(v) < 0x1p-1022) && hasNonzeroMantissa(text) {
		s.error(i, "invalid float '"+text+"'")
		return s.tok(i, j, token.EOF)
	}
	s.t.Float = v
	return s.tok(i, j, token.FLOAT)
}

func hasNonzeroMantissa(text string) bool {
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == 'e' || c == 'E':
			return false
		case c >= '1' && c <= '9':
			return true
		}
	}
	return false
}

func (s *Scanner) scanInPath() token.Token {
	src := s.src
	i := s.off
	if i+1 < len(src) && src[i] == '$' && src[i+1] == '{' {
		s.replace(modeInPath)
		s.push(modeDefault)
		return s.tok(i, i+2, token.DOLLAR_CURLY)
	}
	// {PATH}|{PATH_SEG}|{PATH_CHAR}+
	n := s.pathLen(i)
	j := i
	for j < len(src) && isPathChar[src[j]] {
		j++
	}
	if seg := j - i; j < len(src) && src[j] == '/' {
		n = max(n, seg+1)
	} else {
		n = max(n, seg)
	}
	if n > 0 {
		if src[i+n-1] == '/' {
			s.replace(modeInPathSlash)
		} else {
			s.replace(modeInPath)
		}
		s.t.esc = strRaw
		return s.tok(i, i+n, token.STR)
	}
	if s.top() == modeInPathSlash {
		if i >= len(src) {
			// The <<EOF>> rule does not move the location: Nix reports
			// the previous token's position.
			s.error(s.last, "path has a trailing slash")
		} else {
			s.error(i, "path has a trailing slash")
		}
		return s.tok(i, i, token.EOF)
	}
	s.pop()
	s.t.Start, s.t.End = i, i
	return token.PATH_END
}

func (s *Scanner) scanString() token.Token {
	src := s.src
	i := s.off
	j := i
loop:
	for j < len(src) {
		switch src[j] {
		case '"':
			break loop
		case '\\':
			if j+1 >= len(src) {
				break loop
			}
			j += 2
		case '$':
			if j+1 >= len(src) {
				break loop
			}
			switch src[j+1] {
			case '{', '"':
				break loop
			case '\\':
				if j+2 >= len(src) {
					break loop
				}
				j += 3
			default:
				j += 2
			}
		default:
			j++
		}
	}
	// The rule body*\$/\" takes a '$' right before the closing quote.
	if j+1 < len(src) && src[j] == '$' && src[j+1] == '"' {
		j++
	}
	if j > i {
		s.t.esc = strEscaped
		return s.tok(i, j, token.STR)
	}
	if j >= len(src) {
		return s.tok(len(src), len(src), token.EOF)
	}
	switch src[j] {
	case '"':
		s.pop()
		return s.tok(j, j+1, token.QUOTE)
	case '$':
		if j+1 < len(src) && src[j+1] == '{' {
			s.push(modeDefault)
			return s.tok(j, j+2, token.DOLLAR_CURLY)
		}
	}
	// A lone '$', '\' or "$\" at the end of input.
	return s.tok(len(src), len(src), token.EOF)
}

func (s *Scanner) scanIndString() token.Token {
	src := s.src
	i := s.off
	if i >= len(src) {
		return s.tok(i, i, token.EOF)
	}
	switch src[i] {
	case '\'':
		if i+1 < len(src) && src[i+1] == '\'' {
			switch s.at(i + 2) {
			case '$':
				s.t.esc, s.t.constVal = strConstant, "$"
				return s.tok(i, i+3, token.IND_STR)
			case '\'':
				s.t.esc, s.t.constVal = strConstant, "''"
				return s.tok(i, i+3, token.IND_STR)
			case '\\':
				if i+3 < len(src) {
					s.t.esc = strIndEsc
					return s.tok(i, i+4, token.IND_STR)
				}
			}
			s.pop()
			return s.tok(i, i+2, token.IND_STRING_CLOSE)
		}
		if i+1 >= len(src) || src[i+1] == '$' {
			s.t.esc, s.t.constVal = strConstant, "'"
			return s.tok(i, i+1, token.IND_STR)
		}
	case '$':
		if i+1 < len(src) && src[i+1] == '{' {
			s.push(modeDefault)
			return s.tok(i, i+2, token.DOLLAR_CURLY)
		}
		if i+1 >= len(src) || src[i+1] == '\'' {
			s.t.esc, s.t.constVal = strConstant, "$"
			return s.tok(i, i+1, token.IND_STR)
		}
	}
	// ([^\$\']|\$[^\{\']|\'[^\'\$])+
	j := i
loop:
	for j < len(src) {
		switch src[j] {
		case '$':
			if j+1 >= len(src) || src[j+1] == '{' || src[j+1] == '\'' {
				break loop
			}
			j += 2
		case '\'':
			if j+1 >= len(src) || src[j+1] == '\'' || src[j+1] == '$' {
				break loop
			}
			j += 2
		default:
			j++
		}
	}
	s.t.esc = strRaw
	s.t.HasIndent = true
	return s.tok(i, j, token.IND_STR)
}

// keyword is token.Lookup on bytes, without allocating.
func keyword(b []byte) token.Token {
	switch len(b) {
	case 2:
		switch string(b) {
		case "if":
			return token.IF
		case "in":
			return token.IN
		case "or":
			return token.OR_KW
		}
	case 3:
		switch string(b) {
		case "let":
			return token.LET
		case "rec":
			return token.REC
		}
	case 4:
		switch string(b) {
		case "then":
			return token.THEN
		case "else":
			return token.ELSE
		case "with":
			return token.WITH
		}
	case 6:
		if string(b) == "assert" {
			return token.ASSERT
		}
	case 7:
		if string(b) == "inherit" {
			return token.INHERIT
		}
	}
	return token.ID
}
