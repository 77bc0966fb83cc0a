package local

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cairn/internal/compat/nixhash"
	"cairn/internal/compat/storepath"
	"cairn/internal/store"
)

// TestGCScale compares our collector with Nix 2.8's on a synthetic store
// of $CAIRN_GC_BENCH paths (a random DAG, a few roots). It only runs when
// that variable is set: go test -run GCScale -v with CAIRN_GC_BENCH=20000.
func TestGCScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CAIRN_GC_BENCH"))
	if n == 0 {
		t.Skip("set CAIRN_GC_BENCH=<number of paths> to run the GC scale comparison")
	}
	needNix(t)
	root := shortRoot(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	paths := make([]storepath.Path, n)
	h := nixhash.Sum(nixhash.SHA256, []byte("x"))
	start := time.Now()
	var batch []*store.PathInfo
	for i := range paths {
		p, _ := storepath.DefaultDir.MakeOutputPath("out", nixhash.Sum(nixhash.SHA256, []byte(strconv.Itoa(i))), "p"+strconv.Itoa(i))
		paths[i] = p
		os.WriteFile(s.RealPath(p), nil, 0o444)
		info := &store.PathInfo{Path: p, NarHash: h, NarSize: 1}
		for k := 0; k < 3 && i > 0; k++ {
			info.References = append(info.References, paths[rng.Intn(i)])
		}
		info.References = store.SortPaths(info.References)
		batch = append(batch, info)
		if len(batch) == 1000 || i == n-1 {
			if err := s.RegisterValidPaths(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	t.Logf("registered %d paths in %v", n, time.Since(start))
	for i := 0; i < 5; i++ {
		p := paths[n-1-rng.Intn(n/10)]
		os.Symlink(s.print(p), filepath.Join(s.StateDir(), "gcroots", fmt.Sprint("r", i)))
	}
	s.Close()
	s, _ = Open(ctx, Options{Root: root})
	start = time.Now()
	ours, err := s.CollectGarbage(ctx, GCOptions{Action: GCReturnDead})
	if err != nil {
		t.Fatal(err)
	}
	oursDur := time.Since(start)
	s.Close()
	start = time.Now()
	nixDead := strings.Fields(nix(t, root, "nix-store", "--gc", "--print-dead"))
	nixDur := time.Since(start)
	sort.Strings(nixDead)
	if strings.Join(ours.Paths, " ") != strings.Join(nixDead, " ") {
		t.Errorf("dead sets differ: ours %d, nix %d", len(ours.Paths), len(nixDead))
	}
	t.Logf("print-dead on %d paths (%d dead): cairn %v, nix 2.8 %v", n, len(ours.Paths), oursDur, nixDur)
	// Deleting, on two copies of the store.
	copyRoot := shortRoot(t)
	if out, err := exec.Command("cp", "-a", root+"/.", copyRoot).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	s, _ = Open(ctx, Options{Root: root})
	start = time.Now()
	res, err := s.CollectGarbage(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oursDur = time.Since(start)
	s.Close()
	start = time.Now()
	nix(t, copyRoot, "nix-store", "--gc")
	nixDur = time.Since(start)
	t.Logf("gc deleting %d paths: cairn %v, nix 2.8 %v", len(res.Paths), oursDur, nixDur)
}
