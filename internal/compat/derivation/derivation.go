// Package derivation reads and writes Nix store derivations (.drv files)
// and computes their store paths and output paths as Nix 2.8 does.
//
// A .drv file is one ATerm, with no whitespace and no trailing newline:
//
//	Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env])
//
// outputs are ("id","path","hashAlgo","hash") sorted by id; inputDrvs are
// ("drvPath",["out",…]) sorted by path, each name list sorted; inputSrcs
// are sorted paths; args keep their order; env is ("key","value") sorted by
// key. Strings are in double quotes. Nix escapes '"', '\\', LF, CR and TAB
// (as \" \\ \n \r \t) in the builder, args and env, and copies every other
// byte. It writes output fields, input paths, output names and the system
// unescaped. Reading, \x stands for x except \n, \r and \t.
//
// The .drv's own path is a text path (storepath.Dir.MakeTextPath) of its
// ATerm, referring to its inputSrcs and inputDrvs. Output paths of
// input-addressed derivations hash the ATerm with output paths masked and
// input derivations replaced by their own hashes ("hashDerivationModulo");
// fixed-output paths depend only on the declared hash. See Nix's
// src/libstore/derivations.cc and doc/manual/source/protocols/derivation-aterm.md.
package derivation

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"cairn/internal/compat/nixbase32"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// Output is one output of a derivation, as its four ATerm fields.
//
//	kind            Path      HashAlgo              Hash
//	input-addressed the path  ""                    ""
//	fixed           the path  "sha256" / "r:sha256" hex digest
//	floating CA     ""        "r:sha256"            ""
//	impure          ""        "r:sha256"            "impure"
//	deferred        ""        ""                    ""
type Output struct {
	Path     string
	HashAlgo string
	Hash     string
}

// Derivation is a parsed store derivation. Path-valued fields hold
// absolute paths.
type Derivation struct {
	Outputs   map[string]Output
	InputDrvs map[string][]string // drv path → output names
	InputSrcs []string
	Platform  string
	Builder   string
	Args      []string
	Env       map[string]string
}

// OutputKind classifies an Output.
type OutputKind uint8

const (
	InputAddressed OutputKind = iota + 1
	Fixed
	Floating
	Impure
	Deferred
)

// Kind returns the kind of o. It does not validate the fields.
func (o Output) Kind() OutputKind {
	switch {
	case o.HashAlgo == "" && o.Path == "":
		return Deferred
	case o.HashAlgo == "":
		return InputAddressed
	case o.Hash == "impure":
		return Impure
	case o.Hash != "":
		return Fixed
	}
	return Floating
}

// Method returns the ingestion method and algorithm of a content-addressed
// output's HashAlgo ("r:sha256" → Recursive, SHA256).
func (o Output) Method() (storepath.Method, nixhash.Algo, error) {
	m, name := storepath.Flat, o.HashAlgo
	if rest, ok := strings.CutPrefix(name, "r:"); ok {
		m, name = storepath.Recursive, rest
	}
	a, err := nixhash.ParseAlgo(name)
	return m, a, err
}

// FixedHash returns the method and hash of a fixed output.
func (o Output) FixedHash() (storepath.Method, nixhash.Hash, error) {
	m, a, err := o.Method()
	if err != nil {
		return 0, nixhash.Hash{}, err
	}
	h, err := nixhash.ParseUnprefixed(o.Hash, a)
	return m, h, err
}

// validateOutputs checks each output as Nix 2.8's parser does, and normalises
// fixed-output hashes to lower-case hex as Nix holds them.
func (d *Derivation) validateOutputs() error {
	for id, o := range d.Outputs {
		switch o.Kind() {
		case InputAddressed:
			if err := checkAbs(o.Path); err != nil {
				return fmt.Errorf("output %s: %w", id, err)
			}
		case Fixed:
			if err := checkAbs(o.Path); err != nil {
				return fmt.Errorf("output %s: %w", id, err)
			}
			_, h, err := o.FixedHash()
			if err != nil {
				return fmt.Errorf("output %s: %w", id, err)
			}
			o.Hash = h.Hex()
			d.Outputs[id] = o
		case Floating, Impure:
			if _, _, err := o.Method(); err != nil {
				return fmt.Errorf("output %s: %w", id, err)
			}
			if o.Path != "" {
				return fmt.Errorf("output %s: content-addressed output without a fixed hash must have an empty path", id)
			}
		}
	}
	return nil
}

