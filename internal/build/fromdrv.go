package build

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
)

// DrvReader returns the parsed derivation stored at a .drv path.
type DrvReader func(drvPath storepath.Path) (*derivation.Derivation, error)

// FromDerivation turns the derivation drv, stored at drvPath, into a
// Request, interpreting its attributes as Nix 2.8's ParsedDerivation
// does. read is used to find the output paths of its input derivations.
// Derivations whose output paths are not known in advance (floating
// content-addressed, impure, deferred) are refused.
func FromDerivation(dir storepath.Dir, drvPath storepath.Path, drv *derivation.Derivation, read DrvReader) (*Request, error) {
	name, ok := strings.CutSuffix(drvPath.Name(), storepath.DrvExtension)
	if !ok {
		return nil, fmt.Errorf("read derivation %s: not a .drv path", dir.Print(drvPath))
	}
	req := &Request{
		DrvPath: drvPath, Name: name, Platform: drv.Platform, Builder: drv.Builder,
		Args: slices.Clone(drv.Args), Env: drv.Env, Outputs: map[string]Output{},
		AllowSubstitutes: true,
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("derivation '%s': %s", dir.Print(drvPath), fmt.Sprintf(format, args...))
	}
	for id, o := range drv.Outputs {
		out := Output{}
		switch o.Kind() {
		case derivation.InputAddressed:
		case derivation.Fixed:
			m, h, err := o.FixedHash()
			if err != nil {
				return nil, fail("output '%s': %v", id, err)
			}
			out.Fixed = &FixedHash{Method: m, Hash: h}
		default:
			return nil, fail("output '%s' is content-addressed or deferred; ca-derivations are not supported", id)
		}
		p, err := dir.Parse(o.Path)
		if err != nil {
			return nil, fail("output '%s': %v", id, err)
		}
		out.Path = p
		req.Outputs[id] = out
	}
	for _, src := range drv.InputSrcs {
		p, err := dir.Parse(src)
		if err != nil {
			return nil, fail("input source: %v", err)
		}
		req.Inputs = append(req.Inputs, p)
	}
	for drvIn, outs := range drv.InputDrvs {
		dp, err := dir.Parse(drvIn)
		if err != nil {
			return nil, fail("input derivation: %v", err)
		}
		in, err := read(dp)
		if err != nil {
			return nil, fail("read input derivation: %v", err)
		}
		for _, o := range outs {
			io, ok := in.Outputs[o]
			if !ok {
				return nil, fail("input derivation '%s' has no output '%s'", drvIn, o)
			}
			if io.Path == "" {
				return nil, fail("input derivation '%s' output '%s' has no known path; ca-derivations are not supported", drvIn, o)
			}
			p, err := dir.Parse(io.Path)
			if err != nil {
				return nil, fail("input derivation output: %v", err)
			}
			req.Inputs = append(req.Inputs, p)
		}
	}
	slices.SortFunc(req.Inputs, storepath.Compare)
	req.Inputs = slices.Compact(req.Inputs)

	if js, ok := drv.Env["__json"]; ok {
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal([]byte(js), &attrs); err != nil {
			return nil, fail("structured attributes: %v", err)
		}
		req.StructuredAttrs = []byte(js)
		if err := req.structuredChecks(attrs); err != nil {
			return nil, fail("%v", err)
		}
		var err error
		get := func(k string) []string {
			if err != nil {
				return nil
			}
			var l []string
			l, err = jsonStrings(attrs, k)
			return l
		}
		req.ImpureEnvVars = get("impureEnvVars")
		req.RequiredSystemFeatures = get("requiredSystemFeatures")
		if err != nil {
			return nil, fail("%v", err)
		}
		if raw, ok := attrs["exportReferencesGraph"]; ok {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) == nil {
				req.ExportReferencesGraph = map[string][]storepath.Path{}
				for k, v := range m {
					var l []string
					if json.Unmarshal(v, &l) != nil {
						var one string
						if err := json.Unmarshal(v, &one); err != nil {
							return nil, fail("exportReferencesGraph.%s must be a list of store paths", k)
						}
						l = []string{one}
					}
					for _, ps := range l {
						p, _, err := dir.ParseSub(ps)
						if err != nil {
							return nil, fail("'exportReferencesGraph' contains a non-store path '%s'", ps)
						}
						req.ExportReferencesGraph[k] = append(req.ExportReferencesGraph[k], p)
					}
				}
			}
		}
		req.NoChroot = jsonBool(attrs, "__noChroot", false)
		req.AllowSubstitutes = jsonBool(attrs, "allowSubstitutes", true)
		req.PreferLocalBuild = jsonBool(attrs, "preferLocalBuild", false)
	} else {
		req.PassAsFile = envStrings(drv.Env, "passAsFile")
		req.ImpureEnvVars = envStrings(drv.Env, "impureEnvVars")
		req.RequiredSystemFeatures = envStrings(drv.Env, "requiredSystemFeatures")
		if s, ok := drv.Env["exportReferencesGraph"]; ok {
			ss := envStrings(drv.Env, "exportReferencesGraph")
			if len(ss)%2 != 0 {
				return nil, fail("odd number of tokens in 'exportReferencesGraph': '%s'", s)
			}
			req.ExportReferencesGraph = map[string][]storepath.Path{}
			for i := 0; i < len(ss); i += 2 {
				if !exportFileName.MatchString(ss[i]) {
					return nil, fail("invalid file name '%s' in 'exportReferencesGraph'", ss[i])
				}
				p, _, err := dir.ParseSub(ss[i+1])
				if err != nil {
					return nil, fail("'exportReferencesGraph' contains a non-store path '%s'", ss[i+1])
				}
				req.ExportReferencesGraph[ss[i]] = []storepath.Path{p}
			}
		}
		req.NoChroot = drv.Env["__noChroot"] == "1"
		if v, ok := drv.Env["allowSubstitutes"]; ok {
			req.AllowSubstitutes = v == "1"
		}
		req.PreferLocalBuild = drv.Env["preferLocalBuild"] == "1"
		c := OutputChecks{IgnoreSelfRefs: true}
		c.AllowedReferences = envStringsOpt(drv.Env, "allowedReferences")
		c.AllowedRequisites = envStringsOpt(drv.Env, "allowedRequisites")
		c.DisallowedReferences = envStringsOpt(drv.Env, "disallowedReferences")
		c.DisallowedRequisites = envStringsOpt(drv.Env, "disallowedRequisites")
		if c.AllowedReferences != nil || c.AllowedRequisites != nil || c.DisallowedReferences != nil || c.DisallowedRequisites != nil {
			req.Checks = map[string]OutputChecks{}
			for id := range req.Outputs {
				req.Checks[id] = c
			}
		}
	}
	return req, nil
}

