// Package profile implements Nix profiles: numbered generations, the
// user environments they point to, and the closure diffs between them.
//
// # Layout
//
// A profile is a symlink <dir>/<name> whose target is a sibling
// generation link <name>-<N>-link (written relative, as Nix does), which
// in turn points at a store path, the generation's environment:
//
//	/nix/var/nix/profiles/default         -> default-42-link
//	/nix/var/nix/profiles/default-42-link -> /nix/store/…-profile
//
// A generation's date is the modification time of its link (lstat); the
// current generation is the one the profile link names. Profiles are GC
// roots twice over, exactly as with Nix 2.8: the store's collector walks
// <state>/profiles (gcroots/profiles links there), and every generation
// link also gets an indirect root gcroots/auto/<nix32(sha1(link))>
// (Nix's addPermRoot), which covers profiles outside the state directory.
//
// # Atomicity and locking
//
// A new generation is made by writing the generation link under a
// temporary name and renaming it into place, then replacing the profile
// link the same way. A process killed at any point leaves the profile
// naming either the old or the new generation, both complete; at worst a
// stray temporary link (a dot file, which no generation parser matches)
// remains. Writers take an exclusive flock on <profile>.lock, deleted
// on release with Nix's stale-lock protocol (the unlinked file gets one
// byte written to it so a waiter that locked the old inode retries), so
// cairn and nix-env exclude each other.
//
// # Environments
//
// BuildEnv creates the symlink forest of Nix's builtin:buildenv
// (priorities, collisions, propagated-user-env-packages). NewProfileEnv
// turns a Manifest (manifest.json, version 2, as `nix profile` 2.8 writes
// it) into the same content-addressed store path "…-profile" that Nix
// 2.8 computes for the same elements.
package profile
