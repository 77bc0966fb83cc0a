package profile

import (
	"testing"

	"cairn/internal/compat/storepath"
)

func TestManifestNix(t *testing.T) {
	dir := storepath.Dir("/nix/store")
	p, _ := storepath.ParseBase("00000000000000000000000000000000-a-1")
	q, _ := storepath.ParseBase("11111111111111111111111111111111-a-1-bin")
	prio := 3
	tests := []struct {
		name  string
		elems []UserEnvElement
		want  string
	}{
		{"empty", nil, `[ ]`},
		{"store path", []UserEnvElement{StorePathElement(p)},
			`[ { meta = { }; name = "a-1"; out = { outPath = "/nix/store/00000000000000000000000000000000-a-1"; }; outPath = "/nix/store/00000000000000000000000000000000-a-1"; outputs = [ "out" ]; type = "derivation"; } ]`},
		{"outputs, system, priority, escapes", []UserEnvElement{{Name: "a\"${x}\n", System: "x86_64-linux", Priority: &prio, Outputs: []EnvOutput{{"out", p}, {"bin", q}}}},
			`[ { bin = { outPath = "/nix/store/11111111111111111111111111111111-a-1-bin"; }; meta = { priority = 3; }; name = "a\"\${x}\n"; out = { outPath = "/nix/store/00000000000000000000000000000000-a-1"; }; outPath = "/nix/store/00000000000000000000000000000000-a-1"; outputs = [ "out" "bin" ]; system = "x86_64-linux"; type = "derivation"; } ]`},
	}
	for _, tt := range tests {
		if got := ManifestNix(dir, tt.elems); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	// parseManifestNix reads back the element paths.
	m, err := parseManifestNix([]byte(ManifestNix(dir, []UserEnvElement{StorePathElement(p), tests[2].elems[0]})), dir)
	if err != nil || len(m.Elements) != 2 || m.Elements[0].StorePaths[0] != p || m.Elements[1].StorePaths[0] != p {
		t.Errorf("parse back: %+v, %v", m, err)
	}
}

func TestUserEnvDerivation(t *testing.T) {
	dir := storepath.Dir("/nix/store")
	p, _ := storepath.ParseBase("00000000000000000000000000000000-a-1")
	m, _ := storepath.ParseBase("22222222222222222222222222222222-env-manifest.nix")
	d, err := UserEnvDerivation(dir, []UserEnvElement{StorePathElement(p), StorePathElement(p)}, m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Env["derivations"], "true 5 1 /nix/store/00000000000000000000000000000000-a-1 true 5 1 /nix/store/00000000000000000000000000000000-a-1"; got != want {
		t.Errorf("derivations = %q", got)
	}
	if d.Outputs["out"].Path == "" || d.Env["out"] != d.Outputs["out"].Path {
		t.Errorf("output not filled: %+v", d.Outputs)
	}
}
