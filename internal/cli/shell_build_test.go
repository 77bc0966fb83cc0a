package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellRun runs shell and run on pkgs'
// hello through Main with a chroot store: the programs run with the
// store mounted at /nix/store in a user namespace.
func TestShellRun(t *testing.T) {
	needSandboxBuilds(t)
	ctx := t.Context()
	work := t.TempDir()
	store := filepath.Join(work, "store")
	home := filepath.Join(work, "home")
	tmp := filepath.Join(work, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pkgs := pkgsDir(t)
	callerPath := "/usr/bin:/bin"
	env := []string{"PATH=" + callerPath, "HOME=" + home, "TMPDIR=" + tmp, "USER=tester"}
	cairn := func(args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := mainIn(ctx, work, append([]string{"cairn"}, args...), strings.NewReader(""), &out, &errb, env)
		return out.String(), errb.String(), code
	}

	// 1. shell: exactly hello's bin/ in front of the caller's PATH, and
	// its command runs.
	out, errs, code := cairn("shell", "--store", store, "-f", pkgs, "hello", "-c", "sh", "-c", `echo "$PATH"; hello -g "from the shell"`)
	if code != 0 {
		t.Fatalf("shell: exit %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("shell output %q", out)
	}
	entries := strings.Split(lines[0], ":")
	if len(entries) != 3 || !strings.HasPrefix(entries[0], "/nix/store/") || !strings.HasSuffix(entries[0], "-hello-1.0/bin") || strings.Join(entries[1:], ":") != callerPath {
		t.Errorf("PATH in the shell = %s, want hello's bin then %s", lines[0], callerPath)
	}
	if lines[1] != "from the shell" {
		t.Errorf("hello in the shell printed %q", lines[1])
	}
	helloBin := entries[0]
	if _, err := os.Stat(filepath.Join(store, helloBin, "hello")); err != nil {
		t.Errorf("hello's bin is not in the store: %v", err)
	}
	// Nothing installed: no profile, no GC root, no ~/.nix-profile.
	for _, d := range []string{filepath.Join(store, "nix/var/nix/profiles"), filepath.Join(store, "nix/var/nix/gcroots/auto")} {
		ents, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			if e.Name() != "per-user" {
				names = append(names, e.Name())
			}
		}
		if len(names) > 0 {
			t.Errorf("%s has %v after cairn shell", d, names)
		}
	}
	if err := filepath.Walk(filepath.Join(store, "nix/var/nix/profiles"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("cairn shell left %s", p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(home); len(ents) != 0 {
		t.Errorf("cairn shell wrote to HOME: %v", ents)
	}
	// The command's exit status is cairn's.
	if _, errs, code := cairn("shell", "--store", store, "-f", pkgs, "hello", "-c", "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("shell -c 'exit 5': exit %d\n%s", code, errs)
	}
	// An interactive shell needs a terminal, which the namespace does not
	// give.
	if _, errs, code := cairn("shell", "--store", store, "-f", pkgs, "hello"); code != 1 || !strings.Contains(errs, "give a command with -c") {
		t.Errorf("interactive shell with a chroot store: exit %d\n%s", code, errs)
	}

	// 2. run passes arguments: positional ones after the installable,
	// and all after -- (flags before it are cairn's, as in Nix 2.8).
	out, errs, code = cairn("run", "--store", store, "-f", pkgs, "hello", "--", "-g", "it's  spaced")
	if code != 0 || out != "it's  spaced\n" {
		t.Errorf("run -- -g ...: exit %d, stdout %q\n%s", code, out, errs)
	}
	out, errs, code = cairn("run", "--store", store, "-f", pkgs, "hello", "--", "--version")
	if code != 0 || out != "hello 1.0\n" {
		t.Errorf("run hello -- --version: exit %d, stdout %q\n%s", code, out, errs)
	}
	if _, errs, code = cairn("run", "--store", store, "-f", pkgs, "hello", "bogus"); code != 2 || !strings.Contains(errs, "hello: unknown argument 'bogus'") {
		t.Errorf("run hello bogus: exit %d\n%s", code, errs)
	}
}
