package pkglist

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cairn/internal/eval"
)

// listing evaluates src and returns nix-env -qaP's table for it.
func listing(t *testing.T, src string, c Columns) (string, error) {
	t.Helper()
	ev := eval.New(eval.Options{Compat: eval.CompatNix28()})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalString(src, "«test»", "/")
		if err != nil {
			return err
		}
		pkgs, err := Find(ev, v, "", nil)
		if err != nil {
			return err
		}
		SortByName(pkgs)
		rows, _, err := Rows(ev, pkgs, c)
		if err != nil {
			return err
		}
		return WriteTable(&out, rows)
	})
	return out.String(), err
}

const drvs = `let
  mk = name: extra: { type = "derivation"; inherit name; system = "x86_64-linux"; outPath = "/nix/store/x-" + name; } // extra;
  d = mk "shared-1.0" {};
in {
  hello = mk "hello-2.10" { meta.description = "A program\nthat greets"; };
  alias = d;
  zalias = d;
  bad = assert false; mk "bad-1" {};
  thrown = throw "unfree";
  badName = mk (throw "no name") {};
  "not an attr" = mk "hidden-1" {};
  sub = { recurseForDerivations = true; Inner = mk "Apple-1" {}; list = [ (mk "in-list" {}) ]; };
  noRecurse = { x = mk "never" {}; };
  aDesc = mk "Beta-2" { meta.description = 42; };
}`

func TestListing(t *testing.T) {
	got, err := listing(t, drvs, Columns{AttrPath: true, Name: true, Description: true})
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by name case-insensitively; alias/zalias are one set (the
	// lower attribute name wins); failed asserts and throws are skipped;
	// lists are not recursed into from sets; descriptions that are not
	// strings print empty; newlines become spaces.
	want := "" +
		"sub.Inner  Apple-1     \n" +
		"aDesc      Beta-2      \n" +
		"hello      hello-2.10  A program that greets\n" +
		"alias      shared-1.0  \n"
	if got != want {
		t.Errorf("listing:\n%s\nwant:\n%s", got, want)
	}
}

func TestListingErrors(t *testing.T) {
	// Errors other than assertions end the listing, as in nix-env.
	for _, src := range []string{
		`{ a = abort "stop"; }`,
		`{ a = { recurseForDerivations = 1; }; }`,
		`{ a = { type = "derivation"; name = 1; }; }`,
		`42`,
	} {
		if _, err := listing(t, src, Columns{Name: true}); err == nil {
			t.Errorf("%s: no error", src)
		}
	}
}

func TestDrvName(t *testing.T) {
	for _, tt := range []struct{ in, name, version string }{
		{"hello-2.10", "hello", "2.10"},
		{"gtk+3-3.24.21", "gtk+3", "3.24.21"},
		{"nix-info", "nix-info", ""},
		{"python3.8-numpy-1.19.0", "python3.8-numpy", "1.19.0"},
		{"a-", "a-", ""},
	} {
		if n, v := DrvName(tt.in); n != tt.name || v != tt.version {
			t.Errorf("DrvName(%q) = %q, %q; want %q, %q", tt.in, n, v, tt.name, tt.version)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	ev := eval.New(eval.Options{Compat: eval.CompatNix28()})
	var out bytes.Buffer
	err := ev.Run(func() error {
		v, err := ev.EvalString(`{ a = { type = "derivation"; name = "a-1"; system = "s"; outputs = [ "out" "dev" ]; outputName = "out";
		  meta = { description = "d"; list = [ 1 "x" ]; empty = {}; }; }; }`, "«test»", "/")
		if err != nil {
			return err
		}
		pkgs, err := Find(ev, v, "", nil)
		if err != nil {
			return err
		}
		_, err = WriteJSON(ev, &out, pkgs, JSONOptions{Meta: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "a": {
    "name": "a-1",
    "pname": "a",
    "version": "1",
    "system": "s",
    "outputName": "out",
    "outputs": {
      "dev": null,
      "out": null
    },
    "meta": {
      "description": "d",
      "empty": {},
      "list": [
        1,
        "x"
      ]
    }
  }
}
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestSortMatchesLibstdcxx compiles a small C++ program with g++ and checks
// that SortByName leaves equal names in the order std::sort does.
func TestSortMatchesLibstdcxx(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("g++ missing (scripts/setup.sh installs it)")
		}
		t.Skip("SKIPPED: g++ not found; cannot compare with libstdc++'s std::sort")
	}
	dir := t.TempDir()
	prog := `#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>
#include <vector>
static bool cmpChars(char a, char b) { return toupper(a) < toupper(b); }
int main() {
    std::vector<std::pair<std::string, int>> v;
    std::string s; int i = 0;
    while (std::getline(std::cin, s)) v.push_back({s, i++});
    std::sort(v.begin(), v.end(), [](auto & a, auto & b) {
        return std::lexicographical_compare(a.first.begin(), a.first.end(), b.first.begin(), b.first.end(), cmpChars); });
    for (auto & x : v) std::cout << x.second << "\n";
}
`
	if err := os.WriteFile(filepath.Join(dir, "s.cc"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "s")
	if out, err := exec.Command(gxx, "-O1", "-o", bin, filepath.Join(dir, "s.cc")).CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, out)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, 16, 17, 40, 1000, 30000} {
		// Few distinct names, mixed case, so that many compare equal;
		// one sorted run to reach the heap-sort fallback.
		var names []string
		for i := 0; i < n; i++ {
			name := []string{"a", "B", "b", "A", "ab", "aB", "c", "\xc3\xa9", "Zz"}[r.IntN(9)]
			if n == 1000 && i < 500 {
				name = "same"
			}
			names = append(names, name)
		}
		cmd := exec.Command(bin)
		cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + map[bool]string{true: "\n"}[n > 0])
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		pkgs := make([]*Package, n)
		for i, name := range names {
			pkgs[i] = &Package{Name: name}
		}
		idx := map[*Package]int{}
		for i, p := range pkgs {
			idx[p] = i
		}
		SortByName(pkgs)
		var got strings.Builder
		for _, p := range pkgs {
			got.WriteString(strconv.Itoa(idx[p]) + "\n")
		}
		if got.String() != string(want) {
			t.Errorf("n=%d: order differs from std::sort", n)
		}
	}
}

func TestIsStorePath(t *testing.T) {
	for _, tt := range []struct {
		p  string
		ok bool
	}{
		{"/nix/store/00000000000000000000000000000000-a", true},
		{"/nix/store//00000000000000000000000000000000-a+b_c.d?=-1", true},
		{"/nix/store/00000000000000000000000000000000-", false},
		{"/nix/store/0000000000000000000000000000000e-a", false},
		{"/nix/store/0000000000000000000000000000000-a", false},
		{"/nix/store/00000000000000000000000000000000-a/bin", false},
		{"/nix/store/00000000000000000000000000000000-a b", false},
		{"/tmp/00000000000000000000000000000000-a", false},
		{"/nix/store/x-a", false},
	} {
		if got := isStorePath("/nix/store", tt.p); got != tt.ok {
			t.Errorf("isStorePath(%q) = %v, want %v", tt.p, got, tt.ok)
		}
	}
}
