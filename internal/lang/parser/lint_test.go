package parser_test

import (
	"strings"
	"testing"

	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// TestLints checks the literal lints: warnings are "line:col msg", a fatal
// lint is "ERR" and the parse error.
func TestLints(t *testing.T) {
	all := func(l parser.LintLevel) parser.Lints { return parser.Lints{l, l, l} }
	tests := []struct {
		name  string
		in    string
		lints parser.Lints
		want  string
	}{
		{"ignored", "[ /a b/c ~/d http://x.org ]", parser.Lints{}, ""},
		{"abs warn", "/tmp/foo", all(parser.LintWarn), "1:1 absolute path literals are not portable. Consider replacing path literal '/tmp/foo' by a string, relative path, or parameter (lint-absolute-path-literals)"},
		{"home warn", "x ~/foo", all(parser.LintWarn), "1:3 home path literals are not portable. Consider replacing path literal '~/foo' by a string, relative path, or parameter (lint-absolute-path-literals)"},
		{"short warn", "[\n  a/b ./c ../d ]", all(parser.LintWarn), "2:3 relative path literal 'a/b' should be prefixed with '.' for clarity: './a/b' (lint-short-path-literals)"},
		{"short interpolated", "a/${x}", all(parser.LintWarn), "1:1 relative path literal 'a/' should be prefixed with '.' for clarity: './a/' (lint-short-path-literals)"},
		{"url warn", "http://example.com", all(parser.LintWarn), `1:1 URL literals are discouraged. Consider using a string literal "http://example.com" instead (lint-url-literals)`},
		{"url fatal", "http://example.com", all(parser.LintFatal), `ERR «stdin»:1:1: URL literals are disallowed. Consider using a string literal "http://example.com" instead (lint-url-literals)`},
		{"abs fatal only", "[ a/b /c ]", parser.Lints{AbsolutePathLiterals: parser.LintFatal}, "ERR «stdin»:1:7: absolute path literals are not portable. Consider replacing path literal '/c' by a string, relative path, or parameter (lint-absolute-path-literals)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			fset := token.NewFileSet()
			_, err := parser.ParseFile(fset, "«stdin»", []byte(tt.in), parser.Options{
				BaseDir: "/b", HomeDir: "/h", Lints: tt.lints,
				Diagnose: func(p token.Pos, msg string) {
					pos := fset.Position(p)
					got = append(got, strings.TrimPrefix(pos.String(), "«stdin»:")+" "+msg)
				},
			})
			if err != nil {
				got = append(got, "ERR "+err.(scanner.ErrorList)[0].Error())
			}
			if s := strings.Join(got, "\n"); s != tt.want {
				t.Errorf("got  %q\nwant %q", s, tt.want)
			}
		})
	}
}
