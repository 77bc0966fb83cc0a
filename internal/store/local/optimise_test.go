package local

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"cairn/internal/compat/storepath"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestOptimise(t *testing.T) {
	s, root := openTest(t)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, filepath.Join(src, "one"), map[string]string{"same": "shared contents", "x.sh": "shared contents", "l": "->same", "only": "1"})
	writeTree(t, filepath.Join(src, "two"), map[string]string{"d/same": "shared contents", "l": "->same", "only": "2"})
	one, err := s.AddPath(ctx, filepath.Join(src, "one"), AddOptions{Name: "one", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.AddPath(ctx, filepath.Join(src, "two"), AddOptions{Name: "two", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := s.Optimise(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := s.RealPath(one.Path), s.RealPath(two.Path)
	if inode(t, filepath.Join(r1, "same")) != inode(t, filepath.Join(r2, "d/same")) {
		t.Error("identical files not linked")
	}
	if inode(t, filepath.Join(r1, "same")) == inode(t, filepath.Join(r1, "x.sh")) {
		t.Error("executable and plain file linked together")
	}
	if inode(t, filepath.Join(r1, "l")) != inode(t, filepath.Join(r2, "l")) {
		t.Error("identical symlinks not linked")
	}
	if stats.FilesLinked != 2 || stats.BytesFreed == 0 {
		t.Errorf("stats %+v", stats)
	}
	fi, _ := os.Lstat(filepath.Join(r2, "d"))
	if fi.Mode().Perm() != 0o555 || fi.ModTime().Unix() != 1 {
		t.Errorf("directory left %v %v", fi.Mode(), fi.ModTime())
	}
	// Idempotent, and the store still verifies.
	if stats, err := s.Optimise(ctx); err != nil || stats.FilesLinked != 0 {
		t.Errorf("second run: %+v %v", stats, err)
	}
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify: %+v %v", v, err)
	}
	// Collecting everything also empties .links.
	s2 := reopen(t, s, root)
	if _, err := s2.CollectGarbage(ctx, GCOptions{Roots: noProc}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s2.RealStoreDir(), ".links")); len(ents) != 0 {
		t.Errorf(".links not emptied: %d entries", len(ents))
	}
}
