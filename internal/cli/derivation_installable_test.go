package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDerivationShowInstallable shows the derivation of an installable
// (-f FILE ATTR): it is instantiated first, and the JSON has one entry,
// the .drv of that attribute.
func TestDerivationShowInstallable(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"cairn", "derivation", "show", "--store", store, "-E",
		`derivation { name = "shown"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }`},
		strings.NewReader(""), &out, &errb, []string{"PATH=/usr/bin:/bin"})
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	var got map[string]struct {
		Env map[string]string `json:"env"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(got) != 1 {
		t.Fatalf("got %d derivations, want 1:\n%s", len(got), out.String())
	}
	for p, d := range got {
		if !strings.HasPrefix(p, "/nix/store/") || !strings.HasSuffix(p, "-shown.drv") || d.Env["name"] != "shown" {
			t.Errorf("got %s with env %v", p, d.Env)
		}
	}
}
