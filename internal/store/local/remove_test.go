package local

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRemoveAt(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"a/b/c", "a/d", "e"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range []string{"a/b/c/f", "a/x", "e/y", "z"} {
		if err := os.WriteFile(filepath.Join(tree, f), make([]byte, 5000*i), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/nonexistent", filepath.Join(tree, "a/d/link"))
	// A file with a second link outside the tree frees nothing.
	os.Link(filepath.Join(tree, "z"), filepath.Join(dir, "keep"))
	// Read-only (and unreadable) directories, as in the store.
	for _, d := range []string{"a/b/c", "a/b", "a/d", "a", "e", ""} {
		os.Chmod(filepath.Join(tree, d), 0o555)
	}
	os.Chmod(filepath.Join(tree, "e"), 0)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var freed uint64
	if err := removeAt(fd, "tree", &freed, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tree); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Fatal(err)
	}
	// Three non-empty files (blocks for 5000 and 10000 bytes) plus 7
	// directories; the shared file is not counted.
	if freed < 15000 {
		t.Errorf("freed %d bytes, want at least 15000", freed)
	}
	if err := removeAt(fd, "tree", &freed, make([]byte, 4096)); err != nil {
		t.Errorf("removing a missing entry: %v", err)
	}
}
