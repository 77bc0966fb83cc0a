package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store/local"
)

func TestProfileFlags(t *testing.T) {
	f := &Factory{Prog: "cairn profile x"}
	tests := []struct {
		cmd  string
		args string
		want string // rendered options, or "error: <msg>"
	}{
		{"install", "--profile p /nix/store/a", "profile=p args=[/nix/store/a] to=0 older= dry=false"},
		{"rollback", "--to 3 --dry-run", "profile= args=[] to=3 older= dry=true"},
		{"rollback", "--to x", "error: invalid integer 'x'"},
		{"rollback", "extra", "error: unexpected argument 'extra'"},
		{"switch-generation", "7", "profile= args=[7] to=7 older= dry=false"},
		{"switch-generation", "", "error: expected one argument, the version to switch to"},
		{"wipe-history", "--older-than 30d", "profile= args=[] to=0 older=30d dry=false"},
		{"list", "--older-than 30d", "error: unrecognised flag '--older-than'"},
		{"history", "--profile", "error: flag '--profile' requires 1 argument(s)"},
	}
	for _, tt := range tests {
		var got string
		err := newProfileCmd(f, tt.cmd, flagsOf(tt.cmd), func(o *ProfileOptions) error {
			got = fmt.Sprintf("profile=%s args=%v to=%d older=%s dry=%t", o.Profile, o.Args, o.To, o.OlderThan, o.DryRun)
			return nil
		})(strings.Fields(tt.args))
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.cmd, tt.args, got, tt.want)
		}
	}
}

func flagsOf(cmd string) []string {
	switch cmd {
	case "rollback":
		return []string{"--to", "--dry-run"}
	case "wipe-history":
		return []string{"--older-than", "--dry-run"}
	case "switch-generation":
		return []string{"--dry-run"}
	}
	return nil
}

// profileEnv is a chroot store with a few packages for CLI scenarios.
type profileEnv struct {
	t     *testing.T
	work  string
	root  string
	paths map[string]string // package name -> logical store path
}

func newProfileEnv(t *testing.T, pkgs map[string]map[string]string) *profileEnv {
	t.Helper()
	work := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveAll(work) })
	e := &profileEnv{t: t, work: work, root: filepath.Join(work, "root"), paths: map[string]string{}}
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{Root: e.root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, files := range pkgs {
		dir := filepath.Join(work, "src", name)
		for f, c := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		info, err := st.AddPath(ctx, dir, local.AddOptions{Name: name, Method: storepath.Recursive})
		if err != nil {
			t.Fatal(err)
		}
		e.paths[name] = st.Dir().Print(info.Path)
	}
	return e
}

// run runs cairn with args (words; "@name" is the store path of a
// package) and returns stdout, stderr and the exit code.
func (e *profileEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	full := []string{"cairn"}
	for i, a := range args {
		if p, ok := e.paths[strings.TrimPrefix(a, "@")]; ok && strings.HasPrefix(a, "@") {
			a = p
		}
		full = append(full, a)
		if i == 1 {
			full = append(full, "--store", e.root)
		}
	}
	var out, errb bytes.Buffer
	code := mainIn(context.Background(), e.work, full, strings.NewReader(""), &out, &errb, []string{"HOME=" + e.work, "TZ=UTC"})
	return out.String(), errb.String(), code
}

