package langsuite

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeNix stands in for nix-instantiate: it shows what it was given (arguments, environment,
// stdin) so that each fake case's expectation checks one rule of the script.
const fakeNix = `#!/usr/bin/env bash
last=${!#}
case "$*" in
*"--parse -") in=$(cat); if [[ $in == FAIL* ]]; then echo "error: bad at $PWD" >&2; exit 1; fi
	echo "parsed $in in $PWD"; exit 0 ;;
esac
case $last in
*eval-fail-flags.nix) echo "error:" >&2; echo "       error: args $* in $PWD" >&2; exit 1 ;;
*eval-fail-rc0.nix) exit 0 ;;
*eval-fail-default.nix) echo "error: args $*" >&2; exit 1 ;;
*eval-okay-env.nix) echo "$* $TEST_VAR $NIX_PATH $HOME $NIX_REMOTE"; exit 0 ;;
*eval-okay-warn.nix) echo out; echo "warning: at $PWD" >&2; exit 0 ;;
*eval-okay-pp.nix) echo "line 123"; exit 0 ;;
*eval-okay-xml.nix) echo "<xml $*/>"; exit 0 ;;
*eval-okay-slow.nix) sleep 5; exit 0 ;;
*eval-okay-crash.nix) kill -SEGV $$ ;;
esac
echo "unexpected call: $*" >&2; exit 2
`

func TestHarnessWithFakeNix(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "fake-nix")
	if err := os.WriteFile(bin, []byte(fakeNix), 0o755); err != nil {
		t.Fatal(err)
	}
	work, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		t.Fatal(err)
	}
	work = filepath.Join(work, "w")
	files := map[string]string{
		"parse-okay-a.nix":              "A",
		"parse-okay-a.exp":              "parsed A in /pwd\n",
		"parse-fail-b.nix":              "FAIL",
		"parse-fail-b.err.exp":          "error: bad at " + work + "\n", // parse-fail: no /pwd substitution
		"eval-fail-flags.nix":           "",
		"eval-fail-flags.flags":         "--eval # a comment\n--strict --x\n",
		"eval-fail-flags.err.exp":       "error:\n       error: args --eval --strict --x lang/eval-fail-flags.nix in /pwd\n",
		"eval-fail-rc0.nix":             "",
		"eval-fail-default.nix":         "",
		"eval-fail-default.err.exp":     "error: args --eval --strict --show-trace lang/eval-fail-default.nix\n",
		"eval-okay-env.nix":             "",
		"eval-okay-env.flags":           "-I x=y --arg a b\nignored second line\n",
		"eval-okay-env.exp":             "-I x=y --arg a b --eval --strict lang/eval-okay-env.nix foo lang/dir3:lang/dir4 /fake-home dummy://\n",
		"eval-okay-warn.nix":            "",
		"eval-okay-warn.exp":            "out\n",
		"eval-okay-warn.err.exp":        "warning: elsewhere\n",
		"eval-okay-pp.nix":              "",
		"eval-okay-pp.exp":              "line <n>\n",
		"eval-okay-pp.postprocess":      "sed -i 's/[0-9][0-9]*/<n>/' \"$1.out\"\n",
		"eval-okay-xml.nix":             "",
		"eval-okay-xml.exp.xml":         "<xml --eval --xml --no-location --strict lang/eval-okay-xml.nix/>\n",
		"eval-okay-off.nix":             "",
		"eval-okay-off.exp-disabled":    "",
		"eval-okay-slow.nix":            "",
		"eval-okay-slow.exp":            "",
		"eval-okay-crash.nix":           "",
		"eval-okay-crash.exp":           "",
		"eval-okay-missing-exp.nix":     "",
		"eval-fail-default.unrelated.x": "",
	}
	lang := filepath.Join(work, "lang")
	for _, d := range []string{lang, filepath.Join(work, "out")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(lang, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases, err := listCases(lang)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{work: work, argv: []string{bin}, env: baseEnv(), timeout: 2 * time.Second}
	want := map[string]string{
		"parse-okay parse-okay-a":         "pass",
		"parse-fail parse-fail-b":         "pass",
		"eval-fail eval-fail-flags":       "pass",
		"eval-fail eval-fail-rc0":         "fail-rc0",
		"eval-fail eval-fail-default":     "pass",
		"eval-okay eval-okay-env":         "pass",
		"eval-okay eval-okay-warn":        "pass-stdout-only",
		"eval-okay eval-okay-pp":          "pass",
		"eval-okay eval-okay-xml":         "pass",
		"eval-okay eval-okay-off":         "disabled",
		"eval-okay eval-okay-slow":        "fail-rc124 (timeout)",
		"eval-okay eval-okay-crash":       "fail-rc139",
		"eval-okay eval-okay-missing-exp": "fail-rc2",
	}
	var got []string
	for _, c := range cases {
		res, err := r.runCase(t.Context(), c)
		if err != nil {
			t.Fatalf("%s: %v", c.key(), err)
		}
		got = append(got, c.key())
		if res.verdict != want[c.key()] {
			t.Errorf("%s: verdict %q, want %q\n%s", c.key(), res.verdict, want[c.key()], res.detail)
		}
		if c.name == "eval-fail-flags" && !res.errLineMatch {
			t.Errorf("%s: first error line should match", c.key())
		}
	}
	slices.Sort(got)
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("cases:\n got %q\nwant %q", got, keys)
	}
}

