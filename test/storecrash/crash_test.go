// Package storecrash kills cairn processes that add paths to a store and
// collect its garbage at random points, and checks after every kill that
// the store is consistent for both cairn and Nix 2.8.
//
// Each iteration starts an adder (`cairn store add` of many trees, one
// process) and a collector (`cairn store gc`) on the same chroot store,
// SIGKILLs each after its own random delay, then requires that
//   - `cairn store verify --check-contents` and Nix 2.8's
//     `nix-store --verify --check-contents` find nothing wrong (nothing
//     modified, nothing disappeared, no error), and
//   - every valid path's contents hash to the NAR hash and size in the
//     database (no valid path is partial) and no partial path is valid.
//
// The processes are this test binary re-executed as the cairn command
// (TestMain), so no separate build is needed.
//
// CAIRN_CRASH_ITERS sets the number of iterations (default 200; 20 with
// -short). Nix 2.8 (nix-bin) and root are needed for the chroot store;
// without them the test skips loudly, and fails when CI=true.
package storecrash

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/internal/cli"
	"cairn/internal/compat/nar"
	"cairn/internal/compat/nixhash"
	"cairn/internal/store/local"
)

// TestMain runs the cairn command line instead of the tests when the
// parent test set CAIRN_STORECRASH_CLI.
func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_STORECRASH_CLI") == "1" {
		args := append([]string{"cairn"}, os.Args[1:]...)
		os.Exit(cli.Main(context.Background(), args, os.Stdin, os.Stdout, os.Stderr, os.Environ()))
	}
	os.Exit(m.Run())
}

func needNix(t *testing.T) {
	t.Helper()
	fail := t.Skip
	if os.Getenv("CI") == "true" {
		fail = t.Fatal
	}
	if _, err := exec.LookPath("nix-store"); err != nil {
		fail("SKIPPING crash test: nix-store (Nix 2.8, Debian nix-bin) not installed; install nix-bin")
	}
	if os.Geteuid() != 0 {
		fail("SKIPPING crash test: Nix chroot stores need root")
	}
}

// cairnCmd is this test binary acting as `cairn args...`.
func cairnCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CAIRN_STORECRASH_CLI=1", "NIX_REMOTE=")
	return cmd
}

// makeTrees writes n source trees under dir: a directory of files of up
// to 512 KiB (so that kills land in the middle of copying), a plain
// file, an executable and a symlink, with contents that repeat every 40
// trees so that adds also meet valid and half-written paths.
func makeTrees(t *testing.T, dir string, n int) []string {
	var paths []string
	for i := 0; i < n; i++ {
		k := i % 40
		rng := rand.New(rand.NewSource(int64(k)))
		p := filepath.Join(dir, fmt.Sprintf("t%03d", i))
		switch k % 4 {
		case 0:
			if err := os.WriteFile(p, fmt.Appendf(nil, "file %d\n", k), 0o644); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := os.WriteFile(p, fmt.Appendf(nil, "#!/bin/sh\necho %d\n", k), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			for j := 0; j < 1+rng.Intn(12); j++ {
				sub := filepath.Join(p, "sub", strconv.Itoa(j%3))
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, rng.Intn(512<<10))
				rng.Read(b)
				if err := os.WriteFile(filepath.Join(sub, "f"+strconv.Itoa(j)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("sub/0", filepath.Join(p, "link")); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, p)
	}
	return paths
}

// killAfter starts cmd and SIGKILLs it after d unless it exits first. It
// returns whether it was killed, and an error if it exited on its own
// with a failure.
func killAfter(cmd *exec.Cmd, d time.Duration) (killed bool, err error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return false, fmt.Errorf("%v: %w", cmd.Args[1:3], err)
		}
		return false, nil
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("%v: %w", cmd.Args[1:3], err)
		}
		return false, nil
	}
}

// problem matches the lines in which verify reports an inconsistency.
var problem = regexp.MustCompile(`(?i)error|disappeared|modified|corrupt|warning`)

