package local

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cairn/internal/compat/storepath"
)

// TestAddTextDeferred: a deferred text path has its contents in place at
// once but is valid (to another Store on the same database) only once
// the first Store uses its database again; it is then registered exactly
// as AddText would have, references between deferred paths included.
func TestAddTextDeferred(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	other, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
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
