package build

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
	"cairn/internal/store/local"
)

func (e *env) graph(roots ...storepath.Path) Graph {
	e.t.Helper()
	g, err := LoadGraph(e.st.Dir(), e.read, roots)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func TestSchedulerGraph(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	a := e.drv(drvSpec{name: "a", script: "echo a > $out"})
	b := e.drv(drvSpec{name: "b", script: "echo b > $out"})
	var peak, cur atomic.Int32
	s := &Scheduler{Builder: e.b, MaxJobs: 2}
	s.build = func(ctx context.Context, req *Request, opts Options) (*Result, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		defer cur.Add(-1)
		return e.b.Build(ctx, req, opts)
	}
	var leaves []storepath.Path
	for _, n := range []string{"l1", "l2", "l3", "l4"} {
		leaves = append(leaves, e.drv(drvSpec{name: n, deps: []storepath.Path{a, b}, script: "cat $(cat /dev/null) > /dev/null; echo " + n + " > $out"}))
	}
	top := e.drv(drvSpec{name: "top", deps: leaves, script: "echo top > $out"})
	res, err := s.Realise(context.Background(), e.graph(top), []storepath.Path{top})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	if len(res) != 7 || res[top].Status != Built {
		t.Errorf("results %v", res)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2 (max-jobs)", p)
	}
	// Valid outputs are skipped without looking at inputs.
	res, err = s.Realise(context.Background(), e.graph(top), []storepath.Path{top})
	if err != nil || len(res) != 1 || res[top].Status != AlreadyValid {
		t.Errorf("second realise: %v %v", res, err)
	}
}

func TestSchedulerKeepGoing(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	bad := e.drv(drvSpec{name: "bad", script: "echo broken; exit 1"})
	good := e.drv(drvSpec{name: "good", script: "sleep 0.2; echo good > $out"})
	dependent := e.drv(drvSpec{name: "dependent", deps: []storepath.Path{bad}, script: "echo x > $out"})
	g := e.graph(bad, good, dependent)
	s := &Scheduler{Builder: e.b, MaxJobs: 2, KeepGoing: true}
	res, err := s.Realise(context.Background(), g, []storepath.Path{dependent, good})
	var re *RealiseError
	if !errors.As(err, &re) || len(re.Errs) != 2 {
		t.Fatalf("got %v", err)
	}
	if res[good] == nil || res[good].Status != Built {
		t.Errorf("independent build did not finish: %v", res)
	}
	if !strings.Contains(err.Error(), "1 dependencies of derivation '"+e.st.Dir().Print(dependent)+"' failed to build") ||
		!strings.Contains(err.Error(), "> broken") {
		t.Errorf("message:\n%s", err)
	}
	if re.ExitStatus() != 100 {
		t.Errorf("exit status %d", re.ExitStatus())
	}

	// Without keep-going the first failure stops the rest.
	slow := e.drv(drvSpec{name: "slow", script: "sleep 30; echo > $out"})
	s = &Scheduler{Builder: e.b, MaxJobs: 2}
	start := time.Now()
	_, err = s.Realise(context.Background(), e.graph(bad, slow), []storepath.Path{bad, slow})
	if !errors.As(err, &re) || len(re.Errs) != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("no keep-going: %v after %v", err, time.Since(start))
	}
}

// fakeSubstituter provides paths from a map of NARs.
type fakeSubstituter struct {
	st    *local.Store
	nars  map[storepath.Path][]byte
	calls atomic.Int32
}

func (f *fakeSubstituter) Substitute(ctx context.Context, paths []storepath.Path) (bool, error) {
	f.calls.Add(1)
	for _, p := range paths {
		data, ok := f.nars[p]
		if !ok {
			return false, nil
		}
		info := &store.PathInfo{Path: p, NarHash: nixhash.Sum(nixhash.SHA256, data), NarSize: uint64(len(data))}
		if err := f.st.AddNar(ctx, info, bytes.NewReader(data)); err != nil {
			return false, err
		}
	}
	return true, nil
}

func TestSchedulerSubstitutes(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	// dep cannot be built; its output comes from the substituter, and
	// its own input is never built.
	never := e.drv(drvSpec{name: "never", script: "exit 1"})
	dep := e.drv(drvSpec{name: "dep", deps: []storepath.Path{never}, script: "exit 1"})
	top := e.drv(drvSpec{name: "top", deps: []storepath.Path{dep}, script: "cat " + e.st.Dir().Print(e.request(dep).Outputs["out"].Path) + " > $out"})
	var buf bytes.Buffer
	dir := t.TempDir()
	os.WriteFile(dir+"/f", []byte("substituted\n"), 0o644)
	if err := nar.DumpPath(&buf, dir+"/f"); err != nil {
		t.Fatal(err)
	}
	sub := &fakeSubstituter{st: e.st, nars: map[storepath.Path][]byte{e.request(dep).Outputs["out"].Path: buf.Bytes()}}
	s := &Scheduler{Builder: e.b, Substituter: sub}
	res, err := s.Realise(context.Background(), e.graph(top), []storepath.Path{top})
	if err != nil {
		t.Fatalf("%v", err)
	}
	if res[dep].Status != Substituted || res[top].Status != Built {
		t.Errorf("statuses: dep %v top %v", res[dep].Status, res[top].Status)
	}
	if _, ok := res[never]; ok {
		t.Error("input of a substituted derivation was realised")
	}
	if got := e.outFile(res[top], "out", ""); got != "substituted\n" {
		t.Errorf("top = %q", got)
	}
}

