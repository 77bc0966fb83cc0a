package build

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"cairn/internal/fsutil"
)

// dirPool keeps the sandbox roots (<drv>.chroot) and build directories
// of finished builds, emptied, for the next builds to rename and reuse.
//
// On a file system where creating an inode is expensive (ext4 without a
// journal scans past every inode freed in the last seconds, so the cost
// grows with the rate of builds), the few directories a build needs were
// most of the time cairn itself spent on a trivial build. A reused
// directory is renamed (no new inode) and reset: its mode and owner are
// set again, and what the previous builder may have left is removed
// (prepareChroot removes every entry of the store directory that is not
// a mount point of this build; a /tmp or /nix that is not exactly as made
// is not pooled at all). The previous build's sandbox is gone by then
// (its PID namespace and mounts died with its PID 1), so nothing of it
// can reach the next one.
type dirPool struct {
	mu        sync.Mutex
	chroots   []string
	buildDirs []string
	seq       atomic.Uint64
}

// maxPooled bounds each list (one per concurrent build is enough).
const maxPooled = 8

func (p *dirPool) take(list *[]string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(*list)
	if n == 0 {
		return ""
	}
	d := (*list)[n-1]
	*list = (*list)[:n-1]
	return d
}

// put adds d to list, or removes d if the list is full.
func (p *dirPool) put(list *[]string, d string) {
	p.mu.Lock()
	if len(*list) < maxPooled {
		*list = append(*list, d)
		d = ""
	}
	p.mu.Unlock()
	if d != "" {
		fsutil.RemoveAll(d)
	}
}

// close removes the pooled directories.
func (p *dirPool) close() {
	p.mu.Lock()
	dirs := append(p.chroots, p.buildDirs...)
	p.chroots, p.buildDirs = nil, nil
	p.mu.Unlock()
	for _, d := range dirs {
		fsutil.RemoveAll(d)
	}
}

// buildDir returns an empty build directory named prefix<unique> in
// tmpDir with mode 0700, reusing a pooled one if it can.
func (p *dirPool) buildDir(tmpDir, prefix string) (string, error) {
	if d := p.take(&p.buildDirs); d != "" {
		if filepath.Dir(d) == filepath.Clean(tmpDir) {
			name := filepath.Join(tmpDir, prefix+"r"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(p.seq.Add(1), 10))
			if err := os.Rename(d, name); err == nil {
				if err := os.Chmod(name, 0o700); err == nil {
					return name, nil
				}
				d = name
			}
		}
		fsutil.RemoveAll(d)
	}
	return os.MkdirTemp(tmpDir, prefix)
}

// putBuildDir empties the build directory d and pools it.
func (p *dirPool) putBuildDir(d string) {
	ents, err := os.ReadDir(d)
	if err == nil {
		for _, e := range ents {
			if _, err = fsutil.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				break
			}
		}
	}
	if err != nil {
		fsutil.RemoveAll(d)
		return
	}
	p.put(&p.buildDirs, d)
}

// putChroot pools the sandbox root d of a successful build if it holds
// exactly what prepareChroot made (nix/store and an empty tmp; the store
// directory is cleaned when reused); otherwise it removes it.
func (p *dirPool) putChroot(d string, storeRel string) {
	if !onlyEntry(d, "nix", "tmp") || !onlyEntry(filepath.Join(d, "nix"), "store") || !isEmpty(filepath.Join(d, "tmp")) ||
		storeRel != "nix/store" {
		fsutil.RemoveAll(d)
		return
	}
	p.put(&p.chroots, d)
}

// onlyEntry reports whether directory d holds exactly the entries names.
func onlyEntry(d string, names ...string) bool {
	ents, err := os.ReadDir(d)
	if err != nil || len(ents) != len(names) {
		return false
	}
	for i, e := range ents {
		if e.Name() != names[i] || !e.IsDir() {
			return false
		}
	}
	return true
}

func isEmpty(d string) bool {
	ents, err := os.ReadDir(d)
	return err == nil && len(ents) == 0
}
