package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstantiateAddRoot instantiates into a chroot store with --add-root:
// the .drv is written, the root is a symlink to it (numbered from the
// second derivation on), and it is registered as an indirect GC root.
func TestInstantiateAddRoot(t *testing.T) {
	work := t.TempDir()
	root := filepath.Join(work, "root")
	nix := `{ a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; };
	b = derivation { name = "b"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "dev" "out" ]; }; }`
	if err := os.WriteFile(filepath.Join(work, "d.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := mainIn(t.Context(), work, []string{"cairn", "instantiate", "--store", root, "--add-root", "result", "d.nix"}, strings.NewReader(""), &out, &errb, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := work + "/result\n" + work + "/result-2!dev\n"
	if out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	for name, drv := range map[string]string{"result": "7g5giqf764p3y3zv7a8rqsy9sqqq5kw4-a.drv", "result-2": "-b.drv"} {
		target, err := os.Readlink(filepath.Join(work, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(target, "/nix/store/") || !strings.HasSuffix(target, drv) {
			t.Errorf("%s -> %s, want a store path ending in %s", name, target, drv)
		}
		if _, err := os.Stat(root + target); err != nil {
			t.Errorf("%s: .drv not written: %v", name, err)
		}
	}
	autos, err := os.ReadDir(filepath.Join(root, "nix/var/nix/gcroots/auto"))
	if err != nil || len(autos) != 2 {
		t.Errorf("gcroots/auto: %d entries, %v", len(autos), err)
	}
}
