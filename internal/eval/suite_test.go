package eval

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/lang/parser"
)

// osIO is a test IO over the real file system with a computing (not
// writing) store.
type osIO struct{}

func (osIO) ReadFile(p string) ([]byte, error) { return os.ReadFile(p) }

func (osIO) ReadDir(p string) ([]DirEntry, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name(), Type: modeType(e.Type())}
	}
	return out, nil
}

func modeType(m fs.FileMode) FileType {
	switch {
	case m.IsRegular():
		return FileRegular
	case m.IsDir():
		return FileDirectory
	case m&fs.ModeSymlink != 0:
		return FileSymlink
	}
	return FileUnknown
}

func (osIO) Lstat(p string) (FileType, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return 0, errors.New("getting status of '" + p + "': " + strings.TrimPrefix(pe.Err.Error(), ""))
		}
		return 0, err
	}
	return modeType(fi.Mode()), nil
}

func (osIO) PathExists(p string) bool { _, err := os.Stat(p); return err == nil }

func (osIO) CopyPathToStore(p string) (string, error) {
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, p); err != nil {
		return "", err
	}
	h := nixhash.Sum(nixhash.SHA256, buf.Bytes())
	sp, err := storepath.Dir("/nix/store").MakeFixedOutputPath(filepath.Base(p), storepath.Recursive, h, nil, false)
	if err != nil {
		return "", err
	}
	return "/nix/store/" + sp.String(), nil
}

func (osIO) AddTextToStore(name, content string, refs []string) (string, error) {
	var rs []storepath.Path
	for _, r := range refs {
		p, err := storepath.Dir("/nix/store").Parse(r)
		if err != nil {
			return "", err
		}
		rs = append(rs, p)
	}
	sp, err := storepath.Dir("/nix/store").ComputeTextPath(name, []byte(content), rs)
	if err != nil {
		return "", err
	}
	return "/nix/store/" + sp.String(), nil
}

// suiteDir copies the language suite into a temp dir named "lang" (some
// tests depend on the name) and returns the work dir.
func suiteDir(t *testing.T) string {
	src := "/work/shared/conformance/nix-lang"
	if _, err := os.Stat(src); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("language suite missing at %s", src)
		}
		t.Skipf("SKIPPING: language suite not found at %s", src)
	}
	work := t.TempDir()
	if out, err := exec.Command("cp", "-a", src, filepath.Join(work, "lang")).CombinedOutput(); err != nil {
		t.Fatalf("copy suite: %v %s", err, out)
	}
	return work
}

type runResult struct {
	stdout, stderr string
	rc             int
}

func runInstantiate(work string, args []string) runResult {
	var (
		file        string
		strict, xml bool
		showTrace   = true
		noLocation  bool
		maxDepth    int
		search      []SearchPathEntry
		autoArgs    = map[string]string{}
		autoStr     = map[string]string{}
		features    []string
		lints       parser.Lints
	)
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--no-show-trace":
			showTrace = false
		case "--eval", "--impure", "--readonly-mode":
		case "--strict":
			strict = true
		case "--xml":
			xml = true
		case "--no-location":
			noLocation = true
		case "--show-trace":
			showTrace = true
		case "--max-call-depth":
			i++
			maxDepth, _ = strconv.Atoi(args[i])
		case "-I":
			i++
			e := args[i]
			if k, v, ok := strings.Cut(e, "="); ok {
				search = append(search, SearchPathEntry{Prefix: k, Path: filepath.Join(work, v)})
			} else {
				search = append(search, SearchPathEntry{Path: filepath.Join(work, e)})
			}
		case "--arg":
			autoArgs[args[i+1]] = args[i+2]
			i += 2
		case "--argstr":
			autoStr[args[i+1]] = args[i+2]
			i += 2
		case "--extra-experimental-features":
			i++
			features = append(features, args[i])
		case "--lint-absolute-path-literals", "--lint-short-path-literals", "--lint-url-literals":
			i++
			l, _ := parser.ParseLintLevel(args[i])
			switch a {
			case "--lint-absolute-path-literals":
				lints.AbsolutePathLiterals = l
			case "--lint-short-path-literals":
				lints.ShortPathLiterals = l
			default:
				lints.URLLiterals = l
			}
		case "-A":
			i++
		default:
			file = a
		}
	}
	_ = noLocation
	for _, d := range []string{"lang/dir3", "lang/dir4"} {
		search = append(search, SearchPathEntry{Path: filepath.Join(work, d)})
	}
	var stderr bytes.Buffer
	env := map[string]string{"TEST_VAR": "foo", "HOME": "/fake-home", "NIX_STORE_DIR": "/nix/store"}
	ev := New(Options{
		IO:                   osIO{},
		SearchPath:           search,
		MaxCallDepth:         maxDepth,
		Getenv:               func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Trace:                &stderr,
		ShowTrace:            showTrace,
		ExperimentalFeatures: features,
		Lints:                lints,
	})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalMainFile(filepath.Join(work, file))
		if err != nil {
			return err
		}
		if len(autoArgs)+len(autoStr) > 0 {
			args := map[string]Value{}
			for k, s := range autoArgs {
				x, err := ev.EvalString(s, "«string»", work)
				if err != nil {
					return err
				}
				args[k] = x
			}
			for k, s := range autoStr {
				args[k] = String(s)
			}
			if v, err = ev.AutoCall(v, args); err != nil {
				return err
			}
		}
		if xml {
			s, _, err := ev.ToXML(v, strict, false)
			if err != nil {
				return err
			}
			out.WriteString(s)
			return nil
		}
		if strict {
			if err := ev.ForceDeep(v); err != nil {
				return err
			}
		}
		if err := ev.PrintAmbiguous(&out, v); err != nil {
			return err
		}
		out.WriteString("\n")
		return nil
	})
	rc := 0
	if err != nil {
		stderr.WriteString(ev.FormatError(err, showTrace))
		if e, ok := err.(*EvalError); ok && e.Usage {
			stderr.WriteString("Try 'nix-instantiate --help' for more information.\n")
		}
		rc = 1
	}
	return runResult{out.String(), stderr.String(), rc}
}

