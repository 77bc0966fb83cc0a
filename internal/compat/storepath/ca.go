package storepath

import (
	"fmt"
	"strings"

	"cairn/internal/compat/nixhash"
)

// ContentAddress is the "ca" of a content-addressed path, as stored in
// the database and narinfo CA fields: "text:sha256:<nix32>",
// "fixed:sha256:<nix32>" (flat) or "fixed:r:<algo>:<nix32>" (NAR).
type ContentAddress struct {
	Text   bool   // text (toFile, .drv) rather than fixed
	Method Method // for fixed: Flat or Recursive
	Hash   nixhash.Hash
}

// String renders ca as Nix does, with the hash in nix32.
func (ca ContentAddress) String() string {
	if ca.Text {
		return "text:" + ca.Hash.Encode(nixhash.Nix32, true)
	}
	return "fixed:" + ca.Method.Prefix() + ca.Hash.Encode(nixhash.Nix32, true)
}

// ParseContentAddress parses the rendering of a ContentAddress; the hash
// may be in any encoding nixhash.ParseUnprefixed accepts.
func ParseContentAddress(s string) (ContentAddress, error) {
	var ca ContentAddress
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ca, fmt.Errorf("parse content address %q: not in the form '<prefix>:<rest>'", s)
	}
	switch kind {
	case "text":
		ca.Text = true
	case "fixed":
		if r, ok := strings.CutPrefix(rest, "r:"); ok {
			ca.Method, rest = Recursive, r
		}
	default:
		return ca, fmt.Errorf("parse content address %q: unknown prefix '%s'", s, kind)
	}
	algoName, digest, ok := strings.Cut(rest, ":")
	if !ok {
		return ca, fmt.Errorf("parse content address %q: hash must be in form '<algo>:<hash>'", s)
	}
	algo, err := nixhash.ParseAlgo(algoName)
	if err != nil {
		return ca, fmt.Errorf("parse content address %q: %w", s, err)
	}
	if ca.Text && algo != nixhash.SHA256 {
		return ca, fmt.Errorf("parse content address %q: text hashing requires sha256, not %s", s, algo)
	}
	if ca.Hash, err = nixhash.ParseUnprefixed(digest, algo); err != nil {
		return ca, fmt.Errorf("parse content address %q: %w", s, err)
	}
	return ca, nil
}
