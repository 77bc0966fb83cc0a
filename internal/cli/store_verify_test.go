package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// addInputAddressed registers an input-addressed (not content-addressed,
// so not trusted by its hash) path holding src/hello.txt.
func addInputAddressed(t *testing.T, e *storeEnv) (*local.Store, *store.PathInfo) {
	t.Helper()
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var b bytes.Buffer
	if err := nar.DumpPath(&b, filepath.Join(e.work, "src/hello.txt")); err != nil {
		t.Fatal(err)
	}
	p, err := storepath.FromDigest(nixhash.Sum(nixhash.SHA1, []byte("ia")).Digest, "ia")
	if err != nil {
		t.Fatal(err)
	}
	info := &store.PathInfo{Path: p, NarHash: nixhash.Sum(nixhash.SHA256, b.Bytes()), NarSize: uint64(b.Len())}
	if err := st.AddNar(ctx, info, &b); err != nil {
		t.Fatal(err)
	}
	return st, info
}

func TestStoreVerifyTrust(t *testing.T) {
	e := newStoreEnv(t)
	st, info := addInputAddressed(t, e)
	ps := st.Dir().Print(info.Path)

	pub, priv, err := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	sig := "test-1:" + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(fingerprint(st, info))))
	if err := st.AddSignatures(context.Background(), info.Path, []string{sig}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	trust := "test-1:" + base64.StdEncoding.EncodeToString(pub)

	if errs := e.expect("", 2, "store", "verify", ps); !strings.Contains(errs, "is untrusted") {
		t.Errorf("verify without the key: %s", errs)
	}
	e.expect("", 0, "store", "verify", "--no-trust", ps)
	e.expect("", 0, "store", "verify", "--option", "trusted-public-keys", trust, ps)
	e.expect("", 0, "store", "verify", "--option", "extra-trusted-public-keys", trust, "--all")
	e.expect("", 2, "store", "verify", "--option", "trusted-public-keys", trust, "--sigs-needed", "2", ps)
	e.expect("", 2, "store", "verify", "--option", "trusted-public-keys", "other-1:"+base64.StdEncoding.EncodeToString(pub), ps)
	e.expect(ps+"\t"+sig+"\n", 0, "path-info", "--sigs", ps)
	if js := e.ok("path-info", "--json", ps); !strings.HasSuffix(js, `,"signatures":["`+sig+`"]}]`) {
		t.Errorf("path-info --json: %s", js)
	}
	if errs := e.expect("", 1, "store", "verify", "--option", "trusted-public-keys", "bad", ps); !strings.Contains(errs, "corrupt") {
		t.Errorf("verify with a corrupt key: %s", errs)
	}
}

// TestStoreVerifyNix has Nix 2.8 sign a path in a store cairn wrote, and
// checks that cairn accepts the signature (same fingerprint) and prints
// path-info as Nix does.
func TestStoreVerifyNix(t *testing.T) {
	nixBin := needNix(t)
	n := &nixStore{storeEnv: newStoreEnv(t), nix: nixBin}
	st, info := addInputAddressed(t, n.storeEnv)
	ps := st.Dir().Print(info.Path)
	st.Close()
	gen := exec.Command("nix-store", "--generate-binary-cache-key", "cairn-test-1", "sk", "pk")
	gen.Dir = n.work
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate key: %v %s", err, out)
	}
	pk, err := os.ReadFile(filepath.Join(n.work, "pk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := n.nixIn(n.root, "store", "sign", "--key-file", "sk", ps); code != 0 {
		t.Fatal("nix store sign failed")
	}
	n.expect("", 0, "store", "verify", "--option", "trusted-public-keys", string(pk), ps)
	n.expect("", 2, "store", "verify", ps)
	for _, args := range [][]string{
		{"path-info", "--json", ps},
		{"path-info", "--sigs", "-s", ps},
	} {
		want, c1 := n.nixIn(n.root, args...)
		got, c2 := n.cairnIn(n.root, args...)
		if want != got || c1 != 0 || c2 != 0 {
			t.Errorf("%v:\ncairn %q\nnix   %q", args, got, want)
		}
	}
	// Nix agrees on trust with the same key, and without it.
	if _, code := n.nixIn(n.root, "store", "verify", "--option", "trusted-public-keys", string(pk), ps); code != 0 {
		t.Errorf("nix store verify with the key: exit %d", code)
	}
	if _, code := n.nixIn(n.root, "store", "verify", ps); code != 2 {
		t.Errorf("nix store verify without the key: exit %d", code)
	}
}
