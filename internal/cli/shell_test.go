package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// TestShellFlags checks the parsing of shell, run, develop and
// print-dev-env through runF.
func TestShellFlags(t *testing.T) {
	f := &Factory{Prog: "cairn shell"}
	var sh *ShellOptions
	if err := newShellCmd(f, func(o *ShellOptions) error { sh = o; return nil })([]string{"-f", "pkgs", "hello", "-j", "2", "--store", "/s", "-c", "hello", "-g", "--store"}); err != nil {
		t.Fatal(err)
	}
	if sh.Inst.File != "pkgs" || !reflect.DeepEqual(sh.Inst.Args, []string{"hello"}) || !reflect.DeepEqual(sh.Command, []string{"hello", "-g", "--store"}) || sh.Build.MaxJobs != 2 {
		t.Errorf("shell options %+v", sh)
	}

	var ro *RunOptions
	if err := newRunCmd(f, func(o *RunOptions) error { ro = o; return nil })([]string{"-f", "pkgs", "hello", "x", "--", "-g", "a b"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ro.Inst.Args, []string{"hello"}) || !reflect.DeepEqual(ro.Args, []string{"x", "-g", "a b"}) {
		t.Errorf("run options %+v", ro)
	}
	if err := newRunCmd(f, func(o *RunOptions) error { ro = o; return nil })([]string{"-E", "e", "y"}); err != nil || len(ro.Inst.Args) != 0 || !reflect.DeepEqual(ro.Args, []string{"y"}) {
		t.Errorf("run -E: %+v %v", ro, err)
	}

	var do *DevelopOptions
	if err := newDevelopCmd(f, false, func(o *DevelopOptions) error { do = o; return nil })([]string{"x.drv", "--build"}); err != nil || do.Phase != "build" {
		t.Errorf("develop --build: %+v %v", do, err)
	}
	if err := newDevelopCmd(f, true, func(o *DevelopOptions) error { do = o; return nil })([]string{"-f", "p", "a", "--json"}); err != nil || !do.JSON || !do.Print {
		t.Errorf("print-dev-env --json: %+v %v", do, err)
	}

	for _, bad := range []struct {
		name string
		cmd  func([]string) error
		args []string
	}{
		{"shell -c alone", newShellCmd(f, func(*ShellOptions) error { return nil }), []string{"x", "-c"}},
		{"run without installable", newRunCmd(f, func(*RunOptions) error { return nil }), []string{"--", "a"}},
		{"develop phase and command", newDevelopCmd(f, false, func(*DevelopOptions) error { return nil }), []string{"x", "--phase", "build", "-c", "true"}},
		{"print-dev-env --phase", newDevelopCmd(f, true, func(*DevelopOptions) error { return nil }), []string{"x", "--phase", "build"}},
		{"shell unknown flag", newShellCmd(f, func(*ShellOptions) error { return nil }), []string{"--bogus"}},
	} {
		var ue *usageError
		if err := bad.cmd(bad.args); !errors.As(err, &ue) {
			t.Errorf("%s: err %v, want a usage error", bad.name, err)
		}
	}
}

func TestDrvNameName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hello-1.0", "hello"}, {"git-lfs-3.1", "git-lfs"}, {"foo", "foo"}, {"a-b-c", "a-b-c"}, {"x-", "x-"}, {"python3.10-numpy-1.2", "python3.10-numpy"},
	} {
		if got := drvNameName(tt.in); got != tt.want {
			t.Errorf("drvNameName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellPath(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(t.Context(), local.Options{Root: dir, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := mustPath(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a")
	b := mustPath(t, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b")
	c := mustPath(t, "cccccccccccccccccccccccccccccccc-c")
	// a propagates c.
	sup := filepath.Join(st.RealStoreDir(), a.String(), "nix-support")
	if err := os.MkdirAll(sup, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sup, "propagated-user-env-packages"), []byte("/nix/store/"+c.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := shellPath(st, []storepath.Path{a, b, a}, "/usr/bin:/bin")
	if err != nil {
		t.Fatal(err)
	}
	want := "/nix/store/" + c.String() + "/bin:/nix/store/" + b.String() + "/bin:/nix/store/" + a.String() + "/bin:/usr/bin:/bin"
	if got != want {
		t.Errorf("shellPath\n got %s\nwant %s", got, want)
	}
}

func mustPath(t *testing.T, base string) storepath.Path {
	t.Helper()
	p, err := storepath.DefaultDir.Parse("/nix/store/" + base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDevEnv checks the environment computed from a .drv: outputs (paths
// and placeholders) redirected, Nix's ignored variables dropped,
// passAsFile, the JSON shape, and the script run by a host shell.
func TestDevEnv(t *testing.T) {
	outPath := "/nix/store/00000000000000000000000000000000-x"
	drv := &derivation.Derivation{
		Outputs: map[string]derivation.Output{"out": {Path: outPath}, "dev": {}},
		Builder: "/bin/sh",
		Args:    []string{"-c", `echo "built $name into $out"`},
		Env: map[string]string{
			"name": "x", "out": outPath, "dev": derivation.HashPlaceholder("dev"), "ref": "see " + outPath + "/bin",
			"HOME": "/homeless", "TMPDIR": "/nope", "TERM": "dumb", "quote": "it's <&> \"q\"",
			"passAsFile": "big", "big": "contents of big", "bad-name": "skipped in the script",
		},
	}
	e := newDevEnv(storepath.DefaultDir, drv, "/w/outputs", 3)
	for k, want := range map[string]string{"out": "/w/outputs/out", "dev": "/w/outputs/dev", "ref": "see /w/outputs/out/bin", "NIX_BUILD_CORES": "3", "NIX_STORE": "/nix/store"} {
		if e.vars[k] != want {
			t.Errorf("%s = %q, want %q", k, e.vars[k], want)
		}
	}
	for _, k := range []string{"HOME", "TMPDIR", "TERM"} {
		if _, ok := e.vars[k]; ok {
			t.Errorf("%s kept", k)
		}
	}
	var js map[string]any
	if err := json.Unmarshal(e.json(), &js); err != nil {
		t.Fatal(err)
	}
	if n := reflect.ValueOf(js["bashFunctions"]).Len(); n != 0 || len(js) != 2 {
		t.Errorf("json top level %v", js)
	}
	if v := js["variables"].(map[string]any)["quote"]; !reflect.DeepEqual(v, map[string]any{"type": "exported", "value": "it's <&> \"q\""}) {
		t.Errorf("quote = %v", v)
	}
	if !bytes.Contains(e.json(), []byte(`"it's <&> \"q\""`)) || bytes.Count(e.json(), []byte("\n")) != 1 {
		t.Errorf("json not one unescaped line: %s", e.json())
	}

	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("SKIPPING: no sh on this host: %v", err)
	}
	tmp := t.TempDir()
	script := e.script() + `printf '%s|%s|%s|%s|' "$out" "$quote" "$(cat "$bigPath")" "$TMPDIR"
test "$TMPDIR" = "$NIX_BUILD_TOP" && test -d "$TMPDIR" && genericBuild
` + commandScript([]string{"sh", "-c", `printf '%s|' "$1"; exit 7`, "sh", "it's a b"})
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}
	out, err := cmd.CombinedOutput()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != 7 {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if got, want := string(out), "/w/outputs/out|it's <&> \"q\"|contents of big|"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "built x into /w/outputs/out\nit's a b|") {
		t.Errorf("script output %q", got)
	}
	if !strings.Contains(string(out), "|"+tmp+"/nix-shell.") {
		t.Errorf("TMPDIR not a fresh directory under the caller's TMPDIR: %q", out)
	}
}

// TestRunInStoreDirect runs a program from a store at its logical place:
// looked up in the given PATH, with its arguments, environment and
// working directory, and its exit status as cairn's.
func TestRunInStoreDirect(t *testing.T) {
	dir := t.TempDir()
	st, err := local.Open(t.Context(), local.Options{StoreDir: storepath.Dir(dir + "/store"), StateDir: dir + "/state", ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("SKIPPING: no sh on this host: %v", err)
	}
	bin := filepath.Join(dir, "store", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-prog", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!" + sh + "\nprintf '%s|' \"$0\" \"$@\" \"$GREETING\" \"$PWD\"\nexit \"$CODE\"\n"
	if err := os.WriteFile(filepath.Join(bin, "prog"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, code, want string
		wantCode         int
	}{
		{"ok", "0", bin + "/prog|a b|'c'|hi|" + dir + "|", 0},
		{"status", "3", bin + "/prog|a b|'c'|hi|" + dir + "|", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			f := &Factory{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}
			err := runInStore(t.Context(), f, st, storeProgram{name: "prog", args: []string{"a b", "'c'"}, dir: dir,
				env: []string{"PATH=/nonexistent:" + bin, "GREETING=hi", "CODE=" + tt.code}})
			if got := exitCode(err); got != tt.wantCode || out.String() != tt.want {
				t.Errorf("exit %d (%v), output %q; want %d, %q", got, err, out.String(), tt.wantCode, tt.want)
			}
		})
	}
	f := &Factory{Stdout: io.Discard, Stderr: io.Discard}
	err = runInStore(t.Context(), f, st, storeProgram{name: "missing", env: []string{"PATH=" + bin}})
	if err == nil || !strings.Contains(err.Error(), "unable to execute 'missing': not found in PATH") {
		t.Errorf("missing program: %v", err)
	}
}