func TestConcurrentProcessesBuildOnce(t *testing.T) {
	needSandbox(t)
	e := newEnv(t, Config{})
	p := e.drv(drvSpec{name: "once", script: "sleep 0.3; cat /proc/sys/kernel/random/uuid > $out"})
	// A second store handle on the same store stands for another
	// process: flock locks conflict between open file descriptions.
	st2, err := local.Open(context.Background(), local.Options{Root: e.root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	b2 := New(st2, e.cfg)
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for i, b := range []*Builder{e.b, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = b.Build(context.Background(), e.request(p), Options{})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	statuses := []Status{results[0].Status, results[1].Status}
	if !(statuses[0] == Built && statuses[1] == AlreadyValid || statuses[0] == AlreadyValid && statuses[1] == Built) {
		t.Errorf("statuses %v, want one built and one already valid", statuses)
	}
	if !results[0].Outputs["out"].NarHash.Equal(results[1].Outputs["out"].NarHash) {
		t.Error("the two builds disagree")
	}
}

func TestBuiltinFetchurl(t *testing.T) {
	needBusybox(t)
	content := []byte("fetched content\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			w.Write(content)
		case "/other":
			w.Write([]byte("other"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	e := newEnv(t, Config{HTTPClient: srv.Client()})
	h := nixhash.Sum(nixhash.SHA256, content)
	mk := func(name, url string, executable bool) storepath.Path {
		s := fixedSpec(name, "", storepath.Flat, h)
		s.env["url"] = url
		if executable {
			s.env["executable"] = "1"
		}
		d := &derivation.Derivation{
			Outputs: map[string]derivation.Output{"out": *s.fixed}, InputDrvs: map[string][]string{},
			Platform: "builtin", Builder: "builtin:fetchurl", Env: map[string]string{"name": name, "builder": "builtin:fetchurl", "system": "builtin"},
		}
		for k, v := range s.env {
			d.Env[k] = v
		}
		if err := e.hash.FillOutputs(d, name); err != nil {
			t.Fatal(err)
		}
		info, err := e.st.AddText(context.Background(), name+".drv", d.Bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e.drvs[info.Path] = d
		return info.Path
	}
	res, err := e.build(mk("file", srv.URL+"/file", true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.st.RealPath(res.Outputs["out"].Path))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("fetched file: %v %v", fi.Mode(), err)
	}
	if res.Outputs["out"].CA.String() != "fixed:sha256:"+h.Encode(nixhash.Nix32, false) {
		t.Errorf("CA %s", res.Outputs["out"].CA)
	}
	_, err = e.build(mk("other", srv.URL+"/other", false), Options{})
	var be *Error
	if !errors.As(err, &be) || be.Kind != HashMismatch {
		t.Errorf("mismatch: %v", err)
	}
	_, err = e.build(mk("missing", srv.URL+"/missing", false), Options{})
	if err == nil || !strings.Contains(err.Error(), "HTTP error 404") {
		t.Errorf("404: %v", err)
	}
	// unpack = "1" restores a NAR; the hash is recursive.
	tree := t.TempDir()
	os.MkdirAll(tree+"/d/sub", 0o755)
	os.WriteFile(tree+"/d/sub/f", []byte("in a nar\n"), 0o755)
	var narBuf bytes.Buffer
	if err := nar.DumpPath(&narBuf, tree+"/d"); err != nil {
		t.Fatal(err)
	}
	narSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(narBuf.Bytes()) }))
	defer narSrv.Close()
	rh := nixhash.Sum(nixhash.SHA256, narBuf.Bytes())
	us := fixedSpec("unpacked", "", storepath.Recursive, rh)
	ud := &derivation.Derivation{
		Outputs: map[string]derivation.Output{"out": *us.fixed}, InputDrvs: map[string][]string{},
		Platform: "builtin", Builder: "builtin:fetchurl",
		Env: map[string]string{"name": "unpacked", "builder": "builtin:fetchurl", "system": "builtin", "url": narSrv.URL + "/x.nar", "unpack": "1", "outputHashMode": "recursive"},
	}
	if err := e.hash.FillOutputs(ud, "unpacked"); err != nil {
		t.Fatal(err)
	}
	uinfo, err := e.st.AddText(context.Background(), "unpacked.drv", ud.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.drvs[uinfo.Path] = ud
	res, err = e.build(uinfo.Path, Options{})
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if got := e.outFile(res, "out", "sub/f"); got != "in a nar\n" || !res.Outputs["out"].NarHash.Equal(rh) {
		t.Errorf("unpacked %q, nar hash %v", got, res.Outputs["out"].NarHash)
	}
	// Hashed mirrors are tried first.
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sha256/"+h.Hex() {
			w.Write(content)
			return
		}
		http.NotFound(w, r)
	}))
	defer mirror.Close()
	e.b.cfg.HashedMirrors = []string{mirror.URL}
	if _, err := e.build(mk("mirrored", "http://127.0.0.1:1/nothing-here", false), Options{}); err != nil {
		t.Errorf("hashed mirror: %v", err)
	}
}
