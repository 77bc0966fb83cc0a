package binarycache

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/binarycache/nixtest"
	"cairn/internal/store/local"
)

// Acceptance tests against Nix 2.8 (Debian nix-bin) in chroot stores
// (NIX_REMOTE=local?root=...), over file:// and loopback http://.

func nixKeys(t *testing.T, root, name string) (signature.SecretKey, string) {
	t.Helper()
	skText := nixtest.Must(t, root, "nix", "key", "generate-secret", "--key-name", name)
	pkText, err := nixtest.Run(root, skText, "nix", "key", "convert-secret-to-public")
	if err != nil {
		t.Fatal(err, pkText)
	}
	file := filepath.Join(root, name+".sk")
	os.WriteFile(file, []byte(skText), 0o600)
	sk, err := signature.ParseSecretKey(skText)
	if err != nil {
		t.Fatal(err)
	}
	if sk.Public().String() != pkText {
		t.Fatalf("our public key %s, Nix's %s", sk.Public(), pkText)
	}
	return sk, file
}

// TestSubstituteFromNixCache: Nix 2.8 `nix copy --to file://...` with a
// Nix-made key and each compression; our client substitutes the closure
// into a fresh chroot store, from the directory and over loopback http,
// with require-sigs; Nix then verifies the store contents.
func TestSubstituteFromNixCache(t *testing.T) {
	nixtest.Need(t)
	ctx := context.Background()
	root := nixtest.Root(t)
	out := nixtest.BuildClosure(t, root)
	sk, skFile := nixKeys(t, root, "nix-made-1")
	trusted := signature.TrustedKeys{}
	trusted.Add(sk.Public())
	top, err := storepath.DefaultDir.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, comp := range []string{"xz", "bzip2", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			cache := filepath.Join(root, "cache-"+comp)
			nixtest.Must(t, root, "nix", "copy", "--to", "file://"+cache+"?compression="+comp+"&secret-key="+skFile+"&write-nar-listing=true", out)
			srv := httptest.NewServer(http.FileServer(http.Dir(cache)))
			defer srv.Close()
			for _, url := range []string{"file://" + cache, srv.URL} {
				opts := fastOpts(url)
				opts.RequireSigs, opts.TrustedKeys = true, trusted
				c, err := Open(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				dstRoot := nixtest.Root(t)
				dst, err := local.Open(ctx, local.Options{Root: dstRoot})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Substitute(ctx, dst, []storepath.Path{top}); err != nil {
					t.Fatal(err)
				}
				cl, err := store.Closure(ctx, dst, []storepath.Path{top}, store.ClosureOptions{})
				if err != nil || len(cl) != 3 {
					t.Fatalf("closure %v, %v", cl, err)
				}
				for _, p := range cl {
					ni, err := c.NarInfo(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					if ni.CountValidSigs(trusted) != 1 {
						t.Errorf("%s: Nix's signature does not verify", p)
					}
					info, err := dst.QueryPathInfo(ctx, p)
					if err != nil || len(info.Signatures) != 1 {
						t.Errorf("%s: %+v, %v", p, info, err)
					}
				}
				dst.Close()
				nixtest.Verify(t, dstRoot)
				var infos []struct {
					Path       string   `json:"path"`
					Signatures []string `json:"signatures"`
				}
				js := nixtest.Must(t, dstRoot, "nix", "path-info", "--json", "--sigs", "--recursive", out)
				if err := json.Unmarshal([]byte(js), &infos); err != nil || len(infos) != 3 {
					t.Fatalf("nix path-info: %v\n%s", err, js)
				}
				for _, info := range infos {
					if len(info.Signatures) != 1 || !strings.HasPrefix(info.Signatures[0], "nix-made-1:") {
						t.Errorf("Nix sees signatures %v on %s", info.Signatures, info.Path)
					}
				}
			}
			// A wrong trusted key: the input-addressed output is refused.
			opts := fastOpts("file://" + cache)
			opts.RequireSigs, opts.TrustedKeys = true, signature.TrustedKeys{}
			opts.TrustedKeys.Add(newKey(t, "nix-made-1").Public())
			c, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			dst := openLocal(t)
			if err := c.Substitute(ctx, dst, []storepath.Path{top}); err == nil || !strings.Contains(err.Error(), "lacks a signature by a trusted key") {
				t.Errorf("wrong key: %v", err)
			}
			notRegistered(t, dst, top)
		})
	}
}

