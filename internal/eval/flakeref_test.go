package eval

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFlakeRef parses flake references, shows their attributes as sorted
// k=v pairs, and renders them back (after " -> "), or shows "ERR msg".
func TestFlakeRef(t *testing.T) {
	tests := []struct{ in, want string }{
		{"github:NixOS/nixpkgs/23.05?dir=lib", "dir=lib owner=NixOS ref=23.05 repo=nixpkgs type=github -> github:NixOS/nixpkgs/23.05?dir=lib"},
		{"github:NixOS/nixpkgs", "owner=NixOS repo=nixpkgs type=github -> github:NixOS/nixpkgs"},
		{"gitlab:a/b/" + strings.Repeat("AB", 20), "owner=a repo=b rev=" + strings.Repeat("AB", 20) + " type=gitlab -> gitlab:a/b/" + strings.Repeat("ab", 20)},
		{"sourcehut:~a/b/feature/x?host=git.example.org", "host=git.example.org owner=~a ref=feature/x repo=b type=sourcehut -> sourcehut:~a/b/feature%2Fx?host=git.example.org"},
		{"nixpkgs", "id=nixpkgs type=indirect -> flake:nixpkgs"},
		{"nixpkgs/release-23.05", "id=nixpkgs ref=release-23.05 type=indirect -> flake:nixpkgs/release-23.05"},
		{"flake:nixpkgs/" + strings.Repeat("0", 40), "id=nixpkgs rev=" + strings.Repeat("0", 40) + " type=indirect -> flake:nixpkgs/" + strings.Repeat("0", 40)},
		{"/src/proj?dir=sub", "dir=sub path=/src/proj type=path -> path:/src/proj?dir=sub"},
		{"path:/src/proj?lastModified=12&narHash=sha256-x", "lastModified=12 narHash=sha256-x path=/src/proj type=path -> path:/src/proj?lastModified=12&narHash=sha256-x"},
		{"nixpkgs#hello", "ERR unexpected fragment 'hello' in flake reference 'nixpkgs#hello'"},
		{"github:NixOS", "ERR flake reference 'github:NixOS' is not an absolute path"},
		{"github:a/b?foo=1", "ERR flake reference 'github:a/b?foo=1' is not an absolute path"},
		{"path://host/x", "ERR path URL 'path://host/x' should not have an authority ('host')"},
		{"bogus:x", "ERR input 'bogus:x' is unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := showFlakeRef(tt.in)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func showFlakeRef(s string) string {
	r, err := parseFlakeRef(s)
	if err != nil {
		return "ERR " + err.Error()
	}
	var kv []string
	all := flakeAttrs{}
	for k, v := range r.attrs {
		all[k] = v
	}
	if r.subdir != "" {
		all["dir"] = strAttr(r.subdir)
	}
	for k, v := range all {
		x := v.s
		if v.kind == KInt {
			x = strconv.FormatUint(v.n, 10)
		}
		kv = append(kv, k+"="+x)
	}
	slices.Sort(kv)
	r2, err := flakeRefFromAttrs(all)
	if err != nil {
		return "ERR fromAttrs " + err.Error()
	}
	out, err := r2.String()
	if err != nil {
		return "ERR toString " + err.Error()
	}
	return strings.Join(kv, " ") + " -> " + out
}
