package binarycache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
	"cairn/internal/store/storetest"
)

func openLocal(t *testing.T) *local.Store {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", root).Run() })
	s, err := local.Open(context.Background(), local.Options{Root: root, NoFsyncMetadata: true, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// closure fills a local store with a small closure: a directory (file,
// executable, symlink), a text file referring to it, and a top text
// file referring to both. It returns the top path.
func closure(t *testing.T, s *local.Store) []storepath.Path {
	t.Helper()
	ctx := context.Background()
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "file"), bytes.Repeat([]byte("some data\n"), 1000), 0o644)
	os.WriteFile(filepath.Join(d, "run"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("file", filepath.Join(d, "link"))
	os.Mkdir(filepath.Join(d, "sub"), 0o755)
	os.WriteFile(filepath.Join(d, "sub", "x"), nil, 0o644)
	dir, err := s.AddPath(ctx, d, local.AddOptions{Name: "dir", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	mid, err := s.AddText(ctx, "mid", []byte("uses "+s.Dir().Print(dir.Path)), []storepath.Path{dir.Path})
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.AddText(ctx, "top", []byte("uses "+s.Dir().Print(mid.Path)), []storepath.Path{mid.Path, dir.Path})
	if err != nil {
		t.Fatal(err)
	}
	return []storepath.Path{dir.Path, mid.Path, top.Path}
}

func newKey(t *testing.T, name string) signature.SecretKey {
	k, err := signature.GenerateSecretKey(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fileCache writes the closure of paths from src to a new file:// cache.
func fileCache(t *testing.T, src store.Store, paths []storepath.Path, compression string, key *signature.SecretKey) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := Open(context.Background(), Options{URL: "file://" + dir, Create: true, Compression: compression, SecretKey: key, WriteNarListing: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(context.Background(), src, c, paths, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fastOpts(url string) Options {
	return Options{URL: url, StallTimeout: 300 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, Retries: 2}
}

func sameNar(t *testing.T, a, b store.Store, p storepath.Path) {
	t.Helper()
	var x, y bytes.Buffer
	if err := a.NarFromPath(context.Background(), p, &x); err != nil {
		t.Fatal(err)
	}
	if err := b.NarFromPath(context.Background(), p, &y); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Errorf("%s: NARs differ", p)
	}
}

func TestWriteSubstituteRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	key := newKey(t, "cairn-test-1")
	for _, comp := range []string{"none", "xz", "zstd", "gzip"} {
		t.Run(comp, func(t *testing.T) {
			dir := fileCache(t, src, paths[2:], comp, &key)
			if data, _ := os.ReadFile(filepath.Join(dir, "nix-cache-info")); string(data) != "StoreDir: /nix/store\n" {
				t.Errorf("nix-cache-info %q", data)
			}
			srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer srv.Close()
			for _, url := range []string{"file://" + dir, srv.URL} {
				opts := fastOpts(url)
				opts.RequireSigs = true
				opts.TrustedKeys = signature.TrustedKeys{}
				opts.TrustedKeys.Add(key.Public())
				c, err := Open(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				dst := openLocal(t)
				if err := c.Substitute(ctx, dst, paths[2:]); err != nil {
					t.Fatal(err)
				}
				for _, p := range paths {
					sameNar(t, src, dst, p)
					info, err := dst.QueryPathInfo(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					if len(info.Signatures) != 1 || !strings.HasPrefix(info.Signatures[0], "cairn-test-1:") {
						t.Errorf("signatures %v", info.Signatures)
					}
				}
				ni, err := c.NarInfo(ctx, paths[0])
				if err != nil {
					t.Fatal(err)
				}
				if ni.Compression != comp || !strings.HasSuffix(ni.URL, ".nar"+extensions[comp]) {
					t.Errorf("narinfo %s", ni)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, paths[0].HashPart()+".ls")); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCacheInfo(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nix", "StoreDir: /nix/store\n", "{/nix/store false 0}"},
		{"full", "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n", "{/nix/store true 40}"},
		{"ignored", "junk\nFoo: bar\n  Priority:   30  \n", "{ false 30}"},
		{"bad priority", "Priority: high\n", "nix-cache-info:1: invalid Priority 'high'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ParseInfo(strings.NewReader(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = fmt.Sprint(info)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /gnu/store\n"), 0o644)
	if _, err := Open(context.Background(), Options{URL: "file://" + dir}); err == nil || !strings.Contains(err.Error(), "is for Nix stores with prefix '/gnu/store', not '/nix/store'") {
		t.Errorf("wrong store dir: %v", err)
	}
	if _, err := Open(context.Background(), Options{URL: "file://" + t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a binary cache") {
		t.Errorf("no nix-cache-info: %v", err)
	}
	if _, err := Open(context.Background(), Options{URL: "ftp://x/"}); err == nil {
		t.Error("ftp accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The file:// writer passes the store conformance suite.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		c, err := Open(context.Background(), Options{URL: "file://" + t.TempDir(), Create: true, Compression: "zstd"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// notRegistered checks that p is not valid in s and left nothing in the
// store directory.
func notRegistered(t *testing.T, s *local.Store, p storepath.Path) {
	t.Helper()
	if ok, err := s.IsValid(context.Background(), p); err != nil || ok {
		t.Errorf("%s valid after a failed substitution (%v)", p, err)
	}
	if _, err := os.Lstat(s.RealPath(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists in the store directory after a failed substitution", p)
	}
}

// corruptCase edits a copy of a cache; the substitution of the closure
// must fail with an error containing want, and register nothing from
// the point of failure on.
type corruptCase struct {
	name string
	comp string
	edit func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string))
	sigs bool
	want string
}

func TestBadCaches(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dirPath := paths[0]
	key := newKey(t, "k-1")
	rewrite := func(t *testing.T, file string, ni *narinfo.NarInfo) {
		if err := os.WriteFile(file, []byte(ni.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	editNar := func(f func([]byte) []byte) func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
		return func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, _ := ni(dirPath)
			file := filepath.Join(dir, info.URL)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(file, f(data), 0o644)
		}
	}
	tests := []corruptCase{
		{name: "wrong NarHash", comp: "xz", edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, file := ni(dirPath)
			info.NarHash = nixhash.Sum(nixhash.SHA256, []byte("x"))
			info.Sigs = nil
			rewrite(t, file, info)
		}, want: "hash mismatch importing path"},
		{name: "wrong NarSize", comp: "none", edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, file := ni(dirPath)
			info.NarSize -= 8
			info.Sigs = nil
			rewrite(t, file, info)
		}, want: "holds more than NarSize"},
		{name: "bad signature", comp: "xz", sigs: true, edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, file := ni(dirPath)
			info.CA = storepath.ContentAddress{} // else the CA vouches for it
			info.Sigs = []string{newKey(t, "k-1").Sign([]byte("other")).String()}
			rewrite(t, file, info)
		}, want: "lacks a signature by a trusted key"},
		{name: "missing signature", comp: "xz", sigs: true, edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, file := ni(paths[2])
			info.CA = storepath.ContentAddress{}
			info.Sigs = nil
			rewrite(t, file, info)
		}, want: "lacks a signature by a trusted key"},
		{name: "truncated xz", comp: "xz", edit: editNar(func(b []byte) []byte { return b[:len(b)-20] }), want: "download NAR of"},
		{name: "truncated zstd", comp: "zstd", edit: editNar(func(b []byte) []byte { return b[:len(b)/2] }), want: "download NAR of"},
		{name: "truncated none", comp: "none", edit: editNar(func(b []byte) []byte { return b[:len(b)-8] }), want: "truncated"},
		{name: "corrupt xz", comp: "xz", edit: editNar(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }), want: "download NAR of"},
		{name: "corrupt zstd", comp: "zstd", edit: editNar(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }), want: "download NAR of"},
		{name: "trailing garbage", comp: "zstd", edit: editNar(func(b []byte) []byte { return append(b, "garbage"...) }), want: "download NAR of"},
		{name: "wrong StorePath", comp: "xz", edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, _ := ni(paths[1])
			_, file := ni(dirPath)
			rewrite(t, file, info)
		}, want: "describes '/nix/store/" + paths[1].Base() + "', not '/nix/store/" + dirPath.Base() + "'"},
		{name: "URL outside the cache", comp: "xz", edit: func(t *testing.T, dir string, ni func(storepath.Path) (*narinfo.NarInfo, string)) {
			info, file := ni(dirPath)
			info.URL = "../" + info.URL
			rewrite(t, file, info)
		}, want: "is not a plain relative path inside the cache"},
		{name: "missing NAR", comp: "xz", edit: editNar(nil), want: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fileCache(t, src, paths[2:], tt.comp, &key)
			ni := func(p storepath.Path) (*narinfo.NarInfo, string) {
				file := filepath.Join(dir, p.HashPart()+".narinfo")
				f, err := os.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				info, err := narinfo.Parse(f)
				if err != nil {
					t.Fatal(err)
				}
				return info, file
			}
			if tt.name == "missing NAR" {
				info, _ := ni(dirPath)
				os.Remove(filepath.Join(dir, info.URL))
			} else {
				tt.edit(t, dir, ni)
			}
			srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer srv.Close()
			for _, url := range []string{"file://" + dir, srv.URL} {
				opts := fastOpts(url)
				if tt.sigs {
					opts.RequireSigs = true
					opts.TrustedKeys = signature.TrustedKeys{}
					opts.TrustedKeys.Add(key.Public())
				}
				c, err := Open(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				dst := openLocal(t)
				err = c.Substitute(ctx, dst, paths[2:])
				t.Logf("%s: %v", url, err)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%s: got %v, want an error containing %q", url, err, tt.want)
				}
				notRegistered(t, dst, dirPath)
				notRegistered(t, dst, paths[2])
			}
		})
	}
}

// str encodes a NAR string.
func str(b *bytes.Buffer, s string) {
	binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
	b.Write(make([]byte, (8-len(s)%8)%8))
}

// TestTraversalNar serves a correctly hashed NAR whose directory has an
// entry named "..": the store must refuse it.
func TestTraversalNar(t *testing.T) {
	ctx := context.Background()
	var b bytes.Buffer
	for _, s := range []string{"nix-archive-1", "(", "type", "directory", "entry", "(", "name", "..", "node",
		"(", "type", "regular", "contents", "pwned", ")", ")", ")"} {
		str(&b, s)
	}
	h := nixhash.Sum(nixhash.SHA256, b.Bytes())
	p, err := storepath.DefaultDir.MakeFixedOutputPath("evil", storepath.Recursive, h, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "nar"), 0o755)
	os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "nar", "evil.nar"), b.Bytes(), 0o644)
	ni := &narinfo.NarInfo{StoreDir: "/nix/store", StorePath: p, URL: "nar/evil.nar", Compression: "none",
		NarHash: h, NarSize: uint64(b.Len()), CA: storepath.ContentAddress{Method: storepath.Recursive, Hash: h}}
	os.WriteFile(filepath.Join(dir, p.HashPart()+".narinfo"), []byte(ni.String()), 0o644)
	c, err := Open(ctx, fastOpts("file://"+dir))
	if err != nil {
		t.Fatal(err)
	}
	dst := openLocal(t)
	err = c.Substitute(ctx, dst, []storepath.Path{p})
	if err == nil || !strings.Contains(err.Error(), "..") {
		t.Fatalf("got %v, want an error about the '..' entry", err)
	}
	notRegistered(t, dst, p)
	if _, err := os.Lstat(filepath.Join(filepath.Dir(dst.RealStoreDir()), "pwned")); err == nil {
		t.Error("the NAR wrote outside the store")
	}
}

// misbehave serves dir, but NAR downloads go through bad.
func misbehave(t *testing.T, dir string, bad func(w http.ResponseWriter, r *http.Request, data []byte)) *httptest.Server {
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/nar/") {
			fs.ServeHTTP(w, r)
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, r.URL.Path))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		bad(w, r, data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMisbehavingServers(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[:1], "none", nil)
	var calls atomic.Int32
	tests := []struct {
		name string
		bad  func(w http.ResponseWriter, r *http.Request, data []byte)
		want string // "" means success
	}{
		{"stall mid-body", func(w http.ResponseWriter, r *http.Request, data []byte) {
			w.Header().Set("Content-Length", itoa(len(data)))
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "stalled"},
		{"stall before headers", func(w http.ResponseWriter, r *http.Request, data []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "stalled"},
		{"reset mid-body", func(w http.ResponseWriter, r *http.Request, data []byte) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(data)) + "\r\n\r\n")
			buf.Write(data[:len(data)/2])
			buf.Flush()
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST
			}
			conn.Close()
		}, "download NAR of"},
		{"server error", func(w http.ResponseWriter, r *http.Request, data []byte) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "500 Internal Server Error"},
		{"reset once, then fine", func(w http.ResponseWriter, r *http.Request, data []byte) {
			if calls.Add(1) == 1 {
				conn, buf, _ := w.(http.Hijacker).Hijack()
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(data)) + "\r\n\r\n")
				buf.Write(data[:10])
				buf.Flush()
				conn.Close()
				return
			}
			w.Write(data)
		}, ""},
		{"503 twice, then fine", func(w http.ResponseWriter, r *http.Request, data []byte) {
			if calls.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write(data)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			srv := misbehave(t, dir, tt.bad)
			c, err := Open(ctx, fastOpts(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			dst := openLocal(t)
			start := time.Now()
			err = c.Substitute(ctx, dst, paths[:1])
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("took %v", took)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				sameNar(t, src, dst, paths[0])
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if tt.want == "stalled" && !errors.Is(err, ErrStalled) {
				t.Errorf("%v does not match ErrStalled", err)
			}
			notRegistered(t, dst, paths[0])
		})
	}
}
