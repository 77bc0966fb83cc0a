// Package fsutil holds the small file-system primitives the store and the
// profile code build on: atomic writes (temp file plus rename), flock(2)
// based locked files in the style of cmd/go's lockedfile, atomic symlink
// replacement, and the Nix store's canonicalisation of path metadata
// (mode 0444/0555, mtime 1, no extended attributes, owned by the caller)
// together with deletion of such read-only trees.
//
// Everything here is Linux/Unix specific and takes explicit paths; there
// is no package state.
package fsutil
