package derivation

import (
	"fmt"
	"sync"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// Resolver returns the derivation stored at drvPath (an absolute .drv
// path). Hasher calls it for input derivations.
type Resolver func(drvPath string) (*Derivation, error)

// DrvHash is the result of hashDerivationModulo: a hash per output, and
// whether it is deferred (depends on floating or impure outputs, so the
// output paths are not known before building).
type DrvHash struct {
	Hashes   map[string]nixhash.Hash
	Deferred bool
}

// Hasher computes hashDerivationModulo, memoising the results for input
// derivations by path (as Nix's drvHashes cache). A Hasher is safe for
// concurrent use if its Resolver is.
type Hasher struct {
	dir  storepath.Dir
	read Resolver
	memo *memo
}

type memo struct {
	mu sync.Mutex
	m  map[string]*DrvHash
}

// NewHasher returns a Hasher for derivations in dir that reads input
// derivations with read.
func NewHasher(dir storepath.Dir, read Resolver) *Hasher {
	return &Hasher{dir: dir, read: read, memo: &memo{m: map[string]*DrvHash{}}}
}

// WithResolver returns a Hasher that reads input derivations with read
// and shares h's results: what either computes, the other finds.
func (h *Hasher) WithResolver(read Resolver) *Hasher {
	return &Hasher{dir: h.dir, read: read, memo: h.memo}
}

// Dir returns the store directory h was made for.
func (h *Hasher) Dir() storepath.Dir { return h.dir }

// impureOutputHash is Nix's hash for outputs of impure derivations.
var impureOutputHash = nixhash.Sum(nixhash.SHA256, []byte("impure"))

// PathHash returns hashDerivationModulo of the derivation at drvPath,
// without masking, reading it with the Resolver once.
func (h *Hasher) PathHash(drvPath string) (*DrvHash, error) {
	h.memo.mu.Lock()
	r, ok := h.memo.m[drvPath]
	h.memo.mu.Unlock()
	if ok {
		return r, nil
	}
	name, err := NameFromPath(drvPath)
	if err != nil {
		return nil, err
	}
	d, err := h.read(drvPath)
	if err != nil {
		return nil, fmt.Errorf("read derivation %s: %w", drvPath, err)
	}
	r, err = h.HashModulo(d, name, false)
	if err != nil {
		return nil, fmt.Errorf("hash derivation %s: %w", drvPath, err)
	}
	h.memo.mu.Lock()
	h.memo.m[drvPath] = r
	h.memo.mu.Unlock()
	return r, nil
}

// HashModulo is Nix's hashDerivationModulo for d, named name (the .drv
// name without ".drv").
//
// For a fixed-output derivation the hash of output "out" is
// sha256("fixed:out:" methodAlgo ":" hex ":" outPath), so the recipe of a
// download does not reach its dependents. Otherwise every output gets the
// sha256 of d's ATerm in which each input derivation is replaced by the
// hex of its own HashModulo (inputs with equal hashes merge); with
// maskOutputs, output paths and the env entries named after outputs are
// printed empty.
func (h *Hasher) HashModulo(d *Derivation, name string, maskOutputs bool) (*DrvHash, error) {
	typ, err := d.Type()
	if err != nil {
		return nil, err
	}
	switch typ {
	case TypeFixed:
		res := &DrvHash{Hashes: map[string]nixhash.Hash{}}
		for id, o := range d.Outputs {
			m, fh, err := o.FixedHash()
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", id, err)
			}
			p, err := h.dir.MakeFixedOutputPath(storepath.OutputPathName(name, id), m, fh, nil, false)
			if err != nil {
				return nil, err
			}
			s := "fixed:out:" + m.Prefix() + fh.Algo.String() + ":" + fh.Hex() + ":" + h.dir.Print(p)
			res.Hashes[id] = nixhash.Sum(nixhash.SHA256, []byte(s))
		}
		return res, nil
	case TypeImpure:
		res := &DrvHash{Hashes: map[string]nixhash.Hash{}, Deferred: true}
		for id := range d.Outputs {
			res.Hashes[id] = impureOutputHash
		}
		return res, nil
	}
	res := &DrvHash{Hashes: map[string]nixhash.Hash{}, Deferred: typ == TypeFloating}
	inputs := map[string][]string{}
	for _, drvPath := range sortedKeys(d.InputDrvs) {
		in, err := h.PathHash(drvPath)
		if err != nil {
			return nil, err
		}
		if in.Deferred {
			res.Deferred = true
		}
		for _, out := range d.InputDrvs[drvPath] {
			oh, ok := in.Hashes[out]
			if !ok {
				return nil, fmt.Errorf("input derivation %s has no output '%s'", drvPath, out)
			}
			key := oh.Hex()
			inputs[key] = append(inputs[key], out)
		}
	}
	sum := nixhash.Sum(nixhash.SHA256, d.unparse(maskOutputs, inputs))
	for id := range d.Outputs {
		res.Hashes[id] = sum
	}
	return res, nil
}

