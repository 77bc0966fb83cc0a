package regex

// This file is a port of the parts of libstdc++'s <regex> that Nix reaches
// with std::regex::extended: the scanner (bits/regex_scanner.tcc) and the
// compiler that builds the NFA (bits/regex_compiler.tcc,
// bits/regex_automaton.tcc). The NFA is built state for state as libstdc++
// builds it, so that the depth-first executor explores alternatives in the
// same order and the NFA-size limit triggers on the same patterns.

import "strings"

// stateLimit is _GLIBCXX_REGEX_STATE_LIMIT.
const stateLimit = 100000

type opcode uint8

const (
	opDummy  opcode = iota
	opAlt           // try alt (left branch) then next (right branch)
	opRepeat        // greedy: alt is the loop body, next leaves the loop
	opSubBegin
	opSubEnd
	opLineBegin
	opLineEnd
	opMatch
	opAccept
)

type state struct {
	op    opcode
	next  int32
	alt   int32
	sub   int32    // group index for opSubBegin/opSubEnd
	class *byteSet // for opMatch
	memo  int32    // index into the memo table for opAlt/opRepeat, else -1
}

func (s *state) hasAlt() bool { return s.op == opAlt || s.op == opRepeat }

// byteSet is the set of bytes a matcher accepts.
type byteSet [4]uint64

func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }
func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }

type token uint8

const (
	tEOF token = iota
	tOrdChar
	tAnyChar
	tLineBegin
	tLineEnd
	tClosure0 // *
	tClosure1 // +
	tOpt      // ?
	tOr
	tSubBegin
	tSubEnd
	tBracketBegin
	tBracketNegBegin
	tBracketEnd
	tBracketDash
	tIntervalBegin
	tIntervalEnd
	tDupCount
	tComma
	tCollSymbol
	tEquivClass
	tCharClass
)

type scanState uint8

const (
	scanNormal scanState = iota
	scanBracket
	scanBrace
)

// compileError aborts compilation; space reports error_space (the NFA grew
// past stateLimit), everything else is a syntax error.
type compileError struct {
	space  bool
	reason string
}

func fail(reason string) { panic(compileError{reason: reason}) }

// scanner is libstdc++'s _Scanner for the extended grammar. It always holds
// the next token, scanned as soon as the previous one is consumed, so errors
// surface in the same order as in libstdc++.
type scanner struct {
	src            string
	pos            int
	state          scanState
	atBracketStart bool
	tok            token
	val            string
}

const extendedSpecial = ".[\\()*+?{|^$"

func (s *scanner) advance() {
	if s.pos == len(s.src) {
		s.tok = tEOF
		return
	}
	switch s.state {
	case scanNormal:
		s.scanNormal()
	case scanBracket:
		s.scanBracket()
	case scanBrace:
		s.scanBrace()
	}
}

func (s *scanner) scanNormal() {
	c := s.src[s.pos]
	s.pos++
	if c != 0 && strings.IndexByte(extendedSpecial, c) < 0 {
		s.tok, s.val = tOrdChar, s.src[s.pos-1:s.pos]
		return
	}
	switch c {
	case '\\':
		if s.pos == len(s.src) {
			fail("escape at end")
		}
		// _M_eat_escape_posix, compiled with __STRICT_ANSI__ as Nix is:
		// only special characters may be escaped.
		e := s.src[s.pos]
		if e == 0 || strings.IndexByte(extendedSpecial, e) < 0 {
			fail("escaped ordinary character")
		}
		s.tok, s.val = tOrdChar, s.src[s.pos:s.pos+1]
		s.pos++
	case '(':
		s.tok = tSubBegin
	case ')':
		s.tok = tSubEnd
	case '[':
		s.state = scanBracket
		s.atBracketStart = true
		if s.pos < len(s.src) && s.src[s.pos] == '^' {
			s.tok = tBracketNegBegin
			s.pos++
		} else {
			s.tok = tBracketBegin
		}
	case '{':
		s.state = scanBrace
		s.tok = tIntervalBegin
	case 0:
		fail("NUL in pattern")
	case '^':
		s.tok = tLineBegin
	case '$':
		s.tok = tLineEnd
	case '.':
		s.tok = tAnyChar
	case '*':
		s.tok = tClosure0
	case '+':
		s.tok = tClosure1
	case '?':
		s.tok = tOpt
	case '|':
		s.tok = tOr
	}
}

