package signature

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// A key pair and signature made by Nix 2.8 (nix key generate-secret
// --key-name test-1; nix key convert-secret-to-public; the signature is
// from `nix copy --to file://...?secret-key=` of the path below).
const (
	nixSecret = "test-1:+Jl/iPGcnqSQs0U+l6yKO5isazaStdrfOknkxjI2U1jrPc2kf8v/vncnv1oCpbWLQxHZioKIaOE34ItoCwFcGQ=="
	nixPublic = "test-1:6z3NpH/L/753J79aAqW1i0MR2YqCiGjhN+CLaAsBXBk="
	nixSig    = "test-1:7J/1S19SZd9hNovfEFj8BFVWmyPDK83dfJprGv6H5UK3JpONsXeQvJBnqnovYDVQny4MThB0aLBsU7Qpijf0Dw=="
	nixFP     = "1;/nix/store/k38g52gv3jc9k092w14hhd4fcnvx58zi-f;sha256:0qmnyiq6gdpzrmidkdbsc4zkb5ypb9f5rqsc65ck8anrvn023x91;160;"
)

func TestNixKeys(t *testing.T) {
	sk, err := ParseSecretKey(nixSecret)
	if err != nil {
		t.Fatal(err)
	}
	if sk.String() != nixSecret {
		t.Errorf("secret key round trip: %s", sk)
	}
	if got := sk.Public().String(); got != nixPublic {
		t.Errorf("public key %s, want %s", got, nixPublic)
	}
	p, err := storepath.ParseBase("k38g52gv3jc9k092w14hhd4fcnvx58zi-f")
	if err != nil {
		t.Fatal(err)
	}
	h, err := nixhash.Parse("sha256:0qmnyiq6gdpzrmidkdbsc4zkb5ypb9f5rqsc65ck8anrvn023x91")
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(storepath.DefaultDir, p, h, 160, nil)
	if err != nil || fp != nixFP {
		t.Fatalf("fingerprint %q, %v", fp, err)
	}
	if got := sk.Sign([]byte(fp)).String(); got != nixSig {
		t.Errorf("signature %s, want Nix's %s", got, nixSig)
	}
	trusted, err := ParseTrustedKeys("other:" + strings.Repeat("A", 43) + "= " + nixPublic)
	if err != nil {
		t.Fatal(err)
	}
	if !trusted.Verify([]byte(fp), nixSig) {
		t.Error("Nix's signature does not verify")
	}
	if trusted.Verify([]byte(fp+"x"), nixSig) {
		t.Error("signature verifies another fingerprint")
	}
	if n := trusted.CountValid([]byte(fp), []string{nixSig, nixSig, "garbage", "other:" + nixSig[7:]}); n != 1 {
		t.Errorf("CountValid = %d, want 1", n)
	}
	if (TrustedKeys{}).Verify([]byte(fp), nixSig) {
		t.Error("verifies without keys")
	}
}

func TestFingerprintReferences(t *testing.T) {
	a, _ := storepath.ParseBase("19qsh9zqxhlmgc92j3jzyin1jjf5w115-d")
	b, _ := storepath.ParseBase("ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t")
	h := nixhash.Sum(nixhash.SHA256, nil)
	fp, err := Fingerprint("/nix/store", b, h, 8, []storepath.Path{b, a})
	if err != nil {
		t.Fatal(err)
	}
	want := "1;/nix/store/ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t;" + h.Encode(nixhash.Nix32, true) +
		";8;/nix/store/19qsh9zqxhlmgc92j3jzyin1jjf5w115-d,/nix/store/ymds2a4fzc4ykzvy4mam3fiyivxyrrzz-t"
	if fp != want {
		t.Errorf("got  %s\nwant %s", fp, want)
	}
	if _, err := Fingerprint("/nix/store", b, nixhash.Sum(nixhash.SHA1, nil), 8, nil); err == nil {
		t.Error("sha1 NAR hash accepted")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no colon", "abc", "parse secret key: bad key: want <name>:<base64>"},
		{"empty name", ":" + nixSecret[7:], "parse secret key: bad key: want <name>:<base64>"},
		{"bad base64", "k:!!!", "parse secret key named 'k': bad key: invalid base64"},
		{"public as secret", nixPublic, "parse secret key named 'test-1': bad key: 32 bytes, want 64"},
		{"mismatched halves", nixSecret[:50] + "A" + nixSecret[51:], "parse secret key named 'test-1': bad key: the public half does not match the seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecretKey(tt.in)
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrBadKey) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
	if _, err := ParsePublicKey(nixSecret); err == nil {
		t.Error("secret key parsed as public key")
	}
	if _, err := ParseSignature(nixPublic); err == nil {
		t.Error("public key parsed as signature")
	}
	if _, err := GenerateSecretKey("a:b", nil); err == nil {
		t.Error("name with ':' accepted")
	}
}

func TestGenerate(t *testing.T) {
	k, err := GenerateSecretKey("k-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseSecretKey(k.String())
	if err != nil {
		t.Fatal(err)
	}
	sig := k2.Sign([]byte("x"))
	if !k.Public().Verify([]byte("x"), sig) || len(k.String()) != len(nixSecret)-6+3 {
		t.Errorf("generated key %s does not work", k)
	}
}

func needNix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix not found (CI=true): install nix-bin (Nix 2.8)")
		}
		t.Skip("SKIPPING differential test: nix (Nix 2.8, Debian nix-bin) not installed")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("differential tests need root for a Nix chroot store (CI=true)")
		}
		t.Skip("SKIPPING differential test: Nix chroot stores need root")
	}
}

