package build

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cairn/internal/build/sandbox"
	"cairn/internal/compat/derivation"
	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// fixtures are .drv files written by Nix 2.8 (see
// internal/compat/derivation/testdata/gen-golden.sh).
const fixtures = "../compat/derivation/testdata/store-nix-store"

func fixtureReader(t *testing.T) DrvReader {
	return func(p storepath.Path) (*derivation.Derivation, error) {
		data, err := os.ReadFile(filepath.Join(fixtures, p.Base()))
		if err != nil {
			return nil, err
		}
		return derivation.Parse(data)
	}
}

func fixture(t *testing.T, base string) storepath.Path {
	t.Helper()
	p, err := storepath.ParseBase(base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGraphFixtures(t *testing.T) {
	dir := storepath.DefaultDir
	paf := fixture(t, "qlpraxi0n0nwyyjsqq6fmcl51pn4f9yb-pass-as-file.drv")
	structured := fixture(t, "g1lcqlrbf4y5sca4siy16hkx4lyhhc4p-structured.drv")
	g, err := LoadGraph(dir, fixtureReader(t), []storepath.Path{paf, structured})
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 4 {
		t.Errorf("graph has %d nodes, want 4 (two roots and their inputs)", len(g))
	}
	req := g[paf].Request
	if req.Name != "pass-as-file" || !slices.Equal(req.PassAsFile, []string{"big"}) || req.StructuredAttrs != nil ||
		len(req.Inputs) != 1 || dir.Print(req.Inputs[0]) != "/nix/store/x079ks2wzfkhnapbfibnk420vxz2idr7-fod-sha1" {
		t.Errorf("pass-as-file request: %+v", req)
	}
	if deps := g[paf].Deps; len(deps) != 1 || deps[0].Base() != "jhzjw07nxqrrx5d51f4q4qidzvdwgkgq-fod-sha1.drv" {
		t.Errorf("deps %v", deps)
	}
	fod := g[g[paf].Deps[0]].Request
	if o := fod.Outputs["out"]; o.Fixed == nil || o.Fixed.Hash.Algo != nixhash.SHA1 || !fod.IsFixedOutput() {
		t.Errorf("fixed output: %+v", o)
	}
	sreq := g[structured].Request
	if sreq.StructuredAttrs == nil || len(sreq.Outputs) != 2 || sreq.PassAsFile != nil {
		t.Errorf("structured request: %+v", sreq)
	}

	// The environment of the pass-as-file build, as Nix 2.8 sets it.
	su, err := setup(req, dir, "/build", 4, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	attr := ".attr-" + nixhash.Sum(nixhash.SHA256, []byte("big")).Encode(nixhash.Nix32, false)
	want := []string{
		"HOME=/homeless-shelter", "NIX_BUILD_CORES=4", "NIX_BUILD_TOP=/build", "NIX_LOG_FD=2", "NIX_STORE=/nix/store",
		"PATH=/path-not-set", "PWD=/build", "TEMP=/build", "TEMPDIR=/build", "TERM=xterm-256color", "TMP=/build", "TMPDIR=/build",
		"bigPath=/build/" + attr, "builder=/bin/sh", "dep=/nix/store/x079ks2wzfkhnapbfibnk420vxz2idr7-fod-sha1",
		"name=pass-as-file", "out=/nix/store/2bql154azj0rrqqsjhjs92sdmg6n48b0-pass-as-file", "passAsFile=big", "system=x86_64-linux",
	}
	if !slices.Equal(su.Env, want) {
		t.Errorf("env\n got %q\nwant %q", su.Env, want)
	}
	if !slices.Equal(su.Args, []string{"sh", "-c", "echo > $out"}) || string(su.Files[attr]) != "lots of text\n" {
		t.Errorf("args %q files %q", su.Args, su.Files)
	}

	// Structured attributes: only the base variables, plus the files.
	su, err = setup(sreq, dir, "/build", 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range su.Env {
		if strings.HasPrefix(kv, "out=") || strings.HasPrefix(kv, "__json=") {
			t.Errorf("structured build has %s in its environment", kv)
		}
	}
	wantJSON := `{"builder":"/bin/sh","dep":"/nix/store/s50wzinhlnrxqiijsfnbmdn34cw3whr4-simple","list":[1,"two",{"three":3}],"name":"structured",` +
		`"outputs":{"bin":"/nix/store/v65n3klhjmwg8hv16f9xz9ifll2n54d7-structured-bin","out":"/nix/store/g7vhjypybgn643nb7d6a5xzmkqzh4l45-structured"},"system":"x86_64-linux"}`
	if got := string(su.Files[".attrs.json"]); got != wantJSON {
		t.Errorf(".attrs.json\n got %s\nwant %s", got, wantJSON)
	}
	wantSh := "declare builder='/bin/sh'\ndeclare dep='/nix/store/s50wzinhlnrxqiijsfnbmdn34cw3whr4-simple'\ndeclare name='structured'\n" +
		"declare -A outputs=(['bin']='/nix/store/v65n3klhjmwg8hv16f9xz9ifll2n54d7-structured-bin' ['out']='/nix/store/g7vhjypybgn643nb7d6a5xzmkqzh4l45-structured' )\n" +
		"declare system='x86_64-linux'\n"
	if got := string(su.Files[".attrs.sh"]); got != wantSh {
		t.Errorf(".attrs.sh\n got %q\nwant %q", got, wantSh)
	}
}

func TestPlaceholdersRewritten(t *testing.T) {
	out := storepath.Path{}
	p, _ := storepath.ParseBase("2bql154azj0rrqqsjhjs92sdmg6n48b0-x")
	out = p
	req := &Request{Builder: "/bin/sh", Args: []string{"-c", "echo " + hashPlaceholder("out")},
		Env: map[string]string{"v": "x" + hashPlaceholder("out") + "/bin"}, Outputs: map[string]Output{"out": {Path: out}}}
	su, err := setup(req, storepath.DefaultDir, "/build", 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if su.Args[2] != "echo /nix/store/"+out.Base() || !slices.Contains(su.Env, "v=x/nix/store/"+out.Base()+"/bin") {
		t.Errorf("args %q env %q", su.Args, su.Env)
	}
	if hashPlaceholder("out") != "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9" {
		t.Errorf("placeholder %s", hashPlaceholder("out"))
	}
}

func TestFixedOutputEnv(t *testing.T) {
	p, _ := storepath.ParseBase("2bql154azj0rrqqsjhjs92sdmg6n48b0-x")
	req := &Request{Builder: "/bin/sh", Env: map[string]string{}, ImpureEnvVars: []string{"http_proxy", "unset_var"},
		Outputs: map[string]Output{"out": {Path: p, Fixed: &FixedHash{Hash: nixhash.Sum(nixhash.SHA256, nil)}}}}
	su, err := setup(req, storepath.DefaultDir, "/build", 1, map[string]string{"http_proxy": "http://proxy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NIX_OUTPUT_CHECKED=1", "http_proxy=http://proxy", "unset_var="} {
		if !slices.Contains(su.Env, want) {
			t.Errorf("env lacks %q: %q", want, su.Env)
		}
	}
}

func TestJSONLikeNlohmann(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"b":1,"a":[true,false,null]}`, `{"a":[true,false,null],"b":1}`},
		{`{"f":1.5,"g":100.0,"h":1e3,"i":-7,"j":18446744073709551615}`, `{"f":1.5,"g":100.0,"h":1000.0,"i":-7,"j":18446744073709551615}`},
		{`{"s":"a\"b\\c\n\t\u0001\u00e9/<>&"}`, `{"s":"a\"b\\c\n\t\u0001é/<>&"}`},
	} {
		dec := json.NewDecoder(strings.NewReader(tt.in))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		writeJSON(&b, v)
		if b.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, b.String(), tt.want)
		}
	}
}

func TestShellSimple(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`"it's"`, `'it'\''s'`, true}, {`42`, `42`, true}, {`1.0`, `1`, true}, {`1.5`, ``, false},
		{`null`, `''`, true}, {`true`, `1`, true}, {`false`, ``, true}, {`[1]`, ``, false},
	} {
		dec := json.NewDecoder(strings.NewReader(tt.in))
		dec.UseNumber()
		var v any
		dec.Decode(&v)
		got, ok := shellSimple(v)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %q %v, want %q %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLogTail(t *testing.T) {
	s := newLogSink(3, nil, nil)
	s.Write([]byte("one\ntwo\n@nix {\"action\":\"msg\"}\nthr"))
	s.Write([]byte("ee\nprogress 10%\rprogress 100%\nunfinished"))
	if got, want := s.tail(), []string{"three", "progress 100%", "unfinished"}; !slices.Equal(got, want) {
		t.Errorf("tail %q, want %q", got, want)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tt := range []struct {
		kinds []ErrorKind
		want  int
	}{
		{nil, 1}, {[]ErrorKind{Failed}, 100}, {[]ErrorKind{TimedOut}, 101}, {[]ErrorKind{HashMismatch}, 102},
		{[]ErrorKind{TimedOut, HashMismatch}, 103}, {[]ErrorKind{NotDeterministic}, 104}, {[]ErrorKind{NotDeterministic, Failed}, 108},
	} {
		var errs []*Error
		for _, k := range tt.kinds {
			errs = append(errs, &Error{Kind: k})
		}
		if got := ExitStatus(errs...); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.kinds, got, tt.want)
		}
	}
}

func TestParseSandboxPaths(t *testing.T) {
	got, err := ParseSandboxPaths([]string{"/bin/sh=/nix/store/x-busybox/bin/busybox", "/etc/ssl?", "/usr"})
	want := []sandbox.Mount{
		{Source: "/nix/store/x-busybox/bin/busybox", Target: "/bin/sh", ReadOnly: true},
		{Source: "/etc/ssl", Target: "/etc/ssl", ReadOnly: true, Optional: true},
		{Source: "/usr", Target: "/usr", ReadOnly: true},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v %v", got, err)
	}
	if _, err := ParseSandboxPaths([]string{"relative"}); err == nil {
		t.Error("relative path accepted")
	}
}

// FuzzStructuredAttrs checks that .attrs.json is the input object (plus
// "outputs") in canonical form, and that rendering never panics.
func FuzzStructuredAttrs(f *testing.F) {
	f.Add(`{"a":1,"b":[1,"x",null],"c":{"d":true}}`)
	f.Add(`{"k":"\u00e9\n","n":1e400}`)
	f.Fuzz(func(t *testing.T, js string) {
		if len(js) > 4096 {
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(js), &m) != nil || m == nil {
			return
		}
		p, _ := storepath.ParseBase("2bql154azj0rrqqsjhjs92sdmg6n48b0-x")
		req := &Request{StructuredAttrs: []byte(js), Outputs: map[string]Output{"out": {Path: p}}}
		out, _, err := structuredAttrs(req, storepath.DefaultDir, nil)
		if err != nil {
			return
		}
		var back map[string]any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %s: %v", out, err)
		}
		if !json.Valid(out) || back["outputs"] == nil {
			t.Fatalf("bad output %s", out)
		}
		var again bytes.Buffer
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var v any
		dec.Decode(&v)
		writeJSON(&again, v)
		if again.String() != string(out) {
			t.Fatalf("not canonical:\n%s\n%s", out, again.String())
		}
	})
}

func TestCanBuild(t *testing.T) {
	st, err := local.Open(context.Background(), local.Options{Root: t.TempDir(), ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := New(st, Config{System: "x86_64-linux", ExtraPlatforms: []string{"i686-linux"}, SystemFeatures: []string{"big-parallel"}})
	p, _ := storepath.ParseBase("2bql154azj0rrqqsjhjs92sdmg6n48b0-x.drv")
	for _, tt := range []struct {
		platform, builder string
		features          []string
		ok                bool
	}{
		{"x86_64-linux", "/bin/sh", nil, true},
		{"i686-linux", "/bin/sh", nil, true},
		{"aarch64-linux", "/bin/sh", nil, false},
		{"builtin", "builtin:fetchurl", nil, true},
		{"x86_64-linux", "/bin/sh", []string{"big-parallel"}, true},
		{"x86_64-linux", "/bin/sh", []string{"kvm"}, false},
	} {
		err := b.CanBuild(&Request{DrvPath: p, Platform: tt.platform, Builder: tt.builder, RequiredSystemFeatures: tt.features})
		if (err == nil) != tt.ok {
			t.Errorf("%s %v: %v", tt.platform, tt.features, err)
		}
		if err != nil && !strings.Contains(err.Error(), "is required to build '/nix/store/"+p.Base()+"', but I am a 'x86_64-linux'") {
			t.Errorf("message: %v", err)
		}
	}
}
