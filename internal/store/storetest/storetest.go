// Package storetest is a conformance suite that every store.Store
// implementation runs from its tests: storetest.Run(t, open). It is
// imported only by _test.go files.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// Run runs the suite. open must return a new, empty, writable store for
// each call; the suite does not close it (use t.Cleanup in open).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, store.Store)
	}{
		{"Unknown", testUnknown},
		{"AddNarRoundTrip", testAddNarRoundTrip},
		{"References", testReferences},
		{"Rejects", testRejects},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, open(t)) })
	}
}

// A NAR and its PathInfo for a content-addressed (source) path.
type item struct {
	info *store.PathInfo
	nar  []byte
}

// fileNar builds the NAR of a single regular file.
func fileNar(t *testing.T, contents string, exec bool) []byte {
	var b bytes.Buffer
	w := nar.NewWriter(&b)
	if err := w.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(contents)), Executable: exec}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(contents)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sourceItem is a recursive-sha256 content-addressed path for a file with
// contents that refers to refs (and mentions their paths in contents).
func sourceItem(t *testing.T, dir storepath.Dir, name, contents string, refs ...storepath.Path) item {
	t.Helper()
	for _, r := range refs {
		contents += " " + dir.Print(r)
	}
	data := fileNar(t, contents, false)
	h := nixhash.Sum(nixhash.SHA256, data)
	p, err := dir.MakeFixedOutputPath(name, storepath.Recursive, h, refs, false)
	if err != nil {
		t.Fatal(err)
	}
	return item{
		info: &store.PathInfo{
			Path: p, NarHash: h, NarSize: uint64(len(data)),
			References: store.SortPaths(append([]storepath.Path(nil), refs...)),
			CA:         storepath.ContentAddress{Method: storepath.Recursive, Hash: h},
		},
		nar: data,
	}
}

func add(t *testing.T, s store.Store, it item) {
	t.Helper()
	info := *it.info
	if err := s.AddNar(context.Background(), &info, bytes.NewReader(it.nar)); err != nil {
		t.Fatalf("AddNar %s: %v", it.info.Path, err)
	}
}

func testUnknown(t *testing.T, s store.Store) {
	ctx := context.Background()
	if s.Dir() == "" {
		t.Error("empty store dir")
	}
	it := sourceItem(t, s.Dir(), "unknown", "never added")
	if ok, err := s.IsValid(ctx, it.info.Path); err != nil || ok {
		t.Errorf("IsValid = %v, %v", ok, err)
	}
	if _, err := s.QueryPathInfo(ctx, it.info.Path); !errors.Is(err, store.ErrNotValid) {
		t.Errorf("QueryPathInfo err = %v, want ErrNotValid", err)
	}
	var b bytes.Buffer
	if err := s.NarFromPath(ctx, it.info.Path, &b); err == nil {
		t.Error("NarFromPath of an unknown path succeeded")
	}
}

func testAddNarRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	it := sourceItem(t, s.Dir(), "hello", "hello\n")
	add(t, s, it)
	add(t, s, it) // adding again is a no-op
	if ok, err := s.IsValid(ctx, it.info.Path); err != nil || !ok {
		t.Fatalf("IsValid = %v, %v", ok, err)
	}
	got, err := s.QueryPathInfo(ctx, it.info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != it.info.Path || !got.NarHash.Equal(it.info.NarHash) || got.NarSize != it.info.NarSize ||
		len(got.References) != 0 || got.CA.String() != it.info.CA.String() {
		t.Errorf("QueryPathInfo = %+v, want %+v", got, it.info)
	}
	var b bytes.Buffer
	if err := s.NarFromPath(ctx, it.info.Path, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), it.nar) {
		t.Error("NarFromPath returns different bytes")
	}
}

func testReferences(t *testing.T, s store.Store) {
	ctx := context.Background()
	dep := sourceItem(t, s.Dir(), "dep", "dep")
	user := sourceItem(t, s.Dir(), "user", "user of", dep.info.Path)
	top := sourceItem(t, s.Dir(), "top", "top of", user.info.Path, dep.info.Path)
	add(t, s, dep)
	add(t, s, user)
	add(t, s, top)
	got, err := s.QueryPathInfo(ctx, top.info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.References) != 2 || got.References[0] != top.info.References[0] || got.References[1] != top.info.References[1] {
		t.Errorf("references %v, want %v", got.References, top.info.References)
	}
	cl, err := store.Closure(ctx, s, []storepath.Path{top.info.Path}, store.ClosureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != 3 {
		t.Errorf("closure %v", cl)
	}
}

func testRejects(t *testing.T, s store.Store) {
	ctx := context.Background()
	it := sourceItem(t, s.Dir(), "victim", "contents")
	bad := *it.info
	bad.NarHash = nixhash.Sum(nixhash.SHA256, []byte("other"))
	if err := s.AddNar(ctx, &bad, bytes.NewReader(it.nar)); err == nil {
		t.Error("wrong NAR hash accepted")
	}
	bad = *it.info
	bad.NarSize--
	if err := s.AddNar(ctx, &bad, bytes.NewReader(it.nar)); err == nil {
		t.Error("wrong NAR size accepted")
	}
	// A path whose content address does not compute to it.
	other := sourceItem(t, s.Dir(), "victim", "other contents")
	bad = *other.info
	bad.Path = it.info.Path
	if err := s.AddNar(ctx, &bad, bytes.NewReader(other.nar)); err == nil {
		t.Error("content address mismatch accepted")
	}
	// A reference that is not valid.
	ghost := sourceItem(t, s.Dir(), "ghost", "ghost")
	orphan := sourceItem(t, s.Dir(), "orphan", "orphan", ghost.info.Path)
	if err := s.AddNar(ctx, orphan.info, bytes.NewReader(orphan.nar)); err == nil {
		t.Error("invalid reference accepted")
	}
	for _, p := range []storepath.Path{it.info.Path, orphan.info.Path} {
		if ok, _ := s.IsValid(ctx, p); ok {
			t.Errorf("%s valid after a rejected add", p)
		}
	}
	add(t, s, it) // and the right NAR still goes in afterwards
}
