package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

// gcFixture: a -> b -> c, d -> c, e alone, f -> self; root r -> a.
func gcFixture(t *testing.T) (*Store, string, map[string]storepath.Path) {
	s, root := openTest(t)
	ctx := context.Background()
	n := map[string]storepath.Path{}
	add := func(name string, refs ...string) {
		var rp []storepath.Path
		contents := name
		for _, r := range refs {
			rp = append(rp, n[r])
			contents += " " + s.print(n[r])
		}
		info, err := s.AddText(ctx, name, []byte(contents), rp)
		if err != nil {
			t.Fatal(err)
		}
		n[name] = info.Path
	}
	add("c")
	add("b", "c")
	add("a", "b")
	add("d", "c")
	add("e")
	// A source path referring to itself.
	dir := filepath.Join(t.TempDir(), "f")
	os.WriteFile(dir, []byte("self"), 0o644)
	info, err := s.AddPath(ctx, dir, AddOptions{Name: "f", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	n["f"] = info.Path
	if err := os.Symlink(s.print(n["a"]), filepath.Join(s.StateDir(), "gcroots", "r")); err != nil {
		t.Fatal(err)
	}
	return s, root, n
}

// A fresh Store on the same root, so the fixture's own temporary roots
// (held until Close) do not protect everything.
func reopen(t *testing.T, s *Store, root string) *Store {
	s.Close()
	s2, err := Open(context.Background(), Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func names(s *Store, n map[string]storepath.Path, paths []string) string {
	rev := map[string]string{}
	for k, v := range n {
		rev[s.print(v)] = k
	}
	var out []string
	for _, p := range paths {
		if k, ok := rev[p]; ok {
			out = append(out, k)
		} else {
			out = append(out, "junk:"+filepath.Base(p))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

var noProc = RootsOptions{NoRuntimeRoots: true}

func TestGC(t *testing.T) {
	s, root, n := gcFixture(t)
	s = reopen(t, s, root)
	ctx := context.Background()
	// Junk: a non-store name and an invalid store-like entry.
	os.WriteFile(filepath.Join(s.RealStoreDir(), "junk"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(s.RealStoreDir(), "00000000000000000000000000000000-half"), 0o755)

	live, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnLive, Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s, n, live.Paths); got != "a b c" {
		t.Errorf("live = %s", got)
	}
	dead, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead, Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s, n, dead.Paths); got != "d e f junk:00000000000000000000000000000000-half junk:junk" {
		t.Errorf("dead = %s", got)
	}
	// Deleting one path that is alive, or still referred to, is refused.
	_, err = s.CollectGarbage(ctx, GCOptions{Action: GCDeleteSpecific, Paths: []storepath.Path{n["b"]}, Roots: noProc})
	if !errors.Is(err, ErrPathAlive) {
		t.Errorf("delete b: %v", err)
	}
	res, err := s.CollectGarbage(ctx, GCOptions{Action: GCDeleteSpecific, Paths: []storepath.Path{n["e"]}, Roots: noProc})
	if err != nil || names(s, n, res.Paths) != "e" {
		t.Fatalf("delete e: %v %v", res, err)
	}
	res, err = s.CollectGarbage(ctx, GCOptions{Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(s, n, res.Paths); got != "d f junk:00000000000000000000000000000000-half junk:junk" {
		t.Errorf("deleted = %s", got)
	}
	if res.BytesFreed == 0 {
		t.Error("no bytes freed")
	}
	for _, k := range []string{"d", "e", "f"} {
		if ok, _ := s.IsValid(ctx, n[k]); ok {
			t.Errorf("%s still valid", k)
		}
		if _, err := os.Lstat(s.RealPath(n[k])); err == nil {
			t.Errorf("%s still on disk", k)
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		if ok, _ := s.IsValid(ctx, n[k]); !ok {
			t.Errorf("%s deleted", k)
		}
	}
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify after gc: %+v %v", v, err)
	}
	// Without the root everything goes.
	os.Remove(filepath.Join(s.StateDir(), "gcroots", "r"))
	res, err = s.CollectGarbage(ctx, GCOptions{Roots: noProc})
	if err != nil || names(s, n, res.Paths) != "a b c" {
		t.Errorf("final gc: %v %v", res, err)
	}
}

func TestGCRootsKinds(t *testing.T) {
	s, root, n := gcFixture(t)
	ctx := context.Background()
	os.Remove(filepath.Join(s.StateDir(), "gcroots", "r"))
	// An indirect root through ./result, a profile link and a temporary
	// root held by another live Store.
	result := filepath.Join(t.TempDir(), "result")
	if err := s.AddPermRoot(ctx, n["d"], result); err != nil {
		t.Fatal(err)
	}
	os.Symlink(s.print(n["e"]), filepath.Join(s.StateDir(), "profiles", "default"))
	s = reopen(t, s, root)
	holder, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := holder.AddTempRoot(ctx, n["f"]); err != nil {
		t.Fatal(err)
	}
	roots, err := s.FindRoots(ctx, noProc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range roots {
		got = append(got, s.print(p))
	}
	if g := names(s, n, got); g != "d e f" {
		t.Errorf("roots = %s (%v)", g, roots)
	}
	res, err := s.CollectGarbage(ctx, GCOptions{Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	if g := names(s, n, res.Paths); g != "a b" {
		t.Errorf("deleted %s", g)
	}
	// A dangling indirect root is removed from gcroots/auto.
	os.Remove(result)
	if _, err := s.FindRoots(ctx, noProc); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.StateDir(), "gcroots", "auto")); len(ents) != 0 {
		t.Errorf("stale auto root kept: %v", ents)
	}
	// Once the holder is gone its temporary roots no longer count.
	holder.Close()
	res, err = s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead, Roots: noProc})
	if err != nil || !strings.Contains(names(s, n, res.Paths), "f") {
		t.Errorf("after holder exit: %v %v", res, err)
	}
}

func TestGCMaxFreed(t *testing.T) {
	s, root, n := gcFixture(t)
	s = reopen(t, s, root)
	ctx := context.Background()
	os.Remove(filepath.Join(s.StateDir(), "gcroots", "r"))
	res, err := s.CollectGarbage(ctx, GCOptions{MaxFreed: 1, Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Paths) != 1 {
		t.Errorf("max-freed 1 deleted %v", res.Paths)
	}
	// Whatever was deleted, the store stays consistent.
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
	_ = n
}

// A writer that adds a temporary root while a collector holds gc.lock
// announces it over the socket.
func TestTempRootDuringGC(t *testing.T) {
	s, root, n := gcFixture(t)
	ctx := context.Background()
	lock, err := fsutil.OpenLocked(filepath.Join(s.StateDir(), "gc.lock"), os.O_RDWR|os.O_CREATE, 0o600, fsutil.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	sh := &gcShared{roots: map[string]bool{}, pending: map[string]bool{}}
	sh.cond = sync.NewCond(&sh.mu)
	stop, err := s.serveRoots(sh)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.AddTempRoot(ctx, n["e"]); err != nil {
		t.Fatal(err)
	}
	sh.mu.Lock()
	got := sh.roots[n["e"].HashPart()]
	sh.mu.Unlock()
	if !got {
		t.Error("root not delivered over the socket")
	}
	stop()
	lock.Close()
	// And it is in the writer's roots file as well.
	tmp, _ := s.readTempRoots(false)
	found := false
	for _, r := range tmp {
		found = found || r.path == s.print(n["e"])
	}
	if !found {
		t.Error("root not in the temporary roots file")
	}
}

func TestDeleteReferencedRefused(t *testing.T) {
	s, root, n := gcFixture(t)
	s = reopen(t, s, root)
	ctx := context.Background()
	os.Remove(filepath.Join(s.StateDir(), "gcroots", "r"))
	_, err := s.CollectGarbage(ctx, GCOptions{Action: GCDeleteSpecific, Paths: []storepath.Path{n["c"]}, Roots: noProc})
	if !errors.Is(err, ErrPathAlive) {
		t.Errorf("delete c with referrers: %v", err)
	}
	res, err := s.CollectGarbage(ctx, GCOptions{Action: GCDeleteSpecific, Paths: []storepath.Path{n["c"], n["b"], n["a"], n["d"]}, Roots: noProc})
	if err != nil || names(s, n, res.Paths) != "a b c d" {
		t.Errorf("delete closure: %v %v", res, err)
	}
	if _, err := s.QueryPathInfo(ctx, n["c"]); !errors.Is(err, store.ErrNotValid) {
		t.Errorf("c still valid: %v", err)
	}
}

// A collector running over and over while another Store adds paths never
// deletes a path the writer has added (its temporary roots protect it,
// delivered over the socket while the collector holds gc.lock), and the
// store stays consistent.
func TestGCConcurrentWithWriter(t *testing.T) {
	_, root := openTest(t)
	ctx := context.Background()
	w, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	done := make(chan struct{})
	var added []storepath.Path
	var werr error
	go func() {
		defer close(done)
		var prev []storepath.Path
		for i := 0; i < 60; i++ {
			contents := strings.Repeat("x", i)
			for _, p := range prev {
				contents += " " + w.print(p)
			}
			info, err := w.AddText(ctx, "p"+strings.Repeat("i", i%5), []byte(contents), prev)
			if err != nil {
				werr = err
				return
			}
			added = append(added, info.Path)
			prev = []storepath.Path{info.Path}
		}
	}()
	rounds := 0
	for {
		select {
		case <-done:
		default:
			if _, err := g.CollectGarbage(ctx, GCOptions{Roots: noProc}); err != nil {
				t.Fatal(err)
			}
			rounds++
			continue
		}
		break
	}
	if werr != nil {
		t.Fatal(werr)
	}
	for _, p := range added {
		if ok, _ := g.IsValid(ctx, p); !ok {
			t.Errorf("collector deleted %s while its writer lived", p)
		}
	}
	if v, err := g.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
	t.Logf("%d collections ran during %d adds", rounds, len(added))
}

func TestAutoGC(t *testing.T) {
	s, root, _ := gcFixture(t)
	s = reopen(t, s, root)
	ctx := context.Background()
	avail, err := s.FreeSpace()
	if err != nil || avail == 0 {
		t.Fatalf("free space %d %v", avail, err)
	}
	if res, err := s.AutoGC(ctx, 0, 1<<62, GCOptions{Roots: noProc}); res != nil || err != nil {
		t.Errorf("collected with enough space: %v %v", res, err)
	}
	// Pretend the disk is nearly full (1 GiB short of max-free; the
	// margin absorbs other processes changing the free space meanwhile).
	res, err := s.AutoGC(ctx, 1<<62, avail+1<<30, GCOptions{Roots: noProc})
	if err != nil || res == nil || len(res.Paths) == 0 {
		t.Errorf("auto gc: %+v %v", res, err)
	}
}

// A path that gains a referrer after the collector loaded the graph (a
// writer registered it meanwhile) is kept, with its closure, and the rest
// of the batch still goes.
func TestInvalidateBatchNewReferrer(t *testing.T) {
	s, root, n := gcFixture(t)
	s = reopen(t, s, root)
	ctx := context.Background()
	g, err := loadGraph(ctx, s.db, s.dir)
	if err != nil {
		t.Fatal(err)
	}
	// d -> c and e are dead (c is alive through a, but pretend the
	// collector saw only d and e, then a writer made x refer to d).
	x, err := s.AddText(ctx, "x", []byte("x "+s.print(n["d"])), []storepath.Path{n["d"]})
	if err != nil {
		t.Fatal(err)
	}
	alive := newBitset(len(g.paths))
	batch := []int32{g.byPath[s.print(n["d"])], g.byPath[s.print(n["e"])]}
	gone, err := s.invalidateBatch(ctx, g, batch, alive, keep{derivations: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range gone {
		got = append(got, g.paths[i])
	}
	if len(got) != 1 || got[0] != s.print(n["e"]) {
		t.Errorf("invalidated %v, want only e", got)
	}
	if !alive.has(g.byPath[s.print(n["d"])]) || !alive.has(g.byPath[s.print(n["c"])]) {
		t.Error("d and its reference c not marked alive")
	}
	for k, want := range map[string]bool{"d": true, "e": false, "c": true} {
		if ok, _ := s.IsValid(ctx, n[k]); ok != want {
			t.Errorf("%s valid = %v, want %v", k, ok, want)
		}
	}
	if refs, err := s.QueryReferences(ctx, x.Path); err != nil || len(refs) != 1 {
		t.Errorf("references of x: %v %v", refs, err)
	}
	if refs, err := s.QueryReferences(ctx, n["d"]); err != nil || len(refs) != 1 {
		t.Errorf("references of d: %v %v", refs, err)
	}
}

// TestTempRootsOnce: a path already in the temporary roots file is not
// written again (builds add their inputs' closure every time), and once
// the Store is closed and its file gone, a new file gets it again.
func TestTempRootsOnce(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	info, err := s.AddText(ctx, "a", []byte("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.AddTempRoot(ctx, info.Path); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(s.tempRoots.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), s.print(info.Path)+"\x00"); n != 1 {
		t.Errorf("%s is %d times in %q", s.print(info.Path), n, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.AddTempRoot(ctx, info.Path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s2.tempRoots.Name()); err != nil || !strings.Contains(string(b), s2.print(info.Path)) {
		t.Errorf("a new Store's file: %q %v", b, err)
	}
}
