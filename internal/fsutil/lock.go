package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// LockType selects a shared (read) or exclusive (write) flock(2) lock.
type LockType int

const (
	Shared LockType = iota
	Exclusive
)

func (t LockType) String() string {
	if t == Exclusive {
		return "exclusive"
	}
	return "shared"
}

// ErrWouldBlock is returned by the Try functions when another open file
// description holds a conflicting lock.
var ErrWouldBlock = errors.New("lock is held by someone else")

// Flock locks f with flock(2). With wait false it returns ErrWouldBlock
// instead of waiting for a conflicting lock to go away. flock locks belong
// to the open file description, so two opens of the same file in one
// process conflict with each other just as two processes do; this is the
// semantics Nix relies on (it uses flock, not fcntl).
func Flock(f *os.File, t LockType, wait bool) error {
	how := unix.LOCK_SH
	if t == Exclusive {
		how = unix.LOCK_EX
	}
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case err == unix.EINTR:
			continue
		case err == unix.EWOULDBLOCK:
			return fmt.Errorf("lock %s: %w", f.Name(), ErrWouldBlock)
		default:
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
}

// Funlock releases the flock lock on f.
func Funlock(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}

// A LockedFile is an open file that holds a flock lock until Close, like
// cmd/go's lockedfile.File.
type LockedFile struct {
	*os.File
	typ LockType
}

// Type reports which kind of lock the file holds.
func (f *LockedFile) Type() LockType { return f.typ }

// Close unlocks and closes the file.
func (f *LockedFile) Close() error {
	// Closing the descriptor releases the lock; unlock explicitly first
	// so the lock is gone even if the descriptor was duplicated.
	uerr := Funlock(f.File)
	cerr := f.File.Close()
	if uerr != nil {
		return uerr
	}
	return cerr
}

// OpenLocked opens name with flag and perm (as os.OpenFile) and waits
// for a lock of type t on it.
func OpenLocked(name string, flag int, perm fs.FileMode, t LockType) (*LockedFile, error) {
	return openLocked(name, flag, perm, t, true)
}

// TryOpenLocked is like OpenLocked but fails with an error wrapping
// ErrWouldBlock instead of waiting.
func TryOpenLocked(name string, flag int, perm fs.FileMode, t LockType) (*LockedFile, error) {
	return openLocked(name, flag, perm, t, false)
}

func openLocked(name string, flag int, perm fs.FileMode, t LockType, wait bool) (*LockedFile, error) {
	f, err := os.OpenFile(name, flag|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, err
	}
	if err := Flock(f, t, wait); err != nil {
		f.Close()
		return nil, err
	}
	return &LockedFile{File: f, typ: t}, nil
}
