package internal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// This test enforces the "Dependency direction" of ../shared/STYLE.md: X ← Y means Y may import
// X, and nothing imports upward. Each rule below lists, for a package (or a pkg/* family), every
// internal package it may import: the arrows of STYLE.md closed under transitivity, written out.
// Packages that do not exist yet are fine; an internal package that no rule covers is an error,
// so a new package gets a deliberate place in the picture.
//
//	Formats:   nixbase32 ← nixhash ← storepath ← {nar, narinfo+signature, derivation, wire}
//	Store:     {compat/*, fsutil} ← store/* ← {build/*, fetch}
//	Language:  lang/token ← scanner ← ast ← parser ← resolve ← eval ← eval/builtins
//	           (eval and eval/* may also import compat/nixbase32 and compat/nixhash, pure leaf
//	           encodings; lang/* imports nothing internal except lower lang packages)
//	Wiring:    {eval, store, build, fetch, compat} ← glue ← flake (flake also uses fetch, store)
//	System:    {store, fsutil} ← profile ← system, and {store, compat/nar} ← oci
//	Top:       everything ← cli ← cmd/cairn
//
// Patterns: "a/b" is that package, "a/b/*" its subpackages, "a/b/**" both.

// layerRule says what the packages matching pkg may import.
type layerRule struct {
	pkg string
	// internal lists the patterns of internal packages (paths below cairn/internal/, or
	// "cmd/..." below cairn/) that pkg may import; "*" allows every internal package.
	internal []string
	// external lists the allowed import path prefixes outside the standard library; nil means
	// any module may be used.
	external []string
}

var (
	stdOnly     = []string{}
	stdXCrypto  = []string{"golang.org/x/crypto"}
	langBelow   = []string{"lang/token", "lang/scanner", "lang/ast", "lang/parser", "lang/resolve"}
	evalImports = []string{"lang/*", "eval", "eval/*", "compat/nixbase32", "compat/nixhash"}
	compatBase  = []string{"compat/nixbase32", "compat/nixhash", "compat/nixjson", "compat/storepath"}
	storeBase   = []string{"compat/**", "compress/*", "fsutil", "store/**"}
	evalAll     = []string{"lang/**", "eval/**"}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var layerRules = []layerRule{
	// Formats, pure: stdlib and x/crypto only.
	{pkg: "compat/nixbase32", internal: nil, external: stdXCrypto},
	{pkg: "compat/nixjson", internal: nil, external: stdXCrypto},
	{pkg: "compat/nixhash", internal: []string{"compat/nixbase32"}, external: stdXCrypto},
	{pkg: "compat/storepath", internal: []string{"compat/nixbase32", "compat/nixhash"}, external: stdXCrypto},
	{pkg: "compat/nar", internal: compatBase, external: stdXCrypto},
	{pkg: "compat/narinfo", internal: concat(compatBase, []string{"compat/signature"}), external: stdXCrypto},
	{pkg: "compat/signature", internal: concat(compatBase, []string{"compat/narinfo"}), external: stdXCrypto},
	{pkg: "compat/derivation", internal: compatBase, external: stdXCrypto},
	{pkg: "compat/wire", internal: compatBase, external: stdXCrypto},
	// Decompressors: pure, no internal imports (ulikunitz/xz only as
	// the tests' reference decoder).
	{pkg: "compress/*", internal: nil, external: []string{"github.com/ulikunitz/xz"}},

	// Language: syntax only, stdlib only.
	{pkg: "lang/token", internal: nil, external: stdOnly},
	{pkg: "lang/scanner", internal: langBelow[:1], external: stdOnly},
	{pkg: "lang/ast", internal: langBelow[:2], external: stdOnly},
	{pkg: "lang/parser", internal: langBelow[:3], external: stdOnly},
	{pkg: "lang/resolve", internal: langBelow[:4], external: stdOnly},
	{pkg: "lang/*", internal: langBelow, external: stdOnly}, // format and later lang packages
	{pkg: "eval", internal: evalImports, external: stdOnly},
	{pkg: "eval/*", internal: evalImports, external: stdOnly}, // eval/builtins and eval's leaf helpers

	// Store and build.
	{pkg: "fsutil"},
	{pkg: "store", internal: storeBase},
	{pkg: "store/*", internal: storeBase},
	{pkg: "build", internal: concat(storeBase, []string{"build/*"})},
	{pkg: "build/*", internal: concat(storeBase, []string{"build", "build/*"})},
	{pkg: "fetch", internal: storeBase},

	// Wiring.
	{pkg: "glue", internal: concat(evalAll, storeBase, []string{"build/**", "fetch"})},
	{pkg: "flake", internal: concat(evalAll, storeBase, []string{"build/**", "fetch", "glue"})},
	{pkg: "pkglist", internal: evalAll, external: stdOnly}, // nix-env -qa over an evaluated value

	// System.
	{pkg: "profile", internal: storeBase},
	{pkg: "system", internal: concat(storeBase, []string{"profile"})},
	{pkg: "oci", internal: storeBase},

	// Top.
	{pkg: "cli", internal: []string{"*"}},
	{pkg: "cli/*", internal: []string{"*"}},
	{pkg: "cmd/cairn", internal: []string{"*"}},

	// Test-only packages.
	{pkg: "testutil"},
	{pkg: "langsuite"},
}

// testOnly lists packages that only _test.go files may import (STYLE.md, rule 7).
var testOnly = []string{"store/storetest", "testutil"}

// flagUsers may import "flag": nothing below cli reads flags (STYLE.md, rule 5).
var flagUsers = []string{"cli", "cli/*", "cmd/cairn"}

// match reports whether the package rel (relative to cairn/internal/, or "cmd/...") matches
// pattern.
func match(pattern, rel string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, "/**"):
		p := strings.TrimSuffix(pattern, "/**")
		return rel == p || strings.HasPrefix(rel, p+"/")
	case strings.HasSuffix(pattern, "/*"):
		return strings.HasPrefix(rel, strings.TrimSuffix(pattern, "*"))
	}
	return rel == pattern
}

