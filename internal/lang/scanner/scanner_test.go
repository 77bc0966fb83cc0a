package scanner

import (
	"fmt"
	"strings"
	"testing"

	"cairn/internal/lang/token"
)

// scan renders the tokens of src compactly: kind names, with values for
// literals, e.g. `ID(a) '.' ID(b) EOF`.
func scan(src string) string {
	var s Scanner
	var errs []string
	b := []byte(src)
	s.Init(nil, b, func(pos token.Pos, msg string) { errs = append(errs, fmt.Sprintf("%d:%s", int(pos)-1, msg)) })
	var out []string
	for i := 0; i < 1000; i++ {
		var t Tok
		s.Next(&t)
		var w string
		switch t.Kind {
		case token.ID:
			w = "ID(" + string(s.Text(&t)) + ")"
		case token.INT:
			w = fmt.Sprintf("INT(%d)", t.Int)
		case token.FLOAT:
			w = fmt.Sprintf("FLOAT(%g)", t.Float)
		case token.STR:
			w = fmt.Sprintf("STR(%q)", s.StringValue(&t))
		case token.IND_STR:
			ind := ""
			if !t.HasIndent {
				ind = "!"
			}
			w = fmt.Sprintf("IND%s(%q)", ind, s.StringValue(&t))
		case token.PATH, token.HPATH, token.SPATH, token.URI:
			w = t.Kind.String() + "(" + string(s.Text(&t)) + ")"
		case token.PATH_END:
			w = "PATH_END"
		case token.EOF:
			w = "EOF"
		default:
			w = t.Kind.String()
		}
		out = append(out, w)
		if t.Kind == token.EOF {
			break
		}
	}
	r := strings.Join(out, " ")
	if len(errs) > 0 {
		r += " ERR " + strings.Join(errs, "; ")
	}
	return r
}