func (s *scanner) scanBracket() {
	c := s.src[s.pos]
	s.pos++
	switch {
	case c == '-':
		s.tok = tBracketDash
	case c == '[':
		if s.pos == len(s.src) {
			fail("incomplete '[[' character class")
		}
		switch s.src[s.pos] {
		case '.':
			s.tok = tCollSymbol
			s.pos++
			s.eatClass('.')
		case ':':
			s.tok = tCharClass
			s.pos++
			s.eatClass(':')
		case '=':
			s.tok = tEquivClass
			s.pos++
			s.eatClass('=')
		default:
			s.tok, s.val = tOrdChar, "["
		}
	case c == ']' && !s.atBracketStart:
		s.tok = tBracketEnd
		s.state = scanNormal
	default:
		// A backslash is an ordinary character inside brackets.
		s.tok, s.val = tOrdChar, s.src[s.pos-1:s.pos]
	}
	s.atBracketStart = false
}

func (s *scanner) eatClass(ch byte) {
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] != ch {
		s.pos++
	}
	s.val = s.src[start:s.pos]
	if s.pos == len(s.src) || s.pos+1 == len(s.src) || s.src[s.pos+1] != ']' {
		fail("unterminated [" + string(ch) + " class")
	}
	s.pos += 2
}

func (s *scanner) scanBrace() {
	c := s.src[s.pos]
	s.pos++
	switch {
	case isDigit(c):
		start := s.pos - 1
		for s.pos < len(s.src) && isDigit(s.src[s.pos]) {
			s.pos++
		}
		s.tok, s.val = tDupCount, s.src[start:s.pos]
	case c == ',':
		s.tok = tComma
	case c == '}':
		s.state = scanNormal
		s.tok = tIntervalEnd
	default:
		fail("bad brace")
	}
}

type seq struct{ start, end int32 }

// compiler is libstdc++'s _Compiler.
type compiler struct {
	sc         scanner
	nfa        []state
	stack      []seq
	val        string
	nsub       int32
	parenStack []int32
}

func (c *compiler) match(t token) bool {
	if c.sc.tok != t {
		return false
	}
	c.val = c.sc.val
	c.sc.advance()
	return true
}

func (c *compiler) insert(s state) int32 {
	s.memo = -1
	c.nfa = append(c.nfa, s)
	if len(c.nfa) > stateLimit {
		panic(compileError{space: true, reason: "too many NFA states"})
	}
	return int32(len(c.nfa) - 1)
}

func (c *compiler) insertDummy() int32 { return c.insert(state{op: opDummy, next: -1, alt: -1}) }

func (c *compiler) insertSubBegin() int32 {
	id := c.nsub
	c.nsub++
	c.parenStack = append(c.parenStack, id)
	return c.insert(state{op: opSubBegin, next: -1, alt: -1, sub: id})
}

func (c *compiler) insertSubEnd() int32 {
	id := c.parenStack[len(c.parenStack)-1]
	c.parenStack = c.parenStack[:len(c.parenStack)-1]
	return c.insert(state{op: opSubEnd, next: -1, alt: -1, sub: id})
}

func (c *compiler) appendState(q *seq, id int32) {
	c.nfa[q.end].next = id
	q.end = id
}

func (c *compiler) appendSeq(q *seq, r seq) {
	c.nfa[q.end].next = r.start
	q.end = r.end
}

func (c *compiler) push(q seq) { c.stack = append(c.stack, q) }

func (c *compiler) pop() seq {
	q := c.stack[len(c.stack)-1]
	c.stack = c.stack[:len(c.stack)-1]
	return q
}

// clone is _StateSeq::_M_clone.
func (c *compiler) clone(q seq) seq {
	m := map[int32]int32{}
	order := []int32{}
	work := []int32{q.start}
	for len(work) > 0 {
		u := work[len(work)-1]
		work = work[:len(work)-1]
		dup := c.nfa[u]
		id := c.insert(dup)
		if _, ok := m[u]; !ok {
			order = append(order, u)
		}
		m[u] = id
		if dup.hasAlt() && dup.alt != -1 {
			if _, ok := m[dup.alt]; !ok {
				work = append(work, dup.alt)
			}
		}
		if u == q.end {
			continue
		}
		if dup.next != -1 {
			if _, ok := m[dup.next]; !ok {
				work = append(work, dup.next)
			}
		}
	}
	for _, u := range order {
		v := m[u]
		r := &c.nfa[v]
		if r.next != -1 {
			if w, ok := m[r.next]; ok {
				r.next = w
			}
		}
		if r.hasAlt() && r.alt != -1 {
			if w, ok := m[r.alt]; ok {
				r.alt = w
			}
		}
	}
	return seq{m[q.start], m[q.end]}
}

