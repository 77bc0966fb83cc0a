package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
)

// TestAddTextDeferred: a deferred text path is valid (to another Store on
// the same database) only once the first Store uses its database again;
// it is then registered exactly as AddText would have, references
// between deferred paths included.
func TestAddTextDeferred(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	other := openOther(t, root)
	a, err := s.AddTextDeferred(ctx, "a", []byte("contents of a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddTextDeferred(ctx, "b", []byte("b refers to "+s.print(a.Path)), []storepath.Path{a.Path})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.AddTextDeferred(ctx, "a", []byte("contents of a"), nil); err != nil || again != a {
		t.Errorf("adding a again: %v %v", again, err)
	}
	for _, p := range []storepath.Path{a.Path, b.Path} {
		if ok, err := other.IsValid(ctx, p); err != nil || ok {
			t.Errorf("%s valid to another store before its rows are written: %v %v", s.print(p), ok, err)
		}
	}
	// Any use of the database writes the rows first.
	got, err := s.QueryPathInfo(ctx, b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.References) != 1 || got.References[0] != a.Path {
		t.Errorf("references of b: %v", got.References)
	}
	// As AddText registers the same contents in a store of its own.
	s2, _ := openTest(t)
	want, err := s2.AddText(ctx, "a", []byte("contents of a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := other.QueryPathInfo(ctx, a.Path)
	if err != nil {
		t.Fatalf("a after the rows are written: %v", err)
	}
	if gotA.Path != want.Path || gotA.NarHash.String() != want.NarHash.String() || gotA.NarSize != want.NarSize || gotA.CA.String() != want.CA.String() {
		t.Errorf("deferred a: %+v\nAddText: %+v", gotA, want)
	}
	if v, err := other.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
	// Close writes what is still waiting.
	c, err := s.AddTextDeferred(ctx, "c", []byte("c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.IsValid(ctx, c.Path); err != nil || !ok {
		t.Errorf("c after Close: %v %v", ok, err)
	}
}

// TestAddTextDeferredConcurrent: AddText of a path that waits for its row
// (from another goroutine) does not wait for the held lock forever: its
// check of the existing contents writes the row first.
func TestAddTextDeferredConcurrent(t *testing.T) {
	s, _ := openTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := s.AddTextDeferred(ctx, "a", []byte("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		info, err := s.AddText(ctx, "a", []byte("a"), nil)
		if err == nil && info.Path != a.Path {
			err = fmt.Errorf("got %s", s.print(info.Path))
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestAddTextDeferredLeftover: contents a crash left at a path without
// its row are replaced, and the path ends up valid with the new contents
// in canonical form (read-only, mtime 1).
func TestAddTextDeferredLeftover(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	p, _, _, err := s.textPath("x", []byte("the real x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	real := s.RealPath(p)
	if err := os.WriteFile(real, []byte("half-writ"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.AddTextDeferred(ctx, "x", []byte("the real x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != p {
		t.Fatalf("path %s, want %s", s.print(info.Path), s.print(p))
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(real)
	if err != nil || string(data) != "the real x" {
		t.Errorf("contents %q, %v", data, err)
	}
	fi, err := os.Lstat(real)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o444 || fi.ModTime().Unix() != 1 {
		t.Errorf("mode %v, mtime %v: not canonical", fi.Mode(), fi.ModTime())
	}
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
}

// TestAddTextDeferredChecksDerivations: the output paths of a deferred
// .drv are checked at Sync, from the contents it was added with: a wrong
// one fails the Sync, and the file goes; a right one is registered with
// its outputs.
func TestAddTextDeferredChecksDerivations(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	d, good, bad := forgedDrv(t, s)
	info, err := s.AddTextDeferred(ctx, "d.drv", bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err == nil || !strings.Contains(err.Error(), "incorrect output") {
		t.Errorf("Sync of a .drv with a wrong output path: %v", err)
	}
	if _, err := os.Lstat(s.RealPath(info.Path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused .drv left in the store: %v", err)
	}
	info, err = s.AddTextDeferred(ctx, "d.drv", good, nil)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := s.QueryDerivationOutputs(ctx, info.Path)
	if err != nil || s.print(outs["out"]) != d.Outputs["out"].Path {
		t.Errorf("outputs %v, %v; want %s", outs, err, d.Outputs["out"].Path)
	}
}

// TestAddTextDeferredBehind: a full batch is written in the background,
// without another use of the database, while the adder goes on; what
// goes wrong there comes back from the next Sync, once.
func TestAddTextDeferredBehind(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	other := openOther(t, root)
	var first *storepath.Path
	for i := 0; i < maxPending; i++ {
		info, err := s.AddTextDeferred(ctx, fmt.Sprint("t", i), []byte(fmt.Sprint("text ", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = &info.Path
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for ok := false; !ok; {
		var err error
		if ok, err = other.IsValid(ctx, *first); err != nil {
			t.Fatal(err)
		}
		if !ok && time.Now().After(deadline) {
			t.Fatalf("a full batch was not written without another use of the database")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A .drv with a wrong output path fails its batch in the background.
	_, _, bad := forgedDrv(t, s)
	badInfo, err := s.AddTextDeferred(ctx, "d.drv", bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 2*maxPending; i++ {
		if _, err := s.AddTextDeferred(ctx, fmt.Sprint("u", i), []byte(fmt.Sprint("more ", i)), nil); err != nil {
			t.Fatalf("adding after a batch that will fail: %v", err)
		}
	}
	if err := s.Sync(ctx); err == nil || !strings.Contains(err.Error(), "incorrect output") {
		t.Errorf("Sync after a failed batch: %v", err)
	}
	if _, err := os.Lstat(s.RealPath(badInfo.Path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused .drv left in the store: %v", err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Errorf("a second Sync: %v", err)
	}
	if ok, err := other.IsValid(ctx, *first); err != nil || !ok {
		t.Errorf("the first batch: %v %v", ok, err)
	}
}

// openOther opens a second Store on the database at root, closed when the
// test ends.
func openOther(t *testing.T, root string) *Store {
	t.Helper()
	other, err := Open(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// forgedDrv returns a derivation d with no inputs, its .drv contents, and
// those contents with an output path that does not follow from them.
func forgedDrv(t *testing.T, s *Store) (d *derivation.Derivation, good, bad []byte) {
	t.Helper()
	d = &derivation.Derivation{
		Outputs: map[string]derivation.Output{"out": {}}, InputDrvs: map[string][]string{},
		Platform: "x86_64-linux", Builder: "/bin/sh", Args: []string{}, Env: map[string]string{},
	}
	h := derivation.NewHasher(s.dir, func(string) (*derivation.Derivation, error) { return nil, errors.New("no inputs") })
	if err := h.FillOutputs(d, "d"); err != nil {
		t.Fatal(err)
	}
	good = d.Bytes()
	bad = bytes.Replace(good, []byte("-d\""), []byte("-e\""), 1)
	if bytes.Equal(good, bad) {
		t.Fatalf("could not forge an output path in %s", good)
	}
	return d, good, bad
}

// TestAddTextDeferredAwait: a deferred path's file is written in the
// background, not by AddTextDeferred; Await returns once it is in place,
// whether its batch is full or not.
func TestAddTextDeferredAwait(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var infos []*storepath.Path
	for i := 0; i < maxPending+3; i++ {
		info, err := s.AddTextDeferred(ctx, fmt.Sprint("w", i), []byte(fmt.Sprint("waiting ", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, &info.Path)
	}
	last := *infos[len(infos)-1]
	if _, err := os.Lstat(s.RealPath(last)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a path of a batch that is not full is written already: %v", err)
	}
	for i, p := range infos {
		s.Await(*p)
		if b, err := os.ReadFile(s.RealPath(*p)); err != nil || string(b) != fmt.Sprint("waiting ", i) {
			t.Errorf("after Await: %q, %v", b, err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.IsValid(ctx, last); err != nil || !ok {
		t.Errorf("after Sync: %v %v", ok, err)
	}
}
