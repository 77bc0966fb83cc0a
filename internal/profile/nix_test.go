package profile

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/internal/compat/storepath"
	"cairn/internal/store/local"
)

// needNix skips (or, with CI=true, fails) when Nix 2.8 is not installed.
func needNix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix-env"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nix-env not found: install Nix 2.8 (apt-get install nix-bin)")
		}
		t.Skip("SKIPPING: reference Nix 2.8 (nix-env, nix) not installed; apt-get install nix-bin to run the comparison with Nix")
	}
}

// nixCmd runs Nix in the scratch store under base (NIX_STORE_DIR and
// NIX_STATE_DIR point into it, the same directories testStore opens,
// so both see the same store and database).
func nixCmd(t *testing.T, base string, args ...string) (string, error) {
	t.Helper()
	conf := filepath.Join(base, "etc")
	os.MkdirAll(conf, 0o755)
	os.WriteFile(filepath.Join(conf, "nix.conf"), []byte("substituters =\nexperimental-features = nix-command\n"), 0o644)
	os.MkdirAll(filepath.Join(base, "home"), 0o755)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(),
		"NIX_STORE_DIR="+filepath.Join(base, "store"), "NIX_STATE_DIR="+filepath.Join(base, "var"),
		"NIX_LOG_DIR="+filepath.Join(base, "log"), "NIX_CONF_DIR="+conf, "NIX_REMOTE=local",
		"HOME="+filepath.Join(base, "home"), "XDG_CACHE_HOME="+filepath.Join(base, "cache"), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustNix(t *testing.T, base string, args ...string) string {
	t.Helper()
	out, err := nixCmd(t, base, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The environment cairn builds for a manifest is the store path (and
// NAR) Nix 2.8's `nix profile install` builds for the same store paths.
func TestNixProfileEnvSamePath(t *testing.T) {
	needNix(t)
	ctx := context.Background()
	st, base := testStore(t)
	hello := addPkg(t, st, "hello-1.0", map[string]string{"bin/hello": "hi", "share/man/man1/hello.1": "m"})
	world := addPkg(t, st, "world-2.0", map[string]string{"bin/world": "w", "share/doc/world": "d"})
	nixProfile := filepath.Join(base, "nixprof")
	mustNix(t, base, "nix", "profile", "install", "--profile", nixProfile, st.Dir().Print(hello))
	mustNix(t, base, "nix", "profile", "install", "--profile", nixProfile, st.Dir().Print(world))

	m := &Manifest{Elements: []Element{{StorePaths: []storepath.Path{hello}, Active: true}, {StorePaths: []storepath.Path{world}, Active: true}}}
	ours, _, err := NewProfileEnv(ctx, st, m)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := FollowToStore(st.Dir(), nixProfile)
	if err != nil {
		t.Fatal(err)
	}
	if ours != theirs {
		t.Fatalf("cairn env %s, Nix env %s", ours, theirs)
	}
	nixJSON, _ := os.ReadFile(filepath.Join(st.Dir().Print(theirs), "manifest.json"))
	if string(nixJSON) != string(m.JSON(st.Dir())) {
		t.Errorf("manifest.json:\nnix:   %s\ncairn: %s", nixJSON, m.JSON(st.Dir()))
	}
	// cairn reads Nix's profile: generations and manifests.
	gens, cur, err := Generations(nixProfile)
	if err != nil || len(gens) != 2 || cur != 2 {
		t.Fatalf("Nix's generations: %v %d %v", gens, cur, err)
	}
	m1, err := ReadManifest(st, gens[0].Link)
	if err != nil || len(m1.Elements) != 1 || m1.Elements[0].StorePaths[0] != hello {
		t.Errorf("Nix's generation 1 manifest: %+v %v", m1, err)
	}
}

// Nix 2.8 reads the generations of a profile cairn made, and cairn reads
// one made by nix-env (manifest.nix).
func TestNixReadsCairnProfile(t *testing.T) {
	needNix(t)
	ctx := context.Background()
	st, base := testStore(t)
	profile := filepath.Join(base, "profiles", "p")
	h1 := addPkg(t, st, "hello-1.0", map[string]string{"bin/hello": "1"})
	h2 := addPkg(t, st, "hello-1.1", map[string]string{"bin/hello": "2"})
	other := addPkg(t, st, "other-3", map[string]string{"bin/other": "o"})
	steps := []func(m *Manifest) error{
		func(m *Manifest) error {
			m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{h1}, Active: true})
			return nil
		},
		func(m *Manifest) error {
			m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{other}, Active: true})
			return nil
		},
		func(m *Manifest) error { m.Elements[0].StorePaths = []storepath.Path{h2}; return nil },
	}
	for _, s := range steps {
		if _, _, _, err := Update(ctx, st, profile, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Switch(profile, 2, false); err != nil {
		t.Fatal(err)
	}
	gens, _, _ := Generations(profile)
	var want strings.Builder
	for _, g := range gens {
		cur := ""
		if g.Number == 2 {
			cur = "(current)"
		}
		fmt.Fprintf(&want, "%4d   %s   %s\n", g.Number, g.Created.UTC().Format("2006-01-02 15:04:05"), cur)
	}
	if got := mustNix(t, base, "nix-env", "-p", profile, "--list-generations"); got != want.String() {
		t.Errorf("nix-env --list-generations:\n%s\nwant:\n%s", got, want.String())
	}
	got := mustNix(t, base, "nix", "profile", "history", "--profile", profile)
	for _, line := range []string{"Version \x1b[32;1m2\x1b[0m", "hello: ∅ -> 1.0", "other: ∅ -> 3", "hello: 1.0 -> 1.1"} {
		if !strings.Contains(got, line) {
			t.Errorf("nix profile history lacks %q:\n%s", line, got)
		}
	}
	var ours strings.Builder
	if err := WriteHistory(&ours, st, profile); err != nil || ours.String() != got {
		t.Errorf("history: %v\ncairn:\n%q\nnix:\n%q", err, ours.String(), got)
	}
	got = mustNix(t, base, "nix", "profile", "diff-closures", "--profile", profile)
	ours.Reset()
	if err := WriteProfileClosureDiffs(ctx, &ours, st, profile); err != nil || ours.String() != got {
		t.Errorf("profile diff-closures: %v\ncairn:\n%q\nnix:\n%q", err, ours.String(), got)
	}
	big := addPkg(t, st, "hello-2.0", map[string]string{"bin/hello": strings.Repeat("x", 30000)})
	for _, pair := range [][2]storepath.Path{{h1, h2}, {h2, big}, {big, h1}, {h1, h1}} {
		got = mustNix(t, base, "nix", "store", "diff-closures", st.Dir().Print(pair[0]), st.Dir().Print(pair[1]))
		changes, err := DiffClosures(ctx, st, pair[0], pair[1])
		ours.Reset()
		WriteClosureDiff(&ours, changes, "")
		if err != nil || ours.String() != got {
			t.Errorf("store diff-closures %s %s: %v\ncairn: %q\nnix:   %q", pair[0], pair[1], err, ours.String(), got)
		}
	}
	if got := mustNix(t, base, "nix", "profile", "list", "--profile", profile); !strings.Contains(got, st.Dir().Print(other)) {
		t.Errorf("nix profile list:\n%s", got)
	}
	// Nix's collector sees every generation as a root.
	roots := mustNix(t, base, "nix-store", "--gc", "--print-roots")
	for _, g := range gens {
		env, _ := os.Readlink(g.Link)
		if !strings.Contains(roots, g.Link+" -> "+env+"\n") {
			t.Errorf("nix-store --gc --print-roots lacks %s:\n%s", g.Link, roots)
		}
	}
	// nix-env refuses profiles with manifest.json, as it does for
	// profiles of `nix profile`.
	if out, err := nixCmd(t, base, "nix-env", "-p", profile, "-i", st.Dir().Print(h2)); err == nil || !strings.Contains(out, "is incompatible with 'nix-env'") {
		t.Errorf("nix-env -i on a cairn profile: %v\n%s", err, out)
	}
	// Nix continues cairn's numbering.
	mustNix(t, base, "nix", "profile", "remove", "--profile", profile, "0")
	if gens, cur, _ := Generations(profile); cur != 4 || len(gens) != 4 {
		t.Fatalf("after nix profile remove: current %d of %d", cur, len(gens))
	}
	// cairn reads nix-env's manifest.nix environments.
	envProfile := filepath.Join(base, "profiles", "envp")
	os.MkdirAll(filepath.Dir(envProfile), 0o755)
	mustNix(t, base, "nix-env", "-p", envProfile, "-i", st.Dir().Print(h2))
	mustNix(t, base, "nix-env", "-p", envProfile, "-i", st.Dir().Print(other))
	m, err := ReadManifest(st, envProfile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range m.Elements {
		names = append(names, e.Describe()+"-"+e.Versions())
	}
	sort.Strings(names)
	if fmt.Sprint(names) != "[hello-1.1 other-3]" {
		t.Errorf("manifest.nix elements: %v", names)
	}
	if gens, cur, _ := Generations(envProfile); cur != 2 || len(gens) != 2 {
		t.Errorf("nix-env generations: current %d of %d", cur, len(gens))
	}
}

// A collision names both files and leaves the previous generation
// current.
func TestUpdateCollisionKeepsGeneration(t *testing.T) {
	ctx := context.Background()
	st, base := testStore(t)
	profile := filepath.Join(base, "p")
	a := addPkg(t, st, "a-1", map[string]string{"bin/tool": "a"})
	b := addPkg(t, st, "b-1", map[string]string{"bin/tool": "b"})
	if _, _, _, err := Update(ctx, st, profile, func(m *Manifest) error {
		m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{a}, Active: true})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := Update(ctx, st, profile, func(m *Manifest) error {
		m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{b}, Active: true})
		return nil
	})
	var ce *CollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a collision", err)
	}
	for _, p := range []storepath.Path{a, b} {
		if !strings.Contains(err.Error(), st.Dir().Print(p)+"/bin/tool") {
			t.Errorf("error does not name %s/bin/tool: %v", p, err)
		}
	}
	if got := listGens(t, profile); got != "1*" {
		t.Errorf("generations after the failed install: %q", got)
	}
	if _, err := os.Lstat(profile + ".lock"); err == nil {
		t.Error("lock file left behind after a failed update")
	}
}

