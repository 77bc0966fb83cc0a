package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// storeEnv is a scratch chroot store and a working directory holding a
// small tree:
//
//	src/hello.txt        "hello\n"
//	src/d/a              "a\n"
//	src/d/sub/e          "x" (executable)
//	src/d/link -> ../hello.txt
type storeEnv struct {
	t    *testing.T
	work string
	root string // the store's root: --store <root>
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	work, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &storeEnv{t: t, work: work, root: filepath.Join(work, "root")}
	for _, d := range []string{"src/d/sub"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write("src/hello.txt", "hello\n", 0o644)
	e.write("src/d/a", "a\n", 0o644)
	e.write("src/d/sub/e", "x", 0o755)
	if err := os.Symlink("../hello.txt", filepath.Join(work, "src/d/link")); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *storeEnv) write(name, data string, mode os.FileMode) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.work, name), []byte(data), mode); err != nil {
		e.t.Fatal(err)
	}
}

// run runs cairn with args and --store <root>, in the work directory.
func (e *storeEnv) run(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"cairn"}, args...)
	argv = append(argv, "--store", e.root)
	code = mainIn(e.t.Context(), e.work, argv, strings.NewReader(stdin), &out, &errb, []string{"HOME=" + e.work, "NIX_REMOTE=dummy://"})
	return out.String(), errb.String(), code
}

