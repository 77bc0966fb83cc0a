package parser_test

import (
	"os"
	"path/filepath"
	"testing"

	"cairn/internal/lang/parser"
	"cairn/internal/lang/scanner"
	"cairn/internal/lang/token"
)

// TestRecoveryOnNixpkgs inserts three stray tokens into real files (after
// a ';' token at 1/4, 1/2 and 3/4 of the file) and counts how often the
// parser reports exactly three errors. No error may come before the
// first insertion, and at least half of the cases must give three: a
// regression in recovery shows as fewer (errors lost) or more (cascades).
func TestRecoveryOnNixpkgs(t *testing.T) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" {
		t.Skip("SKIPPING: set CAIRN_NIXPKGS to a nixpkgs checkout to try recovery on its files")
	}
	var files []string
	for _, g := range []string{"lib/*.nix", "pkgs/top-level/*.nix", "nixos/modules/system/boot/*.nix", "nixos/modules/services/web-servers/nginx/*.nix"} {
		m, _ := filepath.Glob(filepath.Join(root, g))
		files = append(files, m...)
	}
	ins := []string{" ) ", " ; ", " in ", " = ", " } ", " then ", " ] ", " ( "}
	total, exact, fewer, more := 0, 0, 0, 0
	for _, f := range files {
		full, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) < 3000 {
			continue
		}
		for k := range ins {
			var src []byte
			var offs []int
			prev := 0
			for i := 1; i <= 3; i++ {
				cut := semiAfter(full, len(full)*i/4)
				src = append(src, full[prev:cut]...)
				offs = append(offs, len(src)+1)
				src = append(src, ins[(k+i)%len(ins)]...)
				prev = cut
			}
			src = append(src, full[prev:]...)
			_, err := parser.ParseFile(token.NewFileSet(), f, src, parser.Options{BaseDir: "/"})
			total++
			el, _ := err.(parser.ErrorList)
			for _, e := range el {
				if e.Pos.Offset < offs[0] {
					t.Errorf("%s with %q at %v: error before the first insertion: %v", f, ins[(k+1)%len(ins)], offs, e)
				}
			}
			switch {
			case len(el) == 3:
				exact++
			case len(el) < 3:
				fewer++
			default:
				more++
			}
		}
	}
	t.Logf("%d cases: %d with exactly 3 errors, %d fewer, %d more", total, exact, fewer, more)
	if exact*2 < total {
		t.Errorf("only %d of %d cases with 3 errors", exact, total)
	}
}

// semiAfter returns the end of the first ';' token at or after off, or
// len(src).
func semiAfter(src []byte, off int) int {
	var sc scanner.Scanner
	sc.Init(token.NewFileSet().AddFile("x", len(src)), src, nil)
	var t scanner.Tok
	for {
		sc.Next(&t)
		switch {
		case t.Kind == token.EOF:
			return len(src)
		case t.Kind == token.SEMI && t.Start >= off:
			return t.End
		}
	}
}
