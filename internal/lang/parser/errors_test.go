package parser_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// errs parses src as f.nix and renders its errors as "line:col: msg"
// joined by " | ", or "ok".
func errs(src string, opts parser.Options) string {
	_, err := parser.ParseFile(token.NewFileSet(), "f.nix", []byte(src), opts)
	if err == nil {
		return "ok"
	}
	var b []string
	for _, e := range err.(parser.ErrorList) {
		b = append(b, fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Msg))
	}
	return strings.Join(b, " | ")
}

func TestRecovery(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"one", "{ a = 1 b = 2; c = 3; }", "1:11: syntax error, unexpected '=', expecting ';'"},
		{"bindings", "{ a = (1; b = 2; c = ; }", "1:9: syntax error, unexpected ';', expecting ')' | 1:22: syntax error, unexpected ';'"},
		{"lines", "{\n  a = 1 +;\n  b = 2;\n  c = if;\n}", "2:10: syntax error, unexpected ';' | 4:9: syntax error, unexpected ';'"},
		{"lists", "[ 1 (2 +) 3 ] ++ [ ( ]", "1:9: syntax error, unexpected ')' | 1:22: syntax error, unexpected ']'"},
		{"formals", "{ x ? (, y, z ? 1 + }: x", "1:8: syntax error, unexpected ',' | 1:21: syntax error, unexpected '}'"},
		{"formals bad name", "{ a, 1, b ? ) }: a", "1:6: syntax error, unexpected integer, expecting identifier or '...' or '}' | 1:13: syntax error, unexpected ')'"},
		{"interpolations", `"a ${1 +} b ${2 +} c"`, "1:9: syntax error, unexpected '}' | 1:18: syntax error, unexpected '}'"},
		{"ind string", "''${ ) } ${ ( }''", "1:6: syntax error, unexpected ')' | 1:15: syntax error, unexpected '}'"},
		{"let", "let a = ; b = 1; in a + ; ", "1:9: syntax error, unexpected ';' | 1:25: syntax error, unexpected ';'"},
		{"let in set", "{ a = let b = (; in b; c = ; }", "1:16: syntax error, unexpected ';' | 1:28: syntax error, unexpected ';'"},
		{"rec", "rec { a = [; b = 1; inherit (x) 1; }", "1:12: syntax error, unexpected ';' | 1:33: syntax error, unexpected integer"},
		{"stray closers", "{ a = ); b = 1; c = ]; d = 2; }", "1:7: syntax error, unexpected ')' | 1:21: syntax error, unexpected ']'"},
		// An unexpected '(' is skipped alone, not with all that follows
		// up to its match; a ')' followed by a binding is stray even
		// inside parentheses.
		{"stray opener", "{ ( a = 1; b = ; c = 2; }", "1:3: syntax error, unexpected '(', expecting 'inherit' | 1:16: syntax error, unexpected ';'"},
		{"stray closer", "f ({ a = 1; ) b = 2; c = ; })", "1:13: syntax error, unexpected ')', expecting 'inherit' | 1:26: syntax error, unexpected ';'"},
		// Skipping over a string: a stray closer in its interpolation
		// stays inside it.
		{"skip string", `{ a = 1 + + "x ${ f ) } y" ; b = ; }`, "1:11: syntax error, unexpected '+' | 1:34: syntax error, unexpected ';'"},
		// A ${ } with an error stays a dynamic name, of which a let or
		// inherit is not told.
		{"bad dynamic names", "{ ${(} = 1; ${)} = 2; } // (let ${[} = 1; in { inherit ${]}; })", "1:6: syntax error, unexpected '}' | 1:15: syntax error, unexpected ')' | 1:36: syntax error, unexpected '}' | 1:58: syntax error, unexpected ']'"},
		{"nested sets", "[ { a = ; } { b = ; } ]", "1:9: syntax error, unexpected ';' | 1:19: syntax error, unexpected ';'"},
		{"bind-time then syntax", "{ a = 1; a = 2; b = ; }", "1:10: attribute 'a' already defined at f.nix:1:3 | 1:21: syntax error, unexpected ';'"},
		// Nix reports the syntax error in the body before the duplicate
		// formal (checked when the lambda is reduced); the others follow
		// sorted by position.
		{"first is Nix's", "{ a, a }: { x = (; y = 1; y = 2; }", "1:18: syntax error, unexpected ';' | 1:6: duplicate formal function argument 'a' | 1:27: attribute 'y' already defined at f.nix:1:20"},
		// Cascades: the ')' that the missing '(' leaves, the binding cut
		// short, the extra '}' and 'in' are not reported again.
		{"no cascade after sync", "{ a = 1 ; } }", "1:13: syntax error, unexpected '}', expecting end of file"},
		{"missing paren", "{ a = (f x;\n  b = 2;\n}", "1:11: syntax error, unexpected ';', expecting ')'"},
		{"missing bracket", "{ a = [ 1 2;\n  b = 2;\n}", "1:12: syntax error, unexpected ';'"},
		{"missing brace", "let a = { b = 1; in a", "1:18: syntax error, unexpected 'in', expecting 'inherit'"},
		{"eof", "((((", "1:5: syntax error, unexpected end of file"},
		{"top level", "1 + + 2; { a = ; }", "1:5: syntax error, unexpected '+'"},
		{"lexical error ends", "{ a = (; b = 1.0e99999; c = ; }", "1:8: syntax error, unexpected ';' | 1:14: invalid float '1.0e99999'"},
		{"valid", "{ a = [ (1) \"${x}\" ]; f = { y ? 1 }: y; }", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errs(tt.in, parser.Options{BaseDir: "/"}); got != tt.want {
				t.Errorf("%q:\ngot  %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestTooManyErrors(t *testing.T) {
	src := strings.Repeat("{ a = ; }\n", 20)
	var want []string
	for i := 1; i <= 3; i++ {
		want = append(want, fmt.Sprintf("%d:7: syntax error, unexpected ';'", i))
	}
	want = append(want, "4:7: too many errors")
	if got := errs(src, parser.Options{BaseDir: "/", MaxErrors: 3}); got != strings.Join(want, " | ") {
		t.Errorf("got  %s\nwant %s", got, strings.Join(want, " | "))
	}
	_, err := parser.ParseFile(token.NewFileSet(), "f.nix", []byte(src), parser.Options{BaseDir: "/"})
	if el := err.(parser.ErrorList); len(el) != 11 || el[10].Msg != "too many errors" {
		t.Errorf("default cap: got %d errors, last %v", len(el), el[len(el)-1])
	}
}

// TestRecoveryFirstError checks that recovery does not change the error
// Nix reports: the first error with recovery is the only one without.
func TestRecoveryFirstError(t *testing.T) {
	for _, src := range []string{
		"{ a = 1 b = 2; c = ; }",
		"{ a, a }: { x = (; y = 1; y = 2; }",
		"let a = 1; a = 2; in [ ( ]",
		"{ a = ${x}; b = ; }.${y} or",
		"x: y: { inherit (x) a; b = ''${ ) }'' ; c = ; }",
	} {
		want := errs(src, parser.NoRecover(parser.Options{BaseDir: "/"}))
		got := errs(src, parser.Options{BaseDir: "/"})
		first, _, _ := strings.Cut(got, " | ")
		wantFirst, _, _ := strings.Cut(want, " | ")
		if first != wantFirst || !strings.Contains(got, " | ") {
			t.Errorf("%q: with recovery %s\nwithout %s", src, got, want)
		}
	}
}

// TestRecoveryTerminates parses inputs made to trip recovery: unbalanced
// and mismatched brackets, strings and keywords at odd places. Each must
// end with errors, sorted after the first and bounded.
func TestRecoveryTerminates(t *testing.T) {
	for _, src := range []string{
		strings.Repeat("{ a = ( ; ] ", 200),
		strings.Repeat("[ ) } in ; , ", 200),
		strings.Repeat("let in let { } ; ", 200),
		strings.Repeat("{ x ? , , ( } : ", 200),
		strings.Repeat("\"${ ; ) ] in \" ", 100) + "\"",
		strings.Repeat("''${ ; } ${ ( }'' ", 100),
		strings.Repeat("./p/${ ] }/q ", 100),
		strings.Repeat("{ a = 1; ", 20000),
		strings.Repeat("(", 20000),
		// Deep nesting that gives up level by level: each level must
		// cost O(1), not a walk of the whole stack (was seconds).
		strings.Repeat("{ a = (", 2000) + strings.Repeat(";", 8000),
		strings.Repeat("\"${", 3000) + strings.Repeat(")", 8000),
		strings.Repeat("{ x ? (", 2000) + strings.Repeat(",", 8000),
		strings.Repeat("[ ( ", 3000) + strings.Repeat("; ] ", 3000),
		strings.Repeat("{ a = (", 1000) + strings.Repeat("; a = ", 3000),
	} {
		_, err := parser.ParseFile(token.NewFileSet(), "f.nix", []byte(src), parser.Options{BaseDir: "/"})
		el, ok := err.(parser.ErrorList)
		if !ok || len(el) == 0 || len(el) > 11 {
			t.Errorf("%.30q...: %d errors: %v", src, len(el), err)
			continue
		}
		checkErrorList(t, src, el)
	}
}

// checkErrorList checks the invariants of an error list: positioned
// (except the pure-mode error), the tail sorted, no two at one offset.
func checkErrorList(t *testing.T, src string, el parser.ErrorList) {
	t.Helper()
	seen := map[int]bool{}
	for i, e := range el {
		if !e.Pos.IsValid() && !strings.Contains(e.Msg, "pure mode") {
			t.Errorf("%.40q: error %d without position: %v", src, i, e)
		}
		if seen[e.Pos.Offset] {
			t.Errorf("%.40q: two errors at offset %d: %v", src, e.Pos.Offset, el)
		}
		seen[e.Pos.Offset] = true
		if i > 1 && el[i-1].Pos.Offset > e.Pos.Offset {
			t.Errorf("%.40q: errors after the first not sorted: %v", src, el)
		}
	}
}

var errorMarker = regexp.MustCompile(`/\* ERROR ("(?:[^"\\]|\\.)*") \*/`)

// TestErrorFiles parses testdata/errors/*.nix, whose expected errors are
// written inline as /* ERROR "regexp" */ right before the token the
// error is reported at. Every error must have its marker and every
// marker its error.
func TestErrorFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.nix")
	if len(files) == 0 {
		t.Fatal("no testdata/errors/*.nix")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]*regexp.Regexp{} // offset of the token after the marker
			for _, m := range errorMarker.FindAllSubmatchIndex(src, -1) {
				rx, err := strconv.Unquote(string(src[m[2]:m[3]]))
				if err != nil {
					t.Fatalf("marker %s: %v", src[m[0]:m[1]], err)
				}
				off := m[1]
				for off < len(src) && (src[off] == ' ' || src[off] == '\n') {
					off++
				}
				want[off] = regexp.MustCompile(rx)
			}
			_, err = parser.ParseFile(token.NewFileSet(), f, src, parser.Options{BaseDir: "/"})
			el, _ := err.(parser.ErrorList)
			for _, e := range el {
				rx, ok := want[e.Pos.Offset]
				switch {
				case !ok:
					t.Errorf("unexpected error %v", e)
				case !rx.MatchString(e.Msg):
					t.Errorf("error %v does not match %q", e, rx)
				}
				delete(want, e.Pos.Offset)
			}
			for off, rx := range want {
				t.Errorf("missing error %q at offset %d", rx, off)
			}
		})
	}
}