// FillOutputs sets the output paths of a new derivation named name and the
// env entries named after its outputs, as builtins.derivation does in Nix
// 2.8. Every output must be Deferred (Path, HashAlgo and Hash empty)
// except for a fixed-output derivation, whose single "out" carries
// HashAlgo and Hash. Floating and impure outputs are left alone. If an
// input is deferred, the outputs stay deferred and their env entries
// empty.
func (h *Hasher) FillOutputs(d *Derivation, name string) error {
	typ, err := d.Type()
	if err != nil {
		return err
	}
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	switch typ {
	case TypeFixed:
		o := d.Outputs["out"]
		m, fh, err := o.FixedHash()
		if err != nil {
			return err
		}
		p, err := h.dir.MakeFixedOutputPath(name, m, fh, nil, false)
		if err != nil {
			return err
		}
		o.Path, o.Hash = h.dir.Print(p), fh.Hex()
		d.Outputs["out"] = o
		d.Env["out"] = o.Path
		return nil
	case TypeFloating, TypeImpure:
		return nil
	}
	for id := range d.Outputs {
		d.Outputs[id] = Output{}
		d.Env[id] = ""
	}
	hm, err := h.HashModulo(d, name, true)
	if err != nil {
		return err
	}
	if hm.Deferred {
		return nil
	}
	for id := range d.Outputs {
		p, err := h.dir.MakeOutputPath(id, hm.Hashes[id], name)
		if err != nil {
			return err
		}
		d.Outputs[id] = Output{Path: h.dir.Print(p)}
		d.Env[id] = h.dir.Print(p)
	}
	return nil
}

// CheckOutputs recomputes the output paths of d (named name) and reports
// the first that differs from the one recorded, as Nix does when it
// registers a derivation.
func (h *Hasher) CheckOutputs(d *Derivation, name string) error {
	c := &Derivation{
		Outputs:   map[string]Output{},
		InputDrvs: d.InputDrvs,
		InputSrcs: d.InputSrcs,
		Platform:  d.Platform,
		Builder:   d.Builder,
		Args:      d.Args,
		Env:       map[string]string{},
	}
	for k, v := range d.Env {
		c.Env[k] = v
	}
	for id, o := range d.Outputs {
		if o.Kind() == InputAddressed {
			o = Output{}
		}
		c.Outputs[id] = o
	}
	if err := h.FillOutputs(c, name); err != nil {
		return err
	}
	for _, id := range sortedKeys(d.Outputs) {
		if got, want := d.Outputs[id].Path, c.Outputs[id].Path; got != want {
			return fmt.Errorf("derivation %s has incorrect output '%s', should be '%s'", name, got, want)
		}
		if v, ok := d.Env[id]; ok && c.Env[id] != v && d.Outputs[id].Kind() != Floating {
			return fmt.Errorf("derivation %s has incorrect env entry for output '%s': '%s', should be '%s'", name, id, v, c.Env[id])
		}
	}
	return nil
}
