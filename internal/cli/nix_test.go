package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nixInstantiate returns the path of Nix 2.8's nix-instantiate, or skips
// (fails with CI=true) without it.
func nixInstantiate(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nix-instantiate")
	if err != nil {
		msg := "\n*** nix-instantiate NOT FOUND: the differential test against Nix 2.8 is skipped\n*** (apt-get install nix-bin, see scripts/README.md)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// TestDifferentialNix runs the same instantiate command lines through Nix
// 2.8 and cairn and compares stdout and the exit status. Expressions are
// chosen where Nix 2.8 and current Nix agree (error texts differ, so
// stderr is not compared).
func TestDifferentialNix(t *testing.T) {
	ni := nixInstantiate(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "demo.nix"), []byte(demoSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "f.nix"), []byte("{ x ? 1, y }: { inherit x y; z = x + y; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "x.nix"), []byte("{ a = 1; b = [ \"x\" ]; c = x: x; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	drv := `derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; }`
	cases := [][]string{
		{"--eval", "-E", "1 + 2 * 3"},
		{"--eval", "--strict", "-E", `{ b = [ 1 "x\n" ]; a = { c = null; d = true; }; }`},
		{"--eval", "-E", `{ a = 1; b = 2; }`},
		{"--eval", "-E", `"a${toString 1}b${"$"}{x}"`},
		{"--eval", "--strict", "-E", `builtins.attrNames { z = 1; a = 2; "b c" = 3; }`},
		{"--eval", "--strict", "-E", `map (x: x * 2) [ 1 2 3 ]`},
		{"--eval", "-E", "0.1 + 0.2"},
		{"--eval", "-E", "x: x"},
		{"--eval", "-E", "(" + drv + ").drvPath"},
		{"--eval", "-E", `builtins.toFile "foo" "bar"`},
		{"--eval", "--strict", "--json", "-E", `{ a = [ 1 "x" true null ]; b.c = "q"; }`},
		{"--eval", "--strict", "--xml", "x.nix"},
		{"--eval", "--strict", "-A", "a.b.1", "-E", `{ a.b = [ 1 { c = 2; } ]; }`},
		{"--eval", "--strict", "--arg", "y", "10", "f.nix"},
		{"--eval", "--strict", "--argstr", "y", "s", "-A", "y", "f.nix"},
		{"--eval", "--strict", "demo.nix", "-A", "names"},
		{"--eval", "demo.nix", "-A", "pkgs.curl.drvPath"},
		{"--eval", "-E", `throw "x"`},
		{"--eval", "-A", "nope", "-E", "{ }"},
		{"--parse", "-E", `let x = 1; in x + 2`},
		{"--eval", "-E", "1", "-E", "2"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(ni, args...)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "NIX_REMOTE=dummy://", "NIX_PATH=", "HOME="+work)
			var nixOut, nixErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &nixOut, &nixErr
			nixCode := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				nixCode = ee.ExitCode()
			}
			var out, errb bytes.Buffer
			env := []string{"NIX_REMOTE=dummy://", "HOME=" + work}
			code := mainIn(t.Context(), work, append([]string{"cairn", "instantiate", "--compat", "2.8"}, args...), strings.NewReader(""), &out, &errb, env)
			if code != nixCode || out.String() != nixOut.String() {
				t.Errorf("nix-instantiate %s\nnix (exit %d):\n%s%s\ncairn (exit %d):\n%s%s", strings.Join(args, " "),
					nixCode, nixOut.String(), nixErr.String(), code, out.String(), errb.String())
			}
		})
	}
}

// TestDifferentialNixStore instantiates into chroot stores, with Nix 2.8
// and with cairn, and compares the printed .drv paths and the .drv files.
func TestDifferentialNixStore(t *testing.T) {
	ni := nixInstantiate(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "demo.nix"), []byte(demoSource), 0o644); err != nil {
		t.Fatal(err)
	}
	nixStore, cairnStore := filepath.Join(work, "nix-root"), filepath.Join(work, "cairn-root")
	cmd := exec.Command(ni, "--store", nixStore, "--option", "substituters", "", "demo.nix", "-A", "pkgs")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "NIX_PATH=", "HOME="+work)
	nixOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-instantiate: %v", err)
	}
	var out, errb bytes.Buffer
	code := mainIn(t.Context(), work, []string{"cairn", "instantiate", "--store", cairnStore, "demo.nix", "-A", "pkgs"}, strings.NewReader(""), &out, &errb, []string{"HOME=" + work})
	if code != 0 || out.String() != string(nixOut) {
		t.Fatalf("nix:\n%s\ncairn (exit %d):\n%s%s", nixOut, code, out.String(), errb.String())
	}
	for _, p := range strings.Fields(string(nixOut)) {
		want, err := os.ReadFile(nixStore + p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(cairnStore + p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\nnix   %s\ncairn %s", p, want, got)
		}
	}
}

// TestDifferentialNixEval compares `cairn eval --compat 2.8` with Nix 2.8's
// `nix eval` (stdout and exit status), each writing into its own chroot
// store.
func TestDifferentialNixEval(t *testing.T) {
	ni := nixInstantiate(t)
	nix := filepath.Join(filepath.Dir(ni), "nix")
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "demo.nix"), []byte(demoSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{"--expr", `{ a = 1 + 1; b = { c = [ "x" 2.5 null ]; }; d = x: x; }`},
		{"--expr", `let x = { a = 1; }; in [ x x ]`},
		{"--json", "--expr", `{ b = 2; a = [ "x" true ]; }`},
		{"--raw", "--expr", `"line1\nline2"`},
		{"-f", "demo.nix", "names"},
		{"-f", "demo.nix", "pkgs.curl.drvPath"},
		{"-f", "demo.nix", "pkgs.zlib", "--apply", "p: p.outPath"},
		{"--expr", `derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; }`},
		{"--impure", "--expr", `"${./demo.nix}"`}, // nix eval is pure by default, cairn eval is not
		{"--raw", "--expr", "{ }"},
	}
	for i, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			root := filepath.Join(work, "nix-"+strconv.Itoa(i))
			cmd := exec.Command(nix, append([]string{"--extra-experimental-features", "nix-command", "eval", "--store", root, "--option", "substituters", ""}, args...)...)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "NIX_PATH=", "HOME="+work)
			var nixOut, nixErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &nixOut, &nixErr
			nixCode := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				nixCode = ee.ExitCode()
			}
			var out, errb bytes.Buffer
			cargs := append([]string{"cairn", "eval", "--compat", "2.8", "--store", filepath.Join(work, "cairn-"+strconv.Itoa(i))}, args...)
			code := mainIn(t.Context(), work, cargs, strings.NewReader(""), &out, &errb, []string{"HOME=" + work})
			if code != nixCode || out.String() != nixOut.String() {
				t.Errorf("nix eval %s\nnix (exit %d):\n%q\n%s\ncairn (exit %d):\n%q\n%s", strings.Join(args, " "),
					nixCode, nixOut.String(), nixErr.String(), code, out.String(), errb.String())
			}
		})
	}
}
