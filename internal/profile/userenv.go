package profile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
	"cairn/internal/store/refscan"
)

// UserEnvElement is one element of a nix-env user environment, the
// pseudo-derivation nix-env records in manifest.nix.
type UserEnvElement struct {
	Name   string // e.g. "hello-1.0"
	System string // "" if unknown (store paths installed directly)
	// Outputs to install, in order; OutPath is the first one's path.
	Outputs []EnvOutput
	// Priority is meta.priority; nil leaves meta empty (priority 5).
	Priority *int
}

// EnvOutput is an output of a UserEnvElement.
type EnvOutput struct {
	Name string
	Path storepath.Path
}

// StorePathElement is the element nix-env makes for `nix-env -i
// /nix/store/…-name`: named after the path, with the single output out.
// When nix-env later re-reads such an element from manifest.nix, it has
// System "unknown" (nix-env's default), which then is written out.
func StorePathElement(p storepath.Path) UserEnvElement {
	return UserEnvElement{Name: p.Name(), Outputs: []EnvOutput{{"out", p}}}
}

// UserEnvStore is what NewUserEnv needs; *local.Store implements it.
type UserEnvStore interface {
	Store
	AddText(ctx context.Context, name string, contents []byte, refs []storepath.Path) (*store.PathInfo, error)
	AddTempRoot(ctx context.Context, p storepath.Path) error
}

var _ UserEnvStore = (*local.Store)(nil)

