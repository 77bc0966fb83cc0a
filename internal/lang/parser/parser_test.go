package parser_test

import (
	"strings"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// show parses src as «stdin» and returns the printed AST, or "ERR " and
// the first error.
func show(src string) string {
	e, err := parseStdin([]byte(src))
	if err != nil {
		return "ERR " + err.(scanner.ErrorList)[0].Error()
	}
	return ast.Show(e)
}

// The expected outputs agree with `nix-instantiate --parse` of Nix 2.8
// where 2.8 and current Nix print alike, and follow current Nix's
// printer otherwise (sorted attributes and formals, grouped inherits,
// no escaping of a lone '$').
func TestShow(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"hasattr chain", "a ? b ? c", "((((a) ? b)) ? c)"},
		{"neg hasattr", "-a ? b", "(((__sub 0 a)) ? b)"},
		{"not hasattr", "!a ? b", "(! ((a) ? b))"},
		{"not eq", "! a == b", "((! a) == b)"},
		{"not plus", "!a + b", "(! (a + b))"},
		{"neg not", "- !a + b", "(__sub 0 (! (a + b)))"},
		{"mul not", "a * !b + c", "(__mul a (! (b + c)))"},
		{"sub left", "a - b - c", "(__sub (__sub a b) c)"},
		{"update right", "a // b // c", "(a // (b // c))"},
		{"concat right", "a ++ b ++ c", "(a ++ (b ++ c))"},
		{"impl right", "a -> b -> c", "(a -> (b -> c))"},
		{"or and", "a || b && c", "(a || (b && c))"},
		{"lt", "a < b", "(__lessThan a b)"},
		{"gt", "a > b", "(__lessThan b a)"},
		{"leq", "a <= b", "(! (__lessThan b a))"},
		{"geq", "a >= b", "(! (__lessThan a b))"},
		{"div", "a / b", "(__div a b)"},
		{"neg", "-1", "(__sub 0 1)"},
		{"app", "f a b c", "(f a b c)"},
		{"app flatten parens", "(f a) b", "(f a b)"},
		{"app flatten desugared", "(a - b) c", "(__sub a b c)"},
		{"spath", "<nixpkgs/lib>", "(__findFile __nixPath \"nixpkgs/lib\")"},
		{"spath app", "<nixpkgs> {}", "(__findFile __nixPath \"nixpkgs\" { })"},
		{"cursed or arg", "f x or y", "(f (x or) y)"},
		{"or as arg", "map or [ ]", "(map or [ ])"},
		{"or in list", "[ a or ]", "[ ((a or)) ]"},
		{"select or", "x.y or z", "(x).y or (z)"},
		{"select or chain", "a.b.c or d.e or f", "(a).b.c or ((d).e or (f))"},
		{"select quoted", `a."b c".${d}`, `(a)."b c"."${d}"`},
		{"select static interp", `a.${"b"}`, "(a).b"},
		{"dynamic attr", `{ "${a}" = 1; }`, `{ "${(a)}" = 1; }`},
		{"dynamic static", `{ ${"a"} = 1; }`, `{ a = 1; }`},
		{"nested", "{ a.b.c = 1; a.b.d = 2; }", "{ a = { b = { c = 1; d = 2; }; }; }"},
		{"merge sets", "{ a = { b = 1; }; a = { c = 2; }; }", "{ a = { b = 1; c = 2; }; }"},
		{"merge into rec", "{ a = rec { b = 1; }; a.c = 2; }", "{ a = rec { b = 1; c = 2; }; }"},
		{"merge drops rec", "{ a.c = 2; a = rec { b = 1; }; }", "{ a = { b = 1; c = 2; }; }"},
		{"legacy let", "let { body = 1; }", "(rec { body = 1; }).body"},
		{"lambda formals", "{ b, a ? 1, ... }@args: a", "({ a ? 1, b, ... } @ args: a)"},
		{"lambda at first", "args@{ a, ... }: a", "({ a, ... } @ args: a)"},
		{"ellipsis only", "{ ... }: 1", "({ ... }: 1)"},
		{"empty formals", "{ }: 1", "({  }: 1)"},
		{"empty formals at", "{ } @ x: x", "({  } @ x: x)"},
		{"floats", "[ 1.5 .5 1. 100000.0 1234567.0 0.0001 0.00001 ]", "[ (1.5) (0.5) (1) (100000) (1.23457e+06) (0.0001) (1e-05) ]"},
		{"string interp", `"a${b}c"`, `("a" + b + "c")`},
		{"string only interp", `"${b}"`, "(b)"},
		{"string escapes", `"a\nb\tc\\d\"e\${f}"`, `"a\nb\tc\\d\"e\${f}"`},
		{"string dollar", `"$$" + "a$"`, `("$$" + "a$")`},
		{"ind string", "''\n  a\n    b\n''", `"a\n  b\n"`},
		{"ind escapes", "''''$ ''' ''\\n ${x}''", `("$" + " " + "''" + " " + "\n" + " " + x)`},
		{"ind interp", "''a${b}''", `("a" + b)`},
		{"ind empty", "''''", `""`},
		{"ind spaces only", "''\n  \n''", `"\n"`},
		{"path", "./a/b/../c", "/pwd/a/c"},
		{"path parent", "../../../x", "/x"},
		{"path interp slash", "./a/${b}", "(/pwd/a/ + b)"},
		{"path interp glued", "./a${b}.nix", `(/pwd/a + b + ".nix")`},
		{"abs path interp", "/x/${a}/y", `(/x/ + a + "/y")`},
		{"home path", "~/foo/../bar", "/fake-home/foo/../bar"},
		{"uri", "http://example.org/foo?x=y", `"http://example.org/foo?x=y"`},
		{"uri lambda lookalike", "x:x", `"x:x"`},
		{"curpos", "__curPos", "__curPos"},
		{"let", "let a = 1; in a", "(let a = 1; in a)"},
		{"empty let", "let in 1", "(let in 1)"},
		{"with", "with a; b", "(with a; b)"},
		{"assert", "assert a; b", "assert a; b"},
		{"if", "if a then b else c", "(if a then b else c)"},
		{"inherits", "{ inherit a b; inherit (c) d; e = 1; inherit (f) g; }", "{ inherit a b; inherit (c) d; inherit (f) g; e = 1; }"},
		{"inherit or", "{ inherit or; or = 1; }", "ERR «stdin»:1:15: attribute 'or' already defined at «stdin»:1:11"},
		{"or attr", "{ or = 1; }.or", "({ or = 1; }).or"},
		{"quoted names", `{ "a b" = 1; "" = 2; "if" = 3; }`, `{ "" = 2; "a b" = 1; "if" = 3; }`},
		{"quoted let", `let "a" = 1; in a`, "(let a = 1; in a)"},
		{"neg select", "-a.b", "(__sub 0 (a).b)"},
		{"f minus", "f -1", "(__sub f 1)"},
		{"dash ident", "a-b", "a-b"},
		{"list concat", "a ++ [ 1 ] ++ b", "(a ++ ([ (1) ] ++ b))"},
		{"lambda name", "{ a = x: y: x; }.a", "({ a = (x: (y: x)); }).a"},
		{"app of let", "f (let a = 1; in a)", "(f (let a = 1; in a))"},
		{"nul in source", "1\x00 garbage", "1"},
		{"crlf ind", "''\r\n  a\r\n''", `"\r\n  a\r\n"`},
		{"rec", "rec { a = 1; b = a; }", "rec { a = 1; b = a; }"},
		{"inherit from merged", "{ a = { inherit (x) p; }; a = { inherit (y) q r; }; }", "{ a = { inherit (x) p; inherit (y) q r; }; }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := show(tt.in); got != tt.want {
				t.Errorf("%q\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestErrors pins parse error messages. Where they depend on Bison's
// LALR states, the expected lists follow current Nix's grammar
// (parser.y with default reductions), as the parse-fail goldens do.
func TestErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"eof", "", "«stdin»:1:1: syntax error, unexpected end of file"},
		{"top closer", "1 )", "«stdin»:1:3: syntax error, unexpected ')', expecting end of file"},
		{"paren", "(1", "«stdin»:1:3: syntax error, unexpected end of file, expecting ')'"},
		{"then", "if a else", "«stdin»:1:6: syntax error, unexpected 'else', expecting 'then'"},
		{"else", "if a then b", "«stdin»:1:12: syntax error, unexpected end of file, expecting 'else'"},
		{"assert semi", "assert a b", "«stdin»:1:11: syntax error, unexpected end of file, expecting ';'"},
		{"set first", "{ 1 = x; }", "«stdin»:1:3: syntax error, unexpected integer, expecting 'inherit'"},
		{"set later", "{ a = 1; 2 }", "«stdin»:1:10: syntax error, unexpected integer, expecting 'inherit'"},
		{"rec set", "rec { 1", "«stdin»:1:7: syntax error, unexpected integer, expecting 'inherit' or '}'"},
		{"let binds", "let 1", "«stdin»:1:5: syntax error, unexpected integer, expecting 'in' or 'inherit'"},
		{"let close brace", "let a = 1; }", "«stdin»:1:12: syntax error, unexpected '}', expecting 'in' or 'inherit'"},
		{"attr value", "{ a = 1 }", "«stdin»:1:9: syntax error, unexpected '}', expecting ';'"},
		{"attrpath", "{ a b }", "«stdin»:1:5: syntax error, unexpected identifier, expecting '.' or '='"},
		{"select", "a.[", "«stdin»:1:3: syntax error, unexpected '[', expecting identifier or 'or' or '${' or '\"'"},
		{"formals after comma", "{x, 1}: x", "«stdin»:1:5: syntax error, unexpected integer, expecting identifier or '...' or '}'"},
		{"formals no colon", "{x} 1", "«stdin»:1:5: syntax error, unexpected integer, expecting ':' or '@'"},
		{"at no brace", "x @ 1", "«stdin»:1:5: syntax error, unexpected integer, expecting '{'"},
		{"formal default", "{ a ? 1 ; }: a", "«stdin»:1:9: syntax error, unexpected ';', expecting '}' or ','"},
		{"ellipsis close", "{ ..., a }: 1", "«stdin»:1:6: syntax error, unexpected ',', expecting '}'"},
		{"string eof", `"abc`, "«stdin»:1:5: syntax error, unexpected end of file, expecting '\"'"},
		{"ind eof", "''abc", "«stdin»:1:6: syntax error, unexpected end of file, expecting indented string or '${' or end of an indented string"},
		{"interp close", `"${a"`, "«stdin»:1:6: syntax error, unexpected end of file, expecting '\"'"},
		{"interp close 2", `"${a;"`, "«stdin»:1:5: syntax error, unexpected ';', expecting '}'"},
		{"nonassoc eq", "a == b == c", "«stdin»:1:8: syntax error, unexpected '=='"},
		{"nonassoc lt", "1 < 2 < 3", "«stdin»:1:7: syntax error, unexpected '<'"},
		{"app let", "f let", "«stdin»:1:6: syntax error, unexpected end of file, expecting '{'"},
		{"list", "[ 1 2", "«stdin»:1:6: syntax error, unexpected end of file"},
		{"inherit from", "{ inherit (a b; }", "«stdin»:1:15: syntax error, unexpected ';', expecting ')'"},
		{"inherit uri", "{ inherit http://x; }", "«stdin»:1:11: syntax error, unexpected URI"},
		{"inherit dynamic", "{ inherit ${a}; }", "«stdin»:1:11: dynamic attributes not allowed in inherit"},
		{"let dynamic", "let ${a} = 1; in 1", "«stdin»:1:1: dynamic attributes not allowed in let"},
		{"dup attr", "{ a = 1; a = 2; }", "«stdin»:1:10: attribute 'a' already defined at «stdin»:1:3"},
		{"dup nested", "{ a = 1; a.b = 2; }", "«stdin»:1:10: attribute 'a' already defined at «stdin»:1:3"},
		{"dup quoted", `{ "a b".c = 1; "a b".c = 2; }`, `«stdin»:1:16: attribute '"a b".c' already defined at «stdin»:1:3`},
		{"dup inherit", "{ inherit a; a = 1; }", "«stdin»:1:14: attribute 'a' already defined at «stdin»:1:11"},
		{"dup formal", "{ a, b, a }: 1", "«stdin»:1:9: duplicate formal function argument 'a'"},
		{"dup formal arg", "a@{ a }: 1", "«stdin»:1:1: duplicate formal function argument 'a'"},
		{"trailing slash", "./a/ ", "«stdin»:1:5: path has a trailing slash"},
		{"invalid int", "99999999999999999999", "«stdin»:1:1: invalid integer '99999999999999999999'"},
		{"invalid token", "123 é 4", "«stdin»:1:5: syntax error, unexpected invalid token, expecting end of file"},
		{"pipe", "1 |> 2", "«stdin»:1:3: experimental Nix feature 'pipe-operators' is disabled; add '--extra-experimental-features pipe-operators' to enable it"},
		{"unterminated comment", "1 /* x", "«stdin»:1:4: syntax error, unexpected '*'"},
		{"nul string", "\"a\x00b\"", "«stdin»:1:2: input string 'a␀b' cannot be represented as Nix string because it contains null bytes"},
		{"or at start", "or", "«stdin»:1:1: syntax error, unexpected 'or'"},
		{"select or eof", "x.a or", "«stdin»:1:7: syntax error, unexpected end of file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := show(tt.in); got != "ERR "+tt.want {
				t.Errorf("%q\n got %s\nwant ERR %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestPositions checks the positions the parser records, which
// evaluation errors and unsafeGetAttrPos expose.
func TestPositions(t *testing.T) {
	src := "{\n  a = x: x;\n  inherit b;\n  c.d = f 1;\n  e = \"s${t}\";\n}"
	fset := token.NewFileSet()
	e, err := parser.ParseFile(fset, "f.nix", []byte(src), stdinOpts)
	if err != nil {
		t.Fatal(err)
	}
	pos := func(p token.Pos) string { return fset.Position(p).String() }
	attrs := e.(*ast.Attrs)
	var got []string
	add := func(what string, p token.Pos) { got = append(got, what+"="+pos(p)) }
	add("set", attrs.Pos())
	for _, d := range attrs.Attrs {
		add(d.Name, d.NamePos)
		add(d.Name+".value", d.Value.Pos())
	}
	l := attrs.Lookup("a").Value.(*ast.Lambda)
	if l.Name != "a" {
		t.Errorf("lambda name %q", l.Name)
	}
	d := attrs.Lookup("c").Value.(*ast.Attrs).Lookup("d")
	add("c.d", d.NamePos)
	add("c.d.value", d.Value.Pos())
	cs := attrs.Lookup("e").Value.(*ast.ConcatStrings)
	add("e.part0", cs.Parts[0].At)
	add("e.part1", cs.Parts[1].At)
	want := "set=f.nix:1:1 a=f.nix:2:3 a.value=f.nix:2:7 b=f.nix:3:11 b.value=f.nix:3:11 c=f.nix:4:3 c.value=«none» e=f.nix:5:3 e.value=f.nix:5:8 c.d=f.nix:4:3 c.d.value=f.nix:4:9 e.part0=f.nix:5:8 e.part1=f.nix:5:9"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
}

// TestDeepNesting checks that pathological nesting gives an error, not a
// stack overflow.
func TestDeepNesting(t *testing.T) {
	for _, open := range []string{"[", "(", "{ a = ", "!", "-", "x: ", "a ++ ", "if a then b else "} {
		src := strings.Repeat(open, 100000) + "1"
		_, err := parseStdin([]byte(src))
		if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
			t.Errorf("%q x 1e5: got %v", open, err)
		}
	}
	// Moderate nesting is fine.
	src := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	if _, err := parseStdin([]byte(src)); err != nil {
		t.Errorf("1000 nested lists: %v", err)
	}
}

func TestPipeOperators(t *testing.T) {
	opts := stdinOpts
	opts.PipeOperators = true
	for in, want := range map[string]string{
		"a |> f |> g":             "(g (f a))",
		"x |> f a":                "(f a x)",
		"f <| g <| x":             "(f (g x))",
		"a + b |> f":              "(f (a + b))",
		"[ (a |> f) ]":            "[ ((f a)) ]",
		"a |> f <| b":             "ERR «stdin»:1:8: syntax error, unexpected '<|', expecting end of file",
		"if a |> f then b else c": "(if (f a) then b else c)",
	} {
		e, err := parser.ParseFile(token.NewFileSet(), "«stdin»", []byte(in), opts)
		got := ""
		if err != nil {
			got = "ERR " + err.(scanner.ErrorList)[0].Error()
		} else {
			got = ast.Show(e)
		}
		if got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}

func TestPure(t *testing.T) {
	opts := stdinOpts
	opts.Pure = true
	_, err := parser.ParseFile(token.NewFileSet(), "f.nix", []byte("~/a"), opts)
	el, _ := err.(scanner.ErrorList)
	if len(el) != 1 || el[0].Pos.IsValid() || el[0].Format(nil) != "error: the path '~/a' can not be resolved in pure mode\n" {
		t.Errorf("got %v", err)
	}
}

func TestWarnCursedOr(t *testing.T) {
	var warnings []string
	opts := stdinOpts
	opts.Warn = func(pos token.Pos, msg string) { warnings = append(warnings, msg) }
	src := "let or = 1; in [ (x: x) or ] ++ [ (map or []) ]"
	if _, err := parser.ParseFile(token.NewFileSet(), "f.nix", []byte(src), opts); err != nil {
		t.Fatal(err)
	}
	want := "at f.nix:1:18: This expression uses `or` as an identifier in a way that will change in a future Nix release.\n" +
		"Wrap this entire expression in parentheses to preserve its current meaning:\n" +
		"    ((x: x) or)\n" +
		"Give feedback at https://github.com/NixOS/nix/pull/11121"
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("got %q", warnings)
	}
}
