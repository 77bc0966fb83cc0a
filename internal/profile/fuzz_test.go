package profile

import (
	"bytes"
	"testing"

	"cairn/internal/compat/storepath"
)

// FuzzParseManifest: whatever parses re-encodes to a manifest that
// parses to the same encoding (manifest.json round trip).
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"elements":[{"active":true,"storePaths":["/nix/store/9hrm62vchjczfcg1aiy70g240dlmxzdl-hello-1.0"]}],"version":2}`))
	f.Add([]byte(`{"elements":[{"active":false,"attrPath":"legacyPackages.x86_64-linux.hello","originalUri":"flake:nixpkgs","storePaths":[],"uri":"github:NixOS/nixpkgs/abc"}],"version":1}`))
	dir := storepath.Dir("/nix/store")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		m, err := ParseManifest(data, dir)
		if err != nil {
			return
		}
		enc := m.JSON(dir)
		m2, err := ParseManifest(enc, dir)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		if enc2 := m2.JSON(dir); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzParseManifestNix: the manifest.nix reader never panics, and reads
// back what ManifestNix writes.
func FuzzParseManifestNix(f *testing.F) {
	f.Add([]byte(`[ { meta = { }; name = "a-1"; out = { outPath = "/nix/store/00000000000000000000000000000000-a-1"; }; outPath = "/nix/store/00000000000000000000000000000000-a-1"; outputs = [ "out" ]; type = "derivation"; } ]`), "a\"${\n")
	dir := storepath.Dir("/nix/store")
	p, _ := storepath.ParseBase("00000000000000000000000000000000-a-1")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if len(data) > 1<<14 {
			return
		}
		parseManifestNix(data, dir)
		m, err := parseManifestNix([]byte(ManifestNix(dir, []UserEnvElement{{Name: name, System: name, Outputs: []EnvOutput{{"out", p}}}})), dir)
		if err != nil || len(m.Elements) != 1 || m.Elements[0].StorePaths[0] != p {
			t.Fatalf("name %q: %+v %v", name, m, err)
		}
	})
}
