package narinfocache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cairn/internal/compat/narinfo"
	"cairn/internal/compat/storepath"
)

const dir = storepath.Dir("/nix/store")

// fixtures are narinfos written by Nix 2.8 (package compat/narinfo's
// testdata): with and without references, deriver and CA.
func fixtures(t *testing.T) []*narinfo.NarInfo {
	t.Helper()
	files, _ := filepath.Glob("../../compat/narinfo/testdata/*.narinfo")
	if len(files) == 0 {
		t.Fatal("no narinfo fixtures")
	}
	var out []*narinfo.NarInfo
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, ni)
	}
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, file string, clk *clock) *Cache {
	t.Helper()
	c, err := Open(context.Background(), file, Options{Now: clk.now, NegativeTTL: time.Hour, PositiveTTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPutLookupTTL(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Unix(1_700_000_000, 0)}
	file := filepath.Join(t.TempDir(), "binary-cache-v6.sqlite")
	c := open(t, file, clk)
	const url = "http://cache.example/sub"
	nis := fixtures(t)
	for _, ni := range nis {
		if err := c.Put(ctx, url, ni); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutMissing(ctx, url, strings.Repeat("1", 32), dir); err != nil {
		t.Fatal(err)
	}
	check := func(c *Cache, hashPart string, want Outcome, wantText string) {
		t.Helper()
		got, ni, err := c.Lookup(ctx, url, hashPart, dir)
		if err != nil || got != want {
			t.Fatalf("Lookup(%s) = %v, %v; want %v", hashPart, got, err, want)
		}
		if wantText != "" && ni.String() != wantText {
			t.Errorf("Lookup(%s) narinfo:\n%s\nwant\n%s", hashPart, ni, wantText)
		}
	}
	// Several fixtures describe one path (in differently compressed
	// caches); the last Put wins.
	last := map[string]*narinfo.NarInfo{}
	for _, ni := range nis {
		last[ni.StorePath.HashPart()] = ni
	}
	if len(last) < 3 {
		t.Fatalf("only %d distinct paths among the fixtures", len(last))
	}
	for h, ni := range last {
		check(c, h, Present, ni.String())
	}
	check(c, strings.Repeat("1", 32), Missing, "")
	check(c, strings.Repeat("2", 32), Unknown, "")
	if got, _, _ := c.Lookup(ctx, "http://other.example", nis[0].StorePath.HashPart(), dir); got != Unknown {
		t.Errorf("another cache's entry: %v, want Unknown", got)
	}

	// Reopened, the entries persist; after the negative TTL only the
	// positive ones are believed, after the positive TTL none.
	c.Close()
	clk.t = clk.t.Add(2 * time.Hour)
	c = open(t, file, clk)
	top := nis[len(nis)-1]
	check(c, top.StorePath.HashPart(), Present, top.String())
	check(c, strings.Repeat("1", 32), Unknown, "")
	clk.t = clk.t.Add(47 * time.Hour)
	check(c, top.StorePath.HashPart(), Unknown, "")

	// A purge (after a day) deletes the expired rows.
	c.Close()
	clk.t = clk.t.Add(25 * time.Hour)
	c = open(t, file, clk)
	var n int
	if err := c.db.QueryRow("select count(*) from NARs").Scan(&n); err != nil || n != 0 {
		t.Errorf("after purge %d rows (%v), want 0", n, err)
	}
}

func TestTransport(t *testing.T) {
	ni := fixtures(t)[0]
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/c/" + ni.StorePath.HashPart() + ".narinfo":
			io.WriteString(w, ni.String())
		case "/c/nix-cache-info":
			io.WriteString(w, "StoreDir: /nix/store\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	clk := &clock{time.Unix(1_700_000_000, 0)}
	file := filepath.Join(t.TempDir(), "db.sqlite")
	get := func(c *Cache, p string) (int, string) {
		t.Helper()
		client := &http.Client{Transport: c.Transport(http.DefaultTransport, dir)}
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	c := open(t, file, clk)
	good := "/c/" + ni.StorePath.HashPart() + ".narinfo"
	missing := "/c/" + strings.Repeat("3", 32) + ".narinfo"
	for i := range 3 {
		if code, body := get(c, good); code != 200 || body != ni.String() {
			t.Fatalf("get %d: %d %q", i, code, body)
		}
		if code, _ := get(c, missing); code != 404 {
			t.Fatalf("get missing %d: %d", i, code)
		}
		get(c, "/c/nix-cache-info")
	}
	// One request each for the narinfos; nix-cache-info is not cached.
	if n := hits.Load(); n != 5 {
		t.Errorf("server saw %d requests, want 5", n)
	}
	// Another process (a new Cache on the file) asks nobody either; an
	// expired negative entry is asked again.
	c2 := open(t, file, clk)
	get(c2, good)
	get(c2, missing)
	if n := hits.Load(); n != 5 {
		t.Errorf("after reopening the server saw %d requests, want 5", n)
	}
	clk.t = clk.t.Add(2 * time.Hour)
	get(c2, missing)
	get(c2, good)
	if n := hits.Load(); n != 6 {
		t.Errorf("after the negative TTL the server saw %d requests, want 6", n)
	}
}

func TestNarinfoRequest(t *testing.T) {
	for _, tt := range []struct{ method, url, want string }{
		{"GET", "http://h/c/" + strings.Repeat("a", 32) + ".narinfo", "http://h/c " + strings.Repeat("a", 32)},
		{"GET", "http://h/" + strings.Repeat("a", 32) + ".narinfo", "http://h " + strings.Repeat("a", 32)},
		{"HEAD", "http://h/" + strings.Repeat("a", 32) + ".narinfo", "-"},
		{"GET", "http://h/nar/x.nar.xz", "-"},
		{"GET", "http://h/short.narinfo", "-"},
		{"GET", "http://h/" + strings.Repeat("a", 32) + ".narinfo?x=1", "-"},
	} {
		req := httptest.NewRequest(tt.method, tt.url, nil)
		u, h, ok := narinfoRequest(req)
		got := "-"
		if ok {
			got = u + " " + h
		}
		if got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.method, tt.url, got, tt.want)
		}
	}
}
