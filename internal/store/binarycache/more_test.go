package binarycache

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/signature"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// A slow consumer is not a stalled server: the stall clock runs only
// while a read waits.
func TestSlowConsumerIsNotStall(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[:1], "none", nil)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	opts := fastOpts(srv.URL)
	opts.StallTimeout = 100 * time.Millisecond
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ni, err := c.NarInfo(ctx, paths[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.OpenNar(ctx, ni)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 100)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("after a pause of the consumer: %v", err)
	}
	if uint64(100+len(rest)) != ni.NarSize {
		t.Errorf("read %d of %d bytes", 100+len(rest), ni.NarSize)
	}
}

// With require-sigs, a content-addressed path needs no signature when
// its CA computes to the path (Nix's checkSignatures), but a CA that
// does not is no excuse.
func TestRequireSigsContentAddressed(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[2:], "zstd", nil)
	opts := fastOpts("file://" + dir)
	opts.RequireSigs = true
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	dst := openLocal(t)
	if err := c.Substitute(ctx, dst, paths[2:]); err != nil {
		t.Fatalf("unsigned CA closure: %v", err)
	}
	// Claim a CA that computes elsewhere.
	file := filepath.Join(dir, paths[0].HashPart()+".narinfo")
	data, _ := os.ReadFile(file)
	ni, err := narinfo.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ni.CA.Hash = nixhash.Sum(nixhash.SHA256, []byte("elsewhere"))
	os.WriteFile(file, []byte(ni.String()), 0o644)
	c, err = Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	dst = openLocal(t)
	if err := c.Substitute(ctx, dst, paths[:1]); err == nil || !strings.Contains(err.Error(), "lacks a signature") {
		t.Fatalf("wrong CA without signature: %v", err)
	}
	notRegistered(t, dst, paths[0])
}

// NarInfos runs queries in parallel, up to Options.Parallel.
func TestParallelQueries(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[2:], "none", nil)
	var now, peak atomic.Int32
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".narinfo") {
			n := now.Add(1)
			defer now.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()
	opts := fastOpts(srv.URL)
	opts.Parallel = 8
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The three real paths and 17 missing ones.
	query := append([]storepath.Path(nil), paths...)
	for i := range 17 {
		p, _ := storepath.FromDigest(bytes.Repeat([]byte{byte(i)}, 20), "missing")
		query = append(query, p)
	}
	start := time.Now()
	got, err := c.NarInfos(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("%d narinfos, want 3", len(got))
	}
	if p := peak.Load(); p < 2 || p > 8 {
		t.Errorf("peak concurrency %d, want 2..8", p)
	}
	t.Logf("20 queries of 50ms each took %v", time.Since(start))
}

