package glue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/derivation"
	"cairn/internal/eval"
)

// makeTree creates dir/src as the fixtures below expect: the store paths
// were computed by Nix 2.8 (nix-instantiate --eval) on the same tree.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "sub", "b"), []byte("x\n"), 0o755))
	must(t, os.Symlink("a.txt", filepath.Join(src, "link")))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// evalString evaluates src with g as IO and returns the printed value or
// the error text.
func evalString(t *testing.T, g *IO, dir, src string) string {
	t.Helper()
	return evalStringOpts(t, g, dir, src, false)
}

// Pinned against Nix 2.8 (NIX_REMOTE=dummy:// nix-instantiate --eval, and
// a chroot store with --read-write-mode for the derivation with inputs).
var storeCases = []struct{ name, expr, want string }{
	{"copy", `"${./src}"`, `"/nix/store/7cgw3mxjgyzzjk3wf93dhfriz1ncp7p0-src"`},
	{"toFile", `builtins.toFile "foo" "bar"`, `"/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"`},
	{"toFileRef", `builtins.toFile "foo" "${./src}"`, `"/nix/store/mm6lvprk2nqa0v0fp35swyc3sxj81573-foo"`},
	{"filter", `builtins.path { path = ./src; filter = p: t: t != "symlink"; name = "flt"; }`, `"/nix/store/ih98508b440nm4lgqsp6gpa50z75aygn-flt"`},
	{"flat", `builtins.path { path = ./src/a.txt; recursive = false; }`, `"/nix/store/fdwm55r4skpypx1gwzb7x69ckav1rv09-a.txt"`},
	{"drv", `(derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; }).drvPath`, `"/nix/store/7g5giqf764p3y3zv7a8rqsy9sqqq5kw4-a.drv"`},
	{"drvInputs", `let a = derivation { name = "a"; system = "x"; builder = "/bin/sh"; src = ./src; }; in (derivation { name = "b"; system = "x"; builder = "/bin/sh"; x = a.drvPath; y = "${a.out}"; }).drvPath`, `"/nix/store/jn94la863xiafzmjd0b6ii30gj0yqaqw-b.drv"`},
}

func TestComputeOnly(t *testing.T) {
	dir := makeTree(t)
	for _, tt := range storeCases {
		t.Run(tt.name, func(t *testing.T) {
			g := New(context.Background(), Options{})
			if got := evalString(t, g, dir, tt.expr); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLocalStore writes into a chroot store and checks that the same paths
// come out and really exist, and that the .drv is what Nix writes.
func TestLocalStore(t *testing.T) {
	dir := makeTree(t)
	root := t.TempDir()
	u, err := ParseStoreURL("local?root=" + root)
	must(t, err)
	g := New(context.Background(), Options{Root: root, OpenStore: u.Opener()})
	defer g.Close()
	for _, tt := range storeCases {
		if got := evalString(t, g, dir, tt.expr); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
			continue
		}
		p := strings.Trim(tt.want, `"`)
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "/nix/store/jn94la863xiafzmjd0b6ii30gj0yqaqw-b.drv"))
	must(t, err)
	const want = `Derive([("out","/nix/store/43nsb2jr6afzwp82wjkrgp769slmqrlx-b","","")],[("/nix/store/24wfygrhdvysvi868pd7vwzs30mws2z5-a.drv",["out"])],["/nix/store/24wfygrhdvysvi868pd7vwzs30mws2z5-a.drv","/nix/store/7cgw3mxjgyzzjk3wf93dhfriz1ncp7p0-src"],"x","/bin/sh",[],[("builder","/bin/sh"),("name","b"),("out","/nix/store/43nsb2jr6afzwp82wjkrgp769slmqrlx-b"),("system","x"),("x","/nix/store/24wfygrhdvysvi868pd7vwzs30mws2z5-a.drv"),("y","/nix/store/7wsij2i0kqxgkq38da21ccv21x9lklkc-a")])`
	if string(b) != want {
		t.Errorf("b.drv:\n got %s\nwant %s", b, want)
	}
	if _, err := derivation.Parse(b); err != nil {
		t.Error(err)
	}
	// A second session reads the .drv back from the store (not from memory).
	g2 := New(context.Background(), Options{Root: root, OpenStore: u.Opener()})
	defer g2.Close()
	d, err := g2.readDerivation("/nix/store/24wfygrhdvysvi868pd7vwzs30mws2z5-a.drv")
	must(t, err)
	if d.Outputs["out"].Path != "/nix/store/7wsij2i0kqxgkq38da21ccv21x9lklkc-a" {
		t.Errorf("a.drv out = %q", d.Outputs["out"].Path)
	}
}

func TestFileSystem(t *testing.T) {
	dir := makeTree(t)
	g := New(context.Background(), Options{})
	src := filepath.Join(dir, "src")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"exists file", g.PathExists(src + "/a.txt"), true},
		{"file/. is not a dir", g.PathExists(src + "/a.txt/."), false},
		{"file/ is not a dir", g.PathExists(src + "/a.txt/"), false},
		{"dir/.", g.PathExists(src + "/."), true},
		{"symlink followed", g.PathExists(src + "/link"), true},
		{"missing", g.PathExists(src + "/nope"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if ft, err := g.Lstat(src + "/link"); err != nil || ft != eval.FileSymlink {
		t.Errorf("Lstat link = %v, %v", ft, err)
	}
	if _, err := g.Lstat(src + "/nope"); err == nil || err.Error() != "getting status of '"+src+"/nope': No such file or directory" {
		t.Errorf("Lstat missing: %v", err)
	}
	if _, err := g.ReadDir(src + "/a.txt"); err == nil || err.Error() != "'"+src+"/a.txt' is not a directory" {
		t.Errorf("ReadDir file: %v", err)
	}
	ents, err := g.ReadDir(src)
	must(t, err)
	types := map[string]eval.FileType{}
	for _, e := range ents {
		types[e.Name] = e.Type
	}
	if types["a.txt"] != eval.FileRegular || types["sub"] != eval.FileDirectory || types["link"] != eval.FileSymlink {
		t.Errorf("ReadDir types: %v", types)
	}
	// ResolveExprPath: a directory means its default.nix; a symlink is followed.
	must(t, os.WriteFile(filepath.Join(dir, "default.nix"), []byte("1"), 0o644))
	must(t, os.Symlink("src/a.txt", filepath.Join(dir, "l.nix")))
	for in, want := range map[string]string{dir: dir + "/default.nix", dir + "/l.nix": src + "/a.txt"} {
		if got, err := g.ResolveExprPath(in); err != nil || got != want {
			t.Errorf("ResolveExprPath(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestParseStoreURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "local root= default"},
		{"auto", "local root= default"},
		{"local", "local root="},
		{"dummy://", "dummy root="},
		{"/tmp/x", "local root=/tmp/x"},
		{"local?root=/r", "local root=/r"},
		{"daemon", "error"},
		{"https://cache.nixos.org", "error"},
	}
	for _, tt := range tests {
		u, err := ParseStoreURL(tt.in)
		got := "error"
		if err == nil {
			got = map[StoreKind]string{StoreLocal: "local", StoreDummy: "dummy"}[u.Kind] + " root=" + u.Root
			if u.Default {
				got += " default"
			}
		}
		if got != tt.want {
			t.Errorf("ParseStoreURL(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
