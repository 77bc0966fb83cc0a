// Package nixhash implements Nix's typed hashes: a digest together with
// its algorithm (md5, sha1, sha256 or sha512), and the four textual forms
// Nix reads and writes.
//
//   - base16: lower-case hex (upper case is accepted on input).
//   - nix32: Nix's base-32 (see package nixbase32).
//   - base64: standard base64 with '=' padding.
//   - SRI: "<algo>-<base64>", as in Subresource Integrity.
//
// A textual hash may carry its algorithm as a prefix, "<algo>:<digest>",
// where the length of the digest text decides between base16, nix32 and
// base64 (for sha256: 64, 52 and 44 characters), or as an SRI prefix
// "<algo>-". Only the algorithm can tell an md5 in base16 from a sha1 in
// nix32 (both 32 characters), so a bare digest needs the algorithm from
// context. The parsing rules and error messages follow Nix's
// src/libutil/hash.cc.
//
// Store paths use a 20-byte XOR fold of a sha256 digest (Compress).
package nixhash

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"cairn/internal/compat/nixbase32"
)

// Algo is a hash algorithm. The zero Algo means "unknown".
type Algo uint8

// The hash algorithms Nix knows.
const (
	MD5 Algo = iota + 1
	SHA1
	SHA256
	SHA512
)

var algoNames = [...]string{MD5: "md5", SHA1: "sha1", SHA256: "sha256", SHA512: "sha512"}
var algoSizes = [...]int{MD5: md5.Size, SHA1: sha1.Size, SHA256: sha256.Size, SHA512: sha512.Size}

// ErrBadHash is matched (with errors.Is) by every error from parsing a hash
// or an algorithm name.
var ErrBadHash = errors.New("bad hash")

type parseError struct{ msg string }

func (e *parseError) Error() string        { return e.msg }
func (e *parseError) Is(target error) bool { return target == ErrBadHash }

func errorf(format string, args ...any) error {
	return &parseError{fmt.Sprintf(format, args...)}
}

// ParseAlgo returns the algorithm named s ("md5", "sha1", "sha256" or
// "sha512").
func ParseAlgo(s string) (Algo, error) {
	for a, n := range algoNames {
		if n != "" && n == s {
			return Algo(a), nil
		}
	}
	return 0, errorf("unknown hash algorithm '%s'", s)
}

// String returns the algorithm's name as Nix prints it.
func (a Algo) String() string {
	if a.Valid() {
		return algoNames[a]
	}
	return fmt.Sprintf("Algo(%d)", a)
}

// Valid reports whether a is one of the known algorithms.
func (a Algo) Valid() bool { return a >= MD5 && a <= SHA512 }

// Size returns the length of a digest in bytes, or 0 for an invalid Algo.
func (a Algo) Size() int {
	if a.Valid() {
		return algoSizes[a]
	}
	return 0
}

// New returns a new hash.Hash computing a. It panics if a is not Valid.
func (a Algo) New() hash.Hash {
	switch a {
	case MD5:
		return md5.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	}
	panic("nixhash: New of invalid " + a.String())
}

// Encoding is a textual form of a digest.
type Encoding uint8

// The encodings, named as in Nix's --base16, --base32 (nix32), --base64
// and --sri.
const (
	Base16 Encoding = iota
	Nix32
	Base64
	SRI
)

var encodingNames = [...]string{Base16: "base16", Nix32: "nix32", Base64: "base64", SRI: "sri"}

// ParseEncoding returns the encoding named s: "base16", "nix32" (or its old
// name "base32"), "base64" or "sri".
func ParseEncoding(s string) (Encoding, error) {
	if s == "base32" {
		return Nix32, nil
	}
	for e, n := range encodingNames {
		if n == s {
			return Encoding(e), nil
		}
	}
	return 0, errorf("unknown hash encoding '%s'", s)
}

// String returns the encoding's name.
func (e Encoding) String() string {
	if int(e) < len(encodingNames) {
		return encodingNames[e]
	}
	return fmt.Sprintf("Encoding(%d)", e)
}

