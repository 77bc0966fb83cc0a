package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestFetchBuiltinGlobals: as in Nix, fetchTarball, fetchGit and fetchTree
// are global variables but fetchurl is only builtins.fetchurl, so
// nixpkgs' `with pkgs; fetchurl { ... }` finds pkgs.fetchurl.
func TestFetchBuiltinGlobals(t *testing.T) {
	for _, tt := range []struct{ expr, want string }{
		{`with { fetchurl = "pkgs"; }; fetchurl`, `"pkgs"` + "\n"},
		{`builtins.typeOf builtins.fetchurl`, `"lambda"` + "\n"},
		{`map builtins.typeOf [ fetchTarball fetchGit fetchTree ]`, `[ "lambda" "lambda" "lambda" ]` + "\n"},
	} {
		var out, errb bytes.Buffer
		code := Main(t.Context(), []string{"cairn", "instantiate", "--eval", "--strict", "--store", "dummy://", "-E", tt.expr}, strings.NewReader(""), &out, &errb, nil)
		if code != 0 || out.String() != tt.want {
			t.Errorf("%s: exit %d, got %q, want %q\n%s", tt.expr, code, out.String(), tt.want, errb.String())
		}
	}
}
