package derivation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
)

func needNix(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		msg := fmt.Sprintf("SKIPPING differential test against Nix: %s not found (apt-get install nix-bin)", tool)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// TestInstantiateMatchesNix builds random derivations both ways: with
// Nix 2.8's nix-instantiate in a throw-away store, and with FillOutputs
// and Path here. The .drv bytes and paths must be identical.
func TestInstantiateMatchesNix(t *testing.T) {
	nixInst := needNix(t, "nix-instantiate")
	dir := storepath.DefaultDir
	rng := rand.New(rand.NewSource(2))
	tmp := t.TempDir()
	env := append(os.Environ(), "NIX_REMOTE=local?root="+filepath.Join(tmp, "root"), "NIX_CONFIG=substituters =")
	chars := []rune("abcXYZ019 -_.\"\\\n\t\r$'{}é→\x01\x7f")
	randStr := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteRune(chars[rng.Intn(len(chars))])
		}
		return b.String()
	}
	// A fixed-output dependency, shared by the cases.
	fod := &Derivation{
		Outputs:   map[string]Output{"out": {HashAlgo: "r:sha256", Hash: strings.Repeat("ab", 32)}},
		InputDrvs: map[string][]string{},
		Platform:  "x86_64-linux",
		Builder:   "/bin/sh",
		Env: map[string]string{"name": "fod", "system": "x86_64-linux", "builder": "/bin/sh",
			"outputHash": strings.Repeat("ab", 32), "outputHashMode": "recursive", "outputHashAlgo": "sha256"},
	}
	h := NewHasher(dir, func(p string) (*Derivation, error) { return nil, fmt.Errorf("unexpected read of %s", p) })
	if err := h.FillOutputs(fod, "fod"); err != nil {
		t.Fatal(err)
	}
	fodPath, err := fod.Path(dir, "fod")
	if err != nil {
		t.Fatal(err)
	}
	h = NewHasher(dir, func(p string) (*Derivation, error) {
		if p == dir.Print(fodPath) {
			return fod, nil
		}
		return nil, fmt.Errorf("unexpected read of %s", p)
	})
	fodJSON, _ := json.Marshal(fod.Env)

	for i := 0; i < 12; i++ {
		attrs := map[string]string{
			"name":    fmt.Sprintf("rand-%d", i),
			"system":  []string{"x86_64-linux", "aarch64-linux", "weird-sys"}[rng.Intn(3)],
			"builder": "/bin/" + randStr(3),
		}
		for j := rng.Intn(6); j > 0; j-- {
			attrs["k"+fmt.Sprint(j)+strings.ReplaceAll(randStr(2), "\x00", "")] = randStr(rng.Intn(20))
		}
		outputs := []string{"out"}
		if rng.Intn(2) == 0 {
			outputs = []string{"out", "dev", "doc"}[:1+rng.Intn(3)]
			rng.Shuffle(len(outputs), func(a, b int) { outputs[a], outputs[b] = outputs[b], outputs[a] })
		}
		args := []string{randStr(5), randStr(0), randStr(3)}
		useDep := rng.Intn(2) == 0

		attrsJSON, _ := json.Marshal(attrs)
		outsJSON, _ := json.Marshal(outputs)
		argsJSON, _ := json.Marshal(args)
		base := filepath.Join(tmp, fmt.Sprint(i))
		for name, data := range map[string][]byte{".attrs.json": attrsJSON, ".outs.json": outsJSON, ".args.json": argsJSON, ".fod.json": fodJSON} {
			if err := os.WriteFile(base+name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dep := ""
		if useDep {
			dep = fmt.Sprintf(`// { dep = derivation (builtins.fromJSON (builtins.readFile %s.fod.json)); }`, base)
		}
		expr := fmt.Sprintf(`derivation ((builtins.fromJSON (builtins.readFile %[1]s.attrs.json)) // {
			outputs = builtins.fromJSON (builtins.readFile %[1]s.outs.json);
			args = builtins.fromJSON (builtins.readFile %[1]s.args.json); } %[2]s)`, base, dep)
		if len(outputs) == 1 && rng.Intn(2) == 0 {
			// Without an explicit outputs attribute.
			expr = strings.Replace(expr, "outputs = builtins.fromJSON", "dummy = builtins.fromJSON", 1)
		}
		cmd := exec.Command(nixInst, "-E", expr)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("case %d: nix-instantiate: %v\n%s", i, err, stderr.String())
		}
		// One line per output ("<drv>!<output>" for non-default ones).
		nixPath, _, _ := strings.Cut(strings.Fields(string(out))[0], "!")
		nixDrv, err := os.ReadFile(filepath.Join(tmp, "root", nixPath))
		if err != nil {
			t.Fatal(err)
		}

		// Our side: the env is every attribute as a string.
		d := &Derivation{
			Outputs:   map[string]Output{},
			InputDrvs: map[string][]string{},
			Platform:  attrs["system"],
			Builder:   attrs["builder"],
			Args:      args,
			Env:       map[string]string{},
		}
		for k, v := range attrs {
			d.Env[k] = v
		}
		if strings.Contains(expr, "outputs = ") {
			d.Env["outputs"] = strings.Join(outputs, " ")
		} else {
			d.Env["dummy"] = strings.Join(outputs, " ")
			outputs = []string{"out"}
		}
		for _, o := range outputs {
			d.Outputs[o] = Output{}
		}
		if useDep {
			d.InputDrvs[dir.Print(fodPath)] = []string{"out"}
			d.Env["dep"] = fod.Outputs["out"].Path
		}
		// args go to Args, not to the environment.
		if err := h.FillOutputs(d, attrs["name"]); err != nil {
			t.Fatal(err)
		}
		p, err := d.Path(dir, attrs["name"])
		if err != nil {
			t.Fatal(err)
		}
		if got := d.String(); got != string(nixDrv) {
			t.Errorf("case %d: drv differs\n got %q\nwant %q", i, got, nixDrv)
			continue
		}
		t.Logf("case %d: %s, %d outputs, dep %v, %d env entries", i, nixPath, len(d.Outputs), useDep, len(d.Env))
		if dir.Print(p) != nixPath {
			t.Errorf("case %d: path %s, nix %s", i, dir.Print(p), nixPath)
		}
	}
}