func runNix(t *testing.T, root, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], append([]string{"--option", "substituters", ""}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+root, "NIX_CONFIG=experimental-features = nix-command")
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String()
}

// TestWithNix: keys generated by Nix convert like Nix; keys generated by
// us convert in Nix like ours; `nix store sign` with our key gives our
// signature of our fingerprint, and Nix's signature verifies with our
// code.
func TestWithNix(t *testing.T) {
	needNix(t)
	root := t.TempDir()
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", root).Run() })

	nixSK := runNix(t, root, "", "nix", "key", "generate-secret", "--key-name", "nix-made")
	sk, err := ParseSecretKey(nixSK)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sk.Public().String(), runNix(t, root, nixSK, "nix", "key", "convert-secret-to-public"); got != want {
		t.Errorf("public key of Nix's secret: ours %s, Nix %s", got, want)
	}
	ours, err := GenerateSecretKey("cairn-made", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := runNix(t, root, ours.String(), "nix", "key", "convert-secret-to-public"), ours.Public().String(); got != want {
		t.Errorf("Nix's public key of our secret %s, ours %s", got, want)
	}

	// Two paths, one referring to the other.
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("data\n"), 0o644)
	expr := `let d = builtins.path { path = ` + src + `; name = "d"; }; in builtins.toFile "t" "uses ${d}"`
	out := runNix(t, root, "", "nix-instantiate", "--read-write-mode", "--eval", "--json", "-E", expr)
	var top string
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatal(err)
	}
	for _, key := range []SecretKey{sk, ours} {
		kf := filepath.Join(root, key.Name+".sk")
		os.WriteFile(kf, []byte(key.String()), 0o600)
		runNix(t, root, "", "nix", "store", "sign", "--key-file", kf, "--recursive", top)
	}
	var infos []struct {
		Path       string   `json:"path"`
		NarHash    string   `json:"narHash"`
		NarSize    uint64   `json:"narSize"`
		References []string `json:"references"`
		Signatures []string `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(runNix(t, root, "", "nix", "path-info", "--json", "--recursive", "--sigs", top)), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d paths", len(infos))
	}
	trusted := TrustedKeys{}
	trusted.Add(sk.Public(), ours.Public())
	for _, info := range infos {
		p, err := storepath.DefaultDir.Parse(info.Path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := nixhash.Parse(info.NarHash)
		if err != nil {
			t.Fatal(err)
		}
		var refs []storepath.Path
		for _, r := range info.References {
			rp, err := storepath.DefaultDir.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, rp)
		}
		fp, err := Fingerprint(storepath.DefaultDir, p, h, info.NarSize, refs)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []SecretKey{sk, ours} {
			want := key.Sign([]byte(fp)).String()
			found := false
			for _, s := range info.Signatures {
				found = found || s == want
			}
			if !found {
				t.Errorf("%s: Nix's signatures %v lack ours %s (fingerprint %q)", info.Path, info.Signatures, want, fp)
			}
		}
		if n := trusted.CountValid([]byte(fp), info.Signatures); n != 2 {
			t.Errorf("%s: %d of Nix's signatures verify, want 2", info.Path, n)
		}
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add(nixSecret)
	f.Add(nixPublic)
	f.Add(nixSig)
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSecretKey(s); err == nil && k.String() != s {
			t.Fatalf("secret key %q printed as %q", s, k)
		}
		if k, err := ParsePublicKey(s); err == nil && k.String() != s {
			t.Fatalf("public key %q printed as %q", s, k)
		}
		if sig, err := ParseSignature(s); err == nil && sig.String() != s {
			t.Fatalf("signature %q printed as %q", s, sig)
		}
	})
}