// The helper process of TestKillDuringUpdate: it keeps installing and
// removing packages in the profile named by the environment.
func TestMain(m *testing.M) {
	if base := os.Getenv("CAIRN_PROFILE_KILL_HELPER"); base != "" {
		os.Exit(killHelper(base))
	}
	os.Exit(m.Run())
}

func killHelper(base string) int {
	ctx := context.Background()
	st, err := local.Open(ctx, local.Options{StoreDir: storepath.Dir(filepath.Join(base, "store")), StateDir: filepath.Join(base, "var"), ReservedSize: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var pkgs []storepath.Path
	for _, s := range strings.Fields(os.Getenv("CAIRN_PROFILE_KILL_PKGS")) {
		p, err := storepath.ParseBase(s)
		if err != nil {
			return 1
		}
		pkgs = append(pkgs, p)
	}
	profile := filepath.Join(base, "profiles", "p")
	for i := 0; ; i++ {
		_, _, _, err := Update(ctx, st, profile, func(m *Manifest) error {
			if len(m.Elements) >= len(pkgs) {
				m.Elements = m.Elements[:0]
			}
			m.Elements = append(m.Elements, Element{StorePaths: []storepath.Path{pkgs[len(m.Elements)]}, Active: true})
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i%7 == 0 {
			DeleteOldGenerations(profile, false)
		}
	}
}

// SIGKILL at random points while generations are being created: the
// profile always names a complete generation whose environment is
// valid and has a readable manifest.
func TestKillDuringUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	ctx := context.Background()
	st, base := testStore(t)
	var names []string
	for i := range 4 {
		names = append(names, addPkg(t, st, fmt.Sprintf("pkg%d-1.%d", i, i), map[string]string{fmt.Sprintf("bin/p%d", i): "x", "share/common/f" + fmt.Sprint(i): "y"}).Base())
	}
	profile := filepath.Join(base, "profiles", "p")
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	seen := map[uint64]bool{}
	for round := range 25 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CAIRN_PROFILE_KILL_HELPER="+base, "CAIRN_PROFILE_KILL_PKGS="+strings.Join(names, " "))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rng.Intn(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended by itself: %v\n%s", round, err, stderr.String())
		}
		gens, cur, err := Generations(profile)
		if err != nil {
			t.Fatal(err)
		}
		if cur == 0 {
			if _, err := os.Lstat(profile); err == nil {
				t.Fatalf("round %d: profile link names no generation", round)
			}
			continue // killed before the first generation
		}
		seen[cur] = true
		found := false
		for _, g := range gens {
			found = found || g.Number == cur
		}
		if !found {
			t.Fatalf("round %d: current generation %d has no link (%v)", round, cur, gens)
		}
		env, err := FollowToStore(st.Dir(), profile)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := st.IsValid(ctx, env); err != nil || !ok {
			t.Fatalf("round %d: environment %s of generation %d is not valid", round, env, cur)
		}
		if m, err := ReadManifest(st, profile); err != nil || len(m.Elements) == 0 {
			t.Fatalf("round %d: manifest of generation %d: %v", round, cur, err)
		}
	}
	t.Logf("current generations seen after kills: %d distinct", len(seen))
	if len(seen) < 2 {
		t.Logf("only saw generations %v; the helper may be slow", seen)
	}
}

