package storepath

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
)

// TestGolden replays testdata/paths.golden, recorded from Nix 2.8 by
// testdata/gen-golden.sh (nix-store --add, --add-fixed,
// --print-fixed-path and builtins.toFile, in two store directories).
func TestGolden(t *testing.T) {
	f, err := os.Open("testdata/paths.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	kinds := map[string]int{}
	for sc.Scan() {
		line := sc.Text()
		lhs, want, ok := strings.Cut(line, " -> ")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		kind, args, _ := strings.Cut(lhs, " ")
		kinds[kind]++
		var p Path
		var dir Dir
		var err error
		switch kind {
		case "source": // dir name narhash
			a := strings.Fields(args)
			dir = Dir(a[0])
			p, err = dir.MakeFixedOutputPath(a[1], Recursive, mustHash(t, "sha256", a[2]), nil, false)
		case "fixed": // dir flat|r algo hex name
			a := strings.Fields(args)
			dir = Dir(a[0])
			m := Flat
			if a[1] == "r" {
				m = Recursive
			}
			p, err = dir.MakeFixedOutputPath(a[4], m, mustHash(t, a[2], a[3]), nil, false)
		case "text": // dir name sha256 refs
			a := strings.Fields(args)
			dir = Dir(a[0])
			var refs []Path
			if a[3] != "-" {
				for _, r := range strings.Split(a[3], ",") {
					rp, err := dir.Parse(r)
					if err != nil {
						t.Fatal(err)
					}
					refs = append(refs, rp)
				}
			}
			// Reverse them: the order given must not matter.
			for i, j := 0, len(refs)-1; i < j; i, j = i+1, j-1 {
				refs[i], refs[j] = refs[j], refs[i]
			}
			p, err = dir.MakeTextPath(a[1], mustHash(t, "sha256", a[2]), refs)
		case "name":
			dir = DefaultDir
			p, err = dir.MakeFixedOutputPath(args, Recursive, mustHash(t, "sha256", strings.Repeat("0", 64)), nil, false)
			if err == nil {
				if err := CheckName(args); err != nil {
					t.Errorf("CheckName(%q) = %v, Nix 2.8 accepts it", args, err)
				}
				err = nil
			}
			got := "ok"
			if err != nil {
				got = "error: " + err.Error()
				if !errors.Is(err, ErrBadStorePath) {
					t.Errorf("%v is not ErrBadStorePath", err)
				}
				if CheckName(args) == nil {
					t.Errorf("CheckName(%q) accepts it, Nix 2.8 does not", args)
				}
			}
			if got != want {
				t.Errorf("name %q: got %s, want %s", args, got, want)
			}
			continue
		default:
			t.Fatalf("unknown kind %q", kind)
		}
		if err != nil {
			t.Errorf("%s: %v", lhs, err)
			continue
		}
		if got := dir.Print(p); got != want {
			t.Errorf("%s\n got %s\nwant %s", lhs, got, want)
		}
		// And the path parses back.
		if back, err := dir.Parse(want); err != nil || back != p {
			t.Errorf("Parse(%q) = %v, %v", want, back, err)
		}
	}
	for _, k := range []string{"source", "fixed", "text", "name"} {
		if kinds[k] < 3 {
			t.Errorf("only %d %q cases in the golden file", kinds[k], k)
		}
	}
}

func mustHash(t *testing.T, algo, hex string) nixhash.Hash {
	t.Helper()
	a, err := nixhash.ParseAlgo(algo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := nixhash.ParseUnprefixed(hex, a)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", "i9pmrzmpshapij2kin22pff6fc2adavx hello.txt"},
		{"/nix/store//i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt/", "i9pmrzmpshapij2kin22pff6fc2adavx hello.txt"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-x.drv", "i9pmrzmpshapij2kin22pff6fc2adavx x.drv drv"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt/bin", "error: path '/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt/bin' is not in the Nix store"},
		{"/nix/var/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", "error: path '/nix/var/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt' is not in the Nix store"},
		{"nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt", "error: path 'nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt' is not in the Nix store"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx", "error: 'i9pmrzmpshapij2kin22pff6fc2adavx' is too short to be a valid store path"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-", "error: store path 'i9pmrzmpshapij2kin22pff6fc2adavx-' has an empty name"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavxxhello", "error: 'i9pmrzmpshapij2kin22pff6fc2adavxxhello' can't name a store path because the hash part is not followed by a '-'"},
		{"/nix/store/e9pmrzmpshapij2kin22pff6fc2adavx-hello", "error: store path 'e9pmrzmpshapij2kin22pff6fc2adavx-hello' contains illegal base-32 character 'e'"},
		{"/nix/store/I9pmrzmpshapij2kin22pff6fc2adavx-hello", "error: store path 'I9pmrzmpshapij2kin22pff6fc2adavx-hello' contains illegal base-32 character 'I'"},
		{"/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-a b", "error: store path 'i9pmrzmpshapij2kin22pff6fc2adavx-a b' contains illegal character ' '"},
	}
	for _, tt := range tests {
		p, err := DefaultDir.Parse(tt.in)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = p.HashPart() + " " + p.Name()
			if p.IsDerivation() {
				got += " drv"
			}
		}
		if got != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestParseSub(t *testing.T) {
	p, rest, err := DefaultDir.ParseSub("/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello/bin//sh")
	if err != nil || p.Name() != "hello" || rest != "/bin/sh" {
		t.Errorf("ParseSub = %v %q %v", p, rest, err)
	}
	p, rest, err = DefaultDir.ParseSub("/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello")
	if err != nil || p.Name() != "hello" || rest != "" {
		t.Errorf("ParseSub = %v %q %v", p, rest, err)
	}
	if _, _, err := DefaultDir.ParseSub("/nix/store"); err == nil {
		t.Errorf("ParseSub(/nix/store) succeeded")
	}
}

func TestDigestRoundTrip(t *testing.T) {
	p, err := ParseBase("i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	q, err := FromDigest(p.Digest(), p.Name())
	if err != nil || q != p {
		t.Errorf("FromDigest(Digest) = %v, %v; want %v", q, err, p)
	}
}

func TestCheckNameStrict(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello-1.0", ""},
		{".dot", ""},
		{"..dots", ""},
		{".", "name '.' is not valid"},
		{"..", "name '..' is not valid"},
		{".-x", "name '.-x' is not valid: first dash-separated component must not be '.'"},
		{"..-x", "name '..-x' is not valid: first dash-separated component must not be '..'"},
		{"a b", "store path 'a b' contains illegal character ' '"},
	}
	for _, tt := range tests {
		err := CheckNameStrict(tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckNameStrict(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOutputPathName(t *testing.T) {
	if got := OutputPathName("hello-2.12", "out"); got != "hello-2.12" {
		t.Errorf("out: %s", got)
	}
	if got := OutputPathName("hello-2.12", "dev"); got != "hello-2.12-dev" {
		t.Errorf("dev: %s", got)
	}
}

func TestFixedOutputRefsRejected(t *testing.T) {
	ref, _ := ParseBase("i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt")
	if _, err := DefaultDir.MakeFixedOutputPath("x", Flat, nixhash.Sum(nixhash.SHA256, nil), []Path{ref}, false); err == nil {
		t.Errorf("flat fixed-output path with references accepted")
	}
	// source paths take references and a self-reference in the type.
	a, _ := DefaultDir.MakeFixedOutputPath("x", Recursive, nixhash.Sum(nixhash.SHA256, nil), []Path{ref}, false)
	b, _ := DefaultDir.MakeFixedOutputPath("x", Recursive, nixhash.Sum(nixhash.SHA256, nil), []Path{ref}, true)
	c, _ := DefaultDir.MakeFixedOutputPath("x", Recursive, nixhash.Sum(nixhash.SHA256, nil), nil, false)
	if a == b || a == c || b == c {
		t.Errorf("references do not change the path: %v %v %v", a, b, c)
	}
}

func TestContentAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw", "fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw"},
		{"fixed:sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "fixed:sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"},
		{"text:sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq", "text:sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"},
		{"fixed:r:sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm", "fixed:r:sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm"},
		{"text:sha1:iwjz551fyw0cxcjgf4l6c879zabd6wpm", "error"},
		{"source:sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq", "error"},
		{"fixed:sha256", "error"},
		{"fixed", "error"},
	}
	for _, tt := range tests {
		ca, err := ParseContentAddress(tt.in)
		got := ca.String()
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("ParseContentAddress(%q) = %s (%v), want %s", tt.in, got, err, tt.want)
		}
	}
	// The worked example of the design note: nix-store --add hello.txt.
	ca, _ := ParseContentAddress("fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw")
	p, err := DefaultDir.MakePathFromCA("hello.txt", ca, nil, false)
	if err != nil || DefaultDir.Print(p) != "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt" {
		t.Errorf("MakePathFromCA = %v, %v", p, err)
	}
}

func FuzzParseBase(f *testing.F) {
	f.Add("i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt")
	f.Add("i9pmrzmpshapij2kin22pff6fc2adavx-")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseBase(s)
		if err != nil {
			if !errors.Is(err, ErrBadStorePath) {
				t.Fatalf("error %v is not ErrBadStorePath", err)
			}
			return
		}
		if p.Base() != s {
			t.Fatalf("Base() = %q, want %q", p.Base(), s)
		}
		q, err := FromDigest(p.Digest(), p.Name())
		if err != nil || q != p {
			t.Fatalf("FromDigest(Digest(%q)) = %v, %v", s, q, err)
		}
		if CheckName(p.Name()) != nil {
			t.Fatalf("parsed name %q fails CheckName", p.Name())
		}
	})
}