var exportFileName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// envStrings splits a plain attribute on whitespace (Nix's
// getStringsAttr).
func envStrings(env map[string]string, k string) []string {
	return strings.FieldsFunc(env[k], func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// envStringsOpt is envStrings that tells an absent attribute (nil) from
// an empty one.
func envStringsOpt(env map[string]string, k string) []string {
	if _, ok := env[k]; !ok {
		return nil
	}
	l := envStrings(env, k)
	if l == nil {
		l = []string{}
	}
	return l
}

func jsonBool(attrs map[string]json.RawMessage, k string, def bool) bool {
	raw, ok := attrs[k]
	if !ok {
		return def
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return def
	}
	return b
}

func jsonStrings(attrs map[string]json.RawMessage, k string) ([]string, error) {
	raw, ok := attrs[k]
	if !ok {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("attribute '%s' must be a list of strings", k)
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

// structuredChecks reads outputChecks.<output> of structured attributes.
func (req *Request) structuredChecks(attrs map[string]json.RawMessage) error {
	raw, ok := attrs["outputChecks"]
	if !ok {
		return nil
	}
	var byOut map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byOut); err != nil {
		return fmt.Errorf("attribute 'outputChecks' must be an attribute set of attribute sets")
	}
	for id, m := range byOut {
		if _, ok := req.Outputs[id]; !ok {
			continue
		}
		var c OutputChecks
		for _, sz := range []struct {
			k string
			p **uint64
		}{{"maxSize", &c.MaxSize}, {"maxClosureSize", &c.MaxClosureSize}} {
			if v, ok := m[sz.k]; ok {
				var n uint64
				if err := json.Unmarshal(v, &n); err != nil {
					return fmt.Errorf("outputChecks.%s.%s must be an unsigned integer", id, sz.k)
				}
				*sz.p = &n
			}
		}
		var err error
		for _, l := range []struct {
			k string
			p *[]string
		}{
			{"allowedReferences", &c.AllowedReferences}, {"allowedRequisites", &c.AllowedRequisites},
			{"disallowedReferences", &c.DisallowedReferences}, {"disallowedRequisites", &c.DisallowedRequisites},
		} {
			if *l.p, err = jsonStrings(m, l.k); err != nil {
				return err
			}
		}
		if req.Checks == nil {
			req.Checks = map[string]OutputChecks{}
		}
		req.Checks[id] = c
	}
	return nil
}

// Node is one derivation of a build graph.
type Node struct {
	Request *Request
	// Deps are the .drv paths whose outputs Request needs.
	Deps []storepath.Path
}

// Graph is a derivation graph, keyed by .drv path.
type Graph map[storepath.Path]*Node

// LoadGraph reads the derivations at roots and, recursively, their input
// derivations, and converts each into a Request.
func LoadGraph(dir storepath.Dir, read DrvReader, roots []storepath.Path) (Graph, error) {
	g := Graph{}
	cache := map[storepath.Path]*derivation.Derivation{}
	cached := func(p storepath.Path) (*derivation.Derivation, error) {
		if d, ok := cache[p]; ok {
			return d, nil
		}
		d, err := read(p)
		if err != nil {
			return nil, err
		}
		cache[p] = d
		return d, nil
	}
	todo := slices.Clone(roots)
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, ok := g[p]; ok {
			continue
		}
		drv, err := cached(p)
		if err != nil {
			return nil, fmt.Errorf("read derivation %s: %w", dir.Print(p), err)
		}
		req, err := FromDerivation(dir, p, drv, cached)
		if err != nil {
			return nil, err
		}
		n := &Node{Request: req}
		for in := range drv.InputDrvs {
			dp, err := dir.Parse(in)
			if err != nil {
				return nil, err
			}
			n.Deps = append(n.Deps, dp)
			todo = append(todo, dp)
		}
		slices.SortFunc(n.Deps, storepath.Compare)
		g[p] = n
	}
	return g, nil
}
