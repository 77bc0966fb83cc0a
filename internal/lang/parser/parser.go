// Package parser parses Nix expressions into the syntax tree of package
// ast.
//
// It is a hand-written recursive-descent parser with operator-precedence
// parsing for the binary operators, following CppNix's Bison grammar
// (src/libexpr/parser.y): the same precedences and associativity, the same
// desugaring, the same positions, the same bind-time errors (duplicate
// attributes and formals) and the same syntax error messages, including
// Bison's lists of expected tokens. It does no I/O.
//
// Errors: Nix stops at the first error. This parser reports it exactly
// as Nix does and goes on to find more, up to Options.MaxErrors: after
// bind-time errors (duplicate attributes and formals, dynamic attributes
// where they are not allowed) it simply continues, after a syntax error
// it recovers at the next binding, formal, or closing bracket (see
// recover.go). Lexical errors end the parse. The result is an ErrorList
// whose first element is the error Nix reports (the first detected) and
// whose others are sorted by position; the expression returned with it
// is partial. Undefined variables are not the parser's business: they
// need scopes (see the evaluator's compiler).
package parser

import (
	"cairn/internal/lang/ast"
	"cairn/internal/lang/token"
)

// Options configures a parse.
type Options struct {
	// BaseDir is the absolute directory against which relative path
	// literals are resolved (the directory of the file, or the current
	// directory for stdin and -E).
	BaseDir string
	// HomeDir is $HOME, used for `~/` path literals.
	HomeDir string
	// PipeOperators enables `|>` and `<|` (Nix's experimental feature
	// pipe-operators); without it they are an error when lexed.
	PipeOperators bool
	// Pure rejects `~/` path literals, as Nix does in pure evaluation
	// mode ("the path '~/x' can not be resolved in pure mode").
	Pure bool
	// MaxDepth limits expression nesting; 0 means DefaultMaxDepth. Nix's
	// LR parser has no such limit, but a Go stack must be bounded.
	MaxDepth int
	// MaxErrors caps the errors collected; 0 means 10. One more error
	// ends the parse with a final "too many errors" at its position.
	MaxErrors int
	// Warn, if set, receives parse warnings (the deprecated use of `or`
	// as an identifier). msg is what Nix prints after "warning: ".
	Warn func(pos token.Pos, msg string)
	// Lints selects the diagnostics for discouraged literals (Nix's
	// lint-* settings); the zero value ignores them all.
	Lints Lints
	// Diagnose, if set, receives lint warnings (LintWarn): msg is what Nix
	// prints after "warning: ", without the position, which is pos.
	Diagnose func(pos token.Pos, msg string)

	noRecover bool // stop at the first syntax error (tests)
}

// LintLevel is the level of one lint: Nix's "ignore", "warn" or "fatal".
type LintLevel uint8

// Lint levels.
const (
	LintIgnore LintLevel = iota
	LintWarn             // report through Options.Diagnose and go on
	LintFatal            // a parse error at the literal
)

// ParseLintLevel parses a lint setting's value ("ignore", "warn", "fatal").
func ParseLintLevel(s string) (LintLevel, bool) {
	switch s {
	case "ignore":
		return LintIgnore, true
	case "warn":
		return LintWarn, true
	case "fatal":
		return LintFatal, true
	}
	return LintIgnore, false
}

// Lints are the levels of Nix's literal lints.
type Lints struct {
	AbsolutePathLiterals LintLevel // lint-absolute-path-literals: `/abs` and `~/home` paths
	ShortPathLiterals    LintLevel // lint-short-path-literals: `a/b` instead of `./a/b`
	URLLiterals          LintLevel // lint-url-literals: unquoted `http://…`
}

// DefaultMaxDepth is the default nesting limit.
const DefaultMaxDepth = 10000

// ParseFile parses src, the content of filename, adding the file to fset.
// It returns the expression and, on failure, an ErrorList whose first
// element is the error Nix reports. After an error the returned
// expression may be partial or nil, with nil subexpressions. src is retained by the File and
// shared by strings in the AST, so it must not be modified afterwards.
func ParseFile(fset *token.FileSet, filename string, src []byte, opts Options) (ast.Expr, error) {
	file := fset.AddFile(filename, len(src))
	file.SetSource(src)
	return Parse(file, src, opts)
}

// Parse is like ParseFile for a file already added to a FileSet. The
// caller must have called file.SetSource or accept positions without
// line numbers.
func Parse(file *token.File, src []byte, opts Options) (expr ast.Expr, err error) {
	var p parser
	defer func() {
		if r := recover(); r != nil {
			switch r.(type) {
			case bailout, syntaxErr:
			default:
				panic(r)
			}
		}
		p.finish()
		if len(p.errors) > 0 {
			// The first error is the one Nix reports; sort the others.
			p.errors[1:].Sort()
			err = p.errors
		}
	}()
	p.init(file, src, opts)
	expr = p.parseTop()
	return expr, nil
}

// ParseExpr parses src as an expression from «string» or «stdin»-like
// sources; it is ParseFile with a fresh FileSet.
func ParseExpr(filename string, src []byte, opts Options) (ast.Expr, *token.FileSet, error) {
	fset := token.NewFileSet()
	e, err := ParseFile(fset, filename, src, opts)
	return e, fset, err
}
