package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"cairn/internal/compat/storepath"
)

// ManifestVersion is the manifest.json version Nix 2.8 writes. It reads
// versions 1 (uri/originalUri) and 2 (url/originalUrl).
const ManifestVersion = 2

// Source records where a profile element came from (a flake output).
type Source struct {
	OriginalURL string // the flake reference as given
	URL         string // the locked flake reference
	AttrPath    string
}

// Element is one installed package of a profile.
type Element struct {
	StorePaths []storepath.Path // sorted, without duplicates
	Active     bool
	Source     *Source // nil for store paths installed directly
}

// Manifest is the list of elements of a profile (manifest.json).
type Manifest struct {
	Elements []Element
}

// ParseManifest decodes manifest.json data (versions 1 and 2).
func ParseManifest(data []byte, dir storepath.Dir) (*Manifest, error) {
	var raw struct {
		Version  *int              `json:"version"`
		Elements []json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse profile manifest: %w", err)
	}
	version := 0
	if raw.Version != nil {
		version = *raw.Version
	}
	urlKey, origKey := "", ""
	switch version {
	case 1:
		urlKey, origKey = "uri", "originalUri"
	case 2:
		urlKey, origKey = "url", "originalUrl"
	default:
		return nil, fmt.Errorf("profile manifest has unsupported version %d", version)
	}
	m := &Manifest{}
	for _, re := range raw.Elements {
		var e map[string]json.RawMessage
		if err := json.Unmarshal(re, &e); err != nil {
			return nil, fmt.Errorf("parse profile manifest: %w", err)
		}
		var el Element
		var paths []string
		if err := json.Unmarshal(e["storePaths"], &paths); err != nil {
			return nil, fmt.Errorf("parse profile manifest: storePaths: %w", err)
		}
		for _, s := range paths {
			p, err := dir.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("parse profile manifest: %w", err)
			}
			el.StorePaths = append(el.StorePaths, p)
		}
		el.StorePaths = sortPaths(el.StorePaths)
		if err := json.Unmarshal(e["active"], &el.Active); err != nil {
			return nil, fmt.Errorf("parse profile manifest: active: %w", err)
		}
		str := func(k string) string {
			var s string
			json.Unmarshal(e[k], &s)
			return s
		}
		if u := str(urlKey); u != "" {
			el.Source = &Source{OriginalURL: str(origKey), URL: u, AttrPath: str("attrPath")}
		}
		m.Elements = append(m.Elements, el)
	}
	return m, nil
}

func sortPaths(ps []storepath.Path) []storepath.Path {
	slices.SortFunc(ps, storepath.Compare)
	return slices.Compact(ps)
}

