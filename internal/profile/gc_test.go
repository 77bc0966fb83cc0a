package profile

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

// Generations keep their environments and packages alive; wiping the
// history lets the collector take them. Profiles under the state
// directory's profiles/ and elsewhere (through gcroots/auto) both count.
func TestGenerationsAreGCRoots(t *testing.T) {
	ctx := context.Background()
	st, base := testStore(t)
	for _, profile := range []string{filepath.Join(base, "var", "profiles", "per-user", "u", "profile"), filepath.Join(base, "home", "p")} {
		a := addPkg(t, st, "a-1-"+filepath.Base(profile), map[string]string{"bin/a": profile})
		b := addPkg(t, st, "b-1-"+filepath.Base(profile), map[string]string{"bin/b": profile})
		env1, _, _, err := Update(ctx, st, profile, func(m *Manifest) error {
			m.Elements = []Element{{StorePaths: []storepath.Path{a}, Active: true}}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		env2, _, _, err := Update(ctx, st, profile, func(m *Manifest) error {
			m.Elements = []Element{{StorePaths: []storepath.Path{b}, Active: true}}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// This process holds temporary roots for everything it added,
		// so look at the permanent roots and their closure.
		live := func() []storepath.Path {
			roots, err := st.FindRoots(ctx, local.RootsOptions{NoRuntimeRoots: true, NoTempRoots: true})
			if err != nil {
				t.Fatal(err)
			}
			var rs []storepath.Path
			for p := range roots {
				rs = append(rs, p)
			}
			cl, err := store.Closure(ctx, st, rs, store.ClosureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return cl
		}
		l := live()
		for _, p := range []storepath.Path{a, b, env1, env2} {
			if !slices.Contains(l, p) {
				t.Errorf("%s: %s is not reachable from a root while its generation exists", profile, p)
			}
		}
		if _, err := DeleteOldGenerations(profile, false); err != nil {
			t.Fatal(err)
		}
		l = live()
		for _, p := range []storepath.Path{a, env1} {
			if slices.Contains(l, p) {
				t.Errorf("%s: %s is still reachable after wipe-history", profile, p)
			}
		}
		for _, p := range []storepath.Path{b, env2} {
			if !slices.Contains(l, p) {
				t.Errorf("%s: %s of the current generation is not reachable", profile, p)
			}
		}
	}
}
