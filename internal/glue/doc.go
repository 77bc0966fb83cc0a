// Package glue is where evaluation meets the store: IO implements eval.IO
// over the operating system's file system and a Nix store.
//
// Store modes (see OpenStore):
//
//   - compute-only (dummy://, or --eval without --read-write-mode, or a
//     default store that cannot be written): store paths of copied sources,
//     toFile texts and derivations are computed exactly as a real store
//     would name them, and nothing is written. This is what Nix's language
//     suite uses (NIX_REMOTE=dummy://) and what Nix's read-only mode does.
//   - local: a store/local store at /nix (or under a chroot root with
//     --store /root or local?root=/root); sources, texts and .drv files are
//     written and registered.
//
// Paths handed to IO are used as given: nothing is canonicalised before
// stat, so pathExists (p + "/.") is false for a regular file, as in Nix.
// Store paths are mapped to their real location under a chroot root for
// reading.
package glue
