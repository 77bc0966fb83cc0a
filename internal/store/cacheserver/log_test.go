package cacheserver

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsnet/compress/bzip2"

	"cairn/internal/compat/storepath"
)

// writeLog stores text as the bzip2-compressed build log of drv, where
// Nix 2.8 and our builder put it.
func writeLog(t *testing.T, p string, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p + ".bz2")
	if err != nil {
		t.Fatal(err)
	}
	z, err := bzip2.NewWriter(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBuildLog: /log/<drv base name> serves the stored (bzip2) log as
// text; a derivation without a log, a path that is not a .drv and path
// traversal attempts are 404 and never reach outside the log directory.
func TestBuildLog(t *testing.T) {
	s := openLocal(t, tempRoot(t))
	drv, err := storepath.ParseBase("0123456789abcdfghijklmnpqrsvwxyz-hello-2.10.drv")
	if err != nil {
		t.Fatal(err)
	}
	text := "unpacking sources\nbuilding\n\xff not utf-8 is passed as is\n"
	writeLog(t, s.BuildLogPath(drv), text)
	// A file beside the log directory a traversal could try to reach.
	os.WriteFile(filepath.Join(s.LogDir(), "drvs", "secret"), []byte("secret"), 0o644)
	writeLog(t, filepath.Join(s.LogDir(), "drvs", "x"), "secret log")

	srv := serve(t, s, Options{})
	code, hdr, body := get(t, srv.URL+"/log/"+drv.Base())
	if code != http.StatusOK || body != text {
		t.Fatalf("GET log: %d %q", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/log/"+drv.Base(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD log: %d", resp.StatusCode)
	}

	h, _ := New(s, Options{})
	for _, p := range []string{
		"/log/0123456789abcdfghijklmnpqrsvwxyz-other-1.0.drv", // no log
		"/log/0123456789abcdfghijklmnpqrsvwxyz-hello-2.10",    // not a .drv
		"/log/" + drv.Base() + "/",
		"/log/",
		"/log/../x",
		"/log/../drvs/secret",
		"/log/..%2fsecret",
		"/log/01/23456789abcdfghijklmnpqrsvwxyz-hello-2.10.drv",
		"/log/x",
	} {
		// Sent to the handler as is: no client or mux cleans the path.
		path, err := url.PathUnescape(p)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawPath = path, p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("GET %s: %d %q, want 404", p, rec.Code, rec.Body.String())
		}
	}
}

// onlyStore hides the LogStore method of a local store.
type onlyStore struct{ HashPartStore }

// TestBuildLogNoLogStore: a store that keeps no logs has none to serve.
func TestBuildLogNoLogStore(t *testing.T) {
	s := openLocal(t, tempRoot(t))
	drv, _ := storepath.ParseBase("0123456789abcdfghijklmnpqrsvwxyz-hello-2.10.drv")
	writeLog(t, s.BuildLogPath(drv), "log")
	srv := serve(t, onlyStore{s}, Options{})
	if code, _, body := get(t, srv.URL+"/log/"+drv.Base()); code != http.StatusNotFound {
		t.Errorf("GET log: %d %q", code, body)
	}
}
