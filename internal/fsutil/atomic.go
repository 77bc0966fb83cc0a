package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// tempName returns a name in dir for a temporary sibling of base.
// The name starts with '.' so that directory scanners that skip dot
// files (and the store's name parser) ignore it.
func tempName(dir, base string) string {
	return filepath.Join(dir, ".tmp-"+base+"-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
}

// WriteFile writes data to name atomically: it writes a temporary file in
// the same directory, fsyncs it, renames it over name and fsyncs the
// directory. Readers see either the old or the new contents, never a mix,
// and a crash leaves at most a stray temporary file behind.
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	tmp := tempName(dir, base)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	// OpenFile's perm is subject to the umask; make the result exact.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	ok = true
	return SyncDir(dir)
}

// SyncDir fsyncs the directory dir so that renames and creations inside it
// are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// ReplaceSymlink makes link a symbolic link to target, atomically: a new
// link is created under a temporary name next to link and renamed over it,
// so link always exists and points either to its old or to its new target.
// link must not be an existing directory.
func ReplaceSymlink(target, link string) error {
	dir, base := filepath.Split(link)
	if dir == "" {
		dir = "."
	}
	tmp := tempName(dir, base)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("replace symlink %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace symlink %s: %w", link, err)
	}
	return nil
}