// TestNixCacheLayout: our writer produces the same files as Nix's for the
// same closure: identical narinfos (signatures included: ed25519 is
// deterministic), listings and, for compression none, NAR files.
func TestNixCacheLayout(t *testing.T) {
	nixtest.Need(t)
	ctx := context.Background()
	root := nixtest.Root(t)
	out := nixtest.BuildClosure(t, root)
	sk, skFile := nixKeys(t, root, "layout-1")
	nixCache := filepath.Join(root, "nix-cache")
	nixtest.Must(t, root, "nix", "copy", "--to", "file://"+nixCache+"?compression=none&secret-key="+skFile+"&write-nar-listing=true", out)
	src, err := local.Open(ctx, local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	top, _ := storepath.DefaultDir.Parse(out)
	ourCache := filepath.Join(root, "our-cache")
	c, err := Open(ctx, Options{URL: "file://" + ourCache, Create: true, Compression: "none", SecretKey: &sk, WriteNarListing: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, src, c, []storepath.Path{top}, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	list := func(dir string) map[string]string {
		files := map[string]string{}
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				data, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				files[rel] = string(data)
			}
			return nil
		})
		return files
	}
	theirs, ours := list(nixCache), list(ourCache)
	if len(theirs) != len(ours) || len(theirs) != 1+3*3 {
		t.Errorf("Nix wrote %d files, we wrote %d", len(theirs), len(ours))
	}
	for name, want := range theirs {
		if got, ok := ours[name]; !ok {
			t.Errorf("we did not write %s", name)
		} else if got != want {
			if len(want) > 2000 {
				want, got = want[:100]+"...", got[:100]+"..."
			}
			t.Errorf("%s differs:\n ours %q\nNix's %q", name, got, want)
		}
	}
	for _, d := range []string{"nar", "log", "realisations"} {
		if fi, err := os.Stat(filepath.Join(ourCache, d)); err != nil || !fi.IsDir() {
			t.Errorf("no %s directory", d)
		}
	}
}

// TestNixSubstitutesFromOurCache: our writer fills a file:// cache (each
// compression Nix reads, signed with our key) from our local store; Nix
// 2.8 copies from it with require-sigs and our public key, and the
// contents verify; with a wrong key Nix refuses.
func TestNixSubstitutesFromOurCache(t *testing.T) {
	nixtest.Need(t)
	ctx := context.Background()
	root := nixtest.Root(t)
	src, err := local.Open(ctx, local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	paths := closure(t, src)
	// An input-addressed path (no CA), whose signature Nix must check.
	var nar bytes.Buffer
	if err := src.NarFromPath(ctx, paths[2], &nar); err != nil {
		t.Fatal(err)
	}
	ia, err := storepath.FromDigest(bytes.Repeat([]byte{7}, 20), "input-addressed")
	if err != nil {
		t.Fatal(err)
	}
	iaInfo := &store.PathInfo{Path: ia, NarHash: nixhash.Sum(nixhash.SHA256, nar.Bytes()), NarSize: uint64(nar.Len()),
		References: []storepath.Path{paths[1], paths[0]}}
	if err := src.AddNar(ctx, iaInfo, bytes.NewReader(nar.Bytes())); err != nil {
		t.Fatal(err)
	}
	key := newKey(t, "cairn-made-1")
	for _, comp := range []string{"xz", "zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			cache := filepath.Join(root, "cache-"+comp)
			c, err := Open(ctx, Options{URL: "file://" + cache, Create: true, Compression: comp, SecretKey: &key, WriteNarListing: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := Copy(ctx, src, c, []storepath.Path{ia}, CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			iaNI, err := c.NarInfo(ctx, ia)
			if err != nil {
				t.Fatal(err)
			}
			if iaNI.HasCA() || len(iaNI.Sigs) != 1 {
				t.Fatalf("narinfo %s", iaNI)
			}
			pathArg := src.Dir().Print(ia)
			// Wrong key first: nothing may land.
			wrongRoot := nixtest.Root(t)
			o, err := nixtest.Run(wrongRoot, "", "nix", "copy", "--option", "require-sigs", "true",
				"--option", "trusted-public-keys", newKey(t, "cairn-made-1").Public().String(),
				"--from", "file://"+cache, pathArg)
			if err == nil || !strings.Contains(o, "lacks a valid signature") {
				t.Errorf("Nix accepted a wrong key: %v\n%s", err, o)
			}
			dstRoot := nixtest.Root(t)
			nixtest.Must(t, dstRoot, "nix", "copy", "--option", "require-sigs", "true",
				"--option", "trusted-public-keys", key.Public().String(), "--from", "file://"+cache, pathArg)
			nixtest.Verify(t, dstRoot)
			js := nixtest.Must(t, dstRoot, "nix", "path-info", "--json", "--sigs", "--recursive", pathArg)
			var infos []struct {
				Path       string   `json:"path"`
				NarHash    string   `json:"narHash"`
				Signatures []string `json:"signatures"`
			}
			if err := json.Unmarshal([]byte(js), &infos); err != nil || len(infos) != 3 {
				t.Fatalf("nix path-info: %v\n%s", err, js)
			}
			for _, info := range infos {
				p, _ := src.ParsePath(info.Path)
				ni, err := c.NarInfo(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(info.Signatures) != 1 || info.Signatures[0] != ni.Sigs[0] {
					t.Errorf("%s: Nix has signatures %v, our narinfo %v", info.Path, info.Signatures, ni.Sigs)
				}
			}
			if comp == "none" {
				// Nix reads our listing format too (nix store ls uses it).
				o := nixtest.Must(t, dstRoot, "nix", "store", "ls", "--store", "file://"+cache, "-lR", src.Dir().Print(paths[0]))
				if !strings.Contains(o, "link -> file") || !strings.Contains(o, "sub/x") {
					t.Errorf("nix store ls:\n%s", o)
				}
			}
		})
	}
}
