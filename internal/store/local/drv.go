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
	d, err := s.readDerivation(p)
	if err != nil {
		return nil, err
	}
	h := derivation.NewHasher(s.dir, func(drvPath string) (*derivation.Derivation, error) {
		q, err := s.dir.Parse(drvPath)
		if err != nil {
			return nil, err
		}
		return s.readDerivation(q)
	})
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
