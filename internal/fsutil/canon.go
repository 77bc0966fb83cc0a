package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// StoreMtime is the modification time (seconds since the epoch) of every
// file in a Nix store.
const StoreMtime = 1

// DefaultIgnoredXattrs returns the extended attributes canonicalisation
// leaves in place by default (Nix's ignored-acls default).
func DefaultIgnoredXattrs() []string { return []string{"security.selinux", "system.nfs4_acl"} }

// CanonOptions controls Canonicalise.
type CanonOptions struct {
	// FromUID, if >= 0, is the uid of the build user that produced the
	// tree: any inode owned by someone else (and not already seen in this
	// tree, i.e. a hard link inside the output) is an error, which is how
	// hard links to foreign files are caught. Use -1 for added paths.
	FromUID int
	// IgnoredXattrs are kept; every other extended attribute is removed.
	// Nil means DefaultIgnoredXattrs.
	IgnoredXattrs []string
}

// ErrUnsupportedType reports a file that is not a regular file, directory
// or symlink inside a tree to be canonicalised.
var ErrUnsupportedType = errors.New("unsupported file type")

type inode struct{ dev, ino uint64 }

// Canonicalise gives the tree rooted at path the metadata of a Nix store
// path: every non-symlink gets mode 0444, or 0555 if the owner-execute bit
// was set (directories are 0555; setuid, setgid, sticky and write bits
// go), every inode including symlinks gets mtime 1 with atime kept,
// extended attributes are removed, and ownership becomes the effective
// uid/gid of the caller. Fifos, sockets and devices are an error.
func Canonicalise(path string, opts CanonOptions) error {
	ignored := opts.IgnoredXattrs
	if ignored == nil {
		ignored = DefaultIgnoredXattrs()
	}
	c := canon{opts: opts, ignored: ignored, seen: map[inode]bool{}, euid: os.Geteuid(), egid: os.Getegid()}
	if err := c.walk(path); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "canonicalise", Path: path, Err: err}
	}
	if int(st.Uid) != c.euid {
		return fmt.Errorf("canonicalise %s: wrong ownership of top-level path", path)
	}
	return nil
}

type canon struct {
	opts       CanonOptions
	ignored    []string
	seen       map[inode]bool
	euid, egid int
}

