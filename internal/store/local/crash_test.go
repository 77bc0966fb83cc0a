package local

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
)

// TestMain doubles as the crash helper: with CAIRN_CRASH_ROOT set, the
// test binary adds paths to that store until it is killed.
func TestMain(m *testing.M) {
	if root := os.Getenv("CAIRN_CRASH_ROOT"); root != "" {
		crashHelper(root)
		return
	}
	os.Exit(m.Run())
}

func crashHelper(root string) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	seed, _ := strconv.ParseInt(os.Getenv("CAIRN_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	// The source trees go under the parent test's temporary directory:
	// a killed helper cannot clean up after itself.
	src, _ := os.MkdirTemp(os.Getenv("CAIRN_CRASH_SRC"), "crash-src")
	for i := 0; ; i++ {
		// A small tree, sometimes the same as an earlier one, so writers
		// also meet already valid or half-written paths.
		n := rng.Intn(20)
		dir := filepath.Join(src, strconv.Itoa(i))
		os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
		for j := 0; j < 8; j++ {
			os.WriteFile(filepath.Join(dir, "sub", strconv.Itoa(j)), make([]byte, 1000*n*j), 0o644)
		}
		if _, err := s.AddPath(ctx, dir, AddOptions{Name: "t" + strconv.Itoa(n), Method: storepath.Recursive}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if _, err := s.AddText(ctx, "x"+strconv.Itoa(n), []byte(strconv.Itoa(n)), nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.RemoveAll(dir)
	}
}

// Killing writers at random points leaves a consistent store: every
// registered path is complete and matches its hash, and the collector
// removes whatever was half-written.
func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	root := t.TempDir()
	srcDir := t.TempDir()
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 12; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "CAIRN_CRASH_ROOT="+root, "CAIRN_CRASH_SEED="+strconv.Itoa(round), "CAIRN_CRASH_SRC="+srcDir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+rng.Intn(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: helper exited on its own: %v", round, err)
		}
		s, err := Open(ctx, Options{Root: root, ReservedSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Verify(ctx, VerifyOptions{CheckContents: true})
		if err != nil || !v.OK() || len(v.Invalidated) != 0 {
			t.Fatalf("round %d: verify: %+v %v", round, v, err)
		}
		var ic string
		s.db.QueryRow("pragma integrity_check").Scan(&ic)
		if ic != "ok" {
			t.Fatalf("round %d: integrity_check: %s", round, ic)
		}
		s.Close()
	}
	s, err := Open(ctx, Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	valid, _ := s.QueryValidPaths(ctx)
	if len(valid) == 0 {
		t.Fatal("no path was ever completed; the test proves nothing")
	}
	res, err := s.CollectGarbage(ctx, GCOptions{Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(s.RealStoreDir())
	for _, e := range ents {
		if e.Name() != ".links" {
			t.Errorf("left after gc: %s", e.Name())
		}
	}
	t.Logf("%d valid paths survived 12 kills; gc removed %d entries", len(valid), len(res.Paths))
}

// Leftovers of a crashed writer (scratch entry, invalid contents at the
// final name, a stale lock file) do not stop the next writer.
func TestAddOverLeftovers(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	writeTree(t, dir, map[string]string{"f": "good"})
	want, err := storepath.DefaultDir.MakeFixedOutputPath("leftover", storepath.Recursive, must(HashPathOnly(dir)), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	final := s.RealPath(want)
	os.MkdirAll(filepath.Join(final, "junk"), 0o555)
	os.WriteFile(final+".lock", []byte("d"), 0o600)
	scratch := filepath.Join(s.RealStoreDir(), "0000000000000000000000000000000a-cairn-tmp")
	os.Mkdir(scratch, 0o755)
	info, err := s.AddPath(ctx, dir, AddOptions{Name: "leftover", Method: storepath.Recursive})
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != want {
		t.Fatalf("path %s, want %s", info.Path, want)
	}
	if b, err := os.ReadFile(filepath.Join(final, "f")); err != nil || string(b) != "good" {
		t.Errorf("contents %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(final, "junk")); err == nil {
		t.Error("stale contents kept")
	}
	s2 := reopen(t, s, filepath.Dir(filepath.Dir(s.RealStoreDir())))
	res, err := s2.CollectGarbage(ctx, GCOptions{Action: GCReturnDead, Roots: noProc})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range res.Paths {
		found = found || filepath.Base(p) == filepath.Base(scratch)
	}
	if !found {
		t.Errorf("scratch entry not collectable: %v", res.Paths)
	}
}

// HashPathOnly is the recursive sha256 content hash of a tree.
func HashPathOnly(dir string) (h nixhash.Hash, err error) {
	nh, _, _, err := HashPath(dir, nil)
	return nh, err
}