// The writer refuses a path whose references are not in the cache, and
// one whose NAR does not match, leaving no narinfo behind.
func TestWriterRejects(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := filepath.Join(t.TempDir(), "c")
	c, err := Open(ctx, Options{URL: "file://" + dir, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, src, c, paths[1:2], CopyOptions{NoClosure: true}); err == nil || !strings.Contains(err.Error(), "because the reference") {
		t.Errorf("missing reference: %v", err)
	}
	info, _ := src.QueryPathInfo(ctx, paths[0])
	bad := *info
	bad.NarSize++
	var nar bytes.Buffer
	src.NarFromPath(ctx, paths[0], &nar)
	if err := c.AddNar(ctx, &bad, bytes.NewReader(nar.Bytes())); err == nil {
		t.Error("wrong NarSize accepted")
	}
	if err := c.AddNar(ctx, info, bytes.NewReader(append(nar.Bytes(), 0))); err == nil {
		t.Error("trailing data accepted")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	tmp, _ := filepath.Glob(filepath.Join(dir, "nar", ".tmp-*"))
	if len(files)+len(tmp) != 0 {
		t.Errorf("left behind %v %v", files, tmp)
	}
	if _, err := Open(ctx, Options{URL: "file://" + dir, Create: true, Compression: "bzip2"}); err != nil {
		t.Fatal(err)
	} else if c2, _ := Open(ctx, Options{URL: "file://" + dir, Compression: "bzip2"}); c2.AddNar(ctx, info, bytes.NewReader(nar.Bytes())) == nil {
		t.Error("bzip2 writing claimed to work")
	}
	// A server that does not take uploads: a clear error naming the
	// URL and the answer, and nothing written.
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	hc, err := Open(ctx, Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.AddNar(ctx, info, bytes.NewReader(nar.Bytes())); err == nil || !strings.Contains(err.Error(), "upload to "+srv.URL+"/nar/") ||
		!strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("http write: %v", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
	f.Fuzz(func(t *testing.T, in string) {
		info, err := ParseInfo(strings.NewReader(in))
		if err != nil {
			return
		}
		// Printing the fields back parses to the same Info.
		out := fmt.Sprintf("StoreDir: %s\nWantMassQuery: %d\nPriority: %d\n", info.StoreDir, map[bool]int{false: 0, true: 1}[info.WantMassQuery], info.Priority)
		again, err := ParseInfo(strings.NewReader(out))
		if err != nil || again != info {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", in, info, out, again, err)
		}
	})
}

// BenchmarkOpenNar measures decompression and verification throughput
// per compression method (16 MiB NAR of half-compressible data).
func BenchmarkOpenNar(b *testing.B) {
	ctx := context.Background()
	data := make([]byte, 16<<20)
	rand.Read(data[:len(data)/2])
	for i := len(data) / 2; i < len(data); i++ {
		data[i] = byte(i % 251)
	}
	var nar bytes.Buffer
	str(&nar, "nix-archive-1")
	for _, s := range []string{"(", "type", "regular", "contents"} {
		str(&nar, s)
	}
	str(&nar, string(data))
	str(&nar, ")")
	h := nixhash.Sum(nixhash.SHA256, nar.Bytes())
	p, _ := storepath.DefaultDir.MakeFixedOutputPath("big", storepath.Recursive, h, nil, false)
	info := &store.PathInfo{Path: p, NarHash: h, NarSize: uint64(nar.Len()), CA: storepath.ContentAddress{Method: storepath.Recursive, Hash: h}}
	for _, comp := range []string{"none", "zstd", "xz", "gzip"} {
		dir := filepath.Join(b.TempDir(), "c")
		c, err := Open(ctx, Options{URL: "file://" + dir, Create: true, Compression: comp})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := c.AddNar(ctx, info, bytes.NewReader(nar.Bytes())); err != nil {
			b.Fatal(err)
		}
		ni, _ := c.NarInfo(ctx, p)
		b.Logf("%s: write %.0f MB/s, file %d bytes", comp, float64(nar.Len())/time.Since(start).Seconds()/1e6, ni.FileSize)
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(nar.Len()))
			for b.Loop() {
				r, err := c.OpenNar(ctx, ni)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

// Substituters: caches are tried by priority; an unsigned narinfo in the
// preferred cache is passed over for a signed one elsewhere; a broken
// NAR in one cache falls back to the next.
func TestSubstitutersFallback(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	key := newKey(t, "good-1")
	trusted := signature.TrustedKeys{}
	trusted.Add(key.Public())
	open := func(dir string, prio int) *Cache {
		if prio != 0 {
			os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte(fmt.Sprintf("StoreDir: /nix/store\nPriority: %d\n", prio)), 0o644)
		}
		opts := fastOpts("file://" + dir)
		opts.RequireSigs, opts.TrustedKeys = true, trusted
		c, err := Open(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	stripCA := func(dir string) { // so that signatures matter
		files, _ := filepath.Glob(filepath.Join(dir, "*.narinfo"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			ni, _ := narinfo.Parse(bytes.NewReader(data))
			ni.CA = storepath.ContentAddress{}
			os.WriteFile(f, []byte(ni.String()), 0o644)
		}
	}
	unsigned := fileCache(t, src, paths[2:], "none", nil)
	stripCA(unsigned)
	broken := fileCache(t, src, paths[2:], "zstd", &key)
	stripCA(broken)
	ni, _ := open(broken, 0).NarInfo(ctx, paths[0])
	os.WriteFile(filepath.Join(broken, ni.URL), []byte("not zstd"), 0o644)
	good := fileCache(t, src, paths[2:], "xz", &key)
	stripCA(good)

	caches := SortByPriority([]*Cache{open(good, 50), open(unsigned, 10), open(broken, 20)})
	if caches[0].String() != "file://"+unsigned || caches[2].String() != "file://"+good {
		t.Fatalf("order %v", caches)
	}
	dst := openLocal(t)
	if err := caches.Substitute(ctx, dst, paths[2:]); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		sameNar(t, src, dst, p)
	}
	// Without the good cache, the broken NAR is the end of it.
	dst = openLocal(t)
	err := Substituters(caches[:2]).Substitute(ctx, dst, paths[2:])
	if err == nil || !strings.Contains(err.Error(), "zstd stream") {
		t.Fatalf("got %v", err)
	}
	notRegistered(t, dst, paths[0])
	// Only unsigned: refused with the reason.
	err = Substituters(caches[:1]).Substitute(ctx, openLocal(t), paths[2:])
	if err == nil || !strings.Contains(err.Error(), "lacks a signature by a trusted key") {
		t.Fatalf("got %v", err)
	}
}

// Substitute downloads up to Jobs NARs at a time, and a path only after
// everything it refers to.
func TestParallelDownloads(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	var leaves []storepath.Path
	for i := range 8 {
		info, err := src.AddText(ctx, fmt.Sprintf("leaf%d", i), []byte(fmt.Sprint("leaf ", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, info.Path)
	}
	top, err := src.AddText(ctx, "top", []byte("all leaves"), leaves)
	if err != nil {
		t.Fatal(err)
	}
	dir := fileCache(t, src, []storepath.Path{top.Path}, "none", nil)
	topNar := ""
	{
		c, _ := Open(ctx, Options{URL: "file://" + dir})
		ni, _ := c.NarInfo(ctx, top.Path)
		topNar = "/" + ni.URL
	}
	var now, peak atomic.Int32
	var topEarly atomic.Bool
	dst := openLocal(t)
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/nar/") {
			if r.URL.Path == topNar {
				for _, l := range leaves {
					if ok, _ := dst.IsValid(r.Context(), l); !ok {
						topEarly.Store(true)
					}
				}
			}
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
			fs.ServeHTTP(w, r)
			now.Add(-1)
			return
		}
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()
	opts := fastOpts(srv.URL)
	opts.Jobs = 3
	opts.StallTimeout = 5 * time.Second
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Substitute(ctx, dst, []storepath.Path{top.Path}); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p < 2 || p > 3 {
		t.Errorf("peak of %d concurrent downloads, want 2..3", p)
	}
	if topEarly.Load() {
		t.Error("the top path was downloaded before its references")
	}
	for _, p := range append(leaves, top.Path) {
		if ok, _ := dst.IsValid(ctx, p); !ok {
			t.Errorf("%s not valid", p)
		}
	}
}

// Stalls before the NAR, on nix-cache-info and on narinfos, time out
// too, after the retries.
func TestStalledMetadata(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[:1], "none", nil)
	for _, suffix := range []string{"/nix-cache-info", ".narinfo"} {
		t.Run(suffix, func(t *testing.T) {
			fs := http.FileServer(http.Dir(dir))
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, suffix) {
					hits.Add(1)
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
					return
				}
				fs.ServeHTTP(w, r)
			}))
			defer srv.Close()
			start := time.Now()
			c, err := Open(ctx, fastOpts(srv.URL))
			if err == nil {
				err = c.Substitute(ctx, openLocal(t), paths[:1])
			}
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("got %v, want ErrStalled", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			if n := hits.Load(); n != 3 {
				t.Errorf("%d attempts, want 3 (1 + Retries)", n)
			}
		})
	}
}

// A wrong NarHash is caught by whoever hashes the NAR: OpenNar's reader
// (NarFromPath), a cache written to (Cache.AddNar) and, in Substitute,
// the destination store (TestBadCaches). FileHash is not checked, as in
// Nix 2.8, but FileSize is.
func TestNarHashCheckedOnce(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	edit := func(t *testing.T, f func(ni *narinfo.NarInfo)) *Cache {
		dir := fileCache(t, src, paths[:1], "zstd", nil)
		file := filepath.Join(dir, paths[0].HashPart()+".narinfo")
		data, _ := os.ReadFile(file)
		ni, err := narinfo.Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		f(ni)
		os.WriteFile(file, []byte(ni.String()), 0o644)
		c, err := Open(ctx, fastOpts("file://"+dir))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	c := edit(t, func(ni *narinfo.NarInfo) { ni.NarHash = nixhash.Sum(nixhash.SHA256, []byte("x")) })
	if err := c.NarFromPath(ctx, paths[0], io.Discard); err == nil || !strings.Contains(err.Error(), "NAR hash mismatch") {
		t.Errorf("NarFromPath with a wrong NarHash: %v", err)
	}
	out := filepath.Join(t.TempDir(), "out")
	oc, err := Open(ctx, Options{URL: "file://" + out, Create: true, Compression: "zstd"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Substitute(ctx, oc, paths[:1]); err == nil || !strings.Contains(err.Error(), "does not match its path info") {
		t.Errorf("cache to cache with a wrong NarHash: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(out, "*.narinfo")); len(files) != 0 {
		t.Errorf("narinfo written for a wrong NarHash: %v", files)
	}

	c = edit(t, func(ni *narinfo.NarInfo) { ni.FileSize++ })
	dst := openLocal(t)
	if err := c.Substitute(ctx, dst, paths[:1]); err == nil || !strings.Contains(err.Error(), "file size mismatch") {
		t.Errorf("wrong FileSize: %v", err)
	}
	notRegistered(t, dst, paths[0])

	c = edit(t, func(ni *narinfo.NarInfo) { ni.FileHash = nixhash.Sum(nixhash.SHA256, []byte("x")) })
	dst = openLocal(t)
	if err := c.Substitute(ctx, dst, paths[:1]); err != nil {
		t.Errorf("wrong FileHash (Nix ignores it): %v", err)
	}
	sameNar(t, src, dst, paths[0])
}

// recorder is an Observer that logs the events as lines.
type recorder struct {
	mu     sync.Mutex
	events []string
	last   map[storepath.Path]uint64
}

func (r *recorder) log(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) SubstitutePlanned(paths int, fileSize, narSize uint64) {
	r.log("planned %d %d %d", paths, fileSize, narSize)
}
func (r *recorder) SubstituteStarted(from string, ni *narinfo.NarInfo) {
	r.log("started %s %v", ni.StorePath.Name(), strings.HasPrefix(from, "file://"))
}
func (r *recorder) SubstituteProgress(ni *narinfo.NarInfo, n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < r.last[ni.StorePath] {
		r.events = append(r.events, fmt.Sprintf("progress of %s went back", ni.StorePath.Name()))
	}
	r.last[ni.StorePath] = n
}
func (r *recorder) SubstituteFinished(ni *narinfo.NarInfo, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("finished %s %v %d/%d", ni.StorePath.Name(), err, r.last[ni.StorePath], ni.FileSize))
}

// The Observer sees the plan, then every path start and finish, with
// the whole file read by the end.
func TestObserver(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[2:], "zstd", nil)
	opts := fastOpts("file://" + dir)
	rec := &recorder{last: map[storepath.Path]uint64{}}
	opts.Observer = rec
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	var fileSize, narSize uint64
	for _, p := range paths {
		ni, err := c.NarInfo(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		fileSize += ni.FileSize
		narSize += ni.NarSize
	}
	if err := c.Substitute(ctx, openLocal(t), paths[2:]); err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, fmt.Sprintf("planned 3 %d %d", fileSize, narSize))
	for _, p := range paths {
		ni, _ := c.NarInfo(ctx, p)
		want = append(want, "started "+p.Name()+" true", fmt.Sprintf("finished %s <nil> %d/%d", p.Name(), ni.FileSize, ni.FileSize))
	}
	// Jobs run concurrently: compare as sets, the plan first.
	got := slices.Clone(rec.events)
	if len(got) == 0 || got[0] != want[0] {
		t.Fatalf("events %q, want the plan %q first", got, want[0])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Pooled zstd decoders: a NAR read after others (whole, cut short, or
// failed) decodes right, and a second Close or a read after Close is
// harmless.
func TestDecoderReuse(t *testing.T) {
	ctx := context.Background()
	src := openLocal(t)
	paths := closure(t, src)
	dir := fileCache(t, src, paths[2:], "zstd", nil)
	c, err := Open(ctx, fastOpts("file://"+dir))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for _, p := range paths {
			ni, err := c.NarInfo(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.OpenNar(ctx, ni)
			if err != nil {
				t.Fatal(err)
			}
			if round == 1 {
				// Abandon it after a few bytes.
				io.ReadFull(r, make([]byte, 10))
			} else {
				var got, want bytes.Buffer
				if _, err := io.Copy(&got, r); err != nil {
					t.Fatalf("round %d %s: %v", round, p, err)
				}
				src.NarFromPath(ctx, p, &want)
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Fatalf("round %d %s: NAR differs", round, p)
				}
			}
			r.Close()
			if err := r.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := r.Read(make([]byte, 1)); err == nil {
				t.Error("read after Close succeeded")
			}
		}
	}
}
