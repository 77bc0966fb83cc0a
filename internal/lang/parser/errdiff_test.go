package parser_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// nix28Names maps Nix 2.8's Bison token names to current Nix's.
var nix28Names = map[string]string{
	"ID": "identifier", "STR": "string", "IND_STR": "indented string", "INT": "integer",
	"FLOAT": "floating-point literal", "PATH": "path", "HPATH": "'~/…' path", "SPATH": "'<…>' path",
	"PATH_END": "end of path", "URI": "URI", "IF": "'if'", "THEN": "'then'", "ELSE": "'else'",
	"ASSERT": "'assert'", "WITH": "'with'", "LET": "'let'", "IN": "'in'", "REC": "'rec'",
	"INHERIT": "'inherit'", "EQ": "'=='", "NEQ": "'!='", "LEQ": "'<='", "GEQ": "'>='",
	"UPDATE": "'//'", "CONCAT": "'++'", "AND": "'&&'", "OR": "'||'", "IMPL": "'->'",
	"OR_KW": "'or'", "DOLLAR_CURLY": "'${'", "IND_STRING_OPEN": "start of an indented string",
	"IND_STRING_CLOSE": "end of an indented string", "ELLIPSIS": "'...'", "$undefined": "invalid token",
}

var nix28Err = regexp.MustCompile(`(?s)^error: syntax error, unexpected (.*?)(?:, expecting [^\n]*)?\n.*?at «stdin»:(\d+):(\d+):`)

// TestSyntaxErrorsAgainstNix28 inserts stray tokens into files of
// $CAIRN_ERRDIFF (a glob) at several points and checks that we report a
// syntax error at the same place and on the same token as Nix 2.8. (The
// expected-token lists differ between 2.8's grammar and current Nix's,
// and 2.8 reports "end of file" at the start of the last token rather
// than at the end; neither is compared.)
func TestSyntaxErrorsAgainstNix28(t *testing.T) {
	glob := os.Getenv("CAIRN_ERRDIFF")
	if glob == "" {
		t.Skip("SKIPPING: set CAIRN_ERRDIFF=<glob> to compare syntax errors with nix-instantiate 2.8")
	}
	ni, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(glob)
	same, diff, skipped := 0, 0, 0
	for _, f := range files {
		full, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, frac := range []int{2, 3, 5, 7, 11, 13} {
			cut := len(full) * (frac - 1) / frac
			ins := []string{" ) ", " ; ", " in ", " = ", " } ", " then "}[i]
			src := append(append(append([]byte{}, full[:cut]...), ins...), full[cut:]...)
			cmd := exec.Command(ni, "--parse", "-")
			cmd.Dir = filepath.Dir(f)
			cmd.Stdin = bytes.NewReader(src)
			cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root=/tmp/nixdiff-store", "HOME=/fake-home")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			nixErr := cmd.Run()
			m := nix28Err.FindStringSubmatch(stderr.String())
			_, ours := parser.ParseFile(token.NewFileSet(), "«stdin»", src, parser.Options{BaseDir: filepath.Dir(f), HomeDir: "/fake-home"})
			if nixErr == nil || m == nil || m[1] == "end of file" {
				skipped++ // parses, or a non-syntax error (undefined variable, ...)
				continue
			}
			want := m[1]
			if n, ok := nix28Names[want]; ok {
				want = n
			}
			line, _ := strconv.Atoi(m[2])
			col, _ := strconv.Atoi(m[3])
			wantS := fmt.Sprintf("%d:%d unexpected %s", line, col, want)
			gotS := "no error"
			if el, ok := ours.(scanner.ErrorList); ok {
				e := el[0]
				tok := strings.TrimPrefix(e.Msg, "syntax error, unexpected ")
				if i := strings.Index(tok, ", expecting"); i >= 0 {
					tok = tok[:i]
				}
				gotS = fmt.Sprintf("%d:%d unexpected %s", e.Pos.Line, e.Pos.Column, tok)
			}
			if gotS == wantS {
				same++
			} else {
				diff++
				t.Errorf("%s cut at %d: got %s, nix 2.8 %s", filepath.Base(f), cut, gotS, wantS)
			}
		}
	}
	t.Logf("%d same, %d different, %d skipped", same, diff, skipped)
}
