package parser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

const suiteDir = "../../../../shared/conformance/nix-lang"

func suite(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(suiteDir)
	if err == nil {
		if _, err = os.Stat(dir); err == nil {
			return dir
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Nix language suite not found at %s: %v", suiteDir, err)
	}
	t.Skipf("SKIPPING: Nix language suite not found at %s (%v)", suiteDir, err)
	return ""
}

// stdinOpts are the options the suite's parse tests imply: stdin, run
// from a directory the harness rewrites to /pwd.
var stdinOpts = parser.Options{BaseDir: "/pwd", HomeDir: "/fake-home"}

func parseStdin(src []byte) (ast.Expr, error) {
	return parser.ParseFile(token.NewFileSet(), "«stdin»", src, stdinOpts)
}

// needsResolver lists parse-fail tests whose error comes from variable
// resolution, which package resolve (not the parser) reports.
var needsResolver = map[string]bool{
	"parse-fail-undef-var":           true,
	"parse-fail-regression-20060610": true,
}

func TestSuiteParseOkay(t *testing.T) {
	dir := suite(t)
	files, _ := filepath.Glob(filepath.Join(dir, "parse-okay-*.nix"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".nix")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".nix") + ".exp")
			if err != nil {
				t.Fatal(err)
			}
			e, err := parseStdin(src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := ast.Show(e) + "\n"
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSuiteParseFail(t *testing.T) {
	dir := suite(t)
	files, _ := filepath.Glob(filepath.Join(dir, "parse-fail-*.nix"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".nix")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(f, ".nix") + ".err.exp")
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseStdin(src)
			if needsResolver[name] {
				if err != nil {
					t.Fatalf("parse failed, want success (the resolver reports this one): %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("parse succeeded, want error:\n%s", want)
			}
			el := err.(scanner.ErrorList)
			got := el[0].Format(src)
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestSuiteAllFilesParse parses every .nix file of the suite; files that
// are not parse-fail tests must parse.
func TestSuiteAllFilesParse(t *testing.T) {
	dir := suite(t)
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".nix") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 100 {
		t.Fatalf("only %d .nix files found", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		_, err = parser.ParseFile(fset, f, src, parser.Options{BaseDir: filepath.Dir(f), HomeDir: "/fake-home"})
		base := filepath.Base(f)
		if err != nil && !strings.HasPrefix(base, "parse-fail-") && !expectParseError(dir, f) {
			t.Errorf("%s: %v", base, err)
		}
	}
}

// expectParseError reports whether the eval-fail golden of f says that
// parsing fails (e.g. an invalid integer literal).
func expectParseError(dir, f string) bool {
	exp, err := os.ReadFile(strings.TrimSuffix(f, ".nix") + ".err.exp")
	if err != nil {
		return false
	}
	s := string(exp)
	for _, m := range []string{"syntax error", "invalid integer", "invalid float", "already defined", "duplicate formal", "not allowed in", "trailing slash", "null bytes", "experimental Nix feature"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// TestSuiteEvalFailParseErrors checks the message of eval-fail tests that
// fail while parsing against their golden, with the file name the
// harness shows (/pwd/lang/<name>.nix).
func TestSuiteEvalFailParseErrors(t *testing.T) {
	dir := suite(t)
	files, _ := filepath.Glob(filepath.Join(dir, "eval-fail-*.nix"))
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := "/pwd/lang/" + base
		_, err = parser.ParseFile(token.NewFileSet(), name, src, parser.Options{BaseDir: "/pwd/lang", HomeDir: "/fake-home"})
		if err == nil {
			continue
		}
		n++
		want, _ := os.ReadFile(strings.TrimSuffix(f, ".nix") + ".err.exp")
		got := err.(scanner.ErrorList)[0].Format(src)
		if got != string(want) {
			t.Errorf("%s: got:\n%s\nwant:\n%s", base, got, want)
		}
	}
	t.Logf("%d eval-fail tests fail at parse time", n)
}

// TestSuiteCursedOrWarnings checks the parse warnings of
// eval-okay-deprecate-cursed-or against its stderr golden.
func TestSuiteCursedOrWarnings(t *testing.T) {
	dir := suite(t)
	name := "eval-okay-deprecate-cursed-or"
	src, err := os.ReadFile(filepath.Join(dir, name+".nix"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, name+".err.exp"))
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	opts := parser.Options{BaseDir: "/pwd/lang", Warn: func(pos token.Pos, msg string) {
		got.WriteString("warning: " + msg + "\n")
	}}
	if _, err := parser.ParseFile(token.NewFileSet(), "/pwd/lang/"+name+".nix", src, opts); err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
	}
}
