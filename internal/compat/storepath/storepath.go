// Package storepath implements Nix store path names and the computation
// of store paths from content and derivation hashes.
//
// A store path is <storeDir>/<hash>-<name>. The hash part is 32 nix32
// characters encoding a 20-byte digest. The name is 1 to 211 bytes from
// [A-Za-z0-9+\-._?=].
//
// Paths are computed from a fingerprint:
//
//	path = storeDir "/" nix32(fold20(sha256(fp))) "-" name
//	fp   = type ":sha256:" hex(inner) ":" storeDir ":" name
//
// where fold20 XORs the 32-byte digest into 20 bytes (nixhash.Compress).
// The type is "source" or "text", each followed by ":<reference>" for
// every reference (full paths, sorted), or "output:<id>" for derivation
// outputs. The store directory is part of the hash, so every computation
// is a method of Dir. See Nix's src/libstore/store-api.cc (makeStorePath
// and friends) and doc/manual/source/protocols/store-path.md.
package storepath

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
)

const (
	// HashLen is the length of the hash part of a store path.
	HashLen = 32
	// DigestSize is the number of bytes the hash part encodes.
	DigestSize = 20
	// MaxNameLen is the longest name Nix accepts.
	MaxNameLen = 211
	// DrvExtension marks the names of derivation files.
	DrvExtension = ".drv"
)

// ErrBadStorePath is matched (with errors.Is) by every error about an
// invalid store path or name.
var ErrBadStorePath = errors.New("bad store path")

type badPathError struct{ msg string }

func (e *badPathError) Error() string        { return e.msg }
func (e *badPathError) Is(target error) bool { return target == ErrBadStorePath }

func errorf(format string, args ...any) error {
	return &badPathError{fmt.Sprintf(format, args...)}
}

// Path is a store path without its store directory: a hash part and a
// name. The zero Path is invalid. Paths are comparable and order like
// their base names, which is the order Nix sorts references in.
type Path struct {
	base string
}

// ParseBase parses a base name "<hash>-<name>". It applies current Nix's
// checks on the hash part (32 nix32 characters, then '-') and Nix 2.8's
// rules on the name (see CheckName).
func ParseBase(base string) (Path, error) {
	if len(base) < HashLen+1 {
		return Path{}, errorf("'%s' is too short to be a valid store path", base)
	}
	for i := 0; i < HashLen; i++ {
		if !nixbase32.IsDigit(base[i]) {
			return Path{}, errorf("store path '%s' contains illegal base-32 character '%s'", base, base[i:i+1])
		}
	}
	if base[HashLen] != '-' {
		return Path{}, errorf("'%s' can't name a store path because the hash part is not followed by a '-'", base)
	}
	if err := checkName(base, base[HashLen+1:]); err != nil {
		return Path{}, err
	}
	return Path{base}, nil
}

// FromDigest returns the path with the given 20-byte digest and name.
func FromDigest(digest []byte, name string) (Path, error) {
	if len(digest) != DigestSize {
		return Path{}, errorf("store path digest has %d bytes, want %d", len(digest), DigestSize)
	}
	base := nixbase32.EncodeToString(digest) + "-" + name
	if err := checkName(base, name); err != nil {
		return Path{}, err
	}
	return Path{base}, nil
}

// Base returns "<hash>-<name>".
func (p Path) Base() string { return p.base }

// String returns the base name, like Nix's StorePath::to_string.
func (p Path) String() string { return p.base }

// HashPart returns the 32-character hash part.
func (p Path) HashPart() string { return p.base[:HashLen] }

// Name returns the name part.
func (p Path) Name() string { return p.base[HashLen+1:] }

// Digest returns the 20 bytes the hash part encodes.
func (p Path) Digest() []byte {
	// 32 nix32 digits hold exactly 160 bits, so this cannot fail.
	d, _ := nixbase32.DecodeString(p.HashPart())
	return d
}

// IsZero reports whether p is the zero Path.
func (p Path) IsZero() bool { return p.base == "" }

// IsDerivation reports whether the name ends in ".drv".
func (p Path) IsDerivation() bool { return strings.HasSuffix(p.base, DrvExtension) }

// Compare orders paths by base name (bytewise), as Nix does.
func Compare(a, b Path) int { return strings.Compare(a.base, b.base) }

// CheckName checks a store path name with Nix 2.8's rules: 1 to 211
// bytes from [A-Za-z0-9+\-._?=]. The messages are 2.8's, which name the
// base name; here the name stands in for it.
func CheckName(name string) error {
	return checkName(name, name)
}

// CheckNameStrict is CheckName plus the rules current Nix added: the name
// must not be "." or "..", nor begin with ".-" or "..-". Use it when
// creating new paths.
func CheckNameStrict(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	switch {
	case name == "." || name == "..":
		return errorf("name '%s' is not valid", name)
	case strings.HasPrefix(name, ".-"):
		return errorf("name '%s' is not valid: first dash-separated component must not be '.'", name)
	case strings.HasPrefix(name, "..-"):
		return errorf("name '%s' is not valid: first dash-separated component must not be '..'", name)
	}
	return nil
}

func checkName(what, name string) error {
	if name == "" {
		return errorf("store path '%s' has an empty name", what)
	}
	if len(name) > MaxNameLen {
		return errorf("store path '%s' has a name longer than %d characters", what, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !validNameChar(c) {
			return errorf("store path '%s' contains illegal character '%s'", what, []byte{c})
		}
	}
	return nil
}

func validNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '+' || c == '-' || c == '.' || c == '_' || c == '?' || c == '='
}

