package token

// Token is a lexical token kind of the Nix language. The set and the
// display names mirror the Bison grammar of CppNix (src/libexpr/parser.y),
// because parse errors print them ("unexpected 'if', expecting ...").
type Token uint8

// The tokens. Their order is Bison's symbol order, which is also the order
// in which "expecting a or b" lists are printed (see Less).
const (
	EOF     Token = iota // end of file
	ILLEGAL              // invalid token (any byte the grammar does not know)

	ID        // identifier
	STR       // string (a literal part of a "..." string or of a path)
	IND_STR   // indented string (a literal part of a ''...'' string)
	INT       // integer
	FLOAT     // floating-point literal
	PATH      // path
	HPATH     // '~/…' path
	SPATH     // '<…>' path
	PATH_END  // end of path
	URI       // URI
	IF        // 'if'
	THEN      // 'then'
	ELSE      // 'else'
	ASSERT    // 'assert'
	WITH      // 'with'
	LET       // 'let'
	IN        // 'in'
	REC       // 'rec'
	INHERIT   // 'inherit'
	EQ        // '=='
	NEQ       // '!='
	LEQ       // '<='
	GEQ       // '>='
	UPDATE    // '//'
	CONCAT    // '++'
	AND       // '&&'
	OR        // '||'
	IMPL      // '->'
	OR_KW     // 'or'
	PIPE_FROM // '<|'
	PIPE_INTO // '|>'
	DOLLAR_CURLY
	IND_STRING_OPEN
	IND_STRING_CLOSE
	ELLIPSIS // '...'

	LT     // '<'
	GT     // '>'
	PLUS   // '+'
	MINUS  // '-'
	MUL    // '*'
	DIV    // '/'
	QUEST  // '?'
	COLON  // ':'
	AT     // '@'
	SEMI   // ';'
	NOT    // '!'
	DOT    // '.'
	QUOTE  // '"'
	LPAREN // '('
	RPAREN // ')'
	LBRACE // '{'
	RBRACE // '}'
	LBRACK // '['
	RBRACK // ']'
	ASSIGN // '='
	COMMA  // ','

	numTokens
)

var names = [numTokens]string{
	EOF:              "end of file",
	ILLEGAL:          "invalid token",
	ID:               "identifier",
	STR:              "string",
	IND_STR:          "indented string",
	INT:              "integer",
	FLOAT:            "floating-point literal",
	PATH:             "path",
	HPATH:            "'~/…' path",
	SPATH:            "'<…>' path",
	PATH_END:         "end of path",
	URI:              "URI",
	IF:               "'if'",
	THEN:             "'then'",
	ELSE:             "'else'",
	ASSERT:           "'assert'",
	WITH:             "'with'",
	LET:              "'let'",
	IN:               "'in'",
	REC:              "'rec'",
	INHERIT:          "'inherit'",
	EQ:               "'=='",
	NEQ:              "'!='",
	LEQ:              "'<='",
	GEQ:              "'>='",
	UPDATE:           "'//'",
	CONCAT:           "'++'",
	AND:              "'&&'",
	OR:               "'||'",
	IMPL:             "'->'",
	OR_KW:            "'or'",
	PIPE_FROM:        "'<|'",
	PIPE_INTO:        "'|>'",
	DOLLAR_CURLY:     "'${'",
	IND_STRING_OPEN:  "start of an indented string",
	IND_STRING_CLOSE: "end of an indented string",
	ELLIPSIS:         "'...'",
	LT:               "'<'",
	GT:               "'>'",
	PLUS:             "'+'",
	MINUS:            "'-'",
	MUL:              "'*'",
	DIV:              "'/'",
	QUEST:            "'?'",
	COLON:            "':'",
	AT:               "'@'",
	SEMI:             "';'",
	NOT:              "'!'",
	DOT:              "'.'",
	QUOTE:            "'\"'",
	LPAREN:           "'('",
	RPAREN:           "')'",
	LBRACE:           "'{'",
	RBRACE:           "'}'",
	LBRACK:           "'['",
	RBRACK:           "']'",
	ASSIGN:           "'='",
	COMMA:            "','",
}

// String returns Bison's display name of the token, e.g. "'if'",
// "identifier", "end of file".
func (t Token) String() string {
	if t < numTokens {
		return names[t]
	}
	return "invalid token"
}

// Less reports whether t is listed before u in Bison's "expecting" lists.
func (t Token) Less(u Token) bool { return t < u }

var keywords = map[string]Token{
	"if":      IF,
	"then":    THEN,
	"else":    ELSE,
	"assert":  ASSERT,
	"with":    WITH,
	"let":     LET,
	"in":      IN,
	"rec":     REC,
	"inherit": INHERIT,
	"or":      OR_KW,
}

// Lookup maps an identifier to its keyword token, or ID.
func Lookup(ident string) Token {
	if len(ident) < 2 || len(ident) > 7 {
		return ID
	}
	if t, ok := keywords[ident]; ok {
		return t
	}
	return ID
}

// IsKeyword reports whether s is a reserved word that cannot be used as a
// variable or unquoted attribute name. "or" is not one: Nix accepts it as
// an attribute name.
func IsKeyword(s string) bool {
	t := Lookup(s)
	return t != ID && t != OR_KW
}

// IsIdentifier reports whether s lexes as a single Nix identifier
// ([a-zA-Z_][a-zA-Z0-9_'-]*) that is not a keyword (other than "or").
func IsIdentifier(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '\'' || c == '-') {
			return false
		}
	}
	return !IsKeyword(s)
}