// ok runs args and fails the test unless they succeed.
func (e *storeEnv) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code != 0 {
		e.t.Fatalf("cairn %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// expect runs args and checks stdout and the exit code.
func (e *storeEnv) expect(want string, wantCode int, args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code != wantCode || out != want {
		e.t.Errorf("cairn %s:\nexit %d (want %d)\nstdout %q\nwant   %q\nstderr %s", strings.Join(args, " "), code, wantCode, out, want, errs)
	}
	return errs
}

// Paths computed by Nix 2.8 (see the store design note, §1.5, and
// TestStoreCommandsNix).
const (
	pathD     = "/nix/store/kabwq0mdbip9z5fxrmcprm579j3kgml4-d"
	pathHello = "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"
	pathSrcH  = "/nix/store/i9pmrzmpshapij2kin22pff6fc2adavx-hello.txt"
)

func TestStoreAddLsCat(t *testing.T) {
	e := newStoreEnv(t)
	e.expect(pathD+"\n", 0, "store", "add", "src/d")
	e.expect(pathD+"\n", 0, "store", "add-path", "--dry-run", "src/d")
	e.expect(pathHello+"\n", 0, "store", "add-file", "src/hello.txt")
	e.expect(pathHello+"\n", 0, "store", "add", "--mode", "flat", "src/hello.txt")
	e.expect(pathSrcH+"\n", 0, "store", "add", "src/hello.txt")
	e.expect("/nix/store/hzq8n5jpi3g2d0xhlvqd8q1gx5c9s6i3-hello.txt\n", 0, "store", "add", "--dry-run", "--hash-algo", "sha1", "src/hello.txt")
	e.expect("/nix/store/hzq8n5jpi3g2d0xhlvqd8q1gx5c9s6i3-hello.txt\n", 0, "store", "add", "--hash-algo", "sha1", "src/hello.txt")
	e.expect("", 1, "store", "add", "--mode", "text", "--name", "other", "src/d")
	text := e.ok("store", "add", "--mode", "text", "--name", "t.txt", "src/hello.txt")
	e.expect(text, 0, "store", "add", "--mode", "text", "--dry-run", "--name", "t.txt", "src/hello.txt")

	// Flat adds keep the executable bit (Nix 2.8 imports the file's NAR).
	x := strings.TrimSpace(e.ok("store", "add-file", "-n", "x", "src/d/sub/e"))
	e.expect("-r-xr-xr-x                    1 "+strings.TrimPrefix(x, "/nix/store/")+"\n", 0, "store", "ls", "-l", x)
	e.expect(x+"\n", 0, "store", "add", "--mode", "flat", "-n", "x", "src/d/sub/e")

	e.expect("./a\n./link\n./sub\n", 0, "store", "ls", pathD)
	e.expect("-r--r--r--                    2 ./a\n"+
		"lrwxrwxrwx                    0 ./link -> ../hello.txt\n"+
		"dr-xr-xr-x                    0 ./sub\n"+
		"-r-xr-xr-x                    1 ./sub/e\n", 0, "store", "ls", "-R", "-l", pathD)
	e.expect(`{"type":"directory","entries":{"a":{},"link":{},"sub":{}}}`, 0, "store", "ls", "--json", pathD)
	e.expect(`{"type":"directory","entries":{"a":{"type":"regular","size":2},"link":{"type":"symlink","target":"../hello.txt"},"sub":{"type":"directory","entries":{"e":{"type":"regular","size":1,"executable":true}}}}}`, 0, "store", "ls", "-R", "--json", pathD)
	e.expect("e\n", 0, "store", "ls", pathD+"/sub/e")
	e.expect(".\n", 0, "store", "ls", "-d", pathD)
	if errs := e.expect("", 1, "store", "ls", pathD+"/nope"); !strings.Contains(errs, "does not exist") {
		t.Errorf("ls of a missing file: %s", errs)
	}
	e.expect("a\n", 0, "store", "cat", pathD+"/a")
	if errs := e.expect("", 1, "store", "cat", pathD+"/link"); !strings.Contains(errs, "is not a regular file") {
		t.Errorf("cat of a symlink: %s", errs)
	}
	if errs := e.expect("", 1, "store", "cat", "/nix/store/00000000000000000000000000000000-x/a"); !strings.Contains(errs, "is not a valid store path") {
		t.Errorf("cat of an invalid path: %s", errs)
	}
	// A symlink outside the store (./result) leads to its store path.
	if err := os.Symlink(pathD, filepath.Join(e.work, "result")); err != nil {
		t.Fatal(err)
	}
	e.expect("a\n", 0, "store", "cat", "result/a")
}

func TestStoreDumpPathAndNar(t *testing.T) {
	e := newStoreEnv(t)
	e.ok("store", "add", "src/d")
	dump := e.ok("store", "dump-path", pathD)
	direct := e.ok("nar", "dump-path", "src/d")
	if dump != direct || len(dump) != 880 {
		t.Fatalf("store dump-path (%d bytes) and nar dump-path (%d bytes) differ or are not 880 bytes", len(dump), len(direct))
	}
	e.write("d.nar", dump, 0o644)
	e.expect("./a\n./link\n./sub\n", 0, "nar", "ls", "d.nar", "/")
	e.expect(`{"type":"directory","entries":{"a":{"type":"regular","size":2,"narOffset":232},"link":{"type":"symlink","target":"../hello.txt"},"sub":{"type":"directory","entries":{"e":{"type":"regular","size":1,"executable":true,"narOffset":792}}}}}`, 0, "nar", "ls", "-R", "--json", "d.nar", "/")
	e.expect("-r-xr-xr-x                    1 ./e\n", 0, "nar", "ls", "-lR", "d.nar", "/sub")
	e.expect(`{"type":"regular","size":1,"executable":true,"narOffset":792}`, 0, "nar", "ls", "--json", "d.nar", "/sub/e")
	e.expect("a\n", 0, "nar", "cat", "d.nar", "/a")
	e.expect("", 1, "nar", "cat", "d.nar", "/sub")
	e.expect("", 1, "nar", "ls", "d.nar", "/nope")
	if errs := e.expect("", 1, "nar", "ls", "-d", "--json", "d.nar", "/"); !strings.Contains(errs, "useless") {
		t.Errorf("--directory with --json: %s", errs)
	}

	// restore, then dump again: the same bytes.
	if _, errs, code := e.run(dump, "nar", "restore", "out"); code != 0 {
		t.Fatalf("nar restore: %s", errs)
	}
	if again := e.ok("nar", "dump-path", "out"); again != dump {
		t.Errorf("dump of the restored tree differs")
	}
	if _, _, code := e.run(dump+"junk", "nar", "restore", "out2"); code != 1 {
		t.Errorf("nar restore accepted trailing data")
	}
	if _, _, code := e.run(dump[:100], "nar", "restore", "out3"); code != 1 {
		t.Errorf("nar restore accepted a truncated archive")
	}
}

func TestHashCommands(t *testing.T) {
	e := newStoreEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"hash", "file", "src/hello.txt"}, "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=\n"},
		{[]string{"hash", "file", "--base16", "src/hello.txt"}, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n"},
		{[]string{"hash", "file", "--base32", "src/hello.txt"}, "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq\n"},
		{[]string{"hash", "path", "src/hello.txt"}, "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=\n"},
		{[]string{"hash", "path", "--type", "sha1", "--base16", "src/hello.txt"}, "0deb52c2735eb38d360f976b7b3823c4ad05cce7\n"},
		{[]string{"hash", "to-base32", "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM="}, "04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw\n"},
		{[]string{"hash", "to-sri", "--type", "sha256", "04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw"}, "sha256-HDfQGvQL4ugGkd48w99EN3ppmvuxfGjwgJZLL9Bx/BM=\n"},
		{[]string{"hash", "to-base16", "sha1:0deb52c2735eb38d360f976b7b3823c4ad05cce7"}, "0deb52c2735eb38d360f976b7b3823c4ad05cce7\n"},
		{[]string{"hash", "convert", "--hash-algo", "sha256", "--to", "nix32", "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}, "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq\n"},
		{[]string{"hash", "convert", "--from", "nix32", "sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"}, "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=\n"},
		{[]string{"hash", "convert", "--to", "base64", "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="}, "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=\n"},
	}
	for _, tt := range tests {
		e.expect(tt.want, 0, tt.args...)
	}
	for _, bad := range [][]string{
		{"hash", "convert", "--from", "base16", "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="},
		{"hash", "convert", "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}, // algorithm unknown
		{"hash", "to-sri", "sha256:zz"},
		{"hash", "file", "--type", "sha3", "src/hello.txt"},
		{"hash", "path", "src/missing"},
	} {
		e.expect("", 1, bad...)
	}
}

// addChain registers a <- b <- c (text paths whose contents name each
// other) in the store of e, and returns their printed paths.
func addChain(t *testing.T, e *storeEnv) (a, b, c string) {
	t.Helper()
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ia, err := st.AddText(ctx, "a", []byte("hello a\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a = st.Dir().Print(ia.Path)
	ib, err := st.AddText(ctx, "b", []byte("line one\nref "+a+" end\nmore\n"), []storepath.Path{ia.Path})
	if err != nil {
		t.Fatal(err)
	}
	b = st.Dir().Print(ib.Path)
	ic, err := st.AddText(ctx, "c", []byte(b+" and\n"+a+"\n"), []storepath.Path{ia.Path, ib.Path})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, st.Dir().Print(ic.Path)
}

func TestPathInfoWhyDepends(t *testing.T) {
	e := newStoreEnv(t)
	a, b, c := addChain(t, e)
	// The same paths Nix 2.8 gives builtins.toFile for these contents.
	if a != "/nix/store/mww3nsh46kbhh630kw6yscaivgcpz4bj-a" || c != "/nix/store/hdq3w1s4mr971knf0apm4kisiz7n81kz-c" {
		t.Fatalf("chain paths %s %s", a, c)
	}
	e.expect(c+"\n", 0, "path-info", c)
	e.expect(a+"\n"+b+"\n"+c+"\n", 0, "path-info", "-r", c)
	e.expect(a+"\t        120\t        120\n"+b+"\t        184\t        304\n"+c+"\t        208\t        512\n", 0, "path-info", "-rsS", c)
	e.expect(a+"\t 120.0 \t 120.0 \n"+b+"\t 184.0 \t 304.0 \n"+c+"\t 208.0 \t 512.0 \n", 0, "path-info", "-rsSh", c)
	e.expect(c+"\tca:text:sha256:0bpm87dxkm5bfxmla3mqyygg445q211fgipyc76zia6nnds3fsjp\n", 0, "path-info", "--sigs", c)
	js := e.ok("path-info", "--json", "-S", c)
	for _, want := range []string{
		`[{"path":"` + c + `","narHash":"sha256-2doxHHGzSpJpCjaVGxd5qo8GSPf5AgX1wQeZLPSvU2E=","narSize":208,"references":["` + b + `","` + a + `"],"ca":"text:sha256:0bpm87dxkm5bfxmla3mqyygg445q211fgipyc76zia6nnds3fsjp","closureSize":512,"registrationTime":`,
	} {
		if !strings.HasPrefix(js, want) || !strings.HasSuffix(js, "}]") {
			t.Errorf("path-info --json:\n%s\nwant prefix\n%s", js, want)
		}
	}
	e.expect(`[{"path":"/nix/store/00000000000000000000000000000000-x","valid":false}]`, 0, "path-info", "--json", "/nix/store/00000000000000000000000000000000-x")
	e.expect("", 1, "path-info", "/nix/store/00000000000000000000000000000000-x")

	e.expect(c+"\n└───"+a+"\x1b[0m\n", 0, "why-depends", c, a)
	e.expect(c+"\n├───"+a+"\x1b[0m\n└───"+b+"\x1b[0m\n    └───"+a+"\x1b[0m\n", 0, "why-depends", "--all", c, a)
	e.expect(c+"\x1b[0m\n"+
		"└───/: …i3f3k11j4c05y1-b and./nix/store/\x1b[32;1mmww3nsh46kbhh630kw6yscaivgcpz4bj\x1b[0m-a.…\n"+
		"    → "+a+"\x1b[0m\n", 0, "why-depends", "--precise", c, a)
	if errs := e.expect("", 0, "why-depends", a, c); !strings.Contains(errs, "does not depend on") {
		t.Errorf("why-depends without a dependency: %s", errs)
	}
}

func TestStoreDeleteGCVerify(t *testing.T) {
	e := newStoreEnv(t)
	a, b, c := addChain(t, e)
	e.ok("store", "add", "src/d")

	// a is referenced by b and c: refused, nothing deleted.
	errs := e.expect("0 store paths deleted, 0.00 MiB freed\n", 1, "store", "delete", a)
	if !strings.Contains(errs, "since it is still alive") {
		t.Errorf("delete of a referenced path: %s", errs)
	}
	e.expect(c+"\n", 0, "path-info", c)

	// A root keeps c (and so b and a) alive.
	if err := os.MkdirAll(filepath.Join(e.root, "nix/var/nix/gcroots"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c, filepath.Join(e.root, "nix/var/nix/gcroots/keep")); err != nil {
		t.Fatal(err)
	}
	e.expect(pathD+"\n", 0, "store", "gc", "--dry-run")
	out := e.ok("store", "gc")
	if !strings.HasPrefix(out, "1 store paths deleted, ") {
		t.Errorf("gc: %q", out)
	}
	e.expect("", 1, "path-info", pathD)
	e.expect("", 0, "store", "gc", "--dry-run")

	// Deleting c once it is no longer a root works; then b.
	if err := os.Remove(filepath.Join(e.root, "nix/var/nix/gcroots/keep")); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("store", "delete", c, b); !strings.HasPrefix(out, "2 store paths deleted") {
		t.Errorf("delete: %q", out)
	}
	e.expect(a+"\n", 0, "path-info", a)

	// verify: clean, then a corrupted file is found.
	e.expect("", 0, "store", "verify", "--check-contents")
	e.expect("", 0, "store", "verify", "--all")
	real := filepath.Join(e.root, a)
	if err := os.Chmod(real, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("hello A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if errs := e.expect("", 1, "store", "verify", "--check-contents"); !strings.Contains(errs, "was modified!") {
		t.Errorf("verify --check-contents: %s", errs)
	}
	if errs := e.expect("", 1, "store", "verify", a); !strings.Contains(errs, "was modified!") {
		t.Errorf("verify PATH: %s", errs)
	}
	e.expect("", 0, "store", "verify", "--no-contents", a)

	// optimise links two identical files.
	e.write("x1", "same contents\n", 0o644)
	e.write("x2", "same contents\n", 0o644)
	e.ok("store", "add", "--name", "one", "x1")
	e.ok("store", "add", "--name", "two", "x2")
	if _, errs, code := e.run("", "store", "optimise"); code != 0 || !strings.Contains(errs, "freed by hard-linking 1 files") {
		t.Errorf("optimise: exit %d, %s", code, errs)
	}
}

// TestDerivationShowCmd registers a .drv that Nix 2.8 instantiated
// (compat/derivation's fixtures) and compares with its show-derivation
// output, also recorded from Nix 2.8.
func TestDerivationShowCmd(t *testing.T) {
	const fixtures = "../compat/derivation/testdata/store-nix-store/"
	const base = "6n1nxr2pnbalfx90m7wsxyh2pm0l0cs1-simple.drv"
	drv, err := os.ReadFile(fixtures + base)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fixtures + base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	e := newStoreEnv(t)
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{Root: e.root})
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.AddText(ctx, "simple.drv", drv, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := "/nix/store/" + base
	if got := st.Dir().Print(info.Path); got != p {
		t.Fatalf("registered %s, want %s", got, p)
	}
	e.expect(string(want), 0, "derivation", "show", p)
	e.expect(string(want), 0, "show-derivation", "-r", p)
	e.expect("", 1, "derivation", "show", "/nix/store/s50wzinhlnrxqiijsfnbmdn34cw3whr4-simple")
}

// TestStoreSelection runs through Main (no --store flag) with the store
// chosen by NIX_REMOTE, by --option store and by a relative --store.
func TestStoreSelection(t *testing.T) {
	e := newStoreEnv(t)
	src := filepath.Join(e.work, "src/d")
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"NIX_REMOTE=local?root=" + e.root}, []string{"store", "add", src}},
		{[]string{"NIX_REMOTE=" + e.root}, []string{"path-info", pathD}},
		{nil, []string{"store", "ls", "--option", "store", e.root, pathD + "/a"}},
		{[]string{"NIX_CONFIG=store = " + e.root}, []string{"path-info", pathD}},
	} {
		var out, errb bytes.Buffer
		code := Main(t.Context(), append([]string{"cairn"}, c.args...), strings.NewReader(""), &out, &errb, append([]string{"HOME=" + e.work}, c.env...))
		if code != 0 || out.Len() == 0 {
			t.Errorf("%v %v: exit %d, %q, %s", c.env, c.args, code, out.String(), errb.String())
		}
	}
	// Relative to the working directory, not the process's.
	var out, errb bytes.Buffer
	if code := mainIn(t.Context(), e.work, []string{"cairn", "path-info", "--store", "./root", pathD}, strings.NewReader(""), &out, &errb, nil); code != 0 || out.String() != pathD+"\n" {
		t.Errorf("--store ./root: exit %d, %q, %s", code, out.String(), errb.String())
	}
	// dummy:// holds nothing.
	errb.Reset()
	if code := mainIn(t.Context(), e.work, []string{"cairn", "path-info", "--store", "dummy://", pathD}, strings.NewReader(""), &out, &errb, nil); code != 1 || !strings.Contains(errb.String(), "holds no paths") {
		t.Errorf("dummy store: exit %d, %s", code, errb.String())
	}
}
