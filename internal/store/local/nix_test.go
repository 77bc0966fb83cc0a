package local

// Differential tests against Nix 2.8 (Debian's nix-bin) on chroot stores
// (NIX_REMOTE=local?root=...): each side reads what the other wrote.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

func needNix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix-store"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-store not found (CI=true): install nix-bin (Nix 2.8)")
		}
		t.Skip("SKIPPING differential test: nix-store (Nix 2.8, Debian nix-bin) not installed")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("differential tests need root for a Nix chroot store (CI=true)")
		}
		t.Skip("SKIPPING differential test: Nix chroot stores need root")
	}
}

// shortRoot returns a fresh directory with a short path (Nix binds a unix
// socket under it during GC, and sun_path holds 108 bytes).
func shortRoot(t *testing.T) string {
	d, err := os.MkdirTemp("/tmp", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveAllForTest(d) })
	return d
}

// RemoveAllForTest deletes a test root whose store is read-only.
func RemoveAllForTest(d string) { exec.Command("chmod", "-R", "u+w", d).Run(); os.RemoveAll(d) }

func nix(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := nixErr(root, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func nixErr(root string, args ...string) (string, error) {
	cmd := exec.Command(args[0], append([]string{"--option", "substituters", ""}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "NIX_REMOTE=local?root="+root, "NIX_CONFIG=experimental-features = nix-command")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

type nixPathInfo struct {
	Path             string   `json:"path"`
	NarHash          string   `json:"narHash"`
	NarSize          uint64   `json:"narSize"`
	References       []string `json:"references"`
	CA               string   `json:"ca"`
	Deriver          string   `json:"deriver"`
	RegistrationTime int64    `json:"registrationTime"`
	Ultimate         bool     `json:"ultimate"`
	Signatures       []string `json:"signatures"`
}

func nixPathInfos(t *testing.T, root string, paths []string) map[string]nixPathInfo {
	out := nix(t, root, append([]string{"nix", "path-info", "--json"}, paths...)...)
	var infos []nixPathInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("path-info json: %v\n%s", err, out)
	}
	m := map[string]nixPathInfo{}
	for _, i := range infos {
		sort.Strings(i.References)
		m[i.Path] = i
	}
	return m
}

// infoAsNix renders our PathInfo like nix path-info --json.
func infoAsNix(s *Store, info *store.PathInfo) nixPathInfo {
	n := nixPathInfo{
		Path: s.print(info.Path), NarHash: info.NarHash.String(), NarSize: info.NarSize,
		RegistrationTime: info.RegistrationTime.Unix(), Ultimate: info.Ultimate, Signatures: info.Signatures,
		References: []string{},
	}
	for _, r := range info.References {
		n.References = append(n.References, s.print(r))
	}
	sort.Strings(n.References)
	if info.HasCA() {
		n.CA = info.CA.String()
	}
	if !info.Deriver.IsZero() {
		n.Deriver = s.print(info.Deriver)
	}
	return n
}

func jsonEq(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func masterRows(t *testing.T, file string) []string {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := dbRows(t, db, "select type, name, tbl_name, sql from sqlite_master")
	for _, p := range []string{"page_size", "user_version", "auto_vacuum", "journal_mode", "encoding"} {
		rows = append(rows, p+"="+strings.Join(dbRows(t, db, "pragma "+p), ","))
	}
	return rows
}

// The database we create has exactly the schema Nix 2.8 creates.
func TestSchemaMatchesNix(t *testing.T) {
	needNix(t)
	nixRoot, ourRoot := shortRoot(t), shortRoot(t)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0o644)
	nix(t, nixRoot, "nix-store", "--add", src)
	s, err := Open(context.Background(), Options{Root: ourRoot})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPath(context.Background(), src, AddOptions{Name: "hello.txt", Method: storepath.Recursive}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := masterRows(t, filepath.Join(nixRoot, "nix/var/nix/db/db.sqlite"))
	got := masterRows(t, filepath.Join(ourRoot, "nix/var/nix/db/db.sqlite"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("schema differs\nours:\n%s\nnix:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range []string{"schema"} {
		a, _ := os.ReadFile(filepath.Join(nixRoot, "nix/var/nix/db", f))
		b, _ := os.ReadFile(filepath.Join(ourRoot, "nix/var/nix/db", f))
		if !bytes.Equal(a, b) {
			t.Errorf("db/%s: ours %q, nix %q", f, b, a)
		}
	}
	// Identical rows apart from the registration time.
	rows := func(root string) []string {
		db, _ := sql.Open("sqlite", "file:"+filepath.Join(root, "nix/var/nix/db/db.sqlite")+"?mode=ro")
		defer db.Close()
		return dbRows(t, db, "select id, path, hash, deriver, narSize, ultimate, sigs, ca from ValidPaths")
	}
	if a, b := rows(nixRoot), rows(ourRoot); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("rows differ\nours: %v\nnix:  %v", b, a)
	}
}

// With ca-derivations, the extra tables match Nix 2.8's too.
func TestCASchemaMatchesNix(t *testing.T) {
	needNix(t)
	nixRoot, ourRoot := shortRoot(t), shortRoot(t)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0o644)
	nix(t, nixRoot, "nix-store", "--extra-experimental-features", "ca-derivations", "--add", src)
	s, err := Open(context.Background(), Options{Root: ourRoot, CADerivations: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPath(context.Background(), src, AddOptions{Name: "hello.txt", Method: storepath.Recursive}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := masterRows(t, filepath.Join(nixRoot, "nix/var/nix/db/db.sqlite"))
	got := masterRows(t, filepath.Join(ourRoot, "nix/var/nix/db/db.sqlite"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("schema differs\nours:\n%s\nnix:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a, _ := os.ReadFile(filepath.Join(nixRoot, "nix/var/nix/db/ca-schema"))
	b, _ := os.ReadFile(filepath.Join(ourRoot, "nix/var/nix/db/ca-schema"))
	if string(a) != string(b) || len(a) == 0 {
		t.Errorf("ca-schema: ours %q, nix %q", b, a)
	}
	// Nix still opens it with the feature on.
	nix(t, ourRoot, "nix-store", "--extra-experimental-features", "ca-derivations", "--verify")
}

// Paths cairn registers are valid and identical for Nix.
func TestNixReadsCairnStore(t *testing.T) {
	needNix(t)
	root := shortRoot(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.AddText(ctx, "a", []byte("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddText(ctx, "b", []byte("b refers to "+s.print(a.Path)), []storepath.Path{a.Path})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tree")
	writeTree(t, dir, map[string]string{"bin/run.sh": "#!/bin/sh\nexec " + s.print(b.Path) + "\n", "share/doc": "doc", "link": "->share/doc", "empty": ""})
	tree, err := s.AddPath(ctx, dir, AddOptions{Name: "tree", Method: storepath.Recursive, ScanReferences: []storepath.Path{a.Path, b.Path}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(file, []byte("hello\n"), 0o644)
	flat, err := s.AddPath(ctx, file, AddOptions{Name: "hello.txt", Method: storepath.Flat})
	if err != nil {
		t.Fatal(err)
	}
	sha1, err := s.AddPath(ctx, file, AddOptions{Name: "hello.txt", Method: storepath.Recursive, Algo: nixhash.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	// A path imported from a NAR with a deriver and signatures.
	var narBuf bytes.Buffer
	s.NarFromPath(ctx, flat.Path, &narBuf)
	drvPath, _ := storepath.DefaultDir.ComputeTextPath("imp.drv", nil, nil)
	impPath, _ := storepath.DefaultDir.MakeOutputPath("out", nixhash.Sum(nixhash.SHA256, []byte("imp")), "imp")
	imp := &store.PathInfo{Path: impPath, NarHash: flat.NarHash, NarSize: flat.NarSize, Deriver: drvPath,
		References: []storepath.Path{b.Path}, Signatures: []string{"k-1:c2ln", "k-2:c2lnMg=="}}
	if err := s.AddNar(ctx, imp, &narBuf); err != nil {
		t.Fatal(err)
	}
	all := []*store.PathInfo{a, b, tree, flat, sha1}
	all = append(all, must(s.QueryPathInfo(ctx, impPath)))
	if len(tree.References) != 1 || tree.References[0] != b.Path {
		t.Errorf("tree refs %v", tree.References)
	}
	// Nix runs while we still hold the store open.
	out, err := nixErr(root, "nix-store", "--verify", "--check-contents")
	if err != nil || strings.Contains(out, "modified") {
		t.Errorf("nix-store --verify --check-contents: %v\n%s", err, out)
	}
	var printed []string
	for _, i := range all {
		printed = append(printed, s.print(i.Path))
	}
	nixInfos := nixPathInfos(t, root, printed)
	for _, i := range all {
		got := infoAsNix(s, i)
		if want := nixInfos[got.Path]; !jsonEq(got, want) {
			t.Errorf("path info differs\nours: %+v\nnix:  %+v", got, want)
		}
		refs := strings.Fields(nix(t, root, "nix-store", "-q", "--references", got.Path))
		sort.Strings(refs)
		if strings.Join(refs, " ") != strings.Join(got.References, " ") {
			t.Errorf("%s: nix-store -q --references %v, ours %v", got.Path, refs, got.References)
		}
		// Nix 2.8's --dump takes a file system path, so give it the real one.
		dump := nix(t, root, "nix-store", "--dump", s.RealPath(i.Path))
		var ours bytes.Buffer
		s.NarFromPath(ctx, i.Path, &ours)
		if dump != ours.String() {
			t.Errorf("%s: nix-store --dump differs", got.Path)
		}
	}
	// Both collectors agree on what is dead.
	os.Symlink(s.print(b.Path), filepath.Join(s.StateDir(), "gcroots", "b"))
	s.Close()
	s, err = Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Leftovers: a stale lock of a live path, a half-written path and
	// a name that is no store path at all.
	os.WriteFile(s.RealPath(b.Path)+".lock", nil, 0o600)
	os.Mkdir(filepath.Join(s.RealStoreDir(), "0000000000000000000000000000000z-half"), 0o755)
	os.WriteFile(filepath.Join(s.RealStoreDir(), "junk"), nil, 0o644)
	ours, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead})
	if err != nil {
		t.Fatal(err)
	}
	nixDead := strings.Fields(nix(t, root, "nix-store", "--gc", "--print-dead"))
	sort.Strings(nixDead)
	if strings.Join(ours.Paths, " ") != strings.Join(nixDead, " ") {
		t.Errorf("dead paths differ\nours: %v\nnix:  %v", ours.Paths, nixDead)
	}
	// Nix deletes what we wrote; we then still verify.
	nix(t, root, "nix-store", "--gc")
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify after nix gc: %+v %v", v, err)
	}
	if ok, _ := s.IsValid(ctx, a.Path); !ok {
		t.Error("nix collected a live path")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Paths Nix registers are valid for cairn, with equal PathInfo.
func TestCairnReadsNixStore(t *testing.T) {
	needNix(t)
	root := shortRoot(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tree")
	writeTree(t, dir, map[string]string{"bin/x.sh": "#!/bin/sh\n", "lib/l": "l", "s": "->lib/l"})
	file := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(file, []byte("hello\n"), 0o644)
	var printed []string
	printed = append(printed, strings.TrimSpace(nix(t, root, "nix-store", "--add", dir)))
	printed = append(printed, strings.TrimSpace(nix(t, root, "nix-store", "--add-fixed", "sha256", file)))
	printed = append(printed, strings.TrimSpace(nix(t, root, "nix-store", "--add-fixed", "--recursive", "sha1", file)))
	toFile := strings.Trim(strings.TrimSpace(nix(t, root, "nix-instantiate", "--read-write-mode", "--eval", "-E",
		`builtins.toFile "x" "hi ${builtins.toFile "y" "yy"}"`)), `"`)
	printed = append(printed, toFile)
	nixInfos := nixPathInfos(t, root, printed)
	for p := range nixInfos {
		found := false
		for _, q := range printed {
			found = found || p == q
		}
		if !found {
			printed = append(printed, p)
		}
	}
	s, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, _ := s.QueryValidPaths(ctx)
	if len(all) != 5 { // the four above and toFile's "y"
		t.Errorf("valid paths: %v", all)
	}
	for _, p := range all {
		info, err := s.QueryPathInfo(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := nixPathInfos(t, root, []string{s.print(p)})[s.print(p)]
		if got := infoAsNix(s, info); !jsonEq(got, want) {
			t.Errorf("path info differs\nours: %+v\nnix:  %+v", got, want)
		}
		if err := info.CheckCA(s.Dir()); err != nil {
			t.Error(err)
		}
	}
	if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
		t.Errorf("verify nix-made store: %+v %v", v, err)
	}
	// Adding the same content gives the same paths (no-ops).
	info, err := s.AddPath(ctx, dir, AddOptions{Name: "tree", Method: storepath.Recursive})
	if err != nil || s.print(info.Path) != printed[0] {
		t.Errorf("re-add tree: %v %v (nix: %s)", info, err, printed[0])
	}
	// Our collector agrees with Nix's, and deleting leaves Nix happy.
	// (A fresh Store: the re-add above holds a temporary root on tree.)
	s.Close()
	if s, err = Open(ctx, Options{Root: root}); err != nil {
		t.Fatal(err)
	}
	ours, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	nixDead := strings.Fields(nix(t, root, "nix-store", "--gc", "--print-dead"))
	sort.Strings(nixDead)
	if strings.Join(ours.Paths, " ") != strings.Join(nixDead, " ") {
		t.Errorf("dead paths differ\nours: %v\nnix:  %v", ours.Paths, nixDead)
	}
	s, err = Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CollectGarbage(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.QueryValidPaths(ctx); len(left) != 0 {
		t.Errorf("left after gc: %v", left)
	}
	out, err := nixErr(root, "nix-store", "--verify", "--check-contents")
	if err != nil {
		t.Errorf("nix verify after our gc: %v\n%s", err, out)
	}
}

// Derivations: Nix's .drv files registered by cairn get the same paths
// and DerivationOutputs rows as in Nix's own database, and a tampered
// output path is refused.
func TestDerivationsLikeNix(t *testing.T) {
	needNix(t)
	nixRoot, ourRoot := shortRoot(t), shortRoot(t)
	ctx := context.Background()
	expr := `let
	  a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo a > $out"]; outputs = ["out" "dev"]; };
	  f = derivation { name = "f"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; };
	in derivation { name = "c"; system = "x86_64-linux"; builder = "/bin/sh"; src = builtins.toFile "s" "s"; deps = [ a.dev f ]; }`
	top := strings.TrimSpace(nix(t, nixRoot, "nix-instantiate", "-E", expr))
	nixStore, err := Open(ctx, Options{Root: nixRoot})
	if err != nil {
		t.Fatal(err)
	}
	defer nixStore.Close()
	all, _ := nixStore.QueryValidPaths(ctx)
	ours, err := Open(ctx, Options{Root: ourRoot})
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	// Copy bottom-up: text paths, each with its references.
	infos := map[storepath.Path]*store.PathInfo{}
	for _, p := range all {
		infos[p] = must(nixStore.QueryPathInfo(ctx, p))
	}
	order, err := store.TopoSort(all, func(p storepath.Path) []storepath.Path { return infos[p].References })
	if err != nil {
		t.Fatal(err)
	}
	for i := len(order) - 1; i >= 0; i-- {
		p := order[i]
		data, err := os.ReadFile(nixStore.RealPath(p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.AddText(ctx, p.Name(), data, infos[p].References)
		if err != nil {
			t.Fatalf("add %s: %v", p, err)
		}
		if got.Path != p {
			t.Errorf("added %s as %s", p, got.Path)
		}
	}
	for _, p := range all {
		if !p.IsDerivation() {
			continue
		}
		want, err := nixStore.QueryDerivationOutputs(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ours.QueryDerivationOutputs(ctx, p)
		if err != nil || !jsonEq(got, want) || len(got) == 0 {
			t.Errorf("%s outputs: ours %v (%v), nix %v", p, got, err, want)
		}
		for _, o := range got {
			d1, _ := ours.QueryValidDerivers(ctx, o)
			d2, _ := nixStore.QueryValidDerivers(ctx, o)
			if !jsonEq(d1, d2) {
				t.Errorf("derivers of %s: ours %v, nix %v", o, d1, d2)
			}
		}
	}
	if !strings.HasSuffix(top, "-c.drv") {
		t.Errorf("nix-instantiate printed %q", top)
	}
	// A derivation whose output path does not follow from it is refused.
	topPath := must(nixStore.ParsePath(top))
	data, _ := os.ReadFile(nixStore.RealPath(topPath))
	outs := must(nixStore.QueryDerivationOutputs(ctx, topPath))
	wrong := must(storepath.DefaultDir.MakeOutputPath("out", nixhash.Sum(nixhash.SHA256, []byte("x")), "c"))
	tampered := bytes.ReplaceAll(data, []byte(outs["out"].HashPart()), []byte(wrong.HashPart()))
	third, err := Open(ctx, Options{Root: shortRoot(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	for i := len(order) - 1; i >= 0; i-- {
		p := order[i]
		if p == topPath {
			continue
		}
		d, _ := os.ReadFile(nixStore.RealPath(p))
		if _, err := third.AddText(ctx, p.Name(), d, infos[p].References); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := third.AddText(ctx, topPath.Name(), tampered, infos[topPath].References); err == nil {
		t.Error("derivation with a wrong output path registered")
	}
}

// Optimising is compatible both ways: Nix verifies a store we optimised,
// and we verify one Nix optimised.
func TestOptimiseWithNix(t *testing.T) {
	needNix(t)
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, filepath.Join(src, "one"), map[string]string{"same": "shared", "l": "->same"})
	writeTree(t, filepath.Join(src, "two"), map[string]string{"d/same": "shared", "l": "->same"})
	for _, who := range []string{"cairn", "nix"} {
		root := shortRoot(t)
		s, err := Open(ctx, Options{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"one", "two"} {
			if _, err := s.AddPath(ctx, filepath.Join(src, n), AddOptions{Name: n, Method: storepath.Recursive}); err != nil {
				t.Fatal(err)
			}
		}
		if who == "cairn" {
			if _, err := s.Optimise(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			nix(t, root, "nix-store", "--optimise")
		}
		links, _ := os.ReadDir(filepath.Join(root, "nix/store/.links"))
		if len(links) != 2 {
			t.Errorf("%s: %d links, want 2", who, len(links))
		}
		if out, err := nixErr(root, "nix-store", "--verify", "--check-contents"); err != nil || strings.Contains(out, "modified") {
			t.Errorf("%s optimised: nix verify: %v\n%s", who, err, out)
		}
		if v, err := s.Verify(ctx, VerifyOptions{CheckContents: true}); err != nil || !v.OK() {
			t.Errorf("%s optimised: our verify: %+v %v", who, v, err)
		}
		// A second pass by the other side finds nothing to do.
		if who == "nix" {
			if st, err := s.Optimise(ctx); err != nil || st.FilesLinked != 0 {
				t.Errorf("our pass after nix: %+v %v", st, err)
			}
		}
		s.Close()
	}
}

// Nix 2.8's collector, run in a loop, never deletes what a live cairn
// writer added: our temporary roots reach it through the roots file and
// the gc socket.
func TestNixGCConcurrentWithWriter(t *testing.T) {
	needNix(t)
	root := shortRoot(t)
	ctx := context.Background()
	w, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan struct{})
	var added []storepath.Path
	var werr error
	go func() {
		defer close(done)
		var prev []storepath.Path
		for i := 0; i < 200; i++ {
			dir := filepath.Join(t.TempDir(), "src")
			contents := strings.Repeat("y", i)
			for _, p := range prev {
				contents += " " + w.print(p)
			}
			writeTree(t, dir, map[string]string{"f": contents, "g/h": "h"})
			info, err := w.AddPath(ctx, dir, AddOptions{Name: "n", Method: storepath.Recursive, References: prev})
			if err != nil {
				werr = err
				return
			}
			added = append(added, info.Path)
			prev = []storepath.Path{info.Path}
		}
	}()
	rounds := 0
loop:
	for {
		select {
		case <-done:
			break loop
		default:
		}
		if out, err := nixErr(root, "nix-store", "--gc"); err != nil {
			t.Fatalf("nix-store --gc: %v\n%s", err, out)
		}
		rounds++
	}
	if werr != nil {
		t.Fatal(werr)
	}
	for _, p := range added {
		if ok, _ := w.IsValid(ctx, p); !ok {
			t.Errorf("nix deleted %s while its writer lived", p)
		}
	}
	if out, err := nixErr(root, "nix-store", "--verify", "--check-contents"); err != nil || strings.Contains(out, "modified") {
		t.Errorf("nix verify: %v\n%s", err, out)
	}
	t.Logf("%d nix collections ran during %d adds", rounds, len(added))
}

// The keep-derivations / keep-outputs edges match Nix 2.8: outputs we
// register for a Nix-instantiated derivation, rooted in different ways,
// leave the same dead sets under each setting.
func TestGCKeepEdgesLikeNix(t *testing.T) {
	needNix(t)
	root := shortRoot(t)
	ctx := context.Background()
	drvs := strings.Fields(nix(t, root, "nix-instantiate", "-E", `let
	  a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; src = builtins.toFile "s" "s"; outputs = ["out" "dev"]; };
	in [ a (derivation { name = "b"; system = "x86_64-linux"; builder = "/bin/sh"; dep = a; }) ]`))
	s, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	// "Build" the outputs: write them and register them as a builder would.
	var built []storepath.Path
	for _, d := range drvs {
		drvPath := must(s.ParsePath(d))
		outs := must(s.QueryDerivationOutputs(ctx, drvPath))
		var infos []*store.PathInfo
		for _, name := range []string{"dev", "out"} {
			o, ok := outs[name]
			if !ok {
				continue
			}
			os.WriteFile(s.RealPath(o), []byte(name+" of "+d), 0o444)
			h, size, _, err := HashPath(s.RealPath(o), nil)
			if err != nil {
				t.Fatal(err)
			}
			infos = append(infos, &store.PathInfo{Path: o, NarHash: h, NarSize: size, Deriver: drvPath, Ultimate: true})
			built = append(built, o)
		}
		if err := s.RegisterValidPaths(ctx, infos); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rootLink := filepath.Join(root, "nix/var/nix/gcroots/r")
	for _, target := range []string{drvs[1], storepath.DefaultDir.Print(built[len(built)-1]), storepath.DefaultDir.Print(built[0])} {
		os.Remove(rootLink)
		os.Symlink(target, rootLink)
		for _, kd := range []bool{true, false} {
			for _, ko := range []bool{true, false} {
				s, err := Open(ctx, Options{Root: root})
				if err != nil {
					t.Fatal(err)
				}
				ours, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead, KeepOutputs: ko, NoKeepDerivations: !kd})
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				nixDead := strings.Fields(nix(t, root, "nix-store", "--option", "keep-derivations", fmt.Sprint(kd),
					"--option", "keep-outputs", fmt.Sprint(ko), "--gc", "--print-dead"))
				sort.Strings(nixDead)
				if strings.Join(ours.Paths, " ") != strings.Join(nixDead, " ") {
					t.Errorf("root %s, keep-derivations %v, keep-outputs %v:\nours %v\nnix  %v", filepath.Base(target), kd, ko, ours.Paths, nixDead)
				}
			}
		}
	}
}
