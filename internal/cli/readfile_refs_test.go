package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileStoreReferences: readFile of a store path carries the
// path's references as context (current Nix); --compat 2.8 gives none, as
// Nix 2.8 does.
func TestReadFileStoreReferences(t *testing.T) {
	expr := `let a = builtins.toFile "a" "A"; b = builtins.toFile "b" "see ${a}"; in builtins.attrNames (builtins.getContext (builtins.readFile b))`
	for _, tt := range []struct {
		compat string
		want   string
	}{
		{"current", `[ "/nix/store/draf2pm7skqzj8g3kv0bamg214p6sd70-a" ]` + "\n"},
		{"2.8", "[ ]\n"},
	} {
		store := filepath.Join(t.TempDir(), "store")
		var out, errb bytes.Buffer
		code := Main(t.Context(), []string{"cairn", "eval", "--compat", tt.compat, "--store", store, "--expr", expr}, strings.NewReader(""), &out, &errb, nil)
		if code != 0 || out.String() != tt.want {
			t.Errorf("compat %s: exit %d, got %q, want %q\n%s", tt.compat, code, out.String(), tt.want, errb.String())
		}
	}
}