func compileNFA(pattern string) (nfa []state, ngroups int, err *compileError) {
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(compileError)
			if !ok {
				panic(r)
			}
			err = &ce
		}
	}()
	c := &compiler{sc: scanner{src: pattern}}
	c.sc.advance()
	r := seq{0, 0}
	first := c.insertSubBegin() // state 0
	r.start, r.end = first, first
	c.disjunction()
	if !c.match(tEOF) {
		fail("unmatched parenthesis or unexpected token")
	}
	c.appendSeq(&r, c.pop())
	c.appendState(&r, c.insertSubEnd())
	c.appendState(&r, c.insert(state{op: opAccept, next: -1, alt: -1}))
	c.eliminateDummy()
	return c.nfa, int(c.nsub) - 1, nil
}

// eliminateDummy is _NFA::_M_eliminate_dummy: edges into dummy states are
// redirected past them. Chains are resolved once (libstdc++ walks them for
// every edge, which is quadratic for patterns like "x{0}{50000}").
func (c *compiler) eliminateDummy() {
	resolved := make([]int32, len(c.nfa))
	for i := range resolved {
		resolved[i] = -2 // not yet known
	}
	var skip func(i int32) int32
	skip = func(i int32) int32 {
		var chain []int32
		for i >= 0 && c.nfa[i].op == opDummy && resolved[i] == -2 {
			resolved[i] = -3 // in progress: a dummy cycle ends here
			chain = append(chain, i)
			i = c.nfa[i].next
		}
		if i >= 0 && c.nfa[i].op == opDummy {
			if resolved[i] >= -1 {
				i = resolved[i]
			} else {
				i = chain[len(chain)-1] // cycle of dummies: keep pointing into it
			}
		}
		for _, d := range chain {
			resolved[d] = i
		}
		return i
	}
	for i := range c.nfa {
		s := &c.nfa[i]
		s.next = skip(s.next)
		if s.hasAlt() {
			s.alt = skip(s.alt)
		}
	}
}

func (c *compiler) disjunction() {
	c.alternative()
	for c.match(tOr) {
		alt1 := c.pop()
		c.alternative()
		alt2 := c.pop()
		end := c.insertDummy()
		c.appendState(&alt1, end)
		c.appendState(&alt2, end)
		id := c.insert(state{op: opAlt, next: alt2.start, alt: alt1.start})
		c.push(seq{id, end})
	}
}

func (c *compiler) alternative() {
	if c.term() {
		q := c.pop()
		c.alternative()
		c.appendSeq(&q, c.pop())
		c.push(q)
	} else {
		d := c.insertDummy()
		c.push(seq{d, d})
	}
}

func (c *compiler) term() bool {
	if c.assertion() {
		return true
	}
	if c.atom() {
		for c.quantifier() {
		}
		return true
	}
	return false
}

func (c *compiler) assertion() bool {
	switch {
	case c.match(tLineBegin):
		id := c.insert(state{op: opLineBegin, next: -1, alt: -1})
		c.push(seq{id, id})
	case c.match(tLineEnd):
		id := c.insert(state{op: opLineEnd, next: -1, alt: -1})
		c.push(seq{id, id})
	default:
		return false
	}
	return true
}

func (c *compiler) insertRepeat(next, alt int32) int32 {
	return c.insert(state{op: opRepeat, next: next, alt: alt})
}

func (c *compiler) quantifier() bool {
	switch {
	case c.match(tClosure0):
		e := c.pop()
		id := c.insertRepeat(-1, e.start)
		c.appendState(&e, id)
		c.push(seq{id, id})
	case c.match(tClosure1):
		e := c.pop()
		c.appendState(&e, c.insertRepeat(-1, e.start))
		c.push(e)
	case c.match(tOpt):
		e := c.pop()
		end := c.insertDummy()
		r := seq{c.insertRepeat(-1, e.start), 0}
		r.end = r.start
		c.appendState(&e, end)
		c.appendState(&r, end)
		c.push(r)
	case c.match(tIntervalBegin):
		if !c.match(tDupCount) {
			fail("bad brace")
		}
		r := c.pop()
		d := c.insertDummy()
		e := seq{d, d}
		minRep := int64(intValue(c.val))
		infinite := false
		var n int64
		if c.match(tComma) {
			if c.match(tDupCount) {
				n = int64(intValue(c.val)) - minRep
			} else {
				infinite = true
			}
		}
		if !c.match(tIntervalEnd) {
			fail("brace")
		}
		for i := int64(0); i < minRep; i++ {
			c.appendSeq(&e, c.clone(r))
		}
		if infinite {
			tmp := c.clone(r)
			s := c.insertRepeat(-1, tmp.start)
			c.appendState(&tmp, s)
			c.appendState(&e, s)
		} else {
			if n < 0 {
				fail("bad brace")
			}
			end := c.insertDummy()
			var alts []int32
			for i := int64(0); i < n; i++ {
				tmp := c.clone(r)
				alt := c.insertRepeat(tmp.start, end)
				alts = append(alts, alt)
				c.appendSeq(&e, seq{alt, tmp.end})
			}
			c.appendState(&e, end)
			for _, a := range alts {
				s := &c.nfa[a]
				s.next, s.alt = s.alt, s.next
			}
		}
		c.push(e)
	default:
		return false
	}
	return true
}

