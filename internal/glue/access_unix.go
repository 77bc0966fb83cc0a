//go:build unix

package glue

import "golang.org/x/sys/unix"

// access reports whether this process may create entries in directory p.
func access(p string) bool { return unix.Access(p, unix.W_OK|unix.X_OK) == nil }