// OutputPathName returns the name of output id of a derivation named
// drvName: drvName itself for "out", else drvName-id.
func OutputPathName(drvName, id string) string {
	if id == "out" {
		return drvName
	}
	return drvName + "-" + id
}

// Dir is a store directory such as "/nix/store", without a trailing
// slash. It takes part in every path computation.
type Dir string

// DefaultDir is Nix's default store directory.
const DefaultDir Dir = "/nix/store"

// Parse parses an absolute path directly inside d. The path is cleaned
// first, like Nix's canonPath.
func (d Dir) Parse(abs string) (Path, error) {
	p := path.Clean(abs)
	if !strings.HasPrefix(abs, "/") || path.Dir(p) != string(d) {
		return Path{}, errorf("path '%s' is not in the Nix store", p)
	}
	return ParseBase(path.Base(p))
}

// ParseSub parses an absolute path inside d that may name something below
// a store path ("/nix/store/<hash>-<name>/bin/sh"), returning the store
// path and the rest ("/bin/sh", or "" for the store path itself).
func (d Dir) ParseSub(abs string) (Path, string, error) {
	p := path.Clean(abs)
	prefix := string(d) + "/"
	if !strings.HasPrefix(abs, "/") || !strings.HasPrefix(p, prefix) {
		return Path{}, "", errorf("path '%s' is not in the Nix store", p)
	}
	base, rest, _ := strings.Cut(p[len(prefix):], "/")
	sp, err := ParseBase(base)
	if err != nil {
		return Path{}, "", err
	}
	if rest != "" {
		rest = "/" + rest
	}
	return sp, rest, nil
}

// Print returns the absolute path of p in d.
func (d Dir) Print(p Path) string { return string(d) + "/" + p.base }

// MakeStorePath returns the path for fingerprint
// typ ":" inner.Encode(Base16, true) ":" d ":" name; it is Nix's
// Store::makeStorePath. The inner hash is sha256 in every use Nix makes.
func (d Dir) MakeStorePath(typ string, inner nixhash.Hash, name string) (Path, error) {
	fp := typ + ":" + inner.Encode(nixhash.Base16, true) + ":" + string(d) + ":" + name
	digest := nixhash.Compress(nixhash.Sum(nixhash.SHA256, []byte(fp)).Digest, DigestSize)
	return FromDigest(digest, name)
}

// makeType appends ":<abs path>" for each reference (sorted) and ":self".
func (d Dir) makeType(typ string, refs []Path, self bool) string {
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, Compare)
	sorted = slices.Compact(sorted)
	var b strings.Builder
	b.WriteString(typ)
	for _, r := range sorted {
		b.WriteString(":")
		b.WriteString(d.Print(r))
	}
	if self {
		b.WriteString(":self")
	}
	return b.String()
}

// MakeTextPath returns the path of a text file (builtins.toFile, .drv
// files) whose contents hash to h (sha256) and that refers to refs.
func (d Dir) MakeTextPath(name string, h nixhash.Hash, refs []Path) (Path, error) {
	if h.Algo != nixhash.SHA256 {
		return Path{}, fmt.Errorf("make text path %s: hash must be sha256, not %v", name, h.Algo)
	}
	return d.MakeStorePath(d.makeType("text", refs, false), h, name)
}

// ComputeTextPath is MakeTextPath for the given contents.
func (d Dir) ComputeTextPath(name string, contents []byte, refs []Path) (Path, error) {
	return d.MakeTextPath(name, nixhash.Sum(nixhash.SHA256, contents), refs)
}

// Method says how a fixed-output path's contents were hashed: the file's
// bytes (Flat) or its NAR serialisation (Recursive).
type Method uint8

const (
	Flat Method = iota
	Recursive
)

// Prefix returns "" for Flat and "r:" for Recursive, as in "fixed:r:sha256".
func (m Method) Prefix() string {
	if m == Recursive {
		return "r:"
	}
	return ""
}

// MakeFixedOutputPath returns the path of content-addressed data hashed
// with method m to h. A recursive sha256 is a "source" path and may have
// references (and a self-reference); anything else is an "output:out"
// path of the string "fixed:out:" prefix algo ":" hex ":" and must have
// none. It is Nix's Store::makeFixedOutputPath.
func (d Dir) MakeFixedOutputPath(name string, m Method, h nixhash.Hash, refs []Path, self bool) (Path, error) {
	if h.Algo == nixhash.SHA256 && m == Recursive {
		return d.MakeStorePath(d.makeType("source", refs, self), h, name)
	}
	if len(refs) > 0 || self {
		return Path{}, fmt.Errorf("make fixed-output path %s: only recursive sha256 paths may have references", name)
	}
	inner := "fixed:out:" + m.Prefix() + h.Encode(nixhash.Base16, true) + ":"
	return d.MakeStorePath("output:out", nixhash.Sum(nixhash.SHA256, []byte(inner)), name)
}

// MakeOutputPath returns the path of output id of an input-addressed
// derivation named drvName whose hashDerivationModulo is h.
func (d Dir) MakeOutputPath(id string, h nixhash.Hash, drvName string) (Path, error) {
	return d.MakeStorePath("output:"+id, h, OutputPathName(drvName, id))
}

// MakePathFromCA returns the path of content with address ca.
func (d Dir) MakePathFromCA(name string, ca ContentAddress, refs []Path, self bool) (Path, error) {
	if ca.Text {
		if self {
			return Path{}, fmt.Errorf("make text path %s: text paths cannot refer to themselves", name)
		}
		return d.MakeTextPath(name, ca.Hash, refs)
	}
	return d.MakeFixedOutputPath(name, ca.Method, ca.Hash, refs, self)
}
