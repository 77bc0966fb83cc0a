package parser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// nixpkgsFiles returns the .nix files under $CAIRN_NIXPKGS with their
// contents, or skips.
func nixpkgsFiles(tb testing.TB) (names []string, srcs [][]byte, total int) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" {
		tb.Skip("SKIPPING: set CAIRN_NIXPKGS to a nixpkgs checkout to parse all of it")
	}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".nix") {
			b, err := os.ReadFile(p)
			if err == nil {
				names = append(names, p)
				srcs = append(srcs, b)
				total += len(b)
			}
		}
		return nil
	})
	return names, srcs, total
}

// TestNixpkgs parses every file of a nixpkgs tree and reports failures
// and throughput.
func TestNixpkgs(t *testing.T) {
	names, srcs, total := nixpkgsFiles(t)
	start := time.Now()
	fset := token.NewFileSet()
	failed := 0
	for i, src := range srcs {
		_, err := parser.ParseFile(fset, names[i], src, parser.Options{BaseDir: filepath.Dir(names[i]), HomeDir: "/home/u"})
		if err != nil {
			failed++
			t.Logf("%v", err)
		}
	}
	d := time.Since(start)
	t.Logf("%d files, %d bytes, %d failed, %v (%.0f MB/s)", len(srcs), total, failed, d, float64(total)/d.Seconds()/1e6)
}

func BenchmarkNixpkgs(b *testing.B) {
	names, srcs, total := nixpkgsFiles(b)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		fset := token.NewFileSet()
		for i, src := range srcs {
			parser.ParseFile(fset, names[i], src, parser.Options{BaseDir: "/x", HomeDir: "/home/u"})
		}
	}
}

// BenchmarkAllPackages parses and prints pkgs/top-level/all-packages.nix,
// the work `nix-instantiate --parse` does on it.
func BenchmarkAllPackages(b *testing.B) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" {
		b.Skip("SKIPPING: set CAIRN_NIXPKGS to a nixpkgs checkout")
	}
	f := filepath.Join(root, "pkgs/top-level/all-packages.nix")
	src, err := os.ReadFile(f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		e, err := parser.ParseFile(token.NewFileSet(), f, src, parser.Options{BaseDir: filepath.Dir(f)})
		if err != nil {
			b.Fatal(err)
		}
		buf = ast.AppendShow(buf[:0], e)
	}
}
