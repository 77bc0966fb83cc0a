package build

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// DerivationOutputsQuerier is implemented by stores that know the
// output paths of a registered derivation (*local.Store). It is needed
// when an exportReferencesGraph closure contains .drv files.
type DerivationOutputsQuerier interface {
	QueryDerivationOutputs(ctx context.Context, drv storepath.Path) (map[string]storepath.Path, error)
}

// exportedPath is one member of an exported references graph.
type exportedPath struct {
	info        *store.PathInfo
	closureSize uint64
}

// exportGraphs computes the closures of req.ExportReferencesGraph as Nix
// 2.8's Store::exportReferences: each path must be in the input closure;
// outputs of derivations in the closure are included with their own
// closures.
func (b *Builder) exportGraphs(ctx context.Context, req *Request, closure []storepath.Path) (map[string][]exportedPath, error) {
	if len(req.ExportReferencesGraph) == 0 {
		return nil, nil
	}
	inputs := map[storepath.Path]bool{}
	for _, p := range closure {
		inputs[p] = true
	}
	out := map[string][]exportedPath{}
	for name, roots := range req.ExportReferencesGraph {
		for _, p := range roots {
			if !inputs[p] {
				return nil, &Error{Kind: Failed, Drv: b.print(req.DrvPath), Msg: fmt.Sprintf(
					"cannot export references of path '%s' because it is not in the input closure of the derivation", b.print(p))}
			}
		}
		paths, err := store.Closure(ctx, b.store, roots, store.ClosureOptions{})
		if err != nil {
			return nil, err
		}
		var more []storepath.Path
		for _, p := range paths {
			if !p.IsDerivation() {
				continue
			}
			q, ok := b.store.(DerivationOutputsQuerier)
			if !ok {
				return nil, fmt.Errorf("export references of %s: the store cannot query derivation outputs", b.print(p))
			}
			outs, err := q.QueryDerivationOutputs(ctx, p)
			if err != nil {
				return nil, err
			}
			for _, o := range outs {
				more = append(more, o)
			}
		}
		if len(more) > 0 {
			c, err := store.Closure(ctx, b.store, append(more, paths...), store.ClosureOptions{})
			if err != nil {
				return nil, err
			}
			paths = c
		}
		for _, p := range paths {
			info, err := b.store.QueryPathInfo(ctx, p)
			if err != nil {
				return nil, err
			}
			ep := exportedPath{info: info}
			if req.StructuredAttrs != nil {
				c, err := store.Closure(ctx, b.store, []storepath.Path{p}, store.ClosureOptions{})
				if err != nil {
					return nil, err
				}
				for _, q := range c {
					qi, err := b.store.QueryPathInfo(ctx, q)
					if err != nil {
						return nil, err
					}
					ep.closureSize += qi.NarSize
				}
			}
			out[name] = append(out[name], ep)
		}
	}
	return out, nil
}

// validityRegistration is Nix's makeValidityRegistration without
// derivers or hashes: per path its name, an empty deriver line, the
// number of references and the references.
func validityRegistration(dir storepath.Dir, paths []exportedPath) string {
	var b strings.Builder
	for _, p := range paths {
		b.WriteString(dir.Print(p.info.Path) + "\n\n")
		b.WriteString(strconv.Itoa(len(p.info.References)) + "\n")
		for _, r := range p.info.References {
			b.WriteString(dir.Print(r) + "\n")
		}
	}
	return b.String()
}

// pathInfoJSON is Nix's pathInfoToJSON (no impure info, with closure
// sizes) as values for writeJSON.
func pathInfoJSON(dir storepath.Dir, paths []exportedPath) []any {
	l := make([]any, 0, len(paths))
	for _, p := range paths {
		refs := make([]any, 0, len(p.info.References))
		for _, r := range p.info.References {
			refs = append(refs, dir.Print(r))
		}
		m := map[string]any{
			"path":        dir.Print(p.info.Path),
			"narHash":     p.info.NarHash.Encode(nixhash.Nix32, true),
			"narSize":     json.Number(strconv.FormatUint(p.info.NarSize, 10)),
			"references":  refs,
			"closureSize": json.Number(strconv.FormatUint(p.closureSize, 10)),
		}
		if p.info.HasCA() {
			m["ca"] = p.info.CA.String()
		}
		l = append(l, m)
	}
	return l
}
