package derivation

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
)

// goldenStores maps the testdata directories written by gen-golden.sh
// (Nix 2.8's nix-instantiate and show-derivation) to their store dirs.
var goldenStores = map[string]storepath.Dir{
	"store-nix-store":     "/nix/store",
	"store-foo-bar-store": "/foo/bar/store",
}

func resolver(t *testing.T, tag string, dir storepath.Dir) (Resolver, *int) {
	calls := 0
	return func(drvPath string) (*Derivation, error) {
		calls++
		base := strings.TrimPrefix(drvPath, string(dir)+"/")
		data, err := os.ReadFile(filepath.Join("testdata", tag, base))
		if err != nil {
			return nil, err
		}
		return Parse(data)
	}, &calls
}

func TestGolden(t *testing.T) {
	for tag, dir := range goldenStores {
		files, err := filepath.Glob(filepath.Join("testdata", tag, "*.drv"))
		if err != nil || len(files) < 12 {
			t.Fatalf("%s: %d golden drvs, %v", tag, len(files), err)
		}
		read, calls := resolver(t, tag, dir)
		h := NewHasher(dir, read)
		for _, f := range files {
			base := filepath.Base(f)
			t.Run(tag+"/"+base, func(t *testing.T) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				d, err := Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				if got := d.Bytes(); !bytes.Equal(got, data) {
					t.Fatalf("print differs:\n got %s\nwant %s", got, data)
				}
				name, err := NameFromPath(base)
				if err != nil {
					t.Fatal(err)
				}
				p, err := d.Path(dir, name)
				if err != nil || p.Base() != base {
					t.Errorf("Path = %v, %v; want %s", p, err, base)
				}
				if err := h.CheckOutputs(d, name); err != nil {
					t.Errorf("CheckOutputs: %v", err)
				}
				// Rebuilding the outputs from scratch gives the same file.
				fresh := *d
				fresh.Outputs = map[string]Output{}
				fresh.Env = map[string]string{}
				for k, v := range d.Env {
					fresh.Env[k] = v
				}
				for id, o := range d.Outputs {
					if o.Kind() == Fixed {
						fresh.Outputs[id] = Output{HashAlgo: o.HashAlgo, Hash: o.Hash}
					} else {
						fresh.Outputs[id] = Output{}
					}
					delete(fresh.Env, id)
				}
				if err := h.FillOutputs(&fresh, name); err != nil {
					t.Fatal(err)
				}
				if got := fresh.Bytes(); !bytes.Equal(got, data) {
					t.Errorf("FillOutputs gives\n%s\nwant\n%s", got, data)
				}
				// JSON as nix show-derivation printed it.
				wantJSON, err := os.ReadFile(f + ".json")
				if err != nil {
					t.Fatal(err)
				}
				var js bytes.Buffer
				if err := WriteJSON(&js, map[string]*Derivation{dir.Print(p): d}); err != nil {
					t.Fatal(err)
				}
				if js.String() != string(wantJSON) {
					t.Errorf("json:\n got %s\nwant %s", js.String(), wantJSON)
				}
				back, err := ParseJSON(wantJSON)
				if err != nil {
					t.Fatal(err)
				}
				if got := back[dir.Print(p)].Bytes(); !bytes.Equal(got, data) {
					t.Errorf("ParseJSON gives\n%s\nwant\n%s", got, data)
				}
			})
		}
		// Each input drv was read once, however many dependents it has.
		if *calls == 0 || *calls > len(files) {
			t.Errorf("%s: resolver called %d times for %d drvs", tag, *calls, len(files))
		}
	}
}

func TestTamperedOutputDetected(t *testing.T) {
	data, err := os.ReadFile("testdata/store-nix-store/cm64f3429kvmsmza22jdhsn393n5klal-deps.drv")
	if err != nil {
		t.Fatal(err)
	}
	read, _ := resolver(t, "store-nix-store", storepath.DefaultDir)
	h := NewHasher(storepath.DefaultDir, read)
	for _, edit := range []func(d *Derivation){
		func(d *Derivation) { d.Env["extra"] = "x" },
		func(d *Derivation) { d.Args = append(d.Args, "x") },
		func(d *Derivation) {
			d.Outputs["out"] = Output{Path: "/nix/store/00000000000000000000000000000000-deps"}
		},
	} {
		d, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		edit(d)
		if err := h.CheckOutputs(d, "deps"); err == nil || !strings.Contains(err.Error(), "incorrect output") {
			t.Errorf("CheckOutputs = %v", err)
		}
	}
}