func readFlags(p string) ([]string, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	s := string(b)
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.Fields(s), true
}

func sameFile(expFile, got string) bool {
	b, err := os.ReadFile(expFile)
	if err != nil {
		return got == ""
	}
	return string(b) == got
}

func TestLangSuite(t *testing.T) {
	work := suiteDir(t)
	lang := filepath.Join(work, "lang")
	names, _ := filepath.Glob(filepath.Join(lang, "eval-*.nix"))
	sort.Strings(names)
	okPass, okTotal, failPass, failTotal := 0, 0, 0, 0
	var failed []string
	only := os.Getenv("EVAL_TEST")
	for _, f := range names {
		name := strings.TrimSuffix(filepath.Base(f), ".nix")
		if only != "" && !strings.Contains(name, only) {
			continue
		}
		base := filepath.Join(lang, name)
		if strings.HasPrefix(name, "eval-okay-") {
			if _, err := os.Stat(base + ".exp-disabled"); err == nil {
				continue
			}
			okTotal++
			var r runResult
			xmlExp := base + ".exp.xml"
			if _, err := os.Stat(xmlExp); err == nil {
				r = runInstantiate(work, []string{"--eval", "--xml", "--no-location", "--strict", "lang/" + name + ".nix"})
				if r.rc == 0 && sameFile(xmlExp, r.stdout) {
					okPass++
					continue
				}
			} else {
				flags, _ := readFlags(base + ".flags")
				r = runInstantiate(work, append(flags, "--eval", "--strict", "lang/"+name+".nix"))
				r.stdout = strings.ReplaceAll(r.stdout, work, "/pwd")
				r.stderr = strings.ReplaceAll(r.stderr, work, "/pwd")
				if r.rc == 0 && sameFile(base+".exp", r.stdout) && sameFile(base+".err.exp", r.stderr) {
					okPass++
					continue
				}
			}
			failed = append(failed, name)
			if only != "" {
				exp, _ := os.ReadFile(base + ".exp")
				t.Logf("%s: rc=%d\n--- got stdout:\n%s\n--- want:\n%s\n--- stderr:\n%s", name, r.rc, r.stdout, exp, r.stderr)
			}
		} else if strings.HasPrefix(name, "eval-fail-") {
			failTotal++
			flags, ok := readFlags(base + ".flags")
			if !ok {
				flags = []string{"--eval", "--strict", "--show-trace"}
			}
			r := runInstantiate(work, append(flags, "lang/"+name+".nix"))
			r.stderr = postprocess(t, base, strings.ReplaceAll(r.stderr, work, "/pwd"))
			if r.rc == 1 && sameFile(base+".err.exp", r.stderr) {
				failPass++
				continue
			}
			failed = append(failed, name)
			if only != "" {
				exp, _ := os.ReadFile(base + ".err.exp")
				t.Logf("%s: rc=%d\n--- got stderr:\n%s\n--- want:\n%s", name, r.rc, r.stderr, exp)
			}
		}
	}
	t.Logf("eval-okay: %d/%d pass; eval-fail: %d/%d exact", okPass, okTotal, failPass, failTotal)
	if os.Getenv("EVAL_LIST") != "" {
		t.Logf("failing: %s", strings.Join(failed, " "))
	}
	if only != "" {
		return
	}
	known := readKnownFailures(t)
	for _, n := range failed {
		if !known[n] {
			t.Errorf("%s fails and is not in testdata/known-failures.txt (EVAL_TEST=%s shows the diff)", n, n)
		}
		delete(known, n)
	}
	for n := range known {
		t.Errorf("%s passes now: remove it from testdata/known-failures.txt", n)
	}
}

