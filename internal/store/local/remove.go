package local

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// removeAt deletes the entry name of the directory dirfd and, if it is
// a directory, everything below it, as Nix's deletePath does: every
// step is relative to an open descriptor of the parent (fstatat,
// unlinkat), so no path is resolved twice and a concurrent rename above
// cannot redirect the deletion. Directories are made writable first.
// It adds the bytes freed (blocks of directories and of files with no
// other link) to freed. A missing entry is not an error.
func removeAt(dirfd int, name string, freed *uint64, buf []byte) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(dirfd, name, 0); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return &fs.PathError{Op: "remove", Path: name, Err: err}
		}
		if st.Nlink == 1 {
			*freed += uint64(st.Blocks) * 512
		}
		return nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) {
		// Not even readable by us: make it so, as Nix does.
		if err := unix.Fchmodat(dirfd, name, 0o700, 0); err != nil {
			return &fs.PathError{Op: "chmod", Path: name, Err: err}
		}
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	err = removeChildren(fd, name, &st, freed, buf)
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	*freed += uint64(st.Blocks) * 512
	return nil
}

// removeChildren empties the open directory fd (called name, with
// status st) with removeAt.
func removeChildren(fd int, name string, st *unix.Stat_t, freed *uint64, buf []byte) error {
	if st.Mode&0o700 != 0o700 {
		if err := unix.Fchmod(fd, st.Mode&0o7777|0o700); err != nil {
			return &fs.PathError{Op: "chmod", Path: name, Err: err}
		}
	}
	// Read all names first: deleting while reading may skip entries.
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, n := range names {
		if err := removeAt(fd, n, freed, buf); err != nil {
			return fmt.Errorf("%s/%w", name, err)
		}
	}
	return nil
}