func TestHashPlaceholder(t *testing.T) {
	// builtins.placeholder "out" in Nix 2.8.
	if got := HashPlaceholder("out"); got != "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9" {
		t.Errorf("HashPlaceholder(out) = %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	ok := `Derive([("out","/nix/store/6n1nxr2pnbalfx90m7wsxyh2pm0l0cs1-x","","")],[],[],"s","b",[],[])`
	tests := []struct{ name, in, want string }{
		{"ok", ok, ""},
		{"trailing", ok + "\n", "trailing data"},
		{"truncated", ok[:40], "unterminated string"},
		{"not derive", "Derivation([", "expected string 'Derive(['"},
		{"versioned", `DrvWithVersion("xp-dyn-drv",[])`, "not supported by Nix 2.8"},
		{"duplicate output", `Derive([("out","/a","",""),("out","/b","","")],[],[],"s","b",[],[])`, "duplicate output 'out'"},
		{"duplicate env", `Derive([("out","/a","","")],[],[],"s","b",[],[("a","1"),("a","2")])`, "duplicate environment variable 'a'"},
		{"duplicate input", `Derive([("out","/a","","")],[("/d.drv",["out"]),("/d.drv",["out"])],[],"s","b",[],[])`, "duplicate input derivation '/d.drv'"},
		{"relative src", `Derive([("out","/a","","")],[],["a"],"s","b",[],[])`, "bad path 'a' in derivation"},
		{"relative output", `Derive([("out","a","","")],[],[],"s","b",[],[])`, "bad path 'a' in derivation"},
		{"bad algo", `Derive([("out","/a","sha3","00")],[],[],"s","b",[],[])`, "unknown hash algorithm 'sha3'"},
		{"text algo", `Derive([("out","/a","text:sha256","00")],[],[],"s","b",[],[])`, "unknown hash algorithm 'text:sha256'"},
		{"bad hash", `Derive([("out","/a","sha256","00")],[],[],"s","b",[],[])`, "wrong length"},
		{"floating with path", `Derive([("out","/a","r:sha256","")],[],[],"s","b",[],[])`, "must have an empty path"},
		{"stray comma", `Derive([("out","/a","","")],[],[,"/a"],"s","b",[],[])`, `expected string '"'`},
		{"missing comma", `Derive([("out","/a","","")],[],["/a""/b"],"s","b",[],[])`, "expected ',' or ']'"},
		{"eof in list", `Derive([("out","/a","","")`, "unterminated list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("%v is not ErrFormat", err)
			}
		})
	}
}

func TestParseNormalises(t *testing.T) {
	// Unsorted lists and a nix32 fixed hash are accepted and printed as
	// Nix would print them.
	in := `Derive([("out","/nix/store/x","sha256","00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq")],[("/b.drv",["z","a","z"]),("/a.drv",["out"])],["/s2","/s1"],"s","b",["2","1"],[("z","1"),("a","\x\n")])`
	d, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `Derive([("out","/nix/store/x","sha256","5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")],[("/a.drv",["out"]),("/b.drv",["a","z"])],["/s1","/s2"],"s","b",["2","1"],[("a","x\n"),("z","1")])`
	if got := d.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestType(t *testing.T) {
	ia := Output{Path: "/nix/store/a"}
	fixed := Output{Path: "/nix/store/a", HashAlgo: "sha256", Hash: strings.Repeat("0", 64)}
	float := Output{HashAlgo: "r:sha256"}
	tests := []struct {
		name string
		outs map[string]Output
		want string
	}{
		{"ia", map[string]Output{"out": ia, "dev": ia}, "1"},
		{"deferred", map[string]Output{"out": {}}, "2"},
		{"fixed", map[string]Output{"out": fixed}, "3"},
		{"floating", map[string]Output{"out": float}, "4"},
		{"impure", map[string]Output{"out": {HashAlgo: "r:sha256", Hash: "impure"}}, "5"},
		{"none", map[string]Output{}, "must have at least one output"},
		{"mixed", map[string]Output{"out": ia, "dev": {}}, "can't mix derivation output types"},
		{"two fixed", map[string]Output{"out": fixed, "dev": fixed}, "only one fixed output is allowed for now"},
		{"fixed not out", map[string]Output{"dev": fixed}, `single fixed output must be named "out"`},
		{"floating algos", map[string]Output{"out": float, "dev": {HashAlgo: "r:sha1"}}, "all floating outputs must use the same hash type"},
	}
	for _, tt := range tests {
		d := &Derivation{Outputs: tt.outs}
		typ, err := d.Type()
		got := string(rune('0' + typ))
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: Type = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// rawSafe reports whether the fields Nix 2.8 prints unescaped are free of
// bytes that would need escaping; otherwise printing cannot round-trip
// (Nix 2.8 shares that flaw).
func rawSafe(d *Derivation) bool {
	bad := func(s string) bool { return strings.ContainsAny(s, "\"\\") }
	if bad(d.Platform) {
		return false
	}
	for id, o := range d.Outputs {
		if bad(id) || bad(o.Path) || bad(o.HashAlgo) || bad(o.Hash) {
			return false
		}
	}
	for p, outs := range d.InputDrvs {
		if bad(p) || bad(strings.Join(outs, "")) {
			return false
		}
	}
	return !bad(strings.Join(d.InputSrcs, ""))
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/store-nix-store/*.drv")
	for _, name := range files[:4] {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		if !rawSafe(d) {
			return
		}
		p1 := d.Bytes()
		d2, err := Parse(p1)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", p1, err)
		}
		if p2 := d2.Bytes(); !bytes.Equal(p1, p2) {
			t.Fatalf("print not stable:\n%q\n%q", p1, p2)
		}
	})
}
