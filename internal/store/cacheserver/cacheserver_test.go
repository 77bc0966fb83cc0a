package cacheserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/binarycache"
	"cairn/internal/store/local"
)

func openLocal(t *testing.T, root string) *local.Store {
	t.Helper()
	s, err := local.Open(context.Background(), local.Options{Root: root, NoFsyncMetadata: true, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempRoot(t *testing.T) string {
	d, err := os.MkdirTemp("/tmp", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", d).Run(); os.RemoveAll(d) })
	return d
}

// closure adds a directory and a text file referring to it.
func closure(t *testing.T, s *local.Store) []storepath.Path {
	t.Helper()
	ctx := context.Background()
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "file"), bytes.Repeat([]byte("some data\n"), 5000), 0o644)
	os.WriteFile(filepath.Join(d, "run"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("file", filepath.Join(d, "link"))
	dir, err := s.AddPath(ctx, d, local.AddOptions{Name: "dir", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.AddText(ctx, "top", []byte("uses "+s.Dir().Print(dir.Path)), []storepath.Path{dir.Path})
	if err != nil {
		t.Fatal(err)
	}
	return []storepath.Path{dir.Path, top.Path}
}

func serve(t *testing.T, s HashPartStore, opts Options) *httptest.Server {
	h, err := New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestClientRoundTrip: our client substitutes from our server, signed,
// with each NAR compression.
func TestClientRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t, tempRoot(t))
	paths := closure(t, src)
	key, _ := signature.GenerateSecretKey("server-1", nil)
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			srv := serve(t, src, Options{SecretKey: &key, Compression: comp, Priority: 30, WantMassQuery: true})
			trusted := signature.TrustedKeys{}
			trusted.Add(key.Public())
			c, err := binarycache.Open(ctx, binarycache.Options{URL: srv.URL, RequireSigs: true, TrustedKeys: trusted, StallTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if info := c.Info(); info.Priority != 30 || !info.WantMassQuery || info.StoreDir != "/nix/store" {
				t.Errorf("info %+v", info)
			}
			dst := openLocal(t, tempRoot(t))
			if err := c.Substitute(ctx, dst, paths[1:]); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				var a, b bytes.Buffer
				src.NarFromPath(ctx, p, &a)
				dst.NarFromPath(ctx, p, &b)
				if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
					t.Errorf("%s: NAR differs", p)
				}
			}
			ni, err := c.NarInfo(ctx, paths[0])
			if err != nil {
				t.Fatal(err)
			}
			if ni.Compression != comp || (comp == "zstd") != ni.FileHash.IsZero() {
				t.Errorf("narinfo:\n%s", ni)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t, tempRoot(t))
	paths := closure(t, src)
	srv := serve(t, src, Options{})
	info, err := src.QueryPathInfo(ctx, paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var narBytes bytes.Buffer
	src.NarFromPath(ctx, paths[0], &narBytes)
	full := narBytes.String()
	hp := paths[0].HashPart()
	narURL := srv.URL + "/nar/" + hp + "-" + nixbase32.EncodeToString(info.NarHash.Digest) + ".nar"
	n := len(full)
	tests := []struct {
		name, url, rng string
		status         int
		body           string // "" = don't check
		contentRange   string
	}{
		{"cache info", srv.URL + "/nix-cache-info", "", 200, "StoreDir: /nix/store\n", ""},
		{"nar", narURL, "", 200, full, ""},
		{"nar without hash", srv.URL + "/nar/" + hp + ".nar", "", 200, full, ""},
		{"range", narURL, "bytes=10-19", 206, full[10:20], "bytes 10-19/" + itoa(n)},
		{"open range", narURL, "bytes=100-", 206, full[100:], "bytes 100-" + itoa(n-1) + "/" + itoa(n)},
		{"suffix range", narURL, "bytes=-7", 206, full[n-7:], "bytes " + itoa(n-7) + "-" + itoa(n-1) + "/" + itoa(n)},
		{"range past end clipped", narURL, "bytes=8-99999999", 206, full[8:], "bytes 8-" + itoa(n-1) + "/" + itoa(n)},
		{"unsatisfiable", narURL, "bytes=99999999-", 416, "", "bytes */" + itoa(n)},
		{"multi range served whole", narURL, "bytes=0-1,5-6", 200, full, ""},
		{"wrong nar hash", srv.URL + "/nar/" + hp + "-" + strings.Repeat("0", 52) + ".nar", "", 404, "", ""},
		{"unknown path", srv.URL + "/" + strings.Repeat("0", 32) + ".narinfo", "", 404, "", ""},
		{"bad hash part", srv.URL + "/" + strings.Repeat("e", 32) + ".narinfo", "", 404, "", ""},
		{"traversal", srv.URL + "/nar/../nix-cache-info", "", 404, "", ""},
		{"other file", srv.URL + "/foo", "", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := get(t, tt.url, "Range", tt.rng)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%s)", status, tt.status, body)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body of %d bytes differs from the expected %d", len(body), len(tt.body))
			}
			if got := hdr.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tt.contentRange)
			}
		})
	}
	// The listing is the NAR's.
	_, _, ls := get(t, srv.URL+"/"+hp+".ls")
	want, err := nar.NewListing(strings.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	wantJS, _ := want.MarshalJSON()
	if ls != string(wantJS) || !strings.Contains(ls, `"narOffset"`) {
		t.Errorf("listing %s, want %s", ls, wantJS)
	}
	// HEAD gives the headers without a body; POST is refused.
	resp, err := http.Head(narURL)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(n) {
		t.Errorf("HEAD: %v %+v", err, resp)
	}
	resp, err = http.Post(srv.URL+"/nix-cache-info", "text/plain", nil)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %+v", err, resp)
	}
	if _, err := New(src, Options{Compression: "xz"}); err == nil {
		t.Error("xz accepted")
	}
}

// brokenStore fails NarFromPath halfway.
type brokenStore struct{ HashPartStore }

func (b brokenStore) NarFromPath(ctx context.Context, p storepath.Path, w io.Writer) error {
	var buf bytes.Buffer
	if err := b.HashPartStore.NarFromPath(ctx, p, &buf); err != nil {
		return err
	}
	w.Write(buf.Bytes()[:buf.Len()/2])
	return io.ErrUnexpectedEOF
}

// TestAbortMidStream: a store failure mid-NAR aborts the response, and
// our client registers nothing.
func TestAbortMidStream(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t, tempRoot(t))
	paths := closure(t, src)
	srv := serve(t, brokenStore{src}, Options{})
	c, err := binarycache.Open(ctx, binarycache.Options{URL: srv.URL, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	dst := openLocal(t, tempRoot(t))
	if err := c.Substitute(ctx, dst, paths[:1]); err == nil || !strings.Contains(err.Error(), "download NAR of") {
		t.Fatalf("got %v", err)
	}
	if ok, _ := dst.IsValid(ctx, paths[0]); ok {
		t.Error("registered after an aborted download")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var _ store.Store = (*local.Store)(nil)

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-99", int64(100))
	f.Add("bytes=-5", int64(10))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		start, end, ok := parseRange(h, size)
		if !ok || start < 0 {
			return
		}
		if start > end || end >= size {
			t.Fatalf("parseRange(%q, %d) = %d, %d", h, size, start, end)
		}
	})
}
