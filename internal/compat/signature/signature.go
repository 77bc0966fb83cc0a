// Package signature implements the ed25519 keys and detached signatures
// that Nix uses to sign store paths in binary caches.
//
// Keys and signatures are written "<name>:<base64>" with standard,
// '='-padded base64 and no trailing newline:
//
//   - a secret key holds 64 bytes, the ed25519 seed followed by the
//     public key (libsodium's layout, Go's ed25519.PrivateKey);
//   - a public key holds the 32-byte ed25519 public key;
//   - a signature holds the 64-byte ed25519 signature.
//
// What is signed is the fingerprint of a store path (Fingerprint):
//
//	1;<store path>;sha256:<nix32 NAR hash>;<NAR size>;<references>
//
// where references are the full store paths, sorted, joined by commas.
// The bytes of the fingerprint are signed directly (no pre-hash), so
// signatures are deterministic. See Nix's src/libutil/signature and
// ValidPathInfo::fingerprint in src/libstore/path-info.cc.
package signature

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// ErrBadKey is matched by errors about malformed keys and signatures.
var ErrBadKey = errors.New("bad key")

// splitColonBase64 parses "<name>:<base64>" and checks the decoded length.
func splitColonBase64(s, what string, size int) (string, []byte, error) {
	name, b64, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("parse %s: %w: want <name>:<base64>", what, ErrBadKey)
	}
	data, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("parse %s named '%s': %w: invalid base64", what, name, ErrBadKey)
	}
	if len(data) != size {
		return "", nil, fmt.Errorf("parse %s named '%s': %w: %d bytes, want %d", what, name, ErrBadKey, len(data), size)
	}
	return name, data, nil
}

func join(name string, data []byte) string {
	return name + ":" + base64.StdEncoding.EncodeToString(data)
}

// SecretKey is a named ed25519 signing key.
type SecretKey struct {
	Name string
	Key  ed25519.PrivateKey // 64 bytes: seed ‖ public key
}

// PublicKey is a named ed25519 verification key.
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey // 32 bytes
}

// Signature is a detached signature by the key called Name.
type Signature struct {
	Name string
	Sig  []byte // 64 bytes
}

// GenerateSecretKey makes a new key called name from the randomness in
// rand (crypto/rand.Reader if nil), as `nix key generate-secret`.
func GenerateSecretKey(name string, rand io.Reader) (SecretKey, error) {
	if name == "" || strings.Contains(name, ":") {
		return SecretKey{}, fmt.Errorf("generate key: %w: the name must be non-empty and have no ':'", ErrBadKey)
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return SecretKey{}, fmt.Errorf("generate key: %w", err)
	}
	return SecretKey{Name: name, Key: priv}, nil
}

// ParseSecretKey parses "<name>:<base64 of 64 bytes>". The public half
// must match the seed.
func ParseSecretKey(s string) (SecretKey, error) {
	name, data, err := splitColonBase64(s, "secret key", ed25519.PrivateKeySize)
	if err != nil {
		return SecretKey{}, err
	}
	k := ed25519.NewKeyFromSeed(data[:ed25519.SeedSize])
	if !k.Equal(ed25519.PrivateKey(data)) {
		return SecretKey{}, fmt.Errorf("parse secret key named '%s': %w: the public half does not match the seed", name, ErrBadKey)
	}
	return SecretKey{Name: name, Key: k}, nil
}

// String returns the key as Nix writes it.
func (k SecretKey) String() string { return join(k.Name, k.Key) }

// Public returns the public key of k (`nix key convert-secret-to-public`).
func (k SecretKey) Public() PublicKey {
	return PublicKey{Name: k.Name, Key: k.Key.Public().(ed25519.PublicKey)}
}

// Sign signs data and returns the signature.
func (k SecretKey) Sign(data []byte) Signature {
	return Signature{Name: k.Name, Sig: ed25519.Sign(k.Key, data)}
}

// ParsePublicKey parses "<name>:<base64 of 32 bytes>".
func ParsePublicKey(s string) (PublicKey, error) {
	name, data, err := splitColonBase64(s, "public key", ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Name: name, Key: data}, nil
}

// String returns the key as Nix writes it.
func (k PublicKey) String() string { return join(k.Name, k.Key) }

// Verify reports whether sig is k's signature of data: the names must
// match and the signature must check.
func (k PublicKey) Verify(data []byte, sig Signature) bool {
	return sig.Name == k.Name && len(sig.Sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, data, sig.Sig)
}

// ParseSignature parses "<name>:<base64 of 64 bytes>".
func ParseSignature(s string) (Signature, error) {
	name, data, err := splitColonBase64(s, "signature", ed25519.SignatureSize)
	if err != nil {
		return Signature{}, err
	}
	return Signature{Name: name, Sig: data}, nil
}

// String returns the signature as it appears in a narinfo Sig line.
func (s Signature) String() string { return join(s.Name, s.Sig) }

// TrustedKeys is a set of public keys by name (Nix's trusted-public-keys).
type TrustedKeys map[string]PublicKey

// ParseTrustedKeys parses a whitespace-separated list of public keys, as
// in the trusted-public-keys setting. A later key replaces an earlier one
// of the same name, as in Nix.
func ParseTrustedKeys(s string) (TrustedKeys, error) {
	t := TrustedKeys{}
	for _, f := range strings.Fields(s) {
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		t[k.Name] = k
	}
	return t, nil
}

// Add adds keys to t.
func (t TrustedKeys) Add(keys ...PublicKey) {
	for _, k := range keys {
		t[k.Name] = k
	}
}

// Verify reports whether sig (in "<name>:<base64>" form) is a valid
// signature of data by a key in t. Malformed signatures and unknown key
// names do not verify, as in Nix's verifyDetached.
func (t TrustedKeys) Verify(data []byte, sig string) bool {
	s, err := ParseSignature(sig)
	if err != nil {
		return false
	}
	k, ok := t[s.Name]
	return ok && k.Verify(data, s)
}

// CountValid returns how many of sigs are valid signatures of data by
// distinct keys of t (Nix's checkSignatures counts signatures; a key
// signing twice counts once here).
func (t TrustedKeys) CountValid(data []byte, sigs []string) int {
	seen := map[string]bool{}
	for _, sig := range sigs {
		s, err := ParseSignature(sig)
		if err != nil || seen[s.Name] {
			continue
		}
		if k, ok := t[s.Name]; ok && k.Verify(data, s) {
			seen[s.Name] = true
		}
	}
	return len(seen)
}

// Fingerprint returns the string Nix signs for a store path: its full
// path, NAR hash (sha256, nix32), NAR size and full reference paths
// (sorted; the order of refs does not matter).
func Fingerprint(dir storepath.Dir, path storepath.Path, narHash nixhash.Hash, narSize uint64, refs []storepath.Path) (string, error) {
	if narHash.Algo != nixhash.SHA256 {
		return "", fmt.Errorf("cannot calculate fingerprint of path '%s' because its hash is not SHA-256", dir.Print(path))
	}
	full := make([]string, len(refs))
	for i, r := range refs {
		full[i] = dir.Print(r)
	}
	slices.Sort(full)
	full = slices.Compact(full)
	var b strings.Builder
	b.WriteString("1;")
	b.WriteString(dir.Print(path))
	b.WriteString(";")
	b.WriteString(narHash.Encode(nixhash.Nix32, true))
	b.WriteString(";")
	b.WriteString(strconv.FormatUint(narSize, 10))
	b.WriteString(";")
	b.WriteString(strings.Join(full, ","))
	return b.String(), nil
}