func matchAny(patterns []string, rel string) bool {
	for _, p := range patterns {
		if match(p, rel) {
			return true
		}
	}
	return false
}

// ruleFor returns the first rule whose pkg matches rel.
func ruleFor(rel string) (layerRule, bool) {
	for _, r := range layerRules {
		if match(r.pkg, rel) {
			return r, true
		}
	}
	return layerRule{}, false
}

// checkImports returns the violations of package rel importing imports (full import paths).
func checkImports(module, rel string, imports []string) []string {
	r, ok := ruleFor(rel)
	if !ok {
		return []string{fmt.Sprintf("%s: no layer rule: give it a place in internal/layers_test.go and STYLE.md", rel)}
	}
	var bad []string
	for _, imp := range imports {
		irel, internal := relPath(module, imp)
		switch {
		case internal:
			if matchAny(testOnly, irel) {
				bad = append(bad, fmt.Sprintf("%s imports %s, which only tests may import", rel, irel))
			} else if !matchAny(r.internal, irel) {
				bad = append(bad, fmt.Sprintf("%s imports %s: not allowed by STYLE.md \"Dependency direction\"", rel, irel))
			}
		case imp == "flag" && !matchAny(flagUsers, rel):
			bad = append(bad, fmt.Sprintf("%s imports flag: only cli reads flags", rel))
		case isStd(imp), strings.HasPrefix(imp, module+"/"):
		case r.external != nil && !hasPrefixAny(imp, r.external):
			allowed := "the standard library"
			if len(r.external) > 0 {
				allowed += " and " + strings.Join(r.external, ", ")
			}
			bad = append(bad, fmt.Sprintf("%s imports %s: it may only use %s", rel, imp, allowed))
		}
	}
	return bad
}

// relPath maps "cairn/internal/x/y" to "x/y" and "cairn/cmd/z" to "cmd/z".
func relPath(module, imp string) (string, bool) {
	if rel, ok := strings.CutPrefix(imp, module+"/internal/"); ok {
		return rel, true
	}
	if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
		return rel, true
	}
	return "", false
}

