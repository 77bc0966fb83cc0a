package parser

import (
	"slices"

	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// Error recovery.
//
// A syntax error panics with syntaxErr. The delimited constructs take it
// (recovery points): binding lists (`let ... in`, `rec { }`, `{ }`),
// formal argument sets, lists, parentheses and `${ }`. The innermost one
// skips tokens, counting brackets, up to a token at its own depth that
// ends a part of it (`;` and `}`/`in` in binding lists, `,` and `}` in
// formals, `]`, `)`, `}` of `${`) and goes on from there. It gives up,
// letting the panic go on to the next one out, at the end of the file and at a
// closer at depth 0 that an enclosing construct waits for (a `}` of the
// set around a list missing its `]`); a closer nobody waits for is skipped.
// `${ }` keeps everything up to its `}`: the scanner's string modes
// guarantee it comes. Lexical errors, excessive nesting and "too many
// errors" panic with bailout and end the parse.
//
// Cascades: an error is dropped if it is at the position of an earlier
// one, or if fewer than syncQuiet tokens were consumed since the last
// recovery (Bison's rule: three tokens shifted before the next message).
// Warnings stop at the first error, as they do in Nix, which stops there.

// bailout ends the parse.
type bailout struct{}

// syntaxErr unwinds to the innermost recovery point.
type syntaxErr struct{}

// Values of parser.unwind: what the panic under way, if any, is. The
// deferred functions of recovery points read it instead of calling
// recover, so that panics they do not take pass them untouched.
const (
	unwindNone = iota
	unwindSyntax
	unwindBailout
)

// syncQuiet is the number of tokens to consume after a recovery before
// errors are reported again.
const syncQuiet = 3

// ErrorList is the error type of a failed parse. Its first element is
// the error Nix reports (the first one detected); the others follow in
// position order, at most Options.MaxErrors in all plus a final
// "too many errors" if the parser gave up.
type ErrorList = scanner.ErrorList

// Error is one positioned parse error.
type Error = scanner.Error

// closer indexes parser.open: the tokens that end an open construct.
type closer uint8

const (
	cParen closer = iota // ')' of ( e )
	cBrack               // ']' of [ ... ]
	cBrace               // '}' of sets, formals and ${ }
	cIn                  // 'in' of let
	cSemi                // ';' ending a binding
	cComma               // ',' ending a formal
	nClosers
)

var closerOf = [256]int8{
	token.RPAREN: int8(cParen) + 1,
	token.RBRACK: int8(cBrack) + 1,
	token.RBRACE: int8(cBrace) + 1,
	token.IN:     int8(cIn) + 1,
	token.SEMI:   int8(cSemi) + 1,
	token.COMMA:  int8(cComma) + 1,
}

// report records msg at off unless it is a cascade (see above). When
// the list is full it records "too many errors" and ends the parse.
func (p *parser) report(off int, msg string) {
	if p.ntok-p.syncTok < syncQuiet {
		return
	}
	p.add(off, msg)
}

// add is report without the quiet period after a recovery, for errors
// that cannot be caused by it (lexical ones).
func (p *parser) add(off int, msg string) {
	for _, e := range p.errors {
		if e.Pos.Offset == off && e.Pos.IsValid() {
			return
		}
	}
	pos := p.file.Position(p.pos(off))
	if len(p.errors) >= p.maxErrors {
		p.errors.Add(pos, "too many errors")
		p.bail()
	}
	p.errors.Add(pos, msg)
}

// bail ends the parse.
func (p *parser) bail() {
	p.unwind = unwindBailout
	panic(bailout{})
}

// catch is called by the deferred function of a recovery point while a
// syntax error unwinds the stack: it drops the scratch entries above
// apath and ind, and skips tokens as sync does. If it returns true, the
// caller stops the panic with take(recover()); if false, the caller
// returns and the panic goes on to the next recovery point. (A panic is
// only stopped when it is taken: a stopped and re-raised panic would
// walk the whole stack again, quadratic in deep nesting.)
func (p *parser) catch(own []token.Token, hard bool, apath, ind int) bool {
	if p.opts.noRecover {
		return false
	}
	p.truncScratch(apath, ind)
	return p.sync(own, hard)
}

// catchBracket is catch for the recovery point of a construct closed by
// end and counted in p.open[c]: lists, parentheses and ${ } (which skips
// everything up to its '}').
func (p *parser) catchBracket(c closer, end token.Token, apath, ind int) bool {
	p.open[c]--
	return p.catch([]token.Token{end}, end == token.RBRACE, apath, ind)
}

// take ends the unwinding of a syntax error; r is what recover returned.
func (p *parser) take(r any) {
	if _, ok := r.(syntaxErr); !ok {
		panic(r)
	}
	p.unwind = unwindNone
}

// sync skips tokens up to one at bracket depth 0 that is in own (returns
// true, the token not consumed), that an enclosing construct waits for,
// or the end of the file (returns false: give up). With hard, only own
// and the end of the file stop it. Closers are matched as closeBrackets
// says; the error token itself, if an opening bracket, does not count; a
// closer followed by the start of a binding is stray (see
// bindingFollows).
func (p *parser) sync(own []token.Token, hard bool) bool {
	p.skipping = true
	defer func() { p.skipping = false }()
	var buf [16]token.Token
	open := buf[:0] // expected closers of the constructs skipped into
	prev := token.ILLEGAL
	switch p.tok.Kind {
	case token.LPAREN, token.LBRACK, token.LBRACE:
		// An unexpected opening bracket is more likely stray than the
		// start of a construct to skip as a whole.
		prev = p.tok.Kind
		p.next()
	}
	for {
		k := p.tok.Kind
		if k == token.EOF {
			return false
		}
		if isCloser(k) && len(open) > 0 {
			var inside bool
			if open, inside = closeBrackets(open, k); inside {
				prev = k
				p.next()
				continue
			}
		}
		if len(open) == 0 {
			if slices.Contains(own, k) {
				p.syncTok = p.ntok
				return true
			}
			if c := closerOf[k]; c > 0 && !hard && p.open[c-1] > 0 && !(isCloser(k) && p.bindingFollows()) {
				return false
			}
		}
		switch k {
		case token.LPAREN:
			open = append(open, token.RPAREN)
		case token.LBRACK:
			open = append(open, token.RBRACK)
		case token.LBRACE:
			if prev == token.LET && len(open) > 0 && open[len(open)-1] == token.IN {
				open[len(open)-1] = token.RBRACE // let { ... }
			} else {
				open = append(open, token.RBRACE)
			}
		case token.DOLLAR_CURLY:
			open = append(open, token.DOLLAR_CURLY) // closed by '}'
		case token.IND_STRING_OPEN:
			open = append(open, token.IND_STRING_CLOSE)
		case token.PATH, token.HPATH:
			open = append(open, token.PATH_END)
		case token.LET:
			open = append(open, token.IN)
		case token.QUOTE:
			if len(open) > 0 && open[len(open)-1] == token.QUOTE {
				open = open[:len(open)-1]
			} else {
				open = append(open, token.QUOTE)
			}
		case token.IND_STRING_CLOSE, token.PATH_END:
			if i := lastIndex(open, k); i >= 0 {
				open = open[:i]
			}
		}
		prev = k
		p.next()
	}
}

// bindingFollows reports whether the tokens after the current one start
// a binding (`inherit`, `name =`), which no closing bracket or 'in' can
// be followed by: such a closer is stray rather than an enclosing
// construct's end.
func (p *parser) bindingFollows() bool {
	switch p.peek(1).Kind {
	case token.INHERIT:
		return true
	case token.ID, token.OR_KW:
		return p.peek(2).Kind == token.ASSIGN
	}
	return false
}

// closeBrackets applies k, a closing bracket or 'in', to open, the
// closers expected by the constructs sync skipped into, innermost last,
// and returns what remains open and whether k was inside them. k closes
// the innermost construct waiting for it and those inside it. Within an
// interpolation of a string, a k that closes nothing is stray; elsewhere
// it belongs further out than all of open, which the error left
// unclosed: none remains open and k is not inside.
func closeBrackets(open []token.Token, k token.Token) ([]token.Token, bool) {
	base := len(open) // constructs above the innermost string part
	for base > 0 {
		switch open[base-1] {
		case token.DOLLAR_CURLY, token.QUOTE, token.IND_STRING_CLOSE, token.PATH_END:
		default:
			base--
			continue
		}
		break
	}
	if i := lastIndex(open[base:], k); i >= 0 {
		return open[:base+i], true
	}
	switch {
	case base == 0:
		return open[:0], false
	case k == token.RBRACE && open[base-1] == token.DOLLAR_CURLY:
		return open[:base-1], true
	}
	return open, true
}

func isCloser(k token.Token) bool {
	switch k {
	case token.RPAREN, token.RBRACK, token.RBRACE, token.IN:
		return true
	}
	return false
}

func lastIndex(s []token.Token, k token.Token) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == k {
			return i
		}
	}
	return -1
}
