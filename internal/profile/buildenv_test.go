package profile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
)

// tree renders the environment under dir as sorted "path -> target"
// and "path/" lines.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case p == dir:
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, rel+" -> "+target)
		case d.IsDir():
			lines = append(lines, rel+"/")
		default:
			lines = append(lines, rel)
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestBuildEnv(t *testing.T) {
	st, _ := testStore(t)
	d := st.Dir()
	a := addPkg(t, st, "a-1.0", map[string]string{"bin/a": "a", "bin/same": "from a", "share/man/a.1": "m", ".hidden": "h", "nix-support/setup-hook": "", "lib/x": "x"})
	b := addPkg(t, st, "b-2.0", map[string]string{"bin/b": "b", "bin/same": "from b", "share/doc/b": "d", "manifest.nix": "no", "log": "no"})
	c := addPkg(t, st, "c-1", map[string]string{"lib/y": "y", "dangling": "->/nonexistent"})
	out := t.TempDir()
	res, err := BuildEnv(out, []Package{
		{Path: d.Print(b), Active: true, Priority: 4},
		{Path: d.Print(a), Active: true, Priority: 5},
		{Path: d.Print(c), Active: true, Priority: 5},
		{Path: "/nonexistent-inactive", Active: false, Priority: 5},
	}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	A, B, C := d.Print(a), d.Print(b), d.Print(c)
	want := strings.Join([]string{
		"bin/",
		"bin/a -> " + A + "/bin/a",
		"bin/b -> " + B + "/bin/b",
		"bin/same -> " + B + "/bin/same", // priority 4 beats 5
		"lib/",
		"lib/x -> " + A + "/lib/x",
		"lib/y -> " + C + "/lib/y",
		"share/",
		"share/doc -> " + B + "/share/doc",
		"share/man -> " + A + "/share/man",
	}, "\n")
	if got := tree(t, out); got != want {
		t.Errorf("env:\n%s\nwant:\n%s", got, want)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "skipping dangling symlink '"+out+"/dangling'") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestBuildEnvCollision(t *testing.T) {
	st, _ := testStore(t)
	d := st.Dir()
	a := addPkg(t, st, "a-1.0", map[string]string{"bin/tool": "a"})
	b := addPkg(t, st, "b-2.0", map[string]string{"bin/tool": "b"})
	pkgs := []Package{{Path: d.Print(b), Active: true, Priority: 5}, {Path: d.Print(a), Active: true, Priority: 5}}
	_, err := BuildEnv(t.TempDir(), pkgs, EnvOptions{})
	var ce *CollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a collision", err)
	}
	// Packages are taken in path order, so the later one is reported.
	first, second := d.Print(a), d.Print(b)
	if a.Base() > b.Base() {
		first, second = second, first
	}
	want := "packages '" + second + "/bin/tool' and '" + first + "/bin/tool' have the same priority 5; use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' to change the priority of one of the conflicting packages (0 being the highest priority)"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	out := t.TempDir()
	res, err := BuildEnv(out, pkgs, EnvOptions{IgnoreCollisions: true})
	if err != nil || len(res.Collisions) != 1 {
		t.Fatalf("ignore collisions: %v, %v", res, err)
	}
	if got := tree(t, out); got != "bin/\nbin/tool -> "+first+"/bin/tool" {
		t.Errorf("ignore collisions kept:\n%s", got)
	}
}

func TestBuildEnvDirectoryMerge(t *testing.T) {
	st, _ := testStore(t)
	d := st.Dir()
	// b's share is a symlink to a directory inside b; merging it with
	// a's share follows it.
	a := addPkg(t, st, "a", map[string]string{"share/a": "a"})
	b := addPkg(t, st, "b", map[string]string{"real/b": "b", "share": "->real"})
	f := addPkg(t, st, "f", map[string]string{"share": "file"})
	out := t.TempDir()
	_, err := BuildEnv(out, []Package{{Path: d.Print(b), Active: true, Priority: 1}, {Path: d.Print(a), Active: true, Priority: 2}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "real -> " + d.Print(b) + "/real\nshare/\nshare/a -> " + d.Print(a) + "/share/a\nshare/b -> " + d.Print(b) + "/real/b"
	if got := tree(t, out); got != want {
		t.Errorf("merge:\n%s\nwant:\n%s", got, want)
	}
	// Against a symlinked directory a file of lower priority is just
	// skipped; against a merged (real) directory it is an error.
	if _, err = BuildEnv(t.TempDir(), []Package{{Path: d.Print(a), Active: true, Priority: 1}, {Path: d.Print(f), Active: true, Priority: 2}}, EnvOptions{}); err != nil {
		t.Errorf("file under a linked directory: %v", err)
	}
	_, err = BuildEnv(t.TempDir(), []Package{{Path: d.Print(a), Active: true, Priority: 1}, {Path: d.Print(b), Active: true, Priority: 1}, {Path: d.Print(f), Active: true, Priority: 2}}, EnvOptions{})
	if err == nil || !strings.Contains(err.Error(), "collision between non-directory '"+d.Print(f)+"/share' and directory") {
		t.Errorf("file over directory: %v", err)
	}
}

func TestBuildEnvPropagated(t *testing.T) {
	st, _ := testStore(t)
	d := st.Dir()
	dep := addPkg(t, st, "dep", map[string]string{"bin/tool": "dep", "bin/dep": "dep"})
	top := addPkg(t, st, "top", map[string]string{"bin/tool": "top", "nix-support/propagated-user-env-packages": d.Print(dep) + "\n"})
	out := t.TempDir()
	if _, err := BuildEnv(out, []Package{{Path: d.Print(top), Active: true, Priority: 5}}, EnvOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "bin/\nbin/dep -> " + d.Print(dep) + "/bin/dep\nbin/tool -> " + d.Print(top) + "/bin/tool"
	if got := tree(t, out); got != want {
		t.Errorf("propagated:\n%s\nwant:\n%s", got, want)
	}
}

// The environment of a manifest is reproducible and its path depends
// only on the manifest.
func TestProfileEnvDeterministic(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	a := addPkg(t, st, "hello-1.0", map[string]string{"bin/hello": "hi"})
	b := addPkg(t, st, "world-2.0", map[string]string{"bin/world": "w"})
	m := &Manifest{Elements: []Element{{StorePaths: []storepath.Path{a}, Active: true}, {StorePaths: []storepath.Path{b}, Active: false}}}
	p1, _, err := NewProfileEnv(ctx, st, m)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := NewProfileEnv(ctx, st, m)
	if err != nil || p1 != p2 {
		t.Fatalf("two builds: %s %s %v", p1, p2, err)
	}
	info, err := st.QueryPathInfo(ctx, p1)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Name() != "profile" || len(info.References) != 2 || !info.HasCA() {
		t.Errorf("info = %+v", info)
	}
	env := filepath.Join(st.RealStoreDir(), p1.Base())
	if got := tree(t, env); got != "bin -> "+st.Dir().Print(a)+"/bin\nmanifest.json" {
		t.Errorf("env:\n%s", got)
	}
	back, err := ReadManifest(st, env)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.JSON(st.Dir())) != string(m.JSON(st.Dir())) {
		t.Errorf("manifest round trip:\n%s\n%s", back.JSON(st.Dir()), m.JSON(st.Dir()))
	}
}
