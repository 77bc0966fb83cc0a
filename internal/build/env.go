package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// HomeDir is the HOME of every build: a directory that does not exist.
const HomeDir = "/homeless-shelter"

// SandboxBuildDir is the build directory inside the sandbox.
const SandboxBuildDir = "/build"

// builderSetup is what the builder gets: argv, environment and the files
// to create in the build directory before it starts.
type builderSetup struct {
	Args  []string          // argv, argv[0] included
	Env   []string          // sorted "k=v"
	Files map[string][]byte // build-dir-relative name → contents
}

// hashPlaceholder is Nix's placeholder for an output path,
// "/" + nix32(sha256("nix-output:" + name)).
func hashPlaceholder(output string) string {
	return "/" + nixhash.Sum(nixhash.SHA256, []byte("nix-output:"+output)).Encode(nixhash.Nix32, false)
}

// setup computes the builder's argv, environment and files as Nix 2.8's
// initEnv, initTmpDir and writeStructuredAttrs do. buildTop is the build
// directory as the builder sees it; impure supplies impureEnvVars values.
func setup(req *Request, dir storepath.Dir, buildTop string, cores int, impure map[string]string, exports map[string][]exportedPath) (*builderSetup, error) {
	rewrite := rewriter(req, dir)
	env := map[string]string{
		"PATH":            "/path-not-set",
		"HOME":            HomeDir,
		"NIX_STORE":       string(dir),
		"NIX_BUILD_CORES": strconv.Itoa(cores),
	}
	files := map[string][]byte{}
	if req.StructuredAttrs == nil {
		for name, paths := range exports {
			files[name] = []byte(validityRegistration(dir, paths))
		}
		for k, v := range req.Env {
			if !slices.Contains(req.PassAsFile, k) {
				env[k] = v
				continue
			}
			fn := ".attr-" + nixhash.Sum(nixhash.SHA256, []byte(k)).Encode(nixhash.Nix32, false)
			files[fn] = []byte(rewrite(v))
			env[k+"Path"] = buildTop + "/" + fn
		}
	}
	for _, k := range []string{"NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"} {
		env[k] = buildTop
	}
	if req.IsFixedOutput() {
		env["NIX_OUTPUT_CHECKED"] = "1"
		for _, k := range req.ImpureEnvVars {
			env[k] = impure[k]
		}
	}
	env["NIX_LOG_FD"] = "2"
	env["TERM"] = "xterm-256color"
	if req.StructuredAttrs != nil {
		js, sh, err := structuredAttrs(req, dir, exports)
		if err != nil {
			return nil, err
		}
		files[".attrs.json"] = []byte(rewrite(string(js)))
		files[".attrs.sh"] = []byte(rewrite(sh))
		env["NIX_ATTRS_JSON_FILE"] = buildTop + "/.attrs.json"
		env["NIX_ATTRS_SH_FILE"] = buildTop + "/.attrs.sh"
	}
	s := &builderSetup{Files: files}
	argv0 := req.Builder
	if i := strings.LastIndexByte(argv0, '/'); i >= 0 {
		argv0 = argv0[i+1:]
	}
	s.Args = append(s.Args, argv0)
	for _, a := range req.Args {
		s.Args = append(s.Args, rewrite(a))
	}
	for k, v := range env {
		s.Env = append(s.Env, rewrite(k+"="+v))
	}
	slices.Sort(s.Env)
	return s, nil
}

// rewriter replaces output placeholders with the output paths (Nix's
// inputRewrites; the builder writes to the final paths).
func rewriter(req *Request, dir storepath.Dir) func(string) string {
	var pairs []string
	for id, o := range req.Outputs {
		pairs = append(pairs, hashPlaceholder(id), dir.Print(o.Path))
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// structuredAttrs returns .attrs.json and .attrs.sh: the __json object
// with "outputs" set to the output paths, serialised as nlohmann::json's
// dump() does (keys sorted, no spaces), and its bash rendering.
func structuredAttrs(req *Request, dir storepath.Dir, exports map[string][]exportedPath) ([]byte, string, error) {
	dec := json.NewDecoder(bytes.NewReader(req.StructuredAttrs))
	dec.UseNumber()
	var attrs map[string]any
	if err := dec.Decode(&attrs); err != nil {
		return nil, "", fmt.Errorf("structured attributes of %s: %w", dir.Print(req.DrvPath), err)
	}
	outs := map[string]any{}
	for id, o := range req.Outputs {
		outs[id] = dir.Print(o.Path)
	}
	attrs["outputs"] = outs
	for name, paths := range exports {
		attrs[name] = pathInfoJSON(dir, paths)
	}
	var b bytes.Buffer
	writeJSON(&b, attrs)
	return b.Bytes(), attrsShell(attrs), nil
}

// writeJSON writes v as nlohmann::json::dump() would.
func writeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(nlohmannNumber(v))
	case string:
		writeJSONString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeJSON(b, v[k])
		}
		b.WriteByte('}')
	}
}

// nlohmannNumber renders a number as nlohmann does: integers as they
// are, floats with up to 17 significant digits and a ".0" if integral.
func nlohmannNumber(n json.Number) string {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return s
		}
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return s
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	// The shortest form that round-trips, as nlohmann's grisu2.
	out := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(out, ".e") {
		out += ".0"
	}
	return out
}

func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
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
			} else if c < utf8.RuneSelf {
				b.WriteByte(c)
			} else {
				r, n := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && n == 1 {
					b.WriteString("\ufffd")
				} else {
					b.WriteString(s[i : i+n])
				}
				i += n
				continue
			}
		}
		i++
	}
	b.WriteByte('"')
}

var shVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellEscape quotes s for sh in single quotes.
func shellEscape(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellSimple renders the values bash can hold (Nix's handleSimpleType).
func shellSimple(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return shellEscape(v), true
	case json.Number:
		f, err := strconv.ParseFloat(v.String(), 32)
		if err != nil || math.Ceil(float64(float32(f))) != float64(float32(f)) {
			return "", false
		}
		if i, err := v.Int64(); err == nil {
			return strconv.FormatInt(int64(int32(i)), 10), true
		}
		return strconv.FormatInt(int64(int32(f)), 10), true
	case nil:
		return "''", true
	case bool:
		if v {
			return "1", true
		}
		return "", true
	}
	return "", false
}

// attrsShell is Nix's writeStructuredAttrsShell.
func attrsShell(attrs map[string]any) string {
	keys := slices.Sorted(maps.Keys(attrs))
	var b strings.Builder
	for _, k := range keys {
		if !shVarName.MatchString(k) {
			continue
		}
		v := attrs[k]
		if s, ok := shellSimple(v); ok {
			fmt.Fprintf(&b, "declare %s=%s\n", k, s)
			continue
		}
		switch v := v.(type) {
		case []any:
			var s2 strings.Builder
			good := true
			for _, e := range v {
				s3, ok := shellSimple(e)
				if !ok {
					good = false
					break
				}
				s2.WriteString(s3)
				s2.WriteByte(' ')
			}
			if good {
				fmt.Fprintf(&b, "declare -a %s=(%s)\n", k, s2.String())
			}
		case map[string]any:
			keys2 := slices.Sorted(maps.Keys(v))
			var s2 strings.Builder
			good := true
			for _, k2 := range keys2 {
				s3, ok := shellSimple(v[k2])
				if !ok {
					good = false
					break
				}
				fmt.Fprintf(&s2, "[%s]=%s ", shellEscape(k2), s3)
			}
			if good {
				fmt.Fprintf(&b, "declare -A %s=(%s)\n", k, s2.String())
			}
		}
	}
	return b.String()
}
