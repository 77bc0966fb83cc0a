package parser_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// TestShowFile prints the parse of $CAIRN_SHOW (a debugging aid).
func TestShowFile(t *testing.T) {
	f := os.Getenv("CAIRN_SHOW")
	if f == "" {
		t.Skip("SKIPPING: CAIRN_SHOW not set")
	}
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	e, err := parser.ParseFile(token.NewFileSet(), f, src, parser.Options{BaseDir: filepath.Dir(f), HomeDir: "/fake-home"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ast.Show(e))
}
