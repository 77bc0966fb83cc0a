package glue

import (
	"context"
	"fmt"
	"strings"

	"cairn/internal/compat/storepath"
	"cairn/internal/eval"
	"cairn/internal/store/local"
)

// RealiseFunc builds the outputs of drvs (and what they need) into st.
// The glue calls it for import from derivation.
type RealiseFunc func(ctx context.Context, st *local.Store, drvs []storepath.Path) error

// SetRealiser sets how import from derivation builds derivations. Without
// one, evaluation that needs a derivation's output fails with an error
// naming the derivation.
func (g *IO) SetRealiser(f RealiseFunc) { g.realise = f }

var _ eval.Realiser = (*IO)(nil)

// RealiseContext implements eval.Realiser: it makes the outputs named by
// "!out!drv" context elements valid, building their derivations when they
// are not, as Nix's realiseContext does before import, readFile and
// friends read a path that has context. Plain paths and "=drv" elements
// are already in the store once evaluation has produced them.
func (g *IO) RealiseContext(elems []string) error {
	st, err := g.Store()
	if err != nil {
		return err
	}
	var need []storepath.Path
	seen := map[string]bool{}
	for _, e := range elems {
		out, drv, ok := strings.Cut(strings.TrimPrefix(e, "!"), "!")
		if !strings.HasPrefix(e, "!") || !ok || seen[drv] {
			continue
		}
		d, err := g.readDerivation(drv)
		if err != nil {
			return err
		}
		o, ok := d.Outputs[out]
		if !ok {
			return fmt.Errorf("derivation '%s' has no output '%s'", drv, out)
		}
		if o.Path != "" {
			if p, err := g.dir.Parse(o.Path); err == nil && g.valid(st, p) {
				continue
			}
		}
		p, err := g.dir.Parse(drv)
		if err != nil {
			return err
		}
		seen[drv] = true
		need = append(need, p)
	}
	if len(need) == 0 {
		return nil
	}
	names := make([]string, len(need))
	for i, p := range need {
		names[i] = g.dir.Print(p)
	}
	what := strings.Join(names, "', '")
	switch {
	case st == nil:
		return fmt.Errorf("cannot build '%s' during evaluation: this store only computes paths (dummy:// or a read-only store); import from derivation needs a writable store, e.g. --store /some/dir", what)
	case g.realise == nil:
		return fmt.Errorf("cannot build '%s' during evaluation: import from derivation is not available in this command", what)
	}
	if err := g.realise(g.ctx, st, need); err != nil {
		return fmt.Errorf("building '%s' for import from derivation: %w", what, err)
	}
	return nil
}

var _ eval.ReferenceQuerier = (*IO)(nil)

// StorePathReferences implements eval.ReferenceQuerier: the references of
// a valid path in the store g writes to (self-references included, as
// Nix's path info lists them). A compute-only store knows none.
func (g *IO) StorePathReferences(storePath string) ([]string, error) {
	st, err := g.Store()
	if err != nil || st == nil {
		return nil, err
	}
	p, err := g.dir.Parse(storePath)
	if err != nil {
		return nil, err
	}
	refs, err := st.QueryReferences(g.ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = g.dir.Print(r)
	}
	return out, nil
}
