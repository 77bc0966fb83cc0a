package eval

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"

	"cairn/internal/compat/nar"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// drvStore is the test side of IO.AddDerivation: it computes .drv paths
// with compat/derivation and keeps them in memory.
var errNoDrv = errors.New("derivation not found")

func (osIO) AddDerivation(req *DerivationRequest) (*DerivationResult, error) {
	return testDrvs.add(req)
}

type drvMemory struct {
	drvs   map[string]*derivation.Derivation
	hasher *derivation.Hasher
}

var testDrvs = newDrvMemory()

func newDrvMemory() *drvMemory {
	m := &drvMemory{drvs: map[string]*derivation.Derivation{}}
	m.hasher = derivation.NewHasher(storepath.Dir("/nix/store"), func(p string) (*derivation.Derivation, error) {
		if x, ok := m.drvs[p]; ok {
			return x, nil
		}
		return nil, errNoDrv
	})
	return m
}

func (m *drvMemory) add(req *DerivationRequest) (*DerivationResult, error) {
	dir := storepath.Dir("/nix/store")
	d := &derivation.Derivation{
		Outputs:   map[string]derivation.Output{},
		InputDrvs: map[string][]string{},
		Platform:  req.System,
		Builder:   req.Builder,
		Args:      req.Args,
		Env:       map[string]string{},
	}
	if d.Args == nil {
		d.Args = []string{}
	}
	for k, v := range req.Env {
		d.Env[k] = v
	}
	if req.StructuredAttrs != "" {
		d.Env["__json"] = req.StructuredAttrs
	}
	srcs := map[string]bool{}
	addOut := func(drv, out string) {
		for _, o := range d.InputDrvs[drv] {
			if o == out {
				return
			}
		}
		d.InputDrvs[drv] = append(d.InputDrvs[drv], out)
	}
	for _, c := range req.Context {
		switch {
		case strings.HasPrefix(c, "="):
			srcs[c[1:]] = true
			if x, ok := m.drvs[c[1:]]; ok {
				for o := range x.Outputs {
					addOut(c[1:], o)
				}
			}
		case strings.HasPrefix(c, "!"):
			rest := c[1:]
			i := strings.IndexByte(rest, '!')
			addOut(rest[i+1:], rest[:i])
		default:
			srcs[c] = true
		}
	}
	for s := range srcs {
		d.InputSrcs = append(d.InputSrcs, s)
	}
	if req.OutputHash != "" {
		var algo nixhash.Algo
		if req.OutputHashAlgo != "" {
			a, err := nixhash.ParseAlgo(req.OutputHashAlgo)
			if err != nil {
				return nil, err
			}
			algo = a
		}
		h, err := nixhash.ParseAny(req.OutputHash, algo)
		if err != nil {
			return nil, err
		}
		prefix := ""
		switch req.OutputHashMode {
		case "recursive":
			prefix = "r:"
		case "text":
			prefix = "text:"
		}
		d.Outputs["out"] = derivation.Output{HashAlgo: prefix + h.Algo.String(), Hash: h.Hex()}
	} else {
		for _, o := range req.Outputs {
			d.Outputs[o] = derivation.Output{}
		}
	}
	if err := m.hasher.FillOutputs(d, req.Name); err != nil {
		return nil, err
	}
	p, err := d.Path(dir, req.Name)
	if err != nil {
		return nil, err
	}
	drvPath := dir.Print(p)
	m.drvs[drvPath] = d
	res := &DerivationResult{DrvPath: drvPath, Outputs: map[string]string{}}
	for o, out := range d.Outputs {
		res.Outputs[o] = out.Path
	}
	return res, nil
}

func (osIO) AddPathToStore(req *PathRequest) (string, error) {
	var buf bytes.Buffer
	var keep nar.Filter
	if req.Filter != nil {
		keep = func(p string, fi fs.FileInfo) (bool, error) { return req.Filter(p, modeType(fi.Mode())) }
	}
	var h nixhash.Hash
	method := storepath.Recursive
	if req.Recursive {
		if err := nar.DumpPathFilter(&buf, req.Path, keep); err != nil {
			return "", err
		}
		h = nixhash.Sum(nixhash.SHA256, buf.Bytes())
	} else {
		b, err := os.ReadFile(req.Path)
		if err != nil {
			return "", err
		}
		h = nixhash.Sum(nixhash.SHA256, b)
		method = storepath.Flat
	}
	sp, err := storepath.Dir("/nix/store").MakeFixedOutputPath(req.Name, method, h, nil, false)
	if err != nil {
		return "", err
	}
	if req.ExpectedSHA256 != "" {
		want, err := nixhash.ParseAny(req.ExpectedSHA256, nixhash.SHA256)
		if err != nil {
			return "", err
		}
		if !want.Equal(h) {
			return "", ErrStorePathMismatch
		}
	}
	return "/nix/store/" + sp.String(), nil
}