func checkAbs(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("bad path '%s' in derivation", p)
	}
	return nil
}

// Type is the overall kind of a derivation, as Nix's DerivationType.
type Type uint8

const (
	TypeInputAddressed Type = iota + 1
	TypeDeferred            // input-addressed, paths not yet known
	TypeFixed               // one fixed output named "out"
	TypeFloating            // floating content-addressed (experimental)
	TypeImpure              // impure (experimental)
)

// Type classifies d, rejecting mixtures as Nix 2.8 does.
func (d *Derivation) Type() (Type, error) {
	kinds := map[OutputKind][]string{}
	var floatAlgo string
	for _, id := range sortedKeys(d.Outputs) {
		o := d.Outputs[id]
		k := o.Kind()
		kinds[k] = append(kinds[k], id)
		if k == Floating {
			_, a, _ := o.Method()
			if floatAlgo == "" {
				floatAlgo = a.String()
			} else if floatAlgo != a.String() {
				return 0, fmt.Errorf("all floating outputs must use the same hash type")
			}
		}
	}
	if len(d.Outputs) == 0 {
		return 0, fmt.Errorf("must have at least one output")
	}
	if len(kinds) > 1 {
		return 0, fmt.Errorf("can't mix derivation output types")
	}
	switch {
	case kinds[InputAddressed] != nil:
		return TypeInputAddressed, nil
	case kinds[Fixed] != nil:
		if len(kinds[Fixed]) > 1 {
			return 0, fmt.Errorf("only one fixed output is allowed for now")
		}
		if kinds[Fixed][0] != "out" {
			return 0, fmt.Errorf("single fixed output must be named \"out\"")
		}
		return TypeFixed, nil
	case kinds[Floating] != nil:
		return TypeFloating, nil
	case kinds[Deferred] != nil:
		return TypeDeferred, nil
	}
	return TypeImpure, nil
}

// References returns the paths the .drv file refers to: its inputSrcs and
// inputDrvs, sorted.
func (d *Derivation) References() []string {
	refs := slices.Clone(d.InputSrcs)
	for p := range d.InputDrvs {
		refs = append(refs, p)
	}
	sort.Strings(refs)
	return slices.Compact(refs)
}

// Path returns the store path of d written as a .drv named name+".drv" in
// dir: a text path of its ATerm with References as references.
func (d *Derivation) Path(dir storepath.Dir, name string) (storepath.Path, error) {
	var refs []storepath.Path
	for _, r := range d.References() {
		p, err := dir.Parse(r)
		if err != nil {
			return storepath.Path{}, fmt.Errorf("derivation %s: reference: %w", name, err)
		}
		refs = append(refs, p)
	}
	return dir.ComputeTextPath(name+storepath.DrvExtension, d.Bytes(), refs)
}

// NameFromPath returns the derivation name of a .drv path: its store
// path name without ".drv".
func NameFromPath(drvPath string) (string, error) {
	base := drvPath[strings.LastIndexByte(drvPath, '/')+1:]
	p, err := storepath.ParseBase(base)
	if err != nil {
		return "", err
	}
	if !p.IsDerivation() {
		return "", fmt.Errorf("path '%s' is not a derivation", drvPath)
	}
	return strings.TrimSuffix(p.Name(), storepath.DrvExtension), nil
}

// HashPlaceholder returns the placeholder Nix substitutes for the path of
// output id when it is not yet known: "/" + nix32(sha256("nix-output:" + id)).
func HashPlaceholder(id string) string {
	return "/" + nixbase32.EncodeToString(nixhash.Sum(nixhash.SHA256, []byte("nix-output:"+id)).Digest)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
