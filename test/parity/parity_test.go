// Package parity compares cairn with Nix 2.8 on nixpkgs 28fce082 (July 2020): the drvPath and
// outPath of 42 attributes and of a NixOS system (drvpaths.sh), and the full nix-env -qaP
// listing (qaP.sh), against the reference data in /work/shared/reference. The tree is not
// available in CI, so the tests run only when NIXPKGS is set or /work/nixpkgs exists, and
// skip (loudly) otherwise, in CI too.
package parity

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const defaultTree = "/work/nixpkgs"

// setup returns the environment for the scripts (NIXPKGS, CAIRN) or skips.
func setup(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIPPED: parity runs take minutes; not with -short")
	}
	tree := os.Getenv("NIXPKGS")
	if tree == "" {
		if _, err := os.Stat(filepath.Join(defaultTree, "lib", "default.nix")); err != nil {
			t.Skip("SKIPPED: no nixpkgs 28fce082 tree (set NIXPKGS or extract it to /work/nixpkgs, see bench/README.md)")
		}
		tree = defaultTree
	}
	if _, err := os.Stat(filepath.Join(tree, "lib", "default.nix")); err != nil {
		t.Fatalf("NIXPKGS=%s is not a nixpkgs tree", tree)
	}
	refdir := os.Getenv("REFDIR")
	if refdir == "" {
		refdir = "/work/shared/reference"
	}
	if _, err := os.Stat(filepath.Join(refdir, "nixpkgs-2020-drvpaths.tsv")); err != nil {
		t.Skipf("SKIPPED: no reference data in %s (set REFDIR)", refdir)
	}
	cairn := filepath.Join(t.TempDir(), "cairn")
	build := exec.Command("go", "build", "-o", cairn, "cairn/cmd/cairn")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return append(os.Environ(), "NIXPKGS="+tree, "CAIRN="+cairn, "REFDIR="+refdir,
		"REF="+filepath.Join(refdir, "nixpkgs-2020-drvpaths.tsv"))
}

func runScript(t *testing.T, env []string, script string) {
	t.Helper()
	cmd := exec.Command("bash", script)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", script, out)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Fatalf("%s: %v: %s", script, err, lines[len(lines)-1])
	}
}

// TestDrvPaths: every attribute of nixpkgs-2020-drvpaths.tsv, and the NixOS toplevel, has
// Nix 2.8's drvPath and outPath.
func TestDrvPaths(t *testing.T) {
	env := setup(t)
	runScript(t, env, "drvpaths.sh")
}

// TestQueryAvailable: `cairn env -qaP` prints Nix 2.8's listing line for line.
func TestQueryAvailable(t *testing.T) {
	runScript(t, setup(t), "qaP.sh")
}
