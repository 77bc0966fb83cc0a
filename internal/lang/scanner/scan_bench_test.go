package scanner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/lang/token"
)

// BenchmarkScanNixpkgs scans every .nix file under $CAIRN_NIXPKGS in the
// default mode (strings and paths are entered but their parts are not
// told apart by a parser, so this is the token loop's cost, not a check).
func BenchmarkScanNixpkgs(b *testing.B) {
	root := os.Getenv("CAIRN_NIXPKGS")
	if root == "" {
		b.Skip("SKIPPING: set CAIRN_NIXPKGS to a nixpkgs checkout")
	}
	var srcs [][]byte
	total := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".nix") {
			if src, err := os.ReadFile(p); err == nil {
				srcs = append(srcs, src)
				total += len(src)
			}
		}
		return nil
	})
	b.SetBytes(int64(total))
	b.ReportAllocs()
	var s Scanner
	var t Tok
	for b.Loop() {
		for _, src := range srcs {
			s.Init(nil, src, nil)
			for {
				s.Next(&t)
				if t.Kind == token.EOF {
					break
				}
			}
		}
	}
}