// TestGraphMatchesNix instantiates a DAG of 300 derivations (fixed-output
// leaves, several outputs, inputs used by several dependents) with Nix
// 2.8, then checks every .drv in the store: byte round trip, path, and
// output paths recomputed through one memoising Hasher.
func TestGraphMatchesNix(t *testing.T) {
	nixInst := needNix(t, "nix-instantiate")
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	env := append(os.Environ(), "NIX_REMOTE=local?root="+root, "NIX_CONFIG=substituters =")
	expr := `
	let
	  mk = i: deps: derivation ({
	    name = "node-${toString i}";
	    system = "x86_64-linux";
	    builder = "/bin/sh";
	    args = [ "-c" "true" ];
	    outputs = if i / 3 * 3 == i then [ "out" "dev" ] else [ "out" ];
	    deps = map (d: if d ? dev then d.dev else d) deps;
	  } // (if i / 7 * 7 == i then {
	    outputHash = builtins.hashString "sha256" (toString i);
	    outputHashMode = "recursive";
	    outputHashAlgo = "sha256";
	    outputs = [ "out" ];
	    deps = [];
	  } else {}));
	  nodes = builtins.genList (i: mk i (if i < 2 then [] else
	    [ (builtins.elemAt nodes (i / 2)) (builtins.elemAt nodes (i - 1)) (builtins.elemAt nodes (i * 7 / 10)) ])) 300;
	in mk 300 nodes`
	cmd := exec.Command(nixInst, "-E", expr)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("nix-instantiate: %v\n%s%s", err, out, stderr.String())
	}
	storeDir := filepath.Join(root, "nix", "store")
	files, err := filepath.Glob(filepath.Join(storeDir, "*.drv"))
	if err != nil || len(files) < 250 {
		t.Fatalf("%d drvs in the store, %v", len(files), err)
	}
	reads := 0
	h := NewHasher(storepath.DefaultDir, func(p string) (*Derivation, error) {
		reads++
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		return Parse(data)
	})
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(d.Bytes(), data) {
			t.Fatalf("%s: print differs", f)
		}
		name, _ := NameFromPath(filepath.Base(f))
		p, err := d.Path(storepath.DefaultDir, name)
		if err != nil || p.Base() != filepath.Base(f) {
			t.Fatalf("%s: Path = %v, %v", f, p, err)
		}
		if err := h.CheckOutputs(d, name); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if reads > len(files) {
		t.Errorf("resolver read %d drvs for %d files: memoisation broken", reads, len(files))
	}
	t.Logf("%d derivations checked, %d resolver reads", len(files), reads)
}
