package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// memStore is a minimal in-memory Store for testing the helpers.
type memStore struct {
	infos map[storepath.Path]*PathInfo
}

func (m *memStore) Dir() storepath.Dir { return storepath.DefaultDir }
func (m *memStore) IsValid(_ context.Context, p storepath.Path) (bool, error) {
	_, ok := m.infos[p]
	return ok, nil
}
func (m *memStore) QueryPathInfo(_ context.Context, p storepath.Path) (*PathInfo, error) {
	if i, ok := m.infos[p]; ok {
		return i, nil
	}
	return nil, &NotValidError{Path: m.Dir().Print(p)}
}
func (m *memStore) NarFromPath(context.Context, storepath.Path, io.Writer) error {
	return errors.New("no contents")
}
func (m *memStore) AddNar(context.Context, *PathInfo, io.Reader) error {
	return errors.New("read-only")
}
func (m *memStore) QueryReferrers(_ context.Context, p storepath.Path) ([]storepath.Path, error) {
	var out []storepath.Path
	for q, i := range m.infos {
		for _, r := range i.References {
			if r == p {
				out = append(out, q)
			}
		}
	}
	return SortPaths(out), nil
}

func mkPath(t *testing.T, name string) storepath.Path {
	t.Helper()
	p, err := storepath.DefaultDir.ComputeTextPath(name, []byte(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// graph builds a store from "a:b,c d:a" (each path and its references).
func graph(t *testing.T, spec string) (*memStore, map[string]storepath.Path) {
	names := map[string]storepath.Path{}
	m := &memStore{infos: map[storepath.Path]*PathInfo{}}
	for _, item := range strings.Fields(spec) {
		n, _, _ := strings.Cut(item, ":")
		names[n] = mkPath(t, n)
	}
	for _, item := range strings.Fields(spec) {
		n, refs, _ := strings.Cut(item, ":")
		info := &PathInfo{Path: names[n], NarHash: nixhash.Sum(nixhash.SHA256, nil)}
		for _, r := range strings.Split(refs, ",") {
			if r != "" {
				info.References = append(info.References, names[r])
			}
		}
		info.References = SortPaths(info.References)
		m.infos[names[n]] = info
	}
	return m, names
}

func nameOf(names map[string]storepath.Path, ps []storepath.Path) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name())
	}
	return strings.Join(out, " ")
}

func TestClosure(t *testing.T) {
	m, n := graph(t, "a:b,c b:d c:c,d d: e:a")
	ctx := context.Background()
	tests := []struct {
		roots     string
		referrers bool
		want      string
	}{
		{"a", false, "a b c d"},
		{"d", false, "d"},
		{"c", false, "c d"},
		{"d", true, "a b c d e"},
		{"c", true, "a c e"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.roots, tt.referrers), func(t *testing.T) {
			var roots []storepath.Path
			for _, r := range strings.Fields(tt.roots) {
				roots = append(roots, n[r])
			}
			got, err := Closure(ctx, m, roots, ClosureOptions{Referrers: tt.referrers})
			if err != nil {
				t.Fatal(err)
			}
			// Closure sorts by base name (hash first); compare as sets.
			gotNames := strings.Fields(nameOf(n, got))
			if len(gotNames) != len(strings.Fields(tt.want)) {
				t.Fatalf("got %v, want %v", gotNames, tt.want)
			}
			for _, w := range strings.Fields(tt.want) {
				if !strings.Contains(" "+nameOf(n, got)+" ", " "+w+" ") {
					t.Fatalf("got %v, want %v", gotNames, tt.want)
				}
			}
		})
	}
	if _, err := Closure(ctx, m, []storepath.Path{mkPath(t, "missing")}, ClosureOptions{}); !errors.Is(err, ErrNotValid) {
		t.Errorf("missing root: err = %v", err)
	}
}

func TestTopoSort(t *testing.T) {
	m, n := graph(t, "a:b,c b:d c:c,d d: e:a")
	refs := func(p storepath.Path) []storepath.Path { return m.infos[p].References }
	all := []storepath.Path{n["d"], n["c"], n["b"], n["a"], n["e"]}
	got, err := TopoSort(all, refs)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[storepath.Path]int{}
	for i, p := range got {
		pos[p] = i
	}
	for _, p := range all {
		for _, r := range refs(p) {
			if r != p && pos[p] > pos[r] {
				t.Errorf("%s comes after its reference %s: %s", p.Name(), r.Name(), nameOf(n, got))
			}
		}
	}
	if len(got) != len(all) {
		t.Errorf("got %d paths, want %d", len(got), len(all))
	}

	cyc, n2 := graph(t, "x:y y:x")
	_, err = TopoSort([]storepath.Path{n2["x"], n2["y"]}, func(p storepath.Path) []storepath.Path { return cyc.infos[p].References })
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Errorf("cycle: err = %v", err)
	}
}

func TestCheckCA(t *testing.T) {
	dir := storepath.DefaultDir
	h := nixhash.Sum(nixhash.SHA256, []byte("hello\n"))
	p, err := dir.MakeFixedOutputPath("hello.txt", storepath.Flat, h, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// Design note §1.5: flat sha256 of "hello\n" named hello.txt.
	if p.Base() != "gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt" {
		t.Fatalf("path %s", p)
	}
	info := &PathInfo{Path: p, CA: storepath.ContentAddress{Method: storepath.Flat, Hash: h}}
	if err := info.CheckCA(dir); err != nil {
		t.Errorf("good CA: %v", err)
	}
	info.CA.Method = storepath.Recursive
	if err := info.CheckCA(dir); err == nil {
		t.Error("wrong method accepted")
	}
	info.CA = storepath.ContentAddress{}
	if err := info.CheckCA(dir); err != nil || info.HasCA() {
		t.Errorf("no CA: %v", err)
	}
}