func TestScan(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "EOF"},
		{"keywords", "if then else assert with let in rec inherit or", "'if' 'then' 'else' 'assert' 'with' 'let' 'in' 'rec' 'inherit' 'or' EOF"},
		{"ident chars", "a-b'c_d iff", "ID(a-b'c_d) ID(iff) EOF"},
		{"operators", "== != <= >= && || -> // ++ ... ! < > + - * / ? : @ ; . , = ( ) [ ]", "'==' '!=' '<=' '>=' '&&' '||' '->' '//' '++' '...' '!' '<' '>' '+' '-' '*' '/' '?' ':' '@' ';' '.' ',' '=' '(' ')' '[' ']' EOF"},
		{"int", "0 007 123", "INT(0) INT(7) INT(123) EOF"},
		{"int overflow", "9223372036854775808", "EOF ERR 0:invalid integer '9223372036854775808'"},
		{"int max", "9223372036854775807", "INT(9223372036854775807) EOF"},
		{"floats", "1.5 .5 1. 0.5e3 1.5E-2", "FLOAT(1.5) FLOAT(0.5) FLOAT(1) FLOAT(500) FLOAT(0.015) EOF"},
		{"not floats", "1e3 0. 01.5", "INT(1) ID(e3) INT(0) '.' INT(1) FLOAT(0.5) EOF"},
		{"float overflow", "1.0e999", "EOF ERR 0:invalid float '1.0e999'"},
		{"float underflow", "1.0e-400", "EOF ERR 0:invalid float '1.0e-400'"},
		{"float zero", "0.0e-400", "FLOAT(0) EOF"},
		{"float subnormal", "1.0e-310", "EOF ERR 0:invalid float '1.0e-310'"},
		{"float min normal", "2.2250738585072014e-308", "FLOAT(2.2250738585072014e-308) EOF"},
		{"paths", "./a a/b 1/2 a.b/c /x ../y", "path(./a) PATH_END path(a/b) PATH_END path(1/2) PATH_END path(a.b/c) PATH_END path(/x) PATH_END path(../y) PATH_END EOF"},
		{"path vs ops", "a//b a / b ...", "ID(a) '//' ID(b) ID(a) '/' ID(b) '...' EOF"},
		{"path ellipsis", ".../a", "path(.../a) PATH_END EOF"},
		{"trailing slash", "./a/ ", "path(./a/) EOF ERR 4:path has a trailing slash"},
		{"trailing slash eof", "x ./a/", "ID(x) path(./a/) EOF ERR 2:path has a trailing slash"},
		{"path interpolation", "./a/${b}.nix", "path(./a/) '${' ID(b) '}' STR(\".nix\") PATH_END EOF"},
		{"path seg interpolation", "a/${b}", "path(a/) '${' ID(b) '}' PATH_END EOF"},
		{"path glued interpolation", "./a${b}/c/${d}", "path(./a) '${' ID(b) '}' STR(\"/c/\") '${' ID(d) '}' PATH_END EOF"},
		{"home path", "~/a/b ~/${x}", "'~/…' path(~/a/b) PATH_END '~/…' path(~/) '${' ID(x) '}' PATH_END EOF"},
		{"tilde", "~", "invalid token EOF"},
		{"spath", "<nixpkgs> <a/b.c> <a", "'<…>' path(<nixpkgs>) '<…>' path(<a/b.c>) '<' ID(a) EOF"},
		{"uri", "http://x.org/a?b=c x:x x: x", "URI(http://x.org/a?b=c) URI(x:x) ID(x) ':' ID(x) EOF"},
		{"string", `"a\nb\$\"c" ""`, `'"' STR("a\nb$\"c") '"' '"' '"' EOF`},
		{"string dollar", `"$" "a$$" "$${x}"`, `'"' STR("$") '"' '"' STR("a$$") '"' '"' STR("$${x}") '"' EOF`},
		{"string interp", `"a${b}c"`, `'"' STR("a") '${' ID(b) '}' STR("c") '"' EOF`},
		{"string nested braces", `"${ {a=1;}.a }"`, `'"' '${' '{' ID(a) '=' INT(1) ';' '}' '.' ID(a) '}' '"' EOF`},
		{"string crlf", "\"a\r\nb\rc\\r\"", `'"' STR("a\nb\nc\r") '"' EOF`},
		{"string eof dollar", `"a$`, `'"' STR("a") EOF`},
		{"string eof backslash", `"\`, `'"' EOF`},
		{"ind string", "''\n  a\n  b''", `start of an indented string IND("  a\n  b") end of an indented string EOF`},
		{"ind escapes", "''" + "'''" + "''$" + "'''" + "''\\n" + "''\\x" + "''", `start of an indented string IND!("''") IND!("$") IND!("''") IND!("\n") IND!("x") end of an indented string EOF`},
		{"ind dollar quote", "''a'$b$'c''", `start of an indented string IND("a") IND!("'") IND("$b") IND!("$") IND("'c") end of an indented string EOF`},
		{"ind interp", "''a${b}''", `start of an indented string IND("a") '${' ID(b) '}' end of an indented string EOF`},
		{"ind open spaces", "''   \nx''", `start of an indented string IND("x") end of an indented string EOF`},
		{"ind open crlf", "''\r\nx''", `start of an indented string IND("\r\nx") end of an indented string EOF`},
		{"comments", "a # c\nb /* c */ c /** d */ d", "ID(a) ID(b) ID(c) ID(d) EOF"},
		{"comment cr", "# c\rb", "ID(b) EOF"},
		{"unterminated comment", "/* a", "'/' '*' ID(a) EOF"},
		{"invalid", "é &", `invalid token invalid token invalid token EOF`},
		{"nul", "a\x00b", "ID(a) EOF"},
		{"braces pop", "} } a", "'}' '}' ID(a) EOF"},
		{"pipes", "|> <|", "'|>' '<|' EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scan(tt.in); got != tt.want {
				t.Errorf("scan(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	src := []byte("{\n  x = 1;\r\n  x = 2;\r}")
	fset := token.NewFileSet()
	f := fset.AddFile("«stdin»", len(src))
	f.SetSource(src)
	e := &Error{Pos: f.Position(f.Pos(14)), Msg: "attribute 'x' already defined at «stdin»:2:3"}
	want := `error: attribute 'x' already defined at «stdin»:2:3
       at «stdin»:3:3:
            2|   x = 1;
            3|   x = 2;
             |   ^
            4| }
`
	if got := e.Format(src); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