// intValue is _M_cur_int_value(10): a long accumulated with wrap-around and
// returned as an int.
func intValue(digits string) int32 {
	var v int64
	for i := 0; i < len(digits); i++ {
		v = v*10 + int64(digits[i]-'0')
	}
	return int32(v)
}

func (c *compiler) atom() bool {
	switch {
	case c.match(tAnyChar):
		var b byteSet
		for i := 1; i < 256; i++ {
			b.add(byte(i))
		}
		c.insertMatcher(&b)
	case c.match(tOrdChar):
		var b byteSet
		b.add(c.val[0])
		c.insertMatcher(&b)
	case c.match(tSubBegin):
		r := seq{c.insertSubBegin(), 0}
		r.end = r.start
		c.disjunction()
		if !c.match(tSubEnd) {
			fail("unmatched parenthesis")
		}
		c.appendSeq(&r, c.pop())
		c.appendState(&r, c.insertSubEnd())
		c.push(r)
	default:
		return c.bracketExpression()
	}
	return true
}

func (c *compiler) insertMatcher(b *byteSet) {
	id := c.insert(state{op: opMatch, next: -1, alt: -1, class: b})
	c.push(seq{id, id})
}

func (c *compiler) bracketExpression() bool {
	neg := c.match(tBracketNegBegin)
	if !neg && !c.match(tBracketBegin) {
		return false
	}
	m := &bracket{neg: neg}
	var last bracketState
	if c.match(tOrdChar) {
		last.setChar(c.val[0])
	} else if c.match(tBracketDash) {
		last.setChar('-')
	}
	for c.expressionTerm(&last, m) {
	}
	if last.kind == lastChar {
		m.chars = append(m.chars, last.ch)
	}
	c.insertMatcher(m.compile())
	return true
}

type lastKind uint8

const (
	lastNone lastKind = iota
	lastChar
	lastClass
)

type bracketState struct {
	kind lastKind
	ch   byte
}

func (b *bracketState) setChar(c byte) { b.kind, b.ch = lastChar, c }

func (c *compiler) expressionTerm(last *bracketState, m *bracket) bool {
	if c.match(tBracketEnd) {
		return false
	}
	pushChar := func(ch byte) {
		if last.kind == lastChar {
			m.chars = append(m.chars, last.ch)
		}
		last.setChar(ch)
	}
	pushClass := func() {
		if last.kind == lastChar {
			m.chars = append(m.chars, last.ch)
		}
		last.kind = lastClass
	}
	switch {
	case c.match(tCollSymbol):
		ch, ok := collateName(c.val)
		if !ok {
			fail("invalid collate element")
		}
		m.chars = append(m.chars, ch)
		pushChar(ch)
	case c.match(tEquivClass):
		pushClass()
		ch, ok := collateName(c.val)
		if !ok {
			fail("invalid equivalence class")
		}
		m.equiv = append(m.equiv, toLower(ch))
	case c.match(tCharClass):
		pushClass()
		cl, ok := classNames[strings.ToLower(c.val)]
		if !ok {
			fail("invalid character class")
		}
		m.classes |= cl
	case c.match(tOrdChar):
		pushChar(c.val[0])
	case c.match(tBracketDash):
		switch {
		case c.match(tBracketEnd):
			pushChar('-')
			return false
		case last.kind == lastClass:
			fail("invalid start of range")
		case last.kind == lastChar:
			switch {
			case c.match(tOrdChar):
				m.addRange(last.ch, c.val[0])
				last.kind = lastNone
			case c.match(tBracketDash):
				m.addRange(last.ch, '-')
				last.kind = lastNone
			default:
				fail("invalid end of range")
			}
		default:
			fail("invalid location of '-'")
		}
	default:
		fail("unexpected character in bracket expression")
	}
	return true
}

