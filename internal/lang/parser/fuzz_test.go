package parser_test

import (
	"strings"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// FuzzParse checks that parsing never panics; that errors are positioned
// and render, that the error list is bounded, sorted after the first
// element and free of duplicate positions, and that its first element is
// the error a parse without recovery reports; and that printing reaches
// a fixpoint: Show's output parses,
// and from the second round on printing and parsing give the same text.
// (The first round may differ: Nix prints an interpolated string as
// `("a" + b)`, which parses back as the `+` operator, and floats with
// six significant digits. Interpolated paths keep a trailing slash that
// does not parse back; such trees are skipped.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"{ a.b = 1; a.c = [ 2 ./x ]; inherit (y) z; }",
		"let f = { x ? 1, ... }@a: x + a.y or 2; in f { }",
		"''\n  a ${b}\n  ''$ '''\n''",
		"if a < b then -c else !d // { \"${e}\" = f; }",
		"rec { x = y; y = <nixpkgs>; z = http://a.b; }",
		// Several syntax errors, for recovery.
		"{ a = (1; b = [ 2 ; c = \"${ ) }\"; d = ''${ ] }''; }",
		"{ x ? (, y }: let a = ; b = { c = ]; }; in a",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<14 {
			return
		}
		opts := parser.Options{BaseDir: "/base", HomeDir: "/home"}
		e, err := parser.ParseFile(token.NewFileSet(), "fuzz.nix", src, opts)
		if err != nil {
			el, ok := err.(scanner.ErrorList)
			if !ok || len(el) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if !el[0].Pos.IsValid() {
				t.Fatalf("error without position: %v", el[0])
			}
			for _, e := range el {
				_ = e.Format(src)
			}
			if len(el) > 11 {
				t.Fatalf("%d errors, more than 10 and \"too many errors\"", len(el))
			}
			checkErrorList(t, string(src), el)
			_, err1 := parser.ParseFile(token.NewFileSet(), "fuzz.nix", src, parser.NoRecover(opts))
			el1, ok := err1.(scanner.ErrorList)
			if !ok || *el1[0] != *el[0] {
				t.Fatalf("first error %v, without recovery %v", el[0], err1)
			}
			return
		}
		if e == nil {
			t.Fatal("nil expression without error")
		}
		out1 := ast.Show(e)
		if !reparseable(e) {
			return
		}
		e2, err := parser.ParseFile(token.NewFileSet(), "fuzz.nix", []byte(out1), opts)
		if err != nil {
			t.Fatalf("printed form does not parse: %v\nsource: %q\nprinted: %s", err, src, out1)
		}
		out2 := ast.Show(e2)
		if !reparseable(e2) {
			return
		}
		e3, err := parser.ParseFile(token.NewFileSet(), "fuzz.nix", []byte(out2), opts)
		if err != nil {
			t.Fatalf("second printed form does not parse: %v\nsource: %q\nprinted: %s", err, src, out2)
		}
		if out3 := ast.Show(e3); out3 != out2 {
			t.Fatalf("print is not a fixpoint\nsource: %q\nsecond: %s\nthird:  %s", src, out2, out3)
		}
	})
}

// reparseable reports whether Show's output of e can be expected to
// parse back to the same tree.
func reparseable(e ast.Expr) bool {
	ok := true
	ast.Inspect(e, func(n ast.Expr) bool {
		switch x := n.(type) {
		case *ast.Path:
			if strings.HasSuffix(x.Value, "/") {
				ok = false
			}
		case *ast.Var:
			// `or` is a keyword at the start of an expression.
			if x.Name == "or" {
				ok = false
			}
		case *ast.Lambda:
			if x.Arg == "or" {
				ok = false
			}
		}
		return ok
	})
	return ok
}
