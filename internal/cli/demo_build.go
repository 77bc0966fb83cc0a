package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"cairn/internal/build/sandbox"
)

// The second half of the demo: building real software from pkgs/ in the
// sandbox, into a chroot store in the user's cache directory (nothing
// outside it is touched), running it, reading its log and rebuilding it
// with --check.

// demoBuild holds what the build steps share.
type demoBuild struct {
	ctx   context.Context
	f     *Factory
	out   *bufio.Writer
	dir   string // cache directory: store/, links
	store string
	pkgs  string
	args  []string // --argstr goroot ...
	step  int
	steps int
}

// repoPkgs finds pkgs/default.nix in the working directory or above it.
func repoPkgs(cwd string) (string, bool) {
	for d := cwd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "pkgs")
		if _, err := os.Stat(filepath.Join(p, "bootstrap.nix")); err == nil {
			return p, true
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}

// demoCacheDir is where the demo keeps its store: --store, else
// $XDG_CACHE_HOME/cairn/demo, else ~/.cache/cairn/demo.
func demoCacheDir(f *Factory, flag string) (string, error) {
	if flag != "" {
		return f.abs(flag)
	}
	if d := f.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "cairn", "demo"), nil
	}
	if h := f.getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "cairn", "demo"), nil
	}
	return filepath.Join(os.TempDir(), "cairn-demo"), nil
}

// demoGoroot is the Go toolchain the package set builds with: the
// CAIRN_GOROOT environment variable, else `go env GOROOT`, else the
// bootstrap's default.
func demoGoroot(ctx context.Context, f *Factory) string {
	if g := f.getenv("CAIRN_GOROOT"); g != "" {
		return g
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// buildTour runs the build steps of the demo.
func buildTour(ctx context.Context, f *Factory, out *bufio.Writer, o *DemoOptions) error {
	cwd, err := f.Cwd()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n--- Part 2: building real software in the sandbox ---\n")
	pkgs, ok := repoPkgs(cwd)
	if !ok {
		fmt.Fprintf(out, "(skipped: run the demo from a checkout of cairn, where pkgs/ is, to build packages)\n")
		return nil
	}
	dir, err := demoCacheDir(f, o.StoreDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the demo directory: %w", err)
	}
	if err := sandbox.Check(ctx, dir); err != nil {
		fmt.Fprintf(out, "(skipped: this machine cannot run sandboxed builds: %v)\n", err)
		return nil
	}
	d := &demoBuild{ctx: ctx, f: f, out: out, dir: dir, store: filepath.Join(dir, "store"), pkgs: pkgs, steps: 4}
	if g := demoGoroot(ctx, f); g != "" {
		d.args = []string{"--argstr", "goroot", g}
	}
	if o.Cairn {
		d.steps += 2
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	fmt.Fprintf(out, "pkgs/ is cairn's own package set: a bootstrap that copies the host's static busybox and Go\n")
	fmt.Fprintf(out, "toolchain into the store (hash-addressed inputs), a small mkDerivation, and packages built from\n")
	fmt.Fprintf(out, "source. Everything goes into a chroot store in %s (delete it to start over).\n", dir)
	hello := filepath.Join(dir, "result-hello")

	start := time.Now()
	if err := d.cmd("Build the shell-script package hello (its test suite runs in the sandbox)",
		"build", "-f", rel(pkgs), "hello", "-o", hello); err != nil {
		return err
	}
	fmt.Fprintf(out, "  (%.1fs; a second run finds it built)\n", time.Since(start).Seconds())

	target, err := os.Readlink(hello)
	if err != nil {
		return err
	}
	d.header("Run it", fmt.Sprintf("%s/bin/hello -g 'Hello from the sandbox!'", hello))
	// The store is a chroot store: the script's #! names /nix/store/...,
	// which exists only inside builds, so run it with the host's sh.
	script := d.store + target + "/bin/hello"
	res, err := exec.CommandContext(ctx, "/bin/sh", script, "-g", "Hello from the sandbox!").CombinedOutput()
	if err != nil {
		return fmt.Errorf("running %s: %w: %s", script, err, res)
	}
	fmt.Fprintf(out, "%s", res)
	fmt.Fprintf(out, "  (the result is a GC root: %s -> %s; the store lives under %s, so the\n   demo runs the script with the host's /bin/sh instead of its #!%s)\n", hello, target, d.store, firstLine(d.store+target+"/bin/hello"))

	if err := d.cmd("Its build log, as stored (nix log)", "log", hello); err != nil {
		return err
	}
	if err := d.cmd("Reproducible? Rebuild and compare bit for bit (--check)", "build", "-f", rel(pkgs), "hello", "--check", "--no-link"); err != nil {
		return err
	}
	fmt.Fprintf(out, "  (no difference: the rebuilt output is identical)\n")

	if o.Cairn {
		c := filepath.Join(dir, "result-cairn")
		start := time.Now()
		if err := d.cmd("Build cairn itself from this repository (Go modules from a fixed-output derivation; minutes the first time)",
			"build", "-f", rel(pkgs), "cairn", "-o", c, "--cores", "0"); err != nil {
			return err
		}
		fmt.Fprintf(out, "  (%.0fs)\n", time.Since(start).Seconds())
		target, err := os.Readlink(c)
		if err != nil {
			return err
		}
		d.header("Run the cairn that cairn built", fmt.Sprintf("%s/bin/cairn eval --expr 'builtins.nixVersion'", c))
		res, err := exec.CommandContext(ctx, d.store+target+"/bin/cairn", "eval", "--expr", "builtins.nixVersion").CombinedOutput()
		if err != nil {
			return fmt.Errorf("running the built cairn: %w: %s", err, res)
		}
		fmt.Fprintf(out, "%s", res)
	}
	fmt.Fprintf(out, "\nThat was cairn build. Try `cairn build --store %s -f pkgs hello --log-format internal-json`.\n", d.store)
	return nil
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimPrefix(string(line), "#!")
}

func (d *demoBuild) header(title, cmd string) {
	d.step++
	fmt.Fprintf(d.out, "\n[build %d/%d] %s\n      $ %s\n", d.step, d.steps, title, cmd)
}

// cmd shows and runs a cairn command against the demo store; its output
// (progress included) goes to the demo's standard output.
func (d *demoBuild) cmd(title string, args ...string) error {
	full := append(append([]string{"cairn", args[0], "--store", d.store}, args[1:]...), d.args...)
	if args[0] == "log" {
		full = full[:len(full)-len(d.args)]
	}
	shown := make([]string, len(full))
	for i, a := range full {
		if strings.ContainsAny(a, " '") {
			a = "'" + a + "'"
		}
		shown[i] = a
	}
	d.header(title, strings.Join(shown, " "))
	if err := d.out.Flush(); err != nil {
		return err
	}
	sub := &Factory{Stdin: d.f.Stdin, Stdout: d.f.Stdout, Stderr: d.f.Stdout, Environ: d.f.Environ, Dir: d.f.Dir, Prog: "cairn"}
	code := run(d.ctx, sub, full)
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}
