package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"cairn/internal/lang/parser"
)

// showInstantiate renders the interesting fields of o compactly.
func showInstantiate(o *InstantiateOptions) string {
	var b []string
	add := func(cond bool, s string) {
		if cond {
			b = append(b, s)
		}
	}
	add(o.EvalOnly, "eval")
	add(o.ParseOnly, "parse")
	add(o.ReadStdin, "stdin")
	add(o.FromArgs, "expr")
	add(o.Strict, "strict")
	add(o.Output == OutputJSON, "json")
	add(o.Output == OutputXML, "xml")
	add(!o.Location, "noloc")
	add(o.ReadWrite, "rw")
	add(o.FindFile, "findfile")
	add(o.AddRoot != "", "root="+o.AddRoot)
	for _, a := range o.AttrPaths {
		b = append(b, "A="+a)
	}
	b = append(b, showEvalFlags(&o.Eval)...)
	if len(o.Files) > 0 {
		b = append(b, "files="+strings.Join(o.Files, ","))
	}
	return strings.Join(b, " ")
}

func showEvalFlags(c *EvalFlags) []string {
	var b []string
	for _, i := range c.Include {
		b = append(b, "I="+i)
	}
	for _, a := range c.Args {
		k := "arg"
		if a.IsString {
			k = "argstr"
		}
		b = append(b, fmt.Sprintf("%s:%s=%s", k, a.Name, a.Value))
	}
	for _, s := range c.Settings {
		b = append(b, fmt.Sprintf("set:%s=%s", s.Name, s.Value))
	}
	if c.CPUProfile != "" {
		b = append(b, "cpu="+c.CPUProfile)
	}
	if c.Compat != "" {
		b = append(b, "compat="+c.Compat)
	}
	return b
}

func TestInstantiateFlags(t *testing.T) {
	tests := []struct {
		name string
		args string // split on single spaces
		want string // showInstantiate, or "error: <message>"
	}{
		{"suite parse", "--parse -", "eval parse stdin"},
		{"suite eval-okay", "--eval --strict lang/a.nix", "eval strict files=lang/a.nix"},
		{"suite xml", "--eval --xml --no-location --strict f.nix", "eval strict xml noloc files=f.nix"},
		{"suite eval-fail", "--eval --strict --show-trace f.nix", "eval strict set:show-trace=true files=f.nix"},
		{"no-show-trace", "--eval --no-show-trace f.nix", "eval set:show-trace=false files=f.nix"},
		{"depth", "--max-call-depth 100 --eval f.nix", "eval set:max-call-depth=100 files=f.nix"},
		{"args", "--arg lib import(lang/lib.nix) --argstr xyzzy xyzzy! -A result f.nix", "A=result arg:lib=import(lang/lib.nix) argstr:xyzzy=xyzzy! files=f.nix"},
		{"include", "-I lang/dir1 -I dir5=lang/dir3 --include x f.nix", "I=lang/dir1 I=dir5=lang/dir3 I=x files=f.nix"},
		{"expr", "-E 1 --expr 2", "expr files=1,2"},
		{"json", "--eval --json -E 1", "eval expr json files=1"},
		{"option", "--option show-trace true --option max-call-depth 5", "set:show-trace=true set:max-call-depth=5"},
		{"store", "--store /tmp/x --read-write-mode --eval", "eval rw set:store=/tmp/x"},
		{"root", "--add-root r --indirect f.nix", "root=r files=f.nix"},
		{"lint", "--lint-url-literals fatal --extra-experimental-features x f.nix", "set:lint-url-literals=fatal set:extra-experimental-features=x files=f.nix"},
		{"impure", "--impure f.nix", "set:pure-eval=false files=f.nix"},
		{"profiles", "--cpuprofile c.out --compat 2.8 --eval f.nix", "eval cpu=c.out compat=2.8 files=f.nix"},
		{"find-file", "--find-file nixpkgs", "findfile files=nixpkgs"},
		{"unknown", "--frobnicate", "error: unrecognised flag '--frobnicate'"},
		{"A without value", "-A", "error: '-A' requires an argument"},
		{"arg one value", "--arg x", "error: flag '--arg' requires 2 argument(s)"},
		{"option one value", "--option x", "error: flag '--option' requires 2 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			f := &Factory{Prog: "cairn instantiate"}
			err := newInstantiateCmd(f, func(o *InstantiateOptions) error {
				got = showInstantiate(o)
				return nil
			})(strings.Split(tt.args, " "))
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != tt.want {
				t.Errorf("%q:\n got %s\nwant %s", tt.args, got, tt.want)
			}
		})
	}
}

