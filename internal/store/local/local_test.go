package local

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(context.Background(), Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, root
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, contents := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if target, ok := strings.CutPrefix(contents, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(contents), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenLayout(t *testing.T) {
	s, root := openTest(t)
	for _, p := range []string{"nix/store", "nix/store/.links", "nix/var/nix/db/db.sqlite", "nix/var/nix/db/big-lock",
		"nix/var/nix/temproots", "nix/var/nix/profiles/per-user", "nix/var/nix/gcroots/per-user"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "nix/var/nix/db/schema")); string(b) != "10" {
		t.Errorf("schema file %q", b)
	}
	var jm string
	s.db.QueryRow("pragma journal_mode").Scan(&jm)
	if jm != "wal" {
		t.Errorf("journal_mode %s", jm)
	}
	s.Close()
	// Reopen works; a newer schema is refused.
	s2, err := Open(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	os.WriteFile(filepath.Join(root, "nix/var/nix/db/schema"), []byte("11"), 0o644)
	if _, err := Open(context.Background(), Options{Root: root}); err == nil || !strings.Contains(err.Error(), "version 11") {
		t.Errorf("schema 11: %v", err)
	}
}

// Processes that start on a fresh store at the same moment all create
// its layout; none may fail because another got there first (CI once
// saw "symlink .../gcroots/profiles: file exists").
func TestOpenConcurrentFresh(t *testing.T) {
	for round := 0; round < 20; round++ {
		root := t.TempDir()
		errs := make(chan error, 8)
		for i := 0; i < cap(errs); i++ {
			go func() {
				s, err := Open(context.Background(), Options{Root: root, ReservedSize: -1})
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for i := 0; i < cap(errs); i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

func TestAddText(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	info, err := s.AddText(ctx, "builder.sh", []byte("echo hi > $out\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Design note §1.5.
	if got := s.print(info.Path); got != "/nix/store/3p04jdnsw65v6nld53wli53r60p4xmjk-builder.sh" {
		t.Errorf("path %s", got)
	}
	if info.CA.String() != "text:sha256:"+nixhash.Sum(nixhash.SHA256, []byte("echo hi > $out\n")).Encode(nixhash.Nix32, false) {
		t.Errorf("ca %s", info.CA)
	}
	real := filepath.Join(root, "nix/store", info.Path.Base())
	fi, err := os.Lstat(real)
	if err != nil || fi.Mode().Perm() != 0o444 || fi.ModTime().Unix() != 1 {
		t.Errorf("contents %v %v", fi, err)
	}
	// Idempotent, and a second text path may refer to the first.
	again, err := s.AddText(ctx, "builder.sh", []byte("echo hi > $out\n"), nil)
	if err != nil || again.Path != info.Path || !again.RegistrationTime.Equal(info.RegistrationTime) {
		t.Errorf("second add: %v %v", again, err)
	}
	user, err := s.AddText(ctx, "user", []byte(s.print(info.Path)), []storepath.Path{info.Path})
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := s.QueryReferrers(ctx, info.Path)
	if len(refs) != 1 || refs[0] != user.Path {
		t.Errorf("referrers %v", refs)
	}
	// Lock files are gone; no scratch entries remain.
	ents, _ := os.ReadDir(filepath.Join(root, "nix/store"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Errorf("store dir holds %v", names)
	}
}

func TestAddPathMatchesDesign(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"hello.txt": "hello\n"})
	src := filepath.Join(dir, "hello.txt")
	tests := []struct {
		method storepath.Method
		algo   nixhash.Algo
		want   string
	}{
		{storepath.Recursive, nixhash.SHA256, "i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt"},
		{storepath.Flat, nixhash.SHA256, "gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"},
		{storepath.Recursive, nixhash.SHA1, "hzq8n5jpi3g2d0xhlvqd8q1gx5c9s6i3-hello.txt"},
	}
	for _, tt := range tests {
		info, err := s.AddPath(ctx, src, AddOptions{Name: "hello.txt", Method: tt.method, Algo: tt.algo})
		if err != nil {
			t.Fatal(err)
		}
		if info.Path.Base() != tt.want {
			t.Errorf("%v %v: got %s, want %s", tt.method, tt.algo, info.Path, tt.want)
		}
		// The NAR of hello.txt is 120 bytes with this sha256 (§1.5).
		if info.NarSize != 120 || info.NarHash.Hex() != "1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13" {
			t.Errorf("nar %d %s", info.NarSize, info.NarHash.Hex())
		}
		var b bytes.Buffer
		if err := s.NarFromPath(ctx, info.Path, &b); err != nil || b.Len() != 120 {
			t.Errorf("NarFromPath: %d %v", b.Len(), err)
		}
	}
	// The row has Nix's formats.
	var hash, ca string
	s.db.QueryRow("select hash, ca from ValidPaths where path = ?", "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt").Scan(&hash, &ca)
	if hash != "sha256:1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13" || ca != "fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw" {
		t.Errorf("row hash=%s ca=%s", hash, ca)
	}
}

func TestAddTreeAndNarRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	writeTree(t, dir, map[string]string{"a.sh": "#!/bin/sh\n", "sub/b": "b", "link": "->sub/b", "B": ""})
	info, err := s.AddPath(ctx, dir, AddOptions{Name: "tree", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(s.RealPath(info.Path), "a.sh"))
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("a.sh mode %v", fi.Mode())
	}
	var b bytes.Buffer
	if err := s.NarFromPath(ctx, info.Path, &b); err != nil {
		t.Fatal(err)
	}
	// A second store takes the NAR with the same info.
	s2, _ := openTest(t)
	if err := s2.AddNar(ctx, info, bytes.NewReader(b.Bytes())); err != nil {
		t.Fatal(err)
	}
	got, err := s2.QueryPathInfo(ctx, info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NarHash.Equal(info.NarHash) || got.NarSize != info.NarSize || got.CA.String() != info.CA.String() {
		t.Errorf("info differs: %+v vs %+v", got, info)
	}
	// Wrong hash, wrong size, trailing garbage and bad CA are refused
	// and leave nothing behind.
	s3, root3 := openTest(t)
	bad := *info
	bad.NarHash = nixhash.Sum(nixhash.SHA256, nil)
	if err := s3.AddNar(ctx, &bad, bytes.NewReader(b.Bytes())); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Errorf("bad hash: %v", err)
	}
	bad = *info
	bad.NarSize++
	if err := s3.AddNar(ctx, &bad, bytes.NewReader(b.Bytes())); err == nil || !strings.Contains(err.Error(), "size mismatch") {
		t.Errorf("bad size: %v", err)
	}
	if err := s3.AddNar(ctx, info, bytes.NewReader(append(b.Bytes(), 0))); err == nil {
		t.Error("trailing data accepted")
	}
	bad = *info
	bad.CA.Hash = nixhash.Sum(nixhash.SHA256, []byte("x"))
	if err := s3.AddNar(ctx, &bad, bytes.NewReader(b.Bytes())); err == nil {
		t.Error("wrong CA accepted")
	}
	if ok, _ := s3.IsValid(ctx, info.Path); ok {
		t.Error("path valid after failed adds")
	}
	ents, _ := os.ReadDir(filepath.Join(root3, "nix/store"))
	for _, e := range ents {
		if e.Name() != ".links" && !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestScanReferences(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dep, err := s.AddText(ctx, "dep", []byte("dep"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s.AddText(ctx, "other", []byte("other"), nil)
	dir := filepath.Join(t.TempDir(), "src")
	writeTree(t, dir, map[string]string{"bin/x": "exec " + s.print(dep.Path) + "/bin/y\n"})
	info, err := s.AddPath(ctx, dir, AddOptions{Name: "user", Method: storepath.Recursive, ScanReferences: []storepath.Path{dep.Path, other.Path}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.References) != 1 || info.References[0] != dep.Path {
		t.Errorf("references %v", info.References)
	}
	_, _, refs, err := HashPath(s.RealPath(info.Path), []storepath.Path{dep.Path, other.Path, info.Path})
	if err != nil || len(refs) != 1 || refs[0] != dep.Path {
		t.Errorf("HashPath refs %v %v", refs, err)
	}
}

func TestRegisterRejects(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a, _ := s.AddText(ctx, "a", []byte("a"), nil)
	missing, _ := storepath.DefaultDir.ComputeTextPath("missing", nil, nil)
	info := &store.PathInfo{Path: missing, NarHash: nixhash.Sum(nixhash.SHA256, nil), References: []storepath.Path{a.Path}}
	// Fine without CA; but claiming a wrong CA is refused.
	info.CA = storepath.ContentAddress{Text: true, Hash: nixhash.Sum(nixhash.SHA256, []byte("x"))}
	if err := s.RegisterValidPaths(ctx, []*store.PathInfo{info}); err == nil {
		t.Error("bad CA registered")
	}
	info.CA = storepath.ContentAddress{}
	gone, _ := storepath.DefaultDir.ComputeTextPath("gone", nil, nil)
	info.References = []storepath.Path{gone}
	if err := s.RegisterValidPaths(ctx, []*store.PathInfo{info}); !errors.Is(err, store.ErrNotValid) {
		t.Errorf("invalid reference: %v", err)
	}
	// A cycle among new paths aborts the whole transaction.
	x, _ := storepath.DefaultDir.ComputeTextPath("x", nil, nil)
	y, _ := storepath.DefaultDir.ComputeTextPath("y", nil, nil)
	h := nixhash.Sum(nixhash.SHA256, nil)
	err := s.RegisterValidPaths(ctx, []*store.PathInfo{
		{Path: x, NarHash: h, References: []storepath.Path{y}},
		{Path: y, NarHash: h, References: []storepath.Path{x}},
	})
	var ce *store.CycleError
	if !errors.As(err, &ce) {
		t.Errorf("cycle: %v", err)
	}
	if ok, _ := s.IsValid(ctx, x); ok {
		t.Error("x valid after failed transaction")
	}
}

// Concurrent writers of the same path never corrupt it.
func TestConcurrentAdds(t *testing.T) {
	s, root := openTest(t)
	s2, err := Open(context.Background(), Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	writeTree(t, dir, map[string]string{"f": strings.Repeat("x", 1<<20), "g.sh": "y"})
	var wg sync.WaitGroup
	paths := make([]storepath.Path, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = s2
			}
			info, err := st.AddPath(ctx, dir, AddOptions{Name: "big", Method: storepath.Recursive})
			errs[i] = err
			if err == nil {
				paths[i] = info.Path
			}
		}()
	}
	wg.Wait()
	for i := range 8 {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("writer %d: %v %v", i, paths[i], errs[i])
		}
	}
	res, err := s.Verify(ctx, VerifyOptions{CheckContents: true})
	if err != nil || len(res.Corrupt) != 0 {
		t.Errorf("verify: %+v %v", res, err)
	}
}

func dbRows(t *testing.T, db *sql.DB, q string) []string {
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		var parts []string
		for _, v := range vals {
			parts = append(parts, v.String)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out
}

var _ = nar.Magic

func TestOptionsAndSignatures(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	opts := Options{Root: root, ReservedSize: -1, AutoOptimise: true}
	if os.Geteuid() == 0 {
		opts.BuildUsersGroup = "root"
	}
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if os.Geteuid() == 0 {
		fi, _ := os.Stat(s.RealStoreDir())
		if fi.Mode()&(os.ModePerm|os.ModeSticky) != os.ModeSticky|0o775 {
			t.Errorf("store dir mode %v, want 1775", fi.Mode())
		}
	}
	src := t.TempDir()
	writeTree(t, filepath.Join(src, "a"), map[string]string{"f": "same"})
	writeTree(t, filepath.Join(src, "b"), map[string]string{"g": "same"})
	a, err := s.AddPath(ctx, filepath.Join(src, "a"), AddOptions{Name: "a", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddPath(ctx, filepath.Join(src, "b"), AddOptions{Name: "b", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	if inode(t, filepath.Join(s.RealPath(a.Path), "f")) != inode(t, filepath.Join(s.RealPath(b.Path), "g")) {
		t.Error("auto-optimise did not link identical files")
	}
	if err := s.AddSignatures(ctx, a.Path, []string{"k-2:bbbb", "k-1:aaaa"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSignatures(ctx, a.Path, []string{"k-1:aaaa", "k-3:cccc"}); err != nil {
		t.Fatal(err)
	}
	info, _ := s.QueryPathInfo(ctx, a.Path)
	if got := strings.Join(info.Signatures, " "); got != "k-1:aaaa k-2:bbbb k-3:cccc" {
		t.Errorf("signatures %q", got)
	}
	missing, _ := storepath.DefaultDir.ComputeTextPath("missing", nil, nil)
	if err := s.AddSignatures(ctx, missing, []string{"k:x"}); !errors.Is(err, store.ErrNotValid) {
		t.Errorf("sign invalid path: %v", err)
	}
}

func TestLockPaths(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	a, _ := storepath.DefaultDir.ComputeTextPath("a", nil, nil)
	b, _ := storepath.DefaultDir.ComputeTextPath("b", nil, nil)
	l, err := s.LockPaths(ctx, []storepath.Path{b, a, b})
	if err != nil {
		t.Fatal(err)
	}
	// Another Store (as another process would) cannot take them.
	s2, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s2.LockPaths(short, []storepath.Path{a}); err == nil {
		t.Fatal("lock taken twice")
	}
	os.MkdirAll(s.RealPath(a), 0o755)
	if err := s.RemoveInvalid(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.RealPath(a)); err == nil {
		t.Error("invalid leftover kept")
	}
	l.Unlock(true)
	if _, err := os.Lstat(s.RealPath(a) + ".lock"); err == nil {
		t.Error("lock file kept")
	}
	l2, err := s2.LockPaths(short, []storepath.Path{a, b})
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock(false)
}

func TestAddPathFilter(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	writeTree(t, dir, map[string]string{"keep": "k", "drop.o": "d", "sub/drop.o": "d", "sub/keep": "k"})
	want := filepath.Join(t.TempDir(), "want")
	writeTree(t, want, map[string]string{"keep": "k", "sub/keep": "k"})
	filtered, err := s.AddPath(ctx, dir, AddOptions{Name: "src", Method: storepath.Recursive,
		Filter: func(p string, fi fs.FileInfo) (bool, error) { return !strings.HasSuffix(p, ".o"), nil }})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.AddPath(ctx, want, AddOptions{Name: "src", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	if filtered.Path != plain.Path {
		t.Errorf("filtered add %s, want %s", filtered.Path, plain.Path)
	}
}

func TestVerify(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a, _ := s.AddText(ctx, "a", []byte("a"), nil)
	b, _ := s.AddText(ctx, "b", []byte("b "+s.print(a.Path)), []storepath.Path{a.Path})
	c, _ := s.AddText(ctx, "c", []byte("c"), nil)
	d, _ := s.AddText(ctx, "d", []byte("d"), nil)
	e, _ := s.AddText(ctx, "e", []byte("e"), nil)
	if _, err := s.Optimise(ctx); err != nil {
		t.Fatal(err)
	}
	// a disappears but b (present) refers to it; c disappears alone;
	// d is modified; e's narSize is unknown; a .links entry is corrupted.
	fsutil.RemoveAll(s.RealPath(a.Path))
	fsutil.RemoveAll(s.RealPath(c.Path))
	os.Remove(s.RealPath(d.Path)) // a new inode: its .links entry stays intact
	os.WriteFile(s.RealPath(d.Path), []byte("D"), 0o444)
	s.db.Exec("update ValidPaths set narSize = null where path = ?", s.print(e.Path))
	res, err := s.Verify(ctx, VerifyOptions{CheckContents: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 1 || res.Missing[0] != a.Path {
		t.Errorf("missing %v", res.Missing)
	}
	if len(res.Invalidated) != 1 || res.Invalidated[0] != c.Path {
		t.Errorf("invalidated %v", res.Invalidated)
	}
	if len(res.Corrupt) != 1 || res.Corrupt[0].Path != d.Path {
		t.Errorf("corrupt %v", res.Corrupt)
	}
	if len(res.SizesFixed) != 1 || res.SizesFixed[0] != e.Path {
		t.Errorf("sizes fixed %v", res.SizesFixed)
	}
	if len(res.CorruptLinks) != 0 {
		t.Errorf("corrupt links %v", res.CorruptLinks)
	}
	if res.OK() {
		t.Error("OK despite problems")
	}
	if ok, _ := s.IsValid(ctx, c.Path); ok {
		t.Error("vanished c still valid")
	}
	if info, _ := s.QueryPathInfo(ctx, e.Path); info.NarSize == 0 {
		t.Error("size not filled in")
	}
	_ = b
	// Corrupt a link: write through a hard link in .links.
	links, _ := os.ReadDir(filepath.Join(s.RealStoreDir(), ".links"))
	if len(links) == 0 {
		t.Fatal("no links")
	}
	lp := filepath.Join(s.RealStoreDir(), ".links", links[0].Name())
	os.Chmod(lp, 0o644)
	os.WriteFile(lp, []byte("tampered"), 0o644)
	res, _ = s.Verify(ctx, VerifyOptions{CheckContents: true})
	if len(res.CorruptLinks) != 1 {
		t.Errorf("corrupt links %v", res.CorruptLinks)
	}
	res, _ = s.Verify(ctx, VerifyOptions{CheckContents: true, Repair: true})
	if len(res.RemovedLinks) != 1 || len(res.CorruptLinks) != 0 {
		t.Errorf("repair: %+v", res)
	}
}

// AddPath's in-memory path for small files gives what adding the file's
// NAR gives, for plain and executable files, and a second add of the same
// file finds the valid path.
func TestAddSmallFileLikeNAR(t *testing.T) {
	s, _ := openTest(t)
	ref, _ := openTest(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		mode os.FileMode
		data string
	}{{"plain", 0o644, "hello\n"}, {"exe", 0o755, "#!/bin/sh\n"}, {"empty", 0o600, ""}} {
		f := filepath.Join(dir, tc.name)
		if err := os.WriteFile(f, []byte(tc.data), tc.mode); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := nar.DumpPath(&buf, f); err != nil {
			t.Fatal(err)
		}
		opts := AddOptions{Name: tc.name, Method: storepath.Recursive}
		want, err := ref.AddDump(ctx, bytes.NewReader(buf.Bytes()), opts)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // new, then valid already
			got, err := s.AddPath(ctx, f, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != want.Path || !got.NarHash.Equal(want.NarHash) || got.NarSize != want.NarSize || got.CA.String() != want.CA.String() || got.RegistrationTime.Sub(want.RegistrationTime).Abs() > time.Minute {
				t.Errorf("%s: AddPath %+v, AddDump %+v", tc.name, got, want)
			}
			if db, err := s.QueryPathInfo(ctx, got.Path); err != nil || db.RegistrationTime != got.RegistrationTime || db.NarSize != got.NarSize || len(db.References) != 0 {
				t.Errorf("%s: database has %+v (%v), AddPath returned %+v", tc.name, db, err, got)
			}
		}
		got, _ := s.QueryPathInfo(ctx, want.Path)
		fi, err := os.Lstat(s.RealPath(got.Path))
		if err != nil {
			t.Fatal(err)
		}
		if wantMode := os.FileMode(0o444) | tc.mode&0o111; fi.Mode() != wantMode {
			t.Errorf("%s: mode %v, want %v", tc.name, fi.Mode(), wantMode)
		}
	}
}

// A write transaction waits for another process's (here: another
// Store's) write lock, and the wait can be cancelled.
func TestWithTxWaitsAndCancels(t *testing.T) {
	s1, root := openTest(t)
	s2, err := Open(context.Background(), Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ctx := context.Background()
	locked, release := make(chan bool), make(chan bool)
	done := make(chan error)
	go func() {
		done <- s1.withTx(ctx, func(tx querier) error {
			locked <- true
			<-release
			return nil
		})
	}()
	<-locked
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s2.withTx(cctx, func(tx querier) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting with a deadline: %v", err)
	}
	waited := make(chan error)
	go func() { waited <- s2.withTx(ctx, func(tx querier) error { return nil }) }()
	select {
	case err := <-waited:
		t.Fatalf("got the write lock while another Store held it: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	release <- true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Errorf("after the lock was released: %v", err)
	}
	// Reads do not wait for writers.
	if _, err := s2.IsValid(ctx, storepath.Path{}); err != nil {
		t.Error(err)
	}
}

// A transaction whose body fails or panics is rolled back, and the write
// connection is usable afterwards.
func TestWithTxRollsBack(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	insert := func(tx querier, path string) error {
		_, err := tx.ExecContext(ctx, sqlRegisterValidPath, path, "sha256:00", 1, nil, nil, nil, nil, nil)
		return err
	}
	if err := s.withTx(ctx, func(tx querier) error {
		if err := insert(tx, "/nix/store/a"); err != nil {
			return err
		}
		return errors.New("fail")
	}); err == nil || err.Error() != "fail" {
		t.Fatalf("withTx: %v", err)
	}
	func() {
		defer func() { recover() }()
		s.withTx(ctx, func(tx querier) error {
			insert(tx, "/nix/store/b")
			panic("boom")
		})
	}()
	if err := s.withTx(ctx, func(tx querier) error { return insert(tx, "/nix/store/c") }); err != nil {
		t.Fatal(err)
	}
	got, err := queryStrings(ctx, s.q(), "select path from ValidPaths")
	if err != nil || len(got) != 1 || got[0] != "/nix/store/c" {
		t.Errorf("valid paths %v %v, want only /nix/store/c", got, err)
	}
}

// TestCloseForExit: Close checkpoints the write-ahead log into the
// database and removes it; CloseForExit leaves the log, with every row,
// to the next opener, and releases the rest as Close does.
func TestCloseForExit(t *testing.T) {
	ctx := context.Background()
	for _, forExit := range []bool{false, true} {
		root := t.TempDir()
		s, err := Open(ctx, Options{Root: root, ReservedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.AddText(ctx, "hello", []byte("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddTempRoot(ctx, info.Path); err != nil {
			t.Fatal(err)
		}
		roots := s.tempRoots.Name()
		closeErr := s.Close
		if forExit {
			closeErr = s.CloseForExit
		}
		if err := closeErr(); err != nil {
			t.Fatal(err)
		}
		wal, err := os.Stat(filepath.Join(root, "nix/var/nix/db/db.sqlite-wal"))
		if kept := err == nil && wal.Size() > 0; kept != forExit {
			t.Errorf("CloseForExit %v: write-ahead log kept %v (%v)", forExit, kept, err)
		}
		if _, err := os.Stat(roots); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CloseForExit %v: temporary roots file left: %v", forExit, err)
		}
		other, err := Open(ctx, Options{Root: root, ReservedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := other.IsValid(ctx, info.Path); err != nil || !ok {
			t.Errorf("CloseForExit %v: the path is not valid to the next opener: %v %v", forExit, ok, err)
		}
		if err := other.Close(); err != nil {
			t.Error(err)
		}
	}
}

// walkOnly hides QueryClosure, so that store.Closure walks the
// references one query at a time.
type walkOnly struct{ store.Store }

// TestQueryClosure: the one-query closure equals the walk (on gcFixture's
// graph: shared references and a path that refers to itself), and a root
// that is not valid is an error.
func TestQueryClosure(t *testing.T) {
	s, _, n := gcFixture(t)
	ctx := context.Background()
	a, b, c, d, e, f := n["a"], n["b"], n["c"], n["d"], n["e"], n["f"]
	for _, roots := range [][]storepath.Path{{a}, {c}, {a, d}, {e}, {d, b}, {a, a}, {f}, {f, e, a}} {
		got, err := store.Closure(ctx, s, roots, store.ClosureOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := store.Closure(ctx, walkOnly{s}, roots, store.ClosureOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("closure of %v: %v, walked %v", roots, got, want)
		}
	}
	missing, _, _, _ := s.textPath("missing", []byte("missing"), nil)
	if _, err := s.QueryClosure(ctx, []storepath.Path{a, missing}); !errors.Is(err, store.ErrNotValid) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("closure with a root that is not valid: %v", err)
	}
}
