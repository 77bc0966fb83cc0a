package local

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
)

// addChain adds a chain of n derivations (each an input of the next) and
// returns how many times the hasher's resolver read a derivation.
func addChain(t *testing.T, s *Store, n int, shared bool) int {
	t.Helper()
	drvs := map[string]*derivation.Derivation{}
	reads := 0
	h := derivation.NewHasher(s.dir, func(p string) (*derivation.Derivation, error) {
		reads++
		return drvs[p], nil
	})
	prev := ""
	for i := range n {
		name := "c" + strconv.Itoa(i)
		d := &derivation.Derivation{
			Outputs: map[string]derivation.Output{"out": {}}, InputDrvs: map[string][]string{},
			Platform: "x86_64-linux", Builder: "/bin/sh", Args: []string{}, Env: map[string]string{"name": name},
		}
		var refs []storepath.Path
		if prev != "" {
			d.InputDrvs[prev] = []string{"out"}
			p, _ := s.dir.Parse(prev)
			refs = append(refs, p)
		}
		if err := h.FillOutputs(d, name); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if shared {
			ctx = WithHasher(ctx, h)
		}
		info, err := s.AddText(ctx, name+".drv", d.Bytes(), refs)
		if err != nil {
			t.Fatal(err)
		}
		prev = s.dir.Print(info.Path)
		drvs[prev] = d
	}
	return reads
}

// TestWithHasher: registering a chain with the evaluator's hasher reads
// each input derivation once, and the check really uses that hasher.
func TestWithHasher(t *testing.T) {
	s, _ := openTest(t)
	if reads := addChain(t, s, 20, true); reads != 19 {
		t.Errorf("shared hasher: %d resolver reads for a chain of 20, want 19", reads)
	}
	s2, _ := openTest(t)
	if reads := addChain(t, s2, 5, false); reads != 4 {
		t.Errorf("no shared hasher: %d resolver reads, want 4 (only FillOutputs)", reads)
	}

	// The store really uses the given hasher: one that resolves the
	// input to another derivation makes a correct .drv look wrong.
	one := &derivation.Derivation{
		Outputs: map[string]derivation.Output{"out": {}}, InputDrvs: map[string][]string{},
		Platform: "x86_64-linux", Builder: "/bin/sh", Args: []string{}, Env: map[string]string{},
	}
	h := derivation.NewHasher(s.dir, func(string) (*derivation.Derivation, error) { return one, nil })
	if err := h.FillOutputs(one, "one"); err != nil {
		t.Fatal(err)
	}
	info, err := s.AddText(context.Background(), "one.drv", one.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	two := &derivation.Derivation{
		Outputs: map[string]derivation.Output{"out": {}}, InputDrvs: map[string][]string{s.dir.Print(info.Path): {"out"}},
		Platform: "x86_64-linux", Builder: "/bin/sh", Args: []string{}, Env: map[string]string{},
	}
	if err := h.FillOutputs(two, "two"); err != nil {
		t.Fatal(err)
	}
	liar := derivation.NewHasher(s.dir, func(string) (*derivation.Derivation, error) {
		d := *one
		d.Builder = "/bin/other"
		return &d, nil
	})
	_, err = s.AddText(WithHasher(context.Background(), liar), "two.drv", two.Bytes(), []storepath.Path{info.Path})
	if err == nil || !strings.Contains(err.Error(), "incorrect output") {
		t.Errorf("the store did not check with the hasher of the context: err = %v", err)
	}
	if _, err := s.AddText(context.Background(), "two.drv", two.Bytes(), []storepath.Path{info.Path}); err != nil {
		t.Errorf("correct derivation refused: %v", err)
	}
}