func TestFlagsSplitting(t *testing.T) {
	tests := []struct {
		name, in string
		fail     bool // eval-fail (sed 's/#.*//' + word splitting) or eval-okay (read -r -a)
		want     string
	}{
		{"fail-plain", "--max-call-depth 100", true, "--max-call-depth|100"},
		{"fail-comment-lines", "--eval --strict # why\n--no-show-trace\n", true, "--eval|--strict|--no-show-trace"},
		{"fail-empty", "# only a comment\n", true, ""},
		{"okay-first-line-only", "-I lang/dir1 -I dir5=lang/dir3\n--ignored\n", false, "-I|lang/dir1|-I|dir5=lang/dir3"},
		{"okay-no-comment-stripping", "--arg lib import(lang/lib.nix) # x", false, "--arg|lib|import(lang/lib.nix)|#|x"},
		{"okay-tabs", "\t--impure\t--lint-absolute-path-literals  warn", false, "--impure|--lint-absolute-path-literals|warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := evalOkayFlags
			if tt.fail {
				f = evalFailFlags
			}
			if got := strings.Join(f(tt.in), "|"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFirstErrorLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"trace", "error:\n       … while calling\n\n       error: division by zero\n", "error: division by zero"},
		{"direct", "error: undefined variable 'x'\n       at «stdin»:1:1:\n", "error: undefined variable 'x'"},
		{"warning-first", "warning: foo\nerror: bar", "error: bar"},
		{"none", "trace: x\n", ""},
		{"bare-only", "error:\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstErrorLine(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKnownFailuresRoundTrip(t *testing.T) {
	in := knownFailuresHeader +
		"parse-fail parse-fail-dup  # attribute position\n" +
		"eval-fail eval-fail-abort\n" +
		"eval-okay eval-okay-a  # exit-ok-diff\n"
	known, err := parseKnownFailures(strings.NewReader("# c\n\neval-okay eval-okay-a  # exit-ok-diff\n" +
		"parse-fail   parse-fail-dup # attribute position\neval-fail eval-fail-abort\n"))
	if err != nil {
		t.Fatal(err)
	}
	var list []knownFailure
	for _, k := range known {
		list = append(list, k)
	}
	var b bytes.Buffer
	if err := formatKnownFailures(&b, list); err != nil {
		t.Fatal(err)
	}
	if b.String() != in {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), in)
	}
	for _, bad := range []string{"eval-okay\n", "eval-okey x\n", "eval-okay a b\n", "eval-okay a\neval-okay a\n"} {
		if _, err := parseKnownFailures(strings.NewReader(bad)); err == nil {
			t.Errorf("parseKnownFailures(%q): want an error", bad)
		}
	}
}
