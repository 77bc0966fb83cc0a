package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellRunDevelop runs shell, run, print-dev-env and develop on pkgs'
// hello through Main with a chroot store: the programs run with the
// store mounted at /nix/store in a user namespace.
func TestShellRunDevelop(t *testing.T) {
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

	// meta.mainProgram names the program; a .drv installable uses pname.
	nix := `let pkgs = import ` + pkgs + ` { }; in pkgs.stdenv.mkDerivation {
	  pname = "greeter"; version = "0.1";
	  installPhase = ''
	    mkdir -p $out/bin
	    echo "#!$busybox/bin/sh" > $out/bin/greet
	    echo 'echo greet "$@"' >> $out/bin/greet
	    echo "#!$busybox/bin/sh" > $out/bin/greeter
	    echo 'echo pname "$@"' >> $out/bin/greeter
	    chmod +x $out/bin/*
	  '';
	  meta.mainProgram = "greet";
	}`
	if err := os.WriteFile(filepath.Join(work, "greeter.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = cairn("run", "--store", store, "greeter.nix", "--", "x y")
	if code != 0 || out != "greet x y\n" {
		t.Errorf("run with meta.mainProgram: exit %d, stdout %q\n%s", code, out, errs)
	}
	out, errs, code = cairn("eval", "--store", store, "--raw", "--expr", "(import "+filepath.Join(work, "greeter.nix")+").drvPath")
	if code != 0 {
		t.Fatalf("eval drvPath: exit %d\n%s", code, errs)
	}
	out, errs, code = cairn("run", "--store", store, out, "z")
	if code != 0 || out != "pname z\n" {
		t.Errorf("run x.drv (pname): exit %d, stdout %q\n%s", code, out, errs)
	}

	// 3. print-dev-env --json has Nix 2.8's shape.
	out, errs, code = cairn("print-dev-env", "--store", store, "-f", pkgs, "hello", "--json")
	if code != 0 {
		t.Fatalf("print-dev-env --json: exit %d\n%s", code, errs)
	}
	var js struct {
		Variables map[string]struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"variables"`
		BashFunctions map[string]string `json:"bashFunctions"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&js); err != nil || js.BashFunctions == nil {
		t.Fatalf("print-dev-env --json %q: %v", out, err)
	}
	for k, want := range map[string]string{"pname": "hello", "version": "1.0", "out": filepath.Join(work, "outputs", "out"), "NIX_STORE": "/nix/store"} {
		if v := js.Variables[k]; v.Type != "exported" || v.Value != want {
			t.Errorf("variables.%s = %+v, want exported %q", k, v, want)
		}
	}
	for _, k := range []string{"HOME", "TMPDIR", "NIX_BUILD_TOP", "NIX_LOG_FD", "TERM"} {
		if _, ok := js.Variables[k]; ok {
			t.Errorf("variables has %s", k)
		}
	}
	out, errs, code = cairn("print-dev-env", "--store", store, "-f", pkgs, "hello")
	if code != 0 || !strings.Contains(out, "pname='hello'\nexport pname\n") || !strings.Contains(out, "genericBuild()") {
		t.Errorf("print-dev-env: exit %d\n%s\n%s", code, out, errs)
	}

	// 4. develop -c sees the derivation's variables; genericBuild builds
	// into ./outputs.
	out, errs, code = cairn("develop", "--store", store, "-f", pkgs, "hello", "-c", "sh", "-c", `echo "$pname $version $out $doCheck"; test -d "$NIX_BUILD_TOP" && test "$TMPDIR" = "$NIX_BUILD_TOP" && echo tmp ok`)
	if want := "hello 1.0 " + filepath.Join(work, "outputs", "out") + " 1\ntmp ok\n"; code != 0 || out != want {
		t.Errorf("develop -c: exit %d, stdout %q, want %q\n%s", code, out, want, errs)
	}
	out, errs, code = cairn("develop", "--store", store, "-f", pkgs, "hello", "-c", "genericBuild")
	if code != 0 || !strings.Contains(out, "hello: all tests passed") {
		t.Errorf("develop -c genericBuild: exit %d\n%s\n%s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(work, "outputs/out/bin/hello")); err != nil || !strings.Contains(string(b), `echo "hello 1.0"`) {
		t.Errorf("genericBuild's outputs/out/bin/hello: %v\n%s", err, b)
	}

	// 5. develop --phase runs one phase of a derivation of our own.
	nix = `let pkgs = import ` + pkgs + ` { }; in pkgs.stdenv.mkDerivation {
	  pname = "phased"; version = "2";
	  buildPhase = "echo build phase of $pname; echo in $NIX_BUILD_TOP > $TMPDIR/seen";
	  installPhase = "echo install phase; exit 9";
	  shellHook = "echo hook ran in $pname >&2";
	}`
	if err := os.WriteFile(filepath.Join(work, "phased.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = cairn("develop", "--store", store, "phased.nix", "--phase", "build")
	if code != 0 || out != "build phase of phased\n" {
		t.Errorf("develop --phase build: exit %d, stdout %q\n%s", code, out, errs)
	}
	if _, errs, code = cairn("develop", "--store", store, "phased.nix", "--install"); code != 9 {
		t.Errorf("develop --install: exit %d, want the phase's 9\n%s", code, errs)
	}
	// As in Nix 2.8, shellHook runs for commands too, and the caller's
	// PATH follows the builder's.
	out, errs, code = cairn("develop", "--store", store, "phased.nix", "-c", "sh", "-c", `echo "$PATH"`)
	if code != 0 || out != "/path-not-set:"+callerPath+"\n" || !strings.Contains(errs, "hook ran in phased\n") {
		t.Errorf("develop -c with shellHook: exit %d, stdout %q\n%s", code, out, errs)
	}
}
