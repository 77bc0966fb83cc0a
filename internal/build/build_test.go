package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/derivation"
	"cairn/internal/compat/storepath"
	"cairn/internal/fsutil"
	"cairn/internal/store/local"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit(os.Args)
	os.Exit(m.Run())
}

const hostBusybox = "/bin/busybox"

// applets are linked next to busybox in the test store path.
var applets = []string{"sh", "cat", "echo", "env", "id", "hostname", "ls", "mkdir", "chmod", "wget", "pwd", "sort",
	"ln", "cp", "sleep", "printf", "tr", "test", "head", "seq", "true", "false", "rm", "touch", "stat", "grep", "sed"}

var (
	sandboxOnce sync.Once
	sandboxErr  error
)

// needBusybox skips (loudly) without /bin/busybox; with CI=true it fails.
func needBusybox(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(hostBusybox); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install -y busybox-static)", hostBusybox)
		}
		t.Skipf("SKIPPING: %s is missing (apt-get install -y busybox-static)", hostBusybox)
	}
}

// needSandbox skips when this host cannot create sandboxes; with CI=true
// that is a failure unless the host lacks the support (then it still
// skips, loudly).
func needSandbox(t testing.TB) {
	t.Helper()
	needBusybox(t)
	sandboxOnce.Do(func() { sandboxErr = sandbox.Check(context.Background(), os.TempDir()) })
	if sandboxErr != nil {
		if errors.Is(sandboxErr, sandbox.ErrUnavailable) {
			t.Skipf("SKIPPING: this host cannot create build sandboxes: %v", sandboxErr)
		}
		t.Fatalf("sandbox check: %v", sandboxErr)
	}
}

// env is a test store with busybox in it.
type env struct {
	t     testing.TB
	st    *local.Store
	root  string
	bb    storepath.Path // directory with bin/busybox and applet links
	sh    string         // printed path of bin/sh
	b     *Builder
	cfg   Config
	logs  *bytes.Buffer
	drvs  map[storepath.Path]*derivation.Derivation
	mu    sync.Mutex
	hash  *derivation.Hasher
	extra []storepath.Path
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	needBusybox(t)
	root := t.TempDir()
	st, err := local.Open(context.Background(), local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Store directories are read-only; a non-root test cannot delete
	// them without making them writable first.
	t.Cleanup(func() { fsutil.RemoveAll(root) })
	return setupEnv(t, st, root, cfg)
}

func setupEnv(t testing.TB, st *local.Store, root string, cfg Config) *env {
	src := filepath.Join(t.TempDir(), "busybox")
	os.MkdirAll(src+"/bin", 0o755)
	data, err := os.ReadFile(hostBusybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src+"/bin/busybox", data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		os.Symlink("busybox", src+"/bin/"+a)
	}
	info, err := st.AddPath(context.Background(), src, local.AddOptions{Name: "busybox", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, root: root, bb: info.Path, drvs: map[storepath.Path]*derivation.Derivation{}}
	e.sh = st.Dir().Print(info.Path) + "/bin/sh"
	e.logs = &bytes.Buffer{}
	if cfg.Log == nil {
		cfg.Log = e.logs
	}
	if cfg.TmpDir == "" {
		cfg.TmpDir = t.TempDir()
	}
	e.cfg = cfg
	e.b = New(st, cfg)
	t.Cleanup(func() { e.b.Close() })
	e.hash = derivation.NewHasher(st.Dir(), func(p string) (*derivation.Derivation, error) {
		sp, err := st.Dir().Parse(p)
		if err != nil {
			return nil, err
		}
		return e.read(sp)
	})
	return e
}

func (e *env) read(p storepath.Path) (*derivation.Derivation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.drvs[p]; ok {
		return d, nil
	}
	return e.st.ReadDerivation(context.Background(), p)
}

// drvSpec describes a test derivation.
type drvSpec struct {
	name    string
	script  string
	env     map[string]string
	outputs []string            // default ["out"]
	fixed   *derivation.Output  // fixed output (HashAlgo, Hash)
	deps    []storepath.Path    // input derivations (all outputs "out")
	depOuts map[string][]string // input derivation printed path → outputs
	srcs    []storepath.Path
}

// drv writes a derivation running script with busybox sh and returns its
// path.
func (e *env) drv(s drvSpec) storepath.Path {
	e.t.Helper()
	d := &derivation.Derivation{
		Outputs:   map[string]derivation.Output{},
		InputDrvs: map[string][]string{},
		InputSrcs: []string{e.st.Dir().Print(e.bb)},
		Platform:  "x86_64-linux",
		Builder:   e.sh,
		Args:      []string{"-c", s.script},
		Env:       map[string]string{"name": s.name, "system": "x86_64-linux", "builder": e.sh, "PATH": e.st.Dir().Print(e.bb) + "/bin"},
	}
	for k, v := range s.env {
		d.Env[k] = v
	}
	if s.fixed != nil {
		d.Outputs["out"] = *s.fixed
	} else {
		outs := s.outputs
		if outs == nil {
			outs = []string{"out"}
		}
		for _, o := range outs {
			d.Outputs[o] = derivation.Output{}
		}
		if len(outs) > 1 {
			d.Env["outputs"] = strings.Join(outs, " ")
		}
	}
	for _, p := range s.srcs {
		d.InputSrcs = append(d.InputSrcs, e.st.Dir().Print(p))
	}
	for _, dep := range s.deps {
		d.InputDrvs[e.st.Dir().Print(dep)] = []string{"out"}
	}
	for k, v := range s.depOuts {
		d.InputDrvs[k] = v
	}
	if err := e.hash.FillOutputs(d, s.name); err != nil {
		e.t.Fatal(err)
	}
	var refs []storepath.Path
	for _, r := range d.References() {
		p, err := e.st.Dir().Parse(r)
		if err != nil {
			e.t.Fatal(err)
		}
		refs = append(refs, p)
	}
	info, err := e.st.AddText(context.Background(), s.name+".drv", d.Bytes(), refs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.drvs[info.Path] = d
	e.mu.Unlock()
	return info.Path
}

func (e *env) request(p storepath.Path) *Request {
	e.t.Helper()
	d, err := e.read(p)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := FromDerivation(e.st.Dir(), p, d, e.read)
	if err != nil {
		e.t.Fatal(err)
	}
	return req
}

// build builds the derivation p (whose inputs must be valid).
func (e *env) build(p storepath.Path, opts Options) (*Result, error) {
	return e.b.Build(context.Background(), e.request(p), opts)
}

// outFile reads a file of output id of p.
func (e *env) outFile(res *Result, id, name string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.st.RealPath(res.Outputs[id].Path), name))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(data)
}

func verifyAll() local.VerifyOptions { return local.VerifyOptions{CheckContents: true} }
