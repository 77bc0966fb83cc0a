package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// needNix returns the path of Nix 2.8's nix, or skips (fails with
// CI=true) without it.
func needNix(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nix")
	if err == nil {
		if _, err = exec.LookPath("nix-store"); err == nil {
			return p
		}
	}
	msg := "\n*** nix / nix-store NOT FOUND: the differential store-command tests against Nix 2.8 are skipped\n*** (apt-get install nix-bin)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// nixStore is a chroot store filled by Nix 2.8, with a work directory.
type nixStore struct {
	*storeEnv
	nix string
}

// run runs Nix's nix with args against root and returns stdout and the
// exit code.
func (n *nixStore) nixIn(root string, args ...string) (string, int) {
	n.t.Helper()
	argv := append([]string{"--extra-experimental-features", "nix-command", "--option", "substituters", "", "--store", root}, args...)
	cmd := exec.Command(n.nix, argv...)
	cmd.Dir = n.work
	cmd.Env = append(os.Environ(), "HOME="+n.work, "NIX_REMOTE=", "NIX_CONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("nix %v: %v", args, err)
	}
	return out.String(), code
}

// cairnIn runs cairn with args against root.
func (n *nixStore) cairnIn(root string, args ...string) (string, int) {
	n.t.Helper()
	saved := n.root
	n.root = root
	defer func() { n.root = saved }()
	out, _, code := n.run("", args...)
	return out, code
}

func (n *nixStore) mustNix(args ...string) string {
	n.t.Helper()
	out, code := n.nixIn(n.root, args...)
	if code != 0 {
		n.t.Fatalf("nix %s: exit %d", strings.Join(args, " "), code)
	}
	return strings.TrimSpace(out)
}

const chainNix = `let
  a = builtins.toFile "a" "hello a\n";
  b = builtins.toFile "b" "line one\nref ${a} end\nmore\n";
  c = builtins.toFile "c" "${b} and\n${a}\n\x01\xff";
  dir = builtins.path { path = ./src/e; name = "e"; };
  user = builtins.toFile "user" "é uses ${dir}/q\"uote and\t${c} ü";
in {
  inherit a b c dir user;
  fod = derivation { name = "fod"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM="; };
  flat = derivation { name = "flat"; system = "x86_64-linux"; builder = "/bin/sh"; outputHash = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; outputHashAlgo = "sha256"; args = [ "${user}" ]; };
  drv = derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${c} > $out" ]; };
  drv2 = derivation { name = "y"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "cat ${(derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${c} > $out" ]; })} ${user}" ]; outputs = [ "out" "dev" ]; };
}
`

func newNixStore(t *testing.T) (n *nixStore, paths map[string]string) {
	nixBin := needNix(t)
	n = &nixStore{storeEnv: newStoreEnv(t), nix: nixBin}
	if err := os.MkdirAll(filepath.Join(n.work, "src/e/sub dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.write("src/e/q\"uote", "quote\n", 0o644)
	n.write("src/e/uni-é", "\x00\x01 binary \xff", 0o755)
	n.write("src/e/ctl\x01name", "", 0o644)
	n.write("src/e/sub dir/f", "f\n", 0o644)
	if err := os.Symlink("sub dir/f", filepath.Join(n.work, "src/e/link")); err != nil {
		t.Fatal(err)
	}
	n.write("chain.nix", chainNix, 0o644)
	paths = map[string]string{
		"d":     n.mustNix("store", "add-path", "src/d"),
		"hello": n.mustNix("store", "add-file", "src/hello.txt"),
	}
	for _, a := range []string{"a", "b", "c", "dir", "user", "drv.drvPath", "drv2.drvPath", "fod.drvPath", "flat.drvPath"} {
		paths[a] = n.mustNix("eval", "--raw", "-f", "chain.nix", a)
	}
	return n, paths
}

// TestStoreCommandsNix compares the read-only commands byte for byte
// (stdout and exit status) with Nix 2.8 on a store Nix 2.8 filled.
func TestStoreCommandsNix(t *testing.T) {
	n, p := newNixStore(t)
	if _, code := n.nixIn(n.root, "store", "dump-path", p["d"]); code != 0 {
		t.Fatal("nix store dump-path failed")
	}
	narOut, _ := n.nixIn(n.root, "store", "dump-path", p["dir"])
	n.write("e.nar", narOut, 0o644)
	s := strings.Fields
	cases := [][]string{
		s("store ls " + p["d"]),
		s("store ls -R -l " + p["d"]),
		s("store ls --json " + p["d"]),
		s("store ls -R --json " + p["d"]),
		s("store ls -R --json " + p["dir"]),
		s("store ls -R -l " + p["dir"]),
		s("store ls -l " + p["dir"] + "/link"),
		s("store ls -d " + p["dir"]),
		s("store ls --json " + p["dir"] + "/uni-é"),
		s("store ls " + p["d"] + "/nope"),
		s("store ls " + p["a"]),
		s("store ls --json " + p["a"]),
		s("store cat " + p["d"] + "/a"),
		s("store cat " + p["c"]),
		s("store cat " + p["d"]),
		s("store dump-path " + p["d"]),
		s("store dump-path " + p["dir"]),
		s("store dump-path " + p["hello"]),
		s("nar ls e.nar /"),
		s("nar ls -R -l e.nar /"),
		s("nar ls -R --json e.nar /"),
		s("nar ls --json e.nar /sub"),
		s("nar ls -l e.nar /link"),
		s("nar ls e.nar /nope"),
		s("nar ls e.nar sub"),
		s("nar cat e.nar link"),
		s("nar cat e.nar /uni-é"),
		s("nar cat e.nar /link"),
		s("nar dump-path src/e"),
		s("nar dump-path src/hello.txt"),
		s("path-info " + p["c"]),
		s("path-info -r " + p["user"]),
		s("path-info -rsS " + p["user"]),
		s("path-info -rsSh " + p["user"]),
		s("path-info --sigs -r " + p["c"]),
		s("path-info -s --sigs " + p["d"] + " " + p["hello"]),
		s("path-info --json " + p["c"]),
		s("path-info --json " + p["d"] + " " + p["hello"] + " " + p["dir"]),
		s("path-info --json -r -S " + p["user"]),
		s("path-info --json /nix/store/00000000000000000000000000000000-x"),
		s("path-info --json -r " + p["c"] + " " + p["dir"]),
		s("why-depends " + p["c"] + " " + p["a"]),
		s("why-depends --all " + p["c"] + " " + p["a"]),
		s("why-depends --precise " + p["c"] + " " + p["a"]),
		s("why-depends --precise --all " + p["c"] + " " + p["a"]),
		s("why-depends --all --precise " + p["user"] + " " + p["a"]),
		s("why-depends " + p["user"] + " " + p["dir"]),
		s("why-depends --precise " + p["user"] + " " + p["dir"]),

		s("why-depends " + p["a"] + " " + p["c"]),
		s("why-depends " + p["c"] + " " + p["c"]),
		s("show-derivation " + p["drv.drvPath"]),
		s("show-derivation -r " + p["drv2.drvPath"]),
		s("show-derivation " + p["drv.drvPath"] + " " + p["drv2.drvPath"]),
		s("show-derivation " + p["fod.drvPath"] + " " + p["flat.drvPath"]),
		s("show-derivation -r " + p["flat.drvPath"]),
		s("hash path src/d"),
		s("hash path --base16 src/e"),
		s("hash path --type sha1 --base32 src/e"),
		s("hash path --type sha512 --base64 src/hello.txt"),
		s("hash path --type md5 --sri src/d src/hello.txt"),
		s("hash file src/hello.txt"),
		s("hash file --base32 --type sha1 src/hello.txt"),
		s("hash to-base32 sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM="),
		s("hash to-base16 sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw"),
		s("hash to-base64 --type sha1 0deb52c2735eb38d360f976b7b3823c4ad05cce7"),
		s("hash to-sri --type md5 b1946ac92492d2347c6235b4d2611184"),
		s("hash to-sri sha512:" + strings.Repeat("0", 128)),
		s("hash to-sri sha256:nope"),
	}
	for _, args := range cases {
		want, wantCode := n.nixIn(n.root, args...)
		got, code := n.cairnIn(n.root, args...)
		if got != want || code != wantCode {
			t.Errorf("%s:\ncairn (exit %d): %q\nnix   (exit %d): %q", strings.Join(args, " "), code, clip(got), wantCode, clip(want))
		}
	}
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

var registrationTime = regexp.MustCompile(`,"registrationTime":[0-9]+`)

// TestStoreAddNix adds the same files with cairn and with Nix 2.8 to two
// fresh stores: the printed paths agree, and Nix reads cairn's store to
// the same path-info as its own.
func TestStoreAddNix(t *testing.T) {
	nixBin := needNix(t)
	n := &nixStore{storeEnv: newStoreEnv(t), nix: nixBin}
	nixRoot, ourRoot := filepath.Join(n.work, "nixroot"), filepath.Join(n.work, "ourroot")
	var ours []string
	for _, c := range [][]string{
		{"store", "add-path", "src/d"},
		{"store", "add-path", "--name", "renamed", "src/hello.txt"},
		{"store", "add-file", "src/hello.txt"},
		{"store", "add-file", "-n", "x", "src/d/sub/e"},
		{"store", "add-path", "src/d/link"},
	} {
		want, wantCode := n.nixIn(nixRoot, c...)
		got, code := n.cairnIn(ourRoot, c...)
		if got != want || code != wantCode || code != 0 {
			t.Errorf("%v: cairn (exit %d) %q, nix (exit %d) %q", c, code, got, wantCode, want)
		}
		ours = append(ours, strings.TrimSpace(got))
	}
	// Nix 2.8 has no `store add --mode`: compare with nix-store
	// --add-fixed, and text mode with builtins.toFile.
	for _, c := range []struct {
		ours, nixStore []string
	}{
		{[]string{"store", "add", "--hash-algo", "sha1", "src/hello.txt"}, []string{"--add-fixed", "--recursive", "sha1", "src/hello.txt"}},
		{[]string{"store", "add", "--mode", "nar", "--hash-algo", "sha512", "src/d"}, []string{"--add-fixed", "--recursive", "sha512", "src/d"}},
		{[]string{"store", "add", "--mode", "flat", "--hash-algo", "md5", "src/hello.txt"}, []string{"--add-fixed", "md5", "src/hello.txt"}},
		{[]string{"store", "add", "--mode", "flat", "src/d/sub/e"}, []string{"--add-fixed", "sha256", "src/d/sub/e"}},
	} {
		cmd := exec.Command("nix-store", append([]string{"--store", nixRoot}, c.nixStore...)...)
		cmd.Dir, cmd.Env = n.work, append(os.Environ(), "NIX_REMOTE=", "HOME="+n.work)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("nix-store %v: %v", c.nixStore, err)
		}
		got, code := n.cairnIn(ourRoot, c.ours...)
		if got != string(want) || code != 0 {
			t.Errorf("%v: cairn (exit %d) %q, nix-store %v %q", c.ours, code, got, c.nixStore, want)
		}
		ours = append(ours, strings.TrimSpace(got))
	}
	// Several paths in one call print one path each, as nix-store --add.
	multi := exec.Command("nix-store", "--store", nixRoot, "--add", "src/hello.txt", "src/d", "src/d/link")
	multi.Dir, multi.Env = n.work, append(os.Environ(), "NIX_REMOTE=", "HOME="+n.work)
	if want, err := multi.Output(); err != nil {
		t.Errorf("nix-store --add of several paths: %v", err)
	} else if got, code := n.cairnIn(ourRoot, "store", "add", "src/hello.txt", "src/d", "src/d/link"); got != string(want) || code != 0 {
		t.Errorf("store add of several paths: cairn (exit %d) %q, nix-store --add %q", code, got, want)
	}
	n.write("t.txt", "text \x01 contents\n", 0o644)
	n.write("t.nix", `builtins.toFile "t.txt" (builtins.readFile ./t.txt)`, 0o644)
	want, _ := n.nixIn(nixRoot, "eval", "--raw", "-f", "t.nix")
	got, code := n.cairnIn(ourRoot, "store", "add", "--mode", "text", "t.txt")
	if got != want+"\n" || code != 0 {
		t.Errorf("store add --mode text: %q, builtins.toFile: %q", got, want)
	}
	ours = append(ours, strings.TrimSpace(got))
	wantJSON, c1 := n.nixIn(nixRoot, append([]string{"path-info", "--json"}, ours...)...)
	gotJSON, c2 := n.nixIn(ourRoot, append([]string{"path-info", "--json"}, ours...)...)
	wantJSON = registrationTime.ReplaceAllString(wantJSON, "")
	gotJSON = registrationTime.ReplaceAllString(gotJSON, "")
	if c1 != 0 || c2 != 0 || wantJSON != gotJSON {
		t.Errorf("nix path-info --json of the added paths:\nin cairn's store: %s\nin Nix's store:   %s", gotJSON, wantJSON)
	}
	// And cairn reads Nix's store the same way.
	ourJSON, _ := n.cairnIn(nixRoot, append([]string{"path-info", "--json"}, ours...)...)
	if registrationTime.ReplaceAllString(ourJSON, "") != wantJSON {
		t.Errorf("cairn path-info --json on Nix's store:\n%s\nwant\n%s", ourJSON, wantJSON)
	}
}

// TestStoreGCNix compares what the collector finds dead with
// nix-store --gc --print-dead, and what remains after a collection, on
// copies of one store with one root.
func TestStoreGCNix(t *testing.T) {
	n, p := newNixStore(t)
	gcroots := filepath.Join(n.root, "nix/var/nix/gcroots")
	if err := os.MkdirAll(gcroots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p["b"], filepath.Join(gcroots, "keep-b")); err != nil {
		t.Fatal(err)
	}
	copyStore := func(name string) string {
		dst := filepath.Join(n.work, name)
		if out, err := exec.Command("cp", "-a", n.root, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		return dst
	}
	r1, r2, r3, r4 := copyStore("r1"), copyStore("r2"), copyStore("r3"), copyStore("r4")

	// --max stops after the first path that frees more than 1 byte.
	o3, c3 := n.cairnIn(r3, "store", "gc", "--max", "1")
	o4, c4 := n.nixIn(r4, "store", "gc", "--max", "1")
	if c3 != 0 || c4 != 0 || !strings.HasPrefix(o3, "1 store paths deleted") || !strings.HasPrefix(o4, "1 store paths deleted") {
		t.Errorf("store gc --max 1: cairn (exit %d) %q, nix (exit %d) %q", c3, o3, c4, o4)
	}

	dead, code := n.cairnIn(r1, "store", "gc", "--dry-run")
	cmd := exec.Command("nix-store", "--store", r2, "--gc", "--print-dead")
	cmd.Env = append(os.Environ(), "NIX_REMOTE=", "HOME="+n.work)
	nixDead, err := cmd.Output()
	if err != nil || code != 0 {
		t.Fatalf("gc --dry-run: exit %d; nix-store: %v", code, err)
	}
	sorted := func(s string) []string {
		l := strings.Fields(s)
		slices.Sort(l)
		return l
	}
	if g, w := sorted(dead), sorted(string(nixDead)); !slices.Equal(g, w) || len(g) == 0 {
		t.Errorf("dead paths:\ncairn %v\nnix   %v", g, w)
	}

	// Refusals agree: a is referenced by the root b.
	if _, code := n.cairnIn(r1, "store", "delete", p["a"]); code != 1 {
		t.Errorf("cairn store delete of a live path: exit %d", code)
	}
	if _, code := n.nixIn(r2, "store", "delete", p["a"]); code != 1 {
		t.Errorf("nix store delete of a live path: exit %d", code)
	}

	out1, c1 := n.cairnIn(r1, "store", "gc")
	out2, c2 := n.nixIn(r2, "store", "gc")
	count := func(s string) string { f, _, _ := strings.Cut(s, ","); return f }
	if c1 != 0 || c2 != 0 || count(out1) != count(out2) {
		t.Errorf("store gc: cairn (exit %d) %q, nix (exit %d) %q", c1, out1, c2, out2)
	}
	ls := func(root string) []string {
		ents, err := os.ReadDir(filepath.Join(root, "nix/store"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if g, w := ls(r1), ls(r2); !slices.Equal(g, w) {
		t.Errorf("after gc:\ncairn's store %v\nNix's store   %v", g, w)
	}
	// Nix 2.8 still reads the store cairn collected.
	if out, code := n.nixIn(r1, "path-info", "-r", p["b"]); code != 0 || len(strings.Fields(out)) != 2 {
		t.Errorf("nix path-info -r on cairn's collected store: exit %d, %q", code, out)
	}
}

// TestStoreVerifyCorruptNix corrupts a file in two copies of a store and
// checks that cairn and Nix 2.8 agree on the exit statuses of the whole
// store check and of the per-path check.
func TestStoreVerifyCorruptNix(t *testing.T) {
	n, p := newNixStore(t)
	copyStore := func(name string) string {
		dst := filepath.Join(n.work, name)
		if out, err := exec.Command("cp", "-a", n.root, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		return dst
	}
	r1, r2 := copyStore("r1"), copyStore("r2")
	for _, r := range []string{r1, r2} {
		f := filepath.Join(r, p["d"], "a")
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("b\n"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	nixStoreVerify := func(root string, args ...string) int {
		cmd := exec.Command("nix-store", append([]string{"--store", root, "--verify"}, args...)...)
		cmd.Env = append(os.Environ(), "NIX_REMOTE=", "HOME="+n.work)
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			t.Fatal(err)
		}
		return 0
	}
	for _, c := range []struct {
		ours []string
		nix  func(root string) int
	}{
		{[]string{"store", "verify"}, func(r string) int { return nixStoreVerify(r) }},
		{[]string{"store", "verify", "--check-contents"}, func(r string) int { return nixStoreVerify(r, "--check-contents") }},
		{[]string{"store", "verify", "--all"}, func(r string) int { _, code := n.nixIn(r, "store", "verify", "--all"); return code }},
		{[]string{"store", "verify", "--no-contents", "--all"}, func(r string) int {
			_, code := n.nixIn(r, "store", "verify", "--no-contents", "--all")
			return code
		}},
		{[]string{"store", "verify", p["d"], p["c"]}, func(r string) int { _, code := n.nixIn(r, "store", "verify", p["d"], p["c"]); return code }},
		{[]string{"store", "verify", p["c"]}, func(r string) int { _, code := n.nixIn(r, "store", "verify", p["c"]); return code }},
	} {
		_, got := n.cairnIn(r1, c.ours...)
		if want := c.nix(r2); got != want {
			t.Errorf("%v: cairn exit %d, nix exit %d", c.ours, got, want)
		}
	}
}
