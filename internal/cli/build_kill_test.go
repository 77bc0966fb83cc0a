package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/internal/store/local"
)

// killHelperEnv carries, unit-separator-separated (\x1f), the arguments of Main when this
// test binary runs as the cairn process that TestBuildSIGKILL kills.
const killHelperEnv = "CAIRN_KILL_HELPER_ARGS"

// TestKillHelperProcess is not a test: it is the cairn process of
// TestBuildSIGKILL (the test binary re-executed with -test.run), so that
// builds run in a process of their own, with this binary as the sandbox
// init (TestMain), and can be killed.
func TestKillHelperProcess(t *testing.T) {
	args := os.Getenv(killHelperEnv)
	if args == "" {
		t.Skip("helper process of TestBuildSIGKILL: runs only as its subprocess")
	}
	os.Exit(Main(context.Background(), strings.Split(args, "\x1f"), strings.NewReader(""), os.Stdout, os.Stderr, []string{"PATH=/usr/bin:/bin"}))
}

// TestBuildSIGKILL kills `cairn build` and `cairn store realise` with
// SIGKILL at random points of small random builds into one chroot store.
// After every kill no partial output is valid (the NAR hash of every
// valid path matches the database), and building the same thing again
// succeeds with the expected contents, and no builder of the killed
// process is still running. Iterations: 6 by default (~10 s);
// CAIRN_KILL_ITERATIONS=50 for the full run (~90 s). The seed is
// logged; CAIRN_KILL_SEED repeats one. CAIRN_KILL_MAX_DELAY_MS (700)
// bounds the kill time: 60 puts most kills in evaluation and
// instantiation.
func TestBuildSIGKILL(t *testing.T) {
	needSandboxBuilds(t)
	iters := 6
	if v := os.Getenv("CAIRN_KILL_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CAIRN_KILL_ITERATIONS=%q: want a positive integer", v)
		}
		iters = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CAIRN_KILL_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_KILL_SEED=%q: %v", v, err)
		}
		seed = n
	}
	maxDelay := 700
	if v := os.Getenv("CAIRN_KILL_MAX_DELAY_MS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CAIRN_KILL_MAX_DELAY_MS=%q: want a positive integer", v)
		}
		maxDelay = n
	}
	t.Logf("seed %d (CAIRN_KILL_SEED), %d iterations (CAIRN_KILL_ITERATIONS), kills within %d ms (CAIRN_KILL_MAX_DELAY_MS)", seed, iters, maxDelay)
	rng := rand.New(rand.NewPCG(seed, 1))
	work := t.TempDir()
	store := filepath.Join(work, "store")
	t.Cleanup(func() { chmodTree(store) })
	bbDir := busyboxDir(t)
	marker := fmt.Sprintf("cairn-kill-test-%d-%d", os.Getpid(), seed)
	killedAt := map[string]int{}
	for i := range iters {
		expr, want := randomBuild(rng, i, bbDir, marker)
		file := filepath.Join(work, fmt.Sprintf("b%d.nix", i))
		if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"cairn", "build", "--store", store, "-f", file, "--no-link", "-j", strconv.Itoa(1 + rng.IntN(2))}
		cmdName := "build"
		if rng.IntN(2) == 0 {
			// store realise of the instantiated derivation.
			var out, errb bytes.Buffer
			if code := Main(t.Context(), []string{"cairn", "instantiate", "--store", store, file}, strings.NewReader(""), &out, &errb, []string{"PATH=/usr/bin:/bin"}); code != 0 {
				t.Fatalf("iteration %d: instantiate: exit %d\n%s", i, code, errb.String())
			}
			args = []string{"cairn", "store", "realise", "--store", store, strings.TrimSpace(out.String())}
			cmdName = "realise"
		}
		// Kill at a random point of the first 0.7 s (most builds here
		// take 0.2–1 s: evaluation, builds, registration, or after the
		// end when the delay is longer).
		delay := time.Duration(rng.IntN(maxDelay)) * time.Millisecond
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelperProcess$")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+strings.Join(args, "\x1f"))
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		killed := !timer.Stop()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killedAt[phase(errb.String())]++
		} else if err != nil {
			t.Fatalf("iteration %d: %s exited without being killed: %v\n%s", i, cmdName, err, errb.String())
		} else if killed {
			killedAt["after exit"]++
		} else {
			killedAt["not killed"]++
		}
		// The builds of the killed process die with it (they get
		// SIGKILL when their parent dies; allow the kernel 100 ms, far less
		// than the builders take).
		for wait := 0; len(procsWithArg(marker)) > 0; wait++ {
			if wait == 10 {
				t.Fatalf("iteration %d: builder processes %v survived the SIGKILL of %s", i, procsWithArg(marker), cmdName)
			}
			time.Sleep(10 * time.Millisecond)
		}
		verifyStore(t, store, fmt.Sprintf("iteration %d, after SIGKILL of %s at %v", i, cmdName, delay))

		// The same build again, to completion.
		var out, errb2 bytes.Buffer
		again := []string{"cairn", "build", "--store", store, "-f", file, "--no-link", "--print-out-paths"}
		if code := Main(t.Context(), again, strings.NewReader(""), &out, &errb2, []string{"PATH=/usr/bin:/bin"}); code != 0 {
			t.Fatalf("iteration %d: the build after the kill failed: exit %d\n%s", i, code, errb2.String())
		}
		outPath := strings.TrimSpace(out.String())
		got, err := os.ReadFile(filepath.Join(store, outPath, "result"))
		if err != nil || string(got) != want {
			t.Fatalf("iteration %d: %s/result = %q (%v), want %q", i, outPath, got, err, want)
		}
		verifyStore(t, store, fmt.Sprintf("iteration %d, after the rebuild", i))
	}
	t.Logf("kill points: %v", killedAt)
}