func readKnownFailures(t *testing.T) map[string]bool {
	b, err := os.ReadFile("testdata/known-failures.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if f := strings.Fields(l); len(f) > 0 {
			m[f[0]] = true
		}
	}
	return m
}

func postprocess(t *testing.T, base, got string) string {
	script := base + ".postprocess"
	if _, err := os.Stat(script); err != nil {
		return got
	}
	tmp := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(tmp+".err", []byte(got), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", script, tmp).CombinedOutput(); err != nil {
		t.Fatalf("postprocess %s: %v %s", script, err, out)
	}
	b, _ := os.ReadFile(tmp + ".err")
	return string(b)
}

// TestExpr evaluates $EVAL_EXPR (for debugging): go test -run TestExpr.
func TestExpr(t *testing.T) {
	src := os.Getenv("EVAL_EXPR")
	if src == "" {
		t.Skip("EVAL_EXPR not set")
	}
	var stderr bytes.Buffer
	ev := New(Options{IO: osIO{}, Trace: &stderr, ShowTrace: true})
	var out bytes.Buffer
	err := ev.Run(func() error {
		dir, _ := os.Getwd()
		v, err := ev.EvalString(src, "«string»", dir)
		if err != nil {
			return err
		}
		if err := ev.ForceDeep(v); err != nil {
			return err
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		t.Errorf("%s", ev.FormatError(err, true))
	}
	t.Logf("stdout: %s\nstderr: %s", out.String(), stderr.String())
}

// TestLibBench evaluates bench/lib-bench.nix with $EVAL_BENCH_ATTR (or
// all of it) against /work/nixpkgs; set EVAL_BENCH=1 to run.
func TestLibBench(t *testing.T) {
	if os.Getenv("EVAL_BENCH") == "" {
		t.Skip("EVAL_BENCH not set")
	}
	file, _ := filepath.Abs("../../bench/lib-bench.nix")
	var stderr bytes.Buffer
	ev := New(Options{IO: osIO{}, Trace: &stderr, Compat: CompatNix28(), MaxCallDepth: 1000000})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalMainFile(file)
		if err != nil {
			return err
		}
		if v, err = ev.AutoCall(v, map[string]Value{"nixpkgs": String("/work/nixpkgs")}); err != nil {
			return err
		}
		if a := os.Getenv("EVAL_BENCH_ATTR"); a != "" {
			s, err := ev.forceAttrs(v, 0, "")
			if err != nil {
				return err
			}
			at, _ := s.Get(ev.syms.intern(a))
			v = at.Val
		}
		if err := ev.ForceDeep(v); err != nil {
			return err
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		stderr.WriteString(ev.FormatError(err, true))
	}
	t.Logf("stdout: %s\nstderr: %s\nstats: %+v", out.String(), stderr.String(), ev.Stats())
}

func TestDeepRecursion(t *testing.T) {
	src := `let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 1000000`
	run := func(depth int) (string, error) {
		ev := New(Options{MaxCallDepth: depth})
		var out bytes.Buffer
		err := ev.Run(func() error {
			v, err := ev.EvalString(src, "«string»", "/")
			if err != nil {
				return err
			}
			return ev.PrintAmbiguous(&out, v)
		})
		if err != nil {
			return "", errors.New(ev.FormatError(err, false))
		}
		return out.String(), nil
	}
	if _, err := run(0); err == nil || !strings.Contains(err.Error(), "stack overflow; max-call-depth exceeded") {
		t.Fatalf("default depth: want stack overflow, got %v", err)
	}
	if testing.Short() {
		return
	}
	got, err := run(2000000)
	if err != nil {
		t.Fatalf("raised depth: %v", err)
	}
	if got != "1000000" {
		t.Fatalf("raised depth: got %q", got)
	}
}

// TestNixpkgsAttr evaluates $EVAL_NIXPKGS_ATTR of /work/nixpkgs (Nix28
// compat) and prints drvPath and outPath.
func TestNixpkgsAttr(t *testing.T) {
	attr := os.Getenv("EVAL_NIXPKGS_ATTR")
	if attr == "" {
		t.Skip("EVAL_NIXPKGS_ATTR not set")
	}
	var stderr bytes.Buffer
	env := map[string]string{"HOME": "/fake-home"}
	ev := New(Options{IO: osIO{}, Trace: &stderr, Compat: CompatNix28(), MaxCallDepth: 1000000, ShowTrace: true,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalString(`let p = import /work/nixpkgs { system = "x86_64-linux"; }; d = p.`+attr+`; in [ d.drvPath d.outPath ]`, "«string»", "/")
		if err != nil {
			return err
		}
		if err := ev.ForceDeep(v); err != nil {
			return err
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		t.Fatalf("%s", ev.FormatError(err, true))
	}
	t.Logf("stdout: %s\nstderr: %s\nstats: %+v", out.String(), stderr.String(), ev.Stats())
}

// TestNixpkgsDrvPaths compares drvPath/outPath of the attributes in
// /work/shared/reference/nixpkgs-2020-drvpaths.tsv (set EVAL_NIXPKGS=1).
func TestNixpkgsDrvPaths(t *testing.T) {
	if os.Getenv("EVAL_NIXPKGS") == "" {
		t.Skip("EVAL_NIXPKGS not set")
	}
	b, err := os.ReadFile("/work/shared/reference/nixpkgs-2020-drvpaths.tsv")
	if err != nil {
		t.Skipf("SKIPPING: no reference tsv: %v", err)
	}
	env := map[string]string{"HOME": "/fake-home"}
	ev := New(Options{IO: osIO{}, Trace: io.Discard, Compat: CompatNix28(), MaxCallDepth: 1000000,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	pass, total := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || strings.Contains(f[0], "nixos") || strings.HasPrefix(f[1], "error") {
			continue
		}
		total++
		var out bytes.Buffer
		err := ev.Run(func() error {
			v, err := ev.EvalString(`let p = import /work/nixpkgs { system = "x86_64-linux"; }; d = p.`+f[0]+`; in [ d.drvPath d.outPath ]`, "«string»", "/")
			if err != nil {
				return err
			}
			if err := ev.ForceDeep(v); err != nil {
				return err
			}
			return ev.PrintAmbiguous(&out, v)
		})
		want := `[ "` + f[1] + `" "` + f[2] + `" ]`
		switch {
		case err != nil:
			msg := ev.FormatError(err, false)
			t.Logf("%s: error: %.300s", f[0], msg)
		case out.String() != want:
			t.Logf("%s: got %s want %s", f[0], out.String(), want)
		default:
			pass++
		}
	}
	t.Logf("nixpkgs drv paths: %d/%d match", pass, total)
	if total-pass > 2 { // ghc and pandoc fail in Nix 2.8 too (no hackage-packages.nix)
		t.Errorf("%d attributes differ from Nix 2.8", total-pass)
	}
}

// TestNixOSToplevel evaluates the reference NixOS configuration (set
// EVAL_NIXOS=1) and compares its drvPath with Nix 2.8's.
func TestNixOSToplevel(t *testing.T) {
	if os.Getenv("EVAL_NIXOS") == "" {
		t.Skip("EVAL_NIXOS not set")
	}
	env := map[string]string{"HOME": "/fake-home"}
	var stderr bytes.Buffer
	ev := New(Options{IO: osIO{}, Trace: &stderr, Compat: CompatNix28(), MaxCallDepth: 1000000, ShowTrace: true,
		SearchPath: []SearchPathEntry{{Prefix: "nixpkgs", Path: "/work/nixpkgs"}},
		Getenv:     func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalString(`let sys = import <nixpkgs/nixos> { system = "x86_64-linux"; configuration = { fileSystems."/".device = "/dev/sda1"; boot.loader.grub.device = "nodev"; services.nginx.enable = true; }; }; t = sys.config.system.build.toplevel; in t.drvPath + "\t" + t.outPath`, "«string»", "/")
		if err != nil {
			return err
		}
		if f := os.Getenv("EVAL_HEAPPROF"); f != "" {
			runtime.GC()
			w, _ := os.Create(f)
			pprof.WriteHeapProfile(w)
			w.Close()
		}
		return ev.PrintAmbiguous(&out, v)
	})
	if err != nil {
		t.Fatalf("%s", ev.FormatError(err, true))
	}
	t.Logf("stdout: %s\nstats: %+v", out.String(), ev.Stats())
	if b, err := os.ReadFile("/work/shared/reference/nixpkgs-2020-drvpaths.tsv"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, "\t"); len(f) == 3 && strings.HasPrefix(f[0], "nixos-toplevel") {
				if want := `"` + f[1] + `\t` + f[2] + `"`; out.String() != want {
					t.Errorf("got %s, want %s", out.String(), want)
				}
			}
		}
	}
}