// The nix-env user environment cairn builds has the manifest, derivation
// and output paths and the NAR of the one Nix 2.8 builds, and nix-env
// reads and extends it.
func TestNixUserEnvSamePath(t *testing.T) {
	needNix(t)
	ctx := context.Background()
	st, base := testStore(t)
	hello := addPkg(t, st, "hello-1.0", map[string]string{"bin/hello": "hi", "share/man/man1/hello.1": "m"})
	other := addPkg(t, st, "other-3", map[string]string{"bin/other": "o", "share/man/man1/other.1": "m", "share/doc/o": "d"})
	h2 := addPkg(t, st, "hello-1.1", map[string]string{"bin/hello": "hi2"})
	envp := filepath.Join(base, "profiles", "envp")
	os.MkdirAll(filepath.Dir(envp), 0o755) // nix-env does not create it
	mustNix(t, base, "nix-env", "-p", envp, "-i", st.Dir().Print(hello), st.Dir().Print(other))
	nixOut, err := FollowToStore(st.Dir(), envp)
	if err != nil {
		t.Fatal(err)
	}
	nixInfo, err := st.QueryPathInfo(ctx, nixOut)
	if err != nil {
		t.Fatal(err)
	}
	manifestLink, _ := os.Readlink(filepath.Join(st.Dir().Print(nixOut), "manifest.nix"))
	// Remove Nix's environment, its manifest and derivation; cairn must
	// make them again.
	autos, _ := filepath.Glob(filepath.Join(base, "var", "gcroots", "auto", "*"))
	for _, a := range append(autos, envp, LinkName(envp, 1)) {
		os.Remove(a)
	}
	mustNix(t, base, "nix-store", "--delete", st.Dir().Print(nixOut), st.Dir().Print(nixInfo.Deriver), manifestLink)

	out, drv, _, err := NewUserEnv(ctx, st, []UserEnvElement{StorePathElement(hello), StorePathElement(other)})
	if err != nil {
		t.Fatal(err)
	}
	if out != nixOut || drv != nixInfo.Deriver {
		t.Fatalf("cairn %s (from %s), Nix %s (from %s)", out, drv, nixOut, nixInfo.Deriver)
	}
	info, err := st.QueryPathInfo(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if info.NarHash.String() != nixInfo.NarHash.String() || info.NarSize != nixInfo.NarSize || fmt.Sprint(info.References) != fmt.Sprint(nixInfo.References) {
		t.Errorf("cairn %v %d %v\nNix   %v %d %v", info.NarHash, info.NarSize, info.References, nixInfo.NarHash, nixInfo.NarSize, nixInfo.References)
	}
	if got := mustNix(t, base, "nix-store", "--verify-path", st.Dir().Print(out), st.Dir().Print(drv)); got != "" {
		t.Errorf("nix-store --verify-path: %s", got)
	}
	// nix-env reads and extends a profile cairn made.
	p2 := filepath.Join(base, "profiles", "p2")
	gen, err := CreateGeneration(ctx, st, p2, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := SwitchLink(p2, gen); err != nil {
		t.Fatal(err)
	}
	if got := mustNix(t, base, "nix-env", "-p", p2, "-q"); got != "hello-1.0\nother-3\n" {
		t.Errorf("nix-env -q: %q", got)
	}
	mustNix(t, base, "nix-env", "-p", p2, "-i", st.Dir().Print(h2))
	if got := mustNix(t, base, "nix-env", "-p", p2, "-q"); got != "hello-1.1\nother-3\n" {
		t.Errorf("nix-env -q after an upgrade: %q", got)
	}
	// The same upgrade done by cairn (new elements first, then the
	// kept ones, which nix-env re-reads with system "unknown") gives
	// Nix's path again.
	kept := StorePathElement(other)
	kept.System = "unknown"
	out2, _, _, err := NewUserEnv(ctx, st, []UserEnvElement{StorePathElement(h2), kept})
	if err != nil {
		t.Fatal(err)
	}
	if nix2, _ := FollowToStore(st.Dir(), p2); nix2 != out2 {
		m, _ := os.ReadFile(filepath.Join(st.Dir().Print(nix2), "manifest.nix"))
		t.Errorf("after the upgrade: cairn %s, Nix %s\n%s", out2, nix2, m)
	}
}

// cairn's profile lock is Nix's: nix-env waits while cairn holds it.
func TestNixWaitsForProfileLock(t *testing.T) {
	needNix(t)
	st, base := testStore(t)
	profile := filepath.Join(base, "profiles", "p")
	p := addPkg(t, st, "x-1", map[string]string{"f": "x"})
	if _, _, _, err := Update(context.Background(), st, profile, func(m *Manifest) error {
		m.Elements = []Element{{StorePaths: []storepath.Path{p}, Active: true}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lock, err := LockProfile(context.Background(), profile)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out, _ := nixCmd(t, base, "nix-env", "-p", profile, "--list-generations")
		done <- out
	}()
	select {
	case out := <-done:
		t.Fatalf("nix-env did not wait for the lock: %s", out)
	case <-time.After(500 * time.Millisecond):
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if !strings.Contains(out, "(current)") {
			t.Errorf("nix-env after the lock: %s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nix-env still waiting after the lock was released")
	}
}