func (c *canon) walk(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "canonicalise", Path: path, Err: err}
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFREG && typ != unix.S_IFDIR && typ != unix.S_IFLNK {
		return fmt.Errorf("canonicalise %s: %w", path, ErrUnsupportedType)
	}
	if err := c.removeXattrs(path); err != nil {
		return err
	}
	ino := inode{uint64(st.Dev), st.Ino}
	if c.opts.FromUID >= 0 && int(st.Uid) != c.opts.FromUID {
		if typ == unix.S_IFDIR || !c.seen[ino] {
			return fmt.Errorf("canonicalise %s: invalid ownership on file (owned by uid %d, not the build user %d)", path, st.Uid, c.opts.FromUID)
		}
		return nil
	}
	c.seen[ino] = true
	if err := canonModeTime(path, &st); err != nil {
		return err
	}
	if int(st.Uid) != c.euid {
		if err := unix.Lchown(path, c.euid, c.egid); err != nil {
			return &fs.PathError{Op: "chown", Path: path, Err: err}
		}
	}
	if typ == unix.S_IFDIR {
		names, err := readNames(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := c.walk(filepath.Join(path, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *canon) removeXattrs(path string) error {
	sz, err := unix.Llistxattr(path, nil)
	if err != nil {
		if err == unix.ENOTSUP || err == unix.ENODATA {
			return nil
		}
		return &fs.PathError{Op: "listxattr", Path: path, Err: err}
	}
	if sz == 0 {
		return nil
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(path, buf)
	if err != nil {
		return &fs.PathError{Op: "listxattr", Path: path, Err: err}
	}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if name == "" || contains(c.ignored, name) {
			continue
		}
		if err := unix.Lremovexattr(path, name); err != nil {
			return &fs.PathError{Op: "removexattr " + name, Path: path, Err: err}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// canonModeTime sets mode 0444/0555 (non-symlinks) and mtime 1.
func canonModeTime(path string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		mode := st.Mode &^ unix.S_IFMT
		if mode != 0o444 && mode != 0o555 {
			mode = 0o444
			if st.Mode&unix.S_IXUSR != 0 {
				mode = 0o555
			}
			if err := unix.Chmod(path, mode); err != nil {
				return &fs.PathError{Op: "chmod", Path: path, Err: err}
			}
		}
	}
	if st.Mtim.Sec != StoreMtime || st.Mtim.Nsec != 0 {
		ts := []unix.Timespec{st.Atim, {Sec: StoreMtime}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "utimes", Path: path, Err: err}
		}
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// MakeWritable adds the owner write bit to path if it is a directory
// (needed to delete or rename entries of a read-only store directory).
func MakeWritable(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "make writable", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mode&0o700 != 0o700 {
		if err := unix.Chmod(path, (st.Mode&0o7777)|0o700); err != nil {
			return &fs.PathError{Op: "chmod", Path: path, Err: err}
		}
	}
	return nil
}

// RemoveAll deletes path and everything under it, first making read-only
// directories writable (as Nix's deletePath does). It returns the number
// of bytes freed, counted as st_blocks*512 of inodes whose last link was
// removed (like Nix's bytesFreed). A missing path is not an error.
func RemoveAll(path string) (freed uint64, err error) {
	err = removeAll(path, &freed)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return freed, err
}

func removeAll(path string, freed *uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := MakeWritable(path); err != nil {
			return err
		}
		names, err := readNames(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := removeAll(filepath.Join(path, n), freed); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if err := unix.Rmdir(path); err != nil {
			return &fs.PathError{Op: "remove", Path: path, Err: err}
		}
		*freed += uint64(st.Blocks) * 512
		return nil
	}
	if err := unix.Unlink(path); err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	if st.Nlink == 1 {
		*freed += uint64(st.Blocks) * 512
	}
	return nil
}

// CanonicaliseTimestampAndPermissions gives the single inode at path
// (not what is below it) mode 0444/0555 and mtime 1, as Canonicalise
// does; it is used to make a directory read-only again after editing it.
func CanonicaliseTimestampAndPermissions(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return &fs.PathError{Op: "canonicalise", Path: path, Err: err}
	}
	return canonModeTime(path, &st)
}

// CanonicaliseCreated is Canonicalise for a regular file the caller has
// just created and still has open as fd (so it owns it): the same result
// (mode 0444, or 0555 with exec; mtime 1 with atime kept; no extended
// attributes but the ignored), through the descriptor, with no walk and
// no lookup of its name. ignored nil means DefaultIgnoredXattrs.
func CanonicaliseCreated(fd int, name string, exec bool, ignored []string) error {
	if ignored == nil {
		ignored = DefaultIgnoredXattrs()
	}
	mode := uint32(0o444)
	if exec {
		mode = 0o555
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	// utimensat with no name: futimens.
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Sec: StoreMtime}}
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0); e != 0 {
		return &fs.PathError{Op: "utimes", Path: name, Err: e}
	}
	buf := make([]byte, 256)
	for {
		sz, err := unix.Flistxattr(fd, buf)
		switch {
		case err == unix.ERANGE:
			buf = make([]byte, 2*len(buf))
			continue
		case err == unix.ENOTSUP || err == unix.ENODATA:
			return nil
		case err != nil:
			return &fs.PathError{Op: "listxattr", Path: name, Err: err}
		}
		for _, x := range strings.Split(string(buf[:sz]), "\x00") {
			if x == "" || contains(ignored, x) {
				continue
			}
			if err := unix.Fremovexattr(fd, x); err != nil {
				return &fs.PathError{Op: "removexattr " + x, Path: name, Err: err}
			}
		}
		return nil
	}
}
