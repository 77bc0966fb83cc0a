package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportFromDerivation evaluates an expression that imports the
// output of a derivation: cairn eval builds it first (with the default
// build settings); on a compute-only store the error names the
// derivation that would have to be built.
func TestImportFromDerivation(t *testing.T) {
	needSandboxBuilds(t)
	ctx := t.Context()
	store := filepath.Join(t.TempDir(), "store")
	expr := `let
	  pkgs = import ` + pkgsDir(t) + ` { };
	  d = derivation {
	    name = "ifd";
	    system = builtins.currentSystem;
	    builder = "${pkgs.busybox}/bin/sh";
	    args = [ "-c" "echo '{ answer = 6 * 7; }' > $out" ];
	  };
	in (import d).answer`
	env := []string{"PATH=/usr/bin:/bin"}

	var out, errb bytes.Buffer
	if code := Main(ctx, []string{"cairn", "eval", "--store", store, "--expr", expr}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, errb.String())
	}
	if got := out.String(); got != "42\n" {
		t.Errorf("eval printed %q, want %q", got, "42\n")
	}
	if !strings.Contains(errb.String(), "-ifd.drv'...") {
		t.Errorf("no build of the imported derivation in:\n%s", errb.String())
	}

	out.Reset()
	errb.Reset()
	code := Main(ctx, []string{"cairn", "instantiate", "--eval", "--store", "dummy://", "-E", expr}, strings.NewReader(""), &out, &errb, env)
	if code != 1 {
		t.Fatalf("dummy store: exit %d, want 1\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "cannot build '/nix/store/") || !strings.Contains(errb.String(), "-ifd.drv' during evaluation") {
		t.Errorf("dummy store error does not name the derivation:\n%s", errb.String())
	}
}
