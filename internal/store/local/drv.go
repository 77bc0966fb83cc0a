package local

import (
	"context"
	"fmt"
	"os"
	"strings"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
)

// derivationOutputs reads the derivation file p (already at its real
// path), checks that its output paths follow from its contents (Nix's
// checkDerivationOutputs; a wrong path is a hard failure) and returns
// the known output paths by name, for DerivationOutputs. Floating and
// deferred outputs have no path yet and are left out, as in Nix.
func (s *Store) derivationOutputs(ctx context.Context, p storepath.Path) (map[string]storepath.Path, error) {
	var d *derivation.Derivation
	var err error
	texts, _ := ctx.Value(drvTextsKey{}).(map[storepath.Path][]byte)
	if text, ok := texts[p]; ok {
		if d, err = derivation.Parse(text); err != nil {
			err = fmt.Errorf("read derivation %s: %w", s.print(p), err)
		}
	} else {
		d, err = s.readDerivation(p)
	}
	if err != nil {
		return nil, err
	}
	h, _ := ctx.Value(hasherKey{}).(*derivation.Hasher)
	if h == nil || h.Dir() != s.dir {
		h = derivation.NewHasher(s.dir, s.readDerivationAt)
	}
	name := strings.TrimSuffix(p.Name(), storepath.DrvExtension)
	if err := h.CheckOutputs(d, name); err != nil {
		return nil, fmt.Errorf("check outputs of %s: %w", s.print(p), err)
	}
	outs := map[string]storepath.Path{}
	for id, o := range d.Outputs {
		if o.Path == "" {
			continue
		}
		op, err := s.dir.Parse(o.Path)
		if err != nil {
			return nil, fmt.Errorf("outputs of %s: %w", s.print(p), err)
		}
		outs[id] = op
	}
	return outs, nil
}

type hasherKey struct{}

// readDerivationAt is a derivation.Resolver for the derivations in the
// store (their real paths).
func (s *Store) readDerivationAt(drvPath string) (*derivation.Derivation, error) {
	q, err := s.dir.Parse(drvPath)
	if err != nil {
		return nil, err
	}
	return s.readDerivation(q)
}

// drvTextsKey's value holds the contents of .drv files being registered
// that are known in memory (AddTextDeferred's, written under their path
// locks), so that registering them reads nothing back.
type drvTextsKey struct{}

// WithHasher returns a context under which registering a derivation
// checks its output paths with h instead of a fresh Hasher. h memoises
// hashDerivationModulo of input derivations by path, as Nix's drvHashes
// cache does, so an evaluator that writes a chain of n derivations hashes
// each input once instead of re-reading and re-hashing the whole input
// graph for every new .drv (O(n) instead of O(n²) reads). A .drv path
// names its contents, so a memo built from the evaluator's in-memory
// copies is as good as one built from the files. h must be for this
// store's directory (otherwise it is ignored) and, as a Hasher is not
// safe for concurrent use, only the goroutine that owns h may use the
// context.
func WithHasher(ctx context.Context, h *derivation.Hasher) context.Context {
	return context.WithValue(ctx, hasherKey{}, h)
}

// readDerivation parses the .drv file of p from the store directory.
func (s *Store) readDerivation(p storepath.Path) (*derivation.Derivation, error) {
	data, err := os.ReadFile(s.RealPath(p))
	if err != nil {
		return nil, fmt.Errorf("read derivation %s: %w", s.print(p), err)
	}
	d, err := derivation.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("read derivation %s: %w", s.print(p), err)
	}
	return d, nil
}

// ReadDerivation returns the parsed derivation at the valid path p.
func (s *Store) ReadDerivation(ctx context.Context, p storepath.Path) (*derivation.Derivation, error) {
	if ok, err := s.IsValid(ctx, p); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("read derivation: %w", errNotValid(s, p))
	}
	return s.readDerivation(p)
}