// isStd reports whether imp is a standard library package: its first element has no dot.
func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func hasPrefixAny(imp string, prefixes []string) bool {
	for _, p := range prefixes {
		if imp == p || strings.HasPrefix(imp, p+"/") {
			return true
		}
	}
	return false
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

func TestLayers(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// -e: a package that does not compile yet still reports its imports.
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", "./...")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	module := "cairn"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		rel, ok := relPath(module, p.ImportPath)
		if !ok || !(strings.HasPrefix(p.ImportPath, module+"/internal/") || strings.HasPrefix(rel, "cmd/")) {
			continue
		}
		n++
		for _, v := range checkImports(module, rel, p.Imports) {
			t.Error(v)
		}
	}
	if n == 0 {
		t.Fatal("go list found no internal packages")
	}
}

func TestLayerRules(t *testing.T) {
	tests := []struct {
		pkg     string
		imports []string
		want    string
	}{
		{"lang/token", []string{"fmt"}, ""},
		{"lang/scanner", []string{"cairn/internal/lang/token"}, ""},
		{"lang/token", []string{"cairn/internal/lang/scanner"}, "lang/token imports lang/scanner: not allowed"},
		{"lang/parser", []string{"cairn/internal/eval"}, "lang/parser imports eval: not allowed"},
		{"lang/format", []string{"cairn/internal/lang/ast", "cairn/internal/lang/parser"}, ""},
		{"lang/ast", []string{"golang.org/x/text"}, "lang/ast imports golang.org/x/text: it may only use the standard library"},
		{"eval", []string{"cairn/internal/lang/ast", "cairn/internal/compat/nixhash", "cairn/internal/eval/numfmt"}, ""},
		{"eval", []string{"cairn/internal/compat/storepath"}, "eval imports compat/storepath: not allowed"},
		{"eval", []string{"cairn/internal/glue"}, "eval imports glue: not allowed"},
		{"eval/builtins", []string{"cairn/internal/eval", "cairn/internal/compat/nixbase32"}, ""},
		{"eval/builtins", []string{"cairn/internal/store"}, "eval/builtins imports store: not allowed"},
		{"compat/nixhash", []string{"cairn/internal/compat/nixbase32", "golang.org/x/crypto/blake2b"}, ""},
		{"compat/nixbase32", []string{"cairn/internal/compat/nixhash"}, "compat/nixbase32 imports compat/nixhash: not allowed"},
		{"compat/nar", []string{"cairn/internal/compat/storepath"}, ""},
		{"compat/nar", []string{"cairn/internal/compat/derivation"}, "compat/nar imports compat/derivation: not allowed"},
		{"compat/narinfo", []string{"cairn/internal/compat/signature"}, ""},
		{"compat/wire", []string{"github.com/klauspost/compress/zstd"}, "compat/wire imports github.com/klauspost/compress/zstd: it may only use the standard library and golang.org/x/crypto"},
		{"store/local", []string{"cairn/internal/store", "cairn/internal/fsutil", "modernc.org/sqlite"}, ""},
		{"store", []string{"cairn/internal/build"}, "store imports build: not allowed"},
		{"store", []string{"cairn/internal/store/storetest"}, "store imports store/storetest, which only tests may import"},
		{"fsutil", []string{"cairn/internal/store"}, "fsutil imports store: not allowed"},
		{"build/sandbox", []string{"cairn/internal/store", "golang.org/x/sys/unix"}, ""},
		{"build", []string{"cairn/internal/eval"}, "build imports eval: not allowed"},
		{"glue", []string{"cairn/internal/eval", "cairn/internal/store/local", "cairn/internal/build", "cairn/internal/fetch"}, ""},
		{"glue", []string{"cairn/internal/cli"}, "glue imports cli: not allowed"},
		{"system", []string{"cairn/internal/profile", "cairn/internal/store"}, ""},
		{"system", []string{"cairn/internal/glue"}, "system imports glue: not allowed"},
		{"profile", []string{"cairn/internal/system"}, "profile imports system: not allowed"},
		{"oci", []string{"cairn/internal/compat/nar", "cairn/internal/store"}, ""},
		{"cli", []string{"cairn/internal/glue", "cairn/internal/system", "flag"}, ""},
		{"store", []string{"flag"}, "store imports flag: only cli reads flags"},
		{"cmd/cairn", []string{"cairn/internal/cli"}, ""},
		{"mystery", []string{"fmt"}, "mystery: no layer rule"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+"/"+strings.Join(tt.imports, ","), func(t *testing.T) {
			got := strings.Join(checkImports("cairn", tt.pkg, tt.imports), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