// EncodedLen returns the length of an a digest in encoding e, without any
// algorithm prefix.
func (e Encoding) EncodedLen(a Algo) int {
	n := a.Size()
	switch e {
	case Base16:
		return 2 * n
	case Nix32:
		return nixbase32.EncodedLen(n)
	default:
		return base64.StdEncoding.EncodedLen(n)
	}
}

// Hash is a digest with its algorithm. The zero Hash has no algorithm and
// is not valid.
type Hash struct {
	Algo   Algo
	Digest []byte
}

// Sum returns the a-hash of data. It panics if a is not Valid.
func Sum(a Algo, data []byte) Hash {
	h := a.New()
	h.Write(data)
	return Hash{a, h.Sum(nil)}
}

// FromDigest returns the Hash with algorithm a and the given digest, which
// must have the right length.
func FromDigest(a Algo, digest []byte) (Hash, error) {
	if !a.Valid() {
		return Hash{}, errorf("invalid hash algorithm %v", a)
	}
	if len(digest) != a.Size() {
		return Hash{}, errorf("%s digest has %d bytes, want %d", a, len(digest), a.Size())
	}
	return Hash{a, bytes.Clone(digest)}, nil
}

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h.Algo == 0 && h.Digest == nil }

// Equal reports whether h and o have the same algorithm and digest.
func (h Hash) Equal(o Hash) bool { return h.Algo == o.Algo && bytes.Equal(h.Digest, o.Digest) }

// Encode returns the digest in encoding e. With includeAlgo it is prefixed
// by "<algo>:". SRI always carries its "<algo>-" prefix.
func (h Hash) Encode(e Encoding, includeAlgo bool) string {
	var s string
	switch e {
	case Base16:
		s = hex.EncodeToString(h.Digest)
	case Nix32:
		s = nixbase32.EncodeToString(h.Digest)
	case Base64, SRI:
		s = base64.StdEncoding.EncodeToString(h.Digest)
	}
	if e == SRI {
		return h.Algo.String() + "-" + s
	}
	if includeAlgo {
		return h.Algo.String() + ":" + s
	}
	return s
}

// String returns h in SRI form, "sha256-<base64>".
func (h Hash) String() string { return h.Encode(SRI, true) }

// Hex returns the digest in lower-case hex without prefix.
func (h Hash) Hex() string { return h.Encode(Base16, false) }

// Parse parses a hash that names its algorithm: "<algo>:<digest>" with the
// digest in base16, nix32 or base64 (decided by its length), or SRI
// "<algo>-<base64>". It is Nix's Hash::parseAnyPrefixed.
func Parse(s string) (Hash, error) {
	a, rest, sri, ok, err := splitAlgo(s)
	if err != nil {
		return Hash{}, err
	}
	if !ok {
		return Hash{}, errorf("hash '%s' does not include a type", s)
	}
	return decode(rest, a, sri)
}

// ParseAny parses a hash in any form; a bare digest takes its algorithm
// from algo. If both the text and algo name an algorithm they must agree.
// algo may be 0 when it is not known from context. It is Nix's
// Hash::parseAny.
func ParseAny(s string, algo Algo) (Hash, error) {
	a, rest, sri, ok, err := splitAlgo(s)
	if err != nil {
		return Hash{}, err
	}
	switch {
	case !ok && algo == 0:
		return Hash{}, errorf("hash '%s' does not include a type, nor is the type otherwise known from context", s)
	case ok && algo != 0 && a != algo:
		return Hash{}, errorf("hash '%s' should have type '%s'", s, algo)
	case !ok:
		a = algo
	}
	return decode(rest, a, sri)
}

// ParseSRI parses "<algo>-<base64>".
func ParseSRI(s string) (Hash, error) {
	name, rest, ok := strings.Cut(s, "-")
	if !ok {
		return Hash{}, errorf("hash '%s' is not SRI", s)
	}
	a, err := ParseAlgo(name)
	if err != nil {
		return Hash{}, err
	}
	return decode(rest, a, true)
}

