package binarycache

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/signature"
)

// rangeServer serves the files of the file:// cache dir; requests for
// the NAR file are passed to nar with their number (1, 2, ...) and the
// file's bytes, and recorded.
type rangeServer struct {
	t      *testing.T
	dir    string
	nar    func(w http.ResponseWriter, r *http.Request, n int, data []byte)
	mu     sync.Mutex
	ranges []string // the Range header of each NAR request
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/nar/") {
		http.FileServer(http.Dir(s.dir)).ServeHTTP(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(r.URL.Path)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	n := len(s.ranges)
	s.mu.Unlock()
	s.nar(w, r, n, data)
}

// serveRange answers a request, with or without Range, as a good server
// does (206 and Content-Range for a range).
func serveRange(w http.ResponseWriter, r *http.Request, data []byte) {
	http.ServeContent(w, r, "nar", time.Time{}, bytes.NewReader(data))
}

// breakOff sends the headers of the whole file and the first n bytes,
// then closes the connection (FIN, or RST with rst).
func breakOff(w http.ResponseWriter, data []byte, n int, rst bool) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(data)) + "\r\n\r\n")
	buf.Write(data[:n])
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		time.Sleep(50 * time.Millisecond) // let the bytes arrive first
		tc.SetLinger(0)
	}
	conn.Close()
}

// A NAR download that breaks off mid-body is resumed where it stopped:
// the reader gets the same bytes as from a good server, with one more
// request, a range request from the offset reached.
func TestResumeDownload(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[:1], "none", nil)
	var want bytes.Buffer
	if err := src.NarFromPath(ctx, paths[0], &want); err != nil {
		t.Fatal(err)
	}
	half := want.Len() / 2
	tests := []struct {
		name     string
		nar      func(w http.ResponseWriter, r *http.Request, n int, data []byte)
		requests int
		ranges   []string // Range headers wanted; nil: not checked
		err      string   // "" means success
	}{
		{"good server", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			serveRange(w, r, data)
		}, 1, []string{""}, ""},
		{"closed mid-body once", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, half, false)
				return
			}
			serveRange(w, r, data)
		}, 2, []string{"", "bytes=" + itoa(half) + "-"}, ""},
		{"reset mid-body once", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, half, true)
				return
			}
			serveRange(w, r, data)
		}, 2, nil, ""},
		{"stall mid-body once", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				w.Header().Set("Content-Length", itoa(len(data)))
				w.Write(data[:half])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return
			}
			serveRange(w, r, data)
		}, 2, []string{"", "bytes=" + itoa(half) + "-"}, ""},
		{"broken twice, resumed twice", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			switch n {
			case 1:
				breakOff(w, data, 100, false)
			case 2:
				w.Header().Set("Content-Range", "bytes 100-"+itoa(len(data)-1)+"/"+itoa(len(data)))
				w.Header().Set("Content-Length", itoa(len(data)-100))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(data[100:half])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			default:
				serveRange(w, r, data)
			}
		}, 3, []string{"", "bytes=100-", "bytes=" + itoa(half) + "-"}, ""},
		{"nothing received before the break: restart", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, 0, false)
				return
			}
			w.Write(data) // 200, Range or not
		}, 2, []string{"", ""}, ""},
		{"range ignored after bytes were handed out", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, half, false)
				return
			}
			w.Write(data)
		}, 2, []string{"", "bytes=" + itoa(half) + "-"}, "the server ignored the range request"},
		{"wrong Content-Range", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, half, false)
				return
			}
			w.Header().Set("Content-Range", "bytes 0-"+itoa(len(data)-1)+"/"+itoa(len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data)
		}, 2, nil, "Content-Range 'bytes 0-"},
		{"always breaks: bounded", func(w http.ResponseWriter, r *http.Request, n int, data []byte) {
			if n == 1 {
				breakOff(w, data, 10, false)
				return
			}
			off := 10 * (n - 1)
			conn, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + itoa(off) + "-" + itoa(len(data)-1) + "/" + itoa(len(data)) +
				"\r\nContent-Length: " + itoa(len(data)-off) + "\r\n\r\n")
			buf.Write(data[off : off+10])
			buf.Flush()
			conn.Close()
		}, 3, []string{"", "bytes=10-", "bytes=20-"}, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &rangeServer{t: t, dir: dir, nar: tt.nar}
			srv := httptest.NewServer(rs)
			defer srv.Close()
			c, err := Open(ctx, fastOpts(srv.URL)) // Retries: 2
			if err != nil {
				t.Fatal(err)
			}
			ni, err := c.NarInfo(ctx, paths[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := readNar(ctx, c, ni)
			switch {
			case tt.err == "" && err != nil:
				t.Fatal(err)
			case tt.err == "" && !bytes.Equal(got, want.Bytes()):
				t.Errorf("got %d bytes, not the NAR of %d bytes", len(got), want.Len())
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got %v, want an error containing %q", err, tt.err)
			}
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if len(rs.ranges) != tt.requests {
				t.Errorf("%d NAR requests %q, want %d", len(rs.ranges), rs.ranges, tt.requests)
			}
			if tt.ranges != nil && !slices.Equal(rs.ranges, tt.ranges) {
				t.Errorf("Range headers %q, want %q", rs.ranges, tt.ranges)
			}
		})
	}
}