// phase names how far the killed process had got, from its progress
// output.
func phase(stderr string) string {
	switch {
	case strings.Contains(stderr, "building '"):
		return "during builds"
	default:
		return "before builds"
	}
}

// busyboxDir is the host directory holding busybox (on merged /usr,
// /bin is a symlink that builtins.path would copy as a link).
func busyboxDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/busybox"); err == nil {
		return "/usr/bin"
	}
	return "/bin"
}

// randomBuild returns an expression of a few derivations (a random DAG;
// the last one depends on all) whose outputs hold some random amount of
// data, and the expected contents of the top output's file "result".
// Every builder shell has marker as its $0, to be found in /proc.
func randomBuild(rng *rand.Rand, iter int, bbDir, marker string) (string, string) {
	n := 1 + rng.IntN(5)
	var b strings.Builder
	fmt.Fprintf(&b, `let
  bb = builtins.path { name = "busybox-static"; path = %s; filter = p: t: baseNameOf p == "busybox"; };
  mk = name: script: deps: derivation {
    inherit name deps;
    system = builtins.currentSystem;
    builder = "${bb}/busybox";
    args = [ "sh" "-c" ("PATH=${bb}; busybox mkdir -p $out; " + script) "%s" ];
  };
`, bbDir, marker)
	for j := range n {
		lines := rng.IntN(200000)
		sleep := rng.IntN(8)
		var deps []string
		for k := range j {
			if rng.IntN(2) == 0 || (j == n-1) {
				deps = append(deps, fmt.Sprintf("d%d", k))
			}
		}
		// Data (seq output), a pause, then the result file: a kill can
		// land mid-write, mid-sleep or during registration.
		script := fmt.Sprintf("busybox seq %d > $out/data; busybox sleep 0.%d; busybox echo k%d-%d > $out/result", lines, sleep, iter, j)
		if rng.IntN(3) == 0 {
			script += "; busybox mkdir $out/sub; busybox ln -s ../data $out/sub/link; busybox chmod 555 $out/sub"
		}
		fmt.Fprintf(&b, "  d%d = mk \"k%d-%d\" %q [ %s ];\n", j, iter, j, script, strings.Join(deps, " "))
	}
	fmt.Fprintf(&b, "in d%d\n", n-1)
	return b.String(), fmt.Sprintf("k%d-%d\n", iter, n-1)
}

// verifyStore checks that every valid path of the chroot store exists
// and has the NAR hash and size the database records.
func verifyStore(t *testing.T, root, when string) {
	t.Helper()
	ctx := t.Context()
	st, err := local.Open(ctx, local.Options{Root: root, ReservedSize: -1})
	if err != nil {
		t.Fatalf("%s: open store: %v", when, err)
	}
	defer st.Close()
	paths, err := st.QueryValidPaths(ctx)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for _, p := range paths {
		info, err := st.QueryPathInfo(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		h := info.NarHash.Algo.New()
		cw := &countWriter{w: h}
		if err := st.NarFromPath(ctx, p, cw); err != nil {
			t.Fatalf("%s: valid path %s cannot be read: %v", when, st.Dir().Print(p), err)
		}
		if !bytes.Equal(h.Sum(nil), info.NarHash.Digest) || cw.n != info.NarSize {
			t.Fatalf("%s: valid path %s does not match the database (NAR %d bytes, db %d)", when, st.Dir().Print(p), cw.n, info.NarSize)
		}
	}
}

type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += uint64(len(p))
	return c.w.Write(p)
}

// chmodTree makes a store tree writable so that t.TempDir can remove it.
func chmodTree(root string) {
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// procsWithArg lists the pids of processes with arg among their
// command-line arguments.
func procsWithArg(arg string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, d := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(data), "\x00") {
			if a == arg {
				pids = append(pids, d.Name())
			}
		}
	}
	return pids
}