// ParseUnprefixed parses a bare digest of algorithm algo in base16, nix32
// or base64, chosen by its length. It is Nix's
// Hash::parseNonSRIUnprefixed.
func ParseUnprefixed(s string, algo Algo) (Hash, error) {
	if !algo.Valid() {
		return Hash{}, errorf("invalid hash algorithm %v", algo)
	}
	return decode(s, algo, false)
}

// splitAlgo splits "algo:rest" or "algo-rest". ok is false when s has
// neither prefix.
func splitAlgo(s string) (a Algo, rest string, sri, ok bool, err error) {
	name, rest, ok := strings.Cut(s, ":")
	if !ok {
		name, rest, ok = strings.Cut(s, "-")
		sri = ok
	}
	if !ok {
		return 0, s, false, false, nil
	}
	a, err = ParseAlgo(name)
	return a, rest, sri, true, err
}

func decode(s string, a Algo, sri bool) (Hash, error) {
	size := a.Size()
	h := Hash{Algo: a}
	switch {
	case !sri && len(s) == Base16.EncodedLen(a):
		h.Digest = make([]byte, size)
		for i := 0; i < size; i++ {
			hi, ok1 := unhex(s[2*i])
			lo, ok2 := unhex(s[2*i+1])
			if !ok1 || !ok2 {
				return Hash{}, errorf("invalid base-16 hash '%s'", s)
			}
			h.Digest[i] = hi<<4 | lo
		}
	case !sri && len(s) == Nix32.EncodedLen(a):
		d, err := nixbase32.DecodeString(s)
		if err != nil {
			return Hash{}, errorf("invalid base-32 hash '%s'", s)
		}
		h.Digest = d
	case sri || len(s) == Base64.EncodedLen(a):
		d, err := decodeBase64(s)
		if err != nil {
			return Hash{}, err
		}
		if len(d) != size {
			kind := "base-64"
			if sri {
				kind = "SRI"
			}
			return Hash{}, errorf("invalid %s hash '%s'", kind, s)
		}
		h.Digest = d
	default:
		return Hash{}, errorf("hash '%s' has wrong length for hash type '%s'", s, a)
	}
	return h, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeBase64 decodes like Nix's base64Decode: decoding stops at the first
// '=', newlines are skipped, and left-over bits are dropped.
func decodeBase64(s string) ([]byte, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var out []byte
	var d, bits uint
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			break
		}
		if c == '\n' {
			continue
		}
		v := strings.IndexByte(alphabet, c)
		if v < 0 {
			return nil, errorf("invalid character in Base64 string: '%s'", []byte{c})
		}
		d = d<<6 | uint(v)
		bits += 6
		if bits >= 8 {
			out = append(out, byte(d>>(bits-8)))
			bits -= 8
		}
	}
	return out, nil
}

// Compress XOR-folds digest into n bytes: byte i goes into byte i mod n.
// Store paths use Compress(sha256, 20). It is Nix's compressHash.
func Compress(digest []byte, n int) []byte {
	out := make([]byte, n)
	for i, b := range digest {
		out[i%n] ^= b
	}
	return out
}

// Hasher computes a Hash of everything written to it and counts the bytes,
// as Nix's HashSink does for NAR hashes and sizes.
type Hasher struct {
	algo Algo
	h    hash.Hash
	n    uint64
}

// NewHasher returns a Hasher for a. It panics if a is not Valid.
func NewHasher(a Algo) *Hasher { return &Hasher{algo: a, h: a.New()} }

// Write adds p to the hash. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	h.n += uint64(len(p))
	return h.h.Write(p)
}

// Sum returns the hash of the bytes written so far.
func (h *Hasher) Sum() Hash { return Hash{h.algo, h.h.Sum(nil)} }

// Len returns the number of bytes written so far.
func (h *Hasher) Len() uint64 { return h.n }