func TestKillAddAndGC(t *testing.T) {
	needNix(t)
	iters := 200
	if testing.Short() {
		iters = 20
	}
	if v := os.Getenv("CAIRN_CRASH_ITERS"); v != "" {
		var err error
		if iters, err = strconv.Atoi(v); err != nil {
			t.Fatalf("CAIRN_CRASH_ITERS=%q: %v", v, err)
		}
	}
	// A short root: Nix binds a unix socket under it during GC.
	root, err := os.MkdirTemp("/tmp", "crash")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("chmod", "-R", "u+w", root).Run()
		os.RemoveAll(root)
	})
	trees := makeTrees(t, t.TempDir(), 120)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	seed := rng.Int63()
	if v := os.Getenv("CAIRN_CRASH_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("seed %d (set CAIRN_CRASH_SEED to repeat)", seed)
	rng = rand.New(rand.NewSource(seed))

	var deleted, addKills, gcKills, validMax, validSum int
	start := time.Now()
	for it := 0; it < iters; it++ {
		// The adder adds the trees from a random offset, so each
		// iteration meets new and already valid paths.
		off := rng.Intn(len(trees))
		order := append(append([]string(nil), trees[off:]...), trees[:off]...)
		adder := cairnCmd(append([]string{"store", "add", "--store", root}, order...)...)
		var aerr bytes.Buffer
		adder.Stderr = &aerr
		gc := cairnCmd("store", "gc", "--store", root)
		var gerr bytes.Buffer
		gc.Stderr = &gerr
		if err := adder.Start(); err != nil {
			t.Fatal(err)
		}
		// The collector starts a little later (or not at all in one
		// iteration out of eight), so that it finds work.
		gcDelay := time.Duration(rng.Intn(150)) * time.Millisecond
		gcKill := time.Duration(5+rng.Intn(400)) * time.Millisecond
		runGC := rng.Intn(8) != 0
		type result struct {
			killed bool
			err    error
		}
		gcDone := make(chan result, 1)
		if runGC {
			go func() {
				time.Sleep(gcDelay)
				if err := gc.Start(); err != nil {
					gcDone <- result{false, err}
					return
				}
				k, err := killAfter(gc, gcKill)
				gcDone <- result{k, err}
			}()
		} else {
			gcDone <- result{}
		}
		k, err := killAfter(adder, time.Duration(5+rng.Intn(400))*time.Millisecond)
		if err != nil {
			t.Fatalf("iteration %d: adder failed on its own: %v\n%s", it, err, aerr.String())
		}
		if k {
			addKills++
		}
		g := <-gcDone
		if g.err != nil {
			t.Fatalf("iteration %d: collector failed on its own: %v\n%s", it, g.err, gerr.String())
		}
		if g.killed {
			gcKills++
		}
		deleted += strings.Count(gerr.String(), "deleting '")

		// cairn's verify.
		v := cairnCmd("store", "verify", "--check-contents", "--store", root)
		out, err := v.CombinedOutput()
		if err != nil || problem.Match(out) {
			t.Fatalf("iteration %d: cairn store verify: %v\n%s", it, err, out)
		}
		// Nix 2.8's verify on the same store.
		nv := exec.Command("nix-store", "--verify", "--check-contents", "--option", "substituters", "")
		nv.Env = append(os.Environ(), "NIX_REMOTE=local?root="+root)
		out, err = nv.CombinedOutput()
		if err != nil || problem.Match(out) {
			t.Fatalf("iteration %d: nix-store --verify --check-contents: %v\n%s", it, err, out)
		}
		// Every valid path hashes to what the database says.
		n, err := checkValid(ctx, root)
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		validMax = max(validMax, n)
		validSum += n
	}
	t.Logf("%d iterations in %v: adder killed %d times, collector %d times; %d paths collected; %d valid paths on average, at most %d",
		iters, time.Since(start).Round(time.Millisecond), addKills, gcKills, deleted, validSum/iters, validMax)
	if iters >= 20 && (addKills == 0 || gcKills == 0 || validMax == 0 || deleted == 0) {
		t.Fatalf("the test proves nothing: adder killed %d times, collector %d times, at most %d valid paths, %d deletions",
			addKills, gcKills, validMax, deleted)
	}
}

// checkValid compares each valid path's NAR hash and size with the
// database and returns the number of valid paths.
func checkValid(ctx context.Context, root string) (int, error) {
	s, err := local.Open(ctx, local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	valid, err := s.QueryValidPaths(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range valid {
		info, err := s.QueryPathInfo(ctx, p)
		if err != nil {
			return 0, err
		}
		h := nixhash.NewHasher(info.NarHash.Algo)
		if err := nar.DumpPath(h, s.RealPath(p)); err != nil {
			return 0, fmt.Errorf("valid path %s: %w", p, err)
		}
		if got := h.Sum(); !got.Equal(info.NarHash) || h.Len() != info.NarSize {
			return 0, fmt.Errorf("valid path %s is partial: NAR hash %s size %d, database %s size %d",
				p, got, h.Len(), info.NarHash, info.NarSize)
		}
	}
	return len(valid), nil
}