func readNar(ctx context.Context, c *Cache, ni *narinfo.NarInfo) ([]byte, error) {
	r, err := c.OpenNar(ctx, ni)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// uploadServer is an http binary cache that takes PUTs: it keeps the
// bodies in a map and serves them back with GET.
type uploadServer struct {
	mu    sync.Mutex
	files map[string][]byte
	types map[string]string
	order []string // PUT paths in order
	fail  func(r *http.Request) int
}

func newUploadServer() *uploadServer {
	return &uploadServer{files: map[string][]byte{}, types: map[string]string{}}
}

func (s *uploadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if s.fail != nil {
		if code := s.fail(r); code != 0 {
			http.Error(w, "no", code)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != r.ContentLength {
			http.Error(w, "short body", http.StatusBadRequest)
			return
		}
		s.files[name] = data
		s.types[name] = r.Header.Get("Content-Type")
		s.order = append(s.order, name)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		data, ok := s.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

// Copying to an http cache uploads every file with PUT, the NAR before
// its narinfo, with Nix's content types; a fresh store then substitutes
// the closure from the same server, signatures checked.
func TestUploadToHTTPCache(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	us := newUploadServer()
	srv := httptest.NewServer(us)
	defer srv.Close()
	key := newKey(t, "upload-1")
	opts := fastOpts(srv.URL)
	opts.Create, opts.Compression, opts.SecretKey, opts.WriteNarListing = true, "zstd", &key, true
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, src, c, paths[2:], CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	us.mu.Lock()
	if got := string(us.files["nix-cache-info"]); got != "StoreDir: /nix/store\n" || us.types["nix-cache-info"] != "text/x-nix-cache-info" {
		t.Errorf("nix-cache-info %q, %q", got, us.types["nix-cache-info"])
	}
	// nix-cache-info, then per path: NAR, listing, narinfo.
	if len(us.order) != 1+3*len(paths) {
		t.Errorf("uploads %q", us.order)
	}
	for _, p := range paths {
		hp := p.HashPart()
		ni, err := narinfo.Parse(bytes.NewReader(us.files[hp+".narinfo"]))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		iNar, iLs, iInfo := slices.Index(us.order, ni.URL), slices.Index(us.order, hp+".ls"), slices.Index(us.order, hp+".narinfo")
		if iNar < 0 || iLs < 0 || !(iNar < iInfo && iLs < iInfo) {
			t.Errorf("%s: upload order %q", p, us.order)
		}
		if !strings.HasSuffix(ni.URL, ".nar.zst") || ni.Compression != "zstd" || len(ni.Sigs) != 1 {
			t.Errorf("%s: narinfo %+v", p, ni)
		}
		for name, want := range map[string]string{ni.URL: "application/x-nix-nar", hp + ".ls": "application/json", hp + ".narinfo": "text/x-nix-narinfo"} {
			if us.types[name] != want {
				t.Errorf("%s uploaded as %q, want %q", name, us.types[name], want)
			}
		}
	}
	us.mu.Unlock()

	// Copying again uploads nothing: the cache has every path.
	n := len(us.order)
	if err := Copy(ctx, src, c, paths[2:], CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(us.order) != n {
		t.Errorf("second copy uploaded %q", us.order[n:])
	}

	ropts := fastOpts(srv.URL)
	ropts.RequireSigs = true
	ropts.TrustedKeys = signature.TrustedKeys{}
	ropts.TrustedKeys.Add(key.Public())
	rc, err := Open(ctx, ropts)
	if err != nil {
		t.Fatal(err)
	}
	dst := openLocal(t)
	if err := rc.Substitute(ctx, dst, paths[2:]); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		sameNar(t, src, dst, p)
	}
}

// Uploads: a 5xx is retried; a refusal is a clear error naming the URL
// and the status, and no narinfo is written without its NAR.
func TestUploadErrors(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)

	us := newUploadServer()
	var mu sync.Mutex
	failed := map[string]bool{}
	us.fail = func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut && !failed[r.URL.Path] {
			failed[r.URL.Path] = true
			return http.StatusServiceUnavailable
		}
		return 0
	}
	srv := httptest.NewServer(us)
	defer srv.Close()
	opts := fastOpts(srv.URL)
	opts.Create, opts.Compression = true, "xz"
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, src, c, paths[:1], CopyOptions{}); err != nil {
		t.Fatalf("with a 503 before each upload: %v", err)
	}
	dst := openLocal(t)
	rc, _ := Open(ctx, fastOpts(srv.URL))
	if err := rc.Substitute(ctx, dst, paths[:1]); err != nil {
		t.Fatal(err)
	}
	sameNar(t, src, dst, paths[0])

	us2 := newUploadServer()
	us2.files["nix-cache-info"] = []byte("StoreDir: /nix/store\n")
	us2.fail = func(r *http.Request) int {
		if r.Method == http.MethodPut {
			return http.StatusForbidden
		}
		return 0
	}
	srv2 := httptest.NewServer(us2)
	defer srv2.Close()
	c2, err := Open(ctx, fastOpts(srv2.URL))
	if err != nil {
		t.Fatal(err)
	}
	err = Copy(ctx, src, c2, paths[:1], CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "upload to "+srv2.URL+"/nar/") || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Errorf("got %v, want an error naming the NAR's URL and 403 Forbidden", err)
	}
	if len(us2.order) != 0 {
		t.Errorf("stored %q", us2.order)
	}

	// Without Create, a server without nix-cache-info is no cache.
	srv3 := httptest.NewServer(newUploadServer())
	defer srv3.Close()
	if _, err := Open(ctx, fastOpts(srv3.URL)); err == nil || !strings.Contains(err.Error(), "no nix-cache-info") {
		t.Errorf("got %v", err)
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 10-99/100", "bytes 0-0/*", "bytes 5-4/10", "bytes -1-2/3", "items 1-2/3", "bytes 1-2/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if first < 0 || total < -1 || (total >= 0 && first >= total) {
			t.Errorf("%q: first %d, total %d", s, first, total)
		}
	})
}

func TestParseContentRange(t *testing.T) {
	for _, tt := range []struct {
		in           string
		first, total int64
		ok           bool
	}{
		{"bytes 10-99/100", 10, 100, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes 5-4/10", 0, 0, false},
		{"bytes 1-2/2", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"bytes 1-2", 0, 0, false},
	} {
		first, total, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || first != tt.first || total != tt.total {
			t.Errorf("%q: %d %d %v", tt.in, first, total, err)
		}
	}
}
