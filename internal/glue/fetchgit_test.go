package glue

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeRepo creates a Git repository with two commits (fixed identity
// and dates, so the revisions below are stable), a tag v1 on the first
// and a bare clone; it returns the work tree and the bare repository.
func makeRepo(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git not found (CI=true)")
		}
		t.Skip("SKIPPING: git not installed; fetchGit needs it")
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "gr")
	run := func(date string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=a@b", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	must(t, os.MkdirAll(filepath.Join(repo, "d"), 0o755))
	run("", "init", "-q", "-b", "main", ".")
	must(t, os.WriteFile(filepath.Join(repo, "a"), []byte("one\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(repo, "d", "x"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Symlink("a", filepath.Join(repo, "l")))
	run("", "add", ".")
	run("2020-01-01T00:00:00Z", "commit", "-qm", "1")
	run("", "tag", "v1")
	must(t, os.WriteFile(filepath.Join(repo, "b"), []byte("two\n"), 0o644))
	run("", "add", "b")
	run("2021-01-01T00:00:00Z", "commit", "-qm", "2")
	bare := filepath.Join(dir, "gr.git")
	run("", "clone", "-q", "--bare", repo, bare)
	return repo, bare
}

// Results pinned against Nix 2.8's builtins.fetchGit on the same repository.
const (
	gitRev1  = "4021a9eed2bdd1a53ca02fa814f853ad8a575c29"
	gitHead  = `{ lastModified = 1609459200; lastModifiedDate = "20210101000000"; narHash = "sha256-Glovf3/JA5SmpdOs+Zj9Z9ZtNF3c8q8pQl+fUf3u598="; outPath = "/nix/store/z5nz30hpfw15m16h6hircly6jfi20qy1-source"; rev = "9633cac4cf570523f509345cd8b6b8bd8ad35ef1"; revCount = 2; shortRev = "9633cac"; submodules = false; }`
	gitOne   = `{ lastModified = 1577836800; lastModifiedDate = "20200101000000"; narHash = "sha256-Ef4auKjuQh2a8sC0+4LUi/9zO3V5d/mSgzkKAyVTnwc="; outPath = "/nix/store/747aqdscv2050bqaynsfyqzczn6w60x8-source"; rev = "4021a9eed2bdd1a53ca02fa814f853ad8a575c29"; revCount = 1; shortRev = "4021a9e"; submodules = false; }`
	gitFoo   = `{ lastModified = 1577836800; lastModifiedDate = "20200101000000"; narHash = "sha256-Ef4auKjuQh2a8sC0+4LUi/9zO3V5d/mSgzkKAyVTnwc="; outPath = "/nix/store/skny4zfza3afhyjqg9mmi23f26bq3nyk-foo"; rev = "4021a9eed2bdd1a53ca02fa814f853ad8a575c29"; revCount = 1; shortRev = "4021a9e"; submodules = false; }`
	gitDirty = `{ lastModified = 1609459200; lastModifiedDate = "20210101000000"; narHash = "sha256-96q5Bf0c2R2Z0YaoQuNl5T3idBdUw2pgxMrte4AdIgI="; outPath = "/nix/store/1v2mzz5vg3c7x12bvdzbgb10mqnbglz0-source"; rev = "0000000000000000000000000000000000000000"; revCount = 0; shortRev = "0000000"; submodules = false; }`
)

func gitCases(repo, bare string) []struct{ name, expr, want string } {
	return []struct{ name, expr, want string }{
		{"path", `builtins.fetchGit ` + repo, gitHead},
		{"rev", `builtins.fetchGit { url = "file://` + repo + `"; rev = "` + gitRev1 + `"; }`, gitOne},
		{"ref", `builtins.fetchGit { url = "` + repo + `"; ref = "main"; }`, gitHead},
		{"tag name", `builtins.fetchGit { url = "file://` + repo + `"; ref = "refs/tags/v1"; name = "foo"; }`, gitFoo},
		{"bare", `builtins.fetchGit { url = "file://` + bare + `"; ref = "main"; }`, gitHead},
		{"bare rev", `builtins.fetchGit { url = "file://` + bare + `"; ref = "main"; rev = "` + gitRev1 + `"; }`, gitOne},
		{"tree git", `builtins.fetchTree { type = "git"; url = "file://` + repo + `"; }`, gitHead},
		{"tree git+", `builtins.fetchTree "git+file://` + repo + `?ref=refs/tags/v1"`, gitOne},
	}
}

func TestFetchGit(t *testing.T) {
	repo, bare := makeRepo(t)
	g := New(context.Background(), Options{})
	for _, tt := range gitCases(repo, bare) {
		if got := evalFetch(t, g, tt.expr); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct{ expr, want string }{
		{`builtins.fetchGit { url = "` + repo + `"; rev = "xyz"; }`, "error: invalid Git revision 'xyz'"},
		{`builtins.fetchGit { url = "` + repo + `"; bogus = 1; }`, "error: unsupported Git input attribute 'bogus'"},
		{`builtins.fetchGit { url = "` + repo + `"; rev = "` + strings.Repeat("1", 40) + `"; }`,
			"error: cannot find Git revision '" + strings.Repeat("1", 40) + "' in ref 'HEAD' of repository 'file://" + repo + "'"},
	} {
		if got := evalFetch(t, g, tt.expr); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.expr, got, tt.want)
		}
	}
	// A dirty working tree: tracked files as they are, untracked ones left out.
	must(t, os.WriteFile(filepath.Join(repo, "a"), []byte("one\ndirty\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(repo, "u"), []byte("untracked\n"), 0o644))
	if got := evalFetch(t, g, `builtins.fetchGit `+repo); got != gitDirty {
		t.Errorf("dirty:\n got %s\nwant %s", got, gitDirty)
	}
	// Into a chroot store.
	root := t.TempDir()
	u, err := ParseStoreURL("local?root=" + root)
	must(t, err)
	gl := New(context.Background(), Options{Root: root, OpenStore: u.Opener()})
	defer gl.Close()
	if got := evalFetch(t, gl, `(builtins.fetchGit { url = "`+repo+`"; rev = "`+gitRev1+`"; }).outPath`); got != `"/nix/store/747aqdscv2050bqaynsfyqzczn6w60x8-source"` {
		t.Errorf("local store: %s", got)
	}
	if l, err := os.Readlink(filepath.Join(root, "/nix/store/747aqdscv2050bqaynsfyqzczn6w60x8-source/l")); err != nil || l != "a" {
		t.Errorf("local store: l -> %q, %v", l, err)
	}
}

// TestFetchGitNix compares with Nix 2.8 on a fresh repository.
func TestFetchGitNix(t *testing.T) {
	nix, err := exec.LookPath("nix-instantiate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-instantiate not found (CI=true)")
		}
		t.Skip("SKIPPING: nix-instantiate (Nix 2.8) not installed; install nix-bin to compare fetchGit with Nix")
	}
	repo, bare := makeRepo(t)
	store, home := t.TempDir(), t.TempDir()
	g := New(context.Background(), Options{})
	// fetchTree's "path" type: lastModified is the newest mtime in the tree.
	tree := makeTree(t)
	for i, p := range []string{"src", "src/a.txt", "src/sub", "src/sub/b"} {
		ts := time.Unix(int64(1600000000+i*1000), 0)
		must(t, os.Chtimes(filepath.Join(tree, p), ts, ts))
	}
	cases := append(gitCases(repo, bare), struct{ name, expr, want string }{
		"tree path", `builtins.fetchTree { type = "path"; path = "` + filepath.Join(tree, "src") + `"; }`, ""})
	for _, tt := range cases {
		cmd := exec.Command(nix, "--store", store, "--option", "substituters", "", "--extra-experimental-features", "flakes", "--eval", "--strict", "-E", tt.expr)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=", "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: nix-instantiate: %v\n%s", tt.expr, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		want := lines[len(lines)-1]
		if got := evalFetch(t, g, tt.expr); got != want {
			t.Errorf("%s:\n got %s\nwant %s (Nix)", tt.name, got, want)
		}
	}
}
