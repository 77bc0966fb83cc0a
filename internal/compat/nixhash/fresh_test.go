package nixhash

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGoldenFresh reruns testdata/gen-parse-golden.sh with Nix 2.8 in a scratch copy
// of testdata and checks that it reproduces testdata/parse.golden, so the
// golden cannot drift from what Nix does. Skipped with -short.
func TestGoldenFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Nix; skipped with -short")
	}
	if _, err := exec.LookPath("nix-store"); err != nil {
		msg := "SKIPPING differential test against Nix: nix-store not found (apt-get install nix-bin)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./gen-parse-golden.sh")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-parse-golden.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(tmp, "parse.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/parse.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Nix now gives a different testdata/parse.golden; rerun testdata/gen-parse-golden.sh and review the diff")
	}
}
