package glue

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/eval"
)

// fetchServer serves /hello.txt ("hello\n") and /x.tar.gz, a tarball of
// pkg/{a, sub/run (executable), link -> a}, and counts requests.
func fetchServer(t *testing.T) (*httptest.Server, *int) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "pkg/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		{Name: "pkg/sub/run", Typeflag: tar.TypeReg, Mode: 0o755, Size: 10},
		{Name: "pkg/link", Typeflag: tar.TypeSymlink, Linkname: "a"},
	} {
		must(t, tw.WriteHeader(h))
		switch h.Name {
		case "pkg/a":
			io.WriteString(tw, "hi\n")
		case "pkg/sub/run":
			io.WriteString(tw, "#!/bin/sh\n")
		}
	}
	must(t, tw.Close())
	must(t, zw.Close())
	tarball := b.Bytes()
	n := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*n++
		switch r.URL.Path {
		case "/hello.txt":
			io.WriteString(w, "hello\n")
		case "/x.tar.gz":
			w.Write(tarball)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

// Paths and hashes below were computed by Nix 2.8 (nix-instantiate
// --eval against a local server serving the same content; fetchTree
// with --extra-experimental-features flakes). The "file" fetchTree type
// is newer than 2.8: its path is the flat "source" path of hello.txt
// (builtins.path { name = "source"; recursive = false; } in Nix 2.8).
const (
	helloPath   = "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"
	helloHash   = "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"
	greetPath   = "/nix/store/9ai0f5kyg5z0fb3szn6ib04v8mx098kw-greeting"
	tarballPath = "/nix/store/3ik98mg5z74rj5vf9wyzad3w36iw8hr1-source"
	tarballHash = "11la4y7kwm2r1l9lifzmhyjm6i0nifvi438rnx27qi3kyn5ydvf3"
	zeroHash    = "0000000000000000000000000000000000000000000000000000"
)

func fetchCases(u string) []struct{ name, expr, want string } {
	return []struct{ name, expr, want string }{
		{"url", `builtins.fetchurl "` + u + `/hello.txt"`, `"` + helloPath + `"`},
		{"attrs", `builtins.fetchurl { url = "` + u + `/hello.txt"; }`, `"` + helloPath + `"`},
		{"name", `builtins.fetchurl { url = "` + u + `/hello.txt"; name = "greeting"; }`, `"` + greetPath + `"`},
		{"hash", `builtins.fetchurl { url = "` + u + `/hello.txt"; sha256 = "` + helloHash + `"; }`, `"` + helloPath + `"`},
		{"mismatch", `builtins.fetchurl { url = "` + u + `/hello.txt"; sha256 = "` + zeroHash + `"; }`,
			"error: hash mismatch in file downloaded from '" + u + "/hello.txt':\n  specified: sha256:" + zeroHash + "\n  got:       sha256:" + helloHash},
		{"context", `builtins.getContext (builtins.fetchurl "` + u + `/hello.txt")`, `{ "` + helloPath + `" = { path = true; }; }`},
		{"tarball", `builtins.fetchTarball "` + u + `/x.tar.gz"`, `"` + tarballPath + `"`},
		{"tarball hash", `builtins.fetchTarball { url = "` + u + `/x.tar.gz"; sha256 = "` + tarballHash + `"; }`, `"` + tarballPath + `"`},
		{"tarball mismatch", `builtins.fetchTarball { url = "` + u + `/x.tar.gz"; sha256 = "` + zeroHash + `"; }`,
			"error: hash mismatch in file downloaded from '" + u + "/x.tar.gz':\n  specified: sha256:" + zeroHash + "\n  got:       sha256:" + tarballHash},
		{"tree file", `(builtins.fetchTree { type = "file"; url = "` + u + `/hello.txt"; }).outPath`,
			`"/nix/store/fw64rwl308x0a7bc2ypdghdkivq8nv94-source"`},
		{"tree tarball", `builtins.fetchTree "` + u + `/x.tar.gz"`,
			`{ narHash = "sha256-w+3mi/VzRHxEtxkNEreLFkRTpYf1u0gTDVlUPo8nioY="; outPath = "` + tarballPath + `"; }`},
		{"404", `builtins.fetchurl "` + u + `/nope"`, "error: unable to download '" + u + "/nope': HTTP error 404"},
		{"bad arg", `builtins.fetchurl { url = "` + u + `/hello.txt"; md5 = "x"; }`, "error: unsupported argument 'md5' to 'fetchurl'"},
		{"no url", `builtins.fetchTarball { }`, "error: 'url' argument required"},
		{"bad name", `builtins.fetchurl "` + u + `/~x"`, "error: invalid store path name when fetching URL '" + u +
			"/~x': name '~x' contains illegal character '~'. Please pass an attribute set with 'url' and 'name' attributes to 'fetchurl',  so that it can create a valid store path."},
	}
}

func evalFetch(t *testing.T, g *IO, expr string) string {
	t.Helper()
	return evalStringOpts(t, g, "/", expr, false)
}

// evalStringOpts evaluates expr (relative paths from dir) deeply with
// g's fetchers registered and returns the printed value or the error text.
func evalStringOpts(t *testing.T, g *IO, dir, expr string, pure bool) string {
	t.Helper()
	ev := eval.New(eval.Options{IO: g, ExtraBuiltins: g.Fetchers(), Pure: pure})
	var out strings.Builder
	err := ev.Run(func() error {
		v, err := ev.EvalString(expr, "«string»", dir)
		if err != nil {
			return err
		}
		if err := ev.ForceDeep(v); err != nil {
			return err
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		return "error: " + err.Error()
	}
	return out.String()
}

func TestFetchComputeOnly(t *testing.T) {
	srv, _ := fetchServer(t)
	g := New(context.Background(), Options{})
	for _, tt := range fetchCases(srv.URL) {
		if got := evalFetch(t, g, tt.expr); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestFetchLocalStore(t *testing.T) {
	srv, n := fetchServer(t)
	root := t.TempDir()
	u, err := ParseStoreURL("local?root=" + root)
	must(t, err)
	g := New(context.Background(), Options{Root: root, OpenStore: u.Opener()})
	defer g.Close()
	for _, tt := range fetchCases(srv.URL) {
		if got := evalFetch(t, g, tt.expr); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, helloPath))
	if err != nil || string(b) != "hello\n" {
		t.Errorf("%s: %q, %v", helloPath, b, err)
	}
	fi, err := os.Stat(filepath.Join(root, tarballPath, "sub", "run"))
	if err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("unpacked sub/run: %v, %v", fi, err)
	}
	// A pinned fetch of a path already in the store does not download.
	before := *n
	expr := `builtins.fetchTarball { url = "` + srv.URL + `/x.tar.gz"; sha256 = "` + tarballHash + `"; }`
	if got := evalFetch(t, g, expr); got != `"`+tarballPath+`"` || *n != before {
		t.Errorf("pinned and valid: %s, %d requests", got, *n-before)
	}
}

func TestFetchPure(t *testing.T) {
	srv, _ := fetchServer(t)
	g := New(context.Background(), Options{})
	got := evalStringOpts(t, g, "/", `builtins.fetchurl "`+srv.URL+`/hello.txt"`, true)
	if want := "error: in pure evaluation mode, 'fetchurl' requires a 'sha256' argument"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestFetchNix compares with Nix 2.8 on the same server.
func TestFetchNix(t *testing.T) {
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-instantiate not found (CI=true)")
		}
		t.Skip("SKIPPING: nix-instantiate (Nix 2.8) not installed; install nix-bin to compare fetchers with Nix")
	}
	srv, _ := fetchServer(t)
	store := t.TempDir()
	g := New(context.Background(), Options{})
	for _, expr := range []string{
		`builtins.fetchTarball { url = "` + srv.URL + `/x.tar.gz"; }`,
		`builtins.fetchTarball { url = "` + srv.URL + `/x.tar.gz"; name = "pkg"; }`,
		`builtins.fetchurl "` + srv.URL + `/hello.txt"`,
		`builtins.fetchurl { url = "` + srv.URL + `/hello.txt"; name = "greeting"; }`,
	} {
		cmd := exec.Command(nix, "--store", store, "--option", "substituters", "", "--eval", "-E", expr)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: nix-instantiate: %v\n%s", expr, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		want := lines[len(lines)-1]
		if got := evalFetch(t, g, expr); got != want {
			t.Errorf("%s:\n got %s\nwant %s (Nix)", expr, got, want)
		}
	}
}
