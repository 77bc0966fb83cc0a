package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// devEnv is the build environment of a derivation as `cairn develop` and
// `cairn print-dev-env` show it.
//
// Nix 2.8 computes it by building a modified derivation whose builder
// sources get-env.sh after the real setup and dumps bash's variables and
// functions. cairn computes it directly from the .drv instead: the
// variables are exactly the ones the builder gets (the derivation's
// environment plus NIX_STORE and NIX_BUILD_CORES, as build.setup makes
// them), without Nix's ignored ones (HOME, TMPDIR, TERM, NIX_LOG_FD, ...),
// and with the output paths redirected to outputsDir/NAME; the shell
// code then sources $stdenv/setup when there is one, which defines the
// setup's functions and variables in the shell itself. So --json lists
// only those variables (and get-env.sh's IN_NIX_SHELL and
// dontAddDisableDepTrack), no bash functions, and its outputs are the
// redirected ones (Nix's show the paths of its modified derivation).
type devEnv struct {
	vars       map[string]string // exported variables
	passAsFile map[string]string // name → contents, written at shell start
	builder    string
	args       []string
	outputs    map[string]string // output name → redirected path
}

// devEnvIgnored are the variables Nix 2.8's develop drops from the
// builder's environment (ignoreVars in develop.cc); the shell sets its
// own.
var devEnvIgnored = []string{"BASHOPTS", "HOME", "NIX_BUILD_TOP", "NIX_ENFORCE_PURITY", "NIX_LOG_FD", "NIX_REMOTE",
	"PPID", "SHELLOPTS", "SSL_CERT_FILE", "TEMP", "TEMPDIR", "TERM", "TMP", "TMPDIR", "TZ", "UID"}

// newDevEnv computes the development environment of drv, whose outputs
// are redirected to outputsDir/NAME.
func newDevEnv(dir storepath.Dir, drv *derivation.Derivation, outputsDir string, cores int) *devEnv {
	e := &devEnv{vars: map[string]string{}, passAsFile: map[string]string{}, builder: drv.Builder, args: slices.Clone(drv.Args), outputs: map[string]string{}}
	var pairs []string
	names := make([]string, 0, len(drv.Outputs))
	for n := range drv.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		to := filepath.Join(outputsDir, n)
		e.outputs[n] = to
		if p := drv.Outputs[n].Path; p != "" {
			pairs = append(pairs, p, to)
		}
		pairs = append(pairs, derivation.HashPlaceholder(n), to)
	}
	rw := strings.NewReplacer(pairs...)
	pass := strings.Fields(drv.Env["passAsFile"])
	for k, v := range drv.Env {
		if slices.Contains(devEnvIgnored, k) {
			continue
		}
		v = rw.Replace(v)
		if slices.Contains(pass, k) {
			e.passAsFile[k] = v
		}
		e.vars[k] = v
	}
	// The builder's own variables (build.setup) and get-env.sh's.
	if _, ok := e.vars["PATH"]; !ok {
		e.vars["PATH"] = "/path-not-set"
	}
	e.vars["IN_NIX_SHELL"] = "impure"
	e.vars["dontAddDisableDepTrack"] = "1"
	e.vars["NIX_STORE"] = string(dir)
	e.vars["NIX_BUILD_CORES"] = strconv.Itoa(cores)
	for i, a := range e.args {
		e.args[i] = rw.Replace(a)
	}
	e.builder = rw.Replace(e.builder)
	return e
}

// devEnvJSON is the shape of `nix print-dev-env --json` in Nix 2.8.
type devEnvJSON struct {
	Variables     map[string]devEnvVar `json:"variables"`
	BashFunctions map[string]string    `json:"bashFunctions"`
}

type devEnvVar struct {
	Type  string `json:"type"` // "exported", "var", "array" or "associative"
	Value any    `json:"value"`
}

// json renders e as `nix print-dev-env --json` does: one line, keys
// sorted, no HTML escaping (nlohmann::json's dump()).
func (e *devEnv) json() []byte {
	js := devEnvJSON{Variables: map[string]devEnvVar{}, BashFunctions: map[string]string{}}
	for k, v := range e.vars {
		js.Variables[k] = devEnvVar{Type: "exported", Value: v}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(js) // cannot fail: strings only
	return b.Bytes()
}

// shellIdent matches the names a POSIX shell can export. It is compiled on first use.
var shellIdent = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// script is the shell code that sets up the environment in bash or a
// POSIX shell, shaped like Nix 2.8's makeRcScript: the variables, the
// caller's PATH after the derivation's, a fresh NIX_BUILD_TOP (also TMP,
// TMPDIR, TEMP, TEMPDIR), then what Nix's get-env.sh does inside the
// builder and cairn does here instead: the passAsFile files,
// $stdenv/setup when it exists, and genericBuild (the derivation's
// builder with its arguments) when no setup defines one; shellHook last.
func (e *devEnv) script() string {
	var b strings.Builder
	b.WriteString("unset shellHook\nnix_saved_PATH=\"$PATH\"\n")
	keys := make([]string, 0, len(e.vars))
	for k := range e.vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !shellIdent().MatchString(k) {
			continue
		}
		b.WriteString(k + "=" + shQuote(e.vars[k]) + "\nexport " + k + "\n")
	}
	b.WriteString(`PATH="$PATH:$nix_saved_PATH"
export NIX_BUILD_TOP="$(mktemp -d -t nix-shell.XXXXXX)"
export TMP="$NIX_BUILD_TOP"
export TMPDIR="$NIX_BUILD_TOP"
export TEMP="$NIX_BUILD_TOP"
export TEMPDIR="$NIX_BUILD_TOP"
`)
	pass := make([]string, 0, len(e.passAsFile))
	for k := range e.passAsFile {
		pass = append(pass, k)
	}
	sort.Strings(pass)
	for _, k := range pass {
		if !shellIdent().MatchString(k + "Path") {
			continue
		}
		fn := ".attr-" + nixhash.Sum(nixhash.SHA256, []byte(k)).Encode(nixhash.Nix32, false)
		b.WriteString("printf '%s' " + shQuote(e.passAsFile[k]) + " > \"$NIX_BUILD_TOP/" + fn + "\"\n")
		b.WriteString("export " + k + "Path=\"$NIX_BUILD_TOP/" + fn + "\"\n")
	}
	b.WriteString(`if [ -n "${stdenv:-}" ] && [ -f "$stdenv/setup" ]; then
  cairn_stdenv_setup=1
  . "$stdenv/setup"
fi
if ! command -v genericBuild >/dev/null 2>&1; then
  genericBuild() { `)
	b.WriteString(shQuote(e.builder))
	for _, a := range e.args {
		b.WriteString(" " + shQuote(a))
	}
	b.WriteString("; }\nfi\neval \"${shellHook:-}\"\n")
	return b.String()
}

// phaseScript runs one phase ("build" or "buildPhase") and exits: with a
// stdenv setup as Nix 2.8 does (runHook), otherwise by running the
// builder with phases set to that one phase.
func phaseScript(phase string) string {
	p := strings.TrimSuffix(phase, "Phase") + "Phase"
	return `if [ -n "${cairn_stdenv_setup:-}" ]; then
  foundMakefile=1
  runHook ` + shQuote(p) + `
else
  export phases=` + shQuote(p) + `
  genericBuild
fi
exit
`
}

// commandScript runs argv (a command or a shell function) and exits
// with its status.
func commandScript(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shQuote(a)
	}
	return strings.Join(q, " ") + "\nexit\n"
}

// shQuote quotes s for sh in single quotes.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
