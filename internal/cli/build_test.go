package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
)

// TestMain lets the test binary serve as the sandbox init of the builds
// the tests start (as cmd/cairn does).
func TestMain(m *testing.M) {
	sandbox.MaybeRunInit(os.Args)
	os.Exit(m.Run())
}

// needSandboxBuilds skips (loudly) when this machine cannot run
// sandboxed builds of pkgs/: no static busybox or no user namespaces.
// With CI=true, a machine that has user namespaces enabled must pass.
func needSandboxBuilds(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if ci {
			t.Fatalf("/bin/busybox is missing (CI=true): run scripts/setup.sh: %v", err)
		}
		t.Skipf("SKIPPING: /bin/busybox is missing (apt-get install busybox-static, or scripts/setup.sh): %v", err)
	}
	err := sandbox.Check(t.Context(), t.TempDir())
	if err == nil {
		return
	}
	b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces")
	if ci && strings.TrimSpace(string(b)) != "0" && len(b) > 0 {
		t.Fatalf("the sandbox is unavailable although user namespaces are enabled (CI=true): %v", err)
	}
	t.Skipf("SKIPPING: the sandbox is unavailable on this machine: %v", err)
}

// pkgsDir is the repository's package set.
func pkgsDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../pkgs")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBuildHello builds pkgs' shell-script package end to end through
// Main into a chroot store: evaluation, instantiation, the sandboxed
// build with its test suite, the result link and its GC root, --json,
// the log command, store realise, and --check with internal-json events.
func TestBuildHello(t *testing.T) {
	needSandboxBuilds(t)
	ctx := t.Context()
	work := t.TempDir()
	store := filepath.Join(work, "store")
	pkgs := pkgsDir(t)
	env := []string{"PATH=/usr/bin:/bin"}

	// 1. cairn build -f pkgs hello through Main (an absolute out link:
	// Main builds in the process's working directory).
	var out, errb bytes.Buffer
	link := filepath.Join(work, "result")
	if code := Main(ctx, []string{"cairn", "build", "--store", store, "-f", pkgs, "hello", "--out-link", link, "-j", "2", "--cores", "1"}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("build printed %q on stdout, want nothing", out.String())
	}
	for _, want := range []string{"building '/nix/store/", "-busybox.drv'...", "-hello-1.0.drv'...", "hello: all tests passed\n"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("progress output lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "@nix") {
		t.Errorf("raw progress shows @nix messages:\n%s", errb.String())
	}
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(target, "/nix/store/") || !strings.HasSuffix(target, "-hello-1.0") {
		t.Fatalf("result -> %s", target)
	}
	script, err := os.ReadFile(store + target + "/bin/hello")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(script), "#!/nix/store/") || !strings.Contains(string(script), `echo "hello 1.0"`) {
		t.Errorf("bin/hello:\n%s", script)
	}
	// The link is an indirect GC root.
	autos, err := os.ReadDir(filepath.Join(store, "nix/var/nix/gcroots/auto"))
	if err != nil || len(autos) != 1 {
		t.Fatalf("gcroots/auto: %v %v", autos, err)
	}
	if l, _ := os.Readlink(filepath.Join(store, "nix/var/nix/gcroots/auto", autos[0].Name())); l != link {
		t.Errorf("gcroots/auto entry -> %s, want %s", l, link)
	}

	// 2. --json --no-link, from the working directory: already built.
	out.Reset()
	errb.Reset()
	if code := mainIn(ctx, work, []string{"cairn", "build", "--store", store, "-f", pkgs, "hello", "--json", "--no-link"}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("build --json: exit %d\n%s", code, errb.String())
	}
	var js []struct {
		DrvPath string            `json:"drvPath"`
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	if len(js) != 1 || !strings.HasSuffix(js[0].DrvPath, "-hello-1.0.drv") || !reflect.DeepEqual(js[0].Outputs, map[string]string{"out": target}) {
		t.Errorf("--json = %s", out.String())
	}
	if strings.Contains(errb.String(), "building") {
		t.Errorf("second build rebuilt:\n%s", errb.String())
	}
	if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(out.String(), `[{"drvPath":"/nix/store/`) {
		t.Errorf("--json is not one compact line as nix build prints it: %q", out.String())
	}
	drv := js[0].DrvPath

	// An output path builds nothing and is linked as it is.
	out.Reset()
	errb.Reset()
	if code := mainIn(ctx, work, []string{"cairn", "build", "--store", store, target, "--json", "-o", "opaque"}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("build %s: exit %d\n%s", target, code, errb.String())
	}
	if want := `[{"path":"` + target + `"}]` + "\n"; out.String() != want {
		t.Errorf("--json of an output path = %q, want %q", out.String(), want)
	}
	if l, _ := os.Readlink(filepath.Join(work, "opaque")); l != target {
		t.Errorf("opaque link -> %q", l)
	}

	// 3. cairn log, by output link, by .drv and by installable.
	for _, arg := range [][]string{{"./result"}, {drv}, {"-f", pkgs, "hello"}} {
		out.Reset()
		errb.Reset()
		args := append([]string{"cairn", "log", "--store", store}, arg...)
		if code := mainIn(ctx, work, args, strings.NewReader(""), &out, &errb, env); code != 0 {
			t.Fatalf("log %v: exit %d\n%s", arg, code, errb.String())
		}
		if !strings.Contains(out.String(), "hello: all tests passed\n") || !strings.Contains(out.String(), `@nix {"action":"setPhase","phase":"installPhase"}`) {
			t.Errorf("log %v:\n%s", arg, out.String())
		}
	}

	// 4. store realise prints the output path.
	out.Reset()
	errb.Reset()
	if code := mainIn(ctx, work, []string{"cairn", "store", "realise", "--store", store, drv}, strings.NewReader(""), &out, &errb, env); code != 0 || out.String() != target+"\n" {
		t.Errorf("store realise: exit %d, stdout %q, stderr %s", code, out.String(), errb.String())
	}

	// 5. --check rebuilds and compares; internal-json shows the events.
	out.Reset()
	errb.Reset()
	if code := mainIn(ctx, work, []string{"cairn", "build", "--store", store, drv + "^*", "--check", "--no-link", "--log-format", "internal-json"}, strings.NewReader(""), &out, &errb, env); code != 0 {
		t.Fatalf("build --check: exit %d\n%s", code, errb.String())
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "@nix ")
		if !ok {
			t.Fatalf("not an internal-json line: %q", line)
		}
		var ev struct {
			Action string `json:"action"`
			ID     int    `json:"id"`
			Type   int    `json:"type"`
			Fields []any  `json:"fields"`
			Text   string `json:"text"`
		}
		if err := json.Unmarshal([]byte(rest), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		k := ev.Action
		if ev.Type != 0 {
			k += "/" + itoa(ev.Type)
		}
		if ev.Action == "result" && ev.Type == 104 {
			k += ":" + ev.Fields[0].(string)
		}
		if ev.Action == "start" && ev.Type == 105 && ev.Text != "checking outputs of '"+drv+"'" {
			t.Errorf("start text %q", ev.Text)
		}
		kinds = append(kinds, k)
	}
	want := []string{"start/104", "start/105", "result/105", "result/104:unpackPhase", "result/104:configurePhase",
		"result/104:buildPhase", "result/104:checkPhase", "result/101", "result/104:installPhase", "stop", "result/105", "stop"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("internal-json events\n got %q\nwant %q\n%s", kinds, want, errb.String())
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestBuildFailure: a failing builder exits with Nix's status 100 and
// prints the log tail; --keep-going builds what does not depend on it.
func TestBuildFailure(t *testing.T) {
	needSandboxBuilds(t)
	work := t.TempDir()
	store := filepath.Join(work, "store")
	nix := `let pkgs = import ` + pkgsDir(t) + ` { }; in {
	  bad = pkgs.stdenv.mkDerivation { pname = "bad"; version = "1"; buildPhase = "echo about to fail; exit 3"; };
	  good = pkgs.stdenv.mkDerivation { pname = "good"; version = "1"; installPhase = "echo ok > $out"; };
	}`
	if err := os.WriteFile(filepath.Join(work, "f.nix"), []byte(nix), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := mainIn(t.Context(), work, []string{"cairn", "build", "--store", store, "f.nix", "-k", "--no-link"}, strings.NewReader(""), &out, &errb, nil)
	if code != 100 {
		t.Fatalf("exit %d, want 100\n%s", code, errb.String())
	}
	for _, want := range []string{"error: builder for '/nix/store/", "-bad-1.drv' failed with exit code 3", "about to fail"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if !strings.Contains(errb.String(), "-good-1.drv'...") {
		t.Errorf("--keep-going did not build good:\n%s", errb.String())
	}
}

// TestBuildFlags checks the parsing of the build flags through runF.
func TestBuildFlags(t *testing.T) {
	f := &Factory{Prog: "cairn build"}
	var got *BuildOptions
	err := newBuildCmd(f, func(o *BuildOptions) error { got = o; return nil })([]string{
		"-f", "pkgs", "hello", "-A", "x", "-j", "3", "--cores", "2", "-k", "-K", "--check", "--timeout", "60",
		"--max-silent-time", "5", "--option", "sandbox", "false", "--json", "--no-link", "-o", "out", "--log-format", "internal-json", "-L",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := BuildFlags{MaxJobs: 3, Cores: 2, KeepGoing: true, KeepFailed: true, Check: true, Timeout: time.Minute,
		MaxSilentTime: 5 * time.Second, LogFormat: "internal-json", PrintLogs: true}
	if got.Build != want || got.File != "pkgs" || !reflect.DeepEqual(got.Args, []string{"hello"}) || !reflect.DeepEqual(got.AttrPaths, []string{"x"}) ||
		!got.JSON || !got.NoLink || got.OutLink != "out" {
		t.Errorf("options %+v", got)
	}
	bs, err := resolveBuildSettings(f, &got.Eval, &got.Build)
	if err != nil || bs.sandbox != "false" || bs.maxJobs != 3 || bs.cores != 2 || !bs.keepGoing {
		t.Errorf("settings %+v %v", bs, err)
	}
	for _, bad := range [][]string{{"-j", "x"}, {"--cores"}, {"--timeout", "-1"}, {"--bogus"}} {
		err := newBuildCmd(f, func(*BuildOptions) error { return nil })(bad)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err %v, want a usage error", bad, err)
		}
	}
	_, err = resolveBuildSettings(f, &EvalFlags{Settings: []Setting{{"sandbox", "maybe"}}}, &BuildFlags{Cores: -1})
	if err == nil {
		t.Error("sandbox = maybe accepted")
	}
}

// TestBuildPkgsCairn builds cairn itself from this repository with
// pkgs/cairn.nix (the vendored modules come from a fixed-output
// derivation that downloads them through the Go module proxy). It takes
// minutes, so it runs only with CAIRN_TEST_BUILD_CAIRN=1.
func TestBuildPkgsCairn(t *testing.T) {
	if os.Getenv("CAIRN_TEST_BUILD_CAIRN") != "1" {
		t.Skip("building cairn itself takes minutes: set CAIRN_TEST_BUILD_CAIRN=1 to run it")
	}
	needSandboxBuilds(t)
	work := t.TempDir()
	store := filepath.Join(work, "store")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	code := mainIn(ctx, work, []string{"cairn", "build", "--store", store, "-f", pkgsDir(t), "cairn", "--cores", "0"}, strings.NewReader(""), &out, &errb, os.Environ())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	target, err := os.Readlink(filepath.Join(work, "result"))
	if err != nil {
		t.Fatal(err)
	}
	var vout, verr bytes.Buffer
	// The built binary is static: run it from the chroot store.
	cmd := store + target + "/bin/cairn"
	if _, err := os.Stat(cmd); err != nil {
		t.Fatal(err)
	}
	c := exec.CommandContext(ctx, cmd, "eval", "--expr", "1 + 2")
	c.Stdout, c.Stderr = &vout, &verr
	if err := c.Run(); err != nil || vout.String() != "3\n" {
		t.Errorf("built cairn eval: %q %q %v", vout.String(), verr.String(), err)
	}
}

// TestDemoBuild runs the demo's build steps (without building cairn)
// from the repository into a temporary store directory.
func TestDemoBuild(t *testing.T) {
	needSandboxBuilds(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := mainIn(t.Context(), repo, []string{"cairn", "demo", "--no-cairn", "--store", dir}, strings.NewReader(""), &out, &errb, []string{"HOME=" + dir, "CAIRN_GOROOT=/nonexistent"})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"[5/5] A deliberate mistake", // the evaluation steps are still there
		"[build 1/4] Build the shell-script package hello",
		"hello: all tests passed",
		"[build 2/4] Run it", "\nHello from the sandbox!\n",
		"[build 3/4] Its build log",
		"[build 4/4] Reproducible?", "checking outputs of '/nix/store/",
		"(no difference: the rebuilt output is identical)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "result-hello")); err != nil {
		t.Errorf("result link not in the demo directory: %v", err)
	}
}

// TestPkgsVendorHash checks that pkgs/cairn.nix's vendorHash matches
// go.mod and go.sum: it runs `go mod vendor` on the same files the
// fixed-output derivation sees (go.mod, go.sum, cmd/, internal/ without
// tests) with the local module cache only (GOPROXY=off) and compares the
// NAR hash. Without the modules in the cache it skips.
func TestPkgsVendorHash(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SKIPPING: no go on PATH: %v", err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	err = filepath.WalkDir(repo, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, p)
		top, _, _ := strings.Cut(rel, string(filepath.Separator))
		switch {
		case rel == ".":
			return nil
		case rel != "go.mod" && rel != "go.sum" && top != "cmd" && top != "internal",
			d.Name() == "testdata", strings.HasSuffix(d.Name(), "_test.go"), strings.HasSuffix(d.Name(), ".test"),
			d.Type()&os.ModeSymlink != 0:
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(src, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(src, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, "mod", "vendor")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: go mod vendor without the network failed (modules not in the cache?): %v\n%s", err, out)
	}
	var nb bytes.Buffer
	if err := nar.DumpPathFilter(&nb, filepath.Join(src, "vendor"), nil); err != nil {
		t.Fatal(err)
	}
	got := nixhash.Sum(nixhash.SHA256, nb.Bytes()).Encode(nixhash.SRI, false)
	nixSrc, err := os.ReadFile(filepath.Join(repo, "pkgs", "cairn.nix"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`outputHash = "(sha256-[^"]+)"`).FindSubmatch(nixSrc)
	if m == nil {
		t.Fatal("no outputHash in pkgs/cairn.nix")
	}
	if string(m[1]) != got {
		t.Errorf("pkgs/cairn.nix: vendor outputHash is %s, but go.mod/go.sum give %s: update it", m[1], got)
	}
}

// TestTraversable checks the search-permission walk that decides whether
// nixbld1 can reach the store.
func TestTraversable(t *testing.T) {
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	open, closed := filepath.Join(base, "open", "store"), filepath.Join(base, "closed", "store")
	for _, d := range []string{open, closed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Dir(closed), 0o750); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	const other = 54321
	for _, c := range []struct {
		dir      string
		uid, gid int
		want     bool
	}{
		{open, other, other, traversable(filepath.Dir(base), other, other)},
		{closed, other, other, false},
		{closed, other, gid, traversable(base, other, gid)},
		{closed, uid, gid, traversable(base, uid, gid)},
		{filepath.Join(base, "missing"), uid, gid, false},
	} {
		if got := traversable(c.dir, c.uid, c.gid); got != c.want {
			t.Errorf("traversable(%s, %d, %d) = %v, want %v", c.dir, c.uid, c.gid, got, c.want)
		}
	}
}

// TestMoreBuildUsers: the build users after nixbld1 are nixbld2, … with
// nixbld1's group, as many as exist.
func TestMoreBuildUsers(t *testing.T) {
	first := buildUser("/")
	if first == nil {
		t.Skip("no nixbld1 build user here (not root, or Nix's users not installed)")
	}
	more := moreBuildUsers(first, "/")
	seen := map[int]bool{first.UID: true}
	for i, u := range more {
		want, err := user.Lookup("nixbld" + strconv.Itoa(i+2))
		if err != nil || want.Uid != strconv.Itoa(u.UID) || u.GID != first.GID || seen[u.UID] {
			t.Errorf("user %d: %+v (lookup %v, %v)", i+2, u, want, err)
		}
		seen[u.UID] = true
	}
	if _, err := user.Lookup("nixbld" + strconv.Itoa(len(more)+2)); err == nil {
		t.Errorf("nixbld%d exists but was not listed", len(more)+2)
	}
	if moreBuildUsers(nil) != nil {
		t.Error("users without a first build user")
	}
}