// JSON encodes m as Nix 2.8 writes manifest.json: version 2, compact,
// keys sorted, non-ASCII text raw (nlohmann::json::dump()).
func (m *Manifest) JSON(dir storepath.Dir) []byte {
	var b bytes.Buffer
	b.WriteString(`{"elements":[`)
	for i, e := range m.Elements {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"active":%t`, e.Active)
		if e.Source != nil {
			b.WriteString(`,"attrPath":`)
			jsonString(&b, e.Source.AttrPath)
			b.WriteString(`,"originalUrl":`)
			jsonString(&b, e.Source.OriginalURL)
		}
		b.WriteString(`,"storePaths":[`)
		for j, p := range sortPaths(slices.Clone(e.StorePaths)) {
			if j > 0 {
				b.WriteByte(',')
			}
			jsonString(&b, dir.Print(p))
		}
		b.WriteByte(']')
		if e.Source != nil {
			b.WriteString(`,"url":`)
			jsonString(&b, e.Source.URL)
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, `],"version":%d}`, ManifestVersion)
	return b.Bytes()
}

// jsonString writes s as nlohmann::json does: '"', '\\' and control
// characters escaped (\b \f \n \r \t, else \u00xx), other bytes raw;
// invalid UTF-8 is replaced by U+FFFD.
func jsonString(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// SplitName splits a package name at the first '-' not followed by a
// letter into name and version, as Nix's DrvName ("apache-httpd-2.0.48"
// → "apache-httpd", "2.0.48").
func SplitName(s string) (name, version string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && i+1 < len(s) && !isAlpha(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Describe names e as `nix profile` does: the flake reference and
// attribute path, else the package names of its store paths.
func (e *Element) Describe() string {
	if e.Source != nil {
		return e.Source.OriginalURL + "#" + e.Source.AttrPath
	}
	names := map[string]bool{}
	for _, p := range e.StorePaths {
		n, _ := SplitName(p.Name())
		names[n] = true
	}
	return strings.Join(sortedKeys(names), ", ")
}

// Versions lists the versions of e's store paths as `nix profile
// history` shows them ("∅" for none, "ε" for an empty version).
func (e *Element) Versions() string {
	vs := map[string]bool{}
	for _, p := range e.StorePaths {
		_, v := SplitName(p.Name())
		vs[v] = true
	}
	return ShowVersions(sortedKeys(vs))
}

// ShowVersions renders a set of versions as Nix's showVersions.
func ShowVersions(versions []string) string {
	if len(versions) == 0 {
		return "∅"
	}
	set := map[string]bool{}
	for _, v := range versions {
		if v == "" {
			v = "ε"
		}
		set[v] = true
	}
	return strings.Join(sortedKeys(set), ", ")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func compareElements(a, b *Element) int {
	if c := strings.Compare(a.Describe(), b.Describe()); c != 0 {
		return c
	}
	return slices.CompareFunc(a.StorePaths, b.StorePaths, storepath.Compare)
}

// WriteDiff writes the changes from prev to cur as `nix profile history`
// does, each line prefixed by indent ("hello: ∅ -> 1.0", "No changes.").
func WriteDiff(b *strings.Builder, prev, cur *Manifest, indent string) {
	sorted := func(m *Manifest) []Element {
		if m == nil {
			return nil
		}
		out := slices.Clone(m.Elements)
		slices.SortStableFunc(out, func(x, y Element) int { return compareElements(&x, &y) })
		return out
	}
	p, c := sorted(prev), sorted(cur)
	i, j := 0, 0
	changes := false
	for i < len(p) || j < len(c) {
		switch {
		case j < len(c) && (i == len(p) || p[i].Describe() > c[j].Describe()):
			fmt.Fprintf(b, "%s%s: ∅ -> %s\n", indent, c[j].Describe(), c[j].Versions())
			changes = true
			j++
		case i < len(p) && (j == len(c) || p[i].Describe() < c[j].Describe()):
			fmt.Fprintf(b, "%s%s: %s -> ∅\n", indent, p[i].Describe(), p[i].Versions())
			changes = true
			i++
		default:
			if v1, v2 := p[i].Versions(), c[j].Versions(); v1 != v2 {
				fmt.Fprintf(b, "%s%s: %s -> %s\n", indent, p[i].Describe(), v1, v2)
				changes = true
			}
			i++
			j++
		}
	}
	if !changes {
		fmt.Fprintf(b, "%sNo changes.\n", indent)
	}
}

// parseManifestNix extracts the output paths of the elements of a
// manifest.nix as nix-env writes it (a list of attribute sets printed by
// Nix's value printer): the outPath attribute of each top-level element.
// It is not a Nix evaluator; it relies on the printer's shape.
func parseManifestNix(data []byte, dir storepath.Dir) (*Manifest, error) {
	m := &Manifest{}
	depth := 0 // nesting of [ and {
	s := string(data)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		default:
			if depth == 2 && strings.HasPrefix(s[i:], "outPath = \"") && (i == 0 || s[i-1] == ' ') {
				rest := s[i+len("outPath = \""):]
				end := strings.IndexByte(rest, '"')
				if end < 0 {
					return nil, fmt.Errorf("parse manifest.nix: unterminated string")
				}
				p, err := dir.Parse(rest[:end])
				if err != nil {
					return nil, fmt.Errorf("parse manifest.nix: %w", err)
				}
				m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{p}, Active: true})
				i += len("outPath = \"") + end
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("parse manifest.nix: unbalanced brackets")
	}
	return m, nil
}
