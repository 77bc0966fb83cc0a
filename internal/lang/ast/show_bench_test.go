package ast_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// BenchmarkShowNixpkgs prints the ASTs of every .nix file under
// $CAIRN_NIXPKGS (parsed once), the printing half of `--parse`.
func BenchmarkShowNixpkgs(b *testing.B) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" {
		b.Skip("SKIPPING: set CAIRN_NIXPKGS to a nixpkgs checkout")
	}
	var exprs []ast.Expr
	total := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".nix") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		f := token.NewFileSet().AddFile(p, len(src))
		if e, err := parser.Parse(f, src, parser.Options{BaseDir: filepath.Dir(p), HomeDir: "/home/u"}); err == nil {
			exprs = append(exprs, e)
			total += len(src)
		}
		return nil
	})
	b.SetBytes(int64(total))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		for _, e := range exprs {
			buf = ast.AppendShow(buf[:0], e)
		}
	}
}
