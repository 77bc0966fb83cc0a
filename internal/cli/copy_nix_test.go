package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/store/binarycache/nixtest"
)

// cairnIn runs cairn in dir with a clean environment and fails the test
// unless it succeeds.
func cairnIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := mainIn(t.Context(), dir, append([]string{"cairn"}, args...), strings.NewReader(""), &out, &errb, []string{"HOME=" + dir, "NIX_REMOTE=dummy://"}); code != 0 {
		t.Fatalf("cairn %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// TestCopyNix copies a closure built by Nix 2.8 through binary caches in
// both directions: Nix writes a signed cache that cairn copy --from
// reads; cairn copy --to writes (signs) a cache, and cairn serve serves
// one, that Nix 2.8's nix copy --from accepts with the right key and
// refuses with a wrong one. The stores cairn fills pass nix-store --verify.
func TestCopyNix(t *testing.T) {
	nixtest.Need(t)
	nixRoot := nixtest.Root(t)
	out := nixtest.BuildClosure(t, nixRoot)
	work := nixtest.Root(t)
	sk := filepath.Join(work, "sk")
	// The key comes from Nix, the public half from cairn.
	nixtest.Must(t, nixRoot, "nix-store", "--generate-binary-cache-key", "nixk-1", sk, filepath.Join(work, "pk-nix"))
	pkNix, _ := os.ReadFile(filepath.Join(work, "pk-nix"))
	skData, _ := os.ReadFile(sk)
	var pk, errb bytes.Buffer
	if code := mainIn(t.Context(), work, []string{"cairn", "key", "convert-secret-to-public"}, strings.NewReader(string(skData)), &pk, &errb, nil); code != 0 || pk.String() != string(pkNix) {
		t.Fatalf("convert-secret-to-public: %q (exit %d, %s), Nix: %q", pk.String(), code, errb.String(), pkNix)
	}
	for _, comp := range []string{"xz", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			nixCache := filepath.Join(work, "nixcache-"+comp)
			nixtest.Must(t, nixRoot, "nix", "copy", "--to", "file://"+nixCache+"?compression="+comp+"&secret-key="+sk, out)

			// Nix's cache into a cairn store.
			r := filepath.Join(work, "r-"+comp)
			cairnIn(t, work, "copy", "--from", "file://"+nixCache, "--to", r, "--option", "trusted-public-keys", pk.String(), out)
			nixtest.Verify(t, r)
			// The signatures came along, and cairn's own (deterministic
			// ed25519 over the same fingerprint) are the same bytes.
			var so, se bytes.Buffer
			if code := mainIn(t.Context(), work, []string{"cairn", "store", "sign", "--store", r, "-k", sk, "-r", out}, strings.NewReader(""), &so, &se, nil); code != 0 || se.String() != "added 0 signatures\n" {
				t.Errorf("store sign over Nix's signatures: exit %d, stderr %q", code, se.String())
			}

			// cairn's cache (signed while written) into a Nix store.
			cairnCache := filepath.Join(work, "cairncache-"+comp)
			cairnIn(t, work, "copy", "--store", r, "--to", "file://"+cairnCache+"?compression="+comp+"&secret-key="+sk, out)
			n := nixtest.Root(t)
			nixtest.Must(t, n, "nix", "copy", "--from", "file://"+cairnCache, "--option", "trusted-public-keys", pk.String(), "--option", "require-sigs", "true", out)
			nixtest.Verify(t, n)
			if got, err := nixtest.Run(nixtest.Root(t), "", "nix", "copy", "--from", "file://"+cairnCache, "--option", "trusted-public-keys", "other-1:"+strings.SplitN(pk.String(), ":", 2)[1], "--option", "require-sigs", "true", out); err == nil {
				t.Errorf("Nix accepted cairn's cache under a wrong key:\n%s", got)
			}
		})
	}

	t.Run("realise", func(t *testing.T) {
		// The derivation (not its output) goes into a fresh cairn
		// store; store realise then substitutes the output from Nix's
		// signed cache instead of building it.
		drv := strings.TrimSpace(nixtest.Must(t, nixRoot, "nix-store", "-q", "--deriver", out))
		r := filepath.Join(work, "r-realise")
		cairnIn(t, work, "copy", "--from", nixRoot, "--to", r, "--derivation", drv)
		var so, se bytes.Buffer
		args := []string{"cairn", "store", "realise", "--store", r, drv, "--option", "substituters", "file://" + filepath.Join(work, "nixcache-xz"), "--option", "trusted-public-keys", pk.String()}
		if code := mainIn(t.Context(), work, args, strings.NewReader(""), &so, &se, []string{"HOME=" + work}); code != 0 {
			t.Fatalf("store realise: exit %d\n%s", code, se.String())
		}
		if so.String() != out+"\n" || !strings.Contains(se.String(), "copying path '"+out+"' from") || strings.Contains(se.String(), "building") {
			t.Errorf("store realise: stdout %q, stderr %q; want the output substituted, not built", so.String(), se.String())
		}
		nixtest.Verify(t, r)
	})

	t.Run("serve", func(t *testing.T) {
		r := filepath.Join(work, "r-xz")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		addr := make(chan string, 1)
		done := make(chan error, 1)
		f := &Factory{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Dir: work, Prog: "cairn serve"}
		go func() {
			done <- newServeCmd(f, func(o *ServeOptions) error {
				o.Ready = func(a string) { addr <- a }
				return runServe(ctx, o)
			})([]string{"--listen", "127.0.0.1:0", "--sign-key", sk, "--store", r, "--compression", "zstd"})
		}()
		var url string
		select {
		case a := <-addr:
			url = "http://" + a
		case err := <-done:
			t.Fatalf("serve: %v", err)
		}
		n := nixtest.Root(t)
		nixtest.Must(t, n, "nix", "copy", "--from", url, "--option", "trusted-public-keys", pk.String(), "--option", "require-sigs", "true", out)
		nixtest.Verify(t, n)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}
