package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
	"cairn/internal/store/narinfocache"
)

// addIAPath registers an input-addressed path (no CA, so only a
// signature makes a binary cache's copy trusted) holding a file with
// data and the given references.
func addIAPath(t *testing.T, root, name, data string, refs []storepath.Path) string {
	t.Helper()
	sum := sha256.Sum256([]byte(name + data))
	p, err := storepath.FromDigest(sum[:20], name)
	if err != nil {
		t.Fatal(err)
	}
	addAt(t, root, p, data, refs)
	return storepath.Dir("/nix/store").Print(p)
}

// addAt registers the input-addressed path p (a directory holding the
// file f with data) in the store at root.
func addAt(t *testing.T, root string, p storepath.Path, data string, refs []storepath.Path) {
	t.Helper()
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, dir); err != nil {
		t.Fatal(err)
	}
	info := &store.PathInfo{Path: p, NarHash: nixhash.Sum(nixhash.SHA256, buf.Bytes()), NarSize: uint64(buf.Len()), References: store.SortPaths(refs)}
	if err := st.AddNar(ctx, info, &buf); err != nil {
		t.Fatal(err)
	}
}

// cacheClosure makes a two-path input-addressed closure in e's store and
// returns (dependency, top).
func cacheClosure(t *testing.T, e *storeEnv) (string, string) {
	dep := addIAPath(t, e.root, "dep", strings.Repeat("dependency data\n", 500), nil)
	dp, _ := storepath.Dir("/nix/store").Parse(dep)
	top := addIAPath(t, e.root, "top", "uses "+dep+"\n", []storepath.Path{dp})
	return dep, top
}

func TestKeyGenerateConvert(t *testing.T) {
	e := newStoreEnv(t)
	sk := e.ok("key", "generate-secret", "--key-name", "test-1")
	if strings.HasSuffix(sk, "\n") || !strings.HasPrefix(sk, "test-1:") || len(sk) != 95 {
		t.Fatalf("secret key %q: want test-1:<88 base64 chars>, no newline", sk)
	}
	out, errs, code := e.run(sk+"\n", "key", "convert-secret-to-public")
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errs)
	}
	k, err := signature.ParseSecretKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if out != k.Public().String() {
		t.Errorf("public key %q, want %q", out, k.Public().String())
	}
	if _, errs, code := e.run("garbage", "key", "convert-secret-to-public"); code != 1 || !strings.Contains(errs, "secret key is corrupt") {
		t.Errorf("corrupt key: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := e.run("", "key", "generate-secret"); code != 1 || !strings.Contains(errs, "--key-name") {
		t.Errorf("no --key-name: exit %d, stderr %q", code, errs)
	}
}

func TestStoreSignAndCopySigs(t *testing.T) {
	e := newStoreEnv(t)
	dep, top := cacheClosure(t, e)
	sk := e.ok("key", "generate-secret", "--key-name", "k-1")
	e.write("sk", sk, 0o600)
	pk, _, _ := e.run(sk, "key", "convert-secret-to-public")
	other, _ := signature.GenerateSecretKey("other-1", nil)

	// Unsigned in a cache: refused unless --no-check-sigs.
	unsigned := "file://" + filepath.Join(e.work, "unsigned")
	e.ok("copy", "--to", unsigned, top)
	for _, f := range []string{"nix-cache-info", strings.TrimPrefix(top, "/nix/store/")[:32] + ".narinfo", strings.TrimPrefix(dep, "/nix/store/")[:32] + ".narinfo"} {
		if _, err := os.Stat(filepath.Join(e.work, "unsigned", f)); err != nil {
			t.Errorf("cache lacks %s: %v", f, err)
		}
	}
	r2 := filepath.Join(e.work, "r2")
	if _, errs, code := e.run("", "copy", "--from", unsigned, "--to", r2, top); code == 0 {
		t.Errorf("unsigned paths copied with require-sigs; stderr %s", errs)
	}
	e.ok("copy", "--from", unsigned, "--to", filepath.Join(e.work, "r3"), "--no-check-sigs", top)

	// Signed by store sign -r, then copied: the signatures travel.
	_, errs, code := e.run("", "store", "sign", "-k", filepath.Join(e.work, "sk"), "-r", top)
	if code != 0 || errs != "added 2 signatures\n" {
		t.Fatalf("store sign: exit %d, stderr %q", code, errs)
	}
	if _, errs, _ := e.run("", "store", "sign", "--key-file", "sk", top); errs != "added 0 signatures\n" {
		t.Errorf("second store sign: stderr %q, want none added", errs)
	}
	signed := "file://" + filepath.Join(e.work, "signed") + "?compression=zstd"
	e.ok("copy", "--to", signed, top)
	base := "file://" + filepath.Join(e.work, "signed")
	if _, errs, code := e.run("", "copy", "--from", base, "--to", filepath.Join(e.work, "r4"), "--option", "trusted-public-keys", other.Public().String(), top); code == 0 {
		t.Errorf("copied with the wrong trusted key; stderr %s", errs)
	}
	r5 := filepath.Join(e.work, "r5")
	env := []string{"HOME=" + e.work, "NIX_REMOTE=dummy://", "NIX_CONFIG=trusted-public-keys = " + pk}
	var out, errb bytes.Buffer
	if code := mainIn(t.Context(), e.work, []string{"cairn", "copy", "--from", base, "--store", r5, top}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("copy --from with the key from NIX_CONFIG: exit %d: %s", code, errb.String())
	}
	st, err := local.Open(t.Context(), local.Options{Root: r5})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []string{dep, top} {
		sp, _ := st.Dir().Parse(p)
		info, err := st.QueryPathInfo(t.Context(), sp)
		if err != nil {
			t.Fatalf("%s not copied: %v", p, err)
		}
		if len(info.Signatures) != 1 || !strings.HasPrefix(info.Signatures[0], "k-1:") {
			t.Errorf("%s: signatures %q", p, info.Signatures)
		}
	}
	// A cache signing while it is written (secret-key=) also works.
	e.ok("copy", "--to", "file://"+filepath.Join(e.work, "c2")+"?secret-key="+filepath.Join(e.work, "sk")+"&compression=xz", dep)
	e.ok("copy", "--from", "file://"+filepath.Join(e.work, "c2"), "--to", filepath.Join(e.work, "r6"), "--option", "trusted-public-keys", pk, dep)
}

