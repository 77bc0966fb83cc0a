package derivation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"cairn/internal/compat/nixjson"
)

// WriteJSON writes drvs (keyed by .drv path) as Nix 2.8's
// `nix show-derivation` prints them: an object sorted by path, each with
// "outputs", "inputSrcs", "inputDrvs", "system", "builder", "args" and
// "env", indented by two spaces, with a final newline. Strings are escaped
// as Nix does (only '"', '\\' and control characters).
func WriteJSON(w io.Writer, drvs map[string]*Derivation) error {
	var root jobj
	paths := make([]string, 0, len(drvs))
	for p := range drvs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		root = append(root, jkv{p, drvs[p].jsonValue()})
	}
	var b bytes.Buffer
	writeJSON(&b, root, 0)
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func (d *Derivation) jsonValue() jobj {
	var outs jobj
	for _, id := range sortedKeys(d.Outputs) {
		o := d.Outputs[id]
		var v jobj
		switch o.Kind() {
		case InputAddressed:
			v = jobj{{"path", o.Path}}
		case Fixed:
			v = jobj{{"path", o.Path}, {"hashAlgo", o.HashAlgo}, {"hash", o.Hash}}
		case Floating:
			v = jobj{{"hashAlgo", o.HashAlgo}}
		case Impure:
			v = jobj{{"hashAlgo", o.HashAlgo}, {"impure", true}}
		default:
			v = jobj{}
		}
		outs = append(outs, jkv{id, v})
	}
	srcs := jlist{}
	for _, s := range d.InputSrcs {
		srcs = append(srcs, s)
	}
	var inputs jobj
	for _, p := range sortedKeys(d.InputDrvs) {
		l := jlist{}
		for _, o := range d.InputDrvs[p] {
			l = append(l, o)
		}
		inputs = append(inputs, jkv{p, l})
	}
	args := jlist{}
	for _, a := range d.Args {
		args = append(args, a)
	}
	var env jobj
	for _, k := range sortedKeys(d.Env) {
		env = append(env, jkv{k, d.Env[k]})
	}
	return jobj{
		{"outputs", outs},
		{"inputSrcs", srcs},
		{"inputDrvs", inputs},
		{"system", d.Platform},
		{"builder", d.Builder},
		{"args", args},
		{"env", env},
	}
}

// Ordered JSON values: string, bool, jobj, jlist.
type (
	jobj []jkv
	jkv  struct {
		k string
		v any
	}
	jlist []any
)

func writeJSON(b *bytes.Buffer, v any, depth int) {
	indent := func(d int) {
		b.WriteByte('\n')
		for i := 0; i < d; i++ {
			b.WriteString("  ")
		}
	}
	switch v := v.(type) {
	case string:
		b.Write(nixjson.AppendString(b.AvailableBuffer(), v))
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case jobj:
		b.WriteByte('{')
		for i, kv := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			b.Write(nixjson.AppendString(b.AvailableBuffer(), kv.k))
			b.WriteString(": ")
			writeJSON(b, kv.v, depth+1)
		}
		if len(v) > 0 {
			indent(depth)
		}
		b.WriteByte('}')
	case jlist:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			writeJSON(b, e, depth+1)
		}
		if len(v) > 0 {
			indent(depth)
		}
		b.WriteByte(']')
	}
}

// ParseJSON parses the output of `nix show-derivation` (Nix 2.8 shape).
// Strings that are not valid UTF-8 do not survive encoding/json.
func ParseJSON(data []byte) (map[string]*Derivation, error) {
	var raw map[string]struct {
		Outputs map[string]struct {
			Path     string `json:"path"`
			HashAlgo string `json:"hashAlgo"`
			Hash     string `json:"hash"`
			Impure   bool   `json:"impure"`
		} `json:"outputs"`
		InputSrcs []string            `json:"inputSrcs"`
		InputDrvs map[string][]string `json:"inputDrvs"`
		System    string              `json:"system"`
		Builder   string              `json:"builder"`
		Args      []string            `json:"args"`
		Env       map[string]string   `json:"env"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse derivation json: %w", err)
	}
	res := map[string]*Derivation{}
	for p, r := range raw {
		d := &Derivation{
			Outputs:   map[string]Output{},
			InputDrvs: r.InputDrvs,
			InputSrcs: r.InputSrcs,
			Platform:  r.System,
			Builder:   r.Builder,
			Args:      r.Args,
			Env:       r.Env,
		}
		if d.InputDrvs == nil {
			d.InputDrvs = map[string][]string{}
		}
		if d.Env == nil {
			d.Env = map[string]string{}
		}
		for id, o := range r.Outputs {
			out := Output{Path: o.Path, HashAlgo: o.HashAlgo, Hash: o.Hash}
			if o.Impure {
				out.Hash = "impure"
			}
			d.Outputs[id] = out
		}
		if err := d.validateOutputs(); err != nil {
			return nil, fmt.Errorf("parse derivation json %s: %w", p, err)
		}
		res[p] = d
	}
	return res, nil
}