func TestEvalFlags(t *testing.T) {
	tests := []struct{ args, want string }{
		{"--expr 1", "expr=1"},
		{"-f d.nix a.b --json", "file=d.nix json args=a.b"},
		{"d.nix -A x --raw", "raw A=x args=d.nix"},
		{"--expr x --apply f --arg a 1 -I p", "expr=x apply=f I=p arg:a=1"},
		{"--json --raw --expr 1", "error: '--json' and '--raw' are mutually exclusive"},
		{"--expr 1 --file f", "error: '--expr' and '--file' are mutually exclusive"},
		{"--bogus", "error: unrecognised flag '--bogus'"},
		{"--expr", "error: flag '--expr' requires 1 argument(s)"},
	}
	for _, tt := range tests {
		var got string
		err := newEvalCmd(&Factory{Prog: "cairn eval"}, func(o *EvalOptions) error {
			var b []string
			if o.HaveExpr {
				b = append(b, "expr="+o.Expr)
			}
			if o.File != "" {
				b = append(b, "file="+o.File)
			}
			if o.JSON {
				b = append(b, "json")
			}
			if o.Raw {
				b = append(b, "raw")
			}
			if o.AttrPath != "" {
				b = append(b, "A="+o.AttrPath)
			}
			if o.Apply != "" {
				b = append(b, "apply="+o.Apply)
			}
			b = append(b, showEvalFlags(&o.Eval)...)
			for _, x := range o.Args {
				b = append(b, "args="+x)
			}
			got = strings.Join(b, " ")
			return nil
		})(strings.Split(tt.args, " "))
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

func TestResolveConfig(t *testing.T) {
	f := &Factory{Environ: []string{"NIX_CONFIG=experimental-features = nix-command flakes\nshow-trace = true\nmax-call-depth = 7 # comment"}}
	cfg, err := resolveConfig(f, &EvalFlags{})
	if err != nil || !cfg.showTrace || cfg.maxCallDepth != 7 {
		t.Errorf("NIX_CONFIG: %+v, %v", cfg, err)
	}
	cfg, err = resolveConfig(f, &EvalFlags{Settings: []Setting{{"show-trace", "false"}, {"max-call-depth", "9"}, {"bogus", "1"}}})
	if err != nil || cfg.showTrace || cfg.maxCallDepth != 9 || len(cfg.warnings) != 1 {
		t.Errorf("flags over NIX_CONFIG: %+v, %v", cfg, err)
	}
	if _, err := resolveConfig(&Factory{}, &EvalFlags{Settings: []Setting{{"max-call-depth", "x"}}}); err == nil {
		t.Error("max-call-depth x: no error")
	}
	cfg, err = resolveConfig(f, &EvalFlags{Settings: []Setting{{"extra-experimental-features", "parse-toml-timestamps"},
		{"lint-url-literals", "fatal"}, {"lint-short-path-literals", "warn"}}})
	if err != nil || strings.Join(cfg.features, " ") != "nix-command flakes parse-toml-timestamps" ||
		cfg.lints != (parser.Lints{URLLiterals: parser.LintFatal, ShortPathLiterals: parser.LintWarn}) {
		t.Errorf("features and lints: %+v, %v", cfg, err)
	}
	if _, err := resolveConfig(&Factory{}, &EvalFlags{Settings: []Setting{{"lint-url-literals", "loud"}}}); err == nil {
		t.Error("lint-url-literals loud: no error")
	}
}

func TestSplitNixPath(t *testing.T) {
	got := strings.Join(splitNixPath("a:nixpkgs=https://x.org/a.tar.gz:b=/c"), " | ")
	if want := "a | nixpkgs=https://x.org/a.tar.gz | b=/c"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestParseAttrPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a.b.0", "a|b|0"},
		{`a."b.c".d`, "a|b.c|d"},
		{"a.", "a"},
		{".a", "|a"},
		{`a."b`, "error"},
	}
	for _, tt := range tests {
		p, err := parseAttrPath(tt.in)
		got := strings.Join(p, "|")
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("parseAttrPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("x"), 1},
		{&usageError{"p", "m"}, 1},
		{&evalError{err: errors.New("e")}, 1},
		{&topUsageError{"unknown command"}, 2},
		{&exitError{3}, 3},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestArgv0 checks that cairn invoked as nix-instantiate (a symlink)
// behaves as `cairn instantiate`, with Nix's program name in messages.
func TestArgv0(t *testing.T) {
	var out, errb strings.Builder
	f := &Factory{Stdout: &out, Stderr: &errb, Environ: []string{"NIX_REMOTE=dummy://"}, Prog: "cairn"}
	if code := run(t.Context(), f, []string{"/usr/local/bin/nix-instantiate", "--eval", "-E", "6 * 7"}); code != 0 || out.String() != "42\n" {
		t.Errorf("eval: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), f, []string{"nix-instantiate", "--bogus"}); code != 1 || errb.String() != "error: unrecognised flag '--bogus'\nTry 'nix-instantiate --help' for more information.\n" {
		t.Errorf("bad flag: exit %d, stderr %q", code, errb.String())
	}
}

// TestShowStats checks NIX_SHOW_STATS: the value on stdout, then JSON
// counters on stderr that reflect the evaluation.
func TestShowStats(t *testing.T) {
	var out, errb strings.Builder
	f := &Factory{Stdout: &out, Stderr: &errb, Environ: []string{"NIX_REMOTE=dummy://", "NIX_SHOW_STATS=1"}, Prog: "cairn"}
	code := run(t.Context(), f, []string{"cairn", "instantiate", "--eval", "-E", "let f = x: x + 1; in f (f 1)"})
	if code != 0 || out.String() != "3\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	var stats struct {
		NrFunctionCalls int64 `json:"nrFunctionCalls"`
	}
	if err := json.Unmarshal([]byte(errb.String()), &stats); err != nil {
		t.Fatalf("stderr is not JSON: %v\n%s", err, errb.String())
	}
	if stats.NrFunctionCalls < 2 {
		t.Errorf("nrFunctionCalls = %d, want at least 2", stats.NrFunctionCalls)
	}
}

// TestCompat28CallDepth checks that --compat 2.8 lifts the default call
// depth limit (Nix 2.8 has none) unless --max-call-depth is given.
func TestCompat28CallDepth(t *testing.T) {
	const expr = "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 20000"
	for _, tt := range []struct {
		args []string
		ok   bool
	}{
		{nil, false},
		{[]string{"--compat", "2.8"}, true},
		{[]string{"--compat", "2.8", "--max-call-depth", "100"}, false},
	} {
		var out, errb strings.Builder
		f := &Factory{Stdout: &out, Stderr: &errb, Environ: []string{"NIX_REMOTE=dummy://"}, Prog: "cairn"}
		argv := append([]string{"cairn", "instantiate"}, tt.args...)
		argv = append(argv, "--eval", "-E", expr)
		code := run(t.Context(), f, argv)
		if tt.ok && (code != 0 || out.String() != "20000\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %.300q", tt.args, code, out.String(), errb.String())
		}
		if !tt.ok && (code == 0 || !strings.Contains(errb.String(), "stack overflow")) {
			t.Errorf("%v: exit %d, want a stack overflow; stderr %.300q", tt.args, code, errb.String())
		}
	}
}
