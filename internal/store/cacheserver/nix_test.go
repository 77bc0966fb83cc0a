package cacheserver

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/signature"
)

func needNix(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"nix", "nix-store", "nix-build"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found (CI=true): install nix-bin (Nix 2.8)", tool)
			}
			t.Skipf("SKIPPING acceptance test against Nix 2.8: %s not installed (apt-get install -y nix-bin)", tool)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("acceptance tests need root for Nix chroot stores (CI=true)")
		}
		t.Skip("SKIPPING acceptance test against Nix 2.8: chroot stores need root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("/bin/busybox missing (CI=true): apt-get install -y busybox-static")
		}
		t.Skip("SKIPPING acceptance test against Nix 2.8: /bin/busybox missing (apt-get install -y busybox-static)")
	}
}

// runNix runs a Nix 2.8 tool on the chroot store at root, with its own
// narinfo disk cache and no substituters unless args set them.
func runNix(t *testing.T, root string, args ...string) (string, error) {
	cmd := exec.Command(args[0], append([]string{"--option", "substituters", ""}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+root, "NIX_CONFIG=experimental-features = nix-command",
		"XDG_CACHE_HOME="+filepath.Join(root, "xdg-cache"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func nix(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := runNix(t, root, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestNixSubstitutesFromServer: Nix 2.8 builds a closure (an
// input-addressed output referring to a text file and a directory with
// busybox) in a chroot store; our handler serves that store (opened with
// our local store) over http://127.0.0.1, signing with our key; Nix
// substitutes it into fresh chroot stores with require-sigs, both as a
// substituter (nix-store --realise) and with nix copy --from, and the
// contents verify. A wrong trusted key is refused.
func TestNixSubstitutesFromServer(t *testing.T) {
	needNix(t)
	root := tempRoot(t)
	src := filepath.Join(root, "src")
	os.MkdirAll(filepath.Join(src, "bb"), 0o755)
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "bb", "busybox"), data, 0o755)
	expr := `let bb = builtins.path { path = ` + src + `/bb; name = "bb"; };
    t = builtins.toFile "t" "hello";
in derivation { name = "out"; system = builtins.currentSystem; builder = "${bb}/busybox";
  args = ["sh" "-c" "echo ${t} ${bb} > $out"]; }`
	os.WriteFile(filepath.Join(src, "e.nix"), []byte(expr), 0o644)
	out := strings.TrimSpace(nix(t, root, "nix-build", "--no-out-link", filepath.Join(src, "e.nix")))

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
			dst := tempRoot(t)
			nix(t, dst, append([]string{"nix-store", "--realise", out, "--option", "substituters", srv.URL}, trust...)...)
			// With nix copy.
			dst2 := tempRoot(t)
			nix(t, dst2, append([]string{"nix", "copy", "--from", srv.URL, out}, trust...)...)
			for _, d := range []string{dst, dst2} {
				o, err := runNix(t, d, "nix-store", "--verify", "--check-contents")
				if err != nil || strings.Contains(o, "error") || strings.Contains(o, "warning") {
					t.Fatalf("nix-store --verify --check-contents: %v\n%s", err, o)
				}
				q := nix(t, d, "nix-store", "--query", "--requisites", out)
				if n := len(strings.Fields(q)); n != 3 {
					t.Errorf("closure of %d paths:\n%s", n, q)
				}
				sigs := nix(t, d, "nix", "path-info", "--sigs", out)
				if !strings.Contains(sigs, "cairn-server-1:") {
					t.Errorf("no signature: %s", sigs)
				}
			}
			// A wrong key: Nix refuses the input-addressed output.
			bad := tempRoot(t)
			o, err := runNix(t, bad, "nix", "copy", "--from", srv.URL, out,
				"--option", "require-sigs", "true", "--option", "trusted-public-keys", wrong.Public().String())
			if err == nil || !strings.Contains(o, "lacks a valid signature") {
				t.Errorf("Nix accepted a wrong key: %v\n%s", err, o)
			}
		})
	}
}
