package cacheserver

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/signature"
	"cairn/internal/store/binarycache/nixtest"
)

// TestNixSubstitutesFromServer: Nix 2.8 builds a closure (an
// input-addressed output referring to a text file and a directory with
// busybox) in a chroot store; our handler serves that store (opened with
// our local store) over http://127.0.0.1, signing with our key; Nix
// substitutes it into fresh chroot stores with require-sigs, both as a
// substituter (nix-store --realise) and with nix copy --from, and the
// contents verify. A wrong trusted key is refused.
func TestNixSubstitutesFromServer(t *testing.T) {
	nixtest.Need(t)
	root := nixtest.Root(t)
	out := nixtest.BuildClosure(t, root)

	s := openLocal(t, root)
	key, err := signature.GenerateSecretKey("cairn-server-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := signature.GenerateSecretKey("cairn-server-1", nil)
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			h, err := New(s, Options{SecretKey: &key, Compression: comp, Priority: 30})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
				t.Fatalf("not loopback: %s", srv.URL)
			}
			trust := []string{"--option", "require-sigs", "true", "--option", "trusted-public-keys", key.Public().String()}

			// As a substituter.
			dst := nixtest.Root(t)
			nixtest.Must(t, dst, append([]string{"nix-store", "--realise", out, "--option", "substituters", srv.URL}, trust...)...)
			// With nix copy.
			dst2 := nixtest.Root(t)
			nixtest.Must(t, dst2, append([]string{"nix", "copy", "--from", srv.URL, out}, trust...)...)
			for _, d := range []string{dst, dst2} {
				o, err := nixtest.Run(d, "", "nix-store", "--verify", "--check-contents")
				if err != nil || strings.Contains(o, "error") || strings.Contains(o, "warning") {
					t.Fatalf("nix-store --verify --check-contents: %v\n%s", err, o)
				}
				q := nixtest.Must(t, d, "nix-store", "--query", "--requisites", out)
				if n := len(strings.Fields(q)); n != 3 {
					t.Errorf("closure of %d paths:\n%s", n, q)
				}
				sigs := nixtest.Must(t, d, "nix", "path-info", "--sigs", out)
				if !strings.Contains(sigs, "cairn-server-1:") {
					t.Errorf("no signature: %s", sigs)
				}
			}
			// A wrong key: Nix refuses the input-addressed output.
			bad := nixtest.Root(t)
			o, err := nixtest.Run(bad, "", "nix", "copy", "--from", srv.URL, out,
				"--option", "require-sigs", "true", "--option", "trusted-public-keys", wrong.Public().String())
			if err == nil || !strings.Contains(o, "lacks a valid signature") {
				t.Errorf("Nix accepted a wrong key: %v\n%s", err, o)
			}
		})
	}
}

// TestNixLogFromServer: Nix 2.8 builds a derivation that prints a line
// in a chroot store (and keeps its bzip2 log there); our handler serves
// that store, and nix log --store http://127.0.0.1:port, run against
// another, empty store, prints the log from it, for the .drv path and
// for the output path (whose deriver Nix finds in our narinfo).
func TestNixLogFromServer(t *testing.T) {
	nixtest.Need(t)
	root := nixtest.Root(t)
	src := filepath.Join(root, "src")
	os.MkdirAll(filepath.Join(src, "bb"), 0o755)
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "bb", "busybox"), data, 0o755)
	expr := `let bb = builtins.path { path = ` + src + `/bb; name = "bb"; };
in derivation { name = "logged"; system = builtins.currentSystem; builder = "${bb}/busybox";
  args = ["sh" "-c" "echo line one of the log; echo line two >&2; echo done > $out"]; }`
	os.WriteFile(filepath.Join(src, "e.nix"), []byte(expr), 0o644)
	out := strings.TrimSpace(nixtest.Must(t, root, "nix-build", "--no-out-link", filepath.Join(src, "e.nix")))
	drv := strings.TrimSpace(nixtest.Must(t, root, "nix-store", "--query", "--deriver", out))

	s := openLocal(t, root)
	srv := httptest.NewServer(mustNew(t, s, Options{}))
	defer srv.Close()
	other := nixtest.Root(t)
	for _, p := range []string{drv, out} {
		o := nixtest.Must(t, other, "nix", "log", "--store", srv.URL, p)
		if o != "line one of the log\nline two\n" {
			t.Errorf("nix log --store %s %s: %q", srv.URL, p, o)
		}
	}
	// Once the log is gone, the cache has none to give.
	d, err := s.Dir().Parse(drv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.BuildLogPath(d) + ".bz2"); err != nil {
		t.Fatal(err)
	}
	o, err := nixtest.Run(other, "", "nix", "log", "--store", srv.URL, drv)
	if err == nil || !strings.Contains(o, "is not available") {
		t.Errorf("nix log of a missing log: %v %q", err, o)
	}
}

func mustNew(t *testing.T, s HashPartStore, opts Options) *Handler {
	t.Helper()
	h, err := New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