// bracket is libstdc++'s _BracketMatcher with the identity translator that
// Nix gets (no icase, no collate) and the classic "C" locale.
type bracket struct {
	neg     bool
	chars   []byte
	ranges  [][2]int8 // char is signed on the platforms Nix runs on
	classes classMask
	equiv   []byte
}

func (m *bracket) addRange(l, r byte) {
	if int8(l) > int8(r) {
		fail("invalid range")
	}
	m.ranges = append(m.ranges, [2]int8{int8(l), int8(r)})
}

func (m *bracket) compile() *byteSet {
	var b byteSet
	for i := 0; i < 256; i++ {
		c := byte(i)
		if m.matches(c) != m.neg {
			b.add(c)
		}
	}
	return &b
}

func (m *bracket) matches(c byte) bool {
	for _, x := range m.chars {
		if x == c {
			return true
		}
	}
	for _, r := range m.ranges {
		if r[0] <= int8(c) && int8(c) <= r[1] {
			return true
		}
	}
	if m.classes != 0 && isClass(c, m.classes) {
		return true
	}
	for _, e := range m.equiv {
		if toLower(c) == e {
			return true
		}
	}
	return false
}

type classMask uint16

const (
	cUpper classMask = 1 << iota
	cLower
	cAlpha
	cDigit
	cXDigit
	cSpace
	cPrint
	cGraph
	cCntrl
	cPunct
	cBlank
	cUnder // the extra '_' of [[:w:]]
	cAlnum = cAlpha | cDigit
)

var classNames = map[string]classMask{
	"d":      cDigit,
	"w":      cAlnum | cUnder,
	"s":      cSpace,
	"alnum":  cAlnum,
	"alpha":  cAlpha,
	"blank":  cBlank,
	"cntrl":  cCntrl,
	"digit":  cDigit,
	"graph":  cGraph,
	"lower":  cLower,
	"print":  cPrint,
	"punct":  cPunct,
	"space":  cSpace,
	"upper":  cUpper,
	"xdigit": cXDigit,
}

// isClass is regex_traits::isctype in the "C" locale: bytes above 0x7f are in
// no class.
func isClass(c byte, m classMask) bool {
	if c >= 0x80 {
		return false
	}
	var have classMask
	switch {
	case 'A' <= c && c <= 'Z':
		have |= cUpper | cAlpha
	case 'a' <= c && c <= 'z':
		have |= cLower | cAlpha
	case isDigit(c):
		have |= cDigit
	}
	if isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
		have |= cXDigit
	}
	if c == ' ' || '\t' <= c && c <= '\r' {
		have |= cSpace
	}
	if c == ' ' || c == '\t' {
		have |= cBlank
	}
	if c < 0x20 || c == 0x7f {
		have |= cCntrl
	}
	if 0x20 <= c && c < 0x7f {
		have |= cPrint
		if c != ' ' {
			have |= cGraph
			if have&(cAlpha|cDigit) == 0 {
				have |= cPunct
			}
		}
	}
	if c == '_' {
		have |= cUnder
	}
	return have&m != 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// collateName is regex_traits::lookup_collatename: the POSIX names of the
// ASCII characters, indexed by code.
func collateName(name string) (byte, bool) {
	for i, n := range collateNames {
		if n == name {
			return byte(i), true
		}
	}
	return 0, false
}

var collateNames = [128]string{
	"NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "alert", "backspace", "tab",
	"newline", "vertical-tab", "form-feed", "carriage-return", "SO", "SI", "DLE",
	"DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
	"IS4", "IS3", "IS2", "IS1", "space", "exclamation-mark", "quotation-mark",
	"number-sign", "dollar-sign", "percent-sign", "ampersand", "apostrophe",
	"left-parenthesis", "right-parenthesis", "asterisk", "plus-sign", "comma",
	"hyphen", "period", "slash", "zero", "one", "two", "three", "four", "five",
	"six", "seven", "eight", "nine", "colon", "semicolon", "less-than-sign",
	"equals-sign", "greater-than-sign", "question-mark", "commercial-at",
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P",
	"Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "left-square-bracket",
	"backslash", "right-square-bracket", "circumflex", "underscore",
	"grave-accent", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l",
	"m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
	"left-curly-bracket", "vertical-line", "right-curly-bracket", "tilde", "DEL",
}