func (e *profileEnv) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("cairn %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

var dateRE = regexp.MustCompile(`\d{4}-\d\d-\d\d`)

func TestProfileScenario(t *testing.T) {
	e := newProfileEnv(t, map[string]map[string]string{
		"hello-1.0": {"bin/hello": "1"},
		"hello-1.1": {"bin/hello": "2", "share/big": strings.Repeat("x", 20000)},
		"tool-2":    {"bin/tool": "t"},
		"clash-1":   {"bin/tool": "c"},
	})
	p := "--profile"
	prof := filepath.Join(e.work, "p")
	e.ok("profile", "install", p, prof, "@hello-1.0")
	e.ok("profile", "install", p, prof, "@tool-2")
	if got, want := e.ok("profile", "list", p, prof), "0 - - "+e.paths["hello-1.0"]+"\n1 - - "+e.paths["tool-2"]+"\n"; got != want {
		t.Errorf("list:\n%s\nwant:\n%s", got, want)
	}
	// Conflict: both files named, generation 2 stays current.
	_, errs, code := e.run("profile", "install", p, prof, "@clash-1")
	if code == 0 || !strings.Contains(errs, e.paths["clash-1"]+"/bin/tool") || !strings.Contains(errs, e.paths["tool-2"]+"/bin/tool") {
		t.Errorf("conflict: exit %d\n%s", code, errs)
	}
	if target, _ := os.Readlink(prof); target != "p-2-link" {
		t.Errorf("after the conflict the profile points to %s", target)
	}
	// Upgrade by removing the old version and installing the new.
	_, errs, _ = e.run("profile", "remove", p, prof, "hello")
	if errs != "removing 'hello'\nremoved 1 packages, kept 1 packages\n" {
		t.Errorf("remove: %q", errs)
	}
	e.ok("profile", "install", p, prof, "@hello-1.1")
	_, errs, _ = e.run("profile", "upgrade", p, prof, "nomatch")
	if !strings.Contains(errs, "warning: 'nomatch' does not match any packages") {
		t.Errorf("upgrade: %q", errs)
	}
	hist := dateRE.ReplaceAllString(e.ok("profile", "history", p, prof), "DATE")
	want := "Version \x1b[1m1\x1b[0m (DATE):\n  hello: ∅ -> 1.0\n\n" +
		"Version \x1b[1m2\x1b[0m (DATE) <- 1:\n  tool: ∅ -> 2\n\n" +
		"Version \x1b[1m3\x1b[0m (DATE) <- 2:\n  hello: 1.0 -> ∅\n\n" +
		"Version \x1b[32;1m4\x1b[0m (DATE) <- 3:\n  hello: ∅ -> 1.1\n"
	if hist != want {
		t.Errorf("history:\n%q\nwant:\n%q", hist, want)
	}
	diff := e.ok("profile", "diff-closures", p, prof)
	if !strings.Contains(diff, "Version 3 -> 4:\n  hello: ∅ → 1.1, \x1b[31;1m+20.4 KiB\x1b[0m\n") {
		t.Errorf("diff-closures:\n%q", diff)
	}
	sd := e.ok("store", "diff-closures", "@hello-1.0", "@hello-1.1")
	if sd != "hello: 1.0 → 1.1, \x1b[31;1m+19.9 KiB\x1b[0m\n" {
		t.Errorf("store diff-closures: %q", sd)
	}
	if js := e.ok("store", "diff-closures", "--json", "@hello-1.1", "@hello-1.0"); !strings.HasPrefix(js, `{"hello":{"versionsBefore":["1.1"],"versionsAfter":["1.0"],"sizeDelta":-20`) {
		t.Errorf("--json: %s", js)
	}
	// Rollback, switch, wipe.
	if _, errs, _ = e.run("profile", "rollback", p, prof); errs != "switching profile from version 4 to 3\n" {
		t.Errorf("rollback: %q", errs)
	}
	if _, errs, _ = e.run("profile", "switch-generation", p, prof, "1"); errs != "switching profile from version 3 to 1\n" {
		t.Errorf("switch-generation: %q", errs)
	}
	if got := e.ok("profile", "list", p, prof); got != "0 - - "+e.paths["hello-1.0"]+"\n" {
		t.Errorf("list after switch: %q", got)
	}
	if _, errs, code = e.run("profile", "rollback", p, prof); code == 0 || !strings.Contains(errs, "no profile version older than the current (1) exists") {
		t.Errorf("rollback past the first: %d %q", code, errs)
	}
	e.ok("profile", "switch-generation", p, prof, "4")
	if _, errs, _ = e.run("profile", "wipe-history", p, prof, "--older-than", "30d"); errs != "" {
		t.Errorf("nothing is 30 days old: %q", errs)
	}
	if _, errs, _ = e.run("profile", "wipe-history", p, prof); errs != "removing profile version 1\nremoving profile version 2\nremoving profile version 3\n" {
		t.Errorf("wipe-history: %q", errs)
	}
	// Installing something that is not a valid store path.
	if _, errs, code = e.run("profile", "install", p, prof, "nixpkgs#hello"); code == 0 || !strings.Contains(errs, "flake references are not supported yet") {
		t.Errorf("flake installable: %d %q", code, errs)
	}
	if _, errs, code = e.run("profile", "install", p, prof, "/nix/store/00000000000000000000000000000000-x"); code == 0 || !strings.Contains(errs, "is not valid") {
		t.Errorf("invalid path: %d %q", code, errs)
	}

	if _, errs, code = e.run("profile", "install", p, prof, "/nix/store/00000000000000000000000000000000-x.drv"); code == 0 || !strings.Contains(errs, "-x.drv' is not valid") {
		t.Errorf("derivation: %d %q", code, errs)
	}

	// Nix 2.8 lists the generations of the profile cairn made.
	if _, err := exec.LookPath("nix-env"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-env not found")
		}
		t.Skip("SKIPPING the nix-env comparison: Nix 2.8 not installed")
	}
	cmd := exec.Command("nix-env", "--store", e.root, "-p", prof, "--list-generations")
	cmd.Env = append(os.Environ(), "TZ=UTC", "NIX_CONF_DIR="+e.work)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix-env: %v\n%s", err, got)
	}
	if !regexp.MustCompile(`^   4   \d{4}-\d\d-\d\d \d\d:\d\d:\d\d   \(current\)\n$`).Match(got) {
		t.Errorf("nix-env --list-generations:\n%s", got)
	}
}

// TestProfileInstallBuilds installs a package of pkgs/ with --file: it
// is evaluated, built in the sandbox and linked into the profile.
func TestProfileInstallBuilds(t *testing.T) {
	needSandboxBuilds(t)
	work := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveAll(work) })
	store := filepath.Join(work, "store")
	prof := filepath.Join(work, "p")
	var out, errb bytes.Buffer
	args := []string{"cairn", "profile", "install", "--store", store, "--profile", prof, "--file", pkgsDir(t), "hello", "-j", "2", "--cores", "1"}
	if code := Main(t.Context(), args, strings.NewReader(""), &out, &errb, []string{"PATH=/usr/bin:/bin", "HOME=" + work}); code != 0 {
		t.Fatalf("install: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "-hello-1.0.drv'...") {
		t.Errorf("no build shown:\n%s", errb.String())
	}
	// A chroot store: follow the links under the store's root.
	env, err := os.Readlink(filepath.Join(work, "p-1-link"))
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(store + env + "/bin")
	if err != nil {
		t.Fatalf("bin in the profile %s: %v", env, err)
	}
	if !strings.HasPrefix(target, "/nix/store/") || !strings.HasSuffix(target, "-hello-1.0/bin") {
		t.Errorf("bin -> %s", target)
	}
	if _, err := os.Stat(store + target + "/hello"); err != nil {
		t.Errorf("hello not built: %v", err)
	}
	out.Reset()
	Main(t.Context(), []string{"cairn", "profile", "list", "--store", store, "--profile", prof}, strings.NewReader(""), &out, &errb, nil)
	if !strings.HasPrefix(out.String(), "0 - - /nix/store/") || !strings.HasSuffix(out.String(), "-hello-1.0\n") {
		t.Errorf("list: %q", out.String())
	}
}