// nixString prints s as Nix's value printer does.
func nixString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// ManifestNix renders elems as nix-env 2.8 writes env-manifest.nix (a
// list of attribute sets printed by Nix's value printer, attributes in
// lexicographic order).
func ManifestNix(dir storepath.Dir, elems []UserEnvElement) string {
	var b strings.Builder
	b.WriteString("[ ")
	for _, e := range elems {
		attrs := map[string]string{}
		str := func(s string) string { var sb strings.Builder; nixString(&sb, s); return sb.String() }
		attrs["type"] = str("derivation")
		attrs["name"] = str(e.Name)
		if e.System != "" {
			attrs["system"] = str(e.System)
		}
		var outs strings.Builder
		outs.WriteString("[ ")
		for _, o := range e.Outputs {
			outs.WriteString(str(o.Name) + " ")
			attrs[o.Name] = "{ outPath = " + str(dir.Print(o.Path)) + "; }"
		}
		outs.WriteString("]")
		attrs["outputs"] = outs.String()
		if len(e.Outputs) > 0 {
			attrs["outPath"] = str(dir.Print(e.Outputs[0].Path))
		}
		if e.Priority != nil {
			attrs["meta"] = "{ priority = " + strconv.Itoa(*e.Priority) + "; }"
		} else {
			attrs["meta"] = "{ }"
		}
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{ ")
		for _, k := range keys {
			b.WriteString(k + " = " + attrs[k] + "; ")
		}
		b.WriteString("} ")
	}
	b.WriteString("]")
	return b.String()
}

// UserEnvDerivation returns the derivation nix-env 2.8 instantiates from
// <nix/buildenv.nix> for elems and the manifest at manifestPath, with
// its output path filled in.
func UserEnvDerivation(dir storepath.Dir, elems []UserEnvElement, manifestPath storepath.Path) (*derivation.Derivation, error) {
	var words []string
	for _, e := range elems {
		prio := DefaultPriority
		if e.Priority != nil {
			prio = *e.Priority
		}
		words = append(words, "true", strconv.Itoa(prio), strconv.Itoa(len(e.Outputs)))
		for _, o := range e.Outputs {
			words = append(words, dir.Print(o.Path))
		}
	}
	d := &derivation.Derivation{
		Outputs:   map[string]derivation.Output{"out": {}},
		InputDrvs: map[string][]string{},
		InputSrcs: []string{dir.Print(manifestPath)},
		Platform:  "builtin",
		Builder:   "builtin:buildenv",
		Args:      []string{},
		Env: map[string]string{
			"allowSubstitutes": "",
			"builder":          "builtin:buildenv",
			"derivations":      strings.Join(words, " "),
			"manifest":         dir.Print(manifestPath),
			"name":             "user-environment",
			"preferLocalBuild": "1",
			"system":           "builtin",
		},
	}
	h := derivation.NewHasher(dir, func(p string) (*derivation.Derivation, error) {
		return nil, fmt.Errorf("user environment has no input derivations (asked for %s)", p)
	})
	if err := h.FillOutputs(d, "user-environment"); err != nil {
		return nil, err
	}
	return d, nil
}

// NewUserEnv builds the user environment of elems exactly as nix-env 2.8
// does (for elements without derivations): env-manifest.nix is added as
// a text path referring to the elements' outputs, the builtin:buildenv
// derivation user-environment.drv is added, and its output (the symlink
// forest plus a manifest.nix link) is built and registered with the
// derivation as deriver. For the same elements in the same order, the
// manifest, derivation and output paths and the output's NAR are those
// of Nix.
func NewUserEnv(ctx context.Context, st UserEnvStore, elems []UserEnvElement) (out, drvPath storepath.Path, res *EnvResult, err error) {
	dir := st.Dir()
	var refs []storepath.Path
	var pkgs []Package
	for _, e := range elems {
		prio := DefaultPriority
		if e.Priority != nil {
			prio = *e.Priority
		}
		for _, o := range e.Outputs {
			ok, err := st.IsValid(ctx, o.Path)
			if err != nil {
				return out, drvPath, nil, err
			}
			if !ok {
				return out, drvPath, nil, &store.NotValidError{Path: dir.Print(o.Path)}
			}
			refs = append(refs, o.Path)
			pkgs = append(pkgs, Package{Path: dir.Print(o.Path), Active: true, Priority: prio})
		}
	}
	refs = store.SortPaths(refs)
	mInfo, err := st.AddText(ctx, "env-manifest.nix", []byte(ManifestNix(dir, elems)), refs)
	if err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	d, err := UserEnvDerivation(dir, elems, mInfo.Path)
	if err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	drvRefs := []storepath.Path{mInfo.Path}
	dInfo, err := st.AddText(ctx, "user-environment.drv", d.Bytes(), drvRefs)
	if err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	drvPath = dInfo.Path
	out, err = dir.Parse(d.Outputs["out"].Path)
	if err != nil {
		return out, drvPath, nil, err
	}
	if err := st.AddTempRoot(ctx, out); err != nil {
		return out, drvPath, nil, err
	}
	if ok, err := st.IsValid(ctx, out); err != nil || ok {
		return out, drvPath, &EnvResult{}, err
	}

	// Build: the forest plus manifest.nix, in a scratch directory, then
	// added as the derivation's output.
	tmp, err := os.MkdirTemp("", "cairn-user-env-")
	if err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	defer os.RemoveAll(tmp)
	res, err = BuildEnv(tmp, pkgs, EnvOptions{Real: realFunc(st)})
	if err != nil {
		return out, drvPath, nil, err
	}
	if err := os.Symlink(dir.Print(mInfo.Path), filepath.Join(tmp, "manifest.nix")); err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	var narBuf bytes.Buffer
	if err := nar.DumpPath(&narBuf, tmp); err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	cands := append([]storepath.Path{mInfo.Path, out}, refs...)
	hashParts := make([]string, len(cands))
	for i, p := range cands {
		hashParts[i] = p.HashPart()
	}
	scan := refscan.New(hashParts)
	scan.Write(narBuf.Bytes())
	found := map[string]bool{}
	for _, h := range scan.Found() {
		found[h] = true
	}
	var outRefs []storepath.Path
	for _, p := range cands {
		if found[p.HashPart()] {
			outRefs = append(outRefs, p)
		}
	}
	info := &store.PathInfo{
		Path:       out,
		Deriver:    drvPath,
		NarHash:    nixhash.Sum(nixhash.SHA256, narBuf.Bytes()),
		NarSize:    uint64(narBuf.Len()),
		References: store.SortPaths(outRefs),
		Ultimate:   true,
	}
	if err := st.AddNar(ctx, info, io.Reader(&narBuf)); err != nil {
		return out, drvPath, nil, fmt.Errorf("build user environment: %w", err)
	}
	return out, drvPath, res, nil
}
