// Package nar reads and writes Nix Archives (NAR), the canonical
// serialisation of a file system tree that Nix hashes and ships.
//
// A NAR is a sequence of strings. Each string is its length as a
// little-endian uint64, then its bytes, then zero bytes up to a multiple of
// 8. The grammar (see Nix's doc/manual/source/protocols/nix-archive):
//
//	nar   = str("nix-archive-1") node
//	node  = str("(") str("type") body str(")")
//	body  = str("regular") [str("executable") str("")] str("contents") str(bytes)
//	      | str("symlink") str("target") str(target)
//	      | str("directory") { entry }
//	entry = str("entry") str("(") str("name") str(name) str("node") node str(")")
//
// Directory entries appear in strictly increasing bytewise order of name
// within each directory. Only the owner-executable bit of regular files is
// recorded; modes, owners, times and hard links are not.
//
// Reader and Writer are shaped like archive/tar. Headers name entries by
// slash-separated paths rooted at "/" (the root node itself is "/"), and
// come in NAR order: depth first, a directory before its entries.
//
// The Reader is as strict as current Nix (src/libutil/archive.cc), which
// is stricter than Nix 2.8: it rejects unsorted or duplicate names, fields
// out of order, non-zero padding, names that are empty, ".", "..", contain
// '/' or NUL or exceed 255 bytes, symlink targets that are empty, contain
// NUL or exceed 4095 bytes, nesting deeper than 64, and truncated input.
// It reads no byte beyond the end of the archive, so a NAR embedded in a
// longer stream can be read; check for trailing data yourself if needed.
package nar