func TestCopyFlags(t *testing.T) {
	e := newStoreEnv(t)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no direction", []string{"copy", "/nix/store/00000000000000000000000000000000-x"}, "--from"},
		{"bad url param", []string{"copy", "--to", "file:///tmp/x?compresion=xz"}, "unknown setting 'compresion'"},
		{"bad priority", []string{"serve", "--priority", "x"}, "integer"},
		{"sign without key", []string{"store", "sign", "/nix/store/00000000000000000000000000000000-x"}, "--key-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := e.run("", tt.args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, errs, tt.want)
			}
		})
	}
}

func TestCopyServeKeyHelp(t *testing.T) {
	e := newStoreEnv(t)
	for _, args := range [][]string{{"copy", "--help"}, {"serve", "--help"}, {"key", "generate-secret", "--help"}, {"store", "sign", "--help"}} {
		out, errs, code := e.run("", args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: cairn "+strings.Join(args[:len(args)-1], " ")+" ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

func TestServeCopyFrom(t *testing.T) {
	e := newStoreEnv(t)
	_, top := cacheClosure(t, e)
	sk := e.ok("key", "generate-secret", "--key-name", "srv-1")
	e.write("sk", sk, 0o600)
	pk, _, _ := e.run(sk, "key", "convert-secret-to-public")

	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	f := &Factory{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Environ: []string{"HOME=" + e.work}, Dir: e.work, Prog: "cairn serve"}
	go func() {
		done <- newServeCmd(f, func(o *ServeOptions) error {
			o.Ready = func(a string) { addr <- a }
			return runServe(ctx, o)
		})([]string{"--listen", "127.0.0.1:0", "--sign-key", "sk", "--priority", "30", "--store", e.root})
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	r2 := filepath.Join(e.work, "r2")
	e.ok("copy", "--from", url, "--to", r2, "--option", "trusted-public-keys", pk, top)
	e.ok("copy", "--from", url+"/", "--to", filepath.Join(e.work, "r3"), "--option", "trusted-public-keys", pk, "--option", "require-sigs", "true", top)
	if _, errs, code := e.run("", "copy", "--from", url, "--to", filepath.Join(e.work, "r4"), top); code == 0 {
		t.Errorf("copied from a server signing with an untrusted key; stderr %s", errs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
	// The narinfos were remembered in the disk cache under HOME.
	disk, err := narinfocache.Open(t.Context(), filepath.Join(e.work, ".cache/cairn/binary-cache-v6.sqlite"), narinfocache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	topP, _ := storepath.Dir("/nix/store").Parse(top)
	if got, ni, err := disk.Lookup(t.Context(), url, topP.HashPart(), "/nix/store"); got != narinfocache.Present || ni.StorePath != topP {
		t.Errorf("disk cache entry for %s: %v %v", top, got, err)
	}
	st, err := local.Open(t.Context(), local.Options{Root: r2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	paths, err := st.QueryValidPaths(t.Context())
	if err != nil || len(paths) != 2 {
		t.Errorf("copied store holds %d paths (%v), want 2", len(paths), err)
	}
}
